//! `idforge ldap test`: connect to a configured directory, bind as its service account, find a
//! user and show the mapped attributes and groups, with the time each step took. No password is
//! checked, so nothing counts against the account.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use idforge_examples::ldap::{LdapDirectory, LdapSettings};

#[derive(Subcommand)]
pub(crate) enum LdapCommand {
    /// Test the connection and the attribute mapping with one user (no user bind): exit 0 when
    /// exactly one entry matches, 1 when none or several do or the directory fails.
    Test(TestArgs),
}

#[derive(Args)]
pub(crate) struct TestArgs {
    /// The directory's name in the configuration (default: the only one configured).
    #[arg(long, short = 'd')]
    directory: Option<String>,
    /// The user name to look up, as a user would type it.
    user: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs an `idforge ldap` command against the configured directories; `Ok(false)` when the
/// test failed, `Err` when it could not run (no such directory, invalid settings).
pub(crate) async fn run(command: &LdapCommand, directories: &[LdapSettings]) -> Result<bool> {
    match command {
        LdapCommand::Test(args) => test(args, directories).await,
    }
}

fn choose<'a>(wanted: Option<&str>, directories: &'a [LdapSettings]) -> Result<&'a LdapSettings> {
    let names = || {
        directories
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (wanted, directories) {
        (_, []) => bail!("no directory is configured (add a [[directories]] table)"),
        (Some(name), _) => match directories.iter().find(|d| d.name == name) {
            Some(d) => Ok(d),
            None => bail!("no directory named {name:?} (configured: {})", names()),
        },
        (None, [only]) => Ok(only),
        (None, _) => bail!(
            "several directories are configured ({}): choose one with --directory",
            names()
        ),
    }
}

async fn test(args: &TestArgs, directories: &[LdapSettings]) -> Result<bool> {
    let settings = choose(args.directory.as_deref(), directories)?;
    let directory = LdapDirectory::new(settings)?;
    match directory.test(&args.user).await {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            Ok(report.passed())
        }
        Err(error) => {
            if args.json {
                let failed = serde_json::json!({
                    "directory": directory.name(),
                    "url": directory.url(),
                    "username": args.user,
                    "passed": false,
                    "error": error.to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&failed)?);
            } else {
                println!("FAILED: {error} ({})", directory.url());
            }
            Ok(false)
        }
    }
}
