//! Generated networks against the dynamic reference network on three workloads, f32,
//! plain SGD, one group per workload with both implementations side by side:
//!
//! | workload | spec | measured |
//! |---|---|---|
//! | `2-4-1` | tanh hidden, sigmoid output, `mse` | per-sample train step, inference |
//! | `64-32-10` | relu hidden, softmax output, `cross_entropy` | per-sample train step, mini-batch of 32, inference |
//! | `784-128-10` | relu hidden, softmax output, `cross_entropy` | per-sample train step, mini-batch of 64, inference |
//!
//! Every layer takes the emission the default threshold gives it (`2-4-1` and the output
//! layer of `64-32-10` unrolled, the
//! others as loops). Inputs cycle through a fixed set of seeded samples so branch
//! predictors see real data; the learning rate is small so the weights stay in a normal
//! range over millions of steps. Throughput is reported in nominal FLOPs: 6 × weights per
//! training sample (forward, weight gradient, input delta), 2 × weights per inference.
//!
//! Run: `cargo bench --bench workloads` (add `-- 784` to run one workload); see
//! `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use stackprop::SplitMix64;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop::prelude::*;

/// 2 inputs → 4 tanh units → 1 sigmoid output, mean squared error.
#[network(input = 2, loss = mse)]
pub struct Tiny {
    hidden: Dense<4, Tanh>,
    output: Dense<1, Sigmoid>,
}

/// 64 inputs → 32 relu units → 10 softmax outputs, cross-entropy (the digits network).
#[network(input = 64, loss = cross_entropy)]
pub struct Digits {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

/// 784 inputs → 128 relu units → 10 softmax outputs, cross-entropy (the MNIST network).
#[network(input = 784, loss = cross_entropy)]
pub struct Mnist {
    hidden: Dense<128, Relu>,
    output: Dense<10, Softmax>,
}

/// Samples the benchmarks cycle through (a power of two, for a mask).
const SAMPLES: usize = 256;
/// Learning rate of every training benchmark.
const LR: f64 = 1e-3;

/// Seeded inputs in [-1, 1] and one-hot targets (or values in [0, 1] for one output).
fn data<const I: usize, const O: usize>(seed: u64) -> (Vec<[f32; I]>, Vec<[f32; O]>) {
    let mut rng = SplitMix64::new(seed);
    let mut uniform = move || stackprop::rng::symmetric(&mut rng, 1.0) as f32;
    let xs: Vec<[f32; I]> = (0..SAMPLES).map(|_| core::array::from_fn(|_| uniform())).collect();
    let ts: Vec<[f32; O]> = (0..SAMPLES)
        .map(|s| {
            if O == 1 {
                [xs[s][0].abs() * 0.8 + 0.1; O]
            } else {
                core::array::from_fn(|k| if k == (s * 7 + 3) % O { 1.0 } else { 0.0 })
            }
        })
        .collect();
    (xs, ts)
}

/// Flattens samples row-major, as the dynamic network takes batches.
fn flat<const N: usize>(rows: &[[f32; N]]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

/// A seeded network on the heap, initialized in place (`init_with` on the box). The
/// zeroed value passes through the stack at most once: 400 KB for the largest network
/// here, a twentieth of the main thread's stack.
fn boxed<N: Network>(zeroed: fn() -> N, seed: u64) -> Box<N> {
    let mut net = Box::new(zeroed());
    net.init_with(&mut SplitMix64::new(seed));
    net
}

/// A zeroed parameter-sized buffer on the heap, built from a `Vec` (no stack copy).
fn boxed_params<const P: usize>() -> Box<[f32; P]> {
    match vec![0.0_f32; P].into_boxed_slice().try_into() {
        Ok(b) => b,
        Err(_) => unreachable!("the vector holds P elements"),
    }
}

/// Benchmarks the per-sample train step and inference of a generated network and its
/// dynamic twin, and (if `batch > 0`) a mini-batch step, in one group.
fn workload<N, const I: usize, const O: usize, const P: usize>(
    c: &mut Criterion,
    name: &str,
    generated: fn() -> N,
    layers: &[LayerSpec],
    loss: Loss,
    batch: usize,
) where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    // Multiply-adds per sample: every weight once.
    let weights: usize = N::LAYOUT.iter().filter(|p| p.name.ends_with(".weight")).map(|p| p.len()).sum();
    let (xs, ts) = data::<I, O>(0x5eed);
    let mut group = c.benchmark_group(name);
    let mut generated = boxed(generated, 1);
    let mut dynamic = DynamicNet::<f32>::seeded(I, layers, loss, 1).expect("a valid spec");
    assert_eq!(generated.params().as_slice(), dynamic.params(), "same seed, same parameters");

    group.throughput(Throughput::Elements(6 * weights as u64));
    {
        let mut opt = Sgd::<[f32; P]>::new(LR);
        let mut i = 0;
        group.bench_function("train_step/generated", |b| {
            b.iter(|| {
                i = (i + 1) % SAMPLES;
                generated.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
            });
        });
    }
    {
        let mut opt = Sgd::<Vec<f32>>::new(LR);
        let mut i = 0;
        group.bench_function("train_step/dynamic", |b| {
            b.iter(|| {
                i = (i + 1) % SAMPLES;
                dynamic.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
            });
        });
    }

    if batch > 0 {
        batch_pair(&mut group, &mut *generated, &mut dynamic, &xs, &ts, batch, weights);
    }

    group.throughput(Throughput::Elements(2 * weights as u64));
    let mut i = 0;
    group.bench_function("inference/generated", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            generated.forward(black_box(&xs[i]))
        });
    });
    let mut i = 0;
    group.bench_function("inference/dynamic", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            black_box(dynamic.forward(black_box(&xs[i]))[0])
        });
    });
    group.finish();
}

/// Mini-batch steps of `batch` samples (mean gradient, then one SGD update), the
/// batches taken in turn from the sample set.
fn batch_pair<N, const I: usize, const O: usize, const P: usize>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    generated: &mut N,
    dynamic: &mut DynamicNet<f32>,
    xs: &[[f32; I]],
    ts: &[[f32; O]],
    batch: usize,
    weights: usize,
) where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    let batches = SAMPLES / batch;
    group.throughput(Throughput::Elements((6 * weights * batch) as u64));
    let id = format!("batch{batch}");
    {
        let mut grad = boxed_params::<P>();
        let mut opt = Sgd::<[f32; P]>::new(LR);
        let mut k = 0;
        group.bench_function(format!("{id}/generated"), |b| {
            b.iter(|| {
                k = (k + 1) % batches;
                let r = k * batch..(k + 1) * batch;
                generated.train_batch(black_box(&xs[r.clone()]), black_box(&ts[r]), &mut grad, &mut opt)
            });
        });
    }
    {
        let (fx, ft) = (flat(xs), flat(ts));
        let mut opt = Sgd::<Vec<f32>>::new(LR);
        let mut k = 0;
        group.bench_function(format!("{id}/dynamic"), |b| {
            b.iter(|| {
                k = (k + 1) % batches;
                let (rx, rt) = (k * batch * I..(k + 1) * batch * I, k * batch * O..(k + 1) * batch * O);
                dynamic.train_batch(black_box(&fx[rx]), black_box(&ft[rt]), &mut opt)
            });
        });
    }
}

fn tiny(c: &mut Criterion) {
    let layers = [LayerSpec::dense(4, Activation::Tanh), LayerSpec::dense(1, Activation::Sigmoid)];
    workload::<Tiny, 2, 1, { Tiny::PARAMS }>(c, "2-4-1", Tiny::zeroed, &layers, Loss::Mse, 0);
}

fn digits(c: &mut Criterion) {
    let layers = [LayerSpec::dense(32, Activation::Relu), LayerSpec::dense(10, Activation::Softmax)];
    workload::<Digits, 64, 10, { Digits::PARAMS }>(c, "64-32-10", Digits::zeroed, &layers, Loss::CrossEntropy, 32);
}

fn mnist(c: &mut Criterion) {
    let layers = [LayerSpec::dense(128, Activation::Relu), LayerSpec::dense(10, Activation::Softmax)];
    workload::<Mnist, 784, 10, { Mnist::PARAMS }>(c, "784-128-10", Mnist::zeroed, &layers, Loss::CrossEntropy, 64);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = tiny, digits, mnist
}
criterion_main!(benches);
