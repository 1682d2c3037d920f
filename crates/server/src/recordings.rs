//! The recording service: starts and stops recordings of live calls on the
//! relay, keeps the `recordings` records and the calls' `recording_id`s
//! true, hashes finished files, emits `recording_started` /
//! `recording_finished`, and hands out live streams.
//!
//! ```text
//! POST recording_start ─▶ start(): relay.start_recording (file created) ─▶ store row
//!                          (status recording) ─▶ call.recording_id ─▶ recording_started
//! POST recording_stop  ─▶ stop(): relay.stop_recording ─▶ finalize()
//! call ends / disk error ─▶ RelayEvent::RecordingFinished ─▶ event pump ─▶ finalize()
//! finalize(): SHA-256 of the file (blocking pool) ─▶ store row (finished|failed)
//!             ─▶ call.recording_id updated ─▶ recording_finished ─▶ live stream closed
//! start of the server ─▶ repair_unfinished(): rows still `recording` (a crash)
//!             get their WAV sizes repaired, hash and `end_reason: crash`
//! ```
//!
//! Files are `<data_dir>/recordings/<id>.wav`. The relay patches each
//! file's header every second, so a crash loses at most the last second.

use crate::api::ApiError;
use crate::emit::Emitter;
use crate::switch::SwitchHandle;
use chrono::Utc;
use model::{EventType, Recording, RecordingChannels, RecordingDirection, RecordingStatus};
use net::rtp::{EndReason, LegId, RecordingDone, RecordingId, RecordingSpec, Relay};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Chunks (20 ms each) a live stream subscriber may fall behind before it
/// loses some.
const STREAM_BACKLOG: usize = 250;

/// The recording service (one per server).
pub struct Recordings {
    dir: PathBuf,
    store: Arc<dyn store::Store>,
    relay: Relay,
    switch: SwitchHandle,
    emitter: Emitter,
    live: Mutex<HashMap<Uuid, Live>>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("dir", &self.dir)
            .field("running", &self.live().len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Live {
    record: Recording,
    stream: broadcast::Sender<bytes::Bytes>,
}

/// A live stream: the WAV header to send first (sizes unknown) and the PCM
/// chunks as they are recorded; the channel closes when the recording ends.
#[derive(Debug)]
pub struct LiveStream {
    pub header: [u8; media::wav::HEADER_LEN],
    pub chunks: broadcast::Receiver<bytes::Bytes>,
}

impl Recordings {
    /// The service over `data_dir/recordings` (created if missing).
    pub fn new(
        data_dir: &Path,
        store: Arc<dyn store::Store>,
        relay: Relay,
        switch: SwitchHandle,
        emitter: Emitter,
    ) -> std::io::Result<Recordings> {
        let dir = data_dir.join("recordings");
        std::fs::create_dir_all(&dir)?;
        Ok(Recordings {
            dir,
            store,
            relay,
            switch,
            emitter,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Where recording `id`'s file is.
    pub fn path(&self, id: Uuid) -> PathBuf {
        self.dir.join(format!("{id}.wav"))
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts recording the live, answered call `call`.
    pub async fn start(
        &self,
        call: Uuid,
        direction: RecordingDirection,
        channels: RecordingChannels,
    ) -> Result<Recording, ApiError> {
        let id = Uuid::new_v4();
        let (stream, _) = broadcast::channel(STREAM_BACKLOG);
        let spec = RecordingSpec {
            id: RecordingId(id.as_u128()),
            path: self.path(id),
            direction: match direction {
                RecordingDirection::In => media::recorder::Direction::In,
                RecordingDirection::Out => media::recorder::Direction::Out,
                RecordingDirection::Both => media::recorder::Direction::Both,
            },
            channels: match channels {
                RecordingChannels::Mono => media::recorder::Channels::Mono,
                RecordingChannels::Stereo => media::recorder::Channels::Stereo,
            },
            stream: Some(stream.clone()),
        };
        let leg = LegId(call.as_u128());
        let started = self
            .relay
            .start_recording(leg, spec)
            .map_err(|why| ApiError::conflict(format!("call {call}: {why}")))?;
        let record = Recording {
            id,
            call_id: call,
            status: RecordingStatus::Recording,
            format: "wav".into(),
            direction,
            channels,
            sample_rate: started.rate,
            duration_ms: 0,
            size_bytes: 0,
            sha256: None,
            end_reason: None,
            error: None,
            tm_start: Utc::now(),
            tm_end: None,
        };
        if let Err(e) = self.store.upsert_recording(&record).await {
            self.abandon(leg, id);
            return Err(e.into());
        }
        self.live().insert(
            id,
            Live {
                record: record.clone(),
                stream,
            },
        );
        let marked = self
            .switch
            .control(call, move |e, now| e.recording_started(now, call, id))
            .await;
        if let Err(e) = marked {
            // The call ended (or was never answered) meanwhile: the
            // recording goes, as its call's would.
            if let Some(done) = self.relay.stop_recording(leg, RecordingId(id.as_u128())) {
                self.finalize(done).await;
            }
            return Err(e);
        }
        self.emitter
            .emit(call, EventType::RecordingStarted, false, || json(&record));
        tracing::info!(%call, recording = %id, rate = started.rate, "recording started");
        Ok(record)
    }

    /// Stops the call's running recording `only` (or all of them): each is
    /// finished (hashed, stored, `recording_finished`) before this returns.
    /// `conflict` when none runs.
    pub async fn stop(&self, call: Uuid, only: Option<Uuid>) -> Result<Vec<Recording>, ApiError> {
        let ids: Vec<Uuid> = {
            let live = self.live();
            match only {
                Some(id) => match live.get(&id) {
                    Some(l) if l.record.call_id == call => vec![id],
                    _ => Vec::new(),
                },
                None => live
                    .values()
                    .filter(|l| l.record.call_id == call)
                    .map(|l| l.record.id)
                    .collect(),
            }
        };
        if ids.is_empty() {
            return Err(ApiError::conflict(match only {
                Some(id) => format!("recording {id} is not running on call {call}"),
                None => format!("call {call} has no running recording"),
            }));
        }
        let mut out = Vec::new();
        for id in ids {
            let leg = LegId(call.as_u128());
            match self.relay.stop_recording(leg, RecordingId(id.as_u128())) {
                Some(done) => out.extend(self.finalize(done).await),
                // It ended on its own meanwhile (the pump finalizes it).
                None => {
                    if let Some(r) = self.wait_finished(id).await {
                        out.push(r);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The stream of a running recording.
    pub fn subscribe(&self, id: Uuid) -> Option<LiveStream> {
        let live = self.live();
        let l = live.get(&id)?;
        let channels = match l.record.channels {
            RecordingChannels::Mono => 1,
            RecordingChannels::Stereo => 2,
        };
        let header = media::wav::header(
            media::wav::WavSpec {
                rate: l.record.sample_rate,
                channels,
            },
            None,
        );
        Some(LiveStream {
            header,
            chunks: l.stream.subscribe(),
        })
    }

    /// The current state of a running recording (its duration so far is
    /// not tracked here: 0 until it ends).
    pub fn running(&self, id: Uuid) -> Option<Recording> {
        self.live().get(&id).map(|l| l.record.clone())
    }

    /// Completes a recording that ended on the relay: hash, store, call,
    /// event. `None` if it was finalized already.
    pub async fn finalize(&self, done: RecordingDone) -> Option<Recording> {
        let id = Uuid::from_u128(done.id.0);
        let mut record = self.live().get(&id)?.record.clone();
        let path = done.path.clone();
        let hashed = tokio::task::spawn_blocking(move || sha256_file(&path))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        if let Some(s) = done.summary {
            record.duration_ms = s.duration.as_millis() as u64;
            record.size_bytes = s.bytes;
        }
        let mut error = done.error.clone();
        match hashed {
            Ok(hex) => record.sha256 = Some(hex),
            Err(e) => {
                error.get_or_insert_with(|| format!("cannot read the file back: {e}"));
            }
        }
        record.status = if error.is_none() {
            RecordingStatus::Finished
        } else {
            RecordingStatus::Failed
        };
        record.error = error;
        record.end_reason = Some(
            match done.reason {
                EndReason::Stopped => "stopped",
                EndReason::LegClosed => "hangup",
                EndReason::WriteError => "error",
                EndReason::Shutdown => "shutdown",
                _ => "error",
            }
            .into(),
        );
        record.tm_end = Some(Utc::now());
        if let Err(e) = self.store.upsert_recording(&record).await {
            tracing::error!(recording = %id, error = %e, "cannot store a finished recording");
        }
        let call = record.call_id;
        let running: Vec<Uuid> = {
            let mut live = self.live();
            live.remove(&id);
            live.values()
                .filter(|l| l.record.call_id == call)
                .map(|l| l.record.id)
                .collect()
        };
        let _ = self
            .switch
            .net()
            .with_now(move |crate::switch::EngineIo(e, _), now| {
                e.recording_ended(now, call, id, &running)
            })
            .await;
        self.emitter
            .emit(call, EventType::RecordingFinished, false, || json(&record));
        tracing::info!(
            %call,
            recording = %id,
            duration_ms = record.duration_ms,
            bytes = record.size_bytes,
            status = record.status.as_str(),
            "recording finished"
        );
        Some(record)
    }

    /// At start: recordings a crash left `recording` are repaired (WAV
    /// sizes from the data present), hashed and marked finished
    /// (`end_reason: crash`), or failed when their file is gone.
    pub async fn repair_unfinished(&self) -> Result<usize, store::StoreError> {
        let unfinished = self.store.unfinished_recordings().await?;
        let n = unfinished.len();
        for mut r in unfinished {
            let path = self.path(r.id);
            let repaired = tokio::task::spawn_blocking(move || {
                let repair = media::wav::repair_file(&path).map_err(|e| e.to_string())?;
                let hash = sha256_file(&path).map_err(|e| e.to_string())?;
                Ok::<_, String>((repair.summary, hash))
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match repaired {
                Ok((summary, hash)) => {
                    r.status = RecordingStatus::Finished;
                    r.duration_ms = summary.duration.as_millis() as u64;
                    r.size_bytes = summary.bytes;
                    r.sha256 = Some(hash);
                }
                Err(e) => {
                    r.status = RecordingStatus::Failed;
                    r.error = Some(format!("unfinished at start and not repairable: {e}"));
                }
            }
            r.end_reason = Some("crash".into());
            r.tm_end = Some(Utc::now());
            tracing::warn!(recording = %r.id, status = r.status.as_str(), "recording cut off by a crash");
            self.store.upsert_recording(&r).await?;
        }
        Ok(n)
    }

    /// At shutdown: every running recording is stopped and finalized
    /// (`end_reason: shutdown` for those the relay still had), waiting up
    /// to `grace` for the ones already on their way.
    pub async fn stop_all(&self, grace: Duration) {
        let ids: Vec<(Uuid, Uuid)> = self
            .live()
            .values()
            .map(|l| (l.record.id, l.record.call_id))
            .collect();
        for (id, call) in ids {
            let leg = LegId(call.as_u128());
            if let Some(mut done) = self.relay.stop_recording(leg, RecordingId(id.as_u128())) {
                done.reason = EndReason::Shutdown;
                self.finalize(done).await;
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.live().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (briefly) for a recording the pump is finalizing.
    async fn wait_finished(&self, id: Uuid) -> Option<Recording> {
        for _ in 0..100 {
            if !self.live().contains_key(&id) {
                return self.store.recording(id).await.ok().flatten();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Undoes a start whose record could not be stored.
    fn abandon(&self, leg: LegId, id: Uuid) {
        if let Some(done) = self.relay.stop_recording(leg, RecordingId(id.as_u128())) {
            let _ = std::fs::remove_file(done.path);
        }
    }
}

fn json(r: &Recording) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or_default()
}

/// Lowercase hex SHA-256 of a file, read in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
