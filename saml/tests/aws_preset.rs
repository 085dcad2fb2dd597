//! The AWS preset end to end: build, sign, parse, verify, read back.

use chrono::DateTime;
use idforge_saml::xml;
use idforge_saml::{AwsRole, AwsSignIn};
use idforge_saml::{Certificate, ResponseBuilder, RsaSigner, SamlId, SignTarget, ns};
use idforge_saml::{SignOptions, VerifyOptions};

const KEY: &str = include_str!("data/idp-key.pem");
const CERT: &str = include_str!("data/idp-cert.pem");

#[test]
fn aws_response_has_what_sts_needs() {
    let sign_in = AwsSignIn::new("alice@example.org")
        .role(
            AwsRole::new(
                "arn:aws:iam::123456789012:role/Admin",
                "arn:aws:iam::123456789012:saml-provider/idforge",
            )
            .unwrap(),
        )
        .role(
            AwsRole::new(
                "arn:aws:iam::123456789012:role/ReadOnly",
                "arn:aws:iam::123456789012:saml-provider/idforge",
            )
            .unwrap(),
        )
        .session_duration(3600)
        .principal_tag("Department", "R+D Team")
        .transitive_tag_key("Department")
        .source_identity("alice");
    let builder = ResponseBuilder::new(
        "https://idp.example.org/saml",
        SamlId::new("_r1").unwrap(),
        SamlId::new("_a1").unwrap(),
        DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    );
    let mut response = sign_in.apply(builder).unwrap().build().unwrap();
    let signer = RsaSigner::from_pem(KEY).unwrap();
    let cert = Certificate::from_pem(CERT).unwrap();
    response
        .sign(
            SignTarget::Assertion,
            &signer,
            Some(&cert),
            &SignOptions::default(),
        )
        .unwrap();

    let doc = xml::parse(response.to_xml().as_bytes()).unwrap();
    let a = doc
        .unique_child(doc.root(), ns::SAML, "Assertion")
        .unwrap()
        .unwrap();
    idforge_saml::verify_enveloped(
        &doc,
        a,
        &cert.verifying_key().unwrap(),
        VerifyOptions::default(),
    )
    .unwrap();

    let subject = doc.unique_child(a, ns::SAML, "Subject").unwrap().unwrap();
    let confirmations: Vec<_> = doc
        .children_named(subject, ns::SAML, "SubjectConfirmation")
        .collect();
    assert_eq!(confirmations.len(), 1);
    let data = doc
        .unique_child(confirmations[0], ns::SAML, "SubjectConfirmationData")
        .unwrap()
        .unwrap();
    let data = doc.element(data).unwrap();
    assert_eq!(
        data.attribute("Recipient"),
        Some("https://signin.aws.amazon.com/saml")
    );
    assert_eq!(data.attribute("NotOnOrAfter"), Some("2023-11-14T22:18:20Z"));
    let conditions = doc
        .unique_child(a, ns::SAML, "Conditions")
        .unwrap()
        .unwrap();
    let ar = doc
        .unique_child(conditions, ns::SAML, "AudienceRestriction")
        .unwrap()
        .unwrap();
    let aud = doc.unique_child(ar, ns::SAML, "Audience").unwrap().unwrap();
    assert_eq!(doc.text(aud).unwrap(), "urn:amazon:webservices");

    let st = doc
        .unique_child(a, ns::SAML, "AttributeStatement")
        .unwrap()
        .unwrap();
    let mut attrs = Vec::new();
    for at in doc.children_named(st, ns::SAML, "Attribute") {
        let name = doc
            .element(at)
            .unwrap()
            .attribute("Name")
            .unwrap()
            .to_owned();
        let values: Vec<String> = doc
            .children_named(at, ns::SAML, "AttributeValue")
            .map(|v| doc.text(v).unwrap())
            .collect();
        attrs.push((name, values));
    }
    let p = "https://aws.amazon.com/SAML/Attributes/";
    assert_eq!(
        attrs,
        vec![
            (
                format!("{p}Role"),
                vec![
                    "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/idforge".to_owned(),
                    "arn:aws:iam::123456789012:role/ReadOnly,arn:aws:iam::123456789012:saml-provider/idforge".to_owned(),
                ]
            ),
            (format!("{p}RoleSessionName"), vec!["alice@example.org".to_owned()]),
            (format!("{p}SessionDuration"), vec!["3600".to_owned()]),
            (format!("{p}PrincipalTag:Department"), vec!["R+D Team".to_owned()]),
            (format!("{p}TransitiveTagKeys"), vec!["Department".to_owned()]),
            (format!("{p}SourceIdentity"), vec!["alice".to_owned()]),
        ]
    );
}
