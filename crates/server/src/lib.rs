//! # `server`: Dialtone's server
//!
//! Configuration ([`config`]), and (as the switch lands) the REST and
//! WebSocket API and the wiring of switch, media relay and store.

pub mod config;
