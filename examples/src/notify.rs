//! Where alerts go: the adaptive rules' notices ("device limit exceeded for alice",
//! "challenge failed") for administrators and users.
//!
//! [`LogNotifier`] writes them to the log; e-mail and SMS delivery implement the same trait.

use std::sync::Mutex;

use idforge_adaptive::{Alert, Audience};

/// Receives alerts. Implementations must not block for long: queue and return.
pub trait Notifier: Send + Sync {
    /// One alert.
    fn notify(&self, alert: &Alert);
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
