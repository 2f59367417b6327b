//! The HTTP client deliveries go out on: a bounded timeout, no redirects
//! (a receiver cannot bounce a signed batch elsewhere), no proxy from the
//! environment, and in production a resolver that refuses private, loopback
//! and link-local addresses at connect time, so a host that passed the check
//! at registration cannot be re-pointed inside the network later (DNS
//! rebinding).

use std::{io, net::SocketAddr, sync::Arc};

use keyway_common::outbound::is_internal;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

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
        builder.dns_resolver(Arc::new(PublicOnly)).build()
    }
}

/// The system resolver, minus every internal address.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !is_internal(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(io::Error::other(format!(
                    "{host} resolves only to private, loopback or link-local addresses"
                ))
                .into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_production_resolver_refuses_names_that_resolve_inside() {
        let refused = PublicOnly.resolve("localhost".parse().unwrap()).await;
        let Err(e) = refused else {
            panic!("localhost must be refused");
        };
        assert!(e.to_string().contains("private, loopback"), "{e}");
    }
}
