//! The OpenRTB substitution macros in a winning external bid's markup, win notice and billing
//! notice: every macro, prices as plain decimals (first and second price), both spellings
//! (`${...}` and URL-encoded), and everything that is not a known macro left exactly as it was.

use adshard::auction::{
    push_decimal_micros, substitute_macros, ExternalBid, MacroValues, SECOND_PRICE_INCREMENT_MICROS,
};
use adshard::currency::Currency;
use adshard::tracking::token::price_micros_from_decimal;
use proptest::prelude::*;

fn values(price_micros: i64) -> MacroValues<'static> {
    MacroValues {
        auction_id: "auction-1",
        bid_id: "bid-9",
        imp_id: "imp-2",
        seat_id: "seat-5",
        ad_id: "ad-7",
        price_micros,
        currency: Currency::parse("EUR").unwrap(),
    }
}

fn substituted(template: &str, price_micros: i64) -> String {
    let mut out = String::new();
    substitute_macros(template, &values(price_micros), &mut out);
    out
}

/// Rows of (template, expected) at a price of 1.5.
fn check(rows: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (template, expected) in rows {
        let got = substituted(template, 1_500_000);
        if got != *expected {
            failures.push(format!("{template:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_macro_is_substituted() {
    check(&[
        ("${AUCTION_PRICE}", "1.5"),
        ("${AUCTION_ID}", "auction-1"),
        ("${AUCTION_BID_ID}", "bid-9"),
        ("${AUCTION_IMP_ID}", "imp-2"),
        ("${AUCTION_SEAT_ID}", "seat-5"),
        ("${AUCTION_AD_ID}", "ad-7"),
        ("${AUCTION_CURRENCY}", "EUR"),
        (
            "https://dsp.example/win?a=${AUCTION_ID}&b=${AUCTION_BID_ID}&i=${AUCTION_IMP_ID}\
             &s=${AUCTION_SEAT_ID}&ad=${AUCTION_AD_ID}&p=${AUCTION_PRICE}&c=${AUCTION_CURRENCY}",
            "https://dsp.example/win?a=auction-1&b=bid-9&i=imp-2&s=seat-5&ad=ad-7&p=1.5&c=EUR",
        ),
    ]);
}

#[test]
fn prices_are_plain_decimals() {
    let rows = [
        (1_500_000, "1.5"),
        (10_000, "0.01"),
        (1_234_567_891, "1234.567891"),
        (2_000_000, "2"),
        (1_230_000, "1.23"),
        (1, "0.000001"),
        (100_000_000, "100"),
        (0, "0"),
        (999_999_999_999, "999999.999999"),
        (1_000_000_000_000, "1000000"),
    ];
    for (micros, expected) in rows {
        assert_eq!(
            substituted("${AUCTION_PRICE}", micros),
            expected,
            "{micros}"
        );
    }
}

#[test]
fn first_and_second_price_clearing_prices() {
    // First price: the winner pays its bid.
    let bid_micros = 2_345_000;
    assert_eq!(substituted("p=${AUCTION_PRICE}", bid_micros), "p=2.345");
    // Second price: the runner-up's bid plus the minimum increment.
    let runner_up_micros = 1_200_000;
    let clearing = runner_up_micros + SECOND_PRICE_INCREMENT_MICROS;
    assert_eq!(substituted("p=${AUCTION_PRICE}", clearing), "p=1.21");
}

#[test]
fn unknown_macros_and_near_misses_are_left_untouched() {
    check(&[
        ("${AUCTION_LOSS}", "${AUCTION_LOSS}"),
        ("${AUCTION_MBR}", "${AUCTION_MBR}"),
        ("${AUCTION_MIN_TO_WIN}", "${AUCTION_MIN_TO_WIN}"),
        ("${DSP_OWN_MACRO}", "${DSP_OWN_MACRO}"),
        ("${auction_price}", "${auction_price}"),
        ("${ AUCTION_PRICE}", "${ AUCTION_PRICE}"),
        ("${AUCTION_PRICE", "${AUCTION_PRICE"),
        ("$AUCTION_PRICE", "$AUCTION_PRICE"),
        ("{AUCTION_PRICE}", "{AUCTION_PRICE}"),
        ("${}", "${}"),
        ("$", "$"),
        ("%", "%"),
        ("%24%7BAUCTION_PRICE", "%24%7BAUCTION_PRICE"),
        ("%24%7BAUCTION_LOSS%7D", "%24%7BAUCTION_LOSS%7D"),
        // A near miss right before a real macro does not hide it.
        ("$${AUCTION_PRICE}", "$1.5"),
        ("${${AUCTION_PRICE}}", "${1.5}"),
        ("%24%24%7BAUCTION_PRICE%7D", "%241.5"),
    ]);
}

#[test]
fn url_encoded_macros_are_substituted() {
    check(&[
        ("%24%7BAUCTION_PRICE%7D", "1.5"),
        ("%24%7bAUCTION_PRICE%7d", "1.5"),
        (
            "https://exchange.example/r?u=https%3A%2F%2Fdsp.example%2Fwin%3Fp%3D%24%7BAUCTION_PRICE%7D%26c%3D%24%7BAUCTION_CURRENCY%7D",
            "https://exchange.example/r?u=https%3A%2F%2Fdsp.example%2Fwin%3Fp%3D1.5%26c%3DEUR",
        ),
    ]);
}

#[test]
fn templates_without_macros_are_unchanged() {
    check(&[
        ("", ""),
        (
            "https://dsp.example/win?id=1",
            "https://dsp.example/win?id=1",
        ),
        (
            "<div style=\"width:100%\">€ 5 $ off ✓ 50%</div>",
            "<div style=\"width:100%\">€ 5 $ off ✓ 50%</div>",
        ),
    ]);
}

#[test]
fn macros_at_the_start_the_end_and_repeated() {
    check(&[
        ("${AUCTION_PRICE}&x=1", "1.5&x=1"),
        ("x=1&p=${AUCTION_PRICE}", "x=1&p=1.5"),
        ("${AUCTION_PRICE}${AUCTION_PRICE}", "1.51.5"),
        (
            "a=${AUCTION_ID}&b=${AUCTION_ID}&c=${AUCTION_ID}",
            "a=auction-1&b=auction-1&c=auction-1",
        ),
        ("${AUCTION_ID}${AUCTION_CURRENCY}", "auction-1EUR"),
    ]);
}

#[test]
fn output_is_appended_to() {
    let mut out = String::from("nurl=");
    substitute_macros("${AUCTION_PRICE}", &values(10_000), &mut out);
    assert_eq!(out, "nurl=0.01");
}

#[test]
fn bid_macro_values_use_the_bidders_currency_and_response_bid_id() {
    let bid = ExternalBid {
        bid_id: "b1".into(),
        response_bid_id: "resp-1".into(),
        imp_id: "imp-1".into(),
        seat: "seat-1".into(),
        adid: "ad-1".into(),
        bid_currency: Currency::parse("GBP").unwrap(),
        ..ExternalBid::default()
    };
    let mut out = String::new();
    substitute_macros(
        "${AUCTION_ID}/${AUCTION_BID_ID}/${AUCTION_IMP_ID}/${AUCTION_SEAT_ID}/${AUCTION_AD_ID}/${AUCTION_PRICE}/${AUCTION_CURRENCY}",
        &bid.macro_values("req-1", 790_000),
        &mut out,
    );
    assert_eq!(out, "req-1/resp-1/imp-1/seat-1/ad-1/0.79/GBP");
}

proptest! {
    #[test]
    fn price_text_reads_back_as_the_same_micros(micros in 0i64..=1_000_000_000_000_000) {
        let mut text = String::new();
        push_decimal_micros(&mut text, micros);
        prop_assert!(!text.contains(['e', 'E']), "{}", text);
        prop_assert!(!text.contains('.') || !text.ends_with('0'), "{}", text);
        prop_assert_eq!(price_micros_from_decimal(&text), Some(micros), "{}", text);
    }

    #[test]
    fn text_without_dollar_or_percent_is_copied_unchanged(template in "[^$%]{0,64}") {
        prop_assert_eq!(substituted(&template, 1_500_000), template);
    }

    #[test]
    fn any_template_is_handled_without_panic(template in ".{0,64}", price in any::<i64>()) {
        let mut out = String::new();
        substitute_macros(&template, &values(price), &mut out);
        // Substitution only replaces whole macros: with no known name in it, nothing changes.
        if !template.contains("AUCTION_") {
            prop_assert_eq!(out, template);
        }
    }

    #[test]
    fn macros_mixed_into_any_text_are_all_substituted(
        parts in prop::collection::vec("[a-z0-9 %$&=/{}]{0,8}", 1..6),
    ) {
        let template = parts.join("${AUCTION_PRICE}");
        let expected = parts.join("1.5");
        // Parts hold no capital letter, so none can complete or extend a macro name, however
        // its `$`, `%` and braces fall around the macros.
        prop_assert_eq!(substituted(&template, 1_500_000), expected);
    }
}
