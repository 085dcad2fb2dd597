//! Property tests over generated configurations and login attempts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use idforge_adaptive::{
    Action, AdaptiveConfig, Audience, CountryRule, DeviceLimitRule, GeoPoint, ImpossibleTravelRule,
    LoginAttempt, NetworkAction, NetworkList, NewNetworkRule, PastLogin, RegisteredDevice,
    RiskEvaluator, RuleAction, SimpleRule, TimeOfDayRule, TimeWindow, Weekday,
};
use proptest::prelude::*;

fn action() -> impl Strategy<Value = RuleAction> {
    prop_oneof![
        Just(RuleAction::Challenge),
        Just(RuleAction::Deny),
        Just(RuleAction::AllowAndAlert)
    ]
}

fn simple() -> impl Strategy<Value = Option<SimpleRule>> {
    prop::option::of(action().prop_map(|action| SimpleRule {
        applications: None,
        action,
        alert: None,
        weight: 20,
    }))
}

/// Addresses from a small pool so that ranges, history and the attempt meet often.
fn addr() -> impl Strategy<Value = Ipv4Addr> {
    (0u8..4, 0u8..4, any::<u8>()).prop_map(|(a, b, c)| Ipv4Addr::new(10, a, b, c))
}

fn range() -> impl Strategy<Value = String> {
    (addr(), 8u8..=32).prop_map(|(a, len)| format!("{a}/{len}"))
}

fn networks() -> impl Strategy<Value = Vec<NetworkList>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(NetworkAction::Allow), Just(NetworkAction::Block)],
            proptest::collection::vec(range(), 0..4),
        ),
        0..4,
    )
    .prop_map(|lists| {
        lists
            .into_iter()
            .enumerate()
            .map(|(i, (action, ranges))| NetworkList {
                name: format!("list{i}"),
                action,
                ranges,
            })
            .collect()
    })
}

fn config() -> impl Strategy<Value = AdaptiveConfig> {
    (
        networks(),
        prop::option::of((1u32..4, action())),
        simple(),
        prop::option::of(action()),
        simple(),
        prop::option::of(action()),
        prop::option::of((action(), 0u16..1440, 1u16..1440)),
        prop::sample::subsequence(&["DE", "FR", "KP"][..], 0..=1),
    )
        .prop_map(
            |(networks, limit, new_device, new_network, new_country, travel, hours, blocked)| {
                AdaptiveConfig {
                    networks,
                    countries: CountryRule {
                        blocked: blocked.iter().map(|s| (*s).to_owned()).collect(),
                    },
                    device_limit: limit.map(|(max_devices, action)| DeviceLimitRule {
                        applications: None,
                        max_devices,
                        action,
                        alert: Audience::Admins,
                        weight: 40,
                    }),
                    new_device,
                    new_network: new_network.map(|action| NewNetworkRule {
                        applications: None,
                        action,
                        alert: None,
                        weight: 20,
                        ipv4_prefix: 24,
                        ipv6_prefix: 48,
                    }),
                    new_country,
                    impossible_travel: travel.map(|action| ImpossibleTravelRule {
                        applications: None,
                        max_speed_kmh: 900.0,
                        min_distance_km: 100.0,
                        action,
                        alert: None,
                        weight: 70,
                    }),
                    time_of_day: hours.map(|(action, start, len)| TimeOfDayRule {
                        applications: None,
                        utc_offset_minutes: 0,
                        windows: vec![TimeWindow {
                            days: vec![Weekday::Mon, Weekday::Wed, Weekday::Sat],
                            start: format!("{:02}:{:02}", start / 60, start % 60),
                            end: {
                                let end = (start + len) % 1440;
                                format!("{:02}:{:02}", end / 60, end % 60)
                            },
                        }],
                        action,
                        alert: None,
                        weight: 20,
                    }),
                    ..AdaptiveConfig::default()
                }
            },
        )
        .prop_filter("window start equals end", |c| {
            c.time_of_day
                .as_ref()
                .is_none_or(|t| t.windows[0].start != t.windows[0].end)
        })
}

const PLACES: [GeoPoint; 3] = [
    GeoPoint {
        lat: 52.52,
        lon: 13.405,
    },
    GeoPoint {
        lat: 48.85,
        lon: 2.35,
    },
    GeoPoint {
        lat: 40.71,
        lon: -74.0,
    },
];

#[derive(Debug, Clone)]
struct Facts {
    now: u64,
    ip: Ipv4Addr,
    device: Option<String>,
    country: Option<&'static str>,
    place: Option<usize>,
    devices: Vec<RegisteredDevice>,
    history: Vec<PastLogin>,
}

fn facts() -> impl Strategy<Value = Facts> {
    let now = 1_700_000_000u64;
    (
        0u64..(14 * 86_400),
        addr(),
        prop::option::of(prop::sample::select(&["d0", "d1", "d2", "d3"][..])),
        prop::option::of(prop::sample::select(&["DE", "FR", "KP", "US"][..])),
        prop::option::of(0usize..3),
        proptest::collection::vec(
            (prop::sample::select(&["d0", "d1", "d2"][..]), any::<bool>()),
            0..4,
        ),
        proptest::collection::vec(
            (
                0u64..(3 * 86_400),
                addr(),
                prop::sample::select(&["DE", "FR", "US"][..]),
                prop::option::of(0usize..3),
            ),
            0..6,
        ),
    )
        .prop_map(
            move |(offset, ip, device, country, place, devices, history)| {
                let now = now + offset;
                Facts {
                    now,
                    ip,
                    device: device.map(str::to_owned),
                    country,
                    place,
                    devices: devices
                        .into_iter()
                        .map(|(id, trusted)| RegisteredDevice {
                            id: id.to_owned(),
                            registered_at: now - 86_400,
                            trusted_until: if trusted { now + 60 } else { now - 60 },
                        })
                        .collect(),
                    history: history
                        .into_iter()
                        .map(|(ago, ip, country, place)| PastLogin {
                            at: now - ago,
                            ip: IpAddr::V4(ip),
                            country: Some(country.parse().unwrap()),
                            location: place.map(|p| PLACES[p]),
                        })
                        .collect(),
                }
            },
        )
}

fn attempt(f: &Facts) -> LoginAttempt<'_> {
    LoginAttempt {
        user: "alice",
        application: "app",
        now: f.now,
        ip: IpAddr::V4(f.ip),
        device: f.device.as_deref(),
        country: f.country.map(|c| c.parse().unwrap()),
        location: f.place.map(|p| PLACES[p]),
        registered_devices: &f.devices,
        history: &f.history,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_blocked_range_always_denies(config in config(), facts in facts(), len in 0u8..=32) {
        let mut config = config;
        let blocked = ipnet::Ipv4Net::new(facts.ip, len).unwrap().trunc();
        config.networks.push(NetworkList {
            name: "blocked".into(),
            action: NetworkAction::Block,
            ranges: vec![blocked.to_string()],
        });
        let rules = config.compile().unwrap();
        let out = rules.assess(&attempt(&facts));
        prop_assert!(matches!(out.action, Action::Deny { .. }), "{:?}", out);
    }

    #[test]
    fn adding_an_allow_rule_never_makes_a_decision_stricter(
        config in config(),
        facts in facts(),
        allowed in range(),
        near in any::<bool>(),
        len in 8u8..=32,
    ) {
        let before = config.compile().unwrap().assess(&attempt(&facts));
        let mut more = config.clone();
        // Half the time the new range contains the address, so the rule actually applies.
        let range = if near {
            ipnet::Ipv4Net::new(facts.ip, len).unwrap().trunc().to_string()
        } else {
            allowed
        };
        more.networks.push(NetworkList { name: "added".into(), action: NetworkAction::Allow, ranges: vec![range] });
        let after = more.compile().unwrap().assess(&attempt(&facts));
        prop_assert!(
            after.action.severity() <= before.action.severity(),
            "before {:?}\nafter {:?}",
            before,
            after
        );
        prop_assert!(after.score <= before.score);
    }

    #[test]
    fn assessment_is_consistent_with_its_reasons(config in config(), facts in facts()) {
        let out = config.compile().unwrap().assess(&attempt(&facts));
        let strictest = out.reasons.iter().map(|r| match r.effect {
            idforge_adaptive::Effect::Deny => 2,
            idforge_adaptive::Effect::Challenge => 1,
            _ => 0,
        }).max().unwrap_or(0);
        prop_assert_eq!(out.action.severity(), strictest);
        let sum: u32 = out.reasons.iter().map(|r| u32::from(r.weight)).sum();
        prop_assert_eq!(u32::from(out.score), sum.min(100));
    }
}
