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
    Migration {
        version: 4,
        name: "change feed for the servers' in-memory caches",
        common: &[
            "CREATE TABLE changes (
            id {id},
            at BIGINT NOT NULL,
            change_key TEXT NOT NULL
        )",
            "CREATE INDEX changes_at ON changes (at)",
            // Whether a successful login clears the state (failures counted, not disabled):
            // the accepted login's own transaction resets it without reading it first.
            "ALTER TABLE lockouts ADD COLUMN resettable BIGINT NOT NULL DEFAULT 0",
            "UPDATE lockouts SET resettable = 1 WHERE state NOT LIKE '%\"disabled\":true%'",
        ],
        // One row per changed user, lockout key or session, written by triggers so that every
        // writer (a server, the CLI, an operator's SQL) is seen. The replay guard's and the
        // HOTP counter's updates are not changes: the database decides them, not a cache.
        sqlite_only: &[
            "CREATE TRIGGER users_changed_ins AFTER INSERT ON users BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.id); END",
            "CREATE TRIGGER users_changed_upd AFTER UPDATE ON users BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.id); END",
            "CREATE TRIGGER users_changed_del AFTER DELETE ON users BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || OLD.id); END",
            "CREATE TRIGGER passwords_changed_ins AFTER INSERT ON passwords BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER passwords_changed_upd AFTER UPDATE ON passwords BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER passwords_changed_del AFTER DELETE ON passwords BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || OLD.user_id); END",
            "CREATE TRIGGER memberships_changed_ins AFTER INSERT ON memberships BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER memberships_changed_del AFTER DELETE ON memberships BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || OLD.user_id); END",
            "CREATE TRIGGER groups_changed_upd AFTER UPDATE ON user_groups BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), '*'); END",
            "CREATE TRIGGER groups_changed_del AFTER DELETE ON user_groups BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), '*'); END",
            "CREATE TRIGGER factors_changed_ins AFTER INSERT ON factors BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER factors_changed_upd AFTER UPDATE OF user_id, kind, label, secret, key_id, algorithm, digits, period ON factors BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER factors_changed_del AFTER DELETE ON factors BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || OLD.user_id); END",
            "CREATE TRIGGER devices_changed_ins AFTER INSERT ON devices BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER devices_changed_upd AFTER UPDATE ON devices BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || NEW.user_id); END",
            "CREATE TRIGGER devices_changed_del AFTER DELETE ON devices BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'user:' || OLD.user_id); END",
            "CREATE TRIGGER lockouts_changed_ins AFTER INSERT ON lockouts BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'lock:' || NEW.lock_key); END",
            "CREATE TRIGGER lockouts_changed_upd AFTER UPDATE ON lockouts BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'lock:' || NEW.lock_key); END",
            "CREATE TRIGGER lockouts_changed_del AFTER DELETE ON lockouts BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'lock:' || OLD.lock_key); END",
            "CREATE TRIGGER sessions_changed_upd AFTER UPDATE ON web_sessions BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'session:' || NEW.id_hash); END",
            "CREATE TRIGGER sessions_changed_del AFTER DELETE ON web_sessions BEGIN
             INSERT INTO changes (at, change_key) VALUES (CAST(strftime('%s', 'now') AS INTEGER), 'session:' || OLD.id_hash); END",
        ],
        postgres_only: &[
            "CREATE FUNCTION idforge_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE row_json jsonb;
             BEGIN
               IF TG_OP = 'DELETE' THEN row_json := to_jsonb(OLD); ELSE row_json := to_jsonb(NEW); END IF;
               INSERT INTO changes (at, change_key)
               VALUES (extract(epoch FROM now())::bigint,
                       TG_ARGV[0] || coalesce(row_json ->> TG_ARGV[1], ''));
               RETURN NULL;
             END $$",
            "CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('user:', 'id')",
            "CREATE TRIGGER passwords_changed AFTER INSERT OR UPDATE OR DELETE ON passwords
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('user:', 'user_id')",
            "CREATE TRIGGER memberships_changed AFTER INSERT OR UPDATE OR DELETE ON memberships
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('user:', 'user_id')",
            "CREATE TRIGGER groups_changed AFTER UPDATE OR DELETE ON user_groups
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('*', '')",
            "CREATE TRIGGER factors_changed AFTER INSERT OR DELETE ON factors
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('user:', 'user_id')",
            "CREATE TRIGGER factors_changed_upd
             AFTER UPDATE OF user_id, kind, label, secret, key_id, algorithm, digits, period ON factors
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('user:', 'user_id')",
            "CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE ON devices
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('user:', 'user_id')",
            "CREATE TRIGGER lockouts_changed AFTER INSERT OR UPDATE OR DELETE ON lockouts
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('lock:', 'lock_key')",
            "CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON web_sessions
             FOR EACH ROW EXECUTE FUNCTION idforge_note_change('session:', 'id_hash')",
        ],
    },
    Migration {
        version: 5,
        name: "mail outbox",
        common: &[
            // One row per message: rendered once, sent by a worker until it is accepted, fails
            // for good, or was never sent because of a rate limit. `message_id` is the
            // RFC 5322 Message-ID, the same on every attempt. `lease_until` is how long the
            // worker that claimed the row owns it.
            "CREATE TABLE outbox (
            id {id},
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            recipient TEXT NOT NULL,
            recipient_key TEXT NOT NULL,
            user_id BIGINT,
            user_key TEXT,
            subject TEXT NOT NULL,
            body_text TEXT NOT NULL,
            body_html TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
            created_at BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_at BIGINT,
            lease_until BIGINT NOT NULL DEFAULT 0,
            lease_owner TEXT
        )",
            "CREATE INDEX outbox_due ON outbox (status, next_attempt_at)",
            "CREATE INDEX outbox_recipient ON outbox (recipient_key, created_at)",
            "CREATE INDEX outbox_user ON outbox (user_key, created_at)",
        ],
        sqlite_only: &[],
        postgres_only: &[],
    },
    Migration {
        version: 6,
        name: "codes sent by e-mail and SMS, e-mail links, security questions, alternate e-mail",
        common: &[
            // The outbox carries text messages too: `channel` says how a row is delivered.
            "ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'",
            "CREATE INDEX outbox_channel_due ON outbox (channel, status, next_attempt_at)",
            // A second address for adaptive challenges ("a code to your other address").
            "ALTER TABLE users ADD COLUMN alternate_email TEXT",
            // One row per code or link sent: only its keyed hash is kept. `binding` ties it to
            // the pending login that asked for it (empty for activation links, which belong to
            // the user alone); `attempts` counts wrong guesses up to `max_attempts`, after
            // which the row is void; `used_at` makes it single use.
            "CREATE TABLE sent_codes (
            id {id},
            purpose TEXT NOT NULL,
            binding TEXT NOT NULL,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            destination TEXT NOT NULL,
            code_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            max_attempts BIGINT NOT NULL,
            used_at BIGINT
        )",
            "CREATE INDEX sent_codes_binding ON sent_codes (binding, purpose, created_at)",
            "CREATE INDEX sent_codes_hash ON sent_codes (code_hash)",
            "CREATE INDEX sent_codes_user ON sent_codes (user_id, created_at)",
            // Security questions: the id of a configured question and the argon2id hash of
            // the normalised answer.
            "CREATE TABLE kba_answers (
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            question_id TEXT NOT NULL,
            answer_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, question_id)
        )",
        ],
        sqlite_only: &[],
        postgres_only: &[],
    },
    Migration {
        version: 7,
        name: "YubiKeys (Yubico OTP) with their counter guard",
        common: &[
            // One row per YubiKey: imported unassigned, then assigned to a user. `secret` is
            // the private id and the AES key, sealed for this public id. `counter` is the last
            // accepted (usage << 8 | session), -1 before the first; it only moves forward.
            "CREATE TABLE yubikeys (
            public_id TEXT PRIMARY KEY,
            user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
            label TEXT NOT NULL,
            serial BIGINT,
            secret {blob} NOT NULL,
            key_id TEXT NOT NULL,
            counter BIGINT NOT NULL DEFAULT -1,
            created_at BIGINT NOT NULL,
            assigned_at BIGINT,
            last_used_at BIGINT
        )",
            "CREATE INDEX yubikeys_user ON yubikeys (user_id)",
        ],
        sqlite_only: &[],
        postgres_only: &[],
    },
    Migration {
        version: 8,
        name: "remembered browsers (trusted devices)",
        common: &[
            // A browser that passed a second factor and asked to be remembered. Its cookie
            // names `id` and carries a keyed hash over (id, user, expiry); `revoked_at` ends
            // it before `expires_at`. `device_id` is the browser's device cookie, registered
            // with the adaptive rules.
            "CREATE TABLE trusted_devices (
            id TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            device_id TEXT,
            label TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            last_used_at BIGINT,
            revoked_at BIGINT
        )",
            "CREATE INDEX trusted_devices_user ON trusted_devices (user_id)",
        ],
        sqlite_only: &[],
        postgres_only: &[],
    },
    Migration {
        version: 9,
        name: "security keys and passkeys (WebAuthn credentials)",
        common: &[
            // One row per registered authenticator credential. `id` is the credential id
            // (base64url); `user_handle` is the random handle the authenticator keeps for a
            // discoverable credential (the same for all of a user's credentials); `passkey`
            // is the credential as the WebAuthn implementation serializes it (public key,
            // algorithm, flags). `counter` is the last accepted signature counter: it only
            // moves forward, through `UPDATE … WHERE counter = old`.
            "CREATE TABLE webauthn_credentials (
            id TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            user_handle TEXT NOT NULL,
            name TEXT NOT NULL,
            passkey TEXT NOT NULL,
            counter BIGINT NOT NULL DEFAULT 0,
            backup_eligible BIGINT NOT NULL DEFAULT 0,
            backup_state BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT
        )",
            "CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id)",
            "CREATE INDEX webauthn_credentials_handle ON webauthn_credentials (user_handle)",
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
