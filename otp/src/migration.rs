//! Import of Google Authenticator exports: `otpauth-migration://offline?data=…`.
//!
//! "Transfer accounts" in Google Authenticator shows one or more QR codes, each holding a
//! URI whose `data` parameter is the base64 (standard alphabet, percent-encoded in the URI)
//! of a protobuf message:
//!
//! ```text
//! MigrationPayload { repeated OtpParameters otp_parameters = 1; int32 version = 2;
//!                    int32 batch_size = 3; int32 batch_index = 4; int32 batch_id = 5; }
//! OtpParameters    { bytes secret = 1; string name = 2; string issuer = 3;
//!                    Algorithm algorithm = 4;  // 0 unspecified, 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5
//!                    DigitCount digits = 5;    // 0 unspecified, 1 six, 2 eight
//!                    OtpType type = 6;         // 0 unspecified, 1 HOTP, 2 TOTP
//!                    int64 counter = 7; }
//! ```
//!
//! [`parse_migration_uri`] reads it into [`KeyUri`] values. The protobuf reader here knows
//! only varints and length-delimited fields, skips unknown fields of every wire type, checks
//! every length against what is left, and never panics. A payload that does not decode is
//! refused as a whole ([`MigrationError`]); an account that decodes but cannot be imported
//! (MD5, an unknown type, an empty secret) is reported on its own ([`RefusedEntry`]), and the
//! other accounts are still imported.
//!
//! ```
//! use idforge_otp::migration::parse_migration_uri;
//!
//! // One TOTP account "Example:alice@google.com", issuer "Example", secret JBSWY3DPEHPK3PXP.
//! let batch = parse_migration_uri(
//!     "otpauth-migration://offline?data=CjUKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZSABKAEwAhABGAEowPr0%2BgM%3D",
//! )?;
//! let uris: Vec<String> = batch.key_uris().map(|u| u.to_uri_string()).collect();
//! assert_eq!(
//!     uris,
//!     ["otpauth://totp/Example:alice%40google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"]
//! );
//! assert_eq!((batch.batch_index(), batch.batch_size()), (0, 1));
//! # Ok::<(), idforge_otp::MigrationError>(())
//! ```

use core::fmt;

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use crate::{
    Algorithm, Digits, Error, KeyUri, MigrationEntryError, MigrationError, Secret, UriError,
};

/// The longest `otpauth-migration://` URI read, in bytes. A QR code holds at most 2953 bytes;
/// the limit leaves room for URIs pasted from elsewhere and bounds the work per call.
pub const MAX_MIGRATION_URI_LEN: usize = 16 * 1024;

/// How deeply unknown protobuf groups (a deprecated wire format) may nest before the payload
/// is refused.
pub const MAX_GROUP_DEPTH: usize = 32;

/// The accounts of one export QR code, in the order of the export, and its place in the
/// batch of QR codes the app showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationBatch {
    entries: Vec<Result<KeyUri, RefusedEntry>>,
    version: i32,
    batch_size: i32,
    batch_index: i32,
    batch_id: i32,
}

impl MigrationBatch {
    /// Every account, imported or refused, in the order of the export.
    pub fn entries(&self) -> &[Result<KeyUri, RefusedEntry>] {
        &self.entries
    }

    /// Every account, imported or refused, in the order of the export.
    pub fn into_entries(self) -> Vec<Result<KeyUri, RefusedEntry>> {
        self.entries
    }

    /// The accounts that were imported.
    pub fn key_uris(&self) -> impl Iterator<Item = &KeyUri> {
        self.entries.iter().filter_map(|e| e.as_ref().ok())
    }

    /// The accounts that could not be imported, and why.
    pub fn refused(&self) -> impl Iterator<Item = &RefusedEntry> {
        self.entries.iter().filter_map(|e| e.as_ref().err())
    }

    /// The payload format version (1 in the exports seen so far; 0 when absent).
    pub fn version(&self) -> i32 {
        self.version
    }

    /// How many QR codes the export has.
    pub fn batch_size(&self) -> i32 {
        self.batch_size
    }

    /// Which of them this is, from 0.
    pub fn batch_index(&self) -> i32 {
        self.batch_index
    }

    /// An identifier shared by the QR codes of one export.
    pub fn batch_id(&self) -> i32 {
        self.batch_id
    }
}

/// An account of an export that cannot be imported: where it is, its name and issuer as far
/// as they can be shown, and why. It never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEntry {
    index: usize,
    name: String,
    issuer: String,
    error: MigrationEntryError,
}

impl RefusedEntry {
    /// Its position among the accounts of the payload, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The `name` field (often `Issuer:account`), invalid UTF-8 replaced by U+FFFD.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `issuer` field, invalid UTF-8 replaced by U+FFFD; empty when absent.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Why it cannot be imported.
    pub fn error(&self) -> &MigrationEntryError {
        &self.error
    }
}

impl fmt::Display for RefusedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {} ({:?}", self.index, self.name)?;
        if !self.issuer.is_empty() {
            write!(f, ", issuer {:?}", self.issuer)?;
        }
        write!(f, "): {}", self.error)
    }
}

impl core::error::Error for RefusedEntry {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Reads a Google Authenticator export URI, `otpauth-migration://offline?data=…`.
///
/// The scheme, host and parameter name are case-insensitive and a fragment is ignored. The
/// `data` value is percent-decoded, then read as standard base64 with or without padding;
/// a `+` in it is a base64 `+`, and so is a space (which a form decoder may have made of it).
pub fn parse_migration_uri(uri: &str) -> Result<MigrationBatch, MigrationError> {
    const SCHEME: &str = "otpauth-migration://offline";
    if uri.len() > MAX_MIGRATION_URI_LEN {
        return Err(MigrationError::TooLong {
            len: uri.len(),
            max: MAX_MIGRATION_URI_LEN,
        });
    }
    let head = uri.get(..SCHEME.len()).ok_or(MigrationError::Scheme)?;
    if !head.eq_ignore_ascii_case(SCHEME) {
        return Err(MigrationError::Scheme);
    }
    let rest = &uri[SCHEME.len()..];
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !path.is_empty() && path != "/" {
        return Err(MigrationError::Scheme);
    }
    let mut data = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name.eq_ignore_ascii_case("data") && data.replace(value).is_some() {
            return Err(MigrationError::DuplicateData);
        }
    }
    let data = data
        .filter(|d| !d.is_empty())
        .ok_or(MigrationError::MissingData)?;
    let payload = decode_data(data)?;
    parse_migration_payload(&payload)
}

/// Percent-decodes and base64-decodes the `data` parameter.
fn decode_data(data: &str) -> Result<Zeroizing<Vec<u8>>, MigrationError> {
    let bytes = data.as_bytes();
    for (i, _) in data.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(MigrationError::Encoding);
        }
    }
    let mut text: Zeroizing<Vec<u8>> = Zeroizing::new(percent_decode_str(data).collect());
    for b in text.iter_mut() {
        if *b == b' ' {
            *b = b'+';
        }
    }
    let unpadded = text.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    if text.len() - unpadded > 2 {
        return Err(MigrationError::Base64 { position: unpadded });
    }
    let symbols = &text[..unpadded];
    let base64 = &data_encoding::BASE64_NOPAD;
    let len = base64
        .decode_len(symbols.len())
        .map_err(|e| MigrationError::Base64 {
            position: e.position,
        })?;
    let mut payload = Zeroizing::new(vec![0u8; len]);
    let written = base64
        .decode_mut(symbols, &mut payload)
        .map_err(|partial| MigrationError::Base64 {
            position: partial.error.position,
        })?;
    payload.truncate(written);
    Ok(payload)
}

/// Reads the decoded protobuf payload of an export (the bytes inside the `data` parameter's
/// base64).
pub fn parse_migration_payload(payload: &[u8]) -> Result<MigrationBatch, MigrationError> {
    let mut reader = Reader::new(payload);
    let mut batch = MigrationBatch {
        entries: Vec::new(),
        version: 0,
        batch_size: 0,
        batch_index: 0,
        batch_id: 0,
    };
    let mut raw_entries = Vec::new();
    while let Some(field) = reader.next_field()? {
        match field.number {
            1 => raw_entries.push(RawEntry::parse(payload, field.bytes()?)?),
            2 => batch.version = int32(field.varint()?),
            3 => batch.batch_size = int32(field.varint()?),
            4 => batch.batch_index = int32(field.varint()?),
            5 => batch.batch_id = int32(field.varint()?),
            _ => {}
        }
    }
    batch.entries = raw_entries
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            raw.to_key_uri().map_err(|error| RefusedEntry {
                index,
                name: String::from_utf8_lossy(raw.name).into_owned(),
                issuer: String::from_utf8_lossy(raw.issuer).into_owned(),
                error,
            })
        })
        .collect();
    Ok(batch)
}

/// protobuf `int32` (and enum) semantics: the low 32 bits of the varint, two's complement.
#[allow(clippy::cast_possible_wrap)]
fn int32(value: u64) -> i32 {
    value as u32 as i32
}

/// One `OtpParameters` message, fields borrowed from the payload.
#[derive(Default)]
struct RawEntry<'a> {
    secret: &'a [u8],
    name: &'a [u8],
    issuer: &'a [u8],
    algorithm: i32,
    digits: i32,
    otp_type: i32,
    counter: i64,
}

impl<'a> RawEntry<'a> {
    fn parse(payload: &'a [u8], span: Span) -> Result<Self, MigrationError> {
        let mut reader = Reader {
            buf: payload,
            pos: span.start,
            end: span.end,
        };
        let mut entry = Self::default();
        while let Some(field) = reader.next_field()? {
            match field.number {
                1 => entry.secret = field.bytes()?.of(payload),
                2 => entry.name = field.bytes()?.of(payload),
                3 => entry.issuer = field.bytes()?.of(payload),
                4 => entry.algorithm = int32(field.varint()?),
                5 => entry.digits = int32(field.varint()?),
                6 => entry.otp_type = int32(field.varint()?),
                #[allow(clippy::cast_possible_wrap)] // protobuf int64 semantics
                7 => entry.counter = field.varint()? as i64,
                _ => {}
            }
        }
        Ok(entry)
    }

    fn to_key_uri(&self) -> Result<KeyUri, MigrationEntryError> {
        let name =
            core::str::from_utf8(self.name).map_err(|_| MigrationEntryError::Utf8("name"))?;
        let issuer =
            core::str::from_utf8(self.issuer).map_err(|_| MigrationEntryError::Utf8("issuer"))?;
        let algorithm = match self.algorithm {
            0 | 1 => Algorithm::Sha1,
            2 => Algorithm::Sha256,
            3 => Algorithm::Sha512,
            4 => return Err(MigrationEntryError::UnsupportedAlgorithm("MD5")),
            other => return Err(MigrationEntryError::UnknownAlgorithm(other)),
        };
        let digits = match self.digits {
            0 | 1 => Digits::SIX,
            2 => Digits::EIGHT,
            other => return Err(MigrationEntryError::UnknownDigits(other)),
        };
        // The name is a label as in otpauth:// URIs: "Issuer:account" or "account".
        let (label_issuer, account) = match name.split_once(':') {
            Some((_, account)) if account.contains(':') => {
                return Err(Error::from(UriError::AmbiguousLabel).into());
            }
            Some((issuer, account)) => (issuer, account),
            None => ("", name),
        };
        let secret = Secret::from_bytes(self.secret)?;
        let uri = match self.otp_type {
            1 => {
                let counter = u64::try_from(self.counter)
                    .map_err(|_| MigrationEntryError::NegativeCounter(self.counter))?;
                KeyUri::hotp(secret, account, counter)?
            }
            2 => KeyUri::totp(secret, account)?,
            other => return Err(MigrationEntryError::UnknownType(other)),
        };
        let issuer = if issuer.trim().is_empty() {
            label_issuer
        } else {
            issuer
        };
        Ok(uri
            .with_issuer(issuer)
            .with_algorithm(algorithm)
            .with_digits(digits))
    }
}

/// A range of the payload, checked to lie within it.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, payload: &[u8]) -> &[u8] {
        payload.get(self.start..self.end).unwrap_or_default()
    }
}

/// A field's value by wire type. Fixed-size values and groups are only skipped.
#[derive(Debug, Clone, Copy)]
enum Value {
    Varint(u64),
    Fixed64,
    LengthDelimited(Span),
    Group,
    Fixed32,
}

impl Value {
    fn wire_type(self) -> u8 {
        match self {
            Self::Varint(_) => WIRE_VARINT,
            Self::Fixed64 => 1,
            Self::LengthDelimited(_) => WIRE_LEN,
            Self::Group => WIRE_START_GROUP,
            Self::Fixed32 => 5,
        }
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_LEN: u8 = 2;
const WIRE_START_GROUP: u8 = 3;
const WIRE_END_GROUP: u8 = 4;
/// The largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

struct Field {
    offset: usize,
    number: u32,
    value: Value,
}

impl Field {
    fn mismatch(&self, expected: u8) -> MigrationError {
        MigrationError::WireType {
            offset: self.offset,
            field: self.number,
            wire_type: self.value.wire_type(),
            expected,
        }
    }

    fn varint(&self) -> Result<u64, MigrationError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(self.mismatch(WIRE_VARINT)),
        }
    }

    fn bytes(&self) -> Result<Span, MigrationError> {
        match self.value {
            Value::LengthDelimited(span) => Ok(span),
            _ => Err(self.mismatch(WIRE_LEN)),
        }
    }
}

/// Reads fields from `buf[pos..end]`; offsets in errors are offsets in `buf`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    /// Takes `len` bytes, or fails with `Truncated` at the field that needed them.
    fn take(&mut self, len: u64, field_offset: usize) -> Result<Span, MigrationError> {
        let left = self.end.saturating_sub(self.pos);
        match usize::try_from(len) {
            Ok(len) if len <= left => {
                let span = Span {
                    start: self.pos,
                    end: self.pos + len,
                };
                self.pos += len;
                Ok(span)
            }
            _ => Err(MigrationError::Truncated {
                offset: field_offset,
            }),
        }
    }

    fn varint(&mut self, field_offset: usize) -> Result<u64, MigrationError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let byte = match self.buf.get(self.pos) {
                Some(&b) if self.pos < self.end => b,
                _ => {
                    return Err(MigrationError::Truncated {
                        offset: field_offset,
                    });
                }
            };
            self.pos += 1;
            // The tenth byte holds only the 64th bit.
            if i == 9 && byte > 1 {
                return Err(MigrationError::VarintOverflow { offset: start });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(MigrationError::VarintOverflow { offset: start })
    }

    /// Reads a tag: its offset, field number and wire type.
    fn tag(&mut self) -> Result<(usize, u32, u8), MigrationError> {
        let offset = self.pos;
        let tag = self.varint(offset)?;
        let number = tag >> 3;
        let wire_type = (tag & 7) as u8;
        match u32::try_from(number) {
            Ok(n) if number != 0 && number <= MAX_FIELD_NUMBER && wire_type <= 5 => {
                Ok((offset, n, wire_type))
            }
            _ => Err(MigrationError::InvalidTag { offset, tag }),
        }
    }

    /// Reads the value of a field of a wire type other than the group ones.
    fn scalar(&mut self, wire_type: u8, offset: usize) -> Result<Value, MigrationError> {
        Ok(match wire_type {
            WIRE_VARINT => Value::Varint(self.varint(offset)?),
            1 => {
                self.take(8, offset)?;
                Value::Fixed64
            }
            WIRE_LEN => {
                let len = self.varint(offset)?;
                Value::LengthDelimited(self.take(len, offset)?)
            }
            _ => {
                self.take(4, offset)?;
                Value::Fixed32
            }
        })
    }

    /// Skips a group whose start tag (field `number`, at `offset`) was just read, up to and
    /// including its matching end tag.
    fn skip_group(&mut self, number: u32, offset: usize) -> Result<(), MigrationError> {
        let mut depth = 1usize;
        loop {
            if self.pos >= self.end {
                return Err(MigrationError::Truncated { offset });
            }
            let (inner_offset, inner, wire_type) = self.tag()?;
            match wire_type {
                WIRE_START_GROUP => {
                    depth += 1;
                    if depth > MAX_GROUP_DEPTH {
                        return Err(MigrationError::GroupTooDeep {
                            offset: inner_offset,
                            max: MAX_GROUP_DEPTH,
                        });
                    }
                }
                WIRE_END_GROUP => {
                    depth -= 1;
                    if depth == 0 {
                        if inner != number {
                            return Err(MigrationError::InvalidTag {
                                offset: inner_offset,
                                tag: (u64::from(inner) << 3) | u64::from(WIRE_END_GROUP),
                            });
                        }
                        return Ok(());
                    }
                }
                _ => {
                    self.scalar(wire_type, inner_offset)?;
                }
            }
        }
    }

    /// The next field, or `None` at the end.
    fn next_field(&mut self) -> Result<Option<Field>, MigrationError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let (offset, number, wire_type) = self.tag()?;
        let value = match wire_type {
            WIRE_START_GROUP => {
                self.skip_group(number, offset)?;
                Value::Group
            }
            WIRE_END_GROUP => {
                return Err(MigrationError::InvalidTag {
                    offset,
                    tag: (u64::from(number) << 3) | u64::from(WIRE_END_GROUP),
                });
            }
            _ => self.scalar(wire_type, offset)?,
        };
        Ok(Some(Field {
            offset,
            number,
            value,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OtpKind;

    /// Appends a varint.
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn tag(out: &mut Vec<u8>, field: u64, wire_type: u64) {
        varint(out, (field << 3) | wire_type);
    }

    fn bytes_field(out: &mut Vec<u8>, field: u64, value: &[u8]) {
        tag(out, field, 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }

    fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
        tag(out, field, 0);
        varint(out, value);
    }

    /// An `OtpParameters` message: secret "Hello!\xde\xad\xbe\xef", the given name, issuer,
    /// algorithm, digits and type.
    fn entry(name: &str, issuer: &str, algorithm: u64, digits: u64, otp_type: u64) -> Vec<u8> {
        let mut e = Vec::new();
        bytes_field(&mut e, 1, b"Hello!\xde\xad\xbe\xef");
        bytes_field(&mut e, 2, name.as_bytes());
        bytes_field(&mut e, 3, issuer.as_bytes());
        varint_field(&mut e, 4, algorithm);
        varint_field(&mut e, 5, digits);
        varint_field(&mut e, 6, otp_type);
        e
    }

    fn payload(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut p = Vec::new();
        for e in entries {
            bytes_field(&mut p, 1, e);
        }
        varint_field(&mut p, 2, 1);
        varint_field(&mut p, 3, 1);
        varint_field(&mut p, 4, 0);
        varint_field(&mut p, 5, 12345);
        p
    }

    fn uri(payload: &[u8]) -> String {
        let b64 = data_encoding::BASE64.encode(payload);
        let encoded: String =
            percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        format!("otpauth-migration://offline?data={encoded}")
    }

    #[test]
    fn reads_totp_and_hotp_accounts() {
        let mut hotp = entry("bob", "ACME", 2, 2, 1);
        varint_field(&mut hotp, 7, 42);
        let p = payload(&[entry("Example:alice@google.com", "Example", 1, 1, 2), hotp]);
        let batch = parse_migration_uri(&uri(&p)).unwrap();
        assert_eq!((batch.version(), batch.batch_size()), (1, 1));
        assert_eq!((batch.batch_index(), batch.batch_id()), (0, 12345));
        let uris: Vec<_> = batch.key_uris().collect();
        assert_eq!(uris.len(), 2);
        assert_eq!(uris[0].account(), "alice@google.com");
        assert_eq!(uris[0].issuer(), Some("Example"));
        assert_eq!(uris[0].kind(), OtpKind::Totp { period: 30 });
        assert_eq!(uris[0].secret().to_base32(), "JBSWY3DPEHPK3PXP");
        assert_eq!(uris[1].kind(), OtpKind::Hotp { counter: 42 });
        assert_eq!(uris[1].algorithm(), Algorithm::Sha256);
        assert_eq!(uris[1].digits(), Digits::EIGHT);
        assert_eq!(uris[1].issuer(), Some("ACME"));
        assert_eq!(batch.refused().count(), 0);
    }

    #[test]
    fn label_issuer_is_used_when_the_field_is_empty() {
        let p = payload(&[entry("GitHub: octocat ", "", 0, 0, 2)]);
        let batch = parse_migration_payload(&p).unwrap();
        let uri = batch.key_uris().next().unwrap();
        assert_eq!(uri.issuer(), Some("GitHub"));
        assert_eq!(uri.account(), "octocat");
        assert_eq!(uri.algorithm(), Algorithm::Sha1);
        assert_eq!(uri.digits(), Digits::SIX);
        // The issuer field wins over the name's prefix, as the parameter does in a URI.
        let p = payload(&[entry("Old Name:octocat", "GitHub", 0, 0, 2)]);
        let batch = parse_migration_payload(&p).unwrap();
        assert_eq!(batch.key_uris().next().unwrap().issuer(), Some("GitHub"));
    }

    #[test]
    fn refused_accounts_are_reported_one_by_one() {
        let mut negative = entry("n", "", 1, 1, 1);
        varint_field(&mut negative, 7, u64::MAX);
        let mut empty_secret = Vec::new();
        bytes_field(&mut empty_secret, 2, b"x");
        varint_field(&mut empty_secret, 6, 2);
        let cases: Vec<(Vec<u8>, MigrationEntryError)> = vec![
            (
                entry("md5", "I", 4, 1, 2),
                MigrationEntryError::UnsupportedAlgorithm("MD5"),
            ),
            (
                entry("a", "", 9, 1, 2),
                MigrationEntryError::UnknownAlgorithm(9),
            ),
            (
                entry("a", "", u64::MAX, 1, 2),
                MigrationEntryError::UnknownAlgorithm(-1),
            ),
            (
                entry("a", "", 1, 3, 2),
                MigrationEntryError::UnknownDigits(3),
            ),
            (entry("a", "", 1, 1, 0), MigrationEntryError::UnknownType(0)),
            (entry("a", "", 1, 1, 3), MigrationEntryError::UnknownType(3)),
            (negative, MigrationEntryError::NegativeCounter(-1)),
            (empty_secret, Error::EmptySecret.into()),
            (
                entry("", "I", 1, 1, 2),
                Error::from(UriError::MissingLabel).into(),
            ),
            (
                entry("I:", "I", 1, 1, 2),
                Error::from(UriError::MissingLabel).into(),
            ),
            (
                entry("a:b:c", "", 1, 1, 2),
                Error::from(UriError::AmbiguousLabel).into(),
            ),
        ];
        let good = entry("good", "", 1, 1, 2);
        for (bad, expected) in cases {
            let batch = parse_migration_payload(&payload(&[good.clone(), bad])).unwrap();
            assert_eq!(batch.key_uris().count(), 1, "{expected}");
            let refused: Vec<_> = batch.refused().collect();
            assert_eq!(refused.len(), 1);
            assert_eq!(refused[0].index(), 1);
            assert_eq!(refused[0].error(), &expected);
        }
        let batch = parse_migration_payload(&payload(&[entry("md5", "I", 4, 1, 2)])).unwrap();
        let refused = batch.refused().next().unwrap();
        assert_eq!((refused.name(), refused.issuer()), ("md5", "I"));
        assert_eq!(
            refused.to_string(),
            "account 0 (\"md5\", issuer \"I\"): the MD5 algorithm is not supported"
        );
        // Names that are not UTF-8.
        let mut e = Vec::new();
        bytes_field(&mut e, 1, b"k");
        bytes_field(&mut e, 2, b"\xff");
        varint_field(&mut e, 6, 2);
        let batch = parse_migration_payload(&payload(&[e])).unwrap();
        assert_eq!(
            batch.refused().next().unwrap().error(),
            &MigrationEntryError::Utf8("name")
        );
        assert_eq!(batch.refused().next().unwrap().name(), "\u{fffd}");
        let mut e = Vec::new();
        bytes_field(&mut e, 1, b"k");
        bytes_field(&mut e, 2, b"a");
        bytes_field(&mut e, 3, b"\xc3");
        varint_field(&mut e, 6, 2);
        let batch = parse_migration_payload(&payload(&[e])).unwrap();
        assert_eq!(
            batch.refused().next().unwrap().error(),
            &MigrationEntryError::Utf8("issuer")
        );
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let mut e = entry("a", "I", 1, 1, 2);
        tag(&mut e, 8, 1); // fixed64
        e.extend_from_slice(&[0xff; 8]);
        tag(&mut e, 9, 5); // fixed32
        e.extend_from_slice(&[0xff; 4]);
        bytes_field(&mut e, 10, b"unknown");
        varint_field(&mut e, 11, u64::MAX);
        tag(&mut e, 12, 3); // a group holding a group and one of each scalar
        tag(&mut e, 13, 3);
        varint_field(&mut e, 1, 1);
        tag(&mut e, 13, 4);
        bytes_field(&mut e, 2, b"x");
        tag(&mut e, 3, 1);
        e.extend_from_slice(&[0; 8]);
        tag(&mut e, 4, 5);
        e.extend_from_slice(&[0; 4]);
        tag(&mut e, 12, 4);
        tag(&mut e, MAX_FIELD_NUMBER, 0);
        varint(&mut e, 0);
        let mut p = payload(&[e]);
        tag(&mut p, 99, 3);
        tag(&mut p, 99, 4);
        bytes_field(&mut p, 6, b"later");
        let batch = parse_migration_payload(&p).unwrap();
        assert_eq!(batch.key_uris().count(), 1);
        assert_eq!(batch.batch_id(), 12345);
    }

    #[test]
    fn last_value_of_a_repeated_scalar_wins() {
        let mut e = entry("a", "I", 1, 1, 2);
        varint_field(&mut e, 5, 2);
        let mut p = payload(&[e]);
        varint_field(&mut p, 4, 3);
        let batch = parse_migration_payload(&p).unwrap();
        assert_eq!(batch.batch_index(), 3);
        assert_eq!(batch.key_uris().next().unwrap().digits(), Digits::EIGHT);
        // int32 fields keep the low 32 bits, as protobuf does.
        let mut p = Vec::new();
        varint_field(&mut p, 5, u64::MAX);
        assert_eq!(parse_migration_payload(&p).unwrap().batch_id(), -1);
        assert_eq!(parse_migration_payload(&[]).unwrap().entries().len(), 0);
    }

    #[test]
    fn malformed_payloads_have_typed_errors() {
        let good = payload(&[entry("a", "I", 1, 1, 2)]);
        let cases: Vec<(Vec<u8>, MigrationError)> = vec![
            // Cut inside the first entry's length-delimited body.
            (good[..10].to_vec(), MigrationError::Truncated { offset: 0 }),
            // A tag alone.
            (vec![0x10], MigrationError::Truncated { offset: 0 }),
            // A varint whose continuation bit runs off the end.
            (vec![0x10, 0x80], MigrationError::Truncated { offset: 0 }),
            (
                vec![0x0a, 0x80, 0x80],
                MigrationError::Truncated { offset: 0 },
            ),
            // Length larger than what is left (and than usize on 32-bit targets).
            (
                vec![
                    0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                MigrationError::Truncated { offset: 0 },
            ),
            (vec![0x09, 0, 0, 0], MigrationError::Truncated { offset: 0 }),
            (vec![0x0d, 0, 0, 0], MigrationError::Truncated { offset: 0 }),
            // Eleven-byte and overfull ten-byte varints.
            (
                [&[0x10][..], &[0xff; 10], &[0x01]].concat(),
                MigrationError::VarintOverflow { offset: 1 },
            ),
            (
                [&[0x10][..], &[0xff; 9], &[0x02]].concat(),
                MigrationError::VarintOverflow { offset: 1 },
            ),
            // Field number 0, wire types 6 and 7, an end group that closes nothing.
            (
                vec![0x00, 0x00],
                MigrationError::InvalidTag { offset: 0, tag: 0 },
            ),
            (
                vec![0x0e],
                MigrationError::InvalidTag {
                    offset: 0,
                    tag: 0x0e,
                },
            ),
            (
                vec![0x0f],
                MigrationError::InvalidTag {
                    offset: 0,
                    tag: 0x0f,
                },
            ),
            (
                vec![0x0c],
                MigrationError::InvalidTag {
                    offset: 0,
                    tag: 0x0c,
                },
            ),
            // A field number above 2^29 - 1.
            (
                vec![0x80, 0x80, 0x80, 0x80, 0x10, 0x00],
                MigrationError::InvalidTag {
                    offset: 0,
                    tag: 1 << 32,
                },
            ),
            // A group closed by another field number, and one never closed.
            (
                vec![0x0b, 0x14],
                MigrationError::InvalidTag {
                    offset: 1,
                    tag: 0x14,
                },
            ),
            (
                vec![0x0b, 0x10, 0x01],
                MigrationError::Truncated { offset: 0 },
            ),
            // Known fields with the wrong wire type.
            (
                vec![0x08, 0x01],
                MigrationError::WireType {
                    offset: 0,
                    field: 1,
                    wire_type: 0,
                    expected: 2,
                },
            ),
            (
                vec![0x12, 0x00],
                MigrationError::WireType {
                    offset: 0,
                    field: 2,
                    wire_type: 2,
                    expected: 0,
                },
            ),
            (
                vec![0x0a, 0x02, 0x08, 0x01],
                MigrationError::WireType {
                    offset: 2,
                    field: 1,
                    wire_type: 0,
                    expected: 2,
                },
            ),
            // An entry whose inner field overruns the entry (but not the payload).
            (
                vec![0x0a, 0x02, 0x0a, 0x05, 0x10, 0x01, 0x10, 0x01, 0x10],
                MigrationError::Truncated { offset: 2 },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                parse_migration_payload(&bytes).unwrap_err(),
                expected,
                "{bytes:02x?}"
            );
        }
        // Groups nested too deep.
        let mut deep = Vec::new();
        for _ in 0..=MAX_GROUP_DEPTH {
            tag(&mut deep, 20, 3);
        }
        assert_eq!(
            parse_migration_payload(&deep).unwrap_err(),
            MigrationError::GroupTooDeep {
                offset: 2 * MAX_GROUP_DEPTH,
                max: MAX_GROUP_DEPTH
            }
        );
    }

    #[test]
    fn malformed_uris_have_typed_errors() {
        let good = uri(&payload(&[entry("a", "I", 1, 1, 2)]));
        assert!(parse_migration_uri(&good).is_ok());
        let data = good.split_once("data=").unwrap().1;
        let cases: Vec<(String, MigrationError)> = vec![
            ("otpauth://totp/a?secret=AA".into(), MigrationError::Scheme),
            ("otpauth-migration:/".into(), MigrationError::Scheme),
            (
                format!("otpauth-migration://online?data={data}"),
                MigrationError::Scheme,
            ),
            (
                format!("otpauth-migration://offlinex?data={data}"),
                MigrationError::Scheme,
            ),
            (
                "otpauth-migration://offline".into(),
                MigrationError::MissingData,
            ),
            (
                "otpauth-migration://offline?data=".into(),
                MigrationError::MissingData,
            ),
            (
                "otpauth-migration://offline?dat=CgA".into(),
                MigrationError::MissingData,
            ),
            (
                format!("otpauth-migration://offline?data={data}&DATA={data}"),
                MigrationError::DuplicateData,
            ),
            (
                "otpauth-migration://offline?data=CgA%3".into(),
                MigrationError::Encoding,
            ),
            (
                "otpauth-migration://offline?data=CgA%zz".into(),
                MigrationError::Encoding,
            ),
            (
                "otpauth-migration://offline?data=Cg!A".into(),
                MigrationError::Base64 { position: 2 },
            ),
            (
                "otpauth-migration://offline?data=C".into(),
                MigrationError::Base64 { position: 0 },
            ),
            (
                "otpauth-migration://offline?data=CgA===".into(),
                MigrationError::Base64 { position: 3 },
            ),
            (
                "otpauth-migration://offline?data=C=gA".into(),
                MigrationError::Base64 { position: 1 },
            ),
            // Non-zero bits after the last byte: not what an encoder writes.
            (
                "otpauth-migration://offline?data=CgB".into(),
                MigrationError::Base64 { position: 2 },
            ),
            // Valid base64, invalid protobuf.
            (
                "otpauth-migration://offline?data=Cg%3D%3D".into(),
                MigrationError::Truncated { offset: 0 },
            ),
            (
                format!(
                    "otpauth-migration://offline?data={}",
                    "A".repeat(MAX_MIGRATION_URI_LEN)
                ),
                MigrationError::TooLong {
                    len: MAX_MIGRATION_URI_LEN + 33,
                    max: MAX_MIGRATION_URI_LEN,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_migration_uri(&text).unwrap_err(),
                expected,
                "{text:.80}"
            );
        }
    }

    #[test]
    fn lenient_where_exports_travel() {
        // A secret that puts '+' and '/' into the base64 text at one of three alignments.
        let (p, b64) = (0..3)
            .map(|pad| {
                let mut e = entry("a", "I", 1, 1, 2);
                let mut secret = vec![0u8; pad];
                secret.extend_from_slice(&[0xfb, 0xef, 0xbe, 0xfb, 0xef, 0xbe, 0xff, 0xff]);
                bytes_field(&mut e, 1, &secret);
                let p = payload(&[e]);
                let b64 = data_encoding::BASE64.encode(&p);
                (p, b64)
            })
            .find(|(_, b64)| b64.contains('+') && b64.contains('/'))
            .unwrap();
        let expected = parse_migration_payload(&p).unwrap();
        assert_eq!(expected.key_uris().count(), 1);
        for text in [
            // Raw (not percent-encoded) base64, with and without padding.
            format!("otpauth-migration://offline?data={b64}"),
            format!(
                "otpauth-migration://offline?data={}",
                b64.trim_end_matches('=')
            ),
            // Case of scheme and host, a slash, other parameters, a fragment.
            format!("OTPAUTH-MIGRATION://Offline/?x=1&Data={b64}&y#frag"),
            // A form decoder made spaces of the pluses.
            format!("otpauth-migration://offline?data={}", b64.replace('+', " ")),
        ] {
            assert_eq!(parse_migration_uri(&text).unwrap(), expected, "{text}");
        }
    }
}
