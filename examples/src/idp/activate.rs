//! The activation link of a welcome mail: a page greeting the new user with a form to choose
//! a password (`GET /activate?token=…`), and its post. Opening the link uses nothing up (mail
//! scanners fetch links); only the form does. Afterwards the user signs in with the new
//! password, and the login policy leads on to enrolling a second factor.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use minijinja::context;
use serde::Deserialize;

use super::handlers::{
    Answer, login_form_with_notice, message, posted, save, session_or_new, with_cookies,
};
use super::session::Session;
use super::{Client, Idp};
use crate::service::Activation;
use crate::store::{User, now_secs};

/// The query of an activation link.
#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The activation form.
#[derive(Deserialize)]
pub(super) struct ActivateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn form(
    idp: &Idp,
    status: StatusCode,
    s: &Session,
    user: &User,
    token: &str,
    error: Option<&str>,
) -> Answer {
    super::handlers::page(
        idp,
        status,
        "activate.html",
        "activate_title",
        Some(s),
        context! {
            error => error,
            name => user.display_name.clone().unwrap_or_else(|| user.name.clone()),
            username => user.name,
            token => token,
            min => idp.inner.service.config().passwords.min_length,
        },
    )
}

fn invalid(idp: &Idp, s: &Session) -> Answer {
    let text = idp.inner.pages.text("activate_invalid");
    message(
        idp,
        StatusCode::BAD_REQUEST,
        "activate_title",
        &text,
        None,
        Some(s),
    )
}

pub(super) async fn page(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> Answer {
    let now = now_secs();
    let mut s = session_or_new(&idp, &jar, now).await?;
    save(&idp, &mut s, now).await?;
    let user = idp
        .inner
        .service
        .activation_user(&q.token, u64::try_from(now).unwrap_or(0))
        .await?;
    let resp = match user {
        Some(user) => form(&idp, StatusCode::OK, &s, &user, &q.token, None)?,
        None => invalid(&idp, &s)?,
    };
    with_cookies(&idp, Some(&s), &client, resp)
}

pub(super) async fn activate(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(f): axum::Form<ActivateForm>,
) -> Answer {
    let now = now_secs();
    let s = match posted(&idp, &client, &jar, &f.csrf, now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let now_u = u64::try_from(now).unwrap_or(0);
    let Some(user) = idp.inner.service.activation_user(&f.token, now_u).await? else {
        return invalid(&idp, &s);
    };
    if f.password != f.confirm {
        let text = idp.inner.pages.text("activate_mismatch");
        return form(
            &idp,
            StatusCode::BAD_REQUEST,
            &s,
            &user,
            &f.token,
            Some(&text),
        );
    }
    match idp
        .inner
        .service
        .activate(&f.token, &f.password, client.ip, now_u)
        .await?
    {
        Activation::Done { username } => {
            let text = idp.inner.pages.text("activate_done");
            login_form_with_notice(&idp, &s, &text, &username)
        }
        Activation::TooShort { .. } => {
            let text = idp.inner.pages.text("activate_too_short");
            form(
                &idp,
                StatusCode::BAD_REQUEST,
                &s,
                &user,
                &f.token,
                Some(&text),
            )
        }
        _ => invalid(&idp, &s),
    }
}
