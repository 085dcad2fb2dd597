//! The RADIUS server end to end: FreeRADIUS's `radclient` (and, where a test needs the State
//! of a challenge or exact timing, `idforge_radius::Client` over a UDP socket) as the NAS,
//! against the server running in-process on a free loopback port, over a real SQLite store.
//!
//! `radclient` comes with `freeradius-utils`. Without it the radclient tests print a skip
//! message and pass, unless `CI` is set: then they fail.

#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::too_many_lines
)]

#[path = "support/postgres.rs"]
mod postgres;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::radius_server::{
    CHALLENGE_PROMPT, RadiusServer, RadiusServerSettings, STATE_LEN,
};
use idforge_examples::service::Service;
use idforge_examples::store::{NewFactor, NewUser};
use idforge_otp::{Algorithm, Digits, Secret, Totp};
use idforge_otp::{YubicoCounters, YubicoKey, YubicoToken};
use idforge_radius::{Attribute, AttributeType, Code, SharedSecret};
use idforge_radius::{Client, ClientConfig, Credentials};
use tokio::io::AsyncWriteExt as _;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &str = "testing123";
const PASSWORD: &str = "correct horse";

struct Fixture {
    service: Arc<Service>,
    config: Config,
    /// The configuration as written (with its store key), for the CLI.
    text: String,
    totp: Secret,
    _dir: tempfile::TempDir,
}

/// The test configuration: a SQLite store in `dir`, four RADIUS apps (one a mode), the NAS
/// 127.0.0.1 with `secret` (inline, or `env:`/`file:`).
fn config_text(dir: &std::path::Path, secret: &str) -> String {
    let url = format!("sqlite://{}", dir.join("db").display());
    let key = Key::generate().unwrap().to_base64().to_string();
    format!(
        r#"
groups = ["Staff"]

[store]
url = "{url}"
encryption_key = "{key}"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "workspaces"
kind = "radius"
radius_mode = "otp-only"

[[apps]]
id = "vpn"
kind = "radius"
radius_mode = "challenge"

[[apps]]
id = "branch"
kind = "radius"
radius_mode = "password-only"

[[apps]]
id = "firewall"
kind = "radius"
radius_mode = "password+otp"

[[policy.policies]]
name = "branch-password-only"
applications = ["branch"]
groups = ["Staff"]
first_factor = "local_password"
second_factor = "none"

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "yubico_otp"]

[[radius.clients]]
name = "localhost"
source = "127.0.0.1"
secret = "{secret}"

[[radius.clients]]
name = "localhost6"
source = "::1/128"
secret = "{secret}"
"#
    )
}

async fn fixture() -> Fixture {
    fixture_on(None).await
}

/// The fixture on another store URL (a PostgreSQL database) instead of the SQLite file.
async fn fixture_on(store_url: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut text = config_text(dir.path(), SECRET);
    if let Some(url) = store_url {
        let sqlite = format!("sqlite://{}", dir.path().join("db").display());
        text = text.replace(&sqlite, url);
    }
    let config = Config::from_toml(&text, "radius-test.toml").unwrap();
    let service = Service::open(config.clone()).await.unwrap();
    let s = service.store();
    let alice = s
        .create_user(&NewUser {
            name: "alice".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let hash = service.hasher().hash_new(PASSWORD).unwrap();
    s.set_password_hash(alice.id, &hash).await.unwrap();
    s.add_member("alice", "Staff").await.unwrap();
    let totp = Secret::from_bytes(b"alice's 20-byte key!").unwrap();
    s.add_factor(alice.id, &NewFactor::totp("phone", &totp))
        .await
        .unwrap();
    Fixture {
        service: Arc::new(service),
        config,
        text,
        totp,
        _dir: dir,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn totp_at(secret: &Secret, at: u64) -> String {
    Totp::new(secret, Algorithm::Sha1, Digits::SIX, 30)
        .unwrap()
        .generate(at)
        .unwrap()
        .to_string()
}

/// The code valid now.
fn code_now(f: &Fixture) -> String {
    totp_at(&f.totp, unix_now())
}

/// A six-digit code that is none of the codes the window accepts now.
fn wrong_code(f: &Fixture) -> String {
    let now = unix_now();
    let valid: Vec<String> = (0..5)
        .map(|i| totp_at(&f.totp, now + i * 30 - 60))
        .collect();
    let mut n: u32 = valid[2].parse::<u32>().unwrap() + 500_000;
    loop {
        let candidate = format!("{:06}", n % 1_000_000);
        if !valid.contains(&candidate) {
            return candidate;
        }
        n += 1;
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Signals shutdown and waits (at most `limit`) for `run` to return.
    async fn shutdown(mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(limit, &mut self.task)
            .await
            .expect("the server did not stop in time")
            .unwrap();
        started.elapsed()
    }
}

async fn start(f: &Fixture, app: &str, reject_delay: Duration) -> Running {
    start_on(Arc::clone(&f.service), app, reject_delay).await
}

async fn start_on(service: Arc<Service>, app: &str, reject_delay: Duration) -> Running {
    let settings = RadiusServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        app: Some(app.into()),
        reject_delay,
        ..RadiusServerSettings::default()
    };
    let server = RadiusServer::bind(service, settings).await.unwrap();
    let addr = server.local_addrs()[0];
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

// ---- radclient --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Accept,
    Reject,
    Challenge,
    Nothing,
}

/// Whether radclient can run; `false` (after a skip message) when it is missing outside CI.
fn have_radclient(test: &str) -> bool {
    match std::process::Command::new("radclient")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: radclient (freeradius-utils) is required in CI"
            );
            eprintln!("{test}: SKIPPED: radclient not found (apt-get install freeradius-utils)");
            false
        }
        Err(e) => panic!("{test}: cannot run radclient: {e}"),
    }
}

/// `radclient -x -r 1 -t WAIT ADDR COMMAND SECRET` with `attrs` on stdin.
async fn radclient(addr: SocketAddr, command: &str, secret: &str, attrs: &str, wait: u32) -> Reply {
    let mut child = tokio::process::Command::new("radclient")
        .args(["-x", "-r", "1", "-t", &wait.to_string()])
        .arg(addr.to_string())
        .arg(command)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(attrs.as_bytes()).await.unwrap();
    stdin.write_all(b"\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("Received Access-Accept") {
        Reply::Accept
    } else if stdout.contains("Received Access-Reject") {
        Reply::Reject
    } else if stdout.contains("Received Access-Challenge") {
        Reply::Challenge
    } else {
        Reply::Nothing
    }
}

/// A PAP Access-Request with Message-Authenticator, as a NAS that follows the Blast-RADIUS
/// advice sends it.
async fn pap(addr: SocketAddr, user: &str, password: &str) -> Reply {
    let attrs = format!(
        "User-Name = \"{user}\", User-Password = \"{password}\", Message-Authenticator = 0x00"
    );
    radclient(addr, "auth", SECRET, &attrs, 3).await
}

// ---- idforge_radius::Client over UDP ---------------------------------------------------

struct Nas {
    client: Client,
    socket: UdpSocket,
    server: SocketAddr,
}

#[derive(Debug)]
struct Answer {
    code: Code,
    state: Option<Vec<u8>>,
    reply_message: Option<String>,
    bytes: Vec<u8>,
}

impl Nas {
    async fn new(bind: &str, server: SocketAddr, secret: &str) -> Nas {
        Nas {
            client: Client::new(ClientConfig::default(), SharedSecret::new(secret)),
            socket: UdpSocket::bind(bind).await.unwrap(),
            server,
        }
    }

    /// Builds a PAP Access-Request (with `state` when given).
    fn access_request(&mut self, user: &str, password: &str, state: Option<&[u8]>) -> Vec<u8> {
        self.access_request_from(user, password, state, None)
    }

    /// Like [`Nas::access_request`], with a Calling-Station-Id.
    fn access_request_from(
        &mut self,
        user: &str,
        password: &str,
        state: Option<&[u8]>,
        calling: Option<&str>,
    ) -> Vec<u8> {
        let mut attrs = vec![Attribute::text(AttributeType::USER_NAME, user)];
        if let Some(c) = calling {
            attrs.push(Attribute::text(AttributeType::CALLING_STATION_ID, c));
        }
        if let Some(state) = state {
            attrs.push(Attribute::state(state));
        }
        let mut out = Vec::new();
        self.client
            .request(
                Instant::now(),
                &mut rand::rng(),
                Code::AccessRequest,
                Credentials::Pap(password.as_bytes()),
                &attrs,
                &mut out,
            )
            .unwrap();
        out
    }

    /// Sends `bytes` and waits up to `wait` for a datagram.
    async fn send_raw(&self, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
        self.socket.send_to(bytes, self.server).await.unwrap();
        let mut buf = vec![0u8; 4096];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    /// Sends `bytes` and verifies the answer with the client (authenticators checked).
    async fn exchange(&mut self, bytes: &[u8], wait: Duration) -> Option<Answer> {
        let raw = self.send_raw(bytes, wait).await?;
        let response = self.client.handle_response(&raw).unwrap();
        let packet = response.packet();
        Some(Answer {
            code: response.code(),
            state: packet.find(AttributeType::STATE).map(|a| a.value.to_vec()),
            reply_message: packet
                .find(AttributeType::REPLY_MESSAGE)
                .map(|a| String::from_utf8_lossy(a.value).into_owned()),
            bytes: raw.clone(),
        })
    }

    async fn login(&mut self, user: &str, password: &str, state: Option<&[u8]>) -> Answer {
        let request = self.access_request(user, password, state);
        self.exchange(&request, Duration::from_secs(5))
            .await
            .expect("no answer")
    }
}

// ---- the tests ---------------------------------------------------------------------------

/// AWS Directory Service sends no Calling-Station-Id: every WorkSpaces user arrives from the
/// same NAS address. Wrong codes of many users must not lock the others out through the
/// per-address lockout (20 failures by default); with the client's address in
/// Calling-Station-Id, that address is locked as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_behind_a_shared_nas_address_lock_out_no_other_user() {
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let mut nas = Nas::new("127.0.0.1:0", server.addr, SECRET).await;
    let wrong = wrong_code(&f);
    for i in 0..25 {
        let r = nas.login(&format!("user{i}"), &wrong, None).await;
        assert_eq!(r.code, Code::AccessReject);
    }
    let r = nas.login("alice", &code_now(&f), None).await;
    assert_eq!(
        r.code,
        Code::AccessAccept,
        "one NAS address is not one client"
    );
    // A client address in Calling-Station-Id is locked after its failures.
    for i in 0..21 {
        let request =
            nas.access_request_from(&format!("guess{i}"), &wrong, None, Some("192.0.2.77"));
        let r = nas
            .exchange(&request, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.code, Code::AccessReject);
    }
    let code = totp_at(&f.totp, unix_now() + 30);
    let request = nas.access_request_from("alice", &code, None, Some("192.0.2.77"));
    let r = nas
        .exchange(&request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r.code, Code::AccessReject, "the client address is locked");
    let tail = f
        .service
        .store()
        .audit_tail(1, Some("alice"))
        .await
        .unwrap();
    assert_eq!(tail[0].result, "locked");
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_only_accepts_the_code_once_and_rejects_wrong_ones() {
    if !have_radclient("otp_only") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let code = code_now(&f);
    assert_eq!(
        pap(server.addr, "alice", &wrong_code(&f)).await,
        Reply::Reject
    );
    assert_eq!(pap(server.addr, "alice", &code).await, Reply::Accept);
    assert_eq!(
        pap(server.addr, "alice", &code).await,
        Reply::Reject,
        "a used code is refused"
    );
    assert_eq!(pap(server.addr, "mallory", &code).await, Reply::Reject);
    server.shutdown(Duration::from_secs(5)).await;
}

/// AWS Directory Service's CHAP option: radclient computes CHAP-Password over the code; the
/// server finds the code of the window that matches, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_only_under_chap_accepts_the_code_once() {
    if !have_radclient("otp_only_chap") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let chap = |code: &str| {
        format!("User-Name = \"alice\", CHAP-Password = \"{code}\", Message-Authenticator = 0x00")
    };
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &chap(&wrong_code(&f)), 3).await,
        Reply::Reject
    );
    let code = code_now(&f);
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &chap(&code), 3).await,
        Reply::Accept
    );
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &chap(&code), 3).await,
        Reply::Reject,
        "a used code is refused under CHAP too"
    );
    // Nor does PAP take it afterwards: one replay guard for every protocol.
    assert_eq!(pap(server.addr, "alice", &code).await, Reply::Reject);
    let last = f.service.store().audit_tail(2, None).await.unwrap();
    assert!(
        last[0].factors.contains(&"otp:replayed".to_owned()),
        "{last:?}"
    );
    server.shutdown(Duration::from_secs(5)).await;
}

/// An MS-CHAPv2 Access-Request for `code` (as a Windows VPN client or AWS's MS-CHAPv2 option
/// sends it), with the NT response and the hash it was made from.
fn ms_chap2_request(
    nas: &mut Nas,
    user: &str,
    code: &str,
    auth_challenge: &[u8; 16],
) -> (Vec<u8>, [u8; 24], [u8; 16]) {
    use idforge_radius::mschap;
    use idforge_radius::{MICROSOFT, VendorSpecific, microsoft};
    let peer_challenge = [0x21; 16];
    let hash = *mschap::nt_password_hash(code);
    let nt = mschap::generate_nt_response(auth_challenge, &peer_challenge, user.as_bytes(), &hash);
    let mut response = Vec::new();
    microsoft::MsChap2Response {
        ident: 9,
        flags: 0,
        peer_challenge: &peer_challenge,
        nt_response: &nt,
    }
    .encode(&mut response);
    let (mut challenge_vsa, mut response_vsa) = (Vec::new(), Vec::new());
    VendorSpecific::encode_single(
        MICROSOFT,
        microsoft::MS_CHAP_CHALLENGE,
        auth_challenge,
        &mut challenge_vsa,
    )
    .unwrap();
    VendorSpecific::encode_single(
        MICROSOFT,
        microsoft::MS_CHAP2_RESPONSE,
        &response,
        &mut response_vsa,
    )
    .unwrap();
    let attrs = [
        Attribute::text(AttributeType::USER_NAME, user),
        Attribute::octets(AttributeType::VENDOR_SPECIFIC, &challenge_vsa),
        Attribute::octets(AttributeType::VENDOR_SPECIFIC, &response_vsa),
    ];
    let mut out = Vec::new();
    nas.client
        .request(
            Instant::now(),
            &mut rand::rng(),
            Code::AccessRequest,
            Credentials::None,
            &attrs,
            &mut out,
        )
        .unwrap();
    (out, nt, hash)
}

/// MS-CHAPv2 in otp-only mode: the server finds the code behind the NT response, answers
/// with MS-CHAP2-Success and the MPPE keys the client derives itself, refuses a replay with
/// MS-CHAP-Error E=691.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_only_under_ms_chap_v2_answers_success_and_mppe_keys() {
    use idforge_radius::mschap::{MppeKeys, MsChapErrorCode};
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let mut nas = Nas::new("127.0.0.1:0", server.addr, SECRET).await;
    let code = code_now(&f);
    let (request, nt, hash) = ms_chap2_request(&mut nas, "alice", &code, &[0x5a; 16]);
    let raw = nas
        .send_raw(&request, Duration::from_secs(5))
        .await
        .unwrap();
    let response = nas.client.handle_response(&raw).unwrap();
    assert_eq!(response.code(), Code::AccessAccept);
    let success = response.ms_chap2_success().expect("MS-CHAP2-Success");
    assert_eq!(success[0], 9, "the identifier is echoed");
    assert!(success[1..].starts_with(b"S="), "{success:?}");
    let keys = nas.client.mppe_keys(&response).unwrap();
    let expected = MppeKeys::ms_chap2(&hash, &nt);
    assert_eq!(keys.send_key(), expected.send_key());
    assert_eq!(keys.recv_key(), expected.recv_key());

    // The same code again (a new request, a new challenge): refused with MS-CHAP-Error.
    let (request, _, _) = ms_chap2_request(&mut nas, "alice", &code, &[0x6b; 16]);
    let raw = nas
        .send_raw(&request, Duration::from_secs(5))
        .await
        .unwrap();
    let response = nas.client.handle_response(&raw).unwrap();
    assert_eq!(response.code(), Code::AccessReject);
    let error = response.ms_chap_error().unwrap().unwrap();
    assert_eq!(error.code, MsChapErrorCode::AuthenticationFailure);
    assert_eq!((error.ident, error.version, error.retry), (9, 3, false));
    // A wrong code: refused the same way.
    let (request, _, _) = ms_chap2_request(&mut nas, "alice", &wrong_code(&f), &[0x7c; 16]);
    let raw = nas
        .send_raw(&request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        nas.client.handle_response(&raw).unwrap().code(),
        Code::AccessReject
    );
    server.shutdown(Duration::from_secs(5)).await;
}

/// MS-CHAPv1 in otp-only mode, with radclient computing the response from the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_only_under_ms_chap_v1_accepts_the_code_once() {
    if !have_radclient("otp_only_ms_chap_v1") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let attrs = |code: &str| {
        format!(
            "User-Name = \"alice\", MS-CHAP-Password = \"{code}\", Message-Authenticator = 0x00"
        )
    };
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &attrs(&wrong_code(&f)), 3).await,
        Reply::Reject
    );
    let code = code_now(&f);
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &attrs(&code), 3).await,
        Reply::Accept
    );
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &attrs(&code), 3).await,
        Reply::Reject
    );
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_accepts_the_password_alone() {
    if !have_radclient("password_only") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "branch", Duration::ZERO).await;
    assert_eq!(pap(server.addr, "alice", PASSWORD).await, Reply::Accept);
    assert_eq!(
        pap(server.addr, "alice", "wrong horse").await,
        Reply::Reject
    );
    assert_eq!(pap(server.addr, "nobody", PASSWORD).await, Reply::Reject);
    server.shutdown(Duration::from_secs(5)).await;
}

/// A password mode cannot check a CHAP response (passwords are argon2id hashes or directory
/// binds): the request is rejected, and the audit entry says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_refuses_chap_and_says_why() {
    if !have_radclient("password_only_chap") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "branch", Duration::ZERO).await;
    let chap = format!(
        "User-Name = \"alice\", CHAP-Password = \"{PASSWORD}\", Message-Authenticator = 0x00"
    );
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &chap, 3).await,
        Reply::Reject
    );
    let last = f.service.store().audit_tail(1, None).await.unwrap();
    assert!(
        last[0]
            .reasons
            .iter()
            .any(|r| r.contains("configure the NAS for PAP")),
        "{last:?}"
    );
    // PAP with the same password is accepted.
    assert_eq!(pap(server.addr, "alice", PASSWORD).await, Reply::Accept);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_plus_otp_needs_both_and_the_code_once() {
    if !have_radclient("password_plus_otp") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "firewall", Duration::ZERO).await;
    let code = code_now(&f);
    assert_eq!(
        pap(server.addr, "alice", &format!("wrong horse{code}")).await,
        Reply::Reject
    );
    assert_eq!(
        pap(
            server.addr,
            "alice",
            &format!("{PASSWORD}{}", wrong_code(&f))
        )
        .await,
        Reply::Reject
    );
    assert_eq!(
        pap(server.addr, "alice", PASSWORD).await,
        Reply::Reject,
        "no code"
    );
    assert_eq!(
        pap(server.addr, "alice", &format!("{PASSWORD}{code}")).await,
        Reply::Accept
    );
    assert_eq!(
        pap(server.addr, "alice", &format!("{PASSWORD}{code}")).await,
        Reply::Reject,
        "a used code is refused"
    );
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_round_trip_with_state() {
    let f = fixture().await;
    let server = start(&f, "vpn", Duration::ZERO).await;
    let mut nas = Nas::new("127.0.0.1:0", server.addr, SECRET).await;

    // Password first: an Access-Challenge with a fresh State and the prompt.
    let first = nas.login("alice", PASSWORD, None).await;
    assert_eq!(first.code, Code::AccessChallenge);
    assert_eq!(first.reply_message.as_deref(), Some(CHALLENGE_PROMPT));
    let state = first.state.expect("a State");
    assert_eq!(state.len(), STATE_LEN);

    // The code with the State: accepted. The State is good once.
    let code = code_now(&f);
    let second = nas.login("alice", &code, Some(&state)).await;
    assert_eq!(second.code, Code::AccessAccept, "{second:?}");
    let again = nas.login("alice", &code, Some(&state)).await;
    assert_eq!(again.code, Code::AccessReject);
    // Refused by the front door before the decision path: still in the audit log.
    let last = f
        .service
        .store()
        .audit_tail(1, None)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(last.reasons, ["unknown, expired or foreign State"]);
    assert_eq!(
        (last.front_door.as_str(), last.result.as_str()),
        ("radius", "reject")
    );

    // A wrong password gets no challenge; a wrong code ends the login; a State from
    // another login does not carry over to another user.
    let wrong = nas.login("alice", "wrong horse", None).await;
    assert_eq!(wrong.code, Code::AccessReject);
    let next = nas.login("alice", PASSWORD, None).await;
    assert_eq!(next.code, Code::AccessChallenge);
    let refused = nas
        .login("alice", &wrong_code(&f), next.state.as_deref())
        .await;
    assert_eq!(refused.code, Code::AccessReject);
    let other = nas.login("alice", PASSWORD, None).await;
    let stolen = nas
        .login("bob", &code_now(&f), other.state.as_deref())
        .await;
    assert_eq!(stolen.code, Code::AccessReject);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_server_is_answered() {
    if !have_radclient("status_server") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let reply = radclient(
        server.addr,
        "status",
        SECRET,
        "Message-Authenticator = 0x00",
        3,
    )
    .await;
    assert_eq!(reply, Reply::Accept);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_wrong_secrets_and_unsigned_requests_get_no_answer() {
    if !have_radclient("no_answer") {
        return;
    }
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let code = code_now(&f);
    // A wrong shared secret.
    let attrs =
        format!("User-Name = \"alice\", User-Password = \"{code}\", Message-Authenticator = 0x00");
    assert_eq!(
        radclient(server.addr, "auth", "not-the-secret", &attrs, 1).await,
        Reply::Nothing
    );
    // No Message-Authenticator (Blast-RADIUS): dropped.
    let attrs = format!("User-Name = \"alice\", User-Password = \"{code}\"");
    assert_eq!(
        radclient(server.addr, "auth", SECRET, &attrs, 1).await,
        Reply::Nothing
    );
    // A source that is no configured NAS (127.0.0.2; only 127.0.0.1 is trusted).
    let mut stranger = Nas::new("127.0.0.2:0", server.addr, SECRET).await;
    let request = stranger.access_request("alice", &code, None);
    assert!(
        stranger
            .send_raw(&request, Duration::from_secs(1))
            .await
            .is_none()
    );
    // None of them used the code.
    assert_eq!(pap(server.addr, "alice", &code).await, Reply::Accept);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmissions_are_answered_from_the_cache() {
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let mut nas = Nas::new("127.0.0.1:0", server.addr, SECRET).await;
    let request = nas.access_request("alice", &code_now(&f), None);
    let first = nas
        .exchange(&request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(first.code, Code::AccessAccept);
    // The same datagram again: the same answer, not a second decision (which would refuse
    // the now used code).
    let again = nas
        .send_raw(&request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(again, first.bytes);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_datagrams_do_not_stop_the_server() {
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let junk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut seed: u32 = 0x1234_5678;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut nas = Nas::new("127.0.0.1:0", server.addr, SECRET).await;
    let valid = nas.access_request("alice", "000000", None);
    for i in 0..2000u32 {
        let datagram: Vec<u8> = match i % 5 {
            // Random bytes of random length.
            0 => (0..(next() % 300)).map(|_| next() as u8).collect(),
            // An Access-Request header with a length field beyond the datagram.
            1 => vec![
                1,
                (i % 256) as u8,
                0xff,
                0xff,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            // A valid request truncated.
            2 => valid[..(next() as usize % valid.len())].to_vec(),
            // A valid request with one bit flipped (bad authenticator or attribute).
            3 => {
                let mut v = valid.clone();
                let at = next() as usize % v.len();
                v[at] ^= 1 << (next() % 8);
                v
            }
            // An attribute of length 0 inside a well-formed header.
            _ => vec![
                1, 7, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
            ],
        };
        let _ = junk.send_to(&datagram, server.addr).await;
    }
    // Still answering, and correctly.
    // The kernel may have dropped datagrams while the burst filled the socket's buffer, so
    // the NAS retransmits, as a real one does.
    let request = nas.access_request("alice", &code_now(&f), None);
    let mut answer = None;
    for _ in 0..5 {
        answer = nas.exchange(&request, Duration::from_secs(2)).await;
        if answer.is_some() {
            break;
        }
    }
    let answer = answer.expect("no answer after the burst");
    assert_eq!(answer.code, Code::AccessAccept);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_reject_holds_up_no_other_request() {
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::from_millis(1500)).await;
    let mut guesser = Nas::new("127.0.0.1:0", server.addr, SECRET).await;
    let mut user = Nas::new("127.0.0.1:0", server.addr, SECRET).await;
    let wrong = guesser.access_request("alice", &wrong_code(&f), None);
    let right = user.access_request("alice", &code_now(&f), None);
    let started = Instant::now();
    let guess = tokio::spawn(async move {
        let a = guesser
            .exchange(&wrong, Duration::from_secs(5))
            .await
            .unwrap();
        (a.code, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let accepted = user.exchange(&right, Duration::from_secs(5)).await.unwrap();
    let accepted_after = started.elapsed();
    assert_eq!(accepted.code, Code::AccessAccept);
    let (code, rejected_after) = guess.await.unwrap();
    assert_eq!(code, Code::AccessReject);
    assert!(
        rejected_after >= Duration::from_millis(1500),
        "{rejected_after:?}"
    );
    assert!(
        accepted_after < Duration::from_secs(1),
        "the accept waited for the reject: {accepted_after:?}"
    );
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reject_waiting_out_its_delay_takes_no_request_slot() {
    let f = fixture().await;
    // One request decided at a time: the waiting reject must not hold that one slot.
    let settings = RadiusServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        app: Some("workspaces".into()),
        reject_delay: Duration::from_millis(1500),
        max_in_flight: 1,
        ..RadiusServerSettings::default()
    };
    let server = RadiusServer::bind(Arc::clone(&f.service), settings)
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let mut guesser = Nas::new("127.0.0.1:0", addr, SECRET).await;
    let wrong = guesser.access_request("alice", &wrong_code(&f), None);
    let guess = tokio::spawn(async move {
        guesser
            .exchange(&wrong, Duration::from_secs(5))
            .await
            .map(|a| a.code)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut user = Nas::new("127.0.0.1:0", addr, SECRET).await;
    let right = user.access_request("alice", &code_now(&f), None);
    let answer = user.exchange(&right, Duration::from_secs(1)).await;
    assert_eq!(answer.map(|a| a.code), Some(Code::AccessAccept));
    assert_eq!(guess.await.unwrap(), Some(Code::AccessReject));
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::from_secs(1)).await;
    let addr = server.addr;
    let mut nas = Nas::new("127.0.0.1:0", addr, SECRET).await;
    let wrong = nas.access_request("alice", &wrong_code(&f), None);
    let pending = tokio::spawn(async move {
        let answer = nas.exchange(&wrong, Duration::from_secs(5)).await;
        (answer.map(|a| a.code), nas)
    });
    // The request is in its reject delay when the shutdown comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = server.shutdown(Duration::from_secs(5)).await;
    let (code, mut nas) = pending.await.unwrap();
    assert_eq!(
        code,
        Some(Code::AccessReject),
        "the request in flight was answered"
    );
    assert!(
        took >= Duration::from_millis(500),
        "run returned before the answer: {took:?}"
    );
    // Nothing listens any more.
    let late = nas.access_request("alice", &code_now(&f), None);
    assert!(
        nas.send_raw(&late, Duration::from_millis(500))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listens_on_ipv4_and_ipv6_at_once() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("listens_on_ipv4_and_ipv6_at_once: SKIPPED: no IPv6 loopback");
        return;
    }
    let f = fixture().await;
    let settings = RadiusServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
        app: Some("branch".into()),
        reject_delay: Duration::ZERO,
        ..RadiusServerSettings::default()
    };
    let server = RadiusServer::bind(Arc::clone(&f.service), settings)
        .await
        .unwrap();
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 2);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let mut v4 = Nas::new("127.0.0.1:0", addrs[0], SECRET).await;
    let mut v6 = Nas::new("[::1]:0", addrs[1], SECRET).await;
    assert_eq!(
        v4.login("alice", PASSWORD, None).await.code,
        Code::AccessAccept
    );
    assert_eq!(
        v6.login("alice", PASSWORD, None).await.code,
        Code::AccessAccept
    );
    assert_eq!(
        v6.login("alice", "wrong horse", None).await.code,
        Code::AccessReject
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_are_decided_concurrently() {
    let f = fixture().await;
    let server = start(&f, "branch", Duration::ZERO).await;
    // Four wrong passwords among forty: under the lockout's five failures.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut nas = Nas::new("127.0.0.1:0", addr, SECRET).await;
            let password = if i % 10 == 0 { "wrong horse" } else { PASSWORD };
            (i, nas.login("alice", password, None).await.code)
        }));
    }
    for t in tasks {
        let (i, code) = t.await.unwrap();
        let expected = if i % 10 == 0 {
            Code::AccessReject
        } else {
            Code::AccessAccept
        };
        assert_eq!(code, expected, "request {i}");
    }
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_decisions_drops_and_latency() {
    use tokio::io::AsyncReadExt as _;
    let f = fixture().await;
    let settings = RadiusServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        app: Some("workspaces".into()),
        reject_delay: Duration::ZERO,
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..RadiusServerSettings::default()
    };
    let server = RadiusServer::bind(Arc::clone(&f.service), settings)
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let metrics = server.metrics_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let mut nas = Nas::new("127.0.0.1:0", addr, SECRET).await;
    assert_eq!(
        nas.login("alice", &code_now(&f), None).await.code,
        Code::AccessAccept
    );
    assert_eq!(
        nas.login("alice", &wrong_code(&f), None).await.code,
        Code::AccessReject
    );
    let request = nas.access_request("alice", "000000", None);
    assert!(
        nas.send_raw(&request[..10], Duration::from_millis(300))
            .await
            .is_none()
    );
    let get = |path: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(metrics).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        text
    };
    let text = get("/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    for line in [
        "idforge_radius_decisions_total{result=\"accept\"} 1",
        "idforge_radius_decisions_total{result=\"reject\"} 1",
        "idforge_radius_dropped_total{reason=\"malformed\"} 1",
        "idforge_radius_decision_seconds_count 2",
        "idforge_radius_decision_seconds_bucket{le=\"+Inf\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    assert!(get("/other").await.starts_with("HTTP/1.1 404"));
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_code_stays_used_after_a_restart() {
    if !have_radclient("restart") {
        return;
    }
    let f = fixture().await;
    let code = code_now(&f);
    let first = start(&f, "workspaces", Duration::ZERO).await;
    assert_eq!(pap(first.addr, "alice", &code).await, Reply::Accept);
    first.shutdown(Duration::from_secs(5)).await;
    // A new process would open the store afresh: a new service on the same database.
    let reopened = Arc::new(Service::open(f.config.clone()).await.unwrap());
    let second = start_on(reopened, "workspaces", Duration::ZERO).await;
    assert_eq!(pap(second.addr, "alice", &code).await, Reply::Reject);
    second.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_store_accept_a_code_once() {
    let f = fixture().await;
    // Two servers, each with its own service and connection pool, on the same database.
    let other = Arc::new(Service::open(f.config.clone()).await.unwrap());
    let a = start(&f, "workspaces", Duration::ZERO).await;
    let b = start_on(other, "workspaces", Duration::ZERO).await;
    // The same fresh code to both at once: the store's atomic replay guard lets one win.
    let code = code_now(&f);
    let mut nas_a = Nas::new("127.0.0.1:0", a.addr, SECRET).await;
    let mut nas_b = Nas::new("127.0.0.1:0", b.addr, SECRET).await;
    let req_a = nas_a.access_request("alice", &code, None);
    let req_b = nas_b.access_request("alice", &code, None);
    let (ra, rb) = tokio::join!(
        nas_a.exchange(&req_a, Duration::from_secs(5)),
        nas_b.exchange(&req_b, Duration::from_secs(5)),
    );
    let codes = [ra.unwrap().code, rb.unwrap().code];
    let accepts = codes.iter().filter(|c| **c == Code::AccessAccept).count();
    assert_eq!(accepts, 1, "{codes:?}");
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

// ---- the binary ----------------------------------------------------------------------------

const BINARY: &str = env!("CARGO_BIN_EXE_radius-server");

#[test]
fn the_binary_checks_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, config_text(dir.path(), SECRET)).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(BINARY)
            .args(args)
            .env_remove("IDFORGE_CONFIG")
            .output()
            .unwrap()
    };
    let good = good.to_str().unwrap();
    let ok = run(&["--config", good, "--check-config"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("application `workspaces`, mode otp-only"),
        "{stdout}"
    );
    let vpn = run(&["--config", good, "--check-config", "--app", "vpn"]);
    assert!(
        String::from_utf8_lossy(&vpn.stdout).contains("mode challenge"),
        "{vpn:?}"
    );
    let unknown = run(&["--config", good, "--check-config", "--app", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    // A NAS secret from an environment variable that is not set.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        config_text(dir.path(), "env:IDFORGE_RADIUS_TEST_UNSET_SECRET"),
    )
    .unwrap();
    let missing = std::process::Command::new(BINARY)
        .args(["--config", bad.to_str().unwrap(), "--check-config"])
        .env_remove("IDFORGE_RADIUS_TEST_UNSET_SECRET")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("radius.clients[0]"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("radius.toml");
    std::fs::write(&config, config_text(dir.path(), SECRET)).unwrap();
    // A free port: bind, note, release.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = tokio::process::Command::new(BINARY)
        .args([
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &addr.to_string(),
        ])
        .args(["--reject-delay-ms", "0"])
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Status-Server until it answers.
    let mut nas = Nas::new("127.0.0.1:0", addr, SECRET).await;
    let mut answered = false;
    for _ in 0..30 {
        let mut status = Vec::new();
        nas.client
            .request(
                Instant::now(),
                &mut rand::rng(),
                Code::StatusServer,
                Credentials::None,
                &[],
                &mut status,
            )
            .unwrap();
        if let Some(a) = nas.exchange(&status, Duration::from_millis(500)).await {
            assert_eq!(a.code, Code::AccessAccept);
            answered = true;
            break;
        }
    }
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(answered, "the binary never answered Status-Server:\n{log}");
    // An unknown user is refused (the decision path runs in the binary too).
    assert_eq!(
        nas.login("nobody", "123456", None).await.code,
        Code::AccessReject
    );
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the binary did not stop after SIGTERM")
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("radius server stopped"), "{log}");
    assert!(!log.contains("123456"), "a code in the log:\n{log}");
}

/// `idforge radius test`, the radtest of the CLI, against the server: the four protocols of
/// AWS Directory Service in otp-only mode, and a challenge answered with `--code`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idforge_radius_test_speaks_all_four_protocols_and_answers_challenges() {
    // Keep clear of a step boundary: the three codes below must stay in the window.
    let t = unix_now();
    if t % 30 > 24 {
        tokio::time::sleep(Duration::from_secs(30 - t % 30 + 1)).await;
    }
    let f = fixture().await;
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let now = unix_now();
    let radtest = |auth: &str, password: String, code: Option<String>| {
        let addr = server.addr.to_string();
        let auth = auth.to_owned();
        async move {
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_idforge"));
            cmd.args(["radius", "test", "--server", &addr, "--secret", SECRET])
                .args(["--user", "alice", "--password", &password, "--auth", &auth]);
            if let Some(code) = code {
                cmd.args(["--code", &code]);
            }
            let o = cmd.output().await.unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            )
        }
    };
    // Each code once, oldest step first (the replay guard refuses a step at or before the last).
    let (status, out) = radtest("mschapv2", totp_at(&f.totp, now - 30), None).await;
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("Received AccessAccept"), "{out}");
    assert!(
        out.contains("MS-CHAP2-Success authenticator response verified"),
        "{out}"
    );
    let (status, out) = radtest("chap", totp_at(&f.totp, now), None).await;
    assert_eq!(status, Some(0), "{out}");
    let (status, out) = radtest("mschapv1", totp_at(&f.totp, now + 30), None).await;
    assert_eq!(status, Some(0), "{out}");
    let (status, out) = radtest("pap", totp_at(&f.totp, now + 30), None).await;
    assert_eq!(status, Some(1), "a used code: {out}");
    assert!(out.contains("Received AccessReject"), "{out}");
    server.shutdown(Duration::from_secs(5)).await;

    // The challenge mode: password, then the code in a second round with the State.
    let f = fixture().await;
    let server = start(&f, "vpn", Duration::ZERO).await;
    let addr = server.addr.to_string();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args([
            "--json", "radius", "test", "--server", &addr, "--secret", SECRET,
        ])
        .args([
            "--user",
            "alice",
            "--password",
            PASSWORD,
            "--code",
            &code_now(&f),
        ])
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "AccessAccept");
    assert_eq!(v["rounds"], 2);
    // A wrong secret: no verified answer, a timeout.
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args([
            "radius",
            "test",
            "--server",
            &addr,
            "--secret",
            "wrong",
            "--timeout",
            "1",
        ])
        .args(["--attempts", "1", "--user", "alice", "--password", PASSWORD])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("timeout"));
    server.shutdown(Duration::from_secs(5)).await;
}

/// A NAS added with `idforge radius client add` (its secret read from a file) is answered; the
/// CLI refuses a secret that would sit in the store in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_added_with_the_cli_are_answered() {
    let f = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("branch-secret");
    std::fs::write(&secret_file, "branch office secret\n").unwrap();
    let config_file = dir.path().join("idforge.toml");
    std::fs::write(&config_file, &f.text).unwrap();
    let idforge = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idforge"))
            .arg("--config")
            .arg(&config_file)
            .args(args)
            .output()
            .unwrap()
    };
    let o = idforge(&[
        "radius",
        "client",
        "add",
        "branch",
        "--source",
        "127.0.0.3",
        "--secret",
        "inline!",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("env:NAME or file:PATH"));
    let file_ref = format!("file:{}", secret_file.display());
    let o = idforge(&[
        "radius",
        "client",
        "add",
        "branch",
        "--source",
        "127.0.0.3",
        "--secret",
        &file_ref,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = idforge(&["--json", "radius", "client", "list"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["from"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("localhost", "config"),
            ("localhost6", "config"),
            ("branch", "store")
        ]
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("branch office secret"));

    let server = start(&f, "workspaces", Duration::ZERO).await;
    let mut branch = Nas::new("127.0.0.3:0", server.addr, "branch office secret").await;
    let answer = branch.login("alice", &code_now(&f), None).await;
    assert_eq!(answer.code, Code::AccessAccept);
    server.shutdown(Duration::from_secs(5)).await;
    let o = idforge(&["radius", "client", "delete", "branch"]);
    assert!(o.status.success());
    let o = idforge(&["radius", "client", "delete", "branch"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Two RADIUS servers, each with its own service and pool, on one PostgreSQL database (the
/// scale-out setup): the same code sent to both at once is accepted by one, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_accept_each_code_once() {
    let Some(pg) = postgres::Postgres::start("two_instances_on_postgres") else {
        return;
    };
    let url = pg.new_database("idforge");
    let f = fixture_on(Some(&url)).await;
    assert_eq!(
        f.service.store().backend(),
        idforge_examples::store::Backend::Postgres
    );
    let mut secrets = Vec::new();
    for i in 0..10u8 {
        let u = f
            .service
            .store()
            .create_user(&NewUser {
                name: format!("user{i}"),
                source: "local".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let secret = Secret::from_bytes(&[i + 1; 20]).unwrap();
        f.service
            .store()
            .add_factor(u.id, &NewFactor::totp("app", &secret))
            .await
            .unwrap();
        secrets.push(secret);
    }
    let other = Arc::new(Service::open(f.config.clone()).await.unwrap());
    let a = start(&f, "workspaces", Duration::ZERO).await;
    let b = start_on(other, "workspaces", Duration::ZERO).await;
    let mut nas_a = Nas::new("127.0.0.1:0", a.addr, SECRET).await;
    let mut nas_b = Nas::new("127.0.0.1:0", b.addr, SECRET).await;
    let mut used = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        let user = format!("user{i}");
        let code = totp_at(secret, unix_now());
        used.push(code.clone());
        let req_a = nas_a.access_request(&user, &code, None);
        let req_b = nas_b.access_request(&user, &code, None);
        let (ra, rb) = tokio::join!(
            nas_a.exchange(&req_a, Duration::from_secs(5)),
            nas_b.exchange(&req_b, Duration::from_secs(5)),
        );
        let codes = [ra.unwrap().code, rb.unwrap().code];
        let accepts = codes.iter().filter(|c| **c == Code::AccessAccept).count();
        assert_eq!(accepts, 1, "{user}: {codes:?}");
    }
    // radclient against either instance: a used code stays used.
    if have_radclient("two_instances_on_postgres") {
        assert_eq!(pap(b.addr, "user0", &used[0]).await, Reply::Reject);
        assert_eq!(pap(a.addr, "user0", &used[0]).await, Reply::Reject);
    }
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[path = "support/slapd.rs"]
mod slapd;

/// The LDAP first factor behind RADIUS: a VPN in password-only mode checks the password
/// against a real slapd through the service, with radclient as the NAS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_against_ldap_through_radclient() {
    if !slapd::slapd_present("radius_ldap") || !have_radclient("radius_ldap") {
        return;
    }
    let ldap = slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate().unwrap().to_base64();
    let text = format!(
        r#"
[store]
url = "sqlite://{db}"
encryption_key = "{key}"

[[directories]]
name = "lab"
url = "{ldap_url}"
start_tls = false
allow_plaintext = true
bind_dn = "{service_dn}"
bind_password = "{service_pw}"
user_base = "{people}"
user_filter = "uid"

[[apps]]
id = "vpn"
kind = "radius"
radius_mode = "password-only"

[[policy.policies]]
name = "vpn-directory-password"
applications = ["vpn"]
first_factor = {{ directory = "lab" }}
second_factor = "none"

[policy.default]
first_factor = {{ directory = "lab" }}
second_factor = "required"
methods = ["totp"]

[[radius.clients]]
name = "localhost"
source = "127.0.0.1"
secret = "{SECRET}"
"#,
        db = dir.path().join("db").display(),
        key = key.as_str(),
        ldap_url = ldap.url(),
        service_dn = slapd::SERVICE_DN,
        service_pw = slapd::SERVICE_PASSWORD,
        people = slapd::PEOPLE,
    );
    let config = Config::from_toml(&text, "ldap-radius.toml").unwrap();
    let service = Arc::new(Service::open(config).await.unwrap());
    let server = start_on(Arc::clone(&service), "vpn", Duration::ZERO).await;
    assert_eq!(pap(server.addr, "alice", "alice-pw").await, Reply::Accept);
    assert_eq!(pap(server.addr, "alice", "wrong").await, Reply::Reject);
    assert_eq!(pap(server.addr, "nobody", "x").await, Reply::Reject);
    let audit = service.store().audit_tail(3, None).await.unwrap();
    assert_eq!(audit[0].factors, ["password:ok:lab"]);
    assert!(
        audit[1]
            .factors
            .contains(&"password:rejected:lab".to_owned())
    );
    server.shutdown(Duration::from_secs(5)).await;
}

/// A YubiKey imported and assigned to `user`; its OTPs are minted with `generate`.
async fn yubikey_for(f: &Fixture, public_id: [u8; 6], user: &str) -> YubicoKey {
    let key = YubicoKey::new(
        &public_id,
        [9, 8, 7, 6, 5, public_id[0]],
        [public_id[5]; 16],
    )
    .unwrap();
    let mut secret = zeroize::Zeroizing::new(key.expose_private_id().to_vec());
    secret.extend_from_slice(key.expose_aes_key());
    let s = f.service.store();
    s.import_yubikeys(
        &[idforge_examples::store::NewYubikey {
            public_id: key.public_id_modhex(),
            label: "radius test key".into(),
            serial: Some(4_711),
            secret,
        }],
        1,
    )
    .await
    .unwrap();
    let u = s.require_user(user).await.unwrap();
    assert!(
        s.assign_yubikey(&key.public_id_modhex(), Some(u.id), 2)
            .await
            .unwrap()
    );
    key
}

fn touch(key: &YubicoKey, usage: u16, session: u8) -> String {
    key.generate(&YubicoToken {
        counters: YubicoCounters { usage, session },
        caps_lock: false,
        timestamp: 77,
        random: 0x5a5a,
    })
    .unwrap()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yubikey_otps_are_accepted_once_alone_and_appended_to_the_password() {
    if !have_radclient("yubikey_otps") {
        return;
    }
    let f = fixture().await;
    let key = yubikey_for(&f, [0x01, 0x02, 0x03, 0x04, 0x05, 0x06], "alice").await;
    let other = f
        .service
        .store()
        .create_user(&NewUser {
            name: "carol".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let _ = other;
    let carols = yubikey_for(&f, [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f], "carol").await;

    // otp-only (AWS Directory Service): the OTP is the password.
    let server = start(&f, "workspaces", Duration::ZERO).await;
    let otp = touch(&key, 1, 0);
    assert_eq!(pap(server.addr, "alice", &otp).await, Reply::Accept);
    assert_eq!(
        pap(server.addr, "alice", &otp).await,
        Reply::Reject,
        "a replayed OTP is refused"
    );
    assert_eq!(
        pap(server.addr, "alice", &touch(&carols, 1, 0)).await,
        Reply::Reject,
        "another user's key is refused"
    );
    assert_eq!(
        pap(server.addr, "alice", &touch(&key, 1, 1)).await,
        Reply::Accept
    );
    server.shutdown(Duration::from_secs(5)).await;

    // password+otp: the OTP appended to the password.
    let server = start(&f, "firewall", Duration::ZERO).await;
    let appended = format!("{PASSWORD}{}", touch(&key, 2, 0));
    assert_eq!(pap(server.addr, "alice", &appended).await, Reply::Accept);
    assert_eq!(pap(server.addr, "alice", &appended).await, Reply::Reject);
    let wrong_password = format!("wrong horse{}", touch(&key, 2, 1));
    assert_eq!(
        pap(server.addr, "alice", &wrong_password).await,
        Reply::Reject
    );
    server.shutdown(Duration::from_secs(5)).await;

    let tail = f
        .service
        .store()
        .audit_tail(20, Some("alice"))
        .await
        .unwrap();
    let text = format!("{tail:?}");
    assert!(text.contains("yubico_otp:ok:cbcdcecfcgch"), "{text}");
    assert!(text.contains("otp:replayed"), "{text}");
    assert!(text.contains("is not assigned to this user"), "{text}");
}
