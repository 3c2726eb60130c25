//! Recurrent cells as PyTorch's `nn.RNN`, `nn.GRU` and `nn.LSTM` define them (one layer,
//! one direction, one sample): the step ([`recurrent_step`], shared by the whole-sequence
//! forward and streaming inference, so both give the same bits), the sequence forward
//! ([`recurrent_forward`]) and backpropagation through time ([`recurrent_backward`],
//! [`recurrent_apply_sgd`]).
//!
//! Parameters of a layer, in PyTorch's `state_dict` order, `G` gates of `H` units each
//! (RNN 1, GRU 3 in the order `r, z, n`, LSTM 4 in the order `i, f, g, o`):
//! `weight_ih_l0 [G·H][I]`, `weight_hh_l0 [G·H][H]`, then with a bias `bias_ih_l0 [G·H]`
//! and `bias_hh_l0 [G·H]`. With `aᵢ = W_ih·x + b_ih` and `aₕ = W_hh·h + b_hh`:
//!
//! ```text
//! RNN    h′ = f(aᵢ + aₕ)                     f = tanh or relu
//! GRU    r = σ(aᵢ,r + aₕ,r)   z = σ(aᵢ,z + aₕ,z)   n = tanh(aᵢ,n + r ⊙ aₕ,n)
//!        h′ = (1 − z) ⊙ n + z ⊙ h
//! LSTM   i = σ(·ᵢ)  f = σ(·f)  g = tanh(·g)  o = σ(·o)     (· = aᵢ + aₕ of the gate)
//!        c′ = f ⊙ c + i ⊙ g       h′ = o ⊙ tanh(c′)
//! ```
//!
//! Backward, from `δh` (∂L/∂h′ from the output at this step plus what step t + 1 passed
//! down) and for the LSTM `δc`, every derivative in terms of saved forward values
//! (σ′ = s·(1 − s), tanh′ = 1 − y²):
//!
//! ```text
//! RNN    δa = δh ⊙ f′                         δaᵢ = δaₕ = δa
//! GRU    δn = δh ⊙ (1 − z) ⊙ (1 − n²)       δz = δh ⊙ (h − n) ⊙ z(1 − z)
//!        δr = δn ⊙ aₕ,n ⊙ r(1 − r)
//!        δaᵢ = (δr, δz, δn)                   δaₕ = (δr, δz, δn ⊙ r)
//!        δh_prev = W_hhᵀ·δaₕ + δh ⊙ z
//! LSTM   δc′ = δc + δh ⊙ o ⊙ (1 − tanh²c′)
//!        δaᵢ = δaₕ = (δc′ ⊙ g ⊙ i(1−i), δc′ ⊙ c ⊙ f(1−f), δc′ ⊙ i ⊙ (1−g²), δh ⊙ tanh c′ ⊙ o(1−o))
//!        δc_prev = δc′ ⊙ f
//! all    δx = W_ihᵀ·δaᵢ    δh_prev (+)= W_hhᵀ·δaₕ
//!        ∂L/∂W_ih = Σₜ δaᵢ,ₜ·xₜᵀ   ∂L/∂W_hh = Σₜ δaₕ,ₜ·hₜ₋₁ᵀ   ∂L/∂b_ih = Σₜ δaᵢ,ₜ   ∂L/∂b_hh = Σₜ δaₕ,ₜ
//! ```
//!
//! The trace keeps the initial state (`h₀`, and `c₀` for the LSTM), then each step's
//! `Cell::saved` vectors of `H`: RNN `h′`; GRU `r, z, n,
//! aₕ,n, h′`; LSTM `i, f, g, o, c′, tanh c′, h′`. Loops run over `T` (never unrolled);
//! the products run over whole weight rows of constant length (`I` or `H`), and σ and
//! tanh over whole gate vectors ([`sigmoid_in_place`], [`tanh_in_place`]).

use crate::scalar::Scalar;

/// A recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Elman RNN with `tanh` (`nn.RNN`, `nonlinearity='tanh'`).
    RnnTanh,
    /// Elman RNN with `relu` (`nn.RNN`, `nonlinearity='relu'`).
    RnnRelu,
    /// `nn.GRU`, gates `r, z, n`.
    Gru,
    /// `nn.LSTM`, gates `i, f, g, o`.
    Lstm,
}

impl Cell {
    /// Gates per hidden unit: the `G` of `weight_ih_l0 [G·H][I]`.
    #[inline]
    #[must_use]
    pub const fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    /// Vectors of `H` each step keeps in the trace.
    #[inline]
    #[must_use]
    pub const fn saved(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Gru => 5,
            Cell::Lstm => 7,
        }
    }

    /// Vectors of `H` of streaming state: `h`, and `c` for the LSTM.
    #[inline]
    #[must_use]
    pub const fn state(self) -> usize {
        match self {
            Cell::Lstm => 2,
            _ => 1,
        }
    }

    /// Parameters of a layer with `input` features and `hidden` units.
    #[inline]
    #[must_use]
    pub const fn params(self, input: usize, hidden: usize, bias: bool) -> usize {
        let gh = self.gates() * hidden;
        gh * (input + hidden) + if bias { 2 * gh } else { 0 }
    }
}

/// The four tensors of a layer's parameter slice.
struct Tensors<'a, T> {
    w_ih: &'a [T],
    w_hh: &'a [T],
    b_ih: Option<&'a [T]>,
    b_hh: Option<&'a [T]>,
}

fn split<T>(p: &[T], gh: usize, input: usize, hidden: usize, bias: bool) -> Tensors<'_, T> {
    let (w_ih, rest) = p.split_at(gh * input);
    let (w_hh, rest) = rest.split_at(gh * hidden);
    let (b_ih, b_hh) = if bias {
        let (b_ih, rest) = rest.split_at(gh);
        (Some(b_ih), Some(&rest[..gh]))
    } else {
        (None, None)
    };
    Tensors { w_ih, w_hh, b_ih, b_hh }
}

/// Lanes of the fixed-order dot products of [`rows_dot`]: one 256-bit vector of `f32` (two
/// of `f64`), two 128-bit vectors without AVX.
const LANES: usize = 8;

/// `Σₖ w[k]·x[k]` over a short constant length (below `LANES`), in order.
#[inline(always)]
fn dot<T: Scalar, const N: usize>(w: &[T; N], x: &[T; N]) -> T {
    let mut s = T::ZERO;
    for k in 0..N {
        s = w[k].mul_add(x[k], s);
    }
    s
}

/// Rows per block of [`rows_dot`]: with AVX eight, whose eight-lane sums fold into one
/// vector; without it four (eight rows of eight lanes are all sixteen SSE2 registers, and
/// the accumulators would spill).
const ROW_BLOCK: usize = if cfg!(target_feature = "avx") { 8 } else { 4 };

/// The row length from which [`rows_dot`] runs [`ROW_BLOCK`] rows at once. Measured on
/// the streaming step (`benches/recurrent.rs`): natively on an AVX-512 Xeon, with hidden
/// size 64 the eight-row blocks took GRU from 1.39 to 1.16 µs and LSTM from 1.91 to
/// 1.61 µs; with 16 and 32 they were slower (GRU-16 206 → 242 ns), the fold through
/// memory costing more than it saves on short rows, which keep one row at a time. On
/// the default target (SSE2) on an AMD EPYC, the eight-row blocks made hidden size 64
/// slower than one row at a time, and four-row blocks faster than both (GRU-64 step
/// 2.4–2.5 µs with eight-row blocks, 2.0–2.3 µs with four).
const BLOCK_MIN: usize = 64;

/// `out[r] = W[r]·x` over rows of constant length `N ≥ LANES`, in the order of [`dot`]
/// per lane: each row's `LANES` partial sums accumulate in chunk order, then fold in
/// halves (`k + 4`, `k + 2`, `k + 1`), then the row's tail (the `N mod LANES` last
/// products, in order) is added. From [`BLOCK_MIN`] on, [`ROW_BLOCK`] rows go at once
/// ([`rows_dot_blocked`]).
#[inline(always)]
fn rows_dot<T: Scalar, const N: usize>(rows: &[[T; N]], x: &[T; N], out: &mut [T]) {
    if N < BLOCK_MIN {
        rows_dot_short(rows, x, out);
    } else {
        rows_dot_blocked::<T, N, ROW_BLOCK>(rows, x, out);
    }
}

/// [`rows_dot`] by blocks of `R` rows (4 or 8): each loaded chunk of `x` feeds `R`
/// rows, and their folds share vectors ([`fold_rows`]), so a block's sums cost a few
/// shuffle-and-add steps instead of a horizontal sum per row. Leftover rows go through
/// [`rows_dot_short`], with the same additions.
#[inline(always)]
fn rows_dot_blocked<T: Scalar, const N: usize, const R: usize>(rows: &[[T; N]], x: &[T; N], out: &mut [T]) {
    const { assert!(R == 4 || R == 8) };
    let rows = &rows[..out.len()];
    let (xc, xt) = x.as_chunks::<LANES>();
    let k0 = N - xt.len();
    let tail = |row: &[T; N]| {
        let mut t = T::ZERO;
        for (&wk, &xk) in row[k0..].iter().zip(xt) {
            t = wk.mul_add(xk, t);
        }
        t
    };
    let mut blocks = rows.chunks_exact(R);
    let mut outs = out.chunks_exact_mut(R);
    for (rb, ob) in (&mut blocks).zip(&mut outs) {
        let rc: [&[[T; LANES]]; R] = core::array::from_fn(|r| rb[r].as_chunks::<LANES>().0);
        let mut acc = [[T::ZERO; LANES]; R];
        // The chunk count, hidden from the optimizer: the loop over chunks stays a loop,
        // so the loop over blocks around it is not the innermost one, which LLVM would
        // vectorize across blocks (a gather per weight).
        let chunks = core::hint::black_box(xc.len()).min(xc.len());
        for (j, xv) in xc[..chunks].iter().enumerate() {
            // The rows written out one statement each: a loop over them would invite
            // vectorizing across rows, a gather per weight.
            madd8(&mut acc[0], &rc[0][j], xv);
            madd8(&mut acc[1], &rc[1][j], xv);
            madd8(&mut acc[2], &rc[2][j], xv);
            madd8(&mut acc[3], &rc[3][j], xv);
            if R == 8 {
                madd8(&mut acc[4], &rc[4][j], xv);
                madd8(&mut acc[5], &rc[5][j], xv);
                madd8(&mut acc[6], &rc[6][j], xv);
                madd8(&mut acc[7], &rc[7][j], xv);
            }
        }
        // Through memory: without the barrier LLVM's SLP vectorizer shapes the
        // accumulators after the folds, one vector per lane across the rows, and
        // transposes every chunk of weights in registers to fill them.
        let sums = fold_rows(&core::hint::black_box(acc));
        for ((o, row), s) in ob.iter_mut().zip(rb).zip(sums) {
            *o = s + tail(row);
        }
    }
    rows_dot_short(blocks.remainder(), x, outs.into_remainder());
}

/// The sums of `R` (4 or 8) rows of eight lanes, each folded as [`rows_dot`] defines
/// ([`fold_eight_rows`], or the matrix kernels' [`super::fold_four_rows`]).
#[inline(always)]
fn fold_rows<T: Scalar, const R: usize>(acc: &[[T; LANES]; R]) -> [T; R] {
    let mut out = [T::ZERO; R];
    if R == 8 {
        out.copy_from_slice(&fold_eight_rows(acc));
    } else if let Ok(four) = <&[[T; LANES]; 4]>::try_from(&acc[..]) {
        out.copy_from_slice(&super::fold_four_rows(four));
    }
    out
}

/// `acc[l] += w[l]·x[l]`.
#[inline(always)]
fn madd8<T: Scalar>(acc: &mut [T; LANES], w: &[T; LANES], x: &[T; LANES]) {
    for l in 0..LANES {
        acc[l] = w[l].mul_add(x[l], acc[l]);
    }
}

/// The sums of eight rows of eight lanes, each row folded as `(k + 4)`, `(k + 2)`,
/// `(k + 1)`: the same additions as one row at a time, but two rows share a vector after
/// the first fold, four after the second, eight after the third. The rows enter in the
/// order 0, 4, 1, 5, 2, 6, 3, 7 so that the sums come out in order.
#[inline(always)]
fn fold_eight_rows<T: Scalar>(acc: &[[T; LANES]]) -> [T; 8] {
    // Lanes 0–3: a's four partial sums; 4–7: b's.
    let fold4 = |a: &[T; 8], b: &[T; 8]| -> [T; 8] {
        [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7], b[0] + b[4], b[1] + b[5], b[2] + b[6], b[3] + b[7]]
    };
    // From p (rows a, b) and q (rows c, d): lanes 0–1 a, 2–3 c, 4–5 b, 6–7 d.
    let fold2 = |p: &[T; 8], q: &[T; 8]| -> [T; 8] {
        [p[0] + p[2], p[1] + p[3], q[0] + q[2], q[1] + q[3], p[4] + p[6], p[5] + p[7], q[4] + q[6], q[5] + q[7]]
    };
    // From u (rows a, c, b, d) and v (rows e, g, f, h): a, c, e, g, b, d, f, h.
    let fold1 = |u: &[T; 8], v: &[T; 8]| -> [T; 8] {
        [u[0] + u[1], u[2] + u[3], v[0] + v[1], v[2] + v[3], u[4] + u[5], u[6] + u[7], v[4] + v[5], v[6] + v[7]]
    };
    let v0 = fold4(&acc[0], &acc[4]);
    let v1 = fold4(&acc[1], &acc[5]);
    let v2 = fold4(&acc[2], &acc[6]);
    let v3 = fold4(&acc[3], &acc[7]);
    // u0: rows 0, 1, 4, 5; u1: rows 2, 3, 6, 7 (two lanes each).
    let u0 = fold2(&v0, &v1);
    let u1 = fold2(&v2, &v3);
    // rows 0, 1, 2, 3, 4, 5, 6, 7.
    fold1(&u0, &u1)
}

/// Rows per block of [`rows_dot_short`].
const SHORT_ROW_BLOCK: usize = 16;

/// [`rows_dot`] for rows shorter than [`BLOCK_MIN`], with the same additions:
/// per block of [`SHORT_ROW_BLOCK`] rows, each row's `LANES` sums folded to four and stored
/// (contiguous vector loads along the row, four-wide stores), then the four partial sums
/// of every row of the block added.
#[inline(always)]
fn rows_dot_short<T: Scalar, const N: usize>(rows: &[[T; N]], x: &[T; N], out: &mut [T]) {
    let (xc, xt) = x.as_chunks::<LANES>();
    let k0 = N - xt.len();
    for (ob, rb) in out.chunks_mut(SHORT_ROW_BLOCK).zip(rows.chunks(SHORT_ROW_BLOCK)) {
        let mut part = [[T::ZERO; 4]; SHORT_ROW_BLOCK];
        let mut tails = [T::ZERO; SHORT_ROW_BLOCK];
        for ((p, tail), row) in part.iter_mut().zip(&mut tails).zip(rb) {
            let (wc, _) = row.as_chunks::<LANES>();
            // The chunk count, hidden from the optimizer: the loop over chunks stays a
            // loop, so the loop over rows around it is not the innermost one, which LLVM
            // would vectorize across rows (a gather per weight).
            let chunks = core::hint::black_box(xc.len()).min(xc.len());
            let mut acc = [T::ZERO; LANES];
            for (wv, xv) in wc.iter().zip(&xc[..chunks]) {
                for l in 0..LANES {
                    acc[l] = wv[l].mul_add(xv[l], acc[l]);
                }
            }
            *p = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
            for (&wk, &xk) in row[k0..].iter().zip(xt) {
                *tail = wk.mul_add(xk, *tail);
            }
        }
        for ((o, p), &tail) in ob.iter_mut().zip(&part).zip(&tails) {
            *o = (p[0] + p[2]) + (p[1] + p[3]) + tail;
        }
    }
}

/// The pre-activations of one side of a step, gate vector by gate vector:
/// `out[r] = W[r]·x (+ b[r])`, `W` of `out`'s rows `[N]` each, contiguous. With `N = 1`
/// (a single input feature) this is one multiply-add over the gate vector.
#[inline(always)]
fn preactivate<T: Scalar, const N: usize, const H: usize>(w: &[T], b: Option<&[T]>, x: &[T; N], out: &mut [[T; H]]) {
    let out = out.as_flattened_mut();
    let (rows, _) = w.as_chunks::<N>();
    if N < LANES {
        for (o, row) in out.iter_mut().zip(rows) {
            *o = dot(row, x);
        }
    } else {
        rows_dot(rows, x, out);
    }
    if let Some(b) = b {
        for (o, &b) in out.iter_mut().zip(b) {
            *o += b;
        }
    }
}

/// `σ(v)` over a whole gate vector, in one loop: the form LLVM vectorizes once
/// [`Scalar::logistic`] is a branch-free polynomial.
#[inline(always)]
pub fn sigmoid_in_place<T: Scalar>(v: &mut [T]) {
    for x in v {
        *x = x.logistic();
    }
}

/// `tanh(v)` over a whole gate vector, in one loop (see [`sigmoid_in_place`]).
#[inline(always)]
pub fn tanh_in_place<T: Scalar>(v: &mut [T]) {
    for x in v {
        *x = x.tanh();
    }
}

/// One step of the cell: updates `h` (and `c`, the LSTM's cell state; untouched by the
/// other cells) from `x`, and if `save` is given writes the step's saved vectors
/// ([`Cell::saved`] × `H`) into it.
///
/// All pre-activations of the step come first (`aᵢ = W_ih·x + b_ih`, `aₕ = W_hh·h + b_hh`,
/// each a constant-length dot product per gate row), then σ and tanh run over whole gate
/// vectors ([`sigmoid_in_place`], [`tanh_in_place`]), then the state update.
///
/// # Panics
/// If `p` is shorter than [`Cell::params`] or `save` shorter than the saved vectors.
#[inline]
pub fn recurrent_step<T: Scalar, const I: usize, const H: usize>(
    cell: Cell,
    bias: bool,
    p: &[T],
    x: &[T; I],
    h: &mut [T; H],
    c: &mut [T; H],
    save: Option<&mut [T]>,
) {
    let g = cell.gates();
    let gh = g * H;
    let w = split(p, gh, I, H, bias);
    let mut ai = [[T::ZERO; H]; 4];
    let mut ah = [[T::ZERO; H]; 4];
    preactivate::<T, I, H>(w.w_ih, w.b_ih, x, &mut ai[..g]);
    preactivate::<T, H, H>(w.w_hh, w.b_hh, h, &mut ah[..g]);
    match cell {
        Cell::RnnTanh => {
            for j in 0..H {
                ai[0][j] += ah[0][j];
            }
            tanh_in_place(&mut ai[0]);
            *h = ai[0];
        }
        Cell::RnnRelu => {
            for j in 0..H {
                h[j] = (ai[0][j] + ah[0][j]).max(T::ZERO);
            }
        }
        Cell::Gru => {
            // ai's rows become r, z, n; ah[2] keeps aₕ,n.
            {
                let rz = &mut ai.as_flattened_mut()[..2 * H];
                for (a, &b) in rz.iter_mut().zip(&ah.as_flattened()[..2 * H]) {
                    *a += b;
                }
                sigmoid_in_place(rz);
            }
            let [r, z, n, _] = &mut ai;
            for j in 0..H {
                n[j] += r[j] * ah[2][j];
            }
            tanh_in_place(n);
            for j in 0..H {
                h[j] = (T::ONE - z[j]) * n[j] + z[j] * h[j];
            }
        }
        Cell::Lstm => {
            {
                let all = ai.as_flattened_mut();
                for (a, &b) in all.iter_mut().zip(ah.as_flattened()) {
                    *a += b;
                }
                sigmoid_in_place(&mut all[..2 * H]);
                tanh_in_place(&mut all[2 * H..3 * H]);
                sigmoid_in_place(&mut all[3 * H..]);
            }
            let [i, f, gg, o] = &ai;
            for j in 0..H {
                c[j] = f[j] * c[j] + i[j] * gg[j];
            }
            // ah[0] becomes tanh c′.
            ah[0] = *c;
            tanh_in_place(&mut ah[0]);
            for j in 0..H {
                h[j] = o[j] * ah[0][j];
            }
        }
    }
    let Some(save) = save else { return };
    let save = &mut save[..cell.saved() * H];
    let (body, last) = save.split_at_mut(save.len() - H);
    last.copy_from_slice(h);
    match cell {
        Cell::RnnTanh | Cell::RnnRelu => {}
        Cell::Gru => {
            body[..3 * H].copy_from_slice(&ai.as_flattened()[..3 * H]);
            body[3 * H..].copy_from_slice(&ah[2]);
        }
        Cell::Lstm => {
            body[..4 * H].copy_from_slice(ai.as_flattened());
            body[4 * H..5 * H].copy_from_slice(c);
            body[5 * H..].copy_from_slice(&ah[0]);
        }
    }
}

/// The forward pass over a sequence `x` (`[S][I]`) from `init` (`h₀`, and `c₀` for the
/// LSTM: [`Cell::state`] × `H`) or the zero state: writes every step's `h` into `out`
/// (`[S][H]`) if `sequence`, else the last step's (`[H]`); with `trace`, the initial
/// state then every step's saved vectors (`[state·H][S][saved·H]`).
///
/// # Panics
/// On slices of the wrong length.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn recurrent_forward<T: Scalar, const S: usize, const I: usize, const H: usize>(
    cell: Cell,
    bias: bool,
    sequence: bool,
    p: &[T],
    x: &[T],
    out: &mut [T],
    trace: Option<&mut [T]>,
    init: Option<&[T]>,
) {
    let (xs, _) = x.as_chunks::<I>();
    let (mut h, mut c) = ([T::ZERO; H], [T::ZERO; H]);
    let st = cell.state() * H;
    if let Some(init) = init {
        h.copy_from_slice(&init[..H]);
        if cell == Cell::Lstm {
            c.copy_from_slice(&init[H..2 * H]);
        }
    }
    let mut steps = trace.map(|tr| {
        let (keep, steps) = tr.split_at_mut(st);
        keep[..H].copy_from_slice(&h);
        if cell == Cell::Lstm {
            keep[H..].copy_from_slice(&c);
        }
        steps
    });
    let per = cell.saved() * H;
    for (t, xt) in xs.iter().enumerate().take(S) {
        let save = steps.as_deref_mut().map(|tr| &mut tr[t * per..(t + 1) * per]);
        recurrent_step::<T, I, H>(cell, bias, p, xt, &mut h, &mut c, save);
        if sequence {
            out[t * H..(t + 1) * H].copy_from_slice(&h);
        }
    }
    if !sequence {
        out[..H].copy_from_slice(&h);
    }
}

/// `hₜ₋₁` in the steps of a trace: the initial state's `h` at `t = 0`.
fn prev_h<'a, T>(steps: &'a [T], init: &'a [T], t: usize, per: usize, h: usize) -> &'a [T] {
    if t == 0 { &init[..h] } else { &steps[t * per - h..t * per] }
}

/// The LSTM's `cₜ₋₁` in the steps of a trace: the initial state's `c` at `t = 0`.
fn prev_c<'a, T>(steps: &'a [T], init: &'a [T], t: usize, per: usize, h: usize) -> &'a [T] {
    if t == 0 { &init[h..2 * h] } else { &steps[(t - 1) * per + 4 * h..(t - 1) * per + 5 * h] }
}

/// Where [`recurrent_backward`] puts the parameter gradient.
#[derive(Debug)]
pub enum RecurrentGrad<'a, T> {
    /// Nothing: the input delta alone.
    None,
    /// `g += ∂L/∂θ`, `g` the layer's slice of the gradient.
    Accumulate(&'a mut [T]),
    /// Each step's `δaᵢ` (`[S][G·H]`), for [`recurrent_apply_sgd`] once the pass no
    /// longer reads the weights.
    Record(&'a mut [T]),
}

/// Backpropagation through time over all `S` steps, from `delta` = ∂L/∂output (`[S][H]`
/// if `sequence`, else `[H]`) and the trace of the training forward (which starts with
/// the initial state; no gradient flows into it: truncated BPTT cuts there): the parameter
/// gradient per `grad`, and if `dx` is given `dx += ∂L/∂x` (`[S][I]`). The input `x`
/// (`[S][I]`) is read only for [`RecurrentGrad::Accumulate`]; the other modes may pass
/// anything.
///
/// # Panics
/// On slices of the wrong length.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn recurrent_backward<T: Scalar, const S: usize, const I: usize, const H: usize>(
    cell: Cell,
    bias: bool,
    sequence: bool,
    p: &[T],
    x: &[T],
    trace: &[T],
    delta: &[T],
    mut grad: RecurrentGrad<'_, T>,
    mut dx: Option<&mut [T]>,
) {
    let g_n = cell.gates();
    let gh = g_n * H;
    let w = split(p, gh, I, H, bias);
    let (w_ih, w_hh) = (w.w_ih.as_chunks::<I>().0, w.w_hh.as_chunks::<H>().0);
    let per = cell.saved() * H;
    let (init, trace) = trace.split_at(cell.state() * H);
    let (mut dh, mut dc) = ([T::ZERO; H], [T::ZERO; H]);
    let mut di = [[T::ZERO; H]; 4];
    let mut dhh = [[T::ZERO; H]; 4];
    for t in (0..S).rev() {
        let cur = &trace[t * per..(t + 1) * per];
        let hp = prev_h(trace, init, t, per, H);
        let h_prev = |j: usize| hp[j];
        if sequence {
            for (d, &e) in dh.iter_mut().zip(&delta[t * H..(t + 1) * H]) {
                *d += e;
            }
        } else if t == S - 1 {
            for (d, &e) in dh.iter_mut().zip(&delta[..H]) {
                *d += e;
            }
        }
        // δh passed below directly (GRU's z ⊙ δh), before W_hhᵀ·δaₕ is added.
        let mut direct = [T::ZERO; H];
        match cell {
            Cell::RnnTanh => {
                for j in 0..H {
                    let y = cur[j];
                    di[0][j] = dh[j] * (T::ONE - y * y);
                }
                dhh[0] = di[0];
            }
            Cell::RnnRelu => {
                for j in 0..H {
                    di[0][j] = if cur[j] > T::ZERO { dh[j] } else { T::ZERO };
                }
                dhh[0] = di[0];
            }
            Cell::Gru => {
                for j in 0..H {
                    let (r, z, n, ahn) = (cur[j], cur[H + j], cur[2 * H + j], cur[3 * H + j]);
                    let dn = dh[j] * (T::ONE - z) * (T::ONE - n * n);
                    let dz = dh[j] * (h_prev(j) - n) * (z * (T::ONE - z));
                    let dr = dn * ahn * (r * (T::ONE - r));
                    di[0][j] = dr;
                    di[1][j] = dz;
                    di[2][j] = dn;
                    dhh[0][j] = dr;
                    dhh[1][j] = dz;
                    dhh[2][j] = dn * r;
                    direct[j] = dh[j] * z;
                }
            }
            Cell::Lstm => {
                let cp = prev_c(trace, init, t, per, H);
                let c_prev = |j: usize| cp[j];
                for j in 0..H {
                    let (i, f, g, o) = (cur[j], cur[H + j], cur[2 * H + j], cur[3 * H + j]);
                    let tc = cur[5 * H + j];
                    let dct = dc[j] + dh[j] * o * (T::ONE - tc * tc);
                    di[0][j] = dct * g * (i * (T::ONE - i));
                    di[1][j] = dct * c_prev(j) * (f * (T::ONE - f));
                    di[2][j] = dct * i * (T::ONE - g * g);
                    di[3][j] = dh[j] * tc * (o * (T::ONE - o));
                    dc[j] = dct * f;
                }
                dhh = di;
            }
        }
        let dai = &di.as_flattened()[..gh];
        let dah = &dhh.as_flattened()[..gh];
        let hp: &[T; H] = hp.try_into().expect("H");
        match &mut grad {
            RecurrentGrad::None => {}
            RecurrentGrad::Accumulate(g) => {
                let xt: &[T; I] = x[t * I..(t + 1) * I].try_into().expect("I");
                let (gw_ih, rest) = g.split_at_mut(gh * I);
                let (gw_hh, rest) = rest.split_at_mut(gh * H);
                outer_add::<T, I>(gw_ih, dai, xt);
                if t > 0 {
                    // δhₜ₋₁ = direct + W_hhᵀ·δaₕ with ∂L/∂W_hh in the same pass over rows.
                    dh = direct;
                    if H > COLUMNS {
                        transpose_add::<T, H>(w_hh, dah, &mut dh);
                        outer_add::<T, H>(gw_hh, dah, hp);
                    } else {
                        // Short rows: ∂L/∂W_hh in the same pass over the rows.
                        for ((row, grow), &d) in w_hh.iter().zip(gw_hh.as_chunks_mut::<H>().0).zip(dah) {
                            for k in 0..H {
                                dh[k] = row[k].mul_add(d, dh[k]);
                                grow[k] = d.mul_add(hp[k], grow[k]);
                            }
                        }
                    }
                } else {
                    outer_add::<T, H>(gw_hh, dah, hp);
                }
                if bias {
                    let (gb_ih, gb_hh) = rest.split_at_mut(gh);
                    for (g, &d) in gb_ih.iter_mut().zip(dai) {
                        *g += d;
                    }
                    for (g, &d) in gb_hh.iter_mut().zip(dah) {
                        *g += d;
                    }
                }
            }
            RecurrentGrad::Record(r) => r[t * gh..(t + 1) * gh].copy_from_slice(dai),
        }
        if let Some(dx) = dx.as_deref_mut() {
            let dxt: &mut [T; I] = (&mut dx[t * I..(t + 1) * I]).try_into().expect("I");
            transpose_add::<T, I>(w_ih, dai, dxt);
        }
        if t > 0 && !matches!(grad, RecurrentGrad::Accumulate(_)) {
            dh = direct;
            transpose_add::<T, H>(w_hh, dah, &mut dh);
        }
    }
}

/// `g[r] += d[r]·x` over rows of constant length `N`, contiguous.
#[inline(always)]
fn outer_add<T: Scalar, const N: usize>(g: &mut [T], d: &[T], x: &[T; N]) {
    for (row, &d) in g.as_chunks_mut::<N>().0.iter_mut().zip(d) {
        for k in 0..N {
            row[k] = d.mul_add(x[k], row[k]);
        }
    }
}

/// `e += Wᵀ·d`: `e += d[r]·W[r]` row by row, in row order, over rows of constant length.
/// Long rows go in column blocks of [`COLUMNS`], each block's sums kept in registers
/// over all rows.
#[inline(always)]
fn transpose_add<T: Scalar, const N: usize>(w: &[[T; N]], d: &[T], e: &mut [T; N]) {
    if N > COLUMNS && N.is_multiple_of(COLUMNS) {
        for (c, ec) in e.as_chunks_mut::<COLUMNS>().0.iter_mut().enumerate() {
            let mut acc = *ec;
            for (row, &d) in w.iter().zip(d) {
                let wc = &row.as_chunks::<COLUMNS>().0[c];
                for k in 0..COLUMNS {
                    acc[k] = wc[k].mul_add(d, acc[k]);
                }
            }
            *ec = acc;
        }
    } else {
        for (row, &d) in w.iter().zip(d) {
            for k in 0..N {
                e[k] = row[k].mul_add(d, e[k]);
            }
        }
    }
}

/// Columns per block of [`transpose_add`]: four 128-bit registers of `f32`.
const COLUMNS: usize = 16;

/// Plain SGD from the steps' `δaᵢ` recorded by [`recurrent_backward`]
/// ([`RecurrentGrad::Record`]): `θ −= lr·∂L/∂θ`, the sums over steps applied step by step.
///
/// # Panics
/// On slices of the wrong length.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn recurrent_apply_sgd<T: Scalar, const S: usize, const I: usize, const H: usize>(
    cell: Cell,
    bias: bool,
    p: &mut [T],
    x: &[T],
    trace: &[T],
    recorded: &[T],
    lr: T,
) {
    let gh = cell.gates() * H;
    let per = cell.saved() * H;
    let (init, trace) = trace.split_at(cell.state() * H);
    let (w_ih, rest) = p.split_at_mut(gh * I);
    let (w_hh, b) = rest.split_at_mut(gh * H);
    for t in 0..S {
        let dai = &recorded[t * gh..(t + 1) * gh];
        let cur = &trace[t * per..(t + 1) * per];
        // δaₕ equals δaᵢ but for the GRU's n gate, where it is δn ⊙ r.
        let mut dah = [[T::ZERO; H]; 4];
        let dah = &mut dah.as_flattened_mut()[..gh];
        dah.copy_from_slice(dai);
        if cell == Cell::Gru {
            for j in 0..H {
                dah[2 * H + j] = dai[2 * H + j] * cur[j];
            }
        }
        let xt: &[T; I] = x[t * I..(t + 1) * I].try_into().expect("I");
        let hp: &[T; H] = prev_h(trace, init, t, per, H).try_into().expect("H");
        outer_sgd::<T, I>(w_ih, dai, xt, lr);
        outer_sgd::<T, H>(w_hh, dah, hp, lr);
        if bias {
            let (b_ih, b_hh) = b.split_at_mut(gh);
            for (b, &d) in b_ih.iter_mut().zip(dai) {
                *b -= lr * d;
            }
            for (b, &d) in b_hh.iter_mut().zip(dah.iter()) {
                *b -= lr * d;
            }
        }
    }
}

/// `w[r] −= lr·(d[r]·x)` over rows of constant length `N` (the rounding of accumulating
/// the gradient, then stepping).
#[inline(always)]
fn outer_sgd<T: Scalar, const N: usize>(w: &mut [T], d: &[T], x: &[T; N], lr: T) {
    for (row, &d) in w.as_chunks_mut::<N>().0.iter_mut().zip(d) {
        for k in 0..N {
            row[k] -= lr * (d * x[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    /// One row as [`rows_dot`] defines it: eight lane sums in chunk order, folded in
    /// halves, then the tail.
    fn row_dot<T: Scalar, const N: usize>(row: &[T; N], x: &[T; N]) -> T {
        let mut acc = [T::ZERO; LANES];
        let k0 = N / LANES * LANES;
        for k in 0..k0 {
            acc[k % LANES] = row[k].mul_add(x[k], acc[k % LANES]);
        }
        let mut tail = T::ZERO;
        for k in k0..N {
            tail = row[k].mul_add(x[k], tail);
        }
        let p = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
        (p[0] + p[2]) + (p[1] + p[3]) + tail
    }

    fn blocks_agree<const N: usize>() {
        let val =
            |k: usize| ((k * 2_654_435_761 % 1_000_003) as f32 / 1_000_003.0 - 0.5) * 10f32.powi((k % 7) as i32 - 3);
        for count in [1, 7, 8, 9, 16, 24, 27, 48, 64] {
            let rows: Vec<[f32; N]> = (0..count).map(|r| core::array::from_fn(|k| val(r * N + k + 1))).collect();
            let x: [f32; N] = core::array::from_fn(|k| val(9_000 + k));
            let mut out = vec![0.0; count];
            let mut four = vec![0.0; count];
            let mut eight = vec![0.0; count];
            rows_dot(&rows, &x, &mut out);
            rows_dot_blocked::<f32, N, 4>(&rows, &x, &mut four);
            rows_dot_blocked::<f32, N, 8>(&rows, &x, &mut eight);
            for (r, row) in rows.iter().enumerate() {
                let want = row_dot(row, &x).to_bits();
                assert_eq!(out[r].to_bits(), want, "row {r} of {count}, length {N}");
                assert_eq!(four[r].to_bits(), want, "four-row blocks: row {r} of {count}, length {N}");
                assert_eq!(eight[r].to_bits(), want, "eight-row blocks: row {r} of {count}, length {N}");
            }
        }
    }

    /// The four- and eight-row blocks add exactly as one row at a time: the same bits.
    #[test]
    fn row_blocks_bit_for_bit() {
        blocks_agree::<8>();
        blocks_agree::<13>();
        blocks_agree::<16>();
        blocks_agree::<32>();
        blocks_agree::<64>();
        blocks_agree::<67>();
    }
}
