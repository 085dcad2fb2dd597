//! The configuration model: applications, groups, directories, network zones and ordered
//! app-login policies, as an administrator writes them.

use crate::lockout::LockoutSettings;

/// The kind of application a user logs in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum AppKind {
    /// A SAML 2.0 service provider (for example the AWS console).
    Saml,
    /// A RADIUS client (for example a VPN or Amazon WorkSpaces).
    Radius,
}

/// An application that policies can name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Application {
    /// The identifier callers pass in [`LoginRequest::application`](crate::LoginRequest).
    pub id: String,
    /// SAML or RADIUS.
    pub kind: AppKind,
}

/// Where the first factor (the password) is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum FirstFactor {
    /// The password is checked against the local user store.
    LocalPassword,
    /// The password is checked against the named directory (for example an LDAP server).
    Directory(String),
}

/// Whether a second factor is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SecondFactor {
    /// The first factor is enough.
    None,
    /// A second factor is always required.
    Required,
    /// A second factor is required only when a risk assessment asks for a challenge.
    IfRisky,
}

impl SecondFactor {
    /// Whether a second factor must be asked for, given whether the risk assessment asked for
    /// a challenge (`risky`).
    pub fn is_needed(self, risky: bool) -> bool {
        match self {
            SecondFactor::None => false,
            SecondFactor::Required => true,
            SecondFactor::IfRisky => risky,
        }
    }
}

/// A second-factor method a policy may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Method {
    /// Time-based one-time password from an authenticator app (RFC 6238).
    Totp,
    /// Counter-based one-time password from a hardware token (RFC 4226).
    HotpToken,
    /// A single-use backup code.
    BackupCode,
    /// A one-time code sent by e-mail to the user's address.
    EmailOtp,
    /// A one-time code sent by SMS to the user's phone.
    SmsOtp,
    /// A single-use sign-in link sent by e-mail, good only in the browser that asked for it.
    EmailLink,
    /// Answers to the user's security questions.
    SecurityQuestions,
    /// A one-time password typed by a YubiKey in Yubico OTP mode.
    YubicoOtp,
    /// A security key or passkey (WebAuthn): a signed assertion from an authenticator the
    /// user registered.
    Webauthn,
}

impl Method {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::HotpToken => "hotp_token",
            Method::BackupCode => "backup_code",
            Method::EmailOtp => "email_otp",
            Method::SmsOtp => "sms_otp",
            Method::EmailLink => "email_link",
            Method::SecurityQuestions => "security_questions",
            Method::YubicoOtp => "yubico_otp",
            Method::Webauthn => "webauthn",
        }
    }
}

/// A named set of network ranges (for example the office networks).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Zone {
    /// The name policies use in `zones`.
    pub name: String,
    /// CIDR ranges, IPv4 or IPv6, such as `192.0.2.0/24`.
    pub ranges: Vec<String>,
}

/// One app-login policy: conditions, then what the user must prove.
///
/// Conditions are combined with AND; each list is an OR of its entries. An omitted list
/// matches anything; an empty list is rejected because it would match nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Policy {
    /// A unique name, reported in decisions and errors.
    pub name: String,
    /// Applications this policy applies to (any if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub applications: Option<Vec<String>>,
    /// The user must be a member of at least one of these groups (any user if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub groups: Option<Vec<String>>,
    /// The client address must lie in one of these zones (any address if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub zones: Option<Vec<String>>,
    /// The user must come from one of these authentication sources: `local` or a directory
    /// name (any source if omitted).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub sources: Option<Vec<String>>,
    /// What checks the password.
    pub first_factor: FirstFactor,
    /// Whether a second factor is needed.
    pub second_factor: SecondFactor,
    /// The allowed second-factor methods (empty exactly when `second_factor` is `none`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub methods: Vec<Method>,
    /// Days a browser that passed the second factor may skip it for this user when they
    /// ask to be remembered (0: never; at most 365).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub remember_device_days: u32,
}

/// The policy used when no other policy matches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct DefaultPolicy {
    /// What checks the password.
    pub first_factor: FirstFactor,
    /// Whether a second factor is needed.
    pub second_factor: SecondFactor,
    /// The allowed second-factor methods.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub methods: Vec<Method>,
    /// Days a browser that passed the second factor may skip it for this user when they
    /// ask to be remembered (0: never; at most 365).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub remember_device_days: u32,
}

/// Everything an administrator configures; [`PolicyConfig::validate`] turns it into a
/// [`PolicySet`](crate::PolicySet) that evaluates logins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct PolicyConfig {
    /// Declared applications.
    #[cfg_attr(feature = "serde", serde(default))]
    pub applications: Vec<Application>,
    /// Declared groups.
    #[cfg_attr(feature = "serde", serde(default))]
    pub groups: Vec<String>,
    /// Declared directories (authentication sources besides `local`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub directories: Vec<String>,
    /// Declared network zones.
    #[cfg_attr(feature = "serde", serde(default))]
    pub zones: Vec<Zone>,
    /// Policies in precedence order: the first one that matches decides.
    #[cfg_attr(feature = "serde", serde(default))]
    pub policies: Vec<Policy>,
    /// The policy for logins no other policy matches.
    pub default: DefaultPolicy,
    /// Lockout and throttling after failed logins.
    #[cfg_attr(feature = "serde", serde(default))]
    pub lockout: LockoutSettings,
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}
