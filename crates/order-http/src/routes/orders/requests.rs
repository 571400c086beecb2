//! The request bodies, as the OpenAPI document describes them.
//!
//! The handlers read bodies field by field (`crate::body`) so that one answer names
//! every problem; these types give the same shapes to the document. Each has an
//! example built from the type itself, and the integration tests send every example to
//! the API and expect it accepted, so the document and the parsers cannot drift apart.

use serde::Serialize;
use utoipa::ToSchema;

use crate::json_schema;

/// A postal address.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = AddressInput)]
pub struct AddressRequest {
    #[schema(min_length = 1, max_length = 200)]
    line1: String,
    /// Optional; empty counts as absent.
    #[schema(max_length = 200)]
    line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    city: String,
    /// Optional; empty counts as absent.
    #[schema(max_length = 100)]
    region: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(pattern = "^[A-Z]{2}$")]
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
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]+$")]
    product_id: String,
    #[schema(minimum = 1, maximum = 1000)]
    quantity: u32,
    /// The price of one unit, in minor units.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    unit_price: i64,
}

/// `POST /v1/orders`. Totals are computed by the server; `itemsTotal` and
/// `totalAmount`, when given, must equal them. Any other field is refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PlaceOrder, example = PlaceOrderRequest::example)]
pub struct PlaceOrderRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]+$")]
    store_id: String,
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]+$")]
    customer_id: String,
    /// 1 to 100 lines, each product once.
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<ItemRequest>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    shipping_cost: i64,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    tax_amount: i64,
    /// ISO 4217; `USD` when absent.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    /// When absent, the customer's address on file is used.
    shipping_address: Option<AddressRequest>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    items_total: Option<i64>,
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
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
            shipping_cost: 500,
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
    #[schema(schema_with = json_schema::payment_method)]
    method: String,
    /// The payment provider's token, never a card number: 12 or more digits in a row
    /// are refused.
    #[schema(min_length = 1, max_length = 128)]
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
    #[schema(min_length = 1, max_length = 64)]
    carrier: String,
    #[schema(min_length = 1, max_length = 64)]
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
    /// The provider's reference of the payment; never a card number.
    #[schema(min_length = 1, max_length = 128)]
    payment_reference: String,
    /// Must equal the order's `totalAmount` (else 422 `amount_mismatch`).
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
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
    #[schema(min_length = 1, max_length = 500)]
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
