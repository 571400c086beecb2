//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' `ToSchema` derives, and served at `/openapi.json`;
//! the browsable page at `/docs` reads it, and `GET /` points to both. The document
//! depends on the routes it
//! describes, never the other way round: the schemas of the domain's values live in
//! `json_schema`, and `startup` mounts the document beside the routes.

mod security;

use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::{HeaderBuilder, OpenApi as Document, PathItem, RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{FieldError, Problem};
use crate::json_schema;
use crate::routes::events;
use crate::routes::operations::{self, DatabaseHealth, Liveness, Readiness, UpstreamHealth};
use crate::routes::orders::{self, documentation, requests, view};
use crate::routes::{RouteLabel, method_not_allowed, resource};
use security::Authentication;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Order service",
        description = "Places, keeps and answers for a marketplace's orders. Binding contract: \
                       order-api-v1. Errors are application/problem+json with a stable `code`. \
                       Every response carries X-Request-Id.",
    ),
    paths(
        orders::place::place_order,
        orders::list::list_orders,
        orders::read::get_order,
        orders::read::get_order_history,
        orders::change::update_payment,
        orders::change::update_shipping,
        orders::change::set_tracking,
        orders::change::confirm_payment,
        orders::change::confirm_delivery,
        orders::change::cancel_order,
        orders::change::delete_order,
        events::list_events,
        operations::get_liveness,
        operations::get_readiness,
        operations::get_metrics,
        get_index,
    ),
    components(schemas(
        view::OrderView,
        view::ItemView,
        view::AddressView,
        view::PaymentView,
        view::ShipmentView,
        view::CancellationView,
        view::RefundView,
        view::HistoryEntryView,
        view::ActorView,
        events::EventFeed,
        events::FeedItem,
        crate::events::CloudEvent,
        crate::events::EventData,
        orders::list::OrderList,
        orders::read::History,
        requests::PlaceOrderRequest,
        requests::ItemRequest,
        requests::AddressRequest,
        requests::UpdatePaymentRequest,
        requests::UpdateShippingRequest,
        requests::SetTrackingRequest,
        requests::ConfirmPaymentRequest,
        requests::ConfirmDeliveryRequest,
        requests::CancelRequest,
        Problem,
        FieldError,
        json_schema::OrderStatus,
        json_schema::PageSize,
        json_schema::IdempotencyKey,
        Liveness,
        Readiness,
        DatabaseHealth,
        UpstreamHealth,
        Index,
    )),
    tags(
        (name = "orders", description = "Placing, reading and changing orders"),
        (name = "events", description = "What happened to every order, in commit order"),
        (name = "operations", description = "Probes and metrics for operators"),
        (name = "documentation", description = "Where this API's documentation is"),
    ),
    modifiers(&Authentication, &EveryResponse),
)]
struct ApiDoc;

/// The document as JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
});

/// Where the document is served.
const DOCUMENT_PATH: &str = "/openapi.json";
/// Where the browsable page is.
const PAGE_PATH: &str = "/docs/";

/// Mounts `/`, `/openapi.json` and the browsable page, `/docs/`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/")
                .route(web::get().to(get_index))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            resource(DOCUMENT_PATH)
                .route(web::get().to(serve_document))
                .default_service(method_not_allowed("GET")),
        )
        .service(web::redirect("/docs", PAGE_PATH))
        .service(
            web::scope("/docs")
                .app_data(RouteLabel(DOCS_PAGE_ROUTE))
                .service(browsable_page()),
        );
}

/// The route of the page and its assets in logs and metrics: one label for them all,
/// not the pattern that routes them (`/{_:.*}`).
const DOCS_PAGE_ROUTE: &str = "/docs/{file}";

/// What `GET /` answers: where this API's documentation is.
#[derive(Serialize, ToSchema)]
#[schema(as = ServiceIndex)]
struct Index {
    /// The browsable API page.
    #[schema(example = "/docs/")]
    docs: &'static str,
    /// The OpenAPI document.
    #[schema(example = "/openapi.json")]
    openapi: &'static str,
}

/// Where this API's documentation is: for a person who opens the service's address, the
/// browsable page; for a tool, the OpenAPI document.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "getIndex",
    tag = "documentation",
    responses((status = 200, description = "Where the documentation is", body = Index))
)]
async fn get_index() -> HttpResponse {
    HttpResponse::Ok().json(Index {
        docs: PAGE_PATH,
        openapi: DOCUMENT_PATH,
    })
}

/// `GET /openapi.json`: the OpenAPI document of this API.
async fn serve_document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

/// `/docs/`: the browsable API page (Swagger UI), its assets served by the service
/// itself, reading `/openapi.json`. Mounted under `/docs`.
fn browsable_page() -> SwaggerUi {
    SwaggerUi::new("/{_:.*}").config(Config::new([DOCUMENT_PATH]))
}

/// What every operation shares: the `X-Request-Id` header both ways, and a 500 that
/// never says more than that the service failed.
struct EveryResponse;

impl Modify for EveryResponse {
    fn modify(&self, openapi: &mut Document) {
        let request_id = || {
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some("The request's id: the client's, or a generated one"))
                .build()
        };
        let mut internal_error = documentation::internal_error();
        internal_error
            .headers
            .insert("X-Request-Id".to_owned(), RefOr::T(request_id()));
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(RefOr::T(request_id_parameter()));
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .insert("X-Request-Id".to_owned(), RefOr::T(request_id()));
                    }
                }
                operation
                    .responses
                    .responses
                    .insert("500".to_owned(), RefOr::T(internal_error.clone()));
            }
        }
    }
}

/// The operations of a path: those of the methods the API uses.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

fn request_id_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("X-Request-Id")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Your id for the request, 1–128 characters from [A-Za-z0-9._:-]; echoed back and \
             passed on to upstream services. Another value is replaced by a generated id.",
        ))
        .schema(Some(string()))
        .build()
}

fn string() -> Object {
    ObjectBuilder::new().schema_type(Type::String).build()
}
