//! Request bodies: read within the size limit, parsed as a JSON object, then checked
//! field by field so that one answer names every problem, not only the first.

use std::io::Write;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use order_domain::InvalidValue;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// The largest body the API takes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a body may take to arrive once its head has; the app's data, from
/// `ORDERS_REQUEST_BODY_TIMEOUT_MS`. Without it a client sending one byte now and then
/// would hold its connection for ever.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

impl Default for BodyTimeout {
    fn default() -> Self {
        Self(Duration::from_secs(10))
    }
}

/// A request body that is a JSON object.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let BodyTimeout(timeout) = req.app_data().copied().unwrap_or_default();
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
                return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
            }
            let read = async {
                let mut body = BytesMut::new();
                while let Some(chunk) = payload.next().await {
                    let chunk =
                        chunk.map_err(|_| ApiError::malformed("The body could not be read."))?;
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            };
            let body = tokio::time::timeout(timeout, read)
                .await
                .map_err(|_| ApiError::request_timeout(timeout))??;
            match serde_json::from_slice(&body) {
                Ok(Value::Object(object)) => Ok(JsonObject(object)),
                Ok(_) => Err(ApiError::malformed("The body must be a JSON object.")),
                Err(error) => Err(ApiError::malformed(format!(
                    "The body is not valid JSON: {error}."
                ))),
            }
        })
    }
}

/// Writes the JSON text of `object` with every object's keys sorted, so that two
/// bodies that parse to the same value give the same text, whatever their key order or
/// spacing. Written straight into `out` (a hasher, say): nothing is copied or sorted in
/// place.
pub fn write_canonical_object(object: &Map<String, Value>, out: &mut impl Write) {
    let mut entries: Vec<(&String, &Value)> = object.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{").ok();
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",").ok();
        }
        serde_json::to_writer(&mut *out, key).ok();
        out.write_all(b":").ok();
        write_canonical(value, out);
    }
    out.write_all(b"}").ok();
}

fn write_canonical(value: &Value, out: &mut impl Write) {
    match value {
        Value::Object(object) => write_canonical_object(object, out),
        Value::Array(items) => {
            out.write_all(b"[").ok();
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.write_all(b",").ok();
                }
                write_canonical(item, out);
            }
            out.write_all(b"]").ok();
        }
        scalar => {
            serde_json::to_writer(&mut *out, scalar).ok();
        }
    }
}

/// Reads the fields of one JSON object, collecting a [`FieldError`] for each problem.
#[derive(Debug)]
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    /// The fields of the body itself.
    pub fn of(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            prefix: String::new(),
        }
    }

    /// The path of field `name` of this object (`items[0].quantity`).
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Refuses every field not in `known`: a client never sets what the server owns.
    pub fn refuse_unknown(&self, known: &[&str], errors: &mut Vec<FieldError>) {
        for name in self
            .object
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
        {
            errors.push(FieldError::new(
                self.path(name),
                "is not a field of this request",
            ));
        }
    }

    /// The field's value, `None` when absent or `null`.
    fn optional_value(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    fn required_value(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<&'a Value> {
        let value = self.optional_value(name);
        if value.is_none() {
            errors.push(FieldError::new(self.path(name), "is required"));
        }
        value
    }

    fn string_of(
        &self,
        name: &str,
        value: &'a Value,
        errors: &mut Vec<FieldError>,
    ) -> Option<&'a str> {
        let text = value.as_str();
        if text.is_none() {
            errors.push(FieldError::new(self.path(name), "must be a string"));
        }
        text
    }

    fn integer_of(&self, name: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<i64> {
        let number = value.as_i64();
        if number.is_none() {
            // JSON has one number type: a whole number too large for 64 bits arrives
            // as a float, and is out of range rather than fractional.
            let too_large = value
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18);
            let message = if too_large || value.is_u64() {
                "is out of range"
            } else if value.is_f64() {
                "must be a whole number, without a fraction or exponent"
            } else {
                "must be an integer"
            };
            errors.push(FieldError::new(self.path(name), message));
        }
        number
    }

    /// A required string field.
    pub fn string(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
        self.required_value(name, errors)
            .and_then(|value| self.string_of(name, value, errors))
    }

    /// An optional string field; `Err(())` when present but not a string.
    pub fn optional_string(
        &self,
        name: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<&'a str>, ()> {
        match self.optional_value(name) {
            None => Ok(None),
            Some(value) => self.string_of(name, value, errors).map(Some).ok_or(()),
        }
    }

    /// A required integer field.
    pub fn integer(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
        self.required_value(name, errors)
            .and_then(|value| self.integer_of(name, value, errors))
    }

    /// An optional integer field; `Err(())` when present but not an integer.
    pub fn optional_integer(
        &self,
        name: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<i64>, ()> {
        match self.optional_value(name) {
            None => Ok(None),
            Some(value) => self.integer_of(name, value, errors).map(Some).ok_or(()),
        }
    }

    /// An optional object field, to read the fields of; `Err(())` when present but
    /// not an object.
    pub fn optional_object(
        &self,
        name: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<Fields<'a>>, ()> {
        match self.optional_value(name) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Fields {
                object,
                prefix: self.path(name),
            })),
            Some(_) => {
                errors.push(FieldError::new(self.path(name), "must be an object"));
                Err(())
            }
        }
    }

    /// A required array field.
    pub fn array(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<&'a Vec<Value>> {
        let value = self.required_value(name, errors)?;
        let items = value.as_array();
        if items.is_none() {
            errors.push(FieldError::new(self.path(name), "must be an array"));
        }
        items
    }

    /// The fields of element `index` of array field `name`, which must be an object.
    pub fn element(
        &self,
        name: &str,
        index: usize,
        value: &'a Value,
        errors: &mut Vec<FieldError>,
    ) -> Option<Fields<'a>> {
        let prefix = format!("{}[{index}]", self.path(name));
        match value {
            Value::Object(object) => Some(Fields { object, prefix }),
            _ => {
                errors.push(FieldError::new(prefix, "must be an object"));
                None
            }
        }
    }

    /// Parses a field's raw value into a domain value, recording the refusal.
    pub fn parse<T>(
        &self,
        name: &str,
        parsed: Result<T, InvalidValue>,
        errors: &mut Vec<FieldError>,
    ) -> Option<T> {
        parsed
            .map_err(|problem| errors.push(FieldError::new(self.path(name), problem.to_string())))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: &Value) -> String {
        let mut text = Vec::new();
        write_canonical_object(value.as_object().unwrap_or(&Map::new()), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }

    #[test]
    fn canonical_json_ignores_key_order_and_spacing_but_not_values() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let b: Value =
            serde_json::from_str(r#"{ "a": {"x": null, "y": [1, {"c": 3, "d": 2}]}, "b": 1 }"#)
                .unwrap_or_default();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(
            canonical(&a),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_ne!(canonical(&a), canonical(&json!({"b": 2, "a": {}})));
    }

    #[test]
    fn nested_fields_are_named_by_their_path() {
        let body = json!({"items": [{"quantity": "x"}], "extra": 1});
        let object = body.as_object().cloned().unwrap_or_default();
        let fields = Fields::of(&object);
        let mut errors = Vec::new();
        fields.refuse_unknown(&["items"], &mut errors);
        let items = fields
            .array("items", &mut errors)
            .cloned()
            .unwrap_or_default();
        if let Some(item) = fields.element("items", 0, &items[0], &mut errors) {
            item.integer("quantity", &mut errors);
            item.string("productId", &mut errors);
        }
        let named: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("extra", "is not a field of this request"),
                ("items[0].quantity", "must be an integer"),
                ("items[0].productId", "is required"),
            ]
        );
    }
}
