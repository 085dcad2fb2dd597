//! Login, second factor, enrolment, dashboard and sign-out pages, and what every response
//! gets (security headers, session cookie).

use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use minijinja::{Value, context};
use serde::Deserialize;

use super::metrics::Event;
use super::session::{self, Enrolling, Session};
use super::{Client, Idp, IdpError, PORTAL_APP, csp};
use crate::service::{
    AuthRequest, Delivery, EnrolRequest, Enrolment, FirstFactorInput, FrontDoor,
    INVALID_CREDENTIALS, NO_ACCESS, Outcome, Sent,
};
use crate::store::now_secs;

pub(super) type Answer = Result<Response, IdpError>;

impl IntoResponse for IdpError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "request failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
             <body><h1>Something went wrong</h1><p>The error has been logged. Try again later.</p></body></html>",
        )
            .into_response()
    }
}

/// Security headers on every response, and the request latency.
pub(super) async fn common_headers(
    State(idp): State<Idp>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp(None));
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if idp.inner.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    idp.inner.metrics.request(started.elapsed());
    response
}

// ----- sessions -----

fn cookie_name(idp: &Idp) -> &'static str {
    if idp.inner.secure {
        session::SECURE_COOKIE
    } else {
        session::COOKIE
    }
}

/// The browser's session, if its cookie names a live one.
pub(super) async fn load_session(
    idp: &Idp,
    jar: &CookieJar,
    now: i64,
) -> Result<Option<Session>, IdpError> {
    let Some(token) = jar.get(cookie_name(idp)).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    if token.len() > 64 {
        return Ok(None);
    }
    let hash = session::token_hash(&token);
    let Some(row) = idp.inner.service.store().web_session(&hash, now).await? else {
        return Ok(None);
    };
    let Ok(data) = serde_json::from_str(&row.data) else {
        tracing::warn!("a stored session could not be read; it is replaced");
        return Ok(None);
    };
    let mut s = Session {
        token,
        row,
        data,
        set_cookie: false,
        replaces: None,
    };
    // An idle session ends; a signed-in one never outlives its maximum age.
    if let Some(signed) = &s.data.signed_in {
        let cfg = &idp.inner.service.config().idp;
        let idle = i64::try_from(cfg.idle_ttl_secs).unwrap_or(i64::MAX);
        let max = i64::try_from(cfg.session_ttl_secs).unwrap_or(i64::MAX);
        if now - s.row.last_seen > idle || now - signed.authn_instant > max {
            idp.inner
                .service
                .store()
                .delete_web_session(&s.row.id_hash)
                .await?;
            return Ok(None);
        }
    }
    s.set_cookie = false;
    Ok(Some(s))
}

/// The browser's session, or a new anonymous one (stored when saved).
pub(super) async fn session_or_new(
    idp: &Idp,
    jar: &CookieJar,
    now: i64,
) -> Result<Session, IdpError> {
    match load_session(idp, jar, now).await? {
        Some(s) => Ok(s),
        None => Ok(Session::new(now)?),
    }
}

/// Writes the session back with its expiry.
pub(super) async fn save(idp: &Idp, s: &mut Session, now: i64) -> Result<(), IdpError> {
    let cfg = &idp.inner.service.config().idp;
    s.row.last_seen = now;
    s.row.expires_at = match &s.data.signed_in {
        Some(signed) => {
            let idle = i64::try_from(cfg.idle_ttl_secs).unwrap_or(i64::MAX);
            let max = i64::try_from(cfg.session_ttl_secs).unwrap_or(i64::MAX);
            (now.saturating_add(idle)).min(signed.authn_instant.saturating_add(max))
        }
        None => now + session::ANONYMOUS_TTL_SECS,
    };
    s.row.user_id = s.data.signed_in.as_ref().map(|u| u.user_id);
    s.row.data = serde_json::to_string(&s.data).map_err(|e| IdpError::State(e.to_string()))?;
    let store = idp.inner.service.store();
    match s.replaces.take() {
        Some(old) => store.replace_web_session(&old, &s.row).await?,
        None => store.save_web_session(&s.row).await?,
    }
    Ok(())
}

/// Adds the session cookie (when new or rotated) and the device cookie (when missing).
pub(super) fn with_cookies(
    idp: &Idp,
    s: Option<&Session>,
    client: &Client,
    mut response: Response,
) -> Result<Response, IdpError> {
    let mut add = |c: Cookie<'static>| {
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    };
    if let Some(s) = s.filter(|s| s.set_cookie) {
        add(Cookie::build((cookie_name(idp), s.token.clone()))
            .path("/")
            .http_only(true)
            .secure(idp.inner.secure)
            .same_site(SameSite::Lax)
            .build());
    }
    if client.device.is_none() {
        add(
            Cookie::build((session::DEVICE_COOKIE, session::random_token()?))
                .path("/")
                .http_only(true)
                .secure(idp.inner.secure)
                .same_site(SameSite::Lax)
                .max_age(cookie::time::Duration::days(365))
                .build(),
        );
    }
    Ok(response)
}

/// Adds the cookie of a browser just remembered.
pub(super) fn with_trust_cookie(
    idp: &Idp,
    remembered: Option<&crate::service::Remembered>,
    mut response: Response,
) -> Response {
    let Some(r) = remembered else {
        return response;
    };
    let name = if idp.inner.secure {
        session::SECURE_TRUST_COOKIE
    } else {
        session::TRUST_COOKIE
    };
    let c = Cookie::build((name, r.cookie.clone()))
        .path("/")
        .http_only(true)
        .secure(idp.inner.secure)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(r.max_age_secs).unwrap_or(i64::MAX),
        ))
        .build();
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(super) fn clear_cookie(idp: &Idp, mut response: Response) -> Response {
    let c = Cookie::build((cookie_name(idp), ""))
        .path("/")
        .http_only(true)
        .secure(idp.inner.secure)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

// ----- rendering -----

/// Renders a page with the common context (title, user, CSRF token, messages).
pub(super) fn page(
    idp: &Idp,
    status: StatusCode,
    template: &str,
    title_key: &str,
    s: Option<&Session>,
    ctx: Value,
) -> Answer {
    let pages = &idp.inner.pages;
    let base = context! {
        title => pages.text(title_key),
        user => s.and_then(|s| s.data.signed_in.as_ref()).map(|u| u.username.clone()),
        csrf => s.map(|s| s.data.csrf.clone()),
        ..ctx
    };
    let html = pages.render(template, base)?;
    Ok((
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

/// A page with a title, a message, an optional audit reference and a link.
pub(super) fn message(
    idp: &Idp,
    status: StatusCode,
    title_key: &str,
    detail: &str,
    reference: Option<i64>,
    s: Option<&Session>,
) -> Answer {
    page(
        idp,
        status,
        "message.html",
        title_key,
        s,
        context! { detail => detail, reference => reference.map(|r| format!("audit #{r}")) },
    )
}

/// The user-facing text for a service refusal.
pub(super) fn refusal_text(idp: &Idp, message: &str) -> String {
    match message {
        INVALID_CREDENTIALS => idp.inner.pages.text("invalid_credentials"),
        NO_ACCESS => idp.inner.pages.text("no_access"),
        other => other.to_owned(),
    }
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ----- pages -----

pub(super) async fn healthz(State(idp): State<Idp>) -> Response {
    match idp
        .inner
        .service
        .store()
        .count_web_sessions(now_secs())
        .await
    {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

pub(super) async fn metrics(State(idp): State<Idp>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        idp.metrics_text().await,
    )
        .into_response()
}

pub(super) async fn static_file(State(idp): State<Idp>, Path(file): Path<String>) -> Response {
    match idp.inner.pages.static_file(&file) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

pub(super) async fn not_found(State(idp): State<Idp>) -> Answer {
    let text = idp.inner.pages.text("not_found");
    message(
        &idp,
        StatusCode::NOT_FOUND,
        "error_title",
        &text,
        None,
        None,
    )
}

pub(super) async fn login_page(State(idp): State<Idp>, client: Client, jar: CookieJar) -> Answer {
    let now = now_secs();
    let mut s = session_or_new(&idp, &jar, now).await?;
    if s.data.signed_in.is_some() && s.data.continuation.is_none() {
        return Ok(see_other("/"));
    }
    save(&idp, &mut s, now).await?;
    let resp = login_form(&idp, StatusCode::OK, &s, None, None)?;
    with_cookies(&idp, Some(&s), &client, resp)
}

pub(super) fn login_form(
    idp: &Idp,
    status: StatusCode,
    s: &Session,
    error: Option<&str>,
    username: Option<&str>,
) -> Answer {
    let app_name = s
        .data
        .continuation
        .as_ref()
        .and_then(|c| idp.app(&c.app))
        .map(|a| a.name.clone());
    page(
        idp,
        status,
        "login.html",
        "login_title",
        Some(s),
        context! {
            error => error,
            username => username,
            app_name => app_name,
            passkey => idp.inner.service.passwordless_available(),
            webauthn_script => idp.inner.service.passwordless_available(),
        },
    )
}

/// The login form with a notice (after an activation) and the user name filled in.
pub(super) fn login_form_with_notice(
    idp: &Idp,
    s: &Session,
    notice: &str,
    username: &str,
) -> Answer {
    page(
        idp,
        StatusCode::OK,
        "login.html",
        "login_title",
        Some(s),
        context! {
            notice => notice,
            username => username,
            passkey => idp.inner.service.passwordless_available(),
            webauthn_script => idp.inner.service.passwordless_available(),
        },
    )
}

/// The login form's fields.
#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The session of a form post whose CSRF token matches; else the refusal to send.
pub(super) async fn posted(
    idp: &Idp,
    client: &Client,
    jar: &CookieJar,
    csrf: &str,
    now: i64,
) -> Result<Result<Session, Response>, IdpError> {
    match load_session(idp, jar, now).await? {
        Some(s) if s.csrf_ok(csrf) => Ok(Ok(s)),
        _ => Ok(Err(csrf_failure(idp, client, jar, now).await?)),
    }
}

/// The session of a form post (CSRF checked) and its pending login; else the answer to send
/// (the refusal, or the way back to the login page).
pub(super) async fn posted_pending(
    idp: &Idp,
    client: &Client,
    jar: &CookieJar,
    csrf: &str,
    now: i64,
) -> Result<Result<(Session, crate::service::PendingLogin), Response>, IdpError> {
    let s = match posted(idp, client, jar, csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(Err(refused)),
    };
    match s.data.pending.clone() {
        Some(pending) => Ok(Ok((s, pending))),
        None => Ok(Err(see_other("/login"))),
    }
}

/// The session of a form post (CSRF checked) and its signed-in user; else the answer to send.
pub(super) async fn posted_signed_in(
    idp: &Idp,
    client: &Client,
    jar: &CookieJar,
    csrf: &str,
    now: i64,
) -> Result<Result<(Session, session::SignedIn), Response>, IdpError> {
    let s = match posted(idp, client, jar, csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(Err(refused)),
    };
    match s.data.signed_in.clone() {
        Some(signed) => Ok(Ok((s, signed))),
        None => Ok(Err(see_other("/login"))),
    }
}

/// Reloads the form with a fresh session when the CSRF token is missing or stale.
async fn csrf_failure(idp: &Idp, client: &Client, jar: &CookieJar, now: i64) -> Answer {
    idp.inner.metrics.count(Event::CsrfFailure);
    let mut s = session_or_new(idp, jar, now).await?;
    save(idp, &mut s, now).await?;
    let text = idp.inner.pages.text("csrf");
    let resp = login_form(idp, StatusCode::FORBIDDEN, &s, Some(&text), None)?;
    with_cookies(idp, Some(&s), client, resp)
}

pub(super) async fn login(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<LoginForm>,
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
        tracing::warn!(source = %client.ip, "login rate limit reached");
        let text = idp.inner.pages.text("rate_limited");
        return login_form(
            &idp,
            StatusCode::TOO_MANY_REQUESTS,
            &s,
            Some(&text),
            Some(&form.username),
        );
    }
    let application = s
        .data
        .continuation
        .as_ref()
        .map_or(PORTAL_APP, |c| c.app.as_str())
        .to_owned();
    let username = form.username.trim();
    let req = AuthRequest {
        username,
        application: &application,
        source_ip: client.ip,
        source_is_client: true,
        device: client.device.as_deref(),
        front_door: FrontDoor::Web,
        now: u64::try_from(now).unwrap_or(0),
        first_factor: FirstFactorInput::Password(&form.password),
        code: None,
    };
    match idp.inner.service.authenticate(&req).await? {
        Outcome::Accept(accepted) => {
            idp.inner.metrics.count(Event::LoginAccepted);
            super::sso::finish_login(&idp, s, &client, accepted, None, now).await
        }
        Outcome::NeedSecondFactor(pending) => {
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
                idp.inner.metrics.count(Event::LoginAccepted);
                let method = Some(crate::service::TRUSTED_FACTOR.to_owned());
                return super::sso::finish_login(&idp, s, &client, accepted, method, now).await;
            }
            idp.inner.metrics.count(Event::LoginSecondFactor);
            let needs_enrolment = idp.inner.service.config().idp.enroll_at_login
                && pending.methods.iter().any(|m| m == "totp")
                && idp
                    .inner
                    .service
                    .store()
                    .factors_of(pending.user_id)
                    .await?
                    .is_empty();
            s.data.signed_in = None;
            s.data.pending = Some(pending);
            s.data.code_attempts = 0;
            s.data.sent = None;
            s.data.enrolling = None;
            save(&idp, &mut s, now).await?;
            Ok(see_other(if needs_enrolment {
                "/enroll"
            } else {
                "/login/mfa"
            }))
        }
        Outcome::Reject { message, .. } => {
            idp.inner.metrics.count(Event::LoginRejected);
            let text = refusal_text(&idp, &message);
            login_form(
                &idp,
                StatusCode::UNAUTHORIZED,
                &s,
                Some(&text),
                Some(username),
            )
        }
    }
}

pub(super) async fn mfa_page(State(idp): State<Idp>, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    if s.data.pending.is_none() {
        return Ok(see_other("/login"));
    }
    mfa_form(&idp, StatusCode::OK, &s, None).await
}

fn method_label(m: &str) -> &str {
    match m {
        "totp" => "Authenticator app",
        "hotp_token" => "Hardware token",
        "backup_code" => "Backup code",
        "yubico_otp" => "YubiKey",
        "email_otp" => "Code by e-mail",
        "alternate_email_otp" => "Code to your other e-mail address",
        "sms_otp" => "Code by text message",
        "email_link" => "Sign-in link by e-mail",
        "security_questions" => "Security questions",
        other => other,
    }
}

/// The second-factor page: the code form for the methods the user holds or was sent, a
/// button for each code or link the server can send, and the security questions.
pub(super) async fn mfa_form(
    idp: &Idp,
    status: StatusCode,
    s: &Session,
    error: Option<&str>,
) -> Answer {
    let pages = &idp.inner.pages;
    let Some(pending) = &s.data.pending else {
        return Ok(see_other("/login"));
    };
    let choices = idp.inner.service.choices(pending).await?;
    let held: Vec<&str> = choices
        .iter()
        .filter(|c| c.to.is_none() && c.method != "security_questions" && c.method != "webauthn")
        .map(|c| method_label(&c.method))
        .collect();
    let senders: Vec<Value> = choices
        .iter()
        .filter_map(|c| {
            let to = c.to.as_deref()?;
            let again = s.data.sent.as_ref().is_some_and(|(m, _)| *m == c.method);
            let key = match c.method.as_str() {
                "email_otp" | "alternate_email_otp" | "sms_otp" if again => "send_again",
                "email_otp" | "alternate_email_otp" => "send_email_code",
                "sms_otp" => "send_sms_code",
                "email_link" => "send_email_link",
                _ => return None,
            };
            Some(context! {
                method => c.method,
                label => format!("{} {to}", pages.text(key)),
            })
        })
        .collect();
    let kba = choices.iter().any(|c| c.method == "security_questions");
    let webauthn = choices.iter().any(|c| c.method == "webauthn");
    let notice = s.data.sent.as_ref().map(|(method, to)| {
        let key = if method == "email_link" {
            "link_sent"
        } else {
            "code_sent"
        };
        format!("{} {to}.", pages.text(key))
    });
    let code_form =
        !held.is_empty() || s.data.sent.as_ref().is_some_and(|(m, _)| m != "email_link");
    // A numeric keypad on phones, unless a code with letters may be typed (backup codes).
    let numeric = !choices.iter().any(|c| c.method == "backup_code");
    let nothing = choices.is_empty();
    let remember_days = if pending.challenged {
        0
    } else {
        pending.remember_days
    };
    page(
        idp,
        status,
        "mfa.html",
        "mfa_title",
        Some(s),
        context! {
            error => error.map(str::to_owned).or_else(|| nothing.then(|| pages.text("mfa_nothing"))),
            notice => notice,
            methods => held,
            code_form => code_form,
            numeric => numeric,
            remember_days => remember_days,
            senders => senders,
            kba => kba,
            webauthn => webauthn,
            webauthn_script => webauthn,
        },
    )
}

/// A request to send a code or link.
#[derive(Deserialize)]
pub(super) struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    method: String,
}

pub(super) async fn send_code(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<SendForm>,
) -> Answer {
    let now = now_secs();
    let (mut s, pending) = match posted_pending(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let allowed = idp
        .inner
        .limiter
        .lock()
        .map_or(true, |mut l| l.allow(client.ip, now));
    if !allowed {
        idp.inner.metrics.count(Event::RateLimited);
        let text = idp.inner.pages.text("rate_limited");
        return mfa_form(&idp, StatusCode::TOO_MANY_REQUESTS, &s, Some(&text)).await;
    }
    let Some(delivery) = Delivery::from_method(&form.method) else {
        let text = idp.inner.pages.text("send_unavailable");
        return mfa_form(&idp, StatusCode::BAD_REQUEST, &s, Some(&text)).await;
    };
    let now_u = u64::try_from(now).unwrap_or(0);
    let (status, key) = match idp
        .inner
        .service
        .send_code(&pending, delivery, now_u)
        .await?
    {
        Sent::Sent { to, .. } => {
            idp.inner.metrics.count(Event::CodeSent);
            s.data.sent = Some((delivery.method().to_owned(), to));
            save(&idp, &mut s, now).await?;
            return Ok(see_other("/login/mfa"));
        }
        Sent::TooSoon { .. } => (StatusCode::TOO_MANY_REQUESTS, "send_too_soon"),
        Sent::TooMany => (StatusCode::TOO_MANY_REQUESTS, "send_too_many"),
        Sent::Suppressed => (StatusCode::TOO_MANY_REQUESTS, "send_suppressed"),
        _ => (StatusCode::BAD_REQUEST, "send_unavailable"),
    };
    let text = idp.inner.pages.text(key);
    mfa_form(&idp, status, &s, Some(&text)).await
}

/// The query of a sign-in link.
#[derive(Deserialize)]
pub(super) struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// A sign-in link opened: in the browser that asked for it, a page with a button that
/// finishes the login; anywhere else, a page that says to open it there. Nothing is used up
/// here, so a mail scanner that fetches links cannot spend it.
pub(super) async fn link_page(
    State(idp): State<Idp>,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<LinkQuery>,
) -> Answer {
    let now = now_secs();
    let s = load_session(&idp, &jar, now).await?;
    let ok = match s.as_ref().and_then(|s| s.data.pending.as_ref()) {
        Some(p) => {
            idp.inner
                .service
                .link_matches(p, &q.token, u64::try_from(now).unwrap_or(0))
                .await?
        }
        None => false,
    };
    if !ok {
        let text = idp.inner.pages.text("link_elsewhere");
        return message(
            &idp,
            StatusCode::FORBIDDEN,
            "link_title",
            &text,
            None,
            s.as_ref(),
        );
    }
    page(
        &idp,
        StatusCode::OK,
        "link.html",
        "link_title",
        s.as_ref(),
        context! { token => q.token },
    )
}

/// The form of the sign-in link page.
#[derive(Deserialize)]
pub(super) struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

pub(super) async fn link(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<LinkForm>,
) -> Answer {
    let now = now_secs();
    let (mut s, pending) = match posted_pending(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    match idp
        .inner
        .service
        .complete_with_link(pending, &form.token, u64::try_from(now).unwrap_or(0))
        .await?
    {
        Outcome::Accept(accepted) => {
            super::sso::finish_login(&idp, s, &client, accepted, Some("email_link".into()), now)
                .await
        }
        Outcome::Reject { .. } => {
            idp.inner.metrics.count(Event::CodeRejected);
            s.data.pending = None;
            s.data.sent = None;
            save(&idp, &mut s, now).await?;
            let text = idp.inner.pages.text("link_refused");
            login_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text), None)
        }
        Outcome::NeedSecondFactor(_) => Err(IdpError::Decision(
            "a second factor asked for after one".into(),
        )),
    }
}

/// A form with a code.
#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    /// "Remember this browser" was ticked.
    #[serde(default)]
    remember: Option<String>,
}

/// The most wrong codes one password entry allows before the login starts over (and goes
/// through the lockout gate again).
pub(super) const MAX_CODE_ATTEMPTS: u8 = 3;

pub(super) async fn mfa(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CodeForm>,
) -> Answer {
    let now = now_secs();
    let (mut s, pending) = match posted_pending(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let now_u = u64::try_from(now).unwrap_or(0);
    if now_u > pending.expires_at {
        s.data.pending = None;
        save(&idp, &mut s, now).await?;
        let text = idp.inner.pages.text("expired");
        return login_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text), None);
    }
    match idp
        .inner
        .service
        .complete(pending.clone(), &form.code, now_u)
        .await?
    {
        Outcome::Accept(accepted) => {
            let remembered = if form.remember.is_some() {
                idp.inner.service.remember_browser(&pending, now_u).await?
            } else {
                None
            };
            let method = second_factor_of(&accepted.factors);
            let response =
                super::sso::finish_login(&idp, s, &client, accepted, method, now).await?;
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
            let text = idp.inner.pages.text("invalid_code");
            mfa_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text)).await
        }
        Outcome::NeedSecondFactor(_) => Err(IdpError::Decision(
            "a second factor asked for after one".into(),
        )),
    }
}

/// The second-factor method an accepted login passed, from its factor list.
pub(super) fn second_factor_of(factors: &[String]) -> Option<String> {
    factors.iter().rev().find_map(|f| {
        let method = f.split(':').next()?;
        let ok = f.contains(":ok") || f.contains(":enrolled") || f.ends_with(":session");
        match method {
            "totp" if ok => Some("totp".to_owned()),
            "hotp" | "hotp_token" if ok => Some("hotp_token".to_owned()),
            "backup_code" if ok => Some("backup_code".to_owned()),
            "webauthn" if ok => Some("webauthn".to_owned()),
            "email_otp"
            | "sms_otp"
            | "alternate_email_otp"
            | "email_link"
            | "security_questions"
                if ok =>
            {
                Some(method.to_owned())
            }
            _ => None,
        }
    })
}

pub(super) async fn cancel(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CodeForm>,
) -> Answer {
    let now = now_secs();
    let Some(mut s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    if !s.csrf_ok(&form.csrf) {
        return csrf_failure(&idp, &client, &jar, now).await;
    }
    s.data.pending = None;
    s.data.enrolling = None;
    s.data.code_attempts = 0;
    s.data.sent = None;
    save(&idp, &mut s, now).await?;
    Ok(see_other("/login"))
}

/// Who is enrolling: the pending login's user (first login) or the signed-in user.
fn enrolling_user(s: &Session) -> Option<(i64, String)> {
    if let Some(p) = &s.data.pending {
        if p.methods.iter().any(|m| m == "totp") {
            return Some((p.user_id, p.username.clone()));
        }
        return None;
    }
    s.data
        .signed_in
        .as_ref()
        .map(|u| (u.user_id, u.username.clone()))
}

fn enrolment_secret(
    store: &crate::store::Store,
    e: &Enrolling,
    user_id: i64,
) -> Result<idforge_otp::Secret, IdpError> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(&e.sealed)
        .map_err(|_| IdpError::State("the enrolment secret is not base64".into()))?;
    let bytes = store.keyring().open(&sealed, &enrol_context(user_id))?;
    idforge_otp::Secret::from_bytes(&bytes).map_err(|e| IdpError::Enrolment(format!("secret: {e}")))
}

fn enrol_context(user_id: i64) -> Vec<u8> {
    format!("idforge-enrol:{user_id}").into_bytes()
}

pub(super) async fn enroll_page(State(idp): State<Idp>, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(mut s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    let Some((user_id, _)) = enrolling_user(&s) else {
        return Ok(see_other("/login"));
    };
    if s.data.pending.is_some() && !idp.inner.service.config().idp.enroll_at_login {
        return Ok(see_other("/login/mfa"));
    }
    if !idp
        .inner
        .service
        .store()
        .factors_of(user_id)
        .await?
        .is_empty()
    {
        if s.data.pending.is_some() {
            return Ok(see_other("/login/mfa"));
        }
        let text = idp.inner.pages.text("enroll_not_needed");
        return message(&idp, StatusCode::OK, "enroll_title", &text, None, Some(&s));
    }
    enroll_form(&idp, &mut s, now, StatusCode::OK, None).await
}

async fn enroll_form(
    idp: &Idp,
    s: &mut Session,
    now: i64,
    status: StatusCode,
    error: Option<&str>,
) -> Answer {
    let Some((user_id, username)) = enrolling_user(s) else {
        return Ok(see_other("/login"));
    };
    let store = idp.inner.service.store();
    let otp = &idp.inner.service.config().otp;
    let secret = if let Some(e) = &s.data.enrolling {
        enrolment_secret(store, e, user_id)?
    } else {
        let secret = idforge_otp::Secret::generate_default(&mut rand::rng());
        let sealed = store
            .keyring()
            .seal(secret.expose_bytes(), &enrol_context(user_id))?;
        s.data.enrolling = Some(Enrolling {
            sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
            attempts: 0,
        });
        secret
    };
    save(idp, s, now).await?;
    let digits = idforge_otp::Digits::new(u64::from(otp.digits))
        .map_err(|e| IdpError::Enrolment(format!("otp.digits: {e}")))?;
    let uri = idforge_otp::KeyUri::totp(secret.clone(), &username)
        .and_then(|u| u.with_period(otp.period))
        .map(|u| u.with_issuer(&otp.issuer).with_digits(digits))
        .map_err(|e| IdpError::Enrolment(format!("key URI: {e}")))?;
    let svg = uri
        .to_qr_svg(220)
        .map_err(|e| IdpError::Enrolment(format!("QR code: {e}")))?;
    let qr = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    );
    let b32 = secret.to_base32();
    let grouped = b32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    page(
        idp,
        status,
        "enroll.html",
        "enroll_title",
        Some(s),
        context! { error => error, qr => qr, secret_grouped => grouped },
    )
}

/// The most wrong confirmation codes before a new secret is made.
const MAX_ENROL_ATTEMPTS: u8 = 5;

pub(super) async fn enroll(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CodeForm>,
) -> Answer {
    let now = now_secs();
    let mut s = match posted(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let (Some((user_id, username)), Some(state)) = (enrolling_user(&s), s.data.enrolling.clone())
    else {
        return Ok(see_other("/login"));
    };
    let secret = enrolment_secret(idp.inner.service.store(), &state, user_id)?;
    let application = s
        .data
        .pending
        .as_ref()
        .map_or(PORTAL_APP.to_owned(), |p| p.application.clone());
    let now_u = u64::try_from(now).unwrap_or(0);
    let req = EnrolRequest {
        user_id,
        username: &username,
        application: &application,
        source_ip: client.ip,
        front_door: FrontDoor::Web,
        now: now_u,
    };
    match idp
        .inner
        .service
        .enroll_totp(&req, "Authenticator app", &secret, &form.code)
        .await?
    {
        Enrolment::Enrolled(enrolled) => {
            idp.inner.metrics.count(Event::Enrolment);
            s.data.enrolling = None;
            if let Some(pending) = s.data.pending.clone() {
                match idp
                    .inner
                    .service
                    .complete_with_enrolment(pending, &enrolled, now_u)
                    .await?
                {
                    Outcome::Accept(accepted) => {
                        super::sso::finish_login(
                            &idp,
                            s,
                            &client,
                            accepted,
                            Some("totp".into()),
                            now,
                        )
                        .await
                    }
                    Outcome::Reject { message, .. } => {
                        s.data.pending = None;
                        save(&idp, &mut s, now).await?;
                        let text = refusal_text(&idp, &message);
                        login_form(&idp, StatusCode::UNAUTHORIZED, &s, Some(&text), None)
                    }
                    Outcome::NeedSecondFactor(_) => Err(IdpError::Decision(
                        "a second factor asked for after one".into(),
                    )),
                }
            } else {
                if let Some(u) = s.data.signed_in.as_mut() {
                    u.second_factor = Some("totp".into());
                }
                save(&idp, &mut s, now).await?;
                let notice = idp.inner.pages.text("enroll_done");
                dashboard_page(&idp, &s, Some(notice)).await
            }
        }
        Enrolment::WrongCode { .. } => {
            if let Some(e) = s.data.enrolling.as_mut() {
                e.attempts = e.attempts.saturating_add(1);
                if e.attempts >= MAX_ENROL_ATTEMPTS {
                    s.data.enrolling = None;
                }
            }
            let text = idp.inner.pages.text("enroll_wrong");
            enroll_form(&idp, &mut s, now, StatusCode::UNAUTHORIZED, Some(&text)).await
        }
        Enrolment::AlreadyEnrolled { .. } => {
            s.data.enrolling = None;
            save(&idp, &mut s, now).await?;
            let text = idp.inner.pages.text("enroll_not_needed");
            message(
                &idp,
                StatusCode::CONFLICT,
                "enroll_title",
                &text,
                None,
                Some(&s),
            )
        }
    }
}

pub(super) async fn dashboard(State(idp): State<Idp>, client: Client, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(mut s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    if s.data.signed_in.is_none() {
        return Ok(see_other("/login"));
    }
    // Touch the session (idle timeout) at most once a minute.
    if now - s.row.last_seen >= 60 {
        save(&idp, &mut s, now).await?;
    }
    let resp = dashboard_page(&idp, &s, None).await?;
    with_cookies(&idp, Some(&s), &client, resp)
}

/// The dashboard with the text `key` as its notice.
pub(super) async fn dashboard_with_notice(idp: &Idp, s: &Session, key: &str) -> Answer {
    dashboard_page(idp, s, Some(idp.inner.pages.text(key))).await
}

async fn dashboard_page(idp: &Idp, s: &Session, notice: Option<String>) -> Answer {
    let Some(signed) = &s.data.signed_in else {
        return Ok(see_other("/login"));
    };
    let store = idp.inner.service.store();
    let groups = store.groups_of(signed.user_id).await?;
    let apps: Vec<Value> = idp
        .inner
        .apps
        .iter()
        .filter(|a| a.settings.admits(&groups))
        .map(|a| {
            context! {
                id => a.id(),
                name => a.name.clone(),
                kind => match a.settings.kind {
                    crate::config::AppType::Aws => "AWS (IAM federation)",
                    crate::config::AppType::AwsIdentityCenter => "AWS IAM Identity Center",
                    _ => "SAML application",
                },
            }
        })
        .collect();
    let user = store.require_user(&signed.username).await?;
    let factors: Vec<String> = store
        .factors_of(signed.user_id)
        .await?
        .iter()
        .map(|f| {
            let when = chrono::DateTime::from_timestamp(f.created_at, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            format!(
                "{} ({}), added {when}",
                f.label,
                f.kind.as_str().to_uppercase()
            )
        })
        .collect();
    let mut factors = factors;
    for k in store.yubikeys_of(signed.user_id).await? {
        factors.push(format!("YubiKey {} ({})", k.public_id, k.label));
    }
    let now = now_secs();
    let remembered: Vec<Value> = store
        .trusted_devices_of(signed.user_id)
        .await?
        .into_iter()
        .filter(|d| d.is_live(now))
        .map(|d| {
            let last = d
                .last_used_at
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
            let until = chrono::DateTime::from_timestamp(d.expires_at, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            context! { id => d.id, label => d.label, last_used => last, until => until }
        })
        .collect();
    let webauthn_keys: Vec<Value> = store
        .webauthn_credentials_of(signed.user_id)
        .await?
        .into_iter()
        .map(|k| {
            let day = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            };
            context! {
                id => k.id,
                name => k.name,
                added => day(k.created_at),
                last_used => k.last_used_at.map(day),
            }
        })
        .collect();
    let backup_left = store.unused_backup_codes(signed.user_id).await?.len();
    let kba = idp.inner.service.kba_settings().is_some();
    let kba_set = kba && !store.kba_answers(signed.user_id).await?.is_empty();
    page(
        idp,
        StatusCode::OK,
        "dashboard.html",
        "dashboard_title",
        Some(s),
        context! {
            notice => notice,
            apps => apps,
            factors => factors,
            backup_left => backup_left,
            remembered => remembered,
            backup_allowed => (!factors.is_empty() || !webauthn_keys.is_empty())
                && signed.second_factor.is_some(),
            webauthn => idp.inner.service.webauthn_available(),
            webauthn_keys => webauthn_keys,
            kba => kba,
            kba_set => kba_set,
            width => "wide",
            display_name => user.display_name.unwrap_or(user.name),
        },
    )
}

/// Ten new backup codes, shown once; only for a session that passed a second factor of a
/// user who has one (the codes stand in for it).
pub(super) async fn backup_codes(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Answer {
    let now = now_secs();
    let (s, signed) = match posted_signed_in(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let has_factor = !idp
        .inner
        .service
        .store()
        .factors_of(signed.user_id)
        .await?
        .is_empty();
    if !has_factor || signed.second_factor.is_none() {
        let text = idp.inner.pages.text("backup_needs_factor");
        return message(
            &idp,
            StatusCode::FORBIDDEN,
            "backup_title",
            &text,
            None,
            Some(&s),
        );
    }
    let req = EnrolRequest {
        user_id: signed.user_id,
        username: &signed.username,
        application: PORTAL_APP,
        source_ip: client.ip,
        front_door: FrontDoor::Web,
        now: u64::try_from(now).unwrap_or(0),
    };
    let codes = idp.inner.service.regenerate_backup_codes(&req).await?;
    page(
        &idp,
        StatusCode::OK,
        "backup_codes.html",
        "backup_title",
        Some(&s),
        context! { codes => codes },
    )
}

/// The form that forgets a remembered browser.
#[derive(Deserialize)]
pub(super) struct ForgetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// Forgets one of the signed-in user's remembered browsers: it asks for the second factor
/// again from the next sign-in.
pub(super) async fn forget_browser(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<ForgetForm>,
) -> Answer {
    let now = now_secs();
    let (s, signed) = match posted_signed_in(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let key = if idp
        .inner
        .service
        .store()
        .revoke_trusted_device(&form.id, Some(signed.user_id), now)
        .await?
    {
        tracing::info!(user = %signed.username, "remembered browser forgotten by its user");
        "browser_forgotten"
    } else {
        "browser_not_found"
    };
    dashboard_with_notice(&idp, &s, key).await
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Answer {
    let now = now_secs();
    let Some(s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    if !s.csrf_ok(&form.csrf) {
        return csrf_failure(&idp, &client, &jar, now).await;
    }
    idp.inner
        .service
        .store()
        .delete_web_session(&s.row.id_hash)
        .await?;
    idp.inner.metrics.count(Event::Logout);
    if let Some(u) = &s.data.signed_in {
        tracing::info!(user = %u.username, "signed out");
    }
    let text = idp.inner.pages.text("signed_out");
    let resp = message(&idp, StatusCode::OK, "signed_out_title", &text, None, None)?;
    Ok(clear_cookie(&idp, resp))
}
