//! Yubico OTP known answers from Yubico's yubico-c and yubikey-ksm (and one third-party
//! cross-check), read from `tests/vectors/yubico-otp.txt`. Each OTP is also checked with every
//! bit of its block flipped and with every bit of the key flipped, which must be refused.

#![cfg(feature = "yubico")]
#![allow(clippy::unwrap_used)]

use idforge_otp::{YubicoCounters, YubicoError, YubicoKey, YubicoOtp, YubicoToken};
use idforge_test_support::hex;

struct Vector<'a> {
    source: &'a str,
    aes_key_hex: &'a str,
    private_id_hex: &'a str,
    aes_key: [u8; 16],
    private_id: [u8; 6],
    public_id: &'a str,
    otp: &'a str,
    counters: YubicoCounters,
    timestamp: u32,
    random: Option<u16>,
}

fn vectors() -> Vec<Vector<'static>> {
    include_str!("vectors/yubico-otp.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 9, "{line}");
            Vector {
                source: f[0],
                aes_key_hex: f[1],
                private_id_hex: f[2],
                aes_key: hex(f[1]).try_into().unwrap(),
                private_id: hex(f[2]).try_into().unwrap(),
                public_id: f[3],
                otp: f[4],
                counters: YubicoCounters {
                    usage: f[5].parse().unwrap(),
                    session: f[6].parse().unwrap(),
                },
                timestamp: u32::from_str_radix(f[7], 16).unwrap(),
                random: (f[8] != "-").then(|| u16::from_str_radix(f[8], 16).unwrap()),
            }
        })
        .collect()
}

/// The key as a YK-KSM row or a personalization export gives it.
fn key(v: &Vector<'_>) -> YubicoKey {
    let key = YubicoKey::from_ksm_fields(v.public_id, v.private_id_hex, v.aes_key_hex).unwrap();
    assert_eq!(key.expose_aes_key(), &v.aes_key);
    assert_eq!(key.expose_private_id(), &v.private_id);
    key
}

#[test]
fn vectors_decode_to_the_published_fields() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 4);
    for v in &vectors {
        let key = key(v);
        assert_eq!(key.public_id_modhex(), v.public_id, "{}", v.source);
        let otp = YubicoOtp::parse(v.otp).unwrap();
        assert_eq!(otp.public_id_modhex(), v.public_id, "{}", v.source);
        assert_eq!(otp.to_string(), v.otp, "{}", v.source);
        let token = key.verify(&otp, None).unwrap();
        assert_eq!(token.counters, v.counters, "{}", v.source);
        assert_eq!(token.timestamp, v.timestamp, "{}", v.source);
        assert!(!token.caps_lock, "{}", v.source);
        if let Some(random) = v.random {
            assert_eq!(token.random, random, "{}", v.source);
        }
        // Upper case, as some keyboards (caps lock) type it.
        let upper = YubicoOtp::parse(&v.otp.to_uppercase()).unwrap();
        assert_eq!(key.verify(&upper, None).unwrap(), token, "{}", v.source);
    }
}

#[test]
fn vectors_with_every_field_published_are_generated_exactly() {
    let mut n = 0;
    for v in vectors() {
        let Some(random) = v.random else { continue };
        let token = YubicoToken {
            counters: v.counters,
            caps_lock: false,
            timestamp: v.timestamp,
            random,
        };
        assert_eq!(
            key(&v).generate(&token).unwrap().to_string(),
            v.otp,
            "{}",
            v.source
        );
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn replays_and_older_otps_are_refused() {
    for v in vectors() {
        let key = key(&v);
        let otp = YubicoOtp::parse(v.otp).unwrap();
        let c = v.counters;
        assert_eq!(
            key.verify(&otp, Some(c)),
            Err(YubicoError::Replayed {
                counters: c,
                last: c
            }),
            "{}",
            v.source
        );
        let later_session = YubicoCounters {
            usage: c.usage,
            session: c.session + 1,
        };
        assert!(matches!(
            key.verify(&otp, Some(later_session)),
            Err(YubicoError::Replayed { .. })
        ));
        let later_usage = YubicoCounters {
            usage: c.usage + 1,
            session: 0,
        };
        assert!(matches!(
            key.verify(&otp, Some(later_usage)),
            Err(YubicoError::Replayed { .. })
        ));
        // Strictly after: the previous session use, or any use of an earlier power-up.
        if c.session > 0 {
            let before = YubicoCounters {
                usage: c.usage,
                session: c.session - 1,
            };
            assert!(key.verify(&otp, Some(before)).is_ok(), "{}", v.source);
        }
        let earlier = YubicoCounters {
            usage: c.usage - 1,
            session: 255,
        };
        assert!(key.verify(&otp, Some(earlier)).is_ok(), "{}", v.source);
    }
}

#[test]
fn every_flipped_block_bit_is_refused() {
    for v in vectors() {
        let key = key(&v);
        let otp = YubicoOtp::parse(v.otp).unwrap();
        let id_len = v.otp.len() - 32;
        for bit in 0..128 {
            let mut block = *otp.block();
            block[bit / 8] ^= 1 << (bit % 8);
            let text = format!("{}{}", v.public_id, modhex(&block));
            assert_eq!(text.len(), id_len + 32);
            let flipped = YubicoOtp::parse(&text).unwrap();
            let refused = key.verify(&flipped, None).unwrap_err();
            assert!(
                matches!(
                    refused,
                    YubicoError::CrcMismatch | YubicoError::PrivateIdMismatch
                ),
                "{} bit {bit}: {refused:?}",
                v.source
            );
        }
    }
}

#[test]
fn every_flipped_key_bit_is_refused() {
    for v in vectors() {
        let otp = YubicoOtp::parse(v.otp).unwrap();
        let public = otp.public_id().to_vec();
        for bit in 0..128 {
            let mut aes_key = v.aes_key;
            aes_key[bit / 8] ^= 1 << (bit % 8);
            let key = YubicoKey::new(&public, v.private_id, aes_key).unwrap();
            assert!(
                matches!(
                    key.verify(&otp, None),
                    Err(YubicoError::CrcMismatch | YubicoError::PrivateIdMismatch)
                ),
                "{} key bit {bit}",
                v.source
            );
        }
        for bit in 0..48 {
            let mut private_id = v.private_id;
            private_id[bit / 8] ^= 1 << (bit % 8);
            let key = YubicoKey::new(&public, private_id, v.aes_key).unwrap();
            assert_eq!(
                key.verify(&otp, None),
                Err(YubicoError::PrivateIdMismatch),
                "{} private id bit {bit}",
                v.source
            );
        }
        let mut other = public.clone();
        other.push(0);
        let key = YubicoKey::new(&other, v.private_id, v.aes_key).unwrap();
        assert_eq!(
            key.verify(&otp, None),
            Err(YubicoError::PublicIdMismatch),
            "{}",
            v.source
        );
    }
}

#[test]
fn verification_failures_read_the_same_to_a_user() {
    for error in [
        YubicoError::PublicIdMismatch,
        YubicoError::CrcMismatch,
        YubicoError::PrivateIdMismatch,
        YubicoError::Replayed {
            counters: YubicoCounters {
                usage: 1,
                session: 0,
            },
            last: YubicoCounters {
                usage: 1,
                session: 0,
            },
        },
    ] {
        assert_eq!(error.to_string(), "the OTP was not accepted");
    }
}

fn modhex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 16] = b"cbdefghijklnrtuv";
    bytes
        .iter()
        .flat_map(|b| [ALPHABET[usize::from(b >> 4)], ALPHABET[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}
