//! The HTTP-Redirect and HTTP-POST bindings: decoding what arrives, encoding what
//! leaves, and the auto-submitting POST form page.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::{DeflateDecoder, DeflateEncoder};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::cert::decode_base64;
use crate::error::{Error, Result};
use crate::sign::{SignatureAlgorithm, Signer, VerifiedSignature, VerifyingKey};

/// Which protocol message a binding carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `SAMLRequest` (AuthnRequest, LogoutRequest).
    Request,
    /// `SAMLResponse` (Response, LogoutResponse).
    Response,
}

impl MessageKind {
    /// The parameter name.
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Request => "SAMLRequest",
            Self::Response => "SAMLResponse",
        }
    }
}

/// Limits on binding input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingLimits {
    /// Longest accepted query string or form value, in bytes.
    pub max_encoded: usize,
    /// Largest accepted message after inflating.
    pub max_inflated: usize,
    /// Longest accepted RelayState in bytes (the bindings specification says 80;
    /// many service providers send more).
    pub max_relay_state: usize,
}

impl Default for BindingLimits {
    fn default() -> Self {
        Self {
            max_encoded: 64 * 1024,
            max_inflated: 256 * 1024,
            max_relay_state: 1024,
        }
    }
}

/// The signature of a Redirect-binding message, with the exact octets it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSignature {
    /// The `SigAlg`.
    pub algorithm: SignatureAlgorithm,
    /// The signed octets: `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they
    /// appeared in the query string.
    pub signed_octets: Vec<u8>,
    /// The decoded `Signature`.
    pub signature: Vec<u8>,
}

/// A message received through the HTTP-Redirect binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMessage {
    /// Request or response.
    pub kind: MessageKind,
    /// The inflated XML.
    pub xml: Vec<u8>,
    /// `RelayState`, decoded, to be returned unchanged.
    pub relay_state: Option<String>,
    /// The query signature, when present.
    pub signature: Option<RedirectSignature>,
}

fn invalid(field: &str, reason: &str) -> Error {
    Error::InvalidValue {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Percent-decodes a query value. With `plus_is_space` a `+` means a space
/// (form encoding); base64 values keep `+`, as spaces cannot occur in them.
fn url_decode(raw: &str, plus_is_space: bool, field: &str) -> Result<String> {
    let replaced;
    let raw = if plus_is_space {
        replaced = raw.replace('+', " ");
        &replaced
    } else {
        raw
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| invalid(field, "percent-encoding is not UTF-8"))
}

fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    DeflateDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| invalid("SAMLRequest", "not valid DEFLATE data"))?;
    if out.len() > limit {
        return Err(Error::TooLarge {
            size: out.len(),
            limit,
        });
    }
    Ok(out)
}

impl RedirectMessage {
    /// Decodes the query string (without `?`) of a Redirect-binding URL.
    ///
    /// Each of `SAMLRequest`/`SAMLResponse`, `RelayState`, `SigAlg` and `Signature`
    /// may appear at most once; other parameters are ignored. The message is
    /// base64-decoded and inflated within the limits. A signature is decoded but not
    /// checked: call [`RedirectMessage::verify`] with the sender's key.
    pub fn decode(query: &str, limits: &BindingLimits) -> Result<Self> {
        if query.len() > limits.max_encoded {
            return Err(Error::TooLarge {
                size: query.len(),
                limit: limits.max_encoded,
            });
        }
        let mut message: Option<(MessageKind, &str)> = None;
        let mut relay: Option<&str> = None;
        let mut sig_alg: Option<&str> = None;
        let mut signature: Option<&str> = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "SAMLRequest" | "SAMLResponse" => {
                    if message.is_some() {
                        return Err(invalid(k, "appears more than once"));
                    }
                    let kind = if k == "SAMLRequest" {
                        MessageKind::Request
                    } else {
                        MessageKind::Response
                    };
                    message = Some((kind, v));
                    continue;
                }
                "RelayState" => &mut relay,
                "SigAlg" => &mut sig_alg,
                "Signature" => &mut signature,
                _ => continue,
            };
            if slot.is_some() {
                return Err(invalid(k, "appears more than once"));
            }
            *slot = Some(v);
        }
        let (kind, raw_message) =
            message.ok_or_else(|| invalid("SAMLRequest", "no SAMLRequest or SAMLResponse"))?;
        let b64 = url_decode(raw_message, false, kind.parameter())?;
        let deflated = decode_base64(&b64, "SAMLRequest")?;
        let xml = inflate(&deflated, limits.max_inflated)?;
        let relay_state = relay
            .map(|r| url_decode(r, true, "RelayState"))
            .transpose()?;
        if let Some(r) = &relay_state
            && r.len() > limits.max_relay_state
        {
            return Err(Error::TooLarge {
                size: r.len(),
                limit: limits.max_relay_state,
            });
        }
        let signature = match (sig_alg, signature) {
            (None, None) => None,
            (Some(alg_raw), Some(sig_raw)) => {
                let alg_uri = url_decode(alg_raw, true, "SigAlg")?;
                let algorithm = SignatureAlgorithm::from_uri(&alg_uri).ok_or_else(|| {
                    Error::AlgorithmNotAllowed {
                        field: "SigAlg",
                        uri: alg_uri.clone(),
                    }
                })?;
                let mut signed = format!("{}={raw_message}", kind.parameter());
                if let Some(r) = relay {
                    signed.push_str("&RelayState=");
                    signed.push_str(r);
                }
                signed.push_str("&SigAlg=");
                signed.push_str(alg_raw);
                Some(RedirectSignature {
                    algorithm,
                    signed_octets: signed.into_bytes(),
                    signature: decode_base64(
                        &url_decode(sig_raw, false, "Signature")?,
                        "Signature",
                    )?,
                })
            }
            _ => {
                return Err(invalid(
                    "Signature",
                    "SigAlg and Signature must come together",
                ));
            }
        };
        Ok(Self {
            kind,
            xml,
            relay_state,
            signature,
        })
    }

    /// Verifies the query signature with the sender's key and returns the proof
    /// (for [`crate::RequestCheck::signature`]). SHA-1 is refused unless
    /// `allow_sha1`. An unsigned message gives [`Error::Unsigned`]; a message without
    /// a root `ID` cannot be named by the proof and is refused too.
    pub fn verify(&self, key: &VerifyingKey, allow_sha1: bool) -> Result<VerifiedSignature> {
        let sig = self.signature.as_ref().ok_or_else(|| Error::Unsigned {
            element: self.kind.parameter().into(),
        })?;
        if sig.algorithm.is_legacy() && !allow_sha1 {
            return Err(Error::AlgorithmNotAllowed {
                field: "SigAlg",
                uri: sig.algorithm.uri().into(),
            });
        }
        key.verify(sig.algorithm, &sig.signed_octets, &sig.signature)?;
        let doc = crate::xml::parse(&self.xml)?;
        let id =
            crate::xsd::attr(&doc, doc.root(), "ID").ok_or_else(|| Error::MissingAttribute {
                element: doc.path(doc.root()),
                attribute: "ID".into(),
            })?;
        Ok(VerifiedSignature::new(id, key.clone()))
    }
}

/// Characters escaped in query values: everything but unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes a message for the HTTP-Redirect binding: returns the query string
/// (without `?`), signed when a signer is given.
pub fn encode_redirect(
    kind: MessageKind,
    xml: &[u8],
    relay_state: Option<&str>,
    signer: Option<&dyn Signer>,
) -> Result<String> {
    let mut deflated = Vec::new();
    DeflateEncoder::new(xml, Compression::default())
        .read_to_end(&mut deflated)
        .map_err(|e| Error::InvalidValue {
            field: kind.parameter().into(),
            reason: format!("deflate failed: {e}"),
        })?;
    let mut q = format!(
        "{}={}",
        kind.parameter(),
        utf8_percent_encode(&STANDARD.encode(deflated), QUERY)
    );
    if let Some(r) = relay_state {
        q.push_str("&RelayState=");
        q.push_str(&utf8_percent_encode(r, QUERY).to_string());
    }
    if let Some(s) = signer {
        q.push_str("&SigAlg=");
        q.push_str(&utf8_percent_encode(s.algorithm().uri(), QUERY).to_string());
        let sig = s.sign(q.as_bytes())?;
        q.push_str("&Signature=");
        q.push_str(&utf8_percent_encode(&STANDARD.encode(sig), QUERY).to_string());
    }
    Ok(q)
}

/// Decodes an HTTP-POST binding form value (`SAMLRequest` or `SAMLResponse`, already
/// form-decoded): base64 with optional line breaks.
pub fn decode_post(value: &str, limits: &BindingLimits) -> Result<Vec<u8>> {
    if value.len() > limits.max_encoded {
        return Err(Error::TooLarge {
            size: value.len(),
            limit: limits.max_encoded,
        });
    }
    decode_base64(value, "SAMLResponse")
}

/// How a message given to [`decode_any`] was carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedMessage {
    /// A Redirect-binding URL or query string (inflated; signature not checked).
    Redirect(RedirectMessage),
    /// A bare base64 value: POST binding (plain XML) or a Redirect value (deflated).
    Value {
        /// The XML.
        xml: Vec<u8>,
        /// `true` when the value was DEFLATE-compressed (a Redirect value).
        deflated: bool,
    },
}

impl DecodedMessage {
    /// The XML of the message.
    pub fn xml(&self) -> &[u8] {
        match self {
            Self::Redirect(m) => &m.xml,
            Self::Value { xml, .. } => xml,
        }
    }
}

/// Decodes whatever an administrator pastes when tracing SSO: a whole Redirect URL,
/// its query string, or a `SAMLRequest`/`SAMLResponse` value (URL-encoded or not,
/// base64 of XML or of deflated XML).
pub fn decode_any(input: &str, limits: &BindingLimits) -> Result<DecodedMessage> {
    let input = input.trim();
    let query = input.split_once('?').map_or(input, |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    if query.contains("SAMLRequest=") || query.contains("SAMLResponse=") {
        return RedirectMessage::decode(query, limits).map(DecodedMessage::Redirect);
    }
    if input.len() > limits.max_encoded {
        return Err(Error::TooLarge {
            size: input.len(),
            limit: limits.max_encoded,
        });
    }
    let value = if input.contains('%') {
        url_decode(input, false, "SAMLResponse")?
    } else {
        input.to_owned()
    };
    let bytes = decode_base64(&value, "SAMLResponse")?;
    if bytes.trim_ascii_start().starts_with(b"<") {
        return Ok(DecodedMessage::Value {
            xml: bytes,
            deflated: false,
        });
    }
    Ok(DecodedMessage::Value {
        xml: inflate(&bytes, limits.max_inflated)?,
        deflated: true,
    })
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The HTTP-POST binding page: a form posting `SAMLResponse` (or `SAMLRequest`) and
/// `RelayState` to `action`, submitted by script on load and by a visible button when
/// scripts are off. Every value is HTML-escaped.
pub fn post_form_html(
    action: &str,
    kind: MessageKind,
    xml: &[u8],
    relay_state: Option<&str>,
) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Signing in</title></head>\n<body onload=\"document.forms[0].submit()\">\n",
    );
    html.push_str("<form method=\"post\" action=\"");
    html.push_str(&html_escape(action));
    html.push_str("\">\n<input type=\"hidden\" name=\"");
    html.push_str(kind.parameter());
    html.push_str("\" value=\"");
    html.push_str(&STANDARD.encode(xml));
    html.push_str("\">\n");
    if let Some(r) = relay_state {
        html.push_str("<input type=\"hidden\" name=\"RelayState\" value=\"");
        html.push_str(&html_escape(r));
        html.push_str("\">\n");
    }
    html.push_str(
        "<noscript><p>Scripts are off: press Continue to finish signing in.</p></noscript>\n<button type=\"submit\">Continue</button>\n</form>\n</body></html>\n",
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::Certificate;
    use crate::sign::RsaSigner;

    const KEY: &str = include_str!("../tests/data/idp-key.pem");
    const CERT: &str = include_str!("../tests/data/idp-cert.pem");

    #[test]
    fn redirect_round_trip_signed() {
        let signer = RsaSigner::from_pem(KEY).unwrap();
        let key = Certificate::from_pem(CERT)
            .unwrap()
            .verifying_key()
            .unwrap();
        let q = encode_redirect(
            MessageKind::Request,
            br#"<m ID="_m1"/>"#,
            Some("state with spaces & = +"),
            Some(&signer),
        )
        .unwrap();
        let m = RedirectMessage::decode(&q, &BindingLimits::default()).unwrap();
        assert_eq!(m.xml, br#"<m ID="_m1"/>"#);
        assert_eq!(m.relay_state.as_deref(), Some("state with spaces & = +"));
        assert_eq!(m.verify(&key, false).unwrap().message_id(), "_m1");
        // Reordering parameters does not change what is verified.
        let mut parts: Vec<&str> = q.split('&').collect();
        parts.reverse();
        let m2 = RedirectMessage::decode(&parts.join("&"), &BindingLimits::default()).unwrap();
        m2.verify(&key, false).unwrap();
        // Changing RelayState breaks the signature.
        let tampered = q.replace("RelayState=state", "RelayState=statf");
        let m3 = RedirectMessage::decode(&tampered, &BindingLimits::default()).unwrap();
        assert_eq!(m3.verify(&key, false), Err(Error::SignatureInvalid));
        // SHA-1 only when allowed.
        let sha1 = RsaSigner::from_pem(KEY).unwrap().into_sha1_legacy();
        let q1 =
            encode_redirect(MessageKind::Request, br#"<a ID="_a"/>"#, None, Some(&sha1)).unwrap();
        let m4 = RedirectMessage::decode(&q1, &BindingLimits::default()).unwrap();
        assert!(matches!(
            m4.verify(&key, false),
            Err(Error::AlgorithmNotAllowed { .. })
        ));
        m4.verify(&key, true).unwrap();
        // The proof names the message: one without an ID gets none.
        let no_id = encode_redirect(MessageKind::Request, b"<a/>", None, Some(&signer)).unwrap();
        let m5 = RedirectMessage::decode(&no_id, &BindingLimits::default()).unwrap();
        assert!(matches!(
            m5.verify(&key, false),
            Err(Error::MissingAttribute { .. })
        ));
    }

    #[test]
    fn redirect_refusals() {
        let l = BindingLimits::default();
        assert!(RedirectMessage::decode("RelayState=x", &l).is_err());
        assert!(RedirectMessage::decode("SAMLRequest=%%%", &l).is_err());
        assert!(RedirectMessage::decode("SAMLRequest=AAAA", &l).is_err());
        let q = encode_redirect(MessageKind::Request, b"<a/>", None, None).unwrap();
        assert!(RedirectMessage::decode(&format!("{q}&{q}"), &l).is_err());
        assert!(RedirectMessage::decode(&format!("{q}&SigAlg=x"), &l).is_err());
        let m = RedirectMessage::decode(&q, &l).unwrap();
        assert!(matches!(
            m.verify(
                &Certificate::from_pem(CERT)
                    .unwrap()
                    .verifying_key()
                    .unwrap(),
                false
            ),
            Err(Error::Unsigned { .. })
        ));
        // A deflate bomb stops at the limit.
        let big = vec![b'a'; 300 * 1024];
        let q = encode_redirect(MessageKind::Request, &big, None, None).unwrap();
        assert!(matches!(
            RedirectMessage::decode(&q, &l),
            Err(Error::TooLarge { .. })
        ));
        let long_relay = "r".repeat(2000);
        let q = encode_redirect(MessageKind::Request, b"<a/>", Some(&long_relay), None).unwrap();
        assert!(matches!(
            RedirectMessage::decode(&q, &l),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn decodes_what_administrators_paste() {
        let l = BindingLimits::default();
        let q = encode_redirect(MessageKind::Request, b"<a/>", Some("rs"), None).unwrap();
        let url = format!("https://idp.example.org/sso?{q}#frag");
        let DecodedMessage::Redirect(m) = decode_any(&url, &l).unwrap() else {
            panic!("expected a Redirect message");
        };
        assert_eq!(m.relay_state.as_deref(), Some("rs"));
        assert_eq!(decode_any(&q, &l).unwrap().xml(), b"<a/>");
        let value = q
            .strip_prefix("SAMLRequest=")
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        assert_eq!(
            decode_any(value, &l).unwrap(),
            DecodedMessage::Value {
                xml: b"<a/>".to_vec(),
                deflated: true
            }
        );
        let post = STANDARD.encode(b"  <samlp:Response/>");
        assert_eq!(
            decode_any(&format!("{post}\n"), &l).unwrap().xml(),
            b"  <samlp:Response/>"
        );
        assert!(decode_any("not base64!", &l).is_err());
    }

    #[test]
    fn post_form_escapes() {
        let html = post_form_html(
            "https://sp.example/acs?a=1&b=\"2\"",
            MessageKind::Response,
            b"<x/>",
            Some("<script>alert(1)</script>"),
        );
        assert!(html.contains("action=\"https://sp.example/acs?a=1&amp;b=&quot;2&quot;\""));
        assert!(html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(!html.contains("<script>"));
        assert!(html.contains("<button type=\"submit\">"));
        assert!(html.contains(&STANDARD.encode(b"<x/>")));
        assert_eq!(
            decode_post(&STANDARD.encode(b"<x/>"), &BindingLimits::default()).unwrap(),
            b"<x/>"
        );
    }
}
