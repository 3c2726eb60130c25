//! Generated gradients (parameters and input) against central finite differences, for
//! every activation × loss combination the spec allows, in `f64` to 1e-6 relative error;
//! and the `f32` build of each network against its `f64` build.
//!
//! Each case is a small network declared by `case!`; the same spec is generated with
//! `scalar = f64` (checked against finite differences) and `scalar = f32` (checked
//! against the f64 network on the same weights), once unrolled and once as loops.

use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use stackprop::prelude::*;
use stackprop::{GradCheckOptions, check_gradients};

/// Relative error allowed between backward and central differences in f64.
const F64_TOL: f64 = 1e-6;
/// Relative error allowed between the f32 and f64 builds (loss and every gradient
/// entry, floor 1e-2 on the denominator): f32 keeps about 7 digits, and a few hundred
/// operations of rounding leave about 4.
const F32_TOL: f64 = 2e-4;

#[derive(Clone, Copy)]
enum TargetKind {
    /// Any real numbers.
    Real,
    /// A probability vector (cross-entropy).
    Distribution,
    /// Each in [0, 1] (binary cross-entropy).
    UnitInterval,
}

fn uniform(rng: &mut impl Rng, a: f64) -> f64 {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn random_target<const N: usize>(rng: &mut impl Rng, kind: TargetKind) -> [f64; N] {
    let mut t = [0.0; N];
    match kind {
        TargetKind::Real => t.iter_mut().for_each(|v| *v = uniform(rng, 1.5)),
        TargetKind::UnitInterval => t.iter_mut().for_each(|v| *v = 0.5 + uniform(rng, 0.5)),
        TargetKind::Distribution => {
            t.iter_mut().for_each(|v| *v = uniform(rng, 1.0).abs() + 0.05);
            let s: f64 = t.iter().sum();
            t.iter_mut().for_each(|v| *v /= s);
        }
    }
    t
}

/// Checks one f64 network against finite differences at several random points, and
/// the f32 build against it on the same weights.
fn check_case<N64, N32, const I: usize, const O: usize, const P: usize>(name: &str, targets: TargetKind)
where
    N64: Network<Scalar = f64, Input = [f64; I], Output = [f64; O], Params = [f64; P]>,
    N64::Trace: Buffer<f64>,
    N32: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed ^ name.len() as u64);
    for round in 0..4 {
        let mut params = [0.0; P];
        params.iter_mut().for_each(|p| *p = uniform(&mut rng, 0.9));
        let mut net = N64::from_params(params);
        let x: [f64; I] = core::array::from_fn(|_| uniform(&mut rng, 1.5));
        let t: [f64; O] = random_target(&mut rng, targets);

        let report = check_gradients(&mut net, &x, &t, GradCheckOptions::default());
        assert!(
            report.max_rel_error <= F64_TOL,
            "{name} (round {round}): backward disagrees with central differences: {:?}",
            report.worst
        );
        assert_eq!(report.checked, P + I);

        // The input-only backward gives the full backward's ∂L/∂x.
        let mut trace = N64::Trace::zeroed();
        net.forward_trace(&x, &mut trace);
        let (mut g, mut dx) = ([0.0; P], [0.0; I]);
        net.backward(&x, &trace, &t, 1.0, &mut g, Some(&mut dx));
        for (a, b) in dx.iter().zip(&net.input_gradient(&x, &t)) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1e-3), "{name}: input_backward {b} vs backward {a}");
        }

        // f32 on the same weights, inputs and targets.
        let net32 = N32::from_params(params.map(|p| p as f32));
        let x32 = x.map(|v| v as f32);
        let t32 = t.map(|v| v as f32);
        let close = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs()).max(1e-2) <= F32_TOL;
        let (l64, l32) = (net.loss(&x, &t), f64::from(net32.loss(&x32, &t32)));
        assert!(close(l64, l32), "{name}: loss f64 {l64} vs f32 {l32}");
        let mut g64 = [0.0; P];
        let mut g32 = [0.0_f32; P];
        net.gradient(&x, &t, &mut g64);
        net32.gradient(&x32, &t32, &mut g32);
        for (i, (&a, &b)) in g64.iter().zip(&g32).enumerate() {
            assert!(close(a, f64::from(b)), "{name}: gradient [{i}] f64 {a} vs f32 {b}");
        }
        let (d64, d32) = (net.input_gradient(&x, &t), net32.input_gradient(&x32, &t32));
        for (i, (&a, &b)) in d64.iter().zip(&d32).enumerate() {
            assert!(close(a, f64::from(b)), "{name}: input gradient [{i}] f64 {a} vs f32 {b}");
        }
    }
}

/// `case!(test_name, targets, Hidden, Output, loss...)` declares the spec in f64 and f32,
/// unrolled and looped, and a test that checks all four.
macro_rules! case {
    ($test:ident, $targets:ident, $hidden:ty, $output:ty, $($loss:tt)+) => {
        mod $test {
            use super::*;

            #[network(input = 3, loss = $($loss)+, scalar = f64, unroll = true)]
            pub struct Unrolled64 {
                first: Dense<4, $hidden>,
                second: Dense<3, Tanh, { bias = false }>,
                output: Dense<3, $output>,
            }

            #[network(input = 3, loss = $($loss)+, scalar = f32, unroll = true)]
            pub struct Unrolled32 {
                first: Dense<4, $hidden>,
                second: Dense<3, Tanh, { bias = false }>,
                output: Dense<3, $output>,
            }

            #[network(input = 3, loss = $($loss)+, scalar = f64, unroll = false)]
            pub struct Looped64 {
                first: Dense<4, $hidden>,
                second: Dense<3, Tanh, { bias = false }>,
                output: Dense<3, $output>,
            }

            #[network(input = 3, loss = $($loss)+, scalar = f32, unroll = false)]
            pub struct Looped32 {
                first: Dense<4, $hidden>,
                second: Dense<3, Tanh, { bias = false }>,
                output: Dense<3, $output>,
            }

            #[test]
            fn gradients_match_finite_differences() {
                check_case::<Unrolled64, Unrolled32, 3, 3, 40>(concat!(stringify!($test), " unrolled"), TargetKind::$targets);
                check_case::<Looped64, Looped32, 3, 3, 40>(concat!(stringify!($test), " looped"), TargetKind::$targets);
            }
        }
    };
}

// Every activation in a hidden layer (output identity, mse).
case!(hidden_identity, Real, Identity, Identity, mse);
case!(hidden_sigmoid, Real, Sigmoid, Identity, mse);
case!(hidden_tanh, Real, Tanh, Identity, mse);
case!(hidden_relu, Real, Relu, Identity, mse);
case!(hidden_leaky_relu, Real, LeakyRelu<0.1>, Identity, mse);
case!(hidden_elu, Real, Elu<0.7>, Identity, mse);
case!(hidden_softplus, Real, Softplus, Identity, mse);
case!(hidden_silu, Real, Silu, Identity, mse);
case!(hidden_gelu, Real, Gelu, Identity, mse);
case!(hidden_gelu_tanh, Real, GeluTanh, Identity, mse);
case!(hidden_softsign, Real, Softsign, Identity, mse);
case!(hidden_softmax, Real, Softmax, Identity, mse);

// Every output activation with every elementwise loss.
macro_rules! output_cases {
    ($($act_test:ident: $act:ty),* $(,)?) => {
        mod with_mse { use super::*; $(case!($act_test, Real, Tanh, $act, mse);)* }
        mod with_half_sse { use super::*; $(case!($act_test, Real, Relu, $act, half_sse);)* }
        mod with_mae { use super::*; $(case!($act_test, Real, Silu, $act, mae);)* }
        mod with_huber { use super::*; $(case!($act_test, Real, Sigmoid, $act, huber(delta = 0.3));)* }
    };
}

output_cases! {
    identity: Identity,
    sigmoid: Sigmoid,
    tanh: Tanh,
    relu: Relu,
    leaky_relu: LeakyRelu<0.05>,
    elu: Elu<1.3>,
    softplus: Softplus,
    silu: Silu,
    gelu: Gelu,
    gelu_tanh: GeluTanh,
    softsign: Softsign,
    softmax: Softmax,
}

// The fused losses, each with the one output activation it allows.
case!(cross_entropy_softmax, Distribution, Relu, Softmax, cross_entropy);
case!(binary_cross_entropy_sigmoid, UnitInterval, Gelu, Sigmoid, binary_cross_entropy);
