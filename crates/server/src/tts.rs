//! Text to speech for `talk`: a [`Tts`] provider turns text, a language
//! and a gender into mono PCM, and [`TtsService`] keeps what it rendered
//! in a cache on disk so a prompt said again is not rendered again.
//!
//! ```text
//! talk(text, language, gender) ─▶ Tts::voice (language → voice, 400 if none)
//!    ─▶ key = sha256(provider, voice, gender, text) ─▶ <data_dir>/tts/<key>.wav ?
//!         hit:  read + decode                            (dialtone_tts_cache_hits_total)
//!         miss: Tts::render, once for concurrent equal requests, written to the cache
//!                                                        (dialtone_tts_renders_total)
//!    ─▶ frame at the provider's rate (the play path converts it to the leg's)
//! ```
//!
//! The default provider, [`EspeakNg`], runs the `espeak-ng` program
//! (setting `tts_command`): `espeak-ng -v <voice> --stdout -- <text>`,
//! the text one argument of its own (never through a shell), 30 s at most.
//! Languages are BCP 47 tags (`en-US`, `en-GB`, `de-DE`, `fr`, `pt-BR`):
//! the tag lower-cased if espeak-ng has that voice (`en-us`, `pt-br`),
//! else its language (`de`), else a regional voice of it (`en` → `en-us`,
//! `fr` → `fr-fr`); `espeak-ng --voices` lists what is installed.
//! Gender picks a variant: `male` `+m3`, `female` `+f3`, `neutral` the
//! voice as it is. Without espeak-ng every request is a 503
//! `tts_unavailable` that says how to install it; prompts already in the
//! cache still play.
//!
//! The cache holds at most [`CACHE_BYTES`] of WAV files; past that the
//! least recently used go first (oldest first among those never used
//! again). It is rebuilt from the directory at start (by modification
//! time), so it survives restarts.

use crate::api::ApiError;
use async_trait::async_trait;
use axum::http::StatusCode;
use media::Frame;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Most characters of text in one prompt.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Most bytes of WAV files the cache keeps.
pub const CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest a render may take.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest output accepted from the renderer (about 8 minutes at 22 kHz).
const MAX_OUTPUT: usize = 24 * 1024 * 1024;
/// What the API says when espeak-ng cannot be run.
const INSTALL: &str = "install it (Debian/Ubuntu: apt-get install espeak-ng) or point the \
                       tts_command setting at it";

/// The voice's gender, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gender {
    Male,
    Female,
    /// The voice as the provider has it.
    #[default]
    Neutral,
}

impl Gender {
    /// `male`, `female`, `neutral`; `Err` says what is accepted.
    pub fn parse(s: &str) -> Result<Gender, ApiError> {
        match s {
            "male" => Ok(Gender::Male),
            "female" => Ok(Gender::Female),
            "neutral" => Ok(Gender::Neutral),
            other => Err(ApiError::invalid(format!(
                "gender: '{other}' is not one of male, female, neutral"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Neutral => "neutral",
        }
    }
}

/// Why a prompt could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TtsError {
    /// The request cannot work (a language without a voice, bad text): 400.
    #[error("{0}")]
    Invalid(String),
    /// The provider cannot run (espeak-ng missing): 503 `tts_unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// The provider ran and failed: 500 `tts_failed`.
    #[error("{0}")]
    Failed(String),
}

impl From<TtsError> for ApiError {
    fn from(e: TtsError) -> ApiError {
        match e {
            TtsError::Invalid(m) => ApiError::invalid(m),
            TtsError::Unavailable(message) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: crate::api::ErrorCode::TtsUnavailable,
                message,
            },
            TtsError::Failed(message) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: crate::api::ErrorCode::TtsFailed,
                message,
            },
        }
    }
}

/// A text-to-speech provider.
#[async_trait]
pub trait Tts: Send + Sync + fmt::Debug {
    /// Names the provider in cache keys (`espeak-ng`).
    fn provider(&self) -> &str;

    /// The provider's voice for `language` (BCP 47: `en-US`, `de-DE`,
    /// `fr`) and `gender`; [`TtsError::Invalid`] naming the language when
    /// it has none.
    async fn voice(&self, language: &str, gender: Gender) -> Result<String, TtsError>;

    /// `text` said by `voice` (one [`voice`](Self::voice) gave): mono PCM
    /// at the provider's rate.
    async fn render(&self, text: &str, voice: &str) -> Result<Frame, TtsError>;
}

/// The `espeak-ng` program.
#[derive(Debug)]
pub struct EspeakNg {
    command: PathBuf,
    /// The languages of the installed voices, once listed.
    languages: OnceCell<Arc<Vec<String>>>,
}

impl EspeakNg {
    /// Runs `command` (a path, or a name looked up in `PATH`).
    pub fn new(command: impl Into<PathBuf>) -> EspeakNg {
        EspeakNg {
            command: command.into(),
            languages: OnceCell::new(),
        }
    }

    /// Whether the program runs (`--version`); `Err` is the message the
    /// API would give.
    pub async fn probe(&self) -> Result<(), TtsError> {
        self.run(&["--version"]).await.map(|_| ())
    }

    /// Runs the program with `args`; its standard output.
    async fn run(&self, args: &[&str]) -> Result<Vec<u8>, TtsError> {
        let name = self.command.display().to_string();
        let child = tokio::process::Command::new(&self.command)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "not found".to_owned()
                } else {
                    e.to_string()
                };
                TtsError::Unavailable(format!(
                    "text to speech is unavailable: cannot run '{name}' ({why}); espeak-ng \
                     renders talk prompts: {INSTALL}"
                ))
            })?;
        let out = tokio::time::timeout(RENDER_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| {
                TtsError::Failed(format!(
                    "{name} gave no result within {} s",
                    RENDER_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| TtsError::Failed(format!("{name}: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(TtsError::Failed(format!(
                "{name} failed ({}): {}",
                out.status,
                stderr.trim()
            )));
        }
        if out.stdout.len() > MAX_OUTPUT {
            return Err(TtsError::Failed(format!(
                "{name} gave more than {} MB of audio",
                MAX_OUTPUT / (1024 * 1024)
            )));
        }
        Ok(out.stdout)
    }

    /// The languages espeak-ng has voices for (listed once).
    async fn languages(&self) -> Result<Arc<Vec<String>>, TtsError> {
        self.languages
            .get_or_try_init(|| async {
                let out = self.run(&["--voices"]).await?;
                Ok(Arc::new(parse_voices(&String::from_utf8_lossy(&out))))
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl Tts for EspeakNg {
    fn provider(&self) -> &str {
        "espeak-ng"
    }

    async fn voice(&self, language: &str, gender: Gender) -> Result<String, TtsError> {
        check_language(language)?;
        let languages = self.languages().await?;
        let base = pick_voice(&languages, language).ok_or_else(|| {
            TtsError::Invalid(format!(
                "language: '{language}' has no espeak-ng voice on this server; \
                 `espeak-ng --voices` lists the languages installed (e.g. en-US, en-GB, \
                 de-DE, fr, es, pt-BR)"
            ))
        })?;
        let variant = match gender {
            Gender::Male => "+m3",
            Gender::Female => "+f3",
            Gender::Neutral => "",
        };
        Ok(format!("{base}{variant}"))
    }

    async fn render(&self, text: &str, voice: &str) -> Result<Frame, TtsError> {
        // `--` ends the options: a text starting with '-' is text.
        let wav = self.run(&["-v", voice, "--stdout", "--", text]).await?;
        let frame = media::wav::decode(&wav)
            .map_err(|e| TtsError::Failed(format!("espeak-ng's output: {e}")))?;
        if frame.samples.is_empty() {
            return Err(TtsError::Failed("espeak-ng rendered no audio".into()));
        }
        Ok(frame)
    }
}

/// The Language column of `espeak-ng --voices`.
fn parse_voices(listing: &str) -> Vec<String> {
    listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// A BCP 47-like tag: letters, digits and hyphens, a letter first.
fn check_language(language: &str) -> Result<(), TtsError> {
    let ok = (1..=35).contains(&language.len())
        && language.starts_with(|c: char| c.is_ascii_alphabetic())
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(TtsError::Invalid(format!(
            "language: '{language}' is not a language tag such as en-US, de-DE or fr"
        )))
    }
}

/// espeak-ng's voice for a language tag, from the installed `languages`.
fn pick_voice(languages: &[String], language: &str) -> Option<String> {
    let tag = language.to_ascii_lowercase();
    let primary = tag.split('-').next().unwrap_or(&tag).to_owned();
    // Tags whose language espeak-ng names otherwise.
    let alias = match primary.as_str() {
        "zh" => "cmn",
        "no" => "nb",
        "iw" => "he",
        "in" => "id",
        p => p,
    };
    // A language espeak-ng only has regional voices of, and which to take.
    let preferred = match alias {
        "en" => "en-us",
        p => p,
    };
    let has = |v: &str| languages.iter().any(|l| l == v);
    [
        tag.clone(),
        primary.clone(),
        alias.to_owned(),
        preferred.to_owned(),
    ]
    .into_iter()
    .chain([format!("{primary}-{primary}"), format!("{alias}-{alias}")])
    .find(|v| has(v))
    .or_else(|| {
        let prefix = format!("{alias}-");
        languages.iter().find(|l| l.starts_with(&prefix)).cloned()
    })
}

/// One prompt ready to play.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Mono PCM at the provider's rate.
    pub frame: Arc<Frame>,
    /// The voice that said it (`en-us+f3`).
    pub voice: String,
    /// Whether it came from the cache (or another request's render).
    pub cached: bool,
}

/// The provider and the cache of what it rendered.
#[derive(Debug)]
pub struct TtsService {
    tts: Arc<dyn Tts>,
    cache: Cache,
    renders: AtomicU64,
    hits: AtomicU64,
}

impl TtsService {
    /// A service whose cache lives in `dir` (created; at most `max_bytes`).
    pub fn new(tts: Arc<dyn Tts>, dir: &Path, max_bytes: u64) -> std::io::Result<TtsService> {
        Ok(TtsService {
            tts,
            cache: Cache::open(dir, max_bytes)?,
            renders: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        })
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Tts> {
        &self.tts
    }

    /// Renders run since start.
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// Prompts served without a render of their own since start.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// `text` said in `language` by a `gender` voice: from the cache, or
    /// rendered (once for all the equal requests that wait for it) and
    /// kept.
    pub async fn prompt(
        &self,
        text: &str,
        language: &str,
        gender: Gender,
    ) -> Result<Prompt, TtsError> {
        check_text(text)?;
        let voice = self.tts.voice(language, gender).await?;
        let key = cache_key(self.tts.provider(), &voice, gender, text);
        if let Some(frame) = self.cache.read(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Prompt {
                frame,
                voice,
                cached: true,
            });
        }
        let cell = self.cache.inflight(&key);
        let mut rendered_here = false;
        let result = cell
            .get_or_init(|| async {
                rendered_here = true;
                self.renders.fetch_add(1, Ordering::Relaxed);
                let frame = Arc::new(self.tts.render(text, &voice).await?);
                self.cache.write(&key, &frame).await;
                Ok(frame)
            })
            .await
            .clone();
        self.cache.done(&key, &cell);
        if !rendered_here {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        result.map(|frame| Prompt {
            frame,
            voice,
            cached: !rendered_here,
        })
    }
}

/// 1 to [`MAX_TEXT_CHARS`] characters, not only white space, no NUL.
pub fn check_text(text: &str) -> Result<(), TtsError> {
    let n = text.chars().count();
    if text.trim().is_empty() || n > MAX_TEXT_CHARS {
        return Err(TtsError::Invalid(format!(
            "text: {n} characters; give 1 to {MAX_TEXT_CHARS}, not only white space"
        )));
    }
    if text.contains('\0') {
        return Err(TtsError::Invalid("text: contains a NUL character".into()));
    }
    Ok(())
}

/// sha256 of provider, voice, gender and text, NUL-separated, in hex.
fn cache_key(provider: &str, voice: &str, gender: Gender, text: &str) -> String {
    let mut h = Sha256::new();
    for part in [provider, voice, gender.as_str(), text] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

type Rendering = Arc<OnceCell<Result<Arc<Frame>, TtsError>>>;

/// Rendered prompts on disk, `<key>.wav`, least recently used evicted.
#[derive(Debug)]
struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    inflight: Mutex<HashMap<String, Rendering>>,
}

/// What the cache holds: size and last use of each key.
#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, (u64, u64)>,
    /// Keys by last use (a counter), oldest first.
    by_use: BTreeMap<u64, String>,
    total: u64,
    clock: u64,
}

impl Index {
    fn touch(&mut self, key: &str) {
        self.clock += 1;
        let clock = self.clock;
        if let Some((_, used)) = self.entries.get_mut(key) {
            self.by_use.remove(used);
            *used = clock;
            self.by_use.insert(clock, key.to_owned());
        }
    }

    fn insert(&mut self, key: &str, size: u64) {
        self.remove(key);
        self.clock += 1;
        self.entries.insert(key.to_owned(), (size, self.clock));
        self.by_use.insert(self.clock, key.to_owned());
        self.total += size;
    }

    fn remove(&mut self, key: &str) {
        if let Some((size, used)) = self.entries.remove(key) {
            self.by_use.remove(&used);
            self.total -= size;
        }
    }

    /// Takes out the least recently used entries (never `keep`) until
    /// the total fits `max`; their keys.
    fn evict(&mut self, max: u64, keep: &str) -> Vec<String> {
        let mut gone = Vec::new();
        while self.total > max {
            let Some(key) = self.by_use.values().find(|k| *k != keep).cloned() else {
                break;
            };
            self.remove(&key);
            gone.push(key);
        }
        gone
    }
}

impl Cache {
    /// The cache in `dir` as a previous run left it.
    fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Cache> {
        std::fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".wav") {
                Some(key) if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    if let Ok(meta) = entry.metadata() {
                        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                        found.push((modified, key.to_owned(), meta.len()));
                    }
                }
                // A write cut short.
                _ if name.contains(".tmp") => {
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
        found.sort();
        let mut index = Index::default();
        for (_, key, size) in found {
            index.insert(&key, size);
        }
        let cache = Cache {
            dir: dir.to_owned(),
            max_bytes,
            index: Mutex::new(index),
            inflight: Mutex::new(HashMap::new()),
        };
        let gone = cache.lock().evict(max_bytes, "");
        for key in gone {
            let _ = std::fs::remove_file(cache.path(&key));
        }
        Ok(cache)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.wav"))
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The prompt under `key`, if cached and readable (a file that went
    /// away is forgotten).
    async fn read(&self, key: &str) -> Option<Arc<Frame>> {
        if !self.lock().entries.contains_key(key) {
            return None;
        }
        let path = self.path(key);
        let frame = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).ok()?;
            media::wav::decode(&bytes)
                .ok()
                .filter(|f| !f.samples.is_empty())
        })
        .await
        .ok()
        .flatten();
        let mut index = self.lock();
        match frame {
            Some(f) => {
                index.touch(key);
                Some(Arc::new(f))
            }
            None => {
                index.remove(key);
                None
            }
        }
    }

    /// Keeps `frame` under `key` (a failure to write is logged: the
    /// prompt still plays), then evicts what no longer fits.
    async fn write(&self, key: &str, frame: &Frame) {
        let mut bytes = media::wav::header(
            media::wav::WavSpec {
                rate: frame.rate,
                channels: 1,
            },
            Some(frame.samples.len() as u32 * 2),
        )
        .to_vec();
        bytes.extend(frame.samples.iter().flat_map(|s| s.to_le_bytes()));
        let size = bytes.len() as u64;
        let (path, tmp) = (
            self.path(key),
            self.dir
                .join(format!("{key}.tmp-{:016x}", rand::random::<u64>())),
        );
        let written = tokio::task::spawn_blocking(move || {
            std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &path))
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache a TTS prompt");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "TTS cache write task");
                return;
            }
        }
        let gone = {
            let mut index = self.lock();
            index.insert(key, size);
            index.evict(self.max_bytes, key)
        };
        for key in gone {
            tracing::debug!(%key, "TTS prompt evicted from the cache");
            let _ = tokio::fs::remove_file(self.path(&key)).await;
        }
    }

    /// The render of `key` in progress (or a new one).
    fn inflight(&self, key: &str) -> Rendering {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    /// The render `cell` of `key` is over: later requests read the cache.
    fn done(&self, key: &str, cell: &Rendering) {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dialtone-tts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A provider that says every text as 100 ms of a level per character,
    /// slowly, counting its renders.
    #[derive(Debug, Default)]
    struct Fake {
        renders: AtomicUsize,
    }

    #[async_trait]
    impl Tts for Fake {
        fn provider(&self) -> &str {
            "fake"
        }
        async fn voice(&self, language: &str, gender: Gender) -> Result<String, TtsError> {
            if language == "xx" {
                return Err(TtsError::Invalid("language: 'xx'".into()));
            }
            Ok(format!("{language}/{}", gender.as_str()))
        }
        async fn render(&self, text: &str, _voice: &str) -> Result<Frame, TtsError> {
            self.renders.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if text == "fail" {
                return Err(TtsError::Failed("no".into()));
            }
            let samples = text.bytes().flat_map(|b| vec![i16::from(b); 800]).collect();
            Ok(Frame::new(8000, samples))
        }
    }

    #[tokio::test]
    async fn equal_requests_render_once_and_the_cache_survives_a_restart() {
        let d = dir("once");
        let fake = Arc::new(Fake::default());
        let service = Arc::new(TtsService::new(fake.clone(), &d, CACHE_BYTES).unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let s = service.clone();
            tasks.spawn(async move { s.prompt("hello", "en-US", Gender::Female).await });
        }
        let mut cached = 0;
        while let Some(r) = tasks.join_next().await {
            let p = r.unwrap().unwrap();
            assert_eq!(p.frame.samples.len(), 5 * 800);
            assert_eq!(p.voice, "en-US/female");
            cached += usize::from(p.cached);
        }
        assert_eq!(fake.renders.load(Ordering::SeqCst), 1, "rendered once");
        assert_eq!((cached, service.renders(), service.hits()), (7, 1, 7));
        // Another gender is another prompt.
        service
            .prompt("hello", "en-US", Gender::Male)
            .await
            .unwrap();
        assert_eq!(fake.renders.load(Ordering::SeqCst), 2);
        // A new service on the same directory finds both.
        let again = TtsService::new(fake.clone(), &d, CACHE_BYTES).unwrap();
        let p = again
            .prompt("hello", "en-US", Gender::Female)
            .await
            .unwrap();
        assert!(p.cached);
        assert_eq!(p.frame.samples.len(), 5 * 800);
        assert_eq!(fake.renders.load(Ordering::SeqCst), 2);
        // Failures are not cached; bad requests never render.
        let e = service.prompt("fail", "en-US", Gender::Male).await;
        assert!(matches!(e, Err(TtsError::Failed(_))));
        assert!(service.prompt("fail", "en-US", Gender::Male).await.is_err());
        assert_eq!(fake.renders.load(Ordering::SeqCst), 4);
        let e = service.prompt("hi", "xx", Gender::Male).await.unwrap_err();
        assert!(matches!(e, TtsError::Invalid(_)));
        for bad in ["", "   ", "a\0b"] {
            let e = service
                .prompt(bad, "en-US", Gender::Male)
                .await
                .unwrap_err();
            assert!(matches!(e, TtsError::Invalid(_)), "{bad:?}");
        }
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        assert!(service.prompt(&long, "en-US", Gender::Male).await.is_err());
        assert_eq!(fake.renders.load(Ordering::SeqCst), 4);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn the_cache_evicts_the_least_recently_used_past_its_size() {
        let d = dir("evict");
        let fake = Arc::new(Fake::default());
        // Each 4-character prompt is 44 + 4 × 1600 bytes: room for three.
        let one = 44 + 4 * 1600;
        let service = TtsService::new(fake.clone(), &d, 3 * one + 100).unwrap();
        for text in ["aaaa", "bbbb", "cccc"] {
            service.prompt(text, "en", Gender::Male).await.unwrap();
        }
        // "aaaa" is used again: "bbbb" is now the oldest.
        assert!(
            service
                .prompt("aaaa", "en", Gender::Male)
                .await
                .unwrap()
                .cached
        );
        service.prompt("dddd", "en", Gender::Male).await.unwrap();
        let files = std::fs::read_dir(&d).unwrap().count();
        assert_eq!(files, 3, "bounded");
        assert_eq!(fake.renders.load(Ordering::SeqCst), 4);
        for (text, kept) in [
            ("aaaa", true),
            ("cccc", true),
            ("dddd", true),
            ("bbbb", false),
        ] {
            let p = service.prompt(text, "en", Gender::Male).await.unwrap();
            assert_eq!(p.cached, kept, "{text}");
            if !kept {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn languages_map_to_espeak_voices() {
        let installed: Vec<String> = [
            "af", "cmn", "de", "en-gb", "en-us", "es", "es-419", "fr-be", "fr-fr", "pt", "pt-br",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cases = [
            ("en-US", Some("en-us")),
            ("en-GB", Some("en-gb")),
            ("de-DE", Some("de")),
            ("fr", Some("fr-fr")),
            ("fr-CA", Some("fr-fr")),
            ("pt-BR", Some("pt-br")),
            ("es-MX", Some("es")),
            ("zh-CN", Some("cmn")),
            ("en", Some("en-us")),
            ("af-ZA", Some("af")),
            ("tlh", None),
        ];
        for (tag, want) in cases {
            assert_eq!(pick_voice(&installed, tag).as_deref(), want, "{tag}");
        }
        assert!(check_language("en-US").is_ok());
        for bad in ["", "-en", "en US", "en;rm", &"a".repeat(36)] {
            assert!(check_language(bad).is_err(), "{bad:?}");
        }
        let listing = "Pty Language       Age/Gender VoiceName          File                 Other Languages\n \
                       5  af              --/M      Afrikaans          gmw/af\n \
                       5  en-us           --/M      English_(America)  gmw/en-US\n";
        assert_eq!(parse_voices(listing), ["af", "en-us"]);
    }

    #[tokio::test]
    async fn without_espeak_ng_the_error_says_how_to_install_it() {
        let missing = EspeakNg::new("/nonexistent/espeak-ng");
        let e = missing.voice("en-US", Gender::Neutral).await.unwrap_err();
        let TtsError::Unavailable(m) = &e else {
            panic!("{e:?}");
        };
        assert!(
            m.contains("apt-get install espeak-ng") && m.contains("not found"),
            "{m}"
        );
        let api = ApiError::from(e);
        assert_eq!(
            (api.status.as_u16(), api.code),
            (503, crate::api::ErrorCode::TtsUnavailable)
        );
        assert!(missing.probe().await.is_err());
    }

    #[tokio::test]
    async fn espeak_ng_says_a_text_in_a_chosen_voice() {
        let espeak = EspeakNg::new("espeak-ng");
        if espeak.probe().await.is_err() {
            println!("SKIPPED: espeak-ng is not installed");
            return;
        }
        assert_eq!(
            espeak.voice("en-US", Gender::Female).await.unwrap(),
            "en-us+f3"
        );
        assert_eq!(espeak.voice("de-DE", Gender::Male).await.unwrap(), "de+m3");
        let e = espeak.voice("tlh", Gender::Male).await.unwrap_err();
        assert!(e.to_string().contains("espeak-ng --voices"), "{e}");
        // A text that looks like an option is said, not obeyed.
        let frame = espeak.render("--help me", "en-us").await.unwrap();
        let secs = frame.samples.len() as f64 / f64::from(frame.rate);
        assert!((0.3..3.0).contains(&secs), "{secs} s at {} Hz", frame.rate);
        let peak = frame
            .samples
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!(peak > 3000, "speech, not silence: {peak}");
    }
}
