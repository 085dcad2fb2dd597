//! `radius-server`: the idforge RADIUS server for AWS WorkSpaces (Directory Service MFA) and
//! VPNs. Thin over [`idforge_examples::radius_server`]: reads the configuration, opens the
//! service core, listens until SIGTERM or Ctrl-C, then finishes the requests in flight.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use idforge_examples::config::Config;
use idforge_examples::radius_server::{
    DEFAULT_LISTEN, RadiusServer, RadiusServerSettings, check_config, mode_name,
};
use idforge_examples::service::Service;

/// The idforge RADIUS server.
#[derive(Debug, Parser)]
#[command(name = "radius-server", version, about)]
struct Args {
    /// The configuration file (else IDFORGE_CONFIG, else the built-in demo configuration).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// An address to listen on; repeat for several (IPv4 or IPv6). Default: the
    /// configuration's `radius.listen`, else 127.0.0.1:1812.
    #[arg(long = "listen", value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// The RADIUS application to answer for (default: the configuration's `radius.app`, else
    /// the first app of kind radius).
    #[arg(long, value_name = "ID")]
    app: Option<String>,
    /// Milliseconds an Access-Reject waits before it is sent.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    reject_delay_ms: u64,
    /// Serve Prometheus metrics on http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Check the configuration and exit: 0 when it is usable, 2 when not.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("radius-server: {e}");
            return ExitCode::from(2);
        }
    };
    idforge_examples::process::init_tracing(config.log.format);
    let settings = RadiusServerSettings {
        listen: if !args.listen.is_empty() {
            args.listen.clone()
        } else if !config.radius.listen.is_empty() {
            config.radius.listen.clone()
        } else {
            vec![DEFAULT_LISTEN]
        },
        app: args.app.clone().or_else(|| config.radius.app.clone()),
        reject_delay: Duration::from_millis(args.reject_delay_ms),
        metrics_listen: args.metrics,
        ..RadiusServerSettings::default()
    };
    let app = match check_config(&config, &settings) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("radius-server: {}: {e}", config.origin);
            return ExitCode::from(2);
        }
    };
    if let Err(e) = idforge_examples::mail::check(&config) {
        eprintln!("radius-server: {}: {e}", config.origin);
        return ExitCode::from(2);
    }
    if let Err(e) = idforge_examples::sms::check(&config) {
        eprintln!("radius-server: {}: {e}", config.origin);
        return ExitCode::from(2);
    }
    if args.check_config {
        println!(
            "{}: ok (application `{}`, mode {}, {} NAS client(s))",
            config.origin,
            app.id,
            mode_name(app.mode),
            config.radius.clients.len()
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("radius-server: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(config, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radius-server: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(config: Config, settings: RadiusServerSettings) -> anyhow::Result<()> {
    if config.demo {
        let nas: Vec<String> = config
            .radius
            .clients
            .iter()
            .map(|c| format!("{} from {}", c.name, c.source))
            .collect();
        eprintln!(
            "\n  *** DEMO CONFIGURATION ***\n  radius-server trusts the NAS clients {} with the \
             well-known secret `testing123`\n  (FreeRADIUS's localhost convention). Never expose \
             it beyond this machine;\n  give a real configuration with --config or IDFORGE_CONFIG.\n",
            nas.join(", ")
        );
        tracing::warn!(nas = ?nas, "demo configuration: NAS 127.0.0.0/8 with secret testing123 is trusted");
    }
    let service = Arc::new(Service::open(config).await?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
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
        stopped(stop_rx),
    )?;
    let server = RadiusServer::bind(service, settings).await?;
    server
        .run(idforge_examples::process::shutdown_signal())
        .await;
    let _ = stop_tx.send(true);
    if let Some(task) = mail_task {
        let _ = task.await;
    }
    if let Some(task) = sms_task {
        let _ = task.await;
    }
    Ok(())
}
