//! Property tests: escaped input never changes a filter's structure, DN escape/parse round
//! trips, BER filter round trips, and parsers that never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idforge_ldap_auth::fuzzing::{decode_filter_bytes, encode_filter};
use idforge_ldap_auth::{Attribute, Dn, Filter, LdapMessage, Rdn, Substrings, UserFilter};
use proptest::prelude::*;

fn attr(s: &str) -> Attribute {
    Attribute::new(s).unwrap()
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        ".{0,16}".prop_map(String::into_bytes),
        proptest::collection::vec(
            prop_oneof![
                Just(b'*'),
                Just(b'('),
                Just(b')'),
                Just(b'\\'),
                Just(0u8),
                Just(b'|'),
                Just(b'&'),
                Just(b'='),
                Just(b'a')
            ],
            0..12
        ),
    ]
}

fn non_empty_value() -> impl Strategy<Value = Vec<u8>> {
    value().prop_filter("non-empty", |v| !v.is_empty())
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9-]{0,8}",
        "[1-9][0-9]{0,2}(\\.(0|[1-9][0-9]{0,2})){1,4}",
        "[a-z]{1,4};[a-z-]{1,5}",
    ]
    .prop_map(|s| Attribute::new(&s).unwrap())
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (attribute(), value()).prop_map(|(a, v)| Filter::equality(a, v)),
        (attribute(), value()).prop_map(|(a, v)| Filter::greater_or_equal(a, v)),
        (attribute(), value()).prop_map(|(a, v)| Filter::less_or_equal(a, v)),
        (attribute(), value()).prop_map(|(a, v)| Filter::approx(a, v)),
        attribute().prop_map(Filter::present),
        (
            attribute(),
            proptest::option::of(non_empty_value()),
            proptest::collection::vec(non_empty_value(), 0..3),
            proptest::option::of(non_empty_value())
        )
            .prop_filter("not a presence filter", |(_, i, a, f)| {
                i.is_some() || !a.is_empty() || f.is_some()
            })
            .prop_map(|(a, initial, any, final_)| Filter::Substrings(
                a,
                Substrings {
                    initial,
                    any,
                    final_
                }
            )),
        (attribute(), value(), any::<bool>()).prop_map(|(a, v, dn)| Filter::Extensible {
            rule: Some("1.2.840.113556.1.4.1941".into()),
            attribute: Some(a),
            value: v,
            dn_attributes: dn,
        }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::and),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::or),
            inner.prop_map(Filter::not),
        ]
    })
}

proptest! {
    #[test]
    fn escaped_value_never_changes_structure(v in value()) {
        let f = Filter::and([
            Filter::equality(attr("objectClass"), "person"),
            Filter::equality(attr("uid"), &v),
            Filter::contains(attr("cn"), &v),
        ]);
        let parsed = Filter::parse(&f.to_string()).unwrap();
        prop_assert_eq!(&parsed, &f);
        let Filter::And(list) = parsed else { panic!("not an and") };
        prop_assert_eq!(list.len(), 3);
        prop_assert_eq!(&list[1], &Filter::Equality(attr("uid"), v.clone()));
    }

    #[test]
    fn any_username_is_one_equality(name in ".{1,24}") {
        let f = UserFilter::SamAccountName.user(&name);
        let parsed = Filter::parse(&f.to_string()).unwrap();
        prop_assert_eq!(parsed, Filter::Equality(attr("sAMAccountName"), name.into_bytes()));
    }

    #[test]
    fn filter_string_round_trip(f in filter()) {
        let s = f.to_string();
        let parsed = Filter::parse(&s).unwrap();
        prop_assert_eq!(&parsed, &f);
        prop_assert_eq!(parsed.to_string(), s);
    }

    #[test]
    fn filter_ber_round_trip(f in filter()) {
        let mut bytes = Vec::new();
        encode_filter(&f, &mut bytes);
        prop_assert_eq!(decode_filter_bytes(&bytes).unwrap(), f);
    }

    #[test]
    fn dn_escape_parse_round_trip(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..16), 1..4),
        text in ".{1,12}",
    ) {
        let mut dn = Dn::parse("dc=example,dc=com").unwrap();
        for v in &values {
            dn = dn.child(Rdn::new("cn", v).unwrap());
        }
        dn = dn.child(Rdn::new("description", text.as_bytes()).unwrap());
        let s = dn.to_string();
        let parsed = Dn::parse(&s).unwrap();
        prop_assert_eq!(&parsed, &dn);
        prop_assert_eq!(parsed.to_string(), s);
        // Raw bytes come back exactly, not just equal under the matching rules.
        for (a, b) in parsed.rdns().iter().zip(dn.rdns()) {
            prop_assert_eq!(a.avas()[0].value(), b.avas()[0].value());
        }
    }

    #[test]
    fn parsers_never_panic(s in ".{0,64}", bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = Filter::parse(&s);
        let _ = Dn::parse(&s);
        let _ = LdapMessage::decode(&bytes);
        let _ = decode_filter_bytes(&bytes);
    }
}
