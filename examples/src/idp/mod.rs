//! The web identity provider: SAML single sign-on with multi-factor login, over the service
//! core's store, configuration, directories and decision path.
//!
//! [`Idp::new`] assembles it from a [`Service`]; [`Idp::router`] is the axum application
//! (the `idp` binary only binds it and waits for a signal). Pages:
//!
//! - `GET /login`, `POST /login`: user name and password, for the IdP's own dashboard (the
//!   application [`PORTAL_APP`]) or for the service provider whose request is waiting.
//! - `GET /login/mfa`, `POST /login/mfa`: the second factor the policy asks for.
//! - `GET /enroll`, `POST /enroll`: an authenticator app (QR code, confirmation code), at the
//!   first login of a user without a factor or from the dashboard.
//! - `GET /webauthn/register`, `POST /webauthn/register`, `POST /webauthn/remove`: security
//!   keys and passkeys, added from the dashboard, used as a second factor
//!   (`/login/webauthn`) or to sign in without a password (`/login/passkey`).
//! - `GET /`: the dashboard; `POST /apps/{id}/launch` signs in to an application
//!   (IdP-initiated); `POST /logout`.
//! - `GET|POST /saml/sso` (HTTP-Redirect and HTTP-POST bindings), `GET|POST /saml/slo`,
//!   `GET /saml/metadata`.
//! - `GET /healthz`, `GET /metrics` (Prometheus).
//!
//! Every form carries a CSRF token bound to the session; every page is sent with a strict
//! Content-Security-Policy, `frame-ancestors 'none'` and `nosniff`. Nothing that could sign
//! someone in (a password, a code, a session token, an assertion) is logged.

mod activate;
pub mod apps;
pub mod demo_sp;
mod handlers;
mod kba;
pub mod keys;
pub mod metrics;
pub mod pages;
mod security;
pub mod session;
mod sso;
pub mod tls;
mod webauthn;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::routing::{get, post};
use ipnet::IpNet;

pub use crate::config::PORTAL_APP;
use crate::service::Service;
use apps::WebApp;
use keys::SigningKeys;
use metrics::Metrics;
use pages::Pages;

/// Why the IdP could not start or answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// The signing key or certificate.
    #[error("signing key: {0}")]
    Keys(String),
    /// An application's settings or SP metadata.
    #[error("app `{app}`: {message}")]
    App {
        /// The application.
        app: String,
        /// What is wrong.
        message: String,
    },
    /// A template or the texts.
    #[error("pages: {0}")]
    Pages(String),
    /// A stored session or POST-binding handoff that cannot be written or read back.
    #[error("session state: {0}")]
    State(String),
    /// An authenticator app's enrolment (secret, key URI, QR code).
    #[error("enrolment: {0}")]
    Enrolment(String),
    /// A SAML message this IdP builds.
    #[error("saml: {0}")]
    Saml(String),
    /// The decision path answered out of turn (a second factor asked for after one).
    #[error("decision path: {0}")]
    Decision(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The decision path.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    /// Randomness or sealing.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// The listener.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS set-up.
    #[error("tls: {0}")]
    Tls(String),
}

/// The web IdP. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Idp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Idp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idp")
            .field("entity_id", &self.inner.entity_id)
            .field("apps", &self.inner.apps.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    service: Arc<Service>,
    keys: SigningKeys,
    apps: Vec<WebApp>,
    pages: Pages,
    metrics: Metrics,
    entity_id: String,
    base: String,
    secure: bool,
    proxies: Vec<IpNet>,
    limiter: Mutex<RateLimiter>,
    metadata_xml: String,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Idp {
    /// Assembles the IdP: signing keys, applications (configuration and store), pages.
    pub async fn new(service: Arc<Service>) -> Result<Idp, IdpError> {
        service.warm_cache().await?;
        let config = service.config();
        let keys = keys::load(config)?;
        let apps = apps::load(config, service.store()).await?;
        let pages = Pages::new(config.idp.templates_dir.as_deref())?;
        let tls = tls::acceptor(&config.idp)?;
        let base = config.idp.base().to_owned();
        let entity_id = config.idp.entity_id();
        let proxies = config
            .idp
            .trusted_proxies
            .iter()
            .filter_map(|p| crate::config::parse_prefix(p))
            .collect();
        let mut md = idforge_saml::IdpMetadata::with_base_url(
            &entity_id,
            &format!("{base}/saml"),
            keys.certificate.clone(),
        );
        md.want_authn_requests_signed = false;
        let id = idforge_saml::SamlId::random(&mut rand::rng());
        let metadata_xml = md
            .to_xml(&id, Some(&keys.signer))
            .map_err(|e| IdpError::Keys(format!("metadata: {e}")))?;
        Ok(Idp {
            inner: Arc::new(Inner {
                limiter: Mutex::new(RateLimiter::new(config.idp.login_rate_per_minute)),
                secure: config.idp.secure_cookies(),
                service,
                keys,
                apps,
                pages,
                metrics: Metrics::default(),
                entity_id,
                base,
                proxies,
                metadata_xml,
                tls,
            }),
        })
    }

    /// The SAML entity ID.
    pub fn entity_id(&self) -> &str {
        &self.inner.entity_id
    }

    /// The public base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The service core.
    pub fn service(&self) -> &Arc<Service> {
        &self.inner.service
    }

    /// Whether the listener speaks HTTPS (`idp.tls_certificate`).
    pub fn is_tls(&self) -> bool {
        self.inner.tls.is_some()
    }

    /// The SAML applications.
    pub fn apps(&self) -> &[WebApp] {
        &self.inner.apps
    }

    /// The metrics in Prometheus's text format.
    pub async fn metrics_text(&self) -> String {
        let now = crate::store::now_secs();
        let sessions = self
            .inner
            .service
            .store()
            .count_web_sessions(now)
            .await
            .ok();
        self.inner.metrics.render(sessions)
    }

    /// The axum application.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        if self.inner.service.config().demo && self.app(demo_sp::DEMO_SP_APP).is_some() {
            router = router
                .route("/demo-sp/", get(demo_sp::home))
                .route("/demo-sp/login", get(demo_sp::login))
                .route("/demo-sp/acs", post(demo_sp::acs));
        }
        router
            .route("/", get(handlers::dashboard))
            .route("/login", get(handlers::login_page).post(handlers::login))
            .route("/login/mfa", get(handlers::mfa_page).post(handlers::mfa))
            .route("/login/cancel", post(handlers::cancel))
            .route("/login/send", post(handlers::send_code))
            .route("/login/link", get(handlers::link_page).post(handlers::link))
            .route("/login/kba", get(kba::challenge_page).post(kba::challenge))
            .route("/activate", get(activate::page).post(activate::activate))
            .route("/backup-codes", post(handlers::backup_codes))
            .route("/trusted-devices/forget", post(handlers::forget_browser))
            .route("/security", get(security::show))
            .route("/security/reauth", post(security::reauth))
            .route("/security/remove", post(security::remove))
            .route("/security/password", post(security::password))
            .route("/security-questions", get(kba::enrol_page).post(kba::enrol))
            .route("/enroll", get(handlers::enroll_page).post(handlers::enroll))
            .route(
                "/webauthn/register",
                get(webauthn::register_page).post(webauthn::register),
            )
            .route(
                "/webauthn/register/options",
                post(webauthn::register_options),
            )
            .route("/webauthn/remove", post(webauthn::remove))
            .route("/login/webauthn", post(webauthn::second_factor))
            .route(
                "/login/webauthn/options",
                post(webauthn::second_factor_options),
            )
            .route("/login/passkey", post(webauthn::passkey))
            .route("/login/passkey/options", post(webauthn::passkey_options))
            .route("/logout", post(handlers::logout))
            .route("/apps/{id}/launch", post(sso::launch))
            .route("/saml/sso", get(sso::sso_redirect).post(sso::sso_post))
            .route("/saml/continue", get(sso::sso_continue))
            .route("/saml/slo", get(sso::slo_redirect))
            .route("/saml/metadata", get(sso::metadata))
            .route("/healthz", get(handlers::healthz))
            .route("/metrics", get(handlers::metrics))
            .route("/static/{file}", get(handlers::static_file))
            .fallback(handlers::not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                handlers::common_headers,
            ))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes the requests in flight.
    /// Expired sessions are purged every minute meanwhile.
    pub async fn serve<F>(
        self,
        listener: tokio::net::TcpListener,
        shutdown: F,
    ) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let store = self.inner.service.store().clone();
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_mins(1));
            loop {
                tick.tick().await;
                if let Err(e) = store.purge_web_sessions(crate::store::now_secs()).await {
                    tracing::warn!(error = %e, "purging expired sessions failed");
                }
            }
        });
        let result = if let Some(acceptor) = self.inner.tls.clone() {
            tls::serve(listener, acceptor, self.router(), shutdown).await
        } else {
            let app = self
                .router()
                .into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        };
        purge.abort();
        result
    }

    fn app(&self, id: &str) -> Option<&WebApp> {
        self.inner.apps.iter().find(|a| a.id() == id)
    }
}

/// The client as the IdP sees it: the peer address, or the address a trusted proxy
/// forwarded, and the device cookie.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's address.
    pub ip: IpAddr,
    /// The device cookie's value, if the browser sent one.
    pub device: Option<String>,
    /// The remembered-browser cookie's value, if the browser sent one.
    pub remembered: Option<String>,
}

impl FromRequestParts<Idp> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, idp: &Idp) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip().to_canonical());
        let ip = client_ip(
            peer,
            &idp.inner.proxies,
            parts.headers.get("x-forwarded-for"),
        );
        let jar = axum_extra::extract::CookieJar::from_headers(&parts.headers);
        let device = jar
            .get(session::DEVICE_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| {
                v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        let trust = if idp.inner.secure {
            session::SECURE_TRUST_COOKIE
        } else {
            session::TRUST_COOKIE
        };
        let remembered = jar.get(trust).map(|c| c.value().to_owned()).filter(|v| {
            v.len() <= 200 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        });
        Ok(Client {
            ip,
            device,
            remembered,
        })
    }
}

/// The client address: `peer`, unless `peer` is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, proxies: &[IpNet], forwarded: Option<&HeaderValue>) -> IpAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|p| p.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let Some(list) = forwarded.and_then(|h| h.to_str().ok()) else {
        return peer;
    };
    let mut ip = peer;
    for entry in list.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(addr) => {
                ip = addr.to_canonical();
                if !trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    ip
}

/// The most addresses the login rate limiter tracks in one minute.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// Login posts per source address per minute (a fixed one-minute window).
#[derive(Debug)]
struct RateLimiter {
    limit: u32,
    window: i64,
    counts: std::collections::HashMap<IpAddr, u32>,
}

impl RateLimiter {
    fn new(limit: u32) -> Self {
        RateLimiter {
            limit,
            window: 0,
            counts: std::collections::HashMap::new(),
        }
    }

    /// Counts a post; false when the address is over its limit this minute.
    fn allow(&mut self, ip: IpAddr, now: i64) -> bool {
        let window = now / 60;
        if window != self.window {
            self.window = window;
            self.counts.clear();
        }
        // Memory stays bounded under a flood from many addresses: past this many addresses in
        // one minute, new ones are refused until the next minute.
        if self.counts.len() >= MAX_TRACKED_ADDRESSES && !self.counts.contains_key(&ip) {
            return false;
        }
        let n = self.counts.entry(ip).or_insert(0);
        *n = n.saturating_add(1);
        *n <= self.limit
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The Content-Security-Policy of every page; `form_action` widens `form-action` for the
/// SAML POST page.
fn csp(form_action: Option<&str>) -> HeaderValue {
    let form = match form_action {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".into(),
    };
    header_value(&format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         img-src 'self' data:; \
         form-action {form}; frame-ancestors 'none'; base-uri 'none'"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_counts_per_address_per_minute_and_stays_bounded() {
        let mut l = RateLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(l.allow(a, 60));
        assert!(l.allow(a, 61));
        assert!(!l.allow(a, 62));
        assert!(l.allow(a, 120), "a new minute");
        for i in 0..MAX_TRACKED_ADDRESSES as u32 {
            l.allow(IpAddr::from(i.to_be_bytes()), 180);
        }
        assert!(!l.allow("2001:db8::1".parse().unwrap_or(a), 180), "full");
        assert!(l.allow("2001:db8::1".parse().unwrap_or(a), 240));
        assert_eq!(l.counts.len(), 1);
    }

    #[test]
    fn forwarded_addresses_are_read_from_the_right_past_trusted_proxies() {
        let proxies = vec!["10.0.0.0/8".parse::<IpNet>().unwrap_or_default()];
        let h = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
        let peer: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let client = |v: &str| client_ip(peer, &proxies, Some(&h(v))).to_string();
        assert_eq!(client("198.51.100.7"), "198.51.100.7");
        assert_eq!(
            client("203.0.113.1, 198.51.100.7, 10.1.1.1"),
            "198.51.100.7"
        );
        assert_eq!(client("garbage"), "10.0.0.1");
        assert_eq!(client("::ffff:198.51.100.9"), "198.51.100.9");
        let stranger: IpAddr = "192.0.2.50".parse().unwrap_or(peer);
        assert_eq!(
            client_ip(stranger, &proxies, Some(&h("198.51.100.7"))).to_string(),
            "192.0.2.50",
            "only a trusted proxy may say who the client is"
        );
    }

    proptest::proptest! {
        /// Any X-Forwarded-For text: the answer is the peer or an address written in it.
        #[test]
        fn any_forwarded_header_gives_the_peer_or_one_of_its_addresses(
            text in "[0-9a-f:., ]{0,80}",
            trusted in proptest::bool::ANY,
        ) {
            let proxies = if trusted {
                vec!["127.0.0.0/8".parse::<IpNet>().unwrap_or_default()]
            } else {
                Vec::new()
            };
            let peer: IpAddr = IpAddr::from([127, 0, 0, 1]);
            if let Ok(h) = HeaderValue::from_str(&text) {
                let ip = client_ip(peer, &proxies, Some(&h));
                let listed = text
                    .split(',')
                    .filter_map(|e| e.trim().parse::<IpAddr>().ok())
                    .any(|a| a.to_canonical() == ip);
                proptest::prop_assert!(ip == peer || (trusted && listed));
            }
        }
    }
}
