//! Interop with OATH Toolkit's `oathtool` (Debian package `oathtool`): the same codes for

#![allow(clippy::unwrap_used)]
//! random secrets, times, counters, periods, digits and algorithms.

use std::process::Command;

use idforge_otp::{Algorithm, Digits, Hotp, Secret, Totp};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use idforge_test_support::{peers_required, to_hex as hex};

fn oathtool_present() -> bool {
    let found = Command::new("oathtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !peers_required(),
            "oathtool is required here (apt-get install oathtool)"
        );
        eprintln!("SKIPPED: oathtool not installed (apt-get install oathtool)");
    }
    found
}

fn oathtool(args: &[String]) -> String {
    let out = Command::new("oathtool").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "oathtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn random_cases_match_oathtool() {
    if !oathtool_present() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(0x01df_049e);
    let algorithms = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];
    let cases = 1200;
    let mut compared = 0;
    for case in 0..cases {
        let len = rng.random_range(1..=64);
        let mut key = vec![0u8; len];
        rng.fill_bytes(&mut key);
        let secret = Secret::from_bytes(&key).unwrap();
        let digits = Digits::new(rng.random_range(6..=8)).unwrap();
        let mut args = vec![format!("--digits={}", digits.get())];
        let ours = if case % 4 == 0 {
            // HOTP: oathtool computes it with SHA-1 only.
            let counter = if case % 8 == 0 {
                rng.random_range(0..1000)
            } else {
                rng.random::<u64>()
            };
            args.extend(["--hotp".into(), format!("--counter={counter}")]);
            Hotp::new(&secret, Algorithm::Sha1, digits).generate(counter)
        } else {
            let algorithm = algorithms[rng.random_range(0..3)];
            let period = match case % 3 {
                0 => 30,
                1 => 60,
                _ => rng.random_range(1..=600),
            };
            let t0: u64 = if case % 5 == 0 {
                rng.random_range(0..1_000_000)
            } else {
                0
            };
            let time: u64 = t0 + rng.random_range(0..(1u64 << 34));
            args.extend([
                format!("--totp={}", algorithm.name().to_lowercase()),
                format!("--time-step-size={period}s"),
                format!("--start-time=@{t0}"),
                format!("--now=@{time}"),
            ]);
            Totp::new(&secret, algorithm, digits, period)
                .unwrap()
                .with_t0(t0)
                .generate(time)
                .unwrap()
        };
        args.push(hex(&key));
        assert_eq!(
            ours.to_string(),
            oathtool(&args),
            "case {case}: oathtool {args:?}"
        );
        compared += 1;
    }
    assert_eq!(compared, cases);
}

#[test]
fn base32_secrets_as_oathtool_reads_them() {
    if !oathtool_present() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..50 {
        let mut key = [0u8; 20];
        rng.fill_bytes(&mut key);
        let secret = Secret::from_bytes(&key).unwrap();
        let b32 = secret.to_base32();
        let time: u64 = rng.random_range(0..4_000_000_000);
        let theirs = oathtool(&[
            "--totp".into(),
            "-b".into(),
            format!("--now=@{time}"),
            b32.clone(),
        ]);
        let parsed = Secret::from_base32(&b32.to_lowercase()).unwrap();
        let ours = Totp::new(&parsed, Algorithm::Sha1, Digits::SIX, 30)
            .unwrap()
            .generate(time)
            .unwrap();
        assert_eq!(ours.to_string(), theirs);
    }
}

/// pyotp's test secret sets a spare bit in its last symbol: oathtool ignores it, and so do we.
#[test]
fn spare_bits_ignored_as_oathtool_ignores_them() {
    if !oathtool_present() {
        return;
    }
    let loose = "S46SQCPPTCNPROMHWYBDCTBZXV";
    let canonical = "S46SQCPPTCNPROMHWYBDCTBZXU";
    let secret = Secret::from_base32(loose).unwrap();
    assert_eq!(secret.to_base32(), canonical);
    assert_eq!(
        secret.expose_bytes(),
        Secret::from_base32(canonical).unwrap().expose_bytes()
    );
    let totp = Totp::new(&secret, Algorithm::Sha1, Digits::SIX, 30).unwrap();
    for time in [0u64, 59, 1_111_111_109, 1_700_000_000, 4_000_000_000] {
        let now = format!("--now=@{time}");
        let ours = totp.generate(time).unwrap().to_string();
        for text in [loose, canonical] {
            let theirs = oathtool(&["--totp".into(), "-b".into(), now.clone(), text.into()]);
            assert_eq!(ours, theirs, "{text} at {time}");
        }
    }
}
