//! Forward values, loss values and gradients of tiny dynamic networks against hand
//! computations; the parameter layout; seeded initialization; batch methods.

use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop_runtime::{Init, Optimizer, Sgd, SplitMix64};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

fn assert_all_close(found: &[f64], expected: &[f64]) {
    assert_eq!(found.len(), expected.len());
    for (i, (&f, &e)) in found.iter().zip(expected).enumerate() {
        assert!(close(f, e), "element {i}: found {f}, expected {e} (in {found:?})");
    }
}

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `1 → 3` with `W = [2, −1, 0.5]ᵀ`, `b = [0.5, 0, −1]`: at `x = 1`, `z = [2.5, −1, −0.5]`.
fn one_to_three(activation: Activation, loss: Loss) -> DynamicNet<f64> {
    let mut net = DynamicNet::new(1, &[LayerSpec::dense(3, activation)], loss).unwrap();
    net.set_params(&[2.0, -1.0, 0.5, 0.5, 0.0, -1.0]).unwrap();
    net
}

const Z: [f64; 3] = [2.5, -1.0, -0.5];

#[test]
fn weight_is_out_by_in_row_major_then_bias() {
    let mut net = DynamicNet::new(2, &[LayerSpec::dense(3, Activation::Identity)], Loss::Mse).unwrap();
    assert_eq!(net.param_count(), 9);
    assert_eq!(net.weight_range(0), 0..6);
    assert_eq!(net.bias_range(0), Some(6..9));
    net.set_params(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, -0.5, 1.0]).unwrap();
    // Row o holds the weights into output o: z_o = W[o][0]·x₀ + W[o][1]·x₁ + b_o.
    assert_eq!(net.forward(&[1.0, -1.0]), &[-0.5, -1.5, 0.0]);
    let mut out = [0.0; 3];
    net.forward_into(&[2.0, 0.0], &mut out);
    assert_eq!(out, [2.5, 5.5, 11.0]);
}

#[test]
fn layers_are_laid_out_one_after_another() {
    let layers = [
        LayerSpec::dense(3, Activation::Tanh),
        LayerSpec::dense(2, Activation::Sigmoid).without_bias(),
        LayerSpec::dense(4, Activation::Identity),
    ];
    let net = DynamicNet::<f32>::new(5, &layers, Loss::Mse).unwrap();
    assert_eq!(net.weight_range(0), 0..15);
    assert_eq!(net.bias_range(0), Some(15..18));
    assert_eq!(net.weight_range(1), 18..24);
    assert_eq!(net.bias_range(1), None);
    assert_eq!(net.weight_range(2), 24..32);
    assert_eq!(net.bias_range(2), Some(32..36));
    assert_eq!(net.param_count(), 36);
    assert_eq!((net.input_len(), net.output_len()), (5, 4));
    assert_eq!(net.layers(), &layers);
    assert_eq!(net.loss_kind(), Loss::Mse);
}

#[test]
fn elementwise_activation_values() {
    let gelu_tanh =
        |z: f64| 0.5 * z * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z.powi(3))).tanh());
    let gelu = |z: f64| 0.5 * z * (1.0 + libm::erf(z / 2.0_f64.sqrt()));
    let cases: [(Activation, &dyn Fn(f64) -> f64); 11] = [
        (Activation::Identity, &|z| z),
        (Activation::Sigmoid, &logistic),
        (Activation::Tanh, &f64::tanh),
        (Activation::Relu, &|z| z.max(0.0)),
        (Activation::LeakyRelu(0.01), &|z| {
            if z > 0.0 { z } else { 0.01 * z }
        }),
        (Activation::Elu(1.5), &|z| {
            if z > 0.0 { z } else { 1.5 * (z.exp() - 1.0) }
        }),
        (Activation::Softplus, &|z| (1.0 + z.exp()).ln()),
        (Activation::Silu, &|z| z * logistic(z)),
        (Activation::GeluTanh, &gelu_tanh),
        (Activation::Gelu, &gelu),
        (Activation::Softsign, &|z| z / (1.0 + z.abs())),
    ];
    for (act, f) in cases {
        let mut net = DynamicNet::new(1, &[LayerSpec::dense(1, act)], Loss::Mse).unwrap();
        net.set_params(&[1.0, 0.0]).unwrap();
        for z in [-2.5, -0.3, 0.0, 0.4, 3.0] {
            let y = net.forward(&[z])[0];
            assert!((y - f(z)).abs() <= 1e-14, "{act} at {z}: {y} vs {}", f(z));
        }
    }
}

#[test]
fn softmax_values_sum_to_one() {
    let mut net = one_to_three(Activation::Softmax, Loss::Mse);
    let y = net.forward(&[1.0]).to_vec();
    let sum: f64 = Z.iter().map(|z| z.exp()).sum();
    assert_all_close(&y, &Z.map(|z| z.exp() / sum));
    assert!(close(y.iter().sum(), 1.0));
    assert_all_close(net.pre_activations(0), &Z);
    assert_all_close(net.activations(0), &y);
}

#[test]
fn plain_losses_by_hand() {
    // y = z = [2.5, −1, −0.5], t = [1, 0, 0.5], so y − t = [1.5, −1, −1].
    let (x, t) = ([1.0], [1.0, 0.0, 0.5]);
    let cases = [
        (Loss::Mse, 4.25 / 3.0),
        (Loss::HalfSse, 2.125),
        (Loss::Mae, 3.5 / 3.0),
        // δ = 1.2: |1.5| ≥ δ gives 1.2·(1.5 − 0.6) = 1.08; |−1| < δ gives ½ twice.
        (Loss::Huber(1.2), 2.08 / 3.0),
    ];
    for (loss, expected) in cases {
        let mut net = one_to_three(Activation::Identity, loss);
        let found = net.loss(&x, &t);
        assert!(close(found, expected), "{loss}: {found} vs {expected}");
    }
}

#[test]
fn plain_loss_gradients_by_hand() {
    // With x = 1 the weight gradient equals the bias gradient, ∂L/∂y for identity.
    let (x, t) = ([1.0], [1.0, 0.0, 0.5]);
    let cases: [(Loss, [f64; 3]); 4] = [
        (Loss::Mse, [1.0, -2.0 / 3.0, -2.0 / 3.0]),
        (Loss::HalfSse, [1.5, -1.0, -1.0]),
        (Loss::Mae, [1.0 / 3.0, -1.0 / 3.0, -1.0 / 3.0]),
        (Loss::Huber(1.2), [0.4, -1.0 / 3.0, -1.0 / 3.0]),
    ];
    for (loss, expected) in cases {
        let mut net = one_to_three(Activation::Identity, loss);
        let mut grad = [0.0; 6];
        let mut dx = [0.0];
        net.accumulate_gradient(&x, &t, 1.0, &mut grad, Some(&mut dx));
        assert_all_close(&grad[..3], &expected);
        assert_all_close(&grad[3..], &expected);
        // ∂L/∂x = Σ_o W_o·δ_o.
        let dx_expected = 2.0 * expected[0] - expected[1] + 0.5 * expected[2];
        assert!(close(dx[0], dx_expected), "{loss}: {} vs {dx_expected}", dx[0]);
    }
}

#[test]
fn mae_has_zero_gradient_where_the_error_is_zero() {
    let mut net = one_to_three(Activation::Identity, Loss::Mae);
    let mut grad = [0.0; 6];
    net.accumulate_gradient(&[1.0], &[2.5, 0.0, -0.5], 1.0, &mut grad, None);
    assert_all_close(&grad[3..], &[0.0, -1.0 / 3.0, 0.0]);
}

#[test]
fn relu_derivative_is_zero_at_zero() {
    let mut net = DynamicNet::new(1, &[LayerSpec::dense(1, Activation::Relu)], Loss::HalfSse).unwrap();
    net.set_params(&[1.0, 0.0]).unwrap();
    let mut grad = [0.0; 2];
    let mut dx = [0.0];
    net.accumulate_gradient(&[0.0], &[1.0], 1.0, &mut grad, Some(&mut dx));
    assert_eq!((grad, dx), ([0.0; 2], [0.0]));
}

#[test]
fn cross_entropy_by_hand() {
    let mut net = one_to_three(Activation::Softmax, Loss::CrossEntropy);
    let sum: f64 = Z.iter().map(|z| z.exp()).sum();
    let y = Z.map(|z| z.exp() / sum);
    let t = [0.0, 0.0, 1.0];
    assert!(close(net.loss(&[1.0], &t), -y[2].ln()));
    // Fused delta: y − t on the logits.
    let mut grad = [0.0; 6];
    net.accumulate_gradient(&[1.0], &t, 1.0, &mut grad, None);
    assert_all_close(&grad[3..], &[y[0], y[1], y[2] - 1.0]);
    // Soft targets: −Σ t·ln y.
    let t = [0.2, 0.3, 0.5];
    let expected: f64 = -t.iter().zip(&y).map(|(t, y)| t * y.ln()).sum::<f64>();
    assert!(close(net.loss(&[1.0], &t), expected));
}

#[test]
fn binary_cross_entropy_by_hand() {
    let mut net = one_to_three(Activation::Sigmoid, Loss::BinaryCrossEntropy);
    let y = Z.map(logistic);
    let t = [1.0, 0.0, 0.5];
    let expected: f64 = -t.iter().zip(&y).map(|(t, y)| t * y.ln() + (1.0 - t) * (1.0 - y).ln()).sum::<f64>() / 3.0;
    assert!(close(net.loss(&[1.0], &t), expected));
    let mut grad = [0.0; 6];
    net.accumulate_gradient(&[1.0], &t, 1.0, &mut grad, None);
    assert_all_close(&grad[3..], &[(y[0] - 1.0) / 3.0, y[1] / 3.0, (y[2] - 0.5) / 3.0]);
}

#[test]
fn two_layer_gradient_by_hand() {
    // 1 → 1 sigmoid → 1 identity, half_sse: the classic chain rule written out.
    let layers = [LayerSpec::dense(1, Activation::Sigmoid), LayerSpec::dense(1, Activation::Identity)];
    let mut net = DynamicNet::new(1, &layers, Loss::HalfSse).unwrap();
    let (w1, b1, w2, b2) = (0.8, -0.2, 1.5, 0.1);
    net.set_params(&[w1, b1, w2, b2]).unwrap();
    let (x, t) = (0.6, 0.3);
    let h = logistic(w1 * x + b1);
    let y = w2 * h + b2;
    let dy = y - t;
    let dh = dy * w2 * h * (1.0 - h);
    let mut grad = [0.0; 4];
    let mut dx = [0.0];
    let loss = net.accumulate_gradient(&[x], &[t], 1.0, &mut grad, Some(&mut dx));
    assert!(close(loss, 0.5 * dy * dy));
    assert_all_close(&grad, &[dh * x, dh, dy * h, dy]);
    assert!(close(dx[0], dh * w1));
}

#[test]
fn init_draws_layer_by_layer_like_generated_networks() {
    let layers = [
        LayerSpec::dense(4, Activation::Relu),
        LayerSpec::dense(3, Activation::Tanh).without_bias(),
        LayerSpec::dense(2, Activation::Softmax),
    ];
    let mut net = DynamicNet::<f32>::new(3, &layers, Loss::CrossEntropy).unwrap();
    net.params_mut().fill(7.0);
    net.init_seeded(42);

    let mut expected = vec![0.0_f32; net.param_count()];
    let mut rng = SplitMix64::new(42);
    Init::HeUniform.fill(&mut expected[0..12], 3, 4, &mut rng);
    Init::GlorotUniform.fill(&mut expected[16..28], 4, 3, &mut rng);
    Init::GlorotUniform.fill(&mut expected[28..34], 3, 2, &mut rng);
    assert_eq!(net.params(), &expected[..], "biases 0, weights in draw order");

    let seeded = DynamicNet::<f32>::seeded(3, &layers, Loss::CrossEntropy, 42).unwrap();
    assert_eq!(seeded.params(), net.params());
    let other = DynamicNet::<f32>::seeded(3, &layers, Loss::CrossEntropy, 43).unwrap();
    assert_ne!(other.params(), net.params());
}

#[test]
fn init_rule_per_activation() {
    use Activation::*;
    for a in [Relu, LeakyRelu(0.2), Elu(1.0), Silu, Gelu, GeluTanh, Softplus] {
        assert_eq!(a.init(), Init::HeUniform, "{a}");
    }
    for a in [Identity, Sigmoid, Tanh, Softsign, Softmax] {
        assert_eq!(a.init(), Init::GlorotUniform, "{a}");
    }
    assert!(!Softmax.is_elementwise() && Relu.is_elementwise());
}

#[test]
fn batch_methods_take_the_mean_over_samples() {
    let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(2, Activation::Identity)];
    let mut net = DynamicNet::<f64>::seeded(3, &layers, Loss::Mse, 8).unwrap();
    let xs = [0.1, 0.2, 0.3, -0.5, 0.4, 0.0, 1.0, -1.0, 0.5];
    let ts = [1.0, 0.0, 0.0, 1.0, -1.0, 0.5];
    let n = net.param_count();

    let mut expected_grad = vec![0.0; n];
    let mut expected_loss = 0.0;
    for (x, t) in xs.chunks(3).zip(ts.chunks(2)) {
        let mut g = vec![0.0; n];
        expected_loss += net.accumulate_gradient(x, t, 1.0, &mut g, None) / 3.0;
        for (e, g) in expected_grad.iter_mut().zip(&g) {
            *e += g / 3.0;
        }
    }
    assert!(close(net.mean_loss(&xs, &ts), expected_loss));
    let mut grad = vec![9.0; n];
    let loss = net.batch_gradient(&xs, &ts, &mut grad);
    assert!(close(loss, expected_loss));
    assert_all_close(&grad, &expected_grad);

    // train_batch: θ ← θ − lr·mean gradient, loss before the step.
    let before = net.params().to_vec();
    let mut opt = Sgd::<Vec<f64>>::new(0.1);
    assert!(close(net.train_batch(&xs, &ts, &mut opt), expected_loss));
    let stepped: Vec<f64> = before.iter().zip(&grad).map(|(p, g)| p - 0.1 * g).collect();
    assert_all_close(net.params(), &stepped);
}

#[test]
fn empty_batches_change_nothing() {
    let layers = [LayerSpec::dense(2, Activation::Identity)];
    let mut net = DynamicNet::<f64>::seeded(2, &layers, Loss::Mse, 1).unwrap();
    let before = net.params().to_vec();
    let mut opt = Sgd::<Vec<f64>>::new(0.1);
    assert_eq!(net.train_batch(&[], &[], &mut opt), 0.0);
    assert_eq!(net.mean_loss(&[], &[]), 0.0);
    let mut grad = vec![1.0; net.param_count()];
    assert_eq!(net.batch_gradient(&[], &[], &mut grad), 0.0);
    assert!(grad.iter().all(|&g| g == 0.0));
    assert_eq!(net.params(), &before[..]);
}

#[test]
fn train_step_is_one_sgd_step_with_any_optimizer_object() {
    let layers = [LayerSpec::dense(3, Activation::Sigmoid), LayerSpec::dense(1, Activation::Sigmoid)];
    let mut net = DynamicNet::<f64>::seeded(2, &layers, Loss::HalfSse, 2).unwrap();
    let mut grad = vec![0.0; net.param_count()];
    let loss = net.accumulate_gradient(&[1.0, 0.0], &[1.0], 1.0, &mut grad, None);
    let before = net.params().to_vec();
    // Through a trait object, as a fit loop that picks its optimizer at run time would.
    let mut opt: Box<dyn Optimizer<[f64]>> = Box::new(Sgd::<Vec<f64>>::new(0.5));
    assert_eq!(net.train_step(&[1.0, 0.0], &[1.0], opt.as_mut()), loss);
    let stepped: Vec<f64> = before.iter().zip(&grad).map(|(p, g)| p - 0.5 * g).collect();
    assert_all_close(net.params(), &stepped);
}

#[test]
fn f32_agrees_with_f64() {
    let layers = [
        LayerSpec::dense(6, Activation::Gelu),
        LayerSpec::dense(5, Activation::Elu(1.0)),
        LayerSpec::dense(3, Activation::Softmax),
    ];
    let mut wide = DynamicNet::<f64>::seeded(4, &layers, Loss::CrossEntropy, 17).unwrap();
    let mut narrow = DynamicNet::<f32>::new(4, &layers, Loss::CrossEntropy).unwrap();
    let params: Vec<f32> = wide.params().iter().map(|&p| p as f32).collect();
    narrow.set_params(&params).unwrap();
    let x = [0.3, -1.2, 0.8, 0.05];
    let y64 = wide.forward(&x).to_vec();
    let y32 = narrow.forward(&x.map(|v| v as f32)).to_vec();
    for (a, b) in y64.iter().zip(&y32) {
        assert!((a - f64::from(*b)).abs() < 1e-6, "{a} vs {b}");
    }
}
