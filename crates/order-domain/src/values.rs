//! Value types that cannot hold an invalid value: each has one fallible constructor and
//! hands out only what it has checked ("parse, don't validate").

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// Why a piece of text was refused; the message is written for the client who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Identifier of an order: a UUID, time-ordered (v7) when the service makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(Uuid);

impl OrderId {
    /// Wraps a UUID that names an order.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Parses the hyphenated form (`0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11`, in either
    /// case). The other forms a UUID may take (braced, `urn:uuid:`, without hyphens)
    /// are refused, so that an order is not named by several texts.
    ///
    /// # Errors
    /// [`InvalidValue`] when the text is not a hyphenated UUID.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let refused =
            || InvalidValue::new("must be a UUID such as 0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11");
        if text.len() != uuid::fmt::Hyphenated::LENGTH {
            return Err(refused());
        }
        Uuid::try_parse(text).map(Self).map_err(|_| refused())
    }

    /// The UUID itself.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Which characters a kind of text may hold, and which of them make it more than
/// filler: text of allowed characters none of which is significant is refused (blank
/// text; an id of dots alone). The parsers check text by these, and the HTTP layer
/// builds its JSON Schema patterns from them, so that the two say the same.
#[derive(Debug, Clone, Copy)]
pub struct CharacterRule {
    /// Whether the text may hold `c` at all.
    pub allows: fn(char) -> bool,
    /// Whether `c` is more than filler; the text must hold at least one such.
    pub is_significant: fn(char) -> bool,
}

impl CharacterRule {
    /// Text a person wrote (an address line, a reason): any character but a control
    /// character; not blank.
    pub const PERSON_TEXT: CharacterRule = CharacterRule {
        allows: |c| !c.is_control(),
        is_significant: |c| !c.is_whitespace(),
    };

    /// The opaque identifiers other services own: `[A-Za-z0-9._:-]`, which keeps them
    /// safe in URLs, logs and headers. An id of dots alone is refused: as a URL path
    /// segment (`/customers/..`) it would name another resource of the service it is
    /// sent to.
    pub const OPAQUE_ID: CharacterRule = CharacterRule {
        allows: |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'),
        is_significant: |c| c != '.',
    };

    /// Visible ASCII, `!` to `~`.
    pub const VISIBLE_ASCII: CharacterRule = CharacterRule {
        allows: |c| c.is_ascii_graphic(),
        is_significant: |_| true,
    };

    /// Upper-case ASCII letters, as in a code such as `US`.
    pub const UPPER_CASE_LETTERS: CharacterRule = CharacterRule {
        allows: |c| c.is_ascii_uppercase(),
        is_significant: |_| true,
    };

    /// Whether `text` holds only allowed characters.
    pub fn allows_all(self, text: &str) -> bool {
        text.chars().all(self.allows)
    }

    /// Whether `text` holds a significant character.
    pub fn finds_significant(self, text: &str) -> bool {
        text.chars().any(self.is_significant)
    }
}

/// The longest opaque identifier, in characters.
const OPAQUE_ID_MAX_LEN: usize = 64;

/// The opaque identifiers other services own share one shape: 1–64 characters of
/// [`CharacterRule::OPAQUE_ID`], not dots alone.
fn parse_opaque_id(text: &str) -> Result<(), InvalidValue> {
    let rule = CharacterRule::OPAQUE_ID;
    if !(1..=OPAQUE_ID_MAX_LEN).contains(&text.len()) || !rule.allows_all(text) {
        Err(InvalidValue::new(
            "must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_', ':' and '-'",
        ))
    } else if !rule.finds_significant(text) {
        Err(InvalidValue::new("must not be dots alone"))
    } else {
        Ok(())
    }
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The longest identifier, in characters.
            pub const MAX_LEN: usize = OPAQUE_ID_MAX_LEN;
            /// The characters an identifier may hold.
            pub const CHARACTERS: CharacterRule = CharacterRule::OPAQUE_ID;

            /// Parses an identifier: 1–64 characters from `[A-Za-z0-9._:-]`.
            ///
            /// # Errors
            /// [`InvalidValue`] when the text is empty, too long or has another character.
            pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
                let text = text.into();
                parse_opaque_id(&text)?;
                Ok(Self(text))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

opaque_id!(
    /// Identifier of the store that sells the order's products.
    StoreId
);
opaque_id!(
    /// Identifier of a customer, as the customer service knows it.
    CustomerId
);
opaque_id!(
    /// Identifier of a product, as the inventory service knows it.
    ProductId
);

/// An amount of money in the minor unit of the order's currency (cents for USD).
///
/// Never negative, and never above 2⁵³ − 1 so that every JSON client, JavaScript's
/// included, reads it exactly.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl Money {
    /// The largest amount an order may carry anywhere: 2⁵³ − 1 minor units.
    pub const MAX_MINOR_UNITS: i64 = 9_007_199_254_740_991;
    /// No money at all.
    pub const ZERO: Money = Money(0);

    /// Takes an amount in minor units.
    ///
    /// # Errors
    /// [`InvalidValue`] when the amount is negative or above [`Money::MAX_MINOR_UNITS`].
    pub fn from_minor_units(amount: i64) -> Result<Self, InvalidValue> {
        if amount < 0 {
            Err(InvalidValue::new("must not be negative"))
        } else if amount > Self::MAX_MINOR_UNITS {
            Err(InvalidValue::new(format!(
                "must not exceed {}",
                Self::MAX_MINOR_UNITS
            )))
        } else {
            Ok(Self(amount))
        }
    }

    /// The amount in minor units.
    pub fn minor_units(self) -> i64 {
        self.0
    }

    /// The sum, or `None` when it would exceed [`Money::MAX_MINOR_UNITS`].
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .and_then(|sum| Money::from_minor_units(sum).ok())
    }

    /// The amount times a quantity, or `None` when it would exceed the maximum.
    pub fn checked_mul(self, quantity: Quantity) -> Option<Money> {
        self.0
            .checked_mul(i64::from(quantity.get()))
            .and_then(|product| Money::from_minor_units(product).ok())
    }
}

impl TryFrom<i64> for Money {
    type Error = InvalidValue;

    fn try_from(amount: i64) -> Result<Self, InvalidValue> {
        Self::from_minor_units(amount)
    }
}

impl From<Money> for i64 {
    fn from(money: Money) -> i64 {
        money.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An ISO 4217 currency code: three upper-case letters. A new order takes an active
/// code ([`Currency::parse`]); an order placed in a code ISO has withdrawn since keeps
/// it ([`Currency::parse_stored`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// A code written out, for the list below.
const fn code(text: &str) -> Currency {
    let letters = text.as_bytes();
    Currency([letters[0], letters[1], letters[2]])
}

macro_rules! codes {
    ($($code:ident)*) => { &[$(code(stringify!($code))),*] };
}

impl Currency {
    /// US dollars, the currency of an order that names none.
    pub const USD: Currency = Currency(*b"USD");

    /// The active codes, in alphabetical order: ISO 4217 List One (currencies, funds
    /// and precious metals) as published on 2026-01-01. When ISO amends the list, so
    /// is this; orders placed in a withdrawn code stay readable.
    pub const ACTIVE: &'static [Currency] = codes!(
        AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN
        BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
        EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
        IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
        MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
        OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
        SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI
        UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD
        XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
    );

    /// Parses a code for a new order, such as `EUR`.
    ///
    /// # Errors
    /// [`InvalidValue`] unless the text is one of the [`Currency::ACTIVE`] codes.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::parse_stored(text)
            .ok()
            .filter(|currency| Self::ACTIVE.binary_search(currency).is_ok())
            .ok_or_else(|| InvalidValue::new("must be an active ISO 4217 code, such as USD or EUR"))
    }

    /// Reads the code an order was stored with: any three upper-case letters, since a
    /// code ISO has withdrawn since still names the currency the order was placed in.
    ///
    /// # Errors
    /// [`InvalidValue`] unless the text is exactly three upper-case ASCII letters.
    pub fn parse_stored(text: &str) -> Result<Self, InvalidValue> {
        match <[u8; 3]>::try_from(text.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Self(code)),
            _ => Err(InvalidValue::new(
                "must be an ISO 4217 code of three upper-case letters",
            )),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

/// How a stored event reads its order's currency.
impl TryFrom<String> for Currency {
    type Error = InvalidValue;

    fn try_from(code: String) -> Result<Self, InvalidValue> {
        Self::parse_stored(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many units of a product a line orders: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(u32);

impl Quantity {
    /// The fewest units one line may order.
    pub const MIN: u32 = 1;
    /// The most units one line may order.
    pub const MAX: u32 = 1000;

    /// Takes a quantity.
    ///
    /// # Errors
    /// [`InvalidValue`] unless `1 <= quantity <= 1000`.
    pub fn new(quantity: i64) -> Result<Self, InvalidValue> {
        u32::try_from(quantity)
            .ok()
            .filter(|q| (Self::MIN..=Self::MAX).contains(q))
            .map(Self)
            .ok_or_else(|| {
                InvalidValue::new(format!("must be from {} to {}", Self::MIN, Self::MAX))
            })
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Free text a person wrote (an address line, a city): not blank, no control
/// characters ([`CharacterRule::PERSON_TEXT`]), at most `max` characters.
pub(crate) fn parse_text(text: &str, max: usize) -> Result<(), InvalidValue> {
    let rule = CharacterRule::PERSON_TEXT;
    if !rule.finds_significant(text) {
        Err(InvalidValue::new("must not be blank"))
    } else if text.chars().count() > max {
        Err(InvalidValue::new(format!(
            "must be at most {max} characters"
        )))
    } else if !rule.allows_all(text) {
        Err(InvalidValue::new("must not contain control characters"))
    } else {
        Ok(())
    }
}

/// Text a person wrote: not blank, no control characters ([`CharacterRule::PERSON_TEXT`]),
/// at most `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText<const MAX: usize>(String);

impl<const MAX: usize> BoundedText<MAX> {
    /// The longest text, in characters.
    pub const MAX_CHARS: usize = MAX;

    /// Checks the text.
    ///
    /// # Errors
    /// [`InvalidValue`] when it is blank, longer than `MAX` characters, or holds control
    /// characters.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        parse_text(&text, MAX)?;
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for BoundedText<MAX> {
    type Error = InvalidValue;

    fn try_from(text: String) -> Result<Self, InvalidValue> {
        Self::parse(text)
    }
}

impl<const MAX: usize> From<BoundedText<MAX>> for String {
    fn from(text: BoundedText<MAX>) -> String {
        text.0
    }
}

/// A carrier's name, such as `UPS`: 1–64 characters.
pub type Carrier = BoundedText<64>;
/// A carrier's tracking number: 1–64 characters.
pub type TrackingNumber = BoundedText<64>;
/// Why an order was canceled: 1–500 characters.
pub type CancellationReason = BoundedText<500>;

/// A payment provider's reference (a token such as `tok_…`, or the id of a confirmed
/// payment): 1–128 characters, and never anything that looks like a card number, so
/// that no card number is ever stored or logged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentReference(String);

impl PaymentReference {
    /// The longest reference, in characters.
    pub const MAX_CHARS: usize = 128;
    /// How many digits in a row make a reference look like a card number (card numbers
    /// are 12 to 19 digits; a longer run holds one too).
    pub const CARD_NUMBER_DIGITS: usize = 12;
    /// What may stand between the digits of a card number as people write it.
    pub const DIGIT_SEPARATORS: [char; 2] = [' ', '-'];

    /// Checks a reference.
    ///
    /// # Errors
    /// [`InvalidValue`] when it is blank, longer than 128 characters, holds control
    /// characters, or holds 12 to 19 digits in a row (spaces and dashes between them
    /// included), the shape of a card number. The message never repeats the value.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        parse_text(&text, Self::MAX_CHARS)?;
        if looks_like_card_number(&text) {
            return Err(InvalidValue::new(
                "must be the payment provider's token, never a card number",
            ));
        }
        Ok(Self(text))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PaymentReference {
    type Error = InvalidValue;

    fn try_from(text: String) -> Result<Self, InvalidValue> {
        Self::parse(text)
    }
}

impl From<PaymentReference> for String {
    fn from(reference: PaymentReference) -> String {
        reference.0
    }
}

/// Whether `text` holds a run of [`PaymentReference::CARD_NUMBER_DIGITS`] or more
/// digits, possibly split by [`PaymentReference::DIGIT_SEPARATORS`].
fn looks_like_card_number(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= PaymentReference::CARD_NUMBER_DIGITS {
                return true;
            }
        } else if !PaymentReference::DIGIT_SEPARATORS.contains(&c) {
            digits = 0;
        }
    }
    false
}

/// The key a client sends in `Idempotency-Key`: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key, in characters.
    pub const MAX_LEN: usize = 255;
    /// The characters a key may hold.
    pub const CHARACTERS: CharacterRule = CharacterRule::VISIBLE_ASCII;

    /// Parses a key.
    ///
    /// # Errors
    /// [`InvalidValue`] when the key is empty, longer than 255 characters, or has a
    /// character outside visible ASCII (`!` to `~`).
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        if (1..=Self::MAX_LEN).contains(&text.len()) && Self::CHARACTERS.allows_all(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidValue::new(
                "must be 1 to 255 visible ASCII characters",
            ))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of a request's meaning, so that a replayed key can be told apart from a
/// reused one. How it is computed is the caller's business; equal fingerprints must
/// mean equal requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    /// Wraps a digest computed by the caller.
    pub fn new(digest: impl Into<String>) -> Self {
        Self(digest.into())
    }

    /// The digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The identifier that ties together everything one client request caused, passed on
/// to upstream services as `X-Request-Id`: 1–128 characters from
/// `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Parses an identifier a client sent.
    ///
    /// # Errors
    /// [`InvalidValue`] when it is empty, too long, or has an unsafe character.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if (1..=128).contains(&text.len()) && text.chars().all(safe) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidValue::new(
                "must be 1 to 128 characters from A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            ))
        }
    }

    /// A fresh identifier for a request that came without one.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_ids_take_the_documented_alphabet_and_length() {
        assert!(ProductId::parse("prod-1.a_b:c").is_ok());
        assert!(ProductId::parse("x".repeat(64)).is_ok());
        assert!(ProductId::parse("x".repeat(65)).is_err());
        assert!(ProductId::parse("").is_err());
        assert!(CustomerId::parse("cust 1").is_err());
        assert!(StoreId::parse("store/1").is_err());
        assert!(CustomerId::parse(".").is_err());
        assert!(CustomerId::parse("..").is_err());
        assert!(CustomerId::parse("a.b").is_ok());
    }

    #[test]
    fn money_refuses_negative_and_unsafe_amounts() {
        assert!(Money::from_minor_units(-1).is_err());
        assert!(Money::from_minor_units(Money::MAX_MINOR_UNITS).is_ok());
        assert!(Money::from_minor_units(Money::MAX_MINOR_UNITS + 1).is_err());
    }

    #[test]
    fn money_arithmetic_reports_overflow_instead_of_wrapping() -> Result<(), InvalidValue> {
        let max = Money::from_minor_units(Money::MAX_MINOR_UNITS)?;
        let one = Money::from_minor_units(1)?;
        assert_eq!(max.checked_add(one), None);
        assert_eq!(max.checked_mul(Quantity::new(2)?), None);
        assert_eq!(
            Money::from_minor_units(250)?.checked_mul(Quantity::new(4)?),
            Some(Money::from_minor_units(1000)?)
        );
        Ok(())
    }

    #[test]
    fn a_new_order_takes_an_active_iso_4217_code() {
        assert_eq!(
            Currency::parse("EUR").map(|c| c.to_string()),
            Ok("EUR".into())
        );
        for active in ["USD", "JPY", "XCG", "ZWG", "XAU"] {
            assert!(Currency::parse(active).is_ok(), "{active}");
        }
        for refused in ["XYZ", "eur", "EURO", "E1R", "", "HRK", "ANG", "BGN"] {
            assert!(Currency::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_stored_order_keeps_a_code_iso_has_withdrawn_since() {
        assert_eq!(
            Currency::parse_stored("HRK").map(|c| c.to_string()),
            Ok("HRK".into())
        );
        assert!(Currency::parse_stored("hrk").is_err());
        let read: Result<Currency, _> = serde_json::from_str("\"HRK\"");
        assert!(read.is_ok(), "events keep their currency");
    }

    #[test]
    fn the_active_codes_are_sorted_distinct_codes_of_three_letters() {
        assert_eq!(Currency::ACTIVE.len(), 178);
        assert!(Currency::ACTIVE.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            Currency::ACTIVE
                .iter()
                .all(|code| Currency::parse_stored(code.as_str()) == Ok(*code))
        );
        assert!(Currency::ACTIVE.contains(&Currency::USD));
    }

    #[test]
    fn quantity_is_one_to_a_thousand() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(1).is_ok());
        assert!(Quantity::new(1000).is_ok());
        assert!(Quantity::new(1001).is_err());
        assert!(Quantity::new(-3).is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("a-key_1").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("é").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn payment_references_never_hold_card_numbers() {
        assert!(PaymentReference::parse("tok_1Nv0aB2eZvKYlo2C").is_ok());
        assert!(PaymentReference::parse("order 12345678901").is_ok());
        for card in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "tok-5555-5555-5555-4444",
            "378282246310005",
        ] {
            let refused = PaymentReference::parse(card).err().map(|e| e.to_string());
            assert!(
                refused.is_some_and(|message| !message.contains(&card[..4])),
                "{card}"
            );
        }
    }

    #[test]
    fn bounded_text_counts_characters_not_bytes() {
        assert!(Carrier::parse("é".repeat(64)).is_ok());
        assert!(Carrier::parse("é".repeat(65)).is_err());
        assert!(CancellationReason::parse(" ").is_err());
    }

    #[test]
    fn order_ids_parse_only_uuids() {
        assert!(OrderId::parse("0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11").is_ok());
        assert!(OrderId::parse("42").is_err());
        assert!(OrderId::parse("0192F7A0-6C1E-7CC3-9A52-3F5D2F0C7B11").is_ok());
        for other_form in [
            "0192f7a06c1e7cc39a523f5d2f0c7b11",
            "{0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11}",
            "urn:uuid:0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11",
        ] {
            assert!(OrderId::parse(other_form).is_err(), "{other_form}");
        }
    }
}
