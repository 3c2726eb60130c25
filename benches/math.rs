//! Element-wise math: the small networks whose time goes to `tanh`, the logistic and
//! `exp` (f32, plain SGD), measured per-sample train step and inference:
//!
//! | group | spec |
//! |---|---|
//! | `math/64-32-10-tanh` | 64 → 32 tanh → 10 sigmoid, `mse` |
//! | `math/2-4-1` | 2 → 4 tanh → 1 sigmoid, `mse` |
//!
//! and the functions of `stackprop::math` over a slice of 1024 elements against the
//! same loop calling the platform's libm (`f32::tanh`, `f64::exp`, …), groups
//! `math/slice-1024/{f32,f64}`, one benchmark per function and implementation.
//!
//! Run: `cargo bench --bench math`; see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::math;
use stackprop::prelude::*;

/// 64 inputs → 32 tanh units → 10 sigmoid outputs, mean squared error.
#[network(input = 64, loss = mse)]
pub struct TanhSigmoid {
    hidden: Dense<32, Tanh>,
    output: Dense<10, Sigmoid>,
}

/// 2 inputs → 4 tanh units → 1 sigmoid output, mean squared error.
#[network(input = 2, loss = mse)]
pub struct Tiny {
    hidden: Dense<4, Tanh>,
    output: Dense<1, Sigmoid>,
}

/// Samples the benchmarks cycle through (a power of two).
const SAMPLES: usize = 256;

/// Seeded inputs in [-1, 1] and targets in [0, 1].
fn data<const I: usize, const O: usize>(seed: u64) -> (Vec<[f32; I]>, Vec<[f32; O]>) {
    let mut rng = SplitMix64::new(seed);
    let mut uniform = move || stackprop::rng::symmetric(&mut rng, 1.0) as f32;
    let xs: Vec<[f32; I]> = (0..SAMPLES).map(|_| core::array::from_fn(|_| uniform())).collect();
    let ts: Vec<[f32; O]> = (0..SAMPLES).map(|_| core::array::from_fn(|_| 0.5 + 0.5 * uniform())).collect();
    (xs, ts)
}

/// The per-sample train step and inference of one network.
fn network<N, const I: usize, const O: usize, const P: usize>(c: &mut Criterion, name: &str, mut net: N)
where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    let (xs, ts) = data::<I, O>(0x5eed);
    let mut group = c.benchmark_group(format!("math/{name}"));
    let mut opt = Sgd::<[f32; P]>::new(1e-3);
    let mut i = 0;
    group.bench_function("train_step", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            net.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
        });
    });
    let mut i = 0;
    group.bench_function("inference", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            net.forward(black_box(&xs[i]))
        });
    });
    group.finish();
}

/// Inputs spread over where activations live: `[-8, 8]` (positive for `ln`).
fn slice_inputs(len: usize, positive: bool) -> Vec<f64> {
    let mut rng = SplitMix64::new(7);
    (0..len)
        .map(|_| {
            let v = stackprop::rng::symmetric(&mut rng, 8.0);
            if positive { v.abs() + 1e-3 } else { v }
        })
        .collect()
}

macro_rules! slice_group {
    ($c:expr, $t:ident) => {{
        let mut group = $c.benchmark_group(concat!("math/slice-1024/", stringify!($t)));
        group.throughput(criterion::Throughput::Elements(1024));
        let signed: Vec<$t> = slice_inputs(1024, false).into_iter().map(|v| v as $t).collect();
        let positive: Vec<$t> = slice_inputs(1024, true).into_iter().map(|v| v as $t).collect();
        let mut buf = signed.clone();
        let cases: [(&str, fn(&mut [$t]), fn(&mut [$t]), bool); 4] = [
            ("exp", math::exp_slice::<$t>, |xs| xs.iter_mut().for_each(|x| *x = x.exp()), false),
            ("tanh", math::tanh_slice::<$t>, |xs| xs.iter_mut().for_each(|x| *x = x.tanh()), false),
            (
                "sigmoid",
                math::sigmoid_slice::<$t>,
                |xs| xs.iter_mut().for_each(|x| *x = 1.0 / (1.0 + (-*x).exp())),
                false,
            ),
            ("ln", math::ln_slice::<$t>, |xs| xs.iter_mut().for_each(|x| *x = x.ln()), true),
        ];
        for (name, ours, libm, pos) in cases {
            let src = if pos { &positive } else { &signed };
            group.bench_function(format!("{name}/stackprop"), |b| {
                b.iter(|| {
                    buf.copy_from_slice(src);
                    ours(black_box(&mut buf));
                    black_box(buf[0])
                });
            });
            group.bench_function(format!("{name}/libm"), |b| {
                b.iter(|| {
                    buf.copy_from_slice(src);
                    libm(black_box(&mut buf));
                    black_box(buf[0])
                });
            });
        }
        group.finish();
    }};
}

fn slices(c: &mut Criterion) {
    slice_group!(c, f32);
    slice_group!(c, f64);
}

fn networks(c: &mut Criterion) {
    network::<TanhSigmoid, 64, 10, { TanhSigmoid::PARAMS }>(c, "64-32-10-tanh", TanhSigmoid::seeded(1));
    network::<Tiny, 2, 1, { Tiny::PARAMS }>(c, "2-4-1", Tiny::seeded(1));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = networks, slices
}
criterion_main!(benches);
