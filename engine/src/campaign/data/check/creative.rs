//! A campaign's creatives: format, size, duration, MIME types, attributes, landing page and
//! markup, each problem reported with the creative's path.

use std::collections::HashMap;

use super::super::format::{CreativeFormatJson, CreativeJson};
use super::super::{
    Reporter, CREATIVES_PER_CAMPAIGN_MAX, CREATIVE_DURATION_S_MAX, CREATIVE_LIST_ENTRIES_MAX,
    CREATIVE_SIDE_PX_MAX, MARKUP_BYTES_MAX,
};
use super::values::{category, landing_page, mime};
use super::{id, text_list, too_many, CreativePath, MarkupPath, CREATIVE_ATTRIBUTES};
use crate::campaign::model::{Creative, CreativeFormat};

pub(super) fn creatives(json: Vec<CreativeJson>, r: &mut Reporter<'_>) -> Vec<Creative> {
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

pub(super) fn format_name(format: CreativeFormatJson) -> &'static str {
    match format {
        CreativeFormatJson::Banner => "banner",
        CreativeFormatJson::Video => "video",
        CreativeFormatJson::Audio => "audio",
        CreativeFormatJson::Native => "native",
    }
}

pub(super) fn creative(
    json: CreativeJson,
    path: CreativePath,
    r: &mut Reporter<'_>,
) -> Option<Creative> {
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
pub(super) fn markup(
    markup: &str,
    format: CreativeFormatJson,
    path: CreativePath,
    r: &mut Reporter<'_>,
) {
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
