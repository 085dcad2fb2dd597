//! The W3C XML Signature WG exclusive-c14n interop case `merlin-exc-c14n-one`
//! (`tests/vectors/merlin-exc-c14n-one/`): every `ds:Reference` of the signed
//! document is processed with this crate's parser and canonicalizer, the result is
//! compared byte for byte with the checked-in canonical form and its SHA-1 with the
//! `DigestValue` the original signer wrote. `SignedInfo` is canonicalized with its
//! `CanonicalizationMethod` and compared too. The signature itself is DSA-SHA1, which
//! this crate does not verify; the checked-in `signedinfo.c14n` is the octet string
//! that signature verifies over (see the vector README).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use idforge_saml::ns;
use idforge_saml::xml::c14n::{self, C14nOptions, EXC_C14N, EXC_C14N_WITH_COMMENTS};
use idforge_saml::xml::{self, Document, NodeId};
use sha1::{Digest as _, Sha1};

const SHA1_URI: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/merlin-exc-c14n-one")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn signed_document() -> Document {
    xml::parse(&read("exc-signature.xml")).expect("the hardened parser accepts the interop file")
}

fn children<'d>(doc: &'d Document, parent: NodeId, local: &'d str) -> Vec<NodeId> {
    doc.child_elements(parent)
        .filter(|(_, e)| e.is(ns::DS, local))
        .map(|(id, _)| id)
        .collect()
}

fn one_child(doc: &Document, parent: NodeId, local: &str) -> NodeId {
    let found = children(doc, parent, local);
    assert_eq!(
        found.len(),
        1,
        "exactly one ds:{local} under {}",
        doc.path(parent)
    );
    found[0]
}

fn algorithm(doc: &Document, id: NodeId) -> &str {
    doc.element(id)
        .and_then(|e| e.attribute("Algorithm"))
        .unwrap_or_else(|| panic!("{} has no Algorithm", doc.path(id)))
}

fn signature(doc: &Document) -> NodeId {
    let sigs: Vec<NodeId> = doc
        .descendant_elements(doc.root())
        .into_iter()
        .filter(|&n| doc.element(n).unwrap().is(ns::DS, "Signature"))
        .collect();
    assert_eq!(sigs.len(), 1);
    sigs[0]
}

/// Options of an exclusive c14n `Transform` or `CanonicalizationMethod`: the
/// algorithm decides about comments, an `InclusiveNamespaces` child gives the
/// PrefixList (whitespace separated, `#default` for the default namespace).
/// `None` for any other algorithm.
fn exc_c14n_options(doc: &Document, method: NodeId) -> Option<C14nOptions> {
    let with_comments = match algorithm(doc, method) {
        EXC_C14N => false,
        EXC_C14N_WITH_COMMENTS => true,
        _ => return None,
    };
    let mut inclusive_prefixes = Vec::new();
    for (_, e) in doc.child_elements(method) {
        assert!(
            e.is(EXC_C14N, "InclusiveNamespaces"),
            "unexpected parameter {} of {}",
            e.name.qname(),
            doc.path(method)
        );
        let list = e.attribute("PrefixList").expect("PrefixList");
        inclusive_prefixes.extend(list.split_whitespace().map(str::to_owned));
    }
    Some(C14nOptions {
        with_comments,
        inclusive_prefixes,
        exclude: None,
    })
}

/// What a same-document reference URI selects, as XML-DSig section 4.3.3.3 has it.
struct Target {
    apex: NodeId,
    /// `#xpointer(...)` keeps comment nodes in the node-set; `""` and `#id` drop
    /// them before any transform runs.
    keeps_comments: bool,
}

fn resolve(doc: &Document, uri: &str) -> Target {
    if uri.is_empty() {
        return Target {
            apex: doc.root(),
            keeps_comments: false,
        };
    }
    let fragment = uri
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("not a same-document reference: {uri}"));
    let (id, keeps_comments) = match fragment
        .strip_prefix("xpointer(id('")
        .and_then(|r| r.strip_suffix("'))"))
    {
        Some(id) => (id, true),
        None if fragment == "xpointer(/)" => {
            return Target {
                apex: doc.root(),
                keeps_comments: true,
            };
        }
        None => {
            assert!(
                !fragment.contains('('),
                "XPointer form not handled by this test: {uri}"
            );
            (fragment, false)
        }
    };
    // The document has no DTD, so `Id` is taken as the ID attribute, as the
    // interop participants did.
    let found = doc.find_by_attribute("Id", id);
    assert_eq!(found.len(), 1, "exactly one element with Id={id}");
    Target {
        apex: found[0],
        keeps_comments,
    }
}

struct Processed {
    octets: String,
    digest_value: Vec<u8>,
    opts: C14nOptions,
    apex: NodeId,
}

/// Dereferences `reference` and applies its transforms; every transform must be
/// exclusive c14n (the only kind this interop case uses), anything else fails the
/// test rather than being skipped.
fn process(doc: &Document, reference: NodeId) -> Processed {
    let uri = doc
        .element(reference)
        .and_then(|e| e.attribute("URI"))
        .expect("URI");
    let target = resolve(doc, uri);
    let transforms = children(doc, one_child(doc, reference, "Transforms"), "Transform");
    assert_eq!(
        transforms.len(),
        1,
        "{uri}: one canonicalization transform expected"
    );
    let mut opts = exc_c14n_options(doc, transforms[0]).unwrap_or_else(|| {
        panic!(
            "{uri}: transform {} is not implemented by the crate",
            algorithm(doc, transforms[0])
        )
    });
    opts.with_comments &= target.keeps_comments;
    let octets = c14n::canonicalize(doc, target.apex, &opts).unwrap();
    assert_eq!(
        algorithm(doc, one_child(doc, reference, "DigestMethod")),
        SHA1_URI
    );
    let dv = doc.text(one_child(doc, reference, "DigestValue")).unwrap();
    let digest_value = STANDARD
        .decode(dv.split_whitespace().collect::<String>())
        .unwrap();
    Processed {
        octets,
        digest_value,
        opts,
        apex: target.apex,
    }
}

fn references(doc: &Document) -> Vec<NodeId> {
    let si = one_child(doc, signature(doc), "SignedInfo");
    children(doc, si, "Reference")
}

#[test]
fn every_reference_matches_its_canonical_form_and_digest() {
    let doc = signed_document();
    let refs = references(&doc);
    assert_eq!(refs.len(), 4, "the interop case has four references");
    let mut outputs = Vec::new();
    for (n, &r) in refs.iter().enumerate() {
        let p = process(&doc, r);
        let file = format!("reference-{n}.c14n");
        let expected = read(&file);
        assert_eq!(
            p.octets.as_bytes(),
            expected.as_slice(),
            "reference {n} ({:?}) differs from {file}:\n{}",
            p.opts,
            p.octets
        );
        assert_eq!(
            Sha1::digest(p.octets.as_bytes()).as_slice(),
            p.digest_value.as_slice(),
            "reference {n}: SHA-1 differs from the DigestValue"
        );
        outputs.push(p.octets);
    }
    // The four option sets really select four different octet strings.
    for i in 0..outputs.len() {
        for j in i + 1..outputs.len() {
            assert_ne!(outputs[i], outputs[j], "references {i} and {j}");
        }
    }
}

#[test]
fn the_reference_parameters_are_read_from_the_document() {
    let doc = signed_document();
    let got: Vec<(bool, Vec<String>)> = references(&doc)
        .into_iter()
        .map(|r| {
            let p = process(&doc, r);
            (p.opts.with_comments, p.opts.inclusive_prefixes)
        })
        .collect();
    let list = || vec!["bar".to_owned(), "#default".to_owned()];
    assert_eq!(
        got,
        [
            (false, vec![]),
            (false, list()),
            (true, vec![]),
            (true, list())
        ]
    );
}

#[test]
fn other_options_miss_the_digest() {
    // Each reference's digest is reached only with its own parameters: flipping the
    // comment switch or dropping/adding the PrefixList changes the octets.
    let doc = signed_document();
    for (n, r) in references(&doc).into_iter().enumerate() {
        let p = process(&doc, r);
        let mut flipped = p.opts.clone();
        flipped.with_comments = !flipped.with_comments;
        let mut other_list = p.opts.clone();
        other_list.inclusive_prefixes = if p.opts.inclusive_prefixes.is_empty() {
            vec!["bar".into(), "#default".into()]
        } else {
            Vec::new()
        };
        for opts in [flipped, other_list] {
            let out = c14n::canonicalize(&doc, p.apex, &opts).unwrap();
            assert_ne!(
                Sha1::digest(out.as_bytes()).as_slice(),
                p.digest_value.as_slice(),
                "reference {n} with {opts:?}"
            );
        }
    }
}

#[test]
fn signed_info_matches_its_canonical_form() {
    let doc = signed_document();
    let si = one_child(&doc, signature(&doc), "SignedInfo");
    let cm = one_child(&doc, si, "CanonicalizationMethod");
    let opts = exc_c14n_options(&doc, cm).expect("exclusive c14n of SignedInfo");
    let out = c14n::canonicalize(&doc, si, &opts).unwrap();
    let expected = read("signedinfo.c14n");
    assert_eq!(
        out.as_bytes(),
        expected.as_slice(),
        "SignedInfo differs:\n{out}"
    );
    // DSA-SHA1 is not among the crate's signature algorithms.
    let sm = algorithm(&doc, one_child(&doc, si, "SignatureMethod"));
    assert!(idforge_saml::SignatureAlgorithm::from_uri(sm).is_none());
}

#[test]
fn the_template_differs_only_in_the_values() {
    // The unsigned template canonicalizes to the same object octets: the signed
    // content was not touched by signing.
    let tmpl = xml::parse(&read("exc-signature.tmpl")).unwrap();
    let doc = signed_document();
    for (n, (t, s)) in references(&tmpl)
        .into_iter()
        .zip(references(&doc))
        .enumerate()
    {
        assert_eq!(
            process(&tmpl, t).octets,
            process(&doc, s).octets,
            "reference {n}"
        );
        assert!(process(&tmpl, t).digest_value.is_empty());
    }
}
