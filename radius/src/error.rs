//! The one error type of the crate.

use thiserror::Error;

/// Everything that can go wrong while decoding, encoding or verifying RADIUS data.
///
/// Offsets count from the first byte of the packet. Failed cryptographic checks are
/// deliberately opaque: they say only which check failed, never how.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram is shorter than the 20-byte RADIUS header.
    #[error("datagram of {len} bytes is shorter than the 20-byte RADIUS header")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// The Length field of the header is outside 20..=4096.
    #[error("packet Length field {declared} is outside 20..=4096")]
    InvalidLengthField {
        /// The value of the Length field.
        declared: u16,
    },
    /// The Length field claims more bytes than the datagram holds.
    #[error("packet Length field {declared} exceeds the {received}-byte datagram")]
    Truncated {
        /// The value of the Length field.
        declared: usize,
        /// Bytes actually received.
        received: usize,
    },
    /// Bytes follow the end given by the Length field (strict parsing only).
    #[error("{count} bytes follow the packet end at offset {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// Number of trailing bytes.
        count: usize,
    },
    /// Only one byte of an attribute header fits before the packet end.
    #[error("attribute header at offset {offset} is cut off by the packet end")]
    AttributeHeaderCut {
        /// Offset of the attribute.
        offset: usize,
    },
    /// An attribute of type 0, which no RFC defines (RFC 2865 §5 lists none, and FreeRADIUS
    /// refuses such a packet).
    #[error("attribute at offset {offset} has type 0")]
    AttributeTypeZero {
        /// Offset of the attribute.
        offset: usize,
    },
    /// An attribute Length field is below 2.
    #[error("attribute type {attr_type} at offset {offset} has length {length} (minimum 2)")]
    AttributeTooShort {
        /// Offset of the attribute.
        offset: usize,
        /// Attribute type.
        attr_type: u8,
        /// The bad Length field.
        length: u8,
    },
    /// An attribute runs past the end of the packet.
    #[error(
        "attribute type {attr_type} at offset {offset} with length {length} overruns the packet end at {end}"
    )]
    AttributeOverrun {
        /// Offset of the attribute.
        offset: usize,
        /// Attribute type.
        attr_type: u8,
        /// The Length field.
        length: u8,
        /// Offset of the packet end.
        end: usize,
    },
    /// A value does not have the length its dictionary type requires.
    #[error(
        "attribute type {attr_type} at offset {offset}: value of {length} bytes, expected {expected}"
    )]
    InvalidValueLength {
        /// Offset of the attribute (0 for values built locally).
        offset: usize,
        /// Attribute type.
        attr_type: u8,
        /// Value length found.
        length: usize,
        /// What the dictionary requires.
        expected: &'static str,
    },
    /// A value does not respect its dictionary type (other than by its length).
    #[error("attribute type {attr_type} at offset {offset}: {reason}")]
    InvalidValue {
        /// Offset of the attribute (0 for values built locally).
        offset: usize,
        /// Attribute type.
        attr_type: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// A Vendor-Specific attribute is malformed.
    #[error("Vendor-Specific attribute at offset {offset}: {reason}")]
    InvalidVendorSpecific {
        /// Offset of the attribute.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An attribute value is too long for one attribute and its type cannot be split.
    #[error("attribute type {attr_type}: value of {length} bytes exceeds the 253-byte maximum")]
    ValueTooLong {
        /// Attribute type.
        attr_type: u8,
        /// Value length.
        length: usize,
    },
    /// The packet being built would exceed 4096 bytes.
    #[error("packet would be {length} bytes, over the 4096-byte maximum")]
    PacketTooLong {
        /// Length the packet would have.
        length: usize,
    },
    /// A password to hide is longer than the scheme allows.
    #[error("password of {length} bytes exceeds the {max}-byte maximum")]
    PasswordTooLong {
        /// Password length.
        length: usize,
        /// Maximum of the scheme.
        max: usize,
    },
    /// A hidden password value has an impossible length.
    #[error("hidden value of {length} bytes is not a non-zero multiple of 16 within bounds")]
    InvalidHiddenLength {
        /// Length of the hidden value.
        length: usize,
    },
    /// A hidden value decrypted to an inconsistent plaintext (wrong secret or corrupt).
    #[error("hidden value does not decrypt to a consistent plaintext")]
    InvalidHiddenValue,
    /// More than one Message-Authenticator attribute is present.
    #[error("second Message-Authenticator attribute at offset {offset}")]
    DuplicateMessageAuthenticator {
        /// Offset of the second attribute.
        offset: usize,
    },
    /// The packet carries no Message-Authenticator although one is required.
    #[error("Message-Authenticator attribute is missing")]
    MissingMessageAuthenticator,
    /// The Message-Authenticator does not verify.
    #[error("invalid Message-Authenticator")]
    InvalidMessageAuthenticator,
    /// The Request or Response Authenticator does not verify.
    #[error("invalid authenticator")]
    InvalidAuthenticator,
    /// A User-Password does not match the expected password.
    #[error("invalid password")]
    InvalidPassword,
    /// The request's client is not in this server's table (a request handled by another
    /// [`Server`](crate::Server)).
    #[error("the request's client is not known to this server")]
    UnknownClient,
    /// The operation does not apply to this packet code.
    #[error("operation not valid for packet code {code}")]
    UnexpectedCode {
        /// The packet code.
        code: u8,
    },
    /// A required attribute is absent.
    #[error("required attribute type {attr_type} is missing")]
    MissingAttribute {
        /// Attribute type.
        attr_type: u8,
    },
    /// A required vendor sub-attribute (for example MS-CHAP-Challenge) is absent.
    #[error("required vendor {vendor_id} attribute type {vendor_type} is missing")]
    MissingVendorAttribute {
        /// The vendor's IANA enterprise number.
        vendor_id: u32,
        /// The vendor type.
        vendor_type: u8,
    },
    /// Two salted attributes of one packet would share a salt (RFC 2548 §2.4.2 requires each
    /// salt in a packet to be unique).
    #[error("salt {salt:#06x} is used twice in one packet")]
    DuplicateSalt {
        /// The salt, with its high bit set.
        salt: u16,
    },
    /// A response matches no outstanding request.
    #[error("response identifier {identifier} matches no outstanding request")]
    UnknownIdentifier {
        /// The identifier of the response.
        identifier: u8,
    },
    /// All 256 identifiers are in use.
    #[error("all 256 identifiers are in use")]
    IdentifiersExhausted,
    /// A caller-provided buffer is too small.
    #[error("buffer too small: {required} bytes required")]
    InsufficientSize {
        /// Bytes required.
        required: usize,
    },
}
