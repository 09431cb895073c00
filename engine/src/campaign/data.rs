//! Loading campaign data files: JSON in, the validated [`CampaignData`] model out, or every
//! problem found, each naming its file, campaign and field.
//!
//! The file format is [`format`] (an example is in its module doc). Loading one file goes:
//! 1. serde reads the file as a whole with every entry skipped, which catches syntax errors
//!    and a wrong top-level shape, with line, column and field path;
//! 2. `spans` finds each advertiser and campaign entry in the text, and each is deserialized
//!    on its own, so one entry's type error does not hide another's;
//! 3. `check` validates and normalises each entry into the model, reporting every problem.
//!
//! Then the files are merged: ids must be unique across all of them, and every campaign's
//! advertiser must exist in one of them. Nothing of a load is used unless all of it is valid:
//! a reload with one bad campaign keeps the old data serving (design §4) rather than serving
//! a partial set.
//!
//! This is control-plane code: it allocates freely, but every input size is bounded by a
//! named limit below, and nothing in a file can make it panic.

mod check;
pub mod format;
pub mod rfc3339;
mod spans;

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::model::{Advertiser, Campaign, CampaignData};
use crate::currency::CurrencyTable;
use format::{AdvertiserJson, CampaignJson};

/// One micro-unit is a millionth of a currency unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Campaigns over all files of one load. The index and every shard's copy of the catalog scale
/// with it; a million is far above what one ad server instance decides among, and bounds the
/// memory a load can take.
pub const CAMPAIGNS_PER_LOAD_MAX: usize = 1_000_000;

/// Advertisers over all files of one load: several campaigns per advertiser is the rule.
pub const ADVERTISERS_PER_LOAD_MAX: usize = 100_000;

/// Bytes of one data file. A million campaigns with targeting lists take about a gigabyte;
/// the limit keeps a wrong path (a log file, a disk image) from being read into memory.
pub const FILE_BYTES_MAX: u64 = 2 << 30;

/// Issues kept per load. Past this many the operator has a systematic problem, and the rest
/// would only make the message unreadable; the count of omitted issues is still reported.
pub const ISSUES_MAX: usize = 1_000;

/// Bytes of an advertiser, campaign or creative id. Ids travel in every bid response and
/// tracking token, so they must stay short.
pub const ID_BYTES_MAX: usize = 128;

/// Bytes of an advertiser name (shown in stats only).
pub const NAME_BYTES_MAX: usize = 256;

/// The largest bid, in micro-units per thousand impressions: 100 000 currency units. Real
/// CPMs are 0.10 to 100 USD; the ceiling leaves room for currencies worth a thousandth of a
/// dollar (KRW, IDR) while catching a bid typed in micro-micros, which would otherwise spend
/// a budget in a few impressions.
pub const BID_CPM_MICROS_MAX: i64 = 100_000 * MICROS_PER_UNIT;

/// The largest total or daily budget: a billion currency units. Sums of spend over every shard
/// and day stay far inside `i64` (9.2e18 micro-units).
pub const BUDGET_MICROS_MAX: i64 = 1_000_000_000 * MICROS_PER_UNIT;

/// Frequency caps per campaign: a handful of windows (hour, day, week) is what campaigns use;
/// each cap is a counter per user on the request path.
pub const FREQUENCY_CAPS_PER_CAMPAIGN_MAX: usize = 8;

/// The largest `max` of a frequency cap: far above any meaningful cap, and well inside the
/// `u32` counters.
pub const FREQUENCY_CAP_IMPRESSIONS_MAX: i64 = 1_000_000;

/// The longest frequency cap window: 31 days. Cap state is kept per user for the window, so
/// the window bounds how long it is held.
pub const FREQUENCY_CAP_WINDOW_S_MAX: i64 = 31 * 86_400;

/// Creatives per campaign: rotation sets are tens at most; every creative is checked against
/// every impression the campaign is a candidate for.
pub const CREATIVES_PER_CAMPAIGN_MAX: usize = 100;

/// Entries of each include or exclude list (domains, bundles, categories, segments). Large
/// site lists belong in the advertiser requirements (millions of entries, `requirements`); a
/// campaign's own lists are index keys, one posting per entry.
pub const TARGETING_LIST_ENTRIES_MAX: usize = 100_000;

/// Countries per campaign: ISO-3166-1 has 249.
pub const COUNTRIES_PER_CAMPAIGN_MAX: usize = 256;

/// Regions per campaign: enough for every subdivision of several large countries.
pub const REGIONS_PER_CAMPAIGN_MAX: usize = 5_000;

/// Device types per campaign: AdCOM defines eight, each listed once at most.
pub const DEVICE_TYPES_PER_CAMPAIGN_MAX: usize = 8;

/// Operating systems per campaign: there are a few dozen in use.
pub const OS_PER_CAMPAIGN_MAX: usize = 64;

/// Dayparts per campaign: one per hour of the week is the most that can mean anything.
pub const DAYPARTS_PER_CAMPAIGN_MAX: usize = 7 * 24;

/// Entries of a creative's `mimes`, `categories` and `attributes` lists each: a creative has a
/// handful; the auction checks each against the request's lists.
pub const CREATIVE_LIST_ENTRIES_MAX: usize = 64;

/// Largest creative width or height in pixels: above any screen, below nonsense.
pub const CREATIVE_SIDE_PX_MAX: i64 = 16_384;

/// Longest video or audio creative: an hour. Ads run seconds to minutes; long-form sponsor
/// content stays under this.
pub const CREATIVE_DURATION_S_MAX: i64 = 3_600;

/// Bytes of a creative's markup. It is copied into every winning bid response; real tags and
/// VAST documents take a few kilobytes.
pub const MARKUP_BYTES_MAX: usize = 64 * 1024;

/// Bytes of a landing page URL: the de facto limit browsers and ad servers honour.
pub const URL_BYTES_MAX: usize = 2_048;

/// Bytes of a host name (DNS limit).
pub const HOST_BYTES_MAX: usize = 253;

/// Bytes of any other targeting or creative value (bundle, OS, region, category, segment,
/// MIME type).
pub const VALUE_BYTES_MAX: usize = 256;

// The most a campaign can bid must be a floor a request can carry, or the ceiling means nothing.
const _: () = assert!(
    BID_CPM_MICROS_MAX <= crate::adrequest::BIDFLOOR_MAX as i64 * MICROS_PER_UNIT,
    "bid ceiling above the largest floor"
);
// Frequency caps are stored as u32.
const _: () = assert!(FREQUENCY_CAP_IMPRESSIONS_MAX <= u32::MAX as i64);
const _: () = assert!(FREQUENCY_CAP_WINDOW_S_MAX <= u32::MAX as i64);
// Creative sizes and durations are stored as u32.
const _: () = assert!(CREATIVE_SIDE_PX_MAX <= u32::MAX as i64);
const _: () = assert!(CREATIVE_DURATION_S_MAX <= u32::MAX as i64);

/// The embedded demo set served by `adshard serve` without a config.
pub const DEMO_JSON: &str = include_str!("demo.json");

/// The name the demo set's issues would carry (it has none: a test checks it).
pub const DEMO_FILE_NAME: &str = "<embedded demo.json>";

/// A line and column (both from 1; the column counts bytes) in a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPosition {
    pub line: usize,
    pub column: usize,
}

/// One problem in the data. `field` is a path from the campaign when `campaign_id` names it
/// (`creatives[1].w`), else from the file's root (`campaigns[3].id`, `advertisers[0].name`);
/// it is empty when the file as a whole is at fault (unreadable, not JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataIssue {
    pub file: PathBuf,
    /// Where in the file, for JSON syntax and type errors.
    pub position: Option<TextPosition>,
    pub campaign_id: Option<String>,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for DataIssue {
    /// `file[:line:column]: [campaign <id>: ][<field>: ]<reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        if let Some(id) = &self.campaign_id {
            write!(f, ": campaign {id}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Every problem of a load, in file order. Display prints one issue per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    pub issues: Vec<DataIssue>,
    /// Issues found beyond [`ISSUES_MAX`] and not kept.
    pub issues_omitted: usize,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (issue_idx, issue) in self.issues.iter().enumerate() {
            if issue_idx > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        if self.issues_omitted > 0 {
            write!(
                f,
                "\n... and {} more issues (only the first {ISSUES_MAX} are listed)",
                self.issues_omitted
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

/// What a load checks beyond the files themselves: facts of the server's configuration the
/// data must agree with. The default checks the files alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadRules<'r> {
    /// The exchange rates the server runs with: a campaign in a currency without a rate (and
    /// not the base) could never bid, so it is a problem of the load.
    pub currencies: Option<&'r CurrencyTable>,
}

/// Loads and merges data files (paths as given: the caller resolves them against the config
/// file's directory). No paths: empty data.
pub fn load_files(paths: &[PathBuf]) -> Result<CampaignData, DataError> {
    load_files_under(paths, &LoadRules::default())
}

/// [`load_files`], also checking the data against `rules`.
pub fn load_files_under(
    paths: &[PathBuf],
    rules: &LoadRules<'_>,
) -> Result<CampaignData, DataError> {
    let mut sink = IssueSink::default();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match read_file(path) {
            Ok(text) => files.push(parse_file(&text, path, rules, &mut sink)),
            Err(reason) => sink.push(DataIssue {
                file: path.clone(),
                position: None,
                campaign_id: None,
                field: String::new(),
                reason,
            }),
        }
    }
    merge(files, sink)
}

/// Parses one file's text; `file` names it in issues.
pub fn parse_str(text: &str, file: &Path) -> Result<CampaignData, DataError> {
    parse_str_under(text, file, &LoadRules::default())
}

/// [`parse_str`], also checking the data against `rules`.
pub fn parse_str_under(
    text: &str,
    file: &Path,
    rules: &LoadRules<'_>,
) -> Result<CampaignData, DataError> {
    let mut sink = IssueSink::default();
    let parsed = parse_file(text, file, rules, &mut sink);
    merge(vec![parsed], sink)
}

/// The embedded demo set: a few campaigns that bid on typical banner, video and app requests.
/// It is valid (a test checks it); were it ever not, this logs why and returns no campaigns
/// rather than panic the server.
pub fn demo() -> CampaignData {
    parse_str(DEMO_JSON, Path::new(DEMO_FILE_NAME)).unwrap_or_else(|error| {
        tracing::error!("the embedded demo data is invalid (a bug):\n{error}");
        CampaignData::default()
    })
}

fn read_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|error| format!("cannot open: {error}"))?;
    let mut text = String::new();
    // Reading through `take` bounds the read even if the file grows while it is read.
    file.take(FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|error| format!("cannot read: {error}"))?;
    if text.len() as u64 > FILE_BYTES_MAX {
        return Err(format!("is larger than {FILE_BYTES_MAX} bytes"));
    }
    Ok(text)
}

/// Collects issues, keeping the first [`ISSUES_MAX`].
#[derive(Default)]
struct IssueSink {
    issues: Vec<DataIssue>,
    issues_omitted: usize,
}

impl IssueSink {
    fn push(&mut self, issue: DataIssue) {
        if self.issues.len() < ISSUES_MAX {
            self.issues.push(issue);
        } else {
            self.issues_omitted += 1;
        }
    }
}

/// Reports the issues of one entry, naming it the same way in each.
struct Reporter<'s> {
    sink: &'s mut IssueSink,
    file: &'s Path,
    campaign_id: Option<&'s str>,
    /// Prepended to field paths: empty when the campaign is named by its id, `campaigns[3].`
    /// when it has no usable id.
    prefix: String,
    n_reported: usize,
}

impl Reporter<'_> {
    fn report(&mut self, field: impl fmt::Display, reason: impl Into<String>) {
        self.n_reported += 1;
        self.sink.push(DataIssue {
            file: self.file.to_path_buf(),
            position: None,
            campaign_id: self.campaign_id.map(str::to_owned),
            field: format!("{}{field}", self.prefix),
            reason: reason.into(),
        });
    }
}

/// The top level of a file with every entry skipped: step 1 of the module doc.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSkeleton {
    #[serde(default)]
    advertisers: Vec<IgnoredAny>,
    #[serde(default)]
    campaigns: Vec<IgnoredAny>,
}

/// What the merge needs from a campaign entry, even an invalid one: its id for the duplicate
/// check and its advertiser for the existence check, so those are reported alongside the
/// entry's other problems.
struct CampaignRef {
    entry_idx: usize,
    /// `None` when the entry has no usable id (already reported).
    id: Option<String>,
    advertiser_id: Option<String>,
}

struct ParsedFile {
    file: PathBuf,
    advertisers: Vec<Advertiser>,
    /// Ids of every advertiser entry with a usable id.
    advertiser_ids: Vec<(usize, String)>,
    campaigns: Vec<Campaign>,
    campaign_refs: Vec<CampaignRef>,
    /// Entries the file has (valid or not), for the per-load limits.
    n_advertiser_entries: usize,
    n_campaign_entries: usize,
}

impl ParsedFile {
    fn empty(file: &Path) -> ParsedFile {
        ParsedFile {
            file: file.to_path_buf(),
            advertisers: Vec::new(),
            advertiser_ids: Vec::new(),
            campaigns: Vec::new(),
            campaign_refs: Vec::new(),
            n_advertiser_entries: 0,
            n_campaign_entries: 0,
        }
    }
}

/// A JSON error at a position relative to `base` (the start of the text that was parsed).
fn json_issue(
    file: &Path,
    base: TextPosition,
    campaign_id: Option<String>,
    field: String,
    error: &serde_json::Error,
) -> DataIssue {
    // serde_json counts lines and columns from 1 within the text it parsed; on the entry's
    // first line, columns continue from where the entry starts in the file.
    let line = base.line + error.line().saturating_sub(1);
    let column = if error.line() <= 1 {
        base.column + error.column().saturating_sub(1)
    } else {
        error.column()
    };
    // serde_json's message ends with " at line L column C", relative to the entry; the
    // position is given separately, so strip it.
    let message = error.to_string();
    let reason = match message.rfind(" at line ") {
        Some(cut) => message.get(..cut).unwrap_or(&message).to_owned(),
        None => message,
    };
    DataIssue {
        file: file.to_path_buf(),
        position: (error.line() > 0).then_some(TextPosition { line, column }),
        campaign_id,
        field,
        reason,
    }
}

/// serde_path_to_error's path, or empty for the root (it prints the root as ".").
fn path_text(path: &serde_path_to_error::Path) -> String {
    if path.iter().next().is_none() {
        String::new()
    } else {
        path.to_string()
    }
}

/// Step 1: the file as a whole, every entry skipped. An error comes with its field path.
fn parse_skeleton(text: &str) -> Result<FileSkeleton, (String, serde_json::Error)> {
    // As for entries, path tracking only on the error path.
    if let Ok(skeleton) = serde_json::from_str(text) {
        return Ok(skeleton);
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let skeleton: FileSkeleton = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| (path_text(error.path()), error.into_inner()))?;
    deserializer.end().map_err(|error| (String::new(), error))?;
    Ok(skeleton)
}

fn parse_file(text: &str, file: &Path, rules: &LoadRules<'_>, sink: &mut IssueSink) -> ParsedFile {
    let mut parsed = ParsedFile::empty(file);
    let file_start = TextPosition { line: 1, column: 1 };

    let skeleton = match parse_skeleton(text) {
        Ok(skeleton) => skeleton,
        Err((field, error)) => {
            sink.push(json_issue(file, file_start, None, field, &error));
            return parsed;
        }
    };
    parsed.n_advertiser_entries = skeleton.advertisers.len();
    parsed.n_campaign_entries = skeleton.campaigns.len();
    if parsed.n_advertiser_entries > ADVERTISERS_PER_LOAD_MAX
        || parsed.n_campaign_entries > CAMPAIGNS_PER_LOAD_MAX
    {
        // Reported by `merge`, which counts over all files; parsing entries past a limit would
        // only take memory the limit is there to bound.
        return parsed;
    }

    let spans = match spans::file_spans(text) {
        Ok(spans) => spans,
        Err(reason) => {
            sink.push(DataIssue {
                file: file.to_path_buf(),
                position: None,
                campaign_id: None,
                field: String::new(),
                reason: reason.to_owned(),
            });
            return parsed;
        }
    };
    debug_assert_eq!(spans.advertisers.len(), parsed.n_advertiser_entries);
    debug_assert_eq!(spans.campaigns.len(), parsed.n_campaign_entries);

    for (entry_idx, span) in spans.advertisers.iter().enumerate() {
        let Some(entry) = entry::<AdvertiserJson>(text, file, "advertisers", entry_idx, span, sink)
        else {
            continue;
        };
        let mut reporter = Reporter {
            sink,
            file,
            campaign_id: None,
            prefix: format!("advertisers[{entry_idx}]."),
            n_reported: 0,
        };
        if check::id_problem(&entry.id).is_none() {
            parsed.advertiser_ids.push((entry_idx, entry.id.clone()));
        }
        if let Some(advertiser) = check::advertiser(entry, &mut reporter) {
            parsed.advertisers.push(advertiser);
        }
    }

    for (entry_idx, span) in spans.campaigns.iter().enumerate() {
        let Some(entry) = entry::<CampaignJson>(text, file, "campaigns", entry_idx, span, sink)
        else {
            // A type error: keep its id (if it has one) for the duplicate check.
            parsed.campaign_refs.push(CampaignRef {
                entry_idx,
                id: probe_id(text, span),
                advertiser_id: None,
            });
            continue;
        };
        let id = entry.id.clone();
        let id_ok = check::id_problem(&id).is_none();
        let mut reporter = Reporter {
            sink,
            file,
            campaign_id: id_ok.then_some(id.as_str()),
            prefix: if id_ok {
                String::new()
            } else {
                format!("campaigns[{entry_idx}].")
            },
            n_reported: 0,
        };
        check::id(&id, &"id", &mut reporter);
        parsed.campaign_refs.push(CampaignRef {
            entry_idx,
            id: id_ok.then(|| id.clone()),
            advertiser_id: Some(entry.advertiser.clone()),
        });
        if let Some(campaign) = check::campaign(entry, rules, &mut reporter) {
            parsed.campaigns.push(campaign);
        }
    }
    parsed
}

/// Deserializes one entry from its span; a type error is reported with its position in the
/// file and `None` returned.
fn entry<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
    section: &str,
    entry_idx: usize,
    span: &spans::Span,
    sink: &mut IssueSink,
) -> Option<T> {
    let entry_text = text.get(span.start..span.end).unwrap_or_default();
    let base = TextPosition {
        line: span.line,
        column: span.column,
    };
    // serde reads a JSON array into a struct field by field; an entry must be an object.
    if !entry_text.starts_with('{') {
        sink.push(DataIssue {
            file: file.to_path_buf(),
            position: Some(base),
            campaign_id: None,
            field: format!("{section}[{entry_idx}]"),
            reason: "must be a JSON object".to_owned(),
        });
        return None;
    }
    // The plain parse is the fast path; only a failed entry is parsed again with path
    // tracking, which costs a third more and is needed only to name the field.
    if let Ok(value) = serde_json::from_str::<T>(entry_text) {
        return Some(value);
    }
    let mut deserializer = serde_json::Deserializer::from_str(entry_text);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => Some(value),
        Err(error) => {
            let inner_path = path_text(error.path());
            let campaign_id = (section == "campaigns")
                .then(|| probe_id(text, span))
                .flatten();
            let field = match (&campaign_id, inner_path.is_empty()) {
                (Some(_), _) => inner_path,
                (None, true) => format!("{section}[{entry_idx}]"),
                (None, false) => format!("{section}[{entry_idx}].{inner_path}"),
            };
            let mut issue = json_issue(file, base, campaign_id, field, error.inner());
            if issue.field.ends_with("_micros") && issue.reason.contains("floating point") {
                issue
                    .reason
                    .push_str(" (money is an integer of micro-units: 2.50 is written 2500000)");
            }
            sink.push(issue);
            None
        }
    }
}

/// The `id` of an entry that failed to deserialize, if it has a usable one.
fn probe_id(text: &str, span: &spans::Span) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    let entry_text = text.get(span.start..span.end)?;
    let value: serde_json::Value = serde_json::from_str(entry_text).ok()?;
    let IdOnly { id } = IdOnly::deserialize(value).ok()?;
    check::id_problem(&id).is_none().then_some(id)
}

/// Merges parsed files; checks what spans files: limits, unique ids, advertisers exist.
fn merge(files: Vec<ParsedFile>, mut sink: IssueSink) -> Result<CampaignData, DataError> {
    let n_advertiser_entries: usize = files.iter().map(|f| f.n_advertiser_entries).sum();
    let n_campaign_entries: usize = files.iter().map(|f| f.n_campaign_entries).sum();
    for (count, limit, what) in [
        (
            n_advertiser_entries,
            ADVERTISERS_PER_LOAD_MAX,
            "advertisers",
        ),
        (n_campaign_entries, CAMPAIGNS_PER_LOAD_MAX, "campaigns"),
    ] {
        if count > limit {
            let file = files
                .iter()
                .map(|f| f.file.clone())
                .next()
                .unwrap_or_default();
            sink.push(DataIssue {
                file,
                position: None,
                campaign_id: None,
                field: what.to_owned(),
                reason: format!(
                    "the load has {count} {what} over {} file(s); at most {limit} are allowed",
                    files.len()
                ),
            });
        }
    }

    // Where each id was first defined: (file index, entry index).
    let mut advertiser_first: HashMap<&str, (usize, usize)> = HashMap::new();
    for (file_idx, parsed) in files.iter().enumerate() {
        for (entry_idx, id) in &parsed.advertiser_ids {
            if let Some(&first) = advertiser_first.get(id.as_str()) {
                sink.push(DataIssue {
                    file: parsed.file.clone(),
                    position: None,
                    campaign_id: None,
                    field: format!("advertisers[{entry_idx}].id"),
                    reason: format!(
                        "duplicate advertiser id {id:?}; {}",
                        first_defined(&files, file_idx, first, "advertisers")
                    ),
                });
            } else {
                advertiser_first.insert(id, (file_idx, *entry_idx));
            }
        }
    }

    let mut campaign_first: HashMap<&str, (usize, usize)> = HashMap::new();
    for (file_idx, parsed) in files.iter().enumerate() {
        for campaign_ref in &parsed.campaign_refs {
            let id = campaign_ref.id.as_deref();
            if let Some(id) = id {
                if let Some(&first) = campaign_first.get(id) {
                    sink.push(DataIssue {
                        file: parsed.file.clone(),
                        position: None,
                        campaign_id: Some(id.to_owned()),
                        field: "id".to_owned(),
                        reason: format!(
                            "duplicate campaign id (entry campaigns[{}]); {}",
                            campaign_ref.entry_idx,
                            first_defined(&files, file_idx, first, "campaigns")
                        ),
                    });
                } else {
                    campaign_first.insert(id, (file_idx, campaign_ref.entry_idx));
                }
            }
            if let Some(advertiser_id) = &campaign_ref.advertiser_id {
                // An empty advertiser was already reported by `check`.
                if !advertiser_id.is_empty()
                    && !advertiser_first.contains_key(advertiser_id.as_str())
                {
                    sink.push(DataIssue {
                        file: parsed.file.clone(),
                        position: None,
                        campaign_id: id.map(str::to_owned),
                        field: match id {
                            Some(_) => "advertiser".to_owned(),
                            None => format!("campaigns[{}].advertiser", campaign_ref.entry_idx),
                        },
                        reason: format!(
                            "no advertiser {advertiser_id:?} in the loaded files (define it under \"advertisers\")"
                        ),
                    });
                }
            }
        }
    }

    if !sink.issues.is_empty() || sink.issues_omitted > 0 {
        return Err(DataError {
            issues: sink.issues,
            issues_omitted: sink.issues_omitted,
        });
    }
    let mut data = CampaignData {
        advertisers: Vec::with_capacity(n_advertiser_entries),
        campaigns: Vec::with_capacity(n_campaign_entries),
    };
    for parsed in files {
        data.advertisers.extend(parsed.advertisers);
        data.campaigns.extend(parsed.campaigns);
    }
    debug_assert_eq!(data.advertisers.len(), n_advertiser_entries);
    debug_assert_eq!(data.campaigns.len(), n_campaign_entries);
    Ok(data)
}

/// "first defined at campaigns[0]" (same file) or "... in other.json".
fn first_defined(
    files: &[ParsedFile],
    file_idx: usize,
    (first_file_idx, first_entry_idx): (usize, usize),
    section: &str,
) -> String {
    if first_file_idx == file_idx {
        format!("first defined at {section}[{first_entry_idx}]")
    } else {
        let first_file = files
            .get(first_file_idx)
            .map(|f| f.file.display().to_string())
            .unwrap_or_default();
        format!("first defined at {section}[{first_entry_idx}] in {first_file}")
    }
}
