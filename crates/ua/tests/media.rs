//! Two real media sessions on 127.0.0.1 talking over UDP: what one sends
//! is what the other hears, records and reports.
//!
//! Tests wait for what a user would notice (a file holding a tone, digits
//! arriving) and never assert timings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};
use ua::media::*;

const PCMU: (CodecKind, u8) = (CodecKind::Pcmu, 0);
const G722: (CodecKind, u8) = (CodecKind::G722, 9);
const OPUS: (CodecKind, u8) = (CodecKind::Opus, 111);

/// One side of a call: its session and its events.
struct Side {
    session: MediaSession,
    events: mpsc::UnboundedReceiver<MediaEvent>,
}

fn config() -> MediaConfig {
    MediaConfig {
        ip: "127.0.0.1".parse().unwrap(),
        ports: None,
    }
}

fn params(
    remote: SocketAddr,
    (codec, payload_type): (CodecKind, u8),
    dtmf: Option<u8>,
) -> MediaParams {
    MediaParams {
        remote,
        codec,
        payload_type,
        dtmf_payload_type: dtmf,
        send: true,
        recv: true,
    }
}

async fn side() -> Side {
    let (tx, events) = mpsc::unbounded_channel();
    let session = MediaSession::bind(&config(), tx).await.unwrap();
    Side { session, events }
}

/// Two sessions bound, not configured.
async fn bound() -> (Side, Side) {
    (side().await, side().await)
}

/// Two sessions configured towards each other.
async fn call(codec: (CodecKind, u8), dtmf: Option<u8>) -> (Side, Side) {
    let (a, b) = bound().await;
    a.session
        .configure(params(b.session.local_addr(), codec, dtmf));
    b.session
        .configure(params(a.session.local_addr(), codec, dtmf));
    (a, b)
}

fn tone(freq_hz: f64) -> AudioSource {
    AudioSource::Tone {
        freq_hz,
        dbm0: -10.0,
    }
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ua-media-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_wav(path: &Path) -> media::Frame {
    media::wav::decode(&std::fs::read(path).unwrap()).unwrap()
}

/// Amplitude of the `freq` component of `block` (Goertzel).
fn amplitude(block: &[i16], rate: u32, freq: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in block {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / block.len().max(1) as f64
}

/// Share (0-1) of the signal's energy at `freq`, summed over 20 ms blocks
/// (a whole number of cycles of any multiple of 50 Hz).
fn share_at(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let block = rate as usize / 50;
    let (mut at, mut total) = (0.0, 0.0);
    for b in samples.chunks_exact(block) {
        let a = amplitude(b, rate, freq);
        at += a * a / 2.0 * b.len() as f64;
        total += b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    }
    if total == 0.0 {
        0.0
    } else {
        at / total
    }
}

fn peak(samples: &[i16]) -> i32 {
    samples
        .iter()
        .map(|&x| i32::from(x).abs())
        .max()
        .unwrap_or(0)
}

/// The next event matching `want`, waiting at most 5 s.
async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<MediaEvent>,
    want: impl Fn(&MediaEvent) -> bool,
) -> Option<MediaEvent> {
    timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Some(e) if want(&e) => return Some(e),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Every digit reported to `side` so far.
fn digits(side: &mut Side) -> Vec<(char, DtmfMethod)> {
    let mut out = Vec::new();
    while let Ok(e) = side.events.try_recv() {
        if let MediaEvent::Dtmf { digit, method, .. } = e {
            out.push((digit, method));
        }
    }
    out
}

async fn packets_received(side: &Side) -> u64 {
    let stats = side.session.stats().await.unwrap();
    stats["inbound-rtp"]["packetsReceived"].as_u64().unwrap()
}

/// A's 1 kHz tone as B's WAV sink holds it: at the codec's rate, about as
/// long as the call, nearly all its energy at 1 kHz.
async fn tone_crosses(codec: (CodecKind, u8)) {
    let path = dir(&format!("tone-{}", codec.0)).join("heard.wav");
    let (a, b) = call(codec, Some(101)).await;
    a.session.set_source(tone(1000.0)).unwrap();
    b.session.set_sink(AudioSink::Wav(path.clone())).unwrap();
    sleep(Duration::from_millis(1200)).await;
    let stats = b.session.close().await;
    a.session.close().await;
    let heard = read_wav(&path);
    assert_eq!(heard.rate, codec.0.sample_rate(), "{}", codec.0);
    let seconds = heard.samples.len() as f64 / f64::from(heard.rate);
    assert!((0.6..=3.0).contains(&seconds), "{}: {seconds} s", codec.0);
    let share = share_at(&heard.samples, heard.rate, 1000.0);
    assert!(
        share >= 0.9,
        "{}: {:.3} of the energy at 1 kHz",
        codec.0,
        share
    );
    assert!(peak(&heard.samples) > 3000, "{}: audible", codec.0);
    assert!(stats["inbound-rtp"]["packetsReceived"].as_u64().unwrap() >= 20);
}

#[tokio::test]
async fn a_pcmu_tone_arrives_intact() {
    tone_crosses(PCMU).await;
}

#[tokio::test]
async fn a_g722_tone_arrives_intact() {
    tone_crosses(G722).await;
}

#[tokio::test]
async fn an_opus_tone_arrives_intact() {
    tone_crosses(OPUS).await;
}

#[tokio::test]
async fn bind_takes_an_even_port_within_the_range_and_idles_until_configured() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let base = probe.local_addr().unwrap().port() & !1;
    drop(probe);
    let (tx, _events) = mpsc::unbounded_channel();
    let ranged = MediaConfig {
        ports: Some((base.saturating_sub(20), base.saturating_add(20))),
        ..config()
    };
    let s = MediaSession::bind(&ranged, tx.clone()).await.unwrap();
    let port = s.local_addr().port();
    assert_eq!(port % 2, 0);
    assert!((base.saturating_sub(20)..=base.saturating_add(20)).contains(&port));
    // RTCP is the next port: taken.
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port + 1)).is_err());

    // Idle: a listener given as the peer of an unconfigured session hears nothing.
    let listener = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let other = MediaSession::bind(&config(), tx).await.unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        timeout(Duration::from_millis(300), listener.recv_from(&mut buf))
            .await
            .is_err()
    );
    other.configure(params(listener.local_addr().unwrap(), PCMU, None));
    let (n, from) = timeout(Duration::from_secs(5), listener.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, other.local_addr());
    assert_eq!((n, buf[1] & 0x7f), (12 + 160, 0), "a PCMU packet");
    s.close().await;
    other.close().await;
}

#[tokio::test]
async fn rfc4733_digits_arrive_in_order() {
    let (a, mut b) = call(PCMU, Some(101)).await;
    a.session.send_dtmf("12#", 100).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        match wait_for(&mut b.events, |e| matches!(e, MediaEvent::Dtmf { .. })).await {
            Some(MediaEvent::Dtmf {
                digit,
                duration_ms,
                method,
            }) => {
                assert_eq!(method, DtmfMethod::Rfc4733);
                assert!(
                    (80..=120).contains(&duration_ms),
                    "{digit}: {duration_ms} ms"
                );
                got.push(digit);
            }
            _ => panic!("digits so far: {got:?}"),
        }
    }
    assert_eq!(got, ['1', '2', '#']);
    sleep(Duration::from_millis(300)).await;
    assert!(digits(&mut b).is_empty(), "each digit once");
    a.session.close().await;
    b.session.close().await;
}

/// A's digits as tones in its audio reach B's in-band detector in order.
async fn inband_digits_cross(codec: (CodecKind, u8)) {
    let (a, mut b) = call(codec, None).await;
    a.session.send_dtmf("159", 120).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        match wait_for(&mut b.events, |e| matches!(e, MediaEvent::Dtmf { .. })).await {
            Some(MediaEvent::Dtmf { digit, method, .. }) => {
                assert_eq!(method, DtmfMethod::Inband);
                got.push(digit);
            }
            _ => panic!("{}: digits so far: {got:?}", codec.0),
        }
    }
    assert_eq!(got, ['1', '5', '9'], "{}", codec.0);
    a.session.close().await;
    b.session.close().await;
}

#[tokio::test]
async fn inband_digits_cross_in_pcmu_without_telephone_event() {
    inband_digits_cross(PCMU).await;
}

#[tokio::test]
async fn inband_digits_cross_in_g722_and_opus() {
    inband_digits_cross(G722).await;
    inband_digits_cross(OPUS).await;
}

#[tokio::test]
async fn detection_off_reports_no_digit() {
    for dtmf in [Some(101), None] {
        let (a, mut b) = call(PCMU, dtmf).await;
        b.session.set_dtmf_detection(false);
        a.session.send_dtmf("4", 100).await.unwrap();
        sleep(Duration::from_millis(500)).await;
        assert!(packets_received(&b).await > 0);
        assert!(digits(&mut b).is_empty(), "{dtmf:?}");
        a.session.close().await;
        b.session.close().await;
    }
}

#[tokio::test]
async fn bad_digits_are_refused_by_name() {
    let (a, b) = call(PCMU, Some(101)).await;
    let e = a.session.send_dtmf("12x", 100).await.unwrap_err();
    assert!(
        matches!(&e, MediaError::Invalid(m) if m.contains("'x'")),
        "{e}"
    );
    let e = a.session.send_dtmf("1", 20).await.unwrap_err();
    assert!(e.to_string().contains("20 ms"), "{e}");
    let mut held = params(b.session.local_addr(), PCMU, Some(101));
    held.send = false;
    a.session.configure(held);
    let e = a.session.send_dtmf("1", 100).await.unwrap_err();
    assert!(e.to_string().contains("not sending"), "{e}");
    a.session.close().await;
    b.session.close().await;
}

#[tokio::test]
async fn muted_the_peer_hears_silence() {
    let path = dir("mute").join("heard.wav");
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    a.session.set_mute(true);
    b.session.set_sink(AudioSink::Wav(path.clone())).unwrap();
    sleep(Duration::from_millis(600)).await;
    assert!(packets_received(&b).await > 10, "silence is still sent");
    b.session.close().await;
    a.session.close().await;
    let heard = read_wav(&path);
    assert!(!heard.samples.is_empty());
    assert!(peak(&heard.samples) < 100, "peak {}", peak(&heard.samples));
}

#[tokio::test]
async fn on_hold_nothing_is_sent() {
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    sleep(Duration::from_millis(300)).await;
    assert!(packets_received(&b).await > 0);
    let mut hold = params(b.session.local_addr(), PCMU, None);
    hold.send = false;
    a.session.configure(hold.clone());
    // Commands run in order: once stats() answers, the hold is in force;
    // what A sent before has landed soon after.
    a.session.stats().await.unwrap();
    sleep(Duration::from_millis(100)).await;
    let before = packets_received(&b).await;
    sleep(Duration::from_millis(400)).await;
    assert_eq!(packets_received(&b).await, before, "no packet while held");
    // Resumed: packets flow again.
    hold.send = true;
    a.session.configure(hold);
    sleep(Duration::from_millis(300)).await;
    assert!(packets_received(&b).await > before);
    a.session.close().await;
    b.session.close().await;
}

#[tokio::test]
async fn volume_zero_makes_the_sink_silent() {
    let path = dir("volume").join("heard.wav");
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    b.session.set_volume(0);
    b.session.set_sink(AudioSink::Wav(path.clone())).unwrap();
    sleep(Duration::from_millis(600)).await;
    assert!(packets_received(&b).await > 10);
    b.session.close().await;
    a.session.close().await;
    let heard = read_wav(&path);
    assert!(!heard.samples.is_empty());
    assert_eq!(peak(&heard.samples), 0);
}

#[tokio::test]
async fn recordings_hold_rx_tx_or_both() {
    let dir = dir("record");
    let (a, mut b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    b.session.set_source(tone(400.0)).unwrap();
    sleep(Duration::from_millis(200)).await;
    for mode in [RecordMode::Rx, RecordMode::Tx, RecordMode::Mix] {
        let path = dir.join(format!("{mode:?}.wav"));
        b.session
            .start_recording(RecordOptions {
                mode,
                path: Some(path.clone()),
                stream: None,
            })
            .await
            .unwrap();
        let again = b
            .session
            .start_recording(RecordOptions {
                mode,
                path: None,
                stream: Some(mpsc::unbounded_channel().0),
            })
            .await;
        assert!(again.is_err(), "one recording at a time");
        sleep(Duration::from_millis(600)).await;
        let ms = b.session.stop_recording().await.unwrap();
        assert!((300..=3000).contains(&ms), "{mode:?}: {ms} ms");
        let finished = wait_for(&mut b.events, |e| {
            matches!(e, MediaEvent::RecordingFinished { .. })
        })
        .await;
        assert_eq!(
            finished,
            Some(MediaEvent::RecordingFinished {
                path: Some(path.clone()),
                mode,
                duration_ms: ms
            })
        );
        let rec = read_wav(&path);
        assert_eq!(rec.rate, 8000);
        assert_eq!(rec.samples.len() as u64, ms * 8);
        let peer = share_at(&rec.samples, 8000, 1000.0);
        let own = share_at(&rec.samples, 8000, 400.0);
        match mode {
            RecordMode::Rx => assert!(peer > 0.8 && own < 0.05, "RX: {peer:.2} / {own:.2}"),
            RecordMode::Tx => assert!(own > 0.9 && peer < 0.05, "TX: {peer:.2} / {own:.2}"),
            RecordMode::Mix => assert!(peer > 0.3 && own > 0.3, "MIX: {peer:.2} / {own:.2}"),
        }
    }
    assert!(b.session.stop_recording().await.is_err(), "none running");
    a.session.close().await;
    b.session.close().await;
}

#[tokio::test]
async fn the_stream_carries_what_the_file_holds() {
    let path = dir("stream").join("mix.wav");
    let (a, mut b) = call(G722, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    let (stream, mut chunks) = mpsc::unbounded_channel();
    b.session
        .start_recording(RecordOptions {
            mode: RecordMode::Mix,
            path: Some(path.clone()),
            stream: Some(stream),
        })
        .await
        .unwrap();
    sleep(Duration::from_millis(500)).await;
    // close() finishes the recording too, and says so.
    b.session.close().await;
    let finished = wait_for(&mut b.events, |e| {
        matches!(e, MediaEvent::RecordingFinished { .. })
    })
    .await;
    assert!(matches!(
        finished,
        Some(MediaEvent::RecordingFinished {
            mode: RecordMode::Mix,
            ..
        })
    ));
    let mut streamed = Vec::new();
    let mut sizes = Vec::new();
    while let Ok(chunk) = chunks.try_recv() {
        sizes.push(chunk.len());
        streamed.extend(chunk);
    }
    let rec = read_wav(&path);
    assert_eq!(rec.rate, 16000);
    assert!(!rec.samples.is_empty());
    assert_eq!(
        streamed.len(),
        rec.samples.len() * 2,
        "chunks sum to the file"
    );
    assert!(
        sizes.iter().filter(|&&n| n == 640).count() >= sizes.len() - 1,
        "20 ms chunks"
    );
    let pcm: Vec<i16> = streamed
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(pcm, rec.samples);
    a.session.close().await;
}

#[tokio::test]
async fn a_stream_only_recording_needs_no_file() {
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    let (stream, mut chunks) = mpsc::unbounded_channel();
    b.session
        .start_recording(RecordOptions {
            mode: RecordMode::Rx,
            path: None,
            stream: Some(stream),
        })
        .await
        .unwrap();
    sleep(Duration::from_millis(500)).await;
    let ms = b.session.stop_recording().await.unwrap();
    let mut bytes = 0;
    while let Ok(chunk) = chunks.try_recv() {
        bytes += chunk.len() as u64;
    }
    assert_eq!(bytes, ms * 8 * 2);
    a.session.close().await;
    b.session.close().await;
}

#[tokio::test]
async fn a_missing_wav_is_an_error_and_the_call_keeps_sending() {
    let path = dir("missing").join("heard.wav");
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    let e = a
        .session
        .set_source(AudioSource::Wav {
            path: "/nonexistent/prompt.wav".into(),
            looped: false,
        })
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/prompt.wav"), "{e}");
    b.session.set_sink(AudioSink::Wav(path.clone())).unwrap();
    sleep(Duration::from_millis(800)).await;
    b.session.close().await;
    a.session.close().await;
    let heard = read_wav(&path);
    assert!(
        share_at(&heard.samples, 8000, 1000.0) > 0.9,
        "the tone goes on"
    );
}

#[tokio::test]
async fn a_wav_source_plays_once_then_reports_it() {
    let dir = dir("wav-source");
    let prompt = dir.join("prompt.wav");
    // 0.4 s of 1 kHz at 44.1 kHz stereo: resampled and downmixed.
    let samples: Vec<i16> = (0..17640)
        .flat_map(|i| {
            let v = (8000.0 * (std::f64::consts::TAU * 1000.0 * i as f64 / 44100.0).sin()) as i16;
            [v, v]
        })
        .collect();
    let file = std::fs::File::create(&prompt).unwrap();
    let spec = media::wav::WavSpec {
        rate: 44100,
        channels: 2,
    };
    let mut w = media::wav::WavWriter::new(file, spec).unwrap();
    w.write_samples(&samples).unwrap();
    w.finish().unwrap();

    let heard_path = dir.join("heard.wav");
    let (mut a, b) = call(PCMU, None).await;
    b.session
        .set_sink(AudioSink::Wav(heard_path.clone()))
        .unwrap();
    a.session
        .set_source(AudioSource::Wav {
            path: prompt,
            looped: false,
        })
        .unwrap();
    let finished = wait_for(&mut a.events, |e| *e == MediaEvent::SourceFinished).await;
    assert_eq!(finished, Some(MediaEvent::SourceFinished));
    sleep(Duration::from_millis(400)).await;
    assert!(
        wait_for(&mut a.events, |e| *e == MediaEvent::SourceFinished)
            .await
            .is_none(),
        "reported once"
    );
    b.session.close().await;
    a.session.close().await;
    let heard = read_wav(&heard_path);
    let toned = heard
        .samples
        .chunks_exact(160)
        .filter(|b| amplitude(b, 8000, 1000.0) > 2000.0)
        .count();
    // 0.4 s is 20 frames; the edges may fall between two.
    assert!((17..=22).contains(&toned), "{toned} frames of tone");
}

#[tokio::test]
async fn stats_carry_the_webrtc_objects() {
    let (a, b) = call(OPUS, Some(101)).await;
    sleep(Duration::from_millis(600)).await;
    let s = b.session.stats().await.unwrap();
    for key in [
        "timestamp",
        "inbound-rtp",
        "outbound-rtp",
        "remote-inbound-rtp",
        "remote-outbound-rtp",
        "codec",
        "candidate-pair",
    ] {
        assert!(s.get(key).is_some(), "{key} in {s}");
    }
    let received = s["inbound-rtp"]["packetsReceived"].as_u64().unwrap();
    let sent = s["outbound-rtp"]["packetsSent"].as_u64().unwrap();
    assert!(received >= 10 && sent >= 10, "{received} / {sent}");
    assert!(s["inbound-rtp"]["bytesReceived"].as_u64().unwrap() > 0);
    assert_eq!(s["codec"]["mimeType"], "audio/opus");
    assert_eq!(s["codec"]["payloadType"], 111);
    assert_eq!(s["codec"]["clockRate"], 48000);
    assert_eq!(
        s["candidate-pair"]["localAddress"],
        b.session.local_addr().to_string()
    );
    assert_eq!(
        s["candidate-pair"]["remoteAddress"],
        a.session.local_addr().to_string()
    );
    assert!(s["timestamp"].as_f64().unwrap() > 1.6e12);
    let a_last = a.session.close().await;
    let b_last = b.session.close().await;
    let a_sent = a_last["outbound-rtp"]["packetsSent"].as_u64().unwrap();
    let b_received = b_last["inbound-rtp"]["packetsReceived"].as_u64().unwrap();
    assert!(
        b_received <= a_sent && b_received + 10 >= a_sent,
        "{b_received} of {a_sent}"
    );
    assert!(
        b_last["rtcp"]["packetsSent"].as_u64().unwrap() >= 1,
        "BYE at least"
    );
}

#[tokio::test]
async fn video_datagrams_cross_end_to_end() {
    let (a, b) = call(PCMU, None).await;
    let app_a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let app_b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let va = a
        .session
        .bind_video(Some(app_a.local_addr().unwrap()))
        .await
        .unwrap();
    let vb = b
        .session
        .bind_video(Some(app_b.local_addr().unwrap()))
        .await
        .unwrap();
    assert_eq!(va.port() % 2, 0);
    assert_ne!(va, a.session.local_addr());
    let video = |remote| VideoParams {
        remote,
        send: true,
        recv: true,
    };
    a.session.configure_video(Some(video(vb)));
    b.session.configure_video(Some(video(va)));
    // The commands are applied in order: stats() answers after configure_video.
    a.session.stats().await.unwrap();
    b.session.stats().await.unwrap();

    let mut buf = [0u8; 1500];
    app_a.send_to(b"frame from a", va).await.unwrap();
    let (n, from) = timeout(Duration::from_secs(5), app_b.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"frame from a"[..], vb));
    app_b.send_to(b"reply from b", vb).await.unwrap();
    let (n, _) = timeout(Duration::from_secs(5), app_a.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"reply from b");

    let s = a.session.stats().await.unwrap();
    assert_eq!(s["video"]["packetsSent"], 1);
    assert_eq!(s["video"]["bytesSent"], 12);
    assert_eq!(s["video"]["packetsReceived"], 1);

    // Stopped: nothing more crosses.
    a.session.configure_video(None);
    a.session.stats().await.unwrap();
    app_a.send_to(b"late", va).await.unwrap();
    assert!(
        timeout(Duration::from_millis(300), app_b.recv_from(&mut buf))
            .await
            .is_err()
    );
    a.session.close().await;
    b.session.close().await;
}

#[tokio::test]
async fn dropping_a_session_ends_its_task_and_frees_its_ports() {
    let path = dir("drop").join("heard.wav");
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    b.session.set_sink(AudioSink::Wav(path.clone())).unwrap();
    sleep(Duration::from_millis(300)).await;
    let port = b.session.local_addr();
    drop(b);
    // The task ends on its own: the ports come free, the sink is finished.
    let freed = timeout(Duration::from_secs(5), async {
        loop {
            if std::net::UdpSocket::bind(port).is_ok() {
                return;
            }
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "port {port} still bound");
    let heard = read_wav(&path);
    assert!(share_at(&heard.samples, 8000, 1000.0) > 0.8);
    a.session.close().await;
}

#[tokio::test]
async fn a_codec_change_in_place_keeps_the_call_going() {
    let path = dir("recodec").join("heard.wav");
    let (a, b) = call(PCMU, None).await;
    a.session.set_source(tone(1000.0)).unwrap();
    b.session.set_sink(AudioSink::Wav(path.clone())).unwrap();
    sleep(Duration::from_millis(400)).await;
    // A re-INVITE moves both to G.722.
    a.session
        .configure(params(b.session.local_addr(), G722, None));
    b.session
        .configure(params(a.session.local_addr(), G722, None));
    sleep(Duration::from_millis(600)).await;
    let stats = b.session.close().await;
    a.session.close().await;
    assert_eq!(stats["codec"]["mimeType"], "audio/G722");
    let heard = read_wav(&path);
    assert_eq!(heard.rate, 8000, "the sink keeps its first rate");
    let tail = &heard.samples[heard.samples.len() - 2400..];
    assert!(
        share_at(tail, 8000, 1000.0) > 0.9,
        "the tone goes on in G.722"
    );
}

#[tokio::test]
async fn rtcp_reports_fill_the_remote_stats() {
    let (a, b) = call(PCMU, None).await;
    let s = timeout(Duration::from_secs(15), async {
        loop {
            let s = b.session.stats().await.unwrap();
            if !s["remote-inbound-rtp"].is_null() && !s["remote-outbound-rtp"].is_null() {
                return s;
            }
            sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("a report from the peer within 15 s");
    // A's SR says what it sent; its report block is about B's stream.
    assert!(s["remote-outbound-rtp"]["packetsSent"].as_u64().unwrap() > 0);
    assert_eq!(s["remote-inbound-rtp"]["ssrc"], s["outbound-rtp"]["ssrc"]);
    assert!(s["remote-inbound-rtp"]["packetsLost"].as_i64().unwrap() <= 0);
    assert!(s["rtcp"]["packetsReceived"].as_u64().unwrap() >= 1);
    a.session.close().await;
    b.session.close().await;
}
