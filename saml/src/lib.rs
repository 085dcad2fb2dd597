#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod error;
pub mod xml;

pub use error::{Error, Result};
