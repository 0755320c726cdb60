//! Independent runs side by side in SIMD lanes: [`Lanes<L>`] holds one f64 of each of `L` runs,
//! and every operation is the scalar operation applied lane by lane.
//!
//! Why: the small RNNs of Dorrell et al. Fig 3a–d have 16 units, so one run's recurrence is a
//! chain of dependent additions that leaves most of a core idle; four runs of the same shape
//! fill a register each step with no change to any run's arithmetic. Code written once over
//! [`Real`] serves both the one-run (`f64`) and the side-by-side (`Lanes<L>`) builds, and since
//! each lane performs exactly the scalar operations in the scalar order (Rust never fuses a
//! product with a sum), every lane's bits are the one-run build's (tested where it is used).

use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Sub};

/// The arithmetic the written-out RNN gradients need, for `f64` and for [`Lanes`].
pub(crate) trait Real:
    Copy
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + AddAssign
    + MulAssign
{
    /// How many runs a value holds.
    const LANES: usize;
    /// The same value in every lane.
    fn splat(value: f64) -> Self;
    /// `max(x, 0)` (ReLU), as `f64::max`.
    fn relu(self) -> Self;
    /// `min(x, 0)`, as `f64::min`.
    fn negative_part(self) -> Self;
    /// 1 where `x > 0`, else 0 (ReLU's slope).
    fn positive_indicator(self) -> Self;
    /// `sum` where `factor` is not zero, else `kept`: a product with a zero factor adds nothing,
    /// not even a signed zero.
    fn unless_zero_factor(factor: Self, sum: Self, kept: Self) -> Self;
}

impl Real for f64 {
    const LANES: usize = 1;
    #[inline(always)]
    fn splat(value: f64) -> Self {
        value
    }
    #[inline(always)]
    fn relu(self) -> Self {
        self.max(0.0)
    }
    #[inline(always)]
    fn negative_part(self) -> Self {
        self.min(0.0)
    }
    #[inline(always)]
    fn positive_indicator(self) -> Self {
        f64::from(self > 0.0)
    }
    #[inline(always)]
    fn unless_zero_factor(factor: Self, sum: Self, kept: Self) -> Self {
        if factor == 0.0 { kept } else { sum }
    }
}

/// One value of each of `L` independent runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lanes<const L: usize>(pub [f64; L]);

impl<const L: usize> Default for Lanes<L> {
    fn default() -> Self {
        Self([0.0; L])
    }
}

impl<const L: usize> Lanes<L> {
    #[inline(always)]
    fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Self(std::array::from_fn(|i| f(self.0[i])))
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self(std::array::from_fn(|i| f(self.0[i], other.0[i])))
    }

    /// Lane `lane` of each value.
    pub fn lane(values: &[Self], lane: usize) -> Vec<f64> {
        values.iter().map(|v| v.0[lane]).collect()
    }

    /// Element `k` of the values is `[runs[0][k], …, runs[L−1][k]]`; every run the same length.
    pub fn interleave(runs: [&[f64]; L]) -> Vec<Self> {
        let len = runs[0].len();
        assert!(
            runs.iter().all(|r| r.len() == len),
            "runs side by side have the same length"
        );
        (0..len).map(|k| Self(std::array::from_fn(|l| runs[l][k]))).collect()
    }
}

macro_rules! lane_wise {
    ($trait:ident, $method:ident, $assign_trait:ident, $assign:ident, $op:tt) => {
        impl<const L: usize> $trait for Lanes<L> {
            type Output = Self;
            #[inline(always)]
            fn $method(self, other: Self) -> Self {
                self.zip(other, |a, b| a $op b)
            }
        }
        impl<const L: usize> $assign_trait for Lanes<L> {
            #[inline(always)]
            fn $assign(&mut self, other: Self) {
                *self = *self $op other;
            }
        }
    };
}

lane_wise!(Add, add, AddAssign, add_assign, +);
lane_wise!(Mul, mul, MulAssign, mul_assign, *);

impl<const L: usize> Sub for Lanes<L> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        self.zip(other, |a, b| a - b)
    }
}

impl<const L: usize> Div for Lanes<L> {
    type Output = Self;
    #[inline(always)]
    fn div(self, other: Self) -> Self {
        self.zip(other, |a, b| a / b)
    }
}

impl<const L: usize> Real for Lanes<L> {
    const LANES: usize = L;
    #[inline(always)]
    fn splat(value: f64) -> Self {
        Self([value; L])
    }
    #[inline(always)]
    fn relu(self) -> Self {
        self.map(f64::relu)
    }
    #[inline(always)]
    fn negative_part(self) -> Self {
        self.map(f64::negative_part)
    }
    #[inline(always)]
    fn positive_indicator(self) -> Self {
        self.map(f64::positive_indicator)
    }
    #[inline(always)]
    fn unless_zero_factor(factor: Self, sum: Self, kept: Self) -> Self {
        Self(std::array::from_fn(|i| {
            f64::unless_zero_factor(factor.0[i], sum.0[i], kept.0[i])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lane_is_the_scalar_operation() {
        let a = [1.5, -0.0, f64::NAN, -3.25];
        let b = [0.1, 0.0, 2.0, -0.0];
        let (x, y) = (Lanes(a), Lanes(b));
        let bits = |v: Lanes<4>| v.0.map(f64::to_bits);
        for (lanes, scalar) in [
            (x + y, std::array::from_fn(|i| a[i] + b[i])),
            (x - y, std::array::from_fn(|i| a[i] - b[i])),
            (x * y, std::array::from_fn(|i| a[i] * b[i])),
            (x / y, std::array::from_fn(|i| a[i] / b[i])),
            (x.relu(), a.map(f64::relu)),
            (x.negative_part(), a.map(f64::negative_part)),
            (x.positive_indicator(), a.map(f64::positive_indicator)),
            (
                Lanes::unless_zero_factor(y, x, Lanes::splat(7.0)),
                [1.5, 7.0, f64::NAN, 7.0],
            ),
        ] {
            assert_eq!(bits(lanes), bits(Lanes(scalar)));
        }
        let interleaved = Lanes::interleave([&[1.0, 2.0][..], &[3.0, 4.0], &[5.0, 6.0], &[7.0, 8.0]]);
        assert_eq!(interleaved[1], Lanes([2.0, 4.0, 6.0, 8.0]));
        assert_eq!(Lanes::lane(&interleaved, 2), vec![5.0, 6.0]);
    }
}
