use stackprop::prelude::*;

#[network(input = [10, 1], loss = mse)]
struct Net {
    rnn: Rnn<4>,
}

fn main() {}
