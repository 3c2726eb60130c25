use stackprop::prelude::*;

#[network(input = 4, loss = mse)]
struct Net {
    hidden: Dense<4, Relu>,
    norm: BatchNorm<{ track_running_stats = false }>,
    output: Dense<1, Identity>,
}

fn main() {}
