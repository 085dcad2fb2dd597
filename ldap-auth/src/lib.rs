#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod ber;
pub mod dn;
pub mod filter;
pub mod message;
pub mod password;

pub use ber::BerError;
pub use dn::{Ava, Dn, DnError, Rdn};
pub use filter::{Attribute, Filter, FilterError, Substrings};
pub use message::{LdapMessage, LdapResult, ProtocolOp, ResultCode};
pub use password::Password;
