//! The dynamic reference network: [`DynamicNet`], a stack of dense layers described at
//! run time by [`LayerSpec`]s and a [`Loss`].
//!
//! It is the second, independent implementation the generated networks are checked
//! against, and the baseline they are benchmarked against, so it is written the way a
//! careful dynamic network is: all parameters in one `Vec`, the activations,
//! pre-activations and errors of every layer in scratch vectors allocated once by
//! [`DynamicNet::new`] and reused, no allocation in [`forward`](DynamicNet::forward),
//! [`accumulate_gradient`](DynamicNet::accumulate_gradient),
//! [`train_step`](DynamicNet::train_step) or [`train_batch`](DynamicNet::train_batch), and
//! inner loops that run over contiguous rows with [`dot`] and [`axpy`].
//!
//! The numerics are those of the generated networks:
//!
//! - Parameters lie in one flat vector, layer by layer, each layer its weight and then its
//!   bias. The weight is in PyTorch order `[out][in]`, row-major: row `o` holds the
//!   weights into output `o`. A layer computes `z = W·x + b` and `y = f(z)`.
//! - Per-sample losses reduce over the outputs as [`Loss`] documents; batch methods take
//!   the mean over the samples.
//! - Cross-entropy is fused with a softmax output and binary cross-entropy with a sigmoid
//!   output: the error on the logits is computed directly (`y·Σt − t`, `(y − t)/OUT`),
//!   never through the activation's Jacobian. Every other loss sends `∂L/∂y` through the
//!   activation's derivative.
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

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use rand_core::Rng;

use crate::init::Init;
use crate::kernels::{axpy, dot};
use crate::optim::Optimizer;
use crate::rng::SplitMix64;
use crate::scalar::Scalar;

/// `√(2/π)`, the scale inside the tanh approximation of GELU.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// `1/√(2π)`, the peak of the standard normal density.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_CUBIC: f64 = 0.044_715;

/// The activation function of a dense layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `y = z`.
    Identity,
    /// `y = 1 / (1 + e^−z)`.
    Sigmoid,
    /// `y = tanh z`.
    Tanh,
    /// `y = max(z, 0)`; derivative 1 where `z > 0`, else 0.
    Relu,
    /// `y = z` if `z > 0`, else `slope·z`; derivative 1 or `slope`.
    LeakyRelu(f64),
    /// `y = z` if `z > 0`, else `α·(eᶻ − 1)`; derivative 1 or `α·eᶻ`.
    Elu(f64),
    /// `y = ln(1 + eᶻ)` (computed stably); derivative `σ(z)`.
    Softplus,
    /// `y = z·σ(z)` (SiLU, swish).
    Silu,
    /// `y = ½·z·(1 + tanh(√(2/π)·(z + 0.044715·z³)))`, the tanh approximation of GELU.
    GeluTanh,
    /// `y = ½·z·(1 + erf(z/√2))`, the exact GELU.
    Gelu,
    /// `y = z / (1 + |z|)`.
    Softsign,
    /// `y = e^(z − max z) / Σ e^(z − max z)` over the whole layer.
    Softmax,
}

impl Activation {
    /// The weight initialization for a layer with this activation: He uniform for the
    /// relu-like ones, Glorot uniform for the rest (the rule generated networks use).
    #[inline]
    #[must_use]
    pub const fn init(self) -> Init {
        match self {
            Activation::Relu
            | Activation::LeakyRelu(_)
            | Activation::Elu(_)
            | Activation::Silu
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Softplus => Init::HeUniform,
            Activation::Identity
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::Softsign
            | Activation::Softmax => Init::GlorotUniform,
        }
    }

    /// `true` for every activation except [`Softmax`](Activation::Softmax), which couples
    /// the outputs of a layer.
    #[inline]
    #[must_use]
    pub const fn is_elementwise(self) -> bool {
        !matches!(self, Activation::Softmax)
    }
}

impl fmt::Display for Activation {
    /// Spelled as in a network spec: `Relu`, `LeakyRelu<0.01>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => f.write_str("Identity"),
            Activation::Sigmoid => f.write_str("Sigmoid"),
            Activation::Tanh => f.write_str("Tanh"),
            Activation::Relu => f.write_str("Relu"),
            Activation::LeakyRelu(s) => write!(f, "LeakyRelu<{s}>"),
            Activation::Elu(a) => write!(f, "Elu<{a}>"),
            Activation::Softplus => f.write_str("Softplus"),
            Activation::Silu => f.write_str("Silu"),
            Activation::GeluTanh => f.write_str("GeluTanh"),
            Activation::Gelu => f.write_str("Gelu"),
            Activation::Softsign => f.write_str("Softsign"),
            Activation::Softmax => f.write_str("Softmax"),
        }
    }
}

/// One dense layer: `width` outputs, an activation, and whether it has a bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSpec {
    /// Number of outputs.
    pub width: usize,
    /// The activation applied to `W·x + b`.
    pub activation: Activation,
    /// Whether the layer has a bias vector.
    pub bias: bool,
}

impl LayerSpec {
    /// A dense layer with a bias.
    #[inline]
    #[must_use]
    pub const fn dense(width: usize, activation: Activation) -> Self {
        Self { width, activation, bias: true }
    }

    /// The same layer without a bias.
    #[inline]
    #[must_use]
    pub const fn without_bias(self) -> Self {
        Self { bias: false, ..self }
    }
}

/// The loss of one sample with output `y` (logits `z`) against target `t`; `n` is the
/// number of outputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// `(1/n)·Σ (y − t)²`.
    Mse,
    /// `½·Σ (t − y)²`.
    HalfSse,
    /// `(1/n)·Σ |y − t|`; derivative `sign(y − t)/n` with `sign(0) = 0`.
    Mae,
    /// `(1/n)·Σ h(y − t)` with `h(d) = ½d²` if `|d| < δ`, else `δ·(|d| − ½δ)`
    /// (`torch.nn.HuberLoss`); the field is `δ > 0`.
    Huber(f64),
    /// `Σ tᵢ·(lse(z) − zᵢ) = −Σ t·ln y`, on a softmax output only; error on the logits
    /// `y·Σt − t`.
    CrossEntropy,
    /// `(1/n)·Σ (softplus(z) − t·z) = −(1/n)·Σ [t·ln y + (1 − t)·ln(1 − y)]`, on a sigmoid
    /// output only; error on the logits `(y − t)/n`.
    BinaryCrossEntropy,
}

impl fmt::Display for Loss {
    /// Spelled as in a network spec: `mse`, `huber(delta = 0.5)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::Mse => f.write_str("mse"),
            Loss::HalfSse => f.write_str("half_sse"),
            Loss::Mae => f.write_str("mae"),
            Loss::Huber(d) => write!(f, "huber(delta = {d})"),
            Loss::CrossEntropy => f.write_str("cross_entropy"),
            Loss::BinaryCrossEntropy => f.write_str("binary_cross_entropy"),
        }
    }
}

/// Why a network spec was rejected by [`DynamicNet::new`].
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

/// [`Activation`] with its parameter converted to the network's scalar once.
#[derive(Clone, Copy, Debug)]
enum Act<T> {
    Identity,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu(T),
    Elu(T),
    Softplus,
    Silu,
    GeluTanh,
    Gelu,
    Softsign,
    Softmax,
}

impl<T: Scalar> Act<T> {
    fn new(a: Activation) -> Self {
        match a {
            Activation::Identity => Act::Identity,
            Activation::Sigmoid => Act::Sigmoid,
            Activation::Tanh => Act::Tanh,
            Activation::Relu => Act::Relu,
            Activation::LeakyRelu(s) => Act::LeakyRelu(T::from_f64(s)),
            Activation::Elu(alpha) => Act::Elu(T::from_f64(alpha)),
            Activation::Softplus => Act::Softplus,
            Activation::Silu => Act::Silu,
            Activation::GeluTanh => Act::GeluTanh,
            Activation::Gelu => Act::Gelu,
            Activation::Softsign => Act::Softsign,
            Activation::Softmax => Act::Softmax,
        }
    }

    /// `y = f(z)`.
    fn forward(self, z: &[T], y: &mut [T]) {
        let half = T::from_f64(0.5);
        match self {
            Act::Identity => y.copy_from_slice(z),
            Act::Sigmoid => map(z, y, T::logistic),
            Act::Tanh => map(z, y, T::tanh),
            Act::Relu => map(z, y, |z| if z > T::ZERO { z } else { T::ZERO }),
            Act::LeakyRelu(s) => map(z, y, |z| if z > T::ZERO { z } else { s * z }),
            // exp_m1 keeps the digits of α·(eᶻ − 1) for z just below 0.
            Act::Elu(alpha) => map(z, y, |z| if z > T::ZERO { z } else { alpha * z.exp_m1() }),
            Act::Softplus => map(z, y, T::softplus),
            Act::Silu => map(z, y, |z| z * z.logistic()),
            Act::GeluTanh => {
                let c = T::from_f64(SQRT_2_OVER_PI);
                let k = T::from_f64(GELU_CUBIC);
                map(z, y, |z| half * z * (T::ONE + (c * (z + k * z * z * z)).tanh()));
            }
            Act::Gelu => {
                let r = T::from_f64(core::f64::consts::FRAC_1_SQRT_2);
                map(z, y, |z| half * z * (T::ONE + (z * r).erf()));
            }
            Act::Softsign => map(z, y, |z| z / (T::ONE + z.abs())),
            Act::Softmax => {
                // Subtracting the maximum keeps every exponent ≤ 0: no overflow for any
                // logits, and the largest term is exactly 1, so the sum is ≥ 1.
                let m = max(z);
                let mut sum = T::ZERO;
                for (yi, &zi) in y.iter_mut().zip(z) {
                    *yi = (zi - m).exp();
                    sum += *yi;
                }
                for yi in y.iter_mut() {
                    *yi /= sum;
                }
            }
        }
    }

    /// Turns `∂L/∂y` in `d` into `∂L/∂z`, given the layer's `z` and `y`.
    fn backward(self, z: &[T], y: &[T], d: &mut [T]) {
        let half = T::from_f64(0.5);
        match self {
            Act::Identity => {}
            Act::Sigmoid => scale_by(d, y, |y| y * (T::ONE - y)),
            Act::Tanh => scale_by(d, y, |y| T::ONE - y * y),
            Act::Relu => scale_by(d, z, |z| if z > T::ZERO { T::ONE } else { T::ZERO }),
            Act::LeakyRelu(s) => scale_by(d, z, |z| if z > T::ZERO { T::ONE } else { s }),
            Act::Elu(alpha) => scale_by(d, z, |z| if z > T::ZERO { T::ONE } else { alpha * z.exp() }),
            Act::Softplus => scale_by(d, z, T::logistic),
            Act::Silu => scale_by(d, z, |z| {
                let s = z.logistic();
                s * (T::ONE + z * (T::ONE - s))
            }),
            Act::GeluTanh => {
                let c = T::from_f64(SQRT_2_OVER_PI);
                let k = T::from_f64(GELU_CUBIC);
                let k3 = T::from_f64(3.0 * GELU_CUBIC);
                scale_by(d, z, |z| {
                    let th = (c * (z + k * z * z * z)).tanh();
                    half * (T::ONE + th) + half * z * (T::ONE - th * th) * c * (T::ONE + k3 * z * z)
                });
            }
            Act::Gelu => {
                let r = T::from_f64(core::f64::consts::FRAC_1_SQRT_2);
                let p = T::from_f64(INV_SQRT_2PI);
                // Φ(z) + z·φ(z).
                scale_by(d, z, |z| half * (T::ONE + (z * r).erf()) + z * p * (-half * z * z).exp());
            }
            Act::Softsign => scale_by(d, z, |z| {
                let s = T::ONE + z.abs();
                T::ONE / (s * s)
            }),
            Act::Softmax => {
                // Jacobian-vector product: (diag(y) − y·yᵀ)·δy = y ⊙ (δy − δy·y).
                let s = dot(d, y);
                for (di, &yi) in d.iter_mut().zip(y) {
                    *di = yi * (*di - s);
                }
            }
        }
    }
}

#[inline]
fn map<T: Copy>(z: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    for (yi, &zi) in y.iter_mut().zip(z) {
        *yi = f(zi);
    }
}

#[inline]
fn scale_by<T: Scalar>(d: &mut [T], by: &[T], f: impl Fn(T) -> T) {
    for (di, &v) in d.iter_mut().zip(by) {
        *di *= f(v);
    }
}

/// The largest element (NaN elements are skipped; `−∞` for an empty slice).
#[inline]
fn max<T: Scalar>(v: &[T]) -> T {
    v.iter().copied().fold(T::NEG_INFINITY, T::max)
}

/// [`Loss`] with its parameter converted to the network's scalar once.
#[derive(Clone, Copy, Debug)]
enum LossFn<T> {
    Mse,
    HalfSse,
    Mae,
    Huber(T),
    CrossEntropy,
    BinaryCrossEntropy,
}

impl<T: Scalar> LossFn<T> {
    fn new(loss: Loss) -> Self {
        match loss {
            Loss::Mse => LossFn::Mse,
            Loss::HalfSse => LossFn::HalfSse,
            Loss::Mae => LossFn::Mae,
            Loss::Huber(d) => LossFn::Huber(T::from_f64(d)),
            Loss::CrossEntropy => LossFn::CrossEntropy,
            Loss::BinaryCrossEntropy => LossFn::BinaryCrossEntropy,
        }
    }

    /// The loss of the output layer's `z`, `y` against `t`; writes `∂L/∂z` into `d`.
    fn eval(self, act: Act<T>, z: &[T], y: &[T], t: &[T], d: &mut [T]) -> T {
        let inv_n = T::ONE / T::from_usize(y.len());
        let half = T::from_f64(0.5);
        let loss = match self {
            LossFn::Mse => {
                let two_n = (T::ONE + T::ONE) * inv_n;
                let mut sum = T::ZERO;
                for ((di, &yi), &ti) in d.iter_mut().zip(y).zip(t) {
                    let e = yi - ti;
                    sum += e * e;
                    *di = two_n * e;
                }
                sum * inv_n
            }
            LossFn::HalfSse => {
                let mut sum = T::ZERO;
                for ((di, &yi), &ti) in d.iter_mut().zip(y).zip(t) {
                    let e = yi - ti;
                    sum += e * e;
                    *di = e;
                }
                half * sum
            }
            LossFn::Mae => {
                let mut sum = T::ZERO;
                for ((di, &yi), &ti) in d.iter_mut().zip(y).zip(t) {
                    let e = yi - ti;
                    sum += e.abs();
                    *di = sign(e) * inv_n;
                }
                sum * inv_n
            }
            LossFn::Huber(delta) => {
                let mut sum = T::ZERO;
                for ((di, &yi), &ti) in d.iter_mut().zip(y).zip(t) {
                    let e = yi - ti;
                    if e.abs() < delta {
                        sum += half * e * e;
                        *di = e * inv_n;
                    } else {
                        sum += delta * (e.abs() - half * delta);
                        *di = delta * sign(e) * inv_n;
                    }
                }
                sum * inv_n
            }
            LossFn::CrossEntropy => {
                // −Σ t·ln y written on the logits: −ln yᵢ = lse(z) − zᵢ = (m − zᵢ) + ln s with
                // m = max z and s = Σ e^(z − m) ≥ 1, so huge logits neither overflow nor
                // give ln 0 = −∞; adding ln s last keeps it from being absorbed into m.
                let m = max(z);
                let ln_s = z.iter().map(|&zi| (zi - m).exp()).sum::<T>().ln();
                let mut loss = T::ZERO;
                let mut t_sum = T::ZERO;
                for (&zi, &ti) in z.iter().zip(t) {
                    loss += ti * ((m - zi) + ln_s);
                    t_sum += ti;
                }
                for ((di, &yi), &ti) in d.iter_mut().zip(y).zip(t) {
                    *di = yi * t_sum - ti;
                }
                return loss;
            }
            LossFn::BinaryCrossEntropy => {
                // softplus(z) − t·z is −[t ln σ(z) + (1 − t) ln(1 − σ(z))] without the
                // logarithm of a saturated sigmoid.
                let mut sum = T::ZERO;
                for (((di, &zi), &yi), &ti) in d.iter_mut().zip(z).zip(y).zip(t) {
                    sum += zi.softplus() - ti * zi;
                    *di = (yi - ti) * inv_n;
                }
                return sum * inv_n;
            }
        };
        act.backward(z, y, d);
        loss
    }
}

/// `−1`, `0` or `1`.
#[inline]
fn sign<T: Scalar>(v: T) -> T {
    if v > T::ZERO {
        T::ONE
    } else if v < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}

/// A layer's resolved shape and offsets.
#[derive(Clone, Copy, Debug)]
struct Layer<T> {
    fan_in: usize,
    width: usize,
    act: Act<T>,
    /// Offset of the weight in the parameter vector.
    weight: usize,
    /// Offset of the bias in the parameter vector.
    bias: Option<usize>,
    /// Offset of this layer's values in the scratch vectors.
    slot: usize,
}

impl<T> Layer<T> {
    #[inline]
    fn weight_range(&self) -> Range<usize> {
        self.weight..self.weight + self.fan_in * self.width
    }

    #[inline]
    fn slot_range(&self) -> Range<usize> {
        self.slot..self.slot + self.width
    }
}

/// A dense network defined at run time: the reference implementation for generated
/// networks, and their benchmark baseline.
///
/// Methods that run the network take `&mut self` because they write the scratch
/// buffers the network owns; nothing is allocated after construction.
#[derive(Clone, Debug)]
pub struct DynamicNet<T> {
    input: usize,
    specs: Vec<LayerSpec>,
    loss_kind: Loss,
    layers: Vec<Layer<T>>,
    loss: LossFn<T>,
    params: Vec<T>,
    /// Pre-activations of every layer, back to back at each layer's `slot`.
    z: Vec<T>,
    /// Activations of every layer, laid out as `z`.
    y: Vec<T>,
    /// `∂L/∂y`, turned into `∂L/∂z` in place, laid out as `z`.
    delta: Vec<T>,
    /// The gradient buffer of `train_step` and `train_batch`.
    grad: Vec<T>,
}

impl<T: Scalar> DynamicNet<T> {
    /// A network with `input` inputs, the given layers and loss, and all parameters 0.
    ///
    /// Call [`init_seeded`](Self::init_seeded) (or use [`seeded`](Self::seeded)) before
    /// training: zero weights never break the symmetry between units.
    ///
    /// # Errors
    /// [`SpecError`] for an input or layer width of 0, no layers, a non-finite activation
    /// parameter, a Huber δ that is not finite and positive, cross-entropy without a
    /// softmax output, or binary cross-entropy without a sigmoid output.
    pub fn new(input: usize, layers: &[LayerSpec], loss: Loss) -> Result<Self, SpecError> {
        check_spec(input, layers, loss)?;
        let mut resolved = Vec::with_capacity(layers.len());
        let (mut fan_in, mut offset, mut slot) = (input, 0, 0);
        for spec in layers {
            let weight = offset;
            offset += fan_in * spec.width;
            let bias = spec.bias.then_some(offset);
            if spec.bias {
                offset += spec.width;
            }
            resolved.push(Layer { fan_in, width: spec.width, act: Act::new(spec.activation), weight, bias, slot });
            slot += spec.width;
            fan_in = spec.width;
        }
        Ok(Self {
            input,
            specs: layers.to_vec(),
            loss_kind: loss,
            layers: resolved,
            loss: LossFn::new(loss),
            params: vec![T::ZERO; offset],
            z: vec![T::ZERO; slot],
            y: vec![T::ZERO; slot],
            delta: vec![T::ZERO; slot],
            grad: vec![T::ZERO; offset],
        })
    }

    /// [`new`](Self::new) followed by [`init_seeded`](Self::init_seeded).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn seeded(input: usize, layers: &[LayerSpec], loss: Loss, seed: u64) -> Result<Self, SpecError> {
        let mut net = Self::new(input, layers, loss)?;
        net.init_seeded(seed);
        Ok(net)
    }

    /// Number of inputs.
    #[inline]
    #[must_use]
    pub fn input_len(&self) -> usize {
        self.input
    }

    /// Number of outputs (the last layer's width).
    #[inline]
    #[must_use]
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(0, |l| l.width)
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

    /// Where layer `layer`'s weight (`[out][in]`, row-major) lies in the parameters.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn weight_range(&self, layer: usize) -> Range<usize> {
        self.layers[layer].weight_range()
    }

    /// Where layer `layer`'s bias lies in the parameters, or `None` without a bias.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn bias_range(&self, layer: usize) -> Option<Range<usize>> {
        let l = &self.layers[layer];
        l.bias.map(|b| b..b + l.width)
    }

    /// Initializes the parameters from a [`SplitMix64`] seeded with `seed`; see
    /// [`init_with`](Self::init_with).
    pub fn init_seeded(&mut self, seed: u64) {
        self.init_with(&mut SplitMix64::new(seed));
    }

    /// Initializes the parameters from `rng`: each layer's weight by
    /// [`Activation::init`], biases 0.
    ///
    /// The draws are made layer by layer, each weight row-major, by
    /// `Init::fill(&mut params[weight_range], fan_in, fan_out, rng)` — the calls generated
    /// networks make — so the same seed gives a generated network of the same spec the
    /// same parameters.
    pub fn init_with<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        for (layer, spec) in self.layers.iter().zip(&self.specs) {
            let w = &mut self.params[layer.weight_range()];
            spec.activation.init().fill(w, layer.fan_in, layer.width, rng);
            if let Some(b) = layer.bias {
                self.params[b..b + layer.width].fill(T::ZERO);
            }
        }
    }

    /// Runs the network on `x`; returns the output, which lives in the network's scratch
    /// until the next call.
    ///
    /// # Panics
    /// If `x.len()` is not [`input_len`](Self::input_len).
    #[track_caller]
    pub fn forward(&mut self, x: &[T]) -> &[T] {
        self.check_input(x);
        self.run_forward(x);
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

    /// Layer `layer`'s pre-activation `z = W·x + b` from the last forward pass.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn pre_activations(&self, layer: usize) -> &[T] {
        &self.z[self.layers[layer].slot_range()]
    }

    /// Layer `layer`'s output `y = f(z)` from the last forward pass.
    ///
    /// # Panics
    /// If `layer` is not a layer index.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn activations(&self, layer: usize) -> &[T] {
        &self.y[self.layers[layer].slot_range()]
    }

    /// The loss of one sample.
    ///
    /// # Panics
    /// If `x` or `t` has the wrong length.
    #[track_caller]
    pub fn loss(&mut self, x: &[T], t: &[T]) -> T {
        self.check_sample(x, t);
        self.run_forward(x);
        let last = self.last();
        let r = last.slot_range();
        // The loss writes its error into `delta` as a by-product; that is scratch.
        self.loss.eval(last.act, &self.z[r.clone()], &self.y[r.clone()], t, &mut self.delta[r])
    }

    /// The mean loss over a batch stored row-major: `xs` holds the inputs one sample after
    /// another, `ts` the targets. An empty batch gives 0.
    ///
    /// # Panics
    /// If the lengths of `xs` and `ts` are not whole, equal numbers of samples.
    #[track_caller]
    pub fn mean_loss(&mut self, xs: &[T], ts: &[T]) -> T {
        let n = self.batch_len(xs, ts);
        if n == 0 {
            return T::ZERO;
        }
        let (ni, no) = (self.input, self.output_len());
        let mut sum = T::ZERO;
        for (x, t) in xs.chunks_exact(ni).zip(ts.chunks_exact(no)) {
            sum += self.loss(x, t);
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
        self.run_forward(x);
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
        self.run_forward(x);
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
        self.run_forward(x);
        let loss = self.run_backward(x, t, T::ONE, &mut grad, None);
        opt.step(&mut self.params, &grad);
        self.grad = grad;
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
        let n = self.batch_len(xs, ts);
        grad.fill(T::ZERO);
        if n == 0 {
            return T::ZERO;
        }
        let scale = T::ONE / T::from_usize(n);
        let (ni, no) = (self.input, self.output_len());
        let mut loss = T::ZERO;
        for (x, t) in xs.chunks_exact(ni).zip(ts.chunks_exact(no)) {
            loss += self.accumulate_gradient(x, t, scale, grad, None);
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
        loss
    }

    #[inline]
    fn last(&self) -> Layer<T> {
        // `new` rejects a spec without layers.
        self.layers[self.layers.len() - 1]
    }

    #[track_caller]
    fn check_input(&self, x: &[T]) {
        assert_eq!(x.len(), self.input, "input holds {}, the network has {} inputs", x.len(), self.input);
    }

    #[track_caller]
    fn check_sample(&self, x: &[T], t: &[T]) {
        self.check_input(x);
        let n = self.output_len();
        assert_eq!(t.len(), n, "target holds {}, the network has {} outputs", t.len(), n);
    }

    #[track_caller]
    fn check_input_grad(&self, dx: &[T]) {
        assert_eq!(dx.len(), self.input, "input gradient holds {}, the network has {} inputs", dx.len(), self.input);
    }

    /// Number of samples in a row-major batch.
    #[track_caller]
    fn batch_len(&self, xs: &[T], ts: &[T]) -> usize {
        let (ni, no) = (self.input, self.output_len());
        assert!(xs.len().is_multiple_of(ni), "batch inputs hold {}, not a multiple of {ni} inputs", xs.len());
        assert!(ts.len().is_multiple_of(no), "batch targets hold {}, not a multiple of {no} outputs", ts.len());
        let n = xs.len() / ni;
        assert_eq!(n, ts.len() / no, "batch has {n} inputs but {} targets", ts.len() / no);
        n
    }

    /// Fills `z` and `y` of every layer for input `x` (lengths already checked).
    fn run_forward(&mut self, x: &[T]) {
        let mut prev: Option<Range<usize>> = None;
        for layer in &self.layers {
            // Layers' slots are consecutive, so the previous layer's output lies wholly
            // before this layer's slot and both can be borrowed at once.
            let (done, rest) = self.y.split_at_mut(layer.slot);
            let input = match &prev {
                Some(r) => &done[r.clone()],
                None => x,
            };
            let z = &mut self.z[layer.slot_range()];
            let w = &self.params[layer.weight_range()];
            for (zo, row) in z.iter_mut().zip(w.chunks_exact(layer.fan_in)) {
                *zo = dot(row, input);
            }
            if let Some(b) = layer.bias {
                for (zo, &bo) in z.iter_mut().zip(&self.params[b..b + layer.width]) {
                    *zo += bo;
                }
            }
            layer.act.forward(z, &mut rest[..layer.width]);
            prev = Some(layer.slot_range());
        }
    }

    /// Backward over the scratch filled by [`run_forward`](Self::run_forward).
    fn run_backward(&mut self, x: &[T], t: &[T], scale: T, grad: &mut [T], mut input_grad: Option<&mut [T]>) -> T {
        let last = self.last();
        let r = last.slot_range();
        let loss = self.loss.eval(last.act, &self.z[r.clone()], &self.y[r.clone()], t, &mut self.delta[r]);

        for (l, layer) in self.layers.iter().enumerate().rev() {
            let below = l.checked_sub(1).map(|k| &self.layers[k]);
            let input = match below {
                Some(b) => &self.y[b.slot_range()],
                None => x,
            };
            let (before, here) = self.delta.split_at_mut(layer.slot);
            let dz = &here[..layer.width];
            let w = &self.params[layer.weight_range()];

            // ∂L/∂W = δ·xᵀ: row o gains δₒ·x, a contiguous axpy.
            let g = &mut grad[layer.weight_range()];
            for (g_row, &d) in g.chunks_exact_mut(layer.fan_in).zip(dz) {
                axpy(scale * d, input, g_row);
            }
            if let Some(b) = layer.bias {
                for (gb, &d) in grad[b..b + layer.width].iter_mut().zip(dz) {
                    *gb += scale * d;
                }
            }

            // ∂L/∂x = Wᵀ·δ, accumulated row by row so W is read in its storage order.
            match below {
                Some(b) => {
                    let dy = &mut before[b.slot_range()];
                    dy.fill(T::ZERO);
                    for (row, &d) in w.chunks_exact(layer.fan_in).zip(dz) {
                        axpy(d, row, dy);
                    }
                    let br = b.slot_range();
                    b.act.backward(&self.z[br.clone()], &self.y[br], dy);
                }
                None => {
                    if let Some(dx) = input_grad.as_deref_mut() {
                        for (row, &d) in w.chunks_exact(layer.fan_in).zip(dz) {
                            axpy(scale * d, row, dx);
                        }
                    }
                }
            }
        }
        loss
    }
}

/// Every rule [`DynamicNet::new`] enforces, in the order a reader checks a spec.
fn check_spec(input: usize, layers: &[LayerSpec], loss: Loss) -> Result<(), SpecError> {
    if input == 0 {
        return Err(SpecError::ZeroInput);
    }
    let Some(output) = layers.last() else {
        return Err(SpecError::NoLayers);
    };
    for (layer, spec) in layers.iter().enumerate() {
        if spec.width == 0 {
            return Err(SpecError::ZeroWidth { layer });
        }
        if let Activation::LeakyRelu(p) | Activation::Elu(p) = spec.activation
            && !p.is_finite()
        {
            return Err(SpecError::InvalidActivation { layer, activation: spec.activation });
        }
    }
    match loss {
        Loss::Huber(d) if !(d.is_finite() && d > 0.0) => Err(SpecError::InvalidLoss(loss)),
        Loss::CrossEntropy if output.activation != Activation::Softmax => {
            Err(SpecError::CrossEntropyNeedsSoftmax { found: output.activation })
        }
        Loss::BinaryCrossEntropy if output.activation != Activation::Sigmoid => {
            Err(SpecError::BinaryCrossEntropyNeedsSigmoid { found: output.activation })
        }
        _ => Ok(()),
    }
}
