//! The crate's error types.

use std::sync::Arc;

use thiserror::Error;

use crate::verify::ProfileError;

/// Everything that can go wrong while parsing, building, signing or verifying.
///
/// Verification failures that concern the cryptography itself are deliberately
/// terse ([`Error::SignatureInvalid`], [`Error::DigestMismatch`]); structural
/// problems name the element or attribute at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The XML input is larger than the configured limit.
    #[error("XML input is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Elements are nested deeper than the configured limit.
    #[error("XML elements nested deeper than {limit} at byte {offset}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// Byte offset in the input.
        offset: u64,
    },
    /// The document has more nodes (or an element more attributes) than allowed.
    #[error("XML {what} exceeds the limit of {limit} at byte {offset}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The configured limit.
        limit: usize,
        /// Byte offset in the input.
        offset: u64,
    },
    /// A document type declaration was present: DTDs are never processed.
    #[error("XML document type declarations (DTDs) are refused, found at byte {offset}")]
    DtdRefused {
        /// Byte offset in the input.
        offset: u64,
    },
    /// An entity other than the five predefined ones was referenced.
    #[error("undefined XML entity `&{name};` at byte {offset}")]
    UndefinedEntity {
        /// The entity name.
        name: String,
        /// Byte offset in the input.
        offset: u64,
    },
    /// The input is not well-formed XML.
    #[error("malformed XML at byte {offset}: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
        /// Byte offset in the input.
        offset: u64,
    },
    /// A namespace prefix is used without being declared, or declared illegally.
    #[error("namespace error at byte {offset}: {reason}")]
    Namespace {
        /// What was wrong.
        reason: String,
        /// Byte offset in the input.
        offset: u64,
    },
    /// An element required by the protocol is missing.
    #[error("missing element {path}")]
    MissingElement {
        /// Path of the missing element, e.g. `Response/Assertion/Subject`.
        path: String,
    },
    /// An element appears where it is not allowed or more often than allowed.
    #[error("unexpected element {path}: {reason}")]
    UnexpectedElement {
        /// Path of the element.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A required attribute is missing.
    #[error("missing attribute {attribute} on {element}")]
    MissingAttribute {
        /// Element name.
        element: String,
        /// Attribute name.
        attribute: String,
    },
    /// An attribute or element value is not acceptable.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue {
        /// The field (element or attribute path).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// Two elements carry the same `ID` value.
    #[error("duplicate ID `{id}`")]
    DuplicateId {
        /// The duplicated ID.
        id: String,
    },
    /// An algorithm URI is not supported or not allowed by the configuration.
    #[error("algorithm not allowed in {field}: {uri}")]
    AlgorithmNotAllowed {
        /// Where the algorithm appeared (e.g. `SignatureMethod`).
        field: &'static str,
        /// The algorithm URI.
        uri: String,
    },
    /// A key or certificate could not be loaded or made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing key and the certificate that was to name it do not belong together:
    /// signatures made with the key would not verify with the certificate.
    #[error(
        "the signing key does not belong to the certificate {subject}: the certificate's public key is {certificate_key}, the signing key's is {signing_key}"
    )]
    KeyCertificateMismatch {
        /// The certificate's subject, e.g. `CN=idp.example.org`.
        subject: String,
        /// The certificate's public key: type, size and SHA-256 of its
        /// SubjectPublicKeyInfo.
        certificate_key: String,
        /// The signing key's public half, described the same way.
        signing_key: String,
    },
    /// The signer failed to produce a signature.
    #[error(transparent)]
    Signing(#[from] SignError),
    /// A reference digest did not match the referenced content.
    #[error("signature reference digest mismatch")]
    DigestMismatch,
    /// The signature value did not verify under the trusted key.
    #[error("signature invalid")]
    SignatureInvalid,
    /// A required signature is absent.
    #[error("no signature on {element}")]
    Unsigned {
        /// The element that should have been signed.
        element: String,
    },
    /// Base64 decoding failed.
    #[error("invalid base64 in {field}")]
    Base64 {
        /// Where the base64 appeared.
        field: &'static str,
    },
    /// Two attributes of the assertion carry the same `Name`. Strict service providers
    /// (python3-saml, Shibboleth) refuse such an assertion; give one attribute with
    /// several values instead.
    #[error("duplicate attribute name `{name}` (give one attribute with several values)")]
    DuplicateAttribute {
        /// The attribute name.
        name: String,
    },
    /// The service provider's metadata says `WantAssertionsSigned="true"` but only the
    /// Response was to be signed: the SP would refuse the result.
    #[error(
        "the service provider wants signed assertions (WantAssertionsSigned): sign the assertion or both, not only the response"
    )]
    AssertionSignatureRequired,
    /// The metadata's `validUntil` has passed: its publisher no longer vouches for it.
    /// Fetch it again (or, in tests only, allow expired metadata explicitly).
    #[error("the metadata of {entity_id} expired at {valid_until} (validUntil)")]
    MetadataExpired {
        /// The entity the metadata describes (or the aggregate's `Name`).
        entity_id: String,
        /// The `validUntil` that has passed.
        valid_until: String,
    },
    /// No entity of a metadata aggregate has this `entityID`.
    #[error("no entity {entity_id} in the metadata")]
    UnknownEntity {
        /// The `entityID` asked for.
        entity_id: String,
    },
    /// Two entities of a metadata aggregate have the same `entityID`.
    #[error("entity {entity_id} is described twice in the metadata")]
    DuplicateEntity {
        /// The repeated `entityID`.
        entity_id: String,
    },
    /// An assertion does not meet what the Web Browser SSO profile asks of it
    /// (see [`crate::VerifiedAssertion::check`]).
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// The error underneath a [`KeyError`] or [`SignError`], from the library that did the
/// work (the `rsa`, `der` or `x509-cert` crates, or a signer backend). It is kept
/// opaque so that those libraries' versions are not part of this crate's API; its
/// `Display` and `source()` are the original error's. Two causes are equal when
/// they print the same.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Wraps an error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

/// A key or certificate that could not be read or made. The library's own error is
/// the [`source`](std::error::Error::source).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The text holds no PEM block with this label.
    #[error("no PEM {label} block")]
    NoPemBlock {
        /// The label looked for, e.g. `CERTIFICATE` or `PRIVATE KEY`.
        label: &'static str,
    },
    /// A PEM block is malformed (boundaries, base64).
    #[error("malformed PEM {label} block")]
    Pem {
        /// The block's label.
        label: &'static str,
        /// What the PEM decoder said.
        #[source]
        source: Cause,
    },
    /// A private key is not a valid RSA key in this format.
    #[error("cannot read the {format} RSA private key")]
    PrivateKey {
        /// `PKCS#8` or `PKCS#1`.
        format: &'static str,
        /// What the decoder said.
        #[source]
        source: Cause,
    },
    /// A certificate is not valid DER X.509.
    #[error("cannot read the X.509 certificate")]
    Certificate {
        /// What the decoder said.
        #[source]
        source: Cause,
    },
    /// A certificate's public key is not an RSA key (or not a valid one).
    #[error("the certificate's public key is not an RSA key")]
    NotRsa {
        /// What the decoder said.
        #[source]
        source: Cause,
    },
    /// A certificate's validity period cannot be written (before 1970 or too far).
    #[error("the certificate's validity time cannot be encoded")]
    Validity {
        /// What the encoder said, when it said something.
        #[source]
        source: Option<Cause>,
    },
    /// Generating a key pair or a certificate failed at this step.
    #[error("{step} failed")]
    Generate {
        /// The step, e.g. `RSA key generation`.
        step: &'static str,
        /// What the library said.
        #[source]
        source: Cause,
    },
}

/// A [`Signer`](crate::Signer) that could not sign. The backend's own error, when
/// there is one, is the [`source`](std::error::Error::source).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The pure-Rust RSA backend refused to sign.
    #[error("RSA signing failed")]
    Rsa(#[source] Cause),
    /// aws-lc-rs refused to sign (it says no more than that).
    #[error("aws-lc-rs RSA signing failed")]
    AwsLc,
    /// A backend outside this crate (an HSM, a cloud KMS) failed.
    #[error("the signing backend failed")]
    Backend(#[source] Cause),
}

impl SignError {
    /// A failure of a [`Signer`](crate::Signer) implemented outside this crate.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Cause::new(error))
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
