//! Presets for AWS: IAM SAML federation (the AWS console and `AssumeRoleWithSAML`)
//! and IAM Identity Center.
//!
//! Everything STS would refuse is checked here, with a typed [`AwsError`], before a
//! response is signed: role and provider ARNs, `RoleSessionName`, `SessionDuration`,
//! session tags, `SourceIdentity`, the audience and the ACS URL. [`AwsError`] wraps
//! the crate's base [`Error`](crate::Error), never the other way round: the base
//! error knows nothing of this preset.

use thiserror::Error;

use crate::response::{NameId, NameIdFormat, ResponseBuilder, SamlAttribute};

/// The ACS URL of the global AWS sign-in endpoint.
pub const AWS_SIGNIN_ACS: &str = "https://signin.aws.amazon.com/saml";
/// The audience (SP entity ID) of AWS IAM SAML federation.
pub const AWS_AUDIENCE: &str = "urn:amazon:webservices";

const ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";

/// A rule of the AWS presets that a value broke.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsError {
    /// No role was given: AWS needs at least one `Role` value.
    #[error("at least one role is required")]
    NoRole,
    /// A role ARN is malformed.
    #[error(
        "invalid role ARN `{0}` (expected arn:<partition>:iam::<12-digit account>:role/<name>)"
    )]
    RoleArn(String),
    /// A SAML provider ARN is malformed.
    #[error(
        "invalid SAML provider ARN `{0}` (expected arn:<partition>:iam::<12-digit account>:saml-provider/<name>)"
    )]
    ProviderArn(String),
    /// Role and provider are in different accounts or partitions.
    #[error("role `{role}` and provider `{provider}` are not in the same account")]
    AccountMismatch {
        /// The role ARN.
        role: String,
        /// The provider ARN.
        provider: String,
    },
    /// The same role appears twice.
    #[error("duplicate role `{0}`")]
    DuplicateRole(String),
    /// `RoleSessionName` must be 2-64 characters of `[A-Za-z0-9_+=,.@-]`.
    #[error("RoleSessionName `{0}` must be 2-64 characters of letters, digits and _+=,.@-")]
    RoleSessionName(String),
    /// `SessionDuration` must be 900-43200 seconds.
    #[error("SessionDuration {0} is outside 900-43200 seconds")]
    SessionDuration(u32),
    /// More than 50 session tags.
    #[error("{0} principal tags, at most 50 are allowed")]
    TooManyTags(usize),
    /// A tag key is empty, too long (over 128) or has characters AWS refuses.
    #[error(
        "invalid principal tag key `{0}` (1-128 characters of letters, digits, spaces and _.:/=+-@)"
    )]
    TagKey(String),
    /// A tag value is too long (over 256) or has characters AWS refuses.
    #[error(
        "invalid value for principal tag `{0}` (at most 256 characters of letters, digits, spaces and _.:/=+-@)"
    )]
    TagValue(String),
    /// Two tag keys differ only in case.
    #[error("duplicate principal tag key `{0}` (keys are case-insensitive)")]
    DuplicateTagKey(String),
    /// A transitive tag key names no principal tag.
    #[error("transitive tag key `{0}` is not one of the principal tags")]
    TransitiveTagKey(String),
    /// `SourceIdentity` must be 2-64 characters of `[A-Za-z0-9_+=,.@-]`, not
    /// starting with `aws:`.
    #[error(
        "SourceIdentity `{0}` must be 2-64 characters of letters, digits and _+=,.@- and not start with aws:"
    )]
    SourceIdentity(String),
    /// The ACS URL is not an AWS sign-in endpoint.
    #[error("ACS URL `{0}` is not an AWS sign-in SAML endpoint")]
    AcsUrl(String),
    /// The caller added an attribute that the preset sets and that takes a single value
    /// (`RoleSessionName`, `SessionDuration`, `SourceIdentity`, a `PrincipalTag:` or
    /// `TransitiveTagKeys`). Extra `Role` values are merged instead.
    #[error("attribute `{0}` is set by the AWS preset and takes a single value")]
    PresetAttribute(String),
    /// The Identity Center user name is empty.
    #[error("the Identity Center user name must not be empty")]
    UserName,
    /// Building, signing or reading the SAML message failed (the crate's base error),
    /// so that code using the presets needs one error type.
    #[error(transparent)]
    Saml(#[from] crate::Error),
}

/// A role the user may assume, with the IAM SAML provider that trusts this IdP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsRole {
    role_arn: String,
    provider_arn: String,
}

/// `(partition, account)` of an IAM ARN of the given resource type.
fn iam_arn<'a>(arn: &'a str, resource: &str) -> Option<(&'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let partition_ok =
        matches!(partition, "aws" | "aws-cn" | "aws-us-gov") || partition.starts_with("aws-iso");
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let name = rest.strip_prefix(resource)?.strip_prefix('/')?;
    let name_ok = !name.is_empty()
        && !name.ends_with('/')
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    (partition_ok && account_ok && name_ok).then_some((partition, account))
}

impl AwsRole {
    /// A role and its provider, checked to be IAM ARNs in the same account.
    pub fn new(role_arn: &str, provider_arn: &str) -> Result<Self, AwsError> {
        let role = iam_arn(role_arn, "role").ok_or_else(|| AwsError::RoleArn(role_arn.into()))?;
        let provider = iam_arn(provider_arn, "saml-provider")
            .ok_or_else(|| AwsError::ProviderArn(provider_arn.into()))?;
        if role != provider {
            return Err(AwsError::AccountMismatch {
                role: role_arn.into(),
                provider: provider_arn.into(),
            });
        }
        Ok(Self {
            role_arn: role_arn.to_owned(),
            provider_arn: provider_arn.to_owned(),
        })
    }

    /// The `Role` attribute value: `role-arn,provider-arn`.
    pub fn attribute_value(&self) -> String {
        format!("{},{}", self.role_arn, self.provider_arn)
    }
}

fn sts_name_ok(s: &str) -> bool {
    (2..=64).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

fn tag_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// A sign-in to the AWS console (or `AssumeRoleWithSAML`) through IAM SAML
/// federation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct AwsSignIn {
    roles: Vec<AwsRole>,
    role_session_name: String,
    session_duration: Option<u32>,
    principal_tags: Vec<(String, String)>,
    transitive_tag_keys: Vec<String>,
    source_identity: Option<String>,
    acs_url: String,
    audience: String,
}

impl AwsSignIn {
    /// A sign-in as `role_session_name` (usually the user name or email) with the
    /// global endpoint and audience.
    pub fn new(role_session_name: &str) -> Self {
        Self {
            roles: Vec::new(),
            role_session_name: role_session_name.to_owned(),
            session_duration: None,
            principal_tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            acs_url: AWS_SIGNIN_ACS.to_owned(),
            audience: AWS_AUDIENCE.to_owned(),
        }
    }

    /// Adds a role the user may assume.
    pub fn role(mut self, role: AwsRole) -> Self {
        self.roles.push(role);
        self
    }

    /// The `SessionDuration` in seconds (900-43200).
    pub fn session_duration(mut self, seconds: u32) -> Self {
        self.session_duration = Some(seconds);
        self
    }

    /// Adds a session tag (`PrincipalTag:<key>`).
    pub fn principal_tag(mut self, key: &str, value: &str) -> Self {
        self.principal_tags.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Marks a session tag as transitive (kept through role chaining).
    pub fn transitive_tag_key(mut self, key: &str) -> Self {
        self.transitive_tag_keys.push(key.to_owned());
        self
    }

    /// The `SourceIdentity`.
    pub fn source_identity(mut self, value: &str) -> Self {
        self.source_identity = Some(value.to_owned());
        self
    }

    /// Uses a regional sign-in endpoint, e.g. `eu-central-1`: ACS and audience become
    /// `https://eu-central-1.signin.aws.amazon.com/saml`.
    pub fn region(mut self, region: &str) -> Self {
        let url = format!("https://{region}.signin.aws.amazon.com/saml");
        self.acs_url.clone_from(&url);
        self.audience = url;
        self
    }

    /// Checks every rule; `Ok` means STS will not refuse the attributes.
    pub fn validate(&self) -> Result<(), AwsError> {
        if self.roles.is_empty() {
            return Err(AwsError::NoRole);
        }
        for (i, r) in self.roles.iter().enumerate() {
            if self.roles[..i].contains(r) {
                return Err(AwsError::DuplicateRole(r.role_arn.clone()));
            }
        }
        if !sts_name_ok(&self.role_session_name) {
            return Err(AwsError::RoleSessionName(self.role_session_name.clone()));
        }
        if let Some(d) = self.session_duration
            && !(900..=43_200).contains(&d)
        {
            return Err(AwsError::SessionDuration(d));
        }
        if self.principal_tags.len() > 50 {
            return Err(AwsError::TooManyTags(self.principal_tags.len()));
        }
        for (i, (k, v)) in self.principal_tags.iter().enumerate() {
            if k.is_empty() || k.chars().count() > 128 || !tag_chars_ok(k) {
                return Err(AwsError::TagKey(k.clone()));
            }
            if v.chars().count() > 256 || !tag_chars_ok(v) {
                return Err(AwsError::TagValue(k.clone()));
            }
            if self.principal_tags[..i]
                .iter()
                .any(|(o, _)| o.to_lowercase() == k.to_lowercase())
            {
                return Err(AwsError::DuplicateTagKey(k.clone()));
            }
        }
        for t in &self.transitive_tag_keys {
            if !self
                .principal_tags
                .iter()
                .any(|(k, _)| k.to_lowercase() == t.to_lowercase())
            {
                return Err(AwsError::TransitiveTagKey(t.clone()));
            }
        }
        if let Some(s) = &self.source_identity
            && (!sts_name_ok(s) || s.to_ascii_lowercase().starts_with("aws:"))
        {
            return Err(AwsError::SourceIdentity(s.clone()));
        }
        let acs_ok = self.acs_url == AWS_SIGNIN_ACS
            || self
                .acs_url
                .strip_prefix("https://")
                .and_then(|r| r.strip_suffix(".signin.aws.amazon.com/saml"))
                .is_some_and(|region| {
                    !region.is_empty()
                        && region
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
        if !acs_ok {
            return Err(AwsError::AcsUrl(self.acs_url.clone()));
        }
        Ok(())
    }

    /// Validates, then sets the destination, recipient and audience and adds the AWS
    /// attributes to `builder`. The NameID is set to `role_session_name` in
    /// persistent format unless one was set already.
    ///
    /// A `Role` attribute the caller already added to `builder` is merged into the
    /// preset's (each value `role-arn,provider-arn` or `provider-arn,role-arn`, checked
    /// like [`AwsRole::new`]); any other attribute the preset sets is single-valued, and
    /// finding it already on the builder is [`AwsError::PresetAttribute`]. The response
    /// never carries two attributes with one name.
    ///
    /// AWS wants the assertion signed (its metadata says `WantAssertionsSigned`), so
    /// the response refuses to be signed on the Response alone.
    pub fn apply(&self, builder: ResponseBuilder) -> Result<ResponseBuilder, AwsError> {
        let mut b = builder;
        let role_name = format!("{ATTR}Role");
        let mut merged = self.clone();
        if let Some(extra) = b.take_attribute(&role_name) {
            for value in &extra.values {
                merged.roles.push(role_from_value(value)?);
            }
        }
        merged.validate()?;
        let mut attributes = vec![
            (
                role_name,
                merged.roles.iter().map(AwsRole::attribute_value).collect(),
            ),
            (
                format!("{ATTR}RoleSessionName"),
                vec![merged.role_session_name.clone()],
            ),
        ];
        if let Some(d) = merged.session_duration {
            attributes.push((format!("{ATTR}SessionDuration"), vec![d.to_string()]));
        }
        for (k, v) in &merged.principal_tags {
            attributes.push((format!("{ATTR}PrincipalTag:{k}"), vec![v.clone()]));
        }
        if !merged.transitive_tag_keys.is_empty() {
            attributes.push((
                format!("{ATTR}TransitiveTagKeys"),
                merged.transitive_tag_keys.clone(),
            ));
        }
        if let Some(s) = &merged.source_identity {
            attributes.push((format!("{ATTR}SourceIdentity"), vec![s.clone()]));
        }
        if let Some((name, _)) = attributes.iter().find(|(n, _)| b.has_attribute(n)) {
            return Err(AwsError::PresetAttribute(name.clone()));
        }
        // AWS's published SP metadata says WantAssertionsSigned="true".
        b = b
            .want_assertions_signed(true)
            .destination(&merged.acs_url)
            .recipient(&merged.acs_url)
            .audience(&merged.audience);
        if !b.has_name_id() {
            b = b.name_id(NameId::new(
                &merged.role_session_name,
                NameIdFormat::Persistent,
            ));
        }
        for (name, values) in attributes {
            b = b.attribute(SamlAttribute::uri(&name, values));
        }
        Ok(b)
    }
}

/// A `Role` attribute value given by the caller: the two ARNs in either order.
fn role_from_value(value: &str) -> Result<AwsRole, AwsError> {
    let (a, b) = value
        .split_once(',')
        .ok_or_else(|| AwsError::RoleArn(value.to_owned()))?;
    let (a, b) = (a.trim(), b.trim());
    if iam_arn(a, "saml-provider").is_some() {
        AwsRole::new(b, a)
    } else {
        AwsRole::new(a, b)
    }
}

/// A sign-in to IAM Identity Center, whose SAML endpoint is per instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct IdentityCenterSignIn {
    acs_url: String,
    audience: String,
    user_name: String,
}

impl IdentityCenterSignIn {
    /// `acs_url` and `audience` are the "IAM Identity Center Assertion Consumer
    /// Service (ACS) URL" and "IAM Identity Center issuer URL" shown when choosing an
    /// external identity provider; `user_name` is the Identity Center user name,
    /// sent as an emailAddress-format NameID.
    pub fn new(acs_url: &str, audience: &str, user_name: &str) -> Self {
        Self {
            acs_url: acs_url.to_owned(),
            audience: audience.to_owned(),
            user_name: user_name.to_owned(),
        }
    }

    /// Checks the ACS URL shape
    /// (`https://<region>.signin.aws.amazon.com/platform/saml/acs/<id>`), the
    /// audience and the user name.
    pub fn validate(&self) -> Result<(), AwsError> {
        let ok = self
            .acs_url
            .strip_prefix("https://")
            .and_then(|r| r.split_once(".signin.aws.amazon.com/platform/saml/acs/"))
            .is_some_and(|(region, id)| {
                !region.is_empty()
                    && region
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !id.is_empty()
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok {
            return Err(AwsError::AcsUrl(self.acs_url.clone()));
        }
        if !self.audience.starts_with("https://") {
            return Err(AwsError::AcsUrl(self.audience.clone()));
        }
        if self.user_name.trim().is_empty() {
            return Err(AwsError::UserName);
        }
        Ok(())
    }

    /// Validates, then sets destination, recipient, audience and the NameID.
    pub fn apply(&self, builder: ResponseBuilder) -> Result<ResponseBuilder, AwsError> {
        self.validate()?;
        Ok(builder
            .destination(&self.acs_url)
            .recipient(&self.acs_url)
            .audience(&self.audience)
            .name_id(NameId::new(&self.user_name, NameIdFormat::EmailAddress)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";
    const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/idforge";

    fn sign_in() -> AwsSignIn {
        AwsSignIn::new("alice@example.org").role(AwsRole::new(ROLE, PROVIDER).unwrap())
    }

    #[test]
    fn arns() {
        assert!(AwsRole::new("arn:aws:iam::123456789012:role/path/to/R", PROVIDER).is_ok());
        assert!(
            AwsRole::new(
                "arn:aws-us-gov:iam::123456789012:role/R",
                "arn:aws-us-gov:iam::123456789012:saml-provider/P"
            )
            .is_ok()
        );
        assert_eq!(
            AwsRole::new("arn:aws:iam::12345678901:role/R", PROVIDER),
            Err(AwsError::RoleArn("arn:aws:iam::12345678901:role/R".into()))
        );
        assert!(matches!(
            AwsRole::new(ROLE, "arn:aws:iam::123456789012:role/P"),
            Err(AwsError::ProviderArn(_))
        ));
        assert!(matches!(
            AwsRole::new(ROLE, "arn:aws:iam::210987654321:saml-provider/P"),
            Err(AwsError::AccountMismatch { .. })
        ));
        assert!(matches!(
            AwsRole::new("arn:aws:s3:::bucket", PROVIDER),
            Err(AwsError::RoleArn(_))
        ));
        assert!(matches!(
            AwsRole::new("arn:aws:iam::123456789012:role/", PROVIDER),
            Err(AwsError::RoleArn(_))
        ));
    }

    #[test]
    fn rules() {
        assert_eq!(sign_in().validate(), Ok(()));
        assert_eq!(AwsSignIn::new("alice").validate(), Err(AwsError::NoRole));
        assert!(matches!(
            sign_in()
                .role(AwsRole::new(ROLE, PROVIDER).unwrap())
                .validate(),
            Err(AwsError::DuplicateRole(_))
        ));
        for bad in ["a", "with space", "ünï", &"x".repeat(65)] {
            let s = AwsSignIn::new(bad).role(AwsRole::new(ROLE, PROVIDER).unwrap());
            assert!(
                matches!(s.validate(), Err(AwsError::RoleSessionName(_))),
                "{bad}"
            );
        }
        assert_eq!(
            sign_in().session_duration(899).validate(),
            Err(AwsError::SessionDuration(899))
        );
        assert_eq!(sign_in().session_duration(43_200).validate(), Ok(()));
        assert_eq!(
            sign_in().session_duration(43_201).validate(),
            Err(AwsError::SessionDuration(43_201))
        );
        let mut many = sign_in();
        for i in 0..51 {
            many = many.principal_tag(&format!("k{i}"), "v");
        }
        assert_eq!(many.validate(), Err(AwsError::TooManyTags(51)));
        assert!(matches!(
            sign_in().principal_tag(&"k".repeat(129), "v").validate(),
            Err(AwsError::TagKey(_))
        ));
        assert!(matches!(
            sign_in().principal_tag("k", &"v".repeat(257)).validate(),
            Err(AwsError::TagValue(_))
        ));
        assert!(matches!(
            sign_in().principal_tag("k", "a<b").validate(),
            Err(AwsError::TagValue(_))
        ));
        assert!(matches!(
            sign_in()
                .principal_tag("Dept", "a")
                .principal_tag("dept", "b")
                .validate(),
            Err(AwsError::DuplicateTagKey(_))
        ));
        assert!(matches!(
            sign_in()
                .principal_tag("Dept", "a")
                .transitive_tag_key("Team")
                .validate(),
            Err(AwsError::TransitiveTagKey(_))
        ));
        assert_eq!(
            sign_in()
                .principal_tag("Dept", "a")
                .transitive_tag_key("dept")
                .validate(),
            Ok(())
        );
        assert!(matches!(
            sign_in().source_identity("aws:me").validate(),
            Err(AwsError::SourceIdentity(_))
        ));
        assert_eq!(sign_in().source_identity("alice").validate(), Ok(()));
        assert_eq!(sign_in().region("eu-central-1").validate(), Ok(()));
        assert!(matches!(
            sign_in().region("evil.com/x").validate(),
            Err(AwsError::AcsUrl(_))
        ));
    }

    fn attribute_values(xml: &str, name: &str) -> Vec<Vec<String>> {
        let doc = crate::xml::parse(xml.as_bytes()).unwrap();
        doc.descendant_elements(doc.root())
            .into_iter()
            .filter(|&n| {
                doc.element(n).is_some_and(|e| {
                    e.is(crate::ns::SAML, "Attribute") && e.attribute("Name") == Some(name)
                })
            })
            .map(|n| {
                doc.children_named(n, crate::ns::SAML, "AttributeValue")
                    .map(|v| doc.text(v).unwrap())
                    .collect()
            })
            .collect()
    }

    fn builder() -> ResponseBuilder {
        ResponseBuilder::new(
            "https://idp.example.org",
            crate::SamlId::new("_r").unwrap(),
            crate::SamlId::new("_a").unwrap(),
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
    }

    #[test]
    fn caller_attributes_never_duplicate_preset_ones() {
        // A single-valued attribute the preset sets: refused, not sent twice.
        let session = format!("{ATTR}RoleSessionName");
        let b = builder().attribute(SamlAttribute::uri(&session, ["bob"]));
        assert_eq!(
            sign_in().apply(b).err(),
            Some(AwsError::PresetAttribute(session.clone()))
        );
        let duration = format!("{ATTR}SessionDuration");
        let b = builder().attribute(SamlAttribute::uri(&duration, ["3600"]));
        assert_eq!(
            sign_in().session_duration(900).apply(b).err(),
            Some(AwsError::PresetAttribute(duration))
        );
        // Role is multi-valued: merged into one attribute, checked like the preset's.
        let role = format!("{ATTR}Role");
        let other = "arn:aws:iam::123456789012:role/ReadOnly";
        let b = builder().attribute(SamlAttribute::uri(&role, [format!("{PROVIDER},{other}")]));
        let xml = sign_in().apply(b).unwrap().build().unwrap().to_xml();
        assert_eq!(
            attribute_values(&xml, &role),
            [vec![
                format!("{ROLE},{PROVIDER}"),
                format!("{other},{PROVIDER}")
            ]]
        );
        assert_eq!(attribute_values(&xml, &session).len(), 1);
        let b = builder().attribute(SamlAttribute::uri(&role, [format!("{ROLE},{PROVIDER}")]));
        assert_eq!(
            sign_in().apply(b).err(),
            Some(AwsError::DuplicateRole(ROLE.into()))
        );
        let b = builder().attribute(SamlAttribute::uri(&role, ["garbage"]));
        assert!(matches!(
            sign_in().apply(b).err(),
            Some(AwsError::RoleArn(_))
        ));
        // Added after the preset: the builder refuses the duplicate name.
        let b = sign_in()
            .apply(builder())
            .unwrap()
            .attribute(SamlAttribute::uri(&session, ["bob"]));
        assert_eq!(
            b.build(),
            Err(crate::Error::DuplicateAttribute { name: session })
        );
    }

    #[test]
    fn the_preset_error_wraps_the_base_error() {
        // Code using the preset needs one error type: `?` on a base error works.
        fn build(b: ResponseBuilder) -> Result<crate::Response, AwsError> {
            Ok(sign_in().apply(b)?.build()?)
        }
        let b = builder().attribute(SamlAttribute::uri("x", ["1"]));
        let b = b.attribute(SamlAttribute::uri("x", ["2"]));
        let err = build(b).unwrap_err();
        assert_eq!(
            err,
            AwsError::Saml(crate::Error::DuplicateAttribute { name: "x".into() })
        );
        assert!(err.to_string().starts_with("duplicate attribute name"));
        // The base error has no variant for the preset (it would make the crate's
        // error depend on a vendor preset).
        let base = include_str!("error.rs");
        assert!(!base.contains("aws::") && !base.contains("AwsError"));
    }

    #[test]
    fn aws_responses_sign_the_assertion() {
        let r = sign_in().apply(builder()).unwrap().build().unwrap();
        assert!(r.wants_assertion_signed());
    }

    #[test]
    fn identity_center() {
        let ok = IdentityCenterSignIn::new(
            "https://eu-west-1.signin.aws.amazon.com/platform/saml/acs/3f6a1b2c-1234",
            "https://eu-west-1.signin.aws.amazon.com/platform/saml/d-1234567890",
            "alice@example.org",
        );
        assert_eq!(ok.validate(), Ok(()));
        let bad = IdentityCenterSignIn::new("https://signin.aws.amazon.com/saml", "https://x", "a");
        assert!(matches!(bad.validate(), Err(AwsError::AcsUrl(_))));
        let bad = IdentityCenterSignIn::new(
            "https://eu-west-1.signin.aws.amazon.com/platform/saml/acs/abc",
            "https://x",
            " ",
        );
        assert_eq!(bad.validate(), Err(AwsError::UserName));
    }
}
