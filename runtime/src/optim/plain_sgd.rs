//! Plain stochastic gradient descent with no state: `torch.optim.SGD(params, lr)` with
//! every other argument at its default.

use super::{Optimizer, check_lengths};
use crate::scalar::Scalar;

/// Plain SGD, `θ_t ← θ_{t−1} − γ·∇f(θ_{t−1})`: `torch.optim.SGD` with momentum 0 and
/// weight decay 0, and nothing else.
///
/// It holds its learning rate and no per-parameter state, whatever the network's size
/// (8 bytes, against [`Sgd`](super::Sgd)'s parameter-sized momentum buffer, which `Sgd`
/// keeps even when its momentum is 0). Its [`plain_sgd_rate`](Optimizer::plain_sgd_rate)
/// is always `Some`, a constant the compiler sees, so a generated network's `train_step`
/// compiles to the backward pass fused with the update (no gradient buffer) and nothing
/// else: the fused path chosen by the type, with no run-time check left in the code.
/// Updates and losses are bit for bit those of `Sgd::new(lr)`.
///
/// ```
/// # use stackprop_runtime::optim::{Optimizer, PlainSgd};
/// let mut opt = PlainSgd::new(0.5);
/// assert_eq!(core::mem::size_of_val(&opt), 8);
/// let mut params = [1.0f32, -2.0, 0.5];
/// opt.step(&mut params, &[0.5, 1.0, -1.0]);
/// assert_eq!(params, [0.75, -2.5, 1.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlainSgd {
    lr: f64,
}

impl Default for PlainSgd {
    /// Plain SGD with torch's default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl PlainSgd {
    /// torch's default learning rate for SGD.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// Plain SGD with learning rate `lr`.
    #[must_use]
    pub const fn new(lr: f64) -> Self {
        Self { lr }
    }

    fn update<T: Scalar>(&self, params: &mut [T], grads: &[T]) {
        check_lengths(params, grads);
        let lr = T::from_f64(self.lr);
        for (p, &g) in params.iter_mut().zip(grads) {
            *p -= lr * g;
        }
    }
}

impl<T: Scalar, const N: usize> Optimizer<[T; N]> for PlainSgd {
    #[inline]
    fn step(&mut self, params: &mut [T; N], grads: &[T; N]) {
        self.update(params, grads);
    }
    #[inline]
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    #[inline]
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    #[inline]
    fn plain_sgd_rate(&self) -> Option<f64> {
        Some(self.lr)
    }
}

impl<T: Scalar> Optimizer<[T]> for PlainSgd {
    #[inline]
    fn step(&mut self, params: &mut [T], grads: &[T]) {
        self.update(params, grads);
    }
    #[inline]
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    #[inline]
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    #[inline]
    fn plain_sgd_rate(&self) -> Option<f64> {
        Some(self.lr)
    }
}
