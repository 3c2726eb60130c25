//! AdamW, as `torch.optim.AdamW`: Adam with decoupled weight decay.

use super::adam::AdamCore;
use super::{State, impl_optimizer};
use crate::scalar::Scalar;

/// Adam with decoupled weight decay (Loshchilov & Hutter), following `torch.optim.AdamW`.
///
/// With learning rate γ, betas (β₁, β₂), weight decay λ and ε, step `t` (from 1) does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// θ_t ← θ_{t−1} − γλ·θ_{t−1}
/// m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t ← β₂·v_{t−1} + (1 − β₂)·g_t²
/// m̂_t ← m_t / (1 − β₁ᵗ)
/// if amsgrad:  v_t^max ← max(v_{t−1}^max, v_t);   v̂_t ← v_t^max / (1 − β₂ᵗ)
/// else:        v̂_t ← v_t / (1 − β₂ᵗ)
/// θ_t ← θ_t − γ·m̂_t / (√v̂_t + ε)
/// ```
///
/// The decay shrinks the parameter itself (`θ ← (1 − γλ)·θ`) and never enters `m` or `v`,
/// unlike [`Adam`](super::Adam)'s L2 `weight_decay`; see [`grad`](crate::grad) for the two
/// kinds of decay side by side. The arithmetic is [`Adam`](super::Adam)'s with
/// `decoupled_weight_decay(true)`, as torch's `AdamW` is its `Adam` with
/// `decoupled_weight_decay=True`.
///
/// Defaults as torch: β = (0.9, 0.999), ε = 1e-8, λ = 1e-2, no AMSGrad; [`Default`] uses
/// γ = 1e-3. Differences from PyTorch are [`Adam`](super::Adam)'s (AMSGrad on raw `v_t`, as
/// torch's code; integer step count; no `maximize`).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct AdamW<S> {
    pub(crate) lr: f64,
    core: AdamCore<S>,
}

impl<S: State> Default for AdamW<S> {
    /// AdamW with torch's default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> AdamW<S> {
    /// torch's default learning rate for AdamW.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// AdamW with learning rate `lr` and torch's other defaults (weight decay 1e-2).
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, core: AdamCore::new(1e-2, true) }
    }

    /// Sets the betas (β₁, β₂) (default (0.9, 0.999)).
    #[must_use]
    pub const fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.core.betas = (beta1, beta2);
        self
    }

    /// Sets ε, added to the denominator (default 1e-8).
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        self.core.eps = eps;
        self
    }

    /// Sets the decoupled weight decay λ (default 1e-2).
    #[must_use]
    pub const fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.core.weight_decay = weight_decay;
        self
    }

    /// Turns the AMSGrad variant on or off (default off).
    #[must_use]
    pub const fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.core.amsgrad = amsgrad;
        self
    }

    /// Number of steps taken since creation or the last [`reset`](Self::reset).
    #[inline]
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.core.t
    }

    /// Forgets all state: the next step is a first step again.
    #[inline]
    pub fn reset(&mut self) {
        self.core.t = 0;
    }

    fn plain_rate(&self) -> Option<f64> {
        None
    }

    fn update<T: Scalar>(&mut self, params: &mut [T], grads: &[T])
    where
        S: State<Elem = T>,
    {
        self.core.update(self.lr, params, grads);
    }
}

impl_optimizer!(AdamW);
