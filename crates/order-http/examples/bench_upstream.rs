//! The benchmark's stand-in for the customer and inventory services: answers at once,
//! from memory, so that a run measures the order service and its database rather than
//! the demo directory's tables (on PostgreSQL every demo placement takes stock from the
//! same rows, and queues on their locks).
//!
//! `cargo run --release --example bench_upstream -- 127.0.0.1:0` prints the address it
//! listens on, one line, then serves until killed. Every customer id is known, with an
//! address on file; every reservation is granted; releases always succeed.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&address)?;
    println!("{}", listener.local_addr()?);
    HttpServer::new(|| {
        App::new()
            .route("/customers/{id}", web::get().to(customer))
            .route("/reservations", web::post().to(reserve))
            .route("/reservations/{id}", web::delete().to(release))
    })
    .workers(1)
    .listen(listener)?
    .run()
    .await?;
    Ok(())
}

async fn customer(id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": id.into_inner(), "name": "Ada", "email": "ada@example.com",
        "shippingAddress": {"line1": "1 Main St", "city": "Springfield",
                            "postalCode": "62701", "country": "US"}
    }))
}

async fn reserve(body: web::Json<Value>) -> HttpResponse {
    match body["reservationId"].as_str() {
        Some(id) => HttpResponse::Created().json(json!({"reservationId": id})),
        None => HttpResponse::BadRequest().finish(),
    }
}

async fn release() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
