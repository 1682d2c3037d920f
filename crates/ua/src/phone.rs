//! [`Phone`]: the softphone with I/O. It runs the sans-IO [`UaCore`] inside
//! `net`'s driver task (SIP over UDP or TCP) and one
//! [`MediaSession`] per call, and hands the application one stream of
//! [`Event`]s.
//!
//! ```text
//! application ──Phone::call/accept/hold/...──▶ driver task: UaCore (SIP)
//!      ▲                                           │ Output
//!      │ Event                                     ▼
//!      └──────────── pump task ◀── Event / Action (Media, Video, Close, AutoAnswer)
//!                       │ configure, close, accept
//!                       ▼
//!                 MediaSession per call (RTP task) ── MediaEvent (DTMF, recording) ──▶ pump
//! ```

use crate::core::media_sdp::LocalMedia;
use crate::core::{Action, CoreConfig, Output, UaCore};
use crate::media::{
    AudioSink, AudioSource, MediaConfig, MediaError, MediaEvent, MediaSession, RecordMode,
    RecordOptions,
};
use crate::types::*;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a [`Phone`] is set up.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub account: Account,
    /// The SIP socket's address; an unspecified IP (`0.0.0.0`) picks the
    /// local address that reaches the server; port 0 picks a free port.
    pub listen: SocketAddr,
    /// RTP ports to use (even RTP, RTCP next); `None`: any free pair.
    pub rtp_ports: Option<(u16, u16)>,
    /// An incoming call nobody answers ends with 480 after this long.
    pub ring_timeout: Duration,
}

impl PhoneConfig {
    pub fn new(account: Account) -> PhoneConfig {
        PhoneConfig {
            account,
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            rtp_ports: None,
            ring_timeout: Duration::from_secs(60),
        }
    }
}

/// Automatic recording (the embedded seed's `setAutoRecord`): every call is
/// recorded from the moment it is established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoRecord {
    pub mode: RecordMode,
    /// The WAV path; `{call}` is replaced by the call's id.
    pub path: String,
}

/// The embedded seed's output channels, each mapped to a sound device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputChannel {
    Handset,
    Headset,
    Loudspeaker,
}

#[derive(Debug)]
struct Settings {
    source: AudioSource,
    sink: AudioSink,
    volume: u8,
    dtmf_detection: bool,
    auto_record: Option<AutoRecord>,
    channel: OutputChannel,
    channel_devices: HashMap<OutputChannel, Option<String>>,
}

#[derive(Debug)]
struct Inner {
    handle: net::Handle<UaCore>,
    sessions: Mutex<HashMap<CallId, Arc<MediaSession>>>,
    settings: Mutex<Settings>,
    media: MediaConfig,
    events: mpsc::UnboundedSender<Event>,
    media_events: mpsc::UnboundedSender<(CallId, MediaEvent)>,
    local: SocketAddr,
}

/// The softphone. Cheap to clone; every clone drives the same phone.
#[derive(Debug, Clone)]
pub struct Phone {
    inner: Arc<Inner>,
}

/// The phone's event stream (one per phone).
#[derive(Debug)]
pub struct Events(mpsc::UnboundedReceiver<Event>);

impl Events {
    /// The next event; `None` once the phone has shut down.
    pub async fn next(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// Waits for the first event `f` accepts (others are dropped), at most `timeout`.
    pub async fn wait_for<F: FnMut(&Event) -> bool>(
        &mut self,
        timeout: Duration,
        mut f: F,
    ) -> Option<Event> {
        tokio::time::timeout(timeout, async {
            while let Some(e) = self.0.recv().await {
                if f(&e) {
                    return Some(e);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }
}

/// One call, as the seeds' call objects: a handle with the call's operations.
#[derive(Debug, Clone)]
pub struct Call {
    id: CallId,
    phone: Phone,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stopped(e: net::Error) -> UaError {
    UaError::Sip(format!("the phone has stopped: {e}"))
}

fn media_err(e: MediaError) -> UaError {
    UaError::Invalid(e.to_string())
}

/// The local address the OS would use to reach `server`.
fn route_to(server: SocketAddr) -> IpAddr {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect(server)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(any.ip())
}

impl Phone {
    /// Binds the SIP socket and starts the phone (it does not register yet:
    /// call [`Phone::register`]).
    pub async fn start(config: PhoneConfig) -> Result<(Phone, Events), UaError> {
        let ip = if config.listen.ip().is_unspecified() {
            route_to(config.account.server)
        } else {
            config.listen.ip()
        };
        let bind = SocketAddr::new(ip, config.listen.port());
        let mut net_config = net::Config::default();
        match config.account.transport {
            Transport::Udp => net_config.udp.push(bind),
            Transport::Tcp => net_config.tcp.push(bind),
        }
        // Bind first to learn the port, then build the core with it: the
        // driver owns the sockets, so bind a probe of the same kind.
        let local = match config.account.transport {
            Transport::Udp => {
                let probe = std::net::UdpSocket::bind(bind)
                    .map_err(|e| UaError::Invalid(format!("cannot bind SIP on {bind}: {e}")))?;
                probe
                    .local_addr()
                    .map_err(|e| UaError::Invalid(e.to_string()))?
            }
            Transport::Tcp => {
                let probe = std::net::TcpListener::bind(bind)
                    .map_err(|e| UaError::Invalid(format!("cannot bind SIP on {bind}: {e}")))?;
                probe
                    .local_addr()
                    .map_err(|e| UaError::Invalid(e.to_string()))?
            }
        };
        net_config.udp.iter_mut().for_each(|a| *a = local);
        net_config.tcp.iter_mut().for_each(|a| *a = local);
        let mut core_config = CoreConfig::new(config.account.clone(), local, rand::random());
        core_config.ring_timeout = config.ring_timeout;
        let core = UaCore::new(core_config);
        let (handle, outputs) = net::Driver::bind(net_config, core)
            .await
            .map_err(|e| UaError::Invalid(format!("cannot start SIP on {local}: {e}")))?;
        let (events, events_rx) = mpsc::unbounded_channel();
        let (media_events, media_rx) = mpsc::unbounded_channel();
        let phone = Phone {
            inner: Arc::new(Inner {
                handle,
                sessions: Mutex::new(HashMap::new()),
                settings: Mutex::new(Settings {
                    source: AudioSource::Silence,
                    sink: AudioSink::Discard,
                    volume: 8,
                    dtmf_detection: true,
                    auto_record: None,
                    channel: OutputChannel::Handset,
                    channel_devices: HashMap::new(),
                }),
                media: MediaConfig {
                    ip,
                    ports: config.rtp_ports,
                },
                events,
                media_events,
                local,
            }),
        };
        tokio::spawn(pump(Arc::downgrade(&phone.inner), outputs, media_rx));
        Ok((phone, Events(events_rx)))
    }

    /// The SIP socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut UaCore, std::time::Instant) -> R + Send + 'static,
    ) -> Result<R, UaError> {
        self.inner.handle.with_now(f).await.map_err(stopped)
    }

    /// Registers and keeps the registration refreshed; progress arrives as
    /// [`Event::Registration`].
    pub async fn register(&self) -> Result<(), UaError> {
        self.with(|c, now| c.register(now)).await?
    }

    /// Removes the registration (`Expires: 0`).
    pub async fn unregister(&self) -> Result<(), UaError> {
        self.with(|c, now| c.unregister(now)).await
    }

    pub async fn registration(&self) -> Result<Registration, UaError> {
        self.with(|c, _| c.registration().clone()).await
    }

    async fn bind_media(
        &self,
        call_video: bool,
    ) -> Result<
        (
            Arc<MediaSession>,
            LocalMedia,
            mpsc::UnboundedReceiver<MediaEvent>,
        ),
        UaError,
    > {
        let (tx, rx) = mpsc::unbounded_channel();
        let session = MediaSession::bind(&self.inner.media, tx)
            .await
            .map_err(media_err)?;
        let video = if call_video {
            Some(session.bind_video(None).await.map_err(media_err)?)
        } else {
            None
        };
        let local = LocalMedia {
            audio: session.local_addr(),
            video,
        };
        {
            let s = lock(&self.inner.settings);
            let _ = session.set_source(s.source.clone());
            let _ = session.set_sink(s.sink.clone());
            session.set_volume(s.volume);
            session.set_dtmf_detection(s.dtmf_detection);
        }
        Ok((Arc::new(session), local, rx))
    }

    /// Tags the session's events with its call for the pump. (The session
    /// itself was put in `sessions` inside the driver task, before the core
    /// could emit any action for the call.)
    fn forward_media_events(&self, call: CallId, mut rx: mpsc::UnboundedReceiver<MediaEvent>) {
        let out = self.inner.media_events.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if out.send((call, e)).is_err() {
                    break;
                }
            }
        });
    }

    /// Calls `target`: a number in the account's domain (`1002`), `user@host`
    /// or a SIP URI. `video` adds a video line (pass-through).
    pub async fn call(&self, target: &str, video: bool) -> Result<Call, UaError> {
        let (session, local, rx) = self.bind_media(video).await?;
        let target = target.to_owned();
        let inner = self.inner.clone();
        let id = self
            .with(move |c, now| {
                let id = c.call(now, &target, local, video)?;
                // Known to the pump before any of the call's actions reach it.
                lock(&inner.sessions).insert(id, session);
                Ok::<_, UaError>(id)
            })
            .await??;
        self.forward_media_events(id, rx);
        Ok(self.handle(id))
    }

    /// The handle of call `id`.
    pub fn handle(&self, id: CallId) -> Call {
        Call {
            id,
            phone: self.clone(),
        }
    }

    /// Answers a ringing call (`video`: also its video line). Accepting a
    /// waiting call puts the established one on hold.
    pub async fn accept(&self, call: CallId, video: bool) -> Result<(), UaError> {
        let wants_video = video && self.with(move |c, _| c.offers_video(call)).await?;
        let (session, local, rx) = match self.bind_media(wants_video).await {
            Ok(m) => m,
            Err(e) => {
                self.with(move |c, now| c.unreachable(now, call)).await?;
                return Err(e);
            }
        };
        let inner = self.inner.clone();
        self.with(move |c, now| {
            c.accept(now, call, local, wants_video)?;
            lock(&inner.sessions).insert(call, session);
            Ok::<_, UaError>(())
        })
        .await??;
        self.forward_media_events(call, rx);
        Ok(())
    }

    /// Rejects a ringing call with `code` (486 Busy Here or 603 Decline).
    pub async fn reject(&self, call: CallId, code: u16) -> Result<(), UaError> {
        self.with(move |c, now| c.reject(now, call, code)).await?
    }

    /// Stops alerting without answering.
    pub async fn ignore(&self, call: CallId) -> Result<(), UaError> {
        self.with(move |c, _| c.ignore(call)).await?
    }

    /// Forwards a ringing call (302) to `target`.
    pub async fn forward(&self, call: CallId, target: &str) -> Result<(), UaError> {
        let target = target.to_owned();
        self.with(move |c, now| c.forward(now, call, &target))
            .await?
    }

    /// Ends a call (CANCEL, reject or BYE as its state needs).
    pub async fn end(&self, call: CallId) -> Result<(), UaError> {
        self.with(move |c, now| c.end(now, call)).await?
    }

    pub async fn hold(&self, call: CallId) -> Result<(), UaError> {
        self.with(move |c, now| c.hold(now, call)).await?
    }

    pub async fn unhold(&self, call: CallId) -> Result<(), UaError> {
        self.with(move |c, now| c.unhold(now, call)).await?
    }

    pub async fn video_start(&self, call: CallId) -> Result<(), UaError> {
        self.with(move |c, now| c.video(now, call, true)).await?
    }

    pub async fn video_stop(&self, call: CallId) -> Result<(), UaError> {
        self.with(move |c, now| c.video(now, call, false)).await?
    }

    /// Blind transfer of an established call to `target` (REFER).
    pub async fn transfer(&self, call: CallId, target: &str) -> Result<(), UaError> {
        let target = target.to_owned();
        self.with(move |c, now| c.transfer(now, call, &target))
            .await?
    }

    fn session(&self, call: CallId) -> Result<Arc<MediaSession>, UaError> {
        lock(&self.inner.sessions)
            .get(&call)
            .cloned()
            .ok_or(UaError::NoCall(call))
    }

    /// Runs a media-only operation in the call's operation slot.
    async fn media_op<F, Fut>(&self, call: CallId, op: Op, f: F) -> Result<(), UaError>
    where
        F: FnOnce(Arc<MediaSession>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let session = self.session(call)?;
        self.with(move |c, _| c.begin_op(call, op)).await??;
        let handle = self.inner.handle.clone();
        tokio::spawn(async move {
            let result = f(session).await;
            let _ = handle.with(move |c| c.finish_op(call, result)).await;
        });
        Ok(())
    }

    /// Stops sending the source (silence goes instead).
    pub async fn mute(&self, call: CallId) -> Result<(), UaError> {
        self.media_op(call, Op::Mute, |s| async move {
            s.set_mute(true);
            Ok(())
        })
        .await
    }

    pub async fn unmute(&self, call: CallId) -> Result<(), UaError> {
        self.media_op(call, Op::Unmute, |s| async move {
            s.set_mute(false);
            Ok(())
        })
        .await
    }

    /// Sends `digits` (0-9 A-D * #, at most 32), each `duration_ms` long:
    /// RFC 4733 events (in-band tones when the peer takes none) or SIP INFO.
    pub async fn send_dtmf(
        &self,
        call: CallId,
        digits: &str,
        duration_ms: u32,
        mode: DtmfMode,
    ) -> Result<(), UaError> {
        crate::core::check_digits(digits)?;
        let digits = digits.to_owned();
        match mode {
            DtmfMode::Info => {
                self.with(move |c, now| c.send_dtmf_info(now, call, &digits, duration_ms))
                    .await?
            }
            DtmfMode::Rfc4733 => {
                self.media_op(call, Op::SendDtmf, move |s| async move {
                    s.send_dtmf(&digits, duration_ms)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await
            }
        }
    }

    /// Starts recording the call (RX, TX or MIX) to a WAV file and/or a stream.
    pub async fn start_recording(
        &self,
        call: CallId,
        options: RecordOptions,
    ) -> Result<(), UaError> {
        self.media_op(call, Op::RecordStart, move |s| async move {
            s.start_recording(options).await.map_err(|e| e.to_string())
        })
        .await
    }

    pub async fn stop_recording(&self, call: CallId) -> Result<(), UaError> {
        self.media_op(call, Op::RecordStop, move |s| async move {
            s.stop_recording()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// The call's RTP/RTCP statistics, WebRTC-stats style (the CPaaS seed's
    /// `getRTPStatistics`), with `"call"` added.
    pub async fn stats(&self, call: CallId) -> Result<serde_json::Value, UaError> {
        let s = self.session(call)?;
        let mut v = s.stats().await.map_err(media_err)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("call".into(), serde_json::json!(call));
        }
        Ok(v)
    }

    /// Replaces what one call sends.
    pub fn set_source(&self, call: CallId, source: AudioSource) -> Result<(), UaError> {
        self.session(call)?.set_source(source).map_err(media_err)
    }

    /// Replaces where one call's audio goes.
    pub fn set_sink(&self, call: CallId, sink: AudioSink) -> Result<(), UaError> {
        self.session(call)?.set_sink(sink).map_err(media_err)
    }

    /// What new calls send (default: silence). A WAV that cannot be read is an error.
    pub fn set_default_source(&self, source: AudioSource) -> Result<(), UaError> {
        if let AudioSource::Wav { path, .. } = &source {
            let bytes = std::fs::read(path)
                .map_err(|e| UaError::Invalid(format!("{}: {e}", path.display())))?;
            media::wav::decode(&bytes)
                .map_err(|e| UaError::Invalid(format!("{}: {e}", path.display())))?;
        }
        lock(&self.inner.settings).source = source;
        Ok(())
    }

    /// Where new calls' audio goes (default: discarded).
    pub fn set_default_sink(&self, sink: AudioSink) {
        lock(&self.inner.settings).sink = sink;
    }

    /// Output volume 0-11 (the embedded seed's `setVolume`), for every call.
    pub fn set_volume(&self, level: u8) -> Result<(), UaError> {
        if level > 11 {
            return Err(UaError::Invalid(format!("volume {level}: use 0 to 11")));
        }
        lock(&self.inner.settings).volume = level;
        for s in lock(&self.inner.sessions).values() {
            s.set_volume(level);
        }
        Ok(())
    }

    pub fn volume(&self) -> u8 {
        lock(&self.inner.settings).volume
    }

    /// DTMF detection on or off (the embedded seed's `dtmfDetEnable`), for every call.
    pub async fn set_dtmf_detection(&self, on: bool) -> Result<(), UaError> {
        lock(&self.inner.settings).dtmf_detection = on;
        for s in lock(&self.inner.sessions).values() {
            s.set_dtmf_detection(on);
        }
        self.with(move |c, _| c.set_dtmf_detection(on)).await
    }

    /// Auto-answer after `seconds` (0-255; 0: at once), or off.
    pub async fn set_auto_answer(&self, seconds: Option<u8>) -> Result<(), UaError> {
        self.with(move |c, _| c.set_auto_answer(seconds)).await
    }

    /// Auto-reject every incoming call (603).
    pub async fn set_auto_reject(&self, on: bool) -> Result<(), UaError> {
        self.with(move |c, _| c.set_auto_reject(on)).await
    }

    /// Records every call from the moment it is established, or stops doing so.
    pub fn set_auto_record(&self, auto: Option<AutoRecord>) {
        lock(&self.inner.settings).auto_record = auto;
    }

    /// Maps an output channel to a sound device name (`None`: the default device).
    pub fn map_output_channel(&self, channel: OutputChannel, device: Option<String>) {
        lock(&self.inner.settings)
            .channel_devices
            .insert(channel, device);
    }

    /// Switches the output channel (the embedded seed's `setChannel`). With
    /// the `device` feature, calls playing to a sound device move to the
    /// channel's device.
    pub fn set_output_channel(&self, channel: OutputChannel) {
        let mut s = lock(&self.inner.settings);
        s.channel = channel;
        #[cfg(feature = "device")]
        {
            if matches!(s.sink, AudioSink::Device(_)) {
                let device = s.channel_devices.get(&channel).cloned().flatten();
                s.sink = AudioSink::Device(device.clone());
                for session in lock(&self.inner.sessions).values() {
                    let _ = session.set_sink(AudioSink::Device(device.clone()));
                }
            }
        }
    }

    pub fn output_channel(&self) -> OutputChannel {
        lock(&self.inner.settings).channel
    }

    /// Call forwarding (the embedded seed's `setFw`): register a rule.
    pub async fn forwarding_register(
        &self,
        condition: ForwardCondition,
        target: &str,
        no_reply_after: Duration,
    ) -> Result<(), UaError> {
        let target = target.to_owned();
        self.with(move |c, _| c.forwarding_register(condition, &target, no_reply_after))
            .await?
    }

    pub async fn forwarding_activate(&self, condition: ForwardCondition) -> Result<(), UaError> {
        self.with(move |c, _| c.forwarding_activate(condition))
            .await?
    }

    pub async fn forwarding_deactivate(&self, condition: ForwardCondition) -> Result<(), UaError> {
        self.with(move |c, _| c.forwarding_deactivate(condition))
            .await?
    }

    pub async fn forwarding_query(
        &self,
        condition: ForwardCondition,
    ) -> Result<Option<ForwardRule>, UaError> {
        self.with(move |c, _| c.forwarding_query(condition)).await
    }

    pub async fn forwarding_erase(&self, condition: ForwardCondition) -> Result<bool, UaError> {
        self.with(move |c, _| c.forwarding_erase(condition)).await
    }

    /// The state of a call.
    pub async fn state(&self, call: CallId) -> Result<CallState, UaError> {
        self.with(move |c, _| c.call_state(call).cloned().ok_or(UaError::NoCall(call)))
            .await?
    }

    /// Calls that have not ended.
    pub async fn calls(&self) -> Result<Vec<CallId>, UaError> {
        self.with(|c, _| c.live_calls()).await
    }

    /// Ends every call, removes the registration (waiting up to 2 s for the
    /// registrar's answer) and stops.
    pub async fn shutdown(&self) {
        if let Ok(calls) = self.calls().await {
            for call in calls {
                let _ = self.end(call).await;
            }
        }
        let registered = matches!(
            self.registration().await,
            Ok(Registration::Registered { .. } | Registration::Registering)
        );
        if registered {
            let _ = self.unregister().await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while tokio::time::Instant::now() < deadline {
                if matches!(
                    self.registration().await,
                    Ok(Registration::Unregistered | Registration::Failed { .. })
                ) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Let the BYEs/CANCELs leave before the sockets close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sessions: Vec<Arc<MediaSession>> =
            lock(&self.inner.sessions).drain().map(|(_, s)| s).collect();
        for s in sessions {
            if let Ok(s) = Arc::try_unwrap(s) {
                s.close().await;
            }
        }
        let _ = self.inner.handle.shutdown().await;
    }
}

impl Call {
    pub fn id(&self) -> CallId {
        self.id
    }
    pub fn phone(&self) -> &Phone {
        &self.phone
    }
    pub async fn accept(&self, video: bool) -> Result<(), UaError> {
        self.phone.accept(self.id, video).await
    }
    pub async fn reject(&self, code: u16) -> Result<(), UaError> {
        self.phone.reject(self.id, code).await
    }
    pub async fn ignore(&self) -> Result<(), UaError> {
        self.phone.ignore(self.id).await
    }
    pub async fn forward(&self, target: &str) -> Result<(), UaError> {
        self.phone.forward(self.id, target).await
    }
    pub async fn end(&self) -> Result<(), UaError> {
        self.phone.end(self.id).await
    }
    pub async fn hold(&self) -> Result<(), UaError> {
        self.phone.hold(self.id).await
    }
    pub async fn unhold(&self) -> Result<(), UaError> {
        self.phone.unhold(self.id).await
    }
    pub async fn mute(&self) -> Result<(), UaError> {
        self.phone.mute(self.id).await
    }
    pub async fn unmute(&self) -> Result<(), UaError> {
        self.phone.unmute(self.id).await
    }
    pub async fn video_start(&self) -> Result<(), UaError> {
        self.phone.video_start(self.id).await
    }
    pub async fn video_stop(&self) -> Result<(), UaError> {
        self.phone.video_stop(self.id).await
    }
    pub async fn send_dtmf(
        &self,
        digits: &str,
        duration_ms: u32,
        mode: DtmfMode,
    ) -> Result<(), UaError> {
        self.phone
            .send_dtmf(self.id, digits, duration_ms, mode)
            .await
    }
    pub async fn transfer(&self, target: &str) -> Result<(), UaError> {
        self.phone.transfer(self.id, target).await
    }
    pub async fn start_recording(&self, options: RecordOptions) -> Result<(), UaError> {
        self.phone.start_recording(self.id, options).await
    }
    pub async fn stop_recording(&self) -> Result<(), UaError> {
        self.phone.stop_recording(self.id).await
    }
    pub async fn stats(&self) -> Result<serde_json::Value, UaError> {
        self.phone.stats(self.id).await
    }
    pub async fn state(&self) -> Result<CallState, UaError> {
        self.phone.state(self.id).await
    }
}

/// Carries the core's outputs and the media sessions' events to the
/// application, and performs the media actions.
async fn pump(
    inner: std::sync::Weak<Inner>,
    mut outputs: mpsc::UnboundedReceiver<Output>,
    mut media_rx: mpsc::UnboundedReceiver<(CallId, MediaEvent)>,
) {
    loop {
        tokio::select! {
            o = outputs.recv() => {
                let Some(o) = o else { break };
                let Some(inner) = inner.upgrade() else { break };
                on_output(&Phone { inner }, o);
            }
            m = media_rx.recv() => {
                let Some((call, e)) = m else { break };
                let Some(inner) = inner.upgrade() else { break };
                let event = match e {
                    MediaEvent::Dtmf { digit, duration_ms, method } => Event::Dtmf { call, digit, method, duration_ms },
                    MediaEvent::RecordingFinished { path, mode, duration_ms } => Event::Recording {
                        call,
                        path: path.map(|p| p.display().to_string()),
                        mode,
                        duration_ms,
                    },
                    MediaEvent::SourceFinished => Event::PlaybackFinished { call },
                    MediaEvent::Error(message) => Event::Error { call: Some(call), message },
                };
                let _ = inner.events.send(event);
            }
        }
    }
}

fn on_output(phone: &Phone, o: Output) {
    let inner = &phone.inner;
    match o {
        Output::Event(e) => {
            if let Event::State {
                call,
                state: CallState::Established,
            } = &e
            {
                let auto = lock(&inner.settings).auto_record.clone();
                if let Some(auto) = auto {
                    let path = PathBuf::from(auto.path.replace("{call}", &call.to_string()));
                    let (phone, call, mode) = (phone.clone(), *call, auto.mode);
                    tokio::spawn(async move {
                        if let Ok(s) = phone.session(call) {
                            let options = RecordOptions {
                                mode,
                                path: Some(path),
                                stream: None,
                            };
                            if let Err(e) = s.start_recording(options).await {
                                let _ = phone.inner.events.send(Event::Error {
                                    call: Some(call),
                                    message: format!("automatic recording: {e}"),
                                });
                            }
                        }
                    });
                }
            }
            let _ = inner.events.send(e);
        }
        Output::Action(Action::Media { call, params }) => {
            if let Ok(s) = phone.session(call) {
                s.configure(params);
            }
        }
        Output::Action(Action::Video { call, params }) => {
            if let Ok(s) = phone.session(call) {
                s.configure_video(params);
            }
        }
        Output::Action(Action::Close { call }) => {
            let session = lock(&inner.sessions).remove(&call);
            if let Some(session) = session {
                tokio::spawn(async move {
                    let mut session = session;
                    // An operation may still hold the session for a moment.
                    for _ in 0..100 {
                        match Arc::try_unwrap(session) {
                            Ok(s) => {
                                s.close().await;
                                return;
                            }
                            Err(s) => session = s,
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                });
            }
        }
        Output::Action(Action::AutoAnswer { call }) => {
            let phone = phone.clone();
            tokio::spawn(async move {
                if let Err(e) = phone.accept(call, true).await {
                    let _ = phone.inner.events.send(Event::Error {
                        call: Some(call),
                        message: format!("auto-answer: {e}"),
                    });
                }
            });
        }
    }
}
