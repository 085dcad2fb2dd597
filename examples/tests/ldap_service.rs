//! The LDAP first factor through the decision path and through the `idforge` binary, against a
//! real slapd.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

#[path = "support/slapd.rs"]
mod slapd;

use std::net::IpAddr;
use std::process::Command;
use std::sync::Arc;

use idforge_examples::config::Config;
use idforge_examples::notify::MemoryNotifier;
use idforge_examples::service::{AuthRequest, FirstFactorInput, FrontDoor, Outcome, Service};
use slapd::{PEOPLE, SERVICE_DN, SERVICE_PASSWORD};

fn config_text(ldap_url: &str, store: &str) -> String {
    format!(
        r#"
groups = ["VPN_Group", "staff"]

[store]
url = "{store}"
encryption_key = "env:IDFORGE_TEST_LDAP_KEY"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[directories]]
name = "lab"
url = "{ldap_url}"
start_tls = false
allow_plaintext = true
bind_dn = "{SERVICE_DN}"
bind_password = "env:IDFORGE_TEST_LDAP_SERVICE_PASSWORD"
user_base = "{PEOPLE}"
user_filter = "uid"
groups = {{ member_of = {{ attribute = "memberOf" }} }}

[[apps]]
id = "vpn"
kind = "radius"
radius_mode = "challenge"

[[policy.policies]]
name = "vpn-password-only"
applications = ["vpn"]
groups = ["VPN_Group"]
first_factor = {{ directory = "lab" }}
second_factor = "none"

[policy.default]
first_factor = {{ directory = "lab" }}
second_factor = "required"
methods = ["totp"]
"#
    )
}

fn request<'a>(user: &'a str, password: &'a str) -> AuthRequest<'a> {
    AuthRequest {
        username: user,
        application: "vpn",
        source_ip: "192.0.2.10".parse::<IpAddr>().unwrap(),
        source_is_client: true,
        device: None,
        front_door: FrontDoor::Radius,
        now: 1_760_000_000,
        first_factor: FirstFactorInput::Password(password),
        code: None,
    }
}

#[tokio::test]
async fn directory_users_log_in_with_their_groups_and_failures_are_audited() {
    if !slapd::slapd_present("directory_users_log_in_with_their_groups") {
        return;
    }
    let server = slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let key = idforge_examples::crypto::Key::generate()
        .unwrap()
        .to_base64();
    let text = config_text(
        &server.url(),
        &format!("sqlite://{}", dir.path().join("db").display()),
    )
    .replace("env:IDFORGE_TEST_LDAP_KEY", &key)
    .replace("env:IDFORGE_TEST_LDAP_SERVICE_PASSWORD", SERVICE_PASSWORD);
    let config = Config::from_toml(&text, "ldap.toml").unwrap();
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let svc = Service::with_store(config, store, Arc::new(MemoryNotifier::default()))
        .await
        .unwrap();

    // alice is in VPN_Group: the VPN takes her directory password alone.
    let o = svc
        .authenticate(&request("alice", "alice-pw"))
        .await
        .unwrap();
    let Outcome::Accept(acc) = &o else {
        panic!("{o:?}")
    };
    assert_eq!(acc.user.source, "lab");
    assert_eq!(acc.user.email.as_deref(), Some("alice@example.com"));
    assert!(
        acc.groups.contains(&"VPN_Group".to_owned()),
        "{:?}",
        acc.groups
    );
    assert_eq!(acc.factors, ["password:ok:lab"]);

    // bob is not: the default policy asks for a second factor after his password.
    assert!(matches!(
        svc.authenticate(&request("bob", "bob-pw")).await.unwrap(),
        Outcome::NeedSecondFactor(_)
    ));

    // Wrong password, unknown user, injection: one answer for the user, details in the audit.
    for (user, password) in [
        ("alice", "wrong"),
        ("nobody", "x"),
        ("*)(uid=*", "alice-pw"),
    ] {
        let o = svc.authenticate(&request(user, password)).await.unwrap();
        let Outcome::Reject { message, .. } = &o else {
            panic!("{user}: {o:?}")
        };
        assert_eq!(message, "invalid credentials");
    }
    let tail = svc.store().audit_tail(3, None).await.unwrap();
    assert!(tail.iter().all(|e| e.result == "reject"), "{tail:?}");
    assert!(
        tail[0]
            .factors
            .contains(&"password:rejected:lab".to_owned())
    );
    assert!(tail[0].reasons.iter().any(|r| r.starts_with("lab: ")));
    for e in &tail {
        let json = serde_json::to_string(e).unwrap();
        assert!(!json.contains("alice-pw") && !json.contains(SERVICE_PASSWORD));
    }
    // The directory user is in the store now, with the groups the directory gave.
    let alice = svc.store().require_user("alice").await.unwrap();
    let mut groups = svc.store().groups_of(alice.id).await.unwrap();
    groups.sort();
    assert_eq!(groups, ["VPN_Group", "staff"]);
}

#[test]
fn idforge_ldap_test_through_the_binary_and_its_config_file() {
    if !slapd::slapd_present("idforge_ldap_test_through_the_binary") {
        return;
    }
    let server = slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("idforge.toml");
    std::fs::write(
        &config,
        config_text(
            &server.url(),
            &format!("sqlite://{}", dir.path().join("db").display()),
        ),
    )
    .unwrap();
    let key = idforge_examples::crypto::Key::generate()
        .unwrap()
        .to_base64();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_idforge"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("IDFORGE_TEST_LDAP_KEY", key.as_str())
            .env("IDFORGE_TEST_LDAP_SERVICE_PASSWORD", SERVICE_PASSWORD)
            .output()
            .unwrap()
    };
    let o = run(&["ldap", "test", "alice"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("uid=alice,ou=people,dc=example,dc=com"),
        "{out}"
    );
    assert!(out.contains("VPN_Group"), "{out}");
    assert!(!out.contains(SERVICE_PASSWORD));
    let o = run(&["ldap", "test", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    // The LDAP first factor through `idforge login`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .arg("--config")
        .arg(&config)
        .args(["login", "alice", "--app", "vpn"])
        .env("IDFORGE_TEST_LDAP_KEY", key.as_str())
        .env("IDFORGE_TEST_LDAP_SERVICE_PASSWORD", SERVICE_PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"alice-pw\n").unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("accepted alice"), "{out}");
}

/// The web IdP's login form checks the password against the directory: the directory user
/// lands on the dashboard under the name the directory gives, a wrong password gets the
/// login form again.
#[tokio::test]
async fn the_web_login_checks_directory_passwords() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    if !slapd::slapd_present("the_web_login_checks_directory_passwords") {
        return;
    }
    let server = slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let key = idforge_examples::crypto::Key::generate()
        .unwrap()
        .to_base64();
    let (cert, signing) = idforge_saml::create_self_signed(
        &mut rand::rng(),
        "idp.test",
        chrono::Utc::now() - chrono::TimeDelta::minutes(5),
        chrono::TimeDelta::days(1),
    )
    .unwrap();
    std::fs::write(dir.path().join("k.pem"), signing.as_str()).unwrap();
    std::fs::write(dir.path().join("c.pem"), cert.to_pem()).unwrap();
    let text = config_text(
        &server.url(),
        &format!("sqlite://{}", dir.path().join("db").display()),
    )
    .replace("env:IDFORGE_TEST_LDAP_KEY", &key)
    .replace("env:IDFORGE_TEST_LDAP_SERVICE_PASSWORD", SERVICE_PASSWORD)
    .replace(
        "[policy.default]",
        &format!(
            "[[policy.policies]]\nname = \"portal\"\napplications = [\"portal\"]\ngroups = [\"VPN_Group\"]\nfirst_factor = {{ directory = \"lab\" }}\nsecond_factor = \"none\"\n\n[idp]\nsigning_key = \"file:{d}/k.pem\"\ncertificate = \"{d}/c.pem\"\n\n[policy.default]",
            d = dir.path().display()
        ),
    );
    let config = Config::from_toml(&text, "ldap-web.toml").unwrap();
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let svc = Arc::new(
        Service::with_store(config, store, Arc::new(MemoryNotifier::default()))
            .await
            .unwrap(),
    );
    let router = idforge_examples::idp::Idp::new(svc).await.unwrap().router();
    let send = |req: Request<Body>| {
        let router = router.clone();
        async move {
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for (password, expected) in [
        ("wrong", StatusCode::UNAUTHORIZED),
        ("alice-pw", StatusCode::SEE_OTHER),
    ] {
        let (_, headers, body) = send(Request::get("/login").body(Body::empty()).unwrap()).await;
        let cookie = headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let csrf = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let (status, headers, body) = send(
            Request::post("/login")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf={csrf}&username=alice&password={password}"
                )))
                .unwrap(),
        )
        .await;
        assert_eq!(status, expected, "{body}");
        if status == StatusCode::SEE_OTHER {
            let session = headers
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .find(|c| c.starts_with("idforge_session="))
                .unwrap();
            let (status, _, dash) = send(
                Request::get("/")
                    .header(header::COOKIE, session)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                dash.contains("Alice Liddell"),
                "the directory's display name: {dash}"
            );
        }
    }
}
