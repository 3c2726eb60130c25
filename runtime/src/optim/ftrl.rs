//! FTRL-Proximal, as Keras' `Ftrl`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer};
use crate::scalar::Scalar;

/// FTRL-Proximal (McMahan et al. 2013), following Keras' `keras.optimizers.Ftrl`
/// (torch.optim has no FTRL).
///
/// With learning rate γ, learning-rate power p (≤ 0), L1 strength λ₁, L2 strength λ₂,
/// L2 shrinkage strength λ₂ₛ and β, step `t` does, per element, as Keras' update:
///
/// ```text
/// initialize:  n_0 ← τ (initial accumulator value),  z_0 ← 0
/// g ← ∇f(θ_{t−1});   ĝ ← g + 2·λ₂ₛ·θ_{t−1}
/// n_t ← n_{t−1} + g²
/// σ ← (n_t^(−p) − n_{t−1}^(−p)) / γ
/// z_t ← z_{t−1} + ĝ − σ·θ_{t−1}
/// θ_t ← (clip(z_t, −λ₁, λ₁) − z_t) / (n_t^(−p)/γ + 2·(λ₂ + β/(2γ)))
/// ```
///
/// so `θ_t = 0` where `|z_t| ≤ λ₁` (sparsity). Keras' documentation writes the
/// denominator `(β + √n)/α + λ₂`; its code, followed here, uses `2·λ₂`.
///
/// Defaults as Keras: γ = 1e-3 ([`Default`]), p = −0.5, τ = 0.1, λ₁ = λ₂ = λ₂ₛ = 0, β = 0.
/// `S` holds `n` and `z`.
#[derive(Clone, Debug)]
pub struct Ftrl<S> {
    pub(crate) lr: f64,
    lr_power: f64,
    initial_accumulator_value: f64,
    l1: f64,
    l2: f64,
    l2_shrinkage: f64,
    beta: f64,
    t: u64,
    n: S,
    z: S,
}

impl<S: State> Default for Ftrl<S> {
    /// Ftrl with Keras' default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Ftrl<S> {
    /// Keras' default learning rate for Ftrl.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// Ftrl with learning rate `lr` and Keras' other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self {
            lr,
            lr_power: -0.5,
            initial_accumulator_value: 0.1,
            l1: 0.0,
            l2: 0.0,
            l2_shrinkage: 0.0,
            beta: 0.0,
            t: 0,
            n: S::ZEROED,
            z: S::ZEROED,
        }
    }

    /// Sets the learning-rate power p, at most 0 (Keras' `learning_rate_power`, default −0.5).
    #[must_use]
    pub const fn learning_rate_power(mut self, p: f64) -> Self {
        self.lr_power = p;
        self
    }

    /// Sets τ, where `n` starts (default 0.1).
    #[must_use]
    pub const fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }

    /// Sets the L1 strength λ₁ (Keras' `l1_regularization_strength`, default 0).
    #[must_use]
    pub const fn l1(mut self, l1: f64) -> Self {
        self.l1 = l1;
        self
    }

    /// Sets the L2 strength λ₂ (Keras' `l2_regularization_strength`, default 0).
    #[must_use]
    pub const fn l2(mut self, l2: f64) -> Self {
        self.l2 = l2;
        self
    }

    /// Sets the L2 shrinkage strength λ₂ₛ, added to the gradient as `2·λ₂ₛ·θ`
    /// (Keras' `l2_shrinkage_regularization_strength`, default 0).
    #[must_use]
    pub const fn l2_shrinkage(mut self, l2_shrinkage: f64) -> Self {
        self.l2_shrinkage = l2_shrinkage;
        self
    }

    /// Sets β (default 0).
    #[must_use]
    pub const fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
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
        let len = params.len();
        if (fit_state(&mut self.n, len) | fit_state(&mut self.z, len)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.n, T::from_f64(self.initial_accumulator_value));
            fill(&mut self.z, T::ZERO);
        }
        self.t += 1;
        let lr = T::from_f64(self.lr);
        let neg_p = T::from_f64(-self.lr_power);
        let l1 = T::from_f64(self.l1);
        let two_l2 = T::from_f64(2.0 * (self.l2 + self.beta / (2.0 * self.lr)));
        let shrink = T::from_f64(2.0 * self.l2_shrinkage);
        for ((p, &g), (n, z)) in params.iter_mut().zip(grads).zip(self.n.as_mut().iter_mut().zip(self.z.as_mut())) {
            let g_hat = g + shrink * *p;
            let n_new = *n + g * g;
            let pow_new = n_new.powf(neg_p);
            let sigma = (pow_new - n.powf(neg_p)) / lr;
            *z += g_hat - sigma * *p;
            *n = n_new;
            let clipped = z.max(-l1).min(l1);
            *p = (clipped - *z) / (pow_new / lr + two_l2);
        }
    }
}

impl_optimizer!(Ftrl);
