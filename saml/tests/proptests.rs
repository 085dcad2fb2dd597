//! Property tests: values with XML-special and non-ASCII characters survive
//! build -> sign -> serialize -> parse -> verify unchanged; the parser and the
//! binding decoder never panic; canonicalization is idempotent.

use chrono::DateTime;
use idforge_saml::verify_response;
use idforge_saml::xml::{self, c14n};
use idforge_saml::{BindingLimits, MessageKind, RedirectMessage, encode_redirect};
use idforge_saml::{
    Certificate, NameId, NameIdFormat, ResponseBuilder, RsaSigner, SamlAttribute, SamlId,
    SignTarget,
};
use idforge_saml::{SignOptions, VerifyOptions};
use proptest::prelude::*;

const KEY: &str = include_str!("data/idp-key.pem");
const CERT: &str = include_str!("data/idp-cert.pem");

/// Text with markup characters, whitespace including CR, and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9&<>\"' \t\r\n;#:/=éßø€😀\u{7f}-\u{9f}]{1,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn values_survive_signing(
        name_id in text(),
        values in proptest::collection::vec(text(), 1..4),
        target in prop_oneof![
            Just(SignTarget::Assertion),
            Just(SignTarget::Response),
            Just(SignTarget::Both)
        ],
    ) {
        let mut r = ResponseBuilder::new(
            "https://idp.example.org",
            SamlId::new("_r").unwrap(),
            SamlId::new("_a").unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
        .destination("https://sp.example.org/acs")
        .name_id(NameId::new(&name_id, NameIdFormat::Unspecified))
        .attribute(SamlAttribute::basic("v", values.clone()))
        .build()
        .unwrap();
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let cert = Certificate::from_pem(CERT).unwrap();
        r.sign(target, &signer, Some(&cert), &SignOptions::default()).unwrap();
        let v = verify_response(
            r.to_xml().as_bytes(),
            &cert.verifying_key().unwrap(),
            VerifyOptions::default(),
        )
        .unwrap();
        let a = v.assertion.unwrap();
        prop_assert_eq!(a.name_id.unwrap().value, name_id);
        prop_assert_eq!(&a.attributes[0].values, &values);
    }

    #[test]
    fn comments_never_split_a_signed_value(
        name_id in "[a-z@.]{2,24}",
        cuts in proptest::collection::vec(0usize..24, 1..4),
    ) {
        let mut r = ResponseBuilder::new(
            "https://idp.example.org",
            SamlId::new("_r").unwrap(),
            SamlId::new("_a").unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
        .destination("https://sp.example.org/acs")
        .name_id(NameId::new(&name_id, NameIdFormat::EmailAddress))
        .build()
        .unwrap();
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let cert = Certificate::from_pem(CERT).unwrap();
        r.sign(SignTarget::Assertion, &signer, Some(&cert), &SignOptions::default()).unwrap();
        // Insert comments inside the NameID text at arbitrary places.
        let mut injected = name_id.clone();
        let mut sorted = cuts.clone();
        sorted.sort_unstable();
        for &c in sorted.iter().rev() {
            injected.insert_str(c.min(name_id.len()), "<!-- x -->");
        }
        let xml = r.to_xml().replace(&format!(">{name_id}<"), &format!(">{injected}<"));
        prop_assert!(xml.contains("<!-- x -->"));
        let v = verify_response(
            xml.as_bytes(),
            &cert.verifying_key().unwrap(),
            VerifyOptions::default(),
        )
        .unwrap();
        prop_assert_eq!(v.assertion.unwrap().name_id.unwrap().value, name_id);
    }

    #[test]
    fn relay_state_survives_redirect(relay in "[ -~éø€😀]{0,80}", xml in text()) {
        let q = encode_redirect(MessageKind::Response, xml.as_bytes(), Some(&relay), None).unwrap();
        let m = RedirectMessage::decode(&q, &BindingLimits::default()).unwrap();
        prop_assert_eq!(m.relay_state, Some(relay));
        prop_assert_eq!(m.xml, xml.into_bytes());
    }

    #[test]
    fn any_value_builds_to_parseable_xml_or_is_refused(value in any::<String>()) {
        let built = ResponseBuilder::new(
            "https://idp.example.org",
            SamlId::new("_r").unwrap(),
            SamlId::new("_a").unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
        .destination("https://sp.example.org/acs")
        .name_id(NameId::new(&value, NameIdFormat::Unspecified))
        .attribute(SamlAttribute::basic(&value, [value.as_str()]))
        .build();
        if let Ok(r) = built {
            let doc = xml::parse(r.to_xml().as_bytes()).unwrap();
            prop_assert_eq!(&doc, r.document());
        }
    }

    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::parse(&bytes);
    }

    #[test]
    fn redirect_decoder_never_panics(query in "[A-Za-z0-9%&=+/]{0,300}") {
        let _ = RedirectMessage::decode(&query, &BindingLimits::default());
    }

    #[test]
    fn mutated_documents_never_panic_and_c14n_is_idempotent(
        pos in 0usize..400,
        insert in "[<>&/=\"':a-z!?\\[\\]-]{0,6}",
    ) {
        let base = "<r:a xmlns:r=\"urn:r\" xmlns=\"urn:d\" x=\"1\"><b y='2'>t&amp;<!--c--><?p d?><![CDATA[<>]]></b><r:c/></r:a>";
        let cut = pos.min(base.len());
        let cut = (0..=cut).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
        let doc = format!("{}{insert}{}", &base[..cut], &base[cut..]);
        if let Ok(d) = xml::parse(doc.as_bytes()) {
            for with_comments in [false, true] {
                let opts = c14n::C14nOptions { with_comments, ..Default::default() };
                let once = c14n::canonicalize(&d, d.root(), &opts).unwrap();
                let again = xml::parse(once.as_bytes()).unwrap();
                prop_assert_eq!(c14n::canonicalize(&again, again.root(), &opts).unwrap(), once);
            }
            prop_assert_eq!(xml::parse(d.to_xml().as_bytes()).unwrap(), d);
        }
    }
}
