//! Table-driven evaluation and validation tests over TOML configurations.

use std::net::IpAddr;

use idforge_policy::{
    AuthSource, Error, FirstFactor, LoginRequest, Matched, Method, PolicyConfig, PolicySet,
    SecondFactor,
};

const CONFIG: &str = r#"
groups = ["VPN_Group", "Admins", "Contractors", "Staff"]
directories = ["corp-ad"]

[[applications]]
id = "workspaces"
kind = "radius"

[[applications]]
id = "aws-console"
kind = "saml"

[[applications]]
id = "wiki"
kind = "saml"

[[zones]]
name = "office"
ranges = ["203.0.113.0/24", "2001:db8:10::/48"]

[[zones]]
name = "lab"
ranges = ["198.51.100.0/25"]

[[policies]]
name = "vpn-password-only"
applications = ["workspaces"]
groups = ["VPN_Group"]
first_factor = "local_password"
second_factor = "none"

[[policies]]
name = "aws-admins-token"
applications = ["aws-console"]
groups = ["Admins"]
first_factor = { directory = "corp-ad" }
second_factor = "required"
methods = ["hotp_token"]

[[policies]]
name = "aws-2fa"
applications = ["aws-console"]
first_factor = { directory = "corp-ad" }
second_factor = "required"
methods = ["totp", "hotp_token"]

[[policies]]
name = "office-risky-only"
zones = ["office", "lab"]
first_factor = "local_password"
second_factor = "if_risky"
methods = ["totp", "backup_code"]

[[policies]]
name = "contractors-from-directory"
groups = ["Contractors", "Staff"]
sources = ["corp-ad"]
first_factor = { directory = "corp-ad" }
second_factor = "required"
methods = ["totp"]

[default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp", "hotp_token", "backup_code"]
"#;

fn set() -> PolicySet {
    let config: PolicyConfig = toml::from_str(CONFIG).expect("config parses");
    config.validate().expect("config is valid")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

// (application, groups, ip, source, expected policy (None = default), group, zone)
type Row<'a> = (
    &'a str,
    &'a [&'a str],
    Option<IpAddr>,
    AuthSource<'a>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

#[test]
fn each_policy_and_condition_decides_as_written() {
    let set = set();
    let local = AuthSource::Local;
    let ad = AuthSource::Directory("corp-ad");
    let rows: Vec<Row<'_>> = vec![
        (
            "workspaces",
            &["VPN_Group"],
            None,
            local,
            Some("vpn-password-only"),
            Some("VPN_Group"),
            None,
        ),
        (
            "workspaces",
            &["Staff", "VPN_Group"],
            None,
            local,
            Some("vpn-password-only"),
            Some("VPN_Group"),
            None,
        ),
        ("workspaces", &["Staff"], None, local, None, None, None),
        ("wiki", &["VPN_Group"], None, local, None, None, None),
        (
            "aws-console",
            &["Admins"],
            None,
            ad,
            Some("aws-admins-token"),
            Some("Admins"),
            None,
        ),
        (
            "aws-console",
            &["Admins", "VPN_Group"],
            Some(ip("203.0.113.9")),
            ad,
            Some("aws-admins-token"),
            Some("Admins"),
            None,
        ),
        ("aws-console", &[], None, ad, Some("aws-2fa"), None, None),
        (
            "aws-console",
            &["unknown-group"],
            None,
            local,
            Some("aws-2fa"),
            None,
            None,
        ),
        (
            "wiki",
            &[],
            Some(ip("203.0.113.200")),
            local,
            Some("office-risky-only"),
            None,
            Some("office"),
        ),
        (
            "wiki",
            &[],
            Some(ip("2001:db8:10:ffff::1")),
            local,
            Some("office-risky-only"),
            None,
            Some("office"),
        ),
        (
            "wiki",
            &[],
            Some(ip("::ffff:203.0.113.7")),
            local,
            Some("office-risky-only"),
            None,
            Some("office"),
        ),
        (
            "wiki",
            &[],
            Some(ip("198.51.100.127")),
            local,
            Some("office-risky-only"),
            None,
            Some("lab"),
        ),
        (
            "wiki",
            &[],
            Some(ip("198.51.100.128")),
            local,
            None,
            None,
            None,
        ),
        ("wiki", &[], None, local, None, None, None),
        (
            "wiki",
            &["Contractors"],
            None,
            ad,
            Some("contractors-from-directory"),
            Some("Contractors"),
            None,
        ),
        (
            "wiki",
            &["Staff", "Contractors"],
            None,
            ad,
            Some("contractors-from-directory"),
            Some("Contractors"),
            None,
        ),
        (
            "wiki",
            &["Staff"],
            None,
            ad,
            Some("contractors-from-directory"),
            Some("Staff"),
            None,
        ),
        ("wiki", &["Contractors"], None, local, None, None, None),
        (
            "wiki",
            &["Contractors"],
            None,
            AuthSource::Directory("other"),
            None,
            None,
            None,
        ),
        (
            "unknown-app",
            &["VPN_Group"],
            Some(ip("203.0.113.1")),
            local,
            Some("office-risky-only"),
            None,
            Some("office"),
        ),
    ];
    for (i, (app, groups, ip, source, policy, group, zone)) in rows.into_iter().enumerate() {
        let d = set.evaluate(&LoginRequest {
            application: app,
            groups,
            ip,
            source,
        });
        let got = match d.matched {
            Matched::Policy { name, index } => {
                assert_eq!(set.config().policies[index].name, name);
                Some(name)
            }
            Matched::Default => None,
        };
        assert_eq!(
            (got, d.group, d.zone),
            (policy, group, zone),
            "row {i}: {app} {groups:?} {ip:?} {source:?}"
        );
    }
}

#[test]
fn decision_carries_the_policy_requirements() {
    let set = set();
    let d = set.evaluate(&LoginRequest {
        application: "aws-console",
        groups: &["Admins"],
        ip: None,
        source: AuthSource::Local,
    });
    assert_eq!(d.first_factor, &FirstFactor::Directory("corp-ad".into()));
    assert_eq!(d.second_factor, SecondFactor::Required);
    assert_eq!(d.methods, &[Method::HotpToken]);
    assert_eq!(
        d.to_string(),
        "policy `aws-admins-token` (#1) matched, through group `Admins`"
    );

    let d = set.evaluate(&LoginRequest {
        application: "wiki",
        groups: &[] as &[&str],
        ip: Some(ip("203.0.113.1")),
        source: AuthSource::Local,
    });
    assert_eq!(d.second_factor, SecondFactor::IfRisky);
    assert_eq!(d.methods, &[Method::Totp, Method::BackupCode]);
    assert_eq!(
        d.to_string(),
        "policy `office-risky-only` (#3) matched, client in zone `office`"
    );

    let d = set.evaluate(&LoginRequest {
        application: "wiki",
        groups: &[String::from("Staff")],
        ip: None,
        source: AuthSource::Local,
    });
    assert_eq!(d.matched, Matched::Default);
    assert_eq!(
        d.methods,
        &[Method::Totp, Method::HotpToken, Method::BackupCode]
    );
    assert_eq!(d.to_string(), "no policy matched; default policy");
}

type Edit = Box<dyn Fn(&str) -> String>;

/// Applies `edit` to the TOML text and expects `want` from validation.
fn rejects(edit: impl Fn(&str) -> String, want: &Error) {
    let text = edit(CONFIG);
    let config: PolicyConfig = toml::from_str(&text).expect("edited config parses");
    let got = config
        .validate()
        .expect_err("edited config must be rejected");
    assert_eq!(&got, want, "{got}");
}

fn append(extra: &'static str) -> impl Fn(&str) -> String {
    move |c: &str| c.replace("[default]", &format!("{extra}\n[default]"))
}

#[test]
fn validation_errors_name_policy_and_field() {
    let p = |s: &str| s.to_owned();
    let cases: Vec<(Edit, Error)> = vec![
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\napplications = [\"nope\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::UnknownApplication {
                policy: p("x"),
                name: p("nope"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = [\"Admins\", \"nope\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::UnknownGroup {
                policy: p("x"),
                name: p("nope"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\nzones = [\"nope\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::UnknownZone {
                policy: p("x"),
                name: p("nope"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\nsources = [\"nope\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::UnknownDirectory {
                policy: p("x"),
                field: "sources",
                name: p("nope"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = [\"Admins\"]\nfirst_factor = { directory = \"nope\" }\nsecond_factor = \"none\"\n",
            )),
            Error::UnknownDirectory {
                policy: p("x"),
                field: "first_factor",
                name: p("nope"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = []\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::EmptyCondition {
                policy: p("x"),
                field: "groups",
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = [\"Admins\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"required\"\n",
            )),
            Error::EmptyMethods { policy: p("x") },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = [\"Admins\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"if_risky\"\nmethods = []\n",
            )),
            Error::EmptyMethods { policy: p("x") },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = [\"Admins\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\nmethods = [\"totp\"]\n",
            )),
            Error::MethodsWithoutSecondFactor { policy: p("x") },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\ngroups = [\"Admins\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"required\"\nmethods = [\"totp\", \"totp\"]\n",
            )),
            Error::DuplicateMethod {
                policy: p("x"),
                method: p("totp"),
            },
        ),
        (
            // Every aws-console login of a VPN_Group member is already taken by `aws-2fa`.
            Box::new(append(
                "[[policies]]\nname = \"x\"\napplications = [\"aws-console\"]\ngroups = [\"VPN_Group\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::Shadowed {
                policy: p("x"),
                by: p("aws-2fa"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"x\"\nzones = [\"lab\"]\ngroups = [\"Staff\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::Shadowed {
                policy: p("x"),
                by: p("office-risky-only"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"aws-2fa\"\ngroups = [\"Staff\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::DuplicateName {
                kind: "policy",
                name: p("aws-2fa"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"default\"\ngroups = [\"Staff\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::DuplicateName {
                kind: "policy",
                name: p("default"),
            },
        ),
        (
            Box::new(append(
                "[[policies]]\nname = \"\"\ngroups = [\"Staff\"]\nfirst_factor = \"local_password\"\nsecond_factor = \"none\"\n",
            )),
            Error::EmptyName {
                kind: "policy",
                index: 5,
            },
        ),
        (
            Box::new(|c: &str| {
                c.replace(
                    "\"Staff\"]\ndirectories",
                    "\"Staff\", \"Admins\"]\ndirectories",
                )
            }),
            Error::DuplicateName {
                kind: "group",
                name: p("Admins"),
            },
        ),
        (
            Box::new(|c: &str| {
                c.replace(
                    "directories = [\"corp-ad\"]",
                    "directories = [\"corp-ad\", \"local\"]",
                )
            }),
            Error::ReservedDirectoryName,
        ),
        (
            Box::new(|c: &str| c.replace("198.51.100.0/25", "198.51.100.0/33")),
            Error::InvalidRange {
                zone: p("lab"),
                index: 0,
                value: p("198.51.100.0/33"),
            },
        ),
        (
            Box::new(|c: &str| {
                c.replace("methods = [\"totp\", \"hotp_token\", \"backup_code\"]", "")
            }),
            Error::EmptyMethods {
                policy: p("default"),
            },
        ),
        (
            Box::new(|c: &str| format!("{c}\n[lockout.user]\ndisable_after = 150\n")),
            Error::Lockout {
                scope: "user",
                field: "disable_after",
                problem: "must be between 1 and 100 (NIST SP 800-63B 5.2.2)",
            },
        ),
    ];
    for (edit, want) in &cases {
        rejects(edit, want);
    }
}

#[test]
fn second_factor_need_follows_the_risk_answer() {
    let table = [
        (SecondFactor::None, false, false),
        (SecondFactor::None, true, false),
        (SecondFactor::Required, false, true),
        (SecondFactor::Required, true, true),
        (SecondFactor::IfRisky, false, false),
        (SecondFactor::IfRisky, true, true),
    ];
    for (second, risky, needed) in table {
        assert_eq!(second.is_needed(risky), needed, "{second:?} risky={risky}");
    }
}

#[test]
fn unknown_fields_and_bad_values_fail_to_parse() {
    for bad in [
        CONFIG.replace("second_factor = \"none\"", "second_factor = \"sometimes\""),
        CONFIG.replace("kind = \"radius\"", "kind = \"ldap\""),
        CONFIG.replace("[default]", "[default]\ncolour = \"red\""),
        CONFIG.replace("methods = [\"totp\"]", "methods = [\"carrier_pigeon\"]"),
    ] {
        assert!(toml::from_str::<PolicyConfig>(&bad).is_err());
    }
}

#[test]
fn config_round_trips_through_toml() {
    let config: PolicyConfig = toml::from_str(CONFIG).expect("config parses");
    let text = toml::to_string(&config).expect("serializes");
    let again: PolicyConfig = toml::from_str(&text).expect("re-parses");
    assert_eq!(config, again);
}

#[test]
fn every_method_reads_and_writes_by_its_configuration_name() {
    let names = [
        ("totp", Method::Totp),
        ("hotp_token", Method::HotpToken),
        ("backup_code", Method::BackupCode),
        ("email_otp", Method::EmailOtp),
        ("sms_otp", Method::SmsOtp),
        ("email_link", Method::EmailLink),
        ("security_questions", Method::SecurityQuestions),
        ("yubico_otp", Method::YubicoOtp),
        ("webauthn", Method::Webauthn),
    ];
    let list: Vec<String> = names.iter().map(|(n, _)| format!("{n:?}")).collect();
    let text = CONFIG.replace(
        "methods = [\"hotp_token\"]",
        &format!("methods = [{}]", list.join(", ")),
    );
    assert_ne!(text, CONFIG, "the edit applies");
    let config: PolicyConfig = toml::from_str(&text).expect("every method name parses");
    let set = config.validate().expect("valid");
    let d = set.evaluate(&LoginRequest {
        application: "aws-console",
        groups: &["Admins"],
        ip: None,
        source: AuthSource::Local,
    });
    let want: Vec<Method> = names.iter().map(|(_, m)| *m).collect();
    assert_eq!(d.methods, want.as_slice());
    for (name, method) in names {
        assert_eq!(method.as_str(), name);
    }
    let bad = CONFIG.replace(
        "methods = [\"hotp_token\"]",
        "methods = [\"carrier_pigeon\"]",
    );
    assert!(toml::from_str::<PolicyConfig>(&bad).is_err());
}

#[test]
fn a_remembered_device_lasts_as_the_matching_policy_says_and_at_most_a_year() {
    let text = CONFIG.replace(
        "methods = [\"hotp_token\"]",
        "methods = [\"hotp_token\"]\nremember_device_days = 14",
    );
    assert_ne!(text, CONFIG);
    let set = toml::from_str::<PolicyConfig>(&text)
        .unwrap()
        .validate()
        .unwrap();
    let admins = set.evaluate(&LoginRequest {
        application: "aws-console",
        groups: &["Admins"],
        ip: None,
        source: AuthSource::Local,
    });
    assert_eq!(admins.remember_device_days, 14);
    let other = set.evaluate(&LoginRequest {
        application: "wiki",
        groups: &["Staff"],
        ip: None,
        source: AuthSource::Local,
    });
    assert_eq!(other.remember_device_days, 0, "absent means never");
    let too_long = CONFIG.replace(
        "methods = [\"hotp_token\"]",
        "methods = [\"hotp_token\"]\nremember_device_days = 366",
    );
    let e = toml::from_str::<PolicyConfig>(&too_long)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(matches!(e, Error::RememberTooLong { days: 366, .. }), "{e}");
    assert!(e.to_string().contains("remember_device_days"));
}
