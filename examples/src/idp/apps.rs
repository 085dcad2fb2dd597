//! The applications the web IdP signs users in to, and the SAML responses it sends them.

use chrono::{DateTime, TimeDelta, Utc};
use idforge_saml::SignOptions;
use idforge_saml::{AuthnContextClass, NameId, NameIdFormat, SamlAttribute, SignTarget};
use idforge_saml::{AwsRole, AwsSignIn, IdentityCenterSignIn};
use idforge_saml::{Endpoint, MetadataOptions, SpMetadata};
use idforge_saml::{ResponseBuilder, SamlId};

use super::IdpError;
use super::keys::SigningKeys;
use crate::config::{AppSettings, AppType, Config};
use crate::store::{Store, User};

/// AWS's sign-in endpoint and the RelayState that opens the console.
pub const AWS_CONSOLE: &str = "https://console.aws.amazon.com/";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// A SAML application: its settings and the service provider it is.
#[derive(Debug, Clone)]
pub struct WebApp {
    /// As configured (or added with `idforge app add`).
    pub settings: AppSettings,
    /// The name users see.
    pub name: String,
    /// The service provider: from its metadata, from `entity_id` and `acs_url`, or AWS's.
    pub sp: SpMetadata,
}

impl WebApp {
    /// The id.
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// The RelayState sent with an IdP-initiated response when none is asked for.
    pub fn default_relay_state(&self) -> Option<&str> {
        match self.settings.relay_states.first() {
            Some(r) => Some(r),
            None if self.settings.kind == AppType::Aws => Some(AWS_CONSOLE),
            None => None,
        }
    }

    /// Whether `relay` may be sent: one of the configured values (or AWS's console).
    pub fn relay_state_allowed(&self, relay: &str) -> bool {
        self.settings.relay_states.iter().any(|r| r == relay)
            || (self.settings.relay_states.is_empty()
                && self.settings.kind == AppType::Aws
                && relay == AWS_CONSOLE)
    }
}

/// The SAML applications of the configuration and of the store, with their SP metadata read
/// and checked (expired metadata is refused, as `idforge app add` refuses it).
pub async fn load(config: &Config, store: &Store) -> Result<Vec<WebApp>, IdpError> {
    let mut settings: Vec<AppSettings> = config.apps.clone();
    for stored in store.apps().await? {
        if settings.iter().any(|a| a.id == stored.id) {
            continue;
        }
        let app: AppSettings =
            serde_json::from_value(stored.settings).map_err(|e| IdpError::App {
                app: stored.id.clone(),
                message: format!("stored settings: {e}"),
            })?;
        settings.push(app);
    }
    let mut apps = Vec::new();
    for app in settings {
        let sp = match app.kind {
            AppType::Radius => continue,
            AppType::Aws => aws_sp(),
            AppType::AwsIdentityCenter | AppType::Saml => match &app.metadata_file {
                Some(path) => {
                    let text = std::fs::read(path).map_err(|e| IdpError::App {
                        app: app.id.clone(),
                        message: format!("cannot read {}: {e}", path.display()),
                    })?;
                    SpMetadata::parse_with(&text, &MetadataOptions::at(Utc::now())).map_err(
                        |e| IdpError::App {
                            app: app.id.clone(),
                            message: format!("{}: {e}", path.display()),
                        },
                    )?
                }
                None => inline_sp(&app)?,
            },
        };
        let name = app.name.clone().unwrap_or_else(|| app.id.clone());
        apps.push(WebApp {
            settings: app,
            name,
            sp,
        });
    }
    for (i, a) in apps.iter().enumerate() {
        if let Some(other) = apps[..i]
            .iter()
            .find(|o| o.sp.entity_id == a.sp.entity_id && a.settings.kind != AppType::Aws)
        {
            return Err(IdpError::App {
                app: a.id().to_owned(),
                message: format!(
                    "entity ID {} is also app `{}`'s: SP-initiated requests would be ambiguous",
                    a.sp.entity_id,
                    other.id()
                ),
            });
        }
    }
    Ok(apps)
}

fn endpoint(location: &str) -> Endpoint {
    Endpoint {
        binding: POST_BINDING.into(),
        location: location.into(),
        index: Some(0),
        is_default: true,
        response_location: None,
    }
}

fn aws_sp() -> SpMetadata {
    SpMetadata {
        entity_id: "urn:amazon:webservices".into(),
        assertion_consumer_services: vec![endpoint("https://signin.aws.amazon.com/saml")],
        single_logout_services: Vec::new(),
        certificates: Vec::new(),
        name_id_formats: Vec::new(),
        want_assertions_signed: true,
        authn_requests_signed: false,
        valid_until: None,
    }
}

fn inline_sp(app: &AppSettings) -> Result<SpMetadata, IdpError> {
    let (Some(entity_id), Some(acs)) = (&app.entity_id, &app.acs_url) else {
        return Err(IdpError::App {
            app: app.id.clone(),
            message: "needs metadata_file, or entity_id and acs_url".into(),
        });
    };
    Ok(SpMetadata {
        entity_id: entity_id.clone(),
        assertion_consumer_services: vec![endpoint(acs)],
        single_logout_services: Vec::new(),
        certificates: Vec::new(),
        name_id_formats: Vec::new(),
        want_assertions_signed: true,
        authn_requests_signed: false,
        valid_until: None,
    })
}

/// What a response answers and how the user signed in.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    /// The AuthnRequest's ID, for SP-initiated logins.
    pub in_response_to: Option<&'a str>,
    /// The ACS chosen from the request (already checked against the metadata).
    pub acs_url: Option<&'a str>,
    /// Now.
    pub now: DateTime<Utc>,
    /// When the user entered their credentials.
    pub authn_instant: DateTime<Utc>,
    /// The session's SAML SessionIndex.
    pub session_index: &'a str,
    /// The session ends then.
    pub session_not_on_or_after: DateTime<Utc>,
    /// A second factor was passed.
    pub mfa: bool,
}

/// A signed response ready to post: the ACS URL and the base64 `SAMLResponse`.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Where the browser posts it.
    pub acs_url: String,
    /// The `SAMLResponse` value.
    pub saml_response: String,
    /// The NameID sent (for single logout).
    pub name_id: String,
}

fn user_field(user: &User, field: &str) -> Option<String> {
    match field {
        "name" => Some(user.name.clone()),
        "email" => user.email.clone(),
        "display_name" => user.display_name.clone(),
        "phone" => user.phone.clone(),
        _ => None,
    }
}

/// Builds and signs the response for `app`: AWS roles for the user's groups, Identity
/// Center's e-mail NameID, or a generic SP's NameID and attributes.
pub fn respond(
    app: &WebApp,
    entity_id: &str,
    keys: &SigningKeys,
    user: &User,
    groups: &[String],
    answer: &Answer<'_>,
) -> Result<Signed, IdpError> {
    let mut rng = rand::rng();
    let app_err = |message: String| IdpError::App {
        app: app.id().to_owned(),
        message,
    };
    let mut b = ResponseBuilder::new(
        entity_id,
        SamlId::random(&mut rng),
        SamlId::random(&mut rng),
        answer.now,
    )
    .validity(TimeDelta::minutes(5))
    .authn_instant(answer.authn_instant)
    .session_index(answer.session_index)
    .session_not_on_or_after(answer.session_not_on_or_after)
    .authn_context(AuthnContextClass::for_login(answer.mfa));
    if let Some(id) = answer.in_response_to {
        b = b.in_response_to(id);
    }
    let name_id;
    match app.settings.kind {
        AppType::Aws => {
            let session_name = user.email.clone().unwrap_or_else(|| user.name.clone());
            let mut aws = AwsSignIn::new(&session_name);
            for role in &app.settings.roles {
                if groups
                    .iter()
                    .any(|g| crate::store::name_key(g) == crate::store::name_key(&role.group))
                {
                    aws = aws.role(
                        AwsRole::new(&role.role_arn, &role.provider_arn)
                            .map_err(|e| app_err(e.to_string()))?,
                    );
                }
            }
            if let Some(d) = app.settings.session_duration_secs {
                aws = aws.session_duration(d);
            }
            for (tag, field) in &app.settings.principal_tags {
                if let Some(v) = user_field(user, field) {
                    aws = aws.principal_tag(tag, &v);
                }
            }
            b = aws.apply(b).map_err(|e| app_err(e.to_string()))?;
            name_id = session_name;
        }
        AppType::AwsIdentityCenter => {
            let acs = app
                .sp
                .resolve_acs(answer.acs_url, None)
                .map_err(|e| app_err(e.to_string()))?;
            let email = user.email.clone().ok_or_else(|| {
                app_err(format!(
                    "user {} has no e-mail address, which IAM Identity Center needs as the NameID",
                    user.name
                ))
            })?;
            b = IdentityCenterSignIn::new(&acs.location, &app.sp.entity_id, &email)
                .apply(b)
                .map_err(|e| app_err(e.to_string()))?
                .service_provider(&app.sp);
            name_id = email;
        }
        AppType::Saml => {
            let acs = app
                .sp
                .resolve_acs(answer.acs_url, None)
                .map_err(|e| app_err(e.to_string()))?;
            let format = if app.sp.name_id_formats.contains(&NameIdFormat::EmailAddress)
                && user.email.is_some()
            {
                NameIdFormat::EmailAddress
            } else {
                NameIdFormat::Unspecified
            };
            name_id = match format {
                NameIdFormat::EmailAddress => user.email.clone().unwrap_or_default(),
                _ => user.name.clone(),
            };
            b = b
                .destination(&acs.location)
                .audience(&app.sp.entity_id)
                .service_provider(&app.sp)
                .name_id(NameId::new(&name_id, format))
                .attribute(SamlAttribute::basic("username", [user.name.as_str()]));
            if let Some(m) = &user.email {
                b = b.attribute(SamlAttribute::basic("email", [m.as_str()]));
            }
            if let Some(d) = &user.display_name {
                b = b.attribute(SamlAttribute::basic("displayName", [d.as_str()]));
            }
            if !groups.is_empty() {
                b = b.attribute(SamlAttribute::basic(
                    "groups",
                    groups.iter().map(String::as_str),
                ));
            }
        }
        AppType::Radius => return Err(app_err("a radius app has no SAML sign-in".into())),
    }
    let mut response = b.build().map_err(|e| app_err(e.to_string()))?;
    let acs_url = response_destination(&response)
        .ok_or_else(|| app_err("the response has no destination".into()))?;
    response
        .sign(
            SignTarget::Assertion,
            &keys.signer,
            Some(&keys.certificate),
            &SignOptions::default(),
        )
        .map_err(|e| app_err(format!("signing: {e}")))?;
    Ok(Signed {
        acs_url,
        saml_response: response.to_base64(),
        name_id,
    })
}

fn response_destination(response: &idforge_saml::Response) -> Option<String> {
    let doc = response.document();
    doc.element(doc.root())?
        .attribute("Destination")
        .map(str::to_owned)
}
