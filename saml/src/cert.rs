//! X.509 certificates as used in `ds:KeyInfo` and metadata `KeyDescriptor`s.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::DecodePublicKey as _;
use x509_cert::der::{Decode as _, Encode as _};

use chrono::{DateTime, TimeDelta, Utc};
use rand_core::CryptoRng;
use rsa::pkcs8::EncodePrivateKey as _;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use zeroize::Zeroizing;

use crate::error::{Cause, Error, KeyError, Result};
use crate::sign::{Signer, VerifyingKey};

/// An X.509 certificate, kept as its DER encoding after a successful parse.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    spki: Vec<u8>,
    /// The RSA key of `spki`, decoded once; `None` for another key type.
    key: Option<VerifyingKey>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("der_len", &self.der.len())
            .finish_non_exhaustive()
    }
}

/// Decodes base64 that may contain whitespace (as in XML element content or PEM).
pub(crate) fn decode_base64(text: &str, field: &'static str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| Error::Base64 { field })
}

/// Decodes a PEM document (RFC 7468, with the `der` crate's decoder) whose label is one
/// of `labels`; explanatory text before it is allowed.
pub(crate) fn pem_decode(
    text: &str,
    labels: &[&'static str],
) -> Result<(&'static str, Zeroizing<Vec<u8>>), KeyError> {
    use x509_cert::der::pem;
    let expected = labels.first().copied().unwrap_or("PRIVATE KEY");
    let (found, der) = pem::decode_vec(text.as_bytes()).map_err(|e| match e {
        pem::Error::PreEncapsulationBoundary | pem::Error::Preamble => {
            KeyError::NoPemBlock { label: expected }
        }
        e => KeyError::Pem {
            label: expected,
            source: Cause::new(e),
        },
    })?;
    let der = Zeroizing::new(der);
    let label = labels
        .iter()
        .find(|l| **l == found)
        .ok_or(KeyError::NoPemBlock { label: expected })?;
    Ok((label, der))
}

impl Certificate {
    /// Parses a DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let invalid = |e| KeyError::Certificate {
            source: Cause::new(e),
        };
        let cert = x509_cert::Certificate::from_der(der).map_err(invalid)?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(invalid)?;
        let key = rsa::PublicKey::from_public_key_der(&spki)
            .ok()
            .map(VerifyingKey::from_rsa);
        Ok(Self {
            der: der.to_vec(),
            spki,
            key,
        })
    }

    /// Parses the first `CERTIFICATE` block of a PEM text (other blocks and text
    /// around them are skipped).
    pub fn from_pem(pem: &str) -> Result<Self> {
        use x509_cert::der::pem;
        let no_block = KeyError::NoPemBlock {
            label: "CERTIFICATE",
        };
        match pem::decode_label(pem.as_bytes()) {
            Ok("CERTIFICATE") => {}
            Ok(_) | Err(pem::Error::PreEncapsulationBoundary | pem::Error::Preamble) => {
                return Err(no_block.into());
            }
            Err(e) => {
                return Err(KeyError::Pem {
                    label: "CERTIFICATE",
                    source: Cause::new(e),
                }
                .into());
            }
        }
        let first = x509_cert::Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|e| KeyError::Pem {
                label: "CERTIFICATE",
                source: Cause::new(e),
            })?
            .into_iter()
            .next()
            .ok_or(no_block)?;
        let der = first.to_der().map_err(|e| KeyError::Certificate {
            source: Cause::new(e),
        })?;
        Self::from_der(&der)
    }

    /// Parses the base64 content of a `ds:X509Certificate` element.
    pub fn from_base64(text: &str) -> Result<Self> {
        Self::from_der(&decode_base64(text, "X509Certificate")?)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding in base64 on one line, as written in `ds:X509Certificate`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.der)
    }

    /// The certificate as PEM text.
    pub fn to_pem(&self) -> String {
        use x509_cert::der::pem;
        // The encoder fails only when the encoded length overflows `usize`.
        pem::encode_string("CERTIFICATE", pem::LineEnding::LF, &self.der).unwrap_or_default()
    }

    /// The subject as an RFC 4514 string, e.g. `CN=idp.example.org` (empty when it
    /// cannot be read).
    pub fn subject(&self) -> String {
        x509_cert::Certificate::from_der(&self.der)
            .map(|c| c.tbs_certificate().subject().to_string())
            .unwrap_or_default()
    }

    /// Checks that `signer` signs with the key this certificate is for, so that
    /// what it signs verifies with the certificate. A signer that does not reveal its
    /// public key ([`Signer::public_key`] is `None`) passes unchecked.
    ///
    /// The error, [`Error::KeyCertificateMismatch`], names the certificate's subject
    /// and describes both public keys, so the administrator sees which file holds
    /// which key.
    pub fn check_signer(&self, signer: &dyn Signer) -> Result<()> {
        let Some(signing_key) = signer.public_key() else {
            return Ok(());
        };
        let Some(certificate_key) = &self.key else {
            return Err(Error::KeyCertificateMismatch {
                subject: self.subject(),
                certificate_key: "not an RSA key".into(),
                signing_key: signing_key.describe(),
            });
        };
        if *certificate_key == signing_key {
            Ok(())
        } else {
            Err(Error::KeyCertificateMismatch {
                subject: self.subject(),
                certificate_key: certificate_key.describe(),
                signing_key: signing_key.describe(),
            })
        }
    }

    /// The certificate's RSA public key, for verifying signatures.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        if let Some(key) = &self.key {
            return Ok(key.clone());
        }
        let key =
            rsa::PublicKey::from_public_key_der(&self.spki).map_err(|e| KeyError::NotRsa {
                source: Cause::new(e),
            })?;
        Ok(VerifyingKey::from_rsa(key))
    }
}

/// A private key as PKCS#8 PEM text: zeroized on drop, never printed by `Debug`.
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    /// The PKCS#8 PEM text (label `PRIVATE KEY`), to store or to load into a
    /// signer backend.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyPem(**redacted**)")
    }
}

/// A self-signed end-entity profile for a signing certificate: subject equals issuer,
/// X.509 v3 with the extensions OpenSSL writes for such a certificate.
struct SelfSigned(x509_cert::name::Name);

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &x509_cert::name::Name) -> x509_cert::name::Name {
        subject.clone()
    }

    fn get_subject(&self) -> x509_cert::name::Name {
        self.0.clone()
    }

    /// Basic constraints `CA:FALSE` (critical), key usage `digitalSignature`
    /// (critical), the subject key identifier (SHA-1 of the public key, RFC 5280
    /// 4.2.1.2 method 1) and the same identifier as authority key identifier.
    fn build_extensions(
        &self,
        spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<x509_cert::ext::Extension>> {
        use x509_cert::ext::ToExtension as _;
        use x509_cert::ext::pkix::{
            AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
        };
        let subject = tbs.subject();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let mut extensions = Vec::new();
        let basic = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        }
        .to_extension(subject, &extensions)?;
        extensions.push(basic);
        let usage =
            KeyUsage(KeyUsages::DigitalSignature.into()).to_extension(subject, &extensions)?;
        extensions.push(usage);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(ski.0.clone()),
            ..Default::default()
        }
        .to_extension(subject, &extensions)?;
        let ski = ski.to_extension(subject, &extensions)?;
        extensions.push(ski);
        extensions.push(aki);
        Ok(extensions)
    }
}

fn x509_time(t: DateTime<Utc>) -> Result<x509_cert::time::Time, KeyError> {
    let secs = u64::try_from(t.timestamp()).map_err(|_| KeyError::Validity { source: None })?;
    let dt = x509_cert::der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| KeyError::Validity {
            source: Some(Cause::new(e)),
        })?;
    Ok(x509_cert::time::Time::from(dt))
}

fn generate(step: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Generate {
        step,
        source: Cause::new(e),
    }
}

/// Creates a new RSA-2048 key and a self-signed certificate for it (SHA-256 with RSA),
/// for a new IdP's signing key: subject and issuer `CN=<common_name>`, valid from
/// `not_before` for `valid_for`, a random 64-bit serial number.
///
/// `common_name` is 1-64 characters without any of `,+"\<>;=#`. Key generation takes a
/// fraction of a second to a few seconds.
pub fn create_self_signed<R: CryptoRng + ?Sized>(
    rng: &mut R,
    common_name: &str,
    not_before: DateTime<Utc>,
    valid_for: TimeDelta,
) -> Result<(Certificate, PrivateKeyPem)> {
    if common_name.is_empty()
        || common_name.chars().count() > 64
        || common_name.contains([',', '+', '"', '\\', '<', '>', ';', '=', '#'])
    {
        return Err(Error::InvalidValue {
            field: "common name".into(),
            reason: "1-64 characters without ,+\"\\<>;=#".into(),
        });
    }
    if valid_for <= TimeDelta::zero() {
        return Err(Error::InvalidValue {
            field: "validity".into(),
            reason: "must be positive".into(),
        });
    }
    let subject: x509_cert::name::Name = format!("CN={common_name}")
        .parse()
        .map_err(|e| generate("certificate subject", e))?;
    let key = rsa::PrivateKey::new(rng, 2048).map_err(|e| generate("RSA key generation", e))?;
    let pem = key
        .to_pkcs8_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(|e| generate("PKCS#8 encoding", e))?;
    let signing_key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(
        &rsa::signature::Keypair::verifying_key(&signing_key),
    )
    .map_err(|e| generate("public key encoding", e))?;
    let mut serial = [0u8; 8];
    rng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let serial = x509_cert::serial_number::SerialNumber::new(&serial)
        .map_err(|e| generate("serial number", e))?;
    let validity =
        x509_cert::time::Validity::new(x509_time(not_before)?, x509_time(not_before + valid_for)?);
    let builder = CertificateBuilder::new(SelfSigned(subject), serial, validity, spki)
        .map_err(|e| generate("certificate building", e))?;
    let cert = builder
        .build::<_, rsa::pkcs1v15::Signature>(&signing_key)
        .map_err(|e| generate("certificate signing", e))?;
    let der = cert
        .to_der()
        .map_err(|e| generate("certificate encoding", e))?;
    Ok((
        Certificate::from_der(&der)?,
        PrivateKeyPem(Zeroizing::new(pem.to_string())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../tests/data/idp-cert.pem");

    #[test]
    fn pem_round_trip() {
        let c = Certificate::from_pem(PEM).unwrap();
        let again = Certificate::from_pem(&c.to_pem()).unwrap();
        assert_eq!(c, again);
        assert_eq!(Certificate::from_base64(&c.to_base64()).unwrap(), c);
        c.verifying_key().unwrap();
        assert!(Certificate::from_der(&c.der()[1..]).is_err());
        assert!(matches!(
            Certificate::from_pem("nothing"),
            Err(Error::Key(KeyError::NoPemBlock {
                label: "CERTIFICATE"
            }))
        ));
    }

    #[test]
    fn pem_goes_through_the_library_decoder() {
        let c = Certificate::from_pem(PEM).unwrap();
        // The first certificate of a chain, with explanatory text before it.
        let other = include_str!("../tests/data/other-cert.pem");
        let chain = format!("subject=CN=idp\n{PEM}{other}");
        assert_eq!(Certificate::from_pem(&chain).unwrap(), c);
        // Lines wrapped at 64 columns, LF, as openssl writes them.
        assert_eq!(c.to_pem(), PEM.replace("\r\n", "\n"));
        // A broken body is a typed error with the decoder's error as its source.
        let broken = PEM.replacen("MII", "M!I", 1);
        let err = Certificate::from_pem(&broken).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Key(KeyError::Pem {
                    label: "CERTIFICATE",
                    ..
                })
            ),
            "{err:?}"
        );
        assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    }

    #[test]
    fn a_key_must_match_its_certificate() {
        use crate::sign::RsaSigner;
        let key = include_str!("../tests/data/idp-key.pem");
        let other_key = include_str!("../tests/data/other-key.pem");
        let cert = Certificate::from_pem(PEM).unwrap();
        RsaSigner::from_pem_for_certificate(key, &cert).unwrap();
        let err = RsaSigner::from_pem_for_certificate(other_key, &cert).unwrap_err();
        let Error::KeyCertificateMismatch {
            subject,
            certificate_key,
            signing_key,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*subject, cert.subject());
        assert!(!subject.is_empty());
        assert!(certificate_key.starts_with("RSA-2048 SHA-256:"), "{err}");
        assert_ne!(certificate_key, signing_key);
        assert_eq!(
            *certificate_key,
            cert.verifying_key().unwrap().describe(),
            "{err}"
        );
        // A legacy (SHA-1) signer keeps its key.
        let sha1 = RsaSigner::from_pem(key).unwrap().into_sha1_legacy();
        cert.check_signer(&sha1).unwrap();
        let sha1 = RsaSigner::from_pem(other_key).unwrap().into_sha1_legacy();
        assert!(cert.check_signer(&sha1).is_err());
    }

    #[test]
    fn creates_self_signed_identity() {
        use crate::sign::{RsaSigner, SignatureAlgorithm, Signer as _};
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let (cert, key) =
            create_self_signed(&mut rand::rng(), "idforge IdP", now, TimeDelta::days(3650))
                .unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKeyPem(**redacted**)");
        let signer = RsaSigner::from_pem(key.as_str()).unwrap();
        let sig = signer.sign(b"m").unwrap();
        cert.verifying_key()
            .unwrap()
            .verify(SignatureAlgorithm::RsaSha256, b"m", &sig)
            .unwrap();
        let parsed = x509_cert::Certificate::from_der(cert.der()).unwrap();
        assert_eq!(
            parsed.tbs_certificate().subject().to_string(),
            "CN=idforge IdP"
        );
        assert_eq!(
            parsed.tbs_certificate().issuer(),
            parsed.tbs_certificate().subject()
        );
        // X.509 v3 with the extensions of a signing certificate.
        let tbs = parsed.tbs_certificate();
        assert_eq!(tbs.version(), x509_cert::certificate::Version::V3);
        let oids: Vec<String> = tbs
            .extensions()
            .unwrap()
            .iter()
            .map(|e| format!("{}{}", e.extn_id, if e.critical { "!" } else { "" }))
            .collect();
        assert_eq!(
            oids,
            ["2.5.29.19!", "2.5.29.15!", "2.5.29.14", "2.5.29.35"],
            "basicConstraints, keyUsage (critical), subject and authority key ids"
        );
        assert!(create_self_signed(&mut rand::rng(), "a,b", now, TimeDelta::days(1)).is_err());
        assert!(create_self_signed(&mut rand::rng(), "a", now, TimeDelta::zero()).is_err());
    }
}
