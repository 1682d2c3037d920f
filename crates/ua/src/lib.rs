//! # `ua`: Dialtone's softphone SDK
//!
//! Work in progress (issue 6).

pub mod core;
pub mod media;
mod phone;

pub use crate::core::types;
pub use crate::core::types::*;
pub use crate::core::{Action, CoreConfig, Output, UaCore};
pub use phone::{AutoRecord, Call, Events, OutputChannel, Phone, PhoneConfig};
