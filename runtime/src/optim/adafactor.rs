//! Adafactor, as Keras' `Adafactor`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, powf, sqrt};
use crate::network::ParamInfo;
use crate::scalar::Scalar;

/// Adafactor (Shazeer & Stern 2018), following Keras' `keras.optimizers.Adafactor`
/// (its `update_step`), with second moments factored into row and column means for
/// tensors of two or more dimensions.
///
/// With learning rate γ, decay exponent d (`beta_2_decay`), ε₁, ε₂ and clipping threshold
/// c, step `t` (from 1) does, for each tensor `θ` with gradient `g`:
///
/// ```text
/// γ_t ← min(γ, 1/√t)                        (relative_step; else γ_t ← γ)
/// ρ_t ← min(γ_t, 1/√t)
/// α_t ← max(ε₂, rms(θ)) · ρ_t
/// β_t ← 1 − t^d
/// G ← g² + ε₁
/// rank ≥ 2, viewed as [B][R][C] (the last two dimensions factored):
///     r[b][i] ← β_t·r[b][i] + (1 − β_t)·mean_j G[b][i][j]
///     c[b][j] ← β_t·c[b][j] + (1 − β_t)·mean_i G[b][i][j]
///     v[b][i][j] ← r[b][i] / mean_i′ r[b][i′] · c[b][j]
/// else:
///     v ← β_t·v + (1 − β_t)·G
/// u ← g/√v;   û ← u / max(1, rms(u)/c)
/// θ ← θ − α_t·û
/// ```
///
/// with `rms(x) = √(mean(x²))` over the tensor. The tensors are those of the layout given
/// with [`layout`](Self::layout) (a network's `LAYOUT`, so weight matrices are factored);
/// without a layout the whole parameter array is one unfactored tensor.
///
/// Defaults as Keras: γ = 1e-3 ([`Default`]), d = −0.8, ε₁ = 1e-30, ε₂ = 1e-3, c = 1,
/// relative step on. `S` holds `r` and `v` (or `r`) in one buffer and `c` in another: a
/// factored `[B][R][C]` tensor keeps `B·(R + C)` scalars of its `2·B·R·C`.
#[derive(Clone, Debug)]
pub struct Adafactor<S> {
    pub(crate) lr: f64,
    beta_2_decay: f64,
    eps1: f64,
    eps2: f64,
    clip_threshold: f64,
    relative_step: bool,
    layout: &'static [ParamInfo],
    t: u64,
    a: S,
    b: S,
}

impl<S: State> Default for Adafactor<S> {
    /// Adafactor with Keras' default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Adafactor<S> {
    /// Keras' default learning rate for Adafactor.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// Adafactor with learning rate `lr` and Keras' other defaults, the parameters one
    /// unfactored tensor.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self {
            lr,
            beta_2_decay: -0.8,
            eps1: 1e-30,
            eps2: 1e-3,
            clip_threshold: 1.0,
            relative_step: true,
            layout: &[],
            t: 0,
            a: S::ZEROED,
            b: S::ZEROED,
        }
    }

    /// Sets the decay exponent d of `β_t = 1 − t^d` (default −0.8).
    #[must_use]
    pub const fn beta_2_decay(mut self, d: f64) -> Self {
        self.beta_2_decay = d;
        self
    }

    /// Sets ε₁, added to `g²` (default 1e-30).
    #[must_use]
    pub const fn epsilon_1(mut self, eps: f64) -> Self {
        self.eps1 = eps;
        self
    }

    /// Sets ε₂, the floor of `rms(θ)` in the step size (default 1e-3).
    #[must_use]
    pub const fn epsilon_2(mut self, eps: f64) -> Self {
        self.eps2 = eps;
        self
    }

    /// Sets the clipping threshold c of `rms(u)` (default 1).
    #[must_use]
    pub const fn clip_threshold(mut self, c: f64) -> Self {
        self.clip_threshold = c;
        self
    }

    /// Caps the learning rate at `1/√t` (default on).
    #[must_use]
    pub const fn relative_step(mut self, on: bool) -> Self {
        self.relative_step = on;
        self
    }

    /// Takes the tensors (and their shapes, for factoring) from `layout` (a network's
    /// `LAYOUT`); parameters outside every tensor are updated as one-element tensors.
    #[must_use]
    pub const fn layout(mut self, layout: &'static [ParamInfo]) -> Self {
        self.layout = layout;
        self
    }

    /// Number of steps taken since creation or the last [`reset`](Self::reset).
    #[inline]
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Forgets all state: the next step is a first step again.
    #[inline]
    pub fn reset(&mut self) {
        self.t = 0;
    }

    fn plain_rate(&self) -> Option<f64> {
        None
    }

    fn update<T: Scalar>(&mut self, params: &mut [T], grads: &[T])
    where
        S: State<Elem = T>,
    {
        check_lengths(params, grads);
        let len = params.len();
        if (fit_state(&mut self.a, len) | fit_state(&mut self.b, len)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.a, T::ZERO);
            fill(&mut self.b, T::ZERO);
        }
        self.t += 1;
        let t = self.t as f64;
        let inv_sqrt_t = 1.0 / sqrt(t);
        let lr = if self.relative_step { self.lr.min(inv_sqrt_t) } else { self.lr };
        let step = Step {
            rho: T::from_f64(lr.min(inv_sqrt_t)),
            beta: T::from_f64(1.0 - powf(t, self.beta_2_decay)),
            eps1: T::from_f64(self.eps1),
            eps2: T::from_f64(self.eps2),
            clip: T::from_f64(self.clip_threshold),
        };
        let (a, b) = (self.a.as_mut(), self.b.as_mut());
        let mut covered = 0;
        for info in self.layout {
            let r = info.range();
            if r.end > len {
                continue;
            }
            let shape = info.shape;
            let dims = if shape.len() >= 2 {
                let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
                Some((r.len() / (rows * cols).max(1), rows, cols))
            } else {
                None
            };
            step.tensor(&mut params[r.clone()], &grads[r.clone()], &mut a[r.clone()], &mut b[r.clone()], dims);
            covered += r.len();
        }
        if self.layout.is_empty() {
            step.tensor(params, grads, a, b, None);
        } else if covered < len {
            for i in 0..len {
                if !self.layout.iter().any(|info| info.range().contains(&i) && info.range().end <= len) {
                    step.tensor(&mut params[i..=i], &grads[i..=i], &mut a[i..=i], &mut b[i..=i], None);
                }
            }
        }
    }
}

/// The per-step scalars of one Adafactor step.
struct Step<T> {
    rho: T,
    beta: T,
    eps1: T,
    eps2: T,
    clip: T,
}

fn rms<T: Scalar>(x: impl Iterator<Item = T>) -> T {
    let (mut s, mut n) = (T::ZERO, 0usize);
    for v in x {
        s += v * v;
        n += 1;
    }
    (s / T::from_usize(n.max(1))).sqrt()
}

impl<T: Scalar> Step<T> {
    /// One tensor; `dims` = `(B, R, C)` to factor, `None` for a full `v` (kept in `a`).
    /// Factored, `r` lives in `a[..B·R]` and `c` in `b[..B·C]`.
    fn tensor(&self, p: &mut [T], g: &[T], a: &mut [T], b: &mut [T], dims: Option<(usize, usize, usize)>) {
        let alpha = self.eps2.max(rms(p.iter().copied())) * self.rho;
        let one_minus = T::ONE - self.beta;
        let sq = |x: T| x * x + self.eps1;
        match dims {
            Some((nb, rows, cols)) => {
                for bi in 0..nb {
                    let base = bi * rows * cols;
                    for i in 0..rows {
                        let mean = (0..cols).map(|j| sq(g[base + i * cols + j])).sum::<T>() / T::from_usize(cols);
                        a[bi * rows + i] = self.beta * a[bi * rows + i] + one_minus * mean;
                    }
                    for j in 0..cols {
                        let mean = (0..rows).map(|i| sq(g[base + i * cols + j])).sum::<T>() / T::from_usize(rows);
                        b[bi * cols + j] = self.beta * b[bi * cols + j] + one_minus * mean;
                    }
                }
            }
            None => {
                for (v, &gk) in a.iter_mut().zip(g) {
                    *v = self.beta * *v + one_minus * sq(gk);
                }
            }
        }
        let (a, b) = (&*a, &*b);
        let u = |k: usize| g[k] / v_at(a, b, dims, k).sqrt();
        let scale = T::ONE.max(rms((0..p.len()).map(u)) / self.clip);
        for (k, pk) in p.iter_mut().enumerate() {
            *pk -= alpha * (u(k) / scale);
        }
    }
}

/// `v[k]` from the state after this step's update: `r[b][i]/mean(r[b])·c[b][j]` for a
/// factored tensor, `a[k]` otherwise.
fn v_at<T: Scalar>(a: &[T], b: &[T], dims: Option<(usize, usize, usize)>, k: usize) -> T {
    match dims {
        Some((_, rows, cols)) => {
            let (bi, rem) = (k / (rows * cols), k % (rows * cols));
            let (i, j) = (rem / cols, rem % cols);
            let r = &a[bi * rows..(bi + 1) * rows];
            let r_mean = r.iter().copied().sum::<T>() / T::from_usize(rows);
            r[i] / r_mean * b[bi * cols + j]
        }
        None => a[k],
    }
}

impl_optimizer!(Adafactor);
