//! Browser sessions: a random token in an HttpOnly, SameSite=Lax cookie; the store keeps its
//! SHA-256 and the state as JSON, so sessions survive a restart and are shared by instances
//! on one PostgreSQL store. The token changes when the user signs in (no session fixation).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::crypto::CryptoError;
use crate::service::PendingLogin;
use crate::store::WebSession;

/// The session cookie's name on http:// (development, demo).
pub const COOKIE: &str = "idforge_session";
/// The session cookie's name on https:// (the `__Host-` prefix pins it to this host).
pub const SECURE_COOKIE: &str = "__Host-idforge_session";
/// The cookie of a remembered browser on http:// (see [`crate::service::Remembered`]).
pub const TRUST_COOKIE: &str = "idforge_trust";
/// The cookie of a remembered browser on https://.
pub const SECURE_TRUST_COOKIE: &str = "__Host-idforge_trust";
/// The long-lived cookie naming this browser as a device for the adaptive rules.
pub const DEVICE_COOKIE: &str = "idforge_device";
/// How long a session that has not signed in yet lives.
pub const ANONYMOUS_TTL_SECS: i64 = 15 * 60;

/// 32 random bytes, base64url.
pub fn random_token() -> Result<String, CryptoError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CryptoError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The store key of a token.
pub fn token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    data_encoding::HEXLOWER.encode(digest.as_ref())
}

/// A signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedIn {
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// The second factor passed (`totp`, `hotp_token`, `backup_code`), if any.
    pub second_factor: Option<String>,
    /// Unix seconds of the login.
    pub authn_instant: i64,
    /// The SAML SessionIndex of this session.
    pub session_index: String,
    /// The applications signed in to, for single logout.
    #[serde(default)]
    pub apps: Vec<String>,
}

/// A SAML request waiting for the user to sign in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Continuation {
    /// The application.
    pub app: String,
    /// The AuthnRequest's ID (SP-initiated), for `InResponseTo`.
    pub request_id: Option<String>,
    /// The ACS URL checked against the metadata.
    pub acs_url: Option<String>,
    /// Sent back as it came (SP-initiated) or as configured (IdP-initiated).
    pub relay_state: Option<String>,
    /// `ForceAuthn`: the password must be entered again.
    #[serde(default)]
    pub force_authn: bool,
}

/// An authenticator app being set up: its secret sealed with the store's keyring.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrolling {
    /// base64 of the sealed secret.
    pub sealed: String,
    /// Wrong confirmation codes so far.
    pub attempts: u8,
}

/// What a session holds. `Debug` leaves the CSRF token out.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionData {
    /// The CSRF token every form carries.
    pub csrf: String,
    /// The signed-in user.
    pub signed_in: Option<SignedIn>,
    /// A login waiting for its second factor.
    pub pending: Option<PendingLogin>,
    /// Wrong codes for the pending login.
    #[serde(default)]
    pub code_attempts: u8,
    /// An authenticator app being set up.
    pub enrolling: Option<Enrolling>,
    /// Until when (unix seconds) account changes are allowed after a re-authentication.
    #[serde(default)]
    pub reauth_until: i64,
    /// The last code or link sent for the pending login: (method, masked destination).
    #[serde(default)]
    pub sent: Option<(String, String)>,
    /// A SAML request waiting for the login.
    pub continuation: Option<Continuation>,
    /// A security key or passkey ceremony in progress (its challenge stays here, on the
    /// server).
    #[serde(default)]
    pub webauthn: Option<crate::service::Ceremony>,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("csrf", &"**redacted**")
            .field("signed_in", &self.signed_in)
            .field("pending", &self.pending)
            .field("code_attempts", &self.code_attempts)
            .field("enrolling", &self.enrolling.as_ref().map(|_| "**sealed**"))
            .field("sent", &self.sent)
            .field("reauth_until", &self.reauth_until)
            .field("continuation", &self.continuation)
            .field("webauthn", &self.webauthn.as_ref().map(|c| c.purpose))
            .finish()
    }
}

/// A loaded or new session. `Debug` shows neither the cookie token nor the CSRF token.
#[derive(Clone)]
pub struct Session {
    /// The cookie's value.
    pub token: String,
    /// The stored row.
    pub row: WebSession,
    /// The state.
    pub data: SessionData,
    /// Whether the cookie must be (re)sent.
    pub set_cookie: bool,
    /// The row a rotated token replaces, deleted when this one is saved.
    pub replaces: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"**redacted**")
            .field("row", &self.row)
            .field("data", &self.data)
            .field("set_cookie", &self.set_cookie)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new anonymous session.
    pub fn new(now: i64) -> Result<Session, CryptoError> {
        let token = random_token()?;
        Ok(Session {
            row: WebSession {
                id_hash: token_hash(&token),
                user_id: None,
                created_at: now,
                last_seen: now,
                expires_at: now + ANONYMOUS_TTL_SECS,
                data: String::new(),
            },
            token,
            data: SessionData {
                csrf: random_token()?,
                ..SessionData::default()
            },
            set_cookie: true,
            replaces: None,
        })
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, token: &str) -> bool {
        !self.data.csrf.is_empty() && bool::from(self.data.csrf.as_bytes().ct_eq(token.as_bytes()))
    }

    /// A fresh token (and CSRF token) for the same state: after a login, so that a token
    /// planted before it is worth nothing. The old row goes when this one is saved.
    pub fn rotate(&mut self) -> Result<(), CryptoError> {
        let token = random_token()?;
        let csrf = random_token()?;
        let old = std::mem::replace(&mut self.row.id_hash, token_hash(&token));
        self.token = token;
        self.data.csrf = csrf;
        self.set_cookie = true;
        self.replaces.get_or_insert(old);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_the_cookie_token_nor_the_csrf_token() {
        let Ok(s) = Session::new(1_000) else {
            return;
        };
        let text = format!("{s:?}");
        assert!(!text.contains(&s.token), "{text}");
        assert!(!text.contains(&s.data.csrf), "{text}");
        assert!(
            text.contains(&s.row.id_hash),
            "the hash names the row: {text}"
        );
    }
}
