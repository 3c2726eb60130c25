//! The [`Scalar`] trait: the floating-point type a network computes in (`f32` or `f64`).
//!
//! Generated code calls the math through this trait (`Scalar::exp(z)`), never through
//! inherent float methods, because `core` has no `exp`, `tanh` or `sqrt` on stable: with
//! the `std` feature the platform's libm is used, without it the pure-Rust `libm` crate.
//! `erf`, `cbrt`-free builds and `log1p` always come from `libm` (std has no stable `erf`).
//!
//! `exp`, `ln`, `ln_1p`, `tanh`, [`Scalar::logistic`] and [`Scalar::softplus`] are the
//! branch-free functions of [`math`](crate::math) with and without `std`: within 1 ulp,
//! and a loop over a layer's units applying them is vectorized.

use core::fmt::{Debug, Display};
use core::iter::Sum;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar a network computes in: implemented for `f32` and `f64`.
pub trait Scalar:
    Copy
    + Default
    + Debug
    + Display
    + PartialEq
    + PartialOrd
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// The type's name, `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    #[must_use]
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    #[must_use]
    fn to_f64(self) -> f64;
    /// Converts a count (batch size, class index) to this type.
    #[must_use]
    fn from_usize(v: usize) -> Self;

    /// `eˣ`.
    #[must_use]
    fn exp(self) -> Self;
    /// `eˣ − 1`, accurate near 0.
    #[must_use]
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    #[must_use]
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate near 0.
    #[must_use]
    fn ln_1p(self) -> Self;
    /// Base-2 logarithm.
    #[must_use]
    fn log2(self) -> Self;
    /// Base-10 logarithm.
    #[must_use]
    fn log10(self) -> Self;
    /// Square root.
    #[must_use]
    fn sqrt(self) -> Self;
    /// Cube root.
    #[must_use]
    fn cbrt(self) -> Self;
    /// Hyperbolic tangent.
    #[must_use]
    fn tanh(self) -> Self;
    /// Hyperbolic sine.
    #[must_use]
    fn sinh(self) -> Self;
    /// Hyperbolic cosine.
    #[must_use]
    fn cosh(self) -> Self;
    /// Sine.
    #[must_use]
    fn sin(self) -> Self;
    /// Cosine.
    #[must_use]
    fn cos(self) -> Self;
    /// Arctangent.
    #[must_use]
    fn atan(self) -> Self;
    /// The error function.
    #[must_use]
    fn erf(self) -> Self;
    /// Absolute value.
    #[must_use]
    fn abs(self) -> Self;
    /// `selfⁿ` for an integer `n`.
    #[must_use]
    fn powi(self, n: i32) -> Self;
    /// `selfᵉ` for a float exponent.
    #[must_use]
    fn powf(self, e: Self) -> Self;
    /// The larger of two values; if one is NaN, the other.
    #[must_use]
    fn max(self, other: Self) -> Self;
    /// The smaller of two values; if one is NaN, the other.
    #[must_use]
    fn min(self, other: Self) -> Self;
    /// `true` if neither NaN nor infinite.
    #[must_use]
    fn is_finite(self) -> bool;
    /// `self·a + b`: one fused multiply-add (a single rounding) where the target has
    /// the instruction and `std` is on (`-C target-cpu=native` on a CPU with FMA), a
    /// multiply and an add otherwise. The matrix kernels use it; a software fused
    /// multiply-add would be far slower than the two operations, so it is never used.
    #[must_use]
    fn mul_add(self, a: Self, b: Self) -> Self;

    /// The logistic sigmoid `1 / (1 + e⁻ˣ)`, without overflow for any input.
    #[inline]
    #[must_use]
    fn logistic(self) -> Self {
        // For very negative x, e⁻ˣ overflows to +inf and 1/(1+inf) = 0: the right limit,
        // no NaN. For very positive x, e⁻ˣ underflows to 0 and the result is exactly 1.
        Self::ONE / (Self::ONE + (-self).exp())
    }

    /// `ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^−|x|)` so it never overflows.
    #[inline]
    #[must_use]
    fn softplus(self) -> Self {
        self.max(Self::ZERO) + (-self.abs()).exp().ln_1p()
    }
}

macro_rules! impl_scalar {
    ($t:ident, $name:literal, $libm_suffix:ident) => {
        impl Scalar for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = $t::EPSILON;
            const INFINITY: Self = $t::INFINITY;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const NAME: &'static str = $name;

            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            impl_scalar!(@math $t, $libm_suffix);
            #[inline]
            fn erf(self) -> Self {
                impl_scalar!(@libm $libm_suffix, erf)(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                #[cfg(all(feature = "std", target_feature = "fma"))]
                {
                    $t::mul_add(self, a, b)
                }
                #[cfg(not(all(feature = "std", target_feature = "fma")))]
                {
                    self * a + b
                }
            }
        }
    };
    (@libm f, $fn:ident) => {
        paste_f!($fn)
    };
    (@libm d, $fn:ident) => {
        libm::$fn
    };
    (@math $t:ident, $sfx:ident) => {
        impl_scalar!(@fast $t, exp);
        impl_scalar!(@unary $t, $sfx, exp_m1, expm1);
        impl_scalar!(@fast $t, ln);
        impl_scalar!(@fast $t, ln_1p);
        impl_scalar!(@unary $t, $sfx, log2, log2);
        impl_scalar!(@unary $t, $sfx, log10, log10);
        impl_scalar!(@unary $t, $sfx, sqrt, sqrt);
        impl_scalar!(@unary $t, $sfx, cbrt, cbrt);
        impl_scalar!(@fast $t, tanh);
        #[inline(always)]
        fn logistic(self) -> Self {
            $crate::math::sigmoid(self)
        }
        impl_scalar!(@fast $t, softplus);
        impl_scalar!(@unary $t, $sfx, sinh, sinh);
        impl_scalar!(@unary $t, $sfx, cosh, cosh);
        impl_scalar!(@unary $t, $sfx, sin, sin);
        impl_scalar!(@unary $t, $sfx, cos, cos);
        impl_scalar!(@unary $t, $sfx, atan, atan);
        #[inline]
        fn powi(self, n: i32) -> Self {
            #[cfg(feature = "std")]
            {
                $t::powi(self, n)
            }
            #[cfg(not(feature = "std"))]
            {
                impl_scalar!(@libm $sfx, pow)(self, n as $t)
            }
        }
        #[inline]
        fn powf(self, e: Self) -> Self {
            #[cfg(feature = "std")]
            {
                $t::powf(self, e)
            }
            #[cfg(not(feature = "std"))]
            {
                impl_scalar!(@libm $sfx, pow)(self, e)
            }
        }
    };
    (@fast $t:ident, $method:ident) => {
        #[inline(always)]
        fn $method(self) -> Self {
            $crate::math::$method(self)
        }
    };
    (@unary $t:ident, $sfx:ident, $method:ident, $libm:ident) => {
        #[inline]
        fn $method(self) -> Self {
            #[cfg(feature = "std")]
            {
                $t::$method(self)
            }
            #[cfg(not(feature = "std"))]
            {
                impl_scalar!(@libm $sfx, $libm)(self)
            }
        }
    };
}

/// Maps a libm function name to its `f32` variant (`exp` → `expf`).
macro_rules! paste_f {
    (exp) => {
        libm::expf
    };
    (expm1) => {
        libm::expm1f
    };
    (log) => {
        libm::logf
    };
    (log1p) => {
        libm::log1pf
    };
    (log2) => {
        libm::log2f
    };
    (log10) => {
        libm::log10f
    };
    (sqrt) => {
        libm::sqrtf
    };
    (cbrt) => {
        libm::cbrtf
    };
    (tanh) => {
        libm::tanhf
    };
    (sinh) => {
        libm::sinhf
    };
    (cosh) => {
        libm::coshf
    };
    (sin) => {
        libm::sinf
    };
    (cos) => {
        libm::cosf
    };
    (atan) => {
        libm::atanf
    };
    (erf) => {
        libm::erff
    };
    (pow) => {
        libm::powf
    };
}

impl_scalar!(f32, "f32", f);
impl_scalar!(f64, "f64", d);

#[cfg(test)]
mod tests {
    use super::Scalar;

    #[test]
    fn logistic_and_softplus_are_stable_at_extremes() {
        for &x in &[-1e4_f64, -80.0, -1.0, 0.0, 1.0, 80.0, 1e4] {
            let s = Scalar::logistic(x);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "logistic({x}) = {s}");
            let sp = Scalar::softplus(x);
            assert!(sp.is_finite(), "softplus({x}) = {sp}");
            let naive = (1.0 + x.exp()).ln();
            if naive.is_finite() {
                assert!((sp - naive).abs() <= 1e-12 * naive.abs().max(1.0));
            }
        }
        assert_eq!(Scalar::softplus(1e4_f32), 1e4);
    }

    #[test]
    fn f32_and_f64_agree() {
        for &x in &[-2.5_f64, -0.3, 0.0, 0.7, 3.0] {
            let f = x as f32;
            assert!((Scalar::tanh(f) as f64 - x.tanh()).abs() < 1e-6);
            assert!((Scalar::erf(f) as f64 - libm::erf(x)).abs() < 1e-6);
            assert!((Scalar::exp(f) as f64 - x.exp()).abs() < 1e-5 * x.exp());
        }
    }
}
