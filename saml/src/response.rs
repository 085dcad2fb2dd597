//! Building SAML 2.0 `Response` messages with one `Assertion`, and signing them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};

use crate::cert::Certificate;
use crate::dsig::{self, SignOptions};
use crate::error::{Error, Result};
use crate::id::SamlId;
use crate::ns;
use crate::sign::Signer;
use crate::xml::{Document, Name, NodeId};
use crate::xsd::date_time;

/// NameID formats.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameIdFormat {
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`: an opaque, stable
    /// per-SP pseudonym.
    Persistent,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`: a one-time value.
    Transient,
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`.
    EmailAddress,
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`.
    Unspecified,
    /// Any other format URI.
    Other(String),
}

impl NameIdFormat {
    /// The format URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            Self::EmailAddress => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            Self::Other(u) => u,
        }
    }

    /// The format for a URI (unknown URIs become [`NameIdFormat::Other`]).
    pub fn from_uri(uri: &str) -> Self {
        [
            Self::Persistent,
            Self::Transient,
            Self::EmailAddress,
            Self::Unspecified,
        ]
        .into_iter()
        .find(|f| f.uri() == uri)
        .unwrap_or_else(|| Self::Other(uri.to_owned()))
    }
}

/// Top-level status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusCode {
    /// The request succeeded.
    Success,
    /// The request could not be performed due to an error on the requester's part.
    Requester,
    /// The request could not be performed due to an error on the responder's part.
    Responder,
    /// The SAML version of the request is not supported.
    VersionMismatch,
}

impl StatusCode {
    /// The status code URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Success => "urn:oasis:names:tc:SAML:2.0:status:Success",
            Self::Requester => "urn:oasis:names:tc:SAML:2.0:status:Requester",
            Self::Responder => "urn:oasis:names:tc:SAML:2.0:status:Responder",
            Self::VersionMismatch => "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch",
        }
    }
}

/// Second-level status codes used by an IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubStatusCode {
    /// The user could not be authenticated.
    AuthnFailed,
    /// The requested NameID policy cannot be satisfied.
    InvalidNameIdPolicy,
    /// `IsPassive` was requested but the user must interact.
    NoPassive,
    /// The requested authentication context cannot be satisfied.
    NoAuthnContext,
    /// The request was refused (for example the user may not use this SP).
    RequestDenied,
    /// The principal is unknown.
    UnknownPrincipal,
    /// The requested binding is not supported.
    UnsupportedBinding,
}

impl SubStatusCode {
    /// The status code URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::AuthnFailed => "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
            Self::InvalidNameIdPolicy => "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy",
            Self::NoPassive => "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
            Self::NoAuthnContext => "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
            Self::RequestDenied => "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
            Self::UnknownPrincipal => "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal",
            Self::UnsupportedBinding => "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding",
        }
    }
}

/// A response status. Only a successful response carries an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Top-level code.
    pub code: StatusCode,
    /// Optional second-level code.
    pub sub_code: Option<SubStatusCode>,
    /// Optional human-readable message.
    pub message: Option<String>,
}

impl Status {
    /// `Success`.
    pub fn success() -> Self {
        Self {
            code: StatusCode::Success,
            sub_code: None,
            message: None,
        }
    }

    /// An error status (`Requester` or `Responder` with a second-level code).
    pub fn error(code: StatusCode, sub_code: SubStatusCode, message: Option<&str>) -> Self {
        Self {
            code,
            sub_code: Some(sub_code),
            message: message.map(str::to_owned),
        }
    }
}

/// The authentication context class of the AuthnStatement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthnContextClass {
    /// Password over TLS.
    PasswordProtectedTransport,
    /// Password plus a time-synchronized token (TOTP) as second factor:
    /// `urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken`.
    TimeSyncToken,
    /// The REFEDS multi-factor profile, `https://refeds.org/profile/mfa`.
    RefedsMfa,
    /// Any other class URI.
    Other(String),
}

impl AuthnContextClass {
    /// The class URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::PasswordProtectedTransport => {
                "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            }
            Self::TimeSyncToken => "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
            Self::RefedsMfa => "https://refeds.org/profile/mfa",
            Self::Other(u) => u,
        }
    }

    /// `PasswordProtectedTransport`, or `TimeSyncToken` when a second factor was
    /// passed.
    pub fn for_login(second_factor: bool) -> Self {
        if second_factor {
            Self::TimeSyncToken
        } else {
            Self::PasswordProtectedTransport
        }
    }
}

/// Attribute name formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributeNameFormat {
    /// Names are URIs (`...:attrname-format:uri`).
    Uri,
    /// Names are simple strings (`...:attrname-format:basic`).
    Basic,
    /// Unspecified.
    Unspecified,
}

impl AttributeNameFormat {
    /// The format URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Uri => ns::ATTRNAME_URI,
            Self::Basic => ns::ATTRNAME_BASIC,
            Self::Unspecified => ns::ATTRNAME_UNSPECIFIED,
        }
    }
}

/// One (possibly multi-valued) attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlAttribute {
    /// The attribute name.
    pub name: String,
    /// How the name is to be read.
    pub name_format: AttributeNameFormat,
    /// Optional friendly name.
    pub friendly_name: Option<String>,
    /// The values, in order.
    pub values: Vec<String>,
}

impl SamlAttribute {
    /// An attribute with a URI name.
    pub fn uri<I, S>(name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.to_owned(),
            name_format: AttributeNameFormat::Uri,
            friendly_name: None,
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// An attribute with a basic name.
    pub fn basic<I, S>(name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name_format: AttributeNameFormat::Basic,
            ..Self::uri(name, values)
        }
    }
}

/// The subject's name identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameId {
    /// The value.
    pub value: String,
    /// Its format.
    pub format: NameIdFormat,
    /// Optional `NameQualifier` (usually the IdP entity ID).
    pub name_qualifier: Option<String>,
    /// Optional `SPNameQualifier` (usually the SP entity ID).
    pub sp_name_qualifier: Option<String>,
}

impl NameId {
    /// A NameID with a format and no qualifiers.
    pub fn new(value: &str, format: NameIdFormat) -> Self {
        Self {
            value: value.to_owned(),
            format,
            name_qualifier: None,
            sp_name_qualifier: None,
        }
    }
}

/// Which elements to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignTarget {
    /// Only the Assertion (what AWS and most SPs want).
    Assertion,
    /// Only the Response.
    Response,
    /// The Assertion, then the Response over it.
    Both,
}

/// Builds a `samlp:Response`.
///
/// Times derive from the `now` given to [`ResponseBuilder::new`]: `NotBefore` is
/// back-dated by [`ResponseBuilder::clock_skew`] (default 60 s) so that service
/// providers with slow clocks accept fresh assertions; `NotOnOrAfter` of the
/// conditions and of the bearer confirmation is `now` plus
/// [`ResponseBuilder::validity`] (default 5 minutes).
///
/// # Example
///
/// The answer to an SP's `AuthnRequest`: built, then signed (assertion only, as most
/// service providers want) and encoded for the HTTP-POST binding.
///
/// ```
/// use chrono::DateTime;
/// use idforge_saml::SignOptions;
/// use idforge_saml::{
///     Certificate, NameId, NameIdFormat, ResponseBuilder, RsaSigner, SamlAttribute, SamlId,
///     SignTarget,
/// };
///
/// let signer = RsaSigner::from_pem(include_str!("../tests/data/idp-key.pem"))?;
/// let cert = Certificate::from_pem(include_str!("../tests/data/idp-cert.pem"))?;
/// let now = DateTime::from_timestamp(1_700_000_000, 0).expect("valid time");
///
/// let mut response = ResponseBuilder::new(
///     "https://idp.example.org/saml",
///     SamlId::new("_response1")?,
///     SamlId::new("_assertion1")?,
///     now,
/// )
/// .destination("https://sp.example.com/saml/acs")
/// .in_response_to("_request42")
/// .audience("https://sp.example.com/saml")
/// .name_id(NameId::new("alice@example.org", NameIdFormat::EmailAddress))
/// .attribute(SamlAttribute::basic("groups", ["Staff", "VPN_Group"]))
/// .build()?;
/// response.sign(SignTarget::Assertion, &signer, Some(&cert), &SignOptions::default())?;
///
/// let saml_response = response.to_base64(); // the form field posted to the ACS URL
/// assert!(response.to_xml().contains(r#"InResponseTo="_request42""#));
/// # assert!(!saml_response.is_empty());
/// # Ok::<(), idforge_saml::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ResponseBuilder {
    issuer: String,
    response_id: SamlId,
    assertion_id: SamlId,
    now: DateTime<Utc>,
    destination: Option<String>,
    in_response_to: Option<String>,
    status: Status,
    name_id: Option<NameId>,
    recipient: Option<String>,
    audiences: Vec<String>,
    clock_skew: TimeDelta,
    validity: TimeDelta,
    authn_instant: Option<DateTime<Utc>>,
    session_index: Option<String>,
    session_not_on_or_after: Option<DateTime<Utc>>,
    authn_context: AuthnContextClass,
    attributes: Vec<SamlAttribute>,
    want_assertions_signed: bool,
}

/// A built response: the document plus where its parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    doc: Document,
    assertion: Option<NodeId>,
    want_assertions_signed: bool,
}

fn samlp(local: &str) -> Name {
    Name::qualified("samlp", local, ns::SAMLP)
}

fn saml(local: &str) -> Name {
    Name::qualified("saml", local, ns::SAML)
}

fn non_empty(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        Err(Error::InvalidValue {
            field: field.to_owned(),
            reason: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

impl ResponseBuilder {
    /// A successful response from IdP `issuer` (its entity ID) issued at `now`.
    pub fn new(
        issuer: &str,
        response_id: SamlId,
        assertion_id: SamlId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            response_id,
            assertion_id,
            now,
            destination: None,
            in_response_to: None,
            status: Status::success(),
            name_id: None,
            recipient: None,
            audiences: Vec::new(),
            clock_skew: TimeDelta::seconds(60),
            validity: TimeDelta::minutes(5),
            authn_instant: None,
            session_index: None,
            session_not_on_or_after: None,
            authn_context: AuthnContextClass::PasswordProtectedTransport,
            attributes: Vec::new(),
            want_assertions_signed: false,
        }
    }

    /// The response's `Destination` (the SP's ACS URL). Also the bearer
    /// confirmation's `Recipient` unless [`ResponseBuilder::recipient`] is set.
    pub fn destination(mut self, acs_url: &str) -> Self {
        self.destination = Some(acs_url.to_owned());
        self
    }

    /// The bearer confirmation's `Recipient`, when it differs from the destination.
    pub fn recipient(mut self, url: &str) -> Self {
        self.recipient = Some(url.to_owned());
        self
    }

    /// The request ID this answers (`InResponseTo`); absent for IdP-initiated SSO.
    pub fn in_response_to(mut self, request_id: &str) -> Self {
        self.in_response_to = Some(request_id.to_owned());
        self
    }

    /// The status. A non-success status produces a response without an assertion.
    pub fn status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Takes the signing requirement of the service provider's metadata: with
    /// `WantAssertionsSigned="true"`, [`Response::sign`] refuses to sign only the
    /// Response ([`Error::AssertionSignatureRequired`]). Destination and audience are
    /// still set by the caller ([`SpMetadata::resolve_acs`], [`SpMetadata::entity_id`]).
    ///
    /// [`SpMetadata::resolve_acs`]: crate::metadata::SpMetadata::resolve_acs
    /// [`SpMetadata::entity_id`]: crate::metadata::SpMetadata::entity_id
    pub fn service_provider(self, sp: &crate::metadata::SpMetadata) -> Self {
        self.want_assertions_signed(sp.want_assertions_signed)
    }

    /// Whether the service provider wants the assertion signed (its metadata's
    /// `WantAssertionsSigned`); see [`ResponseBuilder::service_provider`]. Once set
    /// (by this or by a preset such as the AWS one), a later `false` does not clear it.
    pub fn want_assertions_signed(mut self, wanted: bool) -> Self {
        self.want_assertions_signed |= wanted;
        self
    }

    /// The subject's NameID.
    pub fn name_id(mut self, name_id: NameId) -> Self {
        self.name_id = Some(name_id);
        self
    }

    pub(crate) fn has_name_id(&self) -> bool {
        self.name_id.is_some()
    }

    /// Adds an audience (the SP's entity ID) to the AudienceRestriction.
    pub fn audience(mut self, audience: &str) -> Self {
        self.audiences.push(audience.to_owned());
        self
    }

    /// How far `NotBefore` is back-dated (default 60 s).
    pub fn clock_skew(mut self, skew: TimeDelta) -> Self {
        self.clock_skew = skew;
        self
    }

    /// How long the assertion and the bearer confirmation are valid (default 5 min).
    pub fn validity(mut self, validity: TimeDelta) -> Self {
        self.validity = validity;
        self
    }

    /// When the user authenticated (default: `now`).
    pub fn authn_instant(mut self, t: DateTime<Utc>) -> Self {
        self.authn_instant = Some(t);
        self
    }

    /// The session index, for single logout.
    pub fn session_index(mut self, index: &str) -> Self {
        self.session_index = Some(index.to_owned());
        self
    }

    /// When the SP session must end.
    pub fn session_not_on_or_after(mut self, t: DateTime<Utc>) -> Self {
        self.session_not_on_or_after = Some(t);
        self
    }

    /// The authentication context class (default PasswordProtectedTransport).
    pub fn authn_context(mut self, class: AuthnContextClass) -> Self {
        self.authn_context = class;
        self
    }

    /// Adds an attribute. Names must be unique within the assertion: a second
    /// attribute with a name already added makes [`ResponseBuilder::build`] fail with
    /// [`Error::DuplicateAttribute`] (put all values into one attribute).
    pub fn attribute(mut self, attribute: SamlAttribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Removes and returns the attribute named `name`, if one was added (the first
    /// one, should there be several).
    pub(crate) fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }

    pub(crate) fn take_attribute(&mut self, name: &str) -> Option<SamlAttribute> {
        let i = self.attributes.iter().position(|a| a.name == name)?;
        Some(self.attributes.remove(i))
    }

    /// Builds the (unsigned) response.
    pub fn build(self) -> Result<Response> {
        non_empty("Issuer", &self.issuer)?;
        if self.response_id == self.assertion_id {
            return Err(Error::DuplicateId {
                id: self.response_id.to_string(),
            });
        }
        for (i, attr) in self.attributes.iter().enumerate() {
            if self.attributes[..i].iter().any(|a| a.name == attr.name) {
                return Err(Error::DuplicateAttribute {
                    name: attr.name.clone(),
                });
            }
        }
        if self.validity <= TimeDelta::zero() || self.clock_skew < TimeDelta::zero() {
            return Err(Error::InvalidValue {
                field: "validity".into(),
                reason: "validity must be positive and clock skew not negative".into(),
            });
        }
        let now = date_time(self.now);
        let mut doc = Document::new(samlp("Response"));
        let root = doc.root();
        doc.declare_namespace(root, Some("samlp"), ns::SAMLP)?;
        doc.declare_namespace(root, Some("saml"), ns::SAML)?;
        doc.set_attribute(root, "ID", self.response_id.as_str())?;
        doc.set_attribute(root, "Version", "2.0")?;
        doc.set_attribute(root, "IssueInstant", &now)?;
        if let Some(d) = &self.destination {
            non_empty("Destination", d)?;
            doc.set_attribute(root, "Destination", d)?;
        }
        if let Some(irt) = &self.in_response_to {
            crate::id::check_id(irt, "InResponseTo")?;
            doc.set_attribute(root, "InResponseTo", irt)?;
        }
        doc.append_text_element(root, saml("Issuer"), &self.issuer)?;
        let status = doc.append_element(root, samlp("Status"))?;
        let code = doc.append_element(status, samlp("StatusCode"))?;
        doc.set_attribute(code, "Value", self.status.code.uri())?;
        if let Some(sub) = self.status.sub_code {
            let sc = doc.append_element(code, samlp("StatusCode"))?;
            doc.set_attribute(sc, "Value", sub.uri())?;
        }
        if let Some(m) = &self.status.message {
            doc.append_text_element(status, samlp("StatusMessage"), m)?;
        }
        if self.status.code != StatusCode::Success {
            return Ok(Response {
                doc,
                assertion: None,
                want_assertions_signed: self.want_assertions_signed,
            });
        }

        let name_id = self.name_id.as_ref().ok_or_else(|| Error::MissingElement {
            path: "Response/Assertion/Subject/NameID".into(),
        })?;
        non_empty("NameID", &name_id.value)?;
        let recipient = self
            .recipient
            .as_deref()
            .or(self.destination.as_deref())
            .ok_or_else(|| Error::MissingAttribute {
                element: "Response/Assertion/Subject/SubjectConfirmation/SubjectConfirmationData"
                    .into(),
                attribute: "Recipient".into(),
            })?;
        let not_before = date_time(self.now - self.clock_skew);
        let not_on_or_after = date_time(self.now + self.validity);

        let a = doc.append_element(root, saml("Assertion"))?;
        doc.declare_namespace(a, Some("saml"), ns::SAML)?;
        doc.set_attribute(a, "ID", self.assertion_id.as_str())?;
        doc.set_attribute(a, "Version", "2.0")?;
        doc.set_attribute(a, "IssueInstant", &now)?;
        doc.append_text_element(a, saml("Issuer"), &self.issuer)?;

        let subject = doc.append_element(a, saml("Subject"))?;
        let nid = doc.append_text_element(subject, saml("NameID"), &name_id.value)?;
        if let Some(q) = &name_id.name_qualifier {
            doc.set_attribute(nid, "NameQualifier", q)?;
        }
        if let Some(q) = &name_id.sp_name_qualifier {
            doc.set_attribute(nid, "SPNameQualifier", q)?;
        }
        doc.set_attribute(nid, "Format", name_id.format.uri())?;
        let sc = doc.append_element(subject, saml("SubjectConfirmation"))?;
        doc.set_attribute(sc, "Method", ns::CM_BEARER)?;
        let scd = doc.append_element(sc, saml("SubjectConfirmationData"))?;
        doc.set_attribute(scd, "NotOnOrAfter", &not_on_or_after)?;
        doc.set_attribute(scd, "Recipient", recipient)?;
        if let Some(irt) = &self.in_response_to {
            doc.set_attribute(scd, "InResponseTo", irt)?;
        }

        let cond = doc.append_element(a, saml("Conditions"))?;
        doc.set_attribute(cond, "NotBefore", &not_before)?;
        doc.set_attribute(cond, "NotOnOrAfter", &not_on_or_after)?;
        if !self.audiences.is_empty() {
            let ar = doc.append_element(cond, saml("AudienceRestriction"))?;
            for aud in &self.audiences {
                non_empty("Audience", aud)?;
                doc.append_text_element(ar, saml("Audience"), aud)?;
            }
        }

        let authn = doc.append_element(a, saml("AuthnStatement"))?;
        doc.set_attribute(
            authn,
            "AuthnInstant",
            &date_time(self.authn_instant.unwrap_or(self.now)),
        )?;
        if let Some(si) = &self.session_index {
            non_empty("SessionIndex", si)?;
            doc.set_attribute(authn, "SessionIndex", si)?;
        }
        if let Some(t) = self.session_not_on_or_after {
            doc.set_attribute(authn, "SessionNotOnOrAfter", &date_time(t))?;
        }
        let ctx = doc.append_element(authn, saml("AuthnContext"))?;
        doc.append_text_element(ctx, saml("AuthnContextClassRef"), self.authn_context.uri())?;

        if !self.attributes.is_empty() {
            let st = doc.append_element(a, saml("AttributeStatement"))?;
            for attr in &self.attributes {
                non_empty("Attribute/@Name", &attr.name)?;
                let ae = doc.append_element(st, saml("Attribute"))?;
                doc.set_attribute(ae, "Name", &attr.name)?;
                doc.set_attribute(ae, "NameFormat", attr.name_format.uri())?;
                if let Some(f) = &attr.friendly_name {
                    doc.set_attribute(ae, "FriendlyName", f)?;
                }
                for v in &attr.values {
                    doc.append_text_element(ae, saml("AttributeValue"), v)?;
                }
            }
        }
        Ok(Response {
            doc,
            assertion: Some(a),
            want_assertions_signed: self.want_assertions_signed,
        })
    }
}

impl Response {
    /// The document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// The assertion element, absent in an error response.
    pub fn assertion(&self) -> Option<NodeId> {
        self.assertion
    }

    /// Whether the service provider wants the assertion signed (see
    /// [`ResponseBuilder::service_provider`]).
    pub fn wants_assertion_signed(&self) -> bool {
        self.want_assertions_signed && self.assertion.is_some()
    }

    /// Signs the assertion, the response or both (assertion first) with enveloped
    /// signatures placed right after each element's `Issuer`.
    ///
    /// When the service provider wants signed assertions (its metadata's
    /// `WantAssertionsSigned`, taken by [`ResponseBuilder::service_provider`]) and the
    /// response carries an assertion, [`SignTarget::Response`] is refused with
    /// [`Error::AssertionSignatureRequired`] and nothing is signed.
    pub fn sign(
        &mut self,
        target: SignTarget,
        signer: &dyn Signer,
        certificate: Option<&Certificate>,
        opts: &SignOptions,
    ) -> Result<()> {
        if target == SignTarget::Response && self.wants_assertion_signed() {
            return Err(Error::AssertionSignatureRequired);
        }
        if matches!(target, SignTarget::Assertion | SignTarget::Both) {
            let a = self.assertion.ok_or_else(|| Error::MissingElement {
                path: "Response/Assertion".into(),
            })?;
            dsig::sign_enveloped(&mut self.doc, a, signer, certificate, opts)?;
        }
        if matches!(target, SignTarget::Response | SignTarget::Both) {
            let root = self.doc.root();
            dsig::sign_enveloped(&mut self.doc, root, signer, certificate, opts)?;
        }
        Ok(())
    }

    /// The response as XML text.
    pub fn to_xml(&self) -> String {
        self.doc.to_xml()
    }

    /// The response base64-encoded, as the HTTP-POST binding's `SAMLResponse`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_xml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsig::{VerifyOptions, verify_enveloped};
    use crate::sign::RsaSigner;
    use crate::xml::parse;

    const KEY: &str = include_str!("../tests/data/idp-key.pem");
    const CERT: &str = include_str!("../tests/data/idp-cert.pem");

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn builder() -> ResponseBuilder {
        ResponseBuilder::new(
            "https://idp.example.org",
            SamlId::new("_resp1").unwrap(),
            SamlId::new("_assert1").unwrap(),
            now(),
        )
        .destination("https://sp.example.org/acs")
        .in_response_to("_req1")
        .audience("https://sp.example.org")
        .name_id(NameId::new("alice@example.org", NameIdFormat::EmailAddress))
        .session_index("_s1")
        .attribute(SamlAttribute::basic("groups", ["a & b", "<c>"]))
    }

    #[test]
    fn builds_expected_structure_and_times() {
        let r = builder().build().unwrap();
        let d = r.document();
        let a = r.assertion().unwrap();
        let conditions = d.unique_child(a, ns::SAML, "Conditions").unwrap().unwrap();
        let c = d.element(conditions).unwrap();
        assert_eq!(c.attribute("NotBefore"), Some("2023-11-14T22:12:20Z"));
        assert_eq!(c.attribute("NotOnOrAfter"), Some("2023-11-14T22:18:20Z"));
        let names: Vec<&str> = d
            .child_elements(a)
            .map(|(_, e)| e.name.local.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Issuer",
                "Subject",
                "Conditions",
                "AuthnStatement",
                "AttributeStatement"
            ]
        );
        let xml = r.to_xml();
        assert!(xml.contains("<saml:AttributeValue>a &amp; b</saml:AttributeValue>"));
        assert!(xml.contains("Recipient=\"https://sp.example.org/acs\""));
        assert_eq!(parse(xml.as_bytes()).unwrap(), *d);
    }

    #[test]
    fn refuses_two_attributes_with_one_name() {
        let r = builder()
            .attribute(SamlAttribute::uri(
                "urn:oid:0.9.2342.19200300.100.1.3",
                ["a@x"],
            ))
            .attribute(SamlAttribute::basic("groups", ["d"]))
            .build();
        assert_eq!(
            r,
            Err(Error::DuplicateAttribute {
                name: "groups".into()
            })
        );
        // The same name in another NameFormat is still the same Name to an SP.
        let r = builder()
            .attribute(SamlAttribute::uri("groups", ["d"]))
            .build();
        assert!(matches!(r, Err(Error::DuplicateAttribute { .. })));
    }

    #[test]
    fn signs_the_assertion_when_the_sp_wants_it() {
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let cert = Certificate::from_pem(CERT).unwrap();
        let sp = crate::metadata::SpMetadata::parse(include_bytes!(
            "../tests/vectors/metadata/aws-signin-sp.xml"
        ))
        .unwrap();
        assert!(sp.want_assertions_signed);
        let mut r = builder().service_provider(&sp).build().unwrap();
        assert!(r.wants_assertion_signed());
        let before = r.clone();
        assert_eq!(
            r.sign(
                SignTarget::Response,
                &signer,
                Some(&cert),
                &SignOptions::default()
            ),
            Err(Error::AssertionSignatureRequired)
        );
        assert_eq!(r, before, "nothing was signed");
        for target in [SignTarget::Assertion, SignTarget::Both] {
            let mut r = builder().service_provider(&sp).build().unwrap();
            r.sign(target, &signer, Some(&cert), &SignOptions::default())
                .unwrap();
        }
        // A later `false` does not undo the requirement.
        let r = builder()
            .service_provider(&sp)
            .want_assertions_signed(false)
            .build()
            .unwrap();
        assert!(r.wants_assertion_signed());
        // An error response has no assertion: signing the Response is what there is.
        let mut r = builder()
            .service_provider(&sp)
            .status(Status::error(
                StatusCode::Responder,
                SubStatusCode::AuthnFailed,
                None,
            ))
            .build()
            .unwrap();
        r.sign(
            SignTarget::Response,
            &signer,
            Some(&cert),
            &SignOptions::default(),
        )
        .unwrap();
        // An SP that does not ask: the caller's choice stands.
        let mut r = builder().build().unwrap();
        r.sign(
            SignTarget::Response,
            &signer,
            Some(&cert),
            &SignOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn refuses_a_certificate_of_another_key() {
        let signer = RsaSigner::from_pem(include_str!("../tests/data/other-key.pem")).unwrap();
        let cert = Certificate::from_pem(CERT).unwrap();
        let mut r = builder().build().unwrap();
        let before = r.clone();
        let err = r
            .sign(
                SignTarget::Both,
                &signer,
                Some(&cert),
                &SignOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, Error::KeyCertificateMismatch { .. }), "{err}");
        assert_eq!(r, before, "nothing was signed");
    }

    #[test]
    fn error_status_has_no_assertion() {
        let r = builder()
            .status(Status::error(
                StatusCode::Responder,
                SubStatusCode::AuthnFailed,
                Some("no"),
            ))
            .build()
            .unwrap();
        assert!(r.assertion().is_none());
        assert!(r.to_xml().contains("status:AuthnFailed"));
    }

    #[test]
    fn refuses_incomplete() {
        let b = ResponseBuilder::new(
            "https://idp",
            SamlId::new("_a").unwrap(),
            SamlId::new("_b").unwrap(),
            now(),
        );
        assert!(matches!(
            b.clone().build(),
            Err(Error::MissingElement { .. })
        ));
        let b = b.name_id(NameId::new("x", NameIdFormat::Transient));
        assert!(matches!(b.build(), Err(Error::MissingAttribute { .. })));
    }

    #[test]
    fn signs_and_verifies_each_target() {
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let cert = Certificate::from_pem(CERT).unwrap();
        let key = cert.verifying_key().unwrap();
        for target in [
            SignTarget::Assertion,
            SignTarget::Response,
            SignTarget::Both,
        ] {
            let mut r = builder().build().unwrap();
            r.sign(target, &signer, Some(&cert), &SignOptions::default())
                .unwrap();
            let d = parse(r.to_xml().as_bytes()).unwrap();
            let a = d
                .unique_child(d.root(), ns::SAML, "Assertion")
                .unwrap()
                .unwrap();
            let ra = verify_enveloped(&d, a, &key, VerifyOptions::default());
            let rr = verify_enveloped(&d, d.root(), &key, VerifyOptions::default());
            assert_eq!(
                ra.is_ok(),
                target != SignTarget::Response,
                "{target:?} {ra:?}"
            );
            assert_eq!(
                rr.is_ok(),
                target != SignTarget::Assertion,
                "{target:?} {rr:?}"
            );
            // The signature sits right after the Issuer.
            let second = d.child_elements(a).nth(1).unwrap().1;
            assert_eq!(
                second.is(ns::DS, "Signature"),
                target != SignTarget::Response
            );
        }
    }
}
