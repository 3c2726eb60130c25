use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
enum Net {
    Hidden,
}

fn main() {}
