//! Property tests: base32 and URI round trips, the verification window, replay refusal.

#![allow(clippy::unwrap_used)]

use idforge_otp::{
    Algorithm, Digits, Hotp, HotpVerifier, KeyUri, Rejected, Secret, Totp, TotpVerifier,
};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn secret() -> impl Strategy<Value = Secret> {
    prop::collection::vec(any::<u8>(), 1..=80).prop_map(|b| Secret::from_bytes(&b).unwrap())
}

proptest! {
    #[test]
    fn base32_round_trip(bytes in prop::collection::vec(any::<u8>(), 1..=128), spaces in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let secret = Secret::from_bytes(&bytes).unwrap();
        let text = secret.to_base32();
        prop_assert!(!text.contains('='));
        prop_assert_eq!(Secret::from_base32(&text).unwrap().expose_bytes().to_vec(), bytes.clone());
        // As a person types it: lower case, spaces anywhere, RFC 4648 padding.
        let mut typed: String = text.to_lowercase();
        for index in spaces {
            typed.insert(index.index(typed.len() + 1), ' ');
        }
        let pad = (8 - text.len() % 8) % 8;
        typed.push_str(&"=".repeat(pad));
        prop_assert_eq!(Secret::from_base32(&typed).unwrap().expose_bytes().to_vec(), bytes);
    }

    #[test]
    fn base32_never_panics(text in ".{0,64}") {
        if let Ok(secret) = Secret::from_base32(&text) {
            // Whatever is accepted is canonical up to case, spaces, padding and the spare bits
            // of the last symbol.
            let normal = text.chars().filter(|c| *c != ' ' && *c != '=').collect::<String>().to_uppercase();
            let canonical = secret.to_base32();
            prop_assert_eq!(canonical.len(), normal.len());
            let cut = normal.len() - 1;
            prop_assert_eq!(&canonical[..cut], &normal[..cut]);
            prop_assert_eq!(Secret::from_base32(&canonical).unwrap(), secret);
        }
    }

    /// The spare bits of the last symbol never change the secret: any last symbol that keeps
    /// the data bits decodes to the same bytes, and the text is emitted with them cleared.
    #[test]
    fn base32_spare_bits_ignored(bytes in prop::collection::vec(any::<u8>(), 1..=64), noise in any::<u8>()) {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let canonical = Secret::from_bytes(&bytes).unwrap().to_base32();
        let spare = (canonical.len() * 5) % 8;
        let mut loose = canonical.clone().into_bytes();
        let last = loose.len() - 1;
        let value = ALPHABET.iter().position(|&c| c == loose[last]).unwrap() as u8;
        loose[last] = ALPHABET[usize::from(value | (noise & ((1 << spare) - 1)))];
        let loose = String::from_utf8(loose).unwrap();
        let secret = Secret::from_base32(&loose).unwrap();
        prop_assert_eq!(secret.expose_bytes(), &bytes[..]);
        prop_assert_eq!(secret.to_base32(), canonical);
    }

    #[test]
    fn uri_round_trip(
        secret in secret(),
        account in "[^:]{1,40}",
        issuer in proptest::option::of(".{1,40}"),
        algorithm in algorithm(),
        digits in 6u64..=10,
        hotp in any::<bool>(),
        number in any::<u64>(),
    ) {
        prop_assume!(!account.trim().is_empty());
        let digits = Digits::new(digits).unwrap();
        let uri = if hotp {
            KeyUri::hotp(secret, &account, number).unwrap()
        } else {
            KeyUri::totp(secret, &account).unwrap().with_period(number.max(1)).unwrap()
        };
        let mut uri = uri.with_algorithm(algorithm).with_digits(digits);
        if let Some(issuer) = &issuer {
            uri = uri.with_issuer(issuer);
        }
        let text = uri.to_uri_string();
        prop_assert!(text.is_ascii());
        prop_assert!(!text.contains(' ') && !text.contains('+'));
        prop_assert_eq!(KeyUri::parse(&text).unwrap(), uri);
    }

    #[test]
    fn uri_parser_never_panics(text in "otpauth://[a-zA-Z]{0,5}/.{0,40}") {
        let _ = KeyUri::parse(&text);
    }

    /// A code of step `s` is accepted at time `t` exactly when some step of the window around
    /// `t` has that code, and the step returned has it.
    #[test]
    fn totp_window_is_exact(
        secret in secret(),
        algorithm in algorithm(),
        period in 1u64..=120,
        time in 0u64..(1 << 40),
        offset in -6i64..=6,
        behind in 0u8..=3,
        ahead in 0u8..=3,
    ) {
        let totp = Totp::new(&secret, algorithm, Digits::SIX, period).unwrap();
        let current = totp.step(time).unwrap();
        let Some(step) = current.checked_add_signed(offset) else { return Ok(()); };
        let code = totp.generate_step(step);
        let window = current.saturating_sub(u64::from(behind))..=current + u64::from(ahead);
        let in_window = window.clone().any(|w| totp.generate_step(w) == code);
        let verifier = TotpVerifier::new(totp.clone(), behind, ahead);
        match verifier.verify(&code.to_string(), time, None) {
            Ok(accepted) => {
                prop_assert!(window.contains(&accepted.step));
                prop_assert_eq!(totp.generate_step(accepted.step), code);
                prop_assert_eq!(accepted.step.checked_add_signed(-accepted.drift), Some(current));
            }
            Err(rejected) => {
                prop_assert_eq!(rejected, Rejected::Invalid);
                prop_assert!(!in_window);
            }
        }
        if window.contains(&step) {
            prop_assert!(in_window);
        }
    }

    /// Whatever is accepted is newer than the stored step; the same code right after is a replay.
    #[test]
    fn totp_replay_refused(
        secret in secret(),
        time in 1_000u64..(1 << 36),
        offset in -2i64..=2,
        last_back in 0u64..4,
    ) {
        let totp = Totp::new(&secret, Algorithm::Sha1, Digits::EIGHT, 30).unwrap();
        let verifier = TotpVerifier::new(totp.clone(), 2, 2);
        let current = totp.step(time).unwrap();
        let step = current.checked_add_signed(offset).unwrap();
        let code = totp.generate_step(step).to_string();
        let last = current.checked_sub(last_back);
        match verifier.verify(&code, time, last) {
            Ok(accepted) => {
                prop_assert!(last.is_none_or(|l| accepted.step > l));
                // Replaying it, with the new step stored, is refused (unless a still newer
                // step of the window happens to share the code).
                let again = verifier.verify(&code, time, Some(accepted.step));
                let newer_twin = (accepted.step + 1..=current + 2)
                    .any(|w| totp.generate_step(w).to_string() == code);
                prop_assert_eq!(again.is_err(), !newer_twin);
            }
            Err(_) => prop_assert!(last.is_some_and(|l| step <= l)),
        }
    }

    #[test]
    fn hotp_counter_only_moves_forward(
        secret in secret(),
        start in 0u64..1_000_000,
        ahead in 0u32..20,
        used in 0u64..30,
    ) {
        let hotp = Hotp::new(&secret, Algorithm::Sha1, Digits::EIGHT);
        let verifier = HotpVerifier::new(hotp.clone(), ahead);
        let counter = start + used;
        let code = hotp.generate(counter).to_string();
        match verifier.verify(&code, start) {
            Ok(ok) => {
                prop_assert!(ok.counter >= start && ok.counter <= start + u64::from(ahead));
                prop_assert_eq!(ok.next_counter, ok.counter + 1);
                prop_assert_eq!(hotp.generate(ok.counter).to_string(), code.clone());
            }
            Err(e) => {
                prop_assert_eq!(e, Rejected::Invalid);
                prop_assert!(used > u64::from(ahead));
            }
        }
    }
}
