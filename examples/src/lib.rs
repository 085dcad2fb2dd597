//! The idforge identity provider, assembled from the protocol crates: the one place that does
//! IO. The binaries (`idforge`, and the servers as they land) are thin over this library.
//!
//! A login flows from the outside in:
//! [`config`] (one TOML file, validated at start; secrets from `env:`/`file:`) ->
//! [`store`] (one async API over SQLite or PostgreSQL; secrets encrypted at rest; atomic
//! replay and lockout guards) -> first factor (local argon2id users in [`password`], LDAP/AD
//! through [`ldap`]) -> [`service`] (the one `authenticate` flow: first factor, policy, adaptive rules, second
//! factor, audit) -> front doors (the CLI today). [`notify`] delivers alerts on the side; [`mail`] sends them through the
//! store's outbox, and [`sms`] sends text messages from the same outbox through a gateway.

pub mod config;
pub mod crypto;
pub mod idp;
pub mod import;
pub mod ldap;
pub mod mail;
pub mod notify;
pub mod password;
pub mod process;
pub mod radius_server;
pub mod secret;
pub mod service;
pub mod sms;
pub mod store;
mod templates;
