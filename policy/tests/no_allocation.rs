//! Policy evaluation and the lockout state machine never allocate.
#![allow(clippy::unwrap_used)]

use idforge_policy::{
    AppKind, Application, AuthSource, DefaultPolicy, FirstFactor, LockoutRule, LockoutSettings,
    LockoutState, LoginRequest, Method, Policy, PolicyConfig, SecondFactor, Zone,
};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn evaluation_does_not_allocate() {
    let base = Policy {
        name: String::new(),
        applications: None,
        groups: None,
        zones: None,
        sources: None,
        first_factor: FirstFactor::LocalPassword,
        second_factor: SecondFactor::Required,
        methods: vec![Method::Totp],
        remember_device_days: 0,
    };
    let set = PolicyConfig {
        applications: ["vpn", "aws"]
            .iter()
            .map(|id| Application {
                id: (*id).to_owned(),
                kind: AppKind::Saml,
            })
            .collect(),
        groups: vec!["a".into(), "b".into(), "c".into()],
        directories: vec!["ad".into()],
        zones: vec![Zone {
            name: "office".into(),
            ranges: vec!["203.0.113.0/24".into()],
        }],
        policies: vec![
            Policy {
                name: "p0".into(),
                applications: Some(names(&["vpn"])),
                groups: Some(names(&["a"])),
                ..base.clone()
            },
            Policy {
                name: "p1".into(),
                sources: Some(names(&["ad"])),
                groups: Some(names(&["b", "c"])),
                ..base.clone()
            },
            Policy {
                name: "p2".into(),
                zones: Some(names(&["office"])),
                ..base.clone()
            },
            Policy {
                name: "p3".into(),
                applications: Some(names(&["aws"])),
                ..base
            },
        ],
        default: DefaultPolicy {
            first_factor: FirstFactor::LocalPassword,
            second_factor: SecondFactor::None,
            methods: vec![],
            remember_device_days: 0,
        },
        lockout: LockoutSettings::default(),
    }
    .validate()
    .unwrap();
    let owned_groups = vec![String::from("c"), String::from("zzz")];

    // The counter is live: an allocation is seen.
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 8]);
    });
    assert_eq!(probe.count_total, 1);

    let info = allocation_counter::measure(|| {
        for app in ["vpn", "aws", "other"] {
            for ip in [
                None,
                Some("203.0.113.9".parse().unwrap()),
                Some("::ffff:203.0.113.9".parse().unwrap()),
            ] {
                for source in [
                    AuthSource::Local,
                    AuthSource::Directory("ad"),
                    AuthSource::Directory("x"),
                ] {
                    let d = set.evaluate(&LoginRequest {
                        application: app,
                        groups: &["a", "b"],
                        ip,
                        source,
                    });
                    std::hint::black_box(d);
                    let d = set.evaluate(&LoginRequest {
                        application: app,
                        groups: &owned_groups,
                        ip,
                        source,
                    });
                    std::hint::black_box(d);
                }
            }
        }
        let rule = LockoutRule::default();
        let mut state = LockoutState::default();
        for t in 0..200 {
            std::hint::black_box(rule.gate(&state, t));
            state = rule.record_failure(state, t).0;
        }
        std::hint::black_box(rule.record_success(state));
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
