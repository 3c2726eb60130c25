use stackprop::prelude::*;

#[network(input = 12, loss = mse)]
struct Net {
    pool: AvgPool2d<2>,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
