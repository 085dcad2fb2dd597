//! The RADIUS server under load, next to a peer and a ceiling measured in the same run with
//! the same load generator:
//!
//! - (o) our server in `otp-only` mode over a SQLite store on disk: every request is another
//!   enrolled user with the code of its TOTP secret valid now, so every Access-Accept includes
//!   the replay guard's write, committed (fsync'd, `synchronous = FULL`) before the answer
//!   leaves;
//! - (f) FreeRADIUS (`freeradius -f`) answering plain PAP from its `files` module for the same
//!   number of users (skipped with a message when `freeradius` is not installed);
//! - (e) a bare UDP echo server (receive, send the datagram back): the ceiling of this machine
//!   for the generator and the loopback path.
//!
//! `cargo xtask bench radius` runs it in the bench profile. Our server and the echo server run
//! in this process on their own runtime (one worker per core, as the `radius-server` binary
//! runs it) on 127.0.0.1. The load generator is a second runtime with one thread: several UDP
//! sockets, each with its own `idforge_radius::Client` and a window of requests in
//! flight. A socket sends as many requests as its window allows, then reads every answer that
//! is waiting before it sends again (one wake-up for many datagrams each way). Answers are
//! verified by the client (Response Authenticator, identifier); only Access-Accepts count, and
//! an echo counts when it is the request sent, byte for byte. A request not answered within a
//! second counts as failed.
//!
//! Measurements are bounded by time and by a request count, and interleaved (e, o, f, then
//! again) in a few rounds after a short warm-up each, so that each figure sees the same load
//! from whatever else runs on the machine. Our server's figure is also bounded by the number
//! of users: no user is asked twice.
//!
//! Options (after `--`): `--seconds N` measured per figure over all rounds (default 9, at
//! most 30), `--rounds N` (default 3), `--sockets N` generator sockets (default 4), `--window
//! N` requests in flight per socket (default 32, at most 255), `--users N` (default 100000),
//! `--max-requests N` per figure (default 1000000), `--store-dir DIR` where the store is made
//! (default the system's temporary directory), `--only LETTERS` to run some figures only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::too_many_lines,
    missing_docs
)]

#[path = "support/measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::radius_server::{RadiusServer, RadiusServerSettings};
use idforge_examples::service::Service;
use idforge_examples::store::{NewFactor, NewUser};
use idforge_otp::{Algorithm, Digits, Secret, Totp};
use idforge_radius::{Attribute, AttributeType, Code, SharedSecret};
use idforge_radius::{Client, ClientConfig, Credentials};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;

const SECRET: &str = "bench-radius-secret";
const WARM_UP: Duration = Duration::from_millis(500);
const MAX_SECONDS: u64 = 30;
/// A request without an answer after this long is lost.
const LOST_AFTER: Duration = Duration::from_secs(1);
const PERIOD: u64 = 30;

struct Options {
    seconds: u64,
    rounds: u64,
    sockets: usize,
    window: usize,
    users: usize,
    max_requests: u64,
    store_dir: Option<PathBuf>,
    only: String,
}

impl Options {
    /// One round's window for one figure with at most `max` requests over all rounds.
    fn round(&self, max: u64) -> Arc<Window> {
        Window::new(
            Duration::from_secs(self.seconds) / u32::try_from(self.rounds).unwrap_or(1),
            max.div_ceil(self.rounds),
        )
    }
}

fn options() -> Options {
    let mut o = Options {
        seconds: 9,
        rounds: 3,
        sockets: 4,
        window: 32,
        users: 100_000,
        max_requests: 1_000_000,
        store_dir: None,
        only: "eof".into(),
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
            "--sockets" => o.sockets = number("--sockets", value("--sockets")) as usize,
            "--window" => o.window = number("--window", value("--window")) as usize,
            "--users" => o.users = number("--users", value("--users")) as usize,
            "--max-requests" => {
                o.max_requests = number("--max-requests", value("--max-requests"));
            }
            "--store-dir" => o.store_dir = Some(PathBuf::from(value("--store-dir"))),
            "--only" => o.only = value("--only"),
            other => panic!(
                "unknown option {other:?} (options: --seconds N, --rounds N, --sockets N, \
                 --window N, --users N, --max-requests N, --store-dir DIR, --only LETTERS)"
            ),
        }
    }
    o.seconds = o.seconds.clamp(1, MAX_SECONDS);
    o.rounds = o.rounds.clamp(1, o.seconds);
    o.sockets = o.sockets.clamp(1, 64);
    o.window = o.window.clamp(1, 255);
    o.users = o.users.max(o.sockets * o.window);
    o.max_requests = o.max_requests.max(o.rounds);
    o
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The 1-minute load average, for the record.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ---------------------------------------------------------------------------------------------
// Measurement windows and results (as in idp_load.rs)

/// One round of one figure: a warm-up, then the measured window. A request counts when its
/// answer arrives inside the window. At most `max` requests start in the window.
struct Window {
    measure_from: Instant,
    end: Instant,
    max: u64,
    started: AtomicU64,
    /// Set when the source ran out of users: the window ends at the last answer.
    exhausted: AtomicBool,
}

impl Window {
    fn new(measured: Duration, max: u64) -> Arc<Window> {
        let now = Instant::now();
        Arc::new(Window {
            measure_from: now + WARM_UP,
            end: now + WARM_UP + measured,
            max,
            started: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
        })
    }

    /// The start of the next request, or `None` when the window is over.
    fn begin(&self, now: Instant) -> Option<Instant> {
        if now >= self.end {
            return None;
        }
        if now >= self.measure_from && self.started.fetch_add(1, Ordering::Relaxed) >= self.max {
            return None;
        }
        Some(now)
    }
}

/// What one generator socket saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: u64,
    first_failure: Option<String>,
    last_done: Option<Instant>,
    /// Wake-ups that found answers, and the answers they found (the batching).
    reads: u64,
    answers: u64,
}

impl Tally {
    fn record(
        &mut self,
        window: &Window,
        started: Instant,
        done: Instant,
        result: Result<(), String>,
    ) {
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
    reads: u64,
    answers: u64,
}

impl Measured {
    fn from_tallies(label: &'static str, window: &Window, tallies: Vec<Tally>) -> Measured {
        let mut m = Measured {
            label,
            latencies: Vec::new(),
            failed: 0,
            elapsed: Duration::ZERO,
            reads: 0,
            answers: 0,
        };
        let mut last_done = None;
        for t in tallies {
            m.latencies.extend(t.latencies);
            m.failed += t.failed;
            m.reads += t.reads;
            m.answers += t.answers;
            last_done = last_done.max(t.last_done);
            if let Some(e) = t.first_failure {
                eprintln!("{label}: a request failed: {e}");
            }
        }
        // The whole window, or up to the last answer when the count cap ended it early.
        let capped = window.started.load(Ordering::Relaxed) > window.max
            || window.exhausted.load(Ordering::Relaxed);
        let until = match last_done {
            Some(done) if capped => done,
            _ => window.end,
        };
        m.elapsed = until.saturating_duration_since(window.measure_from);
        m
    }

    fn add(total: &mut Option<Measured>, round: &Measured) {
        let total = total.get_or_insert_with(|| Measured {
            label: round.label,
            latencies: Vec::new(),
            failed: 0,
            elapsed: Duration::ZERO,
            reads: 0,
            answers: 0,
        });
        total.latencies.extend_from_slice(&round.latencies);
        total.failed += round.failed;
        total.elapsed += round.elapsed;
        total.reads += round.reads;
        total.answers += round.answers;
    }

    fn ok(&self) -> u64 {
        self.latencies.len() as u64
    }

    fn rate(&self) -> f64 {
        measure::rate(self.ok(), self.elapsed)
    }

    /// The `q`th per-mille (nearest rank).
    fn permille(&mut self, q: usize) -> Duration {
        measure::permille(&mut self.latencies, q)
    }
}

fn ratio(figure: Option<&Measured>, floor: Option<&Measured>) -> Option<f64> {
    measure::ratio(figure.map(Measured::rate), floor.map(Measured::rate))
}

// ---------------------------------------------------------------------------------------------
// Users

fn username(i: usize) -> String {
    format!("user{i:06}")
}

/// User `i`'s TOTP secret (20 bytes, different for every user).
fn totp_secret(i: usize) -> Secret {
    let mut bytes = [0u8; 20];
    let tag = format!("bench-totp-{i:08}");
    bytes[..tag.len()].copy_from_slice(tag.as_bytes());
    Secret::from_bytes(&bytes).expect("secret")
}

fn freeradius_password(i: usize) -> String {
    format!("pw-{i:06}")
}

/// What the generator asks for: a user name and a password for request number `n`, or `None`
/// when no user is left.
trait Source: Send + Sync {
    fn next(&self, now_unix: u64, user: &mut String, password: &mut String) -> bool;

    /// True when no user is left: later rounds of this figure are skipped.
    fn used_up(&self) -> bool {
        false
    }
}

/// Each of our users once, with the code of its secret valid now.
struct OurUsers {
    totps: Vec<Totp>,
    next: AtomicUsize,
}

impl Source for OurUsers {
    fn next(&self, now_unix: u64, user: &mut String, password: &mut String) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(totp) = self.totps.get(i) else {
            return false;
        };
        user.clear();
        let _ = write!(user, "user{i:06}");
        password.clear();
        let _ = write!(password, "{}", totp.generate_step(now_unix / PERIOD));
        true
    }

    fn used_up(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.totps.len()
    }
}

/// The same users in turn with their FreeRADIUS passwords (or anything, for the echo).
struct PapUsers {
    users: usize,
    next: AtomicUsize,
}

impl Source for PapUsers {
    fn next(&self, _now_unix: u64, user: &mut String, password: &mut String) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.users;
        user.clear();
        let _ = write!(user, "user{i:06}");
        password.clear();
        let _ = write!(password, "pw-{i:06}");
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Our server

struct Ours {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    totps: Vec<Totp>,
}

fn config_text(db: &Path, key: &str) -> String {
    let url = format!("sqlite://{}", db.display());
    format!(
        r#"
[store]
url = "{url}"
encryption_key = "{key}"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "workspaces"
kind = "radius"
radius_mode = "otp-only"

[policy.default]
first_factor = "local_password"
second_factor = "required"
methods = ["totp"]

[[radius.clients]]
name = "localhost"
source = "127.0.0.0/8"
secret = "{SECRET}"
"#
    )
}

/// Creates the users on a scratch store in memory-backed `/dev/shm` when there is one (one
/// fsync per insert on disk would take minutes), then copies the closed database to `disk`,
/// where the benchmark's store runs with its usual durability.
async fn make_store(users: usize, disk: &Path, key: &str) {
    let scratch_parent = Path::new("/dev/shm");
    let scratch = if scratch_parent.is_dir() {
        tempfile::tempdir_in(scratch_parent)
    } else {
        tempfile::tempdir()
    }
    .expect("scratch directory");
    let db = scratch.path().join("db");
    let config = Config::from_toml(&config_text(&db, key), "bench.toml").expect("config");
    let service = Service::open(config).await.expect("scratch service");
    let store = service.store();
    for i in 0..users {
        let user = store
            .create_user(&NewUser {
                name: username(i),
                source: "local".into(),
                ..NewUser::default()
            })
            .await
            .expect("create user");
        store
            .add_factor(user.id, &NewFactor::totp("phone", &totp_secret(i)))
            .await
            .expect("add factor");
    }
    store.close().await;
    drop(service);
    for suffix in ["", "-wal", "-shm"] {
        let from = scratch.path().join(format!("db{suffix}"));
        if from.exists() {
            fs::copy(&from, disk.with_file_name(format!("db{suffix}"))).expect("copy store");
        }
    }
}

async fn start_ours(opts: &Options, dir: &Path) -> Ours {
    let key = Key::generate().expect("key").to_base64().to_string();
    let db = dir.join("db");
    let users = opts.users;
    let text = config_text(&db, &key);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        make_store(users, &db, &key).await;
        let config = Config::from_toml(&text, "bench.toml").expect("config");
        let service = Arc::new(Service::open(config).await.expect("service"));
        let settings = RadiusServerSettings {
            listen: vec!["127.0.0.1:0".parse().expect("address")],
            app: Some("workspaces".into()),
            reject_delay: Duration::ZERO,
            ..RadiusServerSettings::default()
        };
        let server = RadiusServer::bind(service, settings).await.expect("bind");
        let _ = ready_tx.send(server.local_addrs()[0]);
        server
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    let addr = ready_rx.await.expect("our server did not start");
    let totps = (0..opts.users)
        .map(|i| Totp::new(&totp_secret(i), Algorithm::Sha1, Digits::SIX, PERIOD).expect("totp"))
        .collect();
    Ours {
        addr,
        stop: Some(stop),
        totps,
    }
}

// ---------------------------------------------------------------------------------------------
// The echo server

async fn start_echo() -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("echo socket"));
    let addr = socket.local_addr().expect("echo address");
    for _ in 0..cores() {
        let socket = socket.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let _ = socket.send_to(&buf[..len], from).await;
            }
        });
    }
    addr
}

// ---------------------------------------------------------------------------------------------
// FreeRADIUS

struct FreeRadius {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn freeradius_binary() -> Option<PathBuf> {
    ["/usr/sbin/freeradius", "/usr/sbin/radiusd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn site(port: u16) -> String {
    format!(
        r"server idforge {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {port}
	}}
	authorize {{
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
	}}
	post-auth {{
		Post-Auth-Type REJECT {{
			ok
		}}
	}}
}}
"
    )
}

fn start_freeradius(users: usize) -> Option<FreeRadius> {
    let Some(bin) = freeradius_binary() else {
        eprintln!(
            "radius load: FreeRADIUS SKIPPED: freeradius not found (apt-get install freeradius)"
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let raddb = dir.path().join("raddb");
    let status = Command::new("cp")
        .arg("-a")
        .arg("/etc/freeradius/3.0")
        .arg(&raddb)
        .status()
        .expect("cp");
    assert!(status.success(), "cannot copy /etc/freeradius/3.0");
    let conf = fs::read_to_string(raddb.join("radiusd.conf")).expect("radiusd.conf");
    let conf = conf
        .lines()
        .map(|l| match l.trim() {
            "user = freerad" | "group = freerad" => format!("#{l}"),
            "reject_delay = 1" => "\treject_delay = 0".to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(raddb.join("radiusd.conf"), conf).expect("radiusd.conf");
    for entry in fs::read_dir(raddb.join("mods-enabled")).expect("mods-enabled") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if !["always", "pap", "files"].contains(&name.to_str().unwrap_or_default()) {
            fs::remove_file(entry.path()).expect("remove module");
        }
    }
    for entry in fs::read_dir(raddb.join("sites-enabled")).expect("sites-enabled") {
        fs::remove_file(entry.expect("entry").path()).expect("remove site");
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port();
    fs::write(raddb.join("sites-enabled/idforge"), site(port)).expect("site");
    fs::write(
        raddb.join("clients.conf"),
        format!("client localhost {{\n\tipaddr = 127.0.0.1\n\tsecret = {SECRET}\n}}\n"),
    )
    .expect("clients.conf");
    let mut authorize = String::new();
    for i in 0..users {
        let _ = writeln!(
            authorize,
            "{}\tCleartext-Password := \"{}\"",
            username(i),
            freeradius_password(i)
        );
    }
    fs::write(raddb.join("mods-config/files/authorize"), authorize).expect("users");
    let log = dir.path().join("log");
    let child = Command::new(bin)
        .args(["-f", "-l"])
        .arg(&log)
        .arg("-d")
        .arg(&raddb)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start freeradius");
    let mut fr = FreeRadius {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to process requests") {
            return Some(fr);
        }
        if let Some(status) = fr.child.try_wait().expect("wait") {
            panic!("freeradius exited with {status}:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "freeradius did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answers {
    /// Verified Access-Accepts count.
    Accepts,
    /// The request itself, byte for byte, counts.
    Echoes,
}

/// One generator socket: keeps `window` requests in flight until the window closes, then
/// waits for the last answers (at most [`LOST_AFTER`]).
async fn drive(
    target: SocketAddr,
    answers: Answers,
    in_flight: usize,
    window: Arc<Window>,
    source: Arc<dyn Source>,
) -> Tally {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("socket");
    socket.connect(target).await.expect("connect");
    let echo = answers == Answers::Echoes;
    let config = ClientConfig {
        // FreeRADIUS 3.2.1 answers without Message-Authenticator.
        require_message_authenticator: false,
        retransmit_interval: if echo { Duration::ZERO } else { LOST_AFTER },
        max_attempts: 1,
    };
    let mut client = Client::new(config, SharedSecret::new(SECRET));
    let mut rng = StdRng::seed_from_u64(rand::random());
    // Per identifier: when it was sent and its Request Authenticator.
    let mut pending: Vec<Option<(Instant, [u8; 16])>> = vec![None; 256];
    let mut outstanding = 0usize;
    let mut tally = Tally::default();
    let (mut user, mut password) = (String::new(), String::new());
    let mut out = Vec::with_capacity(256);
    let mut scratch = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut sending = true;
    let mut next_sweep = Instant::now() + LOST_AFTER;
    loop {
        // Send until the window of requests in flight is full.
        let now = Instant::now();
        let unix = unix_now();
        while sending && outstanding < in_flight {
            let Some(started) = window.begin(now) else {
                sending = false;
                break;
            };
            if !source.next(unix, &mut user, &mut password) {
                window.exhausted.store(true, Ordering::Relaxed);
                sending = false;
                break;
            }
            let id = client
                .request(
                    now,
                    &mut rng,
                    Code::AccessRequest,
                    Credentials::Pap(password.as_bytes()),
                    &[Attribute::text(AttributeType::USER_NAME, &user)],
                    &mut out,
                )
                .expect("request");
            if echo {
                // The echo is no answer the client could verify: the generator matches it.
                let _ = client.handle_timeout(now, &mut scratch);
            }
            let mut authenticator = [0u8; 16];
            authenticator.copy_from_slice(&out[4..20]);
            // The client forgot the echoed requests: an identifier whose request got no echo
            // comes round again after 255 others.
            if let Some((lost, _)) = pending[usize::from(id)].replace((started, authenticator)) {
                tally.record(&window, lost, now, Err("no echo".into()));
            } else {
                outstanding += 1;
            }
            loop {
                match socket.try_send(&out) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        socket.writable().await.expect("writable");
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
        }
        if !sending && outstanding == 0 {
            break;
        }
        // Read every answer that is waiting.
        let wait = next_sweep.saturating_duration_since(Instant::now());
        if tokio::time::timeout(wait, socket.readable()).await.is_ok() {
            let mut found = 0;
            loop {
                let len = match socket.try_recv(&mut buf) {
                    Ok(len) => len,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("receive: {e}"),
                };
                found += 1;
                let done = Instant::now();
                let datagram = &buf[..len];
                if len < 20 {
                    continue;
                }
                let id = usize::from(datagram[1]);
                let Some((started, authenticator)) = pending[id] else {
                    continue;
                };
                let result = if echo {
                    if datagram[4..20] != authenticator {
                        continue;
                    }
                    Ok(())
                } else {
                    match client.handle_response(datagram) {
                        Ok(r) if r.code() == Code::AccessAccept => Ok(()),
                        Ok(r) => Err(format!("{:?} for a valid request", r.code())),
                        Err(_) => continue,
                    }
                };
                pending[id] = None;
                outstanding -= 1;
                tally.record(&window, started, done, result);
            }
            tally.reads += u64::from(found > 0);
            tally.answers += found;
        }
        // Give up on requests without an answer for too long.
        let now = Instant::now();
        if now >= next_sweep {
            next_sweep = now + LOST_AFTER / 4;
            if !echo {
                while client.handle_timeout(now, &mut scratch).is_some() {}
            }
            for slot in &mut pending {
                if let Some((started, _)) = *slot
                    && now - started >= LOST_AFTER
                {
                    *slot = None;
                    outstanding -= 1;
                    tally.record(&window, started, now, Err("no answer".into()));
                }
            }
        }
    }
    tally
}

async fn generate(
    label: &'static str,
    target: SocketAddr,
    answers: Answers,
    opts: &Options,
    window: Arc<Window>,
    source: Arc<dyn Source>,
) -> Measured {
    let tasks: Vec<_> = (0..opts.sockets)
        .map(|_| {
            tokio::spawn(drive(
                target,
                answers,
                opts.window,
                window.clone(),
                source.clone(),
            ))
        })
        .collect();
    let mut tallies = Vec::new();
    for t in tasks {
        tallies.push(t.await.expect("generator task"));
    }
    Measured::from_tallies(label, &window, tallies)
}

fn main() {
    let opts = options();
    let setup = Instant::now();
    let run = |letter: char| opts.only.contains(letter);
    let servers = tokio::runtime::Builder::new_multi_thread()
        .thread_name("radius-server")
        .enable_all()
        .build()
        .expect("server runtime");
    let generator = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("radius-load")
        .enable_all()
        .build()
        .expect("generator runtime");
    let store_dir = match &opts.store_dir {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let mut ours = run('o').then(|| servers.block_on(start_ours(&opts, store_dir.path())));
    let echo = run('e').then(|| servers.block_on(start_echo()));
    let freeradius = if run('f') {
        start_freeradius(opts.users)
    } else {
        None
    };
    let load_before = load_average();
    println!(
        "radius load: {} cores, generator: 1 thread, {} sockets x {} requests in flight; {} \
         users; {} s measured per figure in {} rounds (each after {} ms of warm-up), at most \
         {} requests; store in {}; set-up {:.1} s; load average {load_before}",
        cores(),
        opts.sockets,
        opts.window,
        opts.users,
        opts.seconds,
        opts.rounds,
        WARM_UP.as_millis(),
        opts.max_requests,
        store_dir.path().display(),
        setup.elapsed().as_secs_f64(),
    );
    let our_users: Option<Arc<dyn Source>> = ours.as_mut().map(|o| {
        Arc::new(OurUsers {
            totps: std::mem::take(&mut o.totps),
            next: AtomicUsize::new(0),
        }) as Arc<dyn Source>
    });
    let pap_users: Arc<dyn Source> = Arc::new(PapUsers {
        users: opts.users,
        next: AtomicUsize::new(0),
    });
    // Our server's users are used once each, the warm-ups' included.
    let our_max = opts.max_requests.min(opts.users as u64);
    let (mut echo_all, mut ours_all, mut fr_all) = (None, None, None);
    for round in 1..=opts.rounds {
        let mut line = format!("round {round}:");
        // Users are asked once each; a round after the last one has no (o).
        let left = our_users.as_ref().filter(|users| {
            let used_up = users.used_up();
            if used_up {
                let _ = write!(line, " (o) skipped, every user was asked (--users);");
            }
            !used_up
        });
        let mut show = |m: &Measured, total: &mut Option<Measured>| {
            let _ = write!(line, " {} {:.0}/s;", &m.label[..3], m.rate());
            Measured::add(total, m);
        };
        let re = echo.map(|addr| {
            let m = generator.block_on(generate(
                "(e) bare UDP echo",
                addr,
                Answers::Echoes,
                &opts,
                opts.round(opts.max_requests),
                pap_users.clone(),
            ));
            show(&m, &mut echo_all);
            m
        });
        let ro = ours.as_ref().zip(left).map(|(o, users)| {
            let m = generator.block_on(generate(
                "(o) idforge otp-only, SQLite on disk",
                o.addr,
                Answers::Accepts,
                &opts,
                opts.round(our_max),
                users.clone(),
            ));
            show(&m, &mut ours_all);
            m
        });
        let rf = freeradius.as_ref().map(|fr| {
            let m = generator.block_on(generate(
                "(f) FreeRADIUS PAP, files",
                fr.addr,
                Answers::Accepts,
                &opts,
                opts.round(opts.max_requests),
                pap_users.clone(),
            ));
            show(&m, &mut fr_all);
            m
        });
        if let Some(r) = ratio(ro.as_ref(), rf.as_ref()) {
            let _ = write!(line, " o/f {r:.2};");
        }
        if let Some(r) = ratio(ro.as_ref(), re.as_ref()) {
            let _ = write!(line, " o/e {r:.2};");
        }
        println!("{}", line.trim_end_matches(';'));
    }
    if let Some(stop) = ours.as_mut().and_then(|o| o.stop.take()) {
        let _ = stop.send(());
    }
    drop(freeradius);
    drop(generator);
    servers.shutdown_timeout(Duration::from_secs(5));

    println!();
    println!("| measurement | rate | p50 | p90 | p99 | p99.9 | done | failed | answers per read |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for m in [&mut echo_all, &mut ours_all, &mut fr_all]
        .into_iter()
        .flatten()
    {
        let (p50, p90, p99, p999) = (
            m.permille(500),
            m.permille(900),
            m.permille(990),
            m.permille(999),
        );
        println!(
            "| {} | {:.0}/s | {} | {} | {} | {} | {} in {:.1} s | {} | {:.1} |",
            m.label,
            m.rate(),
            measure::millis(p50),
            measure::millis(p90),
            measure::millis(p99),
            measure::millis(p999),
            measure::thousands(m.ok()),
            m.elapsed.as_secs_f64(),
            m.failed,
            m.answers as f64 / (m.reads as f64).max(1.0),
        );
    }
    println!();
    if let Some(r) = ratio(ours_all.as_ref(), fr_all.as_ref()) {
        println!("o/f = {r:.2} (goal >= 2)");
    }
    if let Some(r) = ratio(ours_all.as_ref(), echo_all.as_ref()) {
        println!("o/e = {r:.2} (goal >= 0.5)");
    }
    if let Some(r) = ratio(fr_all.as_ref(), echo_all.as_ref()) {
        println!("f/e = {r:.2}");
    }
    println!(
        "load average {load_before} before, {} after (this benchmark's own threads count too)",
        load_average()
    );
}
