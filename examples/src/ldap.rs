//! LDAP and Active Directory users through `idforge-ldap-auth`, over tokio.
//!
//! [`LdapDirectory`] drives the crate's sans-IO [`Authenticator`] over TCP: it connects (with a
//! timeout), upgrades with StartTLS or speaks LDAPS through rustls (trusting only the
//! configured CA), writes what the state machine says, feeds it what the server answers (each
//! operation with its own timeout), and turns the outcome into an [`LdapLogin`]:
//!
//! - [`LdapLogin::Accepted`]: the user's entry, mapped attributes and groups;
//! - [`LdapLogin::Rejected`]: the directory refused the user (wrong password, unknown user,
//!   locked account …), with the full reason for the audit log and a short one for the user;
//! - [`LdapError`]: the directory could not be asked (connection, TLS, timeout, service
//!   account, protocol). This is not the user's fault and must not count as a failed login.
//!
//! At most `pool_size` connections are open at once; the logins beyond wait for a free one.
//! With a service account, a connection is kept for the next login after a login that ended
//! cleanly: every login starts with the service bind, so the identity left behind by the last
//! user bind never carries over. Without one, each login gets a new connection.
//!
//! [`LdapDirectory::test`] is the administrator's "test connection and attribute mapping": it
//! connects, binds as the service account and searches a user (without binding as the user),
//! and reports what it found with the time each step took.
//!
//! Passwords never appear in `Debug` output, logs or errors.

mod conn;
mod pool;
mod report;
mod settings;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use idforge_ldap_auth::{
    AttributeMapping, AuthFailure, AuthenticatedUser, Authenticator, DirectoryConfig, Dn,
    LdapMessage, Password, ProtocolOp, ServiceAccount, Step, UserFacingFailure,
};
use idforge_ldap_auth::{OID_START_TLS, OID_WHO_AM_I};
use rustls_pki_types::ServerName;
use serde::Serialize;
use tokio::time::{Instant, timeout_at};
use zeroize::Zeroizing;

use crate::secret::SecretError;
use conn::{Connector, Stream};
use pool::Pool;

pub use report::{LdapTestReport, LdapTestStep};
pub use settings::{
    AttributeNames, InvalidUrl, LdapScheme, LdapSettings, LdapUrl, MAX_POOL_SIZE, MAX_TIMEOUT_SECS,
    MESSAGE_SIZE_RANGE, Security,
};

/// The directory could not be asked: configuration, connection, TLS, timeout or protocol.
/// Every variant names the directory and what failed; none carries a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LdapError {
    /// The settings are inconsistent or out of range.
    #[error("directory {directory}: {reason}")]
    Settings {
        /// The directory's name.
        directory: String,
        /// What is wrong.
        reason: String,
    },
    /// The service account's password could not be read.
    #[error("directory {directory}: bind_password: {source}")]
    Secret {
        /// The directory's name.
        directory: String,
        /// Why.
        source: SecretError,
    },
    /// The CA file could not be used.
    #[error("directory {directory}: CA file {path}: {reason}")]
    CaFile {
        /// The directory's name.
        directory: String,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection failed.
    #[error("directory {directory}: cannot connect to {address}: {source}")]
    Connect {
        /// The directory's name.
        directory: String,
        /// `host:port`.
        address: String,
        /// The error.
        source: std::io::Error,
    },
    /// A step took longer than allowed.
    #[error("directory {directory}: {operation} timed out after {} s", after.as_secs())]
    Timeout {
        /// The directory's name.
        directory: String,
        /// What was waited for: `connect`, `TLS handshake`, `service bind`, `user search` …
        operation: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name, no common protocol …).
    #[error("directory {directory}: TLS handshake with {server_name} failed: {source}")]
    Tls {
        /// The directory's name.
        directory: String,
        /// The name the certificate was checked against.
        server_name: String,
        /// The error (rustls' reason inside).
        source: std::io::Error,
    },
    /// Reading or writing failed during an operation.
    #[error("directory {directory}: {operation}: {source}")]
    Io {
        /// The directory's name.
        directory: String,
        /// The operation.
        operation: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The directory answered, but not in a way that lets the login be decided: service bind
    /// refused, StartTLS refused, search failed, malformed or unexpected message, connection
    /// closed, too many groups … (the crate's [`AuthFailure`], for the audit log).
    #[error("directory {directory}: {failure}")]
    Directory {
        /// The directory's name.
        directory: String,
        /// What happened.
        failure: AuthFailure,
    },
}

/// A user the directory accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LdapUser {
    /// The entry's DN as the server wrote it.
    pub dn: String,
    /// The login attribute's value in the entry (the directory's spelling), or the name as
    /// typed when the filter has no single login attribute.
    pub username: String,
    /// The first value of the attribute mapped as `display_name`.
    pub display_name: Option<String>,
    /// The first value of the attribute mapped as `email`.
    pub email: Option<String>,
    /// The first value of the attribute mapped as `phone`.
    pub phone: Option<String>,
    /// Every mapped attribute with all its values, by mapped name. Values that are not UTF-8
    /// (`objectGUID`, `objectSid`) are given in base64. Serialized as a map.
    #[serde(serialize_with = "attributes_as_map")]
    pub attributes: Vec<(String, Vec<String>)>,
    /// Group names: the value of each group DN's first RDN (`VPN_Group` for
    /// `cn=VPN_Group,ou=groups,dc=example,dc=com`), in the order found.
    pub groups: Vec<String>,
    /// The group DNs, in the same order.
    pub group_dns: Vec<String>,
}

fn attributes_as_map<S: serde::Serializer>(
    attributes: &[(String, Vec<String>)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(attributes.iter().map(|(name, values)| (name, values)))
}

impl LdapUser {
    /// All values of a mapped attribute (empty when the entry has none).
    pub fn values(&self, name: &str) -> &[String] {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// How a login ended, when the directory could decide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdapLogin {
    /// Right password: who the user is.
    Accepted(LdapUser),
    /// The directory refused the login.
    Rejected {
        /// The full reason, for the audit log: `wrong password`, `no such user`,
        /// `account locked`, `empty password refused before any bind` …
        audit: String,
        /// What the user may be told: `invalid credentials` for an unknown user, a wrong
        /// password or an ambiguous name alike (accounts cannot be enumerated), otherwise
        /// `account locked`, `password expired: it must be changed` …
        user_facing: String,
    },
}

/// One configured directory, ready to log users in. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct LdapDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    connector: Connector,
    pool: Pool,
    /// The flow for a new connection.
    config: DirectoryConfig,
    /// The flow for a kept connection (its TLS, if any, is already up).
    config_reused: DirectoryConfig,
    /// The service account's DN as the flow writes it in its binds.
    service_dn: Option<String>,
    /// Whether connections are kept between logins.
    reuse: bool,
    timeout: Duration,
}

impl fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("LdapDirectory")
            .field("name", &inner.name)
            .field("url", &inner.connector.url.to_string())
            .field("security", &inner.connector.security)
            .field("service_account", &inner.service_dn)
            .field("reuse", &inner.reuse)
            .finish_non_exhaustive()
    }
}

/// The user-facing text for a refusal.
fn user_message(failure: UserFacingFailure) -> &'static str {
    match failure {
        UserFacingFailure::InvalidCredentials => "invalid credentials",
        UserFacingFailure::AccountLocked => "account locked",
        UserFacingFailure::AccountDisabled => "account disabled or expired",
        UserFacingFailure::PasswordExpired => "password expired: it must be changed",
        UserFacingFailure::LogonRestricted => "logon not permitted now or from here",
        UserFacingFailure::Unavailable => "the directory is unavailable; try again later",
        _ => "login refused",
    }
}

/// The name of a group: the value of its DN's first RDN (`cn=VPN_Group,ou=groups,…` ->
/// `VPN_Group`, `ou=Sales,…` -> `Sales`; the first pair of a multi-valued RDN). The whole DN
/// when that value is not UTF-8 text or the DN is empty.
pub fn group_name(dn: &Dn) -> String {
    dn.rdns()
        .first()
        .and_then(|rdn| rdn.avas().first())
        .and_then(|ava| ava.value_str())
        .filter(|value| !value.is_empty())
        .map_or_else(|| dn.to_string(), str::to_owned)
}

/// A value as text: UTF-8 as it is, anything else in base64.
fn text_value(value: Vec<u8>) -> String {
    String::from_utf8(value).unwrap_or_else(|e| STANDARD.encode(e.into_bytes()))
}

/// The crate's result as an [`LdapUser`].
fn ldap_user(user: AuthenticatedUser, typed: &str) -> LdapUser {
    let attributes: Vec<(String, Vec<String>)> = user
        .attributes
        .into_iter()
        .map(|(name, values)| (name, values.into_iter().map(text_value).collect()))
        .collect();
    let first = |name: &str| {
        attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first().cloned())
    };
    LdapUser {
        dn: user.dn_string,
        username: user.login.unwrap_or_else(|| typed.to_owned()),
        display_name: first(settings::DISPLAY_NAME),
        email: first(settings::EMAIL),
        phone: first(settings::PHONE),
        groups: user.groups.iter().map(group_name).collect(),
        group_dns: user.groups.iter().map(ToString::to_string).collect(),
        attributes,
    }
}

/// What a request written by the login flow is, for timeouts and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    StartTls,
    ServiceBind,
    UserBind,
    UserSearch,
    GroupSearch,
    WhoAmI,
    Unbind,
    Other,
}

impl Request {
    fn name(self) -> &'static str {
        match self {
            Request::StartTls => "StartTLS",
            Request::ServiceBind => "service bind",
            Request::UserBind => "user bind",
            Request::UserSearch => "user search",
            Request::GroupSearch => "group search",
            Request::WhoAmI => "Who am I?",
            Request::Unbind => "unbind",
            Request::Other => "request",
        }
    }

    /// Reads what the flow is about to send. `searches` counts the searches so far.
    fn of(bytes: &[u8], service_dn: Option<&str>, searches: &mut usize) -> Self {
        let Ok(message) = LdapMessage::decode(bytes) else {
            return Request::Other;
        };
        match message.op {
            ProtocolOp::ExtendedRequest(r) if r.name == OID_START_TLS => Request::StartTls,
            ProtocolOp::ExtendedRequest(r) if r.name == OID_WHO_AM_I => Request::WhoAmI,
            ProtocolOp::BindRequest(b) if Some(b.name.as_str()) == service_dn => {
                Request::ServiceBind
            }
            ProtocolOp::BindRequest(_) => Request::UserBind,
            ProtocolOp::SearchRequest(_) => {
                *searches += 1;
                if *searches == 1 {
                    Request::UserSearch
                } else {
                    Request::GroupSearch
                }
            }
            ProtocolOp::UnbindRequest => Request::Unbind,
            _ => Request::Other,
        }
    }
}

/// One run of the login flow on one connection.
struct Attempt {
    outcome: Result<Result<AuthenticatedUser, AuthFailure>, LdapError>,
    /// Whether the user's bind (with the password) was written, even in part.
    password_sent: bool,
    /// The connection, when it ended in step with the server and may serve another login.
    keep: Option<Stream>,
}

impl Attempt {
    fn failed(error: LdapError, password_sent: bool) -> Self {
        Self {
            outcome: Err(error),
            password_sent,
            keep: None,
        }
    }

    /// A kept connection that the server had closed meanwhile fails at once; the login may
    /// then be run again on a new connection, as long as the password was not sent (so a
    /// failed attempt is never counted twice against the account).
    fn stale(&self) -> bool {
        !self.password_sent
            && matches!(
                self.outcome,
                Err(LdapError::Io { .. })
                    | Ok(Err(
                        AuthFailure::ConnectionClosed | AuthFailure::Disconnected { .. }
                    ))
            )
    }
}

/// Whether a flow that ended so left the connection with nothing outstanding: every request
/// answered, no partial search. Only these connections are kept.
fn in_step(result: &Result<AuthenticatedUser, AuthFailure>) -> bool {
    matches!(
        result,
        Ok(_)
            | Err(AuthFailure::WrongPassword
                | AuthFailure::NoSuchUser
                | AuthFailure::AccountLocked
                | AuthFailure::AccountDisabled
                | AuthFailure::AccountExpired
                | AuthFailure::PasswordExpired
                | AuthFailure::PasswordMustChange
                | AuthFailure::LogonHoursRestricted
                | AuthFailure::WorkstationRestricted
                | AuthFailure::UserBindRejected { .. })
    )
}

impl LdapDirectory {
    /// Checks the settings, reads the service account's password and the CA file, and
    /// prepares the pool. Nothing is connected yet.
    pub fn new(settings: &LdapSettings) -> Result<Self, LdapError> {
        let plan = settings.plan()?;
        let directory = settings.name.clone();
        let bad = |reason: String| LdapError::Settings {
            directory: directory.clone(),
            reason,
        };
        let tls = match plan.security {
            Security::Plaintext => {
                tracing::warn!(
                    directory = %directory,
                    "allow_plaintext: passwords cross the network in clear text"
                );
                None
            }
            Security::StartTls | Security::Ldaps => {
                let ca_file = settings
                    .ca_file
                    .as_deref()
                    .ok_or_else(|| bad("ca_file is required with TLS".to_owned()))?;
                let config = conn::tls_config(&directory, ca_file)?;
                let name = settings
                    .tls_server_name
                    .clone()
                    .unwrap_or_else(|| plan.url.host.clone());
                let server_name = ServerName::try_from(name.clone())
                    .map_err(|_| bad(format!("{name:?} cannot be checked in a certificate")))?;
                Some((config, server_name))
            }
        };
        let service_account = match (&settings.bind_dn, &settings.bind_password) {
            (Some(dn), Some(secret)) => {
                let password = secret.resolve().map_err(|source| LdapError::Secret {
                    directory: directory.clone(),
                    source,
                })?;
                Some(ServiceAccount {
                    dn: dn.clone(),
                    password: Password::from(password.expose()),
                })
            }
            _ => None,
        };
        let service_dn = service_account.as_ref().map(|a| a.dn.to_string());
        let mut config =
            DirectoryConfig::new(settings.user_base.clone(), settings.user_filter.clone());
        config.start_tls = plan.security == Security::StartTls;
        config.service_account = service_account;
        config.attributes = plan
            .mappings
            .into_iter()
            .map(|(name, ldap)| AttributeMapping { ldap, name })
            .collect();
        config.groups = settings.groups.clone();
        config.confirm_identity = settings.confirm_identity;
        config.search_time_limit = settings.search_time_limit;
        config.max_message_size = settings.max_message_size;
        let mut config_reused = config.clone();
        config_reused.start_tls = false;
        let reuse = service_dn.is_some() && settings.idle_timeout_secs > 0;
        let connector = Connector::new(
            &directory,
            plan.url,
            plan.security,
            tls,
            Duration::from_secs(settings.connect_timeout_secs),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pool: Pool::new(
                    settings.pool_size,
                    Duration::from_secs(settings.idle_timeout_secs),
                ),
                name: directory,
                connector,
                config,
                config_reused,
                service_dn,
                reuse,
                timeout: Duration::from_secs(settings.timeout_secs),
            }),
        })
    }

    /// The directory's configured name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The address, normalised (`ldap://host:389`).
    pub fn url(&self) -> String {
        self.inner.connector.url.to_string()
    }

    /// Connections kept open for the next login right now.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    fn busy(&self) -> LdapError {
        LdapError::Timeout {
            directory: self.inner.name.clone(),
            operation: "waiting for a free connection",
            after: self.inner.timeout,
        }
    }

    /// Checks `username` and `password` against the directory.
    ///
    /// `Ok(Rejected)` is the directory's (or the flow's) refusal: wrong password, unknown or
    /// ambiguous user, empty password (refused before anything is sent), account locked,
    /// disabled or expired. `Err` means the directory could not decide.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<LdapLogin, LdapError> {
        let inner = &*self.inner;
        let started = std::time::Instant::now();
        if username.is_empty() || password.is_empty() {
            // The flow refuses these before anything is sent: no connection is taken.
            let mut flow =
                Authenticator::new(inner.config.clone(), username, Password::from(password));
            let Step::Done(result) = flow.step() else {
                return Err(LdapError::Directory {
                    directory: inner.name.clone(),
                    failure: AuthFailure::UnexpectedMessage("empty credentials not refused"),
                });
            };
            return self.conclude(username, result, started);
        }
        let Ok(mut lease) = inner.pool.lease(inner.timeout, inner.reuse).await else {
            return Err(self.undecided(username, self.busy()));
        };
        if let Some(stream) = lease.idle.take() {
            let attempt = self.attempt(stream, true, username, password).await;
            if !attempt.stale() {
                return self.finish(lease, attempt, username, started);
            }
            tracing::debug!(
                directory = %inner.name,
                "a kept connection was closed by the server; logging in on a new one"
            );
        }
        let stream = match inner.connector.open().await {
            Ok(stream) => stream,
            Err(error) => return Err(self.undecided(username, error)),
        };
        let attempt = self.attempt(stream, false, username, password).await;
        self.finish(lease, attempt, username, started)
    }

    fn finish(
        &self,
        lease: pool::Lease<'_>,
        attempt: Attempt,
        username: &str,
        started: std::time::Instant,
    ) -> Result<LdapLogin, LdapError> {
        self.inner.pool.give_back(lease, attempt.keep);
        match attempt.outcome {
            Ok(result) => self.conclude(username, result, started),
            Err(error) => Err(self.undecided(username, error)),
        }
    }

    /// Logs an infrastructure failure and returns it.
    fn undecided(&self, username: &str, error: LdapError) -> LdapError {
        tracing::warn!(
            directory = %self.inner.name,
            user = %username,
            error = %error,
            "ldap login could not be decided"
        );
        error
    }

    fn conclude(
        &self,
        username: &str,
        result: Result<AuthenticatedUser, AuthFailure>,
        started: std::time::Instant,
    ) -> Result<LdapLogin, LdapError> {
        let directory = &self.inner.name;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(user) => {
                let user = ldap_user(user, username);
                tracing::debug!(
                    directory = %directory,
                    user = %username,
                    dn = %user.dn,
                    groups = user.groups.len(),
                    elapsed_ms,
                    "ldap login accepted"
                );
                Ok(LdapLogin::Accepted(user))
            }
            Err(failure) if failure.user_facing() == UserFacingFailure::Unavailable => {
                tracing::warn!(
                    directory = %directory,
                    user = %username,
                    failure = %failure,
                    elapsed_ms,
                    "ldap login could not be decided"
                );
                Err(LdapError::Directory {
                    directory: directory.clone(),
                    failure,
                })
            }
            Err(failure) => {
                tracing::debug!(
                    directory = %directory,
                    user = %username,
                    reason = %failure,
                    elapsed_ms,
                    "ldap login rejected"
                );
                Ok(LdapLogin::Rejected {
                    audit: failure.to_string(),
                    user_facing: user_message(failure.user_facing()).to_owned(),
                })
            }
        }
    }

    /// Runs the login flow on `stream` until it is done.
    async fn attempt(
        &self,
        mut stream: Stream,
        reused: bool,
        username: &str,
        password: &str,
    ) -> Attempt {
        let inner = &*self.inner;
        let config = if reused {
            inner.config_reused.clone()
        } else {
            inner.config.clone()
        };
        let mut flow = Authenticator::new(config, username, Password::from(password));
        let io = |operation, source| LdapError::Io {
            directory: inner.name.clone(),
            operation,
            source,
        };
        let timed_out = |operation| LdapError::Timeout {
            directory: inner.name.clone(),
            operation,
            after: inner.timeout,
        };
        let mut password_sent = false;
        let mut searches = 0;
        let mut operation = Request::Other;
        let mut deadline = Instant::now() + inner.timeout;
        let mut unbind: Option<Zeroizing<Vec<u8>>> = None;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match flow.step() {
                Step::Transmit(bytes) => {
                    let request = Request::of(&bytes, inner.service_dn.as_deref(), &mut searches);
                    if request == Request::Unbind {
                        // The flow is over; whether to unbind or keep the connection is
                        // decided with its result, which comes next.
                        unbind = Some(bytes);
                        continue;
                    }
                    operation = request;
                    password_sent |= request == Request::UserBind;
                    deadline = Instant::now() + inner.timeout;
                    match timeout_at(deadline, stream.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Attempt::failed(io(request.name(), e), password_sent),
                        Err(_) => {
                            return Attempt::failed(timed_out(request.name()), password_sent);
                        }
                    }
                }
                Step::NeedInput => match timeout_at(deadline, stream.read(&mut buf)).await {
                    Ok(Ok(0)) => flow.connection_closed(),
                    Ok(Ok(n)) => flow.receive(&buf[..n]),
                    Ok(Err(e)) => return Attempt::failed(io(operation.name(), e), password_sent),
                    Err(_) => return Attempt::failed(timed_out(operation.name()), password_sent),
                },
                Step::StartTls => {
                    stream = match inner.connector.upgrade(stream).await {
                        Ok(s) => s,
                        Err(e) => return Attempt::failed(e, password_sent),
                    };
                    flow.tls_established();
                }
                Step::Done(result) => {
                    let keep = if inner.reuse && unbind.is_some() && in_step(&result) {
                        Some(stream)
                    } else {
                        if let Some(bytes) = unbind {
                            let _ = tokio::time::timeout(
                                Duration::from_secs(1),
                                stream.write_all(&bytes),
                            )
                            .await;
                        }
                        stream.close().await;
                        None
                    };
                    return Attempt {
                        outcome: Ok(result),
                        password_sent,
                        keep,
                    };
                }
                _ => {
                    // A step this driver does not know (the crate's `Step` may grow): end the
                    // attempt rather than guess.
                    stream.close().await;
                    return Attempt::failed(
                        io(
                            operation.name(),
                            std::io::Error::other("unsupported step of the LDAP flow"),
                        ),
                        password_sent,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use idforge_ldap_auth::UserFilter;
    use std::collections::BTreeMap;

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    #[test]
    fn group_names_are_the_first_rdn_value() {
        assert_eq!(
            group_name(&dn("cn=VPN_Group,ou=groups,dc=example,dc=com")),
            "VPN_Group"
        );
        assert_eq!(
            group_name(&dn("CN=Domain Admins,CN=Users,DC=corp")),
            "Domain Admins"
        );
        assert_eq!(
            group_name(&dn(r"cn=Sales\, EMEA,ou=groups,dc=x")),
            "Sales, EMEA"
        );
        assert_eq!(
            group_name(&dn("ou=Engineering,dc=example,dc=com")),
            "Engineering"
        );
        assert_eq!(group_name(&dn("cn=a+ou=b,dc=x")), "a");
        // A value that is not text: the DN itself.
        let binary = dn("cn=#0402fffe,dc=x");
        assert_eq!(group_name(&binary), binary.to_string());
        assert_eq!(group_name(&Dn::root()), "");
    }

    #[test]
    fn the_crate_result_becomes_an_ldap_user() {
        let mut attributes = BTreeMap::new();
        attributes.insert("display_name".to_owned(), vec![b"Alice".to_vec()]);
        attributes.insert(
            "email".to_owned(),
            vec![b"alice@example.com".to_vec(), b"a@example.com".to_vec()],
        );
        attributes.insert("guid".to_owned(), vec![vec![0xff, 0x00, 0x10]]);
        let user = AuthenticatedUser {
            dn: dn("uid=alice,dc=x"),
            dn_string: "uid=alice,dc=x".to_owned(),
            login: None,
            attributes,
            groups: vec![dn("cn=staff,ou=groups,dc=x")],
            authz_id: None,
        };
        let u = ldap_user(user, "Alice");
        assert_eq!(
            u.username, "Alice",
            "typed name when there is no login attribute"
        );
        assert_eq!(u.display_name.as_deref(), Some("Alice"));
        assert_eq!(u.email.as_deref(), Some("alice@example.com"));
        assert_eq!(u.values("email").len(), 2);
        assert_eq!(u.phone, None);
        assert_eq!(u.values("guid"), ["/wAQ"]);
        assert_eq!(u.groups, ["staff"]);
        assert_eq!(u.group_dns, ["cn=staff,ou=groups,dc=x"]);
    }

    #[test]
    fn requests_are_named_for_errors() {
        let mut config = DirectoryConfig::new(dn("dc=x"), UserFilter::Uid);
        config.service_account = Some(ServiceAccount {
            dn: dn("cn=svc,dc=x"),
            password: Password::from("service-secret"),
        });
        let mut flow = Authenticator::new(config, "alice", Password::from("user-secret"));
        let Step::Transmit(bytes) = flow.step() else {
            unreachable!("StartTLS comes first")
        };
        let mut searches = 0;
        let svc = Some("cn=svc,dc=x");
        assert_eq!(Request::of(&bytes, svc, &mut searches), Request::StartTls);
        let bind = LdapMessage::new(
            2,
            ProtocolOp::BindRequest(idforge_ldap_auth::BindRequest {
                version: 3,
                name: "cn=svc,dc=x".to_owned(),
                authentication: idforge_ldap_auth::BindAuthentication::Simple(Password::from(
                    "service-secret",
                )),
            }),
        )
        .encode();
        assert_eq!(Request::of(&bind, svc, &mut searches), Request::ServiceBind);
        assert_eq!(Request::of(&bind, None, &mut searches), Request::UserBind);
        assert_eq!(Request::of(b"\x30\x00", svc, &mut searches), Request::Other);
    }

    #[test]
    fn user_messages_merge_what_would_enumerate_accounts() {
        for failure in [
            AuthFailure::NoSuchUser,
            AuthFailure::WrongPassword,
            AuthFailure::EmptyPassword,
            AuthFailure::AmbiguousUser { count: 2 },
        ] {
            assert_eq!(user_message(failure.user_facing()), "invalid credentials");
        }
        assert_eq!(
            user_message(AuthFailure::AccountLocked.user_facing()),
            "account locked"
        );
        assert!(in_step(&Err(AuthFailure::WrongPassword)));
        assert!(!in_step(&Err(AuthFailure::AmbiguousUser { count: 3 })));
        assert!(!in_step(&Err(AuthFailure::ConnectionClosed)));
    }

    #[tokio::test]
    async fn empty_credentials_are_refused_without_a_connection() {
        // Port 9 on a documentation address: any attempt to connect would fail or hang.
        let mut s = LdapSettings::new("lab", "ldap://192.0.2.1:9", dn("dc=x"), UserFilter::Uid);
        s.start_tls = Some(false);
        s.allow_plaintext = true;
        let d = LdapDirectory::new(&s).unwrap();
        for (user, password) in [("alice", ""), ("", "pw")] {
            let LdapLogin::Rejected { audit, user_facing } =
                d.authenticate(user, password).await.unwrap()
            else {
                panic!("accepted")
            };
            assert!(audit.starts_with("empty"), "{audit}");
            assert_eq!(user_facing, "invalid credentials");
        }
    }

    #[test]
    fn debug_never_shows_the_service_password() {
        let mut s = LdapSettings::new("lab", "ldap://127.0.0.1", dn("dc=x"), UserFilter::Uid);
        s.start_tls = Some(false);
        s.allow_plaintext = true;
        s.bind_dn = Some(dn("cn=svc,dc=x"));
        s.bind_password = Some(crate::secret::SecretValue::parse("service-secret-value"));
        let d = LdapDirectory::new(&s).unwrap();
        let shown = format!("{s:?} {d:?} {:?}", d.inner.config);
        assert!(!shown.contains("service-secret-value"), "{shown}");
        assert!(shown.contains("cn=svc,dc=x"));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let mut s = LdapSettings::new("corp", "ldaps://127.0.0.1", dn("dc=x"), UserFilter::Uid);
        s.ca_file = Some("/nonexistent/idforge-ca.pem".into());
        let e = LdapDirectory::new(&s).unwrap_err();
        assert!(matches!(e, LdapError::CaFile { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/idforge-ca.pem"), "{e}");
        s.ca_file = Some(std::env::current_exe().unwrap());
        let e = LdapDirectory::new(&s).unwrap_err();
        assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
    }
}
