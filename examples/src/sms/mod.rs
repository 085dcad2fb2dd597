//! SMS: one-time codes and notices sent as text messages through a gateway (Twilio's
//! Messages API, or a webhook of the operator's), from the store's durable outbox.
//!
//! The path of a message mirrors e-mail's ([`crate::mail`]):
//! 1. [`new_sms`] checks the number and the text and makes a [`NewMail`] row of channel
//!    [`Channel::Sms`] with a unique id; the caller writes it to the outbox in the
//!    transaction of the event that causes it, where the per-number and per-user hourly limits
//!    apply ([`SmsSettings::max_per_address_hour`], [`SmsSettings::max_per_user_hour`]).
//! 2. [`SmsWorker`] claims due SMS rows with a lease, sends each with one HTTPS request, and
//!    marks it sent, due again after an exponential backoff (gateway down, 408, 429, 5xx), or
//!    failed for good (any other 4xx, with the gateway's reason in `last_error`).
//!
//! What is logged: the outbox id, the kind, the number masked by [`mask_phone`], the HTTP
//! status and the attempt. Never the text (it carries one-time codes), nor a token or a
//! header value.

mod body;
mod gateway;
mod number;
mod settings;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use number::{MAX_DIGITS, MIN_DIGITS, mask_phone, normalize_phone};
pub use settings::{
    DEFAULT_CONTENT_TYPE, DEFAULT_JSON_BODY, SmsProvider, SmsSettings, TWILIO_API_BASE,
    WebhookMethod,
};

use self::gateway::{Attempt, Gateway};
use crate::config::Config;
use crate::mail::DeliveryRound;
use crate::store::{Channel, MailLimits, NewMail, OutboxMessage, Store, StoreError};

/// The longest text, in characters (Twilio's limit for one message, split into segments).
pub const MAX_TEXT_CHARS: usize = 1600;

/// Why an SMS could not be made, set up or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmsError {
    /// Not a phone number we send to (the number itself is not repeated).
    #[error("phone number {reason}")]
    InvalidNumber {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The text cannot be sent as it is.
    #[error("SMS text {reason}")]
    InvalidText {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The text is longer than [`MAX_TEXT_CHARS`].
    #[error("SMS text has {chars} characters; at most 1600 are sent")]
    TextTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// A setting is not usable; the key is relative to `sms`.
    #[error("sms.{key}: {message}")]
    Settings {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A secret (the token, a header value) could not be read.
    #[error("sms.{what}: {source}")]
    Secret {
        /// The key.
        what: String,
        /// Why.
        source: crate::secret::SecretError,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("sms.ca_file {path}: {message}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("SMS HTTP client: {0}")]
    Client(String),
    /// The system gave no randomness for a message id.
    #[error("no randomness for an SMS message id")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new unique message id, `<32 hex digits@domain>` (the style of mail's Message-IDs); sent
/// to webhooks as the `Idempotency-Key`.
fn new_message_id(domain: &str) -> Result<String, SmsError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SmsError::Random)?;
    let hex = bytes.iter().fold(String::with_capacity(32), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    });
    Ok(format!("<{hex}@{domain}>"))
}

/// Checks an SMS text: not empty, no control character but the newline, at most
/// [`MAX_TEXT_CHARS`] characters.
pub fn check_text(text: &str) -> Result<(), SmsError> {
    if text.trim().is_empty() {
        return Err(SmsError::InvalidText { reason: "is empty" });
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(SmsError::InvalidText {
            reason: "holds a control character (only newlines are allowed)",
        });
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(SmsError::TextTooLong { chars });
    }
    Ok(())
}

/// The outbox row for one text message to `to`: the number brought to E.164
/// ([`normalize_phone`]), the text checked ([`check_text`]), a new unique id, the rate limits
/// of `settings`. Subject and HTML body stay empty. `kind` says what it is (`sms_otp`, …) and
/// `user_id`/`username` whom it is about, for the per-user limit.
pub fn new_sms(
    settings: &SmsSettings,
    to: &str,
    text: &str,
    kind: &str,
    user_id: Option<i64>,
    username: Option<&str>,
    now: i64,
) -> Result<NewMail, SmsError> {
    let recipient = normalize_phone(to)?;
    check_text(text)?;
    Ok(NewMail {
        channel: Channel::Sms,
        message_id: new_message_id(&settings.gateway_host())?,
        kind: kind.to_owned(),
        recipient,
        user_id,
        username: username.map(str::to_owned),
        subject: String::new(),
        body_text: text.to_owned(),
        body_html: String::new(),
        created_at: now,
        limits: MailLimits {
            per_address_hour: settings.max_per_address_hour,
            per_user_hour: settings.max_per_user_hour,
        },
    })
}

/// Most messages claimed in one round.
const BATCH: i64 = 10;

/// Sends the SMS outbox: claims due messages, sends them, records the result.
pub struct SmsWorker {
    store: Store,
    settings: Arc<SmsSettings>,
    gateway: Gateway,
    owner: String,
}

impl std::fmt::Debug for SmsWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsWorker")
            .field("gateway", &self.gateway)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl SmsWorker {
    /// A worker over `store` for the gateway `settings` names: reads the token, the header
    /// values and the CA file now, so that a mistake shows at start (and in
    /// `--check-config`).
    pub fn new(store: Store, settings: &SmsSettings) -> Result<SmsWorker, SmsError> {
        let gateway = Gateway::new(settings)?;
        let owner = new_message_id("sms-worker")?
            .trim_matches(['<', '>'])
            .to_owned();
        Ok(SmsWorker {
            store,
            settings: Arc::new(settings.clone()),
            gateway,
            owner,
        })
    }

    /// The wait before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff(settings: &SmsSettings, attempts: i64) -> u64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        settings
            .backoff_secs
            .saturating_mul(1u64 << doublings)
            .min(settings.max_backoff_secs)
    }

    /// How long a claim lasts: long enough for a whole batch of requests that each run to
    /// the timeout, so that no other instance takes a row while this one is still sending it.
    fn lease_secs(&self) -> i64 {
        i64::try_from(self.settings.timeout_secs)
            .unwrap_or(120)
            .saturating_mul(BATCH)
            .saturating_add(60)
    }

    /// One round at `now` (unix seconds): every due message is attempted once.
    pub async fn run_once(&self, now: i64) -> Result<DeliveryRound, SmsError> {
        let mut round = DeliveryRound::default();
        loop {
            let claimed = self
                .store
                .claim_mail(Channel::Sms, &self.owner, now, self.lease_secs(), BATCH)
                .await?;
            let n = claimed.len();
            for row in claimed {
                self.deliver(&row, now, &mut round).await?;
            }
            if n < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                return Ok(round);
            }
        }
    }

    async fn deliver(
        &self,
        row: &OutboxMessage,
        now: i64,
        round: &mut DeliveryRound,
    ) -> Result<(), SmsError> {
        let to = mask_phone(&row.recipient);
        // A gateway's reason may repeat the number ("The 'To' number +1… is not valid"): the
        // row keeps it as said, the log shows it masked.
        let for_log = |error: &str| error.replace(row.recipient.as_str(), &to);
        let attempt = match normalize_phone(&row.recipient).and_then(|n| {
            check_text(&row.body_text)?;
            Ok(n)
        }) {
            Ok(number) => {
                self.gateway
                    .send(&number, &row.body_text, &row.message_id)
                    .await
            }
            Err(e) => Attempt::Fail {
                status: None,
                error: e.to_string(),
            },
        };
        match attempt {
            Attempt::Sent { status, reference } => {
                let done = unix_now().max(now);
                self.store.mark_mail_sent(row.id, &self.owner, done).await?;
                tracing::info!(
                    outbox_id = row.id,
                    kind = %row.kind,
                    %to,
                    status,
                    gateway_id = reference.as_deref().unwrap_or("-"),
                    attempts = row.attempts,
                    "sms sent"
                );
                round.sent += 1;
            }
            Attempt::Retry { status, error, .. }
                if row.attempts >= i64::from(self.settings.max_attempts) =>
            {
                self.store.fail_mail(row.id, &self.owner, &error).await?;
                tracing::error!(
                    outbox_id = row.id,
                    kind = %row.kind,
                    %to,
                    status = status.unwrap_or(0),
                    attempts = row.attempts,
                    error = %for_log(&error),
                    "sms failed for good: out of attempts"
                );
                round.failed += 1;
            }
            Attempt::Retry {
                status,
                error,
                retry_after,
            } => {
                let backoff = Self::backoff(&self.settings, row.attempts);
                let wait = retry_after
                    .map_or(backoff, |r| r.min(self.settings.max_backoff_secs))
                    .max(backoff);
                let next = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
                self.store
                    .retry_mail_later(row.id, &self.owner, next, &error)
                    .await?;
                tracing::warn!(
                    outbox_id = row.id,
                    kind = %row.kind,
                    %to,
                    status = status.unwrap_or(0),
                    attempts = row.attempts,
                    retry_in_secs = wait,
                    error = %for_log(&error),
                    "sms not sent; will retry"
                );
                round.retried += 1;
            }
            Attempt::Fail { status, error } => {
                self.store.fail_mail(row.id, &self.owner, &error).await?;
                tracing::error!(
                    outbox_id = row.id,
                    kind = %row.kind,
                    %to,
                    status = status.unwrap_or(0),
                    attempts = row.attempts,
                    error = %for_log(&error),
                    "sms refused by the gateway; failed for good"
                );
                round.failed += 1;
            }
        }
        Ok(())
    }

    /// Runs rounds every `poll_ms` until `shutdown` resolves. A round that fails (the store
    /// is unreachable) is logged and tried again at the next tick.
    pub async fn run<F>(self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        let mut tick = tokio::time::interval(Duration::from_millis(self.settings.poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        tracing::info!(
            provider = self.settings.provider.as_str(),
            gateway = %self.settings.gateway_host(),
            "sms worker started"
        );
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {
                    if let Err(e) = self.run_once(unix_now()).await {
                        tracing::warn!(error = %e, "sms delivery round failed");
                    }
                }
            }
        }
        tracing::info!("sms worker stopped");
    }
}

/// Starts an [`SmsWorker`] on the current runtime when the configuration has `[sms]`.
pub fn spawn_worker<F>(
    store: Store,
    config: &Config,
    shutdown: F,
) -> Result<Option<tokio::task::JoinHandle<()>>, SmsError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let Some(settings) = &config.sms else {
        return Ok(None);
    };
    let worker = SmsWorker::new(store, settings)?;
    Ok(Some(tokio::spawn(worker.run(shutdown))))
}

/// Checks what `[sms]` needs beyond the file's syntax: the token and the header values can be
/// read, the CA file holds a certificate, the body template renders. For `--check-config`.
pub fn check(config: &Config) -> Result<(), SmsError> {
    if let Some(settings) = &config.sms {
        Gateway::new(settings)?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> SmsSettings {
        toml::from_str(
            "provider = \"twilio\"\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
             auth_token = \"t0ken\"\nfrom = \"+14155550100\"\nmax_per_address_hour = 3\n",
        )
        .unwrap()
    }

    #[test]
    fn a_new_sms_is_an_outbox_row_of_the_sms_channel() {
        let s = settings();
        let m = new_sms(
            &s,
            "+49 (30) 123-4567",
            "Your code is 123456\nIt expires in 5 minutes.",
            "sms_otp",
            Some(7),
            Some("Alice"),
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(m.channel, Channel::Sms);
        assert_eq!(m.recipient, "+49301234567");
        assert!(m.subject.is_empty() && m.body_html.is_empty());
        assert!(m.body_text.starts_with("Your code is 123456\n"));
        assert_eq!(m.kind, "sms_otp");
        assert_eq!((m.user_id, m.username.as_deref()), (Some(7), Some("Alice")));
        assert_eq!(m.created_at, 1_700_000_000);
        assert_eq!(m.limits.per_address_hour, 3);
        assert_eq!(m.limits.per_user_hour, 10);
        assert!(m.message_id.starts_with('<') && m.message_id.ends_with("@api.twilio.com>"));
        assert_eq!(m.message_id.len(), 1 + 32 + 1 + "api.twilio.com".len() + 1);
        let again = new_sms(&s, "+49301234567", "x y", "k", None, None, 0).unwrap();
        assert_ne!(again.message_id, m.message_id);
    }

    #[test]
    fn bad_numbers_and_texts_are_refused_with_their_reason() {
        let s = settings();
        let e = new_sms(&s, "030 1234567", "hi", "k", None, None, 0).unwrap_err();
        assert!(matches!(e, SmsError::InvalidNumber { .. }), "{e}");
        assert!(!e.to_string().contains("1234567"), "{e}");
        for text in ["", "  \n", "code\r\n123456", "tab\there", "bell\u{7}"] {
            let e = new_sms(&s, "+49301234567", text, "k", None, None, 0).unwrap_err();
            assert!(matches!(e, SmsError::InvalidText { .. }), "{text:?}: {e}");
        }
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let e = new_sms(&s, "+49301234567", &long, "k", None, None, 0).unwrap_err();
        assert!(matches!(e, SmsError::TextTooLong { chars: 1601 }), "{e}");
        new_sms(
            &s,
            "+49301234567",
            &"é".repeat(MAX_TEXT_CHARS),
            "k",
            None,
            None,
            0,
        )
        .unwrap();
    }

    #[test]
    fn the_examples_in_docs_server_md_load() {
        let doc = include_str!("../../../docs/server.md");
        for marker in [
            "<!-- sms-twilio-example -->",
            "<!-- sms-webhook-example -->",
        ] {
            let start = doc.find(marker).unwrap();
            let rest = &doc[start..];
            let body = &rest[rest.find("```toml\n").unwrap() + 8..];
            let text = &body[..body.find("```").unwrap()];
            let table: toml::Table = toml::from_str(text).unwrap();
            let sms = table["sms"].clone();
            let settings: SmsSettings = sms.try_into().unwrap();
            settings.check().unwrap();
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let mut s = settings();
        s.backoff_secs = 30;
        s.max_backoff_secs = 200;
        let waits: Vec<u64> = (1..=6).map(|a| SmsWorker::backoff(&s, a)).collect();
        assert_eq!(waits, [30, 60, 120, 200, 200, 200]);
        assert_eq!(SmsWorker::backoff(&s, i64::MAX), 200);
    }
}
