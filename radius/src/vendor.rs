//! Vendor-Specific attributes (RFC 2865 §5.26) and the Microsoft dictionary (RFC 2548).

use crate::attribute::AttributeType;
use crate::error::Error;
use crate::packet::Packet;

/// IANA enterprise number of Microsoft.
pub const MICROSOFT: u32 = 311;

/// A Vendor-Specific attribute value: the vendor and the vendor's data, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorSpecific<'a> {
    /// The vendor's IANA enterprise number.
    pub vendor_id: u32,
    /// Everything after the vendor id.
    pub data: &'a [u8],
}

/// One sub-attribute in the format RFC 2865 §5.26 recommends (type, length, value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttribute<'a> {
    /// The vendor type.
    pub vendor_type: u8,
    /// The value.
    pub value: &'a [u8],
}

impl<'a> VendorSpecific<'a> {
    /// Decodes the value of a Vendor-Specific attribute found at `offset`. Sub-attributes of
    /// vendors known to use the recommended format (Microsoft) are checked for framing.
    pub fn decode(value: &'a [u8], offset: usize) -> Result<Self, Error> {
        let (id, data) = value
            .split_first_chunk::<4>()
            .ok_or(Error::InvalidVendorSpecific {
                offset,
                reason: "shorter than the 4-byte vendor id",
            })?;
        let vsa = Self {
            vendor_id: u32::from_be_bytes(*id),
            data,
        };
        if vsa.vendor_id == MICROSOFT {
            for sub in vsa.sub_attributes() {
                sub.map_err(|reason| Error::InvalidVendorSpecific { offset, reason })?;
            }
        }
        Ok(vsa)
    }

    /// Iterates over sub-attributes in the recommended format; a framing error ends the
    /// iteration with an `Err`.
    pub fn sub_attributes(&self) -> SubAttributes<'a> {
        SubAttributes { rest: self.data }
    }

    /// The first sub-attribute of a vendor type, if the data is well framed.
    pub fn find(&self, vendor_type: u8) -> Option<&'a [u8]> {
        self.sub_attributes()
            .map_while(Result::ok)
            .find(|a| a.vendor_type == vendor_type)
            .map(|a| a.value)
    }

    /// Writes the attribute value (vendor id and data).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.vendor_id.to_be_bytes());
        out.extend_from_slice(self.data);
    }

    /// Writes a Vendor-Specific value holding a single sub-attribute. Returns an error if the
    /// result would not fit one attribute.
    pub fn encode_single(
        vendor_id: u32,
        vendor_type: u8,
        value: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if value.len() > 247 {
            return Err(Error::ValueTooLong {
                attr_type: 26,
                length: value.len() + 6,
            });
        }
        out.extend_from_slice(&vendor_id.to_be_bytes());
        out.push(vendor_type);
        out.push((value.len() + 2) as u8);
        out.extend_from_slice(value);
        Ok(())
    }
}

/// The value of the first well-framed sub-attribute of `vendor_id` and `vendor_type` in any
/// Vendor-Specific attribute of `packet`. Malformed Vendor-Specific attributes are skipped.
pub fn find_vendor_value<'a>(
    packet: &Packet<'a>,
    vendor_id: u32,
    vendor_type: u8,
) -> Option<&'a [u8]> {
    packet
        .find_all(AttributeType::VENDOR_SPECIFIC)
        .filter_map(|raw| VendorSpecific::decode(raw.value, raw.offset).ok())
        .filter(|vsa| vsa.vendor_id == vendor_id)
        .find_map(|vsa| vsa.find(vendor_type))
}

/// Iterator over the sub-attributes of a [`VendorSpecific`].
#[derive(Debug, Clone)]
pub struct SubAttributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SubAttributes<'a> {
    type Item = Result<VendorAttribute<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&vendor_type, after) = self.rest.split_first()?;
        let Some((&length, _)) = after.split_first() else {
            self.rest = &[];
            return Some(Err("sub-attribute header cut off"));
        };
        let length = usize::from(length);
        if length < 2 {
            self.rest = &[];
            return Some(Err("sub-attribute length below 2"));
        }
        if length > self.rest.len() {
            self.rest = &[];
            return Some(Err("sub-attribute overruns the attribute"));
        }
        let value = &self.rest[2..length];
        self.rest = &self.rest[length..];
        Some(Ok(VendorAttribute { vendor_type, value }))
    }
}

/// Microsoft vendor attributes (vendor 311, RFC 2548).
pub mod microsoft {
    use crate::error::Error;

    /// MS-CHAP-Response (RFC 2548 §2.1.3).
    pub const MS_CHAP_RESPONSE: u8 = 1;
    /// MS-CHAP-Error (RFC 2548 §2.1.5).
    pub const MS_CHAP_ERROR: u8 = 2;
    /// MS-CHAP-CPW-1 (RFC 2548 §2.1.6).
    pub const MS_CHAP_CPW_1: u8 = 3;
    /// MS-CHAP-CPW-2 (RFC 2548 §2.1.7).
    pub const MS_CHAP_CPW_2: u8 = 4;
    /// MS-CHAP-LM-Enc-PW (RFC 2548 §2.1.8).
    pub const MS_CHAP_LM_ENC_PW: u8 = 5;
    /// MS-CHAP-NT-Enc-PW (RFC 2548 §2.1.9).
    pub const MS_CHAP_NT_ENC_PW: u8 = 6;
    /// MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4).
    pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
    /// MS-MPPE-Encryption-Types (RFC 2548 §2.4.5).
    pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
    /// MS-RAS-Vendor (RFC 2548 §2.5.1).
    pub const MS_RAS_VENDOR: u8 = 9;
    /// MS-CHAP-Domain (RFC 2548 §2.1.10).
    pub const MS_CHAP_DOMAIN: u8 = 10;
    /// MS-CHAP-Challenge (RFC 2548 §2.1.2).
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    /// MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1).
    pub const MS_CHAP_MPPE_KEYS: u8 = 12;
    /// MS-MPPE-Send-Key (RFC 2548 §2.4.2).
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    /// MS-MPPE-Recv-Key (RFC 2548 §2.4.3).
    pub const MS_MPPE_RECV_KEY: u8 = 17;
    /// MS-RAS-Version (RFC 2548 §2.5.2).
    pub const MS_RAS_VERSION: u8 = 18;
    /// MS-CHAP2-Response (RFC 2548 §2.3.2).
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    /// MS-CHAP2-Success (RFC 2548 §2.3.3).
    pub const MS_CHAP2_SUCCESS: u8 = 26;
    /// MS-CHAP2-CPW (RFC 2548 §2.3.4).
    pub const MS_CHAP2_CPW: u8 = 27;
    /// MS-Primary-DNS-Server (RFC 2548 §2.6.1).
    pub const MS_PRIMARY_DNS_SERVER: u8 = 28;
    /// MS-Secondary-DNS-Server (RFC 2548 §2.6.2).
    pub const MS_SECONDARY_DNS_SERVER: u8 = 29;

    /// The name of a Microsoft vendor type, if known.
    pub fn name(vendor_type: u8) -> Option<&'static str> {
        Some(match vendor_type {
            MS_CHAP_RESPONSE => "MS-CHAP-Response",
            MS_CHAP_ERROR => "MS-CHAP-Error",
            MS_CHAP_CPW_1 => "MS-CHAP-CPW-1",
            MS_CHAP_CPW_2 => "MS-CHAP-CPW-2",
            MS_CHAP_LM_ENC_PW => "MS-CHAP-LM-Enc-PW",
            MS_CHAP_NT_ENC_PW => "MS-CHAP-NT-Enc-PW",
            MS_MPPE_ENCRYPTION_POLICY => "MS-MPPE-Encryption-Policy",
            MS_MPPE_ENCRYPTION_TYPES => "MS-MPPE-Encryption-Types",
            MS_RAS_VENDOR => "MS-RAS-Vendor",
            MS_CHAP_DOMAIN => "MS-CHAP-Domain",
            MS_CHAP_CHALLENGE => "MS-CHAP-Challenge",
            MS_CHAP_MPPE_KEYS => "MS-CHAP-MPPE-Keys",
            MS_MPPE_SEND_KEY => "MS-MPPE-Send-Key",
            MS_MPPE_RECV_KEY => "MS-MPPE-Recv-Key",
            MS_RAS_VERSION => "MS-RAS-Version",
            MS_CHAP2_RESPONSE => "MS-CHAP2-Response",
            MS_CHAP2_SUCCESS => "MS-CHAP2-Success",
            MS_CHAP2_CPW => "MS-CHAP2-CPW",
            MS_PRIMARY_DNS_SERVER => "MS-Primary-DNS-Server",
            MS_SECONDARY_DNS_SERVER => "MS-Secondary-DNS-Server",
            _ => return None,
        })
    }

    fn bad_len(vendor_type: u8, length: usize, expected: &'static str) -> Error {
        Error::InvalidValueLength {
            offset: 0,
            attr_type: vendor_type,
            length,
            expected,
        }
    }

    /// MS-CHAP-Response (RFC 2548 §2.1.3): the MS-CHAPv1 answer of the peer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MsChapResponse<'a> {
        /// PPP CHAP identifier.
        pub ident: u8,
        /// 1 if the NT response is to be used.
        pub flags: u8,
        /// LAN Manager response (24 bytes).
        pub lm_response: &'a [u8; 24],
        /// NT response (24 bytes).
        pub nt_response: &'a [u8; 24],
    }

    impl<'a> MsChapResponse<'a> {
        /// Parses the 50-byte sub-attribute value.
        pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
            let v: &[u8; 50] = value
                .try_into()
                .map_err(|_| bad_len(MS_CHAP_RESPONSE, value.len(), "50"))?;
            let (head, rest) = v.split_at(2);
            let (lm, nt) = rest.split_at(24);
            Ok(Self {
                ident: head[0],
                flags: head[1],
                lm_response: lm
                    .try_into()
                    .map_err(|_| bad_len(MS_CHAP_RESPONSE, 50, "50"))?,
                nt_response: nt
                    .try_into()
                    .map_err(|_| bad_len(MS_CHAP_RESPONSE, 50, "50"))?,
            })
        }
    }

    /// MS-CHAP2-Response (RFC 2548 §2.3.2): the MS-CHAPv2 answer of the peer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MsChap2Response<'a> {
        /// PPP CHAP identifier.
        pub ident: u8,
        /// Flags (zero).
        pub flags: u8,
        /// The peer's challenge (16 bytes).
        pub peer_challenge: &'a [u8; 16],
        /// The NT response (24 bytes).
        pub nt_response: &'a [u8; 24],
    }

    impl<'a> MsChap2Response<'a> {
        /// Parses the 50-byte sub-attribute value.
        pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
            let v: &[u8; 50] = value
                .try_into()
                .map_err(|_| bad_len(MS_CHAP2_RESPONSE, value.len(), "50"))?;
            let err = || bad_len(MS_CHAP2_RESPONSE, 50, "50");
            Ok(Self {
                ident: v[0],
                flags: v[1],
                peer_challenge: v[2..18].try_into().map_err(|_| err())?,
                nt_response: v[26..50].try_into().map_err(|_| err())?,
            })
        }

        /// Writes the 50-byte value (the 8 reserved bytes are zero).
        pub fn encode(&self, out: &mut Vec<u8>) {
            out.push(self.ident);
            out.push(self.flags);
            out.extend_from_slice(self.peer_challenge);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(self.nt_response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{Attribute, AttributeType, Value};
    use crate::packet::RawAttribute;

    #[test]
    fn microsoft_sub_attributes_are_checked() {
        let mut v = Vec::new();
        VendorSpecific::encode_single(MICROSOFT, microsoft::MS_CHAP_CHALLENGE, &[7; 16], &mut v)
            .unwrap();
        let vsa = VendorSpecific::decode(&v, 20).unwrap();
        assert_eq!(vsa.vendor_id, 311);
        assert_eq!(vsa.find(microsoft::MS_CHAP_CHALLENGE), Some(&[7u8; 16][..]));
        let mut out = Vec::new();
        vsa.encode(&mut out);
        assert_eq!(out, v);

        let mut broken = v.clone();
        broken[5] = 40;
        assert_eq!(
            VendorSpecific::decode(&broken, 20),
            Err(Error::InvalidVendorSpecific {
                offset: 20,
                reason: "sub-attribute overruns the attribute"
            })
        );
        assert!(VendorSpecific::decode(&[0, 0, 1], 20).is_err());
        // Other vendors' data is opaque and passes through untouched.
        let other = [0, 0, 0x30, 0x39, 0xff];
        let vsa = VendorSpecific::decode(&other, 20).unwrap();
        assert_eq!(vsa.data, &[0xff]);
        assert!(vsa.sub_attributes().next().unwrap().is_err());
        let attr = Attribute::decode(RawAttribute {
            offset: 20,
            attr_type: AttributeType::VENDOR_SPECIFIC,
            value: &other,
        })
        .unwrap();
        assert!(matches!(attr.value, Value::Vendor(v) if v.vendor_id == 12345));
    }

    #[test]
    fn ms_chap2_response_layout() {
        let mut v = vec![1, 0];
        v.extend_from_slice(&[0xaa; 16]);
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&[0xbb; 24]);
        let r = microsoft::MsChap2Response::parse(&v).unwrap();
        assert_eq!(r.ident, 1);
        assert_eq!(r.peer_challenge, &[0xaa; 16]);
        assert_eq!(r.nt_response, &[0xbb; 24]);
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(out, v);
        assert!(microsoft::MsChap2Response::parse(&v[..49]).is_err());
        assert_eq!(microsoft::name(25), Some("MS-CHAP2-Response"));
        let r1 = microsoft::MsChapResponse::parse(&v).unwrap();
        assert_eq!(r1.nt_response, &[0xbb; 24]);
    }
}
