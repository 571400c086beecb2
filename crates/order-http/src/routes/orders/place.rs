//! `POST /v1/orders`: place an order, idempotently when the client sends a key.

use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use order_domain::{
    Address, AddressField, Caller, Charges, Currency, CustomerId, IdempotencyKey,
    IdempotentRequest, LinesError, Money, NewOrder, OrderLines, OrderService, PlaceOrderError,
    Placement, ProductId, Quantity, RequestFingerprint, StoreId, StoredResponse, TotalError,
    UncheckedAddress,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use tracing::Instrument;

use crate::body::{Fields, JsonObject, write_canonical_object};
use crate::caller::CurrentCaller;
use crate::error::{ApiError, FieldError};
use crate::json_schema;
use crate::metrics::Metrics;
use crate::request_context::CurrentRequestId;
use crate::routes::orders::documentation::PlacementProblems;
use crate::routes::orders::requests::PlaceOrderRequest;
use crate::routes::orders::view::{OrderView, etag, json_content_type, location, order_response};
use crate::routes::{NoQuery, dependency_error, repository_error, single_header};

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Place an order: the customer is checked with the customer service, the stock
/// reserved with the inventory service, and the order stored with its first history
/// entry, all or nothing. With an `Idempotency-Key`, retries and races of the same
/// request make one order: a repeat gets the first answer again.
#[utoipa::path(
    post,
    path = "/v1/orders",
    operation_id = "placeOrder",
    tag = "orders",
    request_body = PlaceOrderRequest,
    params(
        ("Idempotency-Key" = Option<json_schema::IdempotencyKey>, Header,
         description = "The same key and body within 24 h replays the first answer; the \
                        same key with another body is 422 idempotency_key_reused. Without \
                        it, nothing is deduplicated."),
    ),
    responses(
        (status = 201, description = "Placed (or, with `Idempotent-Replayed: true`, placed before)", body = OrderView,
         headers(
             ("Location" = String, description = "/v1/orders/{id}"),
             ("ETag" = String, description = "The order's version, quoted: \"1\""),
             ("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier answer"),
         )),
        PlacementProblems,
    )
)]
pub async fn place_order(
    service: web::Data<OrderService>,
    metrics: web::Data<Metrics>,
    _: NoQuery,
    request: HttpRequest,
    request_id: CurrentRequestId,
    CurrentCaller(caller): CurrentCaller,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    // The answer rendered for the idempotency record is the answer sent: rendered once.
    let rendered = Arc::new(OnceLock::new());
    let placed = place(
        &service,
        &request,
        (caller, &request_id),
        &body,
        Arc::clone(&rendered),
    )
    .await;
    metrics.order_placement(match &placed {
        Ok(Placement::Created(_)) => "created",
        Ok(Placement::Replayed(_)) => "replayed",
        Err(error) => error.code(),
    });
    Ok(match placed? {
        Placement::Created(order) => match rendered.get() {
            Some(stored) => answer(stored, false),
            None => created(&order),
        },
        Placement::Replayed(stored) => answer(&stored, true),
    })
}

async fn place(
    service: &web::Data<OrderService>,
    request: &HttpRequest,
    (caller, request_id): (Caller, &CurrentRequestId),
    body: &Map<String, Value>,
    rendered: Arc<OnceLock<StoredResponse>>,
) -> Result<Placement, ApiError> {
    let key = idempotency_key(request)?;
    let new_order = parse_new_order(body).map_err(ApiError::validation)?;
    let idempotency = key.map(|key| IdempotentRequest {
        key,
        fingerprint: fingerprint(body),
    });
    let respond = move |order: &order_domain::Order| {
        let stored = first_response(order);
        let _ = rendered.set(stored.clone());
        stored
    };
    // The placement runs as a task of its own, not as part of this request: actix drops
    // a request's future when its client hangs up, and a placement cut off between
    // reserving the stock and storing the order would hold the stock until its guard
    // came due. Run to its end, it stores the order (a retry with the key replays it)
    // or gives the stock back at once.
    let placement = {
        let (service, new_order, request_id) = (
            service.clone().into_inner(),
            new_order.clone(),
            request_id.0.clone(),
        );
        actix_web::rt::spawn(
            async move {
                service
                    .place_order(&caller, new_order, idempotency, respond, &request_id)
                    .await
            }
            .instrument(tracing::Span::current()),
        )
    };
    match placement.await {
        Ok(placed) => placed.map_err(|error| placement_error(error, &new_order)),
        Err(failed) => Err(ApiError::internal(&failed)),
    }
}

fn idempotency_key(request: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = single_header(request, IDEMPOTENCY_KEY)? else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid_parameter(IDEMPOTENCY_KEY, "must be visible ASCII"))?;
    IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|problem| ApiError::invalid_parameter(IDEMPOTENCY_KEY, problem.to_string()))
}

/// Two bodies that parse to the same JSON value are the same request: the digest is of
/// the body's canonical JSON.
fn fingerprint(body: &Map<String, Value>) -> RequestFingerprint {
    let mut hasher = Sha256::new();
    write_canonical_object(body, &mut hasher);
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    RequestFingerprint::new(hex)
}

/// The first answer to a placement, kept so that a replay is the same answer: its
/// status, `Location` and `ETag` a line each, then its body as it was sent (compact JSON
/// holds no raw line break, and the header values hold none either).
fn first_response(order: &order_domain::Order) -> StoredResponse {
    let mut stored = format!(
        "{}\n{}\n{}\n",
        StatusCode::CREATED.as_u16(),
        location(order),
        etag(order)
    )
    .into_bytes();
    if serde_json::to_writer(&mut stored, &OrderView::from(order)).is_err() {
        stored.clear();
    }
    StoredResponse(stored)
}

/// The answer to a placement that made `order`, when no answer was stored for it (the
/// request had no `Idempotency-Key`).
fn created(order: &order_domain::Order) -> HttpResponse {
    let mut response = order_response(StatusCode::CREATED, order);
    if let Ok(value) = HeaderValue::from_str(&location(order)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The stored first answer: sent as it is the first time, marked as a replay after.
fn answer(stored: &StoredResponse, replayed: bool) -> HttpResponse {
    let mut parts = stored.0.splitn(4, |byte| *byte == b'\n');
    let (Some(status), Some(location), Some(etag), Some(body)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let unreadable = std::io::Error::other("a stored idempotent response is unreadable");
        return ApiError::internal(&unreadable).error_response();
    };
    let status = std::str::from_utf8(status)
        .ok()
        .and_then(|status| status.parse().ok())
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::CREATED);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, json_content_type()));
    for (name, value) in [(header::LOCATION, location), (header::ETAG, etag)] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            response.insert_header((name, value));
        }
    }
    if replayed {
        response.insert_header((
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        ));
    }
    response.body(body.to_vec())
}

fn placement_error(error: PlaceOrderError, order: &NewOrder) -> ApiError {
    let item_index = |product: &ProductId| {
        order
            .lines()
            .items()
            .iter()
            .position(|item| item.product_id() == product)
    };
    match error {
        PlaceOrderError::CustomerNotFound => ApiError::customer_not_found(),
        PlaceOrderError::ShippingAddressRequired => ApiError::validation(vec![FieldError::new(
            "shippingAddress",
            "is required: the customer has no address on file",
        )]),
        PlaceOrderError::UnknownProducts(products) => ApiError::product_not_found(
            products
                .iter()
                .map(|product| match item_index(product) {
                    Some(i) => {
                        FieldError::new(format!("items[{i}].productId"), "is not a known product")
                    }
                    None => FieldError::new("items", format!("product {product} is not known")),
                })
                .collect(),
        ),
        PlaceOrderError::InsufficientStock(shortages) => ApiError::insufficient_stock(
            shortages
                .iter()
                .map(|shortage| {
                    let field = item_index(&shortage.product_id)
                        .map_or_else(|| "items".to_owned(), |i| format!("items[{i}].quantity"));
                    FieldError::new(
                        field,
                        format!(
                            "{} requested, {} available",
                            shortage.requested, shortage.available
                        ),
                    )
                })
                .collect(),
        ),
        PlaceOrderError::DependencyUnavailable(unavailable) => dependency_error(&unavailable),
        PlaceOrderError::IdempotencyKeyReused => ApiError::idempotency_key_reused(),
        PlaceOrderError::IdempotencyRequestInProgress => {
            ApiError::idempotency_request_in_progress()
        }
        PlaceOrderError::Abandoned => ApiError::placement_abandoned(),
        PlaceOrderError::Total(refused) => {
            let problem = match refused {
                TotalError::Overflow => refused.to_string(),
                TotalError::NotAsClaimed { computed } => {
                    format!("must equal the computed {computed} (shipping as quoted)")
                }
            };
            ApiError::validation(vec![FieldError::new("totalAmount", problem)])
        }
        PlaceOrderError::Forbidden => ApiError::forbidden(PLACING_FORBIDDEN),
        PlaceOrderError::Repository(error) => repository_error(error),
    }
}

/// Why a placement is refused to a caller who may not place it.
pub(crate) const PLACING_FORBIDDEN: &str = "Customers place orders for themselves only \
    (customerId must be your own), operators (orders:admin) for anyone; no other scope places \
    orders.";

const ORDER_FIELDS: &[&str] = &[
    "storeId",
    "customerId",
    "items",
    "shippingCost",
    "taxAmount",
    "currency",
    "shippingAddress",
    "itemsTotal",
    "totalAmount",
];
const ITEM_FIELDS: &[&str] = &["productId", "quantity", "unitPrice"];

/// Turns a placement body into a new order, or every problem with it.
fn parse_new_order(body: &Map<String, Value>) -> Result<NewOrder, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(ORDER_FIELDS, &mut errors);
    let store_id = fields
        .string("storeId", &mut errors)
        .and_then(|text| fields.parse("storeId", StoreId::parse(text), &mut errors));
    let customer_id = fields
        .string("customerId", &mut errors)
        .and_then(|text| fields.parse("customerId", CustomerId::parse(text), &mut errors));
    let lines = parse_lines(&fields, &mut errors);
    let money = |name: &str, errors: &mut Vec<FieldError>| {
        fields
            .integer(name, errors)
            .and_then(|amount| fields.parse(name, Money::from_minor_units(amount), errors))
    };
    // Absent, shipping is quoted by the shipping service when the order is placed.
    let shipping_cost = match fields.optional_integer("shippingCost", &mut errors) {
        Ok(None) => Some(None),
        Ok(Some(amount)) => fields
            .parse("shippingCost", Money::from_minor_units(amount), &mut errors)
            .map(Some),
        Err(()) => None,
    };
    let tax_amount = money("taxAmount", &mut errors);
    let currency = match fields.optional_string("currency", &mut errors) {
        Ok(None) => Some(Currency::USD),
        Ok(Some(code)) => fields.parse("currency", Currency::parse(code), &mut errors),
        Err(()) => None,
    };
    let shipping_address = match fields.optional_object("shippingAddress", &mut errors) {
        Ok(None) => Some(None),
        Ok(Some(address)) => parse_address(&address, &mut errors).map(Some),
        Err(()) => None,
    };
    let claimed_items_total = fields.optional_integer("itemsTotal", &mut errors);
    let claimed_total = fields.optional_integer("totalAmount", &mut errors);
    let charges = match (shipping_cost, tax_amount) {
        (Some(shipping_cost), Some(tax_amount)) => Some(Charges {
            shipping_cost,
            tax_amount,
        }),
        _ => None,
    };
    // A claimed total is checked as soon as what it sums is valid, so that a wrong one
    // is named beside every other problem of the body; with shipping to be quoted, it is
    // checked once the quote is in.
    let computed_total = match (&lines, charges) {
        (
            Some(lines),
            Some(Charges {
                shipping_cost: Some(shipping_cost),
                tax_amount,
            }),
        ) => lines
            .total_with(shipping_cost, tax_amount)
            .map_err(|overflow| errors.push(FieldError::new("totalAmount", overflow.to_string())))
            .ok(),
        _ => None,
    };
    let total_to_check = match (charges, claimed_total) {
        (Some(charges), Ok(Some(claimed))) if charges.shipping_cost.is_none() => fields
            .parse("totalAmount", Money::from_minor_units(claimed), &mut errors)
            .map(Some),
        _ => Some(None),
    };
    for (name, claimed, computed) in [
        (
            "itemsTotal",
            claimed_items_total,
            lines.as_ref().map(OrderLines::items_total),
        ),
        ("totalAmount", claimed_total, computed_total),
    ] {
        if let (Ok(Some(claimed)), Some(computed)) = (claimed, computed)
            && claimed != computed.minor_units()
        {
            errors.push(FieldError::new(
                name,
                format!("must equal the computed {computed}"),
            ));
        }
    }

    let (
        Some(store_id),
        Some(customer_id),
        Some(lines),
        Some(charges),
        Some(currency),
        Some(shipping_address),
        Some(total_to_check),
    ) = (
        store_id,
        customer_id,
        lines,
        charges,
        currency,
        shipping_address,
        total_to_check,
    )
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let new_order = NewOrder::new(
        store_id,
        customer_id,
        currency,
        lines,
        charges,
        shipping_address,
    )
    .map_err(|overflow| vec![FieldError::new("totalAmount", overflow.to_string())])?;
    Ok(match total_to_check {
        Some(claimed) => new_order.claiming_total(claimed),
        None => new_order,
    })
}

fn parse_lines(fields: &Fields<'_>, errors: &mut Vec<FieldError>) -> Option<OrderLines> {
    let items = fields.array("items", errors)?;
    if items.is_empty() || items.len() > OrderLines::MAX_ITEMS {
        let problem = if items.is_empty() {
            LinesError::Empty
        } else {
            LinesError::TooMany
        };
        errors.push(FieldError::new("items", problem.to_string()));
        return None;
    }
    let mut lines = Vec::with_capacity(items.len());
    for (index, value) in items.iter().enumerate() {
        let Some(item) = fields.element("items", index, value, errors) else {
            continue;
        };
        item.refuse_unknown(ITEM_FIELDS, errors);
        let product_id = item
            .string("productId", errors)
            .and_then(|text| item.parse("productId", ProductId::parse(text), errors));
        let quantity = item
            .integer("quantity", errors)
            .and_then(|n| item.parse("quantity", Quantity::new(n), errors));
        let unit_price = item
            .integer("unitPrice", errors)
            .and_then(|amount| item.parse("unitPrice", Money::from_minor_units(amount), errors));
        if let (Some(product_id), Some(quantity), Some(unit_price)) =
            (product_id, quantity, unit_price)
        {
            lines.push((product_id, quantity, unit_price));
        }
    }
    if lines.len() < items.len() {
        return None;
    }
    OrderLines::new(lines)
        .map_err(|problems| {
            for problem in problems {
                let field = match problem {
                    LinesError::DuplicateProduct { index } => format!("items[{index}].productId"),
                    LinesError::LineTotalOverflow { index } => format!("items[{index}].unitPrice"),
                    LinesError::ItemsTotalOverflow => "itemsTotal".to_owned(),
                    LinesError::Empty | LinesError::TooMany => "items".to_owned(),
                };
                errors.push(FieldError::new(field, problem.to_string()));
            }
        })
        .ok()
}

const ADDRESS_FIELDS: &[&str] = &["line1", "line2", "city", "region", "postalCode", "country"];

/// Reads an address object; shared by every body that carries one.
pub fn parse_address(fields: &Fields<'_>, errors: &mut Vec<FieldError>) -> Option<Address> {
    fields.refuse_unknown(ADDRESS_FIELDS, errors);
    let before = errors.len();
    let required = |name: &str, errors: &mut Vec<FieldError>| {
        fields.string(name, errors).unwrap_or_default().to_owned()
    };
    let optional = |name: &str, errors: &mut Vec<FieldError>| {
        fields
            .optional_string(name, errors)
            .ok()
            .flatten()
            .map(str::to_owned)
    };
    let input = UncheckedAddress {
        line1: required("line1", errors),
        line2: optional("line2", errors),
        city: required("city", errors),
        region: optional("region", errors),
        postal_code: required("postalCode", errors),
        country: required("country", errors),
    };
    // Fields of the wrong shape are already named; the others are still checked, so
    // that one answer names every problem of the address.
    let misshapen: Vec<String> = errors[before..]
        .iter()
        .map(|error| error.field.clone())
        .collect();
    let address = Address::parse(input)
        .map_err(|problems| {
            for problem in problems {
                let name = match problem.field {
                    AddressField::Line1 => "line1",
                    AddressField::Line2 => "line2",
                    AddressField::City => "city",
                    AddressField::Region => "region",
                    AddressField::PostalCode => "postalCode",
                    AddressField::Country => "country",
                };
                let path = fields.path(name);
                if !misshapen.contains(&path) {
                    errors.push(FieldError::new(path, problem.problem.to_string()));
                }
            }
        })
        .ok();
    address.filter(|_| misshapen.is_empty())
}
