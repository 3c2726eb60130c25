//! Convolution size sweep: where straight-line emission of a convolution stops paying,
//! which sets the default threshold `DEFAULT_CONV_UNROLL` of the macro.
//!
//! Two series of one-convolution networks, f32, `mse`, each built straight-line
//! (`unroll = true` on the convolution) and as runtime kernels (`unroll = false`) from the
//! same seed:
//!
//! - 1-D: `[2][18]` → `Conv1d<C, Relu, { kernel = 3 }>` for `C` in 1, 2, 4, 8, 16
//!   (96 × `C` multiply-adds: 96 … 1536);
//! - 2-D: `[1][6][6]` → `Conv2d<C, Relu, { kernel = 3 }>` for `C` in 1, 2, 4, 8
//!   (144 × `C` multiply-adds: 144 … 1152);
//!
//! each followed by `Flatten` and a `Dense<1, Identity>` forced to loops in both builds,
//! so only the convolution's form differs. Each size is one criterion group with the
//! per-sample train step (plain SGD) and inference of both forms side by side.
//! Throughput counts 6 × multiply-adds per training sample and 2 × per inference.
//!
//! Run: `cargo bench --bench conv_sweep` (add `-- 1d/384` for one size); see
//! `benches/RESULTS.md`.

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use stackprop::SplitMix64;
use stackprop::prelude::*;

/// Samples the benchmarks cycle through.
const SAMPLES: usize = 1024;
/// Learning rate of the training benchmarks (small: weights stay in range).
const LR: f64 = 1e-3;

/// Declares the straight-line and the kernel form of one convolution.
macro_rules! size {
    ($unrolled:ident, $looped:ident, $input:tt, $conv:ident < $c:literal >) => {
        #[network(input = $input, loss = mse)]
        pub struct $unrolled {
            conv: $conv<
                $c,
                Relu,
                {
                    kernel = 3;
                    unroll = true
                },
            >,
            flat: Flatten,
            output: Dense<1, Identity, { unroll = false }>,
        }

        #[network(input = $input, loss = mse)]
        pub struct $looped {
            conv: $conv<
                $c,
                Relu,
                {
                    kernel = 3;
                    unroll = false
                },
            >,
            flat: Flatten,
            output: Dense<1, Identity, { unroll = false }>,
        }
    };
}

size!(U1d1, L1d1, [2, 18], Conv1d<1>);
size!(U1d2, L1d2, [2, 18], Conv1d<2>);
size!(U1d4, L1d4, [2, 18], Conv1d<4>);
size!(U1d8, L1d8, [2, 18], Conv1d<8>);
size!(U1d16, L1d16, [2, 18], Conv1d<16>);
size!(U2d1, L2d1, [1, 6, 6], Conv2d<1>);
size!(U2d2, L2d2, [1, 6, 6], Conv2d<2>);
size!(U2d4, L2d4, [1, 6, 6], Conv2d<4>);
size!(U2d8, L2d8, [1, 6, 6], Conv2d<8>);

/// Seeded inputs in [-1, 1] and targets in [-0.5, 0.5].
fn data<const I: usize>() -> (Vec<[f32; I]>, Vec<[f32; 1]>) {
    let mut rng = SplitMix64::new(0x5eed);
    let mut uniform = move || stackprop::rng::symmetric(&mut rng, 1.0) as f32;
    let xs: Vec<[f32; I]> = (0..SAMPLES).map(|_| core::array::from_fn(|_| uniform())).collect();
    let ts = xs.iter().map(|x| [x[0] * 0.5]).collect();
    (xs, ts)
}

/// Train step and inference of one form, named `emission`.
fn form<N, const I: usize, const P: usize>(group: &mut BenchmarkGroup<'_, WallTime>, emission: &str, macs: u64)
where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; 1], Params = [f32; P]>,
{
    let (xs, ts) = data::<I>();
    let mut net = N::from_params([0.0; P]);
    net.init_with(&mut SplitMix64::new(1));
    let mut opt = Sgd::<[f32; P]>::new(LR);
    group.throughput(Throughput::Elements(6 * macs));
    let mut i = 0;
    group.bench_function(format!("train_step/{emission}"), |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            net.train_step(black_box(&xs[i]), black_box(&ts[i]), &mut opt)
        });
    });
    group.throughput(Throughput::Elements(2 * macs));
    group.bench_function(format!("inference/{emission}"), |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            net.forward(black_box(&xs[i]))
        });
    });
}

/// One size: both forms in one group named `series/multiply-adds`.
fn sweep_size<U, L, const I: usize, const P: usize>(c: &mut Criterion, series: &str, macs: usize)
where
    U: Network<Scalar = f32, Input = [f32; I], Output = [f32; 1], Params = [f32; P]>,
    L: Network<Scalar = f32, Input = [f32; I], Output = [f32; 1], Params = [f32; P]>,
{
    let mut group = c.benchmark_group(format!("{series}/{macs}"));
    form::<U, I, P>(&mut group, "unrolled", macs as u64);
    form::<L, I, P>(&mut group, "kernels", macs as u64);
    group.finish();
}

fn sweep(c: &mut Criterion) {
    sweep_size::<U1d1, L1d1, 36, { U1d1::PARAMS }>(c, "1d", 96);
    sweep_size::<U1d2, L1d2, 36, { U1d2::PARAMS }>(c, "1d", 192);
    sweep_size::<U1d4, L1d4, 36, { U1d4::PARAMS }>(c, "1d", 384);
    sweep_size::<U1d8, L1d8, 36, { U1d8::PARAMS }>(c, "1d", 768);
    sweep_size::<U1d16, L1d16, 36, { U1d16::PARAMS }>(c, "1d", 1536);
    sweep_size::<U2d1, L2d1, 36, { U2d1::PARAMS }>(c, "2d", 144);
    sweep_size::<U2d2, L2d2, 36, { U2d2::PARAMS }>(c, "2d", 288);
    sweep_size::<U2d4, L2d4, 36, { U2d4::PARAMS }>(c, "2d", 576);
    sweep_size::<U2d8, L2d8, 36, { U2d8::PARAMS }>(c, "2d", 1152);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(1));
    targets = sweep
}
criterion_main!(benches);
