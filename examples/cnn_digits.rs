//! A small convolutional network on the 8×8 handwritten digits, beside a dense network of
//! about the same number of parameters trained the same way: the 64 pixels as one
//! channel of 8×8 (`[1][8][8]`), a 3×3 convolution with 8 relu channels (zero padding),
//! 2×2 max pooling, and a softmax layer over the 8×4×4 pooled features. Both networks see
//! the same pixels (scaled to [0, 1]), the same seeded 80/20 split held out for testing
//! (the one of the `digits` example), the same batches and the same optimizer. Prints
//! both parameter counts and both test accuracies.
//!
//! Run: `cargo run --release --example cnn_digits`
//! Data: `data/digits.csv` (UCI, CC BY 4.0; see `data/README.md`).

use std::process::ExitCode;

use stackprop::data::{Split, argmax, load_csv};
use stackprop::optim::State;
use stackprop::prelude::*;
use stackprop::train::{FitOptions, fit};

/// `[1][8][8]` → 3×3 conv, 8 relu channels → 2×2 max pool → 10 class probabilities.
#[network(input = [1, 8, 8], loss = cross_entropy)]
pub struct Cnn {
    conv: Conv2d<
        8,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

/// 64 pixels → 18 relu units → 10 class probabilities: as many parameters as the CNN,
/// within a few.
#[network(input = 64, loss = cross_entropy)]
pub struct Mlp {
    hidden: Dense<18, Relu>,
    output: Dense<10, Softmax>,
}

/// Passes over the training set, for both networks.
pub const EPOCHS: usize = 40;
/// The test accuracy the CNN is claimed to reach.
pub const CLAIM: f64 = 0.98;

/// What one network reached.
pub struct Outcome {
    /// Trainable parameters.
    pub params: usize,
    /// Fraction of the held-out test images classified right.
    pub accuracy: f64,
    /// Mean training loss of the last epoch.
    pub train_loss: f64,
}

/// Both networks' results.
pub struct Report {
    /// The convolutional network.
    pub cnn: Outcome,
    /// The dense network.
    pub mlp: Outcome,
}

fn main() -> ExitCode {
    match run(EPOCHS) {
        Ok(report) if report.cnn.accuracy >= CLAIM => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!("CNN test accuracy {:.4} is below {CLAIM}", report.cnn.accuracy);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The prepared data.
struct Data {
    train_x: Vec<[f32; 64]>,
    train_y: Vec<Class>,
    test_x: Vec<[f32; 64]>,
    test_y: Vec<usize>,
}

fn load() -> Result<Data, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");
    let mut data = load_csv::<f32>(path, false)?;
    // Pixels are counts from 0 to 16. One scale for every pixel keeps the image an
    // image: per-pixel standardization would give each position its own contrast.
    data.features_mut().iter_mut().for_each(|v| *v /= 16.0);
    let splits = data.split(Split::Fractions { validation: 0.0, test: 0.2 }, 42)?;
    Ok(Data {
        train_x: splits.train.rows::<64>()?,
        train_y: splits.train.labels().iter().map(|&l| Class(l)).collect(),
        test_x: splits.test.rows::<64>()?,
        test_y: splits.test.labels().to_vec(),
    })
}

/// Trains both networks for `epochs` passes, prints the results and returns them.
///
/// # Errors
/// If the data cannot be read.
pub fn run(epochs: usize) -> Result<Report, Box<dyn std::error::Error>> {
    let data = load()?;
    println!(
        "{} training and {} test images as [1][8][8]; Adam (lr 0.005), batches of 32, {epochs} epochs",
        data.train_x.len(),
        data.test_x.len()
    );
    let cnn = train::<Cnn>(&data, epochs)?;
    let mlp = train::<Mlp>(&data, epochs)?;
    println!("network                                     params  train loss  test accuracy");
    for (name, o) in [("conv 3×3, 8 relu → max pool 2 → dense 10", &cnn), ("dense 64-18-10 relu", &mlp)] {
        println!("{name:<44}{:>6}  {:>10.4}  {:>13.4}", o.params, o.train_loss, o.accuracy);
    }
    Ok(Report { cnn, mlp })
}

/// One network from seed 1, through the same batches (seed 5) with the same optimizer.
fn train<N>(data: &Data, epochs: usize) -> Result<Outcome, Box<dyn std::error::Error>>
where
    N: Network<Scalar = f32, Input = [f32; 64], Output = [f32; 10]>,
    N::Params: State,
    Adam<N::Params>: Optimizer<N::Params>,
{
    let mut net = N::seeded(1);
    let mut opt = Adam::<N::Params>::new(0.005);
    let history = fit(&mut net, &mut opt, &data.train_x, &data.train_y, FitOptions::new(epochs, 32).seed(5))?;
    let correct = data.test_x.iter().zip(&data.test_y).filter(|(x, l)| argmax(&net.forward(x)) == **l).count();
    Ok(Outcome {
        params: N::PARAMS,
        accuracy: correct as f64 / data.test_x.len() as f64,
        train_loss: history.last().map_or(f64::NAN, |m| m.train_loss),
    })
}
