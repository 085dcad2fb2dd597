//! The HTTP-Redirect binding decoder on arbitrary query strings.
#![no_main]

use idforge_saml::authn_request::AuthnRequest;
use idforge_saml::binding::{BindingLimits, RedirectMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = RedirectMessage::decode(query, &BindingLimits::default()) {
        let _ = AuthnRequest::parse(&m.xml);
    }
});
