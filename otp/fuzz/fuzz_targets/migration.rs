//! Google Authenticator exports: the protobuf payload and the otpauth-migration URI never
//! panic; every imported account leaves as an otpauth:// URI that reads back the same.
#![no_main]

use idforge_otp::KeyUri;
use idforge_otp::migration::{MigrationBatch, parse_migration_payload, parse_migration_uri};
use libfuzzer_sys::fuzz_target;

fn check(batch: &MigrationBatch, input_len: usize) {
    // Every account costs at least two bytes of payload.
    assert!(batch.entries().len() <= input_len / 2);
    for uri in batch.key_uris() {
        let emitted = uri.to_uri_string();
        let again = KeyUri::parse(&emitted).expect("an imported account's URI must parse");
        assert_eq!(&again, uri);
    }
    for refused in batch.refused() {
        let _ = refused.to_string();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = parse_migration_payload(data) {
        check(&batch, data.len());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(batch) = parse_migration_uri(text)
    {
        check(&batch, data.len());
    }
});
