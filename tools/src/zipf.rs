//! Zipf-distributed ranks: a few values very common, a long tail rare, as domains, users and
//! countries are in real ad traffic.
//!
//! The classic Zipf law (weight of rank k proportional to 1/k) via a cumulative table and a
//! binary search: exact, O(log n) per draw, and using only additions and divisions, so the
//! same seed gives the same ranks on every platform.

use crate::rng::Rng;

/// Ranks in one table: 8 bytes each, so the largest table is 80 MB. Ten million users or
/// domains is more variety than a benchmark run can show.
pub const RANKS_MAX: usize = 10_000_000;

#[derive(Debug, Clone)]
pub struct Zipf {
    /// `cumulative[k]` is the total weight of ranks 0..=k.
    cumulative: Vec<f64>,
}

impl Zipf {
    /// Ranks `0..n` (at least one, at most [`RANKS_MAX`]), rank 0 the most common.
    pub fn new(n: usize) -> Zipf {
        let n = n.clamp(1, RANKS_MAX);
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect();
        Zipf { cumulative }
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.unit() * total;
        self.cumulative
            .partition_point(|&weight| weight <= target)
            .min(self.cumulative.len().saturating_sub(1))
    }

    /// `count` distinct ranks (fewer if the table is smaller), most likely the popular ones.
    pub fn sample_distinct(&self, rng: &mut Rng, count: usize) -> Vec<usize> {
        let count = count.min(self.len());
        let mut ranks = Vec::with_capacity(count);
        // Popular ranks repeat; bounded retries keep a pathological draw from looping, at the
        // cost of occasionally returning fewer ranks.
        for _ in 0..count.saturating_mul(20) {
            if ranks.len() == count {
                break;
            }
            let rank = self.sample(rng);
            if !ranks.contains(&rank) {
                ranks.push(rank);
            }
        }
        ranks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_zero_is_most_common_and_ranks_stay_in_range() {
        let zipf = Zipf::new(100);
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 100];
        for _ in 0..100_000 {
            let rank = zipf.sample(&mut rng);
            counts[rank] += 1;
        }
        // Rank 0 has weight 1/H(100) ~ 19%, rank 9 about a tenth of that.
        assert!(counts[0] > 17_000 && counts[0] < 22_000, "{}", counts[0]);
        assert!(counts[0] > 5 * counts[9]);
        let distinct = zipf.sample_distinct(&mut rng, 10);
        assert_eq!(distinct.len(), 10);
        assert_eq!(Zipf::new(0).len(), 1);
    }
}
