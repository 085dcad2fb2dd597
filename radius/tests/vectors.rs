//! Known-answer vectors from the RFCs and independent computations, each also checked to
//! fail with one bit flipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::vectors;
use idforge_radius::Packet;
use idforge_radius::crypto::{self, Authenticator};
use idforge_radius::microsoft::{MsChap2Response, MsChapResponse};
use idforge_radius::mschap;
use std::net::Ipv4Addr;

use idforge_radius::{Attribute, AttributeType, Code, SharedSecret, Value};

fn secret() -> SharedSecret {
    SharedSecret::new("xyzzy5461")
}

fn auth(bytes: &[u8]) -> Authenticator {
    bytes.try_into().unwrap()
}

fn flipped(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    v
}

#[test]
fn rfc2865_7_1_request_password_and_accept() {
    let v = vectors("radius-message-authenticator.txt");
    let req_bytes = &v["rfc2865_7_1_request"];
    let req = Packet::parse_strict(req_bytes).unwrap();
    assert_eq!(req.code(), Code::AccessRequest);
    let hidden = req.find(AttributeType::USER_PASSWORD).unwrap().value;
    let pw = crypto::recover_user_password(&secret(), req.authenticator(), hidden).unwrap();
    assert_eq!(&pw[..], b"arctangent");
    // Hiding it again gives the bytes of the RFC.
    let mut again = Vec::new();
    crypto::hide_user_password(&secret(), req.authenticator(), b"arctangent", &mut again).unwrap();
    assert_eq!(again, hidden);

    let accept = Packet::parse_strict(&v["rfc2865_7_1_accept"]).unwrap();
    crypto::verify_response(&accept, &secret(), req.authenticator()).unwrap();
    for bit in 0..accept.as_bytes().len() * 8 {
        let bad = flipped(accept.as_bytes(), bit);
        if let Ok(p) = Packet::parse(&bad) {
            assert!(
                crypto::verify_response(&p, &secret(), req.authenticator()).is_err(),
                "bit {bit}"
            );
        }
    }
    assert!(
        crypto::verify_response(
            &accept,
            &SharedSecret::new("xyzzy5460"),
            req.authenticator()
        )
        .is_err()
    );
}

fn with_message_authenticator(first: bool) -> Vec<u8> {
    let v = vectors("radius-message-authenticator.txt");
    let req = &v["rfc2865_7_1_request"];
    let ma = [80u8, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut out = req[..20].to_vec();
    if first {
        out.extend_from_slice(&ma);
        out.extend_from_slice(&req[20..]);
    } else {
        out.extend_from_slice(&req[20..]);
        out.extend_from_slice(&ma);
    }
    out[3] = 74;
    out
}

#[test]
fn message_authenticator_shared_vectors() {
    let v = vectors("radius-message-authenticator.txt");
    for (first, key, offset) in [
        (false, "message_authenticator_when_appended_last", 56),
        (true, "message_authenticator_when_placed_first", 20),
    ] {
        let mut bytes = with_message_authenticator(first);
        crypto::sign(&mut bytes, &secret(), None).unwrap();
        assert_eq!(&bytes[offset + 2..offset + 18], &v[key][..], "{key}");
        let p = Packet::parse_strict(&bytes).unwrap();
        assert_eq!(p.message_authenticator_is_first(), first);
        crypto::verify_request(&p, &secret()).unwrap();
        let computed = crypto::message_authenticator(
            secret().message_authenticator_key(),
            &bytes,
            offset,
            p.authenticator(),
        )
        .unwrap();
        assert_eq!(&computed[..], &v[key][..]);
        for bit in 0..bytes.len() * 8 {
            let bad = flipped(&bytes, bit);
            if let Ok(p) = Packet::parse(&bad)
                && p.code() == Code::AccessRequest
                && p.has_message_authenticator()
            {
                assert!(crypto::verify_request(&p, &secret()).is_err(), "bit {bit}");
            }
        }
    }
}

#[test]
fn response_message_authenticator_and_accounting() {
    let v = vectors("crypto.txt");
    let ra = auth(&v["chap_challenge"]);
    let accept = Packet::parse_strict(&v["accept_with_message_authenticator"]).unwrap();
    assert!(accept.message_authenticator_is_first());
    crypto::verify_response(&accept, &secret(), &ra).unwrap();
    let mut wrong_ra = ra;
    wrong_ra[0] ^= 1;
    assert!(crypto::verify_response(&accept, &secret(), &wrong_ra).is_err());
    // Rebuilding it gives the same bytes.
    let mut rebuilt = accept.as_bytes().to_vec();
    rebuilt[22..38].fill(0);
    rebuilt[4..20].fill(0);
    crypto::sign(&mut rebuilt, &secret(), Some(&ra)).unwrap();
    assert_eq!(rebuilt, accept.as_bytes());

    let acct = Packet::parse_strict(&v["accounting_request"]).unwrap();
    assert_eq!(acct.code(), Code::AccountingRequest);
    crypto::verify_request(&acct, &secret()).unwrap();
    let mut rebuilt = acct.as_bytes().to_vec();
    rebuilt[4..20].fill(0xee);
    crypto::sign(&mut rebuilt, &secret(), None).unwrap();
    assert_eq!(rebuilt, acct.as_bytes());
    for bit in 0..acct.as_bytes().len() * 8 {
        let bad = flipped(acct.as_bytes(), bit);
        if let Ok(p) = Packet::parse(&bad)
            && p.code() == Code::AccountingRequest
        {
            assert!(crypto::verify_request(&p, &secret()).is_err(), "bit {bit}");
        }
    }
}

#[test]
fn chap_pap_and_tunnel_password_vectors() {
    let v = vectors("crypto.txt");
    let ra = auth(&v["chap_challenge"]);
    let ident = v["chap_ident"][0];
    let response = crypto::chap_response(ident, &v["chap_password"], &ra);
    assert_eq!(&response[..], &v["chap_response"][..]);
    let mut attr = vec![ident];
    attr.extend_from_slice(&response);
    crypto::verify_chap(&attr, &v["chap_password"], &ra).unwrap();
    for bit in 0..attr.len() * 8 {
        assert!(crypto::verify_chap(&flipped(&attr, bit), &v["chap_password"], &ra).is_err());
    }

    let mut hidden = Vec::new();
    crypto::hide_user_password(&secret(), &ra, &v["pap_long_password"], &mut hidden).unwrap();
    assert_eq!(hidden, v["pap_long_hidden"]);
    let back = crypto::recover_user_password(&secret(), &ra, &v["pap_long_hidden"]).unwrap();
    assert_eq!(&back[..], &v["pap_long_password"][..]);
    let bad =
        crypto::recover_user_password(&secret(), &ra, &flipped(&v["pap_long_hidden"], 3)).unwrap();
    assert_ne!(&bad[..], &v["pap_long_password"][..]);

    let salt: [u8; 2] = v["tunnel_salt"].clone().try_into().unwrap();
    let mut hidden = Vec::new();
    crypto::hide_tunnel_password(&secret(), &ra, salt, &v["tunnel_password"], &mut hidden).unwrap();
    assert_eq!(hidden, v["tunnel_hidden"]);
    let back = crypto::recover_tunnel_password(&secret(), &ra, &hidden).unwrap();
    assert_eq!(&back[..], &v["tunnel_password"][..]);
    // A flipped length byte makes the plaintext inconsistent or different.
    let bad = flipped(&hidden, 2 * 8 + 7);
    assert_ne!(
        crypto::recover_tunnel_password(&secret(), &ra, &bad)
            .ok()
            .map(|p| p.to_vec()),
        Some(v["tunnel_password"].clone())
    );
}

#[test]
fn rfc2759_section_9_ms_chap_v2() {
    let v = vectors("mschap.txt");
    let user = &v["v2_user_name"];
    let password = std::str::from_utf8(&v["v2_password"]).unwrap();
    let auth_ch: [u8; 16] = v["v2_authenticator_challenge"].clone().try_into().unwrap();
    let peer_ch: [u8; 16] = v["v2_peer_challenge"].clone().try_into().unwrap();
    assert_eq!(
        &mschap::challenge_hash(&peer_ch, &auth_ch, user)[..],
        &v["v2_challenge"][..]
    );
    let hash = mschap::nt_password_hash(password);
    assert_eq!(&hash[..], &v["v2_password_hash"][..]);
    assert_eq!(
        &mschap::hash_nt_password_hash(&hash)[..],
        &v["v2_password_hash_hash"][..]
    );
    let nt = mschap::generate_nt_response(&auth_ch, &peer_ch, user, &hash);
    assert_eq!(&nt[..], &v["v2_nt_response"][..]);
    let ar = mschap::authenticator_response(&hash, &nt, &peer_ch, &auth_ch, user);
    assert_eq!(&ar[..], &v["v2_authenticator_response"][..]);

    let response = MsChap2Response {
        ident: 7,
        flags: 0,
        peer_challenge: &peer_ch,
        nt_response: &nt,
    };
    let mut wire = Vec::new();
    response.encode(&mut wire);
    let parsed = MsChap2Response::parse(&wire).unwrap();
    let success = mschap::verify_ms_chap2(&auth_ch, &parsed, user, &hash).unwrap();
    assert_eq!(success[0], 7);
    assert_eq!(&success[1..], &ar[..]);
    for bit in 0..wire.len() * 8 {
        let bad = flipped(&wire, bit);
        let parsed = MsChap2Response::parse(&bad).unwrap();
        // The identifier, flags and reserved bytes are not covered by the NT response.
        if bit >= 16 && !(18 * 8..26 * 8).contains(&bit) {
            assert!(
                mschap::verify_ms_chap2(&auth_ch, &parsed, user, &hash).is_err(),
                "bit {bit}"
            );
        }
    }
    assert!(mschap::verify_ms_chap2(&auth_ch, &parsed, b"user", &hash).is_err());
    assert!(
        mschap::verify_ms_chap2(
            &auth_ch,
            &parsed,
            user,
            &mschap::nt_password_hash("clientPasS")
        )
        .is_err()
    );
}

#[test]
fn rfc2433_ms_chap_v1() {
    let v = vectors("mschap.txt");
    let challenge: [u8; 8] = v["v1_challenge"].clone().try_into().unwrap();
    let hash = mschap::nt_password_hash(std::str::from_utf8(&v["v1_password"]).unwrap());
    let nt = mschap::challenge_response(&challenge, &hash);
    assert_eq!(&nt[..], &v["v1_nt_response"][..]);
    let mut wire = vec![1, 1];
    wire.extend_from_slice(&[0; 24]);
    wire.extend_from_slice(&nt);
    let r = MsChapResponse::parse(&wire).unwrap();
    mschap::verify_ms_chap1(&challenge, &r, &hash).unwrap();
    for bit in 26 * 8..50 * 8 {
        let bad = flipped(&wire, bit);
        let r = MsChapResponse::parse(&bad).unwrap();
        assert!(mschap::verify_ms_chap1(&challenge, &r, &hash).is_err());
    }
}

/// Every single-bit change of `bytes` either fails to parse or is caught by `same`, which
/// compares the packet with everything the RFC says about it.
fn every_flip_is_noticed(bytes: &[u8], same: impl Fn(&Packet<'_>) -> bool) {
    for bit in 0..bytes.len() * 8 {
        let bad = flipped(bytes, bit);
        if let Ok(p) = Packet::parse_strict(&bad) {
            assert!(!same(&p), "bit {bit} went unnoticed");
        }
    }
}

fn re_encoded(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b =
        idforge_radius::PacketBuilder::new(&mut buf, p.code(), p.identifier(), p.authenticator());
    for raw in p.attributes() {
        Attribute::decode(raw).unwrap().encode(&mut b).unwrap();
    }
    b.finish();
    buf
}

#[test]
fn rfc2865_7_2_chap_request() {
    let v = vectors("rfc2865-section7.txt");
    let bytes = &v["rfc2865_7_2_request"];
    let expected_auth = common::hex("2aee86f08d0d55969ca5978e0d3367a2");
    let chap = common::hex("16e97557c316185895f293ff6344077275");
    let same = |p: &Packet<'_>| {
        let values: Vec<_> = p
            .attributes()
            .map(|a| Attribute::decode(a).map(|d| (a.attr_type, d.value)))
            .collect();
        p.code() == Code::AccessRequest
            && p.identifier() == 1
            && p.authenticator()[..] == expected_auth[..]
            && values
                == [
                    Ok((AttributeType::USER_NAME, Value::Text("flopsy"))),
                    Ok((AttributeType::CHAP_PASSWORD, Value::Octets(&chap))),
                    Ok((
                        AttributeType::NAS_IP_ADDRESS,
                        Value::Ipv4(Ipv4Addr::new(192, 168, 1, 16)),
                    )),
                    Ok((AttributeType::NAS_PORT, Value::Integer(20))),
                    Ok((AttributeType::SERVICE_TYPE, Value::Integer(2))),
                    Ok((AttributeType::FRAMED_PROTOCOL, Value::Integer(1))),
                ]
    };
    let p = Packet::parse_strict(bytes).unwrap();
    assert!(same(&p));
    assert_eq!(&re_encoded(&p), bytes);
    // No CHAP-Challenge attribute: the challenge is the Request Authenticator (RFC 2865 §2.2),
    // and the CHAP Identifier is the first byte of CHAP-Password.
    assert!(p.find(AttributeType::CHAP_CHALLENGE).is_none());
    assert_eq!(p.find(AttributeType::CHAP_PASSWORD).unwrap().value[0], 22);
    every_flip_is_noticed(bytes, same);
}

#[test]
fn rfc2865_7_3_access_challenge() {
    let v = vectors("rfc2865-section7.txt");
    let bytes = &v["rfc2865_7_3_challenge"];
    let expected_auth = common::hex("36f3c8764ae8c71157403c0c71ff9c45");
    let same = |p: &Packet<'_>| {
        let values: Vec<_> = p
            .attributes()
            .map(|a| Attribute::decode(a).map(|d| (a.attr_type, d.value)))
            .collect();
        p.code() == Code::AccessChallenge
            && p.identifier() == 2
            && p.authenticator()[..] == expected_auth[..]
            && values
                == [
                    Ok((
                        AttributeType::REPLY_MESSAGE,
                        Value::Text("Challenge 32769430.  Enter response at prompt."),
                    )),
                    Ok((AttributeType::STATE, Value::Octets(b"32769430"))),
                ]
    };
    let p = Packet::parse_strict(bytes).unwrap();
    assert!(same(&p));
    assert_eq!(&re_encoded(&p), bytes);
    every_flip_is_noticed(bytes, same);
}

fn arr<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}

#[test]
fn rfc3079_3_5_3_mppe_keys_and_rfc2759_9_2_success() {
    let m = vectors("mschap.txt");
    let v = vectors("mppe.txt");
    let hash = mschap::nt_password_hash(std::str::from_utf8(&m["v2_password"]).unwrap());
    let hash_hash = arr::<16>(&m["v2_password_hash_hash"]);
    let nt = arr::<24>(&m["v2_nt_response"]);
    let master = mschap::master_key(&hash_hash, &nt);
    assert_eq!(&master[..], &v["master_key"][..]);
    let send = mschap::asymmetric_start_key(&master, mschap::MppeDirection::ServerToClient);
    let recv = mschap::asymmetric_start_key(&master, mschap::MppeDirection::ClientToServer);
    assert_eq!(&send[..], &v["send_start_key"][..]);
    assert_eq!(&recv[..], &v["recv_start_key"][..]);
    let keys = mschap::MppeKeys::ms_chap2(&hash, &nt);
    assert_eq!(&keys.send_key()[..], &v["send_start_key"][..]);
    assert_eq!(&keys.recv_key()[..], &v["recv_start_key"][..]);

    // Every single-bit change of an input changes the derived key.
    for bit in 0..24 * 8 {
        let bad = arr::<24>(&flipped(&nt, bit));
        assert_ne!(
            &mschap::master_key(&hash_hash, &bad)[..],
            &v["master_key"][..]
        );
    }
    for bit in 0..16 * 8 {
        let bad = arr::<16>(&flipped(&hash_hash, bit));
        assert_ne!(&mschap::master_key(&bad, &nt)[..], &v["master_key"][..]);
        let bad = arr::<16>(&flipped(&master[..], bit));
        let direction = mschap::MppeDirection::ServerToClient;
        assert_ne!(
            &mschap::asymmetric_start_key(&bad, direction)[..],
            &v["send_start_key"][..]
        );
    }

    // MS-CHAP2-Success: the identifier, then the RFC 2759 section 9.2 authenticator response.
    let auth_ch = arr::<16>(&m["v2_authenticator_challenge"]);
    let peer_ch = arr::<16>(&m["v2_peer_challenge"]);
    let response = MsChap2Response {
        ident: 7,
        flags: 0,
        peer_challenge: &peer_ch,
        nt_response: &nt,
    };
    let user = &m["v2_user_name"];
    let success = mschap::authenticate_ms_chap2(&auth_ch, &response, user, &hash).unwrap();
    assert_eq!(&success.value()[..], &v["ms_chap2_success"][..]);
    assert_eq!(
        &success.mppe_keys().send_key()[..],
        &v["send_start_key"][..]
    );
    for bit in 0..24 * 8 {
        let bad = arr::<24>(&flipped(&nt, bit));
        let response = MsChap2Response {
            nt_response: &bad,
            ..response
        };
        assert!(mschap::authenticate_ms_chap2(&auth_ch, &response, user, &hash).is_err());
    }
}

/// Every single-bit change of a hidden value is refused or recovers something else.
fn every_flip_changes<T: PartialEq + std::fmt::Debug>(
    hidden: &[u8],
    expected: &T,
    recover: impl Fn(&[u8]) -> Option<T>,
) {
    for bit in 0..hidden.len() * 8 {
        let got = recover(&flipped(hidden, bit));
        assert_ne!(got.as_ref(), Some(expected), "bit {bit}");
    }
}

#[test]
fn rfc2548_mppe_key_hiding() {
    let c = vectors("crypto.txt");
    let v = vectors("mppe.txt");
    let ra = auth(&c["chap_challenge"]);
    for (key, salt, hidden) in [
        ("send_start_key", "send_salt", "ms_mppe_send_key"),
        ("recv_start_key", "recv_salt", "ms_mppe_recv_key"),
    ] {
        let k = arr::<16>(&v[key]);
        let value = mschap::hide_mppe_key(&secret(), &ra, arr::<2>(&v[salt]), &k);
        assert_eq!(&value[..], &v[hidden][..], "{hidden}");
        let back = mschap::recover_mppe_key(&secret(), &ra, &value).unwrap();
        assert_eq!(*back, k);
        every_flip_changes(&value, &k, |bad| {
            mschap::recover_mppe_key(&secret(), &ra, bad)
                .ok()
                .map(|k| *k)
        });
        assert!(mschap::recover_mppe_key(&SharedSecret::new("xyzzy5460"), &ra, &value).is_err());
        // The generic salted recovery reads the same key.
        let generic = crypto::recover_tunnel_password(&secret(), &ra, &value).unwrap();
        assert_eq!(&generic[..], &k[..]);
    }
    let salts = mschap::MppeSalts::new(arr(&v["send_salt"]), arr(&v["recv_salt"])).unwrap();
    assert_eq!(salts.send(), [0x80, 1]);
    assert_eq!(
        mschap::MppeSalts::new([0, 1], [0x80, 1]),
        Err(idforge_radius::Error::DuplicateSalt { salt: 0x8001 })
    );
}

#[test]
fn rfc2548_ms_chap_error() {
    let m = vectors("mschap.txt");
    let v = vectors("mppe.txt");
    let challenge = arr::<16>(&m["v2_authenticator_challenge"]);
    let error = mschap::MsChapError::v2(
        7,
        mschap::MsChapErrorCode::AuthenticationFailure,
        &challenge,
    );
    let mut value = Vec::new();
    error.encode(&mut value).unwrap();
    assert_eq!(value, v["ms_chap_error"]);
    assert_eq!(mschap::MsChapError::parse(&value), Ok(error));
    // Every single-bit change is refused or parses to another error, except a change of case
    // of a hex letter in C= (hex digits are read in either case, as FreeRADIUS writes them in
    // lower case).
    let hex = 13..45;
    for bit in 0..value.len() * 8 {
        let bad = flipped(&value, bit);
        let case_only = hex.contains(&(bit / 8))
            && bit % 8 == 5
            && bad[bit / 8].is_ascii_alphabetic()
            && value[bit / 8].eq_ignore_ascii_case(&bad[bit / 8]);
        let parsed = mschap::MsChapError::parse(&bad);
        assert_eq!(parsed == Ok(error), case_only, "bit {bit}");
    }
}

#[test]
fn rfc2548_ms_chap_mppe_keys_for_rfc2433_password() {
    let m = vectors("mschap.txt");
    let c = vectors("crypto.txt");
    let v = vectors("mppe.txt");
    let ra = auth(&c["chap_challenge"]);
    let password = std::str::from_utf8(&m["v1_password"]).unwrap();
    let lm = mschap::lm_password_hash(password);
    assert_eq!(&lm[..], &v["v1_lm_password_hash"][..]);
    let keys = mschap::MsChapMppeKeys::ms_chap1(Some(&lm), &mschap::nt_password_hash(password));
    assert_eq!(&keys.nt_key()[..], &v["v1_nt_key"][..]);
    assert_eq!(&keys.lm_key()[..], &v["v1_lm_password_hash"][..8]);
    let value = mschap::hide_ms_chap_mppe_keys(&secret(), &ra, &keys);
    assert_eq!(&value[..], &v["ms_chap_mppe_keys"][..]);
    let back = mschap::recover_ms_chap_mppe_keys(&secret(), &ra, &value).unwrap();
    assert_eq!(
        (back.lm_key(), back.nt_key()),
        (keys.lm_key(), keys.nt_key())
    );
    let expected = (*keys.lm_key(), *keys.nt_key());
    every_flip_changes(&value, &expected, |bad| {
        mschap::recover_ms_chap_mppe_keys(&secret(), &ra, bad)
            .ok()
            .map(|k| (*k.lm_key(), *k.nt_key()))
    });
}
