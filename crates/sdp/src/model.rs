//! The SDP model (RFC 8866 §5): a session part and media descriptions, each
//! line kept in order so a description re-serializes as it was read.

use std::fmt::{self, Write as _};

/// Why a description was rejected; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("SDP: {0}")]
    Structure(String),
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: u64,
    pub nettype: String,
    pub addrtype: String,
    pub address: String,
}

/// `c=<nettype> <addrtype> <address>` (`IN IP4 192.0.2.1`, `IN IP6 ::1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub nettype: String,
    pub addrtype: String,
    pub address: String,
}

impl Connection {
    /// `IN IP4 a.b.c.d` or `IN IP6 x::y` for an address given as text.
    pub fn for_address(address: &str) -> Connection {
        let addrtype = if address.contains(':') { "IP6" } else { "IP4" };
        Connection {
            nettype: "IN".into(),
            addrtype: addrtype.into(),
            address: address.into(),
        }
    }
}

/// `a=<name>[:<value>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    pub fn new(name: &str, value: Option<&str>) -> Attribute {
        Attribute {
            name: name.into(),
            value: value.map(Into::into),
        }
    }
}

/// Media direction (RFC 3264 §5.1, §8.4: hold is `sendonly` or `inactive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_name(name: &str) -> Option<Direction> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The direction an answerer uses for an offer with `self` (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// A codec of a media line: payload type with its `rtpmap` (or the static
/// assignment of RFC 3551 when there is none) and `fmtp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub payload_type: u8,
    pub name: String,
    pub clock_rate: u32,
    pub channels: u8,
    pub fmtp: Option<String>,
}

/// One `m=` section and the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub media: String,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<Connection>,
    /// Other lines (`i=`, `b=`, `k=`) in order, as `(type, value)`.
    pub other: Vec<(char, String)>,
    pub attributes: Vec<Attribute>,
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    pub connection: Option<Connection>,
    /// Session-level lines other than v/o/s/c/a/m (`i=`, `u=`, `e=`, `p=`, `b=`, `t=`, `r=`, `z=`, `k=`), in order.
    pub other: Vec<(char, String)>,
    pub attributes: Vec<Attribute>,
    pub media: Vec<MediaDescription>,
}

/// RFC 3551 static payload types Dialtone may meet.
fn static_codec(pt: u8) -> Option<(&'static str, u32, u8)> {
    Some(match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        13 => ("CN", 8000, 1),
        18 => ("G729", 8000, 1),
        _ => return None,
    })
}

fn find_attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attrs.iter().find(|a| a.name == name)
}

impl MediaDescription {
    /// A new media line with no attributes.
    pub fn new(media: &str, port: u16, proto: &str, formats: Vec<String>) -> MediaDescription {
        MediaDescription {
            media: media.into(),
            port,
            port_count: None,
            proto: proto.into(),
            formats,
            connection: None,
            other: Vec::new(),
            attributes: Vec::new(),
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attr(&self.attributes, name)
    }

    /// The codecs offered on this line, in preference order.
    pub fn codecs(&self) -> Vec<Codec> {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter_map(|pt| self.codec(pt))
            .collect()
    }

    /// The codec for one payload type, if it is described (rtpmap or static).
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        let prefix = format!("{pt} ");
        let fmtp = self
            .attributes
            .iter()
            .filter(|a| a.name == "fmtp")
            .find_map(|a| {
                a.value
                    .as_deref()?
                    .strip_prefix(&prefix)
                    .map(|v| v.trim().to_owned())
            });
        let rtpmap = self
            .attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .find_map(|a| a.value.as_deref()?.strip_prefix(&prefix).map(str::trim));
        let (name, clock_rate, channels) = match rtpmap {
            Some(map) => {
                let mut parts = map.split('/');
                let name = parts.next()?.to_owned();
                let clock = parts.next()?.parse().ok()?;
                let channels = parts.next().map_or(Some(1), |c| c.parse().ok())?;
                (name, clock, channels)
            }
            None => {
                let (n, c, ch) = static_codec(pt)?;
                (n.to_owned(), c, ch)
            }
        };
        Some(Codec {
            payload_type: pt,
            name,
            clock_rate,
            channels,
            fmtp,
        })
    }

    /// Direction attribute of this line, else `session` default (RFC 3264 §5.1).
    pub fn direction_or(&self, session: Direction) -> Direction {
        self.attributes
            .iter()
            .find_map(|a| Direction::from_name(&a.name))
            .unwrap_or(session)
    }

    /// Direction of this line (`sendrecv` when absent).
    pub fn direction(&self) -> Direction {
        self.direction_or(Direction::SendRecv)
    }

    /// Replaces any direction attribute with `dir`.
    pub fn set_direction(&mut self, dir: Direction) {
        self.attributes
            .retain(|a| Direction::from_name(&a.name).is_none());
        self.attributes.push(Attribute::new(dir.as_str(), None));
    }

    /// RTCP port: `a=rtcp:<port>` (RFC 3605) or RTP port + 1.
    pub fn rtcp_port(&self) -> u16 {
        self.attribute("rtcp")
            .and_then(|a| a.value.as_deref()?.split_whitespace().next()?.parse().ok())
            .unwrap_or(self.port.saturating_add(1))
    }

    /// Whether the line was rejected or disabled (port 0, RFC 3264 §6).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }
}

impl SessionDescription {
    /// Parses SDP text. Lines end in CRLF; a bare LF is accepted too (RFC 8866 §5).
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut other = Vec::new();
        let mut attributes = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut seen_version = false;
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            let err = |reason: &str| SdpError::Line {
                line: line_no,
                reason: reason.to_owned(),
            };
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
                return Err(err("not of the form <type>=<value>"));
            }
            let kind = bytes[0] as char;
            let value = &line[2..];
            if !seen_version {
                if kind != 'v' {
                    return Err(err("the first line must be v=0"));
                }
                if value != "0" {
                    return Err(err("unsupported SDP version"));
                }
                seen_version = true;
                continue;
            }
            match (kind, media.last_mut()) {
                ('v', _) => return Err(err("v= appears twice")),
                ('o', None) => {
                    origin = Some(parse_origin(value).ok_or_else(|| err("malformed o= line"))?)
                }
                ('s', None) => session_name = Some(value.to_owned()),
                ('c', None) => {
                    connection =
                        Some(parse_connection(value).ok_or_else(|| err("malformed c= line"))?)
                }
                ('c', Some(m)) => {
                    m.connection =
                        Some(parse_connection(value).ok_or_else(|| err("malformed c= line"))?)
                }
                ('a', None) => attributes.push(parse_attribute(value)),
                ('a', Some(m)) => m.attributes.push(parse_attribute(value)),
                ('m', _) => media.push(parse_media(value).ok_or_else(|| err("malformed m= line"))?),
                (k, None) => other.push((k, value.to_owned())),
                (k @ ('i' | 'b' | 'k'), Some(m)) => m.other.push((k, value.to_owned())),
                (_, Some(_)) => return Err(err("line type not allowed in a media description")),
            }
        }
        let origin = origin.ok_or_else(|| SdpError::Structure("missing o= line".into()))?;
        let session_name =
            session_name.ok_or_else(|| SdpError::Structure("missing s= line".into()))?;
        for (i, m) in media.iter().enumerate() {
            if m.connection.is_none() && connection.is_none() && m.port != 0 {
                return Err(SdpError::Structure(format!(
                    "media line {} has no c= line and the session has none",
                    i + 1
                )));
            }
        }
        Ok(SessionDescription {
            origin,
            session_name,
            connection,
            other,
            attributes,
            media,
        })
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attr(&self.attributes, name)
    }

    /// The session-level direction (`sendrecv` when absent).
    pub fn direction(&self) -> Direction {
        self.attributes
            .iter()
            .find_map(|a| Direction::from_name(&a.name))
            .unwrap_or(Direction::SendRecv)
    }

    /// Connection address for media line `i` (its own c=, else the session's).
    pub fn media_address(&self, i: usize) -> Option<&str> {
        let m = self.media.get(i)?;
        m.connection
            .as_ref()
            .or(self.connection.as_ref())
            .map(|c| c.address.as_str())
    }

    /// Points every media line at `address` and the given RTP ports (one per
    /// media line, in order; RTCP is RTP+1) and bumps the origin version:
    /// what a B2BUA does to anchor media (RFC 3264 §8: a changed offer
    /// increments the version).
    pub fn rewrite_addresses(&mut self, address: &str, ports: &[u16]) {
        self.connection = Some(Connection::for_address(address));
        self.origin.address = address.to_owned();
        self.origin.addrtype = Connection::for_address(address).addrtype;
        for (m, &port) in self.media.iter_mut().zip(ports) {
            m.connection = None;
            if m.port != 0 {
                m.port = port;
            }
            m.attributes.retain(|a| {
                a.name != "rtcp" && a.name != "candidate" && a.name != "end-of-candidates"
            });
        }
        self.origin.session_version += 1;
    }

    /// Serializes with CRLF line ends, in RFC 8866 §5 order.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        let mut out = String::with_capacity(512);
        out.push_str("v=0\r\n");
        let _ = write!(
            out,
            "o={} {} {} {} {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.nettype,
            o.addrtype,
            o.address,
            self.session_name
        );
        // RFC 8866 §5 order: i u e p c b t r z k a.
        let order = |k: char| "iuepcbtrzk".find(k).unwrap_or(10);
        let mut before_c: Vec<_> = self
            .other
            .iter()
            .filter(|(k, _)| order(*k) < order('c'))
            .collect();
        let after_c: Vec<_> = self
            .other
            .iter()
            .filter(|(k, _)| order(*k) > order('c'))
            .collect();
        before_c.sort_by_key(|(k, _)| order(*k));
        for (k, v) in before_c {
            let _ = write!(out, "{k}={v}\r\n");
        }
        if let Some(c) = &self.connection {
            let _ = write!(out, "c={} {} {}\r\n", c.nettype, c.addrtype, c.address);
        }
        let mut has_t = false;
        for (k, v) in after_c {
            has_t |= *k == 't';
            let _ = write!(out, "{k}={v}\r\n");
        }
        if !has_t {
            out.push_str("t=0 0\r\n");
        }
        write_attrs(&mut out, &self.attributes);
        for m in &self.media {
            let _ = write!(out, "m={} {}", m.media, m.port);
            if let Some(n) = m.port_count {
                let _ = write!(out, "/{n}");
            }
            let _ = write!(out, " {}", m.proto);
            for fmt in &m.formats {
                let _ = write!(out, " {fmt}");
            }
            out.push_str("\r\n");
            for (k, v) in m.other.iter().filter(|(k, _)| *k == 'i') {
                let _ = write!(out, "{k}={v}\r\n");
            }
            if let Some(c) = &m.connection {
                let _ = write!(out, "c={} {} {}\r\n", c.nettype, c.addrtype, c.address);
            }
            for (k, v) in m.other.iter().filter(|(k, _)| *k != 'i') {
                let _ = write!(out, "{k}={v}\r\n");
            }
            write_attrs(&mut out, &m.attributes);
        }
        f.write_str(&out)
    }
}

fn write_attrs(out: &mut String, attrs: &[Attribute]) {
    for a in attrs {
        match &a.value {
            Some(v) => {
                let _ = write!(out, "a={}:{v}\r\n", a.name);
            }
            None => {
                let _ = write!(out, "a={}\r\n", a.name);
            }
        }
    }
}

fn parse_origin(v: &str) -> Option<Origin> {
    let p: Vec<&str> = v.split(' ').collect();
    if p.len() != 6 || p.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(Origin {
        username: p[0].into(),
        session_id: p[1].into(),
        session_version: p[2].parse().ok()?,
        nettype: p[3].into(),
        addrtype: p[4].into(),
        address: p[5].into(),
    })
}

fn parse_connection(v: &str) -> Option<Connection> {
    let p: Vec<&str> = v.split(' ').collect();
    if p.len() != 3 || p.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(Connection {
        nettype: p[0].into(),
        addrtype: p[1].into(),
        address: p[2].into(),
    })
}

fn parse_attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((n, val)) => Attribute {
            name: n.into(),
            value: Some(val.into()),
        },
        None => Attribute {
            name: v.into(),
            value: None,
        },
    }
}

fn parse_media(v: &str) -> Option<MediaDescription> {
    let mut p = v.split(' ');
    let media = p.next()?.to_owned();
    let port_text = p.next()?;
    let (port, port_count) = match port_text.split_once('/') {
        Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
        None => (port_text.parse().ok()?, None),
    };
    let proto = p.next()?.to_owned();
    let formats: Vec<String> = p.map(str::to_owned).collect();
    if media.is_empty()
        || proto.is_empty()
        || formats.is_empty()
        || formats.iter().any(String::is_empty)
    {
        return None;
    }
    Some(MediaDescription {
        media,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        other: Vec::new(),
        attributes: Vec::new(),
    })
}
