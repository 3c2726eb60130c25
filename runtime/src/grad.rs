//! Gradient tools: clipping ([`clip_grad_norm`], [`clip_grad_value`], [`grad_norm`]) and
//! accumulation over mini-batches ([`GradAccumulator`]), for the flat gradient slice of
//! any network; plus the difference between the two kinds of weight decay.
//!
//! # L2 weight decay versus decoupled weight decay
//!
//! Both shrink the weights towards zero, with a coefficient λ, but in different places.
//!
//! **L2 weight decay** adds `λ·θ` to the gradient before the optimizer sees it — the
//! gradient of the penalty `½λ‖θ‖²` added to the loss:
//!
//! ```text
//! g ← ∇f(θ) + λ·θ          then the optimizer's update uses g
//! ```
//!
//! This is the `weight_decay` of [`Sgd`](crate::optim::Sgd),
//! [`Adam`](crate::optim::Adam), [`NAdam`](crate::optim::NAdam),
//! [`RAdam`](crate::optim::RAdam), [`Adamax`](crate::optim::Adamax),
//! [`RmsProp`](crate::optim::RmsProp), [`Adagrad`](crate::optim::Adagrad) and
//! [`Adadelta`](crate::optim::Adadelta), as in torch.optim. For plain SGD it is the
//! same as shrinking the weights: `θ ← θ − γ(g + λθ) = (1 − γλ)·θ − γ·g`. For adaptive
//! optimizers it is not: the decay term enters the moment estimates and is divided by
//! `√v̂` like the rest of the gradient, so weights with large gradients are decayed less.
//!
//! **Decoupled weight decay** (Loshchilov & Hutter, "Decoupled Weight Decay
//! Regularization") leaves the gradient alone and shrinks the parameter directly, scaled by
//! the learning rate γ:
//!
//! ```text
//! θ ← θ − γλ·θ             then the optimizer's update uses ∇f(θ) alone
//! ```
//!
//! This is the `weight_decay` of [`AdamW`](crate::optim::AdamW) and
//! [`Lion`](crate::optim::Lion), and of [`Adam`](crate::optim::Adam),
//! [`NAdam`](crate::optim::NAdam) and [`RAdam`](crate::optim::RAdam) with
//! `decoupled_weight_decay(true)`. Every weight shrinks by the same factor `1 − γλ` per
//! step, whatever its gradient history. Because the decay is multiplied by γ, a
//! learning-rate [`schedule`](crate::schedule) scales it too, as in torch.
//!
//! # Accumulating gradients
//!
//! To train with an effective batch of `K` mini-batches when only one fits in memory, add
//! each mini-batch's mean gradient into a [`GradAccumulator`] and step with the mean of the
//! `K` — the same update as one batch of all the samples when the mini-batches are of equal
//! size. An equivalent without a second buffer: call
//! [`Network::backward`](crate::Network::backward) with `scale = 1/(K·batch)` for every
//! sample of the `K` mini-batches, into one zeroed gradient buffer, then step once.

use crate::optim::{Optimizer, State, fit_state};
use crate::scalar::Scalar;

use core::borrow::Borrow;

/// The L2 norm `√Σ gᵢ²` of a gradient, accumulated in `f64`.
#[must_use]
pub fn grad_norm<T: Scalar>(grads: &[T]) -> f64 {
    let sum_sq: f64 = grads
        .iter()
        .map(|g| {
            let g = g.to_f64();
            g * g
        })
        .sum();
    Scalar::sqrt(sum_sq)
}

/// Scales `grads` so that their total L2 norm is at most `max_norm`; returns the norm
/// before clipping, as `torch.nn.utils.clip_grad_norm_`.
///
/// With `n = ‖g‖₂` over all elements, the gradient is multiplied by
/// `max_norm / (n + 1e-6)` when that factor is below 1 (the `1e-6` keeps the division safe
/// and makes the clipped norm fall just under `max_norm`). The norm is accumulated in
/// `f64`, so an `f32` gradient's sum of squares cannot overflow.
///
/// Differences from PyTorch: only the L2 norm (`norm_type=2`); one slice (concatenate
/// tensors in one buffer, as a network's flat gradient already is); a non-finite norm
/// leaves the gradient unchanged and is returned, so the caller can skip the step (torch,
/// with its default `error_if_nonfinite=False`, multiplies by the resulting NaN or 0).
///
/// # Panics
/// If `max_norm` is negative or NaN.
pub fn clip_grad_norm<T: Scalar>(grads: &mut [T], max_norm: f64) -> f64 {
    assert!(max_norm >= 0.0, "`max_norm` must be non-negative, got {max_norm}");
    let norm = grad_norm(grads);
    if !norm.is_finite() {
        return norm;
    }
    let coef = max_norm / (norm + 1e-6);
    // torch multiplies by min(coef, 1) unconditionally; skipping the multiplication by
    // exactly 1 gives the same numbers.
    if coef < 1.0 {
        let coef = T::from_f64(coef);
        for g in grads {
            *g *= coef;
        }
    }
    norm
}

/// Clamps every gradient element to `[−clip, clip]`, as
/// `torch.nn.utils.clip_grad_value_`. NaN elements stay NaN.
///
/// # Panics
/// If `clip` is negative or NaN.
pub fn clip_grad_value<T: Scalar>(grads: &mut [T], clip: f64) {
    assert!(clip >= 0.0, "`clip` must be non-negative, got {clip}");
    let hi = T::from_f64(clip);
    let lo = -hi;
    for g in grads {
        if *g > hi {
            *g = hi;
        } else if *g < lo {
            *g = lo;
        }
    }
}

/// Sums gradients over several mini-batches and yields their mean.
///
/// `S` is the storage of the running sum: `[T; N]` (no heap) or `Vec<T>` (feature
/// `alloc`, sized by the first gradient added).
///
/// ```
/// use stackprop_runtime::grad::GradAccumulator;
/// use stackprop_runtime::optim::Sgd;
///
/// let mut params = [1.0_f64, -1.0];
/// let mut opt = Sgd::<[f64; 2]>::new(0.5);
/// let mut acc = GradAccumulator::<[f64; 2]>::new();
/// acc.add(&[0.2, 0.4]);
/// acc.add(&[0.4, 0.0]);
/// assert_eq!(acc.step(&mut params, &mut opt), 2); // the mean gradient is [0.3, 0.2]
/// assert_eq!(params, [1.0 - 0.5 * 0.3, -1.0 - 0.5 * 0.2]);
/// assert_eq!(acc.count(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct GradAccumulator<S> {
    sum: S,
    count: usize,
}

impl<S: State> Default for GradAccumulator<S> {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl<S: State> GradAccumulator<S> {
    /// An empty accumulator.
    #[inline]
    #[must_use]
    pub fn new() -> Self {
        Self { sum: S::zeroed(), count: 0 }
    }

    /// Adds one mini-batch's gradient to the sum.
    ///
    /// # Panics
    /// If `grads` differs in length from the gradients added before it (or, for array
    /// storage, from `N`).
    pub fn add(&mut self, grads: &[S::Elem]) {
        if self.count == 0 {
            fit_state(&mut self.sum, grads.len());
            self.sum.as_mut().fill(S::Elem::ZERO);
        }
        let sum = self.sum.as_mut();
        assert_eq!(sum.len(), grads.len(), "accumulated {} gradients, but {} were given", sum.len(), grads.len());
        for (s, &g) in sum.iter_mut().zip(grads) {
            *s += g;
        }
        self.count += 1;
    }

    /// Number of gradients added since the last [`step`](Self::step) or
    /// [`reset`](Self::reset).
    #[inline]
    #[must_use]
    pub const fn count(&self) -> usize {
        self.count
    }

    /// The running sum (meaningless while [`count`](Self::count) is 0).
    #[inline]
    #[must_use]
    pub fn sum(&self) -> &[S::Elem] {
        self.sum.as_ref()
    }

    /// Writes the mean of the gradients added into `out`: zeros if none was added.
    ///
    /// # Panics
    /// If `out` differs in length from the gradients added.
    pub fn mean_into(&self, out: &mut [S::Elem]) {
        if self.count == 0 {
            out.fill(S::Elem::ZERO);
            return;
        }
        let sum = self.sum.as_ref();
        assert_eq!(sum.len(), out.len(), "accumulated {} gradients, but the output holds {}", sum.len(), out.len());
        let n = S::Elem::from_usize(self.count);
        for (o, &s) in out.iter_mut().zip(sum) {
            *o = s / n;
        }
    }

    /// Takes one optimizer step with the mean gradient, then starts a new accumulation;
    /// returns how many gradients were averaged (0: nothing was added, no step taken).
    ///
    /// The mean is formed in place in the sum's own buffer, so no second gradient buffer
    /// is needed. `P` is `[T; N]` for array storage and `[T]` for `Vec` storage.
    ///
    /// # Panics
    /// If `params` differs in length from the gradients added.
    pub fn step<P: ?Sized, O: Optimizer<P> + ?Sized>(&mut self, params: &mut P, opt: &mut O) -> usize
    where
        S: Borrow<P>,
    {
        let count = self.count;
        if count == 0 {
            return 0;
        }
        let n = S::Elem::from_usize(count);
        for s in self.sum.as_mut() {
            *s /= n;
        }
        opt.step(params, self.sum.borrow());
        self.count = 0;
        count
    }

    /// Drops the gradients added so far.
    #[inline]
    pub fn reset(&mut self) {
        self.count = 0;
    }
}
