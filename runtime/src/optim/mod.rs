//! Optimizers: the [`Optimizer`] trait, the [`State`] storage their buffers live in, and
//! one type per algorithm, each following the update rule torch.optim documents.
//!
//! | type | torch.optim | default `lr` | state per parameter |
//! |---|---|---|---|
//! | [`Sgd`] | `SGD` | 1e-3 | momentum buffer (with momentum) |
//! | [`PlainSgd`] | `SGD` (no momentum, no decay) | 1e-3 | none |
//! | [`Adam`] | `Adam` | 1e-3 | `m`, `v` (+ `v_max` for AMSGrad) |
//! | [`AdamW`] | `AdamW` | 1e-3 | `m`, `v` (+ `v_max` for AMSGrad) |
//! | [`NAdam`] | `NAdam` | 2e-3 | `m`, `v` |
//! | [`RAdam`] | `RAdam` | 1e-3 | `m`, `v` |
//! | [`Adamax`] | `Adamax` | 2e-3 | `m`, `u` |
//! | [`RmsProp`] | `RMSprop` | 1e-2 | `v` (+ momentum buffer, + mean gradient) |
//! | [`Adagrad`] | `Adagrad` | 1e-2 | sum of squares |
//! | [`Adadelta`] | `Adadelta` | 1.0 | `v`, `u` |
//! | [`Rprop`] | `Rprop` | 1e-2 | previous gradient, step size |
//! | [`Lion`] | — (Chen et al. 2023) | 1e-4 | `m` |
//! | [`Adafactor`] | — (Keras `Adafactor`) | 1e-3 | row and column means (factored), or `v` |
//! | [`Ftrl`] | — (Keras `Ftrl`) | 1e-3 | `n`, `z` |
//! | [`Lamb`] | — (Keras `Lamb`) | 1e-3 | `m`, `v` |
//!
//! Conventions of other libraries, to reproduce their runs exactly (PyTorch's is always
//! the default):
//!
//! | formula | PyTorch | optax | Keras / TF1 | here |
//! |---|---|---|---|---|
//! | Adam's ε | `m̂/(√v̂ + ε)` | same | `γ·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε̂)` | [`Adam::epsilon_hat`] |
//! | RMSprop's ε | `g/(√v + ε)` | `g/√(v + ε)` | `g/√(v + ε)` | [`RmsProp::eps_in_sqrt`] |
//! | RMSprop's `v_0` | 0 | `initial_scale` (0) | 0 (TF1: 1) | [`RmsProp::initial_accumulator_value`] |
//! | RMSprop Nesterov | — | `nesterov=True` | — | [`RmsProp::nesterov`] |
//! | Adagrad's ε | `g/(√s + ε)` | `g/√(s + ε)` | `g/(√s + ε)` | [`Adagrad::eps_in_sqrt`] |
//! | Adagrad's `s_0` | 0 | 0.1 | 0.1 | [`Adagrad::initial_accumulator_value`] |
//!
//! Each type is made with `new(lr)` (or `Default`, which uses the default `lr` above);
//! every other hyper-parameter starts at PyTorch's default and has a builder method named
//! after torch's argument: `Adam::<[f32; 10]>::new(1e-3).betas(0.9, 0.99).amsgrad(true)`.
//!
//! An optimizer is generic over its state storage `S`: `[T; N]` for a generated network
//! (fixed size, no heap, `no_std`), `Vec<T>` for the dynamic network (feature `alloc`).
//! The update itself is written once over slices, so both run the same arithmetic.
//! Hyper-parameters are held as `f64` and converted once per step; per-step scalars
//! (step count, bias corrections, NAdam's μ-product) are computed in `f64` once per step,
//! for the whole optimizer, never per element.
//!
//! What every optimizer here leaves out of torch.optim: `maximize` (negate the gradient
//! instead), `foreach`/`fused`/`capturable`/`differentiable` (implementation strategies
//! of torch, not part of the algorithm), parameter groups (one optimizer holds one flat
//! parameter slice; use two optimizers for two groups), and argument checking — torch
//! raises `ValueError` for a negative `lr`, `eps` or weight decay, or betas outside
//! `[0, 1)`; here such values are used as given.
//!
//! A `Vec` state sizes itself on the first step; if it later meets parameters of another
//! length, the optimizer starts over (all state zeroed, step count reset). `reset` does the
//! same on demand.

mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adamax;
mod adamw;
mod ftrl;
mod lamb;
mod lion;
mod nadam;
mod plain_sgd;
mod radam;
mod rmsprop;
mod rprop;
mod sgd;

pub use adadelta::Adadelta;
pub use adafactor::Adafactor;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamax::Adamax;
pub use adamw::AdamW;
pub use ftrl::Ftrl;
pub use lamb::Lamb;
pub use lion::Lion;
pub use nadam::NAdam;
pub use plain_sgd::PlainSgd;
pub use radam::RAdam;
pub use rmsprop::RmsProp;
pub use rprop::Rprop;
pub use sgd::Sgd;

use crate::scalar::Scalar;

/// Updates parameters from their gradient.
///
/// `P` is the parameter storage the optimizer works on: `[T; N]` for generated networks,
/// `[T]` for the dynamic network.
pub trait Optimizer<P: ?Sized> {
    /// One update: `params` moves against `grads`.
    ///
    /// # Panics
    /// If `grads` differs in length from `params`, or (for a fixed-size state) from the
    /// size the optimizer was made for.
    fn step(&mut self, params: &mut P, grads: &P);

    /// The current learning rate.
    #[must_use]
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (schedules call this between steps).
    fn set_learning_rate(&mut self, lr: f64);

    /// `Some(lr)` when [`step`](Optimizer::step) is exactly `θ ← θ − lr·g` with no state,
    /// so a network may fuse the update into its backward pass.
    #[must_use]
    fn plain_sgd_rate(&self) -> Option<f64> {
        None
    }
}

/// An optimizer whose state is a `Vec` (`Adam<Vec<f32>>`), used on a generated
/// network's fixed-size parameter array: the state lives on the heap, sized on the first
/// step, so a big network's optimizer puts nothing parameter-sized on the stack.
///
/// ```
/// # use stackprop_runtime::optim::{Adam, OnHeap, Optimizer};
/// let mut opt = OnHeap(Adam::<Vec<f32>>::new(1e-3));
/// let (mut params, grads) = ([1.0_f32; 4], [0.5_f32; 4]);
/// opt.step(&mut params, &grads);
/// assert!(params.iter().all(|&p| p < 1.0));
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default)]
pub struct OnHeap<O>(pub O);

#[cfg(feature = "alloc")]
impl<T: Scalar, const N: usize, O: Optimizer<[T]>> Optimizer<[T; N]> for OnHeap<O> {
    #[inline]
    fn step(&mut self, params: &mut [T; N], grads: &[T; N]) {
        self.0.step(params.as_mut_slice(), grads.as_slice());
    }
    #[inline]
    fn learning_rate(&self) -> f64 {
        self.0.learning_rate()
    }
    #[inline]
    fn set_learning_rate(&mut self, lr: f64) {
        self.0.set_learning_rate(lr);
    }
    #[inline]
    fn plain_sgd_rate(&self) -> Option<f64> {
        self.0.plain_sgd_rate()
    }
}

/// Storage for an optimizer's per-parameter state: `[T; N]`, or `Vec<T>` with `alloc`.
pub trait State: AsRef<[Self::Elem]> + AsMut<[Self::Elem]> + Sized {
    /// The scalar type stored.
    type Elem: Scalar;

    /// Empty state: zeros for an array, an empty vector (sized on first use) for a `Vec`.
    /// A constant, so optimizers are built by `const fn` and can live in a `static`.
    const ZEROED: Self;

    /// [`Self::ZEROED`].
    #[inline]
    #[must_use]
    fn zeroed() -> Self {
        Self::ZEROED
    }

    /// Makes the state hold `len` scalars.
    ///
    /// # Panics
    /// A fixed-size state panics if `len` is not its size.
    fn fit(&mut self, len: usize);
}

impl<T: Scalar, const N: usize> State for [T; N] {
    type Elem = T;

    const ZEROED: Self = [T::ZERO; N];

    #[inline]
    fn fit(&mut self, len: usize) {
        assert_eq!(len, N, "optimizer state holds {N} parameters, but {len} were given");
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar> State for alloc::vec::Vec<T> {
    type Elem = T;

    const ZEROED: Self = alloc::vec::Vec::new();

    #[inline]
    fn fit(&mut self, len: usize) {
        if self.len() != len {
            self.clear();
            self.resize(len, T::ZERO);
        }
    }
}

/// Implements [`Optimizer`] for an optimizer type `$opt<S>` on both storages, delegating
/// to its inherent `update(&mut self, params: &mut [T], grads: &[T])`.
macro_rules! impl_optimizer {
    ($opt:ident) => {
        impl<T: $crate::scalar::Scalar, const N: usize> $crate::optim::Optimizer<[T; N]> for $opt<[T; N]> {
            #[inline]
            fn step(&mut self, params: &mut [T; N], grads: &[T; N]) {
                self.update(params, grads);
            }
            #[inline]
            fn learning_rate(&self) -> f64 {
                self.lr
            }
            #[inline]
            fn set_learning_rate(&mut self, lr: f64) {
                self.lr = lr;
            }
            #[inline]
            fn plain_sgd_rate(&self) -> Option<f64> {
                self.plain_rate()
            }
        }

        #[cfg(feature = "alloc")]
        impl<T: $crate::scalar::Scalar> $crate::optim::Optimizer<[T]> for $opt<alloc::vec::Vec<T>> {
            #[inline]
            fn step(&mut self, params: &mut [T], grads: &[T]) {
                self.update(params, grads);
            }
            #[inline]
            fn learning_rate(&self) -> f64 {
                self.lr
            }
            #[inline]
            fn set_learning_rate(&mut self, lr: f64) {
                self.lr = lr;
            }
            #[inline]
            fn plain_sgd_rate(&self) -> Option<f64> {
                self.plain_rate()
            }
        }
    };
}
pub(crate) use impl_optimizer;

/// Checks that parameters and gradients have one length; shared by every optimizer.
#[inline]
#[track_caller]
pub(crate) fn check_lengths<T>(params: &[T], grads: &[T]) {
    assert_eq!(params.len(), grads.len(), "{} parameters but {} gradients", params.len(), grads.len());
}

/// Sizes one state buffer for `len` parameters; `true` if its length changed (a `Vec` on
/// its first step, or meeting parameters of a new length), after which it holds zeros.
#[inline]
pub(crate) fn fit_state<S: State>(state: &mut S, len: usize) -> bool {
    let resized = state.as_ref().len() != len;
    state.fit(len);
    resized
}

/// Sets every element of a state buffer to `value`.
#[inline]
pub(crate) fn fill<S: State>(state: &mut S, value: S::Elem) {
    state.as_mut().fill(value);
}

/// `baseᵉ` in `f64`, through [`Scalar`] so it builds without `std`.
///
/// Powers of betas use a float exponent, as torch's Python `beta ** step` does, so bias
/// corrections round the same way.
#[inline]
pub(crate) fn powf(base: f64, e: f64) -> f64 {
    Scalar::powf(base, e)
}

/// `√x` in `f64`, through [`Scalar`] so it builds without `std`.
#[inline]
pub(crate) fn sqrt(x: f64) -> f64 {
    Scalar::sqrt(x)
}

/// The sign as `torch.sign` computes it: `1`, `-1`, or `x` itself for `±0` and NaN.
///
/// `f64::signum` would map `0` to `1`, which turns a zero gradient into a full step in
/// Rprop and Lion.
#[inline]
pub(crate) fn sign<T: Scalar>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        x
    }
}
