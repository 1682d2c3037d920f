//! The endpoint: transaction layer plus UAC/UAS cores, behind the sans-IO
//! `handle_*` / `poll_*` surface.

mod inbound;
mod outbound;

use crate::config::EndpointConfig;
use crate::dialog::{Dialog, DialogId, DialogState};
use crate::timer::Timer;
use crate::transaction::{ClientState, ClientTransaction, ServerState, ServerTransaction, TxOut};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip::{Method, Request, Response, Transport};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// A message the I/O driver received: one datagram, or one framed message of a stream.
#[derive(Debug, Clone)]
pub struct Received {
    pub transport: Transport,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: Bytes,
}

/// A message the I/O driver must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    pub remote: SocketAddr,
    pub bytes: Bytes,
}

/// Where a request (or response) goes: transport and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub transport: Transport,
    pub remote: SocketAddr,
}

impl Target {
    pub fn udp(remote: SocketAddr) -> Target {
        Target {
            transport: Transport::Udp,
            remote,
        }
    }

    pub fn tcp(remote: SocketAddr) -> Target {
        Target {
            transport: Transport::Tcp,
            remote,
        }
    }
}

/// Handle of a client transaction (a request we sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxKey(u64);

/// Handle of a server transaction (a request we must answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxKey(u64);

impl fmt::Display for ClientTxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client#{}", self.0)
    }
}

impl fmt::Display for ServerTxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server#{}", self.0)
    }
}

/// What happened, for the application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A new request: a new server transaction the application must answer
    /// with [`Endpoint::respond`] or [`Endpoint::send_response`]. INVITEs
    /// were already answered `100 Trying`. `dialog` is set for in-dialog requests.
    Request {
        key: ServerTxKey,
        request: Request,
        dialog: Option<DialogId>,
    },
    /// A response for a client transaction. A 2xx to INVITE comes once per
    /// dialog: the application answers it with [`Endpoint::ack`]; later
    /// retransmissions are ACKed again by the endpoint (RFC 6026 §8.4).
    Response {
        key: ClientTxKey,
        response: Response,
        dialog: Option<DialogId>,
    },
    /// Timer B or F fired: no final response (RFC 3261 §17.1.1.2, §17.1.2.2).
    Timeout { key: ClientTxKey, timer: Timer },
    /// The driver reported that the destination of this transaction is unreachable.
    TransportError { key: ClientTxKey },
    /// The ACK for our 2xx arrived (RFC 3261 §13.3.1.4); it may carry an SDP answer.
    Ack {
        key: ServerTxKey,
        dialog: DialogId,
        request: Request,
    },
    /// No ACK came: Timer H after a non-2xx, or 64*T1 (Timer L) after a 2xx,
    /// in which case the session should be ended with BYE (§13.3.1.4).
    AckTimeout { key: ServerTxKey, timer: Timer },
    /// A CANCEL matched this pending INVITE (§9.2). The endpoint already
    /// answered the CANCEL with 200 and the INVITE with 487.
    Cancelled { key: ServerTxKey, request: Request },
    /// A dialog was created or changed state.
    Dialog { id: DialogId, state: DialogState },
}

/// Server transaction matching (RFC 3261 §17.2.3): branch, sent-by, method (ACK as INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerMatch {
    branch: Bytes,
    sent_by: String,
    method: Method,
}

/// Merged-request detection (§8.2.2.2): From tag, Call-ID, CSeq.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MergeKey {
    from_tag: Bytes,
    call_id: Bytes,
    cseq: u32,
    method: Method,
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTransaction,
    target: Target,
    branch: Bytes,
    dialog: Option<DialogId>,
    got_provisional: bool,
    /// §9.1: a CANCEL requested before any provisional waits for one.
    pending_cancel: Option<(ClientTxKey, Request)>,
    /// To tags of 2xx responses already passed to the application.
    seen_2xx: Vec<Bytes>,
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTransaction,
    target: Target,
    matcher: ServerMatch,
    merge: Option<MergeKey>,
    /// The To tag we add to responses when the request had none.
    local_tag: Option<Bytes>,
    dialog: Option<DialogId>,
}

/// A SIP endpoint (user agent): transactions, dialogs, timers. Sans-IO.
///
/// Feed it with [`Endpoint::handle_receive`] and [`Endpoint::handle_timeout`];
/// drain [`Endpoint::poll_transmit`] and [`Endpoint::poll_event`]; sleep
/// until [`Endpoint::poll_timeout`].
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: StdRng,
    next_id: u64,
    clients: BTreeMap<ClientTxKey, ClientEntry>,
    client_index: HashMap<(Bytes, Method), ClientTxKey>,
    servers: BTreeMap<ServerTxKey, ServerEntry>,
    server_index: HashMap<ServerMatch, ServerTxKey>,
    merge_index: HashMap<MergeKey, ServerTxKey>,
    dialogs: HashMap<DialogId, Dialog>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Endpoint {
    pub fn new(config: EndpointConfig) -> Endpoint {
        Endpoint {
            rng: StdRng::seed_from_u64(config.rng_seed),
            config,
            next_id: 1,
            clients: BTreeMap::new(),
            client_index: HashMap::new(),
            servers: BTreeMap::new(),
            server_index: HashMap::new(),
            merge_index: HashMap::new(),
            dialogs: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next: the earliest
    /// deadline of every transaction's timer table.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = self.clients.values().filter_map(|e| e.tx.timers.next());
        let s = self.servers.values().filter_map(|e| e.tx.timers.next());
        c.chain(s).min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ClientTxKey> = self
            .clients
            .iter()
            .filter(|(_, e)| e.tx.timers.next().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let mut out = Vec::new();
            if let Some(e) = self.clients.get_mut(&key) {
                while let Some(timer) = e.tx.timers.pop_expired(now) {
                    e.tx.on_timer(now, timer, &mut out);
                }
            }
            self.client_outputs(now, key, out);
        }
        let due: Vec<ServerTxKey> = self
            .servers
            .iter()
            .filter(|(_, e)| e.tx.timers.next().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let mut out = Vec::new();
            if let Some(e) = self.servers.get_mut(&key) {
                while let Some(timer) = e.tx.timers.pop_expired(now) {
                    e.tx.on_timer(now, timer, &mut out);
                }
            }
            self.server_outputs(key, out);
        }
        self.reap();
    }

    /// The driver could not reach `remote` (ICMP unreachable, connection
    /// refused): client transactions towards it fail (§17.1.4).
    pub fn handle_transport_error(&mut self, _now: Instant, remote: SocketAddr) {
        let keys: Vec<ClientTxKey> = self
            .clients
            .iter()
            .filter(|(_, e)| e.target.remote == remote && !e.tx.is_terminated())
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(e) = self.clients.get_mut(&key) {
                e.tx.terminate();
            }
            self.client_failed(key);
            self.events.push_back(Event::TransportError { key });
        }
        self.reap();
    }

    /// A dialog by id.
    pub fn dialog(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id)
    }

    /// Every dialog not yet terminated.
    pub fn dialogs(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs
            .values()
            .filter(|d| d.state != DialogState::Terminated)
    }

    /// State of a client transaction; `None` once it is gone.
    pub fn client_state(&self, key: ClientTxKey) -> Option<ClientState> {
        self.clients.get(&key).map(|e| e.tx.state)
    }

    /// State of a server transaction; `None` once it is gone.
    pub fn server_state(&self, key: ServerTxKey) -> Option<ServerState> {
        self.servers.get(&key).map(|e| e.tx.state)
    }

    /// Live transactions: (client, server).
    pub fn transaction_count(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    // ---- helpers shared by the inbound and outbound halves ----

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn random_hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.rng.gen_range(0..16), 16).unwrap_or('0'))
            .collect()
    }

    /// RFC 3261 §8.1.1.7: a branch unique in space and time, with the magic cookie.
    fn new_branch(&mut self) -> String {
        format!("{}{}", sip::BRANCH_MAGIC_COOKIE, self.random_hex(16))
    }

    fn transmit(&mut self, target: &Target, bytes: Bytes) {
        self.transmits.push_back(Transmit {
            transport: target.transport.clone(),
            remote: target.remote,
            bytes,
        });
    }

    fn set_dialog_state(&mut self, id: &DialogId, state: DialogState) {
        if let Some(d) = self.dialogs.get_mut(id) {
            if d.state != state && d.state != DialogState::Terminated {
                d.state = state;
                self.events.push_back(Event::Dialog {
                    id: id.clone(),
                    state,
                });
            }
        }
    }

    fn client_outputs(&mut self, now: Instant, key: ClientTxKey, out: Vec<TxOut>) {
        for o in out {
            match o {
                TxOut::Send(bytes) => {
                    if let Some(target) = self.clients.get(&key).map(|e| e.target.clone()) {
                        self.transmit(&target, bytes);
                    }
                }
                TxOut::Response(resp) => self.on_client_response(now, key, resp),
                TxOut::Timeout(timer) => {
                    self.client_failed(key);
                    self.events.push_back(Event::Timeout { key, timer });
                }
                TxOut::AckTimeout => {}
            }
        }
    }

    fn server_outputs(&mut self, key: ServerTxKey, out: Vec<TxOut>) {
        for o in out {
            match o {
                TxOut::Send(bytes) => {
                    if let Some(target) = self.servers.get(&key).map(|e| e.target.clone()) {
                        self.transmit(&target, bytes);
                    }
                }
                TxOut::Timeout(timer) => self.events.push_back(Event::AckTimeout { key, timer }),
                TxOut::AckTimeout => self.events.push_back(Event::AckTimeout {
                    key,
                    timer: Timer::L,
                }),
                TxOut::Response(_) => {}
            }
        }
    }

    /// A client transaction ended without a final response (timeout, transport error):
    /// §12.2.1.2 treats that like a 408, which ends the dialog.
    fn client_failed(&mut self, key: ClientTxKey) {
        let Some(e) = self.clients.get_mut(&key) else {
            return;
        };
        e.pending_cancel = None;
        let dialog = e.dialog.clone();
        let invite = e.tx.is_invite();
        if let Some(id) = dialog {
            self.set_dialog_state(&id, DialogState::Terminated);
        }
        if invite {
            self.end_early_dialogs(key);
        }
    }

    /// Early dialogs created by an INVITE that failed end with it (§12.3).
    fn end_early_dialogs(&mut self, key: ClientTxKey) {
        let ids: Vec<DialogId> = self
            .dialogs
            .values()
            .filter(|d| d.client_invite == Some(key))
            .map(|d| d.id.clone())
            .collect();
        for id in ids {
            if let Some(d) = self.dialogs.get_mut(&id) {
                d.client_invite = None;
                if d.state == DialogState::Early {
                    self.set_dialog_state(&id, DialogState::Terminated);
                }
            }
        }
    }

    /// Drops terminated transactions and their index entries.
    fn reap(&mut self) {
        let dead: Vec<ClientTxKey> = self
            .clients
            .iter()
            .filter(|(_, e)| e.tx.is_terminated())
            .map(|(k, _)| *k)
            .collect();
        for key in dead {
            if let Some(e) = self.clients.remove(&key) {
                self.client_index
                    .remove(&(e.branch.clone(), e.tx.request.method.clone()));
                for d in self.dialogs.values_mut() {
                    if d.client_invite == Some(key) {
                        d.client_invite = None;
                    }
                }
            }
        }
        let dead: Vec<ServerTxKey> = self
            .servers
            .iter()
            .filter(|(_, e)| e.tx.is_terminated())
            .map(|(k, _)| *k)
            .collect();
        for key in dead {
            if let Some(e) = self.servers.remove(&key) {
                self.server_index.remove(&e.matcher);
                if let Some(m) = &e.merge {
                    if self.merge_index.get(m) == Some(&key) {
                        self.merge_index.remove(m);
                    }
                }
                for d in self.dialogs.values_mut() {
                    if d.server_invite == Some(key) {
                        d.server_invite = None;
                    }
                    if d.awaiting_ack.is_some_and(|(_, k)| k == key) {
                        d.awaiting_ack = None;
                    }
                }
            }
        }
        // A terminated dialog goes once no transaction refers to it. One
        // pass over the transactions, and only when a dialog has ended.
        if !self
            .dialogs
            .values()
            .any(|d| d.state == DialogState::Terminated)
        {
            return;
        }
        let referenced: std::collections::HashSet<&DialogId> = self
            .clients
            .values()
            .filter_map(|e| e.dialog.as_ref())
            .chain(self.servers.values().filter_map(|e| e.dialog.as_ref()))
            .collect();
        let gone: Vec<DialogId> = self
            .dialogs
            .iter()
            .filter(|(id, d)| d.state == DialogState::Terminated && !referenced.contains(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.dialogs.remove(&id);
        }
    }
}
