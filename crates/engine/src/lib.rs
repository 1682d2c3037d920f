//! # `engine`: Dialtone's switch
//!
//! A sans-IO back-to-back user agent. An [`Engine`] owns one
//! `sip_core::Endpoint` and takes SIP bytes and the current time in; it hands
//! back SIP bytes to send, [`Event`]s (call records for the store and
//! webhooks, [`MediaCommand`]s for the RTP relay, registration changes) and
//! its next deadline. No sockets, no tasks, no clock: the `net` driver runs
//! it for real, tests run it on `testkit`'s fake clock and virtual network.
//!
//! ## What it does
//!
//! - **No open relay.** An INVITE is served only for an extension that
//!   passes digest authentication (RFC 3261 §22.3: `407` with
//!   `Proxy-Authenticate`) or for a source address in
//!   [`EngineConfig::trusted_peers`] (trunks: no authentication). Anything
//!   else is answered and never causes an outbound INVITE or a call record.
//!   REGISTER is authenticated with `401`/`WWW-Authenticate`, and an
//!   extension may register only its own address of record. Unknown users
//!   and wrong passwords get identical answers (`sip_core::Authenticator`).
//!   `Server`/`User-Agent` say `Dialtone`, with no version.
//! - **Routing.** The Request-URI user part is the extension number. The
//!   callee's contacts are every registrar binding of the extension (sent to
//!   the address the REGISTER came from, over its transport; Request-URI =
//!   the bound Contact) plus its `static_contact` (`sip:IP[:port]`; names are
//!   never resolved). One fork per distinct transport address.
//! - **The two-call model** (seed `001`): the caller's `incoming` call is the
//!   master (`source` = the caller, `destination` = the extension); each
//!   contact gets an `outgoing` call chained to it (`master_call_id` on the
//!   fork, `chained_call_ids` on the master). All contacts ring in parallel;
//!   the first 2xx wins and the others get CANCEL. `180`/`183` go to the
//!   caller (a `183` with SDP is early media, rewritten and bridged).
//! - **Media anchoring.** Each leg gets one RTP port (RTCP = +1) from the
//!   [`PortAllocator`]. Every SDP relayed (offer, answer, `183`, re-INVITE,
//!   UPDATE) is rewritten so `c=`/`o=` carry [`EngineConfig::public_ip`] and
//!   the audio port is the port of the leg it is sent on; the `o=` line is
//!   the engine's own per leg and its version rises only when the
//!   description changes (RFC 3264 §8). Codec lists pass through unchanged.
//!   Only the first audio stream is anchored; other media lines are sent with
//!   port 0. `OpenLeg` once a leg's remote SDP is known, `Bridge` once both
//!   legs of the pair are open, `UpdateLeg` when a peer's address moves,
//!   `CloseLeg` when the leg ends; every port allocated is released exactly
//!   once, however the call ends.
//! - **Mid-call.** re-INVITE and UPDATE with SDP are carried to the other
//!   leg and the answer back (hold with `a=sendonly`, codec changes, new
//!   addresses); a bodiless one is a session refresh answered locally (a
//!   bodiless re-INVITE gets the last description sent on that leg). Glare
//!   gets sip-core's `491` (RFC 3261 §14.1); the sender retries. INFO is
//!   passed through unchanged. A caller's INVITE without SDP (late offer)
//!   is forked without SDP; the winner's offer goes to the caller in the 2xx
//!   and the caller's answer to the winner in the ACK.
//! - **Session timers** (RFC 4028), per leg: `Supported: timer` everywhere;
//!   a `Session-Expires` below 90 s gets `422` with `Min-SE: 90`. A caller
//!   that supports timers refreshes (`refresher=uac`; 1800 s when it asked
//!   for nothing); we ask callees to refresh (`refresher=uas`). When the
//!   engine is the refresher it re-offers the last description at half the
//!   interval. When the peer is and no refresh comes by the interval minus
//!   min(32 s, interval/3) (§10), the whole call ends with BYE on both legs,
//!   `hangup_by: local`, `hangup_reason: failed` (the far end vanished: a
//!   network or device failure, not a decision of either user).
//! - **Limits.** [`EngineConfig::ring_timeout`] (default 60 s) bounds
//!   ringing; [`EngineConfig::max_call_duration`] (default 4 h, see
//!   [`DEFAULT_MAX_CALL_DURATION`]) bounds an answered call. `Max-Forwards`
//!   carries over (minus one) so a call routed back into Dialtone cannot loop.
//!
//! ## Events
//!
//! `Event::Call { kind: CallCreated }` when a call is created; for every
//! later change `CallUpdated`, followed at once by `CallRinging`,
//! `CallProgressing` or `CallHangup` when that change moved the status
//! there. Statuses only move forward (`model::Call::set_status`); a move the
//! lifecycle forbids is logged and ignored. The server adds event ids and
//! sequence numbers. An ended call stays readable through [`Engine::call`]
//! for a minute, then the engine forgets it.
//!
//! ## How calls end
//!
//! "Remote" is the far end of that leg deciding (BYE, CANCEL, a final
//! response, or no response at all); "local" is Dialtone deciding (the
//! other leg ended, a timer, the API, shutdown). `sip_code` is the final SIP
//! status of the leg: 200 once answered, the error response otherwise, 487
//! for a cancelled leg; on the incoming call it is what the caller was sent.
//! Paths list the statuses a call passes through; `→ terminating` is the
//! time between our BYE and its answer, `→ canceling` between our CANCEL and
//! the 487.
//!
//! | Scenario | Caller is sent | Incoming call (master): path; hangup_by, hangup_reason, sip_code | Outgoing call (each fork) |
//! |---|---|---|---|
//! | answered, caller sends BYE | 200 | dialing → ringing → progressing → hangup; remote, normal, 200 | dialing → ringing → progressing → terminating → hangup; local, normal, 200 |
//! | answered, callee sends BYE | 200, BYE | dialing → ringing → progressing → terminating → hangup; local, normal, 200 | dialing → ringing → progressing → hangup; remote, normal, 200 |
//! | several contacts, one answers | 200 | as answered | winner as answered; the others dialing → ringing → canceling → hangup; local, cancel, 487 ¹ |
//! | callee busy (486, 600) | 486 / 600 | dialing → ringing → hangup; remote, busy, 486 / 600 | dialing → ringing → hangup; remote, busy, 486 / 600 |
//! | callee declines (603), 480, 408 | that code | dialing → ringing → hangup; remote, noanswer, code | same, remote, noanswer, code |
//! | other callee error (404, 488, 5xx, ...) | that code ² | dialing → ringing → hangup; remote, failed, code ² | remote, failed, code |
//! | every fork fails | the best answer ³ | remote, the reason of that answer, its code | each its own row above |
//! | callee never answers (Timer B) | 408 | dialing → hangup; remote, failed, 408 | dialing → hangup; remote, failed, 408 |
//! | transport error towards the callee | 500 ² | dialing → hangup; remote, failed, 500 | dialing → hangup; remote, failed, 503 |
//! | ring timeout after it rang | 480 | dialing → ringing → hangup; local, noanswer, 480 | dialing → ringing → canceling → hangup; local, noanswer, 487 |
//! | ring timeout, never rang | 480 | dialing → hangup; local, dialout, 480 | dialing → canceling → hangup; local, dialout, 487 |
//! | caller sends CANCEL (or BYE before the answer) | 487 | dialing → ringing → hangup; remote, cancel, 487 | dialing → ringing → canceling → hangup; local, cancel, 487 |
//! | unknown extension | 404 | dialing → hangup; local, failed, 404 | — |
//! | extension with no contact | 480 | dialing → hangup; local, noanswer, 480 | — |
//! | no RTP port left | 503 | dialing → hangup; local, failed, 503 | — |
//! | unparseable SDP offer | 488 | dialing → hangup; local, failed, 488 | — |
//! | maximum call duration | 200, BYE | … → progressing → terminating → hangup; local, timeout, 200 | … → progressing → terminating → hangup; local, timeout, 200 |
//! | session expired (RFC 4028), caller never ACKed our 200, in-dialog 408/481/timeout | 200, BYE | … → terminating → hangup; local, failed, 200 | … → terminating → hangup; local, failed, 200 |
//! | API hangup ([`Engine::hangup`], either call), answered | 200, BYE | … → terminating → hangup; local, normal, 200 | … → terminating → hangup; local, normal, 200 |
//! | API hangup, not answered | 487 | dialing/ringing → hangup; local, cancel, 487 | … → canceling → hangup; local, cancel, 487 |
//! | [`Engine::shutdown`], answered | 200, BYE | … → terminating → hangup; local, normal, 200 | … → terminating → hangup; local, normal, 200 |
//! | [`Engine::shutdown`], not answered | 503 | dialing/ringing → hangup; local, failed, 503 | … → canceling → hangup; local, failed, 487 |
//! | not authenticated (407, 403 when locked out), unsupported `Require` (420), `Session-Expires` < 90 s (422), `Max-Forwards: 0` (483), INVITE after shutdown (503) | that code | no call record | — |
//!
//! ¹ A fork whose 2xx crosses our CANCEL is ACKed and sent BYE; it ends
//! local, cancel (or the reason of the row), sip_code 200. A fork whose
//! INVITE gets no final answer within 64*T1 of our CANCEL (RFC 3261 §9.1)
//! is given up with its sip_code unset.
//! ² The caller is not sent a callee's 401/407 (it gets 403) nor a callee's
//! 503 (it gets 500, RFC 3261 §16.7 step 6); the master's sip_code is what
//! the caller was sent.
//! ³ Across forks a 6xx wins (the callee spoke for all its devices), else
//! 486 (someone is there but busy), else the lowest status code.
//!
//! ## The run loop
//!
//! Mutate, then drain `poll_transmit` and `poll_event`, then sleep until
//! `poll_timeout`. Here a trusted trunk calls extension 300, a desk phone at
//! a static contact answers, and the call runs into its maximum duration:
//!
//! ```
//! use engine::{Engine, EngineConfig, Event, MediaCommand, PortAllocator, WallClock};
//! use model::{CallStatus, Extension, ExtensionSecret, HangupReason, Origin};
//! use sip::{Method, NameAddr, Transport, Uri};
//! use sip_core::{Endpoint, EndpointConfig, Received, Target};
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! /// The I/O layer binds an RTP/RTCP socket pair per port; here, numbers.
//! struct Ports(u16, usize);
//! impl PortAllocator for Ports {
//!     fn allocate(&mut self) -> Option<u16> { self.0 += 2; self.1 += 1; Some(self.0) }
//!     fn release(&mut self, _rtp_port: u16) { self.1 -= 1; }
//! }
//!
//! let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
//! let (switch, trunk_at, desk_at) = (addr("192.0.2.10:5060"), addr("192.0.2.20:5060"), addr("192.0.2.30:5060"));
//! let start = testkit::FakeClock::new().now(); // a driver passes the real time
//! let mut now = start;
//!
//! let mut config = EngineConfig::new(EndpointConfig::new(switch, 1), "203.0.113.10".parse().unwrap(), [0; 32]);
//! config.trusted_peers = vec!["192.0.2.20".parse().unwrap()];
//! config.max_call_duration = Duration::from_secs(60);
//! let wall = WallClock { origin: now, origin_utc: chrono::DateTime::UNIX_EPOCH };
//! let mut engine = Engine::new(config, wall, Box::new(Ports(20000, 0)));
//! engine.upsert_extension(ExtensionSecret {
//!     extension: Extension {
//!         id: uuid::Uuid::nil(), extension: "300".into(), name: "Desk".into(),
//!         static_contact: Some("sip:192.0.2.30:5060".into()), origin: Origin::Config,
//!         tm_create: chrono::DateTime::UNIX_EPOCH, tm_update: chrono::DateTime::UNIX_EPOCH,
//!     },
//!     password: "secret".into(),
//! });
//!
//! // Two plain SIP endpoints play the trunk and the desk phone.
//! let mut trunk = Endpoint::new(EndpointConfig::new(trunk_at, 2));
//! let mut desk = Endpoint::new(EndpointConfig::new(desk_at, 3));
//! let offer = |ip: &str| format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
//! let uri = Uri::from_text("sip:300@192.0.2.10").unwrap();
//! let from = NameAddr::new(Uri::from_text("sip:+15550100@192.0.2.20").unwrap());
//! let mut invite = trunk.build_request(Method::Invite, uri.clone(), from, NameAddr::new(uri));
//! invite.set_body(Some("application/sdp"), offer("192.0.2.20").into());
//! trunk.send_request(now, invite, Target::udp(switch)).unwrap();
//!
//! let rx = |local, remote, bytes| Received { transport: Transport::Udp, local, remote, bytes };
//! let (mut calls, mut media) = (Vec::new(), Vec::new());
//! loop {
//!     // 1. Output: hand every Transmit to the socket (here: straight to the peer).
//!     while let Some(t) = engine.poll_transmit() {
//!         let peer = if t.remote == trunk_at { &mut trunk } else { &mut desk };
//!         peer.handle_receive(now, rx(t.remote, switch, t.bytes));
//!     }
//!     for (ep, at) in [(&mut trunk, trunk_at), (&mut desk, desk_at)] {
//!         while let Some(t) = ep.poll_transmit() {
//!             engine.handle_receive(now, rx(switch, at, t.bytes));
//!         }
//!     }
//!     // 2. Events: call records to the store and webhooks, commands to the RTP relay.
//!     while let Some(ev) = engine.poll_event() {
//!         match ev {
//!             Event::Call { kind, call } => calls.push((kind, call)),
//!             Event::Media(cmd) => media.push(cmd),
//!             _ => {}
//!         }
//!     }
//!     // (The phones: the desk answers its INVITE, both answer BYE, the trunk ACKs.)
//!     while let Some(ev) = desk.poll_event() {
//!         if let sip_core::Event::Request { key, request, .. } = ev {
//!             let mut ok = desk.response_for(key, 200, "OK").unwrap();
//!             if request.method == Method::Invite {
//!                 ok.set_body(Some("application/sdp"), offer("192.0.2.30").into());
//!             }
//!             desk.send_response(now, key, ok).unwrap();
//!         }
//!     }
//!     while let Some(ev) = trunk.poll_event() {
//!         match ev {
//!             sip_core::Event::Response { response, dialog: Some(d), .. } if response.is_success() => {
//!                 trunk.ack(now, &d, None).unwrap()
//!             }
//!             sip_core::Event::Request { key, .. } => trunk.respond(now, key, 200, "OK").unwrap(),
//!             _ => {}
//!         }
//!     }
//!     // 3. Sleep until the earliest deadline (a real driver also wakes on input).
//!     match [engine.poll_timeout(), trunk.poll_timeout(), desk.poll_timeout()].into_iter().flatten().min() {
//!         Some(t) => {
//!             now = t.max(now);
//!             engine.handle_timeout(now);
//!             trunk.handle_timeout(now);
//!             desk.handle_timeout(now);
//!         }
//!         None => break,
//!     }
//! }
//! let last = &calls.last().unwrap().1;
//! assert_eq!(last.status, CallStatus::Hangup);
//! assert_eq!(last.hangup_reason, Some(HangupReason::Timeout));
//! assert_eq!(engine.active_calls(), 0);
//! // Open both legs, tell the relay each leg's codec, bridge them.
//! assert!(matches!(media[2], MediaCommand::SetCodec { .. }));
//! assert!(matches!(media[4], MediaCommand::Bridge { .. }));
//! assert!(now - start >= Duration::from_secs(60));
//! ```
//!
//! ## Application calls
//!
//! Calls Dialtone terminates itself, for flows: inbound calls to numbers
//! with a flow ([`Engine::set_number`], [`Event::Incoming`],
//! [`Engine::answer`]), calls it dials ([`Engine::dial`]: extensions, SIP
//! URIs, `tel` numbers over trunks ([`Engine::set_trunks`]) with failover
//! only after a `failed` attempt, ring_all / linear), and `connect`
//! ([`Dial::join`]). See `engine/app.rs` for the rules. Trunks with
//! `register` keep a registration at their gateway (`engine/trunk_reg.rs`:
//! digest, refresh at half the granted expiry, retry every 30 s after a
//! failure, [`Event::TrunkRegistration`]).
//!
//! ## Not implemented
//!
//! Calls from extensions to `tel`
//! numbers through trunks (only dials and flows use trunks), reliable
//! provisional responses (RFC 3262: `Require: 100rel` gets 420), early
//! UPDATE, REFER/transfer, more than one anchored media stream, SRTP/ICE.

mod config;
mod dial;
mod directory;
mod engine;
mod error;
mod event;
mod leg;
mod media;
mod session_timer;
mod timers;

pub use config::{
    default_transcode_codecs, Cidr, EngineConfig, PortAllocator, WallClock,
    DEFAULT_MAX_CALL_DURATION, DEFAULT_RING_TIMEOUT,
};
pub use dial::{Dial, DialDestination, TrunkRoute};
pub use engine::trunk_reg::{TrunkRegistration, REGISTER_EXPIRES, REGISTER_RETRY};
pub use engine::Engine;
pub use error::EngineError;
pub use event::{Event, LegCodec, MediaCommand};
