//! Security questions in the browser: answering the questions a challenge asks
//! (`/login/kba`), and choosing and answering them while signed in (`/security-questions`).
//!
//! Form fields carry the question id in their name (`answer.<id>`, and for enrolment
//! `question.<n>` with `answer.<n>`), so the same page works whatever the configured set.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use minijinja::{Value, context};

use super::handlers::{
    Answer, MAX_CODE_ATTEMPTS, load_session, login_form, page, posted, save, see_other,
};
use super::metrics::Event;
use super::session::Session;
use super::{Client, Idp, IdpError, PORTAL_APP};
use crate::service::{EnrolRequest, FrontDoor, KBA_METHOD, KbaError, Outcome};
use crate::store::now_secs;

/// Posted fields in order, the CSRF token apart.
type Fields = Vec<(String, String)>;

fn csrf_of(fields: &Fields) -> &str {
    fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str())
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The challenge page: the questions chosen for this login, one answer field each.
async fn challenge_form(
    idp: &Idp,
    status: StatusCode,
    s: &mut Session,
    error: Option<&str>,
    now: i64,
) -> Answer {
    let Some(mut pending) = s.data.pending.clone() else {
        return Ok(see_other("/login"));
    };
    let questions = idp.inner.service.kba_questions(&mut pending).await?;
    if questions.is_empty() {
        return Ok(see_other("/login/mfa"));
    }
    if s.data.pending.as_ref() != Some(&pending) {
        s.data.pending = Some(pending);
        save(idp, s, now).await?;
    }
    let questions: Vec<Value> = questions
        .iter()
        .map(|q| context! { id => q.id, text => q.text })
        .collect();
    page(
        idp,
        status,
        "kba.html",
        "kba_title",
        Some(s),
        context! { error => error, questions => questions },
    )
}

pub(super) async fn challenge_page(State(idp): State<Idp>, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(mut s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    challenge_form(&idp, StatusCode::OK, &mut s, None, now).await
}

pub(super) async fn challenge(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(fields): axum::Form<Fields>,
) -> Answer {
    let now = now_secs();
    let mut s = match posted(&idp, &client, &jar, csrf_of(&fields), now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let Some(pending) = s.data.pending.clone() else {
        return Ok(see_other("/login"));
    };
    let answers: Vec<(String, String)> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("answer.")?.to_owned(), v.clone())))
        .collect();
    match idp
        .inner
        .service
        .complete_with_answers(pending, &answers, u64::try_from(now).unwrap_or(0))
        .await?
    {
        Outcome::Accept(accepted) => {
            super::sso::finish_login(&idp, s, &client, accepted, Some(KBA_METHOD.into()), now).await
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
            let text = idp.inner.pages.text("kba_wrong");
            challenge_form(&idp, StatusCode::UNAUTHORIZED, &mut s, Some(&text), now).await
        }
        Outcome::NeedSecondFactor(_) => Err(IdpError::Decision(
            "a second factor asked for after one".into(),
        )),
    }
}

/// The enrolment page: `enrol` rows, each a question to pick and its answer.
fn enrol_form(
    idp: &Idp,
    status: StatusCode,
    s: &Session,
    error: Option<&str>,
) -> Result<Response, IdpError> {
    let Some(kba) = idp.inner.service.kba_settings() else {
        return Ok(see_other("/"));
    };
    let questions: Vec<Value> = kba
        .questions
        .iter()
        .map(|q| context! { id => q.id, text => q.text })
        .collect();
    let rows: Vec<usize> = (0..kba.enrol as usize).collect();
    page(
        idp,
        status,
        "kba_enroll.html",
        "kba_enroll_title",
        Some(s),
        context! { error => error, questions => questions, rows => rows },
    )
}

pub(super) async fn enrol_page(State(idp): State<Idp>, jar: CookieJar) -> Answer {
    let now = now_secs();
    let Some(s) = load_session(&idp, &jar, now).await? else {
        return Ok(see_other("/login"));
    };
    if s.data.signed_in.is_none() {
        return Ok(see_other("/login"));
    }
    enrol_form(&idp, StatusCode::OK, &s, None)
}

pub(super) async fn enrol(
    State(idp): State<Idp>,
    client: Client,
    jar: CookieJar,
    axum::Form(fields): axum::Form<Fields>,
) -> Answer {
    let now = now_secs();
    let s = match posted(&idp, &client, &jar, csrf_of(&fields), now).await? {
        Ok(s) => s,
        Err(refused) => return Ok(refused),
    };
    let Some(signed) = s.data.signed_in.clone() else {
        return Ok(see_other("/login"));
    };
    let mut answers = Vec::new();
    for n in 0.. {
        let (Some(q), Some(a)) = (
            field(&fields, &format!("question.{n}")),
            field(&fields, &format!("answer.{n}")),
        ) else {
            break;
        };
        answers.push((q.to_owned(), a.to_owned()));
    }
    let req = EnrolRequest {
        user_id: signed.user_id,
        username: &signed.username,
        application: PORTAL_APP,
        source_ip: client.ip,
        front_door: FrontDoor::Web,
        now: u64::try_from(now).unwrap_or(0),
    };
    match idp.inner.service.enroll_kba(&req, &answers).await? {
        Ok(()) => {
            idp.inner.metrics.count(Event::Enrolment);
            super::handlers::dashboard_with_notice(&idp, &s, "kba_done").await
        }
        Err(e) => {
            let key = match e {
                KbaError::Question(_) => "kba_pick_distinct",
                KbaError::TooShort => "kba_too_short",
                _ => "kba_count",
            };
            let text = idp.inner.pages.text(key);
            enrol_form(&idp, StatusCode::BAD_REQUEST, &s, Some(&text))
        }
    }
}
