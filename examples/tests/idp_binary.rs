//! The `idp` binary as an operator runs it: the demo configuration from an empty directory
//! (generated key and certificate reused at the next start, the demo credentials printed, the
//! RADIUS listener in the same process), `--check-config`, and a graceful stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_idp");

/// `GET path` over a fresh connection; the whole answer.
fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The demo configuration's RADIUS port and the IdP's, moved to free ports.
fn demo_config(dir: &std::path::Path, http: u16, radius: u16) -> std::path::PathBuf {
    let text = idforge_examples::config::DEMO_CONFIG
        .replace(
            "# FreeRADIUS's localhost convention",
            &format!(
                "[idp]\nlisten = \"127.0.0.1:{http}\"\nbase_url = \"http://localhost:{http}\"\n\n# FreeRADIUS's localhost convention"
            ),
        )
        .replace(
            "secret = \"testing123\"",
            &format!("secret = \"testing123\"\n\n[radius]\nlisten = [\"127.0.0.1:{radius}\"]"),
        );
    let path = dir.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_demo_starts_from_nothing_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (http, radius) = (
        idforge_test_support::free_tcp_port(),
        idforge_test_support::free_tcp_port(),
    );
    let config = demo_config(dir.path(), http, radius);
    let check = Command::new(BINARY)
        .args(["--config", config.to_str().unwrap(), "--check-config"])
        .env_remove("IDFORGE_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("ok (entity ID http://localhost:"), "{text}");
    assert!(text.contains("RADIUS listener"), "{text}");

    let mut first_cert = String::new();
    for round in 0..2 {
        let log = std::fs::File::create(dir.path().join(format!("idp-{round}.log"))).unwrap();
        let mut child = Command::new(BINARY)
            .args(["--config", config.to_str().unwrap()])
            .env_remove("IDFORGE_CONFIG")
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        while !banner.contains("never use this configuration") {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                let log = std::fs::read_to_string(dir.path().join(format!("idp-{round}.log")));
                panic!("the idp stopped: {banner}\n{log:?}");
            }
            banner.push_str(&line);
        }
        let password =
            std::fs::read_to_string(dir.path().join("idforge-data/demo-password")).unwrap();
        assert!(
            banner.contains(&format!("password `{}`", password.trim())),
            "{banner}"
        );
        assert!(
            banner.contains(&format!("RADIUS:      127.0.0.1:{radius}")),
            "{banner}"
        );
        assert!(
            banner.contains(&format!("http://localhost:{http}/saml/metadata")),
            "{banner}"
        );
        assert!(get(http, "/healthz").ends_with("ok\n"));
        let login = get(http, "/login");
        assert!(login.starts_with("HTTP/1.1 200"), "{login}");
        let cert =
            std::fs::read_to_string(dir.path().join("idforge-data/idp-signing-cert.pem")).unwrap();
        if round == 0 {
            first_cert = cert;
        } else {
            assert_eq!(cert, first_cert, "the demo key and certificate are reused");
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the idp did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = std::fs::read_to_string(dir.path().join(format!("idp-{round}.log"))).unwrap();
        assert!(status.success(), "{status:?}\n{log}");
        assert!(log.contains("stopped"), "{log}");
        assert!(
            !log.contains(password.trim()),
            "the demo password is in the log"
        );
    }
}

#[test]
fn a_bad_configuration_stops_the_start_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    // An idp section without the signing key's certificate.
    std::fs::write(
        &config,
        "[store]\nencryption_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n[idp]\nsigning_key = \"file:/nonexistent\"\n[policy.default]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
    )
    .unwrap();
    let o = Command::new(BINARY)
        .args(["--config", config.to_str().unwrap(), "--check-config"])
        .env_remove("IDFORGE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("idp.certificate"), "{err}");
}

#[test]
fn check_config_covers_the_mail_section() {
    let dir = tempfile::tempdir().unwrap();
    let (http, radius) = (
        idforge_test_support::free_tcp_port(),
        idforge_test_support::free_tcp_port(),
    );
    let demo = std::fs::read_to_string(demo_config(dir.path(), http, radius)).unwrap();
    let check = |name: &str, mail: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{demo}\n[mail]\n{mail}\n")).unwrap();
        Command::new(BINARY)
            .args(["--config", path.to_str().unwrap(), "--check-config"])
            .env_remove("IDFORGE_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let from = "from = \"idp@example.com\"\nadmins = [\"ops@example.com\"]\n";
    // A relay on loopback without TLS is accepted.
    let ok = check(
        "ok.toml",
        &format!("host = \"127.0.0.1\"\nsecurity = \"none\"\n{from}"),
    );
    assert!(ok.status.success(), "{ok:?}");
    // Clear text to another host is refused, and the key is named.
    let clear = check(
        "clear.toml",
        &format!("host = \"smtp.example.com\"\nsecurity = \"none\"\n{from}"),
    );
    assert_eq!(clear.status.code(), Some(2), "{clear:?}");
    let err = String::from_utf8_lossy(&clear.stderr);
    assert!(err.contains("mail.security"), "{err}");
    // A display name that would add a header is refused.
    let name = check(
        "name.toml",
        &format!(
            "host = \"127.0.0.1\"\nsecurity = \"none\"\nfrom_name = \"IdP\\r\\nBcc: x@example.com\"\n{from}"
        ),
    );
    assert_eq!(name.status.code(), Some(2), "{name:?}");
    let err = String::from_utf8_lossy(&name.stderr);
    assert!(err.contains("mail.from_name"), "{err}");
    // The relay's CA file is read at the check, not at the first alert.
    let ca = check(
        "ca.toml",
        &format!(
            "host = \"smtp.example.com\"\nsecurity = \"starttls\"\nca_file = \"/nonexistent/ca.pem\"\n{from}"
        ),
    );
    assert!(!ca.status.success(), "{ca:?}");
    let err = String::from_utf8_lossy(&ca.stderr);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn check_config_covers_the_sms_section() {
    const TOKEN: &str = "tw-token-never-shown";
    let dir = tempfile::tempdir().unwrap();
    let (http, radius) = (
        idforge_test_support::free_tcp_port(),
        idforge_test_support::free_tcp_port(),
    );
    let demo = std::fs::read_to_string(demo_config(dir.path(), http, radius)).unwrap();
    let check = |name: &str, sms: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{demo}\n[sms]\n{sms}\n")).unwrap();
        Command::new(BINARY)
            .args(["--config", path.to_str().unwrap(), "--check-config"])
            .env_remove("IDFORGE_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let twilio = format!(
        "provider = \"twilio\"\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
         auth_token = \"{TOKEN}\"\nfrom = \"+1 415 555 0100\"\n"
    );
    let refused = |out: &std::process::Output, key: &str| {
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key} not in {err}");
        let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
        assert!(!all.contains(TOKEN), "the token is in the output: {all}");
    };
    // Twilio through a loopback stand-in without TLS is accepted.
    let ok = check(
        "ok.toml",
        &format!("{twilio}api_base = \"http://127.0.0.1:9\"\n"),
    );
    assert!(ok.status.success(), "{ok:?}");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("SMS via 127.0.0.1 (twilio)"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    // Clear text to another host is refused, naming the key.
    refused(
        &check(
            "clear.toml",
            &format!("{twilio}api_base = \"http://api.twilio.example\"\n"),
        ),
        "sms.api_base",
    );
    // A malformed account SID, and a sender given twice.
    refused(
        &check(
            "sid.toml",
            &twilio.replace("AC0123456789abcdef0123456789abcdef", "AC12"),
        ),
        "sms.account_sid",
    );
    refused(
        &check(
            "both.toml",
            &format!("{twilio}messaging_service_sid = \"MG0123456789abcdef0123456789abcdef\"\n"),
        ),
        "sms.messaging_service_sid",
    );
    // A token file that cannot be read is found by the check, not by the first code.
    refused(
        &check(
            "token.toml",
            &twilio.replace(TOKEN, "file:/nonexistent/twilio-token"),
        ),
        "sms.auth_token",
    );
    // A webhook whose JSON template quotes a value itself renders invalid JSON.
    refused(
        &check(
            "hook.toml",
            "provider = \"webhook\"\nurl = \"https://sms.example.com/send\"\n\
             body = '{\"to\": \"{{ to }}\"}'\n",
        ),
        "sms.body",
    );
    // A webhook header secret from an unset variable.
    refused(
        &check(
            "header.toml",
            "provider = \"webhook\"\nurl = \"https://sms.example.com/send\"\n\
             [sms.headers]\nAuthorization = \"env:IDFORGE_TEST_SURELY_UNSET_SMS_TOKEN\"\n",
        ),
        "sms.headers.Authorization",
    );
}
