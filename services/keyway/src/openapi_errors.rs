//! Every `/api/v1` operation documents the errors it can answer, each with
//! the one envelope (`ErrorBody`) and the codes behind it, so a client (or
//! schemathesis) finds each status it meets in the document. Written once
//! here rather than on forty handlers, which would drift apart.

use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{Content, OpenApi, Ref, RefOr, Response, path::Operation},
};

use keyway_common::api::{ErrorBody, ErrorDetail};

/// Status, description, and whether it applies only to operations with a body.
const API_ERRORS: &[(&str, &str, bool)] = &[
    (
        "400",
        "Invalid input: malformed JSON (KW-REQ-001), a wrong, unknown or missing field, query or path \
         parameter (KW-REQ-002), a list's `cursor` it did not hand out (KW-REQ-007), or a value the service refuses (KW-ADM-002, KW-USAGE-001, KW-USAGE-004). \
         The message names the field.",
        false,
    ),
    (
        "401",
        "No valid admin key or API key was presented (KW-AUTH-002); or the key's user has not been \
         confirmed by Keycloak recently enough (KW-AUTH-005); or, on the identity webhook, the signature \
         is missing, stale or wrong (KW-AUTH-002).",
        false,
    ),
    (
        "403",
        "The caller's role or credential may not do this (KW-AUTH-003), or the tenant's plan lacks the \
         feature (KW-PLAN-001).",
        false,
    ),
    (
        "404",
        "Not found; another tenant's ids answer the same (KW-ADM-001, KW-USAGE-002).",
        false,
    ),
    (
        "413",
        "The body is larger than the API accepts (KW-REQ-003).",
        true,
    ),
    (
        "415",
        "The body was not sent with `content-type: application/json` (KW-REQ-006).",
        true,
    ),
    (
        "429",
        "Too many failed authentications from the client's address (KW-AUTH-006): every request from it is \
         refused until `Retry-After` seconds have passed.",
        false,
    ),
    (
        "503",
        "A dependency is unavailable: the database (KW-DB-001), the KMS (KW-KMS-001) or the credential \
         store (KW-AUTH-004, KW-ADM-004). Retry.",
        false,
    ),
];

pub(crate) struct ApiErrors;

impl Modify for ApiErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
        components
            .schemas
            .insert(ErrorDetail::name().into_owned(), ErrorDetail::schema());
        crate::openapi_examples::register_schemas(openapi);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let document: fn(&str, &mut Operation) = if path.starts_with("/api/v1/") {
                document_errors
            } else if path.starts_with("/v1/") {
                document_llm_refusals
            } else {
                continue;
            };
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                document(path, operation);
            }
        }
    }
}

fn document_errors(_path: &str, operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let responses = &mut operation.responses.responses;
    for (status, description, body_only) in API_ERRORS {
        if *body_only && !has_body {
            continue;
        }
        responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::T(Response::new(*description)));
    }
    // Errors declared by a handler keep their description but get the body.
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.as_str() >= "400", response) {
            if response.description.is_empty() {
                response.description = description_of(status).to_owned();
            }
            response
                .content
                .entry("application/json".to_owned())
                .or_insert_with(|| Content::new(Some(Ref::from_schema_name(ErrorBody::name()))));
        }
    }
    crate::openapi_examples::document_api(operation, &ErrorBody::name());
}

/// What a `/v1` status means when its handler says nothing more specific.
const LLM_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Invalid request: the body is not valid JSON (KW-REQ-001) or a field is missing or mistyped \
         (KW-REQ-002); the model is served on another route (KW-MODEL-002); or no key source has a key \
         for the caller (KW-KEY-001).",
    ),
    (
        "401",
        "No API key (KW-AUTH-001); an invalid, revoked or expired one (KW-AUTH-002); or its user has not \
         been confirmed by Keycloak recently enough (KW-AUTH-005).",
    ),
    (
        "404",
        "The model does not exist or the caller may not use it (KW-MODEL-001).",
    ),
    ("413", "The body is over `KEYWAY_MAX_BODY_BYTES` (KW-REQ-003)."),
    (
        "502",
        "The upstream provider failed, could not be reached, or broke the connection (KW-UP-002).",
    ),
    ("504", "The upstream provider did not answer in time (KW-UP-003)."),
    (
        "503",
        "The credential store (KW-AUTH-004) or the shared rate-limit counters (KW-LIMIT-003) cannot be \
         reached; retry.",
    ),
];

/// `/v1` errors are in the OpenAI or Anthropic shape each handler
/// documents; what every authenticated `/v1` route can add is the 429 of a
/// client refused for failed authentications, or of a limit, and every one
/// with a body the 415 of a body declared as something other than JSON.
fn document_llm_refusals(path: &str, operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let responses = &mut operation.responses.responses;
    if has_body {
        responses.entry("415".to_owned()).or_insert_with(|| {
            RefOr::T(Response::new(
                "The body is declared as something other than JSON, e.g. `text/plain` or a form (KW-REQ-006).",
            ))
        });
    }
    for (status, description) in LLM_ERRORS {
        // Every authenticated route can meet an unreachable credential store.
        let always = *status == "503";
        match responses.get_mut(*status) {
            Some(RefOr::T(response)) if response.description.is_empty() => {
                response.description = (*description).to_owned();
            }
            None if always => {
                responses.insert((*status).to_owned(), RefOr::T(Response::new(*description)));
            }
            _ => {}
        }
    }
    responses.entry("429".to_owned()).or_insert_with(|| {
        RefOr::T(Response::new(
            "Too many failed authentications from the client's address (KW-AUTH-006), or a rate limit or \
                 budget reached (KW-LIMIT-001, KW-LIMIT-002); `Retry-After` says when to retry.",
        ))
    });
    crate::openapi_examples::document_llm(path, operation);
}

fn description_of(status: &str) -> &'static str {
    match status {
        "409" => {
            "A concurrent change won, a unique value is taken, or a limit of records is reached \
                  (KW-ADM-003, KW-USAGE-003, KW-USAGE-005)."
        }
        _ => API_ERRORS
            .iter()
            .find(|(s, ..)| *s == status)
            .map_or("An error in the `/api/v1` envelope.", |(_, d, _)| d),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::{collections::BTreeSet, fs, path::Path};

    fn codes_in(text: &str) -> BTreeSet<String> {
        crate::openapi_examples::codes_in(text).into_iter().collect()
    }

    fn codes_under(dir: &Path, codes: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                codes_under(&path, codes);
            } else if path.extension().is_some_and(|e| e == "rs") {
                codes.extend(codes_in(&fs::read_to_string(&path).unwrap()));
            }
        }
    }

    /// `keyway_common::codes` is the registry; docs/errors.md must list
    /// exactly its codes, and no service may mention a code outside it.
    #[test]
    fn docs_errors_md_and_the_code_registry_agree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let registry: BTreeSet<String> = keyway_common::codes::ALL
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let documented = codes_in(&fs::read_to_string(root.join("docs/errors.md")).unwrap());
        assert_eq!(
            documented, registry,
            "docs/errors.md and keyway_common::codes differ"
        );
        let mut mentioned = BTreeSet::new();
        codes_under(&root.join("services"), &mut mentioned);
        let unknown: Vec<_> = mentioned.difference(&registry).collect();
        assert!(
            unknown.is_empty(),
            "codes in services/ but not in the registry: {unknown:?}"
        );
    }
}
