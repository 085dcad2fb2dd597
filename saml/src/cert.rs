//! X.509 certificates as used in `ds:KeyInfo` and metadata `KeyDescriptor`s.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::DecodePublicKey as _;
use x509_cert::der::{Decode as _, Encode as _};

use crate::error::{Error, Result};
use crate::sign::VerifyingKey;

/// An X.509 certificate, kept as its DER encoding after a successful parse.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    spki: Vec<u8>,
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

impl Certificate {
    /// Parses a DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| Error::Key(format!("certificate: {e}")))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| Error::Key(format!("certificate public key: {e}")))?;
        Ok(Self {
            der: der.to_vec(),
            spki,
        })
    }

    /// Parses the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let begin = "-----BEGIN CERTIFICATE-----";
        let end = "-----END CERTIFICATE-----";
        let start = pem
            .find(begin)
            .ok_or_else(|| Error::Key("no PEM CERTIFICATE block".into()))?
            + begin.len();
        let stop = pem[start..]
            .find(end)
            .ok_or_else(|| Error::Key("unterminated PEM CERTIFICATE block".into()))?
            + start;
        Self::from_der(&decode_base64(&pem[start..stop], "PEM certificate")?)
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
        let b64 = self.to_base64();
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// The certificate's RSA public key, for verifying signatures.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        let key = rsa::PublicKey::from_public_key_der(&self.spki)
            .map_err(|e| Error::Key(format!("certificate key is not RSA: {e}")))?;
        Ok(VerifyingKey::from_rsa(key))
    }
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
        assert!(Certificate::from_pem("nothing").is_err());
    }
}
