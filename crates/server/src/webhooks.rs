//! Webhooks: every event an [`Emitter`](crate::emit::Emitter) numbers goes,
//! as the contract's envelope, to the URL that applies to its call, signed
//! `X-Dialtone-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
//!
//! ```text
//!  Emitter ──(call, url, envelope)──▶ outbox writer ──batches──▶ store (webhook_deliveries)
//!     ▲ resolve(call): the call's URL,                               │ due lane heads
//!     │ its master's, else the global one                            ▼
//!  Webhooks (set_call_uri, link, forget)        delivery worker ──POST──▶ receivers
//! ```
//!
//! - **Which URL.** [`Webhooks::resolve`]: a call's own URL
//!   ([`Webhooks::set_call_uri`]), else that of the call it is chained to
//!   ([`Webhooks::link`]; the pump links every chained call to its master),
//!   else the global `webhook_uri`, else none: the event is not delivered
//!   (and its envelope not even built unless `/v1/events` has a listener).
//!   An event of no call goes to the global URL. The URL is fixed when the
//!   event is emitted.
//! - **Outbox.** The writer stores each event bound for a URL (one
//!   transaction per batch of whatever is waiting) before anything is sent,
//!   so a restart resumes what was pending; a crash loses at most the
//!   events of the last few milliseconds not yet written.
//! - **Order.** The events of one call to one URL are sent one at a time
//!   in `sequence` order: the next only after the previous was delivered or
//!   given up on. Different calls go in parallel, at most
//!   [`MAX_IN_FLIGHT`] requests at once.
//! - **Attempts.** `POST` of the stored body (never changed) with
//!   `Content-Type: application/json`, `X-Dialtone-Signature` (signed at
//!   the time of each attempt), `X-Dialtone-Event-Id`, `User-Agent:
//!   Dialtone`; [`ATTEMPT_TIMEOUT`]; redirects are not followed. A 2xx is
//!   delivered; anything else, a timeout or a connection failure is retried
//!   after 1 s, 2 s, 4 s... at most 60 s (each up to 20 % earlier, so
//!   receivers coming back are not hit by every lane at once) until
//!   [`GIVE_UP_AFTER`] after the event, then `failed`. Delivery is at least
//!   once: a receiver dedupes by `event_id` (an attempt cut off by a stop
//!   is made again at the next start).

mod deliver;

pub use deliver::{
    retry_delay, signature_header, ATTEMPT_TIMEOUT, GIVE_UP_AFTER, MAX_IN_FLIGHT, MAX_RETRY_DELAY,
};

use model::Envelope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch, Notify};
use uuid::Uuid;

/// Where events go (cheap to clone): the global URL, per-call URLs, and
/// the outbox the emitter hands events to.
#[derive(Debug, Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    global: Option<Arc<str>>,
    routes: Mutex<HashMap<Uuid, Route>>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    /// Tells the delivery worker the outbox changed.
    wake: Notify,
}

/// A call's own URL and the call it is chained to, each if known.
#[derive(Debug, Clone, Default)]
struct Route {
    uri: Option<Arc<str>>,
    master: Option<Uuid>,
}

/// An event on its way to the outbox writer.
#[derive(Debug)]
pub(crate) struct Outgoing {
    call: Option<Uuid>,
    url: Arc<str>,
    env: Arc<Envelope>,
}

/// The events [`Webhooks`] hands on, for [`WebhookService::start`].
#[derive(Debug)]
pub struct Outbox(mpsc::UnboundedReceiver<Outgoing>);

#[cfg(test)]
impl Outbox {
    /// The next queued event: its call, URL and envelope.
    pub(crate) fn try_next(&mut self) -> Option<(Option<Uuid>, String, Arc<Envelope>)> {
        let o = self.0.try_recv().ok()?;
        Some((o.call, o.url.to_string(), o.env))
    }
}

/// How many chained hops [`Webhooks::resolve`] follows (a chained call's
/// master is never itself chained today; this only bounds a cycle).
const MAX_HOPS: usize = 4;

impl Webhooks {
    /// A handle with the global `webhook_uri` (already validated) and the
    /// outbox its events go to.
    pub fn new(global: Option<String>) -> (Webhooks, Outbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        let w = Webhooks {
            inner: Arc::new(Inner {
                global: global.map(Arc::from),
                routes: Mutex::default(),
                outbox: tx,
                wake: Notify::new(),
            }),
        };
        (w, Outbox(rx))
    }

    /// The global `webhook_uri`, if configured.
    pub fn global_uri(&self) -> Option<&str> {
        self.inner.global.as_deref()
    }

    /// Sends `call`'s events (and those of calls [`link`](Self::link)ed to
    /// it) to `uri` instead of the global URL, from its next event on.
    /// `uri` is checked as the config's `webhook_uri` is (the error says
    /// why, for a 400). Forgotten with the call's numbering, a minute after
    /// its hangup ([`forget`](Self::forget)).
    pub fn set_call_uri(&self, call: Uuid, uri: &str) -> Result<(), String> {
        crate::config::validate_webhook_uri(uri)?;
        self.routes().entry(call).or_default().uri = Some(Arc::from(uri));
        Ok(())
    }

    /// `child` is chained to `master`: without a URL of its own, its events
    /// go where `master`'s go.
    pub fn link(&self, child: Uuid, master: Uuid) {
        if child != master {
            self.routes().entry(child).or_default().master = Some(master);
        }
    }

    /// Drops what is known of `call` (its URL, its link). The emitter
    /// calls it when the call's numbering ends; an API that set a URL for a
    /// call that then never started calls it too.
    pub fn forget(&self, call: Uuid) {
        self.routes().remove(&call);
    }

    /// The URL an event of `call` goes to now: the call's own, else its
    /// master's (following links), else the global one; an event of no
    /// call: the global one.
    pub fn resolve(&self, call: Option<Uuid>) -> Option<Arc<str>> {
        if let Some(mut id) = call {
            let routes = self.routes();
            for _ in 0..MAX_HOPS {
                let Some(route) = routes.get(&id) else { break };
                if let Some(uri) = &route.uri {
                    return Some(uri.clone());
                }
                match route.master {
                    Some(master) => id = master,
                    None => break,
                }
            }
        }
        self.inner.global.clone()
    }

    /// Queues any envelope (an event of `call`, or of no call) for the URL
    /// that applies now; `false` if none does. Events numbered by the
    /// [`Emitter`](crate::emit::Emitter) already come this way.
    pub fn deliver(&self, call: Option<Uuid>, env: Arc<Envelope>) -> bool {
        match self.resolve(call) {
            Some(url) => {
                self.submit(call, url, env);
                true
            }
            None => false,
        }
    }

    /// Queues `env` (an event of `call`) for `url`.
    pub(crate) fn submit(&self, call: Option<Uuid>, url: Arc<str>, env: Arc<Envelope>) {
        // Fails only after the service stopped: then nothing is delivered.
        let _ = self.inner.outbox.send(Outgoing { call, url, env });
    }

    /// Has the delivery worker look at the outbox now (after a
    /// redelivery, or new rows).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Route>> {
        self.inner
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The outbox writer and the delivery worker, running.
#[derive(Debug)]
pub struct WebhookService {
    stop: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl WebhookService {
    /// Starts writing `outbox` to `store` and delivering what it holds
    /// (pending rows of an earlier run first), signed with `secret`.
    pub fn start(
        store: Arc<dyn store::Store>,
        outbox: Outbox,
        webhooks: &Webhooks,
        secret: &str,
    ) -> Result<WebhookService, String> {
        let client = deliver::client()?;
        let (stop, stopped) = watch::channel(false);
        let writer = tokio::spawn(deliver::writer(
            store.clone(),
            outbox.0,
            webhooks.clone(),
            stopped.clone(),
        ));
        let worker = tokio::spawn(deliver::worker(
            store,
            client,
            Arc::from(secret.as_bytes()),
            webhooks.clone(),
            stopped,
        ));
        Ok(WebhookService {
            stop,
            writer,
            worker,
        })
    }

    /// Writes the events still queued to the outbox, then stops the worker
    /// (attempts under way get 2 s to finish; the rest
    /// are made again at the next start).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.writer.await;
        let _ = self.worker.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_uses_its_own_url_else_its_masters_else_the_global_one() {
        let (w, _outbox) = Webhooks::new(Some("http://global.example/in".into()));
        let (master, child, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let url = |c| w.resolve(c).map(|u| u.to_string());
        assert_eq!(
            url(Some(master)).as_deref(),
            Some("http://global.example/in")
        );
        assert_eq!(url(None).as_deref(), Some("http://global.example/in"));
        w.link(child, master);
        w.set_call_uri(master, "https://app.example/calls/1")
            .unwrap();
        assert_eq!(
            url(Some(master)).as_deref(),
            Some("https://app.example/calls/1")
        );
        assert_eq!(
            url(Some(child)).as_deref(),
            Some("https://app.example/calls/1")
        );
        assert_eq!(
            url(Some(other)).as_deref(),
            Some("http://global.example/in")
        );
        assert_eq!(url(None).as_deref(), Some("http://global.example/in"));
        // The child's own URL wins over its master's.
        w.set_call_uri(child, "https://app.example/legs/2").unwrap();
        assert_eq!(
            url(Some(child)).as_deref(),
            Some("https://app.example/legs/2")
        );
        w.forget(child);
        assert_eq!(
            url(Some(child)).as_deref(),
            Some("http://global.example/in")
        );
        w.forget(master);
        assert_eq!(
            url(Some(master)).as_deref(),
            Some("http://global.example/in")
        );
        // A cycle ends at the global URL.
        w.link(master, child);
        w.link(child, master);
        assert_eq!(
            url(Some(child)).as_deref(),
            Some("http://global.example/in")
        );
        let err = w.set_call_uri(other, "ftp://x.example/").unwrap_err();
        assert!(err.contains("http:// or https://"), "{err}");
    }

    #[test]
    fn without_a_global_url_only_calls_with_one_are_delivered() {
        let (w, _outbox) = Webhooks::new(None);
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        w.set_call_uri(a, "http://127.0.0.1:9000/a").unwrap();
        w.link(b, a);
        assert_eq!(
            w.resolve(Some(b)).as_deref(),
            Some("http://127.0.0.1:9000/a")
        );
        assert_eq!(w.resolve(Some(c)), None);
        assert_eq!(w.resolve(None), None);
        assert_eq!(w.global_uri(), None);
    }

    #[test]
    fn an_event_of_no_call_goes_to_the_global_url() {
        let env = |kind| {
            Arc::new(Envelope {
                kind,
                event_id: Uuid::from_u128(9),
                sequence: 1,
                tm_event: chrono::Utc::now(),
                data: serde_json::json!({}),
            })
        };
        let (w, mut outbox) = Webhooks::new(None);
        assert!(!w.deliver(None, env(model::EventType::CallUpdated)));
        assert!(outbox.try_next().is_none());
        let (w, mut outbox) = Webhooks::new(Some("https://global.example/in".into()));
        assert!(w.deliver(None, env(model::EventType::CallUpdated)));
        let (call, url, got) = outbox.try_next().unwrap();
        assert_eq!((call, url.as_str()), (None, "https://global.example/in"));
        assert_eq!(got.event_id, Uuid::from_u128(9));
    }
}
