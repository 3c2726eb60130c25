use stackprop::prelude::*;

#[network(input = [1, 4, 4], loss = mse)]
struct Net {
    conv: Conv2d<4, Relu, { kernel = 5 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
