//! Stochastic gradient descent, as `torch.optim.SGD`.

use super::{State, check_lengths, impl_optimizer};
use crate::scalar::Scalar;

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
/// decay, following `torch.optim.SGD`:
///
/// ```text
/// g ← ∇θ + λ·θ                          (if weight_decay λ ≠ 0)
/// b ← g                                 (first step, if momentum μ ≠ 0)
/// b ← μ·b + (1 − τ)·g                   (later steps)
/// g ← g + μ·b  (Nesterov)   or   g ← b  (if μ ≠ 0)
/// θ ← θ − γ·g
/// ```
///
/// Defaults: momentum μ = 0, dampening τ = 0, weight decay λ = 0, no Nesterov.
/// `S` is the momentum buffer's storage (`[T; N]` or `Vec<T>`); with μ = 0 it is unused
/// and the network fuses the update into its backward pass.
#[derive(Clone, Debug)]
pub struct Sgd<S> {
    pub(crate) lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    started: bool,
    buf: S,
}

impl<S> Sgd<S> {
    /// Plain SGD with learning rate `lr`.
    #[must_use]
    pub fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            started: false,
            buf: S::zeroed(),
        }
    }

    /// Sets the momentum factor μ.
    #[must_use]
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening τ of the momentum.
    #[must_use]
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay λ (added to the gradient).
    #[must_use]
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    #[must_use]
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    fn plain_rate(&self) -> Option<f64> {
        (self.momentum == 0.0 && self.weight_decay == 0.0).then_some(self.lr)
    }

    fn update<T: Scalar>(&mut self, params: &mut [T], grads: &[T])
    where
        S: State<Elem = T>,
    {
        check_lengths(params, grads);
        let lr = T::from_f64(self.lr);
        let wd = T::from_f64(self.weight_decay);
        if self.momentum == 0.0 {
            for (p, &g) in params.iter_mut().zip(grads) {
                let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
                *p -= lr * g;
            }
            return;
        }
        self.buf.fit(params.len());
        let mu = T::from_f64(self.momentum);
        let keep = T::from_f64(1.0 - self.dampening);
        let first = !self.started;
        self.started = true;
        for ((p, &g), b) in params.iter_mut().zip(grads).zip(self.buf.as_mut()) {
            let g = if self.weight_decay != 0.0 { g + wd * *p } else { g };
            *b = if first { g } else { mu * *b + keep * g };
            let d = if self.nesterov { g + mu * *b } else { *b };
            *p -= lr * d;
        }
    }
}

impl_optimizer!(Sgd);
