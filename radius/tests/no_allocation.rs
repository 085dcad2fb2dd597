//! Once warm, the server core answers PAP requests (with and without Message-Authenticator,
//! duplicate cache on) without allocating.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use idforge_radius::crypto::MAX_PASSWORD_LEN;
use idforge_radius::{Attribute, AttributeType, Code, Packet, SharedSecret};
use idforge_radius::{Client, ClientConfig, Credentials};
use idforge_radius::{Event, NasClient, Server, ServerConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn warm_server_does_not_allocate() {
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 8]);
    });
    assert_eq!(probe.count_total, 1);

    let secret = SharedSecret::new("alloc-secret");
    let nas: SocketAddr = "192.0.2.7:4000".parse().unwrap();
    let clients = vec![
        NasClient::host("nas", nas.ip(), secret.clone()).allow_missing_message_authenticator(),
        NasClient::host(
            "other",
            IpAddr::from([192, 0, 2, 8]),
            SharedSecret::new("x"),
        ),
    ];
    let config = ServerConfig {
        duplicate_capacity: 64,
        duplicate_window: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(3);
    let now = Instant::now();
    // 512 distinct requests, half of them without Message-Authenticator.
    let requests: Vec<Vec<u8>> = (0..512)
        .map(|i| {
            let mut out = Vec::new();
            let mut client = Client::new(ClientConfig::default(), secret.clone());
            client
                .request(
                    now,
                    &mut rng,
                    Code::AccessRequest,
                    Credentials::Pap(if i % 3 == 0 { b"bad" } else { b"good" }),
                    &[Attribute::text(AttributeType::USER_NAME, "alloc")],
                    &mut out,
                )
                .unwrap();
            assert!(
                Packet::parse(&out)
                    .unwrap()
                    .message_authenticator_is_first()
            );
            if i % 2 == 1 {
                // Remove Message-Authenticator (first attribute) to exercise the opt-out path.
                let mut stripped = out[..20].to_vec();
                stripped.extend_from_slice(&out[38..]);
                let len = stripped.len() as u16;
                stripped[2..4].copy_from_slice(&len.to_be_bytes());
                return stripped;
            }
            out
        })
        .collect();
    let mut out = Vec::with_capacity(4096);
    let mut buf = [0u8; MAX_PASSWORD_LEN];
    let mut run = |server: &mut Server, reqs: &[Vec<u8>], out: &mut Vec<u8>| {
        for req in reqs {
            match server.handle(now, nas, req, out) {
                Event::Request(r) => {
                    let ok = server.user_password_into(&r, &mut buf).unwrap() == b"good";
                    let code = if ok {
                        Code::AccessAccept
                    } else {
                        Code::AccessReject
                    };
                    server
                        .answer(&r, code, &[Attribute::reply_message("hello")], out)
                        .unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
    };
    // Each server's hash map has its own random seed, and whether evictions leave the table
    // needing a resize depends on where entries land: try many servers, not one.
    for round in 0..32 {
        let mut server = Server::new(config.clone(), clients.clone());
        // Warm up: fill the cache and its buffer pool.
        run(&mut server, &requests[..256], &mut out);
        let info = allocation_counter::measure(|| run(&mut server, &requests[256..], &mut out));
        assert_eq!(info.count_total, 0, "server {round}: {info:?}");
        assert!(server.duplicate_cache_len() <= 64);
    }
}

#[test]
fn ms_chap2_verification_and_accept_attributes_do_not_allocate() {
    use idforge_radius::microsoft::MsChap2Response;
    use idforge_radius::mschap::{self, MppeSalts, MsChap2Accept};

    let secret = SharedSecret::new("alloc-secret");
    let (challenge, peer_challenge, ra) = ([1u8; 16], [2u8; 16], [3u8; 16]);
    let hash = mschap::nt_password_hash("hello");
    let nt = mschap::generate_nt_response(&challenge, &peer_challenge, b"bob", &hash);
    let response = MsChap2Response {
        ident: 1,
        flags: 0,
        peer_challenge: &peer_challenge,
        nt_response: &nt,
    };
    let mut rng = StdRng::seed_from_u64(4);
    let counts = allocation_counter::measure(|| {
        let success = mschap::authenticate_ms_chap2(&challenge, &response, b"bob", &hash).unwrap();
        let accept = MsChap2Accept::new(&secret, &ra, &success, MppeSalts::random(&mut rng));
        std::hint::black_box(accept.attributes());
        let keys = mschap::MsChapMppeKeys::ms_chap1(None, &hash);
        let hidden = mschap::hide_ms_chap_mppe_keys(&secret, &ra, &keys);
        std::hint::black_box(mschap::recover_ms_chap_mppe_keys(&secret, &ra, &hidden).unwrap());
        let value = mschap::hide_mppe_key(&secret, &ra, [0x80, 1], success.mppe_keys().send_key());
        std::hint::black_box(mschap::recover_mppe_key(&secret, &ra, &value).unwrap());
    });
    assert_eq!(counts.count_total, 0);
}
