//! `Flatten`, as `torch.flatten(x, 1)`: `[C][..]` to `[C·..]`, so a dense layer can follow
//! a convolution or a pool.
//!
//! Forward `y = x` and backward `∂L/∂x = ∂L/∂y`: the data is flat and row-major already,
//! so only the shape changes. No parameters. The layer copies its input into its own
//! output slot, which keeps every layer's output at its own place in the scratch.

use super::Shape;
use crate::scalar::Scalar;

/// The output shape of a flatten: the input's size as one dimension.
#[inline]
pub(super) fn resolve(shape: Shape) -> Shape {
    Shape::new(&[shape.len()])
}

/// `y = x`.
#[inline]
pub(super) fn forward<T: Scalar>(x: &[T], y: &mut [T]) {
    y.copy_from_slice(x);
}

/// Adds `factor·∂L/∂y` into `dx`.
#[inline]
pub(super) fn backward<T: Scalar>(dy: &[T], factor: T, dx: &mut [T]) {
    for (d, &g) in dx.iter_mut().zip(dy) {
        *d += factor * g;
    }
}
