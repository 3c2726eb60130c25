//! Layer normalization, as `torch.nn.LayerNorm(normalized_shape)` over the layer's whole
//! per-sample input: `y = γ ⊙ (x − μ)/√(σ² + ε) + β`, μ and σ² the mean and the biased
//! variance of the sample's `N` values; weight γ (ones) and bias β (zeros) of the input's
//! shape, flat row-major.
//!
//! Backward is the chain rule taken step by step through the normalization, without the
//! simplified form the generated code uses: with `g = γ ⊙ ∂L/∂y` and `c = x − μ`,
//! `∂L/∂σ² = −½·r³·Σ g ⊙ c`, `∂L/∂μ = −r·Σ g − (2/N)·∂L/∂σ²·Σ c` and
//! `∂L/∂x = r·g + (2/N)·∂L/∂σ²·c + ∂L/∂μ/N`, where `r = 1/√(σ² + ε)`. Nothing is kept
//! between forward and backward: the statistics are recomputed from the input.

use crate::scalar::Scalar;

/// A resolved layer norm over `n` values.
#[derive(Clone, Copy, Debug)]
pub(super) struct LayerNorm {
    pub(super) n: usize,
    pub(super) eps: f64,
}

impl LayerNorm {
    /// `(μ, σ²)` of `x`, the variance biased (divided by `N`).
    fn stats<T: Scalar>(self, x: &[T]) -> (T, T) {
        let n = T::from_usize(self.n);
        let mean = x.iter().fold(T::ZERO, |a, &v| a + v) / n;
        let var = x.iter().fold(T::ZERO, |a, &v| a + (v - mean) * (v - mean)) / n;
        (mean, var)
    }

    fn rstd<T: Scalar>(self, var: T) -> T {
        T::ONE / (var + T::from_f64(self.eps)).sqrt()
    }

    /// `y = γ ⊙ x̂ + β` (`γ`, `β` absent: 1 and 0).
    pub(super) fn forward<T: Scalar>(self, gamma: Option<&[T]>, beta: Option<&[T]>, x: &[T], y: &mut [T]) {
        let (mean, var) = self.stats(x);
        let r = self.rstd(var);
        for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
            let xh = (v - mean) * r;
            let scaled = gamma.map_or(xh, |g| g[i] * xh);
            *o = beta.map_or(scaled, |b| scaled + b[i]);
        }
    }

    /// Adds `scale·∂L/∂γ = scale·dy ⊙ x̂` into `gw` and `scale·dy` into `gb`.
    pub(super) fn accumulate_param_grad<T: Scalar>(
        self,
        x: &[T],
        dy: &[T],
        scale: T,
        gw: &mut [T],
        gb: Option<&mut [T]>,
    ) {
        let (mean, var) = self.stats(x);
        let r = self.rstd(var);
        for ((g, &d), &v) in gw.iter_mut().zip(dy).zip(x) {
            *g += scale * d * ((v - mean) * r);
        }
        if let Some(gb) = gb {
            for (g, &d) in gb.iter_mut().zip(dy) {
                *g += scale * d;
            }
        }
    }

    /// Adds `factor·∂L/∂x` into `dx`.
    pub(super) fn accumulate_input_grad<T: Scalar>(
        self,
        gamma: Option<&[T]>,
        x: &[T],
        dy: &[T],
        factor: T,
        dx: &mut [T],
    ) {
        let n = T::from_usize(self.n);
        let (mean, var) = self.stats(x);
        let r = self.rstd(var);
        let g = |i: usize| gamma.map_or(dy[i], |w| w[i] * dy[i]);
        let mut g_c = T::ZERO;
        let mut g_sum = T::ZERO;
        let mut c_sum = T::ZERO;
        for (i, &v) in x.iter().enumerate() {
            g_c += g(i) * (v - mean);
            g_sum += g(i);
            c_sum += v - mean;
        }
        let two = T::from_f64(2.0);
        let d_var = -T::from_f64(0.5) * r * r * r * g_c;
        let d_mean = -r * g_sum - two / n * d_var * c_sum;
        for (i, (d, &v)) in dx.iter_mut().zip(x).enumerate() {
            *d += factor * (r * g(i) + two / n * d_var * (v - mean) + d_mean / n);
        }
    }
}
