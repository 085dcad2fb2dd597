#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod authn_request;
mod aws;
mod binding;
mod cert;
mod dsig;
mod error;
mod id;
mod logout;
mod metadata;
pub mod ns;
mod response;
mod sign;
mod verify;
pub mod xml;
mod xsd;

pub use authn_request::{AuthnRequest, RequestCheck};
pub use aws::{AWS_AUDIENCE, AWS_SIGNIN_ACS, AwsError, AwsRole, AwsSignIn, IdentityCenterSignIn};
pub use binding::{
    BindingLimits, DecodedMessage, MessageKind, RedirectMessage, RedirectSignature, decode_any,
    decode_post, encode_redirect, post_form_html,
};
pub use cert::{Certificate, PrivateKeyPem, create_self_signed};
pub use dsig::{
    ENVELOPED_SIGNATURE, SignOptions, SignatureReport, VerifyOptions, check_unique_ids,
    sign_enveloped, signature_of, verify_all, verify_enveloped,
};
pub use error::{Cause, Error, KeyError, Result, SignError};
pub use id::SamlId;
pub use logout::{LogoutRequest, LogoutResponse};
pub use metadata::{
    AGGREGATE_LIMITS, BINDING_POST, BINDING_REDIRECT, Endpoint, IdpMetadata, KeyUse,
    MetadataAggregate, MetadataOptions, SpMetadata,
};
pub use response::{
    AttributeNameFormat, AuthnContextClass, NameId, NameIdFormat, Response, ResponseBuilder,
    SamlAttribute, SignTarget, Status, StatusCode, SubStatusCode,
};
#[cfg(feature = "aws-lc-rs")]
pub use sign::AwsLcRsSigner;
pub use sign::{
    DIGEST_SHA1, DIGEST_SHA256, DigestAlgorithm, RSA_SHA1, RSA_SHA256, RsaSigner,
    SignatureAlgorithm, Signer, VerifiedSignature, VerifyingKey,
};
pub use verify::{
    Expectations, ProfileError, SubjectConfirmation, VerifiedAssertion, VerifiedResponse,
    verify_response,
};

#[cfg(doctest)]
#[doc = include_str!("../../docs/saml.md")]
struct GuideSamlDoctests;
