//! The sans-IO login flow: an [`Authenticator`] is fed the bytes read from the directory
//! connection and says what to write, when to upgrade to TLS and how the login ended.
//!
//! ```text
//! [StartTLS] → service bind → search user (size limit 2) → user bind
//!            → [Who am I?] → [service re-bind → group search(es)] → unbind → Done
//! ```
//!
//! An empty password ends the flow before anything is sent: a simple bind with a DN and no
//! password is an *anonymous* bind (RFC 4513 §5.1.2), which Active Directory answers with
//! success.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;

use zeroize::Zeroizing;

use crate::ad::AdBindError;
use crate::ber::frame_len;
use crate::dn::Dn;
use crate::filter::Filter;
use crate::message::{
    BindAuthentication, BindRequest, DerefAliases, ExtendedRequest, LdapMessage, LdapResult,
    OID_NOTICE_OF_DISCONNECTION, OID_START_TLS, OID_WHO_AM_I, ProtocolOp, ResultCode, Scope,
    SearchRequest, SearchResultEntry,
};
use crate::password::Password;

mod config;
mod outcome;

pub use config::{
    AttributeMapping, DEFAULT_SEARCH_TIME_LIMIT, DirectoryConfig, GroupLookup, MAX_GROUPS, Nesting,
    ServiceAccount,
};
pub use outcome::{AuthFailure, AuthenticatedUser, UserFacingFailure};

/// What the caller does next. `Debug` shows the length of bytes to transmit, never the
/// bytes (a bind request holds the password).
#[must_use]
#[non_exhaustive]
pub enum Step {
    /// Write these bytes to the connection (they may hold a password: they are wiped on drop).
    Transmit(Zeroizing<Vec<u8>>),
    /// Read from the connection and call [`Authenticator::receive`].
    NeedInput,
    /// Run a TLS handshake on the connection, then call [`Authenticator::tls_established`];
    /// later bytes go through TLS.
    StartTls,
    /// The flow is over. The connection may be closed.
    Done(Result<AuthenticatedUser, AuthFailure>),
}

#[derive(Debug)]
enum State {
    StartTls,
    AwaitTls,
    ServiceBind,
    UserSearch {
        entries: Vec<SearchResultEntry>,
    },
    UserBind {
        user: Box<AuthenticatedUser>,
    },
    WhoAmI {
        user: Box<AuthenticatedUser>,
    },
    ServiceRebind {
        user: Box<AuthenticatedUser>,
    },
    GroupSearch {
        user: Box<AuthenticatedUser>,
        level: usize,
        found: Vec<(String, Dn)>,
        seen: HashSet<Dn>,
    },
    Finished,
}

/// The login state machine: fed the bytes read from the directory connection, it says what
/// to write, when to upgrade to TLS and how the login ended (StartTLS, service bind, user
/// search, user bind, optional Who am I? and group searches, unbind). `Debug` shows where
/// the flow is, never the password or the buffered messages.
///
/// # Example
///
/// A login against a directory that finds `jdoe` and accepts the password. The caller writes
/// each [`Step::Transmit`] to the connection and feeds what comes back to
/// [`receive`](Self::receive); here the directory's answers are canned.
///
/// ```
/// use idforge_ldap_auth::{BindResponse, PartialAttribute, SearchResultEntry};
/// use idforge_ldap_auth::{
///     Authenticator, DirectoryConfig, Dn, LdapMessage, LdapResult, Password, ProtocolOp, Step,
///     UserFilter,
/// };
///
/// let mut config = DirectoryConfig::new(Dn::parse("ou=people,dc=example,dc=com")?, UserFilter::Uid);
/// config.start_tls = false; // the canned directory has no TLS; keep StartTLS on in production
/// let mut login = Authenticator::new(config, "JDoe", Password::from("correct horse"));
///
/// let user = loop {
///     match login.step() {
///         Step::Transmit(bytes) => {
///             let request = LdapMessage::decode(&bytes)?;
///             let answers = match request.op {
///                 ProtocolOp::SearchRequest(_) => vec![
///                     ProtocolOp::SearchResultEntry(SearchResultEntry {
///                         dn: "uid=jdoe,ou=people,dc=example,dc=com".into(),
///                         attributes: vec![PartialAttribute {
///                             name: "uid".into(),
///                             values: vec![b"jdoe".to_vec()],
///                         }],
///                     }),
///                     ProtocolOp::SearchResultDone(LdapResult::default()),
///                 ],
///                 ProtocolOp::BindRequest(_) => vec![ProtocolOp::BindResponse(BindResponse {
///                     result: LdapResult::default(), // success
///                     server_sasl_creds: None,
///                 })],
///                 _ => vec![], // the closing unbind has no answer
///             };
///             for op in answers {
///                 login.receive(&LdapMessage::new(request.id, op).encode());
///             }
///         }
///         Step::Done(result) => break result?,
///         other => unreachable!("{other:?}"),
///     }
/// };
/// // The identity is the entry, in the directory's spelling, not the typed name.
/// assert_eq!(user.dn, Dn::parse("UID=jdoe,ou=People,dc=example,dc=com")?);
/// assert_eq!(user.login.as_deref(), Some("jdoe"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Authenticator {
    config: DirectoryConfig,
    username: String,
    password: Password,
    state: State,
    next_id: i32,
    pending_id: i32,
    inbox: Vec<u8>,
    outbox: VecDeque<Zeroizing<Vec<u8>>>,
    result: Option<Result<AuthenticatedUser, AuthFailure>>,
    tls_requested: bool,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Transmit(bytes) => write!(f, "Transmit({} bytes, **redacted**)", bytes.len()),
            Step::NeedInput => f.write_str("NeedInput"),
            Step::StartTls => f.write_str("StartTls"),
            Step::Done(result) => f.debug_tuple("Done").field(result).finish(),
        }
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("state", &self.state)
            .field("next_id", &self.next_id)
            .field("pending_id", &self.pending_id)
            .field("inbox_len", &self.inbox.len())
            .field("outbox_messages", &self.outbox.len())
            .field("result", &self.result)
            .field("tls_requested", &self.tls_requested)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Starts a login of `username` with `password`. With an empty password (or user name) the
    /// first [`Authenticator::step`] is `Done` and nothing is ever transmitted.
    pub fn new(config: DirectoryConfig, username: &str, password: Password) -> Self {
        let mut a = Self {
            config,
            username: username.to_owned(),
            password,
            state: State::Finished,
            next_id: 1,
            pending_id: 0,
            inbox: Vec::new(),
            outbox: VecDeque::new(),
            result: None,
            tls_requested: false,
        };
        if a.password.is_empty() {
            a.result = Some(Err(AuthFailure::EmptyPassword));
        } else if a.username.is_empty() {
            a.result = Some(Err(AuthFailure::EmptyUsername));
        } else if a.config.start_tls {
            a.send(ProtocolOp::ExtendedRequest(ExtendedRequest {
                name: OID_START_TLS.to_owned(),
                value: None,
            }));
            a.state = State::StartTls;
        } else {
            a.begin_service_bind();
        }
        a
    }

    /// What to do next. Call it until it returns `Done`; further calls return the same result.
    pub fn step(&mut self) -> Step {
        if let Some(bytes) = self.outbox.pop_front() {
            return Step::Transmit(bytes);
        }
        if let Some(result) = &self.result {
            return Step::Done(result.clone());
        }
        match self.state {
            State::AwaitTls if self.tls_requested => {
                self.tls_requested = false;
                Step::StartTls
            }
            _ => Step::NeedInput,
        }
    }

    /// The TLS handshake finished: continue with the binds.
    pub fn tls_established(&mut self) {
        if matches!(self.state, State::AwaitTls) && self.result.is_none() {
            self.begin_service_bind();
        }
    }

    /// The connection reached end of file.
    pub fn connection_closed(&mut self) {
        if self.result.is_none() && !matches!(self.state, State::Finished) {
            self.fail(AuthFailure::ConnectionClosed);
        }
    }

    /// Feeds bytes read from the connection (any amount: partial messages are kept).
    pub fn receive(&mut self, data: &[u8]) {
        if self.result.is_some() || matches!(self.state, State::Finished) {
            return;
        }
        if matches!(self.state, State::AwaitTls) && !data.is_empty() {
            // Clear-text bytes between the StartTLS response and the handshake would otherwise
            // be read as if they had come through TLS (STARTTLS command injection).
            return self.fail(AuthFailure::UnexpectedMessage(
                "clear-text data after the StartTLS response",
            ));
        }
        self.inbox.extend_from_slice(data);
        loop {
            let len = match frame_len(&self.inbox, self.config.max_message_size) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(e) => return self.fail(AuthFailure::Malformed(e)),
            };
            let decoded =
                LdapMessage::decode_with_limit(&self.inbox[..len], self.config.max_message_size);
            self.inbox.drain(..len);
            match decoded {
                Ok(msg) => self.handle(msg),
                Err(e) => return self.fail(AuthFailure::Malformed(e)),
            }
            if self.result.is_some() {
                return;
            }
            if matches!(self.state, State::AwaitTls) {
                if !self.inbox.is_empty() {
                    self.fail(AuthFailure::UnexpectedMessage(
                        "clear-text data after the StartTLS response",
                    ));
                }
                return;
            }
        }
    }

    fn send(&mut self, op: ProtocolOp) {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.pending_id = id;
        let msg = LdapMessage::new(id, op);
        let mut out = Zeroizing::new(Vec::with_capacity(256 + self.password.expose().len()));
        msg.encode_into(&mut out);
        self.outbox.push_back(out);
    }

    fn bind(&mut self, name: String, password: Password) {
        self.send(ProtocolOp::BindRequest(BindRequest {
            version: 3,
            name,
            authentication: BindAuthentication::Simple(password),
        }));
    }

    fn search(&mut self, base: &Dn, filter: Filter, size_limit: i32, attributes: Vec<String>) {
        self.send(ProtocolOp::SearchRequest(SearchRequest {
            base: base.to_string(),
            scope: Scope::Subtree,
            deref: DerefAliases::Never,
            size_limit,
            time_limit: self.config.search_time_limit,
            types_only: false,
            filter,
            attributes,
        }));
    }

    fn fail(&mut self, failure: AuthFailure) {
        self.finish(Err(failure));
    }

    /// Ends the flow: unbind politely (unless nothing was ever sent) and keep the result.
    fn finish(&mut self, result: Result<AuthenticatedUser, AuthFailure>) {
        if !matches!(
            result,
            Err(AuthFailure::ConnectionClosed | AuthFailure::Disconnected { .. })
        ) {
            self.send(ProtocolOp::UnbindRequest);
        }
        self.state = State::Finished;
        self.result = Some(result);
    }

    fn begin_service_bind(&mut self) {
        if let Some(account) = self.config.service_account.clone() {
            self.bind(account.dn.to_string(), account.password);
            self.state = State::ServiceBind;
        } else {
            self.begin_user_search();
        }
    }

    fn begin_user_search(&mut self) {
        let mut attributes: Vec<String> = self
            .config
            .attributes
            .iter()
            .map(|m| m.ldap.as_str().to_owned())
            .collect();
        if let Some(a) = self.config.user_filter.login_attribute() {
            attributes.push(a.as_str().to_owned());
        }
        if let GroupLookup::MemberOf { attribute } = &self.config.groups {
            attributes.push(attribute.as_str().to_owned());
        }
        if attributes.is_empty() {
            attributes.push("1.1".to_owned());
        }
        let filter = self.config.user_filter.user(&self.username);
        let base = self.config.user_base.clone();
        self.search(&base, filter, 2, attributes);
        self.state = State::UserSearch {
            entries: Vec::new(),
        };
    }

    fn handle(&mut self, msg: LdapMessage) {
        if msg.id == 0 {
            if let ProtocolOp::ExtendedResponse(r) = &msg.op
                && r.name.as_deref() == Some(OID_NOTICE_OF_DISCONNECTION)
            {
                return self.fail(AuthFailure::Disconnected {
                    diagnostic: r.result.diagnostic.clone(),
                });
            }
            return self.fail(AuthFailure::UnexpectedMessage("unsolicited message"));
        }
        if msg.id != self.pending_id {
            return self.fail(AuthFailure::UnexpectedMessage(
                "response to another message ID",
            ));
        }
        let state = std::mem::replace(&mut self.state, State::Finished);
        match (state, msg.op) {
            (State::StartTls, ProtocolOp::ExtendedResponse(r)) => {
                if r.result.code == ResultCode::SUCCESS {
                    self.state = State::AwaitTls;
                    self.tls_requested = true;
                } else {
                    self.fail(AuthFailure::StartTlsRefused {
                        code: r.result.code,
                        diagnostic: r.result.diagnostic,
                    });
                }
            }
            (State::ServiceBind, ProtocolOp::BindResponse(r)) => {
                if r.result.code == ResultCode::SUCCESS {
                    self.begin_user_search();
                } else {
                    self.fail(AuthFailure::ServiceBindFailed {
                        code: r.result.code,
                        diagnostic: r.result.diagnostic,
                    });
                }
            }
            (State::UserSearch { mut entries }, ProtocolOp::SearchResultEntry(e)) => {
                if entries.len() >= 2 {
                    // The search asked for at most two: a server sending more is ignoring the
                    // size limit. Stop here instead of buffering whatever it sends.
                    return self.fail(AuthFailure::AmbiguousUser {
                        count: entries.len() + 1,
                    });
                }
                entries.push(e);
                self.state = State::UserSearch { entries };
            }
            (State::UserSearch { entries }, ProtocolOp::SearchResultReference(_)) => {
                // Referrals are not chased: the entry must be on this server.
                self.state = State::UserSearch { entries };
            }
            (State::UserSearch { entries }, ProtocolOp::SearchResultDone(r)) => {
                self.user_search_done(entries, &r);
            }
            (State::UserBind { user }, ProtocolOp::BindResponse(r)) => {
                self.user_bind_done(user, r.result);
            }
            (State::WhoAmI { mut user }, ProtocolOp::ExtendedResponse(r)) => {
                if r.result.code != ResultCode::SUCCESS {
                    return self.fail(AuthFailure::IdentityMismatch {
                        authz_id: String::new(),
                    });
                }
                let authz =
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
                if let Some(dn) = authz.strip_prefix("dn:") {
                    match Dn::parse(dn) {
                        Ok(dn) if dn == user.dn => {}
                        _ => return self.fail(AuthFailure::IdentityMismatch { authz_id: authz }),
                    }
                }
                user.authz_id = Some(authz);
                self.after_identity(user);
            }
            (State::ServiceRebind { user }, ProtocolOp::BindResponse(r)) => {
                if r.result.code == ResultCode::SUCCESS {
                    self.begin_group_search(user);
                } else {
                    self.fail(AuthFailure::ServiceBindFailed {
                        code: r.result.code,
                        diagnostic: r.result.diagnostic,
                    });
                }
            }
            (
                State::GroupSearch {
                    user,
                    level,
                    mut found,
                    seen,
                },
                ProtocolOp::SearchResultEntry(e),
            ) => match Dn::parse(&e.dn) {
                Ok(_) if user.groups.len() + found.len() >= MAX_GROUPS => {
                    self.fail(AuthFailure::TooManyGroups { limit: MAX_GROUPS });
                }
                Ok(dn) => {
                    found.push((e.dn, dn));
                    self.state = State::GroupSearch {
                        user,
                        level,
                        found,
                        seen,
                    };
                }
                Err(err) => self.fail(AuthFailure::InvalidDn(err)),
            },
            (state @ State::GroupSearch { .. }, ProtocolOp::SearchResultReference(_)) => {
                self.state = state;
            }
            (
                State::GroupSearch {
                    user,
                    level,
                    found,
                    seen,
                },
                ProtocolOp::SearchResultDone(r),
            ) => {
                if r.code == ResultCode::SUCCESS {
                    self.group_level_done(user, level, found, seen);
                } else {
                    self.fail(AuthFailure::SearchFailed {
                        what: "group",
                        code: r.code,
                        diagnostic: r.diagnostic,
                    });
                }
            }
            (_, _) => self.fail(AuthFailure::UnexpectedMessage(
                "operation not expected in this state",
            )),
        }
    }

    fn user_search_done(&mut self, mut entries: Vec<SearchResultEntry>, r: &LdapResult) {
        let ok = r.code == ResultCode::SUCCESS || r.code == ResultCode::SIZE_LIMIT_EXCEEDED;
        if !ok {
            return self.fail(AuthFailure::SearchFailed {
                what: "user",
                code: r.code,
                diagnostic: r.diagnostic.clone(),
            });
        }
        if entries.len() > 1 || (r.code == ResultCode::SIZE_LIMIT_EXCEEDED && !entries.is_empty()) {
            return self.fail(AuthFailure::AmbiguousUser {
                count: entries.len(),
            });
        }
        let Some(entry) = entries.pop() else {
            return self.fail(AuthFailure::NoSuchUser);
        };
        let dn = match Dn::parse(&entry.dn) {
            Ok(dn) if !dn.is_root() => dn,
            Ok(_) => return self.fail(AuthFailure::UnexpectedMessage("entry with an empty DN")),
            Err(e) => return self.fail(AuthFailure::InvalidDn(e)),
        };
        let login = self.config.user_filter.login_attribute().and_then(|a| {
            entry
                .values(a.as_str())
                .first()
                .and_then(|v| String::from_utf8(v.clone()).ok())
        });
        let mut attributes = BTreeMap::new();
        for m in &self.config.attributes {
            let values = entry.values(m.ldap.as_str());
            if !values.is_empty() {
                attributes
                    .entry(m.name.clone())
                    .or_insert_with(Vec::new)
                    .extend(values.iter().cloned());
            }
        }
        let mut groups = Vec::new();
        if let GroupLookup::MemberOf { attribute } = &self.config.groups {
            for v in entry.values(attribute.as_str()) {
                match std::str::from_utf8(v).map(Dn::parse) {
                    Ok(Ok(g)) => groups.push(g),
                    Ok(Err(e)) => return self.fail(AuthFailure::InvalidDn(e)),
                    Err(_) => {
                        return self.fail(AuthFailure::UnexpectedMessage("memberOf not UTF-8"));
                    }
                }
            }
        }
        let user = AuthenticatedUser {
            dn,
            dn_string: entry.dn,
            login,
            attributes,
            groups,
            authz_id: None,
        };
        // The password is never sent empty: `new` refused that before any bind.
        let password = self.password.clone();
        self.bind(user.dn_string.clone(), password);
        self.state = State::UserBind {
            user: Box::new(user),
        };
    }

    fn user_bind_done(&mut self, user: Box<AuthenticatedUser>, r: LdapResult) {
        if r.code == ResultCode::SUCCESS {
            self.password = Password::default();
            if self.config.confirm_identity {
                self.send(ProtocolOp::ExtendedRequest(ExtendedRequest {
                    name: OID_WHO_AM_I.to_owned(),
                    value: None,
                }));
                self.state = State::WhoAmI { user };
            } else {
                self.after_identity(user);
            }
            return;
        }
        let ad = AdBindError::from_diagnostic(&r.diagnostic);
        let failure = match (r.code, ad) {
            (ResultCode::INVALID_CREDENTIALS, None | Some(AdBindError::InvalidCredentials)) => {
                AuthFailure::WrongPassword
            }
            (ResultCode::INVALID_CREDENTIALS, Some(ad)) => match ad {
                AdBindError::NoSuchUser => AuthFailure::NoSuchUser,
                AdBindError::AccountLocked => AuthFailure::AccountLocked,
                AdBindError::AccountDisabled => AuthFailure::AccountDisabled,
                AdBindError::AccountExpired => AuthFailure::AccountExpired,
                AdBindError::PasswordExpired => AuthFailure::PasswordExpired,
                AdBindError::PasswordMustChange => AuthFailure::PasswordMustChange,
                AdBindError::LogonHoursRestricted => AuthFailure::LogonHoursRestricted,
                AdBindError::WorkstationRestricted => AuthFailure::WorkstationRestricted,
                other => AuthFailure::UserBindRejected {
                    code: r.code,
                    diagnostic: r.diagnostic,
                    ad: Some(other),
                },
            },
            (code, ad) => AuthFailure::UserBindRejected {
                code,
                diagnostic: r.diagnostic,
                ad,
            },
        };
        self.fail(failure);
    }

    fn after_identity(&mut self, user: Box<AuthenticatedUser>) {
        if !matches!(self.config.groups, GroupLookup::Search { .. }) {
            return self.finish(Ok(*user));
        }
        // Group searches run with the service account's rights, as the user search did.
        if let Some(account) = self.config.service_account.clone() {
            self.bind(account.dn.to_string(), account.password);
            self.state = State::ServiceRebind { user };
        } else {
            self.begin_group_search(user);
        }
    }

    fn begin_group_search(&mut self, user: Box<AuthenticatedUser>) {
        let GroupLookup::Search {
            base,
            member_attribute,
            nesting,
        } = self.config.groups.clone()
        else {
            return self.finish(Ok(*user));
        };
        let filter = match nesting {
            Nesting::InChain => Filter::in_chain(member_attribute, &user.dn_string),
            Nesting::Direct | Nesting::Iterative { .. } => {
                Filter::equality(member_attribute, &user.dn_string)
            }
        };
        self.search(&base, filter, 0, vec!["1.1".to_owned()]);
        let mut seen = HashSet::new();
        seen.insert(user.dn.clone());
        self.state = State::GroupSearch {
            user,
            level: 1,
            found: Vec::new(),
            seen,
        };
    }

    fn group_level_done(
        &mut self,
        mut user: Box<AuthenticatedUser>,
        level: usize,
        found: Vec<(String, Dn)>,
        mut seen: HashSet<Dn>,
    ) {
        let GroupLookup::Search {
            base,
            member_attribute,
            nesting,
        } = self.config.groups.clone()
        else {
            return self.finish(Ok(*user));
        };
        let mut frontier = Vec::new();
        for (text, dn) in found {
            if seen.insert(dn.clone()) {
                frontier.push((text, dn));
            }
        }
        let Nesting::Iterative { max_depth } = nesting else {
            user.groups.extend(frontier.into_iter().map(|(_, dn)| dn));
            return self.finish(Ok(*user));
        };
        if frontier.is_empty() {
            return self.finish(Ok(*user));
        }
        if level > max_depth {
            return self.fail(AuthFailure::GroupNestingTooDeep { max_depth });
        }
        let filter = Filter::or(
            frontier
                .iter()
                .map(|(text, _)| Filter::equality(member_attribute.clone(), text)),
        );
        user.groups.extend(frontier.into_iter().map(|(_, dn)| dn));
        self.search(&base, filter, 0, vec!["1.1".to_owned()]);
        self.state = State::GroupSearch {
            user,
            level: level + 1,
            found: Vec::new(),
            seen,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::UserFilter;

    #[test]
    fn debug_output_never_shows_passwords() {
        let mut c = DirectoryConfig::new(Dn::parse("dc=x").unwrap(), UserFilter::Uid);
        c.start_tls = false;
        c.service_account = Some(ServiceAccount {
            dn: Dn::parse("cn=svc,dc=x").unwrap(),
            password: Password::from("service-secret"),
        });
        let mut a = Authenticator::new(c, "jdoe", Password::from("user-secret"));
        // The service bind (with its password) is queued: it must not show either.
        let shown = format!("{a:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let Step::Transmit(bytes) = a.step() else {
            panic!("expected the service bind")
        };
        let shown = format!("{:?} {:?}", Step::Transmit(bytes.clone()), a);
        assert!(
            !shown.contains("secret") && !shown.contains("115, 101, 99"),
            "{shown}"
        );
        // The bytes themselves do carry it (they are the bind request).
        assert!(bytes.windows(14).any(|w| w == b"service-secret"));
    }

    #[test]
    fn user_facing_merges_what_would_enumerate_accounts() {
        let invalid = [
            AuthFailure::EmptyPassword,
            AuthFailure::EmptyUsername,
            AuthFailure::NoSuchUser,
            AuthFailure::AmbiguousUser { count: 2 },
            AuthFailure::WrongPassword,
        ];
        for f in invalid {
            assert_eq!(
                f.user_facing(),
                UserFacingFailure::InvalidCredentials,
                "{f}"
            );
        }
        assert_eq!(
            AuthFailure::AccountLocked.user_facing(),
            UserFacingFailure::AccountLocked
        );
        assert_eq!(
            AuthFailure::ConnectionClosed.user_facing(),
            UserFacingFailure::Unavailable
        );
    }
}
