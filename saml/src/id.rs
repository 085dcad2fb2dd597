//! SAML identifiers (`xs:ID` values) for messages and assertions.

use rand_core::CryptoRng;

use crate::error::{Error, Result};

/// An identifier usable as an `ID` attribute: an XML NCName.
///
/// Random identifiers have 160 bits of entropy, as SAML core section 1.3.4 asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SamlId(String);

/// Checks that `id` is an NCName (ASCII letters, digits, `_`, `-`, `.`; not starting
/// with a digit, `-` or `.`), at most 256 characters.
pub(crate) fn check_id(id: &str, field: &str) -> Result<()> {
    let ok = id.len() <= 256
        && id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            field: format!("{field}/@ID"),
            reason: "not an NCName of at most 256 ASCII characters".into(),
        })
    }
}

impl SamlId {
    /// Checks and wraps an identifier.
    pub fn new(id: &str) -> Result<Self> {
        check_id(id, "ID")?;
        Ok(Self(id.to_owned()))
    }

    /// A fresh random identifier: `_` followed by 40 hex digits.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 20];
        rng.fill_bytes(&mut bytes);
        let mut s = String::with_capacity(41);
        s.push('_');
        for b in bytes {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Self(s)
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SamlId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(SamlId::new("_abc-1.2").is_ok());
        assert!(SamlId::new("id1").is_ok());
        for bad in ["", "1abc", "-a", "a b", "a:b", "a\"b", &"a".repeat(257)] {
            assert!(SamlId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let mut rng = rand::rng();
        let a = SamlId::random(&mut rng);
        let b = SamlId::random(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 41);
        assert_eq!(SamlId::new(a.as_str()).unwrap(), a);
    }
}
