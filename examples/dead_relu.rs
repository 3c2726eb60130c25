//! Dying relu units, seen: a relu network on the 8×8 digits trained with a learning rate
//! that is too high, beside the two usual fixes — the same network with a lower rate,
//! and the same rate with leaky relu units. `fit` collects the gradient-flow diagnostics
//! every epoch; the example prints, epoch by epoch and side by side, the fraction of dead
//! units (output 0 for every training sample of the epoch) and the training loss, then
//! the warnings `fit` returned and the test accuracies, and draws the dead fraction of
//! `hidden2` in both relu runs into `target/plots/dead_relu.svg`.
//!
//! Why: `relu′(z) = 0` for `z ≤ 0`. One step that is too large can push a unit's weights
//! and bias so far that its pre-activation is negative for every input; from then on no
//! gradient reaches it and it never comes back. A smaller step does not overshoot;
//! leaky relu's slope below 0 keeps a gradient flowing (`LeakyRelu′ = 0.01` there), so
//! its units cannot die.
//!
//! Run: `cargo run --release --example dead_relu`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use plotters::chart::SeriesLabelPosition;
use stackprop::prelude::*;
use stackprop::train::{FitOptions, History, Thresholds, fit};

use common::{Chart, Scale, Series};

/// Passes over the training set.
pub const EPOCHS: usize = 15;
/// The learning rate that is too high.
pub const HIGH_RATE: f64 = 0.05;
/// The lower rate of the first fix.
pub const LOW_RATE: f64 = 0.001;

/// 64 pixels → 64 relu units → 64 relu units → 10 class probabilities.
#[network(input = 64, loss = cross_entropy, unroll = false)]
pub struct ReluNet {
    hidden1: Dense<64, Relu>,
    hidden2: Dense<64, Relu>,
    output: Dense<10, Softmax>,
}

/// The same with leaky relu units (slope 0.01 below 0).
#[network(input = 64, loss = cross_entropy, unroll = false)]
pub struct LeakyNet {
    hidden1: Dense<64, LeakyRelu>,
    hidden2: Dense<64, LeakyRelu>,
    output: Dense<10, Softmax>,
}

/// What one configuration did.
pub struct Run {
    /// What was trained, for the tables.
    pub name: String,
    /// The fit's history, with a gradient-flow report per epoch.
    pub history: History,
    /// Test accuracy after the last epoch.
    pub accuracy: f64,
}

impl Run {
    /// The fraction of dead units of `layer` in every epoch (empty for leaky relu, whose
    /// units cannot die).
    #[must_use]
    pub fn dead(&self, layer: &str) -> Vec<f64> {
        self.history.diagnostics.iter().filter_map(|d| d.layer(layer)?.dead).collect()
    }
}

fn main() -> ExitCode {
    match run(EPOCHS, true) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Trains `net` with Adam at `lr`, the rest shared by all runs.
fn train<N, const P: usize>(
    name: String,
    mut net: N,
    lr: f64,
    epochs: usize,
    train: (&[[f32; 64]], &[Class]),
    test: (&[[f32; 64]], &[Class]),
) -> Result<Run, Box<dyn std::error::Error>>
where
    N: Network<Scalar = f32, Input = [f32; 64], Params = [f32; P]>,
    Class: Target<N::Output>,
{
    let mut opt = Adam::new(lr);
    let options = FitOptions::new(epochs, 32).seed(3).validation(test.0, test.1).diagnostics(Thresholds::default());
    let history = fit(&mut net, &mut opt, train.0, train.1, options)?;
    let accuracy = history.last().and_then(|m| m.validation_accuracy).unwrap_or(0.0);
    Ok(Run { name, history, accuracy })
}

/// Trains the three configurations for `epochs`, prints them side by side and (with
/// `plot`) writes the plot; returns the runs: too high a rate, lower rate, leaky relu.
///
/// # Errors
/// If the data cannot be read or the plot written.
pub fn run(epochs: usize, plot: bool) -> Result<[Run; 3], Box<dyn std::error::Error>> {
    let ((train_x, train_y), (test_x, test_y)) = common::digits()?;
    let (tr, te) = ((&train_x[..], &train_y[..]), (&test_x[..], &test_y[..]));

    let runs = [
        train(format!("relu, rate {HIGH_RATE}"), ReluNet::seeded(1), HIGH_RATE, epochs, tr, te)?,
        train(format!("relu, rate {LOW_RATE}"), ReluNet::seeded(1), LOW_RATE, epochs, tr, te)?,
        train(format!("leaky relu, rate {HIGH_RATE}"), LeakyNet::seeded(1), HIGH_RATE, epochs, tr, te)?,
    ];

    println!("dead units of `hidden1` / `hidden2` (output 0 for every sample of the epoch), and training loss");
    println!("epoch  {:<28}{:<28}{:<28}", runs[0].name, runs[1].name, runs[2].name);
    for e in 0..epochs {
        let mut line = format!("{:>5}  ", e + 1);
        for r in &runs {
            let loss = r.history.epochs.get(e).map_or(f64::NAN, |m| m.train_loss);
            let cell = match (r.dead("hidden1").get(e), r.dead("hidden2").get(e)) {
                (Some(a), Some(b)) => format!("{:>3.0}% / {:>3.0}%  loss {loss:.3}", a * 100.0, b * 100.0),
                _ => format!("cannot die   loss {loss:.3}"),
            };
            line += &format!("{cell:<28}");
        }
        println!("{line}");
    }
    for r in &runs {
        println!("\n{}: test accuracy {:.3}", r.name, r.accuracy);
        if r.history.warnings.is_empty() {
            println!("  no warning");
        }
        for w in &r.history.warnings {
            println!("  warning: {w}");
        }
    }

    if plot {
        // `hidden1` keeps all its units in both runs (see the table): its lines would lie
        // under the second run's at 0.
        let series: Vec<Series> =
            runs[..2].iter().map(|r| Series::per_epoch(format!("{}: hidden2", r.name), &r.dead("hidden2"))).collect();
        let chart = Chart {
            title: "Dead relu units of hidden2 per epoch: too high a learning rate vs a lower one",
            x_label: "epoch",
            y_label: "fraction of dead units",
            y_scale: Scale::Linear,
            legend: SeriesLabelPosition::UpperLeft,
        };
        let path = common::plot("dead_relu", &chart, &series)?;
        println!("\ndead fraction of `hidden2` drawn in {}", path.display());
    }
    Ok(runs)
}
