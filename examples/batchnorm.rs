//! The digits network with and without batch normalization: the same 64-32-10 relu
//! network, the same seed, optimizer and mini-batches, once plain and once with a
//! `BatchNorm` after the hidden layer (Linear → ReLU → BatchNorm). Prints the test
//! accuracy per epoch, the epochs each needs to reach 97% test accuracy and the final
//! accuracy, and plots both training-loss curves to `target/plots/batchnorm.svg`.
//!
//! The batch-normalized network trains on whole mini-batches (`train_batch` with a
//! workspace of `BATCH_ROW` scalars per sample, exact batch statistics) and is evaluated
//! with `forward`, which uses the running statistics.
//!
//! Run: `cargo run --release --example batchnorm`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use plotters::chart::SeriesLabelPosition;
use stackprop::data::{MiniBatches, argmax};
use stackprop::prelude::*;

use common::{Chart, Scale, Series};

/// 64 pixels → 32 relu units → 10 class probabilities.
#[network(input = 64, loss = cross_entropy)]
pub struct Plain {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

/// The same with batch normalization of the hidden layer's outputs.
#[network(input = 64, loss = cross_entropy)]
pub struct Normalized {
    hidden: Dense<32, Relu>,
    norm: BatchNorm,
    output: Dense<10, Softmax>,
}

const EPOCHS: usize = 30;
const BATCH: usize = 32;
const TARGET: f64 = 0.97;

fn main() -> ExitCode {
    match run() {
        Ok((plain, normalized)) if plain >= 0.95 && normalized >= 0.95 => ExitCode::SUCCESS,
        Ok((plain, normalized)) => {
            eprintln!("test accuracy {plain:.4} (plain) or {normalized:.4} (batch norm) is below 0.95");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One run's per-epoch training loss and test accuracy.
struct Curve {
    loss: Vec<f64>,
    accuracy: Vec<f64>,
}

impl Curve {
    fn epochs_to(&self, target: f64) -> Option<usize> {
        self.accuracy.iter().position(|&a| a >= target).map(|e| e + 1)
    }
}

/// Trains both networks, prints and plots; returns their final test accuracies.
pub fn run() -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let ((train_x, train_y), (test_x, test_y)) = common::digits()?;
    println!("{} training and {} test images", train_x.len(), test_x.len());
    let accuracy = |f: &dyn Fn(&[f32; 64]) -> [f32; 10]| {
        let correct = test_x.iter().zip(&test_y).filter(|(x, c)| argmax(&f(x)) == c.0).count();
        correct as f64 / test_x.len() as f64
    };

    let mut plain = Plain::seeded(1);
    let mut normalized = Normalized::seeded(1);
    let mut plain_opt = Sgd::new(0.05).momentum(0.9);
    let mut norm_opt = Sgd::new(0.05).momentum(0.9);
    let mut plain_grad = [0.0; Plain::PARAMS];
    let mut norm_grad = [0.0; Normalized::PARAMS];
    let mut ws = vec![[0.0; Normalized::BATCH_ROW]; BATCH];
    let mut batches = MiniBatches::new(train_x.len(), BATCH, 7)?;
    let (mut xs, mut ts) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    let mut curves =
        [Curve { loss: Vec::new(), accuracy: Vec::new() }, Curve { loss: Vec::new(), accuracy: Vec::new() }];
    println!("epoch   plain: loss  accuracy   batch norm: loss  accuracy");
    for epoch in 1..=EPOCHS {
        let (mut sums, mut count) = ([0.0f64; 2], 0usize);
        for batch in batches.epoch() {
            // Batch statistics need two samples per feature; the one short batch an epoch
            // can end with is at least that here, but a batch of one would be refused.
            if batch.len() < 2 {
                continue;
            }
            xs.clear();
            ts.clear();
            xs.extend(batch.iter().map(|&i| train_x[i]));
            ts.extend(batch.iter().map(|&i| train_y[i]));
            let n = batch.len() as f64;
            sums[0] += f64::from(plain.train_batch(&xs, &ts, &mut plain_grad, &mut plain_opt)) * n;
            sums[1] += f64::from(normalized.train_batch(&xs, &ts, &mut ws, &mut norm_grad, &mut norm_opt)) * n;
            count += batch.len();
        }
        let acc = [accuracy(&|x| plain.forward(x)), accuracy(&|x| normalized.forward(x))];
        for (k, curve) in curves.iter_mut().enumerate() {
            curve.loss.push(sums[k] / count as f64);
            curve.accuracy.push(acc[k]);
        }
        println!(
            "{epoch:>5}   {:>11.4}  {:>8.4}   {:>16.4}  {:>8.4}",
            curves[0].loss[epoch - 1],
            acc[0],
            curves[1].loss[epoch - 1],
            acc[1]
        );
    }
    let show = |c: &Curve| c.epochs_to(TARGET).map_or_else(|| format!("not within {EPOCHS}"), |e| e.to_string());
    println!(
        "epochs to {:.0}% test accuracy: plain {}, batch norm {}",
        TARGET * 100.0,
        show(&curves[0]),
        show(&curves[1])
    );
    let finals = (curves[0].accuracy[EPOCHS - 1], curves[1].accuracy[EPOCHS - 1]);
    println!("final test accuracy: plain {:.4}, batch norm {:.4}", finals.0, finals.1);
    println!("num_batches_tracked: {}", normalized.norm_running().2);

    let chart = Chart {
        title: "Digits 64-32-10: training loss with and without batch normalization",
        x_label: "epoch",
        y_label: "mean training loss (cross-entropy)",
        y_scale: Scale::Log,
        legend: SeriesLabelPosition::UpperRight,
    };
    let series = [
        Series::per_epoch("plain", &curves[0].loss),
        Series::per_epoch("batch norm after the hidden layer", &curves[1].loss),
    ];
    let path = common::plot("batchnorm", &chart, &series)?;
    println!("loss curves: {}", path.display());
    Ok(finals)
}
