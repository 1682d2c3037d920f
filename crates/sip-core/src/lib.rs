//! # `sip-core`: sans-IO SIP transactions and dialogs
//!
//! An [`Endpoint`] is a SIP user agent's protocol core with no sockets and
//! no clock: bytes and the current time go in, bytes to send, events and the
//! next deadline come out. The `net` crate drives it with tokio; tests drive
//! it with `testkit`'s fake clock and virtual network.
//!
//! - The four transaction state machines of RFC 3261 §17, with RFC 6026's
//!   Accepted state and Timers L and M. Every timer (A B D E F G H I J K L M,
//!   plus the UAS core's 2xx retransmission of §13.3.1.4) lives in one
//!   enum-indexed [`TimerTable`] per transaction; [`Endpoint::poll_timeout`]
//!   is their minimum.
//! - UAS core: `received`/`rport` stamping (RFC 3581), response routing by
//!   Via (§18.2.2), a stateless 400 naming the fault for malformed requests,
//!   `100 Trying` for INVITE, CANCEL matching (§9.2: the endpoint answers the
//!   CANCEL 200 and the INVITE 487 itself, then emits [`Event::Cancelled`]),
//!   merged requests (§8.2.2.2: 482), 2xx retransmission until the ACK.
//! - UAC core: Via with a fresh `z9hG4bK` branch, CANCEL held until a
//!   provisional arrives (§9.1), ACK for 2xx outside the transaction and
//!   re-sent on every 2xx retransmission (§13.2.2.4).
//! - Dialogs (§12): early and confirmed, route set, CSeq rules (a lower
//!   remote CSeq gets 500), target refresh by re-INVITE and UPDATE, glare
//!   (491, §14) with [`Endpoint::glare_retry_delay`].
//!
//! Not implemented: RFC 2543 transaction matching for branches without the
//! magic cookie (they are matched by branch like RFC 3261 ones), `maddr`,
//! DNS (a next hop must be an IP literal, else the dialog's last peer address).
//!
//! ## The run loop
//!
//! Mutate, then drain `poll_transmit` and `poll_event`, then sleep until
//! `poll_timeout`:
//!
//! ```
//! use sip_core::{Endpoint, EndpointConfig, Event, Received, Target};
//! use sip::{Method, NameAddr, Transport, Uri};
//! use std::time::Duration;
//!
//! let alice_addr = "192.0.2.1:5060".parse().unwrap();
//! let bob_addr = "192.0.2.2:5060".parse().unwrap();
//! let mut alice = Endpoint::new(EndpointConfig::new(alice_addr, 1));
//! let mut bob = Endpoint::new(EndpointConfig::new(bob_addr, 2));
//! let start = testkit::FakeClock::new().now(); // a driver passes the real time here
//! let mut now = start;
//!
//! let uri = Uri::from_text("sip:bob@192.0.2.2").unwrap();
//! let from = NameAddr::new(Uri::from_text("sip:alice@192.0.2.1").unwrap());
//! let invite = alice.build_request(Method::Invite, uri.clone(), from, NameAddr::new(uri));
//! let call = alice.send_request(now, invite, Target::udp(bob_addr)).unwrap();
//!
//! let rx = |local, remote, bytes| Received { transport: Transport::Udp, local, remote, bytes };
//! loop {
//!     // 1. Output: hand every Transmit to the socket (here: straight to the peer).
//!     while let Some(t) = alice.poll_transmit() {
//!         bob.handle_receive(now, rx(bob_addr, alice_addr, t.bytes));
//!     }
//!     while let Some(t) = bob.poll_transmit() {
//!         alice.handle_receive(now, rx(alice_addr, bob_addr, t.bytes));
//!     }
//!     // 2. Events: the application reacts, which may queue more output.
//!     while let Some(ev) = bob.poll_event() {
//!         if let Event::Request { key, request, .. } = ev {
//!             if request.method == Method::Invite {
//!                 bob.respond(now, key, 200, "OK").unwrap();
//!             }
//!         }
//!     }
//!     while let Some(ev) = alice.poll_event() {
//!         if let Event::Response { key, response, dialog: Some(d) } = ev {
//!             assert_eq!(key, call);
//!             if response.is_success() {
//!                 alice.ack(now, &d, None).unwrap();
//!             }
//!         }
//!     }
//!     // 3. Sleep until the earliest deadline (a real driver also wakes on input).
//!     match alice.poll_timeout().into_iter().chain(bob.poll_timeout()).min() {
//!         Some(t) => {
//!             now = t.max(now);
//!             alice.handle_timeout(now);
//!             bob.handle_timeout(now);
//!         }
//!         None => break,
//!     }
//! }
//! assert_eq!(alice.dialogs().count(), 1);
//! assert_eq!(alice.transaction_count(), (0, 0)); // Timer M ended the INVITE transaction
//! assert!(now - start >= Duration::from_secs(32));
//! ```

pub mod auth;
mod config;
mod dialog;
mod endpoint;
mod error;
pub mod registrar;
mod routing;
mod timer;
mod transaction;

pub use auth::{AuthConfig, AuthOutcome, Authenticator, Challenger, LockoutPolicy};
pub use config::EndpointConfig;
pub use dialog::{Dialog, DialogId, DialogState, Role};
pub use endpoint::{ClientTxKey, Endpoint, Event, Received, ServerTxKey, Target, Transmit};
pub use error::Error;
pub use registrar::{Binding, RegisterOutcome, Registrar, RegistrarConfig};
pub use timer::{Timer, TimerConfig, TimerTable};
pub use transaction::{ClientState, ServerState};
