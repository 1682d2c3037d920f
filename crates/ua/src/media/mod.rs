//! A call's media, with I/O: one RTP socket (and RTCP on the next port), a
//! 20 ms task that encodes the source and sends it, receives, reorders and
//! decodes what the peer sends, and feeds the sink, the recorder and the
//! DTMF detectors. Built from the `media` crate's sans-IO pieces.
//!
//! THIS FILE IS THE CONTRACT between the SIP core (`crate::core`,
//! `crate::phone`) and the media helper: the types and signatures below are
//! fixed; the bodies are being written.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use tokio::sync::mpsc;

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
}

impl MediaSession {
    /// Binds the RTP/RTCP sockets and spawns the (idle) task; events go to `events`.
    pub async fn bind(
        config: &MediaConfig,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<MediaSession, MediaError> {
        let _ = (config, events);
        Err(MediaError::Invalid("not built yet".into()))
    }

    /// The RTP address the SDP announces.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts or updates the stream (a re-INVITE changes direction, codec or peer).
    pub fn configure(&self, params: MediaParams) {
        let _ = params;
    }

    /// Replaces what the call sends (a missing or unreadable file is an error, nothing changes).
    pub fn set_source(&self, source: AudioSource) -> Result<(), MediaError> {
        let _ = source;
        Err(MediaError::Closed)
    }

    /// Replaces where received audio goes.
    pub fn set_sink(&self, sink: AudioSink) -> Result<(), MediaError> {
        let _ = sink;
        Err(MediaError::Closed)
    }

    /// Muted: silence is sent instead of the source (the source does not advance).
    pub fn set_mute(&self, muted: bool) {
        let _ = muted;
    }

    /// Output volume 0..=11 applied to received audio before the sink (8 = unity, 3 dB a step, 0 = silent).
    pub fn set_volume(&self, level: u8) {
        let _ = level;
    }

    /// Turns reporting of received digits on or off (RFC 4733 and in-band).
    pub fn set_dtmf_detection(&self, on: bool) {
        let _ = on;
    }

    /// Sends `digits` (0-9 A-D * #) as RFC 4733 events when negotiated, else as in-band tones;
    /// resolves once the last one has been sent.
    pub async fn send_dtmf(&self, digits: &str, duration_ms: u32) -> Result<(), MediaError> {
        let _ = (digits, duration_ms);
        Err(MediaError::Closed)
    }

    /// Starts recording (one recording at a time: a second is an error).
    pub async fn start_recording(&self, options: RecordOptions) -> Result<(), MediaError> {
        let _ = options;
        Err(MediaError::Closed)
    }

    /// Stops the recording; returns its length in milliseconds.
    pub async fn stop_recording(&self) -> Result<u64, MediaError> {
        Err(MediaError::Closed)
    }

    /// The WebRTC-style statistics JSON (`inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`,
    /// `remote-outbound-rtp`, `codec`, `candidate-pair`), as the server's `/v1/calls/{id}/stats`.
    pub async fn stats(&self) -> Result<serde_json::Value, MediaError> {
        Err(MediaError::Closed)
    }

    /// Video pass-through: binds a second socket pair for the video m-line (returned), relays
    /// between the peer (`configure_video`) and the application's address `app` (packets from
    /// `app` go to the peer, packets from the peer go to `app`).
    pub async fn bind_video(&self, app: Option<SocketAddr>) -> Result<SocketAddr, MediaError> {
        let _ = app;
        Err(MediaError::Closed)
    }

    /// Starts, updates or (None) stops the video stream.
    pub fn configure_video(&self, params: Option<VideoParams>) {
        let _ = params;
    }

    /// Ends the session: finishes a recording, sends RTCP BYE, closes the sockets; returns the last stats.
    pub async fn close(self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
