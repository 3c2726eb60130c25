//! Rprop (resilient backpropagation), as `torch.optim.Rprop`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, sign};
use crate::scalar::Scalar;

/// Resilient backpropagation (Riedmiller & Braun), following `torch.optim.Rprop`: each
/// parameter has its own step size, grown while its gradient keeps its sign and shrunk
/// when the sign flips; only the sign of the gradient is used.
///
/// With step-size factors (η₋, η₊) and bounds (Γ_min, Γ_max), step `t` does, for every
/// element `i`,
///
/// ```text
/// initialize:  g_prev ← 0,  η_0 ← lr
/// g_t ← ∇f(θ_{t−1})
/// if g_prev·g_t > 0:   η_t ← min(η_{t−1}·η₊, Γ_max)
/// elif g_prev·g_t < 0: η_t ← max(η_{t−1}·η₋, Γ_min);   g_t ← 0
/// else:                η_t ← η_{t−1}
/// θ_t ← θ_{t−1} − η_t·sign(g_t)
/// g_prev ← g_t
/// ```
///
/// with `sign(0) = 0`. After a sign flip the element does not move and its stored
/// gradient is zero, so the next step neither grows nor shrinks its step size. This is
/// Rprop without weight-backtracking, the variant Igel & Hüsken named iRprop⁻; torch
/// implements exactly this variant under the name Rprop, and so does this type.
///
/// The learning rate is only the initial step size η_0: changing it after the first step
/// has no effect until [`reset`](Self::reset), as in torch.
///
/// Defaults as torch: lr = 1e-2 ([`Default`]), etas (η₋, η₊) = (0.5, 1.2), step sizes
/// (Γ_min, Γ_max) = (1e-6, 50).
///
/// Differences from PyTorch: none in the numbers. torch's code clamps the step size to
/// `[Γ_min, Γ_max]` in every case, including the third (the documented pseudo-code leaves
/// it unchanged); this type does the same, which only matters when `lr` lies outside the
/// bounds. No `maximize`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "S: State"))]
pub struct Rprop<S> {
    pub(crate) lr: f64,
    etas: (f64, f64),
    step_sizes: (f64, f64),
    t: u64,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    prev: S,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_state"))]
    step_size: S,
}

impl<S: State> Default for Rprop<S> {
    /// Rprop with torch's default learning rate (initial step size), 1e-2.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Rprop<S> {
    /// torch's default learning rate (initial step size) for Rprop.
    pub const DEFAULT_LR: f64 = 1e-2;

    /// Rprop with initial step size `lr` and torch's other defaults.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, etas: (0.5, 1.2), step_sizes: (1e-6, 50.0), t: 0, prev: S::ZEROED, step_size: S::ZEROED }
    }

    /// Sets the step-size factors (η₋, η₊) applied on a sign flip and on a kept sign
    /// (default (0.5, 1.2)).
    #[must_use]
    pub const fn etas(mut self, eta_minus: f64, eta_plus: f64) -> Self {
        self.etas = (eta_minus, eta_plus);
        self
    }

    /// Sets the bounds (Γ_min, Γ_max) of the step sizes (default (1e-6, 50)).
    #[must_use]
    pub const fn step_sizes(mut self, min: f64, max: f64) -> Self {
        self.step_sizes = (min, max);
        self
    }

    /// Number of steps taken since creation or the last [`reset`](Self::reset).
    #[inline]
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Forgets all state: the next step starts again from step size `lr`.
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
        if (fit_state(&mut self.prev, n) | fit_state(&mut self.step_size, n)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.prev, T::ZERO);
            fill(&mut self.step_size, T::from_f64(self.lr));
        }
        self.t += 1;

        let eta_minus = T::from_f64(self.etas.0);
        let eta_plus = T::from_f64(self.etas.1);
        let min = T::from_f64(self.step_sizes.0);
        let max = T::from_f64(self.step_sizes.1);
        let state = self.prev.as_mut().iter_mut().zip(self.step_size.as_mut());
        for ((p, &g), (prev, eta)) in params.iter_mut().zip(grads).zip(state) {
            let product = g * *prev;
            let (factor, g) = if product > T::ZERO {
                (eta_plus, g)
            } else if product < T::ZERO {
                // A flipped sign means the last step jumped over a minimum: shrink, and
                // forget this gradient so the next step is not judged against it.
                (eta_minus, T::ZERO)
            } else {
                (T::ONE, g)
            };
            *eta = (*eta * factor).max(min).min(max);
            *p -= *eta * sign(g);
            *prev = g;
        }
    }
}

impl_optimizer!(Rprop);
