//! The classic 2-3-1 sigmoid network of the backpropagation derivation, trained on XOR
//! with plain SGD and the half sum of squared errors.
//!
//! Run: `cargo run --release --example xor`

use stackprop::prelude::*;

/// The 2-3-1 sigmoid network of the classic backpropagation derivation.
#[network(input = 2, loss = half_sse)]
pub struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

const DATA: [([f32; 2], [f32; 1]); 4] =
    [([0.0, 0.0], [0.0]), ([0.0, 1.0], [1.0]), ([1.0, 0.0], [1.0]), ([1.0, 1.0], [0.0])];

/// Trains from `seed` for 5000 epochs, printing progress; returns the network and its
/// final mean loss.
pub fn train(seed: u64, verbose: bool) -> (Xor, f32) {
    let mut net = Xor::seeded(seed);
    let mut opt = Sgd::new(0.5);
    for epoch in 0..=5000 {
        let mut loss = 0.0;
        for (x, t) in &DATA {
            loss += net.train_step(x, t, &mut opt);
        }
        if verbose && epoch % 500 == 0 {
            println!("epoch {epoch:>5}  mean loss {:.6}", loss / 4.0);
        }
    }
    let final_loss: f32 = DATA.iter().map(|(x, t)| net.loss(x, t)).sum::<f32>() / 4.0;
    (net, final_loss)
}

fn main() {
    println!("{} parameters; training XOR with SGD (lr 0.5), loss ½·Σ(t − y)²", Xor::PARAMS);
    let (net, final_loss) = train(7, true);
    println!("final mean loss {final_loss:.6}");
    for (x, t) in &DATA {
        let [y] = net.forward(x);
        println!("{x:?} -> {y:.4}  (target {})", t[0]);
    }
}
