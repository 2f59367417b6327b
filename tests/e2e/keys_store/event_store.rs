//! The event store and its read models: rebuild, the follower's snapshot
//! rule, and optimistic concurrency.

use super::*;

#[tokio::test]
async fn rebuilding_the_read_models_from_the_event_store_gives_identical_rows() {
    let stack = TestStack::spawn().await;
    let api = Api::of(&stack);

    // Tenants: one renamed, one with a rotated DEK, one deleted with its data.
    let acme = api.tenant("Acme", "starter").await;
    let globex = api.tenant("Globex", "pro").await;
    let doomed = api.tenant("Doomed", "free").await;
    api.expect(
        200,
        "PATCH",
        &format!("/api/v1/tenants/{acme}"),
        Some(json!({"name": "Acme Corp", "external_id": "org-acme"})),
    )
    .await;

    // Users: one updated, one disabled, one deleted.
    let admin_user = api
        .user(&acme, json!({"role": "tenant-admin", "email": "ada@acme.test"}))
        .await;
    let member = api
        .user(&acme, json!({"role": "member", "email": "bob@acme.test"}))
        .await;
    let leaver = api.user(&acme, json!({"role": "viewer"})).await;
    api.expect(
        200,
        "PATCH",
        &format!("/api/v1/tenants/{acme}/users/{member}"),
        Some(json!({"display_name": "Bob B.", "email": "bob@acme.example"})),
    )
    .await;
    api.expect(
        200,
        "PATCH",
        &format!("/api/v1/tenants/{acme}/users/{admin_user}"),
        Some(json!({"status": "disabled"})),
    )
    .await;

    // API keys: a service key, a user-bound scoped key with an expiry, one
    // revoked, one rotated.
    api.api_key(&acme, json!({"name": "ci"})).await;
    let (_, member_key) = api
        .api_key(
            &acme,
            json!({"name": "bob laptop", "user_id": member, "role": "member",
                   "scopes": ["mock-gpt", "mock-claude"], "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let (revoked, _) = api.api_key(&acme, json!({"name": "old"})).await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/tenants/{acme}/api-keys/{revoked}"),
        None,
    )
    .await;
    let (rotated, _) = api
        .api_key(&acme, json!({"name": "rotating", "role": "tenant-admin"}))
        .await;
    api.expect(
        200,
        "POST",
        &format!("/api/v1/tenants/{acme}/api-keys/{rotated}/rotate"),
        None,
    )
    .await;
    api.user(&acme, json!({"role": "member"})).await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/tenants/{acme}/users/{leaver}"),
        None,
    )
    .await;

    // BYOK keys: set and replaced, set and deleted, a custom provider with a
    // base URL and label, a user-scoped key, and a tenant with a rotated DEK.
    api.tenant_byok(
        &acme,
        "openai",
        json!({"key": random_secret("sk-first-"), "scope": "tenant"}),
    )
    .await;
    api.tenant_byok(
        &acme,
        "openai",
        json!({"key": random_secret("sk-second-"), "scope": "tenant", "label": "prod"}),
    )
    .await;
    api.tenant_byok(
        &acme,
        "groq",
        json!({"key": random_secret("gsk_"), "scope": "tenant"}),
    )
    .await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/byok/keys/groq?tenant_id={acme}&scope=tenant"),
        None,
    )
    .await;
    api.tenant_byok(
        &acme,
        "custom-acme",
        json!({"key": random_secret("ak-"), "scope": "tenant", "base_url": "http://127.0.0.1:9/v1/", "label": "on-prem"}),
    )
    .await;
    let (status, body) = api
        .call_as(
            &member_key,
            "PUT",
            "/api/v1/byok/keys/anthropic",
            Some(json!({"key": random_secret("sk-ant-")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "user");
    api.tenant_byok(
        &globex,
        "openai",
        json!({"key": random_secret("sk-globex-"), "scope": "tenant"}),
    )
    .await;
    let rotated_dek = api
        .expect(200, "POST", &format!("/api/v1/tenants/{globex}/dek/rotate"), None)
        .await;
    assert_eq!(rotated_dek["dek_version"], 2);

    let doomed_user = api.user(&doomed, json!({"role": "member"})).await;
    api.api_key(&doomed, json!({"name": "d", "user_id": doomed_user}))
        .await;
    api.expect(204, "DELETE", &format!("/api/v1/tenants/{doomed}"), None)
        .await;

    let db = pool(&stack.isolation.db_name).await;
    let before = dump_read_models(&db).await;
    // The dump is not trivially equal: every kind of row is there.
    assert_eq!(
        count(&db, "SELECT count(*) FROM tenants WHERE id <> $1", "platform").await,
        2
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE tenant_id = $1", &acme).await,
        3
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM api_keys WHERE tenant_id = $1", &acme).await,
        4
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NOT NULL",
            &acme
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND rotated_at IS NOT NULL",
            &acme
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM byok_keys WHERE tenant_id = $1", &acme).await,
        3
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM byok_keys WHERE tenant_id = $1 AND dek_version = 2",
            &globex
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE tenant_id = $1", &doomed).await,
        0
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM key_events")
        .fetch_one(&db)
        .await
        .unwrap();

    let mut conn = connection(&stack.isolation.db_name).await;
    let mut tx = conn.begin().await.unwrap();
    let applied = store::rebuild(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(applied, u64::try_from(events).unwrap());

    let after = dump_read_models(&db).await;
    for ((table, rows_before), (_, rows_after)) in before.iter().zip(&after) {
        assert_eq!(rows_before, rows_after, "table {table} differs after the rebuild");
    }
}

#[tokio::test]
async fn a_follower_never_skips_a_late_commit() {
    let stack = TestStack::spawn().await;
    let db = &stack.isolation.db_name;
    let mut reader = connection(db).await;
    let last: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM key_events")
        .fetch_one(&mut reader)
        .await
        .unwrap();

    // A takes the smaller position but commits last.
    let mut conn_a = connection(db).await;
    let mut conn_b = connection(db).await;
    let mut a = conn_a.begin().await.unwrap();
    let position_a = insert_raw_event(&mut a, "test:a").await;
    let mut b = conn_b.begin().await.unwrap();
    let position_b = insert_raw_event(&mut b, "test:b").await;
    b.commit().await.unwrap();
    assert!(position_a < position_b);

    // B's row is committed and visible to a plain query...
    let visible: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM key_events WHERE position > $1 ORDER BY position")
            .bind(last)
            .fetch_all(&mut reader)
            .await
            .unwrap();
    assert_eq!(visible, vec![position_b]);
    // ...but a follower must not consume it: A could still commit behind it.
    let read = store::read_committed_after(&mut reader, last, None, 100)
        .await
        .unwrap();
    assert!(
        read.is_empty(),
        "the follower read {:?} while an older transaction was still open",
        read.iter().map(|r| r.position).collect::<Vec<_>>()
    );

    a.commit().await.unwrap();
    // The snapshot horizon is cluster-wide, so other databases' transactions
    // can hold it back for a moment: poll.
    let start = Instant::now();
    let read = loop {
        let read = store::read_committed_after(&mut reader, last, None, 100)
            .await
            .unwrap();
        if read.len() >= 2 || start.elapsed() > DEADLINE {
            break read;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seen: Vec<(i64, &str)> = read.iter().map(|r| (r.position, r.stream_id.as_str())).collect();
    assert_eq!(seen, vec![(position_a, "test:a"), (position_b, "test:b")]);
    for r in &read {
        assert_eq!(
            r.event,
            KeyEvent::TenantDeleted {
                tenant_id: "x".into()
            }
        );
        assert_eq!(
            (r.version, r.tenant_id.as_str(), r.actor.as_str()),
            (1, "platform", "test")
        );
    }
}

#[tokio::test]
async fn a_stale_version_is_a_conflict() {
    let stack = TestStack::spawn().await;
    let db = &stack.isolation.db_name;
    let prefix = &stack.isolation.nats_prefix;
    let tenant = uuid::Uuid::now_v7().to_string();
    let stream = format!("tenant:{tenant}");
    let meta = Meta {
        actor: "test".into(),
        request_id: Some("req-conflict".into()),
    };
    let created = |name: &str| KeyEvent::TenantCreated {
        tenant_id: tenant.clone(),
        name: name.into(),
        plan: "starter".into(),
        external_id: None,
        limits: Default::default(),
        oidc_issuer: None,
    };

    // Two writers both expect version 0; the second blocks on the first's
    // uncommitted row and loses once it commits.
    let mut conn_1 = connection(db).await;
    let mut conn_2 = connection(db).await;
    let mut first = conn_1.begin().await.unwrap();
    let recorded = store::append(
        &mut first,
        prefix,
        &meta,
        stream.clone(),
        0,
        &tenant,
        created("first"),
    )
    .await
    .unwrap();
    assert_eq!(recorded.version, 1);
    let mut second = conn_2.begin().await.unwrap();
    let racing = store::append(
        &mut second,
        prefix,
        &meta,
        stream.clone(),
        0,
        &tenant,
        created("second"),
    );
    let commit_first = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        first.commit().await
    };
    let (lost, committed) = tokio::join!(racing, commit_first);
    committed.unwrap();
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    drop(second);

    // Once more, after the fact, with the same stale version.
    let mut tx = conn_2.begin().await.unwrap();
    let stale = store::append(
        &mut tx,
        prefix,
        &meta,
        stream.clone(),
        0,
        &tenant,
        created("third"),
    )
    .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    tx.rollback().await.unwrap();

    // The current version wins.
    let mut tx = conn_2.begin().await.unwrap();
    let update = KeyEvent::TenantUpdated {
        tenant_id: tenant.clone(),
        name: "renamed".into(),
        plan: "pro".into(),
        external_id: None,
        limits: Default::default(),
        oidc_issuer: None,
    };
    let recorded = store::append(&mut tx, prefix, &meta, stream.clone(), 1, &tenant, update)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded.version, 2);

    let db = pool(db).await;
    let versions: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, event_type FROM key_events WHERE stream_id = $1 ORDER BY version")
            .bind(&stream)
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![(1, "tenant.created".to_owned()), (2, "tenant.updated".to_owned())]
    );
    let (name, plan, version): (String, String, i64) =
        sqlx::query_as("SELECT name, plan, version FROM tenants WHERE id = $1")
            .bind(&tenant)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((name.as_str(), plan.as_str(), version), ("renamed", "pro", 2));

    // The HTTP edge answers a conflict with 409 and its stable code.
    let error = KeysError::from(StoreError::Conflict);
    assert_eq!(error.status(), 409);
    assert_eq!(error.code(), "KW-ADM-003");
}
