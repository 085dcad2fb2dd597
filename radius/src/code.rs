//! Packet codes (RFC 2865 §3, RFC 2866, RFC 5176, RFC 5997).

use core::fmt;

/// The Code field of a RADIUS packet. Unknown codes are kept, so that nothing is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Code {
    /// Access-Request (1).
    AccessRequest,
    /// Access-Accept (2).
    AccessAccept,
    /// Access-Reject (3).
    AccessReject,
    /// Accounting-Request (4).
    AccountingRequest,
    /// Accounting-Response (5).
    AccountingResponse,
    /// Access-Challenge (11).
    AccessChallenge,
    /// Status-Server (12).
    StatusServer,
    /// Status-Client (13).
    StatusClient,
    /// Disconnect-Request (40).
    DisconnectRequest,
    /// Disconnect-ACK (41).
    DisconnectAck,
    /// Disconnect-NAK (42).
    DisconnectNak,
    /// CoA-Request (43).
    CoaRequest,
    /// CoA-ACK (44).
    CoaAck,
    /// CoA-NAK (45).
    CoaNak,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for Code {
    fn from(value: u8) -> Self {
        match value {
            1 => Self::AccessRequest,
            2 => Self::AccessAccept,
            3 => Self::AccessReject,
            4 => Self::AccountingRequest,
            5 => Self::AccountingResponse,
            11 => Self::AccessChallenge,
            12 => Self::StatusServer,
            13 => Self::StatusClient,
            40 => Self::DisconnectRequest,
            41 => Self::DisconnectAck,
            42 => Self::DisconnectNak,
            43 => Self::CoaRequest,
            44 => Self::CoaAck,
            45 => Self::CoaNak,
            other => Self::Unknown(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> Self {
        match code {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::StatusClient => 13,
            Code::DisconnectRequest => 40,
            Code::DisconnectAck => 41,
            Code::DisconnectNak => 42,
            Code::CoaRequest => 43,
            Code::CoaAck => 44,
            Code::CoaNak => 45,
            Code::Unknown(other) => other,
        }
    }
}

/// How the Authenticator field of a packet is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthenticatorKind {
    /// A random Request Authenticator (Access-Request, Status-Server).
    RandomRequest,
    /// MD5 over the packet with a zero authenticator and the secret (Accounting-Request,
    /// CoA-Request, Disconnect-Request).
    HashedRequest,
    /// MD5 over the packet with the Request Authenticator and the secret (all responses).
    Response,
}

impl Code {
    /// The numeric value.
    pub fn value(self) -> u8 {
        self.into()
    }

    /// How the Authenticator field of a packet with this code is formed, or `None` for
    /// codes this crate does not know.
    pub fn authenticator_kind(self) -> Option<AuthenticatorKind> {
        match self {
            Self::AccessRequest | Self::StatusServer => Some(AuthenticatorKind::RandomRequest),
            Self::AccountingRequest
            | Self::CoaRequest
            | Self::DisconnectRequest
            | Self::StatusClient => Some(AuthenticatorKind::HashedRequest),
            Self::AccessAccept
            | Self::AccessReject
            | Self::AccessChallenge
            | Self::AccountingResponse
            | Self::DisconnectAck
            | Self::DisconnectNak
            | Self::CoaAck
            | Self::CoaNak => Some(AuthenticatorKind::Response),
            Self::Unknown(_) => None,
        }
    }

    /// Whether this is a request code.
    pub fn is_request(self) -> bool {
        matches!(
            self.authenticator_kind(),
            Some(AuthenticatorKind::RandomRequest | AuthenticatorKind::HashedRequest)
        )
    }

    /// Whether `response` is a valid answer to a request with this code.
    pub fn accepts_response(self, response: Code) -> bool {
        match self {
            Self::AccessRequest => matches!(
                response,
                Self::AccessAccept | Self::AccessReject | Self::AccessChallenge
            ),
            Self::AccountingRequest => response == Self::AccountingResponse,
            // RFC 5997 §3: Access-Accept on an authentication port, Accounting-Response on an
            // accounting port.
            Self::StatusServer => matches!(response, Self::AccessAccept | Self::AccountingResponse),
            Self::CoaRequest => matches!(response, Self::CoaAck | Self::CoaNak),
            Self::DisconnectRequest => {
                matches!(response, Self::DisconnectAck | Self::DisconnectNak)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::AccessRequest => "Access-Request",
            Self::AccessAccept => "Access-Accept",
            Self::AccessReject => "Access-Reject",
            Self::AccountingRequest => "Accounting-Request",
            Self::AccountingResponse => "Accounting-Response",
            Self::AccessChallenge => "Access-Challenge",
            Self::StatusServer => "Status-Server",
            Self::StatusClient => "Status-Client",
            Self::DisconnectRequest => "Disconnect-Request",
            Self::DisconnectAck => "Disconnect-ACK",
            Self::DisconnectNak => "Disconnect-NAK",
            Self::CoaRequest => "CoA-Request",
            Self::CoaAck => "CoA-ACK",
            Self::CoaNak => "CoA-NAK",
            Self::Unknown(v) => return write!(f, "Code({v})"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Code::from(v)), v);
        }
    }

    #[test]
    fn responses_match_requests() {
        assert!(Code::AccessRequest.accepts_response(Code::AccessChallenge));
        assert!(!Code::AccessRequest.accepts_response(Code::AccountingResponse));
        assert!(Code::CoaRequest.accepts_response(Code::CoaNak));
        assert!(!Code::AccessAccept.accepts_response(Code::AccessAccept));
        assert!(Code::StatusServer.is_request());
        assert!(!Code::CoaAck.is_request());
    }
}
