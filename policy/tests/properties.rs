#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Property tests: evaluation agrees with a plain first-match scan, and does not depend on
//! the order of the user's groups.

use std::net::IpAddr;

use idforge_policy::{
    AppKind, Application, AuthSource, DefaultPolicy, Error, FirstFactor, Gate, LockoutRule,
    LockoutSettings, LockoutState, LoginRequest, Matched, Method, Policy, PolicyConfig,
    SecondFactor, Zone,
};
use proptest::prelude::*;
use proptest::sample::subsequence;

const APPS: [&str; 3] = ["a0", "a1", "a2"];
const GROUPS: [&str; 6] = ["g0", "g1", "g2", "g3", "g4", "g5"];
const ZONES: [(&str, &str); 2] = [("z0", "10.0.0.0/8"), ("z1", "10.1.0.0/16")];
const SOURCES: [&str; 2] = ["local", "d0"];
const ADDRESSES: [&str; 3] = ["10.1.2.3", "10.2.0.1", "192.0.2.1"];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn condition(all: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
    prop_oneof![
        Just(None),
        subsequence(all, 1..=all.len()).prop_map(|v| Some(names(&v))),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        condition(&APPS),
        condition(&GROUPS),
        prop_oneof![
            6 => Just(None),
            1 => subsequence(&["z0", "z1"][..], 1..=2).prop_map(|v| Some(names(&v))),
        ],
        prop_oneof![
            6 => Just(None),
            1 => subsequence(&SOURCES[..], 1..=2).prop_map(|v| Some(names(&v))),
        ],
        any::<bool>(),
    )
        .prop_map(|(applications, groups, zones, sources, second)| Policy {
            name: String::new(),
            applications,
            groups,
            zones,
            sources,
            first_factor: FirstFactor::LocalPassword,
            second_factor: if second {
                SecondFactor::Required
            } else {
                SecondFactor::None
            },
            methods: if second { vec![Method::Totp] } else { vec![] },
            remember_device_days: 0,
        })
}

/// Builds a config from generated policies, dropping those an earlier one shadows.
fn config(policies: Vec<Policy>) -> PolicyConfig {
    let mut config = PolicyConfig {
        applications: APPS
            .iter()
            .map(|id| Application {
                id: (*id).to_owned(),
                kind: AppKind::Saml,
            })
            .collect(),
        groups: names(&GROUPS),
        directories: vec!["d0".to_owned()],
        zones: ZONES
            .iter()
            .map(|(name, range)| Zone {
                name: (*name).to_owned(),
                ranges: vec![(*range).to_owned()],
            })
            .collect(),
        policies: policies
            .into_iter()
            .enumerate()
            .map(|(i, p)| Policy {
                name: format!("p{i}"),
                ..p
            })
            .collect(),
        default: DefaultPolicy {
            first_factor: FirstFactor::LocalPassword,
            second_factor: SecondFactor::Required,
            methods: vec![Method::BackupCode],
            remember_device_days: 0,
        },
        lockout: LockoutSettings::default(),
    };
    loop {
        match config.clone().validate() {
            Ok(_) => return config,
            Err(Error::Shadowed { policy, .. }) => config.policies.retain(|p| p.name != policy),
            Err(other) => panic!("generated config rejected: {other}"),
        }
    }
}

/// The reference: scan the policies in order.
fn reference(
    config: &PolicyConfig,
    app: &str,
    groups: &[&str],
    ip: Option<IpAddr>,
    source: &str,
) -> (Option<String>, Option<String>, Option<String>) {
    let in_list = |list: &Option<Vec<String>>, x: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|e| e == x))
    };
    for p in &config.policies {
        if !in_list(&p.applications, app) || !in_list(&p.sources, source) {
            continue;
        }
        let group = match &p.groups {
            None => None,
            Some(list) => match config
                .groups
                .iter()
                .find(|g| list.contains(g) && groups.contains(&g.as_str()))
            {
                Some(g) => Some(g.clone()),
                None => continue,
            },
        };
        let zone = match &p.zones {
            None => None,
            Some(list) => {
                let found = ip.and_then(|ip| {
                    list.iter().find(|z| {
                        let range = ZONES.iter().find(|(n, _)| n == z).map(|(_, r)| *r).unwrap();
                        range.parse::<ipnet::IpNet>().unwrap().contains(&ip)
                    })
                });
                match found {
                    Some(z) => Some(z.clone()),
                    None => continue,
                }
            }
        };
        return (Some(p.name.clone()), group, zone);
    }
    (None, None, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn evaluation_matches_first_match_scan_and_ignores_group_order(
        policies in proptest::collection::vec(policy(), 0..12),
        app in prop::sample::select(&["a0", "a1", "a2", "unknown"][..]),
        groups in subsequence(&["g0", "g1", "g2", "g3", "g4", "g5", "other"][..], 0..=7).prop_shuffle(),
        address in prop::option::of(prop::sample::select(&ADDRESSES[..])),
        source in prop::sample::select(&["local", "d0", "d1"][..]),
    ) {
        let config = config(policies);
        let set = config.clone().validate().unwrap();
        let ip: Option<IpAddr> = address.map(|a| a.parse().unwrap());
        let auth = if source == "local" { AuthSource::Local } else { AuthSource::Directory(source) };
        let decide = |groups: &[&str]| {
            let d = set.evaluate(&LoginRequest { application: app, groups, ip, source: auth });
            let name = match d.matched {
                Matched::Policy { name, .. } => Some(name.to_owned()),
                Matched::Default => None,
            };
            (name, d.group.map(str::to_owned), d.zone.map(str::to_owned))
        };
        let got = decide(&groups);
        prop_assert_eq!(&got, &reference(&config, app, &groups, ip, source));
        let mut reversed = groups.clone();
        reversed.reverse();
        prop_assert_eq!(&got, &decide(&reversed));
        let mut rotated = groups.clone();
        if !rotated.is_empty() {
            rotated.rotate_left(1);
        }
        prop_assert_eq!(&got, &decide(&rotated));
    }
}

proptest! {
    #[test]
    fn lockout_never_allows_more_than_disable_after_failures(
        max_failures in 1u32..8,
        extra in 0u32..10,
        window_secs in 1u64..300,
        lock_secs in 1u64..100,
        cap in 0u64..1000,
        events in proptest::collection::vec((0u64..400, prop::bool::weighted(0.9)), 0..200),
    ) {
        let rule = LockoutRule {
            max_failures,
            window_secs,
            lock_secs,
            max_lock_secs: lock_secs + cap,
            disable_after: (max_failures + extra).min(100),
        };
        let mut state = LockoutState::default();
        let mut now = 0u64;
        let mut verified_failures = 0u32;
        for (step, failed) in events {
            now += step;
            let gate = rule.gate(&state, now);
            if gate != Gate::Open {
                // The server refuses without verifying; nothing is recorded.
                prop_assert_eq!(rule.record_failure(state, now).0, state);
                continue;
            }
            if failed {
                let (next, after) = rule.record_failure(state, now);
                verified_failures += 1;
                prop_assert!(verified_failures <= rule.disable_after);
                prop_assert_eq!(after == Gate::Disabled, verified_failures == rule.disable_after);
                if let Gate::Locked { until } = after {
                    let length = until - now;
                    prop_assert!(length >= rule.lock_secs && length <= rule.max_lock_secs);
                }
                state = next;
            } else {
                state = rule.record_success(state);
                verified_failures = 0;
            }
        }
    }
}
