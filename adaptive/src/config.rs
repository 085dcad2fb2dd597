//! The configuration an administrator writes. [`AdaptiveConfig::compile`] checks it and
//! builds a [`RuleSet`](crate::RuleSet).
//!
//! Every rule section is optional; an absent section is a rule that never fires.

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum RuleAction {
    /// Ask for a challenge before letting the user in.
    Challenge,
    /// Refuse the login.
    Deny,
    /// Let the user in and raise an alert.
    AllowAndAlert,
}

/// Who an alert is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Audience {
    /// The administrators.
    Admins,
    /// The user whose login it is.
    User,
    /// Both.
    Both,
}

/// A way to answer a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ChallengeType {
    /// The user's enrolled second factor (TOTP, hardware token, ...).
    SecondFactor,
    /// The user's security questions.
    SecurityQuestions,
    /// A one-time code sent to the user's alternate e-mail address.
    AlternateEmailOtp,
}

/// Whether a network list trusts or blocks its ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum NetworkAction {
    /// Trusted: logins from here skip the risk rules (blocks still apply).
    Allow,
    /// Blocked: logins from here are denied, whatever else holds.
    Block,
}

/// A named list of CIDR ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct NetworkList {
    /// The name shown in reasons.
    pub name: String,
    /// Trust or block.
    pub action: NetworkAction,
    /// IPv4 or IPv6 CIDR ranges such as `203.0.113.0/24` or `2001:db8::/32`.
    pub ranges: Vec<String>,
}

/// Countries whose logins are denied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct CountryRule {
    /// Two-letter country codes.
    pub blocked: Vec<String>,
}

/// The most devices a user may register, and what happens at a login from another device
/// once the limit is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct DeviceLimitRule {
    /// The limit, at least 1.
    pub max_devices: u32,
    /// What to do with a login from an unregistered device when the limit is reached.
    pub action: RuleAction,
    /// Who is told (every time the rule fires).
    #[cfg_attr(feature = "serde", serde(default = "admins"))]
    pub alert: Audience,
    /// Added to the score when the rule fires.
    #[cfg_attr(feature = "serde", serde(default = "weight_device_limit"))]
    pub weight: u8,
    /// Applications the rule applies to (every application if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub applications: Option<Vec<String>>,
}

/// A rule with an action, an optional alert and a score weight (new device, new network, new
/// country).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct SimpleRule {
    /// What to do when it fires.
    pub action: RuleAction,
    /// Who is told when it fires (`allow_and_alert` without this tells the administrators).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub alert: Option<Audience>,
    /// Added to the score when the rule fires.
    #[cfg_attr(feature = "serde", serde(default = "weight_default"))]
    pub weight: u8,
    /// Applications the rule applies to (every application if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub applications: Option<Vec<String>>,
}

/// Fires when the client's network (the address cut to a prefix) is not among the networks of
/// the user's past logins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct NewNetworkRule {
    /// What to do when it fires.
    pub action: RuleAction,
    /// Who is told when it fires.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub alert: Option<Audience>,
    /// Added to the score when the rule fires.
    #[cfg_attr(feature = "serde", serde(default = "weight_default"))]
    pub weight: u8,
    /// Prefix length that makes an IPv4 network (default 24).
    #[cfg_attr(feature = "serde", serde(default = "v4_prefix"))]
    pub ipv4_prefix: u8,
    /// Prefix length that makes an IPv6 network (default 48).
    #[cfg_attr(feature = "serde", serde(default = "v6_prefix"))]
    pub ipv6_prefix: u8,
    /// Applications the rule applies to (every application if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub applications: Option<Vec<String>>,
}

/// Fires when the speed needed to travel from the previous login's location to this one
/// exceeds a threshold.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ImpossibleTravelRule {
    /// Fastest believable travel, in km/h (for example 1000 for air travel).
    pub max_speed_kmh: f64,
    /// Distances below this are ignored (GeoIP locations are coarse); default 100 km.
    #[cfg_attr(feature = "serde", serde(default = "min_distance"))]
    pub min_distance_km: f64,
    /// What to do when it fires.
    pub action: RuleAction,
    /// Who is told when it fires.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub alert: Option<Audience>,
    /// Added to the score when the rule fires.
    #[cfg_attr(feature = "serde", serde(default = "weight_travel"))]
    pub weight: u8,
    /// Applications the rule applies to (every application if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub applications: Option<Vec<String>>,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    /// All days, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
}

/// Hours in which logins are expected on the given days. `start` and `end` are `HH:MM`;
/// `end` is exclusive and may be `24:00`; an `end` before `start` runs past midnight into
/// the next day.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct TimeWindow {
    /// The days the window starts on.
    pub days: Vec<Weekday>,
    /// Start, `HH:MM`.
    pub start: String,
    /// End (exclusive), `HH:MM`.
    pub end: String,
}

/// Fires when a login falls outside every window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct TimeOfDayRule {
    /// The local time zone of the windows, as an offset from UTC in minutes.
    #[cfg_attr(feature = "serde", serde(default))]
    pub utc_offset_minutes: i32,
    /// The windows; at least one.
    pub windows: Vec<TimeWindow>,
    /// What to do when it fires.
    pub action: RuleAction,
    /// Who is told when it fires.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub alert: Option<Audience>,
    /// Added to the score when the rule fires.
    #[cfg_attr(feature = "serde", serde(default = "weight_default"))]
    pub weight: u8,
    /// Applications the rule applies to (every application if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub applications: Option<Vec<String>>,
}

/// How long a device that passed a challenge stays trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct TrustSettings {
    /// Seconds of trust after a passed challenge (default 30 days).
    pub trust_secs: u64,
}

impl Default for TrustSettings {
    fn default() -> Self {
        TrustSettings {
            trust_secs: 30 * 24 * 60 * 60,
        }
    }
}

/// Who is told about challenge outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct AlertSettings {
    /// A challenge was passed (and the device registered or renewed).
    pub challenge_completed: Audience,
    /// A challenge was failed.
    pub challenge_failed: Audience,
    /// A passed challenge could not register the device because of the device limit.
    pub registration_refused: Audience,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            challenge_completed: Audience::User,
            challenge_failed: Audience::Both,
            registration_refused: Audience::Admins,
        }
    }
}

/// Everything an administrator configures for adaptive authentication.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct AdaptiveConfig {
    /// The message a denied user sees.
    #[cfg_attr(feature = "serde", serde(default = "deny_message"))]
    pub deny_message: String,
    /// How a challenge may be answered, in order of preference.
    #[cfg_attr(feature = "serde", serde(default = "challenge_types"))]
    pub challenge_types: Vec<ChallengeType>,
    /// Trusted and blocked networks.
    #[cfg_attr(feature = "serde", serde(default))]
    pub networks: Vec<NetworkList>,
    /// Blocked countries.
    #[cfg_attr(feature = "serde", serde(default))]
    pub countries: CountryRule,
    /// Device-count limit.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub device_limit: Option<DeviceLimitRule>,
    /// Login from a device that is not registered, or whose trust has expired.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub new_device: Option<SimpleRule>,
    /// Login from a network the user has not logged in from.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub new_network: Option<NewNetworkRule>,
    /// Login from a country the user has not logged in from.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub new_country: Option<SimpleRule>,
    /// Too fast a move since the previous login.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub impossible_travel: Option<ImpossibleTravelRule>,
    /// Login outside the expected hours.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub time_of_day: Option<TimeOfDayRule>,
    /// Trusted-device duration.
    #[cfg_attr(feature = "serde", serde(default))]
    pub trusted_devices: TrustSettings,
    /// Audiences of the challenge-outcome alerts.
    #[cfg_attr(feature = "serde", serde(default))]
    pub alerts: AlertSettings,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            deny_message: deny_message(),
            challenge_types: challenge_types(),
            networks: Vec::new(),
            countries: CountryRule::default(),
            device_limit: None,
            new_device: None,
            new_network: None,
            new_country: None,
            impossible_travel: None,
            time_of_day: None,
            trusted_devices: TrustSettings::default(),
            alerts: AlertSettings::default(),
        }
    }
}

/// Score weights: what a fired rule adds to [`Assessment::score`](crate::Assessment) when the
/// configuration does not say otherwise.
pub mod weights {
    /// A blocked network or country (not configurable).
    pub const BLOCKED: u8 = 100;
    /// The device limit.
    pub const DEVICE_LIMIT: u8 = 40;
    /// New device, new network, new country and time of day.
    pub const DEFAULT: u8 = 25;
    /// Impossible travel.
    pub const TRAVEL: u8 = 70;
}

fn deny_message() -> String {
    "Access denied. Contact your administrator.".to_owned()
}
fn challenge_types() -> Vec<ChallengeType> {
    vec![ChallengeType::SecondFactor]
}
#[cfg(feature = "serde")]
fn admins() -> Audience {
    Audience::Admins
}
#[cfg(feature = "serde")]
fn weight_device_limit() -> u8 {
    weights::DEVICE_LIMIT
}
#[cfg(feature = "serde")]
fn weight_default() -> u8 {
    weights::DEFAULT
}
#[cfg(feature = "serde")]
fn weight_travel() -> u8 {
    weights::TRAVEL
}
#[cfg(feature = "serde")]
fn v4_prefix() -> u8 {
    24
}
#[cfg(feature = "serde")]
fn v6_prefix() -> u8 {
    48
}
#[cfg(feature = "serde")]
fn min_distance() -> f64 {
    100.0
}
