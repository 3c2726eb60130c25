//! Activations: `y = f(z)` applied after a dense or convolution layer's affine part.
//!
//! Forward: `yᵢ = f(zᵢ)` elementwise, except [`Activation::Softmax`], which couples the
//! layer: `yᵢ = e^(zᵢ − m) / Σⱼ e^(zⱼ − m)` with `m = max z`. Backward: given `∂L/∂y`,
//! `∂L/∂zᵢ = f′(zᵢ)·∂L/∂yᵢ` elementwise (written on `y` where that is cheaper: sigmoid′ =
//! `y·(1 − y)`, tanh′ = `1 − y²`), and for softmax the Jacobian-vector product
//! `∂L/∂z = y ⊙ (∂L/∂y − (∂L/∂y · y))`. On a dense layer at every step of a sequence a
//! softmax normalizes each step's values on its own, and its Jacobian is block-diagonal
//! over the steps. An activation has no parameters.

use core::fmt;

use crate::init::Init;
use crate::kernels::dot;
use crate::scalar::Scalar;

/// `√(2/π)`, the scale inside the tanh approximation of GELU.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// `1/√(2π)`, the peak of the standard normal density.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_CUBIC: f64 = 0.044_715;

/// The activation function of a dense or convolution layer.
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

/// [`Activation`] with its parameter converted to the network's scalar once.
#[derive(Clone, Copy, Debug)]
pub(super) enum Act<T> {
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
    /// A softmax at every step of a sequence: each run of this many values (one step's
    /// outputs) normalized on its own.
    StepSoftmax(usize),
}

impl<T: Scalar> Act<T> {
    pub(super) fn new(a: Activation) -> Self {
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
    pub(super) fn forward(self, z: &[T], y: &mut [T]) {
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
            Act::StepSoftmax(width) => {
                for (zs, ys) in z.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
                    Act::Softmax.forward(zs, ys);
                }
            }
        }
    }

    /// Turns `∂L/∂y` in `d` into `∂L/∂z`, given the layer's `z` and `y`.
    pub(super) fn backward(self, z: &[T], y: &[T], d: &mut [T]) {
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
            // The Jacobian is block-diagonal over the steps.
            Act::StepSoftmax(width) => {
                for ((zs, ys), ds) in z.chunks_exact(width).zip(y.chunks_exact(width)).zip(d.chunks_exact_mut(width)) {
                    Act::Softmax.backward(zs, ys, ds);
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
pub(super) fn max<T: Scalar>(v: &[T]) -> T {
    v.iter().copied().fold(T::NEG_INFINITY, T::max)
}
