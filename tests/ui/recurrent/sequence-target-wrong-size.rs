use stackprop::prelude::*;

// A loss at every step takes a target for every step: `[T][OUT]`, here 10·2 values.
#[network(input = [10, 1], loss = mse)]
struct Net {
    gru: Gru<8, { sequence = true }>,
    output: Dense<2, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.loss(&[0.0; 10], &[0.0; 2]);
}
