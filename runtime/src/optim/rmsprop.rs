//! RMSprop, as `torch.optim.RMSprop`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer};
use crate::scalar::Scalar;

/// RMSprop (Hinton), with the centered variant (Graves) and momentum, following
/// `torch.optim.RMSprop`.
///
/// With learning rate γ, smoothing α, weight decay λ, momentum μ and ε, step `t` does
///
/// ```text
/// g_t ← ∇f(θ_{t−1})
/// if λ ≠ 0:  g_t ← g_t + λ·θ_{t−1}
/// v_t ← α·v_{t−1} + (1 − α)·g_t²
/// ṽ_t ← v_t
/// if centered:
///     ḡ_t ← α·ḡ_{t−1} + (1 − α)·g_t
///     ṽ_t ← ṽ_t − ḡ_t²
/// if μ > 0:
///     b_t ← μ·b_{t−1} + g_t / (√ṽ_t + ε)
///     θ_t ← θ_{t−1} − γ·b_t
/// else:
///     θ_t ← θ_{t−1} − γ·g_t / (√ṽ_t + ε)
/// ```
///
/// There is no bias correction: `v` starts at zero, so the first steps are large
/// (`≈ γ/√(1 − α)` per element), as in torch.
///
/// Defaults as torch: γ = 1e-2 ([`Default`]), α = 0.99, ε = 1e-8, λ = 0, μ = 0, not
/// centered. `S` holds `v`, `b` and `ḡ`; a `Vec` state sizes `b` and `ḡ` only when used.
///
/// Differences from PyTorch: no `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct RmsProp<S> {
    pub(crate) lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    square_avg: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    momentum_buf: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    grad_avg: S,
}

impl<S: State> Default for RmsProp<S> {
    /// RMSprop with torch's default learning rate, 1e-2.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> RmsProp<S> {
    /// torch's default learning rate for RMSprop.
    pub const DEFAULT_LR: f64 = 1e-2;

    /// RMSprop with learning rate `lr` and torch's other defaults.
    #[must_use]
    pub fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            t: 0,
            square_avg: S::zeroed(),
            momentum_buf: S::zeroed(),
            grad_avg: S::zeroed(),
        }
    }

    /// Sets the smoothing constant α of the running mean of `g²` (default 0.99).
    #[must_use]
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets ε, added to the denominator (default 1e-8).
    #[must_use]
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the L2 weight decay λ, added to the gradient (default 0).
    #[must_use]
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum factor μ (default 0).
    #[must_use]
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns the centered variant on or off (default off): the denominator uses the
    /// variance `v − ḡ²` instead of the raw second moment.
    #[must_use]
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
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
        let fresh = fit_state(&mut self.square_avg, n) || self.t == 0;
        if fresh {
            self.t = 0;
            fill(&mut self.square_avg, T::ZERO);
        }
        let use_momentum = self.momentum > 0.0;
        // The optional buffers start at zero whenever they are first used or the
        // optimizer starts over.
        if use_momentum && (fit_state(&mut self.momentum_buf, n) | fresh) {
            fill(&mut self.momentum_buf, T::ZERO);
        }
        if self.centered && (fit_state(&mut self.grad_avg, n) | fresh) {
            fill(&mut self.grad_avg, T::ZERO);
        }
        self.t += 1;

        let lr = T::from_f64(self.lr);
        let alpha = T::from_f64(self.alpha);
        let c = T::from_f64(1.0 - self.alpha);
        let eps = T::from_f64(self.eps);
        let wd = T::from_f64(self.weight_decay);
        let mu = T::from_f64(self.momentum);
        // An empty slice stands for an unused buffer, so one loop serves all four variants.
        let bufs: &mut [T] = if use_momentum { self.momentum_buf.as_mut() } else { &mut [] };
        let avgs: &mut [T] = if self.centered { self.grad_avg.as_mut() } else { &mut [] };
        let mut bufs = bufs.iter_mut();
        let mut avgs = avgs.iter_mut();

        for ((p, &g), v) in params.iter_mut().zip(grads).zip(self.square_avg.as_mut()) {
            let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
            *v = alpha * *v + c * g * g;
            let denom = match avgs.next() {
                Some(ga) => {
                    *ga = alpha * *ga + c * g;
                    (*v - *ga * *ga).sqrt() + eps
                }
                None => v.sqrt() + eps,
            };
            match bufs.next() {
                Some(b) => {
                    *b = mu * *b + g / denom;
                    *p -= lr * *b;
                }
                None => *p -= lr * (g / denom),
            }
        }
    }
}

impl_optimizer!(RmsProp);
