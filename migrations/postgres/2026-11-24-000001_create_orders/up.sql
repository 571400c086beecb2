-- Orders, their lines and their history. Money is an integer count of minor units;
-- times are UTC; ids are text (UUIDs for orders).
CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    items_total BIGINT NOT NULL,
    shipping_cost BIGINT NOT NULL,
    tax_amount BIGINT NOT NULL,
    total_amount BIGINT NOT NULL,
    ship_line1 TEXT NOT NULL,
    ship_line2 TEXT,
    ship_city TEXT NOT NULL,
    ship_region TEXT,
    ship_postal_code TEXT NOT NULL,
    ship_country TEXT NOT NULL,
    payment_method TEXT,
    payment_reference TEXT,
    payment_confirmed_at TIMESTAMP,
    payment_confirmation_reference TEXT,
    shipment_carrier TEXT,
    shipment_tracking_number TEXT,
    shipped_at TIMESTAMP,
    delivered_at TIMESTAMP,
    cancel_reason TEXT,
    canceled_at TIMESTAMP,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);

-- Listings page newest first, by (created_at, id), over live orders only.
CREATE INDEX orders_listing ON orders (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX orders_by_store ON orders (store_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- One row per change; the version it produced is unique per order, so two writers
-- that both think they made version N cannot both commit.
CREATE TABLE order_history (
    order_id TEXT NOT NULL REFERENCES orders (id),
    version BIGINT NOT NULL,
    event TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (order_id, version)
);

-- The primary key decides which of several concurrent requests processes a key.
-- completed_at NULL: in progress since claimed_at.
CREATE TABLE idempotency_keys (
    idempotency_key TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    order_id TEXT,
    response_body BYTEA,
    claimed_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);

-- The demo inventory (used when no inventory service is configured): stock levels and
-- the reservations holding part of it, kept across restarts.
CREATE TABLE demo_stock (
    product_id TEXT PRIMARY KEY NOT NULL,
    available BIGINT NOT NULL
);

CREATE TABLE demo_reservations (
    reservation_id TEXT NOT NULL,
    product_id TEXT NOT NULL REFERENCES demo_stock (product_id),
    quantity BIGINT NOT NULL,
    PRIMARY KEY (reservation_id, product_id)
);
