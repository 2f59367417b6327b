//! What the OpenAPI document promises for every operation, checked on the
//! document itself (built in-process, no server): an auth scheme, request
//! and success bodies with schemas and examples, every error status with an
//! example in its API's error envelope (and every operation but liveness
//! listing its errors as responses), and every example valid against its
//! schema, so neither the document's coverage nor its examples can rot.
//! schemathesis (`api_fuzz`) then checks the schemas against the server.

use serde_json::{Map, Value};

/// Operations anyone may call, on purpose: a load balancer's probes need no
/// key. (`/openapi.json` and `/docs` are public too, but are not operations
/// of the document they serve.)
const PUBLIC: &[(&str, &str)] = &[("get", "/healthz"), ("get", "/readyz")];

/// Operations that cannot fail in a way a client sees: liveness answers 200
/// whenever the process serves HTTP at all. Every other operation must list
/// the errors it can return, as responses.
const NO_ERRORS: &[(&str, &str)] = &[("get", "/healthz")];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// One operation's place in the document, for the gap list.
struct Op<'a> {
    method: &'a str,
    path: &'a str,
    doc: &'a Value,
}

impl Op<'_> {
    fn gap(&self, gaps: &mut Vec<String>, what: impl std::fmt::Display) {
        gaps.push(format!("{} {}: {what}", self.method.to_uppercase(), self.path));
    }
}

/// `schema` as a document of its own that can still resolve
/// `#/components/...` refs: the components ride along under their own key,
/// which JSON Schema ignores as an unknown keyword.
pub(crate) fn validator(schema: &Value, components: &Value) -> Result<jsonschema::Validator, String> {
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        Value::Bool(true) => Map::new(),
        other => return Err(format!("schema is not an object: {other}")),
    };
    root.insert("components".into(), components.clone());
    jsonschema::draft202012::new(&Value::Object(root)).map_err(|e| format!("schema does not compile: {e}"))
}

/// The schema's own example, following one `$ref` to a component.
fn schema_examples<'a>(schema: &'a Value, components: &'a Value) -> Vec<&'a Value> {
    let resolved = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .and_then(|name| components["schemas"].get(name))
        .unwrap_or(schema);
    let mut found: Vec<&Value> = resolved.get("example").into_iter().collect();
    if let Some(Value::Array(list)) = resolved.get("examples") {
        found.extend(list);
    }
    found
}

/// Checks one media type: a schema, at least one example, each example
/// valid.
fn check_media(op: &Op, gaps: &mut Vec<String>, place: &str, media: &Value) {
    let components = &op.doc["components"];
    let Some(schema) = media.get("schema") else {
        op.gap(gaps, format_args!("{place} has no schema"));
        return;
    };
    let mut examples: Vec<(String, &Value)> = Vec::new();
    if let Some(example) = media.get("example") {
        examples.push(("example".into(), example));
    }
    for (name, example) in media
        .get("examples")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        match example.get("value") {
            Some(value) => examples.push((format!("example {name}"), value)),
            None => op.gap(gaps, format_args!("{place}: example {name} has no inline value")),
        }
    }
    for example in schema_examples(schema, components) {
        examples.push(("the schema's example".into(), example));
    }
    if examples.is_empty() {
        op.gap(gaps, format_args!("{place} has no example"));
        return;
    }
    let validator = match validator(schema, components) {
        Ok(v) => v,
        Err(e) => {
            op.gap(gaps, format_args!("{place}: {e}"));
            return;
        }
    };
    for (name, example) in &examples {
        for error in validator.iter_errors(example) {
            let at = error.instance_path().to_string();
            op.gap(
                gaps,
                format_args!("{place}: {name} does not fit its schema at `{at}`: {error}"),
            );
        }
    }
}

fn check_request(op: &Op, gaps: &mut Vec<String>, operation: &Value) {
    let Some(body) = operation.get("requestBody") else {
        return;
    };
    let content = body.get("content").and_then(Value::as_object);
    if content.is_none_or(Map::is_empty) {
        op.gap(gaps, "the request body has no media type");
    }
    for (media_type, media) in content.into_iter().flatten() {
        check_media(op, gaps, &format!("request body {media_type}"), media);
    }
}

fn check_responses(op: &Op, gaps: &mut Vec<String>, operation: &Value) {
    let responses = operation["responses"].as_object().cloned().unwrap_or_default();
    let mut described_success = false;
    let mut listed_error = false;
    for (status, response) in &responses {
        let content = response.get("content").and_then(Value::as_object);
        let is_success = status.starts_with('2');
        let is_error = status.starts_with('4') || status.starts_with('5');
        listed_error |= is_error;
        if response["description"].as_str().is_none_or(str::is_empty) {
            op.gap(gaps, format_args!("response {status} has no description"));
        }
        if is_success && status == "204" {
            // No content, by definition: the description is the whole story.
            described_success |= content.is_none_or(Map::is_empty);
            continue;
        }
        if !(is_success || is_error) {
            continue;
        }
        // A missing body, schema or example is reported once, below.
        described_success |= is_success;
        if content.is_none_or(Map::is_empty) {
            op.gap(gaps, format_args!("response {status} has no body schema"));
            continue;
        }
        for (media_type, media) in content.into_iter().flatten() {
            check_media(op, gaps, &format!("response {status} {media_type}"), media);
        }
    }
    if !described_success {
        op.gap(gaps, "no 2xx response with a body (or a bodiless 204)");
    }
    if !listed_error && !NO_ERRORS.contains(&(op.method, op.path)) {
        op.gap(gaps, "lists no error response (4xx/5xx)");
    }
}

fn check_security(op: &Op, gaps: &mut Vec<String>, operation: &Value) {
    let schemes = op.doc["components"]["securitySchemes"].as_object();
    let requirements = operation
        .get("security")
        .or_else(|| op.doc.get("security"))
        .and_then(Value::as_array);
    let public = PUBLIC.contains(&(op.method, op.path));
    match requirements {
        Some(list) if !list.is_empty() => {
            if public {
                op.gap(
                    gaps,
                    "is on the public allow-list but requires auth: take it off the list",
                );
            }
            for name in list.iter().filter_map(Value::as_object).flat_map(Map::keys) {
                if !schemes.is_some_and(|s| s.contains_key(name)) {
                    op.gap(
                        gaps,
                        format_args!("security scheme `{name}` is not in components"),
                    );
                }
            }
        }
        _ if public => {}
        _ => op.gap(gaps, "no security requirement (and not on the public allow-list)"),
    }
}

/// Every gap of the document, one line each.
fn gaps_of(doc: &Value) -> Vec<String> {
    let mut gaps = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            let op = Op { method, path, doc };
            check_security(&op, &mut gaps, operation);
            check_request(&op, &mut gaps, operation);
            check_responses(&op, &mut gaps, operation);
        }
    }
    gaps
}

#[test]
#[expect(clippy::print_stdout, reason = "the gap count is the test's report")]
fn every_operation_has_auth_schemas_examples_and_its_errors_and_every_example_fits() {
    let doc: Value = serde_json::from_str(&keyway::openapi::document().unwrap()).unwrap();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| METHODS.iter().filter(|m| item.get(**m).is_some()).count())
        .sum();
    assert!(operations > 40, "the document lost its operations: {operations}");
    let gaps = gaps_of(&doc);
    println!("openapi coverage: {} gaps in {operations} operations", gaps.len());
    assert!(gaps.is_empty(), "{} gaps:\n{}", gaps.len(), gaps.join("\n"));
}

#[test]
fn the_coverage_check_finds_a_missing_example_a_wrong_one_a_missing_auth_and_unlisted_errors() {
    let mut doc: Value = serde_json::from_str(&keyway::openapi::document().unwrap()).unwrap();
    let op = &mut doc["paths"]["/api/v1/tenants"]["post"];
    op.as_object_mut().unwrap().remove("security");
    let created = &mut op["responses"]["201"]["content"]["application/json"];
    created.as_object_mut().unwrap().remove("example");
    let body = &mut op["requestBody"]["content"]["application/json"];
    body["example"] = serde_json::json!({"name": 42});
    let listing = &mut doc["paths"]["/api/v1/tenants"]["get"]["responses"];
    listing
        .as_object_mut()
        .unwrap()
        .retain(|status, _| status.starts_with('2'));
    let gaps: Vec<String> = gaps_of(&doc)
        .into_iter()
        .filter(|g| g.starts_with("POST /api/v1/tenants:") || g.starts_with("GET /api/v1/tenants:"))
        .collect();
    let has = |needle: &str| gaps.iter().any(|g| g.contains(needle));
    assert!(has("no security requirement"), "{gaps:#?}");
    assert!(has("does not fit its schema at `/name`"), "{gaps:#?}");
    assert!(has("response 201 application/json has no example"), "{gaps:#?}");
    assert!(has("GET /api/v1/tenants: lists no error response"), "{gaps:#?}");
}
