//! `Dense<WIDTH, Activation>`: a fully connected layer.
//!
//! ```text
//! forward    z = W·x + b            W: [out][in] (PyTorch order), b: [out]
//!            y = f(z)
//! backward   δ = ∂L/∂z              (from the layer above, through f′)
//!            ∂L/∂W = δ·xᵀ           ∂L/∂b = δ
//!            ∂L/∂x = Wᵀ·δ
//! ```
//!
//! Small layers are emitted as straight-line code with literal indices; larger ones as
//! calls to the runtime's row kernels (`kernels::matvec`, `kernels::backward_*`,
//! `kernels::input_delta`), whose inner loops run over contiguous rows of the weights,
//! four rows per pass so each loaded input or delta vector serves four rows. Rows with
//! a zero delta (inactive relu units) are left out of backward when rows are long.
//! Options: `bias = false`, `unroll = true | false | N`, `init = glorot | he`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::activation::{self, Activation, Init};
use super::{DocNames, Kind, LayerCx, Mode, Tensor, TensorInit, TileInput, TileKind};
use crate::codegen::{Gen, rt};
use crate::ctxt::Ctxt;
use crate::model::{Customs, DEFAULT_UNROLL_ROW, Layer, Shape, Unroll, positive_int, resolve_unroll, size};
use crate::parse::{Term, TermArg};

/// Rows at least this long are skipped in backward when their delta is zero.
const SKIP_ZERO_ROWS: usize = 64;

/// A resolved dense layer.
#[derive(Clone, Debug)]
pub struct Dense {
    pub width: usize,
    pub width_span: Span,
    pub act: Activation,
    pub bias: bool,
    pub unroll: Option<Unroll>,
    pub init: Init,
}

/// Resolves `Dense<width, Activation, bias = .., unroll = .., init = ..>`.
pub fn resolve(
    cx: &mut Ctxt,
    layer: &Ident,
    kind: &Ident,
    args: &[TermArg],
    customs: &Customs,
) -> Option<Box<dyn Kind>> {
    resolve_dense(cx, layer, kind, args, customs).map(|d| Box::new(d) as Box<dyn Kind>)
}

fn resolve_dense(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], customs: &Customs) -> Option<Dense> {
    let mut positional = Vec::new();
    let mut bias = true;
    let mut unroll = None;
    let mut init = None;
    let mut seen: Vec<&Ident> = Vec::new();
    let mut ok = true;
    for a in args {
        let Some(name) = &a.name else {
            positional.push(&a.value);
            continue;
        };
        if seen.contains(&name) {
            cx.error(name, format!("option `{name}` of layer `{layer}` is given twice"));
            ok = false;
            continue;
        }
        seen.push(name);
        match name.to_string().as_str() {
            "bias" => match &a.value {
                Term::Bool { value, .. } => bias = *value,
                other => {
                    cx.error_at(
                        other.span(),
                        format!("expected `bias = true` or `bias = false`, found {}", other.describe()),
                    );
                    ok = false;
                }
            },
            "unroll" => match resolve_unroll(cx, &a.value) {
                Some(u) => unroll = Some(u),
                None => ok = false,
            },
            "init" => match activation::resolve_init(cx, &a.value) {
                Some(i) => init = Some(i),
                None => ok = false,
            },
            other => {
                cx.error(name, format!("unknown option `{other}` of `Dense`; expected `bias`, `unroll` or `init`"));
                ok = false;
            }
        }
    }
    let Some(width_term) = positional.first() else {
        cx.error(kind, format!("layer `{layer}` needs a width, as in `Dense<32, Relu>`"));
        return None;
    };
    let width = match width_term {
        Term::Int { value: 0, .. } => 0, // reported by `check_widths`, with the rule's wording
        t => match positive_int(t) {
            Some(w) => w,
            None => {
                cx.error_at(
                    t.span(),
                    format!(
                        "expected the width of layer `{layer}` as a positive integer, found {}{}",
                        t.describe(),
                        crate::model::literal_hint(t)
                    ),
                );
                return None;
            }
        },
    };
    let act = match positional.get(1) {
        Some(t) => activation::resolve(cx, t, customs)?,
        None => activation::resolve(
            cx,
            &Term::Call { name: Ident::new("Identity", kind.span()), args: Vec::new(), span: kind.span() },
            customs,
        )?,
    };
    if let Some(extra) = positional.get(2) {
        cx.error_at(
            extra.span(),
            format!(
                "`Dense` takes a width and an activation, then named options; found {} as a third argument",
                extra.describe()
            ),
        );
        return None;
    }
    let init = init.unwrap_or(act.init);
    ok.then_some(Dense { width, width_span: width_term.span(), act, bias, unroll, init })
}

/// What the emitters of one dense product read of its layer: where its parameters start,
/// its row length and its form. A dense layer's is its own; a per-step dense layer
/// ([`super::seq_dense`]) runs the same product on each step's features.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub offset: usize,
    pub fan_in: usize,
    pub unroll: bool,
}

impl Geom {
    pub(super) fn of(layer: &Layer) -> Self {
        Geom { offset: layer.offset, fan_in: crate::model::size(&layer.input), unroll: layer.unroll }
    }
}

/// Where the weights of a dense layer lie in the flat arrays.
struct Offsets {
    w: usize,
    b: usize,
    fan_in: usize,
    width: usize,
}

impl Offsets {
    fn new(layer: &Geom, d: &Dense) -> Self {
        let fan_in = layer.fan_in;
        let w = layer.offset;
        Offsets { w, b: w + fan_in * d.width, fan_in, width: d.width }
    }

    fn weight(&self, o: usize, i: usize) -> usize {
        self.w + o * self.fan_in + i
    }
}

/// Emits the affine part of the forward pass: binds `z: [T; OUT]` = `W·inp + b`.
pub(super) fn emit_affine(g: &Gen, layer: &Geom, d: &Dense, inp: &TokenStream, z: &Ident) -> TokenStream {
    let t = &g.t;
    let rt = rt();
    let off = Offsets::new(layer, d);
    let (fan_in, width) = (off.fan_in, off.width);
    if layer.unroll {
        let rows = (0..width).map(|o| {
            let terms = (0..fan_in).map(|i| {
                let wi = off.weight(o, i);
                quote!(__p[#wi] * #inp[#i])
            });
            let bias = d.bias.then(|| {
                let bi = off.b + o;
                quote!(+ __p[#bi])
            });
            quote!(#(#terms)+* #bias)
        });
        quote! { let #z: [#t; #width] = [#(#rows),*]; }
    } else {
        let (w0, w1) = (off.w, off.b);
        let bias = d.bias.then(|| {
            let (b0, b1) = (off.b, off.b + width);
            quote! {
                let __b = #rt::view::array::<#t, #width>(&__p[#b0..#b1]);
                for __o in 0..#width {
                    #z[__o] += __b[__o];
                }
            }
        });
        quote! {
            let mut #z: [#t; #width] = [0.0; #width];
            {
                #rt::kernels::matvec(&__p[#w0..#w1], &#inp[..], &mut #z);
                #bias
            }
        }
    }
}

/// Emits the backward pass of a dense layer from its delta (∂L/∂z) and its input
/// `inp`: the weight gradient per `mode`, and, if `input_delta` is given, binds it to
/// `Wᵀ·δ` (∂L/∂input) using the weights as they were before any update.
pub(super) fn emit_backward(
    g: &Gen,
    layer: &Geom,
    d: &Dense,
    inp: &TokenStream,
    delta: &Ident,
    mode: Mode,
    input_delta: Option<&Ident>,
) -> TokenStream {
    let t = &g.t;
    let rt = rt();
    let off = Offsets::new(layer, d);
    let (fan_in, width) = (off.fan_in, off.width);
    if layer.unroll {
        let e = input_delta.map(|e| emit_input_delta(g, layer, d, delta, e));
        let mut updates = Vec::new();
        for o in 0..width {
            for i in 0..fan_in {
                let wi = off.weight(o, i);
                updates.push(match mode {
                    Mode::Accumulate => quote!(__g[#wi] += #delta[#o] * #inp[#i];),
                    Mode::Sgd => quote!(__p[#wi] -= __lr * (#delta[#o] * #inp[#i]);),
                });
            }
            if d.bias {
                let bi = off.b + o;
                updates.push(match mode {
                    Mode::Accumulate => quote!(__g[#bi] += #delta[#o];),
                    Mode::Sgd => quote!(__p[#bi] -= __lr * #delta[#o];),
                });
            }
        }
        return quote! {
            #e
            #(#updates)*
        };
    }
    let (w0, w1) = (off.w, off.b);
    let (b0, b1) = (off.b, off.b + width);
    let e_decl = input_delta.map(|e| quote! { let mut #e: [#t; #fan_in] = [0.0; #fan_in]; });
    let e_arg = match input_delta {
        Some(e) => quote!(::core::option::Option::Some(&mut #e[..])),
        None => quote!(::core::option::Option::None),
    };
    // A zero delta (an inactive relu) adds nothing: leaving its row out pays for long
    // rows, while for short ones the bookkeeping costs more than the row.
    let skip = fan_in >= SKIP_ZERO_ROWS;
    let bias_grad = d.bias.then(|| {
        quote! {
            let __gb = #rt::view::array_mut::<#t, #width>(&mut __g[#b0..#b1]);
            for (__gbo, &__dv) in __gb.iter_mut().zip(#delta.iter()) {
                *__gbo += __dv;
            }
        }
    });
    let bias_sgd = d.bias.then(|| {
        quote! {
            let __pb = #rt::view::array_mut::<#t, #width>(&mut __p[#b0..#b1]);
            for (__pbo, &__dv) in __pb.iter_mut().zip(#delta.iter()) {
                *__pbo -= __lr * __dv;
            }
        }
    });
    match mode {
        Mode::Accumulate => quote! {
            #e_decl
            #rt::kernels::backward_accumulate(&__p[#w0..#w1], &mut __g[#w0..#w1], &#inp[..], &#delta[..], #e_arg, #skip);
            #bias_grad
        },
        Mode::Sgd => quote! {
            #e_decl
            #rt::kernels::backward_sgd(&mut __p[#w0..#w1], &#inp[..], &#delta[..], __lr, #e_arg, #skip);
            #bias_sgd
        },
    }
}

/// Emits `Wᵀ·δ` alone, binding `e: [T; IN]`.
pub(super) fn emit_input_delta(g: &Gen, layer: &Geom, d: &Dense, delta: &Ident, e: &Ident) -> TokenStream {
    let t = &g.t;
    let rt = rt();
    let off = Offsets::new(layer, d);
    let (fan_in, width) = (off.fan_in, off.width);
    if layer.unroll {
        let cols = (0..fan_in).map(|i| {
            let terms = (0..width).map(|o| {
                let wi = off.weight(o, i);
                quote!(__p[#wi] * #delta[#o])
            });
            quote!(#(#terms)+*)
        });
        return quote! { let #e: [#t; #fan_in] = [#(#cols),*]; };
    }
    let (w0, w1) = (off.w, off.b);
    let skip = fan_in >= SKIP_ZERO_ROWS;
    quote! {
        let mut #e: [#t; #fan_in] = [0.0; #fan_in];
        #rt::kernels::input_delta(&__p[#w0..#w1], &#delta[..], &mut #e, #skip);
    }
}

impl Kind for Dense {
    fn name(&self) -> &'static str {
        "Dense"
    }

    /// `[n] → [width]`; a multi-dimensional input needs a `Flatten` first.
    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, span: Span, input: &[usize]) -> Option<Shape> {
        if self.width == 0 {
            cx.error_at(self.width_span, format!("layer `{layer}` has width 0; a layer needs at least one output"));
        }
        if input.len() > 1 {
            cx.error_at(
                span,
                format!(
                    "layer `{layer}` is `Dense`, which needs a flat input, but its input has shape {input:?}; put a `Flatten` layer before it"
                ),
            );
        }
        Some(vec![self.width])
    }

    fn tensors(&self, input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        let fan_in = size(input);
        let mut out = vec![Tensor {
            suffix: "weight",
            shape: vec![self.width, fan_in],
            init: TensorInit::Draw { init: self.init, fan_in, fan_out: self.width },
        }];
        if self.bias {
            out.push(Tensor {
                suffix: "bias",
                shape: vec![self.width],
                init: TensorInit::Bias { init: self.init, fan_in, fan_out: self.width },
            });
        }
        out
    }

    fn activation(&self) -> Option<&Activation> {
        Some(&self.act)
    }

    /// On a sequence, the same layer at every step: [`super::seq_dense::SeqDense`].
    fn per_step(&self) -> Option<Box<dyn Kind>> {
        Some(Box::new(super::seq_dense::SeqDense { dense: self.clone() }))
    }

    fn unroll_option(&self) -> Option<Unroll> {
        self.unroll
    }

    fn code_size(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input).saturating_mul(self.width)
    }

    /// By default rows must also be short: straight-line code sums a row as one serial
    /// chain of additions, which is bound by their latency.
    fn default_unroll(&self, input: &[usize], output: &[usize], threshold: usize) -> bool {
        self.code_size(input, output) <= threshold && size(input) <= DEFAULT_UNROLL_ROW
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, _train: bool) -> TokenStream {
        emit_affine(lc.g, &Geom::of(lc.layer), self, inp, out)
    }

    fn emit_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        delta: &Ident,
        mode: Mode,
        input_delta: Option<&Ident>,
    ) -> TokenStream {
        emit_backward(lc.g, &Geom::of(lc.layer), self, inp, delta, mode, input_delta)
    }

    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        emit_input_delta(lc.g, &Geom::of(lc.layer), self, delta, e)
    }

    fn r_pass(&self) -> bool {
        true
    }

    /// `z = W·a + b` and `R{z} = W·R{a} + V_W·a + V_b` in one loop over the weights.
    fn emit_r_forward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        rinp: &TokenStream,
        z: &Ident,
        rz: &Ident,
    ) -> TokenStream {
        let t = &lc.g.t;
        let (ni, no) = (lc.in_size(), lc.out_size());
        let w0 = lc.layer.offset;
        let b0 = w0 + ni * no;
        let (bias, rbias) =
            if self.bias { (quote!(__p[#b0 + __o]), quote!(__v[#b0 + __o])) } else { (quote!(0.0), quote!(0.0)) };
        quote! {
            let mut #z: [#t; #no] = [0.0; #no];
            let mut #rz: [#t; #no] = [0.0; #no];
            for __o in 0..#no {
                let mut __s: #t = #bias;
                let mut __rs: #t = #rbias;
                for __i in 0..#ni {
                    let __w = #w0 + __o * #ni + __i;
                    __s += __p[__w] * #inp[__i];
                    __rs += __p[__w] * #rinp[__i] + __v[__w] * #inp[__i];
                }
                #z[__o] = __s;
                #rz[__o] = __rs;
            }
        }
    }

    /// `(H·v)_W = R{δ}·aᵀ + δ·R{a}ᵀ`, `(H·v)_b = R{δ}`; below, `e = Wᵀ·δ` and
    /// `R{e} = Wᵀ·R{δ} + V_Wᵀ·δ`.
    fn emit_r_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        rinp: &TokenStream,
        d: &Ident,
        rd: &Ident,
        below: Option<(&Ident, &Ident)>,
    ) -> TokenStream {
        let t = &lc.g.t;
        let (ni, no) = (lc.in_size(), lc.out_size());
        let w0 = lc.layer.offset;
        let b0 = w0 + ni * no;
        let bias = if self.bias {
            quote! { __hv[#b0 + __o] += #rd[__o]; }
        } else {
            TokenStream::new()
        };
        let below = below.map(|(e, re)| {
            quote! {
                let mut #e: [#t; #ni] = [0.0; #ni];
                let mut #re: [#t; #ni] = [0.0; #ni];
                for __o in 0..#no {
                    for __i in 0..#ni {
                        let __w = #w0 + __o * #ni + __i;
                        #e[__i] += __p[__w] * #d[__o];
                        #re[__i] += __p[__w] * #rd[__o] + __v[__w] * #d[__o];
                    }
                }
            }
        });
        quote! {
            for __o in 0..#no {
                for __i in 0..#ni {
                    __hv[#w0 + __o * #ni + __i] += #rd[__o] * #inp[__i] + #d[__o] * #rinp[__i];
                }
                #bias
            }
            #below
        }
    }

    fn doc_r_forward(&self, n: &DocNames, first: bool) -> String {
        let rprev = if first { String::new() } else { format!("W{}·R{{{}}} + ", n.k, n.input) };
        let b = if self.bias { format!(" + V_b{}", n.k) } else { String::new() };
        format!("R{{{}}} = {rprev}V_W{}·{}{b}", n.out, n.k, n.input)
    }

    fn doc_r_input_delta(&self, n: &DocNames, delta: &str, rdelta: &str) -> String {
        format!("(W{k}ᵀ·{rdelta} + V_W{k}ᵀ·{delta})", k = n.k)
    }

    fn doc_r_param_grads(&self, n: &DocNames, first: bool) -> Vec<String> {
        let k = &n.k;
        let prev = &n.input;
        let mut out = vec![if first {
            format!("(H·v)_W{k} = R{{δ{k}}}·{prev}ᵀ")
        } else {
            format!("(H·v)_W{k} = R{{δ{k}}}·{prev}ᵀ + δ{k}·R{{{prev}}}ᵀ")
        }];
        if self.bias {
            out.push(format!("(H·v)_b{k} = R{{δ{k}}}"));
        }
        out
    }

    /// `net.hidden()` / `net.hidden_mut()`: `DenseRef` views (`weight()` as `[out][in]`).
    fn emit_accessors(&self, lc: &LayerCx) -> TokenStream {
        let fan_in = lc.in_size();
        let summary = format!(
            "Layer `{}`: `Dense<{}, {}>`, {fan_in} → {}{}.",
            lc.layer.name,
            self.width,
            self.act.name,
            self.width,
            if self.bias { "" } else { ", no bias" }
        );
        super::matrix_accessors(lc, fan_in, self.width, self.bias, summary)
    }

    fn tile(&self) -> Option<&dyn TileKind> {
        Some(self)
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let b = if self.bias { format!(" + b{}", n.k) } else { String::new() };
        format!("{} = W{}·{}{b}", n.out, n.k, n.input)
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        format!("W{}ᵀ·{delta}", n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("W{}", n.k)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(super::weights_flow(&self.doc_factor(n)))
    }

    fn doc_param_grads(&self, n: &DocNames, delta: &str) -> Vec<String> {
        let mut out = vec![format!("∂L/∂W{} = {delta}·{}ᵀ", n.k, n.input)];
        if self.bias {
            out.push(format!("∂L/∂b{} = {delta}", n.k));
        }
        out
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        Some(format!(
            "{} multiply-adds, {}",
            size(&layer.input) * self.width,
            if layer.unroll { "unrolled (straight-line, literal indices)" } else { "loops with constant bounds" }
        ))
    }
}

/// Dense layers in the mini-batch path: register-blocked matrix–matrix kernels of the
/// runtime on feature-major tiles.
impl TileKind for Dense {
    fn emit_tile_forward(&self, lc: &LayerCx, at: &TokenStream, zt: &Ident) -> TokenStream {
        let rt = rt();
        let fan_in = lc.in_size();
        let (w0, w1) = (lc.layer.offset, lc.layer.offset + fan_in * self.width);
        let bias = if self.bias {
            let b1 = w1 + self.width;
            quote!(::core::option::Option::Some(&__p[#w1..#b1]))
        } else {
            quote!(::core::option::Option::None)
        };
        quote! { #rt::kernels::tile_forward(&__p[#w0..#w1], #bias, &#at, &mut #zt); }
    }

    fn emit_tile_weight_grad(&self, lc: &LayerCx, dt: &Ident, input: &TileInput) -> TokenStream {
        let rt = rt();
        let TileInput { rows, row0, stride, .. } = input;
        let t = &lc.g.t;
        let fan_in = lc.in_size();
        let width = self.width;
        let (w0, w1) = (lc.layer.offset, lc.layer.offset + fan_in * width);
        let bias = self.bias.then(|| {
            quote! {
                for __o in 0..#width {
                    let mut __sum: #t = 0.0;
                    for __k in 0..__n {
                        __sum += #dt[__o][__k];
                    }
                    __g[#w1 + __o] += __sum;
                }
            }
        });
        quote! {
            #rt::kernels::tile_weight_grad(&#dt, &#rows[#row0..], #stride, __n, #fan_in, &mut __g[#w0..#w1]);
            #bias
        }
    }

    fn emit_tile_input_grad(&self, lc: &LayerCx, dt: &Ident, et: &TokenStream) -> TokenStream {
        let rt = rt();
        let fan_in = lc.in_size();
        let (w0, w1) = (lc.layer.offset, lc.layer.offset + fan_in * self.width);
        quote! { #rt::kernels::tile_input_grad(&__p[#w0..#w1], &#dt, &mut #et); }
    }
}
