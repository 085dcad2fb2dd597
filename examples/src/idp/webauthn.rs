//! Security keys and passkeys in the browser.
//!
//! - `GET /webauthn/register`, `POST /webauthn/register/options`, `POST /webauthn/register`:
//!   a signed-in user adds a credential (after passing a second factor in this session,
//!   unless it is their first factor);
//! - `POST /webauthn/remove`: removes one;
//! - `POST /login/webauthn/options`, `POST /login/webauthn`: the second factor of a pending
//!   login;
//! - `POST /login/passkey/options`, `POST /login/passkey`: a passwordless sign-in
//!   (`idp.passwordless`).
//!
//! The options endpoints answer JSON for `navigator.credentials` and keep the ceremony in
//! the session; the browser's answer comes back as an ordinary form post (field
//! `credential`, JSON), so the result is a page like any other login step. Every post
//! carries the session's CSRF token.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum_extra::extract::CookieJar;
use minijinja::context;
use serde::Deserialize;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::handlers::{
    Answer, MAX_CODE_ATTEMPTS, load_session, login_form, page, posted, save, see_other,
    with_trust_cookie,
};
use super::metrics::Event;
use super::session::Session;
use super::{Client, Idp, IdpError, PORTAL_APP};
use crate::service::{
    EnrolRequest, FrontDoor, Outcome, Purpose, RegistrationError, WEBAUTHN_METHOD,
};
use crate::store::now_secs;

/// The largest browser answer accepted, in bytes of JSON.
const MAX_CREDENTIAL_JSON: usize = 64 * 1024;

/// A post with only the CSRF token (the options endpoints).
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// A post with the browser's answer.
#[derive(Deserialize)]
pub(super) struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    remember: Option<String>,
}

/// A removal.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// Keeps a ceremony's state in the session and answers its options as JSON.
async fn keep_ceremony<T: serde::Serialize>(
    idp: &Idp,
    s: &mut Session,
    ceremony: crate::service::Ceremony,
    options: &T,
    now: i64,
) -> Answer {
    s.data.webauthn = Some(ceremony);
    save(idp, s, now).await?;
    Ok(json(
        &serde_json::to_value(options).map_err(|e| IdpError::State(e.to_string()))?,
    ))
}

fn json(value: &serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

fn refused(status: StatusCode) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], "").into_response()
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    if text.len() > MAX_CREDENTIAL_JSON {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Whether the signed-in user may add a credential now: after a second factor in this
/// session, or when they hold none yet.
async fn may_register(idp: &Idp, s: &Session) -> Result<bool, IdpError> {
    let Some(signed) = &s.data.signed_in else {
        return Ok(false);
    };
    Ok(signed.second_factor.is_some()
        || !idp.inner.service.has_second_factor(signed.user_id).await?)
}

fn register_form(
    idp: &Idp,
    status: StatusCode,
    s: &Session,
    error: Option<&str>,
    name: Option<&str>,
) -> Answer {
    page(
        idp,
        status,
        "webauthn_register.html",
        "webauthn_title",
        Some(s),
        context! { error => error, name => name, webauthn_script => true },
    )
}

pub(super) async fn register_page(State(idp): State<Idp>, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    if s.data.signed_in.is_none() || !idp.inner.service.webauthn_available() {
        return Ok(see_other("/login"));
    }
    if !may_register(&idp, &s).await? {
        return super::handlers::dashboard_with_notice(&idp, &s, "webauthn_needs_factor").await;
    }
    register_form(&idp, StatusCode::OK, &s, None, None)
}

pub(super) async fn register_options(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Answer {
    let now = now_secs();
    let Ok(mut s) = posted(&idp, &client, &jar, &form.csrf, now).await? else {
        return Ok(refused(StatusCode::FORBIDDEN));
    };
    let Some(signed) = s.data.signed_in.clone() else {
        return Ok(refused(StatusCode::UNAUTHORIZED));
    };
    if !may_register(&idp, &s).await? {
        return Ok(refused(StatusCode::FORBIDDEN));
    }
    let user = idp
        .inner
        .service
        .store()
        .require_user(&signed.username)
        .await?;
    let display = user.display_name.unwrap_or_else(|| user.name.clone());
    let Some((options, ceremony)) = idp
        .inner
        .service
        .start_webauthn_registration(signed.user_id, &user.name, &display, now)
        .await?
    else {
        return Ok(refused(StatusCode::NOT_FOUND));
    };
    s.data.webauthn = Some(ceremony);
    save(&idp, &mut s, now).await?;
    Ok(json(&options))
}

pub(super) async fn register(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<AnswerForm>,
) -> Answer {
    let now = now_secs();
    let mut s = match posted(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let Some(signed) = s.data.signed_in.clone() else {
        return Ok(see_other("/login"));
    };
    if !may_register(&idp, &s).await? {
        return super::handlers::dashboard_with_notice(&idp, &s, "webauthn_needs_factor").await;
    }
    let ceremony = s.data.webauthn.take();
    save(&idp, &mut s, now).await?;
    let (Some(ceremony), Some(answer)) = (
        ceremony,
        parse::<RegisterPublicKeyCredential>(&form.credential),
    ) else {
        let text = idp.inner.pages.text("webauthn_refused");
        return register_form(
            &idp,
            StatusCode::BAD_REQUEST,
            &s,
            Some(&text),
            Some(&form.name),
        );
    };
    let req = EnrolRequest {
        user_id: signed.user_id,
        username: &signed.username,
        application: PORTAL_APP,
        source_ip: client.ip,
        front_door: FrontDoor::Web,
        now: u64::try_from(now).unwrap_or(0),
    };
    match idp
        .inner
        .service
        .finish_webauthn_registration(&req, &ceremony, &form.name, &answer)
        .await?
    {
        Ok(_) => {
            idp.inner.metrics.count(Event::Enrolment);
            super::handlers::dashboard_with_notice(&idp, &s, "webauthn_added").await
        }
        Err(e) => {
            let key = match e {
                RegistrationError::Name => "webauthn_bad_name",
                RegistrationError::Duplicate => "webauthn_duplicate",
                _ => "webauthn_refused",
            };
            let text = idp.inner.pages.text(key);
            register_form(
                &idp,
                StatusCode::BAD_REQUEST,
                &s,
                Some(&text),
                Some(&form.name),
            )
        }
    }
}

pub(super) async fn remove(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<RemoveForm>,
) -> Answer {
    let now = now_secs();
    let s = match posted(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let Some(signed) = s.data.signed_in.clone() else {
        return Ok(see_other("/login"));
    };
    let req = EnrolRequest {
        user_id: signed.user_id,
        username: &signed.username,
        application: PORTAL_APP,
        source_ip: client.ip,
        front_door: FrontDoor::Web,
        now: u64::try_from(now).unwrap_or(0),
    };
    idp.inner
        .service
        .remove_webauthn_credential(&req, &form.id)
        .await?;
    super::handlers::dashboard_with_notice(&idp, &s, "webauthn_removed").await
}

pub(super) async fn second_factor_options(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Answer {
    let now = now_secs();
    let Ok(mut s) = posted(&idp, &client, &jar, &form.csrf, now).await? else {
        return Ok(refused(StatusCode::FORBIDDEN));
    };
    let Some(pending) = s.data.pending.clone() else {
        return Ok(refused(StatusCode::UNAUTHORIZED));
    };
    let Some((options, ceremony)) = idp
        .inner
        .service
        .start_webauthn_second_factor(&pending, now)
        .await?
    else {
        return Ok(refused(StatusCode::NOT_FOUND));
    };
    keep_ceremony(&idp, &mut s, ceremony, &options, now).await
}

pub(super) async fn second_factor(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<AnswerForm>,
) -> Answer {
    let now = now_secs();
    let (mut s, pending) =
        match super::handlers::posted_pending(&idp, &client, &jar, &form.csrf, now).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
    let now_u = u64::try_from(now).unwrap_or(0);
    let ceremony = s
        .data
        .webauthn
        .take()
        .filter(|c| c.purpose == Purpose::SecondFactor);
    let answer = parse::<PublicKeyCredential>(&form.credential);
    let (Some(ceremony), Some(answer)) = (ceremony, answer) else {
        // Nothing to check: the page goes back to the choices without counting an attempt.
        save(&idp, &mut s, now).await?;
        return Ok(see_other("/login/mfa"));
    };
    let outcome = idp
        .inner
        .service
        .complete_with_webauthn(pending.clone(), &ceremony, &answer, now_u)
        .await?;
    match outcome {
        Outcome::Accept(accepted) => {
            let remembered = if form.remember.is_some() {
                idp.inner.service.remember_browser(&pending, now_u).await?
            } else {
                None
            };
            let response = super::sso::finish_login(
                &idp,
                s,
                &client,
                accepted,
                Some(WEBAUTHN_METHOD.to_owned()),
                now,
            )
            .await?;
            Ok(with_trust_cookie(&idp, remembered.as_ref(), response))
        }
        Outcome::Reject { .. } => {
            idp.inner.metrics.count(Event::CodeRejected);
            s.data.code_attempts = s.data.code_attempts.saturating_add(1);
            if s.data.code_attempts >= MAX_CODE_ATTEMPTS {
                s.data.pending = None;
                s.data.code_attempts = 0;
                s.data.sent = None;
                save(&idp, &mut s, now).await?;
                let text = idp.inner.pages.text("too_many_attempts");
                return login_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text), None);
            }
            save(&idp, &mut s, now).await?;
            let text = idp.inner.pages.text("webauthn_wrong");
            super::handlers::mfa_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text)).await
        }
        Outcome::NeedSecondFactor(_) => Err(IdpError::Decision(
            "a second factor asked for after one".into(),
        )),
    }
}

pub(super) async fn passkey_options(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Answer {
    let now = now_secs();
    let Ok(mut s) = posted(&idp, &client, &jar, &form.csrf, now).await? else {
        return Ok(refused(StatusCode::FORBIDDEN));
    };
    let Some((options, ceremony)) = idp.inner.service.start_passwordless(now)? else {
        return Ok(refused(StatusCode::NOT_FOUND));
    };
    keep_ceremony(&idp, &mut s, ceremony, &options, now).await
}

pub(super) async fn passkey(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<AnswerForm>,
) -> Answer {
    let now = now_secs();
    let mut s = match posted(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let allowed = idp
        .inner
        .limiter
        .lock()
        .map_or(true, |mut l| l.allow(client.ip, now));
    if !allowed {
        idp.inner.metrics.count(Event::RateLimited);
        let text = idp.inner.pages.text("rate_limited");
        return login_form(&idp, StatusCode::TOO_MANY_REQUESTS, &s, Some(&text), None);
    }
    let ceremony = s
        .data
        .webauthn
        .take()
        .filter(|c| c.purpose == Purpose::Passwordless);
    save(&idp, &mut s, now).await?;
    let (Some(ceremony), Some(answer)) = (ceremony, parse::<PublicKeyCredential>(&form.credential))
    else {
        let text = idp.inner.pages.text("passkey_wrong");
        return login_form(&idp, StatusCode::BAD_REQUEST, &s, Some(&text), None);
    };
    let application = s
        .data
        .continuation
        .as_ref()
        .map_or(PORTAL_APP, |c| c.app.as_str())
        .to_owned();
    match idp
        .inner
        .service
        .sign_in_with_passkey(
            &application,
            client.ip,
            client.device.as_deref(),
            FrontDoor::Web,
            &ceremony,
            &answer,
            u64::try_from(now).unwrap_or(0),
        )
        .await?
    {
        Outcome::Accept(accepted) => {
            idp.inner.metrics.count(Event::LoginAccepted);
            s.data.pending = None;
            super::sso::finish_login(
                &idp,
                s,
                &client,
                accepted,
                Some(WEBAUTHN_METHOD.to_owned()),
                now,
            )
            .await
        }
        Outcome::Reject { message, .. } => {
            idp.inner.metrics.count(Event::LoginRejected);
            let text = if message == crate::service::INVALID_CREDENTIALS {
                idp.inner.pages.text("passkey_wrong")
            } else {
                super::handlers::refusal_text(&idp, &message)
            };
            login_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text), None)
        }
        Outcome::NeedSecondFactor(_) => Err(IdpError::Decision(
            "a passkey sign-in asked for a second factor".into(),
        )),
    }
}
