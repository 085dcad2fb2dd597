//! Security questions through the service on a real store: enrolment rules, answers matched
//! after normalisation (case, spacing, Unicode width), the questions of a challenge fixed once
//! chosen, wrong answers counted toward the lockout, and the adaptive challenge type.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::panic)]

use std::net::IpAddr;

use idforge_examples::config::Config;
use idforge_examples::crypto::Key;
use idforge_examples::service::{
    AuthRequest, EnrolRequest, FirstFactorInput, FrontDoor, KbaError, Outcome, PendingLogin,
    Service,
};
use idforge_examples::store::{NewUser, UserStatus};

const NOW: u64 = 1_760_000_000;
const PASSWORD: &str = "correct horse";

async fn service(policy_methods: &str, adaptive: &str) -> (Service, i64, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[store]
url = "sqlite://{db}"
encryption_key = "{key}"

[passwords]
memory_kib = 64
iterations = 1
parallelism = 1

[[apps]]
id = "wiki"
kind = "saml"
entity_id = "https://wiki.example.com"
acs_url = "https://wiki.example.com/acs"

[policy.default]
first_factor = "local_password"
{policy_methods}

[policy.lockout.user]
max_failures = 4
window_secs = 600
lock_secs = 600

[kba]
enrol = 3
ask = 2
questions = [
  {{ id = "pet", text = "What was the name of your first pet?" }},
  {{ id = "street", text = "In which street did you grow up?" }},
  {{ id = "teacher", text = "What was your favourite teacher's name?" }},
  {{ id = "city", text = "In which city did your parents meet?" }},
]

{adaptive}
"#,
        db = dir.path().join("db").display(),
        key = Key::generate().unwrap().to_base64().as_str(),
    );
    let config = Config::from_toml(&text, "kba-test.toml").unwrap();
    let service = Service::open(config).await.unwrap();
    let alice = service
        .store()
        .create_user(&NewUser {
            name: "alice".into(),
            source: "local".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let hash = service.hasher().hash_new(PASSWORD).unwrap();
    service
        .store()
        .set_password_hash(alice.id, &hash)
        .await
        .unwrap();
    (service, alice.id, dir)
}

const REQUIRED: &str = "second_factor = \"required\"\nmethods = [\"security_questions\"]";

fn enrol_req(user_id: i64) -> EnrolRequest<'static> {
    EnrolRequest {
        user_id,
        username: "alice",
        application: "portal",
        source_ip: "198.51.100.7".parse::<IpAddr>().unwrap(),
        front_door: FrontDoor::Web,
        now: NOW,
    }
}

fn answers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(q, a)| ((*q).to_owned(), (*a).to_owned()))
        .collect()
}

const ALICE_ANSWERS: [(&str, &str); 3] = [
    ("pet", "Mr  Whiskers"),
    ("street", "Rue de la Paix"),
    ("city", "Zürich"),
];

/// How alice types them at a challenge: other case, spacing and Unicode forms.
fn typed(question: &str) -> &'static str {
    match question {
        "pet" => "  mr whiskers ",
        "street" => "RUE DE LA  PAIX",
        "city" => "ZU\u{308}RICH",
        other => panic!("unexpected question {other}"),
    }
}

async fn login(s: &Service, now: u64) -> PendingLogin {
    login_from(s, now, "laptop").await
}

async fn login_from(s: &Service, now: u64, device: &str) -> PendingLogin {
    let r = AuthRequest {
        username: "alice",
        application: "wiki",
        source_ip: "198.51.100.7".parse::<IpAddr>().unwrap(),
        source_is_client: true,
        device: Some(device),
        front_door: FrontDoor::Web,
        now,
        first_factor: FirstFactorInput::Password(PASSWORD),
        code: None,
    };
    match s.authenticate(&r).await.unwrap() {
        Outcome::NeedSecondFactor(p) => p,
        other => panic!("expected a second factor: {other:?}"),
    }
}

#[tokio::test]
async fn enrolment_takes_exactly_the_configured_number_of_distinct_known_questions() {
    let (s, id, _dir) = service(REQUIRED, "").await;
    let req = enrol_req(id);
    let r = s
        .enroll_kba(&req, &answers(&ALICE_ANSWERS[..2]))
        .await
        .unwrap();
    assert_eq!(r, Err(KbaError::Count(3)));
    let r = s
        .enroll_kba(
            &req,
            &answers(&[("pet", "a b"), ("pet", "cd"), ("city", "ef")]),
        )
        .await
        .unwrap();
    assert_eq!(r, Err(KbaError::Question("pet".into())));
    let r = s
        .enroll_kba(
            &req,
            &answers(&[("pet", "ab"), ("colour", "cd"), ("city", "ef")]),
        )
        .await
        .unwrap();
    assert_eq!(r, Err(KbaError::Question("colour".into())));
    let r = s
        .enroll_kba(
            &req,
            &answers(&[("pet", "ab"), ("street", "  x  "), ("city", "ef")]),
        )
        .await
        .unwrap();
    assert_eq!(r, Err(KbaError::TooShort));
    assert!(s.store().kba_answers(id).await.unwrap().is_empty());
    s.enroll_kba(&req, &answers(&ALICE_ANSWERS))
        .await
        .unwrap()
        .unwrap();
    let stored = s.store().kba_answers(id).await.unwrap();
    assert_eq!(stored.len(), 3);
    for (_, hash) in &stored {
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.to_lowercase().contains("whiskers"));
    }
}

#[tokio::test]
async fn answers_match_whatever_the_case_spacing_and_unicode_form() {
    let (s, id, _dir) = service(REQUIRED, "").await;
    s.enroll_kba(&enrol_req(id), &answers(&ALICE_ANSWERS))
        .await
        .unwrap()
        .unwrap();
    let mut pending = login(&s, NOW).await;
    assert_eq!(pending.methods, ["security_questions"]);
    let choices = s.choices(&pending).await.unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0].method, "security_questions");
    let questions = s.kba_questions(&mut pending).await.unwrap();
    assert_eq!(questions.len(), 2);
    // Chosen once: asking again gives the same ones.
    let chosen = pending.questions.clone();
    assert_eq!(s.kba_questions(&mut pending).await.unwrap(), questions);
    assert_eq!(pending.questions, chosen);
    let given: Vec<(String, String)> = questions
        .iter()
        .map(|q| (q.id.clone(), typed(&q.id).to_owned()))
        .collect();
    let o = s
        .complete_with_answers(pending, &given, NOW + 5)
        .await
        .unwrap();
    let Outcome::Accept(a) = o else {
        panic!("{o:?}")
    };
    assert!(a.factors.iter().any(|f| f == "security_questions:ok"));
}

#[tokio::test]
async fn wrong_or_missing_answers_are_refused_and_count_toward_the_lockout() {
    let (s, id, _dir) = service(REQUIRED, "").await;
    s.enroll_kba(&enrol_req(id), &answers(&ALICE_ANSWERS))
        .await
        .unwrap()
        .unwrap();
    for round in 0..4u64 {
        let mut pending = login(&s, NOW + round * 10).await;
        let questions = s.kba_questions(&mut pending).await.unwrap();
        // One right, one wrong (or, in the last round, one missing).
        let mut given = vec![(questions[0].id.clone(), typed(&questions[0].id).to_owned())];
        if round < 3 {
            given.push((questions[1].id.clone(), "wrong answer".into()));
        }
        let o = s
            .complete_with_answers(pending, &given, NOW + round * 10 + 1)
            .await
            .unwrap();
        assert!(matches!(o, Outcome::Reject { .. }), "{o:?}");
    }
    // Four failures: the account is locked, even with the right password.
    let r = AuthRequest {
        username: "alice",
        application: "wiki",
        source_ip: "198.51.100.9".parse::<IpAddr>().unwrap(),
        source_is_client: true,
        device: Some("laptop"),
        front_door: FrontDoor::Web,
        now: NOW + 100,
        first_factor: FirstFactorInput::Password(PASSWORD),
        code: None,
    };
    assert!(matches!(
        s.authenticate(&r).await.unwrap(),
        Outcome::Reject { .. }
    ));
    let audit = s.store().audit_tail(20, Some("alice")).await.unwrap();
    assert!(
        audit
            .iter()
            .filter(|e| e.factors.iter().any(|f| f == "security_questions:wrong"))
            .count()
            >= 4
    );
    assert!(audit.iter().any(|e| e.result == "locked"), "{audit:?}");
    let alice = s.store().require_user("alice").await.unwrap();
    assert_eq!(
        alice.status,
        UserStatus::Active,
        "a timed lockout, not disabled"
    );
}

#[tokio::test]
async fn the_adaptive_security_questions_challenge_is_met_by_the_answers() {
    let adaptive = r#"
[adaptive]
challenge_types = ["security_questions"]

[adaptive.new_device]
action = "challenge"
"#;
    let (s, id, _dir) = service("second_factor = \"none\"", adaptive).await;
    s.enroll_kba(&enrol_req(id), &answers(&ALICE_ANSWERS))
        .await
        .unwrap()
        .unwrap();
    let mut pending = login(&s, NOW).await;
    assert!(pending.challenged);
    assert_eq!(pending.methods, ["security_questions"]);
    let questions = s.kba_questions(&mut pending).await.unwrap();
    let given: Vec<(String, String)> = questions
        .iter()
        .map(|q| (q.id.clone(), typed(&q.id).to_owned()))
        .collect();
    let o = s
        .complete_with_answers(pending, &given, NOW + 1)
        .await
        .unwrap();
    let Outcome::Accept(a) = o else {
        panic!("{o:?}")
    };
    let devices = s.store().devices_of(a.user.id).await.unwrap();
    assert!(devices.iter().any(|d| d.id == "laptop"));
    // A code is no way to answer questions.
    let next = login_from(&s, NOW + 10, "tablet").await;
    let o = s.complete(next, "123456", NOW + 11).await.unwrap();
    assert!(matches!(o, Outcome::Reject { .. }));
}
