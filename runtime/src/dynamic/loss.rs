//! Losses of one sample, on the output layer's flattened output `y` (logits `z`) against
//! a target `t` of the same length `n`.
//!
//! Forward: the per-sample loss as [`Loss`] documents. Backward: the error on the output
//! layer's logits, `∂L/∂z`. For the plain losses that is `∂L/∂y` (`2(y − t)/n` for mse,
//! `y − t` for half-sse, `sign(y − t)/n` for mae, the clipped error over `n` for Huber)
//! sent through the activation's derivative. Cross-entropy on a softmax output and
//! binary cross-entropy on a sigmoid output are fused: `∂L/∂z = y·Σt − t` and
//! `∂L/∂z = (y − t)/n`, never through the activation's Jacobian. On a softmax at every
//! step of a sequence `[T][m]`, cross-entropy is the mean over the steps of each step's
//! `Σ tᵢ·(lse(zₜ) − zₜᵢ)`, its error `(yₜ·Σtₜ − tₜ)/T`, as the element-wise means over all
//! `T·m` values are the mean over steps of each step's mean. A loss has no parameters.

use core::fmt;

use super::activation::{Act, max};
use crate::scalar::Scalar;

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
    /// `y·Σt − t`. At every step of a sequence `[T][m]` (a softmax per step) the mean over
    /// the `T` steps of each step's cross-entropy, error `(yₜ·Σtₜ − tₜ)/T`.
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

/// [`Loss`] with its parameter converted to the network's scalar once.
#[derive(Clone, Copy, Debug)]
pub(super) enum LossFn<T> {
    Mse,
    HalfSse,
    Mae,
    Huber(T),
    CrossEntropy,
    BinaryCrossEntropy,
}

impl<T: Scalar> LossFn<T> {
    pub(super) fn new(loss: Loss) -> Self {
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
    pub(super) fn eval(self, act: Act<T>, z: &[T], y: &[T], t: &[T], d: &mut [T]) -> T {
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
                if let Act::StepSoftmax(width) = act {
                    // At every step: the mean over the steps of each step's cross-entropy.
                    let steps = z.len() / width;
                    let mut loss = T::ZERO;
                    for (((zs, ys), ts), ds) in z
                        .chunks_exact(width)
                        .zip(y.chunks_exact(width))
                        .zip(t.chunks_exact(width))
                        .zip(d.chunks_exact_mut(width))
                    {
                        loss += LossFn::CrossEntropy.eval(Act::Softmax, zs, ys, ts, ds);
                    }
                    let inv_steps = T::ONE / T::from_usize(steps);
                    for di in d.iter_mut() {
                        *di *= inv_steps;
                    }
                    return loss * inv_steps;
                }
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
