//! # `model`: Dialtone's domain types
//!
//! The shapes of the public contract (`../shared/DESIGN.md`): the call
//! resource and its lifecycle, addresses, extensions, registrations, the
//! event envelope, webhook deliveries, and the SIP-outcome → hangup-reason
//! mapping. Plain data with serde; no I/O. The switch (`engine`) produces
//! them, the `store` keeps them and the API serves them.

mod address;
mod call;
mod event;
mod extension;
mod hangup;
mod recording;
mod registration;
mod routing;
mod webhook;

pub use address::{
    validate_e164, validate_extension, Address, AddressType, NumberError, EXTENSION_MAX_LEN,
};
pub use call::{BackwardsTransition, Call, CallAttempt, CallStatus, Direction, MuteDirection};
pub use event::{Envelope, EventType};
pub use extension::{Extension, ExtensionSecret, Origin};
pub use hangup::{HangupBy, HangupReason};
pub use recording::{Recording, RecordingChannels, RecordingDirection, RecordingStatus};
pub use registration::Registration;
pub use routing::{Number, RingMethod, Trunk, TrunkRegistrationState, TrunkTransport};
pub use uuid::Uuid;
pub use webhook::{DeliveryStatus, WebhookDelivery};
