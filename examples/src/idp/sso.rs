//! SAML endpoints: single sign-on (SP-initiated over the Redirect and POST bindings,
//! IdP-initiated from the dashboard), single logout, metadata.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, TimeDelta, Utc};
use idforge_saml::VerifyOptions;
use idforge_saml::{AuthnRequest, RequestCheck};
use idforge_saml::{BindingLimits, MessageKind, RedirectMessage, decode_post};
use idforge_saml::{LogoutRequest, LogoutResponse};
use idforge_saml::{SamlId, Status, VerifiedSignature};
use minijinja::context;
use serde::Deserialize;

use super::handlers::{
    Answer, load_session, message, page, refusal_text, save, session_or_new, with_cookies,
};
use super::metrics::Event;
use super::session::{self, Continuation, Session, SignedIn};
use super::{Client, Idp, IdpError, apps, csp};
use crate::service::{Accepted, AuthRequest, FirstFactorInput, FrontDoor, Outcome};
use crate::store::{WebSession, now_secs};

/// How far an AuthnRequest's IssueInstant may be from now.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(3);
/// How long a request handed over from the POST binding waits for the browser.
const HANDOFF_SECS: i64 = 120;

fn utc(now: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(now, 0).unwrap_or_default()
}

/// The application whose SP has this entity ID.
fn app_by_issuer<'i>(idp: &'i Idp, issuer: Option<&str>) -> Option<&'i apps::WebApp> {
    let issuer = issuer?;
    idp.inner.apps.iter().find(|a| a.sp.entity_id == issuer)
}

/// A refused SAML message: logged with the reason, the user sees a generic page.
fn saml_error(idp: &Idp, what: &str, reason: &str) -> Answer {
    idp.inner.metrics.count(Event::SamlError);
    tracing::warn!(what, reason, "SAML message refused");
    let text = idp.inner.pages.text("saml_error");
    message(
        idp,
        StatusCode::BAD_REQUEST,
        "error_title",
        &text,
        None,
        None,
    )
}

pub(super) async fn metadata(State(idp): State<Idp>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        idp.inner.metadata_xml.clone(),
    )
        .into_response()
}

/// `GET /saml/sso?SAMLRequest=…`: the HTTP-Redirect binding.
pub(super) async fn sso_redirect(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Answer {
    let now = now_secs();
    let Some(query) = query else {
        return saml_error(&idp, "AuthnRequest", "no query string");
    };
    let msg = match RedirectMessage::decode(&query, &BindingLimits::default()) {
        Ok(m) if m.kind == MessageKind::Request => m,
        Ok(_) => return saml_error(&idp, "AuthnRequest", "a response sent to the SSO endpoint"),
        Err(e) => return saml_error(&idp, "AuthnRequest", &e.to_string()),
    };
    let request = match AuthnRequest::parse(&msg.xml) {
        Ok(r) => r,
        Err(e) => return saml_error(&idp, "AuthnRequest", &e.to_string()),
    };
    let Some(app) = app_by_issuer(&idp, request.issuer.as_deref()) else {
        return saml_error(
            &idp,
            "AuthnRequest",
            "the issuer is no configured application",
        );
    };
    // A signature, when there is one, must verify; whether one was needed is the
    // metadata's AuthnRequestsSigned, checked by `validate` with the proof.
    let proof = if msg.signature.is_some() {
        let proof = app
            .sp
            .signing_certificates()
            .filter_map(|c| c.verifying_key().ok())
            .find_map(|k| msg.verify(&k, false).ok());
        if proof.is_none() {
            return saml_error(&idp, "AuthnRequest", "the signature does not verify");
        }
        proof
    } else {
        None
    };
    let cont = match check(&idp, app, &request, proof.as_ref(), msg.relay_state, now) {
        Ok(c) => c,
        Err(reason) => return saml_error(&idp, "AuthnRequest", &reason),
    };
    proceed(&idp, &client, &jar, cont, now).await
}

fn check(
    idp: &Idp,
    app: &apps::WebApp,
    request: &AuthnRequest,
    signature: Option<&VerifiedSignature>,
    relay_state: Option<String>,
    now: i64,
) -> Result<Continuation, String> {
    let sso = format!("{}/saml/sso", idp.inner.base);
    let check = RequestCheck {
        sso_urls: &[sso.as_str()],
        now: utc(now),
        max_skew: MAX_SKEW,
        signature,
    };
    let acs = request
        .validate(&app.sp, &check)
        .map_err(|e| e.to_string())?;
    if relay_state.as_ref().is_some_and(|r| r.len() > 1024) {
        return Err("RelayState longer than 1024 bytes".into());
    }
    Ok(Continuation {
        app: app.id().to_owned(),
        request_id: Some(request.id.clone()),
        acs_url: Some(acs.location.clone()),
        relay_state,
        force_authn: request.force_authn,
    })
}

/// The HTTP-POST binding's fields.
#[derive(Deserialize)]
pub(super) struct PostBinding {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `POST /saml/sso`: the HTTP-POST binding. The browser's SameSite=Lax cookie does not come
/// with a cross-site POST, so the checked request is handed over through a short-lived
/// record to `GET /saml/continue`, which does get the cookie.
pub(super) async fn sso_post(
    State(idp): State<Idp>,
    axum::Form(form): axum::Form<PostBinding>,
) -> Answer {
    let now = now_secs();
    let xml = match decode_post(&form.saml_request, &BindingLimits::default()) {
        Ok(x) => x,
        Err(e) => return saml_error(&idp, "AuthnRequest", &e.to_string()),
    };
    let request = match AuthnRequest::parse(&xml) {
        Ok(r) => r,
        Err(e) => return saml_error(&idp, "AuthnRequest", &e.to_string()),
    };
    let Some(app) = app_by_issuer(&idp, request.issuer.as_deref()) else {
        return saml_error(
            &idp,
            "AuthnRequest",
            "the issuer is no configured application",
        );
    };
    let proof = app
        .sp
        .signing_certificates()
        .filter_map(|c| c.verifying_key().ok())
        .find_map(|k| {
            AuthnRequest::parse_signed(&xml, &k, VerifyOptions::default())
                .ok()
                .map(|(_, proof)| proof)
        });
    let cont = match check(&idp, app, &request, proof.as_ref(), form.relay_state, now) {
        Ok(c) => c,
        Err(reason) => return saml_error(&idp, "AuthnRequest", &reason),
    };
    let handle = session::random_token()?;
    let row = WebSession {
        id_hash: format!("handoff:{}", session::token_hash(&handle)),
        user_id: None,
        created_at: now,
        last_seen: now,
        expires_at: now + HANDOFF_SECS,
        data: serde_json::to_string(&cont).map_err(|e| IdpError::State(format!("handoff: {e}")))?,
    };
    idp.inner.service.store().save_web_session(&row).await?;
    Ok(Redirect::to(&format!("/saml/continue?h={handle}")).into_response())
}

/// The handoff's query.
#[derive(Deserialize)]
pub(super) struct Handoff {
    #[serde(default)]
    h: String,
}

pub(super) async fn sso_continue(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<Handoff>,
) -> Answer {
    let now = now_secs();
    let key = format!("handoff:{}", session::token_hash(&q.h));
    let store = idp.inner.service.store();
    let Some(row) = store.web_session(&key, now).await? else {
        return saml_error(&idp, "AuthnRequest", "unknown or expired handoff");
    };
    if !store.delete_web_session(&key).await? {
        return saml_error(&idp, "AuthnRequest", "handoff already used");
    }
    let cont: Continuation =
        serde_json::from_str(&row.data).map_err(|e| IdpError::State(format!("handoff: {e}")))?;
    proceed(&idp, &client, &jar, cont, now).await
}

/// With a checked request: answer at once for a signed-in browser, else ask it to sign in.
async fn proceed(
    idp: &Idp,
    client: &Client,
    jar: &CookieJar,
    cont: Continuation,
    now: i64,
) -> Answer {
    let mut s = session_or_new(idp, jar, now).await?;
    if s.data.signed_in.is_some() && !cont.force_authn {
        return authorize(idp, s, client, cont, now).await;
    }
    s.data.signed_in = None;
    s.data.pending = None;
    s.data.continuation = Some(cont);
    save(idp, &mut s, now).await?;
    let resp = Redirect::to("/login").into_response();
    with_cookies(idp, Some(&s), client, resp)
}

/// The dashboard's launch form.
#[derive(Deserialize)]
pub(super) struct LaunchForm {
    #[serde(default)]
    csrf: String,
    relay_state: Option<String>,
}

/// `POST /apps/{id}/launch`: IdP-initiated sign-in.
pub(super) async fn launch(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<LaunchForm>,
) -> Answer {
    let now = now_secs();
    let Some(s) = load_session(&idp, &jar, now).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if s.data.signed_in.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    if !s.csrf_ok(&form.csrf) {
        idp.inner.metrics.count(Event::CsrfFailure);
        let text = idp.inner.pages.text("csrf");
        return message(
            &idp,
            StatusCode::FORBIDDEN,
            "error_title",
            &text,
            None,
            Some(&s),
        );
    }
    let Some(app) = idp.app(&id) else {
        let text = idp.inner.pages.text("not_found");
        return message(
            &idp,
            StatusCode::NOT_FOUND,
            "error_title",
            &text,
            None,
            Some(&s),
        );
    };
    let relay_state = match form.relay_state.filter(|r| !r.is_empty()) {
        Some(r) if app.relay_state_allowed(&r) => Some(r),
        Some(_) => return saml_error(&idp, "RelayState", "not one of the app's relay_states"),
        None => app.default_relay_state().map(str::to_owned),
    };
    let cont = Continuation {
        app: app.id().to_owned(),
        request_id: None,
        acs_url: None,
        relay_state,
        force_authn: false,
    };
    authorize(&idp, s, &client, cont, now).await
}

/// A signed-in browser asks for an application: the decision path decides (groups, policy,
/// adaptive rules, step-up), then the response is sent.
async fn authorize(
    idp: &Idp,
    mut s: Session,
    client: &Client,
    cont: Continuation,
    now: i64,
) -> Answer {
    let Some(signed) = s.data.signed_in.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let req = AuthRequest {
        username: &signed.username,
        application: &cont.app,
        source_ip: client.ip,
        source_is_client: true,
        device: client.device.as_deref(),
        front_door: FrontDoor::Web,
        now: u64::try_from(now).unwrap_or(0),
        first_factor: FirstFactorInput::Session {
            second_factor: signed.second_factor.as_deref(),
        },
        code: None,
    };
    match idp.inner.service.authenticate(&req).await? {
        Outcome::Accept(accepted) => respond(idp, s, client, &cont, &accepted, now).await,
        Outcome::NeedSecondFactor(pending) => {
            // A remembered browser steps up without a code, as at the login.
            if let Some(cookie) = &client.remembered
                && let Some(Outcome::Accept(accepted)) = idp
                    .inner
                    .service
                    .complete_with_remembered_browser(
                        pending.clone(),
                        cookie,
                        u64::try_from(now).unwrap_or(0),
                    )
                    .await?
            {
                return respond(idp, s, client, &cont, &accepted, now).await;
            }
            s.data.pending = Some(pending);
            s.data.code_attempts = 0;
            s.data.sent = None;
            s.data.continuation = Some(cont);
            save(idp, &mut s, now).await?;
            Ok(Redirect::to("/login/mfa").into_response())
        }
        Outcome::Reject {
            message: m,
            audit_id,
        } => {
            idp.inner.metrics.count(Event::SsoRefused);
            let text = refusal_text(idp, &m);
            message(
                idp,
                StatusCode::FORBIDDEN,
                "denied_title",
                &text,
                Some(audit_id),
                Some(&s),
            )
        }
    }
}

/// After a login completed: a fresh session token, then the waiting application's response
/// or the dashboard.
pub(super) async fn finish_login(
    idp: &Idp,
    mut s: Session,
    client: &Client,
    accepted: Accepted,
    second_factor: Option<String>,
    now: i64,
) -> Answer {
    s.rotate()?;
    s.data.signed_in = Some(SignedIn {
        user_id: accepted.user.id,
        username: accepted.user.name.clone(),
        second_factor: second_factor
            .or_else(|| super::handlers::second_factor_of(&accepted.factors)),
        authn_instant: now,
        session_index: SamlId::random(&mut rand::rng()).as_str().to_owned(),
        apps: Vec::new(),
    });
    s.data.pending = None;
    s.data.enrolling = None;
    s.data.code_attempts = 0;
    s.data.sent = None;
    s.row.created_at = now;
    tracing::info!(user = %accepted.user.name, "signed in");
    match s.data.continuation.take() {
        // The login was decided for this application already.
        Some(cont) if cont.app != super::PORTAL_APP => {
            respond(idp, s, client, &cont, &accepted, now).await
        }
        _ => {
            save(idp, &mut s, now).await?;
            let resp = Redirect::to("/").into_response();
            with_cookies(idp, Some(&s), client, resp)
        }
    }
}

/// Signs the response for the continuation's application and renders the auto-posting form.
async fn respond(
    idp: &Idp,
    mut s: Session,
    client: &Client,
    cont: &Continuation,
    accepted: &Accepted,
    now: i64,
) -> Answer {
    let Some(app) = idp.app(&cont.app) else {
        return saml_error(idp, "SSO", "the application is no longer configured");
    };
    let Some(signed) = s.data.signed_in.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let ttl = i64::try_from(idp.inner.service.config().idp.session_ttl_secs).unwrap_or(i64::MAX);
    let answer = apps::Answer {
        in_response_to: cont.request_id.as_deref(),
        acs_url: cont.acs_url.as_deref(),
        now: utc(now),
        authn_instant: utc(signed.authn_instant),
        session_index: &signed.session_index,
        session_not_on_or_after: utc(signed.authn_instant.saturating_add(ttl)),
        mfa: signed.second_factor.is_some(),
    };
    let built = match apps::respond(
        app,
        &idp.inner.entity_id,
        &idp.inner.keys,
        &accepted.user,
        &accepted.groups,
        &answer,
    ) {
        Ok(b) => b,
        Err(e) => {
            // The account or the app's settings do not fit (an Identity Center user without
            // an e-mail address, a role ARN AWS would refuse): the details go to the log.
            idp.inner.metrics.count(Event::SsoRefused);
            tracing::error!(error = %e, user = %accepted.user.name, "cannot build the SAML response");
            let text = idp.inner.pages.text("app_refused");
            return message(
                idp,
                StatusCode::FORBIDDEN,
                "denied_title",
                &text,
                Some(accepted.audit_id),
                Some(&s),
            );
        }
    };
    // The session changes when this app is new to it or a request was waiting; a repeated
    // sign-in to the same app writes nothing (the idle clock is touched once a minute).
    let mut changed = s.data.continuation.take().is_some() || s.set_cookie;
    if let Some(u) = s.data.signed_in.as_mut()
        && !u.apps.contains(&cont.app)
    {
        u.apps.push(cont.app.clone());
        changed = true;
    }
    if changed || now - s.row.last_seen >= 60 {
        save(idp, &mut s, now).await?;
    }
    idp.inner.metrics.count(Event::SsoResponse);
    tracing::info!(user = %accepted.user.name, application = %cont.app, "SAML response sent");
    let origin = origin_of(&built.acs_url);
    let mut resp = page(
        idp,
        StatusCode::OK,
        "post.html",
        "post_help",
        Some(&s),
        context! {
            action => built.acs_url,
            parameter => "SAMLResponse",
            value => built.saml_response,
            relay_state => cont.relay_state.clone(),
        },
    )?;
    resp.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, csp(Some(&origin)));
    with_cookies(idp, Some(&s), client, resp)
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// `GET /saml/slo`: a LogoutRequest from a service provider (HTTP-Redirect binding) ends the
/// session and is answered with a signed LogoutResponse; a LogoutResponse ends the exchange.
pub(super) async fn slo_redirect(
    State(idp): State<Idp>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Answer {
    let now = now_secs();
    let Some(query) = query else {
        return saml_error(&idp, "LogoutRequest", "no query string");
    };
    let msg = match RedirectMessage::decode(&query, &BindingLimits::default()) {
        Ok(m) => m,
        Err(e) => return saml_error(&idp, "LogoutRequest", &e.to_string()),
    };
    let session = load_session(&idp, &jar, now).await?;
    if msg.kind == MessageKind::Response {
        if let Err(e) = LogoutResponse::parse(&msg.xml) {
            return saml_error(&idp, "LogoutResponse", &e.to_string());
        }
        return signed_out(&idp, session).await;
    }
    let request = match LogoutRequest::parse(&msg.xml) {
        Ok(r) => r,
        Err(e) => return saml_error(&idp, "LogoutRequest", &e.to_string()),
    };
    let Some(app) = app_by_issuer(&idp, request.issuer.as_deref()) else {
        return saml_error(
            &idp,
            "LogoutRequest",
            "the issuer is no configured application",
        );
    };
    let keys: Vec<_> = app
        .sp
        .signing_certificates()
        .filter_map(|c| c.verifying_key().ok())
        .collect();
    if !keys.is_empty() {
        let ok = msg
            .signature
            .as_ref()
            .is_some_and(|_| keys.iter().any(|k| msg.verify(k, false).is_ok()));
        if !ok {
            return saml_error(
                &idp,
                "LogoutRequest",
                "unsigned or the signature does not verify",
            );
        }
    }
    let Some(endpoint) = app
        .sp
        .single_logout_services
        .iter()
        .find(|e| e.binding == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
    else {
        return signed_out(&idp, session).await;
    };
    if let Some(s) = &session {
        idp.inner
            .service
            .store()
            .delete_web_session(&s.row.id_hash)
            .await?;
        idp.inner.metrics.count(Event::Logout);
    }
    let destination = endpoint
        .response_location
        .clone()
        .unwrap_or_else(|| endpoint.location.clone());
    let doc = LogoutResponse::build(
        &idp.inner.entity_id,
        &SamlId::random(&mut rand::rng()),
        utc(now),
        &destination,
        &request.id,
        &Status::success(),
    )
    .map_err(|e| IdpError::Saml(format!("LogoutResponse: {e}")))?;
    let query = idforge_saml::encode_redirect(
        MessageKind::Response,
        doc.to_xml().as_bytes(),
        msg.relay_state.as_deref(),
        Some(&idp.inner.keys.signer),
    )
    .map_err(|e| IdpError::Saml(format!("LogoutResponse: {e}")))?;
    let sep = if destination.contains('?') { '&' } else { '?' };
    let resp = Redirect::to(&format!("{destination}{sep}{query}")).into_response();
    Ok(super::handlers::clear_cookie(&idp, resp))
}

async fn signed_out(idp: &Idp, session: Option<Session>) -> Answer {
    if let Some(s) = &session {
        idp.inner
            .service
            .store()
            .delete_web_session(&s.row.id_hash)
            .await?;
        idp.inner.metrics.count(Event::Logout);
    }
    let text = idp.inner.pages.text("signed_out");
    let resp = message(idp, StatusCode::OK, "signed_out_title", &text, None, None)?;
    Ok(super::handlers::clear_cookie(idp, resp))
}
