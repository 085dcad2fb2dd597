//! Secrets in the configuration: inline, `env:NAME` or `file:PATH`.
//!
//! A [`SecretValue`] is what the operator wrote; [`SecretValue::resolve`] reads the
//! environment variable or the file and returns a [`SecretString`], which zeroizes its
//! memory on drop and never prints its contents in `Debug` or `Display`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Where a secret comes from, as written in the configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretValue {
    /// The secret itself, written in the file (fine for the demo, not for production).
    Inline(Zeroizing<String>),
    /// `env:NAME`: the value of an environment variable.
    Env(String),
    /// `file:PATH`: the contents of a file, without a trailing newline.
    File(PathBuf),
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// `env:NAME` names a variable that is not set or not UTF-8.
    #[error("environment variable {name} is not set")]
    MissingEnv {
        /// The variable.
        name: String,
    },
    /// `file:PATH` could not be read.
    #[error("cannot read secret file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The secret is empty.
    #[error("the secret is empty")]
    Empty,
}

impl SecretValue {
    /// Parses what the operator wrote: `env:NAME`, `file:PATH`, or the secret inline.
    pub fn parse(text: &str) -> Self {
        if let Some(name) = text.strip_prefix("env:") {
            SecretValue::Env(name.to_owned())
        } else if let Some(path) = text.strip_prefix("file:") {
            SecretValue::File(PathBuf::from(path))
        } else {
            SecretValue::Inline(Zeroizing::new(text.to_owned()))
        }
    }

    /// Reads the secret now. Files lose one trailing newline (`\n` or `\r\n`).
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        let value = match self {
            SecretValue::Inline(s) => Zeroizing::new(s.as_str().to_owned()),
            SecretValue::Env(name) => Zeroizing::new(
                std::env::var(name).map_err(|_| SecretError::MissingEnv { name: name.clone() })?,
            ),
            SecretValue::File(path) => {
                let mut text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                    SecretError::File {
                        path: path.clone(),
                        source,
                    }
                })?);
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                text
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(SecretString(value))
    }

    /// A description that is safe to log: `env:NAME`, `file:PATH` or `inline`.
    pub fn source(&self) -> String {
        match self {
            SecretValue::Inline(_) => "inline".to_owned(),
            SecretValue::Env(name) => format!("env:{name}"),
            SecretValue::File(path) => format!("file:{}", path.display()),
        }
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Inline(_) => f.write_str("SecretValue(inline, **redacted**)"),
            other => write!(f, "SecretValue({})", other.source()),
        }
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Ok(SecretValue::parse(&text))
    }
}

impl Serialize for SecretValue {
    /// Writes `env:`/`file:` references as they are and an inline secret as `**redacted**`,
    /// so a configuration dump never carries a secret.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SecretValue::Inline(_) => s.serialize_str("**redacted**"),
            other => s.serialize_str(&other.source()),
        }
    }
}

/// A secret read from the configuration: zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        SecretString(Zeroizing::new(value))
    }

    /// The secret, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(**redacted**)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            SecretValue::parse("env:RADIUS_SECRET"),
            SecretValue::Env("RADIUS_SECRET".into())
        );
        assert_eq!(
            SecretValue::parse("file:/run/secrets/key"),
            SecretValue::File("/run/secrets/key".into())
        );
        assert!(matches!(
            SecretValue::parse("hunter2"),
            SecretValue::Inline(_)
        ));
    }

    #[test]
    fn file_secrets_lose_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "s3cret\r\n").unwrap();
        let v = SecretValue::File(path);
        assert_eq!(v.resolve().unwrap().expose(), "s3cret");
    }

    #[test]
    fn missing_env_and_empty_are_errors() {
        let v = SecretValue::Env("IDFORGE_TEST_SURELY_UNSET_VARIABLE".into());
        assert!(matches!(v.resolve(), Err(SecretError::MissingEnv { .. })));
        assert!(matches!(
            SecretValue::parse("").resolve(),
            Err(SecretError::Empty)
        ));
    }

    #[test]
    fn secrets_never_print() {
        let v = SecretValue::parse("hunter2");
        assert!(!format!("{v:?}").contains("hunter2"));
        let s = v.resolve().unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        let json = serde_json::to_string(&v).unwrap();
        assert!(!json.contains("hunter2"));
    }
}
