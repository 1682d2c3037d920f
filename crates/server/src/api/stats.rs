//! The body of `GET /v1/calls/{id}/stats`: one leg's media statistics with
//! the W3C webrtc-stats names (<https://www.w3.org/TR/webrtc-stats/>),
//! from the relay's [`net::rtp::LegStats`], rendered by
//! [`media::stats::webrtc_json`].
//!
//! | object | what | from |
//! |---|---|---|
//! | `inbound-rtp` | the RTP stream the call's party sends to Dialtone | the relay's RFC 3550 receiver |
//! | `outbound-rtp` | the RTP stream Dialtone sends to the party | counted as it leaves the socket |
//! | `remote-inbound-rtp` | what the party reports receiving from Dialtone, and the round trip | the party's RTCP report block |
//! | `remote-outbound-rtp` | what the party reports sending | the party's RTCP SR |
//! | `codec` | the codec the leg settled on | the switch |
//! | `candidate-pair` | the addresses, and every datagram on the RTP socket | the relay's sockets |
//!
//! Times and jitter are in seconds (as webrtc-stats), `remoteTimestamp` in
//! milliseconds since the Unix epoch (a `DOMHighResTimeStamp`).

use media::stats::{webrtc_json, CandidatePair, RtcpCounters, WebrtcContext};
use net::rtp::LegStats;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// The JSON body for leg `id`'s statistics `s`; `live` says whether the
/// call is still running; `public_ip` is the address Dialtone's SDP gave
/// the party for media (the local candidate). The webrtc-stats objects
/// come from [`media::stats::webrtc_json`] (the softphone serves the same);
/// `call_id`, `live` and `transcoding` are the server's own.
pub fn render(id: uuid::Uuid, live: bool, s: &LegStats, public_ip: IpAddr) -> Value {
    let context = WebrtcContext {
        codec: s.codec.map(|c| (c.codec, c.payload_type)),
        packets_discarded: s.rtp.dropped_wrong_source,
        // Where the relay decodes (a transcoding bridge): its jitter
        // buffer, counted per 20 ms frame.
        jitter_buffer: s.jitter_buffer,
        rtcp: RtcpCounters {
            packets_received: s.rtcp.received_packets,
            packets_sent: s.rtcp.sent_packets,
            packets_malformed: s.rtcp.dropped_malformed,
        },
        candidate_pair: CandidatePair {
            local: Some(SocketAddr::new(public_ip, s.rtp_port)),
            remote: s.rtp.peer,
            remote_rtcp: s.rtcp.peer,
            packets_sent: s.rtp.sent_packets,
            bytes_sent: s.rtp.sent_bytes,
            packets_received: s.rtp.received_packets,
            bytes_received: s.rtp.received_bytes,
        },
    };
    let mut body = webrtc_json(&s.quality, &context);
    body.insert("call_id".into(), json!(id));
    body.insert("live".into(), json!(live));
    body.insert(
        "transcoding".into(),
        json!({
            "packetsTranscoded": s.rtp.transcoded_packets,
            "decodeErrors": s.rtp.decode_errors,
        }),
    );
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::rtcp::NtpTime;
    use media::stats::{RemoteInboundRtpStats, RemoteOutboundRtpStats};
    use std::time::Duration;

    #[test]
    fn the_webrtc_names_carry_the_relays_figures() {
        let mut s = LegStats::default();
        s.rtp_port = 20_000;
        s.rtp.peer = Some("192.0.2.7:4000".parse().unwrap());
        s.rtp.received_packets = 101;
        s.rtp.dropped_wrong_source = 3;
        s.rtcp.received_packets = 2;
        s.rtcp.dropped_malformed = 1;
        s.quality.inbound.ssrc = Some(0xA);
        s.quality.inbound.packets_received = 100;
        s.quality.inbound.packets_lost = 4;
        s.quality.inbound.jitter = 0.0125;
        s.quality.outbound.ssrc = 0xB;
        s.quality.outbound.packets_sent = 90;
        let id = uuid::Uuid::nil();
        let public: IpAddr = "198.51.100.1".parse().unwrap();
        let v = render(id, true, &s, public);
        assert_eq!(v["inbound-rtp"]["ssrc"], 0xA);
        assert_eq!(v["inbound-rtp"]["packetsReceived"], 100);
        assert_eq!(v["inbound-rtp"]["packetsLost"], 4);
        assert_eq!(v["inbound-rtp"]["jitter"], 0.0125);
        assert_eq!(v["inbound-rtp"]["packetsDiscarded"], 3);
        assert_eq!(v["outbound-rtp"]["ssrc"], 0xB);
        assert_eq!(v["outbound-rtp"]["packetsSent"], 90);
        assert_eq!(v["remote-inbound-rtp"], Value::Null, "no report yet");
        assert_eq!(v["remote-outbound-rtp"], Value::Null);
        assert_eq!(v["rtcp"]["packetsMalformed"], 1);
        assert_eq!(v["candidate-pair"]["localAddress"], "198.51.100.1:20000");
        assert_eq!(v["candidate-pair"]["remoteAddress"], "192.0.2.7:4000");
        assert_eq!(v["candidate-pair"]["packetsReceived"], 101);
        assert_eq!(v["candidate-pair"]["currentRoundTripTime"], Value::Null);

        s.quality.remote_inbound = Some(RemoteInboundRtpStats {
            ssrc: 0xB,
            packets_lost: 2,
            fraction_lost: 0.25,
            jitter: 0.01,
            round_trip_time: Some(0.042),
            total_round_trip_time: 0.1,
            round_trip_time_measurements: 3,
            reports_received: 4,
        });
        s.quality.remote_outbound = Some(RemoteOutboundRtpStats {
            ssrc: 0xA,
            packets_sent: 120,
            bytes_sent: 19_200,
            remote_timestamp: NtpTime::from_unix(Duration::from_millis(1_700_000_000_250)),
            reports_received: 5,
        });
        let v = render(id, false, &s, public);
        let ri = &v["remote-inbound-rtp"];
        assert_eq!(ri["roundTripTime"], 0.042);
        assert_eq!(
            (ri["packetsLost"].as_i64(), ri["fractionLost"].as_f64()),
            (Some(2), Some(0.25))
        );
        assert_eq!(ri["roundTripTimeMeasurements"], 3);
        assert_eq!(v["candidate-pair"]["currentRoundTripTime"], 0.042);
        let ro = &v["remote-outbound-rtp"];
        assert_eq!(
            (ro["packetsSent"].as_u64(), ro["bytesSent"].as_u64()),
            (Some(120), Some(19_200))
        );
        let ms = ro["remoteTimestamp"].as_f64().unwrap();
        assert!((ms - 1_700_000_000_250.0).abs() < 0.001, "{ms}");
        assert_eq!(v["live"], false);
    }
}
