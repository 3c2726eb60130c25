//! RAdam (rectified Adam), as `torch.optim.RAdam`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, powf, sqrt};
use crate::scalar::Scalar;

/// Rectified Adam (Liu et al., "On the Variance of the Adaptive Learning Rate and
/// Beyond"), following `torch.optim.RAdam`.
///
/// With learning rate γ, betas (β₁, β₂), weight decay λ and ε, step `t` (from 1) does
///
/// ```text
/// ρ_∞ ← 2/(1 − β₂) − 1
/// g_t ← ∇f(θ_{t−1});   θ_t ← θ_{t−1}
/// if λ ≠ 0:  g_t ← g_t + λ·θ_t        (L2, the default)
///        or  θ_t ← θ_t − γλ·θ_t       (decoupled_weight_decay, "RAdamW")
/// m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t ← β₂·v_{t−1} + (1 − β₂)·g_t²
/// m̂_t ← m_t / (1 − β₁ᵗ)
/// ρ_t ← ρ_∞ − 2t·β₂ᵗ / (1 − β₂ᵗ)
/// if ρ_t > 5:
///     l_t ← √(1 − β₂ᵗ) / (√v_t + ε)
///     r_t ← √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
///     θ_t ← θ_t − γ·m̂_t·r_t·l_t
/// else:
///     θ_t ← θ_t − γ·m̂_t
/// ```
///
/// The rectification test is `ρ_t > 5`, as torch uses (the paper's Algorithm 2 tests
/// `ρ_t > 4`). ρ_t, r_t and the bias corrections are computed in `f64` once per step.
///
/// Defaults as torch: γ = 1e-3 ([`Default`]), β = (0.9, 0.999), ε = 1e-8, λ = 0, L2 decay.
/// With the default β₂ the first 5 steps are un-rectified momentum steps `θ ← θ − γ·m̂`.
///
/// Differences from PyTorch: integer step count; no `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct RAdam<S> {
    pub(crate) lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    m: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    v: S,
}

impl<S: State> Default for RAdam<S> {
    /// RAdam with torch's default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> RAdam<S> {
    /// torch's default learning rate for RAdam.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// RAdam with learning rate `lr` and torch's other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            t: 0,
            m: S::ZEROED,
            v: S::ZEROED,
        }
    }

    /// Sets the betas (β₁, β₂) (default (0.9, 0.999)).
    #[must_use]
    pub const fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets ε, added to the denominator (default 1e-8).
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the weight decay λ (default 0): L2 unless decoupled.
    #[must_use]
    pub const fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Applies the weight decay to the parameters (`θ ← θ − γλθ`, as AdamW) instead of
    /// adding it to the gradient (default off).
    #[must_use]
    pub const fn decoupled_weight_decay(mut self, decoupled: bool) -> Self {
        self.decoupled = decoupled;
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
        if (fit_state(&mut self.m, n) | fit_state(&mut self.v, n)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.m, T::ZERO);
            fill(&mut self.v, T::ZERO);
        }
        self.t += 1;

        let lr = self.lr;
        let (beta1, beta2) = self.betas;
        let t = self.t as f64;
        let beta2_t = powf(beta2, t);
        let bias1 = 1.0 - powf(beta1, t);
        let bias2 = 1.0 - beta2_t;
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * beta2_t / bias2;
        // Before the variance of the adaptive rate is tractable (ρ_t ≤ 5) RAdam takes a
        // plain momentum step; `None` marks that case.
        let rect = (rho_t > 5.0).then(|| {
            T::from_f64(sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)))
        });
        let bias1 = T::from_f64(bias1);
        let bias2_sqrt = T::from_f64(sqrt(bias2));
        let lr_t = T::from_f64(lr);
        let b1 = T::from_f64(beta1);
        let c1 = T::from_f64(1.0 - beta1);
        let b2 = T::from_f64(beta2);
        let c2 = T::from_f64(1.0 - beta2);
        let eps = T::from_f64(self.eps);
        let l2 = (self.weight_decay != 0.0 && !self.decoupled).then(|| T::from_f64(self.weight_decay));
        let shrink = (self.weight_decay != 0.0 && self.decoupled).then(|| T::from_f64(1.0 - lr * self.weight_decay));

        let moments = self.m.as_mut().iter_mut().zip(self.v.as_mut());
        for ((p, &g), (m, v)) in params.iter_mut().zip(grads).zip(moments) {
            if let Some(s) = shrink {
                *p *= s;
            }
            let g = l2.map_or(g, |wd| g + wd * *p);
            *m = b1 * *m + c1 * g;
            *v = b2 * *v + c2 * g * g;
            let m_hat = *m / bias1;
            *p -= match rect {
                Some(r) => m_hat * lr_t * (bias2_sqrt / (v.sqrt() + eps)) * r,
                None => m_hat * lr_t,
            };
        }
    }
}

impl_optimizer!(RAdam);
