//! JSON Schemas of the domain's values, for the wire types' `ToSchema` derives: built
//! from the domain's own definitions (its lists, limits and character rules), so that
//! the document says what the parsers check and cannot drift from it. It depends on the
//! domain only; the document (`openapi`), the errors and the routes all use it.

use order_domain::{Action, Address, CharacterRule};
use serde_json::{Value, json};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

fn one_of(names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .build()
}

fn or_null(names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .enum_values(Some(
            names
                .into_iter()
                .map(Value::from)
                .chain([Value::Null])
                .collect::<Vec<_>>(),
        ))
        .build()
}

/// An order's status: one of the domain's statuses.
pub fn status() -> Object {
    one_of(order_domain::OrderStatus::ALL.map(order_domain::OrderStatus::as_str))
}

/// A status, or `null`.
pub fn nullable_status() -> Object {
    or_null(order_domain::OrderStatus::ALL.map(order_domain::OrderStatus::as_str))
}

/// The actions an order's status allows, from the domain's actions.
pub fn allowed_actions() -> ArrayBuilder {
    ArrayBuilder::new().items(one_of(Action::ALL.map(Action::as_str)))
}

/// A payment method, or `null`.
pub fn nullable_payment_method() -> Object {
    or_null(order_domain::PaymentMethod::ALL.map(order_domain::PaymentMethod::as_str))
}

/// What a character stands for in a class: a digit, a letter of either case, other
/// visible ASCII, or anything else. Ranges stay within one kind, so that a class reads
/// `[\-.0-9:A-Z_a-z]`, never `[\--.0-:A-Z_a-z]`.
fn kind(c: char) -> u8 {
    match c {
        '0'..='9' => 0,
        'A'..='Z' => 1,
        'a'..='z' => 2,
        '!'..='~' => 3,
        _ => 4,
    }
}

/// One character of a class, written so that ECMA-262 (with or without its `u` flag),
/// Python's `re` and Rust's `regex` all read it alike.
fn class_char(c: char, out: &mut String) {
    match c {
        '\\' | ']' | '[' | '^' | '-' => {
            out.push('\\');
            out.push(c);
        }
        '!'..='~' => out.push(c),
        _ => out.push_str(&format!("\\u{:04X}", u32::from(c))),
    }
}

/// The first code point beyond the Basic Multilingual Plane. The domain's rules decide
/// every character from here on alike (a test checks each), so a class is found by
/// asking about the plane below and this one character.
const BEYOND_BMP: char = '\u{10000}';

/// The runs of code points of the Basic Multilingual Plane that `member` accepts, as
/// inclusive ranges.
fn runs(member: impl Fn(char) -> bool) -> Vec<(char, char)> {
    let mut runs: Vec<(char, char)> = Vec::new();
    for c in (0..u32::from(BEYOND_BMP)).filter_map(char::from_u32) {
        if !member(c) {
            continue;
        }
        match runs.last_mut() {
            Some((start, end))
                if u32::from(*end) + 1 == u32::from(c) && kind(*start) == kind(c) =>
            {
                *end = c;
            }
            _ => runs.push((c, c)),
        }
    }
    runs
}

/// The character class of exactly the characters `member` accepts: those it accepts
/// when it refuses every character beyond the Basic Multilingual Plane, else the
/// complement of those it refuses (so that no engine has to read a character beyond
/// `\uFFFF`).
fn class(member: impl Fn(char) -> bool) -> String {
    let negated = member(BEYOND_BMP);
    let listed = if negated {
        runs(|c| !member(c))
    } else {
        runs(&member)
    };
    let mut class = String::from(if negated { "[^" } else { "[" });
    for (start, end) in listed {
        class_char(start, &mut class);
        match u32::from(end) - u32::from(start) {
            0 => {}
            1 => class_char(end, &mut class),
            _ => {
                class.push('-');
                class_char(end, &mut class);
            }
        }
    }
    class.push(']');
    class
}

/// The body of a pattern for text that `rule` accepts: allowed characters, at least one
/// of them significant.
fn text_of(rule: CharacterRule) -> String {
    let allowed = class(rule.allows);
    let significant = class(|c| (rule.allows)(c) && (rule.is_significant)(c));
    if allowed == significant {
        format!("{allowed}+")
    } else {
        format!("{allowed}*{significant}{allowed}*")
    }
}

/// A string of 1 to `max_chars` characters that `rule` accepts.
fn text(rule: CharacterRule, max_chars: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(format!("^{}$", text_of(rule))))
}

/// Like [`text`], or empty: an optional line where empty counts as absent.
fn text_or_empty(rule: CharacterRule, max_chars: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_chars))
        .pattern(Some(format!("^(?:{})?$", text_of(rule))))
}

/// A code of exactly `len` characters that `rule` accepts.
fn code(rule: CharacterRule, len: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{}{{{len}}}$", class(rule.allows))))
}

fn integer(minimum: i64, maximum: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(minimum))
        .maximum(Some(maximum))
}

/// A payment reference: a person's text that holds no card number. JSON Schema says
/// "does not match" with `not`, which utoipa's builder lacks; the keyword goes in
/// through the extensions map, which is written out as it is.
fn payment_reference() -> ObjectBuilder {
    let digit = class(|c| c.is_ascii_digit());
    let separator = class(|c| order_domain::PaymentReference::DIGIT_SEPARATORS.contains(&c));
    let card_number = format!(
        "{digit}(?:{separator}*{digit}){{{}}}",
        order_domain::PaymentReference::CARD_NUMBER_DIGITS - 1
    );
    text(
        CharacterRule::PERSON_TEXT,
        order_domain::PaymentReference::MAX_CHARS,
    )
    .extensions(Some(
        [("not", json!({"pattern": card_number}))]
            .into_iter()
            .collect(),
    ))
}

/// A named schema of one of the domain's values, whose description is its doc comment.
/// Wire types point at it with `#[schema(value_type = json_schema::Name)]`; the field
/// stays what the wire carries (a string, a number).
macro_rules! value_schema {
    ($(#[doc = $doc:literal])+ $name:ident = $schema:expr;) => {
        $(#[doc = $doc])+
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                // The document asks for it once per field that names it; its patterns
                // take asking a rule about every character: built once.
                static SCHEMA: std::sync::LazyLock<utoipa::openapi::Schema> =
                    std::sync::LazyLock::new(|| {
                        let description = [$($doc),+].map(str::trim).join(" ");
                        let mut schema: utoipa::openapi::Schema = $schema.into();
                        match &mut schema {
                            utoipa::openapi::Schema::Object(object) => {
                                object.description = Some(description)
                            }
                            utoipa::openapi::Schema::Array(array) => {
                                array.description = Some(description)
                            }
                            _ => {}
                        }
                        schema
                    });
                SCHEMA.clone().into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use value_schema;

value_schema! {
    /// A store's id: 1–64 characters from `A-Z a-z 0-9 . _ : -`, not dots alone.
    StoreId = text(order_domain::StoreId::CHARACTERS, order_domain::StoreId::MAX_LEN);
}

value_schema! {
    /// A customer's id, as the customer service knows it: 1–64 characters from
    /// `A-Z a-z 0-9 . _ : -`, not dots alone.
    CustomerId = text(order_domain::CustomerId::CHARACTERS, order_domain::CustomerId::MAX_LEN);
}

value_schema! {
    /// A product's id, as the inventory service knows it: 1–64 characters from
    /// `A-Z a-z 0-9 . _ : -`, not dots alone.
    ProductId = text(order_domain::ProductId::CHARACTERS, order_domain::ProductId::MAX_LEN);
}

value_schema! {
    /// How many units of a product one line orders.
    Quantity = integer(order_domain::Quantity::MIN.into(), order_domain::Quantity::MAX.into());
}

value_schema! {
    /// An amount in minor units of the order's currency (cents for USD): an integer from
    /// 0 to 2⁵³ − 1, which every JSON client reads exactly, written without a fraction or
    /// an exponent.
    Money = integer(
        order_domain::Money::ZERO.minor_units(),
        order_domain::Money::MAX_MINOR_UNITS,
    );
}

value_schema! {
    /// An active ISO 4217 currency code (List One as published on 2026-01-01).
    Currency = one_of(order_domain::Currency::ACTIVE.iter().map(order_domain::Currency::as_str));
}

value_schema! {
    /// How the customer pays.
    PaymentMethod = one_of(order_domain::PaymentMethod::ALL.map(order_domain::PaymentMethod::as_str));
}

value_schema! {
    /// The payment provider's reference (a token such as `tok_…`, or the id of a
    /// payment): text a person could read, never a card number (12 or more digits in a
    /// row, spaces and dashes between them included, are refused).
    PaymentReference = payment_reference();
}

value_schema! {
    /// The carrier's name, such as `UPS`: not blank, no control characters.
    Carrier = text(CharacterRule::PERSON_TEXT, order_domain::Carrier::MAX_CHARS);
}

value_schema! {
    /// The carrier's tracking number: not blank, no control characters.
    TrackingNumber = text(CharacterRule::PERSON_TEXT, order_domain::TrackingNumber::MAX_CHARS);
}

value_schema! {
    /// Why the order is canceled: not blank, no control characters.
    CancellationReason =
        text(CharacterRule::PERSON_TEXT, order_domain::CancellationReason::MAX_CHARS);
}

value_schema! {
    /// A street line: not blank, no control characters.
    AddressLine = text(CharacterRule::PERSON_TEXT, Address::MAX_LINE);
}

value_schema! {
    /// An optional street line: as `AddressLine`, or empty, which counts as absent.
    AddressLineOrEmpty = text_or_empty(CharacterRule::PERSON_TEXT, Address::MAX_LINE);
}

value_schema! {
    /// A city or town: not blank, no control characters.
    City = text(CharacterRule::PERSON_TEXT, Address::MAX_PLACE);
}

value_schema! {
    /// A state, province or region, or empty, which counts as absent: no control
    /// characters, and not blank when given.
    RegionOrEmpty = text_or_empty(CharacterRule::PERSON_TEXT, Address::MAX_PLACE);
}

value_schema! {
    /// A postal or ZIP code: not blank, no control characters.
    PostalCode = text(CharacterRule::PERSON_TEXT, Address::MAX_POSTAL_CODE);
}

value_schema! {
    /// An ISO 3166-1 alpha-2 country code, such as `US`.
    CountryCode = code(CharacterRule::UPPER_CASE_LETTERS, Address::COUNTRY_CODE_LEN);
}

value_schema! {
    /// An order's status.
    OrderStatus = status();
}

value_schema! {
    /// How many orders one page of a listing holds.
    PageSize = integer(1, order_domain::PageSize::MAX.into());
}

value_schema! {
    /// A client's key for a request it may repeat: 1–255 visible ASCII characters.
    IdempotencyKey = text(
        order_domain::IdempotencyKey::CHARACTERS,
        order_domain::IdempotencyKey::MAX_LEN,
    );
}

#[cfg(test)]
mod tests {
    use order_domain::CharacterRule;
    use serde_json::json;
    use utoipa::PartialSchema;

    use super::*;

    fn validator<T: PartialSchema>() -> anyhow::Result<jsonschema::Validator> {
        let schema = serde_json::to_value(T::schema())?;
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .map_err(|error| anyhow::anyhow!("{error}"))
    }

    #[test]
    fn every_rule_decides_every_character_beyond_the_bmp_alike() {
        let rules = [
            CharacterRule::PERSON_TEXT,
            CharacterRule::OPAQUE_ID,
            CharacterRule::VISIBLE_ASCII,
            CharacterRule::UPPER_CASE_LETTERS,
        ];
        for rule in rules {
            for predicate in [rule.allows, rule.is_significant] {
                let first = predicate(BEYOND_BMP);
                let differs = (u32::from(BEYOND_BMP)..=u32::from(char::MAX))
                    .filter_map(char::from_u32)
                    .find(|c| predicate(*c) != first);
                assert_eq!(differs, None, "{rule:?}");
            }
        }
    }

    /// Each character of the plane, alone, after a letter and twice: the schema and the
    /// parser must agree on every one.
    #[test]
    fn the_text_patterns_accept_exactly_what_the_parsers_accept() -> anyhow::Result<()> {
        let carrier = validator::<Carrier>()?;
        let store = validator::<StoreId>()?;
        let key = validator::<IdempotencyKey>()?;
        let beyond = ['\u{10000}', '\u{1F600}', char::MAX];
        for c in (0..=0xFFFF).filter_map(char::from_u32).chain(beyond) {
            for text in [c.to_string(), format!("a{c}"), format!("{c}{c}")] {
                let value = json!(text);
                assert_eq!(
                    carrier.is_valid(&value),
                    order_domain::Carrier::parse(text.as_str()).is_ok(),
                    "carrier {text:?}"
                );
                assert_eq!(
                    store.is_valid(&value),
                    order_domain::StoreId::parse(text.as_str()).is_ok(),
                    "store id {text:?}"
                );
                assert_eq!(
                    key.is_valid(&value),
                    order_domain::IdempotencyKey::parse(&text).is_ok(),
                    "idempotency key {text:?}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn the_payment_reference_schema_refuses_what_looks_like_a_card_number() -> anyhow::Result<()> {
        let reference = validator::<PaymentReference>()?;
        for text in [
            "tok_1Nv0aB2eZvKYlo2C",
            "order 12345678901",
            "4242424242424242",
            "4242 4242 4242 4242",
            "tok-5555-5555-5555-4444",
            "1234-5678-901",
            "1234-5678-9012",
            "12 34 56 78 90 1x2",
            " 123456789012 ",
        ] {
            assert_eq!(
                reference.is_valid(&json!(text)),
                order_domain::PaymentReference::parse(text).is_ok(),
                "{text:?}"
            );
        }
        Ok(())
    }
}
