use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    gru: Gru<8, { dropout = 0.5 }>,
    output: Dense<1, Identity>,
}

fn main() {}
