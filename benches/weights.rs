//! Inference with weights compiled in (`weights = "..."`, the network used as the
//! `TRAINED` constant) against the same network whose weights were loaded at run time
//! from the same safetensors file, one group per workload with both side by side:
//!
//! | workload | spec | weights |
//! |---|---|---|
//! | `mlp` | 64 → 32 relu → 10 softmax, f32 (the hidden layer as loops) | `tests/fixtures/torch/mlp_f32.safetensors` |
//! | `conv` | `[1, 6, 6]` → conv 3×3×3 (padding 1) relu → max-pool 2 → 4 softmax, f64 (straight-line code) | `tests/fixtures/torch/conv_f64.safetensors` |
//!
//! `constant` calls `forward` on the constant itself, so the compiler sees every weight;
//! `static` on a `static` holding it (read-only memory, as on a microcontroller's flash);
//! `loaded` on a network behind `black_box`, as a program that reads its weights from a
//! file does. Inputs cycle through a fixed set of seeded samples.
//!
//! Run: `cargo bench --bench weights`; see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::prelude::*;
use stackprop::weights::safetensors::{self as st, LoadOptions};

#[network(input = 64, loss = cross_entropy, weights = "tests/fixtures/torch/mlp_f32.safetensors")]
pub struct Mlp {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

#[network(input = [1, 6, 6], loss = cross_entropy, scalar = f64, weights = "tests/fixtures/torch/conv_f64.safetensors")]
pub struct Conv {
    conv: Conv2d<
        3,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}

static MLP: Mlp = Mlp::TRAINED;
static CONV: Conv = Conv::TRAINED;

const SAMPLES: usize = 64;

fn inputs<T: Scalar, const N: usize>() -> Vec<[T; N]> {
    let mut rng = SplitMix64::new(11);
    (0..SAMPLES).map(|_| core::array::from_fn(|_| T::from_f64(stackprop::rng::symmetric(&mut rng, 1.0)))).collect()
}

fn load<N: Network>(file: &str) -> N {
    let path = format!("{}/tests/fixtures/torch/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut net = N::from_params(N::Params::zeroed());
    st::load_file(&mut net, &path, &LoadOptions::strict()).expect("fixture loads");
    net
}

fn bench(c: &mut Criterion) {
    let xs = inputs::<f32, 64>();
    let loaded: Mlp = load("mlp_f32.safetensors");
    assert_eq!(loaded.params(), Mlp::TRAINED.params());
    let mut g = c.benchmark_group("weights/mlp");
    let mut i = 0;
    g.bench_function("constant", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            Mlp::TRAINED.forward(black_box(&xs[i]))
        });
    });
    g.bench_function("static", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            MLP.forward(black_box(&xs[i]))
        });
    });
    g.bench_function("loaded", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            black_box(&loaded).forward(black_box(&xs[i]))
        });
    });
    g.finish();

    let xs = inputs::<f64, 36>();
    let loaded: Conv = load("conv_f64.safetensors");
    assert_eq!(loaded.params(), Conv::TRAINED.params());
    let mut g = c.benchmark_group("weights/conv");
    g.bench_function("constant", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            Conv::TRAINED.forward(black_box(&xs[i]))
        });
    });
    g.bench_function("static", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            CONV.forward(black_box(&xs[i]))
        });
    });
    g.bench_function("loaded", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            black_box(&loaded).forward(black_box(&xs[i]))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
