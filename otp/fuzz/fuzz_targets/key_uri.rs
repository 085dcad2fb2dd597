//! otpauth:// URIs: parse, emit, parse again, compare; codes and QR rendering never panic.
#![no_main]

use idforge_otp::KeyUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = KeyUri::parse(text) {
        let emitted = uri.to_uri_string();
        let again = KeyUri::parse(&emitted).expect("emitted URI must parse");
        assert_eq!(again, uri);
        assert_eq!(again.to_uri_string(), emitted);
        if let Some(totp) = uri.to_totp() {
            let _ = totp.generate(1_700_000_000);
        }
        let _ = uri.to_hotp().generate(0);
        if data.len() < 64 {
            let _ = uri.to_qr_terminal();
        }
    }
});
