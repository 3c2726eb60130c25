use stackprop::prelude::*;

#[network(input = [5, 2], loss = mse)]
struct Net {
    gru: Gru<4>,
    norm: BatchNorm,
    output: Dense<1, Identity>,
}

fn main() {}
