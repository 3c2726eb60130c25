//! The inner loops of layers emitted as loops: dot products and `y += a·x` over
//! contiguous memory, written so the compiler vectorizes them.
//!
//! A float sum in one accumulator is a serial dependency chain that LLVM may not reorder
//! (float addition is not associative), so [`dot`] keeps `LANES` independent partial
//! sums, which LLVM maps to vector registers; the result differs from a serial sum only
//! by rounding.

use crate::scalar::Scalar;

/// Independent partial sums in [`dot`]: two 256-bit vectors of `f32`, or four of `f64`.
pub const LANES: usize = 16;

/// `Σ a[i]·b[i]`.
///
/// # Panics
/// Debug builds check `a.len() == b.len()`; extra elements of the longer slice are ignored.
#[inline]
#[must_use]
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    let mut acc = [T::ZERO; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = T::ZERO;
    for (&x, &y) in ar.iter().zip(br) {
        tail += x * y;
    }
    // Pairwise reduction of the lanes keeps the rounding error of long rows small.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] += acc[k + width];
        }
    }
    acc[0] + tail
}

/// `y[i] += a·x[i]`.
#[inline]
pub fn axpy<T: Scalar>(a: T, x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_serial_sum_at_every_length() {
        for n in 0..70 {
            let a: [f64; 70] = core::array::from_fn(|i| (i as f64 * 0.37).sin());
            let b: [f64; 70] = core::array::from_fn(|i| (i as f64 * 0.11).cos());
            let serial: f64 = a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum();
            assert!((dot(&a[..n], &b[..n]) - serial).abs() < 1e-12, "n = {n}");
        }
    }

    #[test]
    fn axpy_adds_scaled() {
        let mut y = [1.0_f32, 2.0, 3.0];
        axpy(2.0, &[1.0, 0.5, -1.0], &mut y);
        assert_eq!(y, [3.0, 3.0, 1.0]);
    }
}
