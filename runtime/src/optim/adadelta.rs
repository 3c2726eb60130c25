//! Adadelta, as `torch.optim.Adadelta`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer};
use crate::scalar::Scalar;

/// Adadelta (Zeiler), following `torch.optim.Adadelta`.
///
/// With learning rate γ, decay ρ, weight decay λ and ε, step `t` does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}
/// v_t ← ρ·v_{t−1} + (1 − ρ)·g_t²
/// Δx_t ← √(u_{t−1} + ε) / √(v_t + ε) · g_t
/// u_t ← ρ·u_{t−1} + (1 − ρ)·Δx_t²
/// θ_t ← θ_{t−1} − γ·Δx_t
/// ```
///
/// The paper has no learning rate (γ = 1, torch's default); torch adds γ as a scale on
/// the step, and so does this type.
///
/// Defaults as torch: γ = 1.0 ([`Default`]), ρ = 0.9, ε = 1e-6, λ = 0.
///
/// Differences from PyTorch: no `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Adadelta<S> {
    pub(crate) lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    square_avg: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    acc_delta: S,
}

impl<S: State> Default for Adadelta<S> {
    /// Adadelta with torch's default learning rate, 1.0.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Adadelta<S> {
    /// torch's default learning rate for Adadelta.
    pub const DEFAULT_LR: f64 = 1.0;

    /// Adadelta with learning rate `lr` and torch's other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, rho: 0.9, eps: 1e-6, weight_decay: 0.0, t: 0, square_avg: S::ZEROED, acc_delta: S::ZEROED }
    }

    /// Sets ρ, the decay of both running means (default 0.9).
    #[must_use]
    pub const fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }

    /// Sets ε, added inside both square roots (default 1e-6).
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the L2 weight decay λ, added to the gradient (default 0).
    #[must_use]
    pub const fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
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
        let n = params.len();
        if (fit_state(&mut self.square_avg, n) | fit_state(&mut self.acc_delta, n)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.square_avg, T::ZERO);
            fill(&mut self.acc_delta, T::ZERO);
        }
        self.t += 1;

        let lr = T::from_f64(self.lr);
        let rho = T::from_f64(self.rho);
        let c = T::from_f64(1.0 - self.rho);
        let eps = T::from_f64(self.eps);
        let wd = T::from_f64(self.weight_decay);
        let means = self.square_avg.as_mut().iter_mut().zip(self.acc_delta.as_mut());
        for ((p, &g), (v, u)) in params.iter_mut().zip(grads).zip(means) {
            let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
            *v = rho * *v + c * g * g;
            let delta = (*u + eps).sqrt() / (*v + eps).sqrt() * g;
            *u = rho * *u + c * delta * delta;
            *p -= lr * delta;
        }
    }
}

impl_optimizer!(Adadelta);
