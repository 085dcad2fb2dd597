//! Directory configuration read from TOML (the `serde` feature).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idforge_ldap_auth::{DirectoryConfig, Dn, GroupLookup, Nesting, UserFilter};

#[test]
fn reads_an_openldap_config_with_defaults() {
    let c: DirectoryConfig = toml::from_str(
        r#"
        user_base = "ou=people,dc=example,dc=com"
        user_filter = "uid"
        service_account = { dn = "cn=idp,dc=example,dc=com", password = "s3cret" }
        attributes = [{ ldap = "mail", name = "email" }]
        groups = { search = { base = "ou=groups,dc=example,dc=com", member_attribute = "member", nesting = { iterative = { max_depth = 5 } } } }
        "#,
    )
    .unwrap();
    assert!(c.start_tls, "StartTLS is the default");
    assert_eq!(
        c.user_base,
        Dn::parse("OU=People,DC=example,DC=com").unwrap()
    );
    assert_eq!(c.user_filter, UserFilter::Uid);
    assert_eq!(
        c.service_account.as_ref().unwrap().password.expose(),
        b"s3cret"
    );
    assert_eq!(c.search_time_limit, 10);
    let GroupLookup::Search { nesting, .. } = &c.groups else {
        panic!("{:?}", c.groups)
    };
    assert_eq!(*nesting, Nesting::Iterative { max_depth: 5 });

    // Written back out, the password is left behind.
    let written = toml::to_string(&c).unwrap();
    assert!(!written.contains("s3cret"), "{written}");
    assert!(written.contains("cn=idp,dc=example,dc=com"));
}

#[test]
fn reads_an_active_directory_config_with_a_custom_filter() {
    let c: DirectoryConfig = toml::from_str(
        r#"
        start_tls = false
        user_base = "DC=corp,DC=example,DC=com"
        user_filter = { custom = "(&(objectClass=user)(sAMAccountName={username}))" }
        groups = { search = { base = "DC=corp,DC=example,DC=com", member_attribute = "member", nesting = "in_chain" } }
        "#,
    )
    .unwrap();
    assert_eq!(
        c.user_filter.user("j*").to_string(),
        r"(&(objectClass=user)(sAMAccountName=j\2a))"
    );
    assert!(matches!(
        c.groups,
        GroupLookup::Search {
            nesting: Nesting::InChain,
            ..
        }
    ));
}

#[test]
fn invalid_values_are_refused_when_read() {
    for bad in [
        r#"user_base = "cn=a,,dc=b"
           user_filter = "uid""#,
        r#"user_base = "dc=b"
           user_filter = { attribute = "u id" }"#,
        r#"user_base = "dc=b"
           user_filter = { custom = "({username}=x)" }"#,
        r#"user_base = "dc=b"
           user_filter = { custom = "(uid=nobody)" }"#,
    ] {
        assert!(toml::from_str::<DirectoryConfig>(bad).is_err(), "{bad}");
    }
}
