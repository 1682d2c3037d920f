//! REGISTER (RFC 3261 §10.3): digest with 401/WWW-Authenticate, then the
//! registrar; an extension may register only its own address of record.

use super::Engine;
use crate::event::Event;
use model::Registration;
use sip::Request;
use sip_core::{AuthOutcome, Binding, Challenger, RegisterOutcome, ServerTxKey};
use std::time::Instant;

impl Engine {
    pub(super) fn on_register(&mut self, now: Instant, key: ServerTxKey, req: Request) {
        let Some((source, transport)) = self.source.clone() else {
            return;
        };
        let dir = &self.directory;
        let outcome = self
            .auth
            .check(now, &req, source.ip(), Challenger::Www, |u| {
                dir.get(u).map(|e| e.password.clone())
            });
        let username = match outcome {
            AuthOutcome::Authenticated { username } => username,
            AuthOutcome::Challenge {
                status,
                reason,
                headers,
            } => {
                self.reply(now, key, status, reason, headers, None);
                return;
            }
            AuthOutcome::Forbidden { status, reason } => {
                self.reply(now, key, status, reason, vec![], None);
                return;
            }
        };
        let aor = req
            .headers
            .to()
            .ok()
            .and_then(|t| t.uri.user_unescaped())
            .map(|u| String::from_utf8_lossy(&u).into_owned());
        if aor.as_deref() != Some(username.as_str()) {
            tracing::info!(%username, ?aor, "REGISTER for another extension refused");
            self.reply(now, key, 403, "Forbidden", vec![], None);
            return;
        }
        let before: Vec<Binding> = self.registrar.bindings(&username).cloned().collect();
        match self
            .registrar
            .register(now, &username, &req, source, transport)
        {
            RegisterOutcome::Ok { headers, .. } => {
                self.reply(now, key, 200, "OK", headers, None);
                self.report_bindings(now, &username, &before);
            }
            RegisterOutcome::Reject {
                status,
                reason,
                headers,
            } => {
                self.reply(now, key, status, &reason, headers, None);
            }
        }
    }

    /// Registration events after a REGISTER: `Some` for every binding the
    /// request added or refreshed, `None` for every binding it removed.
    fn report_bindings(&mut self, now: Instant, aor: &str, before: &[Binding]) {
        let after: Vec<Binding> = self.registrar.bindings(aor).cloned().collect();
        for b in before {
            if !after.iter().any(|a| a.contact == b.contact) {
                self.report_removed(b);
            }
        }
        for b in after.iter().filter(|b| b.updated_at == now) {
            let registration = Some(self.registration(b));
            self.events.push_back(Event::Registration {
                extension: aor.to_owned(),
                contact: b.contact.to_string(),
                registration,
            });
        }
    }

    pub(super) fn report_removed(&mut self, b: &Binding) {
        self.events.push_back(Event::Registration {
            extension: b.aor.clone(),
            contact: b.contact.to_string(),
            registration: None,
        });
    }

    pub(super) fn registration(&self, b: &Binding) -> Registration {
        Registration {
            extension: b.aor.clone(),
            contact: b.contact.to_string(),
            source: b.source.to_string(),
            transport: b.transport.as_str().to_ascii_lowercase(),
            user_agent: b.user_agent.clone(),
            expires: self.wall.utc(b.expires_at),
            tm_update: self.wall.utc(b.updated_at),
        }
    }
}
