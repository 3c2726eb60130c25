use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    rnn: Lstm<8, { sequence = true }>,
    output: Dense<1, Identity>,
}

fn main() {}
