//! State handling shared by all optimizers: defaults, `reset`, `Vec` sizing, length
//! checks, the learning-rate accessors, the fused-SGD hint, and that array state is
//! stored inline.

use stackprop_runtime::optim::{
    Adadelta, Adagrad, Adam, AdamW, Adamax, Lion, NAdam, Optimizer, RAdam, RmsProp, Rprop, Sgd,
};

const G1: [f64; 3] = [3.0, -1.0, 0.0];
const G2: [f64; 3] = [-0.2, -0.5, 0.7];

/// Invokes `$check!(name, optimizer)` for every optimizer type over storage `$S`, with
/// options that give each one all of its state buffers.
macro_rules! all_optimizers {
    ($S:ty, $check:ident) => {
        $check!("sgd", Sgd::<$S>::new(0.1).momentum(0.9));
        $check!("adam", Adam::<$S>::new(0.1).amsgrad(true));
        $check!("adamw", AdamW::<$S>::new(0.1));
        $check!("nadam", NAdam::<$S>::new(0.1));
        $check!("radam", RAdam::<$S>::new(0.1).betas(0.9, 0.5));
        $check!("adamax", Adamax::<$S>::new(0.1));
        $check!("rmsprop", RmsProp::<$S>::new(0.1).centered(true).momentum(0.5));
        $check!("adagrad", Adagrad::<$S>::new(0.1).initial_accumulator_value(0.2));
        $check!("adadelta", Adadelta::<$S>::new(0.1));
        $check!("rprop", Rprop::<$S>::new(0.1));
        $check!("lion", Lion::<$S>::new(0.1));
    };
}

#[test]
fn defaults_follow_torch() {
    type S = [f32; 2];
    assert_eq!(Sgd::<S>::default().learning_rate(), 1e-3);
    assert_eq!(Adam::<S>::default().learning_rate(), 1e-3);
    assert_eq!(AdamW::<S>::default().learning_rate(), 1e-3);
    assert_eq!(NAdam::<S>::default().learning_rate(), 2e-3);
    assert_eq!(RAdam::<S>::default().learning_rate(), 1e-3);
    assert_eq!(Adamax::<S>::default().learning_rate(), 2e-3);
    assert_eq!(RmsProp::<S>::default().learning_rate(), 1e-2);
    assert_eq!(Adagrad::<S>::default().learning_rate(), 1e-2);
    assert_eq!(Adadelta::<S>::default().learning_rate(), 1.0);
    assert_eq!(Rprop::<S>::default().learning_rate(), 1e-2);
    assert_eq!(Lion::<S>::default().learning_rate(), 1e-4);
}

#[test]
fn reset_makes_the_next_step_a_first_step() {
    macro_rules! check {
        ($name:literal, $opt:expr) => {{
            let mut fresh = $opt;
            let mut used = fresh.clone();
            let mut p = [1.0, 2.0, 3.0];
            used.step(&mut p, &G1);
            used.step(&mut p, &G2);
            used.reset();
            let (mut a, mut b) = ([0.5, -0.5, 0.25], [0.5, -0.5, 0.25]);
            fresh.step(&mut a, &G2);
            used.step(&mut b, &G2);
            assert_eq!(a, b, "{}", $name);
        }};
    }
    all_optimizers!([f64; 3], check);
}

#[test]
fn state_carries_over_between_steps() {
    // The converse of the reset test: without a reset the second step differs from a
    // first step (otherwise the state tests above would prove nothing).
    macro_rules! check {
        ($name:literal, $opt:expr) => {{
            let mut fresh = $opt;
            let mut used = fresh.clone();
            let mut p = [1.0, 2.0, 3.0];
            used.step(&mut p, &G1);
            let (mut a, mut b) = ([0.5, -0.5, 0.25], [0.5, -0.5, 0.25]);
            fresh.step(&mut a, &G2);
            used.step(&mut b, &G2);
            assert_ne!(a, b, "{}", $name);
        }};
    }
    all_optimizers!([f64; 3], check);
}

#[test]
fn step_counts_are_per_optimizer() {
    let mut opt = Adam::<[f64; 3]>::new(0.1);
    let mut p = [0.0; 3];
    for _ in 0..7 {
        opt.step(&mut p, &G1);
    }
    assert_eq!(opt.steps(), 7);
    let mut opt = NAdam::<Vec<f64>>::new(0.1);
    let mut p = vec![0.0; 1000];
    opt.step(&mut p, &vec![0.1; 1000]);
    assert_eq!(opt.steps(), 1);
}

#[test]
fn vec_state_restarts_when_the_length_changes() {
    macro_rules! check {
        ($name:literal, $opt:expr) => {{
            let mut fresh = $opt;
            let mut used = fresh.clone();
            let mut p = vec![1.0, 2.0, 3.0];
            used.step(&mut p, &G1);
            used.step(&mut p, &G2);
            let (mut a, mut b) = (vec![0.5, -0.5], vec![0.5, -0.5]);
            fresh.step(&mut a, &[0.1, -0.1]);
            used.step(&mut b, &[0.1, -0.1]);
            assert_eq!(a, b, "{}", $name);
        }};
    }
    all_optimizers!(Vec<f64>, check);
}

#[test]
fn learning_rate_accessors() {
    macro_rules! check {
        ($name:literal, $opt:expr) => {{
            // Setting the rate before the first step is the same as creating with it.
            let mut set = $opt;
            assert_eq!(set.learning_rate(), 0.1, "{}", $name);
            set.set_learning_rate(0.03);
            assert_eq!(set.learning_rate(), 0.03, "{}", $name);
            let mut made = $opt;
            Optimizer::<[f64; 3]>::set_learning_rate(&mut made, 0.03);
            let (mut a, mut b) = ([0.5, -0.5, 0.25], [0.5, -0.5, 0.25]);
            set.step(&mut a, &G1);
            made.step(&mut b, &G1);
            assert_eq!(a, b, "{}", $name);
            // And a different rate gives a different step.
            let mut other = $opt;
            let mut c = [0.5, -0.5, 0.25];
            other.step(&mut c, &G1);
            assert_ne!(a, c, "{}", $name);
        }};
    }
    all_optimizers!([f64; 3], check);
}

#[test]
fn only_plain_sgd_is_fusable() {
    type S = [f32; 4];
    assert_eq!(Sgd::<S>::new(0.25).plain_sgd_rate(), Some(0.25));
    assert_eq!(Sgd::<S>::new(0.25).momentum(0.9).plain_sgd_rate(), None);
    assert_eq!(Sgd::<S>::new(0.25).weight_decay(0.1).plain_sgd_rate(), None);
    let mut sgd = Sgd::<S>::new(0.25);
    sgd.set_learning_rate(0.5);
    assert_eq!(sgd.plain_sgd_rate(), Some(0.5));
    macro_rules! check {
        ($name:literal, $opt:expr) => {
            assert_eq!($opt.plain_sgd_rate(), None, "{}", $name);
        };
    }
    check!("adam", Adam::<S>::new(0.1));
    check!("adamw", AdamW::<S>::new(0.1).weight_decay(0.0));
    check!("nadam", NAdam::<S>::new(0.1));
    check!("radam", RAdam::<S>::new(0.1));
    check!("adamax", Adamax::<S>::new(0.1));
    check!("rmsprop", RmsProp::<S>::new(0.1));
    check!("adagrad", Adagrad::<S>::new(0.1));
    check!("adadelta", Adadelta::<S>::new(0.1));
    check!("rprop", Rprop::<S>::new(0.1));
    check!("lion", Lion::<S>::new(0.1));
}

#[test]
#[should_panic(expected = "3 parameters but 2 gradients")]
fn mismatched_lengths_panic() {
    let mut opt = Adam::<Vec<f64>>::new(0.1);
    let mut p = vec![0.0; 3];
    opt.step(&mut p, &[1.0, 2.0]);
}

#[test]
fn array_state_lives_inline() {
    // No heap: the buffers are part of the value, so the size grows with N.
    use core::mem::size_of;
    assert!(size_of::<Adam<[f32; 256]>>() >= 3 * 256 * 4);
    assert!(size_of::<NAdam<[f64; 100]>>() >= 2 * 100 * 8);
    assert!(size_of::<Rprop<[f32; 64]>>() >= 2 * 64 * 4);
    assert!(size_of::<Lion<[f32; 64]>>() >= 64 * 4);
}

#[test]
fn f32_state_trains_a_quadratic() {
    // Minimize ½‖θ − c‖² with every optimizer in f32: the loss must drop.
    const C: [f32; 3] = [0.5, -1.5, 2.0];
    macro_rules! check {
        ($name:literal, $opt:expr) => {{
            let mut opt = $opt;
            if $name == "adadelta" {
                // Adadelta's rate scales a step that is already unit-free; torch's default is 1.
                opt.set_learning_rate(1.0);
            }
            let mut p = [0.0_f32; 3];
            let loss = |p: &[f32; 3]| p.iter().zip(C).map(|(p, c)| 0.5 * (p - c) * (p - c)).sum::<f32>();
            let start = loss(&p);
            for _ in 0..50 {
                let g: [f32; 3] = core::array::from_fn(|i| p[i] - C[i]);
                opt.step(&mut p, &g);
            }
            assert!(p.iter().all(|x| x.is_finite()), "{}", $name);
            assert!(loss(&p) < 0.9 * start, "{}: loss {} from {}", $name, loss(&p), start);
        }};
    }
    all_optimizers!([f32; 3], check);
}
