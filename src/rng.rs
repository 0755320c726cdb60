//! A tiny, versioned pseudo-random generator.
//!
//! Why not `rand`: results are cached by the hash of their inputs, so a data set drawn from a
//! seed must stay the same across crate upgrades. `rand`'s `StdRng` explicitly does not promise
//! that. SplitMix64 is a few lines, passes BigCrush, and is frozen here: changing it is a
//! numerics change and must bump [`crate::NUMERICS_VERSION`].

/// SplitMix64 (Steele, Lea & Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for a sub-stream, so that e.g. data set 7 of seed 3 never depends on how many
    /// numbers data sets 0–6 consumed.
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut mixer = Self::new(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mixed = mixer.next_u64() ^ stream;
        Self::new(mixed)
    }

    /// A generator for the sub-stream named by a run's identity (e.g. `"corner/0.3"`), so that a
    /// run's seeds come from what it is, not from where it sits in a spec's list: adding,
    /// removing or reordering sweep points leaves every other run's key unchanged.
    pub fn for_identity(seed: u64, identity: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(identity.as_bytes());
        let stream = u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"));
        Self::derive(seed, stream)
    }

    /// The step by which the state advances per output (the golden ratio in 64 bits).
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        Self::mix(self.state)
    }

    /// The output for a state: SplitMix64's finaliser.
    #[inline(always)]
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Hands the next `count` outputs over as a block, whose outputs can be computed side by
    /// side ([`SplitMixBlock::output`]), and moves past them.
    pub fn block(&mut self, count: u64) -> SplitMixBlock {
        let block = SplitMixBlock { state: self.state };
        self.state = self.state.wrapping_add(count.wrapping_mul(Self::GAMMA));
        block
    }

    /// Uniform on [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        unit_interval(self.next_u64())
    }

    /// Uniform on [low, high).
    pub fn uniform_in(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Standard normal by the Box–Muller transform (one of the pair is discarded: simplicity
    /// over speed, these draws are never hot).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: keeps ln finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Fills `out` with N(0, scale²) draws in f32, consuming ⌈len / 2⌉ outputs: the Krause RNN's
    /// training noise, 4.5 M draws per iteration, computed side by side
    /// ([`crate::gaussian_noise`]).
    pub fn fill_normal_f32(&mut self, out: &mut [f32], scale: f64) {
        crate::gaussian_noise::fill_normal_f32(self, out, scale);
    }
}

/// Outputs of a SplitMix64 stream handed over by [`SplitMix64::block`]: each is a function of
/// its index alone.
#[derive(Debug, Clone, Copy)]
pub struct SplitMixBlock {
    state: u64,
}

impl SplitMixBlock {
    /// Output `index` (from 0) of the block: what the `index + 1`-th `next_u64` would have
    /// returned.
    #[inline(always)]
    pub fn output(self, index: u64) -> u64 {
        SplitMix64::mix(self.state.wrapping_add((index + 1).wrapping_mul(SplitMix64::GAMMA)))
    }

    /// Output `index` as [`SplitMix64::uniform`] turns an output into a uniform.
    #[inline(always)]
    pub fn uniform(self, index: u64) -> f64 {
        unit_interval(self.output(index))
    }
}

/// The uniform on [0, 1) of a 64-bit output: its top 53 bits.
#[inline(always)]
fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_first_outputs_are_frozen() {
        // Reference values of SplitMix64 with seed 0 (from the published algorithm). If this
        // fails, every cached data set changes: bump NUMERICS_VERSION.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn f32_normals_have_the_normal_moments_and_no_correlation_between_neighbours() {
        let mut rng = SplitMix64::new(5);
        let mut draws = vec![0f32; 200_001];
        rng.fill_normal_f32(&mut draws, 2.0);
        let n = draws.len() as f64;
        let z: Vec<f64> = draws.iter().map(|&v| f64::from(v) / 2.0).collect();
        let mean = z.iter().sum::<f64>() / n;
        let moment = |k: i32| z.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
        let neighbours: f64 = z.windows(2).map(|p| p[0] * p[1]).sum::<f64>() / (n - 1.0);
        // Standard errors at n = 2·10⁵: mean 0.002, variance 0.003, kurtosis 0.011.
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((moment(2) - 1.0).abs() < 0.015, "variance {}", moment(2));
        assert!(moment(3).abs() < 0.03, "skew {}", moment(3));
        assert!((moment(4) - 3.0).abs() < 0.06, "kurtosis {}", moment(4));
        assert!(neighbours.abs() < 0.01, "{neighbours}");
        // The tails: P(|z| > 3) = 0.0027.
        let tail = z.iter().filter(|v| v.abs() > 3.0).count() as f64 / n;
        assert!((tail - 0.0027).abs() < 0.0006, "tail {tail}");
    }

    #[test]
    fn uniform_is_in_unit_interval_and_roughly_centred() {
        let mut rng = SplitMix64::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.uniform()).collect();
        assert!(draws.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut rng = SplitMix64::new(7);
        let draws: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{mean} {var}");
    }

    #[test]
    fn identity_streams_depend_on_the_identity_only() {
        let corner = SplitMix64::for_identity(402, "corner/0.3").next_u64();
        assert_eq!(corner, SplitMix64::for_identity(402, "corner/0.3").next_u64());
        assert_ne!(corner, SplitMix64::for_identity(402, "corner/0.5").next_u64());
        assert_ne!(corner, SplitMix64::for_identity(403, "corner/0.3").next_u64());
    }

    #[test]
    fn derived_streams_differ() {
        let a = SplitMix64::derive(1, 0).next_u64();
        let b = SplitMix64::derive(1, 1).next_u64();
        assert_ne!(a, b);
    }
}
