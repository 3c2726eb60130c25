//! Optimizers: the [`Optimizer`] trait, the [`State`] storage their buffers live in, and
//! one type per algorithm, each following the update rule torch.optim documents.
//!
//! An optimizer is generic over its state storage `S`: `[T; N]` for a generated network
//! (fixed size, no heap, `no_std`), `Vec<T>` for the dynamic network (feature `alloc`).
//! The update itself is written once over slices, so both run the same arithmetic.
//! Hyper-parameters are held as `f64` and converted once per step.

mod sgd;

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

/// Storage for an optimizer's per-parameter state: `[T; N]`, or `Vec<T>` with `alloc`.
pub trait State: AsRef<[Self::Elem]> + AsMut<[Self::Elem]> {
    /// The scalar type stored.
    type Elem: Scalar;

    /// Empty state: zeros for an array, an empty vector (sized on first use) for a `Vec`.
    #[must_use]
    fn zeroed() -> Self;

    /// Makes the state hold `len` scalars.
    ///
    /// # Panics
    /// A fixed-size state panics if `len` is not its size.
    fn fit(&mut self, len: usize);
}

impl<T: Scalar, const N: usize> State for [T; N] {
    type Elem = T;

    #[inline]
    fn zeroed() -> Self {
        [T::ZERO; N]
    }

    #[inline]
    fn fit(&mut self, len: usize) {
        assert_eq!(len, N, "optimizer state holds {N} parameters, but {len} were given");
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar> State for alloc::vec::Vec<T> {
    type Elem = T;

    #[inline]
    fn zeroed() -> Self {
        alloc::vec::Vec::new()
    }

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
        impl<T: $crate::scalar::Scalar, const N: usize> $crate::optim::Optimizer<[T; N]>
            for $opt<[T; N]>
        {
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
        impl<T: $crate::scalar::Scalar> $crate::optim::Optimizer<[T]>
            for $opt<alloc::vec::Vec<T>>
        {
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
    assert_eq!(
        params.len(),
        grads.len(),
        "{} parameters but {} gradients",
        params.len(),
        grads.len()
    );
}
