//! Parse an RFC 4515 filter; whatever parses must write out and parse back to the same tree,
//! and survive a BER round trip.
#![no_main]

use idforge_ldap_auth::Filter;
use idforge_ldap_auth::fuzzing::{decode_filter_bytes, encode_filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = Filter::parse(text) else {
        return;
    };
    let written = filter.to_string();
    let again = Filter::parse(&written).expect("serialized filter parses");
    assert_eq!(again, filter);
    assert_eq!(again.to_string(), written);
    let mut ber = Vec::new();
    encode_filter(&filter, &mut ber);
    assert_eq!(decode_filter_bytes(&ber).expect("encoded filter decodes"), filter);
});
