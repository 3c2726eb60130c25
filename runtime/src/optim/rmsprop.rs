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
/// Other conventions, to reproduce runs from other libraries: ε inside the square root,
/// `√(ṽ + ε)` ([`eps_in_sqrt`](Self::eps_in_sqrt): optax, Keras, TensorFlow), an initial
/// value of `v` ([`initial_accumulator_value`](Self::initial_accumulator_value): optax's
/// `initial_scale`, TF1), and Nesterov momentum ([`nesterov`](Self::nesterov): optax).
/// optax's `rmsprop` is `RmsProp::new(lr).alpha(decay).eps_in_sqrt(true)` (its default
/// decay is 0.9); Keras' `RMSprop` is the same with α = ρ = 0.9 and ε = 1e-7 (Keras scales
/// the momentum buffer by γ before adding, the same numbers while γ is constant).
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
    eps_in_sqrt: bool,
    initial: f64,
    nesterov: bool,
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
    pub const fn new(lr: f64) -> Self
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
            eps_in_sqrt: false,
            initial: 0.0,
            nesterov: false,
            t: 0,
            square_avg: S::ZEROED,
            momentum_buf: S::ZEROED,
            grad_avg: S::ZEROED,
        }
    }

    /// Sets the smoothing constant α of the running mean of `g²` (default 0.99).
    #[must_use]
    pub const fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets ε, added to the denominator (default 1e-8).
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

    /// Sets the momentum factor μ (default 0).
    #[must_use]
    pub const fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns the centered variant on or off (default off): the denominator uses the
    /// variance `v − ḡ²` instead of the raw second moment.
    #[must_use]
    pub const fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }

    /// Puts ε inside the square root, `g/√(ṽ + ε)`, as optax's `rmsprop` (its default,
    /// `eps_in_sqrt=True`), Keras and TensorFlow do; torch adds it outside, `g/(√ṽ + ε)`
    /// (default off: torch's form).
    #[must_use]
    pub const fn eps_in_sqrt(mut self, inside: bool) -> Self {
        self.eps_in_sqrt = inside;
        self
    }

    /// Sets the value `v` starts from (default 0, as torch): optax's `initial_scale`,
    /// TF1's `RMSPropOptimizer` used 1.
    #[must_use]
    pub const fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial = value;
        self
    }

    /// Nesterov momentum as optax's `rmsprop(..., momentum=μ, nesterov=True)` (an
    /// `optax.trace` after the scaling): `b_t ← μ·b_{t−1} + u_t`, `θ_t ← θ_{t−1} − γ·(u_t
    /// + μ·b_t)` with `u_t` the scaled gradient; torch's RMSprop has no Nesterov option.
    /// Has an effect only with [`momentum`](Self::momentum) > 0 (default off).
    #[must_use]
    pub const fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
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
            fill(&mut self.square_avg, T::from_f64(self.initial));
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
            let v_tilde = match avgs.next() {
                Some(ga) => {
                    *ga = alpha * *ga + c * g;
                    *v - *ga * *ga
                }
                None => *v,
            };
            let denom = if self.eps_in_sqrt { (v_tilde + eps).sqrt() } else { v_tilde.sqrt() + eps };
            match bufs.next() {
                Some(b) => {
                    let u = g / denom;
                    *b = mu * *b + u;
                    *p -= if self.nesterov { lr * (u + mu * *b) } else { lr * *b };
                }
                None => *p -= lr * (g / denom),
            }
        }
    }
}

impl_optimizer!(RmsProp);
