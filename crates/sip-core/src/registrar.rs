//! A registrar's location service: bindings of an address of record to
//! contact addresses (RFC 3261 §10.3; `Contact: *` §10.2.2; 423 and
//! Min-Expires §10.3 step 7, §20.23).
//!
//! Sans-IO: time comes in as `now`, expiry goes out through
//! [`Registrar::poll_timeout`] / [`Registrar::handle_timeout`]. The registrar
//! trusts the `aor` it is given: authenticate the request first (see
//! [`crate::Authenticator`]) and check that the user may register that AOR.
//!
//! Each binding remembers where its REGISTER came from (`source`,
//! `transport`): behind NAT the Contact names a private address, and calls
//! to the AOR go to `source` instead.
//!
//! Choices where RFC 3261 leaves room:
//! - A REGISTER whose Call-ID matches a binding's and whose CSeq is not
//!   higher (§10.3 step 6 and 7) fails as a whole with 500, nothing changed
//!   (the "all or nothing" rule of step 7).
//! - More than [`RegistrarConfig::max_bindings_per_aor`] bindings: the ones
//!   updated longest ago (not touched by this request) are dropped, so a phone
//!   that re-registers from a new address is never locked out by its own
//!   stale bindings. A request that alone names more new contacts than the
//!   cap gets 403.
//! - A Contact is identified by URI equivalence (§19.1.4); RFC 5626
//!   `+sip.instance`/`reg-id` flows are not distinguished.
//!
//! How the switch drives it:
//!
//! ```
//! use sip_core::{RegisterOutcome, Registrar, RegistrarConfig};
//! use sip::{Response, Transport};
//! use std::time::Duration;
//!
//! let mut clock = testkit::FakeClock::new(); // the driver passes the real time
//! let mut registrar = Registrar::new(RegistrarConfig::default());
//! let req = sip::parse_message(
//!     b"REGISTER sip:pbx.example SIP/2.0\r\n\
//!       Via: SIP/2.0/UDP 10.1.1.5:5060;branch=z9hG4bK1\r\n\
//!       From: <sip:1001@pbx.example>;tag=1\r\nTo: <sip:1001@pbx.example>\r\n\
//!       Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\nExpires: 120\r\n\
//!       Contact: <sip:1001@10.1.1.5:5060>\r\nContent-Length: 0\r\n\r\n",
//! ).unwrap().into_request().unwrap();
//! let source = "203.0.113.7:40001".parse().unwrap(); // the NAT's public side
//!
//! // `1001` is the user the Authenticator accepted.
//! let resp = match registrar.register(clock.now(), "1001", &req, source, Transport::Udp) {
//!     RegisterOutcome::Ok { headers, .. } => {
//!         let mut resp = Response::for_request(&req, 200, "OK");
//!         headers.into_iter().for_each(|h| resp.headers.push(h));
//!         resp
//!     }
//!     RegisterOutcome::Reject { status, reason, headers } => {
//!         let mut resp = Response::for_request(&req, status, &reason);
//!         headers.into_iter().for_each(|h| resp.headers.push(h));
//!         resp
//!     }
//! };
//! assert_eq!(resp.status, 200);
//! // Calls to 1001 go where the REGISTER came from.
//! assert_eq!(registrar.bindings("1001").next().unwrap().source, source);
//!
//! // The driver sleeps until the next expiry and collects what expired.
//! clock.set(registrar.poll_timeout().unwrap());
//! let gone = registrar.handle_timeout(clock.now());
//! assert_eq!(gone.len(), 1);
//! assert_eq!(clock.elapsed(), Duration::from_secs(120));
//! assert!(registrar.bindings("1001").next().is_none());
//! ```

use sip::{Contact, Header, HeaderName, Method, ParseError, Request, Transport, Uri};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Registration intervals and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest nonzero interval accepted; shorter gets 423 (default 60 s).
    pub min_expires: u32,
    /// Longer requested intervals are cut to this (default 3600 s).
    pub max_expires: u32,
    /// Interval when the request names none (default 3600 s).
    pub default_expires: u32,
    /// Bindings one AOR may have (default 10).
    pub max_bindings_per_aor: usize,
}

/// One contact address of an AOR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub aor: String,
    pub contact: Uri,
    /// Where the REGISTER came from: requests for this binding go here.
    pub source: SocketAddr,
    pub transport: Transport,
    /// `User-Agent` of the REGISTER, empty if none.
    pub user_agent: String,
    pub call_id: String,
    pub cseq: u32,
    pub expires_at: Instant,
    pub updated_at: Instant,
}

/// What to answer a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 200 OK with these headers: one Contact per current binding with its
    /// remaining `expires` (RFC 3261 §10.3 step 8). `changed` is true when a
    /// binding was added or removed or now points elsewhere (another
    /// contact text, source or transport); a plain refresh is not a change.
    Ok { headers: Vec<Header>, changed: bool },
    /// Answer with this status, reason and headers; nothing was changed.
    /// 400 (malformed, or `*` misused), 403 (too many contacts), 423 with
    /// Min-Expires, 500 (CSeq not higher than a binding's for its Call-ID).
    Reject {
        status: u16,
        reason: String,
        headers: Vec<Header>,
    },
}

/// The bindings of every AOR.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    aors: HashMap<String, Vec<Binding>>,
    /// The earliest `expires_at` of all bindings.
    next_expiry: Option<Instant>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_aor: 10,
        }
    }
}

impl Binding {
    /// Seconds left, rounded up (what a 200 to REGISTER reports).
    pub fn remaining_secs(&self, now: Instant) -> u64 {
        let left = self.expires_at.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

/// One Contact of the request, with the interval the registrar granted.
struct Requested {
    uri: Uri,
    expires: u32,
}

/// A binding being built by one request; `touched` if the request named it.
struct Draft {
    binding: Binding,
    touched: bool,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            aors: HashMap::new(),
            next_expiry: None,
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Processes a REGISTER for `aor` (the authenticated user) that came
    /// from `source` over `transport` (RFC 3261 §10.3 steps 6-8).
    pub fn register(
        &mut self,
        now: Instant,
        aor: &str,
        req: &Request,
        source: SocketAddr,
        transport: Transport,
    ) -> RegisterOutcome {
        if req.method != Method::Register {
            return reject(400, "Not a REGISTER request".into(), Vec::new());
        }
        let parsed = (|| {
            let call_id = req.headers.call_id()?;
            let cseq = req.headers.cseq()?;
            Ok::<_, ParseError>((
                String::from_utf8_lossy(&call_id).into_owned(),
                cseq.seq,
                req.headers.expires()?,
                req.headers.contact()?,
            ))
        })();
        let (call_id, cseq, expires_header, contact) = match parsed {
            Ok(p) => p,
            Err(e) => return reject(e.status, e.reason.into_owned(), Vec::new()),
        };
        let user_agent = req
            .headers
            .get(&HeaderName::UserAgent)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
            .unwrap_or_default();
        let request = RequestFacts {
            aor,
            call_id,
            cseq,
            source,
            transport,
            user_agent,
        };
        match contact {
            // §10.3 step 6 note: no Contact is a query for the bindings.
            None => RegisterOutcome::Ok {
                headers: self.contact_headers(now, aor),
                changed: false,
            },
            Some(Contact::Star) => self.remove_all(now, &request, expires_header),
            Some(Contact::Addrs(list)) => {
                let mut wanted = Vec::with_capacity(list.len());
                for na in list {
                    let requested = na
                        .params
                        .value("expires")
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok())
                        .or(expires_header)
                        .unwrap_or(self.config.default_expires);
                    if requested != 0 && requested < self.config.min_expires {
                        return self.interval_too_brief();
                    }
                    wanted.push(Requested {
                        uri: na.uri,
                        expires: requested.min(self.config.max_expires),
                    });
                }
                self.update(now, &request, wanted)
            }
        }
    }

    /// The bindings of `aor`: those not yet removed by [`Registrar::handle_timeout`].
    pub fn bindings<'a>(&'a self, aor: &str) -> impl Iterator<Item = &'a Binding> + 'a {
        self.aors.get(aor).into_iter().flatten()
    }

    /// Every binding of every AOR.
    pub fn all(&self) -> impl Iterator<Item = &Binding> {
        self.aors.values().flatten()
    }

    /// Forgets every binding of `aor` (the extension was deleted).
    pub fn remove_aor(&mut self, aor: &str) {
        if self.aors.remove(aor).is_some() {
            self.recompute_next_expiry();
        }
    }

    /// When the next binding expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_expiry
    }

    /// Removes the bindings expired by `now` and returns them.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Binding> {
        if self.next_expiry.is_none_or(|t| t > now) {
            return Vec::new();
        }
        let mut gone = Vec::new();
        self.aors.retain(|_, list| {
            let (expired, kept): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|b| b.expires_at <= now);
            gone.extend(expired);
            *list = kept;
            !list.is_empty()
        });
        self.recompute_next_expiry();
        gone
    }

    /// §10.2.2, §10.3 step 6: `Contact: *` with `Expires: 0` removes all.
    fn remove_all(
        &mut self,
        now: Instant,
        r: &RequestFacts<'_>,
        expires: Option<u32>,
    ) -> RegisterOutcome {
        if expires != Some(0) {
            return reject(400, "Contact '*' requires Expires: 0".into(), Vec::new());
        }
        let current = self.aors.get(r.aor).map(Vec::as_slice).unwrap_or_default();
        if current.iter().any(|b| r.is_out_of_order(b)) {
            return out_of_order();
        }
        let changed = self.aors.remove(r.aor).is_some();
        if changed {
            self.recompute_next_expiry();
        }
        RegisterOutcome::Ok {
            headers: self.contact_headers(now, r.aor),
            changed,
        }
    }

    /// §10.3 step 7: add, refresh or remove each contact; commit only if all succeed.
    fn update(
        &mut self,
        now: Instant,
        r: &RequestFacts<'_>,
        wanted: Vec<Requested>,
    ) -> RegisterOutcome {
        let current = self.aors.get(r.aor).map(Vec::as_slice).unwrap_or_default();
        let stale_cseq = wanted.iter().any(|w| {
            current
                .iter()
                .any(|b| b.contact.equivalent(&w.uri) && r.is_out_of_order(b))
        });
        if stale_cseq {
            return out_of_order();
        }
        let mut drafts: Vec<Draft> = current
            .iter()
            .map(|b| Draft {
                binding: b.clone(),
                touched: false,
            })
            .collect();
        let mut changed = false;
        for w in wanted {
            let found = drafts
                .iter()
                .position(|d| d.binding.contact.equivalent(&w.uri));
            let expires_at = now + Duration::from_secs(w.expires.into());
            match found {
                Some(i) if w.expires == 0 => {
                    drafts.remove(i);
                    changed = true;
                }
                Some(i) => {
                    let b = &mut drafts[i].binding;
                    changed |= b.contact.as_bytes() != w.uri.as_bytes()
                        || b.source != r.source
                        || b.transport != r.transport;
                    *b = r.binding(w.uri, expires_at, now);
                    drafts[i].touched = true;
                }
                None if w.expires == 0 => {}
                None => {
                    drafts.push(Draft {
                        binding: r.binding(w.uri, expires_at, now),
                        touched: true,
                    });
                    changed = true;
                }
            }
        }
        match self.enforce_cap(now, &mut drafts) {
            Ok(dropped) => changed |= dropped,
            Err(outcome) => return outcome,
        }
        let bindings: Vec<Binding> = drafts.into_iter().map(|d| d.binding).collect();
        if bindings.is_empty() {
            self.aors.remove(r.aor);
        } else {
            self.aors.insert(r.aor.to_owned(), bindings);
        }
        self.recompute_next_expiry();
        RegisterOutcome::Ok {
            headers: self.contact_headers(now, r.aor),
            changed,
        }
    }

    /// Keeps at most `max_bindings_per_aor` live bindings by dropping the
    /// least recently updated untouched ones; true if any was dropped.
    fn enforce_cap(&self, now: Instant, drafts: &mut Vec<Draft>) -> Result<bool, RegisterOutcome> {
        let cap = self.config.max_bindings_per_aor;
        let live = |d: &Draft| d.binding.expires_at > now;
        let touched = drafts.iter().filter(|d| d.touched && live(d)).count();
        if touched > cap {
            return Err(reject(
                403,
                format!("Too many contacts (at most {cap} per address of record)"),
                Vec::new(),
            ));
        }
        let mut dropped = false;
        while drafts.iter().filter(|d| live(d)).count() > cap {
            let oldest = drafts
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.touched && live(d))
                .min_by_key(|(_, d)| d.binding.updated_at)
                .map(|(i, _)| i)
                .expect("more live bindings than the cap, and at most cap of them touched");
            drafts.remove(oldest);
            dropped = true;
        }
        Ok(dropped)
    }

    fn interval_too_brief(&self) -> RegisterOutcome {
        reject(
            423,
            "Interval Too Brief".into(),
            vec![Header::new(
                HeaderName::MinExpires,
                self.config.min_expires.to_string(),
            )],
        )
    }

    /// §10.3 step 8: one Contact per binding not yet expired, with `expires`.
    fn contact_headers(&self, now: Instant, aor: &str) -> Vec<Header> {
        self.bindings(aor)
            .filter(|b| b.expires_at > now)
            .map(|b| {
                Header::new(
                    HeaderName::Contact,
                    format!("<{}>;expires={}", b.contact, b.remaining_secs(now)),
                )
            })
            .collect()
    }

    fn recompute_next_expiry(&mut self) {
        self.next_expiry = self.all().map(|b| b.expires_at).min();
    }
}

/// What one REGISTER says about its sender.
struct RequestFacts<'a> {
    aor: &'a str,
    call_id: String,
    cseq: u32,
    source: SocketAddr,
    transport: Transport,
    user_agent: String,
}

impl RequestFacts<'_> {
    /// §10.3 step 7: same Call-ID and a CSeq not higher than the binding's.
    fn is_out_of_order(&self, b: &Binding) -> bool {
        b.call_id == self.call_id && self.cseq <= b.cseq
    }

    fn binding(&self, contact: Uri, expires_at: Instant, now: Instant) -> Binding {
        Binding {
            aor: self.aor.to_owned(),
            contact,
            source: self.source,
            transport: self.transport.clone(),
            user_agent: self.user_agent.clone(),
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            expires_at,
            updated_at: now,
        }
    }
}

fn reject(status: u16, reason: String, headers: Vec<Header>) -> RegisterOutcome {
    RegisterOutcome::Reject {
        status,
        reason,
        headers,
    }
}

fn out_of_order() -> RegisterOutcome {
    reject(
        500,
        "Server Internal Error: CSeq not higher than the binding's for this Call-ID".into(),
        Vec::new(),
    )
}
