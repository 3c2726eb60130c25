use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
struct Net {
    hidden: Dense<3, { x * "two" }>,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.forward(&[1.0, 2.0]);
}
