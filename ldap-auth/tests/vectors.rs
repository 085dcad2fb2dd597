//! RFC 4515 and RFC 4514 vectors from the data files in `tests/vectors/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idforge_ldap_auth::{Attribute, Dn, DnError, Filter, FilterError};

fn rows(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('\t'))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

use idforge_test_support::hex;

fn filter_error_name(e: &FilterError) -> &'static str {
    match e {
        FilterError::Expected { .. } => "Expected",
        FilterError::UnexpectedEnd { .. } => "UnexpectedEnd",
        FilterError::InvalidAttribute { .. } => "InvalidAttribute",
        FilterError::InvalidMatchingRule { .. } => "InvalidMatchingRule",
        FilterError::InvalidEscape { .. } => "InvalidEscape",
        FilterError::UnescapedCharacter { .. } => "UnescapedCharacter",
        FilterError::EmptyList { .. } => "EmptyList",
        FilterError::EmptySubstring { .. } => "EmptySubstring",
        FilterError::TrailingInput { .. } => "TrailingInput",
        FilterError::TooDeep { .. } => "TooDeep",
        FilterError::TooLong { .. } => "TooLong",
        _ => "unknown",
    }
}

fn dn_error(e: &DnError) -> (&'static str, usize) {
    match *e {
        DnError::InvalidAttributeType { offset } => ("InvalidAttributeType", offset),
        DnError::ExpectedEquals { offset } => ("ExpectedEquals", offset),
        DnError::InvalidEscape { offset } => ("InvalidEscape", offset),
        DnError::InvalidHexString { offset } => ("InvalidHexString", offset),
        DnError::UnescapedCharacter { offset, .. } => ("UnescapedCharacter", offset),
        DnError::EmptyRdn { offset } => ("EmptyRdn", offset),
        _ => ("unknown", 0),
    }
}

#[test]
fn rfc4515_filter_strings() {
    let rows = rows("rfc4515_filters.tsv");
    assert!(rows.len() > 30);
    for row in rows {
        let (input, expected) = (&row[0], &row[1]);
        let parsed = Filter::parse(input);
        if let Some(err) = expected.strip_prefix("ERROR ") {
            let (variant, offset) = err.split_once(' ').unwrap();
            let e = parsed.expect_err(input);
            assert_eq!(filter_error_name(&e), variant, "{input}: {e}");
            assert_eq!(e.offset(), offset.parse::<usize>().unwrap(), "{input}: {e}");
        } else {
            let f = parsed.unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&f.to_string(), expected, "{input}");
            // The serialization is itself a fixed point.
            assert_eq!(Filter::parse(expected).unwrap(), f, "{input}");
        }
    }
}

#[test]
fn rfc4515_builder_values_are_escaped() {
    let rows = rows("rfc4515_values.tsv");
    assert!(rows.len() > 10);
    let uid = Attribute::new("uid").unwrap();
    for row in rows {
        let (name, raw, escaped) = (&row[0], hex(&row[1]), &row[2]);
        let f = Filter::equality(uid.clone(), &raw);
        assert_eq!(f.to_string(), format!("(uid={escaped})"), "{name}");
        assert_eq!(
            idforge_ldap_auth::escape_filter_value(&raw),
            *escaped,
            "{name}"
        );
        // Parsing the output gives back one equality with exactly the raw bytes.
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f, "{name}");
        // The same value inside a larger filter changes nothing around it.
        let wrapped = Filter::and([
            Filter::equality(Attribute::new("objectClass").unwrap(), "person"),
            f.clone(),
        ]);
        assert_eq!(
            Filter::parse(&wrapped.to_string()).unwrap(),
            wrapped,
            "{name}"
        );
    }
}

#[test]
fn rfc4514_dn_strings() {
    let rows = rows("rfc4514_dns.tsv");
    assert!(rows.len() > 20);
    for row in rows {
        let (input, expected) = (&row[0], &row[1]);
        let parsed = Dn::parse(input);
        if let Some(err) = expected.strip_prefix("ERROR ") {
            let (variant, offset) = err.split_once(' ').unwrap();
            let e = parsed.expect_err(input);
            assert_eq!(
                dn_error(&e),
                (variant, offset.parse().unwrap()),
                "{input}: {e}"
            );
        } else {
            let dn = parsed.unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&dn.to_string(), expected, "{input}");
            let again = Dn::parse(expected).unwrap();
            assert_eq!(again, dn, "{input}");
            assert_eq!(again.to_string(), *expected, "{input}");
        }
    }
}

#[test]
fn rfc4514_dn_equality() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    fn h(d: &Dn) -> u64 {
        let mut s = DefaultHasher::new();
        d.hash(&mut s);
        s.finish()
    }
    let rows = rows("rfc4514_equality.tsv");
    assert!(rows.len() >= 10);
    for row in rows {
        let a = Dn::parse(&row[0]).unwrap();
        let b = Dn::parse(&row[1]).unwrap();
        match row[2].as_str() {
            "same" => {
                assert_eq!(a, b, "{row:?}");
                assert_eq!(h(&a), h(&b), "{row:?}");
            }
            "different" => assert_ne!(a, b, "{row:?}"),
            other => panic!("bad vector column {other}"),
        }
    }
}
