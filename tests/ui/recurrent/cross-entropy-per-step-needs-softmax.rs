use stackprop::prelude::*;

#[network(input = [10, 1], loss = cross_entropy)]
struct Net {
    gru: Gru<8, { sequence = true }>,
    output: Dense<3, Identity>,
}

fn main() {}
