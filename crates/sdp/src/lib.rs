//! # `sdp`: session descriptions and offer/answer
//!
//! The SDP model of RFC 8866 (parse, serialize, edit) and the RFC 3264
//! offer/answer rules Dialtone needs: codec choice per media line, direction
//! (hold is `sendonly`/`inactive`), `telephone-event`, and the connection
//! address/port rewrite that anchors media through Dialtone. Sans-IO, leaf.
//!
//! ```
//! let offer = sdp::SessionDescription::parse(
//!     "v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
//!      m=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n",
//! ).unwrap();
//! let audio = &offer.media[0];
//! assert_eq!(audio.direction(), sdp::Direction::SendOnly);
//! assert_eq!(audio.codecs()[0].name, "PCMU");
//!
//! let local = [sdp::CodecSpec::new("PCMA", 8000, 1), sdp::CodecSpec::new("telephone-event", 8000, 1)];
//! let answer = sdp::answer(&offer, &local, "203.0.113.5", &[40000], 7).unwrap();
//! assert_eq!(answer.media[0].formats, ["8", "101"]);
//! assert_eq!(answer.media[0].direction(), sdp::Direction::RecvOnly);
//! ```

pub mod codecs;
mod model;
mod negotiate;

pub use model::{
    Attribute, Codec, Connection, Direction, MediaDescription, Origin, SdpError, SessionDescription,
};
pub use negotiate::{answer, CodecSpec};
