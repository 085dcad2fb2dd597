//! Nothing an attacker sends makes the codec, the `Server` or the `Client` allocate per
//! datagram, and the state they keep cannot grow past its configured bounds: unknown
//! sources, malformed and forged datagrams, floods of distinct valid requests that are never
//! answered, and forged answers to the client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use idforge_radius::PacketBuilder;
use idforge_radius::VendorSpecific;
use idforge_radius::{Attribute, AttributeType, Code, Packet, SharedSecret, crypto};
use idforge_radius::{Client, ClientConfig, Credentials};
use idforge_radius::{DropReason, Event, NasClient, Server, ServerConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn assert_counter_works() {
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 8]);
    });
    assert_eq!(
        probe.count_total, 1,
        "the allocation counter does not count"
    );
}

/// A small deterministic generator (xorshift64*), so that the inputs are the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next() as u8;
        }
    }
}

/// Datagrams of every shape: random bytes, and random attributes behind a header whose
/// Length field matches, is too long, or is too short.
fn hostile_datagrams(rng: &mut Gen, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let len = rng.range(0, 5000);
            let mut d = vec![0u8; len];
            rng.fill(&mut d);
            if len >= 20 && i % 2 == 0 {
                // Plausible framing: a known code and attributes with sane-looking lengths.
                d[0] = [1u8, 4, 12, 40, 43][i % 5];
                let declared = match i % 3 {
                    0 => len.min(4096),
                    1 => len + 1,
                    _ => rng.range(20, len.min(4096)),
                };
                // Attributes that exactly fill the declared length (but for a cut last header
                // when one byte is left over).
                let end = declared.min(len);
                let mut at = 20;
                if i % 4 == 0 && end >= 38 {
                    d[20] = 80; // Message-Authenticator, well-formed but unsigned
                    d[21] = 18;
                    at = 38;
                }
                while at + 2 <= end {
                    let alen = rng.range(2, 40).min(end - at);
                    d[at] = [26u8, 1, 2, 4, 33, 79, 95][rng.range(0, 6)];
                    d[at + 1] = alen as u8;
                    at += alen;
                }
                d[2..4].copy_from_slice(&(declared as u16).to_be_bytes());
            }
            d
        })
        .collect()
}

#[test]
fn parsing_and_decoding_hostile_datagrams_does_not_allocate() {
    assert_counter_works();
    let mut rng = Gen(11);
    let datagrams = hostile_datagrams(&mut rng, 4000);
    let mut parsed = 0usize;
    let mut decoded = 0usize;
    let info = allocation_counter::measure(|| {
        for d in &datagrams {
            let Ok(p) = Packet::parse(d) else { continue };
            parsed += 1;
            for raw in p.attributes() {
                if Attribute::decode(raw).is_ok() {
                    decoded += 1;
                }
                if raw.attr_type == AttributeType::VENDOR_SPECIFIC
                    && let Ok(vsa) = VendorSpecific::decode(raw.value, raw.offset)
                {
                    decoded += vsa.sub_attributes().flatten().count();
                }
            }
            let _ = std::hint::black_box(p.find(AttributeType::PROXY_STATE));
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    // The generator must reach the attribute decoders, or this test proves nothing.
    assert!(parsed > 500, "only {parsed} datagrams parsed");
    assert!(decoded > 1000, "only {decoded} attributes decoded");
}

fn signed_request(secret: &SharedSecret, authenticator: [u8; 16], identifier: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, identifier, &authenticator);
    b.push_message_authenticator().unwrap();
    b.push(AttributeType::USER_NAME, b"flood").unwrap();
    let bytes = b.finish();
    crypto::sign(bytes, secret, None).unwrap();
    buf
}

fn server(capacity: usize) -> (Server, SharedSecret, IpAddr) {
    let secret = SharedSecret::new("bounded-secret");
    let nas = IpAddr::from([192, 0, 2, 20]);
    let config = ServerConfig {
        duplicate_capacity: capacity,
        duplicate_window: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    (
        Server::new(config, vec![NasClient::host("nas", nas, secret.clone())]),
        secret,
        nas,
    )
}

#[test]
fn server_drops_hostile_traffic_without_allocating_or_growing() {
    assert_counter_works();
    let (mut server, _secret, nas) = server(64);
    let mut rng = Gen(12);
    let datagrams = hostile_datagrams(&mut rng, 3000);
    // Distinct unknown sources: nothing may be remembered per address.
    let strangers: Vec<SocketAddr> = (0..5000u32)
        .map(|i| {
            let mut octets = [0u8; 16];
            octets[0] = 0x20;
            octets[1] = 0x01;
            octets[12..].copy_from_slice(&i.to_be_bytes());
            SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), (i % 60000) as u16 + 1)
        })
        .collect();
    let now = Instant::now();
    let mut out = Vec::with_capacity(4096);
    let info = allocation_counter::measure(|| {
        for (i, from) in strangers.iter().enumerate() {
            let d = &datagrams[i % datagrams.len()];
            assert!(matches!(
                server.handle(now, *from, d, &mut out),
                Event::Dropped(DropReason::UnknownClient)
            ));
        }
        for (i, d) in datagrams.iter().enumerate() {
            let from = SocketAddr::new(nas, (i % 60000) as u16 + 1);
            match server.handle(now, from, d, &mut out) {
                Event::Dropped(_) => {}
                other => panic!("random bytes got through: {other:?}"),
            }
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(server.unknown_clients(), 5000);
    assert_eq!(server.duplicate_cache_len(), 0);
    let id = server.lookup(nas).unwrap();
    let c = server.counters(id);
    assert_eq!(
        c.malformed
            + c.bad_authenticators
            + c.unexpected_codes
            + c.missing_message_authenticator
            + c.proxy_state_without_message_authenticator,
        3000,
        "{c:?}"
    );
}

#[test]
fn unanswered_flood_stays_within_the_duplicate_capacity() {
    assert_counter_works();
    let capacity = 32;
    let (mut server, secret, nas) = server(capacity);
    let requests: Vec<Vec<u8>> = (0..4000u32)
        .map(|i| {
            let mut auth = [0x5a; 16];
            auth[..4].copy_from_slice(&i.to_be_bytes());
            signed_request(&secret, auth, i as u8)
        })
        .collect();
    let now = Instant::now();
    let mut out = Vec::with_capacity(4096);
    let mut feed = |server: &mut Server, reqs: &[Vec<u8>], abandon_every: usize| {
        for (i, req) in reqs.iter().enumerate() {
            let from = SocketAddr::new(nas, 1000 + (i % 50) as u16);
            let Event::Request(r) = server.handle(now, from, req, &mut out) else {
                panic!("signed request dropped")
            };
            if abandon_every > 0 && i % abandon_every == 0 {
                server.abandon(&r);
            }
        }
    };
    feed(&mut server, &requests[..capacity * 2], 0);
    assert_eq!(server.duplicate_cache_len(), capacity);
    // Never answered: the pending entries are evicted oldest first, nothing grows.
    let info = allocation_counter::measure(|| feed(&mut server, &requests[capacity * 2..], 3));
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(server.duplicate_cache_len() <= capacity);

    // The same request abandoned and sent again over and over does not grow the cache either.
    let again = &requests[..1];
    let info = allocation_counter::measure(|| {
        for _ in 0..5000 {
            feed(&mut server, again, 1);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(server.duplicate_cache_len() <= capacity);
}

#[test]
fn answered_flood_reuses_answer_buffers() {
    assert_counter_works();
    let capacity = 200;
    let (mut server, secret, nas) = server(capacity);
    let requests: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let mut auth = [0xa5; 16];
            auth[..4].copy_from_slice(&i.to_be_bytes());
            signed_request(&secret, auth, i as u8)
        })
        .collect();
    let now = Instant::now();
    let mut out = Vec::with_capacity(4096);
    let mut feed = |server: &mut Server, reqs: &[Vec<u8>]| {
        for (i, req) in reqs.iter().enumerate() {
            let from = SocketAddr::new(nas, 2000 + (i % 7) as u16);
            let Event::Request(r) = server.handle(now, from, req, &mut out) else {
                panic!("signed request dropped")
            };
            server
                .answer(
                    &r,
                    Code::AccessReject,
                    &[Attribute::reply_message("no")],
                    &mut out,
                )
                .unwrap();
        }
    };
    feed(&mut server, &requests[..capacity * 2]);
    let info = allocation_counter::measure(|| feed(&mut server, &requests[capacity * 2..]));
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(server.duplicate_cache_len(), capacity);
}

#[test]
fn client_ignores_forged_answers_without_allocating() {
    assert_counter_works();
    let secret = SharedSecret::new("client-secret");
    let mut client = Client::new(ClientConfig::default(), secret);
    let mut rng = StdRng::seed_from_u64(13);
    let now = Instant::now();
    let mut out = Vec::new();
    for _ in 0..8 {
        client
            .request(
                now,
                &mut rng,
                Code::AccessRequest,
                Credentials::Pap(b"pw"),
                &[],
                &mut out,
            )
            .unwrap();
    }
    let mut datagrams = hostile_datagrams(&mut Gen(13), 3000);
    for (i, d) in datagrams.iter_mut().enumerate() {
        if d.len() >= 20 {
            // Answer codes with identifiers that are outstanding, so that the checks run.
            d[0] = [2u8, 3, 11][i % 3];
            d[1] = (i % 8) as u8;
        }
    }
    let info = allocation_counter::measure(|| {
        for d in &datagrams {
            assert!(client.handle_response(d).is_err());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(client.outstanding(), 8);
    assert_eq!(client.counters().dropped_responses, 3000);
}
