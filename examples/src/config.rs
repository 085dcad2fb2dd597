//! The one TOML configuration file: read, checked as a whole at start, with errors that name
//! the key and the line.
//!
//! Every secret in it (the store's encryption key, directory service accounts, RADIUS shared
//! secrets) may be written as `env:NAME` or `file:PATH` instead of inline; see
//! [`SecretValue`]. `docs/server.md` has the complete reference, and
//! [`DEMO_CONFIG`] is the configuration the binaries use when no file is given.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use idforge_adaptive::AdaptiveConfig;
use idforge_policy::{
    AppKind, Application, DefaultPolicy, LockoutSettings, Method, Policy, PolicyConfig, PolicySet,
    Zone,
};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ldap::LdapSettings;
use crate::secret::SecretValue;

/// The configuration used when no file is given: a data directory `./idforge-data` with the
/// SQLite store, a demo user in a demo group, an AWS console app and a RADIUS app, and a key
/// file for secrets at rest generated on first start.
pub const DEMO_CONFIG: &str = include_str!("demo.toml");

/// The environment variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "IDFORGE_CONFIG";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite store, generated keys and other state
    /// (default `./idforge-data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Marks the built-in demo configuration: a store key file is generated when missing and
    /// the demo user is created with a random password.
    #[serde(default)]
    pub demo: bool,
    /// The store.
    #[serde(default)]
    pub store: StoreSettings,
    /// Local password hashing.
    #[serde(default)]
    pub passwords: PasswordSettings,
    /// One-time passwords: enrolment parameters and verification windows.
    #[serde(default)]
    pub otp: OtpSettings,
    /// Groups that policies may name; they are created in the store at start.
    #[serde(default)]
    pub groups: Vec<String>,
    /// LDAP and Active Directory servers.
    #[serde(default)]
    pub directories: Vec<LdapSettings>,
    /// Applications users log in to.
    #[serde(default)]
    pub apps: Vec<AppSettings>,
    /// Login policies: zones, ordered policies, the default, lockout.
    pub policy: PolicySection,
    /// Adaptive (risk) rules, as `idforge-adaptive` reads them.
    #[serde(default)]
    pub adaptive: AdaptiveConfig,
    /// RADIUS clients (NAS).
    #[serde(default)]
    pub radius: RadiusSettings,
    /// The web IdP.
    #[serde(default)]
    pub idp: IdpSettings,
    /// Logging.
    #[serde(default)]
    pub log: LogSettings,
    /// E-mail delivery through the store's outbox (alerts, codes, links); off when absent.
    #[serde(default)]
    pub mail: Option<MailSettings>,
    /// SMS delivery through a gateway; the sms_otp method is unavailable when absent.
    #[serde(default)]
    pub sms: Option<crate::sms::SmsSettings>,
    /// Codes and links sent by e-mail or SMS: length, lifetime, attempts, resends.
    #[serde(default)]
    pub codes: CodeSettings,
    /// Security questions; the method is unavailable when absent.
    #[serde(default)]
    pub kba: Option<KbaSettings>,
    /// Where this configuration came from (a file name, or `demo`), for messages.
    #[serde(skip)]
    pub origin: String,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./idforge-data")
}

/// The store: where, how many connections, and the keys for secrets at rest.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (default `sqlite://DATA_DIR/idforge.db`) or `postgres://...`.
    #[serde(default)]
    pub url: Option<SecretValue>,
    /// Most connections in the pool (default 8).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Most users a server keeps in memory for the decision path (default 100000; 0 reads
    /// every login from the database).
    #[serde(default)]
    pub cache_users: Option<usize>,
    /// How often, in milliseconds, a server reads the store's change feed: the longest a change
    /// made elsewhere (the CLI, another instance) takes to reach its cache (default 100,
    /// 10-10000).
    #[serde(default)]
    pub cache_refresh_ms: Option<u64>,
    /// 32 bytes, base64, for AES-256-GCM encryption of OTP secrets. Required unless `demo`,
    /// where `DATA_DIR/store.key` is generated on first start (mode 0600).
    #[serde(default)]
    pub encryption_key: Option<SecretValue>,
    /// Earlier keys, still accepted for decryption until `idforge keys rotate` has
    /// re-encrypted every secret under the current key.
    #[serde(default)]
    pub previous_keys: Vec<SecretValue>,
}

/// argon2id parameters for local passwords. Hashes made with other parameters are re-hashed
/// at the next successful login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    /// Memory in KiB (default 19456, OWASP's minimum for argon2id).
    pub memory_kib: u32,
    /// Passes (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
    /// Shortest accepted new password (default 8, NIST SP 800-63B).
    pub min_length: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            min_length: 8,
        }
    }
}

/// One-time password settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpSettings {
    /// The issuer shown in authenticator apps.
    pub issuer: String,
    /// Digits of new enrolments (6 or 8).
    pub digits: u8,
    /// TOTP step of new enrolments, in seconds.
    pub period: u64,
    /// TOTP steps accepted before the current one (RFC 6238 §5.2 recommends 1).
    pub totp_behind: u8,
    /// TOTP steps accepted after the current one.
    pub totp_ahead: u8,
    /// HOTP counters accepted ahead of the stored one (RFC 4226 §7.2).
    pub hotp_look_ahead: u32,
}

impl Default for OtpSettings {
    fn default() -> Self {
        OtpSettings {
            issuer: "idforge".into(),
            digits: 6,
            period: 30,
            totp_behind: 1,
            totp_ahead: 1,
            hotp_look_ahead: 10,
        }
    }
}

/// `[codes]`: one-time codes and links sent by e-mail or SMS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeSettings {
    /// Digits of a code (6 to 8, default 6).
    pub length: u8,
    /// How long a code stays good, seconds (60 to 3600, default 300).
    pub ttl_secs: u64,
    /// Wrong codes before a code is void (1 to 10, default 3).
    pub max_attempts: u32,
    /// Least wait before another code is sent for the same login, seconds (default 30).
    pub resend_after_secs: u64,
    /// Most codes or links sent for one login (1 to 10, default 3).
    pub max_sends: u32,
    /// How long a sign-in link stays good, seconds (60 to 3600, default 600).
    pub link_ttl_secs: u64,
    /// How long an activation link for a new user stays good, seconds (default 72 hours).
    pub activation_ttl_secs: u64,
}

impl Default for CodeSettings {
    fn default() -> Self {
        CodeSettings {
            length: 6,
            ttl_secs: 300,
            max_attempts: 3,
            resend_after_secs: 30,
            max_sends: 3,
            link_ttl_secs: 600,
            activation_ttl_secs: 72 * 3600,
        }
    }
}

impl CodeSettings {
    fn check(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
        if !(6..=8).contains(&self.length) {
            return err("length", "must be 6, 7 or 8");
        }
        if !(60..=3600).contains(&self.ttl_secs) {
            return err("ttl_secs", "must be 60 to 3600 seconds");
        }
        if !(1..=10).contains(&self.max_attempts) {
            return err("max_attempts", "must be 1 to 10");
        }
        if self.resend_after_secs > self.ttl_secs {
            return err("resend_after_secs", "must not exceed ttl_secs");
        }
        if !(1..=10).contains(&self.max_sends) {
            return err("max_sends", "must be 1 to 10");
        }
        if !(60..=3600).contains(&self.link_ttl_secs) {
            return err("link_ttl_secs", "must be 60 to 3600 seconds");
        }
        if !(3600..=30 * 86_400).contains(&self.activation_ttl_secs) {
            return err("activation_ttl_secs", "must be one hour to 30 days");
        }
        Ok(())
    }
}

/// One security question an administrator offers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KbaQuestion {
    /// A stable id (answers are stored under it; rewording the text keeps them).
    pub id: String,
    /// The question as users read it.
    pub text: String,
}

/// `[kba]`: security questions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KbaSettings {
    /// The questions users pick from.
    pub questions: Vec<KbaQuestion>,
    /// How many a user answers at enrolment (default 3).
    #[serde(default = "default_kba_enrol")]
    pub enrol: u32,
    /// How many a challenge asks, at random among the user's (default 2).
    #[serde(default = "default_kba_ask")]
    pub ask: u32,
}

fn default_kba_enrol() -> u32 {
    3
}
fn default_kba_ask() -> u32 {
    2
}

impl KbaSettings {
    fn check(&self) -> Result<(), (String, String)> {
        let err = |key: String, message: &str| Err((key, message.to_owned()));
        let mut seen = std::collections::HashSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            if crate::store::check_name(&q.id).is_err() {
                return err(
                    format!("questions[{i}].id"),
                    "must be a short name (letters, digits, - _ .)",
                );
            }
            if !seen.insert(q.id.as_str()) {
                return err(format!("questions[{i}].id"), "is used twice");
            }
            if q.text.trim().is_empty() || q.text.chars().any(char::is_control) {
                return err(format!("questions[{i}].text"), "must be text on one line");
            }
        }
        if self.enrol == 0 || self.enrol as usize > self.questions.len() {
            return err(
                "enrol".into(),
                "must be at least 1 and at most the number of questions",
            );
        }
        if self.ask == 0 || self.ask > self.enrol {
            return err("ask".into(), "must be at least 1 and at most `enrol`");
        }
        Ok(())
    }
}

/// The policy section: what `idforge-policy` reads, without the applications, groups and
/// directories, which come from `apps`, `groups` and `directories`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Named network zones.
    #[serde(default)]
    pub zones: Vec<Zone>,
    /// Ordered policies; the first that matches decides.
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// What applies when no policy matches.
    pub default: DefaultPolicy,
    /// Lockout after failed logins, per user and per source address.
    #[serde(default)]
    pub lockout: LockoutSettings,
}

/// The kind of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppType {
    /// AWS IAM SAML federation into the console: roles per group.
    Aws,
    /// AWS IAM Identity Center, from its SAML metadata file.
    AwsIdentityCenter,
    /// A generic SAML service provider, from its metadata file.
    Saml,
    /// A RADIUS application (AWS WorkSpaces, a VPN).
    Radius,
}

impl AppType {
    /// The name used in the configuration and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AppType::Aws => "aws",
            AppType::AwsIdentityCenter => "aws-identity-center",
            AppType::Saml => "saml",
            AppType::Radius => "radius",
        }
    }

    /// Parses [`AppType::as_str`]'s names.
    pub fn parse(text: &str) -> Option<Self> {
        [
            AppType::Aws,
            AppType::AwsIdentityCenter,
            AppType::Saml,
            AppType::Radius,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }

    /// SAML or RADIUS, as policies see it.
    pub fn policy_kind(self) -> AppKind {
        match self {
            AppType::Radius => AppKind::Radius,
            _ => AppKind::Saml,
        }
    }
}

/// How a RADIUS application takes the one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RadiusMode {
    /// The code arrives as the password (AWS Directory Service MFA).
    #[default]
    OtpOnly,
    /// Password first, then an Access-Challenge for the code.
    Challenge,
    /// The code appended to the password.
    #[serde(rename = "password+otp")]
    PasswordPlusOtp,
    /// The password alone (for groups a policy exempts).
    PasswordOnly,
}

/// An AWS role a group may assume.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsRole {
    /// The group whose members get the role.
    pub group: String,
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub role_arn: String,
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub provider_arn: String,
}

/// One application.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// The identifier policies and logins use.
    pub id: String,
    /// The name users see (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// What kind of application.
    pub kind: AppType,
    /// `aws`: roles per group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<AwsRole>,
    /// `aws`: SessionDuration in seconds (900 to 43200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration_secs: Option<u32>,
    /// `saml`, `aws-identity-center`: the SP's metadata file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_file: Option<PathBuf>,
    /// `radius`: how the code is taken (default `otp-only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_mode: Option<RadiusMode>,
    /// `saml` without a metadata file: the SP's entity ID (the audience).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// `saml` without a metadata file: the SP's assertion consumer service (HTTP-POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    /// Only members of these groups may use the application (`aws` apps: the roles' groups
    /// in addition). Empty: everyone the policy lets in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// RelayState values the IdP may send with an IdP-initiated response, the first being the
    /// default (`aws`: `https://console.aws.amazon.com/` when empty). A RelayState asked for
    /// that is not listed is refused (no open redirect).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relay_states: Vec<String>,
    /// `aws`: PrincipalTag attributes, tag name to a user field (`name`, `email`,
    /// `display_name`, `phone`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub principal_tags: std::collections::BTreeMap<String, String>,
}

/// The application id of the web IdP's own portal (the dashboard): a login that starts at
/// the IdP rather than at a service provider is for it, and policies may name it.
pub const PORTAL_APP: &str = "portal";

impl AppSettings {
    /// Whether a member of `groups` may use the application: it lists no groups (its policy
    /// alone decides), or one of `groups` is among its `groups` or its roles' groups. Group
    /// names compare as the store compares them (case-insensitively).
    pub fn admits(&self, groups: &[String]) -> bool {
        let mut allowed = self
            .groups
            .iter()
            .chain(self.roles.iter().map(|r| &r.group))
            .peekable();
        allowed.peek().is_none()
            || allowed.any(|a| {
                let a = crate::store::name_key(a);
                groups.iter().any(|g| crate::store::name_key(g) == a)
            })
    }
}

/// The user fields an application may send as attributes or tags.
pub const USER_FIELDS: &[&str] = &["name", "email", "display_name", "phone"];

/// The web IdP (`idp` binary).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdpSettings {
    /// Where to listen (default `127.0.0.1:8080`; `--listen` overrides).
    pub listen: std::net::SocketAddr,
    /// The public URL browsers and service providers use (default `http://localhost:8080`).
    pub base_url: String,
    /// The SAML entity ID (default `BASE_URL/saml/metadata`).
    pub entity_id: Option<String>,
    /// The signing key (PKCS#8 PEM), as `file:PATH` or `env:NAME`. The `idp` binary needs it
    /// unless `demo`, where `DATA_DIR/idp-signing-key.pem` and a self-signed certificate are
    /// generated.
    pub signing_key: Option<SecretValue>,
    /// The signing certificate (PEM file) published in the metadata.
    pub certificate: Option<PathBuf>,
    /// A signed-in session lasts at most this long (default 8 hours).
    pub session_ttl_secs: u64,
    /// A session unused for this long ends (default 1 hour).
    pub idle_ttl_secs: u64,
    /// Users without any second factor enrol an authenticator app while signing in, when
    /// their policy asks for one (default true).
    pub enroll_at_login: bool,
    /// Serve HTTPS with this certificate chain (PEM) and `tls_key`.
    pub tls_certificate: Option<PathBuf>,
    /// The TLS private key (PEM), as `file:PATH` or `env:NAME`.
    pub tls_key: Option<SecretValue>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR prefixes).
    pub trusted_proxies: Vec<String>,
    /// A directory of page overrides: templates (`login.html`, `base.html` …), `texts.toml`
    /// and static files (`static/logo.svg`, `static/style.css`).
    pub templates_dir: Option<PathBuf>,
    /// Most login form posts per source address per minute (default 30).
    pub login_rate_per_minute: u32,
    /// The name authenticators show for this site when a security key or passkey is
    /// registered (default `idforge`). The relying party id is the host of `base_url`.
    pub webauthn_rp_name: Option<String>,
    /// The login page offers "Sign in with a passkey": a discoverable credential with user
    /// verification signs in without a password, for users whose policy allows `webauthn`
    /// (default false).
    pub passwordless: bool,
}

impl Default for IdpSettings {
    fn default() -> Self {
        IdpSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: "http://localhost:8080".into(),
            entity_id: None,
            signing_key: None,
            certificate: None,
            session_ttl_secs: 8 * 3600,
            idle_ttl_secs: 3600,
            enroll_at_login: true,
            tls_certificate: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            templates_dir: None,
            login_rate_per_minute: 30,
            webauthn_rp_name: None,
            passwordless: false,
        }
    }
}

impl IdpSettings {
    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The SAML entity ID.
    pub fn entity_id(&self) -> String {
        self.entity_id
            .clone()
            .unwrap_or_else(|| format!("{}/saml/metadata", self.base()))
    }

    /// Whether cookies get the `Secure` flag: the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// RADIUS settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusSettings {
    /// The network access servers allowed to ask.
    #[serde(default)]
    pub clients: Vec<RadiusClient>,
    /// Where the RADIUS listener of `idp` (and `radius-server` without `--listen`) listens
    /// (default `127.0.0.1:1812`).
    #[serde(default)]
    pub listen: Vec<std::net::SocketAddr>,
    /// The RADIUS application answered (default: the first app of kind `radius`).
    #[serde(default)]
    pub app: Option<String>,
}

/// A RADIUS client (NAS).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusClient {
    /// A name for logs.
    pub name: String,
    /// Source addresses, as a CIDR prefix (`10.0.0.0/24`) or one address.
    pub source: String,
    /// The shared secret.
    pub secret: SecretValue,
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` (default) or `json`.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", SMTPS; port 465 by default).
    Tls,
    /// No TLS at all: accepted only for a relay on a loopback address (port 25 by default).
    None,
}

impl MailSecurity {
    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            MailSecurity::Starttls => 587,
            MailSecurity::Tls => 465,
            MailSecurity::None => 25,
        }
    }
}

/// `[mail]`: the SMTP relay, the sender, who receives alerts, rate limits and retries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The relay's host name or address.
    pub host: String,
    /// The relay's port (default by `security`: 587, 465 or 25).
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none` (loopback relays only).
    #[serde(default)]
    pub security: MailSecurity,
    /// SMTP AUTH user name (`env:NAME` / `file:PATH` accepted); no AUTH when absent.
    #[serde(default)]
    pub username: Option<SecretValue>,
    /// SMTP AUTH password (best as `env:NAME` or `file:PATH`); required with `username`.
    #[serde(default)]
    pub password: Option<SecretValue>,
    /// The sender's address (`From:`); its domain also names the Message-IDs.
    pub from: String,
    /// The sender's display name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Connect and per-command timeout, seconds (default 30).
    #[serde(default = "default_mail_timeout")]
    pub timeout_secs: u64,
    /// PEM file of the CA (or the self-signed certificate) that the relay's certificate must
    /// chain to; the public web roots when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Administrators' addresses: alerts for administrators go to each.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Whether users receive the alerts about their own account (to their stored address).
    #[serde(default)]
    pub notify_users: bool,
    /// Most messages to one address in any hour; the rest are recorded as suppressed.
    #[serde(default = "default_per_address")]
    pub max_per_address_hour: u32,
    /// Most messages about one user in any hour; the rest are recorded as suppressed.
    #[serde(default = "default_per_user")]
    pub max_per_user_hour: u32,
    /// Delivery attempts before a message is marked failed (default 8).
    #[serde(default = "default_mail_attempts")]
    pub max_attempts: u32,
    /// Wait after the first failed attempt, seconds; doubled after each further one
    /// (default 30).
    #[serde(default = "default_mail_backoff")]
    pub backoff_secs: u64,
    /// Longest wait between attempts, seconds (default 3600).
    #[serde(default = "default_mail_max_backoff")]
    pub max_backoff_secs: u64,
    /// How often the delivery worker looks for due messages, milliseconds (default 5000).
    #[serde(default = "default_mail_poll")]
    pub poll_ms: u64,
    /// Put before every subject (default `[idforge]`).
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
}

fn default_mail_timeout() -> u64 {
    30
}
fn default_per_address() -> u32 {
    20
}
fn default_per_user() -> u32 {
    10
}
fn default_mail_attempts() -> u32 {
    8
}
fn default_mail_backoff() -> u64 {
    30
}
fn default_mail_max_backoff() -> u64 {
    3600
}
fn default_mail_poll() -> u64 {
    5000
}
fn default_subject_prefix() -> String {
    "[idforge]".into()
}

impl MailSettings {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }

    /// The domain of the sender's address (for Message-IDs and `EHLO`).
    pub fn from_domain(&self) -> &str {
        self.from.rsplit_once('@').map_or("localhost", |(_, d)| d)
    }

    /// Checks what serde cannot: returns the key (relative to `mail`) and what is wrong.
    pub fn check(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
        if self.host.is_empty() || self.host.chars().any(|c| c.is_control() || c == ' ') {
            return err("host", "must be a host name or address");
        }
        if self.port == Some(0) {
            return err("port", "must be 1 to 65535");
        }
        if self.security == MailSecurity::None && !is_loopback_host(&self.host) {
            return err(
                "security",
                "`none` sends in clear text and is accepted only for a loopback relay \
                 (localhost, 127.0.0.0/8, ::1); use `starttls` or `tls`",
            );
        }
        match (&self.username, &self.password) {
            (Some(_), None) => return err("password", "is required with `username`"),
            (None, Some(_)) => return err("username", "is required with `password`"),
            _ => {}
        }
        if self.from.parse::<lettre::Address>().is_err() {
            return err("from", "must be an e-mail address such as idp@example.com");
        }
        if let Some(name) = &self.from_name
            && let Err(m) = check_header_text(name)
        {
            return err("from_name", m);
        }
        if let Err(m) = check_header_text(&self.subject_prefix) {
            return err("subject_prefix", m);
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return err("timeout_secs", "must be 1 to 600");
        }
        for (i, a) in self.admins.iter().enumerate() {
            if a.parse::<lettre::Address>().is_err() {
                return Err((format!("admins[{i}]"), "is not an e-mail address".into()));
            }
        }
        if self.max_per_address_hour == 0 || self.max_per_user_hour == 0 {
            return err(
                "max_per_address_hour",
                "rate limits must be at least 1 (remove [mail] to send nothing)",
            );
        }
        if !(1..=100).contains(&self.max_attempts) {
            return err("max_attempts", "must be 1 to 100");
        }
        if !(1..=86_400).contains(&self.backoff_secs) {
            return err("backoff_secs", "must be 1 to 86400");
        }
        if self.max_backoff_secs < self.backoff_secs || self.max_backoff_secs > 7 * 86_400 {
            return err(
                "max_backoff_secs",
                "must be at least backoff_secs and at most 604800",
            );
        }
        if !(50..=600_000).contains(&self.poll_ms) {
            return err("poll_ms", "must be 50 to 600000");
        }
        Ok(())
    }
}

/// Whether `host` names this machine's loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Text that goes into a mail header (a display name, a subject prefix): no control
/// characters at all, so no CR or LF that could start a header of its own.
pub fn check_header_text(text: &str) -> Result<(), &'static str> {
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters (CR, LF, tab, …)");
    }
    if text.chars().count() > 200 {
        return Err("must be at most 200 characters");
    }
    Ok(())
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Not TOML, or a value of the wrong type or an unknown key.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// Well-formed, but a value is not acceptable.
    #[error("{origin}:{}: {key}: {message}", line.map_or_else(|| "?".to_owned(), |l| l.to_string()))]
    Invalid {
        /// The file.
        origin: String,
        /// The key, as a path (`apps[1].roles[0].role_arn`).
        key: String,
        /// 1-based line of the key, when it is in the file.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads the file named by `--config`, else by `IDFORGE_CONFIG`, else the demo
    /// configuration.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env_path = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        match path.map(Path::to_path_buf).or(env_path) {
            Some(path) => Config::from_file(&path),
            None => Config::demo(),
        }
    }

    /// The built-in demo configuration.
    pub fn demo() -> Result<Config, ConfigError> {
        Config::from_toml(DEMO_CONFIG, "demo configuration")
    }

    /// Reads and checks a file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml(&text, &path.display().to_string())?;
        // Relative paths in the file are relative to the file, not to the working directory.
        if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            config.rebase(base);
        }
        Ok(config)
    }

    /// Parses and checks TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            ConfigError::Syntax {
                origin: origin.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        origin.clone_into(&mut config.origin);
        if let Err((key, message)) = config.check() {
            let line = key_line(text, &key);
            return Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                key,
                line,
                message,
            });
        }
        Ok(config)
    }

    fn rebase(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.data_dir);
        for app in &mut self.apps {
            if let Some(p) = app.metadata_file.as_mut() {
                join(p);
            }
        }
        for d in &mut self.directories {
            if let Some(p) = d.ca_file.as_mut() {
                join(p);
            }
        }
        for p in [
            &mut self.idp.certificate,
            &mut self.idp.tls_certificate,
            &mut self.idp.templates_dir,
        ]
        .into_iter()
        .flatten()
        {
            join(p);
        }
        for p in self.mail.iter_mut().filter_map(|m| m.ca_file.as_mut()) {
            join(p);
        }
        for p in self.sms.iter_mut().filter_map(|s| s.ca_file.as_mut()) {
            join(p);
        }
    }

    /// The store URL: the configured one, or SQLite in the data directory.
    pub fn store_url(&self) -> Result<String, crate::secret::SecretError> {
        match &self.store.url {
            Some(url) => Ok(url.resolve()?.expose().to_owned()),
            None => Ok(format!(
                "sqlite://{}",
                self.data_dir.join("idforge.db").display()
            )),
        }
    }

    /// The policy configuration `idforge-policy` validates, with the applications, groups and
    /// directories declared here.
    pub fn policy_config(&self) -> PolicyConfig {
        PolicyConfig {
            applications: self
                .apps
                .iter()
                .map(|a| Application {
                    id: a.id.clone(),
                    kind: a.kind.policy_kind(),
                })
                .chain(std::iter::once(Application {
                    id: PORTAL_APP.into(),
                    kind: AppKind::Saml,
                }))
                .collect(),
            groups: self.groups.clone(),
            directories: self.directories.iter().map(|d| d.name.clone()).collect(),
            zones: self.policy.zones.clone(),
            policies: self.policy.policies.clone(),
            default: self.policy.default.clone(),
            lockout: self.policy.lockout,
        }
    }

    /// The validated policies.
    pub fn policy_set(&self) -> Result<PolicySet, idforge_policy::Error> {
        self.policy_config().validate()
    }

    /// Checks what serde cannot: returns the key path and what is wrong.
    fn check(&self) -> Result<(), (String, String)> {
        let err = |key: String, message: &str| Err((key, message.to_owned()));
        if let Some(n) = self.store.max_connections
            && !(1..=1000).contains(&n)
        {
            return err("store.max_connections".into(), "must be 1 to 1000");
        }
        if let Some(n) = self.store.cache_users
            && n > 10_000_000
        {
            return err("store.cache_users".into(), "must be at most 10000000");
        }
        if let Some(ms) = self.store.cache_refresh_ms
            && !(10..=10_000).contains(&ms)
        {
            return err("store.cache_refresh_ms".into(), "must be 10 to 10000");
        }
        if let Some(SecretValue::Inline(url)) = &self.store.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return err(
                "store.url".into(),
                "must start with sqlite:, postgres:// or postgresql://",
            );
        }
        if self.store.encryption_key.is_none() && !self.demo {
            return err(
                "store.encryption_key".into(),
                "is required (32 random bytes in base64, best as env:NAME or file:PATH); \
                 `openssl rand -base64 32` makes one",
            );
        }
        let p = &self.passwords;
        if p.memory_kib < 8 * p.parallelism.max(1) || p.memory_kib > 4 * 1024 * 1024 {
            return err(
                "passwords.memory_kib".into(),
                "must be at least 8 x parallelism and at most 4194304",
            );
        }
        if p.iterations == 0 || p.iterations > 100 {
            return err("passwords.iterations".into(), "must be 1 to 100");
        }
        if p.parallelism == 0 || p.parallelism > 64 {
            return err("passwords.parallelism".into(), "must be 1 to 64");
        }
        if p.min_length == 0 || p.min_length > 256 {
            return err("passwords.min_length".into(), "must be 1 to 256");
        }
        let o = &self.otp;
        if !(6..=8).contains(&o.digits) {
            return err("otp.digits".into(), "must be 6, 7 or 8");
        }
        if !(15..=300).contains(&o.period) {
            return err("otp.period".into(), "must be 15 to 300 seconds");
        }
        if o.totp_behind > 10 || o.totp_ahead > 10 {
            return err(
                "otp.totp_behind".into(),
                "windows above 10 steps are refused",
            );
        }
        if o.hotp_look_ahead > 1000 {
            return err("otp.hotp_look_ahead".into(), "must be at most 1000");
        }
        if o.issuer.is_empty() || o.issuer.contains(':') {
            return err("otp.issuer".into(), "must be non-empty and without ':'");
        }
        for (i, g) in self.groups.iter().enumerate() {
            if let Err(m) = crate::store::check_name(g) {
                return err(format!("groups[{i}]"), m);
            }
            if self.groups[..i].contains(g) {
                return err(format!("groups[{i}]"), "is declared twice");
            }
        }
        for (i, d) in self.directories.iter().enumerate() {
            if self.directories[..i].iter().any(|o| o.name == d.name) {
                return err(format!("directories[{i}].name"), "is used twice");
            }
            if let Err(e) = d.validate() {
                return Err((format!("directories[{i}]"), e.to_string()));
            }
            if d.name == "local" {
                return err(
                    format!("directories[{i}].name"),
                    "`local` is the local user store",
                );
            }
        }
        for (i, app) in self.apps.iter().enumerate() {
            if let Err((key, message)) = check_app(app) {
                return Err((format!("apps[{i}].{key}"), message));
            }
            if self.apps[..i].iter().any(|o| o.id == app.id) {
                return err(format!("apps[{i}].id"), "is used twice");
            }
            for (j, role) in app.roles.iter().enumerate() {
                if !self.groups.contains(&role.group) {
                    return err(
                        format!("apps[{i}].roles[{j}].group"),
                        "names a group not declared in `groups`",
                    );
                }
            }
        }
        for (i, c) in self.radius.clients.iter().enumerate() {
            if parse_prefix(&c.source).is_none() {
                return err(
                    format!("radius.clients[{i}].source"),
                    "must be an address or a CIDR prefix such as 10.0.0.0/24",
                );
            }
            if self.radius.clients[..i].iter().any(|o| o.name == c.name) {
                return err(format!("radius.clients[{i}].name"), "is used twice");
            }
        }
        for (i, app) in self.apps.iter().enumerate() {
            for (j, g) in app.groups.iter().enumerate() {
                if !self.groups.contains(g) {
                    return err(
                        format!("apps[{i}].groups[{j}]"),
                        "names a group not declared in `groups`",
                    );
                }
            }
        }
        if let Err((key, message)) = self.idp.check() {
            return Err((format!("idp.{key}"), message));
        }
        if let Some(app) = &self.radius.app
            && !self
                .apps
                .iter()
                .any(|a| &a.id == app && a.kind == AppType::Radius)
        {
            return err("radius.app".into(), "names no app of kind radius");
        }
        if let Err(e) = self.policy_set() {
            return Err(("policy".into(), e.to_string()));
        }
        if let Err(e) = self.adaptive.compile() {
            return Err(("adaptive".into(), e.to_string()));
        }
        if let Some(mail) = &self.mail
            && let Err((key, message)) = mail.check()
        {
            return Err((format!("mail.{key}"), message));
        }
        if let Some(sms) = &self.sms
            && let Err((key, message)) = sms.check()
        {
            return Err((format!("sms.{key}"), message));
        }
        // A method or challenge type needs the channel that carries it.
        let listed = self
            .policy
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("policy.policies[{i}].methods"), &p.methods))
            .chain(std::iter::once((
                "policy.default.methods".to_owned(),
                &self.policy.default.methods,
            )));
        for (key, methods) in listed {
            for m in methods {
                let missing = match m {
                    Method::EmailOtp | Method::EmailLink if self.mail.is_none() => "[mail]",
                    Method::SmsOtp if self.sms.is_none() => "[sms]",
                    Method::SecurityQuestions if self.kba.is_none() => "[kba]",
                    _ => continue,
                };
                return Err((key, format!("`{}` needs a {missing} section", m.as_str())));
            }
        }
        for t in &self.adaptive.challenge_types {
            let missing = match t {
                idforge_adaptive::ChallengeType::AlternateEmailOtp if self.mail.is_none() => {
                    "[mail]"
                }
                idforge_adaptive::ChallengeType::SecurityQuestions if self.kba.is_none() => "[kba]",
                _ => continue,
            };
            return Err((
                "adaptive.challenge_types".into(),
                format!("{t:?} needs a {missing} section"),
            ));
        }
        if let Err((key, message)) = self.codes.check() {
            return Err((format!("codes.{key}"), message));
        }
        if let Some(kba) = &self.kba
            && let Err((key, message)) = kba.check()
        {
            return Err((format!("kba.{key}"), message));
        }
        Ok(())
    }
}

/// Checks one application; the key is relative to the application.
pub fn check_app(app: &AppSettings) -> Result<(), (String, String)> {
    let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
    if let Err(m) = crate::store::check_name(&app.id) {
        return err("id", m);
    }
    if app.id == PORTAL_APP {
        return err("id", "`portal` is the IdP's own dashboard");
    }
    match app.kind {
        AppType::Aws => {
            if app.roles.is_empty() {
                return err("roles", "an aws app needs at least one role");
            }
            for (j, role) in app.roles.iter().enumerate() {
                if !is_arn(&role.role_arn, "role/") {
                    return err(
                        &format!("roles[{j}].role_arn"),
                        "must look like arn:aws:iam::123456789012:role/NAME",
                    );
                }
                if !is_arn(&role.provider_arn, "saml-provider/") {
                    return err(
                        &format!("roles[{j}].provider_arn"),
                        "must look like arn:aws:iam::123456789012:saml-provider/NAME",
                    );
                }
            }
            if let Some(d) = app.session_duration_secs
                && !(900..=43_200).contains(&d)
            {
                return err("session_duration_secs", "must be 900 to 43200 (AWS limits)");
            }
        }
        AppType::AwsIdentityCenter => {
            if app.metadata_file.is_none() {
                return err("metadata_file", "this kind of app needs the SP's metadata");
            }
        }
        AppType::Saml => match (&app.metadata_file, &app.entity_id, &app.acs_url) {
            (Some(_), None, None) => {}
            (None, Some(id), Some(acs)) => {
                if id.trim().is_empty() {
                    return err("entity_id", "must not be empty");
                }
                if !is_http_url(acs) {
                    return err("acs_url", "must be an http:// or https:// URL");
                }
            }
            (Some(_), _, _) => {
                return err(
                    "entity_id",
                    "give either metadata_file or entity_id with acs_url, not both",
                );
            }
            _ => {
                return err(
                    "metadata_file",
                    "a saml app needs the SP's metadata_file, or entity_id and acs_url",
                );
            }
        },
        AppType::Radius => {}
    }
    if app.kind != AppType::Saml && (app.entity_id.is_some() || app.acs_url.is_some()) {
        return err("entity_id", "only saml apps take entity_id and acs_url");
    }
    for (j, r) in app.relay_states.iter().enumerate() {
        if !is_http_url(r) {
            return err(
                &format!("relay_states[{j}]"),
                "must be an http:// or https:// URL",
            );
        }
    }
    if app.kind == AppType::Radius && !app.relay_states.is_empty() {
        return err("relay_states", "radius apps have no RelayState");
    }
    for (tag, field) in &app.principal_tags {
        if app.kind != AppType::Aws {
            return err("principal_tags", "only aws apps have principal tags");
        }
        if tag.is_empty()
            || !tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:/=+-@".contains(&b))
        {
            return err(
                "principal_tags",
                "tag names are AWS tag keys (letters, digits, _.:/=+-@)",
            );
        }
        if !USER_FIELDS.contains(&field.as_str()) {
            return err(
                &format!("principal_tags.{tag}"),
                "must be one of name, email, display_name, phone",
            );
        }
    }
    if app.kind != AppType::Aws && !app.roles.is_empty() {
        return err("roles", "only aws apps have roles");
    }
    if app.kind != AppType::Radius && app.radius_mode.is_some() {
        return err("radius_mode", "only radius apps have a mode");
    }
    Ok(())
}

/// Whether `text` is an absolute http(s) URL with a host.
pub fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

impl IdpSettings {
    /// Checks the settings; the key is relative to `idp`.
    fn check(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
        if !is_http_url(&self.base_url) || self.base_url.contains(['?', '#']) {
            return err(
                "base_url",
                "must be an http:// or https:// URL without query",
            );
        }
        if self.signing_key.is_some() != self.certificate.is_some() {
            return err("certificate", "signing_key and certificate go together");
        }
        if self.tls_certificate.is_some() != self.tls_key.is_some() {
            return err("tls_key", "tls_certificate and tls_key go together");
        }
        if !(60..=30 * 86_400).contains(&self.session_ttl_secs) {
            return err("session_ttl_secs", "must be 60 s to 30 days");
        }
        if !(60..=self.session_ttl_secs).contains(&self.idle_ttl_secs) {
            return err("idle_ttl_secs", "must be 60 s to session_ttl_secs");
        }
        if self.login_rate_per_minute == 0 {
            return err("login_rate_per_minute", "must be at least 1");
        }
        for (i, p) in self.trusted_proxies.iter().enumerate() {
            if parse_prefix(p).is_none() {
                return err(
                    &format!("trusted_proxies[{i}]"),
                    "must be an address or a CIDR prefix",
                );
            }
        }
        Ok(())
    }
}

/// Whether `arn` is an IAM ARN of the given resource kind (`role/`, `saml-provider/`), in any
/// AWS partition.
pub fn is_arn(arn: &str, resource: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, rest] = parts[..] else {
        return false;
    };
    prefix == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && rest
            .strip_prefix(resource)
            .is_some_and(|name| !name.is_empty() && !name.contains(','))
}

/// Parses `10.0.0.0/24` or a single address.
pub fn parse_prefix(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The line of a key path such as `apps[1].roles[0].role_arn`: the deepest part of the path
/// that is in the file.
fn key_line(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut table = Some(doc.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for part in key.split('.') {
        let (name, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let ((Some(current), _) | (None, Some(DeValue::Table(current)))) = (table, value) else {
            break;
        };
        let Some((k, v)) = current.iter().find(|(k, _)| k.get_ref().as_ref() == name) else {
            break;
        };
        span = Some(k.span());
        let mut v = v;
        for index in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Ok(i) = index.parse::<usize>() else { break };
            match v.get_ref() {
                DeValue::Array(items) => match items.get(i) {
                    Some(item) => {
                        span = Some(item.span());
                        v = item;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        table = None;
        value = Some(v.get_ref());
    }
    span.map(|s| line_column(text, s.start).0)
}

impl fmt::Display for AppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    proptest::proptest! {
        /// Any text: a configuration or a typed error naming a place in it, never a panic.
        #[test]
        fn any_text_is_a_config_or_a_located_error(text in "(\\PC|\n|\\[|\\]|=|\"){0,300}") {
            match Config::from_toml(&text, "fuzz.toml") {
                Ok(_) => {}
                Err(ConfigError::Syntax { line, .. }) => {
                    proptest::prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
                }
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("fuzz.toml:")),
            }
        }

        /// A key path of any shape finds a line of the document or none, never a panic.
        #[test]
        fn key_paths_of_any_shape_are_located_safely(key in "[a-z_\\[\\]0-9.]{0,40}") {
            let text = DEMO_CONFIG;
            if let Some(line) = key_line(text, &key) {
                proptest::prop_assert!(line >= 1 && line <= text.lines().count());
            }
        }
    }

    #[test]
    fn the_demo_configuration_is_valid() {
        let c = Config::demo().unwrap();
        assert!(c.demo);
        assert!(c.store_url().unwrap().starts_with("sqlite://"));
        c.policy_set().unwrap();
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text = "demo = true\n[policy.default]\nfirst_factor = \"local_password\"\nsecond_factor = 3\nmethods = []\n";
        let e = Config::from_toml(text, "x.toml").unwrap_err();
        let ConfigError::Syntax { line, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(*line, 4, "{e}");
        assert!(e.to_string().starts_with("x.toml:4:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let text = format!("{}\nfavourite_colour = \"blue\"\n", minimal());
        let e = Config::from_toml(&text, "x.toml").unwrap_err();
        assert!(e.to_string().contains("favourite_colour"), "{e}");
    }

    fn minimal() -> &'static str {
        "store.encryption_key = \"env:K\"\n[policy.default]\nfirst_factor = \"local_password\"\nsecond_factor = \"required\"\nmethods = [\"totp\"]\n"
    }

    #[test]
    fn semantic_errors_name_the_key_and_its_line() {
        let lines = [
            "groups = [\"Admins\"]",
            "store.encryption_key = \"env:K\"",
            "[policy.default]",
            "first_factor = \"local_password\"",
            "second_factor = \"required\"",
            "methods = [\"totp\"]",
            "[[apps]]",
            "id = \"r\"",
            "kind = \"radius\"",
            "[[apps]]", // line 10: an aws app without roles
            "id = \"aws\"",
            "kind = \"aws\"",
            "[[apps]]",
            "id = \"aws2\"",
            "kind = \"aws\"",
            "[[apps.roles]]",
            "group = \"Admins\"",
            "role_arn = \"arn:aws:iam::123:role/X\"", // line 18: a short account number
            "provider_arn = \"arn:aws:iam::123456789012:saml-provider/P\"",
        ];
        let text = lines.join("\n");
        let e = Config::from_toml(&text, "x.toml").unwrap_err();
        let ConfigError::Invalid { key, line, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(key, "apps[1].roles");
        assert_eq!(*line, Some(10), "{e}");
        // Fix the first problem: the second is found, on its own line.
        let text = text.replace(
            "id = \"aws\"\nkind = \"aws\"",
            "id = \"aws\"\nkind = \"radius\"",
        );
        let e = Config::from_toml(&text, "x.toml").unwrap_err();
        let ConfigError::Invalid { key, line, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(key, "apps[2].roles[0].role_arn");
        assert_eq!(*line, Some(18), "{e}");
        assert!(
            e.to_string()
                .starts_with("x.toml:18: apps[2].roles[0].role_arn: "),
            "{e}"
        );
    }

    #[test]
    fn a_method_needs_the_section_of_its_channel() {
        let with = |method: &str, extra: &str| {
            let text = minimal().replace("[\"totp\"]", &format!("[\"{method}\"]")) + extra;
            Config::from_toml(&text, "x.toml")
        };
        for (method, section) in [
            ("email_otp", "[mail]"),
            ("email_link", "[mail]"),
            ("sms_otp", "[sms]"),
            ("security_questions", "[kba]"),
        ] {
            let e = with(method, "").unwrap_err().to_string();
            assert!(
                e.contains("policy.default.methods") && e.contains(section),
                "{method}: {e}"
            );
        }
        let kba = "[kba]\nenrol = 1\nask = 1\nquestions = [{ id = \"pet\", text = \"Your first pet?\" }]\n";
        with("security_questions", kba).unwrap();
        let adaptive = format!(
            "{}[adaptive]\nchallenge_types = [\"alternate_email_otp\"]\n",
            minimal()
        );
        let e = Config::from_toml(&adaptive, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("adaptive.challenge_types") && e.contains("[mail]"),
            "{e}"
        );
    }

    #[test]
    fn codes_and_questions_are_checked() {
        let bad = [
            ("[codes]\nlength = 5\n", "codes.length"),
            ("[codes]\nttl_secs = 10\n", "codes.ttl_secs"),
            ("[codes]\nmax_attempts = 0\n", "codes.max_attempts"),
            (
                "[codes]\nresend_after_secs = 400\n",
                "codes.resend_after_secs",
            ),
            (
                "[kba]\nenrol = 2\nask = 1\nquestions = [{ id = \"a\", text = \"A?\" }]\n",
                "kba.enrol",
            ),
            (
                "[kba]\nenrol = 1\nask = 2\nquestions = [{ id = \"a\", text = \"A?\" }]\n",
                "kba.ask",
            ),
            (
                "[kba]\nenrol = 1\nask = 1\nquestions = [{ id = \"a\", text = \"A?\" }, { id = \"a\", text = \"B?\" }]\n",
                "kba.questions[1].id",
            ),
        ];
        for (extra, key) in bad {
            let text = format!("{}{extra}", minimal());
            let e = Config::from_toml(&text, "x.toml").unwrap_err().to_string();
            assert!(e.contains(key), "{extra}: {e}");
        }
    }

    #[test]
    fn a_production_configuration_needs_a_key() {
        let text = "[policy.default]\nfirst_factor = \"local_password\"\nsecond_factor = \"required\"\nmethods = [\"totp\"]\n";
        let e = Config::from_toml(text, "x.toml").unwrap_err();
        assert!(e.to_string().contains("store.encryption_key"), "{e}");
    }

    #[test]
    fn policy_errors_are_reported_under_policy() {
        let text = format!(
            "{}[[policy.policies]]\nname = \"p\"\ngroups = [\"Nobody\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            minimal()
        );
        let e = Config::from_toml(&text, "x.toml").unwrap_err();
        let ConfigError::Invalid { key, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(key, "policy");
        assert!(e.to_string().contains("Nobody"), "{e}");
    }

    #[test]
    fn the_complete_example_in_docs_server_md_loads() {
        let doc = include_str!("../../docs/server.md");
        let start = doc.find("<!-- complete-example -->\n```toml\n").unwrap();
        let rest = &doc[start..];
        let body = &rest[rest.find('\n').unwrap() + 9..];
        let text = &body[..body.find("```").unwrap()];
        let c = Config::from_toml(text, "docs/server.md").unwrap();
        assert_eq!(c.directories.len(), 1);
        assert_eq!(c.apps.len(), 3);
        assert_eq!(c.radius.clients.len(), 1);
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(!c.demo);
        assert_eq!(c.policy_set().unwrap().config().policies.len(), 2);
    }

    #[test]
    fn the_codes_and_questions_example_in_docs_server_md_loads() {
        let doc = include_str!("../../docs/server.md");
        let start = doc.find("<!-- codes-example -->\n```toml\n").unwrap();
        let rest = &doc[start..];
        let body = &rest[rest.find('\n').unwrap() + 9..];
        let text = format!("{}{}", minimal(), &body[..body.find("```").unwrap()]);
        let c = Config::from_toml(&text, "docs/server.md").unwrap();
        assert_eq!(c.codes, CodeSettings::default());
        let kba = c.kba.unwrap();
        assert_eq!((kba.enrol, kba.ask, kba.questions.len()), (3, 2, 4));
    }

    #[test]
    fn apps_admit_their_groups_and_roles_groups_or_everyone() {
        let c = Config::demo().unwrap();
        let aws = c.apps.iter().find(|a| a.id == "aws-console").unwrap();
        let open = c.apps.iter().find(|a| a.id == "demo-sp").unwrap();
        let g = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert!(aws.admits(&g(&["staff"])), "a role's group, any case");
        assert!(!aws.admits(&g(&["VPN_Group"])));
        assert!(!aws.admits(&[]));
        assert!(open.admits(&[]), "no groups listed: everyone");
        let mut listed = open.clone();
        listed.groups = g(&["Admins"]);
        assert!(listed.admits(&g(&["Staff", "Admins"])));
        assert!(!listed.admits(&g(&["Staff"])));
    }

    #[test]
    fn arns_are_checked() {
        assert!(is_arn("arn:aws:iam::123456789012:role/Admin", "role/"));
        assert!(is_arn(
            "arn:aws-us-gov:iam::123456789012:saml-provider/idforge",
            "saml-provider/"
        ));
        assert!(!is_arn("arn:aws:iam::12345678901:role/Admin", "role/"));
        assert!(!is_arn("arn:aws:iam::123456789012:user/Admin", "role/"));
        assert!(!is_arn("arn:aws:iam::123456789012:role/", "role/"));
        assert!(!is_arn("arn:aws:iam::123456789012:role/A,B", "role/"));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idforge.toml");
        std::fs::write(&path, format!("data_dir = \"data\"\n{}", minimal())).unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.data_dir, dir.path().join("data"));
        let with_directory = format!(
            "data_dir = \"data\"\n{}[[directories]]\nname = \"corp\"\nurl = \"ldaps://dc.example.com\"\nca_file = \"ca.pem\"\nuser_base = \"dc=example,dc=com\"\nuser_filter = \"uid\"\n",
            minimal()
        );
        std::fs::write(&path, with_directory).unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.directories[0].ca_file, Some(dir.path().join("ca.pem")));
    }
}
