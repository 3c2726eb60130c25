//! A network whose activations the user writes as Rust expressions of `x`; the macro
//! differentiates them at compile time, simplifies the derivative, reuses forward values
//! where it can, and writes the result into the type's documentation.
//!
//! Trains a regression of `y = sin(2x)·x` with two custom activations and prints the
//! derivatives the macro derived.
//!
//! Run: `cargo run --release --example custom_activation`

use stackprop::optim::Adam;
use stackprop::prelude::*;

/// Swish with β = 1.702 (a GELU approximation), named once and used by name; and the
/// "bent identity", written inline.
#[network(input = 1, loss = mse)]
#[activation(Swish = x * (1.0 / (1.0 + (-1.702 * x).exp())))]
pub struct Curve {
    first: Dense<24, Swish>,
    second: Dense<24, { ((x * x + 1.0).sqrt() - 1.0) / 2.0 + x }>,
    output: Dense<1, Identity>,
}

fn target(x: f32) -> f32 {
    (2.0 * x).sin() * x
}

fn main() {
    println!("{}\n", Curve::DERIVATION);
    let xs: Vec<[f32; 1]> = (0..200).map(|i| [-2.0 + 4.0 * i as f32 / 199.0]).collect();
    let ts: Vec<[f32; 1]> = xs.iter().map(|&[x]| [target(x)]).collect();
    let mut net = Curve::seeded(3);
    let mut opt = Adam::new(3e-3);
    let mut grad = [0.0; Curve::PARAMS];
    for epoch in 0..=2000 {
        let loss = net.train_batch(&xs, &ts, &mut grad, &mut opt);
        if epoch % 400 == 0 {
            println!("epoch {epoch:>4}  mse {loss:.6}");
        }
    }
    let report = stackprop::check_gradients(
        &mut net,
        &[0.5],
        &[target(0.5)],
        stackprop::GradCheckOptions { step: 1e-3, floor: 1e-2 },
    );
    println!("gradient check of the trained network (f32, h = 1e-3): max relative error {:.1e}", report.max_rel_error);
    for x in [-1.5_f32, -0.5, 0.0, 0.5, 1.5] {
        println!("f({x:>4}) = {:>7.4}   target {:>7.4}", net.forward(&[x])[0], target(x));
    }
}
