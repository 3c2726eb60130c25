//! Batch normalization: the generated mini-batch pass against the dynamic reference
//! network (written out through x̂, σ² and μ) and central finite differences of the
//! mini-batch loss, after dense and after convolution layers, at several batch sizes;
//! running statistics against a transcription of PyTorch's update; inference with the
//! running statistics; buffers outside the optimizer's reach; boxed storage (also on a
//! 2 MiB thread). Batch norm with dropout, in both orders: the same three ways through
//! a fixed dropout state, training against the dynamic network and bit for bit against
//! a twin, the state's life cycle. `try_train_batch` refusing non-finite values with the
//! network unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stackprop::NonFiniteStep;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
use stackprop::optim::OnHeap;
use stackprop::prelude::*;

/// Counts allocations on this thread, for the heap-free claim of the mini-batch pass.
struct Counting;

thread_local! {
    // `const` initialization: reading it never allocates, so the allocator cannot recurse.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` that needs no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[network(input = 4, loss = mse, scalar = f64)]
pub struct DenseBn {
    hidden: Dense<5, Tanh>,
    norm: BatchNorm,
    output: Dense<3, Tanh>,
}

#[network(input = 4, loss = mse, scalar = f64, storage = boxed)]
pub struct DenseBnBoxed {
    hidden: Dense<5, Tanh>,
    norm: BatchNorm,
    output: Dense<3, Tanh>,
}

#[network(input = [2, 6], loss = half_sse, scalar = f64)]
pub struct Conv1dBn {
    conv: Conv1d<3, Identity, { kernel = 3 }>,
    norm: BatchNorm<
        {
            eps = 1e-3;
            momentum = 0.2
        },
    >,
    flat: Flatten,
    output: Dense<2, Tanh>,
}

#[network(input = [1, 5, 5], loss = cross_entropy, scalar = f64)]
pub struct Conv2dBn {
    conv: Conv2d<2, Tanh, { kernel = 2 }>,
    norm: BatchNorm<{ affine = false }>,
    flat: Flatten,
    output: Dense<3, Softmax>,
}

/// Batch norm directly on the input, for the closed forms.
#[network(input = 3, loss = mse, scalar = f64)]
pub struct InputBn {
    norm: BatchNorm,
    output: Dense<2, Identity>,
}

fn dense_bn_dynamic() -> DynamicNet<f64> {
    let layers =
        [LayerSpec::dense(5, Activation::Tanh), LayerSpec::batch_norm(), LayerSpec::dense(3, Activation::Tanh)];
    DynamicNet::new(4, &layers, Loss::Mse).unwrap()
}

fn conv1d_bn_dynamic() -> DynamicNet<f64> {
    let layers = [
        LayerSpec::conv1d(3, 3, Activation::Identity),
        LayerSpec::BatchNorm { eps: 1e-3, momentum: 0.2, affine: true },
        LayerSpec::flatten(),
        LayerSpec::dense(2, Activation::Tanh),
    ];
    DynamicNet::with_shape(&[2, 6], &layers, Loss::HalfSse).unwrap()
}

fn conv2d_bn_dynamic() -> DynamicNet<f64> {
    let layers = [
        LayerSpec::conv2d(2, [2, 2], Activation::Tanh),
        LayerSpec::BatchNorm { eps: 1e-5, momentum: 0.1, affine: false },
        LayerSpec::flatten(),
        LayerSpec::dense(3, Activation::Softmax),
    ];
    DynamicNet::with_shape(&[1, 5, 5], &layers, Loss::CrossEntropy).unwrap()
}

/// Deterministic inputs in [-1, 1) and targets.
fn data<const I: usize, const O: usize>(n: usize, seed: u64, one_hot: bool) -> (Vec<[f64; I]>, Vec<[f64; O]>) {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    let xs = (0..n).map(|_| core::array::from_fn(|_| next())).collect();
    let ts = (0..n)
        .map(|k| {
            if one_hot {
                core::array::from_fn(|j| if j == k % O { 1.0 } else { 0.0 })
            } else {
                core::array::from_fn(|_| next() * 0.8)
            }
        })
        .collect();
    (xs, ts)
}

fn flat<const N: usize>(rows: &[[f64; N]]) -> Vec<f64> {
    rows.iter().flatten().copied().collect()
}

/// |a − b| ≤ tol·max(1, |a|, |b|) elementwise.
fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let scale = 1f64.max(x.abs()).max(y.abs());
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y} (diff {:e})", (x - y).abs());
    }
}

/// Generated vs dynamic (1e-12) vs central differences of the batch loss (1e-6
/// relative), for parameters and inputs, at the given batch sizes.
macro_rules! three_ways {
    ($net:ty, $dynamic:expr, $one_hot:expr, $sizes:expr) => {{
        const I: usize = <$net>::INPUT;
        const O: usize = <$net>::OUTPUT;
        const P: usize = <$net>::PARAMS;
        const R: usize = <$net>::BATCH_ROW;
        for (k, &n) in $sizes.iter().enumerate() {
            let mut net = <$net>::seeded(11 + k as u64);
            // Move γ and β away from 1 and 0 so that their gradients are exercised.
            let mut params = *net.params();
            for (i, p) in params.iter_mut().enumerate() {
                *p += 0.05 * ((i * 7 % 11) as f64 - 5.0) / 5.0;
            }
            *net.params_mut() = params;
            let (xs, ts) = data::<I, O>(n, 100 + k as u64, $one_hot);
            let mut ws = vec![[0.0; R]; n];
            let mut grad = [0.0; P];
            let mut gx = vec![[0.0; I]; n];
            let loss = net.batch_backward(&xs, &ts, &mut ws, &mut grad, Some(&mut gx));

            let mut dynamic: DynamicNet<f64> = $dynamic;
            dynamic.set_params(net.params()).unwrap();
            let mut dgrad = vec![0.0; P];
            let mut dgx = vec![0.0; n * I];
            let dloss = dynamic.batch_backward(&flat(&xs), &flat(&ts), &mut dgrad, Some(&mut dgx));
            assert_close("loss vs dynamic", &[loss], &[dloss], 1e-12);
            assert_close("∂L/∂θ vs dynamic", &grad, &dgrad, 1e-12);
            assert_close("∂L/∂x vs dynamic", &flat(&gx), &dgx, 1e-12);

            let h = 1e-5;
            let mut fd = [0.0; P];
            for i in 0..P {
                let mut plus = params;
                plus[i] += h;
                let mut minus = params;
                minus[i] -= h;
                let lp = <$net>::from_params(plus).batch_loss(&xs, &ts, &mut ws);
                let lm = <$net>::from_params(minus).batch_loss(&xs, &ts, &mut ws);
                fd[i] = (lp - lm) / (2.0 * h);
            }
            assert_close("∂L/∂θ vs finite differences", &grad, &fd, 1e-6);
            let mut fdx = vec![[0.0; I]; n];
            for s in 0..n {
                for j in 0..I {
                    let mut xp = xs.clone();
                    xp[s][j] += h;
                    let mut xm = xs.clone();
                    xm[s][j] -= h;
                    fdx[s][j] = (net.batch_loss(&xp, &ts, &mut ws) - net.batch_loss(&xm, &ts, &mut ws)) / (2.0 * h);
                }
            }
            assert_close("∂L/∂x vs finite differences", &flat(&gx), &flat(&fdx), 1e-6);
            // Nothing of this changed the running statistics.
            assert_eq!(net.buffers(), &<$net>::BUFFER_INIT);
            assert_eq!(net.counters(), &[0; <$net>::COUNTERS]);
        }
    }};
}

#[test]
fn dense_batch_norm_three_ways() {
    three_ways!(DenseBn, dense_bn_dynamic(), false, [2, 3, 7]);
}

#[test]
fn conv1d_batch_norm_three_ways() {
    three_ways!(Conv1dBn, conv1d_bn_dynamic(), false, [1, 2, 5]);
}

#[test]
fn conv2d_batch_norm_three_ways() {
    three_ways!(Conv2dBn, conv2d_bn_dynamic(), true, [1, 3, 4]);
}

/// Every layer emitted as loops (the runtime's kernels), two batch norm layers.
#[network(input = [2, 8], loss = cross_entropy, scalar = f64, unroll = false)]
pub struct LoopedBn {
    conv: Conv1d<
        4,
        Identity,
        {
            kernel = 3;
            padding = 1
        },
    >,
    norm: BatchNorm,
    flat: Flatten,
    hidden: Dense<12, Identity>,
    norm2: BatchNorm<{ eps = 1e-4 }>,
    output: Dense<3, Softmax>,
}

fn looped_bn_dynamic() -> DynamicNet<f64> {
    let layers = [
        LayerSpec::conv1d(4, 3, Activation::Identity).padding(1),
        LayerSpec::batch_norm(),
        LayerSpec::flatten(),
        LayerSpec::dense(12, Activation::Identity),
        LayerSpec::BatchNorm { eps: 1e-4, momentum: 0.1, affine: true },
        LayerSpec::dense(3, Activation::Softmax),
    ];
    DynamicNet::with_shape(&[2, 8], &layers, Loss::CrossEntropy).unwrap()
}

#[test]
fn batch_norm_on_the_input_three_ways() {
    let dynamic = || {
        DynamicNet::<f64>::new(3, &[LayerSpec::batch_norm(), LayerSpec::dense(2, Activation::Identity)], Loss::Mse)
            .unwrap()
    };
    three_ways!(InputBn, dynamic(), false, [2, 5]);
}

#[test]
fn looped_batch_norm_three_ways() {
    three_ways!(LoopedBn, looped_bn_dynamic(), true, [3, 6]);
}

#[test]
fn layout_names_parameters_and_buffers_as_pytorch() {
    let names: Vec<&str> = DenseBn::LAYOUT.iter().map(|p| p.name).collect();
    assert_eq!(names, ["hidden.weight", "hidden.bias", "norm.weight", "norm.bias", "output.weight", "output.bias"]);
    let buffers: Vec<(&str, &[usize], bool)> =
        DenseBn::BUFFER_LAYOUT.iter().map(|b| (b.name, b.shape, b.integer)).collect();
    assert_eq!(
        buffers,
        [
            ("norm.running_mean", &[5][..], false),
            ("norm.running_var", &[5][..], false),
            ("norm.num_batches_tracked", &[][..], true),
        ]
    );
    let net = DenseBn::seeded(3);
    assert_eq!(net.norm().0, &[1.0; 5], "γ starts at 1");
    assert_eq!(net.norm().1, &[0.0; 5], "β starts at 0");
    assert_eq!(net.norm_running(), (&[0.0; 5], &[1.0; 5], 0));
    // Conv2d: per channel.
    assert_eq!(Conv2dBn::BUFFER_LAYOUT[0].shape, &[2]);
    assert!(Conv2dBn::LAYOUT.iter().all(|p| !p.name.starts_with("norm.")), "affine = false: no γ, β");
}

/// PyTorch's `_BatchNorm.forward` in training mode, transcribed: `running_mean =
/// (1 − m)·running_mean + m·mean`, `running_var = (1 − m)·running_var + m·var·n/(n − 1)`,
/// `num_batches_tracked += 1`, with `mean` and the biased `var` over the batch.
fn torch_running(batches: &[Vec<[f64; 3]>], momentum: f64) -> ([f64; 3], [f64; 3], i64) {
    let (mut rm, mut rv, mut nbt) = ([0.0; 3], [1.0; 3], 0);
    for b in batches {
        let n = b.len() as f64;
        for c in 0..3 {
            let mean = b.iter().map(|x| x[c]).sum::<f64>() / n;
            let var = b.iter().map(|x| (x[c] - mean).powi(2)).sum::<f64>() / n;
            rm[c] = (1.0 - momentum) * rm[c] + momentum * mean;
            rv[c] = (1.0 - momentum) * rv[c] + momentum * var * n / (n - 1.0);
        }
        nbt += 1;
    }
    (rm, rv, nbt)
}

#[test]
fn running_statistics_follow_pytorch_and_inference_uses_them() {
    let batches: Vec<Vec<[f64; 3]>> = (0..5).map(|k| data::<3, 2>(2 + k, 40 + k as u64, false).0).collect();
    let mut net = InputBn::seeded(5);
    let mut opt = Sgd::new(0.1);
    let mut grad = [0.0; InputBn::PARAMS];
    let mut ws = vec![[0.0; InputBn::BATCH_ROW]; 8];
    let mut dynamic =
        DynamicNet::<f64>::new(3, &[LayerSpec::batch_norm(), LayerSpec::dense(2, Activation::Identity)], Loss::Mse)
            .unwrap();
    for (k, b) in batches.iter().enumerate() {
        let ts = vec![[0.5, -0.5]; b.len()];
        dynamic.set_params(net.params()).unwrap();
        let mut dgrad = vec![0.0; InputBn::PARAMS];
        dynamic.batch_gradient(&flat(b), &flat(&ts), &mut dgrad);
        net.train_batch(b, &ts, &mut ws, &mut grad, &mut opt);
        let (rm, rv, nbt) = torch_running(&batches[..=k], 0.1);
        let (gm, gv, gn) = net.norm_running();
        assert_close("running_mean", gm, &rm, 1e-14);
        assert_close("running_var", gv, &rv, 1e-14);
        assert_eq!(gn, nbt);
        assert_close("running stats vs dynamic", net.buffers(), dynamic.buffers(), 1e-14);
        assert_eq!(dynamic.counters(), &[nbt]);
    }
    // Inference: the formula with those statistics.
    let x = [0.3, -0.7, 1.1];
    let (g, b) = (*net.norm().0, *net.norm().1);
    let (rm, rv, _) = net.norm_running();
    let xn: [f64; 3] = core::array::from_fn(|c| g[c] * (x[c] - rm[c]) / (rv[c] + 1e-5).sqrt() + b[c]);
    let w = net.output().weight();
    let bias = net.output().bias().unwrap();
    let expected: [f64; 2] = core::array::from_fn(|o| (0..3).map(|i| w[o][i] * xn[i]).sum::<f64>() + bias[o]);
    assert_close("inference", &net.forward(&x), &expected, 1e-14);
    dynamic.set_params(net.params()).unwrap();
    assert_close("inference vs dynamic", &net.forward(&x), dynamic.forward(&x), 1e-14);

    // Reset and set.
    net.set_norm_running(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 7);
    assert_eq!(net.norm_running(), (&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 7));
    net.reset_running_stats();
    assert_eq!(net.norm_running(), (&[0.0; 3], &[1.0; 3], 0));
}

#[test]
fn optimizers_weight_decay_and_clipping_leave_buffers_alone() {
    let (xs, ts) = data::<4, 3>(6, 9, false);
    let mut ws = vec![[0.0; DenseBn::BATCH_ROW]; 6];
    let mut grad = [0.0; DenseBn::PARAMS];
    // The reference: the statistics a bare training forward leaves.
    let mut reference = DenseBn::seeded(2);
    reference.batch_gradient(&xs, &ts, &mut ws, &mut grad);
    for k in 0..3 {
        let mut net = DenseBn::seeded(2);
        let loss = match k {
            0 => net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut AdamW::new(0.5).weight_decay(0.9)),
            1 => net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut Sgd::new(5.0)),
            _ => {
                let l = net.batch_gradient(&xs, &ts, &mut ws, &mut grad);
                stackprop::clip_grad_norm(&mut grad, 1e-3);
                Adam::new(1.0).step(net.params_mut(), &grad);
                l
            }
        };
        assert!(loss.is_finite());
        assert_ne!(net.params(), reference.params(), "the optimizer stepped");
        assert_eq!(net.buffers(), reference.buffers(), "optimizer {k} touched the running statistics");
        assert_eq!(net.counters(), &[1]);
    }
}

#[test]
fn boxed_storage_computes_the_same() {
    let (xs, ts) = data::<4, 3>(5, 21, false);
    let mut a = DenseBn::seeded(8);
    let mut b = DenseBnBoxed::seeded(8);
    assert_eq!(a.params(), b.params());
    let mut ws = vec![[0.0; DenseBn::BATCH_ROW]; 5];
    let (mut ga, mut gb) = ([0.0; DenseBn::PARAMS], [0.0; DenseBn::PARAMS]);
    let mut opt_a = Adam::new(0.01);
    let mut opt_b = Adam::new(0.01);
    for _ in 0..3 {
        a.train_batch(&xs, &ts, &mut ws, &mut ga, &mut opt_a);
        b.train_batch(&xs, &ts, &mut ws, &mut gb, &mut opt_b);
    }
    assert_eq!(a.params(), b.params());
    assert_eq!(a.buffers(), b.buffers());
    assert_eq!(a.counters(), b.counters());
    assert_eq!(a.forward(&xs[0]), b.forward(&xs[0]));
}

#[test]
#[should_panic(expected = "more than one value per channel")]
fn a_batch_of_one_is_refused_in_training() {
    let (xs, ts) = data::<4, 3>(1, 1, false);
    let mut ws = vec![[0.0; DenseBn::BATCH_ROW]; 1];
    let _ = DenseBn::seeded(1).batch_loss(&xs, &ts, &mut ws);
}

#[test]
fn buffers_are_saved_and_loaded_with_the_weights() {
    use stackprop::weights::Dtype;
    use stackprop::weights::buffers::{load_with_buffers, save_with_buffers};
    use stackprop::weights::safetensors::{LoadOptions, SaveOptions, parse};

    let (xs, ts) = data::<4, 3>(4, 5, false);
    let mut ws = vec![[0.0; DenseBn::BATCH_ROW]; 4];
    let mut grad = [0.0; DenseBn::PARAMS];
    let mut net = DenseBn::seeded(4);
    for _ in 0..3 {
        net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut Sgd::new(0.1));
    }
    let bytes = save_with_buffers(&net, &SaveOptions::default());
    let file = parse(&bytes).unwrap();
    let nbt = file.tensor("norm.num_batches_tracked").unwrap();
    assert_eq!((nbt.dtype, nbt.shape.as_slice(), nbt.data), (Dtype::I64, &[][..], &3i64.to_le_bytes()[..]));
    assert_eq!(file.tensor("norm.running_var").unwrap().shape, [5]);

    let mut loaded = DenseBn::zeroed();
    load_with_buffers(&mut loaded, &bytes, &LoadOptions::strict()).unwrap();
    assert_eq!(loaded.params(), net.params());
    assert_eq!(loaded.buffers(), net.buffers());
    assert_eq!(loaded.counters(), &[3]);
    assert_eq!(loaded.forward(&xs[0]), net.forward(&xs[0]));

    // A file without the buffers, or with a wrong shape, changes nothing.
    let params_only = stackprop::weights::safetensors::serialize(
        &[("norm.weight", Dtype::F64, &[5], &[0u8; 40]), ("norm.running_mean", Dtype::F64, &[4], &[0u8; 32])],
        &[],
    );
    let mut untouched = DenseBn::seeded(9);
    let before = (*untouched.params(), *untouched.buffers(), *untouched.counters());
    assert!(load_with_buffers(&mut untouched, &params_only, &LoadOptions::strict()).is_err());
    assert!(load_with_buffers(&mut untouched, &bytes[..bytes.len() - 3], &LoadOptions::strict()).is_err());
    assert_eq!((*untouched.params(), *untouched.buffers(), *untouched.counters()), before);

    // The flat bytes format, without a heap.
    use stackprop::weights::bytes::{encoded_len_with_buffers, read_with_buffers, write_with_buffers};
    let mut buf = vec![0u8; encoded_len_with_buffers(&net)];
    assert_eq!(write_with_buffers(&net, &mut buf), Ok(buf.len()));
    let mut from_bytes = DenseBn::zeroed();
    read_with_buffers(&mut from_bytes, &buf).unwrap();
    assert_eq!((from_bytes.params(), from_bytes.buffers(), from_bytes.counters()), (net.params(), net.buffers(), &[3]));
    // A truncated buffer and a changed layout hash are refused, the network unchanged.
    let mut untouched = DenseBn::seeded(9);
    assert!(read_with_buffers(&mut untouched, &buf[..buf.len() - 1]).is_err());
    buf[20] ^= 1;
    assert!(read_with_buffers(&mut untouched, &buf).is_err());
    assert_eq!((*untouched.params(), *untouched.buffers(), *untouched.counters()), before);
    // A network with buffers is not readable by the parameters-only reader's layout.
    assert_ne!(
        stackprop::weights::bytes::buffers_hash(DenseBn::LAYOUT, DenseBn::BUFFER_LAYOUT),
        stackprop::weights::bytes::layout_hash(DenseBn::LAYOUT)
    );
}

#[test]
fn derivation_shows_the_backward_through_mean_and_variance() {
    let d = DenseBn::DERIVATION;
    for line in [
        "a₂ = γ₂·x̂₂ + β₂, x̂₂ = (a₁ − μ_B)·r₂, r₂ = 1/√(σ²_B + ε)",
        "δ₁ = (γ₂·r₂·(δ₂ − mean_B(δ₂) − x̂₂·mean_B(δ₂·x̂₂))) ⊙ (1 − a₁²)",
        "∂L/∂γ₂ = Σ_B δ₂·x̂₂   ∂L/∂β₂ = Σ_B δ₂",
        "∂L/∂σ²_B = −½·r₂³·Σ_B ∂L/∂x̂₂·(a₁ − μ_B)",
        "∂L/∂W₁ = [δ₃] · [W₃] · [∂x̂₂/∂a₁] · [(1 − a₁²)] · [xᵀ]",
    ] {
        assert!(d.contains(line), "derivation lacks {line:?}:\n{d}");
    }
    assert!(!d.contains("∂L/∂W₂"), "batch norm has no weight matrix:\n{d}");
}

#[network(input = 4, loss = mse)]
pub struct DenseBn32 {
    hidden: Dense<5, Tanh>,
    norm: BatchNorm,
    output: Dense<3, Tanh>,
}

#[test]
fn f32_agrees_with_f64() {
    let (xs, ts) = data::<4, 3>(6, 77, false);
    let net = DenseBn::seeded(6);
    let net32 = DenseBn32::from_params(net.params().map(|p| p as f32));
    let mut ws = vec![[0.0; DenseBn::BATCH_ROW]; 6];
    let mut ws32 = vec![[0.0f32; DenseBn32::BATCH_ROW]; 6];
    let mut g = [0.0; DenseBn::PARAMS];
    let mut g32 = [0.0f32; DenseBn32::PARAMS];
    let xs32: Vec<[f32; 4]> = xs.iter().map(|x| x.map(|v| v as f32)).collect();
    let ts32: Vec<[f32; 3]> = ts.iter().map(|t| t.map(|v| v as f32)).collect();
    let l = net.batch_backward(&xs, &ts, &mut ws, &mut g, None);
    let l32 = net32.batch_backward(&xs32, &ts32, &mut ws32, &mut g32, None);
    assert_close("loss f32", &[f64::from(l32)], &[l], 1e-5);
    assert_close("gradient f32", &g32.map(f64::from), &g, 1e-4);
}

/// Layers emitted as loops (runtime kernels), a convolution and batch norm per channel.
#[network(input = [2, 16], loss = cross_entropy, unroll = false)]
pub struct Looped {
    conv: Conv1d<
        8,
        Identity,
        {
            kernel = 3;
            padding = 1
        },
    >,
    norm: BatchNorm,
    flat: Flatten,
    hidden: Dense<48, Identity>,
    norm2: BatchNorm,
    output: Dense<4, Softmax>,
}

#[test]
fn mini_batch_training_allocates_nothing_on_a_2_mib_thread() {
    let allocations = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let xs: [[f32; 32]; 32] =
                core::array::from_fn(|i| core::array::from_fn(|j| ((i * 7 + j * 3) % 11) as f32 / 11.0));
            let ts: [Class; 32] = core::array::from_fn(|i| Class(i % 4));
            let mut net = Looped::seeded(1);
            let mut ws = [[0.0; Looped::BATCH_ROW]; 32];
            let mut grad = [0.0; Looped::PARAMS];
            let mut opt = Adam::new(1e-3);
            let first = net.batch_loss(&xs, &ts, &mut ws);
            let n = allocations_during(|| {
                for _ in 0..20 {
                    net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut opt);
                }
                let _ = net.forward(&xs[0]);
            });
            assert!(net.batch_loss(&xs, &ts, &mut ws) < first);
            n
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(allocations, 0);
}

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Batch norm then dropout (the common order), the layer sizes of [`DenseBn`].
#[network(input = 4, loss = mse, scalar = f64)]
pub struct DenseBnDrop {
    hidden: Dense<5, Tanh>,
    norm: BatchNorm,
    drop: Dropout<0.3>,
    output: Dense<3, Tanh>,
}

/// Dropout before batch norm: every sample's mask reaches every sample's output through
/// the batch statistics.
#[network(input = [1, 5, 5], loss = cross_entropy, scalar = f64)]
pub struct Conv2dDropBn {
    conv: Conv2d<2, Tanh, { kernel = 2 }>,
    drop: Dropout<{ p = 0.4 }>,
    norm: BatchNorm,
    flat: Flatten,
    output: Dense<3, Softmax>,
}

fn dense_bn_drop_dynamic() -> DynamicNet<f64> {
    let layers = [
        LayerSpec::dense(5, Activation::Tanh),
        LayerSpec::batch_norm(),
        LayerSpec::dropout(0.3),
        LayerSpec::dense(3, Activation::Tanh),
    ];
    DynamicNet::new(4, &layers, Loss::Mse).unwrap()
}

fn conv2d_drop_bn_dynamic() -> DynamicNet<f64> {
    let layers = [
        LayerSpec::conv2d(2, [2, 2], Activation::Tanh),
        LayerSpec::dropout(0.4),
        LayerSpec::batch_norm(),
        LayerSpec::flatten(),
        LayerSpec::dense(3, Activation::Softmax),
    ];
    DynamicNet::with_shape(&[1, 5, 5], &layers, Loss::CrossEntropy).unwrap()
}

/// As [`three_ways!`], through the masks of a fixed dropout state (set on every copy).
macro_rules! three_ways_dropout {
    ($net:ty, $dynamic:expr, $one_hot:expr, $sizes:expr) => {{
        const I: usize = <$net>::INPUT;
        const O: usize = <$net>::OUTPUT;
        const P: usize = <$net>::PARAMS;
        const R: usize = <$net>::BATCH_ROW;
        for (k, &n) in $sizes.iter().enumerate() {
            let state = 0x5eed_0000 + k as u64;
            let with_state = |params: [f64; P]| {
                let mut net = <$net>::from_params(params);
                net.set_dropout_seed(state);
                net
            };
            let mut params = *<$net>::seeded(31 + k as u64).params();
            for (i, p) in params.iter_mut().enumerate() {
                *p += 0.05 * ((i * 7 % 11) as f64 - 5.0) / 5.0;
            }
            let net = with_state(params);
            let (xs, ts) = data::<I, O>(n, 200 + k as u64, $one_hot);
            let mut ws = vec![[0.0; R]; n];
            let mut grad = [0.0; P];
            let mut gx = vec![[0.0; I]; n];
            let loss = net.batch_backward(&xs, &ts, &mut ws, &mut grad, Some(&mut gx));
            assert_eq!(net.dropout_state(), state, "batch_backward leaves the state");

            let mut dynamic: DynamicNet<f64> = $dynamic;
            dynamic.set_params(net.params()).unwrap();
            dynamic.set_dropout_seed(state);
            let mut dgrad = vec![0.0; P];
            let mut dgx = vec![0.0; n * I];
            let dloss = dynamic.batch_backward(&flat(&xs), &flat(&ts), &mut dgrad, Some(&mut dgx));
            assert_close("loss vs dynamic", &[loss], &[dloss], 1e-12);
            assert_close("∂L/∂θ vs dynamic", &grad, &dgrad, 1e-12);
            assert_close("∂L/∂x vs dynamic", &flat(&gx), &dgx, 1e-12);
            assert_eq!(dynamic.dropout_state(), state);

            // The masks are in effect: another state gives another loss.
            let mut other = with_state(params);
            other.set_dropout_seed(state ^ 0xffff);
            assert_ne!(other.batch_loss(&xs, &ts, &mut ws), loss, "the dropout masks change nothing");

            let h = 1e-5;
            let mut fd = [0.0; P];
            for i in 0..P {
                let mut plus = params;
                plus[i] += h;
                let mut minus = params;
                minus[i] -= h;
                let lp = with_state(plus).batch_loss(&xs, &ts, &mut ws);
                let lm = with_state(minus).batch_loss(&xs, &ts, &mut ws);
                fd[i] = (lp - lm) / (2.0 * h);
            }
            assert_close("∂L/∂θ vs finite differences", &grad, &fd, 1e-6);
            let mut fdx = vec![[0.0; I]; n];
            for s in 0..n {
                for j in 0..I {
                    let mut xp = xs.clone();
                    xp[s][j] += h;
                    let mut xm = xs.clone();
                    xm[s][j] -= h;
                    fdx[s][j] = (net.batch_loss(&xp, &ts, &mut ws) - net.batch_loss(&xm, &ts, &mut ws)) / (2.0 * h);
                }
            }
            assert_close("∂L/∂x vs finite differences", &flat(&gx), &flat(&fdx), 1e-6);
            assert_eq!(net.dropout_state(), state, "batch_loss leaves the state");
            assert_eq!(net.buffers(), &<$net>::BUFFER_INIT);
        }
    }};
}

#[test]
fn batch_norm_then_dropout_three_ways() {
    three_ways_dropout!(DenseBnDrop, dense_bn_drop_dynamic(), false, [2, 3, 7]);
}

#[test]
fn conv_dropout_then_batch_norm_three_ways() {
    three_ways_dropout!(Conv2dDropBn, conv2d_drop_bn_dynamic(), true, [2, 5]);
}

#[test]
fn dropout_with_batch_norm_trains_as_the_dynamic_network_and_reproducibly() {
    let (xs, ts) = data::<4, 3>(6, 13, false);
    let mut ws = vec![[0.0; DenseBnDrop::BATCH_ROW]; 6];
    let mut grad = [0.0; DenseBnDrop::PARAMS];
    // `seeded` draws the state after the parameters, as a per-sample network and the
    // dynamic one do.
    let mut net = DenseBnDrop::seeded(17);
    let mut dynamic = DynamicNet::<f64>::seeded(
        4,
        &[
            LayerSpec::dense(5, Activation::Tanh),
            LayerSpec::batch_norm(),
            LayerSpec::dropout(0.3),
            LayerSpec::dense(3, Activation::Tanh),
        ],
        Loss::Mse,
        17,
    )
    .unwrap();
    assert_eq!(net.params()[..], dynamic.params()[..]);
    assert_eq!(net.dropout_state(), dynamic.dropout_state());
    assert_ne!(net.dropout_state(), 0);
    let mut twin = DenseBnDrop::seeded(17);
    let (mut opt, mut dopt, mut topt) = (Adam::new(0.01), Adam::new(0.01), Adam::new(0.01));
    let mut states = Vec::new();
    for _ in 0..5 {
        let before = net.dropout_state();
        let mut g = [0.0; DenseBnDrop::PARAMS];
        let l0 = net.batch_gradient(&xs, &ts, &mut ws, &mut g);
        assert_eq!(net.dropout_state(), before, "batch_gradient leaves the state");
        net.counters_mut()[0] -= 1;
        *net.buffers_mut() = *twin.buffers();
        let loss = net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut opt);
        assert_eq!(loss.to_bits(), l0.to_bits());
        assert_eq!(grad, g, "train_batch steps with batch_gradient's gradient");
        assert_eq!(net.dropout_state(), stackprop::dropout::next_state(before), "train_batch moves the state on");
        states.push(net.dropout_state());
        let dloss = dynamic.train_batch(&flat(&xs), &flat(&ts), &mut dopt);
        assert_close("loss vs dynamic", &[loss], &[dloss], 1e-12);
        assert_close("parameters vs dynamic", net.params(), dynamic.params(), 1e-12);
        assert_close("running statistics vs dynamic", net.buffers(), dynamic.buffers(), 1e-12);
        assert_eq!(net.counters()[..], dynamic.counters()[..]);
        assert_eq!(net.dropout_state(), dynamic.dropout_state());
        // The same seed, the same run, bit for bit.
        let tloss = twin.train_batch(&xs, &ts, &mut ws, &mut grad, &mut topt);
        assert_eq!(tloss.to_bits(), loss.to_bits());
        assert_eq!(twin.params(), net.params());
        assert_eq!(twin.buffers(), net.buffers());
        assert_eq!(twin.dropout_state(), net.dropout_state());
    }
    states.dedup();
    assert_eq!(states.len(), 5, "every step draws new masks");

    // Inference: dropout is the identity, so the network computes what the same network
    // without the dropout layer computes.
    let mut plain = DenseBn::from_params(*net.params());
    *plain.buffers_mut() = *net.buffers();
    for x in &xs {
        assert_eq!(net.forward(x), plain.forward(x));
    }
    assert_close("inference vs dynamic", &net.forward(&xs[0]), dynamic.forward(&flat(&xs[..1])), 1e-12);
    // `zeroed`/`from_params` start from state 0; `init_with` redraws it.
    assert_eq!(DenseBnDrop::zeroed().dropout_state(), 0);
    assert_eq!(DenseBnDrop::from_params(*net.params()).dropout_state(), 0);
    let mut re = DenseBnDrop::zeroed();
    re.init_with(&mut stackprop::SplitMix64::new(17));
    assert_eq!(re.dropout_state(), DenseBnDrop::seeded(17).dropout_state());
}

#[test]
fn derivation_of_batch_norm_with_dropout_shows_the_mask() {
    let d = DenseBnDrop::DERIVATION;
    for line in [
        "a₃ = m₃ ⊙ a₂,  m₃ⱼ = [uⱼ ≥ 0.3]/(1 − 0.3)",
        "x̂₂ = (a₁ − μ_B)·r₂",
        "δ₂ = ∂L/∂a₂ = m₃ ⊙ δ₃",
        "∂L/∂W₁ = [δ₄] · [W₄] · [m₃] · [∂x̂₂/∂a₁] · [(1 − a₁²)] · [xᵀ]",
    ] {
        assert!(d.contains(line), "derivation lacks {line:?}:\n{d}");
    }
}

/// Everything `try_train_batch` promises to leave as it was.
fn snapshot_state(net: &DenseBnDrop) -> ([f64; DenseBnDrop::PARAMS], Vec<f64>, Vec<i64>, u64) {
    (*net.params(), net.buffers().to_vec(), net.counters().to_vec(), net.dropout_state())
}

#[test]
fn try_train_batch_refuses_non_finite_values_and_changes_nothing() {
    let (xs, ts) = data::<4, 3>(5, 3, false);
    let mut ws = vec![[0.0; DenseBnDrop::BATCH_ROW]; 5];
    let (mut grad, mut backup) = ([0.0; DenseBnDrop::PARAMS], [0.0; DenseBnDrop::PARAMS]);
    let mut net = DenseBnDrop::seeded(4);
    let mut opt = Sgd::new(0.1).momentum(0.9);
    // Give the network and the optimizer some history.
    for _ in 0..2 {
        net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut opt);
    }
    let before = snapshot_state(&net);
    let opt_before = format!("{opt:?}");

    let mut bad_x = xs.clone();
    bad_x[2][1] = f64::NAN;
    let e = net.try_train_batch(&bad_x, &ts, &mut ws, &mut grad, &mut backup, &mut opt);
    assert_eq!(e, Err(NonFiniteStep::BatchInput { sample: 2, feature: 1 }));
    let mut bad_t = ts.clone();
    bad_t[4][0] = f64::INFINITY;
    let e = net.try_train_batch(&xs, &bad_t, &mut ws, &mut grad, &mut backup, &mut opt);
    assert_eq!(e, Err(NonFiniteStep::BatchTarget { sample: 4, output: 0 }));
    // An update that overflows: the pass has already moved the running statistics and
    // the counter, which are put back with the parameters.
    let mut huge = Sgd::new(f64::INFINITY).momentum(0.9);
    let huge_before = format!("{huge:?}");
    let e = net.try_train_batch(&xs, &ts, &mut ws, &mut grad, &mut backup, &mut huge);
    assert!(matches!(e, Err(NonFiniteStep::Parameters { .. })), "{e:?}");
    assert_eq!(format!("{huge:?}"), huge_before, "the refused step's optimizer is put back");
    assert_eq!(snapshot_state(&net), before);
    assert_eq!(format!("{opt:?}"), opt_before, "the optimizer is unchanged");

    // A finite step is `train_batch`, bit for bit.
    let mut twin = DenseBnDrop::seeded(4);
    let mut twin_opt = Sgd::new(0.1).momentum(0.9);
    for _ in 0..2 {
        twin.train_batch(&xs, &ts, &mut ws, &mut grad, &mut twin_opt);
    }
    let loss = net.try_train_batch(&xs, &ts, &mut ws, &mut grad, &mut backup, &mut opt).unwrap();
    let twin_loss = twin.train_batch(&xs, &ts, &mut ws, &mut grad, &mut twin_opt);
    assert_eq!(loss.to_bits(), twin_loss.to_bits());
    assert_eq!(snapshot_state(&net), snapshot_state(&twin));
    assert_ne!(snapshot_state(&net).3, before.3, "the dropout state moved on");
    assert_eq!(net.try_train_batch(&[], &[] as &[[f64; 3]], &mut ws, &mut grad, &mut backup, &mut opt), Ok(0.0));
    assert_eq!(snapshot_state(&net), snapshot_state(&twin));
}

#[test]
fn try_train_batch_refuses_a_non_finite_loss_with_finite_data() {
    let (xs, _) = data::<3, 2>(4, 8, false);
    let ts = vec![[0.0, 0.0]; 4];
    let mut net = InputBn::seeded(1);
    // Outputs near 1e200: their squares overflow.
    net.params_mut()[6..12].fill(1e200);
    let before = (*net.params(), *net.buffers(), *net.counters());
    let mut ws = vec![[0.0; InputBn::BATCH_ROW]; 4];
    let (mut grad, mut backup) = ([0.0; InputBn::PARAMS], [0.0; InputBn::PARAMS]);
    let e = net.try_train_batch(&xs, &ts, &mut ws, &mut grad, &mut backup, &mut Sgd::new(0.1));
    assert_eq!(e, Err(NonFiniteStep::Loss));
    assert_eq!((*net.params(), *net.buffers(), *net.counters()), before, "running statistics restored");
    // Unchecked, the same call corrupts the parameters.
    let loss = net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut Sgd::new(0.1));
    assert!(!loss.is_finite());
}

/// A network too big for inline storage on a small stack: 784·256 + ... parameters.
#[network(input = 784, loss = cross_entropy, storage = boxed)]
pub struct BigBn {
    hidden: Dense<256, Relu>,
    norm: BatchNorm,
    drop: Dropout<0.1>,
    output: Dense<10, Softmax>,
}

#[test]
fn boxed_batch_norm_network_trains_on_a_2_mib_thread() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            const P: usize = BigBn::PARAMS;
            const { assert!(P * 4 > 800_000) };
            let boxed = || -> Box<[f32; P]> { vec![0.0f32; P].into_boxed_slice().try_into().unwrap() };
            let xs: Vec<[f32; 784]> =
                (0..16).map(|i| core::array::from_fn(|j| ((i * 31 + j * 7) % 17) as f32 / 17.0 - 0.5)).collect();
            let ts: Vec<Class> = (0..16).map(|i| Class(i % 10)).collect();
            let mut net = BigBn::seeded(2);
            let mut ws = vec![[0.0f32; BigBn::BATCH_ROW]; 16];
            let (mut grad, mut backup) = (boxed(), boxed());
            // The optimizer's state on the heap too (`Adam<[f32; P]>` would hold 2·P
            // scalars in place).
            let mut opt = OnHeap(Adam::<Vec<f32>>::new(1e-3));
            let first = net.batch_loss(&xs, &ts, &mut ws);
            for _ in 0..5 {
                net.try_train_batch(&xs, &ts, &mut ws, &mut grad, &mut backup, &mut opt).unwrap();
                net.train_batch(&xs, &ts, &mut ws, &mut grad, &mut opt);
            }
            assert!(net.batch_loss(&xs, &ts, &mut ws) < first);
            assert_eq!(net.counters(), &[10]);
            let y = net.forward(&xs[0]);
            assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[network(input = 4, loss = mse)]
pub struct DenseBnDrop32 {
    hidden: Dense<5, Tanh>,
    norm: BatchNorm,
    drop: Dropout<0.3>,
    output: Dense<3, Tanh>,
}

#[test]
fn f32_agrees_with_f64_through_the_same_masks() {
    let (xs, ts) = data::<4, 3>(7, 78, false);
    let mut net = DenseBnDrop::seeded(6);
    net.set_dropout_seed(99);
    let mut net32 = DenseBnDrop32::from_params(net.params().map(|p| p as f32));
    net32.set_dropout_seed(99);
    let mut ws = vec![[0.0; DenseBnDrop::BATCH_ROW]; 7];
    let mut ws32 = vec![[0.0f32; DenseBnDrop32::BATCH_ROW]; 7];
    let mut g = [0.0; DenseBnDrop::PARAMS];
    let mut g32 = [0.0f32; DenseBnDrop32::PARAMS];
    let xs32: Vec<[f32; 4]> = xs.iter().map(|x| x.map(|v| v as f32)).collect();
    let ts32: Vec<[f32; 3]> = ts.iter().map(|t| t.map(|v| v as f32)).collect();
    let l = net.batch_backward(&xs, &ts, &mut ws, &mut g, None);
    let l32 = net32.batch_backward(&xs32, &ts32, &mut ws32, &mut g32, None);
    assert_close("loss f32", &[f64::from(l32)], &[l], 1e-5);
    assert_close("gradient f32", &g32.map(f64::from), &g, 1e-4);
}
