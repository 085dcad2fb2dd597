//! The web IdP under load, each figure next to its floor measured in the same run:
//!
//! - (a) IdP-initiated SSO responses per second for signed-in sessions
//!   (`POST /apps/{id}/launch`), against (b) bare RSA-2048 signatures per second with the same
//!   key and backend on every core;
//! - (c) password logins per second (`GET /login`, `POST /login`, a fresh session each time),
//!   against (d) bare argon2id hashes per second with the configured parameters on every core.
//!
//! `cargo xtask bench idp` runs it in the bench profile. The IdP runs in this process on its
//! own runtime (one worker per core, as the `idp` binary runs it) on 127.0.0.1, over a
//! temporary SQLite store with a few hundred users. The load generator is a second runtime
//! with one thread: one keep-alive HTTP/1.1 connection per client (hyper). Measurements are
//! bounded by time and by a request count. They are interleaved (b, a, d, c, then again) in a
//! few rounds, after a short warm-up each, so that a floor and its figure see the same load
//! from whatever else runs on the machine.
//!
//! Options (after `--`): `--seconds N` measured per figure over all rounds (default 12, at
//! most 20), `--rounds N` (default 3), `--clients N` concurrent connections (default 48),
//! `--users N` (default 300), `--max-requests N` per figure (default 200000), `--store-dir
//! DIR` where the temporary store is made (default the system's temporary directory; a tmpfs
//! such as `/dev/shm` shows what the store's fsyncs cost), `--only LETTERS` to run some
//! figures only (`--only a` for a profiler's view of SSO), `--floor-threads N` threads for the
//! floors (default one per core; more shows what oversubscribing the cores costs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss,
    missing_docs
)]

#[path = "support/measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use idforge_examples::config::{Config, PasswordSettings};
use idforge_examples::idp::Idp;
use idforge_examples::service::Service;
use idforge_examples::store::NewUser;
use idforge_saml::create_self_signed;
use idforge_saml::{AwsLcRsSigner, Signer as _};

const PASSWORD: &str = "bench-correct-horse-battery";
const APP: &str = "sp-bench";
const WARM_UP: Duration = Duration::from_millis(500);
const MAX_SECONDS: u64 = 20;
/// About the size of a SignedInfo element after canonicalization.
const SIGNED_INFO_LEN: usize = 700;

struct Options {
    seconds: u64,
    rounds: u64,
    clients: usize,
    users: usize,
    max_requests: u64,
    store_dir: Option<PathBuf>,
    only: String,
    floor_threads: usize,
}

impl Options {
    /// One round's window for one figure.
    fn window(&self) -> Arc<Window> {
        Window::new(
            Duration::from_secs(self.seconds) / u32::try_from(self.rounds).unwrap_or(1),
            self.max_requests.div_ceil(self.rounds),
        )
    }
}

fn options() -> Options {
    let mut o = Options {
        seconds: 12,
        rounds: 3,
        clients: 48,
        users: 300,
        max_requests: 200_000,
        store_dir: None,
        only: "abcd".into(),
        floor_threads: cores(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        let number = |name: &str, v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}"))
        };
        match arg.as_str() {
            // Passed by `cargo bench`.
            "--bench" => {}
            "--seconds" => o.seconds = number("--seconds", value("--seconds")),
            "--rounds" => o.rounds = number("--rounds", value("--rounds")),
            "--clients" => o.clients = number("--clients", value("--clients")) as usize,
            "--users" => o.users = number("--users", value("--users")) as usize,
            "--max-requests" => {
                o.max_requests = number("--max-requests", value("--max-requests"));
            }
            "--store-dir" => o.store_dir = Some(PathBuf::from(value("--store-dir"))),
            "--only" => o.only = value("--only"),
            "--floor-threads" => {
                o.floor_threads = number("--floor-threads", value("--floor-threads")) as usize;
            }
            other => panic!(
                "unknown option {other:?} (options: --seconds N, --rounds N, --clients N, \
                 --users N, --max-requests N, --store-dir DIR, --only LETTERS, \
                 --floor-threads N)"
            ),
        }
    }
    o.seconds = o.seconds.clamp(1, MAX_SECONDS);
    o.rounds = o.rounds.clamp(1, o.seconds);
    o.clients = o.clients.max(1);
    o.floor_threads = o.floor_threads.max(1);
    o.users = o.users.max(o.clients);
    o.max_requests = o.max_requests.max(o.rounds);
    o
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The 1-minute load average, for the record.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------------------------------------
// Measurement windows and results

/// One round of one figure: a warm-up, then the measured window. An operation counts when it
/// ends inside the window (steady-state throughput: the operations still running when the
/// window closes are finished but not counted, so that a slow operation's drain time does not
/// dilute the rate). At most `max` operations start in the window.
struct Window {
    measure_from: Instant,
    end: Instant,
    max: u64,
    started: AtomicU64,
}

impl Window {
    fn new(measured: Duration, max: u64) -> Arc<Window> {
        let now = Instant::now();
        Arc::new(Window {
            measure_from: now + WARM_UP,
            end: now + WARM_UP + measured,
            max,
            started: AtomicU64::new(0),
        })
    }

    /// The start of the next operation, or `None` when the window is over.
    fn begin(&self) -> Option<Instant> {
        let now = Instant::now();
        if now >= self.end {
            return None;
        }
        if now >= self.measure_from && self.started.fetch_add(1, Ordering::Relaxed) >= self.max {
            return None;
        }
        Some(now)
    }
}

/// What one client or thread saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: u64,
    first_failure: Option<String>,
    last_done: Option<Instant>,
}

impl Tally {
    fn record(&mut self, window: &Window, started: Instant, result: Result<(), String>) {
        let done = Instant::now();
        if done < window.measure_from || done > window.end {
            return;
        }
        self.last_done = self.last_done.max(Some(done));
        match result {
            Ok(()) => self.latencies.push(done - started),
            Err(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert(e);
            }
        }
    }
}

/// One figure, over one round or summed over all.
struct Measured {
    label: &'static str,
    latencies: Vec<Duration>,
    failed: u64,
    elapsed: Duration,
}

impl Measured {
    fn from_tallies(label: &'static str, window: &Window, tallies: Vec<Tally>) -> Measured {
        let mut latencies = Vec::new();
        let mut failed = 0;
        let mut last_done = None;
        for t in tallies {
            latencies.extend(t.latencies);
            failed += t.failed;
            last_done = last_done.max(t.last_done);
            if let Some(e) = t.first_failure {
                eprintln!("{label}: a request failed: {e}");
            }
        }
        // The whole window, or up to the last operation when the count cap ended it early.
        let capped = window.started.load(Ordering::Relaxed) > window.max;
        let until = match last_done {
            Some(done) if capped => done,
            _ => window.end,
        };
        Measured {
            label,
            latencies,
            failed,
            elapsed: until.saturating_duration_since(window.measure_from),
        }
    }

    fn add(total: &mut Option<Measured>, round: &Measured) {
        let total = total.get_or_insert_with(|| Measured {
            label: round.label,
            latencies: Vec::new(),
            failed: 0,
            elapsed: Duration::ZERO,
        });
        total.latencies.extend_from_slice(&round.latencies);
        total.failed += round.failed;
        total.elapsed += round.elapsed;
    }

    fn ok(&self) -> u64 {
        self.latencies.len() as u64
    }

    fn rate(&self) -> f64 {
        measure::rate(self.ok(), self.elapsed)
    }

    /// The `q`th percentile (nearest rank).
    fn percentile(&mut self, q: usize) -> Duration {
        measure::permille(&mut self.latencies, q * 10)
    }
}

fn ratio(figure: Option<&Measured>, floor: Option<&Measured>) -> Option<f64> {
    measure::ratio(figure.map(Measured::rate), floor.map(Measured::rate))
}

/// Runs `work` on `threads` OS threads until the window closes.
fn on_threads<W>(
    label: &'static str,
    window: &Arc<Window>,
    threads: usize,
    work: &Arc<W>,
) -> Measured
where
    W: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let window = window.clone();
            let work = work.clone();
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                while let Some(started) = window.begin() {
                    let result = work();
                    tally.record(&window, started, result);
                }
                tally
            })
        })
        .collect();
    let tallies = handles
        .into_iter()
        .map(|h| h.join().expect("worker thread"))
        .collect();
    Measured::from_tallies(label, window, tallies)
}

// ---------------------------------------------------------------------------------------------
// The IdP under test

struct Server {
    addr: SocketAddr,
    key_pem: String,
    passwords: PasswordSettings,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn config_text(dir: &std::path::Path, store_key: &str) -> String {
    let d = dir.display();
    format!(
        r#"data_dir = "{d}/data"
groups = ["Staff"]

[store]
encryption_key = "{store_key}"

[idp]
signing_key = "file:{d}/idp-key.pem"
certificate = "{d}/idp-cert.pem"
login_rate_per_minute = 100000000

[[apps]]
id = "{APP}"
name = "Bench SP"
kind = "saml"
entity_id = "https://sp.bench/metadata"
acs_url = "https://sp.bench/acs"
groups = ["Staff"]

[policy.default]
first_factor = "local_password"
second_factor = "none"
"#
    )
}

fn start_server(opts: &Options) -> Server {
    let dir = match &opts.store_dir {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let (cert, key) = create_self_signed(
        &mut rand::rng(),
        "idforge bench IdP",
        Utc::now() - TimeDelta::minutes(5),
        TimeDelta::days(30),
    )
    .expect("signing key");
    let key_pem = key.as_str().to_owned();
    std::fs::write(dir.path().join("idp-key.pem"), &key_pem).expect("write key");
    std::fs::write(dir.path().join("idp-cert.pem"), cert.to_pem()).expect("write certificate");
    let store_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let config =
        Config::from_toml(&config_text(dir.path(), &store_key), "bench.toml").expect("config");
    let passwords = config.passwords;
    let users = opts.users;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("idp-server")
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let service = Arc::new(Service::open(config).await.expect("service"));
            create_users(&service, users).await;
            let idp = Idp::new(service).await.expect("idp");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("listen");
            ready_tx
                .send(listener.local_addr().expect("address"))
                .expect("ready");
            idp.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
    });
    let addr = ready_rx.recv().expect("the IdP did not start");
    Server {
        addr,
        key_pem,
        passwords,
        stop: Some(stop),
        thread: Some(thread),
        _dir: dir,
    }
}

fn username(i: usize) -> String {
    format!("user{i:05}")
}

/// `users` local users in Staff with the same password (one hash: every verification costs
/// the same).
async fn create_users(service: &Service, users: usize) {
    let hash = service.hasher().hash(PASSWORD).expect("hash");
    let store = service.store();
    for i in 0..users {
        let name = username(i);
        let user = store
            .create_user(&NewUser {
                name: name.clone(),
                email: Some(format!("{name}@example.com")),
                source: "local".into(),
                ..NewUser::default()
            })
            .await
            .expect("create user");
        store
            .set_password_hash(user.id, &hash)
            .await
            .expect("set password");
        store.add_member(&name, "Staff").await.expect("add member");
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator: a browser's cookies over one keep-alive connection

struct Reply {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<(String, String)>,
    body: String,
}

struct Connection {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    fn new(addr: SocketAddr) -> Connection {
        Connection {
            addr,
            host: addr.to_string(),
            sender: None,
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("nodelay: {e}"))?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| "no connection".into())
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        browser: &Browser,
        form: Option<String>,
    ) -> Result<Reply, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host);
        let cookies = browser.cookie_header();
        if !cookies.is_empty() {
            req = req.header(header::COOKIE, cookies);
        }
        let body = match form {
            Some(f) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Full::new(Bytes::from(f))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| format!("request: {e}"))?;
        let sender = self.connect().await?;
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let result = sender.send_request(req).await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("{path}: {e}"));
            }
        };
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("{path}: body: {e}"))?
            .to_bytes();
        let cookies = parts
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(Reply {
            status: parts.status,
            location: parts
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            cookies,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// A browser's cookies and the CSRF token of the last form it saw.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
    csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.cookies {
            if !out.is_empty() {
                out.push_str("; ");
            }
            let _ = write!(out, "{name}={value}");
        }
        out
    }

    fn take(&mut self, reply: &Reply) {
        for (name, value) in &reply.cookies {
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.clone(), value.clone()));
            }
        }
        if let Some(csrf) = csrf_of(&reply.body) {
            csrf.clone_into(&mut self.csrf);
        }
    }
}

/// The value of the first `name="csrf"` input.
fn csrf_of(body: &str) -> Option<&str> {
    let rest = &body[body.find("name=\"csrf\"")?..];
    let rest = &rest[rest.find("value=\"")? + "value=\"".len()..];
    Some(&rest[..rest.find('"')?])
}

/// `application/x-www-form-urlencoded`.
fn form(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `GET /login`, then `POST /login` with the right password: a 303 to the dashboard.
async fn log_in(conn: &mut Connection, browser: &mut Browser, user: &str) -> Result<(), String> {
    let page = conn.send(Method::GET, "/login", browser, None).await?;
    if page.status != StatusCode::OK {
        return Err(format!("GET /login: {}", page.status));
    }
    browser.take(&page);
    let body = form(&[
        ("csrf", &browser.csrf),
        ("username", user),
        ("password", PASSWORD),
    ]);
    let done = conn
        .send(Method::POST, "/login", browser, Some(body))
        .await?;
    if done.status != StatusCode::SEE_OTHER || done.location.as_deref() != Some("/") {
        return Err(format!(
            "POST /login for {user}: {} to {:?}",
            done.status, done.location
        ));
    }
    browser.take(&done);
    Ok(())
}

/// A signed-in browser with the dashboard's CSRF token.
async fn signed_in(conn: &mut Connection, user: &str) -> Browser {
    let mut browser = Browser::default();
    log_in(conn, &mut browser, user).await.expect("log in");
    let dashboard = conn
        .send(Method::GET, "/", &browser, None)
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status, StatusCode::OK, "dashboard");
    assert!(
        dashboard.body.contains(&format!("/apps/{APP}/launch")),
        "the dashboard lists the bench SP"
    );
    browser.take(&dashboard);
    browser
}

async fn launch(conn: &mut Connection, browser: &mut Browser) -> Result<(), String> {
    let body = form(&[("csrf", &browser.csrf)]);
    let reply = conn
        .send(
            Method::POST,
            &format!("/apps/{APP}/launch"),
            browser,
            Some(body),
        )
        .await?;
    if reply.status != StatusCode::OK || !reply.body.contains("name=\"SAMLResponse\"") {
        return Err(format!("launch: {} without a SAMLResponse", reply.status));
    }
    browser.take(&reply);
    Ok(())
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("idp-load-client")
        .enable_all()
        .build()
        .expect("client runtime")
}

/// A signed-in browser on its own connection.
type Session = (Connection, Browser);

/// One session per client, each for another user.
async fn sessions(opts: &Options, addr: SocketAddr) -> Vec<Session> {
    let mut all = Vec::new();
    for i in 0..opts.clients {
        let mut conn = Connection::new(addr);
        let browser = signed_in(&mut conn, &username(i)).await;
        all.push((conn, browser));
    }
    all
}

/// (a) Every signed-in session launches the application over and over.
async fn sso(window: Arc<Window>, sessions: &mut Vec<Session>) -> Measured {
    let tasks: Vec<_> = sessions
        .drain(..)
        .map(|(mut conn, mut browser)| {
            let window = window.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while let Some(started) = window.begin() {
                    let result = launch(&mut conn, &mut browser).await;
                    tally.record(&window, started, result);
                }
                (conn, browser, tally)
            })
        })
        .collect();
    let mut tallies = Vec::new();
    for t in tasks {
        let (conn, browser, tally) = t.await.expect("client task");
        sessions.push((conn, browser));
        tallies.push(tally);
    }
    Measured::from_tallies("(a) SSO responses, signed-in session", &window, tallies)
}

/// (c) `clients` clients log in with a fresh session each time, cycling through the users so
/// that no two concurrent logins share one.
async fn logins(window: Arc<Window>, opts: &Options, addr: SocketAddr) -> Measured {
    let next_user = Arc::new(AtomicUsize::new(0));
    let users = opts.users;
    let tasks: Vec<_> = (0..opts.clients)
        .map(|_| {
            let window = window.clone();
            let next_user = next_user.clone();
            tokio::spawn(async move {
                let mut conn = Connection::new(addr);
                let mut tally = Tally::default();
                while let Some(started) = window.begin() {
                    let user = username(next_user.fetch_add(1, Ordering::Relaxed) % users);
                    let mut browser = Browser::default();
                    let result = log_in(&mut conn, &mut browser, &user).await;
                    tally.record(&window, started, result);
                }
                tally
            })
        })
        .collect();
    let mut tallies = Vec::new();
    for t in tasks {
        tallies.push(t.await.expect("client task"));
    }
    Measured::from_tallies("(c) password logins (GET + POST /login)", &window, tallies)
}

/// (b) The IdP's signature: RSA-2048 PKCS#1 v1.5 SHA-256 over a SignedInfo-sized message.
fn signature(key_pem: &str) -> Arc<impl Fn() -> Result<(), String> + Send + Sync + 'static> {
    let signer = AwsLcRsSigner::from_pem(key_pem).expect("signer");
    let message = vec![b'x'; SIGNED_INFO_LEN];
    Arc::new(move || {
        signer
            .sign(std::hint::black_box(&message))
            .map(|s| {
                std::hint::black_box(s);
            })
            .map_err(|e| e.to_string())
    })
}

/// (d) argon2id with the configured memory, passes and lanes, as a login verifies.
fn hash(
    settings: PasswordSettings,
) -> Arc<impl Fn() -> Result<(), String> + Send + Sync + 'static> {
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        Some(32),
    )
    .expect("argon2 parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    Arc::new(move || {
        let mut out = [0u8; 32];
        argon2
            .hash_password_into(
                std::hint::black_box(PASSWORD.as_bytes()),
                b"a-16-byte-salt!!",
                &mut out,
            )
            .map(|()| {
                std::hint::black_box(out);
            })
            .map_err(|e| e.to_string())
    })
}

fn main() {
    let opts = options();
    let setup = Instant::now();
    let server = start_server(&opts);
    let argon = server.passwords;
    let load_before = load_average();
    println!(
        "idp load: {} cores, {} clients (keep-alive HTTP/1.1), {} users; {} s measured per \
         figure in {} rounds (each after {} ms of warm-up), at most {} requests; argon2id \
         m={} KiB t={} p={}; set-up {:.1} s; load average {load_before}",
        cores(),
        opts.clients,
        opts.users,
        opts.seconds,
        opts.rounds,
        WARM_UP.as_millis(),
        opts.max_requests,
        argon.memory_kib,
        argon.iterations,
        argon.parallelism,
        setup.elapsed().as_secs_f64(),
    );
    let run = |letter: char| opts.only.contains(letter);
    let client = client_runtime();
    let mut browsers = if run('a') {
        client.block_on(sessions(&opts, server.addr))
    } else {
        Vec::new()
    };
    let signature = signature(&server.key_pem);
    let hash = hash(server.passwords);
    let (mut sso_all, mut rsa_all, mut login_all, mut argon2_all) = (None, None, None, None);
    for round in 1..=opts.rounds {
        let mut line = format!("round {round}:");
        let mut show = |m: &Measured, total: &mut Option<Measured>| {
            let _ = write!(line, " {} {:.0}/s;", &m.label[..3], m.rate());
            Measured::add(total, m);
        };
        let rb = run('b').then(|| {
            let m = on_threads(
                "(b) bare RSA-2048 signatures",
                &opts.window(),
                opts.floor_threads,
                &signature,
            );
            show(&m, &mut rsa_all);
            m
        });
        let ra = run('a').then(|| {
            let m = client.block_on(sso(opts.window(), &mut browsers));
            show(&m, &mut sso_all);
            m
        });
        let rd = run('d').then(|| {
            let m = on_threads(
                "(d) bare argon2id hashes",
                &opts.window(),
                opts.floor_threads,
                &hash,
            );
            show(&m, &mut argon2_all);
            m
        });
        let rc = run('c').then(|| {
            let m = client.block_on(logins(opts.window(), &opts, server.addr));
            show(&m, &mut login_all);
            m
        });
        if let Some(r) = ratio(ra.as_ref(), rb.as_ref()) {
            let _ = write!(line, " a/b {r:.2};");
        }
        if let Some(r) = ratio(rc.as_ref(), rd.as_ref()) {
            let _ = write!(line, " c/d {r:.2};");
        }
        println!("{}", line.trim_end_matches(';'));
    }
    drop(browsers);
    drop(client);
    drop(server);

    println!();
    println!("| measurement | rate | p50 | p99 | done | failed |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for m in [&mut sso_all, &mut rsa_all, &mut login_all, &mut argon2_all]
        .into_iter()
        .flatten()
    {
        let (p50, p99) = (m.percentile(50), m.percentile(99));
        println!(
            "| {} | {:.0}/s | {} | {} | {} in {:.1} s | {} |",
            m.label,
            m.rate(),
            measure::millis(p50),
            measure::millis(p99),
            measure::thousands(m.ok()),
            m.elapsed.as_secs_f64(),
            m.failed,
        );
    }
    println!();
    if let Some(r) = ratio(sso_all.as_ref(), rsa_all.as_ref()) {
        println!("a/b = {r:.2} (goal >= 0.8)");
    }
    if let Some(r) = ratio(login_all.as_ref(), argon2_all.as_ref()) {
        println!("c/d = {r:.2} (goal >= 0.9)");
    }
    println!(
        "load average {load_before} before, {} after (this benchmark's own threads count too)",
        load_average()
    );
}
