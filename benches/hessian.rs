//! The cost of one Hessian-vector product (`hessian_vector_product`, the R-operator)
//! against one gradient (`gradient`: forward and backward) of the same sample, f64, for
//! networks of several sizes:
//!
//! | network | spec | parameters |
//! |---|---|---|
//! | `fit_1_10_1` | 1 → 10 tanh → 1, `half_sse` (the `second_order` example) | 31 |
//! | `mlp_16_64_64_10` | 16 → 64 tanh → 64 tanh → 10 softmax, `cross_entropy` | 5,898 |
//! | `cnn_8x8` | `[1, 8, 8]` → conv 4×3×3 (padding 1) tanh → max-pool 2 → 10 softmax | 690 |
//! | `cnn_12x12` | `[1, 12, 12]` → conv 6×3×3 tanh → avg-pool 2 → conv 8×3×3 tanh → global average → 10 softmax | 590 |
//!
//! Run: `cargo bench --bench hessian`; see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::prelude::*;
use stackprop::{HessianVector, SplitMix64};

#[network(input = 1, loss = half_sse, scalar = f64)]
pub struct Fit {
    hidden: Dense<10, Tanh>,
    output: Dense<1, Identity>,
}

#[network(input = 16, loss = cross_entropy, scalar = f64)]
pub struct Mlp {
    a: Dense<64, Tanh>,
    b: Dense<64, Tanh>,
    output: Dense<10, Softmax>,
}

#[network(input = [1, 8, 8], loss = cross_entropy, scalar = f64)]
pub struct Cnn8 {
    conv: Conv2d<
        4,
        Tanh,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

#[network(input = [1, 12, 12], loss = cross_entropy, scalar = f64)]
pub struct Cnn12 {
    conv: Conv2d<6, Tanh, { kernel = 3 }>,
    pool: AvgPool2d<2>,
    conv2: Conv2d<8, Tanh, { kernel = 3 }>,
    gap: GlobalAvgPool,
    output: Dense<10, Softmax>,
}

fn uniform(rng: &mut SplitMix64) -> f64 {
    use stackprop::rand_core::Rng;
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// `gradient` and `hessian_vector_product` of one sample, side by side in one group.
fn pair<N, const I: usize, const O: usize, const P: usize>(c: &mut Criterion, name: &str)
where
    N: HessianVector<Scalar = f64, Input = [f64; I], Output = [f64; O], Params = [f64; P]>,
{
    let mut rng = SplitMix64::new(5);
    let net = N::seeded(3);
    let x: [f64; I] = core::array::from_fn(|_| uniform(&mut rng));
    let mut t = [0.0; O];
    t[0] = 1.0;
    let v: Box<[f64; P]> = Box::new(core::array::from_fn(|_| uniform(&mut rng)));
    let mut out: Box<[f64; P]> = Box::new([0.0; P]);
    let mut group = c.benchmark_group(name);
    group.bench_function("gradient", |b| {
        b.iter(|| {
            out.fill(0.0);
            black_box(&net).gradient(black_box(&x), &t, &mut out);
            black_box(&out);
        });
    });
    group.bench_function("hessian_vector_product", |b| {
        b.iter(|| {
            out.fill(0.0);
            black_box(&net).hessian_vector_product(black_box(&x), &t, &v, &mut out);
            black_box(&out);
        });
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    pair::<Fit, 1, 1, { Fit::PARAMS }>(c, "fit_1_10_1");
    pair::<Mlp, 16, 10, { Mlp::PARAMS }>(c, "mlp_16_64_64_10");
    pair::<Cnn8, 64, 10, { Cnn8::PARAMS }>(c, "cnn_8x8");
    pair::<Cnn12, 144, 10, { Cnn12::PARAMS }>(c, "cnn_12x12");
}

criterion_group!(benches, bench);
criterion_main!(benches);
