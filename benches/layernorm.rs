//! A layer-normalized network, generated against the dynamic reference network, f32,
//! plain SGD: `64 → 32 tanh → LayerNorm → 10 softmax` (cross-entropy), and the same
//! network without the layer norm for scale, each with both implementations side by side:
//! the per-sample train step, a mini-batch step of 32, and inference.
//!
//! Run: `cargo bench --bench layernorm`; see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop::prelude::*;

#[network(input = 64, loss = cross_entropy)]
pub struct Normalized {
    hidden: Dense<32, Tanh>,
    norm: LayerNorm,
    output: Dense<10, Softmax>,
}

#[network(input = 64, loss = cross_entropy)]
pub struct Plain {
    hidden: Dense<32, Tanh>,
    output: Dense<10, Softmax>,
}

const SAMPLES: usize = 256;
const BATCH: usize = 32;
const LR: f64 = 1e-3;

fn data() -> (Vec<[f32; 64]>, Vec<[f32; 10]>) {
    let mut rng = SplitMix64::new(0x5eed);
    let xs = (0..SAMPLES).map(|_| core::array::from_fn(|_| stackprop::rng::symmetric(&mut rng, 1.0) as f32)).collect();
    let ts = (0..SAMPLES).map(|s| core::array::from_fn(|k| if k == (s * 7 + 3) % 10 { 1.0 } else { 0.0 })).collect();
    (xs, ts)
}

fn workload<N, const P: usize>(c: &mut Criterion, name: &str, layers: &[LayerSpec])
where
    N: Network<Scalar = f32, Input = [f32; 64], Output = [f32; 10], Params = [f32; P]>,
{
    let (xs, ts) = data();
    let (xf, tf): (Vec<f32>, Vec<f32>) =
        (xs.iter().flatten().copied().collect(), ts.iter().flatten().copied().collect());
    let mut generated = N::seeded(1);
    let mut dynamic = DynamicNet::<f32>::seeded(64, layers, Loss::CrossEntropy, 1).expect("a valid spec");
    assert_eq!(generated.params().as_ref(), dynamic.params(), "same seed, same parameters");
    let mut group = c.benchmark_group(name);
    let mut opt = Sgd::new(LR);
    let mut i = 0;
    group.bench_function("train_step/generated", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            generated.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
        });
    });
    let mut opt = Sgd::<Vec<f32>>::new(LR);
    group.bench_function("train_step/dynamic", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            dynamic.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
        });
    });
    let mut opt = Sgd::new(LR);
    let mut grad = [0.0f32; P];
    let mut k = 0;
    group.bench_function("batch_32/generated", |b| {
        b.iter(|| {
            k = (k + BATCH) % SAMPLES;
            generated.train_batch(black_box(&xs[k..k + BATCH]), black_box(&ts[k..k + BATCH]), &mut grad, &mut opt)
        });
    });
    let mut opt = Sgd::<Vec<f32>>::new(LR);
    group.bench_function("batch_32/dynamic", |b| {
        b.iter(|| {
            k = (k + BATCH) % SAMPLES;
            dynamic.train_batch(
                black_box(&xf[k * 64..(k + BATCH) * 64]),
                black_box(&tf[k * 10..(k + BATCH) * 10]),
                &mut opt,
            )
        });
    });
    group.bench_function("inference/generated", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            generated.forward(black_box(&xs[i]))
        });
    });
    group.bench_function("inference/dynamic", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            black_box(dynamic.forward(black_box(&xs[i]))[0])
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dense = |w, a| LayerSpec::dense(w, a);
    workload::<Normalized, { Normalized::PARAMS }>(
        c,
        "layernorm",
        &[dense(32, Activation::Tanh), LayerSpec::layer_norm(), dense(10, Activation::Softmax)],
    );
    workload::<Plain, { Plain::PARAMS }>(c, "plain", &[dense(32, Activation::Tanh), dense(10, Activation::Softmax)]);
}

criterion_group!(layernorm, benches);
criterion_main!(layernorm);
