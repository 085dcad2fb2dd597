//! Copying a whole store into another, empty one: how an installation moves from the embedded
//! SQLite file to PostgreSQL (or back) without re-enrolling anyone.
//!
//! Rows are copied table by table in foreign-key order, with their ids, inside one transaction
//! on the target; sealed secrets are copied as they are (both stores must use the same keys).
//! Identity sequences on PostgreSQL are moved past the copied ids afterwards.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError};

#[derive(Clone, Copy)]
enum Col {
    Int,
    OptInt,
    Text,
    OptText,
    Blob,
    OptFloat,
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Col)],
    /// The auto-incremented id column, if any (copied with keyset pagination, and its
    /// sequence moved on PostgreSQL).
    serial: Option<&'static str>,
}

use Col::{Blob, Int, OptFloat, OptInt, OptText, Text};

const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("name_key", Text),
            ("display_name", OptText),
            ("email", OptText),
            ("phone", OptText),
            ("status", Text),
            ("source", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("alternate_email", OptText),
        ],
        serial: Some("id"),
    },
    Table {
        name: "passwords",
        columns: &[("user_id", Int), ("hash", Text), ("updated_at", Int)],
        serial: None,
    },
    Table {
        name: "user_groups",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("name_key", Text),
            ("description", OptText),
            ("source", Text),
            ("created_at", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "memberships",
        columns: &[("user_id", Int), ("group_id", Int)],
        serial: None,
    },
    Table {
        name: "factors",
        columns: &[
            ("id", Text),
            ("user_id", Int),
            ("kind", Text),
            ("label", Text),
            ("secret", Blob),
            ("key_id", Text),
            ("algorithm", Text),
            ("digits", Int),
            ("period", Int),
            ("last_step", Int),
            ("counter", Int),
            ("created_at", Int),
            ("last_used_at", OptInt),
        ],
        serial: None,
    },
    Table {
        name: "backup_codes",
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("code_hash", Text),
            ("used_at", OptInt),
            ("created_at", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "devices",
        columns: &[
            ("user_id", Int),
            ("device_id", Text),
            ("registered_at", Int),
            ("trusted_until", Int),
            ("last_seen", Int),
        ],
        serial: None,
    },
    Table {
        name: "lockouts",
        columns: &[("lock_key", Text), ("state", Text), ("version", Int)],
        serial: None,
    },
    Table {
        name: "logins",
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("at", Int),
            ("ip", Text),
            ("country", OptText),
            ("latitude", OptFloat),
            ("longitude", OptFloat),
            ("application", Text),
            ("device", OptText),
        ],
        serial: Some("id"),
    },
    Table {
        name: "applications",
        columns: &[
            ("id", Text),
            ("kind", Text),
            ("name", Text),
            ("settings", Text),
            ("source", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        serial: None,
    },
    Table {
        name: "audit",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("username", Text),
            ("user_id", OptInt),
            ("application", Text),
            ("source_ip", OptText),
            ("front_door", Text),
            ("factors", Text),
            ("result", Text),
            ("reasons", Text),
        ],
        serial: Some("id"),
    },
    Table {
        name: "radius_clients",
        columns: &[
            ("name", Text),
            ("source", Text),
            ("secret_ref", Text),
            ("created_at", Int),
        ],
        serial: None,
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Int),
            ("message_id", Text),
            ("kind", Text),
            ("recipient", Text),
            ("recipient_key", Text),
            ("user_id", OptInt),
            ("user_key", OptText),
            ("subject", Text),
            ("body_text", Text),
            ("body_html", Text),
            ("status", Text),
            ("created_at", Int),
            ("next_attempt_at", Int),
            ("attempts", Int),
            ("last_error", OptText),
            ("sent_at", OptInt),
            ("lease_until", Int),
            ("lease_owner", OptText),
            ("channel", Text),
        ],
        serial: Some("id"),
    },
    Table {
        name: "sent_codes",
        columns: &[
            ("id", Int),
            ("purpose", Text),
            ("binding", Text),
            ("user_id", Int),
            ("destination", Text),
            ("code_hash", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("attempts", Int),
            ("max_attempts", Int),
            ("used_at", OptInt),
        ],
        serial: Some("id"),
    },
    Table {
        name: "yubikeys",
        columns: &[
            ("public_id", Text),
            ("user_id", OptInt),
            ("label", Text),
            ("serial", OptInt),
            ("secret", Blob),
            ("key_id", Text),
            ("counter", Int),
            ("created_at", Int),
            ("assigned_at", OptInt),
            ("last_used_at", OptInt),
        ],
        serial: None,
    },
    Table {
        name: "trusted_devices",
        columns: &[
            ("id", Text),
            ("user_id", Int),
            ("device_id", OptText),
            ("label", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("last_used_at", OptInt),
            ("revoked_at", OptInt),
        ],
        serial: None,
    },
    Table {
        name: "webauthn_credentials",
        columns: &[
            ("id", Text),
            ("user_id", Int),
            ("user_handle", Text),
            ("name", Text),
            ("passkey", Text),
            ("counter", Int),
            ("backup_eligible", Int),
            ("backup_state", Int),
            ("created_at", Int),
            ("last_used_at", OptInt),
        ],
        serial: None,
    },
    Table {
        name: "kba_answers",
        columns: &[
            ("user_id", Int),
            ("question_id", Text),
            ("answer_hash", Text),
            ("created_at", Int),
        ],
        serial: None,
    },
    Table {
        name: "meta",
        columns: &[("meta_key", Text), ("value", Text)],
        serial: None,
    },
];

const PAGE: i64 = 2000;

/// Rows copied per table.
pub type CopyReport = Vec<(&'static str, u64)>;

fn bind_row<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    row: &AnyRow,
    columns: &[(&str, Col)],
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>, StoreError> {
    for (i, (_, col)) in columns.iter().enumerate() {
        q = match col {
            Int => q.bind(row.try_get::<i64, _>(i)?),
            OptInt => q.bind(row.try_get::<Option<i64>, _>(i)?),
            Text => q.bind(row.try_get::<String, _>(i)?),
            OptText => q.bind(row.try_get::<Option<String>, _>(i)?),
            Blob => q.bind(row.try_get::<Vec<u8>, _>(i)?),
            OptFloat => q.bind(row.try_get::<Option<f64>, _>(i)?),
        };
    }
    Ok(q)
}

impl Store {
    /// Copies every row of this store into `target`, which must hold no users, groups or
    /// factors yet (a freshly migrated store). `progress` is told each table and its row
    /// count as it is done. All or nothing: one transaction on the target.
    pub async fn copy_to(
        &self,
        target: &Store,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<CopyReport, StoreError> {
        for table in ["users", "user_groups", "factors", "audit"] {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&target.pool)
                .await?;
            if row.try_get::<i64, _>(0)? > 0 {
                return Err(StoreError::Invalid {
                    field: "target store",
                    message: format!("must be empty, but {table} has rows"),
                });
            }
        }
        let mut tx = target.pool.begin().await?;
        // Applications and groups may have been created by the target's start-up from its
        // configuration: the source's rows replace them.
        for table in ["applications", "user_groups", "meta"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        let mut report = Vec::new();
        for t in TABLES {
            let names: Vec<&str> = t.columns.iter().map(|(n, _)| *n).collect();
            let list = names.join(", ");
            let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let insert = format!(
                "INSERT INTO {} ({list}) VALUES ({})",
                t.name,
                params.join(", ")
            );
            let mut copied = 0u64;
            if let Some(id) = t.serial {
                let mut last = i64::MIN;
                loop {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {list} FROM {} WHERE {id} > $1 ORDER BY {id} LIMIT $2",
                        t.name
                    )))
                    .bind(last)
                    .bind(PAGE)
                    .fetch_all(&self.pool)
                    .await?;
                    for row in &rows {
                        let q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                        bind_row(q, row, t.columns)?.execute(&mut *tx).await?;
                        last = row.try_get::<i64, _>(0)?;
                        copied += 1;
                    }
                    if rows.len() < usize::try_from(PAGE).unwrap_or(usize::MAX) {
                        break;
                    }
                }
                if target.backend == Backend::Postgres {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', '{id}'), \
                         COALESCE((SELECT MAX({id}) FROM {0}), 0) + 1, false)",
                        t.name
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
            } else {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {list} FROM {}",
                    t.name
                )))
                .fetch_all(&self.pool)
                .await?;
                for row in &rows {
                    let q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                    bind_row(q, row, t.columns)?.execute(&mut *tx).await?;
                    copied += 1;
                }
            }
            progress(t.name, copied);
            report.push((t.name, copied));
        }
        tx.commit().await?;
        Ok(report)
    }
}
