//! Table-driven tests: every rule and every action, from TOML configurations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use idforge_adaptive::{
    Action, AdaptiveConfig, AlertKind, Audience, ChallengeType, CountryCode, Effect, Error,
    Finding, GeoPoint, LoginAttempt, PastLogin, RegisteredDevice, Registration, RiskEvaluator,
    RuleKind, RuleSet,
};

/// 2023-11-14 22:13:20 UTC, a Tuesday.
const NOW: u64 = 1_700_000_000;
const HOUR: u64 = 3600;

fn rules(toml_text: &str) -> RuleSet {
    let config: AdaptiveConfig = toml::from_str(toml_text).expect("config parses");
    config.compile().expect("config is valid")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cc(s: &str) -> CountryCode {
    s.parse().unwrap()
}

fn attempt<'a>(devices: &'a [RegisteredDevice], history: &'a [PastLogin]) -> LoginAttempt<'a> {
    LoginAttempt {
        user: "alice",
        application: "aws-console",
        now: NOW,
        ip: ip("198.51.100.7"),
        device: Some("laptop"),
        country: Some(cc("DE")),
        location: Some(BERLIN),
        registered_devices: devices,
        history,
    }
}

const BERLIN: GeoPoint = GeoPoint {
    lat: 52.52,
    lon: 13.405,
};
const NEW_YORK: GeoPoint = GeoPoint {
    lat: 40.7128,
    lon: -74.006,
};

fn device(id: &str, trusted_until: u64) -> RegisteredDevice {
    RegisteredDevice {
        id: id.to_owned(),
        registered_at: NOW - 100 * HOUR,
        trusted_until,
    }
}

fn past(at: u64, addr: &str, country: &str, location: Option<GeoPoint>) -> PastLogin {
    PastLogin {
        at,
        ip: ip(addr),
        country: Some(cc(country)),
        location,
    }
}

fn rule_kinds(a: &idforge_adaptive::Assessment) -> Vec<RuleKind> {
    a.reasons.iter().map(|r| r.finding.rule()).collect()
}

fn severity(action: &Action) -> &'static str {
    match action {
        Action::Allow => "allow",
        Action::Challenge { .. } => "challenge",
        Action::Deny { .. } => "deny",
        _ => "other",
    }
}

type Tweak = fn(LoginAttempt<'_>) -> LoginAttempt<'_>;
/// (name, rule section, devices, history, tweak, expected action, expected rule kinds)
type Row<'a> = (
    &'a str,
    String,
    &'a [RegisteredDevice],
    &'a [PastLogin],
    Tweak,
    &'a str,
    Vec<RuleKind>,
);

#[test]
fn every_rule_with_every_action() {
    let trusted = [device("laptop", NOW + HOUR)];
    let expired = [device("laptop", NOW - 1)];
    let three = [
        device("a", NOW + HOUR),
        device("b", NOW + HOUR),
        device("c", NOW + HOUR),
    ];
    let with_laptop = [
        device("a", NOW + HOUR),
        device("b", NOW + HOUR),
        device("laptop", NOW + HOUR),
    ];
    let home = [past(NOW - 48 * HOUR, "198.51.100.200", "DE", Some(BERLIN))];
    let from_ny = [past(NOW - 2 * HOUR, "198.51.100.200", "DE", Some(NEW_YORK))];
    let from_ny_long_ago = [past(
        NOW - 20 * HOUR,
        "198.51.100.200",
        "DE",
        Some(NEW_YORK),
    )];
    let elsewhere = [past(NOW - 48 * HOUR, "203.0.113.5", "FR", None)];

    // (name, rule section, devices, history, tweak, expected action, expected rule kinds)
    let same: Tweak = |a| a;
    let no_device: Tweak = |a| LoginAttempt { device: None, ..a };
    let sunday_3am: Tweak = |a| LoginAttempt {
        now: 1_700_362_800,
        ..a
    }; // Sun 2023-11-19 03:00 UTC
    let monday_noon: Tweak = |a| LoginAttempt {
        now: 1_700_481_600,
        ..a
    }; // Mon 2023-11-20 12:00 UTC
    let v6: Tweak = |a| LoginAttempt {
        ip: ip("2001:db8:1:2::5"),
        ..a
    };

    let device_limit =
        |action: &str| format!("[device_limit]\nmax_devices = 3\naction = \"{action}\"\n");
    let simple = |section: &str, action: &str| format!("[{section}]\naction = \"{action}\"\n");
    let travel =
        |action: &str| format!("[impossible_travel]\nmax_speed_kmh = 900\naction = \"{action}\"\n");
    let hours = |action: &str| {
        format!(
            "[time_of_day]\naction = \"{action}\"\n[[time_of_day.windows]]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart = \"07:00\"\nend = \"22:00\"\n"
        )
    };
    let rows: Vec<Row<'_>> = vec![
        ("no rules", String::new(), &[], &[], same, "allow", vec![]),
        ("blocked range", "[[networks]]\nname = \"bad\"\naction = \"block\"\nranges = [\"198.51.100.0/24\"]\n".into(), &trusted, &home, same, "deny", vec![RuleKind::Networks, RuleKind::TrustedDevice]),
        ("range not blocked", "[[networks]]\nname = \"bad\"\naction = \"block\"\nranges = [\"198.51.101.0/24\"]\n".into(), &[], &[], same, "allow", vec![]),
        ("blocked v6 range", "[[networks]]\nname = \"bad\"\naction = \"block\"\nranges = [\"2001:db8::/32\"]\n".into(), &[], &[], v6, "deny", vec![RuleKind::Networks]),
        ("blocked country", "[countries]\nblocked = [\"kp\", \"DE\"]\n".into(), &trusted, &home, same, "deny", vec![RuleKind::Countries, RuleKind::TrustedDevice]),
        ("trusted range skips risk rules", format!("[[networks]]\nname = \"office\"\naction = \"allow\"\nranges = [\"198.51.100.0/24\"]\n{}", simple("new_device", "deny")), &[], &[], same, "allow", vec![RuleKind::Networks]),
        ("block beats trust", "[[networks]]\nname = \"office\"\naction = \"allow\"\nranges = [\"198.51.100.0/24\"]\n[[networks]]\nname = \"bad\"\naction = \"block\"\nranges = [\"198.51.100.0/16\"]\n".into(), &[], &[], same, "deny", vec![RuleKind::Networks, RuleKind::Networks]),
        ("device limit challenge", device_limit("challenge"), &three, &home, same, "challenge", vec![RuleKind::DeviceLimit]),
        ("device limit deny", device_limit("deny"), &three, &home, same, "deny", vec![RuleKind::DeviceLimit]),
        ("device limit allow and alert", device_limit("allow_and_alert"), &three, &home, same, "allow", vec![RuleKind::DeviceLimit]),
        ("device limit not reached", device_limit("deny"), &three[..2], &home, same, "allow", vec![]),
        ("device limit, registered device", device_limit("deny"), &with_laptop, &home, same, "allow", vec![RuleKind::TrustedDevice]),
        ("new device challenge", simple("new_device", "challenge"), &[], &home, same, "challenge", vec![RuleKind::NewDevice]),
        ("new device deny", simple("new_device", "deny"), &[], &home, same, "deny", vec![RuleKind::NewDevice]),
        ("new device allow and alert", simple("new_device", "allow_and_alert"), &[], &home, same, "allow", vec![RuleKind::NewDevice]),
        ("no device id is a new device", simple("new_device", "challenge"), &trusted, &home, no_device, "challenge", vec![RuleKind::NewDevice]),
        ("trusted device", simple("new_device", "challenge"), &trusted, &home, same, "allow", vec![RuleKind::TrustedDevice]),
        ("expired trust", simple("new_device", "challenge"), &expired, &home, same, "challenge", vec![RuleKind::NewDevice]),
        ("new network challenge", simple("new_network", "challenge"), &[], &elsewhere, same, "challenge", vec![RuleKind::NewNetwork]),
        ("new network deny", simple("new_network", "deny"), &[], &elsewhere, same, "deny", vec![RuleKind::NewNetwork]),
        ("new network allow and alert", simple("new_network", "allow_and_alert"), &[], &elsewhere, same, "allow", vec![RuleKind::NewNetwork]),
        ("known network", simple("new_network", "deny"), &[], &home, same, "allow", vec![]),
        ("new network skipped on trusted device", simple("new_network", "deny"), &trusted, &elsewhere, same, "allow", vec![RuleKind::TrustedDevice]),
        ("new country challenge", simple("new_country", "challenge"), &[], &elsewhere, same, "challenge", vec![RuleKind::NewCountry]),
        ("new country deny", simple("new_country", "deny"), &[], &elsewhere, same, "deny", vec![RuleKind::NewCountry]),
        ("new country allow and alert", simple("new_country", "allow_and_alert"), &[], &elsewhere, same, "allow", vec![RuleKind::NewCountry]),
        ("known country", simple("new_country", "deny"), &[], &home, same, "allow", vec![]),
        ("impossible travel challenge", travel("challenge"), &[], &from_ny, same, "challenge", vec![RuleKind::ImpossibleTravel]),
        ("impossible travel deny", travel("deny"), &trusted, &from_ny, same, "deny", vec![RuleKind::TrustedDevice, RuleKind::ImpossibleTravel]),
        ("impossible travel allow and alert", travel("allow_and_alert"), &[], &from_ny, same, "allow", vec![RuleKind::ImpossibleTravel]),
        ("possible travel", travel("deny"), &[], &from_ny_long_ago, same, "allow", vec![]),
        ("same place", travel("deny"), &[], &home, same, "allow", vec![]),
        ("outside hours challenge", hours("challenge"), &[], &home, sunday_3am, "challenge", vec![RuleKind::TimeOfDay]),
        ("outside hours deny", hours("deny"), &[], &home, sunday_3am, "deny", vec![RuleKind::TimeOfDay]),
        ("outside hours allow and alert", hours("allow_and_alert"), &[], &home, sunday_3am, "allow", vec![RuleKind::TimeOfDay]),
        ("inside hours", hours("deny"), &[], &home, monday_noon, "allow", vec![]),
        ("late tuesday is outside", hours("deny"), &[], &home, same, "deny", vec![RuleKind::TimeOfDay]),
    ];
    for (name, section, devices, history, tweak, want_action, want_rules) in rows {
        let set = rules(&format!(
            "challenge_types = [\"second_factor\", \"security_questions\"]\n{section}"
        ));
        let a = set.assess(&tweak(attempt(devices, history)));
        assert_eq!(severity(&a.action), want_action, "{name}: {a:?}");
        assert_eq!(rule_kinds(&a), want_rules, "{name}: {a:?}");
        if let Action::Challenge { types } = &a.action {
            assert_eq!(
                types,
                &[
                    ChallengeType::SecondFactor,
                    ChallengeType::SecurityQuestions
                ],
                "{name}"
            );
        }
        let alerting = a.reasons.iter().any(|r| r.effect == Effect::AllowAndAlert)
            || want_rules.contains(&RuleKind::DeviceLimit);
        assert_eq!(!a.alerts.is_empty(), alerting, "{name}: {a:?}");
    }
}

#[test]
fn rules_apply_only_to_their_applications() {
    let scoped = |section: &str| format!("{section}applications = [\"workspaces\", \"vpn\"]\n");
    let sections = [
        (
            "[device_limit]\nmax_devices = 1\naction = \"deny\"\n",
            RuleKind::DeviceLimit,
        ),
        ("[new_device]\naction = \"deny\"\n", RuleKind::NewDevice),
        ("[new_network]\naction = \"deny\"\n", RuleKind::NewNetwork),
        ("[new_country]\naction = \"deny\"\n", RuleKind::NewCountry),
        (
            "[impossible_travel]\nmax_speed_kmh = 900\naction = \"deny\"\n",
            RuleKind::ImpossibleTravel,
        ),
        (
            "[time_of_day]\naction = \"deny\"\napplications = [\"workspaces\", \"vpn\"]\n[[time_of_day.windows]]\ndays = [\"sun\"]\nstart = \"08:00\"\nend = \"09:00\"\n",
            RuleKind::TimeOfDay,
        ),
    ];
    let devices = [device("phone", NOW + HOUR)];
    let history = [past(NOW - HOUR, "203.0.113.5", "FR", Some(NEW_YORK))];
    for (section, kind) in sections {
        let text = if kind == RuleKind::TimeOfDay {
            section.to_owned()
        } else {
            scoped(section)
        };
        let set = rules(&text);
        for (app, applies) in [
            ("workspaces", true),
            ("vpn", true),
            ("aws-console", false),
            ("", false),
        ] {
            let mut a = attempt(&devices, &history);
            a.application = app;
            let out = set.assess(&a);
            assert_eq!(
                rule_kinds(&out) == [kind],
                applies,
                "{kind:?} on `{app}`: {out:?}"
            );
            assert_eq!(
                matches!(out.action, Action::Deny { .. }),
                applies,
                "{kind:?} on `{app}`"
            );
        }
    }
    let config: AdaptiveConfig =
        toml::from_str("[new_device]\naction = \"deny\"\napplications = []\n").unwrap();
    assert_eq!(
        config.compile().unwrap_err(),
        Error::OutOfRange {
            section: "new_device",
            field: "applications",
            problem: "is empty (omit it to apply to every application)",
        }
    );
}

#[test]
fn deny_carries_the_configured_message_and_score_adds_up() {
    let set = rules(
        "deny_message = \"Not from there. Call the help desk on 1234.\"\n\
         [countries]\nblocked = [\"KP\"]\n\
         [new_device]\naction = \"challenge\"\nweight = 30\n\
         [new_country]\naction = \"challenge\"\nweight = 45\n",
    );
    let mut a = attempt(&[], &[]);
    a.country = Some(cc("KP"));
    let out = set.assess(&a);
    assert_eq!(
        out.action,
        Action::Deny {
            message: "Not from there. Call the help desk on 1234.".into()
        }
    );
    assert_eq!(out.score, 100);
    assert_eq!(
        out.reasons[0].finding,
        Finding::BlockedCountry { country: cc("KP") }
    );
    assert_eq!(
        out.reasons[0].to_string(),
        "countries: login from blocked country KP (Deny)"
    );

    a.country = Some(cc("FR"));
    let out = set.assess(&a);
    assert_eq!(out.score, 75);
    assert_eq!(
        rule_kinds(&out),
        [RuleKind::NewDevice, RuleKind::NewCountry]
    );
}

#[test]
fn device_limit_alert_names_the_user_and_audience() {
    let set =
        rules("[device_limit]\nmax_devices = 1\naction = \"allow_and_alert\"\nalert = \"both\"\n");
    let devices = [device("phone", NOW + HOUR)];
    let out = set.assess(&attempt(&devices, &[]));
    assert_eq!(out.action, Action::Allow);
    assert_eq!(out.alerts.len(), 1);
    let alert = &out.alerts[0];
    assert_eq!(alert.kind, AlertKind::RuleFired(RuleKind::DeviceLimit));
    assert_eq!(alert.audience, Audience::Both);
    assert_eq!(alert.user, "alice");
    assert_eq!(alert.application, "aws-console");
    assert_eq!(alert.message, "device limit exceeded for alice");
    assert_eq!(
        out.reasons[0].finding,
        Finding::DeviceLimitExceeded {
            registered: 1,
            limit: 1
        }
    );
}

#[test]
fn longest_prefix_names_the_most_specific_range() {
    let set = rules(
        "[[networks]]\nname = \"wide\"\naction = \"block\"\nranges = [\"198.0.0.0/8\"]\n\
         [[networks]]\nname = \"narrow\"\naction = \"block\"\nranges = [\"198.51.100.0/24\"]\n",
    );
    let out = set.assess(&attempt(&[], &[]));
    assert_eq!(
        out.reasons[0].finding,
        Finding::BlockedNetwork {
            list: "narrow".into(),
            range: "198.51.100.0/24".parse().unwrap()
        }
    );
    let mut a = attempt(&[], &[]);
    a.ip = ip("::ffff:198.1.2.3");
    assert_eq!(
        set.assess(&a).reasons[0].finding,
        Finding::BlockedNetwork {
            list: "wide".into(),
            range: "198.0.0.0/8".parse().unwrap()
        }
    );
}

#[test]
fn time_windows_cross_midnight_and_follow_the_offset() {
    // Night shift Monday 22:00 to Tuesday 06:00 local, UTC+2.
    let set = rules(
        "[time_of_day]\nutc_offset_minutes = 120\naction = \"deny\"\n\
         [[time_of_day.windows]]\ndays = [\"mon\"]\nstart = \"22:00\"\nend = \"06:00\"\n",
    );
    // Mon 2023-11-20 00:00 UTC = 1_700_438_400.
    let monday = 1_700_438_400;
    for (utc_hour, inside) in [
        (19, false),
        (20, true),
        (23, true),
        (27, true),
        (28, false),
        (44, false),
    ] {
        let mut a = attempt(&[], &[]);
        a.now = monday + utc_hour * HOUR;
        let out = set.assess(&a);
        assert_eq!(
            out.action == Action::Allow,
            inside,
            "UTC hour {utc_hour}: {out:?}"
        );
    }
    let mut a = attempt(&[], &[]);
    a.now = monday + 19 * HOUR + 30 * 60;
    assert_eq!(
        set.assess(&a).reasons[0].finding,
        Finding::OutsideTimeWindow {
            weekday: idforge_adaptive::Weekday::Mon,
            minute: 21 * 60 + 30
        }
    );
}

#[test]
fn impossible_travel_uses_the_latest_located_login() {
    let set = rules("[impossible_travel]\nmax_speed_kmh = 900\naction = \"deny\"\n");
    // The newest located login was in Berlin; an older one in New York does not count.
    let history = [
        past(NOW - 3 * HOUR, "203.0.113.1", "US", Some(NEW_YORK)),
        past(NOW - 2 * HOUR, "203.0.113.2", "DE", Some(BERLIN)),
        past(NOW - HOUR, "203.0.113.3", "DE", None),
        past(NOW + HOUR, "203.0.113.4", "US", Some(NEW_YORK)),
    ];
    assert_eq!(set.assess(&attempt(&[], &history)).action, Action::Allow);
    let mut a = attempt(&[], &history);
    a.location = Some(NEW_YORK);
    let out = set.assess(&a);
    let Finding::ImpossibleTravel { km, hours } = out.reasons[0].finding else {
        panic!("{out:?}")
    };
    assert!((km - 6385.0).abs() < 30.0, "{km}");
    assert!((hours - 2.0).abs() < 1e-9);
}

#[test]
fn challenge_outcomes_register_renew_or_refuse() {
    let set = rules(
        "[device_limit]\nmax_devices = 2\naction = \"challenge\"\n\
         [trusted_devices]\ntrust_secs = 86400\n\
         [alerts]\nchallenge_completed = \"both\"\nchallenge_failed = \"admins\"\n",
    );
    let out = set.challenge_passed(&attempt(&[], &[]));
    assert_eq!(
        out.registration,
        Registration::Registered(RegisteredDevice {
            id: "laptop".into(),
            registered_at: NOW,
            trusted_until: NOW + 86_400
        })
    );
    assert_eq!(out.alerts[0].kind, AlertKind::ChallengeCompleted);
    assert_eq!(out.alerts[0].audience, Audience::Both);
    assert_eq!(
        out.alerts[0].message,
        "challenge completed, device registered for alice"
    );

    let old = [device("laptop", NOW - 5), device("phone", NOW + 5)];
    let out = set.challenge_passed(&attempt(&old, &[]));
    assert_eq!(
        out.alerts[0].message,
        "challenge completed, device trust renewed for alice"
    );
    assert_eq!(
        out.registration,
        Registration::Renewed(RegisteredDevice {
            trusted_until: NOW + 86_400,
            ..old[0].clone()
        })
    );

    let full = [device("tablet", NOW + 5), device("phone", NOW + 5)];
    let out = set.challenge_passed(&attempt(&full, &[]));
    assert_eq!(out.registration, Registration::LimitReached { limit: 2 });
    assert_eq!(out.alerts[0].kind, AlertKind::RegistrationRefused);
    assert_eq!(out.alerts[0].audience, Audience::Admins);

    let mut a = attempt(&[], &[]);
    a.device = None;
    assert_eq!(
        set.challenge_passed(&a).registration,
        Registration::NoDevice
    );

    let failed = set.challenge_failed(&attempt(&[], &[]));
    assert_eq!(failed[0].kind, AlertKind::ChallengeFailed);
    assert_eq!(failed[0].audience, Audience::Admins);
    assert_eq!(
        failed[0].message,
        "challenge failed for alice from 198.51.100.7"
    );

    // The registered device is then trusted: not challenged again until the trust ends.
    let Registration::Registered(registered) =
        set.challenge_passed(&attempt(&[], &[])).registration
    else {
        panic!()
    };
    let with_new =
        rules("[new_device]\naction = \"challenge\"\n[trusted_devices]\ntrust_secs = 86400\n");
    let devices = [registered];
    let mut later = attempt(&devices, &[]);
    later.now = NOW + 86_399;
    assert_eq!(with_new.assess(&later).action, Action::Allow);
    later.now = NOW + 86_400;
    assert!(matches!(
        with_new.assess(&later).action,
        Action::Challenge { .. }
    ));
}

#[test]
fn validation_errors_name_section_and_field() {
    let cases: Vec<(&str, Error)> = vec![
        (
            "[[networks]]\nname = \"\"\naction = \"block\"\nranges = []\n",
            Error::EmptyName { index: 0 },
        ),
        (
            "[[networks]]\nname = \"a\"\naction = \"block\"\nranges = []\n[[networks]]\nname = \"a\"\naction = \"allow\"\nranges = []\n",
            Error::DuplicateName { name: "a".into() },
        ),
        (
            "[[networks]]\nname = \"a\"\naction = \"block\"\nranges = [\"10.0.0.0/8\", \"10.0.0.300/32\"]\n",
            Error::InvalidRange {
                list: "a".into(),
                index: 1,
                value: "10.0.0.300/32".into(),
            },
        ),
        (
            "[countries]\nblocked = [\"DE\", \"Germany\"]\n",
            Error::InvalidCountry {
                index: 1,
                value: "Germany".into(),
            },
        ),
        (
            "[device_limit]\nmax_devices = 0\naction = \"deny\"\n",
            Error::OutOfRange {
                section: "device_limit",
                field: "max_devices",
                problem: "must be at least 1",
            },
        ),
        (
            "[impossible_travel]\nmax_speed_kmh = 0.0\naction = \"deny\"\n",
            Error::OutOfRange {
                section: "impossible_travel",
                field: "max_speed_kmh",
                problem: "must be a positive number",
            },
        ),
        (
            "[impossible_travel]\nmax_speed_kmh = nan\naction = \"deny\"\n",
            Error::OutOfRange {
                section: "impossible_travel",
                field: "max_speed_kmh",
                problem: "must be a positive number",
            },
        ),
        (
            "[impossible_travel]\nmax_speed_kmh = 900\nmin_distance_km = -1.0\naction = \"deny\"\n",
            Error::OutOfRange {
                section: "impossible_travel",
                field: "min_distance_km",
                problem: "must be zero or a positive number",
            },
        ),
        (
            "[new_network]\naction = \"deny\"\nipv4_prefix = 33\n",
            Error::OutOfRange {
                section: "new_network",
                field: "ipv4_prefix",
                problem: "must be at most 32",
            },
        ),
        (
            "[new_network]\naction = \"deny\"\nipv6_prefix = 129\n",
            Error::OutOfRange {
                section: "new_network",
                field: "ipv6_prefix",
                problem: "must be at most 128",
            },
        ),
        (
            "[trusted_devices]\ntrust_secs = 0\n",
            Error::OutOfRange {
                section: "trusted_devices",
                field: "trust_secs",
                problem: "must be at least 1",
            },
        ),
        (
            "challenge_types = []\n[new_device]\naction = \"challenge\"\n",
            Error::OutOfRange {
                section: "adaptive",
                field: "challenge_types",
                problem: "is empty but a rule can challenge",
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\nwindows = []\n",
            Error::OutOfRange {
                section: "time_of_day",
                field: "windows",
                problem: "must list at least one window",
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\nutc_offset_minutes = 1200\n[[time_of_day.windows]]\ndays = [\"mon\"]\nstart = \"08:00\"\nend = \"09:00\"\n",
            Error::OutOfRange {
                section: "time_of_day",
                field: "utc_offset_minutes",
                problem: "must be within -1080..=1080",
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\n[[time_of_day.windows]]\ndays = [\"mon\"]\nstart = \"24:00\"\nend = \"09:00\"\n",
            Error::InvalidTime {
                window: 0,
                field: "start",
                value: "24:00".into(),
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\n[[time_of_day.windows]]\ndays = [\"mon\"]\nstart = \"08:00\"\nend = \"9:00\"\n",
            Error::InvalidTime {
                window: 0,
                field: "end",
                value: "9:00".into(),
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\n[[time_of_day.windows]]\ndays = [\"mon\"]\nstart = \"08:00\"\nend = \"08:60\"\n",
            Error::InvalidTime {
                window: 0,
                field: "end",
                value: "08:60".into(),
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\n[[time_of_day.windows]]\ndays = []\nstart = \"08:00\"\nend = \"09:00\"\n",
            Error::EmptyWindow {
                window: 0,
                problem: "field `days` is empty",
            },
        ),
        (
            "[time_of_day]\naction = \"deny\"\n[[time_of_day.windows]]\ndays = [\"sun\"]\nstart = \"08:00\"\nend = \"08:00\"\n",
            Error::EmptyWindow {
                window: 0,
                problem: "`start` equals `end`",
            },
        ),
    ];
    for (text, want) in cases {
        let config: AdaptiveConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(config.compile().expect_err(text), want, "{text}");
    }
    for bad in [
        "[new_device]\naction = \"maybe\"\n",
        "[countries]\nallowed = [\"DE\"]\n",
        "[[networks]]\nname = \"a\"\naction = \"trust\"\nranges = []\n",
        "[time_of_day]\naction = \"deny\"\n[[time_of_day.windows]]\ndays = [\"someday\"]\nstart = \"08:00\"\nend = \"09:00\"\n",
    ] {
        assert!(toml::from_str::<AdaptiveConfig>(bad).is_err(), "{bad}");
    }
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct Stored {
    devices: Vec<RegisteredDevice>,
    logins: Vec<PastLogin>,
}

#[test]
fn config_and_state_round_trip_through_toml() {
    let text = "deny_message = \"no\"\n[[networks]]\nname = \"office\"\naction = \"allow\"\nranges = [\"203.0.113.0/24\"]\n\
                [device_limit]\nmax_devices = 3\naction = \"challenge\"\n\
                [impossible_travel]\nmax_speed_kmh = 900.0\naction = \"deny\"\n";
    let config: AdaptiveConfig = toml::from_str(text).unwrap();
    let again: AdaptiveConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    assert_eq!(config, again);

    let stored = Stored {
        devices: vec![device("laptop", NOW)],
        logins: vec![past(NOW, "2001:db8::1", "DE", Some(BERLIN))],
    };
    let back: Stored = toml::from_str(&toml::to_string(&stored).unwrap()).unwrap();
    assert_eq!(back, stored);
    assert!(
        toml::from_str::<Stored>(
            "devices = []\n[[logins]]\nat = 1\nip = \"::1\"\ncountry = \"DEU\"\n"
        )
        .is_err()
    );
}
