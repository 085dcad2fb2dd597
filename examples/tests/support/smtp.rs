//! The SMTP peer: Python's aiosmtpd from the peers venv (`tests/peers/smtp_peer.py`), started
//! on a loopback port with STARTTLS or implicit TLS and AUTH, recording every message it
//! receives as a JSON line.
//!
//! Include it with `#[path = "support/smtp.rs"] mod smtp;`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use idforge_test_support::peer_available;

/// The AUTH user the peer accepts.
pub(crate) const SMTP_USER: &str = "mailer";
/// Its password.
pub(crate) const SMTP_PASSWORD: &str = "s3cret-smtp";

pub(crate) fn python() -> PathBuf {
    std::env::var_os("IDFORGE_PYTHON").map_or_else(
        || PathBuf::from("/var/tmp/idforge-peers-venv/bin/python"),
        PathBuf::from,
    )
}

/// Whether aiosmtpd can run; skips (or fails under CI) when not.
pub(crate) fn smtp_peer_present(test: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    peer_available(
        test,
        ok,
        "aiosmtpd in the peers venv (IDFORGE_PYTHON; .ci/requirements-peers.txt)",
    )
}

/// The aiosmtpd peer; killed when dropped (and it stops by itself when its stdin closes).
pub(crate) struct SmtpPeer {
    child: Child,
    out: PathBuf,
}

impl SmtpPeer {
    pub(crate) fn start(dir: &Path, port: u16, mode: &str, cert: &Path, key: &str) -> SmtpPeer {
        let out = dir.join(format!("received-{port}.jsonl"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_peer.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &port.to_string(), "--mode", mode])
            .arg("--cert")
            .arg(cert)
            .args(["--key", key])
            .args(["--user", SMTP_USER, "--password", SMTP_PASSWORD])
            .arg("--out")
            .arg(&out)
            .args(["--max-seconds", "120"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("smtp-peer listening") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("the SMTP peer did not start on port {port}");
        }
        SmtpPeer { child, out }
    }

    /// The file the peer appends each message to (one JSON object a line).
    pub(crate) fn log_path(&self) -> &Path {
        &self.out
    }

    /// Every message received so far (JSON records).
    pub(crate) fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The header `name` of a raw message.
pub(crate) fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    let head = data.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n").find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}
