//! Jacobians and Levenberg–Marquardt.
//!
//! - `input_jacobian` and `param_jacobian` against central differences of `forward`
//!   (f64, 1e-6 relative), for elementwise, sigmoid, softmax outputs and a convolution /
//!   pooling network, unrolled and looped.
//! - `Jᵀ(y − t)` equals the `half_sse` gradient from backward (the Gauss–Newton pieces
//!   agree with the gradient).
//! - `H·v` (R-operator) against central differences of the gradient along `v` (f64,
//!   1e-6 relative) for every activation and every loss, unrolled and looped; the full
//!   Hessian symmetric, its diagonal equal to `hessian_diagonal`; at zero residual the
//!   `half_sse` Hessian equals the Gauss–Newton matrix `JᵀJ` built from the Jacobian.
//! - Levenberg–Marquardt never takes a step that increases the error, and on the 1-10-1
//!   tanh regression of the `second_order` example reaches a lower error than Adam in
//!   fewer epochs.

use stackprop::prelude::*;
use stackprop::{HessianError, HessianVector, LevenbergMarquardt, LmError, SplitMix64, hessian, hessian_diagonal};

const TOL: f64 = 1e-6;

fn uniform(rng: &mut SplitMix64, a: f64) -> f64 {
    use stackprop::rand_core::Rng;
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-3)
}

/// Both Jacobians of `N` at random points against central differences of `forward`.
fn check_jacobians<N, const I: usize, const O: usize, const P: usize>(
    name: &str,
    jac_in: fn(&N, &[f64; I]) -> [[f64; I]; O],
) where
    N: ParamJacobian<Scalar = f64, Input = [f64; I], Output = [f64; O], Params = [f64; P]>,
{
    let mut rng = SplitMix64::new(0x1ac0b1 ^ name.len() as u64);
    let h = 1e-5;
    for round in 0..3 {
        let params: [f64; P] = core::array::from_fn(|_| uniform(&mut rng, 0.9));
        let mut net = N::from_params(params);
        let x: [f64; I] = core::array::from_fn(|_| uniform(&mut rng, 1.5));

        let mut jac = vec![0.0; O * P];
        let y = net.param_jacobian_into(&x, &mut jac).expect("OUTPUT·PARAMS scalars");
        assert_eq!(y, net.forward(&x), "{name}: param_jacobian returns the outputs");
        assert!(net.param_jacobian_into(&x, &mut jac[1..]).is_none(), "{name}: a short buffer is refused");
        let mut worst = 0.0f64;
        for j in 0..P {
            let p0 = net.params()[j];
            net.params_mut()[j] = p0 + h;
            let yp = net.forward(&x);
            net.params_mut()[j] = p0 - h;
            let ym = net.forward(&x);
            net.params_mut()[j] = p0;
            for k in 0..O {
                let fd = (yp[k] - ym[k]) / (2.0 * h);
                worst = worst.max(rel(jac[k * P + j], fd));
            }
        }
        assert!(worst <= TOL, "{name} (round {round}): ∂y/∂θ off by {worst:e} relative");

        let jx = jac_in(&net, &x);
        let mut worst = 0.0f64;
        for i in 0..I {
            let (mut xp, mut xm) = (x, x);
            xp[i] += h;
            xm[i] -= h;
            let (yp, ym) = (net.forward(&xp), net.forward(&xm));
            for k in 0..O {
                worst = worst.max(rel(jx[k][i], (yp[k] - ym[k]) / (2.0 * h)));
            }
        }
        assert!(worst <= TOL, "{name} (round {round}): ∂y/∂x off by {worst:e} relative");
    }
}

macro_rules! jac_case {
    ($test:ident, $input:tt, [$($loss:tt)+], { $($body:tt)* }) => {
        #[test]
        fn $test() {
            mod unrolled {
                use stackprop::prelude::*;
                #[network(input = $input, loss = $($loss)+, scalar = f64, unroll = true)]
                pub struct Net { $($body)* }
            }
            mod looped {
                use stackprop::prelude::*;
                #[network(input = $input, loss = $($loss)+, scalar = f64, unroll = false)]
                pub struct Net { $($body)* }
            }
            check_jacobians(concat!(stringify!($test), " unrolled"), unrolled::Net::input_jacobian);
            check_jacobians(concat!(stringify!($test), " looped"), looped::Net::input_jacobian);
        }
    };
}

jac_case!(jacobian_tanh_identity, 3, [half_sse], {
    hidden: Dense<4, Tanh>,
    output: Dense<2, Identity>,
});

jac_case!(jacobian_elementwise_zoo, 3, [mse], {
    a: Dense<4, Softplus>,
    b: Dense<3, Gelu>,
    c: Dense<3, Elu<0.7>>,
    output: Dense<2, Silu>,
});

jac_case!(jacobian_sigmoid_output, 2, [binary_cross_entropy], {
    hidden: Dense<3, Sigmoid>,
    output: Dense<2, Sigmoid>,
});

jac_case!(jacobian_softmax_output, 3, [cross_entropy], {
    hidden: Dense<5, Tanh>,
    output: Dense<4, Softmax>,
});

jac_case!(jacobian_conv_pool, [1, 7, 7], [mse], {
    conv: Conv2d<2, Tanh, { kernel = 3; padding = 1 }>,
    pool: AvgPool2d<{ kernel = 2 }>,
    conv2: Conv2d<2, Softplus, { kernel = 2 }>,
    mpool: MaxPool2d<{ kernel = 2 }>,
    flat: Flatten,
    output: Dense<3, Identity>,
});

#[network(input = 2, loss = half_sse, scalar = f64)]
struct Small {
    hidden: Dense<3, Tanh>,
    output: Dense<2, Identity>,
}

#[test]
fn jacobian_transpose_residual_is_the_half_sse_gradient() {
    let mut rng = SplitMix64::new(7);
    let net = Small::seeded(3);
    let x = [uniform(&mut rng, 1.0), uniform(&mut rng, 1.0)];
    let t = [uniform(&mut rng, 1.0), uniform(&mut rng, 1.0)];
    let mut jac = [[0.0; Small::PARAMS]; Small::OUTPUT];
    let y = net.param_jacobian(&x, &mut jac);
    let mut g = [0.0; Small::PARAMS];
    net.gradient(&x, &t, &mut g);
    for j in 0..Small::PARAMS {
        let jte: f64 = (0..2).map(|k| jac[k][j] * (y[k] - t[k])).sum();
        assert!(rel(jte, g[j]) <= 1e-12, "parameter {j}: Jᵀe {jte} vs gradient {}", g[j]);
    }
}

/// The 1-10-1 tanh regression of the `second_order` example.
#[network(input = 1, loss = half_sse, scalar = f64)]
struct Fit {
    hidden: Dense<10, Tanh>,
    output: Dense<1, Identity>,
}

fn fit_data() -> (Vec<[f64; 1]>, Vec<[f64; 1]>) {
    let xs: Vec<[f64; 1]> = (0..41).map(|i| [-1.0 + 2.0 * f64::from(i) / 40.0]).collect();
    let ts = xs.iter().map(|x| [(std::f64::consts::PI * x[0]).sin() * 0.5 + 0.3 * x[0] * x[0]]).collect();
    (xs, ts)
}

#[test]
fn lm_never_increases_the_error_and_beats_adam() {
    let (xs, ts) = fit_data();
    let target = 1e-4;

    let mut net = Fit::seeded(1);
    let mut lm = LevenbergMarquardt::new();
    let mut work = vec![0.0; LevenbergMarquardt::<f64>::workspace_len(xs.len(), Fit::OUTPUT, Fit::PARAMS)];
    let mut lm_epochs = None;
    let mut last = LevenbergMarquardt::<f64>::error(&net, &xs, &ts);
    for epoch in 1..=200 {
        let r = lm.epoch(&mut net, &xs, &ts, &mut work).unwrap();
        assert_eq!(r.error_before, last);
        assert!(r.error_after <= r.error_before, "epoch {epoch}: the error rose");
        assert_eq!(r.error_after, LevenbergMarquardt::<f64>::error(&net, &xs, &ts));
        last = r.error_after;
        if last < target {
            lm_epochs = Some(epoch);
            break;
        }
    }
    let lm_epochs = lm_epochs.expect("Levenberg–Marquardt reaches the target");

    // Adam, full batch, same seed, as many epochs as LM took and then 20 times more.
    let mut net = Fit::seeded(1);
    let mut adam = Adam::new(0.01);
    let mut grad = [0.0; Fit::PARAMS];
    for _ in 0..lm_epochs {
        net.train_batch(&xs, &ts, &mut grad, &mut adam);
    }
    let adam_same = LevenbergMarquardt::<f64>::error(&net, &xs, &ts);
    assert!(adam_same > last, "Adam after {lm_epochs} epochs: {adam_same} vs LM {last}");
    for _ in lm_epochs..20 * lm_epochs {
        net.train_batch(&xs, &ts, &mut grad, &mut adam);
    }
    let adam_more = LevenbergMarquardt::<f64>::error(&net, &xs, &ts);
    assert!(adam_more > last, "Adam after {} epochs: {adam_more} vs LM {last}", 20 * lm_epochs);
}

#[test]
fn lm_rejects_bad_input_and_leaves_the_network() {
    let (xs, ts) = fit_data();
    let mut net = Fit::seeded(2);
    let before = *net.params();
    let mut lm = LevenbergMarquardt::new();
    let mut work = vec![0.0; 10];
    let err = lm.epoch(&mut net, &xs, &ts, &mut work).unwrap_err();
    assert!(matches!(err, LmError::Workspace { given: 10, .. }));
    assert!(err.to_string().contains("workspace"));
    let err = lm.epoch(&mut net, &xs, &ts[1..], &mut work).unwrap_err();
    assert_eq!(err, LmError::Samples { inputs: 41, targets: 40 });
    assert_eq!(*net.params(), before);
}

#[test]
fn lm_stops_past_mu_max_without_moving() {
    let (xs, ts) = fit_data();
    let mut net = Fit::seeded(2);
    let before = *net.params();
    let mut lm = LevenbergMarquardt { mu: 2e10, ..LevenbergMarquardt::new() };
    let mut work = vec![0.0; LevenbergMarquardt::<f64>::workspace_len(xs.len(), 1, Fit::PARAMS)];
    let r = lm.epoch(&mut net, &xs, &ts, &mut work).unwrap();
    assert!(!r.accepted && r.trials == 0);
    assert_eq!(*net.params(), before);
}

#[derive(Clone, Copy)]
enum Targets {
    Real,
    Distribution,
    UnitInterval,
}

/// `H·v` of `N` at random points against central differences of the gradient along `v`.
fn check_hv<N, const I: usize, const O: usize, const P: usize>(name: &str, targets: Targets)
where
    N: HessianVector<Scalar = f64, Input = [f64; I], Output = [f64; O], Params = [f64; P]>,
{
    let mut rng = SplitMix64::new(0x4e55 ^ name.len() as u64);
    let h = 1e-5;
    for round in 0..4 {
        let params: [f64; P] = core::array::from_fn(|_| uniform(&mut rng, 0.9));
        let mut net = N::from_params(params);
        let x: [f64; I] = core::array::from_fn(|_| uniform(&mut rng, 1.5));
        let mut t: [f64; O] = core::array::from_fn(|_| uniform(&mut rng, 1.5));
        match targets {
            Targets::Real => {}
            Targets::UnitInterval => t.iter_mut().for_each(|v| *v = 0.5 + *v / 3.0),
            Targets::Distribution => {
                t.iter_mut().for_each(|v| *v = v.abs() + 0.05);
                let s: f64 = t.iter().sum();
                t.iter_mut().for_each(|v| *v /= s);
            }
        }
        let v: [f64; P] = core::array::from_fn(|_| uniform(&mut rng, 1.0));
        let mut hv = [0.0; P];
        net.hessian_vector_product(&x, &t, &v, &mut hv);

        let grad_at = |net: &mut N, s: f64| {
            let mut p = params;
            p.iter_mut().zip(&v).for_each(|(p, v)| *p += s * v);
            *net.params_mut() = p;
            let mut g = [0.0; P];
            net.gradient(&x, &t, &mut g);
            g
        };
        let (gp, gm) = (grad_at(&mut net, h), grad_at(&mut net, -h));
        let mut worst = 0.0f64;
        for j in 0..P {
            worst = worst.max(rel(hv[j], (gp[j] - gm[j]) / (2.0 * h)));
        }
        assert!(worst <= TOL, "{name} (round {round}): H·v off by {worst:e} relative");
        assert!(hv.iter().any(|&e| e.abs() > 1e-3), "{name}: H·v is (nearly) zero, the check proves nothing");
    }
}

macro_rules! hv_case {
    ($test:ident, $targets:ident, [$($loss:tt)+], { $($body:tt)* }) => {
        #[test]
        fn $test() {
            mod unrolled {
                use stackprop::prelude::*;
                #[network(input = 3, loss = $($loss)+, scalar = f64, unroll = true)]
                #[activation(Bent = ((x * x + 1.0).sqrt() - 1.0) / 2.0 + x)]
                pub struct Net { $($body)* }
            }
            mod looped {
                use stackprop::prelude::*;
                #[network(input = 3, loss = $($loss)+, scalar = f64, unroll = false)]
                #[activation(Bent = ((x * x + 1.0).sqrt() - 1.0) / 2.0 + x)]
                pub struct Net { $($body)* }
            }
            check_hv::<unrolled::Net, 3, _, _>(concat!(stringify!($test), " unrolled"), Targets::$targets);
            check_hv::<looped::Net, 3, _, _>(concat!(stringify!($test), " looped"), Targets::$targets);
        }
    };
}

hv_case!(hv_sigmoid_tanh_mse, Real, [mse], {
    a: Dense<4, Sigmoid>,
    b: Dense<3, Tanh>,
    output: Dense<2, Identity>,
});

hv_case!(hv_relu_leaky_half_sse, Real, [half_sse], {
    a: Dense<5, Relu>,
    b: Dense<4, LeakyRelu<0.1>>,
    output: Dense<2, Tanh>,
});

hv_case!(hv_elu_softplus_mae, Real, [mae], {
    a: Dense<4, Elu<0.8>>,
    b: Dense<3, Softplus>,
    output: Dense<2, Sigmoid>,
});

hv_case!(hv_silu_gelu_huber, Real, [huber(delta = 0.5)], {
    a: Dense<4, Silu>,
    b: Dense<3, Gelu>,
    output: Dense<2, Identity>,
});

hv_case!(hv_gelu_tanh_softsign_custom_huber, Real, [huber], {
    a: Dense<4, GeluTanh>,
    b: Dense<3, Softsign>,
    c: Dense<3, Bent>,
    output: Dense<2, { x.atan() + 0.1 * x.powi(3) }>,
});

hv_case!(hv_softmax_cross_entropy, Distribution, [cross_entropy], {
    a: Dense<4, Tanh>,
    output: Dense<3, Softmax>,
});

hv_case!(hv_softmax_hidden_mse, Real, [mse], {
    a: Dense<4, Softmax>,
    output: Dense<2, Softplus>,
});

hv_case!(hv_sigmoid_binary_cross_entropy, UnitInterval, [binary_cross_entropy], {
    a: Dense<4, Softplus>,
    output: Dense<2, Sigmoid>,
});

#[network(input = 2, loss = half_sse, scalar = f64)]
struct Tiny {
    hidden: Dense<3, Sigmoid>,
    output: Dense<2, Identity>,
}

fn tiny_data() -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
    let mut rng = SplitMix64::new(11);
    let xs: Vec<[f64; 2]> = (0..5).map(|_| [uniform(&mut rng, 1.0), uniform(&mut rng, 1.0)]).collect();
    let ts = (0..5).map(|_| [uniform(&mut rng, 1.0), uniform(&mut rng, 1.0)]).collect();
    (xs, ts)
}

#[test]
fn hessian_is_symmetric_and_its_diagonal_matches() {
    const P: usize = Tiny::PARAMS;
    let (xs, ts) = tiny_data();
    let net = Tiny::seeded(5);
    let mut h = vec![0.0; P * P];
    hessian(&net, &xs, &ts, &mut h).unwrap();
    let mut d = vec![0.0; P];
    hessian_diagonal(&net, &xs, &ts, &mut d).unwrap();
    let scale = h.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 1e-2);
    for i in 0..P {
        assert_eq!(d[i], h[i * P + i]);
        for j in 0..i {
            assert!((h[i * P + j] - h[j * P + i]).abs() <= 1e-12 * scale, "H[{i}][{j}] ≠ H[{j}][{i}]");
        }
    }
    // Off-diagonal coupling exists (the check above is not between zeros).
    assert!(h.iter().enumerate().any(|(k, v)| k % (P + 1) != 0 && v.abs() > 1e-3));
}

#[test]
fn hessian_rejects_bad_buffers() {
    let (xs, ts) = tiny_data();
    let net = Tiny::seeded(5);
    let mut h = vec![7.0; 3];
    let err = hessian(&net, &xs, &ts, &mut h).unwrap_err();
    assert_eq!(err, HessianError::Buffer { needed: Tiny::PARAMS * Tiny::PARAMS, given: 3 });
    assert_eq!(h, [7.0; 3]);
    assert!(matches!(hessian_diagonal(&net, &xs, &ts[..2], &mut h), Err(HessianError::Samples { .. })));
}

#[test]
fn gauss_newton_is_jtj_at_zero_residual() {
    // With t = y(x), half_sse's Hessian is exactly Σ JᵀJ (the residual term vanishes).
    const P: usize = Tiny::PARAMS;
    let (xs, _) = tiny_data();
    let net = Tiny::seeded(9);
    let ts: Vec<[f64; 2]> = xs.iter().map(|x| net.forward(x)).collect();
    let mut h = vec![0.0; P * P];
    hessian(&net, &xs, &ts, &mut h).unwrap();
    let mut gn = vec![0.0; P * P];
    let mut jac = [[0.0; P]; 2];
    for x in &xs {
        net.param_jacobian(x, &mut jac);
        for row in &jac {
            for i in 0..P {
                for j in 0..P {
                    gn[i * P + j] += row[i] * row[j] / xs.len() as f64;
                }
            }
        }
    }
    let scale = gn.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for k in 0..P * P {
        assert!((h[k] - gn[k]).abs() <= 1e-12 * scale, "entry {k}: H {} vs JᵀJ {}", h[k], gn[k]);
    }
    // Away from zero residual they differ: the comparison can tell them apart.
    let (_, ts) = tiny_data();
    hessian(&net, &xs, &ts, &mut h).unwrap();
    assert!((0..P * P).any(|k| (h[k] - gn[k]).abs() > 1e-3 * scale));
}

#[test]
fn derivation_shows_the_r_pass() {
    let text = Tiny::DERIVATION;
    println!("{text}");
    assert!(text.contains("R{z₂} = W₂·R{a₁} + V_W₂·a₁ + V_b₂"), "{text}");
    assert!(text.contains("R{δ₁} = "), "{text}");
    assert!(text.contains("(H·v)_W₂ = R{δ₂}·a₁ᵀ + δ₂·R{a₁}ᵀ"), "{text}");
}

#[network(input = 2, loss = half_sse, scalar = f64)]
struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

#[test]
fn explain_shows_the_numbers_of_one_sgd_step() {
    let (x, t) = ([1.0, 0.0], [1.0]);
    let mut explained = Xor::seeded(7);
    let text = stackprop::explain_sgd_step(&mut explained, &x, &t, 0.5);
    // The step is the same as train_step with SGD.
    let mut trained = Xor::seeded(7);
    trained.train_step(&x, &t, &mut stackprop::Sgd::new(0.5));
    assert_eq!(explained.params(), trained.params());
    // The numbers printed are the network's: output, δ of the output layer, a weight.
    let net = Xor::seeded(7);
    let y = net.forward(&x)[0];
    assert!(text.contains(&format!("y = [{y:.6}]")), "{text}");
    let delta2 = (y - t[0]) * y * (1.0 - y);
    assert!(text.contains(&format!("δ₂ = ∂L/∂z₂ = [{delta2:.6}]")), "{text}");
    let w = net.params()[0];
    let mut g = [0.0; Xor::PARAMS];
    net.gradient(&x, &t, &mut g);
    let line = format!("    [0][0]     {:>14.6} {:>14.6} {:>14.6}", w, g[0], w - 0.5 * g[0]);
    assert!(text.contains(&line), "{line}\n{text}");
    assert!(text.contains("δ₁ = ∂L/∂z₁"), "{text}");
}
