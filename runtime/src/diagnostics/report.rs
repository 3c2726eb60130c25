//! Per-epoch gradient-flow reports and the warnings drawn from them (feature `std`).
//!
//! [`Monitor`] collects the [statistics](super) of every mini-batch of an epoch and
//! sums them up as [`EpochDiagnostics`]; [`fit`](crate::train::fit) uses one when
//! [`FitOptions::diagnostics`](crate::train::FitOptions::diagnostics) is set and returns
//! the reports and the [`Warning`]s in its [`History`](crate::train::History). A warning
//! is issued once per kind and layer (or tensor), the first epoch its rule holds; it is
//! data: nothing is printed.
//!
//! What an epoch's report holds, for the epoch's mini-batches:
//!
//! - per parameter tensor, the mean over the batches of its gradient's L2 norm (before
//!   clipping), and the mean over the optimizer steps of `‖Δθ‖/‖θ‖`;
//! - per layer, the mean norm of the gradient of all its parameters; the fraction of
//!   relu units that were 0 for every sample of the epoch (they received no gradient at
//!   all during it); the fraction of sigmoid/tanh outputs within
//!   [`Thresholds::saturation_margin`] of their bounds, over every sample of the epoch.
//!
//! Units are observed by a training forward of each batch sample with the parameters of
//! that batch's step, in addition to the batch gradient's own: the diagnostics cost one
//! more forward pass per sample, and a copy of the parameters per step.

use core::fmt;
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use super::{ActivationFamily, Activity, LayerInfo, tensor_norms, update_ratio};
use crate::network::{Buffer, Network};
use crate::scalar::Scalar;

/// When a statistic becomes a [`Warning`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Thresholds {
    /// A layer's gradient vanishes when its RMS per parameter is below this fraction of
    /// the top layer's (default `1e-2`: the layer learns a hundred times slower).
    pub vanishing: f64,
    /// A layer's gradient explodes when its RMS per parameter is above this multiple of
    /// the top layer's, or not finite (default `1e2`).
    pub exploding: f64,
    /// Most of a layer's units are dead above this fraction (default `0.5`).
    pub dead: f64,
    /// Most of a layer's outputs are saturated above this fraction (default `0.5`).
    pub saturated: f64,
    /// Outputs within this distance of a bound count as saturated (default `0.01`: there
    /// `σ′ < 0.01` and `tanh′ < 0.02`).
    pub saturation_margin: f64,
    /// A step is too large above this `‖Δθ‖/‖θ‖` of a weight tensor (default `1e-1`, a
    /// hundred times the `1e-3` rule of thumb).
    pub update_high: f64,
    /// A step is too small below this `‖Δθ‖/‖θ‖` (default `1e-6`, a thousand times
    /// under the rule of thumb).
    pub update_low: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            vanishing: 1e-2,
            exploding: 1e2,
            dead: 0.5,
            saturated: 0.5,
            saturation_margin: 0.01,
            update_high: 1e-1,
            update_low: 1e-6,
        }
    }
}

impl Thresholds {
    /// The defaults (see each field).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`vanishing`](Self::vanishing) and [`exploding`](Self::exploding).
    #[must_use]
    pub fn gradient_ratio(mut self, vanishing: f64, exploding: f64) -> Self {
        self.vanishing = vanishing;
        self.exploding = exploding;
        self
    }

    /// Sets [`dead`](Self::dead) and [`saturated`](Self::saturated).
    #[must_use]
    pub fn unit_fractions(mut self, dead: f64, saturated: f64) -> Self {
        self.dead = dead;
        self.saturated = saturated;
        self
    }

    /// Sets [`saturation_margin`](Self::saturation_margin).
    #[must_use]
    pub fn saturation_margin(mut self, margin: f64) -> Self {
        self.saturation_margin = margin;
        self
    }

    /// Sets [`update_low`](Self::update_low) and [`update_high`](Self::update_high).
    #[must_use]
    pub fn update_ratio(mut self, low: f64, high: f64) -> Self {
        self.update_low = low;
        self.update_high = high;
        self
    }
}

/// One parameter tensor over an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct TensorStats {
    /// `layer.weight`, as in `LAYOUT`.
    pub name: &'static str,
    /// Mean over the epoch's batches of the gradient's L2 norm, before clipping.
    pub grad_norm: f64,
    /// Mean over the epoch's steps of `‖Δθ‖/‖θ‖`; `None` if the tensor was zero before
    /// every step (or no step was taken).
    pub update_ratio: Option<f64>,
}

/// One layer over an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct LayerStats {
    /// The layer's name in the spec.
    pub name: &'static str,
    /// The activation's family.
    pub activation: ActivationFamily,
    /// Mean over the epoch's batches of the L2 norm of the gradient of all the layer's
    /// parameters; `None` for a layer without parameters.
    pub grad_norm: Option<f64>,
    /// The same per parameter: `grad_norm / √(parameters)`, comparable across layers of
    /// different sizes.
    pub grad_rms: Option<f64>,
    /// Fraction of units that were 0 for every sample of the epoch (relu layers).
    pub dead: Option<f64>,
    /// Fraction of outputs within the saturation margin of the bounds, over every sample
    /// of the epoch (sigmoid and tanh layers).
    pub saturated: Option<f64>,
}

/// The gradient-flow report of one epoch.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EpochDiagnostics {
    /// The epoch, from 1.
    pub epoch: usize,
    /// One entry per parameter tensor, in `LAYOUT` order.
    pub tensors: Vec<TensorStats>,
    /// One entry per layer, in `LAYERS` order.
    pub layers: Vec<LayerStats>,
}

impl EpochDiagnostics {
    /// The statistics of the layer named `name`.
    #[must_use]
    pub fn layer(&self, name: &str) -> Option<&LayerStats> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The statistics of the tensor named `name` (`hidden.weight`).
    #[must_use]
    pub fn tensor(&self, name: &str) -> Option<&TensorStats> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Something backpropagation is doing wrong, found in an epoch's [`EpochDiagnostics`].
///
/// `Display` explains it in words, names the layer and the factor of the chain rule that
/// causes it (the network's derivation docs show the same factors), and suggests a fix.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Warning {
    /// The gradient reaching `layer` is far smaller per parameter than the top layer's.
    VanishingGradient {
        /// The epoch, from 1.
        epoch: usize,
        /// The layer.
        layer: &'static str,
        /// The top layer with parameters, the reference.
        reference: &'static str,
        /// `layer`'s gradient RMS per parameter over `reference`'s.
        ratio: f64,
    },
    /// The gradient reaching `layer` is far larger per parameter than the top layer's,
    /// or not finite.
    ExplodingGradient {
        /// The epoch, from 1.
        epoch: usize,
        /// The layer.
        layer: &'static str,
        /// The top layer with parameters, the reference.
        reference: &'static str,
        /// `layer`'s gradient RMS per parameter over `reference`'s (infinite or NaN for
        /// a gradient that is not finite).
        ratio: f64,
    },
    /// Most relu units of `layer` were 0 for every sample of the epoch.
    DeadUnits {
        /// The epoch, from 1.
        epoch: usize,
        /// The layer.
        layer: &'static str,
        /// The fraction of its units that are dead.
        fraction: f64,
    },
    /// Most outputs of a sigmoid or tanh `layer` were within the margin of their bounds.
    SaturatedUnits {
        /// The epoch, from 1.
        epoch: usize,
        /// The layer.
        layer: &'static str,
        /// Its activation.
        activation: ActivationFamily,
        /// The fraction of its outputs that were saturated.
        fraction: f64,
        /// The margin used.
        margin: f64,
    },
    /// The steps change the weight tensor `tensor` by a large part of its norm.
    UpdateTooLarge {
        /// The epoch, from 1.
        epoch: usize,
        /// `layer.weight`.
        tensor: &'static str,
        /// Mean `‖Δθ‖/‖θ‖` per step.
        ratio: f64,
    },
    /// The steps barely change the weight tensor `tensor`.
    UpdateTooSmall {
        /// The epoch, from 1.
        epoch: usize,
        /// `layer.weight`.
        tensor: &'static str,
        /// Mean `‖Δθ‖/‖θ‖` per step.
        ratio: f64,
    },
}

impl Warning {
    /// The epoch (from 1) in which the warning was issued.
    #[must_use]
    pub const fn epoch(&self) -> usize {
        match *self {
            Self::VanishingGradient { epoch, .. }
            | Self::ExplodingGradient { epoch, .. }
            | Self::DeadUnits { epoch, .. }
            | Self::SaturatedUnits { epoch, .. }
            | Self::UpdateTooLarge { epoch, .. }
            | Self::UpdateTooSmall { epoch, .. } => epoch,
        }
    }

    /// The layer (or, for update warnings, the tensor) it names.
    #[must_use]
    pub const fn subject(&self) -> &'static str {
        match *self {
            Self::VanishingGradient { layer, .. }
            | Self::ExplodingGradient { layer, .. }
            | Self::DeadUnits { layer, .. }
            | Self::SaturatedUnits { layer, .. } => layer,
            Self::UpdateTooLarge { tensor, .. } | Self::UpdateTooSmall { tensor, .. } => tensor,
        }
    }

    /// Which rule fired, as a number: warnings are issued once per rule and subject.
    const fn rule(&self) -> u8 {
        match self {
            Self::VanishingGradient { .. } => 0,
            Self::ExplodingGradient { .. } => 1,
            Self::DeadUnits { .. } => 2,
            Self::SaturatedUnits { .. } => 3,
            Self::UpdateTooLarge { .. } => 4,
            Self::UpdateTooSmall { .. } => 5,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::VanishingGradient { epoch, layer, reference, ratio } => write!(
                f,
                "epoch {epoch}: the gradient vanishes before layer `{layer}`: per weight it is {ratio:.1e} times \
                 the gradient of `{reference}`, so `{layer}` learns that much slower. On the way down every layer \
                 multiplies the error by its activation's derivative (δ = (Wᵀ·δ) ⊙ f′(z)): σ′ ≤ 1/4 for each \
                 sigmoid layer, tanh′ ≤ 1 and near 0 when saturated, relu′ = 0 for units that are off. Try \
                 relu-family activations with He initialization, fewer layers, or look for dead units above it"
            ),
            Self::ExplodingGradient { epoch, layer, ratio, .. } if !ratio.is_finite() => write!(
                f,
                "epoch {epoch}: the gradient of layer `{layer}` is not finite: products of weights (the Wᵀ factors of the chain rule) or a loss overflowed. Lower the learning \
                 rate or clip the gradient norm (`FitOptions::clip_grad_norm`)"
            ),
            Self::ExplodingGradient { epoch, layer, reference, ratio } => write!(
                f,
                "epoch {epoch}: the gradient explodes before layer `{layer}`: per weight it is {ratio:.1e} times \
                 the gradient of `{reference}`. On the way down the error is multiplied by each layer's \
                 transposed weights Wᵀ; weights that are too large make that product grow layer after layer. \
                 Lower the learning rate, clip the gradient norm (`FitOptions::clip_grad_norm`), or start from \
                 smaller weights"
            ),
            Self::DeadUnits { epoch, layer, fraction } => write!(
                f,
                "epoch {epoch}: {:.0}% of the relu units of layer `{layer}` are dead: their output was 0 for every \
                 sample of the epoch, and relu′ = 0 there, so they received no gradient and cannot come back. \
                 The usual cause is a learning rate that is too high (one large step pushes their bias and \
                 weights far negative). Lower the learning rate, or use LeakyRelu, whose slope below 0 keeps \
                 a gradient",
                fraction * 100.0
            ),
            Self::SaturatedUnits { epoch, layer, activation, fraction, margin } => {
                let (name, factor) = match activation {
                    ActivationFamily::Tanh => ("tanh", "tanh′ = 1 − y²"),
                    _ => ("sigmoid", "σ′ = y·(1 − y)"),
                };
                write!(
                    f,
                    "epoch {epoch}: {:.0}% of the outputs of the {name} layer `{layer}` are saturated, within \
                     {margin} of their bounds, where {factor} is nearly 0: little gradient passes through them. \
                     Start from smaller weights (Glorot), scale the inputs, or lower the learning rate",
                    fraction * 100.0
                )
            }
            Self::UpdateTooLarge { epoch, tensor, ratio } => write!(
                f,
                "epoch {epoch}: each step changes `{tensor}` by {ratio:.1e} of its norm, where about 1e-3 is \
                 usual: the learning rate is too high, and training will be unstable. Lower it"
            ),
            Self::UpdateTooSmall { epoch, tensor, ratio } => write!(
                f,
                "epoch {epoch}: each step changes `{tensor}` by only {ratio:.1e} of its norm, where about 1e-3 is \
                 usual: it learns very slowly. Raise the learning rate, or check that its gradient does not \
                 vanish"
            ),
        }
    }
}

/// Collects the statistics of an epoch's mini-batches, for any [`Network`].
///
/// Per batch: [`observe_batch`](Self::observe_batch) with the batch's gradient before the
/// step, [`before_step`](Self::before_step) and [`after_step`](Self::after_step) around
/// the optimizer's step; per epoch: [`end_epoch`](Self::end_epoch). Allocates its buffers
/// once, in [`new`](Self::new).
pub struct Monitor<N: Network> {
    thresholds: Thresholds,
    activity: Box<Activity<N>>,
    trace: Box<N::Trace>,
    before: Box<N::Params>,
    norms: Vec<f64>,
    /// Each layer's tensors, as indices into `LAYOUT`.
    layer_tensors: Vec<Vec<usize>>,
    norm_sums: Vec<f64>,
    layer_norm_sums: Vec<f64>,
    batches: usize,
    ratio_sums: Vec<f64>,
    ratio_counts: Vec<usize>,
    issued: Vec<(u8, &'static str)>,
}

impl<N: Network> fmt::Debug for Monitor<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor").field("thresholds", &self.thresholds).field("batches", &self.batches).finish()
    }
}

impl<N: Network> Monitor<N> {
    /// A monitor that warns by `thresholds`.
    #[must_use]
    pub fn new(thresholds: Thresholds) -> Self {
        let tensors = N::LAYOUT.len();
        Self {
            thresholds,
            activity: Box::new(Activity::new(thresholds.saturation_margin)),
            trace: Box::new(N::Trace::zeroed()),
            before: Box::new(N::Params::zeroed()),
            norms: vec![0.0; tensors],
            layer_tensors: N::LAYERS
                .iter()
                .map(|l| l.params.iter().filter_map(|p| N::LAYOUT.iter().position(|q| q == p)).collect())
                .collect(),
            norm_sums: vec![0.0; tensors],
            layer_norm_sums: vec![0.0; N::LAYERS.len()],
            batches: 0,
            ratio_sums: vec![0.0; tensors],
            ratio_counts: vec![0; tensors],
            issued: Vec::new(),
        }
    }

    /// Records one mini-batch: a training forward of each sample for the units, and
    /// `grad` (the batch's gradient, before clipping) for the norms.
    pub fn observe_batch(&mut self, net: &N, xs: &[N::Input], grad: &N::Params) {
        for x in xs {
            net.forward_trace(x, &mut self.trace);
            self.activity.observe(&self.trace);
        }
        tensor_norms(N::LAYOUT, grad.as_ref(), &mut self.norms);
        for (sum, n) in self.norm_sums.iter_mut().zip(&self.norms) {
            *sum += n;
        }
        for (sum, tensors) in self.layer_norm_sums.iter_mut().zip(&self.layer_tensors) {
            let sq: f64 = tensors.iter().map(|&i| self.norms[i] * self.norms[i]).sum();
            *sum += Scalar::sqrt(sq);
        }
        self.batches += 1;
    }

    /// Keeps the parameters before an optimizer step.
    pub fn before_step(&mut self, net: &N) {
        (*self.before).as_mut().copy_from_slice(net.params().as_ref());
    }

    /// Records the step's `‖Δθ‖/‖θ‖` per tensor.
    pub fn after_step(&mut self, net: &N) {
        for (i, info) in N::LAYOUT.iter().enumerate() {
            if let Some(r) = update_ratio(info, (*self.before).as_ref(), net.params().as_ref()) {
                self.ratio_sums[i] += r;
                self.ratio_counts[i] += 1;
            }
        }
    }

    /// The report of the epoch recorded since the last call; pushes the warnings it
    /// raises for the first time onto `warnings`; starts a new epoch.
    pub fn end_epoch(&mut self, epoch: usize, warnings: &mut Vec<Warning>) -> EpochDiagnostics {
        let batches = self.batches.max(1) as f64;
        let tensors = N::LAYOUT
            .iter()
            .enumerate()
            .map(|(i, info)| TensorStats {
                name: info.name,
                grad_norm: self.norm_sums[i] / batches,
                update_ratio: (self.ratio_counts[i] > 0).then(|| self.ratio_sums[i] / self.ratio_counts[i] as f64),
            })
            .collect();
        let layers = N::LAYERS
            .iter()
            .zip(&self.layer_norm_sums)
            .map(|(layer, &sum)| layer_stats(layer, sum / batches, &self.activity))
            .collect();
        let report = EpochDiagnostics { epoch, tensors, layers };
        for w in self.warnings(&report) {
            let key = (w.rule(), w.subject());
            if !self.issued.contains(&key) {
                self.issued.push(key);
                warnings.push(w);
            }
        }
        self.activity.reset();
        self.norm_sums.fill(0.0);
        self.layer_norm_sums.fill(0.0);
        self.ratio_sums.fill(0.0);
        self.ratio_counts.fill(0);
        self.batches = 0;
        report
    }

    /// Every warning the report's statistics raise (issued or not).
    fn warnings(&self, report: &EpochDiagnostics) -> Vec<Warning> {
        let th = &self.thresholds;
        let epoch = report.epoch;
        let mut out = Vec::new();
        // Causes (units) before what they cause (gradients, steps).
        for layer in &report.layers {
            if let Some(fraction) = layer.dead.filter(|&d| d > th.dead) {
                out.push(Warning::DeadUnits { epoch, layer: layer.name, fraction });
            }
            if let Some(fraction) = layer.saturated.filter(|&s| s > th.saturated) {
                out.push(Warning::SaturatedUnits {
                    epoch,
                    layer: layer.name,
                    activation: layer.activation,
                    fraction,
                    margin: th.saturation_margin,
                });
            }
        }
        let top = report.layers.iter().rev().find_map(|l| l.grad_rms.map(|r| (l.name, r)));
        for layer in &report.layers {
            let (Some(rms), Some((reference, top_rms))) = (layer.grad_rms, top) else { continue };
            if !rms.is_finite() {
                out.push(Warning::ExplodingGradient { epoch, layer: layer.name, reference, ratio: rms });
            } else if layer.name != reference && top_rms > 0.0 && top_rms.is_finite() {
                let ratio = rms / top_rms;
                if ratio < th.vanishing {
                    out.push(Warning::VanishingGradient { epoch, layer: layer.name, reference, ratio });
                } else if ratio > th.exploding {
                    out.push(Warning::ExplodingGradient { epoch, layer: layer.name, reference, ratio });
                }
            }
        }
        // Weight matrices and kernels only: a bias starts at zero, where no ratio means much.
        for (t, info) in report.tensors.iter().zip(N::LAYOUT) {
            let Some(ratio) = t.update_ratio.filter(|_| info.shape.len() >= 2) else { continue };
            if ratio > th.update_high {
                out.push(Warning::UpdateTooLarge { epoch, tensor: t.name, ratio });
            } else if ratio < th.update_low {
                out.push(Warning::UpdateTooSmall { epoch, tensor: t.name, ratio });
            }
        }
        out
    }
}

fn layer_stats<N: Network>(layer: &LayerInfo, norm: f64, activity: &Activity<N>) -> LayerStats {
    let count = layer.param_count();
    LayerStats {
        name: layer.name,
        activation: layer.activation,
        grad_norm: layer.has_params().then_some(norm),
        grad_rms: (count > 0).then(|| norm / Scalar::sqrt(count as f64)),
        dead: activity.dead_fraction(layer),
        saturated: activity.saturated_fraction(layer),
    }
}
