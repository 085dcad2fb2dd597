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
