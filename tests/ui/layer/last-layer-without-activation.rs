use stackprop::prelude::*;

#[network(input = [2, 2], loss = mse)]
struct Net {
    hidden: Dense<3, Relu>,
    flat: Flatten,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.forward(&[1.0, 2.0, 3.0, 4.0]);
}
