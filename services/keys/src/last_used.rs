//! When each API key was last used. The projector folds that from the
//! gateway's usage events into its own table; the key service does not read
//! another component's tables, so it asks through this trait, which the
//! process that runs both wires to the projector.

use std::collections::HashMap;

use time::OffsetDateTime;

/// Key id to its last use.
pub type LastUses = HashMap<String, OffsetDateTime>;

#[async_trait::async_trait]
pub trait LastUsed: Send + Sync + 'static {
    /// The last use of each of `key_ids` that has one; never-used keys are
    /// absent from the map.
    async fn last_used(&self, key_ids: &[String]) -> Result<LastUses, String>;
}
