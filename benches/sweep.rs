//! Hidden-width sweep: where straight-line emission stops paying, and whether generated
//! code ever falls behind the dynamic network.
//!
//! One network shape, `8 → W relu → 2 sigmoid`, `mse`, f32, for `W` in 4, 8, 16, 32, 64,
//! 128, 256, 512, built four ways from the same seed: generated with every layer forced
//! straight-line (`unroll = true`), generated with every layer forced to loops
//! (`unroll = false`), generated with the default threshold (what a user gets), and the
//! dynamic reference network. Each width is one criterion group with the per-sample
//! train step (plain SGD) and inference of all four side by side. Relu keeps the
//! activation cheap, so the times show the products rather than a transcendental
//! function. Throughput counts 6 × weights FLOPs per training sample and 2 × weights per
//! inference, as in `workloads`.
//!
//! Run: `cargo bench --bench sweep` (add `-- 64` for one width); see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop::prelude::*;

/// Inputs of every network of the sweep.
const IN: usize = 8;
/// Outputs of every network of the sweep.
const OUT: usize = 2;
/// Samples the benchmarks cycle through: enough that branch predictors cannot learn the
/// pattern of active relu units by heart.
const SAMPLES: usize = 1024;
/// Learning rate of the training benchmarks (small: weights stay in range).
const LR: f64 = 1e-3;

/// Declares the straight-line, the looped and the default-emission network of one width.
macro_rules! width {
    ($unrolled:ident, $looped:ident, $default:ident, $w:literal) => {
        #[network(input = 8, loss = mse, unroll = true)]
        pub struct $unrolled {
            hidden: Dense<$w, Relu>,
            output: Dense<2, Sigmoid>,
        }

        #[network(input = 8, loss = mse, unroll = false)]
        pub struct $looped {
            hidden: Dense<$w, Relu>,
            output: Dense<2, Sigmoid>,
        }

        #[network(input = 8, loss = mse)]
        pub struct $default {
            hidden: Dense<$w, Relu>,
            output: Dense<2, Sigmoid>,
        }
    };
}

width!(U4, L4, D4, 4);
width!(U8, L8, D8, 8);
width!(U16, L16, D16, 16);
width!(U32, L32, D32, 32);
width!(U64, L64, D64, 64);
width!(U128, L128, D128, 128);
width!(U256, L256, D256, 256);
width!(U512, L512, D512, 512);

/// Seeded inputs in [-1, 1] and targets in [0.1, 0.9].
fn data() -> (Vec<[f32; IN]>, Vec<[f32; OUT]>) {
    let mut rng = SplitMix64::new(0x5eed);
    let mut uniform = move || stackprop::rng::symmetric(&mut rng, 1.0) as f32;
    let xs: Vec<[f32; IN]> = (0..SAMPLES).map(|_| core::array::from_fn(|_| uniform())).collect();
    let ts = xs.iter().map(|x| [x[0].abs() * 0.8 + 0.1, x[1].abs() * 0.8 + 0.1]).collect();
    (xs, ts)
}

/// Train step and inference of one generated network, named `emission`.
fn generated<N, const P: usize>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    emission: &str,
    weights: u64,
) where
    N: Network<Scalar = f32, Input = [f32; IN], Output = [f32; OUT], Params = [f32; P]>,
{
    let (xs, ts) = data();
    let mut net = N::from_params([0.0; P]);
    net.init_with(&mut SplitMix64::new(1));
    let mut opt = Sgd::<[f32; P]>::new(LR);
    group.throughput(Throughput::Elements(6 * weights));
    let mut i = 0;
    group.bench_function(format!("train_step/{emission}"), |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            net.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
        });
    });
    group.throughput(Throughput::Elements(2 * weights));
    group.bench_function(format!("inference/{emission}"), |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            net.forward(black_box(&xs[i]))
        });
    });
}

/// One width: the three generated emissions and the dynamic network, in one group.
fn sweep_width<U, L, D, const P: usize>(c: &mut Criterion, width: usize)
where
    U: Network<Scalar = f32, Input = [f32; IN], Output = [f32; OUT], Params = [f32; P]>,
    L: Network<Scalar = f32, Input = [f32; IN], Output = [f32; OUT], Params = [f32; P]>,
    D: Network<Scalar = f32, Input = [f32; IN], Output = [f32; OUT], Params = [f32; P]>,
{
    let weights = (IN * width + width * OUT) as u64;
    let mut group = c.benchmark_group(format!("width/{width}"));
    generated::<U, P>(&mut group, "unrolled", weights);
    generated::<L, P>(&mut group, "looped", weights);
    generated::<D, P>(&mut group, "default", weights);

    let (xs, ts) = data();
    let layers = [LayerSpec::dense(width, Activation::Relu), LayerSpec::dense(OUT, Activation::Sigmoid)];
    let mut dynamic = DynamicNet::<f32>::seeded(IN, &layers, Loss::Mse, 1).expect("a valid spec");
    let mut opt = Sgd::<Vec<f32>>::new(LR);
    group.throughput(Throughput::Elements(6 * weights));
    let mut i = 0;
    group.bench_function("train_step/dynamic", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            dynamic.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
        });
    });
    group.throughput(Throughput::Elements(2 * weights));
    group.bench_function("inference/dynamic", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            black_box(dynamic.forward(black_box(&xs[i]))[0])
        });
    });
    group.finish();
}

fn sweep(c: &mut Criterion) {
    sweep_width::<U4, L4, D4, { U4::PARAMS }>(c, 4);
    sweep_width::<U8, L8, D8, { U8::PARAMS }>(c, 8);
    sweep_width::<U16, L16, D16, { U16::PARAMS }>(c, 16);
    sweep_width::<U32, L32, D32, { U32::PARAMS }>(c, 32);
    sweep_width::<U64, L64, D64, { U64::PARAMS }>(c, 64);
    sweep_width::<U128, L128, D128, { U128::PARAMS }>(c, 128);
    sweep_width::<U256, L256, D256, { U256::PARAMS }>(c, 256);
    sweep_width::<U512, L512, D512, { U512::PARAMS }>(c, 512);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(1));
    targets = sweep
}
criterion_main!(benches);
