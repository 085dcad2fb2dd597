//! The sans-IO server core: client lookup, verification, Blast-RADIUS policy, duplicate
//! detection and counters. The caller owns the socket and the clock.
//!
//! ```text
//! loop {
//!     let (len, from) = socket.recv_from(&mut datagram)?;
//!     match server.handle(Instant::now(), from, &datagram[..len], &mut out) {
//!         Event::Request(req) => {
//!             // decide, then
//!             let to = server.answer(&req, Code::AccessAccept, &[], &mut out)?;
//!             socket.send_to(&out, to)?;
//!         }
//!         Event::Retransmit(to) => socket.send_to(&out, to)?,
//!         Event::Dropped(_) => {}
//!     }
//! }
//! ```

use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use zeroize::Zeroizing;

use crate::attribute::{Attribute, AttributeType};
use crate::code::Code;
use crate::crypto::{self, Authenticator};
use crate::error::Error;
use crate::mschap::{
    MppeSalts, MsChap1Accept, MsChap1Request, MsChap2Accept, MsChap2Request, MsChap2Success,
    MsChapMppeKeys,
};
use crate::packet::{Packet, PacketBuilder};
use crate::secret::SharedSecret;

/// Server-wide policy. The defaults are the Blast-RADIUS (CVE-2024-3596) defences; every
/// relaxation is explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct ServerConfig {
    /// Drop every Access-Request without a valid Message-Authenticator (default `true`).
    /// Clients can be exempted one by one with [`NasClient::allow_missing_message_authenticator`].
    pub require_message_authenticator: bool,
    /// Drop an Access-Request that carries Proxy-State but no Message-Authenticator, even from
    /// an exempted client (default `true`; FreeRADIUS's `limit_proxy_state`).
    pub limit_proxy_state: bool,
    /// How long answers are kept to replay on retransmission (default 10 s).
    pub duplicate_window: Duration,
    /// Most entries the duplicate cache holds (default 4096); the oldest is evicted first.
    pub duplicate_capacity: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            require_message_authenticator: true,
            limit_proxy_state: true,
            duplicate_window: Duration::from_secs(10),
            duplicate_capacity: 4096,
        }
    }
}

/// A RADIUS client (NAS) allowed to talk to the server: an address or prefix and its secret.
#[derive(Debug, Clone)]
pub struct NasClient {
    name: String,
    network: IpNet,
    secret: SharedSecret,
    allow_missing_message_authenticator: bool,
}

impl NasClient {
    /// A client identified by the source addresses in `network` (a single host is a /32 or
    /// /128 prefix).
    pub fn new(name: impl Into<String>, network: IpNet, secret: SharedSecret) -> Self {
        Self {
            name: name.into(),
            network: network.trunc(),
            secret,
            allow_missing_message_authenticator: false,
        }
    }

    /// A client with exactly one address.
    pub fn host(name: impl Into<String>, addr: IpAddr, secret: SharedSecret) -> Self {
        Self::new(name, IpNet::from(addr), secret)
    }

    /// Opt-out: accept Access-Requests from this client without Message-Authenticator (for
    /// NASes that cannot send it). Each such request is counted in
    /// [`Counters::accepted_without_message_authenticator`]. An Access-Request that carries
    /// EAP-Message is still dropped without it (RFC 3579 §3.2), and so is one with
    /// Proxy-State while [`ServerConfig::limit_proxy_state`] is on.
    #[must_use]
    pub fn allow_missing_message_authenticator(mut self) -> Self {
        self.allow_missing_message_authenticator = true;
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared secret.
    pub fn secret(&self) -> &SharedSecret {
        &self.secret
    }
}

/// Index of a client in the server's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(usize);

/// Per-client counters in the spirit of RFC 4669 (RADIUS authentication server MIB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Access-Requests passed to the application.
    pub access_requests: u64,
    /// Access-Accepts sent.
    pub access_accepts: u64,
    /// Access-Rejects sent.
    pub access_rejects: u64,
    /// Access-Challenges sent.
    pub access_challenges: u64,
    /// Accounting-Requests passed to the application.
    pub accounting_requests: u64,
    /// Accounting-Responses sent.
    pub accounting_responses: u64,
    /// Status-Server requests passed to the application.
    pub status_server: u64,
    /// CoA- and Disconnect-Requests passed to the application.
    pub dynamic_authorization_requests: u64,
    /// Other responses (CoA/Disconnect ACK/NAK) sent.
    pub other_responses: u64,
    /// Retransmissions answered from the duplicate cache.
    pub duplicates_replayed: u64,
    /// Retransmissions dropped because the first copy is still being answered.
    pub duplicates_in_progress: u64,
    /// Packets dropped because they do not parse.
    pub malformed: u64,
    /// Packets dropped for a bad Request Authenticator or Message-Authenticator.
    pub bad_authenticators: u64,
    /// Access-Requests and Status-Servers dropped for lacking Message-Authenticator (including
    /// Access-Requests with EAP-Message from an exempted client).
    pub missing_message_authenticator: u64,
    /// Access-Requests dropped for Proxy-State without Message-Authenticator.
    pub proxy_state_without_message_authenticator: u64,
    /// Packets dropped because their code is not a request this server answers.
    pub unexpected_codes: u64,
    /// Access-Requests accepted without Message-Authenticator under the client's opt-out.
    pub accepted_without_message_authenticator: u64,
}

/// Why a datagram was dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The source address is in no client's network.
    UnknownClient,
    /// The packet does not parse.
    Malformed(Error),
    /// The Request Authenticator or Message-Authenticator does not verify.
    BadAuthenticator,
    /// Message-Authenticator is required but absent: by the configuration, or because the
    /// Access-Request carries EAP-Message (RFC 3579 §3.2), which no client exemption relaxes.
    MissingMessageAuthenticator,
    /// Proxy-State without Message-Authenticator.
    ProxyStateWithoutMessageAuthenticator,
    /// Not a request code this server answers.
    UnexpectedCode(Code),
    /// A retransmission of a request the application is still answering.
    DuplicateInProgress,
}

/// What the caller must do with a datagram.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Event<'a> {
    /// A verified request for the application to answer with [`Server::answer`].
    Request(Request<'a>),
    /// A retransmission: the cached answer was written to the output buffer; send it here.
    Retransmit(SocketAddr),
    /// Nothing to send.
    Dropped(DropReason),
}

/// A verified request, borrowed from the datagram.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    packet: Packet<'a>,
    client: ClientId,
    from: SocketAddr,
    /// Sequence number of its entry in the duplicate cache, if it has one.
    slot: Option<u64>,
}

impl<'a> Request<'a> {
    /// The verified packet.
    #[inline]
    pub fn packet(&self) -> &Packet<'a> {
        &self.packet
    }

    /// The client (NAS) that sent it.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The source address.
    pub fn from(&self) -> SocketAddr {
        self.from
    }

    fn duplicate_key(&self) -> DuplicateKey {
        DuplicateKey {
            from: self.from,
            identifier: self.packet.identifier(),
            authenticator: *self.packet.authenticator(),
        }
    }

    /// The User-Name, if present and valid UTF-8.
    pub fn user_name(&self) -> Option<&'a str> {
        self.packet
            .find(AttributeType::USER_NAME)
            .and_then(|a| core::str::from_utf8(a.value).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DuplicateKey {
    from: SocketAddr,
    identifier: u8,
    authenticator: Authenticator,
}

impl Hash for DuplicateKey {
    /// The key is hashed as one write instead of field by field: the derived hash feeds the
    /// hasher eight small pieces, which costs more than the rest of the lookup. Equal keys give
    /// equal bytes: 24 for an IPv4 source (three SipHash words) and 35 for an IPv6 one, whose
    /// flow label and scope are left out (which only allows collisions).
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut bytes = [0u8; 35];
        let len = match self.from.ip() {
            IpAddr::V4(a) => {
                bytes[..4].copy_from_slice(&a.octets());
                4
            }
            IpAddr::V6(a) => {
                bytes[..16].copy_from_slice(&a.octets());
                16
            }
        };
        bytes[len..len + 2].copy_from_slice(&self.from.port().to_be_bytes());
        bytes[len + 2] = self.identifier;
        bytes[len + 3..len + 19].copy_from_slice(&self.authenticator);
        state.write(&bytes[..len + 19]);
    }
}

/// The index's hasher: its keys are already hashes, which it passes on. They are the
/// standard library's keyed hash (SipHash-1-3 today) of the [`DuplicateKey`], under the random
/// key of the cache's own [`RandomState`], as a plain `HashMap` would compute them: the Request
/// Authenticators of exempted unsigned requests, which an attacker chooses, still cannot be
/// picked to collide.
#[derive(Debug, Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; anything else is folded in rather than lost.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Handed to the application, not answered yet.
    Pending,
    /// Answered; the answer is in the slot's buffer.
    Answered,
    /// Forgotten with [`Server::abandon`]; no longer in the index.
    Abandoned,
}

#[derive(Debug)]
struct Slot {
    /// The key and its keyed hash (the key of `index`).
    hash: u64,
    key: DuplicateKey,
    inserted: Instant,
    state: SlotState,
    /// The answer once there is one; the buffer stays with the slot when it is reused.
    answer: Vec<u8>,
}

/// Bounded, time-expiring cache of answers, keyed by source, identifier and authenticator
/// (RFC 5080 §2.2.2).
///
/// Entries are numbered in arrival order by a sequence that only grows, and live in a ring of
/// slots: the live ones are `first..next`, the oldest at `head`. `index` maps the keyed hash of
/// a key to the sequence number of its entry, whose slot holds the key itself: the index stays
/// small (16 bytes an entry), and a match counts only if the slot's key is the datagram's. (Two
/// live keys with the same 64-bit keyed hash, which nobody can arrange without the hash key,
/// would only leave the second request uncached.) A datagram's key is hashed once; evicting or
/// expiring an entry uses the hash kept in its slot; and a [`Request`] carries its entry's
/// sequence number, so that [`Server::answer`] stores the answer without a lookup. The ring grows to `capacity`
/// slots, which are then reused in place with their answer buffers, so a warm cache does not
/// allocate (it keeps at most `capacity` answers, as a full cache does).
#[derive(Debug)]
struct DuplicateCache {
    hasher: RandomState,
    index: HashMap<u64, u64, BuildHasherDefault<PrehashedHasher>>,
    ring: Vec<Slot>,
    /// Sequence number of the oldest live entry, and the next one to give.
    first: u64,
    next: u64,
    /// Position of the oldest live entry in `ring`.
    head: usize,
    window: Duration,
    capacity: usize,
}

/// What the cache knows about a verified request.
enum Lookup<'c> {
    /// A new request, entered as pending under this sequence number (`None` when the cache
    /// holds nothing).
    New(Option<u64>),
    /// A retransmission of an answered request.
    Answered(&'c [u8]),
    /// A retransmission of a request still pending.
    InProgress,
}

impl DuplicateCache {
    fn new(window: Duration, capacity: usize) -> Self {
        let preallocated = capacity.min(1 << 16);
        Self {
            hasher: RandomState::new(),
            // Twice the entries it will hold: evictions leave tombstones, and the table then
            // rehashes in place (no allocation) only while it is at most half full. With just
            // `capacity` slots it would sometimes grow into a new table on a warm server.
            // Above 2^16 entries the table grows while it fills, then stays.
            index: HashMap::with_capacity_and_hasher(
                2 * preallocated,
                BuildHasherDefault::default(),
            ),
            ring: Vec::with_capacity(preallocated),
            first: 0,
            next: 0,
            head: 0,
            window,
            capacity,
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// The ring position of a live entry.
    fn position(&self, seq: u64) -> Option<usize> {
        if seq < self.first || seq >= self.next {
            return None;
        }
        // Fewer than `capacity` entries are live, so the offset fits.
        let at = self.head + usize::try_from(seq - self.first).ok()?;
        Some(if at >= self.capacity {
            at - self.capacity
        } else {
            at
        })
    }

    /// Removes the oldest live entry from the index (unless it was abandoned, or its key was
    /// entered again later, whose newer entry stays) and from the live range.
    fn remove_oldest(&mut self) {
        if self.first == self.next {
            return;
        }
        if let Some(slot) = self.ring.get(self.head)
            && slot.state != SlotState::Abandoned
            && let Entry::Occupied(e) = self.index.entry(slot.hash)
            && *e.get() == self.first
        {
            e.remove();
        }
        self.first += 1;
        self.head += 1;
        if self.head == self.capacity {
            self.head = 0;
        }
    }

    fn expire(&mut self, now: Instant) {
        while self.first < self.next {
            match self.ring.get(self.head) {
                Some(slot) if now.saturating_duration_since(slot.inserted) >= self.window => {
                    self.remove_oldest();
                }
                _ => break,
            }
        }
    }

    /// Looks a verified request up (one hash, one probe), entering it as pending if it is new.
    fn lookup(&mut self, now: Instant, key: DuplicateKey) -> Lookup<'_> {
        if self.capacity == 0 {
            return Lookup::New(None);
        }
        let hash = self.hasher.hash_one(key);
        let seq = self.next;
        match self.index.entry(hash) {
            Entry::Occupied(e) => {
                let known = *e.get();
                return match self.position(known).and_then(|at| self.ring.get(at)) {
                    // Another key with the same hash: this request goes uncached.
                    Some(slot) if slot.key != key => Lookup::New(None),
                    Some(slot) if slot.state == SlotState::Answered => {
                        Lookup::Answered(&slot.answer)
                    }
                    Some(_) => Lookup::InProgress,
                    // (The index only holds live entries.)
                    None => Lookup::New(None),
                };
            }
            Entry::Vacant(e) => {
                e.insert(seq);
            }
        }
        // The oldest entry makes room; the new one takes the slot after the newest.
        if self.next - self.first >= self.capacity as u64 {
            self.remove_oldest();
        }
        let live = usize::try_from(self.next - self.first).unwrap_or(usize::MAX);
        let mut at = self.head.saturating_add(live);
        if at >= self.capacity {
            at -= self.capacity;
        }
        if let Some(slot) = self.ring.get_mut(at) {
            slot.hash = hash;
            slot.key = key;
            slot.inserted = now;
            slot.state = SlotState::Pending;
            slot.answer.clear();
        } else {
            // The ring is still growing: every position before `at` is taken.
            self.ring.push(Slot {
                hash,
                key,
                inserted: now,
                state: SlotState::Pending,
                answer: Vec::new(),
            });
        }
        self.next += 1;
        Lookup::New(Some(seq))
    }

    /// The slot of the live entry `seq` if it is still that of `key`.
    fn slot_mut(&mut self, seq: u64, key: &DuplicateKey) -> Option<&mut Slot> {
        let at = self.position(seq)?;
        self.ring.get_mut(at).filter(|s| s.key == *key)
    }

    /// Keeps the answer to the request entered under `seq`, if its entry is still there.
    fn store(&mut self, seq: u64, key: &DuplicateKey, answer: &[u8]) {
        if let Some(slot) = self.slot_mut(seq, key)
            && slot.state != SlotState::Abandoned
        {
            slot.answer.clear();
            slot.answer.extend_from_slice(answer);
            slot.state = SlotState::Answered;
        }
    }

    /// Forgets the request entered under `seq` if it is still pending.
    fn abandon(&mut self, seq: u64, key: &DuplicateKey) {
        let Some(slot) = self.slot_mut(seq, key) else {
            return;
        };
        if slot.state != SlotState::Pending {
            return;
        }
        slot.state = SlotState::Abandoned;
        let hash = slot.hash;
        if let Entry::Occupied(e) = self.index.entry(hash)
            && *e.get() == seq
        {
            e.remove();
        }
    }
}

/// The server state machine.
///
/// # Example
///
/// Every datagram goes through [`handle`](Self::handle): a verified request comes back for the
/// application to answer, and a retransmission of an answered request gets the same answer
/// again from the duplicate cache, without being decided twice.
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Instant;
/// use idforge_radius::{Client, ClientConfig, Credentials};
/// use idforge_radius::{Event, NasClient, Server, ServerConfig};
/// use idforge_radius::{Attribute, AttributeType, Code, SharedSecret};
///
/// let nas: SocketAddr = "192.0.2.10:40000".parse()?;
/// let mut server = Server::new(
///     ServerConfig::default(),
///     vec![NasClient::host("vpn", nas.ip(), SharedSecret::new("s3cret"))],
/// );
/// # let mut client = Client::new(ClientConfig::default(), SharedSecret::new("s3cret"));
/// # let mut datagram = Vec::new();
/// # client.request(Instant::now(), &mut rand::rng(), Code::AccessRequest,
/// #     Credentials::Pap(b"correct horse"),
/// #     &[Attribute::text(AttributeType::USER_NAME, "alice")], &mut datagram)?;
/// // `datagram` is an Access-Request for alice received from the NAS.
/// let now = Instant::now();
/// let mut out = Vec::new();
/// match server.handle(now, nas, &datagram, &mut out) {
///     Event::Request(req) => {
///         let code = match server.verify_pap(&req, b"correct horse") {
///             Ok(()) => Code::AccessAccept,
///             Err(_) => Code::AccessReject,
///         };
///         let to = server.answer(&req, code, &[], &mut out)?;
///         assert_eq!(to, nas); // send `out` there
///     }
///     other => panic!("{other:?}"),
/// }
/// let answer = out.clone();
///
/// // The NAS did not hear the answer and sends the request again.
/// let Event::Retransmit(to) = server.handle(now, nas, &datagram, &mut out) else {
///     panic!("not a retransmission");
/// };
/// assert_eq!((to, &out), (nas, &answer));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    clients: Vec<NasClient>,
    counters: Vec<Counters>,
    unknown_clients: u64,
    cache: DuplicateCache,
}

impl Server {
    /// A server answering the given clients. When several networks contain an address, the
    /// longest prefix wins.
    pub fn new(config: ServerConfig, clients: Vec<NasClient>) -> Self {
        let cache = DuplicateCache::new(config.duplicate_window, config.duplicate_capacity);
        let counters = vec![Counters::default(); clients.len()];
        Self {
            config,
            clients,
            counters,
            unknown_clients: 0,
            cache,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Finds the client for a source address (longest matching prefix).
    pub fn lookup(&self, addr: IpAddr) -> Option<ClientId> {
        let addr = addr.to_canonical();
        self.clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.network.contains(&addr))
            .max_by_key(|(_, c)| c.network.prefix_len())
            .map(|(i, _)| ClientId(i))
    }

    /// A client of the table.
    pub fn client(&self, id: ClientId) -> Option<&NasClient> {
        self.clients.get(id.0)
    }

    /// The counters of a client.
    pub fn counters(&self, id: ClientId) -> Counters {
        self.counters.get(id.0).copied().unwrap_or_default()
    }

    /// Datagrams dropped because their source matched no client.
    pub fn unknown_clients(&self) -> u64 {
        self.unknown_clients
    }

    /// Number of entries in the duplicate cache.
    pub fn duplicate_cache_len(&self) -> usize {
        self.cache.len()
    }

    fn drop_with(&mut self, id: ClientId, reason: DropReason) -> Event<'static> {
        if let Some(c) = self.counters.get_mut(id.0) {
            match &reason {
                DropReason::Malformed(_) => c.malformed += 1,
                DropReason::BadAuthenticator => c.bad_authenticators += 1,
                DropReason::MissingMessageAuthenticator => c.missing_message_authenticator += 1,
                DropReason::ProxyStateWithoutMessageAuthenticator => {
                    c.proxy_state_without_message_authenticator += 1;
                }
                DropReason::UnexpectedCode(_) => c.unexpected_codes += 1,
                DropReason::DuplicateInProgress => c.duplicates_in_progress += 1,
                DropReason::UnknownClient => {}
            }
        }
        Event::Dropped(reason)
    }

    /// Handles one datagram from `from` at time `now`. A retransmission of an answered request
    /// has its cached answer written to `out`.
    pub fn handle<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Event<'a> {
        self.cache.expire(now);
        let Some(id) = self.lookup(from.ip()) else {
            self.unknown_clients += 1;
            return Event::Dropped(DropReason::UnknownClient);
        };
        let packet = match Packet::parse(datagram) {
            Ok(p) => p,
            Err(e) => return self.drop_with(id, DropReason::Malformed(e)),
        };
        let code = packet.code();
        if !matches!(
            code,
            Code::AccessRequest
                | Code::AccountingRequest
                | Code::StatusServer
                | Code::CoaRequest
                | Code::DisconnectRequest
        ) {
            return self.drop_with(id, DropReason::UnexpectedCode(code));
        }
        let Some(client) = self.clients.get(id.0) else {
            return Event::Dropped(DropReason::UnknownClient);
        };
        if crypto::verify_request(&packet, &client.secret).is_err() {
            return self.drop_with(id, DropReason::BadAuthenticator);
        }
        let has_ma = packet.has_message_authenticator();
        let exempt = client.allow_missing_message_authenticator;
        match code {
            // RFC 5997 §3: Status-Server without Message-Authenticator is always discarded.
            Code::StatusServer if !has_ma => {
                return self.drop_with(id, DropReason::MissingMessageAuthenticator);
            }
            Code::AccessRequest if !has_ma => {
                // RFC 3579 §3.2: an Access-Request with EAP-Message and no
                // Message-Authenticator is discarded, whatever the client's exemption.
                if (self.config.require_message_authenticator && !exempt)
                    || packet.contains(AttributeType::EAP_MESSAGE)
                {
                    return self.drop_with(id, DropReason::MissingMessageAuthenticator);
                }
                if self.config.limit_proxy_state && packet.contains(AttributeType::PROXY_STATE) {
                    return self.drop_with(id, DropReason::ProxyStateWithoutMessageAuthenticator);
                }
            }
            _ => {}
        }
        // Retransmissions are recognised only after verification, so a forged packet that
        // copies an identifier and authenticator cannot fetch or block an answer.
        // Status-Server is answered afresh every time (RFC 5997 §3).
        let mut slot = None;
        if code != Code::StatusServer {
            let key = DuplicateKey {
                from,
                identifier: packet.identifier(),
                authenticator: *packet.authenticator(),
            };
            match self.cache.lookup(now, key) {
                Lookup::New(seq) => slot = seq,
                Lookup::Answered(answer) => {
                    out.clear();
                    out.extend_from_slice(answer);
                    if let Some(c) = self.counters.get_mut(id.0) {
                        c.duplicates_replayed += 1;
                    }
                    return Event::Retransmit(from);
                }
                Lookup::InProgress => {
                    return self.drop_with(id, DropReason::DuplicateInProgress);
                }
            }
        }
        if let Some(c) = self.counters.get_mut(id.0) {
            if !has_ma && code == Code::AccessRequest {
                c.accepted_without_message_authenticator += 1;
            }
            match code {
                Code::AccessRequest => c.access_requests += 1,
                Code::AccountingRequest => c.accounting_requests += 1,
                Code::StatusServer => c.status_server += 1,
                _ => c.dynamic_authorization_requests += 1,
            }
        }
        Event::Request(Request {
            packet,
            client: id,
            from,
            slot,
        })
    }

    fn client_of(&self, request: &Request<'_>) -> Result<&NasClient, Error> {
        self.clients
            .get(request.client.0)
            .ok_or(Error::UnknownClient)
    }

    /// Recovers the User-Password of a verified Access-Request. To check it against a known
    /// password, [`Server::verify_pap`] compares in constant time.
    pub fn user_password(&self, request: &Request<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
        let client = self.client_of(request)?;
        let hidden = request
            .packet
            .find(AttributeType::USER_PASSWORD)
            .ok_or(Error::MissingAttribute { attr_type: 2 })?;
        crypto::recover_user_password(&client.secret, request.packet.authenticator(), hidden.value)
    }

    /// Recovers the User-Password of a verified Access-Request into a caller buffer, without
    /// allocating. The caller should zeroize `buf` after use.
    pub fn user_password_into<'b>(
        &self,
        request: &Request<'_>,
        buf: &'b mut [u8; crypto::MAX_PASSWORD_LEN],
    ) -> Result<&'b [u8], Error> {
        let client = self.client_of(request)?;
        let hidden = request
            .packet
            .find(AttributeType::USER_PASSWORD)
            .ok_or(Error::MissingAttribute { attr_type: 2 })?;
        crypto::recover_user_password_into(
            &client.secret,
            request.packet.authenticator(),
            hidden.value,
            buf,
        )
    }

    /// Verifies the User-Password (PAP) of a verified Access-Request against the expected
    /// password, in constant time and without allocating; a mismatch is the opaque
    /// [`Error::InvalidPassword`]. See [`crypto::verify_user_password`].
    pub fn verify_pap(&self, request: &Request<'_>, password: &[u8]) -> Result<(), Error> {
        let client = self.client_of(request)?;
        let hidden = request
            .packet
            .find(AttributeType::USER_PASSWORD)
            .ok_or(Error::MissingAttribute { attr_type: 2 })?;
        crypto::verify_user_password(
            &client.secret,
            request.packet.authenticator(),
            hidden.value,
            password,
        )
    }

    /// Verifies the CHAP-Password of a verified Access-Request against a candidate password.
    pub fn verify_chap(&self, request: &Request<'_>, password: &[u8]) -> Result<(), Error> {
        let chap = request
            .packet
            .find(AttributeType::CHAP_PASSWORD)
            .ok_or(Error::MissingAttribute { attr_type: 3 })?;
        crypto::verify_chap(
            chap.value,
            password,
            crypto::chap_challenge(&request.packet),
        )
    }

    /// Verifies the MS-CHAPv2 attributes of a verified Access-Request (MS-CHAP-Challenge,
    /// MS-CHAP2-Response and User-Name, see [`MsChap2Request`]) against the NT hash of the
    /// user's password, in constant time. On success the result gives the MS-CHAP2-Success
    /// value and the MPPE keys, for [`Server::ms_chap2_accept`]. On failure, answer with an
    /// Access-Reject carrying [`MsChap2Request::error`].
    pub fn verify_ms_chap2(
        &self,
        request: &Request<'_>,
        password_hash: &[u8; 16],
    ) -> Result<MsChap2Success, Error> {
        MsChap2Request::from_packet(&request.packet)?.authenticate(password_hash)
    }

    /// The Vendor-Specific attributes of the Access-Accept to an MS-CHAPv2 request:
    /// MS-CHAP2-Success and the two MPPE keys hidden with the NAS's secret, the request's
    /// authenticator and `salts` (RFC 2548 §2.3.3, §2.4.2-2.4.3). Nothing is allocated.
    pub fn ms_chap2_accept(
        &self,
        request: &Request<'_>,
        success: &MsChap2Success,
        salts: MppeSalts,
    ) -> Result<MsChap2Accept, Error> {
        let client = self.client_of(request)?;
        Ok(MsChap2Accept::new(
            &client.secret,
            request.packet.authenticator(),
            success,
            salts,
        ))
    }

    /// Verifies the MS-CHAPv1 attributes of a verified Access-Request (MS-CHAP-Challenge and
    /// MS-CHAP-Response, see [`MsChap1Request`]) against the NT hash of the user's password.
    pub fn verify_ms_chap1(
        &self,
        request: &Request<'_>,
        password_hash: &[u8; 16],
    ) -> Result<(), Error> {
        MsChap1Request::from_packet(&request.packet)?.verify(password_hash)
    }

    /// The MS-CHAP-MPPE-Keys attribute of the Access-Accept to an MS-CHAPv1 request, hidden
    /// with the NAS's secret and the request's authenticator (RFC 2548 §2.4.1).
    pub fn ms_chap1_accept(
        &self,
        request: &Request<'_>,
        keys: &MsChapMppeKeys,
    ) -> Result<MsChap1Accept, Error> {
        let client = self.client_of(request)?;
        Ok(MsChap1Accept::new(
            &client.secret,
            request.packet.authenticator(),
            keys,
        ))
    }

    /// Builds, signs and caches the answer to `request`, writing it to `out`; returns where to
    /// send it. Answers to Access-Request and Status-Server get Message-Authenticator first; the request's Proxy-State attributes are
    /// copied last, in order (RFC 2865 §5.33).
    pub fn answer(
        &mut self,
        request: &Request<'_>,
        code: Code,
        attributes: &[Attribute<'_>],
        out: &mut Vec<u8>,
    ) -> Result<SocketAddr, Error> {
        let req = &request.packet;
        if !req.code().accepts_response(code) {
            return Err(Error::UnexpectedCode { code: code.value() });
        }
        let client = self.client_of(request)?;
        let mut builder = PacketBuilder::new(out, code, req.identifier(), req.authenticator());
        // Blast-RADIUS: the answer to anything that authenticates carries Message-Authenticator,
        // first, so that no chosen prefix can precede it.
        if matches!(req.code(), Code::AccessRequest | Code::StatusServer) {
            builder.push_message_authenticator()?;
        }
        for attr in attributes {
            attr.encode(&mut builder)?;
        }
        for proxy_state in req.find_all(AttributeType::PROXY_STATE) {
            builder.push(AttributeType::PROXY_STATE, proxy_state.value)?;
        }
        let bytes = builder.finish();
        crypto::sign(bytes, &client.secret, Some(req.authenticator()))?;
        if let Some(c) = self.counters.get_mut(request.client.0) {
            match code {
                Code::AccessAccept => c.access_accepts += 1,
                Code::AccessReject => c.access_rejects += 1,
                Code::AccessChallenge => c.access_challenges += 1,
                Code::AccountingResponse => c.accounting_responses += 1,
                _ => c.other_responses += 1,
            }
        }
        if let Some(seq) = request.slot {
            self.cache.store(seq, &request.duplicate_key(), out);
        }
        Ok(request.from)
    }

    /// Forgets a request the application decided not to answer, so that its retransmissions
    /// are handled afresh instead of dropped as in progress.
    pub fn abandon(&mut self, request: &Request<'_>) {
        if let Some(seq) = request.slot {
            self.cache.abandon(seq, &request.duplicate_key());
        }
    }
}
