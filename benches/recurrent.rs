//! Recurrent networks, f32: the streaming step (one sample per call) of generated GRU and
//! LSTM models, and the training step by backpropagation through time against the dynamic
//! reference network.
//!
//! | group | spec | measured |
//! |---|---|---|
//! | `recurrent_step` | input 1 → `Gru<H>` or `Lstm<H>` → `Dense<1, Identity>`, H = 8, 16, 32, 64 | one `step` (the state carried from call to call), generated only: the dynamic network has no streaming API |
//! | `recurrent_bptt` | the same networks on sequences of 32 steps, `mse` | one `train_batch` of 16 sequences with plain SGD: generated vs dynamic |
//!
//! Inputs cycle through seeded sequences in [-1, 1]; the learning rate is small so the
//! weights stay in a normal range over many steps.
//!
//! Run: `cargo bench --bench recurrent` (add `-- recurrent_step` for one group); see
//! `benches/RESULTS.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::SplitMix64;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss, RecurrentCell};
use stackprop::prelude::*;

/// Steps per training sequence.
const T: usize = 32;
/// Sequences per training step.
const BATCH: usize = 16;
/// Sequences the training benchmark cycles through (a multiple of the batch).
const SAMPLES: usize = 64;
/// Samples the streaming benchmark cycles through.
const STREAM: usize = 4096;
const LR: f64 = 1e-3;

macro_rules! model {
    ($name:ident, $cell:ident, $h:literal) => {
        #[network(input = [32, 1], loss = mse)]
        pub struct $name {
            rnn: $cell<$h>,
            out: Dense<1, Identity>,
        }
    };
}

model!(Gru8, Gru, 8);
model!(Gru16, Gru, 16);
model!(Gru32, Gru, 32);
model!(Gru64, Gru, 64);
model!(Lstm8, Lstm, 8);
model!(Lstm16, Lstm, 16);
model!(Lstm32, Lstm, 32);
model!(Lstm64, Lstm, 64);

fn signal(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| stackprop::rng::symmetric(&mut rng, 1.0) as f32).collect()
}

fn bench_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("recurrent_step");
    let xs = signal(1, STREAM);
    macro_rules! step {
        ($net:ident, $label:literal) => {{
            let net = $net::seeded(1);
            let mut state = $net::new_state();
            let mut i = 0;
            group.bench_function($label, |b| {
                b.iter(|| {
                    i = (i + 1) % STREAM;
                    black_box(net.step(&mut state, &[black_box(xs[i])]))
                })
            });
        }};
    }
    step!(Gru8, "gru_8");
    step!(Gru16, "gru_16");
    step!(Gru32, "gru_32");
    step!(Gru64, "gru_64");
    step!(Lstm8, "lstm_8");
    step!(Lstm16, "lstm_16");
    step!(Lstm32, "lstm_32");
    step!(Lstm64, "lstm_64");
    group.finish();
}

fn bench_bptt(c: &mut Criterion) {
    let mut group = c.benchmark_group("recurrent_bptt");
    let xs_flat = signal(2, SAMPLES * T);
    let ts_flat = signal(3, SAMPLES);
    let xs: Vec<[f32; T]> = xs_flat.chunks_exact(T).map(|c| c.try_into().expect("T steps")).collect();
    let ts: Vec<[f32; 1]> = ts_flat.iter().map(|&t| [t]).collect();
    macro_rules! bptt {
        ($net:ident, $cell:expr, $h:literal, $label:literal) => {{
            let mut net = $net::seeded(1);
            let mut grad = [0.0; $net::PARAMS];
            let mut sgd = Sgd::new(LR);
            let mut k = 0;
            group.bench_function(concat!($label, "/generated"), |b| {
                b.iter(|| {
                    k = (k + BATCH) % SAMPLES;
                    black_box(net.train_batch(&xs[k..k + BATCH], &ts[k..k + BATCH], &mut grad, &mut sgd))
                })
            });
            let layers = [LayerSpec::recurrent($cell, $h), LayerSpec::dense(1, Activation::Identity)];
            let mut dynamic = DynamicNet::<f32>::seeded_with_shape(&[T, 1], &layers, Loss::Mse, 1).expect("valid");
            let mut sgd = Sgd::<Vec<f32>>::new(LR);
            let mut k = 0;
            group.bench_function(concat!($label, "/dynamic"), |b| {
                b.iter(|| {
                    k = (k + BATCH) % SAMPLES;
                    black_box(dynamic.train_batch(&xs_flat[k * T..(k + BATCH) * T], &ts_flat[k..k + BATCH], &mut sgd))
                })
            });
        }};
    }
    bptt!(Gru16, RecurrentCell::Gru, 16, "gru_16");
    bptt!(Gru64, RecurrentCell::Gru, 64, "gru_64");
    bptt!(Lstm16, RecurrentCell::Lstm, 16, "lstm_16");
    bptt!(Lstm64, RecurrentCell::Lstm, 64, "lstm_64");
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_step, bench_bptt
}
criterion_main!(benches);
