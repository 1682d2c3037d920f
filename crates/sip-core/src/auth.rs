//! Digest authentication of incoming requests (RFC 3261 §22.2, §22.3;
//! RFC 7616 §3.3-§3.5; RFC 8760 §2.4 for offering SHA-256 and MD5 together).
//!
//! An [`Authenticator`] answers one question per request: is it signed by a
//! known user, and if not, what do we answer? It is sans-IO like the rest of
//! this crate: the current time comes in as `now`, randomness from a seeded
//! generator, and it keeps only bounded, expiring state.
//!
//! - **Nonces verify without state.** A nonce is
//!   `hex(instance ‖ issue-time ‖ serial ‖ random ‖ HMAC-SHA256(secret, …)[..16])`. A
//!   bad MAC means "not ours" (a fresh challenge); a nonce older than
//!   [`AuthConfig::nonce_ttl`], or from an earlier run of the process, is
//!   stale (`stale=true`, but only when the digest was right, RFC 7616 §3.3).
//! - **Replays fail.** The highest `nc` used with each nonce is kept until the
//!   nonce expires; a request must raise it.
//! - **No user enumeration.** An unknown user is checked against a random
//!   password, so the answer is the same as for a wrong one.
//! - **Lockout.** Failed credentials are counted per source IP and per
//!   username; at [`LockoutPolicy::max_failures`] within the window the key
//!   gets 403 for [`LockoutPolicy::lock_for`] (the request that reaches the
//!   limit already gets it). Requests answered 403 are not counted, so a lock
//!   ends on time. A success clears the username's count, not the IP's.
//!
//! A *failure* is credentials for our realm that were checked and are wrong:
//! wrong password, unknown user, malformed or missing fields, `uri` other
//! than the Request-URI (compared as strings), no `qop=auth`, an algorithm
//! other than MD5 or SHA-256. Not failures, because no password was tested
//! or the password was right: no credentials, credentials only for other
//! realms, a nonce that is not ours (e.g. after a secret change; all phones
//! behind one NAT would otherwise lock their office out), a stale nonce or
//! a reused `nc` with the right digest (both answered `stale=true`).
//!
//! How the switch uses it, with the [`crate::Registrar`] (a phone registering):
//!
//! ```
//! use sip_core::{AuthConfig, AuthOutcome, Authenticator, Challenger};
//! use sip_core::{RegisterOutcome, Registrar, RegistrarConfig};
//! use sip::digest::{AuthHeader, DigestCredentials};
//! use sip::{Header, HeaderName, Response, Transport};
//!
//! let now = testkit::FakeClock::new().now(); // the driver passes the real time
//! let mut auth = Authenticator::new(AuthConfig::new("pbx.example", [7; 32]), 42);
//! let mut registrar = Registrar::new(RegistrarConfig::default());
//! let password_of = |user: &str| (user == "1001").then(|| "secret".to_string());
//! let source: std::net::SocketAddr = "192.0.2.10:5060".parse().unwrap();
//!
//! let register = |authorization: Option<String>| {
//!     let mut text = String::from(
//!         "REGISTER sip:pbx.example SIP/2.0\r\n\
//!          Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
//!          From: <sip:1001@pbx.example>;tag=1\r\nTo: <sip:1001@pbx.example>\r\n\
//!          Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@192.0.2.10:5060>\r\n",
//!     );
//!     if let Some(a) = authorization {
//!         text += &format!("Authorization: {a}\r\n");
//!     }
//!     text += "Content-Length: 0\r\n\r\n";
//!     sip::parse_message(text.as_bytes()).unwrap().into_request().unwrap()
//! };
//!
//! // 1. No credentials: 401 with a SHA-256 and an MD5 challenge.
//! let req = register(None);
//! let challenge = match auth.check(now, &req, source.ip(), Challenger::Www, password_of) {
//!     AuthOutcome::Challenge { status, reason, headers } => {
//!         let mut resp = Response::for_request(&req, status, reason);
//!         headers.iter().for_each(|h| resp.headers.push(h.clone()));
//!         AuthHeader::parse(&resp.headers.get(&HeaderName::WwwAuthenticate).unwrap().value).unwrap()
//!     }
//!     other => panic!("{other:?}"),
//! };
//! // 2. The phone answers; the switch hands the authenticated user to the registrar.
//! let creds = DigestCredentials::answer(&challenge, "1001", "secret", "REGISTER",
//!     "sip:pbx.example", "c0ffee", 1).unwrap();
//! let req = register(Some(creds.to_string()));
//! let AuthOutcome::Authenticated { username } =
//!     auth.check(now, &req, source.ip(), Challenger::Www, password_of) else { panic!() };
//! let RegisterOutcome::Ok { headers, changed } =
//!     registrar.register(now, &username, &req, source, Transport::Udp) else { panic!() };
//! assert!(changed);
//! assert_eq!(headers[0].value, "<sip:1001@192.0.2.10:5060>;expires=3600");
//! // 3. The driver wakes the authenticator at its deadline to forget old state.
//! if let Some(t) = auth.poll_timeout() {
//!     auth.handle_timeout(t);
//! }
//! ```

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sip::digest::{self, Algorithm, AuthHeader, DigestChallenge, DigestInput};
use sip::{Header, HeaderName, Request};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How requests are authenticated.
#[derive(Clone)]
pub struct AuthConfig {
    /// The realm offered in challenges; credentials for another realm are ignored.
    pub realm: String,
    /// Key of the nonce MACs. Keep it across restarts (or not: nonces of an
    /// earlier run are stale either way, see the module docs).
    pub secret: [u8; 32],
    /// How long a nonce stays usable after it was issued (default 300 s).
    pub nonce_ttl: Duration,
    pub lockout: LockoutPolicy,
    /// Upper bound on each table the authenticator keeps: nonces in use,
    /// source IPs with failures, usernames with failures (default 10 000).
    /// When a table is full the entry nearest its end is dropped; a dropped
    /// nonce counts as used up, so the bound never re-opens a replay.
    pub max_tracked: usize,
    /// The algorithms challenged for, in order of preference (default
    /// SHA-256, then MD5, RFC 8760 §2.4). Credentials using another
    /// algorithm fail. Some clients take the first challenge whatever it is
    /// (SIPp 3.6 among them) and need MD5 first or alone.
    pub algorithms: Vec<Algorithm>,
}

/// When failed credentials lock a source IP or a username out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window` that lock the key (default 5; 0 disables lockout).
    pub max_failures: u32,
    /// The sliding window failures are counted in (default 60 s).
    pub window: Duration,
    /// How long a locked key is answered 403 (default 300 s).
    pub lock_for: Duration,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are valid; `username` is as the client wrote it.
    Authenticated { username: String },
    /// Answer with this status (401 for [`Challenger::Www`], 407 for
    /// [`Challenger::Proxy`]) and these headers: one `WWW-Authenticate` or
    /// `Proxy-Authenticate` per algorithm, SHA-256 first, then MD5 (RFC 8760
    /// §2.4), `qop="auth"`, `stale=true` when only the nonce was too old.
    Challenge {
        status: u16,
        reason: &'static str,
        headers: Vec<Header>,
    },
    /// The source IP or the username is locked out: answer 403.
    Forbidden { status: u16, reason: &'static str },
}

/// Who challenges: the registrar or UAS (401, `WWW-Authenticate`,
/// `Authorization`) or a proxy (407, `Proxy-Authenticate`, `Proxy-Authorization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenger {
    Www,
    Proxy,
}

/// Checks digest credentials, issues challenges, counts failures.
pub struct Authenticator {
    config: AuthConfig,
    rng: StdRng,
    /// Random per run: a nonce of another run (same secret) is stale, never
    /// fresh, because this run does not know which `nc` it already accepted.
    instance: [u8; 4],
    /// Issue times are offsets from here; set by the first `now` seen
    /// (an `Instant` has no epoch and `new` is given no time).
    origin: Option<Instant>,
    /// What an unknown user's digest is checked against.
    decoy_password: String,
    nonces: HashMap<NonceBody, NonceUse>,
    /// Serial number of the next nonce (nonces are numbered per run).
    next_serial: u64,
    /// Nonces with a serial at or below this one that have no entry in
    /// `nonces` were evicted by the cap: treat them as used up.
    evicted_up_to: Option<u64>,
    by_ip: HashMap<IpAddr, Failures>,
    by_user: HashMap<String, Failures>,
    /// Earliest moment some entry expires (may be early, never late).
    next_prune: Option<Instant>,
}

impl AuthConfig {
    /// A configuration with the default TTL, lockout policy and bounds.
    pub fn new(realm: impl Into<String>, secret: [u8; 32]) -> AuthConfig {
        AuthConfig {
            realm: realm.into(),
            secret,
            nonce_ttl: Duration::from_secs(300),
            lockout: LockoutPolicy::default(),
            max_tracked: 10_000,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("nonce_ttl", &self.nonce_ttl)
            .field("lockout", &self.lockout)
            .field("max_tracked", &self.max_tracked)
            .finish()
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            window: Duration::from_secs(60),
            lock_for: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("nonces", &self.nonces.len())
            .field("by_ip", &self.by_ip.len())
            .field("by_user", &self.by_user.len())
            .field("next_prune", &self.next_prune)
            .finish_non_exhaustive()
    }
}

impl Challenger {
    fn credentials_header(self) -> HeaderName {
        match self {
            Challenger::Www => HeaderName::Authorization,
            Challenger::Proxy => HeaderName::ProxyAuthorization,
        }
    }

    fn challenge_header(self) -> HeaderName {
        match self {
            Challenger::Www => HeaderName::WwwAuthenticate,
            Challenger::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    fn status(self) -> (u16, &'static str) {
        match self {
            Challenger::Www => (401, "Unauthorized"),
            Challenger::Proxy => (407, "Proxy Authentication Required"),
        }
    }
}

/// Why credentials were not accepted, or that they were.
enum Verdict {
    Valid(String),
    /// Right digest, but the nonce is too old, from another run, or its `nc`
    /// was already used: the client knows the password, give it a new nonce.
    Stale,
    /// Not a nonce of ours: nothing was verified, a fresh challenge.
    UnknownNonce,
    /// The credentials were checked and are wrong (or malformed): a failure.
    Failed,
}

impl Authenticator {
    pub fn new(config: AuthConfig, rng_seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(rng_seed);
        let instance = rng.gen();
        let decoy: [u8; 16] = rng.gen();
        Authenticator {
            config,
            rng,
            instance,
            origin: None,
            decoy_password: to_hex(&decoy),
            nonces: HashMap::new(),
            next_serial: 0,
            evicted_up_to: None,
            by_ip: HashMap::new(),
            by_user: HashMap::new(),
            next_prune: None,
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Checks the request's credentials for our realm (`Authorization` for
    /// [`Challenger::Www`], `Proxy-Authorization` for [`Challenger::Proxy`]).
    /// `password_of(username)` returns the plain password of a known user.
    pub fn check(
        &mut self,
        now: Instant,
        req: &Request,
        source: IpAddr,
        challenger: Challenger,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> AuthOutcome {
        self.origin.get_or_insert(now);
        let creds = self.credentials_for_realm(req, challenger);
        let username = creds
            .as_ref()
            .and_then(|c| c.param("username"))
            .map(|u| String::from_utf8_lossy(u).into_owned());
        if self.is_locked(now, source, username.as_deref()) {
            return forbidden();
        }
        // RFC 3261 §22.1: a request without credentials is not a failure.
        let Some(creds) = creds else {
            return self.challenge(now, challenger, false);
        };
        match self.verify(now, req, &creds, &password_of) {
            Verdict::Valid(username) => {
                self.by_user.remove(&username);
                AuthOutcome::Authenticated { username }
            }
            Verdict::Stale => self.challenge(now, challenger, true),
            Verdict::UnknownNonce => self.challenge(now, challenger, false),
            Verdict::Failed => {
                if self.record_failure(now, source, username) {
                    forbidden()
                } else {
                    self.challenge(now, challenger, false)
                }
            }
        }
    }

    /// When expired nonce state or lockout entries can next be forgotten.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_prune
    }

    /// Forgets what has expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.origin.get_or_insert(now);
        if self.next_prune.is_some_and(|t| t <= now) {
            self.prune(now);
        }
    }

    /// Entries held (nonces in use, source IPs and usernames with failures),
    /// for metrics and tests.
    pub fn tracked_entries(&self) -> usize {
        self.nonces.len() + self.by_ip.len() + self.by_user.len()
    }

    /// The first Digest credentials for our realm (RFC 3261 §22.3: a request
    /// may carry credentials for several realms, e.g. for proxies on its path).
    fn credentials_for_realm(&self, req: &Request, challenger: Challenger) -> Option<AuthHeader> {
        let name = challenger.credentials_header();
        let found = req
            .headers
            .get_all(&name)
            .filter_map(|h| AuthHeader::parse(&h.value).ok())
            .find(|a| {
                a.is_digest()
                    && a.param("realm")
                        .is_some_and(|r| r == self.config.realm.as_bytes())
            });
        found
    }

    /// RFC 7616 §3.4: recompute the `response` and compare it in constant time.
    fn verify(
        &mut self,
        now: Instant,
        req: &Request,
        creds: &AuthHeader,
        password_of: &impl Fn(&str) -> Option<String>,
    ) -> Verdict {
        let param = |name| creds.param(name).map(|v| &v[..]);
        let (Some(username), Some(nonce), Some(uri), Some(response)) = (
            param("username"),
            param("nonce"),
            param("uri"),
            param("response"),
        ) else {
            return Verdict::Failed;
        };
        let nonce_text = nonce;
        let nonce = match self.open_nonce(now, nonce_text) {
            NonceCheck::Fresh(n) => Some(n),
            NonceCheck::Expired => None,
            NonceCheck::Unknown => return Verdict::UnknownNonce,
        };
        let Ok(username) = std::str::from_utf8(username) else {
            return Verdict::Failed;
        };
        let Some(algorithm) = Algorithm::from_param(param("algorithm"))
            .filter(|a| self.config.algorithms.contains(a))
        else {
            return Verdict::Failed;
        };
        // We offer qop="auth" only; RFC 2069 credentials (no qop) have no nc
        // and could be replayed, so they are refused.
        if !param("qop").is_some_and(|q| q.eq_ignore_ascii_case(b"auth")) {
            return Verdict::Failed;
        }
        let (Some(nc_text), Some(cnonce)) = (param("nc"), param("cnonce")) else {
            return Verdict::Failed;
        };
        let Some(nc) = digest::parse_nc(nc_text).filter(|&nc| nc > 0) else {
            return Verdict::Failed;
        };
        // RFC 7616 §3.4.6 (digest-uri): compared with the Request-URI as
        // strings; a client that reformats the URI it was sent to fails.
        if uri != req.uri.as_bytes() {
            return Verdict::Failed;
        }
        let password = password_of(username);
        let input = DigestInput {
            algorithm,
            username: username.as_bytes(),
            realm: self.config.realm.as_bytes(),
            password: password
                .as_deref()
                .unwrap_or(&self.decoy_password)
                .as_bytes(),
            method: req.method.as_bytes(),
            uri,
            nonce: nonce_text,
            qop_auth: Some((nc_text, cnonce)),
        };
        let expected = input.response();
        let matches = digest::ct_eq(expected.as_bytes(), &response.to_ascii_lowercase());
        if !(matches && password.is_some()) {
            return Verdict::Failed;
        }
        let Some(nonce) = nonce else {
            return Verdict::Stale;
        };
        if !self.use_nc(now, nonce, nc) {
            return Verdict::Stale;
        }
        Verdict::Valid(username.to_owned())
    }

    /// Records that `nc` was used with `nonce`; false if that is a replay.
    fn use_nc(&mut self, now: Instant, nonce: OpenNonce, nc: u32) -> bool {
        match self.nonces.get_mut(&nonce.body) {
            Some(u) if nc <= u.highest_nc => return false,
            Some(u) => {
                u.highest_nc = nc;
                return true;
            }
            None if self.evicted_up_to.is_some_and(|e| nonce.serial <= e) => return false,
            None => {}
        }
        let cap = self.config.max_tracked.max(1);
        if self.nonces.len() >= cap {
            self.prune(now);
        }
        if self.nonces.len() >= cap {
            self.evict_oldest_nonce();
        }
        let expires_at = self.instant_at(nonce.issued_ms) + self.config.nonce_ttl;
        self.nonces.insert(
            nonce.body,
            NonceUse {
                serial: nonce.serial,
                highest_nc: nc,
                expires_at,
            },
        );
        self.note_deadline(expires_at);
        true
    }

    fn evict_oldest_nonce(&mut self) {
        let oldest = self
            .nonces
            .iter()
            .min_by_key(|(_, u)| u.serial)
            .map(|(k, u)| (*k, u.serial));
        if let Some((key, serial)) = oldest {
            self.nonces.remove(&key);
            self.evicted_up_to = Some(self.evicted_up_to.unwrap_or(0).max(serial));
        }
    }

    fn challenge(&mut self, now: Instant, challenger: Challenger, stale: bool) -> AuthOutcome {
        let nonce = self.issue_nonce(now);
        let name = challenger.challenge_header();
        // RFC 8760 §2.4: the preferred algorithm first.
        let headers = self
            .config
            .algorithms
            .clone()
            .into_iter()
            .map(|algorithm| {
                let ch = DigestChallenge {
                    realm: self.config.realm.clone(),
                    nonce: nonce.clone(),
                    opaque: None,
                    algorithm,
                    stale,
                };
                Header::typed(name.clone(), &ch)
            })
            .collect();
        let (status, reason) = challenger.status();
        AuthOutcome::Challenge {
            status,
            reason,
            headers,
        }
    }

    // ---- nonces ----

    fn issue_nonce(&mut self, now: Instant) -> String {
        let mut body: NonceBody = [0; BODY_LEN];
        body[..4].copy_from_slice(&self.instance);
        body[4..12].copy_from_slice(&self.offset_ms(now).to_be_bytes());
        body[12..20].copy_from_slice(&self.next_serial.to_be_bytes());
        self.next_serial += 1;
        self.rng.fill_bytes(&mut body[20..]);
        let mac = self.mac(&body);
        let mut nonce = to_hex(&body);
        nonce.push_str(&to_hex(&mac));
        nonce
    }

    fn open_nonce(&self, now: Instant, text: &[u8]) -> NonceCheck {
        let Some(bytes) = from_hex(text).filter(|b| b.len() == BODY_LEN + MAC_LEN) else {
            return NonceCheck::Unknown;
        };
        let (body, mac) = bytes.split_at(BODY_LEN);
        if !digest::ct_eq(&self.mac(body), mac) {
            return NonceCheck::Unknown;
        }
        if body[..4] != self.instance {
            return NonceCheck::Expired;
        }
        let issued_ms = u64::from_be_bytes(body[4..12].try_into().expect("8 bytes"));
        if self.instant_at(issued_ms) + self.config.nonce_ttl <= now {
            return NonceCheck::Expired;
        }
        NonceCheck::Fresh(OpenNonce {
            body: body.try_into().expect("BODY_LEN bytes"),
            issued_ms,
            serial: u64::from_be_bytes(body[12..20].try_into().expect("8 bytes")),
        })
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let full = digest::hmac_sha256(
            &self.config.secret,
            &[
                b"dialtone nonce v1\0",
                self.config.realm.as_bytes(),
                b"\0",
                body,
            ],
        );
        full[..MAC_LEN].try_into().expect("MAC_LEN <= 32")
    }

    fn offset_ms(&self, now: Instant) -> u64 {
        let origin = self.origin.unwrap_or(now);
        u64::try_from(now.saturating_duration_since(origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn instant_at(&self, offset_ms: u64) -> Instant {
        let origin = self.origin.expect("set before any nonce is issued");
        origin
            .checked_add(Duration::from_millis(offset_ms))
            .unwrap_or(origin)
    }

    // ---- lockout ----

    fn is_locked(&self, now: Instant, source: IpAddr, username: Option<&str>) -> bool {
        self.by_ip.get(&source).is_some_and(|f| f.is_locked(now))
            || username
                .and_then(|u| self.by_user.get(u))
                .is_some_and(|f| f.is_locked(now))
    }

    /// Counts a failure for the source and the username (known or not, so
    /// that lockout reveals nothing); true if either is now locked.
    fn record_failure(&mut self, now: Instant, source: IpAddr, username: Option<String>) -> bool {
        let policy = self.config.lockout.clone();
        if policy.max_failures == 0 {
            return false;
        }
        let cap = self.config.max_tracked.max(1);
        let mut locked = false;
        if !self.by_ip.contains_key(&source) && self.by_ip.len() >= cap {
            self.prune(now);
            evict_failures(&mut self.by_ip, now);
        }
        let f = self.by_ip.entry(source).or_default();
        locked |= f.record(now, &policy);
        let mut deadline = f.deadline(&policy);
        if let Some(user) = username {
            if !self.by_user.contains_key(&user) && self.by_user.len() >= cap {
                self.prune(now);
                evict_failures(&mut self.by_user, now);
            }
            let f = self.by_user.entry(user).or_default();
            locked |= f.record(now, &policy);
            deadline = deadline.into_iter().chain(f.deadline(&policy)).min();
        }
        if let Some(t) = deadline {
            self.note_deadline(t);
        }
        locked
    }

    // ---- expiry ----

    fn note_deadline(&mut self, t: Instant) {
        self.next_prune = Some(self.next_prune.map_or(t, |n| n.min(t)));
    }

    fn prune(&mut self, now: Instant) {
        let policy = &self.config.lockout;
        self.nonces.retain(|_, u| u.expires_at > now);
        self.by_ip
            .retain(|_, f| f.deadline(policy).is_some_and(|t| t > now));
        self.by_user
            .retain(|_, f| f.deadline(policy).is_some_and(|t| t > now));
        self.next_prune = self
            .nonces
            .values()
            .map(|u| u.expires_at)
            .chain(self.by_ip.values().filter_map(|f| f.deadline(policy)))
            .chain(self.by_user.values().filter_map(|f| f.deadline(policy)))
            .min();
    }
}

fn forbidden() -> AuthOutcome {
    AuthOutcome::Forbidden {
        status: 403,
        reason: "Forbidden",
    }
}

const BODY_LEN: usize = 4 + 8 + 8 + 4;
const MAC_LEN: usize = 16;

/// `instance ‖ issue offset in ms ‖ serial ‖ random` (numbers big-endian).
type NonceBody = [u8; BODY_LEN];

struct OpenNonce {
    body: NonceBody,
    issued_ms: u64,
    serial: u64,
}

enum NonceCheck {
    Fresh(OpenNonce),
    Expired,
    Unknown,
}

/// A nonce that authenticated at least one request.
#[derive(Debug)]
struct NonceUse {
    serial: u64,
    highest_nc: u32,
    expires_at: Instant,
}

/// Recent failures of one source IP or username.
#[derive(Debug, Default)]
struct Failures {
    /// Times of the last `max_failures` failures, oldest first.
    recent: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Failures {
    fn is_locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }

    /// Counts a failure at `now`; true if that locks the key.
    fn record(&mut self, now: Instant, policy: &LockoutPolicy) -> bool {
        if self.locked_until.is_some_and(|t| t <= now) {
            self.locked_until = None;
        }
        while self
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= policy.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() >= policy.max_failures as usize {
            self.recent.clear();
            self.locked_until = Some(now + policy.lock_for);
            return true;
        }
        false
    }

    /// When this entry has nothing left to remember (`None`: already).
    fn deadline(&self, policy: &LockoutPolicy) -> Option<Instant> {
        let window_end = self.recent.back().map(|&t| t + policy.window);
        self.locked_until.max(window_end)
    }
}

/// Makes room in a full failure table: drops the unlocked entry that would
/// expire first, or, if every entry is locked, the lock that ends first.
fn evict_failures<K: Clone + Eq + std::hash::Hash>(table: &mut HashMap<K, Failures>, now: Instant) {
    let victim = table
        .iter()
        .min_by_key(|(_, f)| (f.is_locked(now), f.locked_until, f.recent.back().copied()))
        .map(|(k, _)| k.clone());
    if let Some(k) = victim {
        table.remove(&k);
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}
