//! Serialization of a [`Document`] back to XML text.

use super::c14n::{escape_attr, escape_text};
use super::tree::{Document, Element, Node, NodeId};

fn write_start_tag(el: &Element, qname: &str, out: &mut String) {
    out.push('<');
    out.push_str(qname);
    for d in &el.namespace_declarations {
        match &d.prefix {
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        escape_attr(out, &d.uri);
        out.push('"');
    }
    for a in &el.attributes {
        out.push(' ');
        out.push_str(&a.name.qname());
        out.push_str("=\"");
        escape_attr(out, &a.value);
        out.push('"');
    }
    out.push('>');
}

impl Document {
    /// Serializes the document with an XML declaration.
    ///
    /// Namespace declarations and attributes are written in the order they are held,
    /// every element gets an end tag, and text and attribute values are escaped the way
    /// canonical XML escapes them, so that parsing the output gives the same tree.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        self.write_node(self.root(), &mut out);
        out
    }

    /// Serializes one element and its content, without an XML declaration.
    ///
    /// Namespaces declared on ancestors are not repeated: the output of an inner
    /// element may not stand alone.
    pub fn element_to_xml(&self, id: NodeId) -> String {
        let mut out = String::new();
        self.write_node(id, &mut out);
        out
    }

    /// Serializes the document indented for reading (the `decode` tracer). Elements
    /// whose content is only elements get one child a line; text is never touched.
    /// The output is for people: whitespace is added, so it does not keep signatures
    /// valid.
    pub fn to_pretty_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write_pretty(self.root(), 0, &mut out);
        out.push('\n');
        out
    }

    fn write_pretty(&self, id: NodeId, depth: usize, out: &mut String) {
        let Some(Node::Element(el)) = self.node(id) else {
            self.write_node(id, out);
            return;
        };
        let only_elements = !el.children.is_empty()
            && el.children.iter().all(|&c| {
                matches!(self.node(c), Some(Node::Element(_)))
                    || matches!(self.node(c), Some(Node::Text(t)) if t.trim().is_empty())
            });
        if !only_elements {
            self.write_node(id, out);
            return;
        }
        let qname = el.name.qname();
        write_start_tag(el, &qname, out);
        for &c in &el.children {
            if matches!(self.node(c), Some(Node::Element(_))) {
                out.push('\n');
                out.push_str(&"  ".repeat(depth + 1));
                self.write_pretty(c, depth + 1, out);
            }
        }
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
    }

    fn write_node(&self, id: NodeId, out: &mut String) {
        match self.node(id) {
            Some(Node::Element(el)) => {
                let qname = el.name.qname();
                write_start_tag(el, &qname, out);
                for &c in &el.children {
                    self.write_node(c, out);
                }
                out.push_str("</");
                out.push_str(&qname);
                out.push('>');
            }
            Some(Node::Text(t)) => escape_text(out, t),
            Some(Node::Comment(c)) => {
                out.push_str("<!--");
                out.push_str(c);
                out.push_str("-->");
            }
            Some(Node::ProcessingInstruction { target, data }) => {
                out.push_str("<?");
                out.push_str(target);
                if !data.is_empty() {
                    out.push(' ');
                    out.push_str(data);
                }
                out.push_str("?>");
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::xml::parse;

    #[test]
    fn round_trips() {
        let src =
            "<a:r xmlns:a=\"urn:a\" x=\"&#x9;&quot;&amp;\">t&#xD;&lt;<!--c--><?pi d?><b></b></a:r>";
        let d = parse(src.as_bytes()).unwrap();
        let out = d.to_xml();
        assert_eq!(
            out,
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{src}")
        );
        assert_eq!(parse(out.as_bytes()).unwrap(), d);
    }

    #[test]
    fn pretty_prints_element_only_content() {
        let d = parse(b"<a x='&gt;'><b><c>t</c></b><d/></a>").unwrap();
        assert_eq!(
            d.to_pretty_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a x=\">\">\n  <b>\n    <c>t</c>\n  </b>\n  <d></d>\n</a>\n"
        );
    }
}
