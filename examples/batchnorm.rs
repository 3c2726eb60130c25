//! The digits network with and without batch normalization and dropout: the same
//! 64-32-10 relu network, the same seed, optimizer and mini-batches, four times: plain,
//! with a `BatchNorm` after the hidden layer (Linear → ReLU → BatchNorm), with a
//! `Dropout<0.2>` there instead, and with both (Linear → ReLU → BatchNorm → Dropout).
//! Prints the training loss and validation accuracy per epoch, the epochs each needs to
//! reach 97% validation accuracy and the final test accuracy, and plots the four
//! training-loss curves to `target/plots/batchnorm.svg`.
//!
//! The batch-normalized networks train on whole mini-batches (`train_batch` with a
//! workspace of `BATCH_ROW` scalars per sample, exact batch statistics) and are evaluated
//! with `forward`, which uses the running statistics. The dropout networks draw their
//! masks from the dropout state `seeded` sets, so a run is reproducible; their training
//! loss is that of the masked network (training mode), their accuracy that of `forward`
//! (inference mode, dropout the identity).
//!
//! Run: `cargo run --release --example batchnorm`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`): 15% of the samples
//! for validation, 20% for the test (the test part of the other digits examples).

mod common;

use std::process::ExitCode;

use plotters::chart::SeriesLabelPosition;
use stackprop::data::{MiniBatches, Split, Standardizer, argmax, load_csv};
use stackprop::prelude::*;

use common::{Chart, Part, Scale, Series};

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

/// The same with dropout of the hidden layer's outputs.
#[network(input = 64, loss = cross_entropy)]
pub struct Dropped {
    hidden: Dense<32, Relu>,
    drop: Dropout<0.2>,
    output: Dense<10, Softmax>,
}

/// Batch normalization, then dropout.
#[network(input = 64, loss = cross_entropy)]
pub struct NormalizedDropped {
    hidden: Dense<32, Relu>,
    norm: BatchNorm,
    drop: Dropout<0.2>,
    output: Dense<10, Softmax>,
}

const EPOCHS: usize = 30;
const BATCH: usize = 32;
const TARGET: f64 = 0.97;
const NAMES: [&str; 4] = ["plain", "batch norm", "dropout 0.2", "batch norm + dropout"];

fn main() -> ExitCode {
    match run() {
        Ok(finals) if finals.iter().all(|&a| a >= 0.95) => ExitCode::SUCCESS,
        Ok(finals) => {
            eprintln!("a final test accuracy is below 0.95: {finals:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One run's per-epoch training loss and validation accuracy.
#[derive(Default)]
struct Curve {
    loss: Vec<f64>,
    accuracy: Vec<f64>,
}

impl Curve {
    fn epochs_to(&self, target: f64) -> Option<usize> {
        self.accuracy.iter().position(|&a| a >= target).map(|e| e + 1)
    }
}

/// Training, validation and test parts (seed 42), standardized with the training part's
/// statistics.
fn digits() -> Result<(Part, Part, Part), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");
    let data = load_csv::<f32>(path, false)?;
    let mut splits = data.split(Split::Fractions { validation: 0.15, test: 0.2 }, 42)?;
    let scaler = Standardizer::fit(&splits.train)?;
    scaler.transform(&mut splits.train)?;
    scaler.transform(&mut splits.validation)?;
    scaler.transform(&mut splits.test)?;
    let classes = |labels: &[usize]| labels.iter().map(|&l| Class(l)).collect();
    Ok((
        (splits.train.rows::<64>()?, classes(splits.train.labels())),
        (splits.validation.rows::<64>()?, classes(splits.validation.labels())),
        (splits.test.rows::<64>()?, classes(splits.test.labels())),
    ))
}

/// Trains the four networks, prints and plots; returns their final test accuracies.
pub fn run() -> Result<[f64; 4], Box<dyn std::error::Error>> {
    let ((train_x, train_y), (val_x, val_y), (test_x, test_y)) = digits()?;
    println!("{} training, {} validation and {} test images", train_x.len(), val_x.len(), test_x.len());
    let accuracy = |xs: &[[f32; 64]], ys: &[Class], f: &dyn Fn(&[f32; 64]) -> [f32; 10]| {
        let correct = xs.iter().zip(ys).filter(|(x, c)| argmax(&f(x)) == c.0).count();
        correct as f64 / xs.len() as f64
    };

    let mut plain = Plain::seeded(1);
    let mut normalized = Normalized::seeded(1);
    let mut dropped = Dropped::seeded(1);
    let mut both = NormalizedDropped::seeded(1);
    // The same optimizer for each: SGD, rate 0.05, momentum 0.9.
    let mut o0 = Sgd::new(0.05).momentum(0.9);
    let mut o1 = Sgd::new(0.05).momentum(0.9);
    let mut o2 = Sgd::new(0.05).momentum(0.9);
    let mut o3 = Sgd::new(0.05).momentum(0.9);
    let mut grad = [0.0; Plain::PARAMS];
    let mut norm_grad = [0.0; Normalized::PARAMS];
    let mut ws = vec![[0.0; Normalized::BATCH_ROW]; BATCH];
    let mut ws_both = vec![[0.0; NormalizedDropped::BATCH_ROW]; BATCH];
    let mut batches = MiniBatches::new(train_x.len(), BATCH, 7)?;
    let (mut xs, mut ts) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    let mut curves: [Curve; 4] = Default::default();
    println!("training loss and validation accuracy per epoch");
    println!("epoch   {:>22}   {:>22}   {:>22}   {:>22}", NAMES[0], NAMES[1], NAMES[2], NAMES[3]);
    for epoch in 1..=EPOCHS {
        let (mut sums, mut count) = ([0.0f64; 4], 0usize);
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
            let losses = [
                plain.train_batch(&xs, &ts, &mut grad, &mut o0),
                normalized.train_batch(&xs, &ts, &mut ws, &mut norm_grad, &mut o1),
                dropped.train_batch(&xs, &ts, &mut grad, &mut o2),
                both.train_batch(&xs, &ts, &mut ws_both, &mut norm_grad, &mut o3),
            ];
            for (s, l) in sums.iter_mut().zip(losses) {
                *s += f64::from(l) * n;
            }
            count += batch.len();
        }
        let acc = [
            accuracy(&val_x, &val_y, &|x| plain.forward(x)),
            accuracy(&val_x, &val_y, &|x| normalized.forward(x)),
            accuracy(&val_x, &val_y, &|x| dropped.forward(x)),
            accuracy(&val_x, &val_y, &|x| both.forward(x)),
        ];
        print!("{epoch:>5}");
        for (k, curve) in curves.iter_mut().enumerate() {
            curve.loss.push(sums[k] / count as f64);
            curve.accuracy.push(acc[k]);
            print!("   {:>12.4}  {:>8.4}", curve.loss[epoch - 1], acc[k]);
        }
        println!();
    }
    let finals = [
        accuracy(&test_x, &test_y, &|x| plain.forward(x)),
        accuracy(&test_x, &test_y, &|x| normalized.forward(x)),
        accuracy(&test_x, &test_y, &|x| dropped.forward(x)),
        accuracy(&test_x, &test_y, &|x| both.forward(x)),
    ];
    println!("{:<22} {:>28} {:>20}", "", format!("epochs to {:.0}% validation", TARGET * 100.0), "final test accuracy");
    for (k, name) in NAMES.iter().enumerate() {
        let epochs = curves[k].epochs_to(TARGET).map_or_else(|| format!("not within {EPOCHS}"), |e| e.to_string());
        println!("{name:<22} {epochs:>28} {:>20.4}", finals[k]);
    }
    println!("num_batches_tracked: {} and {}", normalized.norm_running().2, both.norm_running().2);

    let chart = Chart {
        title: "Digits 64-32-10: training loss with and without batch norm and dropout",
        x_label: "epoch",
        y_label: "mean training loss (cross-entropy, training mode)",
        y_scale: Scale::Log,
        legend: SeriesLabelPosition::UpperRight,
    };
    let series: Vec<Series> = NAMES.iter().zip(&curves).map(|(name, c)| Series::per_epoch(*name, &c.loss)).collect();
    let path = common::plot("batchnorm", &chart, &series)?;
    println!("loss curves: {}", path.display());
    Ok(finals)
}
