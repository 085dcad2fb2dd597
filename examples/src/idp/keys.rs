//! The IdP's SAML signing key and certificate: from the configuration, or in demo mode
//! generated on first start into the data directory and reused afterwards.

use std::path::Path;

use chrono::{TimeDelta, Utc};
use idforge_saml::create_self_signed;
use idforge_saml::{AwsLcRsSigner, Certificate};

use super::IdpError;
use crate::config::Config;

/// The file names used in demo mode, in the data directory.
pub const DEMO_KEY_FILE: &str = "idp-signing-key.pem";
/// See [`DEMO_KEY_FILE`].
pub const DEMO_CERT_FILE: &str = "idp-signing-cert.pem";

/// The signer and the certificate the metadata publishes.
pub struct SigningKeys {
    /// Signs responses (aws-lc-rs, constant time).
    pub signer: AwsLcRsSigner,
    /// Published in the metadata and sent in `KeyInfo`.
    pub certificate: Certificate,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("certificate", &self.certificate.subject())
            .finish_non_exhaustive()
    }
}

/// Loads the configured key and certificate, or in demo mode the generated pair (created on
/// first start: an RSA-2048 key, mode 0600, and a ten-year self-signed certificate).
pub fn load(config: &Config) -> Result<SigningKeys, IdpError> {
    let idp = &config.idp;
    let (key_pem, cert_pem, cert_origin) = match (&idp.signing_key, &idp.certificate) {
        (Some(key), Some(cert)) => {
            let key = key
                .resolve()
                .map_err(|e| IdpError::Keys(format!("idp.signing_key: {e}")))?;
            let cert_text = read(cert)?;
            (
                zeroize::Zeroizing::new(key.expose().to_owned()),
                cert_text,
                cert.display().to_string(),
            )
        }
        _ if config.demo => demo_pair(&config.data_dir)?,
        _ => {
            return Err(IdpError::Keys(
                "idp.signing_key and idp.certificate are required outside demo mode".into(),
            ));
        }
    };
    let certificate = Certificate::from_pem(&cert_pem)
        .map_err(|e| IdpError::Keys(format!("{cert_origin}: {e}")))?;
    let signer = AwsLcRsSigner::from_pem_for_certificate(&key_pem, &certificate)
        .map_err(|e| IdpError::Keys(format!("the signing key: {e}")))?;
    Ok(SigningKeys {
        signer,
        certificate,
    })
}

fn read(path: &Path) -> Result<String, IdpError> {
    std::fs::read_to_string(path)
        .map_err(|e| IdpError::Keys(format!("cannot read {}: {e}", path.display())))
}

fn demo_pair(dir: &Path) -> Result<(zeroize::Zeroizing<String>, String, String), IdpError> {
    let key_path = dir.join(DEMO_KEY_FILE);
    let cert_path = dir.join(DEMO_CERT_FILE);
    if key_path.exists() && cert_path.exists() {
        let key = zeroize::Zeroizing::new(read(&key_path)?);
        return Ok((key, read(&cert_path)?, cert_path.display().to_string()));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| IdpError::Keys(format!("cannot create {}: {e}", dir.display())))?;
    let (cert, key) = create_self_signed(
        &mut rand::rng(),
        "idforge demo IdP",
        Utc::now() - TimeDelta::minutes(5),
        TimeDelta::days(3650),
    )
    .map_err(|e| IdpError::Keys(format!("key generation: {e}")))?;
    // The certificate is written last: a crash in between leaves no certificate, and the
    // next start makes a new pair.
    crate::crypto::write_private(&key_path, key.as_str().as_bytes())
        .map_err(|e| IdpError::Keys(format!("cannot write {}: {e}", key_path.display())))?;
    crate::crypto::write_private(&cert_path, cert.to_pem().as_bytes())
        .map_err(|e| IdpError::Keys(format!("cannot write {}: {e}", cert_path.display())))?;
    tracing::info!(key = %key_path.display(), certificate = %cert_path.display(),
        "demo signing key and self-signed certificate created");
    Ok((
        zeroize::Zeroizing::new(key.as_str().to_owned()),
        cert.to_pem(),
        cert_path.display().to_string(),
    ))
}
