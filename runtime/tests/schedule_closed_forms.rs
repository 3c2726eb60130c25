//! Closed-form schedules against the torch.optim.lr_scheduler formulas: independent
//! reference computations (torch's own recursive or step-by-step forms where it has them)
//! and values worked out by hand.

use stackprop_runtime::optim::{Adam, Optimizer, Sgd};
use stackprop_runtime::schedule::{
    Anneal, Constant, CosineAnnealingLr, CosineAnnealingWarmRestarts, ExponentialLr, MultiStepLr, OneCycleLr, Schedule,
    StepLr, Warmup,
};

use std::f64::consts::PI;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

#[track_caller]
fn assert_seq(schedule: &dyn Schedule, base: f64, want: &[f64], tol: f64) {
    for (step, &w) in want.iter().enumerate() {
        let got = schedule.lr(step, base);
        assert!(close(got, w, tol), "step {step}: got {got}, want {w}");
    }
}

#[test]
fn constant() {
    assert_seq(&Constant, 0.3, &[0.3; 10], 0.0);
}

#[test]
fn step_lr_by_hand() {
    let s = StepLr::new(3, 0.5);
    assert_seq(&s, 0.1, &[0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125], 1e-15);
}

#[test]
fn step_lr_matches_repeated_decay() {
    // torch's chainable form: multiply by γ whenever step % step_size == 0 (step > 0).
    let s = StepLr::new(7, 0.9);
    let mut lr = 2.0;
    for step in 0..100 {
        if step > 0 && step % 7 == 0 {
            lr *= 0.9;
        }
        assert!(close(s.lr(step, 2.0), lr, 1e-13), "step {step}");
    }
}

#[test]
fn multi_step_lr_torch_docs_example() {
    // torch's docstring: lr = 0.05 if epoch < 30, 0.005 if 30 <= epoch < 80, 0.0005 after.
    let fixed: MultiStepLr<&[usize]> = MultiStepLr::new(&[30, 80], 0.1);
    let array = MultiStepLr::new([80, 30], 0.1);
    let vec = MultiStepLr::new(vec![30, 80], 0.1);
    for step in 0..120 {
        let want = if step < 30 {
            0.05
        } else if step < 80 {
            0.005
        } else {
            0.0005
        };
        for got in [fixed.lr(step, 0.05), array.lr(step, 0.05), vec.lr(step, 0.05)] {
            assert!(close(got, want, 1e-14), "step {step}: {got} vs {want}");
        }
    }
}

#[test]
fn multi_step_lr_repeated_milestone_decays_twice() {
    // torch counts milestones with a Counter: a repeated one applies γ once per listing.
    let s = MultiStepLr::new([5, 5], 0.5);
    assert_eq!(s.lr(4, 1.0), 1.0);
    assert_eq!(s.lr(5, 1.0), 0.25);
}

#[test]
fn exponential_lr() {
    let s = ExponentialLr::new(0.95);
    let mut lr = 0.2;
    for step in 0..200 {
        assert!(close(s.lr(step, 0.2), lr, 1e-12), "step {step}");
        lr *= 0.95;
    }
}

#[test]
fn cosine_annealing_by_hand() {
    let s = CosineAnnealingLr::new(100).eta_min(0.01);
    assert_eq!(s.lr(0, 0.1), 0.1);
    // Half-way: (base + η_min)/2.
    assert!(close(s.lr(50, 0.1), 0.055, 1e-15));
    assert!(close(s.lr(100, 0.1), 0.01, 1e-15));
    // A quarter: η_min + (base − η_min)·(1 + cos(π/4))/2 = 0.01 + 0.09·0.853553390593...
    assert!(close(s.lr(25, 0.1), 0.01 + 0.09 * 0.853_553_390_593_273_8, 1e-14));
    // Past T_max it rises again, with period 2·T_max, as torch's does.
    assert!(close(s.lr(150, 0.1), 0.055, 1e-14));
    assert!(close(s.lr(200, 0.1), 0.1, 1e-15));
    // η_min defaults to 0.
    assert!(close(CosineAnnealingLr::new(10).lr(5, 0.4), 0.2, 1e-15));
}

#[test]
fn cosine_annealing_matches_torch_recursive_form() {
    // torch's `get_lr` (with T_max = 20, η_min = 0.001): the recursive update, with its
    // special case at the top of each period.
    let (t_max, eta_min, base) = (20usize, 0.001, 0.05);
    let s = CosineAnnealingLr::new(t_max).eta_min(eta_min);
    let mut lr = base;
    let t = t_max as f64;
    for step in 1..100usize {
        let e = step as f64;
        lr = if (step as i64 - 1 - t_max as i64).rem_euclid(2 * t_max as i64) == 0 {
            lr + (base - eta_min) * (1.0 - (PI / t).cos()) / 2.0
        } else {
            (1.0 + (PI * e / t).cos()) / (1.0 + (PI * (e - 1.0) / t).cos()) * (lr - eta_min) + eta_min
        };
        assert!((s.lr(step, base) - lr).abs() < 1e-12, "step {step}: {} vs {lr}", s.lr(step, base));
    }
}

#[test]
fn warm_restarts_by_hand() {
    // T_0 = 10, T_mult = 2: restarts at steps 10, 30, 70.
    let s = CosineAnnealingWarmRestarts::new(10).t_mult(2).eta_min(0.0);
    for restart in [0, 10, 30, 70] {
        assert_eq!(s.lr(restart, 0.1), 0.1, "restart at {restart}");
    }
    assert_eq!(s.cycle_position(29), (19, 20));
    assert_eq!(s.cycle_position(30), (0, 40));
    assert!(close(s.lr(5, 0.1), 0.05, 1e-15));
    assert!(close(s.lr(20, 0.1), 0.05, 1e-15));
    assert!(close(s.lr(50, 0.1), 0.05, 1e-15));
    // T_mult = 1 (default): plain period T_0.
    let s = CosineAnnealingWarmRestarts::new(4);
    assert_seq(
        &s,
        1.0,
        &[1.0, 0.853_553_390_593_273_8, 0.5, 0.146_446_609_406_726_2, 1.0, 0.853_553_390_593_273_8],
        1e-14,
    );
}

#[test]
fn warm_restarts_match_torch_stepping() {
    // torch's `step()` without an epoch: T_cur += 1; on reaching T_i, wrap and grow T_i.
    for (t_0, t_mult) in [(5usize, 1usize), (3, 2), (4, 3)] {
        let s = CosineAnnealingWarmRestarts::new(t_0).t_mult(t_mult).eta_min(0.002);
        let (mut t_cur, mut t_i) = (0usize, t_0);
        for step in 0..300 {
            if step > 0 {
                t_cur += 1;
                if t_cur >= t_i {
                    t_cur %= t_i;
                    t_i *= t_mult;
                }
            }
            let want = 0.002 + (0.3 - 0.002) * (1.0 + (PI * t_cur as f64 / t_i as f64).cos()) / 2.0;
            assert!(close(s.lr(step, 0.3), want, 1e-14), "T_0 {t_0}, T_mult {t_mult}, step {step}");
        }
    }
}

/// `(max_lr, total_steps, pct_start, cos, div_factor, final_div_factor, three_phase)`.
type Cycle = (f64, usize, f64, bool, f64, f64, bool);

/// torch's `OneCycleLR.get_lr`, transcribed.
fn one_cycle_reference(cycle: Cycle, step: usize) -> f64 {
    let (max_lr, total, pct, cos, div, final_div, three) = cycle;
    let initial = max_lr / div;
    let min = initial / final_div;
    let total_f = total as f64;
    let phases: Vec<(f64, f64, f64)> = if three {
        vec![
            (pct * total_f - 1.0, initial, max_lr),
            (2.0 * pct * total_f - 2.0, max_lr, initial),
            (total_f - 1.0, initial, min),
        ]
    } else {
        vec![(pct * total_f - 1.0, initial, max_lr), (total_f - 1.0, max_lr, min)]
    };
    let anneal = |start: f64, end: f64, pct: f64| {
        if cos { end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0) } else { (end - start) * pct + start }
    };
    let mut start_step = 0.0;
    for (i, &(end_step, s, e)) in phases.iter().enumerate() {
        if step as f64 <= end_step || i == phases.len() - 1 {
            return anneal(s, e, (step as f64 - start_step) / (end_step - start_step));
        }
        start_step = end_step;
    }
    unreachable!()
}

#[test]
fn one_cycle_by_hand() {
    // max 1.0, 100 steps, 30% rising: initial 0.04, peak at step 29, min 4e-6 at step 99.
    let s = OneCycleLr::new(1.0, 100);
    assert_eq!(s.initial_lr(), 0.04);
    assert!(close(s.min_lr(), 4e-6, 1e-15));
    assert!(close(s.lr(0, 123.0), 0.04, 1e-15), "base_lr is ignored");
    assert!(close(s.lr(29, 0.0), 1.0, 1e-15));
    // Half-way down, step 29 + 35 = 64: (1 + 4e-6)/2.
    assert!(close(s.lr(64, 0.0), 0.500_002, 1e-14));
    assert!(close(s.lr(99, 0.0), 4e-6, 1e-12));
    // Beyond the cycle the rate stays at the minimum.
    assert_eq!(s.lr(101, 0.0), 4e-6);
    assert_eq!(s.lr(10_000, 0.0), 4e-6);
    // Linear: a third of the way up (step 29/3 is not an integer; step 10 is 10/29 up).
    let s = OneCycleLr::new(1.0, 100).anneal(Anneal::Linear);
    assert!(close(s.lr(10, 0.0), 0.04 + 0.96 * 10.0 / 29.0, 1e-14));
    // Three phases: up to step 29, back to the initial rate at step 58, then to the minimum.
    let s = OneCycleLr::new(1.0, 100).three_phase(true);
    assert!(close(s.lr(29, 0.0), 1.0, 1e-15));
    assert!(close(s.lr(58, 0.0), 0.04, 1e-14));
    assert!(close(s.lr(99, 0.0), 4e-6, 1e-12));
}

#[test]
fn one_cycle_matches_torch_get_lr() {
    let cycles: [Cycle; 4] = [
        (1.0, 100usize, 0.3, true, 25.0, 1e4, false),
        (0.5, 37, 0.25, false, 10.0, 100.0, false),
        (0.1, 250, 0.4, true, 25.0, 1e4, true),
        (2.0, 61, 0.1, false, 5.0, 1e3, true),
    ];
    for cycle in cycles {
        let (max_lr, total, pct, cos, div, final_div, three) = cycle;
        let s = OneCycleLr::new(max_lr, total)
            .pct_start(pct)
            .anneal(if cos { Anneal::Cos } else { Anneal::Linear })
            .div_factor(div)
            .final_div_factor(final_div)
            .three_phase(three);
        // torch accepts step == total_steps too (extrapolating the last phase).
        for step in 0..=total {
            let want = one_cycle_reference(cycle, step);
            assert!(close(s.lr(step, 0.0), want, 1e-13), "{total} steps, three phase {three}, step {step}");
        }
    }
}

#[test]
fn warmup_by_hand() {
    // Factor 0.25 → 1 over 4 steps: 0.25, 0.4375, 0.625, 0.8125, then the inner schedule.
    let w = Warmup { steps: 4, start_factor: 0.25, inner: Constant };
    assert_seq(&w, 2.0, &[0.5, 0.875, 1.25, 1.625, 2.0, 2.0, 2.0], 1e-15);
    // The inner schedule counts from the end of the warm-up.
    let w = Warmup::new(4, 0.25, StepLr::new(2, 0.5));
    assert_seq(&w, 2.0, &[0.5, 0.875, 1.25, 1.625, 2.0, 2.0, 1.0, 1.0, 0.5], 1e-15);
    let w = Warmup::new(10, 0.0, CosineAnnealingLr::new(20));
    assert_eq!(w.lr(0, 1.0), 0.0);
    assert!(close(w.lr(5, 1.0), 0.5, 1e-15));
    assert_eq!(w.lr(10, 1.0), 1.0);
    assert!(close(w.lr(20, 1.0), 0.5, 1e-15));
    // It ramps towards the inner schedule's first rate, so the rate is continuous.
    let w = Warmup::new(5, 0.2, OneCycleLr::new(1.0, 100));
    assert!(close(w.lr(0, 9.0), 0.2 * 0.04, 1e-15));
    assert!(close(w.lr(5, 9.0), 0.04, 1e-15));
    // No warm-up steps: just the inner schedule.
    let w = Warmup::new(0, 0.1, ExponentialLr::new(0.5));
    assert_eq!(w.lr(0, 1.0), 1.0);
    assert_eq!(w.lr(2, 1.0), 0.25);
}

#[test]
fn warmup_matches_torch_linear_lr() {
    // LinearLR closed form: base·(start + (end − start)·min(T, t)/T), end = 1.
    let (steps, start) = (12usize, 1.0 / 3.0);
    let w = Warmup::new(steps, start, Constant);
    for t in 0..30 {
        let want = 0.3 * (start + (1.0 - start) * t.min(steps) as f64 / steps as f64);
        assert!(close(w.lr(t, 0.3), want, 1e-14), "step {t}");
    }
}

#[test]
fn apply_sets_the_optimizer_rate() {
    let mut opt = Adam::<[f64; 3]>::new(0.1);
    let s = ExponentialLr::new(0.5);
    let mut params = [0.0; 3];
    for step in 0..4 {
        let lr = s.apply(&mut opt, step, 0.1);
        assert_eq!(lr, 0.1 * 0.5_f64.powi(step as i32));
        assert_eq!(opt.learning_rate(), lr);
        opt.step(&mut params, &[1.0, -1.0, 0.0]);
    }
    // Through a trait object too, and on a Vec-backed optimizer.
    let dynamic: &dyn Schedule = &StepLr::new(1, 0.1);
    let mut opt = Sgd::<Vec<f32>>::new(1.0);
    assert_eq!(Schedule::apply(&dynamic, &mut opt, 2, 1.0), 0.1 * 0.1);
    assert_eq!(Optimizer::<[f32]>::learning_rate(&opt), 0.1 * 0.1);
}

#[test]
#[should_panic(expected = "`t_max` must be positive")]
fn zero_t_max_panics() {
    let _ = CosineAnnealingLr::new(0);
}

#[test]
#[should_panic(expected = "`pct_start` must be within [0, 1]")]
fn bad_pct_start_panics() {
    let _ = OneCycleLr::new(1.0, 10).pct_start(1.5);
}
