//! One HTTP request per message to the configured gateway, and what its answer means for the
//! outbox row: sent, due again later, or failed for good.
//!
//! - 2xx: sent.
//! - 408, 429, 5xx, a refused or broken connection, a timeout: due again after the backoff
//!   (or after `Retry-After`, when the gateway says so and that is longer).
//! - Any other answer (a 4xx such as a wrong token or an invalid number, a redirect): failed
//!   for good, with the gateway's reason. Twilio's error JSON (`code`, `message`) is kept as
//!   `Twilio error 21211: …`.
//!
//! Errors never carry a secret: the token and header values that were read are replaced by
//! `**redacted**` in any text taken from an answer, and so is the message text (it carries
//! one-time codes). Request URLs are left out of transport errors (a webhook URL may carry a
//! key in its query).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::body::BodyTemplate;
use super::settings::{SmsProvider, SmsSettings, WebhookMethod};
use super::{SmsError, normalize_phone};
use crate::config::is_loopback_host;
use crate::secret::SecretString;

/// The most of an answer's text kept in `last_error`.
const MAX_REASON: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Accepted; the gateway's id for the message when it gave one (Twilio's `SM…`).
    Sent {
        status: u16,
        reference: Option<String>,
    },
    /// Not accepted this time.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<u64>,
    },
    /// Never going to be accepted.
    Fail { status: Option<u16>, error: String },
}

enum Route {
    Twilio {
        url: reqwest::Url,
        account_sid: String,
        token: SecretString,
        sender: (&'static str, String),
    },
    Webhook {
        url: reqwest::Url,
        method: reqwest::Method,
        headers: HeaderMap,
        content_type: HeaderValue,
        body: Box<BodyTemplate>,
    },
}

/// A gateway ready to send: the HTTP client, the resolved credentials and the body template.
pub(crate) struct Gateway {
    client: reqwest::Client,
    route: Route,
    /// Every secret read from the settings, to scrub from error texts.
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (provider, url) = match &self.route {
            Route::Twilio { url, .. } => ("twilio", url),
            Route::Webhook { url, .. } => ("webhook", url),
        };
        f.debug_struct("Gateway")
            .field("provider", &provider)
            .field("url", &super::settings::redacted_url(url.as_str()))
            .finish_non_exhaustive()
    }
}

fn tls_config(settings: &SmsSettings) -> Result<rustls::ClientConfig, SmsError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &settings.ca_file {
        let fail = |message: String| SmsError::CaFile {
            path: path.clone(),
            message,
        };
        for certificate in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
            let certificate = certificate.map_err(|e| fail(e.to_string()))?;
            roots
                .add(certificate)
                .map_err(|e| fail(format!("unusable certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(fail("no CERTIFICATE in the file".to_owned()));
        }
    } else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SmsError::Client(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn secret(
    what: &str,
    value: Option<&crate::secret::SecretValue>,
) -> Result<SecretString, SmsError> {
    let Some(value) = value else {
        return Err(SmsError::Settings {
            key: what.to_owned(),
            message: "is required".into(),
        });
    };
    value.resolve().map_err(|source| SmsError::Secret {
        what: what.to_owned(),
        source,
    })
}

impl Gateway {
    /// Reads the credentials and the CA file and builds the client: a mistake shows here, at
    /// start and in `--check-config`, not at the first message.
    pub(crate) fn new(settings: &SmsSettings) -> Result<Gateway, SmsError> {
        settings
            .check()
            .map_err(|(key, message)| SmsError::Settings { key, message })?;
        let timeout = Duration::from_secs(settings.timeout_secs);
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(settings)?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("idforge/", env!("CARGO_PKG_VERSION")));
        let mut secrets = Vec::new();
        let route = match settings.provider {
            SmsProvider::Twilio => {
                let account_sid = settings.account_sid.clone().unwrap_or_default();
                let token = secret("auth_token", settings.auth_token.as_ref())?;
                if token.expose().chars().any(char::is_control) {
                    return Err(SmsError::Settings {
                        key: "auth_token".into(),
                        message: "must not hold control characters".into(),
                    });
                }
                secrets.push(token.clone());
                let sender = match (&settings.from, &settings.messaging_service_sid) {
                    (Some(from), _) => ("From", normalize_phone(from)?),
                    (None, Some(sid)) => ("MessagingServiceSid", sid.clone()),
                    (None, None) => no_sender()?,
                };
                let text = format!(
                    "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                    settings.api_base()
                );
                let url = parse_url("api_base", &text)?;
                Route::Twilio {
                    url,
                    account_sid,
                    token,
                    sender,
                }
            }
            SmsProvider::Webhook => {
                let url = parse_url("url", settings.url.as_deref().unwrap_or_default())?;
                let mut headers = HeaderMap::new();
                for (name, value) in &settings.headers {
                    let key = format!("headers.{name}");
                    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        SmsError::Settings {
                            key: key.clone(),
                            message: "is not an HTTP header name".into(),
                        }
                    })?;
                    let resolved = secret(&key, Some(value))?;
                    let mut value = HeaderValue::from_str(resolved.expose()).map_err(|_| {
                        SmsError::Settings {
                            key: key.clone(),
                            message: "is not a valid header value (control characters?)".into(),
                        }
                    })?;
                    value.set_sensitive(true);
                    headers.append(header, value);
                    secrets.push(resolved);
                }
                let content_type =
                    HeaderValue::from_str(settings.content_type()).map_err(|_| {
                        SmsError::Settings {
                            key: "content_type".into(),
                            message: "is not a valid header value".into(),
                        }
                    })?;
                let source = settings.body_template().unwrap_or_default();
                let body = BodyTemplate::new(source, settings.content_type()).map_err(|m| {
                    SmsError::Settings {
                        key: "body".into(),
                        message: m,
                    }
                })?;
                Route::Webhook {
                    url,
                    method: match settings.method() {
                        WebhookMethod::Post => reqwest::Method::POST,
                        WebhookMethod::Put => reqwest::Method::PUT,
                    },
                    headers,
                    content_type,
                    body: Box::new(body),
                }
            }
        };
        let url = match &route {
            Route::Twilio { url, .. } | Route::Webhook { url, .. } => url,
        };
        // A gateway on this machine (the tests' peers) is never reached through a proxy.
        if url.host_str().is_some_and(is_loopback_host) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| SmsError::Client(error_chain(&e.without_url())))?;
        Ok(Gateway {
            client,
            route,
            secrets,
        })
    }

    /// Sends one message to `to` (E.164) once.
    pub(crate) async fn send(&self, to: &str, text: &str, message_id: &str) -> Attempt {
        let request = match &self.route {
            Route::Twilio {
                url,
                account_sid,
                token,
                sender,
            } => self
                .client
                .post(url.clone())
                .basic_auth(account_sid, Some(token.expose()))
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&[("To", to), (sender.0, &sender.1), ("Body", text)]),
            Route::Webhook {
                url,
                method,
                headers,
                content_type,
                body,
            } => {
                let rendered = match body.render(to, text, message_id) {
                    Ok(b) => b,
                    Err(e) => {
                        return Attempt::Fail {
                            status: None,
                            error: self.scrub(&format!("body template: {e}"), text),
                        };
                    }
                };
                self.client
                    .request(method.clone(), url.clone())
                    .headers(headers.clone())
                    .header(CONTENT_TYPE, content_type.clone())
                    .header("Idempotency-Key", message_id)
                    .body(rendered)
            }
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    status: None,
                    error: self.scrub(&error_chain(&e.without_url()), text),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // A body that cannot be read leaves only the status to judge by.
        let bytes = response.bytes().await.unwrap_or_default();
        let twilio = matches!(self.route, Route::Twilio { .. });
        if status.is_success() {
            let reference = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_owned))
                .filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()));
            return Attempt::Sent {
                status: status.as_u16(),
                reference,
            };
        }
        let error = self.scrub(&reason(status, &bytes, twilio), text);
        let code = status.as_u16();
        if code == 408 || code == 429 || status.is_server_error() {
            Attempt::Retry {
                status: Some(code),
                error,
                retry_after,
            }
        } else {
            Attempt::Fail {
                status: Some(code),
                error,
            }
        }
    }

    /// `text` with every secret and the message text replaced.
    fn scrub(&self, error: &str, message: &str) -> String {
        let mut out = error.to_owned();
        for s in &self.secrets {
            if !s.expose().is_empty() {
                out = out.replace(s.expose(), "**redacted**");
            }
        }
        if message.len() >= 4 {
            out = out.replace(message, "**message text**");
        }
        out
    }
}

fn no_sender() -> Result<(&'static str, String), SmsError> {
    Err(SmsError::Settings {
        key: "from".into(),
        message: "a sender is required: `from` or `messaging_service_sid`".into(),
    })
}

fn parse_url(key: &str, text: &str) -> Result<reqwest::Url, SmsError> {
    reqwest::Url::parse(text).map_err(|_| SmsError::Settings {
        key: key.to_owned(),
        message: "is not a URL".into(),
    })
}

/// An error and its sources, one after the other (reqwest's own text is short: the cause is
/// in the chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
}

/// Text from an answer, on one line and not too long.
fn one_line(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON)
        .collect();
    if text.chars().count() > MAX_REASON {
        out.push('…');
    }
    out.trim().to_owned()
}

/// What a refusal says: Twilio's `code` and `message`, or a webhook's `message`/`error`
/// (when it answers JSON), after the HTTP status.
fn reason(status: reqwest::StatusCode, body: &[u8], twilio: bool) -> String {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(one_line)
    };
    let code = json
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(serde_json::Value::as_i64);
    let status_text = format!(
        "HTTP {}{}",
        status.as_u16(),
        status
            .canonical_reason()
            .map_or(String::new(), |r| format!(" {r}"))
    );
    match (twilio, code, field("message")) {
        (true, Some(code), Some(message)) => {
            format!("Twilio error {code}: {message} ({status_text})")
        }
        (true, None, Some(message)) => format!("Twilio: {message} ({status_text})"),
        (false, _, Some(message)) => format!("{status_text}: {message}"),
        _ => match field("error") {
            Some(error) if !twilio => format!("{status_text}: {error}"),
            _ => status_text,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_keep_code_and_message() {
        let body = br#"{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
        assert_eq!(
            reason(reqwest::StatusCode::BAD_REQUEST, body, true),
            "Twilio error 21211: The 'To' number +1555 is not a valid phone number. (HTTP 400 Bad Request)"
        );
        assert_eq!(
            reason(reqwest::StatusCode::BAD_GATEWAY, b"<html>oops</html>", true),
            "HTTP 502 Bad Gateway"
        );
        assert_eq!(
            reason(
                reqwest::StatusCode::UNPROCESSABLE_ENTITY,
                br#"{"error": "bad\nnumber"}"#,
                false
            ),
            "HTTP 422 Unprocessable Entity: bad number"
        );
        let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(1000));
        assert!(reason(reqwest::StatusCode::BAD_REQUEST, long.as_bytes(), false).len() < 400);
    }
}
