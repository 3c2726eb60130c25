use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    first: Gru<8>,
    second: Gru<8>,
    output: Dense<1, Identity>,
}

fn main() {}
