//! Which codec a payload type carries, and the RTP facts that go with it.

/// Frame duration the engine uses on the wire, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// An audio codec Dialtone can encode and decode.
///
/// `telephone-event` (RFC 4733) and comfort noise are not codecs in this
/// sense: the `dtmf` module owns the former, and [`CodecKind::from_rtpmap`]
/// answers `None` for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// ITU-T G.711 μ-law, `PCMU/8000` (RFC 3551 §4.5.14), static payload type 0.
    Pcmu,
    /// ITU-T G.711 A-law, `PCMA/8000` (RFC 3551 §4.5.14), static payload type 8.
    Pcma,
    /// ITU-T G.722 at 64 kbit/s, `G722/8000` (RFC 3551 §4.5.2), static payload type 9.
    G722,
    /// Opus, `opus/48000/2` (RFC 7587), dynamic payload type.
    Opus,
}

impl CodecKind {
    /// The RFC 3551 §6 static payload type, or `None` for a codec that is
    /// always given a dynamic one (Opus).
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::G722 => Some(9),
            CodecKind::Opus => None,
        }
    }

    /// The codec a static payload type stands for (RFC 3551 §6), when we
    /// support it.
    pub fn from_static_payload_type(pt: u8) -> Option<CodecKind> {
        match pt {
            0 => Some(CodecKind::Pcmu),
            8 => Some(CodecKind::Pcma),
            9 => Some(CodecKind::G722),
            _ => None,
        }
    }

    /// RTP timestamp clock rate in Hz.
    ///
    /// G.722 samples audio at 16 kHz but its RTP clock runs at 8000 Hz, an
    /// error in RFC 1890 kept for compatibility (RFC 3551 §4.5.2). Opus always
    /// uses 48000 whatever rate it codes at (RFC 7587 §4.1).
    pub fn clock_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 8000,
            CodecKind::Opus => 48000,
        }
    }

    /// Sample rate of the PCM the codec takes and gives, in Hz.
    ///
    /// For Opus this is the default (full band, 48000); an Opus
    /// encoder or decoder may run at 8000, 12000, 16000 or 24000 instead, see
    /// [`super::OpusConfig`] and [`super::Decoder::opus`].
    pub fn sample_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma => 8000,
            CodecKind::G722 => 16000,
            CodecKind::Opus => 48000,
        }
    }

    /// The SDP `a=rtpmap` encoding name (RFC 4566 §6; matched
    /// case-insensitively).
    pub fn encoding_name(self) -> &'static str {
        match self {
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
            CodecKind::G722 => "G722",
            CodecKind::Opus => "opus",
        }
    }

    /// The channel count written in `a=rtpmap`: 2 for Opus, which RFC 7587
    /// §7 requires even for mono streams, else 1.
    pub fn rtpmap_channels(self) -> u8 {
        match self {
            CodecKind::Opus => 2,
            _ => 1,
        }
    }

    /// RTP timestamp increment for `ms` milliseconds of audio, in
    /// [`clock_rate`](Self::clock_rate) units.
    pub fn rtp_ticks(self, ms: u32) -> u32 {
        self.clock_rate() / 1000 * ms
    }

    /// RTP timestamp increment of one [`FRAME_MS`] (20 ms) frame: 160 for
    /// G.711 and G.722, 960 for Opus.
    pub fn frame_rtp_ticks(self) -> u32 {
        self.rtp_ticks(FRAME_MS)
    }

    /// The codec an `a=rtpmap:<pt> <name>/<clock_rate>` line names, if we
    /// support it. Names compare case-insensitively (RFC 4855 §3); the clock
    /// rate must be the one the codec's RTP mapping fixes, so
    /// `G722/16000` (a common mistake) is refused rather than played at the
    /// wrong speed.
    pub fn from_rtpmap(encoding_name: &str, clock_rate: u32) -> Option<CodecKind> {
        [
            CodecKind::Pcmu,
            CodecKind::Pcma,
            CodecKind::G722,
            CodecKind::Opus,
        ]
        .into_iter()
        .find(|k| {
            k.encoding_name().eq_ignore_ascii_case(encoding_name) && k.clock_rate() == clock_rate
        })
    }
}

impl std::fmt::Display for CodecKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.encoding_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_facts_follow_rfc_3551_and_7587() {
        let rows = [
            (CodecKind::Pcmu, Some(0), 8000, 8000, 160),
            (CodecKind::Pcma, Some(8), 8000, 8000, 160),
            (CodecKind::G722, Some(9), 8000, 16000, 160),
            (CodecKind::Opus, None, 48000, 48000, 960),
        ];
        for (kind, pt, clock, rate, ticks) in rows {
            assert_eq!(kind.static_payload_type(), pt, "{kind}");
            assert_eq!(kind.clock_rate(), clock, "{kind}");
            assert_eq!(kind.sample_rate(), rate, "{kind}");
            assert_eq!(kind.frame_rtp_ticks(), ticks, "{kind}");
            if let Some(pt) = pt {
                assert_eq!(CodecKind::from_static_payload_type(pt), Some(kind));
            }
        }
        assert_eq!(CodecKind::from_static_payload_type(18), None);
        assert_eq!(CodecKind::Opus.rtp_ticks(60), 2880);
    }

    #[test]
    fn rtpmap_names_map_back_case_insensitively() {
        for kind in [
            CodecKind::Pcmu,
            CodecKind::Pcma,
            CodecKind::G722,
            CodecKind::Opus,
        ] {
            let name = kind.encoding_name();
            assert_eq!(CodecKind::from_rtpmap(name, kind.clock_rate()), Some(kind));
            let lower = name.to_ascii_lowercase();
            assert_eq!(
                CodecKind::from_rtpmap(&lower, kind.clock_rate()),
                Some(kind)
            );
            let upper = name.to_ascii_uppercase();
            assert_eq!(
                CodecKind::from_rtpmap(&upper, kind.clock_rate()),
                Some(kind)
            );
        }
        assert_eq!(CodecKind::from_rtpmap("G722", 16000), None);
        assert_eq!(CodecKind::from_rtpmap("opus", 16000), None);
        assert_eq!(CodecKind::from_rtpmap("telephone-event", 8000), None);
        assert_eq!(CodecKind::from_rtpmap("G729", 8000), None);
        assert_eq!(CodecKind::Opus.rtpmap_channels(), 2);
        assert_eq!(CodecKind::Pcma.rtpmap_channels(), 1);
    }
}
