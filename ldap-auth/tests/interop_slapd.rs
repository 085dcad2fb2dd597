//! The login flow against a real OpenLDAP `slapd` (Debian packages `slapd` and `ldap-utils`),
//! started per test as a foreground child on a free loopback port with a temporary mdb
//! database, the memberof overlay and `allow bind_anon_dn` (so that, like Active Directory, it
//! accepts a DN with an empty password as an anonymous bind).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;

use idforge_ldap_auth::{
    Attribute, AttributeMapping, AuthFailure, AuthenticatedUser, Authenticator, DirectoryConfig,
    Dn, Filter, FilterTemplate, GroupLookup, LdapMessage, Nesting, Password, ProtocolOp,
    ResultCode, ServiceAccount, Step, UserFacingFailure, UserFilter,
};
use idforge_ldap_auth::{BindAuthentication, BindRequest};

use idforge_test_support::{SUFFIX, Slapd};

/// Whether slapd and ldapadd are installed; when not, fail under CI, otherwise skip.
fn peers_present(test: &str) -> bool {
    Slapd::present(test)
}

/// A clear-text server loaded with [`LDIF`].
fn start() -> Slapd {
    Slapd::start(LDIF)
}

const LDIF: &str = r"dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=service,dc=example,dc=com
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: service
userPassword: service-pw

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
displayName: Alice Liddell
mail: alice@example.com
mail: a.liddell@example.com
userPassword: alice-pw

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Builder
mail: shared@example.com
userPassword: bob-pw

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Singer
mail: shared@example.com
userPassword: carol-pw

dn: cn=Doe\, Jane,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: jdoe
cn: Doe, Jane
sn: Doe
userPassword: jane-pw

dn: cn=engineers,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: engineers
member: uid=alice,ou=people,dc=example,dc=com

dn: cn=staff,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: cn=engineers,ou=groups,dc=example,dc=com

dn: cn=everyone,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: everyone
member: cn=admins,ou=groups,dc=example,dc=com
member: cn=staff,ou=groups,dc=example,dc=com

dn: cn=loop-b,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: loop-b
member: uid=bob,ou=people,dc=example,dc=com
member: cn=loop-a,ou=groups,dc=example,dc=com

dn: cn=loop-a,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: loop-a
member: cn=loop-b,ou=groups,dc=example,dc=com
";

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

fn config() -> DirectoryConfig {
    let mut c = DirectoryConfig::new(dn(&format!("ou=people,{SUFFIX}")), UserFilter::Uid);
    c.start_tls = false;
    c.service_account = Some(ServiceAccount {
        dn: dn(&format!("cn=service,{SUFFIX}")),
        password: Password::from("service-pw"),
    });
    c.attributes = vec![
        AttributeMapping {
            ldap: Attribute::new("mail").unwrap(),
            name: "email".into(),
        },
        AttributeMapping {
            ldap: Attribute::new("displayName").unwrap(),
            name: "name".into(),
        },
    ];
    c
}

/// Runs one login over a plain TCP connection; returns the outcome and every message sent.
fn login(
    server: &Slapd,
    config: DirectoryConfig,
    user: &str,
    password: &str,
) -> (Result<AuthenticatedUser, AuthFailure>, Vec<LdapMessage>) {
    let mut auth = Authenticator::new(config, user, Password::from(password));
    let mut sent = Vec::new();
    let mut stream: Option<TcpStream> = None;
    let mut buf = [0u8; 4096];
    loop {
        match auth.step() {
            Step::Transmit(bytes) => {
                sent.push(LdapMessage::decode(&bytes).unwrap());
                stream
                    .get_or_insert_with(|| server.connect())
                    .write_all(&bytes)
                    .unwrap();
            }
            Step::NeedInput => {
                let s = stream.get_or_insert_with(|| server.connect());
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    auth.connection_closed();
                } else {
                    auth.receive(&buf[..n]);
                }
            }
            Step::StartTls => panic!("StartTLS not configured in this test"),
            Step::Done(result) => return (result, sent),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn group_set(user: &AuthenticatedUser) -> Vec<String> {
    let mut g: Vec<String> = user
        .groups
        .iter()
        .map(|d| String::from_utf8_lossy(d.first_value("cn").unwrap()).into_owned())
        .collect();
    g.sort();
    g
}

fn binds(sent: &[LdapMessage]) -> Vec<(String, Vec<u8>)> {
    sent.iter()
        .filter_map(|m| match &m.op {
            ProtocolOp::BindRequest(BindRequest {
                name,
                authentication: BindAuthentication::Simple(p),
                ..
            }) => Some((name.clone(), p.expose().to_vec())),
            _ => None,
        })
        .collect()
}

#[test]
fn interop_slapd_correct_wrong_unknown_and_case_variant() {
    if !peers_present("interop_slapd_correct_wrong_unknown_and_case_variant") {
        return;
    }
    let server = start();

    let (ok, sent) = login(&server, config(), "alice", "alice-pw");
    let user = ok.expect("alice logs in");
    assert_eq!(user.dn, dn(&format!("uid=alice,ou=people,{SUFFIX}")));
    assert_eq!(user.login.as_deref(), Some("alice"));
    let mut mails = user.strings("email");
    mails.sort_unstable();
    assert_eq!(mails, ["a.liddell@example.com", "alice@example.com"]);
    assert_eq!(user.strings("name"), ["Alice Liddell"]);
    // Service bind, user bind as the DN found, and a closing unbind.
    let b = binds(&sent);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].0, format!("cn=service,{SUFFIX}"));
    assert_eq!(b[1], (user.dn_string.clone(), b"alice-pw".to_vec()));
    assert!(matches!(sent.last().unwrap().op, ProtocolOp::UnbindRequest));

    // The directory matches uid case- and space-insensitively; the identity is the entry's.
    let (ok, _) = login(&server, config(), " ALICE ", "alice-pw");
    let user = ok.expect("case variant logs in");
    assert_eq!(user.login.as_deref(), Some("alice"));
    assert_eq!(user.dn, dn(&format!("UID=Alice,OU=People,{SUFFIX}")));

    let (wrong, _) = login(&server, config(), "alice", "not-her-password");
    let wrong = wrong.unwrap_err();
    assert_eq!(wrong, AuthFailure::WrongPassword);

    let (unknown, sent) = login(&server, config(), "mallory", "whatever");
    let unknown = unknown.unwrap_err();
    assert_eq!(unknown, AuthFailure::NoSuchUser);
    assert_eq!(binds(&sent).len(), 1, "only the service bind");
    // Users cannot tell the two apart; the audit log can.
    assert_eq!(wrong.user_facing(), UserFacingFailure::InvalidCredentials);
    assert_eq!(unknown.user_facing(), wrong.user_facing());
    assert_ne!(unknown, wrong);

    // A DN with an escaped comma, returned in the server's own escaping.
    let (ok, _) = login(&server, config(), "jdoe", "jane-pw");
    let user = ok.expect("jdoe logs in");
    assert_eq!(user.dn, dn(&format!(r"cn=Doe\2C Jane,ou=People,{SUFFIX}")));

    // A bad service password is a configuration failure, not the user's.
    let mut bad = config();
    bad.service_account.as_mut().unwrap().password = Password::from("nope");
    let (err, _) = login(&server, bad, "alice", "alice-pw");
    let err = err.unwrap_err();
    assert!(
        matches!(err, AuthFailure::ServiceBindFailed { code, .. } if code == ResultCode::INVALID_CREDENTIALS)
    );
    assert_eq!(err.user_facing(), UserFacingFailure::Unavailable);
}

#[test]
fn interop_slapd_empty_password_is_never_sent() {
    if !peers_present("interop_slapd_empty_password_is_never_sent") {
        return;
    }
    let server = start();
    let alice = format!("uid=alice,ou=people,{SUFFIX}");

    // The trap is real on this server: a DN with an empty password binds (anonymously).
    let mut s = server.connect();
    let bind = LdapMessage::new(
        1,
        ProtocolOp::BindRequest(BindRequest {
            version: 3,
            name: alice.clone(),
            authentication: BindAuthentication::Simple(Password::from("")),
        }),
    );
    s.write_all(&bind.encode()).unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    let reply = LdapMessage::decode(&buf[..n]).unwrap();
    let ProtocolOp::BindResponse(r) = reply.op else {
        panic!("not a bind response: {reply:?}")
    };
    assert_eq!(r.result.code, ResultCode::SUCCESS, "allow bind_anon_dn");

    // The crate refuses before any byte is written: no connection is even opened.
    let (result, sent) = login(&server, config(), "alice", "");
    assert_eq!(result.unwrap_err(), AuthFailure::EmptyPassword);
    assert!(sent.is_empty());
}

#[test]
fn interop_slapd_injection_attempts_find_nobody() {
    if !peers_present("interop_slapd_injection_attempts_find_nobody") {
        return;
    }
    let server = start();
    for hostile in [
        "*",
        "*)(uid=*",
        "alice)(|(uid=*",
        "admin)(|(userPassword=*)",
        "al*",
        "alice\0",
        r"\2a",
        "*)(objectClass=*))(&(uid=alice",
    ] {
        let (result, sent) = login(&server, config(), hostile, "alice-pw");
        assert_eq!(result.unwrap_err(), AuthFailure::NoSuchUser, "{hostile:?}");
        // The filter sent is one equality holding the typed bytes.
        let search = sent
            .iter()
            .find_map(|m| match &m.op {
                ProtocolOp::SearchRequest(s) => Some(s.filter.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            search,
            Filter::equality(Attribute::new("uid").unwrap(), hostile),
            "{hostile:?}"
        );
        assert_eq!(binds(&sent).len(), 1, "{hostile:?}: no user bind");
    }
    // Two entries share this mail address: refused, and distinct from "no such user".
    let mut by_mail = config();
    by_mail.user_filter = UserFilter::Mail;
    let (result, _) = login(&server, by_mail, "shared@example.com", "bob-pw");
    let err = result.unwrap_err();
    assert_eq!(err, AuthFailure::AmbiguousUser { count: 2 });
    assert_eq!(err.user_facing(), UserFacingFailure::InvalidCredentials);
}

#[test]
fn interop_slapd_groups_member_of_and_group_filters() {
    if !peers_present("interop_slapd_groups_member_of_and_group_filters") {
        return;
    }
    let server = start();
    let mut c = config();
    c.groups = GroupLookup::MemberOf {
        attribute: Attribute::new("memberOf").unwrap(),
    };
    let (ok, _) = login(&server, c.clone(), "alice", "alice-pw");
    assert_eq!(group_set(&ok.unwrap()), ["engineers", "staff"]);
    let (ok, _) = login(&server, c.clone(), "carol", "carol-pw");
    assert!(ok.unwrap().groups.is_empty());

    // "User in group" as a login condition: a custom template with the group in it.
    let staff = dn(&format!("cn=staff,ou=groups,{SUFFIX}"));
    let in_staff = FilterTemplate::parse(&format!(
        "(&(objectClass=inetOrgPerson)(uid={{username}})(memberOf={staff}))"
    ))
    .unwrap();
    c.user_filter = UserFilter::Custom(in_staff);
    let (ok, _) = login(&server, c.clone(), "bob", "bob-pw");
    assert_eq!(ok.unwrap().dn, dn(&format!("uid=bob,ou=people,{SUFFIX}")));
    let (not_in, _) = login(&server, c.clone(), "carol", "carol-pw");
    assert_eq!(not_in.unwrap_err(), AuthFailure::NoSuchUser);

    // The same through the built-in "any of several groups" filter, sent on its own.
    let engineers = dn(&format!("cn=engineers,ou=groups,{SUFFIX}"));
    let filter = UserFilter::Uid.user_in_any_group("alice", &[staff, engineers], false);
    let mut s = server.connect();
    let search = LdapMessage::new(
        1,
        ProtocolOp::SearchRequest(idforge_ldap_auth::SearchRequest {
            base: SUFFIX.into(),
            scope: idforge_ldap_auth::Scope::Subtree,
            deref: idforge_ldap_auth::DerefAliases::Never,
            size_limit: 0,
            time_limit: 0,
            types_only: false,
            filter,
            attributes: vec!["1.1".into()],
        }),
    );
    s.write_all(&search.encode()).unwrap();
    let replies = read_until_done(&mut s);
    let entries: Vec<_> = replies
        .iter()
        .filter_map(|m| match &m.op {
            ProtocolOp::SearchResultEntry(e) => Some(dn(&e.dn)),
            _ => None,
        })
        .collect();
    assert_eq!(entries, [dn(&format!("uid=alice,ou=people,{SUFFIX}"))]);
}

fn read_until_done(s: &mut TcpStream) -> Vec<LdapMessage> {
    let mut pending = Vec::new();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(len) = idforge_ldap_auth::frame_len(&pending, 1 << 20).unwrap() {
            let m = LdapMessage::decode(&pending[..len]).unwrap();
            pending.drain(..len);
            let done = matches!(m.op, ProtocolOp::SearchResultDone(_));
            out.push(m);
            if done {
                return out;
            }
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        pending.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn interop_slapd_nested_groups_by_iterative_expansion() {
    if !peers_present("interop_slapd_nested_groups_by_iterative_expansion") {
        return;
    }
    let server = start();
    let search = |nesting| GroupLookup::Search {
        base: dn(&format!("ou=groups,{SUFFIX}")),
        member_attribute: Attribute::new("member").unwrap(),
        nesting,
    };
    let mut c = config();
    c.groups = search(Nesting::Iterative { max_depth: 5 });
    let (ok, sent) = login(&server, c.clone(), "alice", "alice-pw");
    assert_eq!(
        group_set(&ok.unwrap()),
        ["admins", "engineers", "everyone", "staff"]
    );
    // Service bind, user bind, service re-bind for the group searches.
    assert_eq!(binds(&sent).len(), 3);

    // bob is in a cycle (loop-a ⇄ loop-b): it ends, each group once.
    let (ok, _) = login(&server, c.clone(), "bob", "bob-pw");
    assert_eq!(
        group_set(&ok.unwrap()),
        ["everyone", "loop-a", "loop-b", "staff"]
    );

    // Direct membership only.
    c.groups = search(Nesting::Direct);
    let (ok, _) = login(&server, c.clone(), "alice", "alice-pw");
    assert_eq!(group_set(&ok.unwrap()), ["engineers", "staff"]);

    // Depth limit: alice's groups go two levels deep (everyone holds staff, admins holds
    // engineers), so a limit of one level fails closed instead of dropping groups.
    c.groups = search(Nesting::Iterative { max_depth: 1 });
    let (err, _) = login(&server, c.clone(), "alice", "alice-pw");
    assert_eq!(
        err.unwrap_err(),
        AuthFailure::GroupNestingTooDeep { max_depth: 1 }
    );
    c.groups = search(Nesting::Iterative { max_depth: 2 });
    let (ok, _) = login(&server, c.clone(), "alice", "alice-pw");
    assert_eq!(group_set(&ok.unwrap()).len(), 4);

    // OpenLDAP answers AD's in-chain rule with success and no entries: this is why the mode is
    // configured, never guessed.
    c.groups = search(Nesting::InChain);
    let (ok, _) = login(&server, c, "alice", "alice-pw");
    assert!(ok.unwrap().groups.is_empty());
}

#[test]
fn interop_slapd_who_am_i_confirms_the_entry() {
    if !peers_present("interop_slapd_who_am_i_confirms_the_entry") {
        return;
    }
    let server = start();
    let mut c = config();
    c.confirm_identity = true;
    let (ok, _) = login(&server, c, "jdoe", "jane-pw");
    let user = ok.unwrap();
    let authz = user.authz_id.clone().unwrap();
    assert_eq!(dn(authz.strip_prefix("dn:").unwrap()), user.dn);
}

/// A connection that starts in clear text and may switch to TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.as_mut(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn tls_client(trusted: &rcgen::Certificate) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    std::sync::Arc::new(config)
}

/// The outcome of a login, the messages sent, and how many went through TLS.
type TlsLogin = (
    Result<AuthenticatedUser, AuthFailure>,
    Vec<LdapMessage>,
    usize,
);

/// Like `login`, with StartTLS handled by rustls. Returns the outcome, the messages sent and
/// how many of them went through TLS; a failed handshake is returned as `Err(text)`.
fn login_start_tls(
    server: &Slapd,
    config: DirectoryConfig,
    user: &str,
    password: &str,
    tls: &std::sync::Arc<rustls::ClientConfig>,
) -> Result<TlsLogin, String> {
    let mut auth = Authenticator::new(config, user, Password::from(password));
    let mut conn = Conn::Plain(server.connect());
    let mut sent = Vec::new();
    let mut sent_over_tls = 0;
    let mut buf = [0u8; 4096];
    loop {
        match auth.step() {
            Step::Transmit(bytes) => {
                sent.push(LdapMessage::decode(&bytes).unwrap());
                if matches!(conn, Conn::Tls(_)) {
                    sent_over_tls += 1;
                }
                conn.io().write_all(&bytes).map_err(|e| e.to_string())?;
            }
            Step::NeedInput => {
                let n = conn.io().read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    auth.connection_closed();
                } else {
                    auth.receive(&buf[..n]);
                }
            }
            Step::StartTls => {
                let Conn::Plain(tcp) = conn else {
                    panic!("StartTLS twice")
                };
                let name = rustls::pki_types::ServerName::IpAddress(
                    std::net::IpAddr::from([127, 0, 0, 1]).into(),
                );
                let client = rustls::ClientConnection::new(tls.clone(), name).unwrap();
                let mut stream = rustls::StreamOwned::new(client, tcp);
                while stream.conn.is_handshaking() {
                    stream
                        .conn
                        .complete_io(&mut stream.sock)
                        .map_err(|e| e.to_string())?;
                }
                conn = Conn::Tls(Box::new(stream));
                auth.tls_established();
            }
            Step::Done(result) => return Ok((result, sent, sent_over_tls)),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn interop_slapd_start_tls() {
    if !peers_present("interop_slapd_start_tls") {
        return;
    }
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let server = Slapd::start_with_certificate(
        LDIF,
        &certified.cert.pem(),
        &certified.signing_key.serialize_pem(),
    );
    let tls = tls_client(&certified.cert);
    let mut c = config();
    c.start_tls = true;
    c.groups = GroupLookup::MemberOf {
        attribute: Attribute::new("memberOf").unwrap(),
    };

    let (result, sent, over_tls) =
        login_start_tls(&server, c.clone(), "alice", "alice-pw", &tls).expect("TLS handshake");
    let user = result.expect("alice logs in over StartTLS");
    assert_eq!(group_set(&user), ["engineers", "staff"]);
    // Everything after the StartTLS request (both binds, search, unbind) went through TLS.
    assert_eq!(over_tls, sent.len() - 1);
    assert_eq!(binds(&sent).len(), 2);

    let (result, _, _) =
        login_start_tls(&server, c.clone(), "alice", "wrong", &tls).expect("TLS handshake");
    assert_eq!(result.unwrap_err(), AuthFailure::WrongPassword);

    // This server refuses simple binds without TLS (security simple_bind=128).
    let mut plain = c.clone();
    plain.start_tls = false;
    let (result, _) = login(&server, plain, "alice", "alice-pw");
    assert!(matches!(
        result.unwrap_err(),
        AuthFailure::ServiceBindFailed { code, .. } if code == ResultCode::CONFIDENTIALITY_REQUIRED
    ));

    // A client that does not trust the certificate never gets to send a bind.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let err = login_start_tls(&server, c, "alice", "alice-pw", &tls_client(&other.cert))
        .expect_err("untrusted certificate");
    assert!(err.contains("certificate"), "{err}");
}

/// The thin async driver an IdP built on tokio would use: the same state machine, only the
/// reads and writes are awaited.
async fn login_async(
    port: u16,
    config: DirectoryConfig,
    user: &str,
    password: &str,
) -> Result<AuthenticatedUser, AuthFailure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut auth = Authenticator::new(config, user, Password::from(password));
    let mut stream = None;
    let mut buf = vec![0u8; 4096];
    loop {
        match auth.step() {
            Step::Transmit(bytes) => {
                if stream.is_none() {
                    stream = Some(
                        tokio::net::TcpStream::connect(("127.0.0.1", port))
                            .await
                            .unwrap(),
                    );
                }
                stream.as_mut().unwrap().write_all(&bytes).await.unwrap();
            }
            Step::NeedInput => match stream.as_mut().unwrap().read(&mut buf).await.unwrap() {
                0 => auth.connection_closed(),
                n => auth.receive(&buf[..n]),
            },
            Step::StartTls => panic!("no TLS in this test"),
            Step::Done(result) => return result,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn interop_slapd_tokio_driver() {
    if !peers_present("interop_slapd_tokio_driver") {
        return;
    }
    let server = start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let mut c = config();
    c.groups = GroupLookup::Search {
        base: dn(&format!("ou=groups,{SUFFIX}")),
        member_attribute: Attribute::new("member").unwrap(),
        nesting: Nesting::Iterative { max_depth: 4 },
    };
    rt.block_on(async {
        // Several logins at once on one thread, each on its own connection.
        let (alice, bob, wrong, empty) = tokio::join!(
            login_async(server.port, c.clone(), "alice", "alice-pw"),
            login_async(server.port, c.clone(), "bob", "bob-pw"),
            login_async(server.port, c.clone(), "carol", "bob-pw"),
            login_async(server.port, c.clone(), "carol", ""),
        );
        assert_eq!(
            group_set(&alice.unwrap()),
            ["admins", "engineers", "everyone", "staff"]
        );
        assert_eq!(
            group_set(&bob.unwrap()),
            ["everyone", "loop-a", "loop-b", "staff"]
        );
        assert_eq!(wrong.unwrap_err(), AuthFailure::WrongPassword);
        assert_eq!(empty.unwrap_err(), AuthFailure::EmptyPassword);
    });
}
