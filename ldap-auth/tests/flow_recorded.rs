//! The `Authenticator` against scripted servers: Active Directory behaviour from recorded
//! responses (bind sub-codes, the in-chain rule), StartTLS, framing across arbitrary read sizes,
//! and hostile or broken servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idforge_ldap_auth::{
    Attribute, AuthFailure, AuthenticatedUser, Authenticator, DirectoryConfig, Dn, Filter,
    GroupLookup, LdapMessage, LdapResult, Nesting, Password, ProtocolOp, ResultCode,
    ServiceAccount, Step, UserFacingFailure, UserFilter,
};
use idforge_ldap_auth::{
    BindAuthentication, BindResponse, ExtendedResponse, OID_NOTICE_OF_DISCONNECTION, OID_START_TLS,
    PartialAttribute, SearchResultEntry,
};

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

fn ad_config() -> DirectoryConfig {
    let mut c = DirectoryConfig::new(
        dn("OU=Staff,DC=corp,DC=example,DC=com"),
        UserFilter::SamAccountName,
    );
    c.service_account = Some(ServiceAccount {
        dn: dn("CN=svc-idp,OU=Service,DC=corp,DC=example,DC=com"),
        password: Password::from("svc"),
    });
    c
}

fn result(code: ResultCode, diagnostic: &str) -> LdapResult {
    LdapResult {
        code,
        diagnostic: diagnostic.into(),
        ..LdapResult::default()
    }
}

fn ok() -> LdapResult {
    result(ResultCode::SUCCESS, "")
}

fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> ProtocolOp {
    ProtocolOp::SearchResultEntry(SearchResultEntry {
        dn: dn.into(),
        attributes: attrs
            .iter()
            .map(|(n, vs)| PartialAttribute {
                name: (*n).into(),
                values: vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
            })
            .collect(),
    })
}

/// Drives a login against `server`, which answers each request with operations (sent with the
/// request's ID). Responses are fed `chunk` bytes at a time.
fn run(
    config: DirectoryConfig,
    user: &str,
    password: &str,
    chunk: usize,
    mut server: impl FnMut(&LdapMessage) -> Vec<ProtocolOp>,
) -> (
    Result<AuthenticatedUser, AuthFailure>,
    Vec<LdapMessage>,
    bool,
) {
    let mut auth = Authenticator::new(config, user, Password::from(password));
    let mut sent = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut tls = false;
    loop {
        match auth.step() {
            Step::Transmit(bytes) => {
                let m = LdapMessage::decode(&bytes).unwrap();
                for op in server(&m) {
                    LdapMessage::new(m.id, op).encode_into(&mut pending);
                }
                sent.push(m);
            }
            Step::NeedInput => {
                if pending.is_empty() {
                    auth.connection_closed();
                    continue;
                }
                let n = chunk.min(pending.len());
                let part: Vec<u8> = pending.drain(..n).collect();
                auth.receive(&part);
            }
            Step::StartTls => {
                tls = true;
                auth.tls_established();
            }
            Step::Done(r) => return (r, sent, tls),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A well-behaved AD: service bind ok, the user found, user bind answered with `bind`.
fn ad_server(bind: LdapResult) -> impl FnMut(&LdapMessage) -> Vec<ProtocolOp> {
    move |m| match &m.op {
        ProtocolOp::ExtendedRequest(e) if e.name == OID_START_TLS => {
            vec![ProtocolOp::ExtendedResponse(ExtendedResponse {
                result: ok(),
                name: Some(OID_START_TLS.into()),
                value: None,
            })]
        }
        ProtocolOp::BindRequest(b) if b.name.starts_with("CN=svc-idp") => {
            vec![ProtocolOp::BindResponse(BindResponse {
                result: ok(),
                server_sasl_creds: None,
            })]
        }
        ProtocolOp::BindRequest(_) => vec![ProtocolOp::BindResponse(BindResponse {
            result: bind.clone(),
            server_sasl_creds: None,
        })],
        ProtocolOp::SearchRequest(_) => vec![
            entry(
                r"CN=Doe\, Jane,OU=Staff,DC=corp,DC=example,DC=com",
                &[
                    ("sAMAccountName", &["JDoe"]),
                    (
                        "memberOf",
                        &["CN=VPN Users,OU=Groups,DC=corp,DC=example,DC=com"],
                    ),
                ],
            ),
            ProtocolOp::SearchResultReference(vec![
                "ldap://DomainDnsZones.corp.example.com/DC=DomainDnsZones,DC=corp,DC=example,DC=com"
                    .into(),
            ]),
            ProtocolOp::SearchResultDone(ok()),
        ],
        ProtocolOp::UnbindRequest => vec![],
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn recorded_ad_bind_failures_are_decoded() {
    let path = format!(
        "{}/tests/vectors/ad_bind_failures.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let code = ResultCode(cols[0].parse().unwrap());
        // AD terminates its diagnostic messages with a NUL.
        let diagnostic = format!("{}\0", cols[1]);
        let (r, sent, tls) = run(
            ad_config(),
            "jdoe",
            "pw",
            7,
            ad_server(result(code, &diagnostic)),
        );
        let err = r.unwrap_err();
        let variant = format!("{err:?}");
        let variant = variant.split([' ', '{', '(']).next().unwrap();
        assert_eq!(variant, cols[2], "{line}");
        assert_eq!(format!("{:?}", err.user_facing()), cols[3], "{line}");
        assert!(tls, "StartTLS ran first");
        assert!(matches!(sent.last().unwrap().op, ProtocolOp::UnbindRequest));
        rows += 1;
    }
    assert_eq!(rows, 13);
}

#[test]
fn ad_success_with_member_of_and_byte_by_byte_input() {
    let mut c = ad_config();
    c.groups = GroupLookup::MemberOf {
        attribute: Attribute::new("memberOf").unwrap(),
    };
    let (r, sent, _) = run(c, "jdoe", "pw", 1, ad_server(ok()));
    let user = r.unwrap();
    assert_eq!(user.login.as_deref(), Some("JDoe"));
    assert_eq!(
        user.dn,
        dn(r"cn=doe\2c jane,ou=staff,dc=corp,dc=example,dc=com")
    );
    assert_eq!(
        user.groups,
        [dn("cn=VPN Users,ou=Groups,dc=corp,dc=example,dc=com")]
    );
    // The user bind uses the DN exactly as the server wrote it.
    let ProtocolOp::BindRequest(b) = &sent[3].op else {
        panic!("{:?}", sent[3])
    };
    assert_eq!(b.name, r"CN=Doe\, Jane,OU=Staff,DC=corp,DC=example,DC=com");
    assert_eq!(
        b.authentication,
        BindAuthentication::Simple(Password::from("pw"))
    );
    // Size limit 2 on the user search, and the message IDs count up.
    let ProtocolOp::SearchRequest(s) = &sent[2].op else {
        panic!()
    };
    assert_eq!(s.size_limit, 2);
    assert_eq!(
        sent.iter().map(|m| m.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn ad_in_chain_rule_is_one_search() {
    let mut c = ad_config();
    c.groups = GroupLookup::Search {
        base: dn("DC=corp,DC=example,DC=com"),
        member_attribute: Attribute::new("member").unwrap(),
        nesting: Nesting::InChain,
    };
    let mut group_filters = Vec::new();
    let mut inner = ad_server(ok());
    let (r, _, _) = run(c, "jdoe", "pw", 64, |m| match &m.op {
        ProtocolOp::SearchRequest(s) if s.base == "DC=corp,DC=example,DC=com" => {
            group_filters.push(s.filter.clone());
            vec![
                entry("CN=VPN Users,OU=Groups,DC=corp,DC=example,DC=com", &[]),
                entry("CN=All Staff,OU=Groups,DC=corp,DC=example,DC=com", &[]),
                ProtocolOp::SearchResultDone(ok()),
            ]
        }
        _ => inner(m),
    });
    assert_eq!(r.unwrap().groups.len(), 2);
    assert_eq!(
        group_filters,
        [Filter::in_chain(
            Attribute::new("member").unwrap(),
            r"CN=Doe\, Jane,OU=Staff,DC=corp,DC=example,DC=com"
        )]
    );
    assert_eq!(
        group_filters[0].to_string(),
        r"(member:1.2.840.113556.1.4.1941:=CN=Doe\5c, Jane,OU=Staff,DC=corp,DC=example,DC=com)"
    );
}

#[test]
fn start_tls_refused_stops_before_any_bind() {
    let (r, sent, tls) = run(ad_config(), "jdoe", "pw", 64, |m| match &m.op {
        ProtocolOp::ExtendedRequest(_) => vec![ProtocolOp::ExtendedResponse(ExtendedResponse {
            result: result(ResultCode::UNAVAILABLE, "no TLS here"),
            name: None,
            value: None,
        })],
        _ => vec![],
    });
    assert!(matches!(r, Err(AuthFailure::StartTlsRefused { .. })));
    assert!(!tls);
    assert!(
        !sent
            .iter()
            .any(|m| matches!(m.op, ProtocolOp::BindRequest(_)))
    );
}

#[test]
fn empty_password_and_username_send_nothing() {
    let mut called = false;
    let (r, sent, _) = run(ad_config(), "jdoe", "", 1, |_| {
        called = true;
        vec![]
    });
    assert_eq!(r.unwrap_err(), AuthFailure::EmptyPassword);
    assert!(sent.is_empty() && !called);
    let (r, sent, _) = run(ad_config(), "", "pw", 1, |_| vec![]);
    assert_eq!(r.unwrap_err(), AuthFailure::EmptyUsername);
    assert!(sent.is_empty());
}

#[test]
fn hostile_servers_fail_closed() {
    // A response with another message ID, and an operation the flow did not ask for.
    let mut c = ad_config();
    c.start_tls = false;
    for reply in [
        LdapMessage::new(
            8,
            ProtocolOp::BindResponse(BindResponse {
                result: ok(),
                server_sasl_creds: None,
            }),
        ),
        LdapMessage::new(1, ProtocolOp::SearchResultDone(ok())),
    ] {
        let mut auth = Authenticator::new(c.clone(), "jdoe", Password::from("pw"));
        assert!(matches!(auth.step(), Step::Transmit(_)));
        auth.receive(&reply.encode());
        assert!(matches!(auth.step(), Step::Transmit(_)), "unbind");
        assert!(matches!(
            auth.step(),
            Step::Done(Err(AuthFailure::UnexpectedMessage(_)))
        ));
    }

    // A Notice of Disconnection.
    let notice = LdapMessage::new(
        0,
        ProtocolOp::ExtendedResponse(ExtendedResponse {
            result: result(ResultCode::UNAVAILABLE, "shutting down"),
            name: Some(OID_NOTICE_OF_DISCONNECTION.into()),
            value: None,
        }),
    );
    let mut auth = Authenticator::new(c.clone(), "jdoe", Password::from("pw"));
    assert!(matches!(auth.step(), Step::Transmit(_)));
    auth.receive(&notice.encode());
    assert!(matches!(
        auth.step(),
        Step::Done(Err(AuthFailure::Disconnected { .. }))
    ));

    // Garbage, an oversized length, and a connection that closes mid-flow.
    for (bytes, expect_malformed) in [
        (vec![0x30, 0x80, 0x00, 0x00], true),
        (vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff], true),
        (vec![0x30, 0x03, 0x02, 0x01], false),
    ] {
        let mut auth = Authenticator::new(c.clone(), "jdoe", Password::from("pw"));
        assert!(matches!(auth.step(), Step::Transmit(_)));
        auth.receive(&bytes);
        if !expect_malformed {
            assert!(matches!(auth.step(), Step::NeedInput));
            auth.connection_closed();
        }
        let mut step = auth.step();
        if expect_malformed {
            assert!(
                matches!(step, Step::Transmit(_)),
                "unbind after a malformed message"
            );
            step = auth.step();
        }
        match step {
            Step::Done(Err(AuthFailure::Malformed(_))) => assert!(expect_malformed),
            Step::Done(Err(AuthFailure::ConnectionClosed)) => assert!(!expect_malformed),
            other => panic!("{other:?}"),
        }
    }

    // Two entries: ambiguous; a search error: a search failure, not "no such user".
    let mut c = ad_config();
    c.start_tls = false;
    let (r, _, _) = run(c.clone(), "jdoe", "pw", 64, |m| match &m.op {
        ProtocolOp::BindRequest(_) => vec![ProtocolOp::BindResponse(BindResponse {
            result: ok(),
            server_sasl_creds: None,
        })],
        ProtocolOp::SearchRequest(_) => vec![
            entry("CN=a,DC=x", &[]),
            entry("CN=b,DC=x", &[]),
            ProtocolOp::SearchResultDone(result(ResultCode::SIZE_LIMIT_EXCEEDED, "")),
        ],
        _ => vec![],
    });
    assert_eq!(r.unwrap_err(), AuthFailure::AmbiguousUser { count: 2 });
    let (r, _, _) = run(c, "jdoe", "pw", 64, |m| match &m.op {
        ProtocolOp::BindRequest(_) => vec![ProtocolOp::BindResponse(BindResponse {
            result: ok(),
            server_sasl_creds: None,
        })],
        ProtocolOp::SearchRequest(_) => vec![ProtocolOp::SearchResultDone(result(
            ResultCode::NO_SUCH_OBJECT,
            "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)",
        ))],
        _ => vec![],
    });
    let err = r.unwrap_err();
    assert!(matches!(
        err,
        AuthFailure::SearchFailed { what: "user", .. }
    ));
    assert_eq!(err.user_facing(), UserFacingFailure::Unavailable);
}

#[test]
fn bytes_after_the_start_tls_response_are_refused() {
    let start_tls_ok = LdapMessage::new(
        1,
        ProtocolOp::ExtendedResponse(ExtendedResponse {
            result: ok(),
            name: Some(OID_START_TLS.into()),
            value: None,
        }),
    )
    .encode();
    let injected = LdapMessage::new(
        2,
        ProtocolOp::BindResponse(BindResponse {
            result: ok(),
            server_sasl_creds: None,
        }),
    )
    .encode();
    // In the same read as the StartTLS response, and in a later clear-text read.
    for split in [true, false] {
        let mut auth = Authenticator::new(ad_config(), "jdoe", Password::from("pw"));
        assert!(matches!(auth.step(), Step::Transmit(_)));
        if split {
            auth.receive(&start_tls_ok);
            assert!(matches!(auth.step(), Step::StartTls));
            auth.receive(&injected);
        } else {
            auth.receive(&[start_tls_ok.clone(), injected.clone()].concat());
        }
        let mut sent_bind = false;
        let outcome = loop {
            match auth.step() {
                Step::Transmit(b) => {
                    sent_bind |= matches!(
                        LdapMessage::decode(&b).unwrap().op,
                        ProtocolOp::BindRequest(_)
                    );
                }
                Step::Done(r) => break r,
                other => panic!("{other:?}"),
            }
        };
        assert!(matches!(outcome, Err(AuthFailure::UnexpectedMessage(_))));
        assert!(!sent_bind);
        auth.tls_established();
        assert!(matches!(auth.step(), Step::Done(Err(_))));
    }
}

#[test]
fn servers_that_ignore_limits_are_cut_off() {
    let mut c = ad_config();
    c.start_tls = false;
    // A user search answered with endless entries stops at the third.
    let mut answered = 0;
    let (r, sent, _) = run(c.clone(), "jdoe", "pw", 4096, |m| match &m.op {
        ProtocolOp::BindRequest(_) => vec![ProtocolOp::BindResponse(BindResponse {
            result: ok(),
            server_sasl_creds: None,
        })],
        ProtocolOp::SearchRequest(_) => {
            answered += 1;
            (0..1000)
                .map(|i| entry(&format!("CN=u{i},DC=x"), &[]))
                .collect()
        }
        _ => vec![],
    });
    assert_eq!(answered, 1);
    assert_eq!(r.unwrap_err(), AuthFailure::AmbiguousUser { count: 3 });
    assert!(
        !sent
            .iter()
            .any(|m| matches!(&m.op, ProtocolOp::BindRequest(b) if b.name.starts_with("CN=u")))
    );

    // A group search that never ends is cut at MAX_GROUPS.
    c.groups = GroupLookup::Search {
        base: dn("DC=corp,DC=example,DC=com"),
        member_attribute: Attribute::new("member").unwrap(),
        nesting: Nesting::Direct,
    };
    let mut inner = ad_server(ok());
    let (r, _, _) = run(c, "jdoe", "pw", 1 << 16, |m| match &m.op {
        ProtocolOp::SearchRequest(s) if s.base == "DC=corp,DC=example,DC=com" => (0
            ..=idforge_ldap_auth::MAX_GROUPS)
            .map(|i| entry(&format!("CN=g{i},DC=corp,DC=example,DC=com"), &[]))
            .chain([ProtocolOp::SearchResultDone(ok())])
            .collect(),
        _ => inner(m),
    });
    assert_eq!(
        r.unwrap_err(),
        AuthFailure::TooManyGroups {
            limit: idforge_ldap_auth::MAX_GROUPS
        }
    );
}
