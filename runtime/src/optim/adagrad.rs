//! Adagrad, as `torch.optim.Adagrad`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer};
use crate::scalar::Scalar;

/// Adagrad (Duchi et al.), with learning-rate decay and an initial accumulator value,
/// following `torch.optim.Adagrad`.
///
/// With learning rate γ, weight decay λ, initial accumulator value τ, learning-rate decay
/// η and ε, step `t` (from 1) does
///
/// ```text
/// initialize:  s_0 ← τ
/// g_t ← ∇f(θ_{t−1})
/// γ̃ ← γ / (1 + (t − 1)·η)
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}
/// s_t ← s_{t−1} + g_t²
/// θ_t ← θ_{t−1} − γ̃·g_t / (√s_t + ε)
/// ```
///
/// The decayed rate γ̃ is computed in `f64` once per step.
///
/// Defaults as torch: γ = 1e-2 ([`Default`]), η = 0, λ = 0, τ = 0, ε = 1e-10.
///
/// optax's `adagrad(lr)` is `Adagrad::new(lr).initial_accumulator_value(0.1).eps(1e-7)
/// .eps_in_sqrt(true)`: `θ ← θ − γ·g/√(s + ε)`. Keras' `Adagrad` is the same numbers with
/// its own defaults (τ = 0.1, ε = 1e-7) but ε outside: `g/(√s + ε)`, torch's form.
///
/// Differences from PyTorch: the accumulator is filled with τ at the first step rather
/// than at construction (the same numbers); integer step count; no `maximize`, no sparse
/// gradients.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Adagrad<S> {
    pub(crate) lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    initial_accumulator_value: f64,
    eps: f64,
    eps_in_sqrt: bool,
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    sum: S,
}

impl<S: State> Default for Adagrad<S> {
    /// Adagrad with torch's default learning rate, 1e-2.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Adagrad<S> {
    /// torch's default learning rate for Adagrad.
    pub const DEFAULT_LR: f64 = 1e-2;

    /// Adagrad with learning rate `lr` and torch's other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            eps_in_sqrt: false,
            t: 0,
            sum: S::ZEROED,
        }
    }

    /// Sets the learning-rate decay η: step `t` uses `γ/(1 + (t − 1)·η)` (default 0).
    #[must_use]
    pub const fn lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }

    /// Sets the L2 weight decay λ, added to the gradient (default 0).
    #[must_use]
    pub const fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the value τ the sum of squared gradients starts from (default 0).
    #[must_use]
    pub const fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }

    /// Sets ε, added to the denominator (default 1e-10).
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Puts ε inside the square root, `g/√(s + ε)`, as optax's `adagrad` does; torch adds
    /// it outside, `g/(√s + ε)` (default off: torch's form).
    #[must_use]
    pub const fn eps_in_sqrt(mut self, inside: bool) -> Self {
        self.eps_in_sqrt = inside;
        self
    }

    /// Number of steps taken since creation or the last [`reset`](Self::reset).
    #[inline]
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Forgets all state: the next step is a first step again.
    #[inline]
    pub fn reset(&mut self) {
        self.t = 0;
    }

    fn plain_rate(&self) -> Option<f64> {
        None
    }

    fn update<T: Scalar>(&mut self, params: &mut [T], grads: &[T])
    where
        S: State<Elem = T>,
    {
        check_lengths(params, grads);
        if fit_state(&mut self.sum, params.len()) || self.t == 0 {
            self.t = 0;
            fill(&mut self.sum, T::from_f64(self.initial_accumulator_value));
        }
        self.t += 1;

        let clr = T::from_f64(self.lr / (1.0 + (self.t - 1) as f64 * self.lr_decay));
        let eps = T::from_f64(self.eps);
        let wd = T::from_f64(self.weight_decay);
        for ((p, &g), s) in params.iter_mut().zip(grads).zip(self.sum.as_mut()) {
            let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
            *s += g * g;
            let denom = if self.eps_in_sqrt { (*s + eps).sqrt() } else { s.sqrt() + eps };
            *p -= clr * (g / denom);
        }
    }
}

impl_optimizer!(Adagrad);
