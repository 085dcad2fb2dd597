//! A built-in service provider for demo mode: it asks for a login (SP-initiated, Redirect
//! binding), verifies the signed response with `idforge-saml` as an application would
//! (signature, issuer, audience, recipient, time window) and shows what it received. It is
//! mounted at `/demo-sp/` only when the configuration is the demo and has the app
//! [`DEMO_SP_APP`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeDelta;
use idforge_saml::VerifyOptions;
use idforge_saml::{BindingLimits, MessageKind, decode_post, encode_redirect};
use idforge_saml::{Expectations, verify_response};
use idforge_saml::{NameIdFormat, SamlId};
use minijinja::context;
use serde::Deserialize;

use super::handlers::{Answer, message, page};
use super::{Idp, IdpError};

/// The demo SP's application id.
pub const DEMO_SP_APP: &str = "demo-sp";

fn app(idp: &Idp) -> Option<&super::apps::WebApp> {
    idp.app(DEMO_SP_APP)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

pub(super) async fn home(State(idp): State<Idp>) -> Answer {
    page(
        &idp,
        StatusCode::OK,
        "demo_sp.html",
        "demo_sp_title",
        None,
        context! { width => "wide" },
    )
}

pub(super) async fn login(State(idp): State<Idp>) -> Answer {
    let Some(app) = app(&idp) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let acs = app
        .sp
        .assertion_consumer_services
        .first()
        .map(|e| e.location.clone())
        .unwrap_or_default();
    let id = SamlId::random(&mut rand::rng());
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{now}" Destination="{}" AssertionConsumerServiceURL="{}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy Format="{}" AllowCreate="true"/></samlp:AuthnRequest>"#,
        id.as_str(),
        xml_escape(&format!("{}/saml/sso", idp.inner.base)),
        xml_escape(&acs),
        xml_escape(&app.sp.entity_id),
        NameIdFormat::Unspecified.uri(),
    );
    let query = encode_redirect(MessageKind::Request, xml.as_bytes(), None, None)
        .map_err(|e| IdpError::Saml(format!("demo SP request: {e}")))?;
    Ok(Redirect::to(&format!("/saml/sso?{query}")).into_response())
}

/// The ACS form.
#[derive(Deserialize)]
pub(super) struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
}

pub(super) async fn acs(State(idp): State<Idp>, axum::Form(form): axum::Form<AcsForm>) -> Answer {
    let Some(app) = app(&idp) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let refused = |reason: String| -> Answer {
        tracing::warn!(%reason, "demo SP refused a response");
        message(
            &idp,
            StatusCode::FORBIDDEN,
            "demo_sp_title",
            &format!("Refused: {reason}"),
            None,
            None,
        )
    };
    let xml = match decode_post(&form.saml_response, &BindingLimits::default()) {
        Ok(x) => x,
        Err(e) => return refused(e.to_string()),
    };
    let key = idp
        .inner
        .keys
        .certificate
        .verifying_key()
        .map_err(|e| IdpError::Keys(e.to_string()))?;
    let verified = match verify_response(&xml, &key, VerifyOptions::default()) {
        Ok(v) => v,
        Err(e) => return refused(e.to_string()),
    };
    let Some(assertion) = verified.assertion else {
        return refused(format!("status {}", verified.status));
    };
    let acs = app
        .sp
        .assertion_consumer_services
        .first()
        .map(|e| e.location.clone())
        .unwrap_or_default();
    // A real SP checks InResponseTo against the requests it sent; this one keeps none.
    let in_response_to = assertion
        .subject_confirmations
        .iter()
        .find_map(|c| c.in_response_to.clone());
    let expect = Expectations {
        now: chrono::Utc::now(),
        skew: TimeDelta::seconds(60),
        issuer: &idp.inner.entity_id,
        audience: &app.sp.entity_id,
        recipient: &acs,
        in_response_to: in_response_to.as_deref(),
    };
    if let Err(e) = assertion.check(&expect) {
        return refused(e.to_string());
    }
    let attributes: Vec<minijinja::Value> = assertion
        .attributes
        .iter()
        .map(|a| context! { name => a.name.clone(), values => a.values.clone() })
        .collect();
    let resp: Response = page(
        &idp,
        StatusCode::OK,
        "demo_sp.html",
        "demo_sp_signed_in",
        None,
        context! {
            width => "wide",
            name_id => assertion.name_id.map(|n| n.value),
            flow => if in_response_to.is_some() { "SP-initiated" } else { "IdP-initiated" },
            context_class => assertion.authn_context_class,
            attributes => attributes,
        },
    )?;
    Ok(resp)
}
