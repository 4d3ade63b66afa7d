//! The generator's own pseudo-random numbers: SplitMix64 to seed, xoshiro256** to draw.
//!
//! Written out here (both are public-domain algorithms by Vigna et al.) so that a history depends
//! only on (policy, seed, years, scale), never on another crate's version. No floating point is
//! used anywhere near a draw: every distribution below is integer arithmetic, so the sequence is
//! the same on every platform.

/// SplitMix64 step: turns any 64-bit state into a well-mixed output. Used to seed xoshiro and to
/// derive independent streams and per-entity attributes from a few integers.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of a few integers (seed, unit, sequence, purpose...), for attributes that must
/// not depend on the order in which draws are made (a case's grade, wage, dependants).
pub fn mix(parts: &[u64]) -> u64 {
    let mut state = 0x6A09_E667_F3BC_C909u64;
    let mut out = 0;
    for part in parts {
        state ^= *part;
        out = splitmix64(&mut state);
    }
    out
}

/// xoshiro256**: fast, small state, excellent statistical quality for simulation.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four words from SplitMix64, as the algorithm's authors recommend (never all zero).
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        Rng { s: [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)] }
    }

    /// An independent stream for one purpose (e.g. one calendar month), so that adding draws in
    /// one month never shifts another month's numbers.
    pub fn derive(seed: u64, parts: &[u64]) -> Rng {
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(seed);
        all.extend_from_slice(parts);
        Rng::new(mix(&all))
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias for huge `n` is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// True with probability `permille` / 1000.
    pub fn chance(&mut self, permille: u32) -> bool {
        self.below(1000) < u64::from(permille)
    }

    /// Rounds an expected count given in thousandths to a whole count, up with the probability of
    /// the fraction, so small units still see rare events at the right long-run rate.
    pub fn round_count(&mut self, milli: u64) -> u64 {
        milli / 1000 + u64::from(self.below(1000) < milli % 1000)
    }

    /// Index drawn from a table of relative weights.
    pub fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < u64::from(*w) {
                return i;
            }
            x -= u64::from(*w);
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // Reference values of SplitMix64 seeded with 0 (from the algorithm's C reference code).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut s), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn draws_are_reproducible_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let x = a.range(-3, 9);
            assert_eq!(x, b.range(-3, 9));
            assert!((-3..=9).contains(&x));
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
