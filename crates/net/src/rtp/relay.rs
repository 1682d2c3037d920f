//! The control side of the relay: legs are opened, bridged and closed from
//! any thread, synchronously.
//!
//! A control call takes the relay's leg index, then the table lock of the
//! worker(s) concerned, then the pool's lock (always in that order; a worker
//! takes only its own table lock). It waits at most for the worker to finish
//! the batch of datagrams it is moving, and when it returns the change is in
//! force: after [`Relay::close_leg`] the sockets are closed and the ports
//! free.

use super::interwork::{self, DtmfFallback, DtmfVia, Interworked, Route};
use super::pool::RtpPool;
use super::record::{EndReason, RecordingDone, RecordingId, RecordingSpec, RecordingStarted};
use super::source::{self, HoldMusic, PlayEnd, PlayId, Playlist, SourceEncoder};
use super::transcode::Path;
use super::worker::{self, Leg, Shared, SourceChange};
use super::{LegCodec, LegId, LegStats, RelayEvent};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Shortest tone an interworked digit is played as: ITU-T Q.24 receivers
/// must take tones from 40 ms on, and 80 ms leaves a margin for a codec's
/// smearing of its edges.
const MIN_TONE_MS: u32 = 80;

/// Handle to the relay workers (cheap to clone, `Send + Sync`).
///
/// Dropping the last handle, or [`shutdown`](Self::shutdown), stops the
/// workers and closes every leg.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    pool: RtpPool,
    control: Mutex<Control>,
    workers: Vec<Arc<Shared>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The receiving end of the workers' events, until taken.
    events: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<super::RelayEvent>>>,
    /// What held legs' peers hear.
    hold_music: Mutex<HoldMusic>,
}

/// Where each open leg lives.
#[derive(Debug, Default)]
struct Control {
    legs: HashMap<LegId, Place>,
    /// Open legs per worker, to place new legs on the least loaded one.
    load: Vec<usize>,
    stopped: bool,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    worker: usize,
    slot: usize,
}

impl Relay {
    /// Starts `workers` relay threads (named `rtp-relay-N`) over the ports
    /// of `pool`. One worker moves tens of thousands of packets per second;
    /// more only help with more cores. Legs send RTCP reports every 5 s
    /// (RFC 3550 §6.2's recommended minimum, randomized 0.5–1.5 times).
    pub fn new(pool: RtpPool, workers: usize) -> io::Result<Relay> {
        Relay::with_rtcp_interval(pool, workers, media::stats::RtcpScheduler::DEFAULT_INTERVAL)
    }

    /// [`Relay::new`] with another nominal RTCP report interval (RFC 3550
    /// §6.2; each report comes 0.5–1.5 times that after the previous one,
    /// the first 0.25–0.75 times that after the leg's media starts). Below
    /// 5 s only for tests or a peer that asks for it.
    pub fn with_rtcp_interval(
        pool: RtpPool,
        workers: usize,
        rtcp_interval: std::time::Duration,
    ) -> io::Result<Relay> {
        if workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the RTP relay needs at least one worker",
            ));
        }
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = (0..workers)
            .map(|_| Shared::new(events_tx.clone(), rtcp_interval))
            .collect::<io::Result<Vec<_>>>()?;
        let inner = Arc::new(Inner {
            pool,
            control: Mutex::new(Control {
                load: vec![0; workers],
                ..Control::default()
            }),
            workers: shared,
            threads: Mutex::new(Vec::with_capacity(workers)),
            events: Mutex::new(Some(events_rx)),
            hold_music: Mutex::new(HoldMusic::BuiltIn),
        });
        for (i, s) in inner.workers.iter().enumerate() {
            let s = Arc::clone(s);
            let thread = std::thread::Builder::new()
                .name(format!("rtp-relay-{i}"))
                .spawn(move || worker::run(s));
            match thread {
                Ok(t) => lock(&inner.threads).push(t),
                Err(e) => {
                    inner.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(Relay { inner })
    }

    /// What the workers notice (DTMF digits), in order per leg; the first
    /// call takes the channel, later ones get `None`. Events are kept
    /// until taken.
    pub fn take_events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<super::RelayEvent>> {
        lock(&self.inner.events).take()
    }

    /// The pool the legs' ports come from.
    pub fn pool(&self) -> &RtpPool {
        &self.inner.pool
    }

    /// Starts handling the sockets of `rtp_port` (RTCP on `rtp_port + 1`)
    /// as leg `leg`. `remote_hint`: the address from the peer's SDP
    /// (`c=`/`m=`), used as the send target until a packet is seen; an
    /// unspecified address or port 0 counts as none.
    ///
    /// The port must be one [`RtpPool::allocate`] handed out and not yet
    /// released; otherwise nothing is opened (logged). Opening a leg that is
    /// already open on the same port only updates its hint (as
    /// [`set_remote_hint`](Self::set_remote_hint)); on another port, the
    /// earlier leg is closed first.
    pub fn open_leg(&self, leg: LegId, rtp_port: u16, remote_hint: Option<SocketAddr>) {
        let inner = &*self.inner;
        let mut control = lock(&inner.control);
        if control.stopped {
            tracing::warn!(
                ?leg,
                rtp_port,
                "open_leg after the relay stopped: port released"
            );
            inner.pool.release(rtp_port);
            return;
        }
        if let Some(&place) = control.legs.get(&leg) {
            let mut table = inner.workers[place.worker].lock();
            if let Some(open) = table
                .get_mut(place.slot)
                .filter(|l| l.rtp_port() == rtp_port)
            {
                tracing::debug!(?leg, rtp_port, "open_leg for an open leg: hint updated");
                open.set_hint(usable(remote_hint));
                return;
            }
            drop(table);
            tracing::warn!(
                ?leg,
                rtp_port,
                "open_leg for a leg open on another port: the earlier one is closed"
            );
            inner.close(&mut control, leg);
        }
        let Some(pair) = inner.pool.take(rtp_port) else {
            tracing::warn!(
                ?leg,
                rtp_port,
                "open_leg for a port the pool has not reserved: not opened"
            );
            return;
        };
        let sockets = pair
            .rtp
            .set_nonblocking(true)
            .and_then(|()| pair.rtcp.set_nonblocking(true));
        if let Err(e) = sockets {
            tracing::error!(?leg, rtp_port, error = %e, "cannot make RTP sockets non-blocking");
            drop(pair);
            inner.pool.free(rtp_port);
            return;
        }
        let new = Leg::new(leg, rtp_port, pair.rtp, pair.rtcp, usable(remote_hint));
        let w = (0..inner.workers.len())
            .min_by_key(|&w| control.load[w])
            .unwrap_or(0);
        let shared = &inner.workers[w];
        let inserted = shared.lock().insert(new, shared);
        match inserted {
            Ok(slot) => {
                control.legs.insert(leg, Place { worker: w, slot });
                control.load[w] += 1;
            }
            Err(e) => {
                tracing::error!(?leg, rtp_port, error = %e, "cannot register RTP sockets");
                inner.pool.free(rtp_port);
            }
        }
    }

    /// The peer's SDP named a new media address (re-INVITE, UPDATE).
    ///
    /// When the hint changes, both latches are cleared: media goes to the
    /// new hint until a packet arrives, and the first RTP (and RTCP)
    /// datagram after that latches again, from whatever source (the new
    /// address may be behind NAT too). An unchanged hint (a session refresh,
    /// hold and resume on the same address) keeps the latched peer.
    pub fn set_remote_hint(&self, leg: LegId, rtp: Option<SocketAddr>) {
        let found = self
            .inner
            .with_leg(leg, |l| l.set_hint(usable(rtp)))
            .is_some();
        if !found {
            tracing::debug!(?leg, "set_remote_hint for a leg that is not open");
        }
    }

    /// Packets received on `a`'s sockets are sent from `b`'s sockets to
    /// `b`'s peer and vice versa (RTP to RTP, RTCP to RTCP): unchanged, or
    /// converted when the legs' codecs ([`set_codec`](Self::set_codec))
    /// differ. Any earlier bridge of either leg ends; bridging two legs
    /// bridged to each other already changes nothing. Both legs must be open.
    pub fn bridge(&self, a: LegId, b: LegId) {
        let inner = &*self.inner;
        let mut control = lock(&inner.control);
        let (Some(&pa), Some(&pb)) = (control.legs.get(&a), control.legs.get(&b)) else {
            tracing::warn!(?a, ?b, "bridge of a leg that is not open: ignored");
            return;
        };
        if a == b {
            tracing::warn!(?a, "bridge of a leg with itself: ignored");
            return;
        }
        let pb = if pa.worker == pb.worker {
            pb
        } else {
            match inner.migrate(&mut control, b, pb, pa.worker) {
                Some(place) => place,
                None => return,
            }
        };
        let shared = &inner.workers[pa.worker];
        let codecs = {
            let table = shared.lock();
            if table.get(pa.slot).and_then(Leg::partner) == Some(pb.slot) {
                // Bridged already, on paths `set_codec` keeps up to date.
                return;
            }
            let codec = |slot| table.get(slot).and_then(Leg::codec);
            (codec(pa.slot), codec(pb.slot))
        };
        // Built without the table lock (an Opus encoder takes a while to set
        // up); the control lock keeps codecs and bridges as they were read.
        let paths = [Path::new(codecs.0, codecs.1), Path::new(codecs.1, codecs.0)];
        shared.lock().bridge(pa.slot, pb.slot, paths);
    }

    /// The codec `leg`'s peer uses (`None`: unknown). When the leg is
    /// bridged, or once it is, RTP between it and the other leg:
    ///
    /// - passes unchanged when either codec is unknown, or both are the
    ///   same codec with the same payload type (and telephone-event, if the
    ///   sender has one, is the same too);
    /// - has its payload type byte rewritten when the codec is the same but
    ///   the payload types differ (telephone-event included; events the
    ///   other leg did not negotiate at the same clock rate are dropped);
    /// - is transcoded when the codecs differ: decoded, re-encoded and sent
    ///   as the receiving leg's own RTP stream (its SSRC, sequence numbers
    ///   and timestamps), 20 ms per packet; telephone-events are forwarded
    ///   in that stream when the other leg has them at the same clock rate;
    ///   other payload types, and RTCP, are dropped (counted).
    ///
    /// A new codec replaces the transcoder (its state starts over); setting
    /// the same one again changes nothing.
    pub fn set_codec(&self, leg: LegId, codec: Option<LegCodec>) {
        let inner = &*self.inner;
        let control = lock(&inner.control);
        let Some(&place) = control.legs.get(&leg) else {
            tracing::debug!(?leg, "set_codec for a leg that is not open");
            return;
        };
        let shared = &inner.workers[place.worker];
        let (partner, has_source) = {
            let mut table = shared.lock();
            let Some(open) = table.get_mut(place.slot) else {
                return;
            };
            if open.codec() == codec {
                return;
            }
            open.set_codec(codec);
            let has_source = open.source_state().is_some();
            let partner = open.partner();
            (
                partner.and_then(|p| Some((p, table.get(p)?.codec()))),
                has_source,
            )
        };
        if has_source {
            // A play or music on hold goes on in the new codec.
            let encoder = codec.and_then(|c| SourceEncoder::new(c).ok());
            shared.lock().set_source_encoder(place.slot, encoder);
        }
        let Some((slot, other)) = partner else {
            return;
        };
        // As in `bridge`: built unlocked, installed under the lock.
        let paths = [Path::new(codec, other), Path::new(other, codec)];
        shared.lock().set_paths(place.slot, slot, paths);
    }

    /// Mutes a leg as the seed's "Mute" says: `hear`, its peer hears
    /// nothing of the bridge; `speak`, nothing its peer sends goes on.
    /// G.711 audio is replaced by silence (the stream goes on); other
    /// payloads are dropped (counted as `dropped_muted`).
    pub fn set_mute(&self, leg: LegId, hear: bool, speak: bool) {
        if self
            .inner
            .with_leg(leg, |l| l.set_mute(hear, speak))
            .is_none()
        {
            tracing::debug!(?leg, "set_mute for a leg that is not open");
        }
    }

    /// Sends DTMF digits to the leg's peer as RFC 4733 telephone-events
    /// (`duration_ms` each, 100 ms apart), after any still being sent.
    /// `Err` says why not: the leg is not open, or its peer did not
    /// negotiate telephone-event, or the duration is out of range.
    pub fn send_dtmf(
        &self,
        leg: LegId,
        digits: &[media::dtmf::Digit],
        duration_ms: u32,
    ) -> Result<(), String> {
        let inner = &*self.inner;
        let control = lock(&inner.control);
        let place = *control
            .legs
            .get(&leg)
            .ok_or("the call has no open media leg")?;
        let shared = &inner.workers[place.worker];
        shared
            .lock()
            .send_dtmf(place.slot, std::time::Instant::now(), digits, duration_ms)?;
        shared.wake();
        Ok(())
    }

    /// Turns in-band DTMF detection on the leg on or off (`None`: the
    /// default, on exactly when its phone did not negotiate
    /// telephone-event); whether it is on now, or `None` if the leg is not
    /// open. Detected digits come as [`RelayEvent::InbandDtmf`].
    pub fn set_inband_detection(&self, leg: LegId, forced: Option<bool>) -> Option<bool> {
        self.inband_with(leg, |l| l.set_inband_detection(forced))
    }

    /// Plays DTMF `digits` to the leg's phone as tones in its audio
    /// (in-band): each digit's ITU-T Q.23 pair at −8/−6 dBm0 for
    /// `duration_ms`, then 100 ms of silence, encoded in the leg's codec
    /// and sent as its own stream every 20 ms (a generated source, see
    /// [`play`](Self::play)). Digits queue after those still sounding; a
    /// play or music on hold pauses while they do and goes on where it
    /// was. `Err` when the leg is not open or more than 64 digits would
    /// be waiting.
    pub fn send_inband_dtmf(
        &self,
        leg: LegId,
        digits: &[media::dtmf::Digit],
        duration_ms: u32,
    ) -> Result<(), String> {
        const CLOSED: &str = "the call has no open media leg";
        let pending = self
            .inner
            .with_leg(leg, |l| l.tones_pending())
            .ok_or(CLOSED)?;
        if pending + digits.len() > source::MAX_QUEUED_TONES {
            return Err(format!(
                "{pending} DTMF digits are still waiting to be played (at most {} at once)",
                source::MAX_QUEUED_TONES
            ));
        }
        let change = SourceChange::Tones(digits.to_vec(), duration_ms);
        self.inner
            .change_source(leg, change, |_| {})
            .map_err(|()| CLOSED.to_owned())
    }

    /// DTMF interworking (see the `interwork` module's table): hands on a
    /// digit the relay reported on `from` ([`RelayEvent::Dtmf`]: `via`
    /// [`DtmfVia::Rfc4733`]; [`RelayEvent::InbandDtmf`]: `via`
    /// [`DtmfVia::Inband`]) to the leg bridged with it, in a way that
    /// leg's phone can take: RFC 4733 events it did not get (another
    /// clock rate, or the digit came as tones), or tones for a phone
    /// without telephone-event (or [`Interworked::SipInfo`] for the caller
    /// to send, as `fallback` says). `duration_ms` is the received
    /// digit's, kept within 80 ms (40 for events) and 10 s. What was done
    /// is returned; `Err` when sending failed (the bridged leg closed
    /// meanwhile, too many digits waiting).
    pub fn interwork_dtmf(
        &self,
        from: LegId,
        digit: media::dtmf::Digit,
        duration_ms: u32,
        via: DtmfVia,
        fallback: DtmfFallback,
    ) -> Result<Interworked, String> {
        let facts = self
            .inner
            .with_place(from, |table, slot| {
                let leg = table.get(slot)?;
                let other = table.get(leg.partner()?)?;
                let withheld = leg.silenced() || other.deaf();
                Some((leg.codec(), other.id(), other.codec(), withheld))
            })
            .flatten();
        let Some((from_codec, to, to_codec, withheld)) = facts else {
            return Ok(Interworked::AsIs);
        };
        if withheld {
            return Ok(Interworked::Withheld);
        }
        let ms = |min: u32| duration_ms.clamp(min, media::dtmf::rfc4733::MAX_SEND_DURATION_MS);
        match interwork::route(via, from_codec, to_codec, fallback) {
            Route::AsIs => Ok(Interworked::AsIs),
            Route::SipInfo => Ok(Interworked::SipInfo(to)),
            Route::Rfc4733 => {
                self.send_dtmf(to, &[digit], ms(media::dtmf::rfc4733::MIN_SEND_DURATION_MS))?;
                Ok(Interworked::Rfc4733(to))
            }
            Route::Inband => {
                self.send_inband_dtmf(to, &[digit], ms(MIN_TONE_MS))?;
                Ok(Interworked::Inband(to))
            }
        }
    }

    /// The leg bridged with `leg`, if any.
    pub fn partner(&self, leg: LegId) -> Option<LegId> {
        self.inner
            .with_place(leg, |table, slot| {
                let other = table.get(slot)?.partner()?;
                table.get(other).map(Leg::id)
            })
            .flatten()
    }

    /// Whether the leg detects in-band DTMF now (`None`: not open).
    pub fn inband_detection(&self, leg: LegId) -> Option<bool> {
        self.inband_with(leg, |_| {})
    }

    fn inband_with(&self, leg: LegId, f: impl FnOnce(&mut Leg)) -> Option<bool> {
        self.inner.with_leg(leg, |l| {
            f(l);
            l.inband_detection()
        })
    }

    /// Holds a leg (or resumes it): its peer hears music on hold
    /// ([`set_hold_music`](Self::set_hold_music)) in its own codec, every
    /// 20 ms whether or not the bridged leg sends anything (a play, while
    /// one runs, comes first), and the bridged leg's peer hears silence
    /// (G.711 payloads overwritten, other codecs dropped), whatever the
    /// mute.
    pub fn set_hold(&self, leg: LegId, held: bool) {
        let music = held.then(|| lock(&self.inner.hold_music).clone());
        let change = SourceChange::Hold(music);
        let found = self.inner.change_source(leg, change, |l| l.set_held(held));
        if found.is_err() {
            tracing::debug!(?leg, "set_hold for a leg that is not open");
        }
    }

    /// Starts recording leg `leg` into a new WAV file at `spec.path` (see
    /// the `record` module for what RX and TX hold). The file is created
    /// here, on the calling thread (it must not exist); from then on the
    /// leg's worker writes 20 ms of audio per tick, patching the header
    /// every second, until [`stop_recording`](Self::stop_recording), the
    /// leg's close ([`RelayEvent::RecordingFinished`](super::RelayEvent)),
    /// or a write error (same event). The rate follows the leg's codec:
    /// 8 kHz for G.711 (or no codec known yet), 16 kHz for G.722 and Opus;
    /// a leg's recordings all share the rate of its first.
    pub fn start_recording(
        &self,
        leg: LegId,
        spec: RecordingSpec,
    ) -> Result<RecordingStarted, String> {
        let codec = self
            .inner
            .with_leg(leg, |l| (l.codec(), l.recording_rate()))
            .ok_or("the call has no open media leg")?;
        let rate = codec.1.unwrap_or_else(|| super::record::rate_for(codec.0));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&spec.path)
            .map_err(|e| format!("cannot create {}: {e}", spec.path.display()))?;
        let path = spec.path.clone();
        let added = self.inner.with_place(leg, |table, slot| {
            let leg = table
                .get_mut(slot)
                .ok_or("the call has no open media leg")?;
            let rate = leg.recording_rate().unwrap_or(rate);
            leg.tap(rate).add(spec, file)?;
            table.recording_started(slot);
            Ok::<u32, String>(rate)
        });
        let result = added.unwrap_or(Err("the call has no open media leg".into()));
        match result {
            Ok(rate) => {
                // The worker ticks the new recording from its next wake-up.
                if let Some(place) = lock(&self.inner.control).legs.get(&leg) {
                    self.inner.workers[place.worker].wake();
                }
                Ok(RecordingStarted { rate })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Stops one recording of a leg: its file gets its final sizes and is
    /// closed before this returns. `None` if the leg is not open or has no
    /// such recording (it may have ended with its leg: see
    /// [`RelayEvent::RecordingFinished`](super::RelayEvent)).
    pub fn stop_recording(&self, leg: LegId, id: RecordingId) -> Option<RecordingDone> {
        self.inner.with_leg(leg, |l| l.stop_recording(id)).flatten()
    }

    /// What held legs' peers hear from the next hold on: the built-in
    /// music (the default) or a recording, looped.
    pub fn set_hold_music(&self, music: HoldMusic) {
        *lock(&self.inner.hold_music) = music;
    }

    /// Plays `clips` to `leg`'s peer, one after the other, the whole list
    /// `loop_count` times (0: until [`stop_play`](Self::stop_play)), in
    /// place of the bridged party (whose packets are dropped meanwhile,
    /// counted as `dropped_for_source`). The audio is encoded in the leg's
    /// codec and sent every 20 ms as the leg's own RTP stream; clips at
    /// [`source_rate`](Self::source_rate) play as they are, others are
    /// interpolated. A play already running on the leg is replaced. A play
    /// is heard whatever the mute (which silences the bridge), and before
    /// music on hold, which comes back when it ends.
    ///
    /// Reported as [`RelayEvent::PlayStarted`], then
    /// [`RelayEvent::PlayFinished`]. `Err` when the leg is not open.
    pub fn play(
        &self,
        leg: LegId,
        play: PlayId,
        clips: Vec<Arc<media::Frame>>,
        loop_count: u32,
    ) -> Result<(), String> {
        let playlist = Playlist::new(play, clips.into(), loop_count);
        self.inner
            .change_source(leg, SourceChange::Play(playlist), |_| {})
            .map_err(|()| "the call has no open media leg".to_owned())
    }

    /// Echo on `leg` (or off): its phone hears what it sends, as the
    /// leg's own RTP stream (its SSRC, continuous sequence numbers and
    /// timestamps), instead of the bridged party, who hears nothing of it
    /// meanwhile. A play, music on hold or tones come first while they
    /// sound. Off restores the bridge. `Err` when the leg is not open.
    pub fn set_echo(&self, leg: LegId, on: bool) -> Result<(), String> {
        let done = self
            .inner
            .with_place(leg, |table, slot| table.set_echo(slot, on));
        match done {
            Some(true) => Ok(()),
            _ => Err("the call has no open media leg".to_owned()),
        }
    }

    /// Whether `leg`'s phone hears itself (`None`: not open).
    pub fn echo(&self, leg: LegId) -> Option<bool> {
        self.inner.with_leg(leg, |l| l.echoing())
    }

    /// Starts answering-machine detection on what `leg`'s phone sends
    /// (any codec, decoded at 8 kHz; see [`media::amd`] for the rules),
    /// from now: the verdict comes once as [`RelayEvent::Amd`]. A
    /// detection already running on the leg starts over. `Err` when the
    /// leg is not open.
    pub fn start_amd(&self, leg: LegId, config: media::amd::AmdConfig) -> Result<(), String> {
        let now = std::time::Instant::now();
        let started = self
            .inner
            .with_place(leg, |table, slot| table.start_amd(slot, config, now));
        if started != Some(true) {
            return Err("the call has no open media leg".to_owned());
        }
        // The worker takes the detector's deadline from its next wake-up.
        if let Some(place) = lock(&self.inner.control).legs.get(&leg) {
            self.inner.workers[place.worker].wake();
        }
        Ok(())
    }

    /// Stops answering-machine detection on `leg` without a verdict;
    /// whether one was running.
    pub fn stop_amd(&self, leg: LegId) -> bool {
        self.inner.with_leg(leg, |l| l.stop_amd()).unwrap_or(false)
    }

    /// Stops the play on `leg` (reported finished, [`PlayEnd::Stopped`]);
    /// the play it stopped, if one was running.
    pub fn stop_play(&self, leg: LegId) -> Option<PlayId> {
        let mut stopped = None;
        let _ = self.inner.change_source(leg, SourceChange::StopPlay, |l| {
            stopped = l.source_play();
        });
        stopped
    }

    /// The sample rate (Hz) audio played to `leg` is encoded from: 16000
    /// for G.722 and Opus legs, 8000 for G.711 or an unknown codec. Clips
    /// handed to [`play`](Self::play) at this rate need no conversion.
    pub fn source_rate(&self, leg: LegId) -> u32 {
        source::source_rate(self.inner.with_leg(leg, |l| l.codec()).flatten())
    }

    /// Ends the bridge of `a` (on both sides): its packets are dropped
    /// (counted as unrouted) until it is bridged again.
    pub fn unbridge(&self, a: LegId) {
        self.inner.with_place(a, |table, slot| table.unbridge(slot));
    }

    /// Stops the leg and releases its ports back to the pool: always, even
    /// if it was never bridged. A leg that sent RTCP reports says BYE
    /// (RFC 3550 §6.6) first. Closing a leg that is not open does nothing.
    pub fn close_leg(&self, leg: LegId) {
        let inner = &*self.inner;
        let mut control = lock(&inner.control);
        if !inner.close(&mut control, leg) {
            tracing::debug!(?leg, "close_leg for a leg that is not open");
        }
    }

    /// Counters, latched peers and RTP/RTCP statistics of an open leg.
    pub fn stats(&self, leg: LegId) -> Option<LegStats> {
        self.inner.with_leg(leg, |l| l.stats())
    }

    /// How many legs are open.
    pub fn legs(&self) -> usize {
        lock(&self.inner.control).legs.len()
    }

    /// Stops the workers and closes every leg (its ports go back to the
    /// pool). Later calls on any handle do nothing (`open_leg` releases the
    /// port it is given). Idempotent.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let control = lock(&self.inner.control);
        f.debug_struct("Relay")
            .field("workers", &self.inner.workers.len())
            .field("legs", &control.legs.len())
            .field("stopped", &control.stopped)
            .field("pool", &self.inner.pool)
            .finish()
    }
}

impl Inner {
    /// Runs `f` on the table and slot of an open leg.
    fn with_place<R>(
        &self,
        leg: LegId,
        f: impl FnOnce(&mut worker::LegTable, usize) -> R,
    ) -> Option<R> {
        let control = lock(&self.control);
        let place = *control.legs.get(&leg)?;
        let mut table = self.workers[place.worker].lock();
        Some(f(&mut table, place.slot))
    }

    fn with_leg<R>(&self, leg: LegId, f: impl FnOnce(&mut Leg) -> R) -> Option<R> {
        self.with_place(leg, |table, slot| table.get_mut(slot).map(f))
            .flatten()
    }

    /// Runs `prepare` on the leg, then applies `change` to its generated
    /// source, with an encoder for its codec built (outside the table lock:
    /// an Opus encoder takes a while) if the source needs one; wakes the
    /// worker. `Err` when the leg is not open.
    fn change_source(
        &self,
        leg: LegId,
        change: SourceChange,
        prepare: impl FnOnce(&mut Leg),
    ) -> Result<(), ()> {
        // The control lock keeps the codec as read until the change is in.
        let control = lock(&self.control);
        let place = *control.legs.get(&leg).ok_or(())?;
        let shared = &self.workers[place.worker];
        let codec = {
            let mut table = shared.lock();
            let open = table.get_mut(place.slot).ok_or(())?;
            prepare(open);
            let needs_encoder = change.starts() && open.source_state() != Some(true);
            open.codec().filter(|_| needs_encoder)
        };
        let encoder = codec.and_then(|c| match SourceEncoder::new(c) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::error!(?leg, error = %e, "cannot encode for a play or music on hold");
                None
            }
        });
        let now = std::time::Instant::now();
        let changed =
            shared
                .lock()
                .change_source(place.slot, now, encoder, change, shared.events());
        shared.wake();
        if changed {
            Ok(())
        } else {
            Err(())
        }
    }

    /// Closes `leg`'s sockets and frees its ports; false when it is not open.
    fn close(&self, control: &mut Control, leg: LegId) -> bool {
        let Some(place) = control.legs.remove(&leg) else {
            return false;
        };
        control.load[place.worker] -= 1;
        let shared = &self.workers[place.worker];
        let removed = shared.lock().remove(place.slot, shared);
        if let Some(mut removed) = removed {
            if let Some(play) = removed.take_play() {
                let _ = shared.events().send(RelayEvent::PlayFinished {
                    leg,
                    play,
                    reason: PlayEnd::Closed,
                });
            }
            removed.say_goodbye();
            let port = removed.rtp_port();
            shared.report_recordings(removed.finish_recordings(EndReason::LegClosed));
            drop(removed);
            self.pool.free(port);
        }
        true
    }

    /// Moves open leg `leg` from its worker to worker `to`, unbridged.
    fn migrate(&self, control: &mut Control, leg: LegId, from: Place, to: usize) -> Option<Place> {
        let (src, dst) = (&self.workers[from.worker], &self.workers[to]);
        // Two table locks: in worker order, so two bridges cannot deadlock.
        let (mut src_table, mut dst_table) = if from.worker < to {
            let s = src.lock();
            (s, dst.lock())
        } else {
            let d = dst.lock();
            (src.lock(), d)
        };
        let moving = src_table.remove(from.slot, src)?;
        control.load[from.worker] -= 1;
        let port = moving.rtp_port();
        match dst_table.insert(moving, dst) {
            Ok(slot) => {
                let place = Place { worker: to, slot };
                control.legs.insert(leg, place);
                control.load[to] += 1;
                // Its next RTCP report may be earlier than the worker's
                // next deadline.
                dst.wake();
                Some(place)
            }
            Err(e) => {
                tracing::error!(?leg, error = %e, "cannot move an RTP leg between workers: closed");
                control.legs.remove(&leg);
                self.pool.free(port);
                None
            }
        }
    }

    fn shutdown(&self) {
        let mut control = lock(&self.control);
        if control.stopped {
            return;
        }
        control.stopped = true;
        for shared in &self.workers {
            shared.stop();
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("an RTP relay worker panicked");
            }
        }
        control.legs.clear();
        control.load.iter_mut().for_each(|n| *n = 0);
        for shared in &self.workers {
            let legs: Vec<Leg> = shared.lock().drain().collect();
            for mut leg in legs {
                let port = leg.rtp_port();
                shared.report_recordings(leg.finish_recordings(EndReason::Shutdown));
                tracing::trace!(leg = ?leg.id(), port, "closed at shutdown");
                drop(leg);
                self.pool.free(port);
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `None` for an address media cannot be sent to: port 0, or `0.0.0.0`
/// (the RFC 2543 way to put a stream on hold, RFC 3264 §8.4).
fn usable(hint: Option<SocketAddr>) -> Option<SocketAddr> {
    hint.filter(|h| !h.ip().is_unspecified() && h.port() != 0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state whole: poisoning is harmless.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
