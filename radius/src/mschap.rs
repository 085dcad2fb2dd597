//! MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC 2759) as carried in RADIUS (RFC 2548).
//!
//! These are legacy primitives built on MD4 and single DES; they are here because NAS
//! vendors and AWS Directory Service still offer them. The functions take either a clear
//! password or its NT hash (what a directory may store instead).
//!
//! A server answers a verified MS-CHAPv2 request with MS-CHAP2-Success and the two MPPE keys
//! (RFC 2548 §2.3.3 and §2.4.2-2.4.3, keys derived per RFC 3079 §3), and a failed one with
//! MS-CHAP-Error (RFC 2548 §2.1.5, RFC 2759 §6). MS-CHAPv1 gets MS-CHAP-MPPE-Keys
//! (RFC 2548 §2.4.1). The salts come from the caller ([`MppeSalts`]); nothing here draws
//! random numbers.
//!
//! ```
//! use idforge_radius::mschap::{self, MppeSalts, MsChap2Accept, MsChapError, MsChapErrorCode};
//! use idforge_radius::microsoft::MsChap2Response;
//! use idforge_radius::SharedSecret;
//!
//! # fn main() -> Result<(), idforge_radius::Error> {
//! let (challenge, peer_challenge) = ([0x5a; 16], [0x21; 16]);
//! let hash = mschap::nt_password_hash("hello");
//! let nt_response = mschap::generate_nt_response(&challenge, &peer_challenge, b"bob", &hash);
//! let response = MsChap2Response { ident: 7, flags: 0, peer_challenge: &peer_challenge, nt_response: &nt_response };
//!
//! // Server side: verify, then build the Access-Accept's Vendor-Specific attributes.
//! let success = mschap::authenticate_ms_chap2(&challenge, &response, b"bob", &hash)?;
//! let (secret, request_authenticator) = (SharedSecret::new("s3cret"), [9; 16]);
//! let salts = MppeSalts::new([0x80, 1], [0x80, 2])?;
//! let accept = MsChap2Accept::new(&secret, &request_authenticator, &success, salts);
//! assert_eq!(accept.attributes().len(), 3);
//!
//! // A wrong password is answered with MS-CHAP-Error in the Access-Reject.
//! let error = MsChapError::v2(7, MsChapErrorCode::AuthenticationFailure, &challenge);
//! let mut value = Vec::new();
//! error.encode(&mut value)?;
//! assert_eq!(&value[1..11], b"E=691 R=0 ");
//! # Ok(())
//! # }
//! ```

use core::fmt;

use des::Des;
use des::cipher::{Block, BlockCipherEncrypt, KeyInit};
use md4::Md4;
use rand_core::CryptoRng;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::attribute::{Attribute, AttributeType};
use crate::crypto::{self, Authenticator};
use crate::error::Error;
use crate::packet::Packet;
use crate::secret::SharedSecret;
use crate::vendor::microsoft::{self, MsChap2Response, MsChapResponse};
use crate::vendor::{self, MICROSOFT};

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
/// followed by the authenticator response). [`authenticate_ms_chap2`] also gives the MPPE
/// keys.
pub fn verify_ms_chap2(
    authenticator_challenge: &[u8; 16],
    response: &MsChap2Response<'_>,
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> Result<[u8; 43], Error> {
    authenticate_ms_chap2(authenticator_challenge, response, user_name, password_hash)
        .map(|success| success.value())
}

/// Verifies an MS-CHAP2-Response (in constant time) against the NT hash of a candidate
/// password and, on success, computes what the server sends back: the authenticator response
/// (RFC 2759 §8.7) and the MPPE keys (RFC 3079 §3.4). A mismatch is the opaque
/// [`Error::InvalidAuthenticator`].
///
/// `user_name` is the name the peer presented, without any domain prefix (RFC 2759 §8.2).
pub fn authenticate_ms_chap2(
    authenticator_challenge: &[u8; 16],
    response: &MsChap2Response<'_>,
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> Result<MsChap2Success, Error> {
    let expected = generate_nt_response(
        authenticator_challenge,
        response.peer_challenge,
        user_name,
        password_hash,
    );
    if !bool::from(expected.ct_eq(response.nt_response)) {
        return Err(Error::InvalidAuthenticator);
    }
    Ok(MsChap2Success {
        ident: response.ident,
        authenticator_response: authenticator_response(
            password_hash,
            response.nt_response,
            response.peer_challenge,
            authenticator_challenge,
            user_name,
        ),
        keys: MppeKeys::ms_chap2(password_hash, response.nt_response),
    })
}

/// A verified MS-CHAPv2 response: the MS-CHAP2-Success value and the MPPE keys to send.
#[derive(Debug, Clone)]
pub struct MsChap2Success {
    ident: u8,
    authenticator_response: [u8; 42],
    keys: MppeKeys,
}

impl MsChap2Success {
    /// The PPP CHAP identifier of the response, echoed in MS-CHAP2-Success.
    pub fn ident(&self) -> u8 {
        self.ident
    }

    /// The authenticator response `S=<40 hex digits>` (RFC 2759 §8.7).
    pub fn authenticator_response(&self) -> &[u8; 42] {
        &self.authenticator_response
    }

    /// The value of the MS-CHAP2-Success attribute (RFC 2548 §2.3.3): the identifier followed
    /// by the authenticator response.
    pub fn value(&self) -> [u8; 43] {
        let mut value = [0u8; 43];
        value[0] = self.ident;
        value[1..].copy_from_slice(&self.authenticator_response);
        value
    }

    /// The 128-bit MPPE keys of the session (RFC 3079 §3.4).
    pub fn mppe_keys(&self) -> &MppeKeys {
        &self.keys
    }
}

const MASTER_KEY_MAGIC: &[u8; 27] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 Magic2: the client's send key, the server's receive key.
const CLIENT_TO_SERVER_MAGIC: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 Magic3: the client's receive key, the server's send key.
const SERVER_TO_CLIENT_MAGIC: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";

/// GetMasterKey (RFC 3079 §3.4): the first 16 bytes of
/// SHA-1(hash of the NT hash + NT-Response + "This is the MPPE Master Key").
pub fn master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> Zeroizing<[u8; 16]> {
    let mut sha = Sha1::new();
    sha.update(password_hash_hash);
    sha.update(nt_response);
    sha.update(MASTER_KEY_MAGIC);
    let digest = Zeroizing::new(<[u8; 20]>::from(sha.finalize()));
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&digest[..16]);
    key
}

/// The direction of traffic an MPPE key encrypts. The NAS is the server side of PPP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MppeDirection {
    /// From the NAS to the peer: the server's send key, the client's receive key, carried
    /// in MS-MPPE-Send-Key.
    ServerToClient,
    /// From the peer to the NAS: the client's send key, the server's receive key, carried in
    /// MS-MPPE-Recv-Key.
    ClientToServer,
}

/// GetAsymmetricStartKey (RFC 3079 §3.4) for a 128-bit key: the first 16 bytes of
/// SHA-1(master key + 40 zero bytes + the direction's magic string + 40 bytes of 0xF2).
pub fn asymmetric_start_key(
    master_key: &[u8; 16],
    direction: MppeDirection,
) -> Zeroizing<[u8; 16]> {
    let magic = match direction {
        MppeDirection::ServerToClient => SERVER_TO_CLIENT_MAGIC,
        MppeDirection::ClientToServer => CLIENT_TO_SERVER_MAGIC,
    };
    let mut sha = Sha1::new();
    sha.update(master_key);
    sha.update([0u8; 40]);
    sha.update(magic);
    sha.update([0xf2u8; 40]);
    let digest = Zeroizing::new(<[u8; 20]>::from(sha.finalize()));
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&digest[..16]);
    key
}

/// The two 128-bit MPPE start keys of a session, from the NAS's side: what MS-MPPE-Send-Key
/// and MS-MPPE-Recv-Key carry. Zeroized on drop; `Debug` never shows them.
#[derive(Clone)]
pub struct MppeKeys {
    send: Zeroizing<[u8; 16]>,
    recv: Zeroizing<[u8; 16]>,
}

impl MppeKeys {
    /// Wraps a send and a receive key (for instance recovered from an Access-Accept).
    pub fn new(send_key: [u8; 16], recv_key: [u8; 16]) -> Self {
        Self {
            send: Zeroizing::new(send_key),
            recv: Zeroizing::new(recv_key),
        }
    }

    /// The keys of an MS-CHAPv2 authentication (RFC 3079 §3.4): the master key from the hash
    /// of the NT hash and the NT-Response, then one start key for each direction.
    pub fn ms_chap2(password_hash: &[u8; 16], nt_response: &[u8; 24]) -> Self {
        let master = master_key(&hash_nt_password_hash(password_hash), nt_response);
        Self {
            send: asymmetric_start_key(&master, MppeDirection::ServerToClient),
            recv: asymmetric_start_key(&master, MppeDirection::ClientToServer),
        }
    }

    /// The NAS's send key (server to client), carried in MS-MPPE-Send-Key.
    pub fn send_key(&self) -> &[u8; 16] {
        &self.send
    }

    /// The NAS's receive key (client to server), carried in MS-MPPE-Recv-Key.
    pub fn recv_key(&self) -> &[u8; 16] {
        &self.recv
    }
}

impl fmt::Debug for MppeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MppeKeys(**redacted**)")
    }
}

/// The salts of MS-MPPE-Send-Key and MS-MPPE-Recv-Key in one Access-Accept: high bit set, and
/// different from each other (RFC 2548 §2.4.2). They should also differ from every other
/// response's, so take them from a CSPRNG with [`MppeSalts::random`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MppeSalts {
    send: [u8; 2],
    recv: [u8; 2],
}

impl MppeSalts {
    /// Salts given by the caller. The high bit of each is set here; two salts that are then
    /// equal are refused with [`Error::DuplicateSalt`].
    pub fn new(send: [u8; 2], recv: [u8; 2]) -> Result<Self, Error> {
        let (send, recv) = ([send[0] | 0x80, send[1]], [recv[0] | 0x80, recv[1]]);
        if send == recv {
            return Err(Error::DuplicateSalt {
                salt: u16::from_be_bytes(send),
            });
        }
        Ok(Self { send, recv })
    }

    /// Two salts drawn from `rng`. Should both draws give the same salt, the low bit of the
    /// second is flipped, so that they always differ.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 4];
        rng.fill_bytes(&mut bytes);
        let send = [bytes[0] | 0x80, bytes[1]];
        let mut recv = [bytes[2] | 0x80, bytes[3]];
        if send == recv {
            recv[1] ^= 1;
        }
        Self { send, recv }
    }

    /// The salt of MS-MPPE-Send-Key.
    pub fn send(&self) -> [u8; 2] {
        self.send
    }

    /// The salt of MS-MPPE-Recv-Key.
    pub fn recv(&self) -> [u8; 2] {
        self.recv
    }
}

/// Length of an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value carrying a 128-bit key: the salt,
/// then the key length byte, the key and 15 bytes of padding hidden in two blocks.
pub const MPPE_KEY_VALUE_LEN: usize = 34;

/// Hides a 128-bit MPPE key as the value of MS-MPPE-Send-Key or MS-MPPE-Recv-Key
/// (RFC 2548 §2.4.2-2.4.3): the salt (its high bit set here), then the key length, the key
/// and zero padding hidden with MD5 over the shared secret, the Request Authenticator of the
/// Access-Request and the salt, chained block by block. Nothing is allocated.
pub fn hide_mppe_key(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    salt: [u8; 2],
    key: &[u8; 16],
) -> [u8; MPPE_KEY_VALUE_LEN] {
    let salt = [salt[0] | 0x80, salt[1]];
    let mut value = [0u8; MPPE_KEY_VALUE_LEN];
    value[..2].copy_from_slice(&salt);
    value[2] = 16;
    value[3..19].copy_from_slice(key);
    crypto::hide_blocks(secret, &[request_authenticator, &salt], &mut value[2..]);
    value
}

/// Recovers a 128-bit key from an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value (the inverse of
/// [`hide_mppe_key`]). A value of another length is [`Error::InvalidHiddenLength`]; a salt
/// without its high bit, a key length other than 16 or non-zero padding (a wrong secret,
/// most likely) is [`Error::InvalidHiddenValue`]. Keys of other lengths (EAP sends 32 bytes)
/// are recovered by [`crypto::recover_tunnel_password`].
pub fn recover_mppe_key(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    value: &[u8],
) -> Result<Zeroizing<[u8; 16]>, Error> {
    let Ok(value) = <&[u8; MPPE_KEY_VALUE_LEN]>::try_from(value) else {
        return Err(Error::InvalidHiddenLength {
            length: value.len().saturating_sub(2),
        });
    };
    let salt = [value[0], value[1]];
    if salt[0] & 0x80 == 0 {
        return Err(Error::InvalidHiddenValue);
    }
    let mut plain = Zeroizing::new([0u8; 32]);
    plain.copy_from_slice(&value[2..]);
    crypto::recover_blocks(secret, &[request_authenticator, &salt], &mut plain[..]);
    let padding_is_zero: bool = plain[17..].ct_eq(&[0u8; 15]).into();
    if plain[0] != 16 || !padding_is_zero {
        return Err(Error::InvalidHiddenValue);
    }
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&plain[1..17]);
    Ok(key)
}

/// The session keys of MS-CHAPv1 that MS-CHAP-MPPE-Keys carries (RFC 2548 §2.4.1): the
/// LAN Manager key and the NT key. Zeroized on drop; `Debug` never shows them.
#[derive(Clone)]
pub struct MsChapMppeKeys {
    lm_key: Zeroizing<[u8; 8]>,
    nt_key: Zeroizing<[u8; 16]>,
}

impl MsChapMppeKeys {
    /// Wraps the two keys (for instance recovered from an Access-Accept).
    pub fn new(lm_key: [u8; 8], nt_key: [u8; 16]) -> Self {
        Self {
            lm_key: Zeroizing::new(lm_key),
            nt_key: Zeroizing::new(nt_key),
        }
    }

    /// The keys of an MS-CHAPv1 authentication: the first 8 bytes of the LAN Manager hash
    /// ([`lm_password_hash`]; zeros when the server does not have it, as FreeRADIUS sends
    /// then) and the hash of the NT hash, MD4(MD4(password)). RFC 2548 names the NT hash
    /// itself, but peers derive their keys from the hash of the hash (RFC 3079 §2.1), and
    /// that is what servers send.
    pub fn ms_chap1(lm_password_hash: Option<&[u8; 16]>, password_hash: &[u8; 16]) -> Self {
        let mut lm_key = Zeroizing::new([0u8; 8]);
        if let Some(lm) = lm_password_hash {
            lm_key.copy_from_slice(&lm[..8]);
        }
        Self {
            lm_key,
            nt_key: hash_nt_password_hash(password_hash),
        }
    }

    /// The LAN Manager key (8 bytes).
    pub fn lm_key(&self) -> &[u8; 8] {
        &self.lm_key
    }

    /// The NT key (16 bytes).
    pub fn nt_key(&self) -> &[u8; 16] {
        &self.nt_key
    }
}

impl fmt::Debug for MsChapMppeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MsChapMppeKeys(**redacted**)")
    }
}

/// Length of an MS-CHAP-MPPE-Keys value: 8 + 16 key bytes and 8 zero bytes, hidden.
pub const MS_CHAP_MPPE_KEYS_LEN: usize = 32;

/// Hides MS-CHAPv1 keys as the value of MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1): the LAN Manager
/// key, the NT key and zero padding to 32 bytes, hidden as a User-Password is (RFC 2865
/// §5.2) with the Request Authenticator of the Access-Request. Nothing is allocated.
pub fn hide_ms_chap_mppe_keys(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    keys: &MsChapMppeKeys,
) -> [u8; MS_CHAP_MPPE_KEYS_LEN] {
    let mut value = [0u8; MS_CHAP_MPPE_KEYS_LEN];
    value[..8].copy_from_slice(keys.lm_key());
    value[8..24].copy_from_slice(keys.nt_key());
    crypto::hide_blocks(secret, &[request_authenticator], &mut value);
    value
}

/// Recovers the keys of an MS-CHAP-MPPE-Keys value (the inverse of
/// [`hide_ms_chap_mppe_keys`]). A value of another length is
/// [`Error::InvalidHiddenLength`]; non-zero padding (a wrong secret, most likely) is
/// [`Error::InvalidHiddenValue`].
pub fn recover_ms_chap_mppe_keys(
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    value: &[u8],
) -> Result<MsChapMppeKeys, Error> {
    if value.len() != MS_CHAP_MPPE_KEYS_LEN {
        return Err(Error::InvalidHiddenLength {
            length: value.len(),
        });
    }
    let mut plain = Zeroizing::new([0u8; MS_CHAP_MPPE_KEYS_LEN]);
    plain.copy_from_slice(value);
    crypto::recover_blocks(secret, &[request_authenticator], &mut plain[..]);
    if !bool::from(plain[24..].ct_eq(&[0u8; 8])) {
        return Err(Error::InvalidHiddenValue);
    }
    let mut lm_key = [0u8; 8];
    let mut nt_key = [0u8; 16];
    lm_key.copy_from_slice(&plain[..8]);
    nt_key.copy_from_slice(&plain[8..24]);
    let keys = MsChapMppeKeys::new(lm_key, nt_key);
    zeroize::Zeroize::zeroize(&mut lm_key);
    zeroize::Zeroize::zeroize(&mut nt_key);
    Ok(keys)
}

/// The LAN Manager password hash (RFC 2433 §A.2 LmPasswordHash): the password upper-cased,
/// cut or zero-padded to 14 bytes, and each 7-byte half used as a DES key to encrypt
/// `KGS!@#$%`. Only ASCII letters are upper-cased; the LAN Manager hash is only defined for
/// OEM code-page passwords. Legacy and weak: needed only for the LM key of MS-CHAPv1
/// ([`MsChapMppeKeys::ms_chap1`]).
pub fn lm_password_hash(password: &str) -> Zeroizing<[u8; 16]> {
    let mut upper = Zeroizing::new([0u8; 14]);
    for (u, b) in upper.iter_mut().zip(password.bytes()) {
        *u = b.to_ascii_uppercase();
    }
    let mut hash = Zeroizing::new([0u8; 16]);
    hash[..8].copy_from_slice(&des_encrypt(&upper[..7], *b"KGS!@#$%"));
    hash[8..].copy_from_slice(&des_encrypt(&upper[7..], *b"KGS!@#$%"));
    hash
}

/// The error codes of MS-CHAP failures (RFC 2759 §6, RFC 2433 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MsChapErrorCode {
    /// 646 ERROR_RESTRICTED_LOGON_HOURS.
    RestrictedLogonHours,
    /// 647 ERROR_ACCT_DISABLED.
    AccountDisabled,
    /// 648 ERROR_PASSWD_EXPIRED.
    PasswordExpired,
    /// 649 ERROR_NO_DIALIN_PERMISSION.
    NoDialinPermission,
    /// 691 ERROR_AUTHENTICATION_FAILURE.
    AuthenticationFailure,
    /// 709 ERROR_CHANGING_PASSWORD.
    ChangingPassword,
    /// A code without a name here; kept as received.
    Unknown(u32),
}

impl From<u32> for MsChapErrorCode {
    fn from(value: u32) -> Self {
        match value {
            646 => Self::RestrictedLogonHours,
            647 => Self::AccountDisabled,
            648 => Self::PasswordExpired,
            649 => Self::NoDialinPermission,
            691 => Self::AuthenticationFailure,
            709 => Self::ChangingPassword,
            other => Self::Unknown(other),
        }
    }
}

impl From<MsChapErrorCode> for u32 {
    fn from(value: MsChapErrorCode) -> Self {
        match value {
            MsChapErrorCode::RestrictedLogonHours => 646,
            MsChapErrorCode::AccountDisabled => 647,
            MsChapErrorCode::PasswordExpired => 648,
            MsChapErrorCode::NoDialinPermission => 649,
            MsChapErrorCode::AuthenticationFailure => 691,
            MsChapErrorCode::ChangingPassword => 709,
            MsChapErrorCode::Unknown(other) => other,
        }
    }
}

/// Longest value of a Microsoft sub-attribute inside one Vendor-Specific attribute.
const MAX_SUB_VALUE_LEN: usize = 247;

/// The value of an MS-CHAP-Error attribute for MS-CHAPv2 (RFC 2548 §2.1.5): the PPP CHAP
/// identifier, then the failure text of RFC 2759 §6,
/// `E=<code> R=<retry> C=<32 hex digits> V=<version>`, optionally followed by ` M=<message>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsChapError<'a> {
    /// PPP CHAP identifier of the response that failed.
    pub ident: u8,
    /// Why it failed.
    pub code: MsChapErrorCode,
    /// Whether the peer may try again (`R=1`).
    pub retry: bool,
    /// The challenge for a retry or password change (`C=`, 16 bytes).
    pub challenge: [u8; 16],
    /// The password-change protocol version (`V=`); 3 for MS-CHAPv2.
    pub version: u32,
    /// Human-readable text (`M=`), if any.
    pub message: Option<&'a str>,
}

impl<'a> MsChapError<'a> {
    /// An MS-CHAPv2 failure without retry, version 3 and without message:
    /// `E=<code> R=0 C=<challenge> V=3`.
    pub fn v2(ident: u8, code: MsChapErrorCode, challenge: &[u8; 16]) -> Self {
        Self {
            ident,
            code,
            retry: false,
            challenge: *challenge,
            version: 3,
            message: None,
        }
    }

    /// The same failure with retry allowed or not.
    #[must_use]
    pub fn with_retry(mut self, retry: bool) -> Self {
        self.retry = retry;
        self
    }

    /// The same failure with a human-readable message.
    #[must_use]
    pub fn with_message(mut self, message: &'a str) -> Self {
        self.message = Some(message);
        self
    }

    /// Writes the attribute value (identifier and text) to `out`. A value longer than one
    /// Microsoft sub-attribute can hold (247 bytes, so a message of at most about 190 bytes)
    /// is [`Error::ValueTooLong`], and nothing is written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.push(self.ident);
        let mut text = [0u8; 64];
        let head = self.head(&mut text);
        out.extend_from_slice(head);
        if let Some(message) = self.message {
            out.extend_from_slice(b" M=");
            out.extend_from_slice(message.as_bytes());
        }
        let length = out.len() - start;
        if length > MAX_SUB_VALUE_LEN {
            out.truncate(start);
            return Err(Error::ValueTooLong {
                attr_type: microsoft::MS_CHAP_ERROR,
                length,
            });
        }
        Ok(())
    }

    /// Writes a complete Vendor-Specific value (vendor 311, type 2) holding the error.
    pub fn encode_vendor_specific(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let mut value = Vec::with_capacity(64);
        self.encode(&mut value)?;
        vendor::VendorSpecific::encode_single(MICROSOFT, microsoft::MS_CHAP_ERROR, &value, out)
    }

    /// `E=… R=… C=… V=…` written into `buf`, without allocating.
    fn head<'b>(&self, buf: &'b mut [u8; 64]) -> &'b [u8] {
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            for &b in bytes {
                if let Some(slot) = buf.get_mut(n) {
                    *slot = b;
                    n += 1;
                }
            }
        };
        put(b"E=");
        put(decimal(u32::from(self.code)).as_slice());
        put(if self.retry { b" R=1 C=" } else { b" R=0 C=" });
        for b in self.challenge {
            put(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
        put(b" V=");
        put(decimal(self.version).as_slice());
        &buf[..n]
    }

    /// Parses an MS-CHAP-Error value of MS-CHAPv2: the identifier, then `E=`, `R=`, `C=` (32
    /// hex digits, either case) and `V=` in this order, separated by single spaces, and an
    /// optional final ` M=` whose text runs to the end.
    pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidValue {
            offset: 0,
            attr_type: microsoft::MS_CHAP_ERROR,
            reason,
        };
        let (&ident, text) = value.split_first().ok_or(bad("empty MS-CHAP-Error"))?;
        let (fields, message) = match find(text, b" M=") {
            Some(at) => {
                let message = core::str::from_utf8(&text[at + 3..])
                    .map_err(|_| bad("message is not valid UTF-8"))?;
                (&text[..at], Some(message))
            }
            None => (text, None),
        };
        let mut parts = fields.split(|&b| b == b' ');
        let mut field = |name: &[u8]| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .ok_or(bad("expected E=, R=, C= and V= in this order"))
        };
        let code = parse_decimal(field(b"E=")?).ok_or(bad("E= is not a decimal number"))?;
        let retry = match field(b"R=")? {
            b"0" => false,
            b"1" => true,
            _ => return Err(bad("R= is neither 0 nor 1")),
        };
        let hex = field(b"C=")?;
        let version = parse_decimal(field(b"V=")?).ok_or(bad("V= is not a decimal number"))?;
        if parts.next().is_some() {
            return Err(bad("unexpected field after V="));
        }
        let mut challenge = [0u8; 16];
        if hex.len() != 32 {
            return Err(bad("C= is not 32 hex digits"));
        }
        for (byte, pair) in challenge.iter_mut().zip(hex.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
                return Err(bad("C= is not 32 hex digits"));
            };
            *byte = (hi << 4) | lo;
        }
        Ok(Self {
            ident,
            code: MsChapErrorCode::from(code),
            retry,
            challenge,
            version,
            message,
        })
    }
}

/// Up to ten decimal digits of `value`, without leading zeros.
fn decimal(value: u32) -> DecimalDigits {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    DecimalDigits { digits, start }
}

struct DecimalDigits {
    digits: [u8; 10],
    start: usize,
}

impl DecimalDigits {
    fn as_slice(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
            .flatten()
    })
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Length of one Vendor-Specific value holding one Microsoft sub-attribute of `n` bytes.
const fn vsa_len(n: usize) -> usize {
    n + 6
}

/// Writes the Vendor-Specific value of one Microsoft sub-attribute into a fixed array.
fn microsoft_vsa<const N: usize>(vendor_type: u8, value: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out[..4].copy_from_slice(&MICROSOFT.to_be_bytes());
    out[4] = vendor_type;
    out[5] = (N - 4) as u8;
    out[6..].copy_from_slice(value);
    out
}

const SUCCESS_VSA_LEN: usize = vsa_len(43);
const MPPE_KEY_VSA_LEN: usize = vsa_len(MPPE_KEY_VALUE_LEN);
const MS_CHAP_MPPE_KEYS_VSA_LEN: usize = vsa_len(MS_CHAP_MPPE_KEYS_LEN);

/// The Vendor-Specific attributes of an Access-Accept for MS-CHAPv2: MS-CHAP2-Success,
/// MS-MPPE-Send-Key and MS-MPPE-Recv-Key, each a complete Vendor-Specific value, built
/// without allocating. Pass [`MsChap2Accept::attributes`] to
/// [`Server::answer`](crate::Server::answer).
#[derive(Debug, Clone)]
pub struct MsChap2Accept {
    success: [u8; SUCCESS_VSA_LEN],
    send_key: [u8; MPPE_KEY_VSA_LEN],
    recv_key: [u8; MPPE_KEY_VSA_LEN],
}

impl MsChap2Accept {
    /// Builds the attributes for the Access-Request whose Request Authenticator is given,
    /// with the secret shared with its NAS.
    pub fn new(
        secret: &SharedSecret,
        request_authenticator: &Authenticator,
        success: &MsChap2Success,
        salts: MppeSalts,
    ) -> Self {
        let keys = success.mppe_keys();
        let send = hide_mppe_key(secret, request_authenticator, salts.send, keys.send_key());
        let recv = hide_mppe_key(secret, request_authenticator, salts.recv, keys.recv_key());
        Self {
            success: microsoft_vsa(microsoft::MS_CHAP2_SUCCESS, &success.value()),
            send_key: microsoft_vsa(microsoft::MS_MPPE_SEND_KEY, &send),
            recv_key: microsoft_vsa(microsoft::MS_MPPE_RECV_KEY, &recv),
        }
    }

    /// The three Vendor-Specific attributes, MS-CHAP2-Success first.
    pub fn attributes(&self) -> [Attribute<'_>; 3] {
        [
            Attribute::octets(AttributeType::VENDOR_SPECIFIC, &self.success),
            Attribute::octets(AttributeType::VENDOR_SPECIFIC, &self.send_key),
            Attribute::octets(AttributeType::VENDOR_SPECIFIC, &self.recv_key),
        ]
    }
}

/// The Vendor-Specific attribute of an Access-Accept for MS-CHAPv1: MS-CHAP-MPPE-Keys, built
/// without allocating.
#[derive(Debug, Clone)]
pub struct MsChap1Accept {
    mppe_keys: [u8; MS_CHAP_MPPE_KEYS_VSA_LEN],
}

impl MsChap1Accept {
    /// Builds the attribute for the Access-Request whose Request Authenticator is given, with
    /// the secret shared with its NAS.
    pub fn new(
        secret: &SharedSecret,
        request_authenticator: &Authenticator,
        keys: &MsChapMppeKeys,
    ) -> Self {
        let hidden = hide_ms_chap_mppe_keys(secret, request_authenticator, keys);
        Self {
            mppe_keys: microsoft_vsa(microsoft::MS_CHAP_MPPE_KEYS, &hidden),
        }
    }

    /// The Vendor-Specific attribute.
    pub fn attribute(&self) -> Attribute<'_> {
        Attribute::octets(AttributeType::VENDOR_SPECIFIC, &self.mppe_keys)
    }
}

/// The user name MS-CHAP hashes: the User-Name without any `DOMAIN\` prefix (RFC 2759 §8.2
/// excludes the domain).
fn user_name_without_domain<'a>(packet: &Packet<'a>) -> Result<&'a [u8], Error> {
    let name = packet
        .find(AttributeType::USER_NAME)
        .ok_or(Error::MissingAttribute {
            attr_type: AttributeType::USER_NAME.0,
        })?
        .value;
    Ok(name.rsplit(|&b| b == b'\\').next().unwrap_or(name))
}

fn microsoft_attribute<'a>(packet: &Packet<'a>, vendor_type: u8) -> Result<&'a [u8], Error> {
    vendor::find_vendor_value(packet, MICROSOFT, vendor_type).ok_or(Error::MissingVendorAttribute {
        vendor_id: MICROSOFT,
        vendor_type,
    })
}

fn challenge_of<'a, const N: usize>(packet: &Packet<'a>) -> Result<&'a [u8; N], Error> {
    let value = microsoft_attribute(packet, microsoft::MS_CHAP_CHALLENGE)?;
    value.try_into().map_err(|_| Error::InvalidValueLength {
        offset: 0,
        attr_type: microsoft::MS_CHAP_CHALLENGE,
        length: value.len(),
        expected: if N == 16 { "16" } else { "8" },
    })
}

/// The MS-CHAPv2 attributes of an Access-Request (RFC 2548 §2.3.2): MS-CHAP-Challenge (16
/// bytes), MS-CHAP2-Response, and the User-Name without its domain, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChap2Request<'a> {
    /// The authenticator challenge (MS-CHAP-Challenge).
    pub challenge: &'a [u8; 16],
    /// The peer's response (MS-CHAP2-Response).
    pub response: MsChap2Response<'a>,
    /// The user name that enters the challenge hash.
    pub user_name: &'a [u8],
}

impl<'a> MsChap2Request<'a> {
    /// Finds the attributes in a packet. A missing one is [`Error::MissingAttribute`] or
    /// [`Error::MissingVendorAttribute`]; a challenge or response of the wrong length is
    /// [`Error::InvalidValueLength`].
    pub fn from_packet(packet: &Packet<'a>) -> Result<Self, Error> {
        let response =
            MsChap2Response::parse(microsoft_attribute(packet, microsoft::MS_CHAP2_RESPONSE)?)?;
        Ok(Self {
            challenge: challenge_of::<16>(packet)?,
            response,
            user_name: user_name_without_domain(packet)?,
        })
    }

    /// Verifies the response against the NT hash of the user's password
    /// ([`authenticate_ms_chap2`]).
    pub fn authenticate(&self, password_hash: &[u8; 16]) -> Result<MsChap2Success, Error> {
        authenticate_ms_chap2(
            self.challenge,
            &self.response,
            self.user_name,
            password_hash,
        )
    }

    /// The MS-CHAP-Error of a failure of this request, echoing its identifier and challenge
    /// (`E=<code> R=0 C=<challenge> V=3`).
    pub fn error(&self, code: MsChapErrorCode) -> MsChapError<'static> {
        MsChapError::v2(self.response.ident, code, self.challenge)
    }
}

/// The MS-CHAPv1 attributes of an Access-Request (RFC 2548 §2.1.3): MS-CHAP-Challenge (8
/// bytes) and MS-CHAP-Response, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChap1Request<'a> {
    /// The challenge (MS-CHAP-Challenge).
    pub challenge: &'a [u8; 8],
    /// The peer's response (MS-CHAP-Response).
    pub response: MsChapResponse<'a>,
}

impl<'a> MsChap1Request<'a> {
    /// Finds the attributes in a packet, with the errors of [`MsChap2Request::from_packet`].
    pub fn from_packet(packet: &Packet<'a>) -> Result<Self, Error> {
        let response =
            MsChapResponse::parse(microsoft_attribute(packet, microsoft::MS_CHAP_RESPONSE)?)?;
        Ok(Self {
            challenge: challenge_of::<8>(packet)?,
            response,
        })
    }

    /// Verifies the NT response against the NT hash of the user's password
    /// ([`verify_ms_chap1`]).
    pub fn verify(&self, password_hash: &[u8; 16]) -> Result<(), Error> {
        verify_ms_chap1(self.challenge, &self.response, password_hash)
    }
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
    fn error_codes_round_trip_and_errors_parse_strictly() {
        for code in [646u32, 647, 648, 649, 691, 709, 0, 4_294_967_295] {
            assert_eq!(u32::from(MsChapErrorCode::from(code)), code);
        }
        assert_eq!(
            MsChapErrorCode::from(709),
            MsChapErrorCode::ChangingPassword
        );
        let challenge = [0xab; 16];
        let error = MsChapError::v2(3, MsChapErrorCode::Unknown(4_294_967_295), &challenge)
            .with_retry(true)
            .with_message("bad  M=password");
        let mut value = Vec::new();
        error.encode(&mut value).unwrap();
        assert!(value.starts_with(b"\x03E=4294967295 R=1 C=ABAB"));
        assert!(value.ends_with(b" V=3 M=bad  M=password"));
        assert_eq!(MsChapError::parse(&value), Ok(error));
        let lower = b"\x03E=691 R=0 C=abababababababababababababababab V=3";
        assert_eq!(
            MsChapError::parse(lower).map(|e| (e.code, e.challenge)),
            Ok((MsChapErrorCode::AuthenticationFailure, challenge))
        );
        for bad in [
            &b""[..],
            b"\x03",
            b"\x03E=691",
            b"\x03E=691 R=2 C=abababababababababababababababab V=3",
            b"\x03E=691 R=0 C=ababababababababababababababab V=3",
            b"\x03E=691 R=0 C=abababababababababababababababag V=3",
            b"\x03E=691 R=0 C=abababababababababababababababab V=3 X=1",
            b"\x03E=99999999999 R=0 C=abababababababababababababababab V=3",
            b"\x03E= R=0 C=abababababababababababababababab V=3",
            b"\x03R=0 E=691 C=abababababababababababababababab V=3",
        ] {
            assert!(MsChapError::parse(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(200);
        let mut out = vec![9];
        assert!(matches!(
            error.with_message(&long).encode(&mut out),
            Err(Error::ValueTooLong { .. })
        ));
        assert_eq!(out, [9]);
    }

    #[test]
    fn salts_differ_and_keys_stay_secret() {
        struct Same;
        impl rand_core::TryRng for Same {
            type Error = core::convert::Infallible;
            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                Ok(0)
            }
            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                Ok(0)
            }
            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
                dst.fill(0x11);
                Ok(())
            }
        }
        impl rand_core::TryCryptoRng for Same {}
        let salts = MppeSalts::random(&mut Same);
        assert_eq!((salts.send(), salts.recv()), ([0x91, 0x11], [0x91, 0x10]));
        let keys = MppeKeys::new([0x42; 16], [0x43; 16]);
        let v1 = MsChapMppeKeys::new([0x44; 8], [0x45; 16]);
        let text = format!("{keys:?} {v1:?}");
        assert!(!text.contains("42") && !text.contains("66") && text.contains("redacted"));
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
