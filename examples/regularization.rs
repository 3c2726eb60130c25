//! The 8×8 digits with a 64-64-10 network three ways: plain, with a `LayerNorm` after the
//! hidden layer, and with `Dropout<0.3>` there. Same seed, same mini-batches, same
//! optimizer (SGD with momentum); prints the training loss and the accuracy on the
//! held-out 20% every ten epochs, and a summary line per network.
//!
//! Run: `cargo run --release --example regularization`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

mod common;

use std::process::ExitCode;

use stackprop::data::{MiniBatches, argmax};
use stackprop::prelude::*;

#[network(input = 64, loss = cross_entropy)]
pub struct Plain {
    hidden: Dense<64, Relu>,
    output: Dense<10, Softmax>,
}

#[network(input = 64, loss = cross_entropy)]
pub struct Normalized {
    hidden: Dense<64, Relu>,
    norm: LayerNorm,
    output: Dense<10, Softmax>,
}

#[network(input = 64, loss = cross_entropy)]
pub struct Dropped {
    hidden: Dense<64, Relu>,
    drop: Dropout<0.3>,
    output: Dense<10, Softmax>,
}

const EPOCHS: usize = 40;

fn main() -> ExitCode {
    match run() {
        Ok(worst) if worst >= 0.9 => ExitCode::SUCCESS,
        Ok(worst) => {
            eprintln!("a test accuracy of {worst:.4} is below 0.9");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Trains the three networks; returns the lowest test accuracy.
fn run() -> Result<f64, Box<dyn std::error::Error>> {
    let ((train_x, train_y), (test_x, test_y)) = common::digits()?;
    println!("{} training and {} test images, {EPOCHS} epochs, batches of 32", train_x.len(), test_x.len());
    let plain = train::<Plain, { Plain::PARAMS }>("plain", &train_x, &train_y, &test_x, &test_y)?;
    let norm = train::<Normalized, { Normalized::PARAMS }>("layer norm", &train_x, &train_y, &test_x, &test_y)?;
    let drop = train::<Dropped, { Dropped::PARAMS }>("dropout 0.3", &train_x, &train_y, &test_x, &test_y)?;
    println!();
    println!("{:<12} {:>16} {:>14}", "network", "final train loss", "test accuracy");
    for (name, (loss, acc)) in [("plain", plain), ("layer norm", norm), ("dropout 0.3", drop)] {
        println!("{name:<12} {loss:>16.4} {acc:>14.4}");
    }
    Ok(plain.1.min(norm.1).min(drop.1))
}

/// Mini-batch SGD with momentum from `seeded(1)`; returns the last epoch's mean training
/// loss (with dropout active) and the test accuracy (inference).
fn train<N, const P: usize>(
    name: &str,
    train_x: &[[f32; 64]],
    train_y: &[Class],
    test_x: &[[f32; 64]],
    test_y: &[Class],
) -> Result<(f32, f64), Box<dyn std::error::Error>>
where
    N: Network<Scalar = f32, Input = [f32; 64], Output = [f32; 10], Params = [f32; P]>,
{
    println!("{name}: {} parameters", N::PARAMS);
    let mut net = N::seeded(1);
    let mut opt = Sgd::new(0.02).momentum(0.9);
    let mut grad = [0.0f32; P];
    let mut batches = MiniBatches::new(train_x.len(), 32, 7)?;
    let (mut xs, mut ts) = (Vec::with_capacity(32), Vec::with_capacity(32));
    let mut last = 0.0;
    for epoch in 1..=EPOCHS {
        let (mut loss, mut count) = (0.0, 0);
        for batch in batches.epoch() {
            xs.clear();
            ts.clear();
            xs.extend(batch.iter().map(|&i| train_x[i]));
            ts.extend(batch.iter().map(|&i| train_y[i]));
            loss += net.train_batch(&xs, &ts, &mut grad, &mut opt) * batch.len() as f32;
            count += batch.len();
        }
        last = loss / count as f32;
        if epoch % 10 == 0 {
            println!("  epoch {epoch:>2}  train loss {last:.4}  test accuracy {:.4}", accuracy(&net, test_x, test_y));
        }
    }
    Ok((last, accuracy(&net, test_x, test_y)))
}

fn accuracy<N: Network<Scalar = f32, Input = [f32; 64], Output = [f32; 10]>>(
    net: &N,
    xs: &[[f32; 64]],
    ts: &[Class],
) -> f64 {
    let correct = xs.iter().zip(ts).filter(|&(x, t)| argmax(&net.forward(x)) == t.0).count();
    correct as f64 / xs.len() as f64
}
