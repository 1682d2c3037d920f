//! DTMF both ways.
//!
//! Sending ([`DtmfSend`]): requests queue and run one after the other;
//! each is RFC 4733 events on the negotiated `telephone-event` payload
//! type ([`EventSender`], voice paused while an event lasts) or, when none
//! was negotiated, the Q.23 tone pairs ([`DtmfGenerator`]) sent in place of
//! the source. A request resolves once its last packet (the third end
//! report, RFC 4733 §2.5.1.4) or its last tone and gap have been sent.
//!
//! Receiving ([`DtmfDetect`]): RFC 4733 events ([`EventReceiver`], one
//! digit per key press, reported when it ends) and, only when no
//! telephone-event was negotiated, in-band tones in the decoded audio
//! (the Goertzel [`Detector`], at 8 or 16 kHz).

use super::util::RateAdapter;
use super::{DtmfMethod, MediaError, MediaEvent};
use media::dtmf::rfc4733::{check_send_duration, DEFAULT_GAP_MS};
use media::dtmf::{
    parse_digits, Detector, Digit, DtmfError, DtmfGenerator, EventPacket, EventReceiver,
    EventSender, ToneEvent, ToneLevels,
};
use media::Frame;
use std::collections::VecDeque;
use std::time::Instant;
use tokio::sync::oneshot;

/// Most digits one [`super::MediaSession::send_dtmf`] takes: the SIP side's limit.
pub(super) use crate::core::MAX_DIGITS;

/// Packet interval of RFC 4733 events: the audio's 20 ms.
const EVENT_INTERVAL_MS: u32 = 20;

/// Checks a `send_dtmf` request: every character a keypad digit, at most
/// [`MAX_DIGITS`], the duration within 40..=10000 ms (`media`'s checks,
/// which name the problem).
pub(super) fn parse_request(digits: &str, duration_ms: u32) -> Result<Vec<Digit>, MediaError> {
    let invalid = |e: DtmfError| MediaError::Invalid(e.to_string());
    check_send_duration(duration_ms).map_err(invalid)?;
    let parsed = parse_digits(digits).map_err(invalid)?;
    if parsed.is_empty() {
        return Err(MediaError::Invalid("no DTMF digits to send".into()));
    }
    if parsed.len() > MAX_DIGITS {
        return Err(MediaError::Invalid(format!(
            "{} DTMF digits, at most {MAX_DIGITS} at once",
            parsed.len()
        )));
    }
    Ok(parsed)
}

/// A `send_dtmf` waiting or being sent.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) digits: Vec<Digit>,
    pub(super) duration_ms: u32,
    pub(super) done: oneshot::Sender<Result<(), MediaError>>,
}

/// What the stream is, for starting a request.
#[derive(Debug, Clone, Copy)]
pub(super) struct SendContext {
    /// The telephone-event payload type, when negotiated.
    pub(super) event_payload_type: Option<u8>,
    /// RTP clock rate of the voice codec (events use the same clock).
    pub(super) clock_rate: u32,
    /// The encoder's sample rate (in-band tones are made at it).
    pub(super) sample_rate: u32,
}

/// The DTMF sender of a session.
#[derive(Debug, Default)]
pub(super) struct DtmfSend {
    queue: VecDeque<Request>,
    current: Option<(Sending, oneshot::Sender<Result<(), MediaError>>)>,
}

#[derive(Debug)]
enum Sending {
    Events {
        sender: EventSender,
        payload_type: u8,
    },
    Tones(DtmfGenerator),
}

/// What the sender wants of this 20 ms slot (besides the RFC 4733
/// packets it hands out).
#[derive(Debug, Default)]
pub(super) struct Slot {
    /// An event lasts: send no voice this slot.
    pub(super) pause_voice: bool,
    /// In-band tones were written to the frame: send it instead of the source.
    pub(super) tones: bool,
}

impl DtmfSend {
    pub(super) fn push(&mut self, request: Request) {
        self.queue.push_back(request);
    }

    /// Runs the sender for the slot at `now`, whose next voice packet would
    /// carry `rtp_timestamp`: starts the next request if none runs, appends
    /// the RFC 4733 packets due to `events` (with their payload type) or
    /// writes tones into `frame` (20 ms at `cx.sample_rate`), and resolves
    /// a request that has ended.
    pub(super) fn poll_slot(
        &mut self,
        now: Instant,
        rtp_timestamp: u32,
        cx: SendContext,
        frame: &mut Frame,
        events: &mut Vec<(u8, EventPacket)>,
    ) -> Slot {
        let mut slot = Slot::default();
        if self.current.is_none() {
            self.start_next(now, rtp_timestamp, cx);
        }
        let Some((sending, _)) = &mut self.current else {
            return slot;
        };
        let finished = match sending {
            Sending::Events {
                sender,
                payload_type,
            } => {
                while let Some(packet) = sender.poll_transmit(now) {
                    events.push((*payload_type, packet));
                }
                slot.pause_voice = sender.in_event(now);
                sender.poll_timeout().is_none()
            }
            Sending::Tones(tones) => {
                if tones.rate() != cx.sample_rate {
                    // The codec changed mid-string: the tones cannot follow.
                    self.fail_current("the codec changed while DTMF tones were being sent");
                    return slot;
                }
                tones.next_frame(frame);
                slot.tones = true;
                tones.is_idle()
            }
        };
        if finished {
            if let Some((_, done)) = self.current.take() {
                let _ = done.send(Ok(()));
            }
        }
        slot
    }

    fn start_next(&mut self, now: Instant, rtp_timestamp: u32, cx: SendContext) {
        let Some(request) = self.queue.pop_front() else {
            return;
        };
        let sending = match cx.event_payload_type {
            Some(payload_type) => {
                EventSender::new(cx.clock_rate, EVENT_INTERVAL_MS).and_then(|mut sender| {
                    sender.send(now, rtp_timestamp, &request.digits, request.duration_ms)?;
                    Ok(Sending::Events {
                        sender,
                        payload_type,
                    })
                })
            }
            None => DtmfGenerator::new(cx.sample_rate, ToneLevels::default()).map(|mut tones| {
                for &digit in &request.digits {
                    tones.push(digit, request.duration_ms, DEFAULT_GAP_MS);
                }
                Sending::Tones(tones)
            }),
        };
        match sending {
            Ok(sending) => self.current = Some((sending, request.done)),
            Err(e) => {
                let _ = request
                    .done
                    .send(Err(MediaError::Invalid(format!("cannot send DTMF: {e}"))));
            }
        }
    }

    /// Abandons every request (the stream stopped sending, or the session
    /// ends) with `why`.
    pub(super) fn fail_all(&mut self, why: impl Fn() -> MediaError) {
        if let Some((_, done)) = self.current.take() {
            let _ = done.send(Err(why()));
        }
        for request in self.queue.drain(..) {
            let _ = request.done.send(Err(why()));
        }
    }

    fn fail_current(&mut self, why: &str) {
        if let Some((_, done)) = self.current.take() {
            let _ = done.send(Err(MediaError::Invalid(why.into())));
        }
    }
}

/// The DTMF receivers of a session.
#[derive(Debug)]
pub(super) struct DtmfDetect {
    on: bool,
    events: Option<EventReceiver>,
    inband: Option<Inband>,
}

#[derive(Debug)]
struct Inband {
    detector: Detector,
    adapter: RateAdapter,
}

impl DtmfDetect {
    /// Detection on, nothing negotiated yet.
    pub(super) fn new() -> DtmfDetect {
        DtmfDetect {
            on: true,
            events: None,
            inband: None,
        }
    }

    /// Detection on or off; turning it on starts afresh.
    pub(super) fn set_on(&mut self, on: bool, stream: Option<(Option<u8>, u32, u32)>) {
        self.on = on;
        self.events = None;
        self.inband = None;
        if let Some((event_pt, clock_rate, decode_rate)) = stream {
            self.configure(event_pt, clock_rate, decode_rate);
        }
    }

    /// The stream's telephone-event payload type, RTP clock rate and decode
    /// rate (a configure or a codec change): the receivers start afresh.
    pub(super) fn configure(&mut self, event_pt: Option<u8>, clock_rate: u32, decode_rate: u32) {
        if !self.on {
            return;
        }
        self.events = EventReceiver::new(clock_rate).ok();
        self.inband = match event_pt {
            Some(_) => None,
            None => {
                // The detector runs at 8 or 16 kHz.
                let rate = if decode_rate == 16000 { 16000 } else { 8000 };
                Detector::new(rate).ok().map(|detector| Inband {
                    detector,
                    adapter: RateAdapter::new(rate),
                })
            }
        };
    }

    /// A telephone-event packet from the peer.
    pub(super) fn handle_event_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        marker: bool,
        seq: u16,
        payload: &[u8],
        out: &mut Vec<MediaEvent>,
    ) {
        if let Some(receiver) = &mut self.events {
            if let Err(e) = receiver.handle_packet(now, timestamp, marker, seq, payload) {
                tracing::debug!(error = %e, "malformed telephone-event packet dropped");
            }
            drain_events(receiver, out);
        }
    }

    /// Decoded audio from the peer (before the volume).
    pub(super) fn handle_audio(&mut self, frame: &Frame, out: &mut Vec<MediaEvent>) {
        let Some(inband) = &mut self.inband else {
            return;
        };
        let samples = &inband.adapter.convert(frame).samples;
        inband.detector.process(samples);
        while let Some(event) = inband.detector.poll_event() {
            if let ToneEvent::Ended {
                digit, duration_ms, ..
            } = event
            {
                out.push(MediaEvent::Dtmf {
                    digit: digit.to_char(),
                    duration_ms,
                    method: DtmfMethod::Inband,
                });
            }
        }
    }

    /// Ends a digit whose end packets were all lost.
    pub(super) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<MediaEvent>) {
        if let Some(receiver) = &mut self.events {
            receiver.handle_timeout(now);
            drain_events(receiver, out);
        }
    }
}

fn drain_events(receiver: &mut EventReceiver, out: &mut Vec<MediaEvent>) {
    while let Some(digit) = receiver.poll_event() {
        out.push(MediaEvent::Dtmf {
            digit: digit.digit.to_char(),
            duration_ms: digit.duration_ms,
            method: DtmfMethod::Rfc4733,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_with_the_reason() {
        assert_eq!(parse_request("12#", 100).unwrap().len(), 3);
        let e = parse_request("12x", 100).unwrap_err().to_string();
        assert!(e.contains("'x' is not a DTMF digit"), "{e}");
        let e = parse_request("1", 39).unwrap_err().to_string();
        assert!(e.contains("39 ms is outside 40..=10000 ms"), "{e}");
        let e = parse_request(&"1".repeat(33), 100).unwrap_err().to_string();
        assert!(e.contains("33 DTMF digits, at most 32"), "{e}");
        assert!(parse_request("", 100).is_err());
    }

    #[test]
    fn tones_fill_the_frame_then_the_request_resolves() {
        let mut send = DtmfSend::default();
        let (done, mut result) = oneshot::channel();
        send.push(Request {
            digits: vec![Digit::D1],
            duration_ms: 100,
            done,
        });
        let cx = SendContext {
            event_payload_type: None,
            clock_rate: 8000,
            sample_rate: 8000,
        };
        let now = testkit::FakeClock::new().now();
        let mut frame = Frame::default();
        let mut events = Vec::new();
        let mut slots = 0;
        while result.try_recv().is_err() {
            let slot = send.poll_slot(now, 0, cx, &mut frame, &mut events);
            assert!(slot.tones && events.is_empty());
            slots += 1;
            assert!(slots < 100);
        }
        assert_eq!(slots, 10, "100 ms of tone and 100 ms of gap");
    }
}
