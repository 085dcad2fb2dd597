//! Signature algorithms, the [`Signer`] trait and its backends, and signature
//! verification keys.
//!
//! The default backend, [`RsaSigner`], is pure Rust (the `rsa` crate). That crate
//! has a known, unpatched timing side channel on private-key operations
//! (RUSTSEC-2023-0071, the "Marvin" attack): a network attacker who can time many
//! signatures may learn the key. Servers should use the constant-time
//! `AwsLcRsSigner` (cargo feature `aws-lc-rs`) or a key held in an HSM or cloud KMS
//! behind their own [`Signer`] implementation.

use rsa::pkcs1v15;
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cert::Certificate;
use crate::error::{Cause, Error, KeyError, Result, SignError};

/// Digest algorithm URI of SHA-256.
pub const DIGEST_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// Digest algorithm URI of SHA-1 (legacy).
pub const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
/// Signature algorithm URI of RSA PKCS#1 v1.5 with SHA-256.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// Signature algorithm URI of RSA PKCS#1 v1.5 with SHA-1 (legacy).
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaSha256,
    /// RSA PKCS#1 v1.5 with SHA-1: only for service providers that cannot do better,
    /// and only when explicitly allowed.
    RsaSha1Legacy,
}

impl SignatureAlgorithm {
    /// The XML-DSig algorithm URI (also the `SigAlg` of the Redirect binding).
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => RSA_SHA256,
            Self::RsaSha1Legacy => RSA_SHA1,
        }
    }

    /// The algorithm for a URI, `None` when unknown.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            RSA_SHA256 => Some(Self::RsaSha256),
            RSA_SHA1 => Some(Self::RsaSha1Legacy),
            _ => None,
        }
    }

    /// `true` for SHA-1 based algorithms.
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::RsaSha1Legacy)
    }
}

/// A digest algorithm for `ds:Reference`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-1, legacy.
    Sha1Legacy,
}

impl DigestAlgorithm {
    /// The XML-DSig algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Sha256 => DIGEST_SHA256,
            Self::Sha1Legacy => DIGEST_SHA1,
        }
    }

    /// The algorithm for a URI, `None` when unknown.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            DIGEST_SHA256 => Some(Self::Sha256),
            DIGEST_SHA1 => Some(Self::Sha1Legacy),
            _ => None,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha1Legacy => Sha1::digest(data).to_vec(),
        }
    }

    /// `true` for SHA-1.
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::Sha1Legacy)
    }
}

/// Something that produces signatures: a key in memory, an HSM, a cloud KMS.
pub trait Signer {
    /// The algorithm of the signatures this signer makes.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// Signs `message` (the signer hashes it). A backend outside this crate reports
    /// its failures with [`SignError::backend`].
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;

    /// The public half of the signing key, when the backend knows it. Signing with a
    /// certificate checks it against this ([`Certificate::check_signer`]); a backend
    /// that returns `None` (the default, e.g. a remote KMS) is not checked.
    ///
    /// [`Certificate::check_signer`]: crate::cert::Certificate::check_signer
    fn public_key(&self) -> Option<VerifyingKey> {
        None
    }
}

impl<S: Signer + ?Sized> Signer for &S {
    fn algorithm(&self) -> SignatureAlgorithm {
        (**self).algorithm()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(message)
    }

    fn public_key(&self) -> Option<VerifyingKey> {
        (**self).public_key()
    }
}

/// The DER of the first `PRIVATE KEY` (PKCS#8, `true`) or `RSA PRIVATE KEY`
/// (PKCS#1, `false`) block of a PEM text.
fn private_key_der(pem: &str) -> Result<(Zeroizing<Vec<u8>>, bool), KeyError> {
    let (label, der) = crate::cert::pem_decode(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"])?;
    Ok((der, label == "PRIVATE KEY"))
}

enum RsaKey {
    Sha256(pkcs1v15::SigningKey<Sha256>),
    Sha1(pkcs1v15::SigningKey<Sha1>),
}

/// RSA PKCS#1 v1.5 signing with the pure-Rust `rsa` crate (see the module docs for
/// its timing side channel, RUSTSEC-2023-0071).
pub struct RsaSigner {
    key: RsaKey,
    public: rsa::PublicKey,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigner")
            .field("algorithm", &self.algorithm())
            .field("key", &"**redacted**")
            .finish()
    }
}

impl RsaSigner {
    /// Loads a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM key for
    /// RSA-SHA256.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (der, pkcs8) = private_key_der(pem)?;
        if pkcs8 {
            Self::from_pkcs8_der(&der)
        } else {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            let key = rsa::PrivateKey::from_pkcs1_der(&der).map_err(|e| KeyError::PrivateKey {
                format: "PKCS#1",
                source: Cause::new(e),
            })?;
            Ok(Self::from_key(key))
        }
    }

    /// Loads a PEM key like [`RsaSigner::from_pem`] and checks that `certificate` is
    /// for this key ([`Error::KeyCertificateMismatch`] otherwise).
    pub fn from_pem_for_certificate(pem: &str, certificate: &Certificate) -> Result<Self> {
        let signer = Self::from_pem(pem)?;
        certificate.check_signer(&signer)?;
        Ok(signer)
    }

    /// Loads a PKCS#8 DER key for RSA-SHA256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        use rsa::pkcs8::DecodePrivateKey as _;
        let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| KeyError::PrivateKey {
            format: "PKCS#8",
            source: Cause::new(e),
        })?;
        Ok(Self::from_key(key))
    }

    fn from_key(key: rsa::PrivateKey) -> Self {
        Self {
            public: key.to_public_key(),
            key: RsaKey::Sha256(pkcs1v15::SigningKey::new(key)),
        }
    }

    /// Switches this signer to RSA-SHA1. Only for service providers that cannot
    /// verify SHA-256; SHA-1 signatures are forgeable with enough resources.
    #[must_use]
    pub fn into_sha1_legacy(self) -> Self {
        let key: rsa::PrivateKey = match self.key {
            RsaKey::Sha256(k) => k.into(),
            RsaKey::Sha1(k) => k.into(),
        };
        Self {
            key: RsaKey::Sha1(pkcs1v15::SigningKey::new(key)),
            public: self.public,
        }
    }
}

impl Signer for RsaSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            RsaKey::Sha256(_) => SignatureAlgorithm::RsaSha256,
            RsaKey::Sha1(_) => SignatureAlgorithm::RsaSha1Legacy,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let sig = match &self.key {
            RsaKey::Sha256(k) => k.try_sign(message),
            RsaKey::Sha1(k) => k.try_sign(message),
        }
        .map_err(|e| SignError::Rsa(Cause::new(e)))?;
        Ok(sig.to_vec())
    }

    fn public_key(&self) -> Option<VerifyingKey> {
        Some(VerifyingKey::from_rsa(self.public.clone()))
    }
}

/// RSA PKCS#1 v1.5 SHA-256 signing with aws-lc-rs (constant-time).
///
/// It takes no randomness from the caller because it uses none: PKCS#1 v1.5 signatures are
/// deterministic, and aws-lc-rs's `RsaKeyPair::sign` ignores its `SecureRandom` argument (it
/// keeps it for *ring* compatibility; RSA blinding happens inside aws-lc). That trait is
/// sealed, so the only value there is to pass is a `SystemRandom`, which is never read.
#[cfg(feature = "aws-lc-rs")]
pub struct AwsLcRsSigner {
    key: aws_lc_rs::signature::RsaKeyPair,
    /// The public half, decoded once (every signature with a certificate checks it).
    public: Option<VerifyingKey>,
    rng: aws_lc_rs::rand::SystemRandom, // tidy:allow: ignored by aws-lc-rs, see above
}

#[cfg(feature = "aws-lc-rs")]
impl std::fmt::Debug for AwsLcRsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsLcRsSigner")
            .field("key", &"**redacted**")
            .finish()
    }
}

#[cfg(feature = "aws-lc-rs")]
impl AwsLcRsSigner {
    /// Loads a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (der, pkcs8) = private_key_der(pem)?;
        let key = if pkcs8 {
            aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der)
        } else {
            aws_lc_rs::signature::RsaKeyPair::from_der(&der)
        }
        .map_err(|e| KeyError::PrivateKey {
            format: if pkcs8 { "PKCS#8" } else { "PKCS#1" },
            source: Cause::new(e),
        })?;
        Ok(Self::from_key_pair(key))
    }

    /// Loads a PEM key like [`AwsLcRsSigner::from_pem`] and checks that `certificate`
    /// is for this key ([`Error::KeyCertificateMismatch`] otherwise).
    pub fn from_pem_for_certificate(pem: &str, certificate: &Certificate) -> Result<Self> {
        let signer = Self::from_pem(pem)?;
        certificate.check_signer(&signer)?;
        Ok(signer)
    }

    fn from_key_pair(key: aws_lc_rs::signature::RsaKeyPair) -> Self {
        use aws_lc_rs::signature::KeyPair as _;
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        // aws-lc-rs gives the PKCS#1 RSAPublicKey encoding.
        let public = rsa::PublicKey::from_pkcs1_der(key.public_key().as_ref())
            .ok()
            .map(VerifyingKey::from_rsa);
        Self {
            key,
            public,
            rng: aws_lc_rs::rand::SystemRandom::new(), // tidy:allow: never read
        }
    }

    /// Loads a PKCS#8 DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der).map_err(|e| {
            KeyError::PrivateKey {
                format: "PKCS#8",
                source: Cause::new(e),
            }
        })?;
        Ok(Self::from_key_pair(key))
    }
}

#[cfg(feature = "aws-lc-rs")]
impl Signer for AwsLcRsSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaSha256
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &self.rng,
                message,
                &mut sig,
            )
            .map_err(|_| SignError::AwsLc)?;
        Ok(sig)
    }

    fn public_key(&self) -> Option<VerifyingKey> {
        self.public.clone()
    }
}

/// Proof that a protocol message's signature was verified: made only by this crate's
/// verifying functions ([`RedirectMessage::verify`] for the Redirect binding's query
/// signature, [`AuthnRequest::parse_signed`] for an enveloped signature), never by
/// the caller. It names the message (its `ID`) and the key that verified it, so
/// [`AuthnRequest::validate`] can check that it is this request's signature and the
/// service provider's key.
///
/// [`RedirectMessage::verify`]: crate::RedirectMessage::verify
/// [`AuthnRequest::parse_signed`]: crate::AuthnRequest::parse_signed
/// [`AuthnRequest::validate`]: crate::AuthnRequest::validate
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    message_id: String,
    key: VerifyingKey,
}

impl VerifiedSignature {
    pub(crate) fn new(message_id: String, key: VerifyingKey) -> Self {
        Self { message_id, key }
    }

    /// The `ID` of the signed message.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The key the signature verified with.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// A public key that verifies signatures (obtained from a trusted certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key: rsa::PublicKey,
}

impl VerifyingKey {
    pub(crate) fn from_rsa(key: rsa::PublicKey) -> Self {
        Self { key }
    }

    /// A short description for error messages: `RSA-2048 SHA-256:<hex>` where the hash
    /// is over the DER SubjectPublicKeyInfo (what
    /// `openssl pkey -pubout -outform DER | sha256sum` prints).
    pub fn describe(&self) -> String {
        use rsa::pkcs8::EncodePublicKey as _;
        use rsa::traits::PublicKeyParts as _;
        use sha2::Digest as _;
        use std::fmt::Write as _;
        let bits = self.key.size() * 8;
        match self.key.to_public_key_der() {
            Ok(der) => {
                let hash = Sha256::digest(der.as_bytes());
                let hex = hash.iter().fold(String::new(), |mut out, b| {
                    let _ = write!(out, "{b:02x}");
                    out
                });
                format!("RSA-{bits} SHA-256:{hex}")
            }
            Err(_) => format!("RSA-{bits}"),
        }
    }

    /// Verifies `signature` over `message` with `algorithm`. Errors say only
    /// [`Error::SignatureInvalid`].
    pub fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        let sig = pkcs1v15::Signature::try_from(signature).map_err(|_| Error::SignatureInvalid)?;
        let ok = match algorithm {
            SignatureAlgorithm::RsaSha256 => {
                pkcs1v15::VerifyingKey::<Sha256>::new(self.key.clone()).verify(message, &sig)
            }
            SignatureAlgorithm::RsaSha1Legacy => {
                pkcs1v15::VerifyingKey::<Sha1>::new(self.key.clone()).verify(message, &sig)
            }
        };
        ok.map_err(|_| Error::SignatureInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../tests/data/idp-key.pem");
    const CERT: &str = include_str!("../tests/data/idp-cert.pem");
    const OTHER_CERT: &str = include_str!("../tests/data/other-cert.pem");

    #[test]
    fn rsa_sign_verify_and_flip() {
        let s = RsaSigner::from_pem(KEY).unwrap();
        let vk = Certificate::from_pem(CERT)
            .unwrap()
            .verifying_key()
            .unwrap();
        let sig = s.sign(b"hello").unwrap();
        assert_eq!(sig.len(), 256);
        vk.verify(SignatureAlgorithm::RsaSha256, b"hello", &sig)
            .unwrap();
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert_eq!(
            vk.verify(SignatureAlgorithm::RsaSha256, b"hello", &bad),
            Err(Error::SignatureInvalid)
        );
        assert!(
            vk.verify(SignatureAlgorithm::RsaSha256, b"hellp", &sig)
                .is_err()
        );
        assert!(
            vk.verify(SignatureAlgorithm::RsaSha1Legacy, b"hello", &sig)
                .is_err()
        );
        let other = Certificate::from_pem(OTHER_CERT)
            .unwrap()
            .verifying_key()
            .unwrap();
        assert!(
            other
                .verify(SignatureAlgorithm::RsaSha256, b"hello", &sig)
                .is_err()
        );
        let s1 = s.into_sha1_legacy();
        assert_eq!(s1.algorithm(), SignatureAlgorithm::RsaSha1Legacy);
        let sig1 = s1.sign(b"hello").unwrap();
        vk.verify(SignatureAlgorithm::RsaSha1Legacy, b"hello", &sig1)
            .unwrap();
    }

    #[test]
    fn key_errors_are_typed_with_sources() {
        use std::error::Error as _;
        assert_eq!(
            RsaSigner::from_pem("no key here").unwrap_err(),
            Error::Key(KeyError::NoPemBlock {
                label: "PRIVATE KEY"
            })
        );
        // A certificate is not a key.
        assert!(matches!(
            RsaSigner::from_pem(CERT),
            Err(Error::Key(KeyError::NoPemBlock { .. }))
        ));
        let err = RsaSigner::from_pkcs8_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
        let Error::Key(KeyError::PrivateKey { format, source }) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*format, "PKCS#8");
        assert!(!source.to_string().is_empty());
        assert!(err.source().is_some());
    }

    #[test]
    fn signers_have_their_own_error() {
        #[derive(Debug)]
        struct Offline;
        impl std::fmt::Display for Offline {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the HSM is offline")
            }
        }
        impl std::error::Error for Offline {}
        struct Hsm;
        impl Signer for Hsm {
            fn algorithm(&self) -> SignatureAlgorithm {
                SignatureAlgorithm::RsaSha256
            }
            fn sign(&self, _: &[u8]) -> Result<Vec<u8>, SignError> {
                Err(SignError::backend(Offline))
            }
        }
        let err = crate::binding::encode_redirect(
            crate::binding::MessageKind::Request,
            b"<a/>",
            None,
            Some(&Hsm),
        )
        .unwrap_err();
        let Error::Signing(SignError::Backend(cause)) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(cause.to_string(), "the HSM is offline");
        assert_eq!(err.to_string(), "the signing backend failed");
    }

    #[test]
    fn debug_is_redacted() {
        let s = RsaSigner::from_pem(KEY).unwrap();
        let dbg = format!("{s:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains("BoxedUint"));
        assert!(dbg.len() < 100);
    }

    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn aws_lc_rs_matches_rsa() {
        let a = AwsLcRsSigner::from_pem(KEY).unwrap();
        let r = RsaSigner::from_pem(KEY).unwrap();
        // PKCS#1 v1.5 is deterministic: both backends give the same octets.
        assert_eq!(a.sign(b"msg").unwrap(), r.sign(b"msg").unwrap());
        assert!(format!("{a:?}").contains("redacted"));
    }
}
