use stackprop::prelude::*;

#[network(input = 4, loss = mse)]
struct Net {
    rnn: Gru<8>,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.forward(&[1.0, 2.0, 3.0, 4.0]);
}
