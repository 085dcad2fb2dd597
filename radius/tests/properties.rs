//! Property tests: codec round trips, hiding round trips, and one-bit changes failing
//! verification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};

use idforge_radius::PacketBuilder;
use idforge_radius::VendorSpecific;
use idforge_radius::crypto;
use idforge_radius::{Attribute, AttributeType, Code, Packet, SharedSecret, Value};
use idforge_radius::{Ipv6Prefix, ValueKind};
use proptest::prelude::*;

/// Every type of the dictionary, with a value strategy for its kind.
fn typed_attribute() -> impl Strategy<Value = (u8, Vec<u8>)> {
    let known: Vec<u8> = (0..=255u8)
        .filter(|&t| AttributeType(t).kind().is_some())
        .collect();
    (
        proptest::sample::select(known),
        any::<[u8; 16]>(),
        0u8..=128,
        "[a-zA-Z0-9 é]{0,60}",
        1u8..=31,
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(t, b16, plen, text, tag, int, bytes)| {
            let attr_type = AttributeType(t);
            let mut out = Vec::new();
            let value = match attr_type.kind().unwrap() {
                ValueKind::Text => Value::Text(&text),
                ValueKind::Octets | ValueKind::HiddenPassword => Value::Octets(&bytes),
                ValueKind::Integer | ValueKind::Enum => Value::Integer(int),
                ValueKind::Time => Value::Time(int),
                ValueKind::Ipv4Addr => Value::Ipv4(Ipv4Addr::from(int)),
                ValueKind::Ipv6Addr => Value::Ipv6(Ipv6Addr::from(b16)),
                ValueKind::Ipv6Prefix => {
                    Value::Ipv6Prefix(Ipv6Prefix::new(Ipv6Addr::from(b16), plen).unwrap())
                }
                ValueKind::InterfaceId => Value::InterfaceId(b16[..8].try_into().unwrap()),
                ValueKind::Fixed(n) => {
                    let mut v = bytes.clone();
                    v.resize(n, 7);
                    out = v;
                    Value::Raw(&[])
                }
                ValueKind::TaggedInteger => Value::TaggedInteger {
                    tag: tag - 1,
                    value: int & 0xff_ffff,
                },
                ValueKind::TaggedText => Value::TaggedText {
                    tag: Some(tag),
                    text: &text,
                },
                ValueKind::TaggedHidden => Value::TaggedOctets { tag, bytes: &bytes },
                ValueKind::VendorSpecific => Value::Vendor(VendorSpecific {
                    vendor_id: int,
                    data: &bytes,
                }),
                _ => Value::Raw(&bytes),
            };
            if out.is_empty() {
                Attribute { attr_type, value }.encode_value(&mut out);
            }
            (t, out)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_attribute_type_round_trips((t, value) in typed_attribute()) {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        b.push(AttributeType(t), &value).unwrap();
        let bytes = b.finish().to_vec();
        let packet = Packet::parse_strict(&bytes).unwrap();
        let raw = packet.attributes().next().unwrap();
        // Microsoft VSAs with unframed data are rejected; everything built from a typed value
        // must decode and re-encode to the same bytes.
        match Attribute::decode(raw) {
            Ok(attr) => {
                let mut again = Vec::new();
                attr.encode_value(&mut again);
                prop_assert_eq!(again, value);
            }
            Err(e) => prop_assert!(t == 26, "type {} failed: {}", t, e),
        }
    }

    #[test]
    fn arbitrary_values_decode_or_fail_cleanly(t in any::<u8>(), value in proptest::collection::vec(any::<u8>(), 0..=253)) {
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, 1, &[0; 16]);
        if t == 80 && value.len() != 16 {
            return Ok(());
        }
        b.push(AttributeType(t), &value).unwrap();
        let bytes = b.finish().to_vec();
        if t == 0 {
            // No attribute has type 0: the packet is refused, as FreeRADIUS refuses it.
            prop_assert_eq!(
                Packet::parse_strict(&bytes),
                Err(idforge_radius::Error::AttributeTypeZero { offset: 20 })
            );
            return Ok(());
        }
        let packet = Packet::parse_strict(&bytes).unwrap();
        if let Ok(attr) = Attribute::decode(packet.attributes().next().unwrap()) {
            let mut again = Vec::new();
            attr.encode_value(&mut again);
            prop_assert_eq!(again, value);
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = Packet::parse(&bytes) {
            let total: usize = p.attributes().map(|a| a.value.len() + 2).sum();
            prop_assert_eq!(total + 20, p.as_bytes().len());
        }
    }

    #[test]
    fn user_password_hiding_round_trips(password in proptest::collection::vec(1u8..=255, 0..=128), ra in any::<[u8; 16]>(), secret in "[ -~]{1,40}") {
        let secret = SharedSecret::new(secret);
        let mut hidden = Vec::new();
        crypto::hide_user_password(&secret, &ra, &password, &mut hidden).unwrap();
        let back = crypto::recover_user_password(&secret, &ra, &hidden).unwrap();
        prop_assert_eq!(&back[..], &password[..]);
    }

    #[test]
    fn one_bit_flip_fails_verification(
        attrs in proptest::collection::vec((1u8..=255, proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
        ra in any::<[u8; 16]>(),
        bit in any::<proptest::sample::Index>(),
        kind in 0u8..3,
    ) {
        let secret = SharedSecret::new("prop-secret");
        let code = [Code::AccessRequest, Code::AccountingRequest, Code::AccessAccept][usize::from(kind)];
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, code, 9, &ra);
        if code != Code::AccountingRequest {
            b.push_message_authenticator().unwrap();
        }
        for (t, v) in &attrs {
            if *t != 80 {
                b.push(AttributeType(*t), v).unwrap();
            }
        }
        let bytes = b.finish();
        let request_authenticator = (code == Code::AccessAccept).then_some(&ra);
        crypto::sign(bytes, &secret, request_authenticator).unwrap();
        let good = bytes.to_vec();
        let verify = |data: &[u8]| -> bool {
            let Ok(p) = Packet::parse(data) else { return false };
            if p.code() != code {
                return false;
            }
            match code {
                Code::AccessAccept => crypto::verify_response(&p, &secret, &ra).is_ok(),
                // An Access-Request is only protected by its Message-Authenticator.
                Code::AccessRequest => p.has_message_authenticator() && crypto::verify_request(&p, &secret).is_ok(),
                _ => crypto::verify_request(&p, &secret).is_ok(),
            }
        };
        prop_assert!(verify(&good));
        let bit = bit.index(good.len() * 8);
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify(&bad), "bit {} of {:?}", bit, code);
    }
}

#[test]
fn hiding_round_trips_for_every_length() {
    let secret = SharedSecret::new("every-length");
    let ra = [0x5c; 16];
    for len in 0..=128usize {
        let password: Vec<u8> = (0..len).map(|i| (i % 250) as u8 + 1).collect();
        let mut hidden = Vec::new();
        crypto::hide_user_password(&secret, &ra, &password, &mut hidden).unwrap();
        assert_eq!(hidden.len(), len.div_ceil(16).max(1) * 16);
        assert_eq!(
            &crypto::recover_user_password(&secret, &ra, &hidden).unwrap()[..],
            &password[..]
        );
    }
    for len in 0..=crypto::MAX_TUNNEL_PASSWORD_LEN {
        let password = vec![b'z'; len];
        let mut hidden = Vec::new();
        crypto::hide_tunnel_password(&secret, &ra, [0x12, 0x34], &password, &mut hidden).unwrap();
        assert_eq!(
            &crypto::recover_tunnel_password(&secret, &ra, &hidden).unwrap()[..],
            &password[..]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mppe_keys_round_trip_through_an_access_accept(
        send in any::<[u8; 16]>(),
        recv in any::<[u8; 16]>(),
        salts in any::<([u8; 2], [u8; 2])>(),
        ra in any::<[u8; 16]>(),
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        ident in any::<u8>(),
    ) {
        use idforge_radius::mschap::{self, MppeSalts};
        use idforge_radius::{MICROSOFT, find_vendor_value, microsoft};
        let secret = SharedSecret::new(secret);
        let Ok(salts) = MppeSalts::new(salts.0, salts.1) else {
            // Refused only when the salts are equal once their high bits are set.
            prop_assert_eq!(salts.0[1], salts.1[1]);
            prop_assert_eq!(salts.0[0] | 0x80, salts.1[0] | 0x80);
            return Ok(());
        };
        prop_assert!(salts.send()[0] & 0x80 != 0 && salts.send() != salts.recv());
        // Each key alone, and both in a signed Accept as MsChap2Accept writes them.
        for (key, salt) in [(send, salts.send()), (recv, salts.recv())] {
            let value = mschap::hide_mppe_key(&secret, &ra, salt, &key);
            prop_assert_eq!(&value[..2], &salt[..]);
            prop_assert_eq!(*mschap::recover_mppe_key(&secret, &ra, &value).unwrap(), key);
        }
        let keys = mschap::MsChapMppeKeys::new(send[..8].try_into().unwrap(), recv);
        let hidden = mschap::hide_ms_chap_mppe_keys(&secret, &ra, &keys);
        let back = mschap::recover_ms_chap_mppe_keys(&secret, &ra, &hidden).unwrap();
        prop_assert_eq!((back.lm_key(), back.nt_key()), (keys.lm_key(), keys.nt_key()));

        let hash = mschap::nt_password_hash("pw");
        let nt = mschap::generate_nt_response(&ra, &send, b"u", &hash);
        let response = microsoft::MsChap2Response {
            ident, flags: 0, peer_challenge: &send, nt_response: &nt,
        };
        let success = mschap::authenticate_ms_chap2(&ra, &response, b"u", &hash).unwrap();
        let accept = mschap::MsChap2Accept::new(&secret, &ra, &success, salts);
        let mut buf = Vec::new();
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 1, &ra);
        b.push_message_authenticator().unwrap();
        for attr in accept.attributes() {
            attr.encode(&mut b).unwrap();
        }
        let bytes = b.finish();
        crypto::sign(bytes, &secret, Some(&ra)).unwrap();
        let packet = Packet::parse_strict(bytes).unwrap();
        crypto::verify_response(&packet, &secret, &ra).unwrap();
        let find = |t| find_vendor_value(&packet, MICROSOFT, t).unwrap();
        prop_assert_eq!(find(microsoft::MS_CHAP2_SUCCESS), &success.value()[..]);
        let derived = mschap::MppeKeys::ms_chap2(&hash, &nt);
        for (t, key) in [(microsoft::MS_MPPE_SEND_KEY, derived.send_key()), (microsoft::MS_MPPE_RECV_KEY, derived.recv_key())] {
            prop_assert_eq!(&*mschap::recover_mppe_key(&secret, &ra, find(t)).unwrap(), key);
        }
    }

    #[test]
    fn ms_chap_error_round_trips(
        ident in any::<u8>(),
        code in any::<u32>(),
        retry in any::<bool>(),
        challenge in any::<[u8; 16]>(),
        version in any::<u32>(),
        message in proptest::option::of("[ -~é]{0,150}"),
    ) {
        use idforge_radius::mschap::{MsChapError, MsChapErrorCode};
        let mut error = MsChapError::v2(ident, MsChapErrorCode::from(code), &challenge).with_retry(retry);
        error.version = version;
        if let Some(m) = &message {
            error = error.with_message(m);
        }
        let mut value = Vec::new();
        match error.encode(&mut value) {
            Ok(()) => prop_assert_eq!(MsChapError::parse(&value), Ok(error)),
            Err(e) => {
                let too_long = matches!(e, idforge_radius::Error::ValueTooLong { .. });
                prop_assert!(too_long, "{}", e);
                prop_assert!(value.is_empty());
            }
        }
    }

    #[test]
    fn ms_chap_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80), ra in any::<[u8; 16]>()) {
        use idforge_radius::mschap;
        let secret = SharedSecret::new("p");
        let _ = mschap::MsChapError::parse(&bytes);
        let _ = mschap::recover_mppe_key(&secret, &ra, &bytes);
        let _ = mschap::recover_ms_chap_mppe_keys(&secret, &ra, &bytes);
    }
}
