//! An amplifier model: a GRU of 16 units (one input sample, a linear output) learns a
//! synthetic "amplifier", a `tanh` overdrive behind a one-pole low-pass filter, so the
//! output at a sample depends on the past. It is trained with truncated backpropagation
//! through time on a long stream: windows of 16 samples, the state carried from one
//! window into the next (`train_window`), the loss on each window's last sample. Each
//! epoch starts the windows at another offset, so every sample is a window's last one
//! in some epoch.
//!
//! It then reports the error-to-signal ratio `ESR = Σ(y − ŷ)² / Σy²` on held-out audio
//! (other notes, another seed), running the trained model as a streaming effect: one
//! `step` per sample from the zero state, which gives the same numbers as `forward` on
//! the whole sequence. The time per sample it prints is a rough wall-clock figure of
//! that loop; `cargo bench --bench recurrent` measures the step properly.
//!
//! Run: `cargo run --release --example amp_model`

use std::time::Instant;

use stackprop::SplitMix64;
use stackprop::prelude::*;
use stackprop::schedule::{CosineAnnealingLr, Schedule};

/// Samples per second of the synthetic audio.
pub const RATE: f64 = 48_000.0;
/// Samples per training window.
pub const WINDOW: usize = 16;
/// Training audio, in samples (2 s).
pub const TRAIN: usize = 96_000;
/// Held-out audio, in samples (1 s).
pub const TEST: usize = 48_000;
/// Passes over the training stream.
pub const EPOCHS: usize = 32;
/// Adam's learning rate at the start, annealed (cosine) to 0 over the epochs.
pub const LR: f64 = 3e-3;
/// The amplifier's drive (gain before the `tanh`).
pub const DRIVE: f64 = 8.0;
/// The cut-off of the amplifier's one-pole low-pass filter, in Hz.
pub const CUTOFF: f64 = 800.0;

/// One sample in, the GRU's state after the window's samples, one sample out.
#[network(input = [16, 1], loss = mse)]
pub struct Amp {
    gru: Gru<16>,
    out: Dense<1, Identity>,
}

/// Plucked notes: every 0.1 s a new note (82–660 Hz, a second harmonic, a random level
/// between 0.05 and 1, decaying), and a little noise.
fn guitar(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut u = |a: f64, b: f64| a + (b - a) * (stackprop::rng::symmetric(&mut rng, 0.5) + 0.5);
    let note = (RATE * 0.1) as usize;
    let (mut f, mut level, mut phase) = (110.0, 0.5, 0.0);
    (0..n)
        .map(|i| {
            let t = (i % note) as f64 / RATE;
            if i % note == 0 {
                f = u(82.0, 660.0);
                level = u(0.05, 1.0);
            }
            phase += std::f64::consts::TAU * f / RATE;
            let env = level * (-t / 0.12).exp();
            let s = env * (phase.sin() + 0.3 * (2.0 * phase).sin()) / 1.3;
            (s + u(-0.005, 0.005)) as f32
        })
        .collect()
}

/// The amplifier: `tanh(DRIVE·x)`, then `y[n] = a·y[n−1] + (1 − a)·v[n]`.
fn amplifier(x: &[f32]) -> Vec<f32> {
    let a = (-std::f64::consts::TAU * CUTOFF / RATE).exp();
    let mut y = 0.0;
    x.iter()
        .map(|&x| {
            y = a * y + (1.0 - a) * (DRIVE * f64::from(x)).tanh();
            y as f32
        })
        .collect()
}

/// Runs `net` as a streaming effect over `x` from the zero state: the output per sample
/// and the wall-clock time of the loop.
fn stream(net: &Amp, x: &[f32]) -> (Vec<f32>, f64) {
    let mut state = Amp::new_state();
    let mut out = Vec::with_capacity(x.len());
    let start = Instant::now();
    for &s in x {
        out.push(net.step(&mut state, &[s])[0]);
    }
    (out, start.elapsed().as_secs_f64())
}

/// The error-to-signal ratio `Σ(y − ŷ)² / Σy²`.
fn esr(y: &[f32], yhat: &[f32]) -> f64 {
    let err: f64 = y.iter().zip(yhat).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    err / y.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>()
}

fn main() {
    let (x, y) = {
        let x = guitar(1, TRAIN);
        let y = amplifier(&x);
        (x, y)
    };
    let x_test = guitar(2, TEST);
    let y_test = amplifier(&x_test);
    let mut net = Amp::seeded(3);
    let mut adam = Adam::new(LR);
    println!("amplifier: tanh({DRIVE}·x), then a one-pole low-pass at {CUTOFF} Hz; {RATE} samples/s");
    println!(
        "GRU 1 → 16 → 1 ({} parameters), truncated BPTT over windows of {WINDOW} samples, Adam {LR} (cosine-annealed)",
        Amp::PARAMS
    );
    println!("held-out ESR of the untrained model: {:.4}", esr(&y_test, &stream(&net, &x_test).0));
    println!("held-out ESR of the dry signal (output = input): {:.4}", esr(&y_test, &x_test));
    let start = Instant::now();
    let schedule = CosineAnnealingLr::new(EPOCHS);
    for epoch in 0..EPOCHS {
        schedule.apply(&mut adam, epoch, LR);
        let offset = (epoch * 5) % WINDOW;
        let mut state = Amp::new_state();
        let (mut sum, mut windows) = (0.0, 0);
        for (w, win) in x[offset..].chunks_exact(WINDOW).enumerate() {
            let xw: &[f32; WINDOW] = win.try_into().expect("a whole window");
            let target = [y[offset + (w + 1) * WINDOW - 1]];
            sum += f64::from(net.train_window(&mut state, xw, &target, &mut adam));
            windows += 1;
        }
        if epoch % 4 == 3 || epoch == 0 {
            let (out, _) = stream(&net, &x_test);
            println!(
                "epoch {:>2}: training loss {:.2e}, held-out ESR {:.2e}",
                epoch + 1,
                sum / f64::from(windows),
                esr(&y_test, &out)
            );
        }
    }
    println!("training: {:.1} s", start.elapsed().as_secs_f64());
    let (out, secs) = stream(&net, &x_test);
    println!("held-out ESR after training: {:.2e}", esr(&y_test, &out));
    // The streaming effect again, longer, for a steadier time per sample.
    let mut total = secs;
    for _ in 0..9 {
        total += stream(&net, &x_test).1;
    }
    let samples = 10 * TEST;
    println!(
        "streaming: {:.0} ns per sample (wall clock over {samples} samples; {:.0}× faster than real time at {RATE} samples/s)",
        total / samples as f64 * 1e9,
        samples as f64 / RATE / total
    );
}
