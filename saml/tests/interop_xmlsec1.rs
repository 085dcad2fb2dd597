//! Interop with Debian's `xmlsec1`: every signed response the builder emits verifies
//! with it (the IdP certificate as the only key, KeyInfo not trusted), and documents
//! signed by `xmlsec1` verify with this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use chrono::DateTime;
use idforge_saml::xml::{self, Document, NodeId};
use idforge_saml::{
    Certificate, NameId, NameIdFormat, ResponseBuilder, RsaSigner, SamlAttribute, SamlId,
    SignTarget, ns,
};
use idforge_saml::{SignOptions, VerifyOptions};

const KEY: &str = include_str!("data/idp-key.pem");
const CERT: &str = include_str!("data/idp-cert.pem");
const OTHER_CERT: &str = include_str!("data/other-cert.pem");

/// `true` when xmlsec1 can run; otherwise fails in CI and skips elsewhere.
fn have_xmlsec1() -> bool {
    let found = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required = idforge_test_support::peers_required();
        assert!(
            !required,
            "xmlsec1 is required (CI or IDFORGE_REQUIRE_PEERS set) but not found"
        );
        eprintln!("SKIP: xmlsec1 not installed (apt-get install xmlsec1); interop not checked");
    }
    found
}

/// Runs `xmlsec1 --verify` the strict way; `node_xpath` selects which signature.
fn xmlsec1_verify(dir: &Path, doc: &str, cert_pem: &str, node_xpath: Option<&str>) -> bool {
    let doc_path = dir.join("doc.xml");
    let cert_path = dir.join("cert.pem");
    std::fs::write(&doc_path, doc).unwrap();
    std::fs::write(&cert_path, cert_pem).unwrap();
    let mut cmd = Command::new("xmlsec1");
    cmd.arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&cert_path)
        .args(["--enabled-key-data", "key-name"])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        ]);
    if let Some(x) = node_xpath {
        cmd.args(["--node-xpath", x]);
    }
    let out = cmd.arg(&doc_path).output().unwrap();
    if !out.status.success() {
        eprintln!("xmlsec1: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

const RESPONSE_SIG: &str = "/*[local-name()='Response']/*[local-name()='Signature']";
const ASSERTION_SIG: &str =
    "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']";

fn response_xml(target: SignTarget) -> String {
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let cert = Certificate::from_pem(CERT).unwrap();
    let mut r = ResponseBuilder::new(
        "https://idp.example.org/saml",
        SamlId::new("_r0123456789").unwrap(),
        SamlId::new("_a0123456789").unwrap(),
        DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    )
    .destination("https://signin.aws.amazon.com/saml")
    .audience("urn:amazon:webservices")
    .name_id(NameId::new("ålice & <bob>", NameIdFormat::Persistent))
    .attribute(SamlAttribute::uri(
        "https://aws.amazon.com/SAML/Attributes/Role",
        ["arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge"],
    ))
    .attribute(SamlAttribute::basic(
        "note",
        ["tab\there \"quoted\"\r\nnext"],
    ))
    .build()
    .unwrap();
    r.sign(target, &signer, Some(&cert), &SignOptions::default())
        .unwrap();
    r.to_xml()
}

#[test]
fn xmlsec1_verifies_our_signatures() {
    if !have_xmlsec1() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let assertion = response_xml(SignTarget::Assertion);
    assert!(xmlsec1_verify(p, &assertion, CERT, None));
    let response = response_xml(SignTarget::Response);
    assert!(xmlsec1_verify(p, &response, CERT, None));
    let both = response_xml(SignTarget::Both);
    assert!(xmlsec1_verify(p, &both, CERT, Some(RESPONSE_SIG)));
    assert!(xmlsec1_verify(p, &both, CERT, Some(ASSERTION_SIG)));
}

#[test]
fn xmlsec1_rejects_tampering_and_wrong_key() {
    if !have_xmlsec1() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let assertion = response_xml(SignTarget::Assertion);
    assert!(!xmlsec1_verify(p, &assertion, OTHER_CERT, None));
    let tampered = assertion.replace("Admin", "Admim");
    assert_ne!(tampered, assertion);
    assert!(!xmlsec1_verify(p, &tampered, CERT, None));
}

/// A SAML response template with an empty enveloped signature, for xmlsec1 to fill.
fn template(id: &str, prefix_list: Option<&str>) -> String {
    let transform_params = prefix_list.map_or(String::new(), |l| {
        format!(
            "<ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{l}\"/>"
        )
    });
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_resp" Version="2.0" IssueInstant="2024-01-01T00:00:00Z">
  <saml:Issuer>https://idp.example.org</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="{id}" Version="2.0" IssueInstant="2024-01-01T00:00:00Z">
    <saml:Issuer>https://idp.example.org</saml:Issuer>
    <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
        <ds:Reference URI="#{id}">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">{transform_params}</ds:Transform>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
          <ds:DigestValue></ds:DigestValue>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue></ds:SignatureValue>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>
    </ds:Signature>
    <saml:Subject><saml:NameID>carol<!-- a comment -->@example.org</saml:NameID></saml:Subject>
    <saml:AttributeStatement>
      <saml:Attribute Name="groups"><saml:AttributeValue xsi:type="xs:string">admins &amp; ops</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>
"##
    )
}

fn xmlsec1_sign(dir: &Path, template: &str) -> String {
    let tpl = dir.join("tpl.xml");
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let out = dir.join("signed.xml");
    std::fs::write(&tpl, template).unwrap();
    std::fs::write(&key, KEY).unwrap();
    std::fs::write(&cert, CERT).unwrap();
    let mut keyarg = key.into_os_string();
    keyarg.push(",");
    keyarg.push(&cert);
    let status = Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(keyarg)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
        .arg("--output")
        .arg(&out)
        .arg(&tpl)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out).unwrap()
}

fn assertion_of(doc: &Document) -> NodeId {
    doc.unique_child(doc.root(), ns::SAML, "Assertion")
        .unwrap()
        .unwrap()
}

#[test]
fn we_verify_what_xmlsec1_signs() {
    if !have_xmlsec1() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = Certificate::from_pem(CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    let other = Certificate::from_pem(OTHER_CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    for prefix_list in [None, Some("xs"), Some("xs xsi #default")] {
        let signed = xmlsec1_sign(dir.path(), &template("_assert42", prefix_list));
        let doc = xml::parse(signed.as_bytes()).unwrap();
        let a = assertion_of(&doc);
        idforge_saml::verify_enveloped(&doc, a, &key, VerifyOptions::default())
            .unwrap_or_else(|e| panic!("{prefix_list:?}: {e}"));
        assert!(idforge_saml::verify_enveloped(&doc, a, &other, VerifyOptions::default()).is_err());
        // The NameID reads whole, comment or not, and is what was signed.
        let subject = doc.unique_child(a, ns::SAML, "Subject").unwrap().unwrap();
        let name_id = doc
            .unique_child(subject, ns::SAML, "NameID")
            .unwrap()
            .unwrap();
        assert_eq!(doc.text(name_id).unwrap(), "carol@example.org");
        // Tampering anywhere in the assertion breaks the digest.
        let tampered = signed.replace("admins &amp; ops", "admins &amp; ops2");
        let doc = xml::parse(tampered.as_bytes()).unwrap();
        let a = assertion_of(&doc);
        assert_eq!(
            idforge_saml::verify_enveloped(&doc, a, &key, VerifyOptions::default()),
            Err(idforge_saml::Error::DigestMismatch)
        );
    }
}

#[test]
fn xmlsec1_accepts_a_generated_identity() {
    if !have_xmlsec1() {
        return;
    }
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let (cert, key) = idforge_saml::create_self_signed(
        &mut rand::rng(),
        "idforge generated IdP",
        now,
        chrono::TimeDelta::days(3650),
    )
    .unwrap();
    let signer = RsaSigner::from_pem(key.as_str()).unwrap();
    let mut r = ResponseBuilder::new(
        "https://idp.example.org/saml",
        SamlId::new("_r1").unwrap(),
        SamlId::new("_a1").unwrap(),
        now,
    )
    .destination("https://sp.example.org/acs")
    .name_id(NameId::new("alice", NameIdFormat::Transient))
    .build()
    .unwrap();
    r.sign(
        SignTarget::Both,
        &signer,
        Some(&cert),
        &SignOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let xml = r.to_xml();
    assert!(xmlsec1_verify(
        dir.path(),
        &xml,
        &cert.to_pem(),
        Some(RESPONSE_SIG)
    ));
    assert!(xmlsec1_verify(
        dir.path(),
        &xml,
        &cert.to_pem(),
        Some(ASSERTION_SIG)
    ));
    assert!(!xmlsec1_verify(dir.path(), &xml, CERT, Some(ASSERTION_SIG)));
}

#[test]
fn xmlsec1_verifies_signed_idp_metadata() {
    if !have_xmlsec1() {
        return;
    }
    let cert = Certificate::from_pem(CERT).unwrap();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let md = idforge_saml::IdpMetadata::with_base_url(
        "https://idp.example.org/saml",
        "https://idp.example.org",
        cert,
    )
    .to_xml(&SamlId::new("_md1").unwrap(), Some(&signer))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |doc: &str, cert_pem: &str| {
        let doc_path = dir.path().join("md.xml");
        let cert_path = dir.path().join("cert.pem");
        std::fs::write(&doc_path, doc).unwrap();
        std::fs::write(&cert_path, cert_pem).unwrap();
        Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&cert_path)
            .args(["--enabled-key-data", "key-name"])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
            ])
            .arg(&doc_path)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(run(&md, CERT));
    assert!(!run(&md, OTHER_CERT));
    assert!(!run(&md.replace("/sso", "/evil"), CERT));
}

#[test]
fn legacy_sha1_only_by_opt_in() {
    let signer = RsaSigner::from_pem(KEY).unwrap().into_sha1_legacy();
    let cert = Certificate::from_pem(CERT).unwrap();
    let build = || {
        ResponseBuilder::new(
            "https://idp.example.org/saml",
            SamlId::new("_r1").unwrap(),
            SamlId::new("_a1").unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
        .destination("https://legacy-sp.example.org/acs")
        .name_id(NameId::new("alice", NameIdFormat::Transient))
        .build()
        .unwrap()
    };
    // A SHA-1 signer with the default SHA-256 digest is a configuration error.
    assert!(
        build()
            .sign(
                SignTarget::Assertion,
                &signer,
                Some(&cert),
                &SignOptions::default()
            )
            .is_err()
    );
    let sha1 = SignOptions {
        digest: idforge_saml::DigestAlgorithm::Sha1Legacy,
        ..SignOptions::default()
    };
    let mut r = build();
    r.sign(SignTarget::Assertion, &signer, Some(&cert), &sha1)
        .unwrap();
    let xml = r.to_xml();
    assert!(xml.contains("xmldsig#rsa-sha1"));
    let key = cert.verifying_key().unwrap();
    assert!(matches!(
        idforge_saml::verify_response(xml.as_bytes(), &key, VerifyOptions::default()),
        Err(idforge_saml::Error::AlgorithmNotAllowed { .. })
    ));
    idforge_saml::verify_response(xml.as_bytes(), &key, VerifyOptions { allow_sha1: true })
        .unwrap();
    if have_xmlsec1() {
        let dir = tempfile::tempdir().unwrap();
        assert!(xmlsec1_verify(dir.path(), &xml, CERT, None));
    }
}

/// `openssl` output for `args`, or `None` (skipped outside CI) when openssl is missing.
fn openssl(args: &[&str]) -> Option<String> {
    let Ok(out) = Command::new("openssl").args(args).output() else {
        let required = idforge_test_support::peers_required();
        assert!(!required, "openssl is required but not found");
        eprintln!("SKIP: openssl not installed; certificate not checked");
        return None;
    };
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The line after `heading` in `openssl x509 -text` output, trimmed.
fn after<'a>(text: &'a str, heading: &str) -> &'a str {
    let mut lines = text.lines();
    lines
        .find(|l| l.contains(heading))
        .unwrap_or_else(|| panic!("no {heading} in {text}"));
    lines.next().unwrap().trim()
}

#[test]
fn generated_certificate_is_v3_as_openssl_makes_it_and_xmlsec1_verifies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let (cert, key) = idforge_saml::create_self_signed(
        &mut rand::rng(),
        "idp.example.org",
        now,
        chrono::TimeDelta::days(3650),
    )
    .unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.to_pem()).unwrap();
    std::fs::write(&key_path, key.as_str()).unwrap();
    let cert_arg = cert_path.to_str().unwrap();
    let Some(text) = openssl(&["x509", "-in", cert_arg, "-noout", "-text"]) else {
        return;
    };
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert_eq!(after(&text, "X509v3 Basic Constraints"), "CA:FALSE");
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    assert_eq!(after(&text, "X509v3 Key Usage"), "Digital Signature");
    let ski = after(&text, "X509v3 Subject Key Identifier");
    assert_eq!(ski.len(), 59, "a 20-byte SHA-1 key identifier: {ski}");
    assert!(after(&text, "X509v3 Authority Key Identifier").contains(ski));

    // openssl computes the same subject key identifier for the same key.
    let theirs = dir.path().join("openssl-cert.pem");
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        key_path.to_str().unwrap(),
        "-subj",
        "/CN=idp.example.org",
        "-days",
        "1",
        "-addext",
        "subjectKeyIdentifier=hash",
        "-out",
        theirs.to_str().unwrap(),
    ])
    .unwrap();
    let their_text =
        openssl(&["x509", "-in", theirs.to_str().unwrap(), "-noout", "-text"]).unwrap();
    assert_eq!(after(&their_text, "X509v3 Subject Key Identifier"), ski);

    // xmlsec1 verifies a response signed with the new key against the new certificate.
    if !have_xmlsec1() {
        return;
    }
    let signer = RsaSigner::from_pem_for_certificate(key.as_str(), &cert).unwrap();
    let mut r = ResponseBuilder::new(
        "https://idp.example.org",
        SamlId::new("_r9").unwrap(),
        SamlId::new("_a9").unwrap(),
        now,
    )
    .destination("https://sp.example.org/acs")
    .audience("https://sp.example.org")
    .name_id(NameId::new("alice", NameIdFormat::Persistent))
    .build()
    .unwrap();
    r.sign(
        SignTarget::Assertion,
        &signer,
        Some(&cert),
        &SignOptions::default(),
    )
    .unwrap();
    assert!(xmlsec1_verify(
        dir.path(),
        &r.to_xml(),
        &cert.to_pem(),
        None
    ));
    assert!(!xmlsec1_verify(dir.path(), &r.to_xml(), OTHER_CERT, None));
}
