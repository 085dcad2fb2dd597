//! The RADIUS front door: a tokio UDP server around the sans-IO [`idforge_radius::Server`]
//! that sends every Access-Request through [`Service::authenticate`].
//!
//! ```text
//!  socket(s) --recv--> receive loop --spawn--> request task --lock--> radius::Server::handle
//!                                               |  (Status-Server: answered at once)
//!                                               v
//!                                   Service::authenticate / Service::complete  (async)
//!                                               |  (Reject: wait `reject_delay` first)
//!                                               v
//!                        radius::Server::answer (signs, caches) --send_to--> NAS
//! ```
//!
//! The protocol core is a plain state machine that needs `&mut` for every datagram; it lives
//! behind a `std::sync::Mutex` that is held only for the microseconds of `handle` and
//! `answer`, never across an `await`. A verified request borrows its datagram, not the core,
//! so each request task keeps its own datagram and answers it when the service has decided:
//! many requests are in flight at once, and a delayed reject holds up nobody else.
//!
//! ## Which application, which mode
//! One server answers for one RADIUS application of the configuration: the one named by
//! [`RadiusServerSettings::app`], else the first app of kind `radius`. Its `radius_mode`
//! says how the code arrives:
//!
//! | mode | Access-Request | service call |
//! |---|---|---|
//! | `otp-only` | User-Password is the code (AWS Directory Service MFA) | `Upstream` + code |
//! | `password-only` | User-Password is the password | `Password` |
//! | `password+otp` | the last `otp.digits` characters are the code, the rest the password | `Password` + code |
//! | `challenge` | first the password, answered by Access-Challenge with a State; then the code with that State | `Password`, then [`Service::complete`] |
//!
//! Run one server (one port) per application when several NAS types need different modes.
//!
//! ## What is not answered
//! The core drops, without an answer, datagrams from unknown sources, malformed packets, bad
//! authenticators, Access-Requests without Message-Authenticator (Blast-RADIUS defaults), and
//! retransmissions of a request still being decided; retransmissions of an answered request
//! get the cached answer. This server also leaves unanswered: accounting and dynamic
//! authorization requests (it is an authentication server), requests when too many are in
//! flight, and requests the service could not decide (a store or directory failure), so that
//! the NAS retries or fails over instead of being told a wrong "no".
//!
//! Every decision is one log line (`radius decision`: NAS, user, application, mode, result,
//! audit id); passwords and codes are never logged. With
//! [`RadiusServerSettings::metrics_listen`], `GET /metrics` serves Prometheus counters:
//! decisions by result, Status-Server, retransmissions answered from the cache, datagrams
//! dropped by reason, and a histogram of decision time.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idforge_radius::mschap::{
    self, MppeSalts, MsChap1Request, MsChap2Request, MsChap2Success, MsChapErrorCode,
    MsChapMppeKeys,
};
use idforge_radius::{Attribute, AttributeType, Code, Packet, SharedSecret};
use idforge_radius::{ClientId, DropReason, Event, NasClient, Request, Server, ServerConfig};
use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use crate::config::{AppType, Config, RadiusMode, parse_prefix};
use crate::service::{
    AuthRequest, Delivery, FirstFactorInput, FrontDoor, Outcome, PENDING_TTL_SECS, PendingLogin,
    Sent, Service,
};

/// The address the demo listens on: FreeRADIUS's authentication port on loopback.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1812);

/// Bytes of random in a State attribute of an Access-Challenge.
pub const STATE_LEN: usize = 16;

/// What an Access-Challenge asks the user for.
pub const CHALLENGE_PROMPT: &str = "Enter your one-time code";

/// How the server runs: where it listens, which application it answers for, and its limits.
#[derive(Debug, Clone)]
pub struct RadiusServerSettings {
    /// Addresses to listen on (IPv4 or IPv6); default `127.0.0.1:1812`.
    pub listen: Vec<SocketAddr>,
    /// The RADIUS application (an `apps[].id` of kind `radius`); default the first one.
    pub app: Option<String>,
    /// How long an Access-Reject waits before it is sent, to slow guessing (default 1 s, like
    /// FreeRADIUS's `reject_delay`). Other requests are answered meanwhile.
    pub reject_delay: Duration,
    /// The protocol core's policy (Message-Authenticator, duplicate cache).
    pub protocol: ServerConfig,
    /// Most requests being decided at once; datagrams beyond it are dropped (default 1024).
    pub max_in_flight: u32,
    /// Most Access-Rejects waiting out the reject delay (default 16 384). They wait apart from
    /// the requests being decided, so a flood of wrong guesses does not take the slots of
    /// real requests; beyond the limit a reject is not sent at all.
    pub max_delayed_rejects: u32,
    /// Most logins waiting for their code in `challenge` mode (default 10 000).
    pub max_pending_challenges: usize,
    /// Where to serve Prometheus metrics over HTTP (`GET /metrics`); none by default.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for RadiusServerSettings {
    fn default() -> Self {
        RadiusServerSettings {
            listen: vec![DEFAULT_LISTEN],
            app: None,
            reject_delay: Duration::from_secs(1),
            protocol: ServerConfig::default(),
            max_in_flight: 1024,
            max_delayed_rejects: 16_384,
            max_pending_challenges: 10_000,
            metrics_listen: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RadiusServerError {
    /// No usable RADIUS application in the configuration.
    #[error("{0}")]
    App(String),
    /// A RADIUS client (NAS) entry is unusable.
    #[error("radius.clients[{index}] ({name}): {message}")]
    Client {
        /// Position in `radius.clients`.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A RADIUS client added with `idforge radius client add` is unusable.
    #[error("RADIUS client {name} (from the store): {message}")]
    StoredClient {
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The RADIUS clients in the store could not be read.
    #[error("reading the RADIUS clients from the store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// No address to listen on.
    #[error("no address to listen on")]
    NoListenAddress,
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// The metrics listener could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// `max_in_flight` or `max_delayed_rejects` is zero or too large.
    #[error(
        "max_in_flight and max_delayed_rejects must be 1 to {}",
        Semaphore::MAX_PERMITS
    )]
    Limits,
}

/// The RADIUS application a server answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusApp {
    /// Its id.
    pub id: String,
    /// How it takes the code.
    pub mode: RadiusMode,
}

/// Picks the application: `wanted` if given (it must be of kind `radius`), else the first
/// application of kind `radius`.
pub fn radius_app(config: &Config, wanted: Option<&str>) -> Result<RadiusApp, RadiusServerError> {
    let app = match wanted {
        Some(id) => {
            let app = config.apps.iter().find(|a| a.id == id).ok_or_else(|| {
                RadiusServerError::App(format!("no application `{id}` in {}", config.origin))
            })?;
            if app.kind != AppType::Radius {
                return Err(RadiusServerError::App(format!(
                    "application `{id}` is of kind {}, not radius",
                    app.kind
                )));
            }
            app
        }
        None => config
            .apps
            .iter()
            .find(|a| a.kind == AppType::Radius)
            .ok_or_else(|| {
                RadiusServerError::App(format!(
                    "no application of kind radius in {}",
                    config.origin
                ))
            })?,
    };
    Ok(RadiusApp {
        id: app.id.clone(),
        mode: app.radius_mode.unwrap_or_default(),
    })
}

/// The NAS table of `radius.clients`, with every secret resolved now.
pub fn nas_clients(config: &Config) -> Result<Vec<NasClient>, RadiusServerError> {
    let mut out = Vec::with_capacity(config.radius.clients.len());
    for (index, c) in config.radius.clients.iter().enumerate() {
        let fail = |message: String| RadiusServerError::Client {
            index,
            name: c.name.clone(),
            message,
        };
        let network = parse_prefix(&c.source)
            .ok_or_else(|| fail(format!("source {:?} is no address or prefix", c.source)))?;
        let secret = c
            .secret
            .resolve()
            .map_err(|e| fail(format!("secret ({}): {e}", c.secret.source())))?;
        out.push(NasClient::new(
            c.name.clone(),
            network,
            SharedSecret::new(secret.expose()),
        ));
    }
    Ok(out)
}

/// Checks what [`RadiusServer::bind`] would check, without a store or sockets: the
/// application, the NAS entries and their secrets. For `--check-config`.
pub fn check_config(
    config: &Config,
    settings: &RadiusServerSettings,
) -> Result<RadiusApp, RadiusServerError> {
    let app = radius_app(config, settings.app.as_deref())?;
    nas_clients(config)?;
    if settings.listen.is_empty() {
        return Err(RadiusServerError::NoListenAddress);
    }
    let limit = |n: u32| n == 0 || n as usize > Semaphore::MAX_PERMITS;
    if limit(settings.max_in_flight) || limit(settings.max_delayed_rejects) {
        return Err(RadiusServerError::Limits);
    }
    Ok(app)
}

/// A bound RADIUS server, ready to [`run`](RadiusServer::run).
#[derive(Debug)]
pub struct RadiusServer {
    sockets: Vec<Arc<UdpSocket>>,
    metrics: Option<tokio::net::TcpListener>,
    shared: Arc<Shared>,
}

struct Shared {
    service: Arc<Service>,
    protocol: Mutex<Server>,
    app: RadiusApp,
    digits: usize,
    reject_delay: Duration,
    challenges: Mutex<Challenges>,
    in_flight: Arc<Semaphore>,
    max_in_flight: u32,
    delayed: Arc<Semaphore>,
    max_delayed: u32,
    metrics: Metrics,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("app", &self.app)
            .field("reject_delay", &self.reject_delay)
            .finish_non_exhaustive()
    }
}

impl RadiusServer {
    /// Checks the settings against the configuration the service runs on, resolves the NAS
    /// secrets and binds every listen address.
    pub async fn bind(
        service: Arc<Service>,
        settings: RadiusServerSettings,
    ) -> Result<RadiusServer, RadiusServerError> {
        let config = service.config();
        let app = check_config(config, &settings)?;
        service.warm_cache().await?;
        let mut clients = nas_clients(config)?;
        for (name, source, secret_ref) in service.store().radius_clients().await? {
            let fail = |message: String| RadiusServerError::StoredClient {
                name: name.clone(),
                message,
            };
            if config.radius.clients.iter().any(|c| c.name == name) {
                return Err(fail(
                    "a client of that name is in the configuration too".into(),
                ));
            }
            let network = parse_prefix(&source)
                .ok_or_else(|| fail(format!("source {source:?} is no address or prefix")))?;
            let secret = crate::secret::SecretValue::parse(&secret_ref)
                .resolve()
                .map_err(|e| fail(format!("secret ({secret_ref}): {e}")))?;
            clients.push(NasClient::new(
                name.clone(),
                network,
                SharedSecret::new(secret.expose()),
            ));
        }
        let mut sockets = Vec::with_capacity(settings.listen.len());
        for &addr in &settings.listen {
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(|source| RadiusServerError::Bind { addr, source })?;
            sockets.push(Arc::new(socket));
        }
        let digits = usize::from(config.otp.digits);
        let shared = Shared {
            service: Arc::clone(&service),
            protocol: Mutex::new(Server::new(settings.protocol, clients)),
            app,
            digits,
            reject_delay: settings.reject_delay,
            challenges: Mutex::new(Challenges::new(settings.max_pending_challenges)),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight as usize)),
            max_in_flight: settings.max_in_flight,
            delayed: Arc::new(Semaphore::new(settings.max_delayed_rejects as usize)),
            max_delayed: settings.max_delayed_rejects,
            metrics: Metrics::default(),
        };
        let metrics = match settings.metrics_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| RadiusServerError::Metrics { addr, source })?,
            ),
            None => None,
        };
        Ok(RadiusServer {
            sockets,
            metrics,
            shared: Arc::new(shared),
        })
    }

    /// The bound addresses (with the port the system chose for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The address metrics are served on, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The metrics in Prometheus's text format (what `GET /metrics` answers).
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render()
    }

    /// The application this server answers for.
    pub fn app(&self) -> &RadiusApp {
        &self.shared.app
    }

    /// Serves until `shutdown` completes, then stops receiving, lets every request in flight
    /// (delayed rejects included) be answered, and returns.
    pub async fn run<F>(mut self, shutdown: F)
    where
        F: Future<Output = ()>,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics = self.metrics.take().map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "radius metrics on http://{addr}/metrics");
            }
            tokio::spawn(serve_metrics(
                Arc::clone(&self.shared),
                listener,
                stop_rx.clone(),
            ))
        });
        let mut loops = JoinSet::new();
        for socket in &self.sockets {
            loops.spawn(receive_loop(
                Arc::clone(&self.shared),
                Arc::clone(socket),
                stop_rx.clone(),
            ));
        }
        for addr in self.local_addrs() {
            tracing::info!(%addr, app = %self.shared.app.id, mode = mode_name(self.shared.app.mode), "radius server listening");
        }
        tokio::select! {
            () = shutdown => tracing::info!("radius server shutting down"),
            Some(ended) = loops.join_next() => {
                tracing::error!(?ended, "a radius receive loop ended unexpectedly");
            }
        }
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
        if let Some(task) = metrics {
            let _ = task.await;
        }
        // Every request task holds a permit: all of them back means none is in flight. A
        // task takes its reject-delay permit before it gives back its in-flight one.
        let _ = self
            .shared
            .in_flight
            .acquire_many(self.shared.max_in_flight)
            .await;
        let _ = self
            .shared
            .delayed
            .acquire_many(self.shared.max_delayed)
            .await;
        tracing::info!("radius server stopped");
    }
}

async fn receive_loop(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; idforge_radius::MAX_PACKET_LEN];
    let mut scratch = Vec::new();
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            r = socket.recv_from(&mut buf) => r,
        };
        let (len, from) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems; keep serving.
                tracing::debug!(error = %e, "radius receive failed");
                continue;
            }
        };
        if shared.drop_at_once(from, &buf[..len], &mut scratch) {
            continue;
        }
        let Ok(permit) = Arc::clone(&shared.in_flight).try_acquire_owned() else {
            shared.metrics.dropped(DropKind::Overload);
            tracing::warn!(%from, reason = "too many requests in flight", "radius datagram dropped");
            continue;
        };
        let datagram = buf[..len].to_vec();
        tokio::spawn(handle_datagram(
            Arc::clone(&shared),
            Arc::clone(&socket),
            from,
            datagram,
            permit,
        ));
    }
}

/// What the request task does after the core has seen the datagram.
enum Step<'a> {
    Request {
        request: Request<'a>,
        nas: String,
        password: Option<Zeroizing<Vec<u8>>>,
    },
    Send(SocketAddr),
    Drop(Option<DropReason>),
}

/// How an Access-Request is answered.
enum Decision {
    /// Access-Accept, with MS-CHAP2-Success and the MPPE keys when the request was MS-CHAPv2.
    Accept(Option<Box<MsChapAccept>>),
    /// Access-Reject with this Reply-Message, and an MS-CHAP-Error Vendor-Specific value when
    /// the request was MS-CHAP.
    Reject(String),
    RejectMsChap(String, Vec<u8>),
    /// Access-Challenge with this State and Reply-Message (the prompt).
    Challenge([u8; STATE_LEN], String),
    /// No answer (a service failure): the NAS retries or fails over.
    Abandon,
}

async fn handle_datagram(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    from: SocketAddr,
    datagram: Vec<u8>,
    permit: OwnedSemaphorePermit,
) {
    let mut out = Vec::with_capacity(256);
    let step = {
        let mut core = shared.core();
        match core.handle(Instant::now(), from, &datagram, &mut out) {
            Event::Request(request) => {
                let nas = core
                    .client(request.client())
                    .map_or_else(String::new, |c| c.name().to_owned());
                let password = if request.packet().code() == Code::AccessRequest {
                    core.user_password(&request).ok()
                } else {
                    None
                };
                Step::Request {
                    request,
                    nas,
                    password,
                }
            }
            Event::Retransmit(to) => Step::Send(to),
            Event::Dropped(reason) => Step::Drop(Some(reason)),
            _ => Step::Drop(None),
        }
    };
    let (request, nas, password) = match step {
        Step::Request {
            request,
            nas,
            password,
        } => (request, nas, password),
        Step::Send(to) => {
            shared.metrics.replayed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%from, "radius retransmission answered from the cache");
            send(&socket, &out, to).await;
            return;
        }
        Step::Drop(reason) => {
            shared.metrics.dropped(DropKind::of(reason.as_ref()));
            tracing::debug!(%from, ?reason, "radius datagram dropped");
            return;
        }
    };
    match request.packet().code() {
        Code::StatusServer => {
            shared.metrics.status_server.fetch_add(1, Ordering::Relaxed);
            shared
                .answer_and_send(&socket, &request, Code::AccessAccept, &[], &mut out)
                .await;
        }
        Code::AccessRequest => {
            let decision = shared.decide(&request, &nas, password).await;
            match decision {
                Decision::Accept(None) => {
                    shared
                        .answer_and_send(&socket, &request, Code::AccessAccept, &[], &mut out)
                        .await;
                }
                Decision::Accept(Some(ms)) => {
                    let built = {
                        let core = shared.core();
                        match *ms {
                            MsChapAccept::V2(success) => core
                                .ms_chap2_accept(
                                    &request,
                                    &success,
                                    MppeSalts::random(&mut rand::rng()),
                                )
                                .map(|a| a.attributes().iter().map(owned).collect::<Vec<_>>()),
                            MsChapAccept::V1(keys) => core
                                .ms_chap1_accept(&request, &keys)
                                .map(|a| vec![owned(&a.attribute())]),
                        }
                    };
                    match built {
                        Ok(attrs) => {
                            let attrs: Vec<Attribute<'_>> = attrs
                                .iter()
                                .map(|v| Attribute::octets(AttributeType::VENDOR_SPECIFIC, v))
                                .collect();
                            shared
                                .answer_and_send(
                                    &socket,
                                    &request,
                                    Code::AccessAccept,
                                    &attrs,
                                    &mut out,
                                )
                                .await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "MS-CHAP accept attributes could not be built");
                            shared.core().abandon(&request);
                        }
                    }
                }
                Decision::RejectMsChap(message, error) => {
                    if !shared.reject_delay.is_zero() {
                        let Ok(p) = Arc::clone(&shared.delayed).try_acquire_owned() else {
                            shared.metrics.dropped(DropKind::Overload);
                            tracing::warn!(%from, reason = "too many rejects waiting", "radius reject not sent");
                            return;
                        };
                        drop(permit);
                        tokio::time::sleep(shared.reject_delay).await;
                        drop(p);
                    }
                    let attrs = [
                        Attribute::octets(AttributeType::VENDOR_SPECIFIC, &error),
                        Attribute::reply_message(fit_attribute(&message)),
                    ];
                    shared
                        .answer_and_send(&socket, &request, Code::AccessReject, &attrs, &mut out)
                        .await;
                }
                Decision::Reject(message) => {
                    let mut waiting = None;
                    if !shared.reject_delay.is_zero() {
                        let Ok(p) = Arc::clone(&shared.delayed).try_acquire_owned() else {
                            // Left pending in the core: its retransmissions are dropped
                            // until the duplicate window ends, which a NAS takes as a reject.
                            shared.metrics.dropped(DropKind::Overload);
                            tracing::warn!(%from, reason = "too many rejects waiting", "radius reject not sent");
                            return;
                        };
                        waiting = Some(p);
                        drop(permit);
                        tokio::time::sleep(shared.reject_delay).await;
                    }
                    let attrs = [Attribute::reply_message(fit_attribute(&message))];
                    shared
                        .answer_and_send(&socket, &request, Code::AccessReject, &attrs, &mut out)
                        .await;
                    drop(waiting);
                }
                Decision::Challenge(state, prompt) => {
                    let attrs = [
                        Attribute::state(&state),
                        Attribute::reply_message(fit_attribute(&prompt)),
                    ];
                    shared
                        .answer_and_send(&socket, &request, Code::AccessChallenge, &attrs, &mut out)
                        .await;
                }
                Decision::Abandon => shared.core().abandon(&request),
            }
        }
        code => {
            shared.metrics.dropped(DropKind::NotAnswered);
            tracing::debug!(%from, nas = %nas, ?code, "radius request not answered: not an authentication request");
            shared.core().abandon(&request);
        }
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, to).await {
        tracing::warn!(%to, error = %e, "radius answer not sent");
    }
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Server> {
        self.protocol.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops, in the receive loop, what needs no task: datagrams from unknown sources and
    /// ones that do not parse (the core still sees and counts them). A flood of junk then
    /// takes no task and no in-flight slot from real requests.
    fn drop_at_once(&self, from: SocketAddr, datagram: &[u8], scratch: &mut Vec<u8>) -> bool {
        let mut core = self.core();
        if core.lookup(from.ip()).is_some() && Packet::parse(datagram).is_ok() {
            return false;
        }
        let event = core.handle(Instant::now(), from, datagram, scratch);
        drop(core);
        if let Event::Dropped(reason) = &event {
            self.metrics.dropped(DropKind::of(Some(reason)));
        }
        tracing::debug!(%from, ?event, "radius datagram dropped");
        true
    }

    fn challenges(&self) -> MutexGuard<'_, Challenges> {
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn answer_and_send(
        &self,
        socket: &UdpSocket,
        request: &Request<'_>,
        code: Code,
        attributes: &[Attribute<'_>],
        out: &mut Vec<u8>,
    ) {
        let to = self.core().answer(request, code, attributes, out);
        match to {
            Ok(to) => send(socket, out, to).await,
            Err(e) => {
                tracing::error!(error = %e, ?code, "radius answer could not be built");
                self.core().abandon(request);
            }
        }
    }

    /// Writes the audit entry of a refusal decided here, before the decision path; a store
    /// failure is logged and the refusal stands.
    async fn refuse(&self, base: &AuthRequest<'_>, why: &str) -> Option<i64> {
        match self.service.record_refusal(base, why).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "the audit entry of a refusal could not be written");
                None
            }
        }
    }

    /// What an Access-Challenge asks for: the code of a factor the user holds, else a code the
    /// server sends now (e-mail, SMS, the alternate address, in that order). `None` when there
    /// is neither. Security questions and sign-in links need the web IdP.
    async fn challenge_prompt(
        &self,
        pending: &PendingLogin,
        now: u64,
    ) -> Result<Option<String>, crate::service::ServiceError> {
        let choices = self.service.choices(pending).await?;
        if choices
            .iter()
            .any(|c| c.to.is_none() && c.method != "security_questions")
        {
            return Ok(Some(CHALLENGE_PROMPT.to_owned()));
        }
        for c in &choices {
            let Some(delivery) = Delivery::from_method(&c.method).filter(|d| d.is_code()) else {
                continue;
            };
            if let Sent::Sent { to, .. } = self.service.send_code(pending, delivery, now).await? {
                return Ok(Some(format!("Enter the code sent to {to}")));
            }
        }
        Ok(None)
    }

    /// Runs an Access-Request through the service in the application's mode, and logs the
    /// decision.
    async fn decide(
        &self,
        request: &Request<'_>,
        nas: &str,
        password: Option<Zeroizing<Vec<u8>>>,
    ) -> Decision {
        let started = Instant::now();
        let mode = mode_name(self.app.mode);
        let user = request.user_name().unwrap_or_default();
        let log = |result: &'static str, audit_id: Option<i64>, why: &str| {
            self.metrics.decided(result, started.elapsed());
            tracing::info!(
                nas = %nas,
                user = %user,
                application = %self.app.id,
                mode,
                result,
                audit_id,
                why,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "radius decision"
            );
        };
        let packet = request.packet();
        let calling = packet
            .find(AttributeType::CALLING_STATION_ID)
            .and_then(|a| std::str::from_utf8(a.value).ok())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        // A Calling-Station-Id that is an address is the user's (VPN clients); anything
        // else (a MAC address, a phone number) identifies the device. Without an address
        // the NAS's own address stands for the user's, for the adaptive rules and the audit;
        // the per-address lockout then does not apply, as every user behind that NAS (AWS
        // Directory Service, a VPN concentrator) shares the address.
        let calling_ip = calling.and_then(|c| c.parse::<IpAddr>().ok());
        let source_ip = calling_ip.unwrap_or_else(|| request.from().ip());
        let device = calling.filter(|_| calling_ip.is_none());
        let now = unix_now();
        let base = AuthRequest {
            username: user,
            application: &self.app.id,
            source_ip,
            source_is_client: calling_ip.is_some(),
            device,
            front_door: FrontDoor::Radius,
            now,
            first_factor: FirstFactorInput::Upstream,
            code: None,
        };
        if user.is_empty() {
            let id = self.refuse(&base, "no User-Name").await;
            log("reject", id, "no User-Name");
            return Decision::Reject(crate::service::INVALID_CREDENTIALS.into());
        }
        // CHAP (one of the protocols AWS Directory Service offers): the NAS sends a response
        // computed over the code, which the service checks against every code of the window.
        let chap = if self.app.mode == RadiusMode::OtpOnly && password.is_none() {
            packet
                .find(AttributeType::CHAP_PASSWORD)
                .map(|a| a.value.to_vec())
        } else {
            None
        };
        let ms_chap2 = if self.app.mode == RadiusMode::OtpOnly && password.is_none() {
            MsChap2Request::from_packet(packet).ok()
        } else {
            None
        };
        let ms_chap1 = if self.app.mode == RadiusMode::OtpOnly && password.is_none() {
            MsChap1Request::from_packet(packet).ok()
        } else {
            None
        };
        // The code that an MS-CHAP response proved, to build the answer's keys from.
        let proven: Mutex<Option<Zeroizing<String>>> = Mutex::new(None);
        let remember = |candidate: &str| {
            if let Ok(mut p) = proven.lock() {
                *p = Some(Zeroizing::new(candidate.to_owned()));
            }
        };
        let result = if let Some(ms) = &ms_chap2 {
            let proof = |candidate: &str| {
                let ok = ms
                    .authenticate(&mschap::nt_password_hash(candidate))
                    .is_ok();
                if ok {
                    remember(candidate);
                }
                ok
            };
            self.service.authenticate_with_proof(&base, &proof).await
        } else if let Some(ms) = &ms_chap1 {
            let proof = |candidate: &str| {
                let ok = ms.verify(&mschap::nt_password_hash(candidate)).is_ok();
                if ok {
                    remember(candidate);
                }
                ok
            };
            self.service.authenticate_with_proof(&base, &proof).await
        } else if let Some(chap) = chap {
            let challenge = idforge_radius::crypto::chap_challenge(packet).to_vec();
            let proof = move |candidate: &str| {
                idforge_radius::crypto::verify_chap(&chap, candidate.as_bytes(), &challenge).is_ok()
            };
            self.service.authenticate_with_proof(&base, &proof).await
        } else {
            let Some(password) = password else {
                // CHAP and MS-CHAP prove a secret the server must know in clear (or as an NT
                // hash); passwords are kept as argon2id hashes or checked by a directory bind,
                // so in the password modes only PAP carries something that can be checked.
                let why = if self.app.mode != RadiusMode::OtpOnly
                    && (packet.find(AttributeType::CHAP_PASSWORD).is_some()
                        || MsChap2Request::from_packet(packet).is_ok()
                        || MsChap1Request::from_packet(packet).is_ok())
                {
                    "CHAP and MS-CHAP cannot prove a password here: configure the NAS for PAP"
                } else {
                    "no User-Password or CHAP-Password"
                };
                let id = self.refuse(&base, why).await;
                log("reject", id, why);
                return Decision::Reject(crate::service::INVALID_CREDENTIALS.into());
            };
            let Ok(password) = std::str::from_utf8(&password) else {
                let id = self.refuse(&base, "User-Password is not UTF-8").await;
                log("reject", id, "User-Password is not UTF-8");
                return Decision::Reject(crate::service::INVALID_CREDENTIALS.into());
            };
            match self.app.mode {
                RadiusMode::OtpOnly => {
                    self.service
                        .authenticate(&AuthRequest {
                            code: Some(password),
                            ..base
                        })
                        .await
                }
                RadiusMode::PasswordOnly => {
                    self.service
                        .authenticate(&AuthRequest {
                            first_factor: FirstFactorInput::Password(password),
                            ..base
                        })
                        .await
                }
                RadiusMode::PasswordPlusOtp => {
                    let split = crate::service::split_yubico_otp(password)
                        .or_else(|| split_code(password, self.digits));
                    let Some((pw, code)) = split else {
                        let why = "User-Password shorter than a code";
                        let id = self.refuse(&base, why).await;
                        log("reject", id, why);
                        return Decision::Reject(crate::service::INVALID_CREDENTIALS.into());
                    };
                    self.service
                        .authenticate(&AuthRequest {
                            first_factor: FirstFactorInput::Password(pw),
                            code: Some(code),
                            ..base
                        })
                        .await
                }
                RadiusMode::Challenge => {
                    if let Some(state) = packet.find(AttributeType::STATE) {
                        let Some(pending) =
                            self.challenges().take(state.value, request.client(), user)
                        else {
                            let why = "unknown, expired or foreign State";
                            let id = self.refuse(&base, why).await;
                            log("reject", id, why);
                            return Decision::Reject(crate::service::INVALID_CREDENTIALS.into());
                        };
                        self.service.complete(pending, password, now).await
                    } else {
                        self.service
                            .authenticate(&AuthRequest {
                                first_factor: FirstFactorInput::Password(password),
                                ..base
                            })
                            .await
                    }
                }
            }
        };
        let proven = proven.into_inner().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(Outcome::Accept(accepted)) => {
                log("accept", Some(accepted.audit_id), "");
                let hash = proven.as_deref().map(|c| mschap::nt_password_hash(c));
                match (&ms_chap2, &ms_chap1, hash) {
                    (Some(ms), _, Some(hash)) => match ms.authenticate(&hash) {
                        Ok(success) => Decision::Accept(Some(Box::new(MsChapAccept::V2(success)))),
                        Err(_) => Decision::Abandon,
                    },
                    (None, Some(_), Some(hash)) => Decision::Accept(Some(Box::new(
                        MsChapAccept::V1(MsChapMppeKeys::ms_chap1(None, &hash)),
                    ))),
                    _ => Decision::Accept(None),
                }
            }
            Ok(Outcome::Reject { message, audit_id }) => {
                log("reject", Some(audit_id), "");
                if let Some(ms) = &ms_chap2 {
                    let mut error = Vec::new();
                    if ms
                        .error(MsChapErrorCode::AuthenticationFailure)
                        .encode_vendor_specific(&mut error)
                        .is_ok()
                    {
                        return Decision::RejectMsChap(message, error);
                    }
                }
                Decision::Reject(message)
            }
            Ok(Outcome::NeedSecondFactor(pending)) if self.app.mode == RadiusMode::Challenge => {
                let prompt = match self.challenge_prompt(&pending, now).await {
                    Ok(Some(prompt)) => prompt,
                    Ok(None) => {
                        let why = "no second factor the user holds or can be sent";
                        let id = self.refuse(&base, why).await;
                        log("reject", id, why);
                        return Decision::Reject(crate::service::INVALID_CREDENTIALS.into());
                    }
                    Err(e) => {
                        self.metrics.decided("error", started.elapsed());
                        tracing::error!(nas = %nas, user = %user, application = %self.app.id, error = %e, "radius request not answered: the code could not be sent");
                        return Decision::Abandon;
                    }
                };
                let Ok(state) = random_state() else {
                    log("error", None, "the system random generator failed");
                    return Decision::Abandon;
                };
                if self.challenges().insert(state, request.client(), pending) {
                    log("challenge", None, "");
                    Decision::Challenge(state, prompt)
                } else {
                    log("reject", None, "too many logins waiting for their code");
                    Decision::Reject(crate::service::INVALID_CREDENTIALS.into())
                }
            }
            Ok(Outcome::NeedSecondFactor(_)) => {
                // password-only: the policy wants a code this mode cannot carry.
                let why = "a second factor is required; the mode carries none";
                let id = self.refuse(&base, why).await;
                log("reject", id, why);
                Decision::Reject(crate::service::INVALID_CREDENTIALS.into())
            }
            Err(e) => {
                self.metrics.decided("error", started.elapsed());
                tracing::error!(nas = %nas, user = %user, application = %self.app.id, error = %e, "radius request not answered: the service failed");
                Decision::Abandon
            }
        }
    }
}

/// What an Access-Accept to an MS-CHAP request carries besides the decision.
enum MsChapAccept {
    /// MS-CHAPv2: MS-CHAP2-Success and the MPPE keys (RFC 2759, RFC 3079, RFC 2548).
    V2(MsChap2Success),
    /// MS-CHAPv1: MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1).
    V1(MsChapMppeKeys),
}

/// The value of a Vendor-Specific attribute built by the radius crate, owned so that it can
/// outlive the value it was borrowed from.
fn owned(attribute: &Attribute<'_>) -> Vec<u8> {
    match attribute.value {
        idforge_radius::Value::Octets(bytes) => bytes.to_vec(),
        _ => Vec::new(),
    }
}

/// Why a datagram got no answer, as the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropKind {
    UnknownClient,
    Malformed,
    BadAuthenticator,
    MissingMessageAuthenticator,
    ProxyState,
    UnexpectedCode,
    DuplicateInProgress,
    Overload,
    NotAnswered,
    Other,
}

const DROP_KINDS: [(DropKind, &str); 10] = [
    (DropKind::UnknownClient, "unknown_client"),
    (DropKind::Malformed, "malformed"),
    (DropKind::BadAuthenticator, "bad_authenticator"),
    (
        DropKind::MissingMessageAuthenticator,
        "missing_message_authenticator",
    ),
    (
        DropKind::ProxyState,
        "proxy_state_without_message_authenticator",
    ),
    (DropKind::UnexpectedCode, "unexpected_code"),
    (DropKind::DuplicateInProgress, "duplicate_in_progress"),
    (DropKind::Overload, "overload"),
    (DropKind::NotAnswered, "not_answered"),
    (DropKind::Other, "other"),
];

impl DropKind {
    fn of(reason: Option<&DropReason>) -> Self {
        match reason {
            Some(DropReason::UnknownClient) => DropKind::UnknownClient,
            Some(DropReason::Malformed(_)) => DropKind::Malformed,
            Some(DropReason::BadAuthenticator) => DropKind::BadAuthenticator,
            Some(DropReason::MissingMessageAuthenticator) => DropKind::MissingMessageAuthenticator,
            Some(DropReason::ProxyStateWithoutMessageAuthenticator) => DropKind::ProxyState,
            Some(DropReason::UnexpectedCode(_)) => DropKind::UnexpectedCode,
            Some(DropReason::DuplicateInProgress) => DropKind::DuplicateInProgress,
            _ => DropKind::Other,
        }
    }

    fn index(self) -> usize {
        DROP_KINDS
            .iter()
            .position(|(k, _)| *k == self)
            .unwrap_or(DROP_KINDS.len() - 1)
    }
}

/// Upper bounds (seconds) of the decision-time histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const RESULTS: [&str; 4] = ["accept", "reject", "challenge", "error"];

/// Counters for Prometheus. Decision time runs from the verified Access-Request to the
/// decision; the reject delay is not in it.
#[derive(Debug, Default)]
struct Metrics {
    decisions: [AtomicU64; RESULTS.len()],
    status_server: AtomicU64,
    replayed: AtomicU64,
    drops: [AtomicU64; DROP_KINDS.len()],
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    fn dropped(&self, kind: DropKind) {
        self.drops[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn decided(&self, result: &str, took: Duration) {
        let i = RESULTS
            .iter()
            .position(|r| *r == result)
            .unwrap_or(RESULTS.len() - 1);
        self.decisions[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(b) = LATENCY_BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Prometheus text exposition format 0.0.4.
    fn render(&self) -> String {
        use std::fmt::Write as _;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let _ = writeln!(
            out,
            "# HELP idforge_radius_decisions_total Access-Request decisions by result.\n\
             # TYPE idforge_radius_decisions_total counter"
        );
        for (name, n) in RESULTS.iter().zip(&self.decisions) {
            let _ = writeln!(
                out,
                "idforge_radius_decisions_total{{result=\"{name}\"}} {}",
                get(n)
            );
        }
        let _ = writeln!(
            out,
            "# HELP idforge_radius_status_server_total Status-Server requests answered.\n\
             # TYPE idforge_radius_status_server_total counter\n\
             idforge_radius_status_server_total {}",
            get(&self.status_server)
        );
        let _ = writeln!(
            out,
            "# HELP idforge_radius_retransmissions_answered_total Retransmissions answered from the duplicate cache.\n\
             # TYPE idforge_radius_retransmissions_answered_total counter\n\
             idforge_radius_retransmissions_answered_total {}",
            get(&self.replayed)
        );
        let _ = writeln!(
            out,
            "# HELP idforge_radius_dropped_total Datagrams left without an answer, by reason.\n\
             # TYPE idforge_radius_dropped_total counter"
        );
        for ((_, name), n) in DROP_KINDS.iter().zip(&self.drops) {
            let _ = writeln!(
                out,
                "idforge_radius_dropped_total{{reason=\"{name}\"}} {}",
                get(n)
            );
        }
        let _ = writeln!(
            out,
            "# HELP idforge_radius_decision_seconds Time from a verified Access-Request to its decision (reject delay excluded).\n\
             # TYPE idforge_radius_decision_seconds histogram"
        );
        let mut cumulative = 0;
        for (le, n) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += get(n);
            let _ = writeln!(
                out,
                "idforge_radius_decision_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let count = get(&self.latency_count);
        let sum = Duration::from_micros(get(&self.latency_sum_micros)).as_secs_f64();
        let _ = writeln!(
            out,
            "idforge_radius_decision_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             idforge_radius_decision_seconds_sum {sum}\n\
             idforge_radius_decision_seconds_count {count}"
        );
        out
    }
}

/// `GET /metrics` over HTTP (axum), until the server stops.
async fn serve_metrics(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let shared = Arc::clone(&shared);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    shared.metrics.render(),
                )
            }
        }),
    );
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::warn!(error = %e, "the metrics listener failed");
    }
}

/// The configuration name of a mode.
pub fn mode_name(mode: RadiusMode) -> &'static str {
    match mode {
        RadiusMode::OtpOnly => "otp-only",
        RadiusMode::Challenge => "challenge",
        RadiusMode::PasswordPlusOtp => "password+otp",
        RadiusMode::PasswordOnly => "password-only",
    }
}

/// Splits `password+otp` input: the last `digits` characters are the code, the rest (at least
/// one character) the password.
pub fn split_code(input: &str, digits: usize) -> Option<(&str, &str)> {
    let count = input.chars().count();
    if digits == 0 || count <= digits {
        return None;
    }
    let at = input.char_indices().nth(count - digits).map(|(i, _)| i)?;
    Some(input.split_at(at))
}

/// The longest prefix of `text`, on a character boundary, that fits one attribute.
fn fit_attribute(text: &str) -> &str {
    let max = idforge_radius::MAX_VALUE_LEN;
    if text.len() <= max {
        return text;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_state() -> Result<[u8; STATE_LEN], aws_lc_rs::error::Unspecified> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut state = [0u8; STATE_LEN];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut state)?;
    Ok(state)
}

/// Logins waiting for their code, by State. A State is good once, for the NAS and user it was
/// issued to, until it expires.
struct Challenges {
    entries: HashMap<[u8; STATE_LEN], Waiting>,
    capacity: usize,
    ttl: Duration,
}

struct Waiting {
    pending: PendingLogin,
    client: ClientId,
    expires: Instant,
}

impl Challenges {
    fn new(capacity: usize) -> Self {
        Challenges {
            entries: HashMap::new(),
            capacity,
            ttl: Duration::from_secs(PENDING_TTL_SECS),
        }
    }

    /// Remembers a pending login; `false` when the table is full of live entries.
    fn insert(&mut self, state: [u8; STATE_LEN], client: ClientId, pending: PendingLogin) -> bool {
        let now = Instant::now();
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, w| w.expires > now);
            if self.entries.len() >= self.capacity {
                return false;
            }
        }
        self.entries.insert(
            state,
            Waiting {
                pending,
                client,
                expires: now + self.ttl,
            },
        );
        true
    }

    /// Takes the pending login of a State, if it is live and was issued to this NAS and user.
    /// A State is removed when presented, whether it matches or not.
    fn take(&mut self, state: &[u8], client: ClientId, user: &str) -> Option<PendingLogin> {
        let key: [u8; STATE_LEN] = state.try_into().ok()?;
        let waiting = self.entries.remove(&key)?;
        let same_user =
            crate::store::name_key(&waiting.pending.username) == crate::store::name_key(user);
        (waiting.client == client && same_user && waiting.expires > Instant::now())
            .then_some(waiting.pending)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn long_messages_are_cut_to_one_attribute_on_a_character_boundary() {
        assert_eq!(fit_attribute("short"), "short");
        let long = "é".repeat(200);
        let cut = fit_attribute(&long);
        assert!(cut.len() <= 253 && cut.len() >= 252, "{}", cut.len());
        assert!(long.starts_with(cut));
    }

    #[test]
    fn password_plus_otp_splits_on_characters() {
        assert_eq!(split_code("hunter2123456", 6), Some(("hunter2", "123456")));
        assert_eq!(
            split_code("pässwörd12345678", 8),
            Some(("pässwörd", "12345678"))
        );
        assert_eq!(split_code("123456", 6), None);
        assert_eq!(split_code("", 6), None);
        assert_eq!(split_code("ab", 0), None);
    }

    #[test]
    fn a_state_is_good_once_for_its_nas_and_user() {
        let pending = PendingLogin {
            id: "p1".into(),
            user_id: 1,
            username: "alice".into(),
            application: "vpn".into(),
            source_ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            source_is_client: false,
            device: None,
            methods: vec!["totp".into()],
            challenged: false,
            factors: vec![],
            reasons: vec![],
            expires_at: u64::MAX,
            front_door: FrontDoor::Radius,
            questions: Vec::new(),
            remember_days: 0,
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let server = Server::new(
            ServerConfig::default(),
            vec![
                NasClient::host("a", ip("192.0.2.1"), SharedSecret::new("x")),
                NasClient::host("b", ip("192.0.2.2"), SharedSecret::new("y")),
            ],
        );
        let a = server.lookup(ip("192.0.2.1")).unwrap();
        let b = server.lookup(ip("192.0.2.2")).unwrap();
        let mut table = Challenges::new(2);
        assert!(table.insert([1; STATE_LEN], a, pending.clone()));
        assert!(table.insert([2; STATE_LEN], a, pending.clone()));
        assert!(!table.insert([3; STATE_LEN], a, pending.clone()), "full");
        assert_eq!(
            table.take(&[1; STATE_LEN], a, "ALICE"),
            Some(pending.clone())
        );
        assert_eq!(table.take(&[1; STATE_LEN], a, "alice"), None, "used once");
        assert_eq!(table.take(&[2; STATE_LEN], b, "alice"), None, "another NAS");
        assert_eq!(
            table.take(&[2; STATE_LEN], a, "alice"),
            None,
            "gone after a mismatch"
        );
        assert_eq!(table.take(&[9; 3], a, "alice"), None, "wrong length");
        assert!(table.insert([4; STATE_LEN], a, pending.clone()));
        assert_eq!(table.take(&[4; STATE_LEN], a, "bob"), None, "another user");
    }
}
