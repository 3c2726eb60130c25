use stackprop::prelude::*;

#[network(input = 4, loss = mse)]
struct Net {
    hidden: Dense<4, Relu>,
    norm: BatchNorm<{ momentum = 1.5 }>,
    output: Dense<1, Identity>,
}

fn main() {}
