//! The API's handle on the running switch: the sans-IO [`engine::Engine`]
//! inside the `net` driver task. Every call goes through
//! `Handle::with_now`, so the engine is never shared or locked.

use crate::api::ApiError;
use engine::Engine;
use model::{Call, ExtensionSecret, Registration};
use net::{Handle, Received, SansIo, Transmit};
use std::time::Instant;
use uuid::Uuid;

/// `engine::Engine` as the `net` driver's [`SansIo`] core, plus the RTP
/// ports the engine released during a step (see [`Released`]).
#[derive(Debug)]
pub struct EngineIo(pub Engine, pub Released);

/// Ports the engine gave back through its `PortAllocator`. They are handed
/// to the event pump *after* the events of the same engine step, so the
/// relay sees a leg's `OpenLeg`/`CloseLeg` before its port returns to the
/// pool and cannot be given to another call while still in use.
pub type Released = std::sync::Arc<std::sync::Mutex<Vec<u16>>>;

/// What the driver hands the event pump.
#[derive(Debug)]
// The engine events dominate the channel; boxing them would cost an
// allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
pub enum SwitchEvent {
    Engine(engine::Event),
    ReleasePort(u16),
}

impl SansIo for EngineIo {
    type Event = SwitchEvent;

    fn handle_receive(&mut self, now: Instant, rx: Received) {
        let Received {
            transport,
            local,
            remote,
            bytes,
        } = rx;
        self.0.handle_receive(
            now,
            sip_core::Received {
                transport,
                local,
                remote,
                bytes,
            },
        );
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn set_overloaded(&mut self, overloaded: bool) {
        self.0.set_overloaded(overloaded);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit().map(|t| Transmit {
            transport: t.transport,
            remote: t.remote,
            bytes: t.bytes,
        })
    }

    fn poll_event(&mut self) -> Option<SwitchEvent> {
        if let Some(e) = self.0.poll_event() {
            return Some(SwitchEvent::Engine(e));
        }
        let mut released = self.1.lock().unwrap_or_else(|p| p.into_inner());
        if released.is_empty() {
            return None;
        }
        Some(SwitchEvent::ReleasePort(released.remove(0)))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics {
    pub active_calls: usize,
    pub registrations: usize,
    pub calls_created: u64,
    /// New calls refused with 503 while the switch was overloaded.
    pub calls_shed: u64,
}

/// Cheap to clone; every method is one trip into the driver task.
#[derive(Debug, Clone)]
pub struct SwitchHandle {
    handle: Handle<EngineIo>,
    calls_created: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The last registration state of each registering trunk.
    trunk_regs: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<Uuid, model::TrunkRegistrationState>>,
    >,
}

fn stopped() -> ApiError {
    ApiError::unavailable("the switch is shutting down")
}

impl SwitchHandle {
    pub fn new(handle: Handle<EngineIo>) -> SwitchHandle {
        SwitchHandle {
            handle,
            calls_created: Default::default(),
            trunk_regs: Default::default(),
        }
    }

    /// Records a trunk registration's new state (the event pump calls this).
    pub fn note_trunk_registration(&self, r: &engine::TrunkRegistration) {
        let state = model::TrunkRegistrationState {
            status: if r.registered { "registered" } else { "failed" }.to_owned(),
            sip_code: r.sip_code,
            expires: r.expires,
            tm_update: chrono::Utc::now(),
        };
        self.trunk_regs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.trunk, state);
    }

    /// A trunk's registration state, if it registers and its gateway answered.
    pub fn trunk_registration(&self, trunk: Uuid) -> Option<model::TrunkRegistrationState> {
        self.trunk_regs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&trunk)
            .cloned()
    }

    /// Counts a `call_created` event (the event pump calls this).
    pub fn count_created(&self) {
        self.calls_created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn net(&self) -> &Handle<EngineIo> {
        &self.handle
    }

    /// Hangs up a live call; `Err(not_found)` when the switch does not know
    /// it (finished or never existed: the caller tells which).
    pub async fn hangup(&self, id: Uuid) -> Result<Call, ApiError> {
        self.handle
            .with_now(move |EngineIo(e, _), now| {
                e.hangup(now, id)
                    .map_err(|err| ApiError::not_found(format!("call {id}: {err}")))?;
                e.call(id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(format!("call {id} does not exist")))
            })
            .await
            .map_err(|_| stopped())?
    }

    /// Mutes (`Some`) or unmutes (`None`) a live, answered call; the call
    /// as it is now. `conflict` when it is not answered or already ended,
    /// `not_found` when the switch does not hold it.
    pub async fn set_mute(
        &self,
        id: Uuid,
        direction: Option<model::MuteDirection>,
    ) -> Result<Call, ApiError> {
        self.control(id, move |e, now| e.set_mute(now, id, direction))
            .await
    }

    /// Puts a live, answered call on hold (`true`) or resumes it; errors
    /// as [`SwitchHandle::set_mute`].
    pub async fn set_hold(&self, id: Uuid, on: bool) -> Result<Call, ApiError> {
        self.control(id, move |e, now| e.set_hold(now, id, on))
            .await
    }

    /// Sends DTMF digits to the call's party as SIP INFO; errors as
    /// [`SwitchHandle::set_mute`].
    pub async fn send_info_dtmf(
        &self,
        id: Uuid,
        digits: Vec<media::dtmf::Digit>,
        duration_ms: u32,
    ) -> Result<Call, ApiError> {
        self.control(id, move |e, now| {
            e.send_info_dtmf(now, id, &digits, duration_ms)
        })
        .await
    }

    /// Runs a media control on the engine and returns the call after it.
    pub(crate) async fn control(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut engine::Engine, std::time::Instant) -> Result<(), engine::EngineError>
            + Send
            + 'static,
    ) -> Result<Call, ApiError> {
        self.handle
            .with_now(move |EngineIo(e, _), now| {
                f(e, now).map_err(|err| match err {
                    engine::EngineError::UnknownCall => {
                        ApiError::not_found(format!("call {id} is not live (finished or unknown)"))
                    }
                    other => ApiError::conflict(format!("call {id}: {other}")),
                })?;
                e.call(id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(format!("call {id} does not exist")))
            })
            .await
            .map_err(|_| stopped())?
    }

    /// The live state of a call the switch still holds.
    pub async fn call(&self, id: Uuid) -> Option<Call> {
        self.handle
            .with(move |EngineIo(e, _)| e.call(id).cloned())
            .await
            .ok()
            .flatten()
    }

    pub async fn registrations(&self) -> Vec<Registration> {
        self.handle
            .with_now(|EngineIo(e, _), now| e.registrations(now))
            .await
            .unwrap_or_default()
    }

    pub async fn extension_changed(&self, ext: ExtensionSecret) {
        let _ = self
            .handle
            .with(move |EngineIo(e, _)| e.upsert_extension(ext))
            .await;
    }

    pub async fn extension_removed(&self, number: String) {
        let _ = self
            .handle
            .with(move |EngineIo(e, _)| e.remove_extension(&number))
            .await;
    }

    /// Calls to `number` run `flow` (`None`: no longer).
    pub async fn set_number(&self, number: String, flow: Option<Uuid>) {
        let _ = self
            .handle
            .with(move |EngineIo(e, _)| e.set_number(&number, flow))
            .await;
    }

    pub async fn set_trunks(&self, trunks: Vec<engine::TrunkRoute>) {
        let _ = self
            .handle
            .with(move |EngineIo(e, _)| e.set_trunks(trunks))
            .await;
    }

    /// Places calls; the calls created now, as they are right after.
    /// `created` sees their ids before any of their events is out.
    pub async fn dial(
        &self,
        dial: engine::Dial,
        created: impl FnOnce(&[Uuid]) + Send + 'static,
    ) -> Result<Vec<Call>, ApiError> {
        self.handle
            .with_now(move |EngineIo(e, _), now| {
                let ids = e.dial(now, dial).map_err(|err| match err {
                    engine::EngineError::Invalid(m) => ApiError::invalid(m),
                    engine::EngineError::UnknownCall => {
                        ApiError::not_found("the call to connect is not live".to_string())
                    }
                    other => ApiError::conflict(other.to_string()),
                })?;
                created(&ids);
                Ok(ids.iter().filter_map(|id| e.call(*id).cloned()).collect())
            })
            .await
            .map_err(|_| stopped())?
    }

    /// See `engine::Engine::dial_of`.
    pub async fn dial_of(&self, call: Uuid) -> Option<Uuid> {
        self.handle
            .with(move |EngineIo(e, _)| e.dial_of(call))
            .await
            .ok()
            .flatten()
    }

    /// See `engine::Engine::dial_active`.
    pub async fn dial_active(&self, dial: Uuid) -> bool {
        self.handle
            .with(move |EngineIo(e, _)| e.dial_active(dial))
            .await
            .unwrap_or(false)
    }

    /// Hangs a call up for a flow with `reason`.
    pub async fn hangup_with(
        &self,
        id: Uuid,
        reason: model::HangupReason,
    ) -> Result<Call, ApiError> {
        self.control(id, move |e, now| e.hangup_with(now, id, reason))
            .await
    }

    /// See `engine::Engine::joined_state`.
    pub async fn joined_state(&self, id: Uuid, from: usize) -> (bool, bool) {
        self.handle
            .with(move |EngineIo(e, _)| e.joined_state(id, from))
            .await
            .unwrap_or((false, false))
    }

    /// Answers an inbound call running a flow.
    pub async fn answer(&self, id: Uuid) -> Result<Call, ApiError> {
        self.control(id, move |e, now| e.answer(now, id)).await
    }

    pub async fn metrics(&self) -> Metrics {
        let created = self
            .calls_created
            .load(std::sync::atomic::Ordering::Relaxed);
        self.handle
            .with_now(move |EngineIo(e, _), now| Metrics {
                active_calls: e.active_calls(),
                registrations: e.registrations(now).len(),
                calls_created: created,
                calls_shed: e.shed_calls(),
            })
            .await
            .unwrap_or_default()
    }

    /// Ends every call (BYE/CANCEL/error response), then waits up to
    /// `grace` for the far ends to answer so the records say how they ended.
    pub async fn shutdown_calls(&self, grace: std::time::Duration) {
        let _ = self
            .handle
            .with_now(|EngineIo(e, _), now| e.shutdown(now))
            .await;
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            let active = self
                .handle
                .with(|EngineIo(e, _)| e.active_calls())
                .await
                .unwrap_or(0);
            if active == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
