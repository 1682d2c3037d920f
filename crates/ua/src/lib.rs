//! # `ua`: Dialtone's softphone SDK
//!
//! Makes any program a SIP phone, on the same SIP stack (`sip`, `sip-core`)
//! and media engine (`media`) as the Dialtone server. It works against any
//! standard SIP server: Dialtone, Kamailio, Asterisk, or straight to another
//! phone. `dialtone phone` is its command line.
//!
//! | layer | what | where |
//! |---|---|---|
//! | [`UaCore`] | sans-IO protocol core: registration, calls, hold, transfer, forwarding rules, auto-answer, call waiting | [`core`] (its run loop is in the module docs) |
//! | [`media::MediaSession`] | one call's RTP: codecs, jitter buffer, DTMF, recording, volume, statistics, video pass-through | [`media`] |
//! | [`Phone`] | the two with tokio I/O: one SIP socket, one media session per call, one [`Events`] stream | `phone` |
//!
//! Everything the application hears arrives on one event stream per phone
//! (the seeds' listeners): [`Event::Registration`], [`Event::Incoming`],
//! [`Event::CallWaiting`], [`Event::State`] (`dialing`, `ringing`,
//! `early_media`, `established`, `held`, `remotely_held`,
//! `ended{reason, by, sip_code}`), [`Event::Dtmf`], [`Event::Op`] (the
//! success or failure of each mid-call operation: one at a time per call),
//! [`Event::Forwarded`], [`Event::Recording`].
//!
//! ## Register (the softphone seed's `RegisterPhoneLine`)
//!
//! ```no_run
//! use ua::{Account, Event, Phone, PhoneConfig, Registration};
//! # #[tokio::main] async fn main() -> Result<(), ua::UaError> {
//! let server = "192.0.2.10:5060".parse().unwrap();
//! let account = Account::new(server, "1001", Some("secret"));
//! let (phone, mut events) = Phone::start(PhoneConfig::new(account)).await?;
//! phone.register().await?; // refreshed at half the granted expiry
//! while let Some(e) = events.next().await {
//!     match e {
//!         Event::Registration(Registration::Registered { expires }) => {
//!             println!("online for {expires} s");
//!             break;
//!         }
//!         Event::Registration(Registration::Failed { sip_code, reason }) => {
//!             println!("registration failed: {sip_code:?} {reason}");
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## Call, DTMF, mute, hold, statistics, end (the CPaaS seed's call service)
//!
//! ```no_run
//! use ua::{CallState, DtmfMode, Event, Phone};
//! # async fn demo(phone: Phone, mut events: ua::Events) -> Result<(), ua::UaError> {
//! let call = phone.call("1002", false).await?; // or "sip:bob@192.0.2.20"
//! while let Some(e) = events.next().await {
//!     match e {
//!         Event::State { state: CallState::Established, .. } => {
//!             call.send_dtmf("12#", 100, DtmfMode::Rfc4733).await?; // or DtmfMode::Info
//!             call.mute().await?;
//!             call.hold().await?; // Event::Op { op: Hold, ok } reports the outcome
//!         }
//!         Event::Op { op: ua::Op::Hold, ok: true, .. } => {
//!             // A held call cannot be held again; unhold fails unless held.
//!             assert!(call.hold().await.is_err());
//!             println!("{}", call.stats().await?); // inbound-rtp, outbound-rtp, ...
//!             call.end().await?;
//!         }
//!         Event::State { state: CallState::Ended { reason, by, sip_code }, .. } => {
//!             println!("ended {reason:?} by {by:?} ({sip_code:?})");
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## Incoming calls: accept, reject, ignore, forward (the CPaaS and softphone seeds)
//!
//! ```no_run
//! use ua::Event;
//! # async fn demo(phone: ua::Phone, mut events: ua::Events) -> Result<(), ua::UaError> {
//! while let Some(e) = events.next().await {
//!     match e {
//!         Event::Incoming { call, from, video, .. } => {
//!             let call = phone.handle(call);
//!             match from.user.as_deref() {
//!                 Some("1003") => call.reject(486).await?,         // or 603 Decline
//!                 Some("1004") => call.ignore().await?,            // stop ringing, no answer
//!                 Some("1005") => call.forward("1009").await?,     // 302 Moved Temporarily
//!                 _ => call.accept(video).await?,                  // 200 OK with our SDP
//!             }
//!         }
//!         // A second call while one is up: accepting it holds the first.
//!         Event::CallWaiting { call, .. } => phone.accept(call, false).await?,
//!         Event::Dtmf { call, digit, .. } => println!("call {call}: {digit}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## The embedded seed's settings: auto-answer, auto-reject, forwarding, volume, DTMF detection
//!
//! ```no_run
//! use std::time::Duration;
//! use ua::ForwardCondition;
//! # async fn demo(phone: ua::Phone) -> Result<(), ua::UaError> {
//! phone.set_auto_answer(Some(5)).await?;      // setAutoAnswer(5); None turns it off
//! phone.set_auto_reject(false).await?;        // setAutoCancel(0)
//! phone.set_dtmf_detection(true).await?;      // dtmfDetEnable(1)
//! phone.set_volume(8)?;                       // 0-11, 8 = unity, 3 dB a step
//! // setFw: register, activate, query, deactivate, erase.
//! phone.forwarding_register(ForwardCondition::NoReply, "1009", Duration::from_secs(20)).await?;
//! phone.forwarding_activate(ForwardCondition::NoReply).await?;
//! let rule = phone.forwarding_query(ForwardCondition::NoReply).await?;
//! assert!(rule.is_some_and(|r| r.active));
//! phone.forwarding_deactivate(ForwardCondition::NoReply).await?;
//! phone.forwarding_erase(ForwardCondition::NoReply).await?;
//! # Ok(()) }
//! ```
//!
//! ## Audio: files, tones, recording (RX, TX, MIX), recording streams
//!
//! ```no_run
//! use ua::media::{AudioSink, AudioSource, RecordMode, RecordOptions};
//! use ua::{AutoRecord, Phone};
//! # async fn demo(phone: Phone, call: ua::Call) -> Result<(), ua::UaError> {
//! phone.set_default_source(AudioSource::Wav { path: "prompt.wav".into(), looped: false })?;
//! phone.set_default_sink(AudioSink::Wav("heard.wav".into()));
//! phone.set_source(call.id(), AudioSource::Tone { freq_hz: 440.0, dbm0: -10.0 })?;
//! // setAutoRecord: every call from the moment it is established.
//! phone.set_auto_record(Some(AutoRecord { mode: RecordMode::Mix, path: "call-{call}.wav".into() }));
//! // startRecord / stopRecord, with a stream of 20 ms PCM chunks.
//! let (tx, mut chunks) = tokio::sync::mpsc::unbounded_channel();
//! call.start_recording(RecordOptions { mode: RecordMode::Rx, path: Some("rx.wav".into()), stream: Some(tx) })
//!     .await?;
//! while let Some(chunk) = chunks.recv().await {
//!     println!("{} bytes of audio", chunk.len());
//! #   break;
//! }
//! call.stop_recording().await?; // Event::Recording { path, duration_ms, .. }
//! # Ok(()) }
//! ```
//!
//! ## Anonymous calls (the CPaaS seed)
//!
//! ```no_run
//! use ua::{Account, Phone, PhoneConfig};
//! # #[tokio::main] async fn main() -> Result<(), ua::UaError> {
//! // From "Anonymous" <sip:anonymous@anonymous.invalid>, Privacy: id; never
//! // registers; incoming INVITEs get 403.
//! let account = Account::anonymous("192.0.2.10:5060".parse().unwrap());
//! let (phone, _events) = Phone::start(PhoneConfig::new(account)).await?;
//! let call = phone.call("support", false).await?;
//! # let _ = call; Ok(()) }
//! ```
//!
//! ## Video (pass-through)
//!
//! `phone.call(target, true)` and `accept(true)` add or take a video m-line
//! (VP8/H264 offered); the phone relays its RTP untouched between the peer
//! and an application socket ([`media::MediaSession::bind_video`]), and
//! [`Call::video_start`] / [`Call::video_stop`] switch our sending on and
//! off with a re-INVITE. There is no video codec in Dialtone.
//!
//! ## Sound devices
//!
//! Files and generated tones need nothing; microphones and speakers come
//! with the `device` cargo feature (cpal), see [`media`]. The embedded
//! seed's output channel maps to a device: [`Phone::map_output_channel`],
//! [`Phone::set_output_channel`].

pub mod core;
pub mod media;
mod phone;

pub use crate::core::types;
pub use crate::core::types::*;
pub use crate::core::{Action, CoreConfig, Output, UaCore};
pub use phone::{AutoRecord, Call, Events, OutputChannel, Phone, PhoneConfig};
