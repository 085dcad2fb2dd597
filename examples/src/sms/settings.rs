//! `[sms]`: which gateway delivers text messages (Twilio's Messages API or the operator's own
//! webhook), its credentials, and the limits and retries of the outbox.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::body::BodyTemplate;
use super::number::normalize_phone;
use crate::config::is_loopback_host;
use crate::secret::SecretValue;

/// Twilio's API host, used when `api_base` is not given.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

/// The content type of a webhook request when `content_type` is not given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// The body of a webhook request with a JSON content type when `body` is not given. Values
/// are JSON-escaped on output, so they are written without quotes.
pub const DEFAULT_JSON_BODY: &str =
    r#"{"to": {{ to }}, "text": {{ text }}, "message_id": {{ message_id }}}"#;

/// The gateway that delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SmsProvider {
    /// Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`).
    Twilio,
    /// An HTTP endpoint of the operator's, with a body rendered from a template.
    Webhook,
}

impl SmsProvider {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsProvider::Twilio => "twilio",
            SmsProvider::Webhook => "webhook",
        }
    }
}

/// The HTTP method of a webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    /// `POST` (the default).
    #[default]
    #[serde(alias = "post")]
    Post,
    /// `PUT`.
    #[serde(alias = "put")]
    Put,
}

/// `[sms]`: the gateway, its credentials, rate limits and retries.
///
/// One flat table: `provider` says which of the provider keys apply, and a key of the other
/// provider is refused. `Debug` shows no secret: the token and the header values print as
/// their source (`env:NAME`, `file:PATH` or redacted), the webhook URL without its query.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// `twilio` or `webhook`.
    pub provider: SmsProvider,
    /// Twilio: the account SID, `AC` and 32 hex digits.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Twilio: the auth token (best as `env:NAME` or `file:PATH`).
    #[serde(default)]
    pub auth_token: Option<SecretValue>,
    /// Twilio: the sending number, E.164; exactly one of this and `messaging_service_sid`.
    #[serde(default)]
    pub from: Option<String>,
    /// Twilio: the Messaging Service that picks the sender, `MG` and 32 hex digits.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Twilio: the API's base URL (default `https://api.twilio.com`; `http://` only to a
    /// loopback host, for tests).
    #[serde(default)]
    pub api_base: Option<String>,
    /// Webhook: where to send (`https://`, or `http://` to a loopback host).
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: `POST` (default) or `PUT`.
    #[serde(default)]
    pub method: Option<WebhookMethod>,
    /// Webhook: extra request headers; each value may be `env:NAME` or `file:PATH`.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretValue>,
    /// Webhook: the request's content type (default `application/json`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Webhook: the request body, a template with `to`, `text` and `message_id`. With a JSON
    /// content type every value is written as a JSON value (quoted and escaped), with
    /// `application/x-www-form-urlencoded` it is percent-encoded. Default for JSON:
    /// [`DEFAULT_JSON_BODY`].
    #[serde(default)]
    pub body: Option<String>,
    /// Connect and whole-request timeout, seconds (default 15).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// PEM file of the CA the gateway's certificate must chain to; the public web roots when
    /// absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Delivery attempts before a message is marked failed (default 8).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait after the first failed attempt, seconds, doubled after each further one
    /// (default 30).
    #[serde(default = "default_backoff")]
    pub backoff_secs: u64,
    /// Longest wait between attempts, seconds (default 3600).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: u64,
    /// How often the worker looks for due messages, milliseconds (default 2000).
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// Most messages to one number in any hour; the rest are recorded as suppressed
    /// (default 10).
    #[serde(default = "default_per_address")]
    pub max_per_address_hour: u32,
    /// Most messages about one user in any hour; the rest are recorded as suppressed
    /// (default 10).
    #[serde(default = "default_per_user")]
    pub max_per_user_hour: u32,
}

fn default_timeout() -> u64 {
    15
}
fn default_attempts() -> u32 {
    8
}
fn default_backoff() -> u64 {
    30
}
fn default_max_backoff() -> u64 {
    3600
}
fn default_poll() -> u64 {
    2000
}
fn default_per_address() -> u32 {
    10
}
fn default_per_user() -> u32 {
    10
}

/// Header names the worker sets itself, or that belong to the connection.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// The URL without user info, query or fragment, for logs and `Debug`.
pub(crate) fn redacted_url(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(url) => {
            let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
            if let Some(port) = url.port() {
                let _ = write!(out, ":{port}");
            }
            out.push_str(url.path());
            if url.query().is_some() {
                out.push_str("?…");
            }
            out
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

impl fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SmsSettings");
        d.field("provider", &self.provider);
        match self.provider {
            SmsProvider::Twilio => {
                d.field("account_sid", &self.account_sid)
                    .field("auth_token", &self.auth_token)
                    .field("from", &self.from)
                    .field("messaging_service_sid", &self.messaging_service_sid)
                    .field("api_base", &self.api_base.as_deref().map(redacted_url));
            }
            SmsProvider::Webhook => {
                d.field("url", &self.url.as_deref().map(redacted_url))
                    .field("method", &self.method())
                    .field("headers", &self.headers)
                    .field("content_type", &self.content_type())
                    .field("body", &self.body.as_deref().map(|b| b.chars().count()));
            }
        }
        d.field("timeout_secs", &self.timeout_secs)
            .field("ca_file", &self.ca_file)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_secs", &self.backoff_secs)
            .field("max_backoff_secs", &self.max_backoff_secs)
            .field("poll_ms", &self.poll_ms)
            .field("max_per_address_hour", &self.max_per_address_hour)
            .field("max_per_user_hour", &self.max_per_user_hour)
            .finish()
    }
}

/// Whether `text` is `prefix` and 32 hex digits (a Twilio SID).
fn is_sid(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks an endpoint URL: `https://`, or `http://` to a loopback host; no user info (put
/// credentials in a header or the token) and no fragment.
fn check_url(text: &str) -> Result<reqwest::Url, &'static str> {
    let url = reqwest::Url::parse(text).map_err(|_| "must be an absolute https:// URL")?;
    let host = url.host_str().unwrap_or("");
    if host.is_empty() {
        return Err("must name a host");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(
                "`http://` sends the message and the credentials in clear text and is accepted \
                 only for a loopback host (localhost, 127.0.0.0/8, ::1); use https://",
            );
        }
        _ => return Err("must be an https:// URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; use the token or a header instead");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (#…)");
    }
    Ok(url)
}

impl SmsSettings {
    /// Twilio's base URL, without a trailing slash.
    pub fn api_base(&self) -> &str {
        self.api_base
            .as_deref()
            .unwrap_or(TWILIO_API_BASE)
            .trim_end_matches('/')
    }

    /// The webhook's method.
    pub fn method(&self) -> WebhookMethod {
        self.method.unwrap_or_default()
    }

    /// The webhook's content type.
    pub fn content_type(&self) -> &str {
        self.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE)
    }

    /// The webhook's body template: the configured one, or [`DEFAULT_JSON_BODY`].
    pub fn body_template(&self) -> Option<&str> {
        match &self.body {
            Some(b) => Some(b),
            None if super::body::is_json(self.content_type()) => Some(DEFAULT_JSON_BODY),
            None => None,
        }
    }

    /// The host messages go to (Twilio's API host or the webhook's), for logs and the
    /// domain of message ids.
    pub fn gateway_host(&self) -> String {
        let url = match self.provider {
            SmsProvider::Twilio => Some(self.api_base()),
            SmsProvider::Webhook => self.url.as_deref(),
        };
        url.and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()))
            .unwrap_or_else(|| "sms.invalid".to_owned())
    }

    /// Checks what serde cannot: returns the key (relative to `sms`) and what is wrong. No
    /// message names a secret's value.
    pub fn check(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
        match self.provider {
            SmsProvider::Twilio => self.check_twilio()?,
            SmsProvider::Webhook => self.check_webhook()?,
        }
        if !(1..=120).contains(&self.timeout_secs) {
            return err("timeout_secs", "must be 1 to 120");
        }
        if !(1..=100).contains(&self.max_attempts) {
            return err("max_attempts", "must be 1 to 100");
        }
        if !(1..=86_400).contains(&self.backoff_secs) {
            return err("backoff_secs", "must be 1 to 86400");
        }
        if self.max_backoff_secs < self.backoff_secs || self.max_backoff_secs > 7 * 86_400 {
            return err(
                "max_backoff_secs",
                "must be at least backoff_secs and at most 604800",
            );
        }
        if !(50..=600_000).contains(&self.poll_ms) {
            return err("poll_ms", "must be 50 to 600000");
        }
        if self.max_per_address_hour == 0 {
            return err(
                "max_per_address_hour",
                "must be at least 1 (remove [sms] to send nothing)",
            );
        }
        if self.max_per_user_hour == 0 {
            return err(
                "max_per_user_hour",
                "must be at least 1 (remove [sms] to send nothing)",
            );
        }
        Ok(())
    }

    fn check_twilio(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
        let foreign = [
            ("url", self.url.is_some()),
            ("method", self.method.is_some()),
            ("headers", !self.headers.is_empty()),
            ("content_type", self.content_type.is_some()),
            ("body", self.body.is_some()),
        ];
        if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
            return err(key, "belongs to provider = \"webhook\"");
        }
        match &self.account_sid {
            None => return err("account_sid", "is required for Twilio"),
            Some(sid) if !is_sid(sid, "AC") => {
                return err("account_sid", "must be AC followed by 32 hex digits");
            }
            Some(_) => {}
        }
        match &self.auth_token {
            None => return err("auth_token", "is required for Twilio"),
            Some(SecretValue::Inline(t)) if t.chars().any(char::is_control) || t.is_empty() => {
                return err("auth_token", "must not be empty or hold control characters");
            }
            Some(_) => {}
        }
        match (&self.from, &self.messaging_service_sid) {
            (Some(_), Some(_)) => {
                return err(
                    "messaging_service_sid",
                    "give either `from` or `messaging_service_sid`, not both",
                );
            }
            (None, None) => {
                return err(
                    "from",
                    "a sender is required: `from` (a number) or `messaging_service_sid`",
                );
            }
            (Some(from), None) => {
                if normalize_phone(from).is_err() {
                    return err("from", "must be an E.164 number such as +14155550100");
                }
            }
            (None, Some(sid)) => {
                if !is_sid(sid, "MG") {
                    return err(
                        "messaging_service_sid",
                        "must be MG followed by 32 hex digits",
                    );
                }
            }
        }
        if let Some(base) = &self.api_base {
            let url = check_url(base).map_err(|m| ("api_base".to_owned(), m.to_owned()))?;
            if url.query().is_some() || !matches!(url.path(), "" | "/") {
                return err(
                    "api_base",
                    "must be a scheme and host only, such as https://api.twilio.com",
                );
            }
        }
        Ok(())
    }

    fn check_webhook(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: &str| Err((key.to_owned(), message.to_owned()));
        let foreign = [
            ("account_sid", self.account_sid.is_some()),
            ("auth_token", self.auth_token.is_some()),
            ("from", self.from.is_some()),
            (
                "messaging_service_sid",
                self.messaging_service_sid.is_some(),
            ),
            ("api_base", self.api_base.is_some()),
        ];
        if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
            return err(key, "belongs to provider = \"twilio\"");
        }
        let Some(url) = &self.url else {
            return err("url", "is required for a webhook");
        };
        check_url(url).map_err(|m| ("url".to_owned(), m.to_owned()))?;
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            if !is_header_name(name) {
                return Err((key, "is not an HTTP header name".into()));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err((
                    key,
                    "is set by the worker (or by `content_type`) and cannot be configured".into(),
                ));
            }
            if let SecretValue::Inline(v) = value
                && (v.is_empty() || v.chars().any(char::is_control))
            {
                return Err((key, "must not be empty or hold control characters".into()));
            }
        }
        let content_type = self.content_type();
        if content_type.is_empty()
            || !content_type.contains('/')
            || content_type.chars().any(char::is_control)
        {
            return err(
                "content_type",
                "must be a media type such as application/json",
            );
        }
        let Some(body) = self.body_template() else {
            return err(
                "body",
                "is required unless the content type is JSON (which has a default body)",
            );
        };
        BodyTemplate::new(body, content_type)
            .and_then(BodyTemplate::check)
            .map_err(|m| ("body".to_owned(), m))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> SmsSettings {
        toml::from_str(text).unwrap()
    }

    fn twilio(extra: &str) -> SmsSettings {
        parse(&format!(
            "provider = \"twilio\"\naccount_sid = \"{SID}\"\nauth_token = \"tok-s3cret-value\"\n{extra}"
        ))
    }

    fn refused(s: &SmsSettings) -> String {
        let (key, message) = s.check().unwrap_err();
        assert!(!message.contains("tok-s3cret-value"), "{message}");
        key
    }

    #[test]
    fn defaults() {
        let s = twilio("from = \"+14155550100\"");
        s.check().unwrap();
        assert_eq!(s.api_base(), "https://api.twilio.com");
        assert_eq!(s.timeout_secs, 15);
        assert_eq!(s.max_attempts, 8);
        assert_eq!((s.backoff_secs, s.max_backoff_secs), (30, 3600));
        assert_eq!(s.poll_ms, 2000);
        assert_eq!((s.max_per_address_hour, s.max_per_user_hour), (10, 10));
        assert_eq!(s.gateway_host(), "api.twilio.com");
        let w = parse("provider = \"webhook\"\nurl = \"https://sms.example.com/send\"");
        w.check().unwrap();
        assert_eq!(w.method(), WebhookMethod::Post);
        assert_eq!(w.content_type(), "application/json");
        assert_eq!(w.body_template(), Some(DEFAULT_JSON_BODY));
    }

    #[test]
    fn twilio_values_are_checked() {
        assert_eq!(refused(&twilio("")), "from");
        assert_eq!(
            refused(&twilio(&format!(
                "from = \"+14155550100\"\nmessaging_service_sid = \"{MG}\""
            ))),
            "messaging_service_sid"
        );
        assert_eq!(
            refused(&twilio("messaging_service_sid = \"MG123\"")),
            "messaging_service_sid"
        );
        twilio(&format!("messaging_service_sid = \"{MG}\""))
            .check()
            .unwrap();
        assert_eq!(refused(&twilio("from = \"14155550100\"")), "from");
        let s = parse(
            "provider = \"twilio\"\naccount_sid = \"AC123\"\nauth_token = \"tok-s3cret-value\"\nfrom = \"+14155550100\"\n",
        );
        assert_eq!(refused(&s), "account_sid");
        let s = parse(&format!(
            "provider = \"twilio\"\naccount_sid = \"{SID}\"\nfrom = \"+14155550100\"\n"
        ));
        assert_eq!(refused(&s), "auth_token");
        for base in [
            "http://api.example.com",
            "ftp://127.0.0.1",
            "https://user:tok-s3cret-value@api.twilio.com",
            "https://api.twilio.com/2010-04-01",
            "not a url",
        ] {
            let s = twilio(&format!("from = \"+14155550100\"\napi_base = \"{base}\""));
            assert_eq!(refused(&s), "api_base", "{base}");
        }
        for base in [
            "http://127.0.0.1:8080",
            "http://[::1]:9",
            "http://localhost/",
        ] {
            twilio(&format!("from = \"+14155550100\"\napi_base = \"{base}\""))
                .check()
                .unwrap();
        }
        let s = twilio("from = \"+14155550100\"\nurl = \"https://x.example.com\"");
        assert_eq!(refused(&s), "url");
    }

    #[test]
    fn webhook_values_are_checked() {
        let hook = |extra: &str| {
            parse(&format!(
                "provider = \"webhook\"\nurl = \"https://sms.example.com/send\"\n{extra}"
            ))
        };
        assert_eq!(
            refused(&parse(
                "provider = \"webhook\"\nurl = \"http://sms.example.com\""
            )),
            "url"
        );
        assert_eq!(refused(&parse("provider = \"webhook\"")), "url");
        assert_eq!(
            refused(&hook("[headers]\n\"Bad Name\" = \"x\"")),
            "headers.Bad Name"
        );
        assert_eq!(refused(&hook("[headers]\nHost = \"x\"")), "headers.Host");
        assert_eq!(
            refused(&hook(
                "[headers]\nAuthorization = \"Bearer tok-s3cret-value\\r\\nX: y\""
            )),
            "headers.Authorization"
        );
        hook("[headers]\nAuthorization = \"env:SMS_TOKEN\"")
            .check()
            .unwrap();
        // Quoting a value that is JSON-escaped already makes invalid JSON.
        assert_eq!(
            refused(&hook("body = '{\"text\": \"{{ text }}\"}'")),
            "body"
        );
        // Unknown variables are errors, not empty strings.
        assert_eq!(refused(&hook("body = '{\"text\": {{ txt }}}'")), "body");
        assert_eq!(refused(&hook("content_type = \"text/plain\"")), "body");
        hook("content_type = \"text/plain\"\nbody = \"{{ to }}: {{ text }}\"")
            .check()
            .unwrap();
        assert_eq!(refused(&hook("account_sid = \"x\"")), "account_sid");
        assert_eq!(
            refused(&hook("method = \"PUT\"\ntimeout_secs = 0")),
            "timeout_secs"
        );
        assert_eq!(refused(&hook("max_per_user_hour = 0")), "max_per_user_hour");
        assert_eq!(refused(&hook("max_backoff_secs = 5")), "max_backoff_secs");
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = twilio("from = \"+14155550100\"");
        let d = format!("{s:?}");
        assert!(!d.contains("tok-s3cret-value"), "{d}");
        assert!(d.contains(SID), "{d}");
        let w = parse(
            "provider = \"webhook\"\nurl = \"https://sms.example.com/send?key=tok-s3cret-value\"\n\
             [headers]\nAuthorization = \"Bearer tok-s3cret-value\"\nX-Api-Key = \"env:SMS_KEY\"",
        );
        w.check().unwrap();
        let d = format!("{w:?}");
        assert!(!d.contains("tok-s3cret-value"), "{d}");
        assert!(d.contains("https://sms.example.com/send?…"), "{d}");
        assert!(d.contains("env:SMS_KEY"), "{d}");
        let e = format!("{:?}", w.check());
        assert!(!e.contains("tok-s3cret-value"));
    }
}
