use stackprop::prelude::*;

#[network(input = 2, loss = msee)]
struct Net {
    hidden: Dense<0, Relu>,
    output: Dense<1, Sigmod>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.forward(&[1.0, 2.0]);
}
