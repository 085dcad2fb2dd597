//! The servers' in-memory view of what the decision path reads on every login: the user with
//! password hash, groups, factors, devices, recent logins and lockout state, the per-address
//! lockout states, and the web IdP's sessions.
//!
//! Reads come from memory; every write still goes to the database first. What this process
//! writes through [`Store`](super::Store) updates or drops its entry at once. What other
//! writers change (the CLI, a second instance on the same PostgreSQL, an operator's SQL) reaches
//! the cache through the `changes` table, which database triggers fill and a task of each
//! process reads every [`CacheSettings::refresh`]: an entry changed elsewhere is dropped within
//! that interval, and read again from the database when next needed.
//!
//! The replay guard and HOTP counters are not decided here: their conditional `UPDATE` in the
//! database accepts a code at most once, whatever a cache holds. A cached step or counter only
//! lets a replay be refused without asking the database.
//!
//! A load that raced with a change is not kept: each load and each drop takes a tick of one
//! clock, and a loaded entry is stored only if nothing dropped its key after the load began.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use idforge_adaptive::{PastLogin, RegisteredDevice};
use idforge_policy::LockoutState;
use sqlx::{AnyPool, Row as _};

use super::{Factor, StoreError, User, WebSession};

/// How many users the cache keeps and how often it reads the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Most users kept (0: no cache; every read goes to the database).
    pub capacity: usize,
    /// How often the change feed is read: the longest a change made by another process takes
    /// to reach this one.
    pub refresh: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            refresh: Duration::from_millis(100),
        }
    }
}

/// Most recent logins kept per user for the adaptive rules.
pub(crate) const HISTORY: usize = 50;
/// [`HISTORY`] as SQL wants it.
const HISTORY_SQL: i64 = 50;
/// Most per-address lockout states and sessions kept; past this, the oldest half is dropped.
const SIDE_ENTRIES: usize = 200_000;
/// A drop is remembered this long; no load takes longer (a longer one is not kept).
const TOMBSTONE_AGE: Duration = Duration::from_mins(1);
/// Change rows older than this (seconds) are deleted.
const FEED_KEEP_SECS: i64 = 600;
/// Change rows read again on each poll: PostgreSQL may commit ids out of order.
const FEED_SLACK: i64 = 512;

/// What the decision path needs to know about a user, read in one go.
#[derive(Clone)]
pub struct UserView {
    /// The user.
    pub user: User,
    /// The argon2id PHC string of a local password, if one is set.
    pub password_hash: Option<String>,
    /// Group names, sorted.
    pub groups: Vec<String>,
    /// Enrolled factors, oldest first (secrets sealed).
    pub factors: Vec<Factor>,
    /// Registered devices.
    pub devices: Vec<RegisteredDevice>,
    /// Latest logins, newest first (at most 50).
    pub history: Vec<PastLogin>,
    /// The lockout state of the user's name.
    pub lockout: LockoutState,
    pub(super) lockout_version: i64,
}

impl std::fmt::Debug for UserView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserView")
            .field("user", &self.user)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "**"))
            .field("groups", &self.groups)
            .field("factors", &self.factors)
            .field("devices", &self.devices.len())
            .field("history", &self.history.len())
            .field("lockout", &self.lockout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(i64),
    Lock(String),
    Session(String),
}

#[derive(Default)]
struct Maps {
    users: HashMap<String, Arc<UserView>>,
    ids: HashMap<i64, String>,
    locks: HashMap<String, (LockoutState, i64)>,
    sessions: HashMap<String, WebSession>,
    /// Keys dropped recently: the clock tick of the drop.
    dropped: HashMap<Key, u64>,
    /// The tick of the last drop of everything.
    all_dropped: u64,
}

/// The cache; shared by the clones of a store.
pub(super) struct Cache {
    pub(super) capacity: usize,
    clock: AtomicU64,
    maps: RwLock<Maps>,
}

/// A load in progress: the tick it began at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Load {
    tick: u64,
    at: Instant,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Arc<Cache> {
        Arc::new(Cache {
            capacity,
            clock: AtomicU64::new(1),
            maps: RwLock::new(Maps::default()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// Marks the start of a load from the database.
    pub(super) fn begin(&self) -> Load {
        Load {
            tick: self.tick(),
            at: Instant::now(),
        }
    }

    /// True if `key` may be stored from a load that began at `load`.
    fn fresh(maps: &Maps, key: &Key, load: Load) -> bool {
        load.at.elapsed() < TOMBSTONE_AGE
            && maps.all_dropped < load.tick
            && maps.dropped.get(key).is_none_or(|t| *t < load.tick)
    }

    fn tombstone(&self, maps: &mut Maps, key: Key) {
        let tick = self.tick();
        if maps.dropped.len() >= SIDE_ENTRIES {
            // Too many recent drops to remember one by one (thousands of writes a second for
            // a minute): forget them and refuse every load that began before now instead.
            // That costs one clear per SIDE_ENTRIES drops, never a scan per drop.
            maps.all_dropped = tick;
            maps.dropped.clear();
        }
        maps.dropped.insert(key, tick);
    }

    // ----- users -----

    pub(super) fn user(&self, name_key: &str) -> Option<Arc<UserView>> {
        self.read().users.get(name_key).cloned()
    }

    /// Keeps a user loaded from the database, unless it changed since the load began.
    pub(super) fn keep_user(&self, name_key: &str, view: Arc<UserView>, load: Load) {
        let mut maps = self.write();
        let lock_key = Key::Lock(format!("user:{name_key}"));
        if !Self::fresh(&maps, &Key::User(view.user.id), load)
            || !Self::fresh(&maps, &lock_key, load)
        {
            return;
        }
        if maps.users.len() >= self.capacity
            && !maps.users.contains_key(name_key)
            && let Some(victim) = maps.users.keys().next().cloned()
            && let Some(v) = maps.users.remove(&victim)
        {
            maps.ids.remove(&v.user.id);
        }
        maps.ids.insert(view.user.id, name_key.to_owned());
        maps.users.insert(name_key.to_owned(), view);
    }

    /// Drops a user by id.
    pub(super) fn drop_user(&self, id: i64) {
        let mut maps = self.write();
        self.tombstone(&mut maps, Key::User(id));
        if let Some(name_key) = maps.ids.remove(&id) {
            maps.users.remove(&name_key);
        }
    }

    /// Drops a user by name key.
    pub(super) fn drop_user_named(&self, name_key: &str) {
        let mut maps = self.write();
        if let Some(v) = maps.users.remove(name_key) {
            maps.ids.remove(&v.user.id);
            self.tombstone(&mut maps, Key::User(v.user.id));
        }
        self.tombstone(&mut maps, Key::Lock(format!("user:{name_key}")));
    }

    /// Changes a cached user in place (what this process just wrote).
    pub(super) fn update_user(&self, id: i64, change: impl FnOnce(&mut UserView)) {
        let mut maps = self.write();
        self.tombstone(&mut maps, Key::User(id));
        let Some(name_key) = maps.ids.get(&id).cloned() else {
            return;
        };
        if let Some(view) = maps.users.get_mut(&name_key) {
            change(Arc::make_mut(view));
        }
    }

    // ----- lockout states -----

    /// A cached lockout state and its version.
    pub(super) fn lock(&self, key: &str) -> Option<(LockoutState, i64)> {
        let maps = self.read();
        if let Some(name_key) = key.strip_prefix("user:")
            && let Some(view) = maps.users.get(name_key)
        {
            return Some((view.lockout, view.lockout_version));
        }
        maps.locks.get(key).copied()
    }

    /// Keeps a lockout state read at `load` (or just written, with `load` taken before the
    /// write).
    pub(super) fn keep_lock(&self, key: &str, state: LockoutState, version: i64, load: Load) {
        let mut maps = self.write();
        if !Self::fresh(&maps, &Key::Lock(key.to_owned()), load) {
            return;
        }
        Self::put_lock(&mut maps, key, state, version);
    }

    /// Stores a lockout state this process wrote.
    pub(super) fn wrote_lock(&self, key: &str, state: LockoutState, version: i64) {
        let mut maps = self.write();
        self.tombstone(&mut maps, Key::Lock(key.to_owned()));
        Self::put_lock(&mut maps, key, state, version);
    }

    fn put_lock(maps: &mut Maps, key: &str, state: LockoutState, version: i64) {
        if let Some(name_key) = key.strip_prefix("user:") {
            if let Some(view) = maps.users.get_mut(name_key) {
                let view = Arc::make_mut(view);
                view.lockout = state;
                view.lockout_version = version;
            }
            return;
        }
        if maps.locks.len() >= SIDE_ENTRIES {
            maps.locks.clear();
        }
        maps.locks.insert(key.to_owned(), (state, version));
    }

    pub(super) fn drop_lock(&self, key: &str) {
        let mut maps = self.write();
        self.tombstone(&mut maps, Key::Lock(key.to_owned()));
        if let Some(name_key) = key.strip_prefix("user:") {
            if let Some(v) = maps.users.remove(name_key) {
                maps.ids.remove(&v.user.id);
            }
        } else {
            maps.locks.remove(key);
        }
    }

    // ----- sessions -----

    pub(super) fn session(&self, id_hash: &str) -> Option<WebSession> {
        self.read().sessions.get(id_hash).cloned()
    }

    pub(super) fn keep_session(&self, s: &WebSession, load: Load) {
        let mut maps = self.write();
        if !Self::fresh(&maps, &Key::Session(s.id_hash.clone()), load) {
            return;
        }
        Self::put_session(&mut maps, s);
    }

    /// Stores a session this process wrote.
    pub(super) fn wrote_session(&self, s: &WebSession) {
        let mut maps = self.write();
        self.tombstone(&mut maps, Key::Session(s.id_hash.clone()));
        Self::put_session(&mut maps, s);
    }

    fn put_session(maps: &mut Maps, s: &WebSession) {
        if maps.sessions.len() >= SIDE_ENTRIES {
            let now = super::now_secs();
            maps.sessions.retain(|_, v| v.expires_at > now);
            if maps.sessions.len() >= SIDE_ENTRIES {
                maps.sessions.clear();
            }
        }
        maps.sessions.insert(s.id_hash.clone(), s.clone());
    }

    pub(super) fn drop_session(&self, id_hash: &str) {
        let mut maps = self.write();
        self.tombstone(&mut maps, Key::Session(id_hash.to_owned()));
        maps.sessions.remove(id_hash);
    }

    pub(super) fn drop_sessions_of(&self, user_id: i64) {
        let mut maps = self.write();
        let gone: Vec<String> = maps
            .sessions
            .iter()
            .filter(|(_, s)| s.user_id == Some(user_id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.tombstone(&mut maps, Key::Session(k.clone()));
            maps.sessions.remove(&k);
        }
    }

    pub(super) fn drop_expired_sessions(&self, now: i64) {
        self.write().sessions.retain(|_, s| s.expires_at > now);
    }

    // ----- everything -----

    /// Drops everything (a bulk change, or the change feed could not be read).
    pub(super) fn drop_all(&self) {
        let mut maps = self.write();
        maps.all_dropped = self.tick();
        maps.users.clear();
        maps.ids.clear();
        maps.locks.clear();
        maps.sessions.clear();
        maps.dropped.clear();
    }

    /// Applies one row of the change feed.
    pub(super) fn apply(&self, change_key: &str) {
        if let Some(id) = change_key.strip_prefix("user:") {
            match id.parse() {
                Ok(id) => self.drop_user(id),
                Err(_) => self.drop_all(),
            }
        } else if let Some(key) = change_key.strip_prefix("lock:") {
            self.drop_lock(key);
        } else if let Some(hash) = change_key.strip_prefix("session:") {
            self.drop_session(hash);
        } else {
            self.drop_all();
        }
    }

    /// How many users are cached.
    pub(super) fn users_len(&self) -> usize {
        self.read().users.len()
    }
}

/// Reads the change feed every `refresh` until the cache is gone; deletes old rows once a
/// minute. When the feed cannot be read, the whole cache is dropped (it could be stale) and
/// the next reads go to the database.
pub(super) async fn follow_changes(pool: AnyPool, cache: Weak<Cache>, refresh: Duration) {
    let mut last = match sqlx::query("SELECT COALESCE(MAX(id), 0) FROM changes")
        .fetch_one(&pool)
        .await
        .and_then(|r| r.try_get::<i64, _>(0))
    {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the change feed; the cache is off");
            return;
        }
    };
    let mut seen: HashSet<i64> = HashSet::new();
    let mut pruned = Instant::now();
    let mut failing = false;
    loop {
        tokio::time::sleep(refresh).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        if pool.is_closed() {
            cache.drop_all();
            return;
        }
        let rows = sqlx::query("SELECT id, change_key FROM changes WHERE id > $1 ORDER BY id")
            .bind(last - FEED_SLACK)
            .fetch_all(&pool)
            .await;
        match rows {
            Ok(rows) => {
                if failing {
                    tracing::info!("the change feed is readable again");
                    failing = false;
                }
                for row in &rows {
                    let (Ok(id), Ok(key)) = (row.try_get::<i64, _>(0), row.try_get::<String, _>(1))
                    else {
                        cache.drop_all();
                        continue;
                    };
                    if seen.insert(id) {
                        cache.apply(&key);
                    }
                    last = last.max(id);
                }
                seen.retain(|id| *id > last - FEED_SLACK);
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the change feed; reading from the database until it is back");
                    failing = true;
                }
                cache.drop_all();
            }
        }
        if pruned.elapsed() > Duration::from_mins(1) {
            pruned = Instant::now();
            if let Err(e) = sqlx::query("DELETE FROM changes WHERE at < $1")
                .bind(super::now_secs() - FEED_KEEP_SECS)
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "old change rows not deleted");
            }
        }
    }
}

impl super::Store {
    /// Everything the decision path reads about a user, from the cache when it holds the
    /// user, else from the database (and then kept).
    pub async fn user_view(&self, name: &str) -> Result<Option<Arc<UserView>>, StoreError> {
        let name_key = super::name_key(name);
        let load = match &self.cache {
            Some(cache) => {
                if let Some(view) = cache.user(&name_key) {
                    return Ok(Some(view));
                }
                Some(cache.begin())
            }
            None => None,
        };
        let Some(user) = self.user(name).await? else {
            return Ok(None);
        };
        let password_hash = if user.source == "local" {
            self.password_hash(user.id).await?
        } else {
            None
        };
        let groups = self.groups_of(user.id).await?;
        let factors = self.factors_of(user.id).await?;
        let devices = self.devices_of(user.id).await?;
        let history = self.recent_logins(user.id, HISTORY_SQL).await?;
        let (lockout, lockout_version) = self.lockout_stored(&format!("user:{name_key}")).await?;
        let view = Arc::new(UserView {
            user,
            password_hash,
            groups,
            factors,
            devices,
            history,
            lockout,
            lockout_version,
        });
        if let (Some(cache), Some(load)) = (&self.cache, load) {
            cache.keep_user(&name_key, view.clone(), load);
        }
        Ok(Some(view))
    }

    /// Records in the cache what the replay guard just accepted for a factor (the database
    /// has it already), so that the same code is refused without asking the database.
    pub fn note_factor_used(
        &self,
        user_id: i64,
        factor_id: &str,
        step: Option<u64>,
        counter: Option<u64>,
    ) {
        if let Some(cache) = &self.cache {
            cache.update_user(user_id, |v| {
                if let Some(f) = v.factors.iter_mut().find(|f| f.id == factor_id) {
                    if let Some(step) = step {
                        f.last_step = Some(f.last_step.map_or(step, |s| s.max(step)));
                    }
                    if let Some(counter) = counter {
                        f.counter = f.counter.max(counter);
                    }
                }
            });
        }
    }

    /// Drops a user from the cache (the next read goes to the database).
    pub fn forget_user(&self, user_id: i64) {
        if let Some(cache) = &self.cache {
            cache.drop_user(user_id);
        }
    }

    pub(super) fn forget_user_named(&self, name: &str) {
        if let Some(cache) = &self.cache {
            cache.drop_user_named(&super::name_key(name));
        }
    }

    pub(super) fn forget_all(&self) {
        if let Some(cache) = &self.cache {
            cache.drop_all();
        }
    }

    /// How many users the cache holds (0 without a cache).
    pub fn cached_users(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.users_len())
    }

    /// Loads up to the cache's capacity of users in a few bulk reads, so that the first
    /// login of each is served from memory too. Returns how many users were loaded. Without a
    /// cache, does nothing.
    pub async fn warm_cache(&self) -> Result<usize, StoreError> {
        let Some(cache) = self.cache.clone() else {
            return Ok(0);
        };
        let load = cache.begin();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM users ORDER BY id LIMIT $1",
            super::USER_COLUMNS
        )))
        .bind(i64::try_from(cache.capacity).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut views: HashMap<i64, UserView> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let user = super::Store::user_from_row(row)?;
            views.insert(
                user.id,
                UserView {
                    user,
                    password_hash: None,
                    groups: Vec::new(),
                    factors: Vec::new(),
                    devices: Vec::new(),
                    history: Vec::new(),
                    lockout: LockoutState::default(),
                    lockout_version: 0,
                },
            );
        }
        for row in sqlx::query("SELECT user_id, hash FROM passwords")
            .fetch_all(&self.pool)
            .await?
        {
            if let Some(v) = views.get_mut(&row.try_get::<i64, _>(0)?)
                && v.user.source == "local"
            {
                v.password_hash = Some(row.try_get(1)?);
            }
        }
        for row in sqlx::query(
            "SELECT m.user_id, g.name FROM memberships m JOIN user_groups g ON g.id = m.group_id
             ORDER BY g.name_key",
        )
        .fetch_all(&self.pool)
        .await?
        {
            if let Some(v) = views.get_mut(&row.try_get::<i64, _>(0)?) {
                v.groups.push(row.try_get(1)?);
            }
        }
        for row in sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM factors ORDER BY created_at, id",
            super::FACTOR_COLUMNS
        )))
        .fetch_all(&self.pool)
        .await?
        {
            let f = super::Store::factor_from_row(&row)?;
            if let Some(v) = views.get_mut(&f.user_id) {
                v.factors.push(f);
            }
        }
        for row in sqlx::query(
            "SELECT user_id, device_id, registered_at, trusted_until FROM devices ORDER BY registered_at",
        )
        .fetch_all(&self.pool)
        .await?
        {
            if let Some(v) = views.get_mut(&row.try_get::<i64, _>(0)?) {
                v.devices.push(RegisteredDevice {
                    id: row.try_get(1)?,
                    registered_at: u64::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
                    trusted_until: u64::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
                });
            }
        }
        for row in sqlx::query(
            "SELECT user_id, at, ip FROM (
                SELECT user_id, at, ip, id,
                       ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY at DESC, id DESC) AS n
                FROM logins) recent
             WHERE n <= $1 ORDER BY user_id, at DESC, id DESC",
        )
        .bind(HISTORY_SQL)
        .fetch_all(&self.pool)
        .await?
        {
            if let Some(v) = views.get_mut(&row.try_get::<i64, _>(0)?) {
                let ip: String = row.try_get(2)?;
                v.history.push(PastLogin {
                    at: u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0),
                    ip: ip
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("login address {ip:?}")))?,
                    country: None,
                    location: None,
                });
            }
        }
        let mut by_key: HashMap<String, i64> = views
            .values()
            .map(|v| (super::name_key(&v.user.name), v.user.id))
            .collect();
        for row in sqlx::query(
            "SELECT lock_key, state, version FROM lockouts WHERE lock_key LIKE 'user:%'",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let key: String = row.try_get(0)?;
            let Some(id) = key.strip_prefix("user:").and_then(|k| by_key.remove(k)) else {
                continue;
            };
            if let Some(v) = views.get_mut(&id) {
                let text: String = row.try_get(1)?;
                v.lockout = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("lockout state: {e}")))?;
                v.lockout_version = row.try_get(2)?;
            }
        }
        let n = views.len();
        for (_, view) in views {
            let name_key = super::name_key(&view.user.name);
            cache.keep_user(&name_key, Arc::new(view), load);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_begun_before_a_drop_of_its_key_is_not_kept() {
        let cache = Cache::new(10);
        let load = cache.begin();
        cache.wrote_lock("ip:192.0.2.1", LockoutState::default(), 2);
        cache.keep_lock("ip:192.0.2.1", LockoutState::default(), 1, load);
        assert_eq!(cache.lock("ip:192.0.2.1").map(|(_, v)| v), Some(2));
        // Another key's drop does not concern this load.
        let other = cache.begin();
        cache.wrote_lock("ip:192.0.2.2", LockoutState::default(), 5);
        cache.keep_lock("ip:192.0.2.3", LockoutState::default(), 7, other);
        assert_eq!(cache.lock("ip:192.0.2.3").map(|(_, v)| v), Some(7));
    }

    #[test]
    fn too_many_recent_drops_refuse_older_loads_without_a_scan_per_drop() {
        let cache = Cache::new(10);
        let early = cache.begin();
        for i in 0..=SIDE_ENTRIES {
            let mut maps = cache.write();
            cache.tombstone(&mut maps, Key::User(i64::try_from(i).unwrap_or(i64::MAX)));
        }
        {
            let maps = cache.read();
            // The overflow forgot the single drops and raised the watermark instead.
            assert!(maps.dropped.len() < 2, "{}", maps.dropped.len());
            assert!(maps.all_dropped > early.tick);
        }
        // A load that began before the overflow is refused even for a key never dropped.
        cache.keep_lock("ip:198.51.100.9", LockoutState::default(), 3, early);
        assert_eq!(cache.lock("ip:198.51.100.9"), None);
        // One that began after it is kept.
        let late = cache.begin();
        cache.keep_lock("ip:198.51.100.9", LockoutState::default(), 4, late);
        assert_eq!(cache.lock("ip:198.51.100.9").map(|(_, v)| v), Some(4));
    }
}
