//! `GET /openapi.json`: the API's OpenAPI 3.1 document, generated from the
//! handlers' `#[utoipa::path]` annotations and the types' `ToSchema`
//! derives, through the same route list the router is built from
//! ([`super::public_routes`], [`super::v1_routes`]).
//!
//! A flow's `actions` are described by the JSON Schema the flow interpreter
//! generates (`flow::schema()`, also served at `GET /v1/flows/schema`): its
//! definitions are added as components named `flow.<Name>` and the list as
//! `FlowActions`, so the document holds the whole contract.

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The component the flows' `actions` fields refer to.
pub const FLOW_ACTIONS: &str = "FlowActions";
/// The prefix of the components taken from the flow JSON Schema's `$defs`.
const FLOW_PREFIX: &str = "flow.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dialtone",
        version = env!("CARGO_PKG_VERSION"),
        description = "Programmable voice calls: extensions, calls, flows, numbers, trunks, \
            recordings, events and webhooks. Every `/v1` route needs \
            `Authorization: Bearer <key>` (the key from `DIALTONE_API_KEY`, or generated on \
            the first start and printed once); the WebSocket routes also take `?api_key=<key>`, \
            as browsers cannot set headers on a WebSocket. Every error is \
            `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(responses(super::Unauthorized)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "calls", description = "Call legs (the two-call model), live and finished, and what can be done to a live one"),
        (name = "recordings", description = "Recordings of calls: start, stop, list, download, live stream"),
        (name = "flows", description = "Stored call flows (lists of actions) and their JSON Schema"),
        (name = "numbers", description = "Numbers Dialtone answers and the flow each runs"),
        (name = "trunks", description = "SIP gateways `tel` calls leave through, with failover by priority"),
        (name = "extensions", description = "The accounts phones register as"),
        (name = "registrations", description = "The registrar's current bindings"),
        (name = "events", description = "The live event stream (WebSocket)"),
        (name = "webhooks", description = "The webhook outbox: what was sent where, and redelivery"),
        (name = "system", description = "Liveness, metrics and this document (no key needed)"),
    )
)]
struct ApiDoc;

/// `bearer` (the `Authorization` header) and `api_key` (the query
/// parameter the WebSocket routes accept).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The API key: `Authorization: Bearer <key>`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "api_key",
                "The API key as a query parameter, for WebSocket clients that cannot set headers.",
            ))),
        );
    }
}

/// The schema of a body's `actions` field: a reference to [`FLOW_ACTIONS`]
/// (for `#[schema(schema_with = ...)]`).
pub fn flow_actions() -> utoipa::openapi::Ref {
    utoipa::openapi::Ref::from_schema_name(FLOW_ACTIONS)
}

/// The document, built on first use.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// The document as served (built on first use).
fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| document().to_string())
}

fn build() -> Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::public_routes().into_openapi());
    doc.merge(super::v1_routes().into_openapi());
    let mut doc = serde_json::to_value(doc).expect("an OpenApi serializes to JSON");
    add_flow_schema(&mut doc, flow::schema());
    short_summaries(&mut doc);
    doc
}

/// utoipa makes a handler's first doc paragraph the operation's summary;
/// a summary is one line in every viewer, so it keeps the first sentence
/// and the whole paragraph goes to the description.
fn short_summaries(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in op.values_mut().filter_map(Value::as_object_mut) {
            let Some(text) = op.get("summary").and_then(Value::as_str) else {
                continue;
            };
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let Some(end) = flat.find(". ") else {
                op.insert("summary".into(), json!(flat));
                continue;
            };
            let description = match op.get("description").and_then(Value::as_str) {
                Some(more) => format!("{flat}\n\n{more}"),
                None => flat.clone(),
            };
            op.insert("summary".into(), json!(flat[..=end]));
            op.insert("description".into(), json!(description));
        }
    }
}

/// Adds the flow JSON Schema's `$defs` as `flow.<Name>` components and its
/// `actions` list as [`FLOW_ACTIONS`], their `$ref`s pointed at the
/// components.
fn add_flow_schema(doc: &mut Value, mut flow: Value) {
    retarget_refs(&mut flow);
    let defs = match flow.get_mut("$defs").map(Value::take) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let mut actions = flow["properties"]["actions"].take();
    if let Value::Object(a) = &mut actions {
        a.insert(
            "description".into(),
            json!(
                "A flow's actions, run in order (`next_id`, `goto` and `branch` jump); \
                 every action kind and option is below, and `GET /v1/flows/schema` \
                 serves the same JSON Schema."
            ),
        );
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("the document has component schemas");
    schemas.insert(FLOW_ACTIONS.into(), actions);
    for (name, schema) in defs {
        schemas.insert(format!("{FLOW_PREFIX}{name}"), schema);
    }
}

/// `#/$defs/X` → `#/components/schemas/flow.X`, everywhere in `v`.
fn retarget_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/$defs/") {
                            *r = format!("#/components/schemas/{FLOW_PREFIX}{name}");
                        }
                    }
                    (_, x) => retarget_refs(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(retarget_refs),
        _ => {}
    }
}

/// This document. No key needed.
#[utoipa::path(get, path = "/openapi.json", tag = "system", operation_id = "openapi",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], text())
}

#[cfg(test)]
mod tests {
    use super::document;
    use serde_json::{json, Value};
    use std::collections::BTreeSet;

    /// The document's schema `name`, with every `$ref` in the document
    /// resolvable from it, as a JSON Schema 2020-12 validator.
    fn validator(name: &str) -> jsonschema::Validator {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/components/schemas/{name}"),
            "components": document()["components"],
        });
        jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("components/schemas/{name} does not compile: {e}"))
    }

    fn check(name: &str, value: &Value) {
        let v = validator(name);
        let errors: Vec<String> = v
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}\n{value:#}");
        // No field the schema does not name (the derives do not say
        // `additionalProperties: false` for responses).
        let schema = &document()["components"]["schemas"][name];
        if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
            for key in obj.keys() {
                assert!(props.contains_key(key), "{name}: '{key}' is not documented");
            }
        }
    }

    /// Every `$ref` in `v`, with where it is.
    fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push((at.clone(), r)),
                        _ => refs(x, format!("{at}/{k}"), out),
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    refs(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Every operation: (path, method, operation).
    fn operations() -> Vec<(&'static str, &'static str, &'static Value)> {
        let mut out = Vec::new();
        for (path, item) in document()["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((path.as_str(), method.as_str(), op));
            }
        }
        out
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_reference_resolves() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "Dialtone");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

        // Structure: the OpenAPI 3.1 object model, every object in place.
        let spec = oas3::from_json(super::text()).expect("the document parses as OpenAPI 3.1");
        spec.validate_version()
            .expect("a supported OpenAPI version");
        let mut ops = 0;
        for (path, method, op) in spec.operations() {
            ops += 1;
            let raw = &doc["paths"][&path][method.as_str().to_lowercase()];
            let params = op.parameters(&spec).unwrap();
            assert_eq!(
                params.len(),
                op.parameters.len(),
                "{method} {path}: a parameter does not resolve"
            );
            let responses = op.responses(&spec);
            assert_eq!(
                responses.len(),
                raw["responses"].as_object().unwrap().len(),
                "{method} {path}: a response does not resolve"
            );
            op.request_body(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
        assert_eq!(ops, operations().len());
        for (name, scheme) in &spec.components.as_ref().unwrap().security_schemes {
            scheme
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }

        // Every `$ref` points at something in the document.
        let mut all = Vec::new();
        refs(doc, String::new(), &mut all);
        assert!(all.len() > 100, "{}", all.len());
        for (at, r) in all {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: external $ref {r}"));
            assert!(
                doc.pointer(pointer).is_some(),
                "{at}: $ref {r} resolves to nothing"
            );
        }

        // Every schema is a JSON Schema 2020-12 (OpenAPI 3.1's dialect) that
        // compiles with its references.
        for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
            if let Err(e) = jsonschema::meta::validate(schema) {
                panic!("components/schemas/{name} is not a JSON Schema: {e}");
            }
            validator(name);
        }
    }

    #[test]
    fn every_operation_says_how_it_is_authorized_and_how_it_fails() {
        let mut ids = BTreeSet::new();
        for (path, method, op) in operations() {
            let what = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(ids.insert(id), "{what}: operationId {id} is taken");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{what}: no summary"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| t.len() == 1),
                "{what}: one tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{what}: no success response"
            );
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let body = r
                        .pointer("/content/application~1json/schema/$ref")
                        .or_else(|| r.get("$ref"))
                        .and_then(Value::as_str);
                    assert!(
                        matches!(
                            body,
                            Some(
                                "#/components/schemas/Error"
                                    | "#/components/responses/Unauthorized"
                            )
                        ),
                        "{what} {status}: not the error shape"
                    );
                }
            }
            // Path parameters: each one in the template, declared, required.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{what}: {p}"))
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, templated, "{what}: path parameters");

            let security = op["security"].as_array();
            if path.starts_with("/v1/") {
                let schemes: Vec<&str> = security
                    .unwrap_or_else(|| panic!("{what}: no security"))
                    .iter()
                    .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                let websocket = responses.contains_key("101");
                let expected: &[&str] = if websocket {
                    &["bearer", "api_key"]
                } else {
                    &["bearer"]
                };
                assert_eq!(schemes, expected, "{what}: security");
                assert_eq!(
                    responses["401"]["$ref"], "#/components/responses/Unauthorized",
                    "{what}"
                );
            } else {
                assert!(security.is_none(), "{what}: needs no key");
            }
        }
        let schemes = document()["components"]["securitySchemes"]
            .as_object()
            .unwrap();
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(
            (&schemes["api_key"]["in"], &schemes["api_key"]["name"]),
            (&json!("query"), &json!("api_key"))
        );
    }

    /// What the handlers send matches the schemas the document gives them:
    /// real values, serialized as the API does, validated against them.
    #[test]
    fn real_values_match_their_schemas() {
        use chrono::{TimeZone, Utc};
        use model::*;
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        let id = Uuid::from_u128(0x1234);
        let mut call = Call::new(
            id,
            Direction::Outgoing,
            Address::extension("100").with_name("Alice"),
            Address::tel("+15550100"),
            "abc@host".into(),
            t,
        );
        call.attempts.push(CallAttempt {
            trunk_id: Some(id),
            route: "carrier".into(),
            gateway: "192.0.2.1:5060".into(),
            sip_code: Some(503),
            reason: Some(HangupReason::Failed),
            elapsed_ms: 20,
        });
        call.hang_up(HangupBy::Remote, HangupReason::Busy, Some(486), t);
        let call = serde_json::to_value(&call).unwrap();
        check("Call", &call);
        check(
            "PageOf_Call",
            &json!({"items": [call], "next_page_token": "x"}),
        );
        check("Items_Call", &json!({"items": [call]}));

        let recording = Recording {
            id,
            call_id: id,
            status: RecordingStatus::Finished,
            format: "wav".into(),
            direction: RecordingDirection::Both,
            channels: RecordingChannels::Stereo,
            sample_rate: 8000,
            duration_ms: 1000,
            size_bytes: 32044,
            sha256: Some("00".repeat(32)),
            end_reason: Some("stopped".into()),
            error: None,
            tm_start: t,
            tm_end: Some(t),
        };
        check("Recording", &serde_json::to_value(&recording).unwrap());
        let extension = Extension {
            id,
            extension: "100".into(),
            name: String::new(),
            static_contact: None,
            origin: Origin::Config,
            tm_create: t,
            tm_update: t,
        };
        check("Extension", &serde_json::to_value(&extension).unwrap());
        check(
            "PageOf_Extension",
            &serde_json::to_value(store::PageOf {
                items: vec![extension],
                next_page_token: None,
            })
            .unwrap(),
        );
        check(
            "Registration",
            &serde_json::to_value(Registration {
                extension: "100".into(),
                contact: "sip:100@192.0.2.9:5062".into(),
                source: "192.0.2.9:5062".into(),
                transport: "udp".into(),
                user_agent: "baresip".into(),
                expires: t,
                tm_update: t,
            })
            .unwrap(),
        );
        let number = Number {
            id,
            number: "+15550100".into(),
            name: "main".into(),
            flow_id: Some(id),
            tm_create: t,
            tm_update: t,
        };
        check("Number", &serde_json::to_value(&number).unwrap());
        let trunk = Trunk {
            id,
            name: "carrier".into(),
            host: "gw.example".into(),
            port: 5060,
            transport: TrunkTransport::Udp,
            username: Some("u".into()),
            password: Some("secret".into()),
            register: true,
            inbound_addresses: vec!["192.0.2.0/24".into()],
            codecs: vec!["PCMU".into()],
            priority: 10,
            enabled: true,
            tm_create: t,
            tm_update: t,
            registration: Some(model::TrunkRegistrationState {
                status: "registered".into(),
                sip_code: Some(200),
                expires: Some(60),
                tm_update: t,
            }),
        };
        check("Trunk", &serde_json::to_value(&trunk).unwrap());
        check(
            "WebhookDelivery",
            &serde_json::to_value(WebhookDelivery {
                id,
                event_id: id,
                event_type: "call_hangup".into(),
                call_id: Some(id),
                sequence: 7,
                url: "https://hooks.example/x".into(),
                status: DeliveryStatus::Failed,
                attempts: 3,
                last_status_code: Some(500),
                last_error: Some("HTTP 500".into()),
                next_attempt_at: None,
                tm_create: t,
                tm_update: t,
            })
            .unwrap(),
        );
        check(
            "Envelope",
            &serde_json::to_value(Envelope {
                kind: EventType::CallHangup,
                event_id: id,
                sequence: 3,
                tm_event: t,
                data: call.clone(),
            })
            .unwrap(),
        );
        let error = super::super::ApiError::not_found("call 1 does not exist");
        check(
            "Error",
            &serde_json::to_value(super::super::ErrorBody {
                error: super::super::error::ErrorDetail {
                    code: error.code,
                    message: error.message,
                },
            })
            .unwrap(),
        );

        // Flows: what the handlers store and return, and a body they take.
        let actions = json!([
            {"id": "start", "type": "answer"},
            {"type": "play", "option": {"urls": ["file:///m/menu.wav"]}},
            {"type": "digits_receive", "option": {"length": 1, "duration": 5000}},
            {"type": "hangup"}
        ]);
        let body = json!({"name": "ivr", "actions": actions});
        check("FlowBody", &body);
        let flow =
            super::super::flows::flow_from(body.as_object().unwrap().clone(), id, t).unwrap();
        check("Flow", &flow);
        assert!(!validator("FlowActions").is_valid(&json!([{"type": "no_such_action"}])));
        check(
            "CreateCall",
            &json!({"source": {"type": "tel", "target": "+15550100"},
                    "destinations": [{"type": "extension", "target": "100"}],
                    "actions": actions, "ring_method": "linear", "ring_timeout": 30}),
        );
    }
}
