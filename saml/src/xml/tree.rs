//! A small owned XML tree: an arena of nodes addressed by [`NodeId`].

use crate::error::{Error, Result};

/// The namespace bound to the `xml` prefix.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node inside its [`Document`].
///
/// A `NodeId` is only meaningful for the document that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

/// An expanded element or attribute name plus the prefix it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The prefix, `None` for an unprefixed name.
    pub prefix: Option<String>,
    /// The local part.
    pub local: String,
    /// The namespace the prefix resolves to, `None` for no namespace.
    pub namespace: Option<String>,
}

impl Name {
    /// A prefixed name in a namespace.
    pub fn qualified(prefix: &str, local: &str, namespace: &str) -> Self {
        Self {
            prefix: Some(prefix.to_owned()),
            local: local.to_owned(),
            namespace: Some(namespace.to_owned()),
        }
    }

    /// An unprefixed name in no namespace (the usual case for attributes).
    pub fn local(local: &str) -> Self {
        Self {
            prefix: None,
            local: local.to_owned(),
            namespace: None,
        }
    }

    /// `true` when the name is `local` in namespace `namespace`.
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    /// The name as written: `prefix:local` or `local`.
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

/// A namespace declaration (`xmlns:prefix="uri"` or `xmlns="uri"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDeclaration {
    /// The declared prefix, `None` for the default namespace.
    pub prefix: Option<String>,
    /// The namespace URI; empty undeclares the default namespace.
    pub uri: String,
}

/// An attribute (namespace declarations are kept apart, see [`Element::namespace_declarations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: Name,
    /// The normalized value (entities resolved).
    pub value: String,
}

/// An element node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The element's name.
    pub name: Name,
    /// Namespace declarations written on this element, in document order.
    pub namespace_declarations: Vec<NamespaceDeclaration>,
    /// Attributes in document order.
    pub attributes: Vec<Attribute>,
    pub(crate) children: Vec<NodeId>,
}

impl Element {
    /// The value of the attribute `local` in no namespace.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.namespace.is_none() && a.name.local == local)
            .map(|a| a.value.as_str())
    }

    /// The value of an attribute in a namespace.
    pub fn attribute_ns(&self, namespace: &str, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.is(namespace, local))
            .map(|a| a.value.as_str())
    }

    /// `true` when the element is `local` in `namespace`.
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.name.is(namespace, local)
    }
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Character data (entities resolved, CDATA merged, line ends normalized).
    Text(String),
    /// A comment's content.
    Comment(String),
    /// A processing instruction.
    ProcessingInstruction {
        /// The target.
        target: String,
        /// The data after the target, without the separating whitespace.
        data: String,
    },
}

/// Refuses characters XML 1.0 cannot carry (NUL, most C0 controls, U+FFFE/U+FFFF),
/// so that a built document always parses.
fn check_xml_chars(s: &str, field: &str) -> Result<()> {
    if s.chars().all(super::parse::is_xml_char) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            field: field.to_owned(),
            reason: "contains a character XML 1.0 cannot represent".into(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    parent: Option<NodeId>,
    node: Node,
}

/// An XML document: a root element and its descendants.
///
/// Nodes outside the root element (comments, processing instructions before or
/// after it) are not kept: nothing in SAML or XML-DSig depends on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    slots: Vec<Slot>,
}

impl Document {
    /// A document with only a root element.
    pub fn new(root: Name) -> Self {
        Self {
            slots: vec![Slot {
                parent: None,
                node: Node::Element(Element {
                    name: root,
                    namespace_declarations: Vec::new(),
                    attributes: Vec::new(),
                    children: Vec::new(),
                }),
            }],
        }
    }

    /// The root element.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// Number of nodes in the document.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always `false`: a document has at least its root element.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.slots.get(id.0).map(|s| &s.node)
    }

    /// The element with this id, `None` when it is not an element.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match self.node(id) {
            Some(Node::Element(e)) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn element_mut(&mut self, id: NodeId) -> Option<&mut Element> {
        match self.slots.get_mut(id.0).map(|s| &mut s.node) {
            Some(Node::Element(e)) => Some(e),
            _ => None,
        }
    }

    /// The parent of a node (`None` for the root).
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.slots.get(id.0).and_then(|s| s.parent)
    }

    /// The children of an element in document order (empty for other nodes).
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        self.element(id).map_or(&[], |e| e.children.as_slice())
    }

    /// The element children of an element in document order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = (NodeId, &Element)> + '_ {
        self.children(id)
            .iter()
            .filter_map(|&c| self.element(c).map(|e| (c, e)))
    }

    /// The element children named `local` in `namespace`.
    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        namespace: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id)
            .filter(move |(_, e)| e.is(namespace, local))
            .map(|(c, _)| c)
    }

    /// The only element child named `local` in `namespace`: `Ok(None)` when there is
    /// none, an error when there are several.
    pub fn unique_child(&self, id: NodeId, namespace: &str, local: &str) -> Result<Option<NodeId>> {
        let mut it = self.children_named(id, namespace, local);
        let first = it.next();
        if first.is_some() && it.next().is_some() {
            return Err(Error::UnexpectedElement {
                path: format!("{}/{local}", self.path(id)),
                reason: "appears more than once".into(),
            });
        }
        Ok(first)
    }

    /// All elements below `id` (including `id` itself) in document order.
    pub fn descendant_elements(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            if let Some(e) = self.element(n) {
                out.push(n);
                stack.extend(e.children.iter().rev().copied());
            }
        }
        out
    }

    /// `true` when `ancestor` is `node` or one of its ancestors.
    pub fn is_ancestor_or_self(&self, ancestor: NodeId, node: NodeId) -> bool {
        let mut cur = Some(node);
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.parent(c);
        }
        false
    }

    /// The character data of an element: all its text children concatenated, so that
    /// comments and processing instructions never split a value. An element with child
    /// elements has no text value and gives an error.
    pub fn text(&self, id: NodeId) -> Result<String> {
        let mut out = String::new();
        for &c in self.children(id) {
            match self.node(c) {
                Some(Node::Text(t)) => out.push_str(t),
                Some(Node::Element(_)) => {
                    return Err(Error::UnexpectedElement {
                        path: self.path(c),
                        reason: "element found where only text is allowed".into(),
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// A readable path of local names from the root, e.g. `Response/Assertion/Subject`.
    pub fn path(&self, id: NodeId) -> String {
        let mut names = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            if let Some(e) = self.element(c) {
                names.push(e.name.local.clone());
            }
            cur = self.parent(c);
        }
        names.reverse();
        names.join("/")
    }

    /// The namespace bindings in scope at an element (nearest declaration wins),
    /// as `(prefix, uri)` pairs; an empty URI for the default namespace means none.
    pub fn in_scope_namespaces(&self, id: NodeId) -> Vec<(Option<String>, String)> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            chain.push(c);
            cur = self.parent(c);
        }
        let mut scope: Vec<(Option<String>, String)> = Vec::new();
        for &c in chain.iter().rev() {
            if let Some(e) = self.element(c) {
                for d in &e.namespace_declarations {
                    if let Some(slot) = scope.iter_mut().find(|(p, _)| *p == d.prefix) {
                        slot.1.clone_from(&d.uri);
                    } else {
                        scope.push((d.prefix.clone(), d.uri.clone()));
                    }
                }
            }
        }
        scope
    }

    fn push(&mut self, parent: NodeId, index: Option<usize>, node: Node) -> Result<NodeId> {
        match &node {
            Node::Text(t) | Node::Comment(t) => check_xml_chars(t, "text")?,
            Node::ProcessingInstruction { target, data } => {
                check_xml_chars(target, "processing instruction")?;
                check_xml_chars(data, "processing instruction")?;
            }
            Node::Element(_) => {}
        }
        let id = NodeId(self.slots.len());
        let parent_el = self
            .element_mut(parent)
            .ok_or_else(|| Error::InvalidValue {
                field: "parent".into(),
                reason: "not an element".into(),
            })?;
        match index {
            Some(i) if i <= parent_el.children.len() => parent_el.children.insert(i, id),
            Some(_) => {
                return Err(Error::InvalidValue {
                    field: "index".into(),
                    reason: "past the end of the children".into(),
                });
            }
            None => parent_el.children.push(id),
        }
        self.slots.push(Slot {
            parent: Some(parent),
            node,
        });
        Ok(id)
    }

    /// Appends an element to `parent`.
    pub fn append_element(&mut self, parent: NodeId, name: Name) -> Result<NodeId> {
        self.insert_element(parent, None, name)
    }

    /// Inserts an element among `parent`'s children at `index` (`None`: at the end).
    pub fn insert_element(
        &mut self,
        parent: NodeId,
        index: Option<usize>,
        name: Name,
    ) -> Result<NodeId> {
        self.push(
            parent,
            index,
            Node::Element(Element {
                name,
                namespace_declarations: Vec::new(),
                attributes: Vec::new(),
                children: Vec::new(),
            }),
        )
    }

    /// Appends a text node to `parent`.
    pub fn append_text(&mut self, parent: NodeId, text: &str) -> Result<NodeId> {
        self.push(parent, None, Node::Text(text.to_owned()))
    }

    pub(crate) fn append_node(&mut self, parent: NodeId, node: Node) -> Result<NodeId> {
        self.push(parent, None, node)
    }

    /// Appends an element holding only `text`.
    pub fn append_text_element(
        &mut self,
        parent: NodeId,
        name: Name,
        text: &str,
    ) -> Result<NodeId> {
        let id = self.append_element(parent, name)?;
        if !text.is_empty() {
            self.append_text(id, text)?;
        }
        Ok(id)
    }

    /// Declares a namespace on an element.
    pub fn declare_namespace(&mut self, id: NodeId, prefix: Option<&str>, uri: &str) -> Result<()> {
        let el = self.element_mut(id).ok_or_else(|| Error::InvalidValue {
            field: "namespace declaration".into(),
            reason: "not an element".into(),
        })?;
        el.namespace_declarations.push(NamespaceDeclaration {
            prefix: prefix.map(str::to_owned),
            uri: uri.to_owned(),
        });
        Ok(())
    }

    /// Sets (adds or replaces) an attribute in no namespace.
    pub fn set_attribute(&mut self, id: NodeId, local: &str, value: &str) -> Result<()> {
        self.set_attribute_name(id, Name::local(local), value)
    }

    /// Sets (adds or replaces) an attribute with a full name.
    pub fn set_attribute_name(&mut self, id: NodeId, name: Name, value: &str) -> Result<()> {
        check_xml_chars(value, &name.local)?;
        let el = self.element_mut(id).ok_or_else(|| Error::InvalidValue {
            field: "attribute".into(),
            reason: "not an element".into(),
        })?;
        if let Some(a) = el
            .attributes
            .iter_mut()
            .find(|a| a.name.local == name.local && a.name.namespace == name.namespace)
        {
            value.clone_into(&mut a.value);
        } else {
            el.attributes.push(Attribute {
                name,
                value: value.to_owned(),
            });
        }
        Ok(())
    }

    /// Replaces all children of an element by one text node.
    pub fn set_text(&mut self, id: NodeId, text: &str) -> Result<()> {
        let el = self.element_mut(id).ok_or_else(|| Error::InvalidValue {
            field: "text".into(),
            reason: "not an element".into(),
        })?;
        el.children.clear();
        self.append_text(id, text)?;
        Ok(())
    }

    /// Detaches a node from its parent. The node stays in the arena but is no longer
    /// part of the tree.
    pub fn detach(&mut self, id: NodeId) {
        if let Some(parent) = self.parent(id) {
            if let Some(p) = self.element_mut(parent) {
                p.children.retain(|&c| c != id);
            }
            if let Some(slot) = self.slots.get_mut(id.0) {
                slot.parent = None;
            }
        }
    }

    /// Elements of the tree whose attribute `attr` (in no namespace) equals `value`.
    pub fn find_by_attribute(&self, attr: &str, value: &str) -> Vec<NodeId> {
        self.descendant_elements(self.root())
            .into_iter()
            .filter(|&n| self.element(n).and_then(|e| e.attribute(attr)) == Some(value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_navigate() {
        let mut d = Document::new(Name::qualified("p", "Root", "urn:x"));
        d.declare_namespace(d.root(), Some("p"), "urn:x").unwrap();
        let a = d
            .append_text_element(d.root(), Name::qualified("p", "A", "urn:x"), "hi")
            .unwrap();
        d.set_attribute(a, "ID", "_1").unwrap();
        d.set_attribute(a, "ID", "_2").unwrap();
        assert_eq!(d.element(a).unwrap().attribute("ID"), Some("_2"));
        assert_eq!(d.text(a).unwrap(), "hi");
        assert_eq!(d.path(a), "Root/A");
        assert_eq!(d.find_by_attribute("ID", "_2"), vec![a]);
        assert!(d.text(d.root()).is_err());
        assert!(d.append_text(a, "nul\u{0}").is_err());
        assert!(d.set_attribute(a, "x", "bell\u{7}").is_err());
        assert!(d.set_attribute(a, "x", "tab\tok").is_ok());
        assert!(d.is_ancestor_or_self(d.root(), a));
        d.detach(a);
        assert!(d.children(d.root()).is_empty());
    }
}
