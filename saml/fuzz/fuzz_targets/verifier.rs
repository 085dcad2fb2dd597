//! Response verification (parse, ID checks, c14n, digests, RSA) on arbitrary bytes
//! with a fixed trusted key: it must never panic.
#![no_main]

use std::sync::LazyLock;

use idforge_saml::VerifyOptions;
use idforge_saml::verify_response;
use idforge_saml::{Certificate, VerifyingKey};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<VerifyingKey> = LazyLock::new(|| {
    Certificate::from_pem(include_str!("../../tests/data/idp-cert.pem"))
        .and_then(|c| c.verifying_key())
        .expect("test certificate")
});

fuzz_target!(|data: &[u8]| {
    let _ = verify_response(data, &KEY, VerifyOptions { allow_sha1: true });
});
