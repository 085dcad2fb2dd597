//! Passwords: zeroized on drop, never shown by `Debug`.

use std::fmt;

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// A password (or any simple-bind credential). Its bytes are wiped when it is dropped, and
/// `Debug` prints `Password(**redacted**)`.
#[derive(Clone, Default)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether the password is empty. An empty simple bind is an anonymous bind
    /// (RFC 4513 §5.1.2), so it must never reach a server as proof of identity.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<Vec<u8>> for Password {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(**redacted**)")
    }
}

impl PartialEq for Password {
    /// Compares in constant time for equal lengths (`subtle`); only the length may show.
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for Password {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::from("hunter2-secret");
        let shown = format!("{p:?} {:?}", Some(p.clone()));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("redacted"));
        assert_eq!(p.expose(), b"hunter2-secret");
        assert!(Password::from("").is_empty());
    }
}
