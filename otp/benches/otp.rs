//! TOTP generate and verify (window ±1), next to `totp-rs` 6 and the floor: HMAC-SHA1
//! computations from a precomputed key state, as many as each case needs.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use idforge_otp::{Algorithm, Digits, Secret, Totp, TotpVerifier};
use sha1::Sha1;

const KEY: &[u8; 20] = b"12345678901234567890";
const NOW: u64 = 1_700_000_015;

fn floor(key: &Hmac<Sha1>, step: u64, macs: u64) {
    for i in 0..macs {
        let tag = key
            .clone()
            .chain_update((step - i).to_be_bytes())
            .finalize()
            .into_bytes();
        black_box(tag);
    }
}

fn totp(c: &mut Criterion) {
    let secret = Secret::from_bytes(KEY).unwrap();
    let ours = Totp::new(&secret, Algorithm::Sha1, Digits::SIX, 30).unwrap();
    let verifier = TotpVerifier::new(ours.clone(), 1, 1);
    let theirs = totp_rs::Builder::new()
        .with_secret(KEY.to_vec())
        .with_skew(1)
        .build()
        .unwrap();
    let key = Hmac::<Sha1>::new_from_slice(KEY).unwrap();
    let step = ours.step(NOW).unwrap();

    let current = ours.generate_step(step).to_string();
    let previous = ours.generate_step(step - 1).to_string();
    assert_eq!(theirs.generate(NOW).to_string(), current);
    // A code of no step in the window (checked, so that the case is what it says).
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| (step - 1..=step + 1).all(|s| ours.generate_step(s).to_string() != *c))
        .unwrap();

    let mut g = c.benchmark_group("totp-sha1/generate");
    g.bench_function("idforge", |b| {
        b.iter(|| black_box(ours.generate(black_box(NOW)).unwrap()));
    });
    g.bench_function("totp-rs", |b| {
        b.iter(|| black_box(theirs.generate(black_box(NOW))));
    });
    g.bench_function("floor-1-hmac", |b| {
        b.iter(|| floor(&key, black_box(step), 1));
    });
    g.finish();

    for (case, code, macs, found) in [
        ("current-step", &current, 1, true),
        ("previous-step", &previous, 2, true),
        ("wrong-code", &wrong, 3, false),
    ] {
        assert_eq!(verifier.verify(code, NOW, None).is_ok(), found);
        assert_eq!(theirs.check(code, NOW).is_some(), found);
        let mut g = c.benchmark_group(format!("totp-sha1/verify-window1/{case}"));
        g.bench_function("idforge", |b| {
            b.iter(|| black_box(verifier.verify(black_box(code), black_box(NOW), None)));
        });
        g.bench_function("totp-rs", |b| {
            b.iter(|| black_box(theirs.check(black_box(code), black_box(NOW))));
        });
        g.bench_function(format!("floor-{macs}-hmac"), |b| {
            b.iter(|| floor(&key, black_box(step + 1), macs));
        });
        g.finish();
    }
}

criterion_group!(benches, totp);
criterion_main!(benches);
