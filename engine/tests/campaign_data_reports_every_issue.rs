//! A broken data file is refused with every problem listed, each naming its file, campaign
//! (or entry) and field, so an operator fixes a file in one round instead of one error at a
//! time. JSON syntax and type errors also name the line and column.

use std::path::{Path, PathBuf};

use adshard::campaign::data::{load_files, parse_str, DataError, TextPosition};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/campaigns")
        .join(name)
}

/// (campaign id, field, a fragment of the reason) for each issue, in order.
type Expected<'a> = [(Option<&'a str>, &'a str, &'a str)];

fn check(error: &DataError, file: &Path, expected: &Expected<'_>) {
    let found: Vec<(Option<&str>, &str, &str)> = error
        .issues
        .iter()
        .map(|issue| {
            (
                issue.campaign_id.as_deref(),
                issue.field.as_str(),
                issue.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found.len(),
        expected.len(),
        "issues:\n{error}\nexpected {expected:#?}"
    );
    for (issue, &(campaign_id, field, reason_part)) in error.issues.iter().zip(expected) {
        assert_eq!(issue.file, file, "{issue}");
        assert_eq!(issue.campaign_id.as_deref(), campaign_id, "{issue}");
        assert_eq!(issue.field, field, "{issue}");
        assert!(
            issue.reason.contains(reason_part),
            "{issue}\nshould say {reason_part:?}"
        );
    }
    // One line per issue.
    assert_eq!(error.to_string().lines().count(), expected.len(), "{error}");
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let path = fixture("many-errors.json");
    let error = load_files(std::slice::from_ref(&path)).expect_err("broken file");
    let expected: &Expected<'_> = &[
        // Per entry, in file order.
        (None, "advertisers[2].id", "must not be empty"),
        (None, "advertisers[2].name", "must not be empty"),
        (Some("cmp-1"), "adomain", "must be a host name"),
        (Some("cmp-1"), "bid_cpm_micros", "must be positive"),
        (Some("cmp-1"), "currency", "ISO-4217"),
        (
            Some("cmp-1"),
            "budget.daily_micros",
            "more than budget.total_micros",
        ),
        (Some("cmp-1"), "flight.end", "RFC 3339"),
        (Some("cmp-1"), "frequency_caps[0].max", "must be 1..="),
        (Some("cmp-1"), "frequency_caps[1].window_s", "31 days"),
        (Some("cmp-1"), "targeting.countries[0]", "USA, not US"),
        (
            Some("cmp-1"),
            "targeting.device_types[0]",
            "device type 1..=8",
        ),
        (
            Some("cmp-1"),
            "targeting.device_types[2]",
            "device type 1..=8",
        ),
        (
            Some("cmp-1"),
            "targeting.domains.include[1]",
            "must be a host name",
        ),
        (
            Some("cmp-1"),
            "targeting.domains.exclude",
            "also in targeting.domains.include",
        ),
        (
            Some("cmp-1"),
            "targeting.dayparts[0].days[1]",
            "must be one of mon",
        ),
        (
            Some("cmp-1"),
            "targeting.dayparts[0].end_hour",
            "two dayparts",
        ),
        (Some("cmp-1"), "creatives[0].attributes[0]", "1..=17"),
        (Some("cmp-1"), "creatives[0].attributes[1]", "1..=17"),
        (
            Some("cmp-1"),
            "creatives[0].landing_page",
            "http:// or https://",
        ),
        (Some("cmp-1"), "creatives[1].id", "duplicate creative id"),
        (
            Some("cmp-1"),
            "creatives[1].w",
            "must be positive for a banner",
        ),
        (Some("cmp-1"), "creatives[1].markup", "must not be empty"),
        (Some("cmp-1"), "creatives[2].markup", "VAST"),
        (Some("cmp-1"), "creatives[2].mimes", "MIME types"),
        (
            Some("cmp-1"),
            "creatives[2].duration_s",
            "must be 1..=3600 seconds",
        ),
        (Some("cmp-2"), "bid_cpm_micros", "at most 100000000000"),
        (Some("cmp-2"), "creatives", "at least one creative"),
        // A type error stops its entry, not the file; the position is in the file.
        (Some("cmp-2"), "budget.daily_micros", "micro-units"),
        (None, "campaigns[3].id", "must not be empty"),
        (None, "campaigns[3].adomain", "must not be empty"),
        (
            None,
            "campaigns[3].creatives[0].w",
            "only banners and video have a size",
        ),
        (
            None,
            "campaigns[3].creatives[0].markup",
            "Native response JSON",
        ),
        // Across entries, after them.
        (
            None,
            "advertisers[1].id",
            "duplicate advertiser id \"adv-1\"; first defined at advertisers[0]",
        ),
        (Some("cmp-1"), "advertiser", "no advertiser \"adv-missing\""),
        (
            Some("cmp-2"),
            "id",
            "duplicate campaign id (entry campaigns[2]); first defined at campaigns[1]",
        ),
    ];
    check(&error, &path, expected);
    let type_error = &error.issues[27];
    assert_eq!(
        type_error.position,
        Some(TextPosition {
            line: 41,
            column: 36
        }),
        "{type_error}"
    );
    // The operator-facing line, as `adshard check-config` prints it.
    let first_line = format!("{}: campaign cmp-1: adomain: ", path.display());
    assert!(
        error
            .to_string()
            .lines()
            .nth(2)
            .is_some_and(|line| line.starts_with(&first_line)),
        "{error}"
    );
}

#[test]
fn syntax_error_names_line_and_column() {
    let text = "{\n  \"campaigns\": [\n    {\"id\": \"c1\",}\n  ]\n}\n";
    let error = parse_str(text, Path::new("data/c.json")).expect_err("trailing comma");
    assert_eq!(error.issues.len(), 1, "{error}");
    let issue = &error.issues[0];
    assert_eq!(
        issue.position,
        Some(TextPosition {
            line: 3,
            column: 17
        })
    );
    assert_eq!(issue.field, "campaigns[0]");
    assert_eq!(
        error.to_string(),
        "data/c.json:3:17: campaigns[0]: key must be a string"
    );
}

#[test]
fn type_errors_in_several_entries_are_each_reported_with_their_position() {
    let text = concat!(
        "{\"advertisers\": [{\"id\": \"a\", \"name\": \"A\"}],\n",
        " \"campaigns\": [\n",
        "  {\"id\": \"c1\", \"advertiser\": 5},\n",
        "  {\"id\": \"c2\", \"advertiser\": \"a\", \"adomain\": \"a.example\", \"bid_cpm_micros\": 1,\n",
        "   \"creatives\": [{\"id\": \"x\", \"format\": \"banenr\"}]},\n",
        "  {\"id\": \"c3\", \"statuz\": \"active\"},\n",
        "  [1, 2]\n",
        " ]}\n"
    );
    let error = parse_str(text, Path::new("t.json")).expect_err("type errors");
    let found: Vec<String> = error.issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "t.json:3:30: campaign c1: advertiser: invalid type: integer `5`, expected a string",
            "t.json:5:47: campaign c2: creatives[0].format: unknown variant `banenr`, expected one of `banner`, `video`, `audio`, `native`",
            "t.json:6:23: campaign c3: statuz: unknown field `statuz`, expected one of `id`, `advertiser`, `adomain`, `status`, `bid_cpm_micros`, `currency`, `budget`, `flight`, `pacing`, `frequency_caps`, `targeting`, `creatives`",
            "t.json:7:3: campaigns[3]: must be a JSON object",
        ]
    );
}

#[test]
fn top_level_mistakes_are_named() {
    let cases = [
        ("", "t.json:1:1: EOF while parsing a value"),
        ("{\"campaign\": []}", "t.json:1:11: campaign: unknown field `campaign`, expected `advertisers` or `campaigns`"),
        ("{\"campaigns\": {}}", "t.json:1:14: campaigns: invalid type: map, expected a sequence"),
        ("{} {}", "t.json:1:4: trailing characters"),
        ("[[], []]", "t.json: the file must be a JSON object with \"advertisers\" and \"campaigns\" arrays"),
    ];
    for (text, expected) in cases {
        let error = parse_str(text, Path::new("t.json")).expect_err(text);
        assert_eq!(error.to_string(), expected, "{text:?}");
    }
}

#[test]
fn duplicates_across_files_name_both_files() {
    let advertisers = fixture("advertisers.json");
    let spring = fixture("spring.json");
    let error = load_files(&[advertisers.clone(), spring.clone(), spring.clone()])
        .expect_err("loaded twice");
    let lines: Vec<String> = error.issues.iter().map(ToString::to_string).collect();
    let spring_name = spring.display().to_string();
    assert_eq!(
        lines,
        [
            format!("{spring_name}: campaign cmp-spring: id: duplicate campaign id (entry campaigns[0]); first defined at campaigns[0] in {spring_name}"),
            format!("{spring_name}: campaign cmp-minimal: id: duplicate campaign id (entry campaigns[1]); first defined at campaigns[1] in {spring_name}"),
        ]
    );
}

#[test]
fn unreadable_file_is_an_issue_not_a_panic() {
    let missing = fixture("does-not-exist.json");
    let error = load_files(std::slice::from_ref(&missing)).expect_err("missing file");
    assert_eq!(error.issues.len(), 1);
    assert_eq!(error.issues[0].file, missing);
    assert!(error.issues[0].reason.starts_with("cannot open"), "{error}");
}

#[test]
fn issues_past_the_limit_are_counted_not_listed() {
    use adshard::campaign::data::ISSUES_MAX;
    let n_campaigns = ISSUES_MAX + 10;
    let mut text = String::from("{\"campaigns\": [");
    for campaign_idx in 0..n_campaigns {
        if campaign_idx > 0 {
            text.push(',');
        }
        // Two issues each: no such advertiser, no creative.
        text.push_str(&format!(
            "{{\"id\": \"c{campaign_idx}\", \"advertiser\": \"nobody\", \"adomain\": \"a.example\", \"bid_cpm_micros\": 1, \"creatives\": []}}"
        ));
    }
    text.push_str("]}");
    let error = parse_str(&text, Path::new("big.json")).expect_err("broken");
    assert_eq!(error.issues.len(), ISSUES_MAX);
    assert_eq!(error.issues_omitted, 2 * n_campaigns - ISSUES_MAX);
    assert!(error.to_string().ends_with(&format!(
        "... and {} more issues (only the first {ISSUES_MAX} are listed)",
        2 * n_campaigns - ISSUES_MAX
    )));
}

#[test]
fn a_load_over_the_advertiser_limit_is_refused_before_its_entries_are_read() {
    use adshard::campaign::data::ADVERTISERS_PER_LOAD_MAX;
    let n_entries = ADVERTISERS_PER_LOAD_MAX + 1;
    let mut text = String::from("{\"advertisers\": [");
    text.push_str(&vec!["{}"; n_entries].join(","));
    text.push_str("]}");
    let error = parse_str(&text, Path::new("huge.json")).expect_err("over the limit");
    // One issue, not one per (invalid, empty) entry: the entries were never looked at.
    assert_eq!(error.issues.len(), 1, "{error}");
    assert_eq!(error.issues[0].field, "advertisers");
    assert!(
        error.issues[0]
            .reason
            .contains(&format!("at most {ADVERTISERS_PER_LOAD_MAX}")),
        "{error}"
    );
}
