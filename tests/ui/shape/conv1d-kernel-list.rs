use stackprop::prelude::*;

#[network(input = [1, 16], loss = mse)]
struct Net {
    conv: Conv1d<4, Relu, { kernel = [3, 3] }>,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
