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
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
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
    clients: BTreeMap<ClientTxKey, Box<ClientEntry>>,
    client_index: HashMap<(Bytes, Method), ClientTxKey>,
    servers: BTreeMap<ServerTxKey, Box<ServerEntry>>,
    server_index: HashMap<ServerMatch, ServerTxKey>,
    merge_index: HashMap<MergeKey, ServerTxKey>,
    /// Boxed: a dialog is large, and the table is rehashed as it grows.
    dialogs: HashMap<DialogId, Box<Dialog>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Transactions changed since the last [`Endpoint::settle`]: their
    /// deadline and liveness are rechecked there, so no call scans every
    /// transaction.
    touched: Vec<TxRef>,
    /// Each live transaction's next timer deadline, earliest first.
    deadlines: BTreeSet<(Instant, TxRef)>,
    scheduled: HashMap<TxRef, Instant>,
    /// Transactions removed since terminated dialogs were last collected.
    removed_since_gc: usize,
    /// Dialogs whose `client_invite`, `server_invite` or `awaiting_ack`
    /// may name a transaction, so removing it clears them without a scan.
    tx_dialogs: HashMap<TxRef, Vec<DialogId>>,
}

/// A transaction of either side, for the deadline index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TxRef {
    Client(ClientTxKey),
    Server(ServerTxKey),
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
            touched: Vec::new(),
            deadlines: BTreeSet::new(),
            scheduled: HashMap::new(),
            removed_since_gc: 0,
            tx_dialogs: HashMap::new(),
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.settle();
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.settle();
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next: the earliest
    /// deadline of every transaction's timer table.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Transactions changed since the output was last drained are not in
        // the index yet: look at them directly (usually none).
        let pending = self.touched.iter().filter_map(|r| match r {
            TxRef::Client(k) => self.clients.get(k).and_then(|e| e.tx.timers.next()),
            TxRef::Server(k) => self.servers.get(k).and_then(|e| e.tx.timers.next()),
        });
        self.deadlines
            .first()
            .map(|(t, _)| *t)
            .into_iter()
            .chain(pending)
            .min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.settle();
        let mut due = Vec::new();
        while let Some(&(t, r)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            self.scheduled.remove(&r);
            due.push(r);
        }
        for r in due {
            let mut out = Vec::new();
            self.touched.push(r);
            match r {
                TxRef::Client(key) => {
                    if let Some(e) = self.clients.get_mut(&key) {
                        while let Some(timer) = e.tx.timers.pop_expired(now) {
                            e.tx.on_timer(now, timer, &mut out);
                        }
                    }
                    self.client_outputs(now, key, out);
                }
                TxRef::Server(key) => {
                    if let Some(e) = self.servers.get_mut(&key) {
                        while let Some(timer) = e.tx.timers.pop_expired(now) {
                            e.tx.on_timer(now, timer, &mut out);
                        }
                    }
                    self.server_outputs(key, out);
                }
            }
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
            self.touched.push(TxRef::Client(key));
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
        self.dialogs.get(id).map(|d| &**d)
    }

    /// Every dialog not yet terminated.
    pub fn dialogs(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs
            .values()
            .map(|d| &**d)
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
        self.touched.push(TxRef::Client(key));
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
        let ids = self
            .tx_dialogs
            .get(&TxRef::Client(key))
            .cloned()
            .unwrap_or_default();
        for id in ids {
            if let Some(d) = self
                .dialogs
                .get_mut(&id)
                .filter(|d| d.client_invite == Some(key))
            {
                d.client_invite = None;
                if d.state == DialogState::Early {
                    self.set_dialog_state(&id, DialogState::Terminated);
                }
            }
        }
    }

    /// Drops terminated transactions and their index entries.
    fn reap(&mut self) {
        self.settle();
    }

    /// Rechecks the transactions touched since the last call: a terminated
    /// one is removed with its index entries, a live one's next deadline is
    /// updated in the deadline index. Amortized O(1) per change.
    fn settle(&mut self) {
        if self.touched.is_empty() {
            return;
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for r in touched {
            if let Some(old) = self.scheduled.remove(&r) {
                self.deadlines.remove(&(old, r));
            }
            let (terminated, next) = match r {
                TxRef::Client(k) => match self.clients.get_mut(&k) {
                    Some(e) => {
                        e.tx.slim();
                        (e.tx.is_terminated(), e.tx.timers.next())
                    }
                    None => continue,
                },
                TxRef::Server(k) => match self.servers.get_mut(&k) {
                    Some(e) => {
                        e.tx.slim();
                        (e.tx.is_terminated(), e.tx.timers.next())
                    }
                    None => continue,
                },
            };
            if terminated {
                self.remove_transaction(r);
            } else if let Some(t) = next {
                self.deadlines.insert((t, r));
                self.scheduled.insert(r, t);
            }
        }
        // Terminated dialogs are collected in one pass over the
        // transactions once enough of them went: O(1) amortized.
        if self.removed_since_gc >= 64.max((self.clients.len() + self.servers.len()) / 8) {
            self.removed_since_gc = 0;
            self.collect_dialogs();
        }
    }

    fn remove_transaction(&mut self, r: TxRef) {
        self.removed_since_gc += 1;
        match r {
            TxRef::Client(key) => {
                if let Some(e) = self.clients.remove(&key) {
                    self.client_index
                        .remove(&(e.branch.clone(), e.tx.request.method.clone()));
                    for id in self.tx_dialogs.remove(&r).unwrap_or_default() {
                        if let Some(d) = self.dialogs.get_mut(&id) {
                            if d.client_invite == Some(key) {
                                d.client_invite = None;
                            }
                        }
                    }
                }
            }
            TxRef::Server(key) => {
                if let Some(e) = self.servers.remove(&key) {
                    self.server_index.remove(&e.matcher);
                    if let Some(m) = &e.merge {
                        if self.merge_index.get(m) == Some(&key) {
                            self.merge_index.remove(m);
                        }
                    }
                    for id in self.tx_dialogs.remove(&r).unwrap_or_default() {
                        if let Some(d) = self.dialogs.get_mut(&id) {
                            if d.server_invite == Some(key) {
                                d.server_invite = None;
                            }
                            if d.awaiting_ack.is_some_and(|(_, k)| k == key) {
                                d.awaiting_ack = None;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Records that dialog `id` names transaction `r` (see `tx_dialogs`).
    fn link(&mut self, r: TxRef, id: &DialogId) {
        let ids = self.tx_dialogs.entry(r).or_default();
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }

    /// Forgets terminated dialogs no transaction refers to any more.
    fn collect_dialogs(&mut self) {
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
