//! The follower's remembered position in Keycloak's admin events, and the
//! lease that lets one key-service instance at a time follow a realm. Both
//! live in `identity_follow_state`, outside the event store: they are
//! bookkeeping of the follower, not changes to tenants, users or keys.
//!
//! The position is Keycloak's event time (ms) plus the fingerprints of the
//! events already applied at exactly that millisecond, since `dateFrom` is
//! inclusive and several events can share one millisecond.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::keycloak::AdminEvent;

/// Where the next poll of admin events starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) time_ms: i64,
    pub(crate) seen: Vec<String>,
}

impl Cursor {
    /// Whether `event` was applied already (or is older than the cursor).
    pub(crate) fn covers(&self, event: &AdminEvent) -> bool {
        event.time < self.time_ms || (event.time == self.time_ms && self.seen.contains(&event.fingerprint()))
    }

    /// Moves past `event`; events must come oldest first.
    pub(crate) fn advance(&mut self, event: &AdminEvent) {
        if event.time > self.time_ms {
            self.time_ms = event.time;
            self.seen.clear();
        }
        let fingerprint = event.fingerprint();
        if !self.seen.contains(&fingerprint) {
            self.seen.push(fingerprint);
        }
    }
}

/// Takes or renews the realm's lease for `holder`; returns the cursor when
/// this instance holds the lease, `None` when another one does. The first
/// holder ever starts at the database's "now": events from before Keyway
/// followed the realm are not replayed (the reconciliation covers them).
pub(crate) async fn lease(
    pool: &PgPool,
    realm: &str,
    holder: Uuid,
    ttl: Duration,
) -> Result<Option<Cursor>, sqlx::Error> {
    let row: Option<(i64, Vec<String>)> = sqlx::query_as(
        "INSERT INTO identity_follow_state (realm, cursor_time_ms, lease_holder, lease_until)
         VALUES ($1, (extract(epoch FROM now()) * 1000)::bigint, $2, now() + make_interval(secs => $3))
         ON CONFLICT (realm) DO UPDATE SET lease_holder = $2, lease_until = now() + make_interval(secs => $3)
         WHERE identity_follow_state.lease_holder = $2 OR identity_follow_state.lease_until < now()
         RETURNING cursor_time_ms, cursor_seen",
    )
    .bind(realm)
    .bind(holder)
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(time_ms, seen)| Cursor { time_ms, seen }))
}

/// Saves the cursor, only while `holder` still holds the lease.
pub(crate) async fn save(
    pool: &PgPool,
    realm: &str,
    holder: Uuid,
    cursor: &Cursor,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE identity_follow_state SET cursor_time_ms = $3, cursor_seen = $4
         WHERE realm = $1 AND lease_holder = $2",
    )
    .bind(realm)
    .bind(holder)
    .bind(cursor.time_ms)
    .bind(&cursor.seen)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives the lease up at shutdown, so another instance takes over at once.
pub(crate) async fn release(pool: &PgPool, realm: &str, holder: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE identity_follow_state SET lease_until = now() WHERE realm = $1 AND lease_holder = $2",
    )
    .bind(realm)
    .bind(holder)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(time: i64, id: &str) -> AdminEvent {
        AdminEvent {
            id: Some(id.into()),
            time,
            operation_type: Some("UPDATE".into()),
            resource_type: Some("USER".into()),
            resource_path: Some("users/u".into()),
            representation: None,
        }
    }

    #[test]
    fn events_at_the_cursors_millisecond_are_applied_once() {
        let mut cursor = Cursor {
            time_ms: 10,
            seen: vec![],
        };
        let (a, b, c) = (event(10, "a"), event(10, "b"), event(11, "c"));
        assert!(!cursor.covers(&a));
        cursor.advance(&a);
        assert!(cursor.covers(&a) && !cursor.covers(&b));
        cursor.advance(&b);
        cursor.advance(&c);
        assert_eq!(cursor.seen, vec!["c".to_owned()]);
        assert!(cursor.covers(&a) && cursor.covers(&b) && cursor.covers(&c));
        assert!(!cursor.covers(&event(11, "d")));
    }
}
