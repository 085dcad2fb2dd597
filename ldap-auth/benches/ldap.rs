//! Filter build and serialization, filter and DN parsing, message encoding and decoding
//! (compared with `ldap3_proto` where they overlap), and a whole login over in-memory buffers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use idforge_ldap_auth::{
    Attribute, Authenticator, DirectoryConfig, Dn, Filter, LdapMessage, LdapResult, Password,
    ProtocolOp, ServiceAccount, Step, UserFilter,
};
use idforge_ldap_auth::{
    BindResponse, DerefAliases, PartialAttribute, Scope, SearchRequest, SearchResultEntry,
};
use ldap3_proto::proto::{
    LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchRequest,
    LdapSearchResultEntry, LdapSearchScope,
};
use tokio_util::codec::{Decoder, Encoder};

const HOSTILE: &str = "admin)(|(password=*)";
const FILTER: &str = "(&(objectClass=person)(|(uid=jdoe)(mail=jdoe@example.com))(department=Engineering*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))";
const DN: &str = r"cn=Doe\, Jane,ou=People,ou=Staff,dc=corp,dc=example,dc=com";

fn our_filter(user: &str) -> Filter {
    Filter::and([
        Filter::equality(Attribute::new("objectClass").unwrap(), "person"),
        Filter::equality(Attribute::new("sAMAccountName").unwrap(), user),
    ])
}

fn their_filter(user: &str) -> LdapFilter {
    LdapFilter::And(vec![
        LdapFilter::Equality("objectClass".into(), "person".into()),
        LdapFilter::Equality("sAMAccountName".into(), user.into()),
    ])
}

fn filters(c: &mut Criterion) {
    let mut g = c.benchmark_group("filter_build_serialize");
    g.bench_function("idforge", |b| {
        b.iter(|| our_filter(black_box(HOSTILE)).to_string());
    });
    g.finish();

    let mut g = c.benchmark_group("filter_parse");
    g.bench_function("idforge", |b| {
        b.iter(|| Filter::parse(black_box(FILTER)).unwrap());
    });
    g.bench_function("ldap3_proto", |b| {
        b.iter(|| ldap3_proto::parse_ldap_filter_str(black_box(FILTER)).unwrap());
    });
    g.finish();

    let mut g = c.benchmark_group("dn_parse");
    g.bench_function("idforge", |b| b.iter(|| Dn::parse(black_box(DN)).unwrap()));
    g.finish();
}

fn messages(c: &mut Criterion) {
    let mut g = c.benchmark_group("search_request_build_encode");
    g.bench_function("idforge", |b| {
        b.iter(|| {
            LdapMessage::new(
                2,
                ProtocolOp::SearchRequest(SearchRequest {
                    base: "dc=corp,dc=example,dc=com".into(),
                    scope: Scope::Subtree,
                    deref: DerefAliases::Never,
                    size_limit: 2,
                    time_limit: 10,
                    types_only: false,
                    filter: our_filter(black_box(HOSTILE)),
                    attributes: vec!["mail".into(), "memberOf".into()],
                }),
            )
            .encode()
        });
    });
    g.bench_function("ldap3_proto", |b| {
        let mut codec = ldap3_proto::LdapCodec::default();
        b.iter(|| {
            let msg = LdapMsg {
                msgid: 2,
                op: LdapOp::SearchRequest(LdapSearchRequest {
                    base: "dc=corp,dc=example,dc=com".into(),
                    scope: LdapSearchScope::Subtree,
                    aliases: LdapDerefAliases::Never,
                    sizelimit: 2,
                    timelimit: 10,
                    typesonly: false,
                    filter: their_filter(black_box(HOSTILE)),
                    attrs: vec!["mail".into(), "memberOf".into()],
                }),
                ctrl: vec![],
            };
            let mut buf = BytesMut::new();
            codec.encode(msg, &mut buf).unwrap();
            buf
        });
    });
    g.finish();

    let entry = LdapMessage::new(
        2,
        ProtocolOp::SearchResultEntry(SearchResultEntry {
            dn: DN.into(),
            attributes: vec![
                PartialAttribute {
                    name: "mail".into(),
                    values: vec![
                        b"jane.doe@example.com".to_vec(),
                        b"jdoe@example.com".to_vec(),
                    ],
                },
                PartialAttribute {
                    name: "memberOf".into(),
                    values: (0..20)
                        .map(|i| {
                            format!("cn=group{i},ou=groups,dc=corp,dc=example,dc=com").into_bytes()
                        })
                        .collect(),
                },
            ],
        }),
    )
    .encode();
    // The same bytes decode with both (checked once, outside the measurement).
    let mut check = BytesMut::from(&entry[..]);
    let theirs = ldap3_proto::LdapCodec::default()
        .decode(&mut check)
        .unwrap()
        .unwrap();
    let LdapOp::SearchResultEntry(LdapSearchResultEntry { attributes, .. }) = theirs.op else {
        panic!("not an entry")
    };
    let LdapPartialAttribute { vals, .. } = &attributes[1];
    assert_eq!(vals.len(), 20);

    let mut g = c.benchmark_group("search_entry_decode");
    g.bench_function("idforge", |b| {
        b.iter(|| LdapMessage::decode(black_box(&entry)).unwrap());
    });
    g.bench_function("ldap3_proto", |b| {
        let mut codec = ldap3_proto::LdapCodec::default();
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(&entry[..]));
            codec.decode(&mut buf).unwrap().unwrap()
        });
    });
    g.finish();
}

fn exchange(c: &mut Criterion) {
    let ok = || LdapResult::default();
    let bind_ok = |id| {
        LdapMessage::new(
            id,
            ProtocolOp::BindResponse(BindResponse {
                result: ok(),
                server_sasl_creds: None,
            }),
        )
        .encode()
    };
    let mut search = LdapMessage::new(
        2,
        ProtocolOp::SearchResultEntry(SearchResultEntry {
            dn: DN.into(),
            attributes: vec![PartialAttribute {
                name: "sAMAccountName".into(),
                values: vec![b"JDoe".to_vec()],
            }],
        }),
    )
    .encode();
    LdapMessage::new(2, ProtocolOp::SearchResultDone(ok())).encode_into(&mut search);
    let replies = [bind_ok(1), search, bind_ok(3)];
    let mut config = DirectoryConfig::new(
        Dn::parse("dc=corp,dc=example,dc=com").unwrap(),
        UserFilter::SamAccountName,
    );
    config.start_tls = false;
    config.service_account = Some(ServiceAccount {
        dn: Dn::parse("cn=svc,dc=corp,dc=example,dc=com").unwrap(),
        password: Password::from("service"),
    });

    c.bench_function("full_login_exchange_in_memory/idforge", |b| {
        b.iter(|| {
            let mut auth = Authenticator::new(config.clone(), "jdoe", Password::from("pw"));
            let mut next = replies.iter();
            let mut written = 0;
            loop {
                match auth.step() {
                    Step::Transmit(bytes) => written += bytes.len(),
                    Step::NeedInput => auth.receive(next.next().unwrap()),
                    Step::StartTls => unreachable!(),
                    Step::Done(r) => break (r.unwrap(), written),
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
    });
}

criterion_group!(benches, filters, messages, exchange);
criterion_main!(benches);
