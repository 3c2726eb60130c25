use stackprop::prelude::*;

#[network(input = [2, 2, 3, 3], loss = mse)]
struct Net {
    norm: BatchNorm,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {}
