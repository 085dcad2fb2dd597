//! Packet framing: a parser that borrows from the datagram and a builder that writes into a
//! caller-owned `Vec`.

use std::net::Ipv4Addr;

use crate::attribute::AttributeType;
use crate::code::Code;
use crate::error::Error;

/// Smallest legal packet (the header alone).
pub const MIN_PACKET_LEN: usize = 20;
/// Largest legal packet (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Largest attribute value (255 minus the two header bytes).
pub const MAX_VALUE_LEN: usize = 253;
/// Length of the Authenticator field.
pub const AUTHENTICATOR_LEN: usize = 16;
/// Offset of the first attribute.
pub const HEADER_LEN: usize = 20;

/// One attribute as found on the wire: type and value bytes, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// Offset of the attribute's Type byte in the packet.
    pub offset: usize,
    /// The Type byte.
    pub attr_type: AttributeType,
    /// The value (without the two header bytes).
    pub value: &'a [u8],
}

impl<'a> RawAttribute<'a> {
    /// The value as text (UTF-8), checked as [`Attribute::decode`](crate::Attribute::decode)
    /// checks a value of kind [`ValueKind::Text`](crate::ValueKind::Text).
    #[inline]
    pub fn text(&self) -> Result<&'a str, Error> {
        core::str::from_utf8(self.value).map_err(|_| Error::InvalidValue {
            offset: self.offset,
            attr_type: self.attr_type.0,
            reason: "text is not valid UTF-8",
        })
    }

    /// The value as a 32-bit integer in network byte order (RFC 8044 `integer`, `enum` and
    /// `time`); any other length is [`Error::InvalidValueLength`].
    #[inline]
    pub fn integer(&self) -> Result<u32, Error> {
        self.fixed::<4>("4").map(u32::from_be_bytes)
    }

    /// The value as an IPv4 address; any other length than 4 is
    /// [`Error::InvalidValueLength`].
    #[inline]
    pub fn ipv4(&self) -> Result<Ipv4Addr, Error> {
        self.fixed::<4>("4").map(Ipv4Addr::from)
    }

    /// The value as exactly `N` bytes.
    #[inline]
    pub(crate) fn fixed<const N: usize>(&self, expected: &'static str) -> Result<[u8; N], Error> {
        self.value
            .try_into()
            .map_err(|_| Error::InvalidValueLength {
                offset: self.offset,
                attr_type: self.attr_type.0,
                length: self.value.len(),
                expected,
            })
    }
}

/// A parsed packet. All attributes were checked for framing when it was parsed, so iterating
/// them cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    code: Code,
    identifier: u8,
    authenticator: &'a [u8; AUTHENTICATOR_LEN],
    /// The whole packet as delimited by its Length field.
    bytes: &'a [u8],
    trailing: usize,
    message_authenticator: Option<usize>,
    /// The attribute types present, noted while the framing was checked.
    present: TypeSet,
}

/// A set of attribute types, one bit each.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TypeSet([u64; 4]);

impl TypeSet {
    #[inline]
    fn insert(&mut self, attr_type: u8) {
        self.0[usize::from(attr_type >> 6)] |= 1 << (attr_type & 63);
    }

    #[inline]
    fn contains(&self, attr_type: u8) -> bool {
        self.0[usize::from(attr_type >> 6)] & (1 << (attr_type & 63)) != 0
    }
}

impl core::fmt::Debug for TypeSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set()
            .entries((1..=u8::MAX).filter(|&t| self.contains(t)))
            .finish()
    }
}

/// What checking the framing of an attribute list found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// Offset of the (single) Message-Authenticator, if there is one.
    pub(crate) message_authenticator: Option<usize>,
    /// The attribute types present.
    pub(crate) present: TypeSet,
}

/// Checks the framing of an attribute list that starts at `base` in its packet; returns the
/// offset of the (single) Message-Authenticator if there is one, and the types present.
///
/// This loop runs on every datagram, so it works on slices directly: one bounds check per
/// attribute instead of a parser combinator per header byte.
#[inline]
pub(crate) fn check_attributes(input: &[u8], base: usize) -> Result<Framing, Error> {
    let end = base + input.len();
    let mut rest = input;
    let mut message_authenticator = None;
    let mut present = TypeSet::default();
    while let Some(&[attr_type, length]) = rest.first_chunk::<2>() {
        // The offset is only needed for errors and Message-Authenticator, so it is derived
        // from what is left rather than counted along.
        let offset = end - rest.len();
        if attr_type == 0 {
            return Err(Error::AttributeTypeZero { offset });
        }
        if length < 2 {
            return Err(Error::AttributeTooShort {
                offset,
                attr_type,
                length,
            });
        }
        let Some(next) = rest.get(usize::from(length)..) else {
            return Err(Error::AttributeOverrun {
                offset,
                attr_type,
                length,
                end,
            });
        };
        if attr_type == AttributeType::MESSAGE_AUTHENTICATOR.0 {
            let value_len = usize::from(length) - 2;
            if value_len != AUTHENTICATOR_LEN {
                return Err(Error::InvalidValueLength {
                    offset,
                    attr_type,
                    length: value_len,
                    expected: "16",
                });
            }
            if message_authenticator.is_some() {
                return Err(Error::DuplicateMessageAuthenticator { offset });
            }
            message_authenticator = Some(offset);
        }
        present.insert(attr_type);
        rest = next;
    }
    if !rest.is_empty() {
        return Err(Error::AttributeHeaderCut {
            offset: end - rest.len(),
        });
    }
    Ok(Framing {
        message_authenticator,
        present,
    })
}

impl<'a> Packet<'a> {
    /// Parses a datagram. Bytes after the end given by the Length field are padding and are
    /// ignored, as RFC 2865 §3 requires; [`Packet::trailing_len`] tells how many there were.
    #[inline]
    pub fn parse(datagram: &'a [u8]) -> Result<Self, Error> {
        let Some((&[code, identifier, len_hi, len_lo], rest)) = datagram.split_first_chunk::<4>()
        else {
            return Err(Error::TooShort {
                len: datagram.len(),
            });
        };
        let Some((authenticator, _)) = rest.split_first_chunk::<AUTHENTICATOR_LEN>() else {
            return Err(Error::TooShort {
                len: datagram.len(),
            });
        };
        let declared = u16::from_be_bytes([len_hi, len_lo]);
        let length = usize::from(declared);
        if !(MIN_PACKET_LEN..=MAX_PACKET_LEN).contains(&length) {
            return Err(Error::InvalidLengthField { declared });
        }
        let Some(bytes) = datagram.get(..length) else {
            return Err(Error::Truncated {
                declared: length,
                received: datagram.len(),
            });
        };
        let framing = check_attributes(&bytes[HEADER_LEN..], HEADER_LEN)?;
        Ok(Self {
            code: Code::from(code),
            identifier,
            authenticator,
            bytes,
            trailing: datagram.len() - length,
            message_authenticator: framing.message_authenticator,
            present: framing.present,
        })
    }

    /// Parses a datagram and rejects bytes after the end given by the Length field.
    pub fn parse_strict(datagram: &'a [u8]) -> Result<Self, Error> {
        let packet = Self::parse(datagram)?;
        if packet.trailing > 0 {
            return Err(Error::TrailingBytes {
                offset: packet.bytes.len(),
                count: packet.trailing,
            });
        }
        Ok(packet)
    }

    /// The Code field.
    #[inline]
    pub fn code(&self) -> Code {
        self.code
    }

    /// The Identifier field.
    #[inline]
    pub fn identifier(&self) -> u8 {
        self.identifier
    }

    /// The Authenticator field.
    #[inline]
    pub fn authenticator(&self) -> &'a [u8; AUTHENTICATOR_LEN] {
        self.authenticator
    }

    /// The packet bytes as delimited by the Length field.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of padding bytes that followed the packet in the datagram.
    pub fn trailing_len(&self) -> usize {
        self.trailing
    }

    /// The attribute bytes (everything after the header).
    #[inline]
    pub fn attribute_bytes(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// Offset of the Message-Authenticator attribute, if the packet has one.
    #[inline]
    pub fn message_authenticator_offset(&self) -> Option<usize> {
        self.message_authenticator
    }

    /// Whether a Message-Authenticator attribute is present.
    #[inline]
    pub fn has_message_authenticator(&self) -> bool {
        self.message_authenticator.is_some()
    }

    /// Whether Message-Authenticator is the first attribute, where the Blast-RADIUS
    /// (CVE-2024-3596) hardening puts it.
    pub fn message_authenticator_is_first(&self) -> bool {
        self.message_authenticator == Some(HEADER_LEN)
    }

    /// Iterates over the attributes in wire order.
    #[inline]
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            rest: &self.bytes[HEADER_LEN..],
            offset: HEADER_LEN,
        }
    }

    /// Whether the packet has an attribute of a type. This does not look at the attributes:
    /// the types present were noted when the packet was parsed.
    #[inline]
    pub fn contains(&self, attr_type: AttributeType) -> bool {
        self.present.contains(attr_type.0)
    }

    /// The first attribute of a type.
    #[inline]
    pub fn find(&self, attr_type: AttributeType) -> Option<RawAttribute<'a>> {
        if !self.contains(attr_type) {
            return None;
        }
        self.attributes().find(|a| a.attr_type == attr_type)
    }

    /// The first attribute of each of several types, found in one pass over the packet; the
    /// result is in the order of `types`.
    ///
    /// ```
    /// # use idforge_radius::{AttributeType, Code, Packet, PacketBuilder};
    /// # let mut buf = Vec::new();
    /// # let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 0, &[0; 16]);
    /// # b.push(AttributeType::USER_NAME, b"nemo")?;
    /// # b.push(AttributeType::NAS_PORT, &3u32.to_be_bytes())?;
    /// # b.finish();
    /// let packet = Packet::parse(&buf)?;
    /// let [user, nas_ip, port] = packet.find_each([
    ///     AttributeType::USER_NAME,
    ///     AttributeType::NAS_IP_ADDRESS,
    ///     AttributeType::NAS_PORT,
    /// ]);
    /// assert_eq!(user.map(|a| a.value), Some(&b"nemo"[..]));
    /// assert!(nas_ip.is_none());
    /// assert_eq!(port.map(|a| a.integer()).transpose()?, Some(3));
    /// # Ok::<(), idforge_radius::Error>(())
    /// ```
    #[inline]
    pub fn find_each<const N: usize>(
        &self,
        types: [AttributeType; N],
    ) -> [Option<RawAttribute<'a>>; N] {
        let mut found = [None; N];
        let mut missing = types.iter().filter(|t| self.contains(**t)).count();
        if missing == 0 {
            return found;
        }
        for attr in self.attributes() {
            for (slot, t) in found.iter_mut().zip(&types) {
                if slot.is_none() && attr.attr_type == *t {
                    *slot = Some(attr);
                    missing -= 1;
                }
            }
            if missing == 0 {
                break;
            }
        }
        found
    }

    /// All attributes of a type, in order.
    pub fn find_all(&self, attr_type: AttributeType) -> impl Iterator<Item = RawAttribute<'a>> {
        let rest = if self.contains(attr_type) {
            self.attributes()
        } else {
            Attributes {
                rest: &[],
                offset: self.bytes.len(),
            }
        };
        rest.filter(move |a| a.attr_type == attr_type)
    }

    /// Appends the values of every attribute of a type, in order, to `out` (the joining rule
    /// of RFC 2869 §5.13 for EAP-Message and of RFC 2865 for long values split across
    /// attributes). Returns the number of bytes appended.
    pub fn concat(&self, attr_type: AttributeType, out: &mut Vec<u8>) -> usize {
        let before = out.len();
        for a in self.find_all(attr_type) {
            out.extend_from_slice(a.value);
        }
        out.len() - before
    }
}

/// Iterator over the attributes of a [`Packet`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        // Framing was checked when the packet was parsed; a malformed tail ends iteration.
        let (&attr_type, rest) = self.rest.split_first()?;
        let (&length, _) = rest.split_first()?;
        let length = usize::from(length);
        if length < 2 || length > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let value = &self.rest[2..length];
        let attr = RawAttribute {
            offset: self.offset,
            attr_type: AttributeType(attr_type),
            value,
        };
        self.rest = &self.rest[length..];
        self.offset += length;
        Some(attr)
    }
}

/// Writes a packet into a caller-owned buffer.
///
/// The buffer is cleared first; its capacity is reused, so a warm buffer does not allocate.
/// Signing (authenticators, Message-Authenticator, hidden passwords) is done by the functions
/// of [`crate::crypto`] on the finished bytes, or by the [`crate::Server`] and
/// [`crate::Client`], which do it for you.
#[derive(Debug)]
pub struct PacketBuilder<'b> {
    buf: &'b mut Vec<u8>,
}

impl<'b> PacketBuilder<'b> {
    /// Starts a packet with the given header fields.
    #[inline]
    pub fn new(
        buf: &'b mut Vec<u8>,
        code: Code,
        identifier: u8,
        authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Self {
        let mut header = [0u8; HEADER_LEN];
        header[0] = code.value();
        header[1] = identifier;
        header[4..].copy_from_slice(authenticator);
        buf.clear();
        buf.extend_from_slice(&header);
        Self { buf }
    }

    /// Current length of the packet.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether only the header has been written (never empty otherwise).
    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_LEN
    }

    #[inline]
    fn reserve(&self, extra: usize) -> Result<(), Error> {
        let length = self.buf.len() + extra;
        if length > MAX_PACKET_LEN {
            return Err(Error::PacketTooLong { length });
        }
        Ok(())
    }

    /// Appends one attribute with a raw value of at most 253 bytes.
    #[inline]
    pub fn push(&mut self, attr_type: AttributeType, value: &[u8]) -> Result<&mut Self, Error> {
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::ValueTooLong {
                attr_type: attr_type.0,
                length: value.len(),
            });
        }
        self.reserve(value.len() + 2)?;
        self.buf
            .extend_from_slice(&[attr_type.0, (value.len() + 2) as u8]);
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    /// Appends one attribute with a value of a fixed size of at most 16 bytes (integers,
    /// addresses): the size is known at compile time, so header and value are written in one
    /// copy of a few stores.
    #[inline]
    pub(crate) fn push_fixed<const N: usize>(
        &mut self,
        attr_type: AttributeType,
        value: [u8; N],
    ) -> Result<&mut Self, Error> {
        const { assert!(N <= 16) };
        self.reserve(N + 2)?;
        let mut attr = [0u8; 2 + 16];
        attr[0] = attr_type.0;
        attr[1] = (N + 2) as u8;
        attr[2..2 + N].copy_from_slice(&value);
        self.buf.extend_from_slice(&attr[..2 + N]);
        Ok(self)
    }

    /// Appends an attribute whose value is written by `write` (which must append exactly the
    /// value bytes to the vector it is given).
    pub(crate) fn push_with(
        &mut self,
        attr_type: AttributeType,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<&mut Self, Error> {
        let start = self.buf.len();
        self.buf.push(attr_type.0);
        self.buf.push(0);
        write(self.buf);
        let value_len = self.buf.len() - start - 2;
        if value_len > MAX_VALUE_LEN || self.buf.len() > MAX_PACKET_LEN {
            let length = self.buf.len();
            self.buf.truncate(start);
            if value_len > MAX_VALUE_LEN {
                return Err(Error::ValueTooLong {
                    attr_type: attr_type.0,
                    length: value_len,
                });
            }
            return Err(Error::PacketTooLong { length });
        }
        self.buf[start + 1] = (value_len + 2) as u8;
        Ok(self)
    }

    /// Appends a value of any length split into as many attributes as needed (253 bytes each),
    /// for the types whose values are joined by concatenation (EAP-Message, RFC 2869 §5.13).
    pub fn push_split(
        &mut self,
        attr_type: AttributeType,
        value: &[u8],
    ) -> Result<&mut Self, Error> {
        if !attr_type.is_concatenated() {
            if value.len() > MAX_VALUE_LEN {
                return Err(Error::ValueTooLong {
                    attr_type: attr_type.0,
                    length: value.len(),
                });
            }
            return self.push(attr_type, value);
        }
        let chunks = value.len().div_ceil(MAX_VALUE_LEN).max(1);
        self.reserve(value.len() + 2 * chunks)?;
        if value.is_empty() {
            return self.push(attr_type, value);
        }
        for chunk in value.chunks(MAX_VALUE_LEN) {
            self.push(attr_type, chunk)?;
        }
        Ok(self)
    }

    /// Appends a Message-Authenticator attribute with a zero value, to be filled in by signing.
    pub fn push_message_authenticator(&mut self) -> Result<&mut Self, Error> {
        self.push(
            AttributeType::MESSAGE_AUTHENTICATOR,
            &[0u8; AUTHENTICATOR_LEN],
        )
    }

    /// Writes the Length field and returns the finished (unsigned) packet.
    #[inline]
    pub fn finish(self) -> &'b mut [u8] {
        let len = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
        self.buf.as_mut_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const RFC2865_7_1: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";

    #[test]
    fn parses_rfc2865_section_7_1() {
        let bytes = hex(RFC2865_7_1);
        let p = Packet::parse(&bytes).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 0);
        let attrs: Vec<_> = p.attributes().collect();
        assert_eq!(attrs.len(), 4);
        assert_eq!(attrs[0].attr_type, AttributeType::USER_NAME);
        assert_eq!(attrs[0].value, b"nemo");
        assert_eq!(attrs[0].offset, 20);
        assert_eq!(attrs[1].offset, 26);
        assert!(!p.has_message_authenticator());
    }

    #[test]
    fn length_rules_give_offsets() {
        let good = hex(RFC2865_7_1);
        assert_eq!(Packet::parse(&good[..19]), Err(Error::TooShort { len: 19 }));
        let mut bad = good.clone();
        bad[3] = 19;
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::InvalidLengthField { declared: 19 })
        );
        let mut bad = good.clone();
        bad[2] = 0x10;
        bad[3] = 0x01;
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::InvalidLengthField { declared: 4097 })
        );
        assert_eq!(
            Packet::parse(&good[..50]),
            Err(Error::Truncated {
                declared: 56,
                received: 50
            })
        );
        let mut bad = good.clone();
        bad[27] = 1; // User-Password length
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::AttributeTooShort {
                offset: 26,
                attr_type: 2,
                length: 1
            })
        );
        let mut bad = good.clone();
        bad[51] = 7; // NAS-Port length runs past the end
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::AttributeOverrun {
                offset: 50,
                attr_type: 5,
                length: 7,
                end: 56
            })
        );
        let mut bad = good.clone();
        bad.push(0x50);
        bad[3] = 57;
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::AttributeHeaderCut { offset: 56 })
        );
        let mut padded = good.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(Packet::parse(&padded).unwrap().trailing_len(), 3);
        assert_eq!(
            Packet::parse_strict(&padded),
            Err(Error::TrailingBytes {
                offset: 56,
                count: 3
            })
        );
    }

    #[test]
    fn attribute_type_zero_is_refused() {
        // NAS-Port (type 5, the last attribute) retyped as 0.
        let mut bad = hex(RFC2865_7_1);
        bad[50] = 0;
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::AttributeTypeZero { offset: 50 })
        );
        // Also as the first attribute, before any length check.
        let mut bad = hex(RFC2865_7_1);
        bad[20] = 0;
        bad[21] = 0;
        assert_eq!(
            Packet::parse(&bad),
            Err(Error::AttributeTypeZero { offset: 20 })
        );
        // A builder that was given one cannot sign it.
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[0; 16]);
        b.push(AttributeType(0), b"x").unwrap();
        let bytes = b.finish();
        assert_eq!(
            crate::crypto::sign(bytes, &crate::SharedSecret::new("s"), None),
            Err(Error::AttributeTypeZero { offset: 20 })
        );
    }

    #[test]
    fn message_authenticator_rules() {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[0; 16]);
        b.push_message_authenticator().unwrap();
        b.push_message_authenticator().unwrap();
        let bytes = b.finish().to_vec();
        assert_eq!(
            Packet::parse(&bytes),
            Err(Error::DuplicateMessageAuthenticator { offset: 38 })
        );
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[0; 16]);
        b.push(AttributeType::MESSAGE_AUTHENTICATOR, &[0; 4])
            .unwrap();
        let bytes = b.finish().to_vec();
        assert!(matches!(
            Packet::parse(&bytes),
            Err(Error::InvalidValueLength {
                offset: 20,
                attr_type: 80,
                ..
            })
        ));
    }

    #[test]
    fn builder_round_trips_and_splits() {
        let mut buf = Vec::new();
        let eap = vec![7u8; 600];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessChallenge, 9, &[1; 16]);
        b.push(AttributeType::STATE, b"abc").unwrap();
        b.push_split(AttributeType::EAP_MESSAGE, &eap).unwrap();
        assert!(b.push(AttributeType::STATE, &[0; 254]).is_err());
        assert!(b.push_split(AttributeType::STATE, &[0; 254]).is_err());
        let bytes = b.finish().to_vec();
        let p = Packet::parse_strict(&bytes).unwrap();
        assert_eq!(p.find_all(AttributeType::EAP_MESSAGE).count(), 3);
        let mut joined = Vec::new();
        assert_eq!(p.concat(AttributeType::EAP_MESSAGE, &mut joined), 600);
        assert_eq!(joined, eap);
        assert_eq!(p.find(AttributeType::STATE).unwrap().value, b"abc");
    }

    #[test]
    fn builder_refuses_oversized_packets() {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]);
        for _ in 0..15 {
            b.push(AttributeType::CLASS, &[0; 253]).unwrap();
        }
        assert!(matches!(
            b.push(AttributeType::CLASS, &[0; 253]),
            Err(Error::PacketTooLong { .. })
        ));
        assert!(b.push(AttributeType::CLASS, &[0; 10]).is_ok());
    }

    #[test]
    fn find_each_and_contains_agree_with_find() {
        let bytes = hex(RFC2865_7_1);
        let p = Packet::parse(&bytes).unwrap();
        let types = [
            AttributeType::NAS_PORT,
            AttributeType::USER_NAME,
            AttributeType::PROXY_STATE,
            AttributeType::NAS_PORT,
            AttributeType(250),
        ];
        assert_eq!(p.find_each(types), types.map(|t| p.find(t)));
        assert_eq!(p.find_each([AttributeType::STATE]), [None]);
        assert_eq!(p.find_each::<0>([]), []);
        for t in 0..=u8::MAX {
            let t = AttributeType(t);
            assert_eq!(p.contains(t), p.find(t).is_some(), "{t:?}");
            assert_eq!(p.find_all(t).count(), usize::from(p.contains(t)));
        }
        // The first of several attributes of a type, also when the later ones come after
        // everything else asked for.
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[0; 16]);
        b.push(AttributeType::CLASS, b"one").unwrap();
        b.push(AttributeType(200), b"x").unwrap();
        b.push(AttributeType::CLASS, b"two").unwrap();
        b.push(AttributeType::STATE, b"s").unwrap();
        b.finish();
        let p = Packet::parse(&buf).unwrap();
        let [class, state] = p.find_each([AttributeType::CLASS, AttributeType::STATE]);
        assert_eq!(class.unwrap().value, b"one");
        assert_eq!(state.unwrap().offset, 33);
        assert!(p.contains(AttributeType(200)) && !p.contains(AttributeType(201)));
    }

    #[test]
    fn typed_accessors_check_like_decode() {
        let bytes = hex(RFC2865_7_1);
        let p = Packet::parse(&bytes).unwrap();
        let [user, password, nas, port] = p.find_each([
            AttributeType::USER_NAME,
            AttributeType::USER_PASSWORD,
            AttributeType::NAS_IP_ADDRESS,
            AttributeType::NAS_PORT,
        ]);
        let (user, password, nas, port) = (
            user.unwrap(),
            password.unwrap(),
            nas.unwrap(),
            port.unwrap(),
        );
        assert_eq!(user.text(), Ok("nemo"));
        assert_eq!(nas.ipv4(), Ok(Ipv4Addr::new(192, 168, 1, 16)));
        assert_eq!(port.integer(), Ok(3));
        assert_eq!(
            password.integer(),
            Err(Error::InvalidValueLength {
                offset: 26,
                attr_type: 2,
                length: 16,
                expected: "4"
            })
        );
        assert!(matches!(
            password.ipv4(),
            Err(Error::InvalidValueLength { .. })
        ));
        let bad = RawAttribute {
            offset: 20,
            attr_type: AttributeType::USER_NAME,
            value: &[0xff, 0xfe],
        };
        assert_eq!(
            bad.text(),
            Err(Error::InvalidValue {
                offset: 20,
                attr_type: 1,
                reason: "text is not valid UTF-8"
            })
        );
        for raw in p.attributes() {
            let decoded = crate::Attribute::decode(raw).map(|a| a.value);
            match raw.attr_type {
                AttributeType::USER_NAME => {
                    assert_eq!(decoded, raw.text().map(crate::Value::Text));
                }
                AttributeType::NAS_IP_ADDRESS => {
                    assert_eq!(decoded, raw.ipv4().map(crate::Value::Ipv4));
                }
                AttributeType::NAS_PORT => {
                    assert_eq!(decoded, raw.integer().map(crate::Value::Integer));
                }
                _ => {}
            }
        }
    }
}
