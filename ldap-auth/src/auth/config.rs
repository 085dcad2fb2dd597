//! What an administrator configures for a directory: where users live, how the typed name
//! finds them, the service account, mapped attributes and the group lookup.

use crate::ber::DEFAULT_MAX_MESSAGE_SIZE;
use crate::dn::Dn;
use crate::filter::Attribute;
use crate::password::Password;
use crate::template::UserFilter;

/// The service account the flow binds as to search (omit it to search anonymously).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceAccount {
    /// Its DN.
    pub dn: Dn,
    /// Its password (read from configuration, never written back out).
    #[cfg_attr(feature = "serde", serde(skip_serializing, default))]
    pub password: Password,
}

/// A directory attribute copied into [`AuthenticatedUser::attributes`](super::AuthenticatedUser::attributes) under another name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AttributeMapping {
    /// The directory attribute (`mail`, `displayName`, `memberOf`, `employeeNumber` …).
    pub ldap: Attribute,
    /// The name it gets in the result (`email`, `name` …).
    pub name: String,
}

/// How nested groups are resolved when groups are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Nesting {
    /// Direct membership only: one search `(member=<user>)`.
    Direct,
    /// Any directory: search `(member=<user>)`, then `(|(member=<g1>)…)` for each new level,
    /// skipping groups already seen (cycles end), failing when groups remain after
    /// `max_depth` levels.
    Iterative {
        /// Levels of groups followed (1 = direct membership).
        max_depth: usize,
    },
    /// Active Directory only: one search with `LDAP_MATCHING_RULE_IN_CHAIN`. OpenLDAP answers
    /// it with success and no entries, so this is never chosen automatically.
    InChain,
}

/// Where groups come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum GroupLookup {
    /// No groups.
    #[default]
    None,
    /// The DNs in an attribute of the user's entry (`memberOf`; direct membership only).
    MemberOf {
        /// The attribute (usually `memberOf`).
        attribute: Attribute,
    },
    /// Search the groups that list the user (and, with nesting, the groups that list those).
    Search {
        /// Where groups live.
        base: Dn,
        /// The group attribute that holds member DNs (`member`, `uniqueMember`).
        member_attribute: Attribute,
        /// How nesting is followed.
        nesting: Nesting,
    },
}

/// What the flow needs to know about the directory.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DirectoryConfig {
    /// Send StartTLS first (use `false` with `ldaps://`, where TLS is already there).
    #[cfg_attr(feature = "serde", serde(default = "default_true"))]
    pub start_tls: bool,
    /// The account to search with; `None` searches anonymously.
    #[cfg_attr(feature = "serde", serde(default))]
    pub service_account: Option<ServiceAccount>,
    /// Where users live.
    pub user_base: Dn,
    /// How the typed name finds the entry.
    pub user_filter: UserFilter,
    /// Attributes copied into the result.
    #[cfg_attr(feature = "serde", serde(default))]
    pub attributes: Vec<AttributeMapping>,
    /// Groups.
    #[cfg_attr(feature = "serde", serde(default))]
    pub groups: GroupLookup,
    /// After the user bind, ask "Who am I?" (RFC 4532) and require the answer to name the
    /// entry that was found (when it answers with a `dn:` authzId).
    #[cfg_attr(feature = "serde", serde(default))]
    pub confirm_identity: bool,
    /// timeLimit sent with searches, in seconds (0: none).
    #[cfg_attr(feature = "serde", serde(default = "default_time_limit"))]
    pub search_time_limit: i32,
    /// Largest message accepted from the server, in bytes.
    #[cfg_attr(feature = "serde", serde(default = "default_max_message_size"))]
    pub max_message_size: usize,
}

#[cfg(feature = "serde")]
fn default_true() -> bool {
    true
}

#[cfg(feature = "serde")]
fn default_time_limit() -> i32 {
    DEFAULT_SEARCH_TIME_LIMIT
}

#[cfg(feature = "serde")]
fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}

/// Most group DNs (found entries, counted across nesting levels) the group lookup collects
/// before it fails with [`AuthFailure::TooManyGroups`](super::AuthFailure::TooManyGroups).
pub const MAX_GROUPS: usize = 4096;

/// timeLimit sent with searches unless configured, in seconds.
pub const DEFAULT_SEARCH_TIME_LIMIT: i32 = 10;

impl DirectoryConfig {
    /// A configuration with StartTLS on, no groups, no mapped attributes.
    pub fn new(user_base: Dn, user_filter: UserFilter) -> Self {
        Self {
            start_tls: true,
            service_account: None,
            user_base,
            user_filter,
            attributes: Vec::new(),
            groups: GroupLookup::None,
            confirm_identity: false,
            search_time_limit: DEFAULT_SEARCH_TIME_LIMIT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}
