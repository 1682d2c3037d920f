//! The server's settings: defaults < config file (TOML) < `DIALTONE_*`
//! environment variables < command-line flags (the public contract in
//! `DESIGN.md`).
//!
//! The binary parses flags and environment variables with clap into an
//! [`Overrides`] (clap gives a flag precedence over its variable), reads the
//! file named by `--config`/`DIALTONE_CONFIG`, and calls [`Config::load`].
//! Unknown keys in the file are errors that name the key, so a typo never
//! silently falls back to a default.
//!
//! ```
//! let file = r#"
//!     sip_listen = "127.0.0.1:5070"
//!     rtp_ports = "30000-30099"
//!     [[extensions]]
//!     extension = "100"
//!     password = "secret100"
//! "#;
//! let overrides = server::config::Overrides { sip_listen: Some("127.0.0.1:5080".parse().unwrap()), ..Default::default() };
//! let config = server::config::Config::load(Some(file), &overrides).unwrap();
//! assert_eq!(config.sip_listen.port(), 5080);            // the flag wins over the file
//! assert_eq!(config.rtp_ports.start(), &30000);          // the file wins over the default
//! assert_eq!(config.http_listen.to_string(), "127.0.0.1:8080"); // default
//! assert_eq!(config.extensions[0].extension, "100");
//! ```

pub use engine::Cidr;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Everything `dialtone serve` runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Where the database and generated secrets live. Default `./data`.
    pub data_dir: PathBuf,
    /// SIP on UDP and TCP. Default `0.0.0.0:5060`.
    pub sip_listen: SocketAddr,
    /// REST API, WebSocket events, web pages. Default `127.0.0.1:8080`.
    pub http_listen: SocketAddr,
    /// RTP/RTCP port range for anchored media (even port RTP, odd RTCP).
    /// Default `10000-20000`.
    #[serde(serialize_with = "ser_range")]
    pub rtp_ports: RangeInclusive<u16>,
    /// The address phones and trunks reach this server at (Via, Contact,
    /// SDP). Default: the listen address, or for a wildcard listen the
    /// address of the interface holding the default route.
    pub public_ip: Option<IpAddr>,
    /// Digest realm. Default `dialtone`.
    pub realm: String,
    /// Digest algorithms challenged for, preferred first: `SHA-256`, `MD5`.
    /// Default both, SHA-256 first (RFC 8760). Put `MD5` first for clients
    /// that answer the first challenge whatever it is (SIPp 3.6, old phones).
    pub auth_algorithms: Vec<String>,
    /// Sources (addresses or CIDRs) that may send INVITEs without digest
    /// auth: trunks and PBXs.
    #[serde(serialize_with = "ser_cidrs")]
    pub trusted_peers: Vec<Cidr>,
    /// How long a callee may ring before the call ends `noanswer`. Default 60 s.
    #[serde(serialize_with = "ser_secs")]
    pub ring_timeout: Duration,
    /// Longest answered call; then it ends `timeout`. Default 4 h.
    #[serde(serialize_with = "ser_secs")]
    pub max_call_duration: Duration,
    /// Whether the media relay may transcode (PCMU, PCMA, G.722, Opus):
    /// offers to callees are widened with those codecs and answers are
    /// restated in the caller's. Off: codec lists pass through and both
    /// phones must share a codec. Default on.
    pub transcoding: bool,
    /// A WAV file (PCM or G.711, any rate, mono or stereo) held calls hear,
    /// looped, instead of the built-in music on hold. Read and decoded once
    /// at start: a file that is not a readable WAV stops the start.
    pub moh_file: Option<PathBuf>,
    /// How a digit sent as RFC 4733 events reaches a bridged phone that did
    /// not negotiate telephone-event: `inband` (tones in its audio, the
    /// default) or `sip_info` (one SIP INFO `application/dtmf-relay` per
    /// digit).
    pub dtmf_interworking: DtmfInterworking,
    /// The only directory `file://` URLs given to `POST
    /// /v1/calls/{id}/play` may name files in (so the API cannot read
    /// other files). Default `<data_dir>/media` (created at start).
    pub media_dir: PathBuf,
    /// Where every event goes as a signed webhook (an `http://` or
    /// `https://` URL), unless its call has its own URL. Default: none
    /// (events go only to calls with their own URL).
    pub webhook_uri: Option<String>,
    /// The HMAC-SHA256 key of `X-Dialtone-Signature` (its UTF-8 bytes), at
    /// least 16 characters. Default: one generated at the first start,
    /// kept in the database and printed once. Shown redacted.
    #[serde(serialize_with = "ser_redacted")]
    pub webhook_secret: Option<String>,
    /// The `espeak-ng` program `talk` renders text with: a path, or a
    /// name looked up in `PATH`. Default `espeak-ng`. Without it, `talk`
    /// answers 503 `tts_unavailable` and everything else works.
    pub tts_command: PathBuf,
    /// Extensions defined in the file (read-only over the API).
    pub extensions: Vec<ExtensionConfig>,
}

/// One `[[extensions]]` table of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    pub extension: String,
    #[serde(skip_serializing)]
    pub password: String,
    #[serde(default)]
    pub name: String,
    /// `sip:host:port` for a device that never registers.
    #[serde(default)]
    pub static_contact: Option<String>,
}

/// Settings given on the command line or in `DIALTONE_*` variables; `None`
/// means "not given" (the file or the default decides).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub sip_listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
    pub rtp_ports: Option<PortRange>,
    pub public_ip: Option<IpAddr>,
    pub realm: Option<String>,
    pub auth_algorithms: Option<Vec<String>>,
    pub trusted_peers: Option<Vec<Cidr>>,
    pub ring_timeout: Option<u64>,
    pub max_call_duration: Option<u64>,
    pub transcoding: Option<bool>,
    pub moh_file: Option<PathBuf>,
    pub dtmf_interworking: Option<DtmfInterworking>,
    pub media_dir: Option<PathBuf>,
    pub webhook_uri: Option<String>,
    pub webhook_secret: Option<String>,
    pub tts_command: Option<PathBuf>,
}

/// The config file as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    sip_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    rtp_ports: Option<PortRange>,
    public_ip: Option<IpAddr>,
    realm: Option<String>,
    auth_algorithms: Option<Vec<String>>,
    trusted_peers: Option<Vec<String>>,
    ring_timeout: Option<u64>,
    max_call_duration: Option<u64>,
    transcoding: Option<bool>,
    moh_file: Option<PathBuf>,
    dtmf_interworking: Option<DtmfInterworking>,
    media_dir: Option<PathBuf>,
    webhook_uri: Option<String>,
    webhook_secret: Option<String>,
    tts_command: Option<PathBuf>,
    #[serde(default)]
    extensions: Vec<ExtensionConfig>,
}

/// A configuration the server refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("config file: {0}")]
    File(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl Config {
    /// Merges defaults, the file's text (if any) and the overrides, then
    /// checks the result.
    pub fn load(file: Option<&str>, o: &Overrides) -> Result<Config, ConfigError> {
        let f: FileConfig = match file {
            Some(text) => toml::from_str(text).map_err(|e| ConfigError::File(e.to_string()))?,
            None => FileConfig::default(),
        };
        let file_peers = match f.trusted_peers {
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(i, p)| {
                        p.parse()
                            .map_err(|m| invalid(format!("trusted_peers[{i}]"), m))
                    })
                    .collect::<Result<Vec<Cidr>, _>>()?,
            ),
            None => None,
        };
        let rtp = o
            .rtp_ports
            .or(f.rtp_ports)
            .unwrap_or(PortRange(10000, 20000));
        let data_dir = o
            .data_dir
            .clone()
            .or(f.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let config = Config {
            media_dir: o
                .media_dir
                .clone()
                .or(f.media_dir)
                .unwrap_or_else(|| data_dir.join("media")),
            data_dir,
            sip_listen: o
                .sip_listen
                .or(f.sip_listen)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060))),
            http_listen: o
                .http_listen
                .or(f.http_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            rtp_ports: rtp.0..=rtp.1,
            public_ip: o.public_ip.or(f.public_ip),
            realm: o
                .realm
                .clone()
                .or(f.realm)
                .unwrap_or_else(|| "dialtone".to_owned()),
            auth_algorithms: o
                .auth_algorithms
                .clone()
                .or(f.auth_algorithms)
                .unwrap_or_else(|| vec!["SHA-256".to_owned(), "MD5".to_owned()]),
            trusted_peers: o.trusted_peers.clone().or(file_peers).unwrap_or_default(),
            ring_timeout: Duration::from_secs(o.ring_timeout.or(f.ring_timeout).unwrap_or(60)),
            max_call_duration: Duration::from_secs(
                o.max_call_duration
                    .or(f.max_call_duration)
                    .unwrap_or(4 * 3600),
            ),
            transcoding: o.transcoding.or(f.transcoding).unwrap_or(true),
            moh_file: o.moh_file.clone().or(f.moh_file),
            dtmf_interworking: o
                .dtmf_interworking
                .or(f.dtmf_interworking)
                .unwrap_or_default(),
            webhook_uri: o.webhook_uri.clone().or(f.webhook_uri),
            webhook_secret: o.webhook_secret.clone().or(f.webhook_secret),
            tts_command: o
                .tts_command
                .clone()
                .or(f.tts_command)
                .unwrap_or_else(|| PathBuf::from("espeak-ng")),
            extensions: f.extensions,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.ring_timeout.is_zero() {
            return Err(invalid("ring_timeout", "must be at least 1 second"));
        }
        if self.max_call_duration.is_zero() {
            return Err(invalid("max_call_duration", "must be at least 1 second"));
        }
        if self.realm.is_empty() || self.realm.contains(['"', '\\', '\r', '\n']) {
            return Err(invalid(
                "realm",
                "must be non-empty, without quotes, backslashes or line breaks",
            ));
        }
        if self.tts_command.as_os_str().is_empty() {
            return Err(invalid(
                "tts_command",
                "must name the espeak-ng program (default espeak-ng)",
            ));
        }
        if self.auth_algorithms.is_empty() {
            return Err(invalid(
                "auth_algorithms",
                "name at least one of SHA-256, MD5",
            ));
        }
        for (i, a) in self.auth_algorithms.iter().enumerate() {
            if a != "SHA-256" && a != "MD5" {
                return Err(invalid(
                    format!("auth_algorithms[{i}]"),
                    format!("'{a}' is not SHA-256 or MD5"),
                ));
            }
        }
        if let Some(uri) = &self.webhook_uri {
            validate_webhook_uri(uri).map_err(|m| invalid("webhook_uri", m))?;
        }
        if let Some(secret) = &self.webhook_secret {
            if secret.chars().count() < 16 {
                return Err(invalid(
                    "webhook_secret",
                    "must be at least 16 characters (or leave it out: one is generated)",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, e) in self.extensions.iter().enumerate() {
            let field = |name: &str| format!("extensions[{i}].{name}");
            model::validate_extension(&e.extension)
                .map_err(|err| invalid(field("extension"), err.to_string()))?;
            if e.password.len() < 8 {
                return Err(invalid(field("password"), "must be at least 8 characters"));
            }
            if !seen.insert(e.extension.as_str()) {
                return Err(invalid(
                    field("extension"),
                    format!("extension {} is defined twice", e.extension),
                ));
            }
            if let Some(c) = &e.static_contact {
                validate_static_contact(c).map_err(|m| invalid(field("static_contact"), m))?;
            }
        }
        Ok(())
    }
}

/// A static contact must be `sip:host:port` (or `sip:user@host:port`) with
/// an IP literal host: Dialtone never resolves names from configuration at
/// call time.
pub fn validate_static_contact(contact: &str) -> Result<SocketAddr, String> {
    let rest = contact
        .strip_prefix("sip:")
        .ok_or_else(|| format!("'{contact}' must start with sip:"))?;
    let hostport = rest.rsplit('@').next().unwrap_or(rest);
    let hostport = hostport.split(';').next().unwrap_or(hostport);
    if let Ok(addr) = hostport.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = hostport.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 5060));
    }
    Err(format!(
        "'{contact}' must name an IP address and optional port (sip:192.0.2.10:5060)"
    ))
}

/// A webhook URL must be absolute `http://` or `https://` with a host
/// (the global `webhook_uri` and a call's own URL alike).
pub fn validate_webhook_uri(uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(uri)
        .map_err(|e| format!("'{uri}' is not a URL ({e}); give http://host/path or https://..."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{uri}' must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{uri}' has no host"));
    }
    Ok(())
}

/// How an RFC 4733 digit reaches a bridged phone that did not negotiate
/// telephone-event (see `net::rtp::DtmfFallback`). Digits between phones
/// that share a method cross as they came either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfInterworking {
    /// Tones played in its audio by the relay.
    #[default]
    Inband,
    /// One SIP INFO (`application/dtmf-relay`) per digit.
    SipInfo,
}

impl FromStr for DtmfInterworking {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "inband" => Ok(DtmfInterworking::Inband),
            "sip_info" => Ok(DtmfInterworking::SipInfo),
            other => Err(format!("'{other}' is not inband or sip_info")),
        }
    }
}

/// `LO-HI`, both even/odd ends allowed, `LO < HI`, at least one RTP/RTCP pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange(pub u16, pub u16);

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("'{s}' is not a port range LO-HI (e.g. 10000-20000)");
        let (lo, hi) = s.split_once('-').ok_or_else(err)?;
        let lo: u16 = lo.trim().parse().map_err(|_| err())?;
        let hi: u16 = hi.trim().parse().map_err(|_| err())?;
        if lo < 1024 || hi <= lo {
            return Err(format!(
                "'{s}': need 1024 <= LO < HI so the range holds an RTP/RTCP pair"
            ));
        }
        Ok(PortRange(lo, hi))
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list of CIDRs (for `DIALTONE_TRUSTED_PEERS`).
pub fn parse_cidr_list(s: &str) -> Result<Vec<Cidr>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect()
}

fn ser_range<S: serde::Serializer>(r: &RangeInclusive<u16>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{}-{}", r.start(), r.end()))
}

fn ser_cidrs<S: serde::Serializer>(v: &[Cidr], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(ToString::to_string))
}

fn ser_redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::load(Some("sip_lisen = \"0.0.0.0:5060\""), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sip_lisen"), "{err}");
    }

    #[test]
    fn bad_extension_is_named_by_path() {
        let file = "[[extensions]]\nextension = \"10 0\"\npassword = \"longenough\"\n";
        let err = Config::load(Some(file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("extensions[0].extension:"), "{err}");
        let file = "[[extensions]]\nextension = \"100\"\npassword = \"short\"\n";
        let err = Config::load(Some(file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("extensions[0].password:"), "{err}");
    }

    #[test]
    fn media_settings_default_to_the_data_dir_and_flags_win() {
        let c = Config::load(Some("data_dir = \"/srv/d\""), &Overrides::default()).unwrap();
        assert_eq!(c.media_dir, PathBuf::from("/srv/d/media"));
        assert_eq!(c.moh_file, None);
        let file = "moh_file = \"/srv/hold.wav\"\nmedia_dir = \"/srv/prompts\"";
        let c = Config::load(Some(file), &Overrides::default()).unwrap();
        assert_eq!(c.moh_file, Some(PathBuf::from("/srv/hold.wav")));
        assert_eq!(c.media_dir, PathBuf::from("/srv/prompts"));
        let flags = Overrides {
            moh_file: Some("/tmp/other.wav".into()),
            media_dir: Some("/tmp/m".into()),
            ..Overrides::default()
        };
        let c = Config::load(Some(file), &flags).unwrap();
        assert_eq!(c.moh_file, Some(PathBuf::from("/tmp/other.wav")));
        assert_eq!(c.media_dir, PathBuf::from("/tmp/m"));
    }

    #[test]
    fn tts_command_defaults_to_espeak_ng_and_flags_win() {
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.tts_command, PathBuf::from("espeak-ng"));
        let file = "tts_command = \"/opt/espeak/bin/espeak-ng\"";
        let c = Config::load(Some(file), &Overrides::default()).unwrap();
        assert_eq!(c.tts_command, PathBuf::from("/opt/espeak/bin/espeak-ng"));
        let flags = Overrides {
            tts_command: Some("/usr/local/bin/espeak-ng".into()),
            ..Overrides::default()
        };
        let c = Config::load(Some(file), &flags).unwrap();
        assert_eq!(c.tts_command, PathBuf::from("/usr/local/bin/espeak-ng"));
        assert!(Config::load(Some("tts_command = \"\""), &Overrides::default()).is_err());
    }

    #[test]
    fn dtmf_interworking_is_inband_unless_told() {
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.dtmf_interworking, DtmfInterworking::Inband);
        let file = "dtmf_interworking = \"sip_info\"";
        let c = Config::load(Some(file), &Overrides::default()).unwrap();
        assert_eq!(c.dtmf_interworking, DtmfInterworking::SipInfo);
        let flags = Overrides {
            dtmf_interworking: Some("inband".parse().unwrap()),
            ..Overrides::default()
        };
        let c = Config::load(Some(file), &flags).unwrap();
        assert_eq!(c.dtmf_interworking, DtmfInterworking::Inband);
        let err = Config::load(
            Some("dtmf_interworking = \"pigeon\""),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("dtmf_interworking") && err.contains("pigeon"),
            "{err}"
        );
        assert!("carrier".parse::<DtmfInterworking>().is_err());
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["dtmf_interworking"], "inband");
    }

    #[test]
    fn webhook_settings_are_validated_and_the_secret_never_shown() {
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(
            (c.webhook_uri.as_deref(), c.webhook_secret.as_deref()),
            (None, None)
        );
        let file = "webhook_uri = \"https://hooks.example.com/in\"\n\
                    webhook_secret = \"file-secret-0123456789\"";
        let c = Config::load(Some(file), &Overrides::default()).unwrap();
        assert_eq!(
            c.webhook_uri.as_deref(),
            Some("https://hooks.example.com/in")
        );
        let flags = Overrides {
            webhook_uri: Some("http://127.0.0.1:9000/hook".into()),
            webhook_secret: Some("flag-secret-0123456789".into()),
            ..Overrides::default()
        };
        let c = Config::load(Some(file), &flags).unwrap();
        assert_eq!(c.webhook_uri.as_deref(), Some("http://127.0.0.1:9000/hook"));
        assert_eq!(c.webhook_secret.as_deref(), Some("flag-secret-0123456789"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["webhook_secret"], "<redacted>");
        assert!(!json.to_string().contains("flag-secret"), "{json}");
        for (bad, says) in [
            ("ftp://example.com/x", "http:// or https://"),
            ("hooks.example.com/in", "not a URL"),
            ("http://", "not a URL"),
        ] {
            let file = format!("webhook_uri = \"{bad}\"");
            let err = Config::load(Some(&file), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("webhook_uri:") && err.contains(says),
                "{err}"
            );
        }
        let err = Config::load(Some("webhook_secret = \"short\""), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("webhook_secret:"), "{err}");
        assert!(!err.contains("short"), "the secret is not echoed: {err}");
    }

    #[test]
    fn ranges_and_cidrs() {
        assert_eq!(
            "10000-10099".parse::<PortRange>(),
            Ok(PortRange(10000, 10099))
        );
        assert!("10000".parse::<PortRange>().is_err());
        assert!("20000-10000".parse::<PortRange>().is_err());
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert_eq!(parse_cidr_list("10.0.0.0/8, 192.0.2.1").unwrap().len(), 2);
    }

    #[test]
    fn static_contacts_need_an_ip() {
        assert_eq!(
            validate_static_contact("sip:192.0.2.10:5070").unwrap(),
            "192.0.2.10:5070".parse().unwrap()
        );
        assert_eq!(
            validate_static_contact("sip:pbx@192.0.2.10")
                .unwrap()
                .port(),
            5060
        );
        assert!(validate_static_contact("sip:pbx.example.com").is_err());
        assert!(validate_static_contact("http://x").is_err());
    }
}
