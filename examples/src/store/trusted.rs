//! Remembered browsers ("trusted devices"): the rows behind the cookie that lets a browser
//! skip the second factor for the days its policy allows, until it expires or is revoked.

use sqlx::Row as _;

use super::{Store, StoreError};

/// A remembered browser.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrustedDevice {
    /// A random id (what the cookie names).
    pub id: String,
    /// Its user.
    pub user_id: i64,
    /// The browser's device cookie id, when it had one.
    pub device_id: Option<String>,
    /// What the user sees in the list (the browser and system from the User-Agent).
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it is no longer trusted.
    pub expires_at: i64,
    /// When it last skipped a second factor.
    pub last_used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

impl TrustedDevice {
    /// Whether it still lets its browser skip the second factor at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

const COLUMNS: &str =
    "id, user_id, device_id, label, created_at, expires_at, last_used_at, revoked_at";

fn trusted(r: &sqlx::any::AnyRow) -> Result<TrustedDevice, StoreError> {
    Ok(TrustedDevice {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        device_id: r.try_get(2)?,
        label: r.try_get(3)?,
        created_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        last_used_at: r.try_get(6)?,
        revoked_at: r.try_get(7)?,
    })
}

impl Store {
    /// Stores a remembered browser.
    pub async fn add_trusted_device(&self, d: &TrustedDevice) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO trusted_devices (id, user_id, device_id, label, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.id)
        .bind(d.user_id)
        .bind(d.device_id.clone())
        .bind(&d.label)
        .bind(d.created_at)
        .bind(d.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A remembered browser by id.
    pub async fn trusted_device(&self, id: &str) -> Result<Option<TrustedDevice>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM trusted_devices WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(trusted).transpose()
    }

    /// A user's remembered browsers, newest first (revoked and expired ones included).
    pub async fn trusted_devices_of(&self, user_id: i64) -> Result<Vec<TrustedDevice>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM trusted_devices WHERE user_id = $1 ORDER BY created_at DESC, id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trusted).collect()
    }

    /// Notes that a remembered browser skipped a second factor.
    pub async fn touch_trusted_device(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE trusted_devices SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes one remembered browser of `user_id` (every user's when `None`, for
    /// administrators); returns whether a live one was revoked.
    pub async fn revoke_trusted_device(
        &self,
        id: &str,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = match user_id {
            Some(user_id) => {
                sqlx::query(
                    "UPDATE trusted_devices SET revoked_at = $1
                     WHERE id = $2 AND revoked_at IS NULL AND user_id = $3",
                )
                .bind(now)
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?
            }
            None => sqlx::query(
                "UPDATE trusted_devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?,
        };
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every remembered browser of a user; returns how many.
    pub async fn revoke_trusted_devices_of(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE trusted_devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
