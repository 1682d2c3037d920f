//! Character classes and a small cursor for the RFC 3261 §25 grammar.
//!
//! Header values reach the cursor already unfolded (the parser turns a folding
//! `CRLF 1*WSP` into spaces), so linear white space is plain `SP`/`HTAB` here.

use crate::error::ParseError;

const TOKEN: u8 = 1;
const WORD: u8 = 2;
const UNRESERVED: u8 = 4;

/// Character classes of RFC 3261 §25.1, one table lookup each.
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        let token = alnum
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        let word = token
            || matches!(
                b,
                b'(' | b')'
                    | b'<'
                    | b'>'
                    | b':'
                    | b'\\'
                    | b'"'
                    | b'/'
                    | b'['
                    | b']'
                    | b'?'
                    | b'{'
                    | b'}'
            );
        let unreserved = alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        t[i] = (token as u8 * TOKEN) | (word as u8 * WORD) | (unreserved as u8 * UNRESERVED);
        i += 1;
    }
    t
};

/// RFC 3261 §25.1 `token` characters: alphanum and `-.!%*_+`'~`.
#[inline]
pub(crate) const fn is_token(b: u8) -> bool {
    CLASSES[b as usize] & TOKEN != 0
}

/// RFC 3261 §25.1 `word` characters: token plus `()<>:\"/[]?{}`.
#[inline]
pub(crate) const fn is_word(b: u8) -> bool {
    CLASSES[b as usize] & WORD != 0
}

/// `unreserved` = alphanum / mark.
#[inline]
pub(crate) const fn is_unreserved(b: u8) -> bool {
    CLASSES[b as usize] & UNRESERVED != 0
}

/// Characters allowed unescaped in the user part (`unreserved / user-unreserved`).
pub(crate) const fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

/// Characters allowed unescaped in a password.
pub(crate) const fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

/// `paramchar` without `escaped`.
pub(crate) const fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// `hnv-unreserved / unreserved` (URI header names and values).
pub(crate) const fn is_hnv_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

pub(crate) const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `UTF8-NONASCII` lead or continuation bytes are all >= 0x80.
pub(crate) const fn is_utf8_nonascii(b: u8) -> bool {
    b >= 0x80
}

/// Validates `%HH` escapes in `s`: every `%` must be followed by two hex digits.
pub(crate) fn escapes_ok(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if i + 2 >= s.len() {
                return false;
            }
            if !(s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Checks that `s` is non-empty and made only of `class` characters or `%HH` escapes.
pub(crate) fn all_escaped(s: &[u8], class: fn(u8) -> bool) -> bool {
    !s.is_empty() && s.iter().all(|&b| b == b'%' || class(b)) && escapes_ok(s)
}

/// Decodes `%HH` escapes once (never recursively: `%2541` becomes `%41`).
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a decimal integer of at most `max` without overflow; leading zeros are fine.
pub(crate) fn parse_u64(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// A cursor over one header value (already unfolded).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub s: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.s[self.pos.min(self.s.len())..]
    }

    /// Skips linear white space; returns whether any was skipped.
    pub fn skip_lws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if is_wsp(b)) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Skips LWS, then consumes `c` if it is next (and LWS after it): `SWS c SWS`.
    pub fn eat_sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.skip_lws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Takes the longest run of bytes matching `f` (may be empty).
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> (usize, usize) {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if f(b)) {
            self.pos += 1;
        }
        (start, self.pos)
    }

    /// Takes a non-empty `token`.
    pub fn token(&mut self, what: &'static str) -> Result<(usize, usize), ParseError> {
        let r = self.take_while(is_token);
        if r.0 == r.1 {
            return Err(self.unexpected(what));
        }
        Ok(r)
    }

    /// Takes a `quoted-string` (RFC 3261 §25.1), returning the range including the quotes.
    pub fn quoted_string(&mut self) -> Result<(usize, usize), ParseError> {
        let start = self.pos;
        if !self.eat(b'"') {
            return Err(self.unexpected("'\"'"));
        }
        loop {
            match self.peek() {
                None => return Err(ParseError::bad("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok((start, self.pos));
                }
                Some(b'\\') => {
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                    match self.s.get(self.pos + 1) {
                        Some(&b) if b <= 0x7f && b != b'\n' && b != b'\r' => self.pos += 2,
                        _ => return Err(ParseError::bad("invalid quoted-pair in quoted string")),
                    }
                }
                Some(b) if b == b'\t' || b == b' ' || b == 0x21 || (0x23..=0x7e).contains(&b) => {
                    self.pos += 1
                }
                Some(b) if is_utf8_nonascii(b) => self.pos += 1,
                Some(_) => {
                    return Err(ParseError::bad("control character in quoted string"));
                }
            }
        }
    }

    pub fn unexpected(&self, what: &'static str) -> ParseError {
        match self.peek() {
            None => ParseError::bad_owned(format!("expected {what}, found end of value")),
            Some(b) if b.is_ascii_graphic() => {
                ParseError::bad_owned(format!("expected {what}, found '{}'", b as char))
            }
            Some(b) => ParseError::bad_owned(format!("expected {what}, found byte 0x{b:02x}")),
        }
    }
}

/// A zero-copy sub-slice of `owner` for `part`, which normally lies inside it;
/// if it does not (a programming slip), the bytes are copied instead of panicking,
/// so wire input can never crash the parser through this path.
pub(crate) fn sub(owner: &bytes::Bytes, part: &[u8]) -> bytes::Bytes {
    let base = owner.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    if start >= base && start + part.len() <= base + owner.len() {
        owner.slice(start - base..start - base + part.len())
    } else {
        debug_assert!(part.is_empty(), "sub-slice outside its owner");
        bytes::Bytes::copy_from_slice(part)
    }
}
