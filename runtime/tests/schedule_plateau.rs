//! `ReduceLrOnPlateau` against a transcription of torch's `ReduceLROnPlateau.step` and
//! against sequences worked out by hand.

use stackprop_runtime::optim::{Optimizer, RmsProp};
use stackprop_runtime::schedule::{PlateauMode, ReduceLrOnPlateau, ThresholdMode};

/// torch's `ReduceLROnPlateau`, transcribed field for field.
struct TorchPlateau {
    lr: f64,
    max_mode: bool,
    rel: bool,
    factor: f64,
    patience: usize,
    threshold: f64,
    cooldown: usize,
    min_lr: f64,
    eps: f64,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
}

impl TorchPlateau {
    fn is_better(&self, a: f64) -> bool {
        match (self.max_mode, self.rel) {
            (false, true) => a < self.best * (1.0 - self.threshold),
            (false, false) => a < self.best - self.threshold,
            (true, true) => a > self.best * (self.threshold + 1.0),
            (true, false) => a > self.best + self.threshold,
        }
    }

    fn step(&mut self, current: f64) -> f64 {
        if self.is_better(current) {
            self.best = current;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
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
}

/// A noisy, mostly flat metric with some real improvements, NaNs and jumps.
fn metric(k: usize) -> f64 {
    let base = 1.0 + 0.3 * ((k / 17) as f64).recip().min(1.0);
    let wobble = 0.01 * (1.7 * k as f64).sin();
    if k % 23 == 11 { f64::NAN } else { base + wobble - 0.002 * (k % 5) as f64 }
}

#[test]
fn matches_torch_step_for_many_settings() {
    for max_mode in [false, true] {
        for rel in [true, false] {
            for (patience, cooldown, threshold, min_lr, eps) in
                [(10, 0, 1e-4, 0.0, 1e-8), (0, 0, 0.0, 0.0, 1e-8), (2, 3, 1e-3, 1e-3, 1e-8), (1, 1, 0.01, 0.0, 0.05)]
            {
                let mut ours = ReduceLrOnPlateau::new(1.0)
                    .mode(if max_mode { PlateauMode::Max } else { PlateauMode::Min })
                    .threshold_mode(if rel { ThresholdMode::Rel } else { ThresholdMode::Abs })
                    .factor(0.5)
                    .patience(patience)
                    .cooldown(cooldown)
                    .threshold(threshold)
                    .min_lr(min_lr)
                    .eps(eps);
                let mut torch = TorchPlateau {
                    lr: 1.0,
                    max_mode,
                    rel,
                    factor: 0.5,
                    patience,
                    threshold,
                    cooldown,
                    min_lr,
                    eps,
                    best: if max_mode { f64::NEG_INFINITY } else { f64::INFINITY },
                    num_bad_epochs: 0,
                    cooldown_counter: 0,
                };
                let mut reductions = 0;
                for k in 0..200 {
                    // In max mode, watch the negated metric so that it also improves.
                    let m = if max_mode { -metric(k) } else { metric(k) };
                    let before = ours.lr();
                    let got = ours.observe(m);
                    let want = torch.step(m);
                    assert_eq!(got, want, "max {max_mode}, rel {rel}, patience {patience}, step {k}");
                    reductions += usize::from(got < before);
                }
                assert!(reductions > 0, "no reduction with patience {patience}");
            }
        }
    }
}

#[test]
fn patience_by_hand() {
    // patience 2: the third bad observation in a row reduces the rate.
    let mut p = ReduceLrOnPlateau::new(0.1).factor(0.5).patience(2);
    let lrs: Vec<f64> = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.8].iter().map(|&m| p.observe(m)).collect();
    assert_eq!(lrs, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
    assert_eq!(p.best(), 0.8);
    assert_eq!(p.num_bad_epochs(), 0);
}

#[test]
fn zero_patience_torch_docs_example() {
    // "In the first epoch, a baseline is established ... In the second epoch, if the
    // performance is worse than the baseline ... the learning rate is reduced."
    let mut p = ReduceLrOnPlateau::new(1.0).patience(0);
    assert_eq!(p.observe(0.5), 1.0);
    assert_eq!(p.observe(0.6), 0.1);
    // From then on a worse value reduces again and a better one keeps the rate.
    assert_eq!(p.observe(0.4), 0.1);
    assert!((p.observe(0.7) - 0.01).abs() < 1e-15);
}

#[test]
fn threshold_makes_small_improvements_count_as_bad() {
    // Relative threshold 0.1: 0.95 is not below 1.0·0.9, so it is a bad observation.
    let mut p = ReduceLrOnPlateau::new(1.0).patience(0).threshold(0.1);
    p.observe(1.0);
    assert_eq!(p.observe(0.95), 0.1);
    assert_eq!(p.best(), 1.0);
    // Absolute threshold 0.1 in max mode: 1.05 is not above 1.0 + 0.1.
    let mut p = ReduceLrOnPlateau::new(1.0)
        .mode(PlateauMode::Max)
        .threshold_mode(ThresholdMode::Abs)
        .threshold(0.1)
        .patience(0);
    p.observe(1.0);
    assert_eq!(p.observe(1.05), 0.1);
    assert_eq!(p.observe(1.2), 0.1);
    assert_eq!(p.best(), 1.2);
}

#[test]
fn cooldown_min_lr_and_eps() {
    // cooldown 2: the two observations after a reduction cannot reduce again.
    let mut p = ReduceLrOnPlateau::new(1.0).patience(0).cooldown(2).min_lr(0.005);
    p.observe(1.0);
    assert_eq!(p.observe(2.0), 0.1);
    assert!(p.in_cooldown());
    assert_eq!(p.observe(2.0), 0.1);
    assert_eq!(p.observe(2.0), 0.1);
    assert!(!p.in_cooldown());
    assert_eq!(p.observe(2.0), 0.010_000_000_000_000_002);
    // min_lr stops the decay at 0.005.
    assert_eq!(p.observe(2.0), 0.010_000_000_000_000_002);
    assert_eq!(p.observe(2.0), 0.010_000_000_000_000_002);
    assert_eq!(p.observe(2.0), 0.005);
    // A reduction smaller than eps is skipped.
    let mut p = ReduceLrOnPlateau::new(1e-9).patience(0);
    p.observe(1.0);
    assert_eq!(p.observe(2.0), 1e-9);
}

#[test]
fn nan_metric_is_never_an_improvement() {
    let mut p = ReduceLrOnPlateau::new(1.0).patience(1);
    p.observe(1.0);
    p.observe(f64::NAN);
    assert_eq!(p.num_bad_epochs(), 1);
    assert_eq!(p.observe(f64::NAN), 0.1);
    assert_eq!(p.best(), 1.0);
}

#[test]
fn reset_and_apply() {
    let mut p = ReduceLrOnPlateau::new(0.01).patience(0);
    let mut opt = RmsProp::<[f32; 2]>::new(0.01);
    p.observe_and_apply(1.0, &mut opt);
    assert_eq!(p.observe_and_apply(3.0, &mut opt), 0.001);
    assert_eq!(opt.learning_rate(), 0.001);
    p.reset();
    assert_eq!(p.best(), f64::INFINITY);
    assert_eq!(p.lr(), 0.001);
    assert_eq!(p.observe(5.0), 0.001, "after a reset the next metric is a new baseline");
}

#[test]
#[should_panic(expected = "`factor` must be below 1")]
fn factor_of_one_panics() {
    let _ = ReduceLrOnPlateau::new(1.0).factor(1.0);
}
