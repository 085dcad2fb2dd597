//! Yubico OTPs: any accepted text writes back as the same (lower-case) modhex and parses
//! again to the same OTP; decryption never panics; a token generated from the input's bytes
//! decrypts to itself and is refused once its counters are stored.
#![no_main]

use idforge_otp::{YubicoCounters, YubicoError, YubicoKey, YubicoOtp, YubicoToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // yubico-c's test key: a parsed OTP with its public id reaches the CRC check.
    let key = YubicoKey::from_ksm_fields(
        "dteffuje",
        "8792ebfe26cc",
        "ecde18dbe76fbd0c33330f1c354871db",
    )
    .expect("the test key is valid");
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(otp) = YubicoOtp::parse(text)
    {
        let written = otp.to_string();
        assert_eq!(written, text.to_ascii_lowercase());
        assert_eq!(YubicoOtp::parse(&written).expect("written OTP parses"), otp);
        if let Ok(token) = key.verify(&otp, None) {
            assert!(token.counters.usage <= YubicoToken::MAX_USAGE);
            assert!(token.timestamp <= YubicoToken::MAX_TIMESTAMP);
            assert!(matches!(
                key.verify(&otp, Some(token.counters)),
                Err(YubicoError::Replayed { .. })
            ));
        }
    }
    if let [a, b, s, t0, t1, t2, r0, r1, flags, id @ ..] = data {
        let public_id = &id[..id.len().min(YubicoKey::MAX_PUBLIC_ID_LEN)];
        let key = YubicoKey::new(public_id, [*a, *b, *s, *t0, *t1, *t2], [*r0; 16])
            .expect("a public id of at most 16 bytes");
        let token = YubicoToken {
            counters: YubicoCounters {
                usage: u16::from_le_bytes([*a, *b]) & YubicoToken::MAX_USAGE,
                session: *s,
            },
            caps_lock: flags & 1 != 0,
            timestamp: u32::from_le_bytes([*t0, *t1, *t2, 0]),
            random: u16::from_le_bytes([*r0, *r1]),
        };
        let otp = key.generate(&token).expect("fields in range");
        let text = otp.to_string();
        assert_eq!(text.len(), 32 + 2 * public_id.len());
        let parsed = YubicoOtp::parse(&text).expect("a generated OTP parses");
        assert_eq!(key.decrypt(&parsed), Ok(token));
    }
});
