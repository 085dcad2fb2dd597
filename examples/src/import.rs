//! Bulk import of users from CSV files, and CSV export that never writes a live formula.
//!
//! # Import
//!
//! [`import_users_csv`] reads a file with a header row and one user a line:
//!
//! ```text
//! name,display_name,email,phone,groups
//! alice,Alice Liddell,alice@example.org,+44 20 7946 0000,staff;vpn
//! bob,,bob@example.org,,
//! ```
//!
//! Header names are matched case-insensitively and may come in any order; `name` is required,
//! `display_name`, `email`, `phone` and `groups` are optional, anything else is refused.
//! `groups` is a `;`-separated list of groups that must exist already.
//!
//! Every line is validated before anything is written, and every problem is reported with the
//! line of the file it is on (the header is line 1; a quoted field spanning several lines counts
//! from the line the record starts on). By default the import is all or nothing: one bad line
//! and no user is created. With [`ImportOptions::skip_bad`] the good lines are written (in one
//! transaction) and the bad ones reported.
//!
//! A cell that starts with `=`, `+`, `-`, `@`, TAB or CR is refused: a spreadsheet would run it
//! as a formula when the data is exported again (CSV injection). The one exception is a phone
//! number, which may start with `+` when the rest is a phone number.
//!
//! # Export
//!
//! [`write_users_csv`] writes users with the same column names (plus `status` and `source`) and
//! neutralises every cell that a spreadsheet would take as a formula by putting a single quote
//! in front of it, as the OWASP guidance on CSV injection recommends. Data that reached the
//! store some other way (a directory sync, an older version) is never written back live.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Write;

use csv::ByteRecord;
use serde::Serialize;

use crate::store::{NewUser, Store, StoreError, User, check_username, name_key};

/// Most data rows an import file may have.
pub const MAX_ROWS: usize = 1_000_000;

/// Most bytes one record (one line, or several when a quoted field holds line breaks) may take.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Longest display name accepted, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// Longest e-mail address accepted, in bytes (RFC 5321 path limit less the angle brackets).
const MAX_EMAIL_BYTES: usize = 254;

/// Longest value quoted back in a rejection reason, in characters.
const MAX_SHOWN_CHARS: usize = 64;

/// How many lines are validated between two [`ImportProgress::Validated`] reports.
const PROGRESS_EVERY: usize = 1024;

/// How an import treats bad lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Write the good lines and report the bad ones, instead of writing nothing when any line
    /// is bad.
    pub skip_bad: bool,
}

/// How far an import has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProgress {
    /// This many data lines have been read and checked.
    Validated {
        /// Data lines checked so far.
        lines: usize,
    },
    /// This many of the users to create have been written (not yet committed until the last
    /// report, where `users == of`).
    Written {
        /// Users written so far.
        users: usize,
        /// Users to write in all.
        of: usize,
    },
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedLine {
    /// Line of the file, counting the header as line 1.
    pub line: usize,
    /// The user name on the line, when there is one that could be read.
    pub name: Option<String>,
    /// Every problem found on the line, separated by `; `.
    pub reason: String,
}

/// The outcome of an import.
///
/// When `rejected` is not empty and the import was all or nothing, `imported` is 0 and the
/// store is unchanged. Callers should treat a non-empty `rejected` as a failure (the CLI exits
/// non-zero) even when the good lines were written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Users created.
    pub imported: usize,
    /// Lines refused, in file order.
    pub rejected: Vec<RejectedLine>,
    /// Data lines read (the header and blank lines not counted).
    pub total_lines: usize,
    /// The names of the users created, in file order (for invitations; not in the JSON
    /// report, which stays small for large files).
    #[serde(skip)]
    pub names: Vec<String>,
}

impl ImportReport {
    /// True when every line was imported.
    pub fn is_clean(&self) -> bool {
        self.rejected.is_empty()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users = if self.imported == 1 { "user" } else { "users" };
        write!(f, "imported {} {users}", self.imported)?;
        if self.rejected.is_empty() {
            let lines = if self.total_lines == 1 {
                "line"
            } else {
                "lines"
            };
            return write!(f, " from {} {lines}", self.total_lines);
        }
        let lines = if self.rejected.len() == 1 {
            "line"
        } else {
            "lines"
        };
        write!(f, "; {} {lines} rejected", self.rejected.len())?;
        if self.imported == 0 {
            f.write_str(" (nothing written)")?;
        }
        f.write_str(":")?;
        for r in &self.rejected {
            write!(f, "\n  line {}", r.line)?;
            if let Some(name) = &r.name {
                write!(f, " ({})", shown(name))?;
            }
            write!(f, ": {}", r.reason)?;
        }
        Ok(())
    }
}

/// Why an import could not run at all. Bad data lines are not errors: they are listed in the
/// [`ImportReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The input has no header row (it is empty or holds only blank lines).
    #[error("the CSV file is empty: a header row (name,email,phone,groups) is required")]
    MissingHeader,
    /// A header cell is not UTF-8.
    #[error("header column {column} is not valid UTF-8")]
    HeaderNotUtf8 {
        /// 1-based column.
        column: usize,
    },
    /// The header has no `name` column.
    #[error("the header has no `name` column")]
    MissingNameColumn,
    /// The header names columns this import does not know.
    #[error(
        "unknown column(s) in the header: {} (known: name, display_name, email, phone, groups)",
        .columns.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
    )]
    UnknownColumns {
        /// The unknown names as written.
        columns: Vec<String>,
    },
    /// A column is named twice in the header.
    #[error("column {column:?} appears twice in the header")]
    DuplicateColumn {
        /// The column.
        column: String,
    },
    /// More data rows than [`MAX_ROWS`].
    #[error("the file has more than {limit} rows; split it")]
    TooManyRows {
        /// The limit.
        limit: usize,
    },
    /// A record longer than [`MAX_LINE_BYTES`].
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// Line of the file where the record starts.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// The CSV reader gave up.
    #[error("line {line}: {message}")]
    Malformed {
        /// Line of the file.
        line: usize,
        /// The reader's message.
        message: String,
    },
    /// The store could not be read or the users could not be written (nothing was written:
    /// the import is one transaction).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports users from CSV text (see the [module documentation](self) for the format).
///
/// Every line is checked before anything is written. Bad lines never make this return `Err`:
/// they come back in [`ImportReport::rejected`]. Without [`ImportOptions::skip_bad`] a single
/// bad line means `Ok` with `imported == 0` and the store untouched; with it, the good lines
/// are written in one transaction. `Err` is for a file that cannot be read as an import at all
/// (header, size limits) and for store failures — including a user created by someone else
/// between the check and the write, which rolls the whole transaction back.
///
/// Users are created with source `local`, status `active` and no password.
pub async fn import_users_csv(
    store: &Store,
    input: &[u8],
    options: &ImportOptions,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    let groups: HashMap<String, String> = store
        .groups()
        .await?
        .into_iter()
        .map(|g| (name_key(&g.name), g.name))
        .collect();
    let Validation {
        mut entries,
        total_lines,
    } = validate(input, &groups, progress)?;

    mark_existing(store, &mut entries).await?;

    let mut rejected = Vec::new();
    let mut good = Vec::new();
    for entry in entries {
        match entry.user {
            Some(user) if entry.problems.is_empty() => good.push(user),
            _ => rejected.push(RejectedLine {
                line: entry.line,
                name: entry.name,
                reason: entry.problems.join("; "),
            }),
        }
    }

    let mut report = ImportReport {
        imported: 0,
        rejected,
        total_lines,
        names: Vec::new(),
    };
    if good.is_empty() || (!report.rejected.is_empty() && !options.skip_bad) {
        return Ok(report);
    }
    let of = good.len();
    report.imported = store
        .import_users(&good, |users| {
            progress(ImportProgress::Written { users, of });
        })
        .await?;
    report.names = good.iter().map(|u| u.0.name.clone()).collect();
    Ok(report)
}

/// Adds "exists already" to every entry whose user is in the store.
///
/// When the file is large next to the store, all names are read in one query; when the store
/// is much larger than the file, each name is looked up (an index lookup each).
async fn mark_existing(store: &Store, entries: &mut [Entry]) -> Result<(), StoreError> {
    let candidates = entries.iter().filter(|e| e.key.is_some()).count();
    if candidates == 0 {
        return Ok(());
    }
    let in_store = usize::try_from(store.user_count().await?).unwrap_or(usize::MAX);
    if in_store == 0 {
        return Ok(());
    }
    if in_store <= candidates.saturating_mul(4).saturating_add(1000) {
        let existing: HashSet<String> = store
            .users()
            .await?
            .iter()
            .map(|u| name_key(&u.name))
            .collect();
        for e in entries.iter_mut() {
            if let Some(key) = &e.key
                && existing.contains(key)
            {
                e.problems.push(exists_message(e.name.as_deref()));
            }
        }
    } else {
        for e in entries.iter_mut() {
            if let Some(key) = &e.key
                && store.user(key).await?.is_some()
            {
                e.problems.push(exists_message(e.name.as_deref()));
            }
        }
    }
    Ok(())
}

fn exists_message(name: Option<&str>) -> String {
    format!(
        "user {} exists already in the store",
        shown(name.unwrap_or_default())
    )
}

/// One data line after validation.
#[derive(Debug)]
struct Entry {
    /// Line of the file.
    line: usize,
    /// The name as written (shortened when absurdly long), if it could be read.
    name: Option<String>,
    /// `name_key` of a valid user name: checked for duplicates in the file and the store.
    key: Option<String>,
    /// What is wrong; empty for a good line.
    problems: Vec<String>,
    /// The user to create, when every field could be read.
    user: Option<(NewUser, Vec<String>)>,
}

/// The result of the validation pass.
#[derive(Debug)]
struct Validation {
    entries: Vec<Entry>,
    total_lines: usize,
}

/// Where each known column is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    len: usize,
    name: usize,
    display_name: Option<usize>,
    email: Option<usize>,
    phone: Option<usize>,
    groups: Option<usize>,
}

fn parse_header(record: &ByteRecord) -> Result<Columns, ImportError> {
    let mut name = None;
    let mut display_name = None;
    let mut email = None;
    let mut phone = None;
    let mut groups = None;
    let mut unknown = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        let text =
            std::str::from_utf8(raw).map_err(|_| ImportError::HeaderNotUtf8 { column: i + 1 })?;
        let normalised = text.trim().to_lowercase().replace([' ', '-'], "_");
        let slot = match normalised.as_str() {
            "name" => &mut name,
            "display_name" | "displayname" => &mut display_name,
            "email" | "e_mail" => &mut email,
            "phone" => &mut phone,
            "groups" => &mut groups,
            _ => {
                unknown.push(text.to_owned());
                continue;
            }
        };
        if slot.replace(i).is_some() {
            return Err(ImportError::DuplicateColumn { column: normalised });
        }
    }
    if !unknown.is_empty() {
        return Err(ImportError::UnknownColumns { columns: unknown });
    }
    Ok(Columns {
        len: record.len(),
        name: name.ok_or(ImportError::MissingNameColumn)?,
        display_name,
        email,
        phone,
        groups,
    })
}

/// Reads one record into `record` and returns the line it starts on, or `None` at the end.
///
/// The reader counts a record from where it started reading, which is before any blank lines
/// it skipped; those are counted here so that the line is where the record's text starts.
fn next_record(
    input: &[u8],
    reader: &mut csv::Reader<&[u8]>,
    record: &mut ByteRecord,
) -> Result<Option<usize>, ImportError> {
    let start = reader.position().byte();
    let start_line = reader.position().line();
    let more = reader
        .read_byte_record(record)
        .map_err(|e| ImportError::Malformed {
            line: e.position().map_or(0, |p| to_usize(p.line())),
            message: e.to_string(),
        })?;
    if !more {
        return Ok(None);
    }
    let skipped = input
        .get(to_usize(start)..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .filter(|&&b| b == b'\n')
        .count();
    let line = to_usize(start_line).saturating_add(skipped);
    let used = to_usize(reader.position().byte().saturating_sub(start));
    if used > MAX_LINE_BYTES {
        return Err(ImportError::LineTooLong {
            line,
            limit: MAX_LINE_BYTES,
        });
    }
    Ok(Some(line))
}

fn csv_reader(input: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input)
}

/// Reads and checks every line. `groups` maps `name_key` to the stored group name.
///
/// A first pass reads the header and enforces the limits, so that an oversized file fails
/// fast and before any line is kept in memory; the second pass checks the lines.
fn validate(
    input: &[u8],
    groups: &HashMap<String, String>,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<Validation, ImportError> {
    let mut record = ByteRecord::new();

    let mut reader = csv_reader(input);
    if next_record(input, &mut reader, &mut record)?.is_none() {
        return Err(ImportError::MissingHeader);
    }
    let columns = parse_header(&record)?;
    let mut rows = 0usize;
    while next_record(input, &mut reader, &mut record)?.is_some() {
        rows += 1;
        if rows > MAX_ROWS {
            return Err(ImportError::TooManyRows { limit: MAX_ROWS });
        }
    }

    let mut reader = csv_reader(input);
    next_record(input, &mut reader, &mut record)?;
    let mut entries = Vec::with_capacity(rows);
    let mut first_seen: HashMap<String, usize> = HashMap::with_capacity(rows);
    while let Some(line) = next_record(input, &mut reader, &mut record)? {
        let mut entry = check_record(&record, &columns, line, groups);
        if let Some(key) = &entry.key {
            if let Some(first) = first_seen.get(key) {
                entry.problems.push(format!(
                    "duplicate user {} (first on line {first})",
                    shown(entry.name.as_deref().unwrap_or_default())
                ));
            } else {
                first_seen.insert(key.clone(), line);
            }
        }
        entries.push(entry);
        if entries.len() % PROGRESS_EVERY == 0 {
            progress(ImportProgress::Validated {
                lines: entries.len(),
            });
        }
    }
    progress(ImportProgress::Validated {
        lines: entries.len(),
    });
    Ok(Validation {
        total_lines: entries.len(),
        entries,
    })
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Checks one data record; the duplicate and store checks come later.
fn check_record(
    record: &ByteRecord,
    columns: &Columns,
    line: usize,
    groups: &HashMap<String, String>,
) -> Entry {
    let mut problems = Vec::new();
    if record.len() != columns.len {
        // The cells cannot be matched to columns; show the name if it is where it should be.
        let name = cell(record, Some(columns.name), "name", &mut problems).map(short_name);
        problems.push(format!(
            "expected {} fields, found {}",
            columns.len,
            record.len()
        ));
        return Entry {
            line,
            name,
            key: None,
            problems,
            user: None,
        };
    }

    let name = cell(record, Some(columns.name), "name", &mut problems);
    let display_name = cell(record, columns.display_name, "display_name", &mut problems);
    let email = cell(record, columns.email, "email", &mut problems);
    let phone = cell(record, columns.phone, "phone", &mut problems);
    let group_cell = cell(record, columns.groups, "groups", &mut problems);
    // A column that is present but not UTF-8 was reported above; remember that it failed.
    let unreadable = !problems.is_empty();

    let mut key = None;
    match name {
        None => {}
        Some("") => problems.push("empty name".to_owned()),
        Some(n) => {
            if let Some(p) = formula_problem("name", n) {
                problems.push(p);
            } else if let Err(m) = check_username(n) {
                problems.push(format!("invalid user name {}: {m}", shown(n)));
            } else {
                key = Some(name_key(n));
            }
        }
    }

    let display_name = display_name
        .map(|d| d.trim_matches(' '))
        .filter(|d| !d.is_empty());
    if let Some(d) = display_name {
        if let Some(p) = formula_problem("display_name", d) {
            problems.push(p);
        } else if let Err(m) = check_display_name(d) {
            problems.push(format!("bad display_name: {m}"));
        }
    }

    let email = email.map(|e| e.trim_matches(' ')).filter(|e| !e.is_empty());
    if let Some(e) = email {
        if let Some(p) = formula_problem("email", e) {
            problems.push(p);
        } else if let Err(m) = check_email(e) {
            problems.push(format!("bad e-mail {}: {m}", shown(e)));
        }
    }

    let phone = phone.map(|p| p.trim_matches(' ')).filter(|p| !p.is_empty());
    if let Some(p) = phone {
        if let Some(problem) = formula_problem("phone", p).filter(|_| !p.starts_with('+')) {
            problems.push(problem);
        } else if let Err(m) = check_phone(p) {
            problems.push(format!("bad phone {}: {m}", shown(p)));
        }
    }

    let mut member_of = Vec::new();
    if let Some(list) = group_cell.filter(|g| !g.is_empty()) {
        if let Some(p) = formula_problem("groups", list) {
            problems.push(p);
        } else {
            let mut seen = HashSet::new();
            for g in list.split(';').map(|g| g.trim_matches(' ')) {
                if g.is_empty() {
                    continue;
                }
                if let Some(p) = formula_problem("group", g) {
                    problems.push(p);
                    continue;
                }
                let k = name_key(g);
                match groups.get(&k) {
                    None => problems.push(format!("unknown group {}", shown(g))),
                    Some(stored) => {
                        if seen.insert(k) {
                            member_of.push(stored.clone());
                        }
                    }
                }
            }
        }
    }

    // Only a valid name yields a user to create (an invalid one is a problem above).
    let user = match name {
        Some(n) if !unreadable && key.is_some() => Some((
            NewUser {
                name: n.to_owned(),
                display_name: display_name.map(str::to_owned),
                email: email.map(str::to_owned),
                phone: phone.map(str::to_owned),
                source: "local".to_owned(),
            },
            member_of,
        )),
        _ => None,
    };
    Entry {
        line,
        name: name.filter(|n| !n.is_empty()).map(short_name),
        key,
        problems,
        user,
    }
}

/// The cell at `index` as text; a cell that is not UTF-8 is reported and read as missing.
fn cell<'r>(
    record: &'r ByteRecord,
    index: Option<usize>,
    column: &str,
    problems: &mut Vec<String>,
) -> Option<&'r str> {
    let raw = record.get(index?)?;
    match std::str::from_utf8(raw) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.push(format!(
                "column {column}: invalid UTF-8 at byte {}",
                e.valid_up_to() + 1
            ));
            None
        }
    }
}

/// A name for the report: as written, cut at 256 characters.
fn short_name(name: &str) -> String {
    match name.char_indices().nth(256) {
        Some((i, _)) => format!("{}…", &name[..i]),
        None => name.to_owned(),
    }
}

/// A value quoted for a message: Debug-escaped (no control characters reach a terminal) and
/// shortened.
fn shown(value: &str) -> String {
    match value.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((i, _)) => format!("{:?}…", &value[..i]),
        None => format!("{value:?}"),
    }
}

/// The characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
fn is_formula_trigger(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// A rejection reason when `cell` would be read as a formula.
fn formula_problem(column: &str, cell: &str) -> Option<String> {
    let first = cell.chars().next().filter(|&c| is_formula_trigger(c))?;
    Some(format!(
        "{column} starts with {first:?}, which a spreadsheet runs as a formula: refused"
    ))
}

/// Checks a display name: at most 256 characters, no control characters.
fn check_display_name(name: &str) -> Result<(), &'static str> {
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err("must be at most 256 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// A syntax check for an e-mail address, not RFC 5322 in full: `local@domain.tld`, one `@`,
/// no spaces, control characters or the specials that need quoting, a domain of at least two
/// labels of letters, digits and inner hyphens, 254 bytes in all.
fn check_email(email: &str) -> Result<(), &'static str> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err("longer than 254 bytes");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("no '@'");
    };
    if domain.contains('@') {
        return Err("more than one '@'");
    }
    if local.is_empty() {
        return Err("nothing before the '@'");
    }
    if local.len() > 64 {
        return Err("more than 64 bytes before the '@'");
    }
    if local.chars().any(|c| "\"(),:;<>[\\]".contains(c)) {
        return Err("a character that needs quoting before the '@'");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("misplaced '.' before the '@'");
    }
    if !domain.contains('.') {
        return Err("the domain has no '.'");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("empty label in the domain");
        }
        if label.len() > 63 {
            return Err("a domain label longer than 63 bytes");
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err("the domain may contain only letters, digits and inner '-'");
        }
    }
    Ok(())
}

/// Checks a phone number loosely after E.164: an optional leading `+`, then digits with
/// spaces, dashes and parentheses for grouping; 7 to 20 digits; starts with a digit or `(`.
fn check_phone(phone: &str) -> Result<(), &'static str> {
    let body = phone.strip_prefix('+').unwrap_or(phone);
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
    {
        return Err("may contain only digits, spaces, '-', '(', ')' and a leading '+'");
    }
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '(') {
        return Err("must start with a digit, '(' or '+' and a digit");
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if !(7..=20).contains(&digits) {
        return Err("must have 7 to 20 digits");
    }
    Ok(())
}

/// A user as exported by [`write_users_csv`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Login name.
    pub name: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// `active`, `disabled` or `locked`.
    pub status: String,
    /// `local` or the directory the user comes from.
    pub source: String,
    /// Group names.
    pub groups: Vec<String>,
}

impl UserRow {
    /// The row for a stored user and the names of its groups.
    pub fn from_user(user: &User, groups: Vec<String>) -> UserRow {
        UserRow {
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            phone: user.phone.clone(),
            status: user.status.as_str().to_owned(),
            source: user.source.clone(),
            groups,
        }
    }
}

/// The columns [`write_users_csv`] writes, in order.
pub const EXPORT_COLUMNS: [&str; 7] = [
    "name",
    "display_name",
    "email",
    "phone",
    "status",
    "source",
    "groups",
];

/// Makes a cell safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, TAB
/// or CR gets a single quote in front, so it is shown as text rather than run as a formula.
///
/// Phone numbers such as `+49 30 1234567` get the quote too: `+1-(555)-0100` would otherwise
/// be computed as arithmetic, and one rule for every cell is easier to trust than a list of
/// exceptions.
pub fn neutralise_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(is_formula_trigger) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Writes users as CSV: a header ([`EXPORT_COLUMNS`]) and one row a user, groups joined with
/// `;`, every cell passed through [`neutralise_cell`]. Quoting follows RFC 4180 (the `csv`
/// crate). A neutralised cell keeps its quote when the file is imported again.
pub fn write_users_csv(out: &mut impl Write, rows: &[UserRow]) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(EXPORT_COLUMNS)?;
    for row in rows {
        let groups = row.groups.join(";");
        let cells = [
            row.name.as_str(),
            row.display_name.as_deref().unwrap_or_default(),
            row.email.as_deref().unwrap_or_default(),
            row.phone.as_deref().unwrap_or_default(),
            row.status.as_str(),
            row.source.as_str(),
            groups.as_str(),
        ];
        writer.write_record(cells.iter().map(|c| neutralise_cell(c).into_owned()))?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fmt::Write as _;

    use super::*;

    proptest::proptest! {
        /// Any bytes at all: a typed error or a report, never a panic; every good line becomes
        /// a user, every line a bad one names is a line of the file.
        #[test]
        fn any_input_is_checked_without_panicking(input in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"name,email,phone,groups\n=+-@;\",\r\t a@b.c 1\xff".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..400,
        )) {
            let header = b"name,email,phone,groups\n".to_vec();
            for bytes in [input.clone(), [header, input].concat()] {
                if let Ok(v) = validate(&bytes, &groups(), &mut |_| {}) {
                    proptest::prop_assert_eq!(v.entries.len(), v.total_lines);
                    for e in &v.entries {
                        proptest::prop_assert!(e.line >= 2);
                        // A line without problems always yields the user to create.
                        proptest::prop_assert!(!e.problems.is_empty() || e.user.is_some());
                        if let Some((user, _)) = &e.user {
                            proptest::prop_assert!(check_username(&user.name).is_ok());
                        }
                    }
                }
            }
        }
    }

    fn groups() -> HashMap<String, String> {
        ["Staff", "vpn", "Admins"]
            .into_iter()
            .map(|g| (name_key(g), g.to_owned()))
            .collect()
    }

    fn run(input: &str) -> Result<Validation, ImportError> {
        validate(input.as_bytes(), &groups(), &mut |_| {})
    }

    fn problems(input: &str) -> Vec<(usize, Vec<String>)> {
        run(input)
            .unwrap()
            .entries
            .into_iter()
            .filter(|e| !e.problems.is_empty())
            .map(|e| (e.line, e.problems))
            .collect()
    }

    #[test]
    fn emails() {
        for good in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "o'brien@example.ie",
            "user@xn--bcher-kva.example",
            "jürgen@bücher.de",
        ] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        for bad in [
            "plain",
            "@example.org",
            "a@@example.org",
            "a@b@example.org",
            "a@localhost",
            "a b@example.org",
            "a@exa mple.org",
            "a\u{7}@example.org",
            "a@example..org",
            "a@.example.org",
            "a@example.org.",
            "a@-example.org",
            "a@exam_ple.org",
            ".a@example.org",
            "a..b@example.org",
            "a<b>@example.org",
            long.as_str(),
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for good in [
            "+4930123456",
            "+49 30 1234567",
            "+1 (555) 010-0199",
            "(030) 123 4567",
            "0301234567",
            "+12345678901234567890",
        ] {
            assert_eq!(check_phone(good), Ok(()), "{good}");
        }
        for bad in [
            "123456",
            "+123456789012345678901",
            "+",
            "++4930123456",
            "-4930123456",
            "+-4930123456",
            "030/123456",
            "030 1234 ext 5",
            "+cmd|' /C calc'!A0",
            "0301234567\n",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(check_display_name("Zoë O'Brien-Smith (IT)"), Ok(()));
        assert!(check_display_name("a\u{1b}[31mred").is_err());
        assert!(check_display_name(&"x".repeat(257)).is_err());
    }

    #[test]
    fn formula_triggers() {
        for cell in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(formula_problem("name", cell).is_some(), "{cell:?}");
        }
        for cell in ["a=1", " x", "'=1", "", "1-2"] {
            assert!(formula_problem("name", cell).is_none(), "{cell:?}");
        }
    }

    #[test]
    fn header_is_case_insensitive_in_any_order() {
        let v = run("Groups,EMAIL,name,Display Name,phone\nstaff,a@b.co,alice,Alice,\n").unwrap();
        let (user, member_of) = v.entries[0].user.clone().unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.email.as_deref(), Some("a@b.co"));
        assert_eq!(user.display_name.as_deref(), Some("Alice"));
        assert_eq!(user.phone, None);
        assert_eq!(member_of, ["Staff"]);
        // Only `name` is required.
        assert_eq!(
            run("name\nbob\n").unwrap().entries[0].problems,
            Vec::<String>::new()
        );
    }

    #[test]
    fn header_errors() {
        assert!(matches!(run(""), Err(ImportError::MissingHeader)));
        assert!(matches!(run("\n\n"), Err(ImportError::MissingHeader)));
        assert!(matches!(
            run("email,phone\na@b.co,\n"),
            Err(ImportError::MissingNameColumn)
        ));
        match run("name,email,password,role\n") {
            Err(ImportError::UnknownColumns { columns }) => {
                assert_eq!(columns, ["password", "role"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run("name,Name\n"),
            Err(ImportError::DuplicateColumn { .. })
        ));
        assert!(matches!(
            validate(b"name,e\xffmail\n", &groups(), &mut |_| {}),
            Err(ImportError::HeaderNotUtf8 { column: 2 })
        ));
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let v = run("\u{feff}name,email\nalice,a@b.co\n").unwrap();
        assert!(v.entries[0].problems.is_empty());
    }

    #[test]
    fn each_problem_is_reported_on_its_line() {
        let input = "name,email,phone,groups\n\
                     alice,alice@example.org,+49 30 1234567,staff;VPN\n\
                     ,x@example.org,,\n\
                     bob,bob@,,\n\
                     carol,,12,\n\
                     dave,,,staff;nosuch\n\
                     ALICE,,,\n\
                     erin,,\n\
                     =cmd|' /C calc'!A0,,,\n\
                     frank,,,staff;=cmd|' /C calc'!A0\n\
                     \n\
                     \"gina\nmultiline\",,,\n\
                     -hal,,,\n\
                     ivan,,-1234567,\n";
        let found = problems(input);
        let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15]);
        let reason = |line: usize| found.iter().find(|(l, _)| *l == line).unwrap().1.join("; ");
        assert_eq!(reason(3), "empty name");
        assert!(
            reason(4).starts_with("bad e-mail \"bob@\""),
            "{}",
            reason(4)
        );
        assert!(reason(5).starts_with("bad phone \"12\""), "{}", reason(5));
        assert_eq!(reason(6), "unknown group \"nosuch\"");
        assert_eq!(reason(7), "duplicate user \"ALICE\" (first on line 2)");
        assert_eq!(reason(8), "expected 4 fields, found 3");
        assert!(
            reason(9).starts_with("name starts with '='"),
            "{}",
            reason(9)
        );
        assert!(
            reason(10).starts_with("group starts with '='"),
            "{}",
            reason(10)
        );
        assert!(
            reason(12).starts_with("invalid user name"),
            "{}",
            reason(12)
        );
        assert!(
            reason(14).starts_with("name starts with '-'"),
            "{}",
            reason(14)
        );
        assert!(
            reason(15).starts_with("phone starts with '-'"),
            "{}",
            reason(15)
        );
        let v = run(input).unwrap();
        assert_eq!(v.total_lines, 12);
        let (_, member_of) = v.entries[0].user.clone().unwrap();
        assert_eq!(member_of, ["Staff", "vpn"]);
    }

    #[test]
    fn line_numbers_count_blank_lines_and_crlf() {
        let crlf = "\r\nname,email\r\nalice,a@b.co\r\n\r\n\r\nbob,nope\r\ncarol,@\r\n";
        let lines: Vec<usize> = problems(crlf).into_iter().map(|(l, _)| l).collect();
        assert_eq!(lines, [6, 7]);
        let lf = "name,email\n\n\"alice\",\"a\n@b.co\"\n\nbob,nope";
        let lines: Vec<usize> = problems(lf).into_iter().map(|(l, _)| l).collect();
        assert_eq!(lines, [3, 6]);
    }

    #[test]
    fn several_problems_on_one_line_are_all_reported() {
        let found = problems("name,email,phone,groups\nbob,nope,12,ghost\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1.len(), 3, "{:?}", found[0].1);
    }

    #[test]
    fn invalid_utf8_is_reported_and_the_rest_still_checked() {
        let input = b"name,email\nal\xffice,a@b.co\nbob,b\xc3@b.co\ncarol,c@b.co\ndave,nope\n";
        let v = validate(input, &groups(), &mut |_| {}).unwrap();
        let bad: Vec<(usize, Option<String>, Vec<String>)> = v
            .entries
            .into_iter()
            .filter(|e| !e.problems.is_empty())
            .map(|e| (e.line, e.name, e.problems))
            .collect();
        assert_eq!(bad.len(), 3);
        assert_eq!(bad[0].0, 2);
        assert_eq!(bad[0].1, None);
        assert_eq!(bad[0].2, ["column name: invalid UTF-8 at byte 3"]);
        assert_eq!(bad[1].0, 3);
        assert_eq!(bad[1].1.as_deref(), Some("bob"));
        assert_eq!(bad[1].2, ["column email: invalid UTF-8 at byte 2"]);
        assert_eq!(bad[2].0, 5);
    }

    #[test]
    fn groups_are_deduplicated_and_blank_entries_skipped() {
        let v = run("name,groups\nalice, staff ;;STAFF; vpn;\n").unwrap();
        assert!(v.entries[0].problems.is_empty());
        assert_eq!(v.entries[0].user.clone().unwrap().1, ["Staff", "vpn"]);
    }

    #[test]
    fn a_leading_tab_or_cr_in_a_quoted_cell_is_refused() {
        let found = problems("name,display_name\nalice,\"\tx\"\nbob,\"\r=1\"\n");
        assert_eq!(found.len(), 2);
        assert!(found[0].1[0].starts_with("display_name starts with '\\t'"));
        assert!(found[1].1[0].starts_with("display_name starts with '\\r'"));
    }

    #[test]
    fn limits_are_typed_errors() {
        let mut long = String::from("name,display_name\nalice,");
        long.push_str(&"x".repeat(MAX_LINE_BYTES));
        long.push('\n');
        assert!(matches!(
            run(&long),
            Err(ImportError::LineTooLong { line: 2, .. })
        ));

        let mut many = String::from("name\n");
        for i in 0..=MAX_ROWS {
            writeln!(many, "u{i}").unwrap();
        }
        assert!(matches!(
            run(&many),
            Err(ImportError::TooManyRows { limit: MAX_ROWS })
        ));
    }

    #[test]
    fn progress_is_reported() {
        let mut input = String::from("name\n");
        for i in 0..2500 {
            writeln!(input, "u{i}").unwrap();
        }
        let mut seen = Vec::new();
        validate(input.as_bytes(), &groups(), &mut |p| seen.push(p)).unwrap();
        assert_eq!(
            seen,
            [
                ImportProgress::Validated { lines: 1024 },
                ImportProgress::Validated { lines: 2048 },
                ImportProgress::Validated { lines: 2500 },
            ]
        );
    }

    #[test]
    fn report_display() {
        let report = ImportReport {
            imported: 0,
            rejected: vec![
                RejectedLine {
                    line: 5,
                    name: Some("bob".into()),
                    reason: "bad e-mail \"bob@\": nothing after the '@'".into(),
                },
                RejectedLine {
                    line: 9,
                    name: None,
                    reason: "empty name".into(),
                },
            ],
            total_lines: 10,
            names: vec![],
        };
        assert_eq!(
            report.to_string(),
            "imported 0 users; 2 lines rejected (nothing written):\n  \
             line 5 (\"bob\"): bad e-mail \"bob@\": nothing after the '@'\n  \
             line 9: empty name"
        );
        let clean = ImportReport {
            imported: 1,
            rejected: vec![],
            total_lines: 1,
            names: vec!["alice".into()],
        };
        assert_eq!(clean.to_string(), "imported 1 user from 1 line");
        assert!(clean.is_clean());
    }

    #[test]
    fn neutralising() {
        assert_eq!(neutralise_cell("=1+1"), "'=1+1");
        assert_eq!(neutralise_cell("+4930123456"), "'+4930123456");
        assert_eq!(neutralise_cell("-x"), "'-x");
        assert_eq!(neutralise_cell("@x"), "'@x");
        assert_eq!(neutralise_cell("\tx"), "'\tx");
        assert_eq!(neutralise_cell("\rx"), "'\rx");
        assert!(matches!(neutralise_cell("alice"), Cow::Borrowed("alice")));
        assert_eq!(neutralise_cell(""), "");
        assert_eq!(neutralise_cell("a=b"), "a=b");
    }

    #[test]
    fn export_quotes_and_neutralises() {
        let rows = [
            UserRow {
                name: "alice".into(),
                display_name: Some("=HYPERLINK(\"http://x\",\"y\")".into()),
                email: Some("alice@example.org".into()),
                phone: Some("+49 30 1234567".into()),
                status: "active".into(),
                source: "local".into(),
                groups: vec!["staff".into(), "vpn".into()],
            },
            UserRow {
                name: "bob".into(),
                display_name: None,
                email: None,
                phone: None,
                status: "disabled".into(),
                source: "corp-ad".into(),
                groups: vec!["-ops".into()],
            },
        ];
        let mut out = Vec::new();
        write_users_csv(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,display_name,email,phone,status,source,groups\n\
             alice,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",alice@example.org,'+49 30 1234567,active,local,staff;vpn\n\
             bob,,,,disabled,corp-ad,'-ops\n"
        );
    }
}
