//! Generated convolutional networks against the dynamic reference network, f32, plain
//! SGD, one group per workload with both implementations side by side:
//!
//! | workload | spec | measured |
//! |---|---|---|
//! | `cnn_digits` | `[1, 8, 8]` → conv 8×3×3 (padding 1) relu → max-pool 2 → flatten → 10 softmax, `cross_entropy` | per-sample train step, mini-batches of 32 and 64, inference |
//! | `lenet5` | `[1, 28, 28]` → conv 6×5×5 relu → max-pool 2 → conv 16×5×5 relu → max-pool 2 → flatten → 120 relu → 84 relu → 10 softmax, `cross_entropy` | the same |
//!
//! Every layer takes the emission the default threshold gives it. Inputs cycle through a
//! fixed set of seeded samples; the learning rate is small so the weights stay in a
//! normal range over many steps. Throughput is nominal FLOPs counted from the shapes: a
//! multiply-add is 2 FLOPs; a layer does (weights) × (output positions) multiply-adds
//! (a dense layer has one position), and a training sample counts 3 × the forward
//! multiply-adds (forward, weight gradient, input delta): 6 FLOPs per multiply-add,
//! 2 per multiply-add for inference.
//!
//! Run: `cargo bench --bench conv` (add `-- lenet5` to run one workload); see
//! `benches/RESULTS.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use stackprop::SplitMix64;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop::prelude::*;

/// `[1, 8, 8]` → 8 channels 3×3 (padding 1) → max-pool 2 → 10 softmax outputs.
#[network(input = [1, 8, 8], loss = cross_entropy)]
pub struct CnnDigits {
    conv: Conv2d<
        8,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

/// LeNet-5 on 28×28 inputs (no padding, max pooling, relu).
#[network(input = [1, 28, 28], loss = cross_entropy)]
pub struct LeNet5 {
    conv1: Conv2d<6, Relu, { kernel = 5 }>,
    pool1: MaxPool2d<2>,
    conv2: Conv2d<16, Relu, { kernel = 5 }>,
    pool2: MaxPool2d<2>,
    flat: Flatten,
    fc1: Dense<120, Relu>,
    fc2: Dense<84, Relu>,
    output: Dense<10, Softmax>,
}

/// Samples the benchmarks cycle through (a multiple of every batch size).
const SAMPLES: usize = 256;
/// Learning rate of every training benchmark.
const LR: f64 = 1e-3;

/// Seeded inputs in [-1, 1] and one-hot targets.
fn data<const I: usize, const O: usize>(seed: u64) -> (Vec<[f32; I]>, Vec<[f32; O]>) {
    let mut rng = SplitMix64::new(seed);
    let mut uniform = move || stackprop::rng::symmetric(&mut rng, 1.0) as f32;
    let xs: Vec<[f32; I]> = (0..SAMPLES).map(|_| core::array::from_fn(|_| uniform())).collect();
    let ts: Vec<[f32; O]> =
        (0..SAMPLES).map(|s| core::array::from_fn(|k| if k == (s * 7 + 3) % O { 1.0 } else { 0.0 })).collect();
    (xs, ts)
}

/// Flattens samples row-major, as the dynamic network takes batches.
fn flat<const N: usize>(rows: &[[f32; N]]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

/// A seeded network on the heap, initialized in place.
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

/// Multiply-adds of one forward pass, from the shapes: each layer's weights times its
/// output positions (the spatial size after the channel axis; 1 for a dense layer).
fn forward_macs(net: &DynamicNet<f32>) -> usize {
    (0..net.layers().len())
        .map(|l| net.weight_range(l).len() * net.output_shape(l)[1..].iter().product::<usize>())
        .sum()
}

/// Benchmarks the per-sample train step, mini-batch steps of 32 and 64 and inference of
/// a generated network and its dynamic twin, in one group.
fn workload<N, const I: usize, const O: usize, const P: usize>(
    c: &mut Criterion,
    name: &str,
    generated: fn() -> N,
    shape: &[usize],
    layers: &[LayerSpec],
) where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    let (xs, ts) = data::<I, O>(0x5eed);
    let mut generated = boxed(generated, 1);
    let mut dynamic = DynamicNet::<f32>::seeded_with_shape(shape, layers, Loss::CrossEntropy, 1).expect("a valid spec");
    assert_eq!(generated.params().as_slice(), dynamic.params(), "same seed, same parameters");
    let macs = forward_macs(&dynamic);
    let mut group = c.benchmark_group(name);

    group.throughput(Throughput::Elements(6 * macs as u64));
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

    for batch in [32, 64] {
        batch_pair(&mut group, &mut *generated, &mut dynamic, &xs, &ts, batch, macs);
    }

    group.throughput(Throughput::Elements(2 * macs as u64));
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

/// Mini-batch steps of `batch` samples (mean gradient into a caller-owned buffer, then
/// one SGD update), the batches taken in turn from the sample set.
fn batch_pair<N, const I: usize, const O: usize, const P: usize>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    generated: &mut N,
    dynamic: &mut DynamicNet<f32>,
    xs: &[[f32; I]],
    ts: &[[f32; O]],
    batch: usize,
    macs: usize,
) where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    let batches = SAMPLES / batch;
    group.throughput(Throughput::Elements((6 * macs * batch) as u64));
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
        // The per-sample passes, summed: what the mini-batch path replaces (the trait's
        // provided `batch_gradient`), then the same update.
        let mut grad = boxed_params::<P>();
        let mut opt = Sgd::<[f32; P]>::new(LR);
        let mut trace = N::Trace::zeroed();
        let mut k = 0;
        group.bench_function(format!("{id}/per-sample"), |b| {
            b.iter(|| {
                k = (k + 1) % batches;
                let scale = 1.0 / batch as f32;
                grad.fill(0.0);
                let mut loss = 0.0;
                for (x, t) in xs[k * batch..(k + 1) * batch].iter().zip(&ts[k * batch..(k + 1) * batch]) {
                    generated.forward_trace(black_box(x), &mut trace);
                    loss += generated.backward(x, &trace, t, scale, &mut grad, None);
                }
                opt.step(generated.params_mut(), &grad);
                loss * scale
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

fn cnn_digits(c: &mut Criterion) {
    let layers = [
        LayerSpec::conv2d(8, [3, 3], Activation::Relu).padding(1),
        LayerSpec::max_pool2d([2, 2]),
        LayerSpec::flatten(),
        LayerSpec::dense(10, Activation::Softmax),
    ];
    workload::<CnnDigits, { CnnDigits::INPUT }, 10, { CnnDigits::PARAMS }>(
        c,
        "cnn_digits",
        CnnDigits::zeroed,
        &[1, 8, 8],
        &layers,
    );
}

fn lenet5(c: &mut Criterion) {
    let layers = [
        LayerSpec::conv2d(6, [5, 5], Activation::Relu),
        LayerSpec::max_pool2d([2, 2]),
        LayerSpec::conv2d(16, [5, 5], Activation::Relu),
        LayerSpec::max_pool2d([2, 2]),
        LayerSpec::flatten(),
        LayerSpec::dense(120, Activation::Relu),
        LayerSpec::dense(84, Activation::Relu),
        LayerSpec::dense(10, Activation::Softmax),
    ];
    workload::<LeNet5, { LeNet5::INPUT }, 10, { LeNet5::PARAMS }>(c, "lenet5", LeNet5::zeroed, &[1, 28, 28], &layers);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = cnn_digits, lenet5
}
criterion_main!(benches);
