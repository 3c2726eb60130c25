//! Gradient-flow diagnostics: what backpropagation is doing inside a network while it
//! trains, computed on request from the trace, the gradient and the parameters.
//!
//! A generated network describes its layers in [`Network::LAYERS`] (a [`LayerInfo`] per
//! layer: name, activation family, width, where its outputs lie in the trace, its
//! parameter tensors). From that description and the buffers training already has, this
//! module computes, without a heap (`no_std`):
//!
//! - the L2 norm of each parameter tensor's gradient ([`tensor_norms`], [`layer_norm`]);
//! - the ratio of an update's norm to the norm of the weights it changes,
//!   `‖θ_after − θ_before‖ / ‖θ_before‖` ([`update_ratio`]; the classic rule of thumb is
//!   about `1e-3` per step);
//! - over a set of samples ([`Activity`], one [`observe`](Activity::observe) per training
//!   forward): the fraction of **dead** units — relu units whose output is 0 for every
//!   sample seen, so `relu′ = 0` gives them no gradient at all — and the fraction of
//!   **saturated** outputs — sigmoid or tanh outputs within a margin of their bounds,
//!   where `σ′ = y·(1 − y)` or `tanh′ = 1 − y²` is nearly 0.
//!
//! None of it runs unless called: `forward`, `backward` and the training steps do not
//! change. With feature `std`, [`report`] collects the statistics per epoch in
//! [`fit`](crate::train::fit) and turns them into [`Warning`](report::Warning)s.
//!
//! The per-time-step gradient norm of recurrent layers is not here yet: there are no
//! recurrent layers. A recurrent kind would describe its per-step outputs in its
//! [`LayerInfo`] the same way.
//!
//! ```
//! use stackprop_runtime::diagnostics::{Activity, layer_norm, update_ratio};
//! use stackprop_runtime::{Buffer, Network};
//! # fn demo<N: Network>(net: &mut N, xs: &[N::Input], grad: &N::Params) {
//! let mut activity = Activity::<N>::new(0.01);
//! let mut trace = N::Trace::zeroed();
//! for x in xs {
//!     net.forward_trace(x, &mut trace);
//!     activity.observe(&trace);
//! }
//! for layer in N::LAYERS {
//!     let dead = activity.dead_fraction(layer); // Some(..) for relu layers
//!     let norm = layer_norm(layer, grad.as_ref());
//! }
//! # }
//! ```

#[cfg(feature = "std")]
pub mod report;

use crate::grad::grad_norm;
use crate::network::{Buffer, Network, ParamInfo};
use crate::scalar::Scalar;

/// What a layer's activation means for the diagnostics: which units can die, which
/// saturate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActivationFamily {
    /// The layer has no activation (pooling, flatten).
    None,
    /// `f(z) = z`.
    Identity,
    /// `σ(z) = 1/(1 + e^−z)`, bounded by 0 and 1, `σ′ ≤ 1/4`.
    Sigmoid,
    /// `tanh z`, bounded by −1 and 1, `tanh′ ≤ 1`.
    Tanh,
    /// `max(z, 0)`: a unit whose output is 0 gets no gradient.
    Relu,
    /// `LeakyRelu`: slope `s > 0` below 0, so never without gradient.
    LeakyRelu,
    /// `Elu`: smooth below 0, bounded by `−α`.
    Elu,
    /// `Softplus`, `Silu`, `Gelu`, `GeluTanh`: smooth relu-like curves.
    Smooth,
    /// `z/(1 + |z|)`, bounded by −1 and 1 but approached slowly.
    Softsign,
    /// The vector softmax of an output layer.
    Softmax,
    /// An activation written in the spec.
    Custom,
}

impl ActivationFamily {
    /// The bounds saturated outputs approach: `(0, 1)` for sigmoid, `(−1, 1)` for tanh,
    /// `None` for every other family.
    #[inline]
    #[must_use]
    pub const fn bounds(self) -> Option<(f64, f64)> {
        match self {
            Self::Sigmoid => Some((0.0, 1.0)),
            Self::Tanh => Some((-1.0, 1.0)),
            _ => None,
        }
    }

    /// `true` for relu, whose units die: an output of exactly 0 has derivative 0.
    #[inline]
    #[must_use]
    pub const fn can_die(self) -> bool {
        matches!(self, Self::Relu)
    }
}

/// One layer of a network, as the diagnostics see it (generated as `Net::LAYERS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name in the spec: `hidden`.
    pub name: &'static str,
    /// The layer's kind as written: `Dense`, `Conv2d`.
    pub kind: &'static str,
    /// The activation as written (`Sigmoid`, `LeakyRelu<0.01>`), empty for none.
    pub activation_name: &'static str,
    /// The activation's family.
    pub activation: ActivationFamily,
    /// Number of output scalars per sample (channels × positions for a convolution).
    pub width: usize,
    /// Offset of the layer's outputs (after the activation) in the trace, `None` if the
    /// trace does not keep them (a reshape of the network input).
    pub output: Option<usize>,
    /// The layer's parameter tensors, as in [`Network::LAYOUT`] (empty for none).
    pub params: &'static [ParamInfo],
}

impl LayerInfo {
    /// `true` if the layer has parameters.
    #[inline]
    #[must_use]
    pub const fn has_params(&self) -> bool {
        !self.params.is_empty()
    }

    /// Number of parameter scalars of the layer.
    #[inline]
    #[must_use]
    pub const fn param_count(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.params.len() {
            n += self.params[i].len();
            i += 1;
        }
        n
    }
}

/// The L2 norm of each tensor of `layout` in `values` (a gradient or the parameters),
/// accumulated in `f64`, written into `out` in layout order.
///
/// # Panics
/// If `out` is shorter than `layout` or a tensor lies outside `values`.
pub fn tensor_norms<T: Scalar>(layout: &[ParamInfo], values: &[T], out: &mut [f64]) {
    for (info, o) in layout.iter().zip(&mut out[..layout.len()]) {
        *o = grad_norm(&values[info.range()]);
    }
}

/// The L2 norm of all of `layer`'s parameter tensors together in `values`; 0 for a layer
/// without parameters.
///
/// # Panics
/// If a tensor lies outside `values`.
#[must_use]
pub fn layer_norm<T: Scalar>(layer: &LayerInfo, values: &[T]) -> f64 {
    let sum_sq: f64 = layer
        .params
        .iter()
        .map(|p| {
            let n = grad_norm(&values[p.range()]);
            n * n
        })
        .sum();
    Scalar::sqrt(sum_sq)
}

/// `‖after − before‖ / ‖before‖` over one tensor: how large a step was relative to the
/// weights it changed. `None` when the tensor was all zeros before (a bias at
/// initialization), where no ratio is defined.
///
/// # Panics
/// If the tensor lies outside `before` or `after`.
#[must_use]
pub fn update_ratio<T: Scalar>(info: &ParamInfo, before: &[T], after: &[T]) -> Option<f64> {
    let (b, a) = (&before[info.range()], &after[info.range()]);
    let weight = grad_norm(b);
    if weight == 0.0 {
        return None;
    }
    let step_sq: f64 = a
        .iter()
        .zip(b)
        .map(|(&a, &b)| {
            let d = a.to_f64() - b.to_f64();
            d * d
        })
        .sum();
    Some(Scalar::sqrt(step_sq) / weight)
}

/// Which units were ever active and how often outputs were saturated, over the samples
/// whose traces were [`observe`](Self::observe)d: two trace-sized buffers, no heap.
///
/// Counts are kept as scalars of the network's type: exact up to 2²⁴ samples per
/// [`reset`](Self::reset) in `f32`.
pub struct Activity<N: Network> {
    /// 1 where a trace scalar was ever non-zero.
    active: N::Trace,
    /// How many samples had the trace scalar within the margin of its layer's bounds.
    saturated: N::Trace,
    samples: usize,
    margin: f64,
}

impl<N: Network> core::fmt::Debug for Activity<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Activity").field("samples", &self.samples).field("margin", &self.margin).finish()
    }
}

impl<N: Network> Activity<N> {
    /// Nothing observed yet; outputs within `margin` of a bound count as saturated
    /// (e.g. `0.01`: σ′ < 0.01 there).
    #[must_use]
    pub fn new(margin: f64) -> Self {
        Self { active: N::Trace::zeroed(), saturated: N::Trace::zeroed(), samples: 0, margin }
    }

    /// Forgets every sample seen.
    pub fn reset(&mut self) {
        self.active.as_mut().fill(N::Scalar::ZERO);
        self.saturated.as_mut().fill(N::Scalar::ZERO);
        self.samples = 0;
    }

    /// Number of samples observed since the last reset.
    #[inline]
    #[must_use]
    pub const fn samples(&self) -> usize {
        self.samples
    }

    /// Records one sample from the trace its training forward filled.
    pub fn observe(&mut self, trace: &N::Trace) {
        let trace = trace.as_ref();
        let (active, saturated) = (self.active.as_mut(), self.saturated.as_mut());
        for layer in N::LAYERS {
            let Some(y0) = layer.output else { continue };
            let range = y0..y0 + layer.width;
            if layer.activation.can_die() {
                for (a, &y) in active[range.clone()].iter_mut().zip(&trace[range.clone()]) {
                    if y != N::Scalar::ZERO {
                        *a = N::Scalar::ONE;
                    }
                }
            }
            if let Some((lo, hi)) = layer.activation.bounds() {
                let (lo, hi) = (N::Scalar::from_f64(lo + self.margin), N::Scalar::from_f64(hi - self.margin));
                for (s, &y) in saturated[range.clone()].iter_mut().zip(&trace[range]) {
                    if y <= lo || y >= hi {
                        *s += N::Scalar::ONE;
                    }
                }
            }
        }
        self.samples += 1;
    }

    /// The fraction of `layer`'s units whose output was 0 for every sample observed;
    /// `None` for a layer whose units cannot die or before any sample.
    #[must_use]
    pub fn dead_fraction(&self, layer: &LayerInfo) -> Option<f64> {
        let y0 = layer.output?;
        if !layer.activation.can_die() || self.samples == 0 || layer.width == 0 {
            return None;
        }
        let dead = self.active.as_ref()[y0..y0 + layer.width].iter().filter(|&&a| a == N::Scalar::ZERO).count();
        Some(dead as f64 / layer.width as f64)
    }

    /// The fraction of `layer`'s outputs over all samples observed that were within the
    /// margin of the activation's bounds; `None` for an unbounded activation or before
    /// any sample.
    #[must_use]
    pub fn saturated_fraction(&self, layer: &LayerInfo) -> Option<f64> {
        let y0 = layer.output?;
        layer.activation.bounds()?;
        if self.samples == 0 || layer.width == 0 {
            return None;
        }
        let count: f64 = self.saturated.as_ref()[y0..y0 + layer.width].iter().map(|s| s.to_f64()).sum();
        Some(count / (layer.width * self.samples) as f64)
    }
}
