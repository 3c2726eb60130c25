//! Breast cancer diagnosis with a 30-16-1 network: a sigmoid output read as the
//! probability of "benign", trained with binary cross-entropy by `fit` on standardized
//! features, with early stopping on a validation set. Prints the test accuracy and the
//! confusion matrix, and writes the loss curves to `target/plots/breast_cancer.svg`.
//!
//! Run: `cargo run --release --example breast_cancer`
//! Data: `data/breast_cancer.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use stackprop::data::{ConfusionMatrix, Split, Standardizer, load_csv};
use stackprop::optim::Adam;
use stackprop::prelude::*;
use stackprop::train::{Control, EarlyStopping, FitOptions, fit, predicted_class};

/// 30 cell-nucleus measurements → 16 relu units → P(benign).
#[network(input = 30, loss = binary_cross_entropy)]
pub struct Diagnosis {
    hidden: Dense<16, Relu>,
    output: Dense<1, Sigmoid>,
}

fn main() -> ExitCode {
    match run() {
        Ok(accuracy) if accuracy >= 0.93 => ExitCode::SUCCESS,
        Ok(accuracy) => {
            eprintln!("test accuracy {accuracy:.4} is below 0.93");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<f64, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv");
    let data = load_csv::<f32>(path, true)?;
    let mut parts = data.split(Split::Fractions { validation: 0.15, test: 0.2 }, 3)?;
    let scaler = Standardizer::fit(&parts.train)?;
    for part in [&mut parts.train, &mut parts.validation, &mut parts.test] {
        scaler.transform(part)?;
    }
    // One output: the target is the label itself, 0 (malignant) or 1 (benign).
    let targets = |d: &stackprop::Dataset<f32>| d.labels().iter().map(|&l| [l as f32]).collect::<Vec<_>>();
    let (train_x, train_y) = (parts.train.rows::<30>()?, targets(&parts.train));
    let (val_x, val_y) = (parts.validation.rows::<30>()?, targets(&parts.validation));
    let (test_x, test_y) = (parts.test.rows::<30>()?, parts.test.labels().to_vec());
    println!(
        "{} training, {} validation, {} test samples; {} parameters",
        train_x.len(),
        val_x.len(),
        test_x.len(),
        Diagnosis::PARAMS
    );

    let mut net = Diagnosis::seeded(1);
    let mut opt = Adam::new(3e-3);
    println!("Adam (lr 3e-3), batches of 32, early stopping with patience 15");
    let options = FitOptions::new(300, 32)
        .seed(7)
        .validation(&val_x, &val_y)
        .early_stopping(EarlyStopping::new(15).min_delta(1e-4))
        .on_epoch(|m| {
            if m.epoch == 1 || m.epoch % 10 == 0 {
                println!(
                    "epoch {:>3}  train loss {:.4}  validation loss {:.4}  accuracy {:.3}",
                    m.epoch,
                    m.train_loss,
                    m.validation_loss.unwrap_or(f64::NAN),
                    // A 0/1 target of a single output counts as a class (P ≥ ½ is class 1).
                    m.validation_accuracy.unwrap_or(f64::NAN),
                );
            }
            Control::Continue
        });
    let history = fit(&mut net, &mut opt, &train_x, &train_y, options)?;
    let best = history.best().ok_or("no validation loss was recorded")?;
    println!(
        "stopped: {:?} after {} epochs; parameters of epoch {} (validation loss {:.4}){}",
        history.stop_reason,
        history.epochs.len(),
        best.epoch,
        best.validation_loss.unwrap_or(f64::NAN),
        if history.restored_best { " restored" } else { "" },
    );

    let predictions: Vec<usize> = test_x.iter().map(|x| predicted_class(&net.forward(x))).collect();
    let matrix = ConfusionMatrix::from_predictions(2, &predictions, &test_y)?.with_class_names(data.class_names())?;
    println!("\n{matrix}\n");
    let accuracy = matrix.accuracy().unwrap_or(0.0);
    println!("test accuracy {accuracy:.4}");
    let title = format!("Breast cancer 30-16-1: binary cross-entropy (best epoch {})", best.epoch);
    let plot = common::plot_history("breast_cancer", &title, &history)?;
    println!("loss curves written to {}", plot.display());
    Ok(accuracy)
}
