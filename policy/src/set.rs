//! Validation of a [`PolicyConfig`] and evaluation of logins against the result.
//!
//! Precedence: policies are tried in the order they are written and the first whose every
//! condition holds decides; when none matches, the default policy decides. The order of the
//! user's groups never matters: if a policy matches through several of the user's groups, the
//! decision names the one declared first in `groups`.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::Error;
use crate::lockout::LockoutSettings;
use crate::model::{FirstFactor, Method, PolicyConfig, SecondFactor};

/// Marks "any" in a lookup key (no application or no group condition).
const ANY: u32 = u32::MAX;
/// Source id of the local password store; directory `i` is `i + 1`.
const LOCAL_SOURCE: u32 = 0;

/// A fast hasher for the lookup tables. The tables are built from the configuration only, so
/// requests cannot choose colliding keys to insert.
#[derive(Default)]
struct TableHasher(u64);

impl TableHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for TableHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Table<K, V> = HashMap<K, V, BuildHasherDefault<TableHasher>>;

fn key(app: u32, group: u32) -> u64 {
    (u64::from(app) << 32) | u64::from(group)
}

/// The authentication source a user belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource<'a> {
    /// The local user store.
    Local,
    /// The named directory (as declared in `directories`).
    Directory(&'a str),
}

/// The facts about one login that policies match on.
#[derive(Debug, Clone, Copy)]
pub struct LoginRequest<'a, G = &'a str> {
    /// The application id.
    pub application: &'a str,
    /// The user's groups, in any order. Groups the configuration does not declare are ignored.
    pub groups: &'a [G],
    /// The client address, if known (policies with `zones` do not match without one).
    pub ip: Option<IpAddr>,
    /// Where the user's account lives.
    pub source: AuthSource<'a>,
}

/// Which policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched<'a> {
    /// The policy at `index` in the configured order.
    Policy {
        /// Its position, from 0.
        index: usize,
        /// Its name.
        name: &'a str,
    },
    /// No policy matched.
    Default,
}

/// The outcome of [`PolicySet::evaluate`]: what the user must prove, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The policy that decided.
    pub matched: Matched<'a>,
    /// What checks the password.
    pub first_factor: &'a FirstFactor,
    /// Whether a second factor is needed.
    pub second_factor: SecondFactor,
    /// The allowed second-factor methods.
    pub methods: &'a [Method],
    /// Days a browser that passed the second factor may skip it when remembered (0: never).
    pub remember_device_days: u32,
    /// The user's group through which the policy matched (`None` if it has no group condition).
    pub group: Option<&'a str>,
    /// The zone the client address matched (`None` if the policy has no zone condition).
    pub zone: Option<&'a str>,
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.matched {
            Matched::Policy { index, name } => write!(f, "policy `{name}` (#{index}) matched")?,
            Matched::Default => f.write_str("no policy matched; default policy")?,
        }
        if let Some(group) = self.group {
            write!(f, ", through group `{group}`")?;
        }
        if let Some(zone) = self.zone {
            write!(f, ", client in zone `{zone}`")?;
        }
        Ok(())
    }
}

struct Compiled {
    zones: Option<Vec<u32>>,
    sources: Option<Vec<u32>>,
}

/// A validated configuration, ready to evaluate logins.
///
/// Built by [`PolicyConfig::validate`](crate::PolicyConfig::validate), which checks every name
/// a policy refers to once, so that [`evaluate`](Self::evaluate) needs no error path.
///
/// # Example
///
/// Staff in the office network log in with a password alone; from anywhere else, or without
/// a known address, they need a second factor.
///
/// ```
/// use idforge_policy::{
///     AppKind, Application, AuthSource, DefaultPolicy, FirstFactor, LoginRequest, Matched,
///     Method, Policy, PolicyConfig, SecondFactor, Zone,
/// };
///
/// let policies = PolicyConfig {
///     applications: vec![Application { id: "intranet".into(), kind: AppKind::Saml }],
///     groups: vec!["Staff".into()],
///     directories: vec![],
///     zones: vec![Zone { name: "office".into(), ranges: vec!["192.0.2.0/24".into()] }],
///     policies: vec![Policy {
///         name: "office-password-only".into(),
///         applications: None,
///         groups: Some(vec!["Staff".into()]),
///         zones: Some(vec!["office".into()]),
///         sources: None,
///         first_factor: FirstFactor::LocalPassword,
///         second_factor: SecondFactor::None,
///         methods: vec![],
///         remember_device_days: 0,
///     }],
///     default: DefaultPolicy {
///         first_factor: FirstFactor::LocalPassword,
///         second_factor: SecondFactor::Required,
///         methods: vec![Method::Totp],
///         remember_device_days: 30,
///     },
///     lockout: Default::default(),
/// }
/// .validate()?;
///
/// let mut login = LoginRequest {
///     application: "intranet",
///     groups: &["Staff"],
///     ip: Some("192.0.2.7".parse()?),
///     source: AuthSource::Local,
/// };
/// let decision = policies.evaluate(&login);
/// assert_eq!(decision.second_factor, SecondFactor::None);
/// assert_eq!(decision.zone, Some("office"));
/// assert_eq!(
///     decision.to_string(),
///     "policy `office-password-only` (#0) matched, through group `Staff`, client in zone `office`"
/// );
///
/// login.ip = Some("198.51.100.1".parse()?);
/// let decision = policies.evaluate(&login);
/// assert_eq!(decision.matched, Matched::Default);
/// assert_eq!(decision.second_factor, SecondFactor::Required);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PolicySet {
    config: PolicyConfig,
    apps: Table<String, u32>,
    groups: Table<String, u32>,
    directories: Table<String, u32>,
    zones: Vec<Vec<IpNet>>,
    compiled: Vec<Compiled>,
    /// (application or ANY, group or ANY) -> policy indexes in ascending order.
    lists: Table<u64, Vec<u32>>,
    /// Whether some policy has no `applications` condition (else the "any application"
    /// lists are empty and are not looked up).
    any_app: bool,
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.config.policies.len())
            .field("applications", &self.apps.len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

fn index_names<'a>(
    kind: &'static str,
    names: impl Iterator<Item = &'a str>,
) -> Result<Table<String, u32>, Error> {
    let mut table = Table::default();
    for (index, name) in names.enumerate() {
        if name.is_empty() {
            return Err(Error::EmptyName { kind, index });
        }
        let id = u32::try_from(index).unwrap_or(ANY - 1);
        if table.insert(name.to_owned(), id).is_some() {
            return Err(Error::DuplicateName {
                kind,
                name: name.to_owned(),
            });
        }
    }
    Ok(table)
}

/// Resolves a condition list to sorted ids; `None` stays `None` (no condition).
fn resolve(
    policy: &str,
    field: &'static str,
    list: Option<&Vec<String>>,
    lookup: impl Fn(&str) -> Option<u32>,
    unknown: impl Fn(String) -> Error,
) -> Result<Option<Vec<u32>>, Error> {
    let Some(list) = list else { return Ok(None) };
    if list.is_empty() {
        return Err(Error::EmptyCondition {
            policy: policy.to_owned(),
            field,
        });
    }
    let mut ids = Vec::with_capacity(list.len());
    for name in list {
        ids.push(lookup(name).ok_or_else(|| unknown(name.clone()))?);
    }
    Ok(Some(ids))
}

fn sorted(ids: Option<&Vec<u32>>) -> Option<Vec<u32>> {
    ids.map(|v| {
        let mut v = v.clone();
        v.sort_unstable();
        v.dedup();
        v
    })
}

/// Every value `later` accepts, `earlier` accepts too (both sorted; `None` accepts all).
fn covers(earlier: Option<&[u32]>, later: Option<&[u32]>) -> bool {
    match (earlier, later) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(l)) => l.iter().all(|x| e.binary_search(x).is_ok()),
    }
}

fn check_factors(
    policy: &str,
    first: &FirstFactor,
    second: SecondFactor,
    methods: &[Method],
    remember_device_days: u32,
    directories: &Table<String, u32>,
) -> Result<(), Error> {
    if remember_device_days > 365 {
        return Err(Error::RememberTooLong {
            policy: policy.to_owned(),
            days: remember_device_days,
        });
    }
    if let FirstFactor::Directory(name) = first
        && !directories.contains_key(name)
    {
        return Err(Error::UnknownDirectory {
            policy: policy.to_owned(),
            field: "first_factor",
            name: name.clone(),
        });
    }
    match (second, methods.is_empty()) {
        (SecondFactor::None, false) => {
            return Err(Error::MethodsWithoutSecondFactor {
                policy: policy.to_owned(),
            });
        }
        (SecondFactor::Required | SecondFactor::IfRisky, true) => {
            return Err(Error::EmptyMethods {
                policy: policy.to_owned(),
            });
        }
        _ => {}
    }
    for (i, m) in methods.iter().enumerate() {
        if methods[..i].contains(m) {
            return Err(Error::DuplicateMethod {
                policy: policy.to_owned(),
                method: m.as_str().to_owned(),
            });
        }
    }
    Ok(())
}

impl PolicyConfig {
    /// Checks the configuration and builds the lookup tables.
    ///
    /// Rejected: empty or duplicate names (a policy may not be called `default`), a directory
    /// called `local`, references to undeclared applications, groups, zones or directories,
    /// empty condition lists, a required second factor without methods (or methods without
    /// one), repeated methods, zone ranges that are not CIDR ranges, lockout limits out of
    /// range, and a policy that can never match because an earlier policy's conditions each
    /// accept everything it accepts.
    pub fn validate(self) -> Result<PolicySet, Error> {
        let apps = index_names(
            "application",
            self.applications.iter().map(|a| a.id.as_str()),
        )?;
        let groups = index_names("group", self.groups.iter().map(String::as_str))?;
        let directories = index_names("directory", self.directories.iter().map(String::as_str))?;
        if directories.contains_key("local") {
            return Err(Error::ReservedDirectoryName);
        }
        let zone_ids = index_names("zone", self.zones.iter().map(|z| z.name.as_str()))?;
        if let Some(index) = self.policies.iter().position(|p| p.name.is_empty()) {
            return Err(Error::EmptyName {
                kind: "policy",
                index,
            });
        }
        // `default` goes first so that a policy of that name is reported as a duplicate.
        index_names(
            "policy",
            std::iter::once("default").chain(self.policies.iter().map(|p| p.name.as_str())),
        )?;
        self.lockout.validate()?;

        let mut zones = Vec::with_capacity(self.zones.len());
        for zone in &self.zones {
            let mut nets = Vec::with_capacity(zone.ranges.len());
            for (index, value) in zone.ranges.iter().enumerate() {
                let net: IpNet = value.trim().parse().map_err(|_| Error::InvalidRange {
                    zone: zone.name.clone(),
                    index,
                    value: value.clone(),
                })?;
                nets.push(net.trunc());
            }
            zones.push(nets);
        }

        check_factors(
            "default",
            &self.default.first_factor,
            self.default.second_factor,
            &self.default.methods,
            self.default.remember_device_days,
            &directories,
        )?;

        let mut compiled = Vec::with_capacity(self.policies.len());
        // Sorted condition sets per policy, for the shadowing check:
        // [applications, groups, zones, sources].
        let mut sets: Vec<[Option<Vec<u32>>; 4]> = Vec::with_capacity(self.policies.len());
        let mut lists: Table<u64, Vec<u32>> = Table::default();
        for (index, p) in self.policies.iter().enumerate() {
            let name = p.name.as_str();
            let app_ids = resolve(
                name,
                "applications",
                p.applications.as_ref(),
                |n| apps.get(n).copied(),
                |n| Error::UnknownApplication {
                    policy: name.to_owned(),
                    name: n,
                },
            )?;
            let group_ids = resolve(
                name,
                "groups",
                p.groups.as_ref(),
                |n| groups.get(n).copied(),
                |n| Error::UnknownGroup {
                    policy: name.to_owned(),
                    name: n,
                },
            )?;
            let zone_list = resolve(
                name,
                "zones",
                p.zones.as_ref(),
                |n| zone_ids.get(n).copied(),
                |n| Error::UnknownZone {
                    policy: name.to_owned(),
                    name: n,
                },
            )?;
            let source_list = resolve(
                name,
                "sources",
                p.sources.as_ref(),
                |n| {
                    if n == "local" {
                        Some(LOCAL_SOURCE)
                    } else {
                        directories.get(n).map(|d| d + 1)
                    }
                },
                |n| Error::UnknownDirectory {
                    policy: name.to_owned(),
                    field: "sources",
                    name: n,
                },
            )?;
            check_factors(
                name,
                &p.first_factor,
                p.second_factor,
                &p.methods,
                p.remember_device_days,
                &directories,
            )?;

            let set = [
                sorted(app_ids.as_ref()),
                sorted(group_ids.as_ref()),
                sorted(zone_list.as_ref()),
                sorted(source_list.as_ref()),
            ];
            for (earlier, earlier_set) in sets.iter().enumerate() {
                if earlier_set
                    .iter()
                    .zip(&set)
                    .all(|(e, l)| covers(e.as_deref(), l.as_deref()))
                {
                    return Err(Error::Shadowed {
                        policy: name.to_owned(),
                        by: self.policies[earlier].name.clone(),
                    });
                }
            }
            let index = u32::try_from(index).unwrap_or(ANY - 1);
            let app_slots = set[0].clone().unwrap_or_else(|| vec![ANY]);
            let group_slots = set[1].clone().unwrap_or_else(|| vec![ANY]);
            for &a in &app_slots {
                for &g in &group_slots {
                    lists.entry(key(a, g)).or_default().push(index);
                }
            }
            sets.push(set);
            compiled.push(Compiled {
                zones: zone_list,
                sources: source_list,
            });
        }

        let any_app = self.policies.iter().any(|p| p.applications.is_none());
        Ok(PolicySet {
            any_app,
            config: self,
            apps,
            groups,
            directories,
            zones,
            compiled,
            lists,
        })
    }
}

impl PolicySet {
    /// The configuration this set was built from.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The lockout settings.
    pub fn lockout(&self) -> &LockoutSettings {
        &self.config.lockout
    }

    /// Decides what the user must prove for this login. Does not allocate.
    pub fn evaluate<G: AsRef<str>>(&self, request: &LoginRequest<'_, G>) -> Decision<'_> {
        let source = match request.source {
            AuthSource::Local => Some(LOCAL_SOURCE),
            AuthSource::Directory(name) => self.directories.get(name).map(|d| d + 1),
        };
        let app = self.apps.get(request.application).copied();
        let app_slots = [self.any_app.then_some(ANY), app];
        // (policy, group, zone) of the best match so far.
        let mut best: Option<(u32, u32, Option<u32>)> = None;
        for slot in app_slots.into_iter().flatten() {
            let limit = best.map_or(ANY, |b| b.0);
            if let Some((p, zone)) = self.first_match(key(slot, ANY), limit, request.ip, source)
                && p < limit
            {
                best = Some((p, ANY, zone));
            }
        }
        for group in request.groups {
            let Some(&g) = self.groups.get(group.as_ref()) else {
                continue;
            };
            for slot in app_slots.into_iter().flatten() {
                let limit = best.map_or(ANY, |b| b.0);
                if let Some((p, zone)) = self.first_match(key(slot, g), limit, request.ip, source) {
                    let better = match best {
                        None => true,
                        Some((bp, bg, _)) => p < bp || (p == bp && g < bg),
                    };
                    if better {
                        best = Some((p, g, zone));
                    }
                }
            }
        }
        match best {
            Some((p, g, zone)) => {
                let index = p as usize;
                let policy = &self.config.policies[index];
                Decision {
                    matched: Matched::Policy {
                        index,
                        name: &policy.name,
                    },
                    first_factor: &policy.first_factor,
                    second_factor: policy.second_factor,
                    methods: &policy.methods,
                    remember_device_days: policy.remember_device_days,
                    group: (g != ANY).then(|| self.config.groups[g as usize].as_str()),
                    zone: zone.map(|z| self.config.zones[z as usize].name.as_str()),
                }
            }
            None => Decision {
                matched: Matched::Default,
                first_factor: &self.config.default.first_factor,
                second_factor: self.config.default.second_factor,
                methods: &self.config.default.methods,
                remember_device_days: self.config.default.remember_device_days,
                group: None,
                zone: None,
            },
        }
    }

    /// The first policy (index at most `limit`) in the list at `key` whose zone and source
    /// conditions hold, with the zone that matched.
    fn first_match(
        &self,
        key: u64,
        limit: u32,
        ip: Option<IpAddr>,
        source: Option<u32>,
    ) -> Option<(u32, Option<u32>)> {
        let list = self.lists.get(&key)?;
        for &p in list {
            if p > limit {
                return None;
            }
            let c = &self.compiled[p as usize];
            if let Some(sources) = &c.sources
                && !source.is_some_and(|s| sources.contains(&s))
            {
                continue;
            }
            let zone = match &c.zones {
                None => None,
                Some(zones) => {
                    let Some(ip) = ip else { continue };
                    // IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are matched as IPv4.
                    let ip = ip.to_canonical();
                    match zones
                        .iter()
                        .find(|&&z| self.zones[z as usize].iter().any(|n| n.contains(&ip)))
                    {
                        Some(&z) => Some(z),
                        None => continue,
                    }
                }
            };
            return Some((p, zone));
        }
        None
    }
}
