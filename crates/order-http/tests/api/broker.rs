//! Publication of the events to NATS JetStream: every change arrives once, each order's
//! in version order, and a broker outage loses nothing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use crate::events::{Lives, live_scripted_lives};
use crate::fakes::nats::{NatsServer, Published, StreamReader, shared_nats};
use crate::helpers::{
    AppOptions, Backend, TestApp, TestResult, eventually, order_body, spawn_app_with,
};

order_adapters::on_both_backends!(
    every_change_arrives_on_jetstream_once_in_version_order_as_in_the_feed,
    events_wait_out_a_broker_outage_and_all_arrive_in_order_once_it_is_back,
);

/// The messages about `orders`, by order, in stream order.
fn by_order<'a>(
    published: &'a [Published],
    orders: &HashSet<&str>,
) -> HashMap<String, Vec<&'a Published>> {
    let mut grouped: HashMap<String, Vec<&Published>> = HashMap::new();
    for message in published {
        if let Some(order) = message.event["subject"]
            .as_str()
            .filter(|id| orders.contains(id))
        {
            grouped.entry(order.to_owned()).or_default().push(message);
        }
    }
    grouped
}

/// Whether every event of `lives` is among `published`.
fn all_of(lives: &Lives, published: &[Published]) -> bool {
    let orders: HashSet<&str> = lives.iter().map(|(id, _)| id.as_str()).collect();
    let grouped = by_order(published, &orders);
    lives
        .iter()
        .all(|(id, events)| grouped.get(id).map_or(0, Vec::len) >= events.len())
}

/// Checks that `published` holds each event of `lives` once, each order's in version
/// order, on its subject, with its id as `Nats-Msg-Id`, exactly as the feed has it.
async fn check_published(app: &TestApp, lives: &Lives, published: &[Published]) -> TestResult {
    let orders: HashSet<&str> = lives.iter().map(|(id, _)| id.as_str()).collect();
    let grouped = by_order(published, &orders);
    let feed: Value = app.get("/v1/events?limit=1000").await?.json().await?;
    let feed: HashMap<&str, &Value> = feed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| Some((item["event"]["id"].as_str()?, &item["event"])))
        .collect();
    for (order, expected) in lives {
        let messages = grouped.get(order).cloned().unwrap_or_default();
        let names: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.event["data"]["event"].as_str())
            .collect();
        assert_eq!(&names, expected, "{order}: once each, in version order");
        for message in messages {
            let name = message.event["data"]["event"].as_str().unwrap_or_default();
            assert_eq!(message.subject, format!("orders.{name}"));
            assert_eq!(
                message.event["id"],
                message.id.as_str(),
                "Nats-Msg-Id is the event's id"
            );
            assert_eq!(
                Some(&&message.event),
                feed.get(message.id.as_str()),
                "as in the feed"
            );
        }
    }
    Ok(())
}

async fn every_change_arrives_on_jetstream_once_in_version_order_as_in_the_feed(
    backend: Backend,
) -> TestResult {
    let Some(nats) = shared_nats() else {
        return Ok(());
    };
    let mut reader = StreamReader::from_now(&nats).await?;
    let options = AppOptions {
        nats_url: Some(nats),
        ..AppOptions::default()
    };
    let app = spawn_app_with(backend, options).await?;
    let lives = live_scripted_lives(&app).await?;
    let published = reader
        .read_until(Duration::from_secs(30), |read| all_of(&lives, read))
        .await?;
    check_published(&app, &lives, &published).await
}

/// The number of events the broker's relay has yet to publish, as `/metrics` shows it.
async fn waiting_for_the_broker(app: &TestApp) -> anyhow::Result<u64> {
    let metrics = app.get("/metrics").await?.text().await?;
    Ok(metrics
        .lines()
        .find(|line| line.starts_with("orders_events_waiting{consumer=\"broker\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_default())
}

async fn events_wait_out_a_broker_outage_and_all_arrive_in_order_once_it_is_back(
    backend: Backend,
) -> TestResult {
    let store = tempfile::tempdir()?;
    let mut server = NatsServer::start(store.path())?;
    let mut reader = StreamReader::from_now(&server.url()).await?;
    let options = AppOptions {
        nats_url: Some(server.url()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(backend, options).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let first = app.placed_order(&order_body()).await?;
    let first_id = first["id"].as_str().unwrap_or_default().to_owned();
    reader
        .read_until(Duration::from_secs(30), |read| read.len() == 1)
        .await?;

    server.stop();
    // Requests go on being served; their events wait in the database.
    let canceled = app
        .act(
            reqwest::Method::POST,
            &first_id,
            "/cancel",
            serde_json::json!({"reason": "broker down"}),
        )
        .await?;
    assert_eq!(canceled.status(), 200);
    let second = app.placed_order(&order_body()).await?;
    let second_id = second["id"].as_str().unwrap_or_default().to_owned();
    eventually(
        Duration::from_secs(10),
        "waiting for the broker",
        || async { Ok(waiting_for_the_broker(&app).await? == 2) },
    )
    .await?;

    server.restart()?;
    let lives: Lives = vec![
        (first_id, vec!["order_placed", "order_canceled"]),
        (second_id, vec!["order_placed"]),
    ];
    let published = reader
        .read_until(Duration::from_secs(60), |read| all_of(&lives, read))
        .await?;
    check_published(&app, &lives, &published).await?;
    eventually(Duration::from_secs(10), "nothing waiting", || async {
        Ok(waiting_for_the_broker(&app).await? == 0)
    })
    .await
}
