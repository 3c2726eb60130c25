//! Vanishing gradients, seen: the same deep network (8 hidden layers of 32 units) on the
//! 8×8 digits, once with sigmoid units (Glorot initialization) and once with relu units
//! (He initialization), same data, seeds, optimizer and epochs. `fit` collects the
//! gradient-flow diagnostics every epoch; the example prints the gradient norm of each
//! layer, the warnings `fit` returned, and the test accuracy of both, and draws the
//! gradient norms of the first and last hidden layers and of the output layer per epoch into
//! `target/plots/vanishing.svg`.
//!
//! Why: going down, each layer multiplies the error by its transposed weights and its
//! activation's derivative, `δₖ = (Wₖ₊₁ᵀ·δₖ₊₁) ⊙ f′(zₖ)`. A sigmoid's derivative is at most
//! 1/4, so eight sigmoid layers shrink it by at least 4⁸ ≈ 65 000 before the weights are
//! counted (Glorot's weights only partly make up for it); relu's derivative is 1 where the
//! unit is active, and He's initialization keeps the product of weights near 1.
//!
//! Run: `cargo run --release --example vanishing`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use plotters::chart::SeriesLabelPosition;
use stackprop::prelude::*;
use stackprop::train::{FitOptions, History, Thresholds, fit};

use common::{Chart, Scale, Series};

/// Passes over the training set.
pub const EPOCHS: usize = 20;
/// SGD's learning rate (momentum 0.9) for both networks.
pub const RATE: f64 = 0.01;

/// 64 pixels → 8 × 32 sigmoid units → 10 class probabilities.
#[network(input = 64, loss = cross_entropy, unroll = false)]
pub struct DeepSigmoid {
    h1: Dense<32, Sigmoid>,
    h2: Dense<32, Sigmoid>,
    h3: Dense<32, Sigmoid>,
    h4: Dense<32, Sigmoid>,
    h5: Dense<32, Sigmoid>,
    h6: Dense<32, Sigmoid>,
    h7: Dense<32, Sigmoid>,
    h8: Dense<32, Sigmoid>,
    output: Dense<10, Softmax>,
}

/// The same shape with relu units, He-initialized.
#[network(input = 64, loss = cross_entropy, unroll = false)]
pub struct DeepRelu {
    h1: Dense<32, Relu, init = he>,
    h2: Dense<32, Relu, init = he>,
    h3: Dense<32, Relu, init = he>,
    h4: Dense<32, Relu, init = he>,
    h5: Dense<32, Relu, init = he>,
    h6: Dense<32, Relu, init = he>,
    h7: Dense<32, Relu, init = he>,
    h8: Dense<32, Relu, init = he>,
    output: Dense<10, Softmax>,
}

/// The layers drawn in the plot.
pub const PLOTTED: [&str; 3] = ["h1", "h8", "output"];

/// What one of the two networks did.
pub struct Run {
    /// `sigmoid` or `relu`.
    pub name: &'static str,
    /// The fit's history, with a gradient-flow report per epoch.
    pub history: History,
    /// Test accuracy after the last epoch.
    pub accuracy: f64,
}

impl Run {
    /// The gradient RMS per parameter of `layer` over that of `output`, in the last epoch.
    #[must_use]
    pub fn ratio_to_output(&self, layer: &str) -> f64 {
        let last = self.history.diagnostics.last();
        let rms = |name| last.and_then(|d| d.layer(name)).and_then(|l| l.grad_rms).unwrap_or(f64::NAN);
        rms(layer) / rms("output")
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

/// Trains `net` with the settings both networks share; returns its run.
fn train<N, const P: usize>(
    name: &'static str,
    mut net: N,
    epochs: usize,
    train: (&[[f32; 64]], &[Class]),
    test: (&[[f32; 64]], &[Class]),
) -> Result<Run, Box<dyn std::error::Error>>
where
    N: Network<Scalar = f32, Input = [f32; 64], Params = [f32; P]>,
    Class: Target<N::Output>,
{
    let mut opt = Sgd::new(RATE).momentum(0.9);
    let options = FitOptions::new(epochs, 32).seed(3).validation(test.0, test.1).diagnostics(Thresholds::default());
    let history = fit(&mut net, &mut opt, train.0, train.1, options)?;
    let accuracy = history.last().and_then(|m| m.validation_accuracy).unwrap_or(0.0);
    Ok(Run { name, history, accuracy })
}

/// Trains both networks for `epochs`, prints what the diagnostics saw and (with `plot`)
/// writes the plot; returns the two runs, sigmoid first.
///
/// # Errors
/// If the data cannot be read or the plot written.
pub fn run(epochs: usize, plot: bool) -> Result<[Run; 2], Box<dyn std::error::Error>> {
    let ((train_x, train_y), (test_x, test_y)) = common::digits()?;
    let (tr, te) = ((&train_x[..], &train_y[..]), (&test_x[..], &test_y[..]));

    let runs = [
        train("sigmoid", DeepSigmoid::seeded(1), epochs, tr, te)?,
        train("relu", DeepRelu::seeded(1), epochs, tr, te)?,
    ];

    for r in &runs {
        println!("\n{} network: test accuracy {:.3} after {epochs} epochs", r.name, r.accuracy);
        if let Some(last) = r.history.diagnostics.last() {
            println!("  gradient norm per layer in the last epoch (and per weight, relative to `output`):");
            for l in &last.layers {
                println!(
                    "    {:<7} {:>10.3e}   {:>10.3e}",
                    l.name,
                    l.grad_norm.unwrap_or(f64::NAN),
                    r.ratio_to_output(l.name)
                );
            }
        }
        if r.history.warnings.is_empty() {
            println!("  no warning");
        }
        for w in &r.history.warnings {
            println!("  warning: {w}");
        }
    }

    if plot {
        let mut series = Vec::new();
        for r in &runs {
            for layer in PLOTTED {
                series.push(Series::per_epoch(format!("{} {layer}", r.name), &r.history.layer_grad_norms(layer)));
            }
        }
        let chart = Chart {
            title: "Gradient norm per layer and epoch: 8 sigmoid layers vs 8 relu layers",
            x_label: "epoch",
            y_label: "‖∂L/∂θ‖ of the layer (mean over batches)",
            y_scale: Scale::Log,
            legend: SeriesLabelPosition::MiddleLeft,
        };
        let path = common::plot("vanishing", &chart, &series)?;
        println!("\ngradient norms written to {}", path.display());
    }
    Ok(runs)
}
