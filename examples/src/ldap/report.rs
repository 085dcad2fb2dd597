//! "Test connection" and "test attribute mapping": connect, secure the connection, bind as the
//! service account and search a user exactly as a login would, without binding as the user,
//! and report every step with its duration.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Instant;

use idforge_ldap_auth::MAX_GROUPS;
use idforge_ldap_auth::{
    Attribute, AuthFailure, AuthenticatedUser, Dn, Filter, GroupLookup, Nesting, ProtocolOp,
    ResultCode,
};
use idforge_ldap_auth::{
    BindAuthentication, BindRequest, DerefAliases, ExtendedRequest, OID_START_TLS, Scope,
    SearchRequest, SearchResultEntry,
};
use serde::Serialize;

use super::conn::{MessageConn, Stream};
use super::{LdapDirectory, LdapError, LdapUser, Security, ldap_user};

/// What [`LdapDirectory::test`] found, for the console (`Display`) or as JSON (`Serialize`).
#[derive(Debug, Clone, Serialize)]
pub struct LdapTestReport {
    /// The directory's configured name.
    pub directory: String,
    /// The address connected to.
    pub url: String,
    /// How the connection was protected.
    pub security: Security,
    /// The name checked in the server certificate.
    pub server_name: Option<String>,
    /// The service account's DN (`None`: the search ran anonymously).
    pub bind_dn: Option<String>,
    /// The name searched for.
    pub username: String,
    /// The search base.
    pub user_base: String,
    /// The filter sent, with the name escaped.
    pub filter: String,
    /// Each step, in order, with its duration.
    pub steps: Vec<LdapTestStep>,
    /// The DNs the user search returned (a login needs exactly one).
    pub entries: Vec<String>,
    /// The user as a login would see it, when exactly one entry matched.
    pub user: Option<LdapUser>,
    /// Whether a login of this user could go ahead (exactly one entry).
    pub passed: bool,
    /// One sentence saying what the outcome means.
    pub verdict: String,
}

/// One step of a test.
#[derive(Debug, Clone, Serialize)]
pub struct LdapTestStep {
    /// `connect`, `TLS handshake`, `StartTLS`, `service bind`, `user search`, `group search`.
    pub step: String,
    /// How long it took, in milliseconds.
    pub millis: f64,
    /// What it did or found.
    pub detail: String,
}

impl LdapTestReport {
    /// Whether a login of this user could go ahead.
    pub fn passed(&self) -> bool {
        self.passed
    }
}

struct Steps(Vec<LdapTestStep>);

impl Steps {
    fn record(&mut self, step: &str, started: Instant, detail: String) {
        self.0.push(LdapTestStep {
            step: step.to_owned(),
            millis: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            detail,
        });
    }
}

fn tls_summary(stream: &Stream) -> String {
    match stream {
        Stream::Tls(tls) => {
            let (_, connection) = tls.get_ref();
            let version = connection
                .protocol_version()
                .map_or_else(|| "TLS".to_owned(), |v| format!("{v:?}"));
            let suite = connection
                .negotiated_cipher_suite()
                .map(|s| format!(" {:?}", s.suite()))
                .unwrap_or_default();
            format!("{version}{suite}")
        }
        Stream::Plain(_) => "no TLS".to_owned(),
    }
}

impl LdapDirectory {
    /// Tests the directory with `username`: connect, TLS, service bind and the user search a
    /// login would make, then the groups, **without** binding as the user (no password is
    /// checked, so nothing counts against the account). Opens a new connection, within the
    /// pool's bound.
    ///
    /// `Ok` when the directory answered the search, whatever it found
    /// ([`LdapTestReport::passed`] says whether exactly one entry matched); `Err` names the
    /// step that failed.
    pub async fn test(&self, username: &str) -> Result<LdapTestReport, LdapError> {
        let inner = &*self.inner;
        let _lease = inner
            .pool
            .lease(inner.timeout, false)
            .await
            .map_err(|_| self.busy())?;
        let config = &inner.config;
        let failure = |failure| LdapError::Directory {
            directory: inner.name.clone(),
            failure,
        };
        let mut steps = Steps(Vec::new());

        let started = Instant::now();
        let tcp = inner.connector.tcp().await?;
        steps.record("connect", started, inner.connector.address());
        let stream = if inner.connector.security == Security::Ldaps {
            let started = Instant::now();
            let stream = inner.connector.handshake(tcp).await?;
            steps.record("TLS handshake", started, tls_summary(&stream));
            stream
        } else {
            Stream::Plain(tcp)
        };
        let mut conn =
            MessageConn::new(stream, &inner.name, config.max_message_size, inner.timeout);

        if config.start_tls {
            let started = Instant::now();
            let request = ProtocolOp::ExtendedRequest(ExtendedRequest {
                name: OID_START_TLS.to_owned(),
                value: None,
            });
            let id = conn.send("StartTLS", request).await?;
            match conn.receive(id).await? {
                ProtocolOp::ExtendedResponse(r) if r.result.code == ResultCode::SUCCESS => {}
                ProtocolOp::ExtendedResponse(r) => {
                    return Err(failure(AuthFailure::StartTlsRefused {
                        code: r.result.code,
                        diagnostic: r.result.diagnostic,
                    }));
                }
                _ => {
                    return Err(failure(AuthFailure::UnexpectedMessage(
                        "not a StartTLS answer",
                    )));
                }
            }
            if conn.has_unread() {
                return Err(failure(AuthFailure::UnexpectedMessage(
                    "clear-text data after the StartTLS response",
                )));
            }
            conn.stream = inner.connector.upgrade(conn.stream).await?;
            steps.record("StartTLS", started, tls_summary(&conn.stream));
        }

        if let Some(account) = &config.service_account {
            let started = Instant::now();
            let request = ProtocolOp::BindRequest(BindRequest {
                version: 3,
                name: account.dn.to_string(),
                authentication: BindAuthentication::Simple(account.password.clone()),
            });
            let id = conn.send("service bind", request).await?;
            match conn.receive(id).await? {
                ProtocolOp::BindResponse(r) if r.result.code == ResultCode::SUCCESS => {}
                ProtocolOp::BindResponse(r) => {
                    return Err(failure(AuthFailure::ServiceBindFailed {
                        code: r.result.code,
                        diagnostic: r.result.diagnostic,
                    }));
                }
                _ => return Err(failure(AuthFailure::UnexpectedMessage("not a bind answer"))),
            }
            steps.record("service bind", started, account.dn.to_string());
        }

        // The user search, as the login flow makes it.
        let started = Instant::now();
        let filter = config.user_filter.user(username);
        let login_attribute = config.user_filter.login_attribute();
        let mut attributes: Vec<String> = config
            .attributes
            .iter()
            .map(|m| m.ldap.as_str().to_owned())
            .collect();
        attributes.extend(login_attribute.iter().map(|a| a.as_str().to_owned()));
        if let GroupLookup::MemberOf { attribute } = &config.groups {
            attributes.push(attribute.as_str().to_owned());
        }
        if attributes.is_empty() {
            attributes.push("1.1".to_owned());
        }
        let search = SearchRequest {
            base: config.user_base.to_string(),
            scope: Scope::Subtree,
            deref: DerefAliases::Never,
            size_limit: 2,
            time_limit: config.search_time_limit,
            types_only: false,
            filter: filter.clone(),
            attributes,
        };
        let (entries, code) = search_entries(&mut conn, "user search", search, 2).await?;
        let ambiguous =
            entries.len() > 1 || (code == ResultCode::SIZE_LIMIT_EXCEEDED && !entries.is_empty());
        steps.record(
            "user search",
            started,
            format!(
                "{filter} under {}: {} entr{}{}",
                config.user_base,
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" },
                if code == ResultCode::SIZE_LIMIT_EXCEEDED {
                    " (size limit reached)"
                } else {
                    ""
                }
            ),
        );
        let entry_dns: Vec<String> = entries.iter().map(|e| e.dn.clone()).collect();

        let mut user = None;
        if let (false, Some(entry)) = (ambiguous, entries.into_iter().next()) {
            let dn = Dn::parse(&entry.dn).map_err(|e| failure(AuthFailure::InvalidDn(e)))?;
            let login = login_attribute.as_ref().and_then(|a| {
                entry
                    .values(a.as_str())
                    .first()
                    .and_then(|v| String::from_utf8(v.clone()).ok())
            });
            let mut mapped = BTreeMap::new();
            for m in &config.attributes {
                let values = entry.values(m.ldap.as_str());
                if !values.is_empty() {
                    mapped
                        .entry(m.name.clone())
                        .or_insert_with(Vec::new)
                        .extend(values.iter().cloned());
                }
            }
            let mut groups = Vec::new();
            match &config.groups {
                GroupLookup::MemberOf { attribute } => {
                    for value in entry.values(attribute.as_str()) {
                        let text = std::str::from_utf8(value).map_err(|_| {
                            failure(AuthFailure::UnexpectedMessage("memberOf not UTF-8"))
                        })?;
                        groups
                            .push(Dn::parse(text).map_err(|e| failure(AuthFailure::InvalidDn(e)))?);
                    }
                }
                GroupLookup::Search {
                    base,
                    member_attribute,
                    nesting,
                } => {
                    let started = Instant::now();
                    let (found, searches) = search_groups(
                        &mut conn,
                        config.search_time_limit,
                        base,
                        member_attribute,
                        *nesting,
                        (&entry.dn, &dn),
                    )
                    .await?;
                    steps.record(
                        "group search",
                        started,
                        format!(
                            "{} group{} under {base} in {searches} search{}",
                            found.len(),
                            if found.len() == 1 { "" } else { "s" },
                            if searches == 1 { "" } else { "es" }
                        ),
                    );
                    groups = found;
                }
                _ => {}
            }
            user = Some(ldap_user(
                AuthenticatedUser {
                    dn,
                    dn_string: entry.dn,
                    login,
                    attributes: mapped,
                    groups,
                    authz_id: None,
                },
                username,
            ));
        }

        // Polite end; the connection is not kept (it was opened to be tested).
        if conn.send("unbind", ProtocolOp::UnbindRequest).await.is_ok() {
            conn.stream.close().await;
        }

        let (passed, verdict) = match (&user, entry_dns.len()) {
            (Some(u), _) => (
                true,
                format!(
                    "found {}; a login would bind as this entry (no password was checked)",
                    u.dn
                ),
            ),
            (None, 0) => (
                false,
                format!(
                    "no entry matches {filter} under {}: a login would be refused",
                    config.user_base
                ),
            ),
            (None, _) => (
                false,
                format!("{filter} matches more than one entry: a login would be refused"),
            ),
        };
        Ok(LdapTestReport {
            directory: inner.name.clone(),
            url: inner.connector.url.to_string(),
            security: inner.connector.security,
            server_name: inner.connector.server_name(),
            bind_dn: inner.service_dn.clone(),
            username: username.to_owned(),
            user_base: config.user_base.to_string(),
            filter: filter.to_string(),
            steps: steps.0,
            entries: entry_dns,
            user,
            passed,
            verdict,
        })
    }
}

/// Runs a search; keeps at most `keep` entries (counting none beyond), returns them with the
/// result code (success or size limit exceeded; any other code is an error).
async fn search_entries(
    conn: &mut MessageConn<'_>,
    what: &'static str,
    search: SearchRequest,
    keep: usize,
) -> Result<(Vec<SearchResultEntry>, ResultCode), LdapError> {
    let directory = conn.directory().to_owned();
    let failure = |failure| LdapError::Directory {
        directory: directory.clone(),
        failure,
    };
    let id = conn.send(what, ProtocolOp::SearchRequest(search)).await?;
    let mut entries = Vec::new();
    loop {
        match conn.receive(id).await? {
            ProtocolOp::SearchResultEntry(e) => {
                if entries.len() < keep {
                    entries.push(e);
                }
            }
            ProtocolOp::SearchResultReference(_) => {}
            ProtocolOp::SearchResultDone(r) => {
                if r.code == ResultCode::SUCCESS || r.code == ResultCode::SIZE_LIMIT_EXCEEDED {
                    return Ok((entries, r.code));
                }
                return Err(failure(AuthFailure::SearchFailed {
                    what: if what == "user search" {
                        "user"
                    } else {
                        "group"
                    },
                    code: r.code,
                    diagnostic: r.diagnostic,
                }));
            }
            _ => {
                return Err(failure(AuthFailure::UnexpectedMessage(
                    "not a search answer",
                )));
            }
        }
    }
}

/// The groups of the user `(dn as written, dn parsed)`, searched the way the login flow does:
/// direct, level by level with cycles skipped and a depth limit, or AD's in-chain rule.
/// Returns the groups and the number of searches made.
async fn search_groups(
    conn: &mut MessageConn<'_>,
    time_limit: i32,
    base: &Dn,
    member: &Attribute,
    nesting: Nesting,
    (user_text, user_dn): (&str, &Dn),
) -> Result<(Vec<Dn>, usize), LdapError> {
    let directory = conn.directory().to_owned();
    let failure = |failure| LdapError::Directory {
        directory: directory.clone(),
        failure,
    };
    let mut filter = match nesting {
        Nesting::InChain => Filter::in_chain(member.clone(), user_text),
        _ => Filter::equality(member.clone(), user_text),
    };
    let mut seen: HashSet<Dn> = HashSet::from([user_dn.clone()]);
    let mut groups = Vec::new();
    let mut searches = 0;
    loop {
        searches += 1;
        let search = SearchRequest {
            base: base.to_string(),
            scope: Scope::Subtree,
            deref: DerefAliases::Never,
            size_limit: 0,
            time_limit,
            types_only: false,
            filter,
            attributes: vec!["1.1".to_owned()],
        };
        let (entries, _) = search_entries(conn, "group search", search, MAX_GROUPS + 1).await?;
        let mut level = Vec::new();
        for entry in entries {
            let dn = Dn::parse(&entry.dn).map_err(|e| failure(AuthFailure::InvalidDn(e)))?;
            if seen.insert(dn.clone()) {
                level.push((entry.dn, dn));
            }
        }
        if groups.len() + level.len() > MAX_GROUPS {
            return Err(failure(AuthFailure::TooManyGroups { limit: MAX_GROUPS }));
        }
        let Nesting::Iterative { max_depth } = nesting else {
            groups.extend(level.into_iter().map(|(_, dn)| dn));
            return Ok((groups, searches));
        };
        if level.is_empty() {
            return Ok((groups, searches));
        }
        if searches > max_depth {
            return Err(failure(AuthFailure::GroupNestingTooDeep { max_depth }));
        }
        filter = Filter::or(
            level
                .iter()
                .map(|(text, _)| Filter::equality(member.clone(), text)),
        );
        groups.extend(level.into_iter().map(|(_, dn)| dn));
    }
}

impl fmt::Display for LdapTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "directory {}: {} ({}",
            self.directory, self.url, self.security
        )?;
        if let Some(name) = &self.server_name {
            write!(f, ", certificate checked for {name}")?;
        }
        writeln!(f, ")")?;
        let width = self.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
        for s in &self.steps {
            writeln!(
                f,
                "  {:<width$}  {:>9.3} ms  {}",
                s.step, s.millis, s.detail
            )?;
        }
        if self.bind_dn.is_none() {
            writeln!(f, "  (no service account: the search ran anonymously)")?;
        }
        if let Some(user) = &self.user {
            writeln!(f, "user {}: {}", self.username, user.dn)?;
            let mut rows: Vec<(&str, String)> = vec![("username", user.username.clone())];
            for (name, values) in &user.attributes {
                rows.push((name.as_str(), values.join("; ")));
            }
            for name in [
                super::settings::DISPLAY_NAME,
                super::settings::EMAIL,
                super::settings::PHONE,
            ] {
                if user.values(name).is_empty() {
                    rows.push((name, "(not set)".to_owned()));
                }
            }
            rows.push((
                "groups",
                if user.groups.is_empty() {
                    "(none)".to_owned()
                } else {
                    user.groups.join(", ")
                },
            ));
            let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            for (name, value) in rows {
                writeln!(f, "  {name:<width$}  {value}")?;
            }
            for dn in &user.group_dns {
                writeln!(f, "    {dn}")?;
            }
        } else if self.entries.len() > 1 {
            for dn in &self.entries {
                writeln!(f, "  matched {dn}")?;
            }
        }
        let outcome = if self.passed { "PASSED" } else { "FAILED" };
        write!(f, "{outcome}: {}", self.verdict)
    }
}
