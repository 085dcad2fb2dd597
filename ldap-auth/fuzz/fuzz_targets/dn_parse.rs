//! Parse an RFC 4514 DN; whatever parses must write out and parse back equal, byte for byte.
#![no_main]

use idforge_ldap_auth::Dn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dn) = Dn::parse(text) else {
        return;
    };
    let written = dn.to_string();
    let again = Dn::parse(&written).expect("serialized DN parses");
    assert_eq!(again, dn);
    assert_eq!(again.to_string(), written);
    for (a, b) in again.rdns().iter().zip(dn.rdns()) {
        for (x, y) in a.avas().iter().zip(b.avas()) {
            assert_eq!(x.value(), y.value());
        }
    }
});
