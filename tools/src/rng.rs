//! A small seeded PRNG, so that generated data is the same for the same seed on every run.
//!
//! xoshiro256** (Blackman and Vigna) seeded through splitmix64: fast, statistically sound for
//! simulation, and twenty lines, which is less than a dependency. It is not for secrets.

/// splitmix64's step: also a good 64-bit mixing function for turning an index into an
/// unrelated-looking id.
pub fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 turns any seed, even 0, into a state that is not all zeros.
        let mut next = seed;
        let mut word = || {
            next = next.wrapping_add(0x9E37_79B9_7F4A_7C15);
            mix64(next.wrapping_sub(0x9E37_79B9_7F4A_7C15))
        };
        Rng {
            state: [word(), word(), word(), word()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in `0..bound` (0 when `bound` is 0), by Lemire's multiply-shift; the bias is
    /// below 2^-32 for the bounds used here, which no generated distribution can show.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low).saturating_add(1))
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal value, approximated by the Irwin-Hall sum of twelve uniforms: within
    /// +-6, which is all a bid or traffic spread needs, and free of `ln`/`cos`, whose last bits
    /// may differ between C libraries.
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }

    /// Log-normal around `median` with log-scale spread `sigma`. `exp` is the one libm call in
    /// the generators: output is reproducible on one platform, and could differ in a last
    /// digit of a bid between C libraries.
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// One element, uniformly; `None` only for an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// An index drawn by weight; `weights` must not be all zero.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut target = self.below(total);
        for (idx, &weight) in weights.iter().enumerate() {
            if target < u64::from(weight) {
                return idx;
            }
            target -= u64::from(weight);
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_bounds_hold() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(10) < 10);
            b.below(10);
            let unit = a.unit();
            b.unit();
            assert!((0.0..1.0).contains(&unit));
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        assert_eq!(Rng::new(3).below(0), 0);
    }
}
