use stackprop::prelude::*;

#[network(input = 2, loss = cross_entropy)]
struct Net {
    hidden: Dense<3, Relu>,
    output: Dense<2, Sigmoid>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.forward(&[1.0, 2.0]);
}
