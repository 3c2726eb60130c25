//! Prints the chain rule the macro derived for a network: the forward pass, the loss,
//! each delta with the activation derivative in the form the generated code evaluates,
//! and every weight gradient as a product of factors. The same text is in the type's
//! rustdoc (`cargo doc --examples --open`).
//!
//! Run: `cargo run --example derivation`

use stackprop::prelude::*;

/// The 2-3-1 sigmoid network of the classic derivation.
#[network(input = 2, loss = half_sse)]
pub struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

/// A small classifier: tanh and GELU hidden layers, softmax with cross-entropy.
#[network(input = 4, loss = cross_entropy)]
pub struct Classifier {
    first: Dense<8, Tanh>,
    second: Dense<8, GeluTanh>,
    output: Dense<3, Softmax>,
}

fn main() {
    println!("{}\n", Xor::DERIVATION);
    println!("{}", Classifier::DERIVATION);
    // The derivation is what the code computes: check it on one sample.
    let mut net = Xor::seeded(1);
    let report = stackprop::check_gradients(
        &mut net,
        &[1.0, 0.0],
        &[1.0],
        stackprop::GradCheckOptions { step: 1e-3, floor: 1e-2 },
    );
    println!("\nXor gradient check in f32 (h = 1e-3): max relative error {:.2e}", report.max_rel_error);
}
