//! Reading a signed `samlp:Response` (the service-provider side, and the
//! `decode` tracer): everything returned is read from the element whose signature
//! was verified.

use chrono::{DateTime, Utc};

use crate::dsig::{self, VerifyOptions};
use crate::error::{Error, Result};
use crate::ns;
use crate::response::{AttributeNameFormat, NameId, NameIdFormat, SamlAttribute};
use crate::sign::VerifyingKey;
use crate::xml::{self, Document, NodeId};
use crate::xsd::{attr, date_time_attr};

/// A `SubjectConfirmation` as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectConfirmation {
    /// The method URI (bearer for browser SSO).
    pub method: String,
    /// `Recipient` of the confirmation data.
    pub recipient: Option<String>,
    /// `NotOnOrAfter` of the confirmation data.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// `InResponseTo` of the confirmation data.
    pub in_response_to: Option<String>,
}

/// The content of a verified assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion `ID`.
    pub id: String,
    /// The issuer.
    pub issuer: String,
    /// The subject's NameID.
    pub name_id: Option<NameId>,
    /// The subject confirmations.
    pub subject_confirmations: Vec<SubjectConfirmation>,
    /// `Conditions/@NotBefore`.
    pub not_before: Option<DateTime<Utc>>,
    /// `Conditions/@NotOnOrAfter`.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// Audiences of all AudienceRestrictions.
    pub audiences: Vec<String>,
    /// `AuthnStatement/@SessionIndex`.
    pub session_index: Option<String>,
    /// `AuthnStatement/AuthnContext/AuthnContextClassRef`.
    pub authn_context_class: Option<String>,
    /// The attributes in document order.
    pub attributes: Vec<SamlAttribute>,
}

/// A response whose assertion was verified to be signed by the trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse {
    /// The response `ID`.
    pub id: String,
    /// `InResponseTo`, absent for IdP-initiated SSO.
    pub in_response_to: Option<String>,
    /// `Destination`.
    pub destination: Option<String>,
    /// The top-level status code URI.
    pub status: String,
    /// `true` when the Response element itself carried a valid signature.
    pub response_signed: bool,
    /// `true` when the Assertion carried a valid signature of its own.
    pub assertion_signed: bool,
    /// The assertion (absent in a non-success response).
    pub assertion: Option<VerifiedAssertion>,
}

/// What a service provider expects of an assertion (see [`VerifiedAssertion::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations<'a> {
    /// The current time.
    pub now: DateTime<Utc>,
    /// Allowed clock difference for `NotBefore`/`NotOnOrAfter`.
    pub skew: chrono::TimeDelta,
    /// The IdP's entity ID.
    pub issuer: &'a str,
    /// Our entity ID, which must be among the audiences.
    pub audience: &'a str,
    /// Our ACS URL, the bearer confirmation's `Recipient`.
    pub recipient: &'a str,
    /// The request ID we sent, or `None` for IdP-initiated SSO (then the assertion
    /// must not answer a request).
    pub in_response_to: Option<&'a str>,
}

/// Why an assertion fails the Web Browser SSO profile's checks
/// ([`VerifiedAssertion::check`]).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileError {
    /// The assertion was issued by another identity provider.
    #[error("the assertion's issuer is `{found}`, not the expected `{expected}`")]
    WrongIssuer {
        /// The IdP we expected.
        expected: String,
        /// The `Issuer` of the assertion.
        found: String,
    },
    /// `Conditions/@NotBefore` is still ahead (beyond the allowed skew).
    #[error("the assertion is not valid before {not_before}")]
    NotYetValid {
        /// The assertion's `NotBefore`.
        not_before: DateTime<Utc>,
    },
    /// `Conditions/@NotOnOrAfter` has passed (beyond the allowed skew).
    #[error("the assertion expired at {not_on_or_after}")]
    Expired {
        /// The assertion's `NotOnOrAfter`.
        not_on_or_after: DateTime<Utc>,
    },
    /// We are not among the audiences of the assertion's `AudienceRestriction`s.
    #[error("`{audience}` is not an audience of the assertion")]
    NotAudience {
        /// Our entity ID.
        audience: String,
    },
    /// No `SubjectConfirmation` uses the bearer method.
    #[error("the assertion has no bearer subject confirmation")]
    NoBearerConfirmation,
    /// No bearer confirmation names our ACS URL as its `Recipient`.
    #[error("no bearer confirmation is for the ACS URL `{expected}`")]
    WrongRecipient {
        /// Our ACS URL.
        expected: String,
    },
    /// The bearer confirmation for our ACS URL has expired or has no `NotOnOrAfter`.
    #[error("the bearer confirmation has expired or has no NotOnOrAfter")]
    ConfirmationExpired {
        /// Its `NotOnOrAfter`, when it has one.
        not_on_or_after: Option<DateTime<Utc>>,
    },
    /// The bearer confirmation answers another request (or answers one when we sent
    /// none, or none when we sent one).
    #[error("the bearer confirmation answers another request")]
    WrongInResponseTo {
        /// The request ID we sent, if any.
        expected: Option<String>,
        /// The confirmation's `InResponseTo`, if any.
        found: Option<String>,
    },
}

impl VerifiedAssertion {
    /// Checks the assertion as the Web Browser SSO profile asks: issuer, time window,
    /// audience, and at least one bearer confirmation for our ACS URL that is still
    /// valid and answers our request. The error says which check failed.
    pub fn check(&self, e: &Expectations<'_>) -> Result<(), ProfileError> {
        if self.issuer != e.issuer {
            return Err(ProfileError::WrongIssuer {
                expected: e.issuer.to_owned(),
                found: self.issuer.clone(),
            });
        }
        if let Some(not_before) = self.not_before
            && e.now + e.skew < not_before
        {
            return Err(ProfileError::NotYetValid { not_before });
        }
        if let Some(not_on_or_after) = self.not_on_or_after
            && e.now - e.skew >= not_on_or_after
        {
            return Err(ProfileError::Expired { not_on_or_after });
        }
        if !self.audiences.iter().any(|a| a == e.audience) {
            return Err(ProfileError::NotAudience {
                audience: e.audience.to_owned(),
            });
        }
        let mut failure = ProfileError::NoBearerConfirmation;
        for c in self
            .subject_confirmations
            .iter()
            .filter(|c| c.method == ns::CM_BEARER)
        {
            if c.recipient.as_deref() != Some(e.recipient) {
                if failure == ProfileError::NoBearerConfirmation {
                    failure = ProfileError::WrongRecipient {
                        expected: e.recipient.to_owned(),
                    };
                }
            } else if c.not_on_or_after.is_none_or(|t| e.now - e.skew >= t) {
                failure = ProfileError::ConfirmationExpired {
                    not_on_or_after: c.not_on_or_after,
                };
            } else if c.in_response_to.as_deref() != e.in_response_to {
                failure = ProfileError::WrongInResponseTo {
                    expected: e.in_response_to.map(str::to_owned),
                    found: c.in_response_to.clone(),
                };
            } else {
                return Ok(());
            }
        }
        Err(failure)
    }
}

fn read_assertion(doc: &Document, a: NodeId) -> Result<VerifiedAssertion> {
    let issuer = doc
        .unique_child(a, ns::SAML, "Issuer")?
        .ok_or_else(|| Error::MissingElement {
            path: format!("{}/Issuer", doc.path(a)),
        })?;
    let mut out = VerifiedAssertion {
        id: attr(doc, a, "ID").unwrap_or_default(),
        issuer: doc.text(issuer)?,
        name_id: None,
        subject_confirmations: Vec::new(),
        not_before: None,
        not_on_or_after: None,
        audiences: Vec::new(),
        session_index: None,
        authn_context_class: None,
        attributes: Vec::new(),
    };
    if let Some(subject) = doc.unique_child(a, ns::SAML, "Subject")? {
        if let Some(n) = doc.unique_child(subject, ns::SAML, "NameID")? {
            out.name_id = Some(NameId {
                value: doc.text(n)?,
                format: attr(doc, n, "Format")
                    .map_or(NameIdFormat::Unspecified, |f| NameIdFormat::from_uri(&f)),
                name_qualifier: attr(doc, n, "NameQualifier"),
                sp_name_qualifier: attr(doc, n, "SPNameQualifier"),
            });
        }
        for sc in doc.children_named(subject, ns::SAML, "SubjectConfirmation") {
            let data = doc.unique_child(sc, ns::SAML, "SubjectConfirmationData")?;
            out.subject_confirmations.push(SubjectConfirmation {
                method: attr(doc, sc, "Method").unwrap_or_default(),
                recipient: data.and_then(|d| attr(doc, d, "Recipient")),
                not_on_or_after: match data {
                    Some(d) => date_time_attr(doc, d, "NotOnOrAfter")?,
                    None => None,
                },
                in_response_to: data.and_then(|d| attr(doc, d, "InResponseTo")),
            });
        }
    }
    if let Some(c) = doc.unique_child(a, ns::SAML, "Conditions")? {
        out.not_before = date_time_attr(doc, c, "NotBefore")?;
        out.not_on_or_after = date_time_attr(doc, c, "NotOnOrAfter")?;
        for ar in doc.children_named(c, ns::SAML, "AudienceRestriction") {
            for aud in doc.children_named(ar, ns::SAML, "Audience") {
                out.audiences.push(doc.text(aud)?);
            }
        }
    }
    if let Some(st) = doc.unique_child(a, ns::SAML, "AuthnStatement")? {
        out.session_index = attr(doc, st, "SessionIndex");
        if let Some(ctx) = doc.unique_child(st, ns::SAML, "AuthnContext")?
            && let Some(class) = doc.unique_child(ctx, ns::SAML, "AuthnContextClassRef")?
        {
            out.authn_context_class = Some(doc.text(class)?);
        }
    }
    for st in doc.children_named(a, ns::SAML, "AttributeStatement") {
        for at in doc.children_named(st, ns::SAML, "Attribute") {
            let name = attr(doc, at, "Name").ok_or_else(|| Error::MissingAttribute {
                element: doc.path(at),
                attribute: "Name".into(),
            })?;
            let name_format = match attr(doc, at, "NameFormat").as_deref() {
                Some(ns::ATTRNAME_URI) => AttributeNameFormat::Uri,
                Some(ns::ATTRNAME_BASIC) => AttributeNameFormat::Basic,
                _ => AttributeNameFormat::Unspecified,
            };
            let mut values = Vec::new();
            for v in doc.children_named(at, ns::SAML, "AttributeValue") {
                values.push(doc.text(v)?);
            }
            out.attributes.push(SamlAttribute {
                name,
                name_format,
                friendly_name: attr(doc, at, "FriendlyName"),
                values,
            });
        }
    }
    Ok(out)
}

/// Checks the signature of `element` if it has one: `Ok(true)` when valid,
/// `Ok(false)` when unsigned, an error when a signature is present but bad.
fn signed(
    doc: &Document,
    element: NodeId,
    key: &VerifyingKey,
    opts: VerifyOptions,
) -> Result<bool> {
    if dsig::signature_of(doc, element)?.is_none() {
        return Ok(false);
    }
    dsig::verify_enveloped(doc, element, key, opts)?;
    Ok(true)
}

/// Parses and verifies a `samlp:Response` signed by `key`.
///
/// Defences: IDs must be unique in the document; the Response may hold at most one
/// Assertion (no EncryptedAssertion); a present but invalid signature is an error even
/// if the other one is valid; the assertion must be covered by a valid signature on
/// itself or on the Response; and everything returned is read from the verified
/// Response and Assertion elements, never from elsewhere in the document.
///
/// When only the Assertion is signed (the usual case), the Response-level fields
/// (`id`, `in_response_to`, `destination`, `status`) are not covered by a signature:
/// check the signed `SubjectConfirmation` data (Recipient, InResponseTo, NotOnOrAfter)
/// and the Conditions instead, as SAML profiles require.
pub fn verify_response(
    xml: &[u8],
    key: &VerifyingKey,
    opts: VerifyOptions,
) -> Result<VerifiedResponse> {
    let doc = xml::parse(xml)?;
    let root = doc.root();
    if !doc
        .element(root)
        .is_some_and(|e| e.is(ns::SAMLP, "Response"))
    {
        return Err(Error::UnexpectedElement {
            path: doc.path(root),
            reason: "expected samlp:Response".into(),
        });
    }
    dsig::check_unique_ids(&doc)?;
    if doc
        .children_named(root, ns::SAML, "EncryptedAssertion")
        .next()
        .is_some()
    {
        return Err(Error::UnexpectedElement {
            path: "Response/EncryptedAssertion".into(),
            reason: "encrypted assertions are not supported".into(),
        });
    }
    let assertion = doc.unique_child(root, ns::SAML, "Assertion")?;
    let response_signed = signed(&doc, root, key, opts)?;
    let assertion_signed = match assertion {
        Some(a) => signed(&doc, a, key, opts)?,
        None => false,
    };
    if !response_signed && !assertion_signed {
        return Err(Error::Unsigned {
            element: if assertion.is_some() {
                "Response/Assertion".into()
            } else {
                "Response".into()
            },
        });
    }
    let status = doc
        .unique_child(root, ns::SAMLP, "Status")?
        .and_then(|s| doc.unique_child(s, ns::SAMLP, "StatusCode").ok().flatten())
        .and_then(|c| attr(&doc, c, "Value"))
        .ok_or_else(|| Error::MissingElement {
            path: "Response/Status/StatusCode".into(),
        })?;
    Ok(VerifiedResponse {
        id: attr(&doc, root, "ID").unwrap_or_default(),
        in_response_to: attr(&doc, root, "InResponseTo"),
        destination: attr(&doc, root, "Destination"),
        status,
        response_signed,
        assertion_signed,
        assertion: assertion.map(|a| read_assertion(&doc, a)).transpose()?,
    })
}
