//! Applies one recorded event to the read models. Deterministic — it uses
//! only the event and its recorded time — so `keyway keys rebuild` gives
//! back exactly the same rows.

use base64::{Engine, engine::general_purpose::STANDARD};
use sqlx::{PgConnection, types::Json};

use crate::events::{KeyEvent, Recorded};

pub(crate) async fn apply(conn: &mut PgConnection, r: &Recorded) -> Result<(), sqlx::Error> {
    match &r.event {
        KeyEvent::TenantCreated { .. }
        | KeyEvent::TenantUpdated { .. }
        | KeyEvent::TenantDekRotated { .. }
        | KeyEvent::TenantDeleted { .. } => tenant(conn, r).await,
        KeyEvent::UserCreated { .. }
        | KeyEvent::UserUpdated { .. }
        | KeyEvent::UserIdentityChanged { .. }
        | KeyEvent::UserDeleted { .. } => user(conn, r).await,
        KeyEvent::ApiKeyCreated { .. }
        | KeyEvent::ApiKeyRotated { .. }
        | KeyEvent::ApiKeyLimitsSet { .. }
        | KeyEvent::ApiKeyRevoked { .. } => api_key(conn, r).await,
        KeyEvent::ByokKeySet { .. } | KeyEvent::ByokKeyResealed { .. } | KeyEvent::ByokKeyDeleted { .. } => {
            byok(conn, r).await
        }
    }
}

/// `tenants`: one row per tenant.
async fn tenant(conn: &mut PgConnection, r: &Recorded) -> Result<(), sqlx::Error> {
    let (at, v) = (r.occurred_at, r.version);
    match &r.event {
        KeyEvent::TenantCreated {
            tenant_id,
            name,
            plan,
            external_id,
            limits,
            oidc_issuer,
        } => {
            sqlx::query(
                "INSERT INTO tenants (id, name, plan, external_id, limits, created_at, updated_at, version, oidc_issuer)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
            )
            .bind(tenant_id)
            .bind(name)
            .bind(plan)
            .bind(external_id)
            .bind(Json(limits))
            .bind(at)
            .bind(v)
            .bind(oidc_issuer)
            .execute(conn)
            .await?;
        }
        KeyEvent::TenantUpdated {
            tenant_id,
            name,
            plan,
            external_id,
            limits,
            oidc_issuer,
        } => {
            sqlx::query("UPDATE tenants SET name = $2, plan = $3, external_id = $4, limits = $5, updated_at = $6, version = $7, oidc_issuer = $8 WHERE id = $1")
                .bind(tenant_id)
                .bind(name)
                .bind(plan)
                .bind(external_id)
                .bind(Json(limits))
                .bind(at)
                .bind(v)
                .bind(oidc_issuer)
                .execute(conn)
                .await?;
        }
        KeyEvent::TenantDekRotated {
            tenant_id,
            dek_version,
        } => {
            sqlx::query(
                "UPDATE tenants SET min_dek_version = $2, updated_at = $3, version = $4 WHERE id = $1",
            )
            .bind(tenant_id)
            .bind(dek_version)
            .bind(at)
            .bind(v)
            .execute(conn)
            .await?;
        }
        KeyEvent::TenantDeleted { tenant_id } => {
            sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(tenant_id)
                .execute(conn)
                .await?;
        }
        // Events of the other aggregates: `apply` never routes them here.
        _ => {}
    }
    Ok(())
}

/// `users`: one row per user.
async fn user(conn: &mut PgConnection, r: &Recorded) -> Result<(), sqlx::Error> {
    let (at, v) = (r.occurred_at, r.version);
    match &r.event {
        KeyEvent::UserCreated {
            user_id,
            tenant_id,
            email,
            display_name,
            role,
            external_subject,
        } => {
            sqlx::query(
                "INSERT INTO users (id, tenant_id, email, display_name, role, external_subject, status, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $8)",
            )
            .bind(user_id)
            .bind(tenant_id)
            .bind(email)
            .bind(display_name)
            .bind(role)
            .bind(external_subject)
            .bind(at)
            .bind(v)
            .execute(conn)
            .await?;
        }
        KeyEvent::UserUpdated {
            user_id,
            email,
            display_name,
            role,
            status,
        } => {
            sqlx::query(
                "UPDATE users SET email = $2, display_name = $3, role = $4, status = $5, updated_at = $6, version = $7 WHERE id = $1",
            )
            .bind(user_id)
            .bind(email)
            .bind(display_name)
            .bind(role)
            .bind(status)
            .bind(at)
            .bind(v)
            .execute(conn)
            .await?;
        }
        KeyEvent::UserIdentityChanged {
            user_id,
            identity_status,
            ..
        } => {
            sqlx::query("UPDATE users SET identity_status = $2, updated_at = $3, version = $4 WHERE id = $1")
                .bind(user_id)
                .bind(identity_status)
                .bind(at)
                .bind(v)
                .execute(conn)
                .await?;
        }
        KeyEvent::UserDeleted { user_id } => {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(conn)
                .await?;
        }
        // Events of the other aggregates: `apply` never routes them here.
        _ => {}
    }
    Ok(())
}

/// `api_keys`: one row per key; revocation and rotation keep the row.
async fn api_key(conn: &mut PgConnection, r: &Recorded) -> Result<(), sqlx::Error> {
    let (at, v) = (r.occurred_at, r.version);
    match &r.event {
        KeyEvent::ApiKeyCreated {
            key_id,
            tenant_id,
            user_id,
            name,
            role,
            scopes,
            expires_at,
            secret_hash,
            limits,
            parent_key_id,
        } => {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, user_id, name, role, scopes, expires_at, secret_hash, limits, created_by, created_at, version, parent_key_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, decode($8, 'hex'), $9, $10, $11, $12, $13)",
            )
            .bind(key_id)
            .bind(tenant_id)
            .bind(user_id)
            .bind(name)
            .bind(role)
            .bind(scopes)
            .bind(expires_at)
            .bind(secret_hash)
            .bind(Json(limits))
            .bind(&r.actor)
            .bind(at)
            .bind(v)
            .bind(parent_key_id)
            .execute(conn)
            .await?;
        }
        KeyEvent::ApiKeyRotated { key_id, secret_hash } => {
            sqlx::query("UPDATE api_keys SET secret_hash = decode($2, 'hex'), rotated_at = $3, version = $4 WHERE id = $1")
                .bind(key_id)
                .bind(secret_hash)
                .bind(at)
                .bind(v)
                .execute(conn)
                .await?;
        }
        KeyEvent::ApiKeyLimitsSet { key_id, limits } => {
            sqlx::query("UPDATE api_keys SET limits = $2, version = $3 WHERE id = $1")
                .bind(key_id)
                .bind(Json(limits))
                .bind(v)
                .execute(conn)
                .await?;
        }
        KeyEvent::ApiKeyRevoked { key_id } => {
            sqlx::query("UPDATE api_keys SET revoked_at = $2, version = $3 WHERE id = $1")
                .bind(key_id)
                .bind(at)
                .bind(v)
                .execute(conn)
                .await?;
        }
        // Events of the other aggregates: `apply` never routes them here.
        _ => {}
    }
    Ok(())
}

/// `byok_keys`: one row per sealed provider key.
async fn byok(conn: &mut PgConnection, r: &Recorded) -> Result<(), sqlx::Error> {
    let (at, v) = (r.occurred_at, r.version);
    match &r.event {
        KeyEvent::ByokKeySet {
            record_id,
            tenant_id,
            scope,
            user_id,
            provider,
            label,
            base_url,
            masked,
            sealed,
            dek_version,
        } => {
            let sealed = STANDARD
                .decode(sealed)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO byok_keys (id, tenant_id, scope, user_id, provider, label, base_url, masked, sealed, dek_version, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
                 ON CONFLICT (id) DO UPDATE SET label = $6, base_url = $7, masked = $8, sealed = $9, dek_version = $10, updated_at = $11, version = $12",
            )
            .bind(record_id)
            .bind(tenant_id)
            .bind(scope)
            .bind(user_id)
            .bind(provider)
            .bind(label)
            .bind(base_url)
            .bind(masked)
            .bind(sealed)
            .bind(dek_version)
            .bind(at)
            .bind(v)
            .execute(conn)
            .await?;
        }
        KeyEvent::ByokKeyResealed {
            record_id,
            sealed,
            dek_version,
        } => {
            let sealed = STANDARD
                .decode(sealed)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            sqlx::query("UPDATE byok_keys SET sealed = $2, dek_version = $3, version = $4 WHERE id = $1")
                .bind(record_id)
                .bind(sealed)
                .bind(dek_version)
                .bind(v)
                .execute(conn)
                .await?;
        }
        KeyEvent::ByokKeyDeleted { record_id } => {
            sqlx::query("DELETE FROM byok_keys WHERE id = $1")
                .bind(record_id)
                .execute(conn)
                .await?;
        }
        // Events of the other aggregates: `apply` never routes them here.
        _ => {}
    }
    Ok(())
}
