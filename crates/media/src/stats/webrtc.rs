//! One leg's statistics as JSON with the W3C webrtc-stats names
//! (<https://www.w3.org/TR/webrtc-stats/>): the body the server's
//! `GET /v1/calls/{id}/stats` and the softphone's `MediaSession::stats`
//! both serve, built here once.
//!
//! | key | what | from |
//! |---|---|---|
//! | `inbound-rtp` | the RTP stream the peer sends us | [`StatsSnapshot::inbound`], the jitter buffer |
//! | `outbound-rtp` | the RTP stream we send the peer | [`StatsSnapshot::outbound`] |
//! | `remote-inbound-rtp` | what the peer reports receiving from us, and the round trip | its RTCP report block (`null` before one) |
//! | `remote-outbound-rtp` | what the peer reports sending | its RTCP SR (`null` before one) |
//! | `rtcp` | datagrams on the RTCP socket, reports we sent | [`WebrtcContext::rtcp`] |
//! | `codec` | the codec in use (`null` when unknown) | [`WebrtcContext::codec`] |
//! | `candidate-pair` | the addresses, and every datagram on the RTP socket | [`WebrtcContext::candidate_pair`] |
//!
//! Times and jitter are in seconds (as webrtc-stats), `remoteTimestamp` in
//! milliseconds since the Unix epoch (a `DOMHighResTimeStamp`). Each
//! caller adds its own keys to the object (the server its `call_id`, the
//! softphone a `timestamp`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::StatsSnapshot;
use crate::codec::CodecKind;
use crate::jitter::JitterBuffer;
use crate::rtcp::NtpTime;

/// What the JSON needs besides the RTP statistics: facts of the codec,
/// the jitter buffer and the sockets, which [`super::LegStats`] does not
/// see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebrtcContext {
    /// The codec and its payload type, when known.
    pub codec: Option<(CodecKind, u8)>,
    /// `inbound-rtp.packetsDiscarded`: datagrams from the peer thrown away
    /// unplayed (another source than the latched one, an unexpected
    /// payload type).
    pub packets_discarded: u64,
    /// The jitter buffer the peer's audio plays through, where it is
    /// decoded (`null` fields elsewhere).
    pub jitter_buffer: Option<PlayoutStats>,
    /// The RTCP socket's counters.
    pub rtcp: RtcpCounters,
    /// The RTP socket's addresses and counters.
    pub candidate_pair: CandidatePair,
}

/// What a jitter buffer did with the peer's audio, per 20 ms frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayoutStats {
    /// `jitterBufferEmittedCount`: frames played (decoded).
    pub emitted: u64,
    /// `concealedFrames`: frames concealed (lost, or too late).
    pub concealed: u64,
    /// `packetsLate`: packets dropped because their turn had passed.
    pub late: u64,
    /// `jitterBufferDelay`: time the played frames spent buffered, summed.
    pub total_delay: Duration,
    /// `jitterBufferTargetDelay`: the delay the buffer aims at now.
    pub target_delay: Duration,
}

impl PlayoutStats {
    /// What `buffer` did so far.
    pub fn of(buffer: &JitterBuffer) -> PlayoutStats {
        let s = buffer.stats();
        PlayoutStats {
            emitted: s.frames_emitted,
            concealed: s.frames_concealed,
            late: s.packets_late,
            total_delay: s.total_delay,
            target_delay: buffer.target_delay(),
        }
    }
}

/// Datagrams on the RTCP socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpCounters {
    /// Reports from the peer taken in.
    pub packets_received: u64,
    /// Our reports sent.
    pub packets_sent: u64,
    /// Datagrams that were not valid RTCP.
    pub packets_malformed: u64,
}

/// The RTP socket and its peer (`candidate-pair`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CandidatePair {
    /// The address our SDP gave the peer for RTP (`None`: not bound).
    pub local: Option<SocketAddr>,
    /// The peer's RTP address, once known.
    pub remote: Option<SocketAddr>,
    /// The peer's RTCP address, once known.
    pub remote_rtcp: Option<SocketAddr>,
    /// Datagrams (and bytes) sent on the RTP socket.
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Datagrams (and bytes) received on the RTP socket.
    pub packets_received: u64,
    pub bytes_received: u64,
}

/// The webrtc-stats object for one leg: `inbound-rtp`, `outbound-rtp`,
/// `remote-inbound-rtp`, `remote-outbound-rtp`, `rtcp`, `codec` and
/// `candidate-pair` (module docs), to which the caller adds its own keys.
pub fn webrtc_json(q: &StatsSnapshot, cx: &WebrtcContext) -> Map<String, Value> {
    let remote_inbound = q.remote_inbound.as_ref().map(|r| {
        json!({
            "ssrc": r.ssrc,
            "packetsLost": r.packets_lost,
            "fractionLost": r.fraction_lost,
            "jitter": r.jitter,
            "roundTripTime": r.round_trip_time,
            "totalRoundTripTime": r.total_round_trip_time,
            "roundTripTimeMeasurements": r.round_trip_time_measurements,
            "reportsReceived": r.reports_received,
        })
    });
    let remote_outbound = q.remote_outbound.as_ref().map(|r| {
        json!({
            "ssrc": r.ssrc,
            "packetsSent": r.packets_sent,
            "bytesSent": r.bytes_sent,
            "remoteTimestamp": unix_millis(r.remote_timestamp),
            "reportsSent": r.reports_received,
        })
    });
    let jb = cx.jitter_buffer;
    let pair = &cx.candidate_pair;
    let body = json!({
        "inbound-rtp": {
            "kind": "audio",
            "ssrc": q.inbound.ssrc,
            "packetsReceived": q.inbound.packets_received,
            "bytesReceived": q.inbound.bytes_received,
            "packetsLost": q.inbound.packets_lost,
            "packetsDuplicated": q.inbound.packets_duplicated,
            "jitter": q.inbound.jitter,
            "packetsDiscarded": cx.packets_discarded,
            "jitterBufferDelay": jb.map(|j| j.total_delay.as_secs_f64()),
            "jitterBufferEmittedCount": jb.map(|j| j.emitted),
            "jitterBufferTargetDelay": jb.map(|j| j.target_delay.as_secs_f64()),
            "concealedFrames": jb.map(|j| j.concealed),
            "packetsLate": jb.map(|j| j.late),
        },
        "outbound-rtp": {
            "kind": "audio",
            "ssrc": q.outbound.ssrc,
            "packetsSent": q.outbound.packets_sent,
            "bytesSent": q.outbound.bytes_sent,
        },
        "remote-inbound-rtp": remote_inbound,
        "remote-outbound-rtp": remote_outbound,
        "rtcp": {
            "packetsReceived": cx.rtcp.packets_received,
            "packetsSent": cx.rtcp.packets_sent,
            "packetsMalformed": cx.rtcp.packets_malformed,
            "reportsSent": q.outbound.reports_sent,
        },
        "codec": cx.codec.map(|(codec, payload_type)| json!({
            "mimeType": format!("audio/{}", codec.encoding_name()),
            "clockRate": codec.clock_rate(),
            "payloadType": payload_type,
            "channels": codec.rtpmap_channels(),
        })),
        "candidate-pair": {
            "localAddress": pair.local.map(|a| a.to_string()),
            "localPort": pair.local.map(|a| a.port()),
            "remoteAddress": pair.remote.map(|a| a.to_string()),
            "remoteRtcpAddress": pair.remote_rtcp.map(|a| a.to_string()),
            "packetsSent": pair.packets_sent,
            "packetsReceived": pair.packets_received,
            "bytesSent": pair.bytes_sent,
            "bytesReceived": pair.bytes_received,
            "currentRoundTripTime": q.remote_inbound.as_ref().and_then(|r| r.round_trip_time),
        },
    });
    match body {
        Value::Object(map) => map,
        _ => Map::new(), // `json!({..})` is always an object
    }
}

/// An NTP time as milliseconds since the Unix epoch (before 1970: 0).
pub fn unix_millis(t: NtpTime) -> f64 {
    let unix = Duration::from_secs(NtpTime::UNIX_EPOCH_OFFSET_SECS);
    t.to_duration().saturating_sub(unix).as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{RemoteInboundRtpStats, RemoteOutboundRtpStats};

    #[test]
    fn every_object_is_there_with_webrtc_names() {
        let mut q = StatsSnapshot::default();
        q.inbound.ssrc = Some(0xA);
        q.inbound.packets_received = 50;
        q.outbound.packets_sent = 49;
        let cx = WebrtcContext {
            codec: Some((CodecKind::Opus, 111)),
            jitter_buffer: Some(PlayoutStats {
                emitted: 48,
                concealed: 2,
                ..PlayoutStats::default()
            }),
            candidate_pair: CandidatePair {
                local: Some("127.0.0.1:4000".parse().unwrap()),
                ..CandidatePair::default()
            },
            ..WebrtcContext::default()
        };
        let v = Value::Object(webrtc_json(&q, &cx));
        assert_eq!(v["inbound-rtp"]["packetsReceived"], 50);
        assert_eq!(v["inbound-rtp"]["concealedFrames"], 2);
        assert_eq!(v["outbound-rtp"]["packetsSent"], 49);
        assert_eq!(v["codec"]["mimeType"], "audio/opus");
        assert_eq!(v["codec"]["clockRate"], 48000);
        assert_eq!(v["codec"]["channels"], 2);
        assert_eq!(v["candidate-pair"]["localPort"], 4000);
        assert_eq!(v["remote-inbound-rtp"], Value::Null);

        q.remote_inbound = Some(RemoteInboundRtpStats {
            round_trip_time: Some(0.02),
            ..RemoteInboundRtpStats::default()
        });
        q.remote_outbound = Some(RemoteOutboundRtpStats {
            remote_timestamp: NtpTime::from_unix(Duration::from_millis(1_500)),
            ..RemoteOutboundRtpStats::default()
        });
        let v = Value::Object(webrtc_json(&q, &WebrtcContext::default()));
        assert_eq!(v["candidate-pair"]["currentRoundTripTime"], 0.02);
        let ms = v["remote-outbound-rtp"]["remoteTimestamp"]
            .as_f64()
            .unwrap();
        assert!((ms - 1_500.0).abs() < 0.001, "{ms}");
        assert_eq!(v["codec"], Value::Null);
        assert_eq!(v["inbound-rtp"]["jitterBufferEmittedCount"], Value::Null);
    }
}
