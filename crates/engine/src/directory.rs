//! The extensions the engine routes to and authenticates, and where their
//! static contacts point.

use model::ExtensionSecret;
use sip::{Transport, Uri};
use sip_core::Target;
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Debug, Default)]
pub(crate) struct Directory {
    extensions: HashMap<String, ExtensionSecret>,
}

impl Directory {
    pub fn upsert(&mut self, e: ExtensionSecret) {
        self.extensions.insert(e.extension.extension.clone(), e);
    }

    pub fn remove(&mut self, number: &str) {
        self.extensions.remove(number);
    }

    pub fn get(&self, number: &str) -> Option<&ExtensionSecret> {
        self.extensions.get(number)
    }
}

/// One place a call to an extension is sent: the Request-URI and the
/// transport address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Contact {
    pub uri: Uri,
    pub target: Target,
}

/// A static contact (`sip:host:port`, `sip:user@host:port;transport=tcp`):
/// the host must be an IP literal; names are never resolved. Port 5060 if
/// absent, UDP unless `;transport=` says otherwise.
pub(crate) fn static_contact(text: &str) -> Option<Contact> {
    let uri = Uri::from_text(text.trim()).ok()?;
    if !uri.is_sip() {
        return None;
    }
    let ip = uri.host.as_ref()?.ip()?;
    let transport = match uri.param("transport").flatten() {
        Some(t) => Transport::from_token(t, t),
        None => Transport::Udp,
    };
    let target = Target {
        transport,
        remote: SocketAddr::new(ip, uri.port.unwrap_or(5060)),
    };
    Some(Contact { uri, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_contacts_are_ip_literals() {
        let c = static_contact("sip:192.0.2.10:5070").unwrap();
        assert_eq!(c.target, Target::udp("192.0.2.10:5070".parse().unwrap()));
        let c = static_contact("sip:pbx@192.0.2.10;transport=tcp").unwrap();
        assert_eq!(c.target, Target::tcp("192.0.2.10:5060".parse().unwrap()));
        assert!(static_contact("sip:pbx.example.com").is_none());
        assert!(static_contact("http://192.0.2.1").is_none());
    }
}
