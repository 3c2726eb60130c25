//! Damped Newton steps by conjugate gradient on exact Hessian-vector products
//! ("Hessian-free" optimization, Martens 2010), for any loss.
//!
//! Entry point: [`HessianFree::epoch`].

use crate::network::Network;
use crate::scalar::Scalar;
use crate::second_order::HessianVector;

/// Why a Hessian-free epoch could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HfError {
    /// `xs` and `ts` differ in length, or are empty.
    Samples {
        /// Number of inputs.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// The workspace is shorter than [`HessianFree::workspace_len`].
    Workspace {
        /// Scalars needed.
        needed: usize,
        /// Scalars given.
        given: usize,
    },
}

impl core::error::Error for HfError {}

impl core::fmt::Display for HfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HfError::Samples { inputs, targets } => write!(
                f,
                "expected as many targets as inputs (at least one), found {inputs} inputs and {targets} targets"
            ),
            HfError::Workspace { needed, given } => {
                write!(f, "the workspace holds {given} scalars; the Hessian-free step needs {needed}")
            }
        }
    }
}

/// What one Hessian-free epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HfEpoch<T> {
    /// The mean loss over the samples before the epoch.
    pub loss_before: T,
    /// The same after it (equal to `loss_before` when no step was accepted).
    pub loss_after: T,
    /// A step was accepted (it lowered the loss).
    pub accepted: bool,
    /// λ after the epoch.
    pub lambda: T,
    /// Trial steps solved in the epoch.
    pub trials: usize,
    /// Hessian-vector products over the whole data set in the epoch (conjugate-gradient
    /// iterations, plus one per trial for the reduction ratio).
    pub products: usize,
}

/// A damped Newton method on the exact Hessian, by conjugate gradient on Hessian-vector
/// products (Martens, "Deep learning via Hessian-free optimization", 2010), with the
/// damping adjusted like Levenberg–Marquardt's μ.
///
/// With `L` the mean loss over the samples, `g = ∇L`, `H = ∇²L` (never formed: only
/// `H·v` through [`HessianVector`], O(PARAMS) per sample), one [`epoch`](Self::epoch) does
///
/// ```text
/// g ← ∇L(θ)
/// loop:
///     Δ ← CG on (H + λ·I)·Δ = −g from Δ = 0, at most `cg_max` iterations, until
///         ‖r‖ ≤ cg_tol·‖g‖, or until a direction of curvature ≤ 0 (H may be indefinite)
///     ρ ← (L(θ + Δ) − L(θ)) / (gᵀΔ + ½·ΔᵀHΔ)     (actual over predicted reduction)
///     if L(θ + Δ) < L(θ):  θ ← θ + Δ;  λ ← λ·2/3 if ρ > 3/4, λ·3/2 if ρ < 1/4;  done
///     else:                λ ← λ·λ_inc;  if λ > λ_max: stop, θ unchanged
/// ```
///
/// A step that does not lower the loss is never taken. Defaults: λ = 1, `cg_max` = 50,
/// `cg_tol` = 1e-6, λ_inc = 10, λ_max = 1e10 (Martens' 2/3 and 3/2 between accepted
/// steps). Large λ makes the step a short gradient step `−g/λ`, small λ Newton's.
///
/// # Memory
///
/// No heap: the caller's workspace of [`workspace_len`](Self::workspace_len)`(PARAMS)` =
/// `6·PARAMS` scalars holds the gradient, the step, CG's residual, direction and `H·p`,
/// and the parameters before the step; `scratch`, two parameter arrays, the direction
/// and the sum of `H·v` in the generated method's types. Time per CG iteration: one
/// `H·v` per sample, each about two to three gradients (see `benches/hessian.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HessianFree<T> {
    /// The damping λ.
    pub lambda: T,
    /// Factor applied to λ after a trial step that does not lower the loss.
    pub lambda_inc: T,
    /// Training stops when λ exceeds this.
    pub lambda_max: T,
    /// Conjugate-gradient iterations per trial, at most.
    pub cg_max: usize,
    /// CG stops when the residual's norm falls below `cg_tol·‖g‖`.
    pub cg_tol: T,
}

impl<T: Scalar> Default for HessianFree<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::ZERO, |s, (x, y)| s + *x * *y)
}

impl<T: Scalar> HessianFree<T> {
    /// λ = 1, λ_inc = 10, λ_max = 1e10, 50 CG iterations, CG tolerance 1e-6.
    #[must_use]
    pub fn new() -> Self {
        Self {
            lambda: T::ONE,
            lambda_inc: T::from_f64(10.0),
            lambda_max: T::from_f64(1e10),
            cg_max: 50,
            cg_tol: T::from_f64(1e-6),
        }
    }

    /// Scalars of workspace an epoch needs: `6·params`.
    #[must_use]
    pub const fn workspace_len(params: usize) -> usize {
        6 * params
    }

    /// λ has passed λ_max: training stops here.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.lambda > self.lambda_max
    }

    /// The mean loss of `net` over the samples.
    pub fn loss<N: Network>(net: &N, xs: &[N::Input], ts: &[N::Output]) -> N::Scalar {
        let mut l = N::Scalar::ZERO;
        for (x, t) in xs.iter().zip(ts) {
            l += net.loss(x, t);
        }
        l / N::Scalar::from_usize(xs.len())
    }

    /// `out = (1/N)·Σ H_s·v` over the samples; `col` is per-sample scratch.
    fn mean_hv<N: HessianVector<Scalar = T>>(
        net: &N,
        xs: &[N::Input],
        ts: &[N::Output],
        v: &[T],
        out: &mut [T],
        vbuf: &mut N::Params,
        col: &mut N::Params,
    ) {
        vbuf.as_mut().copy_from_slice(v);
        col.as_mut().fill(T::ZERO);
        for (x, t) in xs.iter().zip(ts) {
            net.hessian_vector_product(x, t, vbuf, col);
        }
        let inv = T::ONE / T::from_usize(xs.len());
        for (o, c) in out.iter_mut().zip(col.as_ref()) {
            *o = *c * inv;
        }
    }

    /// One epoch (see the type's documentation) over the whole data set: at most one
    /// accepted step, never one that increases the loss. Once λ has passed λ_max
    /// ([`stopped`](Self::stopped)) an epoch changes nothing.
    ///
    /// `scratch` holds two parameter-sized buffers for the generated `H·v` (which takes
    /// fixed-size arrays); pass `&mut [N::Params::zeroed(), N::Params::zeroed()]` kept
    /// across epochs, or boxed ones for large networks.
    ///
    /// # Errors
    ///
    /// [`HfError`] if the sample counts differ or are zero, or `work` is shorter than
    /// [`workspace_len`](Self::workspace_len); the network is then unchanged.
    pub fn epoch<N: HessianVector<Scalar = T>>(
        &mut self,
        net: &mut N,
        xs: &[N::Input],
        ts: &[N::Output],
        work: &mut [T],
        scratch: &mut [N::Params; 2],
    ) -> Result<HfEpoch<T>, HfError> {
        let n = N::PARAMS;
        if xs.len() != ts.len() || xs.is_empty() {
            return Err(HfError::Samples { inputs: xs.len(), targets: ts.len() });
        }
        let needed = Self::workspace_len(n);
        if work.len() < needed {
            return Err(HfError::Workspace { needed, given: work.len() });
        }
        let (g, rest) = work.split_at_mut(n);
        let (step, rest) = rest.split_at_mut(n);
        let (r, rest) = rest.split_at_mut(n);
        let (p, rest) = rest.split_at_mut(n);
        let (hp, rest) = rest.split_at_mut(n);
        let theta = &mut rest[..n];
        let [vbuf, col] = scratch;

        // g = mean gradient, L0 = mean loss.
        g.fill(T::ZERO);
        let mut loss0 = T::ZERO;
        for (x, t) in xs.iter().zip(ts) {
            col.as_mut().fill(T::ZERO);
            loss0 += net.gradient(x, t, col);
            for (gj, cj) in g.iter_mut().zip(col.as_ref()) {
                *gj += *cj;
            }
        }
        let inv = T::ONE / T::from_usize(xs.len());
        loss0 *= inv;
        g.iter_mut().for_each(|v| *v *= inv);
        let gnorm = dot(g, g).sqrt();
        theta.copy_from_slice(net.params().as_ref());
        let (mut trials, mut products) = (0, 0);
        let half = T::from_f64(0.5);
        while !self.stopped() {
            trials += 1;
            // CG on (H + λI)·Δ = −g from Δ = 0: r = −g, p = r.
            step.fill(T::ZERO);
            for ((ri, pi), gi) in r.iter_mut().zip(p.iter_mut()).zip(g.iter()) {
                *ri = -*gi;
                *pi = -*gi;
            }
            let mut rr = dot(r, r);
            for _ in 0..self.cg_max {
                if rr.sqrt() <= self.cg_tol * gnorm {
                    break;
                }
                Self::mean_hv(net, xs, ts, p, hp, vbuf, col);
                products += 1;
                for (h, pi) in hp.iter_mut().zip(p.iter()) {
                    *h += self.lambda * *pi;
                }
                let curvature = dot(p, hp);
                if !curvature.is_finite() || curvature <= T::ZERO {
                    // Negative curvature of H + λI: keep the step so far.
                    break;
                }
                let alpha = rr / curvature;
                for i in 0..n {
                    step[i] += alpha * p[i];
                    r[i] -= alpha * hp[i];
                }
                let rr_new = dot(r, r);
                let beta = rr_new / rr;
                rr = rr_new;
                for (pi, ri) in p.iter_mut().zip(r.iter()) {
                    *pi = *ri + beta * *pi;
                }
            }
            if step.iter().all(|s| *s == T::ZERO) {
                // No descent direction at this λ (curvature ≤ 0 at once): damp more.
                self.lambda *= self.lambda_inc;
                continue;
            }
            // The quadratic model's reduction, on the undamped H.
            Self::mean_hv(net, xs, ts, step, hp, vbuf, col);
            products += 1;
            let predicted = dot(g, step) + half * dot(step, hp);
            for (pj, (tj, sj)) in net.params_mut().as_mut().iter_mut().zip(theta.iter().zip(step.iter())) {
                *pj = *tj + *sj;
            }
            let loss1 = Self::loss(net, xs, ts);
            if loss1 < loss0 {
                let rho = (loss1 - loss0) / predicted;
                if rho > T::from_f64(0.75) {
                    self.lambda *= T::from_f64(2.0 / 3.0);
                } else if rho < T::from_f64(0.25) {
                    self.lambda *= T::from_f64(1.5);
                }
                return Ok(HfEpoch {
                    loss_before: loss0,
                    loss_after: loss1,
                    accepted: true,
                    lambda: self.lambda,
                    trials,
                    products,
                });
            }
            net.params_mut().as_mut().copy_from_slice(theta);
            self.lambda *= self.lambda_inc;
        }
        Ok(HfEpoch { loss_before: loss0, loss_after: loss0, accepted: false, lambda: self.lambda, trials, products })
    }
}
