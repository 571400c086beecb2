//! The event feed: every change's event, as a CloudEvent, in commit order.

use std::time::Duration;

use order_adapters::OrderStore;
use order_domain::{EventLog, NOTIFICATION_RELAY};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestResult, address_json, assert_problem, eventually, order_body, spawn_app,
};

order_adapters::on_both_backends!(
    every_change_of_scripted_lives_is_in_the_feed_once_in_order_as_a_cloud_event,
    a_reader_can_start_at_the_end_and_page_on,
    bad_feed_parameters_are_refused_by_name,
    a_reader_that_missed_forgotten_events_is_told_so,
);

/// The event names a scripted life produces, per order, in version order.
pub type Lives = Vec<(String, Vec<&'static str>)>;

/// Three order lives: placed, paid for, shipped and delivered; placed and canceled;
/// placed and deleted. Returns each order's id and the events its changes produce.
pub async fn live_scripted_lives(app: &TestApp) -> anyhow::Result<Lives> {
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let id_of = |order: Value| order["id"].as_str().unwrap_or_default().to_owned();

    let delivered = id_of(app.placed_order(&order_body()).await?);
    for (verb, action, body) in [
        (
            Method::PUT,
            "/payment",
            json!({"method": "card", "reference": "tok_visa"}),
        ),
        (
            Method::POST,
            "/confirm-payment",
            json!({"paymentReference": "pay_1", "amount": 3800}),
        ),
        (
            Method::PUT,
            "/shipping",
            json!({"shippingAddress": address_json("Chicago")}),
        ),
        (
            Method::PUT,
            "/shipment/tracking",
            json!({"carrier": "UPS", "trackingNumber": "1Z9"}),
        ),
        (Method::POST, "/confirm-delivery", json!({})),
    ] {
        let response = app.act(verb, &delivered, action, body).await?;
        anyhow::ensure!(
            response.status() == 200,
            "{action}: {}",
            response.text().await?
        );
    }
    let canceled = id_of(app.placed_order(&order_body()).await?);
    let response = app
        .act(
            Method::POST,
            &canceled,
            "/cancel",
            json!({"reason": "changed my mind"}),
        )
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "cancel: {}",
        response.text().await?
    );
    let deleted = id_of(app.placed_order(&order_body()).await?);
    let response = app
        .client
        .delete(app.url(&format!("/v1/orders/{deleted}")))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 204, "delete: {}", response.status());
    Ok(vec![
        (
            delivered,
            vec![
                "order_placed",
                "payment_info_updated",
                "payment_confirmed",
                "shipping_address_updated",
                "shipment_tracking_set",
                "delivery_confirmed",
            ],
        ),
        (canceled, vec!["order_placed", "order_canceled"]),
        (deleted, vec!["order_placed", "order_deleted"]),
    ])
}

/// Every event of the feed, paging `limit` at a time from the oldest.
async fn whole_feed(app: &TestApp, limit: u32) -> anyhow::Result<Vec<(u64, Value)>> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = app
            .get(&format!("/v1/events?after={after}&limit={limit}"))
            .await?
            .json()
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            assert_eq!(
                page["nextAfter"], after,
                "an empty page ends where it started"
            );
            return Ok(events);
        }
        for item in items {
            events.push((
                item["position"].as_u64().unwrap_or_default(),
                item["event"].clone(),
            ));
        }
        after = page["nextAfter"].as_u64().unwrap_or_default();
    }
}

async fn every_change_of_scripted_lives_is_in_the_feed_once_in_order_as_a_cloud_event(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let lives = live_scripted_lives(&app).await?;
    let feed = whole_feed(&app, 4).await?;
    let positions: Vec<u64> = feed.iter().map(|(position, _)| *position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in commit order: {positions:?}"
    );
    let ids: std::collections::HashSet<&str> =
        feed.iter().filter_map(|(_, e)| e["id"].as_str()).collect();
    assert_eq!(
        ids.len(),
        feed.len(),
        "each event once, with an id of its own"
    );

    for (order_id, expected) in &lives {
        let events: Vec<&Value> = feed
            .iter()
            .map(|(_, event)| event)
            .filter(|event| event["subject"] == order_id.as_str())
            .collect();
        let names: Vec<&str> = events
            .iter()
            .filter_map(|e| e["data"]["event"].as_str())
            .collect();
        assert_eq!(&names, expected, "{order_id}");
        let history: Value = app
            .get(&format!("/v1/orders/{order_id}/history"))
            .await?
            .json()
            .await?;
        for (version, event) in events.iter().enumerate() {
            let version = version as u64 + 1;
            let name = event["data"]["event"].as_str().unwrap_or_default();
            assert_eq!(event["specversion"], "1.0");
            assert_eq!(event["source"], "/orders");
            assert_eq!(event["type"], format!("orders.v1.{name}"));
            assert_eq!(event["datacontenttype"], "application/json");
            assert_eq!(event["data"]["version"], version);
            assert_eq!(event["data"]["order"]["version"], version);
            assert_eq!(event["data"]["order"]["id"], order_id.as_str());
            // The event carries the history entry exactly as the history shows it.
            let entry = &history["items"][version as usize - 1];
            for field in [
                "event",
                "fromStatus",
                "toStatus",
                "version",
                "data",
                "actor",
            ] {
                assert_eq!(event["data"][field], entry[field], "{name} {field}");
            }
            assert_eq!(event["time"], entry["at"]);
        }
        // The order as it stands after its last change is what GET shows (but for a
        // deleted one, which GET no longer shows).
        let last = &events[events.len() - 1]["data"]["order"];
        let current = app.get(&format!("/v1/orders/{order_id}")).await?;
        if current.status() == 200 {
            assert_eq!(*last, current.json::<Value>().await?);
        } else {
            assert_eq!(last["version"], 2, "the deletion's own version");
        }
    }
    Ok(())
}

async fn a_reader_can_start_at_the_end_and_page_on(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let empty: Value = app.get("/v1/events?after=now").await?.json().await?;
    assert_eq!(empty, json!({"items": [], "nextAfter": 0}));
    live_scripted_lives(&app).await?;
    let end: Value = app.get("/v1/events?after=now").await?.json().await?;
    assert_eq!(end["items"], json!([]));
    let end = end["nextAfter"].as_u64().unwrap_or_default();
    assert_eq!(end, whole_feed(&app, 1000).await?.len() as u64);

    let placed = app.placed_order(&order_body()).await?;
    let next: Value = app
        .get(&format!("/v1/events?after={end}"))
        .await?
        .json()
        .await?;
    assert_eq!(next["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(next["items"][0]["event"]["subject"], placed["id"]);
    assert_eq!(next["nextAfter"], next["items"][0]["position"]);
    Ok(())
}

async fn bad_feed_parameters_are_refused_by_name(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    for (query, parameter) in [
        ("after=-1", "after"),
        ("after=soon", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("before=3", "before"),
        ("after=1&after=2", "after"),
    ] {
        let response = app.get(&format!("/v1/events?{query}")).await?;
        assert_problem(response, 400, "invalid_parameter", &[parameter]).await?;
    }
    Ok(())
}

async fn a_reader_that_missed_forgotten_events_is_told_so(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    live_scripted_lives(&app).await?;
    let store = OrderStore::new(app.open_database()?);
    // Events are kept until the notifications have been sent for them.
    eventually(Duration::from_secs(10), "notified", || async {
        Ok(store.consumer_backlog(NOTIFICATION_RELAY).await?.waiting == 0)
    })
    .await?;
    let forgotten = store.forget_events(Duration::ZERO, 3).await?;
    assert_eq!(forgotten, 3);
    let problem = assert_problem(
        app.get("/v1/events?after=1").await?,
        410,
        "events_expired",
        &[],
    )
    .await?;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("after=0"))
    );
    let resumed: Value = app.get("/v1/events?after=3").await?.json().await?;
    assert_eq!(
        resumed["items"][0]["position"], 4,
        "nothing missed after the forgotten ones"
    );
    let oldest: Value = app.get("/v1/events?after=0").await?.json().await?;
    assert_eq!(
        oldest["items"][0]["position"], 4,
        "after=0 starts at the oldest kept"
    );
    Ok(())
}
