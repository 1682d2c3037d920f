//! Small pieces the session's parts share: frame sizes, rate conversion of
//! a stream whose rate may change, the volume gain, the clock.

use media::codec::Resampler;
use media::Frame;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// The frame the session works in, and its period.
pub(super) const FRAME_MS: u32 = 20;
pub(super) const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);

/// Largest UDP payload: a buffer this size never truncates a datagram.
pub(super) const MAX_DATAGRAM: usize = 65_535;

/// Highest volume level; level [`UNITY_VOLUME`] leaves audio as it is.
pub(super) const MAX_VOLUME: u8 = 11;
pub(super) const UNITY_VOLUME: u8 = 8;
/// Gain of one volume step, dB.
const VOLUME_STEP_DB: f32 = 3.0;

/// Samples in one frame at `rate`.
pub(super) fn frame_samples(rate: u32) -> usize {
    (rate * FRAME_MS / 1000) as usize
}

/// The session's clock (tokio's, so a paused test clock applies), as the
/// `std` instant the sans-IO parts take.
pub(super) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Milliseconds since the Unix epoch, now (webrtc-stats `timestamp`).
pub(super) fn unix_millis_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// The RTCP address next to an RTP one (RFC 3550 §11: port + 1).
pub(super) fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

/// Converts frames of any rate to one fixed rate, rebuilding its
/// resampler when the input rate changes (a re-INVITE changed the codec).
#[derive(Debug)]
pub(super) struct RateAdapter {
    to: u32,
    resampler: Option<Resampler>,
    out: Frame,
}

impl RateAdapter {
    pub(super) fn new(to: u32) -> RateAdapter {
        RateAdapter {
            to,
            resampler: None,
            out: Frame::default(),
        }
    }

    /// `frame` at the target rate: itself when it already is, else
    /// resampled (silence of the same length if the rates cannot be
    /// converted, which does not happen between codec rates).
    pub(super) fn convert<'a>(&'a mut self, frame: &'a Frame) -> &'a Frame {
        if frame.rate == self.to {
            return frame;
        }
        if self
            .resampler
            .as_ref()
            .is_none_or(|r| r.from_rate() != frame.rate)
        {
            self.resampler = Resampler::new(frame.rate, self.to).ok();
        }
        self.out.rate = self.to;
        self.out.samples.clear();
        match &mut self.resampler {
            Some(r) => r.process(&frame.samples, &mut self.out.samples),
            None => {
                let n =
                    frame.samples.len() as u64 * u64::from(self.to) / u64::from(frame.rate.max(1));
                self.out.samples.resize(n as usize, 0);
            }
        }
        &self.out
    }
}

/// The linear gain of a volume level (module docs of `media`): 0 is
/// silence, [`UNITY_VOLUME`] is 1, each step 3 dB.
fn volume_gain(level: u8) -> f32 {
    match level.min(MAX_VOLUME) {
        0 => 0.0,
        l => 10f32.powf((f32::from(l) - f32::from(UNITY_VOLUME)) * VOLUME_STEP_DB / 20.0),
    }
}

/// The output volume: its gain, and the buffer a frame is scaled in
/// (reused: the 20 ms tick does not allocate for it).
#[derive(Debug)]
pub(super) struct Volume {
    gain: f32,
    out: Frame,
}

impl Volume {
    /// Level [`UNITY_VOLUME`].
    pub(super) fn new() -> Volume {
        Volume {
            gain: 1.0,
            out: Frame::default(),
        }
    }

    pub(super) fn set_level(&mut self, level: u8) {
        self.gain = volume_gain(level);
    }

    /// `frame` at this volume: itself at unity, else a scaled copy.
    pub(super) fn apply<'a>(&'a mut self, frame: &'a Frame) -> &'a Frame {
        if self.gain == 1.0 {
            return frame;
        }
        self.out.rate = frame.rate;
        self.out.samples.clear();
        self.out.samples.extend_from_slice(&frame.samples);
        apply_gain(&mut self.out.samples, self.gain);
        &self.out
    }
}

/// Multiplies `samples` by `gain`, saturating.
fn apply_gain(samples: &mut [i16], gain: f32) {
    if gain == 1.0 {
        return;
    }
    for s in samples {
        *s = (f32::from(*s) * gain).round().clamp(-32768.0, 32767.0) as i16;
    }
}

/// A fresh directory for one unit test's files, under the system's
/// temporary directory.
#[cfg(test)]
pub(super) fn test_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ua-media-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_steps_are_3_db_around_unity() {
        assert_eq!(volume_gain(0), 0.0);
        assert_eq!(volume_gain(8), 1.0);
        let db = |l| 20.0 * volume_gain(l).log10();
        assert!((db(11) - 9.0).abs() < 1e-4);
        assert!((db(1) + 21.0).abs() < 1e-4);
        assert_eq!(volume_gain(200), volume_gain(11), "clamped");
        let mut s = [1000, -32768, 32767];
        apply_gain(&mut s, volume_gain(11));
        assert_eq!(s, [2818, -32768, 32767]);
    }

    #[test]
    fn the_adapter_follows_a_rate_change() {
        let mut a = RateAdapter::new(8000);
        let f = Frame::silence(16000, 20);
        assert_eq!(a.convert(&f).samples.len(), 160);
        let f = Frame::silence(48000, 20);
        assert_eq!(a.convert(&f).samples.len(), 160);
        let f = Frame::silence(8000, 20);
        assert_eq!(a.convert(&f).samples.len(), 160);
    }
}
