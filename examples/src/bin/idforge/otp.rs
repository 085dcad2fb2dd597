//! `idforge otp`: enrol a second factor, print a code, check a code, import a Google
//! Authenticator export.

use std::fmt::Write as _;
use std::io::Read as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use idforge_otp::migration::{MAX_MIGRATION_URI_LEN, parse_migration_uri};
use idforge_otp::{
    Algorithm, Digits, Hotp, HotpVerifier, KeyUri, OtpKind, Secret, Totp, TotpVerifier,
};
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub(crate) enum OtpCommand {
    /// Create a new secret and print it, its otpauth:// URI and a QR code to scan.
    New(NewArgs),
    /// Print the code for a secret at a time (TOTP) or a counter (HOTP).
    Code(CodeArgs),
    /// Check a code: exit 0 when accepted, 1 when refused.
    Verify(VerifyArgs),
    /// Read a Google Authenticator export (otpauth-migration://offline?data=...) and print one
    /// otpauth:// URI per account; exit 1 when some accounts could not be imported.
    ImportMigration(ImportMigrationArgs),
}

#[derive(Args)]
pub(crate) struct Params {
    /// Hash function: SHA1 (the default every app supports), SHA256, SHA512.
    #[arg(long, default_value = "SHA1", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Code length, 6 to 8 (10 for HOTP).
    #[arg(long, default_value = "6", value_parser = parse_digits)]
    digits: Digits,
    /// TOTP step in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    period: u64,
    /// Unix time of TOTP step 0.
    #[arg(long, default_value_t = 0)]
    t0: u64,
}

#[derive(Args)]
pub(crate) struct NewArgs {
    /// The service name shown in the authenticator app.
    #[arg(long)]
    issuer: String,
    /// The user's account name (no ':').
    #[arg(long)]
    account: String,
    /// Make an HOTP (counter) key starting at this counter instead of a TOTP key.
    #[arg(long)]
    counter: Option<u64>,
    /// Secret length in bytes (20 = 160 bits, as RFC 4226 recommends).
    #[arg(long, default_value_t = Secret::DEFAULT_LEN)]
    bytes: usize,
    /// Do not draw the QR code.
    #[arg(long)]
    no_qr: bool,
    /// Also write the QR code as SVG to this file.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    #[command(flatten)]
    params: Params,
}

#[derive(Args)]
pub(crate) struct SecretArg {
    /// The base32 secret (or set IDFORGE_OTP_SECRET, which keeps it out of the process list).
    #[arg(long, env = "IDFORGE_OTP_SECRET", hide_env_values = true)]
    secret: String,
}

#[derive(Args)]
pub(crate) struct CodeArgs {
    #[command(flatten)]
    secret: SecretArg,
    /// Unix time for TOTP (default: now).
    #[arg(long, conflicts_with = "counter")]
    time: Option<u64>,
    /// HOTP counter: print the HOTP code instead of the TOTP one.
    #[arg(long)]
    counter: Option<u64>,
    #[command(flatten)]
    params: Params,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    secret: SecretArg,
    /// The code to check.
    #[arg(long)]
    code: String,
    /// Unix time for TOTP (default: now).
    #[arg(long, conflicts_with = "counter")]
    time: Option<u64>,
    /// Steps of clock skew accepted either way (TOTP).
    #[arg(long, default_value_t = 1)]
    window: u8,
    /// The step of the last accepted code: codes of that step or older are replays (TOTP).
    #[arg(long)]
    last_step: Option<u64>,
    /// HOTP: the stored next counter; verifies an HOTP code instead of a TOTP one.
    #[arg(long)]
    counter: Option<u64>,
    /// HOTP: how many counters ahead to look.
    #[arg(long, default_value_t = 10)]
    look_ahead: u32,
    #[command(flatten)]
    params: Params,
}

#[derive(Args)]
pub(crate) struct ImportMigrationArgs {
    /// The otpauth-migration:// URI, or `-` to read it from standard input (which keeps the
    /// secrets out of the process list); from standard input, one URI a line.
    #[arg(value_name = "URI")]
    uri: String,
    /// Print a JSON array of the accounts instead of one URI a line.
    #[arg(long)]
    json: bool,
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse().map_err(|e: idforge_otp::Error| e.to_string())
}

fn parse_digits(s: &str) -> Result<Digits, String> {
    let n: u64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    Digits::new(n).map_err(|e| e.to_string())
}

fn now() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}

fn secret(arg: &SecretArg) -> Result<Secret> {
    Secret::from_base32(&arg.secret).context("--secret")
}

fn totp(secret: &Secret, p: &Params) -> Result<Totp> {
    Ok(Totp::new(secret, p.algorithm, p.digits, p.period)?.with_t0(p.t0))
}

fn new(args: &NewArgs) -> Result<()> {
    let secret = Secret::generate(&mut rand::rng(), args.bytes)?;
    let uri = match args.counter {
        Some(counter) => KeyUri::hotp(secret, &args.account, counter)?,
        None => KeyUri::totp(secret, &args.account)?.with_period(args.params.period)?,
    }
    .with_issuer(&args.issuer)
    .with_algorithm(args.params.algorithm)
    .with_digits(args.params.digits);
    if args.params.algorithm != Algorithm::Sha1 || args.params.period != 30 {
        eprintln!("note: some authenticator apps ignore algorithm and period and use SHA1 / 30 s");
    }
    println!("secret: {}", uri.secret().to_base32());
    println!("uri:    {}", uri.to_uri_string());
    if let Some(path) = &args.svg {
        std::fs::write(path, uri.to_qr_svg(256)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !args.no_qr {
        print!("{}", uri.to_qr_terminal()?);
        println!();
    }
    Ok(())
}

fn code(args: &CodeArgs) -> Result<()> {
    let secret = secret(&args.secret)?;
    let code = match args.counter {
        Some(counter) => {
            Hotp::new(&secret, args.params.algorithm, args.params.digits).generate(counter)
        }
        None => totp(&secret, &args.params)?.generate(args.time.map_or_else(now, Ok)?)?,
    };
    println!("{code}");
    Ok(())
}

fn verify(args: &VerifyArgs) -> Result<bool> {
    let secret = secret(&args.secret)?;
    let p = &args.params;
    if let Some(counter) = args.counter {
        let verifier =
            HotpVerifier::new(Hotp::new(&secret, p.algorithm, p.digits), args.look_ahead);
        return Ok(match verifier.verify(&args.code, counter) {
            Ok(ok) => {
                println!(
                    "accepted counter={} next_counter={}",
                    ok.counter, ok.next_counter
                );
                true
            }
            Err(why) => {
                println!("rejected ({why:?})");
                false
            }
        });
    }
    let verifier = TotpVerifier::new(totp(&secret, p)?, args.window, args.window);
    let time = args.time.map_or_else(now, Ok)?;
    Ok(match verifier.verify(&args.code, time, args.last_step) {
        Ok(ok) => {
            println!("accepted step={} drift={}", ok.step, ok.drift);
            true
        }
        Err(why) => {
            println!("rejected ({why:?})");
            false
        }
    })
}

/// The export URIs to read: the argument, or the lines of standard input for `-`.
fn migration_uris(arg: &str) -> Result<Vec<Zeroizing<String>>> {
    if arg != "-" {
        return Ok(vec![Zeroizing::new(arg.trim().to_owned())]);
    }
    // Bounded: a few QR codes' worth of URIs, not whatever is piped in.
    let limit = 64 * MAX_MIGRATION_URI_LEN;
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .take(limit as u64 + 1)
        .read_to_string(&mut input)
        .context("reading standard input")?;
    if input.len() > limit {
        bail!("standard input is longer than {limit} bytes");
    }
    let uris: Vec<_> = input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Zeroizing::new(l.to_owned()))
        .collect();
    if uris.is_empty() {
        bail!("no otpauth-migration:// URI on standard input");
    }
    Ok(uris)
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One account as a JSON object: its fields and its otpauth:// URI.
fn json_account(uri: &KeyUri) -> String {
    let issuer = uri.issuer().map_or_else(|| "null".to_owned(), json_string);
    let (kind, number) = match uri.kind() {
        OtpKind::Totp { period } => ("totp", format!(",\"period\":{period}")),
        OtpKind::Hotp { counter } => ("hotp", format!(",\"counter\":{counter}")),
        _ => ("other", String::new()),
    };
    format!(
        "{{\"type\":\"{kind}\",\"issuer\":{issuer},\"account\":{},\"secret\":\"{}\",\"algorithm\":\"{}\",\"digits\":{}{number},\"uri\":{}}}",
        json_string(uri.account()),
        uri.secret().to_base32(),
        uri.algorithm(),
        uri.digits(),
        json_string(&uri.to_uri_string()),
    )
}

fn import_migration(args: &ImportMigrationArgs) -> Result<bool> {
    let mut accounts = Vec::new();
    let mut all_imported = true;
    for (n, text) in migration_uris(&args.uri)?.iter().enumerate() {
        let batch = parse_migration_uri(text)
            .with_context(|| format!("otpauth-migration URI {}", n + 1))?;
        if batch.batch_size() > 1 {
            eprintln!(
                "note: QR code {} of {} of this export; import the others too",
                batch.batch_index().saturating_add(1),
                batch.batch_size()
            );
        }
        for refused in batch.refused() {
            eprintln!("skipped: {refused}");
            all_imported = false;
        }
        accounts.extend(batch.into_entries().into_iter().filter_map(Result::ok));
    }
    if args.json {
        let items: Vec<String> = accounts.iter().map(json_account).collect();
        println!("[{}]", items.join(","));
    } else {
        for uri in &accounts {
            println!("{}", uri.to_uri_string());
        }
    }
    Ok(all_imported)
}

/// Runs one `idforge otp` command: `Ok(false)` when a code was refused, or when some
/// accounts of an export could not be imported.
pub(crate) fn run(command: &OtpCommand) -> Result<bool> {
    match command {
        OtpCommand::New(args) => new(args).map(|()| true),
        OtpCommand::Code(args) => code(args).map(|()| true),
        OtpCommand::Verify(args) => verify(args),
        OtpCommand::ImportMigration(args) => import_migration(args),
    }
}
