//! The template environment the web pages and the mails share: built-in templates that an
//! operator may replace, file by file, from a directory of overrides.

use std::path::Path;

use minijinja::{AutoEscape, Environment};

/// An environment that loads `name` from `overrides/name` when that file exists, else from
/// `builtins`. Names with a path separator or a leading dot are never read from disk.
/// Templates whose name ends in `.html` are HTML-escaped; the others (text, subjects) are not.
pub(crate) fn environment(
    overrides: Option<&Path>,
    builtins: &'static [(&'static str, &'static str)],
) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html"))
        {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    let dir = overrides.map(Path::to_path_buf);
    env.set_loader(move |name| {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Ok(None);
        }
        if let Some(dir) = &dir {
            let p = dir.join(name);
            if p.is_file() {
                return std::fs::read_to_string(&p).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("cannot read {}: {e}", p.display()),
                    )
                });
            }
        }
        Ok(builtins
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| (*t).to_owned()))
    });
    env
}
