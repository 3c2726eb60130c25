//! Adamax (Adam with the infinity norm), as `torch.optim.Adamax`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, powf};
use crate::scalar::Scalar;

/// Adamax, the infinity-norm variant of Adam (Kingma & Ba, section 7), following
/// `torch.optim.Adamax`.
///
/// With learning rate γ, betas (β₁, β₂), weight decay λ and ε, step `t` (from 1) does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}
/// m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// u_t ← max(β₂·u_{t−1}, |g_t| + ε)
/// θ_t ← θ_{t−1} − γ·m_t / ((1 − β₁ᵗ)·u_t)
/// ```
///
/// computed as torch does: `θ ← θ − (γ/(1 − β₁ᵗ))·m_t/u_t`, the bias correction in `f64`
/// once per step. ε sits inside the maximum, so `u_t ≥ ε` and the division is safe even
/// for a parameter whose gradient has always been zero.
///
/// Defaults as torch: γ = 2e-3 ([`Default`]), β = (0.9, 0.999), ε = 1e-8, λ = 0.
///
/// Differences from PyTorch: integer step count; no `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Adamax<S> {
    pub(crate) lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    m: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    u: S,
}

impl<S: State> Default for Adamax<S> {
    /// Adamax with torch's default learning rate, 2e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Adamax<S> {
    /// torch's default learning rate for Adamax.
    pub const DEFAULT_LR: f64 = 2e-3;

    /// Adamax with learning rate `lr` and torch's other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, t: 0, m: S::ZEROED, u: S::ZEROED }
    }

    /// Sets the betas (β₁, β₂) (default (0.9, 0.999)).
    #[must_use]
    pub const fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets ε, added to `|g|` inside the maximum (default 1e-8).
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
        if (fit_state(&mut self.m, n) | fit_state(&mut self.u, n)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.m, T::ZERO);
            fill(&mut self.u, T::ZERO);
        }
        self.t += 1;

        let (beta1, beta2) = self.betas;
        let step_size = T::from_f64(self.lr / (1.0 - powf(beta1, self.t as f64)));
        let b1 = T::from_f64(beta1);
        let c1 = T::from_f64(1.0 - beta1);
        let b2 = T::from_f64(beta2);
        let eps = T::from_f64(self.eps);
        let wd = T::from_f64(self.weight_decay);

        let moments = self.m.as_mut().iter_mut().zip(self.u.as_mut());
        for ((p, &g), (m, u)) in params.iter_mut().zip(grads).zip(moments) {
            let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
            *m = b1 * *m + c1 * g;
            *u = (b2 * *u).max(g.abs() + eps);
            *p -= step_size * (*m / *u);
        }
    }
}

impl_optimizer!(Adamax);
