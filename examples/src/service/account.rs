//! What a signed-in user changes on their own account: re-authentication with a second
//! factor before a change, removing a factor, and a new password.

use super::{CodeInput, FrontDoor, Outcome, PendingLogin, Service, ServiceError};
use crate::password::Verified;
use crate::store::{AuditEntry, User};

/// How long a re-authentication allows account changes, seconds.
pub const REAUTH_SECS: u64 = 300;

/// What became of a password change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordChange {
    /// Changed; the user's other web sessions were ended.
    Changed {
        /// How many other sessions were ended.
        sessions_ended: u64,
    },
    /// The current password is wrong (counted toward the lockout).
    WrongPassword,
    /// The new password is too short.
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// The user signs in against a directory: the password is changed there.
    NotLocal,
}

impl Service {
    /// Hashes a new password off the async threads, with the length rule: `Err(min)` when it
    /// is too short.
    pub(super) async fn hash_new_password(
        &self,
        password: &str,
    ) -> Result<Result<String, usize>, ServiceError> {
        let hasher = self.hasher.clone();
        let pw = zeroize::Zeroizing::new(password.to_owned());
        let hashed = {
            let _slot = self.hash_slot().await?;
            tokio::task::spawn_blocking(move || hasher.hash_new(&pw))
                .await
                .map_err(|e| ServiceError::Config(format!("hashing task: {e}")))?
        };
        match hashed {
            Ok(h) => Ok(Ok(h)),
            Err(crate::password::PasswordError::TooShort { min }) => Ok(Err(min)),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a second factor of a signed-in user before an account change: a code of an
    /// enrolled app or token, a YubiKey OTP or a backup code, through the same replay guard
    /// as a login (one audit entry either way). True when it was accepted.
    pub async fn reauthenticate(
        &self,
        user: &User,
        code: &str,
        source_ip: std::net::IpAddr,
        now: u64,
    ) -> Result<bool, ServiceError> {
        let pending = PendingLogin {
            id: super::new_pending_id(),
            user_id: user.id,
            username: user.name.clone(),
            application: crate::config::PORTAL_APP.into(),
            source_ip,
            source_is_client: true,
            device: None,
            methods: ["totp", "hotp_token", "yubico_otp", "backup_code"]
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            challenged: false,
            factors: vec!["reauth".into()],
            reasons: vec!["re-authentication before an account change".into()],
            expires_at: now.saturating_add(REAUTH_SECS),
            front_door: FrontDoor::Web,
            questions: Vec::new(),
            remember_days: 0,
        };
        Ok(matches!(
            self.check_code(pending, CodeInput::Plain(code), now, Vec::new())
                .await?,
            Outcome::Accept(_)
        ))
    }

    /// Removes one of the user's authenticator apps or tokens (`factor_id`), or takes back a
    /// YubiKey (`yubikey:PUBLIC_ID`). One audit entry and a notice. False when it is not
    /// theirs.
    pub async fn remove_own_factor(
        &self,
        user: &User,
        factor: &str,
        source_ip: std::net::IpAddr,
        now: u64,
    ) -> Result<bool, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let removed = match factor.strip_prefix("yubikey:") {
            Some(public_id) => {
                let mine = self
                    .store
                    .yubikeys_of(user.id)
                    .await?
                    .iter()
                    .any(|k| k.public_id == public_id);
                mine && self.store.assign_yubikey(public_id, None, now_i).await?
            }
            None => self.store.delete_factor(user.id, factor).await?,
        };
        if removed {
            self.append_audit(AuditEntry {
                id: 0,
                at: now_i,
                username: user.name.clone(),
                user_id: Some(user.id),
                application: crate::config::PORTAL_APP.into(),
                source_ip: Some(source_ip.to_string()),
                front_door: "web".into(),
                factors: vec![format!("factor:removed:{factor}")],
                result: "factor-removed".into(),
                reasons: vec!["removed by the user".into()],
            })
            .await?;
            self.notify_user(
                user,
                "A second factor was removed",
                "One of your second factors was removed from your account.",
                now,
            )
            .await?;
        }
        Ok(removed)
    }

    /// Changes a local user's password after checking the current one; ends the user's other
    /// web sessions (`keep` is the hash of the session to keep). One audit entry.
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        source_ip: std::net::IpAddr,
        keep_session: Option<&str>,
        now: u64,
    ) -> Result<PasswordChange, ServiceError> {
        if user.source != "local" {
            return Ok(PasswordChange::NotLocal);
        }
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let audit = |result: &str, reason: &str| AuditEntry {
            id: 0,
            at: now_i,
            username: user.name.clone(),
            user_id: Some(user.id),
            application: crate::config::PORTAL_APP.into(),
            source_ip: Some(source_ip.to_string()),
            front_door: "web".into(),
            factors: vec!["password:change".into()],
            result: result.into(),
            reasons: vec![reason.into()],
        };
        let stored = self.store.password_hash(user.id).await?;
        let hasher = self.hasher.clone();
        let current = zeroize::Zeroizing::new(current.to_owned());
        let verified = {
            let _slot = self.hash_slot().await?;
            tokio::task::spawn_blocking(move || match stored {
                Some(h) => hasher
                    .verify(&current, &h)
                    .map(|v| !matches!(v, Verified::No)),
                None => Ok(false),
            })
            .await
            .map_err(|e| ServiceError::Config(format!("hashing task: {e}")))??
        };
        if !verified {
            let key = format!("user:{}", crate::store::name_key(&user.name));
            self.record_failure(&key, None, now, &user.name).await?;
            self.append_audit(audit("password-change-refused", "wrong current password"))
                .await?;
            return Ok(PasswordChange::WrongPassword);
        }
        let hash = match self.hash_new_password(new).await? {
            Ok(h) => h,
            Err(min) => return Ok(PasswordChange::TooShort { min }),
        };
        self.store.set_password_hash(user.id, &hash).await?;
        let sessions_ended = self
            .store
            .delete_web_sessions_of_except(user.id, keep_session)
            .await?;
        self.append_audit(audit("password-changed", "changed by the user"))
            .await?;
        self.notify_user(
            user,
            "Your password was changed",
            "The password of your account was changed. If this was not you, tell your administrator now.",
            now,
        )
        .await?;
        Ok(PasswordChange::Changed { sessions_ended })
    }
}
