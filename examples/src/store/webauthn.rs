//! Security keys and passkeys (WebAuthn credentials) and their signature-counter guard.
//!
//! A credential is stored as the WebAuthn implementation serializes it (public key, algorithm,
//! flags: nothing secret), with the fields the server queries or shows in columns of their
//! own. The signature counter of the last accepted assertion only moves forward: an assertion
//! is accepted through `UPDATE … WHERE counter = <the counter it was checked against>`, so two
//! requests (or two instances) racing with assertions of one credential cannot both win.

use sqlx::Row as _;

use super::{Store, StoreError};

/// A registered security key or passkey.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebauthnCredential {
    /// The credential id, base64url without padding.
    pub id: String,
    /// Its user.
    pub user_id: i64,
    /// The user handle the authenticator keeps with a discoverable credential (base64url),
    /// the same for all of one user's credentials.
    pub user_handle: String,
    /// The name the user gave it.
    pub name: String,
    /// The credential as JSON (public key, algorithm, flags, counter at the last update).
    #[serde(skip)]
    pub passkey: String,
    /// The signature counter of the last accepted assertion (0: the authenticator keeps none).
    pub counter: i64,
    /// Whether the authenticator may back the credential up (a synced passkey).
    pub backup_eligible: bool,
    /// Whether it was backed up at the last use.
    pub backup_state: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// When it was last used.
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, user_handle, name, passkey, counter, backup_eligible, \
                       backup_state, created_at, last_used_at";

fn credential(r: &sqlx::any::AnyRow) -> Result<WebauthnCredential, StoreError> {
    let eligible: i64 = r.try_get(6)?;
    let state: i64 = r.try_get(7)?;
    Ok(WebauthnCredential {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        user_handle: r.try_get(2)?,
        name: r.try_get(3)?,
        passkey: r.try_get(4)?,
        counter: r.try_get(5)?,
        backup_eligible: eligible != 0,
        backup_state: state != 0,
        created_at: r.try_get(8)?,
        last_used_at: r.try_get(9)?,
    })
}

impl Store {
    /// Stores a newly registered credential; an id already stored is refused
    /// ([`StoreError::Exists`]).
    pub async fn add_webauthn_credential(&self, c: &WebauthnCredential) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webauthn_credentials (id, user_id, user_handle, name, passkey, counter,
                 backup_eligible, backup_state, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&c.id)
        .bind(c.user_id)
        .bind(&c.user_handle)
        .bind(&c.name)
        .bind(&c.passkey)
        .bind(c.counter)
        .bind(i64::from(c.backup_eligible))
        .bind(i64::from(c.backup_state))
        .bind(c.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| super::taken(e, "credential", &c.id))?;
        Ok(())
    }

    /// A user's credentials, oldest first.
    pub async fn webauthn_credentials_of(
        &self,
        user_id: i64,
    ) -> Result<Vec<WebauthnCredential>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webauthn_credentials WHERE user_id = $1
             ORDER BY created_at, id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(credential).collect()
    }

    /// A credential by id.
    pub async fn webauthn_credential(
        &self,
        id: &str,
    ) -> Result<Option<WebauthnCredential>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webauthn_credentials WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(credential).transpose()
    }

    /// Records an accepted assertion: the new counter, backup state and serialized
    /// credential, only if the stored counter is still `old_counter`. False when it is not
    /// (another assertion was accepted meanwhile, or the credential is gone).
    pub async fn use_webauthn_credential(
        &self,
        id: &str,
        old_counter: i64,
        new_counter: i64,
        backup_state: bool,
        passkey: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webauthn_credentials
             SET counter = $1, backup_state = $2, passkey = $3, last_used_at = $4
             WHERE id = $5 AND counter = $6",
        )
        .bind(new_counter)
        .bind(i64::from(backup_state))
        .bind(passkey)
        .bind(now)
        .bind(id)
        .bind(old_counter)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a credential's stored counter (an administrator's repair, and tests of the
    /// guard). False when there is no such credential.
    pub async fn set_webauthn_counter(&self, id: &str, counter: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE webauthn_credentials SET counter = $1 WHERE id = $2")
            .bind(counter)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes one of a user's credentials. False when the user has no such credential.
    pub async fn delete_webauthn_credential(
        &self,
        user_id: i64,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A user's name by id.
    pub async fn user_name_of(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }
}
