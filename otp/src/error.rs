//! The crate's error type.

use thiserror::Error;

/// Why a secret, a parameter or an `otpauth://` URI was refused.
///
/// Verification failures are not errors: they are [`Rejected`](crate::Rejected) values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A character that is not in the base32 alphabet (RFC 4648 §6), nor a space.
    #[error("base32: invalid character {character:?} at position {position}")]
    Base32Character {
        /// The offending character.
        character: char,
        /// Its byte offset in the input.
        position: usize,
    },
    /// The number of base32 symbols cannot encode whole bytes (a symbol is missing or extra).
    #[error("base32: {symbols} symbols cannot encode whole bytes (a symbol is missing or extra)")]
    Base32Length {
        /// How many symbols there were, spaces and padding not counted.
        symbols: usize,
    },
    /// Padding (`=`) in the wrong place or of the wrong length.
    #[error("base32: misplaced or wrong-length padding at position {position}")]
    Base32Padding {
        /// Byte offset of the first bad padding character.
        position: usize,
    },
    /// The secret is empty.
    #[error("the secret is empty")]
    EmptySecret,
    /// The secret is longer than [`Secret::MAX_LEN`](crate::Secret::MAX_LEN) bytes.
    #[error("the secret is {len} bytes long, more than the {max} allowed")]
    SecretTooLong {
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A code length outside 6..=10 digits.
    #[error("{0} digits is not supported (6 to 10)")]
    Digits(u64),
    /// A TOTP period of zero seconds.
    #[error("the TOTP period must be at least one second")]
    ZeroPeriod,
    /// A time before the TOTP epoch `T0`.
    #[error("time {time} is before the TOTP epoch T0 = {t0}")]
    BeforeEpoch {
        /// The unix time asked for.
        time: u64,
        /// The configured T0.
        t0: u64,
    },
    /// An algorithm name other than SHA1, SHA256 or SHA512.
    #[error("unknown algorithm {0:?} (SHA1, SHA256 or SHA512)")]
    UnknownAlgorithm(String),
    /// The URI is too long to fit in a QR code.
    #[error("the URI is too long for a QR code")]
    QrCapacity,
    /// A problem with an `otpauth://` URI.
    #[error("otpauth URI: {0}")]
    Uri(#[from] UriError),
}

/// What is wrong with an `otpauth://` key URI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UriError {
    /// The URI does not start with `otpauth://`.
    #[error("the scheme is not otpauth://")]
    Scheme,
    /// The type is neither `totp` nor `hotp`.
    #[error("unknown type {0:?} (totp or hotp)")]
    Type(String),
    /// The label (issuer and account) is missing.
    #[error("the label (account name) is missing")]
    MissingLabel,
    /// A `%` not followed by two hex digits, or a percent-decoded part that is not UTF-8.
    #[error("bad percent-encoding in the {part}")]
    Encoding {
        /// Which part: `label` or the parameter's name.
        part: String,
    },
    /// The label holds more than one issuer separator, so issuer and account are ambiguous.
    #[error("the label has more than one ':' separator")]
    AmbiguousLabel,
    /// An account name that contains a colon cannot be written in a label.
    #[error("the account name {0:?} contains a ':', which a label cannot carry")]
    ColonInAccount(String),
    /// The `secret` parameter is missing.
    #[error("the secret parameter is missing")]
    MissingSecret,
    /// A HOTP URI without the `counter` parameter.
    #[error("a hotp URI needs a counter parameter")]
    MissingCounter,
    /// A parameter appears more than once.
    #[error("the parameter {0:?} appears more than once")]
    DuplicateParameter(String),
    /// A parameter value that cannot be read.
    #[error("the parameter {name:?} has an invalid value {value:?}")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// The value as found (never the secret's value).
        value: String,
    },
}

/// Why a Google Authenticator export (`otpauth-migration://offline?data=…`) cannot be read
/// at all. An account of a readable export that cannot be imported is reported on its own,
/// with a [`MigrationEntryError`].
///
/// Offsets count bytes of the decoded (base64) payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The URI does not start with `otpauth-migration://offline`.
    #[error("not an otpauth-migration://offline URI")]
    Scheme,
    /// The URI is longer than [`MAX_MIGRATION_URI_LEN`](crate::migration::MAX_MIGRATION_URI_LEN).
    #[error("the URI is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The `data` parameter is missing or empty.
    #[error("the data parameter is missing")]
    MissingData,
    /// The `data` parameter appears more than once.
    #[error("the data parameter appears more than once")]
    DuplicateData,
    /// A `%` in the `data` parameter not followed by two hex digits.
    #[error("bad percent-encoding in the data parameter")]
    Encoding,
    /// The `data` parameter is not base64 (standard alphabet, padding optional).
    #[error("the data parameter is not base64 (at character {position})")]
    Base64 {
        /// Offset of the first bad character in the percent-decoded text.
        position: usize,
    },
    /// The payload ends inside a field.
    #[error("the payload is cut off inside the field at offset {offset}")]
    Truncated {
        /// Offset of the field's tag.
        offset: usize,
    },
    /// A varint of more than 64 bits.
    #[error("varint at offset {offset} is longer than 64 bits")]
    VarintOverflow {
        /// Offset of its first byte.
        offset: usize,
    },
    /// A field tag with field number 0, a wire type that does not exist (6, 7), or an end of
    /// group that closes no group.
    #[error("invalid field tag {tag} at offset {offset}")]
    InvalidTag {
        /// Offset of the tag.
        offset: usize,
        /// The tag (field number and wire type) as read.
        tag: u64,
    },
    /// A known field with a wire type that its type does not use.
    #[error("field {field} at offset {offset} has wire type {wire_type}, expected {expected}")]
    WireType {
        /// Offset of the tag.
        offset: usize,
        /// The field number.
        field: u32,
        /// The wire type found.
        wire_type: u8,
        /// The wire type of the field's type.
        expected: u8,
    },
    /// Groups nested deeper than [`MAX_GROUP_DEPTH`](crate::migration::MAX_GROUP_DEPTH).
    #[error("groups nested more than {max} deep at offset {offset}")]
    GroupTooDeep {
        /// Offset of the tag that went too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
}

/// Why one account of a Google Authenticator export cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MigrationEntryError {
    /// The account uses an algorithm this crate does not implement (MD5).
    #[error("the {0} algorithm is not supported")]
    UnsupportedAlgorithm(&'static str),
    /// An algorithm value the format does not define.
    #[error("unknown algorithm value {0}")]
    UnknownAlgorithm(i32),
    /// A digit count value the format does not define.
    #[error("unknown digit count value {0}")]
    UnknownDigits(i32),
    /// An OTP type other than HOTP (1) or TOTP (2), including unspecified (0).
    #[error("unknown OTP type value {0} (HOTP or TOTP)")]
    UnknownType(i32),
    /// A HOTP counter below zero.
    #[error("negative HOTP counter {0}")]
    NegativeCounter(i64),
    /// The name or issuer is not UTF-8.
    #[error("the {0} is not UTF-8")]
    Utf8(&'static str),
    /// The secret, name or issuer cannot make a key URI (empty secret, missing account name,
    /// a name with more than one `:`).
    #[error(transparent)]
    Key(#[from] Error),
}
