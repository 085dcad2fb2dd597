//! The public API of a protocol crate as a sorted list of lines, read from its sources
//! with `syn` (stable Rust: no rustdoc JSON), and compared with the committed snapshot
//! `<crate>/public-api.txt`.
//!
//! The walk starts at `src/lib.rs` and follows `mod` declarations (test-only modules
//! are skipped). An item is listed at every path a user can name it by: through
//! public modules and through `pub use` re-exports, which are resolved inside the
//! crate (a re-exported module or glob lists that module's items). Each line gives
//! the kind, the path and the normalised signature: functions with their generics and
//! types, public fields, enum variants with their fields, trait items, constant values,
//! derives and `#[non_exhaustive]`, and the traits each public type implements.
//! Documentation is not part of the API and never shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use quote::ToTokens as _;
use syn::{Attribute, Fields, ImplItem, Item, TraitItem, UseTree, Visibility};

/// The protocol crates whose API is kept in a snapshot.
pub(crate) const CRATES: &[&str] = &["otp", "radius", "saml", "ldap-auth", "policy", "adaptive"];

/// The snapshot file, beside the crate's manifest.
pub(crate) const SNAPSHOT: &str = "public-api.txt";

/// One module of the crate, as read.
struct Module {
    /// Path inside the crate, `[]` for the root.
    path: Vec<String>,
    items: Vec<Item>,
}

/// The crate's modules, by path.
struct Crate {
    name: String,
    modules: BTreeMap<Vec<String>, Module>,
}

fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let tokens = a.meta.to_token_stream().to_string();
            tokens == "cfg (test)" || tokens == "cfg (doctest)"
        }
    })
}

/// `#[cfg(...)]` (other than test), `#[doc(hidden)]` and `#[non_exhaustive]`: the
/// attributes that change what a user can do with an item.
fn api_attrs(attrs: &[Attribute]) -> String {
    let mut out = String::new();
    for a in attrs {
        let tokens = a.meta.to_token_stream().to_string();
        if (a.path().is_ident("cfg") && !is_test_only(std::slice::from_ref(a)))
            || a.path().is_ident("non_exhaustive")
            || tokens == "doc (hidden)"
        {
            out.push_str("#[");
            out.push_str(&tokens);
            out.push_str("] ");
        }
    }
    out
}

/// `inherited` (from the `pub use` or module an item is reached through) followed by the
/// item's own API attributes that `inherited` does not already hold.
fn combine(inherited: &str, attrs: &[Attribute]) -> String {
    let mut out = inherited.to_owned();
    for attr in api_attrs(attrs).split_inclusive("] ") {
        if !inherited.contains(attr) {
            out.push_str(attr);
        }
    }
    out
}

fn derives(attrs: &[Attribute]) -> String {
    let mut names = BTreeSet::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = a.parse_nested_meta(|m| {
            names.insert(m.path.to_token_stream().to_string().replace(' ', ""));
            Ok(())
        });
    }
    if names.is_empty() {
        String::new()
    } else {
        format!(
            " derive({})",
            names.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn tokens(t: &impl quote::ToTokens) -> String {
    normalise(&t.to_token_stream().to_string())
}

/// Token text with the spaces `proc_macro2` puts around `::`, before `,` and after `&`
/// taken out, for readable lines.
fn normalise(text: &str) -> String {
    text.replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace("# [", "#[")
}

/// Token text without `#[doc = "..."]` attributes (for macro invocations).
fn without_docs(stream: proc_macro2::TokenStream) -> String {
    use proc_macro2::TokenTree;
    let mut out: Vec<TokenTree> = Vec::new();
    let mut iter = stream.into_iter().peekable();
    while let Some(tt) = iter.next() {
        if let TokenTree::Punct(p) = &tt
            && p.as_char() == '#'
            && let Some(TokenTree::Group(g)) = iter.peek()
            && g.stream()
                .into_iter()
                .next()
                .is_some_and(|t| t.to_string() == "doc")
        {
            iter.next();
            continue;
        }
        if let TokenTree::Group(g) = &tt {
            let inner: proc_macro2::TokenStream = without_docs(g.stream())
                .parse()
                .unwrap_or_else(|_| g.stream());
            out.push(TokenTree::Group(proc_macro2::Group::new(
                g.delimiter(),
                inner,
            )));
        } else {
            out.push(tt);
        }
    }
    out.into_iter()
        .collect::<proc_macro2::TokenStream>()
        .to_string()
}

fn load_module(
    file: &Path,
    child_dir: &Path,
    path: Vec<String>,
    items: Vec<Item>,
    out: &mut BTreeMap<Vec<String>, Module>,
) -> Result<(), String> {
    for item in &items {
        let Item::Mod(m) = item else { continue };
        if is_test_only(&m.attrs) {
            continue;
        }
        let mut sub = path.clone();
        sub.push(m.ident.to_string());
        let dir = child_dir.join(m.ident.to_string());
        if let Some((_, inline)) = &m.content {
            load_module(file, &dir, sub, inline.clone(), out)?;
        } else {
            let flat = child_dir.join(format!("{}.rs", m.ident));
            let nested = dir.join("mod.rs");
            let (src, grandchildren) = if flat.is_file() {
                (flat, dir)
            } else if nested.is_file() {
                (nested, dir)
            } else {
                return Err(format!("{}: no file for `mod {}`", file.display(), m.ident));
            };
            let parsed = parse_file(&src)?;
            load_module(&src, &grandchildren, sub, parsed.items, out)?;
        }
    }
    out.insert(path.clone(), Module { path, items });
    Ok(())
}

fn parse_file(path: &Path) -> Result<syn::File, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    syn::parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Crate {
    fn load(crate_dir: &Path) -> Result<Self, String> {
        let manifest = fs::read_to_string(crate_dir.join("Cargo.toml"))
            .map_err(|e| format!("{}: {e}", crate_dir.display()))?;
        let name = manifest
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').replace('-', "_"))
            })
            .ok_or_else(|| format!("{}: no package name", crate_dir.display()))?;
        let lib = crate_dir.join("src/lib.rs");
        let file = parse_file(&lib)?;
        let mut modules = BTreeMap::new();
        load_module(
            &lib,
            &crate_dir.join("src"),
            Vec::new(),
            file.items,
            &mut modules,
        )?;
        Ok(Self { name, modules })
    }

    /// The item named `name` declared in module `module` (not through `use`).
    fn declared(&self, module: &[String], name: &str) -> Option<&Item> {
        self.modules
            .get(module)?
            .items
            .iter()
            .find(|i| item_name(i).as_deref() == Some(name))
    }

    /// Resolves a `use` path written in `module` to a crate-internal target: a module
    /// path, or (module, item name). `None` for paths outside the crate.
    fn resolve(&self, module: &[String], segments: &[String]) -> Option<Target> {
        let (first, rest) = segments.split_first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.to_vec(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            other => {
                let mut local = module.to_vec();
                local.push(other.to_owned());
                if self.modules.contains_key(&local) {
                    local
                } else if self.declared(module, other).is_some() && rest.is_empty() {
                    return Some(Target::Item(module.to_vec(), other.to_owned()));
                } else if let Some(t) = self.imported(module, other) {
                    return match t {
                        Target::Module(m) => self.resolve_from(m, rest),
                        item @ Target::Item(..) if rest.is_empty() => Some(item),
                        Target::Item(..) => None,
                    };
                } else {
                    return None;
                }
            }
        };
        if segments.len() == 1 {
            return Some(Target::Module(base));
        }
        for (i, seg) in rest.iter().enumerate() {
            if seg == "super" {
                base.pop();
                continue;
            }
            let mut next = base.clone();
            next.push(seg.clone());
            if self.modules.contains_key(&next) {
                base = next;
            } else if i + 1 == rest.len() {
                return Some(Target::Item(base, seg.clone()));
            } else {
                return None;
            }
        }
        Some(Target::Module(base))
    }

    fn resolve_from(&self, module: Vec<String>, rest: &[String]) -> Option<Target> {
        if rest.is_empty() {
            return Some(Target::Module(module));
        }
        let mut segs = vec!["crate".to_owned()];
        segs.extend(module);
        segs.extend(rest.iter().cloned());
        self.resolve(&[], &segs)
    }

    /// What a name brought in by a `use` in `module` refers to.
    fn imported(&self, module: &[String], name: &str) -> Option<Target> {
        for item in &self.modules.get(module)?.items {
            let Item::Use(u) = item else { continue };
            for (segments, alias) in use_leaves(&u.tree) {
                if alias == name && segments.last().map(String::as_str) != Some("*") {
                    return self.resolve(module, &segments);
                }
            }
        }
        None
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Module(Vec<String>),
    Item(Vec<String>, String),
}

/// Every leaf of a use tree: (path segments, name it is known by). A glob's name is `*`.
fn use_leaves(tree: &UseTree) -> Vec<(Vec<String>, String)> {
    fn walk(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                walk(&p.tree, prefix, out);
                prefix.pop();
            }
            UseTree::Name(n) => {
                let name = n.ident.to_string();
                let mut path = prefix.clone();
                if name == "self" {
                    let alias = path.last().cloned().unwrap_or_default();
                    out.push((path, alias));
                } else {
                    path.push(name.clone());
                    out.push((path, name));
                }
            }
            UseTree::Rename(r) => {
                let mut path = prefix.clone();
                path.push(r.ident.to_string());
                out.push((path, r.rename.to_string()));
            }
            UseTree::Glob(_) => {
                let mut path = prefix.clone();
                path.push("*".into());
                out.push((path, "*".into()));
            }
            UseTree::Group(g) => {
                for t in &g.items {
                    walk(t, prefix, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

fn item_name(item: &Item) -> Option<String> {
    Some(match item {
        Item::Const(i) => i.ident.to_string(),
        Item::Enum(i) => i.ident.to_string(),
        Item::Fn(i) => i.sig.ident.to_string(),
        Item::Mod(i) => i.ident.to_string(),
        Item::Static(i) => i.ident.to_string(),
        Item::Struct(i) => i.ident.to_string(),
        Item::Trait(i) => i.ident.to_string(),
        Item::Type(i) => i.ident.to_string(),
        Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

/// The last identifier of an impl's self type (`Foo` of `Foo<'a>` or `&Foo`).
fn self_type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => self_type_name(&r.elem),
        _ => None,
    }
}

/// Lines being collected, and the public path each type was first listed at.
struct Listing<'c> {
    krate: &'c Crate,
    lines: BTreeSet<String>,
    /// (declaring module, type name) -> public path, for the impls.
    types: BTreeMap<(Vec<String>, String), String>,
    /// Modules already listed at a public path (against re-export cycles).
    seen: BTreeSet<(Vec<String>, String)>,
}

impl Listing<'_> {
    fn module(&mut self, module: &[String], public_path: &str, inherited: &str) {
        if !self.seen.insert((module.to_vec(), public_path.to_owned())) {
            return;
        }
        let krate = self.krate;
        let Some(m) = krate.modules.get(module) else {
            return;
        };
        for item in &m.items {
            match item {
                Item::Use(u) if is_pub(&u.vis) => {
                    let attrs = combine(inherited, &u.attrs);
                    for (segments, alias) in use_leaves(&u.tree) {
                        self.reexport(&m.path, &segments, &alias, public_path, &attrs);
                    }
                }
                Item::Macro(mac) => {
                    let name = tokens(&mac.mac.path);
                    if name != "macro_rules" {
                        let line = format!(
                            "{inherited}macro-generated {public_path}: {name}! {}",
                            normalise(&without_docs(mac.mac.tokens.clone()))
                        );
                        self.lines.insert(line);
                    }
                }
                _ => {
                    if let Some(name) = item_name(item)
                        && item_is_pub(item)
                    {
                        self.item(&m.path, item, &format!("{public_path}::{name}"), inherited);
                    }
                }
            }
        }
    }

    fn reexport(
        &mut self,
        module: &[String],
        segments: &[String],
        alias: &str,
        public_path: &str,
        attrs: &str,
    ) {
        let krate = self.krate;
        if alias == "*" {
            let target = krate.resolve(module, &segments[..segments.len() - 1]);
            match target {
                Some(Target::Module(m)) => self.module(&m, public_path, attrs),
                _ => {
                    self.lines.insert(format!(
                        "{attrs}pub use {public_path}::* = {}",
                        segments.join("::")
                    ));
                }
            }
            return;
        }
        let path = format!("{public_path}::{alias}");
        match krate.resolve(module, segments) {
            Some(Target::Module(m)) => self.module(&m, &path, attrs),
            Some(Target::Item(m, name)) => {
                if let Some(item) = krate.declared(&m, &name) {
                    let item = item.clone();
                    self.item(&m, &item, &path, attrs);
                } else {
                    // Made by a macro: the invocations of the module stand for the items.
                    self.lines
                        .insert(format!("{attrs}pub use {path} = {}", segments.join("::")));
                    self.macros(&m, attrs);
                }
            }
            None => {
                self.lines
                    .insert(format!("{attrs}pub use {path} = {}", segments.join("::")));
            }
        }
    }

    fn item(&mut self, module: &[String], item: &Item, path: &str, inherited: &str) {
        match item {
            Item::Const(c) => {
                let a = combine(inherited, &c.attrs);
                self.lines.insert(format!(
                    "{a}pub const {path}: {} = {}",
                    tokens(&c.ty),
                    tokens(&c.expr)
                ));
            }
            Item::Static(s) => {
                let a = combine(inherited, &s.attrs);
                self.lines
                    .insert(format!("{a}pub static {path}: {}", tokens(&s.ty)));
            }
            Item::Fn(f) => {
                let a = combine(inherited, &f.attrs);
                self.lines
                    .insert(format!("{a}pub {}", signature(&f.sig, path)));
            }
            Item::Type(t) => {
                let a = combine(inherited, &t.attrs);
                self.lines.insert(format!(
                    "{a}pub type {path}{} = {}",
                    tokens(&t.generics),
                    tokens(&t.ty)
                ));
            }
            Item::Struct(s) => {
                let a = combine(inherited, &s.attrs);
                self.lines.insert(format!(
                    "{a}pub struct {path}{}{}",
                    generics_with_where(&s.generics),
                    derives(&s.attrs)
                ));
                self.fields(&s.fields, path, inherited);
                self.type_listed(module, &s.ident.to_string(), path, inherited);
            }
            Item::Union(u) => {
                let a = combine(inherited, &u.attrs);
                self.lines
                    .insert(format!("{a}pub union {path}{}", tokens(&u.generics)));
                self.type_listed(module, &u.ident.to_string(), path, inherited);
            }
            Item::Enum(e) => {
                let a = combine(inherited, &e.attrs);
                self.lines.insert(format!(
                    "{a}pub enum {path}{}{}",
                    generics_with_where(&e.generics),
                    derives(&e.attrs)
                ));
                for v in &e.variants {
                    let mut fields = v.fields.clone();
                    strip_field_attrs(&mut fields);
                    let va = combine(inherited, &v.attrs);
                    let disc = v
                        .discriminant
                        .as_ref()
                        .map(|(_, d)| format!(" = {}", tokens(d)))
                        .unwrap_or_default();
                    self.lines.insert(format!(
                        "{va}pub variant {path}::{}{}{disc}",
                        v.ident,
                        tokens(&fields)
                    ));
                }
                self.type_listed(module, &e.ident.to_string(), path, inherited);
            }
            Item::Trait(t) => {
                let a = combine(inherited, &t.attrs);
                let bounds = if t.supertraits.is_empty() {
                    String::new()
                } else {
                    format!(": {}", tokens(&t.supertraits))
                };
                let unsafety = if t.unsafety.is_some() { "unsafe " } else { "" };
                self.lines.insert(format!(
                    "{a}pub {unsafety}trait {path}{}{bounds}",
                    generics_with_where(&t.generics)
                ));
                for ti in &t.items {
                    let text = match ti {
                        TraitItem::Fn(f) => {
                            let default = if f.default.is_some() {
                                " (provided)"
                            } else {
                                ""
                            };
                            format!(
                                "{} {}{default}",
                                api_attrs(&f.attrs),
                                signature(&f.sig, &format!("{path}::{}", f.sig.ident))
                            )
                        }
                        TraitItem::Const(c) => {
                            format!("const {path}::{}: {}", c.ident, tokens(&c.ty))
                        }
                        TraitItem::Type(ty) => {
                            format!("type {path}::{}{}", ty.ident, tokens(&ty.bounds))
                        }
                        _ => continue,
                    };
                    self.lines
                        .insert(format!("{inherited}trait-item {}", text.trim()));
                }
                self.type_listed(module, &t.ident.to_string(), path, inherited);
            }
            Item::Mod(m) => {
                let mut sub = module.to_vec();
                sub.push(m.ident.to_string());
                let a = combine(inherited, &m.attrs);
                self.lines.insert(format!("{a}pub mod {path}"));
                self.module(&sub, path, &a);
            }
            _ => {}
        }
    }

    /// The item-position macro invocations of `module`, whatever its visibility.
    fn macros(&mut self, module: &[String], inherited: &str) {
        let krate = self.krate;
        let Some(m) = krate.modules.get(module) else {
            return;
        };
        let mut path = krate.name.clone();
        for seg in module {
            path.push_str("::");
            path.push_str(seg);
        }
        for item in &m.items {
            if let Item::Macro(mac) = item {
                let name = tokens(&mac.mac.path);
                if name != "macro_rules" {
                    self.lines.insert(format!(
                        "{inherited}macro-generated {path}: {name}! {}",
                        normalise(&without_docs(mac.mac.tokens.clone()))
                    ));
                }
            }
        }
    }

    fn fields(&mut self, fields: &Fields, path: &str, inherited: &str) {
        for (i, f) in fields.iter().enumerate() {
            if !is_pub(&f.vis) {
                continue;
            }
            let name = f
                .ident
                .as_ref()
                .map_or_else(|| i.to_string(), ToString::to_string);
            let a = combine(inherited, &f.attrs);
            self.lines
                .insert(format!("{a}pub field {path}::{name}: {}", tokens(&f.ty)));
        }
    }

    fn type_listed(&mut self, module: &[String], name: &str, path: &str, inherited: &str) {
        let key = (module.to_vec(), name.to_owned());
        if self.types.contains_key(&key) {
            return;
        }
        let _ = inherited;
        self.types.insert(key, path.to_owned());
    }

    /// The impls of every listed type, under the first public path it was listed at.
    fn impls(&mut self) {
        let krate = self.krate;
        for m in krate.modules.values() {
            for item in &m.items {
                let Item::Impl(imp) = item else { continue };
                if is_test_only(&imp.attrs) {
                    continue;
                }
                let Some(name) = self_type_name(&imp.self_ty) else {
                    continue;
                };
                let Some(path) = self.type_path(&m.path, &name) else {
                    continue;
                };
                let a = api_attrs(&imp.attrs);
                if let Some((_, trait_path, _)) = &imp.trait_ {
                    let neg = if imp.trait_.as_ref().is_some_and(|t| t.0.is_some()) {
                        "!"
                    } else {
                        ""
                    };
                    self.lines.insert(format!(
                        "{a}impl{} {neg}{} for {}",
                        tokens(&imp.generics),
                        tokens(trait_path),
                        tokens(&imp.self_ty).replacen(&name, &path, 1)
                    ));
                    continue;
                }
                for ii in &imp.items {
                    match ii {
                        ImplItem::Fn(f) if is_pub(&f.vis) => {
                            let fa = api_attrs(&f.attrs);
                            let generics = tokens(&imp.generics);
                            let on = if generics.is_empty() {
                                String::new()
                            } else {
                                format!(" (impl{generics})")
                            };
                            self.lines.insert(format!(
                                "{a}{fa}pub {}{on}",
                                signature(&f.sig, &format!("{path}::{}", f.sig.ident))
                            ));
                        }
                        ImplItem::Const(c) if is_pub(&c.vis) => {
                            self.lines.insert(format!(
                                "{a}pub const {path}::{}: {} = {}",
                                c.ident,
                                tokens(&c.ty),
                                tokens(&c.expr)
                            ));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The public path of the type `name` as an impl in `module` names it.
    fn type_path(&self, module: &[String], name: &str) -> Option<String> {
        if let Some(p) = self.types.get(&(module.to_vec(), name.to_owned())) {
            return Some(p.clone());
        }
        if let Some(Target::Item(m, n)) = self.krate.imported(module, name)
            && let Some(p) = self.types.get(&(m, n))
        {
            return Some(p.clone());
        }
        let mut found = self.types.iter().filter(|((_, n), _)| n == name);
        match (found.next(), found.next()) {
            (Some((_, p)), None) => Some(p.clone()),
            _ => None,
        }
    }
}

fn item_is_pub(item: &Item) -> bool {
    match item {
        Item::Const(i) => is_pub(&i.vis),
        Item::Enum(i) => is_pub(&i.vis),
        Item::Fn(i) => is_pub(&i.vis),
        Item::Mod(i) => is_pub(&i.vis) && !is_test_only(&i.attrs),
        Item::Static(i) => is_pub(&i.vis),
        Item::Struct(i) => is_pub(&i.vis),
        Item::Trait(i) => is_pub(&i.vis),
        Item::Type(i) => is_pub(&i.vis),
        Item::Union(i) => is_pub(&i.vis),
        _ => false,
    }
}

fn strip_field_attrs(fields: &mut Fields) {
    for f in fields.iter_mut() {
        f.attrs.clear();
    }
}

fn generics_with_where(g: &syn::Generics) -> String {
    let mut s = tokens(g);
    if let Some(w) = &g.where_clause {
        s.push(' ');
        s.push_str(&tokens(w));
    }
    s
}

/// `fn path<G>(inputs) -> output where ...`, with `const`/`async`/`unsafe` kept.
fn signature(sig: &syn::Signature, path: &str) -> String {
    let mut sig = sig.clone();
    for input in &mut sig.inputs {
        match input {
            syn::FnArg::Receiver(r) => r.attrs.clear(),
            syn::FnArg::Typed(t) => t.attrs.clear(),
        }
    }
    let text = tokens(&sig);
    let ident = sig.ident.to_string();
    // `fn name` -> `fn path`, leaving qualifiers before `fn` as written.
    text.replacen(&format!("fn {ident}"), &format!("fn {path}"), 1)
}

/// The API listing of the crate in `crate_dir`.
pub(crate) fn listing(crate_dir: &Path) -> Result<String, String> {
    let krate = Crate::load(crate_dir)?;
    let mut listing = Listing {
        krate: &krate,
        lines: BTreeSet::new(),
        types: BTreeMap::new(),
        seen: BTreeSet::new(),
    };
    listing.module(&[], &krate.name, "");
    listing.impls();
    let mut out = format!(
        "# The public API of {} (all features), from `cargo xtask public-api --bless`.\n",
        krate.name
    );
    for line in &listing.lines {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// The difference between two listings, one `- old` or `+ new` line per change.
pub(crate) fn diff(old: &str, new: &str) -> String {
    let keep = |s: &str| !s.starts_with("# ") && !s.is_empty();
    let old: BTreeSet<&str> = old.lines().filter(|l| keep(l)).collect();
    let new: BTreeSet<&str> = new.lines().filter(|l| keep(l)).collect();
    let mut out = String::new();
    for l in old.difference(&new) {
        out.push_str("- ");
        out.push_str(l);
        out.push('\n');
    }
    for l in new.difference(&old) {
        out.push_str("+ ");
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Compares the crate's API with its snapshot (or writes the snapshot with `bless`).
pub(crate) fn check(crate_dir: &Path, bless: bool) -> Result<(), String> {
    let snapshot: PathBuf = crate_dir.join(SNAPSHOT);
    let now = listing(crate_dir)?;
    if bless {
        return fs::write(&snapshot, &now).map_err(|e| format!("{}: {e}", snapshot.display()));
    }
    let before = fs::read_to_string(&snapshot).unwrap_or_default();
    let changes = diff(&before, &now);
    if changes.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the public API of {} differs from {}:\n{changes}\
             if the change is deliberate, run `cargo xtask public-api --bless` and commit the snapshot",
            crate_dir.display(),
            snapshot.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn scratch_crate(name: &str, files: &[(&str, &str)]) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("xtask-public-api-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"demo-crate\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        Scratch(dir)
    }

    const LIB: &str = "
//! Demo.
mod inner;
pub mod open;
#[cfg(test)]
mod tests { pub fn hidden() {} }
pub use inner::{Thing, helper as renamed};
/// Docs never show.
pub const LIMIT: usize = 8;
";
    const INNER: &str = "
/// A thing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Thing { pub a: u8, b: u8 }
impl Thing {
    /// New.
    pub fn new(a: u8) -> Self { Self { a, b: 0 } }
    pub(crate) fn internal(&self) {}
}
impl std::fmt::Display for Thing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) }
}
pub fn helper(x: &[u8]) -> Option<usize> { None }
pub fn not_exported() {}
";

    #[test]
    fn lists_what_users_can_name() {
        let dir = scratch_crate(
            "list",
            &[
                ("src/lib.rs", LIB),
                ("src/inner.rs", INNER),
                ("src/open.rs", "pub enum E { A, B(u8) }\n"),
            ],
        );
        let text = listing(&dir.0).unwrap();
        let has = |s: &str| text.lines().any(|l| l == s);
        assert!(
            has("#[non_exhaustive] pub struct demo_crate::Thing derive(Clone, Debug)"),
            "{text}"
        );
        assert!(has("pub field demo_crate::Thing::a: u8"), "{text}");
        assert!(
            has("pub fn demo_crate::Thing::new (a : u8) -> Self"),
            "{text}"
        );
        assert!(
            has("impl std::fmt::Display for demo_crate::Thing"),
            "{text}"
        );
        assert!(
            has("pub fn demo_crate::renamed (x : &[u8]) -> Option < usize >"),
            "{text}"
        );
        assert!(has("pub const demo_crate::LIMIT: usize = 8"), "{text}");
        assert!(has("pub mod demo_crate::open"), "{text}");
        assert!(has("pub variant demo_crate::open::E::B(u8)"), "{text}");
        for absent in ["internal", "not_exported", "hidden", "Docs", "b: u8"] {
            assert!(!text.contains(absent), "{absent} listed:\n{text}");
        }
    }

    #[test]
    fn the_check_fails_with_a_diff_when_an_item_is_added() {
        let dir = scratch_crate(
            "diff",
            &[
                ("src/lib.rs", LIB),
                ("src/inner.rs", INNER),
                ("src/open.rs", "pub struct Open;\n"),
            ],
        );
        check(&dir.0, true).unwrap();
        check(&dir.0, false).unwrap();
        // A doc comment is no API change.
        fs::write(dir.0.join("src/inner.rs"), format!("//! Inner.\n{INNER}")).unwrap();
        check(&dir.0, false).unwrap();
        // A new public function is.
        fs::write(
            dir.0.join("src/lib.rs"),
            format!("{LIB}\npub fn added(n: u32) -> u32 {{ n }}\n"),
        )
        .unwrap();
        let err = check(&dir.0, false).unwrap_err();
        assert!(
            err.contains("+ pub fn demo_crate::added (n : u32) -> u32"),
            "{err}"
        );
        assert!(err.contains("--bless"), "{err}");
        // And so is a removed derive.
        check(&dir.0, true).unwrap();
        fs::write(
            dir.0.join("src/inner.rs"),
            INNER.replace("#[derive(Debug, Clone)]", "#[derive(Debug)]"),
        )
        .unwrap();
        let err = check(&dir.0, false).unwrap_err();
        assert!(
            err.contains("- #[non_exhaustive] pub struct demo_crate::Thing derive(Clone, Debug)"),
            "{err}"
        );
    }
}
