//! RIFF/WAVE files: a crash-safe PCM 16-bit writer, a reader that turns
//! common WAV encodings into mono [`Frame`]s, and repair of a file a crash
//! left behind.
//!
//! Layout (Microsoft "Multimedia Programming Interface and Data
//! Specifications 1.0", RIFF and WAVE chapters): a `RIFF` chunk whose size
//! covers everything after its 8-byte header, the form type `WAVE`, then
//! sub-chunks, each `id(4) size(4, little-endian) body`, padded to an even
//! length. The writer emits the canonical 44-byte layout:
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 4 | `RIFF` |
//! | 4 | 4 | RIFF size = 36 + data size |
//! | 8 | 4 | `WAVE` |
//! | 12 | 4 | `fmt ` |
//! | 16 | 4 | 16 (size of the PCM format body) |
//! | 20 | 2 | format tag 1 (PCM) |
//! | 22 | 2 | channels |
//! | 24 | 4 | sample rate (Hz) |
//! | 28 | 4 | byte rate = rate x block align |
//! | 32 | 2 | block align = channels x 2 |
//! | 34 | 2 | bits per sample = 16 |
//! | 36 | 4 | `data` |
//! | 40 | 4 | data size (bytes) |
//! | 44 | ... | interleaved little-endian samples |
//!
//! Crash safety: [`WavWriter`] writes the header first (sizes 0), appends
//! samples, and patches both sizes at every checkpoint, by default once per
//! second of audio. The sizes never claim more than what was written, so if
//! the process dies the file is a playable WAV holding everything up to the
//! last checkpoint; [`repair`] then recovers the rest from the file length.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use crate::codec::g711;
use crate::Frame;

/// Length of the header [`WavWriter`] writes before the samples.
pub const HEADER_LEN: usize = 44;

/// `WAVE_FORMAT_PCM`: integer PCM.
pub const FORMAT_PCM: u16 = 0x0001;
/// `WAVE_FORMAT_IEEE_FLOAT`: 32-bit float samples in -1.0..=1.0.
pub const FORMAT_IEEE_FLOAT: u16 = 0x0003;
/// `WAVE_FORMAT_ALAW`: 8-bit ITU-T G.711 A-law.
pub const FORMAT_ALAW: u16 = 0x0006;
/// `WAVE_FORMAT_MULAW`: 8-bit ITU-T G.711 μ-law.
pub const FORMAT_MULAW: u16 = 0x0007;
/// `WAVE_FORMAT_EXTENSIBLE`: the real format is the first two bytes of the
/// sub-format GUID at offset 24 of the `fmt ` body.
pub const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// The size a streamed WAV header puts in both size fields when the length
/// is not known yet (the common convention for WAV over a pipe); [`decode`]
/// reads such a data chunk to the end of the input.
pub const UNKNOWN_SIZE: u32 = u32::MAX;

/// Tail of the `KSDATAFORMAT_SUBTYPE_*` GUIDs after the 2-byte format tag:
/// `{0000xxxx-0000-0010-8000-00aa00389b71}` stored little-endian.
const SUBTYPE_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// Everything that can go wrong reading, writing or repairing a WAV file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// The underlying reader or writer failed.
    #[error("WAV I/O: {0}")]
    Io(#[from] io::Error),
    /// An earlier I/O error left the writer at an unknown position; the file
    /// still holds a valid WAV up to the last checkpoint.
    #[error("WAV writer unusable after an earlier I/O error")]
    Failed,
    /// The input does not start with `RIFF....WAVE`.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// The input ends inside the named structure.
    #[error("WAV file truncated inside the {0}")]
    Truncated(&'static str),
    /// No `fmt ` chunk before the `data` chunk.
    #[error("WAV file has no fmt chunk before its data")]
    MissingFmt,
    /// No `data` chunk.
    #[error("WAV file has no data chunk")]
    MissingData,
    /// A well-formed `fmt ` chunk describing an encoding this reader does
    /// not decode (e.g. ADPCM, GSM 6.10, 64-bit float).
    #[error("unsupported WAV encoding: format tag {format_tag:#06x}, {bits} bits per sample")]
    Unsupported {
        /// The format tag (after resolving `WAVE_FORMAT_EXTENSIBLE`).
        format_tag: u16,
        /// Bits per sample as declared.
        bits: u16,
    },
    /// A `fmt ` chunk with impossible values (0 channels, rate 0, ...).
    #[error("invalid WAV fmt chunk: {0}")]
    InvalidFormat(&'static str),
    /// The data would exceed the 4 GiB a 32-bit RIFF size can describe.
    #[error("WAV data would exceed the 4 GiB RIFF limit")]
    TooLarge,
    /// `write_samples` got a count that is not a multiple of the channels.
    #[error("{samples} samples is not a whole number of {channels}-channel frames")]
    PartialFrame {
        /// Samples passed.
        samples: usize,
        /// Channels of the file.
        channels: u16,
    },
}

/// Shape of a PCM 16-bit file written by [`WavWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavSpec {
    /// Samples per second per channel.
    pub rate: u32,
    /// Interleaved channels (1 mono, 2 stereo: left first).
    pub channels: u16,
}

impl WavSpec {
    /// Bytes per sample frame (one sample of every channel).
    pub fn block_align(self) -> u16 {
        self.channels.saturating_mul(2)
    }

    /// Bytes per second of audio.
    pub fn byte_rate(self) -> u32 {
        self.rate.saturating_mul(u32::from(self.block_align()))
    }
}

/// The canonical 44-byte PCM 16-bit header for `spec` (layout in the
/// module docs). `data_len` is the data size in bytes; `None` writes
/// [`UNKNOWN_SIZE`] in both size fields, as a stream's first packet does
/// before the length is known.
pub fn header(spec: WavSpec, data_len: Option<u32>) -> [u8; HEADER_LEN] {
    let (riff, data) = match data_len {
        Some(d) => ((HEADER_LEN as u32 - 8).saturating_add(d), d),
        None => (UNKNOWN_SIZE, UNKNOWN_SIZE),
    };
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&spec.channels.to_le_bytes());
    h[24..28].copy_from_slice(&spec.rate.to_le_bytes());
    h[28..32].copy_from_slice(&spec.byte_rate().to_le_bytes());
    h[32..34].copy_from_slice(&spec.block_align().to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// What a finished (or repaired) file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavSummary {
    /// Sample frames (samples per channel).
    pub frames: u64,
    /// `frames / rate`.
    pub duration: Duration,
    /// Size of the file in bytes, header included.
    pub bytes: u64,
}

/// Crash-safe PCM 16-bit WAV writer over any `Write + Seek` (a `File` in the
/// server, a `Cursor` in tests). It never buffers samples itself: each
/// [`write_samples`](Self::write_samples) is one `write_all`.
///
/// The header is written at creation with sizes 0 and patched at each
/// checkpoint: automatically once at least one second of audio (or the
/// interval set by [`set_checkpoint_interval`](Self::set_checkpoint_interval))
/// has been appended since the last, or when the caller calls
/// [`checkpoint`](Self::checkpoint). A writer dropped without
/// [`finish`](Self::finish) (a crash) leaves a valid file covering all
/// checkpointed audio. A `BufWriter<File>` keeps that guarantee (each
/// checkpoint flushes it) with fewer system calls. Surviving power loss as
/// well needs the caller to `sync_data` the file after a checkpoint (compare
/// [`committed_frames`](Self::committed_frames) before and after a write).
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    out: W,
    spec: WavSpec,
    /// Stream position of the `RIFF` tag.
    start: u64,
    /// Data bytes appended so far.
    data_bytes: u64,
    /// Data bytes the header on disk currently covers.
    committed: u64,
    /// Automatic checkpoint after this many uncommitted bytes (0: never).
    checkpoint_bytes: u64,
    /// Little-endian bytes of the samples being written, reused.
    scratch: Vec<u8>,
    failed: bool,
}

/// Most channels [`WavWriter`] accepts.
const MAX_CHANNELS: u16 = 256;

/// Highest rate [`WavWriter`] accepts (Hz).
const MAX_RATE: u32 = 768_000;

/// Largest data size a RIFF size field can describe next to our header.
const MAX_DATA: u64 = u32::MAX as u64 - (HEADER_LEN as u64 - 8);

impl<W: Write + Seek> WavWriter<W> {
    /// Writes the header (data size 0) at the current position of `out` and
    /// returns a writer with automatic checkpoints every second.
    pub fn new(mut out: W, spec: WavSpec) -> Result<WavWriter<W>, WavError> {
        if spec.channels == 0 || spec.channels > MAX_CHANNELS {
            return Err(WavError::InvalidFormat("channels not in 1..=256"));
        }
        if spec.rate == 0 || spec.rate > MAX_RATE {
            return Err(WavError::InvalidFormat("sample rate not in 1..=768000"));
        }
        let start = out.stream_position()?;
        out.write_all(&header(spec, Some(0)))?;
        Ok(WavWriter {
            out,
            spec,
            start,
            data_bytes: 0,
            committed: 0,
            checkpoint_bytes: u64::from(spec.byte_rate()),
            scratch: Vec::new(),
            failed: false,
        })
    }

    /// Checkpoint automatically once `frames` sample frames are uncommitted;
    /// 0 turns automatic checkpoints off (the caller then calls
    /// [`checkpoint`](Self::checkpoint) itself).
    pub fn set_checkpoint_interval(&mut self, frames: u32) {
        self.checkpoint_bytes = u64::from(frames) * u64::from(self.spec.block_align());
    }

    /// Appends interleaved samples (a multiple of the channel count), then
    /// checkpoints if the interval is reached.
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), WavError> {
        if self.failed {
            return Err(WavError::Failed);
        }
        if !samples
            .len()
            .is_multiple_of(usize::from(self.spec.channels))
        {
            return Err(WavError::PartialFrame {
                samples: samples.len(),
                channels: self.spec.channels,
            });
        }
        let len = samples.len() as u64 * 2;
        if self.data_bytes + len > MAX_DATA {
            return Err(WavError::TooLarge);
        }
        self.scratch.clear();
        self.scratch
            .extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        if let Err(e) = self.out.write_all(&self.scratch) {
            self.failed = true;
            return Err(e.into());
        }
        self.data_bytes += len;
        if self.checkpoint_bytes != 0 && self.data_bytes - self.committed >= self.checkpoint_bytes {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Patches the RIFF and data sizes to cover everything written so far,
    /// returns to the end and flushes. Nothing to do if nothing new.
    pub fn checkpoint(&mut self) -> Result<(), WavError> {
        if self.failed {
            return Err(WavError::Failed);
        }
        if self.committed == self.data_bytes {
            return Ok(());
        }
        match self.patch_sizes() {
            Ok(()) => {
                self.committed = self.data_bytes;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e.into())
            }
        }
    }

    fn patch_sizes(&mut self) -> io::Result<()> {
        // Both values fit: write_samples keeps data_bytes <= MAX_DATA.
        let data = self.data_bytes as u32;
        let riff = data + (HEADER_LEN as u32 - 8);
        self.out.seek(SeekFrom::Start(self.start + 40))?;
        self.out.write_all(&data.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(self.start + 4))?;
        self.out.write_all(&riff.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(
            self.start + HEADER_LEN as u64 + self.data_bytes,
        ))?;
        self.out.flush()
    }

    /// The file's shape.
    pub fn spec(&self) -> WavSpec {
        self.spec
    }

    /// Sample frames written so far.
    pub fn frames(&self) -> u64 {
        self.data_bytes / u64::from(self.spec.block_align())
    }

    /// Sample frames the header on disk covers (what survives a crash now).
    pub fn committed_frames(&self) -> u64 {
        self.committed / u64::from(self.spec.block_align())
    }

    /// Audio written so far.
    pub fn duration(&self) -> Duration {
        frames_duration(self.frames(), self.spec.rate)
    }

    /// File bytes written so far, header included.
    pub fn bytes(&self) -> u64 {
        HEADER_LEN as u64 + self.data_bytes
    }

    /// Patches the final sizes, flushes, and hands back the summary and the
    /// underlying writer (to hash or close the file).
    pub fn finish(mut self) -> Result<(WavSummary, W), WavError> {
        self.checkpoint()?;
        self.out.flush()?;
        let summary = WavSummary {
            frames: self.frames(),
            duration: self.duration(),
            bytes: self.bytes(),
        };
        Ok((summary, self.out))
    }
}

fn frames_duration(frames: u64, rate: u32) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    let rate = u64::from(rate);
    Duration::from_secs(frames / rate) + Duration::from_nanos(frames % rate * 1_000_000_000 / rate)
}

/// Sample encoding of a parsed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// Integer PCM: 8-bit unsigned, 16/24/32-bit signed little-endian.
    Pcm,
    /// 32-bit IEEE float.
    Float,
    /// 8-bit G.711 A-law.
    ALaw,
    /// 8-bit G.711 μ-law.
    MuLaw,
}

/// The `fmt ` and `data` facts of a parsed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// How samples are encoded.
    pub encoding: Encoding,
    /// Interleaved channels.
    pub channels: u16,
    /// Sample frames per second.
    pub rate: u32,
    /// Bits per sample as declared.
    pub bits: u16,
    /// Offset of the first sample byte in the input.
    pub data_offset: usize,
    /// Sample bytes available: the declared data size, cut to what the input
    /// holds (a file truncated by a crash), or to the end of the input when
    /// the size is [`UNKNOWN_SIZE`].
    pub data_len: usize,
}

impl WavInfo {
    /// Bytes per sample frame as implied by channels and bits.
    pub fn block_align(&self) -> usize {
        usize::from(self.channels) * usize::from(self.bits.div_ceil(8))
    }

    /// Whole sample frames in the data.
    pub fn frames(&self) -> usize {
        self.data_len / self.block_align()
    }

    /// Duration of the whole frames.
    pub fn duration(&self) -> Duration {
        frames_duration(self.frames() as u64, self.rate)
    }
}

/// Parses the chunk structure of a WAV file held in memory: checks the
/// `RIFF`/`WAVE` header, reads the `fmt ` chunk, skips unknown chunks
/// (`LIST`, `fact`, `cue `, ...) and locates the data. The RIFF size is not
/// trusted (a crashed writer may have left it short).
pub fn parse_header(bytes: &[u8]) -> Result<WavInfo, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut fmt: Option<(Encoding, u16, u32, u16)> = None;
    let mut pos = 12usize;
    loop {
        let Some(head) = pos.checked_add(8).and_then(|end| bytes.get(pos..end)) else {
            return Err(if fmt.is_none() {
                WavError::MissingFmt
            } else {
                WavError::MissingData
            });
        };
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let body = pos + 8;
        match &head[0..4] {
            b"fmt " => {
                let end = body
                    .checked_add(size as usize)
                    .filter(|&e| e <= bytes.len())
                    .ok_or(WavError::Truncated("fmt chunk"))?;
                fmt = Some(parse_fmt(&bytes[body..end])?);
            }
            b"data" => {
                let (encoding, channels, rate, bits) = fmt.ok_or(WavError::MissingFmt)?;
                let available = bytes.len() - body;
                let data_len = if size == UNKNOWN_SIZE {
                    available
                } else {
                    available.min(size as usize)
                };
                return Ok(WavInfo {
                    encoding,
                    channels,
                    rate,
                    bits,
                    data_offset: body,
                    data_len,
                });
            }
            _ => {}
        }
        // RIFF: chunks are padded to an even length; the pad is not counted.
        pos = body
            .saturating_add(size as usize)
            .saturating_add(size as usize & 1);
    }
}

/// Decodes the body of a `fmt ` chunk into (encoding, channels, rate, bits).
fn parse_fmt(b: &[u8]) -> Result<(Encoding, u16, u32, u16), WavError> {
    if b.len() < 16 {
        return Err(WavError::Truncated("fmt chunk"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let bits = u16_at(14);
    if tag == FORMAT_EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) GUID(16).
        if b.len() < 40 {
            return Err(WavError::Truncated("fmt chunk"));
        }
        if b[26..40] != SUBTYPE_GUID_TAIL {
            return Err(WavError::Unsupported {
                format_tag: FORMAT_EXTENSIBLE,
                bits,
            });
        }
        tag = u16_at(24);
    }
    if channels == 0 {
        return Err(WavError::InvalidFormat("0 channels"));
    }
    if rate == 0 {
        return Err(WavError::InvalidFormat("sample rate 0"));
    }
    let encoding = match (tag, bits) {
        (FORMAT_PCM, 8 | 16 | 24 | 32) => Encoding::Pcm,
        (FORMAT_IEEE_FLOAT, 32) => Encoding::Float,
        (FORMAT_ALAW, 8) => Encoding::ALaw,
        (FORMAT_MULAW, 8) => Encoding::MuLaw,
        _ => {
            return Err(WavError::Unsupported {
                format_tag: tag,
                bits,
            })
        }
    };
    Ok((encoding, channels, rate, bits))
}

/// Decodes a whole WAV file into mono 16-bit PCM at the file's rate:
/// channels are averaged, 8-bit PCM is re-centred and scaled, 24/32-bit PCM
/// keeps its top 16 bits, float is scaled by 32767 and clamped, A-law and
/// μ-law are expanded per ITU-T G.711. A trailing partial frame is ignored.
pub fn decode(bytes: &[u8]) -> Result<Frame, WavError> {
    let info = parse_header(bytes)?;
    let data = &bytes[info.data_offset..info.data_offset + info.data_len];
    let width = usize::from(info.bits / 8);
    let channels = usize::from(info.channels);
    let sample = |s: &[u8]| -> i32 {
        match (info.encoding, width) {
            (Encoding::Pcm, 1) => (i32::from(s[0]) - 128) << 8,
            (Encoding::Pcm, 2) => i32::from(i16::from_le_bytes([s[0], s[1]])),
            (Encoding::Pcm, 3) => i32::from(i16::from_le_bytes([s[1], s[2]])),
            (Encoding::Pcm, _) => i32::from(i16::from_le_bytes([s[2], s[3]])),
            (Encoding::Float, _) => {
                let f = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                // `as` saturates and maps NaN to 0.
                (f * 32767.0).clamp(-32768.0, 32767.0) as i32
            }
            (Encoding::ALaw, _) => i32::from(g711::alaw_decode(s[0])),
            (Encoding::MuLaw, _) => i32::from(g711::ulaw_decode(s[0])),
        }
    };
    let samples = data
        .chunks_exact(info.block_align())
        .map(|frame| {
            let sum: i32 = frame.chunks_exact(width).map(sample).sum();
            // The mean of i16 values is an i16.
            (sum / channels as i32) as i16
        })
        .collect();
    Ok(Frame::new(info.rate, samples))
}

/// What [`repair`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// Whether any size field was rewritten.
    pub changed: bool,
    /// The file as it is now.
    pub summary: WavSummary,
}

/// Fixes the RIFF and data sizes of a WAV file a crash (or a stream with
/// [`UNKNOWN_SIZE`]) left wrong, using the file length: the data chunk is
/// taken to run to the end of the file (as [`WavWriter`] lays it out), in
/// whole sample frames. If the declared data is followed by what looks like
/// another chunk (e.g. a trailing `LIST`), the data size is kept and only the
/// RIFF size is corrected. Only the 8 size bytes are ever written.
pub fn repair<F: Read + Write + Seek>(file: &mut F) -> Result<Repair, WavError> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 12];
    read_exact_or(file, &mut head, WavError::NotWave)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut block_align: Option<(u64, u32)> = None;
    let mut pos = 12u64;
    let (body, declared) = loop {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(pos))?;
        let missing = if block_align.is_none() {
            WavError::MissingFmt
        } else {
            WavError::MissingData
        };
        read_exact_or(file, &mut chunk, missing)?;
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        match &chunk[0..4] {
            b"fmt " => {
                let mut fmt = vec![0u8; (size as usize).min(64)];
                read_exact_or(file, &mut fmt, WavError::Truncated("fmt chunk"))?;
                let (_, channels, rate, bits) = parse_fmt(&fmt)?;
                let align = u64::from(channels) * u64::from(bits.div_ceil(8));
                block_align = Some((align, rate));
            }
            b"data" => break (pos + 8, size),
            _ => {}
        }
        pos += 8 + u64::from(size) + u64::from(size & 1);
    };
    let (align, rate) = block_align.ok_or(WavError::MissingFmt)?;
    let available = len - body;
    let trailing_chunks = declared != UNKNOWN_SIZE
        && u64::from(declared) <= available
        && chunk_follows(
            file,
            body + u64::from(declared) + u64::from(declared & 1),
            len,
        )?;
    let (data, riff) = if trailing_chunks {
        (u64::from(declared), len - 8)
    } else {
        let data = available / align * align;
        // The RIFF size counts the data's pad byte if the file has it.
        (data, (body + data + (data & 1)).min(len) - 8)
    };
    if riff > u64::from(u32::MAX) {
        return Err(WavError::TooLarge);
    }
    let mut current = [0u8; 4];
    file.seek(SeekFrom::Start(4))?;
    file.read_exact(&mut current)?;
    let changed = u32::from_le_bytes(current) != riff as u32 || declared != data as u32;
    if changed {
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&(riff as u32).to_le_bytes())?;
        file.seek(SeekFrom::Start(body - 4))?;
        file.write_all(&(data as u32).to_le_bytes())?;
        file.flush()?;
    }
    let frames = data / align;
    Ok(Repair {
        changed,
        summary: WavSummary {
            frames,
            duration: frames_duration(frames, rate),
            bytes: len,
        },
    })
}

/// [`repair`] on a file by path (opened read-write, synced afterwards).
pub fn repair_file(path: &Path) -> Result<Repair, WavError> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let outcome = repair(&mut file)?;
    if outcome.changed {
        file.sync_data()?;
    }
    Ok(outcome)
}

/// Whether a plausible chunk header (four printable ASCII bytes and a size
/// that fits in the file) starts at `at`.
fn chunk_follows<F: Read + Seek>(file: &mut F, at: u64, len: u64) -> io::Result<bool> {
    if at + 8 > len {
        return Ok(false);
    }
    let mut chunk = [0u8; 8];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut chunk)?;
    let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
    Ok(chunk[0..4]
        .iter()
        .all(|c| c.is_ascii_graphic() || *c == b' ')
        && at + 8 + u64::from(size) <= len)
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], short: WavError) -> Result<(), WavError> {
    match r.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(short),
        Err(e) => Err(e.into()),
    }
}

/// A finished in-memory WAV file holding `samples` (tests).
#[cfg(test)]
pub(crate) fn file_of(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let mut w = WavWriter::new(std::io::Cursor::new(Vec::new()), WavSpec { rate, channels })
        .expect("an in-memory writer");
    w.write_samples(samples).expect("whole frames");
    w.finish().expect("finished").1.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_le_bytes([b[i], b[i + 1]])
    }

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    fn ramp(n: usize) -> Vec<i16> {
        (0..n).map(|i| (i as i32 * 37 - 20_000) as i16).collect()
    }

    /// Hand-built WAV: a `fmt ` body and a data body, with extra chunks.
    fn build(fmt: &[u8], extra_before_data: &[(&[u8; 4], &[u8])], data: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVE".to_vec();
        fn chunk(v: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
            v.extend_from_slice(id);
            v.extend_from_slice(&(body.len() as u32).to_le_bytes());
            v.extend_from_slice(body);
            if body.len() % 2 == 1 {
                v.push(0);
            }
        }
        chunk(&mut v, b"fmt ", fmt);
        for (id, body) in extra_before_data {
            chunk(&mut v, id, body);
        }
        chunk(&mut v, b"data", data);
        let riff = (v.len() - 8) as u32;
        v[4..8].copy_from_slice(&riff.to_le_bytes());
        v
    }

    fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits.div_ceil(8);
        let mut f = Vec::new();
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    #[test]
    fn written_file_has_the_riff_layout_and_reads_back_bit_exact() {
        let samples = ramp(2 * 1234);
        let spec = WavSpec {
            rate: 16_000,
            channels: 2,
        };
        let mut w = WavWriter::new(Cursor::new(Vec::new()), spec).unwrap();
        for chunk in samples.chunks(640) {
            w.write_samples(chunk).unwrap();
        }
        let (summary, cursor) = w.finish().unwrap();
        let b = cursor.into_inner();
        let data_len = samples.len() as u32 * 2;

        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32_at(&b, 4), 36 + data_len, "RIFF size = file length - 8");
        assert_eq!(u32_at(&b, 4) as usize, b.len() - 8);
        assert_eq!(&b[8..12], b"WAVE");
        assert_eq!(&b[12..16], b"fmt ");
        assert_eq!(u32_at(&b, 16), 16);
        assert_eq!(u16_at(&b, 20), 1, "PCM");
        assert_eq!(u16_at(&b, 22), 2, "channels");
        assert_eq!(u32_at(&b, 24), 16_000, "rate");
        assert_eq!(u32_at(&b, 28), 16_000 * 4, "byte rate");
        assert_eq!(u16_at(&b, 32), 4, "block align");
        assert_eq!(u16_at(&b, 34), 16, "bits");
        assert_eq!(&b[36..40], b"data");
        assert_eq!(u32_at(&b, 40), data_len);
        let body: Vec<i16> = b[44..]
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]))
            .collect();
        assert_eq!(body, samples);

        assert_eq!(summary.frames, 1234);
        assert_eq!(summary.bytes, b.len() as u64);
        assert_eq!(summary.duration, Duration::from_micros(77_125));

        let info = parse_header(&b).unwrap();
        assert_eq!((info.channels, info.rate, info.bits), (2, 16_000, 16));
        assert_eq!(info.frames(), 1234);
        // Mono decode averages the two channels.
        let mono = decode(&b).unwrap();
        let expect: Vec<i16> = samples
            .chunks_exact(2)
            .map(|p| ((i32::from(p[0]) + i32::from(p[1])) / 2) as i16)
            .collect();
        assert_eq!(mono, Frame::new(16_000, expect));
    }

    #[test]
    fn mono_file_decodes_bit_exact() {
        let samples = ramp(800);
        let file = file_of(8000, 1, &samples);
        assert_eq!(decode(&file).unwrap(), Frame::new(8000, samples));
    }

    #[test]
    fn crashed_writer_leaves_a_playable_file_covering_its_checkpoints() {
        let rate = 8000;
        let samples = ramp(rate * 5 / 2); // 2.5 s in 20 ms frames
        let mut file = Cursor::new(Vec::new());
        {
            let mut w = WavWriter::new(
                &mut file,
                WavSpec {
                    rate: 8000,
                    channels: 1,
                },
            )
            .unwrap();
            for chunk in samples.chunks(160) {
                w.write_samples(chunk).unwrap();
            }
            assert_eq!(w.frames(), samples.len() as u64);
            assert_eq!(w.committed_frames(), 2 * 8000);
            // Dropped here without finish(): the process "crashed".
        }
        let b = file.into_inner();
        assert_eq!(
            b.len(),
            44 + samples.len() * 2,
            "every sample reached the file"
        );
        let data = u32_at(&b, 40) as usize;
        assert_eq!(
            data,
            2 * 8000 * 2,
            "header covers the two checkpointed seconds"
        );
        assert_eq!(u32_at(&b, 4) as usize, 36 + data);
        let decoded = decode(&b).unwrap();
        assert_eq!(decoded.samples, samples[..2 * 8000]);

        // Repair recovers the last half second from the file length.
        let mut file = Cursor::new(b);
        let r = repair(&mut file).unwrap();
        assert!(r.changed);
        assert_eq!(r.summary.frames, samples.len() as u64);
        assert_eq!(r.summary.duration, Duration::from_millis(2500));
        assert_eq!(decode(file.get_ref()).unwrap().samples, samples);
        // A second repair finds nothing to do.
        assert!(!repair(&mut file).unwrap().changed);
    }

    #[test]
    fn manual_checkpoints_when_automatic_ones_are_off() {
        let mut file = Cursor::new(Vec::new());
        {
            let mut w = WavWriter::new(
                &mut file,
                WavSpec {
                    rate: 8000,
                    channels: 1,
                },
            )
            .unwrap();
            w.set_checkpoint_interval(0);
            w.write_samples(&ramp(8000 * 3)).unwrap();
            assert_eq!(w.committed_frames(), 0);
            w.checkpoint().unwrap();
            w.write_samples(&[1, 2, 3]).unwrap();
        }
        let b = file.into_inner();
        assert_eq!(u32_at(&b, 40), 8000 * 3 * 2);
        assert_eq!(decode(&b).unwrap().samples.len(), 8000 * 3);
    }

    #[test]
    fn repair_shrinks_sizes_of_a_truncated_file_to_whole_frames() {
        let samples = ramp(2 * 1000);
        let mut b = file_of(8000, 2, &samples);
        // Cut mid-frame: 600 whole frames (2400 bytes) plus 3 bytes.
        b.truncate(44 + 600 * 4 + 3);
        let mut file = Cursor::new(b);
        let r = repair(&mut file).unwrap();
        assert!(r.changed);
        assert_eq!(r.summary.frames, 600);
        let b = file.into_inner();
        assert_eq!(u32_at(&b, 40), 2400);
        assert_eq!(
            u32_at(&b, 4),
            36 + 2400,
            "the partial frame is outside the RIFF"
        );
        let info = parse_header(&b).unwrap();
        assert_eq!(info.frames(), 600);
    }

    #[test]
    fn repair_fixes_a_streamed_header_and_keeps_trailing_chunks() {
        let spec = WavSpec {
            rate: 8000,
            channels: 1,
        };
        let mut b = header(spec, None).to_vec();
        assert_eq!(u32_at(&b, 4), UNKNOWN_SIZE);
        assert_eq!(u32_at(&b, 40), UNKNOWN_SIZE);
        for s in ramp(300) {
            b.extend_from_slice(&s.to_le_bytes());
        }
        // Read as-is: the unknown size means "to the end".
        assert_eq!(decode(&b).unwrap().samples, ramp(300));
        let mut file = Cursor::new(b);
        assert!(repair(&mut file).unwrap().changed);
        let mut b = file.into_inner();
        assert_eq!(u32_at(&b, 40), 600);

        // A valid file with a LIST chunk after the data: data size kept.
        b.extend_from_slice(b"LIST\x04\0\0\0INFO");
        b[4..8].copy_from_slice(&0u32.to_le_bytes());
        let mut file = Cursor::new(b);
        let r = repair(&mut file).unwrap();
        assert!(r.changed, "RIFF size fixed");
        assert_eq!(r.summary.frames, 300);
        let b = file.into_inner();
        assert_eq!(u32_at(&b, 40), 600);
        assert_eq!(u32_at(&b, 4) as usize, b.len() - 8);
    }

    #[test]
    fn reader_skips_unknown_chunks_and_decodes_8_bit_pcm() {
        let fmt = fmt_body(FORMAT_PCM, 1, 11_025, 8);
        let data = [0u8, 128, 255, 64, 192];
        let b = build(
            &fmt,
            &[(b"LIST", b"INFOabc"), (b"fact", &[5, 0, 0, 0])],
            &data,
        );
        let f = decode(&b).unwrap();
        assert_eq!(f.rate, 11_025);
        assert_eq!(f.samples, vec![-32768, 0, 127 << 8, -64 << 8, 64 << 8]);
    }

    #[test]
    fn reader_decodes_24_bit_and_float_and_extensible() {
        let d24 = [0x00, 0x34, 0x12, 0xFF, 0xFF, 0x80];
        let f = decode(&build(&fmt_body(FORMAT_PCM, 1, 48_000, 24), &[], &d24)).unwrap();
        assert_eq!(f.samples, vec![0x1234, i16::MIN + 0xFF]);

        let mut dfloat = Vec::new();
        for x in [0.5f32, -1.0, 2.0] {
            dfloat.extend_from_slice(&x.to_le_bytes());
        }
        let f = decode(&build(
            &fmt_body(FORMAT_IEEE_FLOAT, 1, 8000, 32),
            &[],
            &dfloat,
        ))
        .unwrap();
        assert_eq!(f.samples, vec![16_383, -32_767, 32_767]);

        // WAVE_FORMAT_EXTENSIBLE wrapping 16-bit PCM, stereo.
        let mut ext = fmt_body(FORMAT_EXTENSIBLE, 2, 44_100, 16);
        ext.extend_from_slice(&22u16.to_le_bytes());
        ext.extend_from_slice(&16u16.to_le_bytes());
        ext.extend_from_slice(&3u32.to_le_bytes());
        ext.extend_from_slice(&FORMAT_PCM.to_le_bytes());
        ext.extend_from_slice(&SUBTYPE_GUID_TAIL);
        let mut data = Vec::new();
        for s in [1000i16, 3000, -10, -20] {
            data.extend_from_slice(&s.to_le_bytes());
        }
        let f = decode(&build(&ext, &[], &data)).unwrap();
        assert_eq!(f, Frame::new(44_100, vec![2000, -15]));
    }

    #[test]
    fn reader_expands_g711_per_the_itu_tables() {
        // μ-law: 0xFF and 0x7F are ±0, 0x80/0x00 the largest magnitudes
        // (8031 in 14-bit units, x4), 0xEF the first step of segment 1 (33, x4).
        let mu = [0xFF, 0x7F, 0x80, 0x00, 0xEF];
        let f = decode(&build(&fmt_body(FORMAT_MULAW, 1, 8000, 8), &[], &mu)).unwrap();
        assert_eq!(f.samples, vec![0, 0, 8031 * 4, -8031 * 4, 33 * 4]);
        // A-law: 0xD5/0x55 are the smallest magnitudes (1 in 13-bit units, x8),
        // 0xAA/0x2A the largest (4032, x8).
        let a = [0xD5, 0x55, 0xAA, 0x2A];
        let f = decode(&build(&fmt_body(FORMAT_ALAW, 1, 8000, 8), &[], &a)).unwrap();
        assert_eq!(f.samples, vec![8, -8, 4032 * 8, -4032 * 8]);
    }

    #[test]
    fn reader_reports_clear_errors() {
        assert!(matches!(
            decode(b"RIFX\0\0\0\0WAVE"),
            Err(WavError::NotWave)
        ));
        assert!(matches!(
            decode(b"RIFF\0\0\0\0AVI "),
            Err(WavError::NotWave)
        ));
        let adpcm = fmt_body(0x0011, 1, 8000, 4);
        assert!(matches!(
            decode(&build(&adpcm, &[], &[0; 10])),
            Err(WavError::Unsupported {
                format_tag: 0x0011,
                bits: 4
            })
        ));
        let pcm12 = fmt_body(FORMAT_PCM, 1, 8000, 12);
        assert!(matches!(
            decode(&build(&pcm12, &[], &[0; 10])),
            Err(WavError::Unsupported { bits: 12, .. })
        ));
        let no_channels = fmt_body(FORMAT_PCM, 0, 8000, 16);
        assert!(matches!(
            decode(&build(&no_channels, &[], &[0; 4])),
            Err(WavError::InvalidFormat(_))
        ));
        // data before fmt
        let mut b = b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0".to_vec();
        assert!(matches!(decode(&b), Err(WavError::MissingFmt)));
        b.truncate(12);
        assert!(matches!(decode(&b), Err(WavError::MissingFmt)));
        let only_fmt = build(&fmt_body(FORMAT_PCM, 1, 8000, 16), &[], &[]);
        let cut = &only_fmt[..only_fmt.len() - 8];
        assert!(matches!(decode(cut), Err(WavError::MissingData)));
        assert!(matches!(
            decode(&only_fmt[..30]),
            Err(WavError::Truncated("fmt chunk"))
        ));
    }

    #[test]
    fn writer_rejects_partial_frames_and_bad_specs() {
        let spec = WavSpec {
            rate: 8000,
            channels: 2,
        };
        let mut w = WavWriter::new(Cursor::new(Vec::new()), spec).unwrap();
        assert!(matches!(
            w.write_samples(&[1, 2, 3]),
            Err(WavError::PartialFrame {
                samples: 3,
                channels: 2
            })
        ));
        assert!(WavWriter::new(
            Cursor::new(Vec::new()),
            WavSpec {
                rate: 0,
                channels: 1
            }
        )
        .is_err());
        assert!(WavWriter::new(
            Cursor::new(Vec::new()),
            WavSpec {
                rate: 8000,
                channels: 0
            }
        )
        .is_err());
    }

    #[test]
    fn writer_is_unusable_after_an_io_error_but_the_file_stays_valid() {
        /// Accepts `budget` bytes, then fails every write.
        struct Full {
            inner: Cursor<Vec<u8>>,
            budget: usize,
        }
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if buf.len() > self.budget {
                    return Err(io::Error::other("disk full"));
                }
                self.budget -= buf.len();
                self.inner.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Seek for Full {
            fn seek(&mut self, p: SeekFrom) -> io::Result<u64> {
                self.inner.seek(p)
            }
        }
        let mut full = Full {
            inner: Cursor::new(Vec::new()),
            budget: 44 + 3 * (320 + 8) + 8,
        };
        {
            let mut w = WavWriter::new(
                &mut full,
                WavSpec {
                    rate: 8000,
                    channels: 1,
                },
            )
            .unwrap();
            w.set_checkpoint_interval(160);
            for _ in 0..3 {
                w.write_samples(&ramp(160)).unwrap();
            }
            assert!(matches!(w.write_samples(&ramp(160)), Err(WavError::Io(_))));
            assert!(matches!(w.write_samples(&ramp(160)), Err(WavError::Failed)));
            assert!(matches!(w.finish(), Err(WavError::Failed)));
        }
        let decoded = decode(full.inner.get_ref()).unwrap();
        assert_eq!(decoded.samples.len(), 480);
    }
}
