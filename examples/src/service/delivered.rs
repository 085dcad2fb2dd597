//! Second factors the IdP sends: a one-time code by e-mail (to the user's address, or to the
//! alternate address when the adaptive rules ask for that challenge) or by SMS, and a
//! single-use sign-in link by e-mail.
//!
//! A code is 6 to 8 digits from the system CSPRNG, good for `[codes].ttl_secs` (5 minutes by
//! default), once, for the pending login that asked for it, and void after
//! `[codes].max_attempts` wrong guesses; a wrong guess also counts toward the lockout like a
//! wrong TOTP code. Only a keyed hash is stored. The code's row and its message are written in
//! one transaction: a code exists exactly when its message is in the outbox, and an SMTP or
//! gateway outage delays it without losing it. Resends wait `[codes].resend_after_secs` and
//! stop after `[codes].max_sends` per pending login.
//!
//! A sign-in link carries 256 random bits. It is bound to the pending login of the browser
//! that asked for it: opened anywhere else (another browser, a forwarded mail, a mail
//! scanner) it completes nothing. Opening it shows a page with a button; only that form, sent
//! with the session's CSRF token, uses it.

use super::{
    INVALID_CREDENTIALS, Outcome, PendingLogin, Service, ServiceError, random_from, reject,
};
use crate::mail::{Addressee, UserMail};
use crate::store::{FactorKind, NewCode, NewMail, User};

/// How a code or link is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// A code to the user's e-mail address (method `email_otp`).
    Email,
    /// A code to the user's alternate e-mail address (the adaptive challenge
    /// `alternate_email_otp`).
    AlternateEmail,
    /// A code by SMS to the user's phone (method `sms_otp`).
    Sms,
    /// A sign-in link to the user's e-mail address (method `email_link`).
    Link,
}

impl Delivery {
    /// Every delivery, in the order pages offer them.
    pub const ALL: [Delivery; 4] = [
        Delivery::Email,
        Delivery::Sms,
        Delivery::Link,
        Delivery::AlternateEmail,
    ];

    /// The method name a pending login lists.
    pub fn method(self) -> &'static str {
        match self {
            Delivery::Email => "email_otp",
            Delivery::AlternateEmail => "alternate_email_otp",
            Delivery::Sms => "sms_otp",
            Delivery::Link => "email_link",
        }
    }

    /// The delivery of a method name.
    pub fn from_method(method: &str) -> Option<Delivery> {
        Delivery::ALL.into_iter().find(|d| d.method() == method)
    }

    /// Whether it sends a code to type (rather than a link to open).
    pub fn is_code(self) -> bool {
        !matches!(self, Delivery::Link)
    }
}

/// What became of a request to send a code or link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sent {
    /// In the outbox; `to` is the masked destination, good until `expires_at`.
    Sent {
        /// Where it goes, masked (`a•••@example.com`, `+49 ••• ••67`).
        to: String,
        /// Unix seconds.
        expires_at: u64,
    },
    /// Too soon after the previous one.
    TooSoon {
        /// Unix seconds from which another may be sent.
        retry_at: u64,
    },
    /// This login has had as many codes and links as it may.
    TooMany,
    /// The method cannot be used for this login (not allowed, not configured, or no address
    /// or phone number for the user); the text says which.
    Unavailable(&'static str),
    /// A rate limit held the message back; nothing was sent.
    Suppressed,
}

/// One way a user can finish a pending login, for a page or a RADIUS prompt to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The method (`totp`, `email_otp`, …).
    pub method: String,
    /// Where a sent code or link would go, masked; `None` for methods the user holds.
    pub to: Option<String>,
}

const LINK_CONTEXT: &[u8] = b"idforge sign-in link v1";

fn code_context(purpose: &str, binding: &str) -> Vec<u8> {
    format!("idforge sent code v1\0{purpose}\0{binding}").into_bytes()
}

/// `a•••@example.com`: the first character of the local part and the domain.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}

/// The user's e-mail address if it looks deliverable.
fn usable_email(address: Option<&str>) -> Option<&str> {
    address.filter(|a| a.parse::<lettre::Address>().is_ok())
}

impl Service {
    /// The ways `pending` can be finished by this user now: enrolled factors of an allowed
    /// method, unused backup codes, and codes or links the server can send (mail or SMS
    /// configured, an address or number on record). Security questions once the user has
    /// answered enough of them.
    pub async fn choices(&self, pending: &PendingLogin) -> Result<Vec<Choice>, ServiceError> {
        let allowed = |m: &str| pending.methods.iter().any(|x| x == m);
        let Some(view) = self.store.user_view(&pending.username).await? else {
            return Ok(Vec::new());
        };
        let user = &view.user;
        let mut out = Vec::new();
        let mine = |kind: FactorKind| view.factors.iter().any(|f| f.kind == kind);
        if allowed("totp") && mine(FactorKind::Totp) {
            out.push(Choice {
                method: "totp".into(),
                to: None,
            });
        }
        if allowed("hotp_token") && mine(FactorKind::Hotp) {
            out.push(Choice {
                method: "hotp_token".into(),
                to: None,
            });
        }
        if allowed("yubico_otp") && !self.store.yubikeys_of(pending.user_id).await?.is_empty() {
            out.push(Choice {
                method: "yubico_otp".into(),
                to: None,
            });
        }
        if allowed(super::WEBAUTHN_METHOD)
            && self.webauthn_available()
            && !self
                .store
                .webauthn_credentials_of(pending.user_id)
                .await?
                .is_empty()
        {
            out.push(Choice {
                method: super::WEBAUTHN_METHOD.into(),
                to: None,
            });
        }
        if allowed("backup_code")
            && !self
                .store
                .unused_backup_codes(pending.user_id)
                .await?
                .is_empty()
        {
            out.push(Choice {
                method: "backup_code".into(),
                to: None,
            });
        }
        for d in Delivery::ALL {
            if allowed(d.method())
                && let Ok(to) = self.destination(user, d)
            {
                out.push(Choice {
                    method: d.method().into(),
                    to: Some(to.1),
                });
            }
        }
        if allowed("security_questions")
            && let Some(kba) = &self.config.kba
            && self.store.kba_answers(pending.user_id).await?.len() >= kba.ask as usize
        {
            out.push(Choice {
                method: "security_questions".into(),
                to: None,
            });
        }
        Ok(out)
    }

    /// Where `delivery` would go for `user`: the address or number, and its masked form.
    fn destination(
        &self,
        user: &User,
        delivery: Delivery,
    ) -> Result<(String, String), &'static str> {
        match delivery {
            Delivery::Email | Delivery::Link => {
                if self.mailer.is_none() {
                    return Err("e-mail is not configured");
                }
                let a = usable_email(user.email.as_deref())
                    .ok_or("the user has no valid e-mail address")?;
                Ok((a.to_owned(), mask_email(a)))
            }
            Delivery::AlternateEmail => {
                if self.mailer.is_none() {
                    return Err("e-mail is not configured");
                }
                let a = usable_email(user.alternate_email.as_deref())
                    .ok_or("the user has no valid alternate e-mail address")?;
                Ok((a.to_owned(), mask_email(a)))
            }
            Delivery::Sms => {
                if self.config.sms.is_none() {
                    return Err("SMS is not configured");
                }
                let phone = user
                    .phone
                    .as_deref()
                    .ok_or("the user has no phone number")?;
                let number = crate::sms::normalize_phone(phone)
                    .map_err(|_| "the user's phone number is not a valid international number")?;
                let masked = crate::sms::mask_phone(&number);
                Ok((number, masked))
            }
        }
    }

    /// Sends a code (or link) for `pending` by `delivery`, through the outbox. The pending
    /// login must allow the method and still be live.
    pub async fn send_code(
        &self,
        pending: &PendingLogin,
        delivery: Delivery,
        now: u64,
    ) -> Result<Sent, ServiceError> {
        if !pending.methods.iter().any(|m| m == delivery.method()) {
            return Ok(Sent::Unavailable(
                "the method is not allowed for this login",
            ));
        }
        if now > pending.expires_at || pending.id.is_empty() {
            return Ok(Sent::Unavailable("the login has expired"));
        }
        let codes = &self.config.codes;
        let earlier = self.store.codes_for(&pending.id).await?;
        if earlier.len() >= codes.max_sends as usize {
            return Ok(Sent::TooMany);
        }
        if let Some(last) = earlier.last() {
            let retry_at = u64::try_from(last.created_at)
                .unwrap_or(0)
                .saturating_add(codes.resend_after_secs);
            if now < retry_at {
                return Ok(Sent::TooSoon { retry_at });
            }
        }
        let user = self.store.require_user(&pending.username).await?;
        if user.id != pending.user_id {
            return Err(ServiceError::PendingMismatch);
        }
        let (address, masked) = match self.destination(&user, delivery) {
            Ok(d) => d,
            Err(why) => return Ok(Sent::Unavailable(why)),
        };
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let (secret, ttl, hash) = if delivery.is_code() {
            let code = zeroize::Zeroizing::new(random_from("0123456789", codes.length.into())?);
            let hash = self.store.keyring().mac(
                &code_context(delivery.method(), &pending.id),
                code.as_bytes(),
            );
            (code, codes.ttl_secs, hash)
        } else {
            let token = zeroize::Zeroizing::new(crate::idp::session::random_token()?);
            let hash = self.store.keyring().mac(LINK_CONTEXT, token.as_bytes());
            (token, codes.link_ttl_secs, hash)
        };
        let message = self.message_for(&user, delivery, &address, &secret, ttl, now)?;
        let row = NewCode {
            purpose: delivery.method().into(),
            binding: pending.id.clone(),
            user_id: user.id,
            destination: masked.clone(),
            code_hash: hash,
            created_at: now_i,
            expires_at: now_i.saturating_add(i64::try_from(ttl).unwrap_or(300)),
            max_attempts: i64::from(codes.max_attempts),
        };
        let sent = self.store.issue_code(&row, &message).await?;
        tracing::info!(
            user = %user.name,
            application = %pending.application,
            method = delivery.method(),
            to = %masked,
            sent = sent.is_some(),
            "one-time code or link sent"
        );
        Ok(match sent {
            Some(_) => Sent::Sent {
                to: masked,
                expires_at: now.saturating_add(ttl),
            },
            None => Sent::Suppressed,
        })
    }

    fn message_for(
        &self,
        user: &User,
        delivery: Delivery,
        address: &str,
        secret: &str,
        ttl: u64,
        now: u64,
    ) -> Result<NewMail, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        if delivery == Delivery::Sms {
            let sms = self
                .config
                .sms
                .as_ref()
                .ok_or_else(|| ServiceError::Config("SMS is not configured".into()))?;
            let text = format!(
                "{secret} is your sign-in code. It expires in {} minutes. Do not share it.",
                ttl / 60
            );
            return crate::sms::new_sms(
                sms,
                address,
                &text,
                "code",
                Some(user.id),
                Some(&user.name),
                now_i,
            )
            .map_err(|e| ServiceError::Config(format!("sms: {e}")));
        }
        let mailer = self
            .mailer
            .as_ref()
            .ok_or_else(|| ServiceError::Config("e-mail is not configured".into()))?;
        let url;
        let mail = match delivery {
            Delivery::Link => {
                url = format!(
                    "{}/login/link?token={secret}",
                    self.config.idp.base_url.trim_end_matches('/')
                );
                UserMail::Link {
                    url: &url,
                    minutes: ttl / 60,
                }
            }
            _ => UserMail::Code {
                code: secret,
                minutes: ttl / 60,
            },
        };
        let to = Addressee {
            address,
            user_id: user.id,
            username: &user.name,
            display_name: user.display_name.as_deref(),
        };
        mailer
            .compose_user_mail(&mail, &to, now)
            .map_err(|e| ServiceError::Config(format!("mail: {e}")))
    }

    /// Checks `code` against the live codes sent for `pending`: the factor string on success
    /// (the code is used up), `None` otherwise (a wrong guess is counted against them).
    pub(super) async fn check_sent_code(
        &self,
        pending: &PendingLogin,
        code: &str,
        now: u64,
    ) -> Result<Option<String>, ServiceError> {
        if pending.id.is_empty() {
            return Ok(None);
        }
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let code = code.trim();
        let live: Vec<_> = self
            .store
            .codes_for(&pending.id)
            .await?
            .into_iter()
            .filter(|c| {
                c.is_live(now_i)
                    && c.user_id == pending.user_id
                    && Delivery::from_method(&c.purpose).is_some_and(Delivery::is_code)
                    && pending.methods.contains(&c.purpose)
            })
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        for c in live.iter().rev() {
            if self.store.keyring().mac_matches(
                &c.code_hash,
                &code_context(&c.purpose, &pending.id),
                code.as_bytes(),
            ) && self.store.use_code(c.id, now_i).await?
            {
                return Ok(Some(format!("{}:ok:{}", c.purpose, c.destination)));
            }
        }
        self.store.count_wrong_code(&pending.id, now_i).await?;
        Ok(None)
    }

    /// Whether `token` is a live sign-in link for `pending` (the page that opens a link asks
    /// before it shows the button). Uses nothing up.
    pub async fn link_matches(
        &self,
        pending: &PendingLogin,
        token: &str,
        now: u64,
    ) -> Result<bool, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let hashes = self.store.keyring().macs(LINK_CONTEXT, token.as_bytes());
        Ok(self
            .store
            .code_by_hash(Delivery::Link.method(), &hashes)
            .await?
            .is_some_and(|c| {
                c.is_live(now_i) && c.binding == pending.id && c.user_id == pending.user_id
            }))
    }

    /// Finishes `pending` with a sign-in link's token. The link must have been sent for this
    /// very pending login (the browser's own), be unused and unexpired.
    pub async fn complete_with_link(
        &self,
        mut pending: PendingLogin,
        token: &str,
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        if now > pending.expires_at {
            pending.reasons.push("the pending login expired".into());
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let hashes = self.store.keyring().macs(LINK_CONTEXT, token.as_bytes());
        let found = self
            .store
            .code_by_hash(Delivery::Link.method(), &hashes)
            .await?;
        let why = match &found {
            None => Some("unknown sign-in link"),
            Some(c) if c.binding != pending.id || c.user_id != pending.user_id => {
                Some("the sign-in link belongs to another login or browser")
            }
            Some(c) if c.used_at.is_some() => Some("the sign-in link was already used"),
            Some(c) if now_i > c.expires_at => Some("the sign-in link expired"),
            Some(c) if !pending.methods.contains(&c.purpose) => {
                Some("sign-in links are not allowed for this login")
            }
            Some(c) if !self.store.use_code(c.id, now_i).await? => {
                Some("the sign-in link was already used")
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            pending.factors.push("email_link:refused".into());
            pending.reasons.push(why.into());
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let destination = found.map(|c| c.destination).unwrap_or_default();
        pending.factors.push(format!("email_link:ok:{destination}"));
        let view = self
            .store
            .user_view(&pending.username)
            .await?
            .ok_or(ServiceError::PendingMismatch)?;
        if view.user.id != pending.user_id || view.user.status != crate::store::UserStatus::Active {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_hint() {
        assert_eq!(mask_email("alice@example.com"), "a•••@example.com");
        assert_eq!(mask_email("x@y"), "x•••@y");
        assert_eq!(mask_email("nobody"), "•••");
        for d in Delivery::ALL {
            assert_eq!(Delivery::from_method(d.method()), Some(d));
        }
        assert_eq!(Delivery::from_method("totp"), None);
    }
}
