//! The inner loops of layers emitted as loops, written so the compiler vectorizes them.
//!
//! - Per sample: dot products ([`dot`]), `y += a·x` ([`axpy`]), and a dense layer's
//!   products four weight rows at a time ([`matvec`] forward; [`input_delta`],
//!   [`backward_accumulate`] and [`backward_sgd`] backward), all over contiguous memory.
//!   A float sum in one accumulator is a serial dependency chain that LLVM may not
//!   reorder (float addition is not associative), so the sums keep independent partial
//!   sums per lane, which LLVM maps to vector registers; the result differs from a
//!   serial sum only by rounding.
//! - Per tile of `N` samples (the mini-batch gradient; [`TILE`] = 16, or 8 or 4 where a
//!   network's tile buffers would exceed its stack budget): matrix–matrix products with
//!   register blocking ([`tile_forward`], [`tile_input_grad`], [`tile_weight_grad`]). A
//!   block of `R` weight rows × `N` samples of accumulators stays in vector registers
//!   while the shared dimension streams past, so each loaded weight feeds `N`
//!   multiply-adds and each loaded activation vector feeds `R`, instead of one each as
//!   in a matrix–vector product. Activations and deltas of a tile are kept
//!   feature-major (`[feature][sample]`, the samples contiguous), the layout in which
//!   the forward product and the input delta are broadcast-and-multiply-add loops over
//!   the samples; the weight gradient reads the sample-major trace rows instead.
//!   `R` is picked per scalar width and target (AVX-512, AVX or SSE2) to fill the
//!   vector register file without spilling.
//!   Convolutions and pooling have tile forms too ([`conv_tile_forward`],
//!   [`conv_tile_weight_grad`], [`conv_tile_input_grad`] in `conv_tile.rs`;
//!   [`max_pool_tile_forward`] and the rest in `pool_tile.rs`), the samples again the
//!   vector dimension.
//! - Per sample, for layers with a compile-time geometry: convolutions ([`conv_forward`],
//!   [`conv_weight_grad`], [`conv_weight_sgd`], [`conv_input_grad`], in `conv.rs`) and
//!   pooling ([`max_pool_forward`] and the rest, in `pool.rs`).
//! - Recurrent layers over a sequence (`recurrent.rs`): one step of an RNN, GRU or LSTM
//!   cell ([`recurrent_step`], shared by the sequence forward and streaming inference),
//!   the sequence forward ([`recurrent_forward`]) and backpropagation through time
//!   ([`recurrent_backward`], [`recurrent_apply_sgd`]); σ and tanh over a whole gate
//!   vector ([`sigmoid_in_place`], [`tanh_in_place`]).

use crate::scalar::Scalar;

mod conv;
mod conv_tile;
mod pool;
mod pool_tile;
mod recurrent;

pub use conv::{ConvGeometry, conv_forward, conv_input_grad, conv_weight_grad, conv_weight_sgd};
pub use conv_tile::{conv_tile_forward, conv_tile_input_grad, conv_tile_weight_grad};
pub use pool::{
    PoolGeometry, avg_pool_backward, avg_pool_forward, global_avg_pool_backward, global_avg_pool_forward,
    max_pool_backward, max_pool_forward, max_pool_r_forward,
};
pub use pool_tile::{
    avg_pool_tile_backward, avg_pool_tile_forward, global_avg_pool_tile_backward, global_avg_pool_tile_forward,
    max_pool_tile_backward_in_place, max_pool_tile_forward,
};
pub use recurrent::{
    Cell, RecurrentGrad, recurrent_apply_sgd, recurrent_backward, recurrent_forward, recurrent_step, sigmoid_in_place,
    tanh_in_place,
};

/// Independent partial sums in [`dot`]: four vector registers of `f32` (SSE2: 4 × 4
/// lanes; AVX and AVX-512, where LLVM prefers 256-bit vectors: 4 × 8 lanes), enough
/// chains to cover the latency of the additions.
pub const LANES: usize = if cfg!(target_feature = "avx") { 32 } else { 16 };

/// `Σ a[i]·b[i]`.
///
/// # Panics
/// Debug builds check `a.len() == b.len()`; extra elements of the longer slice are ignored.
#[inline]
#[must_use]
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let main = n / LANES * LANES;
    let half = main + (n - main) / SHORT_LANES * SHORT_LANES;
    let mut sum = T::ZERO;
    if main > 0 {
        sum = dot_part::<T, LANES>(&a[..main], &b[..main]);
    }
    if half > main {
        sum += dot_part::<T, SHORT_LANES>(&a[main..half], &b[main..half]);
    }
    let mut tail = T::ZERO;
    for (&x, &y) in a[half..].iter().zip(&b[half..]) {
        tail = x.mul_add(y, tail);
    }
    sum + tail
}

/// Lanes of the step after the main loops of [`dot`] and [`matvec`]: one 256-bit vector
/// of `f32`, so rows shorter than the main loop's width still run in vectors.
const SHORT_LANES: usize = 8;

/// Bytes of the vectors LLVM uses on this target: 16 (SSE2) or 32 (AVX, and AVX-512,
/// where it prefers 256-bit vectors).
const VECTOR_BYTES: usize = if cfg!(target_feature = "avx") { 32 } else { 16 };

/// Whether [`matvec`]'s row blocks pass their accumulators through [`reduce_rows`]'
/// barrier; without it, AVX targets sum four rows at once ([`reduce_four_rows`]).
/// Measured per target: on SSE2 (the default target) the barrier pays (without it a
/// 64-input, 32-row product takes 545 ns instead of 276 ns); on an AVX2 machine without
/// AVX-512 (an AMD EPYC, `-C target-cpu=native`) it costs, the plain pairwise sum taking
/// that product from 283 ns to 148 ns and a 784-input, 128-row one from 6.3 µs to
/// 5.8 µs. On an AVX-512 Xeon the four-row sum took 64-32-10 inference from 384 to
/// 343 ns (256-bit code; from 428 to 336 ns in 512-bit code, counting the softmax's
/// vectorized exponentials there), and 784-128-10 inference from 7.1 to 3.6 µs in 512-bit
/// code, but from 5.3 to 6.9 µs in 256-bit code (see benches/RESULTS.md): the barrier is
/// off on every AVX target.
const MATVEC_BARRIER: bool = !cfg!(target_feature = "avx");

/// The sum of each row's lanes. Accumulators of more than one vector per row pass an
/// optimization barrier first, in pieces of four lanes: without it LLVM's SLP vectorizer
/// packs them two lanes per register after the shape of the reduction; in pieces no
/// wider than a vector, so each reload is forwarded from the store that wrote it (a
/// reload wider than the stores stalls). One-vector accumulators need no barrier.
#[inline(always)]
fn reduce_rows<T: Scalar, const L: usize, const R: usize>(acc: [[T; L]; R]) -> [T; R] {
    // Loops rather than `array::map`, whose closure LLVM does not always inline here.
    let mut sums = [T::ZERO; R];
    if L * size_of::<T>() <= VECTOR_BYTES || !L.is_multiple_of(4) {
        for (s, row) in sums.iter_mut().zip(acc) {
            *s = reduce(row);
        }
        return sums;
    }
    for (s, row) in sums.iter_mut().zip(&acc) {
        let mut part = [T::ZERO; 4];
        for piece in row.as_chunks::<4>().0 {
            let piece = core::hint::black_box(*piece);
            for k in 0..4 {
                part[k] += piece[k];
            }
        }
        *s = (part[0] + part[2]) + (part[1] + part[3]);
    }
    sums
}

/// `Σ a[i]·b[i]` over whole chunks of `L` (a remainder is ignored), `L` partial sums.
#[inline(always)]
fn dot_part<T: Scalar, const L: usize>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; L];
    for (x, y) in a.as_chunks::<L>().0.iter().zip(b.as_chunks::<L>().0) {
        madd_lanes(&mut acc, x, y);
    }
    // Through `reduce_rows`' barrier: without it LLVM's SLP vectorizer shapes the
    // accumulators after the reduction and packs them two lanes per register, halving
    // the loop's throughput.
    let [sum] = reduce_rows([acc]);
    sum
}

/// `y[i] += a·x[i]`.
#[inline]
pub fn axpy<T: Scalar>(a: T, x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Rows per block of the per-sample kernels ([`matvec`], [`input_delta`],
/// [`backward_accumulate`], [`backward_sgd`]).
const ROW_BLOCK: usize = 4;
/// Lanes per row of a block: with four rows, 8 (SSE2: 8 of 16 registers of
/// accumulators) or 16 (AVX: 8 of 16 256-bit registers).
const ROW_LANES: usize = if cfg!(target_feature = "avx") { 16 } else { 8 };

/// `acc[k] += w[k]·x[k]`.
#[inline(always)]
fn madd_lanes<T: Scalar, const L: usize>(acc: &mut [T; L], w: &[T; L], x: &[T; L]) {
    for k in 0..L {
        acc[k] = w[k].mul_add(x[k], acc[k]);
    }
}

/// The sum of the lanes, pairwise.
#[inline(always)]
fn reduce<T: Scalar, const L: usize>(mut acc: [T; L]) -> T {
    let mut width = L;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] += acc[k + width];
        }
    }
    acc[0]
}

/// The forward product of a dense layer for one sample: `z[o] = Σᵢ w[o][i]·x[i]`, with
/// `w` of `z.len()` rows of `x.len()` weights. Rows go four at a time, so each loaded
/// input vector feeds four rows (one load per multiply-add instead of two).
///
/// # Panics
/// If `w` has the wrong length.
#[inline]
pub fn matvec<T: Scalar>(w: &[T], x: &[T], z: &mut [T]) {
    let n = x.len();
    assert_eq!(w.len(), n * z.len(), "weights of a {}×{n} layer", z.len());
    if n == 0 {
        z.fill(T::ZERO);
        return;
    }
    let main = n / ROW_LANES * ROW_LANES;
    let half = main + (n - main) / SHORT_LANES * SHORT_LANES;
    let mut blocks = w.chunks_exact(n * ROW_BLOCK);
    let mut outs = z.chunks_exact_mut(ROW_BLOCK);
    for (wb, zb) in (&mut blocks).zip(&mut outs) {
        let (r0, rest) = wb.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        let rows = [r0, r1, r2, r3];
        let mut sums = [T::ZERO; ROW_BLOCK];
        if main > 0 {
            sums = matvec_part::<T, ROW_LANES>(rows.map(|r| &r[..main]), &x[..main]);
        }
        if half > main {
            let more = matvec_part::<T, SHORT_LANES>(rows.map(|r| &r[main..half]), &x[main..half]);
            for (s, m) in sums.iter_mut().zip(more) {
                *s += m;
            }
        }
        for ((zo, row), s) in zb.iter_mut().zip(rows).zip(sums) {
            let mut tail = T::ZERO;
            for (&wi, &xi) in row[half..].iter().zip(&x[half..]) {
                tail = wi.mul_add(xi, tail);
            }
            *zo = s + tail;
        }
    }
    for (row, zo) in blocks.remainder().chunks_exact(n).zip(outs.into_remainder()) {
        *zo = dot(row, x);
    }
}

/// Four rows times `x` over whole chunks of `L` (a remainder is ignored).
#[inline(always)]
fn matvec_part<T: Scalar, const L: usize>(rows: [&[T]; ROW_BLOCK], x: &[T]) -> [T; ROW_BLOCK] {
    let c = rows.map(|r| r.as_chunks::<L>().0);
    let mut acc = [[T::ZERO; L]; ROW_BLOCK];
    for (j, xv) in x.as_chunks::<L>().0.iter().enumerate() {
        for r in 0..ROW_BLOCK {
            madd_lanes(&mut acc[r], &c[r][j], xv);
        }
    }
    // See `dot_part` and `MATVEC_BARRIER`: where it pays, the barrier keeps the
    // accumulators in whole vector registers.
    if MATVEC_BARRIER {
        return reduce_rows(acc);
    }
    if L >= 8 && L.is_power_of_two() {
        return reduce_four_rows(&acc);
    }
    let mut sums = [T::ZERO; ROW_BLOCK];
    for (s, row) in sums.iter_mut().zip(acc) {
        *s = reduce(row);
    }
    sums
}

/// [`reduce`] of four rows of `L` lanes (a power of two, at least 8) at once, with the very same additions: the
/// rows' lanes are folded in halves (`k + 8`, then `k + 4`, `k + 2`, `k + 1`), but from
/// the second fold on two rows share a vector, so the four sums take three shuffle-and-add
/// steps over whole vectors instead of a horizontal sum per row.
#[inline(always)]
fn reduce_four_rows<T: Scalar, const L: usize>(acc: &[[T; L]; ROW_BLOCK]) -> [T; ROW_BLOCK] {
    // L → 8 lanes per row, the halves added lane by lane.
    let mut acc = *acc;
    let mut width = L;
    while width > 8 {
        width /= 2;
        for row in &mut acc {
            for k in 0..width {
                row[k] += row[k + width];
            }
        }
    }
    let h: [[T; 8]; ROW_BLOCK] = core::array::from_fn(|r| core::array::from_fn(|k| acc[r][k]));
    fold_four_rows(&h)
}

/// The sums of four rows of eight lanes, each row folded in halves (`k + 4`, `k + 2`,
/// `k + 1`), the additions of [`reduce`] on eight lanes, but two rows share a vector after
/// the first fold and all four after the second.
#[inline(always)]
pub(crate) fn fold_four_rows<T: Scalar>(h: &[[T; 8]; 4]) -> [T; 4] {
    // k + 4: rows 0 and 1 share a vector, rows 2 and 3 another (four partials each).
    let pair = |a: &[T; 8], b: &[T; 8]| -> [T; 8] {
        [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7], b[0] + b[4], b[1] + b[5], b[2] + b[6], b[3] + b[7]]
    };
    let v0 = pair(&h[0], &h[1]);
    let v1 = pair(&h[2], &h[3]);
    // k + 2: two partials per row; lanes 0–1 row 0, 2–3 row 2, 4–5 row 1, 6–7 row 3.
    let u = [
        v0[0] + v0[2],
        v0[1] + v0[3],
        v1[0] + v1[2],
        v1[1] + v1[3],
        v0[4] + v0[6],
        v0[5] + v0[7],
        v1[4] + v1[6],
        v1[5] + v1[7],
    ];
    // k + 1.
    [u[0] + u[1], u[4] + u[5], u[2] + u[3], u[6] + u[7]]
}

/// Per-sample backward blocks of `R` rows, one set of functions per `R`, rows written
/// out one statement each (see `blocks!` below for why).
macro_rules! row_blocks {
    ($($r_count:literal: $input:ident, $grad:ident, $sgd:ident, [$($r:literal)*];)*) => {$(
        /// `e[i] += Σ_r w[rows[r]][i]·d[r]`, rows added in order. A plain loop over
        /// `i` with no dependency between iterations, which LLVM vectorizes over
        /// contiguous `i` (chunking it by hand would invite vectorizing across chunks,
        /// with gathers).
        #[inline(always)]
        fn $input<T: Scalar>(w: &[T], rows: &[usize; $r_count], d: &[T; $r_count], e: &mut [T]) {
            let n = e.len();
            let ws: [&[T]; $r_count] = core::array::from_fn(|r| &w[rows[r] * n..(rows[r] + 1) * n]);
            for (i, ei) in e.iter_mut().enumerate() {
                let mut v = *ei;
                $(v = ws[$r][i].mul_add(d[$r], v);)*
                *ei = v;
            }
        }

        /// `g[rows[r]][i] += d[r]·x[i]`.
        #[inline(always)]
        fn $grad<T: Scalar>(g: &mut [T], rows: &[usize; $r_count], d: &[T; $r_count], x: &[T]) {
            let n = x.len();
            $({
                let gr = &mut g[rows[$r] * n..(rows[$r] + 1) * n];
                for (gi, &xi) in gr.iter_mut().zip(x) {
                    *gi = d[$r].mul_add(xi, *gi);
                }
            })*
        }

        /// `w[rows[r]][i] -= lr·(d[r]·x[i])`.
        #[inline(always)]
        fn $sgd<T: Scalar>(w: &mut [T], rows: &[usize; $r_count], d: &[T; $r_count], x: &[T], lr: T) {
            let n = x.len();
            $({
                let wr = &mut w[rows[$r] * n..(rows[$r] + 1) * n];
                for (wi, &xi) in wr.iter_mut().zip(x) {
                    *wi -= lr * (d[$r] * xi);
                }
            })*
        }
    )*};
}

row_blocks! {
    1: input_rows_1, grad_rows_1, sgd_rows_1, [0];
    4: input_rows_4, grad_rows_4, sgd_rows_4, [0 1 2 3];
}

/// Collects the rows of `delta` in blocks of four (leaving out zero deltas if
/// `skip_zero`, without a branch per row) and calls `f` with each block's rows and
/// deltas (four, or one for leftover rows), in increasing row order.
#[inline(always)]
fn for_row_blocks<T: Scalar>(delta: &[T], skip_zero: bool, mut f: impl FnMut(&[usize], &[T])) {
    let mut block = [0usize; ROW_BLOCK];
    let mut count = 0;
    for (o, &d) in delta.iter().enumerate() {
        block[count] = o;
        count += usize::from(!skip_zero || d != T::ZERO);
        if count == ROW_BLOCK {
            f(&block, &block.map(|o| delta[o]));
            count = 0;
        }
    }
    for &o in &block[..count] {
        f(&[o], &[delta[o]]);
    }
}

/// Calls the four-row or the one-row form of a row-block function.
macro_rules! by_rows {
    ($rows:ident, $d:ident, $four:ident, $one:ident, ($($arg:expr),*), ($($after:expr),*)) => {
        match ($rows.try_into(), $d.try_into()) {
            (Ok(rows), Ok(d)) => $four($($arg,)* rows, d $(, $after)*),
            _ => $one($($arg,)* [$rows[0]].as_ref().try_into().expect("one row"), &[$d[0]] $(, $after)*),
        }
    };
}

/// The input delta of a dense layer for one sample: `e[i] += Σₒ w[o][i]·δ[o]`, four
/// rows per pass over `e` (one load and store of `e` per four rows), rows added in
/// increasing order. With `skip_zero`, rows with a zero delta are left out.
///
/// # Panics
/// If `w` has the wrong length.
#[inline]
pub fn input_delta<T: Scalar>(w: &[T], delta: &[T], e: &mut [T], skip_zero: bool) {
    assert_eq!(w.len(), e.len() * delta.len(), "weights of a {}×{} layer", delta.len(), e.len());
    for_row_blocks(delta, skip_zero, |rows, d| by_rows!(rows, d, input_rows_4, input_rows_1, (w), (&mut *e)));
}

/// The weight gradient of a dense layer for one sample: `g[o][i] += δ[o]·x[i]`, and if
/// `e` is given the input delta as in [`input_delta`]. With `skip_zero`, rows with a
/// zero delta are left out.
///
/// # Panics
/// If `w`, `g` or `e` has the wrong length.
#[inline]
pub fn backward_accumulate<T: Scalar>(
    w: &[T],
    g: &mut [T],
    x: &[T],
    delta: &[T],
    e: Option<&mut [T]>,
    skip_zero: bool,
) {
    let n = x.len();
    assert_eq!(w.len(), n * delta.len(), "weights of a {}×{n} layer", delta.len());
    assert_eq!(g.len(), w.len(), "gradient of a {}×{n} layer", delta.len());
    if let Some(e) = e {
        input_delta(w, delta, e, skip_zero);
    }
    for_row_blocks(delta, skip_zero, |rows, d| by_rows!(rows, d, grad_rows_4, grad_rows_1, (&mut *g), (x)));
}

/// Plain SGD on a dense layer's weights for one sample: `w[o][i] -= lr·(δ[o]·x[i])`
/// (the rounding of accumulating the gradient and then stepping), after adding the
/// input delta into `e` if given, from the weights before the update. With
/// `skip_zero`, rows with a zero delta are left out.
///
/// # Panics
/// If `w` or `e` has the wrong length.
#[inline]
pub fn backward_sgd<T: Scalar>(w: &mut [T], x: &[T], delta: &[T], lr: T, e: Option<&mut [T]>, skip_zero: bool) {
    let n = x.len();
    assert_eq!(w.len(), n * delta.len(), "weights of a {}×{n} layer", delta.len());
    if let Some(e) = e {
        input_delta(w, delta, e, skip_zero);
    }
    for_row_blocks(delta, skip_zero, |rows, d| by_rows!(rows, d, sgd_rows_4, sgd_rows_1, (&mut *w), (x, lr)));
}

/// Samples per tile of the mini-batch kernels: the most a generated network uses, and the
/// default of [`Tile`]. Networks whose tile buffers would not fit their stack budget use
/// tiles of 8 or 4; every tile kernel is generic over the tile size `N`.
pub const TILE: usize = 16;

/// Weight rows per register block for 4-byte scalars: accumulators take 8 (of 16)
/// 128-bit registers under SSE2, 12 (of 16) 256-bit registers under AVX, 16 (of 32)
/// 256-bit registers under AVX-512 (LLVM prefers 256-bit vectors on such cores).
const ROWS_32: usize = if cfg!(target_feature = "avx512f") {
    8
} else if cfg!(target_feature = "avx") {
    6
} else {
    2
};
/// Weight rows per register block for 8-byte scalars (half of [`ROWS_32`]).
const ROWS_64: usize = if ROWS_32 / 2 == 0 { 1 } else { ROWS_32 / 2 };

/// One tile of values per feature, samples contiguous.
pub type Tile<T, const N: usize = TILE> = [T; N];

/// `acc[k] += w·a[k]` over a tile: the one vector operation of every kernel below.
#[inline(always)]
pub(super) fn madd_tile<T: Scalar, const N: usize>(acc: &mut Tile<T, N>, w: T, a: &Tile<T, N>) {
    for k in 0..N {
        acc[k] = w.mul_add(a[k], acc[k]);
    }
}

/// Register blocks of `R` rows, one set of functions per `R`, with the rows written out
/// one statement each: a loop over rows would invite LLVM's loop vectorizer to vectorize
/// across rows, with gathers and scatters (strided by a tile), which on AVX-512 cores
/// it believes cheap and which are many times slower than the contiguous operations.
macro_rules! blocks {
    ($($r_count:literal: $forward:ident, $input:ident, $weight:ident, [$($r:literal)*];)*) => {$(
        /// Rows of the forward product: accumulators start at the biases and take one
        /// broadcast weight times a tile of inputs per step.
        #[inline(always)]
        fn $forward<T: Scalar, const N: usize>(w: &[T], bias: [T; $r_count], at: &[Tile<T, N>]) -> [Tile<T, N>; $r_count] {
            let fan_in = at.len();
            let rows: [&[T]; $r_count] = core::array::from_fn(|r| &w[r * fan_in..(r + 1) * fan_in]);
            let mut acc: [Tile<T, N>; $r_count] = core::array::from_fn(|r| [bias[r]; N]);
            for (i, a) in at.iter().enumerate() {
                $(madd_tile(&mut acc[$r], rows[$r][i], a);)*
            }
            acc
        }

        /// Input features `i0..i0 + R` of the input delta: per output, `R` contiguous
        /// weights of its row, each broadcast times the tile of that output's deltas.
        #[inline(always)]
        fn $input<T: Scalar, const N: usize>(w: &[T], fan_in: usize, i0: usize, dt: &[Tile<T, N>]) -> [Tile<T, N>; $r_count] {
            let mut acc = [[T::ZERO; N]; $r_count];
            for (row, d) in w.chunks_exact(fan_in).zip(dt) {
                let ws: &[T; $r_count] = row[i0..i0 + $r_count].try_into().expect("a block of weights");
                $(madd_tile(&mut acc[$r], ws[$r], d);)*
            }
            acc
        }

        /// Columns `i0..i0 + N` of `R` rows of the weight gradient: per sample, `N`
        /// of its inputs times each row's broadcast delta.
        #[inline(always)]
        fn $weight<T: Scalar, const N: usize>(dt: &[Tile<T, N>], rows: &[&[T]], i0: usize, fan_in: usize, g: &mut [T]) {
            let mut acc: [Tile<T, N>; $r_count] =
                core::array::from_fn(|r| g[r * fan_in + i0..r * fan_in + i0 + N].try_into().expect("a tile"));
            for (s, row) in rows.iter().enumerate() {
                let a: &Tile<T, N> = row[i0..i0 + N].try_into().expect("a tile");
                $(madd_tile(&mut acc[$r], dt[$r][s], a);)*
            }
            for (r, a) in acc.iter().enumerate() {
                g[r * fan_in + i0..r * fan_in + i0 + N].copy_from_slice(a);
            }
        }
    )*};
}

blocks! {
    1: forward_1, input_1, weight_1, [0];
    2: forward_2, input_2, weight_2, [0 1];
    3: forward_3, input_3, weight_3, [0 1 2];
    4: forward_4, input_4, weight_4, [0 1 2 3];
    6: forward_6, input_6, weight_6, [0 1 2 3 4 5];
    8: forward_8, input_8, weight_8, [0 1 2 3 4 5 6 7];
}

/// Rows per register block for scalars of type `T` on this target.
pub(super) const fn rows_for<T>() -> usize {
    if size_of::<T>() == 4 { ROWS_32 } else { ROWS_64 }
}

/// Calls `$run::<T, R, N>($($arg),*, block_R, block_1)` with this target's block size for `T`.
macro_rules! dispatch {
    ($t:ty, $n:ident, $run:ident, $kind:ident, ($($arg:expr),*)) => {
        match rows_for::<$t>() {
            8 => $run::<$t, 8, $n>($($arg),*, dispatch!(@f $kind 8), dispatch!(@f $kind 1)),
            6 => $run::<$t, 6, $n>($($arg),*, dispatch!(@f $kind 6), dispatch!(@f $kind 1)),
            4 => $run::<$t, 4, $n>($($arg),*, dispatch!(@f $kind 4), dispatch!(@f $kind 1)),
            3 => $run::<$t, 3, $n>($($arg),*, dispatch!(@f $kind 3), dispatch!(@f $kind 1)),
            2 => $run::<$t, 2, $n>($($arg),*, dispatch!(@f $kind 2), dispatch!(@f $kind 1)),
            _ => $run::<$t, 1, $n>($($arg),*, dispatch!(@f $kind 1), dispatch!(@f $kind 1)),
        }
    };
    (@f forward 1) => { forward_1 }; (@f forward 2) => { forward_2 }; (@f forward 3) => { forward_3 };
    (@f forward 4) => { forward_4 }; (@f forward 6) => { forward_6 }; (@f forward 8) => { forward_8 };
    (@f input 1) => { input_1 }; (@f input 2) => { input_2 }; (@f input 3) => { input_3 };
    (@f input 4) => { input_4 }; (@f input 6) => { input_6 }; (@f input 8) => { input_8 };
    (@f weight 1) => { weight_1 }; (@f weight 2) => { weight_2 }; (@f weight 3) => { weight_3 };
    (@f weight 4) => { weight_4 }; (@f weight 6) => { weight_6 }; (@f weight 8) => { weight_8 };
}

/// A register block of the forward product (see `blocks!`).
type ForwardBlock<T, const R: usize, const N: usize> = fn(&[T], [T; R], &[Tile<T, N>]) -> [Tile<T, N>; R];
/// A register block of the input delta.
type InputBlock<T, const R: usize, const N: usize> = fn(&[T], usize, usize, &[Tile<T, N>]) -> [Tile<T, N>; R];
/// A register block of the weight gradient.
type WeightBlock<T, const N: usize> = fn(&[Tile<T, N>], &[&[T]], usize, usize, &mut [T]);

/// The forward product of a dense layer on a tile: `zt[o][s] = b[o] + Σᵢ w[o][i]·at[i][s]`
/// with `w` of `zt.len()` rows of `at.len()` weights (PyTorch order) and `bias` of
/// `zt.len()` values, or zero.
///
/// # Panics
/// If `w` or `bias` has the wrong length.
#[inline]
pub fn tile_forward<T: Scalar, const N: usize>(w: &[T], bias: Option<&[T]>, at: &[Tile<T, N>], zt: &mut [Tile<T, N>]) {
    dispatch!(T, N, forward_rows, forward, (w, bias, at, zt));
}

#[inline(always)]
fn forward_rows<T: Scalar, const R: usize, const N: usize>(
    w: &[T],
    bias: Option<&[T]>,
    at: &[Tile<T, N>],
    zt: &mut [Tile<T, N>],
    block: ForwardBlock<T, R, N>,
    single: ForwardBlock<T, 1, N>,
) {
    let (fan_in, out) = (at.len(), zt.len());
    assert_eq!(w.len(), fan_in * out, "weights of a {out}×{fan_in} layer");
    if let Some(b) = bias {
        assert_eq!(b.len(), out, "biases of a layer of {out}");
    }
    let bias_at = |o: usize| bias.map_or(T::ZERO, |b| b[o]);
    let mut o = 0;
    while o + R <= out {
        zt[o..o + R].copy_from_slice(&block(
            &w[o * fan_in..(o + R) * fan_in],
            core::array::from_fn(|r| bias_at(o + r)),
            at,
        ));
        o += R;
    }
    while o < out {
        zt[o..=o].copy_from_slice(&single(&w[o * fan_in..(o + 1) * fan_in], [bias_at(o)], at));
        o += 1;
    }
}

/// The input delta of a dense layer on a tile: `et[i][s] = Σₒ w[o][i]·dt[o][s]`, with
/// `w` of `dt.len()` rows of `et.len()` weights.
///
/// # Panics
/// If `w` has the wrong length.
#[inline]
pub fn tile_input_grad<T: Scalar, const N: usize>(w: &[T], dt: &[Tile<T, N>], et: &mut [Tile<T, N>]) {
    dispatch!(T, N, input_grad_rows, input, (w, dt, et));
}

#[inline(always)]
fn input_grad_rows<T: Scalar, const R: usize, const N: usize>(
    w: &[T],
    dt: &[Tile<T, N>],
    et: &mut [Tile<T, N>],
    block: InputBlock<T, R, N>,
    single: InputBlock<T, 1, N>,
) {
    let (fan_in, out) = (et.len(), dt.len());
    assert_eq!(w.len(), fan_in * out, "weights of a {out}×{fan_in} layer");
    let mut i = 0;
    while i + R <= fan_in {
        et[i..i + R].copy_from_slice(&block(w, fan_in, i, dt));
        i += R;
    }
    while i < fan_in {
        et[i..=i].copy_from_slice(&single(w, fan_in, i, dt));
        i += 1;
    }
}

/// Accumulates the weight gradient of a dense layer over a tile:
/// `g[o][i] += Σ_{s<n} dt[o][s]·a[s·stride + i]`, where sample `s`'s input row starts at
/// `a[s·stride]` and holds `fan_in` values, and `g` has `dt.len()` rows of `fan_in`.
///
/// # Panics
/// If `n > N`, `g` has the wrong length, or `a` is too short.
#[inline]
pub fn tile_weight_grad<T: Scalar, const N: usize>(
    dt: &[Tile<T, N>],
    a: &[T],
    stride: usize,
    n: usize,
    fan_in: usize,
    g: &mut [T],
) {
    dispatch!(T, N, weight_grad_rows, weight, (dt, a, stride, n, fan_in, g));
}

#[inline(always)]
#[allow(clippy::too_many_arguments)] // the public function's six, and the two block sizes
fn weight_grad_rows<T: Scalar, const R: usize, const N: usize>(
    dt: &[Tile<T, N>],
    a: &[T],
    stride: usize,
    n: usize,
    fan_in: usize,
    g: &mut [T],
    block: WeightBlock<T, N>,
    single: WeightBlock<T, N>,
) {
    let out = dt.len();
    assert!(n <= N, "a tile holds at most {N} samples");
    assert_eq!(g.len(), out * fan_in, "gradient of a {out}×{fan_in} layer");
    if n == 0 {
        return;
    }
    assert!(a.len() >= (n - 1) * stride + fan_in, "input rows of the tile");
    let rows: [&[T]; N] = core::array::from_fn(|s| if s < n { &a[s * stride..s * stride + fan_in] } else { &[] });
    let rows = &rows[..n];
    // Column blocks of N inputs outermost: the tile's slice of every input row stays in
    // L1 while all output rows pass.
    let mut i0 = 0;
    while i0 + N <= fan_in {
        let mut o = 0;
        while o + R <= out {
            block(&dt[o..o + R], rows, i0, fan_in, &mut g[o * fan_in..(o + R) * fan_in]);
            o += R;
        }
        while o < out {
            single(&dt[o..=o], rows, i0, fan_in, &mut g[o * fan_in..(o + 1) * fan_in]);
            o += 1;
        }
        i0 += N;
    }
    if i0 < fan_in {
        for (d, gr) in dt.iter().zip(g.chunks_exact_mut(fan_in)) {
            for (&dv, row) in d.iter().zip(rows) {
                for (gi, &ai) in gr[i0..].iter_mut().zip(&row[i0..]) {
                    *gi = dv.mul_add(ai, *gi);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn dot_matches_serial_sum_at_every_length() {
        for n in 0..70 {
            let a: [f64; 70] = core::array::from_fn(|i| (i as f64 * 0.37).sin());
            let b: [f64; 70] = core::array::from_fn(|i| (i as f64 * 0.11).cos());
            let serial: f64 = a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum();
            assert!((dot(&a[..n], &b[..n]) - serial).abs() < 1e-12, "n = {n}");
        }
    }

    /// A deterministic pseudo-random value in [-1, 1).
    fn val(k: usize) -> f64 {
        ((k as f64 * 0.618_033_988_7 + 0.1).fract() - 0.5) * 2.0
    }

    /// The tile kernels against naive triple loops, for sizes that exercise full register
    /// blocks, remainder rows and remainder columns, and partial tiles.
    fn tile_kernels_agree<T: Scalar, const N: usize>(tol: f64) {
        for &(fan_in, out, n) in &[(1, 1, 1), (3, 5, 16), (16, 8, 7), (37, 13, 16), (64, 32, 5), (40, 17, 1)] {
            let n = n.min(N);
            let w: Vec<T> = (0..out * fan_in).map(|k| T::from_f64(val(k))).collect();
            let b: Vec<T> = (0..out).map(|k| T::from_f64(val(k + 999))).collect();
            let x: Vec<Vec<f64>> = (0..n).map(|s| (0..fan_in).map(|i| val(7 * s + 31 * i + 5)).collect()).collect();
            let d: Vec<Vec<f64>> = (0..n).map(|s| (0..out).map(|o| val(13 * s + 17 * o + 3)).collect()).collect();
            let mut at = vec![[T::ZERO; N]; fan_in];
            let mut dt = vec![[T::ZERO; N]; out];
            for s in 0..n {
                for i in 0..fan_in {
                    at[i][s] = T::from_f64(x[s][i]);
                }
                for o in 0..out {
                    dt[o][s] = T::from_f64(d[s][o]);
                }
            }
            let close = |got: T, want: f64, what: &str| {
                assert!(
                    (got.to_f64() - want).abs() <= tol * (1.0 + want.abs()),
                    "{what}: {got} vs {want} ({fan_in}, {out}, {n})"
                );
            };
            let mut zt = vec![[T::ZERO; N]; out];
            tile_forward(&w, Some(&b), &at, &mut zt);
            let mut et = vec![[T::ZERO; N]; fan_in];
            tile_input_grad(&w, &dt, &mut et);
            for s in 0..n {
                for o in 0..out {
                    let want: f64 =
                        b[o].to_f64() + (0..fan_in).map(|i| w[o * fan_in + i].to_f64() * x[s][i]).sum::<f64>();
                    close(zt[o][s], want, "forward");
                }
                for i in 0..fan_in {
                    let want: f64 = (0..out).map(|o| w[o * fan_in + i].to_f64() * d[s][o]).sum();
                    close(et[i][s], want, "input delta");
                }
            }
            // The weight gradient reads sample-major rows with a stride wider than a row.
            let stride = fan_in + 3;
            let rows: Vec<T> =
                (0..n * stride)
                    .map(|k| {
                        if k % stride < fan_in { T::from_f64(x[k / stride][k % stride]) } else { T::from_f64(f64::NAN) }
                    })
                    .collect();
            let mut g: Vec<T> = (0..out * fan_in).map(|k| T::from_f64(val(k + 5000))).collect();
            let g0 = g.clone();
            tile_weight_grad(&dt, &rows, stride, n, fan_in, &mut g);
            for o in 0..out {
                for i in 0..fan_in {
                    let want = g0[o * fan_in + i].to_f64() + (0..n).map(|s| d[s][o] * x[s][i]).sum::<f64>();
                    close(g[o * fan_in + i], want, "weight gradient");
                }
            }
        }
    }

    /// The four-row reduction adds exactly as `reduce` does, row by row: the same bits.
    fn four_rows_reduce_as_reduce<const L: usize>() {
        for seed in 0..20 {
            let acc: [[f32; L]; ROW_BLOCK] = core::array::from_fn(|r| {
                core::array::from_fn(|k| val(seed * 977 + r * L + k) as f32 * 1e3_f32.powi((k % 5) as i32 - 2))
            });
            let got = reduce_four_rows(&acc);
            for r in 0..ROW_BLOCK {
                assert_eq!(got[r].to_bits(), reduce(acc[r]).to_bits(), "row {r} of {L} lanes");
            }
        }
    }

    #[test]
    fn four_rows_reduce_bit_for_bit() {
        four_rows_reduce_as_reduce::<8>();
        four_rows_reduce_as_reduce::<16>();
        four_rows_reduce_as_reduce::<32>();
    }

    /// The per-sample kernels against naive loops: every row count modulo the block, row
    /// lengths around the lane count, zero deltas with and without skipping.
    fn row_kernels_agree<T: Scalar>(tol: f64) {
        for &(n, out) in &[(1, 1), (3, 5), (8, 4), (17, 9), (33, 7), (64, 10), (70, 13)] {
            let w: Vec<T> = (0..out * n).map(|k| T::from_f64(val(k))).collect();
            let x: Vec<T> = (0..n).map(|i| T::from_f64(val(3 * i + 11))).collect();
            // Every third delta is zero, as behind a relu.
            let d: Vec<T> = (0..out).map(|o| if o % 3 == 1 { T::ZERO } else { T::from_f64(val(7 * o + 2)) }).collect();
            let close = |got: T, want: f64, what: &str| {
                assert!(
                    (got.to_f64() - want).abs() <= tol * (1.0 + want.abs()),
                    "{what}: {got} vs {want} ({n}, {out})"
                );
            };
            let mut z = vec![T::ZERO; out];
            matvec(&w, &x, &mut z);
            for o in 0..out {
                close(z[o], (0..n).map(|i| w[o * n + i].to_f64() * x[i].to_f64()).sum(), "matvec");
            }
            for skip in [false, true] {
                let e0: Vec<T> = (0..n).map(|i| T::from_f64(val(i + 400))).collect();
                let g0: Vec<T> = (0..out * n).map(|k| T::from_f64(val(k + 900))).collect();
                let want_e =
                    |i: usize| e0[i].to_f64() + (0..out).map(|o| w[o * n + i].to_f64() * d[o].to_f64()).sum::<f64>();
                let mut e = e0.clone();
                input_delta(&w, &d, &mut e, skip);
                (0..n).for_each(|i| close(e[i], want_e(i), "input delta"));

                let (mut e, mut g) = (e0.clone(), g0.clone());
                backward_accumulate(&w, &mut g, &x, &d, Some(&mut e), skip);
                (0..n).for_each(|i| close(e[i], want_e(i), "input delta (accumulate)"));
                for k in 0..out * n {
                    close(g[k], g0[k].to_f64() + d[k / n].to_f64() * x[k % n].to_f64(), "weight gradient");
                }

                let (mut e, mut w2) = (e0.clone(), w.clone());
                let lr = T::from_f64(0.25);
                backward_sgd(&mut w2, &x, &d, lr, Some(&mut e), skip);
                (0..n).for_each(|i| close(e[i], want_e(i), "input delta (sgd)"));
                for k in 0..out * n {
                    // Bit for bit the rounding of a gradient step: w − lr·(δ·x).
                    assert_eq!(w2[k], w[k] - lr * (d[k / n] * x[k % n]), "sgd [{k}] ({n}, {out})");
                }
            }
        }
    }

    #[test]
    fn row_kernels_match_naive_loops() {
        row_kernels_agree::<f64>(1e-13);
        row_kernels_agree::<f32>(1e-5);
    }

    #[test]
    fn tile_kernels_match_naive_loops() {
        tile_kernels_agree::<f64, TILE>(1e-13);
        tile_kernels_agree::<f32, TILE>(1e-5);
        tile_kernels_agree::<f64, 8>(1e-13);
        tile_kernels_agree::<f32, 8>(1e-5);
        tile_kernels_agree::<f64, 4>(1e-13);
        tile_kernels_agree::<f32, 4>(1e-5);
    }

    #[test]
    fn axpy_adds_scaled() {
        let mut y = [1.0_f32, 2.0, 3.0];
        axpy(2.0, &[1.0, 0.5, -1.0], &mut y);
        assert_eq!(y, [3.0, 3.0, 1.0]);
    }
}
