//! A 64-32-10 network (relu, softmax with cross-entropy) on the 8×8 handwritten digits:
//! standardized pixels, a seeded 80/20 split held out for testing, mini-batch SGD with
//! momentum. Prints the test accuracy and the confusion matrix.
//!
//! Run: `cargo run --release --example digits`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

use std::process::ExitCode;

use stackprop::data::{ConfusionMatrix, MiniBatches, Split, Standardizer, argmax, load_csv};
use stackprop::prelude::*;

/// 64 pixels → 32 relu units → 10 class probabilities.
#[network(input = 64, loss = cross_entropy)]
pub struct Digits {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

fn main() -> ExitCode {
    match run() {
        Ok(accuracy) if accuracy >= 0.95 => ExitCode::SUCCESS,
        Ok(accuracy) => {
            eprintln!("test accuracy {accuracy:.4} is below 0.95");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the data, trains, prints the results; returns the test accuracy.
pub fn run() -> Result<f64, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");
    let data = load_csv::<f32>(path, false)?;
    let mut splits = data.split(Split::Fractions { validation: 0.0, test: 0.2 }, 42)?;
    let scaler = Standardizer::fit(&splits.train)?;
    scaler.transform(&mut splits.train)?;
    scaler.transform(&mut splits.test)?;
    let (train_x, train_y) = (splits.train.rows::<64>()?, splits.train.labels().to_vec());
    let (test_x, test_y) = (splits.test.rows::<64>()?, splits.test.labels().to_vec());
    println!("{} training and {} test images; {} parameters", train_x.len(), test_x.len(), Digits::PARAMS);

    let mut net = Digits::seeded(1);
    let mut opt = Sgd::new(0.05).momentum(0.9);
    let mut grad = [0.0; Digits::PARAMS];
    let mut batches = MiniBatches::new(train_x.len(), 32, 7)?;
    let (mut xs, mut ts) = (Vec::with_capacity(32), Vec::with_capacity(32));
    for epoch in 1..=30 {
        let mut loss = 0.0;
        let mut count = 0;
        for batch in batches.epoch() {
            xs.clear();
            ts.clear();
            xs.extend(batch.iter().map(|&i| train_x[i]));
            ts.extend(batch.iter().map(|&i| Class(train_y[i])));
            loss += net.train_batch(&xs, &ts, &mut grad, &mut opt) * batch.len() as f32;
            count += batch.len();
        }
        if epoch % 5 == 0 {
            let accuracy = evaluate(&net, &test_x, &test_y);
            println!("epoch {epoch:>2}  train loss {:.4}  test accuracy {accuracy:.4}", loss / count as f32);
        }
    }
    let predictions: Vec<usize> = test_x.iter().map(|x| argmax(&net.forward(x))).collect();
    let matrix = ConfusionMatrix::from_predictions(10, &predictions, &test_y)?;
    println!("{matrix}");
    let accuracy = evaluate(&net, &test_x, &test_y);
    println!("test accuracy {accuracy:.4}");
    Ok(accuracy)
}

fn evaluate(net: &Digits, xs: &[[f32; 64]], labels: &[usize]) -> f64 {
    let correct = xs.iter().zip(labels).filter(|(x, l)| argmax(&net.forward(x)) == **l).count();
    correct as f64 / xs.len() as f64
}
