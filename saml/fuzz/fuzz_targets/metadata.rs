//! SP metadata parsing on arbitrary bytes.
#![no_main]

use idforge_saml::metadata::SpMetadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = SpMetadata::parse(data) {
        let _ = md.resolve_acs(None, None);
    }
});
