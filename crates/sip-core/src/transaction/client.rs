//! Client transactions: INVITE (RFC 3261 §17.1.1, RFC 6026 §8.4) and
//! non-INVITE (§17.1.2).

use super::TxOut;
use crate::timer::{Timer, TimerConfig, TimerTable};
use bytes::Bytes;
use sip::{Header, HeaderName, Method, Request, Response};
use std::time::{Duration, Instant};

/// Client transaction states, named as in RFC 3261 Figures 5 and 6 and RFC 6026 Figure 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, no response yet.
    Calling,
    /// Non-INVITE sent, no response yet.
    Trying,
    Proceeding,
    Completed,
    /// INVITE answered by a 2xx (RFC 6026): further 2xx go to the TU.
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub(crate) struct ClientTransaction {
    pub state: ClientState,
    pub timers: TimerTable,
    pub request: Request,
    bytes: Bytes,
    reliable: bool,
    cfg: TimerConfig,
    interval: Duration,
    /// ACK for a non-2xx final response, built once (§17.1.1.3).
    ack: Option<Bytes>,
    /// [`ClientTransaction::slim`] already ran.
    slimmed: bool,
}

impl ClientTransaction {
    /// Starts the transaction; the caller sends `bytes` once now.
    pub fn start(
        now: Instant,
        request: Request,
        bytes: Bytes,
        reliable: bool,
        cfg: TimerConfig,
    ) -> ClientTransaction {
        let invite = request.method == Method::Invite;
        let mut timers = TimerTable::default();
        // §17.1.1.2 / §17.1.2.2: retransmit only over unreliable transports.
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !reliable {
            timers.set(retransmit, now + cfg.t1);
        }
        timers.set(timeout, now + cfg.t1x64());
        ClientTransaction {
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            timers,
            request,
            bytes,
            reliable,
            cfg,
            interval: cfg.t1,
            ack: None,
            slimmed: false,
        }
    }

    pub fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    pub fn on_response(&mut self, now: Instant, resp: Response, out: &mut Vec<TxOut>) {
        if self.is_invite() {
            self.invite_response(now, resp, out);
        } else {
            self.non_invite_response(now, resp, out);
        }
    }

    fn invite_response(&mut self, now: Instant, resp: Response, out: &mut Vec<TxOut>) {
        use ClientState::*;
        match (self.state, resp.status) {
            (Calling | Proceeding, 100..=199) => {
                // §17.1.1.2: a provisional stops retransmissions (and Timer B).
                self.state = Proceeding;
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                out.push(TxOut::Response(resp));
            }
            (Calling | Proceeding, 200..=299) => {
                // RFC 6026 §8.4: Accepted, Timer M = 64*T1.
                self.state = Accepted;
                self.timers.stop_all();
                self.timers.set(Timer::M, now + self.cfg.t1x64());
                out.push(TxOut::Response(resp));
            }
            (Accepted, 200..=299) => out.push(TxOut::Response(resp)),
            (Calling | Proceeding, _) if resp.status >= 300 => {
                // §17.1.1.2: ACK, Completed, Timer D.
                self.state = Completed;
                self.timers.stop_all();
                self.timers
                    .set(Timer::D, now + self.cfg.timer_d(self.reliable));
                let ack = ack_for_non_2xx(&self.request, &resp).to_bytes();
                out.push(TxOut::Send(ack.clone()));
                self.ack = Some(ack);
                out.push(TxOut::Response(resp));
            }
            (Completed, 300..) => {
                // A retransmitted final response: ACK again, the TU already knows.
                if let Some(ack) = &self.ack {
                    out.push(TxOut::Send(ack.clone()));
                }
            }
            _ => {}
        }
    }

    fn non_invite_response(&mut self, now: Instant, resp: Response, out: &mut Vec<TxOut>) {
        use ClientState::*;
        match (self.state, resp.status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(TxOut::Response(resp));
            }
            (Trying | Proceeding, _) => {
                // §17.1.2.2: Completed, Timer K absorbs retransmitted responses.
                self.state = Completed;
                self.timers.stop_all();
                self.timers
                    .set(Timer::K, now + self.cfg.t4_or_zero(self.reliable));
                out.push(TxOut::Response(resp));
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Vec<TxOut>) {
        use ClientState::*;
        match (timer, self.state) {
            (Timer::A, Calling) => {
                // §17.1.1.2: Timer A doubles (uncapped) until Timer B fires.
                out.push(TxOut::Send(self.bytes.clone()));
                self.interval *= 2;
                self.timers.set(Timer::A, now + self.interval);
            }
            (Timer::E, Trying | Proceeding) => {
                // §17.1.2.2: doubling up to T2 while Trying; T2 once Proceeding.
                out.push(TxOut::Send(self.bytes.clone()));
                self.interval = if self.state == Trying {
                    (self.interval * 2).min(self.cfg.t2)
                } else {
                    self.cfg.t2
                };
                self.timers.set(Timer::E, now + self.interval);
            }
            (Timer::B, Calling) | (Timer::F, Trying | Proceeding) => {
                self.terminate();
                out.push(TxOut::Timeout(timer));
            }
            (Timer::D, Completed) | (Timer::K, Completed) | (Timer::M, Accepted) => {
                self.terminate()
            }
            _ => {}
        }
    }

    /// Once a final response arrived the transaction lives on only to absorb
    /// retransmissions (Timer D, K or M, up to 32 s), so it lets go of what
    /// it no longer needs: the serialized request (nothing is retransmitted
    /// any more) and every header but those a further 2xx from another
    /// fork needs to form its dialog (From, To, Call-ID, CSeq, Via), body
    /// included. A call's transactions are most of what a busy switch
    /// holds in memory.
    pub fn slim(&mut self) {
        if self.slimmed || !matches!(self.state, ClientState::Completed | ClientState::Accepted) {
            return;
        }
        self.slimmed = true;
        self.bytes = Bytes::new();
        let mut kept = Request::new(self.request.method.clone(), self.request.uri.clone());
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            if let Some(h) = self.request.headers.get(&name) {
                kept.headers.push(h.clone());
            }
        }
        self.request = kept;
    }

    /// A transport error (§17.1.1.2, §17.1.2.2): the transaction ends at once.
    pub fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timers.stop_all();
    }
}

/// RFC 3261 §17.1.1.3: the ACK for a non-2xx final response belongs to the
/// INVITE transaction: same Request-URI, top Via, Call-ID, From, CSeq number
/// and Route as the INVITE, To from the response.
fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let h = &invite.headers;
    if let Some(via) = h.get(&HeaderName::Via) {
        ack.headers.push(via.clone());
    }
    ack.headers.push(Header::new(HeaderName::MaxForwards, "70"));
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = h.get(&name) {
            ack.headers.push(Header::new(name, v.value.clone()));
        }
    }
    if let Some(to) = resp.headers.get(&HeaderName::To) {
        ack.headers
            .push(Header::new(HeaderName::To, to.value.clone()));
    }
    let seq = h.cseq().map(|c| c.seq).unwrap_or(0);
    ack.headers
        .push(Header::new(HeaderName::CSeq, format!("{seq} ACK")));
    for r in h.get_all(&HeaderName::Route) {
        ack.headers
            .push(Header::new(HeaderName::Route, r.value.clone()));
    }
    ack.headers
        .push(Header::new(HeaderName::ContentLength, "0"));
    ack
}
