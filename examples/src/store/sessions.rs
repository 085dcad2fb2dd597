//! Browser sessions of the web IdP. The store keeps a hash of the cookie's token, never the
//! token, so a copy of the database cannot be used to take over a session.

use sqlx::Row as _;

use super::{Store, StoreError};

/// A browser session as stored. `data` is the web IdP's own JSON (CSRF secret, the login
/// in progress, the SAML request waiting for it); `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Hex SHA-256 of the cookie token.
    pub id_hash: String,
    /// The signed-in user, once the login completed.
    pub user_id: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last request.
    pub last_seen: i64,
    /// Unix seconds after which the session is void.
    pub expires_at: i64,
    /// The front door's state, as JSON text.
    pub data: String,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("id_hash", &self.id_hash)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .field("expires_at", &self.expires_at)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

const COLUMNS: &str = "id_hash, user_id, created_at, last_seen, expires_at, data";

impl Store {
    /// Creates or replaces a session.
    pub async fn save_web_session(&self, s: &WebSession) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        upsert(&mut conn, s).await?;
        if let Some(cache) = &self.cache {
            cache.wrote_session(s);
        }
        Ok(())
    }

    /// Saves `new` and deletes the session `old` in one transaction (a token rotated at login).
    pub async fn replace_web_session(&self, old: &str, new: &WebSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(old)
            .execute(&mut *tx)
            .await?;
        upsert(&mut tx, new).await?;
        tx.commit().await?;
        if let Some(cache) = &self.cache {
            cache.drop_session(old);
            cache.wrote_session(new);
        }
        Ok(())
    }

    /// The session with this token hash, if it exists and has not expired at `now`.
    pub async fn web_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<WebSession>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.web_session_stored(id_hash, now).await;
        };
        if let Some(s) = cache.session(id_hash) {
            return Ok((s.expires_at > now).then_some(s));
        }
        let load = cache.begin();
        let found = self.web_session_stored(id_hash, now).await?;
        if let Some(s) = &found {
            cache.keep_session(s, load);
        }
        Ok(found)
    }

    async fn web_session_stored(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<WebSession>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM web_sessions WHERE id_hash = $1 AND expires_at > $2"
        )))
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(WebSession {
                id_hash: r.try_get(0)?,
                user_id: r.try_get(1)?,
                created_at: r.try_get(2)?,
                last_seen: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                data: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Ends a session. Returns whether it existed.
    pub async fn delete_web_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        if let Some(cache) = &self.cache {
            cache.drop_session(id_hash);
        }
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of a user (password change, account disabled, `idforge user
    /// logout`). Returns how many there were.
    pub async fn delete_web_sessions_of(&self, user_id: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if let Some(cache) = &self.cache {
            cache.drop_sessions_of(user_id);
        }
        Ok(done.rows_affected())
    }

    /// Ends every session of a user but the one whose token hash is `keep` (a password changed
    /// in that session). Returns how many were ended.
    pub async fn delete_web_sessions_of_except(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let Some(keep) = keep else {
            return self.delete_web_sessions_of(user_id).await;
        };
        let done = sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        if let Some(cache) = &self.cache {
            cache.drop_sessions_of(user_id);
        }
        Ok(done.rows_affected())
    }

    /// Removes the sessions that expired before `now`. Returns how many.
    pub async fn purge_web_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        if let Some(cache) = &self.cache {
            cache.drop_expired_sessions(now);
        }
        Ok(done.rows_affected())
    }

    /// How many sessions are stored (signed in or not), for metrics.
    pub async fn count_web_sessions(&self, now: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM web_sessions WHERE expires_at > $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}

async fn upsert(conn: &mut sqlx::AnyConnection, s: &WebSession) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO web_sessions (id_hash, user_id, created_at, last_seen, expires_at, data)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id_hash) DO UPDATE SET user_id = $2, last_seen = $4, expires_at = $5, data = $6",
    )
    .bind(&s.id_hash)
    .bind(s.user_id)
    .bind(s.created_at)
    .bind(s.last_seen)
    .bind(s.expires_at)
    .bind(&s.data)
    .execute(conn)
    .await?;
    Ok(())
}
