//! Rotation endpoints (platform admins): DEK rotation re-seals one tenant's
//! secrets; KEK rotation rewraps every DEK under a new master key.

use std::sync::Arc;

use axum::{Json, extract::State};
use keyway_auth::Role;
use serde::Serialize;
use utoipa::ToSchema;

use keyway_common::api::Path;

use super::Principal;
use crate::{authz, error::KeysError, service::KeyService};

#[derive(Serialize, ToSchema)]
pub(crate) struct DekRotated {
    pub(crate) tenant_id: String,
    /// Secrets are now sealed under this DEK version; older ones are destroyed.
    pub(crate) dek_version: i32,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct KekRotated {
    /// The KEK every DEK is now wrapped under.
    pub(crate) kek: String,
    pub(crate) rewrapped: u64,
}

/// Re-seals the tenant's secrets under a new data key, with no downtime.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/dek/rotate", tag = "admin",
    responses((status = 200, body = DekRotated), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn rotate_dek(
    State(s): State<Arc<KeyService>>,
    p: Principal,
    Path(tenant_id): Path<String>,
) -> Result<Json<DekRotated>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    authz::require(&p.caller, Role::PlatformAdmin, "rotate data keys")?;
    let dek_version = s.rotate_dek(&p.meta, &tenant_id).await?;
    Ok(Json(DekRotated {
        tenant_id,
        dek_version,
    }))
}

/// Rewraps every data key (the tenants', the API-key pepper's and, when the
/// projector shares the database, the webhook signing keys') under a new
/// master key.
#[utoipa::path(post, path = "/api/v1/admin/kms/rotate-kek", tag = "admin",
    responses((status = 200, body = KekRotated), (status = 403)), security(("bearer" = [])))]
pub(crate) async fn rotate_kek(
    State(s): State<Arc<KeyService>>,
    p: Principal,
) -> Result<Json<KekRotated>, KeysError> {
    authz::require(&p.caller, Role::PlatformAdmin, "rotate the master key")?;
    let (kek, rewrapped) = s.rotate_kek().await?;
    Ok(Json(KekRotated { kek, rewrapped }))
}
