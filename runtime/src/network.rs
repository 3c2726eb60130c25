//! The [`Network`] trait that every generated network implements, and the small types
//! it speaks in: [`Buffer`] (a fixed-size array of scalars), [`Target`] and [`Class`]
//! (what a loss compares the output with) and [`ParamInfo`] (the parameter layout).
//!
//! A generated network implements the handful of required methods (forward, the
//! training forward that fills a trace, backward, the fused SGD backward); everything
//! else — `train_step`, `train_batch`, `loss`, `gradient`, `input_gradient` — is provided
//! here once, so it is the same code for every network.

use crate::diagnostics::LayerInfo;
use crate::optim::Optimizer;
use crate::scalar::Scalar;

/// A fixed-size buffer of scalars: implemented for `[T; N]`.
///
/// Networks name their input, output, parameters and trace as buffers, so generic code
/// can create and index them without knowing their sizes.
pub trait Buffer<T>: AsRef<[T]> + AsMut<[T]> + Clone {
    /// A buffer of zeros.
    #[must_use]
    fn zeroed() -> Self;
}

impl<T: Scalar, const N: usize> Buffer<T> for [T; N] {
    #[inline]
    fn zeroed() -> Self {
        [T::ZERO; N]
    }
}

/// Something a loss can compare a network's output with: the output-shaped array
/// itself, or a [`Class`] index that stands for its one-hot vector.
pub trait Target<O> {
    /// The target as an output-shaped array.
    ///
    /// # Panics
    /// A [`Class`] index out of range panics; check labels when loading data
    /// (the data helpers return an `Err` for them).
    #[must_use]
    fn to_target(&self) -> O;
}

impl<T: Copy, const N: usize> Target<[T; N]> for [T; N] {
    #[inline]
    fn to_target(&self) -> [T; N] {
        *self
    }
}

/// A class index used as a target: stands for the one-hot vector with a 1 at the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class(pub usize);

impl<T: Scalar, const N: usize> Target<[T; N]> for Class {
    #[inline]
    fn to_target(&self) -> [T; N] {
        assert!(self.0 < N, "class index {} out of range for {} outputs", self.0, N);
        let mut t = [T::ZERO; N];
        t[self.0] = T::ONE;
        t
    }
}

/// A class index at every step of a sequence output `[T][C]`: stands for `T` one-hot
/// rows, row `t` with a 1 at `self.0[t]`, as PyTorch's `CrossEntropyLoss` takes a
/// `[batch, T]` tensor of class indices for `[batch, T, C]` logits. The output's `N`
/// values are split into `T` steps of `C = N / T` classes.
///
/// ```
/// use stackprop_runtime::{StepClasses, Target};
/// let t: [f32; 6] = StepClasses([2, 0]).to_target(); // 2 steps of 3 classes
/// assert_eq!(t, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// ```
///
/// # Panics
/// If `N` is not a multiple of `T`, or an index is not below `C`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepClasses<const T: usize>(pub [usize; T]);

impl<S: Scalar, const T: usize, const N: usize> Target<[S; N]> for StepClasses<T> {
    #[inline]
    fn to_target(&self) -> [S; N] {
        assert!(T > 0 && N.is_multiple_of(T), "{T} steps do not divide {N} outputs");
        let classes = N / T;
        let mut t = [S::ZERO; N];
        for (step, &k) in self.0.iter().enumerate() {
            assert!(k < classes, "class index {k} at step {step} out of range for {classes} classes");
            t[step * classes + k] = S::ONE;
        }
        t
    }
}

/// One named parameter tensor of a network: where it lies in the flat parameter array.
///
/// Names follow PyTorch (`hidden.weight`, `hidden.bias`) and shapes its order
/// (`[out, in]` for a dense weight), so a state dict maps onto the layout one to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// `layer.weight` or `layer.bias`.
    pub name: &'static str,
    /// Offset of the first element in the flat parameter array.
    pub offset: usize,
    /// Shape, outermost first.
    pub shape: &'static [usize],
}

impl ParamInfo {
    /// Number of scalars in the tensor.
    #[inline]
    #[must_use]
    pub const fn len(&self) -> usize {
        let mut n = 1;
        let mut i = 0;
        while i < self.shape.len() {
            n *= self.shape[i];
            i += 1;
        }
        n
    }

    /// `true` if the tensor holds no scalar.
    #[inline]
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The range of the flat parameter array that holds this tensor.
    #[inline]
    #[must_use]
    pub const fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// One named buffer of a network: state saved and loaded with the weights but never
/// trained (batch norm's `running_mean`, `running_var`, `num_batches_tracked`).
///
/// Float buffers index the network's `buffers()`, integer ones (`integer`, PyTorch's
/// `int64`) its `counters()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferInfo {
    /// `layer.running_mean`.
    pub name: &'static str,
    /// Offset of the first element in the float buffers or the counters.
    pub offset: usize,
    /// Shape, outermost first (`[]` for `num_batches_tracked`).
    pub shape: &'static [usize],
    /// An integer counter rather than a float buffer.
    pub integer: bool,
}

impl BufferInfo {
    /// Number of elements.
    #[inline]
    #[must_use]
    pub const fn len(&self) -> usize {
        ParamInfo { name: self.name, offset: self.offset, shape: self.shape }.len()
    }

    /// `true` if the buffer holds no element.
    #[inline]
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The range of the float buffers or the counters that holds this buffer.
    #[inline]
    #[must_use]
    pub const fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// Implemented by no type: the bound of the per-sample training stubs of a network with
/// a batch normalization layer, so that calling one is a compile error with this message.
#[diagnostic::on_unimplemented(
    message = "`{N}` has a batch normalization layer: it trains on whole mini-batches, not per sample",
    label = "per-sample training call on a network that trains on mini-batches only",
    note = "use `train_batch` (`try_train_batch` for a checked step), `batch_gradient`, `batch_backward` or `batch_loss` with a workspace of `BATCH_ROW` scalars per sample; `forward` is inference with the running statistics"
)]
pub trait PerSampleTraining<N> {}

/// A network whose state is its parameters and its buffers: implemented by generated
/// networks with a batch normalization layer; the weights files' `*_with_buffers`
/// functions save and load through it.
pub trait WithBuffers {
    /// The scalar type.
    type Scalar: Scalar;
    /// The named parameter tensors.
    const PARAM_LAYOUT: &'static [ParamInfo];
    /// The named buffers; `integer` ones index [`counter_slice`](Self::counter_slice).
    const BUFFERS: &'static [BufferInfo];
    /// The flat parameters.
    fn param_slice(&self) -> &[Self::Scalar];
    /// The flat parameters, mutably.
    fn param_slice_mut(&mut self) -> &mut [Self::Scalar];
    /// The float buffers.
    fn buffer_slice(&self) -> &[Self::Scalar];
    /// The float buffers, mutably.
    fn buffer_slice_mut(&mut self) -> &mut [Self::Scalar];
    /// The integer buffers.
    fn counter_slice(&self) -> &[i64];
    /// The integer buffers, mutably.
    fn counter_slice_mut(&mut self) -> &mut [i64];
}

/// Why [`Network::try_train_step`] (or the `try_train_batch` of a network with batch
/// normalization) refused a step. The network and the optimizer are as they were before
/// the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NonFiniteStep {
    /// The input has a NaN or infinite feature.
    Input {
        /// Index of the feature.
        feature: usize,
    },
    /// The target has a NaN or infinite component.
    Target {
        /// Index of the output.
        output: usize,
    },
    /// The loss of the sample is NaN or infinite.
    Loss,
    /// A component of the gradient is NaN or infinite.
    Gradient {
        /// Index in the flat parameter array.
        param: usize,
    },
    /// The update would have made a parameter NaN or infinite.
    Parameters {
        /// Index in the flat parameter array.
        param: usize,
    },
    /// An input of a mini-batch has a NaN or infinite feature (the `try_train_batch` of
    /// a network with batch normalization).
    BatchInput {
        /// Index of the sample in the batch.
        sample: usize,
        /// Index of the feature.
        feature: usize,
    },
    /// A target of a mini-batch has a NaN or infinite component.
    BatchTarget {
        /// Index of the sample in the batch.
        sample: usize,
        /// Index of the output.
        output: usize,
    },
}

impl core::fmt::Display for NonFiniteStep {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Input { feature } => write!(f, "input feature {feature} is not finite"),
            Self::Target { output } => write!(f, "target component {output} is not finite"),
            Self::Loss => f.write_str("the loss is not finite"),
            Self::Gradient { param } => write!(f, "the gradient of parameter {param} is not finite"),
            Self::Parameters { param } => write!(f, "the update would make parameter {param} non-finite"),
            Self::BatchInput { sample, feature } => write!(f, "feature {feature} of input {sample} is not finite"),
            Self::BatchTarget { sample, output } => {
                write!(f, "component {output} of target {sample} is not finite")
            }
        }
        .and_then(|()| f.write_str("; the step was not taken"))
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NonFiniteStep {}

/// The index of the first NaN or infinite element.
#[inline]
#[must_use]
pub fn first_non_finite<T: Scalar>(xs: &[T]) -> Option<usize> {
    // A sum is finite only if every term is: one pass, no branch per element, and the
    // search runs only when something is wrong.
    let mut any = T::ZERO;
    for &x in xs {
        any += x * T::ZERO;
    }
    if any.is_finite() { None } else { xs.iter().position(|x| !x.is_finite()) }
}

/// A network on the heap, initialized from `seed` in place (as
/// [`Network::seeded`]): for networks too big for the stack (feature `alloc`).
///
/// The zeros of [`Network::zeroed`] go into a fresh allocation through `Box::write`,
/// which optimized builds (opt-level 1 and up) compile to a fill of the allocation; an
/// unoptimized build may still pass the value through the stack, which safe Rust cannot
/// rule out. Then [`init_with`](Network::init_with) runs on the boxed network. A network
/// written with `storage = boxed` keeps its parameters in a `Box` and needs none of this:
/// its `seeded` never has them on the stack, at any optimization level.
#[cfg(feature = "alloc")]
#[must_use]
pub fn boxed_seeded<N: Network>(seed: u64) -> alloc::boxed::Box<N> {
    let mut net = alloc::boxed::Box::write(alloc::boxed::Box::new_uninit(), N::zeroed());
    net.init_with(&mut crate::rng::SplitMix64::new(seed));
    net
}

/// A zeroed array on the heap that never passes through the stack (feature `alloc`):
/// a gradient, trace or backup buffer for a big network.
#[cfg(feature = "alloc")]
#[must_use]
pub fn boxed_zeros<T: Scalar, const N: usize>() -> alloc::boxed::Box<[T; N]> {
    let slice = alloc::vec![T::ZERO; N].into_boxed_slice();
    match slice.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("a vector of N elements is an array of N"),
    }
}

/// [`Network::train_step`] with a gradient on the stack, in a frame of its own: kept out
/// of `train_step` so that its fused SGD path does not reserve the gradient's stack too.
#[inline(never)]
fn step_with_stack_gradient<N: Network, G: Target<N::Output>, O: Optimizer<N::Params>>(
    net: &mut N,
    x: &N::Input,
    t: &G,
    opt: &mut O,
) -> N::Scalar {
    let mut grad = N::Params::zeroed();
    net.train_step_with(x, t, &mut grad, opt)
}

/// A network: generated by `#[network]`, or written by hand against this contract.
///
/// The per-sample loss reduces over the outputs as the loss names it (`mse`: mean,
/// `half_sse`: ½·sum, ...); batch methods take the mean over the samples.
pub trait Network: Sized {
    /// The scalar type the network computes in.
    type Scalar: Scalar;
    /// `[T; INPUT]`.
    type Input: Buffer<Self::Scalar>;
    /// `[T; OUTPUT]`.
    type Output: Buffer<Self::Scalar> + Target<Self::Output>;
    /// `[T; PARAMS]`: all weights and biases in one flat array.
    type Params: Buffer<Self::Scalar>;
    /// `[T; TRACE]`: what the training forward keeps for backward.
    type Trace: Buffer<Self::Scalar>;

    /// Number of inputs.
    const INPUT: usize;
    /// Number of outputs.
    const OUTPUT: usize;
    /// Number of parameters.
    const PARAMS: usize;
    /// Named parameter tensors, in layout order.
    const LAYOUT: &'static [ParamInfo];
    /// The layers, in order, as the [gradient-flow diagnostics](crate::diagnostics) see
    /// them. Generated networks list every layer; the default, for a network written by
    /// hand, lists none (the diagnostics then see only the parameter tensors).
    const LAYERS: &'static [LayerInfo] = &[];

    /// The flat parameter array.
    fn params(&self) -> &Self::Params;
    /// The flat parameter array, mutably.
    fn params_mut(&mut self) -> &mut Self::Params;

    /// A network holding the given flat parameters.
    fn from_params(params: Self::Params) -> Self;

    /// Re-initializes the parameters in place from `rng` (Glorot or He uniform per
    /// layer, as the spec chose; biases zero).
    fn init_with<R: rand_core::Rng + ?Sized>(&mut self, rng: &mut R);

    /// A network whose parameters are all zero. Generated networks write the zeros in
    /// place (a `const fn`), so [`boxed_seeded`] gets them straight into the heap.
    #[must_use]
    fn zeroed() -> Self {
        Self::from_params(Self::Params::zeroed())
    }

    /// A network initialized from `seed`.
    #[must_use]
    fn seeded(seed: u64) -> Self {
        let mut net = Self::from_params(Self::Params::zeroed());
        net.init_with(&mut crate::rng::SplitMix64::new(seed));
        net
    }

    /// Inference: the output for one input.
    fn forward(&self, x: &Self::Input) -> Self::Output;

    /// Batched inference: `out[i] = forward(&xs[i])` for every sample, in inference mode
    /// as [`forward`](Network::forward) (dropout is the identity, no trace).
    ///
    /// Generated networks with a dense, convolution or pooling layer emitted as loops
    /// run the batch in tiles of samples with matrix–matrix kernels, as
    /// [`batch_gradient`](Network::batch_gradient) does: each weight loaded feeds a
    /// whole tile of samples. Layers without tile forms run per sample inside each tile.
    /// The tiled products sum in another order than the per-sample ones, so outputs may
    /// differ from [`forward`](Network::forward) by rounding (in the networks of
    /// `tests/batch_tiled.rs`, at most 6e-7 in `f32` and 1.5e-15 in `f64` relative to the
    /// sample's largest output). Other networks, and this default, call
    /// [`forward`](Network::forward) per sample. Nothing is allocated; the tiles take the
    /// stack the generated method's documentation states.
    ///
    /// # Panics
    /// If `xs` and `out` differ in length.
    ///
    /// ```
    /// # use stackprop_runtime::{Buffer, Network};
    /// /// Scores a data set: one output row per input row.
    /// fn score<N: Network>(net: &N, xs: &[N::Input]) -> Vec<N::Output> {
    ///     let mut ys = vec![N::Output::zeroed(); xs.len()];
    ///     net.forward_batch(xs, &mut ys);
    ///     ys
    /// }
    /// ```
    fn forward_batch(&self, xs: &[Self::Input], out: &mut [Self::Output]) {
        assert_eq!(xs.len(), out.len(), "inputs and outputs differ in length");
        for (x, y) in xs.iter().zip(out) {
            *y = self.forward(x);
        }
    }

    /// Training forward: the output, with what backward needs written into `trace`.
    ///
    /// Dropout layers are active, with the masks of sample 0 under the network's current
    /// dropout state (see [`forward_trace_at`](Network::forward_trace_at)).
    fn forward_trace(&self, x: &Self::Input, trace: &mut Self::Trace) -> Self::Output;

    /// [`forward_trace`](Network::forward_trace) in a chosen mode: `Some(i)` trains with
    /// the dropout masks of sample `i` of a batch under the network's dropout state
    /// (the rule is in [`crate::dropout`]), `None` runs in inference mode (dropout is the
    /// identity, as in [`forward`](Network::forward)) with the trace filled, so
    /// [`trace_loss`](Network::trace_loss) and backward work on it.
    ///
    /// Networks without dropout layers compute the same thing in every mode: the default
    /// is [`forward_trace`](Network::forward_trace).
    fn forward_trace_at(&self, x: &Self::Input, trace: &mut Self::Trace, sample: Option<usize>) -> Self::Output {
        let _ = sample;
        self.forward_trace(x, trace)
    }

    /// Moves the dropout state on to the next step's masks. The training methods that
    /// take `&mut self` ([`train_step`](Network::train_step) and its variants,
    /// [`train_batch`](Network::train_batch), and [`fit`](crate::train::fit)) call it
    /// after every step; a loop written on [`batch_gradient`](Network::batch_gradient)
    /// and an optimizer calls it itself, or every step sees the same masks. Nothing to
    /// do for networks without dropout layers (the default).
    #[inline]
    fn advance_dropout(&mut self) {}

    /// The loss of the sample whose forward filled `trace`, against target `t`.
    fn trace_loss(&self, trace: &Self::Trace, t: &Self::Output) -> Self::Scalar;

    /// Backward for the sample whose forward filled `trace`: adds `scale · ∂L/∂θ` into
    /// `grad` and, if given, `scale · ∂L/∂x` into `input_grad`; returns the loss `L`.
    fn backward(
        &self,
        x: &Self::Input,
        trace: &Self::Trace,
        t: &Self::Output,
        scale: Self::Scalar,
        grad: &mut Self::Params,
        input_grad: Option<&mut Self::Input>,
    ) -> Self::Scalar;

    /// `∂L/∂x` alone for the sample whose forward filled `trace`: the backward pass
    /// without any weight gradient, so it needs no parameter-sized buffer.
    fn input_backward(&self, x: &Self::Input, trace: &Self::Trace, t: &Self::Output) -> Self::Input;

    /// Backward fused with a plain SGD update: `θ ← θ − lr · ∂L/∂θ` layer by layer, each
    /// layer's error propagated with its weights before they change; returns the loss.
    ///
    /// Gives the same parameters as [`backward`](Network::backward) followed by the
    /// update, without a gradient buffer.
    fn backward_sgd(
        &mut self,
        x: &Self::Input,
        trace: &Self::Trace,
        t: &Self::Output,
        lr: Self::Scalar,
    ) -> Self::Scalar;

    /// The loss for one sample, in training mode (dropout with the masks of
    /// [`forward_trace`](Network::forward_trace)): the function whose gradient
    /// [`gradient`](Network::gradient) computes.
    #[must_use]
    fn loss<G: Target<Self::Output>>(&self, x: &Self::Input, t: &G) -> Self::Scalar {
        let mut trace = Self::Trace::zeroed();
        self.forward_trace(x, &mut trace);
        self.trace_loss(&trace, &t.to_target())
    }

    /// The mean loss over a set of samples (0 for an empty set), in inference mode
    /// (dropout layers are the identity): the loss to evaluate a network with. For
    /// networks without dropout it is the mean of [`loss`](Network::loss).
    ///
    /// # Panics
    /// If `xs` and `ts` differ in length.
    #[must_use]
    fn mean_loss<G: Target<Self::Output>>(&self, xs: &[Self::Input], ts: &[G]) -> Self::Scalar {
        assert_eq!(xs.len(), ts.len(), "inputs and targets differ in length");
        if xs.is_empty() {
            return Self::Scalar::ZERO;
        }
        let mut trace = Self::Trace::zeroed();
        let sum: Self::Scalar = xs
            .iter()
            .zip(ts)
            .map(|(x, t)| {
                self.forward_trace_at(x, &mut trace, None);
                self.trace_loss(&trace, &t.to_target())
            })
            .sum();
        sum / Self::Scalar::from_usize(xs.len())
    }

    /// Adds `∂L/∂θ` for one sample into `grad`; returns the loss.
    fn gradient<G: Target<Self::Output>>(&self, x: &Self::Input, t: &G, grad: &mut Self::Params) -> Self::Scalar {
        let mut trace = Self::Trace::zeroed();
        self.forward_trace(x, &mut trace);
        self.backward(x, &trace, &t.to_target(), Self::Scalar::ONE, grad, None)
    }

    /// `∂L/∂x`, the gradient of the loss with respect to the input.
    #[must_use]
    fn input_gradient<G: Target<Self::Output>>(&self, x: &Self::Input, t: &G) -> Self::Input {
        let mut trace = Self::Trace::zeroed();
        self.forward_trace(x, &mut trace);
        self.input_backward(x, &trace, &t.to_target())
    }

    /// One optimizer step on one sample; returns the loss before the step.
    ///
    /// Plain SGD ([`Optimizer::plain_sgd_rate`]) takes the fused path with no gradient
    /// buffer; other optimizers get a zeroed gradient on the stack. For large networks
    /// with stateful optimizers use [`train_step_with`](Network::train_step_with), whose
    /// gradient buffer the caller owns.
    fn train_step<G: Target<Self::Output>, O: Optimizer<Self::Params>>(
        &mut self,
        x: &Self::Input,
        t: &G,
        opt: &mut O,
    ) -> Self::Scalar {
        if opt.plain_sgd_rate().is_some() {
            return self.sgd_step(x, t, opt);
        }
        step_with_stack_gradient(self, x, t, opt)
    }

    /// [`train_step`](Network::train_step) with the caller's gradient buffer (overwritten),
    /// so nothing parameter-sized lives on the stack.
    fn train_step_with<G: Target<Self::Output>, O: Optimizer<Self::Params>>(
        &mut self,
        x: &Self::Input,
        t: &G,
        grad: &mut Self::Params,
        opt: &mut O,
    ) -> Self::Scalar {
        if opt.plain_sgd_rate().is_some() {
            return self.sgd_step(x, t, opt);
        }
        let mut trace = Self::Trace::zeroed();
        self.forward_trace(x, &mut trace);
        grad.as_mut().fill(Self::Scalar::ZERO);
        let loss = self.backward(x, &trace, &t.to_target(), Self::Scalar::ONE, grad, None);
        opt.step(self.params_mut(), grad);
        self.advance_dropout();
        loss
    }

    /// A checked [`train_step`](Network::train_step): the input and target are checked
    /// first, then the loss and the gradient, then the updated parameters; on the first
    /// NaN or infinity it returns an `Err` and the network and the optimizer are as they
    /// were. Returns the loss before the step.
    ///
    /// The check costs two passes over the parameters and a copy of them and of the
    /// optimizer per step; the gradient and the copy sit on the stack, so for large
    /// networks use [`try_train_step_with`](Network::try_train_step_with).
    ///
    /// # Errors
    /// [`NonFiniteStep`] naming what was not finite.
    fn try_train_step<G: Target<Self::Output>, O: Optimizer<Self::Params> + Clone>(
        &mut self,
        x: &Self::Input,
        t: &G,
        opt: &mut O,
    ) -> Result<Self::Scalar, NonFiniteStep> {
        let mut grad = Self::Params::zeroed();
        let mut backup = Self::Params::zeroed();
        self.try_train_step_with(x, t, &mut grad, &mut backup, opt)
    }

    /// [`try_train_step`](Network::try_train_step) with the caller's gradient and backup
    /// buffers (both overwritten), so nothing parameter-sized lives on the stack.
    ///
    /// # Errors
    /// [`NonFiniteStep`] naming what was not finite; the network and `opt` are unchanged.
    fn try_train_step_with<G: Target<Self::Output>, O: Optimizer<Self::Params> + Clone>(
        &mut self,
        x: &Self::Input,
        t: &G,
        grad: &mut Self::Params,
        backup: &mut Self::Params,
        opt: &mut O,
    ) -> Result<Self::Scalar, NonFiniteStep> {
        if let Some(feature) = first_non_finite(x.as_ref()) {
            return Err(NonFiniteStep::Input { feature });
        }
        let t = t.to_target();
        if let Some(output) = first_non_finite(t.as_ref()) {
            return Err(NonFiniteStep::Target { output });
        }
        let mut trace = Self::Trace::zeroed();
        self.forward_trace(x, &mut trace);
        if !self.trace_loss(&trace, &t).is_finite() {
            return Err(NonFiniteStep::Loss);
        }
        grad.as_mut().fill(Self::Scalar::ZERO);
        let loss = self.backward(x, &trace, &t, Self::Scalar::ONE, grad, None);
        if let Some(param) = first_non_finite(grad.as_ref()) {
            return Err(NonFiniteStep::Gradient { param });
        }
        backup.as_mut().copy_from_slice(self.params().as_ref());
        let saved = opt.clone();
        opt.step(self.params_mut(), grad);
        if let Some(param) = first_non_finite(self.params().as_ref()) {
            self.params_mut().as_mut().copy_from_slice(backup.as_ref());
            *opt = saved;
            return Err(NonFiniteStep::Parameters { param });
        }
        self.advance_dropout();
        Ok(loss)
    }

    /// The fused per-sample SGD step (forward, then [`backward_sgd`](Network::backward_sgd)).
    #[doc(hidden)]
    fn sgd_step<G: Target<Self::Output>, O: Optimizer<Self::Params>>(
        &mut self,
        x: &Self::Input,
        t: &G,
        opt: &O,
    ) -> Self::Scalar {
        let lr = opt.plain_sgd_rate().unwrap_or(0.0);
        let mut trace = Self::Trace::zeroed();
        self.forward_trace(x, &mut trace);
        let loss = self.backward_sgd(x, &trace, &t.to_target(), Self::Scalar::from_f64(lr));
        self.advance_dropout();
        loss
    }

    /// One optimizer step on a mini-batch: the gradient is the mean of the per-sample
    /// gradients, written into the caller's `grad` buffer (zeroed first); returns the
    /// mean loss before the step. An empty batch changes nothing and returns 0.
    ///
    /// # Panics
    /// If `xs` and `ts` differ in length.
    fn train_batch<G: Target<Self::Output>, O: Optimizer<Self::Params>>(
        &mut self,
        xs: &[Self::Input],
        ts: &[G],
        grad: &mut Self::Params,
        opt: &mut O,
    ) -> Self::Scalar {
        assert_eq!(xs.len(), ts.len(), "inputs and targets differ in length");
        if xs.is_empty() {
            return Self::Scalar::ZERO;
        }
        let loss = self.batch_gradient(xs, ts, grad);
        opt.step(self.params_mut(), grad);
        self.advance_dropout();
        loss
    }

    /// Writes the mean gradient over a batch into `grad` (overwriting it); returns the
    /// mean loss. An empty batch gives a zero gradient and 0. Dropout layers use the
    /// masks of sample `i` for the `i`-th sample; the dropout state is left as it is.
    ///
    /// # Panics
    /// If `xs` and `ts` differ in length.
    fn batch_gradient<G: Target<Self::Output>>(
        &self,
        xs: &[Self::Input],
        ts: &[G],
        grad: &mut Self::Params,
    ) -> Self::Scalar {
        assert_eq!(xs.len(), ts.len(), "inputs and targets differ in length");
        grad.as_mut().fill(Self::Scalar::ZERO);
        if xs.is_empty() {
            return Self::Scalar::ZERO;
        }
        let scale = Self::Scalar::ONE / Self::Scalar::from_usize(xs.len());
        let mut trace = Self::Trace::zeroed();
        let mut loss = Self::Scalar::ZERO;
        for (i, (x, t)) in xs.iter().zip(ts).enumerate() {
            self.forward_trace_at(x, &mut trace, Some(i));
            loss += self.backward(x, &trace, &t.to_target(), scale, grad, None);
        }
        loss * scale
    }
}
