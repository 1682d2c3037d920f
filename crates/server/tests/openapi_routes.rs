//! The router serves exactly what `GET /openapi.json` documents.
//!
//! axum cannot list a router's routes, so the router and the document are
//! made from one list (`utoipa_axum::routes!` in `api::public_routes` and
//! `api::v1_routes`: a handler without `#[utoipa::path]` does not compile
//! there). These tests check the two ends of that: a real server answers
//! every documented operation, and only those methods, on every documented
//! path; and nothing in the crate adds a route any other way.

use reqwest::Method;
use serde_json::Value;
use server::config::{Config, Overrides, PortRange};
use server::Server;
use std::path::Path;

/// The methods probed on every documented path (axum answers `HEAD` for
/// every `GET` itself).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// With the key, every documented operation is routed (the handler runs:
/// with a nil id and no body it answers 4xx, never 405 or "no such
/// route") and any other method on a documented path is 405; without it,
/// a documented operation with `security` is 401 and one without is 200;
/// an undocumented path is the API's 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let dir = std::env::temp_dir().join(format!("dialtone-openapi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::load(
        None,
        &Overrides {
            data_dir: Some(dir.clone()),
            sip_listen: Some("127.0.0.1:0".parse().unwrap()),
            http_listen: Some("127.0.0.1:0".parse().unwrap()),
            rtp_ports: Some(PortRange(41_000, 41_099)),
            ..Overrides::default()
        },
    )
    .unwrap();
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.http);
    let client = reqwest::Client::new();

    let served: Value = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&served, server::api::openapi::document());

    let paths = served["paths"].as_object().unwrap();
    let mut probed = 0;
    for (path, item) in paths {
        let url = format!(
            "{base}{}",
            path.replace("{id}", "00000000-0000-4000-8000-000000000000")
        );
        for method in METHODS {
            let op = item.get(method.to_lowercase());
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            // With the key: no method but the documented ones is routed.
            let (status, body) = send(
                client
                    .request(method.clone(), &url)
                    .bearer_auth(&server.api_key),
            )
            .await;
            match op {
                None => assert_eq!(status, 405, "{method} {path}: {body}"),
                Some(_) => assert!(
                    status != 405 && body["error"]["message"] != "no such route; see /openapi.json",
                    "{method} {path}: {status} {body}"
                ),
            }
            // Without: the documented `security` is what is enforced.
            if let Some(op) = op {
                let (status, body) = send(client.request(method.clone(), &url)).await;
                let expected = if op.get("security").is_some() {
                    401
                } else {
                    200
                };
                assert_eq!(status, expected, "{method} {path} without the key: {body}");
                probed += 1;
            }
        }
    }
    assert!(probed >= 50, "{probed} operations");

    let resp = client
        .get(format!("{base}/v1/no_such_thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Routes reach the router only through `routes!` (documented by
/// construction): no `.route(`, `.route_service(`, `.nest(` or
/// `.nest_service(` anywhere in the crate, whose routes would be served
/// but not documented.
#[test]
fn no_route_is_added_around_the_documented_list() {
    let mut offenders = Vec::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut offenders,
    );
    assert!(
        offenders.is_empty(),
        "routes added without #[utoipa::path] + routes!: {offenders:#?}"
    );
}

/// The status and the JSON body (`null` if it is not JSON).
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn visit(dir: &Path, offenders: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, offenders);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if [".route(", ".route_service(", ".nest(", ".nest_service("]
                    .iter()
                    .any(|call| code.contains(call))
                {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
}
