//! A batch-normalized network's mini-batch training step, generated against the dynamic
//! reference network, on the same parameters and batch; the same network without batch
//! norm (generated) beside them for the cost of the normalization.
//!
//! | workload | spec |
//! |---|---|
//! | `digits_bn` | 64 → 32 relu → BatchNorm → 10 softmax, cross-entropy, f32, batches of 32 |
//!
//! `generated` is `train_batch` with a workspace of `BATCH_ROW` scalars per sample,
//! `dynamic` is `DynamicNet::train_batch` (layer by layer over the batch, its batch
//! activations allocated per call), `generated_plain` the network without `BatchNorm`
//! (`train_batch`, mean of per-sample gradients). Plain SGD, learning rate 1e-3.
//!
//! Run: `cargo bench --bench batchnorm`; see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop::prelude::*;

#[network(input = 64, loss = cross_entropy)]
pub struct DigitsBn {
    hidden: Dense<32, Relu>,
    norm: BatchNorm,
    output: Dense<10, Softmax>,
}

#[network(input = 64, loss = cross_entropy)]
pub struct DigitsPlain {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

const BATCH: usize = 32;

fn bench(c: &mut Criterion) {
    let mut rng = SplitMix64::new(5);
    let xs: Vec<[f32; 64]> =
        (0..BATCH).map(|_| core::array::from_fn(|_| stackprop::rng::symmetric(&mut rng, 1.0) as f32)).collect();
    let classes: Vec<Class> = (0..BATCH).map(|i| Class(i % 10)).collect();
    let onehot: Vec<f32> =
        classes.iter().flat_map(|c| (0..10).map(move |j| if j == c.0 { 1.0 } else { 0.0 })).collect();
    let flat_x: Vec<f32> = xs.iter().flatten().copied().collect();

    let mut group = c.benchmark_group("digits_bn");
    let mut net = DigitsBn::seeded(1);
    let mut ws = vec![[0.0; DigitsBn::BATCH_ROW]; BATCH];
    let mut grad = [0.0; DigitsBn::PARAMS];
    let mut opt = Sgd::new(1e-3);
    group.bench_function("generated", |b| {
        b.iter(|| net.train_batch(black_box(&xs), &classes, &mut ws, &mut grad, &mut opt));
    });
    let layers =
        [LayerSpec::dense(32, Activation::Relu), LayerSpec::batch_norm(), LayerSpec::dense(10, Activation::Softmax)];
    let mut dynamic = DynamicNet::<f32>::new(64, &layers, Loss::CrossEntropy).expect("valid spec");
    dynamic.set_params(DigitsBn::seeded(1).params()).expect("same parameter count");
    let mut dyn_opt = Sgd::<Vec<f32>>::new(1e-3);
    group.bench_function("dynamic", |b| {
        b.iter(|| dynamic.train_batch(black_box(&flat_x), &onehot, &mut dyn_opt));
    });
    let mut plain = DigitsPlain::seeded(1);
    let mut plain_grad = [0.0; DigitsPlain::PARAMS];
    let mut plain_opt = Sgd::new(1e-3);
    group.bench_function("generated_plain", |b| {
        b.iter(|| plain.train_batch(black_box(&xs), &classes, &mut plain_grad, &mut plain_opt));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
