//! The shared secret between a RADIUS client and server, with its precomputed hash states.

use core::fmt;

use hmac::{Hmac, KeyInit};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

/// The HMAC-MD5 state keyed with a shared secret, computed once per client.
///
/// Message-Authenticator (RFC 2869 §5.14) is HMAC-MD5 keyed with the shared secret; keying
/// hashes the padded key twice, so keeping the keyed state saves two MD5 blocks per packet.
#[derive(Clone)]
pub struct MessageAuthenticatorKey(Hmac<Md5>);

impl MessageAuthenticatorKey {
    /// Keys HMAC-MD5 with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of every length (long keys are hashed first).
        let mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| {
            <Hmac<Md5> as KeyInit>::new(&hmac::digest::Key::<Hmac<Md5>>::default())
        });
        Self(mac)
    }

    /// A fresh copy of the keyed state, ready for one message.
    pub(crate) fn start(&self) -> Hmac<Md5> {
        self.0.clone()
    }
}

impl fmt::Debug for MessageAuthenticatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageAuthenticatorKey(**redacted**)")
    }
}

/// A RADIUS shared secret. Zeroized on drop; `Debug` never shows it.
///
/// Construction precomputes the per-secret state that every packet needs: the keyed HMAC-MD5
/// for Message-Authenticator and the MD5 state after the secret for password hiding.
#[derive(Clone)]
pub struct SharedSecret {
    bytes: Zeroizing<Vec<u8>>,
    hmac: MessageAuthenticatorKey,
    md5_prefix: Md5,
}

impl SharedSecret {
    /// Wraps a secret. RFC 2865 requires it not to be empty; an empty secret is accepted but
    /// gives no protection at all.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let bytes = Zeroizing::new(secret.as_ref().to_vec());
        let hmac = MessageAuthenticatorKey::new(&bytes);
        let mut md5_prefix = Md5::new();
        md5_prefix.update(&*bytes);
        Self {
            bytes,
            hmac,
            md5_prefix,
        }
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// The precomputed HMAC-MD5 key state.
    pub fn message_authenticator_key(&self) -> &MessageAuthenticatorKey {
        &self.hmac
    }

    /// MD5 with the secret already absorbed (for `MD5(secret + ...)` constructions).
    pub(crate) fn md5_after_secret(&self) -> Md5 {
        self.md5_prefix.clone()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(**redacted**)")
    }
}

impl From<&str> for SharedSecret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = SharedSecret::new("hunter2-secret");
        let text = format!("{s:?} {:?}", s.message_authenticator_key());
        assert!(!text.contains("hunter2"));
        assert!(text.contains("redacted"));
    }
}
