use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    rnn: Lstm<8, { sequence = true }>,
    output: Dense<3, Softmax>,
}

fn main() {}
