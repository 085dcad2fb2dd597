//! TOML text -> `AdaptiveConfig` -> compile -> assess; a parsed config also survives a TOML
//! round trip and compiles the same way.
#![no_main]

use idforge_adaptive::{AdaptiveConfig, GeoPoint, LoginAttempt, PastLogin, RiskEvaluator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = toml::from_str::<AdaptiveConfig>(text) else { return };
    let encoded = toml::to_string(&config).expect("a parsed config serializes");
    let again: AdaptiveConfig = toml::from_str(&encoded).expect("serialized config parses");
    // NaN speeds compare unequal to themselves; compare only configs without them.
    #[allow(clippy::eq_op)]
    if config == config {
        assert_eq!(config, again, "round trip changed the config");
    }
    let first = config.compile();
    let second = again.compile();
    assert_eq!(first.as_ref().err(), second.as_ref().err(), "compile differs after a round trip");
    if let Ok(rules) = first {
        let history = [PastLogin {
            at: 1_699_990_000,
            ip: "198.51.100.1".parse().unwrap(),
            country: Some("FR".parse().unwrap()),
            location: Some(GeoPoint { lat: 48.85, lon: 2.35 }),
        }];
        for ip in ["198.51.100.7", "10.1.2.3", "2001:db8::1", "::ffff:203.0.113.9"] {
            let attempt = LoginAttempt {
                user: "alice",
                application: "app",
                now: 1_700_000_000,
                ip: ip.parse().unwrap(),
                device: Some("laptop"),
                country: Some("DE".parse().unwrap()),
                location: Some(GeoPoint { lat: 52.52, lon: 13.4 }),
                registered_devices: &[],
                history: &history,
            };
            let out = rules.assess(&attempt);
            assert!(out.score <= 100);
            let _ = rules.challenge_passed(&attempt);
        }
    }
});
