#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod authn_request;
pub mod aws;
pub mod binding;
pub mod cert;
pub mod dsig;
pub mod error;
pub mod id;
pub mod logout;
pub mod metadata;
pub mod ns;
pub mod response;
pub mod sign;
pub mod verify;
pub mod xml;

pub use cert::Certificate;
pub use error::{Error, Result};
pub use id::SamlId;
pub use response::{
    AttributeNameFormat, AuthnContextClass, NameId, NameIdFormat, Response, ResponseBuilder,
    SamlAttribute, SignTarget, Status, StatusCode, SubStatusCode,
};
#[cfg(feature = "aws-lc-rs")]
pub use sign::AwsLcRsSigner;
pub use sign::{RsaSigner, SignatureAlgorithm, Signer, VerifyingKey};

#[cfg(doctest)]
#[doc = include_str!("../../docs/saml.md")]
struct GuideSamlDoctests;
