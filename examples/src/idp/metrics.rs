//! Prometheus counters of the web IdP.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency buckets in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Counters, updated without locks.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    logins_accepted: AtomicU64,
    logins_second_factor: AtomicU64,
    logins_rejected: AtomicU64,
    codes_rejected: AtomicU64,
    codes_sent: AtomicU64,
    enrolments: AtomicU64,
    sso_responses: AtomicU64,
    sso_refused: AtomicU64,
    saml_errors: AtomicU64,
    csrf_failures: AtomicU64,
    rate_limited: AtomicU64,
    logouts: AtomicU64,
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A password login accepted.
    LoginAccepted,
    /// A password accepted, a second factor asked for.
    LoginSecondFactor,
    /// A login refused.
    LoginRejected,
    /// A wrong or replayed second factor.
    CodeRejected,
    /// A one-time code or sign-in link sent by e-mail or SMS.
    CodeSent,
    /// An authenticator app enrolled.
    Enrolment,
    /// A SAML response sent.
    SsoResponse,
    /// An application refused the user (groups, policy, adaptive rules).
    SsoRefused,
    /// A SAML message that could not be accepted.
    SamlError,
    /// A form without a valid CSRF token.
    CsrfFailure,
    /// A login post over the rate limit.
    RateLimited,
    /// A sign-out.
    Logout,
}

impl Metrics {
    /// Counts an event.
    pub fn count(&self, event: Event) {
        let c = match event {
            Event::LoginAccepted => &self.logins_accepted,
            Event::LoginSecondFactor => &self.logins_second_factor,
            Event::LoginRejected => &self.logins_rejected,
            Event::CodeRejected => &self.codes_rejected,
            Event::CodeSent => &self.codes_sent,
            Event::Enrolment => &self.enrolments,
            Event::SsoResponse => &self.sso_responses,
            Event::SsoRefused => &self.sso_refused,
            Event::SamlError => &self.saml_errors,
            Event::CsrfFailure => &self.csrf_failures,
            Event::RateLimited => &self.rate_limited,
            Event::Logout => &self.logouts,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request and how long it took.
    pub fn request(&self, took: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The text format; `sessions` is the stored session count when the store answered.
    pub fn render(&self, sessions: Option<i64>) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        counter(
            "idforge_idp_logins_total",
            "Password logins by outcome.",
            &[
                ("{result=\"accept\"}", get(&self.logins_accepted)),
                (
                    "{result=\"second_factor\"}",
                    get(&self.logins_second_factor),
                ),
                ("{result=\"reject\"}", get(&self.logins_rejected)),
            ],
        );
        counter(
            "idforge_idp_codes_rejected_total",
            "Wrong or replayed second-factor codes.",
            &[("", get(&self.codes_rejected))],
        );
        counter(
            "idforge_idp_codes_sent_total",
            "One-time codes and sign-in links sent by e-mail or SMS.",
            &[("", get(&self.codes_sent))],
        );
        counter(
            "idforge_idp_enrolments_total",
            "Authenticator apps enrolled.",
            &[("", get(&self.enrolments))],
        );
        counter(
            "idforge_idp_sso_responses_total",
            "Signed SAML responses sent.",
            &[("", get(&self.sso_responses))],
        );
        counter(
            "idforge_idp_sso_refused_total",
            "Sign-ins to an application refused after login.",
            &[("", get(&self.sso_refused))],
        );
        counter(
            "idforge_idp_saml_errors_total",
            "SAML messages refused.",
            &[("", get(&self.saml_errors))],
        );
        counter(
            "idforge_idp_csrf_failures_total",
            "Form posts without a valid CSRF token.",
            &[("", get(&self.csrf_failures))],
        );
        counter(
            "idforge_idp_rate_limited_total",
            "Login posts over the per-address limit.",
            &[("", get(&self.rate_limited))],
        );
        counter(
            "idforge_idp_logouts_total",
            "Sign-outs.",
            &[("", get(&self.logouts))],
        );
        let _ = writeln!(
            s,
            "# HELP idforge_idp_request_duration_seconds HTTP request latency.\n# TYPE idforge_idp_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += get(&self.latency[i]);
            let _ = writeln!(
                s,
                "idforge_idp_request_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        cumulative += get(&self.latency[BUCKETS.len()]);
        let _ = writeln!(
            s,
            "idforge_idp_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\nidforge_idp_request_duration_seconds_sum {}\nidforge_idp_request_duration_seconds_count {}",
            format_args!(
                "{}.{:06}",
                get(&self.latency_sum_us) / 1_000_000,
                get(&self.latency_sum_us) % 1_000_000
            ),
            get(&self.requests)
        );
        if let Some(n) = sessions {
            let _ = writeln!(
                s,
                "# HELP idforge_idp_sessions Browser sessions in the store.\n# TYPE idforge_idp_sessions gauge\nidforge_idp_sessions {n}"
            );
        }
        s
    }
}
