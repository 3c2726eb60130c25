use stackprop::prelude::*;

#[network(input = [2, 10], loss = mse)]
struct Net {
    pool: AvgPool1d<{ kernel = 2; stride = 0 }>,
    flat: Flatten,
    output: Dense<1, Identity>,
}

fn main() {
    let net = Net::seeded(1);
    let _ = net.params();
}
