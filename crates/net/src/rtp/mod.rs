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
//!  RTCP:         each leg reports for itself (SR/RR + SDES from its RTCP port)
//!                and takes its peer's reports in: nothing is relayed
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
//!   passthrough path: it moves datagrams unchanged (the figures predate
//!   the per-leg RTP statistics, which read each packet's 12-byte header
//!   on the way in and out: see RTCP below).
//! - **Payload type rewriting**: legs on the same codec under different
//!   payload types (two dynamic Opus numbers) differ in one byte, rewritten
//!   in place; telephone-event (RFC 4733) too. Nothing else changes.
//! - **Transcoding** between PCMU, PCMA, G.722 and Opus, a
//!   [`media::codec::Transcoder`] per direction, built when the codecs of a
//!   bridged pair become known and rebuilt (its state starting over) when
//!   they change. The RTP header is parsed (RFC 3550 §5.1; anything else is
//!   dropped and counted), and the audio goes into an adaptive jitter
//!   buffer (`media::jitter`: 40-200 ms, following the measured jitter;
//!   reordered packets wait for their turn, late and duplicate ones are
//!   dropped, sender clock drift is absorbed by dropping or holding a
//!   frame). A playout clock on the worker (every 20 ms from an epoch, as
//!   the recording clock) takes one frame per tick: decoded, or concealed
//!   when lost (a later one is there), or nothing in a pause (silence
//!   suppression, a stall). Every 20 ms of audio goes out as a packet of
//!   the sending leg's own stream: its random SSRC, sequence numbers +1 per
//!   packet, timestamps +20 ms of its codec's clock per tick, pauses
//!   included (so the outgoing stream keeps wall-clock time whatever the
//!   arrivals did), the marker on the first packet after a pause. The
//!   buffer adds 40 ms or more of latency where the relay decodes (only
//!   there: pass-through and rewrite paths are not buffered).
//!   Telephone-events are not buffered: they go out at once, their
//!   timestamps mapped onto the timeline the audio is played on, and the
//!   buffer numbers audio frames without them (a digit is not lost audio).
//!   Opus is
//!   encoded at the rate of the audio it is fed (8 kHz from G.711, 16 kHz
//!   from G.722: the other side carries at most wideband audio),
//!   32 kbit/s, with in-band FEC, at `media`'s complexity for the rate (1
//!   at 8 kHz, 5 at 16 kHz: `OpusConfig::default_complexity`), and decoded
//!   straight at the other codec's rate. Telephone-events pass in the new stream (timestamp
//!   moved onto its clock) when both legs negotiated them at the same clock
//!   rate, and are dropped otherwise; comfort noise and other payload types
//!   are dropped. The work happens on
//!   the worker thread, under its table lock, without allocating per packet
//!   (except inside the G.722 codec crate). CPU per 20 ms packet, release
//!   build, one core of the development machine: G.722 to Opus 180 µs,
//!   PCMU to Opus 0.41 M instructions (about 35 µs; `media`'s
//!   `examples/opus_cost.rs` counts them), Opus to PCMU 0.35 M (30 µs)
//!   for a softphone's hybrid full band packets, 0.08 M for narrowband
//!   ones (to G.722 45 µs), G.711 to and from G.722 10-15 µs, PCMU to PCMA
//!   0.2 µs; so a core carries about 300 PCMU-Opus calls (both directions,
//!   codec work only), and a control call ([`Relay::stats`], ...) may wait
//!   for a batch of such packets.
//! - **In-band DTMF** ([`Relay::set_inband_detection`],
//!   [`Relay::send_inband_dtmf`]). Detection policy: on by default for a
//!   leg whose phone did *not* negotiate telephone-event (its digits can
//!   only come as tones), off for one that did (its digits come as RFC
//!   4733 events; a detector there would report a phone that sends both
//!   twice); the API can force either way. A leg with a detector decodes
//!   what its phone sends (any codec, at 8 kHz, into reused buffers) into
//!   `media`'s Goertzel detector (ITU-T Q.24 timing and twist) and reports
//!   each digit when its tone ends, with its duration
//!   ([`RelayEvent::InbandDtmf`]); off, it costs one `Option` check per
//!   packet. Digits sent in-band are tones (each digit's Q.23 pair at the
//!   usual −8/−6 dBm0, 100 ms of silence after each) played to the leg's
//!   phone by its generated source (below): they queue after the digits
//!   still sounding, and a play or music on hold pauses while they sound.
//! - **DTMF interworking** ([`Relay::interwork_dtmf`], table in
//!   `interwork.rs`): the application hands back each digit the relay
//!   reported, and the relay sends it on to the bridged phone in a way it
//!   can take: RFC 4733 events pass by themselves between phones that both
//!   negotiated them at one clock rate (else the relay sends its own);
//!   events towards a phone without telephone-event become tones (or SIP
//!   INFO, which the application sends: [`DtmfFallback`]); tones detected
//!   in-band are also sent as events to a phone that negotiated them (the
//!   tones themselves pass in the audio too).
//! - **Generated sources** ([`Relay::play`], [`Relay::set_hold`],
//!   [`Relay::send_inband_dtmf`]): a leg whose peer must hear something
//!   other than the bridge (WAV clips played through the API, music on
//!   hold: built-in or a recording, [`Relay::set_hold_music`], DTMF tones)
//!   gets a source that encodes 20 ms frames in
//!   the leg's codec and sends them as the leg's own stream, paced from
//!   the source's start by the worker's epoll timeout (late wake-ups send
//!   what is due, up to 100 ms of it, and skip the rest: no drift, no
//!   bursts). Meanwhile the bridged leg's RTP is not sent to that peer
//!   (`dropped_for_source`). DTMF tones come first, then a play, then music
//!   on hold; when a play
//!   ends ([`RelayEvent::PlayFinished`]) the music or the bridge comes
//!   back. The passthrough path pays one `is_some` check for this.
//! - **Echo** ([`Relay::set_echo`], `echo.rs`): the phone's own audio
//!   goes back to it as the leg's own stream (its SSRC, continuous
//!   sequence numbers and timestamps), instead of the bridged party's;
//!   the bridged party hears nothing of it meanwhile. A generated source
//!   comes first. Off, the bridge is back.
//! - **Answering-machine detection** ([`Relay::start_amd`], `amd.rs`):
//!   what the phone sends is decoded at 8 kHz into `media::amd`'s
//!   detector (Asterisk's `AMD()` rules on frame energy); its deadlines
//!   join the worker's epoll timeout; the verdict comes once as
//!   [`RelayEvent::Amd`].
//!
//! ## RTCP: terminated on every leg (RFC 3550 §6)
//!
//! Dialtone is an RTP end point towards each peer, as a session border
//! controller is: each leg sends its own RTCP and consumes its peer's.
//!
//! - **Statistics per leg.** Every RTP packet accepted from the peer has
//!   its fixed header read in place (SSRC, sequence number, timestamp,
//!   payload length: no copy, no allocation, a few integer operations) and
//!   feeds [`media::stats`]' RFC 3550 receiver (§A.1 sequence tracking,
//!   §A.3 loss, §A.8 jitter; the arrival time is one clock read per epoll
//!   wake-up). Every RTP packet that leaves the leg's socket (relayed,
//!   transcoded, music on hold, DTMF) is counted *after* a successful
//!   send: packets, payload octets, last timestamp, and its SSRC, which is
//!   the SSRC the leg reports as. On a pass-through bridge that is the
//!   other peer's SSRC (the stream is relayed unchanged; Dialtone's DTMF
//!   joins it), on a transcoding one the leg's own; when it changes, the
//!   report follows and its counts start over (§6.4.1). Telephone-events
//!   count, but stay out of jitter and of the SR's RTP timestamp (their
//!   timestamps stay at the event's start, RFC 4733).
//! - **Reports.** From its RTCP port to the peer's RTCP address (the
//!   latched RTCP source; before that, the RTP address's port + 1), each
//!   leg sends a compound packet: an SR if it sent RTP since the report
//!   before last, else an RR, with one report block about the peer's
//!   stream (fraction and cumulative lost, extended highest sequence
//!   number, jitter, LSR/DLSR of the peer's last SR), then SDES with a
//!   random 96-bit CNAME per leg (RFC 7022). The first report goes out
//!   0.25–0.75 of the interval after the leg's first RTP packet either
//!   way, the next ones 0.5–1.5 intervals apart (5 s nominal, §6.2;
//!   [`Relay::with_rtcp_interval`]); a leg with no media sends none. Each
//!   worker keeps its legs' deadlines in one min-heap and wakes from epoll
//!   for the earliest (or the DTMF deadline, if sooner), so a report costs
//!   O(log n) and the legs not due cost nothing. A closed leg that has
//!   sent a report sends a last one with BYE (§6.6).
//! - **The peer's RTCP** is parsed ([`media::rtcp`], the §A.2 checks):
//!   its SR gives the LSR of the leg's next report block (so the peer can
//!   measure the round trip) and `remote-outbound-rtp`; its report block
//!   about the leg's stream gives `remote-inbound-rtp`: loss and jitter
//!   as the peer sees them, and the round-trip time now − LSR − DLSR
//!   (§6.4.1) when LSR is one of the leg's own SRs. A datagram that is not
//!   a valid compound packet is counted (`rtcp.dropped_malformed`) and
//!   dropped.
//! - **Why terminate, not forward.** RFC 3550 §7 lets a translator that
//!   passes SSRCs unchanged forward RTCP, and Dialtone used to. But a
//!   relay that also reports for itself would give the far end two
//!   reporters for one stream, whose counts disagree whenever the relay
//!   changes the stream (DTMF inserted, mute, music on hold, transcoding);
//!   and a peer's reception report says nothing true about the other
//!   leg's network. So, as session border controllers do, each leg is an
//!   RTP session of its own: what its peer reports describes that leg
//!   only, and each half of a call is measured where it is true. RTCP
//!   feedback (RFC 4585: NACK, PLI) is not relayed either; it matters for
//!   video, which Dialtone does not carry.
//!
//! [`Relay::stats`] returns all of it as [`LegStats::quality`], with the
//! W3C webrtc-stats names (`inbound-rtp`, `outbound-rtp`,
//! `remote-inbound-rtp`, `remote-outbound-rtp`).
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

mod amd;
mod echo;
mod inband;
mod interwork;
mod packet;
mod pool;
mod record;
mod relay;
mod rtcp;
mod source;
mod transcode;
mod worker;

pub use interwork::{DtmfFallback, DtmfVia, Interworked};
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
    /// once, when it ended, with its duration. Hand it to
    /// [`Relay::interwork_dtmf`] ([`DtmfVia::Rfc4733`]) for the bridged
    /// phone to get it if it did not negotiate the same events.
    Dtmf {
        leg: LegId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        duration_ms: u32,
    },
    /// A DTMF digit the leg's phone sent as tones in its audio (in-band),
    /// reported once its tone ended, with its duration (see
    /// [`Relay::set_inband_detection`]). Hand it to
    /// [`Relay::interwork_dtmf`] ([`DtmfVia::Inband`]) for a bridged phone
    /// that reads RFC 4733 events to get it as one.
    InbandDtmf {
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
    /// The answering-machine detection started with
    /// [`Relay::start_amd`] reached its verdict (reported once; nothing
    /// is reported when the leg closes first or it is stopped).
    Amd {
        leg: LegId,
        verdict: media::amd::AmdVerdict,
    },
}

/// Names one call leg to the relay (the switch uses its leg's UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u128);

/// Counters, latched peers and call quality of one leg.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LegStats {
    /// The leg's RTP port (RTCP is the next one).
    pub rtp_port: u16,
    /// The address the leg's RTP socket is bound to (the pool's address
    /// and `rtp_port`).
    pub local: Option<SocketAddr>,
    /// Datagrams on the RTP socket, whatever their content.
    pub rtp: StreamStats,
    /// Datagrams on the RTCP socket: the peer's reports received, the
    /// leg's own reports sent.
    pub rtcp: StreamStats,
    /// The codec the switch said the leg's peer uses, if it did.
    pub codec: Option<LegCodec>,
    /// The RTP streams each way as RFC 3550 counts them, and what the
    /// peer's RTCP says about them (W3C webrtc-stats `inbound-rtp`,
    /// `outbound-rtp`, `remote-inbound-rtp`, `remote-outbound-rtp`):
    /// `inbound` is the stream the peer sends (the current SSRC: a new one
    /// starts over), `outbound` the stream the leg sends (its SSRC is the
    /// relayed stream's on a pass-through bridge, the leg's own on a
    /// transcoding one), `remote_inbound` the peer's last report block
    /// about it (loss, jitter, round-trip time), `remote_outbound` the
    /// peer's last SR.
    pub quality: media::stats::StatsSnapshot,
    /// The jitter buffer the peer's audio plays through, on a transcoding
    /// bridge (none elsewhere: nothing is buffered where nothing is
    /// decoded), per 20 ms frame.
    pub jitter_buffer: Option<media::stats::PlayoutStats>,
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
