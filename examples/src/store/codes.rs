//! Codes and links sent to users (a one-time code by e-mail or SMS, a sign-in link, an
//! activation link), and security-question answers.
//!
//! Only a keyed hash of a code is stored ([`crate::crypto::Keyring::mac`]). A code row and the
//! message that carries it are written in one transaction, so a code exists exactly when its
//! message is in the outbox. A code is single use (`used_at`), short-lived (`expires_at`) and
//! void after `max_attempts` wrong guesses; each of these is decided by one conditional
//! `UPDATE`, so two requests racing with the same code cannot both use it.

use sqlx::Row as _;

use super::outbox::insert_mail;
use super::{MailStatus, NewMail, Store, StoreError};

/// A code or link to store, already hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// What it is for: `email_otp`, `sms_otp`, `alternate_email_otp`, `email_link`,
    /// `activation`.
    pub purpose: String,
    /// The pending login it belongs to (empty for an activation link).
    pub binding: String,
    /// The user.
    pub user_id: i64,
    /// Where it was sent, masked (for the audit log and the page that says so).
    pub destination: String,
    /// The keyed hash of the code or token.
    pub code_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
    /// Wrong guesses allowed before it is void.
    pub max_attempts: i64,
}

/// A stored code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    /// Row id.
    pub id: i64,
    /// What it is for.
    pub purpose: String,
    /// The pending login it belongs to.
    pub binding: String,
    /// The user.
    pub user_id: i64,
    /// Where it was sent, masked.
    pub destination: String,
    /// The keyed hash.
    pub code_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
    /// Wrong guesses so far.
    pub attempts: i64,
    /// Wrong guesses allowed.
    pub max_attempts: i64,
    /// When it was used.
    pub used_at: Option<i64>,
}

impl SentCode {
    /// Whether it can still be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.used_at.is_none() && now <= self.expires_at && self.attempts < self.max_attempts
    }
}

const COLUMNS: &str = "id, purpose, binding, user_id, destination, code_hash, created_at, \
     expires_at, attempts, max_attempts, used_at";

fn sent_code(r: &sqlx::any::AnyRow) -> Result<SentCode, StoreError> {
    Ok(SentCode {
        id: r.try_get(0)?,
        purpose: r.try_get(1)?,
        binding: r.try_get(2)?,
        user_id: r.try_get(3)?,
        destination: r.try_get(4)?,
        code_hash: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        attempts: r.try_get(8)?,
        max_attempts: r.try_get(9)?,
        used_at: r.try_get(10)?,
    })
}

impl Store {
    /// Stores a code and writes the message that carries it, in one transaction. Earlier
    /// live codes of the same binding and purpose stop working (the newest one counts). When a
    /// rate limit suppresses the message, no code is stored: returns `None` and the reason is
    /// on the suppressed outbox row.
    pub async fn issue_code(
        &self,
        code: &NewCode,
        message: &NewMail,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (_, status) = insert_mail(&mut tx, message).await?;
        if status == MailStatus::Suppressed {
            tx.commit().await?;
            return Ok(None);
        }
        if !code.binding.is_empty() {
            sqlx::query(
                "UPDATE sent_codes SET expires_at = $1
                 WHERE binding = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(code.created_at - 1)
            .bind(&code.binding)
            .bind(&code.purpose)
            .execute(&mut *tx)
            .await?;
        }
        let id: i64 = sqlx::query(
            "INSERT INTO sent_codes (purpose, binding, user_id, destination, code_hash, created_at,
                                     expires_at, max_attempts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&code.purpose)
        .bind(&code.binding)
        .bind(code.user_id)
        .bind(&code.destination)
        .bind(&code.code_hash)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.max_attempts)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// The codes sent for a pending login, oldest first.
    pub async fn codes_for(&self, binding: &str) -> Result<Vec<SentCode>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sent_codes WHERE binding = $1 ORDER BY id"
        )))
        .bind(binding)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sent_code).collect()
    }

    /// The code whose keyed hash is one of `hashes` (a link's token under each key of the
    /// ring), for `purpose`.
    pub async fn code_by_hash(
        &self,
        purpose: &str,
        hashes: &[String],
    ) -> Result<Option<SentCode>, StoreError> {
        for hash in hashes {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM sent_codes WHERE code_hash = $1 AND purpose = $2"
            )))
            .bind(hash)
            .bind(purpose)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                return Ok(Some(sent_code(&row)?));
            }
        }
        Ok(None)
    }

    /// Uses a live code: true for exactly one caller, and only while it is unused, unexpired
    /// and not out of attempts.
    pub async fn use_code(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sent_codes SET used_at = $1
             WHERE id = $2 AND used_at IS NULL AND expires_at >= $1 AND attempts < max_attempts",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts a wrong guess against every live code of a pending login; returns how many
    /// guesses the newest one has left.
    pub async fn count_wrong_code(&self, binding: &str, now: i64) -> Result<i64, StoreError> {
        sqlx::query(
            "UPDATE sent_codes SET attempts = attempts + 1
             WHERE binding = $1 AND used_at IS NULL AND expires_at >= $2 AND attempts < max_attempts",
        )
        .bind(binding)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let left = sqlx::query(
            "SELECT max_attempts - attempts FROM sent_codes
             WHERE binding = $1 AND used_at IS NULL AND expires_at >= $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(binding)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match left {
            Some(r) => r.try_get::<i64, _>(0)?.max(0),
            None => 0,
        })
    }

    /// Deletes codes that expired before `before`; returns how many.
    pub async fn purge_codes(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sent_codes WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ----- security questions -----

    /// Replaces a user's security-question answers (question id, argon2id hash).
    pub async fn replace_kba_answers(
        &self,
        user_id: i64,
        answers: &[(String, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM kba_answers WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for (question, hash) in answers {
            sqlx::query(
                "INSERT INTO kba_answers (user_id, question_id, answer_hash, created_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(question)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A user's security-question answers: (question id, argon2id hash), by question id.
    pub async fn kba_answers(&self, user_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT question_id, answer_hash FROM kba_answers WHERE user_id = $1 ORDER BY question_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Sets or clears a user's alternate e-mail address.
    pub async fn set_alternate_email(
        &self,
        user_id: i64,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE users SET alternate_email = $1, updated_at = $2 WHERE id = $3")
                .bind(address.map(str::to_owned))
                .bind(super::now_secs())
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        self.forget_user(user_id);
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "user",
                name: user_id.to_string(),
            });
        }
        Ok(())
    }
}
