//! The web IdP in-process: its axum router driven request by request (a small cookie-keeping
//! client), over a real SQLite store (and PostgreSQL for two instances), with the AWS response
//! checked as STS reads it and verified by `xmlsec1`.
//!
//! The browser flows run in `idp_browser.rs`; these tests pin what a browser cannot show:
//! headers, CSRF, handoffs, relay states, restarts, two instances, re-branding.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::missing_panics_doc
)]

#[path = "support/postgres.rs"]
mod postgres;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use http_body_util::BodyExt as _;
use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::idp::Idp;
use idforge_examples::notify::MemoryNotifier;
use idforge_examples::service::Service;
use idforge_examples::store::{NewFactor, NewUser};
use idforge_otp::{Algorithm, Digits, Secret, Totp};
use idforge_otp::{YubicoCounters, YubicoKey, YubicoToken};
use idforge_saml::{MessageKind, encode_redirect};
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery";
const SP_ENTITY: &str = "https://sp.example.org/metadata";
const SP_ACS: &str = "https://sp.example.org/acs";

struct Fixture {
    dir: tempfile::TempDir,
    text: String,
    secret: Secret,
}

/// Keys, configuration text (with `extra` appended) and a store with alice (Staff, Admins,
/// TOTP) and bob (no group, no factor).
async fn fixture(store_url: Option<&str>, extra: &str) -> (Fixture, Arc<Service>) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = idforge_saml::create_self_signed(
        &mut rand::rng(),
        "idp.test",
        Utc::now() - TimeDelta::minutes(5),
        TimeDelta::days(30),
    )
    .unwrap();
    std::fs::write(dir.path().join("idp-key.pem"), key.as_str()).unwrap();
    std::fs::write(dir.path().join("idp-cert.pem"), cert.to_pem()).unwrap();
    let d = dir.path().display();
    let url = store_url.map_or_else(|| format!("sqlite://{d}/idforge.db"), str::to_owned);
    let store_key = Key::generate().unwrap().to_base64();
    let text = format!(
        r#"data_dir = "{d}"
groups = ["Staff", "Admins", "Contractors"]

[store]
url = "{url}"
encryption_key = "{}"

[idp]
base_url = "https://idp.example.org"
signing_key = "file:{d}/idp-key.pem"
certificate = "{d}/idp-cert.pem"
trusted_proxies = ["10.0.0.1"]
login_rate_per_minute = 1000

[[apps]]
id = "aws-console"
name = "AWS console"
kind = "aws"
session_duration_secs = 3600
principal_tags = {{ Email = "email" }}

[[apps.roles]]
group = "Staff"
role_arn = "arn:aws:iam::123456789012:role/readonly"
provider_arn = "arn:aws:iam::123456789012:saml-provider/idforge"

[[apps.roles]]
group = "Contractors"
role_arn = "arn:aws:iam::123456789012:role/contractor"
provider_arn = "arn:aws:iam::123456789012:saml-provider/idforge"

[[apps]]
id = "wiki"
name = "Wiki"
kind = "saml"
entity_id = "{SP_ENTITY}"
acs_url = "{SP_ACS}"
relay_states = ["https://sp.example.org/start", "https://sp.example.org/other"]

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "backup_code"]
{extra}"#,
        store_key.as_str()
    );
    let f = Fixture {
        dir,
        text,
        secret: Secret::from_bytes(b"alice's 20-byte key!").unwrap(),
    };
    let service = f.service().await;
    let s = service.store();
    let alice = s
        .create_user(&NewUser {
            name: "alice".into(),
            email: Some("alice@example.org".into()),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    s.set_password_hash(alice.id, &service.hasher().hash_new(PASSWORD).unwrap())
        .await
        .unwrap();
    s.add_member("alice", "Staff").await.unwrap();
    s.add_member("alice", "Admins").await.unwrap();
    s.add_factor(alice.id, &NewFactor::totp("phone", &f.secret))
        .await
        .unwrap();
    let bob = s
        .create_user(&NewUser {
            name: "bob".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    s.set_password_hash(bob.id, &service.hasher().hash_new(PASSWORD).unwrap())
        .await
        .unwrap();
    (f, service)
}

impl Fixture {
    fn config(&self) -> Config {
        Config::from_toml(&self.text, "idp-test.toml").unwrap()
    }

    /// A new service on the same store (another instance, or after a restart).
    async fn service(&self) -> Arc<Service> {
        let config = self.config();
        let store = idforge_examples::service::open_store(&config)
            .await
            .unwrap();
        Arc::new(
            Service::with_store(config, store, Arc::new(MemoryNotifier::default()))
                .await
                .unwrap(),
        )
    }

    /// The code for `offset` steps from now.
    fn code(&self, offset: i64) -> String {
        let now = Utc::now().timestamp() + offset * 30;
        Totp::new(&self.secret, Algorithm::Sha1, Digits::SIX, 30)
            .unwrap()
            .generate(u64::try_from(now).unwrap())
            .unwrap()
            .to_string()
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn csrf(&self) -> String {
        field(&self.body, "csrf").unwrap_or_else(|| panic!("no csrf in {}", self.body))
    }
}

/// The value of the hidden input `name` (HTML-unescaped for the characters templates escape).
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

/// A browser: the router, its cookies and its address.
struct Browser {
    router: Router,
    cookies: BTreeMap<String, String>,
    peer: SocketAddr,
    forwarded: Option<String>,
}

impl Browser {
    fn new(idp: &Idp) -> Browser {
        Browser {
            router: idp.router(),
            cookies: BTreeMap::new(),
            peer: "198.51.100.20:40000".parse().unwrap(),
            forwarded: None,
        }
    }

    async fn send(&mut self, mut req: Request<Body>) -> Answer {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        if !self.cookies.is_empty() {
            let cookie: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.headers_mut()
                .insert(header::COOKIE, cookie.join("; ").parse().unwrap());
        }
        if let Some(f) = &self.forwarded {
            req.headers_mut()
                .insert("x-forwarded-for", f.parse().unwrap());
        }
        let resp = self.router.clone().oneshot(req).await.unwrap();
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            if c.max_age() == Some(cookie::time::Duration::ZERO) {
                self.cookies.remove(c.name());
            } else {
                self.cookies
                    .insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded_pairs(form);
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// The password step alone.
    async fn password(&mut self, user: &str) -> Answer {
        let page = self.get("/login").await;
        self.post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", user),
                ("password", PASSWORD),
            ],
        )
        .await
    }

    /// Password, then (when a code is given and asked for) the code: ends on the dashboard
    /// or a response page.
    async fn login(&mut self, user: &str, code: Option<&str>) -> Answer {
        let a = self.password(user).await;
        if a.location() != "/login/mfa" || code.is_none() {
            return a;
        }
        let mfa = self.get("/login/mfa").await;
        self.post(
            "/login/mfa",
            &[("csrf", &mfa.csrf()), ("code", code.unwrap_or(""))],
        )
        .await
    }
}

fn serde_urlencoded_pairs(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC),
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decode_response(page: &Answer) -> String {
    let value = field(&page.body, "SAMLResponse").unwrap_or_else(|| panic!("{}", page.body));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
    )
    .unwrap()
}

fn xmlsec1_available() -> bool {
    let ok = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "xmlsec1 is required in CI"
        );
        eprintln!("SKIP: xmlsec1 not installed; signature not checked by it");
    }
    ok
}

#[tokio::test]
async fn aws_console_response_is_what_sts_reads_and_verifies_with_xmlsec1() {
    let (f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let dash = b.login("alice", Some(&f.code(0))).await;
    assert_eq!(dash.location(), "/", "{}", dash.body);
    let dash = b.get("/").await;
    assert!(dash.body.contains("data-app=\"aws-console\""));
    let page = b
        .post("/apps/aws-console/launch", &[("csrf", &dash.csrf())])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        field(&page.body, "RelayState").as_deref(),
        Some("https://console.aws.amazon.com/")
    );
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' https://signin.aws.amazon.com"),
        "{csp}"
    );
    let xml = decode_response(&page);
    // What STS's AssumeRoleWithSAML reads.
    assert!(xml.contains(r#"Destination="https://signin.aws.amazon.com/saml""#));
    assert!(xml.contains(r#"Recipient="https://signin.aws.amazon.com/saml""#));
    assert!(xml.contains("<saml:Audience>urn:amazon:webservices</saml:Audience>"));
    assert!(xml.contains(
        "<saml:AttributeValue>arn:aws:iam::123456789012:role/readonly,arn:aws:iam::123456789012:saml-provider/idforge</saml:AttributeValue>"
    ), "{xml}");
    assert!(
        !xml.contains("role/contractor"),
        "a role of a group alice is not in"
    );
    assert!(xml.contains(
        r#"Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>alice@example.org</saml:AttributeValue>"#
    ), "{xml}");
    assert!(xml.contains(
        r#"Name="https://aws.amazon.com/SAML/Attributes/SessionDuration" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>3600</saml:AttributeValue>"#
    ), "{xml}");
    assert!(xml.contains("https://aws.amazon.com/SAML/Attributes/PrincipalTag:Email"));
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken"));
    if xmlsec1_available() {
        let path = f.dir.path().join("aws-response.xml");
        std::fs::write(&path, &xml).unwrap();
        let o = Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(f.dir.path().join("idp-cert.pem"))
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A changed role does not verify.
        let forged = xml.replace("role/readonly", "role/admin");
        std::fs::write(&path, forged).unwrap();
        let o = Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(f.dir.path().join("idp-cert.pem"))
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!o.status.success());
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_secure_cookies() {
    let (_f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let page = b.get("/login").await;
    let h = &page.headers;
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert!(h.contains_key(header::STRICT_TRANSPORT_SECURITY));
    let cookies: Vec<&str> = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-idforge_session="))
        .unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    // Labels for every input.
    for id in ["username", "password"] {
        assert!(page.body.contains(&format!("<label for=\"{id}\">")));
    }
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    let (f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    b.get("/login").await;
    for token in ["", "forged-token"] {
        let a = b
            .post(
                "/login",
                &[
                    ("csrf", token),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("This form has expired"));
    }
    // Signed in, a forged logout does not end the session, nor a forged launch sign in.
    b.login("alice", Some(&f.code(0))).await;
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    assert_eq!(
        b.post("/logout", &[("csrf", "nope")]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post("/apps/wiki/launch", &[("csrf", "nope")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let dash = b.get("/").await;
    assert_eq!(dash.status, StatusCode::OK);
    let out = b.post("/logout", &[("csrf", &dash.csrf())]).await;
    assert!(out.body.contains("You are signed out"));
    assert_eq!(b.get("/").await.location(), "/login");
    assert!(
        idp.metrics_text()
            .await
            .contains("idforge_idp_csrf_failures_total 4")
    );
}

#[tokio::test]
async fn the_session_token_changes_at_login_and_the_old_one_is_void() {
    let (f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    b.get("/login").await;
    let before = b.cookies["__Host-idforge_session"].clone();
    b.login("alice", Some(&f.code(0))).await;
    let after = b.cookies["__Host-idforge_session"].clone();
    assert_ne!(before, after);
    let mut attacker = Browser::new(&idp);
    attacker
        .cookies
        .insert("__Host-idforge_session".into(), before);
    assert_eq!(attacker.get("/").await.location(), "/login");
}

#[tokio::test]
async fn relay_states_outside_the_apps_list_are_refused() {
    let (f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    b.login("alice", Some(&f.code(0))).await;
    let dash = b.get("/").await;
    let csrf = dash.csrf();
    for evil in ["https://evil.example/", "https://sp.example.org/start.evil"] {
        let a = b
            .post(
                "/apps/wiki/launch",
                &[("csrf", &csrf), ("relay_state", evil)],
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{evil}");
    }
    let ok = b
        .post(
            "/apps/wiki/launch",
            &[
                ("csrf", &csrf),
                ("relay_state", "https://sp.example.org/other"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        field(&ok.body, "RelayState").as_deref(),
        Some("https://sp.example.org/other")
    );
    // The default is the first configured one.
    let default = b.post("/apps/wiki/launch", &[("csrf", &csrf)]).await;
    assert_eq!(
        field(&default.body, "RelayState").as_deref(),
        Some("https://sp.example.org/start")
    );
    // An unknown app.
    let none = b.post("/apps/nope/launch", &[("csrf", &csrf)]).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

fn authn_request(id: &str, issuer: &str, acs: &str, instant: chrono::DateTime<Utc>) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="https://idp.example.org/saml/sso" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"#,
        instant.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[tokio::test]
async fn sp_initiated_post_binding_is_handed_over_to_the_browser_session() {
    let (f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let xml = authn_request("_req-post-1", SP_ENTITY, SP_ACS, Utc::now());
    let encoded = base64::engine::general_purpose::STANDARD.encode(&xml);
    let a = b
        .post(
            "/saml/sso",
            &[("SAMLRequest", &encoded), ("RelayState", "opaque-sp-state")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let handoff = a.location().to_owned();
    assert!(handoff.starts_with("/saml/continue?h="), "{handoff}");
    let c = b.get(&handoff).await;
    assert_eq!(c.location(), "/login");
    // The handoff works once.
    let mut other = Browser::new(&idp);
    assert_eq!(other.get(&handoff).await.status, StatusCode::BAD_REQUEST);
    let login = b.get("/login").await;
    assert!(login.body.contains("to continue to"), "{}", login.body);
    let page = b.login("alice", Some(&f.code(0))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("action=\"https:&#x2f;&#x2f;sp.example.org&#x2f;acs\"")
    );
    assert_eq!(
        field(&page.body, "RelayState").as_deref(),
        Some("opaque-sp-state")
    );
    let response = decode_response(&page);
    assert!(response.contains(r#"InResponseTo="_req-post-1""#));
    assert!(response.contains(&format!("<saml:Audience>{SP_ENTITY}</saml:Audience>")));
}

#[tokio::test]
async fn bad_authn_requests_are_refused() {
    let (_f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let cases = [
        authn_request("_r1", "https://unknown.example/sp", SP_ACS, Utc::now()),
        authn_request("_r2", SP_ENTITY, SP_ACS, Utc::now() - TimeDelta::hours(1)),
        authn_request("_r3", SP_ENTITY, "https://evil.example/acs", Utc::now()),
    ];
    for xml in cases {
        let q = encode_redirect(MessageKind::Request, xml.as_bytes(), None, None).unwrap();
        let a = b.get(&format!("/saml/sso?{q}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{xml}");
    }
    assert_eq!(b.get("/saml/sso").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        b.get("/saml/sso?SAMLRequest=%%%").await.status,
        StatusCode::BAD_REQUEST
    );
    let garbage = b
        .post("/saml/sso", &[("SAMLRequest", "bm90IHhtbA==")])
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(
        idp.metrics_text()
            .await
            .contains("idforge_idp_saml_errors_total 6")
    );
}

#[tokio::test]
async fn a_password_only_portal_login_steps_up_for_an_app_that_needs_a_code() {
    let extra = r#"
[[policy.policies]]
name = "portal-password-only"
applications = ["portal"]
groups = ["Staff"]
first_factor = "local_password"
second_factor = "none"
"#;
    let (f, service) = fixture(None, extra).await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let a = b.login("alice", None).await;
    assert_eq!(a.location(), "/", "password alone opens the portal");
    let dash = b.get("/").await;
    let step = b.post("/apps/wiki/launch", &[("csrf", &dash.csrf())]).await;
    assert_eq!(step.location(), "/login/mfa");
    let mfa = b.get("/login/mfa").await;
    let page = b
        .post("/login/mfa", &[("csrf", &mfa.csrf()), ("code", &f.code(0))])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(decode_response(&page).contains("TimeSyncToken"));
    // The session now has its second factor: the next app needs no code.
    let dash = b.get("/").await;
    let again = b
        .post("/apps/aws-console/launch", &[("csrf", &dash.csrf())])
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(field(&again.body, "SAMLResponse").is_some());
}

#[tokio::test]
async fn an_app_without_groups_admits_everyone_and_unknown_users_hear_wrong_password() {
    let (_f, service) = fixture(None, "").await;
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    let mut b = Browser::new(&idp);
    let xml = authn_request("_r-bob", SP_ENTITY, SP_ACS, Utc::now());
    // The wiki has no groups: bob's login goes on to enrolment (no factor yet)...
    let q = encode_redirect(MessageKind::Request, xml.as_bytes(), None, None).unwrap();
    b.get(&format!("/saml/sso?{q}")).await;
    let a = b.login("bob", None).await;
    assert_eq!(a.location(), "/enroll");
    // An unknown user is told what a wrong password is told; the audit says why.
    let mut c = Browser::new(&idp);
    let a = c.password("nobody").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("password is wrong"));
    let tail = service
        .store()
        .audit_tail(10, Some("nobody"))
        .await
        .unwrap();
    assert!(
        tail.iter()
            .any(|e| e.reasons.iter().any(|r| r.contains("unknown user")))
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let extra = r#"
[[adaptive.networks]]
name = "blocked"
action = "block"
ranges = ["203.0.113.0/24"]
"#;
    let (_f, service) = fixture(None, extra).await;
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    // From an untrusted peer the header is ignored: the password is checked, no block.
    let mut direct = Browser::new(&idp);
    direct.forwarded = Some("203.0.113.9".into());
    let a = direct.password("alice").await;
    assert_eq!(a.location(), "/login/mfa", "{}", a.body);
    // Through the trusted proxy the client's address is the forwarded one: blocked.
    let mut proxied = Browser::new(&idp);
    proxied.peer = "10.0.0.1:5000".parse().unwrap();
    proxied.forwarded = Some("198.51.100.1, 203.0.113.9".into());
    let a = proxied.password("alice").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let tail = service.store().audit_tail(5, Some("alice")).await.unwrap();
    assert_eq!(tail[0].source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(tail[0].result, "deny");
}

#[tokio::test]
async fn login_posts_over_the_rate_limit_are_refused() {
    let (_f, service) = fixture(None, "").await;
    let mut config = service.config().clone();
    config.idp.login_rate_per_minute = 2;
    let store = service.store().clone();
    let service = Arc::new(
        Service::with_store(config, store, Arc::new(MemoryNotifier::default()))
            .await
            .unwrap(),
    );
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let page = b.get("/login").await;
        let a = b
            .post(
                "/login",
                &[
                    ("csrf", &page.csrf()),
                    ("username", "alice"),
                    ("password", "wrong"),
                ],
            )
            .await;
        statuses.push(a.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn sessions_and_enrolments_survive_a_restart() {
    let (f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    // bob enrols at his first login, then the server restarts.
    let a = b.login("bob", None).await;
    assert_eq!(a.location(), "/enroll");
    let page = b.get("/enroll").await;
    let secret = page
        .body
        .split("id=\"totp-secret\" class=\"secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .replace(' ', "");
    let secret = Secret::from_base32(&secret).unwrap();
    let totp = Totp::new(&secret, Algorithm::Sha1, Digits::SIX, 30).unwrap();
    let now = u64::try_from(Utc::now().timestamp()).unwrap();
    let done = b
        .post(
            "/enroll",
            &[
                ("csrf", &page.csrf()),
                ("code", &totp.generate(now).unwrap().to_string()),
            ],
        )
        .await;
    assert_eq!(done.location(), "/");
    drop(idp);
    let restarted = Idp::new(f.service().await).await.unwrap();
    b.router = restarted.router();
    let dash = b.get("/").await;
    assert_eq!(dash.status, StatusCode::OK, "the session survived");
    assert!(
        dash.body.contains("Authenticator app (TOTP)"),
        "the enrolment survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgresql_share_sessions_and_refuse_a_code_used_on_the_other() {
    let Some(pg) = postgres::Postgres::start("idp_two_instances") else {
        return;
    };
    let url = pg.new_database("idforge");
    let (f, service_a) = fixture(Some(&url), "").await;
    let a = Idp::new(service_a).await.unwrap();
    let b = Idp::new(f.service().await).await.unwrap();
    assert_eq!(
        b.service().store().backend(),
        idforge_examples::store::Backend::Postgres
    );
    // Password on instance A, code on instance B, SSO on A again.
    let mut browser = Browser::new(&a);
    let r = browser.password("alice").await;
    assert_eq!(r.location(), "/login/mfa");
    browser.router = b.router();
    let mfa = browser.get("/login/mfa").await;
    let code = f.code(0);
    let r = browser
        .post("/login/mfa", &[("csrf", &mfa.csrf()), ("code", &code)])
        .await;
    assert_eq!(r.location(), "/");
    browser.router = a.router();
    let dash = browser.get("/").await;
    let sso = browser
        .post("/apps/wiki/launch", &[("csrf", &dash.csrf())])
        .await;
    assert_eq!(sso.status, StatusCode::OK);
    // The same code on instance A, in another browser: a replay.
    let mut second = Browser::new(&a);
    let r = second.login("alice", Some(&code)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("code was not accepted"));
}

#[tokio::test]
async fn operators_rebrand_texts_logo_and_templates_without_recompiling() {
    let (f, _service) = fixture(None, "").await;
    let brand = f.dir.path().join("brand");
    std::fs::create_dir_all(brand.join("static")).unwrap();
    std::fs::write(
        brand.join("texts.toml"),
        "product = \"Acme SSO\"\nsign_in = \"Continue\"\n",
    )
    .unwrap();
    std::fs::write(brand.join("static/logo.svg"), "<svg id=\"acme\"/>").unwrap();
    std::fs::write(
        brand.join("message.html"),
        "{% extends \"base.html\" %}{% block content %}<p id=\"acme-message\">{{ detail }}</p>{% endblock %}",
    )
    .unwrap();
    let mut config = f.config();
    config.idp.templates_dir = Some(brand.clone());
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let service = Arc::new(
        Service::with_store(config.clone(), store, Arc::new(MemoryNotifier::default()))
            .await
            .unwrap(),
    );
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    let mut b = Browser::new(&idp);
    let login = b.get("/login").await;
    assert!(login.body.contains("Acme SSO"));
    assert!(login.body.contains(">Continue</button>"));
    assert_eq!(b.get("/static/logo.svg").await.body, "<svg id=\"acme\"/>");
    assert!(b.get("/nowhere").await.body.contains("id=\"acme-message\""));
    // A text the pages do not have is a start-up error, not a silent no-op.
    std::fs::write(brand.join("texts.toml"), "sign_inn = \"typo\"\n").unwrap();
    let err = Idp::new(service).await.unwrap_err().to_string();
    assert!(err.contains("unknown text `sign_inn`"), "{err}");
    assert!(Path::new(&brand).exists());
}

#[tokio::test]
async fn metadata_health_and_metrics_endpoints() {
    let (_f, service) = fixture(None, "").await;
    let idp = Idp::new(service).await.unwrap();
    let mut b = Browser::new(&idp);
    let md = b.get("/saml/metadata").await;
    assert_eq!(
        md.headers[header::CONTENT_TYPE],
        "application/samlmetadata+xml"
    );
    assert!(
        md.body
            .contains(r#"entityID="https://idp.example.org/saml/metadata""#)
    );
    assert!(
        md.body
            .contains(r#"Location="https://idp.example.org/saml/sso""#)
    );
    assert!(md.body.contains("<ds:Signature"));
    assert_eq!(b.get("/healthz").await.body, "ok\n");
    let m = b.get("/metrics").await;
    assert!(
        m.body
            .contains("idforge_idp_request_duration_seconds_count")
    );
    assert!(m.body.contains("idforge_idp_sessions "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_configured_certificate() {
    let (f, _service) = fixture(None, "").await;
    let mut config = f.config();
    config.idp.tls_certificate = Some(f.dir.path().join("idp-cert.pem"));
    config.idp.tls_key = Some(idforge_examples::secret::SecretValue::parse(&format!(
        "file:{}",
        f.dir.path().join("idp-key.pem").display()
    )));
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let service = Arc::new(
        Service::with_store(config, store, Arc::new(MemoryNotifier::default()))
            .await
            .unwrap(),
    );
    let idp = Idp::new(service).await.unwrap();
    assert!(idp.is_tls());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(idp.serve(listener, async {
        let _ = stopped.await;
    }));
    // Python's ssl module as the client: the handshake, the certificate served, a request.
    let script = format!(
        r#"
import ssl, socket, urllib.request
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", {port})) as raw:
    with ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
        print("version", tls.version())
print("cert", ssl.DER_cert_to_PEM_cert(der).replace("\n", ""))
with urllib.request.urlopen("https://127.0.0.1:{port}/healthz", context=ctx) as r:
    print("status", r.status, r.read().decode().strip())
"#
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("status 200 ok"), "{text}");
    assert!(text.contains("version TLSv1.3"), "{text}");
    let ours: String = std::fs::read_to_string(f.dir.path().join("idp-cert.pem"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(text.replace('\n', "").contains(&ours), "{text}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_admin_cli_ends_web_sessions_on_logout_disable_and_new_password() {
    let (f, service) = fixture(None, "\n[otp]\ntotp_ahead = 3\n").await;
    let idp = Idp::new(service).await.unwrap();
    let config = f.dir.path().join("idp-test.toml");
    std::fs::write(&config, &f.text).unwrap();
    let cli = |args: &[&str], stdin: &str| {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_idforge"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("IDFORGE_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    for (step, command) in [
        vec!["user", "logout", "alice"],
        vec!["user", "passwd", "alice"],
        vec!["user", "disable", "alice"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = Browser::new(&idp);
        let a = b
            .login("alice", Some(&f.code(i64::try_from(step).unwrap())))
            .await;
        assert_eq!(
            b.get("/").await.status,
            StatusCode::OK,
            "{command:?} {}",
            a.body
        );
        let out = cli(&command, &format!("{PASSWORD}\n"));
        assert!(out.contains("1 web session(s)"), "{command:?}: {out}");
        // The CLI is another process: its change reaches the server's cache through the
        // store's change feed, within the refresh interval (100 ms by default).
        let mut location = String::new();
        for _ in 0..30 {
            location = b.get("/").await.location().to_owned();
            if location == "/login" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(location, "/login", "{command:?}");
    }
}

/// IAM Identity Center's SP metadata as its console offers it for download (its shape: an
/// entity per instance, an ACS per region).
const IDENTITY_CENTER_SP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://us-east-1.signin.aws.amazon.com/platform/saml/d-9067a1b2c3">
  <md:SPSSODescriptor WantAssertionsSigned="true" AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://us-east-1.signin.aws.amazon.com/platform/saml/acs/4e2f1c8a-0b7d-4a36-9f12-3d5e6a7b8c9d" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#;

#[tokio::test]
async fn identity_center_gets_the_e_mail_address_as_name_id() {
    let (f, _service) = fixture(None, "").await;
    let md = f.dir.path().join("identity-center.xml");
    std::fs::write(&md, IDENTITY_CENTER_SP).unwrap();
    let text = f.text.replace(
        "[policy.default]",
        &format!(
            "[[apps]]\nid = \"identity-center\"\nname = \"AWS access portal\"\nkind = \"aws-identity-center\"\nmetadata_file = \"{}\"\n\n[policy.default]",
            md.display()
        ),
    );
    let config = Config::from_toml(&text, "ic.toml").unwrap();
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let service = Arc::new(
        Service::with_store(config, store, Arc::new(MemoryNotifier::default()))
            .await
            .unwrap(),
    );
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    let mut b = Browser::new(&idp);
    b.login("alice", Some(&f.code(0))).await;
    let dash = b.get("/").await;
    assert!(
        dash.body.contains("AWS IAM Identity Center"),
        "{}",
        dash.body
    );
    let page = b
        .post("/apps/identity-center/launch", &[("csrf", &dash.csrf())])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let xml = decode_response(&page);
    assert!(xml.contains(
        r#"Destination="https://us-east-1.signin.aws.amazon.com/platform/saml/acs/4e2f1c8a-0b7d-4a36-9f12-3d5e6a7b8c9d""#
    ));
    assert!(xml.contains(
        "<saml:Audience>https://us-east-1.signin.aws.amazon.com/platform/saml/d-9067a1b2c3</saml:Audience>"
    ));
    assert!(xml.contains(
        r#"Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@example.org</saml:NameID>"#
    ), "{xml}");
    // bob has no e-mail address: a clear refusal, not a response Identity Center would reject.
    service.store().add_member("bob", "Staff").await.unwrap();
    let bob_secret = Secret::from_bytes(b"bob's 20-byte secret").unwrap();
    let bob = service.store().user("bob").await.unwrap().unwrap();
    service
        .store()
        .add_factor(bob.id, &NewFactor::totp("phone", &bob_secret))
        .await
        .unwrap();
    let mut c = Browser::new(&idp);
    let now = u64::try_from(Utc::now().timestamp()).unwrap();
    let code = Totp::new(&bob_secret, Algorithm::Sha1, Digits::SIX, 30)
        .unwrap()
        .generate(now)
        .unwrap()
        .to_string();
    c.login("bob", Some(&code)).await;
    let dash = c.get("/").await;
    let refused = c
        .post("/apps/identity-center/launch", &[("csrf", &dash.csrf())])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("cannot accept your account"),
        "{}",
        refused.body
    );
    assert!(field(&refused.body, "SAMLResponse").is_none());
}

#[tokio::test]
async fn a_backup_code_signs_in_once_and_carries_the_session_to_further_apps() {
    let (_f, service) = fixture(None, "").await;
    let codes = idforge_examples::service::new_backup_codes().unwrap();
    let alice = service.store().user("alice").await.unwrap().unwrap();
    let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
    service
        .store()
        .replace_backup_codes(alice.id, &hashes)
        .await
        .unwrap();
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    let code = codes[3].0.clone();
    let mut b = Browser::new(&idp);
    let a = b.login("alice", Some(&code.to_uppercase())).await;
    assert_eq!(a.location(), "/", "{}", a.body);
    // The session passed a backup code: an app that allows them signs in without a code.
    let dash = b.get("/").await;
    let sso = b.post("/apps/wiki/launch", &[("csrf", &dash.csrf())]).await;
    assert_eq!(sso.status, StatusCode::OK);
    let mut again = Browser::new(&idp);
    let r = again.login("alice", Some(&code)).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a backup code works once"
    );
    let tail = service.store().audit_tail(3, Some("alice")).await.unwrap();
    assert!(
        tail.iter()
            .any(|e| e.factors.contains(&"backup_code:ok".to_owned()))
    );
}

/// A YubiKey (Yubico OTP) for a user: imported keys, sealed in the store.
async fn import_yubikey(service: &Service, public_id: &[u8], user: Option<&str>) -> YubicoKey {
    let key = YubicoKey::new(
        public_id,
        [0x11, 0x22, 0x33, 0x44, 0x55, public_id[0]],
        [public_id[1]; 16],
    )
    .unwrap();
    let mut secret = zeroize::Zeroizing::new(key.expose_private_id().to_vec());
    secret.extend_from_slice(key.expose_aes_key());
    let s = service.store();
    s.import_yubikeys(
        &[idforge_examples::store::NewYubikey {
            public_id: key.public_id_modhex(),
            label: "test key".into(),
            serial: None,
            secret,
        }],
        1,
    )
    .await
    .unwrap();
    if let Some(user) = user {
        let u = s.require_user(user).await.unwrap();
        assert!(
            s.assign_yubikey(&key.public_id_modhex(), Some(u.id), 2)
                .await
                .unwrap()
        );
    }
    key
}

fn yubico_otp(key: &YubicoKey, usage: u16, session: u8) -> String {
    key.generate(&YubicoToken {
        counters: YubicoCounters { usage, session },
        caps_lock: false,
        timestamp: 0x00_1234,
        random: 0xbeef,
    })
    .unwrap()
    .to_string()
}

#[tokio::test]
async fn a_yubikey_otp_signs_in_once_and_only_for_its_own_user() {
    let extra = r#"
[[policy.policies]]
name = "admins-use-yubikeys"
groups = ["Admins"]
first_factor = "local_password"
second_factor = "required"
methods = ["yubico_otp"]
"#;
    let (_f, service) = fixture(None, extra).await;
    let alices = import_yubikey(
        &service,
        &[0x10, 0x20, 0x30, 0x40, 0x50, 0x60],
        Some("alice"),
    )
    .await;
    let bobs = import_yubikey(&service, &[0x61, 0x51, 0x41, 0x31, 0x21, 0x11], Some("bob")).await;
    let spare = import_yubikey(&service, &[0x70, 0x71, 0x72, 0x73, 0x74, 0x75], None).await;
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();

    let mut b = Browser::new(&idp);
    let first = b.password("alice").await;
    assert_eq!(first.location(), "/login/mfa");
    let page = b.get("/login/mfa").await;
    assert!(page.body.contains("YubiKey"), "{}", page.body);
    let otp = yubico_otp(&alices, 3, 0);
    assert_eq!(otp.len(), 44);
    let a = b
        .post("/login/mfa", &[("csrf", &page.csrf()), ("code", &otp)])
        .await;
    assert_eq!(a.location(), "/", "{}", a.body);

    // The same OTP again, an older one, another user's key and an unassigned key: refused.
    for (what, code) in [
        ("replayed", otp.clone()),
        ("older", yubico_otp(&alices, 2, 9)),
        ("bob's key", yubico_otp(&bobs, 5, 0)),
        ("unassigned", yubico_otp(&spare, 5, 0)),
    ] {
        let mut other = Browser::new(&idp);
        let r = other.login("alice", Some(&code)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
    }
    // A newer one (the next touch) works.
    let mut again = Browser::new(&idp);
    let r = again.login("alice", Some(&yubico_otp(&alices, 3, 1))).await;
    assert_eq!(r.location(), "/", "{}", r.body);

    let tail = service.store().audit_tail(10, Some("alice")).await.unwrap();
    let text = format!("{tail:?}");
    assert!(text.contains("yubico_otp:ok"), "{text}");
    assert!(text.contains("otp:replayed"), "{text}");
    assert!(text.contains("is not assigned to this user"), "{text}");
}

const TRUST: &str = "__Host-idforge_trust";

#[tokio::test]
async fn a_remembered_browser_skips_the_code_only_for_its_user_until_forgotten() {
    let (f, service) = fixture(None, "remember_device_days = 30\n").await;
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    let mut b = Browser::new(&idp);
    assert_eq!(b.password("alice").await.location(), "/login/mfa");
    let mfa = b.get("/login/mfa").await;
    assert!(
        mfa.body.contains("Remember this browser for 30 days"),
        "{}",
        mfa.body
    );
    let a = b
        .post(
            "/login/mfa",
            &[
                ("csrf", &mfa.csrf()),
                ("code", &f.code(0)),
                ("remember", "1"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/", "{}", a.body);
    let set = a
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(TRUST))
        .expect("a remembered-browser cookie");
    assert!(set.contains("HttpOnly") && set.contains("Secure"), "{set}");
    assert!(set.contains("Max-Age=2592000"), "{set}");
    let cookie = b.cookies[TRUST].clone();

    // Signed out and back: the password alone, in this browser.
    let dash = b.get("/").await;
    assert!(dash.body.contains("Remembered browsers"), "{}", dash.body);
    b.post("/logout", &[("csrf", &dash.csrf())]).await;
    assert_eq!(b.password("alice").await.location(), "/");

    // Another browser still needs the code.
    let mut other = Browser::new(&idp);
    assert_eq!(other.password("alice").await.location(), "/login/mfa");
    // Alice's cookie does nothing for bob (who has no factor: he is sent to enrol).
    let mut bob = Browser::new(&idp);
    bob.cookies.insert(TRUST.into(), cookie.clone());
    assert_ne!(bob.password("bob").await.location(), "/");
    // An altered cookie (a later expiry) is refused.
    let mut forged = Browser::new(&idp);
    let mut parts: Vec<&str> = cookie.split('.').collect();
    let later = (parts[1].parse::<i64>().unwrap() + 86_400).to_string();
    parts[1] = &later;
    forged.cookies.insert(TRUST.into(), parts.join("."));
    assert_eq!(forged.password("alice").await.location(), "/login/mfa");

    // Forgotten from the dashboard: the code is asked again.
    let dash = b.get("/").await;
    let id = cookie.split('.').next().unwrap();
    let forgot = b
        .post(
            "/trusted-devices/forget",
            &[("csrf", &dash.csrf()), ("id", id)],
        )
        .await;
    assert!(
        forgot.body.contains("ask for your second step again"),
        "{}",
        forgot.body
    );
    b.post("/logout", &[("csrf", &forgot.csrf())]).await;
    assert_eq!(b.password("alice").await.location(), "/login/mfa");

    let tail = service.store().audit_tail(30, Some("alice")).await.unwrap();
    let text = format!("{tail:?}");
    assert!(text.contains("trusted_device:remembered:"), "{text}");
    assert!(text.contains(&format!("trusted_device:{id}")), "{text}");
}

#[tokio::test]
async fn a_remembered_browser_expires_and_an_administrator_can_revoke_it() {
    let (f, service) = fixture(None, "remember_device_days = 7\n").await;
    let login = |now: u64| {
        let service = Arc::clone(&service);
        async move {
            let r = idforge_examples::service::AuthRequest {
                username: "alice",
                application: "portal",
                source_ip: "198.51.100.20".parse().unwrap(),
                source_is_client: true,
                device: Some("laptop"),
                front_door: idforge_examples::service::FrontDoor::Web,
                now,
                first_factor: idforge_examples::service::FirstFactorInput::Password(PASSWORD),
                code: None,
            };
            match service.authenticate(&r).await.unwrap() {
                idforge_examples::service::Outcome::NeedSecondFactor(p) => p,
                other => panic!("{other:?}"),
            }
        }
    };
    let t0 = u64::try_from(Utc::now().timestamp()).unwrap();
    let first = login(t0).await;
    let remembered = service.remember_browser(&first, t0).await.unwrap().unwrap();
    assert_eq!(remembered.max_age_secs, 7 * 86_400);
    let within = service
        .complete_with_remembered_browser(login(t0 + 86_400).await, &remembered.cookie, t0 + 86_400)
        .await
        .unwrap();
    assert!(
        matches!(within, Some(idforge_examples::service::Outcome::Accept(_))),
        "{within:?}"
    );
    let after = t0 + 7 * 86_400 + 1;
    let expired = service
        .complete_with_remembered_browser(login(after).await, &remembered.cookie, after)
        .await
        .unwrap();
    assert!(expired.is_none(), "expired");
    // Revoked by an administrator (a second remembered browser).
    let second = service
        .remember_browser(&login(t0 + 10).await, t0 + 10)
        .await
        .unwrap()
        .unwrap();
    let id = second.cookie.split('.').next().unwrap();
    let config = f.dir.path().join("idp-test.toml");
    std::fs::write(&config, &f.text).unwrap();
    let cli = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_idforge"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("IDFORGE_CONFIG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let listed: serde_json::Value =
        serde_json::from_str(&cli(&["--json", "device", "list", "alice"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(cli(&["device", "revoke", id]).contains("revoked"));
    let revoked = service
        .complete_with_remembered_browser(login(t0 + 30).await, &second.cookie, t0 + 30)
        .await
        .unwrap();
    assert!(revoked.is_none(), "revoked");
}

#[tokio::test]
async fn the_security_page_removes_a_factor_only_after_reauthentication_and_changes_the_password() {
    let (f, service) = fixture(None, "\n[otp]\ntotp_ahead = 3\n").await;
    let idp = Idp::new(Arc::clone(&service)).await.unwrap();
    let mut elsewhere = Browser::new(&idp);
    assert_eq!(
        elsewhere.login("alice", Some(&f.code(0))).await.location(),
        "/"
    );
    let mut b = Browser::new(&idp);
    assert_eq!(b.login("alice", Some(&f.code(1))).await.location(), "/");
    let page = b.get("/security").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("phone (TOTP)"), "{}", page.body);
    assert!(page.body.contains("id=\"signins\""), "{}", page.body);
    assert!(
        !page.body.contains("action=\"/security/remove\""),
        "no removal before re-authentication"
    );
    let alice = service.store().user("alice").await.unwrap().unwrap();
    let factor = service.store().factors_of(alice.id).await.unwrap()[0]
        .id
        .clone();

    let early = b
        .post(
            "/security/remove",
            &[("csrf", &page.csrf()), ("factor", &factor)],
        )
        .await;
    assert_eq!(early.status, StatusCode::FORBIDDEN);
    let wrong = b
        .post(
            "/security/reauth",
            &[("csrf", &page.csrf()), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // The code used at the login is spent: a re-authentication needs a fresh one.
    let replayed = b
        .post(
            "/security/reauth",
            &[("csrf", &page.csrf()), ("code", &f.code(1))],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    let ok = b
        .post(
            "/security/reauth",
            &[("csrf", &page.csrf()), ("code", &f.code(2))],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("action=\"/security/remove\""));
    let removed = b
        .post(
            "/security/remove",
            &[("csrf", &page.csrf()), ("factor", &factor)],
        )
        .await;
    assert!(
        removed.body.contains("The factor was removed"),
        "{}",
        removed.body
    );
    assert!(
        service
            .store()
            .factors_of(alice.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Password: wrong current, mismatch, then a change that ends the other session only.
    let page = b.get("/security").await;
    let csrf = page.csrf();
    let wrong = b
        .post(
            "/security/password",
            &[
                ("csrf", &csrf),
                ("current", "nope"),
                ("new", "a new password"),
                ("confirm", "a new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let mismatch = b
        .post(
            "/security/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a new password"),
                ("confirm", "another one"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let changed = b
        .post(
            "/security/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a new password"),
                ("confirm", "a new password"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body.contains("password was changed"));
    assert_eq!(
        b.get("/").await.status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        elsewhere.get("/").await.location(),
        "/login",
        "the other one ends"
    );

    let tail = service.store().audit_tail(20, Some("alice")).await.unwrap();
    let results: Vec<&str> = tail.iter().map(|e| e.result.as_str()).collect();
    for want in [
        "factor-removed",
        "password-change-refused",
        "password-changed",
    ] {
        assert!(results.contains(&want), "{want}: {results:?}");
    }
}
