//! Answering-machine detection for the flow runtime: [`crate::actions::amd`]
//! registers a waiter here and starts the relay's detector
//! ([`net::rtp::Relay::start_amd`]); the event pump turns the relay's
//! verdict into an `amd_result` event ([`event_data`]) and hands it to the
//! waiters ([`Amds::resolve`]), or drops them when the call hangs up
//! first ([`Amds::cancel_call`]).

use media::amd::AmdVerdict;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Who waits for the verdict of which call.
#[derive(Debug, Clone, Default)]
pub struct Amds {
    inner: Arc<Mutex<HashMap<Uuid, Vec<oneshot::Sender<AmdVerdict>>>>>,
}

impl Amds {
    /// A receiver of `call`'s next verdict (closed if the call ends first).
    pub fn wait(&self, call: Uuid) -> oneshot::Receiver<AmdVerdict> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(call).or_default().push(tx);
        rx
    }

    /// `call`'s verdict arrived: every waiter gets it.
    pub fn resolve(&self, call: Uuid, verdict: AmdVerdict) {
        for w in self.lock().remove(&call).unwrap_or_default() {
            let _ = w.send(verdict);
        }
    }

    /// `call` ended: its waiters are told there will be no verdict.
    pub fn cancel_call(&self, call: Uuid) {
        self.lock().remove(&call);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Vec<oneshot::Sender<AmdVerdict>>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `data` of an `amd_result` event.
pub fn event_data(call: Uuid, v: &AmdVerdict) -> serde_json::Value {
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    serde_json::json!({
        "call_id": call,
        "result": v.result.as_str(),
        "reason": v.reason.as_str(),
        "analysis_ms": ms(v.analysis),
        "initial_silence_ms": ms(v.initial_silence),
        "greeting_ms": ms(v.greeting),
        "words": v.words,
        "silence_ms": ms(v.silence),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::{EspeakNg, Gender, Tts};
    use media::amd::{AmdConfig, AmdDetector, AmdResult};
    use std::time::Duration;

    /// Feeds `speech` (at 8 kHz) then `silence_ms` of quiet line noise to a
    /// detector in 20 ms frames on a fake clock, as the relay would; the
    /// verdict.
    fn detect(speech: &[i16], silence_ms: usize) -> AmdVerdict {
        let mut clock = testkit::FakeClock::new();
        let mut amd = AmdDetector::new(AmdConfig::default(), clock.now());
        let mut seed = 1u32;
        let mut audio: Vec<i16> = vec![0; 8 * 300];
        audio.extend_from_slice(speech);
        audio.resize(audio.len() + 8 * silence_ms, 0);
        for frame in audio.chunks(160) {
            let noisy: Vec<i16> = frame
                .iter()
                .map(|&s| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    s.saturating_add((seed >> 16) as i16 / 600)
                })
                .collect();
            clock.advance(Duration::from_millis(20));
            amd.handle_frame(clock.now(), &noisy, 8000);
            if amd.poll_timeout().is_some_and(|t| t <= clock.now()) {
                amd.handle_timeout(clock.now());
            }
            if let Some(v) = amd.poll_verdict() {
                return v;
            }
        }
        panic!("no verdict");
    }

    async fn say(espeak: &EspeakNg, text: &str) -> Vec<i16> {
        let voice = espeak.voice("en-US", Gender::Neutral).await.unwrap();
        let frame = espeak.render(text, &voice).await.unwrap();
        crate::playback::at_rate(frame, 8000).samples
    }

    /// Real speech: espeak-ng's "Hello?" then silence is a person; a
    /// voicemail greeting is a machine.
    #[tokio::test]
    async fn spoken_hello_is_human_and_a_voicemail_greeting_a_machine() {
        let espeak = EspeakNg::new("espeak-ng");
        if espeak.probe().await.is_err() {
            println!("SKIPPED: espeak-ng is not installed");
            return;
        }
        let hello = say(&espeak, "Hello?").await;
        let v = detect(&hello, 3000);
        println!("hello ({} ms): {v:?}", hello.len() / 8);
        assert_eq!(v.result, AmdResult::Human, "{v:?}");

        let greeting = say(
            &espeak,
            "Hi, you have reached the voicemail of John Smith. I cannot take your call \
             right now. Please leave a message after the tone, and I will call you back.",
        )
        .await;
        let v = detect(&greeting, 3000);
        println!("greeting ({} ms): {v:?}", greeting.len() / 8);
        assert_eq!(v.result, AmdResult::Machine, "{v:?}");
        assert!(v.analysis < Duration::from_secs(3), "{v:?}");
    }

    #[tokio::test]
    async fn waiters_get_the_verdict_or_learn_the_call_ended() {
        let amds = Amds::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (w1, w2, w3) = (amds.wait(a), amds.wait(a), amds.wait(b));
        let mut clock = testkit::FakeClock::new();
        let mut det = AmdDetector::new(AmdConfig::default(), clock.now());
        clock.advance(Duration::from_millis(2500));
        det.handle_timeout(clock.now());
        let v = det.poll_verdict().unwrap();
        amds.resolve(a, v);
        amds.cancel_call(b);
        assert_eq!(w1.await.unwrap(), v);
        assert_eq!(w2.await.unwrap(), v);
        assert!(w3.await.is_err());
        let data = event_data(a, &v);
        assert_eq!(data["result"], "notsure");
        assert_eq!(data["reason"], "initial_silence");
        assert_eq!(data["analysis_ms"], 2500);
    }
}
