//! Activations written by the user as expressions of `x`, differentiated by the macro:
//! they pass the gradient check, and an expression equal to a built-in gives the
//! built-in's gradients.

use stackprop::prelude::*;
use stackprop::{GradCheckOptions, check_gradients};

/// Inline and named custom activations, in f64.
#[network(input = 3, loss = mse, scalar = f64)]
#[activation(Swish = x * (1.0 / (1.0 + (-1.702 * x).exp())))]
#[activation(Bent = ((x * x + 1.0).sqrt() - 1.0) / 2.0 + x)]
pub struct Custom {
    first: Dense<5, Swish>,
    second: Dense<4, { x / (1.0 + x.abs()) }>,
    third: Dense<4, Bent>,
    output: Dense<2, { x.atan() + 0.1 * x.powi(3) }>,
}

#[network(input = 3, loss = binary_cross_entropy, scalar = f64)]
pub struct BuiltIn {
    hidden: Dense<4, Tanh>,
    output: Dense<2, Sigmoid>,
}

#[network(input = 3, loss = half_sse, scalar = f64)]
pub struct BuiltInHalf {
    hidden: Dense<4, Tanh>,
    output: Dense<2, Sigmoid>,
}

#[network(input = 3, loss = half_sse, scalar = f64)]
pub struct Written {
    hidden: Dense<4, { (x.exp() - (-x).exp()) / (x.exp() + (-x).exp()) }>,
    output: Dense<2, { 1.0 / (1.0 + (-x).exp()) }>,
}

fn params<const P: usize>(seed: u64) -> [f64; P] {
    let mut s = seed;
    core::array::from_fn(|_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1.6
    })
}

#[test]
fn custom_activations_pass_the_gradient_check() {
    for seed in 0..5 {
        let mut net = Custom::from_params(params(seed));
        let x = [0.3, -1.2, 0.8];
        let t = [0.5, -0.25];
        let report = check_gradients(&mut net, &x, &t, GradCheckOptions::default());
        assert!(report.max_rel_error <= 1e-6, "seed {seed}: {:?}", report.worst);
    }
}

#[test]
fn an_expression_equal_to_a_built_in_gives_its_gradients() {
    // tanh and the sigmoid written out by hand, against `Tanh` and `Sigmoid`.
    for seed in 0..5 {
        let p = params(seed + 10);
        let (written, built_in) = (Written::from_params(p), BuiltInHalf::from_params(p));
        let x = [0.7, -0.4, 1.1];
        let t = [1.0, 0.0];
        let (mut gw, mut gb) = ([0.0; Written::PARAMS], [0.0; BuiltInHalf::PARAMS]);
        let lw = written.gradient(&x, &t, &mut gw);
        let lb = built_in.gradient(&x, &t, &mut gb);
        assert!((lw - lb).abs() <= 1e-14 * lb.abs().max(1.0), "loss {lw} vs {lb}");
        for (i, (a, b)) in gw.iter().zip(&gb).enumerate() {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-3), "gradient [{i}]: {a} vs {b}");
        }
        let (dw, db) = (written.input_gradient(&x, &t), built_in.input_gradient(&x, &t));
        for (a, b) in dw.iter().zip(&db) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-3), "input gradient {a} vs {b}");
        }
    }
    // The built-in pair with the fused loss is a different network; it only has to build.
    let _ = BuiltIn::seeded(0);
}

#[test]
fn the_derivation_shows_the_custom_derivative() {
    let text = Custom::DERIVATION;
    assert!(text.contains("Swish"), "{text}");
    assert!(text.contains("z₂"), "{text}");
}
