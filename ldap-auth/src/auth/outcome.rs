//! How a login ended: the user the directory accepted, or why it failed, in full for the
//! audit log and merged for users.

use std::collections::BTreeMap;

use crate::ad::AdBindError;
use crate::ber::BerError;
use crate::dn::{Dn, DnError};
use crate::message::ResultCode;

/// A user the directory accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The DN of the entry the search found (parsed: compare it, never its string).
    pub dn: Dn,
    /// The DN exactly as the server wrote it.
    pub dn_string: String,
    /// The value of the login attribute in the entry (the directory's spelling, not the typed
    /// name); `None` for custom filters or when the entry does not show it.
    pub login: Option<String>,
    /// Mapped attributes, every value kept, under their configured names.
    pub attributes: BTreeMap<String, Vec<Vec<u8>>>,
    /// Group DNs, in the order found.
    pub groups: Vec<Dn>,
    /// The authzId from "Who am I?", when asked.
    pub authz_id: Option<String>,
}

impl AuthenticatedUser {
    /// The values of a mapped attribute that are UTF-8 text.
    pub fn strings(&self, name: &str) -> Vec<&str> {
        self.attributes
            .get(name)
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| std::str::from_utf8(v).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Why a login failed, in full, for the audit log. Show users [`AuthFailure::user_facing`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The password was empty; nothing was sent.
    #[error("empty password refused before any bind")]
    EmptyPassword,
    /// The user name was empty; nothing was sent.
    #[error("empty user name")]
    EmptyUsername,
    /// The search found no entry.
    #[error("no such user")]
    NoSuchUser,
    /// The search found more than one entry.
    #[error("the user filter matched {count} entries")]
    AmbiguousUser {
        /// Entries returned before the size limit.
        count: usize,
    },
    /// The password was wrong.
    #[error("wrong password")]
    WrongPassword,
    /// Active Directory: the account is locked out (775).
    #[error("account locked")]
    AccountLocked,
    /// Active Directory: the account is disabled (533).
    #[error("account disabled")]
    AccountDisabled,
    /// Active Directory: the account has expired (701).
    #[error("account expired")]
    AccountExpired,
    /// Active Directory: the password has expired (532).
    #[error("password expired")]
    PasswordExpired,
    /// Active Directory: the password must be changed (773).
    #[error("password must be changed")]
    PasswordMustChange,
    /// Active Directory: logon hours (530).
    #[error("logon not permitted at this time")]
    LogonHoursRestricted,
    /// Active Directory: workstation restriction (531).
    #[error("logon not permitted from this workstation")]
    WorkstationRestricted,
    /// The user bind failed for another reason.
    #[error("user bind refused: result {code:?}: {diagnostic}")]
    UserBindRejected {
        /// Result code.
        code: ResultCode,
        /// Diagnostic message.
        diagnostic: String,
        /// AD sub-code, if any.
        ad: Option<AdBindError>,
    },
    /// The server refused StartTLS.
    #[error("StartTLS refused: result {code:?}: {diagnostic}")]
    StartTlsRefused {
        /// Result code.
        code: ResultCode,
        /// Diagnostic message.
        diagnostic: String,
    },
    /// The service account could not bind (configuration or directory problem).
    #[error("service bind failed: result {code:?}: {diagnostic}")]
    ServiceBindFailed {
        /// Result code.
        code: ResultCode,
        /// Diagnostic message.
        diagnostic: String,
    },
    /// A search failed.
    #[error("{what} search failed: result {code:?}: {diagnostic}")]
    SearchFailed {
        /// `user` or `group`.
        what: &'static str,
        /// Result code.
        code: ResultCode,
        /// Diagnostic message.
        diagnostic: String,
    },
    /// Groups were still being found after the configured depth.
    #[error("groups nested deeper than {max_depth} levels")]
    GroupNestingTooDeep {
        /// The configured limit.
        max_depth: usize,
    },
    /// The group lookup found more than [`MAX_GROUPS`](super::MAX_GROUPS) groups.
    #[error("more than {limit} groups")]
    TooManyGroups {
        /// The limit.
        limit: usize,
    },
    /// "Who am I?" named another identity than the entry found.
    #[error("the server says the bound identity is {authz_id}")]
    IdentityMismatch {
        /// What the server answered.
        authz_id: String,
    },
    /// The server returned a DN that does not parse.
    #[error("invalid DN from server: {0}")]
    InvalidDn(DnError),
    /// A message did not decode.
    #[error("malformed message from server: {0}")]
    Malformed(BerError),
    /// A message arrived that the flow did not expect.
    #[error("unexpected message from server: {0}")]
    UnexpectedMessage(&'static str),
    /// The server sent a Notice of Disconnection.
    #[error("server disconnected: {diagnostic}")]
    Disconnected {
        /// Its diagnostic message.
        diagnostic: String,
    },
    /// The connection closed before the flow ended.
    #[error("connection closed")]
    ConnectionClosed,
}

/// What a user may be told. Unknown user, wrong password and ambiguous name all read
/// `InvalidCredentials`, so that accounts cannot be enumerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserFacingFailure {
    /// "Invalid user name or password."
    InvalidCredentials,
    /// "Your account is locked."
    AccountLocked,
    /// "Your account is disabled or expired."
    AccountDisabled,
    /// "Your password has expired and must be changed."
    PasswordExpired,
    /// "You may not log in now or from here."
    LogonRestricted,
    /// "The directory is unavailable; try later."
    Unavailable,
}

impl AuthFailure {
    /// The failure as a user may see it.
    pub fn user_facing(&self) -> UserFacingFailure {
        match self {
            Self::EmptyPassword
            | Self::EmptyUsername
            | Self::NoSuchUser
            | Self::AmbiguousUser { .. }
            | Self::WrongPassword => UserFacingFailure::InvalidCredentials,
            Self::AccountLocked => UserFacingFailure::AccountLocked,
            Self::AccountDisabled | Self::AccountExpired => UserFacingFailure::AccountDisabled,
            Self::PasswordExpired | Self::PasswordMustChange => UserFacingFailure::PasswordExpired,
            Self::LogonHoursRestricted | Self::WorkstationRestricted => {
                UserFacingFailure::LogonRestricted
            }
            Self::UserBindRejected { .. }
            | Self::StartTlsRefused { .. }
            | Self::ServiceBindFailed { .. }
            | Self::SearchFailed { .. }
            | Self::GroupNestingTooDeep { .. }
            | Self::TooManyGroups { .. }
            | Self::IdentityMismatch { .. }
            | Self::InvalidDn(_)
            | Self::Malformed(_)
            | Self::UnexpectedMessage(_)
            | Self::Disconnected { .. }
            | Self::ConnectionClosed => UserFacingFailure::Unavailable,
        }
    }
}
