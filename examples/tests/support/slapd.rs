//! The directory the examples crate's tests run against: the shared throw-away slapd of
//! `idforge-test-support` loaded with this crate's seed ([`SEED_LDIF`]).
//!
//! Include it with `#[path = "support/slapd.rs"] mod slapd;`.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub(crate) use idforge_test_support::{
    ADMIN_DN, ADMIN_PASSWORD, LDAPADD, SLAPD, SUFFIX, Slapd, TestCa,
};

pub(crate) const SERVICE_DN: &str = "cn=service,dc=example,dc=com";
pub(crate) const SERVICE_PASSWORD: &str = "service-pw";
pub(crate) const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub(crate) const GROUPS: &str = "ou=groups,dc=example,dc=com";

/// The seed: a service account; alice (display name, two mails, phone, employee number; in
/// `VPN_Group` and `staff`, and through `VPN_Group` in `admins`), bob (in `staff`), carol
/// (in no group), and a user whose DN has an escaped comma.
pub(crate) const SEED_LDIF: &str = r"dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=service,dc=example,dc=com
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: service
userPassword: service-pw

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
displayName: Alice Liddell
mail: alice@example.com
mail: a.liddell@example.com
telephoneNumber: +1 555 0100
employeeNumber: 1001
userPassword: alice-pw

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@example.com
userPassword: bob-pw

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol Singer
sn: Singer
userPassword: carol-pw

dn: cn=Doe\, Jane,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: jdoe
cn: Doe, Jane
sn: Doe
userPassword: jane-pw

dn: cn=VPN_Group,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: VPN_Group
member: uid=alice,ou=people,dc=example,dc=com

dn: cn=staff,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: cn=VPN_Group,ou=groups,dc=example,dc=com
";

/// Whether `programs` are installed: when one is missing, fails under CI and otherwise
/// skips with a message.
pub(crate) fn peers_present(test: &str, programs: &[&str]) -> bool {
    idforge_test_support::programs_present(test, programs, "slapd, ldap-utils, openssl")
}

/// [`peers_present`] for slapd and ldapadd.
pub(crate) fn slapd_present(test: &str) -> bool {
    Slapd::present(test)
}

/// Clear text only, seeded with [`SEED_LDIF`].
pub(crate) fn start() -> Slapd {
    Slapd::start(SEED_LDIF)
}

/// With a throw-away CA (StartTLS, `ldaps://`, no simple bind without TLS), seeded with
/// [`SEED_LDIF`]. Needs `openssl`.
pub(crate) fn start_tls() -> Slapd {
    Slapd::start_tls(SEED_LDIF)
}
