use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    rnn: Rnn<8, { nonlinearity = sigmoid }>,
    output: Dense<1, Identity>,
}

fn main() {}
