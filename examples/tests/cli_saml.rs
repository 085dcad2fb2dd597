//! The `idforge saml` commands, run as an administrator runs them; signed output is also
//! checked by Debian's `xmlsec1` (skipped with a message when it is missing, except in CI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use idforge_saml::{MessageKind, encode_redirect};

const SP_METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com/saml">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

fn idforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(args)
        .output()
        .expect("run idforge")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh IdP key pair from `idforge saml keygen`, in a temporary directory.
struct Idp {
    dir: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
}

fn keygen(cn: &str) -> Idp {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("idp-key.pem");
    let cert = dir.path().join("idp-cert.pem");
    let o = idforge(&[
        "saml",
        "keygen",
        "--common-name",
        cn,
        "--key-out",
        s(&key),
        "--cert-out",
        s(&cert),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Idp { dir, key, cert }
}

use idforge_test_support::peers_required;

/// `xmlsec1 --verify` with the certificate as the only trusted key; `None` when xmlsec1 is
/// not installed (outside CI).
fn xmlsec1_verifies(cert: &Path, xml: &[u8]) -> Option<bool> {
    if Command::new("xmlsec1").arg("--version").output().is_err() {
        assert!(
            !peers_required(),
            "xmlsec1 is required here (apt-get install xmlsec1)"
        );
        eprintln!("SKIPPED: xmlsec1 not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, xml).unwrap();
    let o = Command::new("xmlsec1")
        .args([
            "--verify",
            "--pubkey-cert-pem",
            s(cert),
            "--enabled-key-data",
            "key-name",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(&file)
        .output()
        .unwrap();
    Some(o.status.success())
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites() {
    let idp = keygen("idp.example.org");
    let key = std::fs::read_to_string(&idp.key).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(
        std::fs::read_to_string(&idp.cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&idp.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = idp.dir.path().join("other-cert.pem");
    let o = idforge(&[
        "saml",
        "keygen",
        "--common-name",
        "x",
        "--key-out",
        s(&idp.key),
        "--cert-out",
        s(&again),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&idp.key).unwrap(),
        key,
        "the key was overwritten"
    );
    let bad = idforge(&[
        "saml",
        "keygen",
        "--common-name",
        "a,b",
        "--key-out",
        s(&idp.dir.path().join("k2")),
        "--cert-out",
        s(&again),
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn signed_metadata_verifies_and_decode_reports_it() {
    let idp = keygen("idp.example.org");
    let o = idforge(&[
        "saml",
        "metadata",
        "--cert",
        s(&idp.cert),
        "--base-url",
        "https://idp.example.org/",
        "--key",
        s(&idp.key),
    ]);
    assert!(o.status.success());
    let xml = stdout(&o);
    assert!(xml.contains(r#"entityID="https://idp.example.org/metadata""#));
    assert!(xml.contains("https://idp.example.org/sso"));
    if let Some(ok) = xmlsec1_verifies(&idp.cert, xml.as_bytes()) {
        assert!(ok, "xmlsec1 refused the signed metadata");
    }
    let value = STANDARD.encode(xml.trim());
    let d = idforge(&["saml", "decode", &value, "--cert", s(&idp.cert)]);
    assert_eq!(d.status.code(), Some(0));
    assert!(stdout(&d).contains("signature EntityDescriptor: valid"));
    // Another key: reported, exit 1.
    let other = keygen("other");
    let d = idforge(&["saml", "decode", &value, "--cert", s(&other.cert)]);
    assert_eq!(d.status.code(), Some(1));
    assert!(stdout(&d).contains("INVALID"));
}

#[test]
fn response_for_an_sp_from_its_metadata() {
    let idp = keygen("idp.example.org");
    let md = idp.dir.path().join("sp.xml");
    // An SP that takes a signature on the Response alone as well.
    std::fs::write(
        &md,
        SP_METADATA.replace(r#" WantAssertionsSigned="true""#, ""),
    )
    .unwrap();
    for sign in ["assertion", "response", "both"] {
        let o = idforge(&[
            "saml",
            "response",
            "--sp-metadata",
            s(&md),
            "--key",
            s(&idp.key),
            "--cert",
            s(&idp.cert),
            "--issuer",
            "https://idp.example.org/metadata",
            "--name-id",
            "alice@example.com",
            "--name-id-format",
            "email",
            "--attr",
            "groups=admins",
            "--attr",
            "groups=staff <&>",
            "--sign",
            sign,
            "--in-response-to",
            "_req1",
            "--xml",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let xml = stdout(&o);
        assert!(xml.contains(r#"Destination="https://sp.example.com/acs""#));
        assert!(xml.contains("<saml:Audience>https://sp.example.com/saml</saml:Audience>"));
        assert!(xml.contains(r#"InResponseTo="_req1""#));
        assert!(xml.contains("staff &lt;&amp;&gt;"));
        if let Some(ok) = xmlsec1_verifies(&idp.cert, xml.as_bytes()) {
            assert!(ok, "xmlsec1 refused a response signed on {sign}");
        }
        let d = idforge(&[
            "saml",
            "decode",
            &STANDARD.encode(xml.trim()),
            "--cert",
            s(&idp.cert),
        ]);
        assert_eq!(d.status.code(), Some(0), "{sign}: {}", stdout(&d));
        let report = stdout(&d);
        let valid = report.matches(": valid").count();
        assert_eq!(valid, if sign == "both" { 2 } else { 1 }, "{report}");

        // A tampered NameID: refused by the tracer (and by xmlsec1).
        let tampered = xml.replace("alice@example.com", "mallory@example.com");
        let d = idforge(&[
            "saml",
            "decode",
            &STANDARD.encode(tampered.trim()),
            "--cert",
            s(&idp.cert),
        ]);
        assert_eq!(d.status.code(), Some(1), "{sign}");
        if let Some(ok) = xmlsec1_verifies(&idp.cert, tampered.as_bytes()) {
            assert!(!ok);
        }
    }
}

#[test]
fn aws_response_is_checked_before_signing() {
    let idp = keygen("idp.example.org");
    let base = [
        "saml",
        "response",
        "--key",
        s(&idp.key),
        "--cert",
        s(&idp.cert),
        "--issuer",
        "https://idp.example.org/metadata",
        "--name-id",
        "alice",
    ];
    let role =
        "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge";
    let o = idforge(&[&base[..], &["--aws-role", role, "--xml"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let xml = stdout(&o);
    assert!(xml.contains("https://signin.aws.amazon.com/saml"));
    assert!(xml.contains("urn:amazon:webservices"));
    assert!(xml.contains(
        "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge"
    ));
    if let Some(ok) = xmlsec1_verifies(&idp.cert, xml.as_bytes()) {
        assert!(ok);
    }
    // Typed refusals, not a response STS would reject later.
    for bad in [
        &[
            "--aws-role",
            "not-an-arn,arn:aws:iam::123456789012:saml-provider/x",
        ][..],
        &["--aws-role", role, "--aws-session-duration", "60"],
        &["--aws-role", "missing-comma"],
    ] {
        let o = idforge(&[&base[..], bad].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(o.stdout.is_empty());
    }
    // Without AWS, the SP metadata is required.
    assert_eq!(idforge(&base).status.code(), Some(2));
}

#[test]
fn decode_redirect_url_with_query_signature() {
    let idp = keygen("sp.example.com");
    let request = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="https://sp.example.com/acs"><saml:Issuer>https://sp.example.com/saml</saml:Issuer></samlp:AuthnRequest>"#;
    let key = std::fs::read_to_string(&idp.key).unwrap();
    let signer = idforge_saml::RsaSigner::from_pem(&key).unwrap();
    let query = encode_redirect(
        MessageKind::Request,
        request.as_bytes(),
        Some("back to /app?x=1"),
        Some(&signer),
    )
    .unwrap();
    let url = format!("https://idp.example.org/sso?{query}");
    let d = idforge(&["saml", "decode", &url, "--cert", s(&idp.cert)]);
    assert_eq!(d.status.code(), Some(0), "{}", stdout(&d));
    let out = stdout(&d);
    assert!(out.contains("message: AuthnRequest (HTTP-Redirect)"));
    assert!(out.contains("RelayState: back to /app?x=1"));
    assert!(out.contains("signature (query string): valid"));
    assert!(
        out.contains("  <saml:Issuer>https://sp.example.com/saml</saml:Issuer>"),
        "{out}"
    );
    // Unsigned: decodes, and with --cert says there was nothing to check (exit 1).
    let unsigned = encode_redirect(MessageKind::Request, request.as_bytes(), None, None).unwrap();
    let value = unsigned.strip_prefix("SAMLRequest=").unwrap();
    let d = idforge(&["saml", "decode", value]);
    assert_eq!(d.status.code(), Some(0));
    let d = idforge(&["saml", "decode", value, "--cert", s(&idp.cert)]);
    assert_eq!(d.status.code(), Some(1));
}

#[test]
fn decode_refuses_garbage_and_dtds() {
    for input in ["not saml at all", "SAMLRequest=%%%", "<a><b></a>"] {
        let o = idforge(&["saml", "decode", input]);
        assert_eq!(o.status.code(), Some(2), "{input}");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
    let dtd = r#"<!DOCTYPE r [<!ENTITY x "boom">]><r>&x;</r>"#;
    let o = idforge(&["saml", "decode", &STANDARD.encode(dtd)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        o.stdout.is_empty(),
        "nothing is shown of a refused document"
    );
}

/// `idforge saml response` with the given extra arguments, signed by `idp`.
fn response_with(idp: &Idp, extra: &[&str]) -> Output {
    let base = [
        "saml",
        "response",
        "--key",
        s(&idp.key),
        "--cert",
        s(&idp.cert),
        "--issuer",
        "https://idp.example.org/metadata",
        "--name-id",
        "alice",
        "--xml",
    ];
    idforge(&[&base[..], extra].concat())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const AWS_ROLE: &str =
    "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge";
const AWS_ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";

#[test]
fn aws_attributes_given_twice_are_merged_or_refused() {
    let idp = keygen("idp.example.org");
    // A single-valued attribute the preset sets: refused, nothing printed.
    let session = format!("{AWS_ATTR}RoleSessionName=bob");
    let o = response_with(&idp, &["--aws-role", AWS_ROLE, "--attr", &session]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("RoleSessionName"), "{}", stderr(&o));
    let duration = format!("{AWS_ATTR}SessionDuration=3600");
    let o = response_with(
        &idp,
        &[
            "--aws-role",
            AWS_ROLE,
            "--aws-session-duration",
            "900",
            "--attr",
            &duration,
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    // Role is multi-valued: one attribute with both roles.
    let other = format!(
        "{AWS_ATTR}Role=arn:aws:iam::123456789012:role/ReadOnly,arn:aws:iam::123456789012:saml-provider/idforge"
    );
    let o = response_with(&idp, &["--aws-role", AWS_ROLE, "--attr", &other]);
    assert!(o.status.success(), "{}", stderr(&o));
    let xml = stdout(&o);
    assert_eq!(
        xml.matches(&format!(r#"Name="{AWS_ATTR}Role""#)).count(),
        1,
        "{xml}"
    );
    assert_eq!(
        xml.matches(&format!(r#"Name="{AWS_ATTR}RoleSessionName""#))
            .count(),
        1
    );
    assert!(xml.contains("role/Admin,arn"));
    assert!(xml.contains("role/ReadOnly,arn"));
    if let Some(ok) = xmlsec1_verifies(&idp.cert, xml.as_bytes()) {
        assert!(ok);
    }
}

#[test]
fn an_sp_that_wants_signed_assertions_gets_them() {
    let idp = keygen("idp.example.org");
    let md = idp.dir.path().join("sp.xml");
    std::fs::write(&md, SP_METADATA).unwrap();
    let o = response_with(&idp, &["--sp-metadata", s(&md), "--sign", "response"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("WantAssertionsSigned"),
        "{}",
        stderr(&o)
    );
    for sign in ["assertion", "both"] {
        let o = response_with(&idp, &["--sp-metadata", s(&md), "--sign", sign]);
        assert!(o.status.success(), "{sign}: {}", stderr(&o));
    }
    // AWS publishes WantAssertionsSigned="true" too.
    let o = response_with(&idp, &["--aws-role", AWS_ROLE, "--sign", "response"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("WantAssertionsSigned"));
}

#[test]
fn a_key_and_a_certificate_that_do_not_belong_together_are_refused() {
    let idp = keygen("idp.example.org");
    let other = keygen("other.example.org");
    let md = idp.dir.path().join("sp.xml");
    std::fs::write(&md, SP_METADATA).unwrap();
    let mixed = Idp {
        dir: tempfile::tempdir().unwrap(),
        key: idp.key.clone(),
        cert: other.cert.clone(),
    };
    let o = response_with(&mixed, &["--sp-metadata", s(&md)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(err.contains("do not belong together"), "{err}");
    assert!(err.contains("CN=other.example.org"), "{err}");
    let o = idforge(&[
        "saml",
        "metadata",
        "--cert",
        s(&other.cert),
        "--key",
        s(&idp.key),
        "--base-url",
        "https://idp.example.org",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn expired_sp_metadata_is_refused_unless_allowed() {
    let idp = keygen("idp.example.org");
    let md = idp.dir.path().join("sp.xml");
    std::fs::write(
        &md,
        SP_METADATA.replace(
            r#"entityID="https://sp.example.com/saml""#,
            r#"entityID="https://sp.example.com/saml" validUntil="2020-01-01T00:00:00Z""#,
        ),
    )
    .unwrap();
    let o = response_with(&idp, &["--sp-metadata", s(&md)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("expired"), "{}", stderr(&o));
    let o = response_with(&idp, &["--sp-metadata", s(&md), "--allow-expired-metadata"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn keygen_writes_a_v3_signing_certificate() {
    let idp = keygen("idp.example.org");
    let Ok(o) = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", s(&idp.cert)])
        .output()
    else {
        assert!(!peers_required(), "openssl is required here");
        eprintln!("SKIPPED: openssl not installed");
        return;
    };
    let text = stdout(&o);
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
}

#[test]
fn response_for_one_sp_of_an_aggregate() {
    let idp = keygen("idp.example.org");
    let entity = |id: &str, acs: &str| {
        format!(
            r#"<md:EntityDescriptor entityID="{id}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
        )
    };
    let feed = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_feed" Name="urn:example:fed">{}<md:EntitiesDescriptor>{}</md:EntitiesDescriptor></md:EntitiesDescriptor>"#,
        entity("https://one.example.org", "https://one.example.org/acs"),
        entity("https://two.example.org", "https://two.example.org/acs"),
    );
    let md = idp.dir.path().join("feed.xml");
    std::fs::write(&md, &feed).unwrap();
    let o = response_with(&idp, &["--sp-metadata", s(&md)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--sp-entity-id"), "{}", stderr(&o));
    let o = response_with(
        &idp,
        &[
            "--sp-metadata",
            s(&md),
            "--sp-entity-id",
            "https://two.example.org",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let xml = stdout(&o);
    assert!(xml.contains(r#"Destination="https://two.example.org/acs""#));
    assert!(xml.contains("<saml:Audience>https://two.example.org</saml:Audience>"));
    let o = response_with(
        &idp,
        &[
            "--sp-metadata",
            s(&md),
            "--sp-entity-id",
            "https://three.example.org",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    // --metadata-cert: the feed must be signed by that certificate.
    let o = response_with(
        &idp,
        &[
            "--sp-metadata",
            s(&md),
            "--sp-entity-id",
            "https://two.example.org",
            "--metadata-cert",
            s(&idp.cert),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "an unsigned feed is refused");
}
