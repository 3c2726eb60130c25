//! `train::fit` on a hand-written softmax regression: each option is checked by what it
//! changes, so that an option that did nothing would fail its test.

#![cfg(feature = "std")]

mod train_support;

use std::cell::Cell;

use stackprop_runtime::grad::grad_norm;
use stackprop_runtime::optim::{Adam, Optimizer, Sgd};
use stackprop_runtime::schedule::{Schedule, StepLr};
use stackprop_runtime::train::{Control, EarlyStopping, FitError, FitOptions, ScheduleUnit, StopReason, fit};
use stackprop_runtime::{Class, Network};
use train_support::{PARAMS, Softmax, blobs, shifted};

type Opt = Sgd<[f32; PARAMS]>;

fn net() -> Softmax {
    Softmax::seeded(3)
}

#[test]
fn trains_and_reports_every_epoch() {
    let (xs, ts) = blobs(90, 1);
    let (vx, vt) = blobs(30, 2);
    let mut net = net();
    let before = net.mean_loss(&vx, &vt);
    let mut opt = Opt::new(0.1);
    let history = fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(10, 8).validation(&vx, &vt)).unwrap();
    assert_eq!(history.stop_reason, StopReason::Completed);
    assert_eq!(history.epochs.len(), 10);
    let epochs: Vec<usize> = history.epochs.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, (1..=10).collect::<Vec<_>>());
    // 90 samples in batches of 8: 12 steps per epoch.
    assert_eq!(history.last().unwrap().steps, 120);
    let last = history.last().unwrap();
    assert!(last.validation_loss.unwrap() < f64::from(before) * 0.5);
    assert!(last.validation_accuracy.unwrap() > 0.8);
    assert!(history.train_losses()[9] < history.train_losses()[0]);
    assert_eq!(history.validation_losses().len(), 10);
    assert_eq!(last.learning_rate, 0.1);
    assert!(last.elapsed >= last.epoch_time);
    // The reported validation loss is the network's own mean loss, exactly.
    assert_eq!(last.validation_loss, Some(f64::from(net.mean_loss(&vx, &vt))));
    assert!(!history.restored_best);
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let (xs, ts) = blobs(60, 1);
    let run = |seed: u64, shuffle: bool| {
        let mut net = net();
        let mut opt = Adam::<[f32; PARAMS]>::new(0.05);
        let options = FitOptions::new(3, 7).seed(seed).shuffle(shuffle);
        let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
        (net.params, history.train_losses())
    };
    let a = run(11, true);
    assert_eq!(a, run(11, true), "same seed, different result");
    assert_ne!(a.0, run(12, true).0, "the seed changes nothing");
    assert_ne!(a.0, run(11, false).0, "shuffling changes nothing");
    // Without shuffling the seed is unused.
    assert_eq!(run(11, false), run(12, false));
}

#[test]
fn early_stopping_stops_and_restores_the_best_parameters() {
    // Validation labels shifted by one class: learning the training labels makes the
    // validation loss worse after at most a few epochs.
    let (xs, ts) = blobs(90, 1);
    let (vx, vt) = blobs(30, 2);
    let vt = shifted(&vt);
    let mut net = net();
    let mut opt = Opt::new(0.2);
    let options = FitOptions::new(100, 10).validation(&vx, &vt).early_stopping(EarlyStopping::new(3));
    let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();

    assert_eq!(history.stop_reason, StopReason::EarlyStopping);
    let best = history.best_epoch.unwrap();
    assert_eq!(history.epochs.len(), best + 3, "stops after `patience` epochs without improvement");
    assert!(history.epochs.len() < 100);
    let best_loss = history.best().unwrap().validation_loss.unwrap();
    for m in &history.epochs {
        assert!(m.validation_loss.unwrap() >= best_loss);
    }
    assert!(history.restored_best);
    assert_eq!(f64::from(net.mean_loss(&vx, &vt)), best_loss, "best parameters not restored");

    // Without restoring, the parameters are those of the last epoch.
    let mut net = Softmax::seeded(3);
    let mut opt = Opt::new(0.2);
    let options =
        FitOptions::new(100, 10).validation(&vx, &vt).early_stopping(EarlyStopping::new(3).restore_best(false));
    let again = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
    assert_eq!(again.epochs, history.epochs.iter().map(|m| again_time(m, &again)).collect::<Vec<_>>());
    assert!(!again.restored_best);
    let last_loss = again.last().unwrap().validation_loss.unwrap();
    assert_eq!(f64::from(net.mean_loss(&vx, &vt)), last_loss);
    assert!(last_loss > best_loss);
}

/// `m` with the timings of the same epoch in `other`, to compare runs up to timing.
fn again_time(
    m: &stackprop_runtime::EpochMetrics,
    other: &stackprop_runtime::History,
) -> stackprop_runtime::EpochMetrics {
    let mut m = *m;
    let o = &other.epochs[m.epoch - 1];
    m.epoch_time = o.epoch_time;
    m.elapsed = o.elapsed;
    m
}

#[test]
fn min_delta_makes_small_improvements_not_count() {
    let (xs, ts) = blobs(90, 1);
    let (vx, vt) = blobs(30, 2);
    let run = |min_delta: f64| {
        let mut net = net();
        let mut opt = Opt::new(0.05);
        let options =
            FitOptions::new(50, 10).validation(&vx, &vt).early_stopping(EarlyStopping::new(2).min_delta(min_delta));
        fit(&mut net, &mut opt, &xs, &ts, options).unwrap()
    };
    // The validation loss keeps falling, by less and less: an exacting min_delta stops
    // training where a zero one does not.
    let patient = run(0.0);
    let strict = run(0.05);
    assert_eq!(patient.stop_reason, StopReason::Completed);
    assert_eq!(strict.stop_reason, StopReason::EarlyStopping);
    assert!(strict.epochs.len() < patient.epochs.len());
}

#[test]
fn the_callback_sees_each_epoch_and_can_stop_training() {
    let (xs, ts) = blobs(30, 1);
    let seen = Cell::new(0);
    let mut net = net();
    let mut opt = Opt::new(0.1);
    let options = FitOptions::new(50, 10).on_epoch(|m| {
        seen.set(seen.get() + 1);
        assert_eq!(m.epoch, seen.get());
        if m.epoch == 4 { Control::Stop } else { Control::Continue }
    });
    let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
    assert_eq!(history.stop_reason, StopReason::Callback);
    assert_eq!(history.epochs.len(), 4);
    assert_eq!(seen.get(), 4);
    assert_eq!(history.last().unwrap().steps, 12);
}

#[test]
fn clipping_bounds_the_update() {
    let (xs, ts) = blobs(30, 1);
    // One epoch of one full batch with plain SGD: the update is exactly −lr·g.
    let step = |clip: Option<f64>| {
        let mut net = net();
        let before = net.params;
        let mut opt = Opt::new(1.0);
        let mut options = FitOptions::new(1, 30).shuffle(false);
        if let Some(c) = clip {
            options = options.clip_grad_norm(c);
        }
        let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
        let delta: Vec<f32> = net.params.iter().zip(before).map(|(a, b)| a - b).collect();
        (grad_norm(&delta), history.last().unwrap().grad_norm)
    };
    let (free, no_norm) = step(None);
    assert_eq!(no_norm, None);
    assert!(free > 0.5, "the unclipped step is small: {free}");
    let (clipped, norm) = step(Some(0.1));
    assert!((clipped - 0.1).abs() < 1e-4, "clipped step has norm {clipped}, expected 0.1");
    // The reported norm is the one before clipping: the unclipped step's.
    assert!((norm.unwrap() - free).abs() < 1e-4 * free);
    // A bound above the norm leaves the step alone.
    assert_eq!(step(Some(100.0)).0, free);
}

/// The base rate for step 0, then nothing: only the first step may move the parameters.
struct FirstStepOnly;

impl Schedule for FirstStepOnly {
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        if step == 0 { base_lr } else { 0.0 }
    }
}

#[test]
fn a_schedule_sets_the_learning_rate_per_step() {
    let (xs, ts) = blobs(30, 1);
    let options = || FitOptions::new(3, 10).shuffle(false);
    // One step at the base rate, by hand.
    let mut by_hand = net();
    let mut grad = [0.0; PARAMS];
    by_hand.train_batch(&xs[..10], &ts[..10], &mut grad, &mut Opt::new(0.5));

    let mut net = net();
    let mut opt = Opt::new(0.5);
    let history = fit(&mut net, &mut opt, &xs, &ts, options().schedule(FirstStepOnly, ScheduleUnit::Step)).unwrap();
    assert_eq!(net.params, by_hand.params, "steps after the first moved the parameters");
    assert_eq!(history.last().unwrap().learning_rate, 0.0);
    assert_eq!(opt.learning_rate(), 0.0);

    // Without the schedule, nine steps move them further.
    let mut free = Softmax::seeded(3);
    fit(&mut free, &mut Opt::new(0.5), &xs, &ts, options()).unwrap();
    assert_ne!(free.params, by_hand.params);
}

#[test]
fn a_schedule_per_epoch_uses_the_epoch_number() {
    let (xs, ts) = blobs(30, 1);
    let mut net = net();
    let mut opt = Opt::new(0.4);
    let options = FitOptions::new(5, 10).schedule(StepLr::new(2, 0.5), ScheduleUnit::Epoch);
    let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
    let rates: Vec<f64> = history.epochs.iter().map(|m| m.learning_rate).collect();
    assert_eq!(rates, [0.4, 0.4, 0.2, 0.2, 0.1]);

    // The same schedule per step: three steps per epoch, so it decays within epochs.
    let mut net = Softmax::seeded(3);
    let mut opt = Opt::new(0.4);
    let options = FitOptions::new(2, 10).schedule(StepLr::new(2, 0.5), ScheduleUnit::Step);
    let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
    let rates: Vec<f64> = history.epochs.iter().map(|m| m.learning_rate).collect();
    // Steps 0..=2 then 3..=5: the last steps of the epochs are 2 and 5.
    assert_eq!(rates, [0.2, 0.1]);
}

#[test]
fn clipping_skips_a_non_finite_gradient() {
    // A weight so large that one sample's logits overflow: its gradient is NaN.
    let (xs, ts) = blobs(30, 1);
    let mut net = Softmax::seeded(3);
    net.params[0] = f32::MAX;
    let mut opt = Opt::new(0.1);
    let options = FitOptions::new(1, 10).shuffle(false).clip_grad_norm(10.0);
    let before = net.clone();
    let history = fit(&mut net, &mut opt, &xs, &ts, options).unwrap();
    // Every batch of 10 holds a sample whose first feature is past ±1: all three skipped.
    let m = history.last().unwrap();
    assert_eq!((m.skipped_steps, m.steps), (3, 0));
    assert_eq!(net, before);
    // The epoch's loss is NaN, which stops training.
    assert_eq!(history.stop_reason, StopReason::NonFinite);

    // Without clipping the same run is an error naming where it happened.
    let err = fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(1, 10).shuffle(false)).unwrap_err();
    assert_eq!(err, FitError::NonFinite { what: "loss", epoch: 1, batch: 1, step: 0 });
    assert_eq!(net, before);
}

#[test]
fn validation_accuracy_needs_class_targets() {
    let (xs, ts) = blobs(30, 1);
    let one_hot: Vec<[f32; 3]> = ts
        .iter()
        .map(|c| {
            let mut t = [0.0; 3];
            t[c.0] = 1.0;
            t
        })
        .collect();
    let soft: Vec<[f32; 3]> = one_hot.iter().map(|t| t.map(|v| 0.9 * v + 0.1 / 3.0)).collect();
    let accuracy = |targets: &[[f32; 3]]| {
        let mut net = net();
        let options = FitOptions::new(2, 10).validation(&xs, targets);
        let history = fit(&mut net, &mut Opt::new(0.1), &xs, &one_hot, options).unwrap();
        history.last().unwrap().validation_accuracy
    };
    let mut net = net();
    let options = FitOptions::new(2, 10).validation(&xs, &ts);
    let with_classes = fit(&mut net, &mut Opt::new(0.1), &xs, &ts, options).unwrap();
    // One-hot arrays count as classes, and score as the `Class` targets do.
    assert_eq!(accuracy(&one_hot), with_classes.last().unwrap().validation_accuracy);
    assert!(accuracy(&one_hot).is_some());
    assert_eq!(accuracy(&soft), None);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let (xs, ts) = blobs(30, 1);
    let mut net = net();
    let mut opt = Opt::new(0.1);
    let mut go = |xs: &[[f32; 4]], ts: &[Class], options| fit(&mut net, &mut opt, xs, ts, options);
    assert_eq!(go(&xs, &ts[..29], FitOptions::new(1, 10)), Err(FitError::LengthMismatch { inputs: 30, targets: 29 }));
    assert_eq!(go(&[], &[], FitOptions::new(1, 10)), Err(FitError::EmptyTrainingSet));
    assert_eq!(go(&xs, &ts, FitOptions::new(1, 0)), Err(FitError::ZeroBatchSize));
    assert_eq!(
        go(&xs, &ts, FitOptions::new(1, 10).validation(&xs[..3], &ts[..2])),
        Err(FitError::ValidationLengthMismatch { inputs: 3, targets: 2 })
    );
    assert_eq!(go(&xs, &ts, FitOptions::new(1, 10).validation(&[], &[])), Err(FitError::EmptyValidationSet));
    assert_eq!(
        go(&xs, &ts, FitOptions::new(1, 10).early_stopping(EarlyStopping::new(2))),
        Err(FitError::EarlyStoppingWithoutValidation)
    );
    assert_eq!(FitError::ZeroBatchSize.to_string(), "batch size is 0, expected at least 1");
}

#[test]
fn zero_epochs_train_nothing() {
    let (xs, ts) = blobs(30, 1);
    let mut net = net();
    let history = fit(&mut net, &mut Opt::new(0.1), &xs, &ts, FitOptions::new(0, 10)).unwrap();
    assert!(history.epochs.is_empty());
    assert_eq!(history.stop_reason, StopReason::Completed);
    assert_eq!(net, Softmax::seeded(3));
}
