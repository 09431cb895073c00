//! What one event costs in the campaign's currency, and which reported price is believed.

use super::*;

#[test]
fn one_event_costs_a_thousandth_of_the_cpm_in_the_campaign_currency() {
    let currencies = currencies();
    let usd = Currency::USD;
    let eur = currency("EUR");
    let xyz = currency("XYZ");
    let cases = [
        ("same currency", 2_500_000, usd, usd, Some(2_500)),
        (
            "a thousandth is cut, not rounded",
            2_500_999,
            usd,
            usd,
            Some(2_500),
        ),
        (
            "under a thousand micros costs nothing",
            999,
            usd,
            usd,
            Some(0),
        ),
        ("USD into EUR at 0.92", 1_000_000, usd, eur, Some(920)),
        (
            "EUR into USD rounds half away",
            1_000_000,
            eur,
            usd,
            Some(1_087),
        ),
        ("a bid currency without a rate", 1_000_000, xyz, usd, None),
        (
            "a campaign currency without a rate",
            1_000_000,
            usd,
            xyz,
            None,
        ),
    ];
    for (name, price_cpm_micros, from, to, expect) in cases {
        assert_eq!(
            per_event_micros(&currencies, price_cpm_micros, from, to),
            expect,
            "{name}"
        );
    }
}

#[test]
fn spend_is_the_reported_price_only_when_it_is_no_higher_than_the_signed_one() {
    let currencies = currencies();
    let usd = Currency::USD;
    let eur = currency("EUR");
    let xyz = currency("XYZ");
    let signed = 2_000_000;
    let cases = [
        ("a lower clearing price", 1_500_000, usd, 1_500),
        ("the clearing price equal to ours", 2_000_000, usd, 2_000),
        ("a clearing price of zero is not believed", 0, usd, 2_000),
        ("a price over ours is not believed", 2_000_001, usd, 2_000),
        ("a negative price is not believed", -1, usd, 2_000),
        (
            "converted into the campaign's currency",
            1_500_000,
            eur,
            1_380,
        ),
        ("no rate: nothing can be charged", 1_500_000, xyz, 0),
    ];
    for (name, clearing, campaign_currency, expect) in cases {
        assert_eq!(
            spend_micros(&currencies, signed, clearing, usd, campaign_currency),
            expect,
            "{name}"
        );
    }
}
