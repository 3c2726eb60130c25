use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    lstm: Lstm<0>,
    output: Dense<1, Identity>,
}

fn main() {}
