//! The `idforge` administration commands on a real store, run as an administrator runs them.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use idforge_otp::KeyUri;

struct Admin {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Admin {
    fn new() -> Admin {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("idforge.toml");
        let key = idforge_examples::crypto::Key::generate()
            .unwrap()
            .to_base64();
        std::fs::write(
            &config,
            r#"data_dir = "data"
groups = ["Staff"]

[store]
encryption_key = "env:IDFORGE_TEST_STORE_KEY"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "aws-console"
kind = "aws"
[[apps.roles]]
group = "Staff"
role_arn = "arn:aws:iam::123456789012:role/ReadOnly"
provider_arn = "arn:aws:iam::123456789012:saml-provider/idforge"

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "backup_code"]
"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("key"), key.as_bytes()).unwrap();
        Admin { dir, config }
    }

    fn key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("key")).unwrap()
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_idforge"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("IDFORGE_TEST_STORE_KEY", self.key())
            .env_remove("IDFORGE_CONFIG")
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.run(args, stdin);
        assert!(
            o.status.success(),
            "idforge {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn current_code(uri: &str) -> (String, u64) {
    let key = KeyUri::parse(uri).unwrap();
    let totp = key.to_totp().unwrap();
    // Stay clear of a step boundary so that the code is still current when it is checked.
    let mut t = now();
    if t % 30 > 25 {
        std::thread::sleep(std::time::Duration::from_secs(30 - t % 30 + 1));
        t = now();
    }
    (totp.generate(t).unwrap().to_string(), t / 30)
}

#[test]
fn users_groups_factors_and_a_login_end_to_end() {
    let a = Admin::new();
    a.ok(&["group", "add", "Admins"], None);
    let out = a.ok(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--display-name",
            "Alice Example",
            "--group",
            "Staff",
            "--password-stdin",
        ],
        Some("correct horse\n"),
    );
    assert!(out.contains("created user alice"), "{out}");
    // Duplicate, and an unknown group, are errors that say so.
    let o = a.run(&["user", "add", "ALICE"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
    let o = a.run(&["user", "add", "bob", "--group", "Nobody"], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Nobody"));

    a.ok(&["group", "assign", "alice", "Admins"], None);
    let groups: serde_json::Value =
        serde_json::from_str(&a.ok(&["group", "list", "--json"], None)).unwrap();
    let staff = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Staff")
        .unwrap();
    assert_eq!(staff["members"], 1);

    // Enrol TOTP; the QR code is drawn for a person, the URI is in the JSON for scripts.
    let text = a.ok(&["otp", "enroll", "alice"], None);
    assert!(text.contains("otpauth://totp/"), "{text}");
    a.ok(&["otp", "reset", "alice"], None);
    let enrolled: serde_json::Value =
        serde_json::from_str(&a.ok(&["otp", "enroll", "alice", "--json"], None)).unwrap();
    let uri = enrolled["uri"].as_str().unwrap().to_owned();
    assert!(uri.contains("issuer=idforge"), "{uri}");

    // Without a code the login asks for one; with it, accepted once.
    let o = a.run(
        &["login", "alice", "--app", "aws-console"],
        Some("correct horse\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("second factor"));
    let (code, _) = current_code(&uri);
    let out = a.ok(
        &["login", "alice", "--app", "aws-console", "--code", &code],
        Some("correct horse\n"),
    );
    assert!(out.contains("accepted alice"), "{out}");
    let o = a.run(
        &["login", "alice", "--app", "aws-console", "--code", &code],
        Some("correct horse\n"),
    );
    assert_eq!(o.status.code(), Some(1), "a code is accepted once");

    // The audit log shows the decisions, without the password or the code.
    let tail = a.ok(&["audit", "tail", "--user", "alice", "--json"], None);
    let entries: Vec<serde_json::Value> = tail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results: Vec<&str> = entries
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["accept", "reject"], "{tail}");
    assert!(!tail.contains("correct horse") && !tail.contains(&code));
    let text = a.ok(&["audit", "tail"], None);
    assert!(text.contains("otp:replayed"), "{text}");

    // Backup codes work once each.
    let codes: serde_json::Value =
        serde_json::from_str(&a.ok(&["otp", "backup-codes", "alice", "--json"], None)).unwrap();
    let first = codes["codes"][0].as_str().unwrap().to_owned();
    a.ok(
        &["login", "alice", "--app", "aws-console", "--code", &first],
        Some("correct horse\n"),
    );

    // Show, disable, enable, delete.
    let show: serde_json::Value =
        serde_json::from_str(&a.ok(&["user", "show", "alice", "--json"], None)).unwrap();
    assert_eq!(show["user"]["email"], "alice@example.com");
    assert_eq!(show["groups"], serde_json::json!(["Admins", "Staff"]));
    assert_eq!(show["unused_backup_codes"], 9);
    assert!(!show.to_string().contains("secret"));
    a.ok(&["user", "disable", "alice"], None);
    let (code, _) = current_code(&uri);
    let o = a.run(
        &["login", "alice", "--app", "aws-console", "--code", &code],
        Some("correct horse\n"),
    );
    assert_eq!(o.status.code(), Some(1), "disabled users are refused");
    a.ok(&["user", "enable", "alice"], None);
    a.ok(&["user", "unlock", "alice"], None);
    let list = a.ok(&["user", "list"], None);
    assert!(list.contains("alice") && list.contains("1 users"), "{list}");
    a.ok(&["user", "delete", "alice"], None);
    assert!(a.ok(&["user", "list"], None).contains("0 users"));
}

#[test]
fn alternate_addresses_are_set_checked_shown_and_cleared_and_invitations_need_mail() {
    let a = Admin::new();
    a.ok(
        &["user", "add", "alice", "--email", "alice@example.com"],
        None,
    );
    a.ok(
        &["user", "alternate-email", "alice", "alice.home@example.net"],
        None,
    );
    let shown: serde_json::Value =
        serde_json::from_str(&a.ok(&["--json", "user", "show", "alice"], None)).unwrap();
    assert_eq!(shown["user"]["alternate_email"], "alice.home@example.net");
    let bad = a.run(
        &["user", "alternate-email", "alice", "not an address"],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an e-mail address"));
    a.ok(&["user", "alternate-email", "alice"], None);
    let shown: serde_json::Value =
        serde_json::from_str(&a.ok(&["--json", "user", "show", "alice"], None)).unwrap();
    assert!(shown["user"]["alternate_email"].is_null());
    // Without [mail] nobody can be invited, and saying so is an error.
    let invite = a.run(&["user", "invite", "alice"], None);
    assert!(!invite.status.success());
    assert!(
        String::from_utf8_lossy(&invite.stderr).contains("e-mail is not configured"),
        "{}",
        String::from_utf8_lossy(&invite.stderr)
    );
}

#[test]
fn yubikeys_are_imported_from_the_personalization_log_assigned_and_listed() {
    let a = Admin::new();
    a.ok(&["user", "add", "alice"], None);
    let log = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../otp/tests/vectors/yubikey-personalization-traditional.csv"
    );
    let imported: serde_json::Value =
        serde_json::from_str(&a.ok(&["--json", "token", "import", "--csv", log], None)).unwrap();
    let ids: Vec<&str> = imported["public_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(ids.contains(&"dteffuje"), "{imported}");
    assert_eq!(imported["imported"], ids.len());
    assert!(
        imported["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["reason"].as_str().unwrap().contains("OATH-HOTP")),
        "{imported}"
    );
    // The same keys again: refused as a whole, naming the key.
    let again = a.run(&["token", "import", "--csv", log], None);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("dteffuje"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    a.ok(&["token", "assign", "dteffuje", "alice"], None);
    let listed: serde_json::Value =
        serde_json::from_str(&a.ok(&["--json", "token", "list"], None)).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["public_id"] == "dteffuje")
        .unwrap();
    assert_eq!(row["user"], "alice");
    // Nobody else's key can be assigned over it; unknown keys are named.
    a.ok(&["user", "add", "bob"], None);
    let stolen = a.run(&["token", "assign", "dteffuje", "bob"], None);
    assert!(!stolen.status.success());
    assert!(String::from_utf8_lossy(&stolen.stderr).contains("another user"));
    let unknown = a.run(&["token", "assign", "cccccccccccc", "bob"], None);
    assert!(!unknown.status.success());
    a.ok(&["token", "unassign", "dteffuje"], None);
    a.ok(&["token", "assign", "dteffuje", "bob"], None);
    a.ok(&["token", "delete", "dteffuje"], None);
    let listed: serde_json::Value =
        serde_json::from_str(&a.ok(&["--json", "token", "list"], None)).unwrap();
    assert!(!listed.to_string().contains("dteffuje"));
    // A log with a broken key line is refused with its line number, nothing imported.
    let bad = a.dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "Yubico OTP,2026-12-04 09:13:05,1,vvcccccccccb,609963EAE7B,C68C9DF8CBFE7D2F994CB904046C7218,,,,,,0,0,0,0,0,0,0\n",
    )
    .unwrap();
    let refused = a.run(&["token", "import", "--csv", bad.to_str().unwrap()], None);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("line 1") && err.contains("private id"),
        "{err}"
    );
}

#[test]
fn user_list_csv_never_writes_a_live_formula() {
    let a = Admin::new();
    a.ok(
        &[
            "user",
            "add",
            "mallory",
            "--display-name",
            "=HYPERLINK(\"http://x\")",
        ],
        None,
    );
    let csv = a.ok(&["user", "list", "--csv"], None);
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains("\"=HYPERLINK"),
        "{csv}"
    );
}

#[test]
fn csv_import_through_the_cli_reports_bad_lines() {
    let a = Admin::new();
    let file = a.dir.path().join("users.csv");
    std::fs::write(
        &file,
        "name,email,phone,groups\nalice,alice@example.com,,Staff\n,nobody@example.com,,\nbob,bob@example.com,,Staff\n",
    )
    .unwrap();
    let o = a.run(&["user", "import", "--csv", file.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("line 3"), "{out}");
    assert!(
        a.ok(&["user", "list"], None).contains("0 users"),
        "all or nothing"
    );
    let o = a.run(
        &[
            "user",
            "import",
            "--csv",
            file.to_str().unwrap(),
            "--skip-bad",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "bad lines are still reported");
    assert!(a.ok(&["user", "list"], None).contains("2 users"));
}

#[test]
fn applications_are_checked_before_they_are_saved() {
    let a = Admin::new();
    a.ok(
        &[
            "app",
            "add",
            "aws-prod",
            "--kind",
            "aws",
            "--role",
            "Staff=arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge",
            "--session-duration",
            "3600",
        ],
        None,
    );
    a.ok(
        &[
            "app",
            "add",
            "vpn",
            "--kind",
            "radius",
            "--mode",
            "challenge",
        ],
        None,
    );
    let o = a.run(
        &[
            "app",
            "add",
            "bad",
            "--kind",
            "aws",
            "--role",
            "Staff=arn:aws:iam::1:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("role_arn"));
    let o = a.run(&["app", "add", "x", "--kind", "saml"], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("metadata"));
    // An IAM Identity Center app from its SAML metadata file; a file that is not SP metadata
    // is refused.
    let metadata = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../saml/tests/vectors/metadata/aws-signin-sp.xml"
    );
    // That copy's validUntil (2021) has passed: refused unless asked for.
    let o = a.run(
        &[
            "app",
            "add",
            "identity-center",
            "--kind",
            "aws-identity-center",
            "--metadata",
            metadata,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expired at 2021-02-20T00:00:00Z"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    a.ok(
        &[
            "app",
            "add",
            "identity-center",
            "--kind",
            "aws-identity-center",
            "--metadata",
            metadata,
            "--allow-expired-metadata",
        ],
        None,
    );
    let not_metadata = a.dir.path().join("not-metadata.xml");
    std::fs::write(&not_metadata, "<html/>").unwrap();
    let o = a.run(
        &[
            "app",
            "add",
            "x",
            "--kind",
            "saml",
            "--metadata",
            not_metadata.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not usable SP metadata"));
    let apps: serde_json::Value =
        serde_json::from_str(&a.ok(&["app", "list", "--json"], None)).unwrap();
    let ids: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["aws-console", "aws-prod", "identity-center", "vpn"]);
}

#[test]
fn configuration_errors_name_the_file_line_and_key() {
    let a = Admin::new();
    let text = std::fs::read_to_string(&a.config)
        .unwrap()
        .replace("iterations = 1", "iterations = 0");
    std::fs::write(&a.config, text).unwrap();
    let o = a.run(&["user", "list"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("idforge.toml:9: passwords.iterations"),
        "{err}"
    );
    // A secret from a missing environment variable is named, never printed.
    let o = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .arg("--config")
        .arg(&a.config)
        .args(["user", "list"])
        .env_remove("IDFORGE_TEST_STORE_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

fn demo(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(args)
        .env_remove("IDFORGE_CONFIG")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "idforge {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn demo_mode_creates_its_store_and_key_and_rotates_the_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["user", "list"]);
    assert!(out.contains("demo"), "{out}");
    let data = dir.path().join("idforge-data");
    for f in ["store.key", "demo-password"] {
        let mode = std::fs::metadata(data.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    assert!(data.join("idforge.db").is_file());
    // SQLite removes the -wal file when the last connection closes; it would get the
    // database file's mode.
    let mode = std::fs::metadata(data.join("idforge.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the database file");
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the data directory");
    let enrolled: serde_json::Value =
        serde_json::from_str(&demo(dir.path(), &["otp", "enroll", "demo", "--json"])).unwrap();
    let uri = enrolled["uri"].as_str().unwrap().to_owned();
    let before: serde_json::Value =
        serde_json::from_str(&demo(dir.path(), &["keys", "status", "--json"])).unwrap();
    let rotated: serde_json::Value =
        serde_json::from_str(&demo(dir.path(), &["keys", "rotate", "--json"])).unwrap();
    assert_eq!(rotated["reencrypted"], 1);
    assert_ne!(rotated["new_key_id"], before["current"]);
    let after: serde_json::Value =
        serde_json::from_str(&demo(dir.path(), &["keys", "status", "--json"])).unwrap();
    assert_eq!(after["current"], rotated["new_key_id"]);
    assert_eq!(
        after["secrets_by_key"],
        serde_json::json!([[rotated["new_key_id"].clone(), 1]])
    );
    assert!(!data.join("store.key.next").exists());
    // The secret still opens under the new key: a login with the current code works.
    let password = std::fs::read_to_string(data.join("demo-password")).unwrap();
    let (code, _) = current_code(&uri);
    let mut child = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(["login", "demo", "--app", "aws-console", "--code", &code])
        .env_remove("IDFORGE_CONFIG")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
