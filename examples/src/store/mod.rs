//! The store: one async API over SQLite (the embedded default) and PostgreSQL (several
//! instances behind a load balancer).
//!
//! Both backends run the same SQL through sqlx's `Any` driver; the schema differs only in the
//! few types listed in `store/schema.rs`. Writes that guard security are single conditional
//! statements evaluated by the database, never read-modify-write in the process:
//!
//! - a TOTP step is accepted by `UPDATE factors SET last_step = $step WHERE id = $id AND
//!   last_step < $step`, an HOTP counter and a backup code the same way, so one code is
//!   accepted once even when two instances receive it at the same moment;
//! - lockout state carries a version and is replaced only if the version is unchanged
//!   ([`Store::update_lockout`] retries on a lost race).
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: a committed write survives power loss.
//! OTP secrets are sealed with AES-256-GCM ([`crate::crypto`]) bound to their row.

mod cache;
mod codes;
mod copy;
mod group_commit;
mod outbox;
mod schema;
mod sessions;
mod trusted;
mod webauthn;
mod yubikeys;

pub use codes::{NewCode, SentCode};
pub use copy::CopyReport;
pub use outbox::{Channel, MailLimits, MailStatus, NewMail, OutboxMessage};

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use idforge_adaptive::{PastLogin, RegisteredDevice};
use idforge_otp::{Algorithm, Secret};
use idforge_policy::LockoutState;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};

use crate::crypto::{CryptoError, Keyring, factor_context};
pub use cache::{CacheSettings, UserView};
pub use sessions::WebSession;
pub use trusted::TrustedDevice;
pub use webauthn::WebauthnCredential;
pub use yubikeys::{NewYubikey, Yubikey};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A sealed secret could not be opened or sealed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// No such user, group, factor or application.
    #[error("no {what} named {name:?}")]
    NotFound {
        /// user, group, application …
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The name is taken.
    #[error("a {what} named {name:?} exists already")]
    Exists {
        /// user, group, application …
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A value is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A stored value could not be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The URL names no supported database.
    #[error("unsupported store URL (use sqlite:PATH or postgres://...)")]
    Url,
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A user's account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Disabled by an administrator.
    Disabled,
    /// Locked after failed logins (until unlocked or the lock expires).
    Locked,
}

impl UserStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
            UserStatus::Locked => "locked",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            "locked" => Ok(UserStatus::Locked),
            other => Err(StoreError::Corrupt(format!("user status {other:?}"))),
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// The login name as it was created.
    pub name: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Account status.
    pub status: UserStatus,
    /// `local` or the name of the directory the user comes from.
    pub source: String,
    /// Unix seconds.
    pub created_at: i64,
    /// A second e-mail address, for codes sent when the adaptive rules ask for a challenge.
    pub alternate_email: Option<String>,
}

/// A user to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// `local` or a directory name.
    pub source: String,
}

/// A group and how many members it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `local` or the directory it mirrors.
    pub source: String,
    /// Number of members.
    pub members: i64,
}

/// TOTP or HOTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorKind {
    /// Time-based (authenticator apps).
    Totp,
    /// Counter-based (hardware tokens).
    Hotp,
}

impl FactorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Hotp => "hotp",
        }
    }
}

/// An enrolled OTP factor, its secret still sealed.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    /// Random id (hex).
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// TOTP or HOTP.
    pub kind: FactorKind,
    /// A label for the user ("Authenticator app").
    pub label: String,
    /// Hash function.
    #[serde(serialize_with = "ser_algorithm")]
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: u8,
    /// TOTP step in seconds.
    pub period: u64,
    /// Last accepted TOTP step, if any.
    pub last_step: Option<u64>,
    /// The next HOTP counter.
    pub counter: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last accepted code.
    pub last_used_at: Option<i64>,
    #[serde(skip)]
    sealed: Vec<u8>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
fn ser_algorithm<S: serde::Serializer>(a: &Algorithm, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(algorithm_name(*a))
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factor")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("digits", &self.digits)
            .field("last_step", &self.last_step)
            .field("counter", &self.counter)
            .field("secret", &"**sealed**")
            .finish_non_exhaustive()
    }
}

/// A factor to enrol.
pub struct NewFactor<'a> {
    /// TOTP or HOTP.
    pub kind: FactorKind,
    /// A label for the user.
    pub label: &'a str,
    /// The shared secret (sealed before it is written).
    pub secret: &'a Secret,
    /// Hash function.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: u8,
    /// TOTP step.
    pub period: u64,
    /// First HOTP counter.
    pub counter: u64,
}

impl<'a> NewFactor<'a> {
    /// A TOTP factor with the parameters every authenticator app supports: SHA-1, 6 digits,
    /// 30-second steps.
    pub fn totp(label: &'a str, secret: &'a Secret) -> Self {
        NewFactor {
            kind: FactorKind::Totp,
            label,
            secret,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            counter: 0,
        }
    }
}

/// One entry of the append-only audit log. It never holds a password, a code or a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// The name the client gave.
    pub username: String,
    /// The user's id, when the name is known.
    pub user_id: Option<i64>,
    /// The application.
    pub application: String,
    /// Client address.
    pub source_ip: Option<String>,
    /// Where the request came in: `radius`, `web`, `cli`.
    pub front_door: String,
    /// Factors tried, in order (`password`, `totp`, …), with their outcome.
    pub factors: Vec<String>,
    /// `accept`, `reject`, `challenge`, `deny`, `locked`, `error`.
    pub result: String,
    /// Why: the policy decision, adaptive reasons, the audit failure.
    pub reasons: Vec<String>,
}

/// A past login, for the adaptive rules.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRecord {
    /// Unix seconds.
    pub at: u64,
    /// Client address.
    pub ip: IpAddr,
    /// Application.
    pub application: String,
    /// Device identifier, if the client sent one.
    pub device: Option<String>,
}

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredApp {
    /// Id.
    pub id: String,
    /// Kind (`aws`, `saml`, …).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// The settings as JSON.
    pub settings: serde_json::Value,
    /// `config` (declared in the configuration file) or `cli`.
    pub source: String,
}

async fn insert_login(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    login: &LoginRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO logins (user_id, at, ip, application, device) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(to_i64(login.at, "at")?)
    .bind(login.ip.to_string())
    .bind(&login.application)
    .bind(login.device.clone())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_audit(
    conn: &mut sqlx::AnyConnection,
    entry: &AuditEntry,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO audit (at, username, user_id, application, source_ip, front_door, factors, result, reasons)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(entry.at)
    .bind(&entry.username)
    .bind(entry.user_id)
    .bind(&entry.application)
    .bind(entry.source_ip.clone())
    .bind(&entry.front_door)
    .bind(serde_json::to_string(&entry.factors).unwrap_or_default())
    .bind(&entry.result)
    .bind(serde_json::to_string(&entry.reasons).unwrap_or_default())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Checks a group name, application id or similar: 1 to 128 characters, no control
/// characters, no surrounding spaces, no `;` or `,` (list separators in CSV files).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > 128 {
        return Err("must be at most 128 characters");
    }
    if name.chars().any(|c| c.is_control() || c == ';' || c == ',') {
        return Err("must not contain control characters, `;` or `,`");
    }
    if name.trim() != name {
        return Err("must not start or end with a space");
    }
    Ok(())
}

/// Checks a user name: 1 to 256 characters of letters, digits and `. _ - @ + '`.
pub fn check_username(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > 256 {
        return Err("must be at most 256 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+' | '\''))
    {
        return Err("may contain only letters, digits and . _ - @ + '");
    }
    Ok(())
}

/// The case-insensitive key names are unique under.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Sha256 => "SHA256",
        Algorithm::Sha512 => "SHA512",
        _ => "SHA1",
    }
}

fn parse_algorithm(s: &str) -> Result<Algorithm, StoreError> {
    match s {
        "SHA1" => Ok(Algorithm::Sha1),
        "SHA256" => Ok(Algorithm::Sha256),
        "SHA512" => Ok(Algorithm::Sha512),
        other => Err(StoreError::Corrupt(format!("algorithm {other:?}"))),
    }
}

fn to_i64(v: u64, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid {
        field,
        message: "out of range".into(),
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// [`StoreError::NotFound`] for `what` named `name`.
fn missing(what: &'static str, name: &str) -> StoreError {
    StoreError::NotFound {
        what,
        name: name.to_owned(),
    }
}

/// A unique-key violation as [`StoreError::Exists`] for `what` named `name`; any other error
/// as it is.
fn taken(e: sqlx::Error, what: &'static str, name: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Exists {
            what,
            name: name.to_owned(),
        }
    } else {
        e.into()
    }
}

/// The store. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    keyring: Arc<Keyring>,
    /// SQLite only: the writer that lets concurrent logins' writes share a commit.
    group_commit: Option<group_commit::GroupCommit>,
    /// What the decision path reads, in memory (none when the capacity is 0).
    cache: Option<Arc<cache::Cache>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str =
    "id, name, display_name, email, phone, status, source, created_at, alternate_email";
const FACTOR_COLUMNS: &str = "id, user_id, kind, label, algorithm, digits, period, last_step, \
     counter, created_at, last_used_at, secret";

impl Store {
    /// Connects (creating a SQLite file and its directory when missing) and applies pending
    /// migrations.
    pub async fn open(
        url: &str,
        max_connections: u32,
        keyring: Keyring,
    ) -> Result<Store, StoreError> {
        Store::open_with_cache(url, max_connections, keyring, CacheSettings::default()).await
    }

    /// Like [`Store::open`], with the cache's size and refresh interval chosen. The cache
    /// follows the database's change feed on the current Tokio runtime; outside of one, or with
    /// a capacity of 0, there is no cache.
    pub async fn open_with_cache(
        url: &str,
        max_connections: u32,
        keyring: Keyring,
        cache: CacheSettings,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url);
        };
        let mut url = url.to_owned();
        if backend == Backend::Sqlite {
            let path = url
                .trim_start_matches("sqlite:")
                .trim_start_matches("//")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            if let Some(dir) = std::path::Path::new(&path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty() && !d.exists())
            {
                // Only the service's user reads the store (password hashes, sealed secrets,
                // the audit log).
                use std::os::unix::fs::DirBuilderExt as _;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| StoreError::Invalid {
                        field: "store.url",
                        message: format!("cannot create {}: {e}", dir.display()),
                    })?;
            }
            let file = std::path::Path::new(&path);
            if !path.is_empty() && !path.starts_with(':') && !file.exists() {
                // Created here, before SQLite opens it, with owner-only permissions; SQLite gives
                // its -wal and -shm files the same.
                use std::os::unix::fs::OpenOptionsExt as _;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(file)
                    .map_err(|e| StoreError::Invalid {
                        field: "store.url",
                        message: format!("cannot create {}: {e}", file.display()),
                    })?;
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
        }
        let mut options = AnyPoolOptions::new().max_connections(max_connections.max(1));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 15000",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await?;
        let group_commit = match backend {
            Backend::Sqlite => group_commit::GroupCommit::start(pool.clone()),
            Backend::Postgres => None,
        };
        let mut store = Store {
            pool,
            backend,
            keyring: Arc::new(keyring),
            group_commit,
            cache: None,
        };
        store.migrate().await?;
        if cache.capacity > 0
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let shared = cache::Cache::new(cache.capacity);
            runtime.spawn(cache::follow_changes(
                store.pool.clone(),
                Arc::downgrade(&shared),
                cache.refresh,
            ));
            store.cache = Some(shared);
        }
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The keyring sealing OTP secrets.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let postgres = self.backend == Backend::Postgres;
        let mut conn = self.pool.acquire().await?;
        // One migrator at a time: SQLite's write lock, PostgreSQL's advisory lock.
        if postgres {
            sqlx::query("BEGIN").execute(&mut *conn).await?;
            sqlx::query("SELECT pg_advisory_xact_lock(7246591)")
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        }
        let result = async {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
            let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>(0))
                .collect::<Result<_, _>>()?;
            for m in schema::MIGRATIONS {
                if applied.contains(&m.version) {
                    continue;
                }
                let own = if postgres {
                    m.postgres_only
                } else {
                    m.sqlite_only
                };
                for statement in m.common.iter().chain(own) {
                    let sql = schema::render(statement, postgres);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *conn)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                )
                .bind(m.version)
                .bind(m.name)
                .bind(now_secs())
                .execute(&mut *conn)
                .await?;
                tracing::info!(
                    version = m.version,
                    name = m.name,
                    "store migration applied"
                );
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(())
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e.into())
            }
        }
    }

    /// The schema version applied.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }

    // ----- users -----

    fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
        Ok(User {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            display_name: row.try_get(2)?,
            email: row.try_get(3)?,
            phone: row.try_get(4)?,
            status: UserStatus::parse(&row.try_get::<String, _>(5)?)?,
            source: row.try_get(6)?,
            created_at: row.try_get(7)?,
            alternate_email: row.try_get(8)?,
        })
    }

    /// Creates a user.
    pub async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        let created = Self::insert_user(&mut tx, user, now_secs()).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn insert_user(
        conn: &mut sqlx::AnyConnection,
        user: &NewUser,
        now: i64,
    ) -> Result<User, StoreError> {
        check_username(&user.name).map_err(|m| StoreError::Invalid {
            field: "name",
            message: m.into(),
        })?;
        let source = if user.source.is_empty() {
            "local"
        } else {
            user.source.as_str()
        };
        let row = sqlx::query(
            "INSERT INTO users (name, name_key, display_name, email, phone, source, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&user.name)
        .bind(name_key(&user.name))
        .bind(user.display_name.clone())
        .bind(user.email.clone())
        .bind(user.phone.clone())
        .bind(source)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| taken(e, "user", &user.name))?;
        Ok(User {
            id: row.try_get(0)?,
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            phone: user.phone.clone(),
            status: UserStatus::Active,
            source: source.to_owned(),
            created_at: now,
            alternate_email: None,
        })
    }

    /// A user by name (case-insensitive).
    pub async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE name_key = $1"
        )))
        .bind(name_key(name))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// A user by name, or [`StoreError::NotFound`].
    pub async fn require_user(&self, name: &str) -> Result<User, StoreError> {
        self.user(name).await?.ok_or_else(|| missing("user", name))
    }

    /// All users, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY name_key"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    /// Number of users.
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Sets a user's status.
    pub async fn set_status(&self, name: &str, status: UserStatus) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE name_key = $3")
            .bind(status.as_str())
            .bind(now_secs())
            .bind(name_key(name))
            .execute(&self.pool)
            .await?;
        self.forget_user_named(name);
        if done.rows_affected() == 0 {
            return Err(missing("user", name));
        }
        Ok(())
    }

    /// Updates the profile of a user (for directory users at each login).
    pub async fn update_profile(
        &self,
        user_id: i64,
        display_name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET display_name = $1, email = $2, phone = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(display_name.map(str::to_owned))
        .bind(email.map(str::to_owned))
        .bind(phone.map(str::to_owned))
        .bind(now_secs())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        self.forget_user(user_id);
        Ok(())
    }

    /// Deletes a user with everything enrolled (the audit log keeps its entries).
    pub async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE name_key = $1")
            .bind(name_key(name))
            .execute(&self.pool)
            .await?;
        self.forget_all();
        if done.rows_affected() == 0 {
            return Err(missing("user", name));
        }
        Ok(())
    }

    /// Stores a password hash (argon2id PHC string) for a user.
    pub async fn set_password_hash(&self, user_id: i64, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO passwords (user_id, hash, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now_secs())
        .execute(&self.pool)
        .await?;
        self.forget_user(user_id);
        Ok(())
    }

    /// The stored password hash of a user, if any.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT hash FROM passwords WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    // ----- groups -----

    /// Creates a group unless it exists; returns its id.
    pub async fn ensure_group(&self, name: &str, source: &str) -> Result<i64, StoreError> {
        check_name(name).map_err(|m| StoreError::Invalid {
            field: "group",
            message: m.into(),
        })?;
        sqlx::query(
            "INSERT INTO user_groups (name, name_key, source, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(name)
        .bind(name_key(name))
        .bind(source)
        .bind(now_secs())
        .execute(&self.pool)
        .await?;
        self.group_id(name)
            .await?
            .ok_or_else(|| missing("group", name))
    }

    /// Creates a group; fails if it exists.
    pub async fn create_group(&self, name: &str) -> Result<i64, StoreError> {
        check_name(name).map_err(|m| StoreError::Invalid {
            field: "group",
            message: m.into(),
        })?;
        let row = sqlx::query(
            "INSERT INTO user_groups (name, name_key, source, created_at) VALUES ($1, $2, 'local', $3)
             RETURNING id",
        )
        .bind(name)
        .bind(name_key(name))
        .bind(now_secs())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| taken(e, "group", name))?;
        Ok(row.try_get(0)?)
    }

    async fn group_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM user_groups WHERE name_key = $1")
            .bind(name_key(name))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// All groups with their member counts.
    pub async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, g.source, (SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id)
             FROM user_groups g ORDER BY g.name_key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Group {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    source: r.try_get(2)?,
                    members: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Adds a user to a group (no error if already a member).
    pub async fn add_member(&self, user: &str, group: &str) -> Result<(), StoreError> {
        let u = self.require_user(user).await?;
        let g = self
            .group_id(group)
            .await?
            .ok_or_else(|| missing("group", group))?;
        sqlx::query(
            "INSERT INTO memberships (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(u.id)
        .bind(g)
        .execute(&self.pool)
        .await?;
        self.forget_user(u.id);
        Ok(())
    }

    /// Removes a user from a group.
    pub async fn remove_member(&self, user: &str, group: &str) -> Result<bool, StoreError> {
        let u = self.require_user(user).await?;
        let g = self
            .group_id(group)
            .await?
            .ok_or_else(|| missing("group", group))?;
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND group_id = $2")
            .bind(u.id)
            .bind(g)
            .execute(&self.pool)
            .await?;
        self.forget_user(u.id);
        Ok(done.rows_affected() > 0)
    }

    /// Makes a directory user's stored memberships equal to `groups` (creating groups of
    /// that directory as needed); local groups named the same are matched too.
    pub async fn sync_memberships(
        &self,
        user_id: i64,
        groups: &[String],
        source: &str,
    ) -> Result<(), StoreError> {
        let mut ids = Vec::with_capacity(groups.len());
        for g in groups {
            if check_name(g).is_ok() {
                ids.push(self.ensure_group(g, source).await?);
            }
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM memberships WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for id in ids {
            sqlx::query(
                "INSERT INTO memberships (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.forget_user(user_id);
        Ok(())
    }

    /// The names of a user's groups, sorted.
    pub async fn groups_of(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.name FROM memberships m JOIN user_groups g ON g.id = m.group_id
             WHERE m.user_id = $1 ORDER BY g.name_key",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    // ----- bulk import -----

    /// Creates users and their memberships in one transaction: all or nothing. Groups must
    /// exist (the caller checks them first and reports the lines).
    pub async fn import_users(
        &self,
        users: &[(NewUser, Vec<String>)],
        mut progress: impl FnMut(usize),
    ) -> Result<usize, StoreError> {
        let groups: std::collections::HashMap<String, i64> = self
            .groups()
            .await?
            .into_iter()
            .map(|g| (name_key(&g.name), g.id))
            .collect();
        let now = now_secs();
        let mut tx = self.pool.begin().await?;
        for (i, (user, member_of)) in users.iter().enumerate() {
            let created = Self::insert_user(&mut tx, user, now).await?;
            for g in member_of {
                let gid = groups
                    .get(&name_key(g))
                    .ok_or_else(|| StoreError::NotFound {
                        what: "group",
                        name: g.clone(),
                    })?;
                sqlx::query("INSERT INTO memberships (user_id, group_id) VALUES ($1, $2)")
                    .bind(created.id)
                    .bind(*gid)
                    .execute(&mut *tx)
                    .await?;
            }
            if i % 256 == 255 {
                progress(i + 1);
            }
        }
        tx.commit().await?;
        self.forget_all();
        progress(users.len());
        Ok(users.len())
    }

    // ----- factors -----

    fn factor_from_row(row: &AnyRow) -> Result<Factor, StoreError> {
        let kind = match row.try_get::<String, _>(2)?.as_str() {
            "totp" => FactorKind::Totp,
            "hotp" => FactorKind::Hotp,
            other => return Err(StoreError::Corrupt(format!("factor kind {other:?}"))),
        };
        let last_step: i64 = row.try_get(7)?;
        let counter: i64 = row.try_get(8)?;
        Ok(Factor {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            kind,
            label: row.try_get(3)?,
            algorithm: parse_algorithm(&row.try_get::<String, _>(4)?)?,
            digits: u8::try_from(row.try_get::<i64, _>(5)?)
                .map_err(|_| StoreError::Corrupt("digits".into()))?,
            period: u64::try_from(row.try_get::<i64, _>(6)?)
                .map_err(|_| StoreError::Corrupt("period".into()))?,
            last_step: u64::try_from(last_step).ok(),
            counter: u64::try_from(counter).map_err(|_| StoreError::Corrupt("counter".into()))?,
            created_at: row.try_get(9)?,
            last_used_at: row.try_get(10)?,
            sealed: row.try_get(11)?,
        })
    }

    /// Enrols a factor: the secret is sealed under the current key, bound to the user and
    /// the new factor's id. Returns the factor id.
    pub async fn add_factor(
        &self,
        user_id: i64,
        factor: &NewFactor<'_>,
    ) -> Result<String, StoreError> {
        let id = random_id()?;
        let sealed = self
            .keyring
            .seal(factor.secret.expose_bytes(), &factor_context(user_id, &id))?;
        sqlx::query(
            "INSERT INTO factors (id, user_id, kind, label, secret, key_id, algorithm, digits, period, counter, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(factor.kind.as_str())
        .bind(factor.label)
        .bind(sealed)
        .bind(self.keyring.current().id_hex())
        .bind(algorithm_name(factor.algorithm))
        .bind(i64::from(factor.digits))
        .bind(to_i64(factor.period, "period")?)
        .bind(to_i64(factor.counter, "counter")?)
        .bind(now_secs())
        .execute(&self.pool)
        .await?;
        self.forget_user(user_id);
        Ok(id)
    }

    /// A user's factors, oldest first.
    pub async fn factors_of(&self, user_id: i64) -> Result<Vec<Factor>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FACTOR_COLUMNS} FROM factors WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::factor_from_row).collect()
    }

    /// A factor by id.
    pub async fn factor(&self, id: &str) -> Result<Option<Factor>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FACTOR_COLUMNS} FROM factors WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::factor_from_row).transpose()
    }

    /// Opens a factor's secret.
    pub fn factor_secret(&self, factor: &Factor) -> Result<Secret, StoreError> {
        let bytes = self
            .keyring
            .open(&factor.sealed, &factor_context(factor.user_id, &factor.id))?;
        Secret::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Removes one of a user's OTP factors; returns whether it was theirs.
    pub async fn delete_factor(&self, user_id: i64, factor_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM factors WHERE id = $1 AND user_id = $2")
            .bind(factor_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        self.forget_user(user_id);
        Ok(done.rows_affected() == 1)
    }

    /// Removes all of a user's OTP factors and backup codes; returns how many factors.
    pub async fn reset_factors(&self, user_id: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM factors WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.forget_user(user_id);
        Ok(done.rows_affected())
    }

    /// The replay guard for TOTP: records `step` as used if, and only if, it is later than the
    /// last accepted step. True for exactly one of any number of concurrent callers with the
    /// same step, across connections, processes and instances.
    pub async fn accept_totp_step(
        &self,
        factor_id: &str,
        step: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.advance_guard(
            group_commit::Guard::Step,
            to_i64(step, "step")?,
            now,
            factor_id,
        )
        .await
    }

    /// The replay guard for HOTP: moves the stored counter to `next_counter` if it is still at
    /// or below the accepted counter (`next_counter - 1`). True for exactly one caller.
    pub async fn accept_hotp_counter(
        &self,
        factor_id: &str,
        next_counter: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.advance_guard(
            group_commit::Guard::Counter,
            to_i64(next_counter, "counter")?,
            now,
            factor_id,
        )
        .await
    }

    /// Runs one conditional `UPDATE` of a replay guard: true if it matched the row.
    async fn advance_guard(
        &self,
        kind: group_commit::Guard,
        value: i64,
        now: i64,
        factor_id: &str,
    ) -> Result<bool, StoreError> {
        let write = group_commit::Write::Guard {
            kind,
            value,
            now,
            factor_id: factor_id.to_owned(),
        };
        match self.write_grouped(write).await? {
            group_commit::Written::Guard(advanced) => Ok(advanced),
            group_commit::Written::AcceptedLogin(..) => Err(StoreError::Corrupt(
                "a guard's write answered as a login".into(),
            )),
        }
    }

    /// Applies a write that may share a commit with concurrent ones (SQLite), or in a
    /// transaction of its own (PostgreSQL, or when the writer task is gone).
    async fn write_grouped(
        &self,
        write: group_commit::Write,
    ) -> Result<group_commit::Written, StoreError> {
        let write = match &self.group_commit {
            Some(writer) => match writer.write(write).await {
                Ok(result) => return result,
                Err(group_commit::NotQueued::Gone(write)) => write,
                Err(group_commit::NotQueued::Unanswered) => {
                    return Err(StoreError::Database(sqlx::Error::PoolClosed));
                }
            },
            None => write,
        };
        group_commit::apply_alone(&self.pool, &write).await
    }

    /// Re-encrypts every factor secret not sealed under the current key, in one transaction.
    /// Returns how many were re-encrypted.
    pub async fn reencrypt_factors(&self) -> Result<u64, StoreError> {
        let current = self.keyring.current().id_hex();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FACTOR_COLUMNS} FROM factors WHERE key_id <> $1"
        )))
        .bind(&current)
        .fetch_all(&mut *tx)
        .await?;
        let mut n = 0;
        for row in &rows {
            let f = Self::factor_from_row(row)?;
            let context = factor_context(f.user_id, &f.id);
            let plain = self.keyring.open(&f.sealed, &context)?;
            let sealed = self.keyring.seal(&plain, &context)?;
            sqlx::query("UPDATE factors SET secret = $1, key_id = $2 WHERE id = $3")
                .bind(sealed)
                .bind(&current)
                .bind(&f.id)
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
        n += self.reencrypt_yubikeys(&mut tx).await?;
        tx.commit().await?;
        self.forget_all();
        Ok(n)
    }

    /// How many factor secrets (OATH factors and YubiKeys) each key id sealed.
    pub async fn factor_key_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, COUNT(*) FROM (SELECT key_id FROM factors
                                           UNION ALL SELECT key_id FROM yubikeys) AS sealed
             GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    // ----- backup codes -----

    /// Replaces a user's backup codes with these hashes.
    pub async fn replace_backup_codes(
        &self,
        user_id: i64,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let now = now_secs();
        for h in hashes {
            sqlx::query(
                "INSERT INTO backup_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(h)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A user's unused backup codes: `(id, hash)`.
    pub async fn unused_backup_codes(
        &self,
        user_id: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, code_hash FROM backup_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Marks a backup code used; true for exactly one caller.
    pub async fn use_backup_code(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE backup_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    // ----- devices -----

    /// A user's registered devices.
    pub async fn devices_of(&self, user_id: i64) -> Result<Vec<RegisteredDevice>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_id, registered_at, trusted_until FROM devices WHERE user_id = $1 ORDER BY registered_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RegisteredDevice {
                    id: r.try_get(0)?,
                    registered_at: u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    trusted_until: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Stores a device registration (new or renewed).
    pub async fn upsert_device(
        &self,
        user_id: i64,
        device: &RegisteredDevice,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO devices (user_id, device_id, registered_at, trusted_until, last_seen)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, device_id) DO UPDATE
             SET trusted_until = excluded.trusted_until, last_seen = excluded.last_seen",
        )
        .bind(user_id)
        .bind(&device.id)
        .bind(to_i64(device.registered_at, "registered_at")?)
        .bind(to_i64(device.trusted_until, "trusted_until")?)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if let Some(cache) = &self.cache {
            cache.update_user(user_id, |v| {
                match v.devices.iter_mut().find(|d| d.id == device.id) {
                    Some(d) => d.trusted_until = device.trusted_until,
                    None => v.devices.push(device.clone()),
                }
            });
        }
        Ok(())
    }

    // ----- lockout -----

    /// The lockout state of a key (`user:NAME` or `ip:ADDR`) and its version.
    pub async fn lockout(&self, key: &str) -> Result<(LockoutState, i64), StoreError> {
        let Some(cache) = &self.cache else {
            return self.lockout_stored(key).await;
        };
        if let Some(known) = cache.lock(key) {
            return Ok(known);
        }
        let load = cache.begin();
        let (state, version) = self.lockout_stored(key).await?;
        cache.keep_lock(key, state, version, load);
        Ok((state, version))
    }

    /// The lockout state of a key as the database has it.
    async fn lockout_stored(&self, key: &str) -> Result<(LockoutState, i64), StoreError> {
        let row = sqlx::query("SELECT state, version FROM lockouts WHERE lock_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok((LockoutState::default(), 0)),
            Some(r) => {
                let text: String = r.try_get(0)?;
                let state = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("lockout state: {e}")))?;
                Ok((state, r.try_get(1)?))
            }
        }
    }

    /// Applies `change` to a key's lockout state atomically: the new state is written only if
    /// no other writer changed it since it was read, else it is read again and `change`
    /// re-applied. Returns the state written.
    pub async fn update_lockout(
        &self,
        key: &str,
        mut change: impl FnMut(LockoutState) -> LockoutState,
    ) -> Result<LockoutState, StoreError> {
        for attempt in 0..64 {
            // The cached state first; after a lost race, the database's.
            let (state, version) = if attempt == 0 {
                self.lockout(key).await?
            } else {
                self.lockout_stored(key).await?
            };
            let next = change(state);
            // Nothing to write (a success on a clean record, the common case): no write, no
            // fsync.
            if next == state {
                return Ok(next);
            }
            let text = serde_json::to_string(&next)
                .map_err(|e| StoreError::Corrupt(format!("lockout state: {e}")))?;
            // What a successful login clears by itself (see `record_accepted_login`).
            let resettable = i64::from(next != LockoutState::default() && !next.disabled);
            let done = if version == 0 {
                sqlx::query(
                    "INSERT INTO lockouts (lock_key, state, version, resettable) VALUES ($1, $2, 1, $3)
                     ON CONFLICT (lock_key) DO NOTHING",
                )
                .bind(key)
                .bind(&text)
                .bind(resettable)
                .execute(&self.pool)
                .await?
            } else {
                sqlx::query(
                    "UPDATE lockouts SET state = $1, version = version + 1, resettable = $4
                     WHERE lock_key = $2 AND version = $3",
                )
                .bind(&text)
                .bind(key)
                .bind(version)
                .bind(resettable)
                .execute(&self.pool)
                .await?
            };
            if done.rows_affected() == 1 {
                if let Some(cache) = &self.cache {
                    cache.wrote_lock(key, next, version + 1);
                }
                return Ok(next);
            }
            if let Some(cache) = &self.cache {
                cache.drop_lock(key);
            }
        }
        Err(StoreError::Corrupt(format!(
            "lockout state of {key} kept changing (64 attempts)"
        )))
    }

    /// Clears a key's lockout state (an administrator's unlock).
    pub async fn reset_lockout(&self, key: &str) -> Result<(), StoreError> {
        self.update_lockout(key, |_| LockoutState::default())
            .await
            .map(|_| ())
    }

    // ----- logins -----

    /// Records a successful login for the adaptive rules.
    pub async fn record_login(&self, user_id: i64, login: &LoginRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_login(&mut conn, user_id, login).await
    }

    /// A user's latest logins, newest first, for the adaptive rules.
    pub async fn recent_logins(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<PastLogin>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, ip FROM logins WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let ip: String = r.try_get(1)?;
                Ok(PastLogin {
                    at: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    ip: ip
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("login address {ip:?}")))?,
                    country: None,
                    location: None,
                })
            })
            .collect()
    }

    // ----- applications -----

    /// Creates or replaces an application.
    pub async fn upsert_app(
        &self,
        id: &str,
        kind: &str,
        name: &str,
        settings: &serde_json::Value,
        source: &str,
    ) -> Result<(), StoreError> {
        check_name(id).map_err(|m| StoreError::Invalid {
            field: "app id",
            message: m.into(),
        })?;
        let now = now_secs();
        sqlx::query(
            "INSERT INTO applications (id, kind, name, settings, source, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
             settings = excluded.settings, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(kind)
        .bind(name)
        .bind(settings.to_string())
        .bind(source)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// All applications, by id.
    pub async fn apps(&self) -> Result<Vec<StoredApp>, StoreError> {
        let rows =
            sqlx::query("SELECT id, kind, name, settings, source FROM applications ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let settings: String = r.try_get(3)?;
                Ok(StoredApp {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    name: r.try_get(2)?,
                    settings: serde_json::from_str(&settings)
                        .map_err(|e| StoreError::Corrupt(format!("app settings: {e}")))?,
                    source: r.try_get(4)?,
                })
            })
            .collect()
    }

    // ----- RADIUS clients -----

    /// Adds a RADIUS client (NAS). `secret_ref` is where the shared secret is read from
    /// (`env:NAME` or `file:PATH`): the store never holds the secret itself.
    pub async fn add_radius_client(
        &self,
        name: &str,
        source: &str,
        secret_ref: &str,
    ) -> Result<(), StoreError> {
        check_name(name).map_err(|m| StoreError::Invalid {
            field: "name",
            message: m.into(),
        })?;
        if crate::config::parse_prefix(source).is_none() {
            return Err(StoreError::Invalid {
                field: "source",
                message: format!("{source:?} is no address or CIDR prefix"),
            });
        }
        if !(secret_ref.starts_with("env:") || secret_ref.starts_with("file:"))
            || secret_ref.len() < 6
        {
            return Err(StoreError::Invalid {
                field: "secret",
                message: "give env:NAME or file:PATH; the store keeps no shared secret".into(),
            });
        }
        sqlx::query(
            "INSERT INTO radius_clients (name, source, secret_ref, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(source)
        .bind(secret_ref)
        .bind(now_secs())
        .execute(&self.pool)
        .await
        .map_err(|e| taken(e, "RADIUS client", name))?;
        Ok(())
    }

    /// The RADIUS clients added with the CLI: `(name, source, secret reference)`, by name.
    pub async fn radius_clients(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, source, secret_ref FROM radius_clients ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Removes a RADIUS client added with the CLI.
    pub async fn delete_radius_client(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM radius_clients WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(missing("RADIUS client", name));
        }
        Ok(())
    }

    // ----- audit -----

    /// Appends an entry to the audit log; returns its id.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, entry).await
    }

    /// Records an accepted login and its audit entry in one transaction (one commit, one
    /// fsync, instead of two; on SQLite shared with concurrent logins' writes), and clears the
    /// failures counted against the user's name (the lockout policy's reset on success; a
    /// disabled state stays). Returns the audit entry's id.
    pub async fn record_accepted_login(
        &self,
        user_id: i64,
        login: &LoginRecord,
        entry: &AuditEntry,
    ) -> Result<i64, StoreError> {
        self.record_accepted_login_with_mail(user_id, login, entry, Vec::new())
            .await
    }

    /// [`Store::record_accepted_login`], with messages for the outbox (the alerts the login
    /// raised) written in the same transaction.
    pub async fn record_accepted_login_with_mail(
        &self,
        user_id: i64,
        login: &LoginRecord,
        entry: &AuditEntry,
        mails: Vec<NewMail>,
    ) -> Result<i64, StoreError> {
        let lock_key = format!("user:{}", name_key(&entry.username));
        let write = group_commit::Write::AcceptedLogin {
            user_id,
            login: Box::new(login.clone()),
            entry: Box::new(entry.clone()),
            lock_key: lock_key.clone(),
            mails,
        };
        match self.write_grouped(write).await? {
            group_commit::Written::AcceptedLogin(id, reset) => {
                if let Some(cache) = &self.cache {
                    if reset {
                        cache.drop_lock(&lock_key);
                    }
                    let past = PastLogin {
                        at: login.at,
                        ip: login.ip,
                        country: None,
                        location: None,
                    };
                    cache.update_user(user_id, |v| {
                        v.history.insert(0, past);
                        v.history.truncate(cache::HISTORY);
                    });
                }
                Ok(id)
            }
            group_commit::Written::Guard(_) => Err(StoreError::Corrupt(
                "a login's write answered as a guard".into(),
            )),
        }
    }

    /// The latest `limit` audit entries (of one user when given), oldest first.
    pub async fn audit_tail(
        &self,
        limit: i64,
        username: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const COLUMNS: &str = "id, at, username, user_id, application, source_ip, front_door, factors, result, reasons";
        let query = match username {
            Some(u) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit WHERE LOWER(username) = $1 ORDER BY id DESC LIMIT $2"
            )))
            .bind(name_key(u))
            .bind(limit),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit ORDER BY id DESC LIMIT $1"
            )))
            .bind(limit),
        };
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let list = |i: usize| -> Result<Vec<String>, StoreError> {
                    let text: String = r.try_get(i)?;
                    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
                };
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    username: r.try_get(2)?,
                    user_id: r.try_get(3)?,
                    application: r.try_get(4)?,
                    source_ip: r.try_get(5)?,
                    front_door: r.try_get(6)?,
                    factors: list(7)?,
                    result: r.try_get(8)?,
                    reasons: list(9)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.reverse();
        Ok(out)
    }

    /// Runs one statement as given, for tests that check what the database itself enforces
    /// (the append-only audit log) or look at raw rows.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await?
            .rows_affected();
        self.forget_all();
        Ok(n)
    }

    /// The value of a SQLite pragma (`journal_mode`, `synchronous`, …) on a pooled
    /// connection, for tests and diagnostics.
    #[doc(hidden)]
    pub async fn sqlite_pragma(&self, name: &str) -> Result<String, StoreError> {
        if self.backend != Backend::Sqlite
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(StoreError::Invalid {
                field: "pragma",
                message: "only SQLite pragmas by plain name".into(),
            });
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(&self.pool)
            .await?;
        if let Ok(s) = row.try_get::<String, _>(0) {
            return Ok(s);
        }
        Ok(row.try_get::<i64, _>(0)?.to_string())
    }

    /// Every text and blob cell of a table, for tests that look for secrets in clear.
    #[doc(hidden)]
    pub async fn raw_cells(&self, table: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        if table.is_empty() || !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(StoreError::Invalid {
                field: "table",
                message: "a table name is lower-case letters and `_`".into(),
            });
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&self.pool)
            .await?;
        let mut cells = Vec::new();
        for r in &rows {
            for i in 0..r.len() {
                if let Ok(Some(s)) = r.try_get::<Option<String>, _>(i) {
                    cells.push(s.into_bytes());
                } else if let Ok(Some(b)) = r.try_get::<Option<Vec<u8>>, _>(i) {
                    cells.push(b);
                }
            }
        }
        Ok(cells)
    }

    /// Moves a factor's sealed secret into another factor's row, as an attacker with write
    /// access to the database would; for the test that such a secret no longer opens.
    #[doc(hidden)]
    pub async fn copy_sealed_secret(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT secret FROM factors WHERE id = $1")
            .bind(from)
            .fetch_one(&self.pool)
            .await?;
        let sealed: Vec<u8> = row.try_get(0)?;
        sqlx::query("UPDATE factors SET secret = $1 WHERE id = $2")
            .bind(sealed)
            .bind(to)
            .execute(&self.pool)
            .await?;
        self.forget_all();
        Ok(())
    }
}

/// The stored form of a lockout state without failures.
fn clean_lockout() -> &'static str {
    static CLEAN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CLEAN.get_or_init(|| serde_json::to_string(&LockoutState::default()).unwrap_or_default())
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// 16 random bytes in hex.
fn random_id() -> Result<String, StoreError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Crypto(CryptoError::Random))?;
    Ok(data_encoding::HEXLOWER.encode(&bytes))
}
