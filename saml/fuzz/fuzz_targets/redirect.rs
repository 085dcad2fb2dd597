//! The HTTP-Redirect binding decoder and the tracer's `decode_any` on arbitrary input.
#![no_main]

use idforge_saml::AuthnRequest;
use idforge_saml::{BindingLimits, RedirectMessage, decode_any};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = RedirectMessage::decode(query, &BindingLimits::default()) {
        let _ = AuthnRequest::parse(&m.xml);
    }
    let _ = decode_any(query, &BindingLimits::default());
});
