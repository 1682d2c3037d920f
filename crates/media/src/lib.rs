//! Dialtone's media engine, sans-IO: packets and frames in, packets, frames
//! and events out, time always a parameter (`now: Instant` or a sample
//! clock), never read from the system. The I/O layer (`net`) owns the
//! sockets and the timers and drives these state machines.
//!
//! | module | what |
//! | --- | --- |
//! | [`amd`] | answering-machine detection: energy voice activity, Asterisk's `AMD()` rules, a verdict |
//! | [`frame`] | [`Frame`]: a block of mono 16-bit PCM at a sample rate |
//! | [`codec`] | PCMU, PCMA, G.722, Opus encoders/decoders, resampling |
//! | [`dtmf`] | RFC 4733 events, SIP INFO `application/dtmf-relay`, in-band Goertzel detection (ITU-T Q.24), tone generation |
//! | [`rtp`], [`rtcp`] | packet parse/serialize, SR/RR/SDES/BYE |
//! | [`jitter`] | adaptive jitter buffer: reordering, loss concealment, drift |
//! | [`stats`] | RFC 3550 receive/send statistics (loss, jitter, RTT), rendered with the webrtc-stats names |
//! | [`wav`], [`mixer`], [`recorder`], [`player`], [`tones`] | recording (crash-safe WAV), mixing, playback, music on hold |

pub mod amd;
pub mod codec;
pub mod dtmf;
pub mod frame;
pub mod jitter;
pub mod mixer;
pub mod player;
pub mod recorder;
pub mod rtcp;
pub mod rtp;
pub mod stats;
pub mod tones;
pub mod wav;

pub use frame::Frame;
