//! Long memory: the adding problem (Hochreiter and Schmidhuber, 1997) for an Elman RNN, a
//! GRU and an LSTM, each with 16 hidden units and a linear output, at sequence lengths 10
//! and 50, from one seed, the same data and the same optimizer.
//!
//! Each step of a sequence is a pair `(value, marker)`: values are uniform in `[0, 1]`,
//! and exactly two steps are marked, one in each half. The target is the sum of the two
//! marked values. The model reads the whole sequence and answers from its last state, so
//! it must carry the first marked value across up to `T` steps. Always answering the mean
//! (1) scores the variance of the sum, 1/6 ≈ 0.167; a model that learned the task scores
//! far below. Training is backpropagation through all `T` steps.
//!
//! The example prints the held-out mean squared error per epoch and draws all six curves
//! into `target/plots/memory.svg`.
//!
//! Run: `cargo run --release --example memory`

mod common;

use std::process::ExitCode;

use plotters::chart::SeriesLabelPosition;
use stackprop::SplitMix64;
use stackprop::prelude::*;

use common::{Chart, Scale, Series};

/// Passes over the training sequences.
pub const EPOCHS: usize = 20;
/// Training sequences per length.
pub const TRAIN: usize = 2000;
/// Held-out sequences per length.
pub const TEST: usize = 500;
/// Sequences per Adam step.
pub const BATCH: usize = 16;
/// Adam's learning rate.
pub const RATE: f64 = 3e-3;
/// The seed of the data and of every network.
pub const SEED: u64 = 12;
/// Held-out error below which a model counts as having learned the task (a tenth of the
/// error of always answering the mean).
pub const LEARNED: f64 = 1.0 / 60.0;

macro_rules! model {
    ($name:ident, $steps:literal, $layer:ty) => {
        /// A recurrent layer of 16 units over the sequence, its last state into one output.
        #[network(input = [$steps, 2], loss = mse)]
        pub struct $name {
            rnn: $layer,
            out: Dense<1, Identity>,
        }
    };
}

model!(Rnn10, 10, Rnn<16>);
model!(Gru10, 10, Gru<16>);
model!(Lstm10, 10, Lstm<16>);
model!(Rnn50, 50, Rnn<16>);
model!(Gru50, 50, Gru<16>);
model!(Lstm50, 50, Lstm<16>);

/// `n` sequences of `T` steps and their targets.
fn adding<const N: usize>(rng: &mut SplitMix64, n: usize) -> (Vec<[f32; N]>, Vec<[f32; 1]>) {
    let steps = N / 2;
    let mut unit = || (stackprop::rng::symmetric(rng, 0.5) + 0.5) as f32;
    (0..n)
        .map(|_| {
            let mut x = [0.0; N];
            for t in 0..steps {
                x[2 * t] = unit();
            }
            let pick = |u: f32, lo: usize| lo + ((u * (steps / 2) as f32) as usize).min(steps / 2 - 1);
            let (a, b) = (pick(unit(), 0), pick(unit(), steps / 2));
            x[2 * a + 1] = 1.0;
            x[2 * b + 1] = 1.0;
            (x, [x[2 * a] + x[2 * b]])
        })
        .unzip()
}

/// One cell at one length: its held-out error per epoch.
pub struct Outcome {
    /// `GRU, T = 50`.
    pub name: String,
    /// Held-out mean squared error after each epoch.
    pub errors: Vec<f64>,
}

impl Outcome {
    /// The held-out error after the last epoch.
    #[must_use]
    pub fn last(&self) -> f64 {
        self.errors.last().copied().unwrap_or(f64::NAN)
    }
}

/// Trains `$net` (sequences of `$i` scalars) on the adding problem for `epochs`.
macro_rules! train {
    ($net:ty, $i:literal, $name:expr, $epochs:expr) => {{
        let mut rng = SplitMix64::new(SEED);
        let (xs, ts) = adding::<$i>(&mut rng, TRAIN);
        let (test_x, test_t) = adding::<$i>(&mut rng, TEST);
        let mut net = <$net>::seeded(SEED);
        let mut adam = Adam::new(RATE);
        let mut grad = [0.0; <$net>::PARAMS];
        let mut errors = Vec::with_capacity($epochs);
        for _ in 0..$epochs {
            for (x, t) in xs.chunks(BATCH).zip(ts.chunks(BATCH)) {
                net.train_batch(x, t, &mut grad, &mut adam);
            }
            errors.push(f64::from(net.mean_loss(&test_x, &test_t)));
        }
        Outcome { name: $name.to_owned(), errors }
    }};
}

/// Trains the six models for `epochs`, prints their curves and (with `plot`) draws them.
///
/// # Errors
/// If the plot cannot be written.
pub fn run(epochs: usize, plot: bool) -> Result<Vec<Outcome>, Box<dyn std::error::Error>> {
    let outcomes = vec![
        train!(Rnn10, 20, "RNN, T = 10", epochs),
        train!(Gru10, 20, "GRU, T = 10", epochs),
        train!(Lstm10, 20, "LSTM, T = 10", epochs),
        train!(Rnn50, 100, "RNN, T = 50", epochs),
        train!(Gru50, 100, "GRU, T = 50", epochs),
        train!(Lstm50, 100, "LSTM, T = 50", epochs),
    ];
    if plot {
        let series: Vec<Series> = outcomes.iter().map(|o| Series::per_epoch(&o.name, &o.errors)).collect();
        let chart = Chart {
            title: "The adding problem: held-out mean squared error",
            x_label: "epoch",
            y_label: "MSE",
            y_scale: Scale::Log,
            legend: SeriesLabelPosition::LowerLeft,
        };
        let path = common::plot("memory", &chart, &series)?;
        println!("plot: {}", path.display());
    }
    Ok(outcomes)
}

fn main() -> ExitCode {
    match run(EPOCHS, true) {
        Ok(outcomes) => {
            println!("held-out MSE per epoch (always answering the mean scores 0.167):");
            for o in &outcomes {
                let curve: Vec<String> = o.errors.iter().map(|e| format!("{e:.4}")).collect();
                let verdict = if o.last() < LEARNED { "learned" } else { "not learned" };
                println!("{:<13} {verdict:<11} {}", o.name, curve.join(" "));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
