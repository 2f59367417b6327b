//! Envelope encryption end to end: tampering, DEK and KEK rotation (also
//! under load), and crypto-shredding.

use super::*;

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_or_tenant_fails_to_open() {
    let (secret_a, secret_b, groq_b) = (
        random_secret("sk-a-"),
        random_secret("sk-b-"),
        random_secret("gsk-b-"),
    );
    let mock_keys = format!("{secret_a}=team-a,{secret_b}=team-b,{groq_b}=team-b-groq");
    let (stack, _catalog) = team_stack(&mock_keys).await;
    let api = Api::of(&stack);
    let tenant_a = api.tenant("A", "starter").await;
    let tenant_b = api.tenant("B", "starter").await;
    api.tenant_byok(&tenant_a, "openai", json!({"key": secret_a, "scope": "tenant"}))
        .await;
    api.tenant_byok(&tenant_b, "openai", json!({"key": secret_b, "scope": "tenant"}))
        .await;
    api.tenant_byok(&tenant_b, "groq", json!({"key": groq_b, "scope": "tenant"}))
        .await;
    let (_, key_a) = api.api_key(&tenant_a, json!({"name": "a"})).await;
    let (_, key_b) = api.api_key(&tenant_b, json!({"name": "b"})).await;

    // Untampered, each tenant reaches the upstream with its own key.
    let (status, body) = api.team_chat(&key_b, "before").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("before", "team-b"));
    let (status, body) = api.team_chat(&key_a, "a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("a", "team-a"));

    let db = pool(&stack.isolation.db_name).await;
    let (b_openai, b_sealed, b_version) = byok_row(&db, &tenant_b, "openai").await;
    let (_, b_groq_sealed, _) = byok_row(&db, &tenant_b, "groq").await;
    let (_, a_sealed, a_version) = byok_row(&db, &tenant_a, "openai").await;
    assert_eq!(
        (a_version, b_version),
        (1, 1),
        "same DEK version: only the binding differs"
    );
    assert!(!String::from_utf8_lossy(&b_sealed).contains(&secret_b));

    // Another row of the same tenant (same DEK, other record and provider).
    set_sealed(&db, &b_openai, &b_groq_sealed).await;
    let (status, body) = api.team_chat(&key_b, "swapped row").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-004");
    assert!(!body.to_string().contains("team-b-groq"), "{body}");

    // Put back, it opens again: the tamper was the only cause.
    set_sealed(&db, &b_openai, &b_sealed).await;
    let (status, body) = api.team_chat(&key_b, "restored").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("restored", "team-b"));

    // Another tenant's ciphertext.
    set_sealed(&db, &b_openai, &a_sealed).await;
    let (status, body) = api.team_chat(&key_b, "swapped tenant").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-004");
    assert!(!body.to_string().contains("team-a"), "{body}");
    let text = body.to_string();
    assert!(!text.contains(&secret_a) && !text.contains(&secret_b), "{body}");

    // Tenant A is unaffected.
    let (status, body) = api.team_chat(&key_a, "still a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("still a", "team-a"));
}

#[tokio::test]
async fn dek_rotation_reseals_without_downtime_and_kek_rotation_only_rewraps() {
    let secret = random_secret("sk-rot-");
    let (stack, _catalog) = team_stack(&format!("{secret}=rotating-team")).await;
    let api = Api::of(&stack);
    let tenant = api.tenant("Rotating", "pro").await;
    api.tenant_byok(&tenant, "openai", json!({"key": secret, "scope": "tenant"}))
        .await;
    let (_, key) = api.api_key(&tenant, json!({"name": "svc"})).await;
    let (status, body) = api.team_chat(&key, "v1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("v1", "rotating-team"));

    let db = pool(&stack.isolation.db_name).await;
    let (record, sealed_v1, version) = byok_row(&db, &tenant, "openai").await;
    assert_eq!(version, 1);
    assert_eq!(deks(&db, &tenant).await.len(), 1);

    // DEK rotation: the key keeps working, now sealed under DEK v2 (requests
    // racing a rotation: `dek_rotation_under_load_fails_no_request`).
    let rotated = api
        .expect(200, "POST", &format!("/api/v1/tenants/{tenant}/dek/rotate"), None)
        .await;
    assert_eq!(rotated["tenant_id"], tenant.as_str());
    assert_eq!(rotated["dek_version"], 2);

    let (status, body) = api.team_chat(&key, "v2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("v2", "rotating-team"));
    let after_dek = deks(&db, &tenant).await;
    let versions: Vec<i32> = after_dek.iter().map(|(v, _, _)| *v).collect();
    assert_eq!(versions, vec![2], "the old DEK is destroyed");
    let (same_record, sealed_v2, version) = byok_row(&db, &tenant, "openai").await;
    assert_eq!((same_record.as_str(), version), (record.as_str(), 2));
    assert_ne!(sealed_v2, sealed_v1, "the secret is re-sealed");
    assert_eq!(
        count(
            &db,
            "SELECT min_dek_version::bigint FROM tenants WHERE id = $1",
            &tenant
        )
        .await,
        2
    );

    // The local KMS, opened independently, unwraps DEK v2, which opens the
    // re-sealed secret.
    let kms = LocalKms::open(&stack.isolation.data_dir.path().join("kms"), false).unwrap();
    let (_, wrapped_before, kek_before) = after_dek[0].clone();
    assert_eq!(kek_before, "local:v1");
    let dek_before = kms
        .decrypt(&wrapped_before, &dek_context(&tenant, 2))
        .await
        .unwrap();
    let aad = Aad {
        tenant_id: &tenant,
        record_id: &record,
        provider: "openai",
        dek_version: 2,
    };
    assert_eq!(*open(&dek_before, &aad, &sealed_v2).unwrap(), secret.as_bytes());

    // KEK rotation: every wrapped DEK and the pepper move to the new KEK;
    // no secret is re-sealed.
    let wrapped_total: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tenant_deks) + (SELECT count(*) FROM service_secrets)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM key_events")
        .fetch_one(&db)
        .await
        .unwrap();
    let rotated = api
        .expect(200, "POST", "/api/v1/admin/kms/rotate-kek", None)
        .await;
    let kek = rotated["kek"].as_str().unwrap().to_owned();
    assert_eq!(kek, "local:v2");
    assert!(rotated["rewrapped"].as_i64().unwrap() >= 1);
    assert_eq!(rotated["rewrapped"].as_i64().unwrap(), wrapped_total);

    let after_kek = deks(&db, &tenant).await;
    assert_eq!(after_kek.len(), 1);
    let (version, wrapped_after, kek_ref) = after_kek[0].clone();
    assert_eq!((version, kek_ref.as_str()), (2, kek.as_str()));
    assert_ne!(wrapped_after, wrapped_before, "the DEK is rewrapped");
    let pepper_keks: Vec<String> = sqlx::query_scalar("SELECT kek_ref FROM service_secrets")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(pepper_keks, vec![kek.clone()]);
    let (_, sealed_after_kek, version) = byok_row(&db, &tenant, "openai").await;
    assert_eq!(version, 2);
    assert_eq!(
        sealed_after_kek, sealed_v2,
        "KEK rotation must not re-seal secrets"
    );
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM key_events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(events_after, events_before, "KEK rotation appends no events");

    // Same DEK inside the new wrapping.
    let kms = LocalKms::open(&stack.isolation.data_dir.path().join("kms"), false).unwrap();
    let dek_after = kms
        .decrypt(&wrapped_after, &dek_context(&tenant, 2))
        .await
        .unwrap();
    assert_eq!(*dek_after, *dek_before);

    let (status, body) = api.team_chat(&key, "after kek").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("after kek", "rotating-team"));
}

/// Guards a race that once failed a handful of ~1400 requests: a request that
/// read its BYOK row (sealed under the old DEK) just before a rotation
/// committed, then loaded that DEK after the commit deleted it. Resolution
/// now reads the wrapped DEK in the same statement as the row.
#[tokio::test]
async fn dek_rotation_under_load_fails_no_request() {
    let secret = random_secret("sk-load-");
    let (stack, _catalog) = team_stack(&format!("{secret}=loaded-team")).await;
    let api = Api::of(&stack);
    let tenant = api.tenant("Loaded", "pro").await;
    api.tenant_byok(&tenant, "openai", json!({"key": secret, "scope": "tenant"}))
        .await;
    let (_, key) = api.api_key(&tenant, json!({"name": "svc"})).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (base, key, stop) = (stack.base.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let (mut sent, mut failed) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let response = http
                        .post(format!("{base}/v1/chat/completions"))
                        .bearer_auth(&key)
                        .json(&chat(TEAM_MODEL, "load"))
                        .send()
                        .await
                        .unwrap();
                    sent += 1;
                    if response.status() != 200 {
                        failed.push(response.text().await.unwrap());
                    }
                }
                (sent, failed)
            })
        })
        .collect();
    let path = format!("/api/v1/tenants/{tenant}/dek/rotate");
    for _ in 0..30 {
        api.expect(200, "POST", &path, None).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut sent, mut failed) = (0, Vec::new());
    for worker in workers {
        let (n, f) = worker.await.unwrap();
        sent += n;
        failed.extend(f);
    }
    assert!(sent > 100, "only {sent} requests were sent");
    assert!(
        failed.is_empty(),
        "{} of {sent} requests failed during DEK rotation, e.g. {}",
        failed.len(),
        failed[0]
    );
}
