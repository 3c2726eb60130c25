//! Lion (evolved sign momentum), after Chen et al. 2023; not part of torch.optim.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, sign};
use crate::scalar::Scalar;

/// Lion, "EvoLved Sign Momentum", following Algorithm 2 of Chen et al., "Symbolic
/// Discovery of Optimization Algorithms" (2023), with decoupled weight decay.
///
/// With learning rate η, betas (β₁, β₂) and weight decay λ, step `t` does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// c_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// θ_t ← θ_{t−1} − η·(sign(c_t) + λ·θ_{t−1})
/// m_t ← β₂·m_{t−1} + (1 − β₂)·g_t
/// ```
///
/// with `sign(0) = 0`, computed as the authors' PyTorch code does: `θ ← (1 − ηλ)·θ`, then
/// `θ ← θ − η·sign(c_t)`. Every element moves by exactly `η` (plus decay) whenever its
/// interpolated momentum is non-zero, so the update has a larger norm than Adam's: the
/// paper suggests a learning rate 3–10× smaller than AdamW's and a weight decay 3–10×
/// larger, keeping `η·λ` similar.
///
/// Lion is not in torch.optim. Defaults follow the authors' reference implementation:
/// η = 1e-4 ([`Default`]), β = (0.9, 0.99), λ = 0.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Lion<S> {
    pub(crate) lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    m: S,
}

impl<S: State> Default for Lion<S> {
    /// Lion with the reference implementation's default learning rate, 1e-4.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Lion<S> {
    /// The reference implementation's default learning rate for Lion.
    pub const DEFAULT_LR: f64 = 1e-4;

    /// Lion with learning rate `lr`, betas (0.9, 0.99) and no weight decay.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, betas: (0.9, 0.99), weight_decay: 0.0, t: 0, m: S::ZEROED }
    }

    /// Sets the betas: β₁ interpolates the update direction, β₂ decays the momentum
    /// (default (0.9, 0.99)).
    #[must_use]
    pub const fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets the decoupled weight decay λ, applied to the parameters (default 0).
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
        if fit_state(&mut self.m, params.len()) || self.t == 0 {
            self.t = 0;
            fill(&mut self.m, T::ZERO);
        }
        self.t += 1;

        let (beta1, beta2) = self.betas;
        let lr = T::from_f64(self.lr);
        let shrink = (self.weight_decay != 0.0).then(|| T::from_f64(1.0 - self.lr * self.weight_decay));
        let b1 = T::from_f64(beta1);
        let c1 = T::from_f64(1.0 - beta1);
        let b2 = T::from_f64(beta2);
        let c2 = T::from_f64(1.0 - beta2);
        for ((p, &g), m) in params.iter_mut().zip(grads).zip(self.m.as_mut()) {
            if let Some(s) = shrink {
                *p *= s;
            }
            let c = b1 * *m + c1 * g;
            *p -= lr * sign(c);
            *m = b2 * *m + c2 * g;
        }
    }
}

impl_optimizer!(Lion);
