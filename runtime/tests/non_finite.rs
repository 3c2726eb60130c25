//! NaN and infinity in data or in training: rejected before they reach the parameters,
//! and a run that diverges ends with an error and the last finite state.

#![cfg(feature = "std")]

mod train_support;

use stackprop_runtime::data::{DataError, Dataset};
use stackprop_runtime::optim::Optimizer;
use stackprop_runtime::optim::{Adam, Sgd};
use stackprop_runtime::schedule::Schedule;
use stackprop_runtime::train::ScheduleUnit;
use stackprop_runtime::train::{FitError, FitOptions, fit};
use stackprop_runtime::{Network, NonFiniteStep};
use train_support::{PARAMS, Softmax, blobs};

#[test]
fn fit_rejects_a_non_finite_input_naming_sample_and_feature() {
    let (mut xs, ts) = blobs(30, 1);
    xs[4][2] = f32::NAN;
    let mut net = Softmax::seeded(3);
    let before = net.clone();
    let mut opt = Sgd::<[f32; PARAMS]>::new(0.1);
    let err = fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(3, 10)).unwrap_err();
    assert_eq!(err, FitError::NonFiniteInput { set: "training", sample: 4, feature: 2 });
    assert!(err.to_string().contains("training sample 4 has a non-finite input at feature 2"), "{err}");
    assert_eq!(net, before);

    // An infinity in the validation set, too.
    let (xs, ts) = blobs(30, 1);
    let (mut vx, vt) = blobs(9, 2);
    vx[8][0] = f32::INFINITY;
    let err = fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(3, 10).validation(&vx, &vt)).unwrap_err();
    assert_eq!(err, FitError::NonFiniteInput { set: "validation", sample: 8, feature: 0 });
    assert_eq!(net, before);
}

#[test]
fn fit_rejects_a_non_finite_target() {
    let (xs, classes) = blobs(12, 1);
    let mut ts: Vec<[f32; 3]> = classes
        .iter()
        .map(|c| {
            let mut t = [0.0; 3];
            t[c.0] = 1.0;
            t
        })
        .collect();
    ts[7][1] = f32::NAN;
    let mut net = Softmax::seeded(3);
    let before = net.clone();
    let mut opt = Sgd::<[f32; PARAMS]>::new(0.1);
    let err = fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(3, 4)).unwrap_err();
    assert_eq!(err, FitError::NonFiniteTarget { set: "training", sample: 7, output: 1 });
    assert_eq!(net, before);
}

/// A learning rate that makes the parameters overflow: the error names the epoch and
/// the batch, and the network and optimizer are those of a run stopped just before.
#[test]
fn fit_stops_a_diverging_run_with_the_last_finite_state() {
    let (xs, ts) = blobs(30, 1);
    let options = || FitOptions::new(50, 30).shuffle(false);
    let mut net = Softmax::seeded(3);
    let mut opt = Adam::<[f32; PARAMS]>::new(1e38);
    let err = fit(&mut net, &mut opt, &xs, &ts, options()).unwrap_err();
    let FitError::NonFinite { what, epoch, batch, step } = err else { panic!("expected NonFinite, got {err:?}") };
    // One batch per epoch: the failing step is the epoch's only one.
    assert_eq!((batch, step), (1, epoch - 1));
    assert!(err.to_string().contains(&format!("in epoch {epoch}, batch 1")), "{err}");
    assert!(["loss", "gradient", "parameters"].contains(&what));
    assert!(net.params.iter().all(|p| p.is_finite()));

    // The same run stopped after the last good epoch: the same parameters and state.
    let mut replay = Softmax::seeded(3);
    let mut replay_opt = Adam::<[f32; PARAMS]>::new(1e38);
    if epoch > 1 {
        fit(&mut replay, &mut replay_opt, &xs, &ts, FitOptions::new(epoch - 1, 30).shuffle(false)).unwrap();
    }
    assert_eq!(net, replay);
    assert_eq!(format!("{opt:?}"), format!("{replay_opt:?}"));
}

/// A rate of 0.05 for the first three epochs, then one so large that a step overflows.
struct Jump;

impl Schedule for Jump {
    fn lr(&self, step: usize, base_lr: f64) -> f64 {
        if step < 3 { base_lr } else { 3e38 }
    }
}

/// Loss and gradient finite, the update not: the parameters and the momentum are put
/// back to those after the last good epoch.
#[test]
fn fit_restores_parameters_and_optimizer_state_when_an_update_overflows() {
    let (xs, ts) = blobs(30, 1);
    let options = |epochs| FitOptions::new(epochs, 30).shuffle(false).schedule(Jump, ScheduleUnit::Epoch);
    let mut net = Softmax::seeded(3);
    let mut opt = Sgd::<[f32; PARAMS]>::new(0.05).momentum(0.9);
    let err = fit(&mut net, &mut opt, &xs, &ts, options(10)).unwrap_err();
    assert_eq!(err, FitError::NonFinite { what: "parameters", epoch: 4, batch: 1, step: 3 });

    let mut replay = Softmax::seeded(3);
    let mut replay_opt = Sgd::<[f32; PARAMS]>::new(0.05).momentum(0.9);
    fit(&mut replay, &mut replay_opt, &xs, &ts, options(3)).unwrap();
    assert_ne!(replay, Softmax::seeded(3));
    assert_eq!(net, replay);
    // The optimizer as after epoch 3 (momentum buffer included); only the learning rate
    // was already set for epoch 4.
    replay_opt.set_learning_rate(3e38);
    assert_eq!(format!("{opt:?}"), format!("{replay_opt:?}"));
}

#[test]
fn try_train_step_leaves_the_network_untouched_on_non_finite_steps() {
    let (xs, ts) = blobs(3, 1);
    let mut net = Softmax::seeded(3);
    let before = net.clone();
    let mut opt = Sgd::<[f32; PARAMS]>::new(0.1);

    let mut bad = xs[0];
    bad[3] = f32::NAN;
    assert_eq!(net.try_train_step(&bad, &ts[0], &mut opt), Err(NonFiniteStep::Input { feature: 3 }));
    assert_eq!(net, before);

    // A step that would overflow the parameters is undone, optimizer included.
    let mut huge = Adam::<[f32; PARAMS]>::new(3e38);
    let mut grad = [0.0; PARAMS];
    let mut backup = [0.0; PARAMS];
    let mut last = Ok(0.0);
    let mut good_state = format!("{huge:?}");
    let mut good_net = net.clone();
    for _ in 0..10 {
        last = net.try_train_step_with(&xs[0], &ts[0], &mut grad, &mut backup, &mut huge);
        if last.is_err() {
            break;
        }
        good_state = format!("{huge:?}");
        good_net = net.clone();
    }
    assert!(
        matches!(last, Err(NonFiniteStep::Parameters { .. } | NonFiniteStep::Loss | NonFiniteStep::Gradient { .. })),
        "{last:?}"
    );
    assert_eq!(net, good_net);
    assert_eq!(format!("{huge:?}"), good_state);

    // Loss and gradient finite, the update overflowing: undone.
    let mut net = Softmax::seeded(3);
    net.params[train_support::OUT * train_support::IN + 1] = 3e38;
    let before = net.clone();
    let mut sgd = Sgd::<[f32; PARAMS]>::new(3e38);
    let class0 = xs.iter().zip(&ts).find(|(_, t)| t.0 == 0).map(|(x, _)| *x).unwrap();
    let r = net.try_train_step(&class0, &stackprop_runtime::Class(0), &mut sgd);
    assert!(matches!(r, Err(NonFiniteStep::Parameters { .. })), "{r:?}");
    assert_eq!(net, before);

    // A finite step is the unchecked step.
    let mut a = Softmax::seeded(3);
    let mut b = Softmax::seeded(3);
    let (mut oa, mut ob) = (Adam::<[f32; PARAMS]>::new(0.01), Adam::<[f32; PARAMS]>::new(0.01));
    let la = a.try_train_step(&xs[1], &ts[1], &mut oa).unwrap();
    let lb = b.train_step(&xs[1], &ts[1], &mut ob);
    assert_eq!((la, a), (lb, b));
}

#[test]
fn rows_reject_a_non_finite_feature() {
    let mut features = vec![0.5_f32; 12];
    features[7] = f32::NEG_INFINITY;
    let data = Dataset::new(features, 4, vec![0, 1, 2]).unwrap();
    let err = data.rows::<4>().unwrap_err();
    assert!(matches!(err, DataError::NonFinite { sample: 1, feature: 3 }), "{err:?}");
    assert_eq!(err.to_string(), "sample 1 has a non-finite value at feature 3");
}
