//! Project automation, run as `cargo xtask <task>`.
//!
//! Every command the project runs in CI or by hand is declared here, in one place.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod public_api;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci                       fmt --check, public API snapshots, clippy -D warnings, tests
                           (+ doc tests), docs, fuzz build
  public-api [--bless]     compare each protocol crate's public API with its committed
                           <crate>/public-api.txt (--bless: rewrite the snapshots)
  interop                  install missing peers, then run the tests against real peers
  fuzz <target> [seconds]  run one cargo-fuzz target (default 600 s); `fuzz list` lists them
  bench [args...]          run the criterion benchmarks (args go to `cargo bench`)
  bench idp [options...]   load benchmark of the web IdP (SSO and logins against their
                           RSA and argon2 floors); options: --seconds N, --clients N, ...
  bench radius [options...] load benchmark of the RADIUS server (otp-only, SQLite on disk)
                           against FreeRADIUS PAP and a bare UDP echo; options: --seconds N,
                           --sockets N, --window N, --users N, ...
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("public-api") => public_api(&args[1..]),
        Some("interop") => interop(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing task\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's manifest directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(step: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("xtask: {step}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step}: failed ({status})"))
    }
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run("cargo fmt --check", fmt)?;

    eprintln!("xtask: public API snapshots");
    public_api(&[])?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy", clippy)?;

    for manifest in fuzz_manifests() {
        let mut check = cargo();
        check
            .args(["check", "--bins", "--manifest-path"])
            .arg(&manifest);
        run(&format!("build fuzz targets {}", manifest.display()), check)?;
    }

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run("cargo doc", doc)?;

    tests(&["--workspace", "--all-features"])
}

/// Checks (or with `--bless` rewrites) every protocol crate's API snapshot; all crates
/// are checked before failing, so one run shows every change.
fn public_api(args: &[String]) -> Result<(), String> {
    let bless = match args {
        [] => false,
        [flag] if flag == "--bless" => true,
        _ => return Err("usage: cargo xtask public-api [--bless]".into()),
    };
    let mut failures = Vec::new();
    for krate in public_api::CRATES {
        let dir = root().join(krate);
        if let Err(e) = public_api::check(&dir, bless) {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        if bless {
            eprintln!("xtask: wrote {} snapshots", public_api::CRATES.len());
        }
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Runs the test suite: nextest when installed (then the doc tests, which nextest skips),
/// otherwise `cargo test`.
fn tests(selection: &[&str]) -> Result<(), String> {
    if have("cargo-nextest", "--version") {
        let mut doctest = cargo();
        doctest.args(["test", "--doc"]).args(selection);
        run("cargo test --doc", doctest)?;
        let mut nextest = cargo();
        nextest
            .args(["nextest", "run", "--no-fail-fast"])
            .args(selection);
        run("cargo nextest run", nextest)
    } else {
        let mut test = cargo();
        test.args(["test", "--no-fail-fast"]).args(selection);
        run("cargo test", test)
    }
}

/// Debian packages and Python packages of the peers, as `.ci/run` installs them.
fn peer_lists() -> Result<(Vec<String>, Vec<String>), String> {
    let read = |name: &str| -> Result<Vec<String>, String> {
        let path = root().join(".ci").join(name);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect())
    };
    Ok((read("apt-packages.txt")?, read("requirements-peers.txt")?))
}

fn interop() -> Result<(), String> {
    let (apt, pip) = peer_lists()?;
    let missing: Vec<&String> = apt
        .iter()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}"])
                .arg(p.as_str())
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if !missing.is_empty() {
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        run("apt-get update", update)?;
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(missing.iter().map(|s| s.as_str()))
            .env("DEBIAN_FRONTEND", "noninteractive");
        run("apt-get install peers", install)?;
    }
    let venv = env::var_os("IDFORGE_PYTHON_VENV").map_or_else(
        || PathBuf::from("/var/tmp/idforge-peers-venv"),
        PathBuf::from,
    );
    if !pip.is_empty() {
        if !venv.join("bin/python").exists() {
            let mut mk = Command::new("python3");
            mk.args([OsStr::new("-m"), OsStr::new("venv"), venv.as_os_str()]);
            run("python3 -m venv", mk)?;
        }
        let mut install = Command::new(venv.join("bin/pip"));
        install
            .args(["install", "-q", "--disable-pip-version-check", "-r"])
            .arg(root().join(".ci/requirements-peers.txt"));
        run("pip install peers", install)?;
    }
    let mut test = cargo();
    test.args([
        "test",
        "--workspace",
        "--all-features",
        "--test",
        "interop*",
    ])
    .env("IDFORGE_PYTHON", venv.join("bin/python"))
    .env("IDFORGE_REQUIRE_PEERS", "1");
    run("interop tests", test)
}

/// Every `<crate>/fuzz/Cargo.toml` in the workspace.
fn fuzz_manifests() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("fuzz").join("Cargo.toml"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// `(crate directory, target name)` for every fuzz target.
fn fuzz_targets() -> Vec<(PathBuf, String)> {
    let mut targets = Vec::new();
    for manifest in fuzz_manifests() {
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let Ok(entries) = fs::read_dir(dir.join("fuzz_targets")) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension() == Some(OsStr::new("rs"))
                && let Some(stem) = path.file_stem().and_then(OsStr::to_str)
            {
                targets.push((dir.clone(), stem.to_owned()));
            }
        }
    }
    targets.sort();
    targets
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let targets = fuzz_targets();
    let Some(name) = args.first() else {
        return Err("usage: cargo xtask fuzz <target|list> [seconds]".into());
    };
    if name == "list" {
        for (dir, target) in &targets {
            let krate = dir.parent().and_then(Path::file_name).unwrap_or_default();
            println!("{target}\t({})", krate.to_string_lossy());
        }
        return Ok(());
    }
    let seconds: u64 = match args.get(1) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("seconds must be a whole number, got {s:?}"))?,
        None => 600,
    };
    let (dir, target) = targets
        .iter()
        .find(|(_, t)| t == name)
        .ok_or_else(|| format!("no fuzz target named {name:?} (try `cargo xtask fuzz list`)"))?;
    if !have("cargo-fuzz", "--version") {
        let mut install = cargo();
        install.args(["install", "cargo-fuzz", "--locked"]);
        run("cargo install cargo-fuzz", install)?;
    }
    let krate = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    // New inputs go to a scratch corpus outside the repository; the committed seeds under
    // `<crate>/fuzz/corpus/<target>` are read but never written.
    let target_dir =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let scratch = target_dir.join("fuzz-corpus").join(target);
    let seeds = dir.join("corpus").join(target);
    for d in [&scratch, &seeds] {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut cmd = cargo();
    cmd.current_dir(&krate)
        .args(["fuzz", "run", "-s", "none", target])
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"));
    run(&format!("fuzz {target} for {seconds} s"), cmd)
}

fn bench(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("idp") {
        return bench_idp(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("radius") {
        return bench_radius(&args[1..]);
    }
    let mut cmd = cargo();
    cmd.args(["bench", "--workspace"]).args(args);
    run("cargo bench", cmd)
}

/// The web IdP under load (`examples/benches/idp_load.rs`), in the bench profile; `options`
/// go to the benchmark (`--seconds N` per figure, `--rounds N`, `--clients N`, `--users N`,
/// `--max-requests N`, `--store-dir DIR`, `--only LETTERS`, `--floor-threads N`).
fn bench_idp(options: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "-p",
        "idforge-examples",
        "--bench",
        "idp_load",
        "--",
    ])
    .args(options);
    run("cargo bench idp_load", cmd)
}

/// The RADIUS server under load (`examples/benches/radius_load.rs`), in the bench profile;
/// `options` go to the benchmark (`--seconds N` per figure, `--rounds N`, `--sockets N`,
/// `--window N`, `--users N`, `--max-requests N`, `--store-dir DIR`, `--only LETTERS`).
fn bench_radius(options: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "-p",
        "idforge-examples",
        "--bench",
        "radius_load",
        "--",
    ])
    .args(options);
    run("cargo bench radius_load", cmd)
}
