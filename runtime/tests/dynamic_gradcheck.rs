//! Central-difference gradient checks of the dynamic network, in `f64`, for every
//! activation and every loss, on parameters and inputs.
//!
//! Tolerance: `|analytic − numeric| / max(|analytic|, |numeric|, 1e-3) ≤ 1e-6` with step
//! `h = 1e-6`. Inputs are placed away from kinks (relu-like units at `z = 0`, `|y − t| = 0`
//! for mae, `|y − t| = δ` for huber), where the central difference straddles two pieces.

use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};

const STEP: f64 = 1e-6;
const FLOOR: f64 = 1e-3;
const TOLERANCE: f64 = 1e-6;

const ELEMENTWISE: [Activation; 11] = [
    Activation::Identity,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Elu(0.7),
    Activation::Softplus,
    Activation::Silu,
    Activation::GeluTanh,
    Activation::Gelu,
    Activation::Softsign,
];

/// A deterministic input of length `n` with entries of both signs in `[-1.2, 1.2]`.
fn input(n: usize, phase: f64) -> Vec<f64> {
    (0..n).map(|i| 1.2 * ((i as f64 + 1.0) * 1.7 + phase).sin()).collect()
}

/// The largest relative error over all parameters and inputs, with where it occurred.
fn max_rel_error(net: &mut DynamicNet<f64>, x: &[f64], t: &[f64]) -> (f64, String) {
    let mut grad = vec![0.0; net.param_count()];
    let mut dx = vec![0.0; net.input_len()];
    net.accumulate_gradient(x, t, 1.0, &mut grad, Some(&mut dx));

    let mut worst = (0.0, String::from("nothing checked"));
    let mut record = |what: String, analytic: f64, numeric: f64| {
        let denom = analytic.abs().max(numeric.abs()).max(FLOOR);
        let err = (analytic - numeric).abs() / denom;
        assert!(err.is_finite(), "{what}: analytic {analytic}, numeric {numeric}");
        if err > worst.0 {
            worst = (err, format!("{what}: analytic {analytic}, numeric {numeric}"));
        }
    };
    for (i, &analytic) in grad.iter().enumerate() {
        let orig = net.params()[i];
        net.params_mut()[i] = orig + STEP;
        let up = net.loss(x, t);
        net.params_mut()[i] = orig - STEP;
        let down = net.loss(x, t);
        net.params_mut()[i] = orig;
        record(format!("param {i}"), analytic, (up - down) / (2.0 * STEP));
    }
    let mut xp = x.to_vec();
    for (i, (&xi, &analytic)) in x.iter().zip(&dx).enumerate() {
        xp[i] = xi + STEP;
        let up = net.loss(&xp, t);
        xp[i] = xi - STEP;
        let down = net.loss(&xp, t);
        xp[i] = xi;
        record(format!("input {i}"), analytic, (up - down) / (2.0 * STEP));
    }
    worst
}

/// Panics if a pre-activation of a layer whose activation has a kink at 0 lies within
/// `margin` of it.
fn assert_clear_of_kinks(net: &mut DynamicNet<f64>, x: &[f64], margin: f64) {
    net.forward(x);
    for (l, spec) in net.layers().iter().enumerate() {
        let kinked =
            matches!(spec.activation(), Some(Activation::Relu | Activation::LeakyRelu(_) | Activation::Elu(_)));
        if kinked {
            for &z in net.pre_activations(l) {
                assert!(z.abs() > margin, "layer {l}: pre-activation {z} too close to the kink");
            }
        }
    }
}

fn assert_gradients(net: &mut DynamicNet<f64>, x: &[f64], t: &[f64], label: &str) {
    assert_clear_of_kinks(net, x, 1e-4);
    let (err, at) = max_rel_error(net, x, t);
    assert!(err <= TOLERANCE, "{label}: relative error {err:e} at {at}");
}

#[test]
fn every_elementwise_activation_as_hidden_layer() {
    for (k, &act) in ELEMENTWISE.iter().enumerate() {
        let layers = [LayerSpec::dense(5, act), LayerSpec::dense(2, Activation::Identity)];
        let mut net = DynamicNet::seeded(3, &layers, Loss::Mse, 11 + k as u64).unwrap();
        let x = input(3, 0.3);
        assert_gradients(&mut net, &x, &[0.4, -0.7], &format!("hidden {act}"));
    }
}

#[test]
fn every_elementwise_activation_as_output_layer() {
    for (k, &act) in ELEMENTWISE.iter().enumerate() {
        let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(3, act)];
        let mut net = DynamicNet::seeded(3, &layers, Loss::HalfSse, 40 + k as u64).unwrap();
        let x = input(3, 1.1);
        assert_gradients(&mut net, &x, &[0.2, -0.5, 0.9], &format!("output {act}"));
    }
}

#[test]
fn softmax_as_hidden_and_output_layer_with_a_plain_loss() {
    let layers = [LayerSpec::dense(4, Activation::Softmax), LayerSpec::dense(3, Activation::Softmax)];
    for loss in [Loss::Mse, Loss::HalfSse] {
        let mut net = DynamicNet::seeded(3, &layers, loss, 5).unwrap();
        // Larger weights than the initializer draws make the softmax far from uniform.
        for p in net.params_mut() {
            *p *= 3.0;
        }
        assert_gradients(&mut net, &input(3, 0.7), &[0.1, 0.7, 0.2], &format!("softmax {loss}"));
    }
}

#[test]
fn layers_without_bias() {
    let layers = [
        LayerSpec::dense(4, Activation::Tanh).without_bias(),
        LayerSpec::dense(3, Activation::Sigmoid),
        LayerSpec::dense(2, Activation::Identity).without_bias(),
    ];
    let mut net = DynamicNet::seeded(3, &layers, Loss::Mse, 9).unwrap();
    assert_eq!(net.param_count(), 12 + 12 + 3 + 6);
    assert_gradients(&mut net, &input(3, 0.1), &[1.0, -1.0], "no bias");
}

#[test]
fn wide_layers_take_the_chunked_dot_path() {
    // Rows longer than the 16 lanes of `kernels::dot`, with a remainder.
    let layers = [
        LayerSpec::dense(19, Activation::Gelu),
        LayerSpec::dense(17, Activation::Tanh),
        LayerSpec::dense(3, Activation::Softmax),
    ];
    let mut net = DynamicNet::seeded(21, &layers, Loss::CrossEntropy, 3).unwrap();
    assert_gradients(&mut net, &input(21, 0.2), &[0.0, 1.0, 0.0], "wide");
}

#[test]
fn mse_and_half_sse() {
    let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(3, Activation::Identity)];
    for loss in [Loss::Mse, Loss::HalfSse] {
        let mut net = DynamicNet::seeded(2, &layers, loss, 21).unwrap();
        assert_gradients(&mut net, &[0.3, -0.8], &[1.0, 0.0, -2.0], &format!("{loss}"));
    }
}

#[test]
fn mae_away_from_zero_error() {
    let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(3, Activation::Identity)];
    let mut net = DynamicNet::seeded(2, &layers, Loss::Mae, 22).unwrap();
    let x = [0.3, -0.8];
    let y = net.forward(&x).to_vec();
    // Errors of both signs, all far from 0.
    let t: Vec<f64> = y.iter().zip([0.5, -0.3, 0.8]).map(|(y, o)| y + o).collect();
    assert_gradients(&mut net, &x, &t, "mae");
}

#[test]
fn huber_in_both_regimes() {
    let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(4, Activation::Identity)];
    let mut net = DynamicNet::seeded(2, &layers, Loss::Huber(0.5), 23).unwrap();
    let x = [0.3, -0.8];
    let y = net.forward(&x).to_vec();
    // Two errors inside δ = 0.5 (quadratic), two outside (linear), none near |d| = δ.
    let t: Vec<f64> = y.iter().zip([0.2, -0.3, 1.5, -2.0]).map(|(y, o)| y + o).collect();
    assert_gradients(&mut net, &x, &t, "huber");
}

#[test]
fn cross_entropy_with_one_hot_and_soft_targets() {
    let layers = [LayerSpec::dense(5, Activation::Relu), LayerSpec::dense(4, Activation::Softmax)];
    let mut net = DynamicNet::seeded(3, &layers, Loss::CrossEntropy, 31).unwrap();
    let x = input(3, 0.4);
    assert_gradients(&mut net, &x, &[0.0, 0.0, 1.0, 0.0], "cross-entropy one-hot");
    assert_gradients(&mut net, &x, &[0.1, 0.2, 0.3, 0.4], "cross-entropy soft");
    // Targets that do not sum to 1: the fused error y·Σt − t still is the gradient.
    assert_gradients(&mut net, &x, &[0.5, 0.0, 1.0, 0.25], "cross-entropy unnormalized");
}

#[test]
fn binary_cross_entropy() {
    let layers = [LayerSpec::dense(5, Activation::Silu), LayerSpec::dense(3, Activation::Sigmoid)];
    let mut net = DynamicNet::seeded(3, &layers, Loss::BinaryCrossEntropy, 32).unwrap();
    assert_gradients(&mut net, &input(3, 0.9), &[1.0, 0.0, 0.3], "binary cross-entropy");
}

#[test]
fn scale_multiplies_and_accumulates() {
    let layers = [LayerSpec::dense(3, Activation::Sigmoid), LayerSpec::dense(2, Activation::Softmax)];
    let mut net = DynamicNet::seeded(2, &layers, Loss::CrossEntropy, 4).unwrap();
    let (x, t) = ([0.5, -0.25], [1.0, 0.0]);
    let n = net.param_count();
    let (mut once, mut twice) = (vec![0.0_f64; n], vec![0.0_f64; n]);
    let (mut dx_once, mut dx_twice) = ([0.0_f64; 2], [0.0_f64; 2]);
    let l1 = net.accumulate_gradient(&x, &t, 1.0, &mut once, Some(&mut dx_once));
    let l2 = net.accumulate_gradient(&x, &t, 0.5, &mut twice, Some(&mut dx_twice));
    net.accumulate_gradient(&x, &t, 0.5, &mut twice, Some(&mut dx_twice));
    assert_eq!(l1, l2, "the returned loss is not scaled");
    for (a, b) in once.iter().chain(&dx_once).zip(twice.iter().chain(&dx_twice)) {
        assert!((a - b).abs() <= 1e-15 * a.abs().max(1.0), "{a} vs {b}");
    }
    let mut dx = [9.0; 2];
    net.input_gradient(&x, &t, &mut dx);
    assert_eq!(dx, dx_once);
}
