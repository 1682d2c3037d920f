//! Audio for `POST /v1/calls/{id}/play` and music on hold: WAV files
//! fetched over HTTP(S) or read from the media directory, decoded and
//! converted to the rate the relay encodes a leg from, off the engine and
//! relay threads (a tokio task for the fetch, `spawn_blocking` for the
//! file read, decoding and resampling); and the register of plays in
//! progress ([`Plays`]), which turns the relay's play events into
//! `play_started` / `play_finished` events saying what played (URLs, a
//! talk's text, a beep) and wakes whoever waits for a play to end.
//!
//! - `http://`, `https://`: fetched with a 10 s timeout ([`FETCH_TIMEOUT`],
//!   redirects included), at most 20 MB ([`MAX_BYTES`]); a status other
//!   than 2xx is an error. TLS: rustls with the Mozilla roots.
//! - `file:///path`: only a file inside the configured `media_dir` (the
//!   path resolved, `..` and symbolic links included), so the API cannot
//!   read anything else on the host.
//! - The bytes must be a WAV file [`media::wav::decode`] reads (PCM 8-32
//!   bit, float, A-law, µ-law; any rate; channels averaged) holding some
//!   audio.
//!
//! Each failure is an [`ApiError`] naming the URL: 400 for a URL that can
//! never work (malformed, another scheme, a file outside `media_dir`), 422
//! for one that did not this time or does not hold usable audio
//! (unreachable, HTTP error, too large, not a WAV).

use crate::api::ApiError;
use media::codec::Resampler;
use media::Frame;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Longest a fetch may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest file fetched or read (about 20 minutes of 8 kHz 16-bit mono).
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
/// Most URLs in one play request.
pub const MAX_URLS: usize = 20;

/// Fetches and decodes the audio a play names.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// The media directory, as configured and resolved (`None` if it could
    /// not be resolved: every `file://` URL is then refused).
    media_dir: PathBuf,
    resolved: Option<PathBuf>,
}

impl Fetcher {
    /// A fetcher reading `file://` URLs from `media_dir` only.
    pub fn new(media_dir: &Path) -> Result<Fetcher, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent("Dialtone")
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Fetcher {
            client,
            media_dir: media_dir.to_owned(),
            resolved: std::fs::canonicalize(media_dir).ok(),
        })
    }

    /// Every URL's audio at `rate` Hz, in order; the first failure.
    pub async fn load_all(&self, urls: &[String], rate: u32) -> Result<Vec<Arc<Frame>>, ApiError> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, url) in urls.iter().enumerate() {
            let (this, url) = (self.clone(), url.clone());
            tasks.spawn(async move { (i, this.load(&url, rate).await) });
        }
        let mut clips: Vec<Option<Arc<Frame>>> = vec![None; urls.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, clip) = done.map_err(|e| ApiError::internal(format!("fetch task: {e}")))?;
            clips[i] = Some(clip?);
        }
        Ok(clips.into_iter().flatten().collect())
    }

    /// One URL's audio at `rate` Hz.
    pub async fn load(&self, url: &str, rate: u32) -> Result<Arc<Frame>, ApiError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ApiError::invalid(format!("urls: '{url}' is not a URL ({e})")))?;
        let bytes = match parsed.scheme() {
            "http" | "https" => self.fetch(url, parsed).await?,
            "file" => {
                let path = self.local_path(url, &parsed)?;
                let name = url.to_owned();
                tokio::task::spawn_blocking(move || read_capped(&name, &path))
                    .await
                    .map_err(|e| ApiError::internal(format!("file read task: {e}")))??
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "urls: '{url}': scheme '{other}' is not http, https or file"
                )))
            }
        };
        let name = url.to_owned();
        let frame = tokio::task::spawn_blocking(move || {
            decode_wav(&bytes, rate).map_err(|why| unprocessable(&name, &why))
        })
        .await
        .map_err(|e| ApiError::internal(format!("decode task: {e}")))??;
        Ok(Arc::new(frame))
    }

    /// GET with the timeout and the size cap.
    async fn fetch(&self, url: &str, parsed: reqwest::Url) -> Result<Vec<u8>, ApiError> {
        let fail = |e: reqwest::Error| {
            let why = if e.is_timeout() {
                format!("no answer within {} s", FETCH_TIMEOUT.as_secs())
            } else if e.is_connect() {
                format!("cannot connect ({})", root_cause(&e))
            } else {
                root_cause(&e)
            };
            unprocessable(url, &format!("fetch failed: {why}"))
        };
        let mut resp = self.client.get(parsed).send().await.map_err(fail)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(unprocessable(url, &format!("the server answered {status}")));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(too_large(url));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(too_large(url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The file a `file://` URL names, if it lies inside the media
    /// directory.
    fn local_path(&self, url: &str, parsed: &reqwest::Url) -> Result<PathBuf, ApiError> {
        let outside = || {
            ApiError::invalid(format!(
                "urls: '{url}': file:// URLs may only name files inside the media directory {} \
                 (setting media_dir)",
                self.media_dir.display()
            ))
        };
        if parsed
            .host_str()
            .is_some_and(|h| !h.is_empty() && h != "localhost")
        {
            return Err(ApiError::invalid(format!(
                "urls: '{url}': a file:// URL names a local file (file:///path)"
            )));
        }
        let path = parsed.to_file_path().map_err(|()| outside())?;
        // Lexically first (no `..`), then as resolved (symbolic links).
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(outside());
        }
        let dir = self.resolved.as_ref().ok_or_else(outside)?;
        if !path.starts_with(&self.media_dir) && !path.starts_with(dir) {
            return Err(outside());
        }
        let real = std::fs::canonicalize(&path)
            .map_err(|e| unprocessable(url, &format!("cannot read the file ({e})")))?;
        if !real.starts_with(dir) {
            return Err(outside());
        }
        Ok(real)
    }
}

/// A file's bytes, refusing more than [`MAX_BYTES`].
fn read_capped(url: &str, path: &Path) -> Result<Vec<u8>, ApiError> {
    let cannot = |e: std::io::Error| unprocessable(url, &format!("cannot read the file ({e})"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(unprocessable(url, "not a regular file"));
    }
    if meta.len() > MAX_BYTES as u64 {
        return Err(too_large(url));
    }
    std::fs::read(path).map_err(cannot)
}

/// Decodes a WAV file and converts it to `rate` Hz (the filtered
/// polyphase resampler: no aliasing of a 44.1 kHz file on an 8 kHz leg).
/// `Err` says why the bytes are not usable audio.
pub fn decode_wav(bytes: &[u8], rate: u32) -> Result<Frame, String> {
    let frame = media::wav::decode(bytes).map_err(|e| e.to_string())?;
    if frame.samples.is_empty() {
        return Err("the WAV file holds no audio".into());
    }
    Ok(at_rate(frame, rate))
}

/// `frame` at `rate` Hz; as it is if the resampler cannot do that ratio
/// (the relay's player then interpolates).
pub fn at_rate(frame: Frame, rate: u32) -> Frame {
    if frame.rate == rate {
        return frame;
    }
    match Resampler::new(frame.rate, rate) {
        Ok(mut r) => {
            let mut out =
                Vec::with_capacity(frame.samples.len() * rate as usize / frame.rate as usize + 1);
            r.process(&frame.samples, &mut out);
            Frame::new(rate, out)
        }
        Err(_) => frame,
    }
}

/// The configured music on hold: `path` decoded once, at the rates the
/// relay encodes from (8 kHz for G.711, 16 kHz for G.722 and Opus).
pub fn load_hold_music(path: &Path) -> Result<net::rtp::HoldMusic, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let frame = media::wav::decode(&bytes).map_err(|e| e.to_string())?;
    if frame.samples.is_empty() {
        return Err("the WAV file holds no audio".into());
    }
    let versions: Vec<Arc<Frame>> = [8000, 16000]
        .into_iter()
        .map(|rate| Arc::new(at_rate(frame.clone(), rate)))
        .collect();
    Ok(net::rtp::HoldMusic::Recorded(versions.into()))
}

fn unprocessable(url: &str, why: &str) -> ApiError {
    ApiError::unprocessable(format!("urls: '{url}': {why}"))
}

fn too_large(url: &str) -> ApiError {
    unprocessable(
        url,
        &format!("larger than {} MB", MAX_BYTES / (1024 * 1024)),
    )
}

/// The innermost error: what a person can act on ("Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// What a play plays, as the events describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayKind {
    /// WAV files (`POST /v1/calls/{id}/play`).
    Urls(Arc<[String]>),
    /// Text said by a voice (`POST /v1/calls/{id}/talk`).
    Talk {
        text: Arc<str>,
        language: String,
        gender: crate::tts::Gender,
        /// The provider's voice (`en-us+f3`).
        voice: String,
    },
    /// A 1 kHz beep ([`crate::actions::beep`]).
    Beep,
}

/// One play, as the API started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayRecord {
    pub call: Uuid,
    pub kind: PlayKind,
}

impl PlayRecord {
    /// A play of WAV files.
    pub fn urls(call: Uuid, urls: Arc<[String]>) -> PlayRecord {
        PlayRecord {
            call,
            kind: PlayKind::Urls(urls),
        }
    }

    /// The fields that say what is played, for events and answers:
    /// `kind` (`play`, `talk`, `beep`) and `urls`, or `text`, `language`,
    /// `gender`, `voice`.
    pub fn describe(&self, into: &mut serde_json::Map<String, serde_json::Value>) {
        use serde_json::json;
        match &self.kind {
            PlayKind::Urls(urls) => {
                into.insert("kind".into(), json!("play"));
                into.insert("urls".into(), json!(&**urls));
            }
            PlayKind::Talk {
                text,
                language,
                gender,
                voice,
            } => {
                into.insert("kind".into(), json!("talk"));
                into.insert("text".into(), json!(&**text));
                into.insert("language".into(), json!(language));
                into.insert("gender".into(), json!(gender.as_str()));
                into.insert("voice".into(), json!(voice));
            }
            PlayKind::Beep => {
                into.insert("kind".into(), json!("beep"));
            }
        }
    }
}

/// How a play ended, for whoever waits for it ([`Plays::finished`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayOutcome {
    /// Played to its end (`loop_count` times).
    Finished,
    /// Stopped (`DELETE /v1/calls/{id}/play`) or replaced by a new play.
    Stopped,
    /// The call ended first.
    Hangup,
}

impl PlayOutcome {
    /// `finished`, `stopped`, `hangup`: the `reason` of `play_finished`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayOutcome::Finished => "finished",
            PlayOutcome::Stopped => "stopped",
            PlayOutcome::Hangup => "hangup",
        }
    }
}

/// The plays in progress, by relay play id: the API adds one before
/// handing its audio to the relay; the event pump reads it when the relay
/// reports the play started and finishes it when it ended (or when its
/// call hung up), which wakes whoever waits in [`Plays::finished`].
#[derive(Debug, Clone, Default)]
pub struct Plays {
    inner: Arc<Mutex<PlayTable>>,
    next: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct PlayTable {
    live: HashMap<u64, (PlayRecord, Vec<tokio::sync::oneshot::Sender<PlayOutcome>>)>,
    /// How the last [`ENDED_KEPT`] plays ended, for a late waiter.
    ended: std::collections::VecDeque<(u64, PlayOutcome)>,
}

/// Ended plays whose outcome is remembered.
const ENDED_KEPT: usize = 4096;

impl Plays {
    /// Registers a play; its id for the relay.
    pub fn add(&self, record: PlayRecord) -> net::rtp::PlayId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().live.insert(id, (record, Vec::new()));
        net::rtp::PlayId(id)
    }

    pub fn get(&self, id: net::rtp::PlayId) -> Option<PlayRecord> {
        self.lock().live.get(&id.0).map(|(r, _)| r.clone())
    }

    /// Forgets a play that never started (the relay refused it).
    pub fn remove(&self, id: net::rtp::PlayId) -> Option<PlayRecord> {
        self.lock().live.remove(&id.0).map(|(r, _)| r)
    }

    /// The play ended: taken out, its waiters told; `None` if it was
    /// over already (its call's hangup reported it).
    pub fn finish(&self, id: net::rtp::PlayId, outcome: PlayOutcome) -> Option<PlayRecord> {
        let mut table = self.lock();
        let (record, waiters) = table.live.remove(&id.0)?;
        table.ended(id.0, outcome);
        drop(table);
        for w in waiters {
            let _ = w.send(outcome);
        }
        Some(record)
    }

    /// Resolves when play `id` ends, with how (no polling: the event pump
    /// wakes it). A play that ended already resolves at once (as
    /// [`PlayOutcome::Stopped`] if it ended too long ago to be
    /// remembered, or was never started); a server that stops resolves
    /// it as [`PlayOutcome::Hangup`].
    pub fn finished(
        &self,
        id: net::rtp::PlayId,
    ) -> impl std::future::Future<Output = PlayOutcome> + Send + 'static {
        let mut table = self.lock();
        let waiting = match table.live.get_mut(&id.0) {
            Some((_, waiters)) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                waiters.push(tx);
                Ok(rx)
            }
            None => Err(table
                .ended
                .iter()
                .rev()
                .find(|(p, _)| *p == id.0)
                .map_or(PlayOutcome::Stopped, |(_, o)| *o)),
        };
        drop(table);
        async move {
            match waiting {
                Ok(rx) => rx.await.unwrap_or(PlayOutcome::Hangup),
                Err(outcome) => outcome,
            }
        }
    }

    /// The play of `call` registered last (the one running, unless a
    /// newer request is still fetching).
    pub fn latest(&self, call: Uuid) -> Option<(net::rtp::PlayId, PlayRecord)> {
        self.lock()
            .live
            .iter()
            .filter(|(_, (r, _))| r.call == call)
            .max_by_key(|(&id, _)| id)
            .map(|(&id, (r, _))| (net::rtp::PlayId(id), r.clone()))
    }

    /// Finishes the plays of `call` (it hung up), [`PlayOutcome::Hangup`].
    pub fn remove_call(&self, call: Uuid) -> Vec<(net::rtp::PlayId, PlayRecord)> {
        let ids: Vec<u64> = {
            let table = self.lock();
            if table.live.is_empty() {
                return Vec::new();
            }
            table
                .live
                .iter()
                .filter(|(_, (r, _))| r.call == call)
                .map(|(&id, _)| id)
                .collect()
        };
        ids.into_iter()
            .filter_map(|id| {
                let play = net::rtp::PlayId(id);
                Some((play, self.finish(play, PlayOutcome::Hangup)?))
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PlayTable> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PlayTable {
    fn ended(&mut self, id: u64, outcome: PlayOutcome) {
        if self.ended.len() == ENDED_KEPT {
            self.ended.pop_front();
        }
        self.ended.push_back((id, outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
        let spec = media::wav::WavSpec { rate, channels: 1 };
        let mut w = media::wav::WavWriter::new(std::io::Cursor::new(Vec::new()), spec).unwrap();
        w.write_samples(samples).unwrap();
        w.finish().unwrap().1.into_inner()
    }

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("dialtone-playback-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("media")).unwrap();
        d
    }

    fn code(r: Result<Arc<Frame>, ApiError>) -> (u16, String) {
        let e = r.unwrap_err();
        (e.status.as_u16(), e.message)
    }

    #[tokio::test]
    async fn file_urls_read_only_the_media_directory() {
        let d = dir("files");
        let media = d.join("media");
        std::fs::write(media.join("hello.wav"), wav(8000, &[1000; 800])).unwrap();
        std::fs::write(d.join("secret.wav"), wav(8000, &[1000; 800])).unwrap();
        std::os::unix::fs::symlink(d.join("secret.wav"), media.join("link.wav")).unwrap();
        std::fs::write(media.join("notes.txt"), "not audio").unwrap();
        let f = Fetcher::new(&media).unwrap();
        let url = |p: &Path| format!("file://{}", p.display());

        let ok = f.load(&url(&media.join("hello.wav")), 16000).await.unwrap();
        assert_eq!((ok.rate, ok.samples.len()), (16000, 1600), "resampled");

        for outside in [
            url(&d.join("secret.wav")),
            url(&media.join("link.wav")),
            format!("file://{}/../secret.wav", media.display()),
            "file:///etc/passwd".to_owned(),
        ] {
            let (status, msg) = code(f.load(&outside, 8000).await);
            assert_eq!(status, 400, "{outside}: {msg}");
            assert!(msg.contains("inside the media directory"), "{msg}");
            assert!(msg.contains(&outside), "names the URL: {msg}");
        }
        let (status, msg) = code(f.load(&url(&media.join("notes.txt")), 8000).await);
        assert_eq!(status, 422, "{msg}");
        assert!(msg.contains("not a RIFF/WAVE file"), "{msg}");
        let (status, msg) = code(f.load(&url(&media.join("missing.wav")), 8000).await);
        assert_eq!(status, 422, "{msg}");
        let (status, msg) = code(f.load("ftp://example.invalid/a.wav", 8000).await);
        assert_eq!(status, 400, "{msg}");
        assert!(msg.contains("scheme 'ftp'"), "{msg}");
        let (status, _) = code(f.load("not a url", 8000).await);
        assert_eq!(status, 400);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A one-connection-per-response HTTP server on loopback.
    fn serve(responses: Vec<Vec<u8>>) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for response in responses {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                let mut request = [0u8; 2048];
                let _ = conn.read(&mut request);
                let _ = conn.write_all(&response);
            }
        });
        addr
    }

    fn http_ok(body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn http_urls_are_fetched_checked_and_capped() {
        let tone = wav(16000, &[500; 3200]);
        let addr = serve(vec![
            http_ok(&tone),
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            http_ok(b"<html>not audio</html>"),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                MAX_BYTES + 1
            )
            .into_bytes(),
        ]);
        let f = Fetcher::new(&dir("http").join("media")).unwrap();
        let base = format!("http://{addr}");
        let clip = f.load(&format!("{base}/a.wav"), 8000).await.unwrap();
        assert_eq!((clip.rate, clip.samples.len()), (8000, 1600));
        let (status, msg) = code(f.load(&format!("{base}/b.wav"), 8000).await);
        assert_eq!(status, 422);
        assert!(msg.contains("404"), "{msg}");
        let (status, msg) = code(f.load(&format!("{base}/c.wav"), 8000).await);
        assert_eq!(status, 422);
        assert!(
            msg.contains("not a RIFF/WAVE file") && msg.contains("c.wav"),
            "{msg}"
        );
        let (status, msg) = code(f.load(&format!("{base}/d.wav"), 8000).await);
        assert_eq!(status, 422);
        assert!(msg.contains("larger than 20 MB"), "{msg}");
        // Nothing listens there any more.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (status, msg) = code(f.load(&format!("http://{closed}/e.wav"), 8000).await);
        assert_eq!(status, 422);
        assert!(msg.contains("cannot connect"), "{msg}");
    }

    #[test]
    fn hold_music_is_decoded_at_both_relay_rates() {
        let d = dir("moh");
        let path = d.join("hold.wav");
        std::fs::write(&path, wav(44100, &[800; 44100])).unwrap();
        let net::rtp::HoldMusic::Recorded(versions) = load_hold_music(&path).unwrap() else {
            panic!("a recording");
        };
        let shape: Vec<(u32, usize)> = versions.iter().map(|f| (f.rate, f.samples.len())).collect();
        assert_eq!(shape, [(8000, 8000), (16000, 16000)]);
        std::fs::write(&path, b"RIFF").unwrap();
        assert_eq!(load_hold_music(&path).unwrap_err(), "not a RIFF/WAVE file");
        assert!(load_hold_music(&d.join("none.wav")).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn plays_are_found_by_id_and_by_call() {
        let plays = Plays::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let urls: Arc<[String]> = vec!["file:///x.wav".to_owned()].into();
        let p1 = plays.add(PlayRecord::urls(a, urls.clone()));
        let p2 = plays.add(PlayRecord::urls(b, urls.clone()));
        assert_ne!(p1, p2);
        assert_eq!(plays.get(p1).unwrap().call, a);
        assert_eq!(plays.remove_call(a).len(), 1);
        assert_eq!(plays.get(p1), None);
        assert_eq!(plays.remove(p2).unwrap().call, b);
        assert!(plays.remove_call(b).is_empty());
    }

    #[tokio::test]
    async fn waiting_for_a_play_resolves_with_how_it_ended() {
        let plays = Plays::default();
        let call = Uuid::new_v4();
        let record = || PlayRecord {
            call,
            kind: PlayKind::Beep,
        };
        let (p1, p2, p3) = (
            plays.add(record()),
            plays.add(record()),
            plays.add(record()),
        );
        let (w1, w2, w3) = (plays.finished(p1), plays.finished(p2), plays.finished(p3));
        let also = plays.finished(p1);
        assert!(plays.finish(p1, PlayOutcome::Finished).is_some());
        assert!(plays.finish(p1, PlayOutcome::Stopped).is_none(), "once");
        plays.finish(p2, PlayOutcome::Stopped);
        assert_eq!(plays.remove_call(call).len(), 1);
        assert_eq!(w1.await, PlayOutcome::Finished);
        assert_eq!(also.await, PlayOutcome::Finished);
        assert_eq!(w2.await, PlayOutcome::Stopped);
        assert_eq!(w3.await, PlayOutcome::Hangup);
        // Late: remembered.
        assert_eq!(plays.finished(p1).await, PlayOutcome::Finished);
        assert_eq!(plays.finished(p3).await, PlayOutcome::Hangup);
        assert_eq!(
            plays.finished(net::rtp::PlayId(999)).await,
            PlayOutcome::Stopped
        );
        let mut m = serde_json::Map::new();
        record().describe(&mut m);
        assert_eq!(
            serde_json::Value::Object(m),
            serde_json::json!({"kind": "beep"})
        );
    }
}
