//! Codes and links the IdP sends, through the service and a real SMTP server (aiosmtpd,
//! STARTTLS + AUTH): an e-mail code finishes a login once; wrong, expired, reused and
//! out-of-attempts codes are refused; resends are throttled; a sign-in link works only for
//! the login (the browser) that asked for it; the adaptive `alternate_email_otp` challenge
//! sends to the other address; an SMTP outage delays a code and an alert without losing them.
//!
//! Without aiosmtpd the tests skip, or fail when peers are required (CI).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

use std::net::IpAddr;
use std::sync::Arc;

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::mail::{MailNotifier, MailWorker};
use idforge_examples::radius_server::{RadiusServer, RadiusServerSettings};
use idforge_examples::service::{
    Activation, AuthRequest, Delivery, FirstFactorInput, FrontDoor, Invitation, Outcome,
    PendingLogin, Sent, Service,
};
use idforge_examples::store::{MailStatus, NewUser, Store};
use idforge_test_support::{TestCa, free_tcp_port};

#[path = "support/sms_gateway.rs"]
mod sms_gateway;
#[path = "support/smtp.rs"]
mod smtp;
use smtp::{SMTP_PASSWORD, SMTP_USER, SmtpPeer, smtp_peer_present};

const NOW: u64 = 1_760_000_000;
const RADIUS_SECRET: &str = "testing123";
const PASSWORD: &str = "correct horse";

struct Fixture {
    service: Arc<Service>,
    worker: MailWorker,
    port: u16,
    cert: std::path::PathBuf,
    key: String,
    dir: tempfile::TempDir,
}

/// `policy` and `adaptive` are TOML placed in the configuration.
async fn fixture(policy: &str, adaptive: &str, per_address: u32) -> Fixture {
    fixture_with(policy, adaptive, per_address, "").await
}

/// Like [`fixture`], with more TOML (an `[sms]` section) appended.
async fn fixture_with(policy: &str, adaptive: &str, per_address: u32, extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "smtp");
    let (cert, key) = ca.issue_server();
    let port = free_tcp_port();
    let text = format!(
        r#"
[store]
url = "sqlite://{db}"
encryption_key = "{store_key}"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "wiki"
kind = "saml"
entity_id = "https://wiki.example.com"
acs_url = "https://wiki.example.com/acs"

[[apps]]
id = "vpn"
kind = "radius"
radius_mode = "challenge"

[[radius.clients]]
name = "localhost"
source = "127.0.0.1"
secret = "{RADIUS_SECRET}"

[codes]
length = 8
max_attempts = 3
resend_after_secs = 30
max_sends = 3

{policy}

{adaptive}

[mail]
host = "127.0.0.1"
port = {port}
username = "{SMTP_USER}"
password = "{SMTP_PASSWORD}"
from = "idp@idforge.test"
timeout_secs = 5
ca_file = "{ca}"
admins = ["security@example.com"]
notify_users = true
max_per_address_hour = {per_address}
max_per_user_hour = 50
backoff_secs = 1
max_backoff_secs = 4

{extra}
"#,
        db = dir.path().join("db").display(),
        store_key = Key::generate().unwrap().to_base64().as_str(),
        ca = ca.cert.display(),
    );
    let config = Config::from_toml(&text, "codes-test.toml").unwrap();
    let store = idforge_examples::service::open_store(&config)
        .await
        .unwrap();
    let notifier = Arc::new(MailNotifier::from_config(&config).unwrap().unwrap());
    let service = Service::with_store(config.clone(), store.clone(), notifier)
        .await
        .unwrap();
    let alice = store
        .create_user(&NewUser {
            name: "alice".into(),
            display_name: Some("Alice Liddell".into()),
            email: Some("alice@example.com".into()),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    store
        .set_alternate_email(alice.id, Some("alice.home@example.net"))
        .await
        .unwrap();
    store
        .update_profile(
            alice.id,
            Some("Alice Liddell"),
            Some("alice@example.com"),
            Some("+49 (30) 1234-5667"),
        )
        .await
        .unwrap();
    let hash = service.hasher().hash_new(PASSWORD).unwrap();
    store.set_password_hash(alice.id, &hash).await.unwrap();
    let worker = MailWorker::new(store, config.mail.as_ref().unwrap()).unwrap();
    Fixture {
        service: Arc::new(service),
        worker,
        port,
        cert,
        key: key.display().to_string(),
        dir,
    }
}

const EMAIL_POLICY: &str = r#"
[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["email_otp", "email_link"]
"#;

impl Fixture {
    fn store(&self) -> &Store {
        self.service.store()
    }

    fn peer(&self) -> SmtpPeer {
        SmtpPeer::start(
            self.dir.path(),
            self.port,
            "starttls",
            &self.cert,
            &self.key,
        )
    }

    async fn login(&self, now: u64) -> PendingLogin {
        let r = AuthRequest {
            username: "alice",
            application: "wiki",
            source_ip: "198.51.100.7".parse::<IpAddr>().unwrap(),
            source_is_client: true,
            device: Some("laptop"),
            front_door: FrontDoor::Web,
            now,
            first_factor: FirstFactorInput::Password(PASSWORD),
            code: None,
        };
        match self.service.authenticate(&r).await.unwrap() {
            Outcome::NeedSecondFactor(p) => p,
            other => panic!("expected a second factor, got {other:?}"),
        }
    }

    /// Sends what is due and returns the newest message the peer received for `to`.
    async fn deliver(&self, peer: &SmtpPeer, now: u64, to: &str) -> serde_json::Value {
        let round = self
            .worker
            .run_once(i64::try_from(now).unwrap())
            .await
            .unwrap();
        assert!(round.sent >= 1, "{round:?}");
        peer.received()
            .into_iter()
            .rev()
            .find(|r| r["rcpt_tos"][0] == to)
            .unwrap_or_else(|| panic!("nothing for {to}"))
    }
}

/// The code in a code mail's text part: the line of digits only.
fn code_in(mail: &serde_json::Value) -> String {
    let text = mail["text"].as_str().unwrap();
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_owned()
}

/// The token of a link mail's link.
fn token_in(mail: &serde_json::Value) -> String {
    let text = mail["text"].as_str().unwrap();
    let url = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http"))
        .unwrap_or_else(|| panic!("no link in {text}"));
    url.split_once("token=").unwrap().1.to_owned()
}

fn accepted(o: &Outcome) -> bool {
    matches!(o, Outcome::Accept(_))
}

#[tokio::test]
async fn an_email_code_finishes_the_login_once_and_only_its_hash_is_stored() {
    if !smtp_peer_present("an_email_code_finishes_the_login_once_and_only_its_hash_is_stored") {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();
    let pending = f.login(NOW).await;
    assert_eq!(pending.methods, ["email_otp", "email_link"]);
    let choices = f.service.choices(&pending).await.unwrap();
    let email = choices.iter().find(|c| c.method == "email_otp").unwrap();
    assert_eq!(email.to.as_deref(), Some("a•••@example.com"));

    let sent = f
        .service
        .send_code(&pending, Delivery::Email, NOW)
        .await
        .unwrap();
    assert_eq!(
        sent,
        Sent::Sent {
            to: "a•••@example.com".into(),
            expires_at: NOW + 300
        }
    );
    let mail = f.deliver(&peer, NOW + 1, "alice@example.com").await;
    assert_eq!(mail["subject"], "[idforge] Your sign-in code");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello Alice Liddell,")
    );
    let code = code_in(&mail);
    assert!(mail["html"].as_str().unwrap().contains(&code));
    // The store keeps a keyed hash, not the code.
    let rows = f.store().codes_for(&pending.id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].code_hash.contains(&code));
    assert_eq!(rows[0].code_hash.len(), 64);

    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let o = f
        .service
        .complete(pending.clone(), wrong, NOW + 2)
        .await
        .unwrap();
    assert!(!accepted(&o), "{o:?}");
    let o = f
        .service
        .complete(pending.clone(), &format!(" {code} "), NOW + 3)
        .await
        .unwrap();
    let Outcome::Accept(a) = &o else {
        panic!("{o:?}")
    };
    assert!(
        a.factors
            .iter()
            .any(|f| f == "email_otp:ok:a•••@example.com"),
        "{:?}",
        a.factors
    );
    // Single use, even for the same pending login.
    let o = f.service.complete(pending, &code, NOW + 4).await.unwrap();
    assert!(!accepted(&o), "a used code is refused: {o:?}");
    // And a code is bound to its login: another login of the same user cannot use it.
    let other = f.login(NOW + 5).await;
    let o = f.service.complete(other, &code, NOW + 6).await.unwrap();
    assert!(!accepted(&o));
}

#[tokio::test]
async fn codes_expire_are_void_after_three_wrong_tries_and_resends_are_throttled() {
    if !smtp_peer_present("codes_expire_are_void_after_three_wrong_tries_and_resends_are_throttled")
    {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();

    // Expired.
    let pending = f.login(NOW).await;
    f.service
        .send_code(&pending, Delivery::Email, NOW)
        .await
        .unwrap();
    let code = code_in(&f.deliver(&peer, NOW, "alice@example.com").await);
    let mut late = pending.clone();
    late.expires_at = NOW + 10_000;
    let o = f.service.complete(late, &code, NOW + 301).await.unwrap();
    assert!(!accepted(&o), "an expired code is refused");

    // Throttled resends; the newest code replaces the older one.
    let pending = f.login(NOW + 1000).await;
    let first = f
        .service
        .send_code(&pending, Delivery::Email, NOW + 1000)
        .await
        .unwrap();
    assert!(matches!(first, Sent::Sent { .. }));
    let old = code_in(&f.deliver(&peer, NOW + 1000, "alice@example.com").await);
    assert_eq!(
        f.service
            .send_code(&pending, Delivery::Email, NOW + 1010)
            .await
            .unwrap(),
        Sent::TooSoon {
            retry_at: NOW + 1030
        }
    );
    assert!(matches!(
        f.service
            .send_code(&pending, Delivery::Email, NOW + 1030)
            .await
            .unwrap(),
        Sent::Sent { .. }
    ));
    let new = code_in(&f.deliver(&peer, NOW + 1031, "alice@example.com").await);
    assert!(matches!(
        f.service
            .send_code(&pending, Delivery::Email, NOW + 1060)
            .await
            .unwrap(),
        Sent::Sent { .. }
    ));
    assert_eq!(
        f.service
            .send_code(&pending, Delivery::Email, NOW + 1100)
            .await
            .unwrap(),
        Sent::TooMany,
        "three codes per login"
    );
    let newest = code_in(&f.deliver(&peer, NOW + 1061, "alice@example.com").await);
    for stale in [&old, &new] {
        if stale != &newest {
            let o = f
                .service
                .complete(pending.clone(), stale, NOW + 1062)
                .await
                .unwrap();
            assert!(!accepted(&o), "a replaced code is refused");
        }
    }

    // Three wrong tries void the code, the right one included.
    let pending = f.login(NOW + 2000).await;
    f.service
        .send_code(&pending, Delivery::Email, NOW + 2000)
        .await
        .unwrap();
    let code = code_in(&f.deliver(&peer, NOW + 2000, "alice@example.com").await);
    let wrong = if code == "12345678" {
        "87654321"
    } else {
        "12345678"
    };
    for i in 0..3 {
        let o = f
            .service
            .complete(pending.clone(), wrong, NOW + 2001 + i)
            .await
            .unwrap();
        assert!(!accepted(&o));
    }
    let o = f
        .service
        .complete(pending.clone(), &code, NOW + 2010)
        .await
        .unwrap();
    assert!(!accepted(&o), "void after three wrong tries");
    let row = f.store().codes_for(&pending.id).await.unwrap().remove(0);
    assert_eq!((row.attempts, row.used_at), (3, None));
    // Wrong codes count toward the lockout like wrong TOTP codes.
    let audit = f.store().audit_tail(200, None).await.unwrap();
    assert!(
        audit
            .iter()
            .filter(|e| e.factors.iter().any(|x| x == "otp:wrong"))
            .count()
            >= 4
    );
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_only_for_the_login_that_asked_for_it() {
    if !smtp_peer_present("a_sign_in_link_works_once_and_only_for_the_login_that_asked_for_it") {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();
    let pending = f.login(NOW).await;
    let other = f.login(NOW + 1).await;
    assert!(matches!(
        f.service
            .send_code(&pending, Delivery::Link, NOW + 2)
            .await
            .unwrap(),
        Sent::Sent { .. }
    ));
    let mail = f.deliver(&peer, NOW + 3, "alice@example.com").await;
    assert_eq!(mail["subject"], "[idforge] Your sign-in link");
    let token = token_in(&mail);
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("/login/link?token=")
    );
    // Another login (another browser's session) cannot use it.
    assert!(
        !f.service
            .link_matches(&other, &token, NOW + 4)
            .await
            .unwrap()
    );
    let o = f
        .service
        .complete_with_link(other, &token, NOW + 4)
        .await
        .unwrap();
    assert!(!accepted(&o), "{o:?}");
    // A link is not a code.
    let o = f
        .service
        .complete(pending.clone(), &token, NOW + 5)
        .await
        .unwrap();
    assert!(!accepted(&o));
    // Its own login can, once.
    let pending = f.login(NOW + 6).await.clone_with_id(&pending);
    assert!(
        f.service
            .link_matches(&pending, &token, NOW + 7)
            .await
            .unwrap()
    );
    let o = f
        .service
        .complete_with_link(pending.clone(), &token, NOW + 7)
        .await
        .unwrap();
    let Outcome::Accept(a) = &o else {
        panic!("{o:?}")
    };
    assert!(a.factors.iter().any(|x| x.starts_with("email_link:ok")));
    let o = f
        .service
        .complete_with_link(pending.clone(), &token, NOW + 8)
        .await
        .unwrap();
    assert!(!accepted(&o), "used once");
    assert!(
        !f.service
            .link_matches(&pending, &token, NOW + 8)
            .await
            .unwrap()
    );
}

/// The pending login `p` as a browser still holding `original` would present it: the same id.
trait SameBrowser {
    fn clone_with_id(self, original: &PendingLogin) -> PendingLogin;
}

impl SameBrowser for PendingLogin {
    fn clone_with_id(self, original: &PendingLogin) -> PendingLogin {
        PendingLogin {
            id: original.id.clone(),
            ..self
        }
    }
}

#[tokio::test]
async fn the_alternate_email_challenge_sends_to_the_other_address_and_registers_the_device() {
    if !smtp_peer_present(
        "the_alternate_email_challenge_sends_to_the_other_address_and_registers_the_device",
    ) {
        return;
    }
    let adaptive = r#"
[adaptive]
challenge_types = ["alternate_email_otp"]

[adaptive.new_device]
action = "challenge"
"#;
    let policy = r#"
[policy.default]
first_factor = "local_password"
second_factor = "none"
"#;
    let f = fixture(policy, adaptive, 20).await;
    let peer = f.peer();
    let pending = f.login(NOW).await;
    assert!(pending.challenged);
    assert_eq!(pending.methods, ["alternate_email_otp"]);
    // The primary address is not offered for this challenge.
    assert!(matches!(
        f.service
            .send_code(&pending, Delivery::Email, NOW)
            .await
            .unwrap(),
        Sent::Unavailable(_)
    ));
    let sent = f
        .service
        .send_code(&pending, Delivery::AlternateEmail, NOW)
        .await
        .unwrap();
    assert_eq!(
        sent,
        Sent::Sent {
            to: "a•••@example.net".into(),
            expires_at: NOW + 300
        }
    );
    let code = code_in(&f.deliver(&peer, NOW + 1, "alice.home@example.net").await);
    let o = f.service.complete(pending, &code, NOW + 2).await.unwrap();
    let Outcome::Accept(a) = &o else {
        panic!("{o:?}")
    };
    assert!(
        a.factors
            .iter()
            .any(|x| x.starts_with("alternate_email_otp:ok"))
    );
    let devices = f.store().devices_of(a.user.id).await.unwrap();
    assert!(devices.iter().any(|d| d.id == "laptop"), "{devices:?}");
    // The device is known now: the next login needs no challenge.
    let r = AuthRequest {
        username: "alice",
        application: "wiki",
        source_ip: "198.51.100.7".parse::<IpAddr>().unwrap(),
        source_is_client: true,
        device: Some("laptop"),
        front_door: FrontDoor::Web,
        now: NOW + 10,
        first_factor: FirstFactorInput::Password(PASSWORD),
        code: None,
    };
    assert!(accepted(&f.service.authenticate(&r).await.unwrap()));
}

#[tokio::test]
async fn an_smtp_outage_delays_the_code_and_the_alert_and_both_arrive_once() {
    if !smtp_peer_present("an_smtp_outage_delays_the_code_and_the_alert_and_both_arrive_once") {
        return;
    }
    let adaptive = r#"
[adaptive.new_device]
action = "allow_and_alert"
alert = "admins"
"#;
    let f = fixture(EMAIL_POLICY, adaptive, 20).await;
    // No SMTP server yet.
    let pending = f.login(NOW).await;
    f.service
        .send_code(&pending, Delivery::Email, NOW)
        .await
        .unwrap();
    let now = i64::try_from(NOW).unwrap();
    let round = f.worker.run_once(now).await.unwrap();
    assert_eq!(round.retried, 2, "the alert and the code wait: {round:?}");
    let peer = f.peer();
    let round = f.worker.run_once(now + 10).await.unwrap();
    assert_eq!(round.sent, 2, "{round:?}");
    assert_eq!(f.worker.run_once(now + 100).await.unwrap().sent, 0);
    let received = peer.received();
    assert_eq!(received.len(), 2, "each arrives once");
    let kinds: Vec<&str> = received
        .iter()
        .map(|r| r["rcpt_tos"][0].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"security@example.com"));
    assert!(kinds.contains(&"alice@example.com"));
    let code_mail = received
        .iter()
        .find(|r| r["rcpt_tos"][0] == "alice@example.com")
        .unwrap();
    // Still good: the code's lifetime runs from when it was issued.
    let o = f
        .service
        .complete(pending, &code_in(code_mail), NOW + 20)
        .await
        .unwrap();
    assert!(accepted(&o), "{o:?}");
}

#[tokio::test]
async fn over_the_address_limit_no_code_is_stored_or_sent() {
    if !smtp_peer_present("over_the_address_limit_no_code_is_stored_or_sent") {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 1).await;
    let first = f.login(NOW).await;
    assert!(matches!(
        f.service
            .send_code(&first, Delivery::Email, NOW)
            .await
            .unwrap(),
        Sent::Sent { .. }
    ));
    let second = f.login(NOW + 60).await;
    assert_eq!(
        f.service
            .send_code(&second, Delivery::Email, NOW + 60)
            .await
            .unwrap(),
        Sent::Suppressed
    );
    assert!(f.store().codes_for(&second.id).await.unwrap().is_empty());
    let statuses: Vec<MailStatus> = f
        .store()
        .outbox(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.status)
        .collect();
    assert_eq!(statuses, [MailStatus::Pending, MailStatus::Suppressed]);
}

/// Whether radclient can run (else a skip, or a failure in CI).
fn radclient_present(test: &str) -> bool {
    idforge_test_support::peer_available(
        test,
        std::process::Command::new("radclient")
            .arg("-h")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok(),
        "radclient (freeradius-utils)",
    )
}

/// The RADIUS server for the `vpn` application (challenge mode) on a free loopback port: its
/// address, the sender that stops it, and its task.
async fn start_radius(
    f: &Fixture,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let settings = RadiusServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        app: Some("vpn".into()),
        reject_delay: std::time::Duration::ZERO,
        ..RadiusServerSettings::default()
    };
    let server = RadiusServer::bind(Arc::clone(&f.service), settings)
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// `radclient -x` with `attrs`; its whole output.
async fn radclient(addr: std::net::SocketAddr, attrs: &str) -> String {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "5"])
        .arg(addr.to_string())
        .args(["auth", RADIUS_SECRET])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(attrs.as_bytes()).await.unwrap();
    stdin.write_all(b"\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radius_challenge_mode_sends_an_email_code_and_accepts_it_with_the_state() {
    let test = "radius_challenge_mode_sends_an_email_code_and_accepts_it_with_the_state";
    if !smtp_peer_present(test) || !radclient_present(test) {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();
    let (addr, stop, task) = start_radius(&f).await;

    // Round 1: the password. The server sends the code and challenges for it.
    let first = radclient(
        addr,
        &format!(
            "User-Name = \"alice\", User-Password = \"{PASSWORD}\", Message-Authenticator = 0x00"
        ),
    )
    .await;
    assert!(first.contains("Received Access-Challenge"), "{first}");
    assert!(first.contains("Enter the code sent to"), "{first}");
    let state = first
        .lines()
        .find_map(|l| l.trim().strip_prefix("State = 0x"))
        .unwrap_or_else(|| panic!("no State in {first}"))
        .to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = code_in(&f.deliver(&peer, now, "alice@example.com").await);

    // Round 2: the code with the State.
    let second = radclient(
        addr,
        &format!(
            "User-Name = \"alice\", User-Password = \"{code}\", State = 0x{state}, Message-Authenticator = 0x00"
        ),
    )
    .await;
    assert!(second.contains("Received Access-Accept"), "{second}");
    // The State and the code are spent.
    let again = radclient(
        addr,
        &format!(
            "User-Name = \"alice\", User-Password = \"{code}\", State = 0x{state}, Message-Authenticator = 0x00"
        ),
    )
    .await;
    assert!(again.contains("Received Access-Reject"), "{again}");
    let audit = f.store().audit_tail(5, Some("alice")).await.unwrap();
    assert!(
        audit.iter().any(
            |e| e.result == "accept" && e.factors.iter().any(|x| x.starts_with("email_otp:ok"))
        ),
        "{audit:?}"
    );
    let _ = stop.send(());
    task.await.unwrap();
}

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-test-token";

#[tokio::test]
async fn an_sms_code_goes_out_through_twilio_and_finishes_the_login_once() {
    if !sms_gateway::gateway_peer_present(
        "an_sms_code_goes_out_through_twilio_and_finishes_the_login_once",
    ) {
        return;
    }
    let port = free_tcp_port();
    let sms = format!(
        r#"
[sms]
provider = "twilio"
account_sid = "{TWILIO_SID}"
auth_token = "{TWILIO_TOKEN}"
from = "+1 415 555 0100"
api_base = "http://127.0.0.1:{port}"
backoff_secs = 1
"#
    );
    let policy = r#"
[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["sms_otp"]
"#;
    let f = fixture_with(policy, "", 20, &sms).await;
    let gateway = sms_gateway::GatewayPeer::twilio(
        f.dir.path(),
        port,
        TWILIO_SID,
        TWILIO_TOKEN,
        &sms_gateway::PeerOptions::default(),
    );
    let config = f.service.config().clone();
    let worker =
        idforge_examples::sms::SmsWorker::new(f.store().clone(), config.sms.as_ref().unwrap())
            .unwrap();
    let pending = f.login(NOW).await;
    let choices = f.service.choices(&pending).await.unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0].to.as_deref(), Some("+49 ••• ••67"));
    let sent = f
        .service
        .send_code(&pending, Delivery::Sms, NOW)
        .await
        .unwrap();
    assert_eq!(
        sent,
        Sent::Sent {
            to: "+49 ••• ••67".into(),
            expires_at: NOW + 300
        }
    );
    let round = worker.run_once(i64::try_from(NOW).unwrap()).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?} {}", gateway.log());
    let received = gateway.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["to"], "+493012345667");
    assert_eq!(received[0]["from"], "+14155550100");
    let text = gateway.last_text_to("+493012345667").unwrap();
    let code = text.split(' ').next().unwrap().to_owned();
    assert_eq!(code.len(), 8, "{text}");
    assert!(text.contains("sign-in code"), "{text}");
    let o = f
        .service
        .complete(pending.clone(), &code, NOW + 5)
        .await
        .unwrap();
    let Outcome::Accept(a) = &o else {
        panic!("{o:?}")
    };
    assert!(
        a.factors.iter().any(|x| x == "sms_otp:ok:+49 ••• ••67"),
        "{:?}",
        a.factors
    );
    let o = f.service.complete(pending, &code, NOW + 6).await.unwrap();
    assert!(!accepted(&o), "single use");
}

#[tokio::test]
async fn an_invitation_lets_the_user_choose_a_password_once() {
    if !smtp_peer_present("an_invitation_lets_the_user_choose_a_password_once") {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();
    let frank = f
        .store()
        .create_user(&NewUser {
            name: "frank".into(),
            display_name: Some("Frank N. Stein".into()),
            email: Some("frank@example.org".into()),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let ip: IpAddr = "198.51.100.8".parse().unwrap();
    // A user with a password is not invited; nor is one without mail.
    assert!(matches!(
        f.service.invite("alice", NOW).await.unwrap(),
        Invitation::Refused(_)
    ));
    let first = f.service.invite("frank", NOW).await.unwrap();
    assert_eq!(
        first,
        Invitation::Sent {
            to: "f•••@example.org".into(),
            expires_at: NOW + 72 * 3600
        }
    );
    let mail = f.deliver(&peer, NOW, "frank@example.org").await;
    assert_eq!(mail["subject"], "[idforge] Welcome: activate your account");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("Hello Frank N. Stein")
    );
    let old_token = token_in(&mail);
    // A second invitation voids the first link.
    f.service.invite("frank", NOW + 60).await.unwrap();
    let token = token_in(&f.deliver(&peer, NOW + 60, "frank@example.org").await);
    assert_ne!(token, old_token);
    assert!(
        f.service
            .activation_user(&old_token, NOW + 61)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.service
            .activate(&old_token, "a long enough password", ip, NOW + 61)
            .await
            .unwrap(),
        Activation::InvalidLink
    );
    let who = f.service.activation_user(&token, NOW + 62).await.unwrap();
    assert_eq!(who.map(|u| u.id), Some(frank.id));
    assert_eq!(
        f.service
            .activate(&token, "short", ip, NOW + 63)
            .await
            .unwrap(),
        Activation::TooShort { min: 8 }
    );
    assert_eq!(
        f.service
            .activate(&token, "frank's new password", ip, NOW + 64)
            .await
            .unwrap(),
        Activation::Done {
            username: "frank".into()
        }
    );
    // Single use, and the password works.
    assert_eq!(
        f.service
            .activate(&token, "another password!", ip, NOW + 65)
            .await
            .unwrap(),
        Activation::InvalidLink
    );
    let r = AuthRequest {
        username: "frank",
        application: "wiki",
        source_ip: ip,
        source_is_client: true,
        device: None,
        front_door: FrontDoor::Web,
        now: NOW + 70,
        first_factor: FirstFactorInput::Password("frank's new password"),
        code: None,
    };
    assert!(matches!(
        f.service.authenticate(&r).await.unwrap(),
        Outcome::NeedSecondFactor(_)
    ));
    // Expired links are refused too.
    let expired = f.service.invite("frank", NOW + 100).await.unwrap();
    assert!(
        matches!(expired, Invitation::Refused(_)),
        "has a password now"
    );
    let audit = f.store().audit_tail(50, None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.result == "activate" && e.username == "frank")
    );
    assert!(audit.iter().any(|e| e.result == "activate-refused"));
}

#[tokio::test]
async fn a_new_device_and_a_factor_reset_are_told_to_the_user() {
    if !smtp_peer_present("a_new_device_and_a_factor_reset_are_told_to_the_user") {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();
    let pending = f.login(NOW).await;
    f.service
        .send_code(&pending, Delivery::Email, NOW)
        .await
        .unwrap();
    let code = code_in(&f.deliver(&peer, NOW, "alice@example.com").await);
    let o = f.service.complete(pending, &code, NOW + 1).await.unwrap();
    assert!(accepted(&o));
    let notice = f.deliver(&peer, NOW + 2, "alice@example.com").await;
    assert_eq!(notice["subject"], "[idforge] New device registered");
    assert!(
        notice["text"]
            .as_str()
            .unwrap()
            .contains("when you signed in to wiki from 198.51.100.7"),
        "{notice}"
    );
    // The same device again: no second notice.
    let again = f.login(NOW + 10).await;
    f.service
        .send_code(&again, Delivery::Email, NOW + 10)
        .await
        .unwrap();
    let code = code_in(&f.deliver(&peer, NOW + 10, "alice@example.com").await);
    assert!(accepted(
        &f.service.complete(again, &code, NOW + 11).await.unwrap()
    ));
    let round = f
        .worker
        .run_once(i64::try_from(NOW + 12).unwrap())
        .await
        .unwrap();
    assert_eq!(round.sent, 0, "a known device is not news");
    // A factor reset.
    let alice = f.store().require_user("alice").await.unwrap();
    assert!(
        f.service
            .notify_user(
                &alice,
                "Your second factors were reset",
                "An administrator removed them.",
                NOW + 20
            )
            .await
            .unwrap()
    );
    let reset = f.deliver(&peer, NOW + 21, "alice@example.com").await;
    assert_eq!(reset["subject"], "[idforge] Your second factors were reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radius_challenge_mode_accepts_a_backup_code_once() {
    let test = "radius_challenge_mode_accepts_a_backup_code_once";
    if !smtp_peer_present(test) || !radclient_present(test) {
        return;
    }
    let policy = r#"
[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "backup_code"]
"#;
    let f = fixture(policy, "", 20).await;
    let alice = f.store().require_user("alice").await.unwrap();
    let codes = idforge_examples::service::new_backup_codes().unwrap();
    let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
    f.store()
        .replace_backup_codes(alice.id, &hashes)
        .await
        .unwrap();
    let (addr, stop, task) = start_radius(&f).await;
    let password_round = format!(
        "User-Name = \"alice\", User-Password = \"{PASSWORD}\", Message-Authenticator = 0x00"
    );
    let state_of = |out: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix("State = 0x"))
            .unwrap_or_else(|| panic!("no State in {out}"))
            .to_owned()
    };
    let code = &codes[0].0;
    for (round, want) in [(1, "Received Access-Accept"), (2, "Received Access-Reject")] {
        let first = radclient(addr, &password_round).await;
        assert!(first.contains("Received Access-Challenge"), "{first}");
        assert!(first.contains("Enter your one-time code"), "{first}");
        let state = state_of(&first);
        let second = radclient(
            addr,
            &format!(
                "User-Name = \"alice\", User-Password = \"{code}\", State = 0x{state}, Message-Authenticator = 0x00"
            ),
        )
        .await;
        assert!(second.contains(want), "round {round}: {second}");
    }
    assert_eq!(
        f.store().unused_backup_codes(alice.id).await.unwrap().len(),
        9
    );
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test]
async fn names_with_line_breaks_never_become_headers_of_code_mails() {
    if !smtp_peer_present("names_with_line_breaks_never_become_headers_of_code_mails") {
        return;
    }
    let f = fixture(EMAIL_POLICY, "", 20).await;
    let peer = f.peer();
    let alice = f.store().require_user("alice").await.unwrap();
    f.store()
        .update_profile(
            alice.id,
            Some("Alice\r\nBcc: eve@evil.example\r\nSubject: pwned"),
            Some("alice@example.com"),
            None,
        )
        .await
        .unwrap();
    let pending = f.login(NOW).await;
    f.service
        .send_code(&pending, Delivery::Email, NOW)
        .await
        .unwrap();
    let mail = f.deliver(&peer, NOW, "alice@example.com").await;
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["alice@example.com"]));
    let data = mail["data"].as_str().unwrap();
    assert!(smtp::header(data, "Bcc").is_none(), "{data}");
    assert_eq!(mail["subject"], "[idforge] Your sign-in code");
    assert_eq!(
        smtp::header(data, "Subject"),
        Some("[idforge] Your sign-in code"),
        "{data}"
    );
}
