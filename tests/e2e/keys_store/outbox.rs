//! The transactional outbox to JetStream.

use super::*;

#[tokio::test]
async fn every_key_change_reaches_jetstream_once_with_cloudevents_headers() {
    let stack = TestStack::spawn().await;
    let api = Api::of(&stack);
    let tenant = api.tenant("Outboxed", "free").await;
    let (key_id, key) = api.api_key(&tenant, json!({"name": "ci"})).await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/tenants/{tenant}/api-keys/{key_id}"),
        None,
    )
    .await;

    let db = pool(&stack.isolation.db_name).await;
    eventually("the outbox is drained", || {
        let db = db.clone();
        async move {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM key_outbox")
                .fetch_one(&db)
                .await
                .unwrap();
            (left == 0).then_some(())
        }
    })
    .await;

    let prefix = &stack.isolation.nats_prefix;
    let subject = format!("{prefix}.keys.v1.{tenant}");
    let js = async_nats::jetstream::new(async_nats::connect(crate::helpers::nats_url()).await.unwrap());
    let stream = js
        .get_stream(format!("{}_KEYS", prefix.to_uppercase()))
        .await
        .unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: subject.clone(),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = Vec::new();
    let start = Instant::now();
    while messages.len() < 3 && start.elapsed() < DEADLINE {
        let mut batch = consumer
            .batch()
            .max_messages(10)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        while let Some(message) = batch.next().await {
            messages.push(message.unwrap());
        }
    }
    // Nothing beyond the three: each change was published once.
    assert_eq!(consumer.info().await.unwrap().num_pending, 0);

    let stored: Vec<(uuid::Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT event_id, event_type, stream_id, version FROM key_events WHERE tenant_id = $1 ORDER BY position",
    )
    .bind(&tenant)
    .fetch_all(&db)
    .await
    .unwrap();
    let kinds: Vec<&str> = stored.iter().map(|(_, kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["tenant.created", "api_key.created", "api_key.revoked"]);
    assert_eq!(messages.len(), 3, "expected one message per key change");

    let secret = keyway_keys::key_format::parse(&key).unwrap().secret.to_owned();
    for (message, (event_id, kind, stream_id, version)) in messages.iter().zip(&stored) {
        assert_eq!(message.subject.as_str(), subject);
        let change =
            <KeyChanged as prost::Message>::decode(message.payload.as_ref()).expect("a KeyChanged protobuf");
        assert_eq!(change.event_id, event_id.to_string());
        assert_eq!(change.kind, *kind);
        assert_eq!(change.tenant_id, tenant);
        assert_eq!(change.stream_id, *stream_id);
        assert_eq!(change.version, u64::try_from(*version).unwrap());
        assert_eq!(change.actor, "platform-admin");
        let expected_subject = if kind.starts_with("api_key.") {
            &key_id
        } else {
            &tenant
        };
        assert_eq!(&change.subject_id, expected_subject);
        assert!(change.occurred_at_unix_ms > 1_700_000_000_000);

        let headers = message.headers.as_ref().expect("CloudEvents headers");
        let header = |name: &str| {
            headers
                .get(name)
                .unwrap_or_else(|| panic!("header {name} missing from {headers:?}"))
                .as_str()
                .to_owned()
        };
        // The client parses `Nats-Msg-Id` into a standard name, which a
        // string lookup (a custom name) does not match.
        let msg_id = headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .expect("Nats-Msg-Id header");
        assert_eq!(msg_id.as_str(), change.event_id);
        assert_eq!(async_nats::header::NATS_MESSAGE_ID.to_string(), "Nats-Msg-Id");
        assert_eq!(header("ce-id"), change.event_id);
        assert_eq!(
            uuid::Uuid::parse_str(&header("ce-id")).unwrap().get_version_num(),
            7
        );
        assert_eq!(header("ce-specversion"), "1.0");
        assert_eq!(header("ce-type"), "dev.keyway.keys.v1");
        assert_eq!(header("ce-source"), "keyway/keys");
        assert_eq!(header("ce-subject"), tenant);
        assert_eq!(header("ce-datacontenttype"), "application/protobuf");
        assert!(header("ce-time").starts_with("20"));

        let body = String::from_utf8_lossy(&message.payload);
        assert!(
            !body.contains(&key) && !body.contains(&secret),
            "a message body holds the API key"
        );
        for (name, values) in headers.iter() {
            for value in values {
                assert!(
                    !value.as_str().contains(&secret),
                    "header {name} holds the API key's secret"
                );
            }
        }
    }
}
