//! The one decision path, end to end on a real store: first factor, policy, adaptive rules,
//! second factor with the replay guard, lockout, devices, alerts and the audit log.

#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::many_single_char_names
)]

#[path = "support/postgres.rs"]
mod postgres;

use std::net::IpAddr;
use std::sync::Arc;

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::notify::MemoryNotifier;
use idforge_examples::service::{
    AuthRequest, FirstFactorInput, FrontDoor, Outcome, PendingLogin, Service, new_backup_codes,
};
use idforge_examples::store::{FactorKind, NewFactor, NewUser, UserStatus};
use idforge_otp::{Algorithm, Digits, Hotp, Secret, Totp};

const NOW: u64 = 1_760_000_000;

fn config(store_url: &str, key: &str) -> Config {
    let text = format!(
        r#"
groups = ["Staff", "VPN_Group", "Admins"]

[store]
url = "{store_url}"
encryption_key = "{key}"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "aws-console"
kind = "aws"
[[apps.roles]]
group = "Staff"
role_arn = "arn:aws:iam::123456789012:role/ReadOnly"
provider_arn = "arn:aws:iam::123456789012:saml-provider/idforge"

[[apps]]
id = "vpn"
kind = "radius"
radius_mode = "challenge"

[[apps]]
id = "workspaces"
kind = "radius"

[[policy.policies]]
name = "vpn-password-only"
applications = ["vpn"]
groups = ["VPN_Group"]
first_factor = "local_password"
second_factor = "none"

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "hotp_token", "backup_code"]

[policy.lockout.user]
max_failures = 3
window_secs = 600
lock_secs = 60

[[adaptive.networks]]
name = "blocked"
action = "block"
ranges = ["203.0.113.0/24"]

[adaptive.device_limit]
max_devices = 1
action = "challenge"
alert = "admins"
weight = 40
"#
    );
    Config::from_toml(&text, "test.toml").unwrap()
}

struct Fixture {
    service: Service,
    notifier: Arc<MemoryNotifier>,
    secret: Secret,
    _dir: tempfile::TempDir,
}

async fn fixture_at(url: Option<String>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("db").display()));
    let key = Key::generate().unwrap().to_base64();
    let config = config(&url, &key);
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let notifier = Arc::new(MemoryNotifier::default());
    let service = Service::with_store(config, store, notifier.clone())
        .await
        .unwrap();
    let s = service.store();
    let alice = s
        .create_user(&NewUser {
            name: "alice".into(),
            email: Some("alice@example.com".into()),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let hash = service.hasher().hash_new("correct horse").unwrap();
    s.set_password_hash(alice.id, &hash).await.unwrap();
    s.add_member("alice", "Staff").await.unwrap();
    let secret = Secret::from_bytes(b"alice's 20-byte key!").unwrap();
    s.add_factor(alice.id, &NewFactor::totp("phone", &secret))
        .await
        .unwrap();
    Fixture {
        service,
        notifier,
        secret,
        _dir: dir,
    }
}

async fn fixture() -> Fixture {
    fixture_at(None).await
}

fn code(secret: &Secret, at: u64) -> String {
    Totp::new(secret, Algorithm::Sha1, Digits::SIX, 30)
        .unwrap()
        .generate(at)
        .unwrap()
        .to_string()
}

fn request<'a>(user: &'a str, app: &'a str, password: Option<&'a str>) -> AuthRequest<'a> {
    AuthRequest {
        username: user,
        application: app,
        source_ip: "198.51.100.7".parse::<IpAddr>().unwrap(),
        source_is_client: true,
        device: None,
        front_door: FrontDoor::Web,
        now: NOW,
        first_factor: password.map_or(FirstFactorInput::Upstream, FirstFactorInput::Password),
        code: None,
    }
}

fn pending(o: Outcome) -> PendingLogin {
    match o {
        Outcome::NeedSecondFactor(p) => p,
        other => panic!("expected a second factor to be asked for, got {other:?}"),
    }
}

fn accepted(o: &Outcome) -> bool {
    matches!(o, Outcome::Accept(_))
}

#[tokio::test]
async fn password_then_totp_once_then_replay_refused() {
    let f = fixture().await;
    let svc = &f.service;
    let p = pending(
        svc.authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    assert_eq!(p.methods, ["totp", "hotp_token", "backup_code"]);
    let c = code(&f.secret, NOW);
    let o = svc.complete(p.clone(), &c, NOW + 1).await.unwrap();
    let Outcome::Accept(acc) = &o else {
        panic!("{o:?}")
    };
    assert_eq!(acc.groups, ["Staff"]);
    assert!(acc.factors.iter().any(|f| f.starts_with("totp:ok")));
    // The same code again, even through a fresh login: refused as a replay.
    let p2 = pending(
        svc.authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    let o = svc.complete(p2, &c, NOW + 2).await.unwrap();
    assert!(!accepted(&o));
    let audit = svc.store().audit_tail(10, Some("alice")).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.result, "reject");
    assert!(
        last.factors.contains(&"otp:replayed".to_owned()),
        "{last:?}"
    );
    // Nothing secret in the audit log.
    for e in &audit {
        let text = serde_json::to_string(e).unwrap();
        assert!(
            !text.contains("correct horse") && !text.contains(&c),
            "{text}"
        );
    }
    // The next step's code works.
    let p3 = pending(
        svc.authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    assert!(accepted(
        &svc.complete(p3, &code(&f.secret, NOW + 30), NOW + 31)
            .await
            .unwrap()
    ));
}

#[tokio::test]
async fn wrong_password_wrong_code_unknown_user_and_expired_pending() {
    let f = fixture().await;
    let svc = &f.service;
    let o = svc
        .authenticate(&request("alice", "aws-console", Some("wrong horse")))
        .await
        .unwrap();
    let Outcome::Reject { message, .. } = &o else {
        panic!("{o:?}")
    };
    assert_eq!(message, "invalid credentials");
    let o = svc
        .authenticate(&request("mallory", "aws-console", Some("whatever")))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Reject { .. }));
    let p = pending(
        svc.authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    assert!(!accepted(
        &svc.complete(p.clone(), "000000", NOW).await.unwrap()
    ));
    // A right code after the pending login expired: refused.
    let late = NOW + 301;
    assert!(!accepted(
        &svc.complete(p, &code(&f.secret, late), late).await.unwrap()
    ));
    let tail = svc.store().audit_tail(10, None).await.unwrap();
    let results: Vec<&str> = tail.iter().map(|e| e.result.as_str()).collect();
    assert_eq!(results, ["reject", "reject", "reject", "reject"]);
    assert!(tail[0].reasons.iter().any(|r| r == "wrong password"));
    assert!(tail[1].reasons.iter().any(|r| r == "unknown user"));
    assert!(tail[3].reasons.iter().any(|r| r.contains("expired")));
}

#[tokio::test]
async fn lockout_after_three_failures_until_unlocked() {
    let f = fixture().await;
    let svc = &f.service;
    for _ in 0..3 {
        svc.authenticate(&request("alice", "aws-console", Some("nope nope")))
            .await
            .unwrap();
    }
    // Locked: even the right password is refused without being checked.
    let o = svc
        .authenticate(&request("alice", "aws-console", Some("correct horse")))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Reject { .. }));
    let last = svc.store().audit_tail(1, None).await.unwrap().remove(0);
    assert_eq!(last.result, "locked");
    // The lock lasts 60 s.
    let mut later = request("alice", "aws-console", Some("correct horse"));
    later.now = NOW + 61;
    assert!(matches!(
        svc.authenticate(&later).await.unwrap(),
        Outcome::NeedSecondFactor(_)
    ));
    // An administrator's unlock clears the counters.
    svc.store().reset_lockout("user:alice").await.unwrap();
    let (state, _) = svc.store().lockout("user:alice").await.unwrap();
    assert_eq!(state.consecutive_failures, 0);
}

#[tokio::test]
async fn policies_exempt_a_group_and_disabled_users_are_refused() {
    let f = fixture().await;
    let svc = &f.service;
    // Not in VPN_Group: the VPN needs a second factor.
    assert!(matches!(
        svc.authenticate(&request("alice", "vpn", Some("correct horse")))
            .await
            .unwrap(),
        Outcome::NeedSecondFactor(_)
    ));
    svc.store().add_member("alice", "VPN_Group").await.unwrap();
    let o = svc
        .authenticate(&request("alice", "vpn", Some("correct horse")))
        .await
        .unwrap();
    let Outcome::Accept(acc) = &o else {
        panic!("{o:?}")
    };
    assert_eq!(acc.factors, ["password:ok"]);
    let audit = svc.store().audit_tail(1, None).await.unwrap().remove(0);
    assert!(
        audit.reasons[0].contains("vpn-password-only"),
        "{:?}",
        audit.reasons
    );
    svc.store()
        .set_status("alice", UserStatus::Disabled)
        .await
        .unwrap();
    assert!(matches!(
        svc.authenticate(&request("alice", "vpn", Some("correct horse")))
            .await
            .unwrap(),
        Outcome::Reject { .. }
    ));
    let audit = svc.store().audit_tail(1, None).await.unwrap().remove(0);
    assert!(audit.reasons.iter().any(|r| r == "account disabled"));
}

#[tokio::test]
async fn adaptive_rules_deny_blocked_networks_and_register_devices() {
    let f = fixture().await;
    let svc = &f.service;
    let mut r = request("alice", "aws-console", Some("correct horse"));
    r.source_ip = "203.0.113.9".parse().unwrap();
    let o = svc.authenticate(&r).await.unwrap();
    assert!(matches!(o, Outcome::Reject { .. }), "{o:?}");
    let audit = svc.store().audit_tail(1, None).await.unwrap().remove(0);
    assert_eq!(audit.result, "deny");

    // Device limit 1: the first device passes its challenge and is registered; a second
    // device is challenged and, past the limit, not registered; the administrators are told.
    let mut r = request("alice", "aws-console", Some("correct horse"));
    r.device = Some("laptop");
    let p = pending(svc.authenticate(&r).await.unwrap());
    assert!(accepted(
        &svc.complete(p, &code(&f.secret, NOW), NOW).await.unwrap()
    ));
    let alice = svc.store().require_user("alice").await.unwrap();
    let devices = svc.store().devices_of(alice.id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].id, "laptop");
    let mut r = request("alice", "aws-console", Some("correct horse"));
    r.device = Some("phone");
    r.now = NOW + 30;
    let p = pending(svc.authenticate(&r).await.unwrap());
    assert!(p.challenged);
    assert!(accepted(
        &svc.complete(p, &code(&f.secret, NOW + 30), NOW + 30)
            .await
            .unwrap()
    ));
    assert_eq!(svc.store().devices_of(alice.id).await.unwrap().len(), 1);
    let alerts = f.notifier.alerts();
    assert!(
        alerts.iter().any(|a| a.message.contains("alice")),
        "{alerts:?}"
    );
}

#[tokio::test]
async fn upstream_first_factor_with_code_hotp_and_single_use_backup_codes() {
    let f = fixture().await;
    let svc = &f.service;
    // AWS WorkSpaces: the code arrives alone; the password is checked by AD afterwards.
    let mut r = request("alice", "workspaces", None);
    let c = code(&f.secret, NOW);
    r.code = Some(&c);
    let o = svc.authenticate(&r).await.unwrap();
    let Outcome::Accept(acc) = &o else {
        panic!("{o:?}")
    };
    assert_eq!(acc.factors[0], "password:upstream");
    assert!(!accepted(&svc.authenticate(&r).await.unwrap()));

    // A hardware token (HOTP).
    let alice = svc.store().require_user("alice").await.unwrap();
    let token = Secret::from_bytes(b"12345678901234567890").unwrap();
    svc.store()
        .add_factor(
            alice.id,
            &NewFactor {
                kind: FactorKind::Hotp,
                label: "token",
                secret: &token,
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
                counter: 0,
            },
        )
        .await
        .unwrap();
    let hotp = Hotp::new(&token, Algorithm::Sha1, Digits::SIX);
    let c3 = hotp.generate(3).to_string(); // within the look-ahead window
    let mut r = request("alice", "workspaces", None);
    r.code = Some(&c3);
    assert!(accepted(&svc.authenticate(&r).await.unwrap()));
    assert!(!accepted(&svc.authenticate(&r).await.unwrap()));
    let c2 = hotp.generate(2).to_string(); // behind the accepted counter
    r.code = Some(&c2);
    assert!(!accepted(&svc.authenticate(&r).await.unwrap()));

    // Backup codes: each works once.
    let codes = new_backup_codes().unwrap();
    let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
    svc.store()
        .replace_backup_codes(alice.id, &hashes)
        .await
        .unwrap();
    let p = pending(
        svc.authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    assert!(accepted(
        &svc.complete(p.clone(), &codes[4].0, NOW).await.unwrap()
    ));
    assert!(!accepted(&svc.complete(p, &codes[4].0, NOW).await.unwrap()));
    assert_eq!(
        svc.store()
            .unused_backup_codes(alice.id)
            .await
            .unwrap()
            .len(),
        9
    );
}

#[tokio::test]
async fn password_hashes_follow_the_configured_parameters() {
    let f = fixture().await;
    let svc = &f.service;
    let alice = svc.store().require_user("alice").await.unwrap();
    // An old hash with weaker parameters is replaced at the next successful login.
    let weak = idforge_examples::password::PasswordHasher::new(
        idforge_examples::config::PasswordSettings {
            memory_kib: 32,
            iterations: 1,
            parallelism: 1,
            min_length: 8,
        },
    )
    .unwrap()
    .hash("correct horse")
    .unwrap();
    svc.store()
        .set_password_hash(alice.id, &weak)
        .await
        .unwrap();
    pending(
        svc.authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    let stored = svc.store().password_hash(alice.id).await.unwrap().unwrap();
    assert!(stored.contains("m=64,t=1,p=1"), "{stored}");
}

/// Two instances on one PostgreSQL database receive the same code at the same moment: one
/// accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_accept_a_code_once() {
    let Some(pg) = postgres::Postgres::start("two_instances_on_postgres_accept_a_code_once") else {
        return;
    };
    let url = pg.new_database("idforge");
    let a = fixture_at(Some(url.clone())).await;
    // The second instance: same database, same key, its own pool.
    let config = config(
        &url,
        &a.service
            .config()
            .store
            .encryption_key
            .as_ref()
            .map(|k| k.resolve().unwrap().expose().to_owned())
            .unwrap(),
    );
    let b = Service::with_store(
        config.clone(),
        idforge_examples::service::open_store(&config)
            .await
            .unwrap(),
        Arc::new(MemoryNotifier::default()),
    )
    .await
    .unwrap();
    for i in 0..20u64 {
        let at = NOW + 30 * i;
        let c = code(&a.secret, at);
        let mut r = request("alice", "workspaces", None);
        r.code = Some(&c);
        r.now = at;
        let (x, y) = tokio::join!(a.service.authenticate(&r), b.authenticate(&r));
        let (x, y) = (accepted(&x.unwrap()), accepted(&y.unwrap()));
        assert!(x ^ y, "round {i}: {x} {y}");
    }
}

/// CHAP and MS-CHAP carry a response computed over the code, not the code: the service offers
/// the window's codes to the front door's check, through the same replay guard.
#[tokio::test]
async fn codes_proven_by_a_challenge_response_are_accepted_once() {
    let f = fixture().await;
    let svc = &f.service;
    let current = code(&f.secret, NOW);
    let previous = code(&f.secret, NOW - 30);
    let offered = std::sync::Mutex::new(Vec::new());
    let check = |candidate: &str| {
        offered.lock().unwrap().push(candidate.to_owned());
        candidate == previous
    };
    let r = request("alice", "workspaces", None);
    let o = svc.authenticate_with_proof(&r, &check).await.unwrap();
    assert!(accepted(&o), "{o:?}");
    // The current step is offered first, then the one before.
    assert_eq!(
        offered.lock().unwrap()[..2],
        [current.clone(), previous.clone()]
    );
    // The same response again: a replay.
    let o = svc.authenticate_with_proof(&r, &check).await.unwrap();
    assert!(!accepted(&o));
    let last = svc.store().audit_tail(1, None).await.unwrap().remove(0);
    assert!(
        last.factors.contains(&"otp:replayed".to_owned()),
        "{last:?}"
    );
    // A response that matches no code of the window.
    let nothing = |_: &str| false;
    let mut later = r;
    later.now = NOW + 60;
    assert!(!accepted(
        &svc.authenticate_with_proof(&later, &nothing).await.unwrap()
    ));
    // The current code proven: accepted (it is later than the used step).
    let now_code = code(&f.secret, NOW + 60);
    let check = |candidate: &str| candidate == now_code;
    assert!(accepted(
        &svc.authenticate_with_proof(&later, &check).await.unwrap()
    ));
}

/// A session vouches for the first factor; its second factor satisfies an application that
/// allows the method, a locked account or an application outside the user's groups do not
/// pass, and each decision is audited.
#[tokio::test]
async fn a_signed_in_session_signs_in_to_further_apps_through_the_same_checks() {
    let f = fixture().await;
    let s = f.service.store();
    let session =
        |second: Option<&'static str>, user: &'static str, app: &'static str| AuthRequest {
            first_factor: FirstFactorInput::Session {
                second_factor: second,
            },
            ..request(user, app, None)
        };
    // With the session's TOTP: accepted without a code.
    let o = f
        .service
        .authenticate(&session(Some("totp"), "alice", "aws-console"))
        .await
        .unwrap();
    assert!(accepted(&o), "{o:?}");
    // Without a second factor: step-up.
    let o = f
        .service
        .authenticate(&session(None, "alice", "aws-console"))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::NeedSecondFactor(_)), "{o:?}");
    // A method the policy does not allow is no second factor for it.
    let o = f
        .service
        .authenticate(&session(Some("sms"), "alice", "aws-console"))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::NeedSecondFactor(_)), "{o:?}");
    // The AWS app is for Staff: bob (no group) is refused, with the reason audited.
    let bob = s
        .create_user(&NewUser {
            name: "bob".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let o = f
        .service
        .authenticate(&session(Some("totp"), "bob", "aws-console"))
        .await
        .unwrap();
    let Outcome::Reject { message, audit_id } = o else {
        panic!("{o:?}")
    };
    assert_eq!(message, idforge_examples::service::NO_ACCESS);
    let entry = s.audit_tail(1, Some("bob")).await.unwrap().remove(0);
    assert_eq!(entry.id, audit_id);
    assert!(
        entry
            .reasons
            .iter()
            .any(|r| r.contains("not a member of any group"))
    );
    assert!(entry.factors.contains(&"session".to_owned()));
    // A locked account's session signs in nowhere.
    s.set_status("alice", UserStatus::Disabled).await.unwrap();
    let o = f
        .service
        .authenticate(&session(Some("totp"), "alice", "aws-console"))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Reject { .. }), "{o:?}");
    let _ = bob;
}

#[tokio::test]
async fn totp_enrolment_checks_the_code_stores_the_factor_and_uses_the_code() {
    use idforge_examples::service::{EnrolRequest, Enrolment};
    let f = fixture().await;
    let s = f.service.store();
    let carol = s
        .create_user(&NewUser {
            name: "carol".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    s.set_password_hash(carol.id, &f.service.hasher().hash_new("carol pw").unwrap())
        .await
        .unwrap();
    s.add_member("carol", "Staff").await.unwrap();
    let new_secret = Secret::from_bytes(b"carol's new 20 bytes").unwrap();
    let req = EnrolRequest {
        user_id: carol.id,
        username: "carol",
        application: "aws-console",
        source_ip: "198.51.100.7".parse().unwrap(),
        front_door: FrontDoor::Web,
        now: NOW,
    };
    let wrong = f
        .service
        .enroll_totp(&req, "app", &new_secret, &code(&f.secret, NOW))
        .await
        .unwrap();
    assert!(matches!(wrong, Enrolment::WrongCode { .. }), "{wrong:?}");
    assert!(
        s.factors_of(carol.id).await.unwrap().is_empty(),
        "nothing stored"
    );
    // The first login waits for a second factor carol does not have yet.
    let p = pending(
        f.service
            .authenticate(&request("carol", "aws-console", Some("carol pw")))
            .await
            .unwrap(),
    );
    let enrolment_code = code(&new_secret, NOW);
    let Enrolment::Enrolled(proof) = f
        .service
        .enroll_totp(&req, "app", &new_secret, &enrolment_code)
        .await
        .unwrap()
    else {
        panic!("not enrolled")
    };
    assert_eq!(s.factors_of(carol.id).await.unwrap().len(), 1);
    let o = f
        .service
        .complete_with_enrolment(p, &proof, NOW)
        .await
        .unwrap();
    assert!(accepted(&o), "{o:?}");
    // The confirmation code is used up.
    let p = pending(
        f.service
            .authenticate(&request("carol", "aws-console", Some("carol pw")))
            .await
            .unwrap(),
    );
    let o = f.service.complete(p, &enrolment_code, NOW).await.unwrap();
    assert!(matches!(o, Outcome::Reject { .. }), "{o:?}");
    // A second enrolment needs the first factor (self-service), so it is refused here.
    let again = f
        .service
        .enroll_totp(&req, "app", &new_secret, &code(&new_secret, NOW + 30))
        .await
        .unwrap();
    assert!(
        matches!(again, Enrolment::AlreadyEnrolled { .. }),
        "{again:?}"
    );
    // A proof for another user's pending login is refused.
    let p = pending(
        f.service
            .authenticate(&request("alice", "aws-console", Some("correct horse")))
            .await
            .unwrap(),
    );
    assert!(
        f.service
            .complete_with_enrolment(p, &proof, NOW)
            .await
            .is_err()
    );
}
