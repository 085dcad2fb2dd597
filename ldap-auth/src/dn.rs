//! RFC 4514 distinguished names: parse, compare, escape and build child DNs.
//!
//! Directories return DNs in their own spelling (`cn=Doe\2C Jane`, `CN=Doe\, Jane`,
//! `cn=doe\,  jane`), so DNs are compared parsed: attribute types case-insensitively (and their
//! common OIDs as their names), values of case-ignore types (`cn`, `uid`, `dc`, `ou` …)
//! case-insensitively with insignificant spaces removed, other values byte for byte.
//! [`Dn`]'s `PartialEq` and `Hash` follow these rules.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};

use crate::filter::hex_digit;

/// Longest DN string the parser accepts, in bytes.
pub const MAX_DN_LEN: usize = 8 * 1024;

/// What was wrong with a DN string, and where (a byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnError {
    /// An attribute type is neither a descriptor nor a numeric OID.
    #[error("invalid attribute type at offset {offset}")]
    InvalidAttributeType {
        /// Byte offset.
        offset: usize,
    },
    /// The `=` after an attribute type is missing.
    #[error("expected `=` at offset {offset}")]
    ExpectedEquals {
        /// Byte offset.
        offset: usize,
    },
    /// A `\` not followed by a special character or two hex digits.
    #[error("invalid escape at offset {offset}")]
    InvalidEscape {
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// A `#hexstring` value with an odd number of digits or a non-hex character.
    #[error("invalid hex string value at offset {offset}")]
    InvalidHexString {
        /// Byte offset.
        offset: usize,
    },
    /// A character that must be escaped (`"`, `<`, `>`, NUL) appears bare.
    #[error("character {found:?} at offset {offset} must be escaped")]
    UnescapedCharacter {
        /// Byte offset.
        offset: usize,
        /// The character.
        found: char,
    },
    /// An RDN or attribute is empty (`cn=a,,dc=b`, trailing `,` or `+`).
    #[error("empty relative distinguished name at offset {offset}")]
    EmptyRdn {
        /// Byte offset.
        offset: usize,
    },
    /// Input longer than [`MAX_DN_LEN`].
    #[error("DN of {len} bytes is longer than the limit of {limit}")]
    TooLong {
        /// Length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// One `type=value` pair of an RDN.
#[derive(Debug, Clone)]
pub struct Ava {
    attribute: String,
    value: Vec<u8>,
    /// Whether the value was given as `#hex` (a BER encoding, compared byte for byte).
    ber: bool,
}

impl Ava {
    /// A `type=value` pair with a string value (raw, unescaped bytes).
    pub fn new(attribute: &str, value: impl AsRef<[u8]>) -> Result<Self, DnError> {
        let len = crate::filter::descr_or_oid_len(attribute.as_bytes())
            .map_err(|offset| DnError::InvalidAttributeType { offset })?;
        if len != attribute.len() {
            return Err(DnError::InvalidAttributeType { offset: len });
        }
        Ok(Self {
            attribute: attribute.to_owned(),
            value: value.as_ref().to_vec(),
            ber: false,
        })
    }

    /// The attribute type as written.
    pub fn attribute(&self) -> &str {
        &self.attribute
    }

    /// The value, unescaped.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value as text, if it is UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    fn normalized(&self) -> (String, Vec<u8>, bool) {
        let attribute = canonical_type(&self.attribute);
        let value = if !self.ber && is_case_ignore(&attribute) {
            normalize_case_ignore(&self.value)
        } else {
            self.value.clone()
        };
        (attribute, value, self.ber)
    }
}

/// A relative distinguished name: one or more [`Ava`]s joined by `+`.
#[derive(Debug, Clone)]
pub struct Rdn {
    avas: Vec<Ava>,
}

impl Rdn {
    /// A single-valued RDN, for example `Rdn::new("uid", "jdoe")`.
    pub fn new(attribute: &str, value: impl AsRef<[u8]>) -> Result<Self, DnError> {
        Ok(Self {
            avas: vec![Ava::new(attribute, value)?],
        })
    }

    /// The attribute-value pairs (at least one).
    pub fn avas(&self) -> &[Ava] {
        &self.avas
    }

    /// The value of `attribute` in this RDN, if present.
    pub fn get(&self, attribute: &str) -> Option<&[u8]> {
        let wanted = canonical_type(attribute);
        self.avas
            .iter()
            .find(|a| canonical_type(&a.attribute) == wanted)
            .map(Ava::value)
    }

    fn normalized(&self) -> Vec<(String, Vec<u8>, bool)> {
        let mut n: Vec<_> = self.avas.iter().map(Ava::normalized).collect();
        n.sort();
        n
    }
}

impl PartialEq for Rdn {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Eq for Rdn {}

/// A distinguished name, most specific RDN first (`uid=jdoe,ou=people,dc=example,dc=com`).
#[derive(Debug, Clone, Default)]
pub struct Dn {
    rdns: Vec<Rdn>,
}

impl Dn {
    /// The empty DN (the root DSE).
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses an RFC 4514 string. Spaces around `,`, `+` and `=` are accepted (as RFC 1779 and
    /// most directories write them) and unescaped trailing spaces of a value dropped.
    pub fn parse(input: &str) -> Result<Self, DnError> {
        if input.len() > MAX_DN_LEN {
            return Err(DnError::TooLong {
                len: input.len(),
                limit: MAX_DN_LEN,
            });
        }
        let bytes = input.as_bytes();
        let mut pos = skip_spaces(bytes, 0);
        let mut rdns = Vec::new();
        if pos == bytes.len() {
            return Ok(Self { rdns });
        }
        let mut avas = Vec::new();
        loop {
            let (ava, next) = parse_ava(bytes, pos)?;
            avas.push(ava);
            pos = skip_spaces(bytes, next);
            match bytes.get(pos) {
                None => {
                    rdns.push(Rdn {
                        avas: std::mem::take(&mut avas),
                    });
                    return Ok(Self { rdns });
                }
                Some(b',' | b';') => {
                    rdns.push(Rdn {
                        avas: std::mem::take(&mut avas),
                    });
                }
                Some(b'+') => {}
                Some(&c) => {
                    return Err(DnError::UnescapedCharacter {
                        offset: pos,
                        found: c as char,
                    });
                }
            }
            pos = skip_spaces(bytes, pos + 1);
            if pos == bytes.len() {
                return Err(DnError::EmptyRdn { offset: pos });
            }
        }
    }

    /// The RDNs, most specific first.
    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    /// Whether this is the empty DN.
    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The DN with `rdn` added in front: `ou=people,dc=x`.child(`uid=a`) is `uid=a,ou=people,dc=x`.
    #[must_use]
    pub fn child(&self, rdn: Rdn) -> Self {
        let mut rdns = Vec::with_capacity(self.rdns.len() + 1);
        rdns.push(rdn);
        rdns.extend(self.rdns.iter().cloned());
        Self { rdns }
    }

    /// The DN without its first RDN (`None` for the root).
    pub fn parent(&self) -> Option<Self> {
        (!self.rdns.is_empty()).then(|| Self {
            rdns: self.rdns[1..].to_vec(),
        })
    }

    /// Whether `self` is `ancestor` or lies below it.
    pub fn is_within(&self, ancestor: &Dn) -> bool {
        self.rdns.len() >= ancestor.rdns.len()
            && self.rdns[self.rdns.len() - ancestor.rdns.len()..]
                .iter()
                .zip(&ancestor.rdns)
                .all(|(a, b)| a == b)
    }

    /// The value of `attribute` in the first RDN (`cn` of `cn=admins,ou=groups,…`).
    pub fn first_value(&self, attribute: &str) -> Option<&[u8]> {
        self.rdns.first().and_then(|r| r.get(attribute))
    }
}

impl PartialEq for Dn {
    fn eq(&self, other: &Self) -> bool {
        self.rdns == other.rdns
    }
}

impl Eq for Dn {}

impl Hash for Dn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for rdn in &self.rdns {
            rdn.normalized().hash(state);
        }
        self.rdns.len().hash(state);
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, ava) in rdn.avas.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(&ava.attribute);
                out.push('=');
                if ava.ber {
                    out.push('#');
                    for b in &ava.value {
                        let _ = write!(out, "{b:02x}");
                    }
                } else {
                    escape_value_into(&ava.value, &mut out);
                }
            }
        }
        f.write_str(&out)
    }
}

impl std::str::FromStr for Dn {
    type Err = DnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Appends an attribute value escaped per RFC 4514 §2.4: `"+,;<>\=` with a backslash, a leading
/// `#` or space and a trailing space with a backslash, NUL and the other ASCII control characters
/// and bytes that are not UTF-8 as `\XX`.
pub fn escape_value_into(value: &[u8], out: &mut String) {
    let last = value.len().saturating_sub(1);
    let mut index = 0;
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            let at = index;
            index += c.len_utf8();
            match c {
                '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                    out.push('\\');
                    out.push(c);
                }
                '#' if at == 0 => out.push_str("\\#"),
                ' ' if at == 0 || at == last => out.push_str("\\ "),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\{:02x}", c as u8);
                }
                _ => out.push(c),
            }
        }
        for b in chunk.invalid() {
            index += 1;
            let _ = write!(out, "\\{b:02x}");
        }
    }
}

/// An attribute value escaped per RFC 4514 §2.4 (see [`escape_value_into`]).
pub fn escape_value(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    escape_value_into(value, &mut out);
    out
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

fn parse_ava(bytes: &[u8], start: usize) -> Result<(Ava, usize), DnError> {
    let mut pos = start;
    // RFC 4514 allows an "OID." prefix only in older forms; accept descr/numericoid.
    let len = crate::filter::descr_or_oid_len(&bytes[pos..]).map_err(|o| {
        if pos + o >= bytes.len() || matches!(bytes[pos + o], b',' | b'+' | b';') {
            DnError::EmptyRdn { offset: pos + o }
        } else {
            DnError::InvalidAttributeType { offset: pos + o }
        }
    })?;
    let attribute = String::from_utf8_lossy(&bytes[pos..pos + len]).into_owned();
    pos = skip_spaces(bytes, pos + len);
    if bytes.get(pos) != Some(&b'=') {
        return Err(DnError::ExpectedEquals { offset: pos });
    }
    pos = skip_spaces(bytes, pos + 1);
    if bytes.get(pos) == Some(&b'#') {
        let hex_start = pos + 1;
        let n = bytes[hex_start..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if n == 0 || n % 2 != 0 {
            return Err(DnError::InvalidHexString { offset: pos });
        }
        let value = bytes[hex_start..hex_start + n]
            .chunks_exact(2)
            .filter_map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?))
            .collect();
        let end = hex_start + n;
        if let Some(&c) = bytes.get(end)
            && !matches!(c, b',' | b'+' | b';' | b' ')
        {
            return Err(DnError::InvalidHexString { offset: end });
        }
        return Ok((
            Ava {
                attribute,
                value,
                ber: true,
            },
            end,
        ));
    }
    let mut value = Vec::new();
    // Length of `value` up to the last escaped or non-space byte: unescaped trailing spaces go.
    let mut significant = 0;
    loop {
        match bytes.get(pos) {
            None | Some(b',' | b'+' | b';') => break,
            Some(b'\\') => {
                match bytes.get(pos + 1) {
                    Some(
                        &c @ (b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' | b' ' | b'#' | b'='),
                    ) => {
                        value.push(c);
                        pos += 2;
                    }
                    Some(&h) if hex_digit(h).is_some() => {
                        let lo = bytes.get(pos + 2).and_then(|b| hex_digit(*b));
                        match (hex_digit(h), lo) {
                            (Some(hi), Some(lo)) => value.push(hi << 4 | lo),
                            _ => return Err(DnError::InvalidEscape { offset: pos }),
                        }
                        pos += 3;
                    }
                    _ => return Err(DnError::InvalidEscape { offset: pos }),
                }
                significant = value.len();
            }
            Some(&c @ (b'"' | b'<' | b'>' | 0)) => {
                return Err(DnError::UnescapedCharacter {
                    offset: pos,
                    found: c as char,
                });
            }
            Some(&c) => {
                value.push(c);
                pos += 1;
                if c != b' ' {
                    significant = value.len();
                }
            }
        }
    }
    value.truncate(significant);
    Ok((
        Ava {
            attribute,
            value,
            ber: false,
        },
        pos,
    ))
}

/// Lower-case name for an attribute type, with the OIDs of common types mapped to their names.
fn canonical_type(attribute: &str) -> String {
    let lower = attribute.to_ascii_lowercase();
    let name = match lower.as_str() {
        "2.5.4.3" | "commonname" => "cn",
        "2.5.4.4" => "sn",
        "2.5.4.6" => "c",
        "2.5.4.7" => "l",
        "2.5.4.8" => "st",
        "2.5.4.9" => "street",
        "2.5.4.10" | "organizationname" => "o",
        "2.5.4.11" | "organizationalunitname" => "ou",
        "0.9.2342.19200300.100.1.1" | "userid" => "uid",
        "0.9.2342.19200300.100.1.25" | "domaincomponent" => "dc",
        _ => return lower,
    };
    name.to_owned()
}

/// Types whose values compare with caseIgnoreMatch / caseIgnoreIA5Match.
fn is_case_ignore(canonical: &str) -> bool {
    matches!(
        canonical,
        "cn" | "sn"
            | "c"
            | "l"
            | "st"
            | "street"
            | "o"
            | "ou"
            | "uid"
            | "dc"
            | "mail"
            | "givenname"
            | "title"
            | "samaccountname"
            | "userprincipalname"
    )
}

/// Case folded, leading and trailing spaces removed and inner runs of spaces collapsed (an
/// approximation of the RFC 4518 insignificant-space rules without full Unicode folding).
fn normalize_case_ignore(value: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(value) {
        Ok(s) => s
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        Err(_) => value.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_other_spellings() {
        let a = Dn::parse(r"cn=Doe\, Jane,ou=People,dc=Example,dc=com").unwrap();
        let b = Dn::parse(r"CN=doe\2C  jane , OU=people,DC=example,DC=COM").unwrap();
        let c = Dn::parse(r"2.5.4.3=Doe\2c Jane,ou=people,dc=example,dc=com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(
            a,
            Dn::parse("cn=Doe Jane,ou=People,dc=Example,dc=com").unwrap()
        );
    }

    #[test]
    fn escapes_per_rfc4514() {
        let dn = Dn::parse("ou=x")
            .unwrap()
            .child(Rdn::new("cn", " #a,b+c\"d\\e<f>g;h=i ").unwrap());
        assert_eq!(dn.to_string(), r#"cn=\ #a\,b\+c\"d\\e\<f\>g\;h\=i\ ,ou=x"#);
        assert_eq!(
            Dn::parse(&dn.to_string()).unwrap().rdns[0].avas[0].value,
            b" #a,b+c\"d\\e<f>g;h=i "
        );
        let leading_hash = Rdn::new("cn", "#x").unwrap();
        assert_eq!(Dn::root().child(leading_hash).to_string(), r"cn=\#x");
    }

    #[test]
    fn multi_valued_rdn_order_does_not_matter() {
        assert_eq!(
            Dn::parse("cn=a+uid=b,dc=x").unwrap(),
            Dn::parse("uid=B+cn=A,dc=x").unwrap()
        );
    }

    #[test]
    fn hex_values_and_errors() {
        let dn = Dn::parse("1.3.6.1.4.1.1466.0=#04024869,dc=x").unwrap();
        assert_eq!(dn.rdns[0].avas[0].value, [4, 2, 0x48, 0x69]);
        assert_eq!(dn.to_string(), "1.3.6.1.4.1.1466.0=#04024869,dc=x");
        assert_eq!(
            Dn::parse("cn=a,,dc=b"),
            Err(DnError::EmptyRdn { offset: 5 })
        );
        assert_eq!(Dn::parse("cn=a,"), Err(DnError::EmptyRdn { offset: 5 }));
        assert_eq!(
            Dn::parse("cn=a\\x"),
            Err(DnError::InvalidEscape { offset: 4 })
        );
        assert_eq!(Dn::parse("cn"), Err(DnError::ExpectedEquals { offset: 2 }));
        assert_eq!(
            Dn::parse("cn=#123"),
            Err(DnError::InvalidHexString { offset: 3 })
        );
    }

    #[test]
    fn within_and_parent() {
        let base = Dn::parse("dc=example,dc=com").unwrap();
        let user = Dn::parse("uid=a,ou=People,DC=Example,dc=com").unwrap();
        assert!(user.is_within(&base));
        assert!(!base.is_within(&user));
        assert_eq!(
            user.parent().unwrap(),
            Dn::parse("ou=people,dc=example,dc=com").unwrap()
        );
    }
}
