#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
mod error;
mod hotp;
pub mod migration;
#[cfg(feature = "yubico")]
mod personalization_log;
#[cfg(feature = "qr")]
mod qr;
mod secret;
mod totp;
mod uri;
#[cfg(feature = "yubico")]
mod yubico;

pub use algorithm::Algorithm;
pub use error::{Error, MigrationEntryError, MigrationError, UriError};
pub use hotp::{Code, Digits, Hotp, HotpAccepted, HotpVerifier};
#[cfg(feature = "yubico")]
pub use personalization_log::{
    PersonalizationLog, PersonalizationLogError, PersonalizationLogField,
    PersonalizationLogLineError, ProvisionedKey, SkippedLine, parse_personalization_log,
};
pub use secret::Secret;
pub use totp::{Rejected, Totp, TotpAccepted, TotpVerifier};
pub use uri::{DEFAULT_PERIOD, KeyUri, OtpKind};
#[cfg(feature = "yubico")]
pub use yubico::{YubicoCounters, YubicoError, YubicoKey, YubicoOtp, YubicoToken};

#[cfg(doctest)]
#[doc = include_str!("../../docs/otp.md")]
struct GuideOtpDoctests;
