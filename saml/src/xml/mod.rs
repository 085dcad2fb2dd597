//! The XML layer: a small owned tree, a hardened parser, serialization and
//! exclusive canonicalization.

pub mod c14n;
mod parse;
mod tree;
mod write;

pub use parse::{Limits, parse, parse_with_limits};
pub use tree::{
    Attribute, Document, Element, Name, NamespaceDeclaration, Node, NodeId, XML_NAMESPACE,
};
