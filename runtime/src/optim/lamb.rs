//! LAMB, as Keras' `Lamb`.

use super::{State, check_lengths, fill, fit_state, impl_optimizer, powf, sqrt};
use crate::network::ParamInfo;
use crate::scalar::Scalar;

/// LAMB (You et al. 2019): Adam's step scaled per parameter tensor by the trust ratio
/// `‖θ‖/‖u‖`, following Keras' `keras.optimizers.Lamb` (torch.optim has no LAMB).
///
/// With learning rate γ, betas (β₁, β₂) and ε, step `t` (from 1) does, for each tensor:
///
/// ```text
/// m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t ← β₂·v_{t−1} + (1 − β₂)·g_t²
/// u_t ← (m_t/(1 − β₁ᵗ)) / (√v_t/√(1 − β₂ᵗ) + ε)
/// r ← ‖θ_{t−1}‖/‖u_t‖ if both norms are positive, else 1
/// θ_t ← θ_{t−1} − γ·r·u_t
/// ```
///
/// The norms are over each tensor of the layout given with [`layout`](Self::layout)
/// (a network's `LAYOUT`: one ratio per weight matrix and per bias, as Keras has one
/// per variable); without a layout the whole parameter array is one tensor.
///
/// Defaults as Keras: γ = 1e-3 ([`Default`]), β = (0.9, 0.999), ε = 1e-6. Keras' `Lamb`
/// has no weight decay term of its own. `S` holds `m` and `v`; the step keeps no other
/// buffer (the trust ratio is computed in a first pass over each tensor, the update in a
/// second).
#[derive(Clone, Debug)]
pub struct Lamb<S> {
    pub(crate) lr: f64,
    betas: (f64, f64),
    eps: f64,
    layout: &'static [ParamInfo],
    t: u64,
    m: S,
    v: S,
}

impl<S: State> Default for Lamb<S> {
    /// Lamb with Keras' default learning rate, 1e-3.
    #[inline]
    fn default() -> Self {
        Self::new(Self::DEFAULT_LR)
    }
}

impl<S> Lamb<S> {
    /// Keras' default learning rate for Lamb.
    pub const DEFAULT_LR: f64 = 1e-3;

    /// Lamb with learning rate `lr` and Keras' other defaults, the parameters one tensor.
    #[must_use]
    pub const fn new(lr: f64) -> Self
    where
        S: State,
    {
        Self { lr, betas: (0.9, 0.999), eps: 1e-6, layout: &[], t: 0, m: S::ZEROED, v: S::ZEROED }
    }

    /// Sets the betas (β₁, β₂) (default (0.9, 0.999)).
    #[must_use]
    pub const fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets ε (default 1e-6).
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Takes one trust ratio per tensor of `layout` (a network's `LAYOUT`); parameters
    /// outside every tensor get ratio 1.
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
        if (fit_state(&mut self.m, len) | fit_state(&mut self.v, len)) || self.t == 0 {
            self.t = 0;
            fill(&mut self.m, T::ZERO);
            fill(&mut self.v, T::ZERO);
        }
        self.t += 1;
        let (beta1, beta2) = self.betas;
        let t = self.t as f64;
        let c = Coeffs {
            b1: T::from_f64(beta1),
            c1: T::from_f64(1.0 - beta1),
            b2: T::from_f64(beta2),
            c2: T::from_f64(1.0 - beta2),
            bias1: T::from_f64(1.0 - powf(beta1, t)),
            bias2_sqrt: T::from_f64(sqrt(1.0 - powf(beta2, t))),
            eps: T::from_f64(self.eps),
            lr: T::from_f64(self.lr),
        };
        let (m, v) = (self.m.as_mut(), self.v.as_mut());
        if self.layout.is_empty() {
            c.tensor(params, grads, m, v, true);
            return;
        }
        let mut covered = 0;
        for info in self.layout {
            let r = info.range();
            if r.end > len {
                continue;
            }
            c.tensor(&mut params[r.clone()], &grads[r.clone()], &mut m[r.clone()], &mut v[r.clone()], true);
            covered += r.len();
        }
        if covered < len {
            // Elements no tensor names: ratio 1 (plain Adam step), done element by element.
            for i in 0..len {
                if !self.layout.iter().any(|info| info.range().contains(&i) && info.range().end <= len) {
                    c.tensor(&mut params[i..=i], &grads[i..=i], &mut m[i..=i], &mut v[i..=i], false);
                }
            }
        }
    }
}

/// The per-step scalars of one Lamb step.
struct Coeffs<T> {
    b1: T,
    c1: T,
    b2: T,
    c2: T,
    bias1: T,
    bias2_sqrt: T,
    eps: T,
    lr: T,
}

impl<T: Scalar> Coeffs<T> {
    /// One tensor: moments, then the trust ratio (if `trust`), then the update.
    fn tensor(&self, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], trust: bool) {
        let (mut w2, mut u2) = (T::ZERO, T::ZERO);
        for i in 0..p.len() {
            m[i] = self.b1 * m[i] + self.c1 * g[i];
            v[i] = self.b2 * v[i] + self.c2 * g[i] * g[i];
            let u = self.u(m[i], v[i]);
            w2 += p[i] * p[i];
            u2 += u * u;
        }
        let ratio = if trust && w2 > T::ZERO && u2 > T::ZERO { w2.sqrt() / u2.sqrt() } else { T::ONE };
        for i in 0..p.len() {
            p[i] -= self.lr * ratio * self.u(m[i], v[i]);
        }
    }

    fn u(&self, m: T, v: T) -> T {
        (m / self.bias1) / (v.sqrt() / self.bias2_sqrt + self.eps)
    }
}

impl_optimizer!(Lamb);
