//! A call's media, with I/O: one RTP socket (and RTCP on the next port), a
//! 20 ms task that encodes the source and sends it, receives, reorders and
//! decodes what the peer sends, and feeds the sink, the recorder and the
//! DTMF detectors. Built from the `media` crate's sans-IO pieces.
//!
//! The types and signatures of this file are the contract between the SIP
//! core (`crate::core`, `crate::phone`) and the media session.
//!
//! # The task
//!
//! [`MediaSession::bind`] binds the sockets and spawns one tokio task per
//! session; the methods queue commands to it. It is idle (sends nothing)
//! until the first [`MediaSession::configure`]; then, every 20 ms (frames
//! missed while the task was late are caught up, at most 5 at once, the
//! rest skipped in the RTP clock):
//!
//! ```text
//! loop {
//!     select! {
//!         command              => apply it (configure, source, sink, DTMF, recording, stats, close)
//!         RTP datagram         => latch the first source; voice PT -> jitter buffer,
//!                                 telephone-event PT -> RFC 4733 receiver, other PTs dropped
//!         RTCP datagram        => LegStats::on_rtcp (SR/RR/BYE for the stats)
//!         video datagram       => peer -> app, app -> peer (pass-through, counted)
//!         20 ms tick           => for each frame due:
//!             TX: DTMF events (voice paused) | in-band DTMF tones | silence if muted | source
//!                 -> encode -> RTP to `remote` (when `send`) -> recorder TX
//!             RX: jitter buffer pop -> decode / conceal / silence (when `recv`)
//!                 -> in-band detector, recorder RX -> volume -> sink
//!             recorder tick (exactly 20 ms written, 20 ms streamed)
//!         RTCP timer (~5 s)    => SR or RR + SDES to the remote's port + 1
//!     }
//! }
//! ```
//!
//! Dropping the [`MediaSession`] ends the task as [`MediaSession::close`]
//! does (recording and WAV sink finished, RTCP BYE sent). A failure the
//! call survives (a sink that cannot be written) is logged with `tracing`
//! and reported as [`MediaEvent::Error`]; wire input never panics the task.
//!
//! # Choices the contract leaves open
//!
//! - DTMF detection is **on** by default ([`MediaSession::set_dtmf_detection`]);
//!   in-band detection runs only when no telephone-event was negotiated, so
//!   a phone that sends both is not reported twice.
//! - [`MediaSession::send_dtmf`]: at most 32 digits, each 40..=10000 ms
//!   (anything else is [`MediaError::Invalid`], naming the problem), 100 ms
//!   of silence between digits; events are sent with the voice codec's RTP
//!   clock; digits are sent even while muted; a second call waits for the
//!   first to finish.
//! - [`MediaSession::set_volume`]: levels above 11 are taken as 11 (+9 dB).
//! - While muted or not sending, nothing is taken from the source: a WAV
//!   resumes where it was.
//! - Sinks and recordings are written at the codec's decode rate (8 kHz
//!   PCMU/PCMA, 16 kHz G.722, 48 kHz Opus) as it is when their first audio
//!   arrives (a recording: when it starts; 8 kHz before any `configure`);
//!   a later codec change is resampled to that rate. A WAV sink is written
//!   from the first `configure` on, 20 ms per 20 ms (silence while nothing
//!   is received), checkpointed every second so a killed process leaves a
//!   readable file.
//! - A tone above half the codec's sample rate is sent as silence.
//! - Video: packets from `app` go to the peer, every other packet on the
//!   video RTP socket is the peer's and goes to `app`; the RTCP sockets
//!   (port + 1 on each side) are relayed the same way.
//!
//! # Example
//!
//! Two sessions on loopback, one sending a tone to the other:
//!
//! ```
//! use ua::media::*;
//! use tokio::sync::mpsc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), MediaError> {
//! let config = MediaConfig { ip: "127.0.0.1".parse().unwrap(), ports: None };
//! let (events, _rx) = mpsc::unbounded_channel();
//! let alice = MediaSession::bind(&config, events.clone()).await?;
//! let bob = MediaSession::bind(&config, events).await?;
//! let params = |remote| MediaParams {
//!     remote,
//!     codec: CodecKind::Pcmu,
//!     payload_type: 0,
//!     dtmf_payload_type: Some(101),
//!     send: true,
//!     recv: true,
//! };
//! alice.configure(params(bob.local_addr()));
//! bob.configure(params(alice.local_addr()));
//! alice.set_source(AudioSource::Tone { freq_hz: 440.0, dbm0: -10.0 })?;
//! tokio::time::sleep(std::time::Duration::from_millis(200)).await;
//! let stats = bob.stats().await?;
//! assert!(stats["inbound-rtp"]["packetsReceived"].as_u64().unwrap() > 0);
//! alice.close().await;
//! bob.close().await;
//! # Ok(())
//! # }
//! ```

mod dtmf;
mod ports;
mod record;
mod session;
mod sink;
mod source;
mod util;
mod video;

#[cfg(feature = "device")]
mod device;

#[cfg(feature = "device")]
pub use device::{devices, DeviceInfo};

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};

use session::Command;

pub use media::codec::CodecKind;

/// Where media sockets are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// The address RTP sockets bind to (and the one the SDP announces).
    pub ip: IpAddr,
    /// Lowest and highest port to bind (RTP even, RTCP = RTP + 1); `None`: any free pair.
    pub ports: Option<(u16, u16)>,
}

/// What the offer/answer settled for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaParams {
    /// The peer's RTP address (its RTCP is the next port).
    pub remote: SocketAddr,
    /// The voice codec and its payload type.
    pub codec: CodecKind,
    pub payload_type: u8,
    /// `telephone-event`'s payload type, when the peer takes RFC 4733 events.
    pub dtmf_payload_type: Option<u8>,
    /// Whether we send audio (false while we hold or the peer put us on hold with `recvonly`/`inactive`).
    pub send: bool,
    /// Whether we play out what arrives.
    pub recv: bool,
}

/// The video m-line's negotiated stream: packets pass through untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoParams {
    pub remote: SocketAddr,
    pub send: bool,
    pub recv: bool,
}

/// What the call sends.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSource {
    /// Silence (encoded, so the peer keeps getting packets).
    Silence,
    /// A WAV file (PCM 16-bit, A-law or µ-law, any rate, mono or stereo: resampled/downmixed), once or looped; silence after it ends.
    Wav { path: PathBuf, looped: bool },
    /// A sine tone of `freq_hz` at `dbm0` (e.g. -10.0).
    Tone { freq_hz: f64, dbm0: f64 },
    /// A sound device (cpal); `None`: the default input device.
    #[cfg(feature = "device")]
    Device(Option<String>),
}

/// Where what the call receives goes.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSink {
    /// Nowhere.
    Discard,
    /// A WAV file (mono PCM 16-bit at the codec's rate), written as it comes (crash-safe).
    Wav(PathBuf),
    /// A sound device (cpal); `None`: the default output device.
    #[cfg(feature = "device")]
    Device(Option<String>),
}

/// The embedded seed's recording modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// What the peer sends.
    Rx,
    /// What we send.
    Tx,
    /// Both, mixed to mono.
    Mix,
}

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub mode: RecordMode,
    /// The WAV file (mono PCM 16-bit at the codec's rate); `None`: stream only.
    pub path: Option<PathBuf>,
    /// Each 20 ms chunk of PCM 16-bit little-endian mono audio, as it is recorded.
    pub stream: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

/// How a digit arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfMethod {
    Rfc4733,
    Inband,
    Info,
}

/// What a session reports on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A digit the peer sent (only while detection is on).
    Dtmf {
        digit: char,
        duration_ms: u32,
        method: DtmfMethod,
    },
    /// A WAV source played to its end (not for looped ones).
    SourceFinished,
    /// A recording stopped on its own (the call's media closed) or by `stop_recording`.
    RecordingFinished {
        path: Option<PathBuf>,
        mode: RecordMode,
        duration_ms: u64,
    },
    /// Something went wrong that the call survives (a sink that cannot be written...).
    Error(String),
}

/// What a media operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("the media session has ended")]
    Closed,
}

/// One call's media. Cheap methods queue a command to the session's task.
#[derive(Debug)]
pub struct MediaSession {
    local: SocketAddr,
    /// Commands to the task; dropping it ends the task.
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaSession {
    /// Binds the RTP/RTCP sockets and spawns the (idle) task; events go to `events`.
    pub async fn bind(
        config: &MediaConfig,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<MediaSession, MediaError> {
        let pair = ports::bind_pair(config.ip, config.ports)?;
        let local = pair.local;
        let (commands, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(session::run(pair, events, inbox));
        Ok(MediaSession {
            local,
            commands,
            task,
        })
    }

    /// The RTP address the SDP announces.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts or updates the stream (a re-INVITE changes direction, codec or peer).
    pub fn configure(&self, params: MediaParams) {
        self.send(Command::Configure(params));
    }

    /// Replaces what the call sends (a missing or unreadable file is an error, nothing changes).
    pub fn set_source(&self, source: AudioSource) -> Result<(), MediaError> {
        let loaded = source::Source::load(source)?;
        self.try_send(Command::Source(loaded))
    }

    /// Replaces where received audio goes.
    pub fn set_sink(&self, sink: AudioSink) -> Result<(), MediaError> {
        let opened = sink::Sink::open(sink)?;
        self.try_send(Command::Sink(opened))
    }

    /// Muted: silence is sent instead of the source (the source does not advance).
    pub fn set_mute(&self, muted: bool) {
        self.send(Command::Mute(muted));
    }

    /// Output volume 0..=11 applied to received audio before the sink (8 = unity, 3 dB a step, 0 = silent).
    ///
    /// Levels above 11 are taken as 11.
    pub fn set_volume(&self, level: u8) {
        self.send(Command::Volume(level.min(util::MAX_VOLUME)));
    }

    /// Turns reporting of received digits on or off (RFC 4733 and in-band).
    ///
    /// On by default.
    pub fn set_dtmf_detection(&self, on: bool) {
        self.send(Command::Detection(on));
    }

    /// Sends `digits` (0-9 A-D * #) as RFC 4733 events when negotiated, else as in-band tones;
    /// resolves once the last one has been sent.
    ///
    /// At most 32 digits of 40..=10000 ms each; a bad character, length or
    /// duration is [`MediaError::Invalid`] naming it, and so is a stream
    /// that is not configured or not sending.
    pub async fn send_dtmf(&self, digits: &str, duration_ms: u32) -> Result<(), MediaError> {
        let digits = dtmf::parse_request(digits, duration_ms)?;
        let (done, result) = oneshot::channel();
        self.try_send(Command::SendDtmf {
            digits,
            duration_ms,
            done,
        })?;
        result.await.map_err(|_| MediaError::Closed)?
    }

    /// Starts recording (one recording at a time: a second is an error).
    pub async fn start_recording(&self, options: RecordOptions) -> Result<(), MediaError> {
        let target = record::Target::open(options)?;
        let (done, result) = oneshot::channel();
        self.try_send(Command::StartRecording { target, done })?;
        result.await.map_err(|_| MediaError::Closed)?
    }

    /// Stops the recording; returns its length in milliseconds.
    pub async fn stop_recording(&self) -> Result<u64, MediaError> {
        let (done, result) = oneshot::channel();
        self.try_send(Command::StopRecording(done))?;
        result.await.map_err(|_| MediaError::Closed)?
    }

    /// The WebRTC-style statistics JSON (`inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`,
    /// `remote-outbound-rtp`, `codec`, `candidate-pair`), as the server's `/v1/calls/{id}/stats`.
    ///
    /// Also `rtcp` (as the server), `timestamp` (ms since the Unix epoch)
    /// and `video` (`null` until [`bind_video`](Self::bind_video)).
    pub async fn stats(&self) -> Result<serde_json::Value, MediaError> {
        let (done, result) = oneshot::channel();
        self.try_send(Command::Stats(done))?;
        result.await.map_err(|_| MediaError::Closed)
    }

    /// Video pass-through: binds a second socket pair for the video m-line (returned), relays
    /// between the peer (`configure_video`) and the application's address `app` (packets from
    /// `app` go to the peer, packets from the peer go to `app`).
    ///
    /// A second call keeps the sockets and only changes `app`.
    pub async fn bind_video(&self, app: Option<SocketAddr>) -> Result<SocketAddr, MediaError> {
        let (done, result) = oneshot::channel();
        self.try_send(Command::BindVideo { app, done })?;
        result.await.map_err(|_| MediaError::Closed)?
    }

    /// Starts, updates or (None) stops the video stream.
    pub fn configure_video(&self, params: Option<VideoParams>) {
        self.send(Command::ConfigureVideo(params));
    }

    /// Ends the session: finishes a recording, sends RTCP BYE, closes the sockets; returns the last stats.
    ///
    /// `Null` if the task had already ended.
    pub async fn close(self) -> serde_json::Value {
        let (done, result) = oneshot::channel();
        let _ = self.commands.send(Command::Close(done));
        let stats = result.await.unwrap_or(serde_json::Value::Null);
        let MediaSession { commands, task, .. } = self;
        drop(commands);
        let _ = task.await;
        stats
    }

    /// Queues a command whose caller has no result to wait for.
    fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::debug!(local = %self.local, "media command after the session ended");
        }
    }

    fn try_send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.send(command).map_err(|_| MediaError::Closed)
    }
}
