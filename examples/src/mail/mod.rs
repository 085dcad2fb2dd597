//! E-mail: alerts rendered from templates into the store's outbox, and the worker that
//! delivers the outbox over SMTP (lettre, rustls on aws-lc-rs).
//!
//! The path of a message:
//! 1. [`MailNotifier`] turns an alert into [`NewMail`] rows (one per recipient, each with a
//!    Message-ID generated once); the service writes them in the transaction of the decision
//!    that raised the alert, so a decision and its mails are stored together or not at all.
//! 2. [`MailWorker`] claims due rows with a lease, sends each, and marks it sent, or due again
//!    after an exponential backoff, or failed after the last attempt. Every attempt carries
//!    the row's Message-ID: a retry after a lost answer may reach the relay twice, and the
//!    receiving side (and our tests) recognise the copy by that id. We never make a second one.
//!
//! Header safety: the sender's display name and the subject prefix are refused at start if
//! they contain control characters; a subject built from user data has every control
//! character replaced before it is stored; addresses are parsed by lettre (which refuses
//! CR/LF), and lettre encodes header values on output.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use idforge_adaptive::{Alert, AlertKind, Audience};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use minijinja::Environment;

use crate::config::{Config, MailSecurity, MailSettings};
use crate::notify::{AlertContext, LogNotifier, Notifier};
use crate::store::{Channel, MailLimits, NewMail, OutboxMessage, Store, StoreError};

/// Why mail could not be set up or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// A template is missing, does not compile or does not render.
    #[error("mail template {name}: {message}")]
    Template {
        /// The template.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The SMTP user name or password could not be read.
    #[error("mail.{what}: {source}")]
    Secret {
        /// `username` or `password`.
        what: &'static str,
        /// Why.
        source: crate::secret::SecretError,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("mail.ca_file {path}: {message}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The TLS settings were refused.
    #[error("mail TLS setup: {0}")]
    Tls(String),
    /// An address or header could not be used to build a message.
    #[error("message {message_id}: {message}")]
    Build {
        /// The message.
        message_id: String,
        /// What went wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "mail_alert_subject.txt",
        include_str!("templates/mail_alert_subject.txt"),
    ),
    ("mail_alert.txt", include_str!("templates/mail_alert.txt")),
    ("mail_alert.html", include_str!("templates/mail_alert.html")),
    (
        "mail_code_subject.txt",
        include_str!("templates/mail_code_subject.txt"),
    ),
    ("mail_code.txt", include_str!("templates/mail_code.txt")),
    ("mail_code.html", include_str!("templates/mail_code.html")),
    (
        "mail_link_subject.txt",
        include_str!("templates/mail_link_subject.txt"),
    ),
    ("mail_link.txt", include_str!("templates/mail_link.txt")),
    ("mail_link.html", include_str!("templates/mail_link.html")),
    (
        "mail_activation_subject.txt",
        include_str!("templates/mail_activation_subject.txt"),
    ),
    (
        "mail_activation.txt",
        include_str!("templates/mail_activation.txt"),
    ),
    (
        "mail_activation.html",
        include_str!("templates/mail_activation.html"),
    ),
    (
        "mail_notice_subject.txt",
        include_str!("templates/mail_notice_subject.txt"),
    ),
    ("mail_notice.txt", include_str!("templates/mail_notice.txt")),
    (
        "mail_notice.html",
        include_str!("templates/mail_notice.html"),
    ),
];

/// A message to one user, other than an alert.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum UserMail<'a> {
    /// A one-time sign-in code (`mail_code.*` templates).
    Code {
        /// The code.
        code: &'a str,
        /// How long it stays good.
        minutes: u64,
    },
    /// A single-use sign-in link (`mail_link.*`).
    Link {
        /// The link.
        url: &'a str,
        /// How long it stays good.
        minutes: u64,
    },
    /// A welcome mail with an activation link (`mail_activation.*`).
    Activation {
        /// The link.
        url: &'a str,
        /// How long it stays good.
        hours: u64,
    },
    /// A notice about the account: a factor reset, a new device (`mail_notice.*`).
    Notice {
        /// The subject line's text.
        title: &'a str,
        /// One paragraph.
        message: &'a str,
    },
}

impl std::fmt::Debug for UserMail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UserMail::Code { .. } => "Code(**redacted**)",
            UserMail::Link { .. } => "Link(**redacted**)",
            UserMail::Activation { .. } => "Activation(**redacted**)",
            UserMail::Notice { .. } => "Notice",
        })
    }
}

impl UserMail<'_> {
    /// The outbox kind and the template family.
    pub fn kind(&self) -> &'static str {
        match self {
            UserMail::Code { .. } => "code",
            UserMail::Link { .. } => "link",
            UserMail::Activation { .. } => "activation",
            UserMail::Notice { .. } => "notice",
        }
    }
}

/// Who a [`UserMail`] goes to.
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    /// The address.
    pub address: &'a str,
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: &'a str,
    /// The name to greet (the user name when absent).
    pub display_name: Option<&'a str>,
}

/// The mail templates: built in, each replaceable by a file of the same name in the
/// operator's template directory (`idp.templates_dir`, the one the web pages use). Files
/// ending in `.html` are HTML-escaped.
#[derive(Debug)]
pub struct MailTemplates {
    env: Environment<'static>,
}

impl MailTemplates {
    /// The built-in templates, with what `overrides` holds in their place.
    pub fn new(overrides: Option<&Path>) -> Result<MailTemplates, MailError> {
        let env = crate::templates::environment(overrides, TEMPLATES);
        let templates = MailTemplates { env };
        for (name, _) in TEMPLATES {
            templates
                .env
                .get_template(name)
                .map_err(|e| MailError::Template {
                    name: (*name).to_owned(),
                    message: format!("{e:#}"),
                })?;
        }
        Ok(templates)
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, MailError> {
        let fail = |e: minijinja::Error| MailError::Template {
            name: name.to_owned(),
            message: format!("{e:#}"),
        };
        self.env
            .get_template(name)
            .map_err(fail)?
            .render(ctx)
            .map_err(fail)
    }
}

/// Replaces every control character (CR, LF, tab, …) with a space and trims the result:
/// what goes into a header from user data can never start a header of its own.
pub fn header_safe(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.trim().to_owned()
}

/// A new RFC 5322 Message-ID, `<32 hex digits@domain>`.
pub fn new_message_id(domain: &str) -> Result<String, MailError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| MailError::Build {
            message_id: "-".into(),
            message: "no randomness for a Message-ID".into(),
        })?;
    let hex = bytes.iter().fold(String::with_capacity(32), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    });
    Ok(format!("<{hex}@{}>", header_safe(domain)))
}

fn title(kind: AlertKind) -> String {
    match kind {
        AlertKind::RuleFired(rule) => format!("rule {rule:?} fired"),
        AlertKind::ChallengeCompleted => "challenge completed".into(),
        AlertKind::ChallengeFailed => "challenge failed".into(),
        AlertKind::RegistrationRefused => "device not registered (device limit)".into(),
        other => format!("{other:?}"),
    }
}

/// Turns alerts into outbox rows (and, like [`LogNotifier`], writes each to the log).
#[derive(Debug)]
pub struct MailNotifier {
    settings: Arc<MailSettings>,
    templates: MailTemplates,
}

impl MailNotifier {
    /// From the configuration's `[mail]` (and its `idp.templates_dir` for overrides).
    /// `None` when mail is not configured.
    pub fn from_config(config: &Config) -> Result<Option<MailNotifier>, MailError> {
        let Some(settings) = &config.mail else {
            return Ok(None);
        };
        Ok(Some(MailNotifier {
            settings: Arc::new(settings.clone()),
            templates: MailTemplates::new(config.idp.templates_dir.as_deref())?,
        }))
    }

    /// The messages for `alert`: one per recipient, rendered now.
    pub fn compose(
        &self,
        alert: &Alert,
        context: &AlertContext<'_>,
    ) -> Result<Vec<NewMail>, MailError> {
        let s = &self.settings;
        let mut recipients: Vec<(String, bool)> = Vec::new();
        let to_admins = matches!(alert.audience, Audience::Admins | Audience::Both);
        let to_user = matches!(alert.audience, Audience::User | Audience::Both);
        if to_admins {
            recipients.extend(s.admins.iter().map(|a| (a.clone(), false)));
        }
        if to_user
            && s.notify_users
            && let Some(email) = context.user_email
        {
            if email.parse::<lettre::Address>().is_ok() {
                recipients.push((email.to_owned(), true));
            } else {
                tracing::warn!(user = %alert.user, "alert not mailed: the user's address is not valid");
            }
        }
        let mut seen = std::collections::HashSet::new();
        recipients.retain(|(r, _)| seen.insert(r.to_lowercase()));
        let now = i64::try_from(context.now).unwrap_or(i64::MAX);
        let at = chrono::DateTime::from_timestamp(now, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let sender = s.from_name.clone().unwrap_or_else(|| s.from.clone());
        let mut out = Vec::with_capacity(recipients.len());
        for (recipient, for_user) in recipients {
            let ctx = minijinja::context! {
                prefix => s.subject_prefix,
                title => title(alert.kind),
                message => alert.message,
                user => alert.user,
                application => alert.application,
                at => at,
                for_user => for_user,
                sender => sender,
            };
            let subject = header_safe(&self.templates.render("mail_alert_subject.txt", &ctx)?);
            out.push(NewMail {
                channel: Channel::Email,
                message_id: new_message_id(s.from_domain())?,
                kind: "alert".into(),
                recipient,
                user_id: context.user_id,
                username: Some(alert.user.clone()),
                subject,
                body_text: self.templates.render("mail_alert.txt", &ctx)?,
                body_html: self.templates.render("mail_alert.html", &ctx)?,
                created_at: now,
                limits: MailLimits {
                    per_address_hour: s.max_per_address_hour,
                    per_user_hour: s.max_per_user_hour,
                },
            });
        }
        Ok(out)
    }
}

impl MailNotifier {
    /// A message to one user, rendered now. The address must parse as an e-mail address.
    pub fn compose_user_mail(
        &self,
        mail: &UserMail<'_>,
        to: &Addressee<'_>,
        now: u64,
    ) -> Result<NewMail, MailError> {
        let s = &self.settings;
        if to.address.parse::<lettre::Address>().is_err() {
            return Err(MailError::Build {
                message_id: "-".into(),
                message: format!("the address of user {} is not valid", to.username),
            });
        }
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let at = chrono::DateTime::from_timestamp(now, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let sender = s.from_name.clone().unwrap_or_else(|| s.from.clone());
        let name = to.display_name.unwrap_or(to.username);
        let ctx = match *mail {
            UserMail::Code { code, minutes } => minijinja::context! {
                prefix => s.subject_prefix, name => name, user => to.username, code => code,
                minutes => minutes, sender => sender, at => at,
            },
            UserMail::Link { url, minutes } => minijinja::context! {
                prefix => s.subject_prefix, name => name, user => to.username, url => url,
                minutes => minutes, sender => sender, at => at,
            },
            UserMail::Activation { url, hours } => minijinja::context! {
                prefix => s.subject_prefix, name => name, user => to.username, url => url,
                hours => hours, sender => sender, at => at,
            },
            UserMail::Notice { title, message } => minijinja::context! {
                prefix => s.subject_prefix, name => name, user => to.username, title => title,
                message => message, sender => sender, at => at,
            },
        };
        let family = format!("mail_{}", mail.kind());
        Ok(NewMail {
            channel: Channel::Email,
            message_id: new_message_id(s.from_domain())?,
            kind: mail.kind().into(),
            recipient: to.address.to_owned(),
            user_id: Some(to.user_id),
            username: Some(to.username.to_owned()),
            subject: header_safe(
                &self
                    .templates
                    .render(&format!("{family}_subject.txt"), &ctx)?,
            ),
            body_text: self.templates.render(&format!("{family}.txt"), &ctx)?,
            body_html: self.templates.render(&format!("{family}.html"), &ctx)?,
            created_at: now,
            limits: MailLimits {
                per_address_hour: s.max_per_address_hour,
                per_user_hour: s.max_per_user_hour,
            },
        })
    }
}

impl Notifier for MailNotifier {
    fn notify(&self, alert: &Alert) {
        LogNotifier.notify(alert);
    }

    fn outbox(&self, alert: &Alert, context: &AlertContext<'_>) -> Vec<NewMail> {
        match self.compose(alert, context) {
            Ok(mails) => mails,
            Err(e) => {
                tracing::error!(user = %alert.user, error = %e, "alert mail could not be rendered");
                Vec::new()
            }
        }
    }
}

/// Builds the message for one outbox row: multipart/alternative (text, then HTML), the
/// row's Message-ID and subject, from the configured sender.
pub fn build_message(settings: &MailSettings, row: &OutboxMessage) -> Result<Message, MailError> {
    let fail = |message: String| MailError::Build {
        message_id: row.message_id.clone(),
        message,
    };
    let from_address = settings
        .from
        .parse::<lettre::Address>()
        .map_err(|e| fail(format!("mail.from: {e}")))?;
    let from = Mailbox::new(settings.from_name.clone(), from_address);
    let to = Mailbox::new(
        None,
        row.recipient
            .parse::<lettre::Address>()
            .map_err(|e| fail(format!("recipient: {e}")))?,
    );
    let date = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(row.created_at).unwrap_or_default());
    Message::builder()
        .from(from)
        .to(to)
        .subject(header_safe(&row.subject))
        .message_id(Some(row.message_id.clone()))
        .date(date)
        .multipart(MultiPart::alternative_plain_html(
            row.body_text.clone(),
            row.body_html.clone(),
        ))
        .map_err(|e| fail(e.to_string()))
}

/// What one round of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    /// Accepted by the relay.
    pub sent: usize,
    /// Failed and due again later.
    pub retried: usize,
    /// Failed for the last time (marked failed).
    pub failed: usize,
}

/// Sends the outbox: claims due messages, sends them, records the result.
pub struct MailWorker {
    store: Store,
    settings: Arc<MailSettings>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    owner: String,
}

impl std::fmt::Debug for MailWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailWorker")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port())
            .field("security", &self.settings.security)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Most messages claimed in one round.
const BATCH: i64 = 20;

impl MailWorker {
    /// A worker over `store` for the relay `settings` names: reads the credentials and the
    /// CA file now, so that a mistake shows at start (and in `--check-config`).
    pub fn new(store: Store, settings: &MailSettings) -> Result<MailWorker, MailError> {
        let transport = transport(settings)?;
        let owner = new_message_id("worker")?
            .trim_matches(['<', '>'])
            .to_owned();
        Ok(MailWorker {
            store,
            settings: Arc::new(settings.clone()),
            transport,
            owner,
        })
    }

    /// The wait before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff(settings: &MailSettings, attempts: i64) -> u64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        settings
            .backoff_secs
            .saturating_mul(1u64 << doublings)
            .min(settings.max_backoff_secs)
    }

    /// One round at `now` (unix seconds): every due message is attempted once.
    pub async fn run_once(&self, now: i64) -> Result<DeliveryRound, MailError> {
        let mut round = DeliveryRound::default();
        let lease = i64::try_from(self.settings.timeout_secs)
            .unwrap_or(600)
            .saturating_mul(6)
            .saturating_add(60);
        loop {
            let claimed = self
                .store
                .claim_mail(Channel::Email, &self.owner, now, lease, BATCH)
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
    ) -> Result<(), MailError> {
        let result = match build_message(&self.settings, row) {
            Ok(message) => self
                .transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                let done = unix_now().max(now);
                self.store.mark_mail_sent(row.id, &self.owner, done).await?;
                tracing::info!(outbox_id = row.id, message_id = %row.message_id, kind = %row.kind, "mail sent");
                round.sent += 1;
            }
            Err(error) if row.attempts >= i64::from(self.settings.max_attempts) => {
                self.store.fail_mail(row.id, &self.owner, &error).await?;
                tracing::error!(outbox_id = row.id, attempts = row.attempts, %error, "mail failed for good");
                round.failed += 1;
            }
            Err(error) => {
                let wait = Self::backoff(&self.settings, row.attempts);
                let next = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
                self.store
                    .retry_mail_later(row.id, &self.owner, next, &error)
                    .await?;
                tracing::warn!(outbox_id = row.id, attempts = row.attempts, retry_in_secs = wait, %error, "mail not sent; will retry");
                round.retried += 1;
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
        tracing::info!(host = %self.settings.host, port = self.settings.port(), "mail worker started");
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {
                    if let Err(e) = self.run_once(unix_now()).await {
                        tracing::warn!(error = %e, "mail delivery round failed");
                    }
                }
            }
        }
        tracing::info!("mail worker stopped");
    }
}

/// Starts a [`MailWorker`] on the current runtime when the configuration has `[mail]`.
pub fn spawn_worker<F>(
    store: Store,
    config: &Config,
    shutdown: F,
) -> Result<Option<tokio::task::JoinHandle<()>>, MailError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let Some(settings) = &config.mail else {
        return Ok(None);
    };
    let worker = MailWorker::new(store, settings)?;
    Ok(Some(tokio::spawn(worker.run(shutdown))))
}

/// Checks what `[mail]` needs beyond the file's syntax: the templates compile, the
/// credentials and the CA file can be read. For `--check-config`.
pub fn check(config: &Config) -> Result<(), MailError> {
    if let Some(settings) = &config.mail {
        MailTemplates::new(config.idp.templates_dir.as_deref())?;
        transport(settings)?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn transport(settings: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls_parameters = || -> Result<TlsParameters, MailError> {
        let mut builder = TlsParameters::builder(settings.host.clone());
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|e| MailError::CaFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| MailError::CaFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            builder = builder
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        } else {
            builder = builder.certificate_store(CertificateStore::WebpkiRoots);
        }
        builder
            .build_rustls()
            .map_err(|e| MailError::Tls(e.to_string()))
    };
    let tls = match settings.security {
        MailSecurity::Starttls => Tls::Required(tls_parameters()?),
        MailSecurity::Tls => Tls::Wrapper(tls_parameters()?),
        MailSecurity::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(settings.timeout_secs)))
        .hello_name(ClientId::Domain(settings.from_domain().to_owned()));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        let user = user.resolve().map_err(|source| MailError::Secret {
            what: "username",
            source,
        })?;
        let password = password.resolve().map_err(|source| MailError::Secret {
            what: "password",
            source,
        })?;
        builder = builder.credentials(Credentials::new(
            user.expose().to_owned(),
            password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}
