//! Validation and normalisation of one entry: [`format`](super::format) types in, the model
//! out, every problem reported.
//!
//! Each check reports and carries on with a placeholder value, so one pass finds everything
//! wrong with a campaign; the campaign is returned only if nothing was reported. Text that is
//! matched against requests is normalised here once (see `model`): domains, bundles, OS,
//! segments and MIME types lower-cased; regions and categories upper-cased, as OpenRTB writes
//! them. Lists are deduplicated, keeping the first occurrence, since a repeat means nothing.

use std::collections::HashSet;
use std::fmt;

use super::format::{
    AdvertiserJson, BudgetJson, CampaignJson, DaypartJson, FlightJson, IncludeExcludeJson,
    PacingJson, SpendOnJson, StatusJson, TargetingJson,
};
use super::rfc3339;
use super::{
    LoadRules, Reporter, BID_CPM_MICROS_MAX, BUDGET_MICROS_MAX, COUNTRIES_PER_CAMPAIGN_MAX,
    DAYPARTS_PER_CAMPAIGN_MAX, DEVICE_TYPES_PER_CAMPAIGN_MAX, FREQUENCY_CAPS_PER_CAMPAIGN_MAX,
    FREQUENCY_CAP_IMPRESSIONS_MAX, FREQUENCY_CAP_WINDOW_S_MAX, ID_BYTES_MAX, MICROS_PER_UNIT,
    NAME_BYTES_MAX, OS_PER_CAMPAIGN_MAX, REGIONS_PER_CAMPAIGN_MAX, TARGETING_LIST_ENTRIES_MAX,
};
use crate::adrequest::CountryCode;
use crate::campaign::model::{
    Advertiser, Budget, Campaign, CampaignStatus, Daypart, FrequencyCap, IncludeExclude, Pacing,
    SpendOn, Targeting,
};
use crate::currency::Currency;

mod creative;
mod values;

use creative::creatives;
use values::{bundle, category, host, os_name, region, segment};

/// AdCOM device types run from 1 (mobile/tablet) to 8 (set-top box).
const DEVICE_TYPES: std::ops::RangeInclusive<i64> = 1..=8;

/// AdCOM creative attributes run from 1 (audio auto-play) to 17 (user-initiated
/// interaction).
const CREATIVE_ATTRIBUTES: std::ops::RangeInclusive<i64> = 1..=17;

/// Lists up to this long are deduplicated by a linear scan (quadratic, but cheaper than
/// hashing for a handful of entries); longer ones through a hash set.
const LINEAR_DEDUPE_ENTRIES_MAX: usize = 16;

/// A creative's field path prefix (`creatives[3]`), formatted only when an issue needs it.
#[derive(Clone, Copy)]
struct CreativePath(usize);

impl fmt::Display for CreativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "creatives[{}]", self.0)
    }
}

/// `creatives[3].markup`, formatted only when an issue needs it.
#[derive(Clone, Copy)]
struct MarkupPath(CreativePath);

impl fmt::Display for MarkupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.markup", self.0)
    }
}

/// Day names of a daypart, in the bit order of `model::Daypart::days` (bit 0 = Monday).
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// What is wrong with an id, if anything. Ids go into responses, logs and tracking tokens, so
/// they are short and free of spaces and control characters.
pub(super) fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("must not be empty".to_owned())
    } else if id.len() > ID_BYTES_MAX {
        Some(format!(
            "is {} bytes long; at most {ID_BYTES_MAX}",
            id.len()
        ))
    } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(format!(
            "{id:?} must not contain spaces or control characters"
        ))
    } else {
        None
    }
}

/// Reports a bad id at `field`; true when the id is fine.
pub(super) fn id(id: &str, field: &dyn fmt::Display, r: &mut Reporter<'_>) -> bool {
    match id_problem(id) {
        Some(reason) => {
            r.report(field, reason);
            false
        }
        None => true,
    }
}

/// The advertiser's id was checked by the caller.
pub(super) fn advertiser(json: AdvertiserJson, r: &mut Reporter<'_>) -> Option<Advertiser> {
    let n_before = r.n_reported;
    id(&json.id, &"id", r);
    if json.name.trim().is_empty() {
        r.report("name", "must not be empty");
    } else if json.name.len() > NAME_BYTES_MAX {
        r.report(
            "name",
            format!(
                "is {} bytes long; at most {NAME_BYTES_MAX}",
                json.name.len()
            ),
        );
    }
    (r.n_reported == n_before).then_some(Advertiser {
        id: json.id,
        name: json.name,
    })
}

/// Money for messages: micro-units as currency units ("2.500000").
fn units(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.unsigned_abs();
    let per_unit = MICROS_PER_UNIT.unsigned_abs();
    format!("{sign}{}.{:06}", micros / per_unit, micros % per_unit)
}

/// The campaign's id was checked by the caller, which decides how issues name the campaign.
pub(super) fn campaign(
    json: CampaignJson,
    rules: &LoadRules<'_>,
    r: &mut Reporter<'_>,
) -> Option<Campaign> {
    let n_before = r.n_reported;
    if json.advertiser.is_empty() {
        r.report("advertiser", "must not be empty");
    }
    let adomain = host(&json.adomain).unwrap_or_else(|reason| {
        r.report("adomain", reason);
        String::new()
    });
    if json.bid_cpm_micros <= 0 {
        r.report(
            "bid_cpm_micros",
            format!(
                "is {}; must be positive (micro-units per thousand impressions: 2500000 bids 2.50)",
                json.bid_cpm_micros
            ),
        );
    } else if json.bid_cpm_micros > BID_CPM_MICROS_MAX {
        r.report(
            "bid_cpm_micros",
            format!(
                "is {} ({} per thousand); at most {BID_CPM_MICROS_MAX} ({}): is it in micro-units?",
                json.bid_cpm_micros,
                units(json.bid_cpm_micros),
                units(BID_CPM_MICROS_MAX)
            ),
        );
    }
    let currency = Currency::parse(&json.currency).unwrap_or_else(|| {
        r.report(
            "currency",
            format!(
                "{:?} must be an ISO-4217 code such as USD or EUR",
                json.currency
            ),
        );
        Currency::USD
    });
    if let Some(currencies) = rules.currencies {
        if Currency::parse(&json.currency).is_some() && !currencies.knows(currency) {
            // The auction compares bids in the base currency: without a rate this campaign is
            // a candidate that can never be priced, silently. Better refused at load.
            r.report(
                "currency",
                format!(
                    "{} has no rate in [currency].rates (base {}): the campaign could never bid",
                    currency.as_str(),
                    currencies.base().as_str()
                ),
            );
        }
    }
    let budget = budget(json.budget.as_ref(), r);
    let (start_unix_s, end_unix_s) = flight(json.flight.as_ref(), r);
    let frequency_caps = frequency_caps(&json.frequency_caps, r);
    let targeting = targeting(json.targeting, r);
    let creatives = creatives(json.creatives, r);
    (r.n_reported == n_before).then_some(Campaign {
        id: json.id,
        advertiser_id: json.advertiser,
        adomain,
        status: match json.status {
            StatusJson::Active => CampaignStatus::Active,
            StatusJson::Paused => CampaignStatus::Paused,
        },
        bid_cpm_micros: json.bid_cpm_micros,
        currency,
        budget,
        start_unix_s,
        end_unix_s,
        pacing: match json.pacing {
            PacingJson::Even => Pacing::Even,
            PacingJson::Asap => Pacing::Asap,
        },
        frequency_caps,
        targeting,
        creatives,
    })
}

fn budget(json: Option<&BudgetJson>, r: &mut Reporter<'_>) -> Budget {
    let Some(json) = json else {
        return Budget {
            total_micros: None,
            daily_micros: None,
            spend_on: SpendOn::Impression,
        };
    };
    for (field, amount) in [
        ("budget.total_micros", json.total_micros),
        ("budget.daily_micros", json.daily_micros),
    ] {
        match amount {
            Some(micros) if micros <= 0 => r.report(
                field,
                format!("is {micros}; must be positive (leave it out for no limit)"),
            ),
            Some(micros) if micros > BUDGET_MICROS_MAX => r.report(
                field,
                format!(
                    "is {micros}; at most {BUDGET_MICROS_MAX} ({})",
                    units(BUDGET_MICROS_MAX)
                ),
            ),
            _ => {}
        }
    }
    if let (Some(total), Some(daily)) = (json.total_micros, json.daily_micros) {
        if daily > total {
            r.report(
                "budget.daily_micros",
                format!("is {daily}, more than budget.total_micros ({total})"),
            );
        }
    }
    Budget {
        total_micros: json.total_micros,
        daily_micros: json.daily_micros,
        spend_on: match json.spend_on {
            SpendOnJson::Impression => SpendOn::Impression,
            SpendOnJson::Win => SpendOn::Win,
        },
    }
}

fn flight(json: Option<&FlightJson>, r: &mut Reporter<'_>) -> (Option<i64>, Option<i64>) {
    let Some(json) = json else {
        return (None, None);
    };
    let mut parse = |field: &str, text: &Option<String>| {
        text.as_deref()
            .and_then(|text| match rfc3339::parse_unix_s(text) {
                Ok(unix_s) => Some(unix_s),
                Err(reason) => {
                    r.report(field, reason);
                    None
                }
            })
    };
    let start_unix_s = parse("flight.start", &json.start);
    let end_unix_s = parse("flight.end", &json.end);
    if let (Some(start), Some(end)) = (start_unix_s, end_unix_s) {
        if start >= end {
            r.report("flight.end", "must be after flight.start");
        }
    }
    (start_unix_s, end_unix_s)
}

fn frequency_caps(
    json: &[super::format::FrequencyCapJson],
    r: &mut Reporter<'_>,
) -> Vec<FrequencyCap> {
    if json.len() > FREQUENCY_CAPS_PER_CAMPAIGN_MAX {
        r.report(
            "frequency_caps",
            format!(
                "has {} caps; at most {FREQUENCY_CAPS_PER_CAMPAIGN_MAX}",
                json.len()
            ),
        );
        return Vec::new();
    }
    let mut caps = Vec::with_capacity(json.len());
    for (cap_idx, cap) in json.iter().enumerate() {
        let max = u32::try_from(cap.max)
            .ok()
            .filter(|max| (1..=FREQUENCY_CAP_IMPRESSIONS_MAX).contains(&i64::from(*max)));
        if max.is_none() {
            r.report(
                format_args!("frequency_caps[{cap_idx}].max"),
                format!(
                    "is {}; must be 1..={FREQUENCY_CAP_IMPRESSIONS_MAX} impressions (0 would never deliver: pause the campaign instead)",
                    cap.max
                ),
            );
        }
        let window_s = u32::try_from(cap.window_s)
            .ok()
            .filter(|window_s| (1..=FREQUENCY_CAP_WINDOW_S_MAX).contains(&i64::from(*window_s)));
        if window_s.is_none() {
            r.report(
                format_args!("frequency_caps[{cap_idx}].window_s"),
                format!(
                    "is {}; must be 1..={FREQUENCY_CAP_WINDOW_S_MAX} seconds (31 days)",
                    cap.window_s
                ),
            );
        }
        if let (Some(max), Some(window_s)) = (max, window_s) {
            caps.push(FrequencyCap { max, window_s });
        }
    }
    caps
}

fn targeting(json: TargetingJson, r: &mut Reporter<'_>) -> Targeting {
    let TargetingJson {
        countries,
        regions,
        device_types,
        os,
        domains,
        bundles,
        categories,
        segments,
        dayparts,
    } = json;
    Targeting {
        countries: country_list(&countries, r),
        regions: text_list(
            &"targeting.regions",
            &regions,
            REGIONS_PER_CAMPAIGN_MAX,
            region,
            r,
        ),
        device_types: device_types_list(&device_types, r),
        os: text_list(&"targeting.os", &os, OS_PER_CAMPAIGN_MAX, os_name, r),
        domains: include_exclude("targeting.domains", &domains, host, r),
        bundles: include_exclude("targeting.bundles", &bundles, bundle, r),
        categories: include_exclude("targeting.categories", &categories, category, r),
        segments: include_exclude("targeting.segments", &segments, segment, r),
        dayparts: daypart_list(&dayparts, r),
    }
}

/// Too many entries: reported once, and the list is not looked at further (a million bad
/// entries would otherwise be a million issues).
fn too_many(field: &dyn fmt::Display, n_entries: usize, max: usize, r: &mut Reporter<'_>) -> bool {
    if n_entries > max {
        r.report(field, format!("has {n_entries} entries; at most {max}"));
        true
    } else {
        false
    }
}

/// Normalises each value, reporting the bad ones by index and dropping repeats.
fn text_list(
    field: &dyn fmt::Display,
    values: &[String],
    max: usize,
    normalise: fn(&str) -> Result<String, String>,
    r: &mut Reporter<'_>,
) -> Vec<String> {
    if values.is_empty() || too_many(field, values.len(), max, r) {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    // Short lists (nearly all) are deduplicated by a scan, which allocates nothing; long ones
    // through a set of the values kept.
    let mut seen: HashSet<String> = HashSet::new();
    for (value_idx, value) in values.iter().enumerate() {
        match normalise(value) {
            Ok(value) => {
                let repeat = if values.len() <= LINEAR_DEDUPE_ENTRIES_MAX {
                    out.contains(&value)
                } else {
                    !seen.insert(value.clone())
                };
                if !repeat {
                    out.push(value);
                }
            }
            Err(reason) => r.report(format_args!("{field}[{value_idx}]"), reason),
        }
    }
    out
}

fn include_exclude(
    field: &str,
    json: &IncludeExcludeJson,
    normalise: fn(&str) -> Result<String, String>,
    r: &mut Reporter<'_>,
) -> IncludeExclude {
    let include = text_list(
        &format_args!("{field}.include"),
        &json.include,
        TARGETING_LIST_ENTRIES_MAX,
        normalise,
        r,
    );
    let exclude = text_list(
        &format_args!("{field}.exclude"),
        &json.exclude,
        TARGETING_LIST_ENTRIES_MAX,
        normalise,
        r,
    );
    // A value in both lists is a contradiction the operator should resolve, not one we
    // should guess at.
    if !include.is_empty() && !exclude.is_empty() {
        let included: HashSet<&str> = include.iter().map(String::as_str).collect();
        for value in exclude
            .iter()
            .filter(|value| included.contains(value.as_str()))
        {
            r.report(
                format_args!("{field}.exclude"),
                format!("{value:?} is also in {field}.include"),
            );
        }
    }
    IncludeExclude { include, exclude }
}

fn country_list(values: &[String], r: &mut Reporter<'_>) -> Vec<CountryCode> {
    const FIELD: &str = "targeting.countries";
    if too_many(&FIELD, values.len(), COUNTRIES_PER_CAMPAIGN_MAX, r) {
        return Vec::new();
    }
    let mut out: Vec<CountryCode> = Vec::with_capacity(values.len());
    for (value_idx, value) in values.iter().enumerate() {
        match CountryCode::parse(value) {
            Some(code) => {
                if !out.contains(&code) {
                    out.push(code);
                }
            }
            None => {
                let hint = if value.len() == 2 {
                    " (OpenRTB geo.country is alpha-3: USA, not US)"
                } else {
                    ""
                };
                r.report(
                    format_args!("{FIELD}[{value_idx}]"),
                    format!("{value:?} must be an ISO-3166-1 alpha-3 country code{hint}"),
                );
            }
        }
    }
    out
}

fn device_types_list(values: &[i64], r: &mut Reporter<'_>) -> Vec<u8> {
    const FIELD: &str = "targeting.device_types";
    if too_many(&FIELD, values.len(), DEVICE_TYPES_PER_CAMPAIGN_MAX, r) {
        return Vec::new();
    }
    let mut out: Vec<u8> = Vec::with_capacity(values.len());
    for (value_idx, &value) in values.iter().enumerate() {
        match u8::try_from(value).ok().filter(|_| DEVICE_TYPES.contains(&value)) {
            Some(device_type) => {
                if !out.contains(&device_type) {
                    out.push(device_type);
                }
            }
            None => r.report(
                format_args!("{FIELD}[{value_idx}]"),
                format!(
                    "is {value}; must be an AdCOM device type 1..=8 (1 mobile/tablet, 2 PC, 3 TV, 4 phone, 5 tablet, 6 connected device, 7 set-top box, 8 out-of-home)"
                ),
            ),
        }
    }
    out
}

fn daypart_list(json: &[DaypartJson], r: &mut Reporter<'_>) -> Vec<Daypart> {
    const FIELD: &str = "targeting.dayparts";
    if too_many(&FIELD, json.len(), DAYPARTS_PER_CAMPAIGN_MAX, r) {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(json.len());
    for (part_idx, part) in json.iter().enumerate() {
        let n_before = r.n_reported;
        let mut days = 0u8;
        if part.days.is_empty() {
            r.report(
                format_args!("{FIELD}[{part_idx}].days"),
                "must name at least one day (mon, tue, wed, thu, fri, sat, sun)",
            );
        }
        if too_many(
            &format_args!("{FIELD}[{part_idx}].days"),
            part.days.len(),
            DAY_NAMES.len(),
            r,
        ) {
            continue;
        }
        for (day_idx, day) in part.days.iter().enumerate() {
            let lower = day.to_ascii_lowercase();
            match DAY_NAMES.iter().position(|name| *name == lower) {
                Some(bit) => days |= 1 << bit,
                None => r.report(
                    format_args!("{FIELD}[{part_idx}].days[{day_idx}]"),
                    format!("{day:?} must be one of mon, tue, wed, thu, fri, sat, sun"),
                ),
            }
        }
        let hour = |value: i64| u8::try_from(value).ok().filter(|hour| *hour <= 24);
        let (start_hour, end_hour) = (hour(part.start_hour), hour(part.end_hour));
        for (name, value, parsed) in [
            ("start_hour", part.start_hour, start_hour),
            ("end_hour", part.end_hour, end_hour),
        ] {
            if parsed.is_none() {
                r.report(
                    format_args!("{FIELD}[{part_idx}].{name}"),
                    format!("is {value}; must be an hour 0..=24 (UTC)"),
                );
            }
        }
        if let (Some(start), Some(end)) = (start_hour, end_hour) {
            if start >= end {
                r.report(
                    format_args!("{FIELD}[{part_idx}].end_hour"),
                    format!(
                        "is {end}; must be after start_hour ({start}); a window across midnight is two dayparts"
                    ),
                );
            }
            if r.n_reported == n_before {
                out.push(Daypart {
                    days,
                    start_hour: start,
                    end_hour: end,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_in_units() {
        assert_eq!(units(2_500_000), "2.500000");
        assert_eq!(units(-1), "-0.000001");
    }
}
