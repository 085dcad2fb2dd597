//! The web IdP end to end in a real browser: the `idp` binary on a free loopback port, the
//! pysaml2 test SP (`tests/peers/test_sp.py`, which validates responses for real) and
//! headless Chromium driven by Playwright (`tests/browser/idp_e2e.mjs`). Screenshots of the
//! pages go to `$IDFORGE_SCREENSHOT_DIR` (CI keeps them as artefacts).
//!
//! Without Chromium, Node's playwright-core or pysaml2 the test prints a skip message and
//! passes, unless `CI` or `IDFORGE_REQUIRE_PEERS` is set: then it fails.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/sms_gateway.rs"]
mod sms_gateway;
#[path = "support/smtp.rs"]
mod smtp;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const ALICE: &str = "alice-correct-horse";
const BOB: &str = "bob-battery-staple";
const CAROL: &str = "carol-tr0ub4dor";
const BLOCKED_IP: &str = "203.0.113.66";

/// The applications, policy and rules every instance has (`{d}`: the test directory).
const CONFIG_REST: &str = r#"
[[apps]]
id = "aws-console"
name = "AWS console"
kind = "aws"
session_duration_secs = 3600

[[apps.roles]]
group = "Staff"
role_arn = "arn:aws:iam::123456789012:role/e2e-readonly"
provider_arn = "arn:aws:iam::123456789012:saml-provider/idforge-e2e"

[[apps]]
id = "test-sp"
name = "Test SP"
kind = "saml"
metadata_file = "{d}/sp.xml"
groups = ["Staff"]

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "backup_code"]

[policy.lockout.user]
max_failures = 3
window_secs = 600
lock_secs = 600

[[adaptive.networks]]
name = "blocked-test-net"
action = "block"
ranges = ["203.0.113.0/24"]
"#;

/// Skips (or, where peers are required, fails) when a peer is missing.
fn peer(ok: bool, what: &str) -> bool {
    idforge_test_support::peer_available("the browser test", ok, what)
}

fn python() -> PathBuf {
    std::env::var_os("IDFORGE_PYTHON").map_or_else(
        || PathBuf::from("/var/tmp/idforge-peers-venv/bin/python"),
        PathBuf::from,
    )
}

fn browser_dir() -> PathBuf {
    std::env::var_os("IDFORGE_BROWSER_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser"),
        PathBuf::from,
    )
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("IDFORGE_SCREENSHOT_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/screenshots"),
        PathBuf::from,
    )
}

/// A child process killed when the test ends, whatever happens.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stdout until a line contains `marker` (or fails after 60 s); the rest
/// of its output is drained in the background so that it never blocks on a full pipe.
fn wait_for_line(child: &mut Child, marker: &str, what: &str) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        let mut seen = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !seen && line.contains(&marker) {
                seen = true;
                let _ = tx.send(());
            }
        }
    });
    assert!(
        rx.recv_timeout(Duration::from_mins(1)).is_ok(),
        "{what} did not start"
    );
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    key: String,
}

impl Setup {
    fn idforge(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idforge"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("IDFORGE_TEST_STORE_KEY", &self.key)
            .env_remove("IDFORGE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "idforge {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

fn setup(idp_port: u16, sp_base: &str, python: &Path) -> Setup {
    setup_on(idp_port, sp_base, python, None)
}

/// The configuration of an instance on `port`; instances share the store, keys, entity ID.
fn config_text(dir: &Path, idp_port: u16, store_url: Option<&str>) -> String {
    let d = dir.display();
    let store = store_url.map_or_else(String::new, |u| format!("url = \"{u}\"\n"));
    format!(
        r#"data_dir = "{d}/data"
groups = ["Staff", "Contractors"]

[store]
{store}encryption_key = "env:IDFORGE_TEST_STORE_KEY"

[otp]
issuer = "idforge e2e"
totp_ahead = 3

[idp]
base_url = "http://localhost:{idp_port}"
entity_id = "http://idp.e2e.test/saml/metadata"
listen = "127.0.0.1:{idp_port}"
signing_key = "file:{d}/idp-key.pem"
certificate = "{d}/idp-cert.pem"
trusted_proxies = ["127.0.0.1"]
{CONFIG_REST}"#
    )
    .replace("{d}", &d.to_string())
}

fn setup_on(idp_port: u16, sp_base: &str, python: &Path, store_url: Option<&str>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let keygen = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(["saml", "keygen", "--common-name", "idp.test", "--key-out"])
        .arg(dir.path().join("idp-key.pem"))
        .arg("--cert-out")
        .arg(dir.path().join("idp-cert.pem"))
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let sp = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/test_sp.py"))
        .args(["metadata", "--base", sp_base, "--out"])
        .arg(dir.path().join("sp.xml"))
        .arg("--key-dir")
        .arg(dir.path().join("sp-keys"))
        .output()
        .unwrap();
    assert!(sp.status.success(), "test SP metadata: {sp:?}");
    let text = config_text(dir.path(), idp_port, store_url);
    let config = dir.path().join("idp.toml");
    std::fs::write(&config, text).unwrap();
    Setup { dir, config, key }
}

fn start_idp(s: &Setup, config: &Path, log: &str) -> Guard {
    let mut idp = Command::new(env!("CARGO_BIN_EXE_idp"))
        .arg("--config")
        .arg(config)
        .env("IDFORGE_TEST_STORE_KEY", &s.key)
        .env("IDFORGE_LOG", "info")
        .env_remove("IDFORGE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(s.dir.path().join(log))
                .unwrap(),
        )
        .spawn()
        .unwrap();
    wait_for_line(&mut idp, "listening on", "idp");
    Guard(idp)
}

fn start_sp(s: &Setup, python: &Path, port: u16, base: &str, idp_url: &str) -> Guard {
    let mut sp = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/test_sp.py"))
        .args(["serve", "--port", &port.to_string(), "--base", base])
        .arg("--idp-metadata-url")
        .arg(format!("{idp_url}/saml/metadata"))
        .arg("--key-dir")
        .arg(s.dir.path().join("sp-keys"))
        .args(["--max-seconds", "300"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(s.dir.path().join("sp.log")).unwrap())
        .spawn()
        .unwrap();
    wait_for_line(&mut sp, "test-sp listening on", "test SP");
    Guard(sp)
}

/// Whether the browser peers are here (else skip, or fail where they are required).
fn browser_peers(python: &Path) -> bool {
    let pysaml2 = Command::new(python)
        .args(["-c", "import saml2"])
        .output()
        .is_ok_and(|o| o.status.success());
    let node_modules = browser_dir().join("node_modules/playwright-core");
    let chromium = Path::new("/usr/bin/chromium").exists();
    peer(pysaml2, "pysaml2")
        && peer(
            node_modules.exists(),
            "playwright-core (npm ci in tests/browser)",
        )
        && peer(chromium, "chromium")
}

/// Runs a browser script; returns its `E2E` results.
fn run_script(s: &Setup, script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir().join(script))
        .envs(env.iter().copied())
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = |name: &str| std::fs::read_to_string(s.dir.path().join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n--- node stderr ---\n{}\n--- idp logs ---\n{}{}\n--- sp log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        log("idp.log"),
        log("idp-b.log"),
        log("sp.log")
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("E2E "))
        .unwrap_or_else(|| panic!("no results: {stdout}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn browser_enrols_signs_in_and_lands_on_the_test_sp() {
    let python = python();
    if !browser_peers(&python) {
        return;
    }
    let idp_port = idforge_test_support::free_tcp_port();
    let sp_port = idforge_test_support::free_tcp_port();
    let sp_base = format!("http://127.0.0.1:{sp_port}");
    let idp_url = format!("http://localhost:{idp_port}");
    let s = setup(idp_port, &sp_base, &python);

    s.idforge(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.org",
            "--display-name",
            "Alice Example",
            "--group",
            "Staff",
            "--password-stdin",
        ],
        Some(ALICE),
    );
    s.idforge(
        &[
            "user",
            "add",
            "bob",
            "--group",
            "Contractors",
            "--password-stdin",
        ],
        Some(BOB),
    );
    s.idforge(
        &[
            "user",
            "add",
            "carol",
            "--group",
            "Staff",
            "--password-stdin",
        ],
        Some(CAROL),
    );

    let _idp = start_idp(&s, &s.config, "idp.log");
    let _sp = start_sp(&s, &python, sp_port, &sp_base, &idp_url);
    let started = Instant::now();
    let r = run_script(
        &s,
        "idp_e2e.mjs",
        &[
            ("IDP_URL", idp_url.as_str()),
            ("SP_URL", sp_base.as_str()),
            ("ALICE_PASSWORD", ALICE),
            ("BOB_PASSWORD", BOB),
            ("CAROL_PASSWORD", CAROL),
            ("BLOCKED_IP", BLOCKED_IP),
        ],
    );
    eprintln!("browser run: {:.1} s", started.elapsed().as_secs_f64());
    let shots = screenshot_dir();

    assert_eq!(r["login_username_empty"], true);
    // Enrolment: the QR code renders; a wrong code keeps the same secret.
    assert_eq!(r["qr_loaded"], true);
    assert!(
        r["enrol_wrong"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{r}"
    );
    assert_eq!(r["enrol_same_secret"], true);
    assert_eq!(r["after_enrol"], format!("{idp_url}/"));
    // Alice (Staff) sees both apps.
    assert_eq!(
        r["dashboard_apps"],
        serde_json::json!(["aws-console", "test-sp"])
    );
    // IdP-initiated: pysaml2 accepted the signed response.
    let idp_init = &r["idp_initiated"];
    assert_eq!(idp_init["nameid"], "alice");
    assert_eq!(idp_init["flow"], "idp-initiated");
    assert_eq!(idp_init["issuer"], "http://idp.e2e.test/saml/metadata");
    assert_eq!(idp_init["groups"], serde_json::json!(["Staff"]));
    // SP-initiated over the Redirect binding, then SSO without a password.
    assert_eq!(r["sp_initiated"]["flow"], "sp-initiated");
    assert_eq!(r["sp_initiated"]["nameid"], "alice");
    assert!(r["sp_context"].as_str().unwrap().contains("Test SP"), "{r}");
    assert_eq!(r["sso_without_password"], true);
    assert_eq!(r["slo_ended_idp_session"], true);
    // Refusals, each with a clear message.
    assert!(
        r["wrong_code"]
            .as_str()
            .unwrap()
            .contains("code was not accepted"),
        "{r}"
    );
    assert!(
        r["replayed_code"]
            .as_str()
            .unwrap()
            .contains("code was not accepted"),
        "{r}"
    );
    assert!(
        r["wrong_password"]
            .as_str()
            .unwrap()
            .contains("password is wrong"),
        "{r}"
    );
    assert_eq!(r["autofocus"], "username", "{r}");
    assert!(
        r["not_in_group"]
            .as_str()
            .unwrap()
            .contains("do not have access"),
        "{r}"
    );
    assert!(
        r["locked"].as_str().unwrap().contains("cannot sign in now"),
        "{r}"
    );
    assert!(r["blocked_ip"].as_str().unwrap().contains("denied"), "{r}");
    assert_eq!(r["phone_overflow"], false);
    for name in ["login", "enrolment", "mfa", "dashboard", "sp-idp-initiated"] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name}"
        );
    }

    // The audit log has the right entry for each of them.
    let text = s.idforge(&["--json", "audit", "tail", "-n", "500"], None);
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let audit = text.as_str();
    let has = |user: &str, app: &str, result: &str, needle: &str| {
        entries.iter().any(|e| {
            e["username"] == user
                && (app.is_empty() || e["application"] == app)
                && e["result"] == result
                && e["front_door"] == "web"
                && e.to_string().contains(needle)
        })
    };
    assert!(has("alice", "portal", "enrol", "totp:enrolled"), "{audit}");
    assert!(
        has("alice", "portal", "enrol-failed", "otp:wrong"),
        "{audit}"
    );
    assert!(has("alice", "portal", "reject", "otp:wrong"), "{audit}");
    assert!(has("alice", "portal", "reject", "otp:replayed"), "{audit}");
    assert!(
        has("alice", "portal", "reject", "wrong password"),
        "{audit}"
    );
    assert!(has("alice", "test-sp", "accept", "session"), "{audit}");
    assert!(has("alice", "test-sp", "accept", "totp:ok"), "{audit}");
    assert!(
        has("bob", "test-sp", "reject", "not a member of any group"),
        "{audit}"
    );
    assert!(has("carol", "portal", "locked", "locked out"), "{audit}");
    assert!(has("alice", "portal", "deny", BLOCKED_IP), "{audit}");
    // Nothing secret in the IdP's log.
    let log = std::fs::read_to_string(s.dir.path().join("idp.log")).unwrap();
    for secret in [ALICE, BOB, CAROL, "SAMLResponse", "idforge_session="] {
        assert!(!log.contains(secret), "the log contains {secret}");
    }
}

/// Two `idp` processes on one PostgreSQL database, then a restart: a session made on one
/// instance works on the other, a code used on one is refused on the other, and the session
/// and the enrolment survive the restart.
#[test]
fn two_instances_on_postgresql_share_the_session_and_codes_and_survive_a_restart() {
    let python = python();
    if !browser_peers(&python) {
        return;
    }
    let Some(pg) = postgres::Postgres::start("idp_browser_two_instances") else {
        return;
    };
    let url = pg.new_database("idforge");
    let (port_a, port_b, sp_port) = (
        idforge_test_support::free_tcp_port(),
        idforge_test_support::free_tcp_port(),
        idforge_test_support::free_tcp_port(),
    );
    let sp_base = format!("http://127.0.0.1:{sp_port}");
    let (idp_a, idp_b) = (
        format!("http://localhost:{port_a}"),
        format!("http://localhost:{port_b}"),
    );
    let s = setup_on(port_a, &sp_base, &python, Some(&url));
    let config_b = s.dir.path().join("idp-b.toml");
    std::fs::write(&config_b, config_text(s.dir.path(), port_b, Some(&url))).unwrap();
    s.idforge(
        &[
            "user",
            "add",
            "alice",
            "--group",
            "Staff",
            "--password-stdin",
        ],
        Some(ALICE),
    );
    let enrolled: serde_json::Value =
        serde_json::from_str(&s.idforge(&["--json", "otp", "enroll", "alice", "--no-qr"], None))
            .unwrap();
    let uri = enrolled["uri"].as_str().unwrap();
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_owned();
    let a = start_idp(&s, &s.config, "idp.log");
    let _b = start_idp(&s, &config_b, "idp-b.log");
    let _sp = start_sp(&s, &python, sp_port, &sp_base, &idp_a);
    let state = s.dir.path().join("browser-state.json");
    let state_text = state.display().to_string();
    let env = [
        ("IDP_A", idp_a.as_str()),
        ("IDP_B", idp_b.as_str()),
        ("SP_URL", sp_base.as_str()),
        ("ALICE_PASSWORD", ALICE),
        ("TOTP_SECRET", secret.as_str()),
        ("STATE_FILE", state_text.as_str()),
    ];
    let r = run_script(
        &s,
        "idp_reliability.mjs",
        &[&env[..], &[("PHASE", "shared")]].concat(),
    );
    assert_eq!(r["b_signed_in"], true, "{r}");
    assert_eq!(r["sso_from_b"], "alice", "{r}");
    assert!(
        r["replay_on_b"]
            .as_str()
            .unwrap()
            .contains("code was not accepted"),
        "{r}"
    );
    // Restart instance A: the session and the enrolment are in the store.
    drop(a);
    let _a = start_idp(&s, &s.config, "idp.log");
    let r = run_script(
        &s,
        "idp_reliability.mjs",
        &[&env[..], &[("PHASE", "restart")]].concat(),
    );
    assert_eq!(r["after_restart"], "Your applications", "{r}");
    assert!(
        r["factors"][0]
            .as_str()
            .unwrap()
            .contains("Authenticator app"),
        "{r}"
    );
}

const DAVE: &str = "dave-sends-codes";
const ERIN: &str = "erin-knows-answers";
const FRANK: &str = "frank-was-invited";
const TWILIO_SID: &str = "AC00112233445566778899aabbccddeeff";
const TWILIO_TOKEN: &str = "e2e-twilio-token";

/// Codes and links the IdP sends, in the browser: an e-mail code (a reused one refused, a
/// resend throttled), a sign-in link refused in another browser and accepted in its own, each
/// mail received by a real SMTP server (aiosmtpd with STARTTLS and AUTH) that the `idp`
/// binary's outbox worker delivers to; then security questions set up from the dashboard and
/// asked by the test SP's policy (answers typed in another case and spacing accepted).
#[test]
fn browser_finishes_logins_with_an_email_code_a_sign_in_link_and_security_questions() {
    let python = python();
    if !browser_peers(&python)
        || !smtp::smtp_peer_present("browser_finishes_logins_with_codes_links_and_questions")
    {
        return;
    }
    let idp_port = idforge_test_support::free_tcp_port();
    let smtp_port = idforge_test_support::free_tcp_port();
    let sp_port = idforge_test_support::free_tcp_port();
    let sms_port = idforge_test_support::free_tcp_port();
    let sp_base = format!("http://127.0.0.1:{sp_port}");
    let idp_url = format!("http://localhost:{idp_port}");
    let s = setup(idp_port, &sp_base, &python);
    let ca = idforge_test_support::TestCa::new(s.dir.path(), "smtp");
    let (cert, key) = ca.issue_server();
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        "groups = [\"Staff\", \"Contractors\"]",
        "groups = [\"Staff\", \"Contractors\", \"Mailers\", \"Quizzers\"]",
    ) + &format!(
        r#"
[[policy.policies]]
name = "questions-for-the-test-sp"
applications = ["test-sp"]
groups = ["Quizzers"]
first_factor = "local_password"
second_factor = "required"
methods = ["security_questions"]

[[policy.policies]]
name = "quizzers-portal"
groups = ["Quizzers"]
first_factor = "local_password"
second_factor = "none"

[kba]
enrol = 3
ask = 2
questions = [
  {{ id = "pet", text = "What was the name of your first pet?" }},
  {{ id = "street", text = "In which street did you grow up?" }},
  {{ id = "teacher", text = "What was your favourite teacher's name?" }},
  {{ id = "city", text = "In which city did your parents meet?" }},
]

[[policy.policies]]
name = "codes-by-mail"
groups = ["Mailers"]
first_factor = "local_password"
second_factor = "required"
methods = ["email_otp", "email_link", "sms_otp"]

[sms]
provider = "twilio"
account_sid = "{sid}"
auth_token = "{token}"
from = "+1 415 555 0100"
api_base = "http://127.0.0.1:{sms_port}"
poll_ms = 100
backoff_secs = 1

[mail]
host = "127.0.0.1"
port = {smtp_port}
username = "{user}"
password = "{password}"
from = "idp@idforge.test"
from_name = "idforge e2e"
ca_file = "{ca}"
timeout_secs = 5
poll_ms = 100
backoff_secs = 1
"#,
        user = smtp::SMTP_USER,
        password = smtp::SMTP_PASSWORD,
        ca = ca.cert.display(),
        sid = TWILIO_SID,
        token = TWILIO_TOKEN,
    );
    std::fs::write(&s.config, text).unwrap();
    s.idforge(
        &[
            "user",
            "add",
            "dave",
            "--email",
            "dave@example.org",
            "--phone",
            "+44 20 7946 0958",
            "--group",
            "Mailers",
            "--password-stdin",
        ],
        Some(DAVE),
    );
    s.idforge(
        &[
            "user",
            "add",
            "erin",
            "--group",
            "Staff",
            "--group",
            "Quizzers",
            "--password-stdin",
        ],
        Some(ERIN),
    );
    s.idforge(
        &[
            "user",
            "add",
            "frank",
            "--email",
            "frank@example.org",
            "--display-name",
            "Frank N. Stein",
            "--group",
            "Staff",
            "--invite",
        ],
        None,
    );
    let csv = s.dir.path().join("new-users.csv");
    std::fs::write(
        &csv,
        "name,email,phone,groups\ngina,gina@example.org,,Staff\nhal,,,Staff\n",
    )
    .unwrap();
    let imported: serde_json::Value = serde_json::from_str(&s.idforge(
        &[
            "--json",
            "user",
            "import",
            "--csv",
            csv.to_str().unwrap(),
            "--invite",
        ],
        None,
    ))
    .unwrap();
    assert_eq!(
        imported["invited"],
        serde_json::json!(["gina"]),
        "{imported}"
    );
    assert_eq!(imported["not_invited"][0][0], "hal", "{imported}");
    let peer = smtp::SmtpPeer::start(
        s.dir.path(),
        smtp_port,
        "starttls",
        &cert,
        &key.display().to_string(),
    );
    let gateway = sms_gateway::GatewayPeer::twilio(
        s.dir.path(),
        sms_port,
        TWILIO_SID,
        TWILIO_TOKEN,
        &sms_gateway::PeerOptions::default(),
    );
    let _idp = start_idp(&s, &s.config, "idp.log");
    let _sp = start_sp(&s, &python, sp_port, &sp_base, &idp_url);
    let r = run_script(
        &s,
        "idp_channels.mjs",
        &[
            ("IDP_URL", idp_url.as_str()),
            ("SP_URL", sp_base.as_str()),
            ("DAVE_PASSWORD", DAVE),
            ("ERIN_PASSWORD", ERIN),
            ("FRANK_PASSWORD", FRANK),
            ("MAIL_LOG", &peer.log_path().display().to_string()),
            ("SMS_LOG", &gateway.log_path().display().to_string()),
        ],
    );
    assert_eq!(
        r["offers"],
        serde_json::json!(["send-email_otp", "send-sms_otp", "send-email_link"]),
        "{r}"
    );
    assert_eq!(r["code_form_before_sending"], false, "{r}");
    assert!(
        r["code_notice"]
            .as_str()
            .unwrap()
            .contains("d•••@example.org"),
        "{r}"
    );
    assert_eq!(r["email_code_user"], "dave");
    assert!(
        r["reused_code"]
            .as_str()
            .unwrap()
            .contains("code was not accepted"),
        "{r}"
    );
    assert!(
        r["resend_too_soon"]
            .as_str()
            .unwrap()
            .contains("Wait half a minute"),
        "{r}"
    );
    assert_eq!(r["link_host"], idp_url);
    assert_eq!(r["link_elsewhere_status"], 403);
    assert_eq!(r["link_user"], "dave");
    assert_eq!(r["link_again_status"], 403);
    assert!(
        r["sms_notice"].as_str().unwrap().contains("+44 ••• ••58"),
        "{r}"
    );
    assert_eq!(r["sms_to"], "+442079460958");
    assert_eq!(r["sms_user"], "dave");
    assert_eq!(gateway.received().len(), 1, "one text message");
    assert!(r["kba_saved"].as_str().unwrap().contains("saved"), "{r}");
    assert_eq!(r["kba_offered"], true, "{r}");
    assert_eq!(r["kba_asked"], 2, "{r}");
    assert!(
        r["kba_wrong"].as_str().unwrap().contains("not accepted"),
        "{r}"
    );
    assert_eq!(r["kba_same_questions"], true, "{r}");
    assert_eq!(r["kba_sp_status"], "Signed in", "{r}");
    assert!(
        r["activate_greeting"]
            .as_str()
            .unwrap()
            .contains("Frank N. Stein"),
        "{r}"
    );
    assert!(
        r["activate_mismatch"].as_str().unwrap().contains("differ"),
        "{r}"
    );
    assert_eq!(r["activate_username"], "frank", "{r}");
    assert_eq!(r["activated_user"], "frank", "{r}");
    assert_eq!(r["activation_reused_status"], 400, "{r}");
    assert_eq!(r["backup_count"], 10, "{r}");
    assert!(r["security_signins"].as_u64().unwrap() >= 3, "{r}");
    assert_eq!(r["security_remove_buttons"], 1, "{r}");
    assert!(r["backup_left"].as_str().unwrap().ends_with("10"), "{r}");
    assert!(r["backup_used"].as_str().unwrap().ends_with('9'), "{r}");
    assert!(
        r["backup_reused"]
            .as_str()
            .unwrap()
            .contains("code was not accepted"),
        "{r}"
    );
    assert_eq!(r["phone_overflow"], false);
    for name in [
        "activate",
        "activate-done",
        "backup-codes",
        "security",
        "security-reauthed",
        "mfa-choices",
        "mfa-code-sent",
        "link",
        "link-elsewhere",
        "kba-enroll",
        "kba",
        "mfa-sms-sent",
    ] {
        assert!(
            screenshot_dir().join(format!("{name}.png")).exists(),
            "screenshot {name}"
        );
    }
    // Every mail arrived once; the audit log names each way in.
    let received = peer.received();
    let ids: std::collections::HashSet<&str> = received
        .iter()
        .filter_map(|m| smtp::header(m["data"].as_str()?, "Message-ID"))
        .collect();
    assert_eq!(ids.len(), received.len(), "no mail twice");
    let text = s.idforge(&["--json", "audit", "tail", "-n", "100"], None);
    assert!(text.contains("email_otp:ok:d•••@example.org"), "{text}");
    assert!(text.contains("email_link:ok:d•••@example.org"), "{text}");
    assert!(text.contains("security_questions:ok"), "{text}");
    assert!(text.contains("sms_otp:ok:+44 ••• ••58"), "{text}");
    assert!(text.contains("activation:ok"), "{text}");
    assert!(
        received
            .iter()
            .any(|m| m["rcpt_tos"][0] == "gina@example.org"
                && m["subject"].as_str().unwrap().contains("Welcome")),
        "the imported user was invited"
    );
    assert!(text.contains("security_questions:wrong"), "{text}");
    // The codes are nowhere in the IdP's log.
    let log = std::fs::read_to_string(s.dir.path().join("idp.log")).unwrap();
    for m in &received {
        let body = m["text"].as_str().unwrap_or_default();
        if let Some(code) = body
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        {
            assert!(!log.contains(code), "the log contains a code");
        }
        if let Some(link) = body.lines().find(|l| l.starts_with("http")) {
            let token = link.split_once("token=").unwrap().1;
            assert!(!log.contains(token), "the log contains a link token");
        }
    }
}

const KIM: &str = "kim-holds-the-key";

#[test]
fn browser_registers_a_passkey_signs_in_without_a_password_and_uses_it_as_a_second_factor() {
    let python = python();
    if !browser_peers(&python) {
        return;
    }
    let idp_port = idforge_test_support::free_tcp_port();
    let sp_port = idforge_test_support::free_tcp_port();
    let sp_base = format!("http://127.0.0.1:{sp_port}");
    let idp_url = format!("http://localhost:{idp_port}");
    let s = setup(idp_port, &sp_base, &python);
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace(
            "groups = [\"Staff\", \"Contractors\"]",
            "groups = [\"Staff\", \"Contractors\", \"Keyholders\"]",
        )
        .replace(
            "trusted_proxies = [\"127.0.0.1\"]",
            "trusted_proxies = [\"127.0.0.1\"]\npasswordless = true\nwebauthn_rp_name = \"idforge e2e\"",
        )
        + r#"
[[policy.policies]]
name = "keys-for-the-test-sp"
applications = ["test-sp"]
groups = ["Keyholders"]
first_factor = "local_password"
second_factor = "required"
methods = ["webauthn"]

[[policy.policies]]
name = "keyholders-portal"
applications = ["portal"]
groups = ["Keyholders"]
first_factor = "local_password"
second_factor = "if_risky"
methods = ["webauthn"]
"#;
    std::fs::write(&s.config, text).unwrap();
    s.idforge(
        &[
            "user",
            "add",
            "kim",
            "--group",
            "Staff",
            "--group",
            "Keyholders",
            "--password-stdin",
        ],
        Some(KIM),
    );
    let _idp = start_idp(&s, &s.config, "idp.log");
    let _sp = start_sp(&s, &python, sp_port, &sp_base, &idp_url);
    let r = run_script(
        &s,
        "idp_webauthn.mjs",
        &[
            ("IDP_URL", idp_url.as_str()),
            ("SP_URL", sp_base.as_str()),
            ("KIM_PASSWORD", KIM),
        ],
    );
    assert_eq!(r["listed"], serde_json::json!(["Laptop passkey"]), "{r}");
    assert_eq!(r["resident"], true, "a discoverable credential: {r}");
    assert_eq!(r["passwordless_user"], "kim", "{r}");
    assert_eq!(r["mfa_offers_key"], true, "{r}");
    assert_eq!(r["sp_nameid"], "kim", "{r}");
    assert!(r["count_before"].as_u64().unwrap() >= 2, "{r}");
    assert!(
        r["cloned"].as_str().unwrap().contains("did not sign"),
        "{r}"
    );
    assert_eq!(r["listed_after"], serde_json::json!([]), "{r}");
    let audit = s.idforge(&["--json", "audit", "tail", "-n", "500"], None);
    for factor in [
        "webauthn:enrolled:Laptop passkey",
        "webauthn:passkey:Laptop passkey",
        "webauthn:ok:Laptop passkey",
        "webauthn:counter:Laptop passkey",
        "webauthn:removed:Laptop passkey",
        "webauthn:passkey:unknown",
    ] {
        assert!(
            audit.contains(factor),
            "no `{factor}` in the audit log:\n{audit}"
        );
    }
}
