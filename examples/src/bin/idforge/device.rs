//! `idforge device`: remembered browsers (trusted devices) — list a user's, revoke one or all.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use clap::Subcommand;
use idforge_examples::store::now_secs;
use serde_json::json;

use crate::admin::Context;

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// A user's remembered browsers (live, expired and revoked).
    List {
        /// The user.
        user: String,
    },
    /// Revoke one remembered browser: it asks for the second factor again.
    Revoke {
        /// Its id (from `device list`).
        id: String,
    },
    /// Revoke all of a user's remembered browsers.
    RevokeAll {
        /// The user.
        user: String,
    },
}

pub(crate) async fn run(ctx: &Context, command: &DeviceCommand) -> Result<bool> {
    let service = ctx.service().await?;
    let store = service.store();
    let now = now_secs();
    match command {
        DeviceCommand::List { user } => {
            let u = store.require_user(user).await?;
            let devices = store.trusted_devices_of(u.id).await?;
            ctx.print(&json!(devices), || {
                let mut out = format!("{:<34} {:<8} {:<12} LABEL\n", "ID", "STATE", "UNTIL");
                for d in &devices {
                    let state = if d.revoked_at.is_some() {
                        "revoked"
                    } else if d.is_live(now) {
                        "live"
                    } else {
                        "expired"
                    };
                    let until = chrono::DateTime::from_timestamp(d.expires_at, 0)
                        .map(|t| t.format("%Y-%m-%d").to_string())
                        .unwrap_or_default();
                    let _ = writeln!(out, "{:<34} {state:<8} {until:<12} {}", d.id, d.label);
                }
                out.trim_end().to_owned()
            });
        }
        DeviceCommand::Revoke { id } => {
            if !store.revoke_trusted_device(id, None, now).await? {
                bail!("no live remembered browser {id:?}");
            }
            ctx.print(&json!({"id": id, "revoked": true}), || {
                format!("remembered browser {id} revoked")
            });
        }
        DeviceCommand::RevokeAll { user } => {
            let u = store.require_user(user).await?;
            let n = store.revoke_trusted_devices_of(u.id, now).await?;
            ctx.print(&json!({"user": u.name, "revoked": n}), || {
                format!("revoked {n} remembered browsers of {}", u.name)
            });
        }
    }
    Ok(true)
}
