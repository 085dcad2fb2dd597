//! Where alerts go: the adaptive rules' notices ("device limit exceeded for alice",
//! "challenge failed") for administrators and users.
//!
//! [`LogNotifier`] writes them to the log; [`crate::mail::MailNotifier`] also turns them into
//! outbox messages that the service writes in the same transaction as the decision.

use std::sync::Mutex;

use idforge_adaptive::{Alert, Audience};

use crate::store::NewMail;

/// What the service knows about an alert's user when it raises the alert.
#[derive(Debug, Clone, Copy)]
pub struct AlertContext<'a> {
    /// The user's id.
    pub user_id: Option<i64>,
    /// The user's stored e-mail address.
    pub user_email: Option<&'a str>,
    /// When (unix seconds).
    pub now: u64,
}

/// Receives alerts. Implementations must not block for long: queue and return.
pub trait Notifier: Send + Sync {
    /// One alert, told at once (a log line, a test's list).
    fn notify(&self, alert: &Alert);

    /// The durable messages `alert` calls for: the service writes them to the outbox in the
    /// same transaction as the decision that raised the alert. None by default.
    fn outbox(&self, alert: &Alert, context: &AlertContext<'_>) -> Vec<NewMail> {
        let _ = (alert, context);
        Vec::new()
    }
}

/// Writes alerts to the structured log at WARN (administrators) or INFO (users).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify(&self, alert: &Alert) {
        let audience = match alert.audience {
            Audience::Admins => "admins",
            Audience::User => "user",
            Audience::Both => "both",
            _ => "other",
        };
        if matches!(alert.audience, Audience::User) {
            tracing::info!(
                user = %alert.user,
                application = %alert.application,
                audience,
                kind = ?alert.kind,
                "alert: {}",
                alert.message
            );
        } else {
            tracing::warn!(
                user = %alert.user,
                application = %alert.application,
                audience,
                kind = ?alert.kind,
                "alert: {}",
                alert.message
            );
        }
    }
}

/// Keeps alerts in memory, for tests and for front doors that show them.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    alerts: Mutex<Vec<Alert>>,
}

impl MemoryNotifier {
    /// The alerts received so far.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Notifier for MemoryNotifier {
    fn notify(&self, alert: &Alert) {
        if let Ok(mut a) = self.alerts.lock() {
            a.push(alert.clone());
        }
    }
}
