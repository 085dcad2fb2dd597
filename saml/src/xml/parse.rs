//! Hardened XML parsing into a [`Document`].
//!
//! DTDs are refused outright (so no external or recursive entities can exist), only
//! the five predefined entities and character references are expanded, and input
//! size, nesting depth, node count and attributes per element are bounded.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::reader::Reader;

use super::tree::{Attribute, Document, Name, NamespaceDeclaration, Node, NodeId, XML_NAMESPACE};
use crate::error::{Error, Result};

const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

/// Bounds applied while parsing untrusted XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting (the root is depth 1).
    pub max_depth: usize,
    /// Most nodes (elements, text, comments) in the document.
    pub max_nodes: usize,
    /// Most attributes (including namespace declarations) on one element.
    pub max_attributes: usize,
}

impl Limits {
    /// Limits suited to SAML protocol messages: 1 MiB, depth 64, 50,000 nodes,
    /// 64 attributes per element.
    pub const SAML: Self = Self {
        max_bytes: 1 << 20,
        max_depth: 64,
        max_nodes: 50_000,
        max_attributes: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::SAML
    }
}

/// Parses XML with the default [`Limits`].
pub fn parse(input: &[u8]) -> Result<Document> {
    parse_with_limits(input, &Limits::default())
}

struct Open {
    id: NodeId,
    /// Length of the namespace scope stack before this element's declarations.
    scope_len: usize,
}

struct Builder<'l> {
    doc: Option<Document>,
    stack: Vec<Open>,
    scope: Vec<(Option<String>, String)>,
    text: String,
    limits: &'l Limits,
    root_closed: bool,
}

fn malformed(reason: impl Into<String>, offset: u64) -> Error {
    Error::Malformed {
        reason: reason.into(),
        offset,
    }
}

fn namespace_error(reason: impl Into<String>, offset: u64) -> Error {
    Error::Namespace {
        reason: reason.into(),
        offset,
    }
}

pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn check_chars(s: &str, offset: u64) -> Result<()> {
    if s.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(malformed("character not allowed in XML", offset))
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii() && !c.is_whitespace() && !c.is_control()
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.' || c.is_numeric()
}

fn check_ncname(s: &str, offset: u64) -> Result<()> {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start(c) && chars.all(is_name_char) => Ok(()),
        _ => Err(malformed(format!("invalid name `{s}`"), offset)),
    }
}

/// Splits a QName into prefix and local part, checking both are NCNames.
fn split_qname(raw: &str, offset: u64) -> Result<(Option<&str>, &str)> {
    if let Some((p, l)) = raw.split_once(':') {
        check_ncname(p, offset)?;
        check_ncname(l, offset)?;
        Ok((Some(p), l))
    } else {
        check_ncname(raw, offset)?;
        Ok((None, raw))
    }
}

fn resolve_entity(name: &str, offset: u64) -> Result<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix('x') {
            u32::from_str_radix(hex, 16).ok()
        } else {
            num.parse::<u32>().ok()
        };
        return code
            .filter(|_| !num.is_empty() && !num.starts_with(['+', '-']))
            .and_then(char::from_u32)
            .filter(|&c| is_xml_char(c))
            .ok_or_else(|| malformed(format!("invalid character reference `&{name};`"), offset));
    }
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(Error::UndefinedEntity {
            name: name.to_owned(),
            offset,
        }),
    }
}

/// Normalizes line ends as XML 1.0 requires: `\r\n` and lone `\r` become `\n`.
fn normalize_eol(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\r') {
        std::borrow::Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Attribute-value normalization (XML 1.0 section 3.3.3 for CDATA attributes):
/// literal whitespace characters become spaces, references are expanded.
fn normalize_attribute(raw: &str, offset: u64) -> Result<String> {
    let raw = normalize_eol(raw);
    let mut out = String::with_capacity(raw.len());
    let mut rest: &str = &raw;
    while let Some(pos) = rest.find(['&', '\t', '\n', '<']) {
        out.push_str(&rest[..pos]);
        let c = rest[pos..].chars().next().unwrap_or('&');
        match c {
            '<' => return Err(malformed("`<` in an attribute value", offset)),
            '\t' | '\n' => {
                out.push(' ');
                rest = &rest[pos + 1..];
            }
            _ => {
                let after = &rest[pos + 1..];
                let end = after
                    .find(';')
                    .ok_or_else(|| malformed("unterminated reference in attribute", offset))?;
                out.push(resolve_entity(&after[..end], offset)?);
                rest = &after[end + 1..];
            }
        }
    }
    out.push_str(rest);
    check_chars(&out, offset)?;
    Ok(out)
}

impl Builder<'_> {
    fn offset_check_nodes(&self, offset: u64) -> Result<()> {
        if self
            .doc
            .as_ref()
            .is_some_and(|d| d.len() >= self.limits.max_nodes)
        {
            return Err(Error::TooMany {
                what: "node count",
                limit: self.limits.max_nodes,
                offset,
            });
        }
        Ok(())
    }

    fn lookup(&self, prefix: Option<&str>) -> Option<&str> {
        if prefix == Some("xml") {
            return Some(XML_NAMESPACE);
        }
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p.as_deref() == prefix)
            .map(|(_, u)| u.as_str())
            .filter(|u| !u.is_empty())
    }

    fn flush_text(&mut self, offset: u64) -> Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.text);
        match self.stack.last() {
            Some(open) => {
                let parent = open.id;
                self.offset_check_nodes(offset)?;
                if let Some(doc) = self.doc.as_mut() {
                    doc.append_node(parent, Node::Text(text))?;
                }
                Ok(())
            }
            None => {
                if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                    Ok(())
                } else {
                    Err(malformed("text outside the root element", offset))
                }
            }
        }
    }

    fn start(&mut self, start: &BytesStart<'_>, offset: u64) -> Result<NodeId> {
        if self.root_closed {
            return Err(malformed("more than one root element", offset));
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(Error::TooDeep {
                limit: self.limits.max_depth,
                offset,
            });
        }
        self.offset_check_nodes(offset)?;
        let scope_len = self.scope.len();
        let mut decls = Vec::new();
        let mut raw_attrs: Vec<(String, String)> = Vec::new();
        for (count, attr) in start.attributes().with_checks(true).enumerate() {
            if count >= self.limits.max_attributes {
                return Err(Error::TooMany {
                    what: "attributes on one element",
                    limit: self.limits.max_attributes,
                    offset,
                });
            }
            let attr = attr.map_err(|e| malformed(e.to_string(), offset))?;
            let key: &str = attr.key.as_ref();
            let value = normalize_attribute(&attr.value, offset)?;
            if key == "xmlns" {
                if value == XML_NAMESPACE || value == XMLNS_NAMESPACE {
                    return Err(namespace_error("reserved namespace as default", offset));
                }
                decls.push(NamespaceDeclaration {
                    prefix: None,
                    uri: value,
                });
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                check_ncname(p, offset)?;
                if value.is_empty() {
                    return Err(namespace_error(
                        format!("empty URI for prefix `{p}`"),
                        offset,
                    ));
                }
                if p == "xmlns"
                    || (p == "xml") != (value == XML_NAMESPACE)
                    || value == XMLNS_NAMESPACE
                {
                    return Err(namespace_error(
                        format!("reserved prefix or namespace `{p}`"),
                        offset,
                    ));
                }
                if p == "xml" {
                    continue;
                }
                decls.push(NamespaceDeclaration {
                    prefix: Some(p.to_owned()),
                    uri: value,
                });
            } else {
                raw_attrs.push((key.to_owned(), value));
            }
        }
        for d in &decls {
            self.scope.push((d.prefix.clone(), d.uri.clone()));
        }
        let qname = start.name();
        let raw_name: &str = qname.as_ref();
        let (prefix, local) = split_qname(raw_name, offset)?;
        let namespace = match prefix {
            Some(p) => Some(
                self.lookup(Some(p))
                    .ok_or_else(|| namespace_error(format!("undeclared prefix `{p}`"), offset))?
                    .to_owned(),
            ),
            None => self.lookup(None).map(str::to_owned),
        };
        let name = Name {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            namespace,
        };
        let mut attributes: Vec<Attribute> = Vec::with_capacity(raw_attrs.len());
        for (key, value) in raw_attrs {
            let (prefix, local) = split_qname(&key, offset)?;
            let namespace = match prefix {
                Some(p) => Some(
                    self.lookup(Some(p))
                        .ok_or_else(|| namespace_error(format!("undeclared prefix `{p}`"), offset))?
                        .to_owned(),
                ),
                None => None,
            };
            if attributes
                .iter()
                .any(|a| a.name.local == local && a.name.namespace == namespace)
            {
                return Err(malformed(format!("duplicate attribute `{key}`"), offset));
            }
            attributes.push(Attribute {
                name: Name {
                    prefix: prefix.map(str::to_owned),
                    local: local.to_owned(),
                    namespace,
                },
                value,
            });
        }
        let id = match (self.doc.as_mut(), self.stack.last()) {
            (None, _) => {
                let mut doc = Document::new(name);
                let root = doc.root();
                if let Some(e) = doc.element_mut(root) {
                    e.namespace_declarations = decls;
                    e.attributes = attributes;
                }
                self.doc = Some(doc);
                root
            }
            (Some(doc), Some(open)) => {
                let id = doc.append_element(open.id, name)?;
                if let Some(e) = doc.element_mut(id) {
                    e.namespace_declarations = decls;
                    e.attributes = attributes;
                }
                id
            }
            (Some(_), None) => return Err(malformed("more than one root element", offset)),
        };
        self.stack.push(Open { id, scope_len });
        Ok(id)
    }

    fn end(&mut self) {
        if let Some(open) = self.stack.pop() {
            self.scope.truncate(open.scope_len);
            if self.stack.is_empty() {
                self.root_closed = true;
            }
        }
    }

    fn misc(&mut self, node: Node, offset: u64) -> Result<()> {
        self.flush_text(offset)?;
        if let Some(open) = self.stack.last() {
            let parent = open.id;
            self.offset_check_nodes(offset)?;
            if let Some(doc) = self.doc.as_mut() {
                doc.append_node(parent, node)?;
            }
        }
        Ok(())
    }
}

/// Parses XML with explicit [`Limits`].
///
/// The input must be UTF-8 (a byte-order mark is skipped); any declared encoding other
/// than UTF-8 is refused.
pub fn parse_with_limits(input: &[u8], limits: &Limits) -> Result<Document> {
    if input.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input)
        .map_err(|e| malformed("input is not UTF-8", e.valid_up_to() as u64))?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
    config.trim_text(false);
    let mut b = Builder {
        doc: None,
        stack: Vec::new(),
        scope: Vec::new(),
        text: String::new(),
        limits,
        root_closed: false,
    };
    let mut first = true;
    loop {
        let offset = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| malformed(e.to_string(), reader.error_position()))?;
        let was_first = first;
        first = false;
        match event {
            Event::Decl(decl) => {
                if !was_first {
                    return Err(malformed("XML declaration not at the start", offset));
                }
                let version = decl
                    .xml_version()
                    .map_err(|e| malformed(e.to_string(), offset))?;
                if matches!(version, XmlVersion::Explicit1_1) {
                    return Err(malformed("only XML 1.0 is accepted", offset));
                }
                if let Some(enc) = decl.encoding() {
                    let enc = enc.map_err(|e| malformed(e.to_string(), offset))?;
                    if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
                        return Err(malformed(format!("encoding `{enc}` is not UTF-8"), offset));
                    }
                }
            }
            Event::DocType(_) => return Err(Error::DtdRefused { offset }),
            Event::Start(start) => {
                b.flush_text(offset)?;
                b.start(&start, offset)?;
            }
            Event::Empty(start) => {
                b.flush_text(offset)?;
                b.start(&start, offset)?;
                b.end();
            }
            Event::End(end) => {
                b.flush_text(offset)?;
                let _: QName<'_> = end.name();
                b.end();
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                check_chars(&content, offset)?;
                if content.contains("]]>") {
                    return Err(malformed("`]]>` in character data", offset));
                }
                b.text.push_str(&content);
                if b.stack.is_empty() && !b.text.trim_matches([' ', '\t', '\n']).is_empty() {
                    return Err(malformed("text outside the root element", offset));
                }
            }
            Event::CData(c) => {
                if b.stack.is_empty() {
                    return Err(malformed("CDATA outside the root element", offset));
                }
                let content = c.xml10_content();
                check_chars(&content, offset)?;
                b.text.push_str(&content);
            }
            Event::GeneralRef(r) => {
                if b.stack.is_empty() {
                    return Err(malformed("reference outside the root element", offset));
                }
                let c = resolve_entity(&r, offset)?;
                b.text.push(c);
            }
            Event::Comment(c) => {
                let content = c.xml10_content();
                check_chars(&content, offset)?;
                b.misc(Node::Comment(content.into_owned()), offset)?;
            }
            Event::PI(pi) => {
                let target = pi.target();
                if target.eq_ignore_ascii_case("xml") {
                    return Err(malformed("XML declaration not at the start", offset));
                }
                check_ncname(target, offset)?;
                let data = normalize_eol(pi.content().trim_start_matches([' ', '\t', '\n', '\r']))
                    .into_owned();
                check_chars(&data, offset)?;
                b.misc(
                    Node::ProcessingInstruction {
                        target: target.to_owned(),
                        data,
                    },
                    offset,
                )?;
            }
            Event::Eof => break,
        }
    }
    let offset = reader.buffer_position();
    if !b.stack.is_empty() {
        return Err(malformed("unclosed element at end of input", offset));
    }
    b.flush_text(offset)?;
    b.doc.ok_or_else(|| malformed("no root element", offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_entities() {
        let d = parse(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<a:r xmlns:a="urn:a" xmlns="urn:d" x="1&amp;2&#x41;&#10;"><b a:y="v">t&lt;<!-- c -->u<![CDATA[<&]]></b></a:r>"#,
        )
        .unwrap();
        let root = d.element(d.root()).unwrap();
        assert!(root.is("urn:a", "r"));
        assert_eq!(root.attribute("x"), Some("1&2A\n"));
        let (b, be) = d.child_elements(d.root()).next().unwrap();
        assert!(be.is("urn:d", "b"));
        assert_eq!(be.attribute_ns("urn:a", "y"), Some("v"));
        assert_eq!(d.text(b).unwrap(), "t<u<&");
    }

    #[test]
    fn refuses_dtd_and_entities() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(parse(xxe), Err(Error::DtdRefused { .. })));
        assert!(matches!(
            parse(b"<r>&x;</r>"),
            Err(Error::UndefinedEntity { .. })
        ));
        assert!(matches!(
            parse(b"<r a='&x;'/>"),
            Err(Error::UndefinedEntity { .. })
        ));
    }

    #[test]
    fn enforces_limits() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(parse(deep.as_bytes()), Err(Error::TooDeep { .. })));
        let limits = Limits {
            max_bytes: 10,
            ..Limits::SAML
        };
        assert!(matches!(
            parse_with_limits(b"<a>0123456789</a>", &limits),
            Err(Error::TooLarge { .. })
        ));
        let limits = Limits {
            max_nodes: 3,
            ..Limits::SAML
        };
        assert!(matches!(
            parse_with_limits(b"<a><b/><c/><d/></a>", &limits),
            Err(Error::TooMany { .. })
        ));
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            &b"<a>"[..],
            b"<a></b>",
            b"<a/><b/>",
            b"text<a/>",
            b"<p:a/>",
            b"<a x='1' x='2'/>",
            b"<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
            b"<a x='<'/>",
            b"<a>\x01</a>",
            b"<a>&#0;</a>",
            b"<a><!-- a -- b --></a>",
            b"",
            b"<a xmlns:p=''/>",
            b"<?xml version='1.0' encoding='ISO-8859-1'?><a/>",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
