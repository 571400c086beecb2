//! The service takes what its OpenAPI document says it takes, and refuses what the
//! document says it refuses. For every operation with a body, the body's example from
//! the served `/openapi.json` is changed in one place at a time: each field removed, set
//! to null, set to values at and beyond each limit its schema states, to each value of
//! its list and one more, to text from a list of awkward characters; arrays at and
//! beyond their sizes; an unknown field added. A JSON Schema validator judges each body
//! by the document alone; the running service must agree: a body the schema accepts is
//! not refused as `validation_failed`, a body it refuses is a 422 naming the field. The
//! query parameters of the listing and the `Idempotency-Key` and `If-Match` headers are
//! checked the same way.
//!
//! A few rules JSON Schema cannot state are stated in prose in the document, and checked
//! here as prose: each product once, claimed totals equal to the computed ones, sums
//! within 2⁵³ − 1, and integers written without a fraction (`2.0` is refused, though
//! JSON Schema cannot tell it from `2`).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestResult, address_json, order_body, spawn_app};

/// Text that finds the edges of a pattern: blank, invisible, control characters, the
/// characters ids may not hold, codes of the wrong length or case, card-like numbers,
/// characters beyond the Basic Multilingual Plane.
const AWKWARD_TEXT: &[&str] = &[
    " ",
    "\u{a0}",
    "\u{2003}\u{3000}",
    "\u{feff}",
    "a\u{7}b",
    "a\tb",
    "line\n",
    "a\u{85}b",
    "a/b",
    "a b",
    "é",
    "😀",
    ".",
    "..",
    "a.b",
    "-",
    "_:-.",
    "US",
    "us",
    "USA",
    "USD",
    "usd",
    "tok 4242 4242 4242 4242",
    "tok-4242-4242-4242",
    "12345678901",
    "1234 5678 9012",
];

/// Times, valid and not, for a `date-time` field.
const TIMES: &[&str] = &[
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.123456+02:00",
    "2026-01-01t00:00:00z",
    "2026-01-01",
    "yesterday",
];

/// A place in a body: `items[0].quantity` as the service names it.
#[derive(Debug, Clone, Default)]
struct Place(Vec<Step>);

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

impl Place {
    fn key(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        Self(steps)
    }

    fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        Self(steps)
    }

    fn field(&self) -> String {
        let mut field = String::new();
        for step in &self.0 {
            match step {
                Step::Key(key) if field.is_empty() => field.push_str(key),
                Step::Key(key) => {
                    field.push('.');
                    field.push_str(key);
                }
                Step::Index(index) => field.push_str(&format!("[{index}]")),
            }
        }
        field
    }

    /// `body` with the value here replaced (`Some`) or removed (`None`); `None` when
    /// there is no such place.
    fn changed(&self, body: &Value, to: Option<&Value>) -> Option<Value> {
        let mut body = body.clone();
        let (last, parents) = self.0.split_last()?;
        let mut parent = &mut body;
        for step in parents {
            parent = match step {
                Step::Key(key) => parent.get_mut(key)?,
                Step::Index(index) => parent.get_mut(*index)?,
            };
        }
        match (last, to) {
            (Step::Key(key), Some(value)) => {
                parent.as_object_mut()?.insert(key.clone(), value.clone());
            }
            (Step::Key(key), None) => {
                parent.as_object_mut()?.remove(key);
            }
            (Step::Index(index), Some(value)) => *parent.get_mut(*index)? = value.clone(),
            (Step::Index(_), None) => return None,
        }
        Some(body)
    }
}

/// One change of a body: at a place, a value (or removal).
struct Change {
    place: Place,
    to: Option<Value>,
}

/// The type a schema names, `null` aside.
fn type_of(schema: &Value) -> Option<&str> {
    match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        other => other.as_str(),
    }
}

/// The served document, with what the test needs to read it.
struct Document(Value);

impl Document {
    /// The schema at `schema`, with its `$ref` followed.
    fn resolved<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => self
                .0
                .pointer(reference.trim_start_matches('#'))
                .map_or(schema, |target| self.resolved(target)),
            None => schema,
        }
    }

    /// A validator of the schema at JSON pointer `pointer`, its `$ref`s resolved in the
    /// document.
    fn validator(&self, pointer: &str) -> anyhow::Result<jsonschema::Validator> {
        // Filed among the components, since a `$ref` to a path's parameter would have to
        // escape the path's braces.
        let mut root = self.0.clone();
        root["components"]["schemas"]["UnderTest"] =
            self.0.pointer(pointer).cloned().unwrap_or_default();
        root["$ref"] = json!("#/components/schemas/UnderTest");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|error| anyhow::anyhow!("{pointer}: {error}"))
    }

    /// Every change of `value` (at `place`, under `schema`) the test tries.
    fn changes(&self, schema: &Value, value: &Value, place: &Place, out: &mut Vec<Change>) {
        let schema = self.resolved(schema);
        if let Some(branches) = schema["oneOf"].as_array() {
            for branch in branches.iter().filter(|b| b["type"] != "null") {
                self.changes(branch, value, place, out);
            }
            return;
        }
        let set = |out: &mut Vec<Change>, to: Value| {
            out.push(Change {
                place: place.clone(),
                to: Some(to),
            })
        };
        match type_of(schema) {
            Some("object") => {
                let properties = schema["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (name, property) in &properties {
                    let here = place.key(name);
                    out.push(Change {
                        place: here.clone(),
                        to: None,
                    });
                    out.push(Change {
                        place: here.clone(),
                        to: Some(Value::Null),
                    });
                    match value.get(name).filter(|v| !v.is_null()) {
                        Some(present) => self.changes(property, present, &here, out),
                        None => self.changes(property, &self.sample(property), &here, out),
                    }
                }
                out.push(Change {
                    place: place.key("unexpectedField"),
                    to: Some(json!(1)),
                });
                if !place.0.is_empty() {
                    set(out, json!("not an object"));
                }
            }
            Some("array") => {
                let first = value.get(0).cloned().unwrap_or_default();
                let sizes = [
                    schema["minItems"]
                        .as_u64()
                        .map(|min| [min.saturating_sub(1), min]),
                    schema["maxItems"].as_u64().map(|max| [max, max + 1]),
                ];
                for size in sizes.into_iter().flatten().flatten() {
                    set(out, self.distinct_copies(&schema["items"], &first, size));
                }
                set(out, json!({}));
                self.changes(&schema["items"], &first, &place.index(0), out);
            }
            Some("string") => {
                for text in self.texts(schema) {
                    set(out, text);
                }
                set(out, json!(7));
            }
            Some("integer") => {
                let bounds = [&schema["minimum"], &schema["maximum"]];
                for bound in bounds.into_iter().filter_map(Value::as_i64) {
                    for near in [bound - 1, bound, bound + 1] {
                        set(out, json!(near));
                    }
                }
                for other in [json!(0), json!(2.0), json!(1.5), json!("1")] {
                    set(out, other);
                }
            }
            _ => {}
        }
    }

    /// The texts tried for a string schema.
    fn texts(&self, schema: &Value) -> Vec<Value> {
        if let Some(values) = schema["enum"].as_array() {
            return values
                .iter()
                .cloned()
                .chain([json!("none-of-these"), json!("")])
                .collect();
        }
        if schema["format"] == "date-time" {
            return TIMES.iter().map(|time| json!(time)).collect();
        }
        let mut texts: Vec<String> = AWKWARD_TEXT.iter().map(|t| (*t).to_owned()).collect();
        let lengths = [&schema["minLength"], &schema["maxLength"]];
        for length in lengths.into_iter().filter_map(Value::as_u64) {
            let length = usize::try_from(length).unwrap_or_default();
            for near in [length.saturating_sub(1), length, length + 1] {
                texts.push("a".repeat(near));
                texts.push("é".repeat(near));
            }
        }
        texts.push(String::new());
        texts.into_iter().map(Value::from).collect()
    }

    /// A value for a field its example leaves out, to change from.
    fn sample(&self, schema: &Value) -> Value {
        let schema = self.resolved(schema);
        match schema["oneOf"].as_array() {
            Some(branches) => branches
                .iter()
                .find(|b| b["type"] != "null")
                .map_or(Value::Null, |branch| self.sample(branch)),
            None => schema["example"].clone(),
        }
    }

    /// `size` copies of an array's first element, each product (each text field) made
    /// distinct where its schema allows, since each product may be ordered once only.
    fn distinct_copies(&self, item_schema: &Value, first: &Value, size: u64) -> Value {
        let item = self.resolved(item_schema);
        let copies = (0..size).map(|n| {
            let mut copy = first.clone();
            for (name, value) in copy.as_object_mut().into_iter().flatten() {
                let longest = self.resolved(&item["properties"][name])["maxLength"].as_u64();
                if let Some(text) = value.as_str() {
                    let distinct = format!("{text}{n}");
                    if longest.is_none_or(|max| distinct.chars().count() as u64 <= max) {
                        *value = json!(distinct);
                    }
                }
            }
            copy
        });
        Value::Array(copies.collect())
    }
}

/// The largest amount, as the document states it.
fn largest_amount(document: &Document) -> i128 {
    document.0["components"]["schemas"]["Money"]["maximum"]
        .as_i64()
        .map_or(0, i128::from)
}

/// Claimed totals follow the lines and charges they sum: the test changes one value at a
/// time, and a total left stale would be refused for being stale. A change of a claim
/// itself keeps it as changed; sums beyond the largest amount drop the claims, so that
/// the service names the overflow itself.
fn settle_claims(document: &Document, body: &mut Value, changed: &Place) {
    let field = changed.field();
    if field == "itemsTotal" || field == "totalAmount" {
        return;
    }
    let Some((items_total, total)) = computed_totals(body) else {
        return;
    };
    let largest = largest_amount(document);
    for (claim, computed) in [("itemsTotal", items_total), ("totalAmount", total)] {
        if body.get(claim).is_some_and(|c| !c.is_null()) {
            if computed <= largest {
                body[claim] = json!(computed as i64);
            } else if let Some(object) = body.as_object_mut() {
                object.remove(claim);
            }
        }
    }
}

/// The items total and the total, when every amount is an integer.
fn computed_totals(body: &Value) -> Option<(i128, i128)> {
    let amount = |value: &Value| value.as_i64().map(i128::from);
    let mut items_total = 0;
    for item in body["items"].as_array()? {
        items_total += amount(&item["quantity"])? * amount(&item["unitPrice"])?;
    }
    let total = items_total + amount(&body["shippingCost"])? + amount(&body["taxAmount"])?;
    Some((items_total, total))
}

/// The fields the prose of the document says the service refuses, in a body its schema
/// accepts.
fn refused_by_prose(document: &Document, operation: &str, body: &Value) -> BTreeSet<String> {
    let mut refused = BTreeSet::new();
    whole_numbers_written_as_fractions(body, &Place::default(), &mut refused);
    if operation != "placeOrder" {
        return refused;
    }
    let largest = largest_amount(document);
    let items = body["items"].as_array().cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (index, item) in items.iter().enumerate() {
        if !seen.insert(item["productId"].to_string()) {
            refused.insert(format!("items[{index}].productId"));
        }
        let line = item["quantity"]
            .as_i64()
            .map(i128::from)
            .unwrap_or_default()
            * item["unitPrice"]
                .as_i64()
                .map(i128::from)
                .unwrap_or_default();
        if line > largest {
            refused.insert(format!("items[{index}].unitPrice"));
        }
    }
    if let Some((items_total, total)) = computed_totals(body) {
        if items_total > largest {
            refused.insert("itemsTotal".to_owned());
        } else if total > largest {
            refused.insert("totalAmount".to_owned());
        }
        for (claim, computed) in [("itemsTotal", items_total), ("totalAmount", total)] {
            if body[claim]
                .as_i64()
                .is_some_and(|c| i128::from(c) != computed)
            {
                refused.insert(claim.to_owned());
            }
        }
    }
    refused
}

fn whole_numbers_written_as_fractions(value: &Value, place: &Place, out: &mut BTreeSet<String>) {
    match value {
        Value::Number(number) if number.is_f64() => {
            out.insert(place.field());
        }
        Value::Object(object) => {
            for (key, value) in object {
                whole_numbers_written_as_fractions(value, &place.key(key), out);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                whole_numbers_written_as_fractions(value, &place.index(index), out);
            }
        }
        _ => {}
    }
}

/// The keywords a validator faults `instance` on, those inside `oneOf` branches too.
fn faulted_keywords(validator: &jsonschema::Validator, instance: &Value) -> BTreeSet<String> {
    fn walk(error: &jsonschema::ValidationError<'_>, out: &mut BTreeSet<String>) {
        out.insert(error.kind().keyword().to_owned());
        if let jsonschema::error::ValidationErrorKind::OneOfNotValid { context } = error.kind() {
            for branch in context {
                for inner in branch {
                    walk(inner, out);
                }
            }
        }
    }
    let mut keywords = BTreeSet::new();
    for error in validator.iter_errors(instance) {
        walk(&error, &mut keywords);
    }
    keywords
}

/// The fields a problem names.
async fn named_fields(response: reqwest::Response) -> anyhow::Result<(u16, Value, Vec<String>)> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    let named = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["field"].as_str().map(str::to_owned))
        .collect();
    Ok((status, body, named))
}

/// Where a body operation is tried, and what it answers to a body it takes.
struct Target {
    path: String,
    method: Method,
    accepted: (u16, &'static str),
}

/// An order placed and then taken through `actions`; its id.
async fn order_after(app: &TestApp, actions: &[(Method, &str, Value)]) -> anyhow::Result<String> {
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    for (verb, action, body) in actions {
        let done = app
            .client
            .request(verb.clone(), app.url(&format!("/v1/orders/{id}/{action}")))
            .json(body)
            .send()
            .await?;
        anyhow::ensure!(
            done.status() == StatusCode::OK,
            "{action}: {}",
            done.status()
        );
    }
    Ok(id)
}

async fn targets(app: &TestApp) -> anyhow::Result<Vec<(&'static str, Target)>> {
    let pending = order_after(app, &[]).await?;
    let shipped = order_after(
        app,
        &[
            (
                Method::POST,
                "confirm-payment",
                json!({"paymentReference": "pay_1", "amount": 3800}),
            ),
            (
                Method::PUT,
                "shipment/tracking",
                json!({"carrier": "UPS", "trackingNumber": "1Z"}),
            ),
        ],
    )
    .await?;
    let canceled = order_after(
        app,
        &[(Method::POST, "cancel", json!({"reason": "changed mind"}))],
    )
    .await?;
    let on = |id: &str, action: &str, method: Method, accepted| Target {
        path: format!("/v1/orders/{id}/{action}"),
        method,
        accepted,
    };
    // Changes that leave the order as it was are tried where they are allowed; the
    // others on a canceled order, where a body that passes is refused by the status
    // rules only after it was read.
    let refused = (409, "invalid_transition");
    Ok(vec![
        (
            "placeOrder",
            Target {
                path: "/v1/orders".into(),
                method: Method::POST,
                accepted: (201, ""),
            },
        ),
        (
            "updatePayment",
            on(&pending, "payment", Method::PUT, (200, "")),
        ),
        (
            "updateShipping",
            on(&pending, "shipping", Method::PUT, (200, "")),
        ),
        (
            "setTracking",
            on(&shipped, "shipment/tracking", Method::PUT, (200, "")),
        ),
        (
            "confirmPayment",
            on(&canceled, "confirm-payment", Method::POST, refused),
        ),
        (
            "confirmDelivery",
            on(&canceled, "confirm-delivery", Method::POST, refused),
        ),
        (
            "cancelOrder",
            on(&canceled, "cancel", Method::POST, refused),
        ),
    ])
}

/// Every customer exists and every product is in stock: what decides is the body.
async fn upstreams_say_yes(app: &TestApp) {
    Mock::given(method("GET"))
        .and(path_regex("^/customers/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "c", "name": "Ada", "email": "ada@example.com",
            "shippingAddress": address_json("Springfield")
        })))
        .mount(&app.customers)
        .await;
    app.stock_is_plentiful().await;
}

/// The service, whose upstreams say yes to anything, and its document.
async fn app_and_document(backend: Backend) -> anyhow::Result<(TestApp, Document)> {
    let app = spawn_app(backend).await?;
    upstreams_say_yes(&app).await;
    let document = Document(app.get("/openapi.json").await?.json().await?);
    Ok((app, document))
}

/// The operations with a body, as the document lists them: the operation's id, and the
/// JSON pointer of its body's schema.
fn body_operations(document: &Document) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for methods in document.0["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in methods.as_object().into_iter().flat_map(|m| m.values()) {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let (Some(id), Some(reference)) =
                (operation["operationId"].as_str(), schema["$ref"].as_str())
            {
                let pointer = reference.trim_start_matches('#').to_owned();
                operations.push((id.to_owned(), pointer));
            }
        }
    }
    operations
}

async fn the_service_accepts_exactly_the_bodies_its_document_describes(
    backend: Backend,
) -> TestResult {
    let (app, document) = app_and_document(backend).await?;
    let targets = targets(&app).await?;
    let mut faulted = BTreeSet::new();
    let (mut accepted, mut refused) = (0, 0);
    let operations = body_operations(&document);
    assert_eq!(
        operations.len(),
        targets.len(),
        "every body operation has a target"
    );
    for (id, pointer) in operations {
        let target = targets
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, target)| target)
            .ok_or_else(|| anyhow::anyhow!("no target for {id}: add one"))?;
        let schema = document.0.pointer(&pointer).cloned().unwrap_or_default();
        let example = schema["example"].clone();
        let validator = document.validator(&pointer)?;
        assert!(validator.is_valid(&example), "{id}: its example");
        let mut changes = Vec::new();
        document.changes(&schema, &example, &Place::default(), &mut changes);
        let bodies = changes.iter().filter_map(|change| {
            let mut body = change.place.changed(&example, change.to.as_ref())?;
            settle_claims(&document, &mut body, &change.place);
            Some((change.place.field(), body))
        });
        for (field, body) in [(String::new(), example.clone())].into_iter().chain(bodies) {
            let keywords = faulted_keywords(&validator, &body);
            let response = app
                .client
                .request(target.method.clone(), app.url(&target.path))
                .json(&body)
                .send()
                .await?;
            let (status, problem, named) = named_fields(response).await?;
            let seen = format!("{id} {field}: {body} → {status} {problem}");
            if keywords.is_empty() {
                let prose = refused_by_prose(&document, &id, &body);
                if prose.is_empty() {
                    assert_eq!(
                        (status, problem["code"].as_str().unwrap_or_default()),
                        target.accepted,
                        "accepted by the schema: {seen}"
                    );
                    accepted += 1;
                } else {
                    assert_eq!(status, 422, "refused by the prose: {seen}");
                    assert_eq!(problem["code"], "validation_failed", "{seen}");
                    for field in prose {
                        assert!(named.contains(&field), "{field} not named: {seen}");
                    }
                }
            } else {
                assert_eq!(status, 422, "refused by the schema ({keywords:?}): {seen}");
                assert_eq!(problem["code"], "validation_failed", "{seen}");
                assert!(named.contains(&field), "{field} not named: {seen}");
                faulted.extend(keywords);
                refused += 1;
            }
        }
    }
    for keyword in [
        "additionalProperties",
        "enum",
        "format",
        "maxItems",
        "maxLength",
        "maximum",
        "minItems",
        "minLength",
        "minimum",
        "not",
        "pattern",
        "required",
        "type",
    ] {
        assert!(
            faulted.contains(keyword),
            "no body broke {keyword}: {faulted:?}"
        );
    }
    assert!(
        accepted > 100 && refused > 300,
        "{accepted} accepted, {refused} refused"
    );
    Ok(())
}

/// The listing's query parameters and the `Idempotency-Key` and `If-Match` headers: a
/// value the document's schema for it accepts is not refused as invalid; another is 400
/// naming the parameter.
async fn the_service_accepts_exactly_the_parameters_its_document_describes(
    backend: Backend,
) -> TestResult {
    let (app, document) = app_and_document(backend).await?;
    let payment = format!("/v1/orders/{}/payment", order_after(&app, &[]).await?);
    let (mut accepted, mut refused) = (0, 0);
    for (path, verb, url) in [
        ("/v1/orders", "get", "/v1/orders"),
        ("/v1/orders", "post", "/v1/orders"),
        ("/v1/orders/{id}/payment", "put", payment.as_str()),
    ] {
        let parameters = document.0["paths"][path][verb]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (index, parameter) in parameters.iter().enumerate() {
            let name = parameter["name"].as_str().unwrap_or_default();
            if name == "X-Request-Id" || parameter["in"] == "path" {
                continue;
            }
            let escaped = path.replace('~', "~0").replace('/', "~1");
            let pointer = format!("/paths/{escaped}/{verb}/parameters/{index}/schema");
            let validator = document.validator(&pointer)?;
            let schema = document.resolved(&parameter["schema"]);
            // A cursor is opaque: only one the service issued is one (read_orders checks).
            if name == "cursor" {
                continue;
            }
            let mut values: Vec<Value> = match type_of(schema) {
                Some("integer") => [&schema["minimum"], &schema["maximum"]]
                    .into_iter()
                    .filter_map(Value::as_i64)
                    .flat_map(|bound| [bound - 1, bound, bound + 1])
                    .map(Value::from)
                    .collect(),
                _ => document.texts(schema),
            };
            if name == "If-Match" {
                values.extend(
                    ["*", "\"1\"", "\"123456789\"", "1", "W/\"1\"", "\"\""].map(Value::from),
                );
            }
            for value in values {
                let text = match &value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let request = match parameter["in"].as_str() {
                    Some("query") => app
                        .client
                        .request(Method::GET, app.url(url))
                        .query(&[(name, text.as_str())]),
                    _ => {
                        let Ok(header) = reqwest::header::HeaderValue::from_str(&text) else {
                            continue; // not a value HTTP can carry
                        };
                        let verb = if verb == "post" {
                            Method::POST
                        } else {
                            Method::PUT
                        };
                        let body = if verb == Method::POST {
                            order_body()
                        } else {
                            json!({"method": "card", "reference": "tok_1"})
                        };
                        app.client
                            .request(verb, app.url(url))
                            .header(name, header)
                            .json(&body)
                    }
                };
                let (status, problem, named) = named_fields(request.send().await?).await?;
                let seen = format!("{verb} {path} {name}={text:?} → {status} {problem}");
                if validator.is_valid(&value) {
                    assert!(
                        status < 400 || status == 412,
                        "accepted by the schema: {seen}"
                    );
                    accepted += 1;
                } else {
                    assert_eq!(status, 400, "refused by the schema: {seen}");
                    assert_eq!(named, [name], "{seen}");
                    refused += 1;
                }
            }
        }
    }
    assert!(
        accepted > 20 && refused > 40,
        "{accepted} accepted, {refused} refused"
    );
    Ok(())
}

// What is checked is the HTTP layer against its own document: one backend suffices.
order_adapters::on_one_backend!(
    the_service_accepts_exactly_the_bodies_its_document_describes,
    the_service_accepts_exactly_the_parameters_its_document_describes,
);

/// A body the test builds by hand still reads as the document's.
#[test]
fn a_place_names_fields_as_the_service_does() {
    let place = Place::default().key("items").index(0).key("quantity");
    assert_eq!(place.field(), "items[0].quantity");
    let body = json!({"items": [{"quantity": 1}]});
    assert_eq!(
        place.changed(&body, Some(&json!(2))),
        Some(json!({"items": [{"quantity": 2}]}))
    );
    assert_eq!(
        Place::default().key("items").changed(&body, None),
        Some(json!({}))
    );
}
