//! Regression: a 1-16-16-1 network with tanh hidden layers and a linear output learns
//! sin(x) on [−π, π] from 512 random samples, with the mean squared error, Adam and a
//! cosine-annealed learning rate (stepped per epoch). Prints the error on an even grid
//! of 201 points, and writes the learned curve against the truth to
//! `target/plots/sine.svg` and the loss curve to `target/plots/sine_loss.svg`.
//!
//! Run: `cargo run --release --example sine`

mod common;

use std::f64::consts::PI;
use std::process::ExitCode;

use common::{Chart, Scale, Series};
use plotters::chart::SeriesLabelPosition;
use stackprop::optim::Adam;
use stackprop::prelude::*;
use stackprop::rng::{SplitMix64, symmetric};
use stackprop::schedule::CosineAnnealingLr;
use stackprop::train::{Control, FitOptions, ScheduleUnit, fit};

/// x/π → 16 tanh → 16 tanh → sin(x).
#[network(input = 1, loss = mse)]
pub struct Sine {
    hidden1: Dense<16, Tanh>,
    hidden2: Dense<16, Tanh>,
    output: Dense<1, Identity>,
}

const EPOCHS: usize = 400;

fn main() -> ExitCode {
    match run() {
        Ok(rmse) if rmse <= 0.02 => ExitCode::SUCCESS,
        Ok(rmse) => {
            eprintln!("root mean squared error {rmse:.4} is above 0.02");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The network's input for `x`: scaled to [−1, 1], where tanh units are not saturated.
fn input(x: f64) -> [f32; 1] {
    [(x / PI) as f32]
}

fn run() -> Result<f64, Box<dyn std::error::Error>> {
    let mut rng = SplitMix64::new(3);
    let xs: Vec<f64> = (0..512).map(|_| symmetric(&mut rng, PI)).collect();
    let train_x: Vec<[f32; 1]> = xs.iter().map(|&x| input(x)).collect();
    let train_y: Vec<[f32; 1]> = xs.iter().map(|&x| [x.sin() as f32]).collect();

    let mut net = Sine::seeded(1);
    let mut opt = Adam::new(0.01);
    println!("{} parameters; Adam (lr 0.01, cosine-annealed over {EPOCHS} epochs), batches of 32", Sine::PARAMS);
    let options = FitOptions::new(EPOCHS, 32)
        .seed(5)
        .schedule(CosineAnnealingLr::new(EPOCHS).eta_min(1e-4), ScheduleUnit::Epoch)
        .on_epoch(|m| {
            if m.epoch == 1 || m.epoch % 50 == 0 {
                println!("epoch {:>3}  mse {:.2e}  lr {:.2e}", m.epoch, m.train_loss, m.learning_rate);
            }
            Control::Continue
        });
    let history = fit(&mut net, &mut opt, &train_x, &train_y, options)?;
    println!("{} epochs in {:.2} s", history.epochs.len(), history.last().map_or(0.0, |m| m.elapsed.as_secs_f64()));

    let grid: Vec<f64> = (0..=200).map(|i| -PI + 2.0 * PI * i as f64 / 200.0).collect();
    let learned: Vec<(f64, f64)> = grid.iter().map(|&x| (x, f64::from(net.forward(&input(x))[0]))).collect();
    let truth: Vec<(f64, f64)> = grid.iter().map(|&x| (x, x.sin())).collect();
    let errors: Vec<f64> = learned.iter().map(|&(x, y)| (y - x.sin()).abs()).collect();
    let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    let max = errors.iter().copied().fold(0.0, f64::max);
    println!("on 201 grid points: root mean squared error {rmse:.4}, largest error {max:.4}");

    let chart = Chart {
        title: "sin(x) and the 1-16-16-1 network",
        x_label: "x",
        y_label: "y",
        y_scale: Scale::Linear,
        legend: SeriesLabelPosition::UpperLeft,
    };
    let curve =
        common::plot("sine", &chart, &[Series::new("sin(x)", truth).width(6), Series::new("network", learned)])?;
    let loss = common::plot_history("sine_loss", "Sine 1-16-16-1: mean squared error per epoch", &history)?;
    println!("plots written to {} and {}", curve.display(), loss.display());
    Ok(rmse)
}
