//! MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC 2759) as carried in RADIUS (RFC 2548).
//!
//! These are legacy primitives built on MD4 and single DES; they are here because NAS
//! vendors and AWS Directory Service still offer them. The functions take either a clear
//! password or its NT hash (what a directory may store instead).

use des::Des;
use des::cipher::{Block, BlockCipherEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::vendor::microsoft::{MsChap2Response, MsChapResponse};

/// The NT password hash: MD4 of the UTF-16LE password (RFC 2759 §8.3).
pub fn nt_password_hash(password: &str) -> Zeroizing<[u8; 16]> {
    let mut md4 = Md4::new();
    for unit in password.encode_utf16() {
        md4.update(unit.to_le_bytes());
    }
    Zeroizing::new(md4.finalize().into())
}

/// MD4 of the NT password hash (RFC 2759 §8.4).
pub fn hash_nt_password_hash(hash: &[u8; 16]) -> Zeroizing<[u8; 16]> {
    Zeroizing::new(Md4::digest(hash).into())
}

/// The 8-byte challenge of MS-CHAPv2 (RFC 2759 §8.2): the first 8 bytes of
/// SHA-1(peer challenge + authenticator challenge + user name).
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 8] {
    let mut sha = Sha1::new();
    sha.update(peer_challenge);
    sha.update(authenticator_challenge);
    sha.update(user_name);
    let digest = sha.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Spreads 56 key bits over 8 bytes, leaving the DES parity bits (the low bits) clear.
fn des_key(seven: &[u8]) -> Zeroizing<[u8; 8]> {
    let mut bits = 0u64;
    for &b in seven.iter().take(7) {
        bits = (bits << 8) | u64::from(b);
    }
    let mut key = Zeroizing::new([0u8; 8]);
    for (i, k) in key.iter_mut().enumerate() {
        *k = (((bits >> (49 - 7 * i)) & 0x7f) as u8) << 1;
    }
    key
}

fn des_encrypt(seven: &[u8], clear: [u8; 8]) -> [u8; 8] {
    let key = des_key(seven);
    let cipher = Des::new(&(*key).into());
    let mut block = Block::<Des>::from(clear);
    cipher.encrypt_block(&mut block);
    block.into()
}

/// The 24-byte challenge response of MS-CHAP (RFC 2759 §8.5, RFC 2433 §A.5): the challenge
/// encrypted with three DES keys cut from the zero-padded 21-byte hash.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = Zeroizing::new([0u8; 21]);
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&des_encrypt(&z[i * 7..i * 7 + 7], *challenge));
    }
    out
}

/// The MS-CHAPv2 NT-Response of a peer (RFC 2759 §8.1).
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    challenge_response(&challenge, password_hash)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";
const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// The authenticator response `S=<40 hex digits>` that proves the server knows the password
/// (RFC 2759 §8.7).
pub fn authenticator_response(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 42] {
    let hash_hash = hash_nt_password_hash(password_hash);
    let mut sha = Sha1::new();
    sha.update(*hash_hash);
    sha.update(nt_response);
    sha.update(MAGIC1);
    let digest = sha.finalize();
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    let mut sha = Sha1::new();
    sha.update(digest);
    sha.update(challenge);
    sha.update(MAGIC2);
    let digest = sha.finalize();
    let mut out = [0u8; 42];
    out[0] = b'S';
    out[1] = b'=';
    for (i, b) in digest.iter().enumerate() {
        out[2 + 2 * i] = HEX[usize::from(b >> 4)];
        out[3 + 2 * i] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// Verifies an MS-CHAP2-Response against the NT hash of a candidate password. On success
/// returns the value of the MS-CHAP2-Success attribute to send back (the CHAP identifier
/// followed by the authenticator response).
pub fn verify_ms_chap2(
    authenticator_challenge: &[u8; 16],
    response: &MsChap2Response<'_>,
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> Result<[u8; 43], Error> {
    let expected = generate_nt_response(
        authenticator_challenge,
        response.peer_challenge,
        user_name,
        password_hash,
    );
    if !bool::from(expected.ct_eq(response.nt_response)) {
        return Err(Error::InvalidAuthenticator);
    }
    let auth = authenticator_response(
        password_hash,
        response.nt_response,
        response.peer_challenge,
        authenticator_challenge,
        user_name,
    );
    let mut success = [0u8; 43];
    success[0] = response.ident;
    success[1..].copy_from_slice(&auth);
    Ok(success)
}

/// Verifies an MS-CHAP-Response (MS-CHAPv1, NT response only; the LAN Manager response is
/// never accepted) against the NT hash of a candidate password.
pub fn verify_ms_chap1(
    challenge: &[u8; 8],
    response: &MsChapResponse<'_>,
    password_hash: &[u8; 16],
) -> Result<(), Error> {
    if response.flags != 1 {
        return Err(Error::InvalidAuthenticator);
    }
    let expected = challenge_response(challenge, password_hash);
    if bool::from(expected.ct_eq(response.nt_response)) {
        Ok(())
    } else {
        Err(Error::InvalidAuthenticator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_key_spreads_bits() {
        assert_eq!(*des_key(&[0xff; 7]), [0xfe; 8]);
        assert_eq!(*des_key(&[0; 7]), [0; 8]);
        assert_eq!(
            *des_key(&[0x80, 0, 0, 0, 0, 0, 1]),
            [0x80, 0, 0, 0, 0, 0, 0, 0x02]
        );
    }

    #[test]
    fn v1_rejects_lm_only_and_wrong_password() {
        let challenge = [1u8; 8];
        let hash = nt_password_hash("pw");
        let nt = challenge_response(&challenge, &hash);
        let lm = [0u8; 24];
        let ok = MsChapResponse {
            ident: 1,
            flags: 1,
            lm_response: &lm,
            nt_response: &nt,
        };
        assert!(verify_ms_chap1(&challenge, &ok, &hash).is_ok());
        assert!(verify_ms_chap1(&challenge, &ok, &nt_password_hash("px")).is_err());
        let lm_only = MsChapResponse { flags: 0, ..ok };
        assert!(verify_ms_chap1(&challenge, &lm_only, &hash).is_err());
    }
}
