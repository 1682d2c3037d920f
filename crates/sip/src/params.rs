//! Parameter lists: `uri-parameters` (RFC 3261 §19.1.1) and `generic-param`
//! lists of header fields (RFC 3261 §25.1). Values stay as written (zero-copy).

use crate::error::ParseError;
use crate::lex::{self, Cursor};
use bytes::Bytes;

/// One `name[=value]` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Bytes,
    pub value: Option<Bytes>,
}

/// An ordered parameter list; lookups are case-insensitive on the name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// `Some(None)` for a flag parameter (`;lr`), `Some(Some(v))` for `name=v`.
    pub fn get(&self, name: &str) -> Option<Option<&Bytes>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|p| p.value.as_ref())
    }

    /// The value of `name=value`, or `None` if absent or a flag.
    pub fn value(&self, name: &str) -> Option<&Bytes> {
        self.get(name).flatten()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `*( ";" uri-parameter )` up to the first byte that cannot continue it.
    pub(crate) fn parse_uri_params(
        owner: &Bytes,
        cur: &mut Cursor<'_>,
    ) -> Result<Params, ParseError> {
        let mut list = Vec::new();
        while cur.eat(b';') {
            let (ns, ne) = cur.take_while(|b| lex::is_param_char(b) || b == b'%');
            let name = &cur.s[ns..ne];
            if name.is_empty() {
                return Err(ParseError::bad("empty URI parameter"));
            }
            if !lex::escapes_ok(name) {
                return Err(ParseError::bad("invalid escape in URI parameter"));
            }
            let value = if cur.eat(b'=') {
                let (vs, ve) = cur.take_while(|b| lex::is_param_char(b) || b == b'%');
                let v = &cur.s[vs..ve];
                if v.is_empty() || !lex::escapes_ok(v) {
                    return Err(ParseError::bad("invalid URI parameter value"));
                }
                Some(crate::lex::sub(owner, v))
            } else {
                None
            };
            list.push(Param {
                name: crate::lex::sub(owner, name),
                value,
            });
        }
        Ok(Params(list))
    }

    /// Parses `*( SEMI generic-param )`, stopping before `,` or the end.
    pub(crate) fn parse_generic(owner: &Bytes, cur: &mut Cursor<'_>) -> Result<Params, ParseError> {
        let mut list = Vec::new();
        while cur.eat_sep(b';') {
            let (ns, ne) = cur.take_while(lex::is_token);
            if ns == ne {
                return Err(match cur.peek() {
                    Some(b';') | Some(b',') | None => ParseError::bad("empty parameter after ';'"),
                    _ => cur.unexpected("parameter name"),
                });
            }
            let name = crate::lex::sub(owner, &cur.s[ns..ne]);
            let value = if cur.eat_sep(b'=') {
                let (vs, ve) = if cur.peek() == Some(b'"') {
                    cur.quoted_string()?
                } else {
                    cur.take_while(|b| lex::is_token(b) || matches!(b, b':' | b'[' | b']'))
                };
                if vs == ve {
                    return Err(ParseError::bad_owned(format!(
                        "parameter '{}' has '=' but no value",
                        String::from_utf8_lossy(&name)
                    )));
                }
                Some(crate::lex::sub(owner, &cur.s[vs..ve]))
            } else {
                None
            };
            list.push(Param { name, value });
        }
        Ok(Params(list))
    }
}
