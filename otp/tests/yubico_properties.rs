//! Property tests of Yubico OTP: generate, write, parse and decrypt round trips; the counters
//! must move strictly forward; any other key refuses; parsing never panics.

#![cfg(feature = "yubico")]
#![allow(clippy::unwrap_used)]

use idforge_otp::{YubicoCounters, YubicoError, YubicoKey, YubicoOtp, YubicoToken};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = YubicoKey> {
    (
        prop::collection::vec(any::<u8>(), 0..=YubicoKey::MAX_PUBLIC_ID_LEN),
        any::<[u8; 6]>(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(public, private, aes)| YubicoKey::new(&public, private, aes).unwrap())
}

fn counters() -> impl Strategy<Value = YubicoCounters> {
    (0..=YubicoToken::MAX_USAGE, any::<u8>())
        .prop_map(|(usage, session)| YubicoCounters { usage, session })
}

fn token() -> impl Strategy<Value = YubicoToken> {
    (
        counters(),
        any::<bool>(),
        0..=YubicoToken::MAX_TIMESTAMP,
        any::<u16>(),
    )
        .prop_map(|(counters, caps_lock, timestamp, random)| YubicoToken {
            counters,
            caps_lock,
            timestamp,
            random,
        })
}

proptest! {
    #[test]
    fn generate_then_parse_and_decrypt(key in key(), token in token()) {
        let otp = key.generate(&token).unwrap();
        let text = otp.to_string();
        prop_assert_eq!(text.len(), 32 + 2 * key.public_id().len());
        prop_assert!(text.bytes().all(|c| b"cbdefghijklnrtuv".contains(&c)));
        let parsed = YubicoOtp::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &otp);
        prop_assert_eq!(parsed.public_id(), key.public_id());
        prop_assert_eq!(parsed.public_id_modhex(), key.public_id_modhex());
        prop_assert_eq!(key.decrypt(&parsed).unwrap(), token);
        prop_assert_eq!(key.verify(&parsed, None).unwrap(), token);
        let upper = YubicoOtp::parse(&text.to_uppercase()).unwrap();
        prop_assert_eq!(upper, otp);
    }

    #[test]
    fn counters_must_move_strictly_forward(key in key(), token in token(), last in counters()) {
        let otp = key.generate(&token).unwrap();
        let result = key.verify(&otp, Some(last));
        if token.counters > last {
            prop_assert_eq!(result.unwrap(), token);
        } else {
            prop_assert_eq!(result, Err(YubicoError::Replayed { counters: token.counters, last }));
        }
    }

    #[test]
    fn another_key_refuses(key in key(), other in any::<[u8; 16]>(), token in token()) {
        prop_assume!(&other != key.expose_aes_key());
        let otp = key.generate(&token).unwrap();
        let wrong = YubicoKey::new(key.public_id(), *key.expose_private_id(), other).unwrap();
        let refused = wrong.verify(&otp, None).unwrap_err();
        prop_assert!(
            matches!(refused, YubicoError::CrcMismatch | YubicoError::PrivateIdMismatch),
            "{:?}", refused
        );
    }

    #[test]
    fn modhex_of_any_length_parses_only_at_valid_lengths(text in "[cbdefghijklnrtuvCBDEFGHIJKLNRTUV]{0,80}") {
        let len = text.len();
        match YubicoOtp::parse(&text) {
            Ok(otp) => {
                prop_assert!((32..=64).contains(&len) && len % 2 == 0);
                prop_assert_eq!(otp.to_string(), text.to_lowercase());
            }
            Err(e) => prop_assert_eq!(e, YubicoError::Length { len }),
        }
    }

    #[test]
    fn parse_never_panics(text in ".{0,80}") {
        if let Ok(otp) = YubicoOtp::parse(&text) {
            prop_assert_eq!(YubicoOtp::parse(&otp.to_string()).unwrap(), otp);
        }
    }
}
