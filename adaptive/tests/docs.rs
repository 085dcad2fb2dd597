//! The TOML examples in docs/policy.md load, compile and assess as the guide says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idforge_adaptive::{
    Action, AdaptiveConfig, AlertKind, Audience, ChallengeType, Finding, GeoPoint, LoginAttempt,
    PastLogin, RegisteredDevice, Registration, RiskEvaluator, RuleKind, RuleSet,
};

const GUIDE: &str = include_str!("../../docs/policy.md");
const NOW: u64 = 1_700_000_000;

/// Fenced TOML blocks whose first line is `# adaptive-config: <name>`, as (name, text).
fn blocks() -> Vec<(String, String)> {
    let fence = "```toml\n";
    let mut out = Vec::new();
    let mut rest = GUIDE;
    while let Some(start) = rest.find(fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("closed fence");
        let text = &body[..end];
        if let Some(name) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# adaptive-config: "))
        {
            out.push((name.trim().to_owned(), text.to_owned()));
        }
        rest = &body[end + 3..];
    }
    out
}

fn rules(name: &str) -> RuleSet {
    let (_, text) = blocks()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no `{name}`"));
    let config: AdaptiveConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("`{name}`: {e}"));
    config.compile().unwrap_or_else(|e| panic!("`{name}`: {e}"))
}

fn device(id: &str) -> RegisteredDevice {
    RegisteredDevice {
        id: id.into(),
        registered_at: NOW - 4 * 3600,
        trusted_until: NOW + 86_400,
    }
}

const BERLIN: GeoPoint = GeoPoint {
    lat: 52.52,
    lon: 13.405,
};

fn attempt<'a>(
    ip: &str,
    devices: &'a [RegisteredDevice],
    history: &'a [PastLogin],
) -> LoginAttempt<'a> {
    LoginAttempt {
        user: "alice",
        application: "aws-console",
        now: NOW,
        ip: ip.parse().unwrap(),
        device: Some("new-phone"),
        country: Some("DE".parse().unwrap()),
        location: Some(BERLIN),
        registered_devices: devices,
        history,
    }
}

#[test]
fn every_adaptive_example_compiles() {
    let found = blocks();
    assert!(found.len() >= 2, "examples found: {found:?}");
    for (name, _) in found {
        rules(&name);
    }
}

#[test]
fn seed_scenarios_behave_as_documented() {
    let set = rules("seed");
    let history = [PastLogin {
        at: NOW - 4 * 3600,
        ip: "198.51.100.9".parse().unwrap(),
        country: Some("DE".parse().unwrap()),
        location: Some(BERLIN),
    }];
    let three = [device("laptop"), device("desktop"), device("tablet")];

    // Office ranges are trusted: even a 4th device from the office is let in.
    let out = set.assess(&attempt("203.0.113.40", &three, &history));
    assert_eq!(out.action, Action::Allow);
    assert_eq!(out.reasons.len(), 1);
    assert_eq!(out.reasons[0].finding.rule(), RuleKind::Networks);

    // Device limit 3 with challenge: the 4th device elsewhere is challenged, admins told.
    let out = set.assess(&attempt("198.51.100.20", &three, &history));
    assert_eq!(
        out.action,
        Action::Challenge {
            types: vec![
                ChallengeType::SecondFactor,
                ChallengeType::SecurityQuestions,
                ChallengeType::AlternateEmailOtp
            ]
        }
    );
    assert_eq!(
        out.reasons[0].finding,
        Finding::DeviceLimitExceeded {
            registered: 3,
            limit: 3
        }
    );
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.alerts[0].audience, Audience::Admins);
    assert_eq!(out.alerts[0].message, "device limit exceeded for alice");
    assert!(GUIDE.contains(&out.alerts[0].message));

    // A blocked country is denied with the configured message, even from a trusted device.
    let mut from_kp = attempt("198.51.100.20", &three, &history);
    from_kp.country = Some("KP".parse().unwrap());
    from_kp.device = Some("laptop");
    let out = set.assess(&from_kp);
    assert_eq!(
        out.action,
        Action::Deny {
            message: "Sign-in from your location is not allowed. Call the help desk on 555-0100."
                .into()
        }
    );
    assert!(
        GUIDE.contains(&out.reasons[0].to_string()),
        "{}",
        out.reasons[0]
    );

    // A passed challenge registers the device (below the limit), which is then trusted.
    let two = [device("laptop"), device("desktop")];
    let passed = set.challenge_passed(&attempt("198.51.100.20", &two, &history));
    let Registration::Registered(new) = passed.registration else {
        panic!("{passed:?}")
    };
    assert_eq!(new.trusted_until, NOW + 2_592_000);
    assert!(GUIDE.contains(&passed.alerts[0].message));
    let with_new = [device("laptop"), device("desktop"), new];
    assert_eq!(
        set.assess(&attempt("198.51.100.20", &with_new, &history))
            .action,
        Action::Allow
    );

    // Impossible travel denies and tells both.
    let mut far = attempt("198.51.100.20", &with_new, &history);
    far.location = Some(GeoPoint {
        lat: -33.87,
        lon: 151.21,
    });
    let out = set.assess(&far);
    assert!(matches!(out.action, Action::Deny { .. }));
    assert_eq!(
        out.alerts[0].kind,
        AlertKind::RuleFired(RuleKind::ImpossibleTravel)
    );
    assert_eq!(out.alerts[0].audience, Audience::Both);
}

#[test]
fn alert_audiences_example() {
    let set = rules("alerts");
    let full = [device("a"), device("b")];
    let passed = set.challenge_passed(&attempt("198.51.100.20", &full, &[]));
    assert_eq!(passed.registration, Registration::LimitReached { limit: 2 });
    assert_eq!(passed.alerts[0].audience, Audience::Admins);
    let passed = set.challenge_passed(&attempt("198.51.100.20", &full[..1], &[]));
    assert_eq!(passed.alerts[0].audience, Audience::Both);
    assert_eq!(
        set.challenge_failed(&attempt("198.51.100.20", &[], &[]))[0].audience,
        Audience::Admins
    );
}

#[test]
fn scoped_example_applies_to_its_application_only() {
    let set = rules("scoped");
    // Sunday 2023-11-19 12:00 UTC.
    let mut a = attempt("198.51.100.20", &[], &[]);
    a.now = 1_700_395_200;
    a.application = "workspaces";
    assert!(matches!(set.assess(&a).action, Action::Challenge { .. }));
    a.application = "aws-console";
    assert_eq!(set.assess(&a).action, Action::Allow);
    // Monday 2023-11-20 12:00 UTC is inside the window.
    a.application = "workspaces";
    a.now = 1_700_481_600;
    assert_eq!(set.assess(&a).action, Action::Allow);
}
