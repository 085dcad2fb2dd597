//! Lockout and throttling after failed logins: a state machine whose state the caller stores.
//!
//! Keep one [`LockoutState`] per user (checked with [`LockoutSettings::user`]) and one per
//! source address (checked with [`LockoutSettings::source`]). Before verifying a password ask
//! [`LockoutRule::gate`]; after verifying, feed the result to [`LockoutRule::record_failure`] or
//! [`LockoutRule::record_success`] and store the returned state.
//!
//! `max_failures` failures within `window_secs` lock the key for `lock_secs`; each further lock
//! before a success doubles the duration, up to `max_lock_secs`. After `disable_after`
//! consecutive failures without a success the key is disabled until an administrator resets it
//! (NIST SP 800-63B §5.2.2 allows at most 100 consecutive failed attempts).

use crate::Error;

/// The most consecutive failures NIST SP 800-63B §5.2.2 allows before an account is disabled.
pub const NIST_MAX_CONSECUTIVE_FAILURES: u32 = 100;

/// Limits for one kind of key (a user or a source address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct LockoutRule {
    /// Failures within one window that cause a lock.
    pub max_failures: u32,
    /// Length of the counting window, in seconds.
    pub window_secs: u64,
    /// Duration of the first lock, in seconds.
    pub lock_secs: u64,
    /// Longest lock after doubling, in seconds.
    pub max_lock_secs: u64,
    /// Consecutive failures (across windows and locks) after which the key is disabled.
    pub disable_after: u32,
}

impl Default for LockoutRule {
    fn default() -> Self {
        LockoutRule {
            max_failures: 5,
            window_secs: 15 * 60,
            lock_secs: 60,
            max_lock_secs: 24 * 60 * 60,
            disable_after: NIST_MAX_CONSECUTIVE_FAILURES,
        }
    }
}

/// Lockout rules per user and per source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct LockoutSettings {
    /// Applied to each user name.
    #[cfg_attr(feature = "serde", serde(default))]
    pub user: LockoutRule,
    /// Applied to each client address.
    #[cfg_attr(feature = "serde", serde(default = "default_source_rule"))]
    pub source: LockoutRule,
}

fn default_source_rule() -> LockoutRule {
    LockoutRule {
        max_failures: 20,
        ..LockoutRule::default()
    }
}

impl Default for LockoutSettings {
    fn default() -> Self {
        LockoutSettings {
            user: LockoutRule::default(),
            source: default_source_rule(),
        }
    }
}

impl LockoutSettings {
    /// Checks both rules; errors name `lockout.user` or `lockout.source`.
    pub fn validate(&self) -> Result<(), Error> {
        self.user.validate("user")?;
        self.source.validate("source")
    }

    /// The stricter of the user's and the source's gates: disabled over locked over open,
    /// and of two locks the later end.
    pub fn gate(&self, user: &LockoutState, source: &LockoutState, now: u64) -> Gate {
        match (self.user.gate(user, now), self.source.gate(source, now)) {
            (Gate::Disabled, _) | (_, Gate::Disabled) => Gate::Disabled,
            (Gate::Locked { until: a }, Gate::Locked { until: b }) => {
                Gate::Locked { until: a.max(b) }
            }
            (locked @ Gate::Locked { .. }, Gate::Open)
            | (Gate::Open, locked @ Gate::Locked { .. }) => locked,
            (Gate::Open, Gate::Open) => Gate::Open,
        }
    }
}

/// The stored state of one key. `LockoutState::default()` is a key with no failures, and is
/// what an administrator's reset stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct LockoutState {
    /// Start of the current counting window (unix seconds).
    pub window_start: u64,
    /// Failures counted in the current window.
    pub failures_in_window: u32,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Locks since the last success (the back-off exponent).
    pub locks: u32,
    /// End of the current lock (unix seconds), if locked.
    pub locked_until: Option<u64>,
    /// Disabled until an administrator resets the state.
    pub disabled: bool,
}

/// Whether an attempt may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Gate {
    /// Verify the credentials.
    Open,
    /// Refuse without verifying until `until` (unix seconds).
    Locked {
        /// The first second at which attempts are allowed again.
        until: u64,
    },
    /// Refuse until an administrator resets the state.
    Disabled,
}

impl LockoutRule {
    fn validate(&self, scope: &'static str) -> Result<(), Error> {
        let fail = |field, problem| {
            Err(Error::Lockout {
                scope,
                field,
                problem,
            })
        };
        if self.disable_after == 0 || self.disable_after > NIST_MAX_CONSECUTIVE_FAILURES {
            return fail(
                "disable_after",
                "must be between 1 and 100 (NIST SP 800-63B 5.2.2)",
            );
        }
        if self.max_failures == 0 || self.max_failures > self.disable_after {
            return fail("max_failures", "must be between 1 and `disable_after`");
        }
        if self.window_secs == 0 {
            return fail("window_secs", "must be at least 1");
        }
        if self.lock_secs == 0 {
            return fail("lock_secs", "must be at least 1");
        }
        if self.max_lock_secs < self.lock_secs {
            return fail("max_lock_secs", "must be at least `lock_secs`");
        }
        Ok(())
    }

    /// Whether an attempt at `now` may be verified.
    pub fn gate(&self, state: &LockoutState, now: u64) -> Gate {
        if state.disabled {
            Gate::Disabled
        } else {
            match state.locked_until {
                Some(until) if now < until => Gate::Locked { until },
                _ => Gate::Open,
            }
        }
    }

    /// Records a failed attempt at `now`; returns the state to store and the gate that now
    /// applies. An attempt made while locked or disabled is not counted (it was not verified).
    #[must_use]
    pub fn record_failure(&self, state: LockoutState, now: u64) -> (LockoutState, Gate) {
        let gate = self.gate(&state, now);
        if gate != Gate::Open {
            return (state, gate);
        }
        let mut next = state;
        next.locked_until = None;
        let window_over = now.saturating_sub(next.window_start) >= self.window_secs;
        if next.failures_in_window == 0 || window_over || now < next.window_start {
            next.window_start = now;
            next.failures_in_window = 0;
        }
        next.failures_in_window = next.failures_in_window.saturating_add(1);
        next.consecutive_failures = next.consecutive_failures.saturating_add(1);
        if next.consecutive_failures >= self.disable_after {
            next.disabled = true;
            return (next, Gate::Disabled);
        }
        if next.failures_in_window >= self.max_failures {
            let until = now.saturating_add(self.lock_duration(next.locks));
            next.locked_until = Some(until);
            next.locks = next.locks.saturating_add(1);
            next.failures_in_window = 0;
            return (next, Gate::Locked { until });
        }
        (next, Gate::Open)
    }

    /// Records a successful attempt: failures, locks and back-off are forgotten. A disabled
    /// state stays disabled (a success cannot happen while disabled; only a reset clears it).
    #[must_use]
    pub fn record_success(&self, state: LockoutState) -> LockoutState {
        if state.disabled {
            state
        } else {
            LockoutState::default()
        }
    }

    /// Length of the lock after `previous_locks` earlier locks: `lock_secs` doubled each time,
    /// capped at `max_lock_secs`.
    pub fn lock_duration(&self, previous_locks: u32) -> u64 {
        let factor = 1u64.checked_shl(previous_locks).unwrap_or(u64::MAX);
        self.lock_secs
            .saturating_mul(factor)
            .min(self.max_lock_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> LockoutRule {
        LockoutRule {
            max_failures: 3,
            window_secs: 100,
            lock_secs: 10,
            max_lock_secs: 35,
            disable_after: 8,
        }
    }

    #[test]
    fn locks_after_max_failures_in_window_then_reopens() {
        let r = rule();
        let mut s = LockoutState::default();
        for (t, want) in [
            (0, Gate::Open),
            (5, Gate::Open),
            (9, Gate::Locked { until: 19 }),
        ] {
            let (n, g) = r.record_failure(s, t);
            assert_eq!(g, want, "failure at {t}");
            s = n;
        }
        assert_eq!(r.gate(&s, 18), Gate::Locked { until: 19 });
        assert_eq!(r.gate(&s, 19), Gate::Open);
    }

    #[test]
    fn failures_outside_window_do_not_accumulate() {
        let r = rule();
        let mut s = LockoutState::default();
        for t in [0, 60, 160, 220, 320] {
            let (n, g) = r.record_failure(s, t);
            assert_eq!(g, Gate::Open, "failure at {t}");
            s = n;
        }
        assert_eq!(s.consecutive_failures, 5);
    }

    #[test]
    fn back_off_doubles_up_to_cap() {
        let r = rule();
        assert_eq!(
            (0..5).map(|n| r.lock_duration(n)).collect::<Vec<_>>(),
            [10, 20, 35, 35, 35]
        );
        assert_eq!(r.lock_duration(u32::MAX), 35);
        let mut s = LockoutState::default();
        let mut now = 0;
        let mut locks = Vec::new();
        for _ in 0..2 {
            for _ in 0..3 {
                let (n, g) = r.record_failure(s, now);
                s = n;
                if let Gate::Locked { until } = g {
                    locks.push(until - now);
                    now = until;
                }
            }
        }
        assert_eq!(locks, [10, 20]);
    }

    #[test]
    fn attempts_while_locked_are_not_counted() {
        let r = rule();
        let mut s = LockoutState::default();
        for t in 0..3 {
            s = r.record_failure(s, t).0;
        }
        let before = s;
        let (after, gate) = r.record_failure(s, 5);
        assert_eq!(after, before);
        assert_eq!(gate, Gate::Locked { until: 12 });
    }

    #[test]
    fn disabled_after_consecutive_failures_until_reset() {
        let r = rule();
        let mut s = LockoutState::default();
        let mut now = 0;
        let mut last = Gate::Open;
        for _ in 0..8 {
            if let Gate::Locked { until } = r.gate(&s, now) {
                now = until;
            }
            let (n, g) = r.record_failure(s, now);
            s = n;
            last = g;
        }
        assert_eq!(last, Gate::Disabled);
        assert_eq!(r.gate(&s, u64::MAX), Gate::Disabled);
        assert_eq!(
            r.record_success(s),
            s,
            "success cannot clear a disabled key"
        );
        assert_eq!(r.gate(&LockoutState::default(), now), Gate::Open);
    }

    #[test]
    fn success_forgets_failures_and_back_off() {
        let r = rule();
        let mut s = LockoutState::default();
        for t in 0..3 {
            s = r.record_failure(s, t).0;
        }
        assert_eq!(s.locks, 1);
        s = r.record_success(s);
        assert_eq!(s, LockoutState::default());
    }

    #[test]
    fn clock_going_backwards_starts_a_new_window() {
        let r = rule();
        let s = r.record_failure(LockoutState::default(), 1_000).0;
        let s = r.record_failure(s, 1_001).0;
        let (s, g) = r.record_failure(s, 500);
        assert_eq!(g, Gate::Open);
        assert_eq!((s.window_start, s.failures_in_window), (500, 1));
    }

    #[test]
    fn combined_gate_is_the_stricter() {
        let settings = LockoutSettings {
            user: rule(),
            source: rule(),
        };
        let open = LockoutState::default();
        let locked = |until| LockoutState {
            locked_until: Some(until),
            ..open
        };
        let disabled = LockoutState {
            disabled: true,
            ..open
        };
        let cases = [
            (open, open, Gate::Open),
            (locked(50), open, Gate::Locked { until: 50 }),
            (open, locked(60), Gate::Locked { until: 60 }),
            (locked(50), locked(60), Gate::Locked { until: 60 }),
            (locked(70), locked(60), Gate::Locked { until: 70 }),
            (locked(5), open, Gate::Open),
            (disabled, locked(60), Gate::Disabled),
            (open, disabled, Gate::Disabled),
        ];
        for (user, source, want) in cases {
            assert_eq!(
                settings.gate(&user, &source, 10),
                want,
                "{user:?} {source:?}"
            );
        }
    }

    #[test]
    fn validation_names_scope_and_field() {
        let cases: [(LockoutRule, &str); 6] = [
            (
                LockoutRule {
                    disable_after: 0,
                    ..rule()
                },
                "disable_after",
            ),
            (
                LockoutRule {
                    disable_after: 101,
                    ..rule()
                },
                "disable_after",
            ),
            (
                LockoutRule {
                    max_failures: 0,
                    ..rule()
                },
                "max_failures",
            ),
            (
                LockoutRule {
                    max_failures: 9,
                    ..rule()
                },
                "max_failures",
            ),
            (
                LockoutRule {
                    window_secs: 0,
                    ..rule()
                },
                "window_secs",
            ),
            (
                LockoutRule {
                    max_lock_secs: 9,
                    ..rule()
                },
                "max_lock_secs",
            ),
        ];
        for (bad, want) in cases {
            let settings = LockoutSettings {
                user: rule(),
                source: bad,
            };
            match settings.validate() {
                Err(Error::Lockout { scope, field, .. }) => {
                    assert_eq!((scope, field), ("source", want));
                }
                other => panic!("{want}: {other:?}"),
            }
        }
        assert_eq!(LockoutSettings::default().validate(), Ok(()));
    }
}
