//! The result of an assessment: an action, a score, the reasons and the alerts.

use std::fmt;

use ipnet::IpNet;

use crate::{Audience, ChallengeType, CountryCode, RegisteredDevice, Weekday};

/// What the server should do with the login.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Let the user in (after whatever the login policy requires).
    Allow,
    /// Ask for one of these challenges first.
    Challenge {
        /// Allowed challenge types, in order of preference.
        types: Vec<ChallengeType>,
    },
    /// Refuse, showing the configured message.
    Deny {
        /// The message for the user.
        message: String,
    },
}

impl Action {
    /// 0 for allow, 1 for challenge, 2 for deny.
    pub fn severity(&self) -> u8 {
        match self {
            Action::Allow => 0,
            Action::Challenge { .. } => 1,
            Action::Deny { .. } => 2,
        }
    }
}

/// Which rule produced a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleKind {
    /// The network allow and block lists.
    Networks,
    /// The blocked countries.
    Countries,
    /// The registered-device trust.
    TrustedDevice,
    /// The device-count limit.
    DeviceLimit,
    /// New or no longer trusted device.
    NewDevice,
    /// New network.
    NewNetwork,
    /// New country.
    NewCountry,
    /// Impossible travel.
    ImpossibleTravel,
    /// Time-of-day windows.
    TimeOfDay,
}

impl RuleKind {
    /// The rule's name as in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Networks => "networks",
            RuleKind::Countries => "countries",
            RuleKind::TrustedDevice => "trusted_devices",
            RuleKind::DeviceLimit => "device_limit",
            RuleKind::NewDevice => "new_device",
            RuleKind::NewNetwork => "new_network",
            RuleKind::NewCountry => "new_country",
            RuleKind::ImpossibleTravel => "impossible_travel",
            RuleKind::TimeOfDay => "time_of_day",
        }
    }
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Finding {
    /// The address is in a trusted list; the risk rules were skipped.
    TrustedNetwork {
        /// The list.
        list: String,
        /// The most specific matching range.
        range: IpNet,
    },
    /// The address is in a blocked list.
    BlockedNetwork {
        /// The list.
        list: String,
        /// The most specific matching range.
        range: IpNet,
    },
    /// The address is in a blocked country.
    BlockedCountry {
        /// The country.
        country: CountryCode,
    },
    /// The device is registered and trusted; new-device, new-network and new-country rules
    /// were skipped.
    TrustedDevice {
        /// The device.
        device: String,
    },
    /// The device is not registered and the user already has the most devices allowed.
    DeviceLimitExceeded {
        /// Devices registered.
        registered: usize,
        /// The limit.
        limit: u32,
    },
    /// The device is not registered (or the client sent no device identifier).
    NewDevice,
    /// The device is registered but its trust has expired.
    DeviceTrustExpired {
        /// The device.
        device: String,
    },
    /// No past login came from this network.
    NewNetwork {
        /// The client's network.
        network: IpNet,
    },
    /// No past login came from this country.
    NewCountry {
        /// The country.
        country: CountryCode,
    },
    /// The move since the previous located login was too fast.
    ImpossibleTravel {
        /// Distance in km.
        km: f64,
        /// Time since that login in hours.
        hours: f64,
    },
    /// The login is outside every time window.
    OutsideTimeWindow {
        /// Local day.
        weekday: Weekday,
        /// Local minute of the day (0..1440).
        minute: u16,
    },
}

impl Finding {
    /// The rule that made this finding.
    pub fn rule(&self) -> RuleKind {
        match self {
            Finding::TrustedNetwork { .. } | Finding::BlockedNetwork { .. } => RuleKind::Networks,
            Finding::BlockedCountry { .. } => RuleKind::Countries,
            Finding::TrustedDevice { .. } => RuleKind::TrustedDevice,
            Finding::DeviceLimitExceeded { .. } => RuleKind::DeviceLimit,
            Finding::NewDevice | Finding::DeviceTrustExpired { .. } => RuleKind::NewDevice,
            Finding::NewNetwork { .. } => RuleKind::NewNetwork,
            Finding::NewCountry { .. } => RuleKind::NewCountry,
            Finding::ImpossibleTravel { .. } => RuleKind::ImpossibleTravel,
            Finding::OutsideTimeWindow { .. } => RuleKind::TimeOfDay,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::TrustedNetwork { list, range } => {
                write!(f, "address in trusted range {range} of `{list}`")
            }
            Finding::BlockedNetwork { list, range } => {
                write!(f, "address in blocked range {range} of `{list}`")
            }
            Finding::BlockedCountry { country } => {
                write!(f, "login from blocked country {country}")
            }
            Finding::TrustedDevice { device } => write!(f, "trusted device `{device}`"),
            Finding::DeviceLimitExceeded { registered, limit } => write!(
                f,
                "unregistered device with {registered} devices registered (limit {limit})"
            ),
            Finding::NewDevice => f.write_str("unregistered device"),
            Finding::DeviceTrustExpired { device } => {
                write!(f, "trust of device `{device}` has expired")
            }
            Finding::NewNetwork { network } => write!(f, "first login from network {network}"),
            Finding::NewCountry { country } => write!(f, "first login from country {country}"),
            Finding::ImpossibleTravel { km, hours } => {
                write!(f, "{km:.0} km from the previous login in {hours:.2} h")
            }
            Finding::OutsideTimeWindow { weekday, minute } => write!(
                f,
                "login at {weekday:?} {:02}:{:02}, outside the allowed hours",
                minute / 60,
                minute % 60
            ),
        }
    }
}

/// What a fired rule contributes to the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Effect {
    /// Nothing stricter (trust findings).
    Allow,
    /// A challenge.
    Challenge,
    /// A denial.
    Deny,
    /// An alert, no stricter action.
    AllowAndAlert,
}

/// One rule that fired, what it found and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// What the rule found.
    pub finding: Finding,
    /// What it contributed.
    pub effect: Effect,
    /// What it added to the score.
    pub weight: u8,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({:?})",
            self.finding.rule().as_str(),
            self.finding,
            self.effect
        )
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertKind {
    /// A rule fired that is configured to alert.
    RuleFired(RuleKind),
    /// A challenge was passed; the device was registered or its trust renewed.
    ChallengeCompleted,
    /// A challenge was failed.
    ChallengeFailed,
    /// A challenge was passed but the device limit stopped the device from being registered.
    RegistrationRefused,
}

/// A notice for the server to send as an e-mail or log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// Who it is for.
    pub audience: Audience,
    /// The user concerned.
    pub user: String,
    /// The application the user was logging in to.
    pub application: String,
    /// A one-line text, for example "device limit exceeded for alice".
    pub message: String,
}

/// The outcome of an assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// What to do.
    pub action: Action,
    /// Sum of the weights of the rules that fired, at most 100.
    pub score: u8,
    /// Every rule that fired, in evaluation order.
    pub reasons: Vec<Reason>,
    /// Notices to send.
    pub alerts: Vec<Alert>,
}

/// What happened to the device after a passed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Registration {
    /// A new device: store it with the user's devices.
    Registered(RegisteredDevice),
    /// A known device: replace the stored one with this (trust renewed).
    Renewed(RegisteredDevice),
    /// The device limit is reached; nothing to store.
    LimitReached {
        /// The limit.
        limit: u32,
    },
    /// The client sent no device identifier; nothing to store.
    NoDevice,
}

/// The result of [`RiskEvaluator::challenge_passed`](crate::RiskEvaluator::challenge_passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeOutcome {
    /// The device registration to store, if any.
    pub registration: Registration,
    /// Notices to send.
    pub alerts: Vec<Alert>,
}
