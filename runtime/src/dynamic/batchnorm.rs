//! `BatchNorm`, as `torch.nn.BatchNorm1d` (on `[N]` or `[C, L]`) and `BatchNorm2d` (on
//! `[C, H, W]`): per channel `c`, over the `m = B·S` values of a mini-batch of `B`
//! samples with `S` positions each.
//!
//! Training: `μ = Σx/m`, `σ² = Σ(x − μ)²/m` (biased), `x̂ = (x − μ)/√(σ² + ε)`,
//! `y = γ·x̂ + β`; running statistics `r ← (1 − momentum)·r + momentum·s` with the
//! unbiased variance `σ²·m/(m − 1)`, `num_batches_tracked += 1`. Inference:
//! `y = γ·(x − running_mean)/√(running_var + ε) + β`.
//!
//! Backward, written out from the chain rule through `x̂`, `σ²` and `μ` (not the
//! simplified form the generated code evaluates):
//! `∂L/∂x̂ = γ·g`, `∂L/∂σ² = Σ ∂L/∂x̂·(x − μ)·(−½)(σ² + ε)^(−3/2)`,
//! `∂L/∂μ = −Σ ∂L/∂x̂/√(σ² + ε) + ∂L/∂σ²·(−2/m)·Σ(x − μ)`,
//! `∂L/∂x = ∂L/∂x̂/√(σ² + ε) + ∂L/∂σ²·2(x − μ)/m + ∂L/∂μ/m`;
//! `∂L/∂γ = Σ g·x̂`, `∂L/∂β = Σ g`.
//!
//! The batch is stored sample-major: sample `s` holds `len = C·S` values, element
//! `(c, j)` at `s·len + c·S + j`.

use alloc::vec;
use alloc::vec::Vec;

use crate::scalar::Scalar;

/// A resolved batch norm layer.
#[derive(Clone, Copy, Debug)]
pub(super) struct BatchNorm {
    pub channels: usize,
    pub spatial: usize,
    pub eps: f64,
    pub momentum: f64,
    /// Offset of `running_mean` in the float buffers (`running_var` follows).
    pub buffer: usize,
    /// Index of `num_batches_tracked` in the counters.
    pub counter: usize,
}

impl BatchNorm {
    fn len(&self) -> usize {
        self.channels * self.spatial
    }

    /// The value at channel `c`, position `j` of sample `s`.
    fn at(&self, s: usize, c: usize, j: usize) -> usize {
        s * self.len() + c * self.spatial + j
    }

    /// Inference on one sample with the running statistics in `buffers`.
    pub(super) fn inference<T: Scalar>(&self, gamma_beta: Option<(&[T], &[T])>, buffers: &[T], x: &[T], y: &mut [T]) {
        let eps = T::from_f64(self.eps);
        for c in 0..self.channels {
            let mean = buffers[self.buffer + c];
            let var = buffers[self.buffer + self.channels + c];
            for j in 0..self.spatial {
                let i = c * self.spatial + j;
                let xh = (x[i] - mean) / (var + eps).sqrt();
                y[i] = match gamma_beta {
                    Some((g, b)) => g[c] * xh + b[c],
                    None => xh,
                };
            }
        }
    }

    /// Training forward over a batch of `n` samples: writes `xhat`, `y` and the batch
    /// mean and biased variance per channel; updates the running statistics if given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn train_forward<T: Scalar>(
        &self,
        n: usize,
        gamma_beta: Option<(&[T], &[T])>,
        x: &[T],
        xhat: &mut [T],
        y: &mut [T],
        mean: &mut [T],
        var: &mut [T],
        running: Option<(&mut [T], &mut i64)>,
    ) {
        let m = n * self.spatial;
        assert!(m > 1, "batch norm needs more than one value per channel in training, got {m}");
        let mt = T::from_usize(m);
        for c in 0..self.channels {
            let mut sum = T::ZERO;
            for s in 0..n {
                for j in 0..self.spatial {
                    sum += x[self.at(s, c, j)];
                }
            }
            mean[c] = sum / mt;
            let mut sq = T::ZERO;
            for s in 0..n {
                for j in 0..self.spatial {
                    let d = x[self.at(s, c, j)] - mean[c];
                    sq += d * d;
                }
            }
            var[c] = sq / mt;
            let std = (var[c] + T::from_f64(self.eps)).sqrt();
            for s in 0..n {
                for j in 0..self.spatial {
                    let i = self.at(s, c, j);
                    xhat[i] = (x[i] - mean[c]) / std;
                    y[i] = match gamma_beta {
                        Some((g, b)) => g[c] * xhat[i] + b[c],
                        None => xhat[i],
                    };
                }
            }
        }
        if let Some((buffers, count)) = running {
            let mom = T::from_f64(self.momentum);
            let c = self.channels;
            for k in 0..c {
                let unbiased = var[k] * mt / (mt - T::ONE);
                buffers[k] = (T::ONE - mom) * buffers[k] + mom * mean[k];
                buffers[c + k] = (T::ONE - mom) * buffers[c + k] + mom * unbiased;
            }
            *count += 1;
        }
    }

    /// Backward over the batch from `g = ∂L/∂y`: adds `scale·∂L/∂γ`, `scale·∂L/∂β` into
    /// `grads` and writes `∂L/∂x` (unscaled) into `dx`, through x̂, σ² and μ.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward<T: Scalar>(
        &self,
        n: usize,
        gamma: Option<&[T]>,
        x: &[T],
        xhat: &[T],
        mean: &[T],
        var: &[T],
        g: &[T],
        scale: T,
        grads: Option<(&mut [T], &mut [T])>,
        dx: &mut [T],
    ) {
        let mt = T::from_usize(n * self.spatial);
        let two = T::ONE + T::ONE;
        let mut dgamma = vec![T::ZERO; self.channels];
        let mut dbeta = vec![T::ZERO; self.channels];
        for c in 0..self.channels {
            let gm = gamma.map_or(T::ONE, |gm| gm[c]);
            let ve = var[c] + T::from_f64(self.eps);
            let std = ve.sqrt();
            let idx: Vec<usize> =
                (0..n).flat_map(|s| (0..self.spatial).map(move |j| (s, j))).map(|(s, j)| self.at(s, c, j)).collect();
            let mut dvar = T::ZERO;
            let mut dmean = T::ZERO;
            let mut dev_sum = T::ZERO;
            for &i in &idx {
                let dxh = gm * g[i];
                dvar += dxh * (x[i] - mean[c]) * (-T::ONE / two) / (ve * std);
                dmean -= dxh / std;
                dev_sum += x[i] - mean[c];
                dgamma[c] += g[i] * xhat[i];
                dbeta[c] += g[i];
            }
            dmean += dvar * (-two / mt) * dev_sum;
            for &i in &idx {
                let dxh = gm * g[i];
                dx[i] = dxh / std + dvar * two * (x[i] - mean[c]) / mt + dmean / mt;
            }
        }
        if let Some((gg, gb)) = grads {
            for c in 0..self.channels {
                gg[c] += scale * dgamma[c];
                gb[c] += scale * dbeta[c];
            }
        }
    }
}
