//! Iris flowers with a 4-16-3 network (relu, softmax with cross-entropy), trained by
//! `fit`: standardized measurements, a seeded train/validation/test split, Adam with
//! mini-batches, and early stopping on the validation loss that puts back the best
//! epoch's parameters. Prints the metrics of every tenth epoch, the test accuracy and
//! the confusion matrix, and writes the loss curves to `target/plots/iris.svg`.
//!
//! Run: `cargo run --release --example iris`
//! Data: `data/iris.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use stackprop::data::{ConfusionMatrix, Split, Standardizer, argmax, load_csv};
use stackprop::optim::Adam;
use stackprop::prelude::*;
use stackprop::train::{Control, EarlyStopping, EpochMetrics, FitOptions, fit};

/// 4 measurements → 16 relu units → 3 class probabilities.
#[network(input = 4, loss = cross_entropy)]
pub struct Iris {
    hidden: Dense<16, Relu>,
    output: Dense<3, Softmax>,
}

fn main() -> ExitCode {
    match run() {
        Ok(accuracy) if accuracy >= 0.9 => ExitCode::SUCCESS,
        Ok(accuracy) => {
            eprintln!("test accuracy {accuracy:.4} is below 0.9");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<f64, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");
    let data = load_csv::<f32>(path, true)?;
    let mut parts = data.split(Split::Fractions { validation: 0.2, test: 0.2 }, 2)?;
    // Fitted on the training set only, so nothing of the held-out sets leaks into it.
    let scaler = Standardizer::fit(&parts.train)?;
    for part in [&mut parts.train, &mut parts.validation, &mut parts.test] {
        scaler.transform(part)?;
    }
    let classes = |d: &stackprop::Dataset<f32>| d.labels().iter().map(|&l| Class(l)).collect::<Vec<_>>();
    let (train_x, train_y) = (parts.train.rows::<4>()?, classes(&parts.train));
    let (val_x, val_y) = (parts.validation.rows::<4>()?, classes(&parts.validation));
    let (test_x, test_y) = (parts.test.rows::<4>()?, parts.test.labels().to_vec());
    println!(
        "{} training, {} validation, {} test flowers; {} parameters",
        train_x.len(),
        val_x.len(),
        test_x.len(),
        Iris::PARAMS
    );

    let mut net = Iris::seeded(1);
    let mut opt = Adam::new(0.01);
    println!("Adam (lr 0.01), batches of 16, early stopping with patience 20 and min_delta 1e-3");
    let options = FitOptions::new(500, 16)
        .seed(7)
        .validation(&val_x, &val_y)
        .early_stopping(EarlyStopping::new(20).min_delta(1e-3))
        .on_epoch(|m| {
            if m.epoch == 1 || m.epoch % 10 == 0 {
                print_epoch(m);
            }
            Control::Continue
        });
    let history = fit(&mut net, &mut opt, &train_x, &train_y, options)?;
    if let Some(last) = history.last().filter(|m| m.epoch % 10 != 0) {
        print_epoch(last);
    }
    let best = history.best().ok_or("no validation loss was recorded")?;
    println!(
        "stopped: {:?} after {} epochs; best validation loss {:.4} at epoch {}{}",
        history.stop_reason,
        history.epochs.len(),
        best.validation_loss.unwrap_or(f64::NAN),
        best.epoch,
        if history.restored_best { ", whose parameters were restored" } else { "" },
    );

    let predictions: Vec<usize> = test_x.iter().map(|x| argmax(&net.forward(x))).collect();
    let matrix = ConfusionMatrix::from_predictions(3, &predictions, &test_y)?.with_class_names(data.class_names())?;
    println!("\n{matrix}\n");
    let accuracy = matrix.accuracy().unwrap_or(0.0);
    println!("test accuracy {accuracy:.4}");
    let title = format!("Iris 4-16-3: cross-entropy (best epoch {})", best.epoch);
    let plot = common::plot_history("iris", &title, &history)?;
    println!("loss curves written to {}", plot.display());
    Ok(accuracy)
}

fn print_epoch(m: &EpochMetrics) {
    println!(
        "epoch {:>3}  train loss {:.4}  validation loss {:.4}  accuracy {:.3}  lr {}  {:.0} µs",
        m.epoch,
        m.train_loss,
        m.validation_loss.unwrap_or(f64::NAN),
        m.validation_accuracy.unwrap_or(f64::NAN),
        m.learning_rate,
        m.epoch_time.as_secs_f64() * 1e6,
    );
}
