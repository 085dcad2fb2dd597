//! Remembered browsers ("remember this device for N days").
//!
//! After a second factor, a user may ask the browser to be remembered for the days the
//! matching policy allows (`remember_device_days`). The browser gets a cookie naming a
//! `trusted_devices` row and carrying a keyed hash over (row id, user id, expiry): the cookie
//! cannot be moved to another user or extended, and the row can be revoked by the user (the
//! dashboard) or an administrator (`idforge device revoke`). The browser's device cookie is
//! registered with the adaptive rules at the same time. A remembered browser skips the
//! second factor only while the row lives, the policy still allows remembering (for no longer
//! than it now says), and the adaptive rules raised no challenge for this login.

use super::{PendingLogin, Service, ServiceError};
use crate::store::{AuditEntry, TrustedDevice};

/// The factor a remembered browser stands for in the audit log.
pub const TRUSTED_FACTOR: &str = "trusted_device";
const MAC_CONTEXT: &[u8] = b"idforge trusted device v1";

fn mac_input(id: &str, user_id: i64, expires_at: i64) -> String {
    format!("{id}.{user_id}.{expires_at}")
}

/// A browser just remembered: the cookie to set and how long it lives.
#[derive(Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The cookie's value.
    pub cookie: String,
    /// Its lifetime, seconds.
    pub max_age_secs: u64,
}

impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remembered")
            .field("max_age_secs", &self.max_age_secs)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Remembers the browser of a login that has just passed its second factor, when its
    /// policy allows it. `None` when it does not (or the login was challenged).
    pub async fn remember_browser(
        &self,
        pending: &PendingLogin,
        now: u64,
    ) -> Result<Option<Remembered>, ServiceError> {
        if pending.remember_days == 0 || pending.challenged {
            return Ok(None);
        }
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let ttl = u64::from(pending.remember_days) * 86_400;
        let id = super::random_from("0123456789abcdef", 32)?;
        let expires_at = now_i.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        let when = chrono::DateTime::from_timestamp(now_i, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        self.store
            .add_trusted_device(&TrustedDevice {
                id: id.clone(),
                user_id: pending.user_id,
                device_id: pending.device.clone(),
                label: format!("browser remembered on {when} from {}", pending.source_ip),
                created_at: now_i,
                expires_at,
                last_used_at: None,
                revoked_at: None,
            })
            .await?;
        if let Some(device) = &pending.device {
            let registered = idforge_adaptive::RegisteredDevice {
                id: device.clone(),
                registered_at: now,
                trusted_until: u64::try_from(expires_at).unwrap_or(u64::MAX),
            };
            self.store
                .upsert_device(pending.user_id, &registered, now_i)
                .await?;
        }
        self.append_audit(AuditEntry {
            id: 0,
            at: now_i,
            username: pending.username.clone(),
            user_id: Some(pending.user_id),
            application: pending.application.clone(),
            source_ip: Some(pending.source_ip.to_string()),
            front_door: pending.front_door.as_str().into(),
            factors: vec![format!("{TRUSTED_FACTOR}:remembered:{id}")],
            result: "enrol".into(),
            reasons: vec![format!(
                "browser remembered for {} days",
                pending.remember_days
            )],
        })
        .await?;
        let mac = self.store.keyring().mac(
            MAC_CONTEXT,
            mac_input(&id, pending.user_id, expires_at).as_bytes(),
        );
        Ok(Some(Remembered {
            cookie: format!("{id}.{expires_at}.{mac}"),
            max_age_secs: ttl,
        }))
    }

    /// Finishes `pending` without a second factor when `cookie` is a live remembered browser
    /// of the same user that its policy still allows. `None` when the cookie does not apply:
    /// the login goes on to its second factor as usual.
    pub async fn complete_with_remembered_browser(
        &self,
        mut pending: PendingLogin,
        cookie: &str,
        now: u64,
    ) -> Result<Option<super::Outcome>, ServiceError> {
        if pending.remember_days == 0 || pending.challenged || now > pending.expires_at {
            return Ok(None);
        }
        let mut parts = cookie.split('.');
        let (Some(id), Some(expires), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let Ok(expires_at) = expires.parse::<i64>() else {
            return Ok(None);
        };
        if !self.store.keyring().mac_matches(
            mac,
            MAC_CONTEXT,
            mac_input(id, pending.user_id, expires_at).as_bytes(),
        ) {
            // Another user's cookie, or one that was altered.
            return Ok(None);
        }
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let policy_limit = i64::from(pending.remember_days) * 86_400;
        let Some(row) = self.store.trusted_device(id).await? else {
            return Ok(None);
        };
        if row.user_id != pending.user_id
            || row.expires_at != expires_at
            || !row.is_live(now_i)
            || now_i >= row.created_at.saturating_add(policy_limit)
        {
            return Ok(None);
        }
        let Some(view) = self.store.user_view(&pending.username).await? else {
            return Ok(None);
        };
        if view.user.id != pending.user_id || view.user.status != crate::store::UserStatus::Active {
            return Ok(None);
        }
        self.store.touch_trusted_device(id, now_i).await?;
        pending.factors.push(format!("{TRUSTED_FACTOR}:{id}"));
        let (user, groups) = (view.user.clone(), view.groups.clone());
        self.finish(pending, user, groups, now, true, Vec::new())
            .await
            .map(Some)
    }
}
