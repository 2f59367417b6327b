//! The error responses' bodies and examples: every error response of every
//! operation gets its API's error schema and one example per code its
//! description names. `/v1` examples are rendered by the gateway's own
//! error type (`keyway_gateway::error_samples`), so they are the bytes a
//! client gets; `/api/v1` ones carry the meaning `docs/errors.md` gives.

use std::collections::BTreeMap;

use keyway_gateway::error::Flavor;
use serde_json::{Value, json};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{Content, OneOfBuilder, OpenApi, Ref, RefOr, Schema, example::ExampleBuilder, path::Operation},
};

/// The `/v1` error shape of OpenAI's routes.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema for the document only")]
struct OpenAiError {
    error: OpenAiErrorDetail,
}

#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema for the document only")]
struct OpenAiErrorDetail {
    message: String,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, …
    r#type: String,
    /// The offending parameter, when there is one.
    param: Option<String>,
    /// OpenAI's own code where one exists (`model_not_found`, …).
    code: String,
    /// Keyway's stable code (docs/errors.md).
    keyway_code: String,
}

/// The `/v1` error shape of Anthropic's routes.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema for the document only")]
struct AnthropicError {
    /// Always `error`.
    r#type: String,
    error: AnthropicErrorDetail,
}

#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema for the document only")]
struct AnthropicErrorDetail {
    r#type: String,
    message: String,
    keyway_code: String,
}

const ERRORS_MD: &str = include_str!("../../../docs/errors.md");

/// Every `KW-…` code in `text`, in order, without repeats.
pub(crate) fn codes_in(text: &str) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("KW-") {
        let code: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if code.split('-').count() == 3
            && code.ends_with(|c: char| c.is_ascii_digit())
            && !codes.contains(&code)
        {
            codes.push(code.clone());
        }
        rest = &rest[at + code.len().max(3)..];
    }
    codes
}

/// `/api/v1` code → its meaning, from the second table of docs/errors.md.
fn api_meanings() -> BTreeMap<String, String> {
    let api = ERRORS_MD
        .split("## Admin and tenant API")
        .nth(1)
        .unwrap_or_default();
    api.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1).filter(|c| c.starts_with("KW-"))?;
            let meaning = cells.get(3)?;
            let mut meaning = meaning.replace('`', "");
            if let Some(first) = meaning.get(..1) {
                meaning = first.to_uppercase() + &meaning[1..];
            }
            Some(((*code).to_owned(), format!("{meaning}.")))
        })
        .collect()
}

pub(crate) fn register_schemas(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        (OpenAiError::name(), OpenAiError::schema()),
        (OpenAiErrorDetail::name(), OpenAiErrorDetail::schema()),
        (AnthropicError::name(), AnthropicError::schema()),
        (AnthropicErrorDetail::name(), AnthropicErrorDetail::schema()),
    ] {
        components.schemas.insert(name.into_owned(), schema);
    }
}

/// The schema and examples of every `/v1` error response.
pub(crate) fn document_llm(path: &str, operation: &mut Operation) {
    let flavor = if path.ends_with("/messages") || path.ends_with("/messages/count_tokens") {
        Flavor::Anthropic
    } else {
        Flavor::OpenAi
    };
    // `/v1/models` answers in Anthropic's shape when the client sends
    // `anthropic-version` (`Flavor::of`), in OpenAI's otherwise.
    let schema: RefOr<Schema> = if path == "/v1/models" {
        OneOfBuilder::new()
            .item(Ref::from_schema_name(OpenAiError::name()))
            .item(Ref::from_schema_name(AnthropicError::name()))
            .into()
    } else {
        match flavor {
            Flavor::OpenAi => Ref::from_schema_name(OpenAiError::name()).into(),
            Flavor::Anthropic => Ref::from_schema_name(AnthropicError::name()).into(),
        }
    };
    let samples = keyway_gateway::error_samples::samples();
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if status.as_str() < "400" {
            continue;
        }
        let examples = codes_in(&response.description)
            .into_iter()
            .filter_map(|code| {
                let sample = samples.iter().find(|s| s.code() == code)?;
                let fits = sample.status().as_str() == status || code == "KW-UP-001";
                fits.then(|| (code, sample.body(flavor)))
            })
            .collect();
        attach(response, schema.clone(), examples);
    }
}

/// The examples of an `/api/v1` error response.
pub(crate) fn document_api(operation: &mut Operation, schema: &str) {
    let meanings = api_meanings();
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if status.as_str() < "400" {
            continue;
        }
        let examples = codes_in(&response.description)
            .into_iter()
            .filter_map(|code| {
                let message = meanings.get(&code)?.clone();
                Some((code.clone(), json!({"error": {"code": code, "message": message}})))
            })
            .collect();
        attach(response, Ref::from_schema_name(schema).into(), examples);
    }
}

fn attach(response: &mut utoipa::openapi::Response, schema: RefOr<Schema>, examples: Vec<(String, Value)>) {
    let content = response
        .content
        .entry("application/json".to_owned())
        .or_insert_with(|| Content::new(Some(schema)));
    for (code, body) in examples {
        let example = ExampleBuilder::new()
            .summary(code.clone())
            .value(Some(body))
            .build();
        content.examples.insert(code, RefOr::T(example));
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_api_code_of_the_registry_has_a_meaning_for_its_example() {
        let meanings = api_meanings();
        assert!(meanings["KW-ADM-001"].starts_with("Not found"), "{meanings:?}");
        assert_eq!(
            codes_in("a (KW-REQ-001), b KW-REQ-001, KW-ADM-002."),
            ["KW-REQ-001", "KW-ADM-002"]
        );
        let doc = crate::openapi::spec();
        let op = doc.paths.paths["/v1/chat/completions"].post.as_ref().unwrap();
        let RefOr::T(not_found) = &op.responses.responses["404"] else {
            panic!()
        };
        let example = &not_found.content["application/json"].examples["KW-MODEL-001"];
        let RefOr::T(example) = example else { panic!() };
        assert_eq!(
            example.value.as_ref().unwrap()["error"]["code"],
            "model_not_found"
        );
    }
}
