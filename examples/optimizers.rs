//! Every optimizer of the runtime on one task: the 64-32-10 digits network (relu,
//! softmax with cross-entropy, as in the `digits` example), from the same initial
//! weights and the same batches, for the same number of passes over the data. Prints a
//! table of the final training loss and the test accuracy, and writes all loss curves to
//! `target/plots/optimizers.svg`.
//!
//! The learning rates are chosen for this task, not tuned per optimizer to the last
//! digit: each is the one named in the table, usually torch's default or a round value
//! near it. Rprop only works on full batches (it adapts each step size to whether the
//! gradient's sign held, which mini-batch noise keeps flipping), so it takes one step per
//! epoch where the others take 45.
//!
//! Run: `cargo run --release --example optimizers`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use common::{Chart, Scale, Series};
use plotters::chart::SeriesLabelPosition;
use stackprop::data::{Split, Standardizer, argmax, load_csv};
use stackprop::optim::{Adadelta, Adagrad, Adam, AdamW, Adamax, Lion, NAdam, RAdam, RmsProp, Rprop, Sgd};
use stackprop::prelude::*;
use stackprop::train::{FitOptions, History, fit};

/// 64 pixels → 32 relu units → 10 class probabilities.
#[network(input = 64, loss = cross_entropy)]
pub struct Digits {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

/// Passes over the training set, for every optimizer.
const EPOCHS: usize = 30;
/// Samples per mini-batch.
const BATCH: usize = 32;

/// The prepared data, shared by every run.
struct Data {
    train_x: Vec<[f32; 64]>,
    train_y: Vec<Class>,
    test_x: Vec<[f32; 64]>,
    test_y: Vec<usize>,
}

/// One optimizer's result.
struct Run {
    name: &'static str,
    settings: &'static str,
    epochs: usize,
    batch: usize,
    history: History,
    train_loss: f32,
    test_accuracy: f64,
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
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");
    let data = load_csv::<f32>(path, false)?;
    let mut parts = data.split(Split::Fractions { validation: 0.0, test: 0.2 }, 42)?;
    let scaler = Standardizer::fit(&parts.train)?;
    scaler.transform(&mut parts.train)?;
    scaler.transform(&mut parts.test)?;
    let data = Data {
        train_x: parts.train.rows::<64>()?,
        train_y: parts.train.labels().iter().map(|&l| Class(l)).collect(),
        test_x: parts.test.rows::<64>()?,
        test_y: parts.test.labels().to_vec(),
    };
    println!(
        "{} training and {} test images; every run starts from the same weights (seed 1)\n",
        data.train_x.len(),
        data.test_x.len()
    );

    let full = data.train_x.len();
    let runs = vec![
        train(&data, "SGD", "lr 0.1", Sgd::new(0.1), EPOCHS, BATCH)?,
        train(&data, "SGD + momentum", "lr 0.05, momentum 0.9", Sgd::new(0.05).momentum(0.9), EPOCHS, BATCH)?,
        train(&data, "Adam", "lr 1e-3", Adam::new(1e-3), EPOCHS, BATCH)?,
        train(&data, "AdamW", "lr 1e-3, weight decay 1e-2", AdamW::new(1e-3).weight_decay(1e-2), EPOCHS, BATCH)?,
        train(&data, "NAdam", "lr 2e-3", NAdam::new(2e-3), EPOCHS, BATCH)?,
        train(&data, "RAdam", "lr 1e-3", RAdam::new(1e-3), EPOCHS, BATCH)?,
        train(&data, "Adamax", "lr 2e-3", Adamax::new(2e-3), EPOCHS, BATCH)?,
        train(&data, "RMSprop", "lr 1e-3", RmsProp::new(1e-3), EPOCHS, BATCH)?,
        train(&data, "Adagrad", "lr 0.05", Adagrad::new(0.05), EPOCHS, BATCH)?,
        train(&data, "Adadelta", "lr 1.0", Adadelta::new(1.0), EPOCHS, BATCH)?,
        train(&data, "Lion", "lr 3e-4 (Adam's / 3)", Lion::new(3e-4), EPOCHS, BATCH)?,
        train(&data, "Rprop", "lr 1e-2, full batch", Rprop::new(1e-2), EPOCHS, full)?,
    ];

    println!(
        "{:<15} {:<28} {:>6} {:>6} {:>6} {:>11} {:>9} {:>8}",
        "optimizer", "settings", "epochs", "batch", "steps", "train loss", "test acc", "time"
    );
    for r in &runs {
        let last = r.history.last().ok_or("a run trained no epoch")?;
        println!(
            "{:<15} {:<28} {:>6} {:>6} {:>6} {:>11.2e} {:>9.4} {:>6.0}ms",
            r.name,
            r.settings,
            r.epochs,
            r.batch,
            last.steps,
            r.train_loss,
            r.test_accuracy,
            last.elapsed.as_secs_f64() * 1e3,
        );
    }
    println!("\n(train loss: mean cross-entropy over the training set after the last epoch)");

    let series: Vec<Series> = runs.iter().map(|r| Series::per_epoch(r.name, &r.history.train_losses())).collect();
    let chart = Chart {
        title: "Digits 64-32-10: training loss per epoch, by optimizer",
        x_label: "epoch (pass over the training set)",
        y_label: "cross-entropy",
        y_scale: Scale::Log,
        legend: SeriesLabelPosition::LowerLeft,
    };
    let plot = common::plot("optimizers", &chart, &series)?;
    println!("loss curves written to {}", plot.display());
    Ok(())
}

/// Trains a fresh network with `opt` and scores it.
fn train<O: Optimizer<[f32; Digits::PARAMS]> + Clone>(
    data: &Data,
    name: &'static str,
    settings: &'static str,
    mut opt: O,
    epochs: usize,
    batch: usize,
) -> Result<Run, Box<dyn std::error::Error>> {
    let mut net = Digits::seeded(1);
    let options = FitOptions::new(epochs, batch).seed(7);
    let history = fit(&mut net, &mut opt, &data.train_x, &data.train_y, options)?;
    let correct = data.test_x.iter().zip(&data.test_y).filter(|(x, l)| argmax(&net.forward(x)) == **l).count();
    Ok(Run {
        name,
        settings,
        epochs,
        batch,
        history,
        train_loss: net.mean_loss(&data.train_x, &data.train_y),
        test_accuracy: correct as f64 / data.test_y.len() as f64,
    })
}
