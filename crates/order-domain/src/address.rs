//! Postal addresses that orders are shipped to.

use serde::{Deserialize, Serialize};

use crate::values::{CharacterRule, InvalidValue, parse_text};

/// The fields of an address as they arrive, before any is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UncheckedAddress {
    /// Street and number.
    pub line1: String,
    /// Suite, floor, care-of; optional.
    pub line2: Option<String>,
    /// City or town.
    pub city: String,
    /// State, province or region; optional.
    pub region: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// The part of an address a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    /// The first street line.
    Line1,
    /// The optional second line.
    Line2,
    /// The city.
    City,
    /// The state, province or region.
    Region,
    /// The postal code.
    PostalCode,
    /// The ISO 3166-1 alpha-2 country code.
    Country,
}

/// A problem with one field of an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field:?} {problem}")]
pub struct AddressError {
    /// Which field.
    pub field: AddressField,
    /// What is wrong with it.
    pub problem: InvalidValue,
}

/// Every problem found in an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address: {0:?}")]
pub struct InvalidAddress(pub Vec<AddressError>);

/// A postal address with every field checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedAddress", into = "UncheckedAddress")]
pub struct Address(UncheckedAddress);

impl TryFrom<UncheckedAddress> for Address {
    type Error = InvalidAddress;

    fn try_from(input: UncheckedAddress) -> Result<Self, InvalidAddress> {
        Self::parse(input).map_err(InvalidAddress)
    }
}

impl From<Address> for UncheckedAddress {
    fn from(address: Address) -> Self {
        address.0
    }
}

impl Address {
    /// Longest street line, in characters.
    pub const MAX_LINE: usize = 200;
    /// Longest city or region, in characters.
    pub const MAX_PLACE: usize = 100;
    /// Longest postal code, in characters.
    pub const MAX_POSTAL_CODE: usize = 20;
    /// The letters of an ISO 3166-1 alpha-2 country code.
    pub const COUNTRY_CODE_LEN: usize = 2;

    /// Checks every field; an empty optional line counts as absent.
    ///
    /// # Errors
    /// One [`AddressError`] per field that is blank, too long, holds control
    /// characters, or (for `country`) is not two upper-case letters.
    pub fn parse(mut input: UncheckedAddress) -> Result<Self, Vec<AddressError>> {
        input.line2 = input.line2.filter(|line| !line.is_empty());
        input.region = input.region.filter(|region| !region.is_empty());
        let optional =
            |value: &Option<String>, max| value.as_deref().map_or(Ok(()), |v| parse_text(v, max));
        let checks = [
            (
                AddressField::Line1,
                parse_text(&input.line1, Self::MAX_LINE),
            ),
            (AddressField::Line2, optional(&input.line2, Self::MAX_LINE)),
            (AddressField::City, parse_text(&input.city, Self::MAX_PLACE)),
            (
                AddressField::Region,
                optional(&input.region, Self::MAX_PLACE),
            ),
            (
                AddressField::PostalCode,
                parse_text(&input.postal_code, Self::MAX_POSTAL_CODE),
            ),
            (AddressField::Country, parse_country(&input.country)),
        ];
        let errors: Vec<AddressError> = checks
            .into_iter()
            .filter_map(|(field, check)| check.err().map(|problem| AddressError { field, problem }))
            .collect();
        if errors.is_empty() {
            Ok(Self(input))
        } else {
            Err(errors)
        }
    }

    /// Street and number.
    pub fn line1(&self) -> &str {
        &self.0.line1
    }
    /// Suite, floor, care-of.
    pub fn line2(&self) -> Option<&str> {
        self.0.line2.as_deref()
    }
    /// City or town.
    pub fn city(&self) -> &str {
        &self.0.city
    }
    /// State, province or region.
    pub fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    /// Postal or ZIP code.
    pub fn postal_code(&self) -> &str {
        &self.0.postal_code
    }
    /// ISO 3166-1 alpha-2 country code.
    pub fn country(&self) -> &str {
        &self.0.country
    }
}

fn parse_country(code: &str) -> Result<(), InvalidValue> {
    if code.len() == Address::COUNTRY_CODE_LEN && CharacterRule::UPPER_CASE_LETTERS.allows_all(code)
    {
        Ok(())
    } else {
        Err(InvalidValue::new(
            "must be an ISO 3166-1 alpha-2 code of two upper-case letters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn springfield() -> UncheckedAddress {
        UncheckedAddress {
            line1: "1234 Elm St".into(),
            line2: Some(String::new()),
            city: "Springfield".into(),
            region: Some("IL".into()),
            postal_code: "62701".into(),
            country: "US".into(),
        }
    }

    #[test]
    fn a_complete_address_parses_and_an_empty_second_line_is_absent()
    -> Result<(), Vec<AddressError>> {
        let address = Address::parse(springfield())?;
        assert_eq!(address.line2(), None);
        assert_eq!(address.region(), Some("IL"));
        Ok(())
    }

    #[test]
    fn every_bad_field_is_reported_not_only_the_first() {
        let input = UncheckedAddress {
            line1: "  ".into(),
            city: "x".repeat(101),
            country: "us".into(),
            ..springfield()
        };
        let fields: Vec<AddressField> = Address::parse(input)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                AddressField::Line1,
                AddressField::City,
                AddressField::Country
            ]
        );
    }
}
