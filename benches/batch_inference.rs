//! Batched inference: `forward_batch` (tiles of samples, matrix–matrix kernels) against
//! a loop of `forward` over the same samples, f32, one group per network and batch
//! size with both side by side:
//!
//! | network | spec |
//! |---|---|
//! | `64-32-10` | relu hidden (loops), softmax output (straight-line), the digits network |
//! | `784-128-10` | relu hidden, softmax output, both as loops, the MNIST network |
//!
//! Batches of 64 and 1024 samples, seeded inputs in [-1, 1]. Throughput is in samples,
//! so criterion's figure divided into one second is the time per sample.
//!
//! Run: `cargo bench --bench batch_inference -- --warm-up-time 1 --measurement-time 3`;
//! see `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::prelude::*;

/// 64 inputs → 32 relu units → 10 softmax outputs (the digits network).
#[network(input = 64, loss = cross_entropy)]
pub struct Digits {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

/// 784 inputs → 128 relu units → 10 softmax outputs (the MNIST network).
#[network(input = 784, loss = cross_entropy)]
pub struct Mnist {
    hidden: Dense<128, Relu>,
    output: Dense<10, Softmax>,
}

/// Batch sizes measured.
const BATCHES: [usize; 2] = [64, 1024];

/// `n` seeded inputs in [-1, 1].
fn inputs<const I: usize>(n: usize, seed: u64) -> Vec<[f32; I]> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| core::array::from_fn(|_| stackprop::rng::symmetric(&mut rng, 1.0) as f32)).collect()
}

/// `forward` per sample and `forward_batch` over each batch size, in one group each.
fn pair<N, const I: usize, const O: usize>(c: &mut Criterion, name: &str)
where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O]>,
{
    let net: Box<N> = stackprop::boxed_seeded(1);
    for n in BATCHES {
        let xs = inputs::<I>(n, 0x5eed);
        let mut ys = vec![[0.0_f32; O]; n];
        let mut group = c.benchmark_group(format!("{name}/batch{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("forward_loop", |b| {
            b.iter(|| {
                for (x, y) in black_box(&xs).iter().zip(ys.iter_mut()) {
                    *y = net.forward(x);
                }
                black_box(&mut ys);
            });
        });
        group.bench_function("forward_batch", |b| {
            b.iter(|| {
                net.forward_batch(black_box(&xs), &mut ys);
                black_box(&mut ys);
            });
        });
        group.finish();
    }
}

fn digits(c: &mut Criterion) {
    pair::<Digits, 64, 10>(c, "64-32-10");
}

fn mnist(c: &mut Criterion) {
    pair::<Mnist, 784, 10>(c, "784-128-10");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = digits, mnist
}
criterion_main!(benches);
