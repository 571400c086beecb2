//! A stateful fake of the customer and inventory services, shared by the tests that run
//! the service's binary: unlike a wiremock stub it keeps reservations, takes its time
//! like a real service, and, like one, makes a reservation it has begun even when the
//! caller has stopped waiting for the answer.

#![allow(dead_code, reason = "each test binary uses the part it needs")]

pub mod nats;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// What the fake holds.
#[derive(Debug, Default)]
struct State {
    /// Reservation id → its items.
    reservations: HashMap<String, Value>,
    /// How many reservations were asked for, repeats included, made or not yet.
    reservation_requests: usize,
}

/// How the fake behaves.
#[derive(Debug, Clone)]
struct Behaviour {
    /// How long a reservation takes to be made, drawn at random from this range for
    /// each request.
    latency: Range<Duration>,
}

/// The fake services, listening on a port of their own until dropped.
pub struct FakeUpstream {
    /// `http://127.0.0.1:<port>`, the base URL of both services.
    pub url: String,
    state: Arc<Mutex<State>>,
    server: ServerHandle,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Stops in the background; nothing waits for it.
        drop(self.server.stop(false));
    }
}

impl FakeUpstream {
    /// Starts the fake; each reservation takes a time drawn from `latency`. Every
    /// customer id is known, with an address in Springfield.
    pub fn start(latency: Range<Duration>) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let behaviour = Behaviour { latency };
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let app_state = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::Data::new(behaviour.clone()))
                .route("/customers/{id}", web::get().to(customer))
                .route("/reservations", web::post().to(reserve))
                .route("/reservations/{id}", web::delete().to(release))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url,
            state,
            server: handle,
        })
    }

    /// How many reservations were asked for so far, repeats included, counted as each
    /// request arrives (before the fake takes its time to make it).
    pub fn reservation_requests(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reservation_requests
    }

    /// The ids of the reservations held now.
    pub fn reservations(&self) -> HashSet<String> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reservations
            .keys()
            .cloned()
            .collect()
    }
}

async fn customer(id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": id.into_inner(), "name": "Ada", "email": "ada@example.com",
        "shippingAddress": {"line1": "1 Main St", "city": "Springfield",
                            "postalCode": "62701", "country": "US"}
    }))
}

/// A random wait in `range`: uniform enough for spreading requests out.
fn draw(range: &Range<Duration>) -> Duration {
    let span = range.end.saturating_sub(range.start).as_micros().max(1);
    let random = uuid::Uuid::new_v4().as_u128() % span;
    range.start + Duration::from_micros(u64::try_from(random).unwrap_or(0))
}

async fn reserve(
    state: web::Data<Mutex<State>>,
    behaviour: web::Data<Behaviour>,
    body: web::Json<Value>,
) -> HttpResponse {
    let Some(id) = body["reservationId"].as_str().map(str::to_owned) else {
        return HttpResponse::BadRequest().finish();
    };
    let items = body["items"].clone();
    state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .reservation_requests += 1;
    let wait = draw(&behaviour.latency);
    // Made in a task of its own: actix drops a handler whose client has gone, and a
    // real service finishes the reservation it began whether or not anyone waits.
    let made = actix_web::rt::spawn(async move {
        tokio::time::sleep(wait).await;
        state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reservations
            .insert(id.clone(), items);
        id
    });
    match made.await {
        Ok(id) => HttpResponse::Created().json(json!({"reservationId": id})),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn release(state: web::Data<Mutex<State>>, id: web::Path<String>) -> HttpResponse {
    let removed = state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .reservations
        .remove(id.as_str());
    match removed {
        Some(_) => HttpResponse::NoContent().finish(),
        None => HttpResponse::NotFound().finish(),
    }
}
