//! Posting lists: for one targeting value, the campaigns it admits, by rank (the campaign's
//! position in bid order). A list is stored either dense, as a bitset of one bit per campaign,
//! or sparse, as the sorted ranks; whichever is smaller (see [`DENSE_DIVISOR`]). All lists of
//! an index live in two arenas of one [`PostingStore`], so an index is a handful of
//! allocations however many values it has, and a [`Posting`] is a plain `Copy` handle.
//!
//! Reading is by block of 64-campaign words, in ascending order: a dense list is a run of
//! loads; a sparse list is read through a cursor that only moves forward and gallops over long
//! gaps, so a sweep over a sparse list costs its length plus a logarithm per gap, never a scan
//! of all campaigns.

/// A list holding at least one campaign in `DENSE_DIVISOR` is stored as a bitset: at that
/// density a bitset (1 bit per campaign) and sorted `u32` ranks (32 bits per member) take the
/// same memory, and the bitset reads faster.
pub(crate) const DENSE_DIVISOR: u64 = 32;

/// Campaigns per bitset word.
pub(crate) const WORD_BITS: usize = 64;

/// Where one posting list lives in its [`PostingStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Posting {
    /// No campaign.
    #[default]
    Empty,
    /// `n_words` bitset words from `word_start` in the dense arena.
    Dense { word_start: usize, n_campaigns: u32 },
    /// Ascending ranks `rank_start..rank_end` of the sparse arena.
    Sparse { rank_start: usize, rank_end: usize },
}

impl Posting {
    pub(crate) fn is_empty(self) -> bool {
        matches!(self, Posting::Empty)
    }

    pub(crate) fn n_campaigns(self) -> u64 {
        match self {
            Posting::Empty => 0,
            Posting::Dense { n_campaigns, .. } => u64::from(n_campaigns),
            Posting::Sparse {
                rank_start,
                rank_end,
            } => rank_end.saturating_sub(rank_start) as u64,
        }
    }

    pub(crate) fn is_sparse(self) -> bool {
        matches!(self, Posting::Sparse { .. })
    }

    /// A number that tells two lists of one store apart, so that a list named twice by one
    /// request (two categories with the same parent) is read once.
    pub(crate) fn identity(self) -> u64 {
        match self {
            Posting::Empty => 0,
            Posting::Dense { word_start, .. } => (word_start as u64) << 2 | 1,
            Posting::Sparse { rank_start, .. } => (rank_start as u64) << 2 | 2,
        }
    }
}

/// The arenas holding every posting list of one index.
#[derive(Debug, Default)]
pub(crate) struct PostingStore {
    n_campaigns: u32,
    /// Words per dense list: enough for `n_campaigns` bits.
    n_words: usize,
    dense_words: Vec<u64>,
    sparse_ranks: Vec<u32>,
}

impl PostingStore {
    pub(crate) fn new(n_campaigns: u32) -> PostingStore {
        PostingStore {
            n_campaigns,
            n_words: (n_campaigns as usize).div_ceil(WORD_BITS),
            dense_words: Vec::new(),
            sparse_ranks: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn n_words(&self) -> usize {
        self.n_words
    }

    /// Stores a list given as ascending ranks without repeats, each below `n_campaigns`.
    pub(crate) fn add(&mut self, ranks: &[u32]) -> Posting {
        debug_assert!(ranks.windows(2).all(|pair| pair[0] < pair[1]));
        debug_assert!(ranks.iter().all(|&rank| rank < self.n_campaigns));
        if ranks.is_empty() {
            return Posting::Empty;
        }
        if ranks.len() as u64 * DENSE_DIVISOR >= u64::from(self.n_campaigns) {
            self.add_dense(ranks)
        } else {
            let rank_start = self.sparse_ranks.len();
            self.sparse_ranks.extend_from_slice(ranks);
            Posting::Sparse {
                rank_start,
                rank_end: self.sparse_ranks.len(),
            }
        }
    }

    /// Stores a list as a bitset whatever its density, for lists whose bits change after the
    /// build (paused campaigns). An empty list still gets its words.
    pub(crate) fn add_dense(&mut self, ranks: &[u32]) -> Posting {
        let word_start = self.dense_words.len();
        self.dense_words.resize(word_start + self.n_words, 0);
        let words = self.dense_words.get_mut(word_start..).unwrap_or(&mut []);
        let mut n_campaigns = 0;
        for &rank in ranks {
            if let Some(word) = words.get_mut(rank as usize / WORD_BITS) {
                *word |= 1 << (rank as usize % WORD_BITS);
                n_campaigns += 1;
            }
        }
        Posting::Dense {
            word_start,
            n_campaigns,
        }
    }

    /// Sets or clears one campaign's bit of a dense list; false if the list is not dense or
    /// the rank is out of range.
    pub(crate) fn set_dense_bit(&mut self, posting: &mut Posting, rank: u32, value: bool) -> bool {
        let Posting::Dense {
            word_start,
            n_campaigns,
        } = posting
        else {
            return false;
        };
        if rank >= self.n_campaigns {
            return false;
        }
        let Some(word) = self
            .dense_words
            .get_mut(*word_start + rank as usize / WORD_BITS)
        else {
            return false;
        };
        let bit = 1u64 << (rank as usize % WORD_BITS);
        let was_set = *word & bit != 0;
        if value && !was_set {
            *word |= bit;
            *n_campaigns += 1;
        } else if !value && was_set {
            *word &= !bit;
            *n_campaigns -= 1;
        }
        true
    }

    /// Word `word_idx` of the dense list starting at `word_start` (tests).
    #[cfg(test)]
    pub(crate) fn dense_word(&self, word_start: usize, word_idx: usize) -> u64 {
        debug_assert!(word_idx < self.n_words);
        self.dense_words
            .get(word_start + word_idx)
            .copied()
            .unwrap_or(0)
    }

    /// ORs words `block_start..block_start + out.len()` of the dense list starting at
    /// `word_start` into `out`.
    #[inline]
    pub(crate) fn or_dense_block(&self, word_start: usize, block_start: usize, out: &mut [u64]) {
        debug_assert!(block_start + out.len() <= self.n_words);
        let from = word_start + block_start;
        let words = self.dense_words.get(from..from + out.len()).unwrap_or(&[]);
        for (into, &word) in out.iter_mut().zip(words) {
            *into |= word;
        }
    }

    /// ORs the members of the sparse list ending at `rank_end` that fall in words
    /// `block_start..block_start + out.len()` into `out`, reading from `*cursor` on, which is
    /// left at the first member past the block; returns that member's rank (`u64::MAX` at the
    /// end) so the caller can skip blocks before it without reading the arena. Blocks must be
    /// read in ascending order, without overlap.
    #[inline]
    pub(crate) fn or_sparse_block(
        &self,
        cursor: &mut usize,
        rank_end: usize,
        block_start: usize,
        out: &mut [u64],
    ) -> u64 {
        let ranks = self.sparse_ranks.get(..rank_end).unwrap_or(&[]);
        let block_first = (block_start * WORD_BITS) as u64;
        let block_end = block_first + (out.len() * WORD_BITS) as u64;
        let mut position = *cursor;
        if ranks
            .get(position)
            .is_some_and(|&rank| u64::from(rank) < block_first)
        {
            position = gallop(ranks, position, block_first);
        }
        let mut next_rank = u64::MAX;
        while let Some(&rank) = ranks.get(position) {
            let rank = u64::from(rank);
            if rank >= block_end {
                next_rank = rank;
                break;
            }
            debug_assert!(rank >= block_first);
            let offset = (rank - block_first) as usize;
            if let Some(word) = out.get_mut(offset / WORD_BITS) {
                *word |= 1 << (offset % WORD_BITS);
            }
            position += 1;
        }
        *cursor = position;
        next_rank
    }

    /// Gives back what the arenas' growth over-allocated, once the index is built.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.dense_words.shrink_to_fit();
        self.sparse_ranks.shrink_to_fit();
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.dense_words.capacity() * std::mem::size_of::<u64>()
            + self.sparse_ranks.capacity() * std::mem::size_of::<u32>()
    }

    /// Copies a list out as ascending ranks (tests and debugging; allocates).
    #[cfg(test)]
    pub(crate) fn ranks(&self, posting: Posting) -> Vec<u32> {
        match posting {
            Posting::Empty => Vec::new(),
            Posting::Dense { word_start, .. } => (0..self.n_campaigns)
                .filter(|&rank| {
                    self.dense_word(word_start, rank as usize / WORD_BITS)
                        & (1 << (rank as usize % WORD_BITS))
                        != 0
                })
                .collect(),
            Posting::Sparse {
                rank_start,
                rank_end,
            } => self
                .sparse_ranks
                .get(rank_start..rank_end)
                .unwrap_or(&[])
                .to_vec(),
        }
    }
}

/// The first position after `position` whose rank is at least `target`, given that the rank
/// at `position` is below it: doubling steps, then a binary search within the last step, so
/// skipping `d` ranks costs `O(log d)`.
fn gallop(ranks: &[u32], position: usize, target: u64) -> usize {
    let rest = ranks.get(position..).unwrap_or(&[]);
    debug_assert!(rest.first().is_some_and(|&rank| u64::from(rank) < target));
    let mut step = 1;
    while rest.get(step).is_some_and(|&rank| u64::from(rank) < target) {
        step *= 2;
    }
    // rest[step / 2] < target, and rest[step] >= target or lies past the end.
    let low = step / 2;
    let high = step.min(rest.len());
    let within = rest
        .get(low..high)
        .unwrap_or(&[])
        .partition_point(|&rank| u64::from(rank) < target);
    position + low + within
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a list back block by block (`block_words` words each), leaving out the blocks
    /// in `skip_blocks`.
    fn read_all(
        store: &PostingStore,
        posting: Posting,
        block_words: usize,
        skip_blocks: &[usize],
    ) -> Vec<u32> {
        let mut ranks = Vec::new();
        let mut cursor = match posting {
            Posting::Sparse { rank_start, .. } => rank_start,
            _ => 0,
        };
        for (block_idx, block_start) in (0..store.n_words()).step_by(block_words).enumerate() {
            if skip_blocks.contains(&block_idx) {
                continue;
            }
            let mut block = vec![0u64; block_words.min(store.n_words() - block_start)];
            match posting {
                Posting::Empty => {}
                Posting::Dense { word_start, .. } => {
                    store.or_dense_block(word_start, block_start, &mut block)
                }
                Posting::Sparse { rank_end, .. } => {
                    let next =
                        store.or_sparse_block(&mut cursor, rank_end, block_start, &mut block);
                    let block_end = ((block_start + block.len()) * WORD_BITS) as u64;
                    assert!(next >= block_end, "the next member lies past the block");
                }
            }
            for (word_offset, word) in block.iter().enumerate() {
                for bit in 0..WORD_BITS {
                    if word & (1 << bit) != 0 {
                        ranks.push(((block_start + word_offset) * WORD_BITS + bit) as u32);
                    }
                }
            }
        }
        ranks
    }

    #[test]
    fn dense_and_sparse_lists_read_back_their_ranks() {
        let mut store = PostingStore::new(1000);
        let sparse: Vec<u32> = vec![0, 63, 64, 500, 501, 999];
        let dense: Vec<u32> = (0..1000).step_by(7).collect();
        let sparse_posting = store.add(&sparse);
        let dense_posting = store.add(&dense);
        assert!(sparse_posting.is_sparse());
        assert!(matches!(dense_posting, Posting::Dense { .. }));
        for block_words in [1, 3, 8] {
            assert_eq!(read_all(&store, sparse_posting, block_words, &[]), sparse);
            assert_eq!(read_all(&store, dense_posting, block_words, &[]), dense);
        }
        assert_eq!(store.ranks(sparse_posting), sparse);
        assert_eq!(store.ranks(dense_posting), dense);
    }

    #[test]
    fn sparse_cursor_skips_unread_blocks() {
        let mut store = PostingStore::new(100_000);
        let ranks: Vec<u32> = (0..100_000).step_by(97).collect();
        let posting = store.add(&ranks);
        assert!(posting.is_sparse());
        for block_words in [1, 8] {
            let n_blocks = store.n_words().div_ceil(block_words);
            let skipped: Vec<usize> = (0..n_blocks).filter(|b| b % 5 != 0).collect();
            let expected: Vec<u32> = ranks
                .iter()
                .copied()
                .filter(|&rank| (rank as usize / WORD_BITS / block_words) % 5 == 0)
                .collect();
            assert_eq!(read_all(&store, posting, block_words, &skipped), expected);
        }
    }

    #[test]
    fn gallop_finds_the_first_rank_at_or_above_the_target() {
        let ranks: Vec<u32> = (0..1000).map(|i| i * 3).collect();
        for position in [0usize, 1, 10, 500] {
            for target in [1u64, 2, 3, 31, 300, 1500, 2997, 2998, 5000] {
                if u64::from(ranks[position]) >= target {
                    continue;
                }
                let expected = ranks
                    .iter()
                    .position(|&rank| u64::from(rank) >= target)
                    .unwrap_or(ranks.len());
                assert_eq!(
                    gallop(&ranks, position, target),
                    expected,
                    "{position} {target}"
                );
            }
        }
    }

    #[test]
    fn dense_bits_can_be_cleared_and_set() {
        let mut store = PostingStore::new(130);
        let mut posting = store.add_dense(&[1, 2, 129]);
        assert!(store.set_dense_bit(&mut posting, 2, false));
        assert!(store.set_dense_bit(&mut posting, 64, true));
        assert!(!store.set_dense_bit(&mut posting, 130, true));
        assert_eq!(store.ranks(posting), vec![1, 64, 129]);
        assert_eq!(posting.n_campaigns(), 3);
    }
}
