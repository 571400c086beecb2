//! Clients that hang up mid-placement: whatever the point they are cut off at, once the
//! service has settled every reservation the inventory holds belongs to a stored order,
//! and every stored order holds its reservation.

use std::time::Duration;

use order_adapters::testing::owed_releases;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fakes::FakeUpstream;
use crate::helpers::{AppOptions, Backend, TestResult, eventually, spawn_app_with};

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

    let db = app.open_database()?;
    eventually(Duration::from_secs(30), "settled", || async {
        let settled = owed_releases(&db).await? == 0;
        Ok(settled && fake.reservations() == app.all_order_ids().await?)
    })
    .await?;
    assert!(
        !fake.reservations().is_empty(),
        "some placements were stored"
    );
    Ok(())
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
