//! Metadata aggregates (`EntitiesDescriptor`): nested entities picked by entityID,
//! `validUntil` at every level, and a signature on the aggregate checked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use idforge_saml::{Certificate, Error, RsaSigner, xml};
use idforge_saml::{MetadataAggregate, MetadataOptions, SpMetadata};
use idforge_saml::{SignOptions, sign_enveloped};

const FEED: &str = include_str!("vectors/metadata/aggregate.xml");
const AWS: &[u8] = include_bytes!("vectors/metadata/aws-signin-sp.xml");
const KEY: &str = include_str!("data/idp-key.pem");
const CERT: &str = include_str!("data/idp-cert.pem");
const OTHER_CERT: &str = include_str!("data/other-cert.pem");

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().into()
}

fn at(s: &str) -> MetadataOptions {
    MetadataOptions::at(t(s))
}

/// The feed signed on its root, as a federation publishes it.
fn signed_feed() -> String {
    let mut doc = xml::parse(FEED.as_bytes()).unwrap();
    let root = doc.root();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let cert = Certificate::from_pem(CERT).unwrap();
    sign_enveloped(
        &mut doc,
        root,
        &signer,
        Some(&cert),
        &SignOptions::default(),
    )
    .unwrap();
    doc.to_xml()
}

#[test]
fn picks_entities_by_entity_id_through_nesting() {
    let feed = MetadataAggregate::parse(FEED.as_bytes(), &at("2024-06-01T00:00:00Z")).unwrap();
    assert_eq!(
        feed.entity_ids().collect::<Vec<_>>(),
        [
            "https://sp-one.example.org/saml",
            "https://idp.example.org/saml",
            "https://sp-two.example.org/saml"
        ]
    );
    assert_eq!(feed.len(), 3);
    let one = feed.sp("https://sp-one.example.org/saml").unwrap();
    assert!(one.want_assertions_signed);
    assert_eq!(
        one.resolve_acs(None, None).unwrap().location,
        "https://sp-one.example.org/acs"
    );
    assert_eq!(
        one.signing_certificates().next(),
        Some(&Certificate::from_pem(OTHER_CERT).unwrap())
    );
    assert_eq!(one.valid_until, Some(t("2030-01-01T00:00:00Z")));
    let two = feed.sp("https://sp-two.example.org/saml").unwrap();
    assert_eq!(two.valid_until, Some(t("2025-01-01T00:00:00Z")));
    assert_eq!(two.resolve_acs(None, Some(1)).unwrap().index, Some(1));
    // An IdP is an entity, but no SP.
    assert!(matches!(
        feed.sp("https://idp.example.org/saml"),
        Err(Error::MissingElement { .. })
    ));
    assert_eq!(
        feed.sp("https://nobody.example.org"),
        Err(Error::UnknownEntity {
            entity_id: "https://nobody.example.org".into()
        })
    );
    // SpMetadata::parse says what the file is instead of a bare refusal.
    let err = SpMetadata::parse(FEED.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("MetadataAggregate"), "{err}");
    // A single EntityDescriptor is an aggregate of one.
    let aws = MetadataAggregate::parse(AWS, &at("2020-06-01T00:00:00Z")).unwrap();
    assert_eq!(
        aws.entity_ids().collect::<Vec<_>>(),
        ["urn:amazon:webservices"]
    );
    aws.sp("urn:amazon:webservices").unwrap();
}

#[test]
fn valid_until_counts_at_every_level() {
    // The nested EntitiesDescriptor expired in 2025; the feed itself is good until 2030.
    let feed = MetadataAggregate::parse(FEED.as_bytes(), &at("2026-01-01T00:00:00Z")).unwrap();
    feed.sp("https://sp-one.example.org/saml").unwrap();
    assert_eq!(
        feed.sp("https://sp-two.example.org/saml"),
        Err(Error::MetadataExpired {
            entity_id: "https://sp-two.example.org/saml".into(),
            valid_until: "2025-01-01T00:00:00Z".into()
        })
    );
    // The whole feed expired: refused at once, under its Name.
    assert_eq!(
        MetadataAggregate::parse(FEED.as_bytes(), &at("2030-01-01T00:00:00Z")),
        Err(Error::MetadataExpired {
            entity_id: "urn:example:federation".into(),
            valid_until: "2030-01-01T00:00:00Z".into()
        })
    );
    let old = at("2031-01-01T00:00:00Z").allow_expired_for_testing();
    let feed = MetadataAggregate::parse(FEED.as_bytes(), &old).unwrap();
    feed.sp("https://sp-two.example.org/saml").unwrap();
    // The entity's own validUntil (AWS: 2021) counts inside an aggregate too.
    let aws = MetadataAggregate::parse(AWS, &at("2023-01-01T00:00:00Z")).unwrap();
    assert!(matches!(
        aws.sp("urn:amazon:webservices"),
        Err(Error::MetadataExpired { .. })
    ));
}

#[test]
fn the_aggregate_signature_is_verified_once_on_parse() {
    let key = Certificate::from_pem(CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    let other = Certificate::from_pem(OTHER_CERT)
        .unwrap()
        .verifying_key()
        .unwrap();
    let now = "2024-06-01T00:00:00Z";
    let signed = signed_feed();
    let feed =
        MetadataAggregate::parse(signed.as_bytes(), &at(now).verify_with(key.clone())).unwrap();
    feed.sp("https://sp-two.example.org/saml").unwrap();
    // An entity changed after signing: the whole feed is refused.
    let tampered = signed.replace(
        "https://sp-two.example.org/acs",
        "https://evil.example.org/acs",
    );
    assert_ne!(tampered, signed);
    assert_eq!(
        MetadataAggregate::parse(tampered.as_bytes(), &at(now).verify_with(key.clone())),
        Err(Error::DigestMismatch)
    );
    // Another publisher's key, or no signature at all, when one is required.
    assert_eq!(
        MetadataAggregate::parse(signed.as_bytes(), &at(now).verify_with(other)),
        Err(Error::SignatureInvalid)
    );
    assert!(matches!(
        MetadataAggregate::parse(FEED.as_bytes(), &at(now).verify_with(key.clone())),
        Err(Error::Unsigned { .. })
    ));
    // Without a trusted key the signature is not looked at.
    MetadataAggregate::parse(tampered.as_bytes(), &at(now)).unwrap();
    // A single signed EntityDescriptor: SpMetadata::parse_with checks it the same way.
    let entity = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_sp1" entityID="https://sp.example.org"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#;
    let mut doc = xml::parse(entity.as_bytes()).unwrap();
    let root = doc.root();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    sign_enveloped(&mut doc, root, &signer, None, &SignOptions::default()).unwrap();
    let opts = at(now).verify_with(key);
    SpMetadata::parse_with(doc.to_xml().as_bytes(), &opts).unwrap();
    assert!(SpMetadata::parse_with(entity.as_bytes(), &opts).is_err());
}

#[test]
fn refuses_ambiguous_and_foreign_aggregates() {
    let dup = FEED.replace(
        "https://sp-two.example.org/saml",
        "https://sp-one.example.org/saml",
    );
    assert_eq!(
        MetadataAggregate::parse(dup.as_bytes(), &at("2024-06-01T00:00:00Z")),
        Err(Error::DuplicateEntity {
            entity_id: "https://sp-one.example.org/saml".into()
        })
    );
    for bad in [
        "<a/>",
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:EntityDescriptor/></md:EntitiesDescriptor>"#,
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="never"/>"#,
    ] {
        assert!(
            MetadataAggregate::parse(bad.as_bytes(), &at("2024-06-01T00:00:00Z")).is_err(),
            "{bad}"
        );
    }
    // Nesting is bounded by the parser's depth limit, not by recursion.
    let deep = format!(
        "{}{}",
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">"#.repeat(100),
        "</md:EntitiesDescriptor>".repeat(100)
    );
    assert!(matches!(
        MetadataAggregate::parse(deep.as_bytes(), &at("2024-06-01T00:00:00Z")),
        Err(Error::TooDeep { .. })
    ));
    let empty = r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>"#;
    let feed = MetadataAggregate::parse(empty.as_bytes(), &at("2024-06-01T00:00:00Z")).unwrap();
    assert!(feed.is_empty());
}
