//! NAdam (Adam with Nesterov momentum), as `torch.optim.NAdam`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, powf};
use crate::scalar::Scalar;

/// Adam with Nesterov momentum (Dozat, "Incorporating Nesterov Momentum into Adam"),
/// following `torch.optim.NAdam`, including its momentum schedule.
///
/// With learning rate γ, betas (β₁, β₂), weight decay λ, momentum decay ψ and ε, step `t`
/// (from 1) does
///
/// ```text
/// g_t ← ∇f(θ_{t−1});   θ_t ← θ_{t−1}
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}        (L2, the default)
///        or  θ_t ← θ_{t−1} − γλ·θ_{t−1}   (decoupled_weight_decay)
/// μ_t     ← β₁·(1 − ½·0.96^(t·ψ))
/// μ_{t+1} ← β₁·(1 − ½·0.96^((t+1)·ψ))
/// m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t ← β₂·v_{t−1} + (1 − β₂)·g_t²
/// m̂_t ← μ_{t+1}·m_t / (1 − ∏_{i=1}^{t+1} μ_i) + (1 − μ_t)·g_t / (1 − ∏_{i=1}^{t} μ_i)
/// v̂_t ← v_t / (1 − β₂ᵗ)
/// θ_t ← θ_t − γ·m̂_t / (√v̂_t + ε)
/// ```
///
/// The μ-product `∏ μ_i` is one `f64` of the optimizer, multiplied by `μ_t` once per step
/// (not recomputed from `t`), as torch keeps it; both step-size factors of `m̂_t` are
/// computed from it in `f64` once per step.
///
/// Defaults as torch: γ = 2e-3 ([`Default`]), β = (0.9, 0.999), ε = 1e-8, λ = 0,
/// ψ = 4e-3, L2 decay.
///
/// Differences from PyTorch: the μ-product and step count are `f64` / integer (torch
/// keeps them in scalar tensors of its default float type, float32 unless changed, so its
/// μ-product carries float32 rounding). No `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct NAdam<S> {
    pub(crate) lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    momentum_decay: f64,
    decoupled: bool,
    t: u64,
    mu_product: f64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    m: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    v: S,
}

impl<S: State> Default for NAdam<S> {
    /// NAdam with torch's default learning rate, 2e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> NAdam<S> {
    /// torch's default learning rate for NAdam.
    pub const DEFAULT_LR: f64 = 2e-3;

    /// NAdam with learning rate `lr` and torch's other defaults.
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
            momentum_decay: 4e-3,
            decoupled: false,
            t: 0,
            mu_product: 1.0,
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

    /// Sets the momentum decay ψ of the μ schedule (default 4e-3).
    #[must_use]
    pub const fn momentum_decay(mut self, momentum_decay: f64) -> Self {
        self.momentum_decay = momentum_decay;
        self
    }

    /// Applies the weight decay to the parameters (`θ ← θ − γλθ`, "NAdamW") instead of
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
            self.mu_product = 1.0;
            fill(&mut self.m, T::ZERO);
            fill(&mut self.v, T::ZERO);
        }
        self.t += 1;

        let lr = self.lr;
        let (beta1, beta2) = self.betas;
        let t = self.t as f64;
        let bias2 = 1.0 - powf(beta2, t);
        let mu = beta1 * (1.0 - 0.5 * powf(0.96, t * self.momentum_decay));
        let mu_next = beta1 * (1.0 - 0.5 * powf(0.96, (t + 1.0) * self.momentum_decay));
        self.mu_product *= mu;
        let mu_product_next = self.mu_product * mu_next;
        let grad_step = T::from_f64(lr * (1.0 - mu) / (1.0 - self.mu_product));
        let avg_step = T::from_f64(lr * mu_next / (1.0 - mu_product_next));
        let bias2 = T::from_f64(bias2);
        let b1 = T::from_f64(beta1);
        let c1 = T::from_f64(1.0 - beta1);
        let b2 = T::from_f64(beta2);
        let c2 = T::from_f64(1.0 - beta2);
        let eps = T::from_f64(self.eps);
        let l2 = (self.weight_decay != 0.0 && !self.decoupled).then(|| T::from_f64(self.weight_decay));
        let shrink = (self.weight_decay != 0.0 && self.decoupled).then(|| T::from_f64(1.0 - lr * self.weight_decay));

        let moments = self.m.as_mut().iter_mut().zip(self.v.as_mut());
        for ((p, &g), (m, v)) in params.iter_mut().zip(grads).zip(moments) {
            let g = l2.map_or(g, |wd| g + wd * *p);
            if let Some(s) = shrink {
                *p *= s;
            }
            *m = b1 * *m + c1 * g;
            *v = b2 * *v + c2 * g * g;
            let denom = (*v / bias2).sqrt() + eps;
            // Two separate updates, in torch's order: the gradient term, then the mean term.
            *p -= grad_step * (g / denom);
            *p -= avg_step * (*m / denom);
        }
    }
}

impl_optimizer!(NAdam);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mu_product_is_per_optimizer_and_restarts_with_reset() {
        let mut opt = NAdam::<[f64; 3]>::new(1e-2);
        let mut p = [1.0, -2.0, 0.5];
        for _ in 0..3 {
            opt.update(&mut p, &[0.1, 0.2, -0.3]);
        }
        let mu = |t: f64| 0.9 * (1.0 - 0.5 * powf(0.96, t * 4e-3));
        assert_eq!(opt.mu_product, mu(1.0) * mu(2.0) * mu(3.0));
        opt.reset();
        opt.update(&mut p, &[0.1, 0.2, -0.3]);
        assert_eq!(opt.mu_product, mu(1.0));
    }
}
