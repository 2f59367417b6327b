//! The examples of the usage API's bodies in the OpenAPI document, one per
//! type (pages of a type reuse its example; see
//! `keyway_common::api::examples`), shaped like real answers with made-up
//! values; the coverage test checks each against its schema.

use keyway_common::api::examples::{Example, attach};
use serde_json::{Value, json};
use utoipa::{Modify, openapi::OpenApi};

const TENANT: &str = "01a22fc5-7780-774a-a2fa-5704561d871b";
const CURSOR: &str = "YuFWsLz1eyJrIjoiMSIsImwiOiJ1c2FnZS1ldmVudHMiLCJ2IjoxfQ";
const WHEN: &str = "2026-12-01T04:03:23.45377Z";

pub(crate) struct Examples;

impl Modify for Examples {
    fn modify(&self, openapi: &mut OpenApi) {
        attach(openapi, &examples());
    }
}

fn usage_event() -> Value {
    json!({"specversion": "1.0", "id": "01a22fc5-786c-74fc-b3f7-fc294793d3c1", "type": "dev.keyway.usage.v1",
        "source": "keyway/gateway", "subject": TENANT, "time": "2026-12-01T04:03:20.3Z",
        "datacontenttype": "application/json",
        "data": {"tenant_id": TENANT, "user_id": null, "api_key_id": "78Nxp5Bf6hmjpAbq", "model": "gpt-4o-mini",
            "provider": "openai", "upstream_model": "gpt-4o-mini-2024-07-18", "key_source": "system",
            "route": "/v1/chat/completions", "input_tokens": 1200, "output_tokens": 300, "cached_tokens": 0,
            "reasoning_tokens": 0, "cache_write_tokens": 0, "cache_write_1h_tokens": 0,
            "web_search_requests": 0, "web_fetch_requests": 0, "cost_micros": 360, "currency": "USD",
            "price": {"input_micros_per_mtok": 150_000, "output_micros_per_mtok": 600_000,
                "cached_input_micros_per_mtok": 75_000, "cache_write_micros_per_mtok": 187_500,
                "cache_write_1h_micros_per_mtok": 300_000, "currency": "USD"},
            "status": 200, "error_code": null, "latency_ms": 742, "streamed": false, "estimated": false,
            "client_disconnected": false, "request_id": "19ad0770-6f13-4371-ba2d-f4f524b197bc",
            "client_wire": "openai", "upstream_wire": "openai", "deployment": "default", "attempts": 1,
            "fallback_model": null}})
}

fn summary() -> Value {
    let sums = json!({"requests": 12, "errors": 1, "disconnects": 0, "estimated_requests": 0,
        "input_tokens": 14_400, "output_tokens": 3600, "cached_tokens": 0, "reasoning_tokens": 0,
        "cache_write_tokens": 0, "cache_write_1h_tokens": 0, "web_search_requests": 0,
        "web_fetch_requests": 0, "cost_micros": 4320});
    let with = |extra: Value| {
        let mut row = sums.clone();
        if let (Some(row), Some(extra)) = (row.as_object_mut(), extra.as_object()) {
            row.extend(extra.clone());
        }
        row
    };
    json!({"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "group_by": "model",
        "tenant_id": TENANT, "rows": [with(json!({"key": "gpt-4o-mini", "currency": "USD"}))],
        "totals": with(json!({"currency": "USD"})), "totals_by_currency": [with(json!({"currency": "USD"}))]})
}

fn webhook() -> Value {
    json!({"id": "01a22fc5-84b8-7054-a07b-8203f6444aa5", "tenant_id": TENANT,
        "url": "https://billing.example.com/keyway", "description": "billing", "cursor": CURSOR,
        "created_at": WHEN, "secret_rotated_at": WHEN, "last_attempt_at": null, "last_delivered_at": null,
        "last_error": null, "consecutive_failures": 0, "next_attempt_at": WHEN})
}

pub(crate) fn examples() -> Vec<Example> {
    let mut with_secret = webhook();
    with_secret["signing_secret"] = json!("whsec_5rxOcmc_oqOMsagSwSxbqxKs0qQxUIXf2byN3t6tF0E");
    vec![
        Example {
            schema: "LogPage_CloudEvent",
            answer: "One page of usage events in ledger order; poll again with `resume_cursor` for later ones",
            value: json!({"events": [usage_event()], "next_cursor": null, "resume_cursor": CURSOR}),
        },
        Example {
            schema: "Summary",
            answer: "The window's sums per group, and its totals",
            value: summary(),
        },
        Example {
            schema: "ExportCursor",
            answer: "The consumer's saved cursor",
            value: json!({"name": "billing", "tenant_id": TENANT, "cursor": CURSOR, "updated_at": WHEN}),
        },
        Example {
            schema: "PutCursor",
            answer: "",
            value: json!({"cursor": CURSOR}),
        },
        Example {
            schema: "Webhook",
            answer: "The webhook and its delivery state",
            value: webhook(),
        },
        Example {
            schema: "WebhookWithSecret",
            answer: "The webhook with its signing secret: shown this once",
            value: with_secret,
        },
        Example {
            schema: "CreateWebhook",
            answer: "",
            value: json!({"url": "https://billing.example.com/keyway", "description": "billing"}),
        },
    ]
}
