//! pyrad (a second, independent client implementation) against a UDP server built from
//! this crate's `Server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use common::{TestServer, peers_required};
use idforge_radius::SharedSecret;
use idforge_radius::{NasClient, ServerConfig};

fn python() -> Option<PathBuf> {
    let python = std::env::var_os("IDFORGE_PYTHON").map_or_else(
        || PathBuf::from("/var/tmp/idforge-peers-venv/bin/python"),
        PathBuf::from,
    );
    let ok = Command::new(&python)
        .args(["-c", "import pyrad, Crypto"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !peers_required(),
            "pyrad or pycryptodome is not importable by {}",
            python.display()
        );
        eprintln!(
            "SKIP: pyrad or pycryptodome not importable by {}; pip install pyrad pycryptodome",
            python.display()
        );
        return None;
    }
    Some(python)
}

#[test]
fn pyrad_client_against_server() {
    let Some(python) = python() else {
        return;
    };
    let clients = vec![NasClient::host(
        "pyrad",
        IpAddr::from([127, 0, 0, 1]),
        SharedSecret::new("pyrad-secret"),
    )];
    let server = TestServer::start(ServerConfig::default(), clients);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let out = Command::new(python)
        .arg(dir.join("pyrad_client.py"))
        .arg(server.addr.port().to_string())
        .arg("pyrad-secret")
        .arg(dir.join("dictionary"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once(' ')).collect();
    // Codes: 2 Access-Accept, 3 Access-Reject, 5 Accounting-Response.
    let expected = [
        ("pap-accept", "2"),
        ("pap-reject", "3"),
        ("pap-no-ma", "timeout"),
        ("chap-accept", "2"),
        ("chap-reject", "3"),
        ("status", "2"),
        ("acct", "5"),
        // MS-CHAP: pyrad decrypts the salted MPPE keys, the script recomputes every value.
        ("mschap2-accept", "2"),
        ("mschap2-accept-success", "ok"),
        ("mschap2-accept-send-key", "ok"),
        ("mschap2-accept-recv-key", "ok"),
        ("mschap2-accept-salts", "ok"),
        ("mschap2-reject", "3"),
        ("mschap2-reject-error", "ok"),
        ("mschap1-accept", "2"),
        ("mschap1-accept-keys", "ok"),
    ];
    for (case, code) in expected {
        assert_eq!(results.get(case).copied(), Some(code), "{case}: {stdout}");
    }
    let srv = server.finish();
    let c = srv.counters(srv.lookup(IpAddr::from([127, 0, 0, 1])).unwrap());
    assert_eq!(c.missing_message_authenticator, 2, "pyrad sends twice");
    assert_eq!(c.access_requests, 7);
    assert_eq!(c.bad_authenticators, 0);
}
