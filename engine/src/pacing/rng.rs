//! The random source of pacing decisions, injected by the caller so that a simulated day is
//! the same for the same seed and a shard's decisions need no shared or global state.
//!
//! splitmix64 (Steele, Lea and Flood): one word of state, a handful of instructions per draw
//! and it passes BigCrush, which is all a Bernoulli draw per bid needs. Twenty lines are less
//! than a dependency. It is not for secrets.

/// A seeded PRNG for throttle draws: each shard owns one, so no draw touches another core.
#[derive(Debug, Clone)]
pub struct PacingRng {
    state: u64,
}

/// splitmix64's increment, the odd constant nearest 2^64 / golden ratio: consecutive states
/// are then spread over the whole word, so even seeds 0, 1, 2 give unrelated streams.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl PacingRng {
    pub fn new(seed: u64) -> PacingRng {
        PacingRng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits (an f64's mantissa), so every value is exact.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = PacingRng::new(7);
        let mut b = PacingRng::new(7);
        let mut c = PacingRng::new(8);
        let from_a: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let from_b: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let from_c: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(from_a, from_b);
        assert_ne!(from_a, from_c);
    }

    #[test]
    fn unit_draws_are_in_range_and_roughly_uniform() {
        let mut rng = PacingRng::new(0);
        let n: i64 = 100_000;
        let mut below_quarter: i64 = 0;
        for _ in 0..n {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            if x < 0.25 {
                below_quarter += 1;
            }
        }
        // 4 standard deviations of a binomial(100k, 0.25) is about 550.
        assert!((below_quarter - n / 4).abs() < 600, "{below_quarter}");
    }
}
