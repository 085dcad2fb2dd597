//! LDAPv3 messages (RFC 4511 §4) that a directory login needs: Bind, Unbind, Search (request,
//! entry, reference, done) and Extended (StartTLS, RFC 4532 "Who am I?"), with controls kept as
//! they came. Encoding is infallible; decoding checks every length and tag and never panics.

use crate::ber::{
    BerError, DEFAULT_MAX_MESSAGE_SIZE, Reader, push_boolean, push_constructed, push_integer,
    push_primitive, tag,
};
use crate::filter::{Attribute, Filter, MAX_FILTER_DEPTH, Substrings, is_valid_oid};
use crate::password::Password;

/// OID of the StartTLS extended operation (RFC 4511 §4.14).
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
/// OID of the "Who am I?" extended operation (RFC 4532).
pub const OID_WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
/// OID of the Notice of Disconnection unsolicited notification (RFC 4511 §4.4.1).
pub const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";

/// Largest message ID (RFC 4511 `maxInt`).
pub const MAX_MESSAGE_ID: i32 = i32::MAX;

const APP_BIND_REQUEST: u8 = 0x60;
const APP_BIND_RESPONSE: u8 = 0x61;
const APP_UNBIND_REQUEST: u8 = 0x42;
const APP_SEARCH_REQUEST: u8 = 0x63;
const APP_SEARCH_ENTRY: u8 = 0x64;
const APP_SEARCH_DONE: u8 = 0x65;
const APP_SEARCH_REFERENCE: u8 = 0x73;
const APP_EXTENDED_REQUEST: u8 = 0x77;
const APP_EXTENDED_RESPONSE: u8 = 0x78;
const CTX_CONTROLS: u8 = 0xa0;
const CTX_REFERRAL: u8 = 0xa3;

/// An LDAP result code (RFC 4511 §4.1.9). Unknown codes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResultCode(pub u32);

#[allow(missing_docs)]
impl ResultCode {
    pub const SUCCESS: Self = Self(0);
    pub const OPERATIONS_ERROR: Self = Self(1);
    pub const PROTOCOL_ERROR: Self = Self(2);
    pub const TIME_LIMIT_EXCEEDED: Self = Self(3);
    pub const SIZE_LIMIT_EXCEEDED: Self = Self(4);
    pub const AUTH_METHOD_NOT_SUPPORTED: Self = Self(7);
    pub const STRONGER_AUTH_REQUIRED: Self = Self(8);
    pub const REFERRAL: Self = Self(10);
    pub const ADMIN_LIMIT_EXCEEDED: Self = Self(11);
    pub const CONFIDENTIALITY_REQUIRED: Self = Self(13);
    pub const NO_SUCH_OBJECT: Self = Self(32);
    pub const INVALID_DN_SYNTAX: Self = Self(34);
    pub const INAPPROPRIATE_AUTHENTICATION: Self = Self(48);
    pub const INVALID_CREDENTIALS: Self = Self(49);
    pub const INSUFFICIENT_ACCESS_RIGHTS: Self = Self(50);
    pub const BUSY: Self = Self(51);
    pub const UNAVAILABLE: Self = Self(52);
    pub const UNWILLING_TO_PERFORM: Self = Self(53);
    pub const OTHER: Self = Self(80);
}

impl From<u32> for ResultCode {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

/// The common result part of responses (RFC 4511 §4.1.9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LdapResult {
    /// Result code.
    pub code: ResultCode,
    /// matchedDN.
    pub matched_dn: String,
    /// diagnosticMessage (Active Directory puts its sub-codes here).
    pub diagnostic: String,
    /// Referral URIs, if the code is `referral`.
    pub referral: Vec<String>,
}

impl Default for ResultCode {
    fn default() -> Self {
        Self::SUCCESS
    }
}

/// A request or response control (RFC 4511 §4.1.11), passed through untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// controlType.
    pub oid: String,
    /// criticality.
    pub critical: bool,
    /// controlValue.
    pub value: Option<Vec<u8>>,
}

/// How a bind authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindAuthentication {
    /// Simple (name and password).
    Simple(Password),
    /// SASL (decoded for completeness; the login flow does not use it).
    Sasl {
        /// Mechanism name.
        mechanism: String,
        /// Credentials.
        credentials: Option<Vec<u8>>,
    },
}

/// BindRequest (RFC 4511 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    /// Protocol version (3).
    pub version: u8,
    /// The DN to bind as (empty for anonymous).
    pub name: String,
    /// Credentials.
    pub authentication: BindAuthentication,
}

/// BindResponse (RFC 4511 §4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindResponse {
    /// Result.
    pub result: LdapResult,
    /// serverSaslCreds.
    pub server_sasl_creds: Option<Vec<u8>>,
}

/// Search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// The base object only.
    Base = 0,
    /// Its immediate children.
    OneLevel = 1,
    /// The base and everything below.
    Subtree = 2,
}

/// Alias dereferencing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DerefAliases {
    /// Never.
    Never = 0,
    /// While searching below the base.
    InSearching = 1,
    /// When locating the base.
    FindingBase = 2,
    /// Always.
    Always = 3,
}

/// SearchRequest (RFC 4511 §4.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// baseObject.
    pub base: String,
    /// scope.
    pub scope: Scope,
    /// derefAliases.
    pub deref: DerefAliases,
    /// sizeLimit (0: none).
    pub size_limit: i32,
    /// timeLimit in seconds (0: none).
    pub time_limit: i32,
    /// typesOnly.
    pub types_only: bool,
    /// filter.
    pub filter: Filter,
    /// Attributes to return.
    pub attributes: Vec<String>,
}

/// An attribute with its values, as returned in an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialAttribute {
    /// Attribute description.
    pub name: String,
    /// Values (kept in order; multi-valued attributes keep every value).
    pub values: Vec<Vec<u8>>,
}

/// SearchResultEntry (RFC 4511 §4.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResultEntry {
    /// objectName.
    pub dn: String,
    /// attributes.
    pub attributes: Vec<PartialAttribute>,
}

impl SearchResultEntry {
    /// The values of `name` (matched case-insensitively), or an empty slice.
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map_or(&[], |a| &a.values)
    }
}

/// ExtendedRequest (RFC 4511 §4.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedRequest {
    /// requestName (an OID).
    pub name: String,
    /// requestValue.
    pub value: Option<Vec<u8>>,
}

/// ExtendedResponse (RFC 4511 §4.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedResponse {
    /// Result.
    pub result: LdapResult,
    /// responseName.
    pub name: Option<String>,
    /// responseValue (for "Who am I?": the authzId, `dn:…` or `u:…`).
    pub value: Option<Vec<u8>>,
}

/// The operation a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolOp {
    /// BindRequest.
    BindRequest(BindRequest),
    /// BindResponse.
    BindResponse(BindResponse),
    /// UnbindRequest.
    UnbindRequest,
    /// SearchRequest.
    SearchRequest(SearchRequest),
    /// SearchResultEntry.
    SearchResultEntry(SearchResultEntry),
    /// SearchResultReference: continuation URIs.
    SearchResultReference(Vec<String>),
    /// SearchResultDone.
    SearchResultDone(LdapResult),
    /// ExtendedRequest.
    ExtendedRequest(ExtendedRequest),
    /// ExtendedResponse.
    ExtendedResponse(ExtendedResponse),
    /// Any other operation, kept as its tag and raw contents.
    Other {
        /// The BER tag octet.
        tag: u8,
        /// The contents.
        content: Vec<u8>,
    },
}

/// An LDAPMessage envelope (RFC 4511 §4.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapMessage {
    /// messageID (0 only for unsolicited notifications).
    pub id: i32,
    /// The operation.
    pub op: ProtocolOp,
    /// Controls.
    pub controls: Vec<Control>,
}

impl LdapMessage {
    /// A message without controls.
    pub fn new(id: i32, op: ProtocolOp) -> Self {
        Self {
            id,
            op,
            controls: Vec::new(),
        }
    }

    /// Decodes exactly one message from `input`, which must hold nothing else.
    pub fn decode(input: &[u8]) -> Result<Self, BerError> {
        Self::decode_with_limit(input, DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// Like [`LdapMessage::decode`] with a size limit in bytes.
    pub fn decode_with_limit(input: &[u8], max_size: usize) -> Result<Self, BerError> {
        if input.len() > max_size {
            return Err(BerError::TooLarge {
                offset: 0,
                length: input.len(),
                limit: max_size,
            });
        }
        let mut top = Reader::new(input);
        let mut msg = top.expect(tag::SEQUENCE, "LDAPMessage")?;
        top.finish()?;
        let id_at = msg.offset();
        let id = msg.integer(tag::INTEGER, "messageID")?;
        let id = i32::try_from(id)
            .ok()
            .filter(|v| *v >= 0)
            .ok_or(BerError::InvalidInteger { offset: id_at })?;
        let (op_tag, body) = msg.any()?;
        let op = decode_op(op_tag, body)?;
        let mut controls = Vec::new();
        if let Some(mut list) = msg.optional(CTX_CONTROLS)? {
            while !list.is_empty() {
                let mut c = list.expect(tag::SEQUENCE, "Control")?;
                let oid = c.string(tag::OCTET_STRING, "controlType")?;
                let critical = if c.peek_tag() == Some(tag::BOOLEAN) {
                    c.boolean(tag::BOOLEAN, "criticality")?
                } else {
                    false
                };
                let value = c.optional(tag::OCTET_STRING)?.map(|r| r.bytes().to_vec());
                c.finish()?;
                controls.push(Control {
                    oid,
                    critical,
                    value,
                });
            }
        }
        msg.finish()?;
        Ok(Self { id, op, controls })
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        push_constructed(out, tag::SEQUENCE, |o| {
            push_integer(o, tag::INTEGER, i64::from(self.id));
            encode_op(&self.op, o);
            if !self.controls.is_empty() {
                push_constructed(o, CTX_CONTROLS, |o| {
                    for c in &self.controls {
                        push_constructed(o, tag::SEQUENCE, |o| {
                            push_primitive(o, tag::OCTET_STRING, c.oid.as_bytes());
                            if c.critical {
                                push_boolean(o, tag::BOOLEAN, true);
                            }
                            if let Some(v) = &c.value {
                                push_primitive(o, tag::OCTET_STRING, v);
                            }
                        });
                    }
                });
            }
        });
    }
}

fn decode_result(r: &mut Reader<'_>) -> Result<LdapResult, BerError> {
    let at = r.offset();
    let code = r.integer(tag::ENUMERATED, "resultCode")?;
    let code = u32::try_from(code).map_err(|_| BerError::InvalidEnum {
        offset: at,
        field: "resultCode",
        value: code,
    })?;
    let matched_dn = r.string(tag::OCTET_STRING, "matchedDN")?;
    let diagnostic = r.string(tag::OCTET_STRING, "diagnosticMessage")?;
    let mut referral = Vec::new();
    if let Some(mut list) = r.optional(CTX_REFERRAL)? {
        while !list.is_empty() {
            referral.push(list.string(tag::OCTET_STRING, "referral URI")?);
        }
    }
    Ok(LdapResult {
        code: ResultCode(code),
        matched_dn,
        diagnostic,
        referral,
    })
}

fn encode_result(res: &LdapResult, o: &mut Vec<u8>) {
    push_integer(o, tag::ENUMERATED, i64::from(res.code.0));
    push_primitive(o, tag::OCTET_STRING, res.matched_dn.as_bytes());
    push_primitive(o, tag::OCTET_STRING, res.diagnostic.as_bytes());
    if !res.referral.is_empty() {
        push_constructed(o, CTX_REFERRAL, |o| {
            for uri in &res.referral {
                push_primitive(o, tag::OCTET_STRING, uri.as_bytes());
            }
        });
    }
}

fn enum_value(r: &mut Reader<'_>, field: &'static str, max: i64) -> Result<i64, BerError> {
    let offset = r.offset();
    let v = r.integer(tag::ENUMERATED, field)?;
    if (0..=max).contains(&v) {
        Ok(v)
    } else {
        Err(BerError::InvalidEnum {
            offset,
            field,
            value: v,
        })
    }
}

fn int32(r: &mut Reader<'_>, field: &'static str) -> Result<i32, BerError> {
    let offset = r.offset();
    let v = r.integer(tag::INTEGER, field)?;
    i32::try_from(v)
        .ok()
        .filter(|v| *v >= 0)
        .ok_or(BerError::InvalidInteger { offset })
}

fn decode_op(op_tag: u8, mut r: Reader<'_>) -> Result<ProtocolOp, BerError> {
    let op = match op_tag {
        APP_BIND_REQUEST => {
            let at = r.offset();
            let version = r.integer(tag::INTEGER, "version")?;
            let version = u8::try_from(version)
                .ok()
                .filter(|v| (1..=127).contains(v))
                .ok_or(BerError::InvalidInteger { offset: at })?;
            let name = r.string(tag::OCTET_STRING, "bind name")?;
            let offset = r.offset();
            let authentication = match r.any()? {
                (0x80, p) => BindAuthentication::Simple(Password::new(p.bytes())),
                (0xa3, mut s) => {
                    let mechanism = s.string(tag::OCTET_STRING, "SASL mechanism")?;
                    let credentials = s.optional(tag::OCTET_STRING)?.map(|c| c.bytes().to_vec());
                    s.finish()?;
                    BindAuthentication::Sasl {
                        mechanism,
                        credentials,
                    }
                }
                (found, _) => {
                    return Err(BerError::UnexpectedTag {
                        offset,
                        found,
                        expected: "simple or sasl authentication",
                    });
                }
            };
            ProtocolOp::BindRequest(BindRequest {
                version,
                name,
                authentication,
            })
        }
        APP_BIND_RESPONSE => {
            let result = decode_result(&mut r)?;
            let server_sasl_creds = r.optional(0x87)?.map(|c| c.bytes().to_vec());
            ProtocolOp::BindResponse(BindResponse {
                result,
                server_sasl_creds,
            })
        }
        APP_UNBIND_REQUEST => ProtocolOp::UnbindRequest,
        APP_SEARCH_REQUEST => {
            let base = r.string(tag::OCTET_STRING, "baseObject")?;
            let scope = match enum_value(&mut r, "scope", 2)? {
                0 => Scope::Base,
                1 => Scope::OneLevel,
                _ => Scope::Subtree,
            };
            let deref = match enum_value(&mut r, "derefAliases", 3)? {
                0 => DerefAliases::Never,
                1 => DerefAliases::InSearching,
                2 => DerefAliases::FindingBase,
                _ => DerefAliases::Always,
            };
            let size_limit = int32(&mut r, "sizeLimit")?;
            let time_limit = int32(&mut r, "timeLimit")?;
            let types_only = r.boolean(tag::BOOLEAN, "typesOnly")?;
            let (ftag, fbody) = r.any()?;
            let filter = decode_filter(ftag, fbody, 0)?;
            let mut list = r.expect(tag::SEQUENCE, "attributes")?;
            let mut attributes = Vec::new();
            while !list.is_empty() {
                attributes.push(list.string(tag::OCTET_STRING, "attribute selector")?);
            }
            ProtocolOp::SearchRequest(SearchRequest {
                base,
                scope,
                deref,
                size_limit,
                time_limit,
                types_only,
                filter,
                attributes,
            })
        }
        APP_SEARCH_ENTRY => {
            let dn = r.string(tag::OCTET_STRING, "objectName")?;
            let mut list = r.expect(tag::SEQUENCE, "attributes")?;
            let mut attributes = Vec::new();
            while !list.is_empty() {
                let mut a = list.expect(tag::SEQUENCE, "PartialAttribute")?;
                let name = a.string(tag::OCTET_STRING, "attribute type")?;
                let mut set = a.expect(tag::SET, "vals")?;
                a.finish()?;
                let mut values = Vec::new();
                while !set.is_empty() {
                    values.push(set.octets(tag::OCTET_STRING, "attribute value")?.to_vec());
                }
                attributes.push(PartialAttribute { name, values });
            }
            ProtocolOp::SearchResultEntry(SearchResultEntry { dn, attributes })
        }
        APP_SEARCH_DONE => ProtocolOp::SearchResultDone(decode_result(&mut r)?),
        APP_SEARCH_REFERENCE => {
            let mut uris = Vec::new();
            while !r.is_empty() {
                uris.push(r.string(tag::OCTET_STRING, "reference URI")?);
            }
            ProtocolOp::SearchResultReference(uris)
        }
        APP_EXTENDED_REQUEST => {
            let name = r.string(0x80, "requestName")?;
            let value = r.optional(0x81)?.map(|v| v.bytes().to_vec());
            ProtocolOp::ExtendedRequest(ExtendedRequest { name, value })
        }
        APP_EXTENDED_RESPONSE => {
            let result = decode_result(&mut r)?;
            let name = match r.optional(0x8a)? {
                Some(n) => Some(n.as_string("responseName")?),
                None => None,
            };
            let value = r.optional(0x8b)?.map(|v| v.bytes().to_vec());
            ProtocolOp::ExtendedResponse(ExtendedResponse {
                result,
                name,
                value,
            })
        }
        other => {
            let content = r.rest().to_vec();
            return Ok(ProtocolOp::Other {
                tag: other,
                content,
            });
        }
    };
    r.finish()?;
    Ok(op)
}

fn encode_op(op: &ProtocolOp, o: &mut Vec<u8>) {
    match op {
        ProtocolOp::BindRequest(b) => push_constructed(o, APP_BIND_REQUEST, |o| {
            push_integer(o, tag::INTEGER, i64::from(b.version));
            push_primitive(o, tag::OCTET_STRING, b.name.as_bytes());
            match &b.authentication {
                BindAuthentication::Simple(p) => push_primitive(o, 0x80, p.expose()),
                BindAuthentication::Sasl {
                    mechanism,
                    credentials,
                } => push_constructed(o, 0xa3, |o| {
                    push_primitive(o, tag::OCTET_STRING, mechanism.as_bytes());
                    if let Some(c) = credentials {
                        push_primitive(o, tag::OCTET_STRING, c);
                    }
                }),
            }
        }),
        ProtocolOp::BindResponse(b) => push_constructed(o, APP_BIND_RESPONSE, |o| {
            encode_result(&b.result, o);
            if let Some(c) = &b.server_sasl_creds {
                push_primitive(o, 0x87, c);
            }
        }),
        ProtocolOp::UnbindRequest => push_primitive(o, APP_UNBIND_REQUEST, &[]),
        ProtocolOp::SearchRequest(s) => push_constructed(o, APP_SEARCH_REQUEST, |o| {
            push_primitive(o, tag::OCTET_STRING, s.base.as_bytes());
            push_integer(o, tag::ENUMERATED, s.scope as i64);
            push_integer(o, tag::ENUMERATED, s.deref as i64);
            push_integer(o, tag::INTEGER, i64::from(s.size_limit));
            push_integer(o, tag::INTEGER, i64::from(s.time_limit));
            push_boolean(o, tag::BOOLEAN, s.types_only);
            encode_filter(&s.filter, o);
            push_constructed(o, tag::SEQUENCE, |o| {
                for a in &s.attributes {
                    push_primitive(o, tag::OCTET_STRING, a.as_bytes());
                }
            });
        }),
        ProtocolOp::SearchResultEntry(e) => push_constructed(o, APP_SEARCH_ENTRY, |o| {
            push_primitive(o, tag::OCTET_STRING, e.dn.as_bytes());
            push_constructed(o, tag::SEQUENCE, |o| {
                for a in &e.attributes {
                    push_constructed(o, tag::SEQUENCE, |o| {
                        push_primitive(o, tag::OCTET_STRING, a.name.as_bytes());
                        push_constructed(o, tag::SET, |o| {
                            for v in &a.values {
                                push_primitive(o, tag::OCTET_STRING, v);
                            }
                        });
                    });
                }
            });
        }),
        ProtocolOp::SearchResultDone(r) => {
            push_constructed(o, APP_SEARCH_DONE, |o| encode_result(r, o));
        }
        ProtocolOp::SearchResultReference(uris) => {
            push_constructed(o, APP_SEARCH_REFERENCE, |o| {
                for u in uris {
                    push_primitive(o, tag::OCTET_STRING, u.as_bytes());
                }
            });
        }
        ProtocolOp::ExtendedRequest(e) => push_constructed(o, APP_EXTENDED_REQUEST, |o| {
            push_primitive(o, 0x80, e.name.as_bytes());
            if let Some(v) = &e.value {
                push_primitive(o, 0x81, v);
            }
        }),
        ProtocolOp::ExtendedResponse(e) => push_constructed(o, APP_EXTENDED_RESPONSE, |o| {
            encode_result(&e.result, o);
            if let Some(n) = &e.name {
                push_primitive(o, 0x8a, n.as_bytes());
            }
            if let Some(v) = &e.value {
                push_primitive(o, 0x8b, v);
            }
        }),
        ProtocolOp::Other { tag, content } => push_primitive(o, *tag, content),
    }
}

/// Encodes a filter as BER (RFC 4511 §4.5.1.7).
pub fn encode_filter(f: &Filter, o: &mut Vec<u8>) {
    match f {
        Filter::And(list) => push_constructed(o, 0xa0, |o| {
            for g in list {
                encode_filter(g, o);
            }
        }),
        Filter::Or(list) => push_constructed(o, 0xa1, |o| {
            for g in list {
                encode_filter(g, o);
            }
        }),
        Filter::Not(inner) => push_constructed(o, 0xa2, |o| encode_filter(inner, o)),
        Filter::Equality(a, v) => encode_ava(o, 0xa3, a, v),
        Filter::Substrings(a, s) => push_constructed(o, 0xa4, |o| {
            push_primitive(o, tag::OCTET_STRING, a.as_str().as_bytes());
            push_constructed(o, tag::SEQUENCE, |o| {
                if let Some(v) = &s.initial {
                    push_primitive(o, 0x80, v);
                }
                for v in &s.any {
                    push_primitive(o, 0x81, v);
                }
                if let Some(v) = &s.final_ {
                    push_primitive(o, 0x82, v);
                }
            });
        }),
        Filter::GreaterOrEqual(a, v) => encode_ava(o, 0xa5, a, v),
        Filter::LessOrEqual(a, v) => encode_ava(o, 0xa6, a, v),
        Filter::Present(a) => push_primitive(o, 0x87, a.as_str().as_bytes()),
        Filter::Approx(a, v) => encode_ava(o, 0xa8, a, v),
        Filter::Extensible {
            rule,
            attribute,
            value,
            dn_attributes,
        } => push_constructed(o, 0xa9, |o| {
            if let Some(r) = rule {
                push_primitive(o, 0x81, r.as_bytes());
            }
            if let Some(a) = attribute {
                push_primitive(o, 0x82, a.as_str().as_bytes());
            }
            push_primitive(o, 0x83, value);
            if *dn_attributes {
                push_boolean(o, 0x84, true);
            }
        }),
    }
}

fn encode_ava(o: &mut Vec<u8>, t: u8, a: &Attribute, v: &[u8]) {
    push_constructed(o, t, |o| {
        push_primitive(o, tag::OCTET_STRING, a.as_str().as_bytes());
        push_primitive(o, tag::OCTET_STRING, v);
    });
}

fn attribute_of(r: &Reader<'_>) -> Result<Attribute, BerError> {
    let s = r.as_string("attribute description")?;
    Attribute::new(&s).map_err(|_| BerError::InvalidField {
        offset: r.offset(),
        field: "attribute description",
    })
}

fn decode_ava(mut r: Reader<'_>) -> Result<(Attribute, Vec<u8>), BerError> {
    let a = r.expect(tag::OCTET_STRING, "attributeDesc")?;
    let attribute = attribute_of(&a)?;
    let value = r.octets(tag::OCTET_STRING, "assertionValue")?.to_vec();
    r.finish()?;
    Ok((attribute, value))
}

/// Decodes a BER filter element with tag `t` and contents `r`.
fn decode_filter(t: u8, mut r: Reader<'_>, depth: usize) -> Result<Filter, BerError> {
    let offset = r.offset();
    if depth >= MAX_FILTER_DEPTH {
        return Err(BerError::TooDeep { offset });
    }
    Ok(match t {
        0xa0 | 0xa1 => {
            let mut list = Vec::new();
            while !r.is_empty() {
                let (t2, inner) = r.any()?;
                list.push(decode_filter(t2, inner, depth + 1)?);
            }
            if t == 0xa0 {
                Filter::And(list)
            } else {
                Filter::Or(list)
            }
        }
        0xa2 => {
            let (t2, inner) = r.any()?;
            r.finish()?;
            Filter::Not(Box::new(decode_filter(t2, inner, depth + 1)?))
        }
        0xa3 => {
            let (a, v) = decode_ava(r)?;
            Filter::Equality(a, v)
        }
        0xa5 => {
            let (a, v) = decode_ava(r)?;
            Filter::GreaterOrEqual(a, v)
        }
        0xa6 => {
            let (a, v) = decode_ava(r)?;
            Filter::LessOrEqual(a, v)
        }
        0xa8 => {
            let (a, v) = decode_ava(r)?;
            Filter::Approx(a, v)
        }
        0x87 => Filter::Present(attribute_of(&r)?),
        0xa4 => {
            let a = r.expect(tag::OCTET_STRING, "substrings type")?;
            let attribute = attribute_of(&a)?;
            let mut seq = r.expect(tag::SEQUENCE, "substrings")?;
            r.finish()?;
            let mut subs = Substrings::default();
            let mut count = 0;
            while !seq.is_empty() {
                let at = seq.offset();
                let (t2, v) = seq.any()?;
                let bad = BerError::InvalidField {
                    offset: at,
                    field: "substrings order",
                };
                match t2 {
                    0x80 if count == 0 => subs.initial = Some(v.bytes().to_vec()),
                    0x81 if subs.final_.is_none() => subs.any.push(v.bytes().to_vec()),
                    0x82 if subs.final_.is_none() => subs.final_ = Some(v.bytes().to_vec()),
                    0x80..=0x82 => return Err(bad),
                    found => {
                        return Err(BerError::UnexpectedTag {
                            offset: at,
                            found,
                            expected: "initial, any or final",
                        });
                    }
                }
                count += 1;
            }
            if count == 0 {
                return Err(BerError::InvalidField {
                    offset,
                    field: "substrings (empty)",
                });
            }
            Filter::Substrings(attribute, subs)
        }
        0xa9 => {
            let rule = match r.optional(0x81)? {
                Some(x) => {
                    let s = x.as_string("matchingRule")?;
                    if !is_valid_oid(&s) {
                        return Err(BerError::InvalidField {
                            offset: x.offset(),
                            field: "matchingRule",
                        });
                    }
                    Some(s)
                }
                None => None,
            };
            let attribute = match r.optional(0x82)? {
                Some(x) => Some(attribute_of(&x)?),
                None => None,
            };
            let value = r.octets(0x83, "matchValue")?.to_vec();
            let dn_attributes = match r.optional(0x84)? {
                Some(b) => b.as_boolean()?,
                None => false,
            };
            r.finish()?;
            if rule.is_none() && attribute.is_none() {
                return Err(BerError::InvalidField {
                    offset,
                    field: "extensible match without rule or type",
                });
            }
            Filter::Extensible {
                rule,
                attribute,
                value,
                dn_attributes,
            }
        }
        found => {
            return Err(BerError::UnexpectedTag {
                offset,
                found,
                expected: "filter",
            });
        }
    })
}

/// Decodes one BER-encoded filter (the whole input).
pub fn decode_filter_bytes(input: &[u8]) -> Result<Filter, BerError> {
    let mut r = Reader::new(input);
    let (t, body) = r.any()?;
    r.finish()?;
    decode_filter(t, body, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: &LdapMessage) -> Vec<u8> {
        let bytes = m.encode();
        assert_eq!(&LdapMessage::decode(&bytes).unwrap(), m);
        bytes
    }

    #[test]
    fn bind_request_matches_rfc_layout() {
        let m = LdapMessage::new(
            1,
            ProtocolOp::BindRequest(BindRequest {
                version: 3,
                name: "cn=a".into(),
                authentication: BindAuthentication::Simple(Password::from("pw")),
            }),
        );
        let bytes = round_trip(&m);
        assert_eq!(
            bytes,
            [
                0x30, 0x12, 0x02, 0x01, 0x01, 0x60, 0x0d, 0x02, 0x01, 0x03, 0x04, 0x04, b'c', b'n',
                b'=', b'a', 0x80, 0x02, b'p', b'w'
            ]
        );
    }

    #[test]
    fn every_op_round_trips_with_controls() {
        let result = LdapResult {
            code: ResultCode::REFERRAL,
            matched_dn: "dc=x".into(),
            diagnostic: "see".into(),
            referral: vec!["ldap://other/".into()],
        };
        let ops = vec![
            ProtocolOp::BindResponse(BindResponse {
                result: result.clone(),
                server_sasl_creds: Some(vec![1, 2]),
            }),
            ProtocolOp::UnbindRequest,
            ProtocolOp::SearchRequest(SearchRequest {
                base: "dc=x".into(),
                scope: Scope::Subtree,
                deref: DerefAliases::Never,
                size_limit: 2,
                time_limit: 10,
                types_only: false,
                filter: Filter::parse(
                    "(&(uid=a*b*c)(!(cn~=x))(|(n>=1)(n<=2)(o=*))(member:dn:1.2.840.113556.1.4.1941:=cn=g))",
                )
                .unwrap(),
                attributes: vec!["cn".into(), "memberOf".into()],
            }),
            ProtocolOp::SearchResultEntry(SearchResultEntry {
                dn: "uid=a,dc=x".into(),
                attributes: vec![PartialAttribute {
                    name: "mail".into(),
                    values: vec![b"a@x".to_vec(), b"b@x".to_vec()],
                }],
            }),
            ProtocolOp::SearchResultReference(vec!["ldap://h/dc=y".into()]),
            ProtocolOp::SearchResultDone(result.clone()),
            ProtocolOp::ExtendedRequest(ExtendedRequest {
                name: OID_WHO_AM_I.into(),
                value: None,
            }),
            ProtocolOp::ExtendedResponse(ExtendedResponse {
                result,
                name: Some(OID_START_TLS.into()),
                value: Some(b"dn:uid=a".to_vec()),
            }),
            ProtocolOp::Other {
                tag: 0x4a,
                content: b"cn=x".to_vec(),
            },
        ];
        for op in ops {
            let mut m = LdapMessage::new(300, op);
            m.controls.push(Control {
                oid: "1.2.840.113556.1.4.319".into(),
                critical: true,
                value: Some(vec![0x30, 0x00]),
            });
            m.controls.push(Control {
                oid: "2.16.840.1.113730.3.4.2".into(),
                critical: false,
                value: None,
            });
            round_trip(&m);
        }
    }

    #[test]
    fn rejects_malformed_messages() {
        // messageID negative
        assert!(matches!(
            LdapMessage::decode(&[0x30, 0x05, 0x02, 0x01, 0xff, 0x42, 0x00]),
            Err(BerError::InvalidInteger { offset: 2 })
        ));
        // trailing byte after the message
        assert!(matches!(
            LdapMessage::decode(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x42, 0x00, 0x00]),
            Err(BerError::TrailingBytes { offset: 7 })
        ));
        // size limit
        assert!(matches!(
            LdapMessage::decode_with_limit(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x42, 0x00], 4),
            Err(BerError::TooLarge { .. })
        ));
        // a deeply nested filter
        let mut f = Filter::present(Attribute::new("a").unwrap());
        for _ in 0..40 {
            f = Filter::not(f);
        }
        let mut bytes = Vec::new();
        encode_filter(&f, &mut bytes);
        assert!(matches!(
            decode_filter_bytes(&bytes),
            Err(BerError::TooDeep { .. })
        ));
        // invalid attribute description smuggled in BER
        assert!(matches!(
            decode_filter_bytes(&[0x87, 0x03, b'a', b'=', b'b']),
            Err(BerError::InvalidField { .. })
        ));
    }
}
