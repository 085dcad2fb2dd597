//! Signature-wrapping (Somorovsky et al., "On Breaking SAML", 2012), CVE-2022-41912
//! (two assertions, one signed), references to another element, duplicate IDs and
//! comment injection into NameID (CVE-2017-11427), against `verify_response`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::DateTime;
use idforge_saml::{
    Certificate, Error, NameId, NameIdFormat, ResponseBuilder, RsaSigner, SamlAttribute, SamlId,
    SignTarget,
};
use idforge_saml::{SignOptions, VerifyOptions};
use idforge_saml::{VerifiedResponse, verify_response};

const KEY: &str = include_str!("data/idp-key.pem");
const CERT: &str = include_str!("data/idp-cert.pem");
const OTHER_CERT: &str = include_str!("data/other-cert.pem");

fn signed(target: SignTarget, name_id: &str) -> String {
    let mut r = ResponseBuilder::new(
        "https://idp.example.org",
        SamlId::new("_resp1").unwrap(),
        SamlId::new("_assert1").unwrap(),
        DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    )
    .destination("https://sp.example.org/acs")
    .audience("https://sp.example.org")
    .name_id(NameId::new(name_id, NameIdFormat::EmailAddress))
    .attribute(SamlAttribute::basic("role", ["user"]))
    .build()
    .unwrap();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let cert = Certificate::from_pem(CERT).unwrap();
    r.sign(target, &signer, Some(&cert), &SignOptions::default())
        .unwrap();
    r.to_xml()
}

fn verify(xml: &str) -> Result<VerifiedResponse, Error> {
    let key = Certificate::from_pem(CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    verify_response(xml.as_bytes(), &key, VerifyOptions::default())
}

/// Byte range of the first element starting with `open` and ending with `close`.
fn range(xml: &str, open: &str, close: &str) -> std::ops::Range<usize> {
    let start = xml.find(open).unwrap();
    let end = xml[start..].find(close).unwrap() + start + close.len();
    start..end
}

fn assertion(xml: &str) -> std::ops::Range<usize> {
    range(xml, "<saml:Assertion", "</saml:Assertion>")
}

fn signature(xml: &str) -> std::ops::Range<usize> {
    range(xml, "<ds:Signature", "</ds:Signature>")
}

fn without_signature(xml: &str) -> String {
    let r = signature(xml);
    format!("{}{}", &xml[..r.start], &xml[r.end..])
}

fn evil(assertion: &str) -> String {
    assertion
        .replace("alice@example.org", "admin@example.org")
        .replace("ID=\"_assert1\"", "ID=\"_evil\"")
}

/// Inserts `what` right after the Response's own `saml:Issuer`.
fn after_response_issuer(xml: &str, what: &str) -> String {
    let end = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    format!("{}{what}{}", &xml[..end], &xml[end..])
}

fn assert_rejected(name: &str, xml: &str) {
    match verify(xml) {
        Ok(v) => {
            let read = v
                .assertion
                .as_ref()
                .and_then(|a| a.name_id.as_ref())
                .map(|n| n.value.clone());
            panic!("{name}: accepted, reads NameID {read:?}");
        }
        Err(e) => {
            // Rejected by the signature logic, not because the test built bad XML.
            assert!(
                !matches!(e, Error::Malformed { .. } | Error::Namespace { .. }),
                "{name}: {e}"
            );
            eprintln!("{name}: rejected: {e}");
        }
    }
}

#[test]
fn genuine_responses_verify() {
    for target in [
        SignTarget::Assertion,
        SignTarget::Response,
        SignTarget::Both,
    ] {
        let v = verify(&signed(target, "alice@example.org")).unwrap();
        let a = v.assertion.unwrap();
        assert_eq!(a.name_id.unwrap().value, "alice@example.org");
        assert_eq!(v.response_signed, target != SignTarget::Assertion);
        assert_eq!(v.assertion_signed, target != SignTarget::Response);
        assert_eq!(a.audiences, ["https://sp.example.org"]);
    }
}

#[test]
fn sp_side_checks() {
    use chrono::TimeDelta;
    use idforge_saml::{Expectations, ProfileError};
    let v = verify(&signed(SignTarget::Assertion, "alice@example.org")).unwrap();
    let a = v.assertion.unwrap();
    let issued = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let ok = Expectations {
        now: issued + TimeDelta::seconds(10),
        skew: TimeDelta::seconds(30),
        issuer: "https://idp.example.org",
        audience: "https://sp.example.org",
        recipient: "https://sp.example.org/acs",
        in_response_to: None,
    };
    a.check(&ok).unwrap();
    // NotBefore was back-dated by 60 s: a slow SP clock still accepts.
    a.check(&Expectations {
        now: issued - TimeDelta::seconds(50),
        skew: TimeDelta::zero(),
        ..ok.clone()
    })
    .unwrap();
    let refused = |e: Expectations<'_>| a.check(&e).unwrap_err();
    assert!(matches!(
        refused(Expectations {
            now: issued + TimeDelta::minutes(10),
            ..ok.clone()
        }),
        ProfileError::Expired { .. }
    ));
    assert!(matches!(
        refused(Expectations {
            now: issued - TimeDelta::minutes(5),
            ..ok.clone()
        }),
        ProfileError::NotYetValid { .. }
    ));
    assert_eq!(
        refused(Expectations {
            audience: "https://other",
            ..ok.clone()
        }),
        ProfileError::NotAudience {
            audience: "https://other".into()
        }
    );
    assert_eq!(
        refused(Expectations {
            recipient: "https://other/acs",
            ..ok.clone()
        }),
        ProfileError::WrongRecipient {
            expected: "https://other/acs".into()
        }
    );
    assert_eq!(
        refused(Expectations {
            issuer: "https://evil-idp",
            ..ok.clone()
        }),
        ProfileError::WrongIssuer {
            expected: "https://evil-idp".into(),
            found: "https://idp.example.org".into()
        }
    );
    assert_eq!(
        refused(Expectations {
            in_response_to: Some("_req1"),
            ..ok.clone()
        }),
        ProfileError::WrongInResponseTo {
            expected: Some("_req1".into()),
            found: None
        }
    );
    // The confirmation alone expired (the conditions are still valid).
    let mut late = a.clone();
    late.subject_confirmations[0].not_on_or_after = Some(issued - TimeDelta::minutes(1));
    assert!(matches!(
        late.check(&ok),
        Err(ProfileError::ConfirmationExpired { .. })
    ));
    let mut holder_of_key = a.clone();
    holder_of_key.subject_confirmations[0].method =
        "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key".into();
    assert_eq!(
        holder_of_key.check(&ok),
        Err(ProfileError::NoBearerConfirmation)
    );
    // The typed error converts into the crate's error for `?`.
    assert!(matches!(
        Error::from(ProfileError::NoBearerConfirmation),
        Error::Profile(ProfileError::NoBearerConfirmation)
    ));
}

#[test]
fn tampering_and_wrong_key_are_rejected() {
    let xml = signed(SignTarget::Assertion, "alice@example.org");
    let tampered = xml.replace("alice@example.org", "admin@example.org");
    assert_eq!(verify(&tampered), Err(Error::DigestMismatch));
    let other = Certificate::from_pem(OTHER_CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    assert_eq!(
        verify_response(xml.as_bytes(), &other, VerifyOptions::default()),
        Err(Error::SignatureInvalid)
    );
    assert!(matches!(
        verify(&without_signature(&xml)),
        Err(Error::Unsigned { .. })
    ));
}

#[test]
fn xsw1_and_xsw2_response_wrapping() {
    let xml = signed(SignTarget::Response, "alice@example.org");
    let body = xml.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let original = without_signature(body);
    let forged = evil(&xml.replace("ID=\"_resp1\"", "ID=\"_evilresp\""));
    // XSW1: the original response goes inside the forged response's Signature.
    let sig_end = signature(&forged).end - "</ds:Signature>".len();
    let xsw1 = format!(
        "{}<ds:Object>{original}</ds:Object>{}",
        &forged[..sig_end],
        &forged[sig_end..]
    );
    assert_rejected("XSW1", &xsw1);
    // XSW2: the original response goes right before the Signature, detached.
    let sig_start = signature(&forged).start;
    let xsw2 = format!("{}{original}{}", &forged[..sig_start], &forged[sig_start..]);
    assert_rejected("XSW2", &xsw2);
    // Same, keeping the original ID on the forged root: duplicate IDs.
    let forged_same_id = evil(&xml);
    let sig_start = signature(&forged_same_id).start;
    let dup = format!(
        "{}{original}{}",
        &forged_same_id[..sig_start],
        &forged_same_id[sig_start..]
    );
    assert!(matches!(verify(&dup), Err(Error::DuplicateId { .. })));
}

#[test]
fn xsw3_to_xsw8_assertion_wrapping() {
    let xml = signed(SignTarget::Assertion, "alice@example.org");
    let a = assertion(&xml);
    let (head, original, tail) = (&xml[..a.start], &xml[a.clone()], &xml[a.end..]);
    let evil_unsigned = without_signature(&evil(original));
    let evil_signed = evil(original);

    // XSW3: forged assertion before the original, as a sibling.
    assert_rejected("XSW3", &format!("{head}{evil_unsigned}{original}{tail}"));
    // XSW4: the forged assertion wraps the original.
    let close = evil_unsigned.len() - "</saml:Assertion>".len();
    let xsw4 = format!(
        "{head}{}{original}{}{tail}",
        &evil_unsigned[..close],
        &evil_unsigned[close..]
    );
    assert_rejected("XSW4", &xsw4);
    // XSW5: the forged assertion carries the copied signature; the original is
    // appended after it.
    assert_rejected("XSW5", &format!("{head}{evil_signed}{original}{tail}"));
    // XSW5 variant: the original hidden in Extensions.
    let hidden = after_response_issuer(
        &format!("{head}{evil_signed}{tail}"),
        &format!("<samlp:Extensions>{original}</samlp:Extensions>"),
    );
    assert_rejected("XSW5-extensions", &hidden);
    // XSW6: the original (without its signature) inside the copied signature's Object.
    let sig = signature(&evil_signed);
    let inner_end = sig.end - "</ds:Signature>".len();
    let xsw6 = format!(
        "{head}{}<ds:Object>{}</ds:Object>{}{tail}",
        &evil_signed[..inner_end],
        without_signature(original),
        &evil_signed[inner_end..]
    );
    assert_rejected("XSW6", &xsw6);
    // XSW7: the original in Extensions, the forged one unsigned.
    let xsw7 = after_response_issuer(
        &format!("{head}{evil_unsigned}{tail}"),
        &format!("<samlp:Extensions>{original}</samlp:Extensions>"),
    );
    assert_rejected("XSW7", &xsw7);
    // XSW8: the forged assertion's signature holds the original in an Object.
    let xsw8 = format!(
        "{head}{}<ds:Object>{original}</ds:Object>{}{tail}",
        &evil_signed[..inner_end],
        &evil_signed[inner_end..]
    );
    assert_rejected("XSW8", &xsw8);
}

#[test]
fn two_assertions_one_signed_cve_2022_41912() {
    let xml = signed(SignTarget::Assertion, "alice@example.org");
    let a = assertion(&xml);
    let evil_unsigned = without_signature(&evil(&xml[a.clone()]));
    let after = format!("{}{evil_unsigned}{}", &xml[..a.end], &xml[a.end..]);
    let before = format!("{}{evil_unsigned}{}", &xml[..a.start], &xml[a.start..]);
    assert!(matches!(
        verify(&after),
        Err(Error::UnexpectedElement { .. })
    ));
    assert!(matches!(
        verify(&before),
        Err(Error::UnexpectedElement { .. })
    ));
}

#[test]
fn signature_referencing_another_element() {
    // A valid signature over the Response, moved into the Assertion.
    let xml = signed(SignTarget::Response, "alice@example.org");
    let sig = signature(&xml);
    let sig_text = xml[sig.clone()].to_owned();
    let unsigned = format!("{}{}", &xml[..sig.start], &xml[sig.end..]);
    let a = assertion(&unsigned);
    let issuer_end =
        unsigned[a.clone()].find("</saml:Issuer>").unwrap() + a.start + "</saml:Issuer>".len();
    let moved = format!(
        "{}{sig_text}{}",
        &unsigned[..issuer_end],
        &unsigned[issuer_end..]
    );
    assert!(matches!(verify(&moved), Err(Error::InvalidValue { .. })));
}

#[test]
fn verify_all_reports_each_signature() {
    let key = Certificate::from_pem(CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    let xml = signed(SignTarget::Both, "alice@example.org");
    let doc = idforge_saml::xml::parse(xml.as_bytes()).unwrap();
    let reports = idforge_saml::verify_all(&doc, &key, VerifyOptions::default());
    let summary: Vec<(&str, bool)> = reports
        .iter()
        .map(|r| (r.path.as_str(), r.result.is_ok()))
        .collect();
    assert_eq!(summary, [("Response", true), ("Response/Assertion", true)]);
    // Tampering with the assertion breaks both (the response digest covers it).
    let tampered = xml.replace("alice@example.org", "admin@example.org");
    let doc = idforge_saml::xml::parse(tampered.as_bytes()).unwrap();
    let reports = idforge_saml::verify_all(&doc, &key, VerifyOptions::default());
    assert!(reports.iter().all(|r| r.result.is_err()));
    assert_eq!(reports.len(), 2);
}

#[test]
fn dtds_and_entities_are_refused() {
    let xml = signed(SignTarget::Assertion, "alice@example.org");
    let body = xml.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let xxe = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        body.replace("alice@example.org", "&x;")
    );
    assert!(matches!(verify(&xxe), Err(Error::DtdRefused { .. })));
    let laughs = format!(
        "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>{body}"
    );
    assert!(matches!(verify(&laughs), Err(Error::DtdRefused { .. })));
    let undefined = body.replace("alice@example.org", "&x;");
    assert!(matches!(
        verify(&undefined),
        Err(Error::UndefinedEntity { .. })
    ));
}

#[test]
fn duplicate_ids_are_rejected() {
    let xml = signed(SignTarget::Assertion, "alice@example.org");
    let a = assertion(&xml);
    let original = &xml[a.clone()];
    // Forged assertion with the original ID and signature, original in Extensions.
    let forged = original.replace("alice@example.org", "admin@example.org");
    let doc = after_response_issuer(
        &format!("{}{forged}{}", &xml[..a.start], &xml[a.end..]),
        &format!("<samlp:Extensions>{original}</samlp:Extensions>"),
    );
    assert!(matches!(verify(&doc), Err(Error::DuplicateId { .. })));
}

#[test]
fn comment_injection_cannot_truncate_name_id() {
    // The IdP signed "admin@example.org.evil.com" for a user who registered it.
    let xml = signed(SignTarget::Assertion, "admin@example.org.evil.com");
    for injected in [
        xml.replace(
            "admin@example.org.evil.com",
            "admin@example.org<!---->.evil.com",
        ),
        xml.replace(
            "admin@example.org.evil.com",
            "admin@example.org<!-- x -->.evil<!---->.com",
        ),
    ] {
        // The signature still verifies (comments are not signed) ...
        let v = verify(&injected).unwrap();
        // ... and the value read is the whole signed one, not a prefix.
        assert_eq!(
            v.assertion.unwrap().name_id.unwrap().value,
            "admin@example.org.evil.com"
        );
    }
}
