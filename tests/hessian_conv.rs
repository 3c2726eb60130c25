//! Hessian-vector products of convolution and pooling networks (the R-operator through
//! `Conv1d`, `Conv2d`, `MaxPool*`, `AvgPool*`, `GlobalAvgPool` and `Flatten`).
//!
//! - `H·v` against central differences of the gradient along `v` (f64, 1e-6 relative),
//!   for convolutions with stride, padding and dilation and every pooling kind (with
//!   padding and overlapping windows), each spec emitted straight-line and as loops;
//!   the two emissions agree to rounding.
//! - The full Hessian of a tiny convolutional network is symmetric, and its columns are
//!   the products with `eⱼ`.
//! - The derivation shows the R-pass lines of these layers.
//!
//! Inputs, weights and directions are drawn at random; with continuous draws no two cells
//! of a max-pool window tie, so the argmax is fixed near the point and the max is twice
//! differentiable there.

use stackprop::prelude::*;
use stackprop::{HessianVector, SplitMix64, hessian};

/// Relative error allowed between `H·v` and central differences of the gradient.
const TOL: f64 = 1e-6;
/// The central-difference step along `v`.
const STEP: f64 = 1e-5;
/// Straight-line and loop emission sum in different orders: they agree to rounding.
const EMISSION_TOL: f64 = 1e-12;

fn uniform(rng: &mut SplitMix64, a: f64) -> f64 {
    use stackprop::rand_core::Rng;
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-3)
}

#[derive(Clone, Copy)]
enum Targets {
    Real,
    Distribution,
    UnitInterval,
}

/// One random point: parameters, input, target, direction.
struct Point<const I: usize, const O: usize, const P: usize> {
    params: [f64; P],
    x: [f64; I],
    t: [f64; O],
    v: [f64; P],
}

fn point<const I: usize, const O: usize, const P: usize>(rng: &mut SplitMix64, targets: Targets) -> Point<I, O, P> {
    let params = core::array::from_fn(|_| uniform(rng, 0.8));
    let x = core::array::from_fn(|_| uniform(rng, 1.5));
    let mut t: [f64; O] = core::array::from_fn(|_| uniform(rng, 1.5));
    match targets {
        Targets::Real => {}
        Targets::UnitInterval => t.iter_mut().for_each(|v| *v = 0.5 + *v / 3.0),
        Targets::Distribution => {
            t.iter_mut().for_each(|v| *v = v.abs() + 0.05);
            let s: f64 = t.iter().sum();
            t.iter_mut().for_each(|v| *v /= s);
        }
    }
    let v = core::array::from_fn(|_| uniform(rng, 1.0));
    Point { params, x, t, v }
}

/// `H·v` of `N` at random points against central differences of the gradient along `v`;
/// returns the products, for comparing emissions.
fn check_hv<N, const I: usize, const O: usize, const P: usize>(name: &str, targets: Targets) -> Vec<[f64; P]>
where
    N: HessianVector<Scalar = f64, Input = [f64; I], Output = [f64; O], Params = [f64; P]>,
{
    let mut rng = SplitMix64::new(0xc0_4e55);
    let mut products = Vec::new();
    for round in 0..3 {
        let Point { params, x, t, v } = point::<I, O, P>(&mut rng, targets);
        let mut net = N::from_params(params);
        let mut hv = [0.0; P];
        net.hessian_vector_product(&x, &t, &v, &mut hv);
        // It adds to the buffer.
        let mut twice = hv;
        net.hessian_vector_product(&x, &t, &v, &mut twice);
        assert!((0..P).all(|j| (twice[j] - 2.0 * hv[j]).abs() <= 1e-12 * hv[j].abs().max(1.0)), "{name}: adds");

        let mut grad_at = |s: f64| {
            let mut p = params;
            p.iter_mut().zip(&v).for_each(|(p, v)| *p += s * v);
            *net.params_mut() = p;
            let mut g = [0.0; P];
            net.gradient(&x, &t, &mut g);
            g
        };
        let (gp, gm) = (grad_at(STEP), grad_at(-STEP));
        let mut worst = (0.0f64, 0);
        for j in 0..P {
            let e = rel(hv[j], (gp[j] - gm[j]) / (2.0 * STEP));
            if e > worst.0 {
                worst = (e, j);
            }
        }
        assert!(
            worst.0 <= TOL,
            "{name} (round {round}): H·v off by {:e} relative at parameter {} ({} vs {})",
            worst.0,
            worst.1,
            hv[worst.1],
            (gp[worst.1] - gm[worst.1]) / (2.0 * STEP)
        );
        assert!(hv.iter().any(|&e| e.abs() > 1e-2), "{name}: H·v is (nearly) zero, the check proves nothing");
        products.push(hv);
    }
    products
}

fn agree<const P: usize>(name: &str, a: &[[f64; P]], b: &[[f64; P]]) {
    for (pa, pb) in a.iter().zip(b) {
        for j in 0..P {
            let e = (pa[j] - pb[j]).abs() / pa[j].abs().max(pb[j].abs()).max(1.0);
            assert!(e <= EMISSION_TOL, "{name}: straight-line and loops differ at {j}: {} vs {}", pa[j], pb[j]);
        }
    }
}

macro_rules! hv_case {
    ($test:ident, $input:tt, $targets:ident, [$($loss:tt)+], { $($body:tt)* }) => {
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
            let a = check_hv::<unrolled::Net, _, _, _>(
                concat!(stringify!($test), " unrolled"),
                Targets::$targets,
            );
            let b = check_hv::<looped::Net, _, _, _>(
                concat!(stringify!($test), " looped"),
                Targets::$targets,
            );
            agree(stringify!($test), &a, &b);
        }
    };
}

// 1-D: stride, padding and dilation; max pooling with overlapping, padded windows;
// average pooling with padding (counted in the divisor).
hv_case!(hv_conv1d_stride_padding_dilation_pools, [2, 13], Real, [mse], {
    conv: Conv1d<3, Tanh, { kernel = 3; stride = 2; padding = 2; dilation = 2 }>,
    mpool: MaxPool1d<{ kernel = 3; stride = 2; padding = 1 }>,
    conv2: Conv1d<2, Softplus, { kernel = 2 }>,
    apool: AvgPool1d<{ kernel = 2; padding = 1 }>,
    flat: Flatten,
    output: Dense<2, Identity>,
});

// 2-D: per-dimension kernel, stride, padding, dilation; non-overlapping max pooling;
// softmax with cross-entropy on top.
hv_case!(hv_conv2d_max_pool_cross_entropy, [1, 7, 6], Distribution, [cross_entropy], {
    conv: Conv2d<2, Sigmoid, { kernel = [3, 2]; stride = [1, 2]; padding = [1, 0]; dilation = [2, 1] }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<3, Softmax>,
});

// 2-D: overlapping padded max pooling, average pooling, no bias, and a convolution as
// the output layer (the loss on a multi-dimensional output).
hv_case!(hv_conv2d_avg_conv_output_half_sse, [2, 6, 6], Real, [half_sse], {
    conv: Conv2d<2, Gelu, { kernel = 2; padding = 1; bias = false }>,
    mpool: MaxPool2d<{ kernel = 3; stride = 2; padding = 1 }>,
    apool: AvgPool2d<{ kernel = 2; stride = 1 }>,
    output: Conv2d<2, Elu<0.7>, { kernel = 2; stride = 1 }>,
});

// Pooling below the first convolution (its input needs no R), and a dense layer after
// global pooling.
hv_case!(hv_pool_first_global_dense, [1, 8, 8], Real, [huber(delta = 0.3)], {
    apool: AvgPool2d<2>,
    conv: Conv2d<3, Silu, { kernel = 3; padding = 1 }>,
    mpool: MaxPool2d<{ kernel = 2; stride = 1 }>,
    gap: GlobalAvgPool,
    output: Dense<2, Tanh>,
});

// A 1-D convolution feeding a sigmoid output with binary cross-entropy on logits.
hv_case!(hv_conv1d_global_binary_cross_entropy, [3, 9], UnitInterval, [binary_cross_entropy], {
    conv: Conv1d<4, Softplus, { kernel = 4; dilation = 2 }>,
    gap: GlobalAvgPool,
    output: Dense<2, Sigmoid>,
});

#[network(input = [1, 4, 4], loss = half_sse, scalar = f64)]
struct TinyConv {
    conv: Conv2d<
        2,
        Tanh,
        {
            kernel = 2;
            padding = 1
        },
    >,
    pool: MaxPool2d<
        {
            kernel = 2;
            stride = 1
        },
    >,
    gap: GlobalAvgPool,
    output: Dense<1, Identity>,
}

#[test]
fn conv_hessian_is_symmetric() {
    const P: usize = TinyConv::PARAMS;
    let mut rng = SplitMix64::new(31);
    let xs: Vec<[f64; 16]> = (0..4).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.5))).collect();
    let ts: Vec<[f64; 1]> = (0..4).map(|_| [uniform(&mut rng, 1.0)]).collect();
    let net = TinyConv::seeded(3);
    let mut h = vec![0.0; P * P];
    hessian(&net, &xs, &ts, &mut h).unwrap();
    let scale = h.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 1e-2, "the Hessian is not (nearly) zero");
    for i in 0..P {
        for j in 0..i {
            assert!(
                (h[i * P + j] - h[j * P + i]).abs() <= 1e-12 * scale,
                "H[{i}][{j}] = {} ≠ H[{j}][{i}] = {}",
                h[i * P + j],
                h[j * P + i]
            );
        }
    }
    // Weights of different layers are coupled: the symmetry is not between zeros.
    let (w_conv, w_out) = (0, P - 2);
    assert!(h[w_conv * P + w_out].abs() > 1e-4, "conv–output coupling {}", h[w_conv * P + w_out]);
}

#[test]
fn derivation_shows_the_conv_and_pool_r_pass() {
    mod net {
        use stackprop::prelude::*;
        #[network(input = [1, 6, 6], loss = mse, scalar = f64)]
        pub struct Net {
            conv: Conv2d<2, Tanh, { kernel = 3 }>,
            mpool: MaxPool2d<2>,
            flat: Flatten,
            output: Dense<2, Identity>,
        }
    }
    let text = net::Net::DERIVATION;
    for line in [
        "R{z₁} = V_W₁ ⋆ x + V_b₁",
        "R{a₂} = R{a₁} at each window's argmax of a₁",
        "R{z₃} = W₃·R{a₂} + V_W₃·a₂ + V_b₃",
        "R{δ₂} = (W₃ᵀ·R{δ₃} + V_W₃ᵀ·δ₃)",
        "R{δ₁} = ",
        "route₂(R{δ₂})",
        "(H·v)_W₁ = x ⋆ R{δ₁}",
        "(H·v)_b₁ = Σ_positions R{δ₁}",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
}
