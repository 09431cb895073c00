//! Campaigns and creatives written in code: tests, benchmarks and tools start from valid
//! defaults and state only what they vary, instead of each spelling out every field of
//! [`Campaign`] (six hand-written copies had drifted apart). Production campaigns never come
//! from here: they are parsed and checked from JSON data files by `campaign::data`, and a test
//! below keeps these defaults equal to what that parser makes of the same campaign, so a
//! default here is always one the data files could have produced.
//!
//! The defaults are chosen to stay out of a test's way: an active campaign in USD with no
//! budget, no flight, no frequency cap, no targeting and `asap` pacing (the data files default
//! to `even`; `asap` is what "nothing throttles it" means), bidding 1.00 CPM with one 300x250
//! banner. It therefore bids on every 300x250 banner request whose floor it clears.

use super::model::{
    Budget, Campaign, CampaignStatus, Creative, CreativeFormat, FrequencyCap, Pacing, SpendOn,
    Targeting,
};
use crate::currency::Currency;

/// The default bid: 1.00 CPM.
pub const DEFAULT_BID_CPM_MICROS: i64 = 1_000_000;
/// The default banner size, the most common IAB size.
pub const DEFAULT_BANNER_W: u32 = 300;
pub const DEFAULT_BANNER_H: u32 = 250;

/// A [`Campaign`] under construction; [`CampaignBuilder::build`] hands it over.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct CampaignBuilder {
    campaign: Campaign,
}

impl CampaignBuilder {
    /// Campaign `id` of advertiser `adv` declaring `ID.example`, with the module's defaults
    /// and one banner creative `ID-cr`.
    pub fn new(id: &str) -> CampaignBuilder {
        CampaignBuilder {
            campaign: Campaign {
                id: id.to_owned(),
                advertiser_id: "adv".to_owned(),
                adomain: format!("{id}.example"),
                status: CampaignStatus::Active,
                bid_cpm_micros: DEFAULT_BID_CPM_MICROS,
                currency: Currency::USD,
                budget: Budget {
                    total_micros: None,
                    daily_micros: None,
                    spend_on: SpendOn::Impression,
                },
                start_unix_s: None,
                end_unix_s: None,
                pacing: Pacing::Asap,
                frequency_caps: Vec::new(),
                targeting: Targeting::default(),
                creatives: vec![CreativeBuilder::banner(
                    &format!("{id}-cr"),
                    DEFAULT_BANNER_W,
                    DEFAULT_BANNER_H,
                )
                .build()],
            },
        }
    }

    pub fn advertiser_id(mut self, advertiser_id: &str) -> CampaignBuilder {
        self.campaign.advertiser_id = advertiser_id.to_owned();
        self
    }

    pub fn adomain(mut self, adomain: &str) -> CampaignBuilder {
        self.campaign.adomain = adomain.to_owned();
        self
    }

    pub fn status(mut self, status: CampaignStatus) -> CampaignBuilder {
        self.campaign.status = status;
        self
    }

    pub fn bid_cpm_micros(mut self, bid_cpm_micros: i64) -> CampaignBuilder {
        self.campaign.bid_cpm_micros = bid_cpm_micros;
        self
    }

    pub fn currency(mut self, currency: Currency) -> CampaignBuilder {
        self.campaign.currency = currency;
        self
    }

    pub fn budget(mut self, budget: Budget) -> CampaignBuilder {
        self.campaign.budget = budget;
        self
    }

    /// The flight window in Unix seconds (UTC); `None` leaves that end open.
    pub fn flight_unix_s(mut self, start: Option<i64>, end: Option<i64>) -> CampaignBuilder {
        self.campaign.start_unix_s = start;
        self.campaign.end_unix_s = end;
        self
    }

    pub fn pacing(mut self, pacing: Pacing) -> CampaignBuilder {
        self.campaign.pacing = pacing;
        self
    }

    /// Adds a cap of `max` impressions per user in any `window_s` seconds.
    pub fn frequency_cap(mut self, max: u32, window_s: u32) -> CampaignBuilder {
        self.campaign
            .frequency_caps
            .push(FrequencyCap { max, window_s });
        self
    }

    pub fn targeting(mut self, targeting: Targeting) -> CampaignBuilder {
        self.campaign.targeting = targeting;
        self
    }

    /// Edits the targeting in place, for a test that varies one list of it.
    pub fn edit_targeting(mut self, edit: impl FnOnce(&mut Targeting)) -> CampaignBuilder {
        edit(&mut self.campaign.targeting);
        self
    }

    /// Replaces the creatives (the default banner included).
    pub fn creatives(mut self, creatives: Vec<Creative>) -> CampaignBuilder {
        self.campaign.creatives = creatives;
        self
    }

    pub fn build(self) -> Campaign {
        self.campaign
    }
}

/// A [`Creative`] under construction, started from one of the four formats with valid
/// defaults for it; [`CreativeBuilder::build`] hands it over.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct CreativeBuilder {
    creative: Creative,
}

impl CreativeBuilder {
    /// A `w` x `h` banner: a link to `https://brand.example/`, not marked secure.
    pub fn banner(id: &str, w: u32, h: u32) -> CreativeBuilder {
        CreativeBuilder {
            creative: Creative {
                id: id.to_owned(),
                format: CreativeFormat::Banner,
                w,
                h,
                markup: "<a href=\"https://brand.example/\">ad</a>".to_owned(),
                mimes: Vec::new(),
                duration_s: 0,
                categories: Vec::new(),
                attributes: Vec::new(),
                landing_page: "https://brand.example/".to_owned(),
                secure: false,
            },
        }
    }

    /// A 15-second `video/mp4` video of `w` x `h` pixels with a (minimal) VAST document.
    pub fn video(id: &str, w: u32, h: u32) -> CreativeBuilder {
        CreativeBuilder::banner(id, w, h)
            .format(CreativeFormat::Video)
            .markup("<VAST version=\"4.2\"></VAST>")
            .mimes(&["video/mp4"])
            .duration_s(15)
    }

    /// A 15-second `audio/mpeg` audio creative with a (minimal) VAST document.
    pub fn audio(id: &str) -> CreativeBuilder {
        CreativeBuilder::banner(id, 0, 0)
            .format(CreativeFormat::Audio)
            .markup("<VAST version=\"4.2\"></VAST>")
            .mimes(&["audio/mpeg"])
            .duration_s(15)
    }

    /// A native creative whose markup is an empty Native response object.
    pub fn native(id: &str) -> CreativeBuilder {
        CreativeBuilder::banner(id, 0, 0)
            .format(CreativeFormat::Native)
            .markup("{\"assets\": []}")
    }

    pub fn id(mut self, id: &str) -> CreativeBuilder {
        self.creative.id = id.to_owned();
        self
    }

    /// Changes the format alone; the other fields stay as they are.
    pub fn format(mut self, format: CreativeFormat) -> CreativeBuilder {
        self.creative.format = format;
        self
    }

    pub fn size(mut self, w: u32, h: u32) -> CreativeBuilder {
        self.creative.w = w;
        self.creative.h = h;
        self
    }

    pub fn markup(mut self, markup: &str) -> CreativeBuilder {
        self.creative.markup = markup.to_owned();
        self
    }

    pub fn mimes(mut self, mimes: &[&str]) -> CreativeBuilder {
        self.creative.mimes = mimes.iter().map(|&mime| mime.to_owned()).collect();
        self
    }

    pub fn duration_s(mut self, duration_s: u32) -> CreativeBuilder {
        self.creative.duration_s = duration_s;
        self
    }

    pub fn categories(mut self, categories: &[&str]) -> CreativeBuilder {
        self.creative.categories = categories
            .iter()
            .map(|&category| category.to_owned())
            .collect();
        self
    }

    pub fn attributes(mut self, attributes: &[u16]) -> CreativeBuilder {
        self.creative.attributes = attributes.to_vec();
        self
    }

    pub fn landing_page(mut self, landing_page: &str) -> CreativeBuilder {
        self.creative.landing_page = landing_page.to_owned();
        self
    }

    pub fn secure(mut self, secure: bool) -> CreativeBuilder {
        self.creative.secure = secure;
        self
    }

    pub fn build(self) -> Creative {
        self.creative
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::campaign::data::parse_str;

    /// What the data file parser makes of `campaigns` (JSON objects) under advertiser `adv`.
    fn parsed(campaigns: &str) -> Vec<Campaign> {
        let text = format!(
            r#"{{"advertisers": [{{"id": "adv", "name": "Advertiser"}}], "campaigns": [{campaigns}]}}"#
        );
        parse_str(&text, Path::new("builder-test.json"))
            .unwrap_or_else(|error| panic!("the test's JSON is invalid: {error}"))
            .campaigns
    }

    #[test]
    fn defaults_are_what_the_data_files_give_for_the_same_campaign() {
        let campaigns = parsed(
            r#"{
                "id": "c1", "advertiser": "adv", "adomain": "c1.example",
                "bid_cpm_micros": 1000000, "currency": "USD", "pacing": "asap",
                "creatives": [{
                    "id": "c1-cr", "format": "banner", "w": 300, "h": 250,
                    "markup": "<a href=\"https://brand.example/\">ad</a>",
                    "landing_page": "https://brand.example/"
                }]
            }"#,
        );
        assert_eq!(campaigns, vec![CampaignBuilder::new("c1").build()]);
    }

    #[test]
    fn every_creative_format_default_is_valid_data() {
        let campaigns = parsed(
            r#"{
                "id": "c2", "advertiser": "adv", "adomain": "c2.example",
                "bid_cpm_micros": 1000000, "currency": "USD", "pacing": "asap",
                "creatives": [
                    {"id": "v", "format": "video", "w": 640, "h": 360,
                     "markup": "<VAST version=\"4.2\"></VAST>", "mimes": ["video/mp4"],
                     "duration_s": 15, "landing_page": "https://brand.example/"},
                    {"id": "a", "format": "audio",
                     "markup": "<VAST version=\"4.2\"></VAST>", "mimes": ["audio/mpeg"],
                     "duration_s": 15, "landing_page": "https://brand.example/"},
                    {"id": "n", "format": "native", "markup": "{\"assets\": []}",
                     "landing_page": "https://brand.example/"}
                ]
            }"#,
        );
        let built = CampaignBuilder::new("c2")
            .creatives(vec![
                CreativeBuilder::video("v", 640, 360).build(),
                CreativeBuilder::audio("a").build(),
                CreativeBuilder::native("n").build(),
            ])
            .build();
        assert_eq!(campaigns, vec![built]);
    }

    #[test]
    fn each_setter_changes_its_field_alone() {
        let base = CampaignBuilder::new("c").build();
        let budget = Budget {
            total_micros: Some(10),
            daily_micros: Some(5),
            spend_on: SpendOn::Win,
        };
        let cases: Vec<(&str, Campaign, Campaign)> = vec![
            (
                "advertiser_id",
                CampaignBuilder::new("c").advertiser_id("a2").build(),
                Campaign {
                    advertiser_id: "a2".into(),
                    ..base.clone()
                },
            ),
            (
                "adomain",
                CampaignBuilder::new("c").adomain("d.example").build(),
                Campaign {
                    adomain: "d.example".into(),
                    ..base.clone()
                },
            ),
            (
                "status",
                CampaignBuilder::new("c")
                    .status(CampaignStatus::Paused)
                    .build(),
                Campaign {
                    status: CampaignStatus::Paused,
                    ..base.clone()
                },
            ),
            (
                "bid",
                CampaignBuilder::new("c").bid_cpm_micros(7).build(),
                Campaign {
                    bid_cpm_micros: 7,
                    ..base.clone()
                },
            ),
            (
                "currency",
                CampaignBuilder::new("c")
                    .currency(Currency::parse("EUR").unwrap())
                    .build(),
                Campaign {
                    currency: Currency::parse("EUR").unwrap(),
                    ..base.clone()
                },
            ),
            (
                "budget",
                CampaignBuilder::new("c").budget(budget).build(),
                Campaign {
                    budget,
                    ..base.clone()
                },
            ),
            (
                "flight",
                CampaignBuilder::new("c")
                    .flight_unix_s(Some(1), None)
                    .build(),
                Campaign {
                    start_unix_s: Some(1),
                    ..base.clone()
                },
            ),
            (
                "pacing",
                CampaignBuilder::new("c").pacing(Pacing::Even).build(),
                Campaign {
                    pacing: Pacing::Even,
                    ..base.clone()
                },
            ),
            (
                "caps",
                CampaignBuilder::new("c")
                    .frequency_cap(1, 60)
                    .frequency_cap(3, 3600)
                    .build(),
                Campaign {
                    frequency_caps: vec![
                        FrequencyCap {
                            max: 1,
                            window_s: 60,
                        },
                        FrequencyCap {
                            max: 3,
                            window_s: 3600,
                        },
                    ],
                    ..base.clone()
                },
            ),
            (
                "targeting",
                CampaignBuilder::new("c")
                    .edit_targeting(|targeting| targeting.os = vec!["ios".into()])
                    .build(),
                Campaign {
                    targeting: Targeting {
                        os: vec!["ios".into()],
                        ..Targeting::default()
                    },
                    ..base.clone()
                },
            ),
            (
                "creatives",
                CampaignBuilder::new("c").creatives(Vec::new()).build(),
                Campaign {
                    creatives: Vec::new(),
                    ..base.clone()
                },
            ),
        ];
        for (name, built, expected) in cases {
            assert_eq!(built, expected, "{name}");
        }
    }

    #[test]
    fn creative_setters_change_their_field_alone() {
        let built = CreativeBuilder::banner("b", 300, 250)
            .id("b2")
            .size(728, 90)
            .markup("<div>ad</div>")
            .categories(&["IAB3-1"])
            .attributes(&[2, 3])
            .landing_page("https://other.example/")
            .secure(true)
            .build();
        assert_eq!(
            built,
            Creative {
                id: "b2".into(),
                format: CreativeFormat::Banner,
                w: 728,
                h: 90,
                markup: "<div>ad</div>".into(),
                mimes: Vec::new(),
                duration_s: 0,
                categories: vec!["IAB3-1".into()],
                attributes: vec![2, 3],
                landing_page: "https://other.example/".into(),
                secure: true,
            }
        );
    }
}
