use stackprop::prelude::*;
use stackprop::train::{FitOptions, fit};

#[network(input = 2, loss = mse)]
#[network(input = 2, loss = mse)]
struct Net {
    hidden: Dense<4, Relu>,
    output: Dense<1, Identity>,
}

fn main() {
    let xs: Vec<[f32; 2]> = vec![[0.0, 1.0], [1.0, 0.0]];
    let ts: Vec<[f32; 1]> = vec![[1.0], [0.0]];
    let mut net = Net::seeded(1);
    let y = net.forward(&xs[0]);
    let first: f32 = y[0];
    let mut opt = Sgd::new(0.1);
    let loss = net.train_step(&xs[0], &[first], &mut opt);
    let mut adam = Adam::new(0.01);
    for (x, t) in xs.iter().zip(&ts) {
        let _ = net.train_step(x, t, &mut adam);
    }
    let history = fit(&mut net, &mut adam, &xs, &ts, FitOptions::new(5, 2)).expect("valid data");
    println!("{loss} {}", history.epochs.len());
}
