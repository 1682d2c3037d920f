//! Flow variables and `${name}` substitution.
//!
//! Variables are strings. The call's own fields are variables under
//! `call.`, flattened with dots (`${call.id}`, `${call.source.target}`,
//! `${call.chained_call_ids.0}`); the flow adds `digits`,
//! `connect.result`, `amd.result`, whatever `variable_set` and a sync
//! `webhook_send` set, and the I/O layer may add more
//! ([`crate::Input::SetVariables`]).
//!
//! Substitution is one pass: `${name}` becomes the variable's value, or
//! nothing when there is no such variable; a value that itself contains
//! `${...}` is not expanded again (so digits or webhook data cannot inject
//! variables). A `$` not followed by `{name}` stays as it is.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The variables of one flow run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Variables(BTreeMap<String, String>);

impl Variables {
    /// No variables.
    pub fn new() -> Variables {
        Variables::default()
    }

    /// The call's fields (a call resource as JSON), under `call.`.
    pub fn from_call(call: &Value) -> Variables {
        let mut vars = Variables::new();
        flatten("call", call, &mut vars.0);
        vars
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy of every variable (for a command that sends them).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.clone()
    }

    /// `template` with every `${name}` replaced by its value (unknown
    /// variables by nothing).
    pub fn substitute(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) if is_name(&after[..end]) => {
                    out.push_str(self.get(&after[..end]).unwrap_or(""));
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The value a `variable` option names: a template when it holds
    /// `${`, else a bare variable name.
    pub fn resolve(&self, variable: &str) -> String {
        if variable.contains("${") {
            self.substitute(variable)
        } else {
            self.get(variable).unwrap_or("").to_owned()
        }
    }

    /// Sets variables from the string, number and boolean fields of a JSON
    /// object (a sync webhook's answer); other fields are ignored.
    pub fn set_from_json(&mut self, object: &Map<String, Value>) {
        for (key, value) in object {
            if !is_name(key) {
                continue;
            }
            match value {
                Value::String(s) => self.set(key.clone(), s.clone()),
                Value::Number(n) => self.set(key.clone(), n.to_string()),
                Value::Bool(b) => self.set(key.clone(), b.to_string()),
                _ => {}
            }
        }
    }
}

/// The call's fields, under `call.` (as [`Variables::from_call`]).
impl From<Value> for Variables {
    fn from(call: Value) -> Variables {
        Variables::from_call(&call)
    }
}

/// The call's fields, under `call.` (as [`Variables::from_call`]).
impl From<Map<String, Value>> for Variables {
    fn from(call: Map<String, Value>) -> Variables {
        Variables::from_call(&Value::Object(call))
    }
}

impl FromIterator<(String, String)> for Variables {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Variables {
        Variables(iter.into_iter().collect())
    }
}

impl Extend<(String, String)> for Variables {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// A variable name: 1 to 128 of ASCII letters, digits, `_`, `.`, `-`.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            out.insert(prefix.to_owned(), b.to_string());
        }
        Value::Number(n) => {
            out.insert(prefix.to_owned(), n.to_string());
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), item, out);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                flatten(&format!("{prefix}.{key}"), item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_fields_flatten_under_call() {
        let vars = Variables::from(json!({
            "id": "c1",
            "source": {"type": "tel", "target": "+15550100", "name": "Ann"},
            "chained_call_ids": ["x", "y"],
            "recording_id": null,
            "sip_code": 200,
        }));
        assert_eq!(vars.get("call.id"), Some("c1"));
        assert_eq!(vars.get("call.source.target"), Some("+15550100"));
        assert_eq!(vars.get("call.chained_call_ids.1"), Some("y"));
        assert_eq!(vars.get("call.sip_code"), Some("200"));
        assert_eq!(vars.get("call.recording_id"), None);
    }

    #[test]
    fn substitution() {
        let mut vars = Variables::new();
        vars.set("digits", "42");
        vars.set("evil", "${digits}");
        assert_eq!(vars.substitute("you pressed ${digits}."), "you pressed 42.");
        assert_eq!(vars.substitute("[${nope}]"), "[]");
        assert_eq!(vars.substitute("${evil}"), "${digits}", "one pass only");
        assert_eq!(
            vars.substitute("$5 ${ x} ${unterminated"),
            "$5 ${ x} ${unterminated"
        );
        assert_eq!(vars.substitute("${digits}${digits}"), "4242");
        assert_eq!(vars.resolve("digits"), "42");
        assert_eq!(vars.resolve("#${digits}"), "#42");
    }
}
