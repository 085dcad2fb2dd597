//! The store-backed commands: users, groups, factors, applications, audit, keys, and a login
//! through the decision path.

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Read as _};
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use idforge_examples::config::{AppSettings, AppType, AwsRole, Config, RadiusMode, check_app};
use idforge_examples::crypto::{Key, Keyring, write_private};
use idforge_examples::import::{ImportOptions, ImportProgress, UserRow};
use idforge_examples::service::{
    self, AuthRequest, FirstFactorInput, FrontDoor, Invitation, Outcome, Service,
};
use idforge_examples::store::{
    FactorKind, NewFactor, NewUser, Store, UserStatus, name_key, now_secs,
};
use idforge_otp::{Algorithm, Digits, KeyUri, Secret};
use serde_json::json;
use zeroize::Zeroizing;

/// What every store-backed command needs.
pub(crate) struct Context {
    pub(crate) config_path: Option<PathBuf>,
    pub(crate) json: bool,
}

impl Context {
    pub(crate) fn config(&self) -> Result<Config> {
        Ok(Config::load(self.config_path.as_deref())?)
    }

    pub(crate) async fn service(&self) -> Result<Service> {
        let config = self.config()?;
        Service::open(config).await.context("opening the store")
    }

    pub(crate) fn print(&self, value: &serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            let t = text();
            if !t.is_empty() {
                println!("{t}");
            }
        }
    }
}

#[derive(Args)]
pub(crate) struct UserArg {
    /// The user name.
    user: String,
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Create a local user.
    Add(UserAddArgs),
    /// List users (`--csv` for a spreadsheet-safe CSV).
    List {
        /// Write CSV (name, display_name, email, phone, status, source, groups).
        #[arg(long)]
        csv: bool,
    },
    /// Show a user with groups, factors and devices.
    Show(UserArg),
    /// Refuse the user's logins until enabled.
    Disable(UserArg),
    /// Allow a disabled user again.
    Enable(UserArg),
    /// Clear a lockout after failed logins.
    Unlock(UserArg),
    /// End the user's web sessions (every browser signs in again).
    Logout(UserArg),
    /// Delete a user and everything enrolled (the audit log keeps its entries).
    Delete(UserArg),
    /// Set a local user's password (read from stdin).
    Passwd(UserArg),
    /// Set (or, without ADDRESS, clear) the second e-mail address that codes go to when the
    /// adaptive rules challenge with `alternate_email_otp`.
    AlternateEmail {
        /// The user name.
        user: String,
        /// The address.
        address: Option<String>,
    },
    /// Mail a local user without a password a welcome with an activation link (needs a `[mail]` section);
    /// a new invitation voids the earlier link.
    Invite(UserArg),
    /// Create users from a CSV file: header `name,email,phone,groups` (groups `;`-separated).
    Import(ImportArgs),
}

#[derive(Args)]
pub(crate) struct UserAddArgs {
    /// Login name.
    name: String,
    /// Name to show.
    #[arg(long)]
    display_name: Option<String>,
    /// E-mail address.
    #[arg(long)]
    email: Option<String>,
    /// Phone number.
    #[arg(long)]
    phone: Option<String>,
    /// Add to this group (repeat for several).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Read a password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Mail the user an activation link to choose a password (needs --email and a `[mail]` section).
    #[arg(long, conflicts_with = "password_stdin")]
    invite: bool,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The CSV file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Import the good lines and report the bad ones, instead of all or nothing.
    #[arg(long)]
    skip_bad: bool,
    /// Mail every imported user with an address an activation link (needs a `[mail]` section).
    #[arg(long)]
    invite: bool,
}

#[derive(Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group.
    Add {
        /// Group name.
        name: String,
    },
    /// List groups with member counts.
    List,
    /// Add a user to a group.
    Assign {
        /// User name.
        user: String,
        /// Group name.
        group: String,
    },
    /// Remove a user from a group.
    Remove {
        /// User name.
        user: String,
        /// Group name.
        group: String,
    },
}

#[derive(Args)]
pub(crate) struct EnrollArgs {
    /// The user name.
    user: String,
    /// A counter-based (HOTP) factor, as hardware tokens use.
    #[arg(long)]
    hotp: bool,
    /// A label for the factor.
    #[arg(long, default_value = "Authenticator app")]
    label: String,
    /// Do not draw the QR code.
    #[arg(long)]
    no_qr: bool,
}

#[derive(Subcommand)]
pub(crate) enum AppCommand {
    /// Add or replace an application.
    Add(AppAddArgs),
    /// List applications.
    List,
}

#[derive(Args)]
pub(crate) struct AppAddArgs {
    /// The application id (what policies name).
    id: String,
    /// aws, aws-identity-center, saml or radius.
    #[arg(long)]
    kind: String,
    /// The name users see.
    #[arg(long)]
    name: Option<String>,
    /// aws: `GROUP=ROLE_ARN,PROVIDER_ARN` (repeat for several roles).
    #[arg(long = "role", value_name = "GROUP=ROLE_ARN,PROVIDER_ARN")]
    roles: Vec<String>,
    /// aws: SessionDuration in seconds (900 to 43200).
    #[arg(long)]
    session_duration: Option<u32>,
    /// saml, aws-identity-center: the SP's metadata file.
    #[arg(long, value_name = "FILE")]
    metadata: Option<PathBuf>,
    /// radius: otp-only, challenge, password+otp or password-only.
    #[arg(long)]
    mode: Option<String>,
    /// Accept SP metadata whose validUntil has passed (for tests and old copies only).
    #[arg(long)]
    allow_expired_metadata: bool,
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// The latest decisions, oldest first.
    Tail {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: i64,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Which keys seal how many secrets.
    Status,
    /// Re-encrypt every OTP secret under a new key.
    Rotate {
        /// The new key (`env:NAME`, `file:PATH` or base64). Without it a key is generated: in
        /// demo mode it replaces DATA_DIR/store.key; otherwise it is written to --write-key.
        #[arg(long)]
        new_key: Option<String>,
        /// Where to write a generated key (mode 0600), outside demo mode.
        #[arg(long, value_name = "FILE")]
        write_key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy every row into another, empty database (for example from the SQLite file to
    /// PostgreSQL), then point `store.url` at it. Stop the servers first.
    Copy {
        /// The target (`postgres://...` or `sqlite:PATH`); `env:NAME` and `file:PATH` work.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Backend, schema version and row counts.
    Status,
}

#[derive(Args)]
pub(crate) struct LoginArgs {
    /// The user name.
    user: String,
    /// The application.
    #[arg(long)]
    app: String,
    /// The client address to assess.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// A device identifier.
    #[arg(long)]
    device: Option<String>,
    /// The one-time code (or a backup code).
    #[arg(long)]
    code: Option<String>,
    /// The password is checked upstream (AWS WorkSpaces); do not read one.
    #[arg(long)]
    upstream: bool,
}

fn read_secret_line() -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading stdin")?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

pub(crate) async fn user(ctx: &Context, command: &UserCommand) -> Result<bool> {
    let service = ctx.service().await?;
    let store = service.store();
    match command {
        UserCommand::Add(a) => {
            let password = if a.password_stdin {
                Some(read_secret_line()?)
            } else {
                None
            };
            let hash = match &password {
                Some(p) => Some(service.hasher().hash_new(p)?),
                None => None,
            };
            let known: Vec<String> = store
                .groups()
                .await?
                .iter()
                .map(|g| name_key(&g.name))
                .collect();
            if let Some(g) = a.groups.iter().find(|g| !known.contains(&name_key(g))) {
                bail!("no group named {g:?} (create it with `idforge group add`)");
            }
            let u = store
                .create_user(&NewUser {
                    name: a.name.clone(),
                    display_name: a.display_name.clone(),
                    email: a.email.clone(),
                    phone: a.phone.clone(),
                    source: "local".into(),
                })
                .await?;
            if let Some(h) = hash {
                store.set_password_hash(u.id, &h).await?;
            }
            for g in &a.groups {
                store.add_member(&u.name, g).await?;
            }
            if a.invite {
                let now = u64::try_from(now_secs()).unwrap_or(0);
                match service.invite(&u.name, now).await? {
                    Invitation::Sent { to, .. } => {
                        ctx.print(&json!({"user": u, "invited": to}), || {
                            format!("created user {}; activation mail to {to} queued", u.name)
                        });
                    }
                    other => bail!("created user {}, but no invitation: {other:?}", u.name),
                }
            } else {
                ctx.print(&json!(u), || format!("created user {}", u.name));
            }
        }
        UserCommand::List { csv } => {
            let users = store.users().await?;
            let mut rows = Vec::with_capacity(users.len());
            for u in &users {
                rows.push(UserRow {
                    name: u.name.clone(),
                    display_name: u.display_name.clone(),
                    email: u.email.clone(),
                    phone: u.phone.clone(),
                    status: u.status.to_string(),
                    source: u.source.clone(),
                    groups: store.groups_of(u.id).await?,
                });
            }
            if *csv {
                let mut out = std::io::stdout().lock();
                idforge_examples::import::write_users_csv(&mut out, &rows)?;
            } else if ctx.json {
                println!("{}", serde_json::to_string(&rows_json(&rows))?);
            } else {
                println!(
                    "{:<24} {:<9} {:<10} {:<32} GROUPS",
                    "NAME", "STATUS", "SOURCE", "E-MAIL"
                );
                for r in &rows {
                    println!(
                        "{:<24} {:<9} {:<10} {:<32} {}",
                        r.name,
                        r.status,
                        r.source,
                        r.email.as_deref().unwrap_or("-"),
                        r.groups.join(";")
                    );
                }
                println!("{} users", rows.len());
            }
        }
        UserCommand::Show(a) => {
            let u = store.require_user(&a.user).await?;
            let groups = store.groups_of(u.id).await?;
            let factors = store.factors_of(u.id).await?;
            let devices = store.devices_of(u.id).await?;
            let backup = store.unused_backup_codes(u.id).await?.len();
            let (lock, _) = store
                .lockout(&format!("user:{}", name_key(&u.name)))
                .await?;
            let value = json!({
                "user": u, "groups": groups, "factors": factors,
                "devices": devices.iter().map(|d| json!({"id": d.id, "registered_at": d.registered_at, "trusted_until": d.trusted_until})).collect::<Vec<_>>(),
                "unused_backup_codes": backup,
                "lockout": lock,
            });
            ctx.print(&value, || {
                let mut s = format!(
                    "user      {}\nname      {}\ne-mail    {}\nalt mail  {}\nphone     {}\nstatus    {}\nsource    {}\ngroups    {}\n",
                    u.name,
                    u.display_name.as_deref().unwrap_or("-"),
                    u.email.as_deref().unwrap_or("-"),
                    u.alternate_email.as_deref().unwrap_or("-"),
                    u.phone.as_deref().unwrap_or("-"),
                    u.status,
                    u.source,
                    if groups.is_empty() { "-".into() } else { groups.join(", ") },
                );
                for f in &factors {
                    let _ = writeln!(s, "factor    {} {} ({} digits) id {}{}",
                        f.kind.as_str(),
                        f.label,
                        f.digits,
                        f.id,
                        f.last_used_at.map_or(String::new(), |t| format!(", last used {t}"))
                    );
                }
                let _ = writeln!(s, "backup    {backup} unused codes");
                for d in &devices {
                    let _ = writeln!(s, "device    {} trusted until {}", d.id, d.trusted_until);
                }
                if lock.consecutive_failures > 0 || lock.locked_until.is_some() || lock.disabled {
                    let _ = writeln!(s, "lockout   {} consecutive failures{}{}",
                        lock.consecutive_failures,
                        lock.locked_until.map_or(String::new(), |t| format!(", locked until {t}")),
                        if lock.disabled { ", disabled" } else { "" }
                    );
                }
                s.trim_end().to_owned()
            });
        }
        UserCommand::Disable(a) => {
            let u = store.require_user(&a.user).await?;
            store.set_status(&u.name, UserStatus::Disabled).await?;
            let ended = store.delete_web_sessions_of(u.id).await?;
            ctx.print(
                &json!({"user": u.name, "status": "disabled", "sessions_ended": ended}),
                || format!("disabled {} ({ended} web session(s) ended)", u.name),
            );
        }
        UserCommand::Logout(a) => {
            let u = store.require_user(&a.user).await?;
            let ended = store.delete_web_sessions_of(u.id).await?;
            ctx.print(&json!({"user": u.name, "sessions_ended": ended}), || {
                format!("{ended} web session(s) of {} ended", u.name)
            });
        }
        UserCommand::Enable(a) => {
            store.set_status(&a.user, UserStatus::Active).await?;
            ctx.print(&json!({"user": a.user, "status": "active"}), || {
                format!("enabled {}", a.user)
            });
        }
        UserCommand::Unlock(a) => {
            let u = store.require_user(&a.user).await?;
            store
                .reset_lockout(&format!("user:{}", name_key(&u.name)))
                .await?;
            if u.status == UserStatus::Locked {
                store.set_status(&u.name, UserStatus::Active).await?;
            }
            ctx.print(&json!({"user": u.name, "unlocked": true}), || {
                format!("unlocked {}", u.name)
            });
        }
        UserCommand::Delete(a) => {
            store.delete_user(&a.user).await?;
            ctx.print(&json!({"user": a.user, "deleted": true}), || {
                format!("deleted {}", a.user)
            });
        }
        UserCommand::Passwd(a) => {
            let u = store.require_user(&a.user).await?;
            if u.source != "local" {
                bail!(
                    "{} comes from directory `{}`: change the password there",
                    u.name,
                    u.source
                );
            }
            let p = read_secret_line()?;
            let hash = service.hasher().hash_new(&p)?;
            store.set_password_hash(u.id, &hash).await?;
            // A new password ends the sessions the old one opened.
            let ended = store.delete_web_sessions_of(u.id).await?;
            ctx.print(
                &json!({"user": u.name, "password": "set", "sessions_ended": ended}),
                || format!("password set for {} ({ended} web session(s) ended)", u.name),
            );
        }
        UserCommand::Import(a) => return import(ctx, &service, a).await,
        UserCommand::AlternateEmail { user, address } => {
            let u = store.require_user(user).await?;
            if let Some(a) = address
                && a.parse::<lettre::Address>().is_err()
            {
                bail!("{a:?} is not an e-mail address");
            }
            store.set_alternate_email(u.id, address.as_deref()).await?;
            ctx.print(
                &json!({"user": u.name, "alternate_email": address}),
                || match address {
                    Some(a) => format!("{}: alternate e-mail {a}", u.name),
                    None => format!("{}: alternate e-mail cleared", u.name),
                },
            );
        }
        UserCommand::Invite(a) => {
            let now = u64::try_from(now_secs()).unwrap_or(0);
            match service.invite(&a.user, now).await? {
                Invitation::Sent { to, expires_at } => {
                    ctx.print(
                        &json!({"user": a.user, "to": to, "expires_at": expires_at}),
                        || format!("activation mail for {} to {to} queued", a.user),
                    );
                }
                Invitation::Suppressed => {
                    bail!("not sent: over a mail rate limit (see `idforge mail outbox`)")
                }
                Invitation::Refused(why) => bail!("not sent: {why}"),
                other => bail!("not sent: {other:?}"),
            }
        }
    }
    Ok(true)
}

fn rows_json(rows: &[UserRow]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                json!({"name": r.name, "display_name": r.display_name, "email": r.email,
                       "phone": r.phone, "status": r.status, "source": r.source, "groups": r.groups})
            })
            .collect(),
    )
}

async fn import(ctx: &Context, service: &Service, a: &ImportArgs) -> Result<bool> {
    let store = service.store();
    let mut input = Vec::new();
    if a.csv.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut input)?;
    } else {
        input = std::fs::read(&a.csv).with_context(|| format!("reading {}", a.csv.display()))?;
    }
    let bar = if std::io::stderr().is_terminal() && !ctx.json {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let mut progress = |p: ImportProgress| {
        if let Some(bar) = &bar {
            match p {
                ImportProgress::Validated { lines } => {
                    bar.set_message("checked");
                    bar.set_length(lines as u64);
                    bar.set_position(lines as u64);
                }
                ImportProgress::Written { users, of } => {
                    bar.set_message("written");
                    bar.set_length(of as u64);
                    bar.set_position(users as u64);
                }
            }
        }
    };
    let report = idforge_examples::import::import_users_csv(
        store,
        &input,
        &ImportOptions {
            skip_bad: a.skip_bad,
        },
        &mut progress,
    )
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut invited = Vec::new();
    let mut not_invited = Vec::new();
    if a.invite {
        let now = u64::try_from(now_secs()).unwrap_or(0);
        for name in &report.names {
            match service.invite(name, now).await? {
                Invitation::Sent { .. } => invited.push(name.clone()),
                Invitation::Suppressed => not_invited.push((name.clone(), "rate limit")),
                Invitation::Refused(why) => not_invited.push((name.clone(), why)),
                _ => not_invited.push((name.clone(), "not sent")),
            }
        }
    }
    let mut value = serde_json::to_value(&report)?;
    if a.invite {
        value["invited"] = json!(invited);
        value["not_invited"] = json!(not_invited);
    }
    ctx.print(&value, || {
        let mut text = report.to_string();
        if a.invite {
            let _ = write!(text, "\ninvited {} users", invited.len());
            for (name, why) in &not_invited {
                let _ = write!(text, "\nnot invited {name}: {why}");
            }
        }
        text
    });
    Ok(report.rejected.is_empty())
}

pub(crate) async fn group(ctx: &Context, command: &GroupCommand) -> Result<bool> {
    let service = ctx.service().await?;
    let store = service.store();
    match command {
        GroupCommand::Add { name } => {
            let id = store.create_group(name).await?;
            ctx.print(&json!({"group": name, "id": id}), || {
                format!("created group {name}")
            });
        }
        GroupCommand::List => {
            let groups = store.groups().await?;
            ctx.print(&json!(groups), || {
                let mut s = format!("{:<32} {:<10} MEMBERS\n", "GROUP", "SOURCE");
                for g in &groups {
                    let _ = writeln!(s, "{:<32} {:<10} {}", g.name, g.source, g.members);
                }
                s.trim_end().to_owned()
            });
        }
        GroupCommand::Assign { user, group } => {
            store.add_member(user, group).await?;
            ctx.print(
                &json!({"user": user, "group": group, "member": true}),
                || format!("{user} is in {group}"),
            );
        }
        GroupCommand::Remove { user, group } => {
            let was = store.remove_member(user, group).await?;
            ctx.print(
                &json!({"user": user, "group": group, "member": false}),
                || {
                    if was {
                        format!("{user} removed from {group}")
                    } else {
                        format!("{user} was not in {group}")
                    }
                },
            );
        }
    }
    Ok(true)
}

pub(crate) async fn enroll(ctx: &Context, a: &EnrollArgs) -> Result<bool> {
    let service = ctx.service().await?;
    let store = service.store();
    let otp = &service.config().otp;
    let u = store.require_user(&a.user).await?;
    let secret = Secret::generate(&mut rand::rng(), Secret::DEFAULT_LEN)?;
    let digits = Digits::new(u64::from(otp.digits))?;
    let account = u.email.clone().unwrap_or_else(|| u.name.clone());
    let (kind, uri) = if a.hotp {
        (FactorKind::Hotp, KeyUri::hotp(secret.clone(), &account, 0)?)
    } else {
        (
            FactorKind::Totp,
            KeyUri::totp(secret.clone(), &account)?.with_period(otp.period)?,
        )
    };
    let uri = uri.with_issuer(&otp.issuer).with_digits(digits);
    let id = store
        .add_factor(
            u.id,
            &NewFactor {
                kind,
                label: &a.label,
                secret: &secret,
                algorithm: Algorithm::Sha1,
                digits: otp.digits,
                period: otp.period,
                counter: 0,
            },
        )
        .await?;
    let uri_text = uri.to_uri_string();
    if ctx.json {
        println!(
            "{}",
            json!({"user": u.name, "factor": id, "kind": kind.as_str(), "uri": uri_text})
        );
    } else {
        println!("enrolled {} factor {id} for {}", kind.as_str(), u.name);
        println!("otpauth URI (give it to the user only): {uri_text}");
        if !a.no_qr {
            print!("{}", uri.to_qr_terminal()?);
            println!();
        }
    }
    Ok(true)
}

pub(crate) async fn reset(ctx: &Context, a: &UserArg) -> Result<bool> {
    let service = ctx.service().await?;
    let u = service.store().require_user(&a.user).await?;
    let n = service.store().reset_factors(u.id).await?;
    let now = u64::try_from(now_secs()).unwrap_or(0);
    let told = service
        .notify_user(
            &u,
            "Your second factors were reset",
            "An administrator removed your authenticator apps, tokens and backup codes. You will be asked to set up a second factor at your next sign-in.",
            now,
        )
        .await?;
    ctx.print(
        &json!({"user": u.name, "factors_removed": n, "user_notified": told}),
        || format!("removed {n} factors and all backup codes of {}", u.name),
    );
    Ok(true)
}

pub(crate) async fn backup_codes(ctx: &Context, a: &UserArg) -> Result<bool> {
    let service = ctx.service().await?;
    let u = service.store().require_user(&a.user).await?;
    let codes = service::new_backup_codes()?;
    let hashes: Vec<String> = codes.iter().map(|(_, h)| h.clone()).collect();
    service.store().replace_backup_codes(u.id, &hashes).await?;
    let plain: Vec<&str> = codes.iter().map(|(c, _)| c.as_str()).collect();
    ctx.print(&json!({"user": u.name, "codes": plain}), || {
        format!(
            "backup codes for {} (each works once; shown only now):\n{}",
            u.name,
            plain.join("\n")
        )
    });
    Ok(true)
}

pub(crate) async fn app(ctx: &Context, command: &AppCommand) -> Result<bool> {
    let service = ctx.service().await?;
    let store = service.store();
    match command {
        AppCommand::Add(a) => {
            let kind = AppType::parse(&a.kind).with_context(|| {
                format!(
                    "unknown kind {:?} (aws, aws-identity-center, saml, radius)",
                    a.kind
                )
            })?;
            let mut roles = Vec::new();
            for r in &a.roles {
                let (group, arns) = r.split_once('=').with_context(|| {
                    format!("--role {r:?}: expected GROUP=ROLE_ARN,PROVIDER_ARN")
                })?;
                let (role_arn, provider_arn) = arns.split_once(',').with_context(|| {
                    format!("--role {r:?}: expected GROUP=ROLE_ARN,PROVIDER_ARN")
                })?;
                roles.push(AwsRole {
                    group: group.to_owned(),
                    role_arn: role_arn.to_owned(),
                    provider_arn: provider_arn.to_owned(),
                });
            }
            let radius_mode = match a.mode.as_deref() {
                None => None,
                Some("otp-only") => Some(RadiusMode::OtpOnly),
                Some("challenge") => Some(RadiusMode::Challenge),
                Some("password+otp") => Some(RadiusMode::PasswordPlusOtp),
                Some("password-only") => Some(RadiusMode::PasswordOnly),
                Some(other) => bail!(
                    "unknown --mode {other:?} (otp-only, challenge, password+otp, password-only)"
                ),
            };
            let metadata_file = match &a.metadata {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    let mut opts = idforge_saml::MetadataOptions::at(chrono::Utc::now());
                    if a.allow_expired_metadata {
                        opts = opts.allow_expired_for_testing();
                    }
                    let sp = idforge_saml::SpMetadata::parse_with(text.as_bytes(), &opts)
                        .with_context(|| format!("{} is not usable SP metadata", p.display()))?;
                    tracing::debug!(entity = %sp.entity_id, "SP metadata read");
                    Some(std::fs::canonicalize(p)?)
                }
                None => None,
            };
            let app = AppSettings {
                id: a.id.clone(),
                name: a.name.clone(),
                kind,
                roles,
                session_duration_secs: a.session_duration,
                metadata_file,
                radius_mode,
                entity_id: None,
                acs_url: None,
                groups: Vec::new(),
                relay_states: Vec::new(),
                principal_tags: std::collections::BTreeMap::new(),
            };
            if let Err((key, message)) = check_app(&app) {
                bail!("{key}: {message}");
            }
            let groups = store.groups().await?;
            for r in &app.roles {
                if !groups
                    .iter()
                    .any(|g| name_key(&g.name) == name_key(&r.group))
                {
                    bail!(
                        "no group named {:?} (create it with `idforge group add`)",
                        r.group
                    );
                }
            }
            store
                .upsert_app(
                    &app.id,
                    kind.as_str(),
                    app.name.as_deref().unwrap_or(&app.id),
                    &serde_json::to_value(&app)?,
                    "cli",
                )
                .await?;
            ctx.print(&json!(app), || format!("saved {} app {}", kind, app.id));
        }
        AppCommand::List => {
            let apps = store.apps().await?;
            ctx.print(&json!(apps), || {
                let mut s = format!("{:<24} {:<20} {:<8} NAME\n", "ID", "KIND", "SOURCE");
                for a in &apps {
                    let _ = writeln!(s, "{:<24} {:<20} {:<8} {}", a.id, a.kind, a.source, a.name);
                }
                s.trim_end().to_owned()
            });
        }
    }
    Ok(true)
}

pub(crate) async fn audit(ctx: &Context, command: &AuditCommand) -> Result<bool> {
    let service = ctx.service().await?;
    let AuditCommand::Tail { user, lines } = command;
    let entries = service
        .store()
        .audit_tail((*lines).clamp(1, 10_000), user.as_deref())
        .await?;
    if ctx.json {
        for e in &entries {
            println!("{}", serde_json::to_string(e)?);
        }
    } else {
        for e in &entries {
            let at = chrono::DateTime::from_timestamp(e.at, 0).map_or_else(
                || e.at.to_string(),
                |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
            );
            println!(
                "{at} #{} {:<7} {:<6} user={} app={} from={} factors=[{}] reasons=[{}]",
                e.id,
                e.result,
                e.front_door,
                e.username,
                e.application,
                e.source_ip.as_deref().unwrap_or("-"),
                e.factors.join(", "),
                e.reasons.join("; ")
            );
        }
    }
    Ok(true)
}

pub(crate) async fn keys(ctx: &Context, command: &KeysCommand) -> Result<bool> {
    let config = ctx.config()?;
    match command {
        KeysCommand::Status => {
            let store = service::open_store(&config).await?;
            let current = store.keyring().current().id_hex();
            let counts = store.factor_key_ids().await?;
            ctx.print(
                &json!({"current": current, "secrets_by_key": counts}),
                || {
                    let mut s = format!("current key {current}\n");
                    for (id, n) in &counts {
                        let mark = if *id == current {
                            ""
                        } else {
                            "  (needs `idforge keys rotate`)"
                        };
                        let _ = writeln!(s, "{n:>8} secrets sealed by {id}{mark}");
                    }
                    s.trim_end().to_owned()
                },
            );
            Ok(true)
        }
        KeysCommand::Rotate { new_key, write_key } => {
            rotate(ctx, &config, new_key.as_deref(), write_key.as_deref()).await
        }
    }
}

async fn rotate(
    ctx: &Context,
    config: &Config,
    new_key: Option<&str>,
    write_key: Option<&std::path::Path>,
) -> Result<bool> {
    let old = service::keyring_for(config)?;
    let old_current = old.current().to_base64();
    let new = match new_key {
        Some(text) => {
            let v = idforge_examples::secret::SecretValue::parse(text);
            Key::from_base64(v.resolve()?.expose())?
        }
        None => Key::generate()?,
    };
    let demo_paths = config
        .store
        .encryption_key
        .is_none()
        .then(|| service::demo_key_paths(config));
    // Write the new key where it will be found before any secret is sealed with it, so that
    // a crash at any point leaves every secret readable.
    match (&demo_paths, new_key, write_key) {
        (Some(paths), _, _) => write_private(&paths.next, new.to_base64().as_bytes())?,
        (None, None, Some(path)) => write_private(path, new.to_base64().as_bytes())?,
        (None, None, None) => bail!(
            "outside demo mode give --new-key (env:NAME, file:PATH) or --write-key FILE for a generated key"
        ),
        (None, Some(_), _) => {}
    }
    let mut previous = vec![Key::from_base64(&old_current)?];
    for p in &config.store.previous_keys {
        previous.push(Key::from_base64(p.resolve()?.expose())?);
    }
    if let Some(paths) = &demo_paths
        && let Ok(text) = std::fs::read_to_string(&paths.previous)
    {
        previous.push(Key::from_base64(&Zeroizing::new(text))?);
    }
    let new_id = new.id_hex();
    let url = config.store_url()?;
    let store = Store::open(
        &url,
        config.store.max_connections.unwrap_or(8),
        Keyring::new(new, previous),
    )
    .await?;
    let n = store.reencrypt_factors().await?;
    store.close().await;
    if let Some(paths) = &demo_paths {
        write_private(&paths.previous, old_current.as_bytes())?;
        std::fs::rename(&paths.next, &paths.current)?;
    }
    ctx.print(&json!({"reencrypted": n, "new_key_id": new_id}), || {
        let mut s = format!("re-encrypted {n} secrets under key {new_id}");
        if demo_paths.is_none() {
            s.push_str(
                "\nnow set store.encryption_key to the new key (keep the old one in \
                 store.previous_keys until every instance has the new configuration)",
            );
        }
        s
    });
    Ok(true)
}

pub(crate) async fn login(ctx: &Context, a: &LoginArgs) -> Result<bool> {
    let service = ctx.service().await?;
    let password = if a.upstream {
        None
    } else {
        Some(read_secret_line()?)
    };
    let now = u64::try_from(now_secs()).unwrap_or(0);
    let request = AuthRequest {
        username: &a.user,
        application: &a.app,
        source_ip: a.ip,
        source_is_client: true,
        device: a.device.as_deref(),
        front_door: FrontDoor::Cli,
        now,
        first_factor: match &password {
            Some(p) => FirstFactorInput::Password(p),
            None => FirstFactorInput::Upstream,
        },
        code: a.code.as_deref(),
    };
    let outcome = service.authenticate(&request).await?;
    let (value, text, ok) = match &outcome {
        Outcome::Accept(acc) => (
            json!({"result": "accept", "user": acc.user.name, "groups": acc.groups, "factors": acc.factors, "audit_id": acc.audit_id}),
            format!(
                "accepted {} (groups: {}; factors: {})",
                acc.user.name,
                acc.groups.join(", "),
                acc.factors.join(", ")
            ),
            true,
        ),
        Outcome::NeedSecondFactor(p) => (
            json!({"result": "need_second_factor", "methods": p.methods}),
            format!(
                "a second factor is required ({}): run again with --code",
                p.methods.join(", ")
            ),
            false,
        ),
        Outcome::Reject { message, audit_id } => (
            json!({"result": "reject", "message": message, "audit_id": audit_id}),
            format!("rejected: {message} (audit #{audit_id})"),
            false,
        ),
        _ => (
            json!({"result": "unknown"}),
            "unknown outcome".into(),
            false,
        ),
    };
    ctx.print(&value, || text);
    Ok(ok)
}

pub(crate) async fn store(ctx: &Context, command: &StoreCommand) -> Result<bool> {
    let config = ctx.config()?;
    let source = service::open_store(&config).await?;
    match command {
        StoreCommand::Status => {
            let version = source.schema_version().await?;
            let users = source.user_count().await?;
            let backend = format!("{:?}", source.backend()).to_lowercase();
            ctx.print(
                &json!({"backend": backend, "schema_version": version, "users": users}),
                || format!("{backend} store, schema version {version}, {users} users"),
            );
        }
        StoreCommand::Copy { to } => {
            let url = idforge_examples::secret::SecretValue::parse(to).resolve()?;
            let target = Store::open(url.expose(), 2, service::keyring_for(&config)?)
                .await
                .context("opening the target store")?;
            let json_out = ctx.json;
            let report = source
                .copy_to(&target, |table, n| {
                    if !json_out {
                        eprintln!("copied {n:>8} rows of {table}");
                    }
                })
                .await?;
            target.close().await;
            let total: u64 = report.iter().map(|(_, n)| n).sum();
            ctx.print(&json!({"copied": report, "rows": total}), || {
                format!("copied {total} rows; now set store.url to the new database")
            });
        }
    }
    Ok(true)
}
