//! Targeting: which campaigns may bid on an impression, found through an inverted index in
//! bid order, so the auction reads the best few candidates and stops. The scan of every
//! campaign exists only in the tests, as the reference the index is checked against.
//!
//! # Why bid order
//! The catalog orders campaigns by bid normalised to the base currency, highest first, and
//! builds the index over that slice: a campaign's index (its *rank*) is its place in the bid
//! order. The index yields matches in ascending rank and stops as soon as the visitor breaks
//! (the auction needs the winner and the runner-up, and nothing under the floor), or at a rank
//! bound the caller derives from the floor. A lookup that stops early then costs about as much
//! with 100k campaigns as with 1k: the first matches lie as far down the ranking in both.
//!
//! # Representation
//! Every targeting value (a country, a domain, a segment, a banner size, an hour of the week)
//! owns a posting list of the campaigns it admits, stored as a bitset when at least one
//! campaign in 32 is in it and as sorted ranks otherwise (`posting`). Each dimension also keeps
//! the list of campaigns that include nothing, which every request satisfies, even one without
//! the field. Text values are found in hashbrown tables probed case-insensitively without
//! copying the request's text (`keys`).
//!
//! A lookup turns the request into *groups*, one per targeted dimension: the union of the
//! untargeted list and the lists of the request's values (every parent of the domain, every
//! category and its parent, every segment...); and one union of all exclude lists. The
//! impression adds the media group (its banner sizes, and its video, audio and native
//! objects). A campaign matches when it is in every group and in no exclude list, so the
//! sweep walks blocks of eight 64-campaign words in rank order, ANDs the groups' blocks
//! sparsest group first (stopping at the first all-zero block), removes the excluded bits and
//! visits what is left. Reading a block per list rather than a word dispatches on the list's
//! kind once per 512 campaigns; it halved the sweep's instructions on the banner
//! request at 10k campaigns. Sparse lists are read through forward-only cursors that gallop
//! over gaps, and when the sparsest group holds only sparse lists the sweep jumps straight to
//! the next word where that group has a campaign. Dimensions that no campaign targets add no
//! group at all.
//!
//! What posting lists cannot decide (flexible banner sizes, video and audio MIME types and
//! durations) is decided per candidate on a compact copy of the creatives, and only for
//! candidates that passed every other dimension (`creative`).
//!
//! # Semantics
//! As documented on [`crate::campaign::Targeting`], and:
//! - text (domains, bundles, categories, segments, OS, regions, MIME types) matches ASCII
//!   case-insensitively, whatever the case of either side; an empty request value is absent;
//! - `domains` match the request's domain and each suffix of it at a dot, down to the
//!   top-level domain (`example.com` matches `news.example.com`, not `badexample.com`);
//! - `categories` match each context category (`cat`, `sectioncat`, `pagecat`) and its
//!   parent, the text before its first `-` (`IAB3` matches `IAB3-1`; `IAB3-1` does not match a
//!   request in `IAB3`);
//! - a country that was not three letters counts as absent (see `openrtb::Device::country`);
//!   regions compare as text, not scoped by country, as the model holds them;
//! - dayparts are matched against the [`HourOfWeek`] the caller passes; a daypart with
//!   `start_hour >= end_hour` never runs (see `hour::daypart_hours`);
//! - paused campaigns never match; [`TargetingIndex::set_paused`] changes that without a
//!   rebuild;
//! - a campaign matches an impression only if one of its creatives fits it
//!   ([`creative_fits`]).
//!
//! # Allocation and limits
//! A lookup allocates nothing once its [`IndexScratch`] has served the shard's largest request:
//! the groups and lists of a lookup live in the scratch, bounded by [`GROUPS_MAX`] and
//! [`SOURCES_MAX`] (tested with a counting allocator in
//! `engine/tests/targeting_lookup_allocates_nothing.rs`).

mod build;
mod creative;
mod hour;
mod keys;
mod lookup;
mod posting;

use std::fmt;

/// The banner-size rule, shared with the validation of external bids (`bidders::response`).
pub(crate) use creative::banner_fits;
pub use creative::creative_fits;
pub use hour::{HourOfWeek, HOURS_PER_WEEK};
pub use lookup::{IndexScratch, Lookup, DOMAIN_LABELS_MAX, GROUPS_MAX, SOURCES_MAX};

use creative::CreativeFit;
use keys::{SizeKeys, TextKeys};
use posting::{Posting, PostingStore};

/// Campaigns one index holds: ranks are `u32`.
pub const CAMPAIGNS_MAX: usize = u32::MAX as usize;

/// The include and exclude lists of one text value.
#[derive(Clone, Copy, Debug, Default)]
struct KeyPostings {
    include: Posting,
    exclude: Posting,
}

/// A dimension whose values are text (country codes included).
#[derive(Debug)]
struct TextDimension {
    keys: TextKeys<KeyPostings>,
    /// Campaigns with an empty include list: any value, or none, satisfies them.
    untargeted: Posting,
    /// Whether any campaign has an include list; if none has, the dimension adds no group.
    has_includes: bool,
    /// Whether any campaign has an exclude list; if neither, the request's value is not even
    /// looked up.
    has_excludes: bool,
    /// Most dot-separated labels in a key: a domain suffix with more cannot be a key.
    labels_max: usize,
}

/// A dimension whose values are small codes (device types, hours of the week).
#[derive(Debug)]
struct CodeDimension {
    by_code: Vec<Posting>,
    untargeted: Posting,
    has_includes: bool,
}

/// Campaigns by the kinds of creative they have.
#[derive(Debug)]
struct MediaPostings {
    /// Campaigns with a banner creative of exactly that size.
    banner_sizes: SizeKeys<Posting>,
    /// Campaigns with any banner creative: candidates for flexible sizes, checked one by one.
    banner_any: Posting,
    video_any: Posting,
    audio_any: Posting,
    native_any: Posting,
}

/// The inverted index over one shard's campaigns. See the module doc.
pub struct TargetingIndex {
    n_campaigns: u32,
    store: PostingStore,
    /// Campaigns not paused; a dense list so that pausing flips a bit.
    active: Posting,
    n_paused: u32,
    countries: TextDimension,
    regions: TextDimension,
    device_types: CodeDimension,
    os: TextDimension,
    domains: TextDimension,
    bundles: TextDimension,
    categories: TextDimension,
    segments: TextDimension,
    hours: CodeDimension,
    media: MediaPostings,
    /// Every campaign's creatives, campaign after campaign; campaign `rank` owns
    /// `creative_starts[rank]..creative_starts[rank + 1]`.
    creatives: Vec<CreativeFit>,
    creative_starts: Vec<u32>,
    creative_mime_ids: Vec<u32>,
    /// MIME types of the creatives, lower-cased, to ids.
    mimes: TextKeys<u32>,
    n_mimes: u32,
}

impl TargetingIndex {
    /// Campaigns in the index, paused ones included.
    pub fn n_campaigns(&self) -> usize {
        self.n_campaigns as usize
    }

    pub fn n_paused(&self) -> usize {
        self.n_paused as usize
    }

    /// Pauses or resumes the campaign at `campaign_idx` without a rebuild (an admin pause takes
    /// effect on the next lookup). False if there is no such campaign.
    pub fn set_paused(&mut self, campaign_idx: u32, paused: bool) -> bool {
        let TargetingIndex {
            n_campaigns,
            store,
            active,
            n_paused,
            ..
        } = self;
        let changed = store.set_dense_bit(active, campaign_idx, !paused);
        *n_paused = n_campaigns.saturating_sub(active.n_campaigns() as u32);
        changed
    }

    /// Heap and inline bytes held by the index, to report memory per campaign.
    pub fn memory_bytes(&self) -> usize {
        let text_dimensions = [
            &self.countries,
            &self.regions,
            &self.os,
            &self.domains,
            &self.bundles,
            &self.categories,
            &self.segments,
        ];
        let code_dimensions = [&self.device_types, &self.hours];
        std::mem::size_of::<Self>()
            + self.store.memory_bytes()
            + text_dimensions
                .iter()
                .map(|dimension| dimension.keys.memory_bytes())
                .sum::<usize>()
            + code_dimensions
                .iter()
                .map(|dimension| dimension.by_code.capacity() * std::mem::size_of::<Posting>())
                .sum::<usize>()
            + self.media.banner_sizes.memory_bytes()
            + self.creatives.capacity() * std::mem::size_of::<CreativeFit>()
            + self.creative_starts.capacity() * std::mem::size_of::<u32>()
            + self.creative_mime_ids.capacity() * std::mem::size_of::<u32>()
            + self.mimes.memory_bytes()
    }
}

impl fmt::Debug for TargetingIndex {
    // A summary: the lists themselves are megabytes of bits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetingIndex")
            .field("n_campaigns", &self.n_campaigns)
            .field("n_paused", &self.n_paused)
            .field("n_domains", &self.domains.keys.len())
            .field("n_bundles", &self.bundles.keys.len())
            .field("n_categories", &self.categories.keys.len())
            .field("n_segments", &self.segments.keys.len())
            .field("n_mimes", &self.n_mimes)
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}
