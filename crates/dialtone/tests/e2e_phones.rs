//! End to end with real softphones: baresip and Linphone register with
//! digest at the real `dialtone serve`, call each other, and audio flows
//! both ways through the anchored relay (`/v1/calls/{id}/stats` counts RTP
//! packets received and sent on both legs); a hangup from either phone ends
//! both calls, recorded as the engine's table says.
//! Each test says SKIPPED, and passes, where its phone is not installed
//! (`scripts/test-all.sh` installs `baresip` and `linphone-cli` as root).
//!
//! The phones run headless on loopback, with no sound card, from the
//! configs in `tests/e2e/phones/`:
//! - baresip 1.0: a config directory per instance (`baresip -f DIR`), a
//!   tone (`ausine`) or a WAV file (`aufile`: espeak-ng speech) as
//!   microphone and an `aubridge` player that goes nowhere,
//!   driven over `ctrl_tcp` (netstring-framed JSON: `dial`, `hangup`,
//!   `listcalls`); the callee answers by itself (`answermode=auto`).
//! - linphonec 5.1: a fresh config file per instance, `soundcard use files`
//!   and `play TONE.wav` as microphone, commands on stdin (`call`,
//!   `terminate`); `-a` answers.
//!
//! baresip 1.0 (libre) gives up on a 401 as soon as one `WWW-Authenticate`
//! names an algorithm other than MD5 ("Register: Function not implemented"),
//! even when an MD5 challenge follows, so a server it registers with must
//! offer MD5 alone. Linphone answers SHA-256 when told to (RFC 8760) and is
//! tested against the default configuration, SHA-256 first.

mod common;

use common::baresip::*;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any single step may take.
const WAIT: Duration = Duration::from_secs(20);

/// How long audio flows before the counters are read.
const MEDIA: Duration = Duration::from_secs(2);

/// The longest wait for a round-trip time: Dialtone's first SR comes
/// within 3.75 s of media, baresip reports every 5 s (randomized up to
/// 7.5 s), and its next report after our SR echoes it.
const RTCP_WAIT: Duration = Duration::from_secs(30);

/// For baresip: challenge with MD5 only (see the module docs).
const MD5_ONLY: &str = r#"
auth_algorithms = ["MD5"]
[[extensions]]
extension = "100"
password = "alice-secret-1"
name = "Alice"
[[extensions]]
extension = "200"
password = "bob-secret-22"
name = "Bob"
"#;

/// The default digest algorithms: SHA-256 first, then MD5.
const DEFAULT_AUTH: &str = r#"
[[extensions]]
extension = "100"
password = "alice-secret-1"
name = "Alice"
[[extensions]]
extension = "200"
password = "bob-secret-22"
name = "Bob"
"#;

/// Two baresips: 100 calls 200, who answers; a tone flows both ways
/// through Dialtone; each leg's stats show the round-trip time measured
/// from baresip's own RTCP and no loss either way; 100 hangs up and both
/// calls end.
#[test]
fn two_baresips_call_with_media_both_ways() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("baresips", MD5_ONLY, &[]);
    let alice = Baresip::start(&d, "100", "alice-secret-1", false);
    let bob = Baresip::start(&d, "200", "bob-secret-22", true);
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);

    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    assert_chained(&m, &o);
    print_media(
        "baresip -> baresip",
        wait_media_both_ways(&d, &m, &o, &phones),
    );
    // RTCP: baresip (libre) reports every 5 s or so; once it has seen a
    // sender report of Dialtone's, its report block echoes it (LSR) and
    // the leg computes the round trip.
    for (leg, call) in [("caller", &m), ("callee", &o)] {
        let s = wait_round_trip(&d, call, &phones);
        let remote = &s["remote-inbound-rtp"];
        let rtt = remote["roundTripTime"].as_f64().unwrap();
        println!(
            "baresip -> baresip: {leg}'s leg: roundTripTime {:.1} ms over {} measurement(s), \
             baresip reports {} lost, Dialtone counts {} lost of {} received, jitter {:.2} ms",
            rtt * 1000.0,
            remote["roundTripTimeMeasurements"],
            remote["packetsLost"],
            s["inbound-rtp"]["packetsLost"],
            s["inbound-rtp"]["packetsReceived"],
            s["inbound-rtp"]["jitter"].as_f64().unwrap_or(-1.0) * 1000.0
        );
        assert!(rtt >= 0.0, "{s:#}");
        assert_eq!(
            remote["packetsLost"], 0,
            "baresip lost nothing on loopback: {s:#}"
        );
        assert_eq!(
            remote["ssrc"], s["outbound-rtp"]["ssrc"],
            "the report is about the stream the leg sends: {s:#}"
        );
        assert_eq!(s["inbound-rtp"]["packetsLost"], 0, "{s:#}");
        assert!(
            s["inbound-rtp"]["packetsReceived"].as_u64() > Some(0),
            "{s:#}"
        );
        // baresip sends RTP, so its reports are SRs.
        assert!(
            s["remote-outbound-rtp"]["packetsSent"].as_u64() > Some(0),
            "{s:#}"
        );
        assert!(s["rtcp"]["reportsSent"].as_u64() > Some(0), "{s:#}");
        assert_eq!(s["rtcp"]["packetsMalformed"], 0, "{s:#}");
    }

    alice.command("hangup", "", &d, &phones);
    let (m, o) = wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    // The caller hung up: its leg remote/normal, the callee's local/normal.
    assert_eq!(ended(&m), ("remote".into(), "normal".into(), 200), "{m}");
    assert_eq!(ended(&o), ("local".into(), "normal".into(), 200), "{o}");
    bob.wait_no_call(&d, &phones);
    assert_eq!(d.stop().code(), Some(0));
}

/// Transcoding: an Opus-only baresip (100, sending 1 kHz) calls a
/// PCMU-only baresip (200, sending 440 Hz). They share no codec, so
/// Dialtone answers each in its own and converts between them; each side's
/// decoded audio (dumped by baresip's sndfile module) carries the other's
/// tone at its frequency.
#[test]
fn a_tone_crosses_an_opus_pcmu_bridge_with_its_frequency_intact() {
    tone_across_a_bridge(
        "transcode-opus",
        ("opus.so", None, "audio/opus"),
        ("g711.so", Some("PCMU"), "audio/PCMU"),
    );
}

/// The same across a G.722 ↔ PCMA bridge: a G.722-only baresip (HD,
/// 16 kHz audio) calls a PCMA-only one.
#[test]
fn a_tone_crosses_a_g722_pcma_bridge_with_its_frequency_intact() {
    tone_across_a_bridge(
        "transcode-g722",
        ("g722.so", None, "audio/G722"),
        ("g711.so", Some("PCMA"), "audio/PCMA"),
    );
}

/// Speech through real phones, recorded: espeak-ng says a sentence; alice's
/// baresip sends it as Opus (that WAV is her microphone), bob's answers in
/// PCMU only, so Dialtone transcodes; bob's call is recorded in stereo
/// (left: bob, right: what bob heard). The right channel carries alice's
/// sentence: its loudness contour (20 ms windows) follows the original's
/// closely at the best alignment.
#[test]
fn speech_crosses_an_opus_pcmu_bridge_and_is_recorded_intact() {
    if !installed(BARESIP) || !installed(ESPEAK) {
        return;
    }
    let d = Dialtone::start("speech", &format!("transcoding = true\n{MD5_ONLY}"), &[]);
    let spoken = d.dir.join("spoken.wav");
    let status = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&spoken)
        .arg("Dialtone carries this sentence across two codecs, and records it.")
        .status()
        .expect("espeak-ng runs");
    assert!(status.success());
    let speech = media::wav::decode(&std::fs::read(&spoken).unwrap()).unwrap();
    // 1.5 s of silence first (the call and the recording start meanwhile).
    let mic = d.dir.join("mic.wav");
    write_48k_stereo(&mic, &speech, Duration::from_millis(1500));
    let alice = Baresip::start_with(
        &d,
        "100",
        "alice-secret-1",
        false,
        &Audio {
            codecs: vec!["opus.so"],
            only: None,
            tone_hz: 440,
            dump: false,
            source: Some(mic),
        },
    );
    let bob = Baresip::start_with(
        &d,
        "200",
        "bob-secret-22",
        true,
        &Audio {
            codecs: vec!["g711.so"],
            only: Some("PCMU"),
            tone_hz: 440,
            dump: false,
            source: None,
        },
    );
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (_, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let oid = o["id"].as_str().unwrap();
    let (status, rec) = d.post(
        &format!("/v1/calls/{oid}/recording_start"),
        Some(&serde_json::json!({"channels": "stereo"})),
    );
    assert_eq!(status, 201, "{rec}");
    let secs = speech.samples.len() as f64 / f64::from(speech.rate);
    std::thread::sleep(Duration::from_secs_f64(secs + 2.0));
    let (status, stopped) = d.post(&format!("/v1/calls/{oid}/recording_stop"), None);
    assert_eq!(status, 200, "{stopped}");
    alice.command("hangup", "", &d, &phones);
    let rid = rec["id"].as_str().unwrap();
    let (_, _, wav) = d.get_bytes(&format!("/v1/recordings/{rid}/file"));
    let info = media::wav::parse_header(&wav).unwrap();
    let heard: Vec<i16> = wav[info.data_offset..info.data_offset + info.data_len]
        .chunks_exact(4)
        .map(|f| i16::from_le_bytes([f[2], f[3]]))
        .collect();
    let original = envelope(&speech.samples, speech.rate);
    let received = envelope(&heard, info.rate);
    let (corr, lag) = best_correlation(&original, &received);
    println!(
        "speech: {:.1} s spoken, {:.1} s recorded at {} Hz; contour correlation {corr:.3} at {} ms",
        secs,
        heard.len() as f64 / f64::from(info.rate),
        info.rate,
        lag * 20
    );
    assert!(
        corr > 0.85,
        "the sentence bob heard follows the one alice said: {corr:.3}"
    );
    assert_eq!(d.stop().code(), Some(0));
}

const ESPEAK: (&str, &str, &str) = ("espeak-ng", "--version", "espeak-ng");

/// `audio` (mono, any rate) as a 48 kHz stereo 16-bit WAV after `lead` of
/// silence, by linear interpolation, followed by 10 s of silence.
fn write_48k_stereo(path: &Path, audio: &media::Frame, lead: Duration) {
    let ratio = f64::from(audio.rate) / 48_000.0;
    let n = (audio.samples.len() as f64 / ratio) as usize;
    let mut samples = vec![0i16; (lead.as_secs_f64() * 48_000.0) as usize * 2];
    for i in 0..n {
        let x = i as f64 * ratio;
        let (k, frac) = (x as usize, x.fract());
        let a = f64::from(audio.samples[k]);
        let b = f64::from(*audio.samples.get(k + 1).unwrap_or(&audio.samples[k]));
        let s = (a + (b - a) * frac) as i16;
        samples.extend_from_slice(&[s, s]);
    }
    // baresip ends the call when its file ends: 10 s more of silence.
    samples.resize(samples.len() + 48_000 * 2 * 10, 0);
    let mut wav = media::wav::header(
        media::wav::WavSpec {
            rate: 48_000,
            channels: 2,
        },
        Some(samples.len() as u32 * 2),
    )
    .to_vec();
    wav.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(path, wav).unwrap();
}

/// RMS level of each 20 ms window.
fn envelope(samples: &[i16], rate: u32) -> Vec<f64> {
    samples
        .chunks_exact(rate as usize / 50)
        .map(|w| (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / w.len() as f64).sqrt())
        .collect()
}

/// The highest Pearson correlation of `a` with an equally long stretch of
/// `b` (b longer), and the offset (windows into `b`) where it is.
fn best_correlation(a: &[f64], b: &[f64]) -> (f64, usize) {
    let pearson = |x: &[f64], y: &[f64]| {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(y).map(|(p, q)| (p - mx) * (q - my)).sum();
        let vx: f64 = x.iter().map(|p| (p - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|q| (q - my).powi(2)).sum();
        if vx == 0.0 || vy == 0.0 {
            0.0
        } else {
            cov / (vx * vy).sqrt()
        }
    };
    if b.len() < a.len() {
        return (0.0, 0);
    }
    (0..=b.len() - a.len())
        .map(|lag| (pearson(a, &b[lag..lag + a.len()]), lag))
        .fold((f64::MIN, 0), |best, x| if x.0 > best.0 { x } else { best })
}

/// A phone's codec: baresip module, `audio_codecs` restriction, and the
/// codec the relay must be told for its leg.
type Codec = (&'static str, Option<&'static str>, &'static str);

fn tone_across_a_bridge(name: &str, caller_codec: Codec, callee_codec: Codec) {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start(name, &format!("transcoding = true\n{MD5_ONLY}"), &[]);
    let caller = Audio {
        codecs: vec![caller_codec.0],
        only: caller_codec.1,
        tone_hz: 1000,
        dump: true,
        source: None,
    };
    let callee = Audio {
        codecs: vec![callee_codec.0],
        only: callee_codec.1,
        tone_hz: 440,
        dump: true,
        source: None,
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &caller);
    let bob = Baresip::start_with(&d, "200", "bob-secret-22", true, &callee);
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);

    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    print_media(name, wait_media_both_ways(&d, &m, &o, &phones));
    std::thread::sleep(Duration::from_secs(2));
    // Each transcoded leg's audio plays through its jitter buffer.
    for id in [&m["id"], &o["id"]] {
        let (_, s) = d.get(&format!("/v1/calls/{}/stats", id.as_str().unwrap()));
        let played = s["inbound-rtp"]["jitterBufferEmittedCount"]
            .as_u64()
            .unwrap_or(0);
        assert!(played > 50, "{s}");
        let delay = s["inbound-rtp"]["jitterBufferDelay"]
            .as_f64()
            .unwrap_or(0.0);
        assert!(delay / played as f64 >= 0.02, "a real buffering delay: {s}");
    }
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    bob.wait_no_call(&d, &phones);
    alice.wait_no_call(&d, &phones);

    let heard_by_bob = dominant_hz(&decoded_dump(&bob.dir, &d, &phones));
    let heard_by_alice = dominant_hz(&decoded_dump(&alice.dir, &d, &phones));
    // Each leg's codec as the relay was told it, from the call's stats.
    let codec = |id: &Value| {
        let (_, s) = d.get(&format!("/v1/calls/{}/stats", id.as_str().unwrap()));
        s["codec"]["mimeType"].as_str().unwrap_or("?").to_owned()
    };
    let (mc, oc) = (codec(&m["id"]), codec(&o["id"]));
    println!("{name}: alice ({mc}) -> bob ({oc}): bob heard {heard_by_bob} Hz, alice heard {heard_by_alice} Hz");
    assert_eq!(
        (mc.as_str(), oc.as_str()),
        (caller_codec.2, callee_codec.2),
        "each leg in its own codec"
    );
    assert!(
        (heard_by_bob - 1000.0).abs() <= 20.0,
        "bob heard {heard_by_bob} Hz"
    );
    assert!(
        (heard_by_alice - 440.0).abs() <= 10.0,
        "alice heard {heard_by_alice} Hz"
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// Mute and hold on the audio: alice (100, sending 1 kHz) calls bob (200,
/// sending 440 Hz). Muting alice's call `out` silences her for bob while
/// she still hears him (read from the audio each phone decoded: baresip's
/// sndfile dumps). Holding bob's call re-INVITEs him `sendonly`: he stops
/// sending (and anything he sent would be silenced), so alice decodes
/// nothing of him until the resume, after which she hears him again; the
/// relay keeps sending bob a stream (music on hold) all along. (baresip's
/// decoded-audio dump stops at a re-INVITE, so what bob hears while held
/// is checked here on the relay's counters, and on the audio a held
/// Linphone plays in `a_held_g722_phone_hears_music_on_hold`.)
#[test]
fn mute_and_hold_silence_the_right_party() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("mute-hold", MD5_ONLY, &[]);
    let tone = |hz| Audio {
        codecs: vec!["g711.so"],
        only: None,
        tone_hz: hz,
        dump: true,
        source: None,
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &tone(1000));
    let bob = Baresip::start_with(&d, "200", "bob-secret-22", true, &tone(440));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let start = Instant::now();
    let (mid, oid) = (m["id"].as_str().unwrap(), o["id"].as_str().unwrap());
    let phase = Duration::from_millis(2500);
    std::thread::sleep(phase);
    let t_mute = start.elapsed();
    let (status, call) = d.post(
        &format!("/v1/calls/{mid}/mute"),
        Some(&serde_json::json!({"direction": "out"})),
    );
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["mute_direction"], "out");
    std::thread::sleep(phase);
    let t_hold = start.elapsed();
    let (status, call) = d.delete(&format!("/v1/calls/{mid}/mute"));
    assert_eq!(
        (status, &call["mute_direction"]),
        (200, &Value::Null),
        "{call}"
    );
    // Every datagram sent from bob's leg socket (`outbound-rtp` counts
    // only the current stream, which starts over when the music does).
    let sent_to_bob = |d: &Dialtone| {
        d.get(&format!("/v1/calls/{oid}/stats")).1["candidate-pair"]["packetsSent"]
            .as_u64()
            .unwrap_or(0)
    };
    let (status, call) = d.post(&format!("/v1/calls/{oid}/hold"), None);
    assert_eq!(status, 200, "{call}");
    let before_hold = sent_to_bob(&d);
    std::thread::sleep(phase);
    let during_hold = sent_to_bob(&d) - before_hold;
    let (status, call) = d.delete(&format!("/v1/calls/{oid}/hold"));
    assert_eq!(status, 200, "{call}");
    std::thread::sleep(phase);
    let t_end = start.elapsed();
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    bob.wait_no_call(&d, &phones);
    alice.wait_no_call(&d, &phones);

    let heard_by_bob = decoded_dump(&bob.dir, &d, &phones);
    let heard_by_alice = decoded_dump(&alice.dir, &d, &phones);
    // Until the hold, packets flow all the time both ways (muted ones
    // carry silence), so the dumps run in step with the clock. Windows are
    // trimmed by 0.6 s for call set-up and the API round trip.
    let trim = Duration::from_millis(600);
    let talk = (trim, t_mute - trim);
    let muted = (t_mute + trim, t_hold - trim);
    let level = |f: &media::Frame, hz: f64, (a, b): (Duration, Duration)| tone_level(f, hz, a, b);
    let alice_secs = heard_by_alice.samples.len() as f64 / f64::from(heard_by_alice.rate);
    let last_second = (
        Duration::from_secs_f64((alice_secs - 1.2).max(0.0)),
        Duration::from_secs_f64((alice_secs - 0.2).max(0.0)),
    );
    let report = format!(
        "bob hears 1 kHz: talking {:.0}, alice muted {:.0}; alice hears 440 Hz: talking {:.0}, while muted {:.0}, last second {:.0}; \
         alice decoded {alice_secs:.1} s of a {:.1} s call; relay sent bob {during_hold} packets while he was held",
        level(&heard_by_bob, 1000.0, talk),
        level(&heard_by_bob, 1000.0, muted),
        level(&heard_by_alice, 440.0, talk),
        level(&heard_by_alice, 440.0, muted),
        level(&heard_by_alice, 440.0, last_second),
        t_end.as_secs_f64(),
    );
    println!("mute/hold: {report}");
    let loud = |x: f64| x > 300.0;
    let silent = |x: f64| x < 30.0;
    assert!(loud(level(&heard_by_bob, 1000.0, talk)), "{report}");
    assert!(
        silent(level(&heard_by_bob, 1000.0, muted)),
        "alice muted out: {report}"
    );
    assert!(loud(level(&heard_by_alice, 440.0, talk)), "{report}");
    assert!(
        loud(level(&heard_by_alice, 440.0, muted)),
        "alice still hears bob: {report}"
    );
    // Held: alice got nothing of bob for about the hold's length...
    assert!(
        alice_secs < (t_end - phase + trim).as_secs_f64(),
        "alice heard bob while he was held: {report}"
    );
    // ... and hears him again after the resume.
    assert!(
        loud(level(&heard_by_alice, 440.0, last_second)),
        "resumed: {report}"
    );
    // Bob, held, still got a stream (music on hold, see relay_mute): about 50/s.
    assert!(during_hold > 80, "{report}");
    assert_eq!(d.stop().code(), Some(0));
}

/// RMS amplitude of the `hz` component of `audio` between `from` and `to`
/// (seconds from the start of the dump).
fn tone_level(audio: &media::Frame, hz: f64, from: Duration, to: Duration) -> f64 {
    let rate = f64::from(audio.rate);
    let a = ((from.as_secs_f64() * rate) as usize).min(audio.samples.len());
    let b = ((to.as_secs_f64() * rate) as usize).min(audio.samples.len());
    let window = &audio.samples[a..b];
    if window.is_empty() {
        return 0.0;
    }
    let power = goertzel_power(window, hz, rate).max(0.0);
    // |X(f)| = A * N / 2 for a sine of amplitude A; RMS = A / sqrt(2).
    2.0 * power.sqrt() / window.len() as f64 / std::f64::consts::SQRT_2
}

/// Plays: alice (100, sending 440 Hz) calls bob (200, sending 1 kHz).
/// The API plays alice's call a list of two WAV files: 2 s of 1200 Hz
/// served over HTTP by this test, then 2 s of 1800 Hz from the server's
/// media directory (`file://`). Alice's decoded audio (baresip's sndfile
/// dump) carries 1200 Hz, then 1800 Hz, then bob's 1 kHz again; the event
/// stream says `play_started`, then `play_finished` (`finished`) with the
/// URLs. Before that, unusable URLs are refused with a 4xx naming them
/// (malformed, outside the media directory, not a WAV, unreachable), and
/// the call goes on.
#[test]
fn the_api_plays_wav_files_to_a_call_and_the_phone_hears_them() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("play", MD5_ONLY, &[]);
    let media_dir = d.dir.join("data/media");
    write_tone_wav(&media_dir.join("tone-1800.wav"), 1800.0, 2);
    let served = d.dir.join("tone-1200.wav");
    write_tone_wav(&served, 1200.0, 2);
    let web = FileServer::start(vec![
        ("/tone.wav", std::fs::read(&served).unwrap()),
        ("/page.html", b"<html>not audio</html>".to_vec()),
    ]);
    let mut ws = d.events("play_started,play_finished", WAIT);
    let tone = |hz| Audio {
        codecs: vec!["g711.so"],
        only: None,
        tone_hz: hz,
        dump: true,
        source: None,
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &tone(440));
    let bob = Baresip::start_with(&d, "200", "bob-secret-22", true, &tone(1000));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, _) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let start = Instant::now();
    let mid = m["id"].as_str().unwrap();
    let play = format!("/v1/calls/{mid}/play");

    // Unusable requests: a 4xx naming the fault, and the call goes on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refused = [
        (
            serde_json::json!({"url": "not a url"}),
            400,
            "'not a url' is not a URL",
        ),
        (
            serde_json::json!({"url": "file:///etc/passwd"}),
            400,
            "inside the media directory",
        ),
        (
            serde_json::json!({"urls": [format!("http://{}/page.html", web.addr)]}),
            422,
            "page.html': not a RIFF/WAVE file",
        ),
        (
            serde_json::json!({"url": format!("http://{closed}/gone.wav")}),
            422,
            "gone.wav': fetch failed: cannot connect",
        ),
        (serde_json::json!({"urls": []}), 400, "urls: 0 URLs"),
        (
            serde_json::json!({"url": "file:///x.wav", "loop_count": 101}),
            400,
            "loop_count: 101",
        ),
    ];
    for (body, status, needle) in &refused {
        let (got, e) = d.post(&play, Some(body));
        let message = e["error"]["message"].as_str().unwrap_or("");
        assert_eq!(got, *status, "{body}: {e}");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let (status, e) = d.delete(&play);
    assert_eq!(status, 404, "no play to stop: {e}");
    let (_, call) = d.get(&format!("/v1/calls/{mid}"));
    assert_eq!(call["status"], "progressing", "the call goes on: {call}");

    std::thread::sleep(Duration::from_millis(1500));
    let urls = [
        format!("http://{}/tone.wav", web.addr),
        format!("file://{}", media_dir.join("tone-1800.wav").display()),
    ];
    let t_play = start.elapsed();
    let (status, started) = d.post(&play, Some(&serde_json::json!({"urls": urls})));
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["duration_ms"], 4000, "{started}");
    assert_eq!(started["loop_count"], 1, "{started}");
    let mut events = Vec::new();
    while events.len() < 2 {
        let msg = ws.read().unwrap_or_else(|e| {
            panic!("play events so far {events:?}: {e}\n{}", diag(&d, &phones))
        });
        if let tungstenite::Message::Text(t) = msg {
            events.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
        }
    }
    let t_finished = start.elapsed();
    assert_eq!(events[0]["type"], "play_started", "{events:#?}");
    assert_eq!(events[1]["type"], "play_finished", "{events:#?}");
    assert_eq!(events[1]["data"]["reason"], "finished", "{events:#?}");
    for e in &events {
        assert_eq!(e["data"]["call_id"], mid, "{e}");
        assert_eq!(e["data"]["urls"], serde_json::json!(urls), "{e}");
        assert_eq!(e["data"]["play_id"], started["play_id"], "{e}");
    }
    std::thread::sleep(Duration::from_millis(2000));
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    alice.wait_no_call(&d, &phones);

    let heard = decoded_dump(&alice.dir, &d, &phones);
    let secs = |s: f64| Duration::from_secs_f64(s);
    let at = |from: Duration, to: Duration| dominant_between(&heard, from, to);
    let before = at(secs(0.6), t_play - secs(0.3));
    let first = at(t_play + secs(0.5), t_play + secs(1.6));
    let second = at(t_play + secs(2.5), t_play + secs(3.6));
    let after = at(t_finished + secs(0.6), t_finished + secs(1.6));
    println!(
        "play: alice heard {before} Hz before, {first} Hz then {second} Hz during the play \
         (finished after {:.1} s), {after} Hz after",
        (t_finished - t_play).as_secs_f64()
    );
    assert!(
        (before - 1000.0).abs() <= 10.0,
        "bob before the play: {before}"
    );
    assert!((first - 1200.0).abs() <= 10.0, "the served WAV: {first}");
    assert!(
        (second - 1800.0).abs() <= 10.0,
        "the media-dir WAV: {second}"
    );
    assert!((after - 1000.0).abs() <= 10.0, "bob again: {after}");
    assert_eq!(d.stop().code(), Some(0));
}

/// Text to speech through a real phone: alice (100, decoded audio dumped)
/// calls bob (200, whose microphone is silence). The server's `PATH` holds
/// only a link to espeak-ng. `POST talk` on alice's call (201) makes her
/// hear the sentence: her decoded audio carries speech energy over the
/// prompt's length, and its loudness contour follows the one of the same
/// text rendered here by espeak-ng; `play_started` / `play_finished`
/// (`finished`) carry the play id, `kind: talk` and the text. The same
/// talk again comes from the cache (`cached`, and the counters on
/// `/metrics`: one render, one hit). Then the link is removed: a new text
/// is a 503 `tts_unavailable` saying how to install espeak-ng, a cached
/// one still plays, and `/play` still works.
#[test]
fn the_api_talks_to_a_call_and_the_phone_hears_the_prompt() {
    if !installed(BARESIP) || !installed(ESPEAK) {
        return;
    }
    let espeak = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("espeak-ng"))
                .find(|f| f.is_file())
        })
        .expect("espeak-ng in PATH");
    let bin = temp_dir("talk-bin");
    std::os::unix::fs::symlink(&espeak, bin.join("espeak-ng")).unwrap();
    let d = Dialtone::start_with_env("talk", MD5_ONLY, &[], &[("PATH", bin.as_os_str())]);
    let text = "Thank you for calling Dialtone. Your call is important to us.";
    // The prompt as the server renders it (voice en-us, variant f3).
    let out = Command::new(&espeak)
        .args(["-v", "en-us+f3", "--stdout", "--", text])
        .output()
        .expect("espeak-ng runs");
    let prompt = media::wav::decode(&out.stdout).unwrap();
    let prompt_secs = prompt.samples.len() as f64 / f64::from(prompt.rate);
    let silence = d.dir.join("silence.wav");
    write_48k_stereo(
        &silence,
        &media::Frame::silence(8000, 30_000),
        Duration::ZERO,
    );
    let mut ws = d.events("play_started,play_finished", WAIT);
    let alice = Baresip::start_with(
        &d,
        "100",
        "alice-secret-1",
        false,
        &Audio {
            dump: true,
            ..Audio::default()
        },
    );
    let bob = Baresip::start_with(
        &d,
        "200",
        "bob-secret-22",
        true,
        &Audio {
            source: Some(silence),
            ..Audio::default()
        },
    );
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, _) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let start = Instant::now();
    let mid = m["id"].as_str().unwrap();
    let talk = format!("/v1/calls/{mid}/talk");
    let mut next_event = |what: &str| -> Value {
        loop {
            let msg = ws
                .read()
                .unwrap_or_else(|e| panic!("waiting for {what}: {e}\n{}", diag(&d, &phones)));
            if let tungstenite::Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    };

    // Refused before anything is rendered: 400s naming the field.
    for (body, needle) in [
        (serde_json::json!({"text": ""}), "text:"),
        (serde_json::json!({"text": "a".repeat(4001)}), "text: 4001"),
        (
            serde_json::json!({"text": "hi", "gender": "robot"}),
            "gender:",
        ),
        (
            serde_json::json!({"text": "hi", "language": "tlh"}),
            "espeak-ng --voices",
        ),
    ] {
        let (status, e) = d.post(&talk, Some(&body));
        assert_eq!(status, 400, "{e}");
        let message = e["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{message}");
    }

    std::thread::sleep(Duration::from_millis(1000));
    let t_talk = start.elapsed();
    let body = serde_json::json!({"text": text, "language": "en-US", "gender": "female"});
    let (status, started) = d.post(&talk, Some(&body));
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["kind"], "talk", "{started}");
    assert_eq!(started["voice"], "en-us+f3", "{started}");
    assert_eq!(started["cached"], false, "{started}");
    let duration_ms = started["duration_ms"].as_u64().unwrap();
    assert!(
        duration_ms.abs_diff((prompt_secs * 1000.0) as u64) < 100,
        "{duration_ms} ms for a {prompt_secs:.2} s prompt"
    );
    let (begun, ended) = (next_event("play_started"), next_event("play_finished"));
    let t_finished = start.elapsed();
    assert_eq!(begun["type"], "play_started", "{begun}");
    assert_eq!(ended["type"], "play_finished", "{ended}");
    assert_eq!(ended["data"]["reason"], "finished", "{ended}");
    for e in [&begun, &ended] {
        assert_eq!(e["data"]["play_id"], started["play_id"], "{e}");
        assert_eq!(e["data"]["kind"], "talk", "{e}");
        assert_eq!(e["data"]["text"], text, "{e}");
        assert_eq!(e["data"]["call_id"], mid, "{e}");
    }
    let played = (t_finished - t_talk).as_secs_f64();
    assert!(
        played > prompt_secs - 0.3 && played < prompt_secs + 1.5,
        "played {played:.2} s for a {prompt_secs:.2} s prompt"
    );
    let counters = |d: &Dialtone| {
        let (_, _, body) = d.get_bytes("/metrics");
        let text = String::from_utf8(body).unwrap();
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in {text}"))
        };
        (
            value("dialtone_tts_renders_total"),
            value("dialtone_tts_cache_hits_total"),
        )
    };
    assert_eq!(counters(&d), (1, 0));

    // The same talk again: from the cache.
    let (status, again) = d.post(&talk, Some(&body));
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["cached"], true, "{again}");
    assert_ne!(again["play_id"], started["play_id"]);
    next_event("play_started");
    let ended = next_event("play_finished");
    assert_eq!(ended["data"]["play_id"], again["play_id"], "{ended}");
    assert_eq!(counters(&d), (1, 1));

    // espeak-ng goes away: new text cannot be said; the rest goes on.
    std::fs::remove_file(bin.join("espeak-ng")).unwrap();
    let (status, e) = d.post(&talk, Some(&serde_json::json!({"text": "Something new."})));
    assert_eq!(status, 503, "{e}");
    assert_eq!(e["error"]["code"], "tts_unavailable", "{e}");
    let message = e["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("apt-get install espeak-ng"), "{message}");
    let (status, cached) = d.post(&talk, Some(&body));
    assert_eq!(status, 201, "a cached prompt needs no espeak-ng: {cached}");
    next_event("play_started");
    let media_dir = d.dir.join("data/media");
    write_tone_wav(&media_dir.join("tone.wav"), 1200.0, 1);
    let url = format!("file://{}", media_dir.join("tone.wav").display());
    let (status, tone_play) = d.post(
        &format!("/v1/calls/{mid}/play"),
        Some(&serde_json::json!({ "url": url })),
    );
    assert_eq!(status, 200, "{tone_play}");
    let replaced = next_event("play_finished of the talk");
    assert_eq!(replaced["data"]["play_id"], cached["play_id"], "{replaced}");
    assert_eq!(replaced["data"]["reason"], "stopped", "{replaced}");
    let begun = next_event("play_started");
    assert_eq!(begun["data"]["kind"], "play", "{begun}");
    assert_eq!(begun["data"]["urls"], serde_json::json!([url]), "{begun}");
    let ended = next_event("play_finished");
    assert_eq!(ended["data"]["reason"], "finished", "{ended}");

    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    alice.wait_no_call(&d, &phones);

    // What alice heard during the first talk.
    let heard = decoded_dump(&alice.dir, &d, &phones);
    let secs = |s: f64| Duration::from_secs_f64(s);
    let quiet = rms_between(&heard, secs(0.3), t_talk - secs(0.2));
    let speech = rms_between(&heard, t_talk + secs(0.3), t_talk + secs(prompt_secs - 0.3));
    let rate = f64::from(heard.rate);
    let from = ((t_talk.as_secs_f64() - 0.5).max(0.0) * rate) as usize;
    let to = (((t_finished.as_secs_f64() + 1.0) * rate) as usize).min(heard.samples.len());
    let (corr, lag) = best_correlation(
        &envelope(&prompt.samples, prompt.rate),
        &envelope(&heard.samples[from..to], heard.rate),
    );
    println!(
        "talk: {prompt_secs:.2} s prompt, played {played:.2} s; alice heard RMS {quiet:.0} before, \
         {speech:.0} during; contour correlation {corr:.3} at {} ms",
        lag * 20
    );
    assert!(
        speech > 1000.0 && speech > 20.0 * quiet.max(1.0),
        "{quiet} / {speech}"
    );
    assert!(corr > 0.8, "alice heard the prompt: {corr:.3}");
    assert_eq!(d.stop().code(), Some(0));
    let _ = std::fs::remove_dir_all(&bin);
}

/// Echo: alice (100, sending 440 Hz) calls bob (200, sending 1 kHz).
/// With echo on alice's call she hears her own 440 Hz instead of bob;
/// `DELETE` brings bob back. Echo on a call that ended is a 409.
#[test]
fn echo_gives_a_phone_its_own_audio_back() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("echo", MD5_ONLY, &[]);
    let tone = |hz, dump| Audio {
        tone_hz: hz,
        dump,
        ..Audio::default()
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &tone(440, true));
    let bob = Baresip::start_with(&d, "200", "bob-secret-22", true, &tone(1000, false));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, _) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let start = Instant::now();
    let mid = m["id"].as_str().unwrap();
    let echo = format!("/v1/calls/{mid}/echo");
    std::thread::sleep(Duration::from_millis(1500));
    let t_on = start.elapsed();
    let (status, on) = d.post(&echo, None);
    assert_eq!((status, &on["echo"]), (200, &Value::Bool(true)), "{on}");
    std::thread::sleep(Duration::from_millis(2500));
    let t_off = start.elapsed();
    let (status, off) = d.delete(&echo);
    assert_eq!((status, &off["echo"]), (200, &Value::Bool(false)), "{off}");
    std::thread::sleep(Duration::from_millis(2000));
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    alice.wait_no_call(&d, &phones);
    let (status, e) = d.post(&echo, None);
    assert_eq!(status, 409, "{e}");

    let heard = decoded_dump(&alice.dir, &d, &phones);
    let secs = |s: f64| Duration::from_secs_f64(s);
    let at = |from: Duration, to: Duration| dominant_between(&heard, from, to);
    let before = at(secs(0.5), t_on - secs(0.2));
    let during = at(t_on + secs(0.5), t_off - secs(0.2));
    let after = at(t_off + secs(0.5), t_off + secs(1.5));
    println!("echo: alice heard {before} Hz before, {during} Hz with echo on, {after} Hz after");
    assert!((before - 1000.0).abs() <= 10.0, "bob: {before}");
    assert!((during - 440.0).abs() <= 10.0, "her own tone: {during}");
    assert!((after - 1000.0).abs() <= 10.0, "bob again: {after}");
    assert_eq!(d.stop().code(), Some(0));
}

/// Music on hold on an HD call: alice (baresip, sending 1 kHz) calls bob
/// (Linphone, whose received audio is recorded to a WAV file), both G.722
/// only. Holding bob's call re-INVITEs him `sendonly`; the relay then sends
/// him music on hold in G.722, though alice keeps sending (he no longer
/// hears her). What bob's phone played during the hold carries the
/// music's energy, far above silence, with none of alice's 1 kHz tone.
/// (The held phone is Linphone: baresip 1.0 stops its decoded-audio dump
/// at a re-INVITE.)
#[test]
fn a_held_g722_phone_hears_music_on_hold() {
    if !installed(LINPHONEC) || !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("hold-g722", MD5_ONLY, &[]);
    let alice_audio = Audio {
        codecs: vec!["g722.so"],
        only: None,
        tone_hz: 1000,
        dump: false,
        source: None,
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &alice_audio);
    let mut bob = Linphone::start_with(&d, "200", "bob-secret-22", "MD5", true, Some("G722"));
    let heard = bob.dir.join("heard.wav");
    bob.send(&format!("record {}", heard.display()));
    wait_registered(&d, &["100", "200"], &[&alice, &bob]);
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (_, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let start = Instant::now();
    let oid = o["id"].as_str().unwrap();
    let stats = |d: &Dialtone| d.get(&format!("/v1/calls/{oid}/stats")).1;
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        stats(&d)["codec"]["mimeType"],
        "audio/G722",
        "{}",
        stats(&d)
    );
    let t_hold = start.elapsed();
    let (status, call) = d.post(&format!("/v1/calls/{oid}/hold"), None);
    assert_eq!(status, 200, "{call}");
    let sent_before = stats(&d)["outbound-rtp"]["packetsSent"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(4000));
    let sent_during = stats(&d)["outbound-rtp"]["packetsSent"].as_u64().unwrap() - sent_before;
    let t_resume = start.elapsed();
    let (status, call) = d.delete(&format!("/v1/calls/{oid}/hold"));
    assert_eq!(status, 200, "{call}");
    std::thread::sleep(Duration::from_millis(1500));
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    // Linphone closes its recording when its call ends.
    bob.wait_logged("to LinphoneCallReleased", &d);
    let audio = media::wav::decode(&std::fs::read(&heard).unwrap()).unwrap();
    let secs = |s: f64| Duration::from_secs_f64(s);
    let talk = (secs(0.5), t_hold - secs(0.3));
    let held = (t_hold + secs(0.8), t_resume - secs(0.3));
    let after = (t_resume + secs(0.6), t_resume + secs(1.3));
    let report = format!(
        "bob's phone played {:.1} s at {} Hz; RMS talking {:.0} (1 kHz {:.0}), held {:.0} (1 kHz {:.0}), after {:.0} (1 kHz {:.0}); relay sent him {sent_during} packets in the 4 s hold",
        audio.samples.len() as f64 / f64::from(audio.rate),
        audio.rate,
        rms_between(&audio, talk.0, talk.1),
        tone_level(&audio, 1000.0, talk.0, talk.1),
        rms_between(&audio, held.0, held.1),
        tone_level(&audio, 1000.0, held.0, held.1),
        rms_between(&audio, after.0, after.1),
        tone_level(&audio, 1000.0, after.0, after.1),
    );
    println!("hold-g722: {report}");
    let music = dominant_between(&audio, held.0, held.1);
    assert!(
        tone_level(&audio, 1000.0, talk.0, talk.1) > 300.0,
        "bob heard alice before the hold: {report}"
    );
    assert!(
        rms_between(&audio, held.0, held.1) > 1000.0,
        "music, not silence: {report}"
    );
    assert!(
        tone_level(&audio, 1000.0, held.0, held.1) < 30.0,
        "none of alice while held: {report}"
    );
    assert!(
        (200.0..=600.0).contains(&music),
        "the music's chords (220-590 Hz) dominate, not {music} Hz: {report}"
    );
    assert!(
        tone_level(&audio, 1000.0, after.0, after.1) > 300.0,
        "alice again after the resume: {report}"
    );
    assert!(sent_during > 150, "{report}");
    assert_eq!(d.stop().code(), Some(0));
}

/// RMS of `audio` between `from` and `to` (seconds from its start).
fn rms_between(audio: &media::Frame, from: Duration, to: Duration) -> f64 {
    let rate = f64::from(audio.rate);
    let a = ((from.as_secs_f64() * rate) as usize).min(audio.samples.len());
    let b = ((to.as_secs_f64() * rate) as usize).min(audio.samples.len());
    let w = &audio.samples[a..b];
    if w.is_empty() {
        return 0.0;
    }
    (w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
}

/// The strongest frequency (10 Hz steps, 100-3400 Hz) of `audio` between
/// `from` and `to`.
fn dominant_between(audio: &media::Frame, from: Duration, to: Duration) -> f64 {
    let rate = f64::from(audio.rate);
    let a = ((from.as_secs_f64() * rate) as usize).min(audio.samples.len());
    let b = ((to.as_secs_f64() * rate) as usize).min(audio.samples.len());
    assert!(
        b > a + audio.rate as usize / 4,
        "too little audio between {from:?} and {to:?}: {} samples in all",
        audio.samples.len()
    );
    let window = &audio.samples[a..b];
    (10..=340)
        .map(|i| f64::from(i) * 10.0)
        .max_by(|x, y| {
            goertzel_power(window, *x, rate).total_cmp(&goertzel_power(window, *y, rate))
        })
        .unwrap()
}

/// DTMF: baresip (100) sends the digits 1, 2 and # during a call (RFC
/// 4733 telephone-events); each arrives once, in order, as a
/// `dtmf_received` event of the caller's call on `/v1/events`.
#[test]
fn baresip_digits_arrive_as_dtmf_events_in_order() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("dtmf", MD5_ONLY, &[]);
    let mut ws = d.events("dtmf_received", WAIT);
    let alice = Baresip::start(&d, "100", "alice-secret-1", false);
    let bob = Baresip::start(&d, "200", "bob-secret-22", true);
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, _) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    std::thread::sleep(Duration::from_millis(500));
    for digit in ["1", "2", "#"] {
        alice.command("sndcode", digit, &d, &phones);
        std::thread::sleep(Duration::from_millis(400));
    }
    let mut got: Vec<Value> = Vec::new();
    while got.len() < 3 {
        let msg = ws
            .read()
            .unwrap_or_else(|e| panic!("dtmf events so far {got:?}: {e}\n{}", diag(&d, &phones)));
        if let tungstenite::Message::Text(t) = msg {
            got.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    let digits: Vec<&str> = got
        .iter()
        .map(|e| e["data"]["digit"].as_str().unwrap())
        .collect();
    assert_eq!(digits, ["1", "2", "#"], "{got:#?}");
    for e in &got {
        assert_eq!(e["type"], "dtmf_received");
        assert_eq!(e["data"]["call_id"], m["id"], "the caller's call");
        assert_eq!(e["data"]["method"], "rfc4733");
        assert!(e["data"]["duration"].as_u64().unwrap() >= 40, "{e}");
    }
    let seqs: Vec<u64> = got
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");

    // The other way: Dialtone sends bob 4, 5, * (RFC 4733); his baresip
    // logs each digit it receives.
    let (_, o) = wait_call(&d, &phones, "still up", |c| c["status"] == "progressing");
    let oid = o["id"].as_str().unwrap();
    let (status, e) = d.post(
        &format!("/v1/calls/{oid}/dtmf"),
        Some(&serde_json::json!({"digits": "4x"})),
    );
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("digits"),
        "{e}"
    );
    // baresip reports received telephone-events to its ctrl_tcp clients.
    let events_conn = bob.listen();
    let (status, e) = d.post(
        &format!("/v1/calls/{oid}/dtmf"),
        Some(&serde_json::json!({"digits": "45*", "duration": 150})),
    );
    assert_eq!(status, 200, "{e}");
    let received: String = bob
        .events(&events_conn, "CALL_DTMF_START", 3)
        .iter()
        .map(|e| e["param"].as_str().unwrap_or("?").to_owned())
        .collect();
    let (_, stats) = d.get(&format!("/v1/calls/{oid}/stats"));
    assert_eq!(received, "45*", "{stats}");
    // The same as SIP INFO (application/dtmf-relay), one INFO per digit.
    let (status, e) = d.post(
        &format!("/v1/calls/{oid}/dtmf"),
        Some(&serde_json::json!({"digits": "78#", "method": "sip_info"})),
    );
    assert_eq!(status, 200, "{e}");
    let received: String = bob
        .events(&events_conn, "CALL_DTMF_START", 3)
        .iter()
        .map(|e| e["param"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(received, "78#", "digits sent as SIP INFO");
    let (status, e) = d.post(
        &format!("/v1/calls/{oid}/dtmf"),
        Some(&serde_json::json!({"digits": "1", "method": "carrier-pigeon"})),
    );
    assert_eq!(status, 400, "{e}");
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    assert_eq!(d.stop().code(), Some(0));
}

/// In-band DTMF between two baresips. alice's microphone is a WAV file
/// holding the tones of 1 5 9 # (ITU-T Q.23 pairs, 120 ms each, 150 ms
/// apart) after 2.5 s of silence. baresip offers telephone-event whatever
/// it is told, so by default its leg looks for no tones (`PUT
/// dtmf_detection` with `null` says so); the test turns detection on for
/// alice's call, as for a phone that negotiates events but sends tones.
/// The digits arrive in order as `dtmf_received` events with method
/// `inband`; bob's baresip, which reads events, gets each one as an RFC
/// 4733 event too (interworking), while the tones also reach him in the
/// audio. Then Dialtone sends bob 3 and * in-band: his decoded audio holds
/// alice's tones then these, in order.
#[test]
fn inband_digits_from_a_baresip_are_detected_and_handed_on_as_events() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("inband", MD5_ONLY, &[]);
    let mut ws = d.events("dtmf_received", WAIT);
    let mut tones =
        media::dtmf::DtmfGenerator::new(8000, media::dtmf::ToneLevels::default()).unwrap();
    for digit in media::dtmf::parse_digits("159#").unwrap() {
        tones.push(digit, 120, 150);
    }
    let mut pcm = vec![0i16; 8 * 4 * 270];
    tones.fill(&mut pcm);
    let mic = d.dir.join("digits.wav");
    write_48k_stereo(
        &mic,
        &media::Frame::new(8000, pcm),
        Duration::from_millis(2500),
    );
    let alice = Baresip::start_with(
        &d,
        "100",
        "alice-secret-1",
        false,
        &Audio {
            source: Some(mic),
            ..Audio::default()
        },
    );
    let bob = Baresip::start_with(
        &d,
        "200",
        "bob-secret-22",
        true,
        &Audio {
            dump: true,
            ..Audio::default()
        },
    );
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    let bob_events = bob.listen();
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let (mid, oid) = (m["id"].as_str().unwrap(), o["id"].as_str().unwrap());
    let detection = format!("/v1/calls/{mid}/dtmf_detection");
    let (status, e) = d.put(&detection, &serde_json::json!({"inband": null}));
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["inband"], false, "telephone-event negotiated: off");
    let (status, e) = d.put(&detection, &serde_json::json!({"inband": true}));
    assert_eq!(status, 200, "{e}");
    assert_eq!(e, serde_json::json!({"call_id": mid, "inband": true}));
    let (status, e) = d.put(&detection, &serde_json::json!({"inband": "yes"}));
    assert_eq!(status, 400, "{e}");
    let unknown = "/v1/calls/00000000-0000-4000-8000-000000000000/dtmf_detection";
    let (status, e) = d.put(unknown, &serde_json::json!({"inband": true}));
    assert_eq!(status, 404, "{e}");

    let mut got: Vec<Value> = Vec::new();
    while got.len() < 4 {
        let msg = ws
            .read()
            .unwrap_or_else(|e| panic!("dtmf events so far {got:?}: {e}\n{}", diag(&d, &phones)));
        if let tungstenite::Message::Text(t) = msg {
            got.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    let digits: String = got
        .iter()
        .map(|e| e["data"]["digit"].as_str().unwrap())
        .collect();
    assert_eq!(digits, "159#", "{got:#?}");
    for e in &got {
        assert_eq!(e["data"]["call_id"], m["id"], "alice's call: {e}");
        assert_eq!(e["data"]["method"], "inband", "{e}");
        let ms = e["data"]["duration"].as_u64().unwrap();
        assert!((90..=160).contains(&ms), "about the 120 ms played: {e}");
    }
    let handed_on: String = bob
        .events(&bob_events, "CALL_DTMF_START", 4)
        .iter()
        .map(|e| e["param"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(handed_on, "159#", "RFC 4733 events bob's baresip got");

    let (status, e) = d.post(
        &format!("/v1/calls/{oid}/dtmf"),
        Some(&serde_json::json!({"digits": "3*", "method": "inband", "duration": 150})),
    );
    assert_eq!(status, 200, "{e}");
    // 2 x (150 + 100) ms of tones, and time for them to reach the dump.
    std::thread::sleep(Duration::from_millis(1500));
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    bob.wait_no_call(&d, &phones);
    let heard = decoded_dump(&bob.dir, &d, &phones);
    let mut detector = media::dtmf::Detector::new(heard.rate).unwrap();
    detector.process(&heard.samples);
    detector.flush();
    let mut tones_heard = String::new();
    while let Some(ev) = detector.poll_event() {
        if let media::dtmf::ToneEvent::Ended { digit, .. } = ev {
            tones_heard.push(digit.to_char());
        }
    }
    assert_eq!(
        tones_heard, "159#3*",
        "bob heard alice's tones, then Dialtone's"
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// Recording a real call: alice (100, sending 1 kHz) calls bob (200,
/// sending 440 Hz). Two recordings of alice's call run at once, stereo and
/// mono; the live stream of the stereo one is read over its WebSocket; the
/// stereo one is stopped through the API, the mono one ends with the call.
/// Both files download with the SHA-256 their records give; the stereo
/// file holds alice on the left and bob (what she heard) on the right, the
/// mono one both; `recording_started` / `recording_finished` arrive in the
/// call's sequence.
#[test]
fn a_recorded_call_holds_each_party_on_its_channel() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("record", MD5_ONLY, &[]);
    let mut events = d.events("recording_started,recording_finished", WAIT);
    let tone = |hz| Audio {
        codecs: vec!["g711.so"],
        only: None,
        tone_hz: hz,
        dump: false,
        source: None,
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &tone(1000));
    let bob = Baresip::start_with(&d, "200", "bob-secret-22", true, &tone(440));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, _) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let mid = m["id"].as_str().unwrap();
    let start = |body: Value| d.post(&format!("/v1/calls/{mid}/recording_start"), Some(&body));

    // Bad input: a clear 400 naming the field; unknown call 404.
    let (status, e) = start(serde_json::json!({"channels": "quad"}));
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("channels"),
        "{e}"
    );
    let (status, e) = start(serde_json::json!({"format": "mp3"}));
    assert_eq!(status, 400, "{e}");
    let (status, e) = d.post(&format!("/v1/calls/{}/recording_start", uuid_like(7)), None);
    assert_eq!(status, 404, "{e}");

    let (status, stereo) = start(serde_json::json!({"channels": "stereo", "direction": "both"}));
    assert_eq!(status, 201, "{stereo}");
    assert_eq!(
        (
            &stereo["status"],
            &stereo["channels"],
            &stereo["sample_rate"]
        ),
        (
            &Value::from("recording"),
            &Value::from("stereo"),
            &Value::from(8000)
        )
    );
    let (status, mono) = start(serde_json::json!({}));
    assert_eq!(status, 201, "{mono}");
    assert_eq!(
        (&mono["channels"], &mono["direction"]),
        (&Value::from("mono"), &Value::from("both"))
    );
    let (sid, mono_id) = (stereo["id"].as_str().unwrap(), mono["id"].as_str().unwrap());
    let (_, call) = d.get(&format!("/v1/calls/{mid}"));
    assert_eq!(
        call["recording_id"], mono["id"],
        "the latest is current: {call}"
    );
    assert_eq!(call["recording_ids"], serde_json::json!([sid, mono_id]));

    // The live stream: a WAV header, then 20 ms chunks of stereo PCM.
    let url = format!(
        "ws://{}/v1/recordings/{sid}/stream?api_key={API_KEY}",
        d.http
    );
    let (mut live, _) = tungstenite::connect(url.as_str()).expect("stream connects");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = live.get_mut() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    let header = match live.read().unwrap() {
        tungstenite::Message::Binary(b) => b,
        other => panic!("first message: {other:?}"),
    };
    let info = media::wav::parse_header(&header).unwrap();
    assert_eq!((info.channels, info.rate), (2, 8000));
    let mut streamed = Vec::new();
    while streamed.len() < 8000 * 4 {
        match live.read().unwrap() {
            tungstenite::Message::Binary(b) => {
                assert_eq!(b.len() % 4, 0, "whole stereo frames");
                streamed.extend_from_slice(&b);
            }
            other => panic!("stream: {other:?}"),
        }
    }
    let streamed_left: Vec<i16> = streamed
        .chunks_exact(4)
        .map(|f| i16::from_le_bytes([f[0], f[1]]))
        .collect();
    assert!(
        (dominant_hz(&media::Frame::new(8000, streamed_left)) - 1000.0).abs() < 20.0,
        "the stream's left channel is alice"
    );

    std::thread::sleep(Duration::from_secs(2));
    let (status, stopped) = d.post(
        &format!("/v1/calls/{mid}/recording_stop"),
        Some(&serde_json::json!({"recording_id": sid})),
    );
    assert_eq!(status, 200, "{stopped}");
    let done = &stopped["items"][0];
    assert_eq!(
        (&done["status"], &done["end_reason"]),
        (&Value::from("finished"), &Value::from("stopped")),
        "{done}"
    );
    let secs = done["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
    assert!((2.5..6.0).contains(&secs), "{done}");
    // The stream ends with the recording.
    loop {
        match live.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(v["type"], "recording_finished");
                break;
            }
            Ok(tungstenite::Message::Binary(_)) => {}
            other => panic!("stream end: {other:?}"),
        }
    }
    let (status, e) = d.post(
        &format!("/v1/calls/{mid}/recording_stop"),
        Some(&serde_json::json!({"recording_id": sid})),
    );
    assert_eq!(status, 409, "stopped twice: {e}");
    let (_, call) = d.get(&format!("/v1/calls/{mid}"));
    assert_eq!(call["recording_id"], mono["id"], "{call}");

    std::thread::sleep(Duration::from_secs(1));
    alice.command("hangup", "", &d, &phones);
    wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    // The mono recording ended with the call.
    let deadline = Instant::now() + WAIT;
    let mono_done = loop {
        let (_, r) = d.get(&format!("/v1/recordings/{mono_id}"));
        if r["status"] != "recording" || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (&mono_done["status"], &mono_done["end_reason"]),
        (&Value::from("finished"), &Value::from("hangup")),
        "{mono_done}"
    );
    let (_, call) = d.get(&format!("/v1/calls/{mid}"));
    assert_eq!(call["recording_id"], Value::Null, "{call}");
    let (_, page) = d.get(&format!("/v1/recordings?call_id={mid}"));
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");

    let download = |id: &str, record: &Value| {
        let (status, content_type, bytes) = d.get_bytes(&format!("/v1/recordings/{id}/file"));
        assert_eq!((status, content_type.as_str()), (200, "audio/wav"));
        assert_eq!(bytes.len() as u64, record["size_bytes"].as_u64().unwrap());
        let hash = {
            use sha2::Digest;
            hex_string(&sha2::Sha256::digest(&bytes))
        };
        assert_eq!(
            Value::from(hash),
            record["sha256"],
            "the file is the one hashed"
        );
        bytes
    };
    let stereo_wav = download(sid, done);
    let mono_wav = download(mono_id, &mono_done);
    let info = media::wav::parse_header(&stereo_wav).unwrap();
    assert_eq!(info.channels, 2);
    let samples: Vec<i16> = stereo_wav[info.data_offset..info.data_offset + info.data_len]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let left = media::Frame::new(8000, samples.iter().step_by(2).copied().collect());
    let right = media::Frame::new(8000, samples.iter().skip(1).step_by(2).copied().collect());
    let whole = |f: &media::Frame| {
        (
            Duration::ZERO,
            Duration::from_secs_f64(f.samples.len() as f64 / 8000.0),
        )
    };
    let report = format!(
        "stereo left: 1 kHz {:.0}, 440 Hz {:.0}; right: 1 kHz {:.0}, 440 Hz {:.0}",
        tone_level(&left, 1000.0, whole(&left).0, whole(&left).1),
        tone_level(&left, 440.0, whole(&left).0, whole(&left).1),
        tone_level(&right, 1000.0, whole(&right).0, whole(&right).1),
        tone_level(&right, 440.0, whole(&right).0, whole(&right).1),
    );
    println!("recording: {report}");
    assert!(
        (dominant_hz(&left) - 1000.0).abs() < 20.0,
        "left is alice: {report}"
    );
    assert!(
        (dominant_hz(&right) - 440.0).abs() < 10.0,
        "right is bob: {report}"
    );
    let mono_audio = media::wav::decode(&mono_wav).unwrap();
    let (a, b) = whole(&mono_audio);
    assert!(
        tone_level(&mono_audio, 1000.0, a, b) > 300.0
            && tone_level(&mono_audio, 440.0, a, b) > 300.0,
        "mono holds both parties"
    );

    // The events, in the call's sequence.
    let mut got: Vec<Value> = Vec::new();
    while got.len() < 4 {
        if let tungstenite::Message::Text(t) = events.read().expect("recording events") {
            got.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["data"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("recording_started", sid),
            ("recording_started", mono_id),
            ("recording_finished", sid),
            ("recording_finished", mono_id)
        ]
    );
    assert!(got
        .windows(2)
        .all(|w| w[1]["sequence"].as_u64() > w[0]["sequence"].as_u64()));
    assert_eq!(got[3]["data"]["sha256"], mono_done["sha256"]);

    // A finished recording can be deleted, file and record.
    let (status, _) = d.delete(&format!("/v1/recordings/{sid}"));
    assert_eq!(status, 204);
    let (status, _) = d.get(&format!("/v1/recordings/{sid}"));
    assert_eq!(status, 404);
    assert_eq!(d.stop().code(), Some(0));
}

/// A crash in the middle of a recording (SIGKILL): at the next start the
/// recording is repaired and finished (`end_reason: crash`), its file a
/// valid WAV holding all but at most the last second of what was recorded,
/// with the SHA-256 its record gives.
#[test]
fn a_recording_cut_by_a_crash_is_repaired_at_the_next_start() {
    if !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("record-crash", MD5_ONLY, &[]);
    let tone = |hz| Audio {
        codecs: vec!["g711.so"],
        only: None,
        tone_hz: hz,
        dump: false,
        source: None,
    };
    let alice = Baresip::start_with(&d, "100", "alice-secret-1", false, &tone(1000));
    let bob = Baresip::start_with(&d, "200", "bob-secret-22", true, &tone(440));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    wait_registered(&d, &["100", "200"], &phones);
    alice.command("dial", &format!("sip:200@{}", d.sip), &d, &phones);
    let (m, _) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    let mid = m["id"].as_str().unwrap().to_owned();
    let (status, rec) = d.post(&format!("/v1/calls/{mid}/recording_start"), None);
    assert_eq!(status, 201, "{rec}");
    let rid = rec["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    let recorded = started.elapsed().as_secs_f64();
    let d = d.crash_and_restart();
    let (_, r) = d.get(&format!("/v1/recordings/{rid}"));
    assert_eq!(
        (&r["status"], &r["end_reason"]),
        (&Value::from("finished"), &Value::from("crash")),
        "{r}"
    );
    let secs = r["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
    assert!(
        secs >= recorded - 1.5 && secs <= recorded + 0.5,
        "{secs} s kept of {recorded:.1} s recorded (at most the last second lost, plus set-up): {r}"
    );
    let (status, _, bytes) = d.get_bytes(&format!("/v1/recordings/{rid}/file"));
    assert_eq!(status, 200);
    use sha2::Digest;
    assert_eq!(
        Value::from(hex_string(&sha2::Sha256::digest(&bytes))),
        r["sha256"]
    );
    let audio = media::wav::decode(&bytes).unwrap();
    assert_eq!(
        audio.samples.len() as u64 * 2 + 44,
        r["size_bytes"].as_u64().unwrap()
    );
    assert!(
        (dominant_hz(&audio) - 1000.0).abs() < 20.0 || (dominant_hz(&audio) - 440.0).abs() < 10.0
    );
    // The call it belonged to was closed as failed, with no current recording.
    let (_, call) = d.get(&format!("/v1/calls/{mid}"));
    assert_eq!(
        (&call["status"], &call["recording_id"]),
        (&Value::from("hangup"), &Value::Null),
        "{call}"
    );
    drop(alice);
    drop(bob);
    assert_eq!(d.stop().code(), Some(0));
}

fn uuid_like(n: u8) -> String {
    format!("00000000-0000-4000-8000-0000000000{n:02x}")
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The audio a baresip decoded during its call: the largest `*dec*.wav`
/// its sndfile module wrote.
fn decoded_dump(dir: &Path, d: &Dialtone, phones: &[&dyn Phone]) -> media::Frame {
    let mut dumps: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains("dec") && name.ends_with(".wav")
        })
        .map(|p| (std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0), p))
        .collect();
    dumps.sort();
    let Some((_, path)) = dumps.pop() else {
        panic!(
            "no decoded-audio dump in {}\n{}",
            dir.display(),
            diag(d, phones)
        );
    };
    let bytes = std::fs::read(&path).unwrap();
    media::wav::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The strongest frequency (10 Hz steps, 100-3400 Hz) in one second of
/// `audio` taken after its first half second.
fn dominant_hz(audio: &media::Frame) -> f64 {
    let rate = f64::from(audio.rate);
    let start = (audio.rate / 2) as usize;
    let end = (start + audio.rate as usize).min(audio.samples.len());
    assert!(
        end > start + (audio.rate / 4) as usize,
        "too little audio: {} samples",
        audio.samples.len()
    );
    let window = &audio.samples[start..end];
    let power = |hz: f64| goertzel_power(window, hz, rate);
    (10..=340)
        .map(|i| f64::from(i) * 10.0)
        .max_by(|a, b| power(*a).total_cmp(&power(*b)))
        .unwrap()
}

/// Linphone (100) calls baresip (200): media both ways, then Linphone
/// hangs up.
#[test]
fn linphone_calls_baresip() {
    if !installed(LINPHONEC) || !installed(BARESIP) {
        return;
    }
    let d = Dialtone::start("linphone-baresip", MD5_ONLY, &[]);
    let mut alice = Linphone::start(&d, "100", "alice-secret-1", "MD5", false);
    let bob = Baresip::start(&d, "200", "bob-secret-22", true);
    wait_registered(&d, &["100", "200"], &[&alice, &bob]);

    alice.send(&format!("call sip:200@{}", d.sip));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    let (m, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    assert_chained(&m, &o);
    print_media(
        "linphone -> baresip",
        wait_media_both_ways(&d, &m, &o, &phones),
    );

    alice.send("terminate");
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    let (m, o) = wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    assert_eq!(ended(&m), ("remote".into(), "normal".into(), 200), "{m}");
    assert_eq!(ended(&o), ("local".into(), "normal".into(), 200), "{o}");
    bob.wait_no_call(&d, &phones);
    assert_eq!(d.stop().code(), Some(0));
}

/// Two Linphones answering SHA-256 digest challenges (the default server
/// configuration): 100 calls 200, media both ways, then the callee hangs
/// up.
#[test]
fn two_linphones_sha256_digest_callee_hangs_up() {
    if !installed(LINPHONEC) {
        return;
    }
    let d = Dialtone::start("linphones", DEFAULT_AUTH, &[]);
    let mut alice = Linphone::start(&d, "100", "alice-secret-1", "SHA-256", false);
    let mut bob = Linphone::start(&d, "200", "bob-secret-22", "SHA-256", true);
    wait_registered(&d, &["100", "200"], &[&alice, &bob]);
    // Linphone logs its SIP messages: the REGISTERs answered SHA-256.
    for (phone, ext) in [(&alice, "100"), (&bob, "200")] {
        phone.wait_logged(&format!("algorithm=SHA-256, username=\"{ext}\""), &d);
    }

    alice.send(&format!("call sip:200@{}", d.sip));
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    let (m, o) = wait_call(&d, &phones, "both calls progressing", |c| {
        c["status"] == "progressing"
    });
    assert_chained(&m, &o);
    print_media(
        "linphone -> linphone",
        wait_media_both_ways(&d, &m, &o, &phones),
    );

    bob.send("terminate");
    let phones: [&dyn Phone; 2] = [&alice, &bob];
    let (m, o) = wait_call(&d, &phones, "both calls hung up", |c| {
        c["status"] == "hangup"
    });
    // The callee hung up: the caller's leg local/normal, its own remote/normal.
    assert_eq!(ended(&m), ("local".into(), "normal".into(), 200), "{m}");
    assert_eq!(ended(&o), ("remote".into(), "normal".into(), 200), "{o}");
    assert_eq!(d.stop().code(), Some(0));
}

// ---- the phones ----------------------------------------------------------

const LINPHONEC: (&str, &str, &str) = ("linphonec", "-v", "linphone-cli");

/// A linphonec instance with its own HOME and config; killed on drop.
struct Linphone {
    child: Child,
    stdin: ChildStdin,
    extension: String,
    dir: PathBuf,
}

impl Drop for Linphone {
    fn drop(&mut self) {
        // Only the child this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Phone for Linphone {
    fn describe(&self) -> String {
        let out = std::fs::read_to_string(self.dir.join("linphonec.out")).unwrap_or_default();
        let log = std::fs::read_to_string(self.dir.join("linphone.log")).unwrap_or_default();
        format!(
            "--- linphonec {} output ---\n{}\n--- its log ---\n{}",
            self.extension,
            tail(&out, 2000),
            tail(&log, 6000)
        )
    }
}

impl Linphone {
    /// Starts linphonec for `extension` registering at `d` and answering
    /// digest challenges with `algorithm`; `-a` if `auto_answer`. Its
    /// microphone is a 440 Hz WAV file.
    fn start(
        d: &Dialtone,
        extension: &str,
        password: &str,
        algorithm: &str,
        auto_answer: bool,
    ) -> Linphone {
        Linphone::start_with(d, extension, password, algorithm, auto_answer, None)
    }

    /// [`Linphone::start`] with only the audio codec `only` (its SDP name,
    /// e.g. `G722`) enabled, if given.
    fn start_with(
        d: &Dialtone,
        extension: &str,
        password: &str,
        algorithm: &str,
        auto_answer: bool,
        only: Option<&str>,
    ) -> Linphone {
        let dir = d.dir.join(format!("linphone-{extension}"));
        // liblinphone keeps its databases here; without the directory it
        // never opens its SIP port.
        std::fs::create_dir_all(dir.join(".local/share/linphone")).unwrap();
        let vars = [
            ("sip_port", free_port().to_string()),
            ("extension", extension.to_owned()),
            ("server", d.sip.to_string()),
            ("password", password.to_owned()),
            ("algorithm", algorithm.to_owned()),
        ];
        let rc = dir.join("linphonerc");
        let mut config = phone_template("linphonerc", &vars);
        if let Some(only) = only {
            // liblinphone's codec table: the one wanted enabled, the
            // others it would offer disabled.
            let codecs = [
                ("G722", 8000),
                ("PCMU", 8000),
                ("PCMA", 8000),
                ("opus", 48000),
                ("speex", 16000),
                ("speex", 8000),
                ("speex", 32000),
                ("GSM", 8000),
                ("iLBC", 8000),
                ("L16", 44100),
            ];
            for (i, (mime, rate)) in codecs.iter().enumerate() {
                let enabled = u8::from(mime.eq_ignore_ascii_case(only));
                config += &format!(
                    "\n[audio_codec_{i}]\nmime={mime}\nrate={rate}\nchannels=1\nenabled={enabled}\n"
                );
            }
        }
        std::fs::write(&rc, config).unwrap();
        let tone = dir.join("tone.wav");
        write_tone_wav(&tone, 440.0, 30);
        let out = std::fs::File::create(dir.join("linphonec.out")).unwrap();
        let mut cmd = Command::new("linphonec");
        cmd.arg("-c")
            .arg(&rc)
            .args(["-d", "5", "-l"])
            .arg(dir.join("linphone.log"));
        if auto_answer {
            cmd.arg("-a");
        }
        let mut child = cmd
            .env("HOME", &dir)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn linphonec");
        let stdin = child.stdin.take().unwrap();
        let mut phone = Linphone {
            child,
            stdin,
            extension: extension.to_owned(),
            dir,
        };
        phone.send("soundcard use files");
        phone.send(&format!("play {}", tone.display()));
        phone
    }

    /// Waits until linphone's log (which holds the SIP messages) has
    /// `needle`.
    fn wait_logged(&self, needle: &str, d: &Dialtone) {
        let deadline = Instant::now() + WAIT;
        while !std::fs::read_to_string(self.dir.join("linphone.log"))
            .unwrap_or_default()
            .contains(needle)
        {
            assert!(
                Instant::now() < deadline,
                "linphone {} did not log {needle:?}\n{}",
                self.extension,
                diag(d, &[self])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One command line on linphonec's stdin.
    fn send(&mut self, line: &str) {
        if let Err(e) = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()) {
            panic!("linphonec {line}: {e}\n{}", self.describe());
        }
    }
}

// ---- what the tests check ------------------------------------------------

/// The call's two records (incoming from the caller, outgoing to the
/// callee) once `done` holds for both.
fn wait_call(
    d: &Dialtone,
    phones: &[&dyn Phone],
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let calls = d.all_calls();
        let master = calls.iter().find(|c| c["direction"] == "incoming");
        let chained = calls.iter().find(|c| c["direction"] == "outgoing");
        if let (Some(m), Some(o)) = (master, chained) {
            if done(m) && done(o) {
                assert_eq!(calls.len(), 2, "one call is two records: {calls:#?}");
                return (m.clone(), o.clone());
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT:?}: {calls:#?}\n{}",
            diag(d, phones)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_chained(m: &Value, o: &Value) {
    assert_eq!(o["master_call_id"], m["id"], "{o}");
    assert_eq!(m["chained_call_ids"], serde_json::json!([o["id"]]), "{m}");
    assert_eq!(m["source"]["target"], "100", "{m}");
    assert_eq!(m["destination"]["target"], "200", "{m}");
}

/// RTP counters of one leg, from `/v1/calls/{id}/stats`.
#[derive(Debug, Clone, Copy)]
struct LegMedia {
    received: u64,
    sent: u64,
    discarded: u64,
}

fn leg_media(d: &Dialtone, call: &Value) -> Result<LegMedia, String> {
    let id = call["id"].as_str().unwrap();
    let (status, s) = d.get(&format!("/v1/calls/{id}/stats"));
    if status != 200 || s["live"] != true {
        return Err(format!("{status}: {s}"));
    }
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    Ok(LegMedia {
        received: count(&s["inbound-rtp"]["packetsReceived"]),
        sent: count(&s["outbound-rtp"]["packetsSent"]),
        discarded: count(&s["inbound-rtp"]["packetsDiscarded"]),
    })
}

/// Lets audio flow for [`MEDIA`], then waits until both legs have
/// received and sent RTP: caller → Dialtone → callee and back.
fn wait_media_both_ways(
    d: &Dialtone,
    m: &Value,
    o: &Value,
    phones: &[&dyn Phone],
) -> (LegMedia, LegMedia) {
    std::thread::sleep(MEDIA);
    let deadline = Instant::now() + WAIT;
    loop {
        let legs = leg_media(d, m).and_then(|a| Ok((a, leg_media(d, o)?)));
        if let Ok((a, b)) = legs {
            if a.received > 0 && a.sent > 0 && b.received > 0 && b.sent > 0 {
                return (a, b);
            }
        }
        assert!(
            Instant::now() < deadline,
            "RTP not flowing both ways within {WAIT:?}: caller's leg {:?}, callee's leg {:?}\n{}",
            leg_media(d, m),
            leg_media(d, o),
            diag(d, phones)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The leg's stats once they hold a round-trip time from the phone's
/// RTCP (within [`RTCP_WAIT`]).
fn wait_round_trip(d: &Dialtone, call: &Value, phones: &[&dyn Phone]) -> Value {
    let id = call["id"].as_str().unwrap();
    let deadline = Instant::now() + RTCP_WAIT;
    loop {
        let (status, s) = d.get(&format!("/v1/calls/{id}/stats"));
        if status == 200 && s["remote-inbound-rtp"]["roundTripTime"].is_f64() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "no roundTripTime from the phone's RTCP within {RTCP_WAIT:?}: {status} {s:#}\n{}",
            diag(d, phones)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn print_media(what: &str, (caller, callee): (LegMedia, LegMedia)) {
    println!(
        "{what}: caller's leg received {} sent {} discarded {}; \
         callee's leg received {} sent {} discarded {} (RTP packets)",
        caller.received,
        caller.sent,
        caller.discarded,
        callee.received,
        callee.sent,
        callee.discarded
    );
}

fn ended(c: &Value) -> (String, String, i64) {
    (
        c["hangup_by"].as_str().unwrap_or("").to_owned(),
        c["hangup_reason"].as_str().unwrap_or("").to_owned(),
        c["sip_code"].as_i64().unwrap_or(0),
    )
}
