use sdp::{answer, CodecSpec, Direction, SessionDescription};

const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
m=video 51372 RTP/AVP 31\r\n\
a=rtpmap:31 H261/90000\r\n";

fn local() -> Vec<CodecSpec> {
    vec![
        CodecSpec::new("PCMA", 8000, 1),
        CodecSpec::new("PCMU", 8000, 1),
        CodecSpec::new("telephone-event", 8000, 1),
    ]
}

#[test]
fn parses_and_serializes_back() {
    let sd = SessionDescription::parse(OFFER).unwrap();
    assert_eq!(sd.origin.session_version, 2890844526);
    assert_eq!(sd.media.len(), 2);
    let audio = &sd.media[0];
    assert_eq!(audio.port, 49170);
    assert_eq!(audio.rtcp_port(), 49171);
    let codecs = audio.codecs();
    assert_eq!(
        codecs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["PCMU", "PCMA", "G722", "telephone-event"]
    );
    assert_eq!(codecs[3].fmtp.as_deref(), Some("0-16"));
    assert_eq!(sd.to_text(), OFFER);
    assert_eq!(
        SessionDescription::parse(&OFFER.replace("\r\n", "\n")).unwrap(),
        sd,
        "bare LF accepted"
    );
}

#[test]
fn static_payload_types_without_rtpmap() {
    let sd = SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n").unwrap();
    let names: Vec<_> = sd.media[0].codecs().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["PCMU", "PCMA"]);
}

#[test]
fn answer_keeps_offer_order_and_rejects_video() {
    let offer = SessionDescription::parse(OFFER).unwrap();
    let ans = answer(&offer, &local(), "203.0.113.9", &[30000, 30002], 42).unwrap();
    assert_eq!(ans.media.len(), 2, "one answer line per offered line");
    assert_eq!(ans.media[0].formats, ["0", "8", "101"]);
    assert_eq!(ans.media[0].port, 30000);
    assert_eq!(ans.media[1].port, 0, "video rejected with port 0");
    assert_eq!(ans.media_address(0), Some("203.0.113.9"));
    let text = ans.to_text();
    assert!(text.contains("a=fmtp:101 0-16\r\n"), "{text}");
    let back = SessionDescription::parse(&text).unwrap();
    assert_eq!(back, ans);
}

#[test]
fn hold_offer_is_answered_recvonly() {
    let offer = SessionDescription::parse(&OFFER.replace("a=sendrecv", "a=sendonly")).unwrap();
    assert_eq!(offer.media[0].direction(), Direction::SendOnly);
    let ans = answer(&offer, &local(), "203.0.113.9", &[30000, 0], 1).unwrap();
    assert_eq!(ans.media[0].direction(), Direction::RecvOnly);
}

#[test]
fn no_common_codec_fails() {
    let offer = SessionDescription::parse(OFFER).unwrap();
    let err = answer(
        &offer,
        &[CodecSpec::new("opus", 48000, 2)],
        "203.0.113.9",
        &[30000, 30002],
        1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no offered media line"), "{err}");
}

#[test]
fn rewrite_anchors_media() {
    let mut sd = SessionDescription::parse(OFFER).unwrap();
    sd.rewrite_addresses("198.51.100.1", &[20000, 20002]);
    assert_eq!(sd.media_address(0), Some("198.51.100.1"));
    assert_eq!(sd.media[0].port, 20000);
    assert_eq!(sd.origin.session_version, 2890844527);
    assert!(!sd.to_text().contains("192.0.2.10"));
}

#[test]
fn errors_name_the_line() {
    let bad = [
        ("o=- 1 1 IN IP4 h\r\n", "first line must be v=0"),
        (
            "v=0\r\no=- 1 IN IP4 h\r\ns=-\r\n",
            "line 2: malformed o= line",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio x RTP/AVP 0\r\n",
            "line 4: malformed m= line",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
            "no c= line",
        ),
        ("v=0\r\ns=-\r\n", "missing o= line"),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nbogus\r\n",
            "line 4: not of the form",
        ),
    ];
    for (text, needle) in bad {
        let err = SessionDescription::parse(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    }
}
