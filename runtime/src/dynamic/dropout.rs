//! Inverted dropout, as `torch.nn.Dropout(p)`: in training `y = m ⊙ x` with
//! `mⱼ = [uⱼ ≥ p]/(1 − p)`, in inference `y = x`; backward `∂L/∂x = m ⊙ ∂L/∂y`.
//!
//! The mask follows the rule of [`crate::dropout`] (the same draws as a generated
//! network in the same dropout state) and is kept in the layer's pre-activation slot,
//! which a layer without an activation does not otherwise use.

use crate::scalar::Scalar;

/// A resolved dropout layer: the probability and the layer's index (the mask rule's `l`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Dropout {
    pub(super) p: f64,
    pub(super) layer: usize,
}

impl Dropout {
    /// Draws the mask of `sample` under `state` into `m` (all ones for `None`, inference)
    /// and applies it.
    pub(super) fn forward<T: Scalar>(self, state: u64, sample: Option<usize>, x: &[T], m: &mut [T], y: &mut [T]) {
        match sample {
            Some(i) => crate::dropout::mask(crate::dropout::key(state, i as u64, self.layer as u64), self.p, m),
            None => m.fill(T::ONE),
        }
        for ((o, &v), &k) in y.iter_mut().zip(x).zip(m.iter()) {
            *o = v * k;
        }
    }

    /// Adds `factor·m ⊙ ∂L/∂y` into `dx`.
    pub(super) fn backward<T: Scalar>(m: &[T], dy: &[T], factor: T, dx: &mut [T]) {
        for ((d, &g), &k) in dx.iter_mut().zip(dy).zip(m) {
            *d += factor * g * k;
        }
    }
}
