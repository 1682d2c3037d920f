//! Numbering and publishing events: every event of a call gets the next
//! number of that call's `sequence` and goes on the broadcast that
//! `/v1/events` reads and, when a webhook URL applies to the call, to the
//! webhook outbox ([`Webhooks`]), in that order.
//!
//! The event pump (switch and relay events) and the recording service both
//! emit; numbering and sending happen under one lock so the broadcast order
//! is the sequence order. A call's counter lives from its first event until
//! [`Emitter::LINGER`] after its hangup, so what ends with the call
//! (recordings finishing after the BYE) is still numbered in its sequence.
//! The envelope (and its `data`) is built only when someone takes it: a
//! `/v1/events` client or a webhook URL.

use crate::webhooks::Webhooks;
use chrono::Utc;
use model::{Envelope, EventType};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Numbers and publishes events (cheap to clone).
#[derive(Debug, Clone)]
pub struct Emitter {
    inner: Arc<Mutex<Sequences>>,
    tx: broadcast::Sender<Arc<Envelope>>,
    webhooks: Option<Webhooks>,
}

#[derive(Debug, Default)]
struct Sequences {
    next: HashMap<Uuid, u64>,
    /// Hung-up calls and when their counters go.
    ended: VecDeque<(Instant, Uuid)>,
}

impl Emitter {
    /// How long a call's numbering outlives its hangup.
    pub const LINGER: Duration = Duration::from_secs(60);

    pub fn new(tx: broadcast::Sender<Arc<Envelope>>) -> Emitter {
        Emitter {
            inner: Arc::default(),
            tx,
            webhooks: None,
        }
    }

    /// Also hands every event whose call has a webhook URL (its own, its
    /// master's or the global one) to `webhooks`' outbox, and forgets a
    /// call's URL when its numbering ends.
    pub fn with_webhooks(mut self, webhooks: Webhooks) -> Emitter {
        self.webhooks = Some(webhooks);
        self
    }

    /// The broadcast the events go to.
    pub fn sender(&self) -> &broadcast::Sender<Arc<Envelope>> {
        &self.tx
    }

    /// Emits an event of `call`: `data` is built only if someone listens
    /// or a webhook URL applies.
    /// `start`: the call's first event (its counter is created); otherwise
    /// an event of a call whose counter is gone (unknown, or hung up more
    /// than [`LINGER`](Self::LINGER) ago) is dropped. Returns whether it
    /// was numbered.
    pub fn emit(
        &self,
        call: Uuid,
        kind: EventType,
        start: bool,
        data: impl FnOnce() -> serde_json::Value,
    ) -> bool {
        let now = Instant::now();
        let mut seqs = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(&(at, id)) = seqs.ended.front() {
            if at > now {
                break;
            }
            seqs.ended.pop_front();
            seqs.next.remove(&id);
            if let Some(w) = &self.webhooks {
                w.forget(id);
            }
        }
        let seq = match seqs.next.get_mut(&call) {
            Some(seq) => seq,
            None if start || kind == EventType::CallCreated => seqs.next.entry(call).or_insert(0),
            None => return false,
        };
        *seq += 1;
        let sequence = *seq;
        if kind == EventType::CallHangup {
            seqs.ended.push_back((now + Self::LINGER, call));
        }
        let url = self.webhooks.as_ref().and_then(|w| w.resolve(Some(call)));
        let listened = self.tx.receiver_count() > 0;
        if listened || url.is_some() {
            let env = Arc::new(Envelope {
                kind,
                event_id: Uuid::new_v4(),
                sequence,
                tm_event: Utc::now(),
                data: data(),
            });
            if let (Some(url), Some(w)) = (url, &self.webhooks) {
                w.submit(Some(call), url, env.clone());
            }
            if listened {
                let _ = self.tx.send(env);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_numbered_per_call_in_broadcast_order_and_outlive_the_hangup() {
        let (tx, mut rx) = broadcast::channel(16);
        let e = Emitter::new(tx);
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(!e.emit(a, EventType::DtmfReceived, false, || "early".into()));
        assert!(e.emit(a, EventType::CallCreated, false, || "a1".into()));
        assert!(e.emit(b, EventType::CallCreated, false, || "b1".into()));
        assert!(e.emit(a, EventType::CallHangup, false, || "a2".into()));
        // After the hangup, within the linger: still numbered.
        assert!(e.emit(a, EventType::RecordingFinished, false, || "a3".into()));
        let got: Vec<(String, u64)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|env| (env.data.as_str().unwrap().to_owned(), env.sequence))
            .collect();
        assert_eq!(
            got,
            [
                ("a1".into(), 1),
                ("b1".into(), 1),
                ("a2".into(), 2),
                ("a3".into(), 3)
            ]
        );
    }

    #[test]
    fn events_of_calls_with_a_webhook_url_reach_the_outbox_without_listeners() {
        let (tx, _) = broadcast::channel(16);
        let (webhooks, mut outbox) = Webhooks::new(None);
        let e = Emitter::new(tx).with_webhooks(webhooks.clone());
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        webhooks.set_call_uri(a, "http://127.0.0.1:9/a").unwrap();
        webhooks.link(b, a);
        let c = Uuid::from_u128(3);
        let mut built = 0;
        for call in [a, b, c] {
            assert!(e.emit(call, EventType::CallCreated, true, || {
                built += 1;
                serde_json::Value::from(call.to_string())
            }));
        }
        assert_eq!(
            built, 2,
            "no listener, no URL for c: its data is never built"
        );
        assert!(e.emit(a, EventType::CallHangup, false, || "a2".into()));
        let got: Vec<_> = std::iter::from_fn(|| outbox.try_next())
            .map(|(call, url, env)| (call.unwrap(), url, env.kind, env.sequence))
            .collect();
        let url = "http://127.0.0.1:9/a".to_owned();
        assert_eq!(
            got,
            [
                (a, url.clone(), EventType::CallCreated, 1),
                (b, url.clone(), EventType::CallCreated, 1),
                (a, url, EventType::CallHangup, 2),
            ]
        );
    }
}
