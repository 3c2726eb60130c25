//! Second-order training: the parameter Jacobian contract ([`ParamJacobian`]), a
//! Cholesky solve on caller-owned storage ([`cholesky_solve`]) and Levenberg–Marquardt
//! ([`LevenbergMarquardt`]) for sum-of-squares losses, as MATLAB's `trainlm` documents
//! it. Nothing here allocates: every matrix lives in the caller's workspace.

use crate::network::{Buffer, Network};
use crate::scalar::Scalar;

/// Networks that give the Jacobian of their outputs with respect to their parameters
/// for one sample. Every `#[network]` implements it (the generated `param_jacobian`).
pub trait ParamJacobian: Network {
    /// Writes `jac[k·PARAMS + j] = ∂yₖ/∂θⱼ` (row-major, `OUTPUT × PARAMS`) for the sample
    /// `x` and returns its outputs `y`; `None` (and `jac` untouched) if `jac.len()` is not
    /// `OUTPUT · PARAMS`.
    fn param_jacobian_into(&self, x: &Self::Input, jac: &mut [Self::Scalar]) -> Option<Self::Output>;
}

/// Networks that write out every value of one training step on one sample, for
/// [`explain_sgd_step`](crate::explain::explain_sgd_step) and for readers checking the
/// chain rule by hand. `#[network]` implements it for every network.
pub trait LayerValues: Network {
    /// Scalars [`LayerValues::layer_values`] writes: three per output of each layer
    /// that computes (a `Flatten` has none).
    const VALUES: usize;

    /// For sample `x` against target `t`: writes, for each layer that computes in layer
    /// order, its pre-activation `z`, its output `a` and its delta `δ = ∂L/∂z` (for a kind
    /// without an activation, such as pooling, `z = a` and `δ = ∂L/∂a`), each as many
    /// scalars as the layer has outputs, into `values[..VALUES]`; adds `∂L/∂θ` to `grad`
    /// and returns the loss. The same forward and backward code as `forward_trace` and
    /// `backward`, so the numbers are the network's own. `None` (nothing written) if
    /// `values` is shorter than `VALUES`.
    fn layer_values(
        &self,
        x: &Self::Input,
        t: &Self::Output,
        grad: &mut Self::Params,
        values: &mut [Self::Scalar],
    ) -> Option<Self::Scalar>;
}

/// Networks that give the exact Hessian-vector product of their loss with respect to
/// their parameters for one sample (Pearlmutter's R-operator, O(PARAMS) per product).
/// `#[network]` implements it for every network (dense, convolution, pooling and flatten
/// layers, with any activation and loss).
pub trait HessianVector: Network {
    /// Adds `H·v` to `hv`, `H = ∂²L/∂θ²` of the loss of sample `x` against target `t`.
    fn hessian_vector_product(&self, x: &Self::Input, t: &Self::Output, v: &Self::Params, hv: &mut Self::Params);
}

/// Why [`hessian`] or [`hessian_diagonal`] could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HessianError {
    /// `xs` and `ts` differ in length, or are empty.
    Samples {
        /// Number of inputs.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// The output buffer has the wrong length.
    Buffer {
        /// Scalars needed.
        needed: usize,
        /// Scalars given.
        given: usize,
    },
}

impl core::error::Error for HessianError {}

impl core::fmt::Display for HessianError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HessianError::Samples { inputs, targets } => {
                write!(
                    f,
                    "expected as many targets as inputs (at least one), found {inputs} inputs and {targets} targets"
                )
            }
            HessianError::Buffer { needed, given } => {
                write!(f, "the output buffer holds {given} scalars; it needs exactly {needed}")
            }
        }
    }
}

fn check_samples(xs: usize, ts: usize) -> Result<(), HessianError> {
    if xs != ts || xs == 0 {
        return Err(HessianError::Samples { inputs: xs, targets: ts });
    }
    Ok(())
}

/// The full Hessian of the mean loss over the samples, `H = (1/N)·Σ ∂²Lₛ/∂θ²`, into
/// `out` (row-major `PARAMS × PARAMS`, caller-owned): one [`HessianVector`] product per
/// column, so `O(PARAMS²)` per sample; for small networks. `H` is symmetric up to
/// rounding.
///
/// # Errors
///
/// [`HessianError`] if the sample counts differ or are zero or `out.len()` is not
/// `PARAMS²`; `out` is then untouched.
pub fn hessian<N: HessianVector>(
    net: &N,
    xs: &[N::Input],
    ts: &[N::Output],
    out: &mut [N::Scalar],
) -> Result<(), HessianError> {
    check_samples(xs.len(), ts.len())?;
    let n = N::PARAMS;
    if out.len() != n * n {
        return Err(HessianError::Buffer { needed: n * n, given: out.len() });
    }
    let scale = N::Scalar::ONE / N::Scalar::from_usize(xs.len());
    let mut v = N::Params::zeroed();
    let mut col = N::Params::zeroed();
    for j in 0..n {
        v.as_mut()[j] = N::Scalar::ONE;
        col.as_mut().fill(N::Scalar::ZERO);
        for (x, t) in xs.iter().zip(ts) {
            net.hessian_vector_product(x, t, &v, &mut col);
        }
        v.as_mut()[j] = N::Scalar::ZERO;
        // Column j; H is symmetric, so this is also row j.
        for (i, c) in col.as_ref().iter().enumerate() {
            out[i * n + j] = *c * scale;
        }
    }
    Ok(())
}

/// The diagonal of [`hessian`]'s matrix, `∂²L/∂θⱼ²` averaged over the samples, into
/// `out` (`PARAMS` scalars): `PARAMS` products per sample, no `PARAMS²` storage.
///
/// # Errors
///
/// As [`hessian`], with `out.len()` = `PARAMS`.
pub fn hessian_diagonal<N: HessianVector>(
    net: &N,
    xs: &[N::Input],
    ts: &[N::Output],
    out: &mut [N::Scalar],
) -> Result<(), HessianError> {
    check_samples(xs.len(), ts.len())?;
    let n = N::PARAMS;
    if out.len() != n {
        return Err(HessianError::Buffer { needed: n, given: out.len() });
    }
    let scale = N::Scalar::ONE / N::Scalar::from_usize(xs.len());
    let mut v = N::Params::zeroed();
    let mut col = N::Params::zeroed();
    for (j, o) in out.iter_mut().enumerate() {
        v.as_mut()[j] = N::Scalar::ONE;
        col.as_mut().fill(N::Scalar::ZERO);
        for (x, t) in xs.iter().zip(ts) {
            net.hessian_vector_product(x, t, &v, &mut col);
        }
        v.as_mut()[j] = N::Scalar::ZERO;
        *o = col.as_ref()[j] * scale;
    }
    Ok(())
}

/// Solves `(A + shift·I)·x = b` for a symmetric `A` (`n × n`, row-major, only the upper
/// triangle and the diagonal are read; `A` is not written) by Cholesky, `A + shift·I = L·Lᵀ`.
///
/// `l` receives the factor `L` (row-major `n × n`, lower triangle; it may not alias `a`),
/// `x` holds `b` on entry and the solution on return. `O(n³/6)` multiply-adds, no heap.
/// Returns `false`, leaving `x` unspecified, if `A + shift·I` is not (numerically)
/// positive definite or a length does not match.
pub fn cholesky_solve<T: Scalar>(a: &[T], shift: T, l: &mut [T], x: &mut [T]) -> bool {
    let n = x.len();
    if a.len() != n * n || l.len() != n * n {
        return false;
    }
    for i in 0..n {
        for j in 0..=i {
            // A is read from its upper triangle: A[j][i] = A[i][j].
            let mut s = a[j * n + i];
            if i == j {
                s += shift;
            }
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !s.is_finite() || s <= T::ZERO {
                    return false;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    // L·u = b, then Lᵀ·x = u.
    for i in 0..n {
        let mut s = x[i];
        for k in 0..i {
            s -= l[i * n + k] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    true
}

/// Why a Levenberg–Marquardt epoch could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LmError {
    /// `xs` and `ts` differ in length, or are empty.
    Samples {
        /// Number of inputs.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// The workspace is shorter than [`LevenbergMarquardt::workspace_len`].
    Workspace {
        /// Scalars needed.
        needed: usize,
        /// Scalars given.
        given: usize,
    },
}

impl core::error::Error for LmError {}

impl core::fmt::Display for LmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LmError::Samples { inputs, targets } => {
                write!(
                    f,
                    "expected as many targets as inputs (at least one), found {inputs} inputs and {targets} targets"
                )
            }
            LmError::Workspace { needed, given } => {
                write!(f, "the workspace holds {given} scalars; Levenberg–Marquardt needs {needed}")
            }
        }
    }
}

/// What one Levenberg–Marquardt epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LmEpoch<T> {
    /// `E = ½·Σ (y − t)²` over every sample and output before the epoch.
    pub error_before: T,
    /// The same after it (equal to `error_before` when no step was accepted).
    pub error_after: T,
    /// A step was accepted (it lowered the error).
    pub accepted: bool,
    /// μ after the epoch.
    pub mu: T,
    /// Trial steps solved in the epoch (each a Cholesky factorization and a pass over
    /// the data).
    pub trials: usize,
}

/// Levenberg–Marquardt for sum-of-squares losses, as MATLAB's `trainlm` documents it.
///
/// With `e` the residuals `y − t` of every output of every sample (`m = N·OUTPUT` of
/// them), `J` their Jacobian with respect to the `n = PARAMS` parameters, and the error
/// `E = ½·eᵀe`, one [`epoch`](Self::epoch) does
///
/// ```text
/// J, e ← Jacobian and residuals at θ;  H ← JᵀJ;  g ← Jᵀe
/// loop:
///     solve (H + μ·I)·Δ = −g          (Cholesky)
///     if E(θ + Δ) < E(θ):  θ ← θ + Δ;  μ ← μ·μ_dec;  done
///     else:                μ ← μ·μ_inc;  if μ > μ_max: stop, θ unchanged
/// ```
///
/// A step that does not lower the error is never taken. Defaults as `trainlm`:
/// μ = 0.001, μ_dec = 0.1, μ_inc = 10, μ_max = 1e10. μ small makes the step Gauss–Newton's,
/// μ large a short gradient-descent step (`−g/μ`).
///
/// The update minimizes the sum of squared residuals, so it is meant for `half_sse` and
/// `mse` networks (their minimizers are the same); the network's own loss is not read.
///
/// # Memory
///
/// Everything lives in the caller's workspace of
/// [`workspace_len`](Self::workspace_len)`(N, OUTPUT, PARAMS)` =
/// `N·OUTPUT·PARAMS + 2·PARAMS² + 3·PARAMS` scalars: the Jacobian (`m × n`), `JᵀJ`, its
/// Cholesky factor, `Jᵀe`, the step and the parameters before the step. For a 1-10-1
/// network (31 parameters) on 100 samples in `f64` that is 40.9 KB; the cost grows as
/// `PARAMS²`, so this is a method for small networks. Time per epoch: one forward and
/// `OUTPUT` backward passes per sample, `m·n²/2` multiply-adds for `JᵀJ` and `n³/6` per
/// trial factorization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevenbergMarquardt<T> {
    /// The damping μ (`trainlm`'s `mu`).
    pub mu: T,
    /// Factor applied to μ after a step that lowers the error (`mu_dec`).
    pub mu_dec: T,
    /// Factor applied to μ after a step that does not (`mu_inc`).
    pub mu_inc: T,
    /// Training stops when μ exceeds this (`mu_max`).
    pub mu_max: T,
}

impl<T: Scalar> Default for LevenbergMarquardt<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar> LevenbergMarquardt<T> {
    /// `trainlm`'s defaults: μ = 0.001, μ_dec = 0.1, μ_inc = 10, μ_max = 1e10.
    #[must_use]
    pub fn new() -> Self {
        Self { mu: T::from_f64(1e-3), mu_dec: T::from_f64(0.1), mu_inc: T::from_f64(10.0), mu_max: T::from_f64(1e10) }
    }

    /// Scalars of workspace an epoch over `samples` samples needs:
    /// `samples·outputs·params + 2·params² + 3·params`.
    #[must_use]
    pub const fn workspace_len(samples: usize, outputs: usize, params: usize) -> usize {
        samples * outputs * params + 2 * params * params + 3 * params
    }

    /// μ has passed μ_max: `trainlm` stops here.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.mu > self.mu_max
    }

    /// `E = ½·Σ (y − t)²` of `net` over the samples.
    pub fn error<N: Network>(net: &N, xs: &[N::Input], ts: &[N::Output]) -> N::Scalar {
        let mut e = N::Scalar::ZERO;
        for (x, t) in xs.iter().zip(ts) {
            let y = net.forward(x);
            for (yi, ti) in y.as_ref().iter().zip(t.as_ref()) {
                let r = *yi - *ti;
                e += r * r;
            }
        }
        e * N::Scalar::from_f64(0.5)
    }

    /// One epoch (see the type's documentation) over the whole data set: at most one
    /// accepted step, never one that increases the error. Once μ has passed μ_max
    /// ([`stopped`](Self::stopped)) an epoch changes nothing.
    ///
    /// # Errors
    ///
    /// [`LmError`] if the sample counts differ or are zero, or `work` is shorter than
    /// [`workspace_len`](Self::workspace_len); the network is then unchanged.
    pub fn epoch<N: ParamJacobian<Scalar = T>>(
        &mut self,
        net: &mut N,
        xs: &[N::Input],
        ts: &[N::Output],
        work: &mut [T],
    ) -> Result<LmEpoch<T>, LmError> {
        let (m_samples, o, n) = (xs.len(), N::OUTPUT, N::PARAMS);
        if xs.len() != ts.len() || xs.is_empty() {
            return Err(LmError::Samples { inputs: xs.len(), targets: ts.len() });
        }
        let needed = Self::workspace_len(m_samples, o, n);
        if work.len() < needed {
            return Err(LmError::Workspace { needed, given: work.len() });
        }
        let (jac, rest) = work.split_at_mut(m_samples * o * n);
        let (h, rest) = rest.split_at_mut(n * n);
        let (l, rest) = rest.split_at_mut(n * n);
        let (g, rest) = rest.split_at_mut(n);
        let (step, rest) = rest.split_at_mut(n);
        let theta = &mut rest[..n];

        // J and e; g = Jᵀe, E = ½eᵀe.
        let zero = T::ZERO;
        g.fill(zero);
        let mut error = zero;
        for (s, (x, t)) in xs.iter().zip(ts).enumerate() {
            let rows = &mut jac[s * o * n..(s + 1) * o * n];
            // The length is exactly OUTPUT·PARAMS, so the generated Jacobian accepts it.
            let Some(y) = net.param_jacobian_into(x, rows) else {
                return Err(LmError::Workspace { needed, given: 0 });
            };
            for (k, (yk, tk)) in y.as_ref().iter().zip(t.as_ref()).enumerate() {
                let r = *yk - *tk;
                error += r * r;
                for (gj, jj) in g.iter_mut().zip(&rows[k * n..(k + 1) * n]) {
                    *gj += *jj * r;
                }
            }
        }
        error *= T::from_f64(0.5);
        // H = JᵀJ, upper triangle.
        h.fill(zero);
        for row in jac.chunks_exact(n) {
            for i in 0..n {
                let ri = row[i];
                if ri == zero {
                    continue;
                }
                for j in i..n {
                    h[i * n + j] += ri * row[j];
                }
            }
        }
        theta.copy_from_slice(net.params().as_ref());
        let mut trials = 0;
        while !self.stopped() {
            trials += 1;
            // (H + μI)·Δ = −g; H itself is left as it is for the next trial.
            for (i, si) in step.iter_mut().enumerate() {
                *si = -g[i];
            }
            let damped_ok = cholesky_solve(h, self.mu, l, step);
            if damped_ok {
                for (p, (t0, d)) in net.params_mut().as_mut().iter_mut().zip(theta.iter().zip(step.iter())) {
                    *p = *t0 + *d;
                }
                let new_error = Self::error(net, xs, ts);
                if new_error < error {
                    self.mu *= self.mu_dec;
                    return Ok(LmEpoch {
                        error_before: error,
                        error_after: new_error,
                        accepted: true,
                        mu: self.mu,
                        trials,
                    });
                }
                net.params_mut().as_mut().copy_from_slice(theta);
            }
            self.mu *= self.mu_inc;
        }
        Ok(LmEpoch { error_before: error, error_after: error, accepted: false, mu: self.mu, trials })
    }
}

#[cfg(test)]
mod tests {
    use super::cholesky_solve;

    #[test]
    fn cholesky_solves_a_shifted_spd_system() {
        // A = [[4, 2, 0], [2, 5, 1], [0, 1, 3]] (upper triangle read), shift 1.
        let a = [4.0, 2.0, 0.0, f64::NAN, 5.0, 1.0, f64::NAN, f64::NAN, 3.0];
        let want = [1.0, -2.0, 0.5];
        // b = (A + I)·want
        let full = [[5.0, 2.0, 0.0], [2.0, 6.0, 1.0], [0.0, 1.0, 4.0]];
        let mut x: [f64; 3] = core::array::from_fn(|i| (0..3).map(|j| full[i][j] * want[j]).sum());
        let mut l = [0.0; 9];
        assert!(cholesky_solve(&a, 1.0, &mut l, &mut x));
        for (xi, wi) in x.iter().zip(want) {
            assert!((xi - wi).abs() < 1e-12, "{x:?}");
        }
    }

    #[test]
    fn workspace_of_the_documented_example() {
        // 1-10-1 network (31 parameters), 100 samples, f64: 5,115 scalars = 40,920 bytes.
        let n = super::LevenbergMarquardt::<f64>::workspace_len(100, 1, 31);
        assert_eq!(n, 5115);
        assert_eq!(n * core::mem::size_of::<f64>(), 40_920);
    }

    #[test]
    fn cholesky_refuses_an_indefinite_matrix() {
        let a = [1.0, 2.0, 2.0, 1.0];
        let (mut l, mut x) = ([0.0; 4], [1.0, 1.0]);
        assert!(!cholesky_solve(&a, 0.0, &mut l, &mut x));
        assert!(!cholesky_solve(&a, 0.0, &mut l, &mut [1.0; 3]));
    }
}
