//! The XML parser and the AuthnRequest and LogoutRequest readers on arbitrary bytes; any document that
//! parses must serialize and parse back to the same tree, and canonicalize twice alike.
#![no_main]

use idforge_saml::AuthnRequest;
use idforge_saml::LogoutRequest;
use idforge_saml::xml::{self, c14n};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = xml::parse(data) else {
        return;
    };
    let _ = AuthnRequest::from_document(&doc);
    let _ = LogoutRequest::from_document(&doc);
    let again = xml::parse(doc.to_xml().as_bytes()).expect("serialized document parses");
    assert_eq!(again, doc);
    let opts = c14n::C14nOptions::default();
    if let Ok(once) = c14n::canonicalize(&doc, doc.root(), &opts) {
        let reparsed = xml::parse(once.as_bytes()).expect("canonical form parses");
        let twice = c14n::canonicalize(&reparsed, reparsed.root(), &opts).expect("c14n again");
        assert_eq!(once, twice);
    }
});
