//! The typed attribute dictionary (RFC 2865, 2866, 2868, 2869, 3162, 5176, 6911) and typed
//! values with a raw escape hatch.
//!
//! Decoding a [`RawAttribute`] gives an [`Attribute`] whose [`Value`] is typed by the
//! dictionary; types the dictionary does not know stay [`Value::Raw`]. Encoding a decoded
//! attribute gives back exactly the bytes it was decoded from.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;
use crate::packet::{PacketBuilder, RawAttribute};
use crate::vendor::VendorSpecific;

/// The Type byte of an attribute. Every value is valid; the associated constants name those
/// of the dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u8);

/// The data type of an attribute value (RFC 8044 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// UTF-8 text, 1..=253 bytes.
    Text,
    /// Opaque bytes.
    Octets,
    /// Opaque bytes hidden with the shared secret (User-Password, RFC 2865 §5.2).
    HiddenPassword,
    /// 32-bit unsigned integer.
    Integer,
    /// 32-bit enumerated value.
    Enum,
    /// Seconds since 1970-01-01 UTC, 32 bits.
    Time,
    /// IPv4 address.
    Ipv4Addr,
    /// IPv6 address.
    Ipv6Addr,
    /// IPv6 prefix (RFC 3162 §2.3).
    Ipv6Prefix,
    /// 8-byte interface identifier (RFC 3162 §2.2).
    InterfaceId,
    /// Fixed-size opaque value.
    Fixed(usize),
    /// Integer with a leading tag byte (RFC 2868 §3).
    TaggedInteger,
    /// Text with an optional leading tag byte (RFC 2868 §3).
    TaggedText,
    /// Tag, salt and salted hidden value (Tunnel-Password, RFC 2868 §3.5).
    TaggedHidden,
    /// Vendor-Specific (RFC 2865 §5.26).
    VendorSpecific,
}

macro_rules! dictionary {
    ($( $(#[$doc:meta])* $konst:ident = $num:literal, $name:literal, $kind:expr; )*) => {
        impl AttributeType {
            $( $(#[$doc])* pub const $konst: Self = Self($num); )*

            /// The dictionary name, if the type is known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $num => Some($name), )*
                    _ => None,
                }
            }

            /// The dictionary data type, if the type is known.
            pub fn kind(self) -> Option<ValueKind> {
                match self.0 {
                    $( $num => Some($kind), )*
                    _ => None,
                }
            }
        }
    };
}

dictionary! {
    /// User-Name (RFC 2865 §5.1).
    USER_NAME = 1, "User-Name", ValueKind::Text;
    /// User-Password (RFC 2865 §5.2).
    USER_PASSWORD = 2, "User-Password", ValueKind::HiddenPassword;
    /// CHAP-Password (RFC 2865 §5.3).
    CHAP_PASSWORD = 3, "CHAP-Password", ValueKind::Fixed(17);
    /// NAS-IP-Address (RFC 2865 §5.4).
    NAS_IP_ADDRESS = 4, "NAS-IP-Address", ValueKind::Ipv4Addr;
    /// NAS-Port (RFC 2865 §5.5).
    NAS_PORT = 5, "NAS-Port", ValueKind::Integer;
    /// Service-Type (RFC 2865 §5.6).
    SERVICE_TYPE = 6, "Service-Type", ValueKind::Enum;
    /// Framed-Protocol (RFC 2865 §5.7).
    FRAMED_PROTOCOL = 7, "Framed-Protocol", ValueKind::Enum;
    /// Framed-IP-Address (RFC 2865 §5.8).
    FRAMED_IP_ADDRESS = 8, "Framed-IP-Address", ValueKind::Ipv4Addr;
    /// Framed-IP-Netmask (RFC 2865 §5.9).
    FRAMED_IP_NETMASK = 9, "Framed-IP-Netmask", ValueKind::Ipv4Addr;
    /// Framed-Routing (RFC 2865 §5.10).
    FRAMED_ROUTING = 10, "Framed-Routing", ValueKind::Enum;
    /// Filter-Id (RFC 2865 §5.11).
    FILTER_ID = 11, "Filter-Id", ValueKind::Text;
    /// Framed-MTU (RFC 2865 §5.12).
    FRAMED_MTU = 12, "Framed-MTU", ValueKind::Integer;
    /// Framed-Compression (RFC 2865 §5.13).
    FRAMED_COMPRESSION = 13, "Framed-Compression", ValueKind::Enum;
    /// Login-IP-Host (RFC 2865 §5.14).
    LOGIN_IP_HOST = 14, "Login-IP-Host", ValueKind::Ipv4Addr;
    /// Login-Service (RFC 2865 §5.15).
    LOGIN_SERVICE = 15, "Login-Service", ValueKind::Enum;
    /// Login-TCP-Port (RFC 2865 §5.16).
    LOGIN_TCP_PORT = 16, "Login-TCP-Port", ValueKind::Integer;
    /// Reply-Message (RFC 2865 §5.18).
    REPLY_MESSAGE = 18, "Reply-Message", ValueKind::Text;
    /// Callback-Number (RFC 2865 §5.19).
    CALLBACK_NUMBER = 19, "Callback-Number", ValueKind::Octets;
    /// Callback-Id (RFC 2865 §5.20).
    CALLBACK_ID = 20, "Callback-Id", ValueKind::Octets;
    /// Framed-Route (RFC 2865 §5.22).
    FRAMED_ROUTE = 22, "Framed-Route", ValueKind::Text;
    /// Framed-IPX-Network (RFC 2865 §5.23).
    FRAMED_IPX_NETWORK = 23, "Framed-IPX-Network", ValueKind::Integer;
    /// State (RFC 2865 §5.24).
    STATE = 24, "State", ValueKind::Octets;
    /// Class (RFC 2865 §5.25).
    CLASS = 25, "Class", ValueKind::Octets;
    /// Vendor-Specific (RFC 2865 §5.26).
    VENDOR_SPECIFIC = 26, "Vendor-Specific", ValueKind::VendorSpecific;
    /// Session-Timeout (RFC 2865 §5.27).
    SESSION_TIMEOUT = 27, "Session-Timeout", ValueKind::Integer;
    /// Idle-Timeout (RFC 2865 §5.28).
    IDLE_TIMEOUT = 28, "Idle-Timeout", ValueKind::Integer;
    /// Termination-Action (RFC 2865 §5.29).
    TERMINATION_ACTION = 29, "Termination-Action", ValueKind::Enum;
    /// Called-Station-Id (RFC 2865 §5.30).
    CALLED_STATION_ID = 30, "Called-Station-Id", ValueKind::Octets;
    /// Calling-Station-Id (RFC 2865 §5.31).
    CALLING_STATION_ID = 31, "Calling-Station-Id", ValueKind::Octets;
    /// NAS-Identifier (RFC 2865 §5.32).
    NAS_IDENTIFIER = 32, "NAS-Identifier", ValueKind::Octets;
    /// Proxy-State (RFC 2865 §5.33).
    PROXY_STATE = 33, "Proxy-State", ValueKind::Octets;
    /// Login-LAT-Service (RFC 2865 §5.34).
    LOGIN_LAT_SERVICE = 34, "Login-LAT-Service", ValueKind::Octets;
    /// Login-LAT-Node (RFC 2865 §5.35).
    LOGIN_LAT_NODE = 35, "Login-LAT-Node", ValueKind::Octets;
    /// Login-LAT-Group (RFC 2865 §5.36).
    LOGIN_LAT_GROUP = 36, "Login-LAT-Group", ValueKind::Octets;
    /// Framed-AppleTalk-Link (RFC 2865 §5.37).
    FRAMED_APPLETALK_LINK = 37, "Framed-AppleTalk-Link", ValueKind::Integer;
    /// Framed-AppleTalk-Network (RFC 2865 §5.38).
    FRAMED_APPLETALK_NETWORK = 38, "Framed-AppleTalk-Network", ValueKind::Integer;
    /// Framed-AppleTalk-Zone (RFC 2865 §5.39).
    FRAMED_APPLETALK_ZONE = 39, "Framed-AppleTalk-Zone", ValueKind::Octets;
    /// Acct-Status-Type (RFC 2866 §5.1).
    ACCT_STATUS_TYPE = 40, "Acct-Status-Type", ValueKind::Enum;
    /// Acct-Delay-Time (RFC 2866 §5.2).
    ACCT_DELAY_TIME = 41, "Acct-Delay-Time", ValueKind::Integer;
    /// Acct-Input-Octets (RFC 2866 §5.3).
    ACCT_INPUT_OCTETS = 42, "Acct-Input-Octets", ValueKind::Integer;
    /// Acct-Output-Octets (RFC 2866 §5.4).
    ACCT_OUTPUT_OCTETS = 43, "Acct-Output-Octets", ValueKind::Integer;
    /// Acct-Session-Id (RFC 2866 §5.5).
    ACCT_SESSION_ID = 44, "Acct-Session-Id", ValueKind::Text;
    /// Acct-Authentic (RFC 2866 §5.6).
    ACCT_AUTHENTIC = 45, "Acct-Authentic", ValueKind::Enum;
    /// Acct-Session-Time (RFC 2866 §5.7).
    ACCT_SESSION_TIME = 46, "Acct-Session-Time", ValueKind::Integer;
    /// Acct-Input-Packets (RFC 2866 §5.8).
    ACCT_INPUT_PACKETS = 47, "Acct-Input-Packets", ValueKind::Integer;
    /// Acct-Output-Packets (RFC 2866 §5.9).
    ACCT_OUTPUT_PACKETS = 48, "Acct-Output-Packets", ValueKind::Integer;
    /// Acct-Terminate-Cause (RFC 2866 §5.10).
    ACCT_TERMINATE_CAUSE = 49, "Acct-Terminate-Cause", ValueKind::Enum;
    /// Acct-Multi-Session-Id (RFC 2866 §5.11).
    ACCT_MULTI_SESSION_ID = 50, "Acct-Multi-Session-Id", ValueKind::Text;
    /// Acct-Link-Count (RFC 2866 §5.12).
    ACCT_LINK_COUNT = 51, "Acct-Link-Count", ValueKind::Integer;
    /// Acct-Input-Gigawords (RFC 2869 §5.1).
    ACCT_INPUT_GIGAWORDS = 52, "Acct-Input-Gigawords", ValueKind::Integer;
    /// Acct-Output-Gigawords (RFC 2869 §5.2).
    ACCT_OUTPUT_GIGAWORDS = 53, "Acct-Output-Gigawords", ValueKind::Integer;
    /// Event-Timestamp (RFC 2869 §5.3).
    EVENT_TIMESTAMP = 55, "Event-Timestamp", ValueKind::Time;
    /// CHAP-Challenge (RFC 2865 §5.40).
    CHAP_CHALLENGE = 60, "CHAP-Challenge", ValueKind::Octets;
    /// NAS-Port-Type (RFC 2865 §5.41).
    NAS_PORT_TYPE = 61, "NAS-Port-Type", ValueKind::Enum;
    /// Port-Limit (RFC 2865 §5.42).
    PORT_LIMIT = 62, "Port-Limit", ValueKind::Integer;
    /// Login-LAT-Port (RFC 2865 §5.43).
    LOGIN_LAT_PORT = 63, "Login-LAT-Port", ValueKind::Octets;
    /// Tunnel-Type (RFC 2868 §3.1).
    TUNNEL_TYPE = 64, "Tunnel-Type", ValueKind::TaggedInteger;
    /// Tunnel-Medium-Type (RFC 2868 §3.2).
    TUNNEL_MEDIUM_TYPE = 65, "Tunnel-Medium-Type", ValueKind::TaggedInteger;
    /// Tunnel-Client-Endpoint (RFC 2868 §3.3).
    TUNNEL_CLIENT_ENDPOINT = 66, "Tunnel-Client-Endpoint", ValueKind::TaggedText;
    /// Tunnel-Server-Endpoint (RFC 2868 §3.4).
    TUNNEL_SERVER_ENDPOINT = 67, "Tunnel-Server-Endpoint", ValueKind::TaggedText;
    /// Tunnel-Password (RFC 2868 §3.5).
    TUNNEL_PASSWORD = 69, "Tunnel-Password", ValueKind::TaggedHidden;
    /// ARAP-Password (RFC 2869 §5.4).
    ARAP_PASSWORD = 70, "ARAP-Password", ValueKind::Fixed(16);
    /// ARAP-Features (RFC 2869 §5.5).
    ARAP_FEATURES = 71, "ARAP-Features", ValueKind::Fixed(14);
    /// ARAP-Zone-Access (RFC 2869 §5.6).
    ARAP_ZONE_ACCESS = 72, "ARAP-Zone-Access", ValueKind::Enum;
    /// ARAP-Security (RFC 2869 §5.7).
    ARAP_SECURITY = 73, "ARAP-Security", ValueKind::Integer;
    /// ARAP-Security-Data (RFC 2869 §5.8).
    ARAP_SECURITY_DATA = 74, "ARAP-Security-Data", ValueKind::Octets;
    /// Password-Retry (RFC 2869 §5.9).
    PASSWORD_RETRY = 75, "Password-Retry", ValueKind::Integer;
    /// Prompt (RFC 2869 §5.10).
    PROMPT = 76, "Prompt", ValueKind::Enum;
    /// Connect-Info (RFC 2869 §5.11).
    CONNECT_INFO = 77, "Connect-Info", ValueKind::Text;
    /// Configuration-Token (RFC 2869 §5.12).
    CONFIGURATION_TOKEN = 78, "Configuration-Token", ValueKind::Octets;
    /// EAP-Message (RFC 2869 §5.13); long values are split across attributes.
    EAP_MESSAGE = 79, "EAP-Message", ValueKind::Octets;
    /// Message-Authenticator (RFC 2869 §5.14).
    MESSAGE_AUTHENTICATOR = 80, "Message-Authenticator", ValueKind::Fixed(16);
    /// Tunnel-Private-Group-ID (RFC 2868 §3.6).
    TUNNEL_PRIVATE_GROUP_ID = 81, "Tunnel-Private-Group-ID", ValueKind::TaggedText;
    /// Tunnel-Assignment-ID (RFC 2868 §3.7).
    TUNNEL_ASSIGNMENT_ID = 82, "Tunnel-Assignment-ID", ValueKind::TaggedText;
    /// Tunnel-Preference (RFC 2868 §3.8).
    TUNNEL_PREFERENCE = 83, "Tunnel-Preference", ValueKind::TaggedInteger;
    /// ARAP-Challenge-Response (RFC 2869 §5.15).
    ARAP_CHALLENGE_RESPONSE = 84, "ARAP-Challenge-Response", ValueKind::Fixed(8);
    /// Acct-Interim-Interval (RFC 2869 §5.16).
    ACCT_INTERIM_INTERVAL = 85, "Acct-Interim-Interval", ValueKind::Integer;
    /// NAS-Port-Id (RFC 2869 §5.17).
    NAS_PORT_ID = 87, "NAS-Port-Id", ValueKind::Text;
    /// Framed-Pool (RFC 2869 §5.18).
    FRAMED_POOL = 88, "Framed-Pool", ValueKind::Octets;
    /// Tunnel-Client-Auth-ID (RFC 2868 §3.9).
    TUNNEL_CLIENT_AUTH_ID = 90, "Tunnel-Client-Auth-ID", ValueKind::TaggedText;
    /// Tunnel-Server-Auth-ID (RFC 2868 §3.10).
    TUNNEL_SERVER_AUTH_ID = 91, "Tunnel-Server-Auth-ID", ValueKind::TaggedText;
    /// NAS-IPv6-Address (RFC 3162 §2.1).
    NAS_IPV6_ADDRESS = 95, "NAS-IPv6-Address", ValueKind::Ipv6Addr;
    /// Framed-Interface-Id (RFC 3162 §2.2).
    FRAMED_INTERFACE_ID = 96, "Framed-Interface-Id", ValueKind::InterfaceId;
    /// Framed-IPv6-Prefix (RFC 3162 §2.3).
    FRAMED_IPV6_PREFIX = 97, "Framed-IPv6-Prefix", ValueKind::Ipv6Prefix;
    /// Login-IPv6-Host (RFC 3162 §2.4).
    LOGIN_IPV6_HOST = 98, "Login-IPv6-Host", ValueKind::Ipv6Addr;
    /// Framed-IPv6-Route (RFC 3162 §2.5).
    FRAMED_IPV6_ROUTE = 99, "Framed-IPv6-Route", ValueKind::Text;
    /// Framed-IPv6-Pool (RFC 3162 §2.6).
    FRAMED_IPV6_POOL = 100, "Framed-IPv6-Pool", ValueKind::Octets;
    /// Error-Cause (RFC 5176 §3.5).
    ERROR_CAUSE = 101, "Error-Cause", ValueKind::Enum;
    /// Framed-IPv6-Address (RFC 6911 §3.1).
    FRAMED_IPV6_ADDRESS = 168, "Framed-IPv6-Address", ValueKind::Ipv6Addr;
    /// DNS-Server-IPv6-Address (RFC 6911 §3.2).
    DNS_SERVER_IPV6_ADDRESS = 169, "DNS-Server-IPv6-Address", ValueKind::Ipv6Addr;
    /// Route-IPv6-Information (RFC 6911 §3.3).
    ROUTE_IPV6_INFORMATION = 170, "Route-IPv6-Information", ValueKind::Ipv6Prefix;
    /// Delegated-IPv6-Prefix-Pool (RFC 6911 §3.4).
    DELEGATED_IPV6_PREFIX_POOL = 171, "Delegated-IPv6-Prefix-Pool", ValueKind::Octets;
    /// Stateful-IPv6-Address-Pool (RFC 6911 §3.5).
    STATEFUL_IPV6_ADDRESS_POOL = 172, "Stateful-IPv6-Address-Pool", ValueKind::Octets;
}

impl AttributeType {
    /// Whether long values of this type are split across consecutive attributes and joined
    /// by concatenation (EAP-Message, RFC 2869 §5.13).
    pub fn is_concatenated(self) -> bool {
        self == Self::EAP_MESSAGE
    }
}

impl fmt::Debug for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "Attr-{}", self.0),
        }
    }
}

impl From<u8> for AttributeType {
    fn from(value: u8) -> Self {
        Self(value)
    }
}

/// An IPv6 prefix as carried by RFC 3162 §2.3: the prefix length and as many prefix bytes as
/// the sender put on the wire (kept so that encoding reproduces the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Prefix {
    prefix_len: u8,
    bytes: [u8; 16],
    stored: u8,
}

impl Ipv6Prefix {
    /// A prefix of `prefix_len` bits (at most 128) of `addr`, stored with the minimal number of
    /// bytes; bits after the prefix are cleared.
    pub fn new(addr: Ipv6Addr, prefix_len: u8) -> Option<Self> {
        if prefix_len > 128 {
            return None;
        }
        let stored = prefix_len.div_ceil(8);
        let mut bytes = [0u8; 16];
        let octets = addr.octets();
        bytes[..usize::from(stored)].copy_from_slice(&octets[..usize::from(stored)]);
        let rem = prefix_len % 8;
        if rem != 0 {
            bytes[usize::from(stored) - 1] &= 0xffu8 << (8 - rem);
        }
        Some(Self {
            prefix_len,
            bytes,
            stored,
        })
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The prefix as an address (bytes not on the wire are zero).
    pub fn addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.bytes)
    }
}

/// A decoded attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// UTF-8 text.
    Text(&'a str),
    /// Opaque bytes (also hidden values, still hidden).
    Octets(&'a [u8]),
    /// Unsigned 32-bit integer or enumerated value.
    Integer(u32),
    /// Seconds since the Unix epoch.
    Time(u32),
    /// IPv4 address.
    Ipv4(Ipv4Addr),
    /// IPv6 address.
    Ipv6(Ipv6Addr),
    /// IPv6 prefix.
    Ipv6Prefix(Ipv6Prefix),
    /// Interface identifier.
    InterfaceId([u8; 8]),
    /// Tagged integer (24-bit value).
    TaggedInteger {
        /// Tag 0..=31.
        tag: u8,
        /// Value, at most 0xFF_FFFF.
        value: u32,
    },
    /// Text with an optional tag.
    TaggedText {
        /// Tag 1..=31, if present.
        tag: Option<u8>,
        /// The text.
        text: &'a str,
    },
    /// Tag followed by opaque bytes (salt and hidden value of Tunnel-Password).
    TaggedOctets {
        /// Tag 0..=31.
        tag: u8,
        /// The bytes after the tag.
        bytes: &'a [u8],
    },
    /// Vendor-Specific.
    Vendor(VendorSpecific<'a>),
    /// A value of a type the dictionary does not know, kept byte for byte.
    Raw(&'a [u8]),
}

/// A typed attribute: its type and decoded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The attribute type.
    pub attr_type: AttributeType,
    /// The decoded value.
    pub value: Value<'a>,
}

fn fixed<const N: usize>(raw: &RawAttribute<'_>, expected: &'static str) -> Result<[u8; N], Error> {
    raw.fixed(expected)
}

fn utf8<'a>(raw: &RawAttribute<'a>, bytes: &'a [u8]) -> Result<&'a str, Error> {
    core::str::from_utf8(bytes).map_err(|_| Error::InvalidValue {
        offset: raw.offset,
        attr_type: raw.attr_type.0,
        reason: "text is not valid UTF-8",
    })
}

impl<'a> Attribute<'a> {
    /// Decodes a raw attribute with the dictionary. Unknown types decode to [`Value::Raw`].
    pub fn decode(raw: RawAttribute<'a>) -> Result<Self, Error> {
        let value = match raw.attr_type.kind() {
            None => Value::Raw(raw.value),
            Some(kind) => Self::decode_kind(&raw, kind)?,
        };
        Ok(Self {
            attr_type: raw.attr_type,
            value,
        })
    }

    fn decode_kind(raw: &RawAttribute<'a>, kind: ValueKind) -> Result<Value<'a>, Error> {
        let bad = |reason| Error::InvalidValue {
            offset: raw.offset,
            attr_type: raw.attr_type.0,
            reason,
        };
        Ok(match kind {
            ValueKind::Text => Value::Text(raw.text()?),
            ValueKind::Octets | ValueKind::HiddenPassword => Value::Octets(raw.value),
            ValueKind::Fixed(n) => {
                if raw.value.len() != n {
                    return Err(Error::InvalidValueLength {
                        offset: raw.offset,
                        attr_type: raw.attr_type.0,
                        length: raw.value.len(),
                        expected: "the fixed size of its type",
                    });
                }
                Value::Octets(raw.value)
            }
            ValueKind::Integer | ValueKind::Enum => Value::Integer(raw.integer()?),
            ValueKind::Time => Value::Time(raw.integer()?),
            ValueKind::Ipv4Addr => Value::Ipv4(raw.ipv4()?),
            ValueKind::Ipv6Addr => Value::Ipv6(Ipv6Addr::from(fixed::<16>(raw, "16")?)),
            ValueKind::InterfaceId => Value::InterfaceId(fixed(raw, "8")?),
            ValueKind::Ipv6Prefix => {
                let (&[reserved, prefix_len], prefix) =
                    raw.value
                        .split_first_chunk::<2>()
                        .ok_or(Error::InvalidValueLength {
                            offset: raw.offset,
                            attr_type: raw.attr_type.0,
                            length: raw.value.len(),
                            expected: "2..=18",
                        })?;
                if prefix.len() > 16 {
                    return Err(Error::InvalidValueLength {
                        offset: raw.offset,
                        attr_type: raw.attr_type.0,
                        length: raw.value.len(),
                        expected: "2..=18",
                    });
                }
                if reserved != 0 {
                    return Err(bad("reserved byte of IPv6 prefix is not zero"));
                }
                if prefix_len > 128 || usize::from(prefix_len.div_ceil(8)) > prefix.len() {
                    return Err(bad("IPv6 prefix length does not fit the prefix bytes"));
                }
                let mut bytes = [0u8; 16];
                bytes[..prefix.len()].copy_from_slice(prefix);
                Value::Ipv6Prefix(Ipv6Prefix {
                    prefix_len,
                    bytes,
                    stored: prefix.len() as u8,
                })
            }
            ValueKind::TaggedInteger => {
                let b: [u8; 4] = fixed(raw, "4")?;
                if b[0] > 0x1f {
                    return Err(bad("tag is above 0x1F"));
                }
                Value::TaggedInteger {
                    tag: b[0],
                    value: u32::from_be_bytes([0, b[1], b[2], b[3]]),
                }
            }
            ValueKind::TaggedText => match raw.value.split_first() {
                Some((&tag, rest)) if (1..=0x1f).contains(&tag) => Value::TaggedText {
                    tag: Some(tag),
                    text: utf8(raw, rest)?,
                },
                Some((0, _)) => return Err(bad("tag 0 is not allowed on text")),
                _ => Value::TaggedText {
                    tag: None,
                    text: utf8(raw, raw.value)?,
                },
            },
            ValueKind::TaggedHidden => match raw.value.split_first() {
                Some((&tag, bytes)) if tag <= 0x1f => Value::TaggedOctets { tag, bytes },
                Some(_) => return Err(bad("tag is above 0x1F")),
                None => {
                    return Err(Error::InvalidValueLength {
                        offset: raw.offset,
                        attr_type: raw.attr_type.0,
                        length: 0,
                        expected: "at least 1",
                    });
                }
            },
            ValueKind::VendorSpecific => {
                Value::Vendor(VendorSpecific::decode(raw.value, raw.offset)?)
            }
        })
    }

    /// Writes the value bytes (without the attribute header) to `out`.
    pub fn encode_value(&self, out: &mut Vec<u8>) {
        match self.value {
            Value::Text(t) => out.extend_from_slice(t.as_bytes()),
            Value::Octets(b) | Value::Raw(b) => out.extend_from_slice(b),
            Value::Integer(v) | Value::Time(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Ipv4(a) => out.extend_from_slice(&a.octets()),
            Value::Ipv6(a) => out.extend_from_slice(&a.octets()),
            Value::Ipv6Prefix(p) => {
                out.push(0);
                out.push(p.prefix_len);
                out.extend_from_slice(&p.bytes[..usize::from(p.stored)]);
            }
            Value::InterfaceId(id) => out.extend_from_slice(&id),
            Value::TaggedInteger { tag, value } => {
                let v = value.to_be_bytes();
                out.extend_from_slice(&[tag, v[1], v[2], v[3]]);
            }
            Value::TaggedText { tag, text } => {
                if let Some(tag) = tag {
                    out.push(tag);
                }
                out.extend_from_slice(text.as_bytes());
            }
            Value::TaggedOctets { tag, bytes } => {
                out.push(tag);
                out.extend_from_slice(bytes);
            }
            Value::Vendor(v) => v.encode(out),
        }
    }

    /// Appends the attribute to a packet being built.
    // Always inlined: answers are built from attributes written out at the call site, whose
    // kind is then known and the match disappears (about 20 instructions an attribute).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn encode(&self, builder: &mut PacketBuilder<'_>) -> Result<(), Error> {
        // Byte strings and fixed-size values are written in one copy; the others through
        // `encode_value`.
        match self.value {
            Value::Text(t) => builder.push(self.attr_type, t.as_bytes())?,
            Value::Octets(b) | Value::Raw(b) => builder.push(self.attr_type, b)?,
            Value::Integer(v) | Value::Time(v) => {
                builder.push_fixed(self.attr_type, v.to_be_bytes())?
            }
            Value::Ipv4(a) => builder.push_fixed(self.attr_type, a.octets())?,
            Value::Ipv6(a) => builder.push_fixed(self.attr_type, a.octets())?,
            _ => builder.push_with(self.attr_type, |out| self.encode_value(out))?,
        };
        Ok(())
    }

    /// A text attribute (Reply-Message, User-Name, …).
    #[inline]
    pub fn text(attr_type: AttributeType, text: &'a str) -> Self {
        Self {
            attr_type,
            value: Value::Text(text),
        }
    }

    /// An opaque attribute (State, Class, …).
    pub fn octets(attr_type: AttributeType, bytes: &'a [u8]) -> Self {
        Self {
            attr_type,
            value: Value::Octets(bytes),
        }
    }

    /// An integer or enumerated attribute.
    pub fn integer(attr_type: AttributeType, value: u32) -> Self {
        Self {
            attr_type,
            value: Value::Integer(value),
        }
    }

    /// An IPv4 address attribute.
    pub fn ipv4(attr_type: AttributeType, addr: Ipv4Addr) -> Self {
        Self {
            attr_type,
            value: Value::Ipv4(addr),
        }
    }

    /// A Reply-Message attribute.
    #[inline]
    pub fn reply_message(text: &'a str) -> Self {
        Self::text(AttributeType::REPLY_MESSAGE, text)
    }

    /// A State attribute.
    pub fn state(bytes: &'a [u8]) -> Self {
        Self::octets(AttributeType::STATE, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::Code;
    use crate::packet::Packet;

    fn round_trip(attr_type: u8, value: &[u8]) -> Result<Value<'_>, Error> {
        let raw = RawAttribute {
            offset: 20,
            attr_type: AttributeType(attr_type),
            value,
        };
        let attr = Attribute::decode(raw)?;
        let mut out = Vec::new();
        attr.encode_value(&mut out);
        assert_eq!(out, value, "type {attr_type} does not round-trip");
        Ok(attr.value)
    }

    #[test]
    fn typed_values_round_trip() {
        assert_eq!(round_trip(1, b"nemo").unwrap(), Value::Text("nemo"));
        assert_eq!(
            round_trip(4, &[192, 168, 1, 16]).unwrap(),
            Value::Ipv4(Ipv4Addr::new(192, 168, 1, 16))
        );
        assert_eq!(round_trip(5, &[0, 0, 0, 3]).unwrap(), Value::Integer(3));
        assert_eq!(round_trip(55, &[0, 0, 1, 0]).unwrap(), Value::Time(256));
        assert_eq!(
            round_trip(64, &[1, 0, 0, 3]).unwrap(),
            Value::TaggedInteger { tag: 1, value: 3 }
        );
        assert_eq!(
            round_trip(81, b"\x02vlan10").unwrap(),
            Value::TaggedText {
                tag: Some(2),
                text: "vlan10"
            }
        );
        assert_eq!(
            round_trip(81, b"vlan10").unwrap(),
            Value::TaggedText {
                tag: None,
                text: "vlan10"
            }
        );
        let v6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            round_trip(95, &v6).unwrap(),
            Value::Ipv6(Ipv6Addr::from(v6))
        );
        let prefix = round_trip(97, &[0, 64, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0]).unwrap();
        let Value::Ipv6Prefix(p) = prefix else {
            panic!("not a prefix")
        };
        assert_eq!(p.prefix_len(), 64);
        assert_eq!(p.addr(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(round_trip(96, &[1; 8]).unwrap(), Value::InterfaceId([1; 8]));
        assert_eq!(round_trip(200, &[9, 9]).unwrap(), Value::Raw(&[9, 9]));
        assert_eq!(round_trip(200, &[]).unwrap(), Value::Raw(&[]));
    }

    #[test]
    fn typed_errors_name_type_and_offset() {
        assert_eq!(
            round_trip(5, &[0, 0, 3]),
            Err(Error::InvalidValueLength {
                offset: 20,
                attr_type: 5,
                length: 3,
                expected: "4"
            })
        );
        assert!(matches!(
            round_trip(18, &[0xff, 0xfe]),
            Err(Error::InvalidValue {
                attr_type: 18,
                offset: 20,
                ..
            })
        ));
        assert!(round_trip(97, &[0, 129, 0, 0]).is_err());
        assert!(round_trip(97, &[0, 64, 0x20]).is_err());
        assert!(round_trip(97, &[1, 0]).is_err());
        assert!(round_trip(64, &[0x20, 0, 0, 1]).is_err());
        assert!(round_trip(80, &[0; 15]).is_err());
        assert!(round_trip(69, &[]).is_err());
    }

    #[test]
    fn prefix_constructor_is_minimal() {
        let p = Ipv6Prefix::new("2001:db8:ffff::".parse().unwrap(), 36).unwrap();
        let a = Attribute {
            attr_type: AttributeType::FRAMED_IPV6_PREFIX,
            value: Value::Ipv6Prefix(p),
        };
        let mut out = Vec::new();
        a.encode_value(&mut out);
        assert_eq!(out, [0, 36, 0x20, 0x01, 0x0d, 0xb8, 0xf0]);
        assert!(Ipv6Prefix::new(Ipv6Addr::UNSPECIFIED, 129).is_none());
    }

    #[test]
    fn builder_writes_typed_attributes() {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 3, &[0; 16]);
        Attribute::reply_message("welcome").encode(&mut b).unwrap();
        Attribute::integer(AttributeType::SESSION_TIMEOUT, 3600)
            .encode(&mut b)
            .unwrap();
        let long = "x".repeat(254);
        assert!(Attribute::reply_message(&long).encode(&mut b).is_err());
        let bytes = b.finish().to_vec();
        let p = Packet::parse_strict(&bytes).unwrap();
        let decoded: Vec<_> = p
            .attributes()
            .map(|r| Attribute::decode(r).unwrap().value)
            .collect();
        assert_eq!(decoded, [Value::Text("welcome"), Value::Integer(3600)]);
        assert_eq!(AttributeType::USER_NAME.name(), Some("User-Name"));
        assert_eq!(format!("{:?}", AttributeType(250)), "Attr-250");
    }
}
