//! The HMAC hash functions of RFC 6238.

use core::fmt;
use core::str::FromStr;

use crate::Error;

/// The hash function under HMAC. SHA-1 is the default, and the only one that every
/// authenticator app honours: several silently ignore the `algorithm` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1 (RFC 4226, the default).
    #[default]
    Sha1,
    /// HMAC-SHA-256 (RFC 6238).
    Sha256,
    /// HMAC-SHA-512 (RFC 6238).
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` URIs: `SHA1`, `SHA256` or `SHA512`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// The secret length RFC 6238 Appendix B uses for this hash, in bytes (20, 32, 64).
    pub const fn natural_key_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Reads `SHA1`, `SHA256`, `SHA512`, in any case and with an optional dash (`SHA-256`).
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut buf = [0u8; 6];
        let mut n = 0;
        for b in s.bytes().filter(|&b| b != b'-') {
            if n == buf.len() {
                return Err(Error::UnknownAlgorithm(s.to_owned()));
            }
            buf[n] = b.to_ascii_uppercase();
            n += 1;
        }
        match &buf[..n] {
            b"SHA1" => Ok(Self::Sha1),
            b"SHA256" => Ok(Self::Sha256),
            b"SHA512" => Ok(Self::Sha512),
            _ => Err(Error::UnknownAlgorithm(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            assert_eq!(a.name().parse::<Algorithm>().unwrap(), a);
        }
        assert_eq!("sha-256".parse::<Algorithm>().unwrap(), Algorithm::Sha256);
        assert!(matches!(
            "MD5".parse::<Algorithm>(),
            Err(Error::UnknownAlgorithm(_))
        ));
        assert!("SHA1024".parse::<Algorithm>().is_err());
        assert!("".parse::<Algorithm>().is_err());
    }
}
