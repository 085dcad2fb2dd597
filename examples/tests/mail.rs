//! Alert mails end to end against a real SMTP server (aiosmtpd from the peers venv, started
//! by each test on a loopback port, STARTTLS or implicit TLS, AUTH required): a login raises
//! an adaptive alert, the outbox row is committed with the decision, the worker delivers it.
//!
//! Without aiosmtpd the tests skip, or fail when peers are required (CI).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use idforge_adaptive::{Alert, AlertKind, Audience};
use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::mail::{DeliveryRound, MailNotifier, MailWorker, build_message};
use idforge_examples::notify::{AlertContext, Notifier as _};
use idforge_examples::service::{AuthRequest, FirstFactorInput, FrontDoor, Outcome, Service};
use idforge_examples::store::{MailStatus, NewUser, OutboxMessage, Store};
use idforge_test_support::{TestCa, free_tcp_port};

#[path = "support/smtp.rs"]
mod smtp;
use smtp::{SMTP_PASSWORD, SMTP_USER, SmtpPeer, header, smtp_peer_present};

const NOW: u64 = 1_760_000_000;
const NOW_I: i64 = 1_760_000_000;
const ADMIN: &str = "security@example.com";

struct Options {
    security: &'static str,
    password: &'static str,
    max_attempts: u32,
    per_address: u32,
    per_user: u32,
    alert: &'static str,
    from_name: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            security: "starttls",
            password: SMTP_PASSWORD,
            max_attempts: 5,
            per_address: 20,
            per_user: 20,
            alert: "admins",
            from_name: "idforge IdP",
        }
    }
}

struct Fixture {
    service: Service,
    worker: MailWorker,
    config: Config,
    port: u16,
    cert: PathBuf,
    key: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(o: &Options) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "smtp");
        let (cert, key) = ca.issue_server();
        let password_file = dir.path().join("smtp-password");
        std::fs::write(&password_file, format!("{}\n", o.password)).unwrap();
        let port = free_tcp_port();
        let text = format!(
            r#"
[store]
url = "sqlite://{db}"
encryption_key = "{key}"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "vpn"
kind = "radius"

[policy.default]
first_factor = "local_password"
second_factor = "none"

[adaptive.new_device]
action = "allow_and_alert"
alert = "{alert}"

[mail]
host = "127.0.0.1"
port = {port}
security = "{security}"
username = "{SMTP_USER}"
password = "file:{password_file}"
from = "idp@idforge.test"
from_name = "{from_name}"
timeout_secs = 5
ca_file = "{ca}"
admins = ["{ADMIN}"]
notify_users = true
max_per_address_hour = {per_address}
max_per_user_hour = {per_user}
max_attempts = {max_attempts}
backoff_secs = 1
max_backoff_secs = 8
poll_ms = 100
"#,
            db = dir.path().join("db").display(),
            key = Key::generate().unwrap().to_base64().as_str(),
            alert = o.alert,
            security = o.security,
            password_file = password_file.display(),
            from_name = o.from_name,
            ca = ca.cert.display(),
            per_address = o.per_address,
            per_user = o.per_user,
            max_attempts = o.max_attempts,
        );
        let config = Config::from_toml(&text, "mail-test.toml").unwrap();
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
                email: Some("alice@example.com".into()),
                source: "local".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let hash = service.hasher().hash_new("correct horse").unwrap();
        store.set_password_hash(alice.id, &hash).await.unwrap();
        let worker = MailWorker::new(store, config.mail.as_ref().unwrap()).unwrap();
        Fixture {
            service,
            worker,
            config,
            port,
            cert,
            key: key.display().to_string(),
            dir,
        }
    }

    fn store(&self) -> &Store {
        self.service.store()
    }

    fn start_peer(&self, mode: &str) -> SmtpPeer {
        SmtpPeer::start(self.dir.path(), self.port, mode, &self.cert, &self.key)
    }

    /// A login from an unknown device: accepted, and the new-device rule alerts.
    async fn login(&self, now: u64) {
        let r = AuthRequest {
            username: "alice",
            application: "vpn",
            source_ip: "198.51.100.7".parse::<IpAddr>().unwrap(),
            source_is_client: true,
            device: Some("laptop"),
            front_door: FrontDoor::Radius,
            now,
            first_factor: FirstFactorInput::Password("correct horse"),
            code: None,
        };
        let o = self.service.authenticate(&r).await.unwrap();
        assert!(matches!(o, Outcome::Accept(_)), "{o:?}");
    }

    async fn outbox(&self) -> Vec<OutboxMessage> {
        self.store().outbox(None, 100).await.unwrap()
    }
}

fn count_by_message_id(received: &[serde_json::Value], id: &str) -> usize {
    received
        .iter()
        .filter(|r| header(r["data"].as_str().unwrap(), "Message-ID") == Some(id))
        .count()
}

#[tokio::test]
async fn an_alert_reaches_admins_and_the_user_as_text_and_html() {
    if !smtp_peer_present("an_alert_reaches_admins_and_the_user_as_text_and_html") {
        return;
    }
    let f = Fixture::new(&Options {
        alert: "both",
        ..Options::default()
    })
    .await;
    let peer = f.start_peer("starttls");
    f.login(NOW).await;

    // The rows were committed with the decision: the audit entry and two pending mails.
    let audit = f.store().audit_tail(1, None).await.unwrap().remove(0);
    assert_eq!(audit.result, "accept");
    let rows = f.outbox().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.status == MailStatus::Pending));
    let mut recipients: Vec<&str> = rows.iter().map(|r| r.recipient.as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(recipients, ["alice@example.com", ADMIN]);

    let round = f.worker.run_once(NOW_I).await.unwrap();
    assert_eq!(round.sent, 2, "{round:?} {:?}", f.outbox().await);
    let received = peer.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for row in f.outbox().await {
        assert_eq!(row.status, MailStatus::Sent);
        assert!(row.sent_at.is_some());
        let got: Vec<&serde_json::Value> = received
            .iter()
            .filter(|r| header(r["data"].as_str().unwrap(), "Message-ID") == Some(&row.message_id))
            .collect();
        assert_eq!(got.len(), 1, "{}", row.message_id);
        let r = got[0];
        assert_eq!(r["rcpt_tos"], serde_json::json!([row.recipient]));
        assert_eq!(r["mail_from"], "idp@idforge.test");
        assert_eq!(r["auth_login"], SMTP_USER);
        assert_eq!(r["tls"], true);
        let data = r["data"].as_str().unwrap();
        let subject = header(data, "Subject").unwrap();
        assert!(
            subject.starts_with("[idforge] Security alert for alice"),
            "{subject}"
        );
        assert!(
            header(data, "From").unwrap().contains("idp@idforge.test"),
            "{data}"
        );
        assert!(data.contains("multipart/alternative"), "{data}");
        assert!(data.contains("text/plain"), "{data}");
        assert!(data.contains("text/html"), "{data}");
        assert!(data.contains("Application: vpn"), "{data}");
        assert!(
            data.contains("<th align=3D\"left\">User</th>")
                || data.contains("<th align=\"left\">User</th>"),
            "{data}"
        );
    }
    // Nothing is sent twice.
    assert_eq!(f.worker.run_once(NOW_I + 60).await.unwrap().sent, 0);
    assert_eq!(peer.received().len(), 2);
}

#[tokio::test]
async fn an_outage_loses_nothing_and_the_mail_arrives_once() {
    if !smtp_peer_present("an_outage_loses_nothing_and_the_mail_arrives_once") {
        return;
    }
    let f = Fixture::new(&Options::default()).await;
    // No server listens yet.
    f.login(NOW).await;
    let now = NOW_I;
    let round = f.worker.run_once(now).await.unwrap();
    assert_eq!(round.retried, 1, "{round:?}");
    let row = f.outbox().await.remove(0);
    assert_eq!(row.status, MailStatus::Pending);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, now + 1);
    assert!(row.last_error.is_some());
    // Not due again before its backoff.
    assert_eq!(
        f.worker.run_once(now).await.unwrap(),
        DeliveryRound::default()
    );
    let round = f.worker.run_once(now + 1).await.unwrap();
    assert_eq!(round.retried, 1);
    let row = f.outbox().await.remove(0);
    assert_eq!((row.attempts, row.next_attempt_at), (2, now + 1 + 2));

    let peer = f.start_peer("starttls");
    let round = f.worker.run_once(now + 10).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?} {:?}", f.outbox().await);
    let sent = f.outbox().await.remove(0);
    assert_eq!(sent.status, MailStatus::Sent);
    assert_eq!(
        sent.message_id, row.message_id,
        "one Message-ID on every attempt"
    );
    assert_eq!(f.worker.run_once(now + 100).await.unwrap().sent, 0);
    let received = peer.received();
    assert_eq!(received.len(), 1);
    assert_eq!(count_by_message_id(&received, &row.message_id), 1);
}

#[tokio::test]
async fn a_wrong_smtp_password_is_retried_then_marked_failed() {
    if !smtp_peer_present("a_wrong_smtp_password_is_retried_then_marked_failed") {
        return;
    }
    let f = Fixture::new(&Options {
        password: "not-the-password",
        max_attempts: 3,
        ..Options::default()
    })
    .await;
    let peer = f.start_peer("starttls");
    f.login(NOW).await;
    let now = NOW_I;
    assert_eq!(f.worker.run_once(now).await.unwrap().retried, 1);
    assert_eq!(f.worker.run_once(now + 10).await.unwrap().retried, 1);
    let last = f.worker.run_once(now + 100).await.unwrap();
    assert_eq!(last.failed, 1, "{last:?}");
    let row = f.outbox().await.remove(0);
    assert_eq!(row.status, MailStatus::Failed);
    assert_eq!(row.attempts, 3);
    let error = row.last_error.unwrap();
    assert!(
        error.contains("535") || error.to_lowercase().contains("auth"),
        "{error}"
    );
    assert!(
        !error.contains("not-the-password"),
        "the password is never in the error"
    );
    // Failed rows stay visible and are not tried again.
    assert_eq!(
        f.store()
            .outbox(Some(MailStatus::Failed), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.worker.run_once(now + 10_000).await.unwrap(),
        DeliveryRound::default()
    );
    assert!(peer.received().is_empty());
}

#[tokio::test]
async fn header_injection_in_names_and_subjects_never_makes_a_header() {
    // A configured display name or subject prefix with CR/LF is refused at start.
    for (key, value) in [
        ("from_name", "IdP\\r\\nBcc: evil@example.com"),
        ("subject_prefix", "[x]\\nBcc: evil@example.com"),
    ] {
        let text = format!(
            "[store]\nencryption_key = \"{}\"\n[policy.default]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n\
             [mail]\nhost = \"smtp.example.com\"\nfrom = \"idp@example.com\"\n{key} = \"{value}\"\n",
            Key::generate().unwrap().to_base64().as_str()
        );
        let e = Config::from_toml(&text, "t.toml").unwrap_err().to_string();
        assert!(e.contains(&format!("mail.{key}")), "{e}");
    }
    // A clear-text relay is refused unless it is on loopback.
    let text = format!(
        "[store]\nencryption_key = \"{}\"\n[policy.default]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n\
         [mail]\nhost = \"smtp.example.com\"\nsecurity = \"none\"\nfrom = \"idp@example.com\"\n",
        Key::generate().unwrap().to_base64().as_str()
    );
    let e = Config::from_toml(&text, "t.toml").unwrap_err().to_string();
    assert!(e.contains("mail.security"), "{e}");

    if !smtp_peer_present("header_injection_in_names_and_subjects_never_makes_a_header") {
        return;
    }
    // User data (the user name in an alert) with CR/LF ends up in the subject and bodies,
    // never as a header or a recipient of its own.
    let f = Fixture::new(&Options::default()).await;
    let peer = f.start_peer("starttls");
    let alert = Alert {
        kind: AlertKind::ChallengeFailed,
        audience: Audience::Admins,
        user: "mallory\r\nBcc: evil@example.com\r\nX-Injected: yes".into(),
        application: "vpn\r\nCc: evil2@example.com".into(),
        message: "challenge failed\r\nTo: evil3@example.com".into(),
    };
    let notifier = MailNotifier::from_config(&f.config).unwrap().unwrap();
    let mails = notifier.outbox(
        &alert,
        &AlertContext {
            user_id: None,
            user_email: Some("victim@example.com\r\nBcc: evil4@example.com"),
            now: NOW,
        },
    );
    assert_eq!(
        mails.len(),
        1,
        "only the admin: the user's address is not valid"
    );
    assert!(!mails[0].subject.contains(['\r', '\n']));
    f.store().enqueue_mail(&mails).await.unwrap();
    let row = f.outbox().await.remove(0);
    let message = build_message(f.config.mail.as_ref().unwrap(), &row).unwrap();
    let formatted = String::from_utf8(message.formatted()).unwrap();
    for name in ["Bcc", "X-Injected", "Cc"] {
        assert!(header(&formatted, name).is_none(), "{name} in {formatted}");
    }
    assert_eq!(header(&formatted, "To"), Some(ADMIN), "{formatted}");
    assert_eq!(message.envelope().to().len(), 1);
    assert_eq!(f.worker.run_once(NOW_I).await.unwrap().sent, 1);
    let received = peer.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["rcpt_tos"], serde_json::json!([ADMIN]));
    let data = received[0]["data"].as_str().unwrap();
    for name in ["Bcc", "X-Injected", "Cc"] {
        assert!(header(data, name).is_none(), "{name} in {data}");
    }
}

#[tokio::test]
async fn over_the_rate_limit_mails_are_suppressed_and_recorded() {
    if !smtp_peer_present("over_the_rate_limit_mails_are_suppressed_and_recorded") {
        return;
    }
    let f = Fixture::new(&Options {
        per_address: 2,
        ..Options::default()
    })
    .await;
    let peer = f.start_peer("starttls");
    for i in 0..3 {
        f.login(NOW + i * 60).await;
    }
    let rows = f.outbox().await;
    let statuses: Vec<MailStatus> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            MailStatus::Pending,
            MailStatus::Pending,
            MailStatus::Suppressed
        ]
    );
    assert!(
        rows[2]
            .last_error
            .as_deref()
            .unwrap()
            .contains("rate limit")
    );
    let round = f.worker.run_once(NOW_I + 200).await.unwrap();
    assert_eq!(round.sent, 2);
    assert_eq!(peer.received().len(), 2);
    // An hour later the address may receive again.
    f.login(NOW + 3700).await;
    let last = f.outbox().await.pop().unwrap();
    assert_eq!(last.status, MailStatus::Pending);
}

#[tokio::test]
async fn over_the_per_user_limit_mails_about_that_user_are_suppressed() {
    if !smtp_peer_present("over_the_per_user_limit_mails_about_that_user_are_suppressed") {
        return;
    }
    // Alerts go to the admins and to the user: two mails about the user per login, to two
    // addresses, so the per-address limit (20) stays far away and only the per-user one (3)
    // applies.
    let f = Fixture::new(&Options {
        per_user: 3,
        alert: "both",
        ..Options::default()
    })
    .await;
    for i in 0..2 {
        f.login(NOW + i * 60).await;
    }
    let rows = f.outbox().await;
    let statuses: Vec<MailStatus> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            MailStatus::Pending,
            MailStatus::Pending,
            MailStatus::Pending,
            MailStatus::Suppressed
        ]
    );
    let reason = rows[3].last_error.as_deref().unwrap();
    assert!(reason.contains("about this user"), "{reason}");
    // An hour after the first ones, mail about the user flows again.
    f.login(NOW + 3700).await;
    let rows = f.outbox().await;
    assert_eq!(rows.len(), 6);
    assert!(rows[4..].iter().all(|r| r.status == MailStatus::Pending));
}

#[tokio::test]
async fn implicit_tls_delivers_too() {
    if !smtp_peer_present("implicit_tls_delivers_too") {
        return;
    }
    let f = Fixture::new(&Options {
        security: "tls",
        ..Options::default()
    })
    .await;
    let peer = f.start_peer("tls");
    f.login(NOW).await;
    let round = f.worker.run_once(NOW_I).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?} {:?}", f.outbox().await);
    let received = peer.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["tls"], true);
    assert_eq!(received[0]["auth_login"], SMTP_USER);
}
