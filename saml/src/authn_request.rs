//! Reading `samlp:AuthnRequest` and checking it against the registered SP.

use chrono::{DateTime, TimeDelta, Utc};

use crate::dsig::{self, VerifyOptions};
use crate::error::{Error, Result};
use crate::id::check_id;
use crate::metadata::{Endpoint, SpMetadata};
use crate::ns;
use crate::response::NameIdFormat;
use crate::sign::{VerifiedSignature, VerifyingKey};
use crate::xml::{self, Document};
use crate::xsd::{boolean_attr, parse_date_time};

/// An authentication request, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// `ID`, to be echoed as `InResponseTo`.
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: DateTime<Utc>,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer` (the SP's entity ID).
    pub issuer: Option<String>,
    /// `AssertionConsumerServiceURL`.
    pub acs_url: Option<String>,
    /// `AssertionConsumerServiceIndex`.
    pub acs_index: Option<u16>,
    /// `ProtocolBinding`.
    pub protocol_binding: Option<String>,
    /// `NameIDPolicy/@Format`.
    pub name_id_format: Option<NameIdFormat>,
    /// `NameIDPolicy/@AllowCreate`.
    pub allow_create: bool,
    /// `ForceAuthn`.
    pub force_authn: bool,
    /// `IsPassive`.
    pub is_passive: bool,
    /// `RequestedAuthnContext/AuthnContextClassRef` values.
    pub requested_authn_contexts: Vec<String>,
}

/// What the request is checked against besides the SP metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCheck<'a> {
    /// Our SingleSignOnService URLs; a `Destination` must be one of them.
    pub sso_urls: &'a [&'a str],
    /// The current time.
    pub now: DateTime<Utc>,
    /// Largest accepted difference between `IssueInstant` and `now`.
    pub max_skew: TimeDelta,
    /// The proof that the request's signature verified: from
    /// [`crate::RedirectMessage::verify`] (query signature) or
    /// [`AuthnRequest::parse_signed`] (enveloped signature). Required when the
    /// metadata says `AuthnRequestsSigned="true"`; when given, it must be for this
    /// request and from a key of the SP's metadata.
    pub signature: Option<&'a VerifiedSignature>,
}

impl AuthnRequest {
    /// Parses an AuthnRequest document (signature not checked).
    pub fn parse(xml_bytes: &[u8]) -> Result<Self> {
        Self::from_document(&xml::parse(xml_bytes)?)
    }

    /// Reads an AuthnRequest from a parsed document.
    pub fn from_document(doc: &Document) -> Result<Self> {
        let root = doc.root();
        let el = doc
            .element(root)
            .filter(|e| e.is(ns::SAMLP, "AuthnRequest"))
            .ok_or_else(|| Error::UnexpectedElement {
                path: doc.path(root),
                reason: "expected samlp:AuthnRequest".into(),
            })?;
        let get = |n: &str| el.attribute(n).map(str::to_owned);
        let id = get("ID").ok_or_else(|| Error::MissingAttribute {
            element: "AuthnRequest".into(),
            attribute: "ID".into(),
        })?;
        check_id(&id, "AuthnRequest")?;
        if el.attribute("Version") != Some("2.0") {
            return Err(Error::InvalidValue {
                field: "AuthnRequest/@Version".into(),
                reason: "only SAML 2.0 is supported".into(),
            });
        }
        let issue_instant = el
            .attribute("IssueInstant")
            .and_then(parse_date_time)
            .ok_or_else(|| Error::InvalidValue {
                field: "AuthnRequest/@IssueInstant".into(),
                reason: "missing or not an xs:dateTime".into(),
            })?;
        let acs_index = get("AssertionConsumerServiceIndex")
            .map(|v| {
                v.parse::<u16>().map_err(|_| Error::InvalidValue {
                    field: "AuthnRequest/@AssertionConsumerServiceIndex".into(),
                    reason: "not an unsigned short".into(),
                })
            })
            .transpose()?;
        let acs_url = get("AssertionConsumerServiceURL");
        if acs_url.is_some() && acs_index.is_some() {
            return Err(Error::InvalidValue {
                field: "AuthnRequest/@AssertionConsumerServiceIndex".into(),
                reason: "both an ACS URL and an ACS index are given".into(),
            });
        }
        let issuer = doc
            .unique_child(root, ns::SAML, "Issuer")?
            .map(|i| doc.text(i).map(|t| t.trim().to_owned()))
            .transpose()?;
        let mut req = Self {
            id,
            issue_instant,
            destination: get("Destination"),
            issuer,
            acs_url,
            acs_index,
            protocol_binding: get("ProtocolBinding"),
            name_id_format: None,
            allow_create: false,
            force_authn: boolean_attr(doc, root, "ForceAuthn")?,
            is_passive: boolean_attr(doc, root, "IsPassive")?,
            requested_authn_contexts: Vec::new(),
        };
        if let Some(p) = doc.unique_child(root, ns::SAMLP, "NameIDPolicy")? {
            req.name_id_format = doc
                .element(p)
                .and_then(|e| e.attribute("Format"))
                .map(NameIdFormat::from_uri);
            req.allow_create = boolean_attr(doc, p, "AllowCreate")?;
        }
        if let Some(r) = doc.unique_child(root, ns::SAMLP, "RequestedAuthnContext")? {
            for c in doc.children_named(r, ns::SAML, "AuthnContextClassRef") {
                req.requested_authn_contexts
                    .push(doc.text(c)?.trim().to_owned());
            }
        }
        Ok(req)
    }

    /// Parses an AuthnRequest received through the HTTP-POST binding and verifies
    /// its enveloped signature with the SP's key; the proof goes into
    /// [`RequestCheck::signature`].
    pub fn parse_signed(
        xml_bytes: &[u8],
        key: &VerifyingKey,
        opts: VerifyOptions,
    ) -> Result<(Self, VerifiedSignature)> {
        let doc = xml::parse(xml_bytes)?;
        dsig::verify_enveloped(&doc, doc.root(), key, opts)?;
        let request = Self::from_document(&doc)?;
        let proof = VerifiedSignature::new(request.id.clone(), key.clone());
        Ok((request, proof))
    }

    /// Checks the request against the registered SP and returns the ACS to answer at:
    /// `Issuer` is the SP's entity ID, `Destination` (when present) is one of our SSO
    /// URLs, `IssueInstant` is within the skew of `now`, the request was signed if the
    /// SP promised to sign, and the ACS URL or index is listed in the SP metadata.
    pub fn validate<'m>(
        &self,
        sp: &'m SpMetadata,
        check: &RequestCheck<'_>,
    ) -> Result<&'m Endpoint> {
        if let Some(proof) = check.signature {
            if proof.message_id() != self.id {
                return Err(Error::Unsigned {
                    element: "AuthnRequest (the verified signature is another message's)".into(),
                });
            }
            if !sp
                .signing_certificates()
                .filter_map(|c| c.verifying_key().ok())
                .any(|k| k == *proof.key())
            {
                return Err(Error::Unsigned {
                    element: "AuthnRequest (signed with a key not in the SP metadata)".into(),
                });
            }
        } else if sp.authn_requests_signed {
            return Err(Error::Unsigned {
                element: "AuthnRequest (the SP metadata says AuthnRequestsSigned)".into(),
            });
        }
        if self.issuer.as_deref() != Some(sp.entity_id.as_str()) {
            return Err(Error::InvalidValue {
                field: "AuthnRequest/Issuer".into(),
                reason: "not the registered service provider".into(),
            });
        }
        if let Some(d) = &self.destination
            && !check.sso_urls.contains(&d.as_str())
        {
            return Err(Error::InvalidValue {
                field: "AuthnRequest/@Destination".into(),
                reason: "not this IdP's SSO endpoint".into(),
            });
        }
        let skew = (check.now - self.issue_instant).abs();
        if skew > check.max_skew {
            return Err(Error::InvalidValue {
                field: "AuthnRequest/@IssueInstant".into(),
                reason: format!("{} s away from now", skew.num_seconds()),
            });
        }
        sp.resolve_acs(self.acs_url.as_deref(), self.acs_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_req1" Version="2.0" IssueInstant="2024-01-01T00:00:00Z" Destination="https://idp.example.org/sso" AssertionConsumerServiceURL="https://signin.aws.amazon.com/saml" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>urn:amazon:webservices</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>"#;

    fn aws_sp() -> SpMetadata {
        SpMetadata::parse(include_bytes!(
            "../tests/vectors/metadata/aws-signin-sp.xml"
        ))
        .unwrap()
    }

    fn check_at(now: &str) -> RequestCheck<'static> {
        RequestCheck {
            sso_urls: &["https://idp.example.org/sso"],
            now: DateTime::parse_from_rfc3339(now)
                .unwrap()
                .with_timezone(&Utc),
            max_skew: TimeDelta::minutes(3),
            signature: None,
        }
    }

    #[test]
    fn parses_and_validates() {
        let r = AuthnRequest::parse(REQ.as_bytes()).unwrap();
        assert_eq!(r.id, "_req1");
        assert_eq!(r.issuer.as_deref(), Some("urn:amazon:webservices"));
        assert_eq!(r.name_id_format, Some(NameIdFormat::Persistent));
        assert!(r.allow_create);
        let sp = aws_sp();
        let check = check_at("2024-01-01T00:01:00Z");
        let acs = r.validate(&sp, &check).unwrap();
        assert_eq!(acs.location, "https://signin.aws.amazon.com/saml");
        let late = check_at("2024-01-01T00:10:00Z");
        assert!(r.validate(&sp, &late).is_err());
        let other_dest = RequestCheck {
            sso_urls: &["https://other/sso"],
            ..check.clone()
        };
        assert!(r.validate(&sp, &other_dest).is_err());
        let evil_acs = REQ.replace("https://signin.aws.amazon.com/saml", "https://evil/acs");
        let r2 = AuthnRequest::parse(evil_acs.as_bytes()).unwrap();
        assert!(r2.validate(&sp, &check).is_err());
        let wrong_issuer = REQ.replace(">urn:amazon:webservices<", ">urn:other<");
        let r3 = AuthnRequest::parse(wrong_issuer.as_bytes()).unwrap();
        assert!(r3.validate(&sp, &check).is_err());
    }

    #[test]
    fn an_issue_instant_without_zone_is_utc() {
        let zoneless = REQ.replace("2024-01-01T00:00:00Z", "2024-01-01T00:00:00");
        let r = AuthnRequest::parse(zoneless.as_bytes()).unwrap();
        assert_eq!(
            r.issue_instant,
            AuthnRequest::parse(REQ.as_bytes()).unwrap().issue_instant
        );
    }

    /// A signing SP is satisfied only by a proof from the crate's verifiers, for this
    /// request, made with a key of the SP's metadata.
    #[test]
    fn signing_sps_need_a_proof_of_the_right_signature() {
        use crate::binding::{BindingLimits, MessageKind, RedirectMessage, encode_redirect};
        use crate::cert::Certificate;
        use crate::dsig::{SignOptions, sign_enveloped};
        use crate::metadata::KeyUse;
        use crate::sign::RsaSigner;

        let signer = RsaSigner::from_pem(include_str!("../tests/data/idp-key.pem")).unwrap();
        let cert = Certificate::from_pem(include_str!("../tests/data/idp-cert.pem")).unwrap();
        let other = Certificate::from_pem(include_str!("../tests/data/other-cert.pem")).unwrap();
        let mut sp = aws_sp();
        sp.authn_requests_signed = true;
        sp.certificates = vec![(KeyUse::Signing, cert.clone())];
        let check = check_at("2024-01-01T00:01:00Z");
        let r = AuthnRequest::parse(REQ.as_bytes()).unwrap();
        assert!(matches!(
            r.validate(&sp, &check),
            Err(Error::Unsigned { .. })
        ));

        // Redirect binding: the query signature's proof.
        let query =
            encode_redirect(MessageKind::Request, REQ.as_bytes(), None, Some(&signer)).unwrap();
        let msg = RedirectMessage::decode(&query, &BindingLimits::default()).unwrap();
        let key = cert.verifying_key().unwrap();
        let proof = msg.verify(&key, false).unwrap();
        assert_eq!(proof.message_id(), "_req1");
        let signed = RequestCheck {
            signature: Some(&proof),
            ..check.clone()
        };
        r.validate(&sp, &signed).unwrap();

        // POST binding: the enveloped signature's proof.
        let mut doc = xml::parse(REQ.as_bytes()).unwrap();
        let root = doc.root();
        sign_enveloped(
            &mut doc,
            root,
            &signer,
            Some(&cert),
            &SignOptions::default(),
        )
        .unwrap();
        let signed_xml = doc.to_xml();
        let (posted, post_proof) =
            AuthnRequest::parse_signed(signed_xml.as_bytes(), &key, VerifyOptions::default())
                .unwrap();
        posted
            .validate(
                &sp,
                &RequestCheck {
                    signature: Some(&post_proof),
                    ..check.clone()
                },
            )
            .unwrap();

        // The proof of another request does not vouch for this one.
        let other_req = AuthnRequest::parse(REQ.replace("_req1", "_req2").as_bytes()).unwrap();
        assert!(matches!(
            other_req.validate(&sp, &signed),
            Err(Error::Unsigned { .. })
        ));
        // Nor does a signature by a key the SP's metadata does not list.
        sp.certificates = vec![(KeyUse::Signing, other)];
        assert!(matches!(
            r.validate(&sp, &signed),
            Err(Error::Unsigned { .. })
        ));
    }

    #[test]
    fn refuses_bad_requests() {
        for bad in [
            REQ.replace("ID=\"_req1\"", "ID=\"1bad\""),
            REQ.replace("Version=\"2.0\"", "Version=\"1.1\""),
            REQ.replace("2024-01-01T00:00:00Z", "yesterday"),
            REQ.replace("AuthnRequest", "LogoutRequest"),
            REQ.replace(
                "ProtocolBinding",
                "AssertionConsumerServiceIndex=\"1\" ProtocolBinding",
            ),
        ] {
            assert!(AuthnRequest::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
