//! # `engine`: Dialtone's switch
//!
//! (Documentation in progress.)

mod config;
mod directory;
mod engine;
mod error;
mod event;
mod leg;
mod media;
mod session_timer;
mod timers;

pub use config::{
    Cidr, EngineConfig, PortAllocator, WallClock, DEFAULT_MAX_CALL_DURATION, DEFAULT_RING_TIMEOUT,
};
pub use engine::Engine;
pub use error::EngineError;
pub use event::{Event, MediaCommand};
