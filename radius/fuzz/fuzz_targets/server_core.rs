//! Feeds datagrams to a `Server` (the first byte picks the source, the clock step, whether
//! the datagram is signed with the right secret first so that it reaches the application,
//! and whether the application answers) and answers the requests it yields; nothing may
//! panic, and the duplicate cache stays bounded.
#![no_main]

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use idforge_radius::{Event, NasClient, Server, ServerConfig};
use idforge_radius::{Attribute, Code, SharedSecret, crypto};
use libfuzzer_sys::fuzz_target;

struct State {
    server: Server,
    now: Instant,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let state = guard.get_or_insert_with(|| {
        let config = ServerConfig {
            duplicate_capacity: 64,
            duplicate_window: Duration::from_secs(5),
            ..ServerConfig::default()
        };
        let clients = vec![
            NasClient::new("lab", "127.0.0.0/8".parse().unwrap(), SharedSecret::new("xyzzy5461")),
            NasClient::new("lax", "10.0.0.0/8".parse().unwrap(), SharedSecret::new("xyzzy5461"))
                .allow_missing_message_authenticator(),
        ];
        State {
            server: Server::new(config, clients),
            now: Instant::now(),
        }
    });
    state.now += Duration::from_millis(u64::from(selector & 0x0f) * 250);
    let from: SocketAddr = match selector >> 6 {
        0 => "127.0.0.1:1000".parse().unwrap(),
        1 => "10.1.1.1:2000".parse().unwrap(),
        2 => "[::ffff:127.0.0.1]:1000".parse().unwrap(),
        _ => "192.0.2.1:3000".parse().unwrap(),
    };
    let mut signed = datagram.to_vec();
    if selector & 0x20 != 0 {
        // Past the authenticator checks: sign whatever parses (requests and responses alike).
        let _ = crypto::sign(&mut signed, &SharedSecret::new("xyzzy5461"), Some(&[7; 16]));
    }
    let mut out = Vec::new();
    let now = state.now;
    if let Event::Request(req) = state.server.handle(now, from, &signed, &mut out) {
        let _ = state.server.user_password(&req);
        let _ = state.server.verify_chap(&req, b"password");
        // MS-CHAP attributes of arbitrary shape: found, refused or verified, never a panic.
        let hash = [0x11; 16];
        if let Ok(success) = state.server.verify_ms_chap2(&req, &hash) {
            let salts = idforge_radius::mschap::MppeSalts::new([0, 1], [0, 2]).expect("distinct");
            let _ = state.server.ms_chap2_accept(&req, &success, salts);
        }
        let _ = state.server.verify_ms_chap1(&req, &hash);
        let code = match req.packet().code() {
            Code::AccessRequest | Code::StatusServer => Code::AccessAccept,
            Code::AccountingRequest => Code::AccountingResponse,
            Code::CoaRequest => Code::CoaAck,
            _ => Code::DisconnectAck,
        };
        if selector & 0x10 == 0 {
            // Answers can exceed 4096 bytes when many Proxy-States are echoed: an error, no panic.
            let _ = state.server.answer(&req, code, &[Attribute::reply_message("ok")], &mut out);
        } else {
            state.server.abandon(&req);
        }
    }
    assert!(state.server.duplicate_cache_len() <= 64);
});
