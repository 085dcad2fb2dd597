#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod ad;
mod auth;
mod ber;
mod dn;
mod filter;
mod message;
mod password;
#[cfg(feature = "serde")]
mod serde_impls;
mod template;

pub use ad::AdBindError;
pub use auth::{
    AttributeMapping, AuthFailure, AuthenticatedUser, Authenticator, DEFAULT_SEARCH_TIME_LIMIT,
    DirectoryConfig, GroupLookup, MAX_GROUPS, Nesting, ServiceAccount, Step, UserFacingFailure,
};
pub use ber::{BerError, DEFAULT_MAX_MESSAGE_SIZE, MAX_NESTING, frame_len};
pub use dn::{
    Ava, Dn, DnError, MAX_DN_LEN, Rdn, escape_value as escape_dn_value,
    escape_value_into as escape_dn_value_into,
};
pub use filter::{
    Attribute, Filter, FilterError, MATCHING_RULE_IN_CHAIN, MAX_FILTER_DEPTH, MAX_FILTER_LEN,
    Substrings, escape_value as escape_filter_value, escape_value_into as escape_filter_value_into,
};
pub use message::{
    BindAuthentication, BindRequest, BindResponse, Control, DerefAliases, ExtendedRequest,
    ExtendedResponse, LdapMessage, LdapResult, MAX_MESSAGE_ID, OID_NOTICE_OF_DISCONNECTION,
    OID_START_TLS, OID_WHO_AM_I, PartialAttribute, ProtocolOp, ResultCode, Scope, SearchRequest,
    SearchResultEntry,
};
pub use password::Password;
pub use template::{FilterTemplate, TemplateError, USERNAME_PLACEHOLDER, UserFilter};

/// Entry points for the fuzz targets (`ldap-auth/fuzz/`), not for applications: the
/// filter codec on its own, outside an `LdapMessage`.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::message::{decode_filter_bytes, encode_filter};
}

#[cfg(doctest)]
#[doc = include_str!("../../docs/ldap.md")]
struct GuideLdapDoctests;
