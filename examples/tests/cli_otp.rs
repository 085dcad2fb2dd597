//! The `idforge otp` commands, run as a user runs them.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use idforge_otp::{KeyUri, OtpKind};

/// RFC 6238's SHA-1 seed "12345678901234567890" in base32.
const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn idforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(args)
        .env_remove("IDFORGE_OTP_SECRET")
        .output()
        .expect("run idforge")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn code_prints_only_the_code() {
    let o = idforge(&[
        "otp",
        "code",
        "--secret",
        RFC_SEED,
        "--time",
        "1111111109",
        "--digits",
        "8",
    ]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "07081804\n");
    let o = idforge(&["otp", "code", "--secret", RFC_SEED, "--counter", "3"]);
    assert_eq!(stdout(&o), "969429\n");
    let o = idforge(&[
        "otp",
        "code",
        "--secret",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA",
        "--time",
        "59",
        "--digits",
        "8",
        "--algorithm",
        "SHA256",
    ]);
    assert_eq!(stdout(&o), "46119246\n");
}

#[test]
fn secret_from_the_environment() {
    let o = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(["otp", "code", "--time", "59", "--digits", "8"])
        .env("IDFORGE_OTP_SECRET", RFC_SEED)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "94287082\n");
}

#[test]
fn verify_exit_codes() {
    let base = [
        "otp", "verify", "--secret", RFC_SEED, "--time", "59", "--digits", "8",
    ];
    let ok = idforge(&[&base[..], &["--code", "94287082"]].concat());
    assert_eq!(ok.status.code(), Some(0));
    assert!(stdout(&ok).contains("step=1"));
    let wrong = idforge(&[&base[..], &["--code", "94287083"]].concat());
    assert_eq!(wrong.status.code(), Some(1));
    let replay = idforge(&[&base[..], &["--code", "94287082", "--last-step", "1"]].concat());
    assert_eq!(replay.status.code(), Some(1));
    let hotp = idforge(&[
        "otp",
        "verify",
        "--secret",
        RFC_SEED,
        "--counter",
        "0",
        "--code",
        "162583",
    ]);
    assert_eq!(hotp.status.code(), Some(0));
    assert!(stdout(&hotp).contains("next_counter=8"));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    for args in [
        &["otp", "code", "--secret", "not base32!"][..],
        &["otp", "code", "--secret", RFC_SEED, "--digits", "5"],
        &["otp", "code", "--secret", RFC_SEED, "--algorithm", "MD5"],
        &["otp", "code", "--secret", RFC_SEED, "--period", "0"],
        &[
            "otp", "code", "--secret", RFC_SEED, "--time", "10", "--t0", "20",
        ],
        &["otp", "new", "--issuer", "X", "--account", "a:b", "--no-qr"],
        &[
            "otp",
            "new",
            "--issuer",
            "X",
            "--account",
            "a",
            "--bytes",
            "0",
            "--no-qr",
        ],
        &["otp", "verify", "--secret", RFC_SEED],
    ] {
        let o = idforge(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn new_enrols_a_working_key() {
    let o = idforge(&[
        "otp",
        "new",
        "--issuer",
        "Example Co",
        "--account",
        "alice@example.com",
    ]);
    assert!(o.status.success());
    let out = stdout(&o);
    let secret = out
        .lines()
        .next()
        .unwrap()
        .strip_prefix("secret: ")
        .unwrap();
    let uri = out
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("uri:    ")
        .unwrap();
    let parsed = KeyUri::parse(uri).unwrap();
    assert_eq!(parsed.issuer(), Some("Example Co"));
    assert_eq!(parsed.account(), "alice@example.com");
    assert_eq!(parsed.kind(), OtpKind::Totp { period: 30 });
    assert_eq!(parsed.secret().to_base32(), secret);
    assert_eq!(parsed.secret().len(), 20);
    // The QR code follows.
    assert!(out.lines().count() > 15);
    // The printed secret works with `code`/`verify`.
    let code = stdout(&idforge(&[
        "otp", "code", "--secret", secret, "--time", "1000",
    ]));
    let v = idforge(&[
        "otp",
        "verify",
        "--secret",
        secret,
        "--time",
        "1010",
        "--code",
        code.trim(),
    ]);
    assert_eq!(v.status.code(), Some(0));
}

#[test]
fn new_writes_an_svg() {
    let dir = std::env::temp_dir().join(format!("idforge-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qr.svg");
    let o = idforge(&[
        "otp",
        "new",
        "--issuer",
        "X",
        "--account",
        "bob",
        "--no-qr",
        "--svg",
        path.to_str().unwrap(),
        "--counter",
        "5",
        "--digits",
        "8",
    ]);
    assert!(o.status.success());
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("<svg"));
    let uri = KeyUri::parse(
        stdout(&o)
            .lines()
            .nth(1)
            .unwrap()
            .trim_start_matches("uri:")
            .trim(),
    )
    .unwrap();
    assert_eq!(uri.kind(), OtpKind::Hotp { counter: 5 });
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Google Authenticator exports, encoded by protoc (otp/tests/vectors/google-authenticator-
/// migration.txt): one TOTP account; and QR code 2 of 2 with a TOTP, an HOTP (SHA256, 8
/// digits, counter 7) and an MD5 account, all with the RFC 6238 SHA-1 seed.
const EXPORT_ONE: &str = "otpauth-migration://offline?data=CjUKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZSABKAEwAhABGAEowPr0%2BgM%3D";
const EXPORT_TWO: &str = "otpauth-migration://offline?data=CjsKFDEyMzQ1Njc4OTAxMjM0NTY3ODkwEhFhbGljZUBleGFtcGxlLmNvbRoKRXhhbXBsZSBDbyABKAEwAgooChQxMjM0NTY3ODkwMTIzNDU2Nzg5MBIIQUNNRTpib2IgAigCMAE4BwoyChQxMjM0NTY3ODkwMTIzNDU2Nzg5MBIMTGVnYWN5OmNhcm9sGgZMZWdhY3kgBCgBMAIQARgCIAEo%2Bf%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FAQ%3D%3D";
const IMPORTED_ONE: &str =
    "otpauth://totp/Example:alice%40google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example";
const IMPORTED_TWO: [&str; 2] = [
    "otpauth://totp/Example%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Co",
    "otpauth://hotp/ACME:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME&algorithm=SHA256&digits=8&counter=7",
];

fn idforge_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_idforge"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run idforge");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn import_migration_prints_one_uri_per_account() {
    let o = idforge(&["otp", "import-migration", EXPORT_ONE]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{IMPORTED_ONE}\n"));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));

    // The MD5 account is skipped with a note, the others are printed, and the exit code says
    // that not everything was imported.
    let o = idforge(&["otp", "import-migration", EXPORT_TWO]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!("{}\n{}\n", IMPORTED_TWO[0], IMPORTED_TWO[1])
    );
    let err = stderr(&o);
    assert!(err.contains("QR code 2 of 2"), "{err}");
    assert!(
        err.contains(
            "skipped: account 2 (\"Legacy:carol\", issuer \"Legacy\"): the MD5 algorithm is not supported"
        ),
        "{err}"
    );
    // The imported keys work with `code`.
    let uri = KeyUri::parse(IMPORTED_TWO[0]).unwrap();
    let code = idforge(&[
        "otp",
        "code",
        "--secret",
        &uri.secret().to_base32(),
        "--time",
        "59",
    ]);
    assert_eq!(stdout(&code), "287082\n");
}

#[test]
fn import_migration_json() {
    let o = idforge(&["otp", "import-migration", "--json", EXPORT_TWO]);
    assert_eq!(o.status.code(), Some(1));
    let expected = format!(
        concat!(
            "[{{\"type\":\"totp\",\"issuer\":\"Example Co\",\"account\":\"alice@example.com\",",
            "\"secret\":\"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\",\"algorithm\":\"SHA1\",\"digits\":6,",
            "\"period\":30,\"uri\":\"{}\"}},",
            "{{\"type\":\"hotp\",\"issuer\":\"ACME\",\"account\":\"bob\",",
            "\"secret\":\"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\",\"algorithm\":\"SHA256\",\"digits\":8,",
            "\"counter\":7,\"uri\":\"{}\"}}]\n"
        ),
        IMPORTED_TWO[0], IMPORTED_TWO[1]
    );
    assert_eq!(stdout(&o), expected);
    let o = idforge(&["otp", "import-migration", "--json", EXPORT_ONE]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("[{\"type\":\"totp\",\"issuer\":\"Example\","));
    assert!(stdout(&o).ends_with(&format!("\"uri\":\"{IMPORTED_ONE}\"}}]\n")));
}

#[test]
fn import_migration_reads_stdin() {
    let o = idforge_stdin(
        &["otp", "import-migration", "-"],
        &format!("{EXPORT_ONE}\n\n  {EXPORT_TWO}  \n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!("{IMPORTED_ONE}\n{}\n{}\n", IMPORTED_TWO[0], IMPORTED_TWO[1])
    );
    let o = idforge_stdin(
        &["otp", "import-migration", "-"],
        &format!("{EXPORT_ONE}\r\n"),
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), format!("{IMPORTED_ONE}\n"));
}

#[test]
fn import_migration_bad_input_is_an_error() {
    for (args, input) in [
        (
            &["otp", "import-migration", "otpauth://totp/a?secret=AA"][..],
            "",
        ),
        (
            &["otp", "import-migration", "otpauth-migration://offline"],
            "",
        ),
        (
            &[
                "otp",
                "import-migration",
                "otpauth-migration://offline?data=Cg!A",
            ],
            "",
        ),
        (
            &[
                "otp",
                "import-migration",
                "otpauth-migration://offline?data=Cg%3D%3D",
            ],
            "",
        ),
        (&["otp", "import-migration", "-"], ""),
        (&["otp", "import-migration", "-"], "not a uri\n"),
        (&["otp", "import-migration"], ""),
    ] {
        let o = idforge_stdin(args, input);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}
