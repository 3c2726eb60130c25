use stackprop::prelude::*;

#[network(input = [1, 4, 4], loss = mse)]
struct Net {
    conv1: Conv2d<4, Relu, { kernel = 3 }>,
    conv2: Conv2d<4, Relu, { kernel = 5 }>,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
