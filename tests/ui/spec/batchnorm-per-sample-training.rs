use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
struct Net {
    hidden: Dense<4, Relu>,
    norm: BatchNorm,
    output: Dense<1, Identity>,
}

fn main() {
    let mut net = Net::seeded(1);
    let mut opt = Sgd::new(0.1);
    let _ = net.train_step(&[1.0, 2.0], &[0.5], &mut opt);
}
