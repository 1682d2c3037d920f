//! The session's task: its loop ([`run`], drawn in the module docs of
//! `media`), the commands it takes, and the 20 ms slot that sends and
//! plays out.

use super::dtmf::{DtmfDetect, DtmfSend, Request, SendContext};
use super::ports::{self, SocketPair};
use super::record::{Finished, Recording, Target};
use super::sink::Sink;
use super::source::{Produced, Source};
use super::util::{self, frame_samples, rtcp_of, FRAME, MAX_DATAGRAM};
use super::video::{self, Video};
use super::{MediaError, MediaEvent, MediaParams, VideoParams};
use media::codec::{CodecKind, Decoder, Encoder};
use media::dtmf::{Digit, EventPacket};
use media::jitter::{JitterBuffer, JitterConfig, Popped};
use media::rtcp::{self, NtpTime, RtcpCompound};
use media::rtp::{RtpPacket, RtpSender};
use media::stats::{
    webrtc_json, CandidatePair, LegStats, PlayoutStats, RtcpCounters, RtcpScheduler, WebrtcContext,
};
use media::Frame;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Most frames sent at once when the task was late; older ones are
/// skipped (the RTP clock still advances over them).
const MAX_CATCH_UP: u32 = 5;

/// Sample rate of sinks and recordings before any codec is configured.
const DEFAULT_RATE: u32 = 8000;

/// What the [`super::MediaSession`] asks of its task.
#[derive(Debug)]
pub(super) enum Command {
    Configure(MediaParams),
    Source(Source),
    Sink(Sink),
    Mute(bool),
    Volume(u8),
    Detection(bool),
    SendDtmf {
        digits: Vec<Digit>,
        duration_ms: u32,
        done: oneshot::Sender<Result<(), MediaError>>,
    },
    StartRecording {
        target: Target,
        done: oneshot::Sender<Result<(), MediaError>>,
    },
    StopRecording(oneshot::Sender<Result<u64, MediaError>>),
    Stats(oneshot::Sender<Value>),
    BindVideo {
        app: Option<SocketAddr>,
        done: oneshot::Sender<Result<SocketAddr, MediaError>>,
    },
    ConfigureVideo(Option<VideoParams>),
    Close(oneshot::Sender<Value>),
}

/// The audio sockets.
#[derive(Debug)]
struct Io {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// The task: runs until [`Command::Close`] or until the session is dropped.
pub(super) async fn run(
    pair: SocketPair,
    events: mpsc::UnboundedSender<MediaEvent>,
    mut inbox: mpsc::UnboundedReceiver<Command>,
) {
    let SocketPair { rtp, rtcp, local } = pair;
    let io = Io { rtp, rtcp };
    let mut session = Session::new(local, events);
    let mut video: Option<Video> = None;
    let mut rtp_buf = vec![0u8; MAX_DATAGRAM];
    let mut rtcp_buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let wake = session.next_wake();
        tokio::select! {
            command = inbox.recv() => match command {
                None => {
                    session.close(&io);
                    break;
                }
                Some(Command::Close(done)) => {
                    let stats = session.close(&io);
                    let _ = done.send(session.stats_json(video.as_ref(), stats));
                    break;
                }
                Some(Command::BindVideo { app, done }) => {
                    let _ = done.send(bind_video(&mut video, local, app));
                }
                Some(Command::ConfigureVideo(params)) => match &mut video {
                    Some(v) => v.configure(params),
                    None => tracing::warn!(%local, "configure_video before bind_video: ignored"),
                },
                Some(Command::Stats(done)) => {
                    let snapshot = session.snapshot();
                    let _ = done.send(session.stats_json(video.as_ref(), snapshot));
                }
                Some(command) => session.handle_command(command),
            },
            received = io.rtp.recv_from(&mut rtp_buf) => match received {
                Ok((n, from)) => session.handle_rtp(util::now(), from, &rtp_buf[..n]),
                Err(e) => tracing::debug!(%local, error = %e, "RTP socket receive failed"),
            },
            received = io.rtcp.recv_from(&mut rtcp_buf) => match received {
                Ok((n, _)) => session.handle_rtcp(util::now(), &rtcp_buf[..n]),
                Err(e) => tracing::debug!(%local, error = %e, "RTCP socket receive failed"),
            },
            received = recv_video(video.as_mut()), if video.is_some() => {
                if let (Ok((kind, n, from)), Some(v)) = (received, video.as_mut()) {
                    v.handle_datagram(kind, from, n);
                }
            },
            _ = sleep_until(wake), if wake.is_some() => {}
        }
        session.handle_timers(&io);
    }
}

/// Binds the video pair, or changes the application's address of the one
/// bound already.
fn bind_video(
    video: &mut Option<Video>,
    audio: SocketAddr,
    app: Option<SocketAddr>,
) -> Result<SocketAddr, MediaError> {
    if let Some(v) = video {
        v.set_app(app);
        return Ok(v.local());
    }
    let pair = ports::bind_pair(audio.ip(), None)?;
    let v = Video::new(pair, app);
    let local = v.local();
    *video = Some(v);
    Ok(local)
}

/// The next datagram on either video socket.
async fn recv_video(
    video: Option<&mut Video>,
) -> std::io::Result<(video::Kind, usize, SocketAddr)> {
    match video {
        Some(v) => v.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The codec-dependent part of the stream, rebuilt when the codec changes.
#[derive(Debug)]
struct Audio {
    kind: CodecKind,
    payload_type: u8,
    encoder: Encoder,
    decoder: Decoder,
    jitter: JitterBuffer,
}

impl Audio {
    fn new(kind: CodecKind, payload_type: u8) -> Result<Audio, String> {
        let encoder = Encoder::new(kind).map_err(|e| format!("{kind} encoder: {e}"))?;
        let decoder = Decoder::new(kind).map_err(|e| format!("{kind} decoder: {e}"))?;
        Ok(Audio {
            kind,
            payload_type,
            encoder,
            decoder,
            jitter: JitterBuffer::new(JitterConfig::new(kind.clock_rate())),
        })
    }
}

/// Datagram counters of the audio sockets.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    rtp_sent: u64,
    rtp_sent_bytes: u64,
    rtp_received: u64,
    rtp_received_bytes: u64,
    /// Datagrams from the peer not played: another source than the
    /// latched one, an unexpected payload type, not RTP, not configured.
    discarded: u64,
    rtcp_received: u64,
    rtcp_sent: u64,
    rtcp_malformed: u64,
    send_errors: u64,
    decode_errors: u64,
}

/// Everything the task knows, but the sockets and the video.
#[derive(Debug)]
struct Session {
    local: SocketAddr,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// The last `configure`; `None`: idle.
    params: Option<MediaParams>,
    audio: Option<Audio>,
    rtp_out: RtpSender,
    leg: LegStats,
    /// RTCP report timer, from the first `configure`.
    rtcp_timer: Option<RtcpScheduler>,
    cname: Vec<u8>,
    /// When the next 20 ms slot is due, from the first `configure`.
    next_slot: Option<tokio::time::Instant>,
    /// The first source heard from since the peer's address last changed.
    latched: Option<SocketAddr>,
    source: Source,
    sink: Sink,
    muted: bool,
    volume: util::Volume,
    dtmf_send: DtmfSend,
    dtmf_detect: DtmfDetect,
    recording: Option<Recording>,
    counters: Counters,
    /// Reused buffers: the frame sent, the frame played, the payload, the
    /// datagram, the RFC 4733 packets due, the events found.
    tx: Frame,
    rx: Frame,
    payload: Vec<u8>,
    datagram: Vec<u8>,
    events_due: Vec<(u8, EventPacket)>,
    found: Vec<MediaEvent>,
}

impl Session {
    fn new(local: SocketAddr, events: mpsc::UnboundedSender<MediaEvent>) -> Session {
        let ssrc: u32 = rand::random();
        let now = util::now();
        let wallclock = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let cname = format!("{:016x}@ua", rand::random::<u64>()).into_bytes();
        Session {
            local,
            events,
            params: None,
            audio: None,
            rtp_out: RtpSender::new(ssrc, 0, rand::random(), rand::random()),
            leg: LegStats::new(ssrc, DEFAULT_RATE, now, NtpTime::from_unix(wallclock)),
            rtcp_timer: None,
            cname,
            next_slot: None,
            latched: None,
            source: Source::Silence,
            sink: Sink::Discard,
            muted: false,
            volume: util::Volume::new(),
            dtmf_send: DtmfSend::default(),
            dtmf_detect: DtmfDetect::new(),
            recording: None,
            counters: Counters::default(),
            tx: Frame::default(),
            rx: Frame::default(),
            payload: Vec::new(),
            datagram: Vec::new(),
            events_due: Vec::new(),
            found: Vec::new(),
        }
    }

    fn emit(&self, event: MediaEvent) {
        let _ = self.events.send(event);
    }

    /// Logs and reports a failure the call survives.
    fn error(&self, message: String) {
        tracing::warn!(local = %self.local, "{message}");
        self.emit(MediaEvent::Error(message));
    }

    /// The codec's decode rate (sinks and recordings), 8 kHz before any.
    fn decode_rate(&self) -> u32 {
        self.audio
            .as_ref()
            .map_or(DEFAULT_RATE, |a| a.decoder.sample_rate())
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Configure(params) => self.configure(params),
            Command::Source(source) => self.source = source,
            Command::Sink(sink) => {
                let old = std::mem::replace(&mut self.sink, sink);
                if let Err(e) = old.finish(self.decode_rate()) {
                    self.error(e);
                }
            }
            Command::Mute(muted) => self.muted = muted,
            Command::Volume(level) => self.volume.set_level(level),
            Command::Detection(on) => {
                let stream = self.params.as_ref().zip(self.audio.as_ref()).map(|(p, a)| {
                    (
                        p.dtmf_payload_type,
                        a.kind.clock_rate(),
                        a.decoder.sample_rate(),
                    )
                });
                self.dtmf_detect.set_on(on, stream);
            }
            Command::SendDtmf {
                digits,
                duration_ms,
                done,
            } => {
                if self.params.as_ref().is_some_and(|p| p.send) {
                    self.dtmf_send.push(Request {
                        digits,
                        duration_ms,
                        done,
                    });
                } else {
                    let _ = done.send(Err(MediaError::Invalid(
                        "cannot send DTMF: the stream is not sending (not configured, or on hold)"
                            .into(),
                    )));
                }
            }
            Command::StartRecording { target, done } => {
                let result = if self.recording.is_some() {
                    Err(MediaError::Invalid(
                        "a recording is already running: stop it first".into(),
                    ))
                } else {
                    Recording::start(target, self.decode_rate()).map(|r| self.recording = Some(r))
                };
                let _ = done.send(result);
            }
            Command::StopRecording(done) => {
                let result = match self.finish_recording() {
                    Some(ms) => Ok(ms),
                    None => Err(MediaError::Invalid("no recording is running".into())),
                };
                let _ = done.send(result);
            }
            // Handled by the loop, which owns the video and sees Close.
            Command::Stats(_)
            | Command::BindVideo { .. }
            | Command::ConfigureVideo(_)
            | Command::Close(_) => {}
        }
    }

    /// Starts or updates the stream.
    fn configure(&mut self, params: MediaParams) {
        let old = self.params.take();
        if self.audio.as_ref().is_none_or(|a| a.kind != params.codec) {
            match Audio::new(params.codec, params.payload_type) {
                Ok(audio) => self.audio = Some(audio),
                Err(e) => {
                    self.error(format!("cannot use the codec: {e}"));
                    self.params = old;
                    return;
                }
            }
            self.leg.set_clock_rate(params.codec.clock_rate());
        }
        let Some(audio) = self.audio.as_mut() else {
            return;
        };
        audio.payload_type = params.payload_type;
        self.rtp_out.set_payload_type(params.payload_type);
        let (clock_rate, decode_rate) = (audio.kind.clock_rate(), audio.decoder.sample_rate());
        if old.as_ref().is_none_or(|o| o.recv != params.recv) {
            audio.jitter.reset();
        }
        if old.as_ref().is_none_or(|o| {
            o.codec != params.codec || o.dtmf_payload_type != params.dtmf_payload_type
        }) {
            self.dtmf_detect
                .configure(params.dtmf_payload_type, clock_rate, decode_rate);
        }
        if old.as_ref().is_some_and(|o| o.remote != params.remote) {
            self.latched = None;
        }
        if !params.send {
            self.dtmf_send.fail_all(|| {
                MediaError::Invalid("DTMF not sent: the stream stopped sending (hold)".into())
            });
        }
        if self.next_slot.is_none() {
            self.next_slot = Some(tokio::time::Instant::now());
            self.rtcp_timer = Some(RtcpScheduler::new(
                util::now(),
                RtcpScheduler::DEFAULT_INTERVAL,
                rand::random(),
            ));
        }
        self.params = Some(params);
    }

    /// When the loop must wake next: the next slot or RTCP report.
    fn next_wake(&self) -> Option<tokio::time::Instant> {
        let rtcp = self
            .rtcp_timer
            .as_ref()
            .map(|t| tokio::time::Instant::from_std(t.next_report()));
        match (self.next_slot, rtcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the slots and the RTCP report that are due.
    fn handle_timers(&mut self, io: &Io) {
        let now = tokio::time::Instant::now();
        if let Some(mut next) = self.next_slot {
            let mut due = 0u32;
            while next <= now {
                due += 1;
                next += FRAME;
            }
            self.next_slot = Some(next);
            let skipped = due.saturating_sub(MAX_CATCH_UP);
            if skipped > 0 {
                if let Some(audio) = &self.audio {
                    self.rtp_out.skip(audio.kind.frame_rtp_ticks() * skipped);
                }
            }
            for k in skipped..due {
                let at = next - FRAME * (due - k);
                self.slot(io, at.into_std(), now.into_std());
            }
        }
        let now = util::now();
        if self.rtcp_timer.as_ref().is_some_and(|t| t.is_due(now)) {
            self.send_report(io, now, false);
            if let Some(timer) = &mut self.rtcp_timer {
                timer.on_report_sent(now, rand::random());
            }
        }
    }

    /// One 20 ms slot at `at` (its place on the slot grid): send, play
    /// out, record.
    fn slot(&mut self, io: &Io, at: Instant, now: Instant) {
        let Some(params) = self.params.clone() else {
            return;
        };
        let Some(audio) = self.audio.as_mut() else {
            return;
        };
        let rate = audio.encoder.sample_rate();
        let ticks = audio.kind.frame_rtp_ticks();
        let mut sent = false;
        if params.send {
            let cx = SendContext {
                event_payload_type: params.dtmf_payload_type,
                clock_rate: audio.kind.clock_rate(),
                sample_rate: rate,
            };
            let dtmf = self.dtmf_send.poll_slot(
                at,
                self.rtp_out.timestamp(),
                cx,
                &mut self.tx,
                &mut self.events_due,
            );
            for (pt, packet) in self.events_due.drain(..) {
                self.datagram.clear();
                let bytes = packet.payload.to_bytes();
                if self
                    .rtp_out
                    .write_event(
                        pt,
                        packet.timestamp,
                        packet.marker,
                        &bytes,
                        &mut self.datagram,
                    )
                    .is_ok()
                    && send_datagram(&io.rtp, &self.datagram, params.remote, &mut self.counters)
                {
                    self.leg
                        .on_rtp_event_sent(now, packet.timestamp, bytes.len());
                }
            }
            if dtmf.pause_voice {
                self.rtp_out.skip(ticks);
            } else {
                if !dtmf.tones {
                    if self.muted {
                        silence(&mut self.tx, rate);
                    } else if self.source.next_frame(rate, &mut self.tx) == Produced::Finished {
                        let _ = self.events.send(MediaEvent::SourceFinished);
                    }
                }
                self.payload.clear();
                self.datagram.clear();
                let timestamp = self.rtp_out.timestamp();
                match audio.encoder.encode(&self.tx, &mut self.payload) {
                    Ok(_) => {
                        if self
                            .rtp_out
                            .write_frame(ticks, &self.payload, &mut self.datagram)
                            .is_ok()
                            && send_datagram(
                                &io.rtp,
                                &self.datagram,
                                params.remote,
                                &mut self.counters,
                            )
                        {
                            self.leg.on_rtp_sent(now, timestamp, self.payload.len());
                        }
                        sent = true;
                    }
                    Err(e) => {
                        self.rtp_out.skip(ticks);
                        tracing::debug!(local = %self.local, error = %e, "frame not encoded");
                    }
                }
            }
        } else {
            self.rtp_out.skip(ticks);
        }

        let mut failed = Vec::new();
        if let Some(rec) = &mut self.recording {
            if sent {
                if let Err(e) = rec.push_tx(&self.tx) {
                    failed.push(Failure::Recording(e.to_string()));
                }
            }
        }

        // What the peer sent: one frame per playout tick due.
        let decode_rate = audio.decoder.sample_rate();
        if params.recv {
            while let Some(popped) = audio.jitter.pop(now) {
                match popped {
                    Popped::Packet { payload, .. } => {
                        if audio.decoder.decode(payload, &mut self.rx).is_err() {
                            self.counters.decode_errors += 1;
                            audio.decoder.conceal(&mut self.rx);
                        }
                    }
                    Popped::Missing { .. } => audio.decoder.conceal(&mut self.rx),
                    Popped::Empty => silence(&mut self.rx, decode_rate),
                }
                play(
                    &self.rx,
                    &mut self.dtmf_detect,
                    &mut self.recording,
                    &mut self.sink,
                    &mut self.volume,
                    &mut self.found,
                    &mut failed,
                );
            }
        } else {
            // Not receiving: the sink keeps time with silence.
            silence(&mut self.rx, decode_rate);
            if let Err(e) = self.sink.write(&self.rx) {
                failed.push(Failure::Sink(e));
            }
        }
        if let Some(rec) = &mut self.recording {
            if let Err(e) = rec.tick() {
                failed.push(Failure::Recording(e.to_string()));
            }
        }
        self.dtmf_detect.handle_timeout(now, &mut self.found);
        for event in self.found.drain(..) {
            let _ = self.events.send(event);
        }
        for failure in failed {
            self.fail(failure);
        }
    }

    /// A sink or recording failed: it stops, the call goes on.
    fn fail(&mut self, failure: Failure) {
        match failure {
            Failure::Sink(message) => {
                self.sink = Sink::Discard;
                self.error(message);
            }
            Failure::Recording(message) => {
                self.error(format!("recording stopped: {message}"));
                self.finish_recording();
            }
        }
    }

    /// Finishes the recording, if any, and reports it; its length in ms.
    fn finish_recording(&mut self) -> Option<u64> {
        let recording = self.recording.take()?;
        let finished = match recording.finish() {
            Ok(f) => f,
            Err((f, e)) => {
                self.error(format!("finishing the recording: {e}"));
                f
            }
        };
        let Finished {
            mode,
            path,
            duration_ms,
        } = finished;
        self.emit(MediaEvent::RecordingFinished {
            path,
            mode,
            duration_ms,
        });
        Some(duration_ms)
    }

    /// A datagram on the RTP socket.
    fn handle_rtp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.counters.rtp_received += 1;
        self.counters.rtp_received_bytes += data.len() as u64;
        if rtcp::looks_like_rtcp(data) {
            // RTCP multiplexed on the RTP port (RFC 5761).
            self.handle_rtcp(now, data);
            return;
        }
        let (Some(params), Some(audio)) = (&self.params, &mut self.audio) else {
            self.counters.discarded += 1;
            return;
        };
        let Ok(packet) = RtpPacket::parse(data) else {
            self.counters.discarded += 1;
            return;
        };
        let pt = packet.payload_type();
        let voice = pt == params.payload_type;
        let event = Some(pt) == params.dtmf_payload_type;
        if !voice && !event {
            self.counters.discarded += 1;
            return;
        }
        // Like a phone: the first source heard is the peer.
        if *self.latched.get_or_insert(from) != from {
            self.counters.discarded += 1;
            return;
        }
        if voice {
            self.leg.on_rtp_packet(now, &packet);
            if params.recv {
                audio.jitter.push(
                    now,
                    packet.sequence_number(),
                    packet.timestamp(),
                    packet.payload(),
                );
            }
        } else {
            self.leg.on_rtp_event_received(
                now,
                packet.ssrc(),
                packet.sequence_number(),
                packet.payload().len(),
            );
            if params.recv {
                self.dtmf_detect.handle_event_packet(
                    now,
                    packet.timestamp(),
                    packet.marker(),
                    packet.sequence_number(),
                    packet.payload(),
                    &mut self.found,
                );
                for event in self.found.drain(..) {
                    let _ = self.events.send(event);
                }
            }
        }
    }

    /// A datagram on the RTCP socket: the peer's reports, for the stats.
    fn handle_rtcp(&mut self, now: Instant, data: &[u8]) {
        match RtcpCompound::parse(data) {
            Ok(compound) => {
                self.counters.rtcp_received += 1;
                self.leg.on_rtcp(now, &compound);
            }
            Err(e) => {
                self.counters.rtcp_malformed += 1;
                tracing::debug!(local = %self.local, error = %e, "malformed RTCP dropped");
            }
        }
    }

    /// Sends our report (SR or RR, SDES), with a BYE when `bye`.
    fn send_report(&mut self, io: &Io, now: Instant, bye: bool) {
        let Some(params) = &self.params else {
            return;
        };
        let to = rtcp_of(params.remote);
        self.datagram.clear();
        if let Err(e) = self.leg.write_report(now, &self.cname, &mut self.datagram) {
            tracing::debug!(local = %self.local, error = %e, "RTCP report not written");
            return;
        }
        if bye {
            let _ = rtcp::write_bye(&mut self.datagram, &[self.rtp_out.ssrc()], None);
        }
        match io.rtcp.try_send_to(&self.datagram, to) {
            Ok(_) => self.counters.rtcp_sent += 1,
            Err(e) => {
                self.counters.send_errors += 1;
                tracing::debug!(local = %self.local, %to, error = %e, "RTCP report not sent");
            }
        }
    }

    /// The end: DTMF abandoned, recording and sink finished, BYE sent;
    /// returns the last statistics.
    fn close(&mut self, io: &Io) -> media::stats::StatsSnapshot {
        self.dtmf_send.fail_all(|| MediaError::Closed);
        self.finish_recording();
        let sink = std::mem::replace(&mut self.sink, Sink::Discard);
        if let Err(e) = sink.finish(self.decode_rate()) {
            self.error(e);
        }
        let now = util::now();
        self.send_report(io, now, true);
        self.leg.snapshot(now)
    }

    fn snapshot(&self) -> media::stats::StatsSnapshot {
        self.leg.snapshot(util::now())
    }

    /// The stats JSON: webrtc-stats objects, `timestamp` and `video`.
    fn stats_json(&self, video: Option<&Video>, snapshot: media::stats::StatsSnapshot) -> Value {
        let c = self.counters;
        let remote = self.params.as_ref().map(|p| p.remote);
        let context = WebrtcContext {
            codec: self.audio.as_ref().map(|a| (a.kind, a.payload_type)),
            packets_discarded: c.discarded,
            jitter_buffer: self.audio.as_ref().map(|a| PlayoutStats::of(&a.jitter)),
            rtcp: RtcpCounters {
                packets_received: c.rtcp_received,
                packets_sent: c.rtcp_sent,
                packets_malformed: c.rtcp_malformed,
            },
            candidate_pair: CandidatePair {
                local: Some(self.local),
                remote: self.latched.or(remote),
                remote_rtcp: remote.map(rtcp_of),
                packets_sent: c.rtp_sent,
                bytes_sent: c.rtp_sent_bytes,
                packets_received: c.rtp_received,
                bytes_received: c.rtp_received_bytes,
            },
        };
        let mut body = webrtc_json(&snapshot, &context);
        body.insert("timestamp".into(), json!(util::unix_millis_now()));
        body.insert("video".into(), video.map_or(Value::Null, Video::stats));
        Value::Object(body)
    }
}

/// One received frame (before the volume) to the in-band detector and
/// the recording; after the volume, to the sink.
fn play(
    frame: &Frame,
    detect: &mut DtmfDetect,
    recording: &mut Option<Recording>,
    sink: &mut Sink,
    volume: &mut util::Volume,
    found: &mut Vec<MediaEvent>,
    failed: &mut Vec<Failure>,
) {
    detect.handle_audio(frame, found);
    if let Some(rec) = recording {
        if let Err(e) = rec.push_rx(frame) {
            failed.push(Failure::Recording(e.to_string()));
        }
    }
    if let Err(e) = sink.write(volume.apply(frame)) {
        failed.push(Failure::Sink(e));
    }
}

/// Sends an RTP datagram without waiting (a full socket buffer drops it,
/// as the network would); true when sent.
fn send_datagram(socket: &UdpSocket, data: &[u8], to: SocketAddr, counters: &mut Counters) -> bool {
    match socket.try_send_to(data, to) {
        Ok(_) => {
            counters.rtp_sent += 1;
            counters.rtp_sent_bytes += data.len() as u64;
            true
        }
        Err(e) => {
            counters.send_errors += 1;
            tracing::debug!(%to, error = %e, "RTP datagram not sent");
            false
        }
    }
}

/// Replaces `frame` with 20 ms of silence at `rate` (reusing its buffer).
fn silence(frame: &mut Frame, rate: u32) {
    frame.rate = rate;
    frame.samples.clear();
    frame.samples.resize(frame_samples(rate), 0);
}

/// A part of the session that failed and stops; the call goes on.
#[derive(Debug)]
enum Failure {
    Sink(String),
    Recording(String),
}
