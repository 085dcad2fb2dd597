//! Active Directory bind failures. AD answers every failed simple bind with result 49
//! (`invalidCredentials`) and says why in the diagnostic message:
//! `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563`.
//! The `data` field is a Windows error code; an IdP must tell "locked" from "wrong password".

/// Why Active Directory refused a bind, from the `data` sub-code of its diagnostic message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdBindError {
    /// `525`: the user does not exist.
    NoSuchUser,
    /// `52e`: wrong password (or wrong user name).
    InvalidCredentials,
    /// `530`: not permitted to log on at this time.
    LogonHoursRestricted,
    /// `531`: not permitted to log on from this workstation.
    WorkstationRestricted,
    /// `532`: the password has expired.
    PasswordExpired,
    /// `533`: the account is disabled.
    AccountDisabled,
    /// `701`: the account has expired.
    AccountExpired,
    /// `773`: the user must change the password before logging on.
    PasswordMustChange,
    /// `775`: the account is locked out.
    AccountLocked,
    /// Another sub-code, kept as its value.
    Other(u32),
}

impl AdBindError {
    /// Decodes the sub-code from an AD diagnostic message; `None` when the message has no
    /// `data <hex>` field (OpenLDAP, or not a bind failure).
    pub fn from_diagnostic(message: &str) -> Option<Self> {
        let at = message.find(", data ")? + ", data ".len();
        let digits: String = message[at..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if digits.is_empty() || digits.len() > 8 {
            return None;
        }
        u32::from_str_radix(&digits, 16).ok().map(Self::from_code)
    }

    /// The variant for a Windows error code (`0x52e` …).
    pub fn from_code(code: u32) -> Self {
        match code {
            0x525 => Self::NoSuchUser,
            0x52e => Self::InvalidCredentials,
            0x530 => Self::LogonHoursRestricted,
            0x531 => Self::WorkstationRestricted,
            0x532 => Self::PasswordExpired,
            0x533 => Self::AccountDisabled,
            0x701 => Self::AccountExpired,
            0x773 => Self::PasswordMustChange,
            0x775 => Self::AccountLocked,
            other => Self::Other(other),
        }
    }

    /// The Windows error code.
    pub fn code(self) -> u32 {
        match self {
            Self::NoSuchUser => 0x525,
            Self::InvalidCredentials => 0x52e,
            Self::LogonHoursRestricted => 0x530,
            Self::WorkstationRestricted => 0x531,
            Self::PasswordExpired => 0x532,
            Self::AccountDisabled => 0x533,
            Self::AccountExpired => 0x701,
            Self::PasswordMustChange => 0x773,
            Self::AccountLocked => 0x775,
            Self::Other(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sub_codes() {
        let m = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563\0";
        assert_eq!(
            AdBindError::from_diagnostic(m),
            Some(AdBindError::AccountLocked)
        );
        assert_eq!(
            AdBindError::from_diagnostic("x, data 52e, v2580"),
            Some(AdBindError::InvalidCredentials)
        );
        assert_eq!(
            AdBindError::from_diagnostic("x, data 1f, v1"),
            Some(AdBindError::Other(0x1f))
        );
        assert_eq!(AdBindError::from_diagnostic("invalid credentials"), None);
        assert_eq!(AdBindError::from_diagnostic("x, data , v1"), None);
        for c in [
            0x525, 0x52e, 0x530, 0x531, 0x532, 0x533, 0x701, 0x773, 0x775, 7,
        ] {
            assert_eq!(AdBindError::from_code(c).code(), c);
        }
    }
}
