//! Repository rules that a reviewer would otherwise have to remember, checked as tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

/// The protocol crates: sans-IO, independent of each other.
const PROTOCOL_CRATES: &[&str] = &["otp", "radius", "saml", "ldap-auth", "policy", "adaptive"];

/// Dependencies a protocol crate may not have (runtimes, IO frameworks, each other).
const FORBIDDEN_DEPS: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "axum",
    "hyper",
    "reqwest",
    "sqlx",
    "tracing-subscriber",
    "idforge-otp",
    "idforge-radius",
    "idforge-saml",
    "idforge-ldap-auth",
    "idforge-policy",
    "idforge-adaptive",
];

/// IO and ambient state a protocol crate's library code may not reach for.
const FORBIDDEN_CALLS: &[&str] = &[
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "to_socket_addrs",
    "std::fs::",
    "SystemTime::now",
    "Instant::now",
    "thread::spawn",
    "std::env::var",
    "thread_rng",
    "OsRng",
    "rand::rng()",
    "SystemRandom",
    "getrandom",
    "Utc::now",
    "Local::now",
];

/// A line that must use one of [`FORBIDDEN_CALLS`] says why in a trailing comment with this
/// marker (for example an argument a dependency requires and ignores).
const ALLOW_MARKER: &str = "// tidy:allow: ";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn present_crates() -> Vec<PathBuf> {
    PROTOCOL_CRATES
        .iter()
        .map(|c| root().join(c))
        .filter(|d| d.join("Cargo.toml").is_file() && d.join("src/lib.rs").is_file())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `[dependencies]`-like tables of a manifest (not dev-dependencies), as dependency names.
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]"
                || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
            if let Some(name) = line
                .strip_prefix("[dependencies.")
                .and_then(|l| l.strip_suffix(']'))
            {
                names.push(name.to_owned());
            }
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_matches('"');
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.split('.').next().unwrap().to_owned());
            }
        }
    }
    names
}

#[test]
fn protocol_crates_stand_alone_and_do_no_io() {
    let crates = present_crates();
    assert!(
        !crates.is_empty(),
        "no protocol crate found under {}",
        root().display()
    );
    let mut problems = Vec::new();
    for dir in &crates {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for dep in normal_dependencies(&manifest) {
            if FORBIDDEN_DEPS.contains(&dep.as_str()) {
                problems.push(format!("{}: depends on {dep}", dir.display()));
            }
        }
        if !manifest.contains("[lints]") || !manifest.contains("workspace = true") {
            problems.push(format!("{}: no `[lints] workspace = true`", dir.display()));
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            // Unit tests may use what they like, and comments (driver examples) may show IO.
            let library = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (number, line) in library.lines().enumerate() {
                if line.trim_start().starts_with("//") || line.contains(ALLOW_MARKER) {
                    continue;
                }
                for call in FORBIDDEN_CALLS.iter().filter(|call| line.contains(*call)) {
                    problems.push(format!("{}:{}: uses {call}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "sans-IO rules broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_library_module_is_documented() {
    let mut problems = Vec::new();
    for dir in present_crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            let is_lib = file.ends_with("src/lib.rs");
            let documented = first.starts_with("//!")
                || (is_lib && first.starts_with("#![doc = include_str!(\"../README.md\")]"));
            if !documented {
                problems.push(file.display().to_string());
            }
        }
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        if !lib.contains("#![forbid(unsafe_code)]") {
            problems.push(format!("{}: no #![forbid(unsafe_code)]", dir.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "modules without a //! doc:\n{}",
        problems.join("\n")
    );
}

#[test]
fn readme_names_the_test_command_that_ci_runs() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let ci = fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(readme.contains("cargo xtask ci"));
    assert!(ci.contains("cargo xtask ci"));
}

#[test]
fn the_dependency_scanner_reads_manifests() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\ntokio = \"1\"\nfoo.workspace = true\n[dependencies.bar]\nversion = \"1\"\n[dev-dependencies]\nbaz = \"1\"\n";
    assert_eq!(normal_dependencies(manifest), ["tokio", "foo", "bar"]);
}

/// The modules a protocol crate may make public: namespaces of free functions or constants
/// that would be unclear at the root, and the hidden fuzzing entry points. Everything else
/// is a private module whose items are re-exported at the root.
const PUBLIC_MODULES: &[(&str, &[&str])] = &[
    ("otp", &["migration"]),
    ("radius", &["crypto", "mschap"]),
    ("saml", &["ns", "xml"]),
    ("ldap-auth", &["fuzzing"]),
    ("policy", &["lockout"]),
    ("adaptive", &["cidr"]),
];

#[test]
fn protocol_crates_export_from_the_root() {
    let mut problems = Vec::new();
    for (krate, allowed) in PUBLIC_MODULES {
        let lib = fs::read_to_string(root().join(krate).join("src/lib.rs")).unwrap();
        for line in lib.lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub mod ") else {
                continue;
            };
            let name = rest.trim_end_matches([';', '{', ' ']);
            if !allowed.contains(&name) {
                problems.push(format!(
                    "{krate}: `pub mod {name}` (re-export its items instead)"
                ));
            }
        }
        if lib.contains("pub mod fuzzing") && !lib.contains("#[doc(hidden)]\npub mod fuzzing") {
            problems.push(format!("{krate}: `fuzzing` is not #[doc(hidden)]"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Library code of a crate (unit-test modules cut off), file by file.
fn library_code(krate: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&root().join(krate).join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).unwrap();
            let library = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            (f, library)
        })
        .collect()
}

#[test]
fn shared_chores_have_one_implementation() {
    let mut problems = Vec::new();
    // PEM goes through the encoders of x509-cert/der and rsa, not through string search.
    for krate in ["saml", "radius"] {
        for (file, code) in library_code(krate) {
            if code.contains("-----BEGIN") || code.contains("-----END ") {
                problems.push(format!("{}: hand-written PEM", file.display()));
            }
        }
    }
    // saml reads attributes, xs:dateTime and xs:boolean through its `xsd` module.
    for (file, code) in library_code("saml") {
        if file.ends_with("xsd.rs") {
            continue;
        }
        for needle in [
            "parse_from_rfc3339",
            "to_rfc3339",
            "fn attr(",
            "fn time_attr(",
            "fn bool_attr(",
            "fn flag(",
            "\"not an xs:dateTime\"",
            "\"not an xs:boolean\"",
        ] {
            if code.contains(needle) {
                problems.push(format!("{}: {needle} (use crate::xsd)", file.display()));
            }
        }
    }
    // One BER frame length in ldap-auth.
    let frame_lens: Vec<_> = library_code("ldap-auth")
        .into_iter()
        .filter(|(_, code)| code.contains("fn frame_len("))
        .map(|(f, _)| f.display().to_string())
        .collect();
    if frame_lens.len() != 1 {
        problems.push(format!("ldap-auth: frame_len defined in {frame_lens:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn test_helpers_live_in_the_test_support_crate() {
    let support = root().join("examples/test-support");
    let mut files = Vec::new();
    for dir in [
        "otp",
        "radius",
        "saml",
        "ldap-auth",
        "policy",
        "adaptive",
        "examples",
    ] {
        for sub in ["tests", "benches"] {
            let path = root().join(dir).join(sub);
            if path.is_dir() {
                rust_files(&path, &mut files);
            }
        }
    }
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&support)) {
        let text = fs::read_to_string(file).unwrap();
        for copy in [
            "fn free_port(",
            "fn hex(s: &str)",
            "struct Slapd",
            "fn peers_required(",
            "moduleload memberof",
            "var_os(\"IDFORGE_REQUIRE_PEERS\")",
        ] {
            if text.contains(copy) {
                problems.push(format!(
                    "{}: `{copy}` (use idforge-test-support)",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
