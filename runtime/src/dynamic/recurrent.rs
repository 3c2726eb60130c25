//! Recurrent layers (`torch.nn.RNN`, `torch.nn.GRU`, `torch.nn.LSTM`: one layer, one
//! direction, one sample, `batch_first`) on a sequence `[T, F]`, from the zero state.
//!
//! Parameters, PyTorch's order: `weight_ih_l0 [G·H][F]`, `weight_hh_l0 [G·H][H]` (the
//! layer's weight range, back to back), then `bias_ih_l0 [G·H]`, `bias_hh_l0 [G·H]` (its
//! bias range). With `aᵢ = W_ih·xₜ + b_ih` and `aₕ = W_hh·hₜ₋₁ + b_hh`, per gate row:
//!
//! - RNN: `hₜ = f(aᵢ + aₕ)`, `f` = tanh or relu.
//! - GRU, rows `r, z, n`: `r = σ(aᵢr + aₕr)`, `z = σ(aᵢz + aₕz)`,
//!   `n = tanh(aᵢn + r·aₕn)`, `hₜ = (1 − z)·n + z·hₜ₋₁`.
//! - LSTM, rows `i, f, g, o`: `cₜ = σ(·f)·cₜ₋₁ + σ(·i)·tanh(·g)`, `hₜ = σ(·o)·tanh(cₜ)`.
//!
//! The forward keeps each step's pre-activations `aᵢ`, `aₕ` and its `h`, `c`; backward
//! (backpropagation through time) recomputes the gates from the pre-activations and
//! differentiates them there (`σ′(a) = σ(a)·(1 − σ(a))`, `tanh′(a) = 1 − tanh²(a)`),
//! a formulation apart from the generated code's, which saves the gates' outputs.
//! Every product is a [`dot`] over a weight row or an [`axpy`] into one.

use crate::kernels::{axpy, dot};
use crate::scalar::Scalar;

/// The cell of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecurrentCell {
    /// Elman RNN with `tanh`.
    RnnTanh,
    /// Elman RNN with `relu`.
    RnnRelu,
    /// GRU, gates `r, z, n`.
    Gru,
    /// LSTM, gates `i, f, g, o`.
    Lstm,
}

impl RecurrentCell {
    /// Gate rows per hidden unit.
    #[inline]
    #[must_use]
    pub const fn gates(self) -> usize {
        match self {
            Self::RnnTanh | Self::RnnRelu => 1,
            Self::Gru => 3,
            Self::Lstm => 4,
        }
    }

    /// The kind's name as in a network spec.
    #[inline]
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RnnTanh | Self::RnnRelu => "Rnn",
            Self::Gru => "Gru",
            Self::Lstm => "Lstm",
        }
    }
}

fn sigmoid<T: Scalar>(a: T) -> T {
    T::ONE / (T::ONE + (-a).exp())
}

/// A recurrent layer's resolved sizes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Recurrent {
    pub(super) cell: RecurrentCell,
    pub(super) steps: usize,
    pub(super) inputs: usize,
    pub(super) hidden: usize,
    pub(super) sequence: bool,
}

impl Recurrent {
    fn gh(&self) -> usize {
        self.cell.gates() * self.hidden
    }

    /// `W_ih` and `W_hh`.
    pub(super) fn weight_len(&self) -> usize {
        self.gh() * (self.inputs + self.hidden)
    }

    /// `b_ih` and `b_hh`.
    pub(super) fn bias_len(&self) -> usize {
        2 * self.gh()
    }

    /// Scalars kept per step: `aᵢ`, `aₕ`, `h`, `c`.
    fn per_step(&self) -> usize {
        2 * self.gh() + 2 * self.hidden
    }

    /// Scratch: the steps, then `δh`, `δc`, `δh_prev` and `δc_prev`, then `δaᵢ`, `δaₕ`.
    pub(super) fn aux_len(&self) -> usize {
        self.steps * self.per_step() + 4 * self.hidden + 2 * self.gh()
    }

    /// Runs the sequence `x` into `y`, keeping each step in `aux`.
    pub(super) fn forward<T: Scalar>(&self, w: &[T], b: Option<&[T]>, x: &[T], y: &mut [T], aux: &mut [T]) {
        let (gh, h, per) = (self.gh(), self.hidden, self.per_step());
        let (w_ih, w_hh) = w.split_at(gh * self.inputs);
        for t in 0..self.steps {
            let (done, rest) = aux.split_at_mut(t * per);
            let prev = t.checked_sub(1).map(|k| &done[k * per..(k + 1) * per]);
            let cur = &mut rest[..per];
            let (ai, cur) = cur.split_at_mut(gh);
            let (ah, cur) = cur.split_at_mut(gh);
            let (hh, cc) = cur.split_at_mut(h);
            let xt = &x[t * self.inputs..(t + 1) * self.inputs];
            for r in 0..gh {
                ai[r] = dot(&w_ih[r * self.inputs..(r + 1) * self.inputs], xt);
                ah[r] = match prev {
                    Some(p) => dot(&w_hh[r * h..(r + 1) * h], &p[2 * gh..2 * gh + h]),
                    None => T::ZERO,
                };
                if let Some(b) = b {
                    ai[r] += b[r];
                    ah[r] += b[gh + r];
                }
            }
            for j in 0..h {
                let h_prev = prev.map_or(T::ZERO, |p| p[2 * gh + j]);
                let c_prev = prev.map_or(T::ZERO, |p| p[2 * gh + h + j]);
                let (hn, cn) = match self.cell {
                    RecurrentCell::RnnTanh => ((ai[j] + ah[j]).tanh(), T::ZERO),
                    RecurrentCell::RnnRelu => ((ai[j] + ah[j]).max(T::ZERO), T::ZERO),
                    RecurrentCell::Gru => {
                        let r = sigmoid(ai[j] + ah[j]);
                        let z = sigmoid(ai[h + j] + ah[h + j]);
                        let n = (ai[2 * h + j] + r * ah[2 * h + j]).tanh();
                        (n + z * (h_prev - n), T::ZERO)
                    }
                    RecurrentCell::Lstm => {
                        let i = sigmoid(ai[j] + ah[j]);
                        let f = sigmoid(ai[h + j] + ah[h + j]);
                        let g = (ai[2 * h + j] + ah[2 * h + j]).tanh();
                        let o = sigmoid(ai[3 * h + j] + ah[3 * h + j]);
                        let c = f * c_prev + i * g;
                        (o * c.tanh(), c)
                    }
                };
                hh[j] = hn;
                cc[j] = cn;
            }
            if self.sequence {
                y[t * h..(t + 1) * h].copy_from_slice(hh);
            } else if t + 1 == self.steps {
                y.copy_from_slice(hh);
            }
        }
    }

    /// Backpropagation through time from `dy` = ∂L/∂y over the steps `forward` kept in
    /// `aux`: adds `scale·∂L/∂θ` into `gw` (`W_ih` then `W_hh`) and `gb`, and if given
    /// `factor·∂L/∂x` into `dx`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward<T: Scalar>(
        &self,
        w: &[T],
        x: &[T],
        dy: &[T],
        scale: T,
        gw: &mut [T],
        mut gb: Option<&mut [T]>,
        mut dx: Option<(&mut [T], T)>,
        aux: &mut [T],
    ) {
        let (gh, h, per, ni) = (self.gh(), self.hidden, self.per_step(), self.inputs);
        let (w_ih, w_hh) = w.split_at(gh * ni);
        let (gw_ih, gw_hh) = gw.split_at_mut(gh * ni);
        let (steps, scratch) = aux.split_at_mut(self.steps * per);
        let (dh, scratch) = scratch.split_at_mut(h);
        let (dc, scratch) = scratch.split_at_mut(h);
        let (dh_prev, scratch) = scratch.split_at_mut(h);
        let (dc_prev, scratch) = scratch.split_at_mut(h);
        let (dai, dah) = scratch.split_at_mut(gh);
        dh.fill(T::ZERO);
        dc.fill(T::ZERO);
        for t in (0..self.steps).rev() {
            let cur = &steps[t * per..(t + 1) * per];
            let prev = t.checked_sub(1).map(|k| &steps[k * per..(k + 1) * per]);
            let (ai, ah) = (&cur[..gh], &cur[gh..2 * gh]);
            let c_cur = &cur[2 * gh + h..];
            if self.sequence {
                for (d, &e) in dh.iter_mut().zip(&dy[t * h..(t + 1) * h]) {
                    *d += e;
                }
            } else if t + 1 == self.steps {
                for (d, &e) in dh.iter_mut().zip(dy.iter()) {
                    *d += e;
                }
            }
            for j in 0..h {
                let h_prev = prev.map_or(T::ZERO, |p| p[2 * gh + j]);
                let c_prev = prev.map_or(T::ZERO, |p| p[2 * gh + h + j]);
                dh_prev[j] = T::ZERO;
                match self.cell {
                    RecurrentCell::RnnTanh => {
                        let y = (ai[j] + ah[j]).tanh();
                        dai[j] = dh[j] * (T::ONE - y * y);
                        dah[j] = dai[j];
                    }
                    RecurrentCell::RnnRelu => {
                        dai[j] = if ai[j] + ah[j] > T::ZERO { dh[j] } else { T::ZERO };
                        dah[j] = dai[j];
                    }
                    RecurrentCell::Gru => {
                        let r = sigmoid(ai[j] + ah[j]);
                        let z = sigmoid(ai[h + j] + ah[h + j]);
                        let n = (ai[2 * h + j] + r * ah[2 * h + j]).tanh();
                        let dn_pre = dh[j] * (T::ONE - z) * (T::ONE - n * n);
                        let dz_pre = dh[j] * (h_prev - n) * z * (T::ONE - z);
                        let dr_pre = dn_pre * ah[2 * h + j] * r * (T::ONE - r);
                        dai[j] = dr_pre;
                        dai[h + j] = dz_pre;
                        dai[2 * h + j] = dn_pre;
                        dah[j] = dr_pre;
                        dah[h + j] = dz_pre;
                        dah[2 * h + j] = dn_pre * r;
                        dh_prev[j] = dh[j] * z;
                    }
                    RecurrentCell::Lstm => {
                        let i = sigmoid(ai[j] + ah[j]);
                        let f = sigmoid(ai[h + j] + ah[h + j]);
                        let g = (ai[2 * h + j] + ah[2 * h + j]).tanh();
                        let o = sigmoid(ai[3 * h + j] + ah[3 * h + j]);
                        let tc = c_cur[j].tanh();
                        let dct = dc[j] + dh[j] * o * (T::ONE - tc * tc);
                        dai[j] = dct * g * i * (T::ONE - i);
                        dai[h + j] = dct * c_prev * f * (T::ONE - f);
                        dai[2 * h + j] = dct * i * (T::ONE - g * g);
                        dai[3 * h + j] = dh[j] * tc * o * (T::ONE - o);
                        for k in 0..4 {
                            dah[k * h + j] = dai[k * h + j];
                        }
                        dc_prev[j] = dct * f;
                    }
                }
            }
            let xt = &x[t * ni..(t + 1) * ni];
            for r in 0..gh {
                axpy(scale * dai[r], xt, &mut gw_ih[r * ni..(r + 1) * ni]);
                if let Some(p) = prev {
                    axpy(scale * dah[r], &p[2 * gh..2 * gh + h], &mut gw_hh[r * h..(r + 1) * h]);
                }
                if let Some(dx) = dx.as_mut() {
                    let factor = dx.1;
                    axpy(factor * dai[r], &w_ih[r * ni..(r + 1) * ni], &mut dx.0[t * ni..(t + 1) * ni]);
                }
                axpy(dah[r], &w_hh[r * h..(r + 1) * h], dh_prev);
            }
            if let Some(gb) = gb.as_deref_mut() {
                for r in 0..gh {
                    gb[r] += scale * dai[r];
                    gb[gh + r] += scale * dah[r];
                }
            }
            dh.copy_from_slice(dh_prev);
            dc.copy_from_slice(dc_prev);
        }
    }
}
