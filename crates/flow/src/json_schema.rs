//! The JSON Schema (draft 2020-12) of a flow, generated from the Rust types.
//!
//! An action is a `oneOf` with one branch per kind: `type` is that kind's
//! name (`const`), `option` that kind's option schema (required only when
//! the option has a field without a default). Editors and API clients can
//! use it for completion and early checks; [`crate::validate`] remains the
//! authority (ranges, ids, targets, E.164 are beyond the schema).

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use crate::action::{Action, ActionKind, Flow};

/// The JSON Schema of a flow (`{"actions": [...]}`), with every action kind
/// and option under `$defs`.
pub fn schema() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<Flow>();
    schema.to_value()
}

impl JsonSchema for Action {
    fn schema_name() -> Cow<'static, str> {
        "Action".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let branches: Vec<Value> = ActionKind::option_schemas(generator)
            .into_iter()
            .map(|(name, option, required)| {
                let mut req = vec!["type"];
                if required {
                    req.push("option");
                }
                json!({
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "Names this action for goto, branch, conditions and next_id."},
                        "next_id": {"type": "string", "description": "The id of the action to run after this one."},
                        "type": {"const": name},
                        "option": option.to_value(),
                    },
                    "required": req,
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "One step of a call flow: {\"id\"?, \"next_id\"?, \"type\", \"option\"?}.",
            "oneOf": branches,
        })
    }
}
