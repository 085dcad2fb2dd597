//! Filter templates for finding a user: by `uid`, `sAMAccountName`, `userPrincipalName`, `mail`
//! or any attribute; restricted to members of one group or any of several; or an
//! administrator's own filter with a `{username}` placeholder.
//!
//! The username always enters a filter as a value, escaped when the filter is written: it can
//! never open a parenthesis, add a wildcard or another component.

use crate::dn::Dn;
use crate::filter::{Attribute, Filter, FilterError};

/// The placeholder a custom template substitutes.
pub const USERNAME_PLACEHOLDER: &str = "{username}";

/// Bytes a placeholder is parsed as before substitution. They cannot come from a template's own
/// text without the template also spelling them out as escapes, which [`FilterTemplate::parse`]
/// detects.
const SENTINEL: &[u8] = b"\x00\xffidforge-username\xff\x00";
const SENTINEL_ESCAPED: &str = r"\00\ffidforge-username\ff\00";

/// An administrator's filter with `{username}` placeholders, validated once and filled in
/// without re-parsing: `(&(objectClass=person)(|(uid={username})(mail={username})))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTemplate {
    source: String,
    filter: Filter,
    placeholders: usize,
}

impl FilterTemplate {
    /// Parses a template. Placeholders may appear only inside values (never in an attribute or
    /// matching rule position, where they are a parse error); a template needs at least one.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let placeholders = template.matches(USERNAME_PLACEHOLDER).count();
        if placeholders == 0 {
            return Err(TemplateError::NoPlaceholder);
        }
        if template.contains(SENTINEL_ESCAPED) {
            return Err(TemplateError::ReservedSequence);
        }
        let prepared = template.replace(USERNAME_PLACEHOLDER, SENTINEL_ESCAPED);
        let filter = Filter::parse(&prepared)
            .map_err(|e| TemplateError::Filter(shift_offset(e, template, &prepared)))?;
        let mut found = 0;
        filter.clone().map_values(&mut |v| {
            found += count_occurrences(v, SENTINEL);
        });
        if found != placeholders {
            return Err(TemplateError::ReservedSequence);
        }
        Ok(Self {
            source: template.to_owned(),
            filter,
            placeholders,
        })
    }

    /// The filter for `username`.
    pub fn render(&self, username: &str) -> Filter {
        let mut f = self.filter.clone();
        f.map_values(&mut |v| {
            if count_occurrences(v, SENTINEL) > 0 {
                *v = replace_all(v, SENTINEL, username.as_bytes());
            }
        });
        f
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Number of placeholders.
    pub fn placeholders(&self) -> usize {
        self.placeholders
    }
}

/// What was wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template has no `{username}`.
    #[error("the filter template has no {{username}} placeholder")]
    NoPlaceholder,
    /// A placeholder outside a value, or the template spells out the internal marker.
    #[error("{{username}} may appear only inside an assertion value")]
    ReservedSequence,
    /// The template is not a valid filter (offset into the template as written, approximate
    /// after a placeholder).
    #[error("invalid filter template: {0}")]
    Filter(FilterError),
}

fn shift_offset(e: FilterError, template: &str, prepared: &str) -> FilterError {
    // Map an offset in `prepared` back to `template` when it lies before the first
    // placeholder; later offsets are approximations, so report the placeholder-free prefix.
    let first = template
        .find(USERNAME_PLACEHOLDER)
        .unwrap_or(template.len());
    if e.offset() <= first || prepared.len() == template.len() {
        return e;
    }
    match e {
        FilterError::InvalidAttribute { .. } => FilterError::InvalidAttribute { offset: first },
        FilterError::InvalidMatchingRule { .. } => {
            FilterError::InvalidMatchingRule { offset: first }
        }
        other => other,
    }
}

fn count_occurrences(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    let mut n = 0;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if &hay[i..i + needle.len()] == needle {
            n += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    n
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// How the user's entry is found from the name they typed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum UserFilter {
    /// `(uid=…)` (OpenLDAP, 389-DS, FreeIPA).
    Uid,
    /// `(sAMAccountName=…)` (Active Directory pre-Windows 2000 logon name).
    SamAccountName,
    /// `(userPrincipalName=…)` (Active Directory `user@domain`).
    UserPrincipalName,
    /// `(mail=…)`.
    Mail,
    /// `(<attribute>=…)`.
    Attribute(Attribute),
    /// An administrator's template.
    Custom(FilterTemplate),
}

impl UserFilter {
    /// The attribute a predefined filter matches on (`None` for a custom template).
    pub fn login_attribute(&self) -> Option<Attribute> {
        let name = match self {
            Self::Uid => "uid",
            Self::SamAccountName => "sAMAccountName",
            Self::UserPrincipalName => "userPrincipalName",
            Self::Mail => "mail",
            Self::Attribute(a) => return Some(a.clone()),
            Self::Custom(_) => return None,
        };
        Some(Attribute(name.to_owned()))
    }

    /// The filter that finds `username`.
    pub fn user(&self, username: &str) -> Filter {
        match self {
            Self::Custom(t) => t.render(username),
            Self::Attribute(a) => Filter::equality(a.clone(), username),
            Self::Uid => Filter::equality(Attribute("uid".to_owned()), username),
            Self::SamAccountName => {
                Filter::equality(Attribute("sAMAccountName".to_owned()), username)
            }
            Self::UserPrincipalName => {
                Filter::equality(Attribute("userPrincipalName".to_owned()), username)
            }
            Self::Mail => Filter::equality(Attribute("mail".to_owned()), username),
        }
    }

    /// The user, restricted to direct members of `group` (`memberOf=<group>`).
    pub fn user_in_group(&self, username: &str, group: &Dn) -> Filter {
        Filter::and([self.user(username), member_of(group, false)])
    }

    /// The user, restricted to members of any of `groups`; with `nested`, through Active
    /// Directory's in-chain rule (transitive membership, AD only).
    pub fn user_in_any_group(&self, username: &str, groups: &[Dn], nested: bool) -> Filter {
        let any = Filter::or(groups.iter().map(|g| member_of(g, nested)));
        Filter::and([self.user(username), any])
    }
}

fn member_of(group: &Dn, nested: bool) -> Filter {
    let attribute = Attribute(String::from("memberOf"));
    if nested {
        Filter::in_chain(attribute, group.to_string())
    } else {
        Filter::equality(attribute, group.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_template_substitutes_escaped() {
        let t =
            FilterTemplate::parse("(&(objectClass=person)(|(uid={username})(mail={username}*)))")
                .unwrap();
        assert_eq!(t.placeholders(), 2);
        let f = t.render("*)(uid=*");
        assert_eq!(
            f.to_string(),
            r"(&(objectClass=person)(|(uid=\2a\29\28uid=\2a)(mail=\2a\29\28uid=\2a*)))"
        );
    }

    #[test]
    fn placeholder_outside_a_value_is_refused() {
        assert!(matches!(
            FilterTemplate::parse("({username}=x)"),
            Err(TemplateError::Filter(_))
        ));
        assert!(matches!(
            FilterTemplate::parse("(uid:{username}:=x)"),
            Err(TemplateError::Filter(_))
        ));
        assert_eq!(
            FilterTemplate::parse("(uid=x)"),
            Err(TemplateError::NoPlaceholder)
        );
        assert_eq!(
            FilterTemplate::parse(r"(&(uid={username})(cn=\00\ffidforge-username\ff\00))"),
            Err(TemplateError::ReservedSequence)
        );
    }

    #[test]
    fn group_templates() {
        let g1 = Dn::parse("cn=Admins,ou=Groups,dc=example,dc=com").unwrap();
        let g2 = Dn::parse(r"cn=Doe\, Jane's,ou=Groups,dc=example,dc=com").unwrap();
        assert_eq!(
            UserFilter::Uid.user_in_group("jdoe", &g1).to_string(),
            "(&(uid=jdoe)(memberOf=cn=Admins,ou=Groups,dc=example,dc=com))"
        );
        assert_eq!(
            UserFilter::SamAccountName
                .user_in_any_group("j(doe", &[g1, g2], true)
                .to_string(),
            r"(&(sAMAccountName=j\28doe)(|(memberOf:1.2.840.113556.1.4.1941:=cn=Admins,ou=Groups,dc=example,dc=com)(memberOf:1.2.840.113556.1.4.1941:=cn=Doe\5c, Jane's,ou=Groups,dc=example,dc=com)))"
        );
    }
}
