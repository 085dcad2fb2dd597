//! The store against both backends: SQLite in a temporary directory and a real PostgreSQL
//! server started for the test.

#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::many_single_char_names
)]

#[path = "support/postgres.rs"]
mod postgres;

use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use idforge_examples::crypto::{Key, Keyring};
use idforge_examples::store::{NewFactor, NewUser, Store, StoreError};
use idforge_otp::Secret;
use postgres::Postgres;

/// A store per backend; the guards keep the temporary directory and the server alive.
struct Backend {
    name: &'static str,
    url: String,
    key: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<Postgres>,
}

impl Backend {
    async fn open(&self) -> Store {
        self.open_with(1).await
    }

    async fn open_with(&self, max: u32) -> Store {
        Store::open(
            &self.url,
            max,
            Keyring::new(Key::from_base64(&self.key).unwrap(), vec![]),
        )
        .await
        .unwrap()
    }
}

fn backends(test: &str) -> Vec<Backend> {
    let key = Key::generate().unwrap().to_base64().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Backend {
        name: "sqlite",
        url: format!("sqlite://{}", dir.path().join("idforge.db").display()),
        key: key.clone(),
        _dir: Some(dir),
        _pg: None,
    }];
    if let Some(pg) = Postgres::start(test) {
        out.push(Backend {
            name: "postgres",
            url: pg.new_database("idforge"),
            key,
            _dir: None,
            _pg: Some(pg),
        });
    }
    out
}

fn user(name: &str) -> NewUser {
    NewUser {
        name: name.into(),
        display_name: Some(format!("{name} Example")),
        email: Some(format!("{name}@example.com")),
        phone: None,
        source: "local".into(),
    }
}

async fn enrol(store: &Store, user_id: i64, secret: &Secret) -> String {
    store
        .add_factor(user_id, &NewFactor::totp("app", secret))
        .await
        .unwrap()
}

#[tokio::test]
async fn users_groups_and_memberships() {
    for b in backends("users_groups_and_memberships") {
        let s = b.open().await;
        assert_eq!(s.schema_version().await.unwrap(), 9, "{}", b.name);
        let alice = s.create_user(&user("Alice")).await.unwrap();
        assert!(matches!(
            s.create_user(&user("alice")).await,
            Err(StoreError::Exists { .. })
        ));
        assert!(matches!(
            s.create_user(&user("bad name")).await,
            Err(StoreError::Invalid { .. })
        ));
        assert_eq!(s.user("ALICE").await.unwrap().unwrap().id, alice.id);
        s.create_group("Staff").await.unwrap();
        assert!(matches!(
            s.create_group("staff").await,
            Err(StoreError::Exists { .. })
        ));
        s.ensure_group("VPN_Group", "config").await.unwrap();
        s.ensure_group("VPN_Group", "config").await.unwrap();
        s.add_member("alice", "Staff").await.unwrap();
        s.add_member("alice", "vpn_group").await.unwrap();
        s.add_member("alice", "Staff").await.unwrap();
        assert_eq!(
            s.groups_of(alice.id).await.unwrap(),
            vec!["Staff".to_owned(), "VPN_Group".to_owned()]
        );
        assert!(matches!(
            s.add_member("alice", "Nobody").await,
            Err(StoreError::NotFound { what: "group", .. })
        ));
        assert!(s.remove_member("alice", "Staff").await.unwrap());
        assert!(!s.remove_member("alice", "Staff").await.unwrap());
        s.set_status("alice", idforge_examples::store::UserStatus::Disabled)
            .await
            .unwrap();
        assert_eq!(
            s.user("alice").await.unwrap().unwrap().status,
            idforge_examples::store::UserStatus::Disabled
        );
        s.delete_user("alice").await.unwrap();
        assert!(s.user("alice").await.unwrap().is_none());
        assert!(matches!(
            s.delete_user("alice").await,
            Err(StoreError::NotFound { .. })
        ));
        // Reopening applies no migration twice.
        s.close().await;
        let s = b.open().await;
        assert_eq!(s.schema_version().await.unwrap(), 9);
    }
}

#[tokio::test]
async fn secrets_are_sealed_and_bound_to_their_row() {
    for b in backends("secrets_are_sealed_and_bound_to_their_row") {
        let s = b.open().await;
        let alice = s.create_user(&user("alice")).await.unwrap();
        let bob = s.create_user(&user("bob")).await.unwrap();
        let secret_a = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
        let secret_b = Secret::from_bytes(b"bob's twenty byte s!").unwrap();
        let fa = enrol(&s, alice.id, &secret_a).await;
        let fb = enrol(&s, bob.id, &secret_b).await;
        let hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";
        s.set_password_hash(alice.id, hash).await.unwrap();
        let codes = idforge_examples::service::new_backup_codes().unwrap();
        let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
        s.replace_backup_codes(alice.id, &hashes).await.unwrap();

        let f = s.factor(&fa).await.unwrap().unwrap();
        assert_eq!(
            s.factor_secret(&f).unwrap().expose_bytes(),
            secret_a.expose_bytes()
        );
        assert!(!format!("{f:?}").contains("JBSWY3DP"));

        // No secret, password or backup code in clear in any table.
        let needles: Vec<Vec<u8>> = vec![
            secret_a.expose_bytes().to_vec(),
            secret_a.to_base32().into_bytes(),
            secret_b.expose_bytes().to_vec(),
            secret_b.to_base32().into_bytes(),
        ];
        let mut code_needles: Vec<Vec<u8>> =
            codes.iter().map(|(c, _)| c.clone().into_bytes()).collect();
        code_needles.extend(codes.iter().map(|(c, _)| c.replace('-', "").into_bytes()));
        for table in ["factors", "passwords", "backup_codes", "users", "audit"] {
            for cell in s.raw_cells(table).await.unwrap() {
                for n in needles.iter().chain(&code_needles) {
                    assert!(
                        !cell.windows(n.len()).any(|w| w == n.as_slice()),
                        "{}: clear secret in {table}",
                        b.name
                    );
                }
            }
        }
        if b.name == "sqlite" {
            // The database file and its write-ahead log, as a thief would copy them.
            let path = b.url.trim_start_matches("sqlite://");
            for file in [path.to_owned(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    for n in needles.iter().chain(&code_needles) {
                        assert!(
                            !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                            "clear secret in {file}"
                        );
                    }
                }
            }
        }

        // Bob's ciphertext moved into Alice's row does not open there.
        s.copy_sealed_secret(&fb, &fa).await.unwrap();
        let moved = s.factor(&fa).await.unwrap().unwrap();
        assert!(matches!(
            s.factor_secret(&moved),
            Err(StoreError::Crypto(
                idforge_examples::crypto::CryptoError::NotAuthentic
            ))
        ));
        // Another key cannot open anything.
        s.close().await;
        let other = Store::open(&b.url, 1, Keyring::new(Key::generate().unwrap(), vec![]))
            .await
            .unwrap();
        let f = other.factor(&fb).await.unwrap().unwrap();
        assert!(matches!(
            other.factor_secret(&f),
            Err(StoreError::Crypto(
                idforge_examples::crypto::CryptoError::UnknownKey { .. }
            ))
        ));
    }
}

#[tokio::test]
async fn key_rotation_reencrypts_every_secret() {
    for b in backends("key_rotation_reencrypts_every_secret") {
        let s = b.open().await;
        let mut ids = Vec::new();
        for i in 0..5u8 {
            let u = s.create_user(&user(&format!("u{i}"))).await.unwrap();
            let secret = Secret::from_bytes(&[i + 1; 20]).unwrap();
            ids.push((enrol(&s, u.id, &secret).await, secret));
        }
        s.close().await;
        let old = Key::from_base64(&b.key).unwrap();
        let new = Key::generate().unwrap();
        let new_b64 = new.to_base64();
        let new_id = new.id_hex();
        let s = Store::open(&b.url, 1, Keyring::new(new, vec![old]))
            .await
            .unwrap();
        assert_eq!(s.reencrypt_factors().await.unwrap(), 5);
        assert_eq!(s.reencrypt_factors().await.unwrap(), 0);
        assert_eq!(s.factor_key_ids().await.unwrap(), vec![(new_id, 5)]);
        s.close().await;
        // Only the new key is needed now.
        let s = Store::open(
            &b.url,
            1,
            Keyring::new(Key::from_base64(&new_b64).unwrap(), vec![]),
        )
        .await
        .unwrap();
        for (id, secret) in &ids {
            let f = s.factor(id).await.unwrap().unwrap();
            assert_eq!(
                s.factor_secret(&f).unwrap().expose_bytes(),
                secret.expose_bytes()
            );
        }
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    for b in backends("the_audit_log_is_append_only") {
        let s = b.open().await;
        let entry = idforge_examples::store::AuditEntry {
            id: 0,
            at: 1_700_000_000,
            username: "alice".into(),
            user_id: None,
            application: "aws-console".into(),
            source_ip: Some("192.0.2.1".into()),
            front_door: "web".into(),
            factors: vec!["password:wrong".into()],
            result: "reject".into(),
            reasons: vec!["wrong password".into()],
        };
        let id = s.append_audit(&entry).await.unwrap();
        assert!(
            s.execute_raw("UPDATE audit SET result = 'accept'")
                .await
                .is_err()
        );
        assert!(s.execute_raw("DELETE FROM audit").await.is_err());
        let tail = s.audit_tail(10, Some("ALICE")).await.unwrap();
        assert_eq!(tail.len(), 1, "{}", b.name);
        assert_eq!(tail[0].id, id);
        assert_eq!(tail[0].result, "reject");
        assert_eq!(tail[0].reasons, vec!["wrong password".to_owned()]);
    }
}

/// Two store handles (two connections) race to accept the same TOTP step 1,000 times:
/// exactly one wins each time. Then lockout counters are raced the same way: no update is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_handles_accept_each_code_once_and_lose_no_lockout_update() {
    for b in backends("racing_handles_accept_each_code_once") {
        let a = b.open().await;
        let c = b.open().await;
        let u = a.create_user(&user("alice")).await.unwrap();
        let f = enrol(&a, u.id, &Secret::from_bytes(&[7; 20]).unwrap()).await;
        let mut wins = 0;
        for step in 1..=1000u64 {
            let (x, y) = tokio::join!(
                a.accept_totp_step(&f, step, 0),
                c.accept_totp_step(&f, step, 0)
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(x ^ y, "{}: step {step}: {x} {y}", b.name);
            wins += 1;
        }
        assert_eq!(wins, 1000);
        // An older step is never accepted again.
        assert!(!a.accept_totp_step(&f, 999, 0).await.unwrap());
        // HOTP counters and backup codes use the same guard.
        for next in 1..=200u64 {
            let (x, y) = tokio::join!(
                a.accept_hotp_counter(&f, next, 0),
                c.accept_hotp_counter(&f, next, 0)
            );
            assert!(x.unwrap() ^ y.unwrap(), "{}: counter {next}", b.name);
        }
        let rule = idforge_policy::LockoutRule {
            max_failures: 1_000_000,
            disable_after: 1_000_000,
            ..Default::default()
        };
        let tasks: Vec<_> = [a.clone(), c.clone()]
            .into_iter()
            .map(|s| {
                tokio::spawn(async move {
                    for _ in 0..50 {
                        s.update_lockout("user:alice", |st| rule.record_failure(st, 100).0)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let (state, _) = a.lockout("user:alice").await.unwrap();
        assert_eq!(state.consecutive_failures, 100, "{}", b.name);
    }
}

/// Run by `racing_processes_accept_each_code_once` in two child processes.
#[tokio::test]
#[ignore = "child process of racing_processes_accept_each_code_once"]
async fn race_child() {
    let Ok(url) = std::env::var("IDFORGE_RACE_URL") else {
        return;
    };
    let key = std::env::var("IDFORGE_RACE_KEY").unwrap();
    let factor = std::env::var("IDFORGE_RACE_FACTOR").unwrap();
    let go = std::path::PathBuf::from(std::env::var("IDFORGE_RACE_GO").unwrap());
    let s = Store::open(
        &url,
        1,
        Keyring::new(Key::from_base64(&key).unwrap(), vec![]),
    )
    .await
    .unwrap();
    println!("ready");
    while !go.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for step in 1..=1000u64 {
        if s.accept_totp_step(&factor, step, 0).await.unwrap() {
            println!("won {step}");
        }
    }
    println!("done");
}

/// Two processes race to accept the same 1,000 steps: each step is won exactly once.
#[tokio::test]
async fn racing_processes_accept_each_code_once() {
    for b in backends("racing_processes_accept_each_code_once") {
        let s = b.open().await;
        let u = s.create_user(&user("alice")).await.unwrap();
        let f = enrol(&s, u.id, &Secret::from_bytes(&[9; 20]).unwrap()).await;
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let exe = std::env::current_exe().unwrap();
        let mut children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args(["race_child", "--exact", "--ignored", "--nocapture"])
                    .env("IDFORGE_RACE_URL", &b.url)
                    .env("IDFORGE_RACE_KEY", &b.key)
                    .env("IDFORGE_RACE_FACTOR", &f)
                    .env("IDFORGE_RACE_GO", &go)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut readers: Vec<_> = children
            .iter_mut()
            .map(|c| BufReader::new(c.stdout.take().unwrap()).lines())
            .collect();
        for r in &mut readers {
            loop {
                let line = r.next().unwrap().unwrap();
                if line == "ready" {
                    break;
                }
            }
        }
        std::fs::write(&go, b"go").unwrap();
        let mut won = vec![0u32; 1001];
        let mut per_child = Vec::new();
        for r in readers {
            let mut n = 0;
            let mut done = false;
            for line in r {
                let line = line.unwrap();
                if let Some(step) = line.strip_prefix("won ") {
                    won[step.parse::<usize>().unwrap()] += 1;
                    n += 1;
                }
                if line == "done" {
                    done = true;
                }
            }
            assert!(done, "{}: a child did not finish", b.name);
            per_child.push(n);
        }
        for c in &mut children {
            assert!(c.wait().unwrap().success());
        }
        for (step, w) in won.iter().enumerate().skip(1) {
            assert_eq!(*w, 1, "{}: step {step} won {w} times", b.name);
        }
        eprintln!("{}: wins per process {per_child:?}", b.name);
    }
}

/// Run by `kill_9_loses_no_acknowledged_write` as the process that is killed.
#[tokio::test]
#[ignore = "child process of kill_9_loses_no_acknowledged_write"]
async fn durability_child() {
    use std::io::Write as _;
    let Ok(url) = std::env::var("IDFORGE_DURABLE_URL") else {
        return;
    };
    let key = std::env::var("IDFORGE_RACE_KEY").unwrap();
    let s = Store::open(
        &url,
        2,
        Keyring::new(Key::from_base64(&key).unwrap(), vec![]),
    )
    .await
    .unwrap();
    let mut out = std::io::stdout().lock();
    // A bounded stream: at most 5,000 operations, far more than the parent waits for.
    for i in 0..5000u32 {
        let name = format!("user{i}");
        let u = s.create_user(&user(&name)).await.unwrap();
        let secret = Secret::from_bytes(&[(i % 250) as u8 + 1; 20]).unwrap();
        let f = enrol(&s, u.id, &secret).await;
        writeln!(out, "enrolled {name} {f}").unwrap();
        out.flush().unwrap();
        let step = 1000 + u64::from(i);
        assert!(s.accept_totp_step(&f, step, 0).await.unwrap());
        writeln!(out, "accepted {f} {step}").unwrap();
        out.flush().unwrap();
    }
}

/// Kills a process with SIGKILL in the middle of enrolments and accepted codes; after a
/// restart every acknowledged enrolment is there and no acknowledged code is accepted again.
#[tokio::test]
async fn kill_9_loses_no_acknowledged_write() {
    for b in backends("kill_9_loses_no_acknowledged_write") {
        // Create the schema first so that the child starts writing at once.
        b.open().await.close().await;
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(&exe)
            .args(["durability_child", "--exact", "--ignored", "--nocapture"])
            .env("IDFORGE_DURABLE_URL", &b.url)
            .env("IDFORGE_RACE_KEY", &b.key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut enrolled = Vec::new();
        let mut accepted = Vec::new();
        while accepted.len() < 150 {
            let line = lines.next().unwrap().unwrap();
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["enrolled", name, f] => enrolled.push((name.to_owned(), f.to_owned())),
                ["accepted", f, step] => {
                    accepted.push((f.to_owned(), step.parse::<u64>().unwrap()));
                }
                _ => {}
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child was killed");
        let s = b.open_with(1).await;
        for (name, f) in &enrolled {
            let u = s
                .user(name)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{}: acknowledged user {name} lost", b.name));
            let factor = s.factor(f).await.unwrap().unwrap();
            assert_eq!(factor.user_id, u.id);
            s.factor_secret(&factor).unwrap();
        }
        for (f, step) in &accepted {
            assert!(
                !s.accept_totp_step(f, *step, 0).await.unwrap(),
                "{}: step {step} of {f} accepted twice",
                b.name
            );
        }
        eprintln!(
            "{}: {} enrolments and {} accepted codes acknowledged before SIGKILL, all kept",
            b.name,
            enrolled.len(),
            accepted.len()
        );
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_full_sync() {
    let b = backends("sqlite_runs_in_wal_mode_with_full_sync").remove(0);
    let s = b.open().await;
    assert_eq!(s.sqlite_pragma("journal_mode").await.unwrap(), "wal");
    // 2 is FULL: every commit is synced, so a committed write survives power loss.
    assert_eq!(s.sqlite_pragma("synchronous").await.unwrap(), "2");
    assert_eq!(s.sqlite_pragma("foreign_keys").await.unwrap(), "1");
}

/// Moving from SQLite to PostgreSQL: every row comes along with its id, secrets still open,
/// used codes stay used, and new rows get fresh ids.
#[tokio::test]
async fn a_sqlite_store_copies_into_postgres() {
    let mut all = backends("a_sqlite_store_copies_into_postgres");
    if all.len() < 2 {
        return;
    }
    let pg = all.pop().unwrap();
    let lite = all.pop().unwrap();
    let s = lite.open().await;
    let alice = s.create_user(&user("alice")).await.unwrap();
    s.set_password_hash(alice.id, "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .await
        .unwrap();
    s.create_group("Staff").await.unwrap();
    s.add_member("alice", "Staff").await.unwrap();
    let secret = Secret::from_bytes(&[5; 20]).unwrap();
    let f = enrol(&s, alice.id, &secret).await;
    assert!(s.accept_totp_step(&f, 77, 0).await.unwrap());
    s.update_lockout("user:alice", |mut st| {
        st.consecutive_failures = 2;
        st
    })
    .await
    .unwrap();
    s.append_audit(&idforge_examples::store::AuditEntry {
        id: 0,
        at: 1,
        username: "alice".into(),
        user_id: Some(alice.id),
        application: "app".into(),
        source_ip: None,
        front_door: "cli".into(),
        factors: vec![],
        result: "accept".into(),
        reasons: vec![],
    })
    .await
    .unwrap();
    let t = pg.open().await;
    let report = s.copy_to(&t, |_, _| {}).await.unwrap();
    assert!(report.contains(&("users", 1)) && report.contains(&("factors", 1)));
    // A second copy into a store that has data is refused.
    assert!(s.copy_to(&t, |_, _| {}).await.is_err());
    let a = t.user("alice").await.unwrap().unwrap();
    assert_eq!(a.id, alice.id);
    assert_eq!(t.groups_of(a.id).await.unwrap(), vec!["Staff".to_owned()]);
    let factor = t.factor(&f).await.unwrap().unwrap();
    assert_eq!(
        t.factor_secret(&factor).unwrap().expose_bytes(),
        secret.expose_bytes()
    );
    assert!(!t.accept_totp_step(&f, 77, 0).await.unwrap());
    assert!(t.password_hash(a.id).await.unwrap().is_some());
    assert_eq!(
        t.lockout("user:alice")
            .await
            .unwrap()
            .0
            .consecutive_failures,
        2
    );
    assert_eq!(t.audit_tail(10, None).await.unwrap().len(), 1);
    // Sequences moved on: new rows do not collide with copied ids.
    let bob = t.create_user(&user("bob")).await.unwrap();
    assert!(bob.id > a.id);
    t.create_group("Admins").await.unwrap();
}

#[tokio::test]
async fn web_sessions_expire_end_with_their_user_and_are_purged() {
    for b in backends("web_sessions") {
        let s = b.open().await;
        let alice = s.create_user(&user("alice")).await.unwrap();
        let mut row = idforge_examples::store::WebSession {
            id_hash: "a".repeat(64),
            user_id: Some(alice.id),
            created_at: 1_000,
            last_seen: 1_000,
            expires_at: 2_000,
            data: "{\"csrf\":\"x\"}".into(),
        };
        s.save_web_session(&row).await.unwrap();
        assert_eq!(
            s.web_session(&row.id_hash, 1_500).await.unwrap(),
            Some(row.clone()),
            "{}",
            b.name
        );
        assert_eq!(
            s.web_session(&row.id_hash, 2_000).await.unwrap(),
            None,
            "expired"
        );
        // Saving again updates in place (no second row).
        row.expires_at = 3_000;
        row.data = "{\"csrf\":\"y\"}".into();
        s.save_web_session(&row).await.unwrap();
        assert_eq!(
            s.web_session(&row.id_hash, 2_500)
                .await
                .unwrap()
                .unwrap()
                .data,
            row.data
        );
        assert_eq!(s.count_web_sessions(2_500).await.unwrap(), 1);
        let anonymous = idforge_examples::store::WebSession {
            id_hash: "b".repeat(64),
            user_id: None,
            expires_at: 1_100,
            ..row.clone()
        };
        s.save_web_session(&anonymous).await.unwrap();
        assert_eq!(s.purge_web_sessions(1_200).await.unwrap(), 1);
        assert_eq!(s.delete_web_sessions_of(alice.id).await.unwrap(), 1);
        s.save_web_session(&row).await.unwrap();
        // Deleting the user ends the session (foreign key cascade).
        s.delete_user("alice").await.unwrap();
        assert_eq!(
            s.web_session(&row.id_hash, 2_500).await.unwrap(),
            None,
            "{}",
            b.name
        );
        assert!(!s.delete_web_session(&row.id_hash).await.unwrap());
    }
}

/// Polls `check` until it holds, for at most two seconds (twenty times the default refresh
/// interval of the cache's change feed).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not seen after 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A server's store keeps users, lockout states and sessions in memory: its own writes show at
/// once, and what another writer changes (the CLI, a second instance, plain SQL) reaches it
/// through the change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_follows_its_own_writes_and_every_other_writer() {
    use idforge_examples::store::{UserStatus, WebSession};
    for b in backends("cache_follows_writers") {
        let server = b.open().await;
        let other = b.open().await;
        let alice = server.create_user(&user("alice")).await.unwrap();
        server.create_group("admins").await.unwrap();
        let view = server.user_view("alice").await.unwrap().unwrap();
        assert!(view.groups.is_empty() && view.factors.is_empty());
        assert_eq!(server.cached_users(), 1, "{}", b.name);

        // Its own writes: seen at once.
        server.add_member("alice", "admins").await.unwrap();
        let view = server.user_view("ALICE").await.unwrap().unwrap();
        assert_eq!(view.groups, ["admins"], "{}", b.name);
        let secret = Secret::from_bytes(&[7; 20]).unwrap();
        enrol(&server, alice.id, &secret).await;
        assert_eq!(
            server
                .user_view("alice")
                .await
                .unwrap()
                .unwrap()
                .factors
                .len(),
            1
        );

        // Another writer's: seen within the refresh interval.
        other
            .set_status("alice", UserStatus::Disabled)
            .await
            .unwrap();
        eventually("status", || async {
            server
                .user_view("alice")
                .await
                .unwrap()
                .unwrap()
                .user
                .status
                == UserStatus::Disabled
        })
        .await;
        other.remove_member("alice", "admins").await.unwrap();
        eventually("membership", || async {
            server
                .user_view("alice")
                .await
                .unwrap()
                .unwrap()
                .groups
                .is_empty()
        })
        .await;
        other
            .execute_raw("UPDATE users SET email = 'new@example.com' WHERE name_key = 'alice'")
            .await
            .unwrap();
        eventually("plain SQL", || async {
            server.user_view("alice").await.unwrap().unwrap().user.email
                == Some("new@example.com".into())
        })
        .await;
        other.reset_factors(alice.id).await.unwrap();
        eventually("factor reset", || async {
            server
                .user_view("alice")
                .await
                .unwrap()
                .unwrap()
                .factors
                .is_empty()
        })
        .await;

        // Lockout states, per address and per user.
        assert_eq!(server.lockout("ip:192.0.2.1").await.unwrap().1, 0);
        other
            .update_lockout("ip:192.0.2.1", |mut s| {
                s.consecutive_failures += 1;
                s
            })
            .await
            .unwrap();
        eventually("address lockout", || async {
            server
                .lockout("ip:192.0.2.1")
                .await
                .unwrap()
                .0
                .consecutive_failures
                == 1
        })
        .await;
        other
            .update_lockout("user:alice", |mut s| {
                s.disabled = true;
                s
            })
            .await
            .unwrap();
        eventually("user lockout", || async {
            server
                .user_view("alice")
                .await
                .unwrap()
                .unwrap()
                .lockout
                .disabled
        })
        .await;

        // Sessions.
        let session = WebSession {
            id_hash: "c".repeat(64),
            user_id: Some(alice.id),
            created_at: 1_000,
            last_seen: 1_000,
            expires_at: 9_000,
            data: "{}".into(),
        };
        server.save_web_session(&session).await.unwrap();
        assert!(
            server
                .web_session(&session.id_hash, 2_000)
                .await
                .unwrap()
                .is_some()
        );
        other.delete_web_sessions_of(alice.id).await.unwrap();
        eventually("session ended elsewhere", || async {
            server
                .web_session(&session.id_hash, 2_000)
                .await
                .unwrap()
                .is_none()
        })
        .await;

        // A deleted user is gone everywhere.
        other.delete_user("alice").await.unwrap();
        eventually("deleted user", || async {
            server.user_view("alice").await.unwrap().is_none()
        })
        .await;
    }
}

/// A successful login clears the failures counted against the name, also those another
/// instance counted and this one has not read; a disabled state stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_login_clears_failures_counted_elsewhere() {
    use idforge_examples::store::{AuditEntry, LoginRecord};
    for b in backends("accepted_login_clears_failures") {
        let server = b.open().await;
        let other = b.open().await;
        let alice = server.create_user(&user("alice")).await.unwrap();
        assert_eq!(
            server.user_view("alice").await.unwrap().unwrap().lockout,
            idforge_policy::LockoutState::default()
        );
        other
            .update_lockout("user:alice", |mut s| {
                s.consecutive_failures = 3;
                s.failures_in_window = 3;
                s
            })
            .await
            .unwrap();
        let accept = |at: u64| {
            (
                LoginRecord {
                    at,
                    ip: "192.0.2.7".parse().unwrap(),
                    application: "portal".into(),
                    device: None,
                },
                AuditEntry {
                    id: 0,
                    at: i64::try_from(at).unwrap(),
                    username: "alice".into(),
                    user_id: Some(alice.id),
                    application: "portal".into(),
                    source_ip: Some("192.0.2.7".into()),
                    front_door: "cli".into(),
                    factors: vec!["password:ok".into()],
                    result: "accept".into(),
                    reasons: vec![],
                },
            )
        };
        let (login, entry) = accept(100);
        server
            .record_accepted_login(alice.id, &login, &entry)
            .await
            .unwrap();
        let fresh = b.open().await;
        assert_eq!(
            fresh.lockout("user:alice").await.unwrap().0,
            idforge_policy::LockoutState::default(),
            "{}",
            b.name
        );
        // The history the adaptive rules read has the login, newest first.
        let (login, entry) = accept(200);
        server
            .record_accepted_login(alice.id, &login, &entry)
            .await
            .unwrap();
        let history = &server.user_view("alice").await.unwrap().unwrap().history;
        assert_eq!(history.iter().map(|h| h.at).collect::<Vec<_>>(), [200, 100]);
        // Disabled stays disabled.
        other
            .update_lockout("user:alice", |mut s| {
                s.disabled = true;
                s
            })
            .await
            .unwrap();
        let (login, entry) = accept(300);
        server
            .record_accepted_login(alice.id, &login, &entry)
            .await
            .unwrap();
        assert!(
            b.open()
                .await
                .lockout("user:alice")
                .await
                .unwrap()
                .0
                .disabled
        );
    }
}

#[tokio::test]
async fn outbox_claims_are_exclusive_until_the_lease_ends() {
    use idforge_examples::store::{Channel, MailLimits, MailStatus, NewMail};
    for b in backends("outbox_claims_are_exclusive_until_the_lease_ends") {
        let s = b.open().await;
        let mail = |n: u32| NewMail {
            channel: Channel::Email,
            message_id: format!("<{n}@idforge.test>"),
            kind: "alert".into(),
            recipient: "admin@example.com".into(),
            user_id: None,
            username: Some("alice".into()),
            subject: "s".into(),
            body_text: "t".into(),
            body_html: "<p>h</p>".into(),
            created_at: 1000,
            limits: MailLimits {
                per_address_hour: 2,
                per_user_hour: 10,
            },
        };
        let written = s.enqueue_mail(&[mail(1), mail(2), mail(3)]).await.unwrap();
        let statuses: Vec<MailStatus> = written.iter().map(|w| w.1).collect();
        assert_eq!(
            statuses,
            [
                MailStatus::Pending,
                MailStatus::Pending,
                MailStatus::Suppressed
            ],
            "{}",
            b.name
        );
        let first = s
            .claim_mail(Channel::Email, "a", 1000, 60, 10)
            .await
            .unwrap();
        assert_eq!(first.len(), 2, "{}", b.name);
        assert!(first.iter().all(|m| m.attempts == 1));
        // Another worker finds nothing while the leases run, and cannot finish a's rows.
        assert!(
            s.claim_mail(Channel::Email, "b", 1030, 60, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(!s.mark_mail_sent(first[0].id, "b", 1030).await.unwrap());
        assert!(s.mark_mail_sent(first[0].id, "a", 1030).await.unwrap());
        // After the lease, the unfinished row is claimed again (a crashed worker's row).
        let again = s
            .claim_mail(Channel::Email, "b", 1061, 60, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1, "{}", b.name);
        assert_eq!(again[0].message_id, first[1].message_id);
        assert_eq!(again[0].attempts, 2);
        assert!(s.fail_mail(again[0].id, "b", "gave up").await.unwrap());
        let failed = s.outbox(Some(MailStatus::Failed), 10).await.unwrap();
        assert_eq!(failed[0].last_error.as_deref(), Some("gave up"));
    }
}
