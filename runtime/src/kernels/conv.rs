//! Convolutions of one sample, with every size a constant of the layer's [`ConvGeometry`].
//!
//! ```text
//! forward        z[o][y][x] = b[o] + Σ_{c,ky,kx} w[o][c][ky][kx]·x[c][y·SH − PH + ky·DH][x·SW − PW + kx·DW]
//! weight grad    ∂L/∂w[o][c][ky][kx] = Σ_{y,x} δ[o][y][x]·x[c][y·SH − PH + ky·DH][x·SW − PW + kx·DW]
//!                ∂L/∂b[o] = Σ_{y,x} δ[o][y][x]
//! input grad     ∂L/∂x[c][iy][ix] = Σ w[o][c][ky][kx]·δ[o][y][x] over every (o, ky, kx, y, x) whose
//!                tap reads (iy, ix): the full correlation of δ with the flipped kernel
//! ```
//!
//! PyTorch's `Conv1d`/`Conv2d` (cross-correlation, zero padding; a 1-D convolution has height 1),
//! layouts `x [IN_CH][IN_H][IN_W]`, `w [OUT_CH][IN_CH][K_H][K_W]`, `z`, `δ [OUT_CH][OUT_H][OUT_W]`.
//! Entry points: [`conv_forward`], [`conv_weight_grad`], [`conv_weight_sgd`], [`conv_input_grad`].
//!
//! No im2col: the input is read in place when the convolution has no padding and stride 1 along
//! the width (and the output width is a whole number of vectors), and otherwise copied once per
//! tile into a stack buffer, zero-padded and split by stride phase (`row[p][j] = x[j·SW + p − PW]`),
//! so that every tap of every kernel reads a contiguous run of inputs for a run of outputs. Register
//! blocks then keep `R` channels × a few vectors of outputs in registers ([`conv_forward`],
//! [`conv_input_grad`]: each loaded input vector feeds `R` filters, each broadcast weight several
//! vectors), or `R` output channels × a few taps of partial sums ([`conv_weight_grad`]: each loaded
//! δ vector feeds several taps, each input vector `R` channels), with the rows written out one
//! statement each, as in the dense kernels. Where the output has few positions and the filters many
//! weights (LeNet's second convolution), the weight gradient instead transposes δ and sums outer
//! products with a vector of output channels per register, which needs no final reduction.
//! Geometries whose kernel rows do not fit the buffer fall back to plain loops over contiguous rows.
//! The input gradient computes whole vectors of input columns per tap, so where δ rows are narrow
//! (padding included) part of its products are with zeros.

use core::marker::PhantomData;

use super::{VECTOR_BYTES, madd_lanes, reduce_rows};
use crate::scalar::Scalar;

/// Geometry of a convolution (PyTorch `Conv1d`/`Conv2d`; a 1-D convolution has
/// `IN_H = K_H = OUT_H = 1`, `STRIDE_H = DIL_H = 1`, `PAD_H = 0`). Generated code defines one
/// zero-sized type per layer, so every kernel call is compiled with constant bounds.
pub trait ConvGeometry {
    /// Input channels.
    const IN_CH: usize;
    /// Output channels (filters).
    const OUT_CH: usize;
    /// Input height.
    const IN_H: usize;
    /// Input width (length of a 1-D signal).
    const IN_W: usize;
    /// Kernel height.
    const K_H: usize;
    /// Kernel width.
    const K_W: usize;
    /// Vertical stride.
    const STRIDE_H: usize;
    /// Horizontal stride.
    const STRIDE_W: usize;
    /// Zero rows added above and below the input.
    const PAD_H: usize;
    /// Zero columns added left and right of the input.
    const PAD_W: usize;
    /// Vertical dilation (distance between kernel taps).
    const DIL_H: usize;
    /// Horizontal dilation.
    const DIL_W: usize;
    /// Output height, `⌊(IN_H + 2·PAD_H − DIL_H·(K_H − 1) − 1)/STRIDE_H⌋ + 1`.
    const OUT_H: usize;
    /// Output width, `⌊(IN_W + 2·PAD_W − DIL_W·(K_W − 1) − 1)/STRIDE_W⌋ + 1`.
    const OUT_W: usize;
}

/// `⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1`, or 0 if the dilated kernel is wider than the padded input.
const fn out_len(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    let span = d * (k - 1) + 1;
    if n + 2 * p < span { 0 } else { (n + 2 * p - span) / s + 1 }
}

/// Debug builds check the output size the geometry states.
fn check_geometry<G: ConvGeometry>() {
    debug_assert!(G::K_H > 0 && G::K_W > 0 && G::STRIDE_H > 0 && G::STRIDE_W > 0 && G::DIL_H > 0 && G::DIL_W > 0);
    debug_assert_eq!(G::OUT_H, out_len(G::IN_H, G::K_H, G::STRIDE_H, G::PAD_H, G::DIL_H), "output height");
    debug_assert_eq!(G::OUT_W, out_len(G::IN_W, G::K_W, G::STRIDE_W, G::PAD_W, G::DIL_W), "output width");
}

/// Elements of this target's vector registers for `T` (8 `f32` with AVX, 4 with SSE2).
struct Lanes<T>(PhantomData<T>);
impl<T> Lanes<T> {
    const L: usize = VECTOR_BYTES / size_of::<T>();
}

/// The constant layout of one geometry with `L`-lane vectors and a buffer of `CAP` scalars.
///
/// Forward and weight gradient read a *source*: `x` itself ([`Self::DIRECT`]), or a buffer of
/// `CG` channels × `NR` rows (the `TY` output rows of a tile need `(TY − 1)·SH + window` input
/// rows, zero rows for padding) × `SW` phases of `PL` lanes. The input gradient reads a buffer of
/// `OG` output channels × `TYD` rows × `DPL` lanes of δ, `QMAX` zeros either side.
struct Lay<G, const L: usize, const CAP: usize>(PhantomData<G>);

/// `v`, or 1 for 0 (a divisor in a layout constant of a degenerate geometry).
const fn nz(v: usize) -> usize {
    if v == 0 { 1 } else { v }
}

impl<G: ConvGeometry, const L: usize, const CAP: usize> Lay<G, L, CAP> {
    const SH: usize = if G::STRIDE_H == 0 { 1 } else { G::STRIDE_H };
    const SW: usize = if G::STRIDE_W == 0 { 1 } else { G::STRIDE_W };
    const KHW: usize = G::K_H * G::K_W;
    /// The largest whole-stride offset of a tap: tap `kx` reads phase `kx·DW mod SW` at
    /// `x + ⌊kx·DW/SW⌋`.
    const QMAX: usize = G::K_W.saturating_sub(1) * G::DIL_W / Self::SW;
    /// The output width in whole vectors.
    const OUT_WR: usize = G::OUT_W.div_ceil(L) * L;
    /// The input is read in place.
    const DIRECT: bool = G::PAD_H == 0 && G::PAD_W == 0 && G::STRIDE_W == 1 && G::OUT_W.is_multiple_of(L);
    /// Lanes of one phase of a buffer row.
    const PL: usize = if Self::DIRECT { 0 } else { Self::OUT_WR + Self::QMAX };
    /// Distance between source rows.
    const RL: usize = if Self::DIRECT { G::IN_W } else { Self::SW * Self::PL };
    /// Input rows under the kernel.
    const WIN: usize = G::K_H.saturating_sub(1) * G::DIL_H + 1;
    /// The kernel's rows fit the buffer.
    const FITS: bool = Self::DIRECT || Self::WIN * Self::RL <= CAP;
    /// Output rows per tile.
    const TY: usize = if Self::DIRECT || !Self::FITS {
        nz(G::OUT_H)
    } else {
        let ty = (CAP / nz(Self::RL) - Self::WIN) / Self::SH + 1;
        if ty < G::OUT_H { ty } else { nz(G::OUT_H) }
    };
    /// Source rows per tile.
    const NR: usize = (Self::TY - 1) * Self::SH + Self::WIN;
    /// Distance between source channels.
    const PLANE: usize = if Self::DIRECT { G::IN_H * G::IN_W } else { Self::NR * Self::RL };
    /// Channels per buffer fill.
    const CG: usize = if Self::DIRECT || CAP / nz(Self::PLANE) == 0 {
        nz(G::IN_CH)
    } else if CAP / nz(Self::PLANE) < G::IN_CH {
        CAP / nz(Self::PLANE)
    } else {
        G::IN_CH
    };
    /// Offset in a source channel of tap `(ky, kx)`.
    #[inline(always)]
    fn tap(ky: usize, kx: usize) -> usize {
        let e = kx * G::DIL_W;
        ky * G::DIL_H * Self::RL + (e % Self::SW) * Self::PL + e / Self::SW
    }

    /// Lanes of δ-gradient phase rows covering every touched input column, in whole vectors.
    const JNR: usize = (G::OUT_W + Self::QMAX).div_ceil(L) * L;
    /// Lanes of a δ buffer row.
    const DPL: usize = Self::JNR + Self::QMAX;
    /// The input gradient's buffer holds a row of δ.
    const FITS_IN: bool = Self::DPL <= CAP;
    /// Output channels per δ buffer fill: all if a row of each fits, so that each block sums
    /// over all of them in registers.
    const OG: usize =
        if !Self::FITS_IN || CAP / nz(Self::DPL) >= G::OUT_CH { nz(G::OUT_CH) } else { CAP / nz(Self::DPL) };
    /// Output rows per input-gradient tile.
    const TYD: usize = if !Self::FITS_IN || CAP / nz(Self::OG * Self::DPL) >= G::OUT_H {
        nz(G::OUT_H)
    } else {
        CAP / nz(Self::OG * Self::DPL)
    };
}

/// The buffer size for a geometry: the smallest of 256, 1024 or 4096 scalars holding the whole
/// input (or δ), so that small layers do not clear kilobytes of stack per call.
struct Cap<G, const L: usize>(PhantomData<G>);
impl<G: ConvGeometry, const L: usize> Cap<G, L> {
    const fn tier(need: usize) -> usize {
        if need <= 256 {
            256
        } else if need <= 1024 {
            1024
        } else {
            4096
        }
    }
    const SRC: usize = {
        let pl = G::OUT_W.div_ceil(L) * L + Lay::<G, L, 0>::QMAX;
        let rows = G::OUT_H.saturating_sub(1) * Lay::<G, L, 0>::SH + Lay::<G, L, 0>::WIN;
        Self::tier(G::IN_CH * rows * Lay::<G, L, 0>::SW * pl)
    };
    const DELTA: usize = Self::tier(G::OUT_CH * G::OUT_H * Lay::<G, L, 0>::DPL);
}

/// `acc[k] += w·x[k]`.
#[inline(always)]
fn madd_bcast<T: Scalar, const L: usize>(acc: &mut [T; L], w: T, x: &[T; L]) {
    for k in 0..L {
        acc[k] = w.mul_add(x[k], acc[k]);
    }
}

/// `L` values from `s[at..]`.
#[inline(always)]
fn chunk<T: Scalar, const L: usize>(s: &[T], at: usize) -> &[T; L] {
    s[at..at + L].try_into().expect("a chunk")
}

/// `N` consecutive chunks of `L` values from `s[at..]` (loops, not `array::from_fn`, whose
/// closure LLVM does not always inline).
#[inline(always)]
fn chunks<T: Scalar, const L: usize, const N: usize>(s: &[T], at: usize) -> [&[T; L]; N] {
    let mut c = [chunk(s, at); N];
    #[allow(clippy::needless_range_loop)] // iterator adapters here are not always inlined
    for j in 1..N {
        c[j] = chunk(s, at + j * L);
    }
    c
}

/// The chunk at `at` of each row.
#[inline(always)]
fn columns<'a, T: Scalar, const L: usize, const N: usize>(rows: &[&'a [T]; N], at: usize) -> [&'a [T; L]; N] {
    let mut c = [chunk(rows[0], at); N];
    #[allow(clippy::needless_range_loop)] // iterator adapters here are not always inlined
    for j in 1..N {
        c[j] = chunk(rows[j], at);
    }
    c
}

/// Register blocks of `R` channels, one set of functions per `R`, rows written out one statement
/// each (see the dense kernels' `blocks!`: a loop over rows invites vectorizing across rows).
macro_rules! conv_blocks {
    ($($r_count:literal: $fwd:ident, $wgt:ident, $inp:ident, [$($r:literal)*];)*) => {$(
        /// Forward: adds into `acc[r][j]` (outputs `x0 + j·L ..` of channel `o + r`, one output
        /// row) the taps of `c_count` source channels; `base` is the offset in `src` of the first
        /// channel's first kernel row at `x0`.
        #[inline(always)]
        #[allow(clippy::too_many_arguments)] // a block's position: source, channels, weights
        fn $fwd<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const NC: usize>(
            src: &[T],
            base: usize,
            c_count: usize,
            w: &[T],
            o: usize,
            c0: usize,
            acc: &mut [[[T; L]; NC]; $r_count],
        ) {
            let khw = Lay::<G, L, CAP>::KHW;
            let span = (Lay::<G, L, CAP>::WIN - 1) * Lay::<G, L, CAP>::RL
                + (Lay::<G, L, CAP>::SW - 1) * Lay::<G, L, CAP>::PL
                + Lay::<G, L, CAP>::QMAX
                + NC * L;
            for c in 0..c_count {
                let wr: [&[T]; $r_count] = [$(&w[((o + $r) * G::IN_CH + c0 + c) * khw..][..khw]),*];
                let win = &src[base + c * Lay::<G, L, CAP>::PLANE..][..span];
                for ky in 0..G::K_H {
                    for kx in 0..G::K_W {
                        let off = Lay::<G, L, CAP>::tap(ky, kx);
                        let xv = chunks::<T, L, NC>(win, off);
                        $({
                            let wv = wr[$r][ky * G::K_W + kx];
                            for j in 0..NC {
                                madd_bcast(&mut acc[$r][j], wv, xv[j]);
                            }
                        })*
                    }
                }
            }
        }

        /// Weight gradient: `Σ δ[o + r][y][x]·source[cols[k] + …]` over `rows` output rows
        /// from `y0`, for `R` output channels × `KB` source columns (channel and tap).
        #[inline(always)]
        fn $wgt<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const KB: usize>(
            src: &[T],
            cols: &[usize; KB],
            rows: usize,
            delta: &[T],
            o: usize,
            y0: usize,
        ) -> [[T; KB]; $r_count] {
            let step = Lay::<G, L, CAP>::SH * Lay::<G, L, CAP>::RL;
            let mut acc = [[[T::ZERO; L]; KB]; $r_count];
            for yy in 0..rows {
                let d: [&[T]; $r_count] = [$(&delta[((o + $r) * G::OUT_H + y0 + yy) * G::OUT_W..][..G::OUT_W]),*];
                let mut xr: [&[T]; KB] = [&[]; KB];
                #[allow(clippy::needless_range_loop)] // iterator adapters here are not always inlined
                for k in 0..KB {
                    xr[k] = &src[cols[k] + yy * step..][..Lay::<G, L, CAP>::OUT_WR];
                }
                for ch in 0..G::OUT_W / L {
                    let xv = columns::<T, L, KB>(&xr, ch * L);
                    $({
                        let dv: &[T; L] = chunk(d[$r], ch * L);
                        for k in 0..KB {
                            madd_lanes(&mut acc[$r][k], dv, xv[k]);
                        }
                    })*
                }
                if !G::OUT_W.is_multiple_of(L) {
                    // The last, partial vector: δ zero-padded, the source has the lanes.
                    let at = G::OUT_W / L * L;
                    let xv = columns::<T, L, KB>(&xr, at);
                    $({
                        let mut dv = [T::ZERO; L];
                        dv[..G::OUT_W - at].copy_from_slice(&d[$r][at..]);
                        for k in 0..KB {
                            madd_lanes(&mut acc[$r][k], &dv, xv[k]);
                        }
                    })*
                }
            }
            // Through a barrier, whole vectors at a time: left alone, LLVM's SLP vectorizer
            // shapes the accumulators after the reductions (lane k of several accumulators in
            // one register) and the loop above runs on scalars.
            let acc = core::hint::black_box(acc);
            [$(reduce_rows(acc[$r])),*]
        }

        /// Input gradient: phase `p`, lanes `j0 + j·L ..` of source row `r` (relative to the
        /// tile) of input channels `c + r`, from `og` output channels of the δ buffer.
        #[inline(always)]
        #[allow(clippy::too_many_arguments)] // a block's position: buffer, row, phase, lanes, weights
        fn $inp<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const NC: usize>(
            dbuf: &[T],
            og: usize,
            rows: usize,
            r: usize,
            p: usize,
            j0: usize,
            w: &[T],
            o0: usize,
            c: usize,
        ) -> [[[T; L]; NC]; $r_count] {
            let khw = Lay::<G, L, CAP>::KHW;
            let qmax = Lay::<G, L, CAP>::QMAX;
            let (sh, sw) = (Lay::<G, L, CAP>::SH, Lay::<G, L, CAP>::SW);
            let mut acc = [[[T::ZERO; L]; NC]; $r_count];
            for oi in 0..og {
                let wr: [&[T]; $r_count] = [$(&w[((o0 + oi) * G::IN_CH + c + $r) * khw..][..khw]),*];
                for ky in 0..G::K_H {
                    let Some(t) = r.checked_sub(ky * G::DIL_H) else { break };
                    if !t.is_multiple_of(sh) || t / sh >= rows {
                        continue;
                    }
                    let drow = &dbuf[(oi * Lay::<G, L, CAP>::TYD + t / sh) * Lay::<G, L, CAP>::DPL + j0..]
                        [..NC * L + qmax];
                    for kx in 0..G::K_W {
                        let e = kx * G::DIL_W;
                        if e % sw != p {
                            continue;
                        }
                        let at = qmax - e / sw;
                        let dv = chunks::<T, L, NC>(drow, at);
                        $({
                            let wv = wr[$r][ky * G::K_W + kx];
                            for j in 0..NC {
                                madd_bcast(&mut acc[$r][j], wv, dv[j]);
                            }
                        })*
                    }
                }
            }
            acc
        }
    )*};
}

conv_blocks! {
    1: fwd_1, wgt_1, inp_1, [0];
    2: fwd_2, wgt_2, inp_2, [0 1];
    4: fwd_4, wgt_4, inp_4, [0 1 2 3];
    8: fwd_8, wgt_8, inp_8, [0 1 2 3 4 5 6 7];
}

/// Calls `$run!(R, block)` for blocks of channels covering `0..$count`: eights (if `$eights`),
/// fours, then a two and a one; `$o` is the first channel of the block.
macro_rules! channel_blocks {
    ($count:expr, $eights:expr, $o:ident, $run:ident, $b8:ident, $b4:ident, $b2:ident, $b1:ident) => {{
        let count = $count;
        let mut $o = 0;
        if $eights {
            while $o + 8 <= count {
                $run!(8, $b8, $o);
                $o += 8;
            }
        }
        while $o + 4 <= count {
            $run!(4, $b4, $o);
            $o += 4;
        }
        if $o + 2 <= count {
            $run!(2, $b2, $o);
            $o += 2;
        }
        if $o < count {
            $run!(1, $b1, $o);
        }
    }};
}

/// Copies input rows into `buf` for the tile of output rows `y0..y0 + rows` and channels
/// `c0..c0 + cg`: each source row zero-padded and split by stride phase, rows of vertical padding
/// zero. Only columns some output reads are copied, so stray values never enter a sum.
#[inline(always)]
fn fill_source<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(
    buf: &mut [T; CAP],
    x: &[T],
    y0: usize,
    rows: usize,
    c0: usize,
    cg: usize,
) {
    let (sh, sw, pl, rl, plane) = (
        Lay::<G, L, CAP>::SH,
        Lay::<G, L, CAP>::SW,
        Lay::<G, L, CAP>::PL,
        Lay::<G, L, CAP>::RL,
        Lay::<G, L, CAP>::PLANE,
    );
    let nr = (rows - 1) * sh + Lay::<G, L, CAP>::WIN;
    let read = ((G::OUT_W.saturating_sub(1) * sw + G::K_W.saturating_sub(1) * G::DIL_W + 1).saturating_sub(G::PAD_W))
        .min(G::IN_W);
    buf[..cg * plane].fill(T::ZERO);
    for ci in 0..cg {
        for r in 0..nr {
            let Some(iy) = (y0 * sh + r).checked_sub(G::PAD_H).filter(|&iy| iy < G::IN_H) else { continue };
            let xrow = &x[((c0 + ci) * G::IN_H + iy) * G::IN_W..][..G::IN_W];
            for p in 0..sw {
                let dst = &mut buf[ci * plane + r * rl + p * pl..][..pl];
                let lo = G::PAD_W.saturating_sub(p).div_ceil(sw);
                let hi = (read + G::PAD_W).saturating_sub(p).div_ceil(sw).min(pl);
                if hi <= lo {
                    continue;
                }
                let from = lo * sw + p - G::PAD_W;
                if sw == 1 {
                    dst[lo..hi].copy_from_slice(&xrow[from..from + hi - lo]);
                } else {
                    for (d, &v) in dst[lo..hi].iter_mut().zip(xrow[from..].iter().step_by(sw)) {
                        *d = v;
                    }
                }
            }
        }
    }
}

/// `z = W ⋆ x + b` for one sample (see the module docs); overwrites `z`. `bias` `None` means no
/// bias.
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn conv_forward<T: Scalar, G: ConvGeometry>(w: &[T], bias: Option<&[T]>, x: &[T], z: &mut [T]) {
    check_geometry::<G>();
    assert_eq!(w.len(), G::OUT_CH * G::IN_CH * G::K_H * G::K_W, "convolution weights");
    assert_eq!(x.len(), G::IN_CH * G::IN_H * G::IN_W, "convolution input");
    assert_eq!(z.len(), G::OUT_CH * G::OUT_H * G::OUT_W, "convolution output");
    if let Some(b) = bias {
        assert_eq!(b.len(), G::OUT_CH, "convolution biases");
    }
    if G::IN_CH == 0 {
        for (o, zo) in z.chunks_exact_mut(G::OUT_H * G::OUT_W).enumerate() {
            zo.fill(bias.map_or(T::ZERO, |b| b[o]));
        }
        return;
    }
    match Lanes::<T>::L {
        8 => forward_lanes::<T, G, 8>(w, bias, x, z),
        4 => forward_lanes::<T, G, 4>(w, bias, x, z),
        _ => forward_lanes::<T, G, 2>(w, bias, x, z),
    }
}

#[inline(always)]
fn forward_lanes<T: Scalar, G: ConvGeometry, const L: usize>(w: &[T], bias: Option<&[T]>, x: &[T], z: &mut [T]) {
    match Cap::<G, L>::SRC {
        256 => forward_impl::<T, G, L, 256>(w, bias, x, z),
        1024 => forward_impl::<T, G, L, 1024>(w, bias, x, z),
        _ => forward_impl::<T, G, L, 4096>(w, bias, x, z),
    }
}

#[inline(always)]
fn forward_impl<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(
    w: &[T],
    bias: Option<&[T]>,
    x: &[T],
    z: &mut [T],
) {
    if G::OUT_H == 0 || G::OUT_W == 0 || G::OUT_CH == 0 {
        return;
    }
    if !Lay::<G, L, CAP>::FITS {
        return fallback::forward::<T, G>(w, bias, x, z);
    }
    if Lay::<G, L, CAP>::DIRECT {
        return forward_tile::<T, G, L, CAP>(w, bias, x, 0, 0, G::OUT_H, 0, G::IN_CH, z);
    }
    let mut buf = [T::ZERO; CAP];
    let (ty, cg) = (Lay::<G, L, CAP>::TY, Lay::<G, L, CAP>::CG);
    for y0 in (0..G::OUT_H).step_by(ty) {
        let rows = ty.min(G::OUT_H - y0);
        for c0 in (0..G::IN_CH).step_by(cg) {
            let count = cg.min(G::IN_CH - c0);
            fill_source::<T, G, L, CAP>(&mut buf, x, y0, rows, c0, count);
            forward_tile::<T, G, L, CAP>(w, bias, &buf, 0, y0, rows, c0, count, z);
        }
    }
}

/// Output rows `y0..y0 + rows` from source channels `c0..c0 + count` (the first channel at
/// `src[base..]`, its row 0 under output row `y0`); starts from the biases if `c0 == 0`, else
/// adds to `z`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // weights, bias, source and its tile, output
fn forward_tile<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(
    w: &[T],
    bias: Option<&[T]>,
    src: &[T],
    base: usize,
    y0: usize,
    rows: usize,
    c0: usize,
    count: usize,
    z: &mut [T],
) {
    let chunks = Lay::<G, L, CAP>::OUT_WR / L;
    for yy in 0..rows {
        let row = base + yy * Lay::<G, L, CAP>::SH * Lay::<G, L, CAP>::RL;
        let mut ch = 0;
        while ch < chunks {
            let x0 = ch * L;
            let left = chunks - ch;
            let at = row + x0;
            // Three vectors of outputs × 4 channels, two × 4, or one × 8: at most 12 vector
            // accumulators, each weight broadcast feeding every vector.
            if left >= 3 {
                forward_block::<T, G, L, CAP, 3>(w, bias, src, at, y0 + yy, x0, c0, count, z);
                ch += 3;
            } else if left == 2 {
                forward_block::<T, G, L, CAP, 2>(w, bias, src, at, y0 + yy, x0, c0, count, z);
                ch += 2;
            } else {
                forward_block::<T, G, L, CAP, 1>(w, bias, src, at, y0 + yy, x0, c0, count, z);
                ch += 1;
            }
        }
    }
}

/// Outputs `x0 .. x0 + NC·L` of row `y` of every output channel.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // weights, bias, source position, output position
fn forward_block<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const NC: usize>(
    w: &[T],
    bias: Option<&[T]>,
    src: &[T],
    at: usize,
    y: usize,
    x0: usize,
    c0: usize,
    count: usize,
    z: &mut [T],
) {
    macro_rules! run {
        ($r_count:literal, $block:ident, $o:ident) => {{
            let o = $o;
            let mut acc = [[[T::ZERO; L]; NC]; $r_count];
            for (r, a) in acc.iter_mut().enumerate() {
                *a = if c0 == 0 {
                    [[bias.map_or(T::ZERO, |b| b[o + r]); L]; NC]
                } else {
                    load_out::<T, G, L, NC>(z, o + r, y, x0)
                };
            }
            $block::<T, G, L, CAP, NC>(src, at, count, w, o, c0, &mut acc);
            for (r, a) in acc.iter().enumerate() {
                store_out::<T, G, L, NC>(z, o + r, y, x0, a);
            }
        }};
    }
    channel_blocks!(G::OUT_CH, NC == 1, o, run, fwd_8, fwd_4, fwd_2, fwd_1);
}

/// Outputs `x0 ..` of row `y` of channel `o`, zero past the row's end.
#[inline(always)]
fn load_out<T: Scalar, G: ConvGeometry, const L: usize, const NC: usize>(
    z: &[T],
    o: usize,
    y: usize,
    x0: usize,
) -> [[T; L]; NC] {
    let zrow = &z[(o * G::OUT_H + y) * G::OUT_W..][..G::OUT_W];
    let mut a = [[T::ZERO; L]; NC];
    for (j, aj) in a.iter_mut().enumerate() {
        let from = x0 + j * L;
        if from + L <= G::OUT_W {
            *aj = *chunk(zrow, from);
        } else {
            aj[..G::OUT_W - from].copy_from_slice(&zrow[from..]);
        }
    }
    a
}

/// Stores outputs `x0 ..` of row `y` of channel `o`, up to the row's end.
#[inline(always)]
fn store_out<T: Scalar, G: ConvGeometry, const L: usize, const NC: usize>(
    z: &mut [T],
    o: usize,
    y: usize,
    x0: usize,
    a: &[[T; L]; NC],
) {
    let zrow = &mut z[(o * G::OUT_H + y) * G::OUT_W..][..G::OUT_W];
    for (j, aj) in a.iter().enumerate() {
        let from = x0 + j * L;
        if from + L <= G::OUT_W {
            zrow[from..from + L].copy_from_slice(aj);
        } else {
            zrow[from..].copy_from_slice(&aj[..G::OUT_W - from]);
        }
    }
}

/// `gw += scale·∂L/∂W` and, if `gb` is given, `gb += scale·Σ_{y,x} δ[o][y][x]`, for one sample
/// with input `x` and `δ = ∂L/∂z` (see the module docs).
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn conv_weight_grad<T: Scalar, G: ConvGeometry>(
    x: &[T],
    delta: &[T],
    scale: T,
    gw: &mut [T],
    gb: Option<&mut [T]>,
) {
    check_lengths::<T, G>(x, delta, gw, gb.as_deref());
    if let Some(gb) = gb {
        for (g, d) in gb.iter_mut().zip(delta.chunks_exact(G::OUT_H * G::OUT_W)) {
            *g += scale * sum(d);
        }
    }
    weight_products::<T, G>(x, delta, |i, s| gw[i] += scale * s);
}

/// Plain SGD on a convolution's parameters for one sample: `w −= lr·∂L/∂W` and, if `b` is given,
/// `b −= lr·Σ_{y,x} δ[o][y][x]` (the rounding of computing the gradient, then stepping). The input
/// gradient, if needed, must be taken before, from the weights before the update.
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn conv_weight_sgd<T: Scalar, G: ConvGeometry>(x: &[T], delta: &[T], lr: T, w: &mut [T], b: Option<&mut [T]>) {
    check_lengths::<T, G>(x, delta, w, b.as_deref());
    if let Some(b) = b {
        for (bo, d) in b.iter_mut().zip(delta.chunks_exact(G::OUT_H * G::OUT_W)) {
            *bo -= lr * sum(d);
        }
    }
    weight_products::<T, G>(x, delta, |i, s| w[i] -= lr * s);
}

fn check_lengths<T: Scalar, G: ConvGeometry>(x: &[T], delta: &[T], w: &[T], b: Option<&[T]>) {
    check_geometry::<G>();
    assert_eq!(x.len(), G::IN_CH * G::IN_H * G::IN_W, "convolution input");
    assert_eq!(delta.len(), G::OUT_CH * G::OUT_H * G::OUT_W, "convolution delta");
    assert_eq!(w.len(), G::OUT_CH * G::IN_CH * G::K_H * G::K_W, "convolution weights");
    if let Some(b) = b {
        assert_eq!(b.len(), G::OUT_CH, "convolution biases");
    }
}

/// `Σ v[i]`, in vector-wide partial sums.
#[inline(always)]
fn sum<T: Scalar>(v: &[T]) -> T {
    let (chunks, rest) = v.as_chunks::<8>();
    let mut acc = [T::ZERO; 8];
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let [s] = reduce_rows([acc]);
    rest.iter().fold(s, |a, &b| a + b)
}

/// Calls `apply(i, Σ_{y,x} δ[o][y][x]·x[c][iy][ix])` once per tile for every weight index `i`
/// (`[o][c][ky][kx]`).
#[inline(always)]
fn weight_products<T: Scalar, G: ConvGeometry>(x: &[T], delta: &[T], apply: impl FnMut(usize, T)) {
    if G::OUT_H == 0 || G::OUT_W == 0 || G::OUT_CH == 0 || G::IN_CH == 0 {
        return;
    }
    match Lanes::<T>::L {
        8 => weight_lanes::<T, G, 8>(x, delta, apply),
        4 => weight_lanes::<T, G, 4>(x, delta, apply),
        _ => weight_lanes::<T, G, 2>(x, delta, apply),
    }
}

#[inline(always)]
fn weight_lanes<T: Scalar, G: ConvGeometry, const L: usize>(x: &[T], delta: &[T], apply: impl FnMut(usize, T)) {
    match Cap::<G, L>::SRC {
        256 => weight_impl::<T, G, L, 256>(x, delta, apply),
        1024 => weight_impl::<T, G, L, 1024>(x, delta, apply),
        _ => weight_impl::<T, G, L, 4096>(x, delta, apply),
    }
}

#[inline(always)]
fn weight_impl<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(
    x: &[T],
    delta: &[T],
    mut apply: impl FnMut(usize, T),
) {
    if !Lay::<G, L, CAP>::FITS {
        return fallback::weight::<T, G>(x, delta, apply);
    }
    if Outer::<G, L, 256>::USE {
        return outer_impl::<T, G, L, CAP, 256>(x, delta, apply);
    }
    if Outer::<G, L, 1024>::USE {
        return outer_impl::<T, G, L, CAP, 1024>(x, delta, apply);
    }
    if Lay::<G, L, CAP>::DIRECT {
        return weight_tile::<T, G, L, CAP>(x, delta, 0, G::OUT_H, 0, G::IN_CH, &mut apply);
    }
    let mut buf = [T::ZERO; CAP];
    let (ty, cg) = (Lay::<G, L, CAP>::TY, Lay::<G, L, CAP>::CG);
    for y0 in (0..G::OUT_H).step_by(ty) {
        let rows = ty.min(G::OUT_H - y0);
        for c0 in (0..G::IN_CH).step_by(cg) {
            let count = cg.min(G::IN_CH - c0);
            fill_source::<T, G, L, CAP>(&mut buf, x, y0, rows, c0, count);
            weight_tile::<T, G, L, CAP>(&buf, delta, y0, rows, c0, count, &mut apply);
        }
    }
}

/// The weight products of output rows `y0..y0 + rows` and source channels `c0..c0 + count`
/// (the source's row 0 under output row `y0`).
#[inline(always)]
fn weight_tile<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(
    src: &[T],
    delta: &[T],
    y0: usize,
    rows: usize,
    c0: usize,
    count: usize,
    apply: &mut impl FnMut(usize, T),
) {
    let khw = Lay::<G, L, CAP>::KHW;
    // Columns are (channel, tap) pairs, in the order of a weight row.
    let col_at = |col: usize| {
        let t = col % khw;
        col / khw * Lay::<G, L, CAP>::PLANE + Lay::<G, L, CAP>::tap(t / G::K_W, t % G::K_W)
    };
    let n = count * khw;
    macro_rules! cols {
        ($r_count:literal, $block:ident, $o:ident, $col:ident, $kb:literal) => {{
            let mut cols = [0; $kb];
            for (k, c) in cols.iter_mut().enumerate() {
                *c = col_at($col + k);
            }
            let sums: [[T; $kb]; $r_count] = $block::<T, G, L, CAP, $kb>(src, &cols, rows, delta, $o, y0);
            for (r, s) in sums.iter().enumerate() {
                for (k, &v) in s.iter().enumerate() {
                    apply((($o + r) * G::IN_CH + c0) * khw + $col + k, v);
                }
            }
        }};
    }
    // Four output channels × three columns: 12 vector accumulators, each δ vector feeding three
    // columns and each source vector four channels.
    macro_rules! run {
        ($r_count:literal, $block:ident, $o:ident) => {{
            let o = $o;
            let mut col = 0;
            while col + 3 <= n {
                cols!($r_count, $block, o, col, 3);
                col += 3;
            }
            if col + 2 <= n {
                cols!($r_count, $block, o, col, 2);
                col += 2;
            }
            if col < n {
                cols!($r_count, $block, o, col, 1);
            }
        }};
    }
    channel_blocks!(G::OUT_CH, false, o, run, wgt_8, wgt_4, wgt_2, wgt_1);
}

/// The weight gradient as outer products, for outputs of few positions (fewer than 16 vectors):
/// there a sum over the positions per weight, as [`weight_tile`] takes, costs about as much in its
/// final reduction as in its products. Instead δ is transposed into a buffer of `TCAP` scalars
/// (`δᵀ[y][x][o]`, `TW` channels per position, zero past the last channel), a vector holds `L`
/// output channels, and `acc[col][o] += x[col][y][x]·δᵀ[y][x][o]` needs no reduction at all: each
/// broadcast input feeds every channel vector, each loaded δ vector several columns.
struct Outer<G, const L: usize, const TCAP: usize>(PhantomData<G>);

impl<G: ConvGeometry, const L: usize, const TCAP: usize> Outer<G, L, TCAP> {
    const S: usize = G::OUT_H * G::OUT_W;
    /// Vectors of channels.
    const VECS: usize = G::OUT_CH.div_ceil(L);
    /// Taken for fewer than 16 vectors of positions and at least 48 weights per output channel
    /// (the transposition costs about as much per δ as 16 of them), when this is the smallest
    /// buffer holding all channels' δ (or the largest, holding at least one vector's).
    const USE: bool = Self::S > 0
        && Self::S < 16 * L
        && G::IN_CH * G::K_H * G::K_W >= 48
        && if TCAP == 256 {
            Self::S * Self::VECS * L <= 256
        } else {
            Self::S * L <= TCAP && Self::S * Self::VECS * L > 256
        };
    /// Vectors of channels per transposition.
    const GV: usize = if Self::USE && TCAP / (Self::S * L) < Self::VECS { TCAP / nz(Self::S * L) } else { Self::VECS };
    /// Channels per position in the buffer.
    const TW: usize = Self::GV * L;
}

#[inline(always)]
fn outer_impl<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const TCAP: usize>(
    x: &[T],
    delta: &[T],
    mut apply: impl FnMut(usize, T),
) {
    let mut dt = [T::ZERO; TCAP];
    let mut fresh = true;
    let mut pass = |src: &[T], y0: usize, rows: usize, c0: usize, count: usize| {
        let tw = Outer::<G, L, TCAP>::TW;
        for o0 in (0..G::OUT_CH).step_by(tw) {
            let oc = tw.min(G::OUT_CH - o0);
            if !fresh {
                dt[..rows * G::OUT_W * tw].fill(T::ZERO);
            }
            fresh = false;
            for oi in 0..oc {
                let from = ((o0 + oi) * G::OUT_H + y0) * G::OUT_W;
                for (p, &d) in delta[from..from + rows * G::OUT_W].iter().enumerate() {
                    dt[p * tw + oi] = d;
                }
            }
            outer_tile::<T, G, L, CAP, TCAP>(src, &dt, rows, c0, count, o0, oc, &mut apply);
        }
    };
    if Lay::<G, L, CAP>::DIRECT {
        return pass(x, 0, G::OUT_H, 0, G::IN_CH);
    }
    let mut buf = [T::ZERO; CAP];
    let (ty, cg) = (Lay::<G, L, CAP>::TY, Lay::<G, L, CAP>::CG);
    for y0 in (0..G::OUT_H).step_by(ty) {
        let rows = ty.min(G::OUT_H - y0);
        for c0 in (0..G::IN_CH).step_by(cg) {
            let count = cg.min(G::IN_CH - c0);
            fill_source::<T, G, L, CAP>(&mut buf, x, y0, rows, c0, count);
            pass(&buf, y0, rows, c0, count);
        }
    }
}

/// Register blocks of the outer-product weight gradient: `CB` source columns × `OB` vectors of
/// channels, the columns written out one statement each.
macro_rules! outer_blocks {
    ($($c_count:literal: $name:ident, [$($k:literal)*];)*) => {$(
        #[inline(always)]
        fn $name<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const TCAP: usize, const OB: usize>(
            src: &[T],
            cols: &[usize; $c_count],
            rows: usize,
            dt: &[T],
            v0: usize,
        ) -> [[[T; L]; OB]; $c_count] {
            let step = Lay::<G, L, CAP>::SH * Lay::<G, L, CAP>::RL;
            let tw = Outer::<G, L, TCAP>::TW;
            let mut acc = [[[T::ZERO; L]; OB]; $c_count];
            for yy in 0..rows {
                let xr: [&[T]; $c_count] = [$(&src[cols[$k] + yy * step..][..G::OUT_W]),*];
                let drow = &dt[yy * G::OUT_W * tw..][..G::OUT_W * tw];
                for xx in 0..G::OUT_W {
                    let dv = chunks::<T, L, OB>(drow, xx * tw + v0 * L);
                    $({
                        let xv = xr[$k][xx];
                        for b in 0..OB {
                            madd_bcast(&mut acc[$k][b], xv, dv[b]);
                        }
                    })*
                }
            }
            // Scattered lane by lane into the weights: through a barrier, as in `weight_tile`.
            core::hint::black_box(acc)
        }
    )*};
}

outer_blocks! {
    12: outer_12, [0 1 2 3 4 5 6 7 8 9 10 11];
    6: outer_6, [0 1 2 3 4 5];
    4: outer_4, [0 1 2 3];
    3: outer_3, [0 1 2];
    2: outer_2, [0 1];
    1: outer_1, [0];
}

/// The outer-product weight gradient of one tile, source channels `c0..c0 + count`, output
/// channels `o0..o0 + oc` (transposed into `dt`).
#[inline(always)]
#[allow(clippy::too_many_arguments)] // source and its channels, δᵀ and its channels, output
fn outer_tile<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const TCAP: usize>(
    src: &[T],
    dt: &[T],
    rows: usize,
    c0: usize,
    count: usize,
    o0: usize,
    oc: usize,
    apply: &mut impl FnMut(usize, T),
) {
    let khw = Lay::<G, L, CAP>::KHW;
    let col_at = |col: usize| {
        let t = col % khw;
        col / khw * Lay::<G, L, CAP>::PLANE + Lay::<G, L, CAP>::tap(t / G::K_W, t % G::K_W)
    };
    let n = count * khw;
    let vecs = oc.div_ceil(L);
    macro_rules! block {
        ($ob:literal, $v0:ident, $col:ident, $cb:literal, $name:ident) => {{
            let mut cols = [0; $cb];
            for (k, c) in cols.iter_mut().enumerate() {
                *c = col_at($col + k);
            }
            let acc = $name::<T, G, L, CAP, TCAP, $ob>(src, &cols, rows, dt, $v0);
            for (k, a) in acc.iter().enumerate() {
                for (o, &v) in a.as_flattened().iter().enumerate().take(oc - $v0 * L) {
                    apply(((o0 + $v0 * L + o) * G::IN_CH + c0) * khw + $col + k, v);
                }
            }
        }};
    }
    // Twelve vector accumulators: 12 columns × 1 vector of channels, or 6 × 2.
    macro_rules! columns {
        ($ob:literal, $v0:ident, $big:literal, $big_name:ident) => {{
            let mut col = 0;
            while col + $big <= n {
                block!($ob, $v0, col, $big, $big_name);
                col += $big;
            }
            for (size, _) in [(6, ()), (4, ()), (3, ()), (2, ()), (1, ())] {
                if size < $big && col + size <= n {
                    match size {
                        6 => block!($ob, $v0, col, 6, outer_6),
                        4 => block!($ob, $v0, col, 4, outer_4),
                        3 => block!($ob, $v0, col, 3, outer_3),
                        2 => block!($ob, $v0, col, 2, outer_2),
                        _ => block!($ob, $v0, col, 1, outer_1),
                    }
                    col += size;
                }
            }
            debug_assert_eq!(col, n);
        }};
    }
    let mut v0 = 0;
    while v0 + 2 <= vecs {
        columns!(2, v0, 6, outer_6);
        v0 += 2;
    }
    if v0 < vecs {
        columns!(1, v0, 12, outer_12);
    }
}

/// `dx += ∂L/∂x` for one sample, given `δ = ∂L/∂z` (see the module docs); accumulates.
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn conv_input_grad<T: Scalar, G: ConvGeometry>(w: &[T], delta: &[T], dx: &mut [T]) {
    check_geometry::<G>();
    assert_eq!(w.len(), G::OUT_CH * G::IN_CH * G::K_H * G::K_W, "convolution weights");
    assert_eq!(delta.len(), G::OUT_CH * G::OUT_H * G::OUT_W, "convolution delta");
    assert_eq!(dx.len(), G::IN_CH * G::IN_H * G::IN_W, "convolution input gradient");
    if G::OUT_H == 0 || G::OUT_W == 0 || G::OUT_CH == 0 || G::IN_CH == 0 {
        return;
    }
    match Lanes::<T>::L {
        8 => input_lanes::<T, G, 8>(w, delta, dx),
        4 => input_lanes::<T, G, 4>(w, delta, dx),
        _ => input_lanes::<T, G, 2>(w, delta, dx),
    }
}

#[inline(always)]
fn input_lanes<T: Scalar, G: ConvGeometry, const L: usize>(w: &[T], delta: &[T], dx: &mut [T]) {
    if Cols::<G, L>::USE {
        return input_cols::<T, G, L>(w, delta, dx);
    }
    match Cap::<G, L>::DELTA {
        256 => input_impl::<T, G, L, 256>(w, delta, dx),
        1024 => input_impl::<T, G, L, 1024>(w, delta, dx),
        _ => input_impl::<T, G, L, 4096>(w, delta, dx),
    }
}

#[inline(always)]
fn input_impl<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(w: &[T], delta: &[T], dx: &mut [T]) {
    if !Lay::<G, L, CAP>::FITS_IN {
        return fallback::input::<T, G>(w, delta, dx);
    }
    let (ty, og, dpl, qmax) =
        (Lay::<G, L, CAP>::TYD, Lay::<G, L, CAP>::OG, Lay::<G, L, CAP>::DPL, Lay::<G, L, CAP>::QMAX);
    let mut dbuf = [T::ZERO; CAP];
    let mut first = true;
    for y0 in (0..G::OUT_H).step_by(ty) {
        let rows = ty.min(G::OUT_H - y0);
        for o0 in (0..G::OUT_CH).step_by(og) {
            let count = og.min(G::OUT_CH - o0);
            // δ rows with QMAX zeros before and after, so that every tap reads whole vectors.
            if !first {
                dbuf[..og * ty * dpl].fill(T::ZERO);
            }
            first = false;
            for oi in 0..count {
                for yy in 0..rows {
                    let from = ((o0 + oi) * G::OUT_H + y0 + yy) * G::OUT_W;
                    dbuf[(oi * ty + yy) * dpl + qmax..][..G::OUT_W].copy_from_slice(&delta[from..from + G::OUT_W]);
                }
            }
            input_tile::<T, G, L, CAP>(w, &dbuf, y0, rows, o0, count, dx);
        }
    }
}

/// Adds into `dx` what output rows `y0..y0 + rows` of output channels `o0..o0 + count` send back.
#[inline(always)]
fn input_tile<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize>(
    w: &[T],
    dbuf: &[T],
    y0: usize,
    rows: usize,
    o0: usize,
    count: usize,
    dx: &mut [T],
) {
    let (sh, sw) = (Lay::<G, L, CAP>::SH, Lay::<G, L, CAP>::SW);
    let chunks = Lay::<G, L, CAP>::JNR / L;
    let nr = (rows - 1) * sh + Lay::<G, L, CAP>::WIN;
    for r in 0..nr {
        let Some(iy) = (y0 * sh + r).checked_sub(G::PAD_H).filter(|&iy| iy < G::IN_H) else { continue };
        for p in 0..sw {
            // Lanes `j` of phase `p` are input columns `j·SW + p − PW`: those in the input.
            let lo = G::PAD_W.saturating_sub(p).div_ceil(sw);
            let hi = (G::IN_W + G::PAD_W).saturating_sub(p).div_ceil(sw).min(Lay::<G, L, CAP>::JNR);
            if hi <= lo {
                continue;
            }
            let mut ch = lo / L;
            let end = hi.div_ceil(L).min(chunks);
            while ch < end {
                let left = end - ch;
                if left >= 3 {
                    input_block::<T, G, L, CAP, 3>(w, dbuf, rows, r, iy, p, ch * L, (lo, hi), o0, count, dx);
                    ch += 3;
                } else if left == 2 {
                    input_block::<T, G, L, CAP, 2>(w, dbuf, rows, r, iy, p, ch * L, (lo, hi), o0, count, dx);
                    ch += 2;
                } else {
                    input_block::<T, G, L, CAP, 1>(w, dbuf, rows, r, iy, p, ch * L, (lo, hi), o0, count, dx);
                    ch += 1;
                }
            }
        }
    }
}

/// Lanes `j0 .. j0 + NC·L` of phase `p` of source row `r` (input row `iy`), every input channel.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // weights, δ tile, position, lanes in the input, output
fn input_block<T: Scalar, G: ConvGeometry, const L: usize, const CAP: usize, const NC: usize>(
    w: &[T],
    dbuf: &[T],
    rows: usize,
    r: usize,
    iy: usize,
    p: usize,
    j0: usize,
    (lo, hi): (usize, usize),
    o0: usize,
    count: usize,
    dx: &mut [T],
) {
    let sw = Lay::<G, L, CAP>::SW;
    let (a, b) = (lo.max(j0), hi.min(j0 + NC * L));
    macro_rules! run {
        ($r_count:literal, $block:ident, $c:ident) => {{
            let c = $c;
            let acc = $block::<T, G, L, CAP, NC>(dbuf, count, rows, r, p, j0, w, o0, c);
            for (rr, a_r) in acc.iter().enumerate() {
                let lanes = &a_r.as_flattened()[a - j0..b - j0];
                let dxrow = &mut dx[((c + rr) * G::IN_H + iy) * G::IN_W..][..G::IN_W];
                let from = a * sw + p - G::PAD_W;
                if sw == 1 {
                    for (d, &v) in dxrow[from..from + (b - a)].iter_mut().zip(lanes) {
                        *d += v;
                    }
                } else {
                    for (d, &v) in dxrow[from..].iter_mut().step_by(sw).zip(lanes) {
                        *d += v;
                    }
                }
            }
        }};
    }
    channel_blocks!(G::IN_CH, NC == 1, c, run, inp_8, inp_4, inp_2, inp_1);
}

/// The input gradient by kernel column: for an input row, `acc[c][kx][x] = Σ_{o,ky} w[o][c][ky][kx]·δ[o][y][x]`
/// over the `(ky, y)` that read the row, lanes over δ's columns `x`, then `dx[c][iy][x·SW + kx·DW −
/// PW] += acc[c][kx][x]`. No product is with padding (the gather form's rows of input columns are
/// wider than δ's by the kernel), at the price of a broadcast weight per product and a shifted add
/// per column: taken for stride 1 along the width (the adds stay contiguous) when δ rows take at
/// most half the vectors of input rows, or fewer with under four input channels (where the gather
/// form's blocks of channels are small).
struct Cols<G, const L: usize>(PhantomData<G>);

impl<G: ConvGeometry, const L: usize> Cols<G, L> {
    const USE: bool = G::STRIDE_W == 1
        && (2 * G::OUT_W.div_ceil(L) <= Lay::<G, L, 0>::JNR / L
            || (G::IN_CH < 4 && G::OUT_W.div_ceil(L) < Lay::<G, L, 0>::JNR / L));
    /// Blocks of five kernel columns.
    const FIVES: usize = G::K_W / 5;
    /// Kernel columns in the last block.
    const REST: usize = G::K_W % 5;
}

/// Register blocks of the column form: `R` input channels × `KB` kernel columns × one vector of
/// δ columns, the channels written out one statement each.
macro_rules! cols_blocks {
    ($($r_count:literal: $name:ident, [$($r:literal)*];)*) => {$(
        #[inline(always)]
        fn $name<T: Scalar, G: ConvGeometry, const L: usize, const KB: usize>(
            w: &[T],
            delta: &[T],
            iy: usize,
            c: usize,
            kx0: usize,
            x0: usize,
        ) -> [[[T; L]; KB]; $r_count] {
            let khw = G::K_H * G::K_W;
            let sh = Lay::<G, L, 0>::SH;
            let mut acc = [[[T::ZERO; L]; KB]; $r_count];
            // The kernel rows that read input row `iy`: `y·SH = iy + PH − ky·DH`, `y < OUT_H`.
            let u = iy + G::PAD_H;
            let ky_hi = (u / G::DIL_H + 1).min(G::K_H);
            let ky_lo = (u + 1).saturating_sub(G::OUT_H.saturating_sub(1) * sh + 1).div_ceil(G::DIL_H).min(ky_hi);
            // Per output channel: its δ plane, and each channel's weights from `(0, kx0)` on, so
            // that the loop over kernel rows indexes within bounds known from the constants.
            let plane = G::OUT_H * G::OUT_W;
            let span = (G::K_H - 1) * G::K_W + KB;
            let whole = x0 + L <= G::OUT_W;
            for o in 0..G::OUT_CH {
                let dp = &delta[o * plane..][..plane];
                let wr: [&[T]; $r_count] = [$(&w[(o * G::IN_CH + c + $r) * khw + kx0..][..span]),*];
                for ky in ky_lo..ky_hi {
                    let t = u - ky * G::DIL_H;
                    if sh > 1 && !t.is_multiple_of(sh) {
                        continue;
                    }
                    let at = t / sh * G::OUT_W + x0;
                    let mut tail = [T::ZERO; L];
                    let dv: &[T; L] = if whole {
                        chunk(dp, at)
                    } else {
                        tail[..G::OUT_W - x0].copy_from_slice(&dp[at..at + G::OUT_W - x0]);
                        &tail
                    };
                    $(
                        for k in 0..KB {
                            madd_bcast(&mut acc[$r][k], wr[$r][ky * G::K_W + k], dv);
                        }
                    )*
                }
            }
            // Added lane by lane at shifted places: through a barrier, as in `weight_tile`.
            core::hint::black_box(acc)
        }
    )*};
}

cols_blocks! {
    1: cols_1, [0];
    2: cols_2, [0 1];
}

#[inline(always)]
fn input_cols<T: Scalar, G: ConvGeometry, const L: usize>(w: &[T], delta: &[T], dx: &mut [T]) {
    // Blocks of five kernel columns and one of the rest, the sizes constants of the geometry.
    for b in 0..Cols::<G, L>::FIVES {
        input_cols_kb::<T, G, L, 5>(w, delta, dx, 5 * b);
    }
    let kx0 = 5 * Cols::<G, L>::FIVES;
    match Cols::<G, L>::REST {
        0 => {}
        1 => input_cols_kb::<T, G, L, 1>(w, delta, dx, kx0),
        2 => input_cols_kb::<T, G, L, 2>(w, delta, dx, kx0),
        3 => input_cols_kb::<T, G, L, 3>(w, delta, dx, kx0),
        _ => input_cols_kb::<T, G, L, 4>(w, delta, dx, kx0),
    }
}

/// Kernel columns `kx0..kx0 + KB` of the column form.
#[inline(always)]
fn input_cols_kb<T: Scalar, G: ConvGeometry, const L: usize, const KB: usize>(
    w: &[T],
    delta: &[T],
    dx: &mut [T],
    kx0: usize,
) {
    let sw = Lay::<G, L, 0>::SW;
    for iy in 0..G::IN_H {
        for x0 in (0..G::OUT_W).step_by(L) {
            macro_rules! run {
                ($r_count:literal, $block:ident, $c:ident) => {{
                    let acc = $block::<T, G, L, KB>(w, delta, iy, $c, kx0, x0);
                    for (r, a_r) in acc.iter().enumerate() {
                        let dxrow = &mut dx[(($c + r) * G::IN_H + iy) * G::IN_W..][..G::IN_W];
                        for (k, a) in a_r.iter().enumerate() {
                            let kx = kx0 + k;
                            let (lo, hi) = fallback::valid(G::OUT_W, G::IN_W, sw, G::PAD_W, G::DIL_W, kx);
                            let (lo, hi) = (lo.max(x0), hi.min(x0 + L));
                            if hi <= lo {
                                continue;
                            }
                            let from = lo * sw + kx * G::DIL_W - G::PAD_W;
                            let lanes = &a[lo - x0..hi - x0];
                            if sw == 1 && hi - lo == L {
                                // A whole vector (constant length, so it stays one).
                                let d: &mut [T; L] = (&mut dxrow[from..from + L]).try_into().expect("a chunk");
                                for i in 0..L {
                                    d[i] += a[i];
                                }
                            } else if sw == 1 {
                                for (d, &v) in dxrow[from..from + (hi - lo)].iter_mut().zip(lanes) {
                                    *d += v;
                                }
                            } else {
                                for (d, &v) in dxrow[from..].iter_mut().step_by(sw).zip(lanes) {
                                    *d += v;
                                }
                            }
                        }
                    }
                }};
            }
            // Two channels × up to five columns: each δ vector feeds ten products (more
            // accumulators spill once LLVM unrolls the kernel rows).
            let mut c = 0;
            while c + 2 <= G::IN_CH {
                run!(2, cols_2, c);
                c += 2;
            }
            if c < G::IN_CH {
                run!(1, cols_1, c);
            }
        }
    }
}

/// Plain loops over contiguous rows, for geometries whose kernel rows do not fit the buffer.
mod fallback {
    use super::{ConvGeometry, Scalar};

    /// The outputs `lo..hi` whose tap `k` reads an input: `0 ≤ o·s + k·d − p < n`.
    pub(super) fn valid(out: usize, n: usize, s: usize, p: usize, d: usize, k: usize) -> (usize, usize) {
        let e = k * d;
        let lo = p.saturating_sub(e).div_ceil(s);
        let hi = (n + p).saturating_sub(e).div_ceil(s).min(out);
        (lo, hi.max(lo))
    }

    /// The input row (or column) tap `k` of output `o` reads.
    fn at(o: usize, s: usize, p: usize, d: usize, k: usize) -> usize {
        o * s + k * d - p
    }

    pub(super) fn forward<T: Scalar, G: ConvGeometry>(w: &[T], bias: Option<&[T]>, x: &[T], z: &mut [T]) {
        let (khw, ow) = (G::K_H * G::K_W, G::OUT_W);
        for o in 0..G::OUT_CH {
            for y in 0..G::OUT_H {
                let zrow = &mut z[(o * G::OUT_H + y) * ow..][..ow];
                zrow.fill(bias.map_or(T::ZERO, |b| b[o]));
                for c in 0..G::IN_CH {
                    for ky in 0..G::K_H {
                        let (ylo, yhi) = valid(G::OUT_H, G::IN_H, G::STRIDE_H, G::PAD_H, G::DIL_H, ky);
                        if !(ylo..yhi).contains(&y) {
                            continue;
                        }
                        let iy = at(y, G::STRIDE_H, G::PAD_H, G::DIL_H, ky);
                        let xrow = &x[(c * G::IN_H + iy) * G::IN_W..][..G::IN_W];
                        for kx in 0..G::K_W {
                            let wv = w[(o * G::IN_CH + c) * khw + ky * G::K_W + kx];
                            let (lo, hi) = valid(ow, G::IN_W, G::STRIDE_W, G::PAD_W, G::DIL_W, kx);
                            if hi > lo {
                                let from = at(lo, G::STRIDE_W, G::PAD_W, G::DIL_W, kx);
                                let xs = xrow[from..].iter().step_by(G::STRIDE_W);
                                for (zv, &xv) in zrow[lo..hi].iter_mut().zip(xs) {
                                    *zv = wv.mul_add(xv, *zv);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn weight<T: Scalar, G: ConvGeometry>(x: &[T], delta: &[T], mut apply: impl FnMut(usize, T)) {
        let (khw, ow) = (G::K_H * G::K_W, G::OUT_W);
        for o in 0..G::OUT_CH {
            for c in 0..G::IN_CH {
                for ky in 0..G::K_H {
                    let (ylo, yhi) = valid(G::OUT_H, G::IN_H, G::STRIDE_H, G::PAD_H, G::DIL_H, ky);
                    for kx in 0..G::K_W {
                        let (lo, hi) = valid(ow, G::IN_W, G::STRIDE_W, G::PAD_W, G::DIL_W, kx);
                        let mut s = T::ZERO;
                        if hi > lo {
                            for y in ylo..yhi {
                                let iy = at(y, G::STRIDE_H, G::PAD_H, G::DIL_H, ky);
                                let xrow = &x[(c * G::IN_H + iy) * G::IN_W..][..G::IN_W];
                                let drow = &delta[(o * G::OUT_H + y) * ow..][..ow];
                                let from = at(lo, G::STRIDE_W, G::PAD_W, G::DIL_W, kx);
                                let xs = xrow[from..].iter().step_by(G::STRIDE_W);
                                for (&d, &xv) in drow[lo..hi].iter().zip(xs) {
                                    s = d.mul_add(xv, s);
                                }
                            }
                        }
                        apply((o * G::IN_CH + c) * khw + ky * G::K_W + kx, s);
                    }
                }
            }
        }
    }

    pub(super) fn input<T: Scalar, G: ConvGeometry>(w: &[T], delta: &[T], dx: &mut [T]) {
        let (khw, ow) = (G::K_H * G::K_W, G::OUT_W);
        for o in 0..G::OUT_CH {
            for c in 0..G::IN_CH {
                for ky in 0..G::K_H {
                    let (ylo, yhi) = valid(G::OUT_H, G::IN_H, G::STRIDE_H, G::PAD_H, G::DIL_H, ky);
                    for y in ylo..yhi {
                        let iy = at(y, G::STRIDE_H, G::PAD_H, G::DIL_H, ky);
                        let dxrow = &mut dx[(c * G::IN_H + iy) * G::IN_W..][..G::IN_W];
                        let drow = &delta[(o * G::OUT_H + y) * ow..][..ow];
                        for kx in 0..G::K_W {
                            let wv = w[(o * G::IN_CH + c) * khw + ky * G::K_W + kx];
                            let (lo, hi) = valid(ow, G::IN_W, G::STRIDE_W, G::PAD_W, G::DIL_W, kx);
                            if hi > lo {
                                let from = at(lo, G::STRIDE_W, G::PAD_W, G::DIL_W, kx);
                                let dxs = dxrow[from..].iter_mut().step_by(G::STRIDE_W);
                                for (dv, &d) in dxs.zip(&drow[lo..hi]) {
                                    *dv = wv.mul_add(d, *dv);
                                }
                            }
                        }
                    }
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

    /// A geometry from const parameters, the output size computed.
    struct Geo<
        const IC: usize,
        const OC: usize,
        const IH: usize,
        const IW: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PH: usize,
        const PW: usize,
        const DH: usize,
        const DW: usize,
    >;

    impl<
        const IC: usize,
        const OC: usize,
        const IH: usize,
        const IW: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PH: usize,
        const PW: usize,
        const DH: usize,
        const DW: usize,
    > ConvGeometry for Geo<IC, OC, IH, IW, KH, KW, SH, SW, PH, PW, DH, DW>
    {
        const IN_CH: usize = IC;
        const OUT_CH: usize = OC;
        const IN_H: usize = IH;
        const IN_W: usize = IW;
        const K_H: usize = KH;
        const K_W: usize = KW;
        const STRIDE_H: usize = SH;
        const STRIDE_W: usize = SW;
        const PAD_H: usize = PH;
        const PAD_W: usize = PW;
        const DIL_H: usize = DH;
        const DIL_W: usize = DW;
        const OUT_H: usize = out_len(IH, KH, SH, PH, DH);
        const OUT_W: usize = out_len(IW, KW, SW, PW, DW);
    }

    /// A deterministic pseudo-random value in [-1, 1).
    fn val(k: usize) -> f64 {
        ((k as f64 * 0.618_033_988_7 + 0.1).fract() - 0.5) * 2.0
    }

    /// Calls `f(o, c, ky, kx, y, x, iy, ix)` for every tap of every output that reads an input.
    fn each_tap<G: ConvGeometry>(mut f: impl FnMut([usize; 8])) {
        for o in 0..G::OUT_CH {
            for c in 0..G::IN_CH {
                for ky in 0..G::K_H {
                    for kx in 0..G::K_W {
                        for y in 0..G::OUT_H {
                            for x in 0..G::OUT_W {
                                let iy = (y * G::STRIDE_H + ky * G::DIL_H) as isize - G::PAD_H as isize;
                                let ix = (x * G::STRIDE_W + kx * G::DIL_W) as isize - G::PAD_W as isize;
                                if (0..G::IN_H as isize).contains(&iy) && (0..G::IN_W as isize).contains(&ix) {
                                    f([o, c, ky, kx, y, x, iy as usize, ix as usize]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every kernel against nested loops in `f64`: values and the sum of the terms' magnitudes,
    /// against which the rounding error is measured.
    fn agree<T: Scalar, G: ConvGeometry>(tol: f64) {
        let (ic, oc, khw) = (G::IN_CH, G::OUT_CH, G::K_H * G::K_W);
        let (n_in, n_out) = (ic * G::IN_H * G::IN_W, oc * G::OUT_H * G::OUT_W);
        let w: Vec<T> = (0..oc * ic * khw).map(|k| T::from_f64(val(k))).collect();
        let b: Vec<T> = (0..oc).map(|k| T::from_f64(val(k + 777))).collect();
        let x: Vec<T> = (0..n_in).map(|k| T::from_f64(val(3 * k + 11))).collect();
        let d: Vec<T> = (0..n_out).map(|k| T::from_f64(val(5 * k + 2))).collect();
        let f = |v: &[T], i: usize| v[i].to_f64();
        let w_at = |o: usize, c: usize, ky: usize, kx: usize| ((o * ic + c) * G::K_H + ky) * G::K_W + kx;
        let x_at = |c: usize, iy: usize, ix: usize| (c * G::IN_H + iy) * G::IN_W + ix;
        let z_at = |o: usize, y: usize, xx: usize| (o * G::OUT_H + y) * G::OUT_W + xx;

        let mut z_ref: Vec<(f64, f64)> = (0..n_out).map(|i| (f(&b, i / (G::OUT_H * G::OUT_W)), 1.0)).collect();
        let mut gw_ref = vec![(0.0, 1.0); w.len()];
        let mut dx_ref = vec![(0.0, 1.0); n_in];
        each_tap::<G>(|[o, c, ky, kx, y, xx, iy, ix]| {
            let (wv, xv, dv) = (f(&w, w_at(o, c, ky, kx)), f(&x, x_at(c, iy, ix)), f(&d, z_at(o, y, xx)));
            let add = |s: &mut (f64, f64), v: f64| {
                s.0 += v;
                s.1 += v.abs();
            };
            add(&mut z_ref[z_at(o, y, xx)], wv * xv);
            add(&mut gw_ref[w_at(o, c, ky, kx)], dv * xv);
            add(&mut dx_ref[x_at(c, iy, ix)], wv * dv);
        });
        let name = core::any::type_name::<G>().rsplit("::").next().unwrap_or_default();
        let close = |got: T, (want, scale): (f64, f64), what: &str, i: usize| {
            assert!(
                (got.to_f64() - want).abs() <= tol * (scale + want.abs()),
                "{what}[{i}]: {got} vs {want} ({name}, {})",
                T::NAME
            );
        };

        // Forward, overwriting whatever `z` held; without bias.
        let mut z = vec![T::from_f64(f64::NAN); n_out];
        conv_forward::<T, G>(&w, Some(&b), &x, &mut z);
        (0..n_out).for_each(|i| close(z[i], z_ref[i], "forward", i));
        conv_forward::<T, G>(&w, None, &x, &mut z);
        (0..n_out).for_each(|i| close(z[i], (z_ref[i].0 - f(&b, i / (G::OUT_H * G::OUT_W)), z_ref[i].1), "no bias", i));

        // Weight gradient: accumulates, scaled.
        let scale = 0.5;
        let gw0: Vec<T> = (0..w.len()).map(|k| T::from_f64(val(k + 4000))).collect();
        let gb0: Vec<T> = (0..oc).map(|k| T::from_f64(val(k + 5000))).collect();
        let db = |o: usize| -> (f64, f64) {
            let s = &d[o * G::OUT_H * G::OUT_W..(o + 1) * G::OUT_H * G::OUT_W];
            (s.iter().map(|v| v.to_f64()).sum(), s.iter().map(|v| v.to_f64().abs()).sum::<f64>() + 1.0)
        };
        let (mut gw, mut gb) = (gw0.clone(), gb0.clone());
        conv_weight_grad::<T, G>(&x, &d, T::from_f64(scale), &mut gw, Some(&mut gb));
        for i in 0..w.len() {
            close(gw[i], (f(&gw0, i) + scale * gw_ref[i].0, 1.0 + gw_ref[i].1), "weight grad", i);
        }
        (0..oc).for_each(|o| close(gb[o], (f(&gb0, o) + scale * db(o).0, 1.0 + db(o).1), "bias grad", o));
        let mut gw = gw0.clone();
        conv_weight_grad::<T, G>(&x, &d, T::from_f64(scale), &mut gw, None);
        (0..w.len()).for_each(|i| close(gw[i], (f(&gw0, i) + scale * gw_ref[i].0, 1.0 + gw_ref[i].1), "no bias", i));

        // SGD: w − lr·g.
        let lr = 0.25;
        let (mut w2, mut b2) = (w.clone(), b.clone());
        conv_weight_sgd::<T, G>(&x, &d, T::from_f64(lr), &mut w2, Some(&mut b2));
        for i in 0..w.len() {
            close(w2[i], (f(&w, i) - lr * gw_ref[i].0, 1.0 + gw_ref[i].1), "sgd", i);
        }
        (0..oc).for_each(|o| close(b2[o], (f(&b, o) - lr * db(o).0, 1.0 + db(o).1), "sgd bias", o));
        let mut w2 = w.clone();
        conv_weight_sgd::<T, G>(&x, &d, T::from_f64(lr), &mut w2, None);
        (0..w.len()).for_each(|i| close(w2[i], (f(&w, i) - lr * gw_ref[i].0, 1.0 + gw_ref[i].1), "sgd no bias", i));

        // Input gradient: accumulates.
        let dx0: Vec<T> = (0..n_in).map(|k| T::from_f64(val(k + 9000))).collect();
        let mut dx = dx0.clone();
        conv_input_grad::<T, G>(&w, &d, &mut dx);
        (0..n_in).for_each(|i| close(dx[i], (f(&dx0, i) + dx_ref[i].0, 1.0 + dx_ref[i].1), "input grad", i));
    }

    fn both<G: ConvGeometry>() {
        agree::<f64, G>(1e-14);
        agree::<f32, G>(1e-6);
    }

    #[test]
    fn conv1d_matches_nested_loops() {
        both::<Geo<1, 8, 1, 128, 1, 7, 1, 2, 0, 0, 1, 1>>(); // keyword spotting, stride 2
        both::<Geo<1, 8, 1, 128, 1, 7, 1, 2, 0, 3, 1, 1>>();
        both::<Geo<3, 5, 1, 37, 1, 4, 1, 1, 0, 2, 1, 1>>();
        both::<Geo<2, 3, 1, 20, 1, 3, 1, 3, 0, 1, 1, 2>>();
        both::<Geo<4, 9, 1, 50, 1, 5, 1, 1, 0, 0, 1, 2>>();
        both::<Geo<2, 2, 1, 16, 1, 1, 1, 1, 0, 0, 1, 1>>(); // read in place
        both::<Geo<5, 4, 1, 9, 1, 9, 1, 1, 0, 0, 1, 1>>(); // one output
        both::<Geo<3, 2, 1, 11, 1, 3, 1, 2, 0, 2, 1, 3>>(); // dilation 3, stride 2, padding 2
    }

    #[test]
    fn conv2d_matches_nested_loops() {
        both::<Geo<1, 6, 28, 28, 5, 5, 1, 1, 0, 0, 1, 1>>(); // LeNet conv1
        both::<Geo<6, 16, 12, 12, 5, 5, 1, 1, 0, 0, 1, 1>>(); // LeNet conv2
        both::<Geo<1, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1>>(); // digits
        both::<Geo<3, 4, 11, 13, 3, 3, 2, 2, 1, 1, 1, 1>>(); // stride 2
        both::<Geo<2, 5, 10, 9, 3, 3, 1, 1, 0, 2, 2, 2>>(); // dilation 2
        both::<Geo<3, 7, 9, 14, 2, 5, 1, 2, 2, 1, 1, 1>>(); // non-square, padding 2
        both::<Geo<2, 3, 13, 17, 3, 4, 3, 3, 2, 0, 1, 2>>(); // stride 3
        both::<Geo<3, 2, 6, 5, 3, 2, 2, 1, 1, 2, 2, 1>>();
        both::<Geo<5, 3, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1>>(); // 1×1
        both::<Geo<1, 2, 3, 3, 5, 5, 1, 1, 2, 2, 1, 1>>(); // kernel wider than the input
        both::<Geo<2, 9, 8, 16, 3, 3, 1, 1, 0, 0, 1, 1>>(); // in place, odd channel count
        both::<Geo<4, 3, 9, 10, 3, 3, 2, 3, 0, 0, 2, 1>>(); // strides 2 × 3, no padding
        both::<Geo<2, 3, 11, 12, 3, 7, 2, 1, 1, 3, 2, 1>>(); // wide kernel, vertical stride and dilation
        both::<Geo<1, 2, 5, 30, 2, 10, 1, 1, 1, 4, 2, 1>>(); // kernel of 10 columns
    }

    #[test]
    fn conv_tiles_and_fallback_match_nested_loops() {
        // More channels than a buffer fill holds.
        both::<Geo<40, 6, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1>>();
        // More rows than a buffer holds (tiles of output rows), δ tiles for the input gradient.
        both::<Geo<1, 2, 90, 90, 3, 3, 1, 1, 1, 1, 1, 1>>();
        both::<Geo<2, 3, 70, 61, 4, 3, 2, 1, 1, 0, 1, 2>>();
        // Outer-product weight gradients: channels in several transpositions, rows in tiles.
        both::<Geo<3, 40, 9, 9, 3, 3, 1, 1, 0, 0, 1, 1>>();
        both::<Geo<7, 70, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1>>();
        both::<Geo<2, 3, 60, 60, 3, 3, 10, 10, 0, 0, 1, 1>>();
        both::<Geo<6, 4, 60, 60, 3, 3, 10, 10, 0, 0, 1, 1>>();
        // A row wider than the buffer: the plain loops.
        both::<Geo<2, 3, 1, 5000, 1, 3, 1, 1, 0, 1, 1, 1>>();
        both::<Geo<1, 2, 2, 4500, 2, 5, 1, 2, 1, 2, 1, 1>>();
    }

    #[test]
    fn conv_forward_of_a_known_case() {
        // x = 1..=9 as 3×3, kernel [[1, 0], [0, −1]], padding 1: z = x[y−1][x−1] − x[y][x].
        type G = Geo<1, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1>;
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut z = [0.0_f32; 16];
        conv_forward::<f32, G>(&[1.0, 0.0, 0.0, -1.0], Some(&[0.5]), &x, &mut z);
        let at =
            |r: isize, c: isize| if (0..3).contains(&r) && (0..3).contains(&c) { x[(r * 3 + c) as usize] } else { 0.0 };
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(z[(r * 4 + c) as usize], 0.5 + at(r - 1, c - 1) - at(r, c), "({r}, {c})");
            }
        }
    }
}
