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
