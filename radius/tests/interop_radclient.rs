//! FreeRADIUS's `radclient` (3.2.1) against a UDP server built from this crate's `Server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use common::{TestServer, peer};
use idforge_radius::SharedSecret;
use idforge_radius::{NasClient, ServerConfig};

const SECRET: &str = "testing123";

fn localhost(exempt: bool) -> Vec<NasClient> {
    let c = NasClient::host(
        "radclient",
        IpAddr::from([127, 0, 0, 1]),
        SharedSecret::new(SECRET),
    );
    vec![if exempt {
        c.allow_missing_message_authenticator()
    } else {
        c
    }]
}

/// Runs radclient with the requests on stdin; returns (success, stdout).
fn radclient(extra: &[&str], server: &TestServer, kind: &str, input: &str) -> (bool, String) {
    let bin = peer("radclient").unwrap();
    let target = server.addr.to_string();
    let mut child = Command::new(bin)
        .args(["-x", "-t", "1", "-r", "2"])
        .args(extra)
        .args([target.as_str(), kind, SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn pap_chap_status_and_accounting_with_message_authenticator() {
    if peer("radclient").is_none() {
        return;
    }
    let server = TestServer::start(ServerConfig::default(), localhost(false));
    let ma = "Message-Authenticator = 0x00";

    let (ok, out) = radclient(
        &[],
        &server,
        "auth",
        &format!("User-Name = bob, User-Password = hello, {ma}"),
    );
    assert!(ok && out.contains("Received Access-Accept"), "{out}");
    assert!(out.contains("welcome"), "{out}");

    let (_, out) = radclient(
        &[],
        &server,
        "auth",
        &format!("User-Name = bob, User-Password = wrong, {ma}"),
    );
    assert!(out.contains("Received Access-Reject"), "{out}");
    assert!(out.contains("wrong password"), "{out}");

    // radclient turns a clear CHAP-Password into identifier + MD5 response.
    let (ok, out) = radclient(
        &[],
        &server,
        "auth",
        &format!("User-Name = carol, CHAP-Password = chappy, {ma}"),
    );
    assert!(ok && out.contains("Received Access-Accept"), "{out}");
    let (_, out) = radclient(
        &[],
        &server,
        "auth",
        &format!("User-Name = carol, CHAP-Password = chappx, {ma}"),
    );
    assert!(out.contains("Received Access-Reject"), "{out}");

    let (_, out) = radclient(
        &[],
        &server,
        "auth",
        &format!("User-Name = chal, User-Password = x, {ma}"),
    );
    assert!(out.contains("Received Access-Challenge"), "{out}");
    assert!(
        out.contains("State = 0x6964666f7267652d7374617465"),
        "{out}"
    );

    let (ok, out) = radclient(&[], &server, "status", ma);
    assert!(ok && out.contains("Received Access-Accept"), "{out}");

    let (ok, out) = radclient(
        &[],
        &server,
        "acct",
        "Acct-Status-Type = Start, Acct-Session-Id = \"s1\", User-Name = bob",
    );
    assert!(ok && out.contains("Received Accounting-Response"), "{out}");

    let srv = server.finish();
    let id = srv.lookup(IpAddr::from([127, 0, 0, 1])).unwrap();
    let c = srv.counters(id);
    assert_eq!(c.access_requests, 5);
    assert_eq!(
        (c.access_accepts, c.access_rejects, c.access_challenges),
        (3, 2, 1),
        "two PAP/CHAP accepts and the answer to Status-Server"
    );
    assert_eq!(c.status_server, 1);
    assert_eq!((c.accounting_requests, c.accounting_responses), (1, 1));
    assert_eq!(
        c.bad_authenticators + c.malformed + c.missing_message_authenticator,
        0
    );
}

#[test]
fn without_message_authenticator_dropped_by_default_and_accepted_when_exempt() {
    if peer("radclient").is_none() {
        return;
    }
    let strict = TestServer::start(ServerConfig::default(), localhost(false));
    let (ok, out) = radclient(
        &[],
        &strict,
        "auth",
        "User-Name = bob, User-Password = hello",
    );
    assert!(!ok && !out.contains("Received"), "{out}");
    let srv = strict.finish();
    let c = srv.counters(srv.lookup(IpAddr::from([127, 0, 0, 1])).unwrap());
    assert_eq!(c.missing_message_authenticator, 2, "one per transmission");
    assert_eq!(c.access_requests, 0);

    let lax = TestServer::start(ServerConfig::default(), localhost(true));
    let (ok, out) = radclient(&[], &lax, "auth", "User-Name = bob, User-Password = hello");
    assert!(ok && out.contains("Received Access-Accept"), "{out}");
    // Proxy-State without Message-Authenticator stays forbidden.
    let (ok, out) = radclient(
        &[],
        &lax,
        "auth",
        "User-Name = bob, User-Password = hello, Proxy-State = 0x01",
    );
    assert!(!ok && !out.contains("Received"), "{out}");
    let srv = lax.finish();
    let c = srv.counters(srv.lookup(IpAddr::from([127, 0, 0, 1])).unwrap());
    assert_eq!(c.accepted_without_message_authenticator, 1);
    assert_eq!(c.proxy_state_without_message_authenticator, 2);

    // A wrong secret is dropped silently.
    let wrong = TestServer::start(
        ServerConfig::default(),
        vec![NasClient::host(
            "x",
            IpAddr::from([127, 0, 0, 1]),
            SharedSecret::new("other"),
        )],
    );
    let (ok, out) = radclient(
        &[],
        &wrong,
        "auth",
        "User-Name = bob, User-Password = hello, Message-Authenticator = 0x00",
    );
    assert!(!ok && !out.contains("Received"), "{out}");
    let srv = wrong.finish();
    let c = srv.counters(srv.lookup(IpAddr::from([127, 0, 0, 1])).unwrap());
    assert_eq!(c.bad_authenticators, 2);
}

#[test]
fn many_requests_in_flight_from_one_port() {
    if peer("radclient").is_none() {
        return;
    }
    let server = TestServer::start(ServerConfig::default(), localhost(false));
    let n = 600;
    let mut input = String::new();
    for i in 0..n {
        let pw = if i % 3 == 0 { "wrong" } else { "hello" };
        writeln!(
            input,
            "User-Name = bob, User-Password = {pw}, NAS-Port = {i}, Message-Authenticator = 0x00\n"
        )
        .unwrap();
    }
    // 255 in flight at most: the identifier has 8 bits.
    let bin = peer("radclient").unwrap();
    let mut child = Command::new(bin)
        .args(["-q", "-s", "-t", "3", "-r", "3", "-p", "255"])
        .args([server.addr.to_string().as_str(), "auth", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let srv = server.finish();
    let c = srv.counters(srv.lookup(IpAddr::from([127, 0, 0, 1])).unwrap());
    assert_eq!(c.access_requests, n, "{text}");
    assert_eq!(c.access_accepts, 400);
    assert_eq!(c.access_rejects, 200);
    let summary = |key: &str| {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    assert_eq!(summary("Accepted"), "400");
    assert_eq!(summary("Rejected"), "200");
    assert_eq!(summary("Lost"), "0");
}

#[test]
fn ms_chap_v1_mppe_keys_decoded_by_radclient() {
    use idforge_radius::mschap;
    if peer("radclient").is_none() {
        return;
    }
    let server = TestServer::start(ServerConfig::default(), localhost(false));
    // radclient turns MS-CHAP-Password into MS-CHAP-Challenge and MS-CHAP-Response (v1).
    let (ok, out) = radclient(
        &[],
        &server,
        "auth",
        "User-Name = bob, MS-CHAP-Password = hello, Message-Authenticator = 0x00",
    );
    assert!(ok && out.contains("Received Access-Accept"), "{out}");
    let hash = mschap::nt_password_hash("hello");
    let keys = mschap::MsChapMppeKeys::ms_chap1(Some(&mschap::lm_password_hash("hello")), &hash);
    let mut expected = String::from("MS-CHAP-MPPE-Keys = 0x");
    for b in keys.lm_key().iter().chain(keys.nt_key()) {
        write!(expected, "{b:02x}").unwrap();
    }
    assert!(out.contains(&expected), "{expected}\n{out}");
    let (_, out) = radclient(
        &[],
        &server,
        "auth",
        "User-Name = bob, MS-CHAP-Password = hellx, Message-Authenticator = 0x00",
    );
    assert!(out.contains("Received Access-Reject"), "{out}");
}
