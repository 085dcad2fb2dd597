//! Versioned migrations, written once for both backends.
//!
//! Statements use three placeholders that differ between SQLite and PostgreSQL: `{id}` (an
//! auto-incremented 64-bit key), `{blob}` and `{float}`. Everything else is the SQL the two
//! share. A migration is applied in one transaction, under a lock (SQLite's write lock,
//! PostgreSQL's advisory lock) so that instances starting together apply it once.

/// One migration: a version, a name, and its statements; `sqlite_only` and `postgres_only`
/// hold what has no common form (triggers).
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) common: &'static [&'static str],
    pub(crate) sqlite_only: &'static [&'static str],
    pub(crate) postgres_only: &'static [&'static str],
}

/// Every migration, in order. Never edit one that has shipped: add the next.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    name: "users, groups, factors, devices, lockout, logins, apps, audit",
    common: &[
        "CREATE TABLE users (
            id {id},
            name TEXT NOT NULL,
            name_key TEXT NOT NULL UNIQUE,
            display_name TEXT,
            email TEXT,
            phone TEXT,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'locked')),
            source TEXT NOT NULL DEFAULT 'local',
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE TABLE passwords (
            user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            hash TEXT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE TABLE user_groups (
            id {id},
            name TEXT NOT NULL,
            name_key TEXT NOT NULL UNIQUE,
            description TEXT,
            source TEXT NOT NULL DEFAULT 'local',
            created_at BIGINT NOT NULL
        )",
        "CREATE TABLE memberships (
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, group_id)
        )",
        "CREATE INDEX memberships_group ON memberships (group_id)",
        "CREATE TABLE factors (
            id TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('totp', 'hotp')),
            label TEXT NOT NULL,
            secret {blob} NOT NULL,
            key_id TEXT NOT NULL,
            algorithm TEXT NOT NULL,
            digits BIGINT NOT NULL,
            period BIGINT NOT NULL,
            last_step BIGINT NOT NULL DEFAULT -1,
            counter BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT
        )",
        "CREATE INDEX factors_user ON factors (user_id)",
        "CREATE TABLE backup_codes (
            id {id},
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            code_hash TEXT NOT NULL,
            used_at BIGINT,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX backup_codes_user ON backup_codes (user_id)",
        "CREATE TABLE devices (
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            device_id TEXT NOT NULL,
            registered_at BIGINT NOT NULL,
            trusted_until BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            PRIMARY KEY (user_id, device_id)
        )",
        "CREATE TABLE lockouts (
            lock_key TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            version BIGINT NOT NULL
        )",
        "CREATE TABLE logins (
            id {id},
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            at BIGINT NOT NULL,
            ip TEXT NOT NULL,
            country TEXT,
            latitude {float},
            longitude {float},
            application TEXT NOT NULL,
            device TEXT
        )",
        "CREATE INDEX logins_user_at ON logins (user_id, at)",
        "CREATE TABLE applications (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            settings TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE TABLE audit (
            id {id},
            at BIGINT NOT NULL,
            username TEXT NOT NULL,
            user_id BIGINT,
            application TEXT NOT NULL,
            source_ip TEXT,
            front_door TEXT NOT NULL,
            factors TEXT NOT NULL,
            result TEXT NOT NULL,
            reasons TEXT NOT NULL
        )",
        "CREATE INDEX audit_username ON audit (username, id)",
        "CREATE TABLE meta (
            meta_key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )",
    ],
    sqlite_only: &[
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ],
    postgres_only: &[
        "CREATE FUNCTION idforge_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
         FOR EACH ROW EXECUTE FUNCTION idforge_audit_append_only()",
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
         FOR EACH STATEMENT EXECUTE FUNCTION idforge_audit_append_only()",
    ],
    },
    Migration {
        version: 2,
        name: "RADIUS clients managed with the CLI",
        common: &["CREATE TABLE radius_clients (
            name TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            secret_ref TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )"],
        sqlite_only: &[],
        postgres_only: &[],
    },
    Migration {
        version: 3,
        name: "web sessions",
        common: &[
            "CREATE TABLE web_sessions (
            id_hash TEXT PRIMARY KEY,
            user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
            created_at BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            data TEXT NOT NULL
        )",
            "CREATE INDEX web_sessions_expiry ON web_sessions (expires_at)",
            "CREATE INDEX web_sessions_user ON web_sessions (user_id)",
        ],
        sqlite_only: &[],
        postgres_only: &[],
    },
];

/// The statement with the backend's types in place of the placeholders.
pub(crate) fn render(statement: &str, postgres: bool) -> String {
    if postgres {
        statement
            .replace(
                "{id}",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            )
            .replace("{blob}", "BYTEA")
            .replace("{float}", "DOUBLE PRECISION")
    } else {
        statement
            .replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("{blob}", "BLOB")
            .replace("{float}", "REAL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_every_placeholder_is_rendered() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "{}", m.name);
            last = m.version;
            for s in m.common {
                for pg in [false, true] {
                    let r = render(s, pg);
                    assert!(!r.contains("{id}") && !r.contains("{blob}") && !r.contains("{float}"));
                }
            }
        }
    }
}
