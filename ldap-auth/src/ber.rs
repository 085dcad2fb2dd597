//! The subset of BER (X.690) that LDAPv3 uses (RFC 4511 §5.1): definite lengths only,
//! single-byte tags, primitive INTEGER/ENUMERATED/BOOLEAN/OCTET STRING and constructed
//! SEQUENCE/SET. Headers are read with `nom` streaming parsers, so the same code tells "need
//! more bytes" (framing a stream) from "malformed" (decoding a message).

use nom::Parser;
use nom::number::streaming::be_u8;

/// Largest LDAP message the decoder accepts, in bytes (header included), unless the caller
/// sets another limit.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 2 * 1024 * 1024;

/// Deepest nesting of constructed elements the decoder follows.
pub const MAX_NESTING: usize = 48;

/// Universal and LDAP tags used here.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const ENUMERATED: u8 = 0x0a;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
}

/// What was wrong with BER input, and where (a byte offset from the start of the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BerError {
    /// The input ends inside an element.
    #[error("truncated element at offset {offset}")]
    Truncated {
        /// Offset of the element header.
        offset: usize,
    },
    /// An indefinite length (`0x80`), which RFC 4511 §5.1 forbids.
    #[error("indefinite length at offset {offset}")]
    IndefiniteLength {
        /// Offset of the length octet.
        offset: usize,
    },
    /// A length of more than four octets.
    #[error("length field too long at offset {offset}")]
    LengthTooLong {
        /// Offset of the length octet.
        offset: usize,
    },
    /// An element larger than the configured limit.
    #[error("element of {length} bytes at offset {offset} exceeds the limit of {limit}")]
    TooLarge {
        /// Offset of the element.
        offset: usize,
        /// Its declared length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// A multi-byte (high-number) tag, which LDAP never uses.
    #[error("unsupported high tag number at offset {offset}")]
    HighTagNumber {
        /// Offset of the tag.
        offset: usize,
    },
    /// A different element was expected here.
    #[error("unexpected tag {found:#04x} at offset {offset}, expected {expected}")]
    UnexpectedTag {
        /// Offset of the tag.
        offset: usize,
        /// Tag found.
        found: u8,
        /// What was expected.
        expected: &'static str,
    },
    /// An INTEGER or ENUMERATED that is empty, not minimal or out of range.
    #[error("invalid integer at offset {offset}")]
    InvalidInteger {
        /// Offset of the element.
        offset: usize,
    },
    /// A BOOLEAN that is not one octet.
    #[error("invalid boolean at offset {offset}")]
    InvalidBoolean {
        /// Offset of the element.
        offset: usize,
    },
    /// A string that must be UTF-8 (LDAPString, LDAPOID) is not.
    #[error("invalid UTF-8 in {field} at offset {offset}")]
    InvalidUtf8 {
        /// Offset of the element.
        offset: usize,
        /// Which field.
        field: &'static str,
    },
    /// An enumerated value outside the set RFC 4511 defines for the field.
    #[error("invalid value {value} for {field} at offset {offset}")]
    InvalidEnum {
        /// Offset.
        offset: usize,
        /// Which field.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// A field that must hold a valid string representation (a filter's attribute description,
    /// an OID) does not.
    #[error("invalid {field} at offset {offset}")]
    InvalidField {
        /// Offset.
        offset: usize,
        /// Which field.
        field: &'static str,
    },
    /// Bytes left over inside a constructed element or after a message.
    #[error("unexpected trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// Constructed elements nested deeper than [`MAX_NESTING`].
    #[error("nesting too deep at offset {offset}")]
    TooDeep {
        /// Offset.
        offset: usize,
    },
}

/// A parsed element header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) tag: u8,
    /// Header length (tag and length octets).
    pub(crate) size: usize,
    /// Content length.
    pub(crate) len: usize,
}

/// Why a header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// More input is needed.
    Incomplete,
    /// Indefinite length form.
    Indefinite,
    /// Length over four octets.
    LengthTooLong,
    /// High tag number form.
    HighTag,
}

fn header_nom(input: &[u8]) -> nom::IResult<&[u8], Header, HeaderNomError> {
    let (rest, tag) = be_u8(input)?;
    if tag & 0x1f == 0x1f {
        return Err(nom::Err::Failure(HeaderNomError(HeaderError::HighTag)));
    }
    let (mut rest, first) = be_u8(rest)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 {
            return Err(nom::Err::Failure(HeaderNomError(HeaderError::Indefinite)));
        }
        if n > 4 {
            return Err(nom::Err::Failure(HeaderNomError(
                HeaderError::LengthTooLong,
            )));
        }
        let (r, bytes) = nom::bytes::streaming::take(n).parse(rest)?;
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let size = input.len() - rest.len();
    Ok((rest, Header { tag, size, len }))
}

/// The error type the header parser gives `nom`.
#[derive(Debug)]
struct HeaderNomError(HeaderError);

impl nom::error::ParseError<&[u8]> for HeaderNomError {
    fn from_error_kind(_input: &[u8], _kind: nom::error::ErrorKind) -> Self {
        Self(HeaderError::Incomplete)
    }

    fn append(_input: &[u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Reads an element header from the start of `input`.
pub(crate) fn read_header(input: &[u8]) -> Result<Header, HeaderError> {
    match header_nom(input) {
        Ok((_, h)) => Ok(h),
        Err(nom::Err::Incomplete(_)) => Err(HeaderError::Incomplete),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
    }
}

/// If `buf` starts with a complete element, its total length; `Ok(None)` when more bytes are
/// needed. Checks the size limit as soon as the header is known.
pub fn frame_len(buf: &[u8], max_size: usize) -> Result<Option<usize>, BerError> {
    match read_header(buf) {
        Ok(h) => {
            let total = h.size.saturating_add(h.len);
            if total > max_size {
                return Err(BerError::TooLarge {
                    offset: 0,
                    length: total,
                    limit: max_size,
                });
            }
            Ok((buf.len() >= total).then_some(total))
        }
        Err(HeaderError::Incomplete) => Ok(None),
        Err(e) => Err(header_error(e, 0)),
    }
}

fn header_error(e: HeaderError, offset: usize) -> BerError {
    match e {
        HeaderError::Incomplete => BerError::Truncated { offset },
        HeaderError::Indefinite => BerError::IndefiniteLength { offset: offset + 1 },
        HeaderError::LengthTooLong => BerError::LengthTooLong { offset: offset + 1 },
        HeaderError::HighTag => BerError::HighTagNumber { offset },
    }
}

/// A cursor over the contents of one constructed element (or a whole message), which knows its
/// offset in the message for error reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` in the message.
    base: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            base: 0,
            depth: 0,
        }
    }

    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads the next element: its tag and contents.
    pub(crate) fn any(&mut self) -> Result<(u8, Reader<'a>), BerError> {
        let offset = self.offset();
        let rest = &self.data[self.pos..];
        let h = read_header(rest).map_err(|e| header_error(e, offset))?;
        let end = h.size.checked_add(h.len);
        let Some(end) = end.filter(|e| *e <= rest.len()) else {
            return Err(BerError::Truncated { offset });
        };
        let inner = Reader {
            data: &rest[h.size..end],
            pos: 0,
            base: offset + h.size,
            depth: self.depth + 1,
        };
        if inner.depth > MAX_NESTING {
            return Err(BerError::TooDeep { offset });
        }
        self.pos += end;
        Ok((h.tag, inner))
    }

    /// Reads the next element, which must have `tag`.
    pub(crate) fn expect(
        &mut self,
        tag: u8,
        expected: &'static str,
    ) -> Result<Reader<'a>, BerError> {
        let offset = self.offset();
        match self.peek_tag() {
            Some(t) if t == tag => Ok(self.any()?.1),
            Some(found) => Err(BerError::UnexpectedTag {
                offset,
                found,
                expected,
            }),
            None => Err(BerError::Truncated { offset }),
        }
    }

    /// Reads the next element if it has `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Reader<'a>>, BerError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.any()?.1))
        } else {
            Ok(None)
        }
    }

    /// The remaining bytes.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), BerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(BerError::TrailingBytes {
                offset: self.offset(),
            })
        }
    }

    /// Interprets the whole contents as a two's-complement integer.
    pub(crate) fn as_integer(&self) -> Result<i64, BerError> {
        let b = self.data;
        let offset = self.base;
        if b.is_empty() || b.len() > 8 {
            return Err(BerError::InvalidInteger { offset });
        }
        if b.len() > 1 && ((b[0] == 0 && b[1] & 0x80 == 0) || (b[0] == 0xff && b[1] & 0x80 != 0)) {
            return Err(BerError::InvalidInteger { offset });
        }
        let init: i64 = if b[0] & 0x80 != 0 { -1 } else { 0 };
        Ok(b.iter().fold(init, |acc, x| (acc << 8) | i64::from(*x)))
    }

    pub(crate) fn integer(&mut self, tag: u8, expected: &'static str) -> Result<i64, BerError> {
        self.expect(tag, expected)?.as_integer()
    }

    pub(crate) fn boolean(&mut self, tag: u8, expected: &'static str) -> Result<bool, BerError> {
        let r = self.expect(tag, expected)?;
        r.as_boolean()
    }

    pub(crate) fn as_boolean(&self) -> Result<bool, BerError> {
        match self.data {
            [b] => Ok(*b != 0),
            _ => Err(BerError::InvalidBoolean { offset: self.base }),
        }
    }

    pub(crate) fn octets(&mut self, tag: u8, expected: &'static str) -> Result<&'a [u8], BerError> {
        Ok(self.expect(tag, expected)?.data)
    }

    pub(crate) fn string(&mut self, tag: u8, field: &'static str) -> Result<String, BerError> {
        let r = self.expect(tag, field)?;
        r.as_string(field)
    }

    pub(crate) fn as_string(&self, field: &'static str) -> Result<String, BerError> {
        std::str::from_utf8(self.data)
            .map(str::to_owned)
            .map_err(|_| BerError::InvalidUtf8 {
                offset: self.base,
                field,
            })
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.data
    }
}

/// Appends a BER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a primitive element.
pub(crate) fn push_primitive(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a constructed element whose contents `f` writes.
pub(crate) fn push_constructed(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let len_at = out.len();
    out.push(0);
    f(out);
    let len = out.len() - len_at - 1;
    if len >= 0x80 {
        let mut header = Vec::with_capacity(5);
        push_len(&mut header, len);
        out.splice(len_at..=len_at, header);
    } else {
        out[len_at] = len as u8;
    }
}

/// Appends a minimal two's-complement integer.
pub(crate) fn push_integer(out: &mut Vec<u8>, tag: u8, value: i64) {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    push_primitive(out, tag, &bytes[start..]);
}

pub(crate) fn push_boolean(out: &mut Vec<u8>, tag: u8, value: bool) {
    push_primitive(out, tag, &[if value { 0xff } else { 0 }]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_minimal() {
        for v in [
            0,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            i64::from(i32::MAX),
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            push_integer(&mut out, tag::INTEGER, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.integer(tag::INTEGER, "int").unwrap(), v, "{v}");
            r.finish().unwrap();
        }
        let mut out = Vec::new();
        push_integer(&mut out, tag::INTEGER, 128);
        assert_eq!(out, [2, 2, 0, 128]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            Reader::new(&[0x04, 0x80, 0, 0]).any().unwrap_err(),
            BerError::IndefiniteLength { offset: 1 }
        );
        assert_eq!(
            Reader::new(&[0x04, 0x85, 1, 1, 1, 1, 1]).any().unwrap_err(),
            BerError::LengthTooLong { offset: 1 }
        );
        assert_eq!(
            Reader::new(&[0x04, 0x05, 1]).any().unwrap_err(),
            BerError::Truncated { offset: 0 }
        );
        assert_eq!(
            Reader::new(&[0x1f, 0x05, 1]).any().unwrap_err(),
            BerError::HighTagNumber { offset: 0 }
        );
        assert_eq!(
            Reader::new(&[0x02, 0x02, 0, 1]).as_integer_first(),
            Err(BerError::InvalidInteger { offset: 2 })
        );
    }

    #[test]
    fn framing() {
        let mut big = vec![0x30, 0x82, 0x01, 0x00];
        assert_eq!(frame_len(&big, 1000), Ok(None));
        big.resize(4 + 256, 0);
        assert_eq!(frame_len(&big, 1000), Ok(Some(260)));
        assert!(matches!(
            frame_len(&big, 100),
            Err(BerError::TooLarge { length: 260, .. })
        ));
        assert_eq!(frame_len(&[0x30], 100), Ok(None));
        assert_eq!(frame_len(&[0x30, 0x84, 0], 100), Ok(None));
    }

    #[test]
    fn long_constructed_lengths() {
        let mut out = Vec::new();
        push_constructed(&mut out, tag::SEQUENCE, |o| {
            push_primitive(o, tag::OCTET_STRING, &[7; 300]);
        });
        assert_eq!(&out[..4], &[0x30, 0x82, 0x01, 0x30]);
        let mut r = Reader::new(&out);
        let mut seq = r.expect(tag::SEQUENCE, "seq").unwrap();
        assert_eq!(seq.octets(tag::OCTET_STRING, "s").unwrap().len(), 300);
        seq.finish().unwrap();
    }

    impl Reader<'_> {
        fn as_integer_first(mut self) -> Result<i64, BerError> {
            self.integer(tag::INTEGER, "int")
        }
    }
}
