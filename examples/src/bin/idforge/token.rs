//! `idforge token`: YubiKeys in Yubico OTP mode — import from the personalization tool's log,
//! assign to users, list, take back, delete.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use idforge_examples::store::{NewYubikey, now_secs};
use idforge_otp::parse_personalization_log;
use serde_json::json;

use crate::admin::Context;

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Import YubiKeys from the YubiKey Personalization Tool's log (traditional or Yubico
    /// format); all or nothing. Lines of other modes (OATH-HOTP, static) are skipped.
    Import(ImportArgs),
    /// Assign a YubiKey to a user.
    Assign {
        /// The key's public id (modhex, the first 12 characters of its OTPs).
        public_id: String,
        /// The user.
        user: String,
    },
    /// Take a YubiKey back from its user (it stays imported).
    Unassign {
        /// The key's public id.
        public_id: String,
    },
    /// Delete a YubiKey (before importing it again after re-programming).
    Delete {
        /// The key's public id.
        public_id: String,
    },
    /// List the YubiKeys with their users and last use.
    List,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The log file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
}

pub(crate) async fn run(ctx: &Context, command: &TokenCommand) -> Result<bool> {
    let service = ctx.service().await?;
    let store = service.store();
    let now = now_secs();
    match command {
        TokenCommand::Import(a) => {
            let mut text = String::new();
            if a.csv.as_os_str() == "-" {
                std::io::stdin().lock().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(&a.csv)
                    .with_context(|| format!("reading {}", a.csv.display()))?;
            }
            let log =
                parse_personalization_log(&text).with_context(|| format!("{}", a.csv.display()))?;
            let keys: Vec<NewYubikey> = log
                .keys
                .iter()
                .map(|k| {
                    let mut secret = zeroize::Zeroizing::new(Vec::with_capacity(22));
                    secret.extend_from_slice(k.key.expose_private_id());
                    secret.extend_from_slice(k.key.expose_aes_key());
                    NewYubikey {
                        public_id: k.key.public_id_modhex(),
                        label: k
                            .serial
                            .map_or_else(|| k.key.public_id_modhex(), |s| format!("YubiKey {s}")),
                        serial: k.serial.map(i64::from),
                        secret,
                    }
                })
                .collect();
            let n = store.import_yubikeys(&keys, now).await?;
            let ids: Vec<String> = keys.iter().map(|k| k.public_id.clone()).collect();
            let skipped: Vec<_> = log
                .skipped
                .iter()
                .map(|s| json!({"line": s.line, "reason": s.reason}))
                .collect();
            ctx.print(
                &json!({"imported": n, "public_ids": ids, "skipped": skipped}),
                || {
                    let mut out = format!("imported {n} YubiKeys: {}", ids.join(", "));
                    for s in &log.skipped {
                        let _ = write!(out, "\nskipped line {}: {}", s.line, s.reason);
                    }
                    out
                },
            );
        }
        TokenCommand::Assign { public_id, user } => {
            let u = store.require_user(user).await?;
            if !store.assign_yubikey(public_id, Some(u.id), now).await? {
                bail!("no YubiKey {public_id:?} (import it with `idforge token import`)");
            }
            ctx.print(&json!({"public_id": public_id, "user": u.name}), || {
                format!("YubiKey {public_id} assigned to {}", u.name)
            });
        }
        TokenCommand::Unassign { public_id } => {
            if !store.assign_yubikey(public_id, None, now).await? {
                bail!("no YubiKey {public_id:?}");
            }
            ctx.print(&json!({"public_id": public_id, "user": null}), || {
                format!("YubiKey {public_id} is nobody's now")
            });
        }
        TokenCommand::Delete { public_id } => {
            if !store.delete_yubikey(public_id).await? {
                bail!("no YubiKey {public_id:?}");
            }
            ctx.print(&json!({"public_id": public_id, "deleted": true}), || {
                format!("YubiKey {public_id} deleted")
            });
        }
        TokenCommand::List => {
            let keys = store.yubikeys().await?;
            let users = store.users().await?;
            let name_of = |id: Option<i64>| {
                id.and_then(|id| users.iter().find(|u| u.id == id))
                    .map(|u| u.name.clone())
            };
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({"public_id": k.public_id, "label": k.label, "serial": k.serial,
                           "user": name_of(k.user_id), "last_used_at": k.last_used_at})
                })
                .collect();
            ctx.print(&json!(rows), || {
                let mut out = format!(
                    "{:<18} {:<20} {:<16} LAST USED\n",
                    "PUBLIC ID", "LABEL", "USER"
                );
                for k in &keys {
                    let _ = writeln!(
                        out,
                        "{:<18} {:<20} {:<16} {}",
                        k.public_id,
                        k.label,
                        name_of(k.user_id).unwrap_or_else(|| "-".into()),
                        k.last_used_at
                            .map_or_else(|| "never".into(), |t| t.to_string())
                    );
                }
                out.trim_end().to_owned()
            });
        }
    }
    Ok(true)
}
