//! `dialtone serve`: open the store, start the switch, the media relay and
//! the HTTP API, and stop them in order on SIGINT/SIGTERM.
//!
//! ```text
//!  SIP (UDP/TCP) ─▶ net::Driver ─▶ engine::Engine ──events──▶ pump ─▶ store writer (batched upserts)
//!                        ▲                                     │  ├─▶ Emitter ─▶ broadcast ─▶ /v1/events
//!  HTTP API ── SwitchHandle::with_now ─┘                       │  │      └────▶ webhook outbox ─▶ delivery worker
//!                                                              │  └─▶ net::rtp::Relay (media commands)
//! ```

use crate::api::{app, AppState};
use crate::config::Config;
use crate::emit::Emitter;
use crate::playback::PlayOutcome;
use crate::recordings::Recordings;
use crate::switch::{EngineIo, SwitchEvent, SwitchHandle};
use crate::webhooks::{WebhookService, Webhooks};
use chrono::Utc;
use model::{EventType, ExtensionSecret, Origin};
use net::rtp::{LegId, Relay, RtpPool};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// A failure to start, for the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("data directory {path}: {message}")]
    DataDir { path: String, message: String },
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot listen for SIP on {addr}: {message}")]
    Sip { addr: SocketAddr, message: String },
    #[error("cannot listen for HTTP on {addr}: {message}")]
    Http { addr: SocketAddr, message: String },
    #[error("RTP ports {range}: {message}")]
    Rtp { range: String, message: String },
    /// `moh_file` is not a readable WAV, or `media_dir` cannot be made.
    #[error("{setting} {path}: {message}")]
    Media {
        setting: &'static str,
        path: String,
        message: String,
    },
    /// The webhook delivery service cannot start.
    #[error("webhooks: {0}")]
    Webhooks(String),
}

/// How long shutdown waits for far ends to answer our BYEs and CANCELs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Runs the server until `stop` completes.
pub async fn run(
    config: Config,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let server = Server::start(config).await?;
    stop.await;
    server.stop().await;
    Ok(())
}

/// A running server (for tests that start one in-process).
#[derive(Debug)]
pub struct Server {
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
    pub http: SocketAddr,
    pub api_key: String,
    switch: SwitchHandle,
    relay: Relay,
    recordings: Arc<Recordings>,
    http_stop: tokio::sync::oneshot::Sender<()>,
    http_task: tokio::task::JoinHandle<()>,
    pump_task: tokio::task::JoinHandle<()>,
    webhooks: WebhookService,
}

impl Server {
    pub async fn start(config: Config) -> Result<Server, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            message: e.to_string(),
        })?;
        let store: Arc<dyn store::Store> =
            Arc::new(store::SqliteStore::open(&config.data_dir).await?);
        let closed = store.fail_active_calls(Utc::now()).await?;
        if closed > 0 {
            eprintln!("dialtone: {closed} call(s) active at the last stop were closed as failed");
        }
        let api_key = api_key(&*store, &config).await?;
        let auth_secret = secret(&*store, "nonce_secret").await?;
        let webhook_secret = webhook_secret(&*store, &config).await?;
        sync_config_extensions(&*store, &config).await?;
        let extensions = store.all_extensions().await?;

        let public_ip = config.public_ip.unwrap_or_else(|| {
            if config.sip_listen.ip().is_unspecified() {
                default_route_ip()
            } else {
                config.sip_listen.ip()
            }
        });
        let range = format!("{}-{}", config.rtp_ports.start(), config.rtp_ports.end());
        let rtp_bind = if config.sip_listen.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            config.sip_listen.ip()
        };
        let pool =
            RtpPool::new(rtp_bind, config.rtp_ports.clone()).map_err(|e| StartError::Rtp {
                range: range.clone(),
                message: e.to_string(),
            })?;
        let relay = Relay::new(pool, 1).map_err(|e| StartError::Rtp {
            range,
            message: e.to_string(),
        })?;
        let media_error = |setting, path: &std::path::Path, message: String| StartError::Media {
            setting,
            path: path.display().to_string(),
            message,
        };
        if let Some(path) = config.moh_file.clone() {
            let music = tokio::task::spawn_blocking({
                let path = path.clone();
                move || crate::playback::load_hold_music(&path)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            let music = music.map_err(|m| {
                media_error(
                    "moh_file",
                    &path,
                    format!("{m} (a PCM or G.711 WAV file is needed)"),
                )
            })?;
            relay.set_hold_music(music);
        }
        std::fs::create_dir_all(&config.media_dir)
            .map_err(|e| media_error("media_dir", &config.media_dir, e.to_string()))?;
        let fetcher = crate::playback::Fetcher::new(&config.media_dir)
            .map_err(|m| media_error("media_dir", &config.media_dir, m))?;
        let tts_dir = config.data_dir.join("tts");
        let espeak = Arc::new(crate::tts::EspeakNg::new(&config.tts_command));
        let tts = crate::tts::TtsService::new(espeak.clone(), &tts_dir, crate::tts::CACHE_BYTES)
            .map_err(|e| StartError::DataDir {
                path: tts_dir.display().to_string(),
                message: e.to_string(),
            })?;
        let tts = Arc::new(tts);
        // Said once at start, without holding it up: talk needs espeak-ng.
        tokio::spawn(async move {
            if let Err(e) = espeak.probe().await {
                eprintln!("dialtone: talk will answer 503 until this is fixed: {e}");
            }
        });

        let mut sip = sip_core::EndpointConfig::new(
            SocketAddr::new(public_ip, config.sip_listen.port()),
            rand::random(),
        );
        sip.user_agent = Some("Dialtone".to_owned());
        let engine_config = engine::EngineConfig {
            sip,
            public_ip,
            realm: config.realm.clone(),
            auth_secret,
            auth_algorithms: config
                .auth_algorithms
                .iter()
                .map(|a| match a.as_str() {
                    "MD5" => sip::digest::Algorithm::Md5,
                    _ => sip::digest::Algorithm::Sha256,
                })
                .collect(),
            trusted_peers: config.trusted_peers.clone(),
            ring_timeout: config.ring_timeout,
            max_call_duration: config.max_call_duration,
            rng_seed: rand::random(),
            transcode: if config.transcoding {
                engine::default_transcode_codecs()
            } else {
                Vec::new()
            },
        };
        let wall = engine::WallClock {
            origin: Instant::now(),
            origin_utc: Utc::now(),
        };
        let released = crate::switch::Released::default();
        let mut engine = engine::Engine::new(
            engine_config,
            wall,
            Box::new(PoolPorts {
                relay: relay.clone(),
                released: released.clone(),
            }),
        );
        for e in extensions {
            engine.upsert_extension(e);
        }
        for n in crate::api::routing::numbers(&*store).await? {
            engine.set_number(&n.number, n.flow_id);
        }
        engine.set_trunks(crate::api::routing::trunk_routes(&*store).await?);
        let (handle, events) = net::Driver::bind(
            net::Config::listen(config.sip_listen),
            EngineIo(engine, released),
        )
        .await
        .map_err(|e| StartError::Sip {
            addr: config.sip_listen,
            message: e.to_string(),
        })?;
        let sip_udp = handle.local_addrs().udp[0];
        let sip_tcp = handle.local_addrs().tcp[0];
        let switch = SwitchHandle::new(handle);

        let (broadcast_tx, _) = broadcast::channel(4096);
        let (webhooks, outbox) = Webhooks::new(config.webhook_uri.clone());
        // Pending deliveries of an earlier run are resumed at once.
        let webhook_service =
            WebhookService::start(store.clone(), outbox, &webhooks, &webhook_secret)
                .map_err(StartError::Webhooks)?;
        let emitter = Emitter::new(broadcast_tx.clone()).with_webhooks(webhooks.clone());
        let recordings = Arc::new(
            Recordings::new(
                &config.data_dir,
                store.clone(),
                relay.clone(),
                switch.clone(),
                emitter.clone(),
            )
            .map_err(|e| StartError::DataDir {
                path: config.data_dir.join("recordings").display().to_string(),
                message: e.to_string(),
            })?,
        );
        let repaired = recordings.repair_unfinished().await?;
        if repaired > 0 {
            eprintln!("dialtone: {repaired} recording(s) cut off at the last stop were repaired");
        }
        let final_stats = crate::api::FinalStats::default();
        let plays = crate::playback::Plays::default();
        let flows = crate::flows::Flows::new(emitter.clone());
        let amds = crate::amd::Amds::default();
        let pump_task = tokio::spawn(pump(
            events,
            store.clone(),
            Outputs {
                emitter,
                relay: relay.clone(),
                switch: switch.clone(),
                final_stats: final_stats.clone(),
                recordings: recordings.clone(),
                plays: plays.clone(),
                amds: amds.clone(),
                dtmf_interworking: config.dtmf_interworking,
                flows: flows.clone(),
                webhooks: webhooks.clone(),
            },
        ));

        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .map_err(|e| StartError::Http {
                addr: config.http_listen,
                message: e.to_string(),
            })?;
        let http = listener.local_addr().map_err(|e| StartError::Http {
            addr: config.http_listen,
            message: e.to_string(),
        })?;
        let state = Arc::new(AppState {
            store,
            switch: switch.clone(),
            events: broadcast_tx,
            api_key: api_key.clone(),
            relay: relay.clone(),
            public_ip,
            final_stats,
            recordings: recordings.clone(),
            fetcher,
            plays,
            flows: flows.clone(),
            webhooks,
            tts,
            amds,
        });
        flows.attach(&state);
        let (http_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let http_task = tokio::spawn(async move {
            let _ = axum::serve(listener, app(state))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Server {
            sip_udp,
            sip_tcp,
            http,
            api_key,
            switch,
            relay,
            recordings,
            http_stop,
            http_task,
            pump_task,
            webhooks: webhook_service,
        })
    }

    /// Ends every call (recorded `hangup_by: local`), then stops SIP, the
    /// relay and HTTP.
    pub async fn stop(self) {
        self.switch.shutdown_calls(SHUTDOWN_GRACE).await;
        // Recordings end with their calls; any still running end now.
        self.recordings.stop_all(SHUTDOWN_GRACE).await;
        let _ = self.switch.net().shutdown().await;
        // The driver's event channel is closed now: the pump writes what is
        // left and ends.
        let _ = self.pump_task.await;
        // Every event is numbered now: the outbox gets the last ones, then
        // the deliveries stop (what is pending goes at the next start).
        self.webhooks.stop().await;
        self.relay.shutdown();
        let _ = self.http_stop.send(());
        let _ = self.http_task.await;
    }
}

/// Where the event pump's events go besides the store.
struct Outputs {
    emitter: Emitter,
    relay: Relay,
    switch: SwitchHandle,
    final_stats: crate::api::FinalStats,
    recordings: Arc<Recordings>,
    plays: crate::playback::Plays,
    amds: crate::amd::Amds,
    dtmf_interworking: crate::config::DtmfInterworking,
    flows: crate::flows::Flows,
    webhooks: Webhooks,
}

/// Engine events → media relay and event stream at once, in order; call
/// records → the store writer (see [`store_writer`]).
async fn pump(
    mut events: mpsc::UnboundedReceiver<SwitchEvent>,
    store: Arc<dyn store::Store>,
    outputs: Outputs,
) {
    let Outputs {
        emitter,
        relay,
        switch,
        final_stats,
        recordings,
        plays,
        amds,
        dtmf_interworking,
        flows,
        webhooks,
    } = outputs;
    let interworker =
        crate::dtmf::Interworker::start(relay.clone(), switch.clone(), dtmf_interworking);
    let (records, records_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(store_writer(records_rx, store));
    let mut batch = Vec::new();
    let mut relay_events = relay.take_events();
    loop {
        // Relay events (DTMF) go out as they come; the engine's in batches.
        let from_relay = async {
            match relay_events.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            n = events.recv_many(&mut batch, PUMP_BATCH) => n,
            Some(ev) = from_relay => {
                relay_event(ev, &emitter, &recordings, &plays, &amds, &interworker);
                continue;
            }
        };
        if n == 0 {
            break;
        }
        for event in batch.drain(..) {
            let event = match event {
                SwitchEvent::Engine(e) => e,
                SwitchEvent::ReleasePort(port) => {
                    relay.pool().release(port);
                    continue;
                }
            };
            match event {
                engine::Event::Call { kind, call } => {
                    if kind == EventType::CallCreated {
                        switch.count_created();
                        // A chained call's events go where its master's go.
                        if let Some(master) = call.master_call_id {
                            webhooks.link(call.id, master);
                        }
                    }
                    if kind == EventType::CallHangup {
                        // A play cut short by the hangup is reported first.
                        for (play, record) in plays.remove_call(call.id) {
                            play_event(play, &record, Some(PlayOutcome::Hangup), &emitter);
                        }
                        amds.cancel_call(call.id);
                    }
                    emitter.emit(call.id, kind, true, || {
                        serde_json::to_value(&call).unwrap_or_default()
                    });
                    let _ = records.send(call);
                }
                engine::Event::Media(cmd) => media(&relay, &final_stats, cmd),
                engine::Event::Dtmf {
                    call,
                    digit,
                    duration_ms,
                } => dtmf_event(call, digit, duration_ms, "sip_info", &emitter),
                engine::Event::Incoming { call, flow } => flows.incoming(call, flow),
                engine::Event::TrunkRegistration(r) => switch.note_trunk_registration(&r),
                _ => {}
            }
        }
    }
    // The engine is gone: the writer stores what is left and ends.
    drop(records);
    let _ = writer.await;
}

/// A relay event as an envelope on the event stream, numbered in its
/// call's sequence.
fn relay_event(
    ev: net::rtp::RelayEvent,
    emitter: &Emitter,
    recordings: &Arc<Recordings>,
    plays: &crate::playback::Plays,
    amds: &crate::amd::Amds,
    interworker: &crate::dtmf::Interworker,
) {
    use net::rtp::{DtmfVia, PlayEnd, RelayEvent};
    match ev {
        RelayEvent::Dtmf {
            leg,
            digit,
            duration_ms,
        } => {
            let call = Uuid::from_u128(leg.0);
            dtmf_event(call, digit, Some(duration_ms), "rfc4733", emitter);
            interworker.hand_on(leg, digit, duration_ms, DtmfVia::Rfc4733);
        }
        RelayEvent::InbandDtmf {
            leg,
            digit,
            duration_ms,
        } => {
            let call = Uuid::from_u128(leg.0);
            dtmf_event(call, digit, Some(duration_ms), "inband", emitter);
            interworker.hand_on(leg, digit, duration_ms, DtmfVia::Inband);
        }
        RelayEvent::RecordingFinished(done) => {
            let recordings = recordings.clone();
            tokio::spawn(async move { recordings.finalize(done).await });
        }
        RelayEvent::PlayStarted { play, .. } => {
            if let Some(record) = plays.get(play) {
                play_event(play, &record, None, emitter);
            }
        }
        RelayEvent::PlayFinished { play, reason, .. } => {
            let outcome = match reason {
                PlayEnd::Finished => PlayOutcome::Finished,
                PlayEnd::Stopped => PlayOutcome::Stopped,
                _ => PlayOutcome::Hangup,
            };
            // Gone already when the call's hangup reported it.
            if let Some(record) = plays.finish(play, outcome) {
                play_event(play, &record, Some(outcome), emitter);
            }
        }
        RelayEvent::Amd { leg, verdict } => {
            let call = Uuid::from_u128(leg.0);
            tracing::debug!(%call, ?verdict, "answering-machine detection");
            emitter.emit(call, EventType::AmdResult, false, || {
                crate::amd::event_data(call, &verdict)
            });
            amds.resolve(call, verdict);
        }
        _ => {}
    }
}

/// `play_started` (no `reason`) or `play_finished`.
fn play_event(
    play: net::rtp::PlayId,
    record: &crate::playback::PlayRecord,
    reason: Option<PlayOutcome>,
    emitter: &Emitter,
) {
    let mut data = serde_json::Map::new();
    data.insert("call_id".into(), serde_json::json!(record.call));
    data.insert("play_id".into(), serde_json::json!(play.0));
    record.describe(&mut data);
    let kind = match reason {
        Some(reason) => {
            data.insert("reason".into(), reason.as_str().into());
            EventType::PlayFinished
        }
        None => EventType::PlayStarted,
    };
    let data = serde_json::Value::Object(data);
    tracing::debug!(call = %record.call, play = play.0, ?reason, "play event");
    emitter.emit(record.call, kind, false, || data);
}

/// A `dtmf_received` envelope, numbered in its call's sequence.
fn dtmf_event(call: Uuid, digit: char, duration_ms: Option<u32>, method: &str, emitter: &Emitter) {
    tracing::debug!(%call, %digit, ?duration_ms, method, "dtmf received");
    // Only a call with a sequence (live, or just ended) gets the event.
    emitter.emit(call, EventType::DtmfReceived, false, || {
        serde_json::json!({
            "call_id": call,
            "digit": digit.to_string(),
            "duration": duration_ms,
            "method": method,
        })
    });
}

/// Most events the pump takes in one go.
const PUMP_BATCH: usize = 512;

/// How long the store writer gathers changes before writing them: a crash
/// loses at most this much (plus one write) of call history, and under
/// load each call record is written a few times a second at most instead
/// of on every change.
const STORE_WINDOW: Duration = Duration::from_millis(100);

/// Most call records in one write.
const STORE_BATCH: usize = 1024;

/// Writes call records: whatever changed within [`STORE_WINDOW`] of the
/// first change goes in one statement (or one transaction), each call once
/// in its latest state, in first-change order.
async fn store_writer(
    mut records: mpsc::UnboundedReceiver<model::Call>,
    store: Arc<dyn store::Store>,
) {
    let mut dirty: Vec<model::Call> = Vec::new();
    let mut slot: HashMap<Uuid, usize> = HashMap::new();
    let mut incoming = Vec::new();
    let mut open = true;
    while open {
        match records.recv().await {
            Some(first) => incoming.push(first),
            None => break,
        }
        let until = tokio::time::Instant::now() + STORE_WINDOW;
        loop {
            for call in incoming.drain(..) {
                match slot.get(&call.id) {
                    Some(&i) => dirty[i] = call,
                    None => {
                        slot.insert(call.id, dirty.len());
                        dirty.push(call);
                    }
                }
            }
            if dirty.len() >= STORE_BATCH {
                break;
            }
            tokio::select! {
                n = records.recv_many(&mut incoming, STORE_BATCH) => {
                    if n == 0 {
                        open = false;
                        break;
                    }
                }
                () = tokio::time::sleep_until(until) => break,
            }
        }
        if let Err(e) = store.upsert_calls(&dirty).await {
            tracing::error!(calls = dirty.len(), error = %e, "cannot store calls");
        }
        dirty.clear();
        slot.clear();
    }
}

fn leg(id: Uuid) -> LegId {
    LegId(id.as_u128())
}

fn media(relay: &Relay, stats: &crate::api::FinalStats, cmd: engine::MediaCommand) {
    use engine::MediaCommand as M;
    match cmd {
        M::OpenLeg {
            leg: id,
            rtp_port,
            remote_hint,
        } => relay.open_leg(leg(id), rtp_port, remote_hint),
        M::UpdateLeg {
            leg: id,
            remote_hint,
        } => relay.set_remote_hint(leg(id), remote_hint),
        M::Bridge { a, b } => relay.bridge(leg(a), leg(b)),
        M::Unbridge { leg: id } => relay.unbridge(leg(id)),
        M::SetCodec { leg: id, codec } => relay_codec(relay, id, codec),
        M::Mute { leg: id, direction } => {
            use model::MuteDirection as D;
            let hear = matches!(direction, Some(D::In | D::Both));
            let speak = matches!(direction, Some(D::Out | D::Both));
            relay.set_mute(leg(id), hear, speak);
        }
        M::Hold { leg: id, on } => relay.set_hold(leg(id), on),
        M::CloseLeg { leg: id } => {
            if let Some(last) = relay.stats(leg(id)) {
                stats.keep(id, last);
            }
            relay.close_leg(leg(id));
        }
    }
}

/// The engine allocates ports through the relay's pool, which binds the
/// sockets at once so the port can go into an SDP immediately. Releases are
/// deferred to the event pump (see [`crate::switch::Released`]).
struct PoolPorts {
    relay: Relay,
    released: crate::switch::Released,
}

impl engine::PortAllocator for PoolPorts {
    fn allocate(&mut self) -> Option<u16> {
        self.relay.pool().allocate()
    }
    fn release(&mut self, rtp_port: u16) {
        self.released
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rtp_port);
    }
}

/// The admin key: `DIALTONE_API_KEY`, else the one stored in the data
/// directory, else a new one, stored and printed once.
async fn api_key(store: &dyn store::Store, _config: &Config) -> Result<String, StartError> {
    if let Ok(key) = std::env::var("DIALTONE_API_KEY") {
        if !key.is_empty() {
            return Ok(key);
        }
    }
    if let Some(key) = store.meta("api_key").await? {
        return Ok(key);
    }
    let key = random_hex(24);
    store.set_meta("api_key", &key).await?;
    eprintln!("dialtone: generated an API key (printed only this once; set DIALTONE_API_KEY to choose one):");
    eprintln!("    {key}");
    Ok(key)
}

/// The webhook signing secret: `webhook_secret`, else the one stored in
/// the data directory, else a new one, stored. A stored one is printed
/// once, at the first start with a `webhook_uri` (per-call URLs use it
/// too: set `webhook_secret` to know it without a global URL).
async fn webhook_secret(store: &dyn store::Store, config: &Config) -> Result<String, StartError> {
    if let Some(secret) = &config.webhook_secret {
        return Ok(secret.clone());
    }
    let secret = match store.meta("webhook_secret").await? {
        Some(s) => s,
        None => {
            let s = random_hex(32);
            store.set_meta("webhook_secret", &s).await?;
            s
        }
    };
    if config.webhook_uri.is_some() && store.meta("webhook_secret_shown").await?.is_none() {
        eprintln!("dialtone: generated a webhook signing secret (printed only this once; set DIALTONE_WEBHOOK_SECRET to choose one):");
        eprintln!("    {secret}");
        store.set_meta("webhook_secret_shown", "1").await?;
    }
    Ok(secret)
}

async fn secret(store: &dyn store::Store, name: &str) -> Result<[u8; 32], StartError> {
    let parse = |s: &str| -> Option<[u8; 32]> { hex::decode(s).ok()?.try_into().ok() };
    if let Some(v) = store.meta(name).await?.as_deref().and_then(parse) {
        return Ok(v);
    }
    let v: [u8; 32] = rand::random();
    store.set_meta(name, &hex::encode(v)).await?;
    Ok(v)
}

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

/// Makes the store's config-origin extensions match the file: new ones
/// created, changed ones updated, removed ones deleted. API-made
/// extensions are left alone (a clash with one is reported and skipped).
async fn sync_config_extensions(
    store: &dyn store::Store,
    config: &Config,
) -> Result<(), StartError> {
    let now = Utc::now();
    let existing = store.all_extensions().await?;
    for e in &config.extensions {
        let found = existing
            .iter()
            .find(|s| s.extension.extension == e.extension);
        match found {
            Some(s) if s.extension.origin == Origin::Api => {
                eprintln!(
                    "dialtone: extension {} in the config file is ignored: it was created over the API",
                    e.extension
                );
            }
            Some(s) => {
                let mut s = s.clone();
                s.password = e.password.clone();
                s.extension.name = e.name.clone();
                s.extension.static_contact = e.static_contact.clone();
                s.extension.tm_update = now;
                store.update_extension(&s).await?;
            }
            None => {
                store
                    .create_extension(&ExtensionSecret {
                        extension: model::Extension {
                            id: Uuid::new_v4(),
                            extension: e.extension.clone(),
                            name: e.name.clone(),
                            static_contact: e.static_contact.clone(),
                            origin: Origin::Config,
                            tm_create: now,
                            tm_update: now,
                        },
                        password: e.password.clone(),
                    })
                    .await?;
            }
        }
    }
    for s in existing {
        if s.extension.origin == Origin::Config
            && !config
                .extensions
                .iter()
                .any(|e| e.extension == s.extension.extension)
        {
            store.delete_extension(s.extension.id).await?;
        }
    }
    Ok(())
}

/// The source address the OS would use for an outside destination. A UDP
/// `connect` sends nothing; it only asks the routing table.
pub fn default_route_ip() -> IpAddr {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Tells the relay a leg's codec; one `media` has no codec for (an SDP
/// name it does not know) is relayed as it is.
fn relay_codec(relay: &Relay, id: Uuid, codec: Option<engine::LegCodec>) {
    let codec = codec.and_then(|c| {
        let kind = media::codec::CodecKind::from_rtpmap(&c.name, c.clock_rate)?;
        Some(net::rtp::LegCodec {
            codec: kind,
            payload_type: c.payload_type,
            dtmf: c.dtmf,
        })
    });
    relay.set_codec(leg(id), codec);
}
