#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod attribute;
mod client;
mod code;
pub mod crypto;
mod error;
pub mod mschap;
mod packet;
mod secret;
mod server;
mod values;
mod vendor;

pub use attribute::{Attribute, AttributeType, Ipv6Prefix, Value, ValueKind};
pub use client::{Client, ClientConfig, ClientCounters, Credentials, Response, Timeout};
pub use code::{AuthenticatorKind, Code};
pub use error::Error;
pub use packet::{
    AUTHENTICATOR_LEN, Attributes, HEADER_LEN, MAX_PACKET_LEN, MAX_VALUE_LEN, MIN_PACKET_LEN,
    Packet, PacketBuilder, RawAttribute,
};
pub use secret::{MessageAuthenticatorKey, SharedSecret};
pub use server::{ClientId, Counters, DropReason, Event, NasClient, Request, Server, ServerConfig};
pub use values::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, ErrorCause, FramedCompression,
    FramedProtocol, FramedRouting, LoginService, NasPortType, ServiceType, TerminationAction,
    TunnelMediumType, TunnelType,
};
pub use vendor::{
    MICROSOFT, SubAttributes, VendorAttribute, VendorSpecific, find_vendor_value, microsoft,
};

#[cfg(doctest)]
#[doc = include_str!("../../docs/radius.md")]
struct GuideRadiusDoctests;
