use stackprop::prelude::*;

#[network(input = [1, 8, 8], loss = mse)]
struct Net {
    pool: MaxPool2d,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
