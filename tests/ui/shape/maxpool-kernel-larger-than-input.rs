use stackprop::prelude::*;

#[network(input = [2, 3, 3], loss = mse)]
struct Net {
    pool: MaxPool2d<4>,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
