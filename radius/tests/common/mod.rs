//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;

/// Reads `key = hex` lines of a vector file.
pub fn vectors(name: &str) -> HashMap<String, Vec<u8>> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("bad line {l}"));
            (k.trim().to_owned(), hex(v.trim()))
        })
        .collect()
}

pub use idforge_test_support::hex;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use idforge_radius::mschap::{
    self, MppeSalts, MsChap1Request, MsChap2Request, MsChapErrorCode, MsChapMppeKeys,
};
use idforge_radius::{Attribute, AttributeType, Code};
use idforge_radius::{Event, NasClient, Request, Server, ServerConfig};

pub use idforge_test_support::peers_required;

/// Finds a peer binary, or returns `None` after printing a skip message (panics when peers are
/// required).
pub fn peer(bin: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|d| PathBuf::from(d).join(bin))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !peers_required(),
            "peer `{bin}` is missing (install Debian packages freeradius freeradius-utils)"
        );
        eprintln!("SKIP: peer `{bin}` not installed; install freeradius and freeradius-utils");
    }
    found
}

/// The password database of the test server.
pub const USERS: &[(&str, &str)] = &[("bob", "hello"), ("carol", "chappy")];

fn password_of(user: &str) -> Option<&'static str> {
    USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p)
}

/// What the test application answers: a code, attributes, and Vendor-Specific values.
pub type Decision = (Code, Vec<Attribute<'static>>, Vec<Vec<u8>>);

/// The test application: PAP, CHAP, MS-CHAPv2 and MS-CHAPv1 against [`USERS`], user `chal`
/// gets a challenge, accounting and Status-Server are acknowledged. MS-CHAPv2 is accepted with
/// MS-CHAP2-Success and the MPPE keys and rejected with MS-CHAP-Error; MS-CHAPv1 is accepted
/// with MS-CHAP-MPPE-Keys (LM key from the LM hash).
pub fn decide(server: &Server, req: &Request<'_>) -> Decision {
    match req.packet().code() {
        Code::AccountingRequest => (Code::AccountingResponse, vec![], vec![]),
        Code::StatusServer => (Code::AccessAccept, vec![], vec![]),
        _ => {
            let user = req.user_name().unwrap_or_default();
            if user == "chal" {
                return (
                    Code::AccessChallenge,
                    vec![
                        Attribute::state(b"idforge-state"),
                        Attribute::reply_message("enter code"),
                    ],
                    vec![],
                );
            }
            let Some(expected) = password_of(user) else {
                return (
                    Code::AccessReject,
                    vec![Attribute::reply_message("unknown user")],
                    vec![],
                );
            };
            if let Some(decision) = decide_ms_chap(server, req, expected) {
                return decision;
            }
            let ok = if req.packet().find(AttributeType::CHAP_PASSWORD).is_some() {
                server.verify_chap(req, expected.as_bytes()).is_ok()
            } else {
                server
                    .user_password(req)
                    .is_ok_and(|p| p.as_slice() == expected.as_bytes())
            };
            if ok {
                (
                    Code::AccessAccept,
                    vec![Attribute::reply_message("welcome")],
                    vec![],
                )
            } else {
                (
                    Code::AccessReject,
                    vec![Attribute::reply_message("wrong password")],
                    vec![],
                )
            }
        }
    }
}

fn decide_ms_chap(server: &Server, req: &Request<'_>, password: &str) -> Option<Decision> {
    let hash = mschap::nt_password_hash(password);
    let vsa = |attr: &Attribute<'_>| {
        let mut v = Vec::new();
        attr.encode_value(&mut v);
        v
    };
    if let Ok(request) = MsChap2Request::from_packet(req.packet()) {
        if let Ok(success) = server.verify_ms_chap2(req, &hash) {
            let salts = MppeSalts::random(&mut rand::rng());
            let accept = server.ms_chap2_accept(req, &success, salts).unwrap();
            let vsas = accept.attributes().iter().map(vsa).collect();
            return Some((Code::AccessAccept, vec![], vsas));
        }
        let mut error = Vec::new();
        request
            .error(MsChapErrorCode::AuthenticationFailure)
            .encode_vendor_specific(&mut error)
            .unwrap();
        return Some((Code::AccessReject, vec![], vec![error]));
    }
    if MsChap1Request::from_packet(req.packet()).is_ok() {
        return Some(match server.verify_ms_chap1(req, &hash) {
            Ok(()) => {
                let lm = mschap::lm_password_hash(password);
                let keys = MsChapMppeKeys::ms_chap1(Some(&lm), &hash);
                let accept = server.ms_chap1_accept(req, &keys).unwrap();
                (Code::AccessAccept, vec![], vec![vsa(&accept.attribute())])
            }
            Err(_) => (Code::AccessReject, vec![], vec![]),
        });
    }
    None
}

/// A UDP server on 127.0.0.1 driven by [`Server`] in a thread; stopped and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Server>>,
}

impl TestServer {
    pub fn start(config: ServerConfig, clients: Vec<NasClient>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut server = Server::new(config, clients);
            let mut buf = vec![0u8; 4096];
            let mut out = Vec::with_capacity(4096);
            // Bounded in time: a test server never outlives two minutes.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                match server.handle(Instant::now(), from, &buf[..len], &mut out) {
                    Event::Request(req) => {
                        let (code, attrs, vsas) = decide(&server, &req);
                        let mut attrs: Vec<Attribute<'_>> = attrs;
                        attrs.extend(
                            vsas.iter()
                                .map(|v| Attribute::octets(AttributeType::VENDOR_SPECIFIC, v)),
                        );
                        let to = server.answer(&req, code, &attrs, &mut out).unwrap();
                        socket.send_to(&out, to).unwrap();
                    }
                    Event::Retransmit(to) => {
                        socket.send_to(&out, to).unwrap();
                    }
                    _ => {}
                }
            }
            server
        });
        Self {
            addr,
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the server and returns it (for its counters).
    pub fn finish(mut self) -> Server {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
