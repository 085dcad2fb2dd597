//! One `[[directories]]` entry of the configuration: where the directory is, how to reach it
//! safely, the service account, and how users, attributes and groups are found.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;

use idforge_ldap_auth::DEFAULT_MAX_MESSAGE_SIZE;
use idforge_ldap_auth::{Attribute, Dn, GroupLookup, UserFilter};
use serde::{Deserialize, Serialize};

use super::LdapError;
use crate::secret::SecretValue;

/// Longest timeout accepted, in seconds (an hour).
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// Largest pool accepted.
pub const MAX_POOL_SIZE: usize = 1024;
/// Smallest and largest `max_message_size` accepted, in bytes.
pub const MESSAGE_SIZE_RANGE: std::ops::RangeInclusive<usize> = 1024..=(64 << 20);

/// The names under which the mapped attributes appear in [`super::LdapUser`].
pub(super) const DISPLAY_NAME: &str = "display_name";
pub(super) const EMAIL: &str = "email";
pub(super) const PHONE: &str = "phone";

/// One LDAP or Active Directory server, as configured in a `[[directories]]` table.
///
/// ```toml
/// [[directories]]
/// name = "corp"
/// url = "ldap://dc1.corp.example.com"        # or ldaps://…; ports default to 389 / 636
/// ca_file = "/etc/idforge/corp-ca.pem"       # required with StartTLS or ldaps://
/// bind_dn = "cn=idp,ou=services,dc=corp,dc=example,dc=com"
/// bind_password = "env:IDFORGE_LDAP_PASSWORD" # or file:/run/secrets/ldap
/// user_base = "ou=people,dc=corp,dc=example,dc=com"
/// user_filter = "uid"                         # sam_account_name, user_principal_name, mail,
///                                             # { attribute = "cn" }, { custom = "(&…{username}…)" }
/// groups = { member_of = { attribute = "memberOf" } }
/// attributes = { display_name = "displayName", email = "mail", phone = "mobile" }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// The directory's name in the configuration and in logs (`corp-ad`).
    pub name: String,
    /// `ldap://host[:port]` (StartTLS unless `start_tls = false`) or `ldaps://host[:port]`.
    pub url: String,
    /// PEM file with the CA certificate(s) that signed the directory's certificate. Required
    /// whenever TLS is used: no other trust anchors are consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The name to verify in the server certificate, when it differs from the URL's host (for
    /// example when connecting to an IP address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// Send StartTLS on `ldap://` (the default there); must be unset or `false` with `ldaps://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_tls: Option<bool>,
    /// Allow `ldap://` with `start_tls = false`, which sends passwords in clear text. For
    /// laboratories only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_plaintext: bool,
    /// Seconds allowed for the TCP connection and each TLS handshake.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds allowed for each LDAP operation (bind, search, …) and for waiting for a free
    /// connection.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Most connections open to this directory at once.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Seconds an idle connection is kept for the next login (0: a new connection for every
    /// login). Connections are reused only with a service account, whose bind starts every
    /// login afresh.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// The service account's DN; without it users are searched anonymously.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<Dn>,
    /// The service account's password: `env:NAME`, `file:PATH` (or inline, for demos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<SecretValue>,
    /// Where users live.
    pub user_base: Dn,
    /// How the typed name finds the entry.
    pub user_filter: UserFilter,
    /// Which directory attributes become the user's display name, e-mail and phone, and what
    /// else is copied.
    #[serde(default)]
    pub attributes: AttributeNames,
    /// Where groups come from (`none`, `member_of`, `search`).
    #[serde(default)]
    pub groups: GroupLookup,
    /// After the user bind, ask "Who am I?" and require it to name the entry found.
    #[serde(default, skip_serializing_if = "is_false")]
    pub confirm_identity: bool,
    /// timeLimit sent with searches, in seconds (0: none).
    #[serde(default = "default_search_time_limit")]
    pub search_time_limit: i32,
    /// Largest message accepted from the server, in bytes.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
}

/// Directory attributes mapped into the user (each has a default that fits both OpenLDAP's
/// `inetOrgPerson` and Active Directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeNames {
    /// The display name (default `displayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Attribute>,
    /// The e-mail address (default `mail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Attribute>,
    /// The phone number for SMS and voice (default `telephoneNumber`; AD often keeps
    /// mobiles in `mobile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Attribute>,
    /// More attributes, by the name they get: `extra = { department = "department" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Attribute>,
}

impl AttributeNames {
    /// Every mapping as (name in the result, directory attribute), defaults filled in.
    pub fn mappings(&self) -> Result<Vec<(String, Attribute)>, String> {
        let fixed = [
            (DISPLAY_NAME, &self.display_name, "displayName"),
            (EMAIL, &self.email, "mail"),
            (PHONE, &self.phone, "telephoneNumber"),
        ];
        let mut out = Vec::with_capacity(3 + self.extra.len());
        for (name, configured, default) in fixed {
            let attribute = match configured {
                Some(a) => a.clone(),
                None => Attribute::new(default).map_err(|e| format!("{default}: {e}"))?,
            };
            out.push((name.to_owned(), attribute));
        }
        for (name, attribute) in &self.extra {
            if name.trim().is_empty() {
                return Err("attributes.extra: a mapped name is empty".to_owned());
            }
            if [DISPLAY_NAME, EMAIL, PHONE].contains(&name.as_str()) {
                return Err(format!(
                    "attributes.extra: {name:?} is mapped with attributes.{name} instead"
                ));
            }
            out.push((name.clone(), attribute.clone()));
        }
        Ok(out)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_timeout() -> u64 {
    10
}
fn default_pool_size() -> usize {
    4
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_search_time_limit() -> i32 {
    idforge_ldap_auth::DEFAULT_SEARCH_TIME_LIMIT
}
fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}

impl LdapSettings {
    /// Settings with every default: StartTLS on `ldap://`, no service account, the default
    /// attribute names, no groups.
    pub fn new(name: &str, url: &str, user_base: Dn, user_filter: UserFilter) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            ca_file: None,
            tls_server_name: None,
            start_tls: None,
            allow_plaintext: false,
            connect_timeout_secs: default_connect_timeout(),
            timeout_secs: default_timeout(),
            pool_size: default_pool_size(),
            idle_timeout_secs: default_idle_timeout(),
            bind_dn: None,
            bind_password: None,
            user_base,
            user_filter,
            attributes: AttributeNames::default(),
            groups: GroupLookup::None,
            confirm_identity: false,
            search_time_limit: default_search_time_limit(),
            max_message_size: default_max_message_size(),
        }
    }

    /// Checks the settings without reading files or the environment: the URL, that TLS has a
    /// CA to trust (and that plain text was asked for explicitly), the limits, the service
    /// account, the attribute names. [`super::LdapDirectory::new`] calls it.
    pub fn validate(&self) -> Result<(), LdapError> {
        self.plan().map(|_| ())
    }

    /// The validated essentials: URL and transport security.
    pub(super) fn plan(&self) -> Result<Plan, LdapError> {
        let bad = |reason: String| LdapError::Settings {
            directory: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(bad("name is empty".to_owned()));
        }
        let url = LdapUrl::parse(&self.url).map_err(|e| bad(e.to_string()))?;
        let security = match (url.scheme, self.start_tls) {
            (LdapScheme::Ldaps, Some(true)) => {
                return Err(bad(
                    "start_tls = true with ldaps://: the connection is TLS from the first byte; \
                     remove start_tls"
                        .to_owned(),
                ));
            }
            (LdapScheme::Ldaps, _) => Security::Ldaps,
            (LdapScheme::Ldap, Some(true) | None) => Security::StartTls,
            (LdapScheme::Ldap, Some(false)) => Security::Plaintext,
        };
        match security {
            Security::Plaintext => {
                if !self.allow_plaintext {
                    return Err(bad(
                        "ldap:// with start_tls = false sends passwords in clear text: use \
                         StartTLS or ldaps:// (with ca_file), or set allow_plaintext = true"
                            .to_owned(),
                    ));
                }
                if self.ca_file.is_some() || self.tls_server_name.is_some() {
                    return Err(bad(
                        "ca_file/tls_server_name are set but this connection uses no TLS \
                         (ldap:// with start_tls = false)"
                            .to_owned(),
                    ));
                }
            }
            Security::StartTls | Security::Ldaps => {
                if self.ca_file.is_none() {
                    return Err(bad(format!(
                        "ca_file is required with {security}: the PEM file of the CA that \
                         signed the directory's certificate (no other roots are trusted)"
                    )));
                }
            }
        }
        if let Some(name) = &self.tls_server_name {
            rustls_pki_types::ServerName::try_from(name.as_str())
                .map_err(|_| bad(format!("tls_server_name {name:?} is no DNS name or IP")))?;
        } else if security != Security::Plaintext {
            rustls_pki_types::ServerName::try_from(url.host.as_str()).map_err(|_| {
                bad(format!(
                    "host {:?} cannot be verified in a certificate; set tls_server_name",
                    url.host
                ))
            })?;
        }
        for (field, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("timeout_secs", self.timeout_secs),
        ] {
            if value == 0 || value > MAX_TIMEOUT_SECS {
                return Err(bad(format!(
                    "{field} = {value}: give 1 to {MAX_TIMEOUT_SECS} seconds"
                )));
            }
        }
        if self.idle_timeout_secs > MAX_TIMEOUT_SECS {
            return Err(bad(format!(
                "idle_timeout_secs = {}: give 0 to {MAX_TIMEOUT_SECS} seconds",
                self.idle_timeout_secs
            )));
        }
        if self.pool_size == 0 || self.pool_size > MAX_POOL_SIZE {
            return Err(bad(format!(
                "pool_size = {}: give 1 to {MAX_POOL_SIZE}",
                self.pool_size
            )));
        }
        match (&self.bind_dn, &self.bind_password) {
            (Some(dn), Some(_)) if dn.is_root() => {
                return Err(bad("bind_dn is empty".to_owned()));
            }
            (Some(_), None) => {
                return Err(bad(
                    "bind_dn without bind_password (an empty password would be an anonymous \
                     bind)"
                        .to_owned(),
                ));
            }
            (None, Some(_)) => return Err(bad("bind_password without bind_dn".to_owned())),
            _ => {}
        }
        if self.search_time_limit < 0 {
            return Err(bad("search_time_limit is negative".to_owned()));
        }
        if !MESSAGE_SIZE_RANGE.contains(&self.max_message_size) {
            return Err(bad(format!(
                "max_message_size = {}: give {} to {} bytes",
                self.max_message_size,
                MESSAGE_SIZE_RANGE.start(),
                MESSAGE_SIZE_RANGE.end()
            )));
        }
        let mappings = self.attributes.mappings().map_err(bad)?;
        Ok(Plan {
            url,
            security,
            mappings,
        })
    }
}

/// What [`LdapSettings::plan`] worked out.
pub(super) struct Plan {
    pub(super) url: LdapUrl,
    pub(super) security: Security,
    pub(super) mappings: Vec<(String, Attribute)>,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Security {
    /// `ldap://` upgraded with StartTLS before any bind.
    StartTls,
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// No TLS (`allow_plaintext`).
    Plaintext,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::StartTls => "StartTLS",
            Security::Ldaps => "LDAPS",
            Security::Plaintext => "no TLS (plain text)",
        })
    }
}

/// `ldap` or `ldaps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapScheme {
    /// `ldap://`, port 389.
    Ldap,
    /// `ldaps://`, port 636.
    Ldaps,
}

/// A directory address: `ldap://host[:port]` or `ldaps://host[:port]`. LDAP URL parts after
/// the host (DN, attributes, scope, filter) are refused: those are separate settings here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUrl {
    /// The scheme.
    pub scheme: LdapScheme,
    /// The host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port (389 or 636 unless given).
    pub port: u16,
}

/// Why a directory URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid directory URL {url:?}: {reason}")]
pub struct InvalidUrl {
    /// The URL as written.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl LdapUrl {
    /// Parses `ldap://host[:port][/]` or `ldaps://…`; the scheme is case-insensitive, IPv6
    /// addresses go in brackets.
    pub fn parse(text: &str) -> Result<Self, InvalidUrl> {
        let fail = |reason| InvalidUrl {
            url: text.to_owned(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail("expected ldap://host[:port] or ldaps://host[:port]"))?;
        let scheme = if scheme.eq_ignore_ascii_case("ldap") {
            LdapScheme::Ldap
        } else if scheme.eq_ignore_ascii_case("ldaps") {
            LdapScheme::Ldaps
        } else {
            return Err(fail("the scheme must be ldap:// or ldaps://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(fail(
                "only ldap[s]://host[:port] is read: give the base DN, filter and scope as \
                 their own settings",
            ));
        }
        if authority.contains('@') {
            return Err(fail("credentials do not belong in the URL: use bind_dn"));
        }
        if authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(fail("white space in the URL"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (ip, after) = bracketed
                .split_once(']')
                .ok_or_else(|| fail("unclosed '[' around an IPv6 address"))?;
            ip.parse::<Ipv6Addr>()
                .map_err(|_| fail("invalid IPv6 address in brackets"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| fail("expected ':port' after the IPv6 address"))?,
                ),
            };
            (ip, port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err(fail("IPv6 addresses go in brackets: ldap://[::1]:389"));
                }
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() {
                return Err(fail("no host"));
            }
            if !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(fail("invalid host name"));
            }
            (host, port)
        };
        let port = match port {
            None => match scheme {
                LdapScheme::Ldap => 389,
                LdapScheme::Ldaps => 636,
            },
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(fail("the port must be 1 to 65535")),
                Ok(p) => p,
            },
        };
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for LdapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            LdapScheme::Ldap => "ldap",
            LdapScheme::Ldaps => "ldaps",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_with_default_and_explicit_ports() {
        let u = LdapUrl::parse("ldap://dc1.corp.example.com").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (LdapScheme::Ldap, "dc1.corp.example.com", 389)
        );
        let u = LdapUrl::parse("LDAPS://10.0.0.5/").unwrap();
        assert_eq!((u.scheme, u.port), (LdapScheme::Ldaps, 636));
        let u = LdapUrl::parse("ldap://127.0.0.1:3890").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 3890));
        let u = LdapUrl::parse("ldaps://[::1]:6360").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 6360));
        assert_eq!(u.to_string(), "ldaps://[::1]:6360");
        assert_eq!(LdapUrl::parse("ldap://[2001:db8::1]").unwrap().port, 389);
    }

    #[test]
    fn urls_that_are_refused() {
        for bad in [
            "",
            "dc1.example.com",
            "http://dc1.example.com",
            "ldapi://%2fvar%2frun%2fslapd",
            "ldap://",
            "ldap://:389",
            "ldap://host:0",
            "ldap://host:65536",
            "ldap://host:port",
            "ldap://host:",
            "ldap://::1",
            "ldap://[::1",
            "ldap://[nope]:389",
            "ldap://[::1]389",
            "ldap://host/dc=example,dc=com",
            "ldap://host:389/??sub?(uid=*)",
            "ldap://admin:pw@host",
            "ldap://ho st",
            "ldap://host\n",
            "ldap://ho*st",
        ] {
            assert!(LdapUrl::parse(bad).is_err(), "{bad:?}");
        }
        let e = LdapUrl::parse("ldap://admin:pw@host").unwrap_err();
        assert!(e.to_string().contains("bind_dn"), "{e}");
    }

    fn settings() -> LdapSettings {
        let mut s = LdapSettings::new(
            "corp",
            "ldap://127.0.0.1",
            Dn::parse("ou=people,dc=example,dc=com").unwrap(),
            UserFilter::Uid,
        );
        s.ca_file = Some("/etc/ca.pem".into());
        s
    }

    fn refused(s: &LdapSettings) -> String {
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn tls_needs_a_ca_and_plain_text_must_be_asked_for() {
        assert!(settings().validate().is_ok());
        assert_eq!(settings().plan().unwrap().security, Security::StartTls);

        let mut s = settings();
        s.ca_file = None;
        assert!(refused(&s).contains("ca_file is required"));
        s.url = "ldaps://127.0.0.1".into();
        assert!(refused(&s).contains("ca_file is required with LDAPS"));

        let mut s = settings();
        s.url = "ldaps://dc1".into();
        assert_eq!(s.plan().unwrap().security, Security::Ldaps);
        s.start_tls = Some(true);
        assert!(refused(&s).contains("remove start_tls"));

        let mut s = settings();
        s.start_tls = Some(false);
        assert!(refused(&s).contains("clear text"));
        s.allow_plaintext = true;
        assert!(refused(&s).contains("uses no TLS"), "a CA file with no TLS");
        s.ca_file = None;
        assert_eq!(s.plan().unwrap().security, Security::Plaintext);

        let mut s = settings();
        s.tls_server_name = Some("not a name".into());
        assert!(refused(&s).contains("tls_server_name"));
    }

    #[test]
    fn limits_and_service_account() {
        let mut s = settings();
        s.pool_size = 0;
        assert!(refused(&s).contains("pool_size"));
        let mut s = settings();
        s.timeout_secs = 0;
        assert!(refused(&s).contains("timeout_secs"));
        let mut s = settings();
        s.connect_timeout_secs = u64::MAX;
        assert!(refused(&s).contains("connect_timeout_secs"));
        let mut s = settings();
        s.max_message_size = 10;
        assert!(refused(&s).contains("max_message_size"));

        let mut s = settings();
        s.bind_dn = Some(Dn::parse("cn=idp,dc=example,dc=com").unwrap());
        assert!(refused(&s).contains("without bind_password"));
        s.bind_password = Some(SecretValue::parse("env:X"));
        assert!(s.validate().is_ok());
        s.bind_dn = None;
        assert!(refused(&s).contains("without bind_dn"));
        s.bind_dn = Some(Dn::root());
        assert!(refused(&s).contains("bind_dn is empty"));
    }

    #[test]
    fn attribute_names_have_defaults_and_extras() {
        let names: AttributeNames = toml::from_str(
            r#"
            phone = "mobile"
            extra = { department = "department", employee_id = "employeeNumber" }
            "#,
        )
        .unwrap();
        let m: Vec<(String, String)> = names
            .mappings()
            .unwrap()
            .into_iter()
            .map(|(n, a)| (n, a.as_str().to_owned()))
            .collect();
        let expected = [
            ("display_name", "displayName"),
            ("email", "mail"),
            ("phone", "mobile"),
            ("department", "department"),
            ("employee_id", "employeeNumber"),
        ];
        assert_eq!(
            m,
            expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
        );

        let mut s = settings();
        s.attributes
            .extra
            .insert("email".into(), Attribute::new("mail").unwrap());
        assert!(refused(&s).contains("attributes.email"));

        // Attribute names are checked when read.
        assert!(toml::from_str::<AttributeNames>(r#"email = "mail)(x""#).is_err());
        assert!(toml::from_str::<AttributeNames>(r#"mobile = "mobile""#).is_err());
    }

    #[test]
    fn reads_a_directories_entry_and_writes_no_secret() {
        let s: LdapSettings = toml::from_str(
            r#"
            name = "corp-ad"
            url = "ldaps://dc1.corp.example.com"
            ca_file = "/etc/idforge/corp-ca.pem"
            bind_dn = "CN=idp,OU=Services,DC=corp,DC=example,DC=com"
            bind_password = "inline-service-secret"
            user_base = "DC=corp,DC=example,DC=com"
            user_filter = "sam_account_name"
            groups = { search = { base = "DC=corp,DC=example,DC=com", member_attribute = "member", nesting = "in_chain" } }
            attributes = { phone = "mobile" }
            pool_size = 8
            "#,
        )
        .unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.timeout_secs, 10);
        assert_eq!(s.connect_timeout_secs, 5);
        assert_eq!(s.pool_size, 8);
        assert_eq!(s.plan().unwrap().security, Security::Ldaps);
        assert!(!format!("{s:?}").contains("inline-service-secret"));
        let written = toml::to_string(&s).unwrap();
        assert!(!written.contains("inline-service-secret"), "{written}");

        let unknown = r#"
            name = "x"
            url = "ldap://x"
            user_base = "dc=x"
            user_filter = "uid"
            bind_pasword = "typo"
        "#;
        let e = toml::from_str::<LdapSettings>(unknown).unwrap_err();
        assert!(e.to_string().contains("bind_pasword"), "{e}");
    }
}
