//! The `radius-server` binary killed with SIGKILL in the middle of a bounded load: after a
//! restart on the same store, every enrolment is there and no code it accepted is accepted
//! again.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::service::open_store;
use idforge_examples::store::{NewFactor, NewUser};
use idforge_otp::{Algorithm, Digits, Secret, Totp};
use idforge_radius::{Attribute, AttributeType, Code, SharedSecret};
use idforge_radius::{Client, ClientConfig, Credentials};

const SECRET: &str = "crash-test-secret";
const USERS: u8 = 60;

fn start(config: &std::path::Path, addr: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_radius-server"))
        .arg("--config")
        .arg(config)
        .args(["--listen", &addr.to_string(), "--reject-delay-ms", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn code(secret: &Secret, at: u64) -> String {
    Totp::new(secret, Algorithm::Sha1, Digits::SIX, 30)
        .unwrap()
        .generate(at)
        .unwrap()
        .to_string()
}

/// One PAP Access-Request and its answer (None: no answer within `wait`).
fn ask(
    client: &mut Client,
    socket: &std::net::UdpSocket,
    server: SocketAddr,
    user: &str,
    password: &str,
    wait: Duration,
) -> Option<Code> {
    let mut out = Vec::new();
    client
        .request(
            Instant::now(),
            &mut rand::rng(),
            Code::AccessRequest,
            Credentials::Pap(password.as_bytes()),
            &[Attribute::text(AttributeType::USER_NAME, user)],
            &mut out,
        )
        .unwrap();
    socket.send_to(&out, server).unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    let answer = match socket.recv_from(&mut buf) {
        Ok((n, _)) => client.handle_response(&buf[..n]).ok().map(|r| r.code()),
        Err(_) => None,
    };
    // Forget the request either way, so that identifiers never run out.
    while client
        .handle_timeout(Instant::now() + Duration::from_hours(1), &mut out)
        .is_some()
    {}
    answer
}

fn wait_until_up(server: SocketAddr, socket: &std::net::UdpSocket) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    while Instant::now() < deadline {
        if ask(
            &mut client,
            socket,
            server,
            "nobody",
            "000000",
            Duration::from_millis(200),
        )
        .is_some()
        {
            return;
        }
    }
    panic!("radius-server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_enrolment_and_accepts_no_code_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("idforge.toml");
    let key = Key::generate().unwrap().to_base64();
    std::fs::write(
        &config_path,
        format!(
            r#"
[store]
url = "sqlite://{db}"
encryption_key = "{key}"

[[apps]]
id = "workspaces"
kind = "radius"
radius_mode = "otp-only"

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp"]

# The replays below all come from 127.0.0.1: keep the address from being locked before they
# are checked (the audit entries below prove they were refused as replays).
[policy.lockout.source]
max_failures = 100
disable_after = 100

[[radius.clients]]
name = "load"
source = "127.0.0.1"
secret = "{SECRET}"
"#,
            db = dir.path().join("idforge.db").display(),
            key = key.as_str()
        ),
    )
    .unwrap();
    // Users and their enrolments, written before the server starts.
    let config = Config::from_file(&config_path).unwrap();
    let store = open_store(&config).await.unwrap();
    let mut secrets = Vec::new();
    for i in 0..USERS {
        let u = store
            .create_user(&NewUser {
                name: format!("user{i}"),
                source: "local".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let secret = Secret::from_bytes(&[i + 1; 20]).unwrap();
        store
            .add_factor(u.id, &NewFactor::totp("app", &secret))
            .await
            .unwrap();
        secrets.push(secret);
    }
    store.close().await;

    let addr: SocketAddr = format!("127.0.0.1:{}", idforge_test_support::free_udp_port())
        .parse()
        .unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut server = start(&config_path, addr);
    wait_until_up(addr, &socket);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A bounded load: each user's current code once; SIGKILL after 40 acknowledged accepts.
    let mut client = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let mut accepted = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        let user = format!("user{i}");
        let c = code(secret, now);
        if ask(
            &mut client,
            &socket,
            addr,
            &user,
            &c,
            Duration::from_secs(5),
        ) == Some(Code::AccessAccept)
        {
            accepted.push((user, c));
        }
        if accepted.len() == 40 {
            // The rest of the load goes out at once and the server dies with it in flight.
            for (j, secret) in secrets.iter().enumerate().skip(i + 1) {
                let mut out = Vec::new();
                client
                    .request(
                        Instant::now(),
                        &mut rand::rng(),
                        Code::AccessRequest,
                        Credentials::Pap(code(secret, now).as_bytes()),
                        &[Attribute::text(
                            AttributeType::USER_NAME,
                            &format!("user{j}"),
                        )],
                        &mut out,
                    )
                    .unwrap();
                socket.send_to(&out, addr).unwrap();
            }
            server.kill().unwrap();
            break;
        }
    }
    let _ = server.wait();
    assert_eq!(accepted.len(), 40, "the load was accepted before the kill");
    let mut client = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    // Answers sent before the kill to the requests in flight are not read.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();

    // Restart on the same store: every acknowledged code is refused now.
    let mut server = start(&config_path, addr);
    wait_until_up(addr, &socket);
    for (user, c) in &accepted {
        assert_eq!(
            ask(&mut client, &socket, addr, user, c, Duration::from_secs(5)),
            Some(Code::AccessReject),
            "{user}'s code accepted twice across the crash"
        );
    }
    server.kill().unwrap();
    let _ = server.wait();
    // And every enrolment is still there, its secret readable; the refusals were replays.
    let store = open_store(&config).await.unwrap();
    let audit = store.audit_tail(40, None).await.unwrap();
    assert!(
        audit
            .iter()
            .all(|e| e.factors.contains(&"otp:replayed".to_owned())),
        "{audit:?}"
    );
    for i in 0..USERS {
        let u = store.require_user(&format!("user{i}")).await.unwrap();
        let factors = store.factors_of(u.id).await.unwrap();
        assert_eq!(factors.len(), 1);
        assert_eq!(
            store.factor_secret(&factors[0]).unwrap().expose_bytes(),
            secrets[usize::from(i)].expose_bytes()
        );
    }
}
