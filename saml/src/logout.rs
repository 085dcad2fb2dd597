//! Single logout: reading and writing `samlp:LogoutRequest` and
//! `samlp:LogoutResponse`.
//!
//! Built messages are [`Document`]s: sign them with [`dsig::sign_enveloped`] for the
//! POST binding, or send them unsigned-in-XML with a query signature through
//! [`crate::binding::encode_redirect`].

use chrono::{DateTime, Utc};

use crate::dsig::{self, VerifyOptions};
use crate::error::{Error, Result};
use crate::id::{SamlId, check_id};
use crate::ns;
use crate::response::{NameId, NameIdFormat, Status, StatusCode};
use crate::sign::VerifyingKey;
use crate::xml::{self, Document, Name, NodeId};
use crate::xsd::{attr, date_time, date_time_attr};

fn samlp(local: &str) -> Name {
    Name::qualified("samlp", local, ns::SAMLP)
}

fn saml(local: &str) -> Name {
    Name::qualified("saml", local, ns::SAML)
}

fn root_named(doc: &Document, local: &str) -> Result<NodeId> {
    let root = doc.root();
    if !doc.element(root).is_some_and(|e| e.is(ns::SAMLP, local)) {
        return Err(Error::UnexpectedElement {
            path: doc.path(root),
            reason: format!("expected samlp:{local}"),
        });
    }
    let id = attr(doc, root, "ID").ok_or_else(|| Error::MissingAttribute {
        element: local.into(),
        attribute: "ID".into(),
    })?;
    check_id(&id, local)?;
    if attr(doc, root, "Version").as_deref() != Some("2.0") {
        return Err(Error::InvalidValue {
            field: format!("{local}/@Version"),
            reason: "only SAML 2.0 is supported".into(),
        });
    }
    Ok(root)
}

fn issuer(doc: &Document, el: NodeId) -> Result<Option<String>> {
    doc.unique_child(el, ns::SAML, "Issuer")?
        .map(|i| doc.text(i).map(|t| t.trim().to_owned()))
        .transpose()
}

/// A logout request, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// `ID`, echoed as the response's `InResponseTo`.
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: DateTime<Utc>,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer`.
    pub issuer: Option<String>,
    /// The principal to log out.
    pub name_id: NameId,
    /// `SessionIndex` values (empty: all sessions of the principal).
    pub session_indexes: Vec<String>,
    /// `NotOnOrAfter`.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// `Reason`.
    pub reason: Option<String>,
}

impl LogoutRequest {
    /// Parses a LogoutRequest (signature not checked; see
    /// [`LogoutRequest::parse_signed`] and [`crate::binding::RedirectMessage::verify`]).
    pub fn parse(xml_bytes: &[u8]) -> Result<Self> {
        Self::from_document(&xml::parse(xml_bytes)?)
    }

    /// Parses a LogoutRequest and verifies its enveloped signature.
    pub fn parse_signed(xml_bytes: &[u8], key: &VerifyingKey, opts: VerifyOptions) -> Result<Self> {
        let doc = xml::parse(xml_bytes)?;
        dsig::verify_enveloped(&doc, doc.root(), key, opts)?;
        Self::from_document(&doc)
    }

    /// Reads a LogoutRequest from a parsed document.
    pub fn from_document(doc: &Document) -> Result<Self> {
        let root = root_named(doc, "LogoutRequest")?;
        if doc
            .children_named(root, ns::SAML, "EncryptedID")
            .next()
            .is_some()
        {
            return Err(Error::UnexpectedElement {
                path: "LogoutRequest/EncryptedID".into(),
                reason: "encrypted identifiers are not supported".into(),
            });
        }
        let n =
            doc.unique_child(root, ns::SAML, "NameID")?
                .ok_or_else(|| Error::MissingElement {
                    path: "LogoutRequest/NameID".into(),
                })?;
        let name_id = NameId {
            value: doc.text(n)?,
            format: attr(doc, n, "Format")
                .map_or(NameIdFormat::Unspecified, |f| NameIdFormat::from_uri(&f)),
            name_qualifier: attr(doc, n, "NameQualifier"),
            sp_name_qualifier: attr(doc, n, "SPNameQualifier"),
        };
        let mut session_indexes = Vec::new();
        for s in doc.children_named(root, ns::SAMLP, "SessionIndex") {
            session_indexes.push(doc.text(s)?.trim().to_owned());
        }
        Ok(Self {
            id: attr(doc, root, "ID").unwrap_or_default(),
            issue_instant: date_time_attr(doc, root, "IssueInstant")?.ok_or_else(|| {
                Error::MissingAttribute {
                    element: "LogoutRequest".into(),
                    attribute: "IssueInstant".into(),
                }
            })?,
            destination: attr(doc, root, "Destination"),
            issuer: issuer(doc, root)?,
            name_id,
            session_indexes,
            not_on_or_after: date_time_attr(doc, root, "NotOnOrAfter")?,
            reason: attr(doc, root, "Reason"),
        })
    }

    /// Builds a LogoutRequest (IdP-initiated logout towards an SP).
    pub fn build(
        issuer: &str,
        id: &SamlId,
        now: DateTime<Utc>,
        destination: &str,
        name_id: &NameId,
        session_index: Option<&str>,
    ) -> Result<Document> {
        let mut doc = Document::new(samlp("LogoutRequest"));
        let root = doc.root();
        doc.declare_namespace(root, Some("samlp"), ns::SAMLP)?;
        doc.declare_namespace(root, Some("saml"), ns::SAML)?;
        doc.set_attribute(root, "ID", id.as_str())?;
        doc.set_attribute(root, "Version", "2.0")?;
        doc.set_attribute(root, "IssueInstant", &date_time(now))?;
        doc.set_attribute(root, "Destination", destination)?;
        doc.append_text_element(root, saml("Issuer"), issuer)?;
        let n = doc.append_text_element(root, saml("NameID"), &name_id.value)?;
        if let Some(q) = &name_id.name_qualifier {
            doc.set_attribute(n, "NameQualifier", q)?;
        }
        if let Some(q) = &name_id.sp_name_qualifier {
            doc.set_attribute(n, "SPNameQualifier", q)?;
        }
        doc.set_attribute(n, "Format", name_id.format.uri())?;
        if let Some(s) = session_index {
            doc.append_text_element(root, samlp("SessionIndex"), s)?;
        }
        Ok(doc)
    }
}

/// A logout response, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    /// `ID`.
    pub id: String,
    /// `InResponseTo`.
    pub in_response_to: Option<String>,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer`.
    pub issuer: Option<String>,
    /// The top-level status code URI.
    pub status: String,
}

impl LogoutResponse {
    /// Parses a LogoutResponse (signature not checked).
    pub fn parse(xml_bytes: &[u8]) -> Result<Self> {
        let doc = xml::parse(xml_bytes)?;
        let root = root_named(&doc, "LogoutResponse")?;
        let status = doc
            .unique_child(root, ns::SAMLP, "Status")?
            .and_then(|s| doc.unique_child(s, ns::SAMLP, "StatusCode").ok().flatten())
            .and_then(|c| attr(&doc, c, "Value"))
            .ok_or_else(|| Error::MissingElement {
                path: "LogoutResponse/Status/StatusCode".into(),
            })?;
        Ok(Self {
            id: attr(&doc, root, "ID").unwrap_or_default(),
            in_response_to: attr(&doc, root, "InResponseTo"),
            destination: attr(&doc, root, "Destination"),
            issuer: issuer(&doc, root)?,
            status,
        })
    }

    /// `true` when the status is Success.
    pub fn is_success(&self) -> bool {
        self.status == StatusCode::Success.uri()
    }

    /// Builds the IdP's answer to an SP's LogoutRequest.
    pub fn build(
        issuer: &str,
        id: &SamlId,
        now: DateTime<Utc>,
        destination: &str,
        in_response_to: &str,
        status: &Status,
    ) -> Result<Document> {
        check_id(in_response_to, "InResponseTo")?;
        let mut doc = Document::new(samlp("LogoutResponse"));
        let root = doc.root();
        doc.declare_namespace(root, Some("samlp"), ns::SAMLP)?;
        doc.declare_namespace(root, Some("saml"), ns::SAML)?;
        doc.set_attribute(root, "ID", id.as_str())?;
        doc.set_attribute(root, "Version", "2.0")?;
        doc.set_attribute(root, "IssueInstant", &date_time(now))?;
        doc.set_attribute(root, "Destination", destination)?;
        doc.set_attribute(root, "InResponseTo", in_response_to)?;
        doc.append_text_element(root, saml("Issuer"), issuer)?;
        let st = doc.append_element(root, samlp("Status"))?;
        let code = doc.append_element(st, samlp("StatusCode"))?;
        doc.set_attribute(code, "Value", status.code.uri())?;
        if let Some(sub) = status.sub_code {
            let sc = doc.append_element(code, samlp("StatusCode"))?;
            doc.set_attribute(sc, "Value", sub.uri())?;
        }
        if let Some(m) = &status.message {
            doc.append_text_element(st, samlp("StatusMessage"), m)?;
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::Certificate;
    use crate::dsig::{SignOptions, sign_enveloped};
    use crate::sign::RsaSigner;

    const KEY: &str = include_str!("../tests/data/idp-key.pem");
    const CERT: &str = include_str!("../tests/data/idp-cert.pem");

    #[test]
    fn request_round_trip_signed() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let name_id = NameId::new("alice & bob", NameIdFormat::Persistent);
        let mut doc = LogoutRequest::build(
            "https://idp",
            &SamlId::new("_lr1").unwrap(),
            now,
            "https://sp/slo",
            &name_id,
            Some("_s1"),
        )
        .unwrap();
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let cert = Certificate::from_pem(CERT).unwrap();
        let root = doc.root();
        sign_enveloped(
            &mut doc,
            root,
            &signer,
            Some(&cert),
            &SignOptions::default(),
        )
        .unwrap();
        let xml = doc.to_xml();
        let key = cert.verifying_key().unwrap();
        let r =
            LogoutRequest::parse_signed(xml.as_bytes(), &key, VerifyOptions::default()).unwrap();
        assert_eq!(r.name_id, name_id);
        assert_eq!(r.session_indexes, ["_s1"]);
        assert_eq!(r.issuer.as_deref(), Some("https://idp"));
        assert_eq!(r.issue_instant, now);
        let tampered = xml.replace("alice &amp; bob", "mallory");
        assert!(
            LogoutRequest::parse_signed(tampered.as_bytes(), &key, VerifyOptions::default())
                .is_err()
        );
    }

    #[test]
    fn response_round_trip() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let doc = LogoutResponse::build(
            "https://idp",
            &SamlId::new("_lresp").unwrap(),
            now,
            "https://sp/slo",
            "_lr1",
            &Status::success(),
        )
        .unwrap();
        let r = LogoutResponse::parse(doc.to_xml().as_bytes()).unwrap();
        assert!(r.is_success());
        assert_eq!(r.in_response_to.as_deref(), Some("_lr1"));
        assert!(LogoutResponse::parse(b"<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_x\" Version=\"2.0\"/>").is_err());
        assert!(LogoutRequest::parse(doc.to_xml().as_bytes()).is_err());
    }
}
