//! RFC 4515 search filters: an AST, a builder where values stay data, a serializer that escapes
//! at the last moment, and a parser for filters written by administrators.
//!
//! Values in a [`Filter`] are raw bytes. They are escaped only when the filter is written out
//! (`Filter::to_string`, from `Display`) or encoded as BER, so a value can never add a parenthesis, a `*` or a
//! new component to the filter: `*)(uid=*` is searched for as those eight characters.

use std::fmt;

/// Deepest nesting of `&`, `|` and `!` accepted by the parser and the BER decoder.
pub const MAX_FILTER_DEPTH: usize = 32;

/// Longest filter string the parser accepts, in bytes.
pub const MAX_FILTER_LEN: usize = 16 * 1024;

/// The OID of Active Directory's `LDAP_MATCHING_RULE_IN_CHAIN`, which walks nested groups on the
/// server. OpenLDAP does not implement it (it answers with zero entries).
pub const MATCHING_RULE_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// What was wrong with a filter, and where (a byte offset into the filter string).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A specific character was required.
    #[error("expected `{expected}` at offset {offset}")]
    Expected {
        /// Byte offset.
        offset: usize,
        /// The character that was required.
        expected: char,
    },
    /// The filter ended inside a component.
    #[error("filter ends too early at offset {offset}")]
    UnexpectedEnd {
        /// Byte offset (the length of the input).
        offset: usize,
    },
    /// An attribute description is empty or holds a character RFC 4512 does not allow.
    #[error("invalid attribute description at offset {offset}")]
    InvalidAttribute {
        /// Byte offset of the offending character.
        offset: usize,
    },
    /// A matching rule is not a descriptor or a numeric OID.
    #[error("invalid matching rule at offset {offset}")]
    InvalidMatchingRule {
        /// Byte offset of the matching rule.
        offset: usize,
    },
    /// A `\` not followed by two hexadecimal digits.
    #[error("invalid escape at offset {offset}: `\\` must be followed by two hex digits")]
    InvalidEscape {
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// A character that must be written escaped (`(`, `)`, `*`, NUL) appears bare in a value.
    #[error("character {found:?} at offset {offset} must be escaped in a value")]
    UnescapedCharacter {
        /// Byte offset.
        offset: usize,
        /// The character found.
        found: char,
    },
    /// An `&` or `|` with no filters inside.
    #[error("empty filter list at offset {offset}")]
    EmptyList {
        /// Byte offset of the `&` or `|`.
        offset: usize,
    },
    /// Two adjacent `*` in a substring filter.
    #[error("empty substring between two `*` at offset {offset}")]
    EmptySubstring {
        /// Byte offset of the second `*`.
        offset: usize,
    },
    /// Characters after the closing parenthesis of the outermost filter.
    #[error("unexpected characters after the filter at offset {offset}")]
    TrailingInput {
        /// Byte offset of the first extra character.
        offset: usize,
    },
    /// Nesting deeper than [`MAX_FILTER_DEPTH`].
    #[error("filter nested deeper than {limit} levels at offset {offset}")]
    TooDeep {
        /// Byte offset where the limit was passed.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// Input longer than [`MAX_FILTER_LEN`].
    #[error("filter of {len} bytes is longer than the limit of {limit}")]
    TooLong {
        /// Length of the input.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

impl FilterError {
    /// The byte offset of the error in the filter string.
    pub fn offset(&self) -> usize {
        match *self {
            Self::Expected { offset, .. }
            | Self::UnexpectedEnd { offset }
            | Self::InvalidAttribute { offset }
            | Self::InvalidMatchingRule { offset }
            | Self::InvalidEscape { offset }
            | Self::UnescapedCharacter { offset, .. }
            | Self::EmptyList { offset }
            | Self::EmptySubstring { offset }
            | Self::TrailingInput { offset }
            | Self::TooDeep { offset, .. } => offset,
            Self::TooLong { .. } => 0,
        }
    }
}

/// An attribute description (RFC 4512 §2.5): a descriptor (`uid`, `memberOf`) or numeric OID,
/// with optional `;options`. Validated on construction, so it cannot carry filter syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attribute(pub(crate) String);

impl Attribute {
    /// Validates an attribute description.
    pub fn new(name: &str) -> Result<Self, FilterError> {
        match attribute_len(name.as_bytes()) {
            Ok(len) if len == name.len() => Ok(Self(name.to_owned())),
            Ok(len) => Err(FilterError::InvalidAttribute { offset: len }),
            Err(offset) => Err(FilterError::InvalidAttribute { offset }),
        }
    }

    /// The description as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two descriptions name the same attribute (descriptors compare case-insensitively).
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Length of the longest valid attribute description at the start of `input`, or the offset of
/// the first bad character when the start is not one.
fn attribute_len(input: &[u8]) -> Result<usize, usize> {
    let oid = descr_or_oid_len(input)?;
    let mut pos = oid;
    while input.get(pos) == Some(&b';') {
        let start = pos + 1;
        let n = input[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        if n == 0 {
            return Err(start);
        }
        pos = start + n;
    }
    Ok(pos)
}

/// A `descr` (`ALPHA *(ALPHA / DIGIT / "-")`) or a `numericoid` at the start of `input`
/// (RFC 4512 §1.4): its length, or the offset where it goes wrong. Shared by filters and DNs.
pub(crate) fn descr_or_oid_len(input: &[u8]) -> Result<usize, usize> {
    match input.first() {
        Some(b) if b.is_ascii_alphabetic() => Ok(input
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count()),
        Some(b) if b.is_ascii_digit() => {
            let mut pos = 0;
            loop {
                let digits = input[pos..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits == 0 {
                    return Err(pos);
                }
                // No leading zeros in a number other than 0 itself.
                if digits > 1 && input[pos] == b'0' {
                    return Err(pos);
                }
                pos += digits;
                if input.get(pos) == Some(&b'.') {
                    pos += 1;
                } else {
                    return Ok(pos);
                }
            }
        }
        _ => Err(0),
    }
}

/// Whether `s` is a valid matching-rule identifier (descriptor or numeric OID).
pub(crate) fn is_valid_oid(s: &str) -> bool {
    descr_or_oid_len(s.as_bytes()) == Ok(s.len())
}

/// A substring assertion: `initial*any*any*final`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Substrings {
    /// The value must start with this.
    pub initial: Option<Vec<u8>>,
    /// These must appear, in order, in between.
    pub any: Vec<Vec<u8>>,
    /// The value must end with this.
    pub final_: Option<Vec<u8>>,
}

/// An RFC 4515 / RFC 4511 §4.5.1.7 search filter.
///
/// Build filters with the associated functions ([`Filter::equality`], [`Filter::and`] …) or parse
/// an administrator's string with [`Filter::parse`]. `Filter::to_string` (from `Display`) writes the RFC 4515
/// form with every value escaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Filter {
    /// `(&f1 f2 …)`: all must match.
    And(Vec<Filter>),
    /// `(|f1 f2 …)`: at least one must match.
    Or(Vec<Filter>),
    /// `(!f)`.
    Not(Box<Filter>),
    /// `(attr=value)`.
    Equality(Attribute, Vec<u8>),
    /// `(attr=init*any*final)`.
    Substrings(Attribute, Substrings),
    /// `(attr>=value)`.
    GreaterOrEqual(Attribute, Vec<u8>),
    /// `(attr<=value)`.
    LessOrEqual(Attribute, Vec<u8>),
    /// `(attr=*)`.
    Present(Attribute),
    /// `(attr~=value)`.
    Approx(Attribute, Vec<u8>),
    /// `(attr:dn:rule:=value)`.
    Extensible {
        /// Matching rule OID or descriptor.
        rule: Option<String>,
        /// Attribute the rule applies to.
        attribute: Option<Attribute>,
        /// Assertion value.
        value: Vec<u8>,
        /// Whether the DN's attributes are matched too (`:dn`).
        dn_attributes: bool,
    },
}

impl Filter {
    /// `(attr=value)`; `value` is data, never filter syntax.
    pub fn equality(attribute: Attribute, value: impl AsRef<[u8]>) -> Self {
        Self::Equality(attribute, value.as_ref().to_vec())
    }

    /// `(attr=*)`.
    pub fn present(attribute: Attribute) -> Self {
        Self::Present(attribute)
    }

    /// `(attr=*value*)`: the value contains `value` (`(attr=*)` when `value` is empty).
    pub fn contains(attribute: Attribute, value: impl AsRef<[u8]>) -> Self {
        if value.as_ref().is_empty() {
            return Self::Present(attribute);
        }
        Self::Substrings(
            attribute,
            Substrings {
                initial: None,
                any: vec![value.as_ref().to_vec()],
                final_: None,
            },
        )
    }

    /// `(attr=value*)`: the value starts with `value` (`(attr=*)` when `value` is empty).
    pub fn starts_with(attribute: Attribute, value: impl AsRef<[u8]>) -> Self {
        if value.as_ref().is_empty() {
            return Self::Present(attribute);
        }
        Self::Substrings(
            attribute,
            Substrings {
                initial: Some(value.as_ref().to_vec()),
                any: Vec::new(),
                final_: None,
            },
        )
    }

    /// `(attr>=value)`.
    pub fn greater_or_equal(attribute: Attribute, value: impl AsRef<[u8]>) -> Self {
        Self::GreaterOrEqual(attribute, value.as_ref().to_vec())
    }

    /// `(attr<=value)`.
    pub fn less_or_equal(attribute: Attribute, value: impl AsRef<[u8]>) -> Self {
        Self::LessOrEqual(attribute, value.as_ref().to_vec())
    }

    /// `(attr~=value)`.
    pub fn approx(attribute: Attribute, value: impl AsRef<[u8]>) -> Self {
        Self::Approx(attribute, value.as_ref().to_vec())
    }

    /// `(attr:1.2.840.113556.1.4.1941:=dn)`: Active Directory's transitive membership rule.
    pub fn in_chain(attribute: Attribute, dn: impl AsRef<[u8]>) -> Self {
        Self::Extensible {
            rule: Some(MATCHING_RULE_IN_CHAIN.to_owned()),
            attribute: Some(attribute),
            value: dn.as_ref().to_vec(),
            dn_attributes: false,
        }
    }

    /// `(&…)`. An empty list is the RFC 4526 "absolute true"; avoid it.
    pub fn and(filters: impl IntoIterator<Item = Filter>) -> Self {
        Self::And(filters.into_iter().collect())
    }

    /// `(|…)`.
    pub fn or(filters: impl IntoIterator<Item = Filter>) -> Self {
        Self::Or(filters.into_iter().collect())
    }

    /// `(!f)`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(filter: Filter) -> Self {
        Self::Not(Box::new(filter))
    }

    /// Parses an RFC 4515 filter string.
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(FilterError::TooLong {
                len: input.len(),
                limit: MAX_FILTER_LEN,
            });
        }
        let mut parser = Parser {
            input: input.as_bytes(),
            pos: 0,
        };
        let filter = parser.filter(0)?;
        if parser.pos != input.len() {
            return Err(FilterError::TrailingInput { offset: parser.pos });
        }
        Ok(filter)
    }

    /// Nesting depth: 1 for an item, one more for each `&`, `|`, `!` around it.
    pub fn depth(&self) -> usize {
        match self {
            Self::And(list) | Self::Or(list) => {
                1 + list.iter().map(Filter::depth).max().unwrap_or(0)
            }
            Self::Not(inner) => 1 + inner.depth(),
            _ => 1,
        }
    }

    /// Calls `f` on every assertion value, in order (used to substitute template placeholders).
    pub(crate) fn map_values(&mut self, f: &mut impl FnMut(&mut Vec<u8>)) {
        match self {
            Self::And(list) | Self::Or(list) => list.iter_mut().for_each(|g| g.map_values(f)),
            Self::Not(inner) => inner.map_values(f),
            Self::Equality(_, v)
            | Self::GreaterOrEqual(_, v)
            | Self::LessOrEqual(_, v)
            | Self::Approx(_, v)
            | Self::Extensible { value: v, .. } => f(v),
            Self::Substrings(_, s) => {
                if let Some(v) = &mut s.initial {
                    f(v);
                }
                s.any.iter_mut().for_each(&mut *f);
                if let Some(v) = &mut s.final_ {
                    f(v);
                }
            }
            Self::Present(_) => {}
        }
    }
}

/// Appends `value` to `out` escaped per RFC 4515 §3: NUL, `*`, `(`, `)`, `\`, the other ASCII
/// control characters and every byte that is not part of valid UTF-8 become `\XX`.
pub fn escape_value_into(value: &[u8], out: &mut String) {
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '*' | '(' | ')' | '\\' => push_hex(out, c as u8),
                c if c.is_ascii_control() => push_hex(out, c as u8),
                _ => out.push(c),
            }
        }
        for b in chunk.invalid() {
            push_hex(out, *b);
        }
    }
}

/// `value` escaped per RFC 4515 §3 (see [`escape_value_into`]).
pub fn escape_value(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    escape_value_into(value, &mut out);
    out
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0x0f)] as char);
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_filter(self, &mut out);
        f.write_str(&out)
    }
}

fn write_filter(filter: &Filter, out: &mut String) {
    out.push('(');
    match filter {
        Filter::And(list) | Filter::Or(list) => {
            out.push(if matches!(filter, Filter::And(_)) {
                '&'
            } else {
                '|'
            });
            for g in list {
                write_filter(g, out);
            }
        }
        Filter::Not(inner) => {
            out.push('!');
            write_filter(inner, out);
        }
        Filter::Equality(a, v) => write_simple(out, a, "=", v),
        Filter::GreaterOrEqual(a, v) => write_simple(out, a, ">=", v),
        Filter::LessOrEqual(a, v) => write_simple(out, a, "<=", v),
        Filter::Approx(a, v) => write_simple(out, a, "~=", v),
        Filter::Present(a) => {
            out.push_str(a.as_str());
            out.push_str("=*");
        }
        Filter::Substrings(a, s) => {
            out.push_str(a.as_str());
            out.push('=');
            if let Some(v) = &s.initial {
                escape_value_into(v, out);
            }
            out.push('*');
            for v in &s.any {
                escape_value_into(v, out);
                out.push('*');
            }
            if let Some(v) = &s.final_ {
                escape_value_into(v, out);
            }
        }
        Filter::Extensible {
            rule,
            attribute,
            value,
            dn_attributes,
        } => {
            if let Some(a) = attribute {
                out.push_str(a.as_str());
            }
            if *dn_attributes {
                out.push_str(":dn");
            }
            if let Some(r) = rule {
                out.push(':');
                out.push_str(r);
            }
            out.push_str(":=");
            escape_value_into(value, out);
        }
    }
    out.push(')');
}

fn write_simple(out: &mut String, attribute: &Attribute, op: &str, value: &[u8]) {
    out.push_str(attribute.as_str());
    out.push_str(op);
    escape_value_into(value, out);
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), FilterError> {
        match self.peek() {
            Some(b) if b == c => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(FilterError::Expected {
                offset: self.pos,
                expected: c as char,
            }),
            None => Err(FilterError::UnexpectedEnd { offset: self.pos }),
        }
    }

    fn filter(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(FilterError::TooDeep {
                offset: self.pos,
                limit: MAX_FILTER_DEPTH,
            });
        }
        self.expect(b'(')?;
        let f = match self.peek() {
            Some(op @ (b'&' | b'|')) => {
                let at = self.pos;
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek() == Some(b'(') {
                    list.push(self.filter(depth + 1)?);
                }
                if list.is_empty() {
                    return Err(FilterError::EmptyList { offset: at });
                }
                if op == b'&' {
                    Filter::And(list)
                } else {
                    Filter::Or(list)
                }
            }
            Some(b'!') => {
                self.pos += 1;
                Filter::Not(Box::new(self.filter(depth + 1)?))
            }
            Some(_) => self.item()?,
            None => return Err(FilterError::UnexpectedEnd { offset: self.pos }),
        };
        self.expect(b')')?;
        Ok(f)
    }

    fn attribute(&mut self) -> Result<Attribute, FilterError> {
        let rest = &self.input[self.pos..];
        let len = attribute_len(rest).map_err(|o| FilterError::InvalidAttribute {
            offset: self.pos + o,
        })?;
        let name = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len;
        Ok(Attribute(name))
    }

    fn item(&mut self) -> Result<Filter, FilterError> {
        // Extensible match without an attribute: `(:dn:rule:=value)` or `(:rule:=value)`.
        let attribute = if self.peek() == Some(b':') {
            None
        } else {
            Some(self.attribute()?)
        };
        let op_at = self.pos;
        match (self.peek(), attribute) {
            (Some(b':'), attribute) => self.extensible(attribute),
            (Some(b'~' | b'>' | b'<'), Some(attribute)) => {
                let op = self.input[self.pos];
                self.pos += 1;
                self.expect(b'=')?;
                let value = self.value(false)?.0;
                Ok(match op {
                    b'~' => Filter::Approx(attribute, value),
                    b'>' => Filter::GreaterOrEqual(attribute, value),
                    _ => Filter::LessOrEqual(attribute, value),
                })
            }
            (Some(b'='), Some(attribute)) => {
                self.pos += 1;
                self.equality_or_substrings(attribute)
            }
            (None, _) => Err(FilterError::UnexpectedEnd { offset: op_at }),
            (Some(_), _) => Err(FilterError::InvalidAttribute { offset: op_at }),
        }
    }

    fn extensible(&mut self, attribute: Option<Attribute>) -> Result<Filter, FilterError> {
        // At a ':'.
        let mut dn_attributes = false;
        let mut rule = None;
        self.pos += 1;
        if self
            .input
            .get(self.pos..self.pos + 3)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"dn:"))
        {
            dn_attributes = true;
            self.pos += 3;
        }
        if self.peek() != Some(b'=') {
            let start = self.pos;
            let len = descr_or_oid_len(&self.input[start..])
                .map_err(|_| FilterError::InvalidMatchingRule { offset: start })?;
            rule = Some(String::from_utf8_lossy(&self.input[start..start + len]).into_owned());
            self.pos += len;
            self.expect(b':')?;
        }
        self.expect(b'=')?;
        if attribute.is_none() && rule.is_none() {
            return Err(FilterError::InvalidMatchingRule { offset: self.pos });
        }
        let value = self.value(false)?.0;
        Ok(Filter::Extensible {
            rule,
            attribute,
            value,
            dn_attributes,
        })
    }

    fn equality_or_substrings(&mut self, attribute: Attribute) -> Result<Filter, FilterError> {
        let mut parts = Vec::new();
        let mut star_at = Vec::new();
        loop {
            let (part, stopped_at_star) = self.value(true)?;
            parts.push(part);
            if stopped_at_star {
                star_at.push(self.pos);
                self.pos += 1;
            } else {
                break;
            }
        }
        if parts.len() == 1 {
            let value = parts.pop().unwrap_or_default();
            return Ok(Filter::Equality(attribute, value));
        }
        if parts.len() == 2 && parts.iter().all(Vec::is_empty) {
            return Ok(Filter::Present(attribute));
        }
        let last = parts.len() - 1;
        let mut subs = Substrings::default();
        for (i, part) in parts.into_iter().enumerate() {
            if i == 0 {
                if !part.is_empty() {
                    subs.initial = Some(part);
                }
            } else if i == last {
                if !part.is_empty() {
                    subs.final_ = Some(part);
                }
            } else if part.is_empty() {
                return Err(FilterError::EmptySubstring { offset: star_at[i] });
            } else {
                subs.any.push(part);
            }
        }
        Ok(Filter::Substrings(attribute, subs))
    }

    /// Reads an assertion value up to `)` (or `*` when `stop_at_star`). Returns the decoded bytes
    /// and whether it stopped at a `*`.
    fn value(&mut self, stop_at_star: bool) -> Result<(Vec<u8>, bool), FilterError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(FilterError::UnexpectedEnd { offset: self.pos }),
                Some(b')') => return Ok((out, false)),
                Some(b'*') if stop_at_star => return Ok((out, true)),
                Some(c @ (b'(' | b'*' | 0)) => {
                    return Err(FilterError::UnescapedCharacter {
                        offset: self.pos,
                        found: c as char,
                    });
                }
                Some(b'\\') => {
                    let hi = self.input.get(self.pos + 1).and_then(|b| hex_digit(*b));
                    let lo = self.input.get(self.pos + 2).and_then(|b| hex_digit(*b));
                    match (hi, lo) {
                        (Some(hi), Some(lo)) => {
                            out.push(hi << 4 | lo);
                            self.pos += 3;
                        }
                        _ => return Err(FilterError::InvalidEscape { offset: self.pos }),
                    }
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }
}

pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(s: &str) -> Attribute {
        Attribute::new(s).unwrap()
    }

    #[test]
    fn hostile_value_stays_one_equality() {
        let f = Filter::equality(attr("uid"), "*)(uid=*");
        assert_eq!(f.to_string(), r"(uid=\2a\29\28uid=\2a)");
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn parses_nested_and_extensible() {
        let f = Filter::parse("(&(objectClass=person)(!(cn:dn:2.5.13.5:=Jane))(member:1.2.840.113556.1.4.1941:=cn=g,dc=x))").unwrap();
        let Filter::And(list) = &f else {
            panic!("not and")
        };
        assert_eq!(list.len(), 3);
        assert_eq!(
            list[2],
            Filter::in_chain(attr("member"), "cn=g,dc=x"),
            "in-chain"
        );
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn substrings_and_present() {
        assert_eq!(
            Filter::parse("(cn=*)").unwrap(),
            Filter::present(attr("cn"))
        );
        let f = Filter::parse("(cn=a*b*c)").unwrap();
        assert_eq!(
            f,
            Filter::Substrings(
                attr("cn"),
                Substrings {
                    initial: Some(b"a".to_vec()),
                    any: vec![b"b".to_vec()],
                    final_: Some(b"c".to_vec())
                }
            )
        );
        assert_eq!(
            Filter::parse("(cn=a**b)"),
            Err(FilterError::EmptySubstring { offset: 6 })
        );
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(
            Filter::parse("(uid=a(b)"),
            Err(FilterError::UnescapedCharacter {
                offset: 6,
                found: '('
            })
        );
        assert_eq!(
            Filter::parse("(uid=\\2)"),
            Err(FilterError::InvalidEscape { offset: 5 })
        );
        assert_eq!(
            Filter::parse("(&)"),
            Err(FilterError::EmptyList { offset: 1 })
        );
        assert_eq!(
            Filter::parse("(uid=a))"),
            Err(FilterError::TrailingInput { offset: 7 })
        );
        assert_eq!(
            Filter::parse("(u id=a)"),
            Err(FilterError::InvalidAttribute { offset: 2 })
        );
        let deep = "(!".repeat(40) + "(a=b)" + &")".repeat(40);
        assert!(matches!(
            Filter::parse(&deep),
            Err(FilterError::TooDeep { .. })
        ));
    }

    #[test]
    fn non_utf8_bytes_are_escaped() {
        let f = Filter::equality(attr("objectGUID"), [0xff, b'a', 0x00, 0xc3]);
        assert_eq!(f.to_string(), r"(objectGUID=\ffa\00\c3)");
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn attribute_validation() {
        assert!(Attribute::new("cn;lang-en").is_ok());
        assert!(Attribute::new("2.5.4.3").is_ok());
        assert!(Attribute::new("01.2").is_err());
        assert!(Attribute::new("").is_err());
        assert!(Attribute::new("uid=*").is_err());
    }
}
