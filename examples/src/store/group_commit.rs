//! Group commit for SQLite: the writes on every login's path (the replay guard's conditional
//! `UPDATE`, the accepted login with its audit entry) share one transaction and one commit
//! when they arrive together, instead of one fsync each.
//!
//! One writer task takes every write waiting in its queue (at most [`MAX_BATCH`]), applies them
//! in arrival order in one transaction, commits once and only then answers each caller with its
//! own result. No write waits for company: while a commit is on disk the next writes queue
//! up, and they make the next batch. Each conditional `UPDATE` sees the writes before it in the
//! batch, so a code is still accepted at most once; and an answer leaves only after the commit
//! that holds its write.
//!
//! A batch costs a handful of statements whatever its size: the writes of one kind travel as
//! one JSON array parameter that SQLite's `json_each` unrolls (the replay guards in one
//! `UPDATE … FROM … RETURNING`, the logins and the audit entries in one `INSERT … SELECT`
//! each). A second write for the same factor in one batch is applied after the first, alone,
//! so that each sees the one before it as it would one after the other.
//!
//! When any write of a batch fails (or the commit does), nothing of it is stored: the writer
//! applies each write again in a transaction of its own and gives each caller the result of
//! that. PostgreSQL writes do not come here: its backends commit concurrently by themselves.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyPool, Row as _};
use tokio::sync::{mpsc, oneshot};

use super::outbox::{NewMail, insert_mails};
use super::{AuditEntry, LoginRecord, StoreError, insert_audit, insert_login, to_i64};

/// Most writes in one transaction.
const MAX_BATCH: usize = 512;

/// A write that can share a commit.
#[derive(Debug)]
pub(super) enum Write {
    /// A replay guard's conditional `UPDATE`: `value` becomes the factor's last step or next
    /// counter if it is beyond the stored one.
    Guard {
        kind: Guard,
        value: i64,
        now: i64,
        factor_id: String,
    },
    /// An accepted login and its audit entry, and the reset of the user's lockout state if
    /// failures are counted in it.
    AcceptedLogin {
        user_id: i64,
        login: Box<LoginRecord>,
        entry: Box<AuditEntry>,
        lock_key: String,
        /// Messages for the outbox that the login caused (its alerts).
        mails: Vec<NewMail>,
    },
}

/// Which replay guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Guard {
    /// A TOTP factor's last accepted step.
    Step,
    /// An HOTP factor's next counter.
    Counter,
}

impl Guard {
    /// The statement for one write (`$1` value, `$2` now, `$3` factor id).
    fn one(self) -> &'static str {
        match self {
            Guard::Step => {
                "UPDATE factors SET last_step = $1, last_used_at = $2 WHERE id = $3 AND last_step < $1"
            }
            Guard::Counter => {
                "UPDATE factors SET counter = $1, last_used_at = $2 WHERE id = $3 AND counter < $1"
            }
        }
    }

    /// The statement for many writes of distinct factors (`$1` a JSON array of `[factor id,
    /// value, now]`): returns the ids of the factors it advanced.
    fn many(self) -> &'static str {
        match self {
            Guard::Step => {
                "UPDATE factors SET last_step = j.v, last_used_at = j.at
                 FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS v,
                              json_extract(value, '$[2]') AS at FROM json_each($1)) AS j
                 WHERE factors.id = j.id AND factors.last_step < j.v
                 RETURNING factors.id"
            }
            Guard::Counter => {
                "UPDATE factors SET counter = j.v, last_used_at = j.at
                 FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS v,
                              json_extract(value, '$[2]') AS at FROM json_each($1)) AS j
                 WHERE factors.id = j.id AND factors.counter < j.v
                 RETURNING factors.id"
            }
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy)]
pub(super) enum Written {
    /// Whether the guard's `UPDATE` matched the row.
    Guard(bool),
    /// The audit entry's id, and whether a lockout state was reset.
    AcceptedLogin(i64, bool),
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// The queue of the writer task.
#[derive(Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

/// What [`GroupCommit::write`] could not hand to the writer.
pub(super) enum NotQueued {
    /// The writer is gone (its runtime has ended): the caller writes by itself.
    Gone(Write),
    /// The write was queued but its answer was lost with the writer: whether it was
    /// committed is unknown.
    Unanswered,
}

impl GroupCommit {
    /// Starts the writer task on the current Tokio runtime (`None` outside of one).
    pub(super) fn start(pool: AnyPool) -> Option<GroupCommit> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (jobs, queue) = mpsc::channel(MAX_BATCH * 4);
        runtime.spawn(run(pool, queue));
        Some(GroupCommit { jobs })
    }

    /// Queues `write` and waits until the commit that holds it is on disk.
    pub(super) async fn write(
        &self,
        write: Write,
    ) -> Result<Result<Written, StoreError>, NotQueued> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(Job { write, reply }).await {
            return Err(NotQueued::Gone(job.write));
        }
        answer.await.map_err(|_| NotQueued::Unanswered)
    }
}

/// The writer: one batch of what is waiting at a time, until every [`GroupCommit`] is dropped.
async fn run(pool: AnyPool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Ok(results) = apply_all(&pool, &batch).await {
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        } else {
            tracing::debug!(
                writes = batch.len(),
                "a grouped commit failed; writing one at a time"
            );
            for job in batch.drain(..) {
                let result = apply_alone(&pool, &job.write).await;
                let _ = job.reply.send(result);
            }
        }
    }
}

async fn apply_all(pool: &AnyPool, batch: &[Job]) -> Result<Vec<Written>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut results: Vec<Option<Written>> = vec![None; batch.len()];

    // Replay guards: the first write of each factor together, later ones alone, in order.
    let mut firsts: HashMap<Guard, Vec<(usize, &str, i64, i64)>> = HashMap::new();
    let mut later = Vec::new();
    let mut seen: HashSet<(Guard, &str)> = HashSet::new();
    for (i, job) in batch.iter().enumerate() {
        if let Write::Guard {
            kind,
            value,
            now,
            factor_id,
        } = &job.write
        {
            if seen.insert((*kind, factor_id.as_str())) {
                firsts
                    .entry(*kind)
                    .or_default()
                    .push((i, factor_id.as_str(), *value, *now));
            } else {
                later.push(i);
            }
        }
    }
    for (kind, writes) in &firsts {
        let rows: Vec<serde_json::Value> = writes
            .iter()
            .map(|(_, id, value, now)| serde_json::json!([id, value, now]))
            .collect();
        let advanced: HashSet<String> = sqlx::query(kind.many())
            .bind(serde_json::Value::Array(rows).to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        for (i, id, _, _) in writes {
            results[*i] = Some(Written::Guard(advanced.contains(*id)));
        }
    }
    for i in later {
        results[i] = Some(apply(&mut tx, &batch[i].write).await?);
    }

    // Accepted logins: the logins, the audit entries and the lockout resets, one statement each.
    let logins: Vec<(usize, i64, &LoginRecord, &AuditEntry, &str)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, job)| match &job.write {
            Write::AcceptedLogin {
                user_id,
                login,
                entry,
                lock_key,
                ..
            } => Some((i, *user_id, &**login, &**entry, lock_key.as_str())),
            Write::Guard { .. } => None,
        })
        .collect();
    if !logins.is_empty() {
        let mut login_rows = Vec::with_capacity(logins.len());
        let mut audit_rows = Vec::with_capacity(logins.len());
        for (_, user_id, login, entry, _) in &logins {
            login_rows.push(serde_json::json!([
                user_id,
                to_i64(login.at, "at")?,
                login.ip.to_string(),
                login.application,
                login.device,
            ]));
            audit_rows.push(serde_json::json!([
                entry.at,
                entry.username,
                entry.user_id,
                entry.application,
                entry.source_ip,
                entry.front_door,
                serde_json::to_string(&entry.factors).unwrap_or_default(),
                entry.result,
                serde_json::to_string(&entry.reasons).unwrap_or_default(),
            ]));
        }
        sqlx::query(
            "INSERT INTO logins (user_id, at, ip, application, device)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]'), json_extract(value, '$[3]'),
                    json_extract(value, '$[4]')
             FROM json_each($1) ORDER BY key",
        )
        .bind(serde_json::Value::Array(login_rows).to_string())
        .execute(&mut *tx)
        .await?;
        // Ids grow in insertion order, which is the array's order.
        let mut ids: Vec<i64> = sqlx::query(
            "INSERT INTO audit (at, username, user_id, application, source_ip, front_door, factors, result, reasons)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]'), json_extract(value, '$[3]'),
                    json_extract(value, '$[4]'), json_extract(value, '$[5]'),
                    json_extract(value, '$[6]'), json_extract(value, '$[7]'),
                    json_extract(value, '$[8]')
             FROM json_each($1) ORDER BY key
             RETURNING id",
        )
        .bind(serde_json::Value::Array(audit_rows).to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
        ids.sort_unstable();
        if ids.len() != logins.len() {
            return Err(StoreError::Corrupt(format!(
                "{} audit entries written for {} logins",
                ids.len(),
                logins.len()
            )));
        }
        let keys: Vec<&str> = logins.iter().map(|l| l.4).collect();
        let reset: HashSet<String> = sqlx::query(
            "UPDATE lockouts SET state = $1, version = version + 1, resettable = 0
             WHERE resettable = 1 AND lock_key IN (SELECT value FROM json_each($2))
             RETURNING lock_key",
        )
        .bind(super::clean_lockout())
        .bind(serde_json::to_string(&keys).unwrap_or_default())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        for ((i, .., key), id) in logins.iter().zip(ids) {
            results[*i] = Some(Written::AcceptedLogin(id, reset.contains(*key)));
        }
        // The logins' alert mails, in the same commit (rare: one at a time, in order, so
        // that each rate-limit count sees the ones before it).
        for job in batch {
            if let Write::AcceptedLogin { mails, .. } = &job.write {
                insert_mails(&mut tx, mails).await?;
            }
        }
    }
    tx.commit().await?;
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| StoreError::Corrupt("a write of a batch was not applied".into())))
        .collect()
}

/// Applies one write in a commit of its own: a guard's single statement as it stands, the
/// login and its audit entry in one transaction.
pub(super) async fn apply_alone(pool: &AnyPool, write: &Write) -> Result<Written, StoreError> {
    if matches!(write, Write::Guard { .. }) {
        let mut conn = pool.acquire().await?;
        return apply(&mut conn, write).await;
    }
    let mut tx = pool.begin().await?;
    let result = apply(&mut tx, write).await?;
    tx.commit().await?;
    Ok(result)
}

/// Applies one write on `conn` (inside the caller's transaction, if any).
async fn apply(conn: &mut sqlx::AnyConnection, write: &Write) -> Result<Written, StoreError> {
    match write {
        Write::Guard {
            kind,
            value,
            now,
            factor_id,
        } => {
            let done = sqlx::query(kind.one())
                .bind(*value)
                .bind(*now)
                .bind(factor_id.as_str())
                .execute(&mut *conn)
                .await?;
            Ok(Written::Guard(done.rows_affected() == 1))
        }
        Write::AcceptedLogin {
            user_id,
            login,
            entry,
            lock_key,
            mails,
        } => {
            insert_login(conn, *user_id, login).await?;
            let id = insert_audit(conn, entry).await?;
            insert_mails(conn, mails).await?;
            // A success clears the failures counted so far (by any instance), without a read:
            // only a row marked resettable is written.
            let reset = sqlx::query(
                "UPDATE lockouts SET state = $1, version = version + 1, resettable = 0
                 WHERE lock_key = $2 AND resettable = 1",
            )
            .bind(super::clean_lockout())
            .bind(lock_key.as_str())
            .execute(&mut *conn)
            .await?;
            Ok(Written::AcceptedLogin(id, reset.rows_affected() > 0))
        }
    }
}
