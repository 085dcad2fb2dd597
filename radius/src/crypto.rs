//! Authenticators, Message-Authenticator, and the hiding schemes of RADIUS.
//!
//! Every comparison of a secret-derived value is constant time, and every verification
//! failure is opaque.

use hmac::Mac;
use md5::{Digest, Md5};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::code::{AuthenticatorKind, Code};
use crate::error::Error;
use crate::packet::{AUTHENTICATOR_LEN, HEADER_LEN, Packet, check_attributes};
use crate::secret::{MessageAuthenticatorKey, SharedSecret};

/// Longest User-Password RFC 2865 §5.2 allows.
pub const MAX_PASSWORD_LEN: usize = 128;

/// A 16-byte authenticator.
pub type Authenticator = [u8; AUTHENTICATOR_LEN];

const ZERO: Authenticator = [0; AUTHENTICATOR_LEN];

/// HMAC-MD5 over `packet` with its Authenticator field replaced by `authenticator` and the
/// 16 value bytes of the Message-Authenticator attribute at `ma_offset` taken as zero
/// (RFC 2869 §5.14, RFC 3579 §3.2). Nothing is copied.
pub fn message_authenticator(
    key: &MessageAuthenticatorKey,
    packet: &[u8],
    ma_offset: usize,
    authenticator: &Authenticator,
) -> Result<Authenticator, Error> {
    let value_start = ma_offset + 2;
    let value_end = value_start + AUTHENTICATOR_LEN;
    if ma_offset < HEADER_LEN || value_end > packet.len() {
        return Err(Error::MissingMessageAuthenticator);
    }
    let mut mac = key.start();
    // Message-Authenticator is usually first (where the Blast-RADIUS hardening puts it): the
    // header and that attribute are then assembled on the stack with the authenticator and
    // the zeroed value in place, and the MAC takes the packet in two pieces instead of five.
    if ma_offset == HEADER_LEN {
        let mut head = [0u8; HEADER_LEN + 2 + AUTHENTICATOR_LEN];
        head[..4].copy_from_slice(&packet[..4]);
        head[4..HEADER_LEN].copy_from_slice(authenticator);
        head[HEADER_LEN..value_start].copy_from_slice(&packet[HEADER_LEN..value_start]);
        Mac::update(&mut mac, &head);
    } else {
        Mac::update(&mut mac, &packet[..4]);
        Mac::update(&mut mac, authenticator);
        Mac::update(&mut mac, &packet[HEADER_LEN..value_start]);
        Mac::update(&mut mac, &ZERO);
    }
    Mac::update(&mut mac, &packet[value_end..]);
    Ok(mac.finalize().into_bytes().into())
}

/// MD5(Code + Identifier + Length + `authenticator` + Attributes + secret): the Response
/// Authenticator (RFC 2865 §3) with the Request Authenticator, or the Accounting Request
/// Authenticator (RFC 2866 §3) with sixteen zero bytes.
pub fn packet_digest(packet: &[u8], authenticator: &Authenticator, secret: &[u8]) -> Authenticator {
    let mut md5 = Md5::new();
    md5.update(packet.get(..4).unwrap_or(&[]));
    md5.update(authenticator);
    md5.update(packet.get(HEADER_LEN..).unwrap_or(&[]));
    md5.update(secret);
    md5.finalize().into()
}

/// Constant-time equality of two byte strings (of public lengths), compared eight bytes at a
/// time with `subtle` (one optimisation barrier per word rather than per byte).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut equal = Choice::from(1);
    for (x, y) in a_words.iter().zip(b_words) {
        equal &= u64::from_ne_bytes(*x).ct_eq(&u64::from_ne_bytes(*y));
    }
    equal &= a_rest.ct_eq(b_rest);
    equal.into()
}

/// Signs a finished packet in place: fills in the Message-Authenticator (if the packet has
/// one) and then the Authenticator field as the code requires.
///
/// * Access-Request, Status-Server: the Authenticator field must already hold the random
///   Request Authenticator; only Message-Authenticator is computed.
/// * Accounting-Request, CoA-Request, Disconnect-Request: Message-Authenticator is computed
///   over a zero authenticator, then the Request Authenticator is the MD5 digest.
/// * Responses: `request_authenticator` is required; Message-Authenticator is computed with
///   it, then the Response Authenticator.
#[inline]
pub fn sign(
    packet: &mut [u8],
    secret: &SharedSecret,
    request_authenticator: Option<&Authenticator>,
) -> Result<(), Error> {
    let Some(&code) = packet.first() else {
        return Err(Error::TooShort { len: 0 });
    };
    if packet.len() < HEADER_LEN {
        return Err(Error::TooShort { len: packet.len() });
    }
    let code = Code::from(code);
    let kind = code
        .authenticator_kind()
        .ok_or(Error::UnexpectedCode { code: code.value() })?;
    let ma = check_attributes(&packet[HEADER_LEN..], HEADER_LEN)?.message_authenticator;
    if kind == AuthenticatorKind::Response && request_authenticator.is_none() {
        return Err(Error::UnexpectedCode { code: code.value() });
    }
    if let Some(offset) = ma {
        let base: Authenticator = match (kind, request_authenticator) {
            (AuthenticatorKind::RandomRequest, _) => packet[4..HEADER_LEN]
                .try_into()
                .map_err(|_| Error::TooShort { len: packet.len() })?,
            (AuthenticatorKind::Response, Some(ra)) => response_ma_base(code, ra),
            _ => ZERO,
        };
        let value =
            message_authenticator(secret.message_authenticator_key(), packet, offset, &base)?;
        packet[offset + 2..offset + 2 + AUTHENTICATOR_LEN].copy_from_slice(&value);
    }
    if kind == AuthenticatorKind::HashedRequest {
        let digest = packet_digest(packet, &ZERO, secret.expose());
        packet[4..HEADER_LEN].copy_from_slice(&digest);
    } else if let (AuthenticatorKind::Response, Some(ra)) = (kind, request_authenticator) {
        // The field is overwritten with the digest, so it can hold the Request Authenticator
        // while the digest is computed: the packet is then hashed in one piece.
        packet[4..HEADER_LEN].copy_from_slice(ra);
        let mut md5 = Md5::new();
        md5.update(&*packet);
        md5.update(secret.expose());
        let digest: Authenticator = md5.finalize().into();
        packet[4..HEADER_LEN].copy_from_slice(&digest);
    }
    Ok(())
}

/// The authenticator a response's Message-Authenticator is computed over: the Request
/// Authenticator for answers to Access-Requests (RFC 3579 §3.2), sixteen zero bytes for
/// Accounting-Response and the CoA/Disconnect answers, as FreeRADIUS computes them.
fn response_ma_base(code: Code, request_authenticator: &Authenticator) -> Authenticator {
    match code {
        Code::AccessAccept | Code::AccessReject | Code::AccessChallenge => *request_authenticator,
        _ => ZERO,
    }
}

#[inline]
fn verify_message_authenticator(
    packet: &Packet<'_>,
    secret: &SharedSecret,
    base: &Authenticator,
) -> Result<(), Error> {
    if let Some(offset) = packet.message_authenticator_offset() {
        let bytes = packet.as_bytes();
        let expected =
            message_authenticator(secret.message_authenticator_key(), bytes, offset, base)?;
        if !ct_eq(
            &expected,
            &bytes[offset + 2..offset + 2 + AUTHENTICATOR_LEN],
        ) {
            return Err(Error::InvalidMessageAuthenticator);
        }
    }
    Ok(())
}

/// Verifies a request: the Request Authenticator of Accounting-, CoA- and Disconnect-Requests,
/// and the Message-Authenticator of any request that carries one. Whether a missing
/// Message-Authenticator is acceptable is the caller's policy ([`Packet::has_message_authenticator`]).
#[inline]
pub fn verify_request(packet: &Packet<'_>, secret: &SharedSecret) -> Result<(), Error> {
    match packet.code().authenticator_kind() {
        Some(AuthenticatorKind::RandomRequest) => {
            verify_message_authenticator(packet, secret, packet.authenticator())
        }
        Some(AuthenticatorKind::HashedRequest) => {
            let expected = packet_digest(packet.as_bytes(), &ZERO, secret.expose());
            if !ct_eq(&expected, packet.authenticator()) {
                return Err(Error::InvalidAuthenticator);
            }
            verify_message_authenticator(packet, secret, &ZERO)
        }
        _ => Err(Error::UnexpectedCode {
            code: packet.code().value(),
        }),
    }
}

/// Verifies a response against the Request Authenticator of the request it answers: the
/// Response Authenticator and, if present, the Message-Authenticator.
pub fn verify_response(
    packet: &Packet<'_>,
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
) -> Result<(), Error> {
    if packet.code().authenticator_kind() != Some(AuthenticatorKind::Response) {
        return Err(Error::UnexpectedCode {
            code: packet.code().value(),
        });
    }
    let expected = packet_digest(packet.as_bytes(), request_authenticator, secret.expose());
    if !ct_eq(&expected, packet.authenticator()) {
        return Err(Error::InvalidAuthenticator);
    }
    verify_message_authenticator(
        packet,
        secret,
        &response_ma_base(packet.code(), request_authenticator),
    )
}

/// XORs `block` with MD5(secret + `chain`) (the keystream step shared by User-Password and
/// Tunnel-Password hiding).
#[inline]
fn keystream(secret: &SharedSecret, chain: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    let mut md5 = secret.md5_after_secret();
    for part in chain {
        md5.update(part);
    }
    Zeroizing::new(md5.finalize().into())
}

/// MD5(secret + `block`) as two words (like [`block_words`]), for comparing without a byte
/// copy: zeroizing the two words takes two stores instead of sixteen.
#[inline]
fn keystream_words(secret: &SharedSecret, block: &[u8; 16]) -> Zeroizing<[u64; 2]> {
    let mut md5 = secret.md5_after_secret();
    md5.update(block);
    let digest: [u8; 16] = md5.finalize().into();
    Zeroizing::new(block_words(&digest))
}

fn xor_into(out: &mut [u8], key: &[u8; 16]) {
    for (o, k) in out.iter_mut().zip(key) {
        *o ^= k;
    }
}

/// Hides a User-Password (RFC 2865 §5.2) of at most 128 bytes with the Request
/// Authenticator; appends the hidden value (a multiple of 16 bytes, at least 16) to `out`.
pub fn hide_user_password(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    password: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::PasswordTooLong {
            length: password.len(),
            max: MAX_PASSWORD_LEN,
        });
    }
    let blocks = password.len().div_ceil(16).max(1);
    let start = out.len();
    out.extend_from_slice(password);
    out.resize(start + blocks * 16, 0);
    hide_blocks(secret, &[request_authenticator], &mut out[start..]);
    Ok(())
}

/// Hides `blocks` (a multiple of 16 bytes) in place with the chained keystream of
/// RFC 2865 §5.2: the first block is XORed with MD5(secret + `first`), each later one with
/// MD5(secret + the previous hidden block). User-Password uses the Request Authenticator as
/// `first`; Tunnel-Password and the MS-MPPE keys (RFC 2868 §3.5, RFC 2548 §2.4.2) use the
/// Request Authenticator and the salt; MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1) the former.
pub(crate) fn hide_blocks(secret: &SharedSecret, first: &[&[u8]], blocks: &mut [u8]) {
    let mut prev = [0u8; 16];
    for (i, block) in blocks.chunks_exact_mut(16).enumerate() {
        let key = if i == 0 {
            keystream(secret, first)
        } else {
            keystream(secret, &[&prev])
        };
        xor_into(block, &key);
        prev.copy_from_slice(block);
    }
}

/// Reverses [`hide_blocks`] in place: each block's keystream chains on the previous hidden
/// block, which is saved before it is overwritten.
pub(crate) fn recover_blocks(secret: &SharedSecret, first: &[&[u8]], blocks: &mut [u8]) {
    let mut prev = [0u8; 16];
    let mut hidden = [0u8; 16];
    for (i, block) in blocks.chunks_exact_mut(16).enumerate() {
        hidden.copy_from_slice(block);
        let key = if i == 0 {
            keystream(secret, first)
        } else {
            keystream(secret, &[&prev])
        };
        xor_into(block, &key);
        prev = hidden;
    }
}

/// Recovers a User-Password hidden with [`hide_user_password`]. Trailing zero bytes (the
/// padding) are removed.
pub fn recover_user_password(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    hidden: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buf = Zeroizing::new([0u8; MAX_PASSWORD_LEN]);
    let password = recover_user_password_into(secret, request_authenticator, hidden, &mut buf)?;
    Ok(Zeroizing::new(password.to_vec()))
}

/// A hidden User-Password is 16 to 128 bytes, in blocks of 16.
fn check_hidden_len(hidden: &[u8]) -> Result<(), Error> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) || hidden.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidHiddenLength {
            length: hidden.len(),
        });
    }
    Ok(())
}

/// Recovers a User-Password into a caller buffer, without allocating; returns the password
/// (padding removed) as a slice of `buf`. The caller should zeroize `buf` after use.
#[inline]
pub fn recover_user_password_into<'b>(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    hidden: &[u8],
    buf: &'b mut [u8; MAX_PASSWORD_LEN],
) -> Result<&'b [u8], Error> {
    check_hidden_len(hidden)?;
    let out = &mut buf[..hidden.len()];
    out.copy_from_slice(hidden);
    recover_blocks(secret, &[request_authenticator], out);
    let len = out.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    Ok(&buf[..len])
}

/// Checks a hidden User-Password (RFC 2865 §5.2) against the expected `password` in constant
/// time: both are compared as 128 zero-padded bytes, without a branch on their contents, so
/// the comparison takes as long whichever byte differs (the time depends only on the length of
/// the hidden value and of `password`). Trailing zero bytes do not count, as the hiding cannot
/// carry them. A mismatch is the opaque [`Error::InvalidPassword`]. Nothing is allocated.
///
/// The recovered password is never written to memory: each hidden block is XORed with its
/// keystream and the expected block in registers, and the differences are accumulated.
pub fn verify_user_password(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    hidden: &[u8],
    password: &[u8],
) -> Result<(), Error> {
    check_hidden_len(hidden)?;
    let (hidden_blocks, _) = hidden.as_chunks::<16>();
    // A longer password cannot be hidden in a User-Password, so it never matches.
    let fits = Choice::from(u8::from(password.len() <= MAX_PASSWORD_LEN));
    // The differences are ORed together eight bytes at a time, with no branch on their
    // values; `subtle` then tells whether that is zero.
    let mut diff = 0u64;
    let mut chain: &[u8; 16] = request_authenticator;
    for (i, block) in hidden_blocks.iter().enumerate() {
        let key = keystream_words(secret, chain);
        chain = block;
        let ([h0, h1], [k0, k1]) = (block_words(block), *key);
        let [e0, e1] = padded_block(password, 16 * i);
        diff |= (h0 ^ k0 ^ e0) | (h1 ^ k1 ^ e1);
    }
    // Past what the client sent, the recovered password is zero padding: the rest of the
    // expected password must be zero too.
    let beyond = password.get(hidden.len()..).unwrap_or(&[]);
    let (words, tail) = beyond.as_chunks::<8>();
    for word in words {
        diff |= u64::from_ne_bytes(*word);
    }
    for &b in tail {
        diff |= u64::from(b);
    }
    if bool::from(fits & diff.ct_eq(&0)) {
        Ok(())
    } else {
        Err(Error::InvalidPassword)
    }
}

/// A 16-byte block as two words (any fixed byte order does, as words are only compared).
#[inline]
fn block_words(block: &[u8; 16]) -> [u64; 2] {
    let (lo, hi) = block.split_at(8);
    [
        u64::from_le_bytes(lo.try_into().unwrap_or_default()),
        u64::from_le_bytes(hi.try_into().unwrap_or_default()),
    ]
}

/// Bytes `start..start + 16` of `password`, zero-padded, as words like [`block_words`]. The
/// bytes go straight into the words: no copy of the password is left in memory.
#[inline]
fn padded_block(password: &[u8], start: usize) -> [u64; 2] {
    let rest = password.get(start..).unwrap_or(&[]);
    if let Some(full) = rest.first_chunk::<16>() {
        return block_words(full);
    }
    // Fewer than 16 bytes: a whole first word if there is one, then byte by byte.
    let (first, rest, at) = match rest.first_chunk::<8>() {
        Some(word) => (u64::from_le_bytes(*word), &rest[8..], 1),
        None => (0, rest, 0),
    };
    let mut words = [first, 0];
    for (i, &b) in rest.iter().enumerate() {
        words[at + i / 8] |= u64::from(b) << (8 * (i % 8));
    }
    words
}

/// Longest password the salted scheme of RFC 2868 §3.5 can carry in one attribute
/// (tag and salt leave 250 bytes, 240 of them usable in 16-byte blocks after the length byte).
pub const MAX_TUNNEL_PASSWORD_LEN: usize = 239;

/// Hides a Tunnel-Password (RFC 2868 §3.5; also MS-MPPE-Send/Recv-Key, RFC 2548 §2.4.2):
/// appends salt and hidden value (without the tag) to `out`. The high bit of the salt is set
/// as the RFC requires; the salt must be unique per attribute, so take it from an RNG.
pub fn hide_tunnel_password(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    salt: [u8; 2],
    password: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if password.len() > MAX_TUNNEL_PASSWORD_LEN {
        return Err(Error::PasswordTooLong {
            length: password.len(),
            max: MAX_TUNNEL_PASSWORD_LEN,
        });
    }
    let salt = [salt[0] | 0x80, salt[1]];
    out.extend_from_slice(&salt);
    let start = out.len();
    let blocks = (password.len() + 1).div_ceil(16);
    out.push(password.len() as u8);
    out.extend_from_slice(password);
    out.resize(start + blocks * 16, 0);
    hide_blocks(secret, &[request_authenticator, &salt], &mut out[start..]);
    Ok(())
}

/// Recovers a password hidden with [`hide_tunnel_password`] from the salt and hidden value
/// (the attribute value after its tag byte).
pub fn recover_tunnel_password(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    salted: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let Some((salt, hidden)) = salted.split_first_chunk::<2>() else {
        return Err(Error::InvalidHiddenLength {
            length: salted.len(),
        });
    };
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) {
        return Err(Error::InvalidHiddenLength {
            length: hidden.len(),
        });
    }
    if salt[0] & 0x80 == 0 {
        return Err(Error::InvalidHiddenValue);
    }
    let mut out = Zeroizing::new(hidden.to_vec());
    recover_blocks(secret, &[request_authenticator, salt], &mut out);
    let len = usize::from(out[0]);
    if len + 1 > out.len() {
        return Err(Error::InvalidHiddenValue);
    }
    out.copy_within(1..=len, 0);
    out.truncate(len);
    Ok(out)
}

/// The CHAP response MD5(identifier + password + challenge) (RFC 1994 §4.1).
pub fn chap_response(ident: u8, password: &[u8], challenge: &[u8]) -> Authenticator {
    let mut md5 = Md5::new();
    md5.update([ident]);
    md5.update(password);
    md5.update(challenge);
    md5.finalize().into()
}

/// Verifies a CHAP-Password attribute value (identifier and 16-byte response, RFC 2865 §5.3)
/// against a candidate password. The challenge is the CHAP-Challenge attribute if the request
/// has one, otherwise its Request Authenticator.
pub fn verify_chap(chap_password: &[u8], password: &[u8], challenge: &[u8]) -> Result<(), Error> {
    let Some((&ident, response)) = chap_password.split_first() else {
        return Err(Error::InvalidAuthenticator);
    };
    if response.len() != 16 {
        return Err(Error::InvalidAuthenticator);
    }
    let expected = chap_response(ident, password, challenge);
    if ct_eq(&expected, response) {
        Ok(())
    } else {
        Err(Error::InvalidAuthenticator)
    }
}

/// The CHAP challenge of an Access-Request: its CHAP-Challenge attribute, or the Request
/// Authenticator when there is none (RFC 2865 §2.2).
pub fn chap_challenge<'a>(packet: &Packet<'a>) -> &'a [u8] {
    packet
        .find(crate::attribute::AttributeType::CHAP_CHALLENGE)
        .map_or(&packet.authenticator()[..], |a| a.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_password_round_trips_all_block_counts() {
        let secret = SharedSecret::new("s3cr3t");
        let ra = [0x42; 16];
        for len in [0usize, 1, 15, 16, 17, 31, 32, 100, 128] {
            let pw: Vec<u8> = (1..=len).map(|i| i as u8).collect();
            let mut hidden = Vec::new();
            hide_user_password(&secret, &ra, &pw, &mut hidden).unwrap();
            assert_eq!(hidden.len(), len.div_ceil(16).max(1) * 16);
            let back = recover_user_password(&secret, &ra, &hidden).unwrap();
            assert_eq!(&back[..], &pw[..]);
        }
        assert!(hide_user_password(&secret, &ra, &[1; 129], &mut Vec::new()).is_err());
        assert!(recover_user_password(&secret, &ra, &[0; 15]).is_err());
        assert!(recover_user_password(&secret, &ra, &[0; 144]).is_err());
    }

    #[test]
    fn tunnel_password_round_trips() {
        let secret = SharedSecret::new("s3cr3t");
        let ra = [7; 16];
        for len in [0usize, 1, 15, 16, 200, MAX_TUNNEL_PASSWORD_LEN] {
            let pw = vec![b'p'; len];
            let mut v = Vec::new();
            hide_tunnel_password(&secret, &ra, [1, 2], &pw, &mut v).unwrap();
            assert_eq!(v[0], 0x81);
            assert!(v.len() <= 252);
            assert_eq!(
                &recover_tunnel_password(&secret, &ra, &v).unwrap()[..],
                &pw[..]
            );
            let other = SharedSecret::new("other");
            if let Ok(p) = recover_tunnel_password(&other, &ra, &v) {
                assert_ne!(&p[..], &pw[..]);
            }
        }
        assert!(hide_tunnel_password(&secret, &ra, [0, 0], &[0; 240], &mut Vec::new()).is_err());
    }

    #[test]
    fn user_password_verifies_in_constant_time_and_rejects() {
        let secret = SharedSecret::new("s3cr3t");
        let ra = [0x42; 16];
        for password in [&b""[..], b"a", b"correct horse", &[b'p'; 16], &[b'q'; 128]] {
            let mut hidden = Vec::new();
            hide_user_password(&secret, &ra, password, &mut hidden).unwrap();
            assert_eq!(
                verify_user_password(&secret, &ra, &hidden, password),
                Ok(())
            );
            let mut longer = password.to_vec();
            longer.push(b'x');
            let mut shorter = password.to_vec();
            if shorter.pop().is_some() {
                assert_eq!(
                    verify_user_password(&secret, &ra, &hidden, &shorter),
                    Err(Error::InvalidPassword)
                );
            }
            for wrong in [&longer[..], b"Correct horse", &[b'q'; 129]] {
                assert_eq!(
                    verify_user_password(&secret, &ra, &hidden, wrong),
                    Err(Error::InvalidPassword),
                    "{wrong:?}"
                );
            }
            assert_eq!(
                verify_user_password(&SharedSecret::new("other"), &ra, &hidden, password),
                Err(Error::InvalidPassword)
            );
        }
        // One flipped bit of the hidden value.
        let mut hidden = Vec::new();
        hide_user_password(&secret, &ra, b"correct horse", &mut hidden).unwrap();
        hidden[3] ^= 1;
        assert_eq!(
            verify_user_password(&secret, &ra, &hidden, b"correct horse"),
            Err(Error::InvalidPassword)
        );
        assert_eq!(
            verify_user_password(&secret, &ra, &hidden[..15], b"correct horse"),
            Err(Error::InvalidHiddenLength { length: 15 })
        );
    }

    /// `verify_user_password` compares without recovering the password into memory; it must
    /// decide exactly as recovering and comparing the zero-padded values does.
    #[test]
    fn user_password_verification_matches_recover_and_compare() {
        let secret = SharedSecret::new("s3cr3t");
        let ra = [0x17; 16];
        let lengths = [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 127, 128];
        let mut passwords: Vec<Vec<u8>> = lengths
            .iter()
            .map(|&n| (0..n).map(|i| b'a' + (i % 26) as u8).collect())
            .collect();
        // Trailing zeros, which the hiding cannot carry, and values that only differ there.
        passwords.push(b"abc\0\0".to_vec());
        passwords.push([&b"abc"[..], &[0; 40]].concat());
        passwords.push([&b"abc"[..], &[0; 126]].concat());
        passwords.push([&[0u8; 20][..], b"z"].concat());
        for sent in &passwords {
            let mut hidden = Vec::new();
            if hide_user_password(&secret, &ra, sent, &mut hidden).is_err() {
                continue;
            }
            let recovered = recover_user_password(&secret, &ra, &hidden).unwrap();
            for expected in &passwords {
                let mut a = [0u8; 256];
                let mut b = [0u8; 256];
                a[..recovered.len()].copy_from_slice(&recovered);
                b[..expected.len()].copy_from_slice(expected);
                let reference = expected.len() <= MAX_PASSWORD_LEN && a == b;
                assert_eq!(
                    verify_user_password(&secret, &ra, &hidden, expected).is_ok(),
                    reference,
                    "sent {sent:?}, expected {expected:?}"
                );
            }
            // Every single-bit flip of the hidden value is refused.
            for bit in 0..hidden.len() * 8 {
                let mut flipped = hidden.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    verify_user_password(&secret, &ra, &flipped, sent),
                    Err(Error::InvalidPassword)
                );
            }
        }
    }

    #[test]
    fn ct_eq_compares_every_byte() {
        for len in [0usize, 1, 7, 8, 9, 16, 17, 24] {
            let a: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert!(ct_eq(&a, &a));
            for i in 0..len {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!ct_eq(&a, &b));
            }
            assert!(!ct_eq(&a, &[a.clone(), vec![0]].concat()));
        }
    }

    #[test]
    fn message_authenticator_is_the_same_wherever_it_is() {
        // The first-attribute shortcut and the general path give the HMAC-MD5 of the packet
        // with the value zeroed and the given authenticator in place.
        let secret = SharedSecret::new("s3cr3t");
        let key = secret.message_authenticator_key();
        let auth = [9u8; 16];
        for first in [true, false] {
            let mut buf = Vec::new();
            let mut b =
                crate::packet::PacketBuilder::new(&mut buf, Code::AccessRequest, 3, &[1; 16]);
            if first {
                b.push_message_authenticator().unwrap();
            }
            b.push(crate::AttributeType::USER_NAME, b"nemo").unwrap();
            if !first {
                b.push_message_authenticator().unwrap();
            }
            b.finish();
            let offset = if first { HEADER_LEN } else { HEADER_LEN + 6 };
            buf[offset + 2..offset + 18].fill(0xaa);
            let mut plain = buf.clone();
            plain[4..HEADER_LEN].copy_from_slice(&auth);
            plain[offset + 2..offset + 18].fill(0);
            let mut mac = key.start();
            Mac::update(&mut mac, &plain);
            let expected: Authenticator = mac.finalize().into_bytes().into();
            assert_eq!(
                message_authenticator(key, &buf, offset, &auth),
                Ok(expected)
            );
        }
    }

    #[test]
    fn chap_verifies_and_rejects() {
        let challenge = [9u8; 16];
        let r = chap_response(5, b"secretpw", &challenge);
        let mut attr = vec![5];
        attr.extend_from_slice(&r);
        assert!(verify_chap(&attr, b"secretpw", &challenge).is_ok());
        assert!(verify_chap(&attr, b"secretpx", &challenge).is_err());
        assert!(verify_chap(&attr[..16], b"secretpw", &challenge).is_err());
        assert!(verify_chap(&[], b"secretpw", &challenge).is_err());
    }
}
