//! The examples of the key service's bodies in the OpenAPI document, one per
//! type (pages and lists of a type reuse its example; see
//! `keyway_common::api::examples`). They are shaped like real answers —
//! UUIDv7 ids, `kw_<env>_<id>_<secret>` keys, masked BYOK keys — with
//! made-up values; the coverage test checks each against its schema.

use keyway_common::api::examples::{Example, attach};
use serde_json::json;
use utoipa::{Modify, openapi::OpenApi};

const TENANT: &str = "01a22fc5-7780-774a-a2fa-5704561d871b";
const USER: &str = "01a22fc5-77b0-77f5-ad7d-1637df4b0b64";
const CREATED: &str = "2026-12-01T04:03:20.069858Z";

pub(crate) struct Examples;

impl Modify for Examples {
    fn modify(&self, openapi: &mut OpenApi) {
        attach(openapi, &examples());
    }
}

fn tenants() -> Vec<Example> {
    let limits = json!({"requests_per_minute": 600, "tokens_per_minute": 200_000, "monthly_budget_micros": 50_000_000});
    vec![
        Example {
            schema: "Tenant",
            answer: "The tenant",
            value: json!({"id": TENANT, "name": "Acme", "plan": "pro", "external_id": null, "limits": limits,
                "oidc_issuer": null, "created_at": CREATED, "updated_at": CREATED}),
        },
        Example {
            schema: "CreateTenant",
            answer: "",
            value: json!({"name": "Acme", "plan": "pro", "limits": limits}),
        },
        Example {
            schema: "UpdateTenant",
            answer: "",
            value: json!({"plan": "enterprise"}),
        },
        Example {
            schema: "Limits",
            answer: "",
            value: json!({"requests_per_minute": 60, "tokens_per_minute": 100_000}),
        },
        Example {
            schema: "User",
            answer: "The user",
            value: json!({"id": USER, "tenant_id": TENANT, "email": "ada@example.com", "display_name": "Ada",
                "role": "member", "external_subject": null, "status": "active",
                "created_at": CREATED, "updated_at": CREATED}),
        },
        Example {
            schema: "CreateUser",
            answer: "",
            value: json!({"email": "ada@example.com", "display_name": "Ada", "role": "member"}),
        },
        Example {
            schema: "UpdateUser",
            answer: "",
            value: json!({"status": "disabled"}),
        },
    ]
}

fn api_keys() -> Vec<Example> {
    let key = json!({"id": "78Nxp5Bf6hmjpAbq", "tenant_id": TENANT, "user_id": null, "name": "ci",
        "role": "tenant-admin", "scopes": ["gpt-4o-mini"], "expires_at": null,
        "limits": {"tokens_per_minute": 100_000}, "created_by": "platform-admin", "created_at": CREATED,
        "rotated_at": null, "revoked_at": null, "last_used_at": null});
    let mut issued = key.clone();
    issued["key"] = json!("kw_live_78Nxp5Bf6hmjpAbq_6MuC4082d7nek1Rn7Lb4z86oZr6DBz");
    vec![
        Example {
            schema: "ApiKey",
            answer: "The API key, without its secret",
            value: key,
        },
        Example {
            schema: "IssuedApiKey",
            answer: "The key with its secret in `key`: shown this once",
            value: issued,
        },
        Example {
            schema: "CreateApiKey",
            answer: "",
            value: json!({"name": "ci", "role": "tenant-admin", "scopes": ["gpt-4o-mini"]}),
        },
    ]
}

fn byok() -> Vec<Example> {
    vec![
        Example {
            schema: "ByokKey",
            answer: "The stored key, masked",
            value: json!({"id": "01a22fc5-7818-74f0-9d2a-f5ce9d651543", "provider": "openai", "scope": "tenant",
                "user_id": null, "label": "team key", "base_url": null, "masked": "sk-p…1234",
                "created_at": CREATED, "updated_at": CREATED}),
        },
        Example {
            schema: "SetByokKey",
            answer: "",
            value: json!({"key": "sk-proj-abcdefghijklmnop1234", "scope": "tenant", "label": "team key"}),
        },
        Example {
            schema: "ByokTestResult",
            answer: "What the provider answered; `ok: false` is a refused key, not a failed call",
            value: json!({"ok": false, "status": 401, "message": "the provider refused the key (401 Unauthorized)"}),
        },
        Example {
            schema: "Provider",
            answer: "The providers a BYOK key may be stored for",
            value: json!({"slug": "openai", "name": "OpenAI", "key_prefix": "sk-",
                "key_format": "a secret starting with the prefix shown",
                "default_base_url": "https://api.openai.com/v1", "api": "openai", "key_auth": "bearer",
                "base_url": "fixed", "key_test": "GET {base_url}/models",
                "test_endpoint": "/api/v1/byok/keys/{provider}/test"}),
        },
        Example {
            schema: "ByokStats",
            answer: "How many BYOK keys the tenant stores",
            value: json!({"tenant_keys": 1, "user_keys": 3, "by_provider": {"openai": 3, "anthropic": 1}}),
        },
    ]
}

fn admin() -> Vec<Example> {
    vec![
        Example {
            schema: "KekRotated",
            answer: "Every tenant's data key is now wrapped under the new KEK",
            value: json!({"kek": "local:v2", "rewrapped": 12}),
        },
        Example {
            schema: "DekRotated",
            answer: "The tenant's secrets are sealed under the new data key",
            value: json!({"tenant_id": TENANT, "dek_version": 2}),
        },
        Example {
            schema: "LogPage_AuditEvent",
            answer: "One page of the audit log, oldest first; poll again with `resume_cursor`",
            value: json!({"events": [{"position": 2, "id": "01a22fc5-7785-76f0-bc45-56ca50f59a27",
                "tenant_id": TENANT, "actor": "platform-admin", "action": "api_key.revoked",
                "target": "api_key:78Nxp5Bf6hmjpAbq", "time": CREATED,
                "request_id": "f2e80805-89eb-4eaf-b1d0-465432b2e6b3"}],
                "next_cursor": null, "resume_cursor": "uVb0ukJyeyJrIjoiMyIsImwiOiJhdWRpdC1ldmVudHMiLCJ2IjoxfQ"}),
        },
        Example {
            schema: "WebhookReceipt",
            answer: "The named users Keyway follows were re-read from Keycloak",
            value: json!({"checked": 1}),
        },
    ]
}

pub(crate) fn examples() -> Vec<Example> {
    [tenants(), api_keys(), byok(), admin()]
        .into_iter()
        .flatten()
        .collect()
}
