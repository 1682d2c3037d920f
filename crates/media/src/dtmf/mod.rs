//! DTMF: the sixteen keypad digits carried three ways, plus the tones
//! themselves.
//!
//! | path | module | what |
//! | --- | --- | --- |
//! | RTP `telephone-event` (RFC 4733) | [`rfc4733`] | [`EventReceiver`] turns event packets into one [`ReceivedDigit`] per key press; [`EventSender`] schedules the packets for a digit string |
//! | SIP INFO | [`info`] | `application/dtmf-relay` (`Signal=5\r\nDuration=160\r\n`) and `application/dtmf` bodies |
//! | in-band audio | [`goertzel`] | [`Detector`]: ITU-T Q.24 detection in 16-bit PCM at 8 or 16 kHz |
//! | tone generation | [`tone`] | [`DtmfGenerator`]: the Q.23 tone pairs for in-band sending (and for tests) |
//!
//! Every part is sans-IO: packets, bodies and samples in, events out, time
//! always a parameter.
//!
//! Levels are in dBm0 with the G.711 reference used across the media crate:
//! a full-scale 16-bit sine (peak 32 767) is +3.17 dBm0, so 0 dBm0 is a sine
//! of peak about 22 780 ([`dbm0_to_amplitude`]).

pub mod goertzel;
pub mod info;
pub mod rfc4733;
pub mod tone;

pub use goertzel::{Detector, DetectorConfig, ToneEvent};
pub use info::DtmfRelay;
pub use rfc4733::{
    event_packets, EventEnd, EventPacket, EventPayload, EventReceiver, EventSender, ReceivedDigit,
    ScheduledPacket,
};
pub use tone::{DtmfGenerator, DualTone, ToneLevels};

use std::fmt;

/// One DTMF key: `0`-`9`, `*`, `#` and the fourth-column keys `A`-`D`.
///
/// The discriminant is the RFC 4733 §3.2 event code: `0`-`9` are
/// 0-9, `*` is 10, `#` is 11, `A`-`D` are 12-15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Digit {
    /// Key `0`, event code 0.
    D0 = 0,
    /// Key `1`, event code 1.
    D1 = 1,
    /// Key `2`, event code 2.
    D2 = 2,
    /// Key `3`, event code 3.
    D3 = 3,
    /// Key `4`, event code 4.
    D4 = 4,
    /// Key `5`, event code 5.
    D5 = 5,
    /// Key `6`, event code 6.
    D6 = 6,
    /// Key `7`, event code 7.
    D7 = 7,
    /// Key `8`, event code 8.
    D8 = 8,
    /// Key `9`, event code 9.
    D9 = 9,
    /// `*`, event code 10.
    Star = 10,
    /// `#`, event code 11.
    Hash = 11,
    /// Key `A`, event code 12.
    A = 12,
    /// Key `B`, event code 13.
    B = 13,
    /// Key `C`, event code 14.
    C = 14,
    /// Key `D`, event code 15.
    D = 15,
}

impl Digit {
    /// All sixteen digits in event-code order.
    pub const ALL: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Hash,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// The digit for an RFC 4733 event code (0-15); `None` for the other
    /// events (flash, fax and modem tones, ...).
    pub fn from_event_code(code: u8) -> Option<Digit> {
        Digit::ALL.get(usize::from(code)).copied()
    }

    /// The RFC 4733 §3.2 event code, 0-15.
    pub fn event_code(self) -> u8 {
        self as u8
    }

    /// The digit for a keypad character: `0`-`9`, `*`, `#`, `A`-`D`
    /// (lower case `a`-`d` accepted too).
    pub fn from_char(c: char) -> Option<Digit> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return None,
        };
        Digit::from_event_code(code)
    }

    /// The keypad character, upper case for `A`-`D`.
    pub fn to_char(self) -> char {
        char::from(b"0123456789*#ABCD"[usize::from(self.event_code())])
    }

    /// The (low group, high group) tone frequencies in Hz, ITU-T Q.23.
    pub fn frequencies(self) -> (f64, f64) {
        let code = usize::from(self.event_code());
        let (row, col) = KEYPAD_POSITION[code];
        (LOW_GROUP_HZ[row], HIGH_GROUP_HZ[col])
    }

    /// The digit at a (low group index, high group index) keypad position,
    /// both 0-3 ([`LOW_GROUP_HZ`], [`HIGH_GROUP_HZ`]).
    pub fn from_tones(low: usize, high: usize) -> Option<Digit> {
        const KEYPAD: [[Digit; 4]; 4] = [
            [Digit::D1, Digit::D2, Digit::D3, Digit::A],
            [Digit::D4, Digit::D5, Digit::D6, Digit::B],
            [Digit::D7, Digit::D8, Digit::D9, Digit::C],
            [Digit::Star, Digit::D0, Digit::Hash, Digit::D],
        ];
        KEYPAD.get(low)?.get(high).copied()
    }
}

/// ITU-T Q.23 low-group (row) frequencies, Hz.
pub const LOW_GROUP_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];

/// ITU-T Q.23 high-group (column) frequencies, Hz.
pub const HIGH_GROUP_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// (row, column) of each digit, indexed by event code.
const KEYPAD_POSITION: [(usize, usize); 16] = [
    (3, 1), // 0
    (0, 0), // 1
    (0, 1), // 2
    (0, 2), // 3
    (1, 0), // 4
    (1, 1), // 5
    (1, 2), // 6
    (2, 0), // 7
    (2, 1), // 8
    (2, 2), // 9
    (3, 0), // *
    (3, 2), // #
    (0, 3), // A
    (1, 3), // B
    (2, 3), // C
    (3, 3), // D
];

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

impl From<Digit> for char {
    fn from(digit: Digit) -> char {
        digit.to_char()
    }
}

impl TryFrom<char> for Digit {
    type Error = DtmfError;

    fn try_from(c: char) -> Result<Digit, DtmfError> {
        Digit::from_char(c).ok_or(DtmfError::InvalidDigit(c))
    }
}

/// Parses a digit string such as `"123#"` (the API's `dtmf` field) into
/// digits. Every character must be a keypad character; an empty string is
/// an empty list.
pub fn parse_digits(s: &str) -> Result<Vec<Digit>, DtmfError> {
    s.chars().map(Digit::try_from).collect()
}

/// Peak amplitude, on the 16-bit scale, of a sine at `dbm0` (G.711
/// reference: full scale is +3.17 dBm0). Not clamped: levels above
/// +3.17 dBm0 exceed 32 767.
pub fn dbm0_to_amplitude(dbm0: f64) -> f64 {
    FULL_SCALE * 10f64.powf((dbm0 - FULL_SCALE_DBM0) / 20.0)
}

/// Level in dBm0 of a sine of mean power `power` (the square of the
/// 16-bit sample values, averaged), inverse of [`dbm0_to_amplitude`].
pub fn power_to_dbm0(power: f64) -> f64 {
    let zero_dbm0 = dbm0_to_amplitude(0.0);
    10.0 * (power / (zero_dbm0 * zero_dbm0 / 2.0)).log10()
}

/// Peak of a full-scale 16-bit sine.
const FULL_SCALE: f64 = 32_767.0;

/// Level of a full-scale sine, ITU-T G.711 (μ-law).
const FULL_SCALE_DBM0: f64 = 3.17;

/// What can go wrong in the DTMF module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// A character that is not one of `0-9 * # A-D`.
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    InvalidDigit(char),
    /// A `telephone-event` payload shorter than the 4 bytes of RFC 4733 §2.3.
    #[error("telephone-event payload of {0} bytes, at least 4 expected")]
    ShortPayload(usize),
    /// A SIP INFO body without a `Signal=` line.
    #[error("no Signal in the DTMF body")]
    MissingSignal,
    /// A SIP INFO `Signal` that names no DTMF digit.
    #[error("Signal {0:?} is not a DTMF digit")]
    InvalidSignal(String),
    /// A SIP INFO `Content-Type` that carries no DTMF.
    #[error("content type {0:?} is not application/dtmf-relay or application/dtmf")]
    UnsupportedContentType(String),
    /// A digit duration outside what the sender accepts.
    #[error("DTMF duration {ms} ms is outside {min}..={max} ms")]
    DurationOutOfRange {
        /// The duration asked for.
        ms: u32,
        /// Shortest accepted, ms.
        min: u32,
        /// Longest accepted, ms.
        max: u32,
    },
    /// A clock or sample rate the component cannot work at.
    #[error("unsupported rate {0} Hz")]
    UnsupportedRate(u32),
    /// A packetization interval (ms) the sender cannot use.
    #[error("unsupported packet interval {0} ms")]
    UnsupportedInterval(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_follow_rfc_4733_table_1() {
        let expected = [
            ('0', 0),
            ('1', 1),
            ('5', 5),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('B', 13),
            ('C', 14),
            ('D', 15),
        ];
        for (c, code) in expected {
            let digit = Digit::from_char(c).expect("a digit");
            assert_eq!(digit.event_code(), code, "{c}");
            assert_eq!(Digit::from_event_code(code), Some(digit));
            assert_eq!(digit.to_char(), c);
        }
        assert_eq!(Digit::from_event_code(16), None, "16 is flash, not a digit");
    }

    #[test]
    fn characters_round_trip_and_lower_case_letters_are_accepted() {
        for digit in Digit::ALL {
            assert_eq!(Digit::from_char(digit.to_char()), Some(digit));
            assert_eq!(digit.to_string(), digit.to_char().to_string());
        }
        assert_eq!(Digit::from_char('b'), Some(Digit::B));
        assert_eq!(Digit::try_from('E'), Err(DtmfError::InvalidDigit('E')));
        assert_eq!(Digit::from_char(' '), None);
    }

    #[test]
    fn digit_strings_parse_in_order_and_reject_strangers() {
        assert_eq!(
            parse_digits("12#a").expect("valid"),
            [Digit::D1, Digit::D2, Digit::Hash, Digit::A]
        );
        assert_eq!(parse_digits("1-2"), Err(DtmfError::InvalidDigit('-')));
    }

    #[test]
    fn keypad_frequencies_match_q23() {
        assert_eq!(Digit::D1.frequencies(), (697.0, 1209.0));
        assert_eq!(Digit::D5.frequencies(), (770.0, 1336.0));
        assert_eq!(Digit::D9.frequencies(), (852.0, 1477.0));
        assert_eq!(Digit::D0.frequencies(), (941.0, 1336.0));
        assert_eq!(Digit::Star.frequencies(), (941.0, 1209.0));
        assert_eq!(Digit::Hash.frequencies(), (941.0, 1477.0));
        assert_eq!(Digit::D.frequencies(), (941.0, 1633.0));
        for digit in Digit::ALL {
            let (low, high) = digit.frequencies();
            let row = LOW_GROUP_HZ.iter().position(|&f| f == low).expect("row");
            let col = HIGH_GROUP_HZ.iter().position(|&f| f == high).expect("col");
            assert_eq!(Digit::from_tones(row, col), Some(digit));
        }
    }

    #[test]
    fn zero_dbm0_is_3_17_db_below_full_scale() {
        let a = dbm0_to_amplitude(0.0);
        assert!((20.0 * (32_767.0 / a).log10() - 3.17).abs() < 1e-9);
        assert!((power_to_dbm0(a * a / 2.0)).abs() < 1e-9);
        let quiet = dbm0_to_amplitude(-26.0);
        assert!((power_to_dbm0(quiet * quiet / 2.0) + 26.0).abs() < 1e-9);
    }
}
