//! The verify and generate paths never allocate.

#![allow(clippy::unwrap_used)]

use idforge_otp::{Algorithm, Digits, Hotp, HotpVerifier, Secret, Totp, TotpVerifier};

#[test]
fn verification_does_not_allocate() {
    // The counter is live: an allocation is seen.
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 8]);
    });
    assert_eq!(probe.count_total, 1);
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
        let totp = Totp::new(&secret, algorithm, Digits::SIX, 30).unwrap();
        let verifier = TotpVerifier::new(totp.clone(), 1, 1);
        let now = 1_700_000_000;
        let step = totp.step(now).unwrap();
        let current = totp.generate_step(step).to_string();
        let previous = totp.generate_step(step - 1).to_string();
        let hotp = HotpVerifier::new(Hotp::new(&secret, algorithm, Digits::EIGHT), 5);
        let hotp_code = hotp.hotp().generate(3).to_string();

        let info = allocation_counter::measure(|| {
            assert!(verifier.verify(&current, now, None).is_ok());
            assert!(verifier.verify(&previous, now, None).is_ok());
            assert!(verifier.verify(&previous, now, Some(step)).is_err());
            assert!(verifier.verify("000000x", now, None).is_err());
            let _ = verifier.verify("123456", now, None);
            assert!(hotp.verify(&hotp_code, 0).is_ok());
            let _ = hotp.resync(&hotp_code, "12345678", 0, 20);
            std::hint::black_box(totp.generate(now).unwrap());
        });
        assert_eq!(info.count_total, 0, "{algorithm}: {info:?}");
    }
}
