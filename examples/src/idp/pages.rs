//! Server-rendered pages: minijinja templates (HTML auto-escaped), the texts they show, and
//! the static files, each overridable from the configured templates directory without
//! recompiling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, Value};

use super::IdpError;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("mfa.html", include_str!("templates/mfa.html")),
    ("link.html", include_str!("templates/link.html")),
    ("kba.html", include_str!("templates/kba.html")),
    (
        "webauthn_register.html",
        include_str!("templates/webauthn_register.html"),
    ),
    ("activate.html", include_str!("templates/activate.html")),
    (
        "backup_codes.html",
        include_str!("templates/backup_codes.html"),
    ),
    ("kba_enroll.html", include_str!("templates/kba_enroll.html")),
    ("security.html", include_str!("templates/security.html")),
    ("enroll.html", include_str!("templates/enroll.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("message.html", include_str!("templates/message.html")),
    ("post.html", include_str!("templates/post.html")),
    ("demo_sp.html", include_str!("templates/demo_sp.html")),
];

const STATIC: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("static/style.css"),
    ),
    (
        "post.js",
        "text/javascript; charset=utf-8",
        include_str!("static/post.js"),
    ),
    (
        "webauthn.js",
        "text/javascript; charset=utf-8",
        include_str!("static/webauthn.js"),
    ),
    ("logo.svg", "image/svg+xml", include_str!("static/logo.svg")),
];

/// The built-in texts (English).
pub const DEFAULT_TEXTS: &str = include_str!("texts.toml");

/// Templates, texts and static files.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
    texts: BTreeMap<String, String>,
    overrides: Option<PathBuf>,
}

impl Pages {
    /// The built-in pages, with what `overrides` holds in their place.
    pub fn new(overrides: Option<&Path>) -> Result<Pages, IdpError> {
        let mut texts: BTreeMap<String, String> = toml::from_str(DEFAULT_TEXTS)
            .map_err(|e| IdpError::Pages(format!("built-in texts: {e}")))?;
        if let Some(dir) = overrides {
            if !dir.is_dir() {
                return Err(IdpError::Pages(format!(
                    "idp.templates_dir {} is not a directory",
                    dir.display()
                )));
            }
            let path = dir.join("texts.toml");
            if path.exists() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| IdpError::Pages(format!("{}: {e}", path.display())))?;
                let extra: BTreeMap<String, String> = toml::from_str(&text)
                    .map_err(|e| IdpError::Pages(format!("{}: {e}", path.display())))?;
                for (k, v) in extra {
                    if !texts.contains_key(&k) {
                        return Err(IdpError::Pages(format!(
                            "{}: unknown text `{k}`",
                            path.display()
                        )));
                    }
                    texts.insert(k, v);
                }
            }
        }
        let env = crate::templates::environment(overrides, TEMPLATES);
        let pages = Pages {
            env,
            texts,
            overrides: overrides.map(Path::to_path_buf),
        };
        // Every template must compile now, not when a user first needs it.
        for (name, _) in TEMPLATES {
            pages
                .env
                .get_template(name)
                .map_err(|e| IdpError::Pages(format!("template {name}: {e:#}")))?;
        }
        Ok(pages)
    }

    /// A text by key (the key itself if unknown, so a typo shows on the page).
    pub fn text(&self, key: &str) -> String {
        self.texts
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// Renders `name` with `ctx` and the texts as `t`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, IdpError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| IdpError::Pages(format!("template {name}: {e:#}")))?;
        let full = minijinja::context! { t => Value::from_serialize(&self.texts), ..ctx };
        template
            .render(full)
            .map_err(|e| IdpError::Pages(format!("template {name}: {e:#}")))
    }

    /// A static file: `(content type, bytes)`.
    pub fn static_file(&self, name: &str) -> Option<(&'static str, Vec<u8>)> {
        let (_, content_type, builtin) = STATIC.iter().find(|(n, _, _)| *n == name)?;
        if let Some(dir) = &self.overrides {
            let p = dir.join("static").join(name);
            if let Ok(bytes) = std::fs::read(&p) {
                return Some((content_type, bytes));
            }
        }
        Some((content_type, builtin.as_bytes().to_vec()))
    }
}
