//! Namespace URIs and well-known identifiers of SAML 2.0 and XML-DSig.

/// SAML 2.0 assertion namespace (prefix `saml`).
pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 protocol namespace (prefix `samlp`).
pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 metadata namespace (prefix `md`).
pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML Signature namespace (prefix `ds`).
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Schema namespace (prefix `xs`).
pub const XS: &str = "http://www.w3.org/2001/XMLSchema";
/// XML Schema instance namespace (prefix `xsi`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Subject confirmation method `bearer`.
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Attribute name format `uri`.
pub const ATTRNAME_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
/// Attribute name format `basic`.
pub const ATTRNAME_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
/// Attribute name format `unspecified`.
pub const ATTRNAME_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";
