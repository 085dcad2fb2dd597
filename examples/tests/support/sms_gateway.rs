//! A stand-in SMS gateway for one test: `peers/twilio_peer.py` (nothing beyond Python 3
//! itself) on a loopback port, in Twilio's shape or as a generic webhook. It records every
//! message it accepts in a JSON-lines file that tests read ([`GatewayPeer::received`],
//! [`GatewayPeer::last_text_to`] to read a code out). The process is killed and reaped on
//! drop; it also stops by itself when its standard input closes, when this process goes, or
//! after two minutes.
//!
//! Include it with `#[path = "support/sms_gateway.rs"] mod sms_gateway;`.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python that runs the peer: `IDFORGE_PYTHON`, else the peers venv, else `python3`.
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("IDFORGE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from("/var/tmp/idforge-peers-venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Whether the peer can run (a Python 3); skips, or fails when peers are required (CI).
pub(crate) fn gateway_peer_present(test: &str) -> bool {
    let ok = Command::new(python())
        .args([
            "-c",
            "import http.server, sys; assert sys.version_info >= (3, 8)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    idforge_test_support::peer_available(
        test,
        ok,
        "python3 (IDFORGE_PYTHON) for the SMS gateway peer",
    )
}

/// How the peer misbehaves before it accepts anything.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerOptions {
    /// The first requests answered with `fail_status`.
    pub(crate) fail_first: u32,
    /// Their status (default 503).
    pub(crate) fail_status: Option<u16>,
    /// A `Retry-After` (seconds) on those answers.
    pub(crate) retry_after: Option<u64>,
    /// Webhook mode: headers a request must carry (`("Authorization", "Bearer x")`).
    pub(crate) expect_headers: Vec<(String, String)>,
}

/// A running peer.
pub(crate) struct GatewayPeer {
    child: Child,
    out: PathBuf,
    log: PathBuf,
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
}

impl GatewayPeer {
    /// Twilio's Messages API for the account `sid` with the auth token `token`.
    pub(crate) fn twilio(
        dir: &Path,
        port: u16,
        sid: &str,
        token: &str,
        options: &PeerOptions,
    ) -> GatewayPeer {
        let args = vec![
            "--mode".into(),
            "twilio".into(),
            "--account-sid".into(),
            sid.to_owned(),
            "--auth-token".into(),
            token.to_owned(),
        ];
        Self::start(dir, port, args, options)
    }

    /// A webhook that takes any method and path.
    pub(crate) fn webhook(dir: &Path, port: u16, options: &PeerOptions) -> GatewayPeer {
        let mut args = vec!["--mode".to_owned(), "webhook".to_owned()];
        for (name, value) in &options.expect_headers {
            args.push("--expect-header".into());
            args.push(format!("{name}: {value}"));
        }
        Self::start(dir, port, args, options)
    }

    fn start(dir: &Path, port: u16, mut args: Vec<String>, options: &PeerOptions) -> GatewayPeer {
        let out = dir.join(format!("sms-received-{port}.jsonl"));
        let log = dir.join(format!("sms-peer-{port}.log"));
        args.extend([
            "--fail-first".to_owned(),
            options.fail_first.to_string(),
            "--fail-status".to_owned(),
            options.fail_status.unwrap_or(503).to_string(),
        ]);
        if let Some(secs) = options.retry_after {
            args.extend(["--retry-after".to_owned(), secs.to_string()]);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/twilio_peer.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &port.to_string()])
            .arg("--out")
            .arg(&out)
            .args(&args)
            .args(["--max-seconds", "120"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("twilio-peer listening") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the SMS gateway peer did not start on port {port}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        GatewayPeer {
            child,
            out,
            log,
            port,
        }
    }

    /// The JSON-lines file the peer appends each accepted message to.
    pub(crate) fn log_path(&self) -> &Path {
        &self.out
    }

    /// Every message accepted so far, oldest first.
    pub(crate) fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits up to `timeout` until at least `n` messages were accepted; returns them all.
    pub(crate) fn wait_for(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || start.elapsed() > timeout {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The text of the last message accepted for `to` (E.164), in either mode: what a
    /// person would read on the phone.
    pub(crate) fn last_text_to(&self, to: &str) -> Option<String> {
        self.received().iter().rev().find_map(|r| {
            if r["mode"] == "twilio" && r["to"] == to {
                return r["body"].as_str().map(str::to_owned);
            }
            let json = &r["json"];
            (json["to"] == to)
                .then(|| json["text"].as_str().map(str::to_owned))
                .flatten()
        })
    }

    /// What the peer wrote to stderr (for a failing test's message).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for GatewayPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
