//! Learning-rate schedules following `torch.optim.lr_scheduler`.
//!
//! A closed-form schedule implements [`Schedule`]: [`lr(step, base_lr)`](Schedule::lr) is
//! the learning rate for optimizer step number `step` (counted from 0), which is the rate
//! torch's scheduler has set after `step` calls of `scheduler.step()`. A schedule holds no
//! state and needs no heap; [`Schedule::apply`] writes the rate into any [`Optimizer`]:
//!
//! ```
//! use stackprop_runtime::optim::{Adam, Optimizer};
//! use stackprop_runtime::schedule::{CosineAnnealingLr, Schedule, Warmup};
//!
//! let mut opt = Adam::<[f32; 4]>::new(1e-3);
//! let schedule = Warmup::new(100, 0.01, CosineAnnealingLr::new(900));
//! let base_lr = opt.learning_rate();
//! for step in 0..1000 {
//!     schedule.apply(&mut opt, step, base_lr);
//!     // ... compute the gradient, then opt.step(&mut params, &grads) ...
//! }
//! ```
//!
//! | type | torch.optim.lr_scheduler |
//! |---|---|
//! | [`Constant`] | (no scheduler) |
//! | [`StepLr`] | `StepLR` |
//! | [`MultiStepLr`] | `MultiStepLR` |
//! | [`ExponentialLr`] | `ExponentialLR` |
//! | [`CosineAnnealingLr`] | `CosineAnnealingLR` (its closed form) |
//! | [`CosineAnnealingWarmRestarts`] | `CosineAnnealingWarmRestarts` |
//! | [`OneCycleLr`] | `OneCycleLR` |
//! | [`Warmup`] | `LinearLR` followed by another schedule (`SequentialLR`) |
//! | [`ReduceLrOnPlateau`] | `ReduceLROnPlateau` (stateful: [`observe`](ReduceLrOnPlateau::observe)) |
//!
//! Differences from PyTorch common to all: a schedule computes the rate from the step
//! number, so it cannot drift from, nor compound with, changes made to the optimizer's
//! rate by something else (torch's chainable forms multiply the optimizer's current rate);
//! there are no parameter groups, and no momentum cycling.

use crate::optim::Optimizer;
use crate::scalar::Scalar;

use core::f64::consts::PI;

/// A learning rate as a function of the step number and the base learning rate.
pub trait Schedule {
    /// The learning rate for optimizer step `step` (from 0), for base rate `base_lr`.
    #[must_use]
    fn lr(&self, step: usize, base_lr: f64) -> f64;

    /// Sets `opt`'s learning rate to [`lr(step, base_lr)`](Schedule::lr) and returns it.
    ///
    /// Call it before each optimizer step, with the same `base_lr` every time (the rate
    /// the optimizer was made with), not the optimizer's current rate. On a
    /// `&dyn Schedule` call it as `Schedule::apply(&schedule, ...)` (through the impl for
    /// references).
    #[inline]
    fn apply<P: ?Sized, O: Optimizer<P> + ?Sized>(&self, opt: &mut O, step: usize, base_lr: f64) -> f64
    where
        Self: Sized,
    {
        let lr = self.lr(step, base_lr);
        opt.set_learning_rate(lr);
        lr
    }
}

impl<S: Schedule + ?Sized> Schedule for &S {
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        (**self).lr(step, base_lr)
    }
}

/// `cos` in `f64` through [`Scalar`], so schedules build without `std`.
#[inline]
fn cos(x: f64) -> f64 {
    Scalar::cos(x)
}

/// `baseᵉ` in `f64` through [`Scalar`], so schedules build without `std`.
#[inline]
fn powf(base: f64, e: f64) -> f64 {
    Scalar::powf(base, e)
}

/// The base learning rate at every step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Constant;

impl Schedule for Constant {
    #[inline]
    fn lr(&self, _step: usize, base_lr: f64) -> f64 {
        base_lr
    }
}

/// Decays the rate by `gamma` every `step_size` steps, as `torch.optim.lr_scheduler.StepLR`:
/// `lr = base·γ^⌊step / step_size⌋`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    /// Steps between two decays.
    pub step_size: usize,
    /// Multiplicative factor of each decay (torch's default 0.1).
    pub gamma: f64,
}

impl StepLr {
    /// Decay by `gamma` every `step_size` steps.
    ///
    /// # Panics
    /// If `step_size` is 0.
    #[inline]
    #[must_use]
    pub const fn new(step_size: usize, gamma: f64) -> Self {
        assert!(step_size > 0, "`step_size` must be positive");
        Self { step_size, gamma }
    }
}

impl Schedule for StepLr {
    /// # Panics
    /// If `step_size` is 0 (only possible by setting the field directly).
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        base_lr * powf(self.gamma, (step / self.step_size) as f64)
    }
}

/// Decays the rate by `gamma` at each milestone, as
/// `torch.optim.lr_scheduler.MultiStepLR`: `lr = base·γ^k` with `k` the number of
/// milestones `≤ step`.
///
/// `M` is any list of steps: a `&'static [usize]`, a `[usize; K]`, or a `Vec<usize>`.
/// Milestones need not be sorted; a milestone listed twice decays twice, as in torch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiStepLr<M> {
    /// The steps at which the rate is multiplied by `gamma`.
    pub milestones: M,
    /// Multiplicative factor of each decay (torch's default 0.1).
    pub gamma: f64,
}

impl<M: AsRef<[usize]>> MultiStepLr<M> {
    /// Decay by `gamma` at each of `milestones`.
    #[inline]
    #[must_use]
    pub const fn new(milestones: M, gamma: f64) -> Self {
        Self { milestones, gamma }
    }
}

impl<M: AsRef<[usize]>> Schedule for MultiStepLr<M> {
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        let passed = self.milestones.as_ref().iter().filter(|&&m| m <= step).count();
        base_lr * powf(self.gamma, passed as f64)
    }
}

/// Decays the rate by `gamma` every step, as `torch.optim.lr_scheduler.ExponentialLR`:
/// `lr = base·γ^step`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialLr {
    /// Multiplicative factor per step.
    pub gamma: f64,
}

impl ExponentialLr {
    /// Decay by `gamma` every step.
    #[inline]
    #[must_use]
    pub const fn new(gamma: f64) -> Self {
        Self { gamma }
    }
}

impl Schedule for ExponentialLr {
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        base_lr * powf(self.gamma, step as f64)
    }
}

/// Cosine annealing from the base rate to `eta_min` over `t_max` steps, the closed form
/// of `torch.optim.lr_scheduler.CosineAnnealingLR`:
///
/// ```text
/// lr = η_min + (base − η_min)·(1 + cos(π·step / T_max)) / 2
/// ```
///
/// so `lr(0) = base`, `lr(T_max/2) = (base + η_min)/2`, `lr(T_max) = η_min`. Past `T_max`
/// the cosine rises again (period `2·T_max`), as torch's scheduler does; use
/// [`CosineAnnealingWarmRestarts`] for restarts, or stop at `T_max`.
///
/// torch's `step()` uses a recursive form equal to this one in exact arithmetic (it
/// differs in rounding, and if something else changes the rate between steps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    /// Steps from the base rate down to `eta_min` (a half period).
    pub t_max: usize,
    /// The lowest rate (torch's default 0).
    pub eta_min: f64,
}

impl CosineAnnealingLr {
    /// Cosine annealing to 0 over `t_max` steps.
    ///
    /// # Panics
    /// If `t_max` is 0.
    #[inline]
    #[must_use]
    pub const fn new(t_max: usize) -> Self {
        assert!(t_max > 0, "`t_max` must be positive");
        Self { t_max, eta_min: 0.0 }
    }

    /// Sets the lowest rate `eta_min` (default 0).
    #[inline]
    #[must_use]
    pub const fn eta_min(mut self, eta_min: f64) -> Self {
        self.eta_min = eta_min;
        self
    }
}

impl Schedule for CosineAnnealingLr {
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        let phase = PI * step as f64 / self.t_max as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + cos(phase)) / 2.0
    }
}

/// Cosine annealing with warm restarts (SGDR), as
/// `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`:
///
/// ```text
/// lr = η_min + (base − η_min)·(1 + cos(π·T_cur / T_i)) / 2
/// ```
///
/// where the first cycle lasts `T_0` steps, each next cycle `T_mult` times longer than
/// the one before, and `T_cur` counts the steps since the last restart (so the rate is
/// back to `base` at each restart).
///
/// Differences from PyTorch: steps are integers (torch also accepts fractional epochs in
/// `step(epoch)`); cycle boundaries are found with integer arithmetic, which is what
/// torch's `step()` without an argument does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingWarmRestarts {
    /// Length of the first cycle, in steps.
    pub t_0: usize,
    /// Growth factor of the cycle length after each restart (torch's default 1).
    pub t_mult: usize,
    /// The lowest rate (torch's default 0).
    pub eta_min: f64,
}

impl CosineAnnealingWarmRestarts {
    /// Restarts every `t_0` steps (T_mult = 1), annealing to 0.
    ///
    /// # Panics
    /// If `t_0` is 0.
    #[inline]
    #[must_use]
    pub const fn new(t_0: usize) -> Self {
        assert!(t_0 > 0, "`t_0` must be positive");
        Self { t_0, t_mult: 1, eta_min: 0.0 }
    }

    /// Sets the growth factor `t_mult` of the cycle length (default 1).
    ///
    /// # Panics
    /// If `t_mult` is 0.
    #[inline]
    #[must_use]
    pub const fn t_mult(mut self, t_mult: usize) -> Self {
        assert!(t_mult > 0, "`t_mult` must be at least 1");
        self.t_mult = t_mult;
        self
    }

    /// Sets the lowest rate `eta_min` (default 0).
    #[inline]
    #[must_use]
    pub const fn eta_min(mut self, eta_min: f64) -> Self {
        self.eta_min = eta_min;
        self
    }

    /// `(T_cur, T_i)`: the position of `step` in its cycle, and that cycle's length.
    ///
    /// # Panics
    /// If `t_0` or `t_mult` is 0 (only possible by setting the fields directly).
    #[must_use]
    pub fn cycle_position(&self, step: usize) -> (usize, usize) {
        assert!(self.t_0 > 0 && self.t_mult > 0, "`t_0` and `t_mult` must be positive");
        if self.t_mult == 1 {
            return (step % self.t_0, self.t_0);
        }
        let (mut start, mut len) = (0usize, self.t_0);
        // Cycles grow geometrically, so this loop runs O(log step) times.
        while step - start >= len {
            start += len;
            len = len.saturating_mul(self.t_mult);
        }
        (step - start, len)
    }
}

impl Schedule for CosineAnnealingWarmRestarts {
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        let (t_cur, t_i) = self.cycle_position(step);
        let phase = PI * t_cur as f64 / t_i as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + cos(phase)) / 2.0
    }
}

/// How [`OneCycleLr`] moves between its phase boundaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anneal {
    /// Half a cosine: `end + (start − end)·(1 + cos(π·pct))/2` (torch's default `'cos'`).
    #[default]
    Cos,
    /// A straight line: `start + (end − start)·pct` (torch's `'linear'`).
    Linear,
}

impl Anneal {
    /// The value a fraction `pct` of the way from `start` to `end`.
    #[inline]
    #[must_use]
    pub fn interpolate(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Self::Cos => end + (start - end) / 2.0 * (cos(PI * pct) + 1.0),
            Self::Linear => (end - start) * pct + start,
        }
    }
}

/// The 1cycle policy (Smith & Topin), as `torch.optim.lr_scheduler.OneCycleLR`.
///
/// With `initial = max_lr / div_factor`, `min = initial / final_div_factor` and
/// `P = pct_start·total_steps`, the phases end at these steps and the rate anneals
/// ([`Anneal`]) between their end values:
///
/// ```text
/// two phases (default):  initial → max_lr   until step P − 1
///                         max_lr  → min      until step total_steps − 1
/// three_phase:           initial → max_lr   until step P − 1
///                         max_lr  → initial  until step 2P − 2
///                         initial → min      until step total_steps − 1
/// ```
///
/// Within a phase from step `s` to step `e`, `pct = (step − s)/(e − s)`.
///
/// The rate depends on `max_lr` only: `base_lr` is ignored, as torch overwrites the
/// optimizer's rate with `max_lr / div_factor`.
///
/// Defaults as torch: `pct_start` 0.3, cosine annealing, `div_factor` 25,
/// `final_div_factor` 1e4, two phases.
///
/// Differences from PyTorch: momentum is not cycled (torch's default `cycle_momentum=True`
/// also moves SGD's momentum or Adam's β₁ between 0.95 and 0.85); past `total_steps` the
/// rate stays at `min` (torch raises `ValueError`); a phase of zero length gives its end
/// value (torch divides by zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneCycleLr {
    /// The peak rate.
    pub max_lr: f64,
    /// Number of steps in the cycle.
    pub total_steps: usize,
    /// Fraction of the cycle spent increasing the rate (default 0.3).
    pub pct_start: f64,
    /// Cosine or linear annealing (default cosine).
    pub anneal: Anneal,
    /// `initial = max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// `min = initial / final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// Three phases (the paper's schedule) instead of two (fastai's, the default).
    pub three_phase: bool,
}

impl OneCycleLr {
    /// A cycle of `total_steps` steps peaking at `max_lr`, with torch's other defaults.
    ///
    /// # Panics
    /// If `total_steps` is 0.
    #[inline]
    #[must_use]
    pub const fn new(max_lr: f64, total_steps: usize) -> Self {
        assert!(total_steps > 0, "`total_steps` must be positive");
        Self {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    /// Sets the fraction of the cycle spent increasing the rate (default 0.3).
    ///
    /// # Panics
    /// If `pct_start` is not within `[0, 1]`.
    #[inline]
    #[must_use]
    pub fn pct_start(mut self, pct_start: f64) -> Self {
        assert!((0.0..=1.0).contains(&pct_start), "`pct_start` must be within [0, 1]");
        self.pct_start = pct_start;
        self
    }

    /// Sets the annealing strategy (default [`Anneal::Cos`]).
    #[inline]
    #[must_use]
    pub const fn anneal(mut self, anneal: Anneal) -> Self {
        self.anneal = anneal;
        self
    }

    /// Sets `div_factor`: the cycle starts at `max_lr / div_factor` (default 25).
    #[inline]
    #[must_use]
    pub const fn div_factor(mut self, div_factor: f64) -> Self {
        self.div_factor = div_factor;
        self
    }

    /// Sets `final_div_factor`: the cycle ends at `initial / final_div_factor` (default 1e4).
    #[inline]
    #[must_use]
    pub const fn final_div_factor(mut self, final_div_factor: f64) -> Self {
        self.final_div_factor = final_div_factor;
        self
    }

    /// Uses three phases (up, down to the initial rate, down to the minimum) instead of two.
    #[inline]
    #[must_use]
    pub const fn three_phase(mut self, three_phase: bool) -> Self {
        self.three_phase = three_phase;
        self
    }

    /// The rate the cycle starts from, `max_lr / div_factor`.
    #[inline]
    #[must_use]
    pub fn initial_lr(&self) -> f64 {
        self.max_lr / self.div_factor
    }

    /// The rate the cycle ends at, `initial_lr / final_div_factor`.
    #[inline]
    #[must_use]
    pub fn min_lr(&self) -> f64 {
        self.initial_lr() / self.final_div_factor
    }
}

impl Schedule for OneCycleLr {
    fn lr(&self, step: usize, _base_lr: f64) -> f64 {
        let (initial, max, min) = (self.initial_lr(), self.max_lr, self.min_lr());
        if step > self.total_steps {
            return min;
        }
        let rise_end = self.pct_start * self.total_steps as f64 - 1.0;
        let last = self.total_steps as f64 - 1.0;
        // (end step, start value, end value) of each phase, as torch lists them.
        let two = [(rise_end, initial, max), (last, max, min)];
        let three = [
            (rise_end, initial, max),
            (2.0 * self.pct_start * self.total_steps as f64 - 2.0, max, initial),
            (last, initial, min),
        ];
        let phases: &[(f64, f64, f64)] = if self.three_phase { &three } else { &two };
        let step = step as f64;
        let mut start_step = 0.0;
        for (i, &(end_step, start_lr, end_lr)) in phases.iter().enumerate() {
            if step <= end_step || i == phases.len() - 1 {
                let span = end_step - start_step;
                let pct = if span == 0.0 { 1.0 } else { (step - start_step) / span };
                return self.anneal.interpolate(start_lr, end_lr, pct);
            }
            start_step = end_step;
        }
        min
    }
}

/// A linear warm-up in front of any schedule: the factor grows linearly from
/// `start_factor` to 1 over `steps` steps (as `torch.optim.lr_scheduler.LinearLR` with
/// `end_factor = 1`, `total_iters = steps`), then `inner` runs, counted from the end of
/// the warm-up:
///
/// ```text
/// step < steps:  lr = inner.lr(0, base) · (start_factor + (1 − start_factor)·step/steps)
/// step ≥ steps:  lr = inner.lr(step − steps, base)
/// ```
///
/// This is torch's `SequentialLR([LinearLR(start_factor, total_iters=steps), inner],
/// milestones=[steps])`: the inner schedule starts at its own step 0 when the warm-up
/// ends, so its length parameters (`t_max`, `total_steps`, milestones) count the steps
/// after the warm-up. The warm-up ramps towards the inner schedule's first rate
/// (`inner.lr(0, base)`, the base rate for every schedule here but [`OneCycleLr`]), so the
/// rate is continuous where the two meet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup<S> {
    /// Length of the warm-up, in steps (0: no warm-up).
    pub steps: usize,
    /// The factor at step 0 (torch's `LinearLR` default 1/3).
    pub start_factor: f64,
    /// The schedule that follows the warm-up.
    pub inner: S,
}

impl<S: Schedule> Warmup<S> {
    /// Warm up over `steps` steps from `start_factor`, then follow `inner`.
    #[inline]
    #[must_use]
    pub const fn new(steps: usize, start_factor: f64, inner: S) -> Self {
        Self { steps, start_factor, inner }
    }
}

impl<S: Schedule> Schedule for Warmup<S> {
    #[inline]
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        if step >= self.steps {
            return self.inner.lr(step - self.steps, base_lr);
        }
        let factor = self.start_factor + (1.0 - self.start_factor) * step as f64 / self.steps as f64;
        self.inner.lr(0, base_lr) * factor
    }
}

/// Whether [`ReduceLrOnPlateau`] looks for a falling or a rising metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (a loss); torch's default `'min'`.
    #[default]
    Min,
    /// Higher is better (an accuracy); torch's `'max'`.
    Max,
}

/// How [`ReduceLrOnPlateau`] measures a significant improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Better than `best·(1 ∓ threshold)`; torch's default `'rel'`.
    #[default]
    Rel,
    /// Better than `best ∓ threshold`; torch's `'abs'`.
    Abs,
}

/// Reduces the learning rate when a metric stops improving, as
/// `torch.optim.lr_scheduler.ReduceLROnPlateau`.
///
/// Each [`observe(metric)`](Self::observe), typically once per epoch with a validation
/// loss, does what torch's `step(metric)` does:
///
/// ```text
/// if metric is better than best (by threshold):  best ← metric;  bad ← 0
/// else:                                          bad ← bad + 1
/// if cooling down:  cooldown_counter ← cooldown_counter − 1;  bad ← 0
/// if bad > patience:
///     new ← max(lr·factor, min_lr);   if lr − new > eps:  lr ← new
///     cooldown_counter ← cooldown;  bad ← 0
/// ```
///
/// where "better" is `metric < best·(1 − threshold)` (min, rel), `metric < best − threshold`
/// (min, abs), `metric > best·(1 + threshold)` (max, rel) or `metric > best + threshold`
/// (max, abs), and `best` starts at the worst value (±∞). A NaN metric is never better.
///
/// Defaults as torch: mode min, factor 0.1, patience 10, threshold 1e-4 relative,
/// cooldown 0, `min_lr` 0, eps 1e-8.
///
/// Differences from PyTorch: the type holds the current rate itself (from
/// [`new`](Self::new)) instead of reading and writing the optimizer's; pass the returned
/// rate to the optimizer, or use [`observe_and_apply`](Self::observe_and_apply).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    lr: f64,
    mode: PlateauMode,
    factor: f64,
    patience: usize,
    threshold: f64,
    threshold_mode: ThresholdMode,
    cooldown: usize,
    min_lr: f64,
    eps: f64,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
}

impl ReduceLrOnPlateau {
    /// Starts at rate `lr`, with torch's defaults.
    #[inline]
    #[must_use]
    pub const fn new(lr: f64) -> Self {
        Self {
            lr,
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            best: f64::INFINITY,
            num_bad_epochs: 0,
            cooldown_counter: 0,
        }
    }

    /// Sets whether lower or higher metrics are better (default [`PlateauMode::Min`]).
    #[inline]
    #[must_use]
    pub const fn mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self.best = self.worst();
        self
    }

    /// Sets the factor a reduction multiplies the rate by (default 0.1).
    ///
    /// # Panics
    /// If `factor` is not below 1 (torch raises `ValueError`).
    #[inline]
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        assert!(factor < 1.0, "`factor` must be below 1");
        self.factor = factor;
        self
    }

    /// Sets how many observations without improvement are tolerated (default 10).
    #[inline]
    #[must_use]
    pub const fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Sets the improvement threshold (default 1e-4).
    #[inline]
    #[must_use]
    pub const fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets whether the threshold is relative or absolute (default [`ThresholdMode::Rel`]).
    #[inline]
    #[must_use]
    pub const fn threshold_mode(mut self, threshold_mode: ThresholdMode) -> Self {
        self.threshold_mode = threshold_mode;
        self
    }

    /// Sets how many observations after a reduction are ignored (default 0).
    #[inline]
    #[must_use]
    pub const fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets the lowest rate a reduction goes to (default 0).
    #[inline]
    #[must_use]
    pub const fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Sets the smallest change of rate worth making (default 1e-8).
    #[inline]
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// The current learning rate.
    #[inline]
    #[must_use]
    pub const fn lr(&self) -> f64 {
        self.lr
    }

    /// The best metric seen so far (±∞ before the first observation).
    #[inline]
    #[must_use]
    pub const fn best(&self) -> f64 {
        self.best
    }

    /// Observations without improvement since the last improvement or reduction.
    #[inline]
    #[must_use]
    pub const fn num_bad_epochs(&self) -> usize {
        self.num_bad_epochs
    }

    /// `true` while observations are being ignored after a reduction.
    #[inline]
    #[must_use]
    pub const fn in_cooldown(&self) -> bool {
        self.cooldown_counter > 0
    }

    /// Records one value of the metric; returns the (possibly reduced) learning rate.
    pub fn observe(&mut self, metric: f64) -> f64 {
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.in_cooldown() {
            self.cooldown_counter -= 1;
            // Observations during the cooldown do not count against the patience.
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            let new_lr = (self.lr * self.factor).max(self.min_lr);
            if self.lr - new_lr > self.eps {
                self.lr = new_lr;
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        self.lr
    }

    /// [`observe`](Self::observe)s `metric` and sets `opt`'s learning rate to the result.
    #[inline]
    pub fn observe_and_apply<P: ?Sized, O: Optimizer<P> + ?Sized>(&mut self, metric: f64, opt: &mut O) -> f64 {
        let lr = self.observe(metric);
        opt.set_learning_rate(lr);
        lr
    }

    /// Forgets the best metric and the counters (keeps the current rate).
    #[inline]
    pub const fn reset(&mut self) {
        self.best = self.worst();
        self.num_bad_epochs = 0;
        self.cooldown_counter = 0;
    }

    const fn worst(&self) -> f64 {
        match self.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    fn is_better(&self, a: f64) -> bool {
        let best = self.best;
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + self.threshold,
        }
    }
}
