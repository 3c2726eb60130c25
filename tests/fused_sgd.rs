//! The backward pass fused with plain SGD (`backward_sgd`, taken by `train_step` for
//! `Sgd` without momentum or decay) gives exactly the parameters of the unfused
//! backward followed by the SGD update.

use stackprop::prelude::*;

/// Plain SGD that hides that it is plain, so `train_step` takes the unfused path.
struct Unfused<const P: usize>(Sgd<[f64; P]>);

impl<const P: usize> Optimizer<[f64; P]> for Unfused<P> {
    fn step(&mut self, params: &mut [f64; P], grads: &[f64; P]) {
        self.0.step(params, grads);
    }
    fn learning_rate(&self) -> f64 {
        self.0.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.0.set_learning_rate(lr);
    }
}

#[network(input = 5, loss = cross_entropy, scalar = f64, unroll = true)]
struct Unrolled {
    a: Dense<6, Relu>,
    b: Dense<4, Elu<0.5>, { bias = false }>,
    c: Dense<3, Softmax>,
}

#[network(input = 5, loss = cross_entropy, scalar = f64, unroll = false)]
struct Looped {
    a: Dense<6, Relu>,
    b: Dense<4, Elu<0.5>, { bias = false }>,
    c: Dense<3, Softmax>,
}

fn samples() -> Vec<([f64; 5], Class)> {
    (0..20).map(|i| (core::array::from_fn(|j| ((i * 5 + j) as f64 * 0.37).sin()), Class(i % 3))).collect()
}

fn check<N: Network<Scalar = f64, Input = [f64; 5], Output = [f64; 3], Params = [f64; P]>, const P: usize>() {
    let mut fused = N::seeded(4);
    let mut unfused = N::from_params(*fused.params());
    let mut sgd = Sgd::new(0.05);
    let mut plain = Unfused(Sgd::new(0.05));
    assert!(sgd.plain_sgd_rate().is_some() && plain.plain_sgd_rate().is_none());
    for _ in 0..5 {
        for (x, t) in samples() {
            let l1 = fused.train_step(&x, &t, &mut sgd);
            let l2 = unfused.train_step(&x, &t, &mut plain);
            assert_eq!(l1.to_bits(), l2.to_bits());
        }
    }
    assert_eq!(fused.params(), unfused.params(), "fused and unfused SGD diverged");
}

#[test]
fn fused_sgd_equals_backward_then_update() {
    check::<Unrolled, { Unrolled::PARAMS }>();
    check::<Looped, { Looped::PARAMS }>();
}
