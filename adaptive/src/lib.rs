#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assessment;
pub mod cidr;
mod config;
mod country;
mod error;
mod rules;
mod signals;

pub use assessment::{
    Action, Alert, AlertKind, Assessment, ChallengeOutcome, Effect, Finding, Reason, Registration,
    RuleKind,
};
pub use cidr::CidrMap;
pub use config::{
    AdaptiveConfig, AlertSettings, Audience, ChallengeType, CountryRule, DeviceLimitRule,
    ImpossibleTravelRule, NetworkAction, NetworkList, NewNetworkRule, RuleAction, SimpleRule,
    TimeOfDayRule, TimeWindow, TrustSettings, Weekday, weights,
};
pub use country::{CountryCode, InvalidCountryCode};
pub use error::Error;
pub use rules::{RiskEvaluator, RuleSet};
pub use signals::{GeoPoint, LoginAttempt, PastLogin, RegisteredDevice};
