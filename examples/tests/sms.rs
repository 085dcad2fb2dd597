//! Text messages end to end against a stand-in gateway (`peers/twilio_peer.py`, started by
//! each test on a loopback port): Twilio's Messages API in its exact shape, and a webhook. A
//! message is made with `new_sms`, written to the outbox, and delivered by the worker; the
//! outage, busy, refusal and rate-limit paths end as the outbox says they should. The logs of
//! each test are captured and must never show a token, a header secret, the text or the
//! whole number.
//!
//! Without a Python 3 the tests skip, or fail when peers are required (CI).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

#[path = "support/sms_gateway.rs"]
mod sms_gateway;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::mail::DeliveryRound;
use idforge_examples::sms::{SmsSettings, SmsWorker, mask_phone, new_sms};
use idforge_examples::store::{Channel, MailStatus, OutboxMessage, Store};
use idforge_test_support::free_tcp_port;
use sms_gateway::{GatewayPeer, PeerOptions, gateway_peer_present};

const NOW: i64 = 1_760_000_000;
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MGfedcba9876543210fedcba9876543210";
const TOKEN: &str = "tw-auth-token-9f2c41";
const WRONG_TOKEN: &str = "tw-wrong-token-7c1e05";
const HOOK_SECRET: &str = "wh-secret-55a7d3";

/// The log lines of one test (the subscriber is this thread's default while the guard
/// lives; `#[tokio::test]` runs on this thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// None of `secrets` in the logs.
    fn assert_clean(&self, secrets: &[&str]) {
        let text = self.text();
        for s in secrets {
            assert!(!text.contains(s), "{s:?} is in the logs:\n{text}");
        }
    }
}

struct Fixture {
    store: Store,
    settings: SmsSettings,
    worker: SmsWorker,
    port: u16,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A store and a worker for the `[sms]` section `sms` makes from the peer's port and a
    /// directory for files.
    async fn new(sms: impl Fn(u16, &std::path::Path) -> String) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        let text = format!(
            r#"
[store]
url = "sqlite://{db}"
encryption_key = "{key}"

[policy.default]
first_factor = "local_password"
second_factor = "none"

[sms]
{sms}
"#,
            db = dir.path().join("db").display(),
            key = Key::generate().unwrap().to_base64().as_str(),
            sms = sms(port, dir.path()),
        );
        let config = Config::from_toml(&text, "sms-test.toml").unwrap();
        let store = idforge_examples::service::open_store(&config)
            .await
            .unwrap();
        let settings = config.sms.clone().unwrap();
        let worker = SmsWorker::new(store.clone(), &settings).unwrap();
        Fixture {
            store,
            settings,
            worker,
            port,
            dir,
        }
    }

    /// Twilio on the peer's port, the token read from a file.
    async fn twilio(token: &str, sender: &str, extra: &str) -> Fixture {
        let token = token.to_owned();
        let sender = sender.to_owned();
        let extra = extra.to_owned();
        Fixture::new(move |port, dir| {
            let file = dir.join("twilio-token");
            std::fs::write(&file, format!("{token}\n")).unwrap();
            format!(
                "provider = \"twilio\"\naccount_sid = \"{SID}\"\nauth_token = \"file:{}\"\n\
                 {sender}\napi_base = \"http://127.0.0.1:{port}\"\ntimeout_secs = 5\n\
                 backoff_secs = 1\nmax_backoff_secs = 8\n{extra}",
                file.display()
            )
        })
        .await
    }

    fn start_twilio(&self, options: &PeerOptions) -> GatewayPeer {
        GatewayPeer::twilio(self.dir.path(), self.port, SID, TOKEN, options)
    }

    /// Writes one SMS about alice to the outbox.
    async fn enqueue(&self, to: &str, text: &str, now: i64) -> (i64, MailStatus) {
        let sms = new_sms(
            &self.settings,
            to,
            text,
            "sms_otp",
            None,
            Some("alice"),
            now,
        )
        .unwrap();
        self.store.enqueue_mail(&[sms]).await.unwrap().remove(0)
    }

    async fn outbox(&self) -> Vec<OutboxMessage> {
        self.store.outbox(None, 100).await.unwrap()
    }
}

#[tokio::test]
async fn a_code_reaches_twilio_in_exactly_its_shape() {
    if !gateway_peer_present("a_code_reaches_twilio_in_exactly_its_shape") {
        return;
    }
    let (logs, _guard) = Logs::capture();
    let f = Fixture::twilio(TOKEN, "from = \"+1 (415) 555-0100\"", "").await;
    let peer = f.start_twilio(&PeerOptions::default());
    let text = "Your idforge code is 493027.\nIt expires in 5 minutes.";
    let (_, status) = f.enqueue("+49 (30) 1234-5678", text, NOW).await;
    assert_eq!(status, MailStatus::Pending);
    let row = f.outbox().await.remove(0);
    assert_eq!(row.channel, Channel::Sms);
    assert_eq!(row.recipient, "+493012345678");

    let round = f.worker.run_once(NOW).await.unwrap();
    assert_eq!(
        round.sent,
        1,
        "{round:?} {:?}\n{}",
        f.outbox().await,
        peer.log()
    );
    let received = peer.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    assert_eq!(r["to"], "+493012345678");
    assert_eq!(r["from"], "+14155550100");
    assert_eq!(r["messaging_service_sid"], serde_json::Value::Null);
    assert_eq!(r["body"], text);
    assert_eq!(r["account_sid"], SID);
    assert_eq!(peer.last_text_to("+493012345678").as_deref(), Some(text));
    let sent = f.outbox().await.remove(0);
    assert_eq!(sent.status, MailStatus::Sent);
    assert_eq!(sent.attempts, 1);
    assert!(sent.sent_at.is_some() && sent.last_error.is_none());

    // Nothing is sent twice.
    assert_eq!(
        f.worker.run_once(NOW + 60).await.unwrap(),
        DeliveryRound::default()
    );
    assert_eq!(peer.received().len(), 1);

    let log = logs.text();
    assert!(log.contains("sms sent"), "{log}");
    assert!(log.contains(&mask_phone("+493012345678")), "{log}");
    assert!(log.contains(r["sid"].as_str().unwrap()), "{log}");
    logs.assert_clean(&[TOKEN, "493027", "3012345678", "expires in"]);
    assert!(!format!("{:?} {:?}", f.worker, f.settings).contains(TOKEN));
}

#[tokio::test]
async fn a_messaging_service_picks_the_sender() {
    if !gateway_peer_present("a_messaging_service_picks_the_sender") {
        return;
    }
    let f = Fixture::twilio(TOKEN, &format!("messaging_service_sid = \"{MG}\""), "").await;
    let peer = f.start_twilio(&PeerOptions::default());
    f.enqueue("+44 20 7946 0958", "code 111222", NOW).await;
    assert_eq!(f.worker.run_once(NOW).await.unwrap().sent, 1);
    let r = peer.received().remove(0);
    assert_eq!(r["messaging_service_sid"], MG);
    assert_eq!(r["from"], serde_json::Value::Null);
    assert_eq!(r["to"], "+442079460958");
}

#[tokio::test]
async fn a_gateway_outage_is_retried_with_backoff_and_delivered_once() {
    if !gateway_peer_present("a_gateway_outage_is_retried_with_backoff_and_delivered_once") {
        return;
    }
    let (logs, _guard) = Logs::capture();
    let f = Fixture::twilio(TOKEN, "from = \"+14155550100\"", "").await;
    // No gateway listens yet.
    f.enqueue("+33 6 12 34 56 78", "Your code is 730115", NOW)
        .await;
    let now = NOW;
    let round = f.worker.run_once(now).await.unwrap();
    assert_eq!(round.retried, 1, "{round:?}");
    let row = f.outbox().await.remove(0);
    assert_eq!(row.status, MailStatus::Pending);
    assert_eq!((row.attempts, row.next_attempt_at), (1, now + 1));
    let error = row.last_error.clone().unwrap();
    assert!(error.to_lowercase().contains("connect"), "{error}");
    // Not due again before its backoff.
    assert_eq!(
        f.worker.run_once(now).await.unwrap(),
        DeliveryRound::default()
    );
    assert_eq!(f.worker.run_once(now + 1).await.unwrap().retried, 1);
    let row = f.outbox().await.remove(0);
    assert_eq!((row.attempts, row.next_attempt_at), (2, now + 1 + 2));

    let peer = f.start_twilio(&PeerOptions::default());
    let round = f.worker.run_once(now + 10).await.unwrap();
    assert_eq!(round.sent, 1, "{round:?} {:?}", f.outbox().await);
    assert_eq!(f.worker.run_once(now + 100).await.unwrap().sent, 0);
    let received = peer.received();
    assert_eq!(received.len(), 1, "delivered exactly once: {received:?}");
    assert_eq!(received[0]["body"], "Your code is 730115");
    let sent = f.outbox().await.remove(0);
    assert_eq!((sent.status, sent.attempts), (MailStatus::Sent, 3));
    assert_eq!(sent.message_id, row.message_id);
    let log = logs.text();
    assert!(log.contains("will retry"), "{log}");
    logs.assert_clean(&[TOKEN, "730115", "612345678"]);
}

#[tokio::test]
async fn busy_answers_are_retried_no_sooner_than_retry_after() {
    if !gateway_peer_present("busy_answers_are_retried_no_sooner_than_retry_after") {
        return;
    }
    let f = Fixture::twilio(TOKEN, "from = \"+14155550100\"", "").await;
    let peer = f.start_twilio(&PeerOptions {
        fail_first: 2,
        fail_status: Some(429),
        retry_after: Some(5),
        ..PeerOptions::default()
    });
    f.enqueue("+1 212 555 0199", "code 555000", NOW).await;
    assert_eq!(f.worker.run_once(NOW).await.unwrap().retried, 1);
    let row = f.outbox().await.remove(0);
    assert_eq!(
        row.next_attempt_at,
        NOW + 5,
        "Retry-After beats the 1 s backoff"
    );
    let error = row.last_error.unwrap();
    assert!(error.contains("Twilio error 20429"), "{error}");
    assert!(error.contains("HTTP 429"), "{error}");
    assert_eq!(
        f.worker.run_once(NOW + 4).await.unwrap(),
        DeliveryRound::default()
    );
    assert_eq!(f.worker.run_once(NOW + 5).await.unwrap().retried, 1);
    assert_eq!(f.outbox().await[0].next_attempt_at, NOW + 10);
    assert_eq!(f.worker.run_once(NOW + 10).await.unwrap().sent, 1);
    assert_eq!(peer.received().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_the_last_attempt() {
    if !gateway_peer_present("server_errors_are_retried_until_the_last_attempt") {
        return;
    }
    let f = Fixture::twilio(TOKEN, "from = \"+14155550100\"", "max_attempts = 3").await;
    let peer = f.start_twilio(&PeerOptions {
        fail_first: 100,
        ..PeerOptions::default()
    });
    f.enqueue("+1 212 555 0199", "code 555001", NOW).await;
    assert_eq!(f.worker.run_once(NOW).await.unwrap().retried, 1);
    assert_eq!(f.worker.run_once(NOW + 10).await.unwrap().retried, 1);
    assert_eq!(f.worker.run_once(NOW + 20).await.unwrap().failed, 1);
    let row = f.outbox().await.remove(0);
    assert_eq!((row.status, row.attempts), (MailStatus::Failed, 3));
    let error = row.last_error.unwrap();
    assert!(error.contains("HTTP 503"), "{error}");
    assert_eq!(
        f.worker.run_once(NOW + 10_000).await.unwrap(),
        DeliveryRound::default()
    );
    assert!(peer.received().is_empty());
}

#[tokio::test]
async fn wrong_credentials_fail_for_good_with_twilios_message_and_no_token() {
    if !gateway_peer_present("wrong_credentials_fail_for_good_with_twilios_message_and_no_token") {
        return;
    }
    let (logs, _guard) = Logs::capture();
    let f = Fixture::twilio(WRONG_TOKEN, "from = \"+14155550100\"", "").await;
    let peer = f.start_twilio(&PeerOptions::default());
    f.enqueue("+49 30 1234567", "Your code is 246810", NOW)
        .await;
    let round = f.worker.run_once(NOW).await.unwrap();
    assert_eq!(round.failed, 1, "a refusal is not retried: {round:?}");
    let row = f.outbox().await.remove(0);
    assert_eq!((row.status, row.attempts), (MailStatus::Failed, 1));
    let error = row.last_error.unwrap();
    assert_eq!(
        error,
        "Twilio error 20003: Authentication Error - invalid username (HTTP 401 Unauthorized)"
    );
    for token in [TOKEN, WRONG_TOKEN] {
        assert!(!error.contains(token));
    }
    assert_eq!(
        f.worker.run_once(NOW + 10_000).await.unwrap(),
        DeliveryRound::default()
    );
    assert!(peer.received().is_empty());
    let log = logs.text();
    assert!(log.contains("failed for good"), "{log}");
    assert!(log.contains("status=401"), "{log}");
    logs.assert_clean(&[TOKEN, WRONG_TOKEN, "246810", "301234567"]);
}

#[tokio::test]
async fn an_invalid_number_fails_for_good_with_twilios_message() {
    if !gateway_peer_present("an_invalid_number_fails_for_good_with_twilios_message") {
        return;
    }
    let (logs, _guard) = Logs::capture();
    let f = Fixture::twilio(TOKEN, "from = \"+14155550100\"", "").await;
    let peer = f.start_twilio(&PeerOptions::default());
    // Well-formed, but Twilio's own test number for "not a valid phone number".
    f.enqueue("+1 500-555-0001", "Your code is 135790", NOW)
        .await;
    f.enqueue("+1 500 555 0006", "Your code is 135791", NOW)
        .await;
    let round = f.worker.run_once(NOW).await.unwrap();
    assert_eq!((round.failed, round.sent), (1, 1), "{round:?}");
    let rows = f.outbox().await;
    assert_eq!(rows[0].status, MailStatus::Failed);
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some(
            "Twilio error 21211: The 'To' number +15005550001 is not a valid phone number. \
             (HTTP 400 Bad Request)"
        )
    );
    assert_eq!(rows[1].status, MailStatus::Sent);
    assert_eq!(peer.received().len(), 1);
    // The log names the number as masked, even where Twilio's reason repeats it.
    let log = logs.text();
    assert!(
        log.contains("The 'To' number +1 ••• ••01 is not a valid phone number."),
        "{log}"
    );
    logs.assert_clean(&["5005550001", "5005550006", "135790", "135791"]);
}

#[tokio::test]
async fn a_webhook_gets_its_secret_header_and_a_json_escaped_body() {
    if !gateway_peer_present("a_webhook_gets_its_secret_header_and_a_json_escaped_body") {
        return;
    }
    let (logs, _guard) = Logs::capture();
    let f = Fixture::new(|port, dir| {
        let file = dir.join("hook-secret");
        std::fs::write(&file, format!("Bearer {HOOK_SECRET}\n")).unwrap();
        format!(
            "provider = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hooks/sms?tenant=acme\"\n\
             body = '{{\"destination\": {{{{ to }}}}, \"message\": {{{{ text }}}}, \"ref\": {{{{ message_id|tojson }}}}}}'\n\
             backoff_secs = 1\n\
             [sms.headers]\nAuthorization = \"file:{}\"\nX-Tenant = \"acme\"\n",
            file.display()
        )
    })
    .await;
    let peer = GatewayPeer::webhook(
        f.dir.path(),
        f.port,
        &PeerOptions {
            expect_headers: vec![("Authorization".into(), format!("Bearer {HOOK_SECRET}"))],
            ..PeerOptions::default()
        },
    );
    let text = "Code \"864200\" for C:\\Users\\alice\nsecond line ✓ {{ not a template }}";
    f.enqueue("+61 2 9876 5432", text, NOW).await;
    let round = f.worker.run_once(NOW).await.unwrap();
    assert_eq!(
        round.sent,
        1,
        "{round:?} {:?}\n{}",
        f.outbox().await,
        peer.log()
    );
    let row = f.outbox().await.remove(0);
    let received = peer.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/hooks/sms");
    assert_eq!(r["query"], "tenant=acme");
    assert_eq!(r["content_type"], "application/json");
    assert_eq!(r["headers"]["idempotency-key"], row.message_id.as_str());
    assert_eq!(r["headers"]["x-tenant"], "acme");
    assert_eq!(
        r["json"],
        serde_json::json!({
            "destination": "+61298765432",
            "message": text,
            "ref": row.message_id,
        })
    );
    assert_eq!(peer.last_text_to("+61298765432"), None, "other field names");
    logs.assert_clean(&[HOOK_SECRET, "864200", "298765432", "tenant=acme"]);
}

#[tokio::test]
async fn a_webhook_that_refuses_the_secret_fails_without_repeating_it() {
    if !gateway_peer_present("a_webhook_that_refuses_the_secret_fails_without_repeating_it") {
        return;
    }
    let (logs, _guard) = Logs::capture();
    let f = Fixture::new(|port, _| {
        format!(
            "provider = \"webhook\"\nurl = \"http://127.0.0.1:{port}/sms\"\n\
             [sms.headers]\nAuthorization = \"Bearer {WRONG_TOKEN}\"\n"
        )
    })
    .await;
    let peer = GatewayPeer::webhook(
        f.dir.path(),
        f.port,
        &PeerOptions {
            expect_headers: vec![("Authorization".into(), format!("Bearer {HOOK_SECRET}"))],
            ..PeerOptions::default()
        },
    );
    f.enqueue("+61 2 9876 5432", "code 1", NOW).await;
    assert_eq!(f.worker.run_once(NOW).await.unwrap().failed, 1);
    let error = f.outbox().await.remove(0).last_error.unwrap();
    assert_eq!(
        error,
        "HTTP 401 Unauthorized: header Authorization missing or wrong"
    );
    assert!(peer.received().is_empty());
    logs.assert_clean(&[WRONG_TOKEN, HOOK_SECRET]);
}

#[tokio::test]
async fn a_webhook_can_put_a_form_body() {
    if !gateway_peer_present("a_webhook_can_put_a_form_body") {
        return;
    }
    let f = Fixture::new(|port, _| {
        format!(
            "provider = \"webhook\"\nurl = \"http://localhost:{port}/v1/messages\"\nmethod = \"PUT\"\n\
             content_type = \"application/x-www-form-urlencoded\"\n\
             body = \"to={{{{ to }}}}&msg={{{{ text }}}}&id={{{{ message_id }}}}\"\n"
        )
    })
    .await;
    let peer = GatewayPeer::webhook(f.dir.path(), f.port, &PeerOptions::default());
    let text = "a&b=c + 100%\nnext";
    f.enqueue("+49 30 1234567", text, NOW).await;
    assert_eq!(f.worker.run_once(NOW).await.unwrap().sent, 1);
    let r = peer.received().remove(0);
    assert_eq!(r["method"], "PUT");
    let body = r["body"].as_str().unwrap();
    assert!(body.starts_with("to=%2B49301234567&msg="), "{body}");
    let fields: Vec<(String, String)> = body
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .unwrap()
                .into_owned();
            (k.to_owned(), v)
        })
        .collect();
    assert_eq!(fields[1], ("msg".to_owned(), text.to_owned()));
    assert_eq!(fields.len(), 3);
}

#[tokio::test]
async fn over_the_rate_limits_sms_are_suppressed_and_never_sent() {
    if !gateway_peer_present("over_the_rate_limits_sms_are_suppressed_and_never_sent") {
        return;
    }
    let f = Fixture::twilio(
        TOKEN,
        "from = \"+14155550100\"",
        "max_per_address_hour = 2\nmax_per_user_hour = 3",
    )
    .await;
    let peer = f.start_twilio(&PeerOptions::default());
    let a = "+49 30 1111111";
    let statuses = [
        f.enqueue(a, "code 1", NOW).await.1,
        f.enqueue(a, "code 2", NOW + 60).await.1,
        // Over the per-number limit.
        f.enqueue(a, "code 3", NOW + 120).await.1,
        // Another number: the user has two messages in the hour, under three.
        f.enqueue("+49 30 2222222", "code 4", NOW + 180).await.1,
        // A third number: the user's limit is reached.
        f.enqueue("+49 30 3333333", "code 5", NOW + 240).await.1,
    ];
    assert_eq!(
        statuses,
        [
            MailStatus::Pending,
            MailStatus::Pending,
            MailStatus::Suppressed,
            MailStatus::Pending,
            MailStatus::Suppressed
        ]
    );
    let rows = f.outbox().await;
    let reason = |i: usize| rows[i].last_error.clone().unwrap();
    assert!(
        reason(2).contains("2 messages to this address"),
        "{}",
        reason(2)
    );
    assert!(
        reason(4).contains("3 messages about this user"),
        "{}",
        reason(4)
    );
    let round = f.worker.run_once(NOW + 300).await.unwrap();
    assert_eq!(round.sent, 3, "{round:?}");
    let mut texts: Vec<String> = peer
        .wait_for(3, Duration::from_secs(5))
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    assert_eq!(texts, ["code 1", "code 2", "code 4"]);
    // An hour after the first ones the number may receive again.
    assert_eq!(
        f.enqueue(a, "code 6", NOW + 3700).await.1,
        MailStatus::Pending
    );
    // Suppressed rows stay suppressed.
    let rows = f.outbox().await;
    assert_eq!(rows[2].status, MailStatus::Suppressed);
    assert_eq!(rows[4].status, MailStatus::Suppressed);
}
