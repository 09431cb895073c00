//! Currency conversion for floors and bids, in integer micro-units.
//!
//! Rates come from the config as "units of X per one unit of the base currency" and are held
//! as parts-per-million integers, so converting money never goes through a float. A currency
//! without a rate converts to `None`, and the caller does not bid: a guessed rate could bid
//! under the floor or pay far over it.
//!
//! [`Currency`], the code itself, lives here too: requests, campaigns, bids and tracking tokens
//! all carry one, and this is the module below all of them that gives it meaning.

use std::fmt;

use serde::Deserialize;

/// One unit of a rate, in parts per million.
const PPM: i128 = 1_000_000;
/// Currencies a table holds; a config lists a handful.
pub const CURRENCIES_MAX: usize = 256;

/// Three upper-case ASCII letters, as ISO-4217 currencies and ISO-3166-1 alpha-3 countries are.
pub(crate) fn alpha3(text: &str) -> Option<[u8; 3]> {
    match *text.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => Some([
            a.to_ascii_uppercase(),
            b.to_ascii_uppercase(),
            c.to_ascii_uppercase(),
        ]),
        _ => None,
    }
}

pub(crate) fn alpha3_str(code: &[u8; 3]) -> &str {
    // Only `alpha3` builds these, from ASCII letters.
    std::str::from_utf8(code).unwrap_or("???")
}

/// An ISO-4217 currency code. Lower-case input is accepted and stored upper-case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The OpenRTB default for `bidfloorcur` and `cur`.
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Option<Currency> {
        alpha3(code).map(Currency)
    }

    pub fn as_str(&self) -> &str {
        alpha3_str(&self.0)
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::USD
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exchange rates for floors and bids in other currencies (`[currency]`). A floor or bid in a
/// currency without a rate gets no bid: guessing a rate could pay far over the floor or under it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CurrencyConfig {
    /// The currency the auction compares in.
    pub base: String,
    /// Units of each currency per one unit of `base`, e.g. `EUR = 0.92`. Stored as
    /// parts-per-million integers after loading (money stays integer).
    pub rates: std::collections::BTreeMap<String, f64>,
}

impl Default for CurrencyConfig {
    fn default() -> Self {
        let rates = [("EUR", 0.92), ("GBP", 0.79), ("JPY", 150.0), ("CAD", 1.36)]
            .into_iter()
            .map(|(code, rate)| (code.to_string(), rate))
            .collect();
        CurrencyConfig {
            base: "USD".into(),
            rates,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CurrencyTable {
    base: Currency,
    /// (currency, units per one base unit in ppm); the base itself is 1_000_000. Small and
    /// scanned linearly: faster than hashing three bytes for a dozen entries.
    rates_ppm: Vec<(Currency, i64)>,
}

impl CurrencyTable {
    /// Builds the table from a validated config (invalid entries were refused by validation and
    /// are skipped here).
    pub fn from_config(config: &CurrencyConfig) -> CurrencyTable {
        let base = Currency::parse(&config.base).unwrap_or(Currency::USD);
        let mut rates_ppm = vec![(base, PPM as i64)];
        for (code, rate) in config.rates.iter().take(CURRENCIES_MAX - 1) {
            let Some(currency) = Currency::parse(code) else {
                continue;
            };
            if currency == base || !(rate.is_finite() && *rate > 0.0) {
                continue;
            }
            // Rounded once at load; the only float in the money path, and it is not money.
            rates_ppm.push((currency, (rate * 1e6).round() as i64));
        }
        CurrencyTable { base, rates_ppm }
    }

    pub fn base(&self) -> Currency {
        self.base
    }

    fn rate_ppm(&self, currency: Currency) -> Option<i64> {
        self.rates_ppm
            .iter()
            .find(|(c, _)| *c == currency)
            .map(|(_, r)| *r)
    }

    pub fn knows(&self, currency: Currency) -> bool {
        self.rate_ppm(currency).is_some()
    }

    /// Converts `amount_micros` of `from` into `to`, rounding half away from zero. `None` when
    /// either currency has no rate or the result overflows.
    pub fn convert(&self, amount_micros: i64, from: Currency, to: Currency) -> Option<i64> {
        if from == to {
            return Some(amount_micros);
        }
        let from_ppm = i128::from(self.rate_ppm(from)?);
        let to_ppm = i128::from(self.rate_ppm(to)?);
        let numerator = i128::from(amount_micros) * to_ppm;
        let half = from_ppm / 2;
        let rounded = if numerator >= 0 {
            (numerator + half) / from_ppm
        } else {
            (numerator - half) / from_ppm
        };
        i64::try_from(rounded).ok()
    }

    /// Converts into the base currency.
    pub fn to_base(&self, amount_micros: i64, from: Currency) -> Option<i64> {
        self.convert(amount_micros, from, self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CurrencyTable {
        CurrencyTable::from_config(&CurrencyConfig::default())
    }

    #[test]
    fn converts_through_rates() {
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let table = table();
        assert_eq!(table.to_base(920_000, eur), Some(1_000_000));
        assert_eq!(table.convert(1_000_000, Currency::USD, eur), Some(920_000));
        assert_eq!(table.convert(1_000_000, eur, jpy), Some(163_043_478));
        assert_eq!(table.convert(5, Currency::USD, Currency::USD), Some(5));
    }

    #[test]
    fn unknown_currency_has_no_conversion() {
        let xyz = Currency::parse("XYZ").unwrap();
        assert_eq!(table().to_base(1, xyz), None);
        assert!(!table().knows(xyz));
    }
}
