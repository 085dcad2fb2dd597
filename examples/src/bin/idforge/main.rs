//! `idforge`: the administration command line of the idforge identity provider.
//!
//! - `idforge user | group | app | audit | keys | login`: the identity provider's store, as an
//!   administrator's console shows it (configuration from `--config` or `IDFORGE_CONFIG`,
//!   else the built-in demo configuration with its store in `./idforge-data`).
//! - `idforge otp enroll | reset` on the store; `idforge otp new | code | verify`: offline
//!   helpers for secrets and codes.
//! - `idforge token import | assign | unassign | delete | list`: YubiKeys in Yubico OTP mode.
//! - `idforge ldap test`: connect, bind, find a user, show mapped attributes and groups.
//! - `idforge radius test`: a radtest (PAP, CHAP, MS-CHAPv1, MS-CHAPv2, challenge rounds).
//! - `idforge saml keygen | metadata | response | decode`: IdP keys and metadata, signed test
//!   responses, and a tracer for SAML messages.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod admin;
mod device;
mod ldap;
mod otp;
mod radius;
mod saml;
mod token;

#[derive(Parser)]
#[command(
    name = "idforge",
    version,
    about = "Administration tools for the idforge identity provider"
)]
struct Cli {
    /// The configuration file (default: $IDFORGE_CONFIG, else the demo configuration).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print JSON instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Users: add, list, show, disable, enable, unlock, delete, set a password, import.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Groups: add, list, assign a user, remove a user.
    #[command(subcommand)]
    Group(admin::GroupCommand),
    /// One-time passwords: enrol and reset a user's factors; offline secrets and codes.
    #[command(subcommand)]
    Otp(OtpCli),
    /// YubiKeys (Yubico OTP): import from the personalization tool's log, assign, list.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Remembered browsers (trusted devices): list a user's, revoke one or all.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Applications: add (AWS, IAM Identity Center, SAML, RADIUS) and list.
    #[command(subcommand)]
    App(admin::AppCommand),
    /// The audit log of authentication decisions.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Keys that encrypt secrets at rest: status and rotation.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// The store: copy it into another database (SQLite to PostgreSQL).
    #[command(subcommand)]
    Store(admin::StoreCommand),
    /// Run a login through the decision path, as a server would (password from stdin).
    Login(admin::LoginArgs),
    /// LDAP and Active Directory: test the connection and the attribute mapping.
    #[command(subcommand)]
    Ldap(ldap::LdapCommand),
    /// RADIUS: test a server as a NAS would (PAP, CHAP, MS-CHAPv1, MS-CHAPv2).
    #[command(subcommand)]
    Radius(radius::RadiusCommand),
    /// SAML: IdP signing keys, metadata, signed responses, and decoding messages.
    #[command(subcommand)]
    Saml(saml::SamlCommand),
}

#[derive(Subcommand)]
enum OtpCli {
    /// Enrol a TOTP (or HOTP) factor for a user in the store and show its QR code.
    Enroll(admin::EnrollArgs),
    /// Remove all of a user's OTP factors and backup codes.
    Reset(admin::UserArg),
    /// Create ten backup codes for a user (shown once; earlier ones stop working).
    BackupCodes(admin::UserArg),
    #[command(flatten)]
    Offline(otp::OtpCommand),
}

fn run(cli: &Cli) -> Result<bool> {
    match &cli.command {
        Command::Otp(OtpCli::Offline(command)) => otp::run(command),
        Command::Saml(command) => saml::run(command),
        Command::Radius(command @ radius::RadiusCommand::Test(_)) => radius::run(command, cli.json),
        other => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let ctx = admin::Context {
                    config_path: cli.config.clone(),
                    json: cli.json,
                };
                match other {
                    Command::User(c) => admin::user(&ctx, c).await,
                    Command::Group(c) => admin::group(&ctx, c).await,
                    Command::Otp(OtpCli::Enroll(a)) => admin::enroll(&ctx, a).await,
                    Command::Otp(OtpCli::Reset(a)) => admin::reset(&ctx, a).await,
                    Command::Otp(OtpCli::BackupCodes(a)) => admin::backup_codes(&ctx, a).await,
                    Command::App(c) => admin::app(&ctx, c).await,
                    Command::Device(c) => device::run(&ctx, c).await,
                    Command::Token(c) => token::run(&ctx, c).await,
                    Command::Audit(c) => admin::audit(&ctx, c).await,
                    Command::Keys(c) => admin::keys(&ctx, c).await,
                    Command::Login(a) => admin::login(&ctx, a).await,
                    Command::Store(c) => admin::store(&ctx, c).await,
                    Command::Ldap(c) => {
                        let config = ctx.config()?;
                        ldap::run(c, &config.directories).await
                    }
                    Command::Radius(radius::RadiusCommand::Client(c)) => {
                        let config = ctx.config()?;
                        radius::clients(c, &config, ctx.json).await
                    }
                    Command::Otp(OtpCli::Offline(_))
                    | Command::Saml(_)
                    | Command::Radius(radius::RadiusCommand::Test(_)) => Ok(true),
                }
            })
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IDFORGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("idforge: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
