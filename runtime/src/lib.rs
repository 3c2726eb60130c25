//! Runtime of [stackprop](https://docs.rs/stackprop): what is the same for every network.
//!
//! - [`Scalar`]: `f32` / `f64` with the math generated code calls (`libm` without `std`).
//! - [`math`]: branch-free `exp`, `tanh`, sigmoid, `ln` that vectorize over a layer.
//! - [`Network`]: the contract every generated network implements; training steps,
//!   losses and gradients for one sample or a batch are provided methods on it.
//! - [`optim`]: optimizers following torch.optim, with fixed-size state; [`schedule`]:
//!   learning-rate schedules; [`grad`]: clipping and accumulation.
//! - [`diagnostics`]: gradient-flow statistics (gradient norms, update ratios, dead and
//!   saturated units) computed on request; per-epoch reports and warnings with `std`.
//! - [`gradcheck`]: central-difference gradient checking for any network.
//! - [`init`], [`rng`]: seeded Glorot/He initialization.
//! - [`view`], [`kernels`]: typed parameter views and the inner loops of large layers.
//! - `serde_state` (feature `serde`): serde for networks, optimizer state (any length)
//!   and training checkpoints.
//! - [`weights`]: weights in and out: flat little-endian bytes (no heap) and, with the
//!   feature `safetensors`, safetensors files under PyTorch's names.
//! - `dynamic` (feature `alloc`): the run-time defined reference network.
//! - `data`, `train` (feature `std`): data sets and metrics, the `fit` training loop;
//!   `parallel` (feature `parallel`): deterministic multi-core batch gradients.
//!
//! This crate builds under `#![no_std]` without `alloc`; the `alloc` and `std` features
//! add the pieces that need a heap or an operating system.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod data;
pub mod diagnostics;
pub mod dropout;
#[cfg(feature = "alloc")]
pub mod dynamic;
pub mod grad;
pub mod gradcheck;
pub mod hessian_free;
pub mod init;
pub mod kernels;
pub mod math;
pub mod network;
pub mod optim;
pub mod rng;
pub mod scalar;
pub mod schedule;
pub mod second_order;
#[cfg(feature = "serde")]
pub mod serde_state;
pub mod view;
pub mod weights;
#[cfg(feature = "serde")]
#[doc(hidden)]
pub use serde;

/// `Serialize`/`Deserialize` for a generated network: nothing without the feature `serde`.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_serde {
    ($name:ident) => {};
}

#[cfg(feature = "alloc")]
#[doc(hidden)]
pub use alloc::boxed::Box as __Box;

/// The parameter storage of a network written with `storage = boxed`: its type, its
/// zeros (straight into a fresh allocation, never through the stack), a box around
/// given parameters, and the parameters out of it.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __boxed_params {
    (type $t:ty, $n:expr) => { $crate::__Box<[$t; $n]> };
    (zeroed $t:ty, $n:expr) => { $crate::network::boxed_zeros::<$t, { $n }>() };
    (new $e:expr) => { $crate::__Box::new($e) };
    (into $e:expr) => { *$e };
}

/// Without `alloc` there is no `Box`: one error, at the attribute, and an array in its
/// place so that nothing else fails.
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __boxed_params {
    (type $t:ty, $n:expr) => {
        [$t; $n]
    };
    (zeroed $t:ty, $n:expr) => {
        ::core::compile_error!(
            "`storage = boxed` keeps the parameters in a `Box`: enable the `alloc` feature of `stackprop`"
        )
    };
    (new $e:expr) => {
        $e
    };
    (into $e:expr) => {
        $e
    };
}

pub use diagnostics::{ActivationFamily, LayerInfo};
pub use gradcheck::{GradCheck, GradCheckOptions, check_gradients};
pub use hessian_free::{HessianFree, HfEpoch, HfError};
pub use init::Init;
pub use network::{
    Buffer, BufferInfo, Class, Network, NonFiniteStep, ParamInfo, PerSampleTraining, StepClasses, Target, WithBuffers,
};
#[cfg(feature = "alloc")]
pub use network::{boxed_seeded, boxed_zeros};
pub use optim::{Optimizer, PlainSgd, Sgd, State};
pub use rng::SplitMix64;
pub use scalar::Scalar;
pub use second_order::{
    HessianError, HessianVector, LayerValues, LevenbergMarquardt, LmEpoch, LmError, ParamJacobian, cholesky_solve,
    hessian, hessian_diagonal,
};
pub use view::{DenseMut, DenseRef};

/// Re-exported for generated code and for users who seed networks from their own
/// generator.
pub use rand_core;

pub use grad::{GradAccumulator, clip_grad_norm, clip_grad_value, grad_norm};
pub use optim::{Adadelta, Adafactor, Adagrad, Adam, AdamW, Adamax, Ftrl, Lamb, Lion, NAdam, RAdam, RmsProp, Rprop};
pub use schedule::{ReduceLrOnPlateau, Schedule};

#[cfg(feature = "std")]
pub use data::{DataError, Dataset};
#[cfg(feature = "alloc")]
pub use dynamic::DynamicNet;

#[cfg(feature = "std")]
pub mod explain;
#[cfg(feature = "parallel")]
pub mod parallel;
#[cfg(feature = "std")]
pub mod train;
#[cfg(feature = "std")]
pub use explain::explain_sgd_step;
#[cfg(feature = "parallel")]
pub use parallel::ParallelGradient;
#[cfg(feature = "std")]
pub use train::{EarlyStopping, EpochMetrics, FitError, FitOptions, History, fit};
