//! Exclusive XML Canonicalization 1.0 (with and without comments) of an element
//! subtree, optionally leaving out one descendant (the enveloped-signature
//! transform).

use super::tree::{Attribute, Document, Name, Node, NodeId, XML_NAMESPACE};
use crate::error::{Error, Result};

/// Algorithm URI of exclusive canonicalization without comments.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Algorithm URI of exclusive canonicalization with comments.
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// How to canonicalize.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct C14nOptions {
    /// Keep comments (the `#WithComments` variant).
    pub with_comments: bool,
    /// The InclusiveNamespaces PrefixList: prefixes handled as in inclusive
    /// canonicalization. `#default` stands for the default namespace.
    pub inclusive_prefixes: Vec<String>,
    /// A descendant left out of the output with all its content.
    pub exclude: Option<NodeId>,
}

type Binding<'a> = (Option<&'a str>, &'a str);

struct Ctx<'a> {
    doc: &'a Document,
    opts: &'a C14nOptions,
    out: String,
}

/// Appends `s` with the characters in `special` replaced by `replace`, copying the
/// runs between them in one piece.
fn escape_with(out: &mut String, s: &str, special: &[u8], replace: fn(u8) -> &'static str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if special.contains(b) {
            out.push_str(&s[start..i]);
            out.push_str(replace(*b));
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
}

pub(crate) fn escape_text(out: &mut String, s: &str) {
    escape_with(out, s, b"&<>\r", |b| match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'>' => "&gt;",
        _ => "&#xD;",
    });
}

pub(crate) fn escape_attr(out: &mut String, s: &str) {
    escape_with(out, s, b"&<\"\t\n\r", |b| match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'"' => "&quot;",
        b'\t' => "&#x9;",
        b'\n' => "&#xA;",
        _ => "&#xD;",
    });
}

fn push_qname(out: &mut String, name: &Name) {
    if let Some(p) = &name.prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(&name.local);
}

fn lookup<'a>(scope: &[Binding<'a>], prefix: Option<&str>) -> &'a str {
    scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map_or("", |(_, u)| *u)
}

impl<'a> Ctx<'a> {
    fn included(&self, prefix: Option<&str>) -> bool {
        let key = prefix.unwrap_or("#default");
        self.opts.inclusive_prefixes.iter().any(|p| p == key)
    }

    fn element(
        &mut self,
        id: NodeId,
        scope: &mut Vec<Binding<'a>>,
        rendered: &mut Vec<Binding<'a>>,
    ) -> Result<()> {
        let doc = self.doc;
        let Some(el) = doc.element(id) else {
            return Ok(());
        };
        let scope_len = scope.len();
        for d in &el.namespace_declarations {
            scope.push((d.prefix.as_deref(), d.uri.as_str()));
        }
        // Prefixes to consider: visibly utilized ones, then the inclusive list.
        let mut wanted: Vec<Option<&str>> = vec![el.name.prefix.as_deref()];
        for a in &el.attributes {
            if let Some(p) = a.name.prefix.as_deref()
                && p != "xml"
                && !wanted.contains(&Some(p))
            {
                wanted.push(Some(p));
            }
        }
        for p in &self.opts.inclusive_prefixes {
            let key = if p == "#default" {
                None
            } else {
                Some(p.as_str())
            };
            if !wanted.contains(&key) {
                wanted.push(key);
            }
        }
        let mut ns_out: Vec<Binding<'a>> = Vec::new();
        for prefix in wanted {
            let uri = lookup(scope, prefix);
            let current = lookup(rendered, prefix);
            let visibly_used = prefix == el.name.prefix.as_deref()
                || prefix.is_some()
                    && el
                        .attributes
                        .iter()
                        .any(|a| a.name.prefix.as_deref() == prefix);
            if !visibly_used && self.included(prefix) && uri.is_empty() && prefix.is_some() {
                continue;
            }
            if uri != current {
                if prefix.is_some() && uri.is_empty() {
                    return Err(Error::Namespace {
                        reason: format!("prefix `{}` is not bound", prefix.unwrap_or_default()),
                        offset: 0,
                    });
                }
                ns_out.push((prefix, uri));
            }
        }
        ns_out.sort_by(|a, b| a.0.unwrap_or("").cmp(b.0.unwrap_or("")));
        let mut attrs: Vec<(&str, &Attribute)> = el
            .attributes
            .iter()
            .map(|a| {
                let ns = if a.name.prefix.as_deref() == Some("xml") {
                    XML_NAMESPACE
                } else {
                    a.name.namespace.as_deref().unwrap_or("")
                };
                (ns, a)
            })
            .collect();
        attrs.sort_by(|a, b| (a.0, a.1.name.local.as_str()).cmp(&(b.0, b.1.name.local.as_str())));

        self.out.push('<');
        push_qname(&mut self.out, &el.name);
        for (p, u) in &ns_out {
            match p {
                Some(p) => {
                    self.out.push_str(" xmlns:");
                    self.out.push_str(p);
                }
                None => self.out.push_str(" xmlns"),
            }
            self.out.push_str("=\"");
            escape_attr(&mut self.out, u);
            self.out.push('"');
        }
        for (_, a) in &attrs {
            self.out.push(' ');
            push_qname(&mut self.out, &a.name);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, &a.value);
            self.out.push('"');
        }
        self.out.push('>');
        let rendered_len = rendered.len();
        rendered.extend(ns_out);
        for &child in &el.children {
            if Some(child) == self.opts.exclude {
                continue;
            }
            match doc.node(child) {
                Some(Node::Element(_)) => self.element(child, scope, rendered)?,
                Some(Node::Text(t)) => escape_text(&mut self.out, t),
                Some(Node::Comment(c)) if self.opts.with_comments => {
                    self.out.push_str("<!--");
                    self.out.push_str(c);
                    self.out.push_str("-->");
                }
                Some(Node::Comment(_)) | None => {}
                Some(Node::ProcessingInstruction { target, data }) => {
                    self.out.push_str("<?");
                    self.out.push_str(target);
                    if !data.is_empty() {
                        self.out.push(' ');
                        self.out.push_str(data);
                    }
                    self.out.push_str("?>");
                }
            }
        }
        rendered.truncate(rendered_len);
        scope.truncate(scope_len);
        self.out.push_str("</");
        push_qname(&mut self.out, &el.name);
        self.out.push('>');
        Ok(())
    }
}

/// Canonicalizes the subtree rooted at element `apex` with Exclusive XML
/// Canonicalization 1.0.
///
/// Namespace declarations of `apex`'s ancestors are taken into account (a prefix
/// used inside the subtree but declared above it is rendered on the first element
/// that visibly uses it), attributes in the `xml` namespace are not inherited.
pub fn canonicalize(doc: &Document, apex: NodeId, opts: &C14nOptions) -> Result<String> {
    if doc.element(apex).is_none() {
        return Err(Error::InvalidValue {
            field: "canonicalization apex".into(),
            reason: "not an element".into(),
        });
    }
    let mut scope: Vec<Binding<'_>> = Vec::new();
    let mut ancestors = Vec::new();
    let mut cur = doc.parent(apex);
    while let Some(c) = cur {
        ancestors.push(c);
        cur = doc.parent(c);
    }
    for &a in ancestors.iter().rev() {
        if let Some(e) = doc.element(a) {
            for d in &e.namespace_declarations {
                scope.push((d.prefix.as_deref(), d.uri.as_str()));
            }
        }
    }
    let mut ctx = Ctx {
        doc,
        opts,
        out: String::with_capacity(4096),
    };
    let mut rendered = Vec::new();
    ctx.element(apex, &mut scope, &mut rendered)?;
    Ok(ctx.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn c14n(xml: &str, opts: &C14nOptions) -> String {
        let d = parse(xml.as_bytes()).unwrap();
        canonicalize(&d, d.root(), opts).unwrap()
    }

    #[test]
    fn sorts_and_escapes() {
        let out = c14n(
            "<a xmlns:z='urn:z' xmlns:b='urn:b' z:q='1' b:q='&lt;&#9;' c='&quot;' a='x'>1 &gt; 0 &amp;&#13;</a>",
            &C14nOptions::default(),
        );
        assert_eq!(
            out,
            "<a xmlns:b=\"urn:b\" xmlns:z=\"urn:z\" a=\"x\" c=\"&quot;\" b:q=\"&lt;&#x9;\" z:q=\"1\">1 &gt; 0 &amp;&#xD;</a>"
        );
    }

    #[test]
    fn drops_unused_namespaces_and_redeclarations() {
        let out = c14n(
            "<p:a xmlns:p='urn:p' xmlns:u='urn:unused'><p:b xmlns:p='urn:p'/><c xmlns='urn:d'><d xmlns=''/></c></p:a>",
            &C14nOptions::default(),
        );
        assert_eq!(
            out,
            "<p:a xmlns:p=\"urn:p\"><p:b></p:b><c xmlns=\"urn:d\"><d xmlns=\"\"></d></c></p:a>"
        );
    }

    #[test]
    fn inclusive_prefix_list_and_comments() {
        let xml = "<p:a xmlns:p='urn:p' xmlns:u='urn:u'><!--x--><b/></p:a>";
        let opts = C14nOptions {
            with_comments: true,
            inclusive_prefixes: vec!["u".into()],
            exclude: None,
        };
        assert_eq!(
            c14n(xml, &opts),
            "<p:a xmlns:p=\"urn:p\" xmlns:u=\"urn:u\"><!--x--><b></b></p:a>"
        );
        assert_eq!(
            c14n(xml, &C14nOptions::default()),
            "<p:a xmlns:p=\"urn:p\"><b></b></p:a>"
        );
    }

    #[test]
    fn subtree_inherits_used_prefixes_only() {
        let d = parse(b"<r xmlns='urn:r' xmlns:x='urn:x' xml:lang='en'><x:s a='1'><t/></x:s></r>")
            .unwrap();
        let s = d.child_elements(d.root()).next().unwrap().0;
        let out = canonicalize(&d, s, &C14nOptions::default()).unwrap();
        assert_eq!(
            out,
            "<x:s xmlns:x=\"urn:x\" a=\"1\"><t xmlns=\"urn:r\"></t></x:s>"
        );
    }
}
