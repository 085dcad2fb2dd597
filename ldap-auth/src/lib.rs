#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod ad;
pub mod auth;
pub mod ber;
pub mod dn;
pub mod filter;
pub mod message;
pub mod password;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod template;

pub use ad::AdBindError;
pub use auth::{
    AttributeMapping, AuthFailure, AuthenticatedUser, Authenticator, DirectoryConfig, GroupLookup,
    Nesting, ServiceAccount, Step, UserFacingFailure,
};
pub use ber::BerError;
pub use dn::{Ava, Dn, DnError, Rdn};
pub use filter::{Attribute, Filter, FilterError, Substrings};
pub use message::{LdapMessage, LdapResult, ProtocolOp, ResultCode};
pub use password::Password;
pub use template::{FilterTemplate, TemplateError, UserFilter};

#[cfg(doctest)]
#[doc = include_str!("../../docs/ldap.md")]
struct GuideLdapDoctests;
