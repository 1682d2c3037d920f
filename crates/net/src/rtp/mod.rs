//! # `net::rtp`: the anchored-media relay
//!
//! Every call's media flows through Dialtone: each call leg gets an RTP/RTCP
//! port pair from the [`RtpPool`] (bound at once, so the port can go into
//! the SDP the switch sends), and the [`Relay`] moves the datagrams between
//! two bridged legs: unchanged, or converted when the switch says
//! ([`Relay::set_codec`]) that the legs' peers use different codecs. The
//! switch decides ports, bridges and codecs; this module owns the sockets.
//!
//! ```text
//!  phone A ──RTP──▶ leg a (port pa) ─┐                 ┌─ leg b (port pb) ──RTP──▶ phone B
//!          ◀─RTP──                   └─ worker thread ─┘                   ◀─RTP──
//!  worker loop:  epoll_wait ─▶ for each ready socket: recv_from one datagram
//!                ─▶ source == latched peer? ─▶ leg a's path to leg b:
//!                     passthrough  as received (same codec and payload type, or unknown)
//!                     rewrite      same codec, other payload type: that byte changed
//!                     transcode    parse RTP ─▶ decode ─▶ resample ─▶ encode ─▶ 0..n
//!                                  packets of leg b's own stream (SSRC, seq, timestamp)
//!                ─▶ send_to from leg b's socket
//! ```
//!
//! - **Ports** (RFC 3550 §11): RTP on an even port, RTCP on the next one.
//! - **Symmetric RTP with latching** (RFC 4961, RFC 7362): media for a
//!   leg's peer leaves from the leg's own port, and goes to the source
//!   address of the first datagram received on that port, so a phone behind
//!   NAT is reached even when its SDP names a private address. Until then it
//!   goes to the SDP address (the *hint*). Once latched, datagrams from any
//!   other source are dropped and counted (no injection, no RTP bleed).
//!   RTCP latches separately; until an RTCP datagram is seen it goes to the
//!   RTP peer's port + 1 (or the hint's port + 1).
//! - **Re-INVITE**: [`Relay::set_remote_hint`] with a *changed* address
//!   clears both latches, so the peer can move (to the new hint, or to
//!   wherever its first packet comes from); the same address keeps them.
//!   The cost, as for a new call (see the security considerations of
//!   RFC 7362), is that until the peer's first packet arrives, any source
//!   can take the latch.
//! - **Threads, not tasks**: a few dedicated worker threads (usually one
//!   per spare core), each a level-triggered epoll loop over non-blocking
//!   std sockets that moves one datagram per ready socket per wake-up: one
//!   `recv_from` and one `send_to` per packet, the same system calls as a
//!   minimal C relay, and no allocation per packet. Measured with
//!   `bench/rtp-relay.sh` (G.711 streams, relay pinned to one core, medians
//!   of 5-6 runs against the C relay in the same campaign): 1.10x the C
//!   relay's CPU per packet at 100 000 packets/s, where the same relay on
//!   edge-triggered `mio` (which must read until `WouldBlock`: a failing
//!   `recv_from` for nearly every packet) took 1.20x; at 50 000 packets/s
//!   0.97x to 1.17x; a tokio task per socket 1.35x to 1.54x. This is the
//!   passthrough path: it never looks inside a datagram.
//! - **Payload type rewriting**: legs on the same codec under different
//!   payload types (two dynamic Opus numbers) differ in one byte, rewritten
//!   in place; telephone-event (RFC 4733) too. Nothing else changes.
//! - **Transcoding** between PCMU, PCMA, G.722 and Opus, a
//!   [`media::codec::Transcoder`] per direction, built when the codecs of a
//!   bridged pair become known and rebuilt (its state starting over) when
//!   they change. The RTP header is parsed (RFC 3550 §5.1; anything else is
//!   dropped and counted), the payload decoded, and every 20 ms of audio
//!   goes out as a packet of the sending leg's own stream: its random SSRC,
//!   sequence numbers +1 per packet, timestamps +20 ms of its codec's clock
//!   per packet, the marker copied onto the first packet after a marked
//!   one. Lost packets (up to 10 in a row) are concealed so the outgoing
//!   timestamps stay in step; longer gaps and silence suppression move them
//!   on by the same time; late and duplicate packets are dropped. Opus is
//!   encoded at 16 kHz (the other side carries at most wideband audio),
//!   32 kbit/s, complexity 5, with in-band FEC, and decoded straight at the
//!   other codec's rate. Telephone-events pass in the new stream (timestamp
//!   moved onto its clock) when both legs negotiated them at the same clock
//!   rate, and are dropped otherwise; comfort noise and other payload types
//!   are dropped. RTCP across a transcoding bridge is dropped: its SSRCs
//!   and counts describe streams the peer never sees. The work happens on
//!   the worker thread, under its table lock, without allocating per packet
//!   (except inside the G.722 codec crate). CPU per 20 ms packet, release
//!   build, one core of the development machine: PCMU or G.722 to Opus
//!   180 µs, Opus to PCMU 32 µs (to G.722 45 µs), G.711 to and from G.722
//!   10-15 µs, PCMU to PCMA 0.2 µs; so a core carries about 90 PCMU-Opus
//!   calls (both directions), and a control call ([`Relay::stats`], ...)
//!   may wait for a batch of such packets.
//! - **Generated sources** ([`Relay::play`], [`Relay::set_hold`]): a leg
//!   whose peer must hear something other than the bridge (WAV clips
//!   played through the API, music on hold: built-in or a recording,
//!   [`Relay::set_hold_music`]) gets a source that encodes 20 ms frames in
//!   the leg's codec and sends them as the leg's own stream, paced from
//!   the source's start by the worker's epoll timeout (late wake-ups send
//!   what is due, up to 100 ms of it, and skip the rest: no drift, no
//!   bursts). Meanwhile the bridged leg's RTP is not sent to that peer
//!   (`dropped_for_source`). A play comes before music on hold; when it
//!   ends ([`RelayEvent::PlayFinished`]) the music or the bridge comes
//!   back. The passthrough path pays one `is_some` check for this.
//!
//! ```
//! use net::rtp::{LegId, Relay, RtpPool};
//! use std::net::UdpSocket;
//! use std::time::Duration;
//!
//! # fn main() -> std::io::Result<()> {
//! let pool = RtpPool::new("127.0.0.1".parse().unwrap(), 42000..=42099)?;
//! let relay = Relay::new(pool, 1)?;
//! let alice = UdpSocket::bind("127.0.0.1:0")?;
//! let bob = UdpSocket::bind("127.0.0.1:0")?;
//! bob.set_read_timeout(Some(Duration::from_secs(2)))?;
//!
//! // The switch allocates a port per leg, puts it in each SDP, and opens the legs.
//! let (pa, pb) = (relay.pool().allocate().unwrap(), relay.pool().allocate().unwrap());
//! relay.open_leg(LegId(1), pa, Some(alice.local_addr()?));
//! relay.open_leg(LegId(2), pb, Some(bob.local_addr()?));
//! relay.bridge(LegId(1), LegId(2));
//!
//! alice.send_to(b"\x80\x08 an RTP packet", ("127.0.0.1", pa))?;
//! let mut buf = [0u8; 64];
//! let (n, from) = bob.recv_from(&mut buf)?;
//! assert_eq!(&buf[..n], b"\x80\x08 an RTP packet");
//! assert_eq!(from.port(), pb); // symmetric RTP: from bob's own leg port
//!
//! relay.close_leg(LegId(1));
//! relay.close_leg(LegId(2));
//! assert_eq!(relay.pool().in_use(), 0);
//! # Ok(())
//! # }
//! ```

mod packet;
mod pool;
mod record;
mod relay;
mod source;
mod transcode;
mod worker;

pub use pool::RtpPool;
pub use record::{
    EndReason, RecordingDone, RecordingId, RecordingSpec, RecordingStarted, StreamSender,
};
pub use relay::Relay;
pub use source::{HoldMusic, PlayEnd, PlayId};

pub use transcode::LegCodec;

use std::net::SocketAddr;

/// Something a relay worker noticed in a leg's media.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayEvent {
    /// An RFC 4733 telephone-event digit the leg's peer sent, reported
    /// once, when it ended, with its duration.
    Dtmf {
        leg: LegId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        duration_ms: u32,
    },
    /// A recording ended without being stopped through
    /// [`Relay::stop_recording`] (which returns its end instead): its leg
    /// closed, its file could not be written, or the relay shut down.
    RecordingFinished(RecordingDone),
    /// A play ([`Relay::play`]) began: the leg's peer hears it from now on.
    PlayStarted { leg: LegId, play: PlayId },
    /// A play ended (every clip played `loop_count` times, stopped or
    /// replaced, or its leg closed); the peer hears the bridge again (or
    /// music on hold if the leg is held).
    PlayFinished {
        leg: LegId,
        play: PlayId,
        reason: PlayEnd,
    },
}

/// Names one call leg to the relay (the switch uses its leg's UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u128);

/// Counters and latched peers of one leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LegStats {
    /// The leg's RTP port (RTCP is the next one).
    pub rtp_port: u16,
    pub rtp: StreamStats,
    pub rtcp: StreamStats,
    /// The codec the switch said the leg's peer uses, if it did.
    pub codec: Option<LegCodec>,
}

/// Counters of one socket (RTP or RTCP) of a leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Datagrams (and their bytes) accepted from the peer on this socket.
    pub received_packets: u64,
    pub received_bytes: u64,
    /// Datagrams (and bytes) sent from this socket to the peer: relayed
    /// from the bridged leg, or written by a transcoding bridge.
    pub sent_packets: u64,
    pub sent_bytes: u64,
    /// Datagrams dropped because they came from another address than the
    /// latched peer.
    pub dropped_wrong_source: u64,
    /// Datagrams accepted but not relayed: the leg was not bridged, or the
    /// bridged leg had no address to send to yet (no hint, nothing latched),
    /// or (RTCP) the bridge transcodes.
    pub dropped_unrouted: u64,
    /// Sends to the peer that failed (counted on the sending leg).
    pub send_errors: u64,
    /// Datagrams accepted but not relayed because they are not RTP, on a
    /// bridge that looks inside: one that transcodes checks the whole
    /// header (RFC 3550 §5.1), one that rewrites the payload type its first
    /// 12 bytes and the version.
    pub dropped_malformed: u64,
    /// RTP packets accepted but not relayed because the bridged leg cannot
    /// take their payload type: comfort noise and unknown payload types
    /// across a transcoding bridge, telephone-events the bridged leg did
    /// not negotiate (at the same clock rate).
    pub dropped_payload_type: u64,
    /// RTP packets dropped by a transcoding bridge because they came after
    /// a later one (reordered or duplicated).
    pub dropped_late: u64,
    /// RTP packets not relayed because a mute or hold was in force and
    /// their payload could not be turned into silence (a codec other than
    /// G.711, telephone-events). G.711 packets go on carrying silence. (A
    /// held leg's peer hears music on hold: what the bridged leg sends it
    /// is counted in `dropped_for_source`.)
    pub dropped_muted: u64,
    /// RTP packets accepted but not relayed because the bridged leg's peer
    /// was hearing a source the relay generates instead (a play, music on
    /// hold): counted on the leg they arrived on.
    pub dropped_for_source: u64,
    /// RTP packets whose audio a transcoding bridge decoded for the bridged
    /// leg (counted on the receiving leg).
    pub transcoded_packets: u64,
    /// Payloads a transcoding bridge could not decode (concealed instead),
    /// or, rarely, audio it could not encode (counted on the receiving leg).
    pub decode_errors: u64,
    /// The latched peer address, once a datagram was accepted.
    pub peer: Option<SocketAddr>,
}
