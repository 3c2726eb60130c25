//! The dynamic reference network: [`DynamicNet`], a stack of layers described at run time
//! by [`LayerSpec`]s and a [`Loss`]: dense, 1-D and 2-D convolution, max and average
//! pooling, global average pooling and flatten.
//!
//! It is the second, independent implementation the generated networks are checked
//! against, and the baseline they are benchmarked against, so it is written the way a
//! careful dynamic network is: all parameters in one `Vec`, the activations,
//! pre-activations and errors of every layer in scratch vectors allocated once by
//! [`DynamicNet::new`] and reused, no allocation in [`forward`](DynamicNet::forward),
//! [`accumulate_gradient`](DynamicNet::accumulate_gradient),
//! [`train_step`](DynamicNet::train_step) or [`train_batch`](DynamicNet::train_batch).
//! Dense layers run over contiguous rows with [`dot`](crate::kernels::dot) and
//! [`axpy`](crate::kernels::axpy); convolutions and pools are their formulas written out
//! as nested loops, one file per layer kind, each opening with its maths.
//!
//! The numerics are those of the generated networks, and the layer definitions
//! PyTorch's:
//!
//! - Data is flat and row-major: an input of shape `[C, H, W]` is the array with
//!   `x[(c·H + h)·W + w]`, and every layer's output likewise (`[out][OH][OW]` for a 2-D
//!   convolution).
//! - Parameters lie in one flat vector, layer by layer, each layer its weight and then its
//!   bias. A dense weight is in PyTorch order `[out][in]`, row-major: row `o` holds the
//!   weights into output `o`; a dense layer computes `z = W·x + b` and `y = f(z)`. A
//!   convolution weight is `[out][in][kh][kw]` (`[out][in][k]` in 1-D). Pools and
//!   flatten have no parameters.
//! - Per-sample losses reduce over the last layer's (flattened) outputs as [`Loss`]
//!   documents; batch methods take the mean over the samples.
//! - Cross-entropy is fused with a softmax output and binary cross-entropy with a sigmoid
//!   output: the error on the logits is computed directly (`y·Σt − t`, `(y − t)/OUT`),
//!   never through the activation's Jacobian. Every other loss sends `∂L/∂y` through the
//!   activation's derivative.
//! - On a sequence output `[T][OUT]` (a dense layer at every step) each loss is the mean
//!   over the steps of the step's loss: the element-wise means over all `T·OUT` values,
//!   and cross-entropy on a softmax at every step `(1/T)·Σₜ Σ tₜ·(lse(zₜ) − zₜ)`, with
//!   the error `(yₜ·Σtₜ − tₜ)/T` on each step's logits.
//!
//! ```
//! use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
//! use stackprop_runtime::Sgd;
//!
//! let layers = [
//!     LayerSpec::dense(3, Activation::Sigmoid),
//!     LayerSpec::dense(1, Activation::Sigmoid),
//! ];
//! let mut net = DynamicNet::<f64>::seeded(2, &layers, Loss::HalfSse, 7)?;
//! let mut opt = Sgd::<Vec<f64>>::new(0.5);
//! let before = net.loss(&[1.0, 0.0], &[1.0]);
//! for _ in 0..100 {
//!     net.train_step(&[1.0, 0.0], &[1.0], &mut opt);
//! }
//! assert!(net.loss(&[1.0, 0.0], &[1.0]) < before);
//! # Ok::<(), stackprop_runtime::dynamic::SpecError>(())
//! ```
//!
//! A small convolutional classifier on `[1, 8, 8]` inputs:
//!
//! ```
//! use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
//!
//! let layers = [
//!     LayerSpec::conv2d(4, [3, 3], Activation::Relu).padding(1), // [4, 8, 8]
//!     LayerSpec::max_pool2d([2, 2]),                              // [4, 4, 4]
//!     LayerSpec::conv2d(6, [3, 3], Activation::Relu).stride(2),  // [6, 1, 1]
//!     LayerSpec::flatten(),                                       // [6]
//!     LayerSpec::dense(3, Activation::Softmax),
//! ];
//! let mut net = DynamicNet::<f32>::seeded_with_shape(&[1, 8, 8], &layers, Loss::CrossEntropy, 1)?;
//! assert_eq!(net.output_shape(1), &[4, 4, 4]);
//! assert_eq!(net.output_shape(2), &[6, 1, 1]);
//! assert_eq!(net.param_count(), (4 * 9 + 4) + (6 * 4 * 9 + 6) + (3 * 6 + 3));
//! let y = net.forward(&[0.5; 64]);
//! assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! # Ok::<(), stackprop_runtime::dynamic::SpecError>(())
//! ```

mod activation;
mod batchnorm;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod layernorm;
mod loss;
mod pool;
mod recurrent;
mod seq_dense;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use rand_core::Rng;

pub use activation::Activation;
pub use loss::Loss;
pub use recurrent::RecurrentCell;

use activation::Act;
use conv::{Conv, ConvOptions};
use dense::Dense;
use dropout::Dropout;
use layernorm::LayerNorm;
use loss::LossFn;
use pool::{GlobalAvgPool, Pool};
use recurrent::Recurrent;
use seq_dense::SeqDense;

use crate::init::Init;
use crate::optim::Optimizer;
use crate::rng::SplitMix64;
use crate::scalar::Scalar;

/// One layer of a [`DynamicNet`]: its kind and options.
///
/// Build it with the constructors ([`dense`](Self::dense), [`conv2d`](Self::conv2d),
/// [`max_pool2d`](Self::max_pool2d), …) and the option builders
/// ([`stride`](Self::stride), [`padding`](Self::padding), [`without_bias`](Self::without_bias),
/// [`init`](Self::init), …), all `const`, or write a variant out. Sizes are checked
/// against the layer's input shape by [`DynamicNet::with_shape`].
///
/// ```
/// use stackprop_runtime::dynamic::{Activation, LayerSpec};
/// use stackprop_runtime::Init;
///
/// const CONV: LayerSpec = LayerSpec::conv2d(8, [3, 5], Activation::Tanh)
///     .stride_hw([1, 2])
///     .padding_hw([1, 2])
///     .dilation(2)
///     .init(Init::GlorotUniform);
/// assert_eq!(CONV.activation(), Some(Activation::Tanh));
/// assert_eq!(
///     LayerSpec::max_pool1d(3),
///     LayerSpec::MaxPool1d { kernel: 3, stride: 3, padding: 0 }
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum LayerSpec {
    /// Fully connected (`torch.nn.Linear`) on a vector `[N]`: `z = W·x + b`, `y = f(z)`;
    /// weight `[width][N]`, then bias `[width]`. On a sequence `[T][F]` (the output of a
    /// recurrent layer with `sequence`, of another such dense layer, or of a dropout on
    /// either) it applies at every step: `zₜ = W·xₜ + b`, `[T][F] → [T][width]`, weight
    /// `[width][F]`; [`Activation::Softmax`] there normalizes each step's `width` values
    /// on its own.
    Dense {
        /// Number of outputs.
        width: usize,
        /// The activation applied to `W·x + b`.
        activation: Activation,
        /// Whether the layer has a bias vector.
        bias: bool,
        /// The weight initialization; `None` for [`Activation::init`].
        init: Option<Init>,
    },
    /// 1-D convolution (`torch.nn.Conv1d`) on `[C, L]`, giving `[out_channels, OL]`;
    /// weight `[out_channels][C][kernel]`, then bias `[out_channels]`.
    Conv1d {
        /// Number of output channels.
        out_channels: usize,
        /// Kernel length.
        kernel: usize,
        /// Step between windows (PyTorch's default 1).
        stride: usize,
        /// Zeros added at each end (default 0).
        padding: usize,
        /// Step between kernel taps (default 1).
        dilation: usize,
        /// The activation applied elementwise to the convolution's output.
        activation: Activation,
        /// Whether the layer has a bias vector.
        bias: bool,
        /// The initialization of weight and bias; `None` for [`Init::TorchDefault`].
        init: Option<Init>,
    },
    /// 2-D convolution (`torch.nn.Conv2d`) on `[C, H, W]`, giving
    /// `[out_channels, OH, OW]`; weight `[out_channels][C][KH][KW]`, then bias
    /// `[out_channels]`. Pairs are `[height, width]`.
    Conv2d {
        /// Number of output channels.
        out_channels: usize,
        /// Kernel size `[KH, KW]`.
        kernel: [usize; 2],
        /// Step between windows (default `[1, 1]`).
        stride: [usize; 2],
        /// Zeros added on each side (default `[0, 0]`).
        padding: [usize; 2],
        /// Step between kernel taps (default `[1, 1]`).
        dilation: [usize; 2],
        /// The activation applied elementwise to the convolution's output.
        activation: Activation,
        /// Whether the layer has a bias vector.
        bias: bool,
        /// The initialization of weight and bias; `None` for [`Init::TorchDefault`].
        init: Option<Init>,
    },
    /// Max pooling (`torch.nn.MaxPool1d`) on `[C, L]`; padding cells are `−∞`, and the
    /// gradient of a tied window goes to its first maximum.
    MaxPool1d {
        /// Window length.
        kernel: usize,
        /// Step between windows (PyTorch's default: the kernel).
        stride: usize,
        /// Padding at each end, at most `kernel / 2`.
        padding: usize,
    },
    /// Max pooling (`torch.nn.MaxPool2d`) on `[C, H, W]`; padding cells are `−∞`, and the
    /// gradient of a tied window goes to its first maximum in row-major order.
    MaxPool2d {
        /// Window size `[KH, KW]`.
        kernel: [usize; 2],
        /// Step between windows (default: the kernel).
        stride: [usize; 2],
        /// Padding on each side, at most half the kernel.
        padding: [usize; 2],
    },
    /// Average pooling (`torch.nn.AvgPool1d`) on `[C, L]`; padding cells are 0 and the
    /// divisor is always the kernel length (`count_include_pad = True`).
    AvgPool1d {
        /// Window length.
        kernel: usize,
        /// Step between windows (default: the kernel).
        stride: usize,
        /// Padding at each end, at most `kernel / 2`.
        padding: usize,
    },
    /// Average pooling (`torch.nn.AvgPool2d`) on `[C, H, W]`; padding cells are 0 and the
    /// divisor is always `KH·KW` (`count_include_pad = True`).
    AvgPool2d {
        /// Window size `[KH, KW]`.
        kernel: [usize; 2],
        /// Step between windows (default: the kernel).
        stride: [usize; 2],
        /// Padding on each side, at most half the kernel.
        padding: [usize; 2],
    },
    /// The mean over every spatial position of each channel: `[C, ..]` to `[C]`.
    GlobalAvgPool,
    /// `[C, ..]` to `[C·..]` (`torch.flatten(x, 1)`); the data is unchanged.
    Flatten,
    /// Batch normalization (`torch.nn.BatchNorm1d`/`BatchNorm2d`) per channel (the
    /// first dimension) over the batch and every position; weight (γ) `[C]` then bias
    /// (β) `[C]` with `affine`; buffers `running_mean`, `running_var` `[C]` and
    /// `num_batches_tracked`. A network with it trains on mini-batches only
    /// ([`DynamicNet::batch_backward`]).
    BatchNorm {
        /// Added to the variance (PyTorch's default `1e-5`).
        eps: f64,
        /// Weight of the batch statistic in the running one (default `0.1`).
        momentum: f64,
        /// Learnable γ and β (default `true`).
        affine: bool,
    },
    /// Layer normalization (`torch.nn.LayerNorm(normalized_shape)`) over the layer's
    /// whole per-sample input shape: `y = γ ⊙ (x − μ)/√(σ² + eps) + β`, biased variance;
    /// weight γ (ones), then bias β (zeros), both of the input's shape.
    LayerNorm {
        /// Added to the variance (PyTorch's default 1e-5).
        eps: f64,
        /// Whether γ (and β) exist (`elementwise_affine`).
        elementwise_affine: bool,
        /// Whether β exists (only with `elementwise_affine`).
        bias: bool,
    },
    /// Inverted dropout (`torch.nn.Dropout(p)`): in training each unit is kept with
    /// probability `1 − p` and scaled by `1/(1 − p)`, by the mask rule of
    /// [`crate::dropout`]; in inference ([`DynamicNet::forward`]) the identity.
    Dropout {
        /// The probability of dropping a unit, in `[0, 1)`.
        p: f64,
    },
    /// A recurrent layer (`torch.nn.RNN`, `GRU` or `LSTM`, one layer, one direction) on a
    /// sequence `[T, F]` from the zero state, giving every step's state `[T, hidden]` with
    /// `sequence`, else the last state `[hidden]`; weight `weight_ih_l0 [G·hidden][F]`
    /// then `weight_hh_l0 [G·hidden][hidden]`, bias `bias_ih_l0` then `bias_hh_l0`
    /// (`[G·hidden]` each), all drawn from `U(±1/√hidden)`.
    Recurrent {
        /// The cell.
        cell: RecurrentCell,
        /// Hidden units `H`.
        hidden: usize,
        /// Whether the layer has the two bias vectors.
        bias: bool,
        /// Whether the output is every step's state rather than the last.
        sequence: bool,
    },
}

impl LayerSpec {
    /// A dense layer with a bias and the initialization of its activation.
    #[inline]
    #[must_use]
    pub const fn dense(width: usize, activation: Activation) -> Self {
        Self::Dense { width, activation, bias: true, init: None }
    }

    /// A 1-D convolution with stride 1, no padding, dilation 1, a bias and PyTorch's
    /// initialization.
    #[inline]
    #[must_use]
    pub const fn conv1d(out_channels: usize, kernel: usize, activation: Activation) -> Self {
        Self::Conv1d { out_channels, kernel, stride: 1, padding: 0, dilation: 1, activation, bias: true, init: None }
    }

    /// A 2-D convolution with kernel `[KH, KW]`, stride 1, no padding, dilation 1, a bias
    /// and PyTorch's initialization.
    #[inline]
    #[must_use]
    pub const fn conv2d(out_channels: usize, kernel: [usize; 2], activation: Activation) -> Self {
        Self::Conv2d {
            out_channels,
            kernel,
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            activation,
            bias: true,
            init: None,
        }
    }

    /// 1-D max pooling with stride `kernel` and no padding.
    #[inline]
    #[must_use]
    pub const fn max_pool1d(kernel: usize) -> Self {
        Self::MaxPool1d { kernel, stride: kernel, padding: 0 }
    }

    /// 2-D max pooling with stride `kernel` and no padding.
    #[inline]
    #[must_use]
    pub const fn max_pool2d(kernel: [usize; 2]) -> Self {
        Self::MaxPool2d { kernel, stride: kernel, padding: [0, 0] }
    }

    /// 1-D average pooling with stride `kernel` and no padding.
    #[inline]
    #[must_use]
    pub const fn avg_pool1d(kernel: usize) -> Self {
        Self::AvgPool1d { kernel, stride: kernel, padding: 0 }
    }

    /// 2-D average pooling with stride `kernel` and no padding.
    #[inline]
    #[must_use]
    pub const fn avg_pool2d(kernel: [usize; 2]) -> Self {
        Self::AvgPool2d { kernel, stride: kernel, padding: [0, 0] }
    }

    /// A recurrent layer with both biases, giving its last state.
    #[inline]
    #[must_use]
    pub const fn recurrent(cell: RecurrentCell, hidden: usize) -> Self {
        Self::Recurrent { cell, hidden, bias: true, sequence: false }
    }

    /// The same recurrent layer giving every step's state (`sequence = true`).
    ///
    /// # Panics
    /// On a layer other than a recurrent one.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn sequence(mut self) -> Self {
        match &mut self {
            Self::Recurrent { sequence, .. } => *sequence = true,
            _ => panic!("`sequence` applies to recurrent layers only"),
        }
        self
    }

    /// The global average pool, [`LayerSpec::GlobalAvgPool`].
    #[inline]
    #[must_use]
    pub const fn global_avg_pool() -> Self {
        Self::GlobalAvgPool
    }

    /// A layer norm with PyTorch's defaults (`eps` 1e-5, γ and β),
    /// [`LayerSpec::LayerNorm`].
    #[inline]
    #[must_use]
    pub const fn layer_norm() -> Self {
        Self::LayerNorm { eps: 1e-5, elementwise_affine: true, bias: true }
    }

    /// Dropout with probability `p`, [`LayerSpec::Dropout`].
    #[inline]
    #[must_use]
    pub const fn dropout(p: f64) -> Self {
        Self::Dropout { p }
    }

    /// A flatten, [`LayerSpec::Flatten`].
    #[inline]
    #[must_use]
    pub const fn flatten() -> Self {
        Self::Flatten
    }

    /// Batch normalization with PyTorch's defaults (`eps = 1e-5`, `momentum = 0.1`,
    /// affine), [`LayerSpec::BatchNorm`].
    #[inline]
    #[must_use]
    pub const fn batch_norm() -> Self {
        Self::BatchNorm { eps: 1e-5, momentum: 0.1, affine: true }
    }

    /// The same layer without a bias.
    ///
    /// # Panics
    /// On a layer without parameters (a pool or a flatten).
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn without_bias(mut self) -> Self {
        match &mut self {
            Self::Dense { bias, .. }
            | Self::Conv1d { bias, .. }
            | Self::Conv2d { bias, .. }
            | Self::Recurrent { bias, .. } => *bias = false,
            _ => panic!("`without_bias` applies to dense and convolution layers only"),
        }
        self
    }

    /// The same layer with its weights (and, for [`Init::TorchDefault`], biases) drawn by
    /// `init` instead of the kind's default.
    ///
    /// # Panics
    /// On a layer without parameters (a pool or a flatten).
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn init(mut self, init: Init) -> Self {
        match &mut self {
            Self::Dense { init: i, .. } | Self::Conv1d { init: i, .. } | Self::Conv2d { init: i, .. } => {
                *i = Some(init);
            }
            _ => panic!("`init` applies to dense and convolution layers only"),
        }
        self
    }

    /// The same layer with stride `stride` in every spatial dimension.
    ///
    /// # Panics
    /// On a dense layer, a global average pool or a flatten.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn stride(mut self, stride: usize) -> Self {
        match &mut self {
            Self::Conv1d { stride: s, .. } | Self::MaxPool1d { stride: s, .. } | Self::AvgPool1d { stride: s, .. } => {
                *s = stride;
            }
            Self::Conv2d { stride: s, .. } | Self::MaxPool2d { stride: s, .. } | Self::AvgPool2d { stride: s, .. } => {
                *s = [stride, stride];
            }
            _ => panic!("`stride` applies to convolution and pooling layers only"),
        }
        self
    }

    /// The same 2-D layer with stride `[height, width]`.
    ///
    /// # Panics
    /// On a layer other than a 2-D convolution or pool.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn stride_hw(mut self, stride: [usize; 2]) -> Self {
        match &mut self {
            Self::Conv2d { stride: s, .. } | Self::MaxPool2d { stride: s, .. } | Self::AvgPool2d { stride: s, .. } => {
                *s = stride;
            }
            _ => panic!("`stride_hw` applies to 2-D convolution and pooling layers only"),
        }
        self
    }

    /// The same layer with padding `padding` on each side of every spatial dimension.
    ///
    /// # Panics
    /// On a dense layer, a global average pool or a flatten.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn padding(mut self, padding: usize) -> Self {
        match &mut self {
            Self::Conv1d { padding: p, .. }
            | Self::MaxPool1d { padding: p, .. }
            | Self::AvgPool1d { padding: p, .. } => {
                *p = padding;
            }
            Self::Conv2d { padding: p, .. }
            | Self::MaxPool2d { padding: p, .. }
            | Self::AvgPool2d { padding: p, .. } => {
                *p = [padding, padding];
            }
            _ => panic!("`padding` applies to convolution and pooling layers only"),
        }
        self
    }

    /// The same 2-D layer with padding `[height, width]`.
    ///
    /// # Panics
    /// On a layer other than a 2-D convolution or pool.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn padding_hw(mut self, padding: [usize; 2]) -> Self {
        match &mut self {
            Self::Conv2d { padding: p, .. }
            | Self::MaxPool2d { padding: p, .. }
            | Self::AvgPool2d { padding: p, .. } => {
                *p = padding;
            }
            _ => panic!("`padding_hw` applies to 2-D convolution and pooling layers only"),
        }
        self
    }

    /// The same convolution with dilation `dilation` in every spatial dimension.
    ///
    /// # Panics
    /// On a layer other than a convolution.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn dilation(mut self, dilation: usize) -> Self {
        match &mut self {
            Self::Conv1d { dilation: d, .. } => *d = dilation,
            Self::Conv2d { dilation: d, .. } => *d = [dilation, dilation],
            _ => panic!("`dilation` applies to convolution layers only"),
        }
        self
    }

    /// The same 2-D convolution with dilation `[height, width]`.
    ///
    /// # Panics
    /// On a layer other than a 2-D convolution.
    #[inline]
    #[must_use]
    #[track_caller]
    pub const fn dilation_hw(mut self, dilation: [usize; 2]) -> Self {
        match &mut self {
            Self::Conv2d { dilation: d, .. } => *d = dilation,
            _ => panic!("`dilation_hw` applies to 2-D convolution layers only"),
        }
        self
    }

    /// The layer's activation: `Some` for dense and convolution layers, `None` for the
    /// rest.
    #[inline]
    #[must_use]
    pub const fn activation(&self) -> Option<Activation> {
        match *self {
            Self::Dense { activation, .. } | Self::Conv1d { activation, .. } | Self::Conv2d { activation, .. } => {
                Some(activation)
            }
            _ => None,
        }
    }

    /// The kind's name, as in a network spec: `Dense`, `Conv2d`, `MaxPool1d`, ….
    #[inline]
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Dense { .. } => "Dense",
            Self::Conv1d { .. } => "Conv1d",
            Self::Conv2d { .. } => "Conv2d",
            Self::MaxPool1d { .. } => "MaxPool1d",
            Self::MaxPool2d { .. } => "MaxPool2d",
            Self::AvgPool1d { .. } => "AvgPool1d",
            Self::AvgPool2d { .. } => "AvgPool2d",
            Self::GlobalAvgPool => "GlobalAvgPool",
            Self::Flatten => "Flatten",
            Self::BatchNorm { .. } => "BatchNorm",
            Self::LayerNorm { .. } => "LayerNorm",
            Self::Dropout { .. } => "Dropout",
            Self::Recurrent { cell, .. } => cell.name(),
        }
    }
}

/// A spatial dimension, as named in a [`SpecError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// The length `L` of a `[C, L]` input.
    Length,
    /// The height `H` of a `[C, H, W]` input.
    Height,
    /// The width `W` of a `[C, H, W]` input.
    Width,
}

impl fmt::Display for Axis {
    /// `length`, `height` or `width`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Axis::Length => "length",
            Axis::Height => "height",
            Axis::Width => "width",
        })
    }
}

/// Why a network spec was rejected by [`DynamicNet::new`] or [`DynamicNet::with_shape`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum SpecError {
    /// The input width is 0.
    ZeroInput,
    /// The layer list is empty.
    NoLayers,
    /// A layer has width 0.
    ZeroWidth {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A leaky-relu slope or an ELU α is not finite.
    InvalidActivation {
        /// Index of the layer, from 0.
        layer: usize,
        /// The activation as given.
        activation: Activation,
    },
    /// A Huber δ is not finite and positive.
    InvalidLoss(Loss),
    /// [`Loss::CrossEntropy`] on an output layer that is not [`Activation::Softmax`].
    CrossEntropyNeedsSoftmax {
        /// The output layer's activation.
        found: Activation,
    },
    /// [`Loss::BinaryCrossEntropy`] on an output layer that is not [`Activation::Sigmoid`].
    BinaryCrossEntropyNeedsSigmoid {
        /// The output layer's activation.
        found: Activation,
    },
    /// The input shape has no dimension or more than three.
    InputRank {
        /// The number of dimensions given.
        rank: usize,
    },
    /// A dimension of a multi-dimensional input shape is 0 (a 1-D input of size 0 is
    /// [`ZeroInput`](Self::ZeroInput)).
    ZeroInputDim {
        /// Index of the dimension, from 0 (0 is the channels).
        dim: usize,
    },
    /// A convolution has 0 output channels.
    ZeroChannels {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A convolution or pooling kernel has size 0.
    ZeroKernel {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A convolution or pool has stride 0.
    ZeroStride {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A convolution has dilation 0.
    ZeroDilation {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A kernel spans more than the padded input along a dimension, so the output would
    /// have size 0.
    KernelTooLarge {
        /// Index of the layer, from 0.
        layer: usize,
        /// The dimension.
        axis: Axis,
        /// The kernel's span, `dilation·(kernel − 1) + 1`.
        extent: usize,
        /// The input's size plus the padding on both sides.
        padded: usize,
    },
    /// A pool pads by more than half its kernel, which PyTorch rejects.
    PoolPaddingTooLarge {
        /// Index of the layer, from 0.
        layer: usize,
        /// The dimension.
        axis: Axis,
        /// The padding.
        padding: usize,
        /// The kernel size.
        kernel: usize,
    },
    /// A layer got an input of a rank it does not take: `Conv2d` a non-`[C, H, W]` one,
    /// `Conv1d` a non-`[C, L]` one, a global average pool a vector.
    WrongInputRank {
        /// Index of the layer, from 0.
        layer: usize,
        /// The layer's kind ([`LayerSpec::name`]).
        kind: &'static str,
        /// The shapes it takes, such as `[C, H, W]`.
        expected: &'static str,
        /// The number of dimensions of its input.
        found: usize,
    },
    /// A dense layer got a multi-dimensional input: it needs a [`LayerSpec::Flatten`]
    /// before it.
    DenseNeedsFlatten {
        /// Index of the layer, from 0.
        layer: usize,
        /// The number of dimensions of its input.
        rank: usize,
    },
    /// A convolution with [`Activation::Softmax`]: softmax is for dense layers only.
    SoftmaxOnConv {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A network with both batch normalization and a recurrent layer (not supported:
    /// batch-level training does not run backpropagation through time).
    BatchNormWithRecurrent {
        /// Index of the batch normalization layer, from 0.
        layer: usize,
    },
    /// A dropout probability outside `[0, 1)`.
    InvalidDropout {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A layer norm's `eps` is not finite and positive.
    InvalidEps {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// The last layer has no activation (a pool or a flatten): the loss needs a dense or
    /// convolution output layer.
    OutputWithoutActivation {
        /// The output layer's kind ([`LayerSpec::name`]).
        kind: &'static str,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpecError::ZeroInput => f.write_str("the input width is 0, expected at least 1"),
            SpecError::NoLayers => f.write_str("the network has no layer, expected at least one"),
            SpecError::ZeroWidth { layer } => {
                write!(f, "layer {layer} has width 0, expected at least 1")
            }
            SpecError::InvalidActivation { layer, activation } => {
                write!(f, "layer {layer} has activation `{activation}`, whose parameter must be finite")
            }
            SpecError::InvalidLoss(loss) => {
                write!(f, "loss `{loss}` needs a finite, positive delta")
            }
            SpecError::CrossEntropyNeedsSoftmax { found } => {
                write!(f, "loss `cross_entropy` needs a `Softmax` output layer, but the output layer is `{found}`")
            }
            SpecError::BinaryCrossEntropyNeedsSigmoid { found } => write!(
                f,
                "loss `binary_cross_entropy` needs a `Sigmoid` output layer, but the output layer is `{found}`"
            ),
            SpecError::InputRank { rank } => {
                write!(f, "the input shape has {rank} dimensions, expected 1 ([N]), 2 ([C, L]) or 3 ([C, H, W])")
            }
            SpecError::ZeroInputDim { dim } => {
                write!(f, "the input shape has size 0 in dimension {dim}, expected at least 1")
            }
            SpecError::ZeroChannels { layer } => {
                write!(f, "layer {layer} has 0 output channels, expected at least 1")
            }
            SpecError::ZeroKernel { layer } => write!(f, "layer {layer} has a kernel of size 0, expected at least 1"),
            SpecError::ZeroStride { layer } => write!(f, "layer {layer} has stride 0, expected at least 1"),
            SpecError::ZeroDilation { layer } => write!(f, "layer {layer} has dilation 0, expected at least 1"),
            SpecError::KernelTooLarge { layer, axis, extent, padded } => write!(
                f,
                "layer {layer}: the kernel spans {extent} along the {axis}, but the padded input has only \
                 {padded}, so the output would be empty"
            ),
            SpecError::PoolPaddingTooLarge { layer, axis, padding, kernel } => write!(
                f,
                "layer {layer} pads the {axis} by {padding}, but a pooling kernel of {kernel} allows at most {} \
                 (padding ≤ kernel/2)",
                kernel / 2
            ),
            SpecError::WrongInputRank { layer, kind, expected, found } => write!(
                f,
                "layer {layer} (`{kind}`) needs an input of shape {expected}, but its input has {found} \
                 dimension{}",
                if found == 1 { "" } else { "s" }
            ),
            SpecError::DenseNeedsFlatten { layer, rank } => {
                write!(f, "layer {layer} (`Dense`) gets an input of {rank} dimensions; put a `Flatten` before it")
            }
            SpecError::SoftmaxOnConv { layer } => {
                write!(f, "layer {layer} is a convolution with `Softmax`, which only dense layers support")
            }
            SpecError::BatchNormWithRecurrent { layer } => write!(
                f,
                "layer {layer} is a batch normalization in a network with a recurrent layer, which is not supported"
            ),
            SpecError::InvalidDropout { layer } => {
                write!(f, "layer {layer} has a dropout probability outside [0, 1)")
            }
            SpecError::InvalidEps { layer } => write!(f, "layer {layer} has an `eps` that is not finite and positive"),
            SpecError::OutputWithoutActivation { kind } => write!(
                f,
                "the output layer is `{kind}`, which has no activation: the last layer must be `Dense`, \
                 `Conv1d` or `Conv2d`"
            ),
        }
    }
}

impl core::error::Error for SpecError {}

/// A parameter vector of the wrong length was given to [`DynamicNet::set_params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamCountError {
    /// The network's parameter count.
    pub expected: usize,
    /// The length given.
    pub found: usize,
}

impl fmt::Display for ParamCountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} parameters, found {}", self.expected, self.found)
    }
}

impl core::error::Error for ParamCountError {}

/// A shape of rank 1 to 3: `[N]`, `[C, L]` or `[C, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    dims: [usize; 3],
    rank: usize,
}

impl Shape {
    /// The shape `dims`, of rank 1 to 3.
    fn new(dims: &[usize]) -> Self {
        let mut s = Self { dims: [0; 3], rank: dims.len() };
        s.dims[..dims.len()].copy_from_slice(dims);
        s
    }

    #[inline]
    fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// Number of scalars.
    #[inline]
    fn len(&self) -> usize {
        self.dims().iter().product()
    }

    /// `(C, H, W)` of a `[C, H, W]` input, or `(C, 1, L)` of a `[C, L]` one if `one_d`;
    /// otherwise the error of layer `layer` of kind `kind`.
    fn channels_height_width(
        &self,
        layer: usize,
        kind: &'static str,
        one_d: bool,
    ) -> Result<(usize, usize, usize), SpecError> {
        match (one_d, self.dims()) {
            (true, &[c, l]) => Ok((c, 1, l)),
            (false, &[c, h, w]) => Ok((c, h, w)),
            (_, dims) => Err(SpecError::WrongInputRank {
                layer,
                kind,
                expected: if one_d { "[C, L]" } else { "[C, H, W]" },
                found: dims.len(),
            }),
        }
    }
}

/// One spatial dimension of a sliding window (convolution or pool): output position `o`
/// and tap `k` read input position `o·stride − padding + k·dilation`.
#[derive(Clone, Copy, Debug)]
struct Window {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
}

impl Window {
    /// The trivial dimension of height 1 that 1-D layers run with.
    const UNIT: Self = Self { input: 1, output: 1, kernel: 1, stride: 1, padding: 0, dilation: 1 };

    /// A window over `input` positions, `kernel`, `stride` and `dilation` ≥ 1; the output
    /// size is `⌊(input + 2·padding − dilation·(kernel − 1) − 1)/stride⌋ + 1`, an error if
    /// the kernel spans more than the padded input.
    fn new(
        layer: usize,
        axis: Axis,
        input: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> Result<Self, SpecError> {
        let extent = dilation.saturating_mul(kernel - 1).saturating_add(1);
        let padded = input.saturating_add(padding.saturating_mul(2));
        if extent > padded {
            return Err(SpecError::KernelTooLarge { layer, axis, extent, padded });
        }
        Ok(Self { input, output: (padded - extent) / stride + 1, kernel, stride, padding, dilation })
    }

    /// The input position tap `k` of output position `o` reads, or `None` in the padding.
    #[inline]
    fn tap(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation).checked_sub(self.padding).filter(|&i| i < self.input)
    }
}

/// What a layer computes.
#[derive(Clone, Copy, Debug)]
enum Op<T> {
    Dense(Dense, Act<T>),
    Conv(Conv, Act<T>),
    MaxPool(Pool),
    AvgPool(Pool),
    GlobalAvgPool(GlobalAvgPool),
    Flatten,
    BatchNorm(batchnorm::BatchNorm),
    LayerNorm(LayerNorm),
    Dropout(Dropout),
    Recurrent(Recurrent),
    /// A dense layer at every step of a sequence.
    SeqDense(SeqDense, Act<T>),
}

/// A layer's resolved shapes and offsets.
#[derive(Clone, Copy, Debug)]
struct Layer<T> {
    op: Op<T>,
    output: Shape,
    /// Offset of the weight in the parameter vector (for a layer without parameters,
    /// where the next layer's parameters start).
    weight: usize,
    weight_len: usize,
    /// Offset of the bias in the parameter vector.
    bias: Option<usize>,
    bias_len: usize,
    /// How the parameters are drawn; `None` for a layer without parameters.
    init: Option<Init>,
    fan_in: usize,
    fan_out: usize,
    /// Offset of this layer's values in the scratch vectors.
    slot: usize,
    /// The layer's own scratch in `DynamicNet::aux` (a recurrent layer's steps):
    /// `(start, end)`.
    aux: (usize, usize),
}

impl<T: Scalar> Layer<T> {
    /// Resolves `spec`, layer `layer`, against its input `shape` (a sequence of steps if
    /// `sequence`: a dense layer then applies at every step), with its parameters from
    /// `offset` and its scratch from `slot`.
    fn resolve(
        layer: usize,
        spec: &LayerSpec,
        shape: Shape,
        sequence: bool,
        offset: usize,
        slot: usize,
        aux: usize,
    ) -> Result<Self, SpecError> {
        let kind = spec.name();
        // (op, output shape, weight length, bias length if any, init, fan-in, fan-out)
        let (op, output, weight_len, bias_len, init, fan_in, fan_out) = match *spec {
            LayerSpec::Dense { width, activation, bias, init } if sequence && shape.rank == 2 => {
                if width == 0 {
                    return Err(SpecError::ZeroWidth { layer });
                }
                check_activation(layer, activation)?;
                let &[steps, inputs] = shape.dims() else { unreachable!("rank 2") };
                let d = SeqDense { steps, inputs, outputs: width };
                let init = init.unwrap_or(activation.init());
                // A softmax here normalizes each step's `width` values on its own.
                let act =
                    if activation == Activation::Softmax { Act::StepSoftmax(width) } else { Act::new(activation) };
                let op = Op::SeqDense(d, act);
                (op, Shape::new(&[steps, width]), d.weight_len(), bias.then_some(width), Some(init), inputs, width)
            }
            LayerSpec::Dense { width, activation, bias, init } => {
                if shape.rank != 1 {
                    return Err(SpecError::DenseNeedsFlatten { layer, rank: shape.rank });
                }
                if width == 0 {
                    return Err(SpecError::ZeroWidth { layer });
                }
                check_activation(layer, activation)?;
                let d = Dense { inputs: shape.len(), outputs: width };
                let init = init.unwrap_or(activation.init());
                let op = Op::Dense(d, Act::new(activation));
                (op, Shape::new(&[width]), d.weight_len(), bias.then_some(width), Some(init), d.inputs, width)
            }
            LayerSpec::Conv1d { out_channels, kernel, stride, padding, dilation, activation, bias, init } => {
                let options = ConvOptions {
                    out_channels,
                    kernel: [1, kernel],
                    stride: [1, stride],
                    padding: [0, padding],
                    dilation: [1, dilation],
                };
                let (c, out) = Conv::resolve(layer, kind, shape, options, true)?;
                check_conv_activation(layer, activation)?;
                let init = init.unwrap_or(Init::TorchDefault);
                let op = Op::Conv(c, Act::new(activation));
                (op, out, c.weight_len(), bias.then_some(out_channels), Some(init), c.fan_in(), c.fan_out())
            }
            LayerSpec::Conv2d { out_channels, kernel, stride, padding, dilation, activation, bias, init } => {
                let options = ConvOptions { out_channels, kernel, stride, padding, dilation };
                let (c, out) = Conv::resolve(layer, kind, shape, options, false)?;
                check_conv_activation(layer, activation)?;
                let init = init.unwrap_or(Init::TorchDefault);
                let op = Op::Conv(c, Act::new(activation));
                (op, out, c.weight_len(), bias.then_some(c.out_channels()), Some(init), c.fan_in(), c.fan_out())
            }
            LayerSpec::MaxPool1d { kernel, stride, padding } => {
                let (p, out) = Pool::resolve(layer, kind, shape, [[1, kernel], [1, stride], [0, padding]], true)?;
                (Op::MaxPool(p), out, 0, None, None, 0, 0)
            }
            LayerSpec::MaxPool2d { kernel, stride, padding } => {
                let (p, out) = Pool::resolve(layer, kind, shape, [kernel, stride, padding], false)?;
                (Op::MaxPool(p), out, 0, None, None, 0, 0)
            }
            LayerSpec::AvgPool1d { kernel, stride, padding } => {
                let (p, out) = Pool::resolve(layer, kind, shape, [[1, kernel], [1, stride], [0, padding]], true)?;
                (Op::AvgPool(p), out, 0, None, None, 0, 0)
            }
            LayerSpec::AvgPool2d { kernel, stride, padding } => {
                let (p, out) = Pool::resolve(layer, kind, shape, [kernel, stride, padding], false)?;
                (Op::AvgPool(p), out, 0, None, None, 0, 0)
            }
            LayerSpec::GlobalAvgPool => {
                let (g, out) = GlobalAvgPool::resolve(layer, kind, shape)?;
                (Op::GlobalAvgPool(g), out, 0, None, None, 0, 0)
            }
            LayerSpec::Flatten => (Op::Flatten, flatten::resolve(shape), 0, None, None, 0, 0),
            LayerSpec::BatchNorm { eps, momentum, affine } => {
                let channels = shape.dims()[0];
                let bn = batchnorm::BatchNorm {
                    channels,
                    spatial: shape.len() / channels,
                    eps,
                    momentum,
                    buffer: 0,
                    counter: 0,
                };
                let params = if affine { channels } else { 0 };
                (Op::BatchNorm(bn), shape, params, affine.then_some(channels), None, 0, 0)
            }
            LayerSpec::LayerNorm { eps, elementwise_affine, bias } => {
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(SpecError::InvalidEps { layer });
                }
                let n = shape.len();
                let op = Op::LayerNorm(LayerNorm { n, eps });
                let (w, b) = if elementwise_affine { (n, (bias).then_some(n)) } else { (0, None) };
                (op, shape, w, b, None, n, n)
            }
            LayerSpec::Dropout { p } => {
                if !(0.0..1.0).contains(&p) {
                    return Err(SpecError::InvalidDropout { layer });
                }
                (Op::Dropout(Dropout { p, layer }), shape, 0, None, None, 0, 0)
            }
            LayerSpec::Recurrent { cell, hidden, bias, sequence } => {
                let &[steps, inputs] = shape.dims() else {
                    return Err(SpecError::WrongInputRank { layer, kind, expected: "[T, F]", found: shape.rank });
                };
                if hidden == 0 {
                    return Err(SpecError::ZeroWidth { layer });
                }
                let r = Recurrent { cell, steps, inputs, hidden, sequence };
                let out = if sequence { Shape::new(&[steps, hidden]) } else { Shape::new(&[hidden]) };
                let gh = cell.gates() * hidden;
                (
                    Op::Recurrent(r),
                    out,
                    r.weight_len(),
                    bias.then_some(r.bias_len()),
                    Some(Init::TorchDefault),
                    hidden,
                    gh,
                )
            }
        };
        let aux_len = match op {
            Op::Recurrent(r) => r.aux_len(),
            _ => 0,
        };
        Ok(Self {
            op,
            output,
            weight: offset,
            weight_len,
            bias: bias_len.map(|_| offset + weight_len),
            bias_len: bias_len.unwrap_or(0),
            init,
            fan_in,
            fan_out,
            slot,
            aux: (aux, aux + aux_len),
        })
    }

    #[inline]
    fn weight_range(&self) -> Range<usize> {
        self.weight..self.weight + self.weight_len
    }

    #[inline]
    fn bias_range(&self) -> Option<Range<usize>> {
        self.bias.map(|b| b..b + self.bias_len)
    }

    /// Where the next layer's parameters start.
    #[inline]
    fn params_end(&self) -> usize {
        self.weight + self.weight_len + self.bias_len
    }

    #[inline]
    fn out_len(&self) -> usize {
        self.output.len()
    }

    #[inline]
    fn slot_range(&self) -> Range<usize> {
        self.slot..self.slot + self.out_len()
    }

    /// The activation of a dense or convolution layer.
    #[inline]
    fn act(&self) -> Option<Act<T>> {
        match self.op {
            Op::Dense(_, act) | Op::Conv(_, act) | Op::SeqDense(_, act) => Some(act),
            _ => None,
        }
    }

    /// Computes the layer on `x` into `z` (layers with an activation) and `y`.
    /// Batch norm reads the running statistics in `buffers` (inference); dropout draws
    /// the mask of `sample` under `state` (`None`: inference); a recurrent layer keeps
    /// its steps in `aux`.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        params: &[T],
        buffers: &[T],
        x: &[T],
        z: &mut [T],
        y: &mut [T],
        aux: &mut [T],
        state: u64,
        sample: Option<usize>,
    ) {
        let w = &params[self.weight_range()];
        let b = self.bias_range().map(|r| &params[r]);
        match self.op {
            Op::BatchNorm(bn) => bn.inference(b.map(|b| (w, b)), buffers, x, y),
            Op::Dense(d, act) => {
                d.forward(w, b, x, z);
                act.forward(z, y);
            }
            Op::Conv(c, act) => {
                c.forward(w, b, x, z);
                act.forward(z, y);
            }
            Op::MaxPool(p) => p.max_forward(x, y),
            Op::AvgPool(p) => p.avg_forward(x, y),
            Op::GlobalAvgPool(g) => g.forward(x, y),
            Op::Flatten => flatten::forward(x, y),
            Op::LayerNorm(n) => n.forward((self.weight_len > 0).then_some(w), b, x, y),
            Op::Dropout(d) => d.forward(state, sample, x, z, y),
            Op::Recurrent(r) => r.forward(w, b, x, y, aux),
            Op::SeqDense(d, act) => {
                d.forward(w, b, x, z);
                act.forward(z, y);
            }
        }
    }

    /// Adds `scale·∂L/∂θ` of this layer into `grad` (the whole gradient vector), given
    /// its input `x` and `dz`, the error on its output before any activation.
    fn accumulate_param_grad(&self, x: &[T], dz: &[T], scale: T, grad: &mut [T]) {
        let (gw, gb) = grad[self.weight..self.params_end()].split_at_mut(self.weight_len);
        let gb = self.bias.map(|_| gb);
        match self.op {
            Op::Dense(d, _) => d.accumulate_param_grad(x, dz, scale, gw, gb),
            Op::SeqDense(d, _) => d.accumulate_param_grad(x, dz, scale, gw, gb),
            Op::Conv(c, _) => c.accumulate_param_grad(x, dz, scale, gw, gb),
            Op::BatchNorm(_) => panic!("{PER_SAMPLE}"),
            Op::LayerNorm(n) => {
                if self.weight_len > 0 {
                    n.accumulate_param_grad(x, dz, scale, gw, gb);
                }
            }
            // Backpropagation through time gives both gradients at once: `run_backward`.
            Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::GlobalAvgPool(_)
            | Op::Flatten
            | Op::Dropout(_)
            | Op::Recurrent(_) => {}
        }
    }

    /// Adds `factor·∂L/∂x` into `dx`, given the layer's input `x`, its own
    /// pre-activation slot `z` (a dropout's mask) and `dz`.
    fn accumulate_input_grad(&self, params: &[T], x: &[T], z: &[T], dz: &[T], factor: T, dx: &mut [T]) {
        let w = &params[self.weight_range()];
        match self.op {
            Op::Dense(d, _) => d.accumulate_input_grad(w, dz, factor, dx),
            Op::SeqDense(d, _) => d.accumulate_input_grad(w, dz, factor, dx),
            Op::Conv(c, _) => c.accumulate_input_grad(w, dz, factor, dx),
            Op::MaxPool(p) => p.max_backward(x, dz, factor, dx),
            Op::AvgPool(p) => p.avg_backward(dz, factor, dx),
            Op::GlobalAvgPool(g) => g.backward(dz, factor, dx),
            Op::Flatten => flatten::backward(dz, factor, dx),
            Op::BatchNorm(_) => panic!("{PER_SAMPLE}"),
            Op::LayerNorm(n) => n.accumulate_input_grad((self.weight_len > 0).then_some(w), x, dz, factor, dx),
            Op::Dropout(_) => Dropout::backward(z, dz, factor, dx),
            Op::Recurrent(_) => {}
        }
    }
}

/// The message of a per-sample training call on a network with batch normalization.
const PER_SAMPLE: &str =
    "a network with batch normalization trains on whole mini-batches: use `batch_backward` or `train_batch`";

/// A network of dense, convolution, pooling and flatten layers defined at run time: the
/// reference implementation for generated networks, and their benchmark baseline.
///
/// Methods that run the network take `&mut self` because they write the scratch
/// buffers the network owns; nothing is allocated after construction.
#[derive(Clone, Debug)]
pub struct DynamicNet<T> {
    input: Shape,
    specs: Vec<LayerSpec>,
    loss_kind: Loss,
    layers: Vec<Layer<T>>,
    /// The output layer's activation, which the loss reads.
    output_act: Act<T>,
    loss: LossFn<T>,
    params: Vec<T>,
    /// Pre-activations of every layer, back to back at each layer's `slot` (unused for
    /// layers without an activation).
    z: Vec<T>,
    /// Outputs of every layer, laid out as `z`.
    y: Vec<T>,
    /// `∂L/∂y`, turned into `∂L/∂z` in place, laid out as `z`.
    delta: Vec<T>,
    /// The gradient buffer of `train_step` and `train_batch`.
    grad: Vec<T>,
    /// Float buffers (batch norm running statistics), layer by layer.
    buffers: Vec<T>,
    /// Integer buffers (`num_batches_tracked`), layer by layer.
    counters: Vec<i64>,
    /// The state dropout masks are drawn from ([`crate::dropout`]).
    dropout_state: u64,
    /// The layers' own scratch (recurrent layers' steps), at each layer's `aux`.
    aux: Vec<T>,
}

impl<T: Scalar> DynamicNet<T> {
    /// A network with `input` inputs (a vector), the given layers and loss, and all
    /// parameters 0: [`with_shape`](Self::with_shape) with the shape `[input]`.
    ///
    /// Call [`init_seeded`](Self::init_seeded) (or use [`seeded`](Self::seeded)) before
    /// training: zero weights never break the symmetry between units.
    ///
    /// # Errors
    /// [`SpecError`] for an input or layer width of 0, no layers, a non-finite activation
    /// parameter, a Huber δ that is not finite and positive, cross-entropy without a
    /// softmax output, binary cross-entropy without a sigmoid output, or any rule of
    /// [`with_shape`](Self::with_shape).
    pub fn new(input: usize, layers: &[LayerSpec], loss: Loss) -> Result<Self, SpecError> {
        Self::with_shape(&[input], layers, loss)
    }

    /// A network on inputs of shape `shape` — `[N]`, `[C, L]` or `[C, H, W]`, given to
    /// every method flat and row-major — with the given layers and loss, and all
    /// parameters 0.
    ///
    /// # Errors
    /// [`SpecError`], checked in this order: the input shape (rank 1 to 3, no size 0);
    /// no layers; then layer by layer, its input rank (a dense layer needs a vector,
    /// `Flatten` makes one; `Conv1d` and the 1-D pools need `[C, L]`; `Conv2d` and the
    /// 2-D pools `[C, H, W]`), sizes, strides and dilations of 0, pool padding over half
    /// the kernel, a kernel spanning more than the padded input, a non-finite activation
    /// parameter, softmax on a convolution; an output layer without an activation; then
    /// the loss rules of [`new`](Self::new).
    pub fn with_shape(shape: &[usize], layers: &[LayerSpec], loss: Loss) -> Result<Self, SpecError> {
        let input = check_input_shape(shape)?;
        if layers.is_empty() {
            return Err(SpecError::NoLayers);
        }
        let mut resolved = Vec::with_capacity(layers.len());
        let (mut shape, mut offset, mut slot, mut aux) = (input, 0, 0, 0);
        // The previous layer's output is a sequence of steps: every step's recurrent
        // state, a per-step dense layer's output, or dropout on either.
        let mut sequence = false;
        for (l, spec) in layers.iter().enumerate() {
            let layer = Layer::<T>::resolve(l, spec, shape, sequence, offset, slot, aux)?;
            sequence = match layer.op {
                Op::Recurrent(r) => r.sequence,
                Op::SeqDense(..) => true,
                Op::Dropout(_) => sequence,
                _ => false,
            };
            (shape, offset, slot, aux) = (layer.output, layer.params_end(), slot + layer.out_len(), layer.aux.1);
            resolved.push(layer);
        }
        let (mut nbuf, mut ncnt) = (0, 0);
        for layer in &mut resolved {
            if let Op::BatchNorm(bn) = &mut layer.op {
                (bn.buffer, bn.counter) = (nbuf, ncnt);
                nbuf += 2 * bn.channels;
                ncnt += 1;
            }
        }
        if let Some(bn) = resolved.iter().position(|l| matches!(l.op, Op::BatchNorm(_)))
            && resolved.iter().any(|l| matches!(l.op, Op::Recurrent(_)))
        {
            return Err(SpecError::BatchNormWithRecurrent { layer: bn });
        }
        let output = &layers[layers.len() - 1];
        let (Some(activation), Some(output_act)) = (output.activation(), resolved[resolved.len() - 1].act()) else {
            return Err(SpecError::OutputWithoutActivation { kind: output.name() });
        };
        check_loss(loss, activation)?;
        Ok(Self {
            input,
            specs: layers.to_vec(),
            loss_kind: loss,
            layers: resolved,
            output_act,
            loss: LossFn::new(loss),
            params: vec![T::ZERO; offset],
            z: vec![T::ZERO; slot],
            y: vec![T::ZERO; slot],
            delta: vec![T::ZERO; slot],
            grad: vec![T::ZERO; offset],
            buffers: vec![T::ZERO; nbuf],
            counters: vec![0; ncnt],
            dropout_state: 0,
            aux: vec![T::ZERO; aux],
        }
        .with_default_buffers())
    }

    /// [`new`](Self::new) followed by [`init_seeded`](Self::init_seeded).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn seeded(input: usize, layers: &[LayerSpec], loss: Loss, seed: u64) -> Result<Self, SpecError> {
        Self::seeded_with_shape(&[input], layers, loss, seed)
    }

    /// [`with_shape`](Self::with_shape) followed by [`init_seeded`](Self::init_seeded).
    ///
    /// # Errors
    /// As [`with_shape`](Self::with_shape).
    pub fn seeded_with_shape(shape: &[usize], layers: &[LayerSpec], loss: Loss, seed: u64) -> Result<Self, SpecError> {
        let mut net = Self::with_shape(shape, layers, loss)?;
        net.init_seeded(seed);
        Ok(net)
    }

    /// Number of inputs (the product of the input shape).
    #[inline]
    #[must_use]
    pub fn input_len(&self) -> usize {
        self.input.len()
    }

    /// The input shape as given to [`with_shape`](Self::with_shape) (`[input]` for
    /// [`new`](Self::new)).
    #[inline]
    #[must_use]
    pub fn input_shape(&self) -> &[usize] {
        self.input.dims()
    }

    /// Number of outputs (the size of the last layer's output).
    #[inline]
    #[must_use]
    pub fn output_len(&self) -> usize {
        self.last().out_len()
    }

    /// The shape of layer `layer`'s output, such as `[out_channels, OH, OW]` for a 2-D
    /// convolution or `[width]` for a dense layer.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn output_shape(&self, layer: usize) -> &[usize] {
        self.layers[layer].output.dims()
    }

    /// The layers as given to [`new`](Self::new).
    #[inline]
    #[must_use]
    pub fn layers(&self) -> &[LayerSpec] {
        &self.specs
    }

    /// The loss as given to [`new`](Self::new).
    #[inline]
    #[must_use]
    pub fn loss_kind(&self) -> Loss {
        self.loss_kind
    }

    /// Number of parameters.
    #[inline]
    #[must_use]
    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    /// All parameters in one flat slice, in the layout of the generated networks.
    #[inline]
    #[must_use]
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// All parameters, mutably.
    #[inline]
    #[must_use]
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    /// Copies `params` into the network.
    ///
    /// # Errors
    /// [`ParamCountError`] if `params.len()` is not [`param_count`](Self::param_count);
    /// the network is then unchanged.
    pub fn set_params(&mut self, params: &[T]) -> Result<(), ParamCountError> {
        if params.len() != self.params.len() {
            return Err(ParamCountError { expected: self.params.len(), found: params.len() });
        }
        self.params.copy_from_slice(params);
        Ok(())
    }

    /// Where layer `layer`'s weight lies in the parameters: `[out][in]` row-major for a
    /// dense layer, `[out][in][kh][kw]` (`[out][in][k]`) for a convolution. For a layer
    /// without parameters (a pool or a flatten), the empty range where the next layer's
    /// parameters start.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn weight_range(&self, layer: usize) -> Range<usize> {
        self.layers[layer].weight_range()
    }

    /// Where layer `layer`'s bias lies in the parameters, or `None` without a bias (and
    /// for a layer without parameters).
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn bias_range(&self, layer: usize) -> Option<Range<usize>> {
        self.layers[layer].bias_range()
    }

    /// Initializes the parameters from a [`SplitMix64`] seeded with `seed`; see
    /// [`init_with`](Self::init_with).
    pub fn init_seeded(&mut self, seed: u64) {
        self.init_with(&mut SplitMix64::new(seed));
    }

    /// Initializes the parameters from `rng`, layer by layer, skipping layers without
    /// parameters.
    ///
    /// For each layer, `init.fill(&mut params[weight_range], fan_in, fan_out, rng)` draws
    /// the weight row-major, then, if the layer has a bias,
    /// `init.fill_bias(&mut params[bias_range], fan_in, fan_out, rng)` draws it (for
    /// [`Init::TorchDefault`]) or zeroes it (Glorot, He) — the calls generated networks
    /// make, so the same seed gives a generated network of the same spec the same
    /// parameters. `init` is the layer's override, else [`Activation::init`] for a dense
    /// layer (fan-in its inputs, fan-out its width) and [`Init::TorchDefault`] for a
    /// convolution (fan-in `in_channels·kh·kw`, fan-out `out_channels·kh·kw`).
    pub fn init_with<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.reset_running_stats();
        for layer in &self.layers {
            if let Op::BatchNorm(_) | Op::LayerNorm(_) = layer.op {
                // γ = 1, β = 0, as PyTorch's `reset_parameters` of both; nothing drawn.
                self.params[layer.weight_range()].fill(T::ONE);
                if let Some(b) = layer.bias_range() {
                    self.params[b].fill(T::ZERO);
                }
                continue;
            }
            let Some(init) = layer.init else { continue };
            init.fill(&mut self.params[layer.weight_range()], layer.fan_in, layer.fan_out, rng);
            if let Some(b) = layer.bias_range() {
                init.fill_bias(&mut self.params[b], layer.fan_in, layer.fan_out, rng);
            }
        }
        // As generated networks: with dropout, the state is the next draw after the
        // parameters.
        if self.layers.iter().any(|l| matches!(l.op, Op::Dropout(_))) {
            self.dropout_state = rng.next_u64();
        }
    }

    /// Sets the state dropout masks are drawn from ([`crate::dropout`]); as a generated
    /// network's `set_dropout_seed`.
    #[inline]
    pub fn set_dropout_seed(&mut self, seed: u64) {
        self.dropout_state = seed;
    }

    /// The current dropout state: `train_step` and `train_batch` move it on after every
    /// step, as a generated network's training methods do.
    #[inline]
    #[must_use]
    pub fn dropout_state(&self) -> u64 {
        self.dropout_state
    }

    /// Runs the network on `x`; returns the output, which lives in the network's scratch
    /// until the next call.
    ///
    /// # Panics
    /// If `x.len()` is not [`input_len`](Self::input_len).
    #[track_caller]
    pub fn forward(&mut self, x: &[T]) -> &[T] {
        self.check_input(x);
        self.run_forward(x, None);
        let last = self.last();
        &self.y[last.slot_range()]
    }

    /// Runs the network on `x` and copies the output into `out`.
    ///
    /// # Panics
    /// If `x.len()` is not [`input_len`](Self::input_len) or `out.len()` is not
    /// [`output_len`](Self::output_len).
    #[track_caller]
    pub fn forward_into(&mut self, x: &[T], out: &mut [T]) {
        let y = self.forward(x);
        assert_eq!(out.len(), y.len(), "output buffer holds {}, the network has {} outputs", out.len(), y.len());
        out.copy_from_slice(y);
    }

    /// Batched inference over row-major batches: sample `i`'s output, from the input
    /// `xs[i·input_len..]`, goes to `out[i·output_len..]`, one sample at a time (the
    /// counterpart of the generated networks' `forward_batch`).
    ///
    /// # Panics
    /// If `xs.len()` is not a multiple of [`input_len`](Self::input_len), or `out`
    /// does not hold [`output_len`](Self::output_len) values per sample.
    #[track_caller]
    pub fn forward_batch(&mut self, xs: &[T], out: &mut [T]) {
        let (ni, no) = (self.input_len(), self.output_len());
        assert!(xs.len().is_multiple_of(ni), "batch inputs hold {}, not a multiple of {ni} inputs", xs.len());
        let n = xs.len() / ni;
        assert_eq!(out.len(), n * no, "output buffer holds {}, {n} samples have {} outputs", out.len(), n * no);
        for (x, y) in xs.chunks_exact(ni).zip(out.chunks_exact_mut(no)) {
            self.forward_into(x, y);
        }
    }

    /// Layer `layer`'s pre-activation from the last forward pass: `z = W·x + b` for a
    /// dense layer, the convolution before its activation; for a layer without an
    /// activation (a pool or a flatten), its output.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn pre_activations(&self, layer: usize) -> &[T] {
        let l = &self.layers[layer];
        if l.act().is_some() { &self.z[l.slot_range()] } else { &self.y[l.slot_range()] }
    }

    /// Layer `layer`'s output (`y = f(z)` for a layer with an activation) from the last
    /// forward pass, flat and row-major in the shape [`output_shape`](Self::output_shape).
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn activations(&self, layer: usize) -> &[T] {
        &self.y[self.layers[layer].slot_range()]
    }

    /// The loss of one sample, in training mode (dropout with the masks of sample 0).
    ///
    /// # Panics
    /// If `x` or `t` has the wrong length.
    #[track_caller]
    pub fn loss(&mut self, x: &[T], t: &[T]) -> T {
        self.check_sample(x, t);
        self.loss_at(x, t, Some(0))
    }

    fn loss_at(&mut self, x: &[T], t: &[T], sample: Option<usize>) -> T {
        self.run_forward(x, sample);
        let r = self.last().slot_range();
        // The loss writes its error into `delta` as a by-product; that is scratch.
        self.loss.eval(self.output_act, &self.z[r.clone()], &self.y[r.clone()], t, &mut self.delta[r])
    }

    /// The mean loss over a batch stored row-major: `xs` holds the inputs one sample after
    /// another, `ts` the targets, in inference mode (dropout is the identity). An empty
    /// batch gives 0.
    ///
    /// # Panics
    /// If the lengths of `xs` and `ts` are not whole, equal numbers of samples.
    #[track_caller]
    pub fn mean_loss(&mut self, xs: &[T], ts: &[T]) -> T {
        let n = self.batch_len(xs, ts);
        if n == 0 {
            return T::ZERO;
        }
        let (ni, no) = (self.input_len(), self.output_len());
        let mut sum = T::ZERO;
        for (x, t) in xs.chunks_exact(ni).zip(ts.chunks_exact(no)) {
            sum += self.loss_at(x, t, None);
        }
        sum / T::from_usize(n)
    }

    /// Forward and backward on one sample: adds `scale·∂L/∂θ` into `grad` and, if given,
    /// `scale·∂L/∂x` into `input_grad`; returns the loss `L`.
    ///
    /// # Panics
    /// If `x`, `t`, `grad` or `input_grad` has the wrong length.
    #[track_caller]
    pub fn accumulate_gradient(
        &mut self,
        x: &[T],
        t: &[T],
        scale: T,
        grad: &mut [T],
        input_grad: Option<&mut [T]>,
    ) -> T {
        self.check_sample(x, t);
        assert_eq!(
            grad.len(),
            self.params.len(),
            "gradient buffer holds {}, the network has {} parameters",
            grad.len(),
            self.params.len()
        );
        if let Some(dx) = &input_grad {
            self.check_input_grad(dx);
        }
        self.run_forward(x, Some(0));
        self.run_backward(x, t, scale, grad, input_grad)
    }

    /// Writes `∂L/∂x` for one sample into `input_grad` (overwriting it); returns the loss.
    ///
    /// # Panics
    /// If `x`, `t` or `input_grad` has the wrong length.
    #[track_caller]
    pub fn input_gradient(&mut self, x: &[T], t: &[T], input_grad: &mut [T]) -> T {
        self.check_sample(x, t);
        self.check_input_grad(input_grad);
        input_grad.fill(T::ZERO);
        // The parameter gradient is computed too; the training buffer takes it. `take`
        // leaves an empty `Vec` behind, which does not allocate, and every check that
        // could panic has run, so the buffer is always put back.
        let mut grad = core::mem::take(&mut self.grad);
        self.run_forward(x, Some(0));
        let loss = self.run_backward(x, t, T::ONE, &mut grad, Some(input_grad));
        self.grad = grad;
        loss
    }

    /// One optimizer step on one sample; returns the loss before the step.
    ///
    /// # Panics
    /// If `x` or `t` has the wrong length.
    #[track_caller]
    pub fn train_step<O: Optimizer<[T]> + ?Sized>(&mut self, x: &[T], t: &[T], opt: &mut O) -> T {
        self.check_sample(x, t);
        let mut grad = core::mem::take(&mut self.grad);
        grad.fill(T::ZERO);
        self.run_forward(x, Some(0));
        let loss = self.run_backward(x, t, T::ONE, &mut grad, None);
        opt.step(&mut self.params, &grad);
        self.grad = grad;
        self.dropout_state = crate::dropout::next_state(self.dropout_state);
        loss
    }

    /// Writes the mean gradient over a row-major batch into `grad` (overwriting it);
    /// returns the mean loss. An empty batch gives a zero gradient and 0.
    ///
    /// # Panics
    /// If the lengths of `xs` and `ts` are not whole, equal numbers of samples, or `grad`
    /// has the wrong length.
    #[track_caller]
    pub fn batch_gradient(&mut self, xs: &[T], ts: &[T], grad: &mut [T]) -> T {
        if self.has_batch_norm() {
            return self.batch_pass(xs, ts, Some(grad), None, true);
        }
        let n = self.batch_len(xs, ts);
        grad.fill(T::ZERO);
        if n == 0 {
            return T::ZERO;
        }
        let scale = T::ONE / T::from_usize(n);
        let (ni, no) = (self.input_len(), self.output_len());
        let mut loss = T::ZERO;
        assert_eq!(
            grad.len(),
            self.params.len(),
            "gradient buffer holds {}, the network has {} parameters",
            grad.len(),
            self.params.len()
        );
        for (i, (x, t)) in xs.chunks_exact(ni).zip(ts.chunks_exact(no)).enumerate() {
            // Sample `i` draws the dropout masks of sample `i`.
            self.run_forward(x, Some(i));
            loss += self.run_backward(x, t, scale, grad, None);
        }
        loss * scale
    }

    /// One optimizer step on a row-major mini-batch with the mean gradient; returns the
    /// mean loss before the step. An empty batch changes nothing and returns 0.
    ///
    /// # Panics
    /// If the lengths of `xs` and `ts` are not whole, equal numbers of samples.
    #[track_caller]
    pub fn train_batch<O: Optimizer<[T]> + ?Sized>(&mut self, xs: &[T], ts: &[T], opt: &mut O) -> T {
        if self.batch_len(xs, ts) == 0 {
            return T::ZERO;
        }
        let mut grad = core::mem::take(&mut self.grad);
        let loss = self.batch_gradient(xs, ts, &mut grad);
        opt.step(&mut self.params, &grad);
        self.grad = grad;
        self.dropout_state = crate::dropout::next_state(self.dropout_state);
        loss
    }

    /// The float buffers (running means and variances, layer by layer).
    #[must_use]
    pub fn buffers(&self) -> &[T] {
        &self.buffers
    }

    /// The float buffers, mutably.
    #[must_use]
    pub fn buffers_mut(&mut self) -> &mut [T] {
        &mut self.buffers
    }

    /// The integer buffers (`num_batches_tracked` of each batch norm layer).
    #[must_use]
    pub fn counters(&self) -> &[i64] {
        &self.counters
    }

    /// Running means 0, variances 1, no batch tracked.
    pub fn reset_running_stats(&mut self) {
        for layer in &self.layers {
            if let Op::BatchNorm(bn) = layer.op {
                self.buffers[bn.buffer..bn.buffer + bn.channels].fill(T::ZERO);
                self.buffers[bn.buffer + bn.channels..bn.buffer + 2 * bn.channels].fill(T::ONE);
                self.counters[bn.counter] = 0;
            }
        }
    }

    fn with_default_buffers(mut self) -> Self {
        self.reset_running_stats();
        self
    }

    fn has_batch_norm(&self) -> bool {
        self.layers.iter().any(|l| matches!(l.op, Op::BatchNorm(_)))
    }

    /// The mean loss of a row-major mini-batch in training mode (batch statistics),
    /// running statistics unchanged.
    ///
    /// # Panics
    /// As [`batch_backward`](Self::batch_backward).
    #[track_caller]
    pub fn batch_loss(&mut self, xs: &[T], ts: &[T]) -> T {
        self.batch_pass(xs, ts, None, None, false)
    }

    /// The gradient of the mean loss of a row-major mini-batch in training mode, layer by
    /// layer over the whole batch (batch norm with the batch's statistics), written over
    /// `grad`, and `∂L/∂x` of every sample over `input_grad` if given; running statistics
    /// unchanged. Returns the mean loss. Allocates the batch's activations per call.
    ///
    /// # Panics
    /// If the lengths are wrong, or a batch norm layer sees one value per channel.
    #[track_caller]
    pub fn batch_backward(&mut self, xs: &[T], ts: &[T], grad: &mut [T], input_grad: Option<&mut [T]>) -> T {
        self.batch_pass(xs, ts, Some(grad), input_grad, false)
    }

    /// The mini-batch pass: forward layer by layer over the batch, then backward.
    #[track_caller]
    fn batch_pass(
        &mut self,
        xs: &[T],
        ts: &[T],
        mut grad: Option<&mut [T]>,
        mut input_grad: Option<&mut [T]>,
        update: bool,
    ) -> T {
        let n = self.batch_len(xs, ts);
        if let Some(g) = grad.as_deref_mut() {
            assert_eq!(g.len(), self.params.len(), "gradient buffer holds {}", g.len());
            g.fill(T::ZERO);
        }
        if let Some(dx) = input_grad.as_deref_mut() {
            assert_eq!(dx.len(), xs.len(), "input gradients hold {}, the batch {}", dx.len(), xs.len());
            dx.fill(T::ZERO);
        }
        if n == 0 {
            return T::ZERO;
        }
        let no = self.output_len();
        let layers = self.layers.clone();
        let lens: Vec<usize> = layers.iter().map(Layer::out_len).collect();
        let mut zs: Vec<Vec<T>> = lens.iter().map(|&k| vec![T::ZERO; n * k]).collect();
        let mut ys: Vec<Vec<T>> = lens.iter().map(|&k| vec![T::ZERO; n * k]).collect();
        // Batch norm's mean and variance per layer (empty for other layers).
        let mut stats: Vec<(Vec<T>, Vec<T>)> = Vec::new();
        for (l, layer) in layers.iter().enumerate() {
            let (before, rest) = ys.split_at_mut(l);
            let input: &[T] = if l == 0 { xs } else { &before[l - 1] };
            let k_in = input.len() / n;
            match layer.op {
                Op::BatchNorm(bn) => {
                    let (mut mean, mut var) = (vec![T::ZERO; bn.channels], vec![T::ZERO; bn.channels]);
                    let gb = layer.bias_range().map(|b| (&self.params[layer.weight_range()], &self.params[b]));
                    let running = update.then(|| {
                        (&mut self.buffers[bn.buffer..bn.buffer + 2 * bn.channels], &mut self.counters[bn.counter])
                    });
                    bn.train_forward(n, gb, input, &mut zs[l], &mut rest[0], &mut mean, &mut var, running);
                    stats.push((mean, var));
                }
                _ => {
                    for s in 0..n {
                        let k = lens[l];
                        layer.forward(
                            &self.params,
                            &self.buffers,
                            &input[s * k_in..(s + 1) * k_in],
                            &mut zs[l][s * k..(s + 1) * k],
                            &mut rest[0][s * k..(s + 1) * k],
                            &mut self.aux[layer.aux.0..layer.aux.1],
                            self.dropout_state,
                            Some(s),
                        );
                    }
                    stats.push((Vec::new(), Vec::new()));
                }
            }
        }
        let top = layers.len() - 1;
        let mut ds: Vec<Vec<T>> = lens.iter().map(|&k| vec![T::ZERO; n * k]).collect();
        let mut loss = T::ZERO;
        for s in 0..n {
            let r = s * no..(s + 1) * no;
            loss += self.loss.eval(
                self.output_act,
                &zs[top][r.clone()],
                &ys[top][r.clone()],
                &ts[r.clone()],
                &mut ds[top][r],
            );
        }
        let scale = T::ONE / T::from_usize(n);
        let Some(grad) = grad else { return loss * scale };
        for l in (0..=top).rev() {
            let layer = &layers[l];
            let input: &[T] = if l == 0 { xs } else { &ys[l - 1] };
            let k_in = input.len() / n;
            let k = lens[l];
            let (below, here) = ds.split_at_mut(l);
            let mut dx = vec![T::ZERO; n * k_in];
            match layer.op {
                Op::BatchNorm(bn) => {
                    let gamma = layer.bias_range().map(|_| &self.params[layer.weight_range()]);
                    let grads = layer.bias_range().map(|_| {
                        let (gw, gb) = grad[layer.weight..layer.params_end()].split_at_mut(layer.weight_len);
                        (gw, gb)
                    });
                    let (mean, var) = &stats[l];
                    bn.backward(n, gamma, input, &zs[l], mean, var, &here[0], scale, grads, &mut dx);
                }
                _ => {
                    for s in 0..n {
                        let xin = &input[s * k_in..(s + 1) * k_in];
                        let dz = &here[0][s * k..(s + 1) * k];
                        layer.accumulate_param_grad(xin, dz, scale, grad);
                        let zin = &zs[l][s * k..(s + 1) * k];
                        layer.accumulate_input_grad(
                            &self.params,
                            xin,
                            zin,
                            dz,
                            T::ONE,
                            &mut dx[s * k_in..(s + 1) * k_in],
                        );
                    }
                }
            }
            if l > 0 {
                let b = &layers[l - 1];
                if let Some(act) = b.act() {
                    let kb = lens[l - 1];
                    for s in 0..n {
                        let r = s * kb..(s + 1) * kb;
                        act.backward(&zs[l - 1][r.clone()], &ys[l - 1][r.clone()], &mut dx[r]);
                    }
                }
                below[l - 1].copy_from_slice(&dx);
            } else if let Some(gx) = input_grad.as_deref_mut() {
                for (g, d) in gx.iter_mut().zip(&dx) {
                    *g += scale * *d;
                }
            }
        }
        loss * scale
    }

    #[inline]
    fn last(&self) -> &Layer<T> {
        // `with_shape` rejects a spec without layers.
        &self.layers[self.layers.len() - 1]
    }

    #[track_caller]
    fn check_input(&self, x: &[T]) {
        let n = self.input_len();
        assert_eq!(x.len(), n, "input holds {}, the network has {n} inputs", x.len());
    }

    #[track_caller]
    fn check_sample(&self, x: &[T], t: &[T]) {
        self.check_input(x);
        let n = self.output_len();
        assert_eq!(t.len(), n, "target holds {}, the network has {} outputs", t.len(), n);
    }

    #[track_caller]
    fn check_input_grad(&self, dx: &[T]) {
        let n = self.input_len();
        assert_eq!(dx.len(), n, "input gradient holds {}, the network has {n} inputs", dx.len());
    }

    /// Number of samples in a row-major batch.
    #[track_caller]
    fn batch_len(&self, xs: &[T], ts: &[T]) -> usize {
        let (ni, no) = (self.input_len(), self.output_len());
        assert!(xs.len().is_multiple_of(ni), "batch inputs hold {}, not a multiple of {ni} inputs", xs.len());
        assert!(ts.len().is_multiple_of(no), "batch targets hold {}, not a multiple of {no} outputs", ts.len());
        let n = xs.len() / ni;
        assert_eq!(n, ts.len() / no, "batch has {n} inputs but {} targets", ts.len() / no);
        n
    }

    /// Fills `z` and `y` of every layer for input `x` (lengths already checked); dropout
    /// with the masks of `sample` (`None`: inference).
    fn run_forward(&mut self, x: &[T], sample: Option<usize>) {
        let mut prev: Option<Range<usize>> = None;
        for layer in &self.layers {
            // Layers' slots are consecutive, so the previous layer's output lies wholly
            // before this layer's slot and both can be borrowed at once.
            let (done, rest) = self.y.split_at_mut(layer.slot);
            let input = match &prev {
                Some(r) => &done[r.clone()],
                None => x,
            };
            let n = layer.out_len();
            let z = &mut self.z[layer.slot_range()];
            let aux = &mut self.aux[layer.aux.0..layer.aux.1];
            layer.forward(&self.params, &self.buffers, input, z, &mut rest[..n], aux, self.dropout_state, sample);
            prev = Some(layer.slot_range());
        }
    }

    /// Backward over the scratch filled by [`run_forward`](Self::run_forward).
    fn run_backward(&mut self, x: &[T], t: &[T], scale: T, grad: &mut [T], mut input_grad: Option<&mut [T]>) -> T {
        let r = self.last().slot_range();
        let loss = self.loss.eval(self.output_act, &self.z[r.clone()], &self.y[r.clone()], t, &mut self.delta[r]);

        for (l, layer) in self.layers.iter().enumerate().rev() {
            let below = l.checked_sub(1).map(|k| &self.layers[k]);
            let input = match below {
                Some(b) => &self.y[b.slot_range()],
                None => x,
            };
            let (before, here) = self.delta.split_at_mut(layer.slot);
            // ∂L/∂z of a layer with an activation, ∂L/∂y of one without.
            let dz = &here[..layer.out_len()];
            if let Op::Recurrent(r) = layer.op {
                let (gw, gb) = grad[layer.weight..layer.params_end()].split_at_mut(layer.weight_len);
                let gb = layer.bias.map(|_| gb);
                let w = &self.params[layer.weight_range()];
                let aux = &mut self.aux[layer.aux.0..layer.aux.1];
                match below {
                    Some(b) => {
                        let br = b.slot_range();
                        let dy = &mut before[br.clone()];
                        dy.fill(T::ZERO);
                        r.backward(w, input, dz, scale, gw, gb, Some((dy, T::ONE)), aux);
                        if let Some(act) = b.act() {
                            act.backward(&self.z[br.clone()], &self.y[br], dy);
                        }
                    }
                    None => {
                        let dx = input_grad.as_deref_mut().map(|dx| (dx, scale));
                        r.backward(w, x, dz, scale, gw, gb, dx, aux);
                    }
                }
                continue;
            }
            layer.accumulate_param_grad(input, dz, scale, grad);
            match below {
                Some(b) => {
                    let br = b.slot_range();
                    let dy = &mut before[br.clone()];
                    dy.fill(T::ZERO);
                    layer.accumulate_input_grad(&self.params, input, &self.z[layer.slot_range()], dz, T::ONE, dy);
                    if let Some(act) = b.act() {
                        act.backward(&self.z[br.clone()], &self.y[br], dy);
                    }
                }
                None => {
                    if let Some(dx) = input_grad.as_deref_mut() {
                        layer.accumulate_input_grad(&self.params, x, &self.z[layer.slot_range()], dz, scale, dx);
                    }
                }
            }
        }
        loss
    }
}

/// The input shape's rules.
fn check_input_shape(shape: &[usize]) -> Result<Shape, SpecError> {
    if shape.is_empty() || shape.len() > 3 {
        return Err(SpecError::InputRank { rank: shape.len() });
    }
    if let Some(dim) = shape.iter().position(|&d| d == 0) {
        return Err(if shape.len() == 1 { SpecError::ZeroInput } else { SpecError::ZeroInputDim { dim } });
    }
    Ok(Shape::new(shape))
}

/// A leaky-relu slope or ELU α must be finite.
fn check_activation(layer: usize, activation: Activation) -> Result<(), SpecError> {
    if let Activation::LeakyRelu(p) | Activation::Elu(p) = activation
        && !p.is_finite()
    {
        return Err(SpecError::InvalidActivation { layer, activation });
    }
    Ok(())
}

/// [`check_activation`], and no softmax on a convolution.
fn check_conv_activation(layer: usize, activation: Activation) -> Result<(), SpecError> {
    check_activation(layer, activation)?;
    if activation == Activation::Softmax {
        return Err(SpecError::SoftmaxOnConv { layer });
    }
    Ok(())
}

/// The loss's own rule and its rule on the output layer's activation.
fn check_loss(loss: Loss, output: Activation) -> Result<(), SpecError> {
    match loss {
        Loss::Huber(d) if !(d.is_finite() && d > 0.0) => Err(SpecError::InvalidLoss(loss)),
        Loss::CrossEntropy if output != Activation::Softmax => {
            Err(SpecError::CrossEntropyNeedsSoftmax { found: output })
        }
        Loss::BinaryCrossEntropy if output != Activation::Sigmoid => {
            Err(SpecError::BinaryCrossEntropyNeedsSigmoid { found: output })
        }
        _ => Ok(()),
    }
}
