//! The data path: a worker thread, its epoll loop and its table of legs.
//!
//! Each worker owns an epoll instance on which the RTP and RTCP sockets of
//! its legs are registered, readable, *level-triggered*. On every wake-up it
//! locks its [`LegTable`] once and, for each ready socket, moves one
//! datagram: `recv_from` → check the source against the latched peer →
//! `send_to` from the bridged leg's socket of the same kind, unchanged or
//! along the leg's [`Path`] (payload type rewritten, or transcoded into
//! zero or more packets of the bridged leg's own stream). A socket with
//! more datagrams queued is reported again by the next `epoll_wait`, so a
//! 20 ms RTP stream costs exactly one `recv_from` and one `send_to` per
//! packet (draining until `WouldBlock`, as edge-triggered polling needs,
//! adds a failing `recv_from` to nearly every packet), and a flooded
//! socket cannot starve the others. Nothing is allocated per packet (a
//! transcoding path reuses its buffers; only G.722 allocates inside its
//! codec crate); counters are plain integers behind the table lock.
//!
//! RTCP is not moved: a datagram on a leg's RTCP socket goes to the leg's
//! statistics (`rtcp.rs`), and after each batch the loop sends the reports
//! its timer heap says are due; epoll waits at most until the next one (or
//! the next DTMF packet).
//!
//! Bridged legs always live on the same worker (the control side moves a
//! leg when it bridges across workers), so forwarding never crosses threads.

use super::record::{EndReason, RecordingDone, RecordingId, Tap};
use super::rtcp::{LegRtcp, RtcpTimers};
use super::source::{HoldMusic, PlayEnd, Playlist, Schedule, Source, SourceEncoder};
use super::transcode::{Path, Sender};
use super::{LegCodec, LegId, LegStats, RelayEvent, StreamStats};
use rustix::event::epoll;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// Index of the RTP and RTCP socket, counters and peer of a leg.
const RTP: usize = 0;
const RTCP: usize = 1;

/// The token of the wake-up socket (leg sockets use `slot * 2 + kind`).
const WAKER: u64 = u64::MAX;
/// Most recording ticks written at once when the worker is late (1 s).
const MAX_CATCH_UP: u64 = 50;
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// Largest UDP payload: a buffer this size never truncates a datagram.
const MAX_DATAGRAM: usize = 65_535;

/// What the control side shares with one worker thread.
#[derive(Debug)]
pub(crate) struct Shared {
    table: Mutex<LegTable>,
    epoll: OwnedFd,
    /// A datagram on `wake_tx` makes the receiving end (registered)
    /// readable: the worker wakes, drains it, checks `stop` and sends
    /// queued DTMF.
    wake_tx: UnixDatagram,
    wake_rx: UnixDatagram,
    stop: AtomicBool,
    /// Where the worker reports what it noticed (DTMF digits).
    events: Events,
}

/// Room for one compound RTCP report (SR with a block, SDES, BYE).
const REPORT_CAPACITY: usize = 128;

/// The sending half of the relay's event channel.
pub(crate) type Events = tokio::sync::mpsc::UnboundedSender<RelayEvent>;

impl Shared {
    /// The state of a new worker (start it with [`run`]); its legs send
    /// RTCP reports every `rtcp_interval` (nominal, RFC 3550 §6.2).
    pub(crate) fn new(events: Events, rtcp_interval: Duration) -> io::Result<Arc<Shared>> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let (wake_tx, wake_rx) = UnixDatagram::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        epoll::add(
            &epoll,
            &wake_rx,
            epoll::EventData::new_u64(WAKER),
            epoll::EventFlags::IN,
        )?;
        Ok(Arc::new(Shared {
            table: Mutex::new(LegTable::new(rtcp_interval)),
            epoll,
            wake_tx,
            wake_rx,
            stop: AtomicBool::new(false),
            events,
        }))
    }

    /// Where relay events go (the control side reports plays there too).
    pub(crate) fn events(&self) -> &Events {
        &self.events
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LegTable> {
        // Every table update completes before the lock is released, and
        // nothing on the data path panics: a poisoned lock holds a
        // consistent table.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the worker to end its loop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.wake_tx.send(&[1]) {
            // Full means a wake-up is already pending.
            if e.kind() != io::ErrorKind::WouldBlock {
                tracing::warn!(error = %e, "cannot wake an RTP relay worker to stop it");
            }
        }
    }

    /// Wakes the worker (to send DTMF queued from the control side).
    pub(crate) fn wake(&self) {
        if let Err(e) = self.wake_tx.send(&[0]) {
            if e.kind() != io::ErrorKind::WouldBlock {
                tracing::warn!(error = %e, "cannot wake an RTP relay worker");
            }
        }
    }

    /// Reports recordings that ended.
    pub(crate) fn report_recordings(&self, done: impl IntoIterator<Item = RecordingDone>) {
        for d in done {
            let _ = self.events.send(RelayEvent::RecordingFinished(d));
        }
    }

    /// Reads the pending wake-ups so the waker is not ready again.
    fn drain_wakeups(&self) {
        let mut b = [0u8; 8];
        while self.wake_rx.recv(&mut b).is_ok() {}
    }

    fn register(&self, socket: &UdpSocket, token: u64) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            socket,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN,
        )?;
        Ok(())
    }

    fn deregister(&self, socket: &UdpSocket) {
        if let Err(e) = epoll::delete(&self.epoll, socket) {
            tracing::debug!(error = %e, "deregistering an RTP socket");
        }
    }
}

/// The worker thread body: wait for readiness, then move one datagram per
/// ready socket.
pub(crate) fn run(shared: Arc<Shared>) {
    let none = epoll::Event {
        flags: epoll::EventFlags::empty(),
        data: epoll::EventData::new_u64(0),
    };
    let mut events = vec![none; EVENTS];
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut report = Vec::with_capacity(REPORT_CAPACITY);
    // The next DTMF, source or RTCP packet to send or recording tick, if
    // any: epoll waits at most until then.
    let mut deadline: Option<Instant> = None;
    let mut finished = Vec::new();
    loop {
        let timeout = deadline.and_then(|d| {
            rustix::event::Timespec::try_from(d.saturating_duration_since(Instant::now())).ok()
        });
        let n = match epoll::wait(&shared.epoll, &mut events[..], timeout.as_ref()) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "RTP relay worker cannot wait for sockets; it stops");
                return;
            }
        };
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let mut table = shared.lock();
        // One clock read per wake-up: the arrival time of this batch.
        let now = Instant::now();
        for event in &events[..n] {
            let token = event.data.u64();
            if token == WAKER {
                shared.drain_wakeups();
            } else {
                table.forward(token, &mut buf, &shared.events, now);
            }
        }
        let now = Instant::now();
        let dtmf = table.flush_dtmf(now);
        let tick = table.tick_recordings(now, &mut finished);
        let sources = table.flush_sources(now, &shared.events);
        let playout = table.flush_playout(now);
        let rtcp = table.flush_rtcp(now, &mut report);
        let amd = table.flush_amd(now, &shared.events);
        deadline = [dtmf, tick, sources, playout, rtcp, amd]
            .into_iter()
            .flatten()
            .min();
        drop(table);
        if !finished.is_empty() {
            shared.report_recordings(finished.drain(..));
        }
    }
}

/// The token of one socket of the leg in `slot`.
fn token(slot: usize, kind: usize) -> u64 {
    (slot * 2 + kind) as u64
}

/// The legs one worker relays, in slots that name their sockets' tokens.
#[derive(Debug)]
pub(crate) struct LegTable {
    slots: Vec<Option<Leg>>,
    free: Vec<usize>,
    /// Slots of legs sending DTMF (so only they are visited on a timer).
    sending: Vec<usize>,
    /// Slots of legs being recorded, and the recording clock: when its
    /// first tick started and how many 20 ms ticks were written since.
    recording: Vec<usize>,
    clock: Option<(Instant, u64)>,
    /// When the generated sources are due (see `source.rs`).
    sources: Schedule,
    /// Slots of legs whose path transcodes (they have playout ticks).
    playout: std::collections::HashSet<usize>,
    /// Each playing leg's next tick, earliest first (`Instant` `None`:
    /// just added, due at once). Stale entries (the leg stopped
    /// transcoding) are dropped when they come up.
    playout_due: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>>,
    /// Legs added since the last flush.
    playout_new: Vec<usize>,
    /// When each leg with media sends its next RTCP report.
    rtcp: RtcpTimers,
    /// Slots of legs with an answering-machine detector.
    amd: Vec<usize>,
}

/// One call leg: its two sockets and where their datagrams go.
#[derive(Debug)]
pub(crate) struct Leg {
    id: LegId,
    rtp_port: u16,
    /// `[RTP, RTCP]`.
    sockets: [UdpSocket; 2],
    /// The peer's media address from its SDP.
    hint: Option<SocketAddr>,
    /// The latched source of each kind (RFC 7362).
    peers: [Option<SocketAddr>; 2],
    /// The slot of the bridged leg (on this worker).
    partner: Option<usize>,
    counters: [StreamStats; 2],
    /// The codec the peer uses, when the switch said.
    codec: Option<LegCodec>,
    /// What RTP received here goes through on its way to the partner.
    path: Path,
    /// This leg's own outgoing stream, for packets the relay writes.
    sender: Sender,
    /// Muted through the API: `[in, out]` (its peer hears nothing / is
    /// heard by no one), and held (both).
    muted: [bool; 2],
    held: bool,
    /// The RFC 4733 receiver, when the leg negotiated telephone-event
    /// (its payload type first).
    dtmf: Option<(u8, Box<media::dtmf::EventReceiver>)>,
    /// RFC 4733 digits being sent to the peer (payload type first).
    dtmf_out: Option<(u8, Box<media::dtmf::EventSender>)>,
    /// The stream relayed unchanged to the peer (pass-through or PT
    /// rewrite): its SSRC and the last sequence number and timestamp sent.
    /// Digits sent by Dialtone join that stream (a phone expects events
    /// in the audio's SSRC), so every later packet's sequence number is
    /// moved up by `seq_shift`, the count of packets inserted.
    relayed: Option<(u32, u16, u32)>,
    seq_shift: u16,
    /// What the peer hears instead of the bridge (a play, music on hold).
    source: Option<Box<Source>>,
    /// The leg's recordings, while it has some.
    tap: Option<Box<Tap>>,
    /// The in-band DTMF detector (see `inband.rs` for when a leg has one),
    /// and the API's override of that policy.
    inband: Option<Box<super::inband::Inband>>,
    inband_forced: Option<bool>,
    /// The phone hears itself (see `echo.rs`).
    echo: Option<Box<super::echo::Echo>>,
    /// Answering-machine detection on what the phone sends (`amd.rs`).
    amd: Option<Box<super::amd::Amd>>,
    /// RTP statistics and RTCP reports (terminated here, see `rtcp.rs`).
    rtcp: Box<LegRtcp>,
}

impl Leg {
    pub(crate) fn new(
        id: LegId,
        rtp_port: u16,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        hint: Option<SocketAddr>,
    ) -> Leg {
        let sender = Sender::new(id.0 ^ u128::from(rtp_port));
        let stats = LegRtcp::new(
            id.0 ^ u128::from(rtp_port),
            sender.ssrc(),
            Instant::now(),
            SystemTime::now(),
        );
        Leg {
            id,
            rtp_port,
            sockets: [rtp, rtcp],
            hint,
            peers: [None, None],
            partner: None,
            counters: [StreamStats::default(), StreamStats::default()],
            codec: None,
            path: Path::Passthrough,
            sender,
            muted: [false, false],
            held: false,
            dtmf: None,
            dtmf_out: None,
            relayed: None,
            seq_shift: 0,
            source: None,
            tap: None,
            inband: None,
            inband_forced: None,
            echo: None,
            amd: None,
            rtcp: Box::new(stats),
        }
    }

    pub(crate) fn id(&self) -> LegId {
        self.id
    }

    pub(crate) fn rtp_port(&self) -> u16 {
        self.rtp_port
    }

    pub(crate) fn codec(&self) -> Option<LegCodec> {
        self.codec
    }

    /// Records the peer's codec; the paths of a bridge through this leg are
    /// the caller's to update ([`LegTable::set_paths`]).
    pub(crate) fn set_codec(&mut self, codec: Option<LegCodec>) {
        let dtmf = codec.and_then(|c| c.dtmf);
        if self.codec.and_then(|c| c.dtmf) != dtmf || self.dtmf.is_none() {
            self.dtmf = dtmf.and_then(|(pt, clock)| {
                media::dtmf::EventReceiver::new(clock)
                    .ok()
                    .map(|r| (pt, Box::new(r)))
            });
        }
        self.codec = codec;
        self.rtcp.set_codec(codec);
        self.update_inband();
    }

    /// Forces in-band DTMF detection on or off (`None`: the default policy).
    pub(crate) fn set_inband_detection(&mut self, forced: Option<bool>) {
        self.inband_forced = forced;
        self.update_inband();
    }

    /// Whether the leg detects in-band DTMF now.
    pub(crate) fn inband_detection(&self) -> bool {
        self.inband.is_some()
    }

    fn update_inband(&mut self) {
        let wanted = super::inband::wanted(self.codec, self.inband_forced);
        if wanted != self.inband.is_some() {
            self.inband = wanted.then(|| Box::new(super::inband::Inband::new()));
        }
    }

    /// A packet of the bridged leg goes to this leg's peer unchanged:
    /// renumbered after inserted events, and remembered.
    fn relayed(&mut self, packet: &mut [u8]) {
        if packet.len() < 12 {
            return;
        }
        let mut seq = u16::from_be_bytes([packet[2], packet[3]]);
        if self.seq_shift != 0 {
            seq = seq.wrapping_add(self.seq_shift);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
        }
        let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        if self.relayed.is_some_and(|(s, _, _)| s != ssrc) {
            // A new source: its numbers start afresh.
            self.seq_shift = 0;
        }
        self.relayed = Some((ssrc, seq, ts));
    }

    /// Queues RFC 4733 digits for the peer (sent from this leg's socket in
    /// the leg's own RTP stream, 20 ms updates, three end packets, 100 ms
    /// between digits). Needs telephone-event on the leg.
    pub(crate) fn send_dtmf(
        &mut self,
        now: Instant,
        digits: &[media::dtmf::Digit],
        duration_ms: u32,
    ) -> Result<(), String> {
        let Some((pt, clock)) = self.codec.and_then(|c| c.dtmf) else {
            return Err("the call's phone did not negotiate telephone-event (RFC 4733)".into());
        };
        if self.dtmf_out.as_ref().is_none_or(|(p, _)| *p != pt) {
            let sender = media::dtmf::EventSender::new(clock, 20).map_err(|e| e.to_string())?;
            self.dtmf_out = Some((pt, Box::new(sender)));
        }
        let Some((_, sender)) = &mut self.dtmf_out else {
            return Err("no DTMF sender".into());
        };
        let start = match self.relayed {
            Some((_, _, ts)) => ts,
            None => self.sender.timestamp(),
        };
        sender
            .send(now, start, digits, duration_ms)
            .map_err(|e| e.to_string())
    }

    /// Sends the event packets due at `now`; the next deadline, if digits
    /// remain.
    fn flush_dtmf(&mut self, now: Instant) -> Option<Instant> {
        let to = self.destination(RTP);
        let Leg {
            dtmf_out,
            sender,
            sockets,
            counters,
            relayed,
            seq_shift,
            rtcp,
            ..
        } = self;
        let (pt, events) = dtmf_out.as_mut()?;
        let mut packet = [0u8; 16];
        while let Some(p) = events.poll_transmit(now) {
            let Some(to) = to else { continue };
            match relayed {
                // Into the relayed stream: its SSRC, the next number.
                Some((ssrc, seq, _)) => {
                    *seq = seq.wrapping_add(1);
                    *seq_shift = seq_shift.wrapping_add(1);
                    super::packet::write_header(
                        &mut packet,
                        p.marker,
                        *pt,
                        *seq,
                        p.timestamp,
                        *ssrc,
                    );
                }
                // The leg's own stream (transcoding, or nothing relayed yet).
                None => sender.stamp(&mut packet, p.marker, *pt, p.timestamp),
            }
            packet[12..].copy_from_slice(&p.payload.to_bytes());
            if send(&sockets[RTP], &mut counters[RTP], &packet, to) {
                rtcp.on_rtp_sent(now, &packet);
            }
        }
        let next = events.poll_timeout();
        if next.is_none() {
            *dtmf_out = None;
        }
        next
    }

    /// RFC 4733: a telephone-event packet from the peer goes to the
    /// leg's receiver (it is relayed as before); a digit it completes is
    /// reported. Any packet also lets a digit whose end packets were all
    /// lost time out.
    fn watch_dtmf(&mut self, packet: &[u8], now: Instant, events: &Events) {
        let Some((pt, rx)) = &mut self.dtmf else {
            return;
        };
        if packet.len() >= 2 && packet[1] & 0x7F == *pt {
            if let Ok(h) = super::packet::Header::parse(packet) {
                let payload = &packet[h.payload.0..h.payload.1];
                if let Err(e) = rx.handle_packet(now, h.timestamp, h.marker, h.sequence, payload) {
                    tracing::trace!(leg = ?self.id, error = %e, "telephone-event not understood");
                }
            }
        } else if rx.poll_timeout().is_some_and(|t| t <= now) {
            rx.handle_timeout(now);
        }
        while let Some(d) = rx.poll_event() {
            let _ = events.send(RelayEvent::Dtmf {
                leg: self.id,
                digit: d.digit.to_char(),
                duration_ms: d.duration_ms,
            });
        }
    }

    /// The leg's recording tap (created at `rate` if it has none).
    pub(crate) fn tap(&mut self, rate: u32) -> &mut Tap {
        self.tap.get_or_insert_with(|| Box::new(Tap::new(rate)))
    }

    /// The sample rate of the leg's recordings, if it has some.
    pub(crate) fn recording_rate(&self) -> Option<u32> {
        self.tap.as_ref().map(|t| t.rate())
    }

    /// Ends one of the leg's recordings.
    pub(crate) fn stop_recording(&mut self, id: RecordingId) -> Option<RecordingDone> {
        let tap = self.tap.as_mut()?;
        let done = tap.finish(self.id, id, EndReason::Stopped);
        if tap.is_empty() {
            self.tap = None;
        }
        done
    }

    /// Ends every recording of the leg (it is closing).
    pub(crate) fn finish_recordings(&mut self, reason: EndReason) -> Vec<RecordingDone> {
        match self.tap.take() {
            Some(mut tap) => tap.finish_all(self.id, reason),
            None => Vec::new(),
        }
    }

    /// Mutes what the peer hears (`hear`) and what it says (`speak`).
    pub(crate) fn set_mute(&mut self, hear: bool, speak: bool) {
        self.muted = [hear, speak];
    }

    /// Holds the leg (its music on hold is its source's business).
    pub(crate) fn set_held(&mut self, held: bool) {
        self.held = held;
    }

    /// Whether the leg has a generated source, and whether it can encode.
    pub(crate) fn source_state(&self) -> Option<bool> {
        self.source.as_deref().map(Source::has_encoder)
    }

    /// A packet of the bridged leg that the peer does not hear (it hears
    /// the source): with the leg's codec unknown, its static payload type
    /// tells the source which codec the peer takes.
    fn hear_source_instead(&mut self, packet: &[u8]) {
        let Some(source) = self.source.as_deref_mut() else {
            return;
        };
        if self.codec.is_none() && !source.has_encoder() && packet.len() >= 2 {
            let encoder = SourceEncoder::for_static_payload_type(packet[1] & 0x7F);
            if encoder.is_some() {
                source.set_encoder(encoder);
            }
        }
    }

    /// Sends the source packets due at `now` from the leg's socket, in its
    /// own stream; the next deadline, or `None` when the source ended.
    fn flush_source(&mut self, now: Instant, events: &Events) -> Option<Instant> {
        let to = self.destination(RTP);
        let Leg {
            id,
            source,
            sender,
            sockets,
            counters,
            tap,
            codec,
            rtcp,
            ..
        } = self;
        let polled = source.as_deref_mut()?.poll(now, sender, |p| {
            if let Some(to) = to {
                if send(&sockets[RTP], &mut counters[RTP], p, to) {
                    rtcp.on_rtp_sent(now, p);
                }
            }
            // What the party hears is recorded, plays and music included.
            if let Some(tap) = tap.as_mut() {
                tap.tx(p, *codec);
            }
        });
        if let Some(play) = polled.finished {
            let _ = events.send(RelayEvent::PlayFinished {
                leg: *id,
                play,
                reason: PlayEnd::Finished,
            });
        }
        if polled.next.is_none() {
            *source = None;
        }
        polled.next
    }

    /// Whether the phone hears itself.
    pub(crate) fn echoing(&self) -> bool {
        self.echo.is_some()
    }

    /// Sends the phone's RTP `packet` back to it as the leg's own stream
    /// (see `echo.rs`); a generated source sounding comes first.
    fn echo_back(&mut self, now: Instant, packet: &mut [u8]) {
        if self.echo.is_none() {
            return;
        }
        if self.source.is_some() {
            self.counters[RTP].dropped_for_source += 1;
            return;
        }
        let Some(to) = self.destination(RTP) else {
            self.counters[RTP].dropped_unrouted += 1;
            return;
        };
        let Some(echo) = self.echo.as_deref_mut() else {
            return;
        };
        let Some(n) = echo.rewrite(packet, self.codec, &mut self.sender) else {
            self.counters[RTP].dropped_payload_type += 1;
            return;
        };
        self.send_rtp(now, &packet[..n], to);
        if let Some(tap) = &mut self.tap {
            tap.tx(&packet[..n], self.codec);
        }
    }

    /// Starts (or starts over) answering-machine detection at `now`.
    pub(crate) fn start_amd(&mut self, config: media::amd::AmdConfig, now: Instant) {
        self.amd = Some(Box::new(super::amd::Amd::new(config, now)));
    }

    /// Stops answering-machine detection; whether it was running.
    pub(crate) fn stop_amd(&mut self) -> bool {
        self.amd.take().is_some()
    }

    /// DTMF digits waiting to be played to the peer as tones.
    pub(crate) fn tones_pending(&self) -> usize {
        self.source.as_deref().map_or(0, Source::tones_pending)
    }

    /// The play in progress.
    pub(crate) fn source_play(&self) -> Option<super::PlayId> {
        self.source.as_deref()?.play_id()
    }

    /// The play in progress, taken out (the leg is being closed).
    pub(crate) fn take_play(&mut self) -> Option<super::PlayId> {
        self.source.as_deref_mut()?.stop_play()
    }

    /// Whether the peer must hear nothing of the bridge.
    pub(crate) fn deaf(&self) -> bool {
        self.held || self.muted[0]
    }

    /// Whether nothing the peer says may go on.
    pub(crate) fn silenced(&self) -> bool {
        self.held || self.muted[1]
    }

    /// The slot of the bridged leg.
    pub(crate) fn partner(&self) -> Option<usize> {
        self.partner
    }

    /// Where datagrams of `kind` for this leg's peer go: the latched source;
    /// before that, the SDP hint; RTCP before any RTCP was seen goes to the
    /// RTP address's port + 1 (RFC 3550 §11).
    fn destination(&self, kind: usize) -> Option<SocketAddr> {
        if let Some(peer) = self.peers[kind] {
            return Some(peer);
        }
        let rtp = self.peers[RTP].or(self.hint)?;
        match kind {
            RTP => Some(rtp),
            _ => Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?)),
        }
    }

    /// A new SDP address for the peer (re-INVITE, UPDATE). When it differs
    /// from the one before, both latches are cleared: the peer may have
    /// moved, and the next datagram of each kind latches again.
    pub(crate) fn set_hint(&mut self, hint: Option<SocketAddr>) {
        if hint != self.hint {
            self.hint = hint;
            self.peers = [None, None];
        }
    }

    pub(crate) fn stats(&self) -> LegStats {
        let mut rtp = self.counters[RTP];
        let mut rtcp = self.counters[RTCP];
        rtp.peer = self.peers[RTP];
        rtcp.peer = self.peers[RTCP];
        LegStats {
            rtp_port: self.rtp_port,
            local: self.sockets[RTP].local_addr().ok().map(canonical),
            rtp,
            rtcp,
            codec: self.codec,
            quality: self.rtcp.snapshot(Instant::now()),
            jitter_buffer: match &self.path {
                Path::Transcode(t) => Some(t.jitter_stats()),
                _ => None,
            },
        }
    }

    /// Sends `packet` to the peer from the RTP socket; what left is
    /// accounted in the leg's statistics.
    fn send_rtp(&mut self, now: Instant, packet: &[u8], to: SocketAddr) {
        if send(&self.sockets[RTP], &mut self.counters[RTP], packet, to) {
            self.rtcp.on_rtp_sent(now, packet);
        }
    }

    /// Sends the leg's RTCP report to the peer's RTCP address (none known:
    /// none sent) and schedules the next.
    fn send_report(&mut self, now: Instant, out: &mut Vec<u8>) {
        if let Some(to) = self.destination(RTCP) {
            match self.rtcp.write_report(now, out) {
                Ok(()) => {
                    send(&self.sockets[RTCP], &mut self.counters[RTCP], out, to);
                }
                Err(e) => tracing::warn!(leg = ?self.id, error = %e, "cannot write an RTCP report"),
            }
        }
        self.rtcp.reschedule(now);
    }

    /// The leg closes: a last report and BYE (RFC 3550 §6.6) to the peer,
    /// if the leg ever sent it a report.
    pub(crate) fn say_goodbye(&mut self) {
        let Some(to) = self.destination(RTCP) else {
            return;
        };
        let mut out = Vec::with_capacity(REPORT_CAPACITY);
        if self.rtcp.write_bye(Instant::now(), &mut out) {
            send(&self.sockets[RTCP], &mut self.counters[RTCP], &out, to);
        }
    }

    fn register(&self, shared: &Shared, slot: usize) -> io::Result<()> {
        shared.register(&self.sockets[RTP], token(slot, RTP))?;
        if let Err(e) = shared.register(&self.sockets[RTCP], token(slot, RTCP)) {
            shared.deregister(&self.sockets[RTP]);
            return Err(e);
        }
        Ok(())
    }

    fn deregister(&self, shared: &Shared) {
        for socket in &self.sockets {
            shared.deregister(socket);
        }
    }
}

impl LegTable {
    /// An empty table whose legs report every `rtcp_interval`.
    fn new(rtcp_interval: Duration) -> LegTable {
        LegTable {
            slots: Vec::new(),
            free: Vec::new(),
            sending: Vec::new(),
            recording: Vec::new(),
            clock: None,
            sources: Schedule::default(),
            playout: std::collections::HashSet::new(),
            playout_due: std::collections::BinaryHeap::new(),
            playout_new: Vec::new(),
            rtcp: RtcpTimers::new(rtcp_interval),
            amd: Vec::new(),
        }
    }

    /// Adds `leg` and registers its sockets; on a registration error the
    /// leg is dropped (its sockets close).
    pub(crate) fn insert(&mut self, leg: Leg, shared: &Shared) -> io::Result<usize> {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if let Err(e) = leg.register(shared, slot) {
            if slot < self.slots.len() {
                self.free.push(slot);
            }
            return Err(e);
        }
        let mut leg = leg;
        self.rtcp.adopt(slot, &mut leg.rtcp);
        if leg.amd.is_some() && !self.amd.contains(&slot) {
            self.amd.push(slot);
        }
        if slot == self.slots.len() {
            self.slots.push(Some(leg));
        } else {
            self.slots[slot] = Some(leg);
        }
        self.adopt_source(slot, shared);
        Ok(slot)
    }

    /// Takes the leg out of `slot` (unbridged, sockets deregistered).
    pub(crate) fn remove(&mut self, slot: usize, shared: &Shared) -> Option<Leg> {
        self.unbridge(slot);
        let leg = self.slots.get_mut(slot)?.take()?;
        leg.deregister(shared);
        self.free.push(slot);
        Some(leg)
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Leg> {
        self.slots.get_mut(slot)?.as_mut()
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&Leg> {
        self.slots.get(slot)?.as_ref()
    }

    /// The legs in two different slots, both mutable.
    fn pair_mut(&mut self, a: usize, b: usize) -> Option<(&mut Leg, &mut Leg)> {
        let (la, lb) = if a < b {
            let (low, high) = self.slots.split_at_mut(b);
            (low.get_mut(a)?, high.first_mut()?)
        } else if b < a {
            let (low, high) = self.slots.split_at_mut(a);
            let (lb, la) = (low.get_mut(b)?, high.first_mut()?);
            (la, lb)
        } else {
            return None;
        };
        Some((la.as_mut()?, lb.as_mut()?))
    }

    /// Bridges the legs in slots `a` and `b`, ending their earlier bridges;
    /// `paths`: for RTP from `a` to `b`, and from `b` to `a`.
    pub(crate) fn bridge(&mut self, a: usize, b: usize, paths: [Path; 2]) {
        self.unbridge(a);
        self.unbridge(b);
        if let Some(leg) = self.get_mut(a) {
            leg.partner = Some(b);
        }
        if let Some(leg) = self.get_mut(b) {
            leg.partner = Some(a);
        }
        self.set_paths(a, b, paths);
    }

    /// Replaces the paths of the bridge between `a` and `b` (if they are
    /// still bridged to each other).
    pub(crate) fn set_paths(&mut self, a: usize, b: usize, [ab, ba]: [Path; 2]) {
        if let Some((la, lb)) = self.pair_mut(a, b) {
            if la.partner == Some(b) && lb.partner == Some(a) {
                la.path = ab;
                lb.path = ba;
                let transcoding = [la.path.transcodes(), lb.path.transcodes()];
                for (slot, on) in [a, b].into_iter().zip(transcoding) {
                    if on && self.playout.insert(slot) {
                        self.playout_new.push(slot);
                    }
                }
            }
        }
    }

    /// The playout ticks of transcoding bridges due at `now` (see
    /// [`Transcode::tick`](super::transcode::Transcode::tick)): each leg
    /// is played on its own 20 ms grid (its jitter buffer's, set by its
    /// first tick), from a heap of deadlines, so a wake-up for one
    /// datagram costs nothing for the other legs. Returns the next
    /// deadline while any leg transcodes. A direction whose listener hears
    /// a generated source instead is not played (its buffer starts afresh
    /// when the source ends).
    fn flush_playout(&mut self, now: Instant) -> Option<Instant> {
        const TICK: std::time::Duration = std::time::Duration::from_millis(20);
        for slot in std::mem::take(&mut self.playout_new) {
            self.playout_due.push(std::cmp::Reverse((now, slot)));
        }
        while let Some(&std::cmp::Reverse((due, slot))) = self.playout_due.peek() {
            if due > now {
                break;
            }
            self.playout_due.pop();
            match self.play_leg(slot, now) {
                Some(next) => {
                    // Never in the past (a late worker plays the overdue
                    // ticks at once, the buffer skips beyond its backlog).
                    let next = next.unwrap_or(now + TICK).max(now + TICK / 4);
                    self.playout_due.push(std::cmp::Reverse((next, slot)));
                    if let Some(partner) = self.get(slot).and_then(|l| l.partner) {
                        self.arm_rtcp(partner);
                    }
                }
                None => {
                    self.playout.remove(&slot);
                }
            }
        }
        if self.playout.is_empty() {
            self.playout_due.clear();
            return None;
        }
        self.playout_due.peek().map(|r| r.0 .0)
    }

    /// One leg's playout tick: `None` if the leg no longer transcodes (it
    /// leaves the playout), else when its next frame is due (`None` inside:
    /// not known yet).
    fn play_leg(&mut self, slot: usize, now: Instant) -> Option<Option<Instant>> {
        if !self.playout.contains(&slot) {
            return None;
        }
        let partner = self
            .get(slot)
            .filter(|l| l.path.transcodes())
            .and_then(|l| l.partner)?;
        let (leg, out) = self.pair_mut(slot, partner)?;
        let Path::Transcode(transcode) = &mut leg.path else {
            return None;
        };
        let Some(to) = out.destination(RTP) else {
            return Some(transcode.next_due());
        };
        if out.source.is_some() || out.echo.is_some() {
            return Some(transcode.next_due());
        }
        let Leg {
            sockets,
            counters,
            sender,
            tap,
            codec,
            rtcp,
            ..
        } = out;
        transcode.tick(now, &mut leg.counters[RTP], sender, |p| {
            if send(&sockets[RTP], &mut counters[RTP], p, to) {
                rtcp.on_rtp_sent(now, p);
            }
            if let Some(tap) = tap.as_mut() {
                tap.tx(p, *codec);
            }
        });
        Some(transcode.next_due())
    }

    /// Ends the bridge of the leg in `slot`, on both sides.
    pub(crate) fn unbridge(&mut self, slot: usize) {
        let Some(partner) = self.get_mut(slot).and_then(|leg| {
            leg.path = Path::Passthrough;
            leg.partner.take()
        }) else {
            return;
        };
        if let Some(other) = self.get_mut(partner) {
            if other.partner == Some(slot) {
                other.partner = None;
                other.path = Path::Passthrough;
            }
        }
    }

    /// Every leg, for shutdown.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Leg> + '_ {
        self.free.clear();
        self.slots.drain(..).flatten()
    }

    /// Queues digits on the leg in `slot` (see [`Leg::send_dtmf`]).
    pub(crate) fn send_dtmf(
        &mut self,
        slot: usize,
        now: Instant,
        digits: &[media::dtmf::Digit],
        duration_ms: u32,
    ) -> Result<(), String> {
        let leg = self.get_mut(slot).ok_or("the leg is not open")?;
        leg.send_dtmf(now, digits, duration_ms)?;
        if !self.sending.contains(&slot) {
            self.sending.push(slot);
        }
        Ok(())
    }

    /// Starts ticking the recordings of the leg in `slot` (it has a tap).
    pub(crate) fn recording_started(&mut self, slot: usize) {
        if !self.recording.contains(&slot) {
            self.recording.push(slot);
        }
    }

    /// Writes the 20 ms recording ticks due at `now` on every recorded leg;
    /// the next tick's deadline while any leg records. Ticks follow the
    /// clock, not the wake-ups, so recordings keep wall-clock length when
    /// the worker is late (up to [`MAX_CATCH_UP`] ticks at once; beyond,
    /// the missed time is skipped).
    fn tick_recordings(&mut self, now: Instant, done: &mut Vec<RecordingDone>) -> Option<Instant> {
        const TICK: std::time::Duration = std::time::Duration::from_millis(20);
        if self.recording.is_empty() {
            self.clock = None;
            return None;
        }
        let (epoch, mut ticks) = *self.clock.get_or_insert((now, 0));
        let due = (now.saturating_duration_since(epoch).as_micros() / TICK.as_micros()) as u64;
        if due > ticks + MAX_CATCH_UP {
            ticks = due - MAX_CATCH_UP;
        }
        let mut recording = std::mem::take(&mut self.recording);
        while ticks < due {
            ticks += 1;
            recording.retain(|&slot| {
                let Some(leg) = self.get_mut(slot) else {
                    return false;
                };
                let id = leg.id;
                let Some(tap) = leg.tap.as_mut() else {
                    return false;
                };
                tap.tick(id, done);
                if tap.is_empty() {
                    leg.tap = None;
                    return false;
                }
                true
            });
        }
        // Legs whose taps went away meanwhile (stopped, closed) drop out.
        recording.retain(|&slot| self.get(slot).is_some_and(|l| l.tap.is_some()));
        self.recording = recording;
        if self.recording.is_empty() {
            self.clock = None;
            return None;
        }
        self.clock = Some((epoch, ticks));
        Some(epoch + TICK * u32::try_from(ticks + 1).unwrap_or(u32::MAX))
    }

    /// Sends the DTMF packets due; the earliest next deadline.
    fn flush_dtmf(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut sending = std::mem::take(&mut self.sending);
        sending.retain(|&slot| {
            let due = self.get_mut(slot).and_then(|l| l.flush_dtmf(now));
            if let Some(t) = due {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            self.arm_rtcp(slot);
            due.is_some()
        });
        self.sending = sending;
        next
    }

    /// Changes the generated source of the leg in `slot` (created, starting
    /// `now` and encoding with `encoder`, if it has none), and reports the
    /// plays it starts, replaces and stops on `events`. False when the leg
    /// is not open.
    pub(crate) fn change_source(
        &mut self,
        slot: usize,
        now: Instant,
        encoder: Option<SourceEncoder>,
        change: SourceChange,
        events: &Events,
    ) -> bool {
        let generation = self.sources.next_generation();
        let Some(leg) = self.get_mut(slot) else {
            return false;
        };
        if leg.source.is_none() && !change.starts() {
            return true;
        }
        let created = leg.source.is_none();
        let source = leg
            .source
            .get_or_insert_with(|| Box::new(Source::new(now, generation, None)));
        if encoder.is_some() && !source.has_encoder() {
            source.set_encoder(encoder);
        }
        let stopped = match change {
            SourceChange::Play(play) => {
                let id = play.id();
                let replaced = source.start_play(play);
                if let Some(old) = replaced {
                    let _ = events.send(RelayEvent::PlayFinished {
                        leg: leg.id,
                        play: old,
                        reason: PlayEnd::Stopped,
                    });
                }
                let _ = events.send(RelayEvent::PlayStarted {
                    leg: leg.id,
                    play: id,
                });
                None
            }
            SourceChange::StopPlay => source.stop_play(),
            SourceChange::Hold(music) => {
                source.set_hold_music(music);
                None
            }
            SourceChange::Tones(digits, ms) => {
                source.queue_tones(&digits, ms);
                None
            }
        };
        if let Some(old) = stopped {
            let _ = events.send(RelayEvent::PlayFinished {
                leg: leg.id,
                play: old,
                reason: PlayEnd::Stopped,
            });
        }
        if source.is_idle() {
            leg.source = None;
            self.source_ended(slot);
        } else if created {
            self.sources.add(now, slot, generation);
        }
        true
    }

    /// The leg's codec changed: its source (if any) encodes with `encoder`.
    pub(crate) fn set_source_encoder(&mut self, slot: usize, encoder: Option<SourceEncoder>) {
        if let Some(source) = self.get_mut(slot).and_then(|l| l.source.as_deref_mut()) {
            source.set_encoder(encoder);
        }
    }

    /// A leg that arrived with a source (moved from another worker) is
    /// scheduled here, and the worker woken to take it into account.
    fn adopt_source(&mut self, slot: usize, shared: &Shared) {
        let generation = self.sources.next_generation();
        if let Some(source) = self.get_mut(slot).and_then(|l| l.source.as_deref_mut()) {
            source.set_generation(generation);
            let due = source.next_due();
            self.sources.add(due, slot, generation);
            shared.wake();
        }
    }

    /// Sends the source packets due; the earliest next deadline.
    fn flush_sources(&mut self, now: Instant, events: &Events) -> Option<Instant> {
        while let Some((slot, generation, at)) = self.sources.pop_due(now) {
            let Some(leg) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let live = leg
                .source
                .as_deref()
                .is_some_and(|s| s.generation() == generation && s.next_due() == at);
            if !live {
                continue;
            }
            match leg.flush_source(now, events) {
                Some(next) => self.sources.add(next, slot, generation),
                None => self.source_ended(slot),
            }
            // A held leg may send nothing but its source: it reports too.
            self.arm_rtcp(slot);
        }
        self.sources.next()
    }

    /// The source of the leg in `slot` ended: a transcoder feeding its peer
    /// from the bridged leg starts its stream afresh (its output
    /// timestamps moved on while the source played).
    fn source_ended(&mut self, slot: usize) {
        let Some(partner) = self.get(slot).and_then(|l| l.partner) else {
            return;
        };
        if let Some(Path::Transcode(t)) = self.get_mut(partner).map(|l| &mut l.path) {
            t.restart();
        }
    }

    /// Echo on or off for the leg in `slot` (see `echo.rs`); false when
    /// it is not open. Off, the bridge comes back: a transcoder feeding
    /// the phone starts its stream afresh.
    pub(crate) fn set_echo(&mut self, slot: usize, on: bool) -> bool {
        let Some(leg) = self.get_mut(slot) else {
            return false;
        };
        if on {
            if leg.echo.is_none() {
                leg.echo = Some(Box::default());
                // Digits sent meanwhile go in the leg's own stream.
                leg.relayed = None;
            }
        } else if leg.echo.take().is_some() {
            self.source_ended(slot);
        }
        true
    }

    /// Starts answering-machine detection on the leg in `slot`; false when
    /// it is not open.
    pub(crate) fn start_amd(
        &mut self,
        slot: usize,
        config: media::amd::AmdConfig,
        now: Instant,
    ) -> bool {
        let Some(leg) = self.get_mut(slot) else {
            return false;
        };
        leg.start_amd(config, now);
        if !self.amd.contains(&slot) {
            self.amd.push(slot);
        }
        true
    }

    /// The answering-machine detectors' deadlines due at `now` (verdicts
    /// reported on `events`); the earliest next one.
    fn flush_amd(&mut self, now: Instant, events: &Events) -> Option<Instant> {
        if self.amd.is_empty() {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut amd = std::mem::take(&mut self.amd);
        amd.retain(|&slot| {
            let Some(leg) = self.get_mut(slot) else {
                return false;
            };
            let Some(detector) = leg.amd.as_deref_mut() else {
                return false;
            };
            if let Some(verdict) = detector.timeout(now) {
                leg.amd = None;
                let _ = events.send(RelayEvent::Amd {
                    leg: leg.id,
                    verdict,
                });
                return false;
            }
            if let Some(t) = detector.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            true
        });
        self.amd = amd;
        next
    }

    /// Sends the RTCP reports due (O(log n) per report, nothing for legs
    /// not due); the earliest next deadline.
    fn flush_rtcp(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<Instant> {
        let slots = &mut self.slots;
        while let Some(slot) = self
            .rtcp
            .pop_due(now, |s| slots.get(s)?.as_ref()?.rtcp.due())
        {
            if let Some(leg) = slots.get_mut(slot).and_then(Option::as_mut) {
                leg.send_report(now, out);
                self.rtcp.rearm(slot, &leg.rtcp);
            }
        }
        self.rtcp.next()
    }

    /// Puts the report deadline of the leg in `slot` on the timer heap if
    /// its RTCP just started (a bool test otherwise).
    fn arm_rtcp(&mut self, slot: usize) {
        if let Some(Some(leg)) = self.slots.get_mut(slot) {
            self.rtcp.arm(slot, &mut leg.rtcp);
        }
    }

    /// Moves one datagram from the socket of `token` (see
    /// [`LegTable::move_datagram`]), then arms the RTCP timers of the legs
    /// it touched.
    fn forward(&mut self, token: u64, buf: &mut [u8], events: &Events, now: Instant) {
        let slot = (token / 2) as usize;
        self.move_datagram(token, buf, events, now);
        self.arm_rtcp(slot);
        if let Some(partner) = self.get(slot).and_then(Leg::partner) {
            self.arm_rtcp(partner);
        }
    }

    /// Moves one datagram from the socket of `token`.
    ///
    /// A token whose slot is empty or now holds another leg (it was closed
    /// or moved after the event was taken) does no harm: the socket read is
    /// the one in the slot, and it reads `WouldBlock` or a real datagram.
    ///
    /// RTCP from the peer is consumed (statistics, RTT), never relayed:
    /// each leg reports for itself (see `rtcp.rs` and the module docs).
    fn move_datagram(&mut self, token: u64, buf: &mut [u8], events: &Events, now: Instant) {
        let (slot, kind) = ((token / 2) as usize, (token % 2) as usize);
        let Some(leg) = self.get_mut(slot) else {
            return;
        };
        let (len, from) = match leg.sockets[kind].recv_from(buf) {
            Ok((len, from)) => (len, canonical(from)),
            Err(e) => {
                // WouldBlock: a stale event. Anything else is not a
                // per-datagram condition on an unconnected UDP socket (Linux
                // reports no ICMP errors there) and is cleared by reading it.
                if e.kind() != io::ErrorKind::WouldBlock {
                    tracing::debug!(port = leg.rtp_port, kind, error = %e, "RTP receive error");
                }
                return;
            }
        };
        let counters = &mut leg.counters[kind];
        // Latching (RFC 7362): the first datagram's source becomes the
        // peer; after that, other sources are dropped (no injection, no
        // RTP bleed).
        match leg.peers[kind] {
            Some(peer) if peer != from => {
                counters.dropped_wrong_source += 1;
                return;
            }
            Some(_) => {}
            None => leg.peers[kind] = Some(from),
        }
        counters.received_packets += 1;
        counters.received_bytes += len as u64;
        if kind == RTCP {
            if let Err(e) = leg.rtcp.on_rtcp(now, &buf[..len]) {
                counters.dropped_malformed += 1;
                tracing::trace!(port = leg.rtp_port, error = %e, "RTCP dropped");
            }
            return;
        }
        leg.rtcp.on_rtp_received(now, &buf[..len]);
        if let Some(tap) = &mut leg.tap {
            tap.rx(&buf[..len], leg.codec);
        }
        if let Some(inband) = &mut leg.inband {
            inband.rx(&buf[..len], leg.codec, leg.id, events);
        }
        if leg.dtmf.is_some() {
            leg.watch_dtmf(&buf[..len], now, events);
        }
        if let Some(amd) = &mut leg.amd {
            if let Some(verdict) = amd.rx(now, &buf[..len], leg.codec) {
                leg.amd = None;
                let _ = events.send(RelayEvent::Amd {
                    leg: leg.id,
                    verdict,
                });
            }
        }
        if leg.echo.is_some() {
            leg.echo_back(now, &mut buf[..len]);
            return;
        }
        let Some(partner) = leg.partner else {
            leg.counters[kind].dropped_unrouted += 1;
            return;
        };
        let Some((leg, out)) = self.pair_mut(slot, partner) else {
            return;
        };
        if kind == RTP && (out.source.is_some() || out.echo.is_some()) {
            // Its peer hears a generated source instead (play, music on
            // hold), or itself.
            out.hear_source_instead(&buf[..len]);
            leg.counters[RTP].dropped_for_source += 1;
            return;
        }
        let Some(to) = out.destination(kind) else {
            leg.counters[kind].dropped_unrouted += 1;
            return;
        };
        let packet = &mut buf[..len];
        if kind == RTP && (leg.silenced() || out.deaf()) && !silence(packet, leg.codec) {
            leg.counters[RTP].dropped_muted += 1;
            return;
        }
        match &mut leg.path {
            Path::Passthrough => {
                out.relayed(packet);
                out.send_rtp(now, packet, to);
                if let Some(tap) = &mut out.tap {
                    tap.tx(packet, out.codec);
                }
            }
            Path::Rewrite(rewrite) => match rewrite.apply(packet) {
                Ok(()) => {
                    out.relayed(packet);
                    out.send_rtp(now, packet, to);
                    if let Some(tap) = &mut out.tap {
                        tap.tx(packet, out.codec);
                    }
                }
                Err(why) => why.count(&mut leg.counters[RTP]),
            },
            Path::Transcode(transcode) => {
                // The peer hears the leg's own stream: events go there too.
                out.relayed = None;
                let Leg {
                    sockets,
                    counters,
                    sender,
                    tap,
                    codec,
                    rtcp,
                    ..
                } = out;
                transcode.handle_rtp(packet, now, &mut leg.counters[RTP], sender, |p| {
                    if send(&sockets[RTP], &mut counters[RTP], p, to) {
                        rtcp.on_rtp_sent(now, p);
                    }
                    if let Some(tap) = tap.as_mut() {
                        tap.tx(p, *codec);
                    }
                });
            }
        }
    }
}

/// Mute and hold: overwrites a G.711 packet's audio with silence (µ-law
/// 0xFF, A-law 0xD5, ITU-T G.711), so the stream and its timing go on and
/// the listener hears true silence rather than a gap its phone may fill or
/// report as a dead line. `false` for anything else (other codecs,
/// telephone-events, malformed packets): the caller drops it. (A held
/// listener hears music on hold from its leg's source instead.)
fn silence(packet: &mut [u8], codec: Option<LegCodec>) -> bool {
    use media::codec::CodecKind;
    let Ok(h) = super::packet::Header::parse(packet) else {
        return false;
    };
    let kind = match codec {
        Some(c) if c.payload_type == h.payload_type => Some(c.codec),
        Some(_) => None,
        None => CodecKind::from_static_payload_type(h.payload_type),
    };
    let fill = match kind {
        Some(CodecKind::Pcmu) => 0xFF,
        Some(CodecKind::Pcma) => 0xD5,
        _ => return false,
    };
    packet[h.payload.0..h.payload.1].fill(fill);
    true
}

/// Sends `packet` to `to` from `socket`, counting it in `counters`;
/// whether it was sent.
fn send(socket: &UdpSocket, counters: &mut StreamStats, packet: &[u8], to: SocketAddr) -> bool {
    match socket.send_to(packet, to) {
        Ok(_) => {
            counters.sent_packets += 1;
            counters.sent_bytes += packet.len() as u64;
            true
        }
        Err(e) => {
            counters.send_errors += 1;
            tracing::trace!(%to, error = %e, "RTP send failed");
            false
        }
    }
}

/// IPv4 peers seen through an IPv6 socket compare equal to their SDP hint.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => addr,
        SocketAddr::V6(v6) => SocketAddr::new(v6.ip().to_canonical(), v6.port()),
    }
}

/// A change to a leg's generated source.
#[derive(Debug)]
pub(crate) enum SourceChange {
    /// Start a play (replacing any).
    Play(Playlist),
    /// Stop the play, if any.
    StopPlay,
    /// Music on hold on (`Some`) or off.
    Hold(Option<HoldMusic>),
    /// DTMF digits played as tones, `ms` each (see `Source::queue_tones`).
    Tones(Vec<media::dtmf::Digit>, u32),
}

impl SourceChange {
    /// Whether it gives a leg without a source one.
    pub(crate) fn starts(&self) -> bool {
        matches!(
            self,
            SourceChange::Play(_) | SourceChange::Hold(Some(_)) | SourceChange::Tones(..)
        )
    }
}
