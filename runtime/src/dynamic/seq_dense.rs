//! A dense layer on a sequence, applied at every step (`torch.nn.Linear` on the last
//! dimension of a `[batch, T, F]` tensor): `[T][F]` to `[T][m]`.
//!
//! Forward: `zₜ = W·xₜ + b` for every step `t`, then `y = f(z)` element-wise; the weight
//! is `[m][F]`, row-major, and the bias `[m]`, shared by all steps. Backward, from
//! `δₜ = ∂L/∂zₜ`: `∂L/∂W = Σₜ δₜ·xₜᵀ`, `∂L/∂b = Σₜ δₜ`, `∂L/∂xₜ = Wᵀ·δₜ`.
//! Initialization: fan-in `F`, fan-out `m`, as a dense layer.
//!
//! Written out index by index, step by step, independently of the generated code.

use crate::scalar::Scalar;

/// A per-step dense layer's resolved sizes.
#[derive(Clone, Copy, Debug)]
pub(super) struct SeqDense {
    /// Steps `T`.
    pub(super) steps: usize,
    /// Features per step `F` (the length of a weight row).
    pub(super) inputs: usize,
    /// Outputs per step `m`.
    pub(super) outputs: usize,
}

impl SeqDense {
    /// Number of weights, `m·F`.
    #[inline]
    pub(super) fn weight_len(&self) -> usize {
        self.inputs * self.outputs
    }

    /// `zₜ = W·xₜ + b` for every step.
    pub(super) fn forward<T: Scalar>(&self, w: &[T], b: Option<&[T]>, x: &[T], z: &mut [T]) {
        let (f, m) = (self.inputs, self.outputs);
        for t in 0..self.steps {
            for o in 0..m {
                let mut s = T::ZERO;
                for i in 0..f {
                    s += w[o * f + i] * x[t * f + i];
                }
                z[t * m + o] = match b {
                    Some(b) => s + b[o],
                    None => s,
                };
            }
        }
    }

    /// Adds `scale·Σₜ δₜ·xₜᵀ` into `gw` and `scale·Σₜ δₜ` into `gb`.
    pub(super) fn accumulate_param_grad<T: Scalar>(
        &self,
        x: &[T],
        dz: &[T],
        scale: T,
        gw: &mut [T],
        mut gb: Option<&mut [T]>,
    ) {
        let (f, m) = (self.inputs, self.outputs);
        for t in 0..self.steps {
            for o in 0..m {
                let d = scale * dz[t * m + o];
                for i in 0..f {
                    gw[o * f + i] += d * x[t * f + i];
                }
                if let Some(gb) = gb.as_deref_mut() {
                    gb[o] += d;
                }
            }
        }
    }

    /// Adds `factor·Wᵀ·δₜ` into step `t` of `dx`, for every step.
    pub(super) fn accumulate_input_grad<T: Scalar>(&self, w: &[T], dz: &[T], factor: T, dx: &mut [T]) {
        let (f, m) = (self.inputs, self.outputs);
        for t in 0..self.steps {
            for i in 0..f {
                let mut s = T::ZERO;
                for o in 0..m {
                    s += w[o * f + i] * dz[t * m + o];
                }
                dx[t * f + i] += factor * s;
            }
        }
    }
}
