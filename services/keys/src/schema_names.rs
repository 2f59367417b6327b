//! The closed sets of names the key service accepts in string fields, for
//! the OpenAPI document only (`#[schema(value_type = …)]`). Validation stays
//! in the services, which name the field and the allowed values in their
//! 400s; these enums only make the document say the same.

use utoipa::ToSchema;

/// A tenant's plan; BYOK needs `starter` or above.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "documentation only")]
pub(crate) enum Plan {
    Free,
    Starter,
    Pro,
    Enterprise,
}

/// A role inside a tenant; `platform-admin` is never granted.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
#[expect(dead_code, reason = "documentation only")]
pub(crate) enum TenantRole {
    TenantAdmin,
    Member,
    Viewer,
}

/// Whether a user's keys work.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "documentation only")]
pub(crate) enum UserStatus {
    Active,
    Disabled,
}

/// Who a BYOK key belongs to.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "documentation only")]
pub(crate) enum ByokScope {
    Tenant,
    User,
}
