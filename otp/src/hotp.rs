//! HOTP (RFC 4226): counter-based codes, verification with look-ahead, resynchronisation.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::{Algorithm, Error, Rejected, Secret};

/// The number of digits of a code: 6 to 10 (RFC 4226 asks for at least 6; 10 is the most a
/// 31-bit truncated value can fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, the default of every authenticator app.
    pub const SIX: Self = Self(6);
    /// Eight digits.
    pub const EIGHT: Self = Self(8);

    /// Checks that `n` is in 6..=10.
    pub fn new(n: u64) -> Result<Self, Error> {
        match n {
            6..=10 => Ok(Self(n as u8)),
            _ => Err(Error::Digits(n)),
        }
    }

    /// The number of digits.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// `10^digits`, the modulus of the truncated value.
    pub const fn modulus(self) -> u64 {
        10u64.pow(self.0 as u32)
    }

    /// `truncated mod 10^digits`, with constant divisors so that no division instruction
    /// runs (a 64-bit `div` costs more than the rest of the code's arithmetic together).
    #[inline]
    const fn reduce(self, truncated: u32) -> u64 {
        (match self.0 {
            6 => truncated % 1_000_000,
            7 => truncated % 10_000_000,
            8 => truncated % 100_000_000,
            9 => truncated % 1_000_000_000,
            // 10 digits hold any 31-bit value.
            _ => truncated,
        }) as u64
    }
}

impl Default for Digits {
    fn default() -> Self {
        Self::SIX
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A one-time code: its value and its length. `Display` pads it with leading zeros.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code {
    value: u64,
    digits: Digits,
}

impl Code {
    /// The numeric value (leading zeros not shown).
    pub const fn value(self) -> u64 {
        self.value
    }

    /// Its number of digits.
    pub const fn digits(self) -> Digits {
        self.digits
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = self.digits.0 as usize)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A code is a short-lived credential: keep it out of logs.
        write!(f, "Code(**redacted**, {} digits)", self.digits.0)
    }
}

/// HMAC state keyed once per secret: the inner and outer hash states after absorbing the
/// padded key. Each code clones it and hashes only the 8-byte counter.
#[derive(Clone)]
enum KeyState {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl KeyState {
    fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        const ANY_LENGTH: &str = "HMAC accepts keys of any length";
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(Hmac::new_from_slice(key).expect(ANY_LENGTH)),
            Algorithm::Sha256 => Self::Sha256(Hmac::new_from_slice(key).expect(ANY_LENGTH)),
            Algorithm::Sha512 => Self::Sha512(Hmac::new_from_slice(key).expect(ANY_LENGTH)),
        }
    }

    /// HMAC of the big-endian counter, dynamically truncated to 31 bits (RFC 4226 §5.3).
    #[inline]
    fn truncated(&self, counter: u64) -> u32 {
        let message = counter.to_be_bytes();
        match self {
            Self::Sha1(mac) => truncate(&mac.clone().chain_update(message).finalize().into_bytes()),
            Self::Sha256(mac) => {
                truncate(&mac.clone().chain_update(message).finalize().into_bytes())
            }
            Self::Sha512(mac) => {
                truncate(&mac.clone().chain_update(message).finalize().into_bytes())
            }
        }
    }
}

/// Dynamic truncation: the low nibble of the last byte picks four bytes; the top bit is dropped.
#[inline]
fn truncate(mac: &[u8]) -> u32 {
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ])
}

/// Reads a code as typed: ASCII digits, spaces ignored, exactly `digits` of them.
#[inline]
pub(crate) fn parse_code(code: &str, digits: Digits) -> Option<u64> {
    let mut value = 0u64;
    let mut count = 0u8;
    for b in code.bytes() {
        match b {
            b'0'..=b'9' => {
                count = count.checked_add(1)?;
                if count > digits.0 {
                    return None;
                }
                value = value * 10 + u64::from(b - b'0');
            }
            b' ' => {}
            _ => return None,
        }
    }
    (count == digits.0).then_some(value)
}

/// An HOTP generator for one secret (RFC 4226), with the HMAC key state precomputed.
///
/// ```
/// use idforge_otp::{Algorithm, Digits, Hotp, Secret};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let hotp = Hotp::new(&secret, Algorithm::Sha1, Digits::SIX);
/// assert_eq!(hotp.generate(0).to_string(), "755224"); // RFC 4226 Appendix D
/// # Ok::<(), idforge_otp::Error>(())
/// ```
#[derive(Clone)]
pub struct Hotp {
    key: KeyState,
    algorithm: Algorithm,
    digits: Digits,
}

impl Hotp {
    /// Keys HMAC with the secret once.
    pub fn new(secret: &Secret, algorithm: Algorithm, digits: Digits) -> Self {
        Self {
            key: KeyState::new(algorithm, secret.expose_bytes()),
            algorithm,
            digits,
        }
    }

    /// The code for `counter`.
    #[inline]
    pub fn generate(&self, counter: u64) -> Code {
        Code {
            value: self.value(counter),
            digits: self.digits,
        }
    }

    #[inline]
    pub(crate) fn value(&self, counter: u64) -> u64 {
        self.digits.reduce(self.key.truncated(counter))
    }

    /// The hash function.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The code length.
    pub fn digits(&self) -> Digits {
        self.digits
    }
}

impl fmt::Debug for Hotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotp")
            .field("key", &"**redacted**")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .finish()
    }
}

/// An accepted HOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the next counter must be stored, or the code can be replayed"]
pub struct HotpAccepted {
    /// The counter value the code was generated for.
    pub counter: u64,
    /// The counter to store and pass to the next verification: `counter + 1`. Codes for any
    /// earlier counter are refused from then on.
    pub next_counter: u64,
}

/// Verifies HOTP codes against a stored counter with a look-ahead window (RFC 4226 §7.2), and
/// resynchronises a token that drifted further from two consecutive codes (§7.4).
///
/// ```
/// use idforge_otp::{Algorithm, Digits, Hotp, HotpVerifier, Rejected, Secret};
///
/// let hotp = Hotp::new(&Secret::from_bytes(b"12345678901234567890")?, Algorithm::Sha1, Digits::SIX);
/// let verifier = HotpVerifier::new(hotp, 10);
/// let ok = verifier.verify("969429", 0).unwrap(); // counter 3: within the look-ahead
/// assert_eq!(ok.next_counter, 4);
/// assert_eq!(verifier.verify("969429", ok.next_counter), Err(Rejected::Invalid)); // used
/// # Ok::<(), idforge_otp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HotpVerifier {
    hotp: Hotp,
    look_ahead: u32,
}

impl HotpVerifier {
    /// Accepts codes for counters `next_counter ..= next_counter + look_ahead`.
    pub fn new(hotp: Hotp, look_ahead: u32) -> Self {
        Self { hotp, look_ahead }
    }

    /// The generator.
    pub fn hotp(&self) -> &Hotp {
        &self.hotp
    }

    /// Checks `code` against the counters from `next_counter` (the stored value) on. Codes of
    /// earlier counters are refused, so a used code cannot be replayed once the returned
    /// `next_counter` is stored.
    pub fn verify(&self, code: &str, next_counter: u64) -> Result<HotpAccepted, Rejected> {
        let given = parse_code(code, self.hotp.digits).ok_or(Rejected::Malformed)?;
        self.find(given, next_counter, self.look_ahead)
            .map(accepted)
            .ok_or(Rejected::Invalid)
    }

    /// RFC 4226 §7.4 resynchronisation: the user sends two consecutive codes; the counter is
    /// moved past them if they match counters `c` and `c + 1` for some `c` in
    /// `next_counter ..= next_counter + window`. The returned `next_counter` is `c + 2`.
    pub fn resync(
        &self,
        first: &str,
        second: &str,
        next_counter: u64,
        window: u32,
    ) -> Result<HotpAccepted, Rejected> {
        let digits = self.hotp.digits;
        let first = parse_code(first, digits).ok_or(Rejected::Malformed)?;
        let second = parse_code(second, digits).ok_or(Rejected::Malformed)?;
        let mut start = next_counter;
        let end = next_counter.saturating_add(u64::from(window));
        while start <= end {
            let remaining = u32::try_from(end - start).unwrap_or(u32::MAX);
            let Some(c) = self.find(first, start, remaining) else {
                break;
            };
            let c2 = c + 1;
            if c2 == u64::MAX {
                break;
            }
            if bool::from(self.hotp.value(c2).ct_eq(&second)) {
                return Ok(accepted(c2));
            }
            start = c2;
        }
        Err(Rejected::Invalid)
    }

    /// The first counter in `from ..= from + ahead` whose code is `given`.
    fn find(&self, given: u64, from: u64, ahead: u32) -> Option<u64> {
        // The last counter value cannot be followed by a stored `next_counter`, so it is never
        // accepted: that keeps every accepted code single-use.
        let last = from.saturating_add(u64::from(ahead)).min(u64::MAX - 1);
        (from..=last).find(|&c| bool::from(self.hotp.value(c).ct_eq(&given)))
    }
}

fn accepted(counter: u64) -> HotpAccepted {
    HotpAccepted {
        counter,
        next_counter: counter + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_hotp() -> Hotp {
        Hotp::new(
            &Secret::from_bytes(b"12345678901234567890").unwrap(),
            Algorithm::Sha1,
            Digits::SIX,
        )
    }

    #[test]
    fn digits_bounds() {
        assert!(Digits::new(5).is_err());
        assert!(Digits::new(11).is_err());
        assert_eq!(Digits::new(10).unwrap().modulus(), 10_000_000_000);
    }

    #[test]
    fn reduce_is_the_modulus() {
        for n in 6..=10 {
            let d = Digits::new(n).unwrap();
            for v in [
                0u32,
                1,
                999_999,
                1_000_000,
                123_456_789,
                0x7fff_ffff,
                u32::MAX,
            ] {
                assert_eq!(d.reduce(v), u64::from(v) % d.modulus(), "{n} digits, {v}");
            }
        }
    }

    #[test]
    fn code_display_pads_and_debug_hides() {
        let c = Code {
            value: 42,
            digits: Digits::EIGHT,
        };
        assert_eq!(c.to_string(), "00000042");
        assert!(!format!("{c:?}").contains("42"));
    }

    #[test]
    fn parse_code_is_strict() {
        assert_eq!(parse_code("123456", Digits::SIX), Some(123_456));
        assert_eq!(parse_code("123 456", Digits::SIX), Some(123_456));
        assert_eq!(parse_code("012345", Digits::SIX), Some(12_345));
        assert_eq!(parse_code("12345", Digits::SIX), None);
        assert_eq!(parse_code("1234567", Digits::SIX), None);
        assert_eq!(parse_code("12345a", Digits::SIX), None);
        assert_eq!(parse_code("-12345", Digits::SIX), None);
        assert_eq!(parse_code("", Digits::SIX), None);
        assert_eq!(
            parse_code("9999999999", Digits::new(10).unwrap()),
            Some(9_999_999_999)
        );
    }

    #[test]
    fn resync_needs_two_consecutive_codes() {
        let v = HotpVerifier::new(rfc_hotp(), 2);
        // Counters 7 and 8 (RFC 4226 Appendix D): beyond the look-ahead of 2 from 0.
        assert_eq!(v.verify("162583", 0), Err(Rejected::Invalid));
        assert_eq!(
            v.resync("162583", "399871", 0, 50),
            Ok(HotpAccepted {
                counter: 8,
                next_counter: 9
            })
        );
        // Not consecutive (7 then 9).
        assert_eq!(v.resync("162583", "520489", 0, 50), Err(Rejected::Invalid));
        // Outside the resync window.
        assert_eq!(v.resync("162583", "399871", 0, 5), Err(Rejected::Invalid));
        assert_eq!(v.resync("16258", "399871", 0, 5), Err(Rejected::Malformed));
    }

    #[test]
    fn counter_at_the_end_of_the_range() {
        let v = HotpVerifier::new(rfc_hotp(), 5);
        let code = v.hotp().generate(u64::MAX - 1).to_string();
        let ok = v.verify(&code, u64::MAX - 2).unwrap();
        assert_eq!(ok.counter, u64::MAX - 1);
        assert_eq!(ok.next_counter, u64::MAX);
        // The very last counter could never be followed by a stored counter: refused.
        let last = v.hotp().generate(u64::MAX).to_string();
        assert_eq!(v.verify(&last, u64::MAX), Err(Rejected::Invalid));
    }
}
