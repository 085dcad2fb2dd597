//! `idp`: the idforge web identity provider (SAML single sign-on with multi-factor login),
//! and the RADIUS listener on the same store when the configuration has RADIUS clients.
//! Thin over [`idforge_examples::idp`]: reads the configuration, opens the service core,
//! serves until SIGTERM or Ctrl-C, then finishes the requests in flight.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use idforge_examples::config::Config;
use idforge_examples::idp::Idp;
use idforge_examples::radius_server::{
    DEFAULT_LISTEN, RadiusServer, RadiusServerSettings, check_config, mode_name,
};
use idforge_examples::service::Service;
use tokio::sync::watch;

/// The idforge web identity provider.
#[derive(Debug, Parser)]
#[command(name = "idp", version, about)]
struct Args {
    /// The configuration file (else IDFORGE_CONFIG, else the built-in demo configuration).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to listen (default: the configuration's idp.listen, 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The public URL browsers use (default: the configuration's idp.base_url; in demo mode
    /// with --listen, http://localhost:PORT).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Do not start the RADIUS listener even when the configuration has RADIUS clients.
    #[arg(long)]
    no_radius: bool,
    /// Check the configuration and exit: 0 when it is usable, 2 when not.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = &args.base_url {
        if !idforge_examples::config::is_http_url(url) {
            eprintln!("idp: --base-url must be an http:// or https:// URL");
            return ExitCode::from(2);
        }
        config.idp.base_url.clone_from(url);
    } else if let (true, Some(listen)) = (config.demo, args.listen) {
        config.idp.base_url = format!("http://localhost:{}", listen.port());
    }
    if config.demo {
        // The demo SP lives on this server: follow the base URL.
        let default_base = idforge_examples::config::IdpSettings::default().base_url;
        let base = config.idp.base().to_owned();
        for app in &mut config.apps {
            for url in [&mut app.entity_id, &mut app.acs_url].into_iter().flatten() {
                if let Some(rest) = url.strip_prefix(&default_base) {
                    *url = format!("{base}{rest}");
                }
            }
        }
    }
    idforge_examples::process::init_tracing(config.log.format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("idp: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(config, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn radius_settings(config: &Config) -> Option<RadiusServerSettings> {
    let has_app = config
        .apps
        .iter()
        .any(|a| a.kind == idforge_examples::config::AppType::Radius);
    if config.radius.clients.is_empty() || !has_app {
        return None;
    }
    Some(RadiusServerSettings {
        listen: if config.radius.listen.is_empty() {
            vec![DEFAULT_LISTEN]
        } else {
            config.radius.listen.clone()
        },
        app: config.radius.app.clone(),
        ..RadiusServerSettings::default()
    })
}

async fn run(config: Config, args: &Args) -> anyhow::Result<()> {
    let radius = if args.no_radius {
        None
    } else {
        radius_settings(&config)
    };
    if let Some(settings) = &radius {
        check_config(&config, settings).map_err(|e| anyhow::anyhow!("{}: {e}", config.origin))?;
    }
    let listen = args.listen.unwrap_or(config.idp.listen);
    let demo = config.demo;
    let data_dir = config.data_dir.clone();
    let service = Arc::new(Service::open(config).await?);
    let idp = Idp::new(Arc::clone(&service)).await?;
    idforge_examples::mail::check(service.config())
        .map_err(|e| anyhow::anyhow!("{}: {e}", service.config().origin))?;
    idforge_examples::sms::check(service.config())
        .map_err(|e| anyhow::anyhow!("{}: {e}", service.config().origin))?;
    if args.check_config {
        println!(
            "{}: ok (entity ID {}, {} SAML app(s){}{}{})",
            service.config().origin,
            idp.entity_id(),
            idp.apps().len(),
            radius
                .as_ref()
                .map_or(String::new(), |_| ", RADIUS listener".into()),
            service
                .config()
                .mail
                .as_ref()
                .map_or(String::new(), |m| format!(
                    ", mail via {}:{}",
                    m.host,
                    m.port()
                )),
            service
                .config()
                .sms
                .as_ref()
                .map_or(String::new(), |s| format!(
                    ", SMS via {} ({})",
                    s.gateway_host(),
                    s.provider.as_str()
                ))
        );
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mail_task = idforge_examples::mail::spawn_worker(
        service.store().clone(),
        service.config(),
        stopped(stop_rx.clone()),
    )?;
    let sms_task = idforge_examples::sms::spawn_worker(
        service.store().clone(),
        service.config(),
        stopped(stop_rx.clone()),
    )?;
    let radius_task = match radius {
        Some(settings) => {
            let server = RadiusServer::bind(Arc::clone(&service), settings).await?;
            let addrs: Vec<String> = server
                .local_addrs()
                .iter()
                .map(ToString::to_string)
                .collect();
            println!(
                "RADIUS:      {} (application `{}`, mode {})",
                addrs.join(", "),
                server.app().id,
                mode_name(server.app().mode)
            );
            let rx = stop_rx.clone();
            Some(tokio::spawn(server.run(stopped(rx))))
        }
        None => None,
    };
    let base = idp.base_url().to_owned();
    let scheme = if idp.is_tls() { "https" } else { "http" };
    println!("idforge IdP listening on {scheme}://{local}");
    println!("Sign in at:  {base}/");
    println!("Metadata:    {base}/saml/metadata");
    if demo {
        let password = std::fs::read_to_string(data_dir.join("demo-password")).unwrap_or_default();
        println!(
            "\n  *** DEMO CONFIGURATION ***\n  user `demo`, password `{}` (also in {}).\n  \
             At the first sign-in the IdP shows a QR code: scan it with an authenticator app\n  \
             (or `oathtool --totp -b SECRET` with the key shown) and type the code to confirm.\n  \
             The demo signing key is generated in {}; never use this configuration beyond\n  \
             this machine: give a real one with --config or IDFORGE_CONFIG.\n",
            password.trim(),
            data_dir.join("demo-password").display(),
            data_dir.display()
        );
    }
    let signal = tokio::spawn(async move {
        idforge_examples::process::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    idp.serve(listener, stopped(stop_rx)).await?;
    if let Some(task) = radius_task {
        let _ = task.await;
    }
    if let Some(task) = mail_task {
        let _ = task.await;
    }
    if let Some(task) = sms_task {
        let _ = task.await;
    }
    signal.abort();
    tracing::info!("stopped");
    Ok(())
}
