//! Softmax + cross-entropy and sigmoid + binary cross-entropy on huge logits: finite
//! losses and gradients, never NaN.

use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};

/// `1 → n` with the given activation, weights `logits` and no bias: at `x = 1`, `z = logits`.
fn logit_net(logits: &[f64], activation: Activation, loss: Loss) -> DynamicNet<f64> {
    let layer = LayerSpec::dense(logits.len(), activation).without_bias();
    let mut net = DynamicNet::new(1, &[layer], loss).unwrap();
    net.set_params(logits).unwrap();
    net
}

fn gradient(net: &mut DynamicNet<f64>, t: &[f64]) -> (f64, Vec<f64>, f64) {
    let mut grad = vec![0.0; net.param_count()];
    let mut dx = [0.0];
    let loss = net.accumulate_gradient(&[1.0], t, 1.0, &mut grad, Some(&mut dx));
    (loss, grad, dx[0])
}

#[test]
fn softmax_cross_entropy_on_huge_logits() {
    let mut net = logit_net(&[1000.0, -1000.0], Activation::Softmax, Loss::CrossEntropy);
    assert_eq!(net.forward(&[1.0]), &[1.0, 0.0]);

    let (loss, grad, dx) = gradient(&mut net, &[1.0, 0.0]);
    assert_eq!(loss, 0.0);
    assert_eq!(grad, [0.0, 0.0]);
    assert_eq!(dx, 0.0);

    // The wrong class: −ln y₁ = 2000 exactly, where ln(softmax) would give ln 0 = −∞.
    let (loss, grad, dx) = gradient(&mut net, &[0.0, 1.0]);
    assert_eq!(loss, 2000.0);
    assert_eq!(grad, [1.0, -1.0]);
    assert_eq!(dx, 2000.0);
}

#[test]
fn softmax_of_equal_huge_logits_is_uniform() {
    for v in [1000.0, -1000.0, 1e300] {
        let mut net = logit_net(&[v, v, v], Activation::Softmax, Loss::CrossEntropy);
        for &y in net.forward(&[1.0]) {
            assert!((y - 1.0 / 3.0).abs() < 1e-15, "logits {v}: {y}");
        }
        let (loss, grad, _) = gradient(&mut net, &[0.0, 1.0, 0.0]);
        assert!((loss - 3.0_f64.ln()).abs() < 1e-12, "logits {v}: loss {loss}");
        assert!(grad.iter().all(|g| g.is_finite()));
    }
}

#[test]
fn softmax_with_a_plain_loss_on_huge_logits() {
    let mut net = logit_net(&[1000.0, -1000.0, 0.0], Activation::Softmax, Loss::Mse);
    let (loss, grad, dx) = gradient(&mut net, &[0.0, 1.0, 0.0]);
    assert!(loss.is_finite() && dx.is_finite() && grad.iter().all(|g| g.is_finite()));
}

#[test]
fn f32_softmax_cross_entropy_on_huge_logits() {
    let layer = LayerSpec::dense(2, Activation::Softmax).without_bias();
    let mut net = DynamicNet::<f32>::new(1, &[layer], Loss::CrossEntropy).unwrap();
    net.set_params(&[1000.0, -1000.0]).unwrap();
    assert_eq!(net.loss(&[1.0], &[0.0, 1.0]), 2000.0);
    let mut grad = [0.0_f32; 2];
    net.accumulate_gradient(&[1.0], &[0.0, 1.0], 1.0, &mut grad, None);
    assert_eq!(grad, [1.0, -1.0]);
}

#[test]
fn sigmoid_binary_cross_entropy_on_huge_logits() {
    let mut net = logit_net(&[1000.0, -1000.0], Activation::Sigmoid, Loss::BinaryCrossEntropy);
    assert_eq!(net.forward(&[1.0]), &[1.0, 0.0]);
    // Right on both: loss 0; wrong on both: softplus(1000) = 1000 each, mean 1000.
    let (loss, grad, _) = gradient(&mut net, &[1.0, 0.0]);
    assert_eq!((loss, grad), (0.0, vec![0.0, 0.0]));
    let (loss, grad, _) = gradient(&mut net, &[0.0, 1.0]);
    assert_eq!((loss, grad), (1000.0, vec![0.5, -0.5]));
}

#[test]
fn saturated_activations_stay_finite() {
    let activations = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Silu,
        Activation::GeluTanh,
        Activation::Gelu,
        Activation::Elu(1.0),
        Activation::Softsign,
    ];
    for act in activations {
        let mut net = logit_net(&[1000.0, -1000.0], act, Loss::HalfSse);
        let (loss, grad, dx) = gradient(&mut net, &[0.0, 0.0]);
        assert!(
            loss.is_finite() && dx.is_finite() && grad.iter().all(|g| g.is_finite()),
            "{act}: loss {loss}, grad {grad:?}, dx {dx}"
        );
    }
}
