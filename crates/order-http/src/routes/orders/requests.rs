//! The request bodies, as the OpenAPI document describes them.
//!
//! The handlers read bodies field by field (`crate::body`) so that one answer names
//! every problem; these types give the same shapes to the document. Each field's schema
//! is the schema of the domain value that parses it (`json_schema`), so the limits the
//! document states are those the parsers check. Each type has an example built from the
//! type itself; the integration tests send every example to the API and expect it
//! accepted, and send values at and beyond every stated limit and expect the service to
//! agree with the schema, so the document and the parsers cannot drift apart.

use order_domain::OrderLines;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::Ref;
use utoipa::openapi::schema::ArrayBuilder;

use crate::json_schema::{self, value_schema};

/// A postal address.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = AddressInput)]
pub struct AddressRequest {
    #[schema(value_type = json_schema::AddressLine)]
    line1: String,
    /// Optional; empty counts as absent.
    #[schema(value_type = Option<json_schema::AddressLineOrEmpty>)]
    line2: Option<String>,
    #[schema(value_type = json_schema::City)]
    city: String,
    /// Optional; empty counts as absent.
    #[schema(value_type = Option<json_schema::RegionOrEmpty>)]
    region: Option<String>,
    #[schema(value_type = json_schema::PostalCode)]
    postal_code: String,
    #[schema(value_type = json_schema::CountryCode)]
    country: String,
}

impl AddressRequest {
    fn example() -> Self {
        Self {
            line1: "1234 Elm St".into(),
            line2: Some("Suite 100".into()),
            city: "Springfield".into(),
            region: Some("IL".into()),
            postal_code: "62701".into(),
            country: "US".into(),
        }
    }
}

/// One line of a new order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OrderItemInput)]
pub struct ItemRequest {
    #[schema(value_type = json_schema::ProductId)]
    product_id: String,
    #[schema(value_type = json_schema::Quantity)]
    quantity: u32,
    /// The price of one unit. `quantity × unitPrice` must not exceed 2⁵³ − 1.
    #[schema(value_type = json_schema::Money)]
    unit_price: i64,
}

value_schema! {
    /// An order's lines: each product once.
    OrderItems = ArrayBuilder::new()
        .items(Ref::from_schema_name(ItemRequest::name()))
        .min_items(Some(1))
        .max_items(Some(OrderLines::MAX_ITEMS));
}

/// `POST /v1/orders`. Totals are computed by the server; `itemsTotal` and
/// `totalAmount`, when given, must equal them (and may not exceed 2⁵³ − 1). Any other
/// field is refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PlaceOrder, example = PlaceOrderRequest::example)]
pub struct PlaceOrderRequest {
    #[schema(value_type = json_schema::StoreId)]
    store_id: String,
    #[schema(value_type = json_schema::CustomerId)]
    customer_id: String,
    #[schema(value_type = OrderItems)]
    items: Vec<ItemRequest>,
    /// When absent, quoted by the shipping service when the order is placed.
    #[schema(value_type = Option<json_schema::Money>)]
    shipping_cost: Option<i64>,
    #[schema(value_type = json_schema::Money)]
    tax_amount: i64,
    /// `USD` when absent.
    #[schema(value_type = Option<json_schema::Currency>)]
    currency: Option<String>,
    /// When absent, the customer's address on file is used.
    shipping_address: Option<AddressRequest>,
    /// Σ `quantity × unitPrice`, when the client states it.
    #[schema(value_type = Option<json_schema::Money>)]
    items_total: Option<i64>,
    /// `itemsTotal + shippingCost + taxAmount`, when the client states it.
    #[schema(value_type = Option<json_schema::Money>)]
    total_amount: Option<i64>,
}

impl PlaceOrderRequest {
    /// The spec's order: 1 × 1000 + 2 × 1000, shipping 500, tax 300.
    pub fn example() -> Self {
        let item = |product_id: &str, quantity| ItemRequest {
            product_id: product_id.into(),
            quantity,
            unit_price: 1000,
        };
        Self {
            store_id: "store-1".into(),
            customer_id: "cust-1".into(),
            items: vec![item("prod-1", 1), item("prod-2", 2)],
            shipping_cost: Some(500),
            tax_amount: 300,
            currency: Some("USD".into()),
            shipping_address: Some(AddressRequest::example()),
            items_total: Some(3000),
            total_amount: Some(3800),
        }
    }
}

/// `PUT /v1/orders/{id}/payment`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UpdatePayment, example = UpdatePaymentRequest::example)]
pub struct UpdatePaymentRequest {
    #[schema(value_type = json_schema::PaymentMethod)]
    method: String,
    /// The payment provider's token for the means of payment.
    #[schema(value_type = json_schema::PaymentReference)]
    reference: String,
}

impl UpdatePaymentRequest {
    /// Paying by card, through the provider's token.
    pub fn example() -> Self {
        Self {
            method: "card".into(),
            reference: "tok_1Nv0aB2eZvKYlo2C".into(),
        }
    }
}

/// `PUT /v1/orders/{id}/shipping`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UpdateShipping, example = UpdateShippingRequest::example)]
pub struct UpdateShippingRequest {
    shipping_address: AddressRequest,
}

impl UpdateShippingRequest {
    /// Shipping to the example address.
    pub fn example() -> Self {
        Self {
            shipping_address: AddressRequest::example(),
        }
    }
}

/// `PUT /v1/orders/{id}/shipment/tracking`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SetTracking, example = SetTrackingRequest::example)]
pub struct SetTrackingRequest {
    #[schema(value_type = json_schema::Carrier)]
    carrier: String,
    #[schema(value_type = json_schema::TrackingNumber)]
    tracking_number: String,
}

impl SetTrackingRequest {
    /// A UPS parcel.
    pub fn example() -> Self {
        Self {
            carrier: "UPS".into(),
            tracking_number: "1Z999AA10123456784".into(),
        }
    }
}

/// `POST /v1/orders/{id}/confirm-payment`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ConfirmPayment, example = ConfirmPaymentRequest::example)]
pub struct ConfirmPaymentRequest {
    /// The provider's reference of the payment.
    #[schema(value_type = json_schema::PaymentReference)]
    payment_reference: String,
    /// Must equal the order's `totalAmount` (else 422 `amount_mismatch`).
    #[schema(value_type = json_schema::Money)]
    amount: i64,
}

impl ConfirmPaymentRequest {
    /// The payment of the example order's 3800.
    pub fn example() -> Self {
        Self {
            payment_reference: "pay_3Mtw2bLkdIwHu7ix".into(),
            amount: 3800,
        }
    }
}

/// `POST /v1/orders/{id}/confirm-delivery`: `{}` for now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ConfirmDelivery, example = ConfirmDeliveryRequest::example)]
pub struct ConfirmDeliveryRequest {
    /// When it was delivered: not in the future, not before `shippedAt`. Now when
    /// absent.
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

impl ConfirmDeliveryRequest {
    /// Delivered now.
    pub fn example() -> Self {
        Self { delivered_at: None }
    }
}

/// `POST /v1/orders/{id}/cancel`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Cancel, example = CancelRequest::example)]
pub struct CancelRequest {
    #[schema(value_type = json_schema::CancellationReason)]
    reason: String,
}

impl CancelRequest {
    /// A customer who changed their mind.
    pub fn example() -> Self {
        Self {
            reason: "The customer changed their mind".into(),
        }
    }
}
