//! Security keys and passkeys (WebAuthn).
//!
//! The relying party is the web IdP: its id is the host of `idp.base_url`, its origin the
//! base URL. Registration asks for no attestation and prefers user verification (a PIN or a
//! fingerprint); it prefers a discoverable credential, so that a passkey can later sign in
//! without a user name. A credential then serves:
//!
//! - as a second factor (method `webauthn`), for a login whose policy allows it: the
//!   assertion must come from one of the user's credentials, for this origin and the
//!   challenge of this login;
//! - for a passwordless sign-in (`idp.passwordless`): a discoverable credential names its
//!   user, the assertion must carry user verification, and the user's policy must allow
//!   `webauthn`; the login then counts as both factors.
//!
//! Every accepted assertion moves the credential's stored signature counter forward through
//! an atomic compare-and-set; an assertion whose counter does not move forward (a cloned
//! authenticator, or a replay raced with another instance) is refused and audited. The
//! ceremony state (challenge, allowed credentials) stays on the server, in the web session.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, SecurityKey,
    SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

use super::{
    EnrolRequest, FirstFactorInput, FrontDoor, INVALID_CREDENTIALS, Outcome, PendingLogin, Service,
    ServiceError, reject,
};
use crate::config::IdpSettings;
use crate::store::{AuditEntry, UserStatus, WebauthnCredential};

/// The method name.
pub const WEBAUTHN_METHOD: &str = "webauthn";

/// How long a ceremony (the browser asking the authenticator) may take.
pub const CEREMONY_TTL_SECS: i64 = 300;

/// The longest name a user may give a credential, in characters.
pub const MAX_CREDENTIAL_NAME_CHARS: usize = 64;

/// The relying party of the web IdP, from `idp.base_url` (`None` when its host cannot be a
/// relying party id, such as an IP address).
pub(super) fn relying_party(idp: &IdpSettings) -> Option<Webauthn> {
    let origin = Url::parse(idp.base()).ok()?;
    let host = origin.host_str()?.to_owned();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let name = idp.webauthn_rp_name.as_deref().unwrap_or("idforge");
    match WebauthnBuilder::new(&host, &origin).and_then(|b| b.rp_name(name).build()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "security keys and passkeys are off: no relying party");
            None
        }
    }
}

/// What a ceremony in progress is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Registering a new credential for the signed-in user.
    Register,
    /// The second factor of a pending login.
    SecondFactor,
    /// A sign-in without a password.
    Passwordless,
}

/// A ceremony in progress: the server's half, kept in the web session (never sent to the
/// browser) and handed back with the browser's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    /// What it is for.
    pub purpose: Purpose,
    /// The user it is for (registration, second factor).
    pub user_id: Option<i64>,
    /// The pending login it finishes (second factor).
    pub pending_id: Option<String>,
    /// The user handle a new credential gets (registration), base64url.
    #[serde(default)]
    pub user_handle: Option<String>,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
    /// The WebAuthn implementation's state (challenge, allowed credentials).
    pub state: serde_json::Value,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// Security keys and passkeys are not available (no relying party).
    #[error("security keys and passkeys are not available")]
    Unavailable,
    /// The name is empty or too long.
    #[error("give the key a name of 1 to {MAX_CREDENTIAL_NAME_CHARS} characters")]
    Name,
    /// No registration in progress, another user's, or one that expired.
    #[error("the registration expired; start again")]
    Expired,
    /// The authenticator's answer does not verify (wrong origin, challenge, format …).
    #[error("the authenticator's answer was refused: {0}")]
    Refused(String),
    /// This credential is registered already.
    #[error("this key is registered already")]
    Duplicate,
}

/// A passkey assertion the service verified: what the passwordless first factor carries.
/// Only the service makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPasskey {
    user_id: i64,
    credential: String,
}

fn id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(value).map_err(|e| ServiceError::Config(format!("webauthn state: {e}")))
}

fn from_json<T: for<'de> Deserialize<'de>>(value: &serde_json::Value) -> Option<T> {
    serde_json::from_value(value.clone()).ok()
}

fn credential_of(row: &WebauthnCredential) -> Option<Credential> {
    let mut c: Credential = serde_json::from_str(&row.passkey).ok()?;
    // The column is what the guard updates atomically: it is the counter that counts.
    c.counter = u32::try_from(row.counter).unwrap_or(u32::MAX);
    Some(c)
}

/// The name a credential is known by in the audit log.
fn audit_name(row: &WebauthnCredential) -> String {
    let name: String = row
        .name
        .chars()
        .filter(|c| !c.is_control() && *c != ':')
        .collect();
    if name.is_empty() {
        row.id.clone()
    } else {
        name
    }
}

/// Why an assertion was refused, for the audit entry.
fn refusal(e: &WebauthnError) -> (&'static str, String) {
    match e {
        WebauthnError::CredentialPossibleCompromise => (
            "counter",
            "the signature counter did not move forward: possibly a cloned authenticator".into(),
        ),
        WebauthnError::InvalidRPOrigin => {
            ("origin", "the assertion was made for another origin".into())
        }
        other => ("invalid", format!("assertion refused: {other}")),
    }
}

impl Service {
    /// Whether security keys and passkeys can be used (the base URL names a relying party).
    pub fn webauthn_available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Whether the login page offers a passkey sign-in (`idp.passwordless`).
    pub fn passwordless_available(&self) -> bool {
        self.webauthn.is_some() && self.config.idp.passwordless
    }

    /// A user's registered credentials.
    pub async fn webauthn_credentials(
        &self,
        user_id: i64,
    ) -> Result<Vec<WebauthnCredential>, ServiceError> {
        Ok(self.store.webauthn_credentials_of(user_id).await?)
    }

    /// Whether the user holds any second factor (an authenticator app or token, a YubiKey,
    /// a security key or passkey): adding another then needs one passed first.
    pub async fn has_second_factor(&self, user_id: i64) -> Result<bool, ServiceError> {
        Ok(!self.store.factors_of(user_id).await?.is_empty()
            || !self.store.yubikeys_of(user_id).await?.is_empty()
            || !self
                .store
                .webauthn_credentials_of(user_id)
                .await?
                .is_empty())
    }

    /// Starts registering a credential for a signed-in user: the options for
    /// `navigator.credentials.create` and the ceremony to keep.
    pub async fn start_webauthn_registration(
        &self,
        user_id: i64,
        username: &str,
        display_name: &str,
        now: i64,
    ) -> Result<Option<(serde_json::Value, Ceremony)>, ServiceError> {
        let Some(rp) = &self.webauthn else {
            return Ok(None);
        };
        let existing = self.store.webauthn_credentials_of(user_id).await?;
        let handle = match existing.first() {
            Some(c) => URL_SAFE_NO_PAD
                .decode(&c.user_handle)
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok()),
            None => None,
        };
        let handle = if let Some(h) = handle {
            h
        } else {
            use aws_lc_rs::rand::SecureRandom as _;
            let mut bytes = [0u8; 16];
            aws_lc_rs::rand::SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| crate::crypto::CryptoError::Random)?;
            uuid_v4(bytes)
        };
        let exclude: Vec<_> = existing
            .iter()
            .filter_map(|c| URL_SAFE_NO_PAD.decode(&c.id).ok().map(Into::into))
            .collect();
        let (ccr, state) = rp
            .start_securitykey_registration(
                handle,
                username,
                display_name,
                Some(exclude),
                None,
                None,
            )
            .map_err(|e| ServiceError::Config(format!("webauthn registration: {e}")))?;
        let mut options = to_json(&ccr)?;
        if let Some(public_key) = options
            .get_mut("publicKey")
            .and_then(serde_json::Value::as_object_mut)
        {
            // A discoverable credential where the authenticator can keep one (a passkey), so
            // that it can sign in without a user name; a key without room still registers.
            public_key.insert(
                "authenticatorSelection".into(),
                serde_json::json!({
                    "residentKey": "preferred",
                    "requireResidentKey": false,
                    "userVerification": "preferred",
                }),
            );
            // Any kind of authenticator: a key, a phone, the computer's own.
            public_key.remove("hints");
            // Chromium refuses a credential protection policy with a resident key that is
            // only preferred; user verification is asked for at every use anyway.
            if let Some(ext) = public_key
                .get_mut("extensions")
                .and_then(serde_json::Value::as_object_mut)
            {
                ext.remove("credentialProtectionPolicy");
                ext.remove("enforceCredentialProtectionPolicy");
            }
        }
        let ceremony = Ceremony {
            purpose: Purpose::Register,
            user_id: Some(user_id),
            pending_id: None,
            user_handle: Some(URL_SAFE_NO_PAD.encode(handle.as_bytes())),
            expires_at: now + CEREMONY_TTL_SECS,
            state: to_json(&state)?,
        };
        Ok(Some((options, ceremony)))
    }

    /// Finishes a registration with the browser's answer: the credential is stored under
    /// `name`, with one audit entry.
    pub async fn finish_webauthn_registration(
        &self,
        req: &EnrolRequest<'_>,
        ceremony: &Ceremony,
        name: &str,
        response: &RegisterPublicKeyCredential,
    ) -> Result<Result<WebauthnCredential, RegistrationError>, ServiceError> {
        let Some(rp) = &self.webauthn else {
            return Ok(Err(RegistrationError::Unavailable));
        };
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_CREDENTIAL_NAME_CHARS {
            return Ok(Err(RegistrationError::Name));
        }
        let now = i64::try_from(req.now).unwrap_or(i64::MAX);
        let state: Option<SecurityKeyRegistration> = from_json(&ceremony.state);
        let (Some(state), Purpose::Register, Some(user), Some(handle)) = (
            state,
            ceremony.purpose,
            ceremony.user_id,
            ceremony.user_handle.as_deref(),
        ) else {
            return Ok(Err(RegistrationError::Expired));
        };
        if user != req.user_id || now > ceremony.expires_at {
            return Ok(Err(RegistrationError::Expired));
        }
        let audit = |factors: Vec<String>, result: &str, reasons: Vec<String>| AuditEntry {
            id: 0,
            at: now,
            username: req.username.to_owned(),
            user_id: Some(req.user_id),
            application: req.application.to_owned(),
            source_ip: Some(req.source_ip.to_string()),
            front_door: req.front_door.as_str().into(),
            factors,
            result: result.into(),
            reasons,
        };
        let key = match rp.finish_securitykey_registration(response, &state) {
            Ok(k) => k,
            Err(e) => {
                let (what, reason) = refusal(&e);
                self.append_audit(audit(
                    vec![format!("{WEBAUTHN_METHOD}:enrol:{what}")],
                    "enrol-failed",
                    vec![reason],
                ))
                .await?;
                return Ok(Err(RegistrationError::Refused(e.to_string())));
            }
        };
        let cred: Credential = key.into();
        let row = WebauthnCredential {
            id: id_text(&cred.cred_id),
            user_id: req.user_id,
            user_handle: handle.to_owned(),
            name: name.to_owned(),
            passkey: serde_json::to_string(&cred)
                .map_err(|e| ServiceError::Config(format!("webauthn credential: {e}")))?,
            counter: i64::from(cred.counter),
            backup_eligible: cred.backup_eligible,
            backup_state: cred.backup_state,
            created_at: now,
            last_used_at: None,
        };
        match self.store.add_webauthn_credential(&row).await {
            Ok(()) => {}
            Err(crate::store::StoreError::Exists { .. }) => {
                return Ok(Err(RegistrationError::Duplicate));
            }
            Err(e) => return Err(e.into()),
        }
        let verified = if cred.user_verified {
            "with user verification"
        } else {
            "without user verification"
        };
        self.append_audit(audit(
            vec![format!("{WEBAUTHN_METHOD}:enrolled:{}", audit_name(&row))],
            "enrol",
            vec![format!(
                "security key or passkey `{}` registered {verified} (credential {})",
                row.name, row.id
            )],
        ))
        .await?;
        Ok(Ok(row))
    }

    /// Removes one of a user's credentials (one audit entry). False when the user has no
    /// such credential.
    pub async fn remove_webauthn_credential(
        &self,
        req: &EnrolRequest<'_>,
        id: &str,
    ) -> Result<bool, ServiceError> {
        let Some(row) = self
            .store
            .webauthn_credential(id)
            .await?
            .filter(|c| c.user_id == req.user_id)
        else {
            return Ok(false);
        };
        if !self
            .store
            .delete_webauthn_credential(req.user_id, id)
            .await?
        {
            return Ok(false);
        }
        self.append_audit(AuditEntry {
            id: 0,
            at: i64::try_from(req.now).unwrap_or(i64::MAX),
            username: req.username.to_owned(),
            user_id: Some(req.user_id),
            application: req.application.to_owned(),
            source_ip: Some(req.source_ip.to_string()),
            front_door: req.front_door.as_str().into(),
            factors: vec![format!("{WEBAUTHN_METHOD}:removed:{}", audit_name(&row))],
            result: "enrol".into(),
            reasons: vec![format!(
                "security key or passkey `{}` removed (credential {})",
                row.name, row.id
            )],
        })
        .await?;
        Ok(true)
    }

    /// Starts the second factor of `pending` with one of the user's credentials: the options
    /// for `navigator.credentials.get` and the ceremony to keep. `None` when the policy does
    /// not allow `webauthn` or the user has no credential.
    pub async fn start_webauthn_second_factor(
        &self,
        pending: &PendingLogin,
        now: i64,
    ) -> Result<Option<(RequestChallengeResponse, Ceremony)>, ServiceError> {
        let Some(rp) = &self.webauthn else {
            return Ok(None);
        };
        if !pending.methods.iter().any(|m| m == WEBAUTHN_METHOD) {
            return Ok(None);
        }
        let keys: Vec<SecurityKey> = self
            .store
            .webauthn_credentials_of(pending.user_id)
            .await?
            .iter()
            .filter_map(credential_of)
            .map(SecurityKey::from)
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let (mut rcr, state) = rp
            .start_securitykey_authentication(&keys)
            .map_err(|e| ServiceError::Config(format!("webauthn authentication: {e}")))?;
        rcr.public_key.hints = None;
        Ok(Some((
            rcr,
            Ceremony {
                purpose: Purpose::SecondFactor,
                user_id: Some(pending.user_id),
                pending_id: Some(pending.id.clone()),
                user_handle: None,
                expires_at: now + CEREMONY_TTL_SECS,
                state: to_json(&state)?,
            },
        )))
    }

    /// Finishes `pending` with an assertion of one of the user's credentials. A refused
    /// assertion is a failed login (lockout, audit).
    pub async fn complete_with_webauthn(
        &self,
        mut pending: PendingLogin,
        ceremony: &Ceremony,
        response: &PublicKeyCredential,
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        if now > pending.expires_at || now_i > ceremony.expires_at {
            pending.reasons.push("the pending login expired".into());
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let allowed = pending.methods.iter().any(|m| m == WEBAUTHN_METHOD);
        let state: Option<SecurityKeyAuthentication> = from_json(&ceremony.state);
        let (Some(rp), Some(state), true, Purpose::SecondFactor, true, true) = (
            &self.webauthn,
            state,
            allowed,
            ceremony.purpose,
            ceremony.user_id == Some(pending.user_id),
            ceremony.pending_id.as_deref() == Some(pending.id.as_str()),
        ) else {
            pending.factors.push(format!("{WEBAUTHN_METHOD}:invalid"));
            pending
                .reasons
                .push("security keys not allowed, or no ceremony for this login".into());
            return self.refuse_pending(pending, now).await;
        };
        let result = match rp.finish_securitykey_authentication(response, &state) {
            Ok(r) => r,
            Err(e) => {
                let (what, reason) = refusal(&e);
                let stored = self
                    .store
                    .webauthn_credential(&id_text(response.get_credential_id()))
                    .await?
                    .filter(|c| c.user_id == pending.user_id);
                pending.factors.push(match &stored {
                    Some(c) => format!("{WEBAUTHN_METHOD}:{what}:{}", audit_name(c)),
                    None => format!("{WEBAUTHN_METHOD}:{what}"),
                });
                pending.reasons.push(reason);
                return self.refuse_pending(pending, now).await;
            }
        };
        match self
            .accept_assertion(pending.user_id, &result, now_i)
            .await?
        {
            Ok(row) => {
                pending
                    .factors
                    .push(format!("{WEBAUTHN_METHOD}:ok:{}", audit_name(&row)));
            }
            Err((factor, reason)) => {
                pending.factors.push(factor);
                pending.reasons.push(reason);
                return self.refuse_pending(pending, now).await;
            }
        }
        let view = self
            .store
            .user_view(&pending.username)
            .await?
            .ok_or(ServiceError::PendingMismatch)?;
        if view.user.id != pending.user_id || view.user.status != UserStatus::Active {
            pending
                .reasons
                .push(format!("account {}", view.user.status));
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let (user, groups) = (view.user.clone(), view.groups.clone());
        self.finish(pending, user, groups, now, true, Vec::new())
            .await
    }

    /// Starts a passwordless sign-in: options for `navigator.credentials.get` without a user
    /// (the authenticator offers its discoverable credentials). `None` when not enabled.
    pub fn start_passwordless(
        &self,
        now: i64,
    ) -> Result<Option<(RequestChallengeResponse, Ceremony)>, ServiceError> {
        let (true, Some(rp)) = (self.config.idp.passwordless, &self.webauthn) else {
            return Ok(None);
        };
        let (mut rcr, state) = rp
            .start_discoverable_authentication()
            .map_err(|e| ServiceError::Config(format!("webauthn authentication: {e}")))?;
        // Started by a button, not by autofill in the user name field.
        rcr.mediation = None;
        Ok(Some((
            rcr,
            Ceremony {
                purpose: Purpose::Passwordless,
                user_id: None,
                pending_id: None,
                user_handle: None,
                expires_at: now + CEREMONY_TTL_SECS,
                state: to_json(&state)?,
            },
        )))
    }

    /// A passwordless sign-in to `application`: the assertion of a discoverable credential,
    /// with user verification, names and proves the user; the login then runs the decision
    /// path (lockout, status, policy, adaptive rules), whose policy must allow `webauthn`.
    /// It counts as both factors.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_in_with_passkey(
        &self,
        application: &str,
        source_ip: std::net::IpAddr,
        device: Option<&str>,
        front_door: FrontDoor,
        ceremony: &Ceremony,
        response: &PublicKeyCredential,
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let cred_id = id_text(response.get_credential_id());
        let row = self.store.webauthn_credential(&cred_id).await?;
        let username = match &row {
            Some(r) => self.store.user_name_of(r.user_id).await?,
            None => None,
        };
        let entry =
            |username: &str, user_id: Option<i64>, factor: String, reason: String| AuditEntry {
                id: 0,
                at: now_i,
                username: username.to_owned(),
                user_id,
                application: application.to_owned(),
                source_ip: Some(source_ip.to_string()),
                front_door: front_door.as_str().into(),
                factors: vec![factor],
                result: "reject".into(),
                reasons: vec![reason],
            };
        let state: Option<DiscoverableAuthentication> = from_json(&ceremony.state);
        let (Some(rp), Some(state), Purpose::Passwordless, true, Some(row), Some(username)) = (
            &self.webauthn,
            state,
            ceremony.purpose,
            now_i <= ceremony.expires_at && self.config.idp.passwordless,
            row,
            username,
        ) else {
            let id = self
                .append_audit(entry(
                    "",
                    None,
                    format!("{WEBAUTHN_METHOD}:passkey:unknown"),
                    "passwordless sign-in with an unknown credential, or no ceremony".into(),
                ))
                .await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        };
        let handle_ok = rp
            .identify_discoverable_authentication(response)
            .ok()
            .is_some_and(|(h, _)| URL_SAFE_NO_PAD.encode(h.as_bytes()) == row.user_handle);
        let verified = if handle_ok {
            credential_of(&row)
                .map(|c| [DiscoverableKey::from(&Passkey::from(c))])
                .ok_or(WebauthnError::CredentialNotFound)
                .and_then(|keys| rp.finish_discoverable_authentication(response, state, &keys))
        } else {
            Err(WebauthnError::InvalidUserUniqueId)
        };
        let refused = match verified {
            Ok(result) if result.user_verified() => self
                .accept_assertion(row.user_id, &result, now_i)
                .await?
                .err(),
            Ok(_) => Some((
                format!("{WEBAUTHN_METHOD}:passkey:unverified:{}", audit_name(&row)),
                "a passwordless sign-in needs user verification".into(),
            )),
            Err(e) => {
                let (what, reason) = refusal(&e);
                Some((
                    format!("{WEBAUTHN_METHOD}:{what}:{}", audit_name(&row)),
                    reason,
                ))
            }
        };
        if let Some((factor, reason)) = refused {
            let user_key = format!("user:{}", crate::store::name_key(&username));
            let ip_key = super::ip_key(source_ip, true);
            self.record_failure(&user_key, ip_key.as_deref(), now, &username)
                .await?;
            let id = self
                .append_audit(entry(&username, Some(row.user_id), factor, reason))
                .await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let proof = VerifiedPasskey {
            user_id: row.user_id,
            credential: audit_name(&row),
        };
        let req = super::AuthRequest {
            username: &username,
            application,
            source_ip,
            source_is_client: true,
            device,
            front_door,
            now,
            first_factor: FirstFactorInput::Passkey(&proof),
            code: None,
        };
        self.authenticate(&req).await
    }

    /// The first factor of a passwordless sign-in, for the decision path.
    pub(super) fn passkey_first_factor(
        proof: &VerifiedPasskey,
        known: Option<&crate::store::UserView>,
        factors: &mut Vec<String>,
        reasons: &mut Vec<String>,
    ) -> Option<crate::store::User> {
        factors.push(format!("{WEBAUTHN_METHOD}:passkey:{}", proof.credential));
        match known {
            Some(v) if v.user.id == proof.user_id => Some(v.user.clone()),
            _ => {
                reasons.push("the passkey's user no longer exists".into());
                None
            }
        }
    }

    /// Checks an accepted assertion's counter against the stored one and moves it forward
    /// atomically. `Err((factor, reason))` when refused.
    async fn accept_assertion(
        &self,
        user_id: i64,
        result: &AuthenticationResult,
        now: i64,
    ) -> Result<Result<WebauthnCredential, (String, String)>, ServiceError> {
        let id = id_text(result.cred_id());
        let Some(row) = self
            .store
            .webauthn_credential(&id)
            .await?
            .filter(|c| c.user_id == user_id)
        else {
            return Ok(Err((
                format!("{WEBAUTHN_METHOD}:unknown"),
                "the credential is not registered to this user".into(),
            )));
        };
        let presented = i64::from(result.counter());
        if (presented > 0 || row.counter > 0) && presented <= row.counter {
            return Ok(Err((
                format!("{WEBAUTHN_METHOD}:counter:{}", audit_name(&row)),
                format!(
                    "the signature counter did not move forward (stored {}, presented {presented}): \
                     possibly a cloned authenticator",
                    row.counter
                ),
            )));
        }
        let Some(mut cred) = credential_of(&row) else {
            return Ok(Err((
                format!("{WEBAUTHN_METHOD}:invalid:{}", audit_name(&row)),
                "the stored credential cannot be read".into(),
            )));
        };
        cred.counter = result.counter();
        cred.backup_state = result.backup_state();
        cred.backup_eligible |= result.backup_eligible();
        let json = serde_json::to_string(&cred)
            .map_err(|e| ServiceError::Config(format!("webauthn credential: {e}")))?;
        if !self
            .store
            .use_webauthn_credential(
                &id,
                row.counter,
                presented,
                result.backup_state(),
                &json,
                now,
            )
            .await?
        {
            return Ok(Err((
                format!("{WEBAUTHN_METHOD}:counter:{}", audit_name(&row)),
                "another assertion of this credential was accepted meanwhile".into(),
            )));
        }
        Ok(Ok(row))
    }
}

/// A random (version 4) UUID from 16 random bytes.
fn uuid_v4(mut bytes: [u8; 16]) -> Uuid {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}
