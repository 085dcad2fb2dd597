//! Welcome mails with an activation link, and notices about the account.
//!
//! An administrator creates a local user without a password and invites them
//! (`idforge user add --invite`, `idforge user invite`, `idforge user import --invite`): the
//! user receives a single-use link, good for `[codes].activation_ttl_secs` (72 hours by
//! default), to choose a password. The link's token carries 256 random bits; only its keyed
//! hash is stored, with the welcome mail in the same transaction. A new invitation voids the
//! earlier one. After choosing the password the user signs in, and the login policy leads on
//! to enrolling a second factor.

use super::{Service, ServiceError};
use crate::mail::{Addressee, UserMail};
use crate::store::{AuditEntry, NewCode, User, UserStatus};

/// The purpose of an activation link in the store.
const PURPOSE: &str = "activation";
const LINK_CONTEXT: &[u8] = b"idforge activation link v1";

/// What became of an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invitation {
    /// The welcome mail is in the outbox.
    Sent {
        /// The masked address.
        to: String,
        /// Unix seconds after which the link is void.
        expires_at: u64,
    },
    /// A rate limit held the mail back; no link was made.
    Suppressed,
    /// Nothing was sent; the text says why (no `[mail]`, no address, not a local user, a
    /// password already set, a disabled account).
    Refused(&'static str),
}

/// What became of an activation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activation {
    /// The password is set; the user can sign in.
    Done {
        /// The user's name.
        username: String,
    },
    /// The link is unknown, used, expired or replaced by a newer one.
    InvalidLink,
    /// The password is shorter than the configured minimum.
    TooShort {
        /// The minimum length.
        min: usize,
    },
}

fn binding(user_id: i64) -> String {
    format!("user:{user_id}")
}

impl Service {
    /// Sends `username` a welcome mail with an activation link.
    pub async fn invite(&self, username: &str, now: u64) -> Result<Invitation, ServiceError> {
        let Some(mailer) = &self.mailer else {
            return Ok(Invitation::Refused("e-mail is not configured ([mail])"));
        };
        let user = self.store.require_user(username).await?;
        if user.source != "local" {
            return Ok(Invitation::Refused(
                "the user signs in with a directory password",
            ));
        }
        if user.status == UserStatus::Disabled {
            return Ok(Invitation::Refused("the account is disabled"));
        }
        let Some(address) = user
            .email
            .as_deref()
            .filter(|a| a.parse::<lettre::Address>().is_ok())
        else {
            return Ok(Invitation::Refused("the user has no valid e-mail address"));
        };
        if self.store.password_hash(user.id).await?.is_some() {
            return Ok(Invitation::Refused("the user has a password already"));
        }
        let ttl = self.config.codes.activation_ttl_secs;
        let token = zeroize::Zeroizing::new(crate::idp::session::random_token()?);
        let url = format!(
            "{}/activate?token={}",
            self.config.idp.base_url.trim_end_matches('/'),
            token.as_str()
        );
        let mail = mailer
            .compose_user_mail(
                &UserMail::Activation {
                    url: &url,
                    hours: ttl / 3600,
                },
                &Addressee {
                    address,
                    user_id: user.id,
                    username: &user.name,
                    display_name: user.display_name.as_deref(),
                },
                now,
            )
            .map_err(|e| ServiceError::Config(format!("mail: {e}")))?;
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let masked = super::mask_email(address);
        let row = NewCode {
            purpose: PURPOSE.into(),
            binding: binding(user.id),
            user_id: user.id,
            destination: masked.clone(),
            code_hash: self.store.keyring().mac(LINK_CONTEXT, token.as_bytes()),
            created_at: now_i,
            expires_at: now_i.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            max_attempts: 1,
        };
        if self.store.issue_code(&row, &mail).await?.is_none() {
            return Ok(Invitation::Suppressed);
        }
        tracing::info!(user = %user.name, to = %masked, "activation mail written to the outbox");
        Ok(Invitation::Sent {
            to: masked,
            expires_at: now.saturating_add(ttl),
        })
    }

    /// The user an activation link is for, while it is live (the page that opens the link
    /// greets them). Uses nothing up.
    pub async fn activation_user(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<User>, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let hashes = self.store.keyring().macs(LINK_CONTEXT, token.as_bytes());
        let Some(code) = self.store.code_by_hash(PURPOSE, &hashes).await? else {
            return Ok(None);
        };
        if !code.is_live(now_i) || code.binding != binding(code.user_id) {
            return Ok(None);
        }
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .find(|u| u.id == code.user_id))
    }

    /// Sets the password of the user an activation link is for, and uses the link up. One
    /// audit entry (`activate`, or `activate-refused` with the reason).
    pub async fn activate(
        &self,
        token: &str,
        password: &str,
        source_ip: std::net::IpAddr,
        now: u64,
    ) -> Result<Activation, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let Some(user) = self.activation_user(token, now).await? else {
            self.append_audit(AuditEntry {
                id: 0,
                at: now_i,
                username: String::new(),
                user_id: None,
                application: crate::config::PORTAL_APP.into(),
                source_ip: Some(source_ip.to_string()),
                front_door: "web".into(),
                factors: vec!["activation:invalid".into()],
                result: "activate-refused".into(),
                reasons: vec!["unknown, used or expired activation link".into()],
            })
            .await?;
            return Ok(Activation::InvalidLink);
        };
        let hash = match self.hash_new_password(password).await? {
            Ok(h) => h,
            Err(min) => return Ok(Activation::TooShort { min }),
        };
        let hashes = self.store.keyring().macs(LINK_CONTEXT, token.as_bytes());
        let used = match self.store.code_by_hash(PURPOSE, &hashes).await? {
            Some(code) => self.store.use_code(code.id, now_i).await?,
            None => false,
        };
        if !used {
            return Ok(Activation::InvalidLink);
        }
        self.store.set_password_hash(user.id, &hash).await?;
        self.append_audit(AuditEntry {
            id: 0,
            at: now_i,
            username: user.name.clone(),
            user_id: Some(user.id),
            application: crate::config::PORTAL_APP.into(),
            source_ip: Some(source_ip.to_string()),
            front_door: "web".into(),
            factors: vec!["activation:ok".into()],
            result: "activate".into(),
            reasons: vec!["password chosen through the activation link".into()],
        })
        .await?;
        Ok(Activation::Done {
            username: user.name,
        })
    }

    /// Replaces `user`'s backup codes with ten new ones (the earlier ones stop working) and
    /// returns them, to be shown once; only their hashes are stored. One audit entry, and a
    /// notice to the user.
    pub async fn regenerate_backup_codes(
        &self,
        req: &super::EnrolRequest<'_>,
    ) -> Result<Vec<String>, ServiceError> {
        let codes = super::new_backup_codes()?;
        let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
        self.store
            .replace_backup_codes(req.user_id, &hashes)
            .await?;
        let now_i = i64::try_from(req.now).unwrap_or(i64::MAX);
        self.append_audit(AuditEntry {
            id: 0,
            at: now_i,
            username: req.username.to_owned(),
            user_id: Some(req.user_id),
            application: req.application.to_owned(),
            source_ip: Some(req.source_ip.to_string()),
            front_door: req.front_door.as_str().into(),
            factors: vec!["backup_code:generated".into()],
            result: "enrol".into(),
            reasons: vec![format!(
                "{} new backup codes; the earlier ones are void",
                codes.len()
            )],
        })
        .await?;
        if let Some(user) = self.store.user(req.username).await? {
            self.notify_user(
                &user,
                "New backup codes",
                "New backup codes were made for your account; the earlier ones no longer work.",
                req.now,
            )
            .await?;
        }
        Ok(codes.into_iter().map(|(c, _)| c).collect())
    }

    /// Writes a notice about `user`'s account to the outbox (a factor reset, a new device),
    /// when mail is configured, users are told (`[mail].notify_users`) and the user has an
    /// address. Returns whether a mail was written.
    pub async fn notify_user(
        &self,
        user: &User,
        title: &str,
        message: &str,
        now: u64,
    ) -> Result<bool, ServiceError> {
        let Some(mail) = self.notice_mail(user, title, message, now) else {
            return Ok(false);
        };
        let written = self.store.enqueue_mail(&[mail]).await?;
        Ok(written
            .first()
            .is_some_and(|(_, s)| *s == crate::store::MailStatus::Pending))
    }

    /// The notice mail for `user`, if one goes out (see [`Service::notify_user`]).
    pub(super) fn notice_mail(
        &self,
        user: &User,
        title: &str,
        message: &str,
        now: u64,
    ) -> Option<crate::store::NewMail> {
        let mailer = self.mailer.as_ref()?;
        if !self.config.mail.as_ref().is_some_and(|m| m.notify_users) {
            return None;
        }
        let address = user
            .email
            .as_deref()
            .filter(|a| a.parse::<lettre::Address>().is_ok())?;
        match mailer.compose_user_mail(
            &UserMail::Notice { title, message },
            &Addressee {
                address,
                user_id: user.id,
                username: &user.name,
                display_name: user.display_name.as_deref(),
            },
            now,
        ) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(user = %user.name, error = %e, "notice mail could not be rendered");
                None
            }
        }
    }
}
