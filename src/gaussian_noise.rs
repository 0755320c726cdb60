//! Gaussian noise in f32, many draws at a time.
//!
//! The Krause RNN's training draws one normal per unit, trial and time step: 4.5 M per
//! integration iteration. The ziggurat (`rand_distr`) spent ≈ 6 ns on each, a quarter of the
//! whole `fig3_context_integration_trained` artefact (`perf`, session 12), because each draw
//! waited on the previous one's generator state and branches.
//!
//! Here nothing waits: SplitMix64's n-th output is a function of n alone
//! ([`SplitMix64::block`]), and each output's two 32-bit halves become two uniforms, each mapped
//! to a normal by the inverse error function, z = √2 · erfinv(2u − 1) (as JAX's
//! `random.normal` does). erfinv is Giles' single-precision approximation (M. Giles,
//! "Approximating the erfinv function", GPU Computing Gems, 2011) and its logarithm a
//! Cephes-style `logf`, written here. The loop over a block vectorises (only the rare tail
//! branch is taken lane by lane); every multiply–add is an explicit `mul_add`, so the AVX-512
//! and AVX2 + FMA builds chosen at run time and the portable build give the same bits (tested).
//!
//! Uniforms have 24 bits, u = (k + ½) / 2²⁴: never 0 or 1, so every draw is finite and the
//! largest is |z| ≈ 5.4.

use crate::rng::{SplitMix64, SplitMixBlock};

/// Normals per block: the two halves of eight generator outputs.
const BLOCK: usize = 16;
const OUTPUTS_PER_BLOCK: u64 = (BLOCK / 2) as u64;

/// Fills `out` with N(0, scale²) draws, consuming ⌈len / 2⌉ outputs of `rng`.
pub fn fill_normal_f32(rng: &mut SplitMix64, out: &mut [f32], scale: f64) {
    let outputs = out.len().div_ceil(2) as u64;
    let first = rng.block(outputs);
    let factor = (std::f64::consts::SQRT_2 * scale) as f32;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        // SAFETY: the CPU has these features (checked just above).
        unsafe { fill_avx512(first, out, factor) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { fill_avx2_fma(first, out, factor) };
        return;
    }
    fill_blocks(first, out, factor);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fill_avx2_fma(first: SplitMixBlock, out: &mut [f32], factor: f32) {
    fill_blocks(first, out, factor);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn fill_avx512(first: SplitMixBlock, out: &mut [f32], factor: f32) {
    fill_blocks(first, out, factor);
}

/// Whole blocks of 16 draws take eight outputs each: the low halves give places 0–7, the high
/// halves 8–15. A last, partial block of r draws takes the ⌈r/2⌉ outputs left, interleaved
/// (place p from output p/2, low half first), so that a fill never reads an output it does not
/// consume: the next fill starts right after, and a reused output would repeat two draws.
#[inline(always)]
fn fill_blocks(first: SplitMixBlock, out: &mut [f32], factor: f32) {
    fill_from_outputs(out, factor, |index| first.output(index));
}

/// [`fill_blocks`] with output `index` of the block given by `output`.
#[inline(always)]
fn fill_from_outputs(out: &mut [f32], factor: f32, output: impl Fn(u64) -> u64) {
    let mut blocks = out.chunks_exact_mut(BLOCK);
    let mut offset = 0u64;
    for block in &mut blocks {
        let mut halves = [0u32; BLOCK];
        for j in 0..BLOCK / 2 {
            let bits = output(offset + j as u64);
            halves[j] = bits as u32;
            halves[j + BLOCK / 2] = (bits >> 32) as u32;
        }
        normal_block(&halves, factor, block.try_into().expect("a whole block"));
        offset += OUTPUTS_PER_BLOCK;
    }
    let rest = blocks.into_remainder();
    if !rest.is_empty() {
        let mut halves = [0u32; BLOCK];
        for (p, half) in halves.iter_mut().enumerate().take(rest.len()) {
            let bits = output(offset + (p / 2) as u64);
            *half = if p % 2 == 0 { bits as u32 } else { (bits >> 32) as u32 };
        }
        let mut draws = [0f32; BLOCK];
        normal_block(&halves, factor, &mut draws);
        let len = rest.len();
        rest.copy_from_slice(&draws[..len]);
    }
}

/// Writes the 16 normals × `factor` of 16 uniforms' bits.
/// (Written straight into the output: a block returned by value went through the stack, and
/// reading it back stalled on store forwarding.)
#[inline(always)]
fn normal_block(halves: &[u32; BLOCK], factor: f32, draws: &mut [f32; BLOCK]) {
    let mut xs = [0f32; BLOCK];
    let mut ws = [0f32; BLOCK];
    for i in 0..BLOCK {
        xs[i] = symmetric_uniform(halves[i]);
        ws[i] = erfinv_argument(xs[i]);
        draws[i] = erfinv_central(ws[i]) * xs[i] * factor;
    }
    // The tail (|z| > 2.9) is rare, 0.34 % of draws, so 5 % of blocks: evaluated only there,
    // lane by lane, it costs far less than evaluating both branches everywhere. The same
    // operations either way, so the same bits.
    if ws.iter().any(|&w| w >= TAIL_FROM) {
        for i in 0..BLOCK {
            if ws[i] >= TAIL_FROM {
                draws[i] = erfinv_tail(ws[i]) * xs[i] * factor;
            }
        }
    }
}

/// 2u − 1 for u = (k + ½) / 2²⁴ with k the top 24 bits: an odd multiple of 2⁻²⁴ in (−1, 1),
/// exact in f32.
#[inline(always)]
fn symmetric_uniform(bits: u32) -> f32 {
    let odd = (((bits >> 8) << 1) | 1) as i32 - (1 << 24);
    odd as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Where Giles' approximation switches from its central polynomial to its tail one.
const TAIL_FROM: f32 = 5.0;

/// w = −ln(1 − x²), the variable both of erfinv's polynomials are in.
#[inline(always)]
fn erfinv_argument(x: f32) -> f32 {
    -ln_positive((1.0 - x) * (1.0 + x))
}

/// erfinv(x) / x for w < 5 (|x| < 0.9966). The coefficients here and below are Giles' single
/// precision ones, and `ln_positive`'s Cephes' `logf`'s, written as the shortest decimals of the
/// same f32 values.
#[inline(always)]
fn erfinv_central(w: f32) -> f32 {
    horner(
        w - 2.5,
        &[
            2.810_226_4e-8,
            3.432_739_4e-7,
            -3.523_387_7e-6,
            -4.391_506_5e-6,
            2.185_808_7e-4,
            -1.253_725e-3,
            -4.177_681_6e-3,
            2.466_407_3e-1,
            1.501_409_4,
        ],
    )
}

/// erfinv(x) / x for w ≥ 5.
#[inline(always)]
fn erfinv_tail(w: f32) -> f32 {
    horner(
        w.sqrt() - 3.0,
        &[
            -2.002_142_6e-4,
            1.009_505_6e-4,
            1.349_343_2e-3,
            -3.673_428_4e-3,
            5.739_507_7e-3,
            -7.622_461_3e-3,
            9.438_870_5e-3,
            1.001_674,
            2.832_976_8,
        ],
    )
}

/// p(t) with the coefficients from the highest power down, by fused multiply–adds.
#[inline(always)]
fn horner(t: f32, coefficients: &[f32]) -> f32 {
    coefficients[1..]
        .iter()
        .fold(coefficients[0], |acc, &c| acc.mul_add(t, c))
}

/// ln(v) for a positive, normal, finite v (all this module passes: (1 − x)(1 + x) ≥ 2⁻²⁴).
/// Cephes' `logf` scheme: v = m · 2ᵉ with m in [√½, √2), then ln m = f − f²/2 + f³·P(f) for
/// f = m − 1, and e·ln 2 added in two parts (0.693359375 is exact in a few bits).
#[inline(always)]
fn ln_positive(v: f32) -> f32 {
    let bits = v.to_bits();
    // v = mantissa · 2^exponent with mantissa in [½, 1).
    let exponent = ((bits >> 23) & 0xff) as i32 - 126;
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let below = mantissa < std::f32::consts::FRAC_1_SQRT_2;
    let exponent = (exponent - i32::from(below)) as f32;
    let f = if below {
        mantissa + mantissa - 1.0
    } else {
        mantissa - 1.0
    };
    let z = f * f;
    let p = horner(
        f,
        &[
            7.037_683_6e-2,
            -1.151_461e-1,
            1.167_699_84e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_7e-1,
            2.000_071_4e-1,
            -2.499_999_4e-1,
            3.333_333e-1,
        ],
    );
    let y = (p * f) * z;
    let y = exponent.mul_add(-2.121_944_4e-4, y);
    let y = z.mul_add(-0.5, y);
    exponent.mul_add(0.693_359_4, f + y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erfinv(x) for |x| < 1 (Giles 2011, single precision: relative error < 3·10⁻⁷ against
    /// erfinv itself over the uniforms drawn here, tested).
    fn inverse_erf(x: f32) -> f32 {
        let w = erfinv_argument(x);
        let p = if w < TAIL_FROM {
            erfinv_central(w)
        } else {
            erfinv_tail(w)
        };
        p * x
    }

    /// erfinv in f64 by Newton's method on libm's erf, from the f32 estimate.
    fn reference_inverse_erf(x: f64) -> f64 {
        let mut y = f64::from(inverse_erf(x as f32));
        for _ in 0..50 {
            let step = (libm::erf(y) - x) / (std::f64::consts::FRAC_2_SQRT_PI * (-y * y).exp());
            y -= step;
            if step.abs() < 1e-16 * y.abs().max(1e-300) {
                break;
            }
        }
        y
    }

    #[test]
    fn the_logarithm_is_within_one_ulp_of_ln() {
        let mut worst = 0f64;
        // Every value this module passes lies in [2⁻²⁴, 1]; test a wider range.
        for k in 0..200_000u32 {
            let v = f32::from_bits(0x3300_0000 + k * 1_259); // 2⁻²⁵ … 2⁵, every mantissa range
            let exact = f64::from(v).ln();
            let got = f64::from(ln_positive(v));
            assert!(got.is_finite(), "ln({v}) = {got}");
            let ulp = f64::from(f32::EPSILON) * exact.abs().max(f64::from(f32::MIN_POSITIVE));
            worst = worst.max((got - exact).abs() / ulp);
        }
        assert!(worst <= 1.0, "worst error {worst} ulps");
    }

    #[test]
    fn the_inverse_error_function_is_accurate_over_every_uniform_it_sees() {
        let mut worst = 0f64;
        // Every 97th 24-bit uniform, and the extremes.
        let ks = (0..1u32 << 24).step_by(97).chain([0, 1, (1 << 24) - 2, (1 << 24) - 1]);
        for k in ks {
            let x = symmetric_uniform(k << 8);
            let exact = reference_inverse_erf(f64::from(x));
            let got = f64::from(inverse_erf(x));
            worst = worst.max((got - exact).abs() / exact.abs().max(1e-30));
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn uniforms_are_odd_multiples_of_two_to_the_minus_24_inside_the_open_interval() {
        assert_eq!(symmetric_uniform(0), -1.0 + 2f32.powi(-24));
        assert_eq!(symmetric_uniform(u32::MAX), 1.0 - 2f32.powi(-24));
        assert_eq!(symmetric_uniform(0x8000_0000), 2f32.powi(-24));
        assert_eq!(symmetric_uniform(0x7fff_ffff), -(2f32.powi(-24)));
    }

    #[test]
    fn a_fill_consumes_half_its_length_rounded_up() {
        for len in [0, 1, 15, 16, 17, 33, 100] {
            let mut rng = SplitMix64::new(11);
            fill_normal_f32(&mut rng, &mut vec![0f32; len], 1.0);
            let mut expected = SplitMix64::new(11);
            for _ in 0..len.div_ceil(2) {
                expected.next_u64();
            }
            assert_eq!(rng.next_u64(), expected.next_u64(), "length {len}");
        }
    }

    #[test]
    fn consecutive_fills_share_no_draw() {
        // A partial block once read outputs past those it consumed, so the next fill repeated
        // some of its draws (with 100 units per step, ξ[t + 1][0] was ξ[t][98]).
        // (Only short fills: by chance alone, two fills of n draws share a 24-bit uniform with
        // probability ≈ n²/2²⁴; the test below covers every length's outputs exactly.)
        for len in (1..=48).chain([100]) {
            let mut rng = SplitMix64::new(len as u64);
            let mut first = vec![0f32; len];
            let mut second = vec![0f32; len];
            fill_normal_f32(&mut rng, &mut first, 1.0);
            fill_normal_f32(&mut rng, &mut second, 1.0);
            let seen: std::collections::HashSet<u32> = first.iter().map(|v| v.to_bits()).collect();
            let repeats = second.iter().filter(|v| seen.contains(&v.to_bits())).count();
            assert_eq!(repeats, 0, "length {len}");
        }
    }

    #[test]
    fn a_fill_reads_exactly_the_outputs_it_consumes() {
        for len in (0..=64).chain([100, 3_200, 5_100]) {
            let read = std::cell::RefCell::new(Vec::new());
            fill_from_outputs(&mut vec![0f32; len], 1.0, |index| {
                read.borrow_mut().push(index);
                index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
            let mut read = read.into_inner();
            read.sort_unstable();
            read.dedup();
            let consumed: Vec<u64> = (0..len.div_ceil(2) as u64).collect();
            assert_eq!(read, consumed, "length {len}");
        }
    }

    #[test]
    fn whole_blocks_do_not_depend_on_the_length_of_the_fill() {
        let mut short = vec![0f32; 32];
        let mut long = vec![0f32; 50];
        fill_normal_f32(&mut SplitMix64::new(4), &mut short, 1.0);
        fill_normal_f32(&mut SplitMix64::new(4), &mut long, 1.0);
        assert_eq!(
            short.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            long[..32].iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_portable_build_gives_the_accelerated_build_s_bits() {
        let mut fast = vec![0f32; 4_099];
        fill_normal_f32(&mut SplitMix64::new(3), &mut fast, 0.7);
        let mut portable = vec![0f32; 4_099];
        let mut rng = SplitMix64::new(3);
        let first = rng.block(portable.len().div_ceil(2) as u64);
        fill_blocks(first, &mut portable, (std::f64::consts::SQRT_2 * 0.7) as f32);
        assert_eq!(
            fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            portable.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn draws_follow_the_normal_distribution() {
        // Kolmogorov–Smirnov against Φ(z) = (1 + erf(z/√2)) / 2, n = 10⁶: the 0.1 % critical
        // value is 1.95 / √n ≈ 0.00195.
        let mut draws = vec![0f32; 1_000_000];
        fill_normal_f32(&mut SplitMix64::new(21), &mut draws, 1.0);
        let mut sorted: Vec<f64> = draws.iter().map(|&v| f64::from(v)).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let distance = sorted
            .iter()
            .enumerate()
            .map(|(i, &z)| {
                let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
                (cdf - i as f64 / n).abs().max((cdf - (i + 1) as f64 / n).abs())
            })
            .fold(0.0, f64::max);
        assert!(distance < 0.00195, "KS distance {distance}");
    }
}
