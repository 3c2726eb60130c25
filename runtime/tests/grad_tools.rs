//! Gradient clipping and accumulation: values by hand, and checks that fail if either
//! did nothing.

use stackprop_runtime::grad::{GradAccumulator, clip_grad_norm, clip_grad_value, grad_norm};
use stackprop_runtime::optim::{Adam, Optimizer, Sgd};

#[test]
fn clip_grad_norm_scales_down_to_max_norm() {
    // ‖(3, 4)‖ = 5; clipped to 1: (3, 4)·1/(5 + 1e-6).
    let mut g = [3.0_f64, 4.0];
    let norm = clip_grad_norm(&mut g, 1.0);
    assert_eq!(norm, 5.0, "returns the norm before clipping");
    let coef = 1.0 / (5.0 + 1e-6);
    assert_eq!(g, [3.0 * coef, 4.0 * coef]);
    assert!((grad_norm(&g) - 1.0).abs() < 1e-6 && grad_norm(&g) < 1.0);
}

#[test]
fn clip_grad_norm_leaves_small_gradients_alone() {
    let mut g = [0.3_f32, -0.4, 0.0];
    let norm = clip_grad_norm(&mut g, 1.0);
    assert!((norm - 0.5).abs() < 1e-7);
    assert_eq!(g, [0.3, -0.4, 0.0]);
}

#[test]
fn clip_grad_norm_at_exactly_max_norm_scales_by_the_epsilon_factor() {
    // torch's coefficient is max/(norm + 1e-6) < 1 even when norm == max.
    let mut g = [3.0_f64, 4.0];
    assert_eq!(clip_grad_norm(&mut g, 5.0), 5.0);
    let coef = 5.0 / (5.0 + 1e-6);
    assert_eq!(g, [3.0 * coef, 4.0 * coef]);
}

#[test]
fn clip_grad_norm_accumulates_f32_in_f64() {
    // Σg² = 4e60 overflows f32, not f64: the norm is 2e30 and the result finite.
    let mut g = [1e30_f32; 4];
    let norm = clip_grad_norm(&mut g, 1.0);
    assert!((norm / 2e30 - 1.0).abs() < 1e-6);
    for x in g {
        assert!((x - 0.5).abs() < 1e-6, "{x}");
    }
}

#[test]
fn clip_grad_norm_leaves_non_finite_gradients_for_the_caller() {
    let mut g = [f64::NAN, 1.0];
    assert!(clip_grad_norm(&mut g, 1.0).is_nan());
    assert!(g[0].is_nan() && g[1] == 1.0);
    let mut g = [f64::INFINITY, 1.0];
    assert_eq!(clip_grad_norm(&mut g, 1.0), f64::INFINITY);
    assert_eq!(g, [f64::INFINITY, 1.0]);
}

#[test]
fn clip_grad_value_clamps_each_element() {
    let mut g = [-3.0_f64, 0.5, 2.0, -1.0, f64::NAN];
    clip_grad_value(&mut g, 1.0);
    assert_eq!(&g[..4], &[-1.0, 0.5, 1.0, -1.0]);
    assert!(g[4].is_nan());
    let mut g = [0.25_f32, -0.75];
    clip_grad_value(&mut g, 0.5);
    assert_eq!(g, [0.25, -0.5]);
}

#[test]
#[should_panic(expected = "`max_norm` must be non-negative")]
fn negative_max_norm_panics() {
    clip_grad_norm(&mut [1.0_f64], -1.0);
}

#[test]
#[should_panic(expected = "`clip` must be non-negative")]
fn negative_clip_panics() {
    clip_grad_value(&mut [1.0_f64], -1.0);
}

#[test]
fn accumulator_yields_the_mean() {
    let mut acc = GradAccumulator::<[f64; 3]>::new();
    let mut mean = [9.0; 3];
    acc.mean_into(&mut mean);
    assert_eq!(mean, [0.0; 3], "no gradient yet: zeros");
    acc.add(&[1.0, 2.0, 3.0]);
    acc.add(&[3.0, 0.0, -3.0]);
    acc.add(&[2.0, 1.0, 6.0]);
    assert_eq!(acc.count(), 3);
    assert_eq!(acc.sum(), &[6.0, 3.0, 6.0]);
    acc.mean_into(&mut mean);
    assert_eq!(mean, [2.0, 1.0, 2.0]);
    acc.reset();
    assert_eq!(acc.count(), 0);
    acc.add(&[1.0, 1.0, 1.0]);
    assert_eq!(acc.sum(), &[1.0, 1.0, 1.0], "a new accumulation starts from zero");
}

#[test]
fn accumulator_step_uses_the_mean_and_starts_over() {
    let mut params = [1.0_f64, 1.0];
    let mut opt = Sgd::<[f64; 2]>::new(0.5);
    let mut acc = GradAccumulator::<[f64; 2]>::new();
    assert_eq!(acc.step(&mut params, &mut opt), 0);
    assert_eq!(params, [1.0, 1.0], "no gradient: no step");
    acc.add(&[1.0, -2.0]);
    acc.add(&[3.0, 0.0]);
    assert_eq!(acc.step(&mut params, &mut opt), 2);
    assert_eq!(params, [1.0 - 0.5 * 2.0, 1.0 + 0.5 * 1.0]);
    assert_eq!(acc.count(), 0);
    acc.add(&[1.0, 1.0]);
    assert_eq!(acc.step(&mut params, &mut opt), 1);
    assert_eq!(params, [-0.5, 1.0]);
}

#[test]
fn accumulating_equal_mini_batches_equals_one_big_batch() {
    // Per-sample gradients of ½(θ·x − y)², 8 samples in 4 mini-batches of 2.
    let samples: [([f64; 3], f64); 8] = [
        ([1.0, 0.5, -1.0], 0.3),
        ([0.2, -1.5, 0.7], -1.0),
        ([0.0, 1.0, 1.0], 0.5),
        ([-0.8, 0.1, 0.4], 0.0),
        ([1.2, -0.3, 0.0], 1.1),
        ([0.5, 0.5, 0.5], -0.2),
        ([-1.0, 2.0, 0.3], 0.8),
        ([0.1, 0.0, -0.9], -0.4),
    ];
    let sample_grad = |theta: &[f64; 3], (x, y): &([f64; 3], f64)| {
        let r: f64 = theta.iter().zip(x).map(|(t, x)| t * x).sum::<f64>() - y;
        x.map(|x| r * x)
    };
    let mean_grad = |theta: &[f64; 3], batch: &[([f64; 3], f64)]| {
        let mut g = [0.0; 3];
        for s in batch {
            for (g, d) in g.iter_mut().zip(sample_grad(theta, s)) {
                *g += d / batch.len() as f64;
            }
        }
        g
    };

    let mut big = [0.1, -0.2, 0.3];
    let mut small = big;
    let mut opt_big = Adam::<[f64; 3]>::new(0.05);
    let mut opt_small = Adam::<[f64; 3]>::new(0.05);
    let mut acc = GradAccumulator::<Vec<f64>>::new();
    let mut small_vec = small.to_vec();
    let mut opt_vec = Adam::<Vec<f64>>::new(0.05);
    let mut acc_arr = GradAccumulator::<[f64; 3]>::new();
    for _ in 0..5 {
        let g = mean_grad(&big, &samples);
        opt_big.step(&mut big, &g);
        for batch in samples.chunks(2) {
            acc_arr.add(&mean_grad(&small, batch));
            let theta: [f64; 3] = small_vec.clone().try_into().unwrap();
            acc.add(&mean_grad(&theta, batch));
        }
        assert_eq!(acc_arr.step(&mut small, &mut opt_small), 4);
        assert_eq!(acc.step(small_vec.as_mut_slice(), &mut opt_vec), 4);
    }
    for i in 0..3 {
        assert!((big[i] - small[i]).abs() < 1e-12, "{big:?} vs {small:?}");
        assert_eq!(small[i].to_bits(), small_vec[i].to_bits());
    }
    // And the accumulated steps moved the parameters (the accumulator did something).
    assert!((small[0] - 0.1).abs() > 0.01);
    assert_eq!(Optimizer::<[f64]>::learning_rate(&opt_vec), 0.05);
}

#[test]
#[should_panic(expected = "accumulated 2 gradients, but 3 were given")]
fn accumulator_rejects_a_different_length() {
    let mut acc = GradAccumulator::<Vec<f64>>::new();
    acc.add(&[1.0, 2.0]);
    acc.add(&[1.0, 2.0, 3.0]);
}
