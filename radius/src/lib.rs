#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod attribute;
pub mod client;
pub mod code;
pub mod crypto;
pub mod error;
pub mod mschap;
pub mod packet;
pub mod secret;
pub mod server;
pub mod values;
pub mod vendor;

pub use attribute::{Attribute, AttributeType, Value, ValueKind};
pub use client::{Client, ClientConfig};
pub use code::Code;
pub use error::Error;
pub use packet::{Packet, PacketBuilder, RawAttribute};
pub use secret::{MessageAuthenticatorKey, SharedSecret};
pub use server::{Server, ServerConfig};
pub use vendor::VendorSpecific;

#[cfg(doctest)]
#[doc = include_str!("../../docs/radius.md")]
struct GuideRadiusDoctests;
