//! The TOML examples in docs/policy.md load, validate and decide as the guide says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idforge_policy::{
    AuthSource, Error, FirstFactor, Gate, LoginRequest, Matched, Method, PolicyConfig, PolicySet,
    SecondFactor,
};

const GUIDE: &str = include_str!("../../docs/policy.md");

/// Fenced blocks of `lang` whose first line is `# <marker>: <name>`, as (name, text).
fn blocks(lang: &str, marker: &str) -> Vec<(String, String)> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = GUIDE;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("closed fence");
        let text = &body[..end];
        if let Some(name) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix(&format!("# {marker}: ")))
        {
            out.push((name.trim().to_owned(), text.to_owned()));
        }
        rest = &body[end + 3..];
    }
    out
}

fn config(name: &str) -> PolicyConfig {
    let (_, text) = blocks("toml", "policy-config")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("docs/policy.md has no policy-config `{name}`"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("`{name}`: {e}"))
}

#[test]
fn every_policy_example_parses() {
    let found = blocks("toml", "policy-config");
    assert!(found.len() >= 2, "examples found: {found:?}");
    for (name, text) in found {
        toml::from_str::<PolicyConfig>(&text).unwrap_or_else(|e| panic!("`{name}`: {e}"));
    }
}

#[test]
fn seed_example_decides_as_the_table_says() {
    let set: PolicySet = config("seed").validate().unwrap();
    let ad = AuthSource::Directory("corp-ad");
    let decide = |app: &str, groups: &[&str], ip: Option<&str>| {
        let d = set.evaluate(&LoginRequest {
            application: app,
            groups,
            ip: ip.map(|s| s.parse().unwrap()),
            source: ad,
        });
        let name = match d.matched {
            Matched::Policy { name, .. } => name.to_owned(),
            Matched::Default => "default".to_owned(),
        };
        (
            name,
            d.first_factor.clone(),
            d.second_factor,
            d.methods.to_vec(),
        )
    };
    let corp = FirstFactor::Directory("corp-ad".into());
    assert_eq!(
        decide("workspaces", &["Staff", "VPN_Group"], None),
        (
            "workspaces-vpn-password-only".into(),
            corp.clone(),
            SecondFactor::None,
            vec![]
        )
    );
    assert_eq!(
        decide("workspaces", &["Staff"], None),
        (
            "workspaces-2fa".into(),
            corp.clone(),
            SecondFactor::Required,
            vec![Method::Totp, Method::HotpToken]
        )
    );
    assert_eq!(
        decide("aws-console", &["VPN_Group"], Some("203.0.113.5")).0,
        "aws-console-2fa"
    );
    assert_eq!(
        decide("wiki", &[], Some("203.0.113.5")),
        (
            "office-if-risky".into(),
            FirstFactor::LocalPassword,
            SecondFactor::IfRisky,
            vec![Method::Totp]
        )
    );
    assert_eq!(decide("wiki", &[], Some("198.51.100.5")).0, "default");

    let d = set.evaluate(&LoginRequest {
        application: "workspaces",
        groups: &["VPN_Group"],
        ip: None,
        source: ad,
    });
    assert_eq!(
        d.to_string(),
        "policy `workspaces-vpn-password-only` (#0) matched, through group `VPN_Group`"
    );
    assert!(
        GUIDE.contains(&d.to_string()),
        "the guide quotes this decision"
    );

    // The lockout block: 5 failures lock the user for 60 s.
    let rule = set.lockout().user;
    let mut state = idforge_policy::LockoutState::default();
    let mut gate = Gate::Open;
    for t in 0..5 {
        (state, gate) = rule.record_failure(state, 1000 + t);
    }
    assert_eq!(gate, Gate::Locked { until: 1064 });
}

#[test]
fn shadowed_example_is_rejected_with_the_quoted_message() {
    let err = config("shadowed").validate().unwrap_err();
    assert!(matches!(err, Error::Shadowed { .. }));
    let quoted = GUIDE
        .split("is rejected with:\n\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the guide quotes the error");
    assert_eq!(err.to_string(), quoted);
}
