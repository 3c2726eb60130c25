//! A training loop for any [`Network`]: [`fit`] runs epochs of shuffled mini-batches,
//! configured by [`FitOptions`], and returns a [`History`] of [`EpochMetrics`].
//!
//! ```
//! # use stackprop_runtime::{Class, Network};
//! use stackprop_runtime::optim::Adam;
//! use stackprop_runtime::schedule::CosineAnnealingLr;
//! use stackprop_runtime::train::{Control, EarlyStopping, FitOptions, ScheduleUnit, fit};
//! # fn demo<const P: usize, N: Network<Scalar = f32, Params = [f32; P]>>(
//! #     net: &mut N,
//! #     train: (&[N::Input], &[Class]),
//! #     val: (&[N::Input], &[Class]),
//! # ) -> Result<(), stackprop_runtime::FitError>
//! # where Class: stackprop_runtime::Target<N::Output> {
//! let mut opt = Adam::new(1e-2);
//! let options = FitOptions::new(200, 16)
//!     .seed(7)
//!     .validation(val.0, val.1)
//!     .schedule(CosineAnnealingLr::new(200), ScheduleUnit::Epoch)
//!     .clip_grad_norm(5.0)
//!     .early_stopping(EarlyStopping::new(20))
//!     .on_epoch(|m| {
//!         println!("epoch {} loss {:.4}", m.epoch, m.train_loss);
//!         Control::Continue
//!     });
//! let history = fit(net, &mut opt, train.0, train.1, options)?;
//! println!("stopped: {:?} after {} epochs", history.stop_reason, history.epochs.len());
//! # Ok(())
//! # }
//! ```
//!
//! What one epoch does, in order:
//!
//! 1. With a schedule stepped per epoch ([`ScheduleUnit::Epoch`]), sets the learning rate.
//! 2. Reshuffles the sample order (unless [`FitOptions::shuffle`] is off) with a
//!    [`SplitMix64`] seeded once per fit, so the same seed gives the same batches.
//! 3. For each mini-batch: with a schedule stepped per step ([`ScheduleUnit::Step`], the
//!    default) sets the learning rate; computes the mean gradient into one buffer
//!    allocated per fit (on one core, or on several with `FitOptions::parallel`,
//!    feature `parallel`); clips it by norm if asked; takes one optimizer step.
//! 4. Scores the validation set, if any: mean loss, and accuracy when every validation
//!    target names a class ([`AsClass`]).
//! 5. Tracks the best validation loss for [`EarlyStopping`], calls the
//!    [`on_epoch`](FitOptions::on_epoch) callback, and stops if asked.
//!
//! Non-finite numbers never reach the parameters: the training and validation samples
//! are checked before anything is trained ([`FitError::NonFiniteInput`],
//! [`FitError::NonFiniteTarget`]), each batch's loss and gradient before its step, and the
//! parameters after it. A NaN or infinity there ends the fit with
//! [`FitError::NonFinite`], naming the epoch and the step, and the network and the
//! optimizer hold the state before that step, the last finite one. (With
//! [`FitOptions::clip_grad_norm`], a batch whose gradient norm is not finite is skipped
//! instead, and counted in [`EpochMetrics::skipped_steps`].)
//!
//! With [`FitOptions::diagnostics`], each batch's samples also go through a training
//! forward to observe their units, the gradient's norms are taken before clipping and the
//! parameters are kept before each step: the epoch's [`EpochDiagnostics`] and new
//! [`Warning`]s go into the [`History`]
//! ([`diagnostics::report`](crate::diagnostics::report)).
//!
//! With feature `progress`, a bar counts the mini-batches on stderr while it is a
//! terminal (nothing is drawn otherwise, e.g. when stderr is redirected or in tests). The
//! feature is off by default, also in the facade crate's `std`: it adds a terminal
//! library to the build, and the callback already gives a line per epoch.

use core::fmt;
use std::boxed::Box;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::data::{argmax, shuffle};
use crate::diagnostics::report::Monitor;
pub use crate::diagnostics::report::{EpochDiagnostics, LayerStats, TensorStats, Thresholds, Warning};
use crate::grad::clip_grad_norm;
use crate::network::{Buffer, Class, Network, Target, first_non_finite};
use crate::optim::Optimizer;
use crate::rng::SplitMix64;
use crate::scalar::Scalar;
use crate::schedule::Schedule;

/// When [`fit`] evaluates a learning-rate [`Schedule`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScheduleUnit {
    /// Before every optimizer step, as `lr(k, base)` with `k` the number of mini-batches
    /// processed before this one, counted from 0 over the whole fit (the default; what
    /// [`Schedule`] means by a step).
    #[default]
    Step,
    /// Before each epoch's first step, as `lr(k, base)` with `k` the epoch counted from 0
    /// (torch's usual `scheduler.step()` once per epoch).
    Epoch,
}

/// Stop when the validation loss has not improved for a while.
///
/// An epoch improves when its validation loss is below the best so far by more than
/// `min_delta` (a NaN loss never improves). Training stops after `patience` epochs in a
/// row without improvement (at least one). With `restore_best` (the default), the
/// parameters of the best epoch are put back when [`fit`] returns, however it ended:
/// by patience, by the callback, after the last epoch, or on a non-finite loss. The
/// optimizer's state is not restored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement tolerated before stopping.
    pub patience: usize,
    /// The least decrease of the validation loss that counts as an improvement.
    pub min_delta: f64,
    /// Put back the parameters of the best epoch at the end.
    pub restore_best: bool,
}

impl EarlyStopping {
    /// Stop after `patience` epochs without improvement, `min_delta` 0, restoring the best
    /// parameters.
    #[inline]
    #[must_use]
    pub const fn new(patience: usize) -> Self {
        Self { patience, min_delta: 0.0, restore_best: true }
    }

    /// Sets the least decrease that counts as an improvement (default 0).
    ///
    /// # Panics
    /// If `min_delta` is negative or NaN.
    #[inline]
    #[must_use]
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        assert!(min_delta >= 0.0, "`min_delta` must be non-negative, got {min_delta}");
        self.min_delta = min_delta;
        self
    }

    /// Sets whether the best epoch's parameters are put back at the end (default on).
    #[inline]
    #[must_use]
    pub const fn restore_best(mut self, restore_best: bool) -> Self {
        self.restore_best = restore_best;
        self
    }
}

/// What the [`on_epoch`](FitOptions::on_epoch) callback tells [`fit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Control {
    /// Go on training.
    #[default]
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// Why [`fit`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// [`EarlyStopping`] ran out of patience.
    EarlyStopping,
    /// The callback returned [`Control::Stop`].
    Callback,
    /// The epoch's training loss was NaN or infinite: going on would only spread it (with
    /// clipping, the steps of such batches were skipped, so the parameters are finite).
    NonFinite,
}

/// What one epoch of [`fit`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct EpochMetrics {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Optimizer steps taken since the fit began (a skipped step does not count).
    pub steps: usize,
    /// Mean training loss over the epoch's samples, each batch's loss measured before its
    /// step (so it trails the loss of the parameters at the epoch's end).
    pub train_loss: f64,
    /// Mean loss on the validation set after the epoch.
    pub validation_loss: Option<f64>,
    /// Fraction of the validation set classified right after the epoch, when every
    /// validation target names a class ([`AsClass`]).
    pub validation_accuracy: Option<f64>,
    /// The learning rate of the epoch's last step.
    pub learning_rate: f64,
    /// Mean gradient norm before clipping over the epoch's steps, skipped ones left out
    /// (only with [`FitOptions::clip_grad_norm`]).
    pub grad_norm: Option<f64>,
    /// Steps skipped because clipping found a non-finite gradient norm.
    pub skipped_steps: usize,
    /// Time this epoch took, validation included.
    pub epoch_time: Duration,
    /// Time since the fit began.
    pub elapsed: Duration,
}

/// What [`fit`] returns: the metrics of every epoch that ran, and how it ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct History {
    /// One entry per epoch run, in order.
    pub epochs: Vec<EpochMetrics>,
    /// Why training ended.
    pub stop_reason: StopReason,
    /// The epoch (from 1) of the lowest validation loss, improvements smaller than
    /// [`EarlyStopping::min_delta`] not counting; `None` without a validation set.
    pub best_epoch: Option<usize>,
    /// `true` if the parameters were set back to those of `best_epoch`.
    pub restored_best: bool,
    /// The gradient-flow report of every epoch run, with
    /// [`FitOptions::diagnostics`]; empty otherwise.
    pub diagnostics: Vec<EpochDiagnostics>,
    /// The warnings the reports raised, each rule once per layer or tensor, in the order
    /// issued; empty without [`FitOptions::diagnostics`].
    pub warnings: Vec<Warning>,
}

impl History {
    /// The training loss of every epoch.
    #[must_use]
    pub fn train_losses(&self) -> Vec<f64> {
        self.epochs.iter().map(|m| m.train_loss).collect()
    }

    /// The validation loss of every epoch (empty without a validation set).
    #[must_use]
    pub fn validation_losses(&self) -> Vec<f64> {
        self.epochs.iter().filter_map(|m| m.validation_loss).collect()
    }

    /// The metrics of the last epoch run.
    #[must_use]
    pub fn last(&self) -> Option<&EpochMetrics> {
        self.epochs.last()
    }

    /// The metrics of [`best_epoch`](Self::best_epoch).
    #[must_use]
    pub fn best(&self) -> Option<&EpochMetrics> {
        self.best_epoch.and_then(|e| self.epochs.get(e - 1))
    }

    /// The mean gradient norm of layer `layer`'s parameters in every epoch (empty
    /// without [`FitOptions::diagnostics`] or for a layer without parameters).
    #[must_use]
    pub fn layer_grad_norms(&self, layer: &str) -> Vec<f64> {
        self.diagnostics.iter().filter_map(|d| d.layer(layer)?.grad_norm).collect()
    }
}

/// Everything [`fit`] can reject before training, and the non-finite numbers that
/// stop it during training.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FitError {
    /// A sample's input has a NaN or infinite feature; nothing was trained.
    NonFiniteInput {
        /// `"training"` or `"validation"`.
        set: &'static str,
        /// Index of the sample in its set.
        sample: usize,
        /// Index of the feature.
        feature: usize,
    },
    /// A sample's target has a NaN or infinite component; nothing was trained.
    NonFiniteTarget {
        /// `"training"` or `"validation"`.
        set: &'static str,
        /// Index of the sample in its set.
        sample: usize,
        /// Index of the output.
        output: usize,
    },
    /// During training, a batch's loss or gradient, or the parameters after a step, went
    /// NaN or infinite. The network and the optimizer hold the state before that step.
    NonFinite {
        /// `"loss"`, `"gradient"` or `"parameters"`.
        what: &'static str,
        /// The epoch, from 1.
        epoch: usize,
        /// The batch within the epoch, from 1.
        batch: usize,
        /// Optimizer steps taken before it (the step that failed would have been the
        /// next).
        step: usize,
    },
    /// There is no training sample.
    EmptyTrainingSet,
    /// Training inputs and targets differ in length.
    LengthMismatch {
        /// Number of inputs.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// Validation inputs and targets differ in length.
    ValidationLengthMismatch {
        /// Number of inputs.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// A validation set was given without samples.
    EmptyValidationSet,
    /// Early stopping was asked for without a validation set.
    EarlyStoppingWithoutValidation,
    /// A batch size of 0.
    ZeroBatchSize,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyTrainingSet => f.write_str("no training samples, expected at least one"),
            Self::LengthMismatch { inputs, targets } => {
                write!(f, "{inputs} training inputs but {targets} targets, expected as many")
            }
            Self::ValidationLengthMismatch { inputs, targets } => {
                write!(f, "{inputs} validation inputs but {targets} targets, expected as many")
            }
            Self::EmptyValidationSet => f.write_str("the validation set has no samples, expected at least one"),
            Self::EarlyStoppingWithoutValidation => {
                f.write_str("early stopping watches the validation loss, but no validation set was given")
            }
            Self::ZeroBatchSize => f.write_str("batch size is 0, expected at least 1"),
            Self::NonFiniteInput { set, sample, feature } => {
                write!(f, "{set} sample {sample} has a non-finite input at feature {feature}; nothing was trained")
            }
            Self::NonFiniteTarget { set, sample, output } => {
                write!(f, "{set} sample {sample} has a non-finite target at output {output}; nothing was trained")
            }
            Self::NonFinite { what, epoch, batch, step } => write!(
                f,
                "the {what} went non-finite in epoch {epoch}, batch {batch} (after {step} steps); the network and \
                 the optimizer hold the state before that step (lower the learning rate or clip the gradient norm)"
            ),
        }
    }
}

impl std::error::Error for FitError {}

/// A target that may name a class, so that [`fit`] can score validation accuracy.
///
/// The predicted class of an output is its [`argmax`], or for a single output, class 1
/// when it is at least ½ (a sigmoid read as a probability) and class 0 otherwise.
pub trait AsClass {
    /// The class this target stands for, or `None` if it stands for none.
    #[must_use]
    fn as_class(&self) -> Option<usize>;
}

impl AsClass for Class {
    #[inline]
    fn as_class(&self) -> Option<usize> {
        Some(self.0)
    }
}

impl<T: Scalar, const N: usize> AsClass for [T; N] {
    /// For `N = 1`, exactly 0 or 1 is that class; for more, a one-hot array is the index
    /// of its 1. Anything else (a regression target, a smoothed label) names no class.
    fn as_class(&self) -> Option<usize> {
        if let [y] = self.as_slice() {
            return if *y == T::ZERO {
                Some(0)
            } else if *y == T::ONE {
                Some(1)
            } else {
                None
            };
        }
        let mut hot = None;
        for (i, &v) in self.iter().enumerate() {
            if v == T::ONE && hot.is_none() {
                hot = Some(i);
            } else if v != T::ZERO {
                return None;
            }
        }
        hot
    }
}

/// The class an output predicts: see [`AsClass`].
#[must_use]
pub fn predicted_class<T: Scalar>(output: &[T]) -> usize {
    match output {
        [y] => usize::from(y.to_f64() >= 0.5),
        _ => argmax(output),
    }
}

/// How [`fit`] computes a mini-batch's mean gradient: [`Sequential`] on one core, or
/// `ParallelGradient` (feature `parallel`) on several.
pub trait BatchGradient<N: Network, G> {
    /// Writes the mean gradient over the batch into `grad` (overwriting it); returns the
    /// mean loss.
    ///
    /// # Panics
    /// If `xs` and `ts` differ in length.
    fn batch_gradient(&mut self, net: &N, xs: &[N::Input], ts: &[G], grad: &mut N::Params) -> N::Scalar;
}

/// Mini-batch gradients on the calling thread, by [`Network::batch_gradient`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequential;

impl<N: Network, G: Target<N::Output>> BatchGradient<N, G> for Sequential {
    #[inline]
    fn batch_gradient(&mut self, net: &N, xs: &[N::Input], ts: &[G], grad: &mut N::Params) -> N::Scalar {
        net.batch_gradient(xs, ts, grad)
    }
}

/// The callback type of [`FitOptions::on_epoch`].
type Callback<'a> = Box<dyn FnMut(&EpochMetrics) -> Control + 'a>;

/// How [`fit`] trains: epochs, batch size, shuffling, validation data, learning-rate
/// schedule, clipping, early stopping, callback, progress bar and gradient strategy.
///
/// `I` and `G` are the network's input and target types (of the validation set; inferred
/// at the [`fit`] call), `B` the [`BatchGradient`] strategy.
pub struct FitOptions<'a, I, G, B = Sequential> {
    epochs: usize,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    validation: Option<(&'a [I], &'a [G])>,
    schedule: Option<(Box<dyn Schedule + 'a>, ScheduleUnit)>,
    clip_grad_norm: Option<f64>,
    early_stopping: Option<EarlyStopping>,
    on_epoch: Option<Callback<'a>>,
    progress: bool,
    diagnostics: Option<Thresholds>,
    gradient: B,
}

impl<I, G, B: fmt::Debug> fmt::Debug for FitOptions<'_, I, G, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FitOptions")
            .field("epochs", &self.epochs)
            .field("batch_size", &self.batch_size)
            .field("seed", &self.seed)
            .field("shuffle", &self.shuffle)
            .field("validation", &self.validation.map(|(xs, _)| xs.len()))
            .field("schedule", &self.schedule.as_ref().map(|(_, unit)| unit))
            .field("clip_grad_norm", &self.clip_grad_norm)
            .field("early_stopping", &self.early_stopping)
            .field("on_epoch", &self.on_epoch.is_some())
            .field("progress", &self.progress)
            .field("diagnostics", &self.diagnostics)
            .field("gradient", &self.gradient)
            .finish()
    }
}

impl<'a, I, G> FitOptions<'a, I, G> {
    /// `epochs` passes over the training set in mini-batches of `batch_size` (the last
    /// batch of an epoch may be smaller), shuffled with seed 0, no validation, the
    /// optimizer's own learning rate, no clipping, no early stopping, gradients on one
    /// core.
    #[must_use]
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Self {
            epochs,
            batch_size,
            seed: 0,
            shuffle: true,
            validation: None,
            schedule: None,
            clip_grad_norm: None,
            early_stopping: None,
            on_epoch: None,
            progress: true,
            diagnostics: None,
            gradient: Sequential,
        }
    }
}

impl<'a, I, G, B> FitOptions<'a, I, G, B> {
    /// Sets the seed of the shuffling (default 0): the same seed, data and network give
    /// the same training run.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Turns the per-epoch reshuffling on or off (default on); off, the batches are the
    /// samples in order.
    #[must_use]
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Scores `xs` against `ts` after every epoch (loss, and accuracy for class targets).
    #[must_use]
    pub fn validation(mut self, xs: &'a [I], ts: &'a [G]) -> Self {
        self.validation = Some((xs, ts));
        self
    }

    /// Sets the learning rate from `schedule` before every step or every epoch; the base
    /// rate is the optimizer's rate when [`fit`] starts.
    #[must_use]
    pub fn schedule(mut self, schedule: impl Schedule + 'a, unit: ScheduleUnit) -> Self {
        self.schedule = Some((Box::new(schedule), unit));
        self
    }

    /// Clips every mini-batch gradient to L2 norm `max_norm` before the step
    /// ([`clip_grad_norm`]); a step whose gradient norm is NaN or infinite is skipped.
    ///
    /// # Panics
    /// If `max_norm` is negative or NaN.
    #[must_use]
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        assert!(max_norm >= 0.0, "`max_norm` must be non-negative, got {max_norm}");
        self.clip_grad_norm = Some(max_norm);
        self
    }

    /// Stops on a validation loss that no longer improves (needs
    /// [`validation`](Self::validation)).
    #[must_use]
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// Calls `callback` after every epoch with its metrics; [`Control::Stop`] ends
    /// training after that epoch.
    #[must_use]
    pub fn on_epoch(mut self, callback: impl FnMut(&EpochMetrics) -> Control + 'a) -> Self {
        self.on_epoch = Some(Box::new(callback));
        self
    }

    /// Shows a progress bar on stderr when it is a terminal (default on; needs feature
    /// `progress`, without which nothing is ever drawn).
    #[must_use]
    pub fn progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// Collects a [gradient-flow report](crate::diagnostics::report) per epoch into
    /// [`History::diagnostics`] and the [`Warning`]s it raises, by `thresholds`, into
    /// [`History::warnings`] (default off: nothing is measured). Costs one more forward
    /// pass per sample and a copy of the parameters per step.
    #[must_use]
    pub fn diagnostics(mut self, thresholds: Thresholds) -> Self {
        self.diagnostics = Some(thresholds);
        self
    }

    /// Computes mini-batch gradients with `gradient` instead of the current strategy.
    #[must_use]
    pub fn gradient<C>(self, gradient: C) -> FitOptions<'a, I, G, C> {
        FitOptions {
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            shuffle: self.shuffle,
            validation: self.validation,
            schedule: self.schedule,
            clip_grad_norm: self.clip_grad_norm,
            early_stopping: self.early_stopping,
            on_epoch: self.on_epoch,
            progress: self.progress,
            diagnostics: self.diagnostics,
            gradient,
        }
    }

    /// Computes mini-batch gradients on all of rayon's threads, in chunks of
    /// `chunk_size` samples: the result does not depend on the number of threads
    /// ([`ParallelGradient`](crate::parallel::ParallelGradient)).
    ///
    /// # Panics
    /// If `chunk_size` is 0.
    #[cfg(feature = "parallel")]
    #[must_use]
    pub fn parallel<N: Network>(self, chunk_size: usize) -> FitOptions<'a, I, G, crate::parallel::ParallelGradient<N>> {
        self.gradient(crate::parallel::ParallelGradient::new(chunk_size))
    }
}

/// Trains `net` with `opt` on inputs `xs` and targets `ts` as `options` say; returns the
/// metrics of every epoch.
///
/// Targets are output-shaped arrays or [`Class`] indices. The gradient buffer is
/// allocated once, on the heap, and reused for every batch.
///
/// # Errors
/// [`FitError`] for training or validation data of mismatched lengths, without samples
/// or with a NaN or infinite number, a batch size of 0, or early stopping without a
/// validation set; nothing is trained then. [`FitError::NonFinite`] when a loss,
/// gradient or the parameters went non-finite during training; the network and the
/// optimizer then hold their state from before that step (which is why the optimizer
/// must be `Clone`: it is copied before each step).
///
/// # Panics
/// If a [`Class`] target is out of range for the network's outputs.
pub fn fit<N, G, O, B>(
    net: &mut N,
    opt: &mut O,
    xs: &[N::Input],
    ts: &[G],
    options: FitOptions<'_, N::Input, G, B>,
) -> Result<History, FitError>
where
    N: Network,
    G: Target<N::Output> + AsClass + Clone,
    O: Optimizer<N::Params> + Clone,
    B: BatchGradient<N, G>,
{
    check::<N, G, B>(xs, ts, &options)?;
    let FitOptions {
        epochs,
        batch_size,
        seed,
        shuffle: reshuffle,
        validation,
        schedule,
        clip_grad_norm: clip,
        early_stopping,
        mut on_epoch,
        progress,
        diagnostics,
        mut gradient,
    } = options;

    let start = Instant::now();
    let base_lr = opt.learning_rate();
    // Boxed so that a large network's parameters never sit on the stack twice.
    let mut grad: Box<N::Params> = Box::new(N::Params::zeroed());
    // The state before the current step, restored if the step goes non-finite.
    let mut last_params: Box<N::Params> = Box::new(N::Params::zeroed());
    let mut last_opt: Box<O> = Box::new(opt.clone());
    let mut best_params: Option<Box<N::Params>> =
        early_stopping.filter(|e| e.restore_best).map(|_| Box::new(N::Params::zeroed()));
    let min_delta = early_stopping.map_or(0.0, |e| e.min_delta);

    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut rng = SplitMix64::new(seed);
    let (mut batch_x, mut batch_t) =
        (Vec::with_capacity(batch_size.min(xs.len())), Vec::with_capacity(batch_size.min(xs.len())));
    let batches_per_epoch = xs.len().div_ceil(batch_size);
    let bar = bar::Bar::new(progress, epochs.saturating_mul(batches_per_epoch));

    let mut history = History {
        epochs: Vec::with_capacity(epochs),
        stop_reason: StopReason::Completed,
        best_epoch: None,
        restored_best: false,
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    let mut monitor = diagnostics.map(Monitor::<N>::new);
    let mut best_loss = f64::INFINITY;
    let mut batches_done = 0usize;
    let mut steps = 0usize;

    for epoch in 1..=epochs {
        let epoch_start = Instant::now();
        if let Some((s, ScheduleUnit::Epoch)) = &schedule {
            opt.set_learning_rate(s.lr(epoch - 1, base_lr));
        }
        if reshuffle {
            shuffle(&mut order, &mut rng);
        }
        let mut loss_sum = 0.0;
        let mut norm_sum = 0.0;
        let mut skipped = 0;
        for (batch_index, batch) in order.chunks(batch_size).enumerate() {
            batch_x.clear();
            batch_t.clear();
            batch_x.extend(batch.iter().map(|&i| xs[i].clone()));
            batch_t.extend(batch.iter().map(|&i| ts[i].clone()));
            if let Some((s, ScheduleUnit::Step)) = &schedule {
                opt.set_learning_rate(s.lr(batches_done, base_lr));
            }
            batches_done += 1;
            let loss = gradient.batch_gradient(&*net, &batch_x, &batch_t, &mut grad);
            let (batch_no, steps_before) = (batch_index + 1, steps);
            let non_finite = move |what| FitError::NonFinite { what, epoch, batch: batch_no, step: steps_before };
            if !loss.is_finite() && clip.is_none() {
                return Err(non_finite("loss"));
            }
            if clip.is_none() && first_non_finite((*grad).as_ref()).is_some() {
                return Err(non_finite("gradient"));
            }
            loss_sum += loss.to_f64() * batch.len() as f64;
            if let Some(m) = monitor.as_mut() {
                m.observe_batch(&*net, &batch_x, &grad);
            }
            bar.inc();
            if let Some(max_norm) = clip {
                let norm = clip_grad_norm((*grad).as_mut(), max_norm);
                if !norm.is_finite() {
                    // clip_grad_norm leaves such a gradient as it is: stepping with it
                    // would make every parameter NaN.
                    skipped += 1;
                    continue;
                }
                norm_sum += norm;
            }
            if let Some(m) = monitor.as_mut() {
                m.before_step(&*net);
            }
            (*last_params).as_mut().copy_from_slice(net.params().as_ref());
            (*last_opt).clone_from(opt);
            opt.step(net.params_mut(), &grad);
            net.advance_dropout();
            if first_non_finite(net.params().as_ref()).is_some() {
                net.params_mut().as_mut().copy_from_slice((*last_params).as_ref());
                opt.clone_from(&*last_opt);
                return Err(non_finite("parameters"));
            }
            if let Some(m) = monitor.as_mut() {
                m.after_step(&*net);
            }
            steps += 1;
        }
        let train_loss = loss_sum / xs.len() as f64;
        let (validation_loss, validation_accuracy) = validation.map_or((None, None), |(vx, vt)| {
            let (loss, accuracy) = evaluate(&*net, vx, vt);
            (Some(loss), accuracy)
        });

        let mut patience_out = false;
        if let Some(loss) = validation_loss {
            if loss < best_loss - min_delta {
                best_loss = loss;
                history.best_epoch = Some(epoch);
                if let Some(best) = best_params.as_deref_mut() {
                    best.as_mut().copy_from_slice(net.params().as_ref());
                }
            } else if let Some(e) = early_stopping {
                // Counted from the start while no epoch has improved (every loss NaN).
                let since = epoch - history.best_epoch.unwrap_or(0);
                patience_out = since >= e.patience.max(1);
            }
        }

        let now = Instant::now();
        let metrics = EpochMetrics {
            epoch,
            steps,
            train_loss,
            validation_loss,
            validation_accuracy,
            learning_rate: opt.learning_rate(),
            grad_norm: clip.map(|_| norm_sum / (batches_per_epoch - skipped).max(1) as f64),
            skipped_steps: skipped,
            epoch_time: now - epoch_start,
            elapsed: now - start,
        };
        history.epochs.push(metrics);
        if let Some(m) = monitor.as_mut() {
            history.diagnostics.push(m.end_epoch(epoch, &mut history.warnings));
        }
        bar.set_message(&metrics, epochs);
        let control = on_epoch.as_mut().map_or(Control::Continue, |f| bar.suspend(|| f(&metrics)));

        // The first reason found is the one reported.
        let stop = if !train_loss.is_finite() {
            Some(StopReason::NonFinite)
        } else if patience_out {
            Some(StopReason::EarlyStopping)
        } else if control == Control::Stop {
            Some(StopReason::Callback)
        } else {
            None
        };
        if let Some(reason) = stop {
            history.stop_reason = reason;
            break;
        }
    }

    if let (Some(best), Some(best_epoch)) = (best_params.as_deref(), history.best_epoch)
        && history.epochs.last().is_some_and(|m| m.epoch != best_epoch)
    {
        net.params_mut().as_mut().copy_from_slice(best.as_ref());
        history.restored_best = true;
    }
    bar.finish();
    Ok(history)
}

/// The first sample of a set with a non-finite input or target.
fn check_finite<N: Network, G: Target<N::Output>>(
    set: &'static str,
    xs: &[N::Input],
    ts: &[G],
) -> Result<(), FitError> {
    for (sample, (x, t)) in xs.iter().zip(ts).enumerate() {
        if let Some(feature) = first_non_finite(x.as_ref()) {
            return Err(FitError::NonFiniteInput { set, sample, feature });
        }
        if let Some(output) = first_non_finite(t.to_target().as_ref()) {
            return Err(FitError::NonFiniteTarget { set, sample, output });
        }
    }
    Ok(())
}

/// Checks the data and options before anything is trained.
fn check<N: Network, G: Target<N::Output>, B>(
    xs: &[N::Input],
    ts: &[G],
    options: &FitOptions<'_, N::Input, G, B>,
) -> Result<(), FitError> {
    check_lengths(xs, ts, options)?;
    check_finite::<N, G>("training", xs, ts)?;
    if let Some((vx, vt)) = options.validation {
        check_finite::<N, G>("validation", vx, vt)?;
    }
    Ok(())
}

/// Checks the sizes and options before anything is trained.
fn check_lengths<I, G, B>(xs: &[I], ts: &[G], options: &FitOptions<'_, I, G, B>) -> Result<(), FitError> {
    if xs.len() != ts.len() {
        return Err(FitError::LengthMismatch { inputs: xs.len(), targets: ts.len() });
    }
    if xs.is_empty() {
        return Err(FitError::EmptyTrainingSet);
    }
    if options.batch_size == 0 {
        return Err(FitError::ZeroBatchSize);
    }
    match options.validation {
        Some((vx, vt)) if vx.len() != vt.len() => {
            Err(FitError::ValidationLengthMismatch { inputs: vx.len(), targets: vt.len() })
        }
        Some(([], _)) => Err(FitError::EmptyValidationSet),
        None if options.early_stopping.is_some() => Err(FitError::EarlyStoppingWithoutValidation),
        _ => Ok(()),
    }
}

/// The mean loss over a set, and the accuracy if every target names a class.
///
/// The loss is summed in the order and precision of [`Network::mean_loss`], so the two
/// agree exactly; the output of the same forward pass gives the prediction.
fn evaluate<N, G>(net: &N, xs: &[N::Input], ts: &[G]) -> (f64, Option<f64>)
where
    N: Network,
    G: Target<N::Output> + AsClass,
{
    let mut trace = N::Trace::zeroed();
    let mut correct = 0usize;
    let mut all_classes = true;
    let sum: N::Scalar = xs
        .iter()
        .zip(ts)
        .map(|(x, t)| {
            // Inference mode: dropout layers are the identity.
            let y = net.forward_trace_at(x, &mut trace, None);
            match t.as_class() {
                Some(c) => correct += usize::from(predicted_class(y.as_ref()) == c),
                None => all_classes = false,
            }
            net.trace_loss(&trace, &t.to_target())
        })
        .sum();
    let loss = (sum / N::Scalar::from_usize(xs.len())).to_f64();
    let accuracy = all_classes.then(|| correct as f64 / xs.len() as f64);
    (loss, accuracy)
}

/// The progress bar: indicatif's with feature `progress`, nothing without.
#[cfg(feature = "progress")]
mod bar {
    use std::format;
    use std::io::IsTerminal;

    use indicatif::{ProgressBar, ProgressStyle};

    use super::EpochMetrics;

    /// A bar over all mini-batches of the fit, or nothing when stderr is not a terminal.
    pub(super) struct Bar(Option<ProgressBar>);

    impl Bar {
        pub(super) fn new(enabled: bool, batches: usize) -> Self {
            // indicatif hides itself off a terminal too; checking here also skips its
            // bookkeeping on every batch.
            let shown = enabled && std::io::stderr().is_terminal();
            Self(shown.then(|| {
                let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} batches  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                ProgressBar::new(batches as u64).with_style(style)
            }))
        }

        pub(super) fn inc(&self) {
            if let Some(bar) = &self.0 {
                bar.inc(1);
            }
        }

        pub(super) fn set_message(&self, m: &EpochMetrics, epochs: usize) {
            if let Some(bar) = &self.0 {
                let mut msg = format!("epoch {}/{epochs}  loss {:.4}", m.epoch, m.train_loss);
                if let Some(v) = m.validation_loss {
                    msg += &format!("  val {v:.4}");
                }
                bar.set_message(msg);
            }
        }

        /// Runs `f` with the bar cleared, so that what it prints is not drawn over.
        pub(super) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            match &self.0 {
                Some(bar) => bar.suspend(f),
                None => f(),
            }
        }

        pub(super) fn finish(&self) {
            if let Some(bar) = &self.0 {
                // Leaves the bar where training stopped, rather than filling it up.
                bar.abandon();
            }
        }
    }
}

/// The progress bar: indicatif's with feature `progress`, nothing without.
#[cfg(not(feature = "progress"))]
mod bar {
    use super::EpochMetrics;

    /// Draws nothing: feature `progress` is off.
    pub(super) struct Bar;

    impl Bar {
        pub(super) fn new(_enabled: bool, _batches: usize) -> Self {
            Self
        }

        pub(super) fn inc(&self) {}

        pub(super) fn set_message(&self, _m: &EpochMetrics, _epochs: usize) {}

        pub(super) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            f()
        }

        pub(super) fn finish(&self) {}
    }
}
