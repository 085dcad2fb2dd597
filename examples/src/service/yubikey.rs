//! YubiKey one-time passwords (Yubico OTP) as a second factor, validated here: no call to
//! Yubico's cloud. An administrator imports keys from the personalization tool's log and
//! assigns them (`idforge token import`, `idforge token assign`); an OTP is accepted for the
//! user its key is assigned to, once, through the store's counter guard.

use idforge_otp::{YubicoCounters, YubicoKey, YubicoOtp};

use super::{PendingLogin, Service, ServiceError};

/// The method name.
pub const YUBICO_METHOD: &str = "yubico_otp";

/// What a code turned out to be for the YubiKey check.
#[derive(Debug)]
pub(super) enum YubicoCheck {
    /// Not a Yubico OTP (a six-digit code, a backup code …).
    NotAnOtp,
    /// Accepted: the factor string for the audit entry.
    Accepted(String),
    /// A genuine OTP of the user's key that was used already (or is older than one that was).
    Replayed,
    /// Refused, with the reason for the audit log.
    Refused(String),
}

/// The counters as the store keeps them: `usage << 8 | session`.
fn packed(c: YubicoCounters) -> i64 {
    (i64::from(c.usage) << 8) | i64::from(c.session)
}

fn unpacked(counter: i64) -> Option<YubicoCounters> {
    (counter >= 0).then(|| YubicoCounters {
        usage: u16::try_from(counter >> 8).unwrap_or(u16::MAX),
        session: u8::try_from(counter & 0xff).unwrap_or(0),
    })
}

/// Splits a password with a YubiKey OTP appended (`password+otp` over RADIUS): the OTP is the
/// last 44 characters (a six-byte public id and the block, what YubiKeys type) when they are
/// modhex. `None` when the input does not end in one.
pub fn split_yubico_otp(input: &str) -> Option<(&str, &str)> {
    const LEN: usize = 44;
    if input.len() <= LEN || !input.is_char_boundary(input.len() - LEN) {
        return None;
    }
    let (password, otp) = input.split_at(input.len() - LEN);
    YubicoOtp::parse(otp).ok().map(|_| (password, otp))
}

impl Service {
    /// Checks `code` as a Yubico OTP of a key assigned to the pending login's user.
    pub(super) async fn check_yubico(
        &self,
        pending: &PendingLogin,
        code: &str,
        now: u64,
    ) -> Result<YubicoCheck, ServiceError> {
        let Ok(otp) = YubicoOtp::parse(code.trim()) else {
            return Ok(YubicoCheck::NotAnOtp);
        };
        let public_id = otp.public_id_modhex();
        let Some((key, secret)) = self.store.yubikey_secret(&public_id).await? else {
            return Ok(YubicoCheck::Refused(format!("unknown YubiKey {public_id}")));
        };
        if key.user_id != Some(pending.user_id) {
            return Ok(YubicoCheck::Refused(format!(
                "YubiKey {public_id} is not assigned to this user"
            )));
        }
        let (Ok(private), Ok(aes)) = (
            <[u8; YubicoKey::PRIVATE_ID_LEN]>::try_from(
                &secret[..YubicoKey::PRIVATE_ID_LEN.min(secret.len())],
            ),
            <[u8; YubicoKey::AES_KEY_LEN]>::try_from(
                &secret[YubicoKey::PRIVATE_ID_LEN.min(secret.len())..],
            ),
        ) else {
            return Err(ServiceError::Config(format!(
                "YubiKey {public_id}: the stored secret has the wrong length"
            )));
        };
        let yubikey = YubicoKey::new(otp.public_id(), private, aes)
            .map_err(|e| ServiceError::Config(format!("YubiKey {public_id}: {e}")))?;
        let token = match yubikey.verify(&otp, unpacked(key.counter)) {
            Ok(token) => token,
            Err(idforge_otp::YubicoError::Replayed { .. }) => {
                return Ok(YubicoCheck::Replayed);
            }
            Err(e) => {
                return Ok(YubicoCheck::Refused(format!("YubiKey {public_id}: {e:?}")));
            }
        };
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        if self
            .store
            .accept_yubikey_counter(&public_id, pending.user_id, packed(token.counters), now_i)
            .await?
        {
            Ok(YubicoCheck::Accepted(format!(
                "{YUBICO_METHOD}:ok:{public_id}:{}",
                packed(token.counters)
            )))
        } else {
            Ok(YubicoCheck::Replayed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_pack_in_their_order_and_back() {
        let a = YubicoCounters {
            usage: 1,
            session: 255,
        };
        let b = YubicoCounters {
            usage: 2,
            session: 0,
        };
        assert!(packed(a) < packed(b));
        assert_eq!(unpacked(packed(a)), Some(a));
        assert_eq!(unpacked(-1), None);
    }

    #[test]
    fn an_appended_otp_is_split_off_only_when_it_is_one() {
        let otp = "vvccccfiluijbgrtdutghnvdlehuvbvhnlrivljegjdh";
        assert_eq!(otp.len(), 44);
        let joined = format!("correct horse{otp}");
        assert_eq!(split_yubico_otp(&joined), Some(("correct horse", otp)));
        assert_eq!(
            split_yubico_otp(otp),
            None,
            "a password is needed before it"
        );
        assert_eq!(split_yubico_otp("correct horse123456"), None);
        let not_modhex = format!("pw{}", "x".repeat(44));
        assert_eq!(split_yubico_otp(&not_modhex), None);
        // Multi-byte characters before the OTP are fine; a split inside one is refused.
        assert_eq!(
            split_yubico_otp(&format!("pässwörd{otp}")),
            Some(("pässwörd", otp))
        );
        assert_eq!(split_yubico_otp(&"é".repeat(30)), None);
    }
}
