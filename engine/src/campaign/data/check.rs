//! Validation and normalisation of one entry: [`format`](super::format) types in, the model
//! out, every problem reported.
//!
//! Each check reports and carries on with a placeholder value, so one pass finds everything
//! wrong with a campaign; the campaign is returned only if nothing was reported. Text that is
//! matched against requests is normalised here once (see `model`): domains, bundles, OS,
//! segments and MIME types lower-cased; regions and categories upper-cased, as OpenRTB writes
//! them. Lists are deduplicated, keeping the first occurrence, since a repeat means nothing.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::format::{
    AdvertiserJson, BudgetJson, CampaignJson, CreativeFormatJson, CreativeJson, DaypartJson,
    FlightJson, IncludeExcludeJson, PacingJson, SpendOnJson, StatusJson, TargetingJson,
};
use super::rfc3339;
use super::{
    LoadRules, Reporter, BID_CPM_MICROS_MAX, BUDGET_MICROS_MAX, COUNTRIES_PER_CAMPAIGN_MAX,
    CREATIVES_PER_CAMPAIGN_MAX, CREATIVE_DURATION_S_MAX, CREATIVE_LIST_ENTRIES_MAX,
    CREATIVE_SIDE_PX_MAX, DAYPARTS_PER_CAMPAIGN_MAX, DEVICE_TYPES_PER_CAMPAIGN_MAX,
    FREQUENCY_CAPS_PER_CAMPAIGN_MAX, FREQUENCY_CAP_IMPRESSIONS_MAX, FREQUENCY_CAP_WINDOW_S_MAX,
    HOST_BYTES_MAX, ID_BYTES_MAX, MARKUP_BYTES_MAX, MICROS_PER_UNIT, NAME_BYTES_MAX,
    OS_PER_CAMPAIGN_MAX, REGIONS_PER_CAMPAIGN_MAX, TARGETING_LIST_ENTRIES_MAX, URL_BYTES_MAX,
    VALUE_BYTES_MAX,
};
use crate::adrequest::CountryCode;
use crate::campaign::model::{
    Advertiser, Budget, Campaign, CampaignStatus, Creative, CreativeFormat, Daypart, FrequencyCap,
    IncludeExclude, Pacing, SpendOn, Targeting,
};
use crate::currency::Currency;

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

fn creatives(json: Vec<CreativeJson>, r: &mut Reporter<'_>) -> Vec<Creative> {
    if json.is_empty() {
        r.report(
            "creatives",
            "must have at least one creative: a campaign without one can never bid",
        );
        return Vec::new();
    }
    if too_many(&"creatives", json.len(), CREATIVES_PER_CAMPAIGN_MAX, r) {
        return Vec::new();
    }
    let mut first_idx_by_id: HashMap<String, usize> = HashMap::with_capacity(json.len());
    let mut out = Vec::with_capacity(json.len());
    for (creative_idx, creative_json) in json.into_iter().enumerate() {
        let path = CreativePath(creative_idx);
        if let Some(&first_idx) = first_idx_by_id.get(&creative_json.id) {
            r.report(
                format_args!("{path}.id"),
                format!(
                    "duplicate creative id {:?}; first used by creatives[{first_idx}]",
                    creative_json.id
                ),
            );
        } else {
            first_idx_by_id.insert(creative_json.id.clone(), creative_idx);
        }
        if let Some(creative) = creative(creative_json, path, r) {
            out.push(creative);
        }
    }
    out
}

fn format_name(format: CreativeFormatJson) -> &'static str {
    match format {
        CreativeFormatJson::Banner => "banner",
        CreativeFormatJson::Video => "video",
        CreativeFormatJson::Audio => "audio",
        CreativeFormatJson::Native => "native",
    }
}

fn creative(json: CreativeJson, path: CreativePath, r: &mut Reporter<'_>) -> Option<Creative> {
    let n_before = r.n_reported;
    let kind = format_name(json.format);
    id(&json.id, &format_args!("{path}.id"), r);
    let is_media = matches!(
        json.format,
        CreativeFormatJson::Video | CreativeFormatJson::Audio
    );

    // Size: a banner has one; a video may give its frame (both or neither); others have none.
    let mut side = |name: &str, value: i64| -> u32 {
        let field = format!("{path}.{name}");
        if value > CREATIVE_SIDE_PX_MAX {
            r.report(
                field,
                format!("is {value}; at most {CREATIVE_SIDE_PX_MAX} pixels"),
            );
            return 0;
        }
        match json.format {
            CreativeFormatJson::Banner if value <= 0 => {
                r.report(field, format!("is {value}; must be positive for a banner"))
            }
            CreativeFormatJson::Video if value < 0 => r.report(
                field,
                format!("is {value}; must not be negative (leave it out for any player size)"),
            ),
            CreativeFormatJson::Audio | CreativeFormatJson::Native if value != 0 => r.report(
                field,
                format!(
                    "must be left out for a{} {kind} creative: only banners and video have a size",
                    if kind == "audio" { "n" } else { "" }
                ),
            ),
            _ => {}
        }
        u32::try_from(value).unwrap_or(0)
    };
    let w = side("w", json.w);
    let h = side("h", json.h);
    if json.format == CreativeFormatJson::Video && (w == 0) != (h == 0) {
        r.report(
            format_args!("{path}.{}", if w == 0 { "w" } else { "h" }),
            "must be given with the other side, or both left out",
        );
    }

    markup(&json.markup, json.format, path, r);

    let mimes = text_list(
        &format_args!("{path}.mimes"),
        &json.mimes,
        CREATIVE_LIST_ENTRIES_MAX,
        mime,
        r,
    );
    if is_media && json.mimes.is_empty() {
        r.report(
            format_args!("{path}.mimes"),
            format!("must list the MIME types of the {kind} files (e.g. video/mp4) for a {kind} creative"),
        );
    }
    if json.format == CreativeFormatJson::Native && !json.mimes.is_empty() {
        r.report(
            format_args!("{path}.mimes"),
            "must be left out for a native creative",
        );
    }

    let duration_s = if is_media {
        if json.duration_s <= 0 || json.duration_s > CREATIVE_DURATION_S_MAX {
            r.report(
                format_args!("{path}.duration_s"),
                format!(
                    "is {}; must be 1..={CREATIVE_DURATION_S_MAX} seconds for a{} {kind} creative",
                    json.duration_s,
                    if kind == "audio" { "n" } else { "" }
                ),
            );
        }
        u32::try_from(json.duration_s).unwrap_or(0)
    } else {
        if json.duration_s != 0 {
            r.report(
                format_args!("{path}.duration_s"),
                format!("must be left out for a {kind} creative"),
            );
        }
        0
    };

    let categories = text_list(
        &format_args!("{path}.categories"),
        &json.categories,
        CREATIVE_LIST_ENTRIES_MAX,
        category,
        r,
    );

    let mut attributes: Vec<u16> = Vec::with_capacity(json.attributes.len());
    if !too_many(
        &format_args!("{path}.attributes"),
        json.attributes.len(),
        CREATIVE_LIST_ENTRIES_MAX,
        r,
    ) {
        for (attribute_idx, &value) in json.attributes.iter().enumerate() {
            match u16::try_from(value)
                .ok()
                .filter(|_| CREATIVE_ATTRIBUTES.contains(&value))
            {
                Some(attribute) => {
                    if !attributes.contains(&attribute) {
                        attributes.push(attribute);
                    }
                }
                None => r.report(
                    format_args!("{path}.attributes[{attribute_idx}]"),
                    format!("is {value}; must be an AdCOM creative attribute 1..=17"),
                ),
            }
        }
    }

    if let Err(reason) = landing_page(&json.landing_page) {
        r.report(format_args!("{path}.landing_page"), reason);
    }

    (r.n_reported == n_before).then_some(Creative {
        id: json.id,
        format: match json.format {
            CreativeFormatJson::Banner => CreativeFormat::Banner,
            CreativeFormatJson::Video => CreativeFormat::Video,
            CreativeFormatJson::Audio => CreativeFormat::Audio,
            CreativeFormatJson::Native => CreativeFormat::Native,
        },
        w,
        h,
        markup: json.markup,
        mimes,
        duration_s,
        categories,
        attributes,
        landing_page: json.landing_page,
        secure: json.secure,
    })
}

/// Markup must be there and fit; for video and audio it must be VAST, for native a JSON
/// object (the Native response), since a player or SDK given anything else fails after we
/// have already won and been charged.
fn markup(markup: &str, format: CreativeFormatJson, path: CreativePath, r: &mut Reporter<'_>) {
    let field = MarkupPath(path);
    if markup.trim().is_empty() {
        r.report(field, "must not be empty");
        return;
    }
    if markup.len() > MARKUP_BYTES_MAX {
        r.report(
            field,
            format!("is {} bytes; at most {MARKUP_BYTES_MAX}", markup.len()),
        );
        return;
    }
    match format {
        CreativeFormatJson::Video | CreativeFormatJson::Audio if !markup.contains("<VAST") => r
            .report(
                field,
                format!(
                    "must be a VAST document (<VAST ...>) for a{} {} creative",
                    if format == CreativeFormatJson::Audio {
                        "n"
                    } else {
                        ""
                    },
                    format_name(format)
                ),
            ),
        CreativeFormatJson::Native => {
            if let Err(error) =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(markup)
            {
                r.report(
                    field,
                    format!("must be a Native response JSON object for a native creative: {error}"),
                );
            }
        }
        _ => {}
    }
}

/// A value matched against request text: present, bounded, no control characters and no
/// surrounding spaces (which would never match).
fn plain_value(value: &str) -> Result<&str, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else if value.len() > VALUE_BYTES_MAX {
        Err(format!(
            "is {} bytes long; at most {VALUE_BYTES_MAX}",
            value.len()
        ))
    } else if value.chars().any(char::is_control) || value.trim() != value {
        Err(format!(
            "{value:?} must not have control characters or surrounding spaces"
        ))
    } else {
        Ok(value)
    }
}

/// A host name as exchanges send `site.domain` and `badv`: kept exactly (a leading "www." is a
/// different host), lower-cased.
fn host(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > HOST_BYTES_MAX {
        return Err(format!(
            "is {} bytes long; at most {HOST_BYTES_MAX}",
            value.len()
        ));
    }
    if value.contains('/') || value.contains(char::is_whitespace) {
        return Err(format!(
            "{value:?} must be a host name such as example.com: no scheme, path or spaces"
        ));
    }
    if value.starts_with("*.") {
        return Err(format!(
            "{value:?} needs no wildcard: a domain already matches its subdomains"
        ));
    }
    if !value.is_ascii() {
        return Err(format!(
            "{value:?} must be ASCII: write an internationalised name in its xn-- form"
        ));
    }
    let lower = value.to_ascii_lowercase();
    if !lower
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!(
            "{value:?} is not a host name (letters, digits, '-' and '.'; no port)"
        ));
    }
    if lower.starts_with('.') || lower.ends_with('.') || lower.contains("..") {
        return Err(format!("{value:?} has an empty label"));
    }
    Ok(lower)
}

fn bundle(value: &str) -> Result<String, String> {
    let value = plain_value(value)?;
    if value.contains(char::is_whitespace) {
        return Err(format!(
            "{value:?} must not contain spaces (an app bundle or store id)"
        ));
    }
    Ok(value.to_lowercase())
}

fn os_name(value: &str) -> Result<String, String> {
    plain_value(value).map(str::to_lowercase)
}

fn segment(value: &str) -> Result<String, String> {
    plain_value(value).map(str::to_lowercase)
}

/// Letters, digits and '-' only: region codes ("CA", "US-CA") and IAB categories ("IAB3-1").
fn code(value: &str, what: &str) -> Result<String, String> {
    let value = plain_value(value)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!(
            "{value:?} must be {what}: letters, digits and '-' only"
        ));
    }
    Ok(value.to_ascii_uppercase())
}

fn region(value: &str) -> Result<String, String> {
    code(value, "a region code such as CA (ISO-3166-2 subdivision)")
}

fn category(value: &str) -> Result<String, String> {
    code(value, "an IAB category such as IAB3 or IAB3-1")
}

fn mime(value: &str) -> Result<String, String> {
    let value = plain_value(value)?;
    let valid = match value.split_once('/') {
        Some((kind, subtype)) => {
            !kind.is_empty()
                && !subtype.is_empty()
                && !subtype.contains('/')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!("{value:?} must be a MIME type such as video/mp4"))
    }
}

/// An absolute http(s) URL with a host: the click redirect goes there.
fn landing_page(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > URL_BYTES_MAX {
        return Err(format!(
            "is {} bytes long; at most {URL_BYTES_MAX}",
            value.len()
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{value:?} must not contain spaces (percent-encode them as %20)"
        ));
    }
    let lower_prefix = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let rest = if lower_prefix.starts_with("https://") {
        value.get(8..)
    } else if lower_prefix.starts_with("http://") {
        value.get(7..)
    } else {
        None
    };
    let Some(rest) = rest else {
        return Err(format!("{value:?} must be an http:// or https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{value:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host("News.Example.COM"), Ok("news.example.com".to_owned()));
        assert_eq!(host("www.foobar.com"), Ok("www.foobar.com".to_owned()));
        for bad in [
            "",
            "http://example.com",
            "example.com/path",
            "exa mple.com",
            "*.example.com",
            "example.com:8080",
            ".example.com",
            "example..com",
            "bücher.de",
        ] {
            assert!(host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn landing_pages() {
        for good in [
            "https://example.com",
            "HTTP://example.com/a?b=c#d",
            "https://user@example.com:8443/x",
        ] {
            assert_eq!(landing_page(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "javascript:alert(1)",
        ] {
            assert!(landing_page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(mime("Video/MP4"), Ok("video/mp4".to_owned()));
        assert!(mime("video").is_err());
        assert!(mime("video/mp4/x").is_err());
        assert_eq!(category("iab3-1"), Ok("IAB3-1".to_owned()));
        assert!(category("IAB 3").is_err());
        assert_eq!(os_name("OS X"), Ok("os x".to_owned()));
        assert!(os_name(" ios").is_err());
        assert_eq!(bundle("Com.Example.App"), Ok("com.example.app".to_owned()));
        assert!(bundle("com example").is_err());
        assert_eq!(region("ca"), Ok("CA".to_owned()));
        assert_eq!(units(2_500_000), "2.500000");
        assert_eq!(units(-1), "-0.000001");
    }
}
