//! Training runs: the dynamic network learns.

use stackprop_runtime::Sgd;
use stackprop_runtime::dynamic::{Activation, DynamicNet, LayerSpec, Loss};

const XOR_X: [[f64; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
const XOR_T: [f64; 4] = [0.0, 1.0, 1.0, 0.0];

const XOR_LAYERS: [LayerSpec; 2] = [LayerSpec::dense(3, Activation::Sigmoid), LayerSpec::dense(1, Activation::Sigmoid)];

#[test]
fn xor_2_3_1_sigmoid_half_sse_with_sgd() {
    let mut net = DynamicNet::<f64>::seeded(2, &XOR_LAYERS, Loss::HalfSse, 1).unwrap();
    let mut opt = Sgd::<Vec<f64>>::new(0.5);
    let xs = XOR_X.as_flattened();
    let start = net.mean_loss(xs, &XOR_T);
    for _ in 0..20_000 {
        for (x, t) in XOR_X.iter().zip(&XOR_T) {
            net.train_step(x, &[*t], &mut opt);
        }
    }
    let end = net.mean_loss(xs, &XOR_T);
    assert!(end < 0.01, "loss {start} -> {end}");
    for (x, t) in XOR_X.iter().zip(XOR_T) {
        let y = net.forward(x)[0];
        assert_eq!(y > 0.5, t > 0.5, "{x:?} -> {y}");
    }
}

#[test]
fn xor_in_f32_full_batch_with_momentum() {
    let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(1, Activation::Sigmoid)];
    let mut net = DynamicNet::<f32>::seeded(2, &layers, Loss::BinaryCrossEntropy, 3).unwrap();
    let mut opt = Sgd::<Vec<f32>>::new(0.5).momentum(0.9);
    let xs: Vec<f32> = XOR_X.as_flattened().iter().map(|&v| v as f32).collect();
    let ts = XOR_T.map(|t| t as f32);
    for _ in 0..2_000 {
        net.train_batch(&xs, &ts, &mut opt);
    }
    let end = net.mean_loss(&xs, &ts);
    assert!(end < 0.05, "loss {end}");
}

#[test]
fn softmax_classifier_separates_three_blobs() {
    let centers = [[1.0, 0.0], [-0.5, 0.9], [-0.5, -0.9]];
    let mut xs = Vec::new();
    let mut ts = Vec::new();
    for k in 0..60 {
        let c = k % 3;
        let jitter = [0.2 * ((k as f64) * 1.3).sin(), 0.2 * ((k as f64) * 2.1).cos()];
        xs.extend([centers[c][0] + jitter[0], centers[c][1] + jitter[1]]);
        let mut t = [0.0; 3];
        t[c] = 1.0;
        ts.extend(t);
    }
    let layers = [LayerSpec::dense(8, Activation::Relu), LayerSpec::dense(3, Activation::Softmax)];
    let mut net = DynamicNet::<f64>::seeded(2, &layers, Loss::CrossEntropy, 5).unwrap();
    let mut opt = Sgd::<Vec<f64>>::new(0.2);
    let start = net.mean_loss(&xs, &ts);
    for _ in 0..300 {
        for (x, t) in xs.chunks(20 * 2).zip(ts.chunks(20 * 3)) {
            net.train_batch(x, t, &mut opt);
        }
    }
    let end = net.mean_loss(&xs, &ts);
    assert!(end < 0.05 && end < start, "loss {start} -> {end}");
}
