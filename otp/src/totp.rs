//! TOTP (RFC 6238): time-step codes and a verifier with a skew window and replay protection.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::hotp::parse_code;
use crate::{Algorithm, Code, Digits, Error, Hotp, Secret};

/// A TOTP generator for one secret: HOTP over the time step `(unix - t0) / period`.
///
/// ```
/// use idforge_otp::{Algorithm, Digits, Secret, Totp};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let totp = Totp::new(&secret, Algorithm::Sha1, Digits::EIGHT, 30)?;
/// assert_eq!(totp.generate(59)?.to_string(), "94287082"); // RFC 6238 Appendix B
/// # Ok::<(), idforge_otp::Error>(())
/// ```
#[derive(Clone)]
pub struct Totp {
    hotp: Hotp,
    period: u64,
    t0: u64,
}

impl Totp {
    /// A generator with time steps of `period` seconds counted from the unix epoch.
    pub fn new(
        secret: &Secret,
        algorithm: Algorithm,
        digits: Digits,
        period: u64,
    ) -> Result<Self, Error> {
        if period == 0 {
            return Err(Error::ZeroPeriod);
        }
        Ok(Self {
            hotp: Hotp::new(secret, algorithm, digits),
            period,
            t0: 0,
        })
    }

    /// Counts steps from `t0` (unix seconds) instead of the unix epoch.
    #[must_use]
    pub fn with_t0(mut self, t0: u64) -> Self {
        self.t0 = t0;
        self
    }

    /// The time step that contains `unix`.
    #[inline]
    pub fn step(&self, unix: u64) -> Result<u64, Error> {
        unix.checked_sub(self.t0)
            .map(|elapsed| match self.period {
                // The usual periods get constant divisors (no division instruction).
                30 => elapsed / 30,
                60 => elapsed / 60,
                period => elapsed / period,
            })
            .ok_or(Error::BeforeEpoch {
                time: unix,
                t0: self.t0,
            })
    }

    /// The code valid at `unix`.
    pub fn generate(&self, unix: u64) -> Result<Code, Error> {
        Ok(self.hotp.generate(self.step(unix)?))
    }

    /// The code of time step `step`.
    pub fn generate_step(&self, step: u64) -> Code {
        self.hotp.generate(step)
    }

    /// The step length in seconds.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The start of step 0, in unix seconds.
    pub fn t0(&self) -> u64 {
        self.t0
    }

    /// The underlying HOTP generator.
    pub fn hotp(&self) -> &Hotp {
        &self.hotp
    }
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("hotp", &self.hotp)
            .field("period", &self.period)
            .field("t0", &self.t0)
            .finish()
    }
}

/// Why a code was refused. The variants are for audit logs; tell the user only that the code
/// was not accepted, whatever the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// Not a code of the expected length made of digits.
    #[error("the code was not accepted")]
    Malformed,
    /// No step (or counter) in the window has this code.
    #[error("the code was not accepted")]
    Invalid,
    /// The code is right but its step was already used: a replay.
    #[error("the code was not accepted")]
    Replayed,
}

/// An accepted TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the step must be stored as the last used step, or the code can be replayed"]
pub struct TotpAccepted {
    /// The time step the code belongs to. Store it and pass it as `last_step` next time.
    pub step: u64,
    /// How many steps the code was away from the current one (negative: an older code).
    pub drift: i64,
}

/// Verifies TOTP codes within a skew window, in constant time per candidate, refusing codes
/// of a step at or before the last accepted one.
///
/// ```
/// use idforge_otp::{Algorithm, Digits, Rejected, Secret, Totp, TotpVerifier};
///
/// let totp = Totp::new(&Secret::from_bytes(b"12345678901234567890")?, Algorithm::Sha1, Digits::EIGHT, 30)?;
/// let verifier = TotpVerifier::new(totp, 1, 1);
/// let now = 59;
/// let ok = verifier.verify("94287082", now, None).unwrap();
/// assert_eq!((ok.step, ok.drift), (1, 0));
/// // The same code again, with the step stored from the first use:
/// assert_eq!(verifier.verify("94287082", now + 5, Some(ok.step)), Err(Rejected::Replayed));
/// # Ok::<(), idforge_otp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TotpVerifier {
    totp: Totp,
    behind: u8,
    ahead: u8,
}

impl TotpVerifier {
    /// Accepts codes of up to `behind` steps before and `ahead` steps after the current one
    /// (RFC 6238 §5.2 recommends at most one step back).
    pub fn new(totp: Totp, behind: u8, ahead: u8) -> Self {
        Self {
            totp,
            behind,
            ahead,
        }
    }

    /// The generator.
    pub fn totp(&self) -> &Totp {
        &self.totp
    }

    /// Checks `code` at time `unix`. `last_step` is the step of the last code accepted for
    /// this secret (or `None`); a code of that step or an earlier one is refused as a replay.
    /// On success store the returned step as the new `last_step`. The current step is tried
    /// first, then one back, one ahead, two back, and so on; each comparison is constant-time.
    pub fn verify(
        &self,
        code: &str,
        unix: u64,
        last_step: Option<u64>,
    ) -> Result<TotpAccepted, Rejected> {
        let hotp = &self.totp.hotp;
        let given = parse_code(code, hotp.digits()).ok_or(Rejected::Malformed)?;
        let current = self.totp.step(unix).map_err(|_| Rejected::Invalid)?;
        let mut replayed = false;
        let mut check = |step: u64, drift: i64| -> Option<TotpAccepted> {
            if bool::from(hotp.value(step).ct_eq(&given)) {
                if last_step.is_some_and(|last| step <= last) {
                    replayed = true;
                } else {
                    return Some(TotpAccepted { step, drift });
                }
            }
            None
        };
        if let Some(ok) = check(current, 0) {
            return Ok(ok);
        }
        for distance in 1..=self.behind.max(self.ahead) {
            let d = u64::from(distance);
            if distance <= self.behind
                && let Some(step) = current.checked_sub(d)
                && let Some(ok) = check(step, -i64::from(distance))
            {
                return Ok(ok);
            }
            if distance <= self.ahead
                && let Some(step) = current.checked_add(d)
                && let Some(ok) = check(step, i64::from(distance))
            {
                return Ok(ok);
            }
        }
        Err(if replayed {
            Rejected::Replayed
        } else {
            Rejected::Invalid
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(behind: u8, ahead: u8) -> TotpVerifier {
        let totp = Totp::new(
            &Secret::from_bytes(b"12345678901234567890").unwrap(),
            Algorithm::Sha1,
            Digits::SIX,
            30,
        )
        .unwrap();
        TotpVerifier::new(totp, behind, ahead)
    }

    #[test]
    fn window_and_drift() {
        let v = verifier(1, 1);
        let now = 1_700_000_000;
        let step = v.totp().step(now).unwrap();
        for (offset, drift) in [(0i64, 0i64), (-1, -1), (1, 1)] {
            let s = step.checked_add_signed(offset).unwrap();
            let code = v.totp().generate_step(s).to_string();
            assert_eq!(
                v.verify(&code, now, None),
                Ok(TotpAccepted { step: s, drift })
            );
        }
        for offset in [-2i64, 2, 3, -3] {
            let s = step.checked_add_signed(offset).unwrap();
            let code = v.totp().generate_step(s).to_string();
            assert!(v.verify(&code, now, None).is_err(), "offset {offset}");
        }
    }

    #[test]
    fn replay_and_older_steps_refused() {
        let v = verifier(2, 0);
        let now = 1_700_000_000;
        let step = v.totp().step(now).unwrap();
        let code = v.totp().generate_step(step - 1).to_string();
        let ok = v.verify(&code, now, None).unwrap();
        assert_eq!(ok.step, step - 1);
        assert_eq!(v.verify(&code, now, Some(ok.step)), Err(Rejected::Replayed));
        // An even older code, still in the window, comes after the used step: refused.
        let older = v.totp().generate_step(step - 2).to_string();
        assert_eq!(
            v.verify(&older, now, Some(ok.step)),
            Err(Rejected::Replayed)
        );
        // The current code is newer than the stored step: accepted.
        let current = v.totp().generate_step(step).to_string();
        assert_eq!(v.verify(&current, now, Some(ok.step)).unwrap().step, step);
    }

    #[test]
    fn before_epoch_and_malformed() {
        let v = verifier(1, 1);
        assert_eq!(v.verify("12345", 100, None), Err(Rejected::Malformed));
        let t = Totp::new(
            &Secret::from_bytes(b"k").unwrap(),
            Algorithm::Sha1,
            Digits::SIX,
            30,
        )
        .unwrap()
        .with_t0(1000);
        assert!(matches!(t.step(999), Err(Error::BeforeEpoch { .. })));
        assert_eq!(t.step(1000).unwrap(), 0);
        let v = TotpVerifier::new(t, 1, 1);
        assert_eq!(v.verify("123456", 10, None), Err(Rejected::Invalid));
        assert!(
            Totp::new(
                &Secret::from_bytes(b"k").unwrap(),
                Algorithm::Sha1,
                Digits::SIX,
                0
            )
            .is_err()
        );
    }

    #[test]
    fn step_zero_window_does_not_underflow() {
        let v = verifier(3, 3);
        let code = v.totp().generate_step(0).to_string();
        assert_eq!(v.verify(&code, 5, None).unwrap().step, 0);
    }
}
