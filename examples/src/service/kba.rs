//! Security questions (knowledge-based answers).
//!
//! The administrator configures the questions (`[kba]`); a user answers `enrol` of them; the
//! answers are normalised ([`normalise_answer`]: Unicode NFKC, lower case, inner whitespace
//! collapsed) and stored as argon2id hashes, like passwords. A challenge asks `ask` of the
//! user's questions, picked at random once per pending login (asking again shows the same
//! ones, so that retries cannot shop for easier questions). Every answer must match; a wrong
//! set counts toward the lockout like a wrong code.

use unicode_normalization::UnicodeNormalization as _;

use super::{
    EnrolRequest, INVALID_CREDENTIALS, Outcome, PendingLogin, Service, ServiceError, reject,
};
use crate::config::KbaQuestion;
use crate::password::Verified;
use crate::store::{AuditEntry, UserStatus};

/// The method name.
pub const KBA_METHOD: &str = "security_questions";

/// The shortest answer accepted at enrolment, in characters after normalisation.
pub const MIN_ANSWER_CHARS: usize = 2;

/// An answer as it is hashed and compared: Unicode NFKC (full-width and compatibility forms
/// folded), lower case, surrounding whitespace trimmed and inner runs of whitespace made one
/// space. "  Mrs  SMITH " and "mrs smith" are the same answer.
pub fn normalise_answer(answer: &str) -> String {
    let folded: String = answer.nfkc().flat_map(char::to_lowercase).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why an enrolment of security questions was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KbaError {
    /// Security questions are not configured.
    #[error("security questions are not configured")]
    NotConfigured,
    /// Not the configured number of answers.
    #[error("answer exactly {0} questions")]
    Count(u32),
    /// A question id that is not configured, or one given twice.
    #[error("unknown or repeated question {0:?}")]
    Question(String),
    /// An answer too short once normalised.
    #[error("every answer needs at least {MIN_ANSWER_CHARS} characters")]
    TooShort,
}

impl Service {
    /// The configured questions, if any.
    pub fn kba_settings(&self) -> Option<&crate::config::KbaSettings> {
        self.config.kba.as_ref()
    }

    /// Stores a user's answers (replacing earlier ones): `answers` holds (question id, answer)
    /// pairs, exactly `[kba].enrol` of them, each question once. One audit entry.
    pub async fn enroll_kba(
        &self,
        req: &EnrolRequest<'_>,
        answers: &[(String, String)],
    ) -> Result<Result<(), KbaError>, ServiceError> {
        let Some(kba) = &self.config.kba else {
            return Ok(Err(KbaError::NotConfigured));
        };
        if answers.len() != kba.enrol as usize {
            return Ok(Err(KbaError::Count(kba.enrol)));
        }
        let mut seen = std::collections::HashSet::new();
        for (q, a) in answers {
            if !kba.questions.iter().any(|k| k.id == *q) || !seen.insert(q.as_str()) {
                return Ok(Err(KbaError::Question(q.clone())));
            }
            if normalise_answer(a).chars().count() < MIN_ANSWER_CHARS {
                return Ok(Err(KbaError::TooShort));
            }
        }
        let normalised: Vec<(String, zeroize::Zeroizing<String>)> = answers
            .iter()
            .map(|(q, a)| (q.clone(), zeroize::Zeroizing::new(normalise_answer(a))))
            .collect();
        let hasher = self.hasher.clone();
        let _slot = self.hash_slot().await?;
        let hashed = tokio::task::spawn_blocking(move || {
            normalised
                .iter()
                .map(|(q, a)| hasher.hash(a).map(|h| (q.clone(), h)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| ServiceError::Config(format!("hashing task: {e}")))??;
        let now = i64::try_from(req.now).unwrap_or(i64::MAX);
        self.store
            .replace_kba_answers(req.user_id, &hashed, now)
            .await?;
        self.append_audit(AuditEntry {
            id: 0,
            at: now,
            username: req.username.to_owned(),
            user_id: Some(req.user_id),
            application: req.application.to_owned(),
            source_ip: Some(req.source_ip.to_string()),
            front_door: req.front_door.as_str().into(),
            factors: vec![format!("{KBA_METHOD}:enrolled")],
            result: "enrol".into(),
            reasons: vec![format!("{} security questions answered", hashed.len())],
        })
        .await?;
        Ok(Ok(()))
    }

    /// The questions the challenge of `pending` asks: picked at random among the user's
    /// answered questions the first time (and kept in `pending`), the same ones afterwards.
    /// Empty when the user has too few answers or the method is not allowed.
    pub async fn kba_questions(
        &self,
        pending: &mut PendingLogin,
    ) -> Result<Vec<KbaQuestion>, ServiceError> {
        let Some(kba) = &self.config.kba else {
            return Ok(Vec::new());
        };
        if !pending.methods.iter().any(|m| m == KBA_METHOD) {
            return Ok(Vec::new());
        }
        if pending.questions.is_empty() {
            let mut ids: Vec<String> = self
                .store
                .kba_answers(pending.user_id)
                .await?
                .into_iter()
                .map(|(q, _)| q)
                .filter(|q| kba.questions.iter().any(|k| k.id == *q))
                .collect();
            if ids.len() < kba.ask as usize {
                return Ok(Vec::new());
            }
            {
                use rand::seq::SliceRandom as _;
                ids.shuffle(&mut rand::rng());
            }
            ids.truncate(kba.ask as usize);
            pending.questions = ids;
        }
        Ok(pending
            .questions
            .iter()
            .filter_map(|id| kba.questions.iter().find(|k| k.id == *id).cloned())
            .collect())
    }

    /// Finishes `pending` with answers to the questions [`Service::kba_questions`] chose:
    /// every one must match. A wrong set is a failed login (lockout, alerts of a failed
    /// challenge).
    pub async fn complete_with_answers(
        &self,
        mut pending: PendingLogin,
        answers: &[(String, String)],
        now: u64,
    ) -> Result<Outcome, ServiceError> {
        if now > pending.expires_at {
            pending.reasons.push("the pending login expired".into());
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let allowed = pending.methods.iter().any(|m| m == KBA_METHOD);
        let stored = self.store.kba_answers(pending.user_id).await?;
        let mut pairs = Vec::new();
        for q in &pending.questions {
            let hash = stored
                .iter()
                .find(|(id, _)| id == q)
                .map(|(_, h)| h.clone());
            let given = answers
                .iter()
                .find(|(id, _)| id == q)
                .map(|(_, a)| zeroize::Zeroizing::new(normalise_answer(a)));
            pairs.push((hash, given));
        }
        let complete = allowed
            && !pending.questions.is_empty()
            && pairs.iter().all(|(h, a)| h.is_some() && a.is_some());
        let hasher = self.hasher.clone();
        let right = if complete {
            let _slot = self.hash_slot().await?;
            tokio::task::spawn_blocking(move || {
                // Every answer is checked (no early exit), so the time does not tell which
                // one was wrong.
                pairs.iter().fold(true, |all, (h, a)| {
                    let ok = match (h, a) {
                        (Some(h), Some(a)) => {
                            matches!(
                                hasher.verify(a, h),
                                Ok(Verified::Yes | Verified::YesRehash(_))
                            )
                        }
                        _ => false,
                    };
                    all & ok
                })
            })
            .await
            .map_err(|e| ServiceError::Config(format!("hashing task: {e}")))?
        } else {
            false
        };
        if !right {
            pending.factors.push(format!("{KBA_METHOD}:wrong"));
            if !complete {
                pending
                    .reasons
                    .push("security questions not allowed, not chosen or not all answered".into());
            }
            return self.refuse_pending(pending, now).await;
        }
        pending.factors.push(format!("{KBA_METHOD}:ok"));
        let view = self
            .store
            .user_view(&pending.username)
            .await?
            .ok_or(ServiceError::PendingMismatch)?;
        if view.user.id != pending.user_id || view.user.status != UserStatus::Active {
            pending
                .reasons
                .push(format!("account {}", view.user.status));
            let id = self.audit_pending(&pending, now, "reject").await?;
            return Ok(reject(INVALID_CREDENTIALS, id));
        }
        let (user, groups) = (view.user.clone(), view.groups.clone());
        self.finish(pending, user, groups, now, true, Vec::new())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_normalised_for_case_width_and_spacing() {
        assert_eq!(normalise_answer("  Mrs  SMITH "), "mrs smith");
        assert_eq!(normalise_answer("mrs\tsmith"), "mrs smith");
        // Full-width letters and the ligature fold under NFKC.
        assert_eq!(normalise_answer("ＭＲＳ ｓｍｉｔｈ"), "mrs smith");
        assert_eq!(normalise_answer("ﬁdo"), "fido");
        // Composed and decomposed accents are the same answer.
        assert_eq!(
            normalise_answer("Zu\u{308}rich"),
            normalise_answer("Zürich")
        );
        assert_eq!(normalise_answer("ZÜRICH"), "zürich");
        assert_eq!(normalise_answer(" \n "), "");
    }
}
