//! `idforge_examples::ldap` against a real OpenLDAP `slapd` (see `support/slapd.rs`): logins
//! accepted and rejected, attributes and groups, StartTLS and LDAPS with a CA file, the pool's
//! bound and connection reuse, timeouts, the administrator's test, and `idforge ldap test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/slapd.rs"]
mod slapd;

#[path = "../src/bin/idforge/ldap.rs"]
mod cli;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use idforge_examples::ldap::{LdapDirectory, LdapError, LdapLogin, LdapSettings, LdapUser};
use idforge_examples::secret::SecretValue;
use idforge_ldap_auth::{
    Attribute, AuthFailure, Dn, FilterTemplate, GroupLookup, Nesting, ResultCode, UserFilter,
};
use slapd::{PEOPLE, SERVICE_DN, SERVICE_PASSWORD};
use tokio::net::{TcpListener, TcpStream};

/// Settings for a clear-text slapd: service account, default attribute names plus the
/// employee number, groups from `memberOf`.
fn settings(url: &str) -> LdapSettings {
    let text = format!(
        r#"
        name = "lab"
        url = "{url}"
        start_tls = false
        allow_plaintext = true
        bind_dn = "{SERVICE_DN}"
        bind_password = "{SERVICE_PASSWORD}"
        user_base = "{PEOPLE}"
        user_filter = "uid"
        groups = {{ member_of = {{ attribute = "memberOf" }} }}
        attributes = {{ extra = {{ employee_id = "employeeNumber" }} }}
        "#
    );
    toml::from_str(&text).unwrap()
}

/// Groups searched level by level under ou=groups.
fn nested_groups() -> GroupLookup {
    GroupLookup::Search {
        base: Dn::parse(slapd::GROUPS).unwrap(),
        member_attribute: Attribute::new("member").unwrap(),
        nesting: Nesting::Iterative { max_depth: 4 },
    }
}

fn accepted(login: LdapLogin) -> LdapUser {
    match login {
        LdapLogin::Accepted(user) => user,
        LdapLogin::Rejected { audit, .. } => panic!("rejected: {audit}"),
    }
}

fn rejected(login: LdapLogin) -> (String, String) {
    match login {
        LdapLogin::Rejected { audit, user_facing } => (audit, user_facing),
        LdapLogin::Accepted(user) => panic!("accepted: {user:?}"),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A TCP forwarder in front of slapd that counts connections (in total and at once) and can
/// cut every open connection, as a server restart would.
struct Proxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    max_active: Arc<AtomicUsize>,
    cut: tokio::sync::watch::Sender<u32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let max_active = Arc::new(AtomicUsize::new(0));
        let (cut, cut_rx) = tokio::sync::watch::channel(0u32);
        let (a, act, max) = (accepted.clone(), active.clone(), max_active.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let now = act.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                let act = act.clone();
                let mut cut_rx = cut_rx.clone();
                cut_rx.mark_unchanged();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut_rx.changed() => {}
                        }
                    }
                    act.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            accepted,
            max_active,
            cut,
            task,
        }
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

#[tokio::test]
async fn right_password_gives_the_mapped_user_and_groups() {
    if !slapd::slapd_present("right_password_gives_the_mapped_user_and_groups") {
        return;
    }
    let server = slapd::start();
    let directory = LdapDirectory::new(&settings(&server.url())).unwrap();

    let alice = accepted(directory.authenticate("alice", "alice-pw").await.unwrap());
    assert_eq!(alice.dn, format!("uid=alice,{PEOPLE}"));
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
    assert!(
        matches!(
            alice.email.as_deref(),
            Some("alice@example.com" | "a.liddell@example.com")
        ),
        "{:?}",
        alice.email
    );
    assert_eq!(
        sorted(alice.values("email").to_vec()),
        ["a.liddell@example.com", "alice@example.com"]
    );
    assert_eq!(alice.phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(alice.values("employee_id"), ["1001"]);
    assert_eq!(sorted(alice.groups.clone()), ["VPN_Group", "staff"]);
    let group_dns: Vec<Dn> = alice
        .group_dns
        .iter()
        .map(|d| Dn::parse(d).unwrap())
        .collect();
    assert!(group_dns.contains(&Dn::parse("cn=VPN_Group,ou=groups,dc=example,dc=com").unwrap()));

    // The entry's spelling, not the typed one; attributes the entry lacks are None.
    let bob = accepted(directory.authenticate(" BOB ", "bob-pw").await.unwrap());
    assert_eq!(bob.username, "bob");
    assert_eq!(bob.display_name, None);
    assert_eq!(bob.phone, None);
    assert_eq!(bob.groups, ["staff"]);

    // An escaped comma in the DN comes back as the server wrote it.
    let jane = accepted(directory.authenticate("jdoe", "jane-pw").await.unwrap());
    assert_eq!(
        Dn::parse(&jane.dn).unwrap(),
        Dn::parse(&format!(r"cn=Doe\, Jane,{PEOPLE}")).unwrap()
    );

    // Nested groups by searching (VPN_Group is a member of admins).
    let mut nested = settings(&server.url());
    nested.groups = nested_groups();
    let directory = LdapDirectory::new(&nested).unwrap();
    let alice = accepted(directory.authenticate("alice", "alice-pw").await.unwrap());
    assert_eq!(sorted(alice.groups), ["VPN_Group", "admins", "staff"]);
}

#[tokio::test]
async fn wrong_unknown_empty_and_injected_are_rejected() {
    if !slapd::slapd_present("wrong_unknown_empty_and_injected_are_rejected") {
        return;
    }
    let server = slapd::start();
    let proxy = Proxy::start(server.port).await;
    let directory = LdapDirectory::new(&settings(&proxy.url())).unwrap();

    let (audit, user_facing) = rejected(directory.authenticate("alice", "nope").await.unwrap());
    assert_eq!(audit, "wrong password");
    assert_eq!(user_facing, "invalid credentials");

    let (audit, unknown_facing) =
        rejected(directory.authenticate("mallory", "alice-pw").await.unwrap());
    assert_eq!(audit, "no such user");
    assert_eq!(
        unknown_facing, user_facing,
        "users cannot tell the two apart"
    );

    for hostile in ["*)(uid=*", "*", "al*", "alice)(|(uid=*", "alice\0"] {
        let (audit, facing) = rejected(directory.authenticate(hostile, "alice-pw").await.unwrap());
        assert_eq!(audit, "no such user", "{hostile:?}");
        assert_eq!(facing, "invalid credentials");
    }

    // This slapd binds a DN with an empty password anonymously; the login refuses before a
    // connection is even opened.
    let before = proxy.accepted();
    let (audit, facing) = rejected(directory.authenticate("alice", "").await.unwrap());
    assert!(audit.contains("empty password"), "{audit}");
    assert_eq!(facing, "invalid credentials");
    assert_eq!(
        proxy.accepted(),
        before,
        "no connection for an empty password"
    );
    let log = server.log();
    assert!(!log.contains("alice-pw"), "passwords never logged");
}

#[tokio::test]
async fn start_tls_and_ldaps_trust_only_the_configured_ca() {
    if !slapd::peers_present(
        "start_tls_and_ldaps_trust_only_the_configured_ca",
        &[slapd::SLAPD, slapd::LDAPADD, "openssl"],
    ) {
        return;
    }
    let server = slapd::start_tls();
    let ca = server.ca_file().unwrap().to_owned();

    let mut start_tls = settings(&server.url());
    start_tls.start_tls = None; // the default on ldap://
    start_tls.allow_plaintext = false;
    start_tls.ca_file = Some(ca.clone());
    let directory = LdapDirectory::new(&start_tls).unwrap();
    let alice = accepted(directory.authenticate("alice", "alice-pw").await.unwrap());
    assert_eq!(sorted(alice.groups), ["VPN_Group", "staff"]);
    // The connection is kept with its TLS up; the next login goes on over it (no second
    // StartTLS), starting with the service bind.
    assert_eq!(directory.idle_connections(), 1);
    let (audit, _) = rejected(directory.authenticate("alice", "wrong").await.unwrap());
    assert_eq!(audit, "wrong password");
    accepted(directory.authenticate("bob", "bob-pw").await.unwrap());
    assert_eq!(directory.idle_connections(), 1);

    // LDAPS: TLS from the first byte.
    let mut ldaps = start_tls.clone();
    ldaps.url = server.ldaps_url().unwrap();
    let directory = LdapDirectory::new(&ldaps).unwrap();
    accepted(directory.authenticate("bob", "bob-pw").await.unwrap());

    // TLS without a CA file is refused when the settings are read.
    let mut no_ca = start_tls.clone();
    no_ca.ca_file = None;
    let e = LdapDirectory::new(&no_ca).unwrap_err();
    assert!(e.to_string().contains("ca_file is required"), "{e}");

    // This server refuses simple binds without TLS: the service bind fails, and that is the
    // directory's problem, not a rejected user.
    let plain = settings(&server.url());
    let directory = LdapDirectory::new(&plain).unwrap();
    let e = directory
        .authenticate("alice", "alice-pw")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            LdapError::Directory { failure: AuthFailure::ServiceBindFailed { code, .. }, .. }
                if *code == ResultCode::CONFIDENTIALITY_REQUIRED
        ),
        "{e}"
    );
    assert!(!e.to_string().contains(SERVICE_PASSWORD));

    // Another CA: the handshake fails and no bind is sent.
    let other = slapd::TestCa::new(server.dir(), "other");
    for url in [server.url(), server.ldaps_url().unwrap()] {
        let mut untrusted = start_tls.clone();
        untrusted.url = url;
        untrusted.ca_file = Some(other.cert.clone());
        let directory = LdapDirectory::new(&untrusted).unwrap();
        let e = directory
            .authenticate("alice", "alice-pw")
            .await
            .unwrap_err();
        assert!(matches!(e, LdapError::Tls { .. }), "{e}");
        assert!(e.to_string().contains("certificate"), "{e}");
    }

    // The right CA but a name the certificate does not hold.
    let mut wrong_name = start_tls.clone();
    wrong_name.tls_server_name = Some("ldap.example.org".to_owned());
    let directory = LdapDirectory::new(&wrong_name).unwrap();
    let e = directory
        .authenticate("alice", "alice-pw")
        .await
        .unwrap_err();
    assert!(matches!(e, LdapError::Tls { .. }), "{e}");

    // The administrator's test over StartTLS says which TLS was negotiated.
    let directory = LdapDirectory::new(&start_tls).unwrap();
    let report = directory.test("alice").await.unwrap();
    assert!(report.passed());
    let steps: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        ["connect", "StartTLS", "service bind", "user search"]
    );
    assert!(report.steps[1].detail.starts_with("TLSv1_"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_bounds_connections_and_reuses_them() {
    if !slapd::slapd_present("the_pool_bounds_connections_and_reuses_them") {
        return;
    }
    let server = slapd::start();
    let proxy = Proxy::start(server.port).await;
    let mut s = settings(&proxy.url());
    s.pool_size = 2;
    let directory = LdapDirectory::new(&s).unwrap();

    let cases = [
        ("alice", "alice-pw", Some("alice")),
        ("bob", "bob-pw", Some("bob")),
        ("alice", "bob-pw", None),
        ("carol", "carol-pw", Some("carol")),
        ("mallory", "x", None),
    ];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (user, password, expected) = cases[i % cases.len()];
        let directory = directory.clone();
        tasks.push(tokio::spawn(async move {
            let login = directory.authenticate(user, password).await.unwrap();
            match (login, expected) {
                (LdapLogin::Accepted(u), Some(name)) => assert_eq!(u.username, name),
                (LdapLogin::Rejected { user_facing, .. }, None) => {
                    assert_eq!(user_facing, "invalid credentials");
                }
                (other, _) => panic!("{user}: {other:?}"),
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let max = proxy.max_active.load(Ordering::SeqCst);
    assert!(max <= 2, "{max} connections at once with pool_size 2");
    assert!(
        proxy.accepted() < 20,
        "kept connections are reused ({} opened)",
        proxy.accepted()
    );
    assert!(directory.idle_connections() <= 2);

    // One connection, one login after another: each starts with the service bind, so the
    // identity of the previous user never carries over.
    let proxy = Proxy::start(server.port).await;
    let mut s = settings(&proxy.url());
    s.pool_size = 1;
    let directory = LdapDirectory::new(&s).unwrap();
    let (audit, _) = rejected(directory.authenticate("bob", "wrong").await.unwrap());
    assert_eq!(audit, "wrong password");
    assert_eq!(
        accepted(directory.authenticate("alice", "alice-pw").await.unwrap()).username,
        "alice"
    );
    assert_eq!(
        accepted(directory.authenticate("bob", "bob-pw").await.unwrap()).username,
        "bob"
    );
    let (audit, _) = rejected(directory.authenticate("nobody", "x").await.unwrap());
    assert_eq!(audit, "no such user");
    assert_eq!(proxy.accepted(), 1, "one connection served all four logins");

    // The server closes the kept connection (a restart, an idle timeout): the next login
    // notices and runs on a new connection.
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(100)).await;
    accepted(directory.authenticate("alice", "alice-pw").await.unwrap());
    assert_eq!(proxy.accepted(), 2);

    // Without a service account nothing is kept: the connection ends bound as the user.
    let proxy = Proxy::start(server.port).await;
    let mut anonymous = settings(&proxy.url());
    anonymous.bind_dn = None;
    anonymous.bind_password = None;
    let directory = LdapDirectory::new(&anonymous).unwrap();
    for _ in 0..3 {
        accepted(directory.authenticate("alice", "alice-pw").await.unwrap());
    }
    assert_eq!(proxy.accepted(), 3);
    assert_eq!(directory.idle_connections(), 0);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut s = settings(&format!("ldap://127.0.0.1:{port}"));
    s.timeout_secs = 1;
    let directory = LdapDirectory::new(&s).unwrap();

    let started = Instant::now();
    let e = directory
        .authenticate("alice", "alice-pw")
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            e,
            LdapError::Timeout {
                operation: "service bind",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        e.to_string(),
        "directory lab: service bind timed out after 1 s"
    );

    let e = directory.test("alice").await.unwrap_err();
    assert!(matches!(e, LdapError::Timeout { .. }), "{e}");

    // With StartTLS the first request is StartTLS, and that is what times out.
    if slapd::peers_present("a_silent_server_times_out (StartTLS)", &["openssl"]) {
        let dir = tempfile::tempdir().unwrap();
        let ca = slapd::TestCa::new(dir.path(), "silent");
        s.start_tls = None;
        s.allow_plaintext = false;
        s.ca_file = Some(ca.cert.clone());
        let directory = LdapDirectory::new(&s).unwrap();
        let e = directory
            .authenticate("alice", "alice-pw")
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                LdapError::Timeout {
                    operation: "StartTLS",
                    ..
                }
            ),
            "{e}"
        );
    }
    held.abort();
}

#[tokio::test]
async fn the_test_reports_attributes_groups_and_timings() {
    if !slapd::slapd_present("the_test_reports_attributes_groups_and_timings") {
        return;
    }
    let server = slapd::start();
    let mut s = settings(&server.url());
    s.groups = nested_groups();
    let directory = LdapDirectory::new(&s).unwrap();

    let report = directory.test("alice").await.unwrap();
    assert!(report.passed(), "{report}");
    let steps: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        ["connect", "service bind", "user search", "group search"]
    );
    assert!(report.steps.iter().all(|s| s.millis >= 0.0));
    let user = report.user.as_ref().unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(user.phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(
        sorted(user.groups.clone()),
        ["VPN_Group", "admins", "staff"]
    );
    assert_eq!(report.filter, "(uid=alice)");
    assert_eq!(report.bind_dn.as_deref(), Some(SERVICE_DN));

    let text = report.to_string();
    for expected in [
        "PASSED",
        "Alice Liddell",
        "VPN_Group",
        "service bind",
        "(uid=alice)",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["user"]["display_name"], "Alice Liddell");
    assert_eq!(json["user"]["attributes"]["employee_id"][0], "1001");
    assert_eq!(json["user"]["groups"].as_array().unwrap().len(), 3);
    assert_eq!(json["steps"][0]["step"], "connect");
    assert!(!text.contains(SERVICE_PASSWORD) && !json.to_string().contains(SERVICE_PASSWORD));

    // No password is checked: the user's bind never happens (a wrong one would not matter).
    let report = directory.test("nobody").await.unwrap();
    assert!(!report.passed());
    assert!(report.user.is_none() && report.entries.is_empty());
    assert!(
        report
            .to_string()
            .contains("FAILED: no entry matches (uid=nobody)")
    );

    // Two entries match: a login would be refused as ambiguous.
    let mut by_cn = s.clone();
    by_cn.user_filter =
        UserFilter::Custom(FilterTemplate::parse("(|(uid={username})(uid=bob))").unwrap());
    let report = LdapDirectory::new(&by_cn)
        .unwrap()
        .test("alice")
        .await
        .unwrap();
    assert!(!report.passed());
    assert_eq!(report.entries.len(), 2);

    // A wrong service password is an error naming the step, without the password.
    let mut bad = s.clone();
    bad.bind_password = Some(SecretValue::parse("not-the-service-password"));
    let e = LdapDirectory::new(&bad)
        .unwrap()
        .test("alice")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("service bind failed"), "{e}");
    assert!(!e.to_string().contains("not-the-service-password"));
}

#[tokio::test]
async fn idforge_ldap_test_command() {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        ldap: cli::LdapCommand,
    }
    if !slapd::slapd_present("idforge_ldap_test_command") {
        return;
    }
    let server = slapd::start();
    let directories = [settings(&server.url())];
    let run = |args: &[&str]| {
        let cli = Cli::try_parse_from(std::iter::once("ldap").chain(args.iter().copied())).unwrap();
        let directories = directories.clone();
        async move { cli::run(&cli.ldap, &directories).await }
    };
    assert!(run(&["test", "alice"]).await.unwrap());
    assert!(run(&["test", "--json", "alice"]).await.unwrap());
    assert!(run(&["test", "--directory", "lab", "bob"]).await.unwrap());
    assert!(!run(&["test", "nobody"]).await.unwrap());
    let e = run(&["test", "-d", "corp", "alice"]).await.unwrap_err();
    assert!(e.to_string().contains("no directory named \"corp\""), "{e}");

    // A directory that does not answer: the test fails (exit 1), it is not an error (exit 2).
    let silent = [settings("ldap://127.0.0.1:1")];
    let cli = Cli::try_parse_from(["ldap", "test", "alice"]).unwrap();
    assert!(!cli::run(&cli.ldap, &silent).await.unwrap());
    let two = [settings("ldap://127.0.0.1:1"), {
        let mut s = settings(&server.url());
        s.name = "second".to_owned();
        s
    }];
    let e = cli::run(&cli.ldap, &two).await.unwrap_err();
    assert!(e.to_string().contains("--directory"), "{e}");
}

#[test]
fn settings_read_from_a_directories_table() {
    let s: LdapSettings = toml::from_str(&format!(
        r#"
        name = "lab"
        url = "ldap://127.0.0.1:3890"
        start_tls = false
        allow_plaintext = true
        bind_dn = "{SERVICE_DN}"
        bind_password = "env:IDFORGE_TEST_LDAP_PASSWORD_SURELY_UNSET"
        user_base = "{PEOPLE}"
        user_filter = "uid"
        "#
    ))
    .unwrap();
    assert!(s.validate().is_ok());
    // The secret is read when the directory is built, and a missing one is named.
    let e = LdapDirectory::new(&s).unwrap_err();
    assert!(matches!(e, LdapError::Secret { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("IDFORGE_TEST_LDAP_PASSWORD_SURELY_UNSET"),
        "{e}"
    );
}
