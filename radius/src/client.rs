//! The sans-IO client: builds signed requests, matches and verifies answers, and decides
//! when to retransmit. The caller owns the socket and the clock.

use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use crate::attribute::{Attribute, AttributeType};
use crate::code::{AuthenticatorKind, Code};
use crate::crypto::{self, Authenticator};
use crate::error::Error;
use crate::mschap::{self, MppeKeys, MsChapError, MsChapMppeKeys};
use crate::packet::{Packet, PacketBuilder};
use crate::secret::SharedSecret;
use crate::vendor::{self, MICROSOFT, microsoft};

/// Client policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct ClientConfig {
    /// Reject answers to Access-Requests and Status-Servers without Message-Authenticator
    /// (default `true`). Set to `false` only for servers that predate the Blast-RADIUS fixes
    /// (FreeRADIUS before 3.2.5); every answer accepted without it is counted.
    pub require_message_authenticator: bool,
    /// Time between retransmissions (default 2 s).
    pub retransmit_interval: Duration,
    /// Transmissions of a request before giving up, the first included (default 3).
    pub max_attempts: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            require_message_authenticator: true,
            retransmit_interval: Duration::from_secs(2),
            max_attempts: 3,
        }
    }
}

/// How an Access-Request proves the user's password.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Credentials<'p> {
    /// No password attribute (Status-Server, accounting, or attributes supplied by the caller).
    None,
    /// PAP: User-Password hidden with the shared secret.
    Pap(&'p [u8]),
    /// CHAP with the Request Authenticator as challenge and this CHAP identifier.
    Chap {
        /// CHAP identifier.
        ident: u8,
        /// The password.
        password: &'p [u8],
    },
}

#[derive(Debug)]
struct Outstanding {
    code: Code,
    authenticator: Authenticator,
    bytes: Vec<u8>,
    next_send: Instant,
    attempts: u32,
}

/// What a timeout asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Timeout {
    /// Send the request again; its bytes were written to the output buffer.
    Retransmit {
        /// Identifier of the request.
        identifier: u8,
    },
    /// No answer after the last attempt; the identifier is free again.
    GaveUp {
        /// Identifier of the request.
        identifier: u8,
    },
}

/// Client counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCounters {
    /// Requests built.
    pub requests: u64,
    /// Retransmissions.
    pub retransmissions: u64,
    /// Requests given up.
    pub timeouts: u64,
    /// Verified answers.
    pub responses: u64,
    /// Answers dropped (malformed, unknown identifier, bad authenticator, missing
    /// Message-Authenticator).
    pub dropped_responses: u64,
    /// Answers accepted without Message-Authenticator under the opt-out.
    pub accepted_without_message_authenticator: u64,
}

/// A verified answer.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    packet: Packet<'a>,
    request_authenticator: Authenticator,
}

impl<'a> Response<'a> {
    /// The verified packet.
    pub fn packet(&self) -> &Packet<'a> {
        &self.packet
    }

    /// The code of the answer.
    pub fn code(&self) -> Code {
        self.packet.code()
    }

    /// The Request Authenticator of the request it answers (needed to recover
    /// Tunnel-Password and MS-MPPE keys).
    pub fn request_authenticator(&self) -> &Authenticator {
        &self.request_authenticator
    }

    /// The MS-CHAP2-Success value (identifier and `S=<40 hex digits>`), if the answer has one.
    pub fn ms_chap2_success(&self) -> Option<&'a [u8]> {
        vendor::find_vendor_value(&self.packet, MICROSOFT, microsoft::MS_CHAP2_SUCCESS)
    }

    /// The MS-CHAP-Error of an MS-CHAPv2 failure, if the answer has one.
    pub fn ms_chap_error(&self) -> Option<Result<MsChapError<'a>, Error>> {
        vendor::find_vendor_value(&self.packet, MICROSOFT, microsoft::MS_CHAP_ERROR)
            .map(MsChapError::parse)
    }
}

/// The client state machine for one server (one shared secret, one source port).
///
/// # Example
///
/// [`request`](Self::request) writes a signed request to send; until an answer arrives for
/// [`handle_response`](Self::handle_response), the caller sleeps until
/// [`poll_timeout`](Self::poll_timeout) and lets [`handle_timeout`](Self::handle_timeout)
/// decide whether to send it again or give up.
///
/// ```
/// use std::time::{Duration, Instant};
/// use idforge_radius::{Client, ClientConfig, Credentials, Timeout};
/// use idforge_radius::{Attribute, AttributeType, Code, SharedSecret};
///
/// let config = ClientConfig { max_attempts: 2, ..ClientConfig::default() };
/// let mut client = Client::new(config, SharedSecret::new("s3cret"));
/// let start = Instant::now();
/// let mut datagram = Vec::new();
/// let id = client.request(
///     start,
///     &mut rand::rng(),
///     Code::AccessRequest,
///     Credentials::Pap(b"correct horse"),
///     &[Attribute::text(AttributeType::USER_NAME, "alice")],
///     &mut datagram,
/// )?;
/// let first = datagram.clone(); // send it to the server
///
/// // No answer: after the retransmit interval the same bytes go out again.
/// let due = client.poll_timeout().expect("one request is outstanding");
/// assert_eq!(due, start + Duration::from_secs(2));
/// assert_eq!(client.handle_timeout(due, &mut datagram), Some(Timeout::Retransmit { identifier: id }));
/// assert_eq!(datagram, first);
///
/// // Still nothing after the last attempt: the request is given up and its identifier freed.
/// let due = client.poll_timeout().expect("still outstanding");
/// assert_eq!(client.handle_timeout(due, &mut datagram), Some(Timeout::GaveUp { identifier: id }));
/// assert_eq!(client.outstanding(), 0);
/// # Ok::<(), idforge_radius::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    secret: SharedSecret,
    config: ClientConfig,
    outstanding: Vec<Option<Outstanding>>,
    next_identifier: u8,
    counters: ClientCounters,
}

impl Client {
    /// A client for a server sharing `secret`.
    pub fn new(config: ClientConfig, secret: SharedSecret) -> Self {
        Self {
            secret,
            config,
            outstanding: (0..256).map(|_| None).collect(),
            next_identifier: 0,
            counters: ClientCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> ClientCounters {
        self.counters
    }

    /// Number of requests awaiting an answer.
    pub fn outstanding(&self) -> usize {
        self.outstanding.iter().filter(|o| o.is_some()).count()
    }

    fn free_identifier(&mut self) -> Result<u8, Error> {
        for step in 0..=255u8 {
            let id = self.next_identifier.wrapping_add(step);
            if self.outstanding[usize::from(id)].is_none() {
                self.next_identifier = id.wrapping_add(1);
                return Ok(id);
            }
        }
        Err(Error::IdentifiersExhausted)
    }

    /// Builds and signs a request, writes it to `out` and remembers it; returns its
    /// identifier. Access-Requests and Status-Servers get a random Request Authenticator from
    /// `rng` and a Message-Authenticator as first attribute.
    pub fn request<R: CryptoRng + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
        code: Code,
        credentials: Credentials<'_>,
        attributes: &[Attribute<'_>],
        out: &mut Vec<u8>,
    ) -> Result<u8, Error> {
        let kind = code.authenticator_kind();
        if !code.is_request() {
            return Err(Error::UnexpectedCode { code: code.value() });
        }
        if !matches!(credentials, Credentials::None) && code != Code::AccessRequest {
            return Err(Error::UnexpectedCode { code: code.value() });
        }
        let identifier = self.free_identifier()?;
        let mut authenticator = [0u8; 16];
        if kind == Some(AuthenticatorKind::RandomRequest) {
            rng.fill_bytes(&mut authenticator);
        }
        let mut builder = PacketBuilder::new(out, code, identifier, &authenticator);
        if kind == Some(AuthenticatorKind::RandomRequest) {
            builder.push_message_authenticator()?;
        }
        for attr in attributes {
            attr.encode(&mut builder)?;
        }
        match credentials {
            Credentials::None => {}
            Credentials::Pap(password) => {
                let mut hidden = zeroize::Zeroizing::new(Vec::with_capacity(128));
                crypto::hide_user_password(&self.secret, &authenticator, password, &mut hidden)?;
                builder.push(AttributeType::USER_PASSWORD, &hidden)?;
            }
            Credentials::Chap { ident, password } => {
                let response = crypto::chap_response(ident, password, &authenticator);
                let mut value = [0u8; 17];
                value[0] = ident;
                value[1..].copy_from_slice(&response);
                builder.push(AttributeType::CHAP_PASSWORD, &value)?;
            }
        }
        let bytes = builder.finish();
        crypto::sign(bytes, &self.secret, None)?;
        let mut sent_auth = [0u8; 16];
        sent_auth.copy_from_slice(&bytes[4..20]);
        // Accounting-style requests are answered against the computed authenticator.
        let slot = &mut self.outstanding[usize::from(identifier)];
        let mut stored = slot.take().map(|o| o.bytes).unwrap_or_default();
        stored.clear();
        stored.extend_from_slice(bytes);
        *slot = Some(Outstanding {
            code,
            authenticator: sent_auth,
            bytes: stored,
            next_send: now + self.config.retransmit_interval,
            attempts: 1,
        });
        self.counters.requests += 1;
        Ok(identifier)
    }

    /// Matches and verifies an answer. A packet that fails is counted and returned as an
    /// error; the request stays outstanding (a forged answer cannot cancel it).
    pub fn handle_response<'a>(&mut self, datagram: &'a [u8]) -> Result<Response<'a>, Error> {
        let result = self.check_response(datagram);
        match &result {
            Ok(_) => self.counters.responses += 1,
            Err(_) => self.counters.dropped_responses += 1,
        }
        result
    }

    fn check_response<'a>(&mut self, datagram: &'a [u8]) -> Result<Response<'a>, Error> {
        let packet = Packet::parse(datagram)?;
        let identifier = packet.identifier();
        let Some(pending) = &self.outstanding[usize::from(identifier)] else {
            return Err(Error::UnknownIdentifier { identifier });
        };
        if !pending.code.accepts_response(packet.code()) {
            return Err(Error::UnexpectedCode {
                code: packet.code().value(),
            });
        }
        crypto::verify_response(&packet, &self.secret, &pending.authenticator)?;
        let protected = matches!(pending.code, Code::AccessRequest | Code::StatusServer);
        if protected && !packet.has_message_authenticator() {
            if self.config.require_message_authenticator {
                return Err(Error::MissingMessageAuthenticator);
            }
            self.counters.accepted_without_message_authenticator += 1;
        }
        let request_authenticator = pending.authenticator;
        self.outstanding[usize::from(identifier)] = None;
        Ok(Response {
            packet,
            request_authenticator,
        })
    }

    /// Recovers the 128-bit MPPE keys of an Access-Accept to MS-CHAPv2 (MS-MPPE-Send-Key and
    /// MS-MPPE-Recv-Key, RFC 2548 §2.4.2-2.4.3) with this client's secret. A missing key is
    /// [`Error::MissingVendorAttribute`]; see [`mschap::recover_mppe_key`] for the others.
    pub fn mppe_keys(&self, response: &Response<'_>) -> Result<MppeKeys, Error> {
        let key = |vendor_type| {
            let value = vendor::find_vendor_value(&response.packet, MICROSOFT, vendor_type).ok_or(
                Error::MissingVendorAttribute {
                    vendor_id: MICROSOFT,
                    vendor_type,
                },
            )?;
            mschap::recover_mppe_key(&self.secret, &response.request_authenticator, value)
        };
        let send = key(microsoft::MS_MPPE_SEND_KEY)?;
        let recv = key(microsoft::MS_MPPE_RECV_KEY)?;
        Ok(MppeKeys::new(*send, *recv))
    }

    /// Recovers the MS-CHAPv1 keys of an Access-Accept (MS-CHAP-MPPE-Keys, RFC 2548 §2.4.1)
    /// with this client's secret.
    pub fn ms_chap_mppe_keys(&self, response: &Response<'_>) -> Result<MsChapMppeKeys, Error> {
        let value =
            vendor::find_vendor_value(&response.packet, MICROSOFT, microsoft::MS_CHAP_MPPE_KEYS)
                .ok_or(Error::MissingVendorAttribute {
                    vendor_id: MICROSOFT,
                    vendor_type: microsoft::MS_CHAP_MPPE_KEYS,
                })?;
        mschap::recover_ms_chap_mppe_keys(&self.secret, &response.request_authenticator, value)
    }

    /// When [`Client::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.iter().flatten().map(|o| o.next_send).min()
    }

    /// Decides about one request whose time has come: retransmit it (bytes written to `out`)
    /// or give up. Call until it returns `None`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<Timeout> {
        let (index, slot) = self
            .outstanding
            .iter_mut()
            .enumerate()
            .filter(|(_, o)| o.as_ref().is_some_and(|o| o.next_send <= now))
            .min_by_key(|(_, o)| o.as_ref().map(|o| o.next_send))?;
        let identifier = index as u8;
        let pending = slot.as_mut()?;
        if pending.attempts >= self.config.max_attempts {
            *slot = None;
            self.counters.timeouts += 1;
            return Some(Timeout::GaveUp { identifier });
        }
        pending.attempts += 1;
        pending.next_send = now + self.config.retransmit_interval;
        out.clear();
        out.extend_from_slice(&pending.bytes);
        self.counters.retransmissions += 1;
        Some(Timeout::Retransmit { identifier })
    }
}
