//! SGD, Adam, Levenberg–Marquardt and Hessian-free on one small regression: a 1-10-1 tanh network
//! fitting `0.5·sin(πx) + 0.3·x²` on 41 points of [−1, 1], from the same seed, full batch.
//! Prints, per trainer, the epochs and the wall-clock time to reach the target error
//! `E = ½·Σ(y − t)² < 1e-4` (at most 20 000 epochs), and writes the error curves to
//! `target/plots/second_order.svg`.
//!
//! Levenberg–Marquardt ([`stackprop::LevenbergMarquardt`], MATLAB's `trainlm`) solves
//! `(JᵀJ + μI)·Δ = −Jᵀe` each epoch from the generated parameter Jacobian; it takes far
//! fewer epochs, each dearer (a 31 × 31 Cholesky solve per trial), and never increases
//! the error. The Hessian-free trainer ([`stackprop::HessianFree`]) solves the damped
//! Newton system `(H + λI)·Δ = −g` by conjugate gradient on the exact Hessian-vector
//! product, for any loss; it needs no Jacobian and no `PARAMS²` memory, and on this
//! sum-of-squares problem takes more epochs and time than Levenberg–Marquardt, far fewer
//! than Adam.
//!
//! Run: `cargo run --release --example second_order`

mod common;

use std::process::ExitCode;
use std::time::Instant;

use common::{Chart, Scale, Series};
use plotters::chart::SeriesLabelPosition;
use stackprop::prelude::*;
use stackprop::{HessianFree, LevenbergMarquardt, Sgd};

/// x → 10 tanh units → y.
#[network(input = 1, loss = half_sse, scalar = f64)]
pub struct Fit {
    hidden: Dense<10, Tanh>,
    output: Dense<1, Identity>,
}

/// The error every trainer must get below.
const TARGET: f64 = 1e-4;
/// Epochs (full-batch passes) allowed.
const MAX_EPOCHS: usize = 20_000;
/// The seed of every trainer's initial weights.
const SEED: u64 = 1;

/// One trainer's result.
struct Run {
    name: &'static str,
    /// Error after each epoch.
    errors: Vec<f64>,
    /// Epoch at which the error first fell below [`TARGET`].
    reached: Option<usize>,
    seconds: f64,
}

fn data() -> (Vec<[f64; 1]>, Vec<[f64; 1]>) {
    let xs: Vec<[f64; 1]> = (0..41).map(|i| [-1.0 + 2.0 * f64::from(i) / 40.0]).collect();
    let ts = xs.iter().map(|x| [(std::f64::consts::PI * x[0]).sin() * 0.5 + 0.3 * x[0] * x[0]]).collect();
    (xs, ts)
}

/// Full-batch first-order training with `opt` until the target or the epoch limit.
fn first_order<O: Optimizer<[f64; Fit::PARAMS]>>(
    name: &'static str,
    mut opt: O,
    xs: &[[f64; 1]],
    ts: &[[f64; 1]],
) -> Run {
    let mut net = Fit::seeded(SEED);
    let mut grad = [0.0; Fit::PARAMS];
    let mut errors = Vec::new();
    let mut reached = None;
    let start = Instant::now();
    for epoch in 1..=MAX_EPOCHS {
        net.train_batch(xs, ts, &mut grad, &mut opt);
        let e = LevenbergMarquardt::<f64>::error(&net, xs, ts);
        errors.push(e);
        if e < TARGET {
            reached = Some(epoch);
            break;
        }
    }
    Run { name, errors, reached, seconds: start.elapsed().as_secs_f64() }
}

fn levenberg_marquardt(xs: &[[f64; 1]], ts: &[[f64; 1]]) -> Result<Run, stackprop::LmError> {
    let mut net = Fit::seeded(SEED);
    let mut lm = LevenbergMarquardt::new();
    let mut work = vec![0.0; LevenbergMarquardt::<f64>::workspace_len(xs.len(), Fit::OUTPUT, Fit::PARAMS)];
    let mut errors = Vec::new();
    let mut reached = None;
    let start = Instant::now();
    for epoch in 1..=MAX_EPOCHS {
        let r = lm.epoch(&mut net, xs, ts, &mut work)?;
        errors.push(r.error_after);
        if r.error_after < TARGET {
            reached = Some(epoch);
            break;
        }
        if lm.stopped() {
            break;
        }
    }
    Ok(Run { name: "Levenberg–Marquardt", errors, reached, seconds: start.elapsed().as_secs_f64() })
}

fn hessian_free(xs: &[[f64; 1]], ts: &[[f64; 1]]) -> Result<Run, stackprop::HfError> {
    let mut net = Fit::seeded(SEED);
    let mut hf = HessianFree::new();
    let mut work = vec![0.0; HessianFree::<f64>::workspace_len(Fit::PARAMS)];
    let mut scratch = [[0.0; Fit::PARAMS]; 2];
    let mut errors = Vec::new();
    let mut reached = None;
    let start = Instant::now();
    for epoch in 1..=MAX_EPOCHS {
        hf.epoch(&mut net, xs, ts, &mut work, &mut scratch)?;
        let e = LevenbergMarquardt::<f64>::error(&net, xs, ts);
        errors.push(e);
        if e < TARGET {
            reached = Some(epoch);
            break;
        }
        if hf.stopped() {
            break;
        }
    }
    Ok(Run { name: "Hessian-free (CG on H·v)", errors, reached, seconds: start.elapsed().as_secs_f64() })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (xs, ts) = data();
    let runs = [
        first_order("SGD (lr 0.05, momentum 0.9)", Sgd::new(0.05).momentum(0.9), &xs, &ts),
        first_order("Adam (lr 0.01)", Adam::new(0.01), &xs, &ts),
        levenberg_marquardt(&xs, &ts)?,
        hessian_free(&xs, &ts)?,
    ];
    println!("1-10-1 tanh on 41 points, seed {SEED}, target E = ½·Σ(y − t)² < {TARGET:e}\n");
    println!("{:<30} {:>8} {:>12} {:>12}", "trainer", "epochs", "time (ms)", "final E");
    for r in &runs {
        let epochs = r.reached.map_or_else(|| format!(">{}", r.errors.len()), |e| e.to_string());
        let last = r.errors.last().copied().unwrap_or(f64::NAN);
        println!("{:<30} {:>8} {:>12.2} {:>12.3e}", r.name, epochs, r.seconds * 1e3, last);
    }
    let series: Vec<Series> = runs.iter().map(|r| Series::per_epoch(r.name, &r.errors)).collect();
    let chart = Chart {
        title: "1-10-1 tanh regression: error per epoch",
        x_label: "epoch",
        y_label: "E = ½·Σ(y − t)²",
        y_scale: Scale::Log,
        legend: SeriesLabelPosition::UpperRight,
    };
    let plot = common::plot("second_order", &chart, &series)?;
    println!("\nerror curves written to {}", plot.display());
    Ok(())
}
