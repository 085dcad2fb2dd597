//! Interop with pysaml2 as the service provider: its metadata and AuthnRequest come
//! in, our signed Responses go out, and it must accept the genuine ones and refuse
//! tampered, expired, wrong-audience, replayed, unsigned and wrongly signed ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeDelta, Utc};
use idforge_saml::SignOptions;
use idforge_saml::{AuthnRequest, RequestCheck};
use idforge_saml::{BindingLimits, MessageKind, RedirectMessage};
use idforge_saml::{
    Certificate, NameId, NameIdFormat, ResponseBuilder, RsaSigner, SamlAttribute, SamlId,
    SignTarget,
};
use idforge_saml::{IdpMetadata, SpMetadata};

const KEY: &str = include_str!("data/idp-key.pem");
const CERT: &str = include_str!("data/idp-cert.pem");
const OTHER_KEY: &str = include_str!("data/other-key.pem");
const IDP: &str = "https://idp.example.org/saml";

/// A forger's signer: the attacker signs with their own key but copies the IdP's
/// certificate into KeyInfo. It hides its public key, so the library's check that a
/// certificate belongs to the signing key does not stop the forgery being made.
struct Forger(RsaSigner);

impl idforge_saml::Signer for Forger {
    fn algorithm(&self) -> idforge_saml::SignatureAlgorithm {
        idforge_saml::Signer::algorithm(&self.0)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, idforge_saml::SignError> {
        idforge_saml::Signer::sign(&self.0, message)
    }
}

const SP: &str = "https://sp.example.org/metadata";
const ACS: &str = "https://sp.example.org/acs";

/// The Python interpreter with pysaml2, or `None` (skip) outside CI.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("IDFORGE_PYTHON").map_or_else(
        || PathBuf::from("/var/tmp/idforge-peers-venv/bin/python"),
        PathBuf::from,
    );
    let ok = Command::new(&python)
        .args(["-c", "import saml2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let required = idforge_test_support::peers_required();
    assert!(
        !required,
        "pysaml2 is required (CI or IDFORGE_REQUIRE_PEERS set) but `{} -c 'import saml2'` failed",
        python.display()
    );
    eprintln!(
        "SKIP: pysaml2 not available to {} (pip install -r .ci/requirements-peers.txt); interop not checked",
        python.display()
    );
    None
}

fn run(python: &Path, command: &str, request: &serde_json::Value) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pysaml2_sp.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pysaml2 {command} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Case<'a> {
    now: DateTime<Utc>,
    in_response_to: Option<&'a str>,
    audience: &'a str,
    target: Option<SignTarget>,
    key: &'a str,
}

fn response(c: &Case<'_>, n: u32) -> String {
    let mut b = ResponseBuilder::new(
        IDP,
        SamlId::new(&format!("_resp{n}")).unwrap(),
        SamlId::new(&format!("_assert{n}")).unwrap(),
        c.now,
    )
    .destination(ACS)
    .audience(c.audience)
    .name_id(NameId::new("alice-ø & <co>", NameIdFormat::Persistent))
    .session_index("_session1")
    .attribute(SamlAttribute::uri(
        "urn:oid:0.9.2342.19200300.100.1.3",
        ["alice@example.org"],
    ))
    .attribute(SamlAttribute::uri(
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.7",
        ["admins", "ops & <dev> \"ünïcode\""],
    ));
    if let Some(id) = c.in_response_to {
        b = b.in_response_to(id);
    }
    let mut r = b.build().unwrap();
    if let Some(t) = c.target {
        let signer = Forger(RsaSigner::from_pem(c.key).unwrap());
        let cert = Certificate::from_pem(CERT).unwrap();
        r.sign(t, &signer, Some(&cert), &SignOptions::default())
            .unwrap();
    }
    r.to_base64()
}

#[test]
fn pysaml2_sp_accepts_our_responses_and_refuses_bad_ones() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = Certificate::from_pem(CERT).unwrap();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let idp_md = IdpMetadata::with_base_url(IDP, "https://idp.example.org", cert);
    let md_path = dir.path().join("idp-metadata.xml");
    std::fs::write(
        &md_path,
        idp_md
            .to_xml(&SamlId::new("_idpmd").unwrap(), Some(&signer))
            .unwrap(),
    )
    .unwrap();
    let base = serde_json::json!({
        "idp_metadata": md_path,
        "sp_entity_id": SP,
        "acs_url": ACS,
        "idp_entity_id": IDP,
        "relay_state": "/after/login?x=1&y=ü",
    });

    // pysaml2's SP metadata parses.
    let sp_md = SpMetadata::parse(run(&python, "sp-metadata", &base).as_bytes()).unwrap();
    assert_eq!(sp_md.entity_id, SP);

    // Its AuthnRequest arrives through the Redirect binding and validates.
    let ar: serde_json::Value =
        serde_json::from_str(&run(&python, "authn-request", &base)).unwrap();
    let msg =
        RedirectMessage::decode(ar["query"].as_str().unwrap(), &BindingLimits::default()).unwrap();
    assert_eq!(msg.kind, MessageKind::Request);
    assert_eq!(msg.relay_state.as_deref(), Some("/after/login?x=1&y=ü"));
    let request = AuthnRequest::parse(&msg.xml).unwrap();
    assert_eq!(request.id, ar["id"].as_str().unwrap());
    let now: DateTime<Utc> = std::time::SystemTime::now().into();
    let acs = request
        .validate(
            &sp_md,
            &RequestCheck {
                sso_urls: &["https://idp.example.org/sso"],
                now,
                max_skew: TimeDelta::minutes(3),
                signature: None,
            },
        )
        .unwrap();
    assert_eq!(acs.location, ACS);

    let good = Case {
        now,
        in_response_to: Some(&request.id),
        audience: SP,
        target: Some(SignTarget::Assertion),
        key: KEY,
    };
    let sp_initiated = response(&good, 1);
    let mut tampered_xml = String::from_utf8(
        idforge_saml::decode_post(&sp_initiated, &BindingLimits::default()).unwrap(),
    )
    .unwrap();
    tampered_xml = tampered_xml.replace(">admins<", ">root<");
    let tampered = base64_encode(tampered_xml.as_bytes());
    let cases = [
        (
            "sp-initiated",
            sp_initiated.clone(),
            Some(request.id.as_str()),
            false,
            None,
        ),
        (
            "sp-initiated-both-signed",
            response(
                &Case {
                    target: Some(SignTarget::Both),
                    ..good
                },
                2,
            ),
            Some(request.id.as_str()),
            false,
            None,
        ),
        (
            "idp-initiated",
            response(
                &Case {
                    in_response_to: None,
                    ..good
                },
                3,
            ),
            None,
            true,
            None,
        ),
        (
            "replayed",
            sp_initiated,
            None,
            false,
            Some("UnsolicitedResponse"),
        ),
        (
            "tampered",
            tampered,
            Some(request.id.as_str()),
            false,
            Some("SignatureError"),
        ),
        (
            "expired",
            response(
                &Case {
                    now: now - TimeDelta::hours(2),
                    ..good
                },
                4,
            ),
            Some(request.id.as_str()),
            false,
            Some("too old"),
        ),
        (
            "wrong-audience",
            response(
                &Case {
                    audience: "https://other-sp.example.org",
                    ..good
                },
                5,
            ),
            Some(request.id.as_str()),
            false,
            Some("AudienceRestrictions"),
        ),
        (
            "unsigned",
            response(
                &Case {
                    target: None,
                    ..good
                },
                6,
            ),
            Some(request.id.as_str()),
            false,
            Some("Signature missing"),
        ),
        (
            "wrong-key",
            response(
                &Case {
                    key: OTHER_KEY,
                    ..good
                },
                7,
            ),
            Some(request.id.as_str()),
            false,
            Some("SignatureError"),
        ),
    ];
    let mut req = base.clone();
    req["cases"] = cases
        .iter()
        .map(|(name, resp, outstanding, unsolicited, _)| {
            serde_json::json!({
                "name": name,
                "response": resp,
                "outstanding": outstanding,
                "allow_unsolicited": unsolicited,
            })
        })
        .collect();
    let results: Vec<serde_json::Value> =
        serde_json::from_str(&run(&python, "consume", &req)).unwrap();
    assert_eq!(results.len(), cases.len());
    for ((name, _, _, _, refusal), result) in cases.iter().zip(&results) {
        assert_eq!(result["name"], *name);
        assert_eq!(
            result["ok"].as_bool(),
            Some(refusal.is_none()),
            "{name}: {result}"
        );
        if let Some(reason) = refusal {
            let error = result["error"].as_str().unwrap();
            assert!(
                error.contains(reason),
                "{name}: refused for another reason: {error}"
            );
            eprintln!("{name}: refused as expected: {error}");
        } else {
            assert_eq!(result["name_id"], "alice-ø & <co>", "{name}");
            assert_eq!(
                result["name_id_format"],
                "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
            );
            assert_eq!(
                result["attributes"]["mail"],
                serde_json::json!(["alice@example.org"]),
                "{name}: {result}"
            );
            assert_eq!(
                result["attributes"]["eduPersonEntitlement"],
                serde_json::json!(["admins", "ops & <dev> \"ünïcode\""]),
                "{name}: {result}"
            );
        }
    }
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

const SP_KEY_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/other-key.pem");
const SP_CERT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/other-cert.pem");

#[test]
fn pysaml2_signed_authn_requests_verify() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let idp_md = IdpMetadata::with_base_url(
        IDP,
        "https://idp.example.org",
        Certificate::from_pem(CERT).unwrap(),
    );
    let md_path = dir.path().join("idp-metadata.xml");
    std::fs::write(
        &md_path,
        idp_md
            .to_xml(&SamlId::new("_idpmd").unwrap(), None)
            .unwrap(),
    )
    .unwrap();
    let mut base = serde_json::json!({
        "idp_metadata": md_path,
        "sp_entity_id": SP,
        "acs_url": ACS,
        "idp_entity_id": IDP,
        "relay_state": "rs 1+2",
        "sign": true,
        "sp_key": SP_KEY_PATH,
        "sp_cert": SP_CERT_PATH,
    });
    // The SP's signing key comes from its own metadata.
    let sp_md = SpMetadata::parse(run(&python, "sp-metadata", &base).as_bytes()).unwrap();
    assert!(sp_md.authn_requests_signed);
    let sp_key = sp_md
        .signing_certificates()
        .next()
        .unwrap()
        .verifying_key()
        .unwrap();
    let idp_key = Certificate::from_pem(CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    let limits = BindingLimits::default();

    // HTTP-Redirect, RSA-SHA256: the query signature verifies over the exact octets.
    let ar: serde_json::Value =
        serde_json::from_str(&run(&python, "authn-request", &base)).unwrap();
    let query = ar["query"].as_str().unwrap();
    let msg = RedirectMessage::decode(query, &limits).unwrap();
    let proof = msg.verify(&sp_key, false).unwrap();
    assert!(msg.verify(&idp_key, false).is_err());
    assert_eq!(msg.relay_state.as_deref(), Some("rs 1+2"));
    let request = AuthnRequest::parse(&msg.xml).unwrap();
    assert_eq!(request.id, ar["id"].as_str().unwrap());
    // The SP's metadata promises signed requests: an unverified one is refused.
    let mut check = RequestCheck {
        sso_urls: &["https://idp.example.org/sso"],
        now: std::time::SystemTime::now().into(),
        max_skew: TimeDelta::minutes(3),
        signature: None,
    };
    assert!(matches!(
        request.validate(&sp_md, &check),
        Err(idforge_saml::Error::Unsigned { .. })
    ));
    check.signature = Some(&proof);
    assert_eq!(request.validate(&sp_md, &check).unwrap().location, ACS);
    // Any change to the signed parameters breaks it.
    let tampered = query.replace("RelayState=rs", "RelayState=rt");
    assert_ne!(tampered, query);
    assert!(
        RedirectMessage::decode(&tampered, &limits)
            .unwrap()
            .verify(&sp_key, false)
            .is_err()
    );

    // HTTP-Redirect, RSA-SHA1: refused unless allowed.
    base["sigalg"] = "sha1".into();
    let ar: serde_json::Value =
        serde_json::from_str(&run(&python, "authn-request", &base)).unwrap();
    let msg = RedirectMessage::decode(ar["query"].as_str().unwrap(), &limits).unwrap();
    assert!(matches!(
        msg.verify(&sp_key, false),
        Err(idforge_saml::Error::AlgorithmNotAllowed { .. })
    ));
    msg.verify(&sp_key, true).unwrap();

    // HTTP-POST: enveloped signature on the AuthnRequest.
    base["sigalg"] = "sha256".into();
    base["binding"] = "post".into();
    let ar: serde_json::Value =
        serde_json::from_str(&run(&python, "authn-request", &base)).unwrap();
    let xml = idforge_saml::decode_post(ar["saml_request"].as_str().unwrap(), &limits).unwrap();
    let opts = idforge_saml::VerifyOptions::default();
    let (request, proof) = AuthnRequest::parse_signed(&xml, &sp_key, opts).unwrap();
    assert_eq!(request.id, ar["id"].as_str().unwrap());
    assert_eq!(proof.message_id(), request.id);
    assert!(AuthnRequest::parse_signed(&xml, &idp_key, opts).is_err());
}

#[test]
fn pysaml2_single_logout_both_ways() {
    use idforge_saml::Status;
    use idforge_saml::sign_enveloped;
    use idforge_saml::{LogoutRequest, LogoutResponse};

    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = Certificate::from_pem(CERT).unwrap();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let idp_md = IdpMetadata::with_base_url(IDP, "https://idp.example.org", cert.clone());
    let md_path = dir.path().join("idp-metadata.xml");
    std::fs::write(
        &md_path,
        idp_md
            .to_xml(&SamlId::new("_idpmd").unwrap(), None)
            .unwrap(),
    )
    .unwrap();
    let mut base = serde_json::json!({
        "idp_metadata": md_path,
        "sp_entity_id": SP,
        "acs_url": ACS,
        "idp_entity_id": IDP,
        "sp_key": SP_KEY_PATH,
        "sp_cert": SP_CERT_PATH,
        "name_id": "alice & co",
        "session_index": "_session1",
    });
    let sp_md = SpMetadata::parse(run(&python, "sp-metadata", &base).as_bytes()).unwrap();
    let sp_slo = &sp_md.single_logout_services[0].location;
    assert_eq!(sp_slo, &format!("{ACS}/slo"));
    let sp_key = sp_md
        .signing_certificates()
        .next()
        .unwrap()
        .verifying_key()
        .unwrap();
    let now: DateTime<Utc> = std::time::SystemTime::now().into();

    // SP-initiated: its signed Redirect LogoutRequest verifies and reads back.
    let lr: serde_json::Value =
        serde_json::from_str(&run(&python, "logout-request", &base)).unwrap();
    let msg =
        RedirectMessage::decode(lr["query"].as_str().unwrap(), &BindingLimits::default()).unwrap();
    msg.verify(&sp_key, false).unwrap();
    let request = LogoutRequest::parse(&msg.xml).unwrap();
    assert_eq!(request.id, lr["id"].as_str().unwrap());
    assert_eq!(request.name_id.value, "alice & co");
    assert_eq!(request.session_indexes, ["_session1"]);
    assert_eq!(request.issuer.as_deref(), Some(SP));

    // Our signed LogoutResponse is accepted by the SP.
    let mut doc = LogoutResponse::build(
        IDP,
        &SamlId::new("_lresp1").unwrap(),
        now,
        sp_slo,
        &request.id,
        &Status::success(),
    )
    .unwrap();
    let root = doc.root();
    sign_enveloped(
        &mut doc,
        root,
        &signer,
        Some(&cert),
        &SignOptions::default(),
    )
    .unwrap();
    base["logout_response"] = base64_encode(doc.to_xml().as_bytes()).into();
    let answer: serde_json::Value =
        serde_json::from_str(&run(&python, "logout-response", &base)).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["in_response_to"], request.id.as_str());

    // IdP-initiated: our signed LogoutRequest is understood by the SP.
    let mut doc = LogoutRequest::build(
        IDP,
        &SamlId::new("_lreq1").unwrap(),
        now,
        sp_slo,
        &NameId::new("alice & co", NameIdFormat::Persistent),
        Some("_session1"),
    )
    .unwrap();
    let root = doc.root();
    sign_enveloped(
        &mut doc,
        root,
        &signer,
        Some(&cert),
        &SignOptions::default(),
    )
    .unwrap();
    base["logout_request"] = base64_encode(doc.to_xml().as_bytes()).into();
    let answer: serde_json::Value =
        serde_json::from_str(&run(&python, "idp-logout-request", &base)).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["name_id"], "alice & co");
    assert_eq!(answer["session_indexes"], serde_json::json!(["_session1"]));

    // Signed with a key the SP does not trust: refused.
    let other = Forger(RsaSigner::from_pem(OTHER_KEY).unwrap());
    let mut doc = LogoutRequest::build(
        IDP,
        &SamlId::new("_lreq2").unwrap(),
        now,
        sp_slo,
        &NameId::new("alice & co", NameIdFormat::Persistent),
        None,
    )
    .unwrap();
    let root = doc.root();
    sign_enveloped(&mut doc, root, &other, Some(&cert), &SignOptions::default()).unwrap();
    base["logout_request"] = base64_encode(doc.to_xml().as_bytes()).into();
    let answer: serde_json::Value =
        serde_json::from_str(&run(&python, "idp-logout-request", &base)).unwrap();
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("IncorrectlySigned"),
        "{answer}"
    );

    // A LogoutResponse signed with an untrusted key: refused as well.
    let mut doc = LogoutResponse::build(
        IDP,
        &SamlId::new("_lresp2").unwrap(),
        now,
        sp_slo,
        &request.id,
        &Status::success(),
    )
    .unwrap();
    let root = doc.root();
    sign_enveloped(&mut doc, root, &other, Some(&cert), &SignOptions::default()).unwrap();
    base["logout_response"] = base64_encode(doc.to_xml().as_bytes()).into();
    let answer: serde_json::Value =
        serde_json::from_str(&run(&python, "logout-response", &base)).unwrap();
    assert_eq!(answer["ok"], false, "{answer}");
    eprintln!("wrong-key LogoutResponse refused: {}", answer["error"]);
}
