//! Notifications: the notification service hears of each customer-facing event once
//! per event id, through failures that may pass; one it refuses is given up and counted.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::events::live_scripted_lives;
use crate::helpers::{AppOptions, Backend, TestApp, TestResult, eventually, spawn_app_with};

order_adapters::on_both_backends!(
    each_customer_facing_event_is_notified_once_through_failures_that_pass,
    a_refused_notification_is_given_up_and_counted,
);

/// The customer-facing events of the scripted lives: the first order's placement,
/// payment, shipment and delivery, the second's placement and cancellation, the third's
/// placement (its deletion is not told).
const CUSTOMER_FACING: usize = 7;

async fn app_notifying(backend: Backend, notifications: &MockServer) -> anyhow::Result<TestApp> {
    spawn_app_with(
        backend,
        AppOptions {
            notification_service_url: Some(notifications.uri()),
            ..AppOptions::default()
        },
    )
    .await
}

/// The notifications received so far, in order.
async fn received(notifications: &MockServer) -> Vec<(String, Value)> {
    notifications
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| {
            let key = request
                .headers
                .get("Idempotency-Key")
                .and_then(|key| key.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (key, request.body_json().unwrap_or_default())
        })
        .collect()
}

async fn each_customer_facing_event_is_notified_once_through_failures_that_pass(
    backend: Backend,
) -> TestResult {
    let notifications = MockServer::start().await;
    // The first call fails on all of its attempts: the notification waits for a retry.
    Mock::given(method("POST"))
        .and(path("/notifications"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(3)
        .mount(&notifications)
        .await;
    Mock::given(method("POST"))
        .and(path("/notifications"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&notifications)
        .await;
    let app = app_notifying(backend, &notifications).await?;
    let lives = live_scripted_lives(&app).await?;
    eventually(
        Duration::from_secs(20),
        "every notification taken",
        || async { Ok(received(&notifications).await.len() >= 3 + CUSTOMER_FACING) },
    )
    .await?;

    let all = received(&notifications).await;
    // After the three failed attempts, each event's notification is taken once.
    let mut taken: HashMap<&str, &Value> = HashMap::new();
    for (key, body) in &all[3..] {
        assert_eq!(
            body["notificationId"],
            key.as_str(),
            "keyed by the event's id"
        );
        assert!(taken.insert(key, body).is_none(), "{key} taken twice");
    }
    assert_eq!(taken.len(), CUSTOMER_FACING);
    let failed_key = &all[0].0;
    assert!(
        taken.contains_key(failed_key.as_str()),
        "the failed one was sent again"
    );

    let feed: Value = app.get("/v1/events?limit=1000").await?.json().await?;
    for item in feed["items"].as_array().into_iter().flatten() {
        let event = &item["event"];
        let name = event["data"]["event"].as_str().unwrap_or_default();
        let id = event["id"].as_str().unwrap_or_default();
        let facing = [
            "order_placed",
            "payment_confirmed",
            "shipment_tracking_set",
            "delivery_confirmed",
            "order_canceled",
        ]
        .contains(&name);
        assert_eq!(taken.contains_key(id), facing, "{name}");
        if let Some(body) = taken.get(id) {
            assert_eq!(body["event"], name);
            assert_eq!(body["orderId"], event["subject"]);
            assert_eq!(body["customerId"], "cust-1");
            assert_eq!(body["order"], event["data"]["order"]);
        }
    }
    assert_eq!(lives.len(), 3);
    Ok(())
}

async fn a_refused_notification_is_given_up_and_counted(backend: Backend) -> TestResult {
    let notifications = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/notifications"))
        .and(body_partial_json(
            serde_json::json!({"event": "order_canceled"}),
        ))
        .respond_with(ResponseTemplate::new(400))
        .mount(&notifications)
        .await;
    Mock::given(method("POST"))
        .and(path("/notifications"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&notifications)
        .await;
    let app = app_notifying(backend, &notifications).await?;
    live_scripted_lives(&app).await?;
    let given_up = "orders_effects_total{kind=\"notify\",outcome=\"given_up\"} 1";
    eventually(Duration::from_secs(20), "the refusal counted", || async {
        Ok(app.get("/metrics").await?.text().await?.contains(given_up))
    })
    .await?;
    eventually(
        Duration::from_secs(20),
        "every notification sent",
        || async { Ok(received(&notifications).await.len() >= CUSTOMER_FACING) },
    )
    .await?;
    let canceled = received(&notifications)
        .await
        .into_iter()
        .filter(|(_, body)| body["event"] == "order_canceled")
        .count();
    assert_eq!(canceled, 1, "refused once, and not sent again");
    Ok(())
}
