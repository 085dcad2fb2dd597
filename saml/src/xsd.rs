//! The XML Schema values SAML documents carry, read and written in one place:
//! attribute strings, `xs:dateTime` and `xs:boolean`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};
use crate::xml::{Document, NodeId};

/// The value of attribute `name` on element `el`, when there is one.
pub(crate) fn attr(doc: &Document, el: NodeId, name: &str) -> Option<String> {
    doc.element(el)
        .and_then(|e| e.attribute(name))
        .map(str::to_owned)
}

/// Writes an instant as SAML wants it: UTC, whole seconds, `Z` (SAML core §1.3.3).
pub(crate) fn date_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads an `xs:dateTime`. SAML time values are UTC (SAML core §1.3.3), so one
/// that names no zone is read as UTC; one with an offset is converted.
pub(crate) fn parse_date_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Reads the `xs:dateTime` attribute `name` of `el`, `None` when absent.
pub(crate) fn date_time_attr(
    doc: &Document,
    el: NodeId,
    name: &str,
) -> Result<Option<DateTime<Utc>>> {
    let Some(text) = doc.element(el).and_then(|e| e.attribute(name)) else {
        return Ok(None);
    };
    parse_date_time(text)
        .map(Some)
        .ok_or_else(|| Error::InvalidValue {
            field: format!("{}/@{name}", doc.path(el)),
            reason: "not an xs:dateTime".into(),
        })
}

/// Reads the `xs:boolean` attribute `name` of `el`, `false` when absent.
pub(crate) fn boolean_attr(doc: &Document, el: NodeId, name: &str) -> Result<bool> {
    match doc.element(el).and_then(|e| e.attribute(name)) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => Err(Error::InvalidValue {
            field: format!("{}/@{name}", doc.path(el)),
            reason: "not an xs:boolean".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_with_and_without_zone() {
        let z = parse_date_time("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_date_time("2024-01-01T00:00:00"), Some(z));
        assert_eq!(parse_date_time(" 2024-01-01T01:00:00+01:00 "), Some(z));
        assert_eq!(
            parse_date_time("2024-01-01T00:00:00.250").map(|t| t.timestamp_subsec_millis()),
            Some(250)
        );
        assert_eq!(date_time(z), "2024-01-01T00:00:00Z");
        for bad in ["", "yesterday", "2024-01-01", "2024-13-01T00:00:00Z"] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn attributes() {
        let doc =
            crate::xml::parse(br#"<a t="2024-01-01T00:00:00" f="1" g="yes" s="x"/>"#).unwrap();
        let root = doc.root();
        assert_eq!(attr(&doc, root, "s").as_deref(), Some("x"));
        assert_eq!(attr(&doc, root, "missing"), None);
        assert!(date_time_attr(&doc, root, "t").unwrap().is_some());
        assert_eq!(date_time_attr(&doc, root, "missing").unwrap(), None);
        assert!(date_time_attr(&doc, root, "s").is_err());
        assert!(boolean_attr(&doc, root, "f").unwrap());
        assert!(!boolean_attr(&doc, root, "missing").unwrap());
        assert!(boolean_attr(&doc, root, "g").is_err());
    }
}
