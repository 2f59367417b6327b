//! The AWS KMS provider against a real moto server.

use keyway_crypto::test_support::{Moto, start_moto};

use super::*;

#[tokio::test]
async fn deleting_a_tenant_crypto_shreds_its_secrets() {
    let (doomed_secret, survivor_secret) = (random_secret("sk-doomed-"), random_secret("sk-survivor-"));
    let (stack, _catalog) = team_stack(&format!(
        "{doomed_secret}=doomed-team,{survivor_secret}=survivor-team"
    ))
    .await;
    let api = Api::of(&stack);
    let doomed = api.tenant("Doomed", "starter").await;
    let survivor = api.tenant("Survivor", "starter").await;
    api.tenant_byok(
        &doomed,
        "openai",
        json!({"key": doomed_secret, "scope": "tenant"}),
    )
    .await;
    api.tenant_byok(
        &survivor,
        "openai",
        json!({"key": survivor_secret, "scope": "tenant"}),
    )
    .await;
    let (_, doomed_key) = api.api_key(&doomed, json!({"name": "d"})).await;
    let (_, survivor_key) = api.api_key(&survivor, json!({"name": "s"})).await;
    let (status, body) = api.team_chat(&doomed_key, "last words").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("last words", "doomed-team"));

    let db = pool(&stack.isolation.db_name).await;
    assert_eq!(deks(&db, &doomed).await.len(), 1);
    api.expect(204, "DELETE", &format!("/api/v1/tenants/{doomed}"), None)
        .await;

    // Key material and read models are gone...
    assert!(deks(&db, &doomed).await.is_empty(), "the tenant's DEKs survived");
    for table in [
        "tenants WHERE id",
        "users WHERE tenant_id",
        "api_keys WHERE tenant_id",
        "byok_keys WHERE tenant_id",
    ] {
        let left = count(&db, &format!("SELECT count(*) FROM {table} = $1"), &doomed).await;
        assert_eq!(left, 0, "{table} still has rows of the deleted tenant");
    }
    // ...while the append-only history still holds the sealed secret, which
    // now has no DEK to open it.
    let sealed: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'sealed' FROM key_events WHERE tenant_id = $1 AND event_type = 'byok_key.set'",
    )
    .bind(&doomed)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].len() > 40, "sealed: {:?}", sealed[0]);
    let leaks = count(
        &db,
        "SELECT count(*) FROM key_events WHERE strpos(payload::text, $1) > 0",
        &doomed_secret,
    )
    .await;
    assert_eq!(leaks, 0, "the event store holds the plaintext secret");
    let deleted = count(
        &db,
        "SELECT count(*) FROM key_events WHERE tenant_id = $1 AND event_type = 'tenant.deleted'",
        &doomed,
    )
    .await;
    assert_eq!(deleted, 1);
    let any_dek = count(
        &db,
        "SELECT count(*) FROM tenant_deks WHERE tenant_id = $1",
        &doomed,
    )
    .await;
    assert_eq!(any_dek, 0, "no DEK of any version can open the sealed secret");
    // The KEK itself is intact: shredding is per tenant, not a lost master key.
    assert!(
        stack
            .isolation
            .data_dir
            .path()
            .join("kms/master-v1.key")
            .is_file()
    );

    // The tenant's API key is refused at the gateway.
    let (status, body) = api.team_chat(&doomed_key, "still there?").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-002");

    // The other tenant is untouched.
    assert_eq!(deks(&db, &survivor).await.len(), 1);
    let (status, body) = api.team_chat(&survivor_key, "fine").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("fine", "survivor-team"));
}

// AWS KMS against moto

/// Creates a KMS key in moto with the venv's boto3 (the e2e crate has no
/// AWS SDK to sign requests with); returns its key id.
fn create_moto_key(moto: &Moto) -> String {
    let python = crate::helpers::peers_bin("python");
    let output = Command::new(&python)
        .args([
            "-c",
            "import sys, boto3; kms = boto3.client('kms', endpoint_url=sys.argv[1]); print(kms.create_key(Description='keyway e2e')['KeyMetadata']['KeyId'])",
            &moto.url,
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} cannot run: {e}", python.display()));
    assert!(
        output.status.success(),
        "boto3 create_key failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(!id.is_empty(), "boto3 printed no key id");
    id
}

/// The AWS SDK takes its credentials from the process environment, not from
/// the stack's config map, so this runs the real binary as a subprocess with
/// its own environment.
#[tokio::test]
async fn the_aws_kms_provider_works_end_to_end_against_moto() {
    let moto = start_moto().await;
    let key_id = create_moto_key(&moto);
    let secret = random_secret("sk-aws-");
    let mock_keys = format!("{secret}=aws-team");
    let dir = tempfile::tempdir().unwrap();
    let catalog = team_catalog(dir.path());
    let process = KeywayProcess::start(&[
        ("KEYWAY_KMS", "aws"),
        ("KEYWAY_KMS_KEY_ID", key_id.as_str()),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("KEYWAY_MODELS", catalog.to_str().unwrap()),
        ("KEYWAY_MOCK_KEYS", mock_keys.as_str()),
        ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", "0"),
    ]);
    let api = Api::of_process(&process);

    let tenant = api.tenant("Cloudy", "starter").await;
    let set = api
        .tenant_byok(&tenant, "openai", json!({"key": secret, "scope": "tenant"}))
        .await;
    assert_eq!(set["scope"], "tenant");
    let (_, key) = api.api_key(&tenant, json!({"name": "svc"})).await;
    let (status, body) = api.team_chat(&key, "via aws kms").await;
    assert_eq!(status, 200, "{body}\n{}", process.logs());
    assert_eq!(reply(&body), answer("via aws kms", "aws-team"));

    let db = pool(&process.isolation.db_name).await;
    let tenant_deks = deks(&db, &tenant).await;
    assert_eq!(tenant_deks.len(), 1);
    let (version, wrapped, kek_ref) = &tenant_deks[0];
    assert_eq!((*version, kek_ref.as_str()), (1, key_id.as_str()));
    assert!(
        !wrapped.starts_with(b"kwl1"),
        "the DEK is wrapped by the local KMS"
    );
    let pepper: Vec<(String, String)> = sqlx::query_as("SELECT name, kek_ref FROM service_secrets")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(pepper, vec![("api_key_pepper".to_owned(), key_id.clone())]);
    assert!(
        !process.isolation.data_dir.path().join("kms").exists(),
        "the local KMS was used"
    );

    // The DEK can be rotated through AWS too, and traffic still flows.
    let rotated = api
        .expect(200, "POST", &format!("/api/v1/tenants/{tenant}/dek/rotate"), None)
        .await;
    assert_eq!(rotated["dek_version"], 2);
    let (status, body) = api.team_chat(&key, "after rotation").await;
    assert_eq!(status, 200, "{body}\n{}", process.logs());
    assert_eq!(reply(&body), answer("after rotation", "aws-team"));
    let versions: Vec<(i32, String)> = deks(&db, &tenant)
        .await
        .into_iter()
        .map(|(v, _, k)| (v, k))
        .collect();
    assert_eq!(versions, vec![(2, key_id.clone())]);
}
