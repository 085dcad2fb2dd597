//! TOML text -> `PolicyConfig` -> validate -> evaluate; a parsed config also survives a
//! TOML round trip unchanged and validates the same way.
#![no_main]

use idforge_policy::{AuthSource, LoginRequest, PolicyConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = toml::from_str::<PolicyConfig>(text) else { return };
    let encoded = toml::to_string(&config).expect("a parsed config serializes");
    let again: PolicyConfig = toml::from_str(&encoded).expect("serialized config parses");
    assert_eq!(config, again, "round trip changed the config");
    let first = config.clone().validate();
    let second = again.validate();
    match (&first, &second) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("validation differs after a round trip"),
    }
    if let Ok(set) = first {
        let groups: Vec<&str> = config.groups.iter().map(String::as_str).collect();
        let apps = config.applications.iter().map(|a| a.id.as_str()).chain(["unknown"]);
        for app in apps {
            for ip in [None, Some("192.0.2.1".parse().unwrap()), Some("2001:db8::1".parse().unwrap())] {
                let request = LoginRequest { application: app, groups: &groups, ip, source: AuthSource::Local };
                let forward = set.evaluate(&request);
                let reversed: Vec<&str> = groups.iter().rev().copied().collect();
                let backward = set.evaluate(&LoginRequest { groups: &reversed, ..request });
                assert_eq!(forward, backward, "group order changed the decision");
            }
        }
    }
});
