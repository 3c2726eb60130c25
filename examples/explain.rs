//! One training step of the 2-3-1 XOR network with every number written out: the
//! forward values, each δ, every gradient and the SGD update, laid out like the
//! derivation the macro put in the network's docs (printed first), so the chain rule
//! can be followed by hand.
//!
//! Run: `cargo run --release --example explain`

use stackprop::explain_sgd_step;
use stackprop::prelude::*;

/// The 2-3-1 sigmoid network of the classic backpropagation derivation.
#[network(input = 2, loss = half_sse, scalar = f64)]
pub struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

fn main() {
    println!("{}\n", Xor::DERIVATION);
    let mut net = Xor::seeded(7);
    let (x, t) = ([1.0, 0.0], [1.0]);
    print!("{}", explain_sgd_step(&mut net, &x, &t, 0.5));
    println!("\nloss on this sample after the step: {:.6}", net.loss(&x, &t));
}
