//! `idforge`: the administration command line of the idforge identity provider.
//!
//! - `idforge otp new | code | verify`: enrol a second factor, print a code, check a code.
//! - `idforge saml keygen | metadata | response | decode`: IdP keys and metadata, signed test
//!   responses, and a tracer for SAML messages.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod otp;
mod saml;

#[derive(Parser)]
#[command(
    name = "idforge",
    version,
    about = "Administration tools for the idforge identity provider"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One-time passwords (TOTP/HOTP): enrol, generate, verify.
    #[command(subcommand)]
    Otp(otp::OtpCommand),
    /// SAML: IdP signing keys, metadata, signed responses, and decoding messages.
    #[command(subcommand)]
    Saml(saml::SamlCommand),
}

fn run(cli: &Cli) -> Result<bool> {
    match &cli.command {
        Command::Otp(command) => otp::run(command),
        Command::Saml(command) => saml::run(command),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
