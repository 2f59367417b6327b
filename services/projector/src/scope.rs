//! Which usage rows a reader may see: the filter shared by the usage API
//! (which derives it from the caller, in `http`) and webhook delivery (one
//! whole tenant).

use sqlx::{Postgres, QueryBuilder};

/// Which usage a caller may read: a tenant (or all, for platform admins of
/// the export), and for members only their own user or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) tenant: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) api_key_id: Option<String>,
    /// A member with neither a user nor a key: there is no usage it owns.
    pub(crate) nothing: bool,
}

impl Scope {
    /// Everything of one tenant: what a webhook of that tenant delivers.
    pub(crate) fn tenant(tenant: String) -> Self {
        Scope {
            tenant: Some(tenant),
            user_id: None,
            api_key_id: None,
            nothing: false,
        }
    }

    /// Appends ` AND …` conditions on `tenant_id`, `user_id`, `api_key_id`.
    /// The views store an absent id as '' and the ledger as NULL; a member
    /// filter is never empty, so it matches neither.
    pub(crate) fn push_filters(&self, q: &mut QueryBuilder<'_, Postgres>) {
        if self.nothing {
            q.push(" AND false");
        }
        if let Some(t) = &self.tenant {
            q.push(" AND tenant_id = ").push_bind(t.clone());
        }
        if let Some(u) = &self.user_id {
            q.push(" AND user_id = ").push_bind(u.clone());
        }
        if let Some(k) = &self.api_key_id {
            q.push(" AND api_key_id = ").push_bind(k.clone());
        }
    }
}
