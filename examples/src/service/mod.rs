//! The one decision path every front door uses.
//!
//! [`Service::authenticate`] runs a login from the first factor to the audit entry:
//!
//! 1. lockout gate for the user name and the source address (`idforge-policy`);
//! 2. first factor: the local argon2id hash, or the user's directory (`idforge-ldap-auth`), or
//!    none when the front door says an upstream system checks the password (AWS WorkSpaces);
//! 3. account status, then the `policy` decision for (application, groups, address, source);
//! 4. the `adaptive` assessment, with the user's devices and past logins from the store;
//! 5. a second factor when the policy or the assessment asks for one: TOTP, HOTP or a backup
//!    code, each accepted through the store's atomic replay guard;
//! 6. lockout counters, the login record, device registration, alerts, and one audit entry.
//!
//! When a second factor is needed and the request carries none, the answer is
//! [`Outcome::NeedSecondFactor`] with a [`PendingLogin`] the front door keeps (RADIUS State,
//! a web session) and passes to [`Service::complete`] with the code.

use std::net::IpAddr;
use std::sync::Arc;

mod account;
mod delivered;
mod invite;
mod kba;
mod trusted;
mod webauthn;
mod yubikey;

pub use account::{PasswordChange, REAUTH_SECS};
pub use delivered::{Choice, Delivery, Sent, mask_email};
pub use invite::{Activation, Invitation};
pub use kba::{KBA_METHOD, KbaError, MIN_ANSWER_CHARS, normalise_answer};
pub use trusted::{Remembered, TRUSTED_FACTOR};
pub use webauthn::{
    CEREMONY_TTL_SECS, Ceremony, MAX_CREDENTIAL_NAME_CHARS, Purpose, RegistrationError,
    VerifiedPasskey, WEBAUTHN_METHOD,
};
pub use yubikey::{YUBICO_METHOD, split_yubico_otp};

use idforge_adaptive::{
    Action, Alert, ChallengeType, LoginAttempt, Registration, RiskEvaluator as _, RuleSet,
};
use idforge_otp::{Digits, Hotp, HotpVerifier, Rejected, Totp, TotpVerifier};
use idforge_policy::{AuthSource, FirstFactor, Gate, LoginRequest, Method, PolicySet};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::config::Config;
use crate::crypto::{Key, Keyring};
use crate::ldap::{LdapDirectory, LdapLogin};
use crate::notify::{AlertContext, LogNotifier, Notifier};
use crate::password::{PasswordHasher, Verified};
use crate::store::{
    AuditEntry, FactorKind, LoginRecord, NewMail, NewUser, Store, StoreError, User, UserStatus,
    UserView,
};

/// Why the service could not decide (infrastructure, not a refused login).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be loaded.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// A secret in the configuration could not be read.
    #[error("{what}: {source}")]
    Secret {
        /// Which setting.
        what: String,
        /// Why.
        source: crate::secret::SecretError,
    },
    /// The policies or rules did not validate.
    #[error("configuration: {0}")]
    Config(String),
    /// A directory could not be set up.
    #[error("directory {name}: {message}")]
    Directory {
        /// Its name.
        name: String,
        /// What failed.
        message: String,
    },
    /// Password hashing failed.
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    /// A pending login does not belong to this request.
    #[error("the pending login has expired or does not match")]
    PendingMismatch,
}

/// Which front door a request came through (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontDoor {
    /// The RADIUS server.
    Radius,
    /// The web IdP.
    Web,
    /// The administration CLI.
    Cli,
}

impl FrontDoor {
    fn as_str(self) -> &'static str {
        match self {
            FrontDoor::Radius => "radius",
            FrontDoor::Web => "web",
            FrontDoor::Cli => "cli",
        }
    }
}

/// The first factor as the front door received it.
#[derive(Clone, Copy)]
pub enum FirstFactorInput<'a> {
    /// A password to check.
    Password(&'a str),
    /// The front door's upstream checks the password itself (AWS Directory Service checks
    /// it against Active Directory after the RADIUS server accepted the code).
    Upstream,
    /// The front door's own signed-in session vouches for the first factor (single sign-on
    /// to a further application). `second_factor` names the method the session passed
    /// (`totp`, `hotp_token`, `backup_code`), if any: it satisfies an application whose
    /// policy allows that method, otherwise a second factor is asked for again (step-up).
    Session {
        /// The second factor the session passed.
        second_factor: Option<&'a str>,
    },
    /// A passkey assertion with user verification that the service verified (see
    /// [`Service::sign_in_with_passkey`]): it names the user and counts as both factors
    /// when the policy allows `webauthn`.
    Passkey(&'a VerifiedPasskey),
}

impl std::fmt::Debug for FirstFactorInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirstFactorInput::Password(_) => f.write_str("Password(**redacted**)"),
            FirstFactorInput::Upstream => f.write_str("Upstream"),
            FirstFactorInput::Session { second_factor } => f
                .debug_struct("Session")
                .field("second_factor", second_factor)
                .finish(),
            FirstFactorInput::Passkey(_) => f.write_str("Passkey"),
        }
    }
}

/// One login attempt. `Debug` shows whether a code came with it, never the code.
#[derive(Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The name the user typed.
    pub username: &'a str,
    /// The application.
    pub application: &'a str,
    /// The client address.
    pub source_ip: IpAddr,
    /// Whether `source_ip` is the client's own address. A RADIUS request without an address
    /// in Calling-Station-Id carries only the NAS's, which every user behind that NAS shares
    /// (AWS Directory Service, a VPN concentrator): then the per-address lockout is not
    /// applied, so that one user's failures cannot lock out all the others; the per-user
    /// lockout still is.
    pub source_is_client: bool,
    /// A device identifier, if the front door has one (a cookie, Calling-Station-Id).
    pub device: Option<&'a str>,
    /// Where the request came in.
    pub front_door: FrontDoor,
    /// Unix seconds.
    pub now: u64,
    /// The first factor.
    pub first_factor: FirstFactorInput<'a>,
    /// A one-time code, when the front door has it already (RADIUS `otp-only`,
    /// `password+otp`).
    pub code: Option<&'a str>,
}

impl std::fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("username", &self.username)
            .field("application", &self.application)
            .field("source_ip", &self.source_ip)
            .field("source_is_client", &self.source_is_client)
            .field("device", &self.device)
            .field("front_door", &self.front_door)
            .field("now", &self.now)
            .field("first_factor", &self.first_factor)
            .field("code", &self.code.map(|_| "**redacted**"))
            .finish()
    }
}

/// A one-time code as a front door received it.
#[derive(Clone, Copy)]
pub enum CodeInput<'a> {
    /// The code itself (PAP, a web form).
    Plain(&'a str),
    /// Only a proof of the code: the front door's check of a candidate code against what it
    /// received (a CHAP or MS-CHAP response computed over the code). The service offers every
    /// code of the verification window, oldest first within each step distance, and accepts
    /// the first one the check confirms, through the same replay guard as a plain code.
    /// Backup codes cannot be offered (only their hashes are stored).
    Proof(&'a (dyn Fn(&str) -> bool + Sync)),
}

impl std::fmt::Debug for CodeInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeInput::Plain(_) => f.write_str("Plain(**redacted**)"),
            CodeInput::Proof(_) => f.write_str("Proof"),
        }
    }
}

/// A login waiting for its second factor. The front door keeps it (it holds no secret) and
/// hands it back with the code; it expires after five minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// A random id: the codes and links sent for this login are bound to it.
    #[serde(default = "new_pending_id")]
    pub id: String,
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// The application.
    pub application: String,
    /// The client address.
    pub source_ip: IpAddr,
    /// Whether `source_ip` is the client's own (see [`AuthRequest::source_is_client`]).
    #[serde(default = "yes")]
    pub source_is_client: bool,
    /// The device identifier.
    pub device: Option<String>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// The adaptive rules asked for a challenge (a passed one registers the device).
    pub challenged: bool,
    /// What was checked so far, for the audit entry.
    pub factors: Vec<String>,
    /// The reasons so far, for the audit entry.
    pub reasons: Vec<String>,
    /// Unix seconds after which the pending login is void.
    pub expires_at: u64,
    /// Front door.
    pub front_door: FrontDoor,
    /// The security questions its challenge asks (chosen once).
    #[serde(default)]
    pub questions: Vec<String>,
    /// Days its browser may be remembered after the second factor (from the policy; 0: no).
    #[serde(default)]
    pub remember_days: u32,
}

fn yes() -> bool {
    true
}

/// A new pending-login id: 128 random bits in hex (empty if the system random generator
/// fails, which leaves the login without sent codes rather than with a guessable id).
fn new_pending_id() -> String {
    random_from("0123456789abcdef", 32).unwrap_or_default()
}

/// How long a pending login waits for its code.
pub const PENDING_TTL_SECS: u64 = 300;

/// What a user is told; the details are in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Logged in.
    Accept(Accepted),
    /// A second factor is needed: ask for one of `pending.methods`.
    NeedSecondFactor(PendingLogin),
    /// Refused. `message` is safe to show; `audit_id` finds the details.
    Reject {
        /// For the user ("invalid credentials", the deny message of the adaptive rules …).
        message: String,
        /// The audit entry.
        audit_id: i64,
    },
}

/// A completed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The user.
    pub user: User,
    /// The user's groups.
    pub groups: Vec<String>,
    /// What was checked.
    pub factors: Vec<String>,
    /// The audit entry.
    pub audit_id: i64,
}

/// What users are told when any credential is wrong.
pub const INVALID_CREDENTIALS: &str = "invalid credentials";

/// What users are told when they are in none of an application's groups.
pub const NO_ACCESS: &str = "you do not have access to this application";

/// A TOTP factor enrolled and confirmed by [`Service::enroll_totp`]: the proof
/// [`Service::complete_with_enrolment`] takes to finish a login waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    factor_id: String,
    user_id: i64,
    step: u64,
}

impl Enrolled {
    /// The new factor's id.
    pub fn factor_id(&self) -> &str {
        &self.factor_id
    }
}

/// What became of an enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enrolment {
    /// The factor is stored, and the confirmation code used.
    Enrolled(Enrolled),
    /// The confirmation code does not match the secret: nothing was stored.
    WrongCode {
        /// The audit entry.
        audit_id: i64,
    },
    /// The user has a factor already: adding another needs it first (self-service).
    AlreadyEnrolled {
        /// The audit entry.
        audit_id: i64,
    },
}

/// Who enrols, and from where (for the audit entry).
#[derive(Debug, Clone, Copy)]
pub struct EnrolRequest<'a> {
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: &'a str,
    /// The application the login is for, or the IdP's own portal.
    pub application: &'a str,
    /// The client address.
    pub source_ip: IpAddr,
    /// Where the request came in.
    pub front_door: FrontDoor,
    /// Unix seconds.
    pub now: u64,
}

/// The assembled identity provider core: store, policies, rules, directories, notifier.
pub struct Service {
    config: Arc<Config>,
    store: Store,
    policies: PolicySet,
    rules: RuleSet,
    hasher: PasswordHasher,
    /// One permit per core: argon2 hashes run at most this many at once, so that a burst of
    /// logins queues instead of thrashing memory and caches with dozens of 19 MiB hashes.
    hash_slots: Arc<tokio::sync::Semaphore>,
    directories: Vec<(String, Arc<LdapDirectory>)>,
    notifier: Arc<dyn Notifier>,
    /// Renders the mails sent to users (codes, links); `None` without `[mail]`.
    mailer: Option<Arc<crate::mail::MailNotifier>>,
    /// Set once the users were loaded into the cache.
    warmed: Arc<std::sync::atomic::AtomicBool>,
    /// The relying party for security keys and passkeys; `None` when `idp.base_url` names
    /// none (an IP address).
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store)
            .field("origin", &self.config.origin)
            .finish_non_exhaustive()
    }
}

/// The keyring the configuration names: `store.encryption_key` and `store.previous_keys`, or
/// in demo mode `DATA_DIR/store.key` (created on first start) and the files a rotation leaves.
pub fn keyring_for(config: &Config) -> Result<Keyring, ServiceError> {
    let secret = |what: &str, v: &crate::secret::SecretValue| {
        v.resolve().map_err(|source| ServiceError::Secret {
            what: what.to_owned(),
            source,
        })
    };
    if let Some(v) = &config.store.encryption_key {
        let current = Key::from_base64(secret("store.encryption_key", v)?.expose())?;
        let mut previous = Vec::new();
        for (i, p) in config.store.previous_keys.iter().enumerate() {
            previous.push(Key::from_base64(
                secret(&format!("store.previous_keys[{i}]"), p)?.expose(),
            )?);
        }
        Ok(Keyring::new(current, previous))
    } else {
        let paths = demo_key_paths(config);
        let current = Key::load_or_create(&paths.current)?;
        let mut previous = Vec::new();
        for p in [&paths.next, &paths.previous] {
            if let Ok(text) = std::fs::read_to_string(p) {
                previous.push(Key::from_base64(&zeroize::Zeroizing::new(text))?);
            }
        }
        Ok(Keyring::new(current, previous))
    }
}

/// Where the demo mode keeps its key files.
#[derive(Debug, Clone)]
pub struct DemoKeyPaths {
    /// The current key.
    pub current: std::path::PathBuf,
    /// A key being rotated to (present only during a rotation, or after one that stopped).
    pub next: std::path::PathBuf,
    /// The key before the last rotation.
    pub previous: std::path::PathBuf,
}

/// The demo mode's key files in the data directory.
pub fn demo_key_paths(config: &Config) -> DemoKeyPaths {
    DemoKeyPaths {
        current: config.data_dir.join("store.key"),
        next: config.data_dir.join("store.key.next"),
        previous: config.data_dir.join("store.key.previous"),
    }
}

/// Opens the store the configuration names.
pub async fn open_store(config: &Config) -> Result<Store, ServiceError> {
    let url = config.store_url().map_err(|source| ServiceError::Secret {
        what: "store.url".into(),
        source,
    })?;
    let keyring = keyring_for(config)?;
    let defaults = crate::store::CacheSettings::default();
    let cache = crate::store::CacheSettings {
        capacity: config.store.cache_users.unwrap_or(defaults.capacity),
        refresh: config
            .store
            .cache_refresh_ms
            .map_or(defaults.refresh, std::time::Duration::from_millis),
    };
    Ok(Store::open_with_cache(
        &url,
        config.store.max_connections.unwrap_or(8),
        keyring,
        cache,
    )
    .await?)
}

impl Service {
    /// Opens the store, applies the configuration's groups and applications, sets up the
    /// directories, and in demo mode creates the demo user.
    pub async fn open(config: Config) -> Result<Service, ServiceError> {
        let store = open_store(&config).await?;
        let notifier: Arc<dyn Notifier> = match crate::mail::MailNotifier::from_config(&config)
            .map_err(|e| ServiceError::Config(e.to_string()))?
        {
            Some(mail) => Arc::new(mail),
            None => Arc::new(LogNotifier),
        };
        Service::with_store(config, store, notifier).await
    }

    /// Like [`Service::open`] over an open store and with a chosen notifier.
    pub async fn with_store(
        config: Config,
        store: Store,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Service, ServiceError> {
        let policies = config
            .policy_set()
            .map_err(|e| ServiceError::Config(e.to_string()))?;
        let rules = config
            .adaptive
            .compile()
            .map_err(|e| ServiceError::Config(e.to_string()))?;
        let hasher = PasswordHasher::new(config.passwords)?;
        let mut directories = Vec::new();
        for d in &config.directories {
            let dir = LdapDirectory::new(d).map_err(|e| ServiceError::Directory {
                name: d.name.clone(),
                message: e.to_string(),
            })?;
            directories.push((d.name.clone(), Arc::new(dir)));
        }
        for g in &config.groups {
            store.ensure_group(g, "config").await?;
        }
        for app in &config.apps {
            let settings = serde_json::to_value(app).unwrap_or_default();
            store
                .upsert_app(
                    &app.id,
                    app.kind.as_str(),
                    app.name.as_deref().unwrap_or(&app.id),
                    &settings,
                    "config",
                )
                .await?;
        }
        let mailer = crate::mail::MailNotifier::from_config(&config)
            .map_err(|e| ServiceError::Config(e.to_string()))?
            .map(Arc::new);
        let service = Service {
            mailer,
            config: Arc::new(config),
            store,
            policies,
            rules,
            hasher,
            hash_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
            directories,
            notifier,
            warmed: Arc::default(),
            webauthn: None,
        };
        let mut service = service;
        service.webauthn = webauthn::relying_party(&service.config.idp).map(Arc::new);
        if service.config.demo {
            service.ensure_demo_user().await?;
        }
        Ok(service)
    }

    /// Loads the users into the store's cache (servers call it once at start, so that even a
    /// user's first login is served from memory; later calls do nothing). Returns how many
    /// were loaded.
    pub async fn warm_cache(&self) -> Result<usize, StoreError> {
        if self.warmed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        let n = self.store.warm_cache().await?;
        if n > 0 {
            tracing::info!(
                users = n,
                millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "users loaded into memory"
            );
        }
        Ok(n)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The password hasher with the configured parameters.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The configured directories by name.
    pub fn directory(&self, name: &str) -> Option<&Arc<LdapDirectory>> {
        self.directories
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
    }

    /// The demo user `demo` in group `Staff`, with a random password written to
    /// `DATA_DIR/demo-password` (mode 0600). Returns the password file's path.
    async fn ensure_demo_user(&self) -> Result<(), ServiceError> {
        if self.store.user("demo").await?.is_some() {
            return Ok(());
        }
        let password = random_password()?;
        let user = self
            .store
            .create_user(&NewUser {
                name: "demo".into(),
                display_name: Some("Demo User".into()),
                email: Some("demo@example.com".into()),
                phone: None,
                source: "local".into(),
            })
            .await?;
        let hash = self.hasher.hash(&password)?;
        self.store.set_password_hash(user.id, &hash).await?;
        if self.config.groups.iter().any(|g| g == "Staff") {
            self.store.add_member("demo", "Staff").await?;
        }
        let path = self.config.data_dir.join("demo-password");
        crate::crypto::write_private(&path, password.as_bytes())
            .map_err(|e| ServiceError::Config(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(file = %path.display(), "demo user `demo` created; its password is in the file");
        Ok(())
    }

    /// Runs a login from the first factor on. See the module documentation for the steps.
    pub async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, ServiceError> {
        self.run(req, req.code.map(CodeInput::Plain)).await
    }

    /// Like [`Service::authenticate`], with the one-time code given as a proof: for front
    /// doors that receive a response computed over the code instead of the code (RADIUS CHAP
    /// and MS-CHAP). `req.code` is ignored.
    pub async fn authenticate_with_proof(
        &self,
        req: &AuthRequest<'_>,
        proof: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Outcome, ServiceError> {
        self.run(req, Some(CodeInput::Proof(proof))).await
    }

    async fn run(
        &self,
        req: &AuthRequest<'_>,
        code: Option<CodeInput<'_>>,
    ) -> Result<Outcome, ServiceError> {
        let mut factors = Vec::new();
        let mut reasons = Vec::new();
        let user_key = format!("user:{}", crate::store::name_key(req.username));
        let ip_key = ip_key(req.source_ip, req.source_is_client);
        let lockout = *self.policies.lockout();

        // Everything about the user in one read (from memory on a server).
        let known = self.store.user_view(req.username).await?;

        // 1. Lockout gate.
        let user_state = match &known {
            Some(view) => view.lockout,
            None => self.store.lockout(&user_key).await?.0,
        };
        let ip_state = match &ip_key {
            Some(k) => self.store.lockout(k).await?.0,
            None => idforge_policy::LockoutState::default(),
        };
        match lockout.gate(&user_state, &ip_state, req.now) {
            Gate::Open => {}
            Gate::Locked { until } => {
                reasons.push(format!("locked out until {until}"));
                let id = self.audit(req, None, &factors, "locked", &reasons).await?;
                return Ok(reject(INVALID_CREDENTIALS, id));
            }
            _ => {
                reasons.push("disabled after too many failures".into());
                let id = self.audit(req, None, &factors, "locked", &reasons).await?;
                return Ok(reject(INVALID_CREDENTIALS, id));
            }
        }

        // 2. First factor.
        let Some(user) = self
            .first_factor(req, known.as_deref(), &mut factors, &mut reasons)
            .await?
        else {
            self.record_failure(&user_key, ip_key.as_deref(), req.now, req.username)
                .await?;
            let id = self.audit(req, None, &factors, "reject", &reasons).await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        };

        // 3. Status, policy.
        if user.status != UserStatus::Active {
            reasons.push(format!("account {}", user.status));
            let id = self
                .audit(req, Some(user.id), &factors, "reject", &reasons)
                .await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let app = self.app_settings(req.application).await?;
        if app.is_none() && req.application != crate::config::PORTAL_APP {
            reasons.push(format!("unknown application {:?}", req.application));
            let id = self
                .audit(req, Some(user.id), &factors, "reject", &reasons)
                .await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        // A directory login may have changed the user's profile and groups: read them again
        // (from memory unless it did).
        let view = match known {
            Some(view)
                if view.user.id == user.id
                    && (user.source == "local"
                        || !matches!(req.first_factor, FirstFactorInput::Password(_))) =>
            {
                view
            }
            _ => self
                .store
                .user_view(&user.name)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "user",
                    name: user.name.clone(),
                })?,
        };
        let groups = view.groups.clone();
        let source = if user.source == "local" {
            AuthSource::Local
        } else {
            AuthSource::Directory(&user.source)
        };
        let decision = self.policies.evaluate(&LoginRequest {
            application: req.application,
            groups: &groups,
            ip: Some(req.source_ip.to_canonical()),
            source,
        });
        reasons.push(decision.to_string());
        let expected_source = match decision.first_factor {
            FirstFactor::LocalPassword => "local",
            FirstFactor::Directory(name) => name.as_str(),
            _ => "",
        };
        if matches!(
            req.first_factor,
            FirstFactorInput::Password(_) | FirstFactorInput::Session { .. }
        ) && expected_source != user.source
        {
            reasons.push(format!(
                "the policy checks passwords in `{expected_source}`, the user is from `{}`",
                user.source
            ));
            let id = self
                .audit(req, Some(user.id), &factors, "reject", &reasons)
                .await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }

        if app.as_ref().is_some_and(|a| !a.admits(&groups)) {
            reasons.push("not a member of any group of the application".into());
            let id = self
                .audit(req, Some(user.id), &factors, "reject", &reasons)
                .await?;
            return Ok(reject(NO_ACCESS, id));
        }

        // 4. Adaptive rules.
        let devices = &view.devices;
        let history = &view.history;
        let attempt = LoginAttempt {
            user: &user.name,
            application: req.application,
            now: req.now,
            ip: req.source_ip.to_canonical(),
            device: req.device,
            country: None,
            location: None,
            registered_devices: devices,
            history,
        };
        let assessment = self.rules.assess(&attempt);
        for r in &assessment.reasons {
            reasons.push(r.to_string());
        }
        // The alerts' mails are written with this decision's audit entry.
        let mut mails = Vec::new();
        for alert in &assessment.alerts {
            self.raise(alert, &user, req.now, &mut mails);
        }
        let mut challenged = false;
        let mut second_factor_challenge = false;
        let mut challenge_methods: Vec<&'static str> = Vec::new();
        match &assessment.action {
            Action::Allow => {}
            Action::Challenge { types } => {
                second_factor_challenge = types.contains(&ChallengeType::SecondFactor);
                if types.contains(&ChallengeType::AlternateEmailOtp) && self.mailer.is_some() {
                    challenge_methods.push(Delivery::AlternateEmail.method());
                }
                if types.contains(&ChallengeType::SecurityQuestions) && self.config.kba.is_some() {
                    challenge_methods.push(Method::SecurityQuestions.as_str());
                }
                if !second_factor_challenge && challenge_methods.is_empty() {
                    reasons.push("no challenge type this server offers".into());
                    let id = self
                        .audit_with_mail(req, Some(user.id), &factors, "deny", &reasons, &mails)
                        .await?;
                    return Ok(reject(INVALID_CREDENTIALS, id));
                }
                challenged = true;
            }
            Action::Deny { message } => {
                let id = self
                    .audit_with_mail(req, Some(user.id), &factors, "deny", &reasons, &mails)
                    .await?;
                return Ok(reject(message, id));
            }
            _ => {
                let id = self
                    .audit_with_mail(req, Some(user.id), &factors, "deny", &reasons, &mails)
                    .await?;
                return Ok(reject(INVALID_CREDENTIALS, id));
            }
        }
        // What finishes the login: the policy's methods when it requires a second factor
        // (a challenge of the adaptive rules is then met by that factor, the stronger proof);
        // otherwise, under a challenge, the challenge's types (the policy's methods for
        // `second_factor`, and for a policy that wants a second factor when risky).
        let required = decision.second_factor.is_needed(false)
            || matches!(req.first_factor, FirstFactorInput::Upstream);
        let policy_methods = || -> Vec<String> {
            if decision.methods.is_empty() {
                [Method::Totp, Method::HotpToken, Method::BackupCode]
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect()
            } else {
                decision
                    .methods
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect()
            }
        };
        let mut methods: Vec<String> = Vec::new();
        if required {
            methods = policy_methods();
        } else if challenged {
            if second_factor_challenge || decision.second_factor.is_needed(true) {
                methods = policy_methods();
            }
            methods.extend(challenge_methods.iter().map(|m| (*m).to_owned()));
        }
        let needs_second = required || challenged;
        let pending = PendingLogin {
            id: new_pending_id(),
            user_id: user.id,
            username: user.name.clone(),
            application: req.application.to_owned(),
            source_ip: req.source_ip,
            source_is_client: req.source_is_client,
            device: req.device.map(str::to_owned),
            methods,
            challenged,
            factors,
            reasons,
            expires_at: req.now + PENDING_TTL_SECS,
            front_door: req.front_door,
            questions: Vec::new(),
            remember_days: decision.remember_device_days,
        };
        if let FirstFactorInput::Passkey(_) = req.first_factor {
            let mut pending = pending;
            if !decision.methods.contains(&Method::Webauthn) {
                pending
                    .reasons
                    .push("the policy does not allow passkeys (webauthn)".into());
                let id = self
                    .append_audit_with_mail(
                        Self::pending_entry(&pending, req.now, "reject"),
                        &mails,
                    )
                    .await?;
                return Ok(reject(INVALID_CREDENTIALS, id));
            }
            // A verified passkey is the second factor as well (possession and the user's
            // PIN or biometric), and meets a challenge of the adaptive rules.
            pending.challenged = false;
            return self
                .finish(pending, user, groups, req.now, true, mails)
                .await;
        }
        if !needs_second {
            return self
                .finish(pending, user, groups, req.now, false, mails)
                .await;
        }
        if let FirstFactorInput::Session {
            second_factor: Some(done),
        } = req.first_factor
            && pending.methods.iter().any(|m| m == done)
        {
            let mut pending = pending;
            pending.factors.push(format!("{done}:session"));
            // The session passed its second factor on this device already.
            pending.challenged = false;
            return self
                .finish(pending, user, groups, req.now, false, mails)
                .await;
        }
        if let Some(code) = code {
            return self.check_code(pending, code, req.now, mails).await;
        }
        // No decision is written yet: the alerts' mails go to the outbox now, in a
        // transaction of their own, rather than wait for a code that may never come.
        if !mails.is_empty() {
            self.store.enqueue_mail(&mails).await?;
        }
        Ok(Outcome::NeedSecondFactor(pending))
    }

    /// Records a login that a front door refused before the decision path could run (no user
    /// name, no password attribute, an unknown RADIUS State, a policy that wants a code the
    /// front door cannot carry): one audit entry with the front door's reason, so that every
    /// refusal is in the audit log. Returns the entry's id.
    pub async fn record_refusal(
        &self,
        req: &AuthRequest<'_>,
        reason: &str,
    ) -> Result<i64, ServiceError> {
        self.audit(req, None, &[], "reject", &[reason.to_owned()])
            .await
    }

    /// Completes a login waiting for its second factor.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        code: &str,
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        if now > pending.expires_at {
            let mut expired = pending;
            expired.reasons.push("the pending login expired".into());
            let id = self.audit_pending(&expired, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        self.check_code(pending, CodeInput::Plain(code), now, Vec::new())
            .await
    }

    /// An application's settings: from the configuration, else as `idforge app add` stored
    /// them (the store is read only for those).
    async fn app_settings(
        &self,
        application: &str,
    ) -> Result<Option<crate::config::AppSettings>, ServiceError> {
        if let Some(app) = self.config.apps.iter().find(|a| a.id == application) {
            return Ok(Some(app.clone()));
        }
        Ok(self
            .store
            .apps()
            .await?
            .into_iter()
            .find(|a| a.id == application)
            .and_then(|a| serde_json::from_value(a.settings).ok()))
    }

    /// Enrols an authenticator app for a user who has no factor yet: `code` must be the
    /// secret's current code (the user proves the app has the secret), and it is used up, so
    /// that the same code cannot finish a login afterwards. One audit entry either way.
    pub async fn enroll_totp(
        &self,
        req: &EnrolRequest<'_>,
        label: &str,
        secret: &idforge_otp::Secret,
        code: &str,
    ) -> Result<Enrolment, ServiceError> {
        let audit = |factors: Vec<String>, result: &str, reasons: Vec<String>| AuditEntry {
            id: 0,
            at: i64::try_from(req.now).unwrap_or(i64::MAX),
            username: req.username.to_owned(),
            user_id: Some(req.user_id),
            application: req.application.to_owned(),
            source_ip: Some(req.source_ip.to_string()),
            front_door: req.front_door.as_str().into(),
            factors,
            result: result.into(),
            reasons,
        };
        if !self.store.factors_of(req.user_id).await?.is_empty() {
            let audit_id = self
                .append_audit(audit(
                    vec!["totp:enrol".into()],
                    "enrol-refused",
                    vec!["the user has a factor already".into()],
                ))
                .await?;
            return Ok(Enrolment::AlreadyEnrolled { audit_id });
        }
        let otp = &self.config.otp;
        let digits = Digits::new(u64::from(otp.digits))
            .map_err(|e| ServiceError::Config(format!("otp.digits: {e}")))?;
        let totp = Totp::new(secret, idforge_otp::Algorithm::Sha1, digits, otp.period)
            .map_err(|e| ServiceError::Config(format!("otp: {e}")))?;
        let Ok(ok) = TotpVerifier::new(totp, otp.totp_behind, otp.totp_ahead).verify(
            code.trim(),
            req.now,
            None,
        ) else {
            let audit_id = self
                .append_audit(audit(
                    vec!["totp:enrol".into(), "otp:wrong".into()],
                    "enrol-failed",
                    vec!["the confirmation code does not match".into()],
                ))
                .await?;
            return Ok(Enrolment::WrongCode { audit_id });
        };
        let factor = crate::store::NewFactor {
            digits: otp.digits,
            period: otp.period,
            ..crate::store::NewFactor::totp(label, secret)
        };
        let factor_id = self.store.add_factor(req.user_id, &factor).await?;
        let now_i = i64::try_from(req.now).unwrap_or(i64::MAX);
        self.store
            .accept_totp_step(&factor_id, ok.step, now_i)
            .await?;
        self.append_audit(audit(
            vec![format!("totp:enrolled:{factor_id}")],
            "enrol",
            vec![format!("authenticator app `{label}` enrolled")],
        ))
        .await?;
        Ok(Enrolment::Enrolled(Enrolled {
            factor_id,
            user_id: req.user_id,
            step: ok.step,
        }))
    }

    /// Finishes a login waiting for its second factor with the factor the user has just
    /// enrolled and confirmed (first login of a user without a factor, when the policy asks
    /// for one).
    pub async fn complete_with_enrolment(
        &self,
        mut pending: PendingLogin,
        enrolled: &Enrolled,
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        if enrolled.user_id != pending.user_id || !pending.methods.iter().any(|m| m == "totp") {
            return Err(ServiceError::PendingMismatch);
        }
        if now > pending.expires_at {
            pending.reasons.push("the pending login expired".into());
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        pending.factors.push(format!(
            "totp:enrolled:{}:{}",
            enrolled.factor_id, enrolled.step
        ));
        let user = self.store.require_user(&pending.username).await?;
        if user.status != UserStatus::Active {
            pending.reasons.push(format!("account {}", user.status));
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let groups = self.store.groups_of(user.id).await?;
        self.finish(pending, user, groups, now, true, Vec::new())
            .await
    }

    /// Waits for a free hashing slot.
    async fn hash_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ServiceError> {
        self.hash_slots
            .acquire()
            .await
            .map_err(|e| ServiceError::Config(format!("password hashing: {e}")))
    }

    async fn first_factor(
        &self,
        req: &AuthRequest<'_>,
        known: Option<&UserView>,
        factors: &mut Vec<String>,
        reasons: &mut Vec<String>,
    ) -> Result<Option<User>, ServiceError> {
        let password = match req.first_factor {
            FirstFactorInput::Upstream => {
                factors.push("password:upstream".into());
                if known.is_none() {
                    reasons.push("unknown user".into());
                }
                return Ok(known.map(|v| v.user.clone()));
            }
            FirstFactorInput::Session { .. } => {
                factors.push("session".into());
                if known.is_none() {
                    reasons.push("the session's user no longer exists".into());
                }
                return Ok(known.map(|v| v.user.clone()));
            }
            FirstFactorInput::Passkey(proof) => {
                return Ok(Self::passkey_first_factor(proof, known, factors, reasons));
            }
            FirstFactorInput::Password(p) => p,
        };
        if password.is_empty() {
            factors.push("password:empty".into());
            reasons.push("empty password".into());
            return Ok(None);
        }
        match known {
            Some(view) if view.user.source == "local" => {
                let user = view.user.clone();
                let Some(hash) = view.password_hash.clone() else {
                    // The same time as a real check, off the async threads.
                    let hasher = self.hasher.clone();
                    let pw = zeroize::Zeroizing::new(password.to_owned());
                    let _slot = self.hash_slot().await?;
                    let _ = tokio::task::spawn_blocking(move || hasher.verify_dummy(&pw)).await;
                    factors.push("password:none-set".into());
                    reasons.push("the user has no local password".into());
                    return Ok(None);
                };
                let hasher = self.hasher.clone();
                let pw = zeroize::Zeroizing::new(password.to_owned());
                let _slot = self.hash_slot().await?;
                let verified = tokio::task::spawn_blocking(move || hasher.verify(&pw, &hash))
                    .await
                    .map_err(|e| ServiceError::Config(format!("password task: {e}")))??;
                match verified {
                    Verified::No => {
                        factors.push("password:wrong".into());
                        reasons.push("wrong password".into());
                        Ok(None)
                    }
                    Verified::Yes => {
                        factors.push("password:ok".into());
                        Ok(Some(user))
                    }
                    Verified::YesRehash(new) => {
                        self.store.set_password_hash(user.id, &new).await?;
                        factors.push("password:ok".into());
                        reasons.push("password re-hashed with the configured parameters".into());
                        Ok(Some(user))
                    }
                }
            }
            Some(view) => {
                let user = &view.user;
                let Some(dir) = self.directory(&user.source).cloned() else {
                    factors.push("password:no-directory".into());
                    reasons.push(format!("directory `{}` is not configured", user.source));
                    return Ok(None);
                };
                self.directory_login(&user.source, &dir, req.username, password, factors, reasons)
                    .await
            }
            None => {
                for (name, dir) in &self.directories {
                    if let Some(user) = self
                        .directory_login(name, dir, req.username, password, factors, reasons)
                        .await?
                    {
                        return Ok(Some(user));
                    }
                }
                if self.directories.is_empty() {
                    let hasher = self.hasher.clone();
                    let pw = zeroize::Zeroizing::new(password.to_owned());
                    let _slot = self.hash_slot().await?;
                    let _ = tokio::task::spawn_blocking(move || hasher.verify_dummy(&pw)).await;
                    factors.push("password:unknown-user".into());
                    reasons.push("unknown user".into());
                }
                Ok(None)
            }
        }
    }

    async fn directory_login(
        &self,
        name: &str,
        dir: &LdapDirectory,
        username: &str,
        password: &str,
        factors: &mut Vec<String>,
        reasons: &mut Vec<String>,
    ) -> Result<Option<User>, ServiceError> {
        match dir.authenticate(username, password).await {
            Ok(LdapLogin::Accepted(found)) => {
                factors.push(format!("password:ok:{name}"));
                let user = match self.store.user(username).await? {
                    Some(u) => u,
                    None => {
                        self.store
                            .create_user(&NewUser {
                                name: username.to_owned(),
                                display_name: found.display_name.clone(),
                                email: found.email.clone(),
                                phone: found.phone.clone(),
                                source: name.to_owned(),
                            })
                            .await?
                    }
                };
                if user.source != name {
                    reasons.push(format!(
                        "directory `{name}` knows the user, but the account is from `{}`",
                        user.source
                    ));
                    return Ok(None);
                }
                self.store
                    .update_profile(
                        user.id,
                        found.display_name.as_deref(),
                        found.email.as_deref(),
                        found.phone.as_deref(),
                    )
                    .await?;
                self.store
                    .sync_memberships(user.id, &found.groups, name)
                    .await?;
                Ok(self.store.user(username).await?)
            }
            Ok(LdapLogin::Rejected { audit, .. }) => {
                factors.push(format!("password:rejected:{name}"));
                reasons.push(format!("{name}: {audit}"));
                Ok(None)
            }
            Err(e) => {
                factors.push(format!("password:error:{name}"));
                reasons.push(format!("{name}: {e}"));
                Ok(None)
            }
        }
    }

    /// Checks a code against the user's factors the pending login allows, through the store's
    /// replay guard, then finishes or refuses the login.
    async fn check_code(
        &self,
        mut pending: PendingLogin,
        input: CodeInput<'_>,
        now: u64,
        mails: Vec<NewMail>,
    ) -> Result<Outcome, ServiceError> {
        let allowed = |m: Method| pending.methods.iter().any(|x| x == m.as_str());
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let mut outcome: Option<String> = None;
        let mut replayed = false;
        let view = self.store.user_view(&pending.username).await?;
        let factors: Vec<_> = view
            .iter()
            .flat_map(|v| v.factors.iter())
            .filter(|f| f.user_id == pending.user_id)
            .collect();
        let otp = &self.config.otp;
        for &f in &factors {
            let method = match f.kind {
                FactorKind::Totp => Method::Totp,
                FactorKind::Hotp => Method::HotpToken,
            };
            if !allowed(method) {
                continue;
            }
            let secret = self.store.factor_secret(f)?;
            let Ok(digits) = Digits::new(u64::from(f.digits)) else {
                continue;
            };
            match f.kind {
                FactorKind::Totp => {
                    let Ok(totp) = Totp::new(&secret, f.algorithm, digits, f.period) else {
                        continue;
                    };
                    let step = match input {
                        CodeInput::Plain(code) => {
                            TotpVerifier::new(totp, otp.totp_behind, otp.totp_ahead)
                                .verify(code.trim(), now, f.last_step)
                                .map(|ok| ok.step)
                        }
                        CodeInput::Proof(proof) => proven_step(&totp, proof, now, otp, f.last_step),
                    };
                    match step {
                        Ok(step) => {
                            if self.store.accept_totp_step(&f.id, step, now_i).await? {
                                self.store
                                    .note_factor_used(f.user_id, &f.id, Some(step), None);
                                outcome = Some(format!("totp:ok:{}", f.id));
                                break;
                            }
                            replayed = true;
                        }
                        Err(Rejected::Replayed) => replayed = true,
                        Err(_) => {}
                    }
                }
                FactorKind::Hotp => {
                    let hotp = Hotp::new(&secret, f.algorithm, digits);
                    let next = match input {
                        CodeInput::Plain(code) => HotpVerifier::new(hotp, otp.hotp_look_ahead)
                            .verify(code.trim(), f.counter)
                            .ok()
                            .map(|ok| ok.next_counter),
                        CodeInput::Proof(proof) => (0..=u64::from(otp.hotp_look_ahead))
                            .filter_map(|d| f.counter.checked_add(d))
                            .find(|c| proof(&hotp.generate(*c).to_string()))
                            .and_then(|c| c.checked_add(1)),
                    };
                    if let Some(next_counter) = next {
                        if self
                            .store
                            .accept_hotp_counter(&f.id, next_counter, now_i)
                            .await?
                        {
                            self.store
                                .note_factor_used(f.user_id, &f.id, None, Some(next_counter));
                            outcome = Some(format!("hotp:ok:{}", f.id));
                            break;
                        }
                        replayed = true;
                    }
                }
            }
        }
        if let (None, true, CodeInput::Plain(code)) = (&outcome, allowed(Method::BackupCode), input)
        {
            let code = code.trim();
            for (id, hash) in self.store.unused_backup_codes(pending.user_id).await? {
                if backup_code_matches(code, &hash) && self.store.use_backup_code(id, now_i).await?
                {
                    outcome = Some("backup_code:ok".into());
                    break;
                }
            }
        }
        if let (None, true, CodeInput::Plain(code)) = (&outcome, allowed(Method::YubicoOtp), input)
        {
            match self.check_yubico(&pending, code, now).await? {
                yubikey::YubicoCheck::Accepted(f) => outcome = Some(f),
                yubikey::YubicoCheck::Replayed => replayed = true,
                yubikey::YubicoCheck::Refused(why) => pending.reasons.push(why),
                yubikey::YubicoCheck::NotAnOtp => {}
            }
        }
        let sent_allowed = pending
            .methods
            .iter()
            .any(|m| Delivery::from_method(m).is_some_and(Delivery::is_code));
        if let (None, true, CodeInput::Plain(code)) = (&outcome, sent_allowed, input) {
            outcome = self.check_sent_code(&pending, code, now).await?;
        }
        if let Some(f) = outcome {
            pending.factors.push(f);
            // The view read above: using a factor changes neither the user nor the groups.
            let view = view.as_ref().ok_or_else(|| StoreError::NotFound {
                what: "user",
                name: pending.username.clone(),
            })?;
            let (user, groups) = (view.user.clone(), view.groups.clone());
            self.finish(pending, user, groups, now, true, mails).await
        } else {
            // What this process holds may be behind (a counter resynchronised, a code used
            // on another instance): the next attempt reads the database.
            self.store.forget_user(pending.user_id);
            if factors.is_empty()
                && !allowed(Method::BackupCode)
                && !allowed(Method::YubicoOtp)
                && !sent_allowed
            {
                pending.factors.push("otp:none-enrolled".into());
                pending
                    .reasons
                    .push("no enrolled factor of an allowed method".into());
            } else if replayed {
                pending.factors.push("otp:replayed".into());
                pending.reasons.push("the code was already used".into());
            } else {
                pending.factors.push("otp:wrong".into());
            }
            self.refuse_pending_with(pending, view.as_deref(), now, mails)
                .await
        }
    }

    /// Refuses a pending login whose second factor failed: the alerts of a failed challenge,
    /// the lockout counters, one audit entry.
    async fn refuse_pending(
        &self,
        pending: PendingLogin,
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        let view = self.store.user_view(&pending.username).await?;
        self.refuse_pending_with(pending, view.as_deref(), now, Vec::new())
            .await
    }

    async fn refuse_pending_with(
        &self,
        pending: PendingLogin,
        view: Option<&UserView>,
        now: u64,
        mut mails: Vec<NewMail>,
    ) -> Result<Outcome, ServiceError> {
        if pending.challenged {
            let devices = view.map(|v| v.devices.clone()).unwrap_or_default();
            let attempt = Self::attempt(&pending, now, &devices);
            let user = view.map(|v| &v.user);
            for alert in self.rules.challenge_failed(&attempt) {
                self.raise_for(&alert, user, now, &mut mails);
            }
        }
        let user_key = format!("user:{}", crate::store::name_key(&pending.username));
        let ip_key = ip_key(pending.source_ip, pending.source_is_client);
        self.record_failure(&user_key, ip_key.as_deref(), now, &pending.username)
            .await?;
        let id = self
            .append_audit_with_mail(Self::pending_entry(&pending, now, "reject"), &mails)
            .await?;
        Ok(reject(INVALID_CREDENTIALS, id))
    }

    fn attempt<'a>(
        pending: &'a PendingLogin,
        now: u64,
        devices: &'a [idforge_adaptive::RegisteredDevice],
    ) -> LoginAttempt<'a> {
        LoginAttempt {
            user: &pending.username,
            application: &pending.application,
            now,
            ip: pending.source_ip.to_canonical(),
            device: pending.device.as_deref(),
            country: None,
            location: None,
            registered_devices: devices,
            history: &[],
        }
    }

    async fn finish(
        &self,
        mut pending: PendingLogin,
        user: User,
        groups: Vec<String>,
        now: u64,
        second_factor_passed: bool,
        mut mails: Vec<NewMail>,
    ) -> Result<Outcome, ServiceError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        // A device that passed a second factor (or an adaptive challenge) is registered, up
        // to the device limit.
        if pending.challenged || (second_factor_passed && pending.device.is_some()) {
            let devices = match self.store.user_view(&user.name).await? {
                Some(view) if view.user.id == user.id => view.devices.clone(),
                _ => self.store.devices_of(user.id).await?,
            };
            let outcome = self
                .rules
                .challenge_passed(&Self::attempt(&pending, now, &devices));
            match &outcome.registration {
                Registration::Registered(d) => {
                    self.store.upsert_device(user.id, d, now_i).await?;
                    pending.reasons.push(format!("device {} trusted", d.id));
                    let message = format!(
                        "A new device was registered for your account when you signed in to {} from {}.",
                        pending.application, pending.source_ip
                    );
                    // Under a challenge the adaptive rules' own alert says so.
                    if !pending.challenged {
                        mails.extend(self.notice_mail(
                            &user,
                            "New device registered",
                            &message,
                            now,
                        ));
                    }
                }
                Registration::Renewed(d) => {
                    self.store.upsert_device(user.id, d, now_i).await?;
                    pending.reasons.push(format!("device {} trusted", d.id));
                }
                Registration::LimitReached { limit } => pending
                    .reasons
                    .push(format!("device not registered: limit of {limit} reached")),
                _ => {}
            }
            // The rules' alerts are about challenges: a login that only passed its policy's
            // second factor was not challenged.
            if pending.challenged {
                for alert in &outcome.alerts {
                    self.raise(alert, &user, now, &mut mails);
                }
            }
        }
        let login = LoginRecord {
            at: now,
            ip: pending.source_ip.to_canonical(),
            application: pending.application.clone(),
            device: pending.device.clone(),
        };
        let entry = Self::pending_entry(&pending, now, "accept");
        Self::log_decision(&entry);
        let audit_id = self
            .store
            .record_accepted_login_with_mail(user.id, &login, &entry, mails)
            .await?;
        Ok(Outcome::Accept(Accepted {
            user,
            groups,
            factors: pending.factors,
            audit_id,
        }))
    }

    async fn record_failure(
        &self,
        user_key: &str,
        ip_key: Option<&str>,
        now: u64,
        username: &str,
    ) -> Result<(), ServiceError> {
        let lockout = *self.policies.lockout();
        let state = self
            .store
            .update_lockout(user_key, |s| lockout.user.record_failure(s, now).0)
            .await?;
        if let Some(ip_key) = ip_key {
            self.store
                .update_lockout(ip_key, |s| lockout.source.record_failure(s, now).0)
                .await?;
        }
        if state.disabled
            && let Some(u) = self.store.user(username).await?
            && u.status == UserStatus::Active
        {
            self.store.set_status(&u.name, UserStatus::Locked).await?;
            tracing::warn!(user = %u.name, "account locked after too many failed logins");
        }
        Ok(())
    }

    async fn audit(
        &self,
        req: &AuthRequest<'_>,
        user_id: Option<i64>,
        factors: &[String],
        result: &str,
        reasons: &[String],
    ) -> Result<i64, ServiceError> {
        self.append_audit(Self::decision_entry(req, user_id, factors, result, reasons))
            .await
    }

    /// The audit entry of a decision on `req`.
    fn decision_entry(
        req: &AuthRequest<'_>,
        user_id: Option<i64>,
        factors: &[String],
        result: &str,
        reasons: &[String],
    ) -> AuditEntry {
        AuditEntry {
            id: 0,
            at: i64::try_from(req.now).unwrap_or(i64::MAX),
            username: req.username.to_owned(),
            user_id,
            application: req.application.to_owned(),
            source_ip: Some(req.source_ip.to_string()),
            front_door: req.front_door.as_str().into(),
            factors: factors.to_vec(),
            result: result.into(),
            reasons: reasons.to_vec(),
        }
    }

    /// Tells the notifier about `alert` at once and adds the outbox messages it calls for to
    /// `mails`, which the caller writes with the decision.
    fn raise(&self, alert: &Alert, user: &User, now: u64, mails: &mut Vec<NewMail>) {
        self.raise_for(alert, Some(user), now, mails);
    }

    fn raise_for(&self, alert: &Alert, user: Option<&User>, now: u64, mails: &mut Vec<NewMail>) {
        self.notifier.notify(alert);
        let context = AlertContext {
            user_id: user.map(|u| u.id),
            user_email: user.and_then(|u| u.email.as_deref()),
            now,
        };
        mails.extend(self.notifier.outbox(alert, &context));
    }

    async fn audit_with_mail(
        &self,
        req: &AuthRequest<'_>,
        user_id: Option<i64>,
        factors: &[String],
        result: &str,
        reasons: &[String],
        mails: &[NewMail],
    ) -> Result<i64, ServiceError> {
        self.append_audit_with_mail(
            Self::decision_entry(req, user_id, factors, result, reasons),
            mails,
        )
        .await
    }

    async fn append_audit_with_mail(
        &self,
        entry: AuditEntry,
        mails: &[NewMail],
    ) -> Result<i64, ServiceError> {
        Self::log_decision(&entry);
        Ok(self.store.append_audit_with_mail(&entry, mails).await?)
    }

    async fn audit_pending(
        &self,
        pending: &PendingLogin,
        now: u64,
        result: &str,
    ) -> Result<i64, ServiceError> {
        self.append_audit(Self::pending_entry(pending, now, result))
            .await
    }

    fn pending_entry(pending: &PendingLogin, now: u64, result: &str) -> AuditEntry {
        AuditEntry {
            id: 0,
            at: i64::try_from(now).unwrap_or(i64::MAX),
            username: pending.username.clone(),
            user_id: Some(pending.user_id),
            application: pending.application.clone(),
            source_ip: Some(pending.source_ip.to_string()),
            front_door: pending.front_door.as_str().into(),
            factors: pending.factors.clone(),
            result: result.into(),
            reasons: pending.reasons.clone(),
        }
    }

    /// One log line per decision (who, what, from where, the result; never a credential) and
    /// the audit entry.
    async fn append_audit(&self, entry: AuditEntry) -> Result<i64, ServiceError> {
        Self::log_decision(&entry);
        Ok(self.store.append_audit(&entry).await?)
    }

    fn log_decision(entry: &AuditEntry) {
        tracing::info!(
            user = %entry.username,
            application = %entry.application,
            source = entry.source_ip.as_deref().unwrap_or("-"),
            front_door = %entry.front_door,
            result = %entry.result,
            "authentication decision"
        );
    }
}

/// The per-address lockout key, when the address is the client's own.
fn ip_key(ip: IpAddr, is_client: bool) -> Option<String> {
    is_client.then(|| format!("ip:{}", ip.to_canonical()))
}

/// The TOTP step whose code the proof confirms: the current step first, then one back, one
/// ahead, two back … within the configured window. A confirmed step at or before `last_step`
/// is a replay.
fn proven_step(
    totp: &Totp,
    proof: &(dyn Fn(&str) -> bool + Sync),
    now: u64,
    otp: &crate::config::OtpSettings,
    last_step: Option<u64>,
) -> Result<u64, Rejected> {
    let current = totp.step(now).map_err(|_| Rejected::Invalid)?;
    let mut replayed = false;
    let mut steps = vec![current];
    for d in 1..=u64::from(otp.totp_behind.max(otp.totp_ahead)) {
        if d <= u64::from(otp.totp_behind)
            && let Some(s) = current.checked_sub(d)
        {
            steps.push(s);
        }
        if d <= u64::from(otp.totp_ahead)
            && let Some(s) = current.checked_add(d)
        {
            steps.push(s);
        }
    }
    for step in steps {
        if proof(&totp.generate_step(step).to_string()) {
            if last_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else {
                return Ok(step);
            }
        }
    }
    Err(if replayed {
        Rejected::Replayed
    } else {
        Rejected::Invalid
    })
}

fn reject(message: &str, audit_id: i64) -> Outcome {
    Outcome::Reject {
        message: message.to_owned(),
        audit_id,
    }
}

/// A random password of 20 characters from an unambiguous alphabet.
pub fn random_password() -> Result<String, ServiceError> {
    random_from(
        "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
        20,
    )
}

fn random_from(alphabet: &str, len: usize) -> Result<String, ServiceError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let chars: Vec<char> = alphabet.chars().collect();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut b = [0u8; 1];
        rng.fill(&mut b)
            .map_err(|_| ServiceError::Crypto(crate::crypto::CryptoError::Random))?;
        // Rejection sampling keeps the choice uniform.
        let limit = 256 - 256 % chars.len();
        if usize::from(b[0]) < limit {
            out.push(chars[usize::from(b[0]) % chars.len()]);
        }
    }
    Ok(out)
}

/// Ten new backup codes (`xxxx-xxxx`, 40 bits each) and their stored hashes.
pub fn new_backup_codes() -> Result<Vec<(String, String)>, ServiceError> {
    let mut out = Vec::with_capacity(10);
    for _ in 0..10 {
        let raw = random_from("abcdefghijkmnpqrstuvwxyz23456789", 8)?;
        let code = format!("{}-{}", &raw[..4], &raw[4..]);
        let hash = hash_backup_code(&code)?;
        out.push((code, hash));
    }
    Ok(out)
}

/// `sha256$SALT$HASH` of a normalised backup code (lower case, no `-` or spaces). Backup codes
/// carry 40 random bits, so a salted fast hash stands against a stolen table as well as a
/// slow one does against a guessed password.
pub fn hash_backup_code(code: &str) -> Result<String, ServiceError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| ServiceError::Crypto(crate::crypto::CryptoError::Random))?;
    let salt_hex = data_encoding::HEXLOWER.encode(&salt);
    Ok(format!(
        "sha256${salt_hex}${}",
        backup_digest(&salt_hex, code)
    ))
}

fn normalise_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn backup_digest(salt_hex: &str, code: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(salt_hex.as_bytes());
    ctx.update(b"\0");
    ctx.update(normalise_backup_code(code).as_bytes());
    data_encoding::HEXLOWER.encode(ctx.finish().as_ref())
}

/// Whether `code` matches a stored backup code hash (constant-time comparison).
pub fn backup_code_matches(code: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("sha256"), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    backup_digest(salt, code)
        .as_bytes()
        .ct_eq(hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_codes_match_normalised_and_only_themselves() {
        let codes = new_backup_codes().unwrap_or_default();
        assert_eq!(codes.len(), 10);
        for (code, hash) in &codes {
            assert!(!hash.contains(code.as_str()));
            assert!(backup_code_matches(code, hash));
            assert!(backup_code_matches(
                &code.to_uppercase().replace('-', " "),
                hash
            ));
        }
        assert!(!backup_code_matches(&codes[0].0, &codes[1].1));
        assert!(!backup_code_matches("x", "garbage"));
    }

    #[test]
    fn requests_never_show_their_credentials() {
        let r = AuthRequest {
            username: "alice",
            application: "aws-console",
            source_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            source_is_client: true,
            device: None,
            front_door: FrontDoor::Web,
            now: 0,
            first_factor: FirstFactorInput::Password("correct horse"),
            code: Some("914272"),
        };
        let shown = format!("{r:?} {:?}", CodeInput::Plain("914272"));
        assert!(
            !shown.contains("correct horse") && !shown.contains("914272"),
            "{shown}"
        );
        assert!(shown.contains("alice"));
    }

    #[test]
    fn random_passwords_are_long_and_differ() {
        let a = random_password().unwrap_or_default();
        let b = random_password().unwrap_or_default();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
