//! This machine's single-core FP32 peak, measured: independent multiply-add chains that
//! keep every floating-point pipe busy, so the time is bound by arithmetic throughput
//! alone (no memory traffic, no dependency stalls).
//!
//! - `mul_add/separate`: multiplies and adds as separate instructions (1 FLOP each per
//!   lane), what code compiled without FMA (the default `x86_64` target) runs: six
//!   chains of `x ← x·a` and six of `x ← x + b`, independent, so multiplies and adds
//!   issue on every pipe that takes them.
//! - `mul_add/fused`: twelve chains of `x ← x·a + b` with [`f32::mul_add`] (2 FLOPs per
//!   lane), compiled only when the target has
//!   FMA (`-C target-cpu=native` here); without it `mul_add` is a slow library call.
//!
//! The vector width follows the target: 4 lanes (SSE2, the default `x86_64` target),
//! 8 lanes (AVX) or 16 (AVX-512; LLVM may still split them into two 256-bit halves, as
//! it prefers 256-bit vectors on such cores). Twelve chains of one vector each cover the
//! 3–4 cycle latency of two pipes per operation. The chains are written out one
//! statement each: a loop over them lets LLVM's vectorizer run across chains with
//! gathers and scatters on AVX-512 targets, which measures those instead of arithmetic.
//! Criterion reports the rate as elements per second; one element is one FLOP.
//!
//! Run: `cargo bench --bench peak`, and
//! `RUSTFLAGS="-C target-cpu=native" cargo bench --bench peak`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Lanes of one vector register of `f32` on the target.
const LANES: usize = if cfg!(target_feature = "avx512f") {
    16
} else if cfg!(target_feature = "avx") {
    8
} else {
    4
};
/// Independent dependency chains, one vector register each.
const CHAINS: usize = 12;
/// Iterations of the chain loop per benchmark iteration.
const ROUNDS: usize = 4096;
/// FLOPs per benchmark iteration of `separate`: one per lane, chain and round.
const FLOPS_SEPARATE: u64 = (LANES * CHAINS * ROUNDS) as u64;
/// FLOPs per benchmark iteration of `fused`: a multiply and an add per lane, chain and round.
#[cfg(target_feature = "fma")]
const FLOPS_FUSED: u64 = (2 * LANES * CHAINS * ROUNDS) as u64;

/// Applies `$op` to every lane of each of the twelve chains, one statement per chain.
macro_rules! chains {
    ($x:ident, |$v:ident| $op:expr) => {
        chains!(@each $x, $v, $op, 0 1 2 3 4 5 6 7 8 9 10 11)
    };
    ($x:ident, [$($c:literal)*], |$v:ident| $op:expr) => {
        chains!(@each $x, $v, $op, $($c)*)
    };
    (@each $x:ident, $v:ident, $op:expr, $($c:literal)*) => {
        $(for $v in $x[$c].iter_mut() {
            $op;
        })*
    };
}

/// `x ← x·a` on every lane of chains 0–5 and `x ← x + b` on chains 6–11, `ROUNDS`
/// times. Called with `a = 1`, `b = 0` (opaque to the compiler), so values stay normal
/// numbers (subnormals would be slow).
#[inline(never)]
fn separate(acc: &mut [[f32; LANES]; CHAINS], a: f32, b: f32) {
    let mut x = *acc;
    for _ in 0..ROUNDS {
        chains!(x, [0 1 2 3 4 5], |v| *v *= a);
        chains!(x, [6 7 8 9 10 11], |v| *v += b);
    }
    *acc = x;
}

/// `x ← x·a + b` on every lane of every chain, `ROUNDS` times, one fused multiply-add
/// per lane. With `a = 0.5`, `b = 1` every value tends to 2 and stays a normal number.
#[cfg(target_feature = "fma")]
#[inline(never)]
fn fused(acc: &mut [[f32; LANES]; CHAINS], a: f32, b: f32) {
    let mut x = *acc;
    for _ in 0..ROUNDS {
        chains!(x, |v| *v = v.mul_add(a, b));
    }
    *acc = x;
}

fn peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("fp32_peak");
    group.throughput(Throughput::Elements(FLOPS_SEPARATE));
    let mut acc = [[1.0_f32; LANES]; CHAINS];
    group.bench_function(format!("mul_add/separate/{LANES}_lanes"), |bench| {
        bench.iter(|| separate(black_box(&mut acc), black_box(1.0), black_box(0.0)));
    });
    #[cfg(target_feature = "fma")]
    group.throughput(Throughput::Elements(FLOPS_FUSED));
    #[cfg(target_feature = "fma")]
    group.bench_function(format!("mul_add/fused/{LANES}_lanes"), |bench| {
        bench.iter(|| fused(black_box(&mut acc), black_box(0.5), black_box(1.0)));
    });
    black_box(acc);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(2));
    targets = peak
}
criterion_main!(benches);
