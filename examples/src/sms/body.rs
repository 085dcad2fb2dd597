//! The body of a webhook request: a minijinja template with the variables `to`, `text` and
//! `message_id`, escaped for the content type it is sent as.
//!
//! - JSON (`application/json`, or any `…/…+json`): every `{{ value }}` is written as a JSON
//!   value, quoted and escaped (`"say \"hi\"\n"`), so the template leaves the quotes out:
//!   `{"to": {{ to }}, "text": {{ text }}}`. `{{ text|tojson }}` writes the same.
//! - `application/x-www-form-urlencoded`: every value is percent-encoded:
//!   `to={{ to }}&text={{ text }}`.
//! - Anything else: values as they are.
//!
//! A variable the template names but the worker does not pass is an error (not an empty
//! string), so a typo shows at `--check-config`.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

const NAME: &str = "sms-body";

/// What a form value keeps unencoded: the unreserved characters of RFC 3986.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The custom escape name for form bodies.
const FORM: &str = "form";

/// Whether `content_type` is JSON (`application/json` or a `+json` type), parameters aside.
pub(crate) fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.contains('/') && media.ends_with("+json"))
}

fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// A compiled body template.
#[derive(Debug)]
pub(crate) struct BodyTemplate {
    env: Environment<'static>,
    json: bool,
}

impl BodyTemplate {
    /// Compiles `source` for `content_type`; the error says what is wrong.
    pub(crate) fn new(source: &str, content_type: &str) -> Result<BodyTemplate, String> {
        let json = is_json(content_type);
        let escape = if json {
            AutoEscape::Json
        } else if is_form(content_type) {
            AutoEscape::Custom(FORM)
        } else {
            AutoEscape::None
        };
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(move |_| escape);
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Custom(FORM) {
                let text = value.to_string();
                if value.is_safe() {
                    out.write_str(&text)?;
                } else {
                    for part in utf8_percent_encode(&text, FORM_VALUE) {
                        out.write_str(part)?;
                    }
                }
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| format!("does not compile: {e:#}"))?;
        Ok(BodyTemplate { env, json })
    }

    /// The body for one message.
    pub(crate) fn render(
        &self,
        to: &str,
        text: &str,
        message_id: &str,
    ) -> Result<String, minijinja::Error> {
        self.env.get_template(NAME)?.render(minijinja::context! {
            to => to,
            text => text,
            message_id => message_id,
        })
    }

    /// Renders sample values (quotes, a backslash, a newline, non-ASCII) and, for JSON,
    /// checks that the result is JSON: a template that quotes a value itself fails here.
    pub(crate) fn check(self) -> Result<(), String> {
        let body = self
            .render(
                "+14155550100",
                "Your code: \"123456\" \\ ok\nÄ ✓",
                "<0123456789abcdef@sms.example>",
            )
            .map_err(|e| format!("does not render: {e:#}"))?;
        if self.json && serde_json::from_str::<serde_json::Value>(&body).is_err() {
            return Err(
                "does not render JSON (with a JSON content type values are JSON-escaped and \
                 quoted already: write {{ text }}, not \"{{ text }}\")"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_values_are_escaped() {
        let t = BodyTemplate::new(
            r#"{"to": {{ to }}, "text": {{ text }}, "id": {{ message_id|tojson }}}"#,
            "application/json; charset=utf-8",
        )
        .unwrap();
        let text = "say \"hi\" \\ </script>\nline 2\u{0007}";
        let body = t.render("+4930123456", text, "<a@b>").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["text"], text);
        assert_eq!(v["to"], "+4930123456");
        assert_eq!(v["id"], "<a@b>");
    }

    #[test]
    fn form_values_are_percent_encoded() {
        let t = BodyTemplate::new(
            "to={{ to }}&text={{ text }}",
            "application/x-www-form-urlencoded",
        )
        .unwrap();
        let body = t.render("+4930123456", "a&b=c d\n", "<a@b>").unwrap();
        assert_eq!(body, "to=%2B4930123456&text=a%26b%3Dc%20d%0A");
    }

    #[test]
    fn other_types_are_verbatim() {
        let t = BodyTemplate::new("{{ to }}: {{ text }}", "text/plain").unwrap();
        assert_eq!(t.render("+1", "a \"b\"", "x").unwrap(), "+1: a \"b\"");
        assert!(is_json("application/vnd.api+json"));
        assert!(!is_json("text/json-ish"));
    }

    #[test]
    fn mistakes_are_found_before_sending() {
        assert!(BodyTemplate::new("{{ text", "text/plain").is_err());
        let quoted = BodyTemplate::new(r#"{"text": "{{ text }}"}"#, "application/json").unwrap();
        assert!(quoted.check().is_err());
        let typo = BodyTemplate::new("{{ txt }}", "text/plain").unwrap();
        assert!(typo.check().is_err());
    }
}
