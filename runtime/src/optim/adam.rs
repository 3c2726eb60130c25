//! Adam, as `torch.optim.Adam`; its arithmetic ([`AdamCore`]) is shared with
//! [`AdamW`](super::AdamW), which is Adam with decoupled weight decay.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, powf, sqrt};
use crate::scalar::Scalar;

/// Adam with optional AMSGrad and L2 or decoupled weight decay, following
/// `torch.optim.Adam`.
///
/// With learning rate γ, betas (β₁, β₂), weight decay λ and ε, step `t` (from 1) does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}          (L2, the default)
///        or  θ_{t−1} ← θ_{t−1} − γλ·θ_{t−1}  (decoupled_weight_decay, as AdamW)
/// m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t ← β₂·v_{t−1} + (1 − β₂)·g_t²
/// m̂_t ← m_t / (1 − β₁ᵗ)
/// if amsgrad:  v_t^max ← max(v_{t−1}^max, v_t);   v̂_t ← v_t^max / (1 − β₂ᵗ)
/// else:        v̂_t ← v_t / (1 − β₂ᵗ)
/// θ_t ← θ_{t−1} − γ·m̂_t / (√v̂_t + ε)
/// ```
///
/// computed as torch's single-tensor code does: `θ ← θ − (γ/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)`,
/// the two bias corrections in `f64` once per step.
///
/// Defaults as torch: β = (0.9, 0.999), ε = 1e-8, λ = 0, no AMSGrad, L2 decay;
/// [`Default`] uses γ = 1e-3. `S` holds `m`, `v` and `v^max`; with array storage `v^max`
/// takes its `N` scalars even when AMSGrad is off.
///
/// Keras' `Adam` (and TF1's `AdamOptimizer`) is `Adam::new(lr).eps(1e-7).epsilon_hat(true)`
/// ([`epsilon_hat`](Self::epsilon_hat)); optax's `adam` is torch's form.
///
/// Differences from PyTorch: AMSGrad keeps the maximum of the raw `v_t`, as torch's code
/// and its current documentation do (older versions of the documentation wrote the maximum
/// of the bias-corrected `v̂_t`, which gives other numbers). The step count is an integer of the
/// optimizer (torch keeps a float32 tensor per parameter tensor; the same for counts below
/// 2²⁴). No `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Adam<S> {
    pub(crate) lr: f64,
    core: AdamCore<S>,
}

impl<S: State> Default for Adam<S> {
    /// Adam with torch's default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Adam<S> {
    /// torch's default learning rate for Adam.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// Adam with learning rate `lr` and torch's other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, core: AdamCore::new(0.0, false) }
    }

    /// Sets the betas (β₁, β₂): decay of the running means of the gradient and its square
    /// (default (0.9, 0.999)).
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

    /// Sets the weight decay λ (default 0): L2 (added to the gradient) unless
    /// [`decoupled_weight_decay`](Self::decoupled_weight_decay) is on.
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

    /// Applies the weight decay to the parameters (`θ ← θ − γλθ`, as [`AdamW`](super::AdamW))
    /// instead of adding it to the gradient (default off).
    #[must_use]
    pub const fn decoupled_weight_decay(mut self, decoupled: bool) -> Self {
        self.core.decoupled = decoupled;
        self
    }

    /// Uses the "ε̂" form of Kingma & Ba's section 2, as Keras and TF1's `AdamOptimizer`
    /// do: `θ ← θ − γ·(√(1 − β₂ᵗ)/(1 − β₁ᵗ))·m/(√v + ε̂)`, ε added to the uncorrected `√v`
    /// (default off: torch's form, ε added to `√v̂`). The two agree for ε = 0; otherwise
    /// ε̂ = ε·√(1 − β₂ᵗ) changes with the step.
    #[must_use]
    pub const fn epsilon_hat(mut self, eps_hat: bool) -> Self {
        self.core.eps_hat = eps_hat;
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

impl_optimizer!(Adam);

/// The state and hyper-parameters of Adam and AdamW (everything but the learning rate),
/// and their update.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub(super) struct AdamCore<S> {
    pub(super) betas: (f64, f64),
    pub(super) eps: f64,
    pub(super) weight_decay: f64,
    pub(super) amsgrad: bool,
    pub(super) decoupled: bool,
    pub(super) eps_hat: bool,
    pub(super) t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    m: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    v: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    vmax: S,
}

impl<S> AdamCore<S> {
    /// torch's defaults, with the given weight decay and decay style.
    pub(super) const fn new(weight_decay: f64, decoupled: bool) -> Self
    where
        S: State,
    {
        Self {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            amsgrad: false,
            decoupled,
            eps_hat: false,
            t: 0,
            m: S::ZEROED,
            v: S::ZEROED,
            vmax: S::ZEROED,
        }
    }

    /// One Adam step with learning rate `lr`.
    pub(super) fn update<T: Scalar>(&mut self, lr: f64, params: &mut [T], grads: &[T])
    where
        S: State<Elem = T>,
    {
        check_lengths(params, grads);
        let n = params.len();
        let resized = fit_state(&mut self.m, n) | fit_state(&mut self.v, n);
        let fresh = resized || self.t == 0;
        if fresh {
            self.t = 0;
            fill(&mut self.m, T::ZERO);
            fill(&mut self.v, T::ZERO);
        }
        // The max buffer is sized only when used, so a `Vec` state without AMSGrad stays
        // empty; it starts at zero whenever it (re)starts.
        if self.amsgrad && (fit_state(&mut self.vmax, n) | fresh) {
            fill(&mut self.vmax, T::ZERO);
        }
        self.t += 1;

        let (beta1, beta2) = self.betas;
        let t = self.t as f64;
        let bias1 = 1.0 - powf(beta1, t);
        let bias2 = 1.0 - powf(beta2, t);
        // ε̂ form: the √(1 − β₂ᵗ) correction moves into the step and ε meets the raw √v.
        let (step_size, bias2_sqrt) = if self.eps_hat {
            (T::from_f64(lr * sqrt(bias2) / bias1), T::ONE)
        } else {
            (T::from_f64(lr / bias1), T::from_f64(sqrt(bias2)))
        };
        let b1 = T::from_f64(beta1);
        let c1 = T::from_f64(1.0 - beta1);
        let b2 = T::from_f64(beta2);
        let c2 = T::from_f64(1.0 - beta2);
        let eps = T::from_f64(self.eps);
        let l2 = (self.weight_decay != 0.0 && !self.decoupled).then(|| T::from_f64(self.weight_decay));
        let shrink = (self.weight_decay != 0.0 && self.decoupled).then(|| T::from_f64(1.0 - lr * self.weight_decay));

        let moments = params.iter_mut().zip(grads).zip(self.m.as_mut().iter_mut().zip(self.v.as_mut()));
        if self.amsgrad {
            for (((p, &g), (m, v)), vmax) in moments.zip(self.vmax.as_mut()) {
                let g = l2.map_or(g, |wd| g + wd * *p);
                if let Some(s) = shrink {
                    *p *= s;
                }
                *m = b1 * *m + c1 * g;
                *v = b2 * *v + c2 * g * g;
                *vmax = vmax.max(*v);
                let denom = vmax.sqrt() / bias2_sqrt + eps;
                *p -= step_size * (*m / denom);
            }
        } else {
            for ((p, &g), (m, v)) in moments {
                let g = l2.map_or(g, |wd| g + wd * *p);
                if let Some(s) = shrink {
                    *p *= s;
                }
                *m = b1 * *m + c1 * g;
                *v = b2 * *v + c2 * g * g;
                let denom = v.sqrt() / bias2_sqrt + eps;
                *p -= step_size * (*m / denom);
            }
        }
    }
}
