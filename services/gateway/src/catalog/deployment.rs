//! Deployments: the upstreams one catalog model is served from, and the
//! routing settings beside them (`fallbacks`, `retry`, `cooldown`). A model
//! with a single `base_url` is one implicit deployment named `default`.
//! See `docs/routing.md`.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use serde::Deserialize;

use super::{Endpoint, Mode, ProviderOptions, Wire, expand};
use crate::deployment_health::Health;

/// The name of the one deployment of a model that lists only `base_url`.
pub const IMPLICIT_DEPLOYMENT: &str = "default";

/// The most deployments one model may list.
pub const MAX_DEPLOYMENTS: usize = 64;

/// `KEYWAY_ROUTING_COOLDOWN_FAILURES`: consecutive failures that cool a
/// deployment down, unless the model sets `cooldown.failures`.
pub const DEFAULT_COOLDOWN_FAILURES: u32 = 3;
/// `KEYWAY_ROUTING_COOLDOWN_SECS`: how long a deployment cools down.
pub const DEFAULT_COOLDOWN_SECS: u64 = 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeployment {
    name: String,
    provider: Option<String>,
    base_url: String,
    upstream_model: Option<String>,
    api_key_env: Option<String>,
    weight: Option<u32>,
    rpm: Option<u32>,
    tpm: Option<u64>,
    /// Azure: the deployment name (see [`ProviderOptions`]).
    deployment: Option<String>,
    /// Azure: the `api-version`.
    api_version: Option<String>,
    /// Bedrock: the AWS region.
    region: Option<String>,
}

/// What the retries of one request react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RetryOn {
    #[serde(rename = "connect")]
    Connect,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "429")]
    RateLimited,
    #[serde(rename = "5xx")]
    ServerError,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    attempts: u32,
    on: Option<Vec<RetryOn>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCooldown {
    failures: Option<u32>,
    seconds: Option<u64>,
}

/// One upstream of a model: where it is, which key it takes, its share.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub name: String,
    /// The deployment's own provider (the model's unless it names one).
    pub provider: String,
    pub wire: Wire,
    /// Trailing slash dropped.
    pub base_url: String,
    /// `base_url` plus the path of the model's route, parsed once.
    pub upstream_url: reqwest::Url,
    /// The model name sent upstream (the model's unless it names one).
    pub upstream_model: String,
    /// The system key's variable (the model's unless it names one).
    pub api_key_env: Option<String>,
    pub weight: u32,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// The deployment's own adapter (URL style, key header or signature)
    /// and provider fields, resolved at load: an `azure` deployment may sit
    /// beside an `openai` one under one model.
    pub options: ProviderOptions,
    /// Run-time state: in flight, failures, cooldown, rpm/tpm windows.
    pub(crate) health: Arc<Health>,
}

/// Retries, cooldown and fallbacks of one model.
#[derive(Debug, Clone)]
pub struct Routing {
    /// Attempts in all (first try included) across the model's deployments.
    pub attempts: u32,
    pub retry_on: Vec<RetryOn>,
    pub cooldown_failures: u32,
    pub cooldown: Duration,
    /// Other catalog models, tried in order when no deployment can serve.
    pub fallbacks: Vec<String>,
    /// Run-time: picks made so far, the position in the choice sequence.
    pub(crate) picks: Arc<AtomicU64>,
}

impl Routing {
    pub fn retries_on(&self, kind: RetryOn) -> bool {
        self.retry_on.contains(&kind)
    }
}

/// The model-level fields a deployment inherits.
pub(super) struct Inherited<'a> {
    pub provider: &'a str,
    pub upstream_model: &'a str,
    pub api_key_env: Option<&'a str>,
    pub mode: Mode,
    /// The model's provider fields, resolved for its provider: inherited by
    /// the deployments called the same way.
    pub options: &'a ProviderOptions,
}

/// The routing defaults read from the environment at load.
#[derive(Debug, Clone, Copy)]
pub(super) struct Defaults {
    pub failures: u32,
    pub cooldown: Duration,
}

impl Defaults {
    pub(super) fn read(vars: &impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let num = |name: &str, default: u64| -> Result<u64, String> {
            match vars(name) {
                None => Ok(default),
                Some(v) if v.trim().is_empty() => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}={v:?} is not a whole number")),
            }
        };
        let failures = num(
            "KEYWAY_ROUTING_COOLDOWN_FAILURES",
            DEFAULT_COOLDOWN_FAILURES.into(),
        )?;
        let secs = num("KEYWAY_ROUTING_COOLDOWN_SECS", DEFAULT_COOLDOWN_SECS)?;
        Ok(Self {
            failures: u32::try_from(failures).unwrap_or(u32::MAX).max(1),
            cooldown: Duration::from_secs(secs),
        })
    }
}

/// Builds the deployments of one model: the listed ones, or the implicit
/// one from `base_url`. Errors are the reason, without the model's name.
pub(super) fn deployments(
    base_url: Option<&str>,
    listed: Option<Vec<RawDeployment>>,
    inherited: &Inherited<'_>,
    vars: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<Deployment>, String> {
    let listed = match (base_url, listed) {
        (Some(_), Some(_)) => return Err("list either base_url or deployments, not both".into()),
        (None, None) => return Err("needs base_url or deployments".into()),
        (Some(url), None) => vec![RawDeployment {
            name: IMPLICIT_DEPLOYMENT.into(),
            provider: None,
            base_url: url.to_owned(),
            upstream_model: None,
            api_key_env: None,
            weight: None,
            rpm: None,
            tpm: None,
            deployment: None,
            api_version: None,
            region: None,
        }],
        (None, Some(list)) => list,
    };
    if listed.is_empty() || listed.len() > MAX_DEPLOYMENTS {
        return Err(format!("deployments must list 1 to {MAX_DEPLOYMENTS} entries"));
    }
    let mut out: Vec<Deployment> = Vec::with_capacity(listed.len());
    for raw in listed {
        let d = deployment(raw, inherited, vars)?;
        if out.iter().any(|o| o.name == d.name) {
            return Err(format!("deployment {:?} is listed twice", d.name));
        }
        out.push(d);
    }
    Ok(out)
}

fn deployment(
    raw: RawDeployment,
    inherited: &Inherited<'_>,
    vars: &impl Fn(&str) -> Option<String>,
) -> Result<Deployment, String> {
    let name = raw.name;
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "deployment name {name:?} must be 1-64 characters without spaces"
        ));
    }
    let provider = raw.provider.unwrap_or_else(|| inherited.provider.to_owned());
    let own = ProviderOptions {
        deployment: raw.deployment,
        api_version: raw.api_version,
        region: raw.region,
        ..ProviderOptions::default()
    };
    let upstream_model = raw
        .upstream_model
        .unwrap_or_else(|| inherited.upstream_model.to_owned());
    let (options, wire) = own
        .for_deployment(&provider, &upstream_model, inherited, vars)
        .map_err(|e| format!("deployment {name:?}: {e}"))?;
    let weight = raw.weight.unwrap_or(1);
    if weight == 0 {
        return Err(format!(
            "deployment {name:?}: weight must be at least 1 (remove the deployment to take it out)"
        ));
    }
    if raw.rpm == Some(0) || raw.tpm == Some(0) {
        return Err(format!(
            "deployment {name:?}: rpm and tpm must be at least 1 when set"
        ));
    }
    let base_url = expand(&raw.base_url, vars)
        .map_err(|var| format!("deployment {name:?}: base_url uses ${{{var}}}, which is not set"))?;
    let parsed = reqwest::Url::parse(&base_url).map_err(|e| format!("base_url {base_url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("base_url {base_url:?} must be an http(s) URL"));
    }
    let base_url = base_url.trim_end_matches('/').to_owned();
    let path = Endpoint::serving(wire, inherited.mode).upstream_path();
    let upstream_url = reqwest::Url::parse(&format!("{base_url}{path}"))
        .map_err(|e| format!("base_url {base_url:?}: {e}"))?;
    Ok(Deployment {
        name,
        provider,
        wire,
        base_url,
        upstream_url,
        upstream_model,
        api_key_env: raw
            .api_key_env
            .or_else(|| inherited.api_key_env.map(str::to_owned)),
        weight,
        rpm: raw.rpm,
        tpm: raw.tpm,
        options,
        health: Arc::default(),
    })
}

/// The model's retry and cooldown settings; fallbacks are checked against
/// the whole catalog afterwards ([`check_fallbacks`]).
pub(super) fn routing(
    deployments: usize,
    retry: Option<RawRetry>,
    cooldown: Option<RawCooldown>,
    fallbacks: Vec<String>,
    defaults: Defaults,
) -> Result<Routing, String> {
    // Without `retry`, each deployment is tried once: a single-deployment
    // model behaves as before routing existed.
    let attempts = retry.as_ref().map_or(deployments as u32, |r| r.attempts);
    if !(1..=10).contains(&attempts) {
        return Err("retry.attempts must be from 1 to 10".into());
    }
    let retry_on = retry.and_then(|r| r.on).unwrap_or_else(|| {
        vec![
            RetryOn::Connect,
            RetryOn::Timeout,
            RetryOn::RateLimited,
            RetryOn::ServerError,
        ]
    });
    let failures = cooldown.and_then(|c| c.failures).unwrap_or(defaults.failures);
    if failures == 0 {
        return Err("cooldown.failures must be at least 1".into());
    }
    let cooldown = cooldown
        .and_then(|c| c.seconds)
        .map_or(defaults.cooldown, Duration::from_secs);
    Ok(Routing {
        attempts,
        retry_on,
        cooldown_failures: failures,
        cooldown,
        fallbacks,
        picks: Arc::default(),
    })
}

/// Every fallback names another model of the same mode, no model falls
/// back to itself, and following fallbacks never comes back (no cycle).
pub(super) fn check_fallbacks(models: &BTreeMap<String, super::Model>) -> Result<(), super::CatalogError> {
    let fail = |model: &str, reason: String| super::CatalogError::Model {
        model: model.to_owned(),
        reason,
    };
    for (name, model) in models {
        for (i, fb) in model.routing.fallbacks.iter().enumerate() {
            let Some(target) = models.get(fb) else {
                return Err(fail(
                    name,
                    format!("fallback {fb:?} is not a model of the catalog"),
                ));
            };
            if fb == name {
                return Err(fail(name, "a model cannot fall back to itself".into()));
            }
            if model.routing.fallbacks[..i].contains(fb) {
                return Err(fail(name, format!("fallback {fb:?} is listed twice")));
            }
            if target.mode != model.mode {
                return Err(fail(
                    name,
                    format!("fallback {fb:?} serves another mode ({:?})", target.mode),
                ));
            }
        }
    }
    // Depth-first search for a cycle: 0 unvisited, 1 on the path, 2 done.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        name: &'a str,
        models: &'a BTreeMap<String, super::Model>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(name) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(name);
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(name, 1);
        path.push(name);
        for fb in &models[name].routing.fallbacks {
            if let Some(cycle) = visit(fb, models, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(name, 2);
        None
    }
    for name in models.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(name, models, &mut state, &mut path) {
            return Err(fail(
                cycle[0],
                format!("fallbacks form a cycle: {}", cycle.join(" -> ")),
            ));
        }
    }
    Ok(())
}
