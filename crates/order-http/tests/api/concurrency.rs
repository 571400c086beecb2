//! Concurrent changes of one order: serialised, none lost, each decided on the state
//! it applies to.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestResult, address_json, order_body, spawn_app};

/// Whether `action` from `status` is legal, and where it leads (the spec's table).
fn legal(status: &str, event: &str) -> Option<&'static str> {
    match (status, event) {
        ("pending", "order_canceled") | ("processing", "order_canceled") => Some("canceled"),
        ("pending", "payment_confirmed") => Some("processing"),
        ("pending", "shipping_address_updated") => Some("pending"),
        ("processing", "shipping_address_updated") => Some("processing"),
        // A paid order canceled is refunded: a change the service makes by itself.
        ("canceled", "refund_completed") => Some("canceled"),
        _ => None,
    }
}

async fn thirty_racing_changes_leave_one_consistent_history_and_lose_nothing(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;

    for round in 0..5 {
        let order = app.placed_order(&order_body()).await?;
        let id = order["id"].as_str().unwrap_or_default().to_owned();
        let requests = (0..30).map(|i| {
            let (verb, action, body) = match i % 3 {
                0 => (
                    Method::POST,
                    "/cancel",
                    json!({"reason": format!("race {i}")}),
                ),
                1 => (
                    Method::POST,
                    "/confirm-payment",
                    json!({"paymentReference": format!("pay_{i}"), "amount": 3800}),
                ),
                _ => (
                    Method::PUT,
                    "/shipping",
                    json!({"shippingAddress": address_json(&format!("City {i}"))}),
                ),
            };
            app.act(verb, &id, action, body)
        });
        let responses = futures::future::join_all(requests).await;

        let mut successes = 0;
        for response in responses {
            let response = response?;
            match response.status() {
                StatusCode::OK => successes += 1,
                StatusCode::CONFLICT => {
                    let problem: Value = response.json().await?;
                    assert_eq!(problem["code"], "invalid_transition", "round {round}");
                }
                other => panic!("round {round}: unexpected {other}"),
            }
        }

        let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
        let history: Value = app
            .get(&format!("/v1/orders/{id}/history"))
            .await?
            .json()
            .await?;
        let entries = history["items"].as_array().cloned().unwrap_or_default();
        // The refund of a paid order canceled is recorded before the cancel answers.
        let refunds = entries
            .iter()
            .filter(|entry| entry["event"] == "refund_completed")
            .count() as u64;
        assert_eq!(
            order["version"].as_u64(),
            Some(1 + successes + refunds),
            "round {round}: no update lost"
        );
        assert_eq!(
            entries.len() as u64,
            1 + successes + refunds,
            "round {round}: one entry per change"
        );
        let mut status = "pending".to_owned();
        for (i, entry) in entries.iter().enumerate().skip(1) {
            assert_eq!(entry["version"].as_u64(), Some(i as u64 + 1));
            assert_eq!(
                entry["fromStatus"].as_str(),
                Some(status.as_str()),
                "round {round}: entry {i}"
            );
            let event = entry["event"].as_str().unwrap_or_default();
            let to = legal(&status, event)
                .unwrap_or_else(|| panic!("round {round}: {event} from {status}"));
            assert_eq!(entry["toStatus"].as_str(), Some(to));
            status = to.to_owned();
        }
        assert_eq!(order["status"].as_str(), Some(status.as_str()));
    }
    Ok(())
}

order_adapters::on_both_backends!(
    thirty_racing_changes_leave_one_consistent_history_and_lose_nothing,
);
