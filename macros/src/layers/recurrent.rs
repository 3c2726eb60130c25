//! Recurrent layers as PyTorch defines them, one layer and one direction each, on a
//! sequence input `[T][F]` (`batch_first` semantics for one sample): `Rnn<H>` (Elman,
//! `nonlinearity = tanh | relu`), `Gru<H>` (gates `r, z, n`) and `Lstm<H>` (gates
//! `i, f, g, o`), zero initial state.
//!
//! ```text
//! forward    for t = 1..T:  hₜ = cell(W_ih·xₜ + b_ih, W_hh·hₜ₋₁ + b_hh)      h₀ = 0 (c₀ = 0)
//!            output [T][H] (every hₜ, `sequence = true`) or [H] (h_T, the default)
//! backward   δhₜ = ∂L/∂hₜ (from the output) + (∂hₜ₊₁/∂hₜ)ᵀ·δhₜ₊₁   (through W_hh and the gates)
//!            ∂L/∂W_ih = Σₜ δaₜ·xₜᵀ     ∂L/∂W_hh = Σₜ δaₜ·hₜ₋₁ᵀ     ∂L/∂b = Σₜ δaₜ
//!            ∂L/∂xₜ = W_ihᵀ·δaₜ
//! ```
//!
//! Parameters `weight_ih_l0 [G·H][F]`, `weight_hh_l0 [G·H][H]`, `bias_ih_l0 [G·H]`,
//! `bias_hh_l0 [G·H]` (both biases, so a PyTorch `state_dict` maps one to one), all drawn
//! from `U(−1/√H, 1/√H)`. The cells' maths and their derivatives are in the runtime's
//! `kernels::recurrent`, which the emitted code calls with constant sizes: the loops over
//! `T` are never unrolled. The trace keeps every step's gates and states.
//!
//! A recurrent layer with `sequence = true` feeds another recurrent layer (stacking), a
//! `Dense` applied at every step ([`super::seq_dense`], `[T][H] → [T][OUT]`, with the loss
//! at every step against a target `[T][OUT]`), or a `Flatten`; without it, its last state
//! feeds a `Dense` head, as `out[:, -1]` does in PyTorch. Networks whose recurrent layers
//! come first, the last without `sequence` (or all with it and only per-step layers
//! above), get a streaming step (`new_state`, `step`): one sample at a time, the same
//! numbers as the sequence forward (per-step heads: that step's row of it).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use super::activation::Init;
use super::{DocNames, Kind, LayerCx, Mode, Tensor, TensorInit};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, positive_int, size};
use crate::parse::{Term, TermArg};

/// The cell of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    RnnTanh,
    RnnRelu,
    Gru,
    Lstm,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    /// Vectors of `H` per step in the trace (the runtime's `Cell::saved`).
    fn saved(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Gru => 5,
            Cell::Lstm => 7,
        }
    }

    /// Vectors of `H` of streaming state.
    fn state(self) -> usize {
        if self == Cell::Lstm { 2 } else { 1 }
    }

    fn runtime(self) -> TokenStream {
        let rt = rt();
        let v = format_ident!(
            "{}",
            match self {
                Cell::RnnTanh => "RnnTanh",
                Cell::RnnRelu => "RnnRelu",
                Cell::Gru => "Gru",
                Cell::Lstm => "Lstm",
            }
        );
        quote!(#rt::kernels::Cell::#v)
    }

    fn kind(self) -> &'static str {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => "Rnn",
            Cell::Gru => "Gru",
            Cell::Lstm => "Lstm",
        }
    }

    fn doc(self) -> &'static str {
        match self {
            Cell::RnnTanh => "rnn_tanh",
            Cell::RnnRelu => "rnn_relu",
            Cell::Gru => "gru",
            Cell::Lstm => "lstm",
        }
    }
}

/// A resolved recurrent layer.
#[derive(Clone, Debug)]
pub struct Recurrent {
    pub cell: Cell,
    pub hidden: usize,
    pub bias: bool,
    /// `sequence = true`: the output is every step's state `[T][H]`.
    pub sequence: bool,
}

/// Resolves `Rnn<H, { nonlinearity = tanh | relu; bias = ..; sequence = .. }>`.
pub fn resolve_rnn(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Cell::RnnTanh)
}

/// Resolves `Gru<H, { bias = ..; sequence = .. }>`.
pub fn resolve_gru(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Cell::Gru)
}

/// Resolves `Lstm<H, { bias = ..; sequence = .. }>`.
pub fn resolve_lstm(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Cell::Lstm)
}

fn resolve(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], cell: Cell) -> Option<Box<dyn Kind>> {
    let name = cell.kind();
    let expected = if cell == Cell::RnnTanh { "`nonlinearity`, `bias` or `sequence`" } else { "`bias` or `sequence`" };
    let (mut hidden, mut bias, mut sequence, mut cell) = (None, true, false, cell);
    let mut seen: Vec<&Ident> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let Some(opt) = &a.name else {
            if i == 0 {
                hidden = Some(&a.value);
            } else {
                cx.error_at(
                    a.value.span(),
                    format!("`{name}` takes a hidden size, then named options in braces; found {}", a.value.describe()),
                );
            }
            continue;
        };
        if seen.contains(&opt) {
            cx.error(opt, format!("option `{opt}` of layer `{layer}` is given twice"));
            continue;
        }
        seen.push(opt);
        match (opt.to_string().as_str(), &a.value) {
            ("bias", Term::Bool { value, .. }) => bias = *value,
            ("sequence", Term::Bool { value, .. }) => sequence = *value,
            ("nonlinearity", Term::Call { name: n, args, .. }) if cell != Cell::Gru && cell != Cell::Lstm => {
                match (n.to_string().as_str(), args.is_empty()) {
                    ("tanh", true) => cell = Cell::RnnTanh,
                    ("relu", true) => cell = Cell::RnnRelu,
                    _ => {
                        cx.error(n, format!("expected `nonlinearity = tanh` or `nonlinearity = relu`, found `{n}`"));
                    }
                }
            }
            (o @ ("bias" | "sequence"), v) => {
                cx.error_at(v.span(), format!("expected `{o} = true` or `{o} = false`, found {}", v.describe()));
            }
            ("nonlinearity", v) if cell == Cell::RnnTanh => {
                cx.error_at(
                    v.span(),
                    format!("expected `nonlinearity = tanh` or `nonlinearity = relu`, found {}", v.describe()),
                );
            }
            (other, _) => {
                cx.error(opt, format!("unknown option `{other}` of `{name}`; expected {expected}"));
            }
        }
    }
    let Some(h) = hidden else {
        cx.error(kind, format!("layer `{layer}` needs a hidden size, as in `{name}<16>`"));
        return None;
    };
    let hidden_n = match h {
        Term::Int { value: 0, .. } => {
            cx.error_at(
                h.span(),
                format!("layer `{layer}` has hidden size 0; a recurrent layer needs at least one unit"),
            );
            0
        }
        t => match positive_int(t) {
            Some(n) => n,
            None => {
                cx.error_at(
                    t.span(),
                    format!(
                        "expected the hidden size of layer `{layer}` as a positive integer, found {}{}",
                        t.describe(),
                        crate::model::literal_hint(t)
                    ),
                );
                return None;
            }
        },
    };
    // After a bad option or a zero size (reported above) the layer still stands, with the
    // shape it would have, so the layers above it are not reported too.
    Some(Box::new(Recurrent { cell, hidden: hidden_n, bias, sequence }))
}

impl Recurrent {
    /// `(steps, features)` of the layer's input.
    fn dims(layer: &Layer) -> (usize, usize) {
        match layer.input.as_slice() {
            [s, f] => (*s, *f),
            _ => (1, size(&layer.input)),
        }
    }

    fn params(&self, features: usize) -> usize {
        let gh = self.cell.gates() * self.hidden;
        gh * (features + self.hidden) + if self.bias { 2 * gh } else { 0 }
    }

    /// The parameter slice and trace slice of the layer, and the generic arguments.
    fn parts(&self, lc: &LayerCx) -> (TokenStream, TokenStream, TokenStream) {
        let t = &lc.g.t;
        let (s, f) = Self::dims(lc.layer);
        let h = self.hidden;
        let (o0, o1) = (lc.layer.offset, lc.layer.offset + self.params(f));
        let e0 = lc.layer.trace.extra.unwrap_or(0);
        let e1 = e0 + (self.cell.state() + s * self.cell.saved()) * h;
        (quote!(__p[#o0..#o1]), quote!(__tr[#e0..#e1]), quote!(<#t, #s, #f, #h>))
    }

    fn backward_call(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        delta: &Ident,
        grad: TokenStream,
        dx: TokenStream,
    ) -> TokenStream {
        let rt = rt();
        let (p, tr, generics) = self.parts(lc);
        let (cell, bias, seq) = (self.cell.runtime(), self.bias, self.sequence);
        quote! {
            #rt::kernels::recurrent_backward::#generics(#cell, #bias, #seq, &#p, &#inp[..], &#tr, &#delta[..], #grad, #dx);
        }
    }

    /// Binds `out: [T; H]`: one step from `inp` (`[T; F]`), updating the layer's state at
    /// `state[s0..]`.
    pub fn emit_step(&self, lc: &LayerCx, inp: &TokenStream, s0: usize, out: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let (_, f) = Self::dims(lc.layer);
        let h = self.hidden;
        let (o0, o1) = (lc.layer.offset, lc.layer.offset + self.params(f));
        let (cell, bias) = (self.cell.runtime(), self.bias);
        let s1 = s0 + self.cell.state() * h;
        let c =
            if self.cell == Cell::Lstm { quote!(#rt::view::array_mut::<#t, #h>(__c)) } else { quote!(&mut [0.0; #h]) };
        quote! {
            let #out: [#t; #h] = {
                let (__h, __c) = __state[#s0..#s1].split_at_mut(#h);
                let __h = #rt::view::array_mut::<#t, #h>(__h);
                #rt::kernels::recurrent_step::<#t, #f, #h>(#cell, #bias, &__p[#o0..#o1], #inp, __h, #c, ::core::option::Option::None);
                *__h
            };
        }
    }

    /// Scalars of streaming state.
    pub fn state_len(&self) -> usize {
        self.cell.state() * self.hidden
    }

    /// Copies the state after the last step from the trace of a training forward into
    /// `__state[s0..]`.
    pub fn emit_end_state(&self, layer: &Layer, s0: usize) -> TokenStream {
        let (s, _) = Self::dims(layer);
        let h = self.hidden;
        let e0 = layer.trace.extra.unwrap_or(0);
        let last = e0 + self.state_len() + (s.max(1) - 1) * self.cell.saved() * h;
        let h0 = last + (self.cell.saved() - 1) * h;
        let (s1, h1) = (s0 + h, h0 + h);
        let c_copy = (self.cell == Cell::Lstm).then(|| {
            let (c0, c1, s2) = (last + 4 * h, last + 5 * h, s1 + h);
            quote! { __state[#s1..#s2].copy_from_slice(&__tr[#c0..#c1]); }
        });
        quote! {
            __state[#s0..#s1].copy_from_slice(&__tr[#h0..#h1]);
            #c_copy
        }
    }
}

impl Kind for Recurrent {
    fn name(&self) -> &'static str {
        self.cell.kind()
    }

    /// `[T][F] → [T][H]` with `sequence = true`, else `[H]`.
    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, span: Span, input: &[usize]) -> Option<Shape> {
        let [steps, _] = input else {
            cx.error_at(
                span,
                format!(
                    "layer `{layer}` is `{}`, which needs a sequence input of shape [steps, features], but its input has shape {input:?}; give the network `input = [steps, features]`, or `sequence = true` to the recurrent layer below",
                    self.name()
                ),
            );
            return None;
        };
        Some(if self.sequence { vec![*steps, self.hidden] } else { vec![self.hidden] })
    }

    fn tensors(&self, input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        let f = input.get(1).copied().unwrap_or(0);
        let gh = self.cell.gates() * self.hidden;
        let h = self.hidden;
        // PyTorch draws every tensor from U(±1/√H): the runtime's `TorchDefault` with fan-in H.
        let draw = TensorInit::Draw { init: Init::Torch, fan_in: h, fan_out: gh };
        let bias = TensorInit::Bias { init: Init::Torch, fan_in: h, fan_out: gh };
        let mut out = vec![
            Tensor { suffix: "weight_ih_l0", shape: vec![gh, f], init: draw },
            Tensor { suffix: "weight_hh_l0", shape: vec![gh, h], init: draw },
        ];
        if self.bias {
            out.push(Tensor { suffix: "bias_ih_l0", shape: vec![gh], init: bias });
            out.push(Tensor { suffix: "bias_hh_l0", shape: vec![gh], init: bias });
        }
        out
    }

    /// None: a recurrent layer has no straight-line form to choose (it always calls the
    /// runtime's step), so it does not count toward emitting the other layers as loops.
    fn code_size(&self, _input: &[usize], _output: &[usize]) -> usize {
        0
    }

    /// Always the runtime's loops: the step is the same code for every `t`.
    fn default_unroll(&self, _input: &[usize], _output: &[usize], _threshold: usize) -> bool {
        false
    }

    fn input_delta_reads_input(&self) -> bool {
        false
    }

    /// The initial state, then every step's saved vectors.
    fn trace_extra(&self, input: &[usize], _output: &[usize]) -> usize {
        (self.cell.state() + input.first().copied().unwrap_or(0) * self.cell.saved()) * self.hidden
    }

    fn backward_scratch(&self, input: &[usize], _output: &[usize]) -> usize {
        input.first().copied().unwrap_or(0) * self.cell.gates() * self.hidden
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let (p, tr, generics) = self.parts(lc);
        let n = lc.out_size();
        let (cell, bias, seq) = (self.cell.runtime(), self.bias, self.sequence);
        let trace =
            if train { quote!(::core::option::Option::Some(&mut #tr)) } else { quote!(::core::option::Option::None) };
        let init = match crate::stream::state_offset(lc.g.net, lc.layer) {
            Some(s0) if lc.g.from_state => {
                let s1 = s0 + self.state_len();
                quote!(::core::option::Option::Some(&__state[#s0..#s1]))
            }
            _ => quote!(::core::option::Option::None),
        };
        quote! {
            let mut #out: [#t; #n] = [0.0; #n];
            #rt::kernels::recurrent_forward::#generics(#cell, #bias, #seq, &#p, &#inp[..], &mut #out, #trace, #init);
        }
    }

    fn emit_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        delta: &Ident,
        mode: Mode,
        input_delta: Option<&Ident>,
    ) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n_in = lc.in_size();
        let decl = input_delta.map(|e| quote! { let mut #e: [#t; #n_in] = [0.0; #n_in]; });
        let dx = match input_delta {
            Some(e) => quote!(::core::option::Option::Some(&mut #e[..])),
            None => quote!(::core::option::Option::None),
        };
        let (p, tr, generics) = self.parts(lc);
        match mode {
            Mode::Accumulate => {
                let (o0, o1) = (lc.layer.offset, lc.layer.offset + self.params(Self::dims(lc.layer).1));
                let grad = quote!(#rt::kernels::RecurrentGrad::Accumulate(&mut __g[#o0..#o1]));
                let call = self.backward_call(lc, inp, delta, grad, dx);
                quote! { #decl #call }
            }
            Mode::Sgd => {
                let n_rec = self.backward_scratch(&lc.layer.input, &lc.layer.output);
                let call =
                    self.backward_call(lc, inp, delta, quote!(#rt::kernels::RecurrentGrad::Record(&mut __rec)), dx);
                let (cell, bias) = (self.cell.runtime(), self.bias);
                quote! {
                    #decl
                    {
                        let mut __rec: [#t; #n_rec] = [0.0; #n_rec];
                        #call
                        #rt::kernels::recurrent_apply_sgd::#generics(#cell, #bias, &mut #p, &#inp[..], &#tr, &__rec, __lr);
                    }
                }
            }
        }
    }

    fn emit_input_delta(&self, lc: &LayerCx, inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n_in = lc.in_size();
        let call = self.backward_call(
            lc,
            inp,
            delta,
            quote!(#rt::kernels::RecurrentGrad::None),
            quote!(::core::option::Option::Some(&mut #e[..])),
        );
        quote! {
            let mut #e: [#t; #n_in] = [0.0; #n_in];
            #call
        }
    }

    fn step_state(&self) -> Option<&Recurrent> {
        Some(self)
    }

    fn sequence_output(&self, _input_sequence: bool) -> bool {
        self.sequence
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let b = if self.bias { format!(" + b_ih{}", n.k) } else { String::new() };
        let bh = if self.bias { format!(" + b_hh{}", n.k) } else { String::new() };
        let out = if self.sequence { "every hₜ" } else { "h_T" };
        format!(
            "hₜ = {}(W_ih{k}·{}ₜ{b}, W_hh{k}·hₜ₋₁{bh}), t = 1..T, h₀ = 0; {} = {out}",
            self.cell.doc(),
            n.input,
            n.out,
            k = n.k
        )
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        format!("W_ih{}ᵀ·δaₜ per step, δaₜ from {delta} back through time (BPTT)", n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("BPTT{}", n.k)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(format!(
            "[BPTT{}]: δ passes back through time by W_hh{}ᵀ and the gates' derivatives once per step; over many steps it can vanish or explode",
            n.k, n.k
        ))
    }

    fn doc_param_grads(&self, n: &DocNames, _delta: &str) -> Vec<String> {
        let k = &n.k;
        let mut out = vec![format!("∂L/∂W_ih{k} = Σₜ δaₜ·{}ₜᵀ", n.input), format!("∂L/∂W_hh{k} = Σₜ δaₜ·hₜ₋₁ᵀ")];
        if self.bias {
            out.push(format!("∂L/∂b_ih{k} = Σₜ δaₜ, ∂L/∂b_hh{k} = Σₜ δaₕ,ₜ"));
        }
        out
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        let (s, _) = Self::dims(layer);
        let macs = s * self.cell.gates() * self.hidden * (Self::dims(layer).1 + self.hidden);
        Some(format!("{macs} multiply-adds over {s} steps, runtime loops with constant bounds"))
    }
}
