//! `otpauth://` key URIs, the enrolment format authenticator apps scan from QR codes.

use core::fmt;
use core::fmt::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::{Algorithm, Digits, Error, Hotp, Secret, Totp, UriError};

/// Everything but RFC 3986 unreserved characters is percent-encoded: spaces become `%20`
/// (never `+`), `:` becomes `%3A`, `@` becomes `%40`, and non-ASCII is UTF-8 percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The default TOTP period, in seconds.
pub const DEFAULT_PERIOD: u64 = 30;

/// Time-based or counter-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtpKind {
    /// TOTP with a step of `period` seconds.
    Totp {
        /// Seconds per step (30 unless said otherwise).
        period: u64,
    },
    /// HOTP starting at `counter`.
    Hotp {
        /// The initial counter.
        counter: u64,
    },
}

/// A key URI: `otpauth://TYPE/ISSUER:ACCOUNT?secret=…&issuer=…`.
///
/// ```
/// use idforge_otp::{KeyUri, Secret};
///
/// let secret = Secret::from_base32("JBSWY3DPEHPK3PXP")?;
/// let uri = KeyUri::totp(secret, "alice@example.com")?.with_issuer("Example Co");
/// assert_eq!(
///     uri.to_uri_string(),
///     "otpauth://totp/Example%20Co:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example%20Co"
/// );
/// let back = KeyUri::parse(&uri.to_uri_string())?;
/// assert_eq!(back.issuer(), Some("Example Co"));
/// # Ok::<(), idforge_otp::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUri {
    kind: OtpKind,
    secret: Secret,
    issuer: Option<String>,
    account: String,
    algorithm: Algorithm,
    digits: Digits,
}

impl KeyUri {
    /// A TOTP URI with the defaults every app honours: SHA1, 6 digits, 30 seconds.
    pub fn totp(secret: Secret, account: &str) -> Result<Self, Error> {
        Self::new(
            OtpKind::Totp {
                period: DEFAULT_PERIOD,
            },
            secret,
            account,
        )
    }

    /// An HOTP URI starting at `counter`.
    pub fn hotp(secret: Secret, account: &str, counter: u64) -> Result<Self, Error> {
        Self::new(OtpKind::Hotp { counter }, secret, account)
    }

    fn new(kind: OtpKind, secret: Secret, account: &str) -> Result<Self, Error> {
        let account = account.trim();
        if account.is_empty() {
            return Err(UriError::MissingLabel.into());
        }
        if account.contains(':') {
            return Err(UriError::ColonInAccount(account.to_owned()).into());
        }
        Ok(Self {
            kind,
            secret,
            issuer: None,
            account: account.to_owned(),
            algorithm: Algorithm::Sha1,
            digits: Digits::SIX,
        })
    }

    /// Names the service. An issuer with a colon is written only in the `issuer` parameter.
    /// Surrounding white space is dropped, as it is from the account name.
    #[must_use]
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        let issuer = issuer.trim();
        self.issuer = (!issuer.is_empty()).then(|| issuer.to_owned());
        self
    }

    /// Sets the hash function (many apps ignore anything but SHA1).
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets the code length.
    #[must_use]
    pub fn with_digits(mut self, digits: Digits) -> Self {
        self.digits = digits;
        self
    }

    /// Sets the TOTP period; refused for HOTP URIs and for zero.
    pub fn with_period(mut self, period: u64) -> Result<Self, Error> {
        match &mut self.kind {
            OtpKind::Totp { period: p } if period > 0 => *p = period,
            OtpKind::Totp { .. } => return Err(Error::ZeroPeriod),
            OtpKind::Hotp { .. } => {
                return Err(UriError::InvalidParameter {
                    name: "period".into(),
                    value: period.to_string(),
                }
                .into());
            }
        }
        Ok(self)
    }

    /// TOTP or HOTP, with the period or the counter.
    pub fn kind(&self) -> OtpKind {
        self.kind
    }
    /// The shared secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
    /// The issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }
    /// The hash function.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// The code length.
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// A TOTP generator for this key, or `None` for an HOTP key.
    pub fn to_totp(&self) -> Option<Totp> {
        match self.kind {
            OtpKind::Totp { period } => {
                Totp::new(&self.secret, self.algorithm, self.digits, period).ok()
            }
            OtpKind::Hotp { .. } => None,
        }
    }

    /// An HOTP generator for this key (for a TOTP key, over time steps).
    pub fn to_hotp(&self) -> Hotp {
        Hotp::new(&self.secret, self.algorithm, self.digits)
    }

    /// The URI text. It carries the secret: show it only to the user who enrols, never log it.
    /// Parameters equal to the defaults (SHA1, 6 digits, 30 s) are left out.
    pub fn to_uri_string(&self) -> String {
        let mut out = String::with_capacity(96);
        self.write_uri(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    fn write_uri(&self, out: &mut impl Write) -> fmt::Result {
        let kind = match self.kind {
            OtpKind::Totp { .. } => "totp",
            OtpKind::Hotp { .. } => "hotp",
        };
        write!(out, "otpauth://{kind}/")?;
        if let Some(issuer) = self.issuer.as_deref().filter(|i| !i.contains(':')) {
            write!(out, "{}:", utf8_percent_encode(issuer, COMPONENT))?;
        }
        write!(out, "{}", utf8_percent_encode(&self.account, COMPONENT))?;
        write!(out, "?secret={}", self.secret.to_base32())?;
        if let Some(issuer) = &self.issuer {
            write!(out, "&issuer={}", utf8_percent_encode(issuer, COMPONENT))?;
        }
        if self.algorithm != Algorithm::Sha1 {
            write!(out, "&algorithm={}", self.algorithm.name())?;
        }
        if self.digits != Digits::SIX {
            write!(out, "&digits={}", self.digits)?;
        }
        match self.kind {
            OtpKind::Totp { period } if period != DEFAULT_PERIOD => {
                write!(out, "&period={period}")?;
            }
            OtpKind::Totp { .. } => {}
            OtpKind::Hotp { counter } => write!(out, "&counter={counter}")?,
        }
        Ok(())
    }

    /// Reads a key URI. The scheme, type and parameter names are case-insensitive; unknown
    /// parameters (such as `image`) are ignored; in the label both `:` and `%3A` separate
    /// issuer from account. When the label's issuer and the `issuer` parameter differ, the
    /// parameter wins. In parameter values a `+` is a space, as form encoding writes it
    /// (`issuer=Air+Canada`), and `%2B` is a plus; in the label a `+` is a plus.
    ///
    /// ```
    /// use idforge_otp::KeyUri;
    ///
    /// let uri = KeyUri::parse("otpauth://totp/Air+Canada:bob?secret=JBSWY3DPEHPK3PXP&issuer=Air+Canada")?;
    /// assert_eq!(uri.issuer(), Some("Air Canada"));
    /// assert!(uri.to_uri_string().ends_with("&issuer=Air%20Canada"));
    /// # Ok::<(), idforge_otp::Error>(())
    /// ```
    pub fn parse(uri: &str) -> Result<Self, Error> {
        const SCHEME: &str = "otpauth://";
        let head = uri.get(..SCHEME.len()).ok_or(UriError::Scheme)?;
        if !head.eq_ignore_ascii_case(SCHEME) {
            return Err(UriError::Scheme.into());
        }
        let rest = &uri[SCHEME.len()..];
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (kind_and_label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (kind, label) = kind_and_label
            .split_once('/')
            .ok_or(UriError::MissingLabel)?;
        let is_totp = if kind.eq_ignore_ascii_case("totp") {
            true
        } else if kind.eq_ignore_ascii_case("hotp") {
            false
        } else {
            return Err(UriError::Type(kind.to_owned()).into());
        };

        let label = decode(label, "label")?;
        let (label_issuer, account) = match label.split_once(':') {
            Some((_, account)) if account.contains(':') => {
                return Err(UriError::AmbiguousLabel.into());
            }
            Some((issuer, account)) => (Some(issuer.trim()), account.trim()),
            None => (None, label.trim()),
        };
        if account.is_empty() {
            return Err(UriError::MissingLabel.into());
        }

        let mut params = Params::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.set(name, value)?;
        }

        let secret = params.secret.ok_or(UriError::MissingSecret)?;
        let secret = decode_query_value(secret, "secret")?;
        if secret.trim().is_empty() {
            return Err(UriError::MissingSecret.into());
        }
        let secret = Secret::from_base32(&secret)?;

        let algorithm = match params.algorithm {
            Some(a) => decode_query_value(a, "algorithm")?.parse()?,
            None => Algorithm::Sha1,
        };
        let digits = match params.digits {
            Some(d) => Digits::new(number("digits", d)?).map_err(|_| invalid("digits", d))?,
            None => Digits::SIX,
        };
        let kind = if is_totp {
            let period = match params.period {
                Some(p) => match number("period", p)? {
                    0 => return Err(invalid("period", p).into()),
                    n => n,
                },
                None => DEFAULT_PERIOD,
            };
            OtpKind::Totp { period }
        } else {
            let counter = params.counter.ok_or(UriError::MissingCounter)?;
            OtpKind::Hotp {
                counter: number("counter", counter)?,
            }
        };
        let issuer = match params.issuer {
            Some(i) => Some(decode_query_value(i, "issuer")?.trim().to_owned()),
            None => label_issuer.map(str::to_owned),
        }
        .filter(|i| !i.is_empty());

        Ok(Self {
            kind,
            secret,
            issuer,
            account: account.to_owned(),
            algorithm,
            digits,
        })
    }
}

/// The parameters the format defines, each at most once, as raw (still encoded) text.
#[derive(Default)]
struct Params<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
    counter: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn set(&mut self, name: &str, value: &'a str) -> Result<(), UriError> {
        let slot = match name.to_ascii_lowercase().as_str() {
            "secret" => &mut self.secret,
            "issuer" => &mut self.issuer,
            "algorithm" => &mut self.algorithm,
            "digits" => &mut self.digits,
            "period" => &mut self.period,
            "counter" => &mut self.counter,
            _ => return Ok(()),
        };
        if slot.replace(value).is_some() {
            return Err(UriError::DuplicateParameter(name.to_ascii_lowercase()));
        }
        Ok(())
    }
}

/// Decodes a query parameter value: `+` is a space (`application/x-www-form-urlencoded`, which
/// some issuers use for their URIs), then percent-decoding as in [`decode`], so `%2B` is `+`.
fn decode_query_value(text: &str, part: &str) -> Result<String, UriError> {
    if text.contains('+') {
        decode(&text.replace('+', " "), part)
    } else {
        decode(text, part)
    }
}

/// Percent-decodes a part of the URI into UTF-8 text.
fn decode(text: &str, part: &str) -> Result<String, UriError> {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(UriError::Encoding { part: part.into() });
        }
    }
    percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| UriError::Encoding { part: part.into() })
}

fn invalid(name: &str, value: &str) -> UriError {
    UriError::InvalidParameter {
        name: name.into(),
        value: value.chars().take(64).collect(),
    }
}

fn number(name: &str, value: &str) -> Result<u64, UriError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(name, value));
    }
    value.parse().map_err(|_| invalid(name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B32: &str = "JBSWY3DPEHPK3PXP";

    fn secret() -> Secret {
        Secret::from_base32(B32).unwrap()
    }

    #[test]
    fn google_example() {
        let uri = KeyUri::parse(
            "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
        )
        .unwrap();
        assert_eq!(uri.issuer(), Some("Example"));
        assert_eq!(uri.account(), "alice@google.com");
        assert_eq!(uri.kind(), OtpKind::Totp { period: 30 });
        assert_eq!(uri.algorithm(), Algorithm::Sha1);
        assert_eq!(uri.digits(), Digits::SIX);
    }

    #[test]
    fn colon_in_issuer_goes_to_the_parameter_only() {
        let uri = KeyUri::totp(secret(), "james@example.com")
            .unwrap()
            .with_issuer("Star Trek: Website");
        let text = uri.to_uri_string();
        assert_eq!(
            text,
            "otpauth://totp/james%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Star%20Trek%3A%20Website"
        );
        assert_eq!(KeyUri::parse(&text).unwrap(), uri);
    }

    #[test]
    fn colon_in_account_is_refused() {
        assert_eq!(
            KeyUri::totp(secret(), "a:b").unwrap_err(),
            Error::Uri(UriError::ColonInAccount("a:b".into()))
        );
        assert_eq!(
            KeyUri::parse("otpauth://totp/I:a:b?secret=JBSWY3DPEHPK3PXP").unwrap_err(),
            Error::Uri(UriError::AmbiguousLabel)
        );
        assert_eq!(
            KeyUri::parse("otpauth://totp/I%3Aa%3Ab?secret=JBSWY3DPEHPK3PXP").unwrap_err(),
            Error::Uri(UriError::AmbiguousLabel)
        );
    }

    #[test]
    fn encoded_separator_and_spaces() {
        let uri = KeyUri::parse(
            "otpauth://totp/ACME%20Co%3A%20john.doe%40email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
        )
        .unwrap();
        assert_eq!(uri.issuer(), Some("ACME Co"));
        assert_eq!(uri.account(), "john.doe@email.com");
        assert!(!uri.to_uri_string().contains('+'));
    }

    #[test]
    fn plus_in_a_parameter_value_is_a_space() {
        let uri = KeyUri::parse(
            "otpauth://totp/Air%20Canada:bob?secret=JBSWY3DPEHPK3PXP&issuer=Air+Canada",
        )
        .unwrap();
        assert_eq!(uri.issuer(), Some("Air Canada"));
        assert_eq!(
            uri.to_uri_string(),
            "otpauth://totp/Air%20Canada:bob?secret=JBSWY3DPEHPK3PXP&issuer=Air%20Canada"
        );
        // An encoded plus is a plus, next to a form-encoded space.
        let uri = KeyUri::parse(
            "otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&issuer=Google%2B+Mail+%2b+more",
        )
        .unwrap();
        assert_eq!(uri.issuer(), Some("Google+ Mail + more"));
        assert!(
            uri.to_uri_string()
                .ends_with("&issuer=Google%2B%20Mail%20%2B%20more")
        );
        assert_eq!(KeyUri::parse(&uri.to_uri_string()).unwrap(), uri);
        // Form-encoded spaces in the secret are spaces, which base32 skips; in the label a
        // plus stays a plus.
        let uri = KeyUri::parse(
            "otpauth://totp/C+%2B:bob+smith?secret=JBSW+Y3DP+EHPK+3PXP&issuer=C%2B%2B",
        )
        .unwrap();
        assert_eq!(uri.secret(), &secret());
        assert_eq!(uri.account(), "bob+smith");
        assert_eq!(uri.issuer(), Some("C++"));
        let uri = KeyUri::parse("otpauth://totp/C+%2B:bob?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(uri.issuer(), Some("C++"));
        // The algorithm is a parameter value too.
        assert_eq!(
            KeyUri::parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm=SHA+256")
                .unwrap_err(),
            Error::UnknownAlgorithm("SHA 256".into())
        );
    }

    #[test]
    fn issuer_parameter_wins_over_label() {
        let uri = KeyUri::parse(
            "otpauth://totp/Microsoft:alice@contoso.com?secret=JBSWY3DPEHPK3PXP&issuer=Contoso",
        )
        .unwrap();
        assert_eq!(uri.issuer(), Some("Contoso"));
    }

    #[test]
    fn non_ascii_round_trip() {
        let uri = KeyUri::totp(secret(), "jürgen@exämple.de")
            .unwrap()
            .with_issuer("Ünïcode & Co");
        let text = uri.to_uri_string();
        assert!(text.is_ascii());
        assert!(text.contains("%C3%BC"));
        assert_eq!(KeyUri::parse(&text).unwrap(), uri);
    }

    #[test]
    fn hotp_needs_a_counter_and_emits_it() {
        assert_eq!(
            KeyUri::parse("otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP").unwrap_err(),
            Error::Uri(UriError::MissingCounter)
        );
        let uri = KeyUri::hotp(secret(), "a", 7)
            .unwrap()
            .with_digits(Digits::EIGHT)
            .with_algorithm(Algorithm::Sha256);
        let text = uri.to_uri_string();
        assert_eq!(
            text,
            "otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256&digits=8&counter=7"
        );
        assert_eq!(KeyUri::parse(&text).unwrap(), uri);
        assert!(uri.with_period(60).is_err());
    }

    #[test]
    fn malformed_uris_have_typed_errors() {
        let cases: &[(&str, Error)] = &[
            ("http://totp/a?secret=AA", UriError::Scheme.into()),
            ("otpauth:/", UriError::Scheme.into()),
            (
                "otpauth://motp/a?secret=JBSWY3DPEHPK3PXP",
                UriError::Type("motp".into()).into(),
            ),
            (
                "otpauth://totp?secret=JBSWY3DPEHPK3PXP",
                UriError::MissingLabel.into(),
            ),
            (
                "otpauth://totp/?secret=JBSWY3DPEHPK3PXP",
                UriError::MissingLabel.into(),
            ),
            (
                "otpauth://totp/Issuer:?secret=JBSWY3DPEHPK3PXP",
                UriError::MissingLabel.into(),
            ),
            ("otpauth://totp/a", UriError::MissingSecret.into()),
            ("otpauth://totp/a?secret=", UriError::MissingSecret.into()),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
                Error::UnknownAlgorithm("MD5".into()),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=5",
                UriError::InvalidParameter {
                    name: "digits".into(),
                    value: "5".into(),
                }
                .into(),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&period=0",
                UriError::InvalidParameter {
                    name: "period".into(),
                    value: "0".into(),
                }
                .into(),
            ),
            (
                "otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&counter=-1",
                UriError::InvalidParameter {
                    name: "counter".into(),
                    value: "-1".into(),
                }
                .into(),
            ),
            (
                "otpauth://hotp/a?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551616",
                UriError::InvalidParameter {
                    name: "counter".into(),
                    value: "18446744073709551616".into(),
                }
                .into(),
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP",
                UriError::DuplicateParameter("secret".into()).into(),
            ),
            (
                "otpauth://totp/a%ZZ?secret=JBSWY3DPEHPK3PXP",
                UriError::Encoding {
                    part: "label".into(),
                }
                .into(),
            ),
            (
                "otpauth://totp/a%FF?secret=JBSWY3DPEHPK3PXP",
                UriError::Encoding {
                    part: "label".into(),
                }
                .into(),
            ),
            (
                "otpauth://totp/a?secret=JBSW1",
                Error::Base32Character {
                    character: '1',
                    position: 4,
                },
            ),
        ];
        for (uri, expected) in cases {
            assert_eq!(&KeyUri::parse(uri).unwrap_err(), expected, "{uri}");
        }
    }

    #[test]
    fn lenient_where_apps_are() {
        let uri = KeyUri::parse(
            "OTPAUTH://TOTP/Example:alice?SECRET=jbsw%20y3dp%20ehpk%203pxp&image=https%3A%2F%2Fx&period=60#frag",
        )
        .unwrap();
        assert_eq!(uri.secret(), &secret());
        assert_eq!(uri.kind(), OtpKind::Totp { period: 60 });
        assert_eq!(uri.issuer(), Some("Example"));
    }

    #[test]
    fn secret_not_in_debug() {
        let uri = KeyUri::totp(secret(), "a").unwrap();
        assert!(!format!("{uri:?}").contains(B32));
    }
}
