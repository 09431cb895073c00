//! Building a [`TargetingIndex`] from the campaigns in bid order: one pass collects, per
//! dimension and value, the ascending ranks of the campaigns that name it (ranks are visited in
//! order, so every list comes out sorted without a sort), then each list is stored dense or
//! sparse. Control-plane code: it allocates freely and runs once per load and shard.

use hashbrown::HashMap;

use super::creative::CreativeFit;
use super::hour::{daypart_hours, HOURS_PER_WEEK};
use super::keys::{random_seed, SizeKeys, TextKeys};
use super::posting::{Posting, PostingStore};
use super::{
    CodeDimension, KeyPostings, MediaPostings, TargetingIndex, TextDimension, CAMPAIGNS_MAX,
};
use crate::adrequest::Size;
use crate::campaign::{Campaign, CampaignStatus, CreativeFormat};

/// Device type codes are a `u8`.
const DEVICE_TYPE_CODES: usize = 256;

/// Appends `rank` unless it is already the last: ranks arrive in ascending order, so a value
/// named twice by one campaign is listed once.
fn push_rank(ranks: &mut Vec<u32>, rank: u32) {
    if ranks.last() != Some(&rank) {
        debug_assert!(ranks.last().map_or(true, |&last| last < rank));
        ranks.push(rank);
    }
}

#[derive(Default)]
struct TextDimensionBuilder {
    untargeted: Vec<u32>,
    /// Lower-cased value to (include ranks, exclude ranks).
    keys: HashMap<String, (Vec<u32>, Vec<u32>)>,
    has_includes: bool,
}

impl TextDimensionBuilder {
    fn add<'v, I, E>(&mut self, rank: u32, include: I, exclude: E)
    where
        I: IntoIterator<Item = &'v str>,
        E: IntoIterator<Item = &'v str>,
    {
        let mut includes_any = false;
        for value in include {
            includes_any = true;
            push_rank(&mut self.key(value).0, rank);
        }
        if includes_any {
            self.has_includes = true;
        } else {
            self.untargeted.push(rank);
        }
        for value in exclude {
            push_rank(&mut self.key(value).1, rank);
        }
    }

    fn key(&mut self, value: &str) -> &mut (Vec<u32>, Vec<u32>) {
        self.keys.entry(value.to_ascii_lowercase()).or_default()
    }

    fn finish(self, store: &mut PostingStore, seed: u64) -> TextDimension {
        let mut keys = TextKeys::new(seed);
        let mut labels_max = 0;
        let mut has_excludes = false;
        for (key, (include, exclude)) in self.keys {
            labels_max = labels_max.max(key.split('.').count());
            has_excludes |= !exclude.is_empty();
            let postings = KeyPostings {
                include: store.add(&include),
                exclude: store.add(&exclude),
            };
            keys.insert(&key, postings);
        }
        TextDimension {
            keys,
            untargeted: store.add(&self.untargeted),
            has_includes: self.has_includes,
            has_excludes,
            labels_max,
        }
    }
}

struct CodeDimensionBuilder {
    by_code: Vec<Vec<u32>>,
    untargeted: Vec<u32>,
    has_includes: bool,
}

impl CodeDimensionBuilder {
    fn new(n_codes: usize) -> Self {
        CodeDimensionBuilder {
            by_code: vec![Vec::new(); n_codes],
            untargeted: Vec::new(),
            has_includes: false,
        }
    }

    /// `codes` empty means untargeted; codes out of range are never requested, so they are
    /// dropped (the campaign still counts as targeted).
    fn add(&mut self, rank: u32, codes: impl IntoIterator<Item = usize>, targeted: bool) {
        if !targeted {
            self.untargeted.push(rank);
            return;
        }
        self.has_includes = true;
        for code in codes {
            if let Some(ranks) = self.by_code.get_mut(code) {
                push_rank(ranks, rank);
            }
        }
    }

    fn finish(self, store: &mut PostingStore) -> CodeDimension {
        CodeDimension {
            by_code: self.by_code.iter().map(|ranks| store.add(ranks)).collect(),
            untargeted: store.add(&self.untargeted),
            has_includes: self.has_includes,
        }
    }
}

#[derive(Default)]
struct MediaBuilder {
    banner_sizes: HashMap<(u32, u32), Vec<u32>>,
    banner_any: Vec<u32>,
    video_any: Vec<u32>,
    audio_any: Vec<u32>,
    native_any: Vec<u32>,
}

impl TargetingIndex {
    /// Indexes `campaigns`, which the caller has put in bid order (highest first): a
    /// campaign's place in the slice is the `campaign_idx` lookups yield, in ascending order.
    /// Campaigns past [`CAMPAIGNS_MAX`] are left out.
    pub fn build(campaigns: &[Campaign]) -> TargetingIndex {
        debug_assert!(campaigns.len() <= CAMPAIGNS_MAX);
        let campaigns = campaigns.get(..CAMPAIGNS_MAX).unwrap_or(campaigns);
        let n_campaigns = campaigns.len() as u32;
        let seed = random_seed();

        let mut active = Vec::with_capacity(campaigns.len());
        let mut countries = TextDimensionBuilder::default();
        let mut regions = TextDimensionBuilder::default();
        let mut device_types = CodeDimensionBuilder::new(DEVICE_TYPE_CODES);
        let mut os = TextDimensionBuilder::default();
        let mut domains = TextDimensionBuilder::default();
        let mut bundles = TextDimensionBuilder::default();
        let mut categories = TextDimensionBuilder::default();
        let mut segments = TextDimensionBuilder::default();
        let mut hours = CodeDimensionBuilder::new(HOURS_PER_WEEK);
        let mut media = MediaBuilder::default();
        let mut creatives = Vec::new();
        let mut creative_starts = Vec::with_capacity(campaigns.len() + 1);
        let mut creative_mime_ids = Vec::new();
        let mut mimes = TextKeys::new(seed);
        let mut n_mimes = 0u32;

        for (rank, campaign) in (0u32..).zip(campaigns) {
            if campaign.status == CampaignStatus::Active {
                active.push(rank);
            }
            let targeting = &campaign.targeting;
            let none = || std::iter::empty::<&str>();
            countries.add(rank, targeting.countries.iter().map(|c| c.as_str()), none());
            regions.add(rank, targeting.regions.iter().map(String::as_str), none());
            device_types.add(
                rank,
                targeting.device_types.iter().map(|&code| usize::from(code)),
                !targeting.device_types.is_empty(),
            );
            os.add(rank, targeting.os.iter().map(String::as_str), none());
            for (builder, lists) in [
                (&mut domains, &targeting.domains),
                (&mut bundles, &targeting.bundles),
                (&mut categories, &targeting.categories),
                (&mut segments, &targeting.segments),
            ] {
                builder.add(
                    rank,
                    lists.include.iter().map(String::as_str),
                    lists.exclude.iter().map(String::as_str),
                );
            }
            let daypart_mask = daypart_hours(&targeting.dayparts);
            hours.add(
                rank,
                (0..HOURS_PER_WEEK).filter(|&hour| {
                    daypart_mask
                        .get(hour / 64)
                        .is_some_and(|word| word & (1 << (hour % 64)) != 0)
                }),
                !targeting.dayparts.is_empty(),
            );

            creative_starts.push(creatives.len() as u32);
            for creative in &campaign.creatives {
                let mime_start = creative_mime_ids.len() as u32;
                for mime in &creative.mimes {
                    let mime_id = match mimes.get(mime) {
                        Some(&mime_id) => mime_id,
                        None => {
                            mimes.insert(mime, n_mimes);
                            n_mimes += 1;
                            n_mimes - 1
                        }
                    };
                    creative_mime_ids.push(mime_id);
                }
                creatives.push(CreativeFit {
                    format: creative.format,
                    w: creative.w,
                    h: creative.h,
                    duration_s: creative.duration_s,
                    mime_start,
                    mime_end: creative_mime_ids.len() as u32,
                });
                match creative.format {
                    CreativeFormat::Banner => {
                        if creative.w > 0 && creative.h > 0 {
                            let sized = media
                                .banner_sizes
                                .entry((creative.w, creative.h))
                                .or_default();
                            push_rank(sized, rank);
                        }
                        push_rank(&mut media.banner_any, rank);
                    }
                    CreativeFormat::Video => push_rank(&mut media.video_any, rank),
                    CreativeFormat::Audio => push_rank(&mut media.audio_any, rank),
                    CreativeFormat::Native => push_rank(&mut media.native_any, rank),
                }
            }
        }
        creative_starts.push(creatives.len() as u32);

        let mut store = PostingStore::new(n_campaigns);
        let active = store.add_dense(&active);
        let mut banner_sizes = SizeKeys::new(seed);
        for ((w, h), ranks) in &media.banner_sizes {
            banner_sizes.insert(Size { w: *w, h: *h }, store.add(ranks));
        }
        let media = MediaPostings {
            banner_sizes,
            banner_any: store.add(&media.banner_any),
            video_any: store.add(&media.video_any),
            audio_any: store.add(&media.audio_any),
            native_any: store.add(&media.native_any),
        };
        creatives.shrink_to_fit();
        creative_mime_ids.shrink_to_fit();
        let mut index = TargetingIndex {
            n_campaigns,
            n_paused: n_campaigns.saturating_sub(active.n_campaigns() as u32),
            active,
            countries: countries.finish(&mut store, seed),
            regions: regions.finish(&mut store, seed),
            device_types: device_types.finish(&mut store),
            os: os.finish(&mut store, seed),
            domains: domains.finish(&mut store, seed),
            bundles: bundles.finish(&mut store, seed),
            categories: categories.finish(&mut store, seed),
            segments: segments.finish(&mut store, seed),
            hours: hours.finish(&mut store),
            media,
            creatives,
            creative_starts,
            creative_mime_ids,
            mimes,
            n_mimes,
            store,
        };
        for dimension in [
            &mut index.countries,
            &mut index.regions,
            &mut index.os,
            &mut index.domains,
            &mut index.bundles,
            &mut index.categories,
            &mut index.segments,
        ] {
            dimension.keys.shrink_to_fit();
        }
        index.mimes.shrink_to_fit();
        index.store.shrink_to_fit();
        debug_assert_eq!(index.creative_starts.len(), campaigns.len() + 1);
        debug_assert!(index.media.banner_sizes.values().all(|p| !p.is_empty()));
        debug_assert!(matches!(index.active, Posting::Dense { .. }));
        index
    }
}
