//! Clients that hang up mid-placement: whatever the point they are cut off at, once the
//! service has settled every reservation the inventory holds belongs to a stored order,
//! and every stored order holds its reservation. And the faults of SQLite's one writer:
//! a full queue refuses at once, a stopped writer fails liveness.

use std::time::Duration;

use order_adapters::testing::{SqliteWriteLock, TestDatabase, owed_releases};
use order_adapters::{DatabaseOptions, DatabaseUrl};
use order_http::config::Config;
use order_http::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fakes::FakeUpstream;
use crate::helpers::{
    AppOptions, Backend, TestApp, TestResult, assert_problem, eventually, order_body,
    spawn_app_with, test_client,
};

order_adapters::on_both_backends!(
    placements_cut_off_at_random_points_leave_no_stock_without_an_order,
    a_body_that_stalls_or_trickles_gets_408_and_the_connection_closes
);

/// How many placements are sent, and cut off.
const PLACEMENTS: usize = 60;

/// A placement whose client resets the connection `after` it sent the request; true
/// when it was cut off before the answer came.
async fn cut_off_placement(address: &str, n: usize, after: Duration) -> anyhow::Result<bool> {
    let body = format!(
        r#"{{"storeId": "store-1", "customerId": "cust-{n}", "shippingCost": 0, "taxAmount": 0,
            "items": [{{"productId": "prod-{n}", "quantity": 1, "unitPrice": 100}}]}}"#
    );
    // Half of them with a key, half without: both paths must leave nothing behind.
    let key = if n.is_multiple_of(2) {
        format!("Idempotency-Key: cut-{n}\r\n")
    } else {
        String::new()
    };
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{key}\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut answer = [0_u8; 1];
    let answered = tokio::time::timeout(after, stream.read(&mut answer)).await;
    // A reset, not a polite close: the client is gone at once.
    stream.set_zero_linger()?;
    drop(stream);
    Ok(answered.is_err())
}

/// A wait drawn from `range`, for each client to hang up at a point of its own.
fn draw(range: std::ops::Range<u64>, n: usize) -> Duration {
    let span = range.end - range.start;
    Duration::from_millis(range.start + (n as u64 * 7919) % span)
}

async fn placements_cut_off_at_random_points_leave_no_stock_without_an_order(
    backend: Backend,
) -> TestResult {
    // Slower than one attempt may take (300 ms) at times: some reservations are made
    // after the service stopped waiting for them, some land after they were released.
    let fake = FakeUpstream::start(Duration::ZERO..Duration::from_millis(400))?;
    let app = spawn_app_with(
        backend,
        AppOptions {
            customer_service_url: Some(fake.url.clone()),
            inventory_service_url: Some(fake.url.clone()),
            ..AppOptions::default()
        },
    )
    .await?;

    let clients: Vec<_> = (0..PLACEMENTS)
        .map(|n| {
            let address = app.address.clone();
            tokio::spawn(async move { cut_off_placement(&address, n, draw(20..450, n)).await })
        })
        .collect();
    let mut cut_off = 0;
    for client in clients {
        if client.await?? {
            cut_off += 1;
        }
    }
    assert!(
        cut_off > PLACEMENTS / 4,
        "only {cut_off} cut off before their answer"
    );

    until_settled(&app, &fake).await?;
    assert!(
        !fake.reservations().is_empty(),
        "some placements were stored"
    );
    Ok(())
}

/// Waits until the service has settled: no release is owed, and the reservations the
/// inventory holds are exactly the stored orders'.
async fn until_settled(app: &TestApp, fake: &FakeUpstream) -> TestResult {
    let db = app.open_database()?;
    eventually(Duration::from_secs(30), "settled", || async {
        let settled = owed_releases(&db).await? == 0;
        Ok(settled && fake.reservations() == app.all_order_ids().await?)
    })
    .await
}

/// A placement whose head promises 1,000 bytes of body; `trickle` sends one byte of it
/// at that interval until the service answers, or none after the first when `None`.
async fn stalled_placement(address: &str, trickle: Option<Duration>) -> anyhow::Result<String> {
    let head = "POST /v1/orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                Content-Length: 1000\r\n\r\n{";
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).await?;
    stream.write_all(head.as_bytes()).await?;
    let (mut reader, mut writer) = stream.into_split();
    // Holds the sending half open until aborted: dropping it would tell the service
    // the body ended, which is a malformed body, not a stalled one.
    let trickler = tokio::spawn(async move {
        if let Some(every) = trickle {
            // Stops at the first write the closed connection refuses.
            for _ in 0..500 {
                tokio::time::sleep(every).await;
                if writer.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
        std::future::pending::<()>().await;
        drop(writer);
    });
    let mut answer = Vec::new();
    // Everything until the service closes the connection; bounded, so a service that
    // never answers fails the test instead of hanging it.
    tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answer)).await??;
    trickler.abort();
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

async fn a_body_that_stalls_or_trickles_gets_408_and_the_connection_closes(
    backend: Backend,
) -> TestResult {
    let timeout = Duration::from_millis(500);
    let app = spawn_app_with(
        backend,
        AppOptions {
            request_body_timeout: timeout,
            ..AppOptions::default()
        },
    )
    .await?;
    for trickle in [None, Some(Duration::from_millis(100))] {
        let started = std::time::Instant::now();
        let answer = stalled_placement(&app.address, trickle).await?;
        assert!(answer.starts_with("HTTP/1.1 408"), "{trickle:?}: {answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(
            started.elapsed() < timeout * 6,
            "took {:?}",
            started.elapsed()
        );
    }
    assert!(app.all_order_ids().await?.is_empty(), "nothing is stored");
    Ok(())
}

/// The service on SQLite with `database`'s options, calling `fake`; with where its
/// database is.
async fn on_sqlite_with_fake(
    fake: &FakeUpstream,
    database: DatabaseOptions,
) -> anyhow::Result<(TestApp, DatabaseUrl)> {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            customer_service_url: Some(fake.url.clone()),
            inventory_service_url: Some(fake.url.clone()),
            database,
            ..AppOptions::default()
        },
    )
    .await?;
    let url = app
        .database
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no database"))?
        .url()
        .clone();
    Ok((app, url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_write_queue_is_503_with_retry_after_and_stores_nothing() -> TestResult {
    let fake = FakeUpstream::start(Duration::ZERO..Duration::from_millis(1))?;
    // Room for few writes; the one held waits for the lock as long as the test needs,
    // and so do the writes queued behind it.
    let (app, database) = on_sqlite_with_fake(
        &fake,
        DatabaseOptions {
            write_queue: 4,
            busy_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            ..DatabaseOptions::default()
        },
    )
    .await?;
    let lock = SqliteWriteLock::take(&database)?;

    // The writer waits for the lock in one write, four more wait in its queue: past
    // those, placements are refused at once, before anything of them is written.
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..12 {
        let (client, url, answered) = (app.client.clone(), app.url("/v1/orders"), answered.clone());
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("Idempotency-Key", format!("full-{n}"))
                .json(&order_body())
                .send()
                .await;
            let _ = answered.send((n, response));
        });
    }
    drop(answered);
    let (refused_key, refused) = tokio::time::timeout(Duration::from_secs(10), answers.recv())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no answer"))?;
    let refused = refused?;
    assert!(refused.headers().contains_key("retry-after"), "{refused:?}");
    let problem = assert_problem(refused, 503, "service_unavailable", &[]).await?;
    assert!(
        !problem.to_string().contains("queue"),
        "no internals: {problem}"
    );

    drop(lock);
    while let Some((_, answer)) = answers.recv().await {
        answer?;
    }
    // The refused request left no claim of its key behind: sent again, it places its
    // order as a new one (once the queue has room for it).
    eventually(Duration::from_secs(15), "placed again", || async {
        let again = app
            .place_with_key(&order_body(), &format!("full-{refused_key}"))
            .await?;
        Ok(again.status() == StatusCode::CREATED
            && !again.headers().contains_key("idempotent-replayed"))
    })
    .await?;
    until_settled(&app, &fake).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_fails_once_the_sqlite_writer_has_stopped() -> TestResult {
    let database = TestDatabase::create(Backend::Sqlite)?;
    let config = Config {
        listen_addr: "127.0.0.1:0".parse()?,
        database: database.url().clone(),
        ..Config::default()
    };
    let app = Application::build(&config).await?;
    let live = format!("http://127.0.0.1:{}/health/live", app.port());
    let writer = app.database().clone();
    tokio::spawn(app.run_until_stopped());
    let client = test_client()?;
    assert_eq!(client.get(&live).send().await?.status(), StatusCode::OK);

    // Closing stops the writer thread, as its death would.
    writer.close().await?;

    eventually(Duration::from_secs(10), "down", || async {
        let response = client.get(&live).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        Ok(status == StatusCode::SERVICE_UNAVAILABLE && body == json!({"status": "down"}))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_past_its_deadline_is_a_fast_503_that_tells_the_truth_and_leaks_no_stock()
-> TestResult {
    // The reservation takes long enough for the test to take the write lock while it
    // is under way: the placement's guard is recorded, its order not yet stored.
    let fake = FakeUpstream::start(Duration::from_millis(150)..Duration::from_millis(200))?;
    let deadline = Duration::from_millis(300);
    let (app, database) = on_sqlite_with_fake(
        &fake,
        DatabaseOptions {
            write_timeout: deadline,
            busy_timeout: Duration::from_secs(30),
            ..DatabaseOptions::default()
        },
    )
    .await?;
    let db = app.open_database()?;
    let placement = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/v1/orders"));
        async move { client.post(url).json(&order_body()).send().await }
    });
    eventually(Duration::from_secs(10), "the guard recorded", || async {
        Ok(owed_releases(&db).await? == 1)
    })
    .await?;
    // As a hung disk would: the order's write is begun, and cannot finish.
    let lock = SqliteWriteLock::take(&database)?;
    let started = std::time::Instant::now();

    let answer = tokio::time::timeout(Duration::from_secs(10), placement).await???;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered at the deadline, not when the disk came back: {:?}",
        started.elapsed()
    );
    assert!(answer.headers().contains_key("retry-after"));
    let problem = assert_problem(answer, 503, "service_unavailable", &[]).await?;
    let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
    drop(lock);
    // The writer was stuck in the order's write (begun: it commits once the lock is
    // free, and the client must not have been told otherwise), or in another write
    // with the order's still queued (dropped: never made).
    until_settled(&app, &fake).await?;
    if !app.all_order_ids().await?.is_empty() {
        assert!(
            detail.contains("may or may not"),
            "stored, but told otherwise: {problem}"
        );
    } else {
        assert!(fake.reservations().is_empty(), "no stock held");
    }
    Ok(())
}
