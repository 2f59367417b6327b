//! Counts tokens by tenant, model and kind as usage events leave the
//! gateway, then hands each event on to the real sink.

use std::sync::Arc;

use keyway_common::metrics::{self as metric, TenantLabels};
use keyway_gateway::usage::UsageSink;
use keyway_proto::v1::UsageEvent;

pub(crate) struct CountingSink {
    pub(crate) inner: Arc<dyn UsageSink>,
    pub(crate) tenants: Arc<TenantLabels>,
}

impl UsageSink for CountingSink {
    fn record(&self, event: UsageEvent) {
        let tenant = self.tenants.label(&event.tenant_id);
        let model: Arc<str> = event.model.as_str().into();
        for (kind, n) in [
            ("input", event.input_tokens),
            ("output", event.output_tokens),
            ("cached", event.cached_tokens),
        ] {
            if n > 0 {
                metrics::counter!(metric::TOKENS, "tenant" => tenant.clone(), "model" => model.clone(), "kind" => kind)
                    .increment(n);
            }
        }
        self.inner.record(event);
    }
}
