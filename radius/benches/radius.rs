//! Parse + verify + answer a typical PAP Access-Request, with and without
//! Message-Authenticator, against the `radius` crate doing the same work and against the
//! cryptographic floor (the MD5 and HMAC-MD5 work the RFCs require, HMAC key state
//! precomputed).
//!
//! The `rfc2865_7_1_*` groups run the exchange of RFC 2865 §7.1: an Access-Request for
//! "nemo" (User-Password, NAS-IP-Address, NAS-Port) whose User-Name, NAS-IP-Address and
//! NAS-Port are decoded and whose password is checked, answered by an Access-Accept with
//! Service-Type, Login-Service and Login-IP-Host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use idforge_radius::PacketBuilder;
use idforge_radius::{Attribute, AttributeType, Code, Packet, SharedSecret, crypto};
use idforge_radius::{Event, NasClient, Server, ServerConfig};
use idforge_radius::{LoginService, ServiceType};
use idforge_test_support::hex;
use md5::{Digest, Md5};

const SECRET: &[u8] = b"a-typical-shared-secret";
const PASSWORD: &[u8] = b"correct-horse-1";

fn request(with_ma: bool, authenticator: [u8; 16]) -> Vec<u8> {
    let secret = SharedSecret::new(SECRET);
    let mut buf = Vec::new();
    let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 42, &authenticator);
    if with_ma {
        b.push_message_authenticator().unwrap();
    }
    b.push(AttributeType::USER_NAME, b"alice@example.com")
        .unwrap();
    let mut hidden = Vec::new();
    crypto::hide_user_password(&secret, &authenticator, PASSWORD, &mut hidden).unwrap();
    b.push(AttributeType::USER_PASSWORD, &hidden).unwrap();
    b.push(AttributeType::NAS_IP_ADDRESS, &[192, 0, 2, 10])
        .unwrap();
    b.push(AttributeType::NAS_PORT, &[0, 0, 0, 7]).unwrap();
    b.push(AttributeType::NAS_IDENTIFIER, b"vpn-gw-1").unwrap();
    b.push(AttributeType::CALLING_STATION_ID, b"203.0.113.7")
        .unwrap();
    let bytes = b.finish();
    crypto::sign(bytes, &secret, None).unwrap();
    buf
}

/// idforge's codec and crypto functions, no server state.
fn idforge_codec(secret: &SharedSecret, req: &[u8], with_ma: bool, out: &mut Vec<u8>) -> usize {
    let p = Packet::parse(req).unwrap();
    crypto::verify_request(&p, secret).unwrap();
    assert_eq!(p.has_message_authenticator(), with_ma);
    let hidden = p.find(AttributeType::USER_PASSWORD).unwrap().value;
    let mut plain = [0u8; 128];
    let pw =
        crypto::recover_user_password_into(secret, p.authenticator(), hidden, &mut plain).unwrap();
    let code = if pw == PASSWORD {
        Code::AccessAccept
    } else {
        Code::AccessReject
    };
    let mut b = PacketBuilder::new(out, code, p.identifier(), p.authenticator());
    if with_ma {
        b.push_message_authenticator().unwrap();
    }
    Attribute::reply_message("welcome").encode(&mut b).unwrap();
    let bytes = b.finish();
    crypto::sign(bytes, secret, Some(p.authenticator())).unwrap();
    out.len()
}

/// The `radius` crate (0.4); it has no Message-Authenticator support, so it is computed and
/// checked for it with `hmac` + `md-5` (key state precomputed, as for idforge).
fn radius_crate(req: &[u8], with_ma: bool, key: &Hmac<Md5>) -> usize {
    if with_ma {
        let mut copy = req.to_vec();
        let offset = 20; // placed first
        let received: [u8; 16] = copy[offset + 2..offset + 18].try_into().unwrap();
        copy[offset + 2..offset + 18].fill(0);
        let mut mac = key.clone();
        mac.update(&copy);
        mac.verify_slice(&received).unwrap();
    }
    let p = radius::core::packet::Packet::decode(req, SECRET).unwrap();
    let pw = radius::core::rfc2865::lookup_user_password(&p)
        .unwrap()
        .unwrap();
    let code = if pw == PASSWORD {
        radius::core::code::Code::AccessAccept
    } else {
        radius::core::code::Code::AccessReject
    };
    let mut resp = p.make_response_packet(code);
    if with_ma {
        radius::core::rfc2869::add_message_authenticator(&mut resp, &[0; 16]);
    }
    radius::core::rfc2865::add_reply_message(&mut resp, "welcome");
    let mut bytes = resp.encode().unwrap();
    if with_ma {
        // Redo the signature: Message-Authenticator over the Request Authenticator, then the
        // Response Authenticator over the result.
        bytes[4..20].copy_from_slice(&req[4..20]);
        let mut mac = key.clone();
        mac.update(&bytes);
        let ma = mac.finalize().into_bytes();
        bytes[22..38].copy_from_slice(&ma);
        let mut md5 = Md5::new();
        md5.update(&bytes);
        md5.update(SECRET);
        let ra: [u8; 16] = md5.finalize().into();
        bytes[4..20].copy_from_slice(&ra);
    }
    bytes.len()
}

/// The floor: only the MD5 / HMAC-MD5 computations the RFCs require for this exchange.
fn floor(
    secret: &[u8],
    req: &[u8],
    resp_template: &[u8],
    with_ma: bool,
    key: &Hmac<Md5>,
    md5_secret: &Md5,
) -> u8 {
    let mut acc = 0u8;
    if with_ma {
        let mut mac = key.clone();
        mac.update(req);
        acc ^= mac.finalize().into_bytes()[0];
    }
    let mut md5 = md5_secret.clone();
    md5.update(&req[4..20]);
    acc ^= md5.finalize()[0];
    if with_ma {
        let mut mac = key.clone();
        mac.update(resp_template);
        acc ^= mac.finalize().into_bytes()[0];
    }
    let mut md5 = Md5::new();
    md5.update(resp_template);
    md5.update(secret);
    acc ^ md5.finalize()[0]
}

// RFC 2865 §7.1: the NAS at 192.168.1.16 asks for "nemo" on port 3; the secret is the RFC's.
const RFC_SECRET: &[u8] = b"xyzzy5461";
const RFC_PASSWORD: &[u8] = b"arctangent";
const RFC_AUTHENTICATOR: [u8; 16] = [
    0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a,
];
/// The RFC's Access-Request, byte for byte.
const RFC_REQUEST: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";
const NAS_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 16);
const LOGIN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 3);

fn rfc_request(with_ma: bool, authenticator: [u8; 16]) -> Vec<u8> {
    let secret = SharedSecret::new(RFC_SECRET);
    let mut buf = Vec::new();
    let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 0, &authenticator);
    if with_ma {
        b.push_message_authenticator().unwrap();
    }
    b.push(AttributeType::USER_NAME, b"nemo").unwrap();
    let mut hidden = Vec::new();
    crypto::hide_user_password(&secret, &authenticator, RFC_PASSWORD, &mut hidden).unwrap();
    b.push(AttributeType::USER_PASSWORD, &hidden).unwrap();
    b.push(AttributeType::NAS_IP_ADDRESS, &NAS_ADDR.octets())
        .unwrap();
    b.push(AttributeType::NAS_PORT, &3u32.to_be_bytes())
        .unwrap();
    let bytes = b.finish();
    crypto::sign(bytes, &secret, None).unwrap();
    buf
}

/// The three attributes of the RFC's Access-Accept.
fn rfc_accept_attributes() -> [Attribute<'static>; 3] {
    [
        Attribute::integer(AttributeType::SERVICE_TYPE, ServiceType::LoginUser.into()),
        Attribute::integer(AttributeType::LOGIN_SERVICE, LoginService::Telnet.into()),
        Attribute::ipv4(AttributeType::LOGIN_IP_HOST, LOGIN_HOST),
    ]
}

/// What the application reads from the request: User-Name, NAS-IP-Address and NAS-Port,
/// found in one pass and decoded as text, IPv4 address and integer.
fn decode_nas_fields<'a>(p: &Packet<'a>) -> (&'a str, Ipv4Addr, u32) {
    let [user, nas, port] = p.find_each([
        AttributeType::USER_NAME,
        AttributeType::NAS_IP_ADDRESS,
        AttributeType::NAS_PORT,
    ]);
    (
        user.unwrap().text().unwrap(),
        nas.unwrap().ipv4().unwrap(),
        port.unwrap().integer().unwrap(),
    )
}

/// The §7.1 exchange with the codec and crypto functions: parse, verify, decode the NAS's
/// fields, check the password in constant time, build and sign the three-attribute answer.
fn exchange_codec(secret: &SharedSecret, req: &[u8], with_ma: bool, out: &mut Vec<u8>) -> usize {
    let p = Packet::parse(req).unwrap();
    crypto::verify_request(&p, secret).unwrap();
    assert_eq!(p.has_message_authenticator(), with_ma);
    black_box(decode_nas_fields(&p));
    let hidden = p.find(AttributeType::USER_PASSWORD).unwrap().value;
    let code = match crypto::verify_user_password(secret, p.authenticator(), hidden, RFC_PASSWORD) {
        Ok(()) => Code::AccessAccept,
        Err(_) => Code::AccessReject,
    };
    let mut b = PacketBuilder::new(out, code, p.identifier(), p.authenticator());
    if with_ma {
        b.push_message_authenticator().unwrap();
    }
    for attr in &rfc_accept_attributes() {
        attr.encode(&mut b).unwrap();
    }
    let bytes = b.finish();
    crypto::sign(bytes, secret, Some(p.authenticator())).unwrap();
    out.len()
}

/// The §7.1 exchange through a warm `Server`.
fn exchange_server(
    server: &mut Server,
    now: Instant,
    from: SocketAddr,
    req: &[u8],
    out: &mut Vec<u8>,
) -> usize {
    let Event::Request(r) = server.handle(now, from, req, out) else {
        panic!("dropped")
    };
    black_box(decode_nas_fields(r.packet()));
    let code = match server.verify_pap(&r, RFC_PASSWORD) {
        Ok(()) => Code::AccessAccept,
        Err(_) => Code::AccessReject,
    };
    server
        .answer(&r, code, &rfc_accept_attributes(), out)
        .unwrap();
    out.len()
}

fn rfc_server(with_ma: bool) -> Server {
    let mut nas = NasClient::host("nas", IpAddr::V4(NAS_ADDR), SharedSecret::new(RFC_SECRET));
    if !with_ma {
        nas = nas.allow_missing_message_authenticator();
    }
    Server::new(
        ServerConfig {
            duplicate_window: Duration::from_secs(3600),
            ..ServerConfig::default()
        },
        vec![nas],
    )
}

fn bench_rfc2865_7_1(c: &mut Criterion) {
    let secret = SharedSecret::new(RFC_SECRET);
    let key = <Hmac<Md5> as KeyInit>::new_from_slice(RFC_SECRET).unwrap();
    let mut md5_secret = Md5::new();
    md5_secret.update(RFC_SECRET);
    assert_eq!(rfc_request(false, RFC_AUTHENTICATOR), hex(RFC_REQUEST));
    for with_ma in [false, true] {
        let name = if with_ma {
            "rfc2865_7_1_with_message_authenticator"
        } else {
            "rfc2865_7_1_plain"
        };
        let mut group = c.benchmark_group(name);
        let req = rfc_request(with_ma, RFC_AUTHENTICATOR);
        let mut out = Vec::with_capacity(4096);
        exchange_codec(&secret, &req, with_ma, &mut out);
        assert_eq!(out[0], Code::AccessAccept.value());
        let resp_template = out.clone();
        if !with_ma {
            // The RFC's Access-Accept, byte for byte.
            assert_eq!(
                out,
                hex("0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103")
            );
        }

        group.bench_function("idforge_codec", |b| {
            b.iter(|| exchange_codec(&secret, black_box(&req), with_ma, &mut out));
        });

        // Distinct Request Authenticators cycling through the 4096-entry duplicate cache, as
        // in the PAP groups. The server's answer always carries Message-Authenticator.
        let requests: Vec<Vec<u8>> = (0..8192u32)
            .map(|i| {
                let mut auth = RFC_AUTHENTICATOR;
                auth[..4].copy_from_slice(&i.to_be_bytes());
                rfc_request(with_ma, auth)
            })
            .collect();
        let mut server = rfc_server(with_ma);
        let from = SocketAddr::from((NAS_ADDR, 1645));
        let now = Instant::now();
        let mut i = 0usize;
        group.bench_function("idforge_server", |b| {
            b.iter(|| {
                let req = &requests[i % requests.len()];
                i += 1;
                exchange_server(&mut server, now, from, black_box(req), &mut out)
            });
        });
        assert_eq!(out[0], Code::AccessAccept.value());
        let server_template = out.clone();

        group.bench_function("md5_hmac_floor", |b| {
            b.iter(|| {
                floor(
                    RFC_SECRET,
                    black_box(&req),
                    &resp_template,
                    with_ma,
                    &key,
                    &md5_secret,
                )
            });
        });
        if !with_ma {
            // The floor of the server's plain exchange, whose answer carries
            // Message-Authenticator: the same as above plus one HMAC-MD5 over the answer.
            group.bench_function("md5_hmac_floor_signed_answer", |b| {
                b.iter(|| {
                    floor_signed_answer(black_box(&req), &server_template, &key, &md5_secret)
                });
            });
        }
        group.finish();
    }
}

/// The floor of an exchange whose request has no Message-Authenticator but whose answer has
/// one: the password keystream, HMAC-MD5 over the answer, and the Response Authenticator.
fn floor_signed_answer(req: &[u8], resp_template: &[u8], key: &Hmac<Md5>, md5_secret: &Md5) -> u8 {
    let mut md5 = md5_secret.clone();
    md5.update(&req[4..20]);
    let mut acc = md5.finalize()[0];
    let mut mac = key.clone();
    mac.update(resp_template);
    acc ^= mac.finalize().into_bytes()[0];
    let mut md5 = Md5::new();
    md5.update(resp_template);
    md5.update(RFC_SECRET);
    acc ^ md5.finalize()[0]
}

fn bench(c: &mut Criterion) {
    let secret = SharedSecret::new(SECRET);
    let key = <Hmac<Md5> as KeyInit>::new_from_slice(SECRET).unwrap();
    let mut md5_secret = Md5::new();
    md5_secret.update(SECRET);
    for with_ma in [false, true] {
        let name = if with_ma {
            "pap_with_message_authenticator"
        } else {
            "pap_plain"
        };
        let mut group = c.benchmark_group(name);
        let req = request(with_ma, [0x3c; 16]);
        let mut out = Vec::with_capacity(4096);
        idforge_codec(&secret, &req, with_ma, &mut out);
        let resp_template = out.clone();
        assert_eq!(radius_crate(&req, with_ma, &key), resp_template.len());

        group.bench_function("idforge_codec", |b| {
            b.iter(|| idforge_codec(&secret, black_box(&req), with_ma, &mut out));
        });

        // The whole sans-IO server: client lookup, policy, duplicate cache, counters. Its
        // answer always carries Message-Authenticator (the Blast-RADIUS default), so even the
        // plain case pays one HMAC-MD5 more than the codec path.
        let requests: Vec<Vec<u8>> = (0..8192u32)
            .map(|i| {
                let mut auth = [0x3c; 16];
                auth[..4].copy_from_slice(&i.to_be_bytes());
                request(with_ma, auth)
            })
            .collect();
        let mut nas = NasClient::host(
            "nas",
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            secret.clone(),
        );
        if !with_ma {
            nas = nas.allow_missing_message_authenticator();
        }
        let mut server = Server::new(
            ServerConfig {
                duplicate_window: Duration::from_secs(3600),
                ..ServerConfig::default()
            },
            vec![nas],
        );
        let from = SocketAddr::from(([192, 0, 2, 10], 40000));
        let now = Instant::now();
        let mut i = 0usize;
        let mut plain = [0u8; 128];
        group.bench_function("idforge_server", |b| {
            b.iter(|| {
                let req = &requests[i % requests.len()];
                i += 1;
                let Event::Request(r) = server.handle(now, from, req, &mut out) else {
                    panic!("dropped")
                };
                let ok = server.user_password_into(&r, &mut plain).unwrap() == PASSWORD;
                let code = if ok {
                    Code::AccessAccept
                } else {
                    Code::AccessReject
                };
                server
                    .answer(&r, code, &[Attribute::reply_message("welcome")], &mut out)
                    .unwrap();
                out.len()
            });
        });

        group.bench_function("radius_crate_0_4", |b| {
            b.iter(|| radius_crate(black_box(&req), with_ma, &key));
        });
        group.bench_function("md5_hmac_floor", |b| {
            b.iter(|| {
                floor(
                    SECRET,
                    black_box(&req),
                    &resp_template,
                    with_ma,
                    &key,
                    &md5_secret,
                )
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench, bench_rfc2865_7_1);
criterion_main!(benches);
