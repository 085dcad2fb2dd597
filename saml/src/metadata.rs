//! SAML 2.0 metadata: reading a service provider's `EntityDescriptor` and writing
//! the IdP's own.

use chrono::{DateTime, Utc};

use crate::cert::Certificate;
use crate::dsig::{self, SignOptions, VerifyOptions};
use crate::error::{Error, Result};
use crate::id::SamlId;
use crate::ns;
use crate::response::NameIdFormat;
use crate::sign::{Signer, VerifyingKey};
use crate::xml::{self, Document, Limits, Name, NodeId};
use crate::xsd::{boolean_attr, date_time_attr};

/// Binding URI of HTTP-Redirect.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Binding URI of HTTP-POST.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// An endpoint (AssertionConsumerService, SingleLogoutService, SingleSignOnService).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The binding URI.
    pub binding: String,
    /// The URL.
    pub location: String,
    /// `index` (indexed endpoints only).
    pub index: Option<u16>,
    /// `isDefault` (indexed endpoints only).
    pub is_default: bool,
    /// `ResponseLocation`, when different from `location`.
    pub response_location: Option<String>,
}

/// What a `KeyDescriptor` certificate may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUse {
    /// `use="signing"`.
    Signing,
    /// `use="encryption"`.
    Encryption,
    /// No `use`: both.
    Both,
}

/// A service provider as its metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    /// The entity ID (expected as `Issuer` of its requests, and the audience).
    pub entity_id: String,
    /// Assertion consumer services in document order.
    pub assertion_consumer_services: Vec<Endpoint>,
    /// Single logout services.
    pub single_logout_services: Vec<Endpoint>,
    /// Certificates with their use.
    pub certificates: Vec<(KeyUse, Certificate)>,
    /// Accepted NameID formats, in order of preference.
    pub name_id_formats: Vec<NameIdFormat>,
    /// `WantAssertionsSigned`.
    pub want_assertions_signed: bool,
    /// `AuthnRequestsSigned`.
    pub authn_requests_signed: bool,
    /// The earliest `validUntil` of the `EntityDescriptor`, its `SPSSODescriptor`
    /// and (in an aggregate) the enclosing `EntitiesDescriptor`s; `None` when none
    /// says.
    pub valid_until: Option<DateTime<Utc>>,
}

/// Parsing limits for metadata aggregates (federation feeds run to tens of
/// megabytes): 256 MiB, depth 64, 16 million nodes, 64 attributes per element.
pub const AGGREGATE_LIMITS: Limits = Limits {
    max_bytes: 256 << 20,
    max_depth: 64,
    max_nodes: 16_000_000,
    max_attributes: 64,
};

/// How metadata is accepted.
///
/// Metadata whose `validUntil` has passed is refused ([`Error::MetadataExpired`]):
/// its publisher no longer vouches for the endpoints and keys in it. The time is the
/// caller's, as everywhere in this crate. With [`MetadataOptions::verify_with`], the
/// document's own (root) signature is required and verified with the publisher's key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataOptions {
    /// The current time, compared with `validUntil`.
    pub now: DateTime<Utc>,
    /// Accept metadata whose `validUntil` has passed. Only for tests and for looking at
    /// old files: [`MetadataOptions::allow_expired_for_testing`].
    pub allow_expired: bool,
    /// The metadata publisher's key (a federation's signing certificate). When set,
    /// the root element must carry a valid enveloped signature by it (RSA-SHA256,
    /// SHA-1 refused); signatures inside an aggregate are not looked at.
    pub trusted_key: Option<VerifyingKey>,
    /// Parser limits; `None` means [`Limits::SAML`] for one `EntityDescriptor` and
    /// [`AGGREGATE_LIMITS`] for an aggregate.
    pub limits: Option<Limits>,
}

impl MetadataOptions {
    /// Checks metadata as of `now`, refusing expired metadata; no signature required.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            allow_expired: false,
            trusted_key: None,
            limits: None,
        }
    }

    /// Accepts metadata whose `validUntil` has passed. For tests and for inspecting
    /// archived metadata; never for metadata a server acts on.
    #[must_use]
    pub fn allow_expired_for_testing(mut self) -> Self {
        self.allow_expired = true;
        self
    }

    /// Requires the document to be signed by `key` (see
    /// [`MetadataOptions::trusted_key`]).
    #[must_use]
    pub fn verify_with(mut self, key: VerifyingKey) -> Self {
        self.trusted_key = Some(key);
        self
    }

    /// Parser limits other than the defaults.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// `Err(MetadataExpired)` when `valid_until` is not after `now` (and expired
    /// metadata is not allowed).
    fn check_expiry(&self, who: &str, valid_until: Option<DateTime<Utc>>) -> Result<()> {
        match valid_until {
            Some(t) if !self.allow_expired && self.now >= t => Err(Error::MetadataExpired {
                entity_id: who.to_owned(),
                valid_until: crate::xsd::date_time(t),
            }),
            _ => Ok(()),
        }
    }

    /// Parses `xml_bytes` with the configured limits (or `default`) and, with a
    /// trusted key, verifies the root's signature.
    fn parse_document(&self, xml_bytes: &[u8], default: &Limits) -> Result<Document> {
        let doc = xml::parse_with_limits(xml_bytes, self.limits.as_ref().unwrap_or(default))?;
        if let Some(key) = &self.trusted_key {
            dsig::verify_enveloped(&doc, doc.root(), key, VerifyOptions::default())?;
        }
        Ok(doc)
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn endpoint(doc: &Document, el: NodeId, indexed: bool) -> Result<Endpoint> {
    let e = doc
        .element(el)
        .ok_or_else(|| Error::MissingElement { path: doc.path(el) })?;
    let req = |name: &str| {
        e.attribute(name)
            .map(str::to_owned)
            .ok_or_else(|| Error::MissingAttribute {
                element: doc.path(el),
                attribute: name.into(),
            })
    };
    let index = if indexed {
        Some(
            req("index")?
                .parse::<u16>()
                .map_err(|_| Error::InvalidValue {
                    field: format!("{}/@index", doc.path(el)),
                    reason: "not an unsigned short".into(),
                })?,
        )
    } else {
        None
    };
    Ok(Endpoint {
        binding: req("Binding")?,
        location: req("Location")?,
        index,
        is_default: boolean_attr(doc, el, "isDefault")?,
        response_location: e.attribute("ResponseLocation").map(str::to_owned),
    })
}

impl SpMetadata {
    /// Parses SP metadata: an `EntityDescriptor` with one `SPSSODescriptor`
    /// supporting SAML 2.0, refusing it when its `validUntil` is not after
    /// `opts.now` ([`Error::MetadataExpired`]). A metadata signature is not checked
    /// here (see [`dsig::verify_enveloped`] with the federation's key).
    pub fn parse_with(xml_bytes: &[u8], opts: &MetadataOptions) -> Result<Self> {
        let doc = opts.parse_document(xml_bytes, &Limits::SAML)?;
        let md = Self::from_root(&doc)?;
        opts.check_expiry(&md.entity_id, md.valid_until)?;
        Ok(md)
    }

    /// Parses SP metadata like [`SpMetadata::parse_with`] but without looking at the
    /// clock: `validUntil` is read into [`SpMetadata::valid_until`] and not checked.
    /// Check it with [`SpMetadata::check_valid`], or use [`SpMetadata::parse_with`].
    pub fn parse(xml_bytes: &[u8]) -> Result<Self> {
        Self::from_root(&xml::parse(xml_bytes)?)
    }

    /// The SP of a document whose root is its `EntityDescriptor`.
    fn from_root(doc: &Document) -> Result<Self> {
        let root = doc.root();
        match doc.element(root) {
            Some(e) if e.is(ns::MD, "EntityDescriptor") => Self::from_entity(doc, root),
            Some(e) if e.is(ns::MD, "EntitiesDescriptor") => Err(Error::UnexpectedElement {
                path: doc.path(root),
                reason: "an aggregate of entities: read it with MetadataAggregate and pick the SP by entityID".into(),
            }),
            _ => Err(Error::UnexpectedElement {
                path: doc.path(root),
                reason: "expected md:EntityDescriptor".into(),
            }),
        }
    }

    /// Refuses this metadata when its `validUntil` has passed (see
    /// [`MetadataOptions`]); for metadata kept in memory between requests.
    pub fn check_valid(&self, opts: &MetadataOptions) -> Result<()> {
        opts.check_expiry(&self.entity_id, self.valid_until)
    }

    /// Reads the `EntityDescriptor` at `entity`.
    fn from_entity(doc: &Document, root: NodeId) -> Result<Self> {
        let entity_id = doc
            .element(root)
            .and_then(|e| e.attribute("entityID"))
            .filter(|v| !v.is_empty() && v.len() <= 1024)
            .ok_or_else(|| Error::MissingAttribute {
                element: "EntityDescriptor".into(),
                attribute: "entityID".into(),
            })?
            .to_owned();
        let sp = doc
            .unique_child(root, ns::MD, "SPSSODescriptor")?
            .ok_or_else(|| Error::MissingElement {
                path: "EntityDescriptor/SPSSODescriptor".into(),
            })?;
        let protocols = doc
            .element(sp)
            .and_then(|e| e.attribute("protocolSupportEnumeration"))
            .unwrap_or_default();
        if !protocols.split_ascii_whitespace().any(|p| p == ns::SAMLP) {
            return Err(Error::InvalidValue {
                field: "SPSSODescriptor/@protocolSupportEnumeration".into(),
                reason: "SAML 2.0 protocol not supported".into(),
            });
        }
        let mut md = Self {
            entity_id,
            assertion_consumer_services: Vec::new(),
            single_logout_services: Vec::new(),
            certificates: Vec::new(),
            name_id_formats: Vec::new(),
            want_assertions_signed: boolean_attr(doc, sp, "WantAssertionsSigned")?,
            authn_requests_signed: boolean_attr(doc, sp, "AuthnRequestsSigned")?,
            valid_until: earliest(
                date_time_attr(doc, root, "validUntil")?,
                date_time_attr(doc, sp, "validUntil")?,
            ),
        };
        for (c, e) in doc.child_elements(sp) {
            if e.is(ns::MD, "AssertionConsumerService") {
                md.assertion_consumer_services.push(endpoint(doc, c, true)?);
            } else if e.is(ns::MD, "SingleLogoutService") {
                md.single_logout_services.push(endpoint(doc, c, false)?);
            } else if e.is(ns::MD, "NameIDFormat") {
                md.name_id_formats
                    .push(NameIdFormat::from_uri(doc.text(c)?.trim()));
            } else if e.is(ns::MD, "KeyDescriptor") {
                let key_use = match e.attribute("use") {
                    None => KeyUse::Both,
                    Some("signing") => KeyUse::Signing,
                    Some("encryption") => KeyUse::Encryption,
                    Some(_) => {
                        return Err(Error::InvalidValue {
                            field: format!("{}/@use", doc.path(c)),
                            reason: "expected signing or encryption".into(),
                        });
                    }
                };
                if let Some(ki) = doc.unique_child(c, ns::DS, "KeyInfo")? {
                    for xd in doc.children_named(ki, ns::DS, "X509Data") {
                        for xc in doc.children_named(xd, ns::DS, "X509Certificate") {
                            md.certificates
                                .push((key_use, Certificate::from_base64(&doc.text(xc)?)?));
                        }
                    }
                }
            }
        }
        if md.assertion_consumer_services.is_empty() {
            return Err(Error::MissingElement {
                path: "EntityDescriptor/SPSSODescriptor/AssertionConsumerService".into(),
            });
        }
        Ok(md)
    }

    /// The ACS to answer at: the requested URL if the metadata lists it, the
    /// requested index, or else the default one (`isDefault`, else the first with the
    /// POST binding, else the first).
    pub fn resolve_acs(&self, url: Option<&str>, index: Option<u16>) -> Result<&Endpoint> {
        let acs = &self.assertion_consumer_services;
        if let Some(url) = url {
            return acs
                .iter()
                .find(|e| e.location == url)
                .ok_or_else(|| Error::InvalidValue {
                    field: "AssertionConsumerServiceURL".into(),
                    reason: "not listed in the SP metadata".into(),
                });
        }
        if let Some(i) = index {
            return acs
                .iter()
                .find(|e| e.index == Some(i))
                .ok_or_else(|| Error::InvalidValue {
                    field: "AssertionConsumerServiceIndex".into(),
                    reason: "not listed in the SP metadata".into(),
                });
        }
        acs.iter()
            .find(|e| e.is_default)
            .or_else(|| acs.iter().find(|e| e.binding == BINDING_POST))
            .or_else(|| acs.first())
            .ok_or_else(|| Error::MissingElement {
                path: "SPSSODescriptor/AssertionConsumerService".into(),
            })
    }

    /// Certificates usable to verify the SP's signatures.
    pub fn signing_certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certificates
            .iter()
            .filter(|(u, _)| matches!(u, KeyUse::Signing | KeyUse::Both))
            .map(|(_, c)| c)
    }
}

/// One entity of an aggregate: where it is and until when its ancestors vouch for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AggregateEntity {
    entity_id: String,
    node: NodeId,
    /// The earliest `validUntil` of the enclosing `EntitiesDescriptor`s.
    valid_until: Option<DateTime<Utc>>,
}

/// A metadata aggregate: an `EntitiesDescriptor` (a federation feed, or a file with
/// several entities), possibly nested, from which the caller picks a service provider
/// by `entityID`. A file with a single `EntityDescriptor` is read as an aggregate of
/// one.
///
/// The aggregate is checked once, when parsed: its root signature (with
/// [`MetadataOptions::verify_with`]), the root's `validUntil`, and that every entity
/// has a distinct `entityID`. An entity's own elements are read only when it is
/// picked ([`MetadataAggregate::sp`]), so one malformed entity in a feed does not
/// stop the others from being used; its `validUntil` and those of the
/// `EntitiesDescriptor`s around it are checked then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataAggregate {
    doc: Document,
    entities: Vec<AggregateEntity>,
    opts: MetadataOptions,
}

impl MetadataAggregate {
    /// Parses an `EntitiesDescriptor` (or a single `EntityDescriptor`).
    pub fn parse(xml_bytes: &[u8], opts: &MetadataOptions) -> Result<Self> {
        let doc = opts.parse_document(xml_bytes, &AGGREGATE_LIMITS)?;
        let root = doc.root();
        let mut entities = Vec::new();
        // (element, validUntil inherited from the enclosing EntitiesDescriptors)
        let mut pending = vec![(root, None)];
        while let Some((node, inherited)) = pending.pop() {
            let Some(e) = doc.element(node) else {
                continue;
            };
            if e.is(ns::MD, "EntityDescriptor") {
                let entity_id = e
                    .attribute("entityID")
                    .filter(|v| !v.is_empty() && v.len() <= 1024)
                    .ok_or_else(|| Error::MissingAttribute {
                        element: doc.path(node),
                        attribute: "entityID".into(),
                    })?
                    .to_owned();
                entities.push(AggregateEntity {
                    entity_id,
                    node,
                    valid_until: inherited,
                });
            } else if e.is(ns::MD, "EntitiesDescriptor") {
                let valid_until = earliest(inherited, date_time_attr(&doc, node, "validUntil")?);
                if node == root {
                    let name = e.attribute("Name").unwrap_or("EntitiesDescriptor");
                    opts.check_expiry(name, valid_until)?;
                }
                // Reverse, so that entities come out in document order.
                for (child, ce) in doc
                    .child_elements(node)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    if ce.is(ns::MD, "EntityDescriptor") || ce.is(ns::MD, "EntitiesDescriptor") {
                        pending.push((child, valid_until));
                    }
                }
            } else {
                return Err(Error::UnexpectedElement {
                    path: doc.path(node),
                    reason: "expected md:EntitiesDescriptor or md:EntityDescriptor".into(),
                });
            }
        }
        for (i, entity) in entities.iter().enumerate() {
            if entities[..i]
                .iter()
                .any(|o| o.entity_id == entity.entity_id)
            {
                return Err(Error::DuplicateEntity {
                    entity_id: entity.entity_id.clone(),
                });
            }
        }
        Ok(Self {
            doc,
            entities,
            opts: opts.clone(),
        })
    }

    /// The `entityID`s of every entity (service providers, identity providers and
    /// others), in document order.
    pub fn entity_ids(&self) -> impl Iterator<Item = &str> {
        self.entities.iter().map(|e| e.entity_id.as_str())
    }

    /// The number of entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// `true` when the aggregate holds no entity.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The service provider `entity_id`: [`Error::UnknownEntity`] when the aggregate
    /// has no such entity, [`Error::MetadataExpired`] when its `validUntil` or that of
    /// an enclosing `EntitiesDescriptor` has passed, and the errors of
    /// [`SpMetadata::parse`] when it is no usable SP.
    pub fn sp(&self, entity_id: &str) -> Result<SpMetadata> {
        let entity = self
            .entities
            .iter()
            .find(|e| e.entity_id == entity_id)
            .ok_or_else(|| Error::UnknownEntity {
                entity_id: entity_id.to_owned(),
            })?;
        let mut md = SpMetadata::from_entity(&self.doc, entity.node)?;
        md.valid_until = earliest(md.valid_until, entity.valid_until);
        self.opts.check_expiry(&md.entity_id, md.valid_until)?;
        Ok(md)
    }
}

/// The IdP's metadata, written by [`IdpMetadata::to_document`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's entity ID.
    pub entity_id: String,
    /// SingleSignOnService endpoints (bindings and URLs).
    pub single_sign_on_services: Vec<(String, String)>,
    /// SingleLogoutService endpoints.
    pub single_logout_services: Vec<(String, String)>,
    /// NameID formats offered.
    pub name_id_formats: Vec<NameIdFormat>,
    /// The signing certificate.
    pub signing_certificate: Certificate,
    /// Whether the IdP wants signed AuthnRequests.
    pub want_authn_requests_signed: bool,
}

impl IdpMetadata {
    /// Metadata for an IdP with the usual endpoints under `base_url`:
    /// `{base_url}/sso` (Redirect and POST) and `{base_url}/slo` (Redirect and POST).
    pub fn with_base_url(
        entity_id: &str,
        base_url: &str,
        signing_certificate: Certificate,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let both = |path: &str| {
            vec![
                (BINDING_REDIRECT.to_owned(), format!("{base}/{path}")),
                (BINDING_POST.to_owned(), format!("{base}/{path}")),
            ]
        };
        Self {
            entity_id: entity_id.to_owned(),
            single_sign_on_services: both("sso"),
            single_logout_services: both("slo"),
            name_id_formats: vec![
                NameIdFormat::Persistent,
                NameIdFormat::Transient,
                NameIdFormat::EmailAddress,
                NameIdFormat::Unspecified,
            ],
            signing_certificate,
            want_authn_requests_signed: false,
        }
    }

    /// The metadata document (unsigned). `id` is written as the `ID` attribute so that
    /// the document can be signed.
    pub fn to_document(&self, id: &SamlId) -> Result<Document> {
        let md = |l: &str| Name::qualified("md", l, ns::MD);
        let mut doc = Document::new(md("EntityDescriptor"));
        let root = doc.root();
        doc.declare_namespace(root, Some("md"), ns::MD)?;
        doc.declare_namespace(root, Some("ds"), ns::DS)?;
        doc.set_attribute(root, "ID", id.as_str())?;
        doc.set_attribute(root, "entityID", &self.entity_id)?;
        let idp = doc.append_element(root, md("IDPSSODescriptor"))?;
        doc.set_attribute(
            idp,
            "WantAuthnRequestsSigned",
            if self.want_authn_requests_signed {
                "true"
            } else {
                "false"
            },
        )?;
        doc.set_attribute(idp, "protocolSupportEnumeration", ns::SAMLP)?;
        let kd = doc.append_element(idp, md("KeyDescriptor"))?;
        doc.set_attribute(kd, "use", "signing")?;
        let ki = doc.append_element(kd, Name::qualified("ds", "KeyInfo", ns::DS))?;
        let xd = doc.append_element(ki, Name::qualified("ds", "X509Data", ns::DS))?;
        doc.append_text_element(
            xd,
            Name::qualified("ds", "X509Certificate", ns::DS),
            &self.signing_certificate.to_base64(),
        )?;
        for (binding, location) in &self.single_logout_services {
            let e = doc.append_element(idp, md("SingleLogoutService"))?;
            doc.set_attribute(e, "Binding", binding)?;
            doc.set_attribute(e, "Location", location)?;
        }
        for f in &self.name_id_formats {
            doc.append_text_element(idp, md("NameIDFormat"), f.uri())?;
        }
        for (binding, location) in &self.single_sign_on_services {
            let e = doc.append_element(idp, md("SingleSignOnService"))?;
            doc.set_attribute(e, "Binding", binding)?;
            doc.set_attribute(e, "Location", location)?;
        }
        Ok(doc)
    }

    /// The metadata as XML, optionally signed (enveloped, first child of the root).
    pub fn to_xml(&self, id: &SamlId, signer: Option<&dyn Signer>) -> Result<String> {
        let mut doc = self.to_document(id)?;
        if let Some(s) = signer {
            let root = doc.root();
            dsig::sign_enveloped(
                &mut doc,
                root,
                s,
                Some(&self.signing_certificate),
                &SignOptions::default(),
            )?;
        }
        Ok(doc.to_xml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn aws_metadata_parses() {
        let md = SpMetadata::parse(include_bytes!(
            "../tests/vectors/metadata/aws-signin-sp.xml"
        ))
        .unwrap();
        assert_eq!(md.entity_id, "urn:amazon:webservices");
        let acs = md.resolve_acs(None, None).unwrap();
        assert_eq!(acs.location, "https://signin.aws.amazon.com/saml");
        assert_eq!(acs.binding, BINDING_POST);
        assert_eq!(acs.index, Some(1));
        assert!(md.want_assertions_signed);
        assert!(!md.authn_requests_signed);
        assert_eq!(md.signing_certificates().count(), 1);
        assert_eq!(md.name_id_formats.len(), 8);
        assert_eq!(md.name_id_formats[0], NameIdFormat::Transient);
        assert!(
            md.resolve_acs(Some("https://evil.example/acs"), None)
                .is_err()
        );
        assert!(md.resolve_acs(None, Some(2)).is_err());
        assert_eq!(md.resolve_acs(None, Some(1)).unwrap(), acs);
    }

    fn at(t: &str) -> MetadataOptions {
        MetadataOptions::at(DateTime::parse_from_rfc3339(t).unwrap().into())
    }

    fn sp_xml(entity_valid_until: &str, sp_valid_until: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.org" {entity_valid_until}><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" {sp_valid_until}><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    #[test]
    fn refuses_expired_metadata() {
        // AWS's published metadata says validUntil="2021-02-20T00:00:00Z".
        let aws = include_bytes!("../tests/vectors/metadata/aws-signin-sp.xml");
        let err = SpMetadata::parse_with(aws, &at("2023-11-14T22:13:20Z")).unwrap_err();
        assert_eq!(
            err,
            Error::MetadataExpired {
                entity_id: "urn:amazon:webservices".into(),
                valid_until: "2021-02-20T00:00:00Z".into()
            }
        );
        assert!(err.to_string().contains("expired"));
        // Still good the second before; expired at the instant itself.
        SpMetadata::parse_with(aws, &at("2021-02-19T23:59:59Z")).unwrap();
        assert!(SpMetadata::parse_with(aws, &at("2021-02-20T00:00:00Z")).is_err());
        // The explicit opt-in, for tests.
        let opts = at("2023-11-14T22:13:20Z").allow_expired_for_testing();
        let md = SpMetadata::parse_with(aws, &opts).unwrap();
        assert_eq!(
            md.valid_until,
            Some(
                DateTime::parse_from_rfc3339("2021-02-20T00:00:00Z")
                    .unwrap()
                    .into()
            )
        );
        // Kept in memory: checked again later.
        let md = SpMetadata::parse(aws).unwrap();
        assert!(md.check_valid(&at("2023-11-14T22:13:20Z")).is_err());
        md.check_valid(&at("2020-01-01T00:00:00Z")).unwrap();

        // The SPSSODescriptor's own validUntil counts too, the earlier one wins; no
        // zone means UTC; fractional seconds are fine.
        let xml = sp_xml(
            r#"validUntil="2030-01-01T00:00:00.5Z""#,
            r#"validUntil="2025-06-01T12:00:00""#,
        );
        let now = at("2025-06-01T12:00:01Z");
        assert!(matches!(
            SpMetadata::parse_with(xml.as_bytes(), &now),
            Err(Error::MetadataExpired { .. })
        ));
        SpMetadata::parse_with(xml.as_bytes(), &at("2025-06-01T11:00:00Z")).unwrap();
        // No validUntil: nothing to refuse.
        SpMetadata::parse_with(sp_xml("", "").as_bytes(), &now).unwrap();
        // Not a dateTime: refused rather than ignored.
        assert!(matches!(
            SpMetadata::parse(sp_xml(r#"validUntil="soon""#, "").as_bytes()),
            Err(Error::InvalidValue { .. })
        ));
    }

    #[test]
    fn refuses_non_sp_metadata() {
        assert!(SpMetadata::parse(b"<a/>").is_err());
        let no_acs = br#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#;
        assert!(matches!(
            SpMetadata::parse(no_acs),
            Err(Error::MissingElement { .. })
        ));
    }
}
