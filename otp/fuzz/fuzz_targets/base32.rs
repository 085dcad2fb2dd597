//! Base32 secrets: any accepted text re-encodes canonically (spare bits cleared) and decodes
//! to the same bytes.
#![no_main]

use idforge_otp::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(secret) = Secret::from_base32(text) {
        let canonical = secret.to_base32();
        let again = Secret::from_base32(&canonical).expect("canonical base32 must parse");
        assert_eq!(again, secret);
        let stripped: String = text
            .chars()
            .filter(|c| *c != ' ' && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        // Equal but for the spare bits of the last symbol, which are cleared.
        assert_eq!(stripped.len(), canonical.len());
        let cut = canonical.len() - 1;
        assert_eq!(stripped[..cut], canonical[..cut]);
        assert_eq!(
            Secret::from_base32(&stripped).expect("stripped text parses"),
            secret
        );
    }
});
