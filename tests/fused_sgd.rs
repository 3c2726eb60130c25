//! The backward pass fused with plain SGD (`backward_sgd`, taken by `train_step` for
//! `Sgd` without momentum or decay) gives exactly the parameters of the unfused
//! backward followed by the SGD update; `PlainSgd` (no state at all) gives exactly the
//! parameters of `Sgd` without momentum.

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

fn check_plain<N: Network<Scalar = f64, Input = [f64; 5], Output = [f64; 3], Params = [f64; P]>, const P: usize>() {
    let mut with_buffer = N::seeded(9);
    let mut stateless = N::from_params(*with_buffer.params());
    let mut sgd = Sgd::new(0.05);
    let mut plain = PlainSgd::new(0.05);
    assert_eq!(core::mem::size_of_val(&plain), 8);
    assert!(core::mem::size_of_val(&sgd) > 8 * P, "Sgd holds a parameter-sized buffer");
    for epoch in 0..5 {
        if epoch == 3 {
            Optimizer::<[f64; P]>::set_learning_rate(&mut sgd, 0.02);
            Optimizer::<[f64; P]>::set_learning_rate(&mut plain, 0.02);
        }
        for (x, t) in samples() {
            let l1 = with_buffer.train_step(&x, &t, &mut sgd);
            let l2 = stateless.train_step(&x, &t, &mut plain);
            assert_eq!(l1.to_bits(), l2.to_bits());
        }
    }
    assert_eq!(with_buffer.params(), stateless.params(), "PlainSgd and Sgd diverged");
    // The unfused path (an explicit optimizer step) is the same update as well.
    let g: [f64; P] = core::array::from_fn(|i| (i as f64 * 0.11).cos());
    let (mut a, mut b) = (*stateless.params(), *stateless.params());
    Optimizer::<[f64; P]>::step(&mut sgd, &mut a, &g);
    Optimizer::<[f64; P]>::step(&mut plain, &mut b, &g);
    assert_eq!(a, b);
}

#[test]
fn plain_sgd_equals_sgd_without_momentum() {
    check_plain::<Unrolled, { Unrolled::PARAMS }>();
    check_plain::<Looped, { Looped::PARAMS }>();
    // On a slice (the dynamic network's storage) too.
    let mut p = [0.5f32, -1.0, 2.0];
    let mut opt = PlainSgd::new(0.25);
    assert_eq!(Optimizer::<[f32]>::plain_sgd_rate(&opt), Some(0.25));
    Optimizer::<[f32]>::step(&mut opt, &mut p[..], &[1.0, 2.0, -4.0][..]);
    assert_eq!(p, [0.25, -1.5, 3.0]);
}
