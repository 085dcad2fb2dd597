//! Enveloped XML Signatures: signing an element of a [`Document`] and verifying that
//! an element the caller has chosen is the one a signature covers.
//!
//! Verification answers one question: "is *this* element signed by *this* key?".
//! The caller names the element it is going to read (the Response root, or the one
//! Assertion in it) and gets an error unless a signature that is a direct child of
//! that element has a single `Reference` whose URI resolves, through an `ID` unique in
//! the whole document, to that very element. Signature-wrapping attacks move the
//! signed element elsewhere and put a forged one where the caller looks; with the
//! element pinned this way the forged one is simply unsigned.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::cert::{Certificate, decode_base64};
use crate::error::{Error, Result};
use crate::ns;
use crate::sign::{DigestAlgorithm, SignatureAlgorithm, Signer, VerifyingKey};
use crate::xml::c14n::{self, C14nOptions, EXC_C14N, EXC_C14N_WITH_COMMENTS};
use crate::xml::{Document, Name, NodeId};

/// Transform URI of the enveloped-signature transform.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// How to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// Digest of the reference. SHA-256 unless SHA-1 is explicitly wanted.
    pub digest: DigestAlgorithm,
    /// InclusiveNamespaces PrefixList written into the exc-c14n transform and used
    /// when digesting (for example `xs` when `xsi:type="xs:string"` values are used).
    pub inclusive_prefixes: Vec<String>,
    /// Write the certificate into `ds:KeyInfo/ds:X509Data`.
    pub include_certificate: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            digest: DigestAlgorithm::Sha256,
            inclusive_prefixes: Vec::new(),
            include_certificate: true,
        }
    }
}

fn ds(local: &str) -> Name {
    Name::qualified("ds", local, ns::DS)
}

/// The element's `ID` attribute, checked to be usable as a reference target.
fn element_id(doc: &Document, element: NodeId) -> Result<String> {
    let el = doc.element(element).ok_or_else(|| Error::InvalidValue {
        field: "signed element".into(),
        reason: "not an element".into(),
    })?;
    let id = el.attribute("ID").ok_or_else(|| Error::MissingAttribute {
        element: doc.path(element),
        attribute: "ID".into(),
    })?;
    crate::id::check_id(id, &doc.path(element))?;
    Ok(id.to_owned())
}

/// Where the signature goes: right after the element's `saml:Issuer` child when it
/// has one (as the SAML schema orders it), otherwise first.
fn signature_position(doc: &Document, element: NodeId) -> usize {
    let children = doc.children(element);
    children
        .iter()
        .position(|&c| doc.element(c).is_some_and(|e| e.is(ns::SAML, "Issuer")))
        .map_or(0, |i| i + 1)
}

/// Signs `element` with an enveloped signature placed after its `Issuer`.
///
/// `element` must carry a valid `ID`. Sign inner elements before outer ones (the
/// Assertion before the Response) so that the outer digest covers the inner signature.
/// A `certificate` must be the signer's ([`Certificate::check_signer`]): a mismatch is
/// [`Error::KeyCertificateMismatch`] and nothing is changed.
pub fn sign_enveloped(
    doc: &mut Document,
    element: NodeId,
    signer: &dyn Signer,
    certificate: Option<&Certificate>,
    opts: &SignOptions,
) -> Result<()> {
    let id = element_id(doc, element)?;
    if let Some(cert) = certificate {
        cert.check_signer(signer)?;
    }
    if opts.digest.is_legacy() != signer.algorithm().is_legacy() {
        return Err(Error::AlgorithmNotAllowed {
            field: "DigestMethod",
            uri: format!("{} with {}", opts.digest.uri(), signer.algorithm().uri()),
        });
    }
    let c14n_opts = C14nOptions {
        with_comments: false,
        inclusive_prefixes: opts.inclusive_prefixes.clone(),
        exclude: None,
    };
    if doc
        .children(element)
        .iter()
        .any(|&c| doc.element(c).is_some_and(|e| e.is(ns::DS, "Signature")))
    {
        return Err(Error::UnexpectedElement {
            path: doc.path(element),
            reason: "already signed".into(),
        });
    }
    let digest = opts
        .digest
        .digest(c14n::canonicalize(doc, element, &c14n_opts)?.as_bytes());

    let pos = signature_position(doc, element);
    let sig = doc.insert_element(element, Some(pos), ds("Signature"))?;
    doc.declare_namespace(sig, Some("ds"), ns::DS)?;
    let si = doc.append_element(sig, ds("SignedInfo"))?;
    let cm = doc.append_element(si, ds("CanonicalizationMethod"))?;
    doc.set_attribute(cm, "Algorithm", EXC_C14N)?;
    let sm = doc.append_element(si, ds("SignatureMethod"))?;
    doc.set_attribute(sm, "Algorithm", signer.algorithm().uri())?;
    let r = doc.append_element(si, ds("Reference"))?;
    doc.set_attribute(r, "URI", &format!("#{id}"))?;
    let ts = doc.append_element(r, ds("Transforms"))?;
    let t1 = doc.append_element(ts, ds("Transform"))?;
    doc.set_attribute(t1, "Algorithm", ENVELOPED_SIGNATURE)?;
    let t2 = doc.append_element(ts, ds("Transform"))?;
    doc.set_attribute(t2, "Algorithm", EXC_C14N)?;
    if !opts.inclusive_prefixes.is_empty() {
        let inc = doc.append_element(t2, Name::qualified("ec", "InclusiveNamespaces", EXC_C14N))?;
        doc.declare_namespace(inc, Some("ec"), EXC_C14N)?;
        doc.set_attribute(inc, "PrefixList", &opts.inclusive_prefixes.join(" "))?;
    }
    let dm = doc.append_element(r, ds("DigestMethod"))?;
    doc.set_attribute(dm, "Algorithm", opts.digest.uri())?;
    doc.append_text_element(r, ds("DigestValue"), &STANDARD.encode(digest))?;

    let signed_info = c14n::canonicalize(doc, si, &C14nOptions::default())?;
    let value = signer.sign(signed_info.as_bytes())?;
    doc.append_text_element(sig, ds("SignatureValue"), &STANDARD.encode(value))?;
    if opts.include_certificate
        && let Some(cert) = certificate
    {
        let ki = doc.append_element(sig, ds("KeyInfo"))?;
        let xd = doc.append_element(ki, ds("X509Data"))?;
        doc.append_text_element(xd, ds("X509Certificate"), &cert.to_base64())?;
    }
    Ok(())
}

/// What verification accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept RSA-SHA1 signatures and SHA-1 digests (legacy service providers).
    pub allow_sha1: bool,
}

/// The outcome of checking one signature of a document (see [`verify_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    /// The element the signature sits in (its parent), e.g. `Response/Assertion`.
    pub element: NodeId,
    /// A readable path of that element.
    pub path: String,
    /// `Ok` when the signature is valid for that element under the key.
    pub result: Result<()>,
}

/// Checks every `ds:Signature` of a document as an enveloped signature of its parent
/// element, for tracing tools (`decode --cert`). Each report says which element the
/// signature covers, so a signature that verifies cryptographically but covers another
/// element shows up as an error.
pub fn verify_all(doc: &Document, key: &VerifyingKey, opts: VerifyOptions) -> Vec<SignatureReport> {
    doc.descendant_elements(doc.root())
        .into_iter()
        .filter(|&n| doc.element(n).is_some_and(|e| e.is(ns::DS, "Signature")))
        .filter_map(|sig| doc.parent(sig))
        .map(|element| SignatureReport {
            element,
            path: doc.path(element),
            result: verify_enveloped(doc, element, key, opts),
        })
        .collect()
}

/// All elements carrying an `ID` attribute must carry distinct values.
pub fn check_unique_ids(doc: &Document) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for n in doc.descendant_elements(doc.root()) {
        if let Some(id) = doc.element(n).and_then(|e| e.attribute("ID"))
            && !seen.insert(id)
        {
            return Err(Error::DuplicateId { id: id.to_owned() });
        }
    }
    Ok(())
}

/// The `ds:Signature` that is a direct child of `element`, if any (an error if
/// there are several).
pub fn signature_of(doc: &Document, element: NodeId) -> Result<Option<NodeId>> {
    doc.unique_child(element, ns::DS, "Signature")
}

fn required_child(doc: &Document, parent: NodeId, local: &str) -> Result<NodeId> {
    doc.unique_child(parent, ns::DS, local)?
        .ok_or_else(|| Error::MissingElement {
            path: format!("{}/{local}", doc.path(parent)),
        })
}

fn algorithm_attr(doc: &Document, el: NodeId) -> Result<&str> {
    doc.element(el)
        .and_then(|e| e.attribute("Algorithm"))
        .ok_or_else(|| Error::MissingAttribute {
            element: doc.path(el),
            attribute: "Algorithm".into(),
        })
}

/// Reads the c14n algorithm of a `CanonicalizationMethod` or `Transform` element,
/// with its InclusiveNamespaces PrefixList; refuses anything but exclusive c14n.
fn c14n_options(doc: &Document, el: NodeId, field: &'static str) -> Result<C14nOptions> {
    let alg = algorithm_attr(doc, el)?;
    let with_comments = match alg {
        EXC_C14N => false,
        EXC_C14N_WITH_COMMENTS => true,
        other => {
            return Err(Error::AlgorithmNotAllowed {
                field,
                uri: other.to_owned(),
            });
        }
    };
    let mut inclusive_prefixes = Vec::new();
    for (c, e) in doc.child_elements(el) {
        if e.is(EXC_C14N, "InclusiveNamespaces") {
            let list = e
                .attribute("PrefixList")
                .ok_or_else(|| Error::MissingAttribute {
                    element: doc.path(c),
                    attribute: "PrefixList".into(),
                })?;
            inclusive_prefixes.extend(list.split_ascii_whitespace().map(str::to_owned));
        } else {
            return Err(Error::UnexpectedElement {
                path: doc.path(c),
                reason: "only InclusiveNamespaces is allowed here".into(),
            });
        }
    }
    Ok(C14nOptions {
        with_comments,
        inclusive_prefixes,
        exclude: None,
    })
}

/// Verifies that `element` carries an enveloped signature (a direct-child
/// `ds:Signature`) made by `key` and referencing `element` itself.
///
/// Checks, in order: IDs in the document are unique; the signature has exactly one
/// `SignedInfo`, `SignatureValue` and `Reference`; the reference URI is `#` plus
/// `element`'s own `ID`; the transforms are exactly enveloped-signature followed by
/// exclusive c14n (with or without comments, optional PrefixList); the
/// canonicalization method is exclusive c14n; the algorithms are allowed; the digest
/// matches; the signature value verifies under `key`. `ds:KeyInfo` is ignored: the
/// key is always the caller's.
pub fn verify_enveloped(
    doc: &Document,
    element: NodeId,
    key: &VerifyingKey,
    opts: VerifyOptions,
) -> Result<()> {
    check_unique_ids(doc)?;
    let id = element_id(doc, element)?;
    let sig = signature_of(doc, element)?.ok_or_else(|| Error::Unsigned {
        element: doc.path(element),
    })?;
    let si = required_child(doc, sig, "SignedInfo")?;
    let sv = required_child(doc, sig, "SignatureValue")?;

    let cm = required_child(doc, si, "CanonicalizationMethod")?;
    let si_c14n = c14n_options(doc, cm, "CanonicalizationMethod")?;
    let sm = required_child(doc, si, "SignatureMethod")?;
    let sm_uri = algorithm_attr(doc, sm)?;
    let alg = SignatureAlgorithm::from_uri(sm_uri)
        .filter(|a| opts.allow_sha1 || !a.is_legacy())
        .ok_or_else(|| Error::AlgorithmNotAllowed {
            field: "SignatureMethod",
            uri: sm_uri.to_owned(),
        })?;
    let reference = required_child(doc, si, "Reference")?;
    for (c, e) in doc.child_elements(si) {
        if !(e.is(ns::DS, "CanonicalizationMethod")
            || e.is(ns::DS, "SignatureMethod")
            || e.is(ns::DS, "Reference"))
        {
            return Err(Error::UnexpectedElement {
                path: doc.path(c),
                reason: "not allowed in SignedInfo".into(),
            });
        }
    }

    let uri = doc
        .element(reference)
        .and_then(|e| e.attribute("URI"))
        .ok_or_else(|| Error::MissingAttribute {
            element: doc.path(reference),
            attribute: "URI".into(),
        })?;
    if uri.strip_prefix('#') != Some(id.as_str()) {
        return Err(Error::InvalidValue {
            field: format!("{}/@URI", doc.path(reference)),
            reason: "the reference does not point at the element being verified".into(),
        });
    }
    let targets = doc.find_by_attribute("ID", &id);
    if targets != [element] {
        return Err(Error::DuplicateId { id });
    }

    let transforms = required_child(doc, reference, "Transforms")?;
    let list: Vec<NodeId> = doc.child_elements(transforms).map(|(c, _)| c).collect();
    let [enveloped, c14n_transform] = list[..] else {
        return Err(Error::UnexpectedElement {
            path: doc.path(transforms),
            reason: "exactly enveloped-signature then exclusive c14n are required".into(),
        });
    };
    for &t in &list {
        if !doc.element(t).is_some_and(|e| e.is(ns::DS, "Transform")) {
            return Err(Error::UnexpectedElement {
                path: doc.path(t),
                reason: "not a Transform".into(),
            });
        }
    }
    if algorithm_attr(doc, enveloped)? != ENVELOPED_SIGNATURE {
        return Err(Error::AlgorithmNotAllowed {
            field: "Transform",
            uri: algorithm_attr(doc, enveloped)?.to_owned(),
        });
    }
    if doc.child_elements(enveloped).next().is_some() {
        return Err(Error::UnexpectedElement {
            path: doc.path(enveloped),
            reason: "enveloped-signature takes no parameters".into(),
        });
    }
    let mut ref_c14n = c14n_options(doc, c14n_transform, "Transform")?;
    ref_c14n.exclude = Some(sig);

    let dm = required_child(doc, reference, "DigestMethod")?;
    let dm_uri = algorithm_attr(doc, dm)?;
    let digest_alg = DigestAlgorithm::from_uri(dm_uri)
        .filter(|a| opts.allow_sha1 || !a.is_legacy())
        .ok_or_else(|| Error::AlgorithmNotAllowed {
            field: "DigestMethod",
            uri: dm_uri.to_owned(),
        })?;
    let dv = required_child(doc, reference, "DigestValue")?;
    let expected = decode_base64(&doc.text(dv)?, "DigestValue")?;
    let actual = digest_alg.digest(c14n::canonicalize(doc, element, &ref_c14n)?.as_bytes());
    if expected != actual {
        return Err(Error::DigestMismatch);
    }

    let signature = decode_base64(&doc.text(sv)?, "SignatureValue")?;
    let signed_info = c14n::canonicalize(doc, si, &si_c14n)?;
    key.verify(alg, signed_info.as_bytes(), &signature)
}
