//! Jacobians and Levenberg–Marquardt.
//!
//! - `input_jacobian` and `param_jacobian` against central differences of `forward`
//!   (f64, 1e-6 relative), for elementwise, sigmoid, softmax outputs and a convolution /
//!   pooling network, unrolled and looped.
//! - `Jᵀ(y − t)` equals the `half_sse` gradient from backward (the Gauss–Newton pieces
//!   agree with the gradient).
//! - Levenberg–Marquardt never takes a step that increases the error, and on the 1-10-1
//!   tanh regression of the `second_order` example reaches a lower error than Adam in
//!   fewer epochs.

use stackprop::prelude::*;
use stackprop::{LevenbergMarquardt, LmError, SplitMix64};

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
