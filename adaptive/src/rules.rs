//! The compiled rule set and the evaluator trait.
//!
//! Evaluation order and precedence:
//! 1. Blocked networks and blocked countries deny, whatever else holds.
//! 2. An address in a trusted network skips every other rule (it can only relax a decision).
//! 3. Device: a registered, trusted device skips the new-device, new-network and new-country
//!    rules; an unregistered device is checked against the device limit (when the limit is
//!    reached that rule fires instead of the new-device rule); a registered device whose
//!    trust expired fires the new-device rule.
//! 4. New network, new country, impossible travel, time of day.
//!
//! The action is the strictest effect of the rules that fired (deny over challenge over
//! allow); `allow_and_alert` only adds an alert.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::assessment::{
    Action, Alert, AlertKind, Assessment, ChallengeOutcome, Effect, Finding, Reason, Registration,
};
use crate::cidr::CidrMap;
use crate::config::{
    AdaptiveConfig, AlertSettings, Audience, ChallengeType, DeviceLimitRule, ImpossibleTravelRule,
    NetworkAction, NewNetworkRule, RuleAction, SimpleRule, TimeOfDayRule, Weekday, weights,
};
use crate::{CountryCode, Error, LoginAttempt, RegisteredDevice};

/// Anything that can assess a login: the built-in [`RuleSet`], or another backend (for
/// example a general policy engine) behind the same calls.
pub trait RiskEvaluator {
    /// Assesses one login attempt.
    fn assess(&self, attempt: &LoginAttempt<'_>) -> Assessment;

    /// The user passed the challenge: register the device (or renew its trust) if the limit
    /// allows, and say whom to tell.
    fn challenge_passed(&self, attempt: &LoginAttempt<'_>) -> ChallengeOutcome;

    /// The user failed the challenge: say whom to tell.
    fn challenge_failed(&self, attempt: &LoginAttempt<'_>) -> Vec<Alert>;
}

/// A rule's action, alert audience, weight and application scope, after validation.
#[derive(Debug, Clone)]
struct Fire {
    action: RuleAction,
    alert: Option<Audience>,
    weight: u8,
    /// Sorted; `None` applies to every application.
    applications: Option<Vec<String>>,
}

impl Fire {
    fn new(
        section: &'static str,
        action: RuleAction,
        alert: Option<Audience>,
        weight: u8,
        applications: Option<&Vec<String>>,
    ) -> Result<Fire, Error> {
        let applications = match applications {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(out_of_range(
                    section,
                    "applications",
                    "is empty (omit it to apply to every application)",
                ));
            }
            Some(list) => {
                let mut list = list.clone();
                list.sort_unstable();
                list.dedup();
                Some(list)
            }
        };
        Ok(Fire {
            action,
            alert,
            weight,
            applications,
        })
    }

    fn applies(&self, application: &str) -> bool {
        self.applications.as_ref().is_none_or(|apps| {
            apps.binary_search_by(|a| a.as_str().cmp(application))
                .is_ok()
        })
    }
}

fn simple_fire(section: &'static str, r: &SimpleRule) -> Result<Fire, Error> {
    Fire::new(
        section,
        r.action,
        r.alert,
        r.weight,
        r.applications.as_ref(),
    )
}

#[derive(Debug, Clone, Copy)]
struct Window {
    days: [bool; 7],
    start: u16,
    end: u16,
}

#[derive(Debug, Clone)]
struct Hours {
    offset_secs: i64,
    windows: Vec<Window>,
    fire: Fire,
}

#[derive(Debug, Clone)]
struct Travel {
    max_speed_kmh: f64,
    min_distance_km: f64,
    fire: Fire,
}

/// A validated adaptive configuration, ready to assess logins.
///
/// Built by [`AdaptiveConfig::compile`](crate::AdaptiveConfig::compile); logins are assessed
/// through the [`RiskEvaluator`] calls.
///
/// # Example
///
/// A login from a network the user has never logged in from is challenged; one from a
/// network of a past login is let in.
///
/// ```
/// use idforge_adaptive::{
///     Action, AdaptiveConfig, Finding, LoginAttempt, NewNetworkRule, PastLogin, RiskEvaluator,
///     RuleAction,
/// };
///
/// let rules = AdaptiveConfig {
///     new_network: Some(NewNetworkRule {
///         action: RuleAction::Challenge,
///         alert: None,
///         weight: 30,
///         ipv4_prefix: 24,
///         ipv6_prefix: 48,
///         applications: None,
///     }),
///     ..AdaptiveConfig::default()
/// }
/// .compile()?;
///
/// let history = [PastLogin {
///     at: 1_699_990_000,
///     ip: "198.51.100.20".parse()?,
///     country: None,
///     location: None,
/// }];
/// let attempt = LoginAttempt {
///     user: "alice",
///     application: "intranet",
///     now: 1_700_000_000,
///     ip: "198.51.100.77".parse()?, // same /24 as the past login
///     device: None,
///     country: None,
///     location: None,
///     registered_devices: &[],
///     history: &history,
/// };
/// assert_eq!(rules.assess(&attempt).action, Action::Allow);
///
/// let elsewhere = LoginAttempt { ip: "203.0.113.5".parse()?, ..attempt };
/// let assessment = rules.assess(&elsewhere);
/// assert!(matches!(assessment.action, Action::Challenge { .. }));
/// assert_eq!(assessment.score, 30);
/// assert_eq!(
///     assessment.reasons[0].finding,
///     Finding::NewNetwork { network: "203.0.113.0/24".parse()? }
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuleSet {
    deny_message: String,
    challenge_types: Vec<ChallengeType>,
    allow: CidrMap<u32>,
    block: CidrMap<u32>,
    list_names: Vec<String>,
    blocked_countries: Vec<CountryCode>,
    device_limit: Option<(u32, Fire)>,
    new_device: Option<Fire>,
    new_network: Option<(u8, u8, Fire)>,
    new_country: Option<Fire>,
    travel: Option<Travel>,
    hours: Option<Hours>,
    trust_secs: u64,
    alerts: AlertSettings,
}

fn out_of_range(section: &'static str, field: &'static str, problem: &'static str) -> Error {
    Error::OutOfRange {
        section,
        field,
        problem,
    }
}

/// Parses `HH:MM` into minutes of the day; `24:00` only when `end` is true.
fn parse_time(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    let minutes = h * 60 + m;
    let ok = m < 60 && (h < 24 || (end && minutes == 24 * 60));
    ok.then_some(minutes)
}

fn compile_hours(rule: &TimeOfDayRule) -> Result<Hours, Error> {
    if rule.windows.is_empty() {
        return Err(out_of_range(
            "time_of_day",
            "windows",
            "must list at least one window",
        ));
    }
    if rule.utc_offset_minutes.abs() > 18 * 60 {
        return Err(out_of_range(
            "time_of_day",
            "utc_offset_minutes",
            "must be within -1080..=1080",
        ));
    }
    let mut windows = Vec::with_capacity(rule.windows.len());
    for (i, w) in rule.windows.iter().enumerate() {
        let start = parse_time(&w.start, false).ok_or_else(|| Error::InvalidTime {
            window: i,
            field: "start",
            value: w.start.clone(),
        })?;
        let end = parse_time(&w.end, true).ok_or_else(|| Error::InvalidTime {
            window: i,
            field: "end",
            value: w.end.clone(),
        })?;
        if w.days.is_empty() {
            return Err(Error::EmptyWindow {
                window: i,
                problem: "field `days` is empty",
            });
        }
        if start == end {
            return Err(Error::EmptyWindow {
                window: i,
                problem: "`start` equals `end`",
            });
        }
        let mut days = [false; 7];
        for d in &w.days {
            days[*d as usize] = true;
        }
        windows.push(Window { days, start, end });
    }
    Ok(Hours {
        offset_secs: i64::from(rule.utc_offset_minutes) * 60,
        windows,
        fire: Fire::new(
            "time_of_day",
            rule.action,
            rule.alert,
            rule.weight,
            rule.applications.as_ref(),
        )?,
    })
}

fn compile_travel(rule: &ImpossibleTravelRule) -> Result<Travel, Error> {
    if !(rule.max_speed_kmh.is_finite() && rule.max_speed_kmh > 0.0) {
        return Err(out_of_range(
            "impossible_travel",
            "max_speed_kmh",
            "must be a positive number",
        ));
    }
    if !(rule.min_distance_km.is_finite() && rule.min_distance_km >= 0.0) {
        return Err(out_of_range(
            "impossible_travel",
            "min_distance_km",
            "must be zero or a positive number",
        ));
    }
    Ok(Travel {
        max_speed_kmh: rule.max_speed_kmh,
        min_distance_km: rule.min_distance_km,
        fire: Fire::new(
            "impossible_travel",
            rule.action,
            rule.alert,
            rule.weight,
            rule.applications.as_ref(),
        )?,
    })
}

fn compile_new_network(rule: &NewNetworkRule) -> Result<(u8, u8, Fire), Error> {
    if rule.ipv4_prefix > 32 {
        return Err(out_of_range(
            "new_network",
            "ipv4_prefix",
            "must be at most 32",
        ));
    }
    if rule.ipv6_prefix > 128 {
        return Err(out_of_range(
            "new_network",
            "ipv6_prefix",
            "must be at most 128",
        ));
    }
    Ok((
        rule.ipv4_prefix,
        rule.ipv6_prefix,
        Fire::new(
            "new_network",
            rule.action,
            rule.alert,
            rule.weight,
            rule.applications.as_ref(),
        )?,
    ))
}

fn compile_device_limit(rule: &DeviceLimitRule) -> Result<(u32, Fire), Error> {
    if rule.max_devices == 0 {
        return Err(out_of_range(
            "device_limit",
            "max_devices",
            "must be at least 1",
        ));
    }
    Ok((
        rule.max_devices,
        Fire::new(
            "device_limit",
            rule.action,
            Some(rule.alert),
            rule.weight,
            rule.applications.as_ref(),
        )?,
    ))
}

impl AdaptiveConfig {
    /// Checks the configuration and builds the lookup structures.
    ///
    /// Rejected: unnamed or repeated network lists, ranges that are not CIDR ranges,
    /// countries that are not two-letter codes, bad or empty time windows, out-of-range
    /// numbers (device limit 0, speed not positive, prefix too long, zero trust time), and an
    /// empty `challenge_types` list when some rule can challenge.
    pub fn compile(&self) -> Result<RuleSet, Error> {
        let mut allow = Vec::new();
        let mut block = Vec::new();
        let mut list_names: Vec<String> = Vec::with_capacity(self.networks.len());
        for (index, list) in self.networks.iter().enumerate() {
            if list.name.is_empty() {
                return Err(Error::EmptyName { index });
            }
            if list_names.contains(&list.name) {
                return Err(Error::DuplicateName {
                    name: list.name.clone(),
                });
            }
            let id = u32::try_from(index).unwrap_or(u32::MAX);
            for (i, value) in list.ranges.iter().enumerate() {
                let net: IpNet = value.trim().parse().map_err(|_| Error::InvalidRange {
                    list: list.name.clone(),
                    index: i,
                    value: value.clone(),
                })?;
                match list.action {
                    NetworkAction::Allow => allow.push((net, id)),
                    NetworkAction::Block => block.push((net, id)),
                }
            }
            list_names.push(list.name.clone());
        }
        let mut blocked_countries = Vec::with_capacity(self.countries.blocked.len());
        for (index, value) in self.countries.blocked.iter().enumerate() {
            blocked_countries.push(value.parse().map_err(|_| Error::InvalidCountry {
                index,
                value: value.clone(),
            })?);
        }
        blocked_countries.sort_unstable();
        blocked_countries.dedup();

        let device_limit = self
            .device_limit
            .as_ref()
            .map(compile_device_limit)
            .transpose()?;
        let new_device = self
            .new_device
            .as_ref()
            .map(|r| simple_fire("new_device", r))
            .transpose()?;
        let new_country = self
            .new_country
            .as_ref()
            .map(|r| simple_fire("new_country", r))
            .transpose()?;
        let new_network = self
            .new_network
            .as_ref()
            .map(compile_new_network)
            .transpose()?;
        let travel = self
            .impossible_travel
            .as_ref()
            .map(compile_travel)
            .transpose()?;
        let hours = self.time_of_day.as_ref().map(compile_hours).transpose()?;
        if self.trusted_devices.trust_secs == 0 {
            return Err(out_of_range(
                "trusted_devices",
                "trust_secs",
                "must be at least 1",
            ));
        }
        let fires = [
            device_limit.as_ref().map(|d| &d.1),
            new_device.as_ref(),
            new_network.as_ref().map(|n| &n.2),
            new_country.as_ref(),
            travel.as_ref().map(|t| &t.fire),
            hours.as_ref().map(|h| &h.fire),
        ];
        let can_challenge = fires
            .iter()
            .flatten()
            .any(|f| f.action == RuleAction::Challenge);
        if can_challenge && self.challenge_types.is_empty() {
            return Err(out_of_range(
                "adaptive",
                "challenge_types",
                "is empty but a rule can challenge",
            ));
        }
        Ok(RuleSet {
            deny_message: self.deny_message.clone(),
            challenge_types: self.challenge_types.clone(),
            allow: CidrMap::new(allow),
            block: CidrMap::new(block),
            list_names,
            blocked_countries,
            device_limit,
            new_device,
            new_network,
            new_country,
            travel,
            hours,
            trust_secs: self.trusted_devices.trust_secs,
            alerts: self.alerts,
        })
    }
}

/// The rule, if it applies to `application`.
fn in_scope<'a>(fire: Option<&'a Fire>, application: &str) -> Option<&'a Fire> {
    fire.filter(|f| f.applies(application))
}

/// The network of `ip` at the configured prefix lengths.
fn network_of(ip: IpAddr, v4: u8, v6: u8) -> IpNet {
    let ip = ip.to_canonical();
    let len = if ip.is_ipv4() { v4 } else { v6 };
    // The prefix lengths are validated, so this cannot fail; fall back to the host route.
    IpNet::new(ip, len).map_or_else(|_| IpNet::from(ip), |n| n.trunc())
}

/// The network of `ip` as a comparable number: the address with the host bits shifted out,
/// tagged with the family.
fn network_key(ip: IpAddr, v4: u8, v6: u8) -> (bool, u128) {
    match ip.to_canonical() {
        IpAddr::V4(a) => (
            false,
            u128::from(u32::from(a))
                .checked_shr(32 - u32::from(v4.min(32)))
                .unwrap_or(0),
        ),
        IpAddr::V6(a) => (
            true,
            u128::from(a)
                .checked_shr(128 - u32::from(v6.min(128)))
                .unwrap_or(0),
        ),
    }
}

/// Local weekday (Monday = 0) and minute of the day.
fn local_time(now: u64, offset_secs: i64) -> (usize, u16) {
    let t = i128::from(now) + i128::from(offset_secs);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // 1970-01-01 was a Thursday (index 3).
    let weekday = (days + 3).rem_euclid(7) as usize;
    (weekday, u16::try_from(secs / 60).unwrap_or(0))
}

impl Hours {
    fn inside(&self, now: u64) -> (bool, usize, u16) {
        let (day, minute) = local_time(now, self.offset_secs);
        let yesterday = (day + 6) % 7;
        let inside = self.windows.iter().any(|w| {
            if w.start < w.end {
                w.days[day] && w.start <= minute && minute < w.end
            } else {
                (w.days[day] && minute >= w.start) || (w.days[yesterday] && minute < w.end)
            }
        });
        (inside, day, minute)
    }
}

struct Collector<'a> {
    user: &'a str,
    application: &'a str,
    reasons: Vec<Reason>,
    alerts: Vec<Alert>,
}

impl Collector<'_> {
    fn trust(&mut self, finding: Finding) {
        self.reasons.push(Reason {
            finding,
            effect: Effect::Allow,
            weight: 0,
        });
    }

    fn fire(&mut self, finding: Finding, fire: &Fire) {
        let effect = match fire.action {
            RuleAction::Challenge => Effect::Challenge,
            RuleAction::Deny => Effect::Deny,
            RuleAction::AllowAndAlert => Effect::AllowAndAlert,
        };
        let audience = match (fire.alert, fire.action) {
            (Some(a), _) => Some(a),
            (None, RuleAction::AllowAndAlert) => Some(Audience::Admins),
            (None, _) => None,
        };
        if let Some(audience) = audience {
            let rule = finding.rule();
            let message = match &finding {
                Finding::DeviceLimitExceeded { .. } => {
                    format!("device limit exceeded for {}", self.user)
                }
                other => format!("{}: {other} for {}", rule.as_str(), self.user),
            };
            self.alerts.push(Alert {
                kind: AlertKind::RuleFired(rule),
                audience,
                user: self.user.to_owned(),
                application: self.application.to_owned(),
                message,
            });
        }
        self.reasons.push(Reason {
            finding,
            effect,
            weight: fire.weight,
        });
    }
}

impl RuleSet {
    /// The network, device and travel rules, skipped for trusted networks.
    fn risk_rules(&self, attempt: &LoginAttempt<'_>, out: &mut Collector<'_>) {
        let app = attempt.application;
        let new_device = in_scope(self.new_device.as_ref(), app);
        let known = attempt
            .device
            .and_then(|d| attempt.registered_devices.iter().find(|r| r.id == d));
        let trusted = known.is_some_and(|r| r.is_trusted(attempt.now));
        match known {
            Some(device) if trusted => out.trust(Finding::TrustedDevice {
                device: device.id.clone(),
            }),
            Some(device) => {
                if let Some(fire) = new_device {
                    out.fire(
                        Finding::DeviceTrustExpired {
                            device: device.id.clone(),
                        },
                        fire,
                    );
                }
            }
            None => {
                let registered = attempt.registered_devices.len();
                match &self.device_limit {
                    Some((limit, fire)) if fire.applies(app) && registered >= *limit as usize => {
                        let limit = *limit;
                        out.fire(Finding::DeviceLimitExceeded { registered, limit }, fire);
                    }
                    _ => {
                        if let Some(fire) = new_device {
                            out.fire(Finding::NewDevice, fire);
                        }
                    }
                }
            }
        }

        if !trusted {
            if let Some((v4, v6, fire)) = &self.new_network
                && fire.applies(app)
            {
                let (v4, v6) = (*v4, *v6);
                let network = network_of(attempt.ip, v4, v6);
                let key = network_key(attempt.ip, v4, v6);
                let seen = attempt
                    .history
                    .iter()
                    .any(|p| network_key(p.ip, v4, v6) == key);
                if !seen {
                    out.fire(Finding::NewNetwork { network }, fire);
                }
            }
            if let (Some(fire), Some(country)) =
                (in_scope(self.new_country.as_ref(), app), attempt.country)
                && !attempt.history.iter().any(|p| p.country == Some(country))
            {
                out.fire(Finding::NewCountry { country }, fire);
            }
        }

        if let (Some(travel), Some(here)) = (&self.travel, attempt.location)
            && travel.fire.applies(app)
        {
            let previous = attempt
                .history
                .iter()
                .filter(|p| p.at <= attempt.now)
                .filter_map(|p| p.location.map(|l| (p.at, l)))
                .max_by_key(|&(at, _)| at);
            if let Some((at, there)) = previous {
                let km = here.distance_km(&there);
                // Exact for any span below 2^53 seconds.
                #[allow(clippy::cast_precision_loss)]
                let hours = (attempt.now - at) as f64 / 3600.0;
                let too_fast = km >= travel.min_distance_km
                    && (hours <= 0.0 || km / hours > travel.max_speed_kmh);
                if too_fast {
                    out.fire(Finding::ImpossibleTravel { km, hours }, &travel.fire);
                }
            }
        }

        if let Some(hours) = &self.hours
            && hours.fire.applies(app)
        {
            let (inside, day, minute) = hours.inside(attempt.now);
            if !inside {
                out.fire(
                    Finding::OutsideTimeWindow {
                        weekday: Weekday::ALL[day],
                        minute,
                    },
                    &hours.fire,
                );
            }
        }
    }

    fn list_name(&self, id: u32) -> String {
        self.list_names
            .get(id as usize)
            .cloned()
            .unwrap_or_default()
    }

    fn alert(
        kind: AlertKind,
        audience: Audience,
        attempt: &LoginAttempt<'_>,
        message: String,
    ) -> Alert {
        Alert {
            kind,
            audience,
            user: attempt.user.to_owned(),
            application: attempt.application.to_owned(),
            message,
        }
    }
}

impl RiskEvaluator for RuleSet {
    fn assess(&self, attempt: &LoginAttempt<'_>) -> Assessment {
        let mut out = Collector {
            user: attempt.user,
            application: attempt.application,
            reasons: Vec::new(),
            alerts: Vec::new(),
        };
        let blocked = Fire {
            action: RuleAction::Deny,
            alert: None,
            weight: weights::BLOCKED,
            applications: None,
        };
        if let Some((range, &id)) = self.block.longest_match(attempt.ip) {
            out.fire(
                Finding::BlockedNetwork {
                    list: self.list_name(id),
                    range,
                },
                &blocked,
            );
        }
        if let Some(country) = attempt.country
            && self.blocked_countries.binary_search(&country).is_ok()
        {
            out.fire(Finding::BlockedCountry { country }, &blocked);
        }
        if let Some((range, &id)) = self.allow.longest_match(attempt.ip) {
            out.trust(Finding::TrustedNetwork {
                list: self.list_name(id),
                range,
            });
        } else {
            self.risk_rules(attempt, &mut out);
        }

        let strictest = out
            .reasons
            .iter()
            .map(|r| match r.effect {
                Effect::Deny => 2,
                Effect::Challenge => 1,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let action = match strictest {
            2 => Action::Deny {
                message: self.deny_message.clone(),
            },
            1 => Action::Challenge {
                types: self.challenge_types.clone(),
            },
            _ => Action::Allow,
        };
        let score = out
            .reasons
            .iter()
            .fold(0u8, |s, r| s.saturating_add(r.weight))
            .min(100);
        Assessment {
            action,
            score,
            reasons: out.reasons,
            alerts: out.alerts,
        }
    }

    fn challenge_passed(&self, attempt: &LoginAttempt<'_>) -> ChallengeOutcome {
        let user = attempt.user;
        let Some(device) = attempt.device else {
            return ChallengeOutcome {
                registration: Registration::NoDevice,
                alerts: vec![Self::alert(
                    AlertKind::ChallengeCompleted,
                    self.alerts.challenge_completed,
                    attempt,
                    format!("challenge completed for {user}"),
                )],
            };
        };
        let trusted_until = attempt.now.saturating_add(self.trust_secs);
        let existing = attempt.registered_devices.iter().find(|r| r.id == device);
        let registration = match existing {
            Some(r) => Registration::Renewed(RegisteredDevice {
                trusted_until,
                ..r.clone()
            }),
            None => match &self.device_limit {
                &Some((limit, _)) if attempt.registered_devices.len() >= limit as usize => {
                    return ChallengeOutcome {
                        registration: Registration::LimitReached { limit },
                        alerts: vec![Self::alert(
                            AlertKind::RegistrationRefused,
                            self.alerts.registration_refused,
                            attempt,
                            format!(
                                "challenge completed for {user}, device not registered: limit of {limit} devices reached"
                            ),
                        )],
                    };
                }
                _ => Registration::Registered(RegisteredDevice {
                    id: device.to_owned(),
                    registered_at: attempt.now,
                    trusted_until,
                }),
            },
        };
        let message = match registration {
            Registration::Renewed(_) => {
                format!("challenge completed, device trust renewed for {user}")
            }
            _ => format!("challenge completed, device registered for {user}"),
        };
        ChallengeOutcome {
            registration,
            alerts: vec![Self::alert(
                AlertKind::ChallengeCompleted,
                self.alerts.challenge_completed,
                attempt,
                message,
            )],
        }
    }

    fn challenge_failed(&self, attempt: &LoginAttempt<'_>) -> Vec<Alert> {
        vec![Self::alert(
            AlertKind::ChallengeFailed,
            self.alerts.challenge_failed,
            attempt,
            format!("challenge failed for {} from {}", attempt.user, attempt.ip),
        )]
    }
}
