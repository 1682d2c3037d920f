//! # `sip`: the SIP message layer of Dialtone
//!
//! A strict, zero-copy SIP parser and message model (RFC 3261 §7, §19, §20,
//! §25; RFC 5118 IPv6 references). Sans-IO: no sockets, no clocks.
//!
//! - [`parse_datagram`] parses one UDP datagram into a [`Message`];
//!   [`StreamDecoder`] frames messages on a TCP/TLS byte stream
//!   (Content-Length, CRLF keep-alives, size limits).
//! - Header values are `Bytes` slices of the received buffer; typed views
//!   ([`Headers::via`], [`Headers::from`], [`Headers::cseq`]...) parse on demand.
//! - [`validate`] checks a message the way a UAS must before acting on it
//!   and names the fault plus the status code to answer (400, 416, 505...).
//! - A parsed message re-serializes byte for byte ([`Message::to_bytes`]);
//!   headers added by code serialize canonically.
//! - [`digest`] has the RFC 2617/7616 math (MD5, SHA-256, `qop=auth`).
//!
//! ```
//! let raw = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
//! To: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\nCSeq: 63104 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
//! let msg = sip::parse_message(raw).unwrap();
//! sip::validate(&msg).unwrap();
//! assert_eq!(msg.headers().cseq().unwrap().seq, 63104);
//! assert_eq!(&msg.to_bytes()[..], &raw[..]);
//! ```

pub mod digest;
mod error;
mod framing;
mod header_name;
pub mod headers;
mod lex;
mod message;
mod method;
mod params;
mod parser;
mod uri;
mod validate;

pub use error::ParseError;
pub use framing::{Frame, Limits, StreamDecoder};
pub use header_name::HeaderName;
pub use headers::{
    CSeq, Contact, MediaType, NameAddr, RAck, Refresher, Replaces, SessionExpires, Transport, Via,
    BRANCH_MAGIC_COOKIE,
};
pub use lex::unescape;
pub use message::{Header, Headers, Message, Request, Response};
pub use method::Method;
pub use params::{Param, Params};
pub use parser::{parse_datagram, parse_message};
pub use uri::{Host, Scheme, Uri};
pub use validate::validate;
