//! Adaptive assessment: a seed-sized configuration with a short history, and 100,000 CIDR
//! ranges with 1,000 past logins.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use idforge_adaptive::{
    AdaptiveConfig, Audience, CidrMap, CountryRule, DeviceLimitRule, GeoPoint,
    ImpossibleTravelRule, LoginAttempt, NetworkAction, NetworkList, NewNetworkRule, PastLogin,
    RegisteredDevice, RiskEvaluator, RuleAction, SimpleRule, TimeOfDayRule, TimeWindow, Weekday,
};
use ipnet::IpNet;

const NOW: u64 = 1_700_000_000;

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn ranges(n: usize, g: &mut Gen) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = g.next();
            if i % 10 == 0 {
                let addr = Ipv6Addr::from(u128::from(r) << 64 | 0x2001_0db8 << 32);
                format!("{}/{}", addr, 32 + (r % 33))
            } else {
                let addr = Ipv4Addr::from((r >> 32) as u32);
                format!("{}/{}", addr, 12 + (r % 21))
            }
        })
        .collect()
}

fn config(networks: Vec<NetworkList>) -> AdaptiveConfig {
    let simple = |action| {
        Some(SimpleRule {
            applications: None,
            action,
            alert: None,
            weight: 20,
        })
    };
    AdaptiveConfig {
        networks,
        countries: CountryRule {
            blocked: vec!["KP".into(), "IR".into()],
        },
        device_limit: Some(DeviceLimitRule {
            applications: None,
            max_devices: 3,
            action: RuleAction::Challenge,
            alert: Audience::Admins,
            weight: 40,
        }),
        new_device: simple(RuleAction::Challenge),
        new_network: Some(NewNetworkRule {
            applications: None,
            action: RuleAction::AllowAndAlert,
            alert: None,
            weight: 20,
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        }),
        new_country: simple(RuleAction::Challenge),
        impossible_travel: Some(ImpossibleTravelRule {
            applications: None,
            max_speed_kmh: 900.0,
            min_distance_km: 100.0,
            action: RuleAction::Deny,
            alert: None,
            weight: 70,
        }),
        time_of_day: Some(TimeOfDayRule {
            applications: None,
            utc_offset_minutes: 60,
            windows: vec![TimeWindow {
                days: vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ],
                start: "06:00".into(),
                end: "23:30".into(),
            }],
            action: RuleAction::Challenge,
            alert: None,
            weight: 20,
        }),
        ..AdaptiveConfig::default()
    }
}

fn history(n: usize, g: &mut Gen) -> Vec<PastLogin> {
    (0..n)
        .map(|i| PastLogin {
            at: NOW - 3600 * (i as u64 + 1),
            ip: IpAddr::V4(Ipv4Addr::from((g.next() >> 32) as u32)),
            country: Some("DE".parse().unwrap()),
            location: Some(GeoPoint {
                lat: 52.5,
                lon: 13.4,
            }),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let devices = vec![RegisteredDevice {
        id: "laptop".into(),
        registered_at: NOW - 86_400,
        trusted_until: NOW + 86_400,
    }];

    let seed_rules = config(vec![
        NetworkList {
            name: "office".into(),
            action: NetworkAction::Allow,
            ranges: vec!["203.0.113.0/24".into(), "2001:db8:10::/48".into()],
        },
        NetworkList {
            name: "blocked".into(),
            action: NetworkAction::Block,
            ranges: vec!["192.0.2.0/24".into()],
        },
    ])
    .compile()
    .unwrap();
    let seed_history = history(20, &mut g);
    let attempt = |history: &'static [PastLogin],
                   devices: &'static [RegisteredDevice],
                   device: &'static str| LoginAttempt {
        user: "alice",
        application: "aws-console",
        now: NOW,
        ip: "198.51.100.7".parse().unwrap(),
        device: Some(device),
        country: Some("DE".parse().unwrap()),
        location: Some(GeoPoint {
            lat: 52.5,
            lon: 13.4,
        }),
        registered_devices: devices,
        history,
    };
    let seed_history: &'static [PastLogin] = Box::leak(seed_history.into_boxed_slice());
    let devices: &'static [RegisteredDevice] = Box::leak(devices.into_boxed_slice());

    let mut group = c.benchmark_group("adaptive_assess");
    let typical = attempt(seed_history, devices, "laptop");
    group.bench_function("seed_config_20_logins_trusted_device", |b| {
        b.iter(|| black_box(seed_rules.assess(black_box(&typical))));
    });
    let unknown = attempt(seed_history, devices, "phone");
    group.bench_function("seed_config_20_logins_new_device", |b| {
        b.iter(|| black_box(seed_rules.assess(black_box(&unknown))));
    });

    let all = ranges(100_000, &mut g);
    let (block, allow) = all.split_at(50_000);
    let large_rules = config(vec![
        NetworkList {
            name: "allow".into(),
            action: NetworkAction::Allow,
            ranges: allow.to_vec(),
        },
        NetworkList {
            name: "block".into(),
            action: NetworkAction::Block,
            ranges: block.to_vec(),
        },
    ])
    .compile()
    .unwrap();
    let large_history: &'static [PastLogin] = Box::leak(history(1000, &mut g).into_boxed_slice());
    let mut probe = attempt(large_history, devices, "phone");
    // An address in none of the ranges, so every rule runs.
    probe.ip = "100.64.1.1".parse().unwrap();
    group.bench_function("100k_ranges_1000_logins", |b| {
        b.iter(|| black_box(large_rules.assess(black_box(&probe))));
    });
    group.finish();

    let nets: Vec<(IpNet, u32)> = all
        .iter()
        .enumerate()
        .map(|(i, r)| (r.parse().unwrap(), i as u32))
        .collect();
    let map = CidrMap::new(nets.clone());
    let probes: Vec<IpAddr> = (0..1024)
        .map(|_| IpAddr::V4(Ipv4Addr::from((g.next() >> 32) as u32)))
        .collect();
    let mut i = 0;
    c.bench_function("cidr_longest_match_100k_ranges", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(map.longest_match(black_box(probes[i])))
        });
    });
    c.bench_function("cidr_build_100k_ranges", |b| {
        b.iter(|| black_box(CidrMap::new(nets.iter().copied())));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
