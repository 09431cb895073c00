//! Lookups: turning a request into groups of posting lists, then sweeping them in rank order.
//!
//! [`TargetingIndex::lookup`] resolves what depends only on the request (geo, device, context,
//! user, hour) once; [`Lookup::visit_matches`] adds each impression's media group and sweeps.
//! Everything a lookup builds lives in an [`IndexScratch`] that the shard reuses, so the
//! request path allocates nothing once the scratch has seen the shard's largest request.

use std::ops::ControlFlow;

use super::creative::ImpFit;
use super::hour::HourOfWeek;
use super::posting::{Posting, PostingStore, WORD_BITS};
use super::{CodeDimension, TargetingIndex, TextDimension};
use crate::adrequest::{
    AdRequest, CountryCode, Imp, ListRef, MediaKinds, TextRef, FORMATS_PER_BANNER_MAX,
    LIST_ENTRIES_MAX, USER_SEGMENTS_MAX,
};

/// Include groups of one sweep: one per dimension (status, country, region, device type, OS,
/// domain, bundle, category, segment, hour of week) and the impression's media group.
pub const GROUPS_MAX: usize = 11;

/// Labels of a domain name: at most 255 octets (RFC 1035), so at most 127 one-letter labels.
/// Bounds the parent domains a request can name.
pub const DOMAIN_LABELS_MAX: usize = 127;

/// Context categories of one request: `cat`, `sectioncat` and `pagecat`, each validated to at
/// most `LIST_ENTRIES_MAX` entries.
const CONTEXT_CATEGORIES_MAX: usize = 3 * LIST_ENTRIES_MAX;

/// Posting lists one sweep reads in its include groups, and likewise in its exclude union: per
/// dimension the untargeted list and one list per value of the request (every parent of the
/// domain, every category and its parent, every segment, every banner size). The scratch grows
/// to what the largest request needs, up to this; only a domain of more labels than DNS
/// allows, matched against campaign data naming such a domain, could need more.
pub const SOURCES_MAX: usize = 1 // status
    + 2 * 5 // country, region, device type, OS, hour: the untargeted list and the value's
    + 2 // bundle
    + 1 + DOMAIN_LABELS_MAX
    + 1 + 2 * CONTEXT_CATEGORIES_MAX
    + 1 + USER_SEGMENTS_MAX
    + (1 + FORMATS_PER_BANNER_MAX) + 4; // root size and formats; any banner, video, audio, native

const _: () = assert!(SOURCES_MAX < u32::MAX as usize);

/// One posting list being read by a sweep.
#[derive(Clone, Copy, Debug)]
struct Source {
    posting: Posting,
    /// Position in the sparse arena; unused for dense lists.
    cursor: usize,
    /// At most the rank at `cursor` (exactly it once read; `u64::MAX` past the end): a sparse
    /// list has nothing in words before this one's, which costs one comparison to know. Most
    /// sparse lists are empty in most words.
    next_rank: u64,
}

impl Source {
    fn new(posting: Posting) -> Source {
        let mut source = Source {
            posting,
            cursor: 0,
            next_rank: 0,
        };
        source.rewind();
        source
    }

    fn rewind(&mut self) {
        if let Posting::Sparse { rank_start, .. } = self.posting {
            self.cursor = rank_start;
            self.next_rank = 0;
        }
    }

    /// ORs the list's words `block_start..block_start + out.len()` into `out`.
    #[inline]
    fn or_block(&mut self, store: &PostingStore, block_start: usize, out: &mut [u64]) {
        match self.posting {
            Posting::Empty => {}
            Posting::Dense { word_start, .. } => store.or_dense_block(word_start, block_start, out),
            Posting::Sparse { rank_end, .. } => {
                let block_end = ((block_start + out.len()) * WORD_BITS) as u64;
                if self.next_rank >= block_end {
                    return;
                }
                self.next_rank =
                    store.or_sparse_block(&mut self.cursor, rank_end, block_start, out);
            }
        }
    }

    fn next_word(&self) -> usize {
        match self.posting {
            Posting::Sparse { .. } => {
                usize::try_from(self.next_rank / WORD_BITS as u64).unwrap_or(usize::MAX)
            }
            // Only all-sparse groups are asked; a dense list could have a campaign anywhere.
            Posting::Empty | Posting::Dense { .. } => 0,
        }
    }
}

/// A union of posting lists a campaign must be in: `source_start..exact_end` of the scratch's
/// sources admit outright, `exact_end..source_end` only after a per-creative check.
#[derive(Clone, Copy, Debug)]
struct Group {
    source_start: usize,
    exact_end: usize,
    source_end: usize,
    /// At least the campaigns in the union (the sum of its lists): groups are swept sparsest
    /// first, so most words are rejected after one or two groups.
    n_campaigns_max: u64,
    /// Every list is sparse, so the group knows where its next campaign lies.
    all_sparse: bool,
}

/// Per-shard storage of lookups, reused from request to request.
#[derive(Debug)]
pub struct IndexScratch {
    /// Include groups' lists: the request's first, then the current impression's.
    sources: Vec<Source>,
    n_request_sources: usize,
    /// The union of the exclude lists the request names.
    exclude_sources: Vec<Source>,
    request_groups: Vec<Group>,
    /// The request's groups and the impression's media group, sparsest first.
    imp_groups: Vec<Group>,
    /// The impression's MIME types as bitsets over the index's MIME ids.
    video_mime_words: Vec<u64>,
    audio_mime_words: Vec<u64>,
}

/// Lists reserved up front: enough for the requests exchanges send (a domain of a few labels,
/// a few categories, tens of segments); the scratch grows beyond, up to `SOURCES_MAX`, for
/// larger ones.
const SOURCES_RESERVED: usize = 256;

impl IndexScratch {
    pub fn new() -> IndexScratch {
        IndexScratch {
            sources: Vec::with_capacity(SOURCES_RESERVED),
            n_request_sources: 0,
            exclude_sources: Vec::with_capacity(SOURCES_RESERVED),
            request_groups: Vec::with_capacity(GROUPS_MAX),
            imp_groups: Vec::with_capacity(GROUPS_MAX),
            video_mime_words: Vec::new(),
            audio_mime_words: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.sources.clear();
        self.n_request_sources = 0;
        self.exclude_sources.clear();
        self.request_groups.clear();
        self.imp_groups.clear();
    }

    /// Bytes held, for sizing.
    pub fn capacity_bytes(&self) -> usize {
        (self.sources.capacity() + self.exclude_sources.capacity()) * std::mem::size_of::<Source>()
            + (self.request_groups.capacity() + self.imp_groups.capacity())
                * std::mem::size_of::<Group>()
            + (self.video_mime_words.capacity() + self.audio_mime_words.capacity())
                * std::mem::size_of::<u64>()
    }
}

impl Default for IndexScratch {
    fn default() -> Self {
        IndexScratch::new()
    }
}

/// Drops repeated lists from `sources`, sorted by identity; returns how many are kept in front.
fn dedup_sorted(sources: &mut [Source]) -> usize {
    let mut kept: usize = 0;
    for read in 0..sources.len() {
        let identity = sources.get(read).map(|source| source.posting.identity());
        let previous = kept
            .checked_sub(1)
            .and_then(|last| sources.get(last))
            .map(|source| source.posting.identity());
        if previous != identity {
            sources.swap(kept, read);
            kept += 1;
        }
    }
    kept
}

/// Gathers a request's groups into the scratch.
struct GroupBuilder<'s> {
    scratch: &'s mut IndexScratch,
    /// Some targeted dimension admits no campaign: nothing can match.
    impossible: bool,
}

impl GroupBuilder<'_> {
    /// Closes the group of the sources pushed since `source_start`: an include dimension
    /// whose group is empty admits nobody.
    fn close_group(&mut self, source_start: usize) {
        let sources = &mut self.scratch.sources;
        let pushed = sources.get_mut(source_start..).unwrap_or(&mut []);
        // The untargeted list and one value's list are always distinct: only groups of
        // several values (categories and their parents, segments) can repeat a list.
        if pushed.len() > 2 {
            pushed.sort_unstable_by_key(|source| source.posting.identity());
            let kept = dedup_sorted(pushed);
            sources.truncate(source_start + kept);
        }
        let group_sources = sources.get(source_start..).unwrap_or(&[]);
        if group_sources.is_empty() {
            self.impossible = true;
            return;
        }
        debug_assert!(self.scratch.request_groups.len() < GROUPS_MAX);
        self.scratch.request_groups.push(Group {
            source_start,
            exact_end: sources.len(),
            source_end: sources.len(),
            n_campaigns_max: group_sources.iter().map(|s| s.posting.n_campaigns()).sum(),
            all_sparse: group_sources.iter().all(|s| s.posting.is_sparse()),
        });
    }

    fn text<'v>(&mut self, dimension: &TextDimension, values: impl IntoIterator<Item = &'v str>) {
        if !dimension.has_includes && !dimension.has_excludes {
            return;
        }
        let source_start = self.scratch.sources.len();
        if dimension.has_includes && !dimension.untargeted.is_empty() {
            self.scratch.sources.push(Source::new(dimension.untargeted));
        }
        for value in values {
            if value.is_empty() {
                continue;
            }
            let Some(postings) = dimension.keys.get(value) else {
                continue;
            };
            if !postings.include.is_empty() {
                self.scratch.sources.push(Source::new(postings.include));
            }
            if !postings.exclude.is_empty() {
                self.scratch
                    .exclude_sources
                    .push(Source::new(postings.exclude));
            }
        }
        if dimension.has_includes {
            self.close_group(source_start);
        }
    }

    fn code(&mut self, dimension: &CodeDimension, code: Option<usize>) {
        if !dimension.has_includes {
            return;
        }
        let source_start = self.scratch.sources.len();
        if !dimension.untargeted.is_empty() {
            self.scratch.sources.push(Source::new(dimension.untargeted));
        }
        if let Some(&posting) = code.and_then(|code| dimension.by_code.get(code)) {
            if !posting.is_empty() {
                self.scratch.sources.push(Source::new(posting));
            }
        }
        self.close_group(source_start);
    }

    /// Ends the request's part; returns whether nothing can match.
    fn finish(self) -> bool {
        let excludes = &mut self.scratch.exclude_sources;
        if excludes.len() > 1 {
            excludes.sort_unstable_by_key(|source| source.posting.identity());
            let kept = dedup_sorted(excludes);
            excludes.truncate(kept);
        }
        // Sparsest first; each impression inserts its media group in place.
        self.scratch
            .request_groups
            .sort_unstable_by_key(|group| group.n_campaigns_max);
        self.scratch.n_request_sources = self.scratch.sources.len();
        self.impossible
    }
}

/// `domain` and each suffix of it after a dot, leaving out those with more labels than any
/// key has (they cannot match).
fn domain_suffixes(domain: &str, labels_max: usize) -> impl Iterator<Item = &str> {
    let n_labels = domain.bytes().filter(|&byte| byte == b'.').count() + 1;
    // Byte positions rather than `match_indices`, whose searcher costs more to set up than a
    // domain is long.
    let parents = domain
        .bytes()
        .enumerate()
        .filter(|&(_, byte)| byte == b'.')
        .map(move |(dot_idx, _)| domain.get(dot_idx + 1..).unwrap_or(""));
    std::iter::once(domain)
        .chain(parents)
        .skip(n_labels.saturating_sub(labels_max))
}

/// A category and its parent: the text before its first `-` (`IAB3` for `IAB3-1`).
fn category_and_parent(category: &str) -> impl Iterator<Item = &str> {
    let parent = category
        .bytes()
        .position(|byte| byte == b'-')
        .and_then(|dash_idx| category.get(..dash_idx))
        .filter(|parent| !parent.is_empty());
    std::iter::once(category).chain(parent)
}

impl TargetingIndex {
    /// Resolves the request's part of a lookup (geo, device, context, user, `hour`) into
    /// `scratch`; then [`Lookup::visit_matches`] finds each impression's campaigns. `hour`
    /// comes from the caller's clock.
    pub fn lookup<'a>(
        &'a self,
        request: &'a AdRequest,
        hour: HourOfWeek,
        scratch: &'a mut IndexScratch,
    ) -> Lookup<'a> {
        scratch.clear();
        let mut groups = GroupBuilder {
            scratch: &mut *scratch,
            impossible: self.n_campaigns == 0,
        };
        if self.n_paused > 0 {
            let source_start = groups.scratch.sources.len();
            groups.scratch.sources.push(Source::new(self.active));
            groups.close_group(source_start);
        }
        let device = &request.device;
        let context = &request.context;
        groups.text(
            &self.countries,
            device.country.as_ref().map(CountryCode::as_str),
        );
        groups.text(&self.regions, [request.text(device.region)]);
        groups.code(&self.device_types, device.device_type.map(usize::from));
        groups.text(&self.os, [request.text(device.os)]);
        groups.text(
            &self.domains,
            domain_suffixes(request.text(context.domain), self.domains.labels_max),
        );
        groups.text(&self.bundles, [request.text(context.bundle)]);
        groups.text(
            &self.categories,
            request
                .texts(context.categories)
                .flat_map(category_and_parent),
        );
        groups.text(&self.segments, request.texts(request.user.segment_ids));
        groups.code(&self.hours, Some(hour.idx()));
        let impossible = groups.finish();
        Lookup {
            index: self,
            request,
            scratch,
            impossible,
        }
    }

    /// The campaigns whose targeting matches `imp` of `request` at `now_unix_s`, in
    /// ascending `campaign_idx` (bid order), until `visit` breaks. For one impression; a caller
    /// with several resolves the request once with [`TargetingIndex::lookup`].
    pub fn for_each_match<B>(
        &self,
        request: &AdRequest,
        imp: &Imp,
        now_unix_s: i64,
        scratch: &mut IndexScratch,
        visit: impl FnMut(u32) -> ControlFlow<B>,
    ) {
        let mut lookup = self.lookup(request, HourOfWeek::from_unix_s(now_unix_s), scratch);
        // Whether the visitor stopped is the visitor's own knowledge.
        let _ = lookup.visit_matches(imp, usize::MAX, visit);
    }

    /// Whether one of the creatives of campaign `rank` fits.
    fn campaign_fits(&self, rank: u32, imp: &ImpFit<'_>) -> bool {
        let rank = rank as usize;
        let start = self.creative_starts.get(rank).copied().unwrap_or(0) as usize;
        let end = self.creative_starts.get(rank + 1).copied().unwrap_or(0) as usize;
        self.creatives
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .any(|creative| creative.fits(imp, &self.creative_mime_ids))
    }
}

/// A request resolved against an index, ready to find each impression's campaigns.
#[derive(Debug)]
pub struct Lookup<'a> {
    index: &'a TargetingIndex,
    request: &'a AdRequest,
    scratch: &'a mut IndexScratch,
    impossible: bool,
}

/// Sets the bits of the MIME ids of `mimes` that the index knows.
fn mark_mimes(
    index: &TargetingIndex,
    request: &AdRequest,
    mimes: Option<ListRef<TextRef>>,
    words: &mut Vec<u64>,
) {
    words.clear();
    words.resize((index.n_mimes as usize).div_ceil(64), 0);
    let Some(mimes) = mimes else {
        return;
    };
    for mime in request.texts(mimes) {
        if let Some(&mime_id) = index.mimes.get(mime) {
            if let Some(word) = words.get_mut(mime_id as usize / 64) {
                *word |= 1 << (mime_id % 64);
            }
        }
    }
}

impl Lookup<'_> {
    /// Calls `visit` with the `campaign_idx` of each campaign that matches `imp`, in ascending
    /// order (bid order), among the first `rank_end` campaigns (the caller's floor cut-off;
    /// `usize::MAX` for all), until `visit` breaks; returns the break.
    pub fn visit_matches<B>(
        &mut self,
        imp: &Imp,
        rank_end: usize,
        mut visit: impl FnMut(u32) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        if self.impossible {
            return ControlFlow::Continue(());
        }
        let index = self.index;
        let request = self.request;
        let IndexScratch {
            sources,
            n_request_sources,
            exclude_sources,
            request_groups,
            imp_groups,
            video_mime_words,
            audio_mime_words,
        } = &mut *self.scratch;

        // The previous impression's media group goes, and every cursor starts over.
        sources.truncate(*n_request_sources);
        for source in sources.iter_mut().chain(exclude_sources.iter_mut()) {
            source.rewind();
        }

        let media = &index.media;
        let source_start = sources.len();
        if imp.media.contains(MediaKinds::BANNER) {
            for &size in request.sizes(imp.sizes) {
                if let Some(&posting) = media.banner_sizes.get(size) {
                    sources.push(Source::new(posting));
                }
            }
        }
        if imp.media.contains(MediaKinds::NATIVE) && !media.native_any.is_empty() {
            sources.push(Source::new(media.native_any));
        }
        let exact_end = sources.len();
        let checked = [
            (
                imp.media.contains(MediaKinds::BANNER) && !imp.flex_sizes.is_empty(),
                media.banner_any,
            ),
            (imp.video.is_some(), media.video_any),
            (imp.audio.is_some(), media.audio_any),
        ];
        for (wanted, posting) in checked {
            if wanted && !posting.is_empty() {
                sources.push(Source::new(posting));
            }
        }
        if sources.len() == source_start {
            return ControlFlow::Continue(());
        }
        let media_sources = sources.get(source_start..).unwrap_or(&[]);
        let media_group = Group {
            source_start,
            exact_end,
            source_end: sources.len(),
            n_campaigns_max: media_sources.iter().map(|s| s.posting.n_campaigns()).sum(),
            all_sparse: media_sources.iter().all(|s| s.posting.is_sparse()),
        };
        let media_pos = request_groups
            .partition_point(|group| group.n_campaigns_max <= media_group.n_campaigns_max);
        let (sparser, denser) = request_groups.split_at(media_pos.min(request_groups.len()));
        imp_groups.clear();
        imp_groups.extend_from_slice(sparser);
        imp_groups.push(media_group);
        imp_groups.extend_from_slice(denser);
        debug_assert!(imp_groups.len() <= GROUPS_MAX);
        debug_assert!(imp_groups
            .windows(2)
            .all(|pair| pair[0].n_campaigns_max <= pair[1].n_campaigns_max));

        mark_mimes(index, request, imp.video.map(|v| v.mimes), video_mime_words);
        mark_mimes(index, request, imp.audio.map(|a| a.mimes), audio_mime_words);
        let imp_fit = ImpFit {
            media: imp.media,
            sizes: request.sizes(imp.sizes),
            flex_sizes: request.flex_sizes(imp.flex_sizes),
            video_durations_s: imp.video.map(|v| (v.minduration_s, v.maxduration_s)),
            audio_durations_s: imp.audio.map(|a| (a.minduration_s, a.maxduration_s)),
            video_mime_words,
            audio_mime_words,
        };
        let rank_limit = rank_end.min(index.n_campaigns as usize);
        sweep(
            &index.store,
            imp_groups,
            sources,
            exclude_sources,
            rank_limit,
            |rank, needs_check| {
                if needs_check && !index.campaign_fits(rank, &imp_fit) {
                    return ControlFlow::Continue(());
                }
                visit(rank)
            },
        )
    }
}

/// Words per block of a sweep: each group's lists are read a block at a time, so a list's
/// kind is dispatched on once per block, and a dense list's words are ORed in a run the
/// compiler vectorizes. A sweep reads whole blocks, so a visitor that stops early may have cost
/// up to a block's words more; at 8 words (512 campaigns) that is a few loads per list.
const BLOCK_WORDS: usize = 8;

/// One block's words.
type Block = [u64; BLOCK_WORDS];

/// ORs the block of `len` words from `block_start` of a group's exact and checked lists into
/// `exact` and `checked`.
#[inline]
fn group_block(
    store: &PostingStore,
    group: &Group,
    sources: &mut [Source],
    block_start: usize,
    len: usize,
    exact: &mut Block,
    checked: &mut Block,
) {
    let exact = exact.get_mut(..len).unwrap_or(&mut []);
    for source in sources
        .get_mut(group.source_start..group.exact_end)
        .unwrap_or(&mut [])
    {
        source.or_block(store, block_start, exact);
    }
    let checked = checked.get_mut(..len).unwrap_or(&mut []);
    for source in sources
        .get_mut(group.exact_end..group.source_end)
        .unwrap_or(&mut [])
    {
        source.or_block(store, block_start, checked);
    }
}

/// The word of the group's next campaign, or an earlier one; the group's cursors stand past
/// the current block.
fn group_next_word(group: &Group, sources: &[Source]) -> usize {
    sources
        .get(group.source_start..group.source_end)
        .unwrap_or(&[])
        .iter()
        .map(Source::next_word)
        .min()
        .unwrap_or(usize::MAX)
}

/// Walks the ranks below `rank_limit` a block of words at a time: a campaign is accepted when
/// it is in every group and in no exclude list. `accept` gets its rank and whether it came
/// only through a list that needs a per-creative check.
fn sweep<B>(
    store: &PostingStore,
    groups: &[Group],
    sources: &mut [Source],
    exclude_sources: &mut [Source],
    rank_limit: usize,
    mut accept: impl FnMut(u32, bool) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let Some(driver) = groups.first() else {
        // Callers always pass the media group.
        debug_assert!(false, "a sweep without groups");
        return ControlFlow::Continue(());
    };
    let n_words = rank_limit.div_ceil(WORD_BITS);
    let mut block_start = 0;
    while block_start < n_words {
        let len = (n_words - block_start).min(BLOCK_WORDS);
        // Words past the sweep stay 0; the last word keeps only ranks below `rank_limit`.
        let mut bits: Block = [0; BLOCK_WORDS];
        for (word_offset, word) in bits.iter_mut().enumerate().take(len) {
            let tail_bits = rank_limit - (block_start + word_offset) * WORD_BITS;
            *word = if tail_bits >= WORD_BITS {
                u64::MAX
            } else {
                (1u64 << tail_bits) - 1
            };
        }
        let mut checked_bits: Block = [0; BLOCK_WORDS];
        let mut rejected_by_driver = false;
        let mut any = 0;
        for (group_pos, group) in groups.iter().enumerate() {
            let mut exact: Block = [0; BLOCK_WORDS];
            let mut checked: Block = [0; BLOCK_WORDS];
            group_block(
                store,
                group,
                sources,
                block_start,
                len,
                &mut exact,
                &mut checked,
            );
            any = 0;
            for word_offset in 0..BLOCK_WORDS {
                bits[word_offset] &= exact[word_offset] | checked[word_offset];
                checked_bits[word_offset] |= checked[word_offset] & !exact[word_offset];
                any |= bits[word_offset];
            }
            if any == 0 {
                rejected_by_driver = group_pos == 0;
                break;
            }
        }
        if any == 0 {
            block_start = if rejected_by_driver && driver.all_sparse {
                // Nothing can match before the driver's next campaign.
                group_next_word(driver, sources).max(block_start + len)
            } else {
                block_start + len
            };
            continue;
        }
        if !exclude_sources.is_empty() {
            let mut excluded: Block = [0; BLOCK_WORDS];
            for source in exclude_sources.iter_mut() {
                source.or_block(
                    store,
                    block_start,
                    excluded.get_mut(..len).unwrap_or(&mut []),
                );
            }
            for word_offset in 0..BLOCK_WORDS {
                bits[word_offset] &= !excluded[word_offset];
            }
        }
        for word_offset in 0..len {
            let mut word = bits[word_offset];
            let checked_word = checked_bits[word_offset] & word;
            while word != 0 {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                let rank = (block_start + word_offset) * WORD_BITS + bit;
                debug_assert!(rank < rank_limit);
                accept(rank as u32, checked_word & (1 << bit) != 0)?;
            }
        }
        block_start += len;
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_suffixes_walk_parents_up_to_the_longest_key() {
        let all: Vec<&str> = domain_suffixes("a.news.example.com", 10).collect();
        assert_eq!(
            all,
            [
                "a.news.example.com",
                "news.example.com",
                "example.com",
                "com"
            ]
        );
        let two: Vec<&str> = domain_suffixes("a.news.example.com", 2).collect();
        assert_eq!(two, ["example.com", "com"]);
        let none: Vec<&str> = domain_suffixes("example.com", 0).collect();
        assert!(none.is_empty());
        let trailing: Vec<&str> = domain_suffixes("example.com.", 5).collect();
        assert_eq!(trailing, ["example.com.", "com.", ""]);
    }

    #[test]
    fn categories_bring_their_parent() {
        let both: Vec<&str> = category_and_parent("IAB3-1").collect();
        assert_eq!(both, ["IAB3-1", "IAB3"]);
        let alone: Vec<&str> = category_and_parent("IAB3").collect();
        assert_eq!(alone, ["IAB3"]);
        let odd: Vec<&str> = category_and_parent("-1").collect();
        assert_eq!(odd, ["-1"]);
    }
}
