//! The committed fuzz corpus runs as a regression test: each input goes through the same
//! round-trip checks as the fuzz targets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use idforge_ldap_auth::fuzzing::{decode_filter_bytes, encode_filter};
use idforge_ldap_auth::{Dn, Filter, LdapMessage};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

#[test]
fn filter_corpus_round_trips() {
    let mut parsed = 0;
    for (path, bytes) in inputs("filter_parse") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(f) = Filter::parse(text) {
            let again = Filter::parse(&f.to_string()).unwrap();
            assert_eq!(again, f, "{}", path.display());
            let mut ber = Vec::new();
            encode_filter(&f, &mut ber);
            assert_eq!(decode_filter_bytes(&ber).unwrap(), f, "{}", path.display());
            parsed += 1;
        }
    }
    assert!(parsed >= 20);
}

#[test]
fn dn_corpus_round_trips() {
    let mut parsed = 0;
    for (path, bytes) in inputs("dn_parse") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(dn) = Dn::parse(text) {
            let written = dn.to_string();
            let again = Dn::parse(&written).unwrap();
            assert_eq!(again, dn, "{}", path.display());
            assert_eq!(again.to_string(), written, "{}", path.display());
            parsed += 1;
        }
    }
    assert!(parsed >= 20);
}

#[test]
fn ber_corpus_decodes_and_round_trips() {
    for (path, bytes) in inputs("ber_decode") {
        let msg = LdapMessage::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            LdapMessage::decode(&msg.encode()).unwrap(),
            msg,
            "{}",
            path.display()
        );
    }
}
