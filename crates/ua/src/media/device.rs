//! Sound devices (feature `device`): a microphone as a source, a speaker
//! as a sink, through `cpal` (ALSA on Linux: building needs the ALSA
//! headers, Debian's `libasound2-dev`, and `pkg-config`).
//!
//! A cpal stream calls back on its own audio thread and may not be sent
//! between threads, so each device runs on a thread of its own that opens
//! it, plays it and holds it until the session lets go. The callback and
//! the session's task share a ring of mono samples at the device's rate
//! behind a mutex (held for a copy, never across a wait); the task
//! resamples between the device's rate and the codec's.
//!
//! ```text
//! microphone ─▶ callback (downmix) ─▶ ring ─▶ Input::fill  (resample to the codec rate) ─▶ encoder
//! decoder ─▶ Output::write (resample to the device rate) ─▶ ring ─▶ callback (upmix) ─▶ speaker
//! ```

use super::util::RateAdapter;
use super::MediaError;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{SampleFormat, StreamConfig};
use media::codec::Resampler;
use media::Frame;
use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

/// Most audio a ring holds (the oldest is dropped beyond it): clock drift
/// between the device and the network cannot build up delay.
const RING_MS: u32 = 200;

/// How long opening a device may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A sound device the host offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The name to give [`super::AudioSource::Device`] or [`super::AudioSink::Device`].
    pub name: String,
    /// It can record (a microphone).
    pub input: bool,
    /// It can play (a speaker).
    pub output: bool,
}

/// The sound devices of the default host (empty when there are none or
/// the host cannot be asked).
pub fn devices() -> Vec<DeviceInfo> {
    let host = cpal::default_host();
    let Ok(devices) = host.devices() else {
        return Vec::new();
    };
    devices
        .map(|d| DeviceInfo {
            name: d.to_string(),
            input: d.supports_input(),
            output: d.supports_output(),
        })
        .collect()
}

/// Mono samples at the device's rate, shared with the callback.
type Ring = Arc<Mutex<VecDeque<i16>>>;

fn lock(ring: &Ring) -> std::sync::MutexGuard<'_, VecDeque<i16>> {
    // Each holder only copies samples: a poisoned ring is still a ring.
    ring.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which way a device is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Input,
    Output,
}

/// The thread holding a device's stream; dropping it closes the stream.
#[derive(Debug)]
struct StreamThread {
    _stop: mpsc::Sender<()>,
}

/// Opens device `name` (default: the host's default) on a thread of its
/// own; returns the thread and the device's rate.
fn open(way: Way, name: Option<&str>, ring: Ring) -> Result<(StreamThread, u32), MediaError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let (opened, result) = mpsc::channel();
    let name = name.map(str::to_owned);
    std::thread::Builder::new()
        .name("ua-sound-device".into())
        .spawn(move || match start(way, name.as_deref(), ring) {
            Ok((stream, rate)) => {
                let _ = opened.send(Ok(rate));
                // Until the session lets go (the sender is dropped).
                let _ = stopped.recv();
                drop(stream);
            }
            Err(e) => {
                let _ = opened.send(Err(e));
            }
        })?;
    let rate = result
        .recv_timeout(OPEN_TIMEOUT)
        .map_err(|_| MediaError::Invalid("the sound device did not open in time".into()))??;
    Ok((StreamThread { _stop: stop }, rate))
}

/// Finds the device and starts its stream (on the device's thread).
fn start(way: Way, name: Option<&str>, ring: Ring) -> Result<(cpal::Stream, u32), MediaError> {
    let host = cpal::default_host();
    let device = match (name, way) {
        (None, Way::Input) => host.default_input_device(),
        (None, Way::Output) => host.default_output_device(),
        (Some(name), _) => host
            .devices()
            .map_err(|e| MediaError::Invalid(format!("cannot list the sound devices: {e}")))?
            .find(|d| d.to_string() == name),
    };
    let label = name.unwrap_or("the default device");
    let Some(device) = device else {
        return Err(MediaError::Invalid(format!(
            "no sound device named {label:?}"
        )));
    };
    let supported = match way {
        Way::Input => device.default_input_config(),
        Way::Output => device.default_output_config(),
    }
    .map_err(|e| MediaError::Invalid(format!("{label} cannot be used this way: {e}")))?;
    let config: StreamConfig = supported.config();
    let rate = config.sample_rate;
    let channels = usize::from(config.channels.max(1));
    let capacity = (rate * RING_MS / 1000) as usize;
    let on_error = |e: cpal::Error| tracing::warn!(error = %e, "sound device stream error");
    let stream = match (way, supported.sample_format()) {
        (Way::Input, SampleFormat::I16) => device.build_input_stream(
            config,
            move |data: &[i16], _: &_| capture(&ring, data, channels, capacity, |s| s),
            on_error,
            Some(OPEN_TIMEOUT),
        ),
        (Way::Input, SampleFormat::F32) => device.build_input_stream(
            config,
            move |data: &[f32], _: &_| capture(&ring, data, channels, capacity, from_f32),
            on_error,
            Some(OPEN_TIMEOUT),
        ),
        (Way::Output, SampleFormat::I16) => device.build_output_stream(
            config,
            move |data: &mut [i16], _: &_| playback(&ring, data, channels, |s| s),
            on_error,
            Some(OPEN_TIMEOUT),
        ),
        (Way::Output, SampleFormat::F32) => device.build_output_stream(
            config,
            move |data: &mut [f32], _: &_| playback(&ring, data, channels, to_f32),
            on_error,
            Some(OPEN_TIMEOUT),
        ),
        (_, format) => {
            return Err(MediaError::Invalid(format!(
                "{label} uses {format:?} samples; 16-bit integer or 32-bit float is needed"
            )))
        }
    }
    .map_err(|e| MediaError::Invalid(format!("cannot open {label}: {e}")))?;
    stream
        .play()
        .map_err(|e| MediaError::Invalid(format!("cannot start {label}: {e}")))?;
    Ok((stream, rate))
}

fn from_f32(s: f32) -> i16 {
    (s * 32767.0).clamp(-32768.0, 32767.0) as i16
}

fn to_f32(s: i16) -> f32 {
    f32::from(s) / 32768.0
}

/// The microphone's callback: downmix, append, keep at most `capacity`.
fn capture<T: Copy>(
    ring: &Ring,
    data: &[T],
    channels: usize,
    capacity: usize,
    f: impl Fn(T) -> i16,
) {
    let mut ring = lock(ring);
    for frame in data.chunks_exact(channels) {
        let sum: i32 = frame.iter().map(|&s| i32::from(f(s))).sum();
        ring.push_back((sum / channels as i32) as i16);
    }
    let excess = ring.len().saturating_sub(capacity);
    ring.drain(..excess);
}

/// The speaker's callback: take what is there (silence for the rest), to
/// every channel.
fn playback<T: Copy>(ring: &Ring, data: &mut [T], channels: usize, f: impl Fn(i16) -> T) {
    let mut ring = lock(ring);
    for frame in data.chunks_exact_mut(channels) {
        let s = f(ring.pop_front().unwrap_or(0));
        frame.fill(s);
    }
}

/// A microphone as the call's source.
#[derive(Debug)]
pub(super) struct Input {
    ring: Ring,
    rate: u32,
    resampler: Option<Resampler>,
    /// What the callback captured, taken out of the ring (reused).
    captured: Vec<i16>,
    pending: Vec<i16>,
    _thread: StreamThread,
}

impl Input {
    pub(super) fn open(name: Option<&str>) -> Result<Input, MediaError> {
        let ring = Ring::default();
        let (thread, rate) = open(Way::Input, name, ring.clone())?;
        Ok(Input {
            ring,
            rate,
            resampler: None,
            captured: Vec::new(),
            pending: Vec::new(),
            _thread: thread,
        })
    }

    /// The next `out.len()` samples at `rate` (silence where the device
    /// has not delivered).
    pub(super) fn fill(&mut self, rate: u32, out: &mut [i16]) {
        if self.resampler.as_ref().is_none_or(|r| r.to_rate() != rate) {
            self.resampler = Resampler::new(self.rate, rate).ok();
            self.pending.clear();
        }
        let Some(resampler) = &mut self.resampler else {
            out.fill(0);
            return;
        };
        self.captured.clear();
        self.captured.extend(lock(&self.ring).drain(..));
        resampler.process(&self.captured, &mut self.pending);
        let n = self.pending.len().min(out.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        out[n..].fill(0);
        self.pending.drain(..n);
        // Drift: never keep more than the ring would.
        let cap = (rate * RING_MS / 1000) as usize;
        let excess = self.pending.len().saturating_sub(cap);
        self.pending.drain(..excess);
    }
}

/// A speaker as the call's sink.
#[derive(Debug)]
pub(super) struct Output {
    ring: Ring,
    capacity: usize,
    adapter: RateAdapter,
    _thread: StreamThread,
}

impl Output {
    pub(super) fn open(name: Option<&str>) -> Result<Output, MediaError> {
        let ring = Ring::default();
        let (thread, rate) = open(Way::Output, name, ring.clone())?;
        Ok(Output {
            ring,
            capacity: (rate * RING_MS / 1000) as usize,
            adapter: RateAdapter::new(rate),
            _thread: thread,
        })
    }

    /// Queues a frame for the speaker.
    pub(super) fn write(&mut self, frame: &Frame) {
        let samples = &self.adapter.convert(frame).samples;
        let mut ring = lock(&self.ring);
        ring.extend(samples.iter().copied());
        let excess = ring.len().saturating_sub(self.capacity);
        ring.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_never_fails_and_an_unknown_device_is_named_in_the_error() {
        let _ = devices(); // none on a machine without sound hardware
        let err = Input::open(Some("no such microphone")).unwrap_err();
        assert!(err.to_string().contains("no such microphone"), "{err}");
    }

    #[test]
    fn the_rings_downmix_and_upmix() {
        let ring = Ring::default();
        capture(&ring, &[100i16, 300, -50, -150], 2, 10, |s| s);
        assert_eq!(lock(&ring).iter().copied().collect::<Vec<_>>(), [200, -100]);
        let mut out = [0f32; 6];
        playback(&ring, &mut out, 2, to_f32);
        assert_eq!(out[0], out[1]);
        assert_eq!(out[4], 0.0, "silence once empty");
    }
}
