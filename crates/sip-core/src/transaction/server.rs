//! Server transactions: INVITE (RFC 3261 §17.2.1, RFC 6026 §8.5-§8.7) and
//! non-INVITE (§17.2.2). The INVITE server transaction also carries the UAS
//! core's 2xx retransmission (§13.3.1.4), since it lasts exactly as long as
//! the Accepted state (64*T1).

use super::TxOut;
use crate::timer::{Timer, TimerConfig, TimerTable};
use bytes::Bytes;
use sip::{Method, Request};
use std::time::{Duration, Instant};

/// Server transaction states, named as in RFC 3261 Figures 7 and 8 and RFC 6026 Figure 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE received, nothing sent yet.
    Trying,
    Proceeding,
    Completed,
    /// INVITE: ACK for a non-2xx final response received.
    Confirmed,
    /// INVITE answered with 2xx (RFC 6026): waiting for the ACK, retransmitting the 2xx.
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub(crate) struct ServerTransaction {
    pub state: ServerState,
    pub timers: TimerTable,
    pub request: Request,
    reliable: bool,
    cfg: TimerConfig,
    last_response: Option<Bytes>,
    interval: Duration,
    /// The ACK for our 2xx arrived (RFC 3261 §13.3.1.4).
    pub acked: bool,
    /// [`ServerTransaction::slim`] already ran.
    slimmed: bool,
}

impl ServerTransaction {
    pub fn new(request: Request, reliable: bool, cfg: TimerConfig) -> ServerTransaction {
        let state = if request.method == Method::Invite {
            ServerState::Proceeding
        } else {
            ServerState::Trying
        };
        ServerTransaction {
            state,
            timers: TimerTable::default(),
            request,
            reliable,
            cfg,
            last_response: None,
            interval: cfg.t1,
            acked: false,
            slimmed: false,
        }
    }

    pub fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// Whether a final response was sent.
    pub fn is_final(&self) -> bool {
        !matches!(self.state, ServerState::Trying | ServerState::Proceeding)
    }

    /// The TU sends a response; `Err` names why it cannot be sent in this state.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
        out: &mut Vec<TxOut>,
    ) -> Result<(), &'static str> {
        use ServerState::*;
        if !matches!(self.state, Trying | Proceeding) {
            return Err("a final response was already sent");
        }
        out.push(TxOut::Send(bytes.clone()));
        self.last_response = Some(bytes);
        self.timers.stop_all();
        let t1x64 = self.cfg.t1x64();
        match (self.is_invite(), status) {
            (_, 100..=199) => self.state = Proceeding,
            (true, 200..=299) => {
                // RFC 6026 §8.5: Accepted, Timer L; RFC 3261 §13.3.1.4: the UAS
                // core retransmits the 2xx at T1, doubling to T2, until the ACK.
                self.state = Accepted;
                self.timers.set(Timer::L, now + t1x64);
                self.interval = self.cfg.t1;
                self.timers.set(Timer::Retransmit2xx, now + self.interval);
            }
            (true, _) => {
                // §17.2.1: Completed, Timer G (unreliable only) and Timer H.
                self.state = Completed;
                if !self.reliable {
                    self.interval = self.cfg.t1;
                    self.timers.set(Timer::G, now + self.interval);
                }
                self.timers.set(Timer::H, now + t1x64);
            }
            (false, _) => {
                // §17.2.2: Completed, Timer J.
                self.state = Completed;
                self.timers
                    .set(Timer::J, now + self.cfg.timer_j(self.reliable));
            }
        }
        Ok(())
    }

    /// A retransmission of the request (§17.2.1, §17.2.2, RFC 6026 §8.7).
    pub fn on_retransmission(&mut self, out: &mut Vec<TxOut>) {
        use ServerState::*;
        // Accepted absorbs INVITE retransmissions: the core's 2xx timer covers them.
        if matches!(self.state, Proceeding | Completed) {
            if let Some(b) = &self.last_response {
                out.push(TxOut::Send(b.clone()));
            }
        }
    }

    /// An ACK matching this INVITE transaction, i.e. for a non-2xx response (§17.2.1).
    pub fn on_ack(&mut self, now: Instant) {
        if self.state == ServerState::Completed {
            self.state = ServerState::Confirmed;
            self.timers.stop_all();
            self.timers
                .set(Timer::I, now + self.cfg.t4_or_zero(self.reliable));
        }
    }

    /// The UAS core matched an ACK to our 2xx: stop retransmitting it.
    /// Returns whether this is the first such ACK.
    pub fn on_2xx_ack(&mut self) -> bool {
        self.timers.stop(Timer::Retransmit2xx);
        // Nothing retransmits the 2xx any more (INVITE retransmissions are
        // absorbed in Accepted), so its bytes (the SDP answer) can go.
        self.last_response = None;
        !std::mem::replace(&mut self.acked, true)
    }

    pub fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Vec<TxOut>) {
        use ServerState::*;
        match (timer, self.state) {
            (Timer::G, Completed) | (Timer::Retransmit2xx, Accepted) => {
                if let Some(b) = &self.last_response {
                    out.push(TxOut::Send(b.clone()));
                }
                self.interval = (self.interval * 2).min(self.cfg.t2);
                self.timers.set(timer, now + self.interval);
            }
            (Timer::H, Completed) => {
                self.terminate();
                out.push(TxOut::Timeout(Timer::H));
            }
            (Timer::L, Accepted) => {
                self.terminate();
                if !self.acked {
                    out.push(TxOut::AckTimeout);
                }
            }
            (Timer::I, Confirmed) | (Timer::J, Completed) => self.terminate(),
            _ => {}
        }
    }

    /// Once the final response is sent, only the method of the request is
    /// still read (the dialog was formed when the response went out; the
    /// match keys live in the endpoint's indexes), so the parsed request,
    /// which keeps its whole datagram alive, is dropped. The transaction
    /// may live on for 32 s (Timers J and L).
    pub fn slim(&mut self) {
        if self.slimmed || !self.is_final() {
            return;
        }
        self.slimmed = true;
        self.request = Request::new(self.request.method.clone(), sip::Uri::placeholder());
    }

    pub fn terminate(&mut self) {
        self.state = ServerState::Terminated;
        self.timers.stop_all();
    }
}
