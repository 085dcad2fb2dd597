//! Policy evaluation: a small seed-sized configuration, and 1,000 policies with a user in 50
//! groups.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use idforge_policy::{
    AppKind, Application, AuthSource, DefaultPolicy, FirstFactor, LockoutSettings, LoginRequest,
    Matched, Method, Policy, PolicyConfig, PolicySet, SecondFactor, Zone,
};

fn policy(
    name: String,
    apps: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    second: SecondFactor,
) -> Policy {
    Policy {
        name,
        applications: apps,
        groups,
        zones: None,
        sources: None,
        first_factor: FirstFactor::LocalPassword,
        second_factor: second,
        methods: if second == SecondFactor::None {
            vec![]
        } else {
            vec![Method::Totp]
        },
        remember_device_days: 0,
    }
}

fn config(apps: usize, groups: usize, policies: Vec<Policy>, zones: Vec<Zone>) -> PolicySet {
    PolicyConfig {
        applications: (0..apps)
            .map(|i| Application {
                id: format!("app{i}"),
                kind: AppKind::Saml,
            })
            .collect(),
        groups: (0..groups).map(|i| format!("group{i}")).collect(),
        directories: vec![],
        zones,
        policies,
        default: DefaultPolicy {
            first_factor: FirstFactor::LocalPassword,
            second_factor: SecondFactor::Required,
            methods: vec![Method::Totp, Method::HotpToken],
            remember_device_days: 0,
        },
        lockout: LockoutSettings::default(),
    }
    .validate()
    .unwrap()
}

fn seed() -> PolicySet {
    let s = |v: &[&str]| Some(v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>());
    let mut office = policy("office".into(), None, None, SecondFactor::IfRisky);
    office.zones = s(&["office"]);
    config(
        3,
        4,
        vec![
            policy(
                "vpn".into(),
                s(&["app0"]),
                s(&["group0"]),
                SecondFactor::None,
            ),
            policy(
                "admins".into(),
                s(&["app1"]),
                s(&["group1"]),
                SecondFactor::Required,
            ),
            policy("aws".into(), s(&["app1"]), None, SecondFactor::Required),
            office,
        ],
        vec![Zone {
            name: "office".into(),
            ranges: vec!["203.0.113.0/24".into()],
        }],
    )
}

/// 1,000 policies over 20 applications and 2,000 groups; policy `i` names application
/// `i % 20` and groups `i` and `i + 1000`.
fn large_config() -> PolicySet {
    let policies = (0..1000)
        .map(|i| {
            policy(
                format!("p{i}"),
                Some(vec![format!("app{}", i % 20)]),
                Some(vec![format!("group{i}"), format!("group{}", i + 1000)]),
                SecondFactor::Required,
            )
        })
        .collect();
    config(20, 2000, policies, vec![])
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy_evaluate");

    let seed = seed();
    let ip: Option<IpAddr> = Some("198.51.100.1".parse().unwrap());
    let groups = ["Staff", "group1"];
    g.bench_function("seed_config_typical", |b| {
        b.iter(|| {
            let d = seed.evaluate(black_box(&LoginRequest {
                application: "app1",
                groups: &groups,
                ip,
                source: AuthSource::Local,
            }));
            black_box(d.second_factor)
        });
    });

    let large = large_config();
    // 50 groups: 49 whose policies are all for app3, and group987 (policy 987, for app7,
    // near the end of the list).
    let user_groups: Vec<String> = (1..50)
        .map(|i| format!("group{}", 40 * i + 3))
        .chain(["group987".to_owned()])
        .collect();
    assert_eq!(user_groups.len(), 50);
    let check = large.evaluate(&LoginRequest {
        application: "app7",
        groups: &user_groups,
        ip,
        source: AuthSource::Local,
    });
    assert_eq!(
        check.matched,
        Matched::Policy {
            index: 987,
            name: "p987"
        },
        "{check}"
    );
    g.bench_function("1000_policies_50_groups_match", |b| {
        b.iter(|| {
            let d = large.evaluate(black_box(&LoginRequest {
                application: "app7",
                groups: &user_groups,
                ip,
                source: AuthSource::Local,
            }));
            black_box(d.matched)
        });
    });
    let check = large.evaluate(&LoginRequest {
        application: "app5",
        groups: &user_groups,
        ip,
        source: AuthSource::Local,
    });
    assert_eq!(check.matched, Matched::Default);
    g.bench_function("1000_policies_50_groups_default", |b| {
        b.iter(|| {
            let d = large.evaluate(black_box(&LoginRequest {
                application: "app5",
                groups: &user_groups,
                ip,
                source: AuthSource::Local,
            }));
            black_box(d.matched)
        });
    });
    g.finish();

    c.bench_function("policy_validate_1000_policies", |b| {
        b.iter(|| black_box(large_config()));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
