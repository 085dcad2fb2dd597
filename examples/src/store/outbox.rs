//! The mail outbox: messages written in the same transaction as the event that causes them,
//! then delivered by a worker ([`crate::mail`]) with retries.
//!
//! A row is `pending` until the relay accepts it (`sent`), it runs out of attempts (`failed`,
//! kept with the last error), or a rate limit kept it from being sent at all (`suppressed`,
//! kept with the reason). A worker claims due rows by setting a lease (`lease_until`,
//! `lease_owner`) in one conditional `UPDATE`: two instances on one PostgreSQL never claim the
//! same row while its lease runs (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single
//! writer on SQLite), and a worker that dies leaves its rows to the next claim once the lease
//! expires. Each row keeps one RFC 5322 Message-ID, used on every attempt.

use std::fmt;

use sqlx::Row as _;

use super::{Backend, Store, StoreError, insert_audit, name_key};
use crate::store::AuditEntry;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Accepted by the relay.
    Sent,
    /// Out of attempts; `last_error` says why.
    Failed,
    /// Not sent: a rate limit was reached when it was written; `last_error` says which.
    Suppressed,
}

impl MailStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
            MailStatus::Suppressed => "suppressed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => MailStatus::Pending,
            "sent" => MailStatus::Sent,
            "failed" => MailStatus::Failed,
            "suppressed" => MailStatus::Suppressed,
            other => return Err(StoreError::Corrupt(format!("outbox status {other:?}"))),
        })
    }
}

impl fmt::Display for MailStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a message is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Channel {
    /// By SMTP ([`crate::mail::MailWorker`]); the recipient is an e-mail address.
    #[default]
    Email,
    /// By an SMS gateway ([`crate::sms::SmsWorker`]); the recipient is an E.164 phone number
    /// and only `body_text` is sent.
    Sms,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            other => return Err(StoreError::Corrupt(format!("outbox channel {other:?}"))),
        })
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rate limits applied when a message is written: over either, it is stored as suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailLimits {
    /// Most messages to one address in the last hour.
    pub per_address_hour: u32,
    /// Most messages about one user in the last hour.
    pub per_user_hour: u32,
}

/// A message to write to the outbox, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// How it is delivered.
    pub channel: Channel,
    /// The RFC 5322 Message-ID with its angle brackets, generated once (for an SMS, the
    /// same kind of unique id, sent to gateways that take an idempotency key).
    pub message_id: String,
    /// What kind of message (`alert`, …), for operators and rate limits.
    pub kind: String,
    /// The recipient's address.
    pub recipient: String,
    /// The user the message is about, if any.
    pub user_id: Option<i64>,
    /// That user's name.
    pub username: Option<String>,
    /// The subject (free of control characters).
    pub subject: String,
    /// The plain-text body.
    pub body_text: String,
    /// The HTML body.
    pub body_html: String,
    /// When it was written (unix seconds).
    pub created_at: i64,
    /// The limits to apply.
    pub limits: MailLimits,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Row id.
    pub id: i64,
    /// How it is delivered.
    pub channel: Channel,
    /// The RFC 5322 Message-ID.
    pub message_id: String,
    /// What kind of message.
    pub kind: String,
    /// The recipient's address.
    pub recipient: String,
    /// The user the message is about.
    pub user_id: Option<i64>,
    /// That user's name key (lower case).
    pub user_key: Option<String>,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub body_text: String,
    /// The HTML body.
    pub body_html: String,
    /// Where it stands.
    pub status: MailStatus,
    /// When it was written.
    pub created_at: i64,
    /// When it is due next.
    pub next_attempt_at: i64,
    /// Delivery attempts started so far.
    pub attempts: i64,
    /// The last failure, or why it was suppressed.
    pub last_error: Option<String>,
    /// When the relay accepted it.
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, message_id, kind, recipient, user_id, user_key, subject, body_text, body_html, status, created_at, next_attempt_at, attempts, last_error, sent_at, channel";

fn message(r: &sqlx::any::AnyRow) -> Result<OutboxMessage, StoreError> {
    let status: String = r.try_get(9)?;
    Ok(OutboxMessage {
        id: r.try_get(0)?,
        message_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        recipient: r.try_get(3)?,
        user_id: r.try_get(4)?,
        user_key: r.try_get(5)?,
        subject: r.try_get(6)?,
        body_text: r.try_get(7)?,
        body_html: r.try_get(8)?,
        status: MailStatus::parse(&status)?,
        created_at: r.try_get(10)?,
        next_attempt_at: r.try_get(11)?,
        attempts: r.try_get(12)?,
        last_error: r.try_get(13)?,
        sent_at: r.try_get(14)?,
        channel: Channel::parse(&r.try_get::<String, _>(15)?)?,
    })
}

/// Writes one message on `conn` (inside the caller's transaction), applying the rate
/// limits: returns the row id and whether it is pending or suppressed.
pub(super) async fn insert_mail(
    conn: &mut sqlx::AnyConnection,
    mail: &NewMail,
) -> Result<(i64, MailStatus), StoreError> {
    let recipient_key = mail.recipient.to_lowercase();
    let user_key = mail.username.as_deref().map(name_key);
    let since = mail.created_at - 3600;
    let to_address: i64 = sqlx::query(
        "SELECT COUNT(*) FROM outbox WHERE recipient_key = $1 AND created_at > $2 AND status <> 'suppressed'",
    )
    .bind(&recipient_key)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    let mut reason = None;
    if to_address >= i64::from(mail.limits.per_address_hour) {
        reason = Some(format!(
            "rate limit: {} messages to this address in the last hour",
            mail.limits.per_address_hour
        ));
    } else if let Some(key) = &user_key {
        let about_user: i64 = sqlx::query(
            "SELECT COUNT(*) FROM outbox WHERE user_key = $1 AND created_at > $2 AND status <> 'suppressed'",
        )
        .bind(key)
        .bind(since)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        if about_user >= i64::from(mail.limits.per_user_hour) {
            reason = Some(format!(
                "rate limit: {} messages about this user in the last hour",
                mail.limits.per_user_hour
            ));
        }
    }
    let status = if reason.is_some() {
        MailStatus::Suppressed
    } else {
        MailStatus::Pending
    };
    let id: i64 = sqlx::query(
        "INSERT INTO outbox (message_id, kind, recipient, recipient_key, user_id, user_key, subject,
                             body_text, body_html, status, created_at, next_attempt_at, last_error,
                             channel)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13) RETURNING id",
    )
    .bind(&mail.message_id)
    .bind(&mail.kind)
    .bind(&mail.recipient)
    .bind(&recipient_key)
    .bind(mail.user_id)
    .bind(user_key)
    .bind(&mail.subject)
    .bind(&mail.body_text)
    .bind(&mail.body_html)
    .bind(status.as_str())
    .bind(mail.created_at)
    .bind(reason.clone())
    .bind(mail.channel.as_str())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    if let Some(reason) = reason {
        tracing::warn!(
            outbox_id = id,
            kind = %mail.kind,
            user = mail.username.as_deref().unwrap_or("-"),
            "mail suppressed: {reason}"
        );
    }
    Ok((id, status))
}

/// Writes every message of `mails` on `conn`.
pub(super) async fn insert_mails(
    conn: &mut sqlx::AnyConnection,
    mails: &[NewMail],
) -> Result<(), StoreError> {
    for m in mails {
        insert_mail(conn, m).await?;
    }
    Ok(())
}

impl Store {
    /// Appends an audit entry and writes `mails` to the outbox in the same transaction: the
    /// decision and the messages it causes are stored together or not at all.
    pub async fn append_audit_with_mail(
        &self,
        entry: &AuditEntry,
        mails: &[NewMail],
    ) -> Result<i64, StoreError> {
        if mails.is_empty() {
            return self.append_audit(entry).await;
        }
        let mut tx = self.pool.begin().await?;
        let id = insert_audit(&mut tx, entry).await?;
        insert_mails(&mut tx, mails).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Writes `mails` to the outbox in one transaction of their own; returns each row's id
    /// and status (pending or suppressed).
    pub async fn enqueue_mail(
        &self,
        mails: &[NewMail],
    ) -> Result<Vec<(i64, MailStatus)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(mails.len());
        for m in mails {
            out.push(insert_mail(&mut tx, m).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Claims up to `limit` due messages of `channel` for `owner` until `now + lease_secs`,
    /// counting the attempt now. A claimed row is nobody else's until its lease ends.
    pub async fn claim_mail(
        &self,
        channel: Channel,
        owner: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // The outer conditions repeat the inner ones: PostgreSQL checks them again on the
        // row as another transaction left it, so a row claimed meanwhile is skipped.
        let sql = format!(
            "UPDATE outbox SET lease_until = $1, lease_owner = $2, attempts = attempts + 1
             WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3
               AND channel = $5
               AND id IN (SELECT id FROM outbox
                          WHERE channel = $5 AND status = 'pending' AND next_attempt_at <= $3
                            AND lease_until <= $3
                          ORDER BY next_attempt_at, id LIMIT $4{lock})
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_secs)
            .bind(owner)
            .bind(now)
            .bind(limit)
            .bind(channel.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut out = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(out)
    }

    /// Marks a claimed message sent. False if `owner` no longer holds it.
    pub async fn mark_mail_sent(&self, id: i64, owner: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL, lease_until = 0,
                               lease_owner = NULL
             WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claimed message back, due again at `next_attempt_at`, with the error.
    pub async fn retry_mail_later(
        &self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, last_error = $2, lease_until = 0, lease_owner = NULL
             WHERE id = $3 AND lease_owner = $4 AND status = 'pending'",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a claimed message failed for good, with the error; the row stays.
    pub async fn fail_mail(&self, id: i64, owner: &str, error: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'failed', last_error = $1, lease_until = 0, lease_owner = NULL
             WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
        )
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The outbox, oldest first (only the rows of `status` when given).
    pub async fn outbox(
        &self,
        status: Option<MailStatus>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = match status {
            Some(s) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM outbox WHERE status = $1 ORDER BY id LIMIT $2"
                )))
                .bind(s.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM outbox ORDER BY id LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(message).collect()
    }
}
