//! What the engine tells its owner: call records, media commands,
//! registration changes.

use model::{Call, EventType, Registration};
use std::net::SocketAddr;
use uuid::Uuid;

/// An instruction for the RTP relay. Legs are named by their call id.
///
/// Every `OpenLeg` is followed, sooner or later, by exactly one `CloseLeg`
/// for the same leg; `UpdateLeg` and `Bridge` only name open legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Start relaying on `rtp_port` (RTCP on `rtp_port + 1`), a port the
    /// [`crate::PortAllocator`] handed out. `remote_hint` is where the peer
    /// said (in its SDP `c=`/`m=`) it receives media; the relay may latch
    /// onto the source address of the first packet instead (NAT).
    OpenLeg {
        leg: Uuid,
        rtp_port: u16,
        remote_hint: Option<SocketAddr>,
    },
    /// The peer's SDP named a new media address (re-INVITE, UPDATE).
    UpdateLeg {
        leg: Uuid,
        remote_hint: Option<SocketAddr>,
    },
    /// Relay media between two open legs (replacing any earlier bridge of either).
    Bridge { a: Uuid, b: Uuid },
    /// Stop relaying; the port is released to the allocator right after.
    CloseLeg { leg: Uuid },
    /// The codec the leg's peer and Dialtone settled on (the answer of the
    /// last offer/answer on that leg); `None` when unknown. When two
    /// bridged legs name different codecs, the relay transcodes; when
    /// they name the same codec with different payload types, it rewrites
    /// the payload type. Only for open legs.
    SetCodec { leg: Uuid, codec: Option<LegCodec> },
    /// Mute the leg's audio (seed `001`, "Mute"): `In`, its party hears
    /// nothing from the bridge; `Out`, nothing it sends goes on; `Both`;
    /// `None` lifts it.
    Mute {
        leg: Uuid,
        direction: Option<model::MuteDirection>,
    },
    /// The leg no longer relays to its bridge partner (a `connect`ed call
    /// ended; the leg goes on alone: plays, recordings, its flow).
    Unbridge { leg: Uuid },
    /// The leg is on hold (`on`) or resumed: its party hears no one (music
    /// on hold where the relay plays it) and no one hears it.
    Hold { leg: Uuid, on: bool },
}

/// A leg's negotiated codec, as its SDP names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegCodec {
    /// Encoding name as in `a=rtpmap` (`PCMU`, `opus`...).
    pub name: String,
    pub clock_rate: u32,
    pub channels: u8,
    pub payload_type: u8,
    /// RFC 4733 `telephone-event` payload type and clock rate, if negotiated.
    pub dtmf: Option<(u8, u32)>,
}

/// What happened, for the server (which stores calls, numbers events and
/// sends webhooks) and the media relay.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Call events dominate; boxing the record would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// `CallCreated` when a call is created; `CallUpdated` for every later
    /// change; `CallRinging` / `CallProgressing` / `CallHangup` right after
    /// the `CallUpdated` that moved the status there. `call` is the record
    /// after the change.
    Call {
        kind: EventType,
        call: Call,
    },
    Media(MediaCommand),
    /// A trunk's outbound registration succeeded or failed.
    TrunkRegistration(crate::TrunkRegistration),
    /// An inbound call to a number with a flow: run `flow` on `call` (it
    /// rings until [`crate::Engine::answer`]).
    Incoming {
        call: Uuid,
        flow: Uuid,
    },
    /// A DTMF digit a call's party sent in a SIP INFO
    /// (`application/dtmf-relay` or `application/dtmf`); the INFO itself
    /// is carried to the other leg as before. (RFC 4733 digits are seen by
    /// the relay, which reports them itself.)
    Dtmf {
        call: Uuid,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// As the body says; `None` when it does not.
        duration_ms: Option<u32>,
    },
    /// A registrar binding of `extension` for `contact` was added or
    /// refreshed (`Some`), or removed or expired (`None`).
    Registration {
        extension: String,
        contact: String,
        registration: Option<Registration>,
    },
}
