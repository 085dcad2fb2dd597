//! Secrets at rest: AES-256-GCM (aws-lc-rs) under keys from the configuration.
//!
//! A sealed value is `0x01 || key id (8 bytes) || nonce (12 bytes) || ciphertext || tag`.
//! The associated data names the row it belongs to (for an OTP secret: the user id and the
//! factor id), so a ciphertext copied into another row fails to open. The key id says which
//! key sealed it, so that several keys can be open at once while `idforge keys rotate`
//! re-encrypts.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const KEY_ID_LEN: usize = 8;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;

/// Why a key or a sealed value was refused. Opening failures say only which key or that the
/// value is not authentic, never why in more detail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key is not 32 bytes of base64.
    #[error("an encryption key must be 32 bytes in base64 (`openssl rand -base64 32`)")]
    BadKey,
    /// The value was sealed under a key that is not configured.
    #[error("sealed under key {key_id}, which is not configured")]
    UnknownKey {
        /// The key id (hex).
        key_id: String,
    },
    /// Too short, an unknown format, or the tag does not verify (wrong row or tampered).
    #[error("a sealed secret is not authentic")]
    NotAuthentic,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
}

/// One AES-256 key and its id.
pub struct Key {
    id: [u8; KEY_ID_LEN],
    aead: LessSafeKey,
    raw: Zeroizing<[u8; 32]>,
}

impl Key {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key, CryptoError> {
        let raw: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| CryptoError::BadKey)?;
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(b"idforge key id\0");
        context.update(&raw);
        let digest = context.finish();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        Ok(Key {
            id,
            aead: LessSafeKey::new(unbound),
            raw: Zeroizing::new(raw),
        })
    }

    /// A key from base64 text (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Key, CryptoError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| CryptoError::BadKey)?,
        );
        Key::from_bytes(&bytes)
    }

    /// A new random key.
    pub fn generate() -> Result<Key, CryptoError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(raw.as_mut())
            .map_err(|_| CryptoError::Random)?;
        Key::from_bytes(raw.as_ref())
    }

    /// The key in base64, to write to a key file or a secret manager.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.raw.as_ref()))
    }

    /// The key id in hex (safe to log).
    pub fn id_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.id)
    }

    /// Reads a key file, or creates it with a new key (mode 0600) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Key, CryptoError> {
        let file_err = |source| CryptoError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Key::from_base64(&Zeroizing::new(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Key::generate()?;
                write_private(path, key.to_base64().as_bytes()).map_err(file_err)?;
                Ok(key)
            }
            Err(e) => Err(file_err(e)),
        }
    }
}

/// Writes a file readable by its owner only, durably: a temporary file is written, synced and
/// renamed over the target, and the directory is synced.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id {}, **redacted**)", self.id_hex())
    }
}

/// The current key, which seals, and earlier keys, which only open.
#[derive(Debug)]
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
    rng: SystemRandom,
}

impl Keyring {
    /// A keyring that seals with `current` and also opens values sealed with `previous`.
    pub fn new(current: Key, previous: Vec<Key>) -> Keyring {
        Keyring {
            current,
            previous,
            rng: SystemRandom::new(),
        }
    }

    /// The sealing key.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// Encrypts `plaintext` bound to `context` (the row it is stored in).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.current
            .aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .map_err(|_| CryptoError::NotAuthentic)?;
        out.extend_from_slice(&body);
        body.fill(0);
        Ok(out)
    }

    /// A keyed hash (HMAC-SHA-256, hex) of `data` for `context`, under the current key: what
    /// the store keeps of a short code or a link token, so that a copy of the database alone
    /// does not let anyone try codes offline.
    pub fn mac(&self, context: &[u8], data: &[u8]) -> String {
        mac_with(&self.current, context, data)
    }

    /// The keyed hashes of `data` under every key of the ring, current first: a value written
    /// before a key rotation still matches one of them.
    pub fn macs(&self, context: &[u8], data: &[u8]) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| mac_with(k, context, data))
            .collect()
    }

    /// Whether `stored` is the keyed hash of `data` for `context` under one of the keys,
    /// compared in constant time.
    pub fn mac_matches(&self, stored: &str, context: &[u8], data: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        let mut found = subtle::Choice::from(0);
        for candidate in self.macs(context, data) {
            if candidate.len() == stored.len() {
                found |= candidate.as_bytes().ct_eq(stored.as_bytes());
            }
        }
        found.into()
    }

    /// The id (hex) of the key that sealed `sealed`, if it is well-formed.
    pub fn key_id_of(sealed: &[u8]) -> Option<String> {
        (sealed.len() >= HEADER_LEN && sealed[0] == FORMAT)
            .then(|| data_encoding::HEXLOWER.encode(&sealed[1..=KEY_ID_LEN]))
    }

    /// Decrypts a value sealed for `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + TAG_LEN || sealed[0] != FORMAT {
            return Err(CryptoError::NotAuthentic);
        }
        let id = &sealed[1..=KEY_ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey {
                key_id: data_encoding::HEXLOWER.encode(id),
            })?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        let mut body = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let len = key
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .map_err(|_| CryptoError::NotAuthentic)?
            .len();
        body.truncate(len);
        Ok(body)
    }
}

/// HMAC-SHA-256 under a key derived from `key` for MACs only (never the sealing key itself).
fn mac_with(key: &Key, context: &[u8], data: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key.raw.as_ref()),
        b"idforge mac key v1",
    );
    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
    let mut ctx = hmac::Context::with_key(&mac_key);
    ctx.update(
        &u64::try_from(context.len())
            .unwrap_or(u64::MAX)
            .to_be_bytes(),
    );
    ctx.update(context);
    ctx.update(data);
    data_encoding::HEXLOWER.encode(ctx.sign().as_ref())
}

/// The associated data of an OTP secret: it belongs to this user and this factor.
pub fn factor_context(user_id: i64, factor_id: &str) -> Vec<u8> {
    let mut aad = b"idforge otp-secret v1\0".to_vec();
    aad.extend_from_slice(&user_id.to_be_bytes());
    aad.extend_from_slice(factor_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let ring = Keyring::new(Key::generate().unwrap(), vec![]);
        let sealed = ring
            .seal(b"JBSWY3DPEHPK3PXP", &factor_context(1, "f1"))
            .unwrap();
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
        let opened = ring.open(&sealed, &factor_context(1, "f1")).unwrap();
        assert_eq!(&opened[..], b"JBSWY3DPEHPK3PXP");
        // Another row: refused.
        assert!(matches!(
            ring.open(&sealed, &factor_context(2, "f1")),
            Err(CryptoError::NotAuthentic)
        ));
        assert!(matches!(
            ring.open(&sealed, &factor_context(1, "f2")),
            Err(CryptoError::NotAuthentic)
        ));
        // Every single bit flipped: refused.
        for i in 0..sealed.len() * 8 {
            let mut t = sealed.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert!(ring.open(&t, &factor_context(1, "f1")).is_err(), "bit {i}");
        }
        assert!(ring.open(&sealed[..10], b"").is_err());
    }

    #[test]
    fn previous_keys_open_and_unknown_keys_are_named() {
        let old = Key::generate().unwrap();
        let old_b64 = old.to_base64();
        let old_ring = Keyring::new(old, vec![]);
        let sealed = old_ring.seal(b"s", b"ctx").unwrap();
        let new_ring = Keyring::new(
            Key::generate().unwrap(),
            vec![Key::from_base64(&old_b64).unwrap()],
        );
        assert_eq!(&new_ring.open(&sealed, b"ctx").unwrap()[..], b"s");
        let stranger = Keyring::new(Key::generate().unwrap(), vec![]);
        assert!(matches!(
            stranger.open(&sealed, b"ctx"),
            Err(CryptoError::UnknownKey { .. })
        ));
    }

    #[test]
    fn keys_must_be_32_bytes_and_never_print() {
        assert!(Key::from_base64("c2hvcnQ=").is_err());
        assert!(Key::from_base64("not base64!").is_err());
        let k = Key::generate().unwrap();
        let b64 = k.to_base64();
        assert!(!format!("{k:?}").contains(b64.as_str()));
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/store.key");
        let a = Key::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Key::load_or_create(&path).unwrap();
        assert_eq!(a.id_hex(), b.id_hex());
    }
}
