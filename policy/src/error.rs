//! The one error type of this crate: what is wrong with a configuration, and where.

/// A configuration that cannot be used, naming the policy (or section) and the field at fault.
///
/// The default policy is named `default` in these messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name is empty (an application id, group, directory, zone or policy name).
    #[error("{kind} #{index} has an empty name")]
    EmptyName {
        /// What kind of thing: `application`, `group`, `directory`, `zone` or `policy`.
        kind: &'static str,
        /// Its position in its list, from 0.
        index: usize,
    },
    /// The same name is declared twice.
    #[error("{kind} `{name}` is declared more than once")]
    DuplicateName {
        /// What kind of thing: `application`, `group`, `directory`, `zone` or `policy`.
        kind: &'static str,
        /// The repeated name.
        name: String,
    },
    /// A directory is named `local`, which is reserved for the local password store.
    #[error("directory name `local` is reserved for the local password store")]
    ReservedDirectoryName,
    /// A policy names an application that is not declared in `applications`.
    #[error("policy `{policy}`: field `applications` names unknown application `{name}`")]
    UnknownApplication {
        /// The policy.
        policy: String,
        /// The unknown application id.
        name: String,
    },
    /// A policy names a group that is not declared in `groups`.
    #[error("policy `{policy}`: field `groups` names unknown group `{name}`")]
    UnknownGroup {
        /// The policy.
        policy: String,
        /// The unknown group.
        name: String,
    },
    /// A policy names a network zone that is not declared in `zones`.
    #[error("policy `{policy}`: field `zones` names unknown zone `{name}`")]
    UnknownZone {
        /// The policy.
        policy: String,
        /// The unknown zone.
        name: String,
    },
    /// A policy names an authentication source that is neither `local` nor a declared directory.
    #[error("policy `{policy}`: field `{field}` names unknown directory `{name}`")]
    UnknownDirectory {
        /// The policy.
        policy: String,
        /// `sources` or `first_factor`.
        field: &'static str,
        /// The unknown directory.
        name: String,
    },
    /// A condition list is present but empty, so the policy could never match.
    #[error(
        "policy `{policy}`: field `{field}` is an empty list and matches nothing (omit it to match any)"
    )]
    EmptyCondition {
        /// The policy.
        policy: String,
        /// The field: `applications`, `groups`, `zones` or `sources`.
        field: &'static str,
    },
    /// A second factor is required (always or if risky) but no method is allowed.
    #[error("policy `{policy}`: field `methods` is empty but a second factor is required")]
    EmptyMethods {
        /// The policy.
        policy: String,
    },
    /// Methods are listed but the second factor is `none`, so they would never be used.
    #[error("policy `{policy}`: field `methods` is set but `second_factor` is `none`")]
    MethodsWithoutSecondFactor {
        /// The policy.
        policy: String,
    },
    /// A device would be remembered for more than a year.
    #[error("policy `{policy}`: field `remember_device_days` is {days}; at most 365")]
    RememberTooLong {
        /// The policy (`default` for the default policy).
        policy: String,
        /// The value given.
        days: u32,
    },
    /// The same method is listed twice.
    #[error("policy `{policy}`: field `methods` lists `{method}` twice")]
    DuplicateMethod {
        /// The policy.
        policy: String,
        /// The repeated method.
        method: String,
    },
    /// Every login this policy matches is already matched by an earlier policy.
    #[error(
        "policy `{policy}` can never match: every login it matches is matched first by policy `{by}`"
    )]
    Shadowed {
        /// The unreachable policy.
        policy: String,
        /// The earlier policy that takes all its logins.
        by: String,
    },
    /// A zone range is not a CIDR range such as `192.0.2.0/24` or `2001:db8::/32`.
    #[error("zone `{zone}`: range #{index} `{value}` is not a CIDR range")]
    InvalidRange {
        /// The zone.
        zone: String,
        /// Position of the range in the zone's list, from 0.
        index: usize,
        /// The text that did not parse.
        value: String,
    },
    /// A lockout setting is out of range.
    #[error("lockout.{scope}: field `{field}` {problem}")]
    Lockout {
        /// `user` or `source`.
        scope: &'static str,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}
