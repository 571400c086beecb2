//! The tables, as Diesel sees them. Written to match `migrations/sqlite`; after changing
//! a migration, regenerate with `diesel print-schema --database-url sqlite://orders.db`
//! (diesel_cli) and compare.

diesel::table! {
    orders (id) {
        id -> Text,
        store_id -> Text,
        customer_id -> Text,
        status -> Text,
        currency -> Text,
        items_total -> BigInt,
        shipping_cost -> BigInt,
        tax_amount -> BigInt,
        total_amount -> BigInt,
        ship_line1 -> Text,
        ship_line2 -> Nullable<Text>,
        ship_city -> Text,
        ship_region -> Nullable<Text>,
        ship_postal_code -> Text,
        ship_country -> Text,
        payment_method -> Nullable<Text>,
        payment_reference -> Nullable<Text>,
        payment_confirmed_at -> Nullable<Timestamp>,
        payment_confirmation_reference -> Nullable<Text>,
        shipment_carrier -> Nullable<Text>,
        shipment_tracking_number -> Nullable<Text>,
        shipped_at -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        canceled_at -> Nullable<Timestamp>,
        refund_status -> Nullable<Text>,
        refund_completed_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    order_items (order_id, line_no) {
        order_id -> Text,
        line_no -> Integer,
        product_id -> Text,
        quantity -> Integer,
        unit_price -> BigInt,
    }
}

diesel::table! {
    order_history (order_id, version) {
        order_id -> Text,
        version -> BigInt,
        event -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        at -> Timestamp,
        data -> Text,
        actor_sub -> Nullable<Text>,
        actor_scope -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (caller, idempotency_key) {
        caller -> Text,
        idempotency_key -> Text,
        fingerprint -> Text,
        order_id -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        claimed_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    demo_stock (product_id) {
        product_id -> Text,
        available -> BigInt,
    }
}

diesel::table! {
    demo_reservations (reservation_id, product_id) {
        reservation_id -> Text,
        product_id -> Text,
        quantity -> BigInt,
    }
}

diesel::table! {
    effects (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        request_id -> Text,
        attempts -> BigInt,
        taken -> BigInt,
        due_at -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    order_events (id) {
        seq -> BigInt,
        position -> Nullable<BigInt>,
        id -> Text,
        order_id -> Text,
        version -> BigInt,
        name -> Text,
        at -> Timestamp,
        body -> Binary,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    event_feed (id) {
        id -> Integer,
        expired_through -> BigInt,
    }
}

diesel::table! {
    event_consumers (name) {
        name -> Text,
        position -> BigInt,
        holder -> Text,
        lease_until -> Timestamp,
    }
}

diesel::joinable!(order_items -> orders (order_id));
diesel::joinable!(order_history -> orders (order_id));
diesel::joinable!(demo_reservations -> demo_stock (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    orders,
    order_items,
    order_history,
    idempotency_keys,
    demo_stock,
    demo_reservations,
    effects,
    order_events,
    event_feed,
    event_consumers,
);
