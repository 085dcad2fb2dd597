//! YubiKeys in Yubico OTP mode: imported (from the personalization tool's log), assigned to a
//! user, and their counter guard.
//!
//! The private id and the AES key are sealed with the store's keyring, bound to the key's
//! public id. The guard keeps the counters of the last accepted OTP as one number
//! (`usage << 8 | session`, the order in which OTPs of one key are made) and accepts an OTP
//! only through `UPDATE … WHERE counter < new`: two requests, or two instances, racing with
//! the same OTP cannot both win.

use sqlx::Row as _;

use super::{Store, StoreError};

/// A stored YubiKey (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Yubikey {
    /// The public id, modhex (the first characters of every OTP it types).
    pub public_id: String,
    /// The user it is assigned to.
    pub user_id: Option<i64>,
    /// A label (the serial number by default).
    pub label: String,
    /// The serial number, when the log had it.
    pub serial: Option<i64>,
    /// The last accepted counters (`usage << 8 | session`), -1 before the first.
    pub counter: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// When it was assigned.
    pub assigned_at: Option<i64>,
    /// When it was last used.
    pub last_used_at: Option<i64>,
}

/// A YubiKey to import.
#[derive(Clone)]
pub struct NewYubikey {
    /// The public id, modhex.
    pub public_id: String,
    /// A label.
    pub label: String,
    /// The serial number.
    pub serial: Option<i64>,
    /// The private id (6 bytes) followed by the AES key (16 bytes).
    pub secret: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for NewYubikey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewYubikey")
            .field("public_id", &self.public_id)
            .field("label", &self.label)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// The associated data of a YubiKey's sealed secret.
fn context(public_id: &str) -> Vec<u8> {
    let mut aad = b"idforge yubikey v1\0".to_vec();
    aad.extend_from_slice(public_id.as_bytes());
    aad
}

const COLUMNS: &str =
    "public_id, user_id, label, serial, counter, created_at, assigned_at, last_used_at";

fn yubikey(r: &sqlx::any::AnyRow) -> Result<Yubikey, StoreError> {
    Ok(Yubikey {
        public_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        label: r.try_get(2)?,
        serial: r.try_get(3)?,
        counter: r.try_get(4)?,
        created_at: r.try_get(5)?,
        assigned_at: r.try_get(6)?,
        last_used_at: r.try_get(7)?,
    })
}

impl Store {
    /// Imports keys, all or nothing: a public id already in the store is refused
    /// ([`StoreError::Exists`]), since re-programming a key gives it a new secret and the old
    /// one must be deleted first.
    pub async fn import_yubikeys(
        &self,
        keys: &[NewYubikey],
        now: i64,
    ) -> Result<usize, StoreError> {
        let key_id = self.keyring.current().id_hex();
        let mut tx = self.pool.begin().await?;
        for k in keys {
            let sealed = self.keyring.seal(&k.secret, &context(&k.public_id))?;
            sqlx::query(
                "INSERT INTO yubikeys (public_id, label, serial, secret, key_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&k.public_id)
            .bind(&k.label)
            .bind(k.serial)
            .bind(sealed)
            .bind(&key_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| super::taken(e, "YubiKey", &k.public_id))?;
        }
        tx.commit().await?;
        Ok(keys.len())
    }

    /// Every YubiKey, by public id.
    pub async fn yubikeys(&self) -> Result<Vec<Yubikey>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM yubikeys ORDER BY public_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(yubikey).collect()
    }

    /// The YubiKeys assigned to a user.
    pub async fn yubikeys_of(&self, user_id: i64) -> Result<Vec<Yubikey>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM yubikeys WHERE user_id = $1 ORDER BY public_id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(yubikey).collect()
    }

    /// A YubiKey and its secret (private id, then AES key), by public id.
    pub async fn yubikey_secret(
        &self,
        public_id: &str,
    ) -> Result<Option<(Yubikey, zeroize::Zeroizing<Vec<u8>>)>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, secret FROM yubikeys WHERE public_id = $1"
        )))
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key = yubikey(&row)?;
        let sealed: Vec<u8> = row.try_get(8)?;
        let secret = self.keyring.open(&sealed, &context(public_id))?;
        Ok(Some((key, secret)))
    }

    /// Assigns a key to a user (`None`: takes it back). A key assigned to someone else must
    /// be taken back first. Returns false when there is no such key.
    pub async fn assign_yubikey(
        &self,
        public_id: &str,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done =
            match user_id {
                Some(id) => {
                    sqlx::query(
                        "UPDATE yubikeys SET user_id = $1, assigned_at = $2
                     WHERE public_id = $3 AND (user_id IS NULL OR user_id = $1)",
                    )
                    .bind(id)
                    .bind(now)
                    .bind(public_id)
                    .execute(&self.pool)
                    .await?
                }
                None => sqlx::query(
                    "UPDATE yubikeys SET user_id = NULL, assigned_at = NULL WHERE public_id = $1",
                )
                .bind(public_id)
                .execute(&self.pool)
                .await?,
            };
        if done.rows_affected() == 0 && user_id.is_some() {
            // Either no key, or assigned to another user.
            let exists = self
                .yubikeys()
                .await?
                .into_iter()
                .find(|k| k.public_id == public_id);
            if let Some(k) = exists {
                return Err(StoreError::Invalid {
                    field: "user",
                    message: format!(
                        "YubiKey {} is assigned to another user (user id {}); unassign it first",
                        k.public_id,
                        k.user_id.unwrap_or_default()
                    ),
                });
            }
            return Ok(false);
        }
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a key; returns whether it existed.
    pub async fn delete_yubikey(&self, public_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM yubikeys WHERE public_id = $1")
            .bind(public_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The counter guard: stores `counter` for the key if it is assigned to `user_id` and the
    /// counter is past the stored one. True for exactly one caller per OTP.
    pub async fn accept_yubikey_counter(
        &self,
        public_id: &str,
        user_id: i64,
        counter: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE yubikeys SET counter = $1, last_used_at = $2
             WHERE public_id = $3 AND user_id = $4 AND counter < $1",
        )
        .bind(counter)
        .bind(now)
        .bind(public_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Re-seals YubiKey secrets not sealed under the current key, on `tx`.
    pub(super) async fn reencrypt_yubikeys(
        &self,
        tx: &mut sqlx::AnyConnection,
    ) -> Result<u64, StoreError> {
        let current = self.keyring.current().id_hex();
        let rows = sqlx::query("SELECT public_id, secret FROM yubikeys WHERE key_id <> $1")
            .bind(&current)
            .fetch_all(&mut *tx)
            .await?;
        let mut n = 0;
        for row in &rows {
            let public_id: String = row.try_get(0)?;
            let sealed: Vec<u8> = row.try_get(1)?;
            let plain = self.keyring.open(&sealed, &context(&public_id))?;
            let resealed = self.keyring.seal(&plain, &context(&public_id))?;
            sqlx::query("UPDATE yubikeys SET secret = $1, key_id = $2 WHERE public_id = $3")
                .bind(resealed)
                .bind(&current)
                .bind(&public_id)
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
        Ok(n)
    }
}
