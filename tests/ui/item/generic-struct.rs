use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
struct Net<T> {
    hidden: Dense<3, Relu>,
    output: Dense<1, Identity>,
}

fn main() {}
