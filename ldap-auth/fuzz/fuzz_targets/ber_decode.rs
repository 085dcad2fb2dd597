//! Decode an LDAP message; whatever decodes must encode and decode back to the same message.
#![no_main]

use idforge_ldap_auth::LdapMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = idforge_ldap_auth::frame_len(data, 1 << 16);
    let Ok(msg) = LdapMessage::decode_with_limit(data, 1 << 16) else {
        return;
    };
    let bytes = msg.encode();
    let again = LdapMessage::decode(&bytes).expect("encoded message decodes");
    assert_eq!(again, msg);
});
