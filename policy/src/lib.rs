#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod lockout;
mod model;
mod set;

pub use error::Error;
pub use lockout::{Gate, LockoutRule, LockoutSettings, LockoutState};
pub use model::{
    AppKind, Application, DefaultPolicy, FirstFactor, Method, Policy, PolicyConfig, SecondFactor,
    Zone,
};
pub use set::{AuthSource, Decision, LoginRequest, Matched, PolicySet};

#[cfg(doctest)]
#[doc = include_str!("../../docs/policy.md")]
struct GuidePolicyDoctests;
