//! Stochastic gradient descent, as `torch.optim.SGD`.

use super::{State, check_lengths, fit_state, impl_optimizer};
use crate::scalar::Scalar;

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
/// decay, following `torch.optim.SGD`.
///
/// With learning rate γ, momentum μ, dampening τ and weight decay λ, step `t` does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}
/// if μ ≠ 0:
///     b_t ← g_t                          (t = 1)
///     b_t ← μ·b_{t−1} + (1 − τ)·g_t      (t > 1)
///     g_t ← g_t + μ·b_t   if Nesterov,   else   g_t ← b_t
/// θ_t ← θ_{t−1} − γ·g_t
/// ```
///
/// Defaults as torch: μ = 0, τ = 0, λ = 0, no Nesterov; [`Default`] uses torch's default
/// γ = 1e-3. `S` holds the momentum buffer `b` (`[T; N]` or `Vec<T>`); with μ = 0 and λ = 0
/// the step is `θ ← θ − γ·g` with no state, and a network fuses it into its backward pass
/// ([`Optimizer::plain_sgd_rate`](super::Optimizer::plain_sgd_rate)). The buffer is
/// there even then (`[T; N]` for a generated network); [`PlainSgd`](super::PlainSgd) is
/// plain SGD with no buffer at all.
///
/// Differences from PyTorch: torch rejects Nesterov momentum with μ ≤ 0 or τ ≠ 0
/// (`ValueError`); here the formula above simply runs (with μ = 0 Nesterov changes
/// nothing). No `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Sgd<S> {
    pub(crate) lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    started: bool,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    buf: S,
}

impl<S: State> Default for Sgd<S> {
    /// SGD with torch's default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Sgd<S> {
    /// torch's default learning rate for SGD.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// Plain SGD with learning rate `lr`.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, started: false, buf: S::ZEROED }
    }

    /// Sets the momentum factor μ (default 0).
    #[must_use]
    pub const fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening τ of the momentum (default 0).
    #[must_use]
    pub const fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay λ, added to the gradient (default 0).
    #[must_use]
    pub const fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off (default off).
    #[must_use]
    pub const fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Forgets the momentum: the next step is a first step again.
    #[inline]
    pub fn reset(&mut self) {
        self.started = false;
    }

    fn plain_rate(&self) -> Option<f64> {
        (self.momentum == 0.0 && self.weight_decay == 0.0).then_some(self.lr)
    }

    fn update<T: Scalar>(&mut self, params: &mut [T], grads: &[T])
    where
        S: State<Elem = T>,
    {
        check_lengths(params, grads);
        let lr = T::from_f64(self.lr);
        let wd = T::from_f64(self.weight_decay);
        if self.momentum == 0.0 {
            for (p, &g) in params.iter_mut().zip(grads) {
                let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
                *p -= lr * g;
            }
            return;
        }
        if fit_state(&mut self.buf, params.len()) {
            self.started = false;
        }
        let mu = T::from_f64(self.momentum);
        let keep = T::from_f64(1.0 - self.dampening);
        let first = !self.started;
        self.started = true;
        for ((p, &g), b) in params.iter_mut().zip(grads).zip(self.buf.as_mut()) {
            let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
            // The first step copies the gradient into the buffer undamped, as torch does.
            *b = if first { g } else { mu * *b + keep * g };
            let d = if self.nesterov { g + mu * *b } else { *b };
            *p -= lr * d;
        }
    }
}

impl_optimizer!(Sgd);
