//! The platform-admin bootstrap key (`KEYWAY_ADMIN_KEY`). Its traffic belongs
//! to the reserved `platform` tenant.

use crate::{AuthError, Authenticator, Caller, secrets_equal};

pub struct AdminKeyAuthenticator {
    admin_key: Vec<u8>,
}

impl AdminKeyAuthenticator {
    pub fn new(admin_key: &str) -> Self {
        Self {
            admin_key: admin_key.as_bytes().to_vec(),
        }
    }

    pub fn is_admin_key(&self, presented: &str) -> bool {
        secrets_equal(presented.as_bytes(), &self.admin_key)
    }
}

#[async_trait::async_trait]
impl Authenticator for AdminKeyAuthenticator {
    async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError> {
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        if self.is_admin_key(presented) {
            Ok(Caller::platform_admin())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_admin_key_authenticates_as_platform_admin() {
        let auth = AdminKeyAuthenticator::new("admin-secret");
        let caller = auth.authenticate("admin-secret").await.unwrap();
        assert_eq!(caller, Caller::platform_admin());
        assert_eq!(auth.authenticate("admin-secreT").await, Err(AuthError::Invalid));
        assert_eq!(auth.authenticate("admin-secret2").await, Err(AuthError::Invalid));
        assert_eq!(auth.authenticate("").await, Err(AuthError::Missing));
    }
}
