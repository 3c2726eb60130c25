#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use stackprop_macros::network;
pub use stackprop_runtime::*;

/// What a program that defines and trains networks needs: `use stackprop::prelude::*;`.
pub mod prelude {
    pub use crate::network;
    pub use stackprop_runtime::network::{Buffer, Class, Network, StepClasses, Target};
    pub use stackprop_runtime::optim::{Adam, AdamW, Optimizer, PlainSgd, Sgd};
    pub use stackprop_runtime::scalar::Scalar;
    pub use stackprop_runtime::second_order::ParamJacobian;
}

/// Paths the generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use stackprop_runtime::__boxed_params as boxed_params;
    pub use stackprop_runtime::__impl_serde as impl_serde;
    pub use stackprop_runtime::diagnostics::{ActivationFamily, LayerInfo};
    pub use stackprop_runtime::init::Init;
    pub use stackprop_runtime::network::{
        BufferInfo, Network, NonFiniteStep, ParamInfo, PerSampleTraining, Target, WithBuffers,
    };
    pub use stackprop_runtime::optim::Optimizer;
    pub use stackprop_runtime::rand_core;
    pub use stackprop_runtime::rng::SplitMix64;
    pub use stackprop_runtime::scalar::Scalar;
    pub use stackprop_runtime::second_order::{HessianVector, LayerValues, ParamJacobian};
    pub use stackprop_runtime::view::{DenseMut, DenseRef};
    pub use stackprop_runtime::{dropout, kernels, view};
}
