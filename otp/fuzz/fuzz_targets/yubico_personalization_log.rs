//! YubiKey Personalization Tool logs: any text is read without a panic; an accepted log has
//! its keys and skipped lines in order, on lines that exist, with distinct public ids; every
//! key written back as a traditional line and as a Yubico-format row reads again as the same
//! key, slot and serial.
#![no_main]

use std::collections::HashSet;
use std::fmt::Write as _;

use idforge_otp::{ProvisionedKey, YubicoKey, parse_personalization_log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(log) = parse_personalization_log(text) else {
        return;
    };
    let lines = text.lines().count();
    let mut public_ids = HashSet::new();
    let mut previous = 0;
    for provisioned in &log.keys {
        assert!(provisioned.line > previous && provisioned.line <= lines);
        previous = provisioned.line;
        assert!(public_ids.insert(provisioned.key.public_id().to_vec()));
        assert!(provisioned.slot.is_none_or(|s| s == 1 || s == 2));
        assert!(provisioned.serial.is_none() || provisioned.slot.is_none());
    }
    let mut previous = 0;
    for skipped in &log.skipped {
        assert!(skipped.line > previous && skipped.line <= lines);
        previous = skipped.line;
    }

    let mut traditional = String::from("LOGGING START,Dec 3, 2026 2:05 PM\r\n");
    let mut yubico_format = String::new();
    for provisioned in &log.keys {
        let key = &provisioned.key;
        let (public, private, aes) = (
            key.public_id_modhex(),
            hex(key.expose_private_id()),
            hex(key.expose_aes_key()),
        );
        let slot = provisioned.slot.unwrap_or(1);
        let _ = write!(
            traditional,
            "Yubico OTP,Dec 3, 2026 2:10 PM,{slot},{public},{private},{aes},,,,,,0,0,0,0,0,0,0\r\n"
        );
        let serial = provisioned
            .serial
            .map(|s| s.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            yubico_format,
            "{serial},{public},{private},{aes},,2026-12-03T14:10:00,"
        );
    }
    let again = parse_personalization_log(&traditional).expect("written traditional log reads");
    same_keys(&log.keys, &again.keys);
    for (first, second) in log.keys.iter().zip(&again.keys) {
        assert_eq!(second.slot, Some(first.slot.unwrap_or(1)));
    }
    let again = parse_personalization_log(&yubico_format).expect("written Yubico format reads");
    same_keys(&log.keys, &again.keys);
    for (first, second) in log.keys.iter().zip(&again.keys) {
        assert_eq!(second.serial, first.serial);
    }
});

fn same_keys(first: &[ProvisionedKey], second: &[ProvisionedKey]) {
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(second) {
        assert!(same_key(&a.key, &b.key));
    }
}

fn same_key(a: &YubicoKey, b: &YubicoKey) -> bool {
    a.public_id() == b.public_id()
        && a.expose_private_id() == b.expose_private_id()
        && a.expose_aes_key() == b.expose_aes_key()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
