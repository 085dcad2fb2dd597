//! CSV import and export against a real SQLite store in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use idforge_examples::crypto::{Key, Keyring};
use idforge_examples::import::{
    ImportError, ImportOptions, ImportProgress, ImportReport, UserRow, import_users_csv,
    write_users_csv,
};
use idforge_examples::store::{NewUser, Store};

const ALL_OR_NOTHING: ImportOptions = ImportOptions { skip_bad: false };
const SKIP_BAD: ImportOptions = ImportOptions { skip_bad: true };

async fn open_store(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("idforge.db").display());
    Store::open(&url, 4, Keyring::new(Key::generate().unwrap(), vec![]))
        .await
        .unwrap()
}

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import")
        .join(name);
    std::fs::read(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .unwrap()
}

/// `bad_rows.csv` with its `<0xFF>` placeholder turned into the byte 0xFF (see the README
/// beside it).
fn bad_rows() -> Vec<u8> {
    let text = data("bad_rows.csv");
    let marker = b"<0xFF>";
    let at = text
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    let mut out = text[..at].to_vec();
    out.push(0xFF);
    out.extend_from_slice(&text[at + marker.len()..]);
    assert!(std::str::from_utf8(&out).is_err());
    out
}

async fn import(store: &Store, input: &[u8], options: &ImportOptions) -> ImportReport {
    import_users_csv(store, input, options, &mut |_| {})
        .await
        .unwrap()
}

async fn groups_of(store: &Store, name: &str) -> Vec<String> {
    let user = store.require_user(name).await.unwrap();
    store.groups_of(user.id).await.unwrap()
}

#[tokio::test]
async fn ten_thousand_users_in_three_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    for g in ["staff", "vpn", "Finance"] {
        store.create_group(g).await.unwrap();
    }

    let mut input = String::from("name,display_name,email,phone,groups\n");
    for i in 0..10_000 {
        let mut groups = vec!["staff"];
        if i % 2 == 0 {
            groups.push("vpn");
        }
        if i % 5 == 0 {
            groups.push("finance");
        }
        writeln!(
            input,
            "user{i:05},User {i},user{i:05}@example.org,+49 30 {i:07},{}",
            groups.join(";")
        )
        .unwrap();
    }

    let mut validated = 0;
    let mut written = Vec::new();
    let started = Instant::now();
    let report = import_users_csv(
        &store,
        input.as_bytes(),
        &ALL_OR_NOTHING,
        &mut |p| match p {
            ImportProgress::Validated { lines } => validated = lines,
            ImportProgress::Written { users, of } => written.push((users, of)),
        },
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    println!("imported 10,000 users in {elapsed:?} (validation and one transaction)");

    assert_eq!(report.imported, 10_000, "{report}");
    assert_eq!(report.total_lines, 10_000);
    assert!(report.rejected.is_empty());
    assert_eq!(validated, 10_000);
    assert_eq!(written.last(), Some(&(10_000, 10_000)));
    assert!(
        written.len() > 10,
        "the bar moves while writing: {written:?}"
    );

    assert_eq!(store.user_count().await.unwrap(), 10_000);
    let members: Vec<(String, i64)> = store
        .groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.name, g.members))
        .collect();
    assert_eq!(
        members,
        [
            ("Finance".to_owned(), 2_000),
            ("staff".to_owned(), 10_000),
            ("vpn".to_owned(), 5_000)
        ]
    );
    assert_eq!(
        groups_of(&store, "user00000").await,
        ["Finance", "staff", "vpn"]
    );
    assert_eq!(groups_of(&store, "user00001").await, ["staff"]);
    assert_eq!(groups_of(&store, "user04444").await, ["staff", "vpn"]);
    assert_eq!(groups_of(&store, "USER09995").await, ["Finance", "staff"]);
    let last = store.require_user("user09999").await.unwrap();
    assert_eq!(last.display_name.as_deref(), Some("User 9999"));
    assert_eq!(last.email.as_deref(), Some("user09999@example.org"));
    assert_eq!(last.phone.as_deref(), Some("+49 30 0009999"));
    assert_eq!(last.source, "local");

    // The same file again: every line names a user that exists now, nothing changes.
    let again = import(&store, input.as_bytes(), &SKIP_BAD).await;
    assert_eq!(again.imported, 0);
    assert_eq!(again.rejected.len(), 10_000);
    assert!(again.rejected[0].reason.contains("exists already"));
    assert_eq!(store.user_count().await.unwrap(), 10_000);
}

/// The rejected lines of `bad_rows.csv`: line, name as reported, a piece of the reason.
const EXPECTED_BAD: [(usize, Option<&str>, &str); 9] = [
    (3, None, "empty name"),
    (4, Some("bob"), "bad e-mail \"bob@example\""),
    (5, Some("carol"), "unknown group \"nosuch\""),
    (
        7,
        Some("Alice"),
        "duplicate user \"Alice\" (first on line 2)",
    ),
    (8, Some("existing"), "exists already in the store"),
    (9, Some("erin"), "expected 5 fields, found 3"),
    (10, None, "column name: invalid UTF-8"),
    (11, Some("=cmd|' /C calc'!A0"), "name starts with '='"),
    (12, Some("grace"), "group starts with '='"),
];

fn assert_bad_lines(report: &ImportReport) {
    assert_eq!(report.total_lines, 12);
    let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    let expected: Vec<usize> = EXPECTED_BAD.iter().map(|(l, _, _)| *l).collect();
    assert_eq!(lines, expected, "{report}");
    for (got, (line, name, reason)) in report.rejected.iter().zip(EXPECTED_BAD) {
        assert_eq!(got.name.as_deref(), name, "line {line}");
        assert!(
            got.reason.contains(reason),
            "line {line}: {:?} does not mention {reason:?}",
            got.reason
        );
    }
}

#[tokio::test]
async fn every_bad_line_is_reported_and_nothing_is_written_unless_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    store.create_group("staff").await.unwrap();
    store.create_group("vpn").await.unwrap();
    store
        .create_user(&NewUser {
            name: "existing".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let input = bad_rows();

    let report = import(&store, &input, &ALL_OR_NOTHING).await;
    assert_bad_lines(&report);
    println!("{report}");
    assert_eq!(report.imported, 0);
    assert_eq!(store.user_count().await.unwrap(), 1, "all or nothing");
    assert!(store.user("alice").await.unwrap().is_none());
    let shown = report.to_string();
    assert!(
        shown.starts_with(
            "imported 0 users; 9 lines rejected (nothing written):\n  line 3: empty name\n"
        ),
        "{shown}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["imported"], 0);
    assert_eq!(json["rejected"][1]["line"], 4);
    assert_eq!(json["rejected"][1]["name"], "bob");

    let report = import(&store, &input, &SKIP_BAD).await;
    assert_bad_lines(&report);
    assert_eq!(report.imported, 3);
    assert_eq!(store.user_count().await.unwrap(), 4);
    assert!(
        report
            .to_string()
            .starts_with("imported 3 users; 9 lines rejected:\n"),
        "{report}"
    );
    let alice = store.require_user("alice").await.unwrap();
    assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(alice.phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(groups_of(&store, "alice").await, ["staff", "vpn"]);
    assert_eq!(groups_of(&store, "dave").await, ["vpn"]);
    // Group names are matched case-insensitively and stored as the group is named.
    assert_eq!(groups_of(&store, "heidi").await, ["staff", "vpn"]);
    for absent in ["bob", "carol", "erin", "grace"] {
        assert!(store.user(absent).await.unwrap().is_none(), "{absent}");
    }
    // The first Alice stays; the duplicate line did not overwrite her.
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .all(|u| !u.name.starts_with('=')),
        "no formula reached the store"
    );
}

#[tokio::test]
async fn export_neutralises_formulas_and_parses_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    store.create_group("staff").await.unwrap();
    store.create_group("vpn").await.unwrap();
    let report = import(&store, &data("good_users.csv"), &ALL_OR_NOTHING).await;
    assert_eq!(report.imported, 3, "{report}");
    // The import refuses this display name; a directory sync could still bring it in.
    store
        .create_user(&NewUser {
            name: "mallory".into(),
            display_name: Some("=HYPERLINK(\"http://x\")".into()),
            email: Some("mallory@example.org".into()),
            phone: None,
            source: "corp-ad".into(),
        })
        .await
        .unwrap();

    let mut rows = Vec::new();
    for user in store.users().await.unwrap() {
        let groups = store.groups_of(user.id).await.unwrap();
        rows.push(UserRow::from_user(&user, groups));
    }
    let mut out = Vec::new();
    write_users_csv(&mut out, &rows).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(
            "mallory,\"'=HYPERLINK(\"\"http://x\"\")\",mallory@example.org,,active,corp-ad,\n"
        ),
        "{text}"
    );

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "name",
            "display_name",
            "email",
            "phone",
            "status",
            "source",
            "groups"
        ]
    );
    let parsed: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(parsed.len(), 4);
    let mallory = parsed.iter().find(|r| r[0] == "mallory").unwrap();
    assert_eq!(mallory[1], "'=HYPERLINK(\"http://x\")");
    let alice = parsed.iter().find(|r| r[0] == "alice").unwrap();
    assert_eq!(
        alice[1..],
        [
            "Alice Liddell",
            "alice@example.org",
            "'+44 20 7946 0000",
            "active",
            "local",
            "staff;vpn"
        ]
    );
    let bob = parsed.iter().find(|r| r[0] == "bob").unwrap();
    assert_eq!(
        bob[3], "(030) 123 4567",
        "only cells that could run are quoted"
    );
    let carol = parsed.iter().find(|r| r[0] == "carol").unwrap();
    assert_eq!(carol[1..], ["", "", "", "active", "local", ""]);
}

#[tokio::test]
async fn header_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;

    let missing = import_users_csv(
        &store,
        b"email,phone,groups\nalice@example.org,,\n",
        &ALL_OR_NOTHING,
        &mut |_| {},
    )
    .await;
    assert!(
        matches!(missing, Err(ImportError::MissingNameColumn)),
        "{missing:?}"
    );

    // An export has `status` and `source`, which an import does not set.
    let unknown = import_users_csv(
        &store,
        b"Name,EMail,status,source\nalice,alice@example.org,active,local\n",
        &SKIP_BAD,
        &mut |_| {},
    )
    .await;
    match unknown {
        Err(ImportError::UnknownColumns { columns }) => assert_eq!(columns, ["status", "source"]),
        other => panic!("expected UnknownColumns, got {other:?}"),
    }

    let empty = import_users_csv(&store, b"", &ALL_OR_NOTHING, &mut |_| {}).await;
    assert!(
        matches!(empty, Err(ImportError::MissingHeader)),
        "{empty:?}"
    );
    assert_eq!(store.user_count().await.unwrap(), 0);
}
