//! The sans-IO server and client driven together in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use idforge_radius::PacketBuilder;
use idforge_radius::crypto;
use idforge_radius::{Attribute, AttributeType, Code, Error, Packet, SharedSecret};
use idforge_radius::{Client, ClientConfig, Credentials, Timeout};
use idforge_radius::{DropReason, Event, NasClient, Server, ServerConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

const SECRET: &str = "testing123";

fn nas() -> SocketAddr {
    "10.1.2.3:50000".parse().unwrap()
}

fn server(config: ServerConfig, exempt: bool) -> Server {
    let mut client = NasClient::new(
        "lab",
        "10.1.0.0/16".parse().unwrap(),
        SharedSecret::new(SECRET),
    );
    if exempt {
        client = client.allow_missing_message_authenticator();
    }
    let other = NasClient::host(
        "one-host",
        "10.1.9.9".parse::<IpAddr>().unwrap(),
        SharedSecret::new("other-secret"),
    );
    Server::new(config, vec![client, other])
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

#[test]
fn pap_accept_round_trip_and_counters() {
    let mut srv = server(ServerConfig::default(), false);
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let now = Instant::now();
    let (mut req, mut out) = (Vec::new(), Vec::new());
    let id = cli
        .request(
            now,
            &mut rng(),
            Code::AccessRequest,
            Credentials::Pap(b"password"),
            &[Attribute::text(AttributeType::USER_NAME, "bob")],
            &mut req,
        )
        .unwrap();
    assert!(
        Packet::parse(&req)
            .unwrap()
            .message_authenticator_is_first()
    );
    let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
        panic!("dropped")
    };
    assert_eq!(r.user_name(), Some("bob"));
    assert_eq!(&srv.user_password(&r).unwrap()[..], b"password");
    assert_eq!(srv.verify_pap(&r, b"password"), Ok(()));
    for wrong in [&b"passwore"[..], b"Password", b"password1", b"passwor", b""] {
        assert_eq!(srv.verify_pap(&r, wrong), Err(Error::InvalidPassword));
    }
    let to = srv
        .answer(
            &r,
            Code::AccessAccept,
            &[Attribute::reply_message("hi")],
            &mut out,
        )
        .unwrap();
    assert_eq!(to, nas());
    let answer = Packet::parse(&out).unwrap();
    assert!(answer.message_authenticator_is_first());
    let resp = cli.handle_response(&out).unwrap();
    assert_eq!(resp.code(), Code::AccessAccept);
    assert_eq!(resp.packet().identifier(), id);
    let c = srv.counters(r.client());
    assert_eq!((c.access_requests, c.access_accepts), (1, 1));
    // The answer cannot be accepted twice.
    assert_eq!(
        cli.handle_response(&out).unwrap_err(),
        Error::UnknownIdentifier { identifier: id }
    );
}

#[test]
fn retransmissions_replay_the_cached_answer_and_expire() {
    let config = ServerConfig {
        duplicate_window: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let mut srv = server(config, false);
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let t0 = Instant::now();
    let (mut req, mut out) = (Vec::new(), Vec::new());
    cli.request(
        t0,
        &mut rng(),
        Code::AccessRequest,
        Credentials::Pap(b"x"),
        &[],
        &mut req,
    )
    .unwrap();
    let Event::Request(r) = srv.handle(t0, nas(), &req, &mut out) else {
        panic!()
    };
    let id = r.client();
    // Retransmitted while the application is still deciding: dropped, not re-run.
    let mut scratch = Vec::new();
    assert!(matches!(
        srv.handle(t0, nas(), &req, &mut scratch),
        Event::Dropped(DropReason::DuplicateInProgress)
    ));
    srv.answer(
        &r,
        Code::AccessReject,
        &[Attribute::reply_message("no")],
        &mut out,
    )
    .unwrap();
    let first = out.clone();
    let mut replay = Vec::new();
    assert!(matches!(
        srv.handle(t0 + Duration::from_secs(1), nas(), &req, &mut replay),
        Event::Retransmit(to) if to == nas()
    ));
    assert_eq!(replay, first);
    assert_eq!(srv.counters(id).duplicates_replayed, 1);
    assert_eq!(srv.counters(id).access_requests, 1);
    // After the window the same bytes are a new request again.
    assert!(matches!(
        srv.handle(t0 + Duration::from_secs(6), nas(), &req, &mut replay),
        Event::Request(_)
    ));
    assert_eq!(srv.counters(id).access_requests, 2);
}

#[test]
fn duplicate_cache_is_bounded() {
    let config = ServerConfig {
        duplicate_capacity: 8,
        ..ServerConfig::default()
    };
    let mut srv = server(config, false);
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let now = Instant::now();
    let mut rng = rng();
    let (mut req, mut out) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        cli.request(
            now,
            &mut rng,
            Code::AccessRequest,
            Credentials::Pap(b"x"),
            &[],
            &mut req,
        )
        .unwrap();
        let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
            panic!()
        };
        srv.answer(&r, Code::AccessAccept, &[], &mut out).unwrap();
        cli.handle_response(&out).unwrap();
        assert!(srv.duplicate_cache_len() <= 8);
    }
}

#[test]
fn blast_radius_defaults_drop_and_count() {
    let secret = SharedSecret::new(SECRET);
    let build = |with_ma: bool, proxy_state: bool, auth: u8| {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[auth; 16]);
        if with_ma {
            b.push_message_authenticator().unwrap();
        }
        b.push(AttributeType::USER_NAME, b"eve").unwrap();
        if proxy_state {
            b.push(AttributeType::PROXY_STATE, b"ps").unwrap();
        }
        let bytes = b.finish();
        crypto::sign(bytes, &secret, None).unwrap();
        buf
    };
    let plain = build(false, false, 1);
    let proxied = build(false, true, 2);
    let signed_proxied = build(true, true, 3);
    let now = Instant::now();
    let mut out = Vec::new();

    let mut strict = server(ServerConfig::default(), false);
    assert!(matches!(
        strict.handle(now, nas(), &plain, &mut out),
        Event::Dropped(DropReason::MissingMessageAuthenticator)
    ));
    let id = strict.lookup(nas().ip()).unwrap();
    assert_eq!(strict.counters(id).missing_message_authenticator, 1);
    let Event::Request(r) = strict.handle(now, nas(), &signed_proxied, &mut out) else {
        panic!()
    };
    strict
        .answer(&r, Code::AccessReject, &[], &mut out)
        .unwrap();
    // Proxy-State is echoed after everything else.
    let ans = Packet::parse(&out).unwrap();
    let last = ans.attributes().last().unwrap();
    assert_eq!(
        (last.attr_type, last.value),
        (AttributeType::PROXY_STATE, &b"ps"[..])
    );

    let mut lax = server(ServerConfig::default(), true);
    assert!(matches!(
        lax.handle(now, nas(), &plain, &mut out),
        Event::Request(_)
    ));
    assert!(matches!(
        lax.handle(now, nas(), &proxied, &mut out),
        Event::Dropped(DropReason::ProxyStateWithoutMessageAuthenticator)
    ));
    let c = lax.counters(id);
    assert_eq!(c.accepted_without_message_authenticator, 1);
    assert_eq!(c.proxy_state_without_message_authenticator, 1);

    // Wrong secret, unknown client, garbage, a response code: all dropped silently.
    let one_host: SocketAddr = "10.1.9.9:1812".parse().unwrap();
    assert!(matches!(
        strict.handle(now, one_host, &signed_proxied, &mut out),
        Event::Dropped(DropReason::BadAuthenticator)
    ));
    let stranger: SocketAddr = "192.0.2.1:1812".parse().unwrap();
    assert!(matches!(
        strict.handle(now, stranger, &signed_proxied, &mut out),
        Event::Dropped(DropReason::UnknownClient)
    ));
    assert_eq!(strict.unknown_clients(), 1);
    assert!(matches!(
        strict.handle(now, nas(), &[1, 2, 3], &mut out),
        Event::Dropped(DropReason::Malformed(Error::TooShort { len: 3 }))
    ));
    let mut resp = signed_proxied.clone();
    resp[0] = 2;
    assert!(matches!(
        strict.handle(now, nas(), &resp, &mut out),
        Event::Dropped(DropReason::UnexpectedCode(Code::AccessAccept))
    ));
    let mut tampered = signed_proxied.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        strict.handle(now, nas(), &tampered, &mut out),
        Event::Dropped(DropReason::BadAuthenticator)
    ));
}

#[test]
fn eap_message_without_message_authenticator_is_dropped_even_when_exempt() {
    // RFC 3579 §3.2: an Access-Request with EAP-Message needs Message-Authenticator, and the
    // per-client exemption (for NASes that cannot sign PAP requests) does not change that.
    let secret = SharedSecret::new(SECRET);
    let build = |with_ma: bool, auth: u8| {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[auth; 16]);
        if with_ma {
            b.push_message_authenticator().unwrap();
        }
        b.push(AttributeType::USER_NAME, b"eve").unwrap();
        // EAP-Response/Identity "eve".
        b.push(
            AttributeType::EAP_MESSAGE,
            &[2, 1, 0, 8, 1, b'e', b'v', b'e'],
        )
        .unwrap();
        let bytes = b.finish();
        crypto::sign(bytes, &secret, None).unwrap();
        buf
    };
    let unsigned = build(false, 1);
    let signed = build(true, 2);
    let now = Instant::now();
    let mut out = Vec::new();
    for (exempt, config) in [
        (true, ServerConfig::default()),
        (
            true,
            ServerConfig {
                require_message_authenticator: false,
                limit_proxy_state: false,
                ..ServerConfig::default()
            },
        ),
        (false, ServerConfig::default()),
    ] {
        let mut srv = server(config, exempt);
        let id = srv.lookup(nas().ip()).unwrap();
        assert!(matches!(
            srv.handle(now, nas(), &unsigned, &mut out),
            Event::Dropped(DropReason::MissingMessageAuthenticator)
        ));
        let c = srv.counters(id);
        assert_eq!(c.missing_message_authenticator, 1);
        assert_eq!(c.accepted_without_message_authenticator, 0);
        assert_eq!(c.access_requests, 0);
        assert!(matches!(
            srv.handle(now, nas(), &signed, &mut out),
            Event::Request(_)
        ));
    }
}

#[test]
fn a_request_of_another_server_is_an_unknown_client() {
    let mut srv = server(ServerConfig::default(), false);
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let now = Instant::now();
    let (mut req, mut out) = (Vec::new(), Vec::new());
    cli.request(
        now,
        &mut rng(),
        Code::AccessRequest,
        Credentials::Pap(b"password"),
        &[],
        &mut req,
    )
    .unwrap();
    let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
        panic!("dropped")
    };
    let mut empty = Server::new(ServerConfig::default(), Vec::new());
    assert_eq!(empty.user_password(&r).unwrap_err(), Error::UnknownClient);
    let mut buf = [0u8; crypto::MAX_PASSWORD_LEN];
    assert_eq!(
        empty.user_password_into(&r, &mut buf).unwrap_err(),
        Error::UnknownClient
    );
    assert_eq!(
        empty.verify_pap(&r, b"password").unwrap_err(),
        Error::UnknownClient
    );
    assert_eq!(
        empty
            .answer(&r, Code::AccessAccept, &[], &mut out)
            .unwrap_err(),
        Error::UnknownClient
    );
}

#[test]
fn longest_prefix_wins() {
    let srv = server(ServerConfig::default(), false);
    let host = srv.lookup("10.1.9.9".parse().unwrap()).unwrap();
    assert_eq!(srv.client(host).unwrap().name(), "one-host");
    let net = srv.lookup("10.1.9.8".parse().unwrap()).unwrap();
    assert_eq!(srv.client(net).unwrap().name(), "lab");
    assert!(srv.lookup("::ffff:10.1.9.9".parse().unwrap()) == Some(host));
    assert!(srv.lookup("10.2.0.1".parse().unwrap()).is_none());
}

#[test]
fn chap_accounting_status_server_and_challenge() {
    let mut srv = server(ServerConfig::default(), false);
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let now = Instant::now();
    let mut rng = rng();
    let (mut req, mut out) = (Vec::new(), Vec::new());

    cli.request(
        now,
        &mut rng,
        Code::AccessRequest,
        Credentials::Chap {
            ident: 9,
            password: b"chappy",
        },
        &[Attribute::text(AttributeType::USER_NAME, "carol")],
        &mut req,
    )
    .unwrap();
    let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
        panic!()
    };
    srv.verify_chap(&r, b"chappy").unwrap();
    assert!(srv.verify_chap(&r, b"chappx").is_err());
    srv.answer(
        &r,
        Code::AccessChallenge,
        &[Attribute::state(b"st-1"), Attribute::reply_message("code?")],
        &mut out,
    )
    .unwrap();
    let resp = cli.handle_response(&out).unwrap();
    assert_eq!(resp.code(), Code::AccessChallenge);
    assert_eq!(
        resp.packet().find(AttributeType::STATE).unwrap().value,
        b"st-1"
    );

    cli.request(
        now,
        &mut rng,
        Code::AccountingRequest,
        Credentials::None,
        &[Attribute::integer(AttributeType::ACCT_STATUS_TYPE, 1)],
        &mut req,
    )
    .unwrap();
    let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
        panic!()
    };
    assert!(srv.answer(&r, Code::AccessAccept, &[], &mut out).is_err());
    srv.answer(&r, Code::AccountingResponse, &[], &mut out)
        .unwrap();
    assert_eq!(
        cli.handle_response(&out).unwrap().code(),
        Code::AccountingResponse
    );

    cli.request(
        now,
        &mut rng,
        Code::StatusServer,
        Credentials::None,
        &[],
        &mut req,
    )
    .unwrap();
    let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
        panic!()
    };
    srv.answer(&r, Code::AccessAccept, &[], &mut out).unwrap();
    assert_eq!(
        cli.handle_response(&out).unwrap().code(),
        Code::AccessAccept
    );
    let c = srv.counters(r.client());
    assert_eq!(
        (
            c.access_requests,
            c.accounting_requests,
            c.status_server,
            c.access_challenges
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn client_rejects_forgeries_and_missing_message_authenticator() {
    let secret = SharedSecret::new(SECRET);
    let mut cli = Client::new(ClientConfig::default(), secret.clone());
    let now = Instant::now();
    let mut req = Vec::new();
    let id = cli
        .request(
            now,
            &mut rng(),
            Code::AccessRequest,
            Credentials::Pap(b"pw"),
            &[],
            &mut req,
        )
        .unwrap();
    let ra: [u8; 16] = req[4..20].try_into().unwrap();
    let answer = |with_ma: bool, code: Code, secret: &SharedSecret| {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, code, id, &ra);
        if with_ma {
            b.push_message_authenticator().unwrap();
        }
        let bytes = b.finish();
        crypto::sign(bytes, secret, Some(&ra)).unwrap();
        buf
    };
    assert_eq!(
        cli.handle_response(&answer(false, Code::AccessAccept, &secret))
            .unwrap_err(),
        Error::MissingMessageAuthenticator
    );
    assert_eq!(
        cli.handle_response(&answer(true, Code::AccessAccept, &SharedSecret::new("x")))
            .unwrap_err(),
        Error::InvalidAuthenticator
    );
    assert!(matches!(
        cli.handle_response(&answer(true, Code::AccountingResponse, &secret)),
        Err(Error::UnexpectedCode { code: 5 })
    ));
    assert_eq!(cli.counters().dropped_responses, 3);
    assert_eq!(cli.outstanding(), 1);
    assert!(
        cli.handle_response(&answer(true, Code::AccessAccept, &secret))
            .is_ok()
    );

    // The explicit opt-out accepts and counts answers of servers that predate the fix.
    let config = ClientConfig {
        require_message_authenticator: false,
        ..ClientConfig::default()
    };
    let mut old = Client::new(config, secret.clone());
    let id2 = old
        .request(
            now,
            &mut rng(),
            Code::AccessRequest,
            Credentials::Pap(b"pw"),
            &[],
            &mut req,
        )
        .unwrap();
    assert_eq!(id2, 0);
    let ra2: [u8; 16] = req[4..20].try_into().unwrap();
    let mut buf = Vec::new();
    let b = PacketBuilder::new(&mut buf, Code::AccessReject, id2, &ra2);
    crypto::sign(b.finish(), &secret, Some(&ra2)).unwrap();
    assert_eq!(
        old.handle_response(&buf).unwrap().code(),
        Code::AccessReject
    );
    assert_eq!(old.counters().accepted_without_message_authenticator, 1);
}

#[test]
fn client_retransmits_then_gives_up() {
    let config = ClientConfig {
        retransmit_interval: Duration::from_secs(2),
        max_attempts: 3,
        ..ClientConfig::default()
    };
    let mut cli = Client::new(config, SharedSecret::new(SECRET));
    let t0 = Instant::now();
    let (mut req, mut out) = (Vec::new(), Vec::new());
    let id = cli
        .request(
            t0,
            &mut rng(),
            Code::AccessRequest,
            Credentials::None,
            &[],
            &mut req,
        )
        .unwrap();
    assert_eq!(cli.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    assert_eq!(
        cli.handle_timeout(t0 + Duration::from_secs(1), &mut out),
        None
    );
    let t = t0 + Duration::from_secs(2);
    assert_eq!(
        cli.handle_timeout(t, &mut out),
        Some(Timeout::Retransmit { identifier: id })
    );
    assert_eq!(out, req);
    assert_eq!(cli.handle_timeout(t, &mut out), None);
    let t = t + Duration::from_secs(2);
    assert_eq!(
        cli.handle_timeout(t, &mut out),
        Some(Timeout::Retransmit { identifier: id })
    );
    let t = t + Duration::from_secs(2);
    assert_eq!(
        cli.handle_timeout(t, &mut out),
        Some(Timeout::GaveUp { identifier: id })
    );
    assert_eq!(cli.outstanding(), 0);
    assert_eq!(cli.poll_timeout(), None);
}

#[test]
fn client_identifiers_run_out_at_256() {
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let now = Instant::now();
    let mut rng = rng();
    let mut req = Vec::new();
    for _ in 0..256 {
        cli.request(
            now,
            &mut rng,
            Code::StatusServer,
            Credentials::None,
            &[],
            &mut req,
        )
        .unwrap();
    }
    assert_eq!(
        cli.request(
            now,
            &mut rng,
            Code::StatusServer,
            Credentials::None,
            &[],
            &mut req
        ),
        Err(Error::IdentifiersExhausted)
    );
}

#[test]
fn coa_and_disconnect_round_trip() {
    let mut srv = server(ServerConfig::default(), false);
    let mut cli = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let now = Instant::now();
    let mut rng = rng();
    let (mut req, mut out) = (Vec::new(), Vec::new());
    for (code, answer) in [
        (Code::CoaRequest, Code::CoaAck),
        (Code::DisconnectRequest, Code::DisconnectNak),
    ] {
        cli.request(
            now,
            &mut rng,
            code,
            Credentials::None,
            &[Attribute::text(AttributeType::ACCT_SESSION_ID, "s-9")],
            &mut req,
        )
        .unwrap();
        // The Request Authenticator is the MD5 digest, not random.
        crypto::verify_request(&Packet::parse(&req).unwrap(), &SharedSecret::new(SECRET)).unwrap();
        let Event::Request(r) = srv.handle(now, nas(), &req, &mut out) else {
            panic!("dropped {code}")
        };
        assert!(srv.answer(&r, Code::AccessAccept, &[], &mut out).is_err());
        srv.answer(
            &r,
            answer,
            &[Attribute::integer(AttributeType::ERROR_CAUSE, 201)],
            &mut out,
        )
        .unwrap();
        assert!(!Packet::parse(&out).unwrap().has_message_authenticator());
        assert_eq!(cli.handle_response(&out).unwrap().code(), answer);
    }
    let mut tampered = req.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        srv.handle(now, nas(), &tampered, &mut out),
        Event::Dropped(DropReason::BadAuthenticator)
    ));
    let c = srv.counters(srv.lookup(nas().ip()).unwrap());
    assert_eq!(
        (c.dynamic_authorization_requests, c.other_responses),
        (2, 2)
    );
}

/// A request abandoned and then sent again gets a new cache entry; evicting the stale queue
/// position of the first attempt must not remove that newer entry.
#[test]
fn abandoned_then_retried_entry_survives_eviction_of_its_old_slot() {
    let secret = SharedSecret::new("evict-secret");
    let from: SocketAddr = "192.0.2.30:5000".parse().unwrap();
    let mut server = Server::new(
        ServerConfig {
            duplicate_capacity: 2,
            duplicate_window: Duration::from_secs(3600),
            ..ServerConfig::default()
        },
        vec![NasClient::host("nas", from.ip(), secret.clone())],
    );
    let request = |n: u8| {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, n, &[n; 16]);
        b.push_message_authenticator().unwrap();
        b.push(AttributeType::USER_NAME, b"retry").unwrap();
        crypto::sign(b.finish(), &secret, None).unwrap();
        buf
    };
    let (a, b, c) = (request(1), request(2), request(3));
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let mut out = Vec::new();
    let Event::Request(r) = server.handle(t0, from, &a, &mut out) else {
        panic!()
    };
    server.abandon(&r);
    // Retried one second later: a new entry, answered this time.
    let Event::Request(r) = server.handle(t1, from, &a, &mut out) else {
        panic!()
    };
    server
        .answer(&r, Code::AccessReject, &[], &mut out)
        .unwrap();
    let answer = out.clone();
    // The queue now holds a's old slot, a's new slot; b evicts the old slot only.
    assert!(matches!(
        server.handle(t1, from, &b, &mut out),
        Event::Request(_)
    ));
    assert!(matches!(
        server.handle(t1, from, &a, &mut out),
        Event::Retransmit(_)
    ));
    assert_eq!(out, answer);
    // c evicts a's live slot; a is then new again.
    assert!(matches!(
        server.handle(t1, from, &c, &mut out),
        Event::Request(_)
    ));
    assert!(matches!(
        server.handle(t1, from, &a, &mut out),
        Event::Request(_)
    ));
}

/// The duplicate cache reuses its slots in a ring: across many wraps, with expiry between, it
/// replays exactly the newest `capacity` answers, and an answer to a request whose entry has
/// been evicted is not filed under the request that took its slot.
#[test]
fn duplicate_cache_ring_replays_the_newest_and_ignores_stale_answers() {
    let secret = SharedSecret::new("ring-secret");
    let from: SocketAddr = "192.0.2.31:5000".parse().unwrap();
    let capacity = 5;
    let mut server = Server::new(
        ServerConfig {
            duplicate_capacity: capacity,
            duplicate_window: Duration::from_secs(10),
            ..ServerConfig::default()
        },
        vec![NasClient::host("nas", from.ip(), secret.clone())],
    );
    let request = |n: u32| {
        let mut auth = [0x33; 16];
        auth[..4].copy_from_slice(&n.to_be_bytes());
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, n as u8, &auth);
        b.push_message_authenticator().unwrap();
        b.push(AttributeType::USER_NAME, b"ring").unwrap();
        crypto::sign(b.finish(), &secret, None).unwrap();
        buf
    };
    let requests: Vec<Vec<u8>> = (0..40).map(request).collect();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut answers: Vec<Vec<u8>> = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        // Every 13th request comes after a pause that expires everything before it.
        let now = t0 + Duration::from_secs(11 * (i / 13) as u64);
        let Event::Request(r) = server.handle(now, from, req, &mut out) else {
            panic!("request {i} not new")
        };
        let text = format!("answer {i}");
        server
            .answer(
                &r,
                Code::AccessReject,
                &[Attribute::reply_message(&text)],
                &mut out,
            )
            .unwrap();
        answers.push(out.clone());
        // The pause before each period expires everything before it.
        let period_start = i / 13 * 13;
        assert_eq!(
            server.duplicate_cache_len(),
            capacity.min(i - period_start + 1),
            "after request {i}"
        );
        // The newest `capacity` requests of the period are replayed.
        for j in period_start.max((i + 1).saturating_sub(capacity))..=i {
            let mut replay = Vec::new();
            let Event::Retransmit(to) = server.handle(now, from, &requests[j], &mut replay) else {
                panic!("request {j} not replayed after request {i}")
            };
            assert_eq!((to, &replay), (from, &answers[j]));
        }
        // At the end of a period, the one before them is new again.
        if i % 13 == 12 {
            assert!(matches!(
                server.handle(now, from, &requests[i - capacity], &mut out),
                Event::Request(_)
            ));
        }
    }

    // A request whose entry is evicted while it is pending: its late answer is not stored
    // under the request that took the slot, which stays pending.
    let now = t0 + Duration::from_secs(100);
    let late_request = request(1000);
    let Event::Request(late) = server.handle(now, from, &late_request, &mut out) else {
        panic!()
    };
    for n in 1001..1001 + capacity as u32 {
        assert!(matches!(
            server.handle(now, from, &request(n), &mut out),
            Event::Request(_)
        ));
    }
    server
        .answer(&late, Code::AccessAccept, &[], &mut out)
        .unwrap();
    let newest = request(1000 + capacity as u32);
    assert!(matches!(
        server.handle(now, from, &newest, &mut out),
        Event::Dropped(DropReason::DuplicateInProgress)
    ));
    // The late request itself is new again (its entry is gone).
    assert!(matches!(
        server.handle(now, from, &late_request, &mut out),
        Event::Request(_)
    ));
}

/// An MS-CHAP request as a NAS sends it: User-Name, MS-CHAP-Challenge and the response.
fn ms_chap_request(
    client: &mut Client,
    user: &str,
    challenge: &[u8],
    vendor_type: u8,
    response: &[u8],
    out: &mut Vec<u8>,
) {
    use idforge_radius::{MICROSOFT, VendorSpecific, microsoft};
    let (mut challenge_vsa, mut response_vsa) = (Vec::new(), Vec::new());
    VendorSpecific::encode_single(
        MICROSOFT,
        microsoft::MS_CHAP_CHALLENGE,
        challenge,
        &mut challenge_vsa,
    )
    .unwrap();
    VendorSpecific::encode_single(MICROSOFT, vendor_type, response, &mut response_vsa).unwrap();
    client
        .request(
            Instant::now(),
            &mut rng(),
            Code::AccessRequest,
            Credentials::None,
            &[
                Attribute::text(AttributeType::USER_NAME, user),
                Attribute::octets(AttributeType::VENDOR_SPECIFIC, &challenge_vsa),
                Attribute::octets(AttributeType::VENDOR_SPECIFIC, &response_vsa),
            ],
            out,
        )
        .unwrap();
}

#[test]
fn ms_chap2_success_mppe_keys_and_error_round_trip() {
    use idforge_radius::microsoft::{self, MsChap2Response};
    use idforge_radius::mschap::{self, MppeSalts, MsChap2Request, MsChapErrorCode};

    let mut server = server(ServerConfig::default(), false);
    let mut client = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let (challenge, peer_challenge) = ([0x5a; 16], [0x21; 16]);
    let hash = mschap::nt_password_hash("hello");
    for (user, password) in [("EXAMPLE\\bob", "hello"), ("bob", "wrong")] {
        // The peer hashes the name without its domain (RFC 2759 section 8.2).
        let nt = mschap::generate_nt_response(
            &challenge,
            &peer_challenge,
            b"bob",
            &mschap::nt_password_hash(password),
        );
        let mut value = Vec::new();
        MsChap2Response {
            ident: 9,
            flags: 0,
            peer_challenge: &peer_challenge,
            nt_response: &nt,
        }
        .encode(&mut value);
        let (mut request, mut answer) = (Vec::new(), Vec::new());
        ms_chap_request(
            &mut client,
            user,
            &challenge,
            microsoft::MS_CHAP2_RESPONSE,
            &value,
            &mut request,
        );
        let Event::Request(req) = server.handle(Instant::now(), nas(), &request, &mut answer)
        else {
            panic!("dropped")
        };
        match server.verify_ms_chap2(&req, &hash) {
            Ok(success) => {
                let salts = MppeSalts::random(&mut rng());
                let accept = server.ms_chap2_accept(&req, &success, salts).unwrap();
                server
                    .answer(&req, Code::AccessAccept, &accept.attributes(), &mut answer)
                    .unwrap();
                let response = client.handle_response(&answer).unwrap();
                assert_eq!(response.code(), Code::AccessAccept);
                // What the client decodes is what the peer computes on its side.
                let expected =
                    mschap::authenticator_response(&hash, &nt, &peer_challenge, &challenge, b"bob");
                let got = response.ms_chap2_success().unwrap();
                assert_eq!((got[0], &got[1..]), (9, &expected[..]));
                let keys = client.mppe_keys(&response).unwrap();
                let derived = mschap::MppeKeys::ms_chap2(&hash, &nt);
                assert_eq!(keys.send_key(), derived.send_key());
                assert_eq!(keys.recv_key(), derived.recv_key());
                assert_ne!(keys.send_key(), keys.recv_key());
                assert!(response.ms_chap_error().is_none());
                // Another secret does not recover them.
                let other = Client::new(ClientConfig::default(), SharedSecret::new("x"));
                assert!(other.mppe_keys(&response).is_err());
            }
            Err(e) => {
                assert_eq!(e, Error::InvalidAuthenticator);
                assert_eq!(password, "wrong");
                let error = MsChap2Request::from_packet(req.packet())
                    .unwrap()
                    .error(MsChapErrorCode::AuthenticationFailure);
                let mut vsa = Vec::new();
                error.encode_vendor_specific(&mut vsa).unwrap();
                server
                    .answer(
                        &req,
                        Code::AccessReject,
                        &[Attribute::octets(AttributeType::VENDOR_SPECIFIC, &vsa)],
                        &mut answer,
                    )
                    .unwrap();
                let response = client.handle_response(&answer).unwrap();
                let got = response.ms_chap_error().unwrap().unwrap();
                assert_eq!(got, error);
                assert_eq!((got.ident, got.challenge, got.retry), (9, challenge, false));
                assert_eq!(
                    client.mppe_keys(&response).unwrap_err(),
                    Error::MissingVendorAttribute {
                        vendor_id: 311,
                        vendor_type: microsoft::MS_MPPE_SEND_KEY
                    }
                );
            }
        }
    }
}

#[test]
fn ms_chap1_mppe_keys_round_trip_and_missing_attributes() {
    use idforge_radius::microsoft;
    use idforge_radius::mschap::{self, MsChapMppeKeys};

    let mut server = server(ServerConfig::default(), false);
    let mut client = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let challenge = [0x13; 8];
    let hash = mschap::nt_password_hash("hello");
    let mut value = vec![4, 1];
    value.extend_from_slice(&[0; 24]);
    value.extend_from_slice(&mschap::challenge_response(&challenge, &hash));
    let (mut request, mut answer) = (Vec::new(), Vec::new());
    ms_chap_request(
        &mut client,
        "bob",
        &challenge,
        microsoft::MS_CHAP_RESPONSE,
        &value,
        &mut request,
    );
    let Event::Request(req) = server.handle(Instant::now(), nas(), &request, &mut answer) else {
        panic!("dropped")
    };
    server.verify_ms_chap1(&req, &hash).unwrap();
    assert_eq!(
        server.verify_ms_chap1(&req, &mschap::nt_password_hash("x")),
        Err(Error::InvalidAuthenticator)
    );
    // An MS-CHAPv1 request is not an MS-CHAPv2 one.
    assert_eq!(
        server.verify_ms_chap2(&req, &hash).unwrap_err(),
        Error::MissingVendorAttribute {
            vendor_id: 311,
            vendor_type: microsoft::MS_CHAP2_RESPONSE
        }
    );
    let lm = mschap::lm_password_hash("hello");
    let keys = MsChapMppeKeys::ms_chap1(Some(&lm), &hash);
    let accept = server.ms_chap1_accept(&req, &keys).unwrap();
    server
        .answer(&req, Code::AccessAccept, &[accept.attribute()], &mut answer)
        .unwrap();
    let response = client.handle_response(&answer).unwrap();
    let got = client.ms_chap_mppe_keys(&response).unwrap();
    assert_eq!(got.lm_key(), keys.lm_key());
    assert_eq!(got.nt_key(), &*mschap::hash_nt_password_hash(&hash));
}
