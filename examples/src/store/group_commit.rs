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
//! When any write of a batch fails (or the commit does), nothing of it is stored: the writer
//! applies each write again in a transaction of its own and gives each caller the result of
//! that. PostgreSQL writes do not come here: its backends commit concurrently by themselves.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::{AuditEntry, LoginRecord, StoreError, insert_audit, insert_login};

/// Most writes in one transaction.
const MAX_BATCH: usize = 512;

/// A write that can share a commit.
#[derive(Debug)]
pub(super) enum Write {
    /// A replay guard's conditional `UPDATE` (`$1` value, `$2` now, `$3` factor id).
    Guard {
        sql: &'static str,
        value: i64,
        now: i64,
        factor_id: String,
    },
    /// An accepted login and its audit entry.
    AcceptedLogin {
        user_id: i64,
        login: Box<LoginRecord>,
        entry: Box<AuditEntry>,
    },
}

/// What a write did.
#[derive(Debug, Clone, Copy)]
pub(super) enum Written {
    /// Whether the guard's `UPDATE` matched the row.
    Guard(bool),
    /// The audit entry's id.
    AcceptedLogin(i64),
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
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        results.push(apply(&mut tx, &job.write).await?);
    }
    tx.commit().await?;
    Ok(results)
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
            sql,
            value,
            now,
            factor_id,
        } => {
            let done = sqlx::query(*sql)
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
        } => {
            insert_login(conn, *user_id, login).await?;
            Ok(Written::AcceptedLogin(insert_audit(conn, entry).await?))
        }
    }
}
