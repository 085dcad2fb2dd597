//! The signed-in user's security page (`/security`): second factors with their removal,
//! backup codes, security questions, remembered browsers, recent sign-ins, and a password
//! change for local users. Removing a factor needs a re-authentication with a second factor
//! in the last five minutes (`/security/reauth`); the password change needs the current
//! password.

use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use minijinja::{Value, context};
use serde::Deserialize;

use super::handlers::{Answer, load_session, page, posted_signed_in, save, see_other};
use super::session::{Session, token_hash};
use super::{Client, Idp};
use crate::service::{PasswordChange, REAUTH_SECS};
use crate::store::now_secs;

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

async fn security_page(
    idp: &Idp,
    status: StatusCode,
    s: &Session,
    notice: Option<&str>,
    error: Option<&str>,
) -> Answer {
    let Some(signed) = &s.data.signed_in else {
        return Ok(see_other("/login"));
    };
    let service = &idp.inner.service;
    let store = service.store();
    let user = store.require_user(&signed.username).await?;
    let now = now_secs();
    let mut factors: Vec<Value> = store
        .factors_of(user.id)
        .await?
        .iter()
        .map(|f| {
            context! {
                id => f.id,
                name => format!("{} ({})", f.label, f.kind.as_str().to_uppercase()),
                added => when(f.created_at),
                last_used => f.last_used_at.map(when),
            }
        })
        .collect();
    for k in store.yubikeys_of(user.id).await? {
        factors.push(context! {
            id => format!("yubikey:{}", k.public_id),
            name => format!("YubiKey {} ({})", k.public_id, k.label),
            added => k.assigned_at.map(when).unwrap_or_default(),
            last_used => k.last_used_at.map(when),
        });
    }
    let remembered: Vec<Value> = store
        .trusted_devices_of(user.id)
        .await?
        .into_iter()
        .filter(|d| d.is_live(now))
        .map(|d| {
            context! {
                id => d.id, label => d.label, until => when(d.expires_at),
                last_used => d.last_used_at.map(when),
            }
        })
        .collect();
    let signins: Vec<Value> = store
        .audit_tail(10, Some(&user.name))
        .await?
        .iter()
        .rev()
        .filter(|e| matches!(e.result.as_str(), "accept" | "reject" | "deny" | "locked"))
        .map(|e| {
            context! {
                at => when(e.at), application => e.application, result => e.result,
                source => e.source_ip.clone().unwrap_or_default(),
            }
        })
        .collect();
    let backup_left = store.unused_backup_codes(user.id).await?.len();
    let kba = service.kba_settings().is_some();
    let kba_set = kba && !store.kba_answers(user.id).await?.is_empty();
    page(
        idp,
        status,
        "security.html",
        "security_title",
        Some(s),
        context! {
            notice => notice,
            error => error,
            width => "wide",
            reauthed => s.data.reauth_until > now,
            can_reauth => !factors.is_empty() || backup_left > 0,
            factors => factors,
            remembered => remembered,
            signins => signins,
            backup_left => backup_left,
            kba => kba,
            kba_set => kba_set,
            local => user.source == "local",
            email => user.email.as_deref().map(crate::service::mask_email),
            phone => user.phone.as_deref().and_then(|p| crate::sms::normalize_phone(p).ok()).map(|p| crate::sms::mask_phone(&p)),
        },
    )
}

pub(super) async fn show(State(idp): State<Idp>, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    security_page(&idp, StatusCode::OK, &s, None, None).await
}

/// A form with a code.
#[derive(Deserialize)]
pub(super) struct ReauthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub(super) async fn reauth(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<ReauthForm>,
) -> Answer {
    let now = now_secs();
    let (mut s, signed) = match posted_signed_in(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let user = idp
        .inner
        .service
        .store()
        .require_user(&signed.username)
        .await?;
    let ok = idp
        .inner
        .service
        .reauthenticate(
            &user,
            &form.code,
            client.ip,
            u64::try_from(now).unwrap_or(0),
        )
        .await?;
    if !ok {
        let text = idp.inner.pages.text("invalid_code");
        return security_page(&idp, StatusCode::UNAUTHORIZED, &s, None, Some(&text)).await;
    }
    s.data.reauth_until = now.saturating_add(i64::try_from(REAUTH_SECS).unwrap_or(300));
    save(&idp, &mut s, now).await?;
    let text = idp.inner.pages.text("reauth_done");
    security_page(&idp, StatusCode::OK, &s, Some(&text), None).await
}

/// The form that removes a factor.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    factor: String,
}

pub(super) async fn remove(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<RemoveForm>,
) -> Answer {
    let now = now_secs();
    let (s, signed) = match posted_signed_in(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    if s.data.reauth_until <= now {
        let text = idp.inner.pages.text("reauth_needed");
        return security_page(&idp, StatusCode::FORBIDDEN, &s, None, Some(&text)).await;
    }
    let user = idp
        .inner
        .service
        .store()
        .require_user(&signed.username)
        .await?;
    let removed = idp
        .inner
        .service
        .remove_own_factor(
            &user,
            &form.factor,
            client.ip,
            u64::try_from(now).unwrap_or(0),
        )
        .await?;
    let key = if removed {
        "factor_removed"
    } else {
        "factor_not_found"
    };
    let text = idp.inner.pages.text(key);
    security_page(&idp, StatusCode::OK, &s, Some(&text), None).await
}

/// The password change form.
#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordForm(**redacted**)")
    }
}

pub(super) async fn password(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(form): axum::Form<PasswordForm>,
) -> Answer {
    let now = now_secs();
    let (s, signed) = match posted_signed_in(&idp, &client, &jar, &form.csrf, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    if form.new != form.confirm {
        let text = idp.inner.pages.text("activate_mismatch");
        return security_page(&idp, StatusCode::BAD_REQUEST, &s, None, Some(&text)).await;
    }
    let user = idp
        .inner
        .service
        .store()
        .require_user(&signed.username)
        .await?;
    let keep = token_hash(&s.token);
    let outcome = idp
        .inner
        .service
        .change_password(
            &user,
            &form.current,
            &form.new,
            client.ip,
            Some(&keep),
            u64::try_from(now).unwrap_or(0),
        )
        .await?;
    let (status, notice, error) = match outcome {
        PasswordChange::Changed { .. } => (StatusCode::OK, Some("password_changed"), None),
        PasswordChange::WrongPassword => (StatusCode::UNAUTHORIZED, None, Some("password_wrong")),
        PasswordChange::TooShort { .. } => {
            (StatusCode::BAD_REQUEST, None, Some("activate_too_short"))
        }
        PasswordChange::NotLocal => (StatusCode::BAD_REQUEST, None, Some("password_not_local")),
    };
    let notice = notice.map(|k| idp.inner.pages.text(k));
    let error = error.map(|k| idp.inner.pages.text(k));
    security_page(&idp, status, &s, notice.as_deref(), error.as_deref()).await
}
