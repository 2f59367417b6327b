//! The HTTP client deliveries go out on: a bounded timeout, no redirects
//! (a receiver cannot bounce a signed batch elsewhere), no proxy from the
//! environment, and in production a resolver that refuses private, loopback
//! and link-local addresses at connect time, so a host that passed the check
//! at registration cannot be re-pointed inside the network later (DNS
//! rebinding).

use std::sync::Arc;

use keyway_common::outbound::PublicOnlyResolver;

use super::WebhookSettings;

pub(super) fn build(settings: &WebhookSettings) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("keyway-webhooks/", env!("CARGO_PKG_VERSION")));
    if settings.policy.allow_private {
        builder.build()
    } else {
        builder.dns_resolver(Arc::new(PublicOnlyResolver)).build()
    }
}
