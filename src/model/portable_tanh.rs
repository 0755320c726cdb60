//! tanh in f64 from basic IEEE-754 operations only (+, −, ×, ÷, comparisons and bit moves):
//! the same bits on every platform and at every vector width, and written so that a slice of
//! them compiles to vector code.
//!
//! Why not `f64::tanh`: that calls the C library's `tanh`, whose last bits differ between libm
//! implementations (and which cannot be vectorised); in the Krause rate-RNN simulation it was
//! 40 % of the time (≈ 9 ns a call). This one is within 3 ulp of glibc's `tanh` everywhere (tested), and
//! most often equal to it.
//!
//! tanh |x| = E / (E + 2) with E = expm1(2|x|), and expm1(y) = 2ᵏ·expm1(r) + (2ᵏ − 1) with
//! y = k·ln 2 + r, |r| ≤ ln 2 / 2 (Cody–Waite reduction), expm1(r) from its Taylor series to
//! r¹³ (the next term is below 2⁻⁵⁶ of r). Beyond |x| = 22, tanh rounds to ±1.

/// 1.5 · 2⁵²: adding it to a number below 2⁵¹ in magnitude rounds that number to an integer
/// (to nearest, ties to even) held in the low mantissa bits.
const ROUNDING: f64 = 6_755_399_441_055_744.0;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// ln 2 split so that k · LN2_HI is exact for |k| < 2¹¹ (fdlibm's constants).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// atanh(1/2) = ln(3)/2, rounded up: tanh is at least 1/2 from here.
const HALF: f64 = 0.549_306_144_334_054_9;
/// Past this, tanh(x) = 1 to double precision (1 − tanh(22) ≈ 1.6 · 10⁻¹⁹).
const SATURATION: f64 = 22.0;

/// 1/j! for j = 2, …, 13: the Taylor coefficients of expm1 after the first.
const INVERSE_FACTORIALS: [f64; 12] = {
    let mut c = [0.0; 12];
    let mut factorial = 1.0;
    let mut j = 0;
    while j < 12 {
        factorial *= (j + 2) as f64;
        c[j] = 1.0 / factorial;
        j += 1;
    }
    c
};

/// tanh(x). Inline, so that a loop over a slice of them compiles to vector code (with the same
/// bits: tested).
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let a = x.abs();
    let y = a + a;
    // k = round(y / ln 2), and 2ᵏ built from k's bits; both from the one rounding sum.
    let rounded = y * INV_LN2 + ROUNDING;
    let k = rounded - ROUNDING;
    let k_bits = rounded.to_bits().wrapping_sub(ROUNDING.to_bits());
    let two_k = f64::from_bits(k_bits.wrapping_add(1023) << 52);
    let r = (y - k * LN2_HI) - k * LN2_LO;
    // expm1(r) = r + r²·(1/2! + r·(1/3! + …)), the leading r kept exact.
    let mut tail = INVERSE_FACTORIALS[11];
    for &c in INVERSE_FACTORIALS[..11].iter().rev() {
        tail = tail * r + c;
    }
    let expm1_r = r + (r * r) * tail;
    let e = two_k * expm1_r + (two_k - 1.0);
    // Below tanh = 1/2 the quotient is the value itself; above, its complement to 1 is a small
    // number whose rounding error is a fraction of the result's ulp.
    // (Both from one division: a second one cost as much as the rest together.)
    let small = a < HALF;
    let quotient = if small { e } else { 2.0 } / (e + 2.0);
    let magnitude = if a > SATURATION {
        1.0
    } else if small {
        quotient
    } else {
        1.0 - quotient
    };
    magnitude.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        let key = |v: f64| {
            let bits = v.to_bits() as i64;
            if bits < 0 { i64::MIN - bits } else { bits }
        };
        key(a).abs_diff(key(b))
    }

    #[test]
    fn within_three_ulp_of_the_c_library_everywhere() {
        let mut worst = (0u64, 0.0f64);
        let mut histogram = [0usize; 8];
        // A dense sweep of [−25, 25], then a geometric one down to the subnormals.
        let dense = (-2_500_000..=2_500_000).map(|i| f64::from(i) * 1e-5 + 3.7e-7);
        let tiny = (0..2000).map(|i| 1e-310 * 1.5f64.powi(i)).take_while(|v| *v < 30.0);
        for x in dense.chain(tiny.clone()).chain(tiny.map(|v| -v)) {
            let u = ulps(tanh(x), x.tanh());
            histogram[(u as usize).min(7)] += 1;
            if u > worst.0 {
                worst = (u, x);
            }
        }
        eprintln!("ulp differences 0, 1, 2, …: {histogram:?}");
        // Below tanh = 1/2 three roundings (expm1, E + 2, the quotient) can add up to 2 ulp;
        // the C library's tanh is itself within 1 ulp of the truth.
        assert!(worst.0 <= 3, "{} ulp at x = {:e}", worst.0, worst.1);
    }

    #[test]
    fn special_values() {
        // The split of ln 2: its halves sum to it, and the high half has 21 trailing zero bits.
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        assert_eq!(LN2_HI.to_bits().trailing_zeros(), 21);
        assert_eq!(tanh(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh(22.5), 1.0);
        assert_eq!(tanh(-1e300), -1.0);
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(f64::NEG_INFINITY), -1.0);
        assert!(tanh(f64::NAN).is_nan());
        assert_eq!(tanh(1e-300), 1e-300);
        assert_eq!(tanh(5e-324), 5e-324);
    }

    #[test]
    fn odd_and_monotone() {
        let mut previous = -1.0;
        for i in -30_000..=30_000 {
            let x = f64::from(i) * 1e-3;
            let t = tanh(x);
            assert_eq!(t.to_bits(), (-tanh(-x)).to_bits(), "odd at {x}");
            assert!(t >= previous, "monotone at {x}");
            previous = t;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_code_gives_the_scalar_bits() {
        #[target_feature(enable = "avx2")]
        fn in_place_avx2(values: &mut [f64]) {
            for v in values {
                *v = tanh(*v);
            }
        }
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let xs: Vec<f64> = (-40_000..40_000).map(|i| f64::from(i) * 7.3e-4).collect();
        let mut vector = xs.clone();
        // SAFETY: the CPU has AVX2, checked above.
        unsafe { in_place_avx2(&mut vector) };
        for (x, v) in xs.iter().zip(&vector) {
            assert_eq!(v.to_bits(), tanh(*x).to_bits(), "x = {x}");
        }
    }
}
