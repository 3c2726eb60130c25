//! Dense (fully connected, `torch.nn.Linear`): `n` inputs to `m` outputs.
//!
//! Forward: `zₒ = Σᵢ W[o][i]·xᵢ + bₒ`, i.e. `z = W·x + b`, then `y = f(z)`; the weight is
//! `[out][in]`, row-major, so row `o` holds the weights into output `o`. Backward, from
//! `δ = ∂L/∂z`: `∂L/∂W[o][i] = δₒ·xᵢ` (`δ·xᵀ`), `∂L/∂bₒ = δₒ`, and
//! `∂L/∂xᵢ = Σₒ W[o][i]·δₒ` (`Wᵀ·δ`). Initialization: fan-in `n`, fan-out `m`.
//!
//! The loops run over contiguous rows with [`dot`] and [`axpy`], as they always have, so
//! dense networks keep their numerics bit for bit.

use crate::kernels::{axpy, dot};
use crate::scalar::Scalar;

/// A dense layer's resolved sizes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dense {
    /// Number of inputs `n` (the length of a weight row).
    pub(super) inputs: usize,
    /// Number of outputs `m`.
    pub(super) outputs: usize,
}

impl Dense {
    /// Number of weights, `m·n`.
    #[inline]
    pub(super) fn weight_len(&self) -> usize {
        self.inputs * self.outputs
    }

    /// `z = W·x + b`.
    pub(super) fn forward<T: Scalar>(&self, w: &[T], b: Option<&[T]>, x: &[T], z: &mut [T]) {
        for (zo, row) in z.iter_mut().zip(w.chunks_exact(self.inputs)) {
            *zo = dot(row, x);
        }
        if let Some(b) = b {
            for (zo, &bo) in z.iter_mut().zip(b) {
                *zo += bo;
            }
        }
    }

    /// Adds `scale·δ·xᵀ` into `gw` and `scale·δ` into `gb`.
    pub(super) fn accumulate_param_grad<T: Scalar>(
        &self,
        x: &[T],
        dz: &[T],
        scale: T,
        gw: &mut [T],
        gb: Option<&mut [T]>,
    ) {
        // Row o gains δₒ·x, a contiguous axpy.
        for (g_row, &d) in gw.chunks_exact_mut(self.inputs).zip(dz) {
            axpy(scale * d, x, g_row);
        }
        if let Some(gb) = gb {
            for (g, &d) in gb.iter_mut().zip(dz) {
                *g += scale * d;
            }
        }
    }

    /// Adds `factor·Wᵀ·δ` into `dx`, row by row so `W` is read in its storage order.
    pub(super) fn accumulate_input_grad<T: Scalar>(&self, w: &[T], dz: &[T], factor: T, dx: &mut [T]) {
        for (row, &d) in w.chunks_exact(self.inputs).zip(dz) {
            axpy(factor * d, row, dx);
        }
    }
}
