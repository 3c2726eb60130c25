//! `Conv1d<OUT_CHANNELS, Activation, { kernel = K, .. }>` on `[C][L]` and
//! `Conv2d<OUT_CHANNELS, Activation, { kernel = K | [KH, KW], .. }>` on `[C][H][W]`, as
//! PyTorch's `nn.Conv1d` / `nn.Conv2d` define them.
//!
//! ```text
//! forward    z[o][y][x] = b[o] + Σ_{c,i,j} W[o][c][i][j] · x[c][y·s − p + i·d][x·s − p + j·d]
//!            (cross-correlation, no kernel flip; zero padding)       W: [out][in][kh][kw]
//!            a = f(z)
//! backward   δ = ∂L/∂z
//!            ∂L/∂W[o][c][i][j] = Σ_{y,x} δ[o][y][x] · x[c][y·s − p + i·d][x·s − p + j·d]
//!                                (the correlation of the input with δ)
//!            ∂L/∂b[o] = Σ_{y,x} δ[o][y][x]
//!            ∂L/∂x = the full correlation of δ with the flipped kernel, stride and
//!                    dilation accounted for: every input cell collects W·δ from each
//!                    output that read it
//! ```
//!
//! Output size per dimension `floor((n + 2·p − d·(k − 1) − 1) / s) + 1`. A 1-D
//! convolution is the 2-D one with a height of 1.
//!
//! Small convolutions are emitted as straight-line code over the list of (output, input,
//! weight) connections, with literal indices; larger ones call the runtime's
//! `kernels::conv_*`, monomorphized on a local geometry type, so every bound is constant.
//! Options: `kernel` (required), `stride = 1`, `padding = 0`, `dilation = 1`,
//! `bias = true`, `unroll`, `init = torch` (PyTorch's default; or `glorot`, `he`).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::activation::{self, Activation, Init};
use super::{DocNames, Kind, LayerCx, Mode, Tensor, TensorInit, TileInput, TileKind};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, Unroll, positive_int, resolve_unroll, size};
use crate::parse::{Term, TermArg};

/// Convolutions with at most this many multiply-adds are straight-line by default.
/// From the convolution sweep (`benches/conv_sweep.rs`, benches/RESULTS.md): up to here
/// straight-line code speeds up inference on both targets and training of small 2-D
/// convolutions on native builds; from 768 multiply-adds on, training gains nothing on
/// either target, while straight-line code keeps costing compile time (cnn_digits
/// unrolled builds in 36 s against 4 s as loops).
pub const DEFAULT_CONV_UNROLL: usize = 512;

/// An option given per spatial dimension: `[height, width]` (a 1-D layer has height 1).
#[derive(Clone, Copy, Debug)]
pub struct PerDim {
    pub v: [usize; 2],
    pub span: Span,
}

/// A resolved convolution.
#[derive(Clone, Debug)]
pub struct Conv {
    /// 1 or 2.
    pub dims: usize,
    pub channels: usize,
    pub channels_span: Span,
    pub act: Activation,
    pub kernel: PerDim,
    pub stride: PerDim,
    pub padding: PerDim,
    pub dilation: PerDim,
    pub bias: bool,
    pub unroll: Option<Unroll>,
    pub init: Init,
}

/// Resolves `Conv1d<..>`.
pub fn resolve_1d(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], c: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, layer, kind, args, c, 1)
}

/// Resolves `Conv2d<..>`.
pub fn resolve_2d(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], c: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, layer, kind, args, c, 2)
}

/// Reads a per-dimension option: `k` (every dimension) or `[kh, kw]` (2-D only). Zero is
/// accepted here so the shape rules can say what is wrong with it.
pub fn per_dim(cx: &mut Ctxt, v: &Term, option: &str, dims: usize, kind: &str) -> Option<PerDim> {
    let int = |t: &Term| match t {
        Term::Int { value: 0, .. } => Some(0),
        t => positive_int(t),
    };
    let span = v.span();
    let found = match v {
        Term::List { items, .. } if dims == 2 && items.len() == 2 => {
            int(&items[0]).zip(int(&items[1])).map(|(h, w)| PerDim { v: [h, w], span })
        }
        Term::List { .. } if dims == 1 => {
            cx.error_at(span, format!("`{kind}` is 1-D: expected `{option} = n`, found {}", v.describe()));
            return None;
        }
        // A 1-D layer is a 2-D one of height 1: kernel, stride and dilation 1, padding 0.
        t => int(t).map(|n| PerDim { v: if dims == 2 { [n, n] } else { [usize::from(option != "padding"), n] }, span }),
    };
    if found.is_none() {
        let shape = if dims == 2 { format!(" or `{option} = [h, w]`") } else { String::new() };
        cx.error_at(span, format!("expected `{option} = n`{shape} with non-negative integers, found {}", v.describe()));
    }
    found
}

/// `v` as `3` or `3×5` for messages.
pub fn show(p: [usize; 2], dims: usize) -> String {
    if dims == 1 || p[0] == p[1] { p[1].to_string() } else { format!("{}×{}", p[0], p[1]) }
}

fn resolve(
    cx: &mut Ctxt,
    layer: &Ident,
    kind: &Ident,
    args: &[TermArg],
    customs: &Customs,
    dims: usize,
) -> Option<Box<dyn Kind>> {
    let kind_name = if dims == 1 { "Conv1d" } else { "Conv2d" };
    let default = |v: [usize; 2]| PerDim { v, span: kind.span() };
    let mut positional = Vec::new();
    let (mut kernel, mut stride, mut padding, mut dilation) = (None, default([1, 1]), default([0, 0]), default([1, 1]));
    let (mut bias, mut unroll, mut init) = (true, None, None);
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
        let option = name.to_string();
        match option.as_str() {
            "kernel" | "stride" | "padding" | "dilation" => match per_dim(cx, &a.value, &option, dims, kind_name) {
                Some(p) => match option.as_str() {
                    "kernel" => kernel = Some(p),
                    "stride" => stride = p,
                    "padding" => padding = p,
                    _ => dilation = p,
                },
                None => ok = false,
            },
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
                cx.error(
                    name,
                    format!(
                        "unknown option `{other}` of `{kind_name}`; expected `kernel`, `stride`, `padding`, `dilation`, `bias`, `unroll` or `init`"
                    ),
                );
                ok = false;
            }
        }
    }
    let Some(channels_term) = positional.first() else {
        cx.error(
            kind,
            format!(
                "layer `{layer}` needs a number of output channels, as in `{kind_name}<8, Relu, {{ kernel = 3 }}>`"
            ),
        );
        return None;
    };
    let channels = match channels_term {
        Term::Int { value: 0, .. } => 0, // reported by `output_shape`, with the rule's wording
        t => match positive_int(t) {
            Some(c) => c,
            None => {
                cx.error_at(
                    t.span(),
                    format!(
                        "expected the output channels of layer `{layer}` as a positive integer, found {}",
                        t.describe()
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
                "`{kind_name}` takes output channels and an activation, then named options in braces; found {} as a third argument",
                extra.describe()
            ),
        );
        return None;
    }
    if matches!(act.kind, activation::ActKind::Softmax) {
        cx.error_at(
            positional.get(1).map_or(kind.span(), |t| t.span()),
            format!("`Softmax` needs a flat output; layer `{layer}` is `{kind_name}`: put `Flatten` and a `Dense<n, Softmax>` after it"),
        );
        return None;
    }
    let Some(kernel) = kernel else {
        // A kernel given but unreadable was reported already.
        if !seen.iter().any(|n| *n == "kernel") {
            cx.error(
                kind,
                format!("layer `{layer}` needs a kernel size, as in `{kind_name}<8, Relu, {{ kernel = 3 }}>`"),
            );
        }
        return None;
    };
    let init = init.unwrap_or(Init::Torch);
    ok.then(|| {
        Box::new(Conv {
            dims,
            channels,
            channels_span: channels_term.span(),
            act,
            kernel,
            stride,
            padding,
            dilation,
            bias,
            unroll,
            init,
        }) as Box<dyn Kind>
    })
}

/// Everything the emitters need, with the input's shape resolved.
struct Geom {
    in_ch: usize,
    out_ch: usize,
    ih: usize,
    iw: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn new(c: &Conv, layer: &Layer) -> Self {
        let (in_ch, ih, iw) = spatial(&layer.input, c.dims);
        let (oh, ow) = (
            out_len(ih, c.kernel.v[0], c.stride.v[0], c.padding.v[0], c.dilation.v[0]).unwrap_or(0),
            out_len(iw, c.kernel.v[1], c.stride.v[1], c.padding.v[1], c.dilation.v[1]).unwrap_or(0),
        );
        Geom {
            in_ch,
            out_ch: c.channels,
            ih,
            iw,
            kh: c.kernel.v[0],
            kw: c.kernel.v[1],
            sh: c.stride.v[0],
            sw: c.stride.v[1],
            ph: c.padding.v[0],
            pw: c.padding.v[1],
            dh: c.dilation.v[0],
            dw: c.dilation.v[1],
            oh,
            ow,
        }
    }

    fn weights(&self) -> usize {
        self.out_ch * self.in_ch * self.kh * self.kw
    }

    /// Every (output, input, weight) index triple with the input inside the padding.
    fn connections(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for o in 0..self.out_ch {
            for y in 0..self.oh {
                for x in 0..self.ow {
                    let oi = (o * self.oh + y) * self.ow + x;
                    for c in 0..self.in_ch {
                        for i in 0..self.kh {
                            for j in 0..self.kw {
                                let iy = (y * self.sh + i * self.dh).checked_sub(self.ph);
                                let ix = (x * self.sw + j * self.dw).checked_sub(self.pw);
                                if let (Some(iy), Some(ix)) = (iy, ix)
                                    && iy < self.ih
                                    && ix < self.iw
                                {
                                    let ii = (c * self.ih + iy) * self.iw + ix;
                                    let wi = ((o * self.in_ch + c) * self.kh + i) * self.kw + j;
                                    out.push((oi, ii, wi));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// A local type carrying the geometry as associated consts, for the kernels.
    fn item(&self) -> TokenStream {
        let rt = rt();
        let Geom { in_ch, out_ch, ih, iw, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow } = *self;
        quote! {
            struct __Geometry;
            impl #rt::kernels::ConvGeometry for __Geometry {
                const IN_CH: usize = #in_ch;
                const OUT_CH: usize = #out_ch;
                const IN_H: usize = #ih;
                const IN_W: usize = #iw;
                const K_H: usize = #kh;
                const K_W: usize = #kw;
                const STRIDE_H: usize = #sh;
                const STRIDE_W: usize = #sw;
                const PAD_H: usize = #ph;
                const PAD_W: usize = #pw;
                const DIL_H: usize = #dh;
                const DIL_W: usize = #dw;
                const OUT_H: usize = #oh;
                const OUT_W: usize = #ow;
            }
        }
    }
}

impl Copy for Geom {}
impl Clone for Geom {
    fn clone(&self) -> Self {
        *self
    }
}

/// `(channels, height, width)` of an input shape (height 1 for 1-D).
pub fn spatial(input: &[usize], dims: usize) -> (usize, usize, usize) {
    match (dims, input) {
        (2, [c, h, w]) => (*c, *h, *w),
        (1, [c, l]) => (*c, 1, *l),
        _ => (0, 0, 0),
    }
}

/// `floor((n + 2·p − d·(k − 1) − 1) / s) + 1`, or `None` if no output fits.
pub fn out_len(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let reach = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = n.checked_add(p.checked_mul(2)?)?;
    if s == 0 || reach > padded {
        return None;
    }
    Some((padded - reach) / s + 1)
}

/// The input shape a kind of the given dimensionality needs, for messages.
pub fn needed_shape(dims: usize) -> &'static str {
    if dims == 2 { "[channels, height, width]" } else { "[channels, length]" }
}

impl Kind for Conv {
    fn name(&self) -> &'static str {
        if self.dims == 1 { "Conv1d" } else { "Conv2d" }
    }

    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, span: Span, input: &[usize]) -> Option<Shape> {
        let kind = self.name();
        if input.len() != self.dims + 1 {
            cx.error_at(
                span,
                format!(
                    "layer `{layer}` is `{kind}`, which needs an input of shape {}, but its input has shape {input:?}",
                    needed_shape(self.dims)
                ),
            );
            return None;
        }
        let mut ok = true;
        if self.channels == 0 {
            cx.error_at(self.channels_span, format!("layer `{layer}` has 0 output channels; it needs at least one"));
            ok = false;
        }
        for (opt, p) in [("kernel", self.kernel), ("stride", self.stride), ("dilation", self.dilation)] {
            if p.v.contains(&0) {
                cx.error_at(
                    p.span,
                    format!("layer `{layer}` has {opt} {}; {opt} must be at least 1", show(p.v, self.dims)),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let (c, ih, iw) = spatial(input, self.dims);
        let oh = out_len(ih, self.kernel.v[0], self.stride.v[0], self.padding.v[0], self.dilation.v[0]);
        let ow = out_len(iw, self.kernel.v[1], self.stride.v[1], self.padding.v[1], self.dilation.v[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            let d = self.dilation.v;
            let dilation = if d == [1, 1] { String::new() } else { format!(", dilation {}", show(d, self.dims)) };
            let (input, zero) = if self.dims == 2 { (format!("{ih}×{iw}"), "0×0") } else { (iw.to_string(), "0") };
            cx.error_at(
                self.kernel.span,
                format!(
                    "layer `{layer}` would produce {zero} outputs: input {input}, kernel {}, padding {}{dilation}",
                    show(self.kernel.v, self.dims),
                    show(self.padding.v, self.dims)
                ),
            );
            return None;
        };
        let _ = c;
        Some(if self.dims == 2 { vec![self.channels, oh, ow] } else { vec![self.channels, ow] })
    }

    fn tensors(&self, input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        let (c, _, _) = spatial(input, self.dims);
        let field = self.kernel.v[0] * self.kernel.v[1];
        let (fan_in, fan_out) = (c * field, self.channels * field);
        let mut shape = vec![self.channels, c];
        if self.dims == 2 {
            shape.push(self.kernel.v[0]);
        }
        shape.push(self.kernel.v[1]);
        let mut out =
            vec![Tensor { suffix: "weight", shape, init: TensorInit::Draw { init: self.init, fan_in, fan_out } }];
        if self.bias {
            out.push(Tensor {
                suffix: "bias",
                shape: vec![self.channels],
                init: TensorInit::Bias { init: self.init, fan_in, fan_out },
            });
        }
        out
    }

    fn activation(&self) -> Option<&Activation> {
        Some(&self.act)
    }

    fn unroll_option(&self) -> Option<Unroll> {
        self.unroll
    }

    fn code_size(&self, input: &[usize], output: &[usize]) -> usize {
        let (c, _, _) = spatial(input, self.dims);
        size(output).saturating_mul(c).saturating_mul(self.kernel.v[0]).saturating_mul(self.kernel.v[1])
    }

    fn default_unroll(&self, input: &[usize], output: &[usize], _threshold: usize) -> bool {
        self.code_size(input, output) <= DEFAULT_CONV_UNROLL
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, _train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let g = Geom::new(self, lc.layer);
        let n_out = lc.out_size();
        let w0 = lc.layer.offset;
        let b0 = w0 + g.weights();
        if lc.layer.unroll {
            let mut terms: Vec<Vec<TokenStream>> = vec![Vec::new(); n_out];
            for (oi, ii, wi) in g.connections() {
                let wi = w0 + wi;
                terms[oi].push(quote!(__p[#wi] * #inp[#ii]));
            }
            let cells = terms.iter().enumerate().map(|(oi, ts)| {
                let bias = self.bias.then(|| {
                    let bi = b0 + oi / (g.oh * g.ow);
                    quote!(__p[#bi])
                });
                let all: Vec<TokenStream> = ts.iter().cloned().chain(bias).collect();
                if all.is_empty() { quote!(0.0) } else { quote!(#(#all)+*) }
            });
            return quote! { let #out: [#t; #n_out] = [#(#cells),*]; };
        }
        let item = g.item();
        let b1 = b0 + g.out_ch;
        let bias = if self.bias {
            quote!(::core::option::Option::Some(&__p[#b0..#b1]))
        } else {
            quote!(::core::option::Option::None)
        };
        quote! {
            let mut #out: [#t; #n_out] = [0.0; #n_out];
            {
                #item
                #rt::kernels::conv_forward::<#t, __Geometry>(&__p[#w0..#b0], #bias, &#inp[..], &mut #out);
            }
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
        let g = Geom::new(self, lc.layer);
        let w0 = lc.layer.offset;
        let b0 = w0 + g.weights();
        let b1 = b0 + g.out_ch;
        let e = input_delta.map(|e| self.emit_input_delta(lc, inp, delta, e));
        if lc.layer.unroll {
            let mut per_weight: Vec<Vec<TokenStream>> = vec![Vec::new(); g.weights()];
            for (oi, ii, wi) in g.connections() {
                per_weight[wi].push(quote!(#delta[#oi] * #inp[#ii]));
            }
            let mut updates = Vec::new();
            for (wi, ts) in per_weight.iter().enumerate() {
                if ts.is_empty() {
                    continue;
                }
                let at = w0 + wi;
                updates.push(match mode {
                    Mode::Accumulate => quote!(__g[#at] += #(#ts)+*;),
                    Mode::Sgd => quote!(__p[#at] -= __lr * (#(#ts)+*);),
                });
            }
            if self.bias {
                let per = g.oh * g.ow;
                for o in 0..g.out_ch {
                    let cells = (o * per..(o + 1) * per).map(|oi| quote!(#delta[#oi]));
                    let at = b0 + o;
                    updates.push(match mode {
                        Mode::Accumulate => quote!(__g[#at] += #(#cells)+*;),
                        Mode::Sgd => quote!(__p[#at] -= __lr * (#(#cells)+*);),
                    });
                }
            }
            return quote! {
                #e
                #(#updates)*
            };
        }
        let item = g.item();
        let wlen = g.weights();
        let grads = match (mode, self.bias) {
            (Mode::Accumulate, true) => quote! {
                let (__gw, __gb) = __g[#w0..#b1].split_at_mut(#wlen);
                #rt::kernels::conv_weight_grad::<#t, __Geometry>(&#inp[..], &#delta[..], 1.0, __gw, ::core::option::Option::Some(__gb));
            },
            (Mode::Accumulate, false) => quote! {
                #rt::kernels::conv_weight_grad::<#t, __Geometry>(&#inp[..], &#delta[..], 1.0, &mut __g[#w0..#b0], ::core::option::Option::None);
            },
            (Mode::Sgd, true) => quote! {
                let (__pw, __pb) = __p[#w0..#b1].split_at_mut(#wlen);
                #rt::kernels::conv_weight_sgd::<#t, __Geometry>(&#inp[..], &#delta[..], __lr, __pw, ::core::option::Option::Some(__pb));
            },
            (Mode::Sgd, false) => quote! {
                #rt::kernels::conv_weight_sgd::<#t, __Geometry>(&#inp[..], &#delta[..], __lr, &mut __p[#w0..#b0], ::core::option::Option::None);
            },
        };
        quote! {
            #e
            {
                #item
                #grads
            }
        }
    }

    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let g = Geom::new(self, lc.layer);
        let n_in = lc.in_size();
        let w0 = lc.layer.offset;
        if lc.layer.unroll {
            let mut terms: Vec<Vec<TokenStream>> = vec![Vec::new(); n_in];
            for (oi, ii, wi) in g.connections() {
                let wi = w0 + wi;
                terms[ii].push(quote!(__p[#wi] * #delta[#oi]));
            }
            let cells = terms.iter().map(|ts| if ts.is_empty() { quote!(0.0) } else { quote!(#(#ts)+*) });
            return quote! { let #e: [#t; #n_in] = [#(#cells),*]; };
        }
        let item = g.item();
        let w1 = w0 + g.weights();
        quote! {
            let mut #e: [#t; #n_in] = [0.0; #n_in];
            {
                #item
                #rt::kernels::conv_input_grad::<#t, __Geometry>(&__p[#w0..#w1], &#delta[..], &mut #e);
            }
        }
    }

    fn r_pass(&self) -> bool {
        true
    }

    /// `z` as in forward, and `R{z} = W ⋆ R{a} + V_W ⋆ a + V_b`: straight-line over the
    /// connections when the layer is unrolled, else three calls of `kernels::conv_forward`.
    fn emit_r_forward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        rinp: &TokenStream,
        z: &Ident,
        rz: &Ident,
    ) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let g = Geom::new(self, lc.layer);
        let n_out = lc.out_size();
        let w0 = lc.layer.offset;
        let b0 = w0 + g.weights();
        let forward = self.emit_forward(lc, inp, z, false);
        if lc.layer.unroll {
            let mut terms: Vec<Vec<TokenStream>> = vec![Vec::new(); n_out];
            for (oi, ii, wi) in g.connections() {
                let wi = w0 + wi;
                terms[oi].push(quote!(__p[#wi] * #rinp[#ii] + __v[#wi] * #inp[#ii]));
            }
            let cells = terms.iter().enumerate().map(|(oi, ts)| {
                let bias = self.bias.then(|| {
                    let bi = b0 + oi / (g.oh * g.ow);
                    quote!(__v[#bi])
                });
                let all: Vec<TokenStream> = ts.iter().cloned().chain(bias).collect();
                if all.is_empty() { quote!(0.0) } else { quote!(#(#all)+*) }
            });
            return quote! {
                #forward
                let #rz: [#t; #n_out] = [#(#cells),*];
            };
        }
        let item = g.item();
        let b1 = b0 + g.out_ch;
        let vbias = if self.bias {
            quote!(::core::option::Option::Some(&__v[#b0..#b1]))
        } else {
            quote!(::core::option::Option::None)
        };
        quote! {
            #forward
            let mut #rz: [#t; #n_out] = [0.0; #n_out];
            {
                #item
                #rt::kernels::conv_forward::<#t, __Geometry>(&__p[#w0..#b0], ::core::option::Option::None, &#rinp[..], &mut #rz);
                let mut __rzv: [#t; #n_out] = [0.0; #n_out];
                #rt::kernels::conv_forward::<#t, __Geometry>(&__v[#w0..#b0], #vbias, &#inp[..], &mut __rzv);
                for (__r, __s) in #rz.iter_mut().zip(__rzv.iter()) {
                    *__r += *__s;
                }
            }
        }
    }

    /// `(H·v)_W = a ⋆ R{δ} + R{a} ⋆ δ`, `(H·v)_b = Σ R{δ}`; below, `e` as in backward and
    /// `R{e} = R{δ} ⋆full rot180(W) + δ ⋆full rot180(V_W)`.
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
        let rt = rt();
        let g = Geom::new(self, lc.layer);
        let n_in = lc.in_size();
        let w0 = lc.layer.offset;
        let b0 = w0 + g.weights();
        let b1 = b0 + g.out_ch;
        if lc.layer.unroll {
            let mut per_weight: Vec<Vec<TokenStream>> = vec![Vec::new(); g.weights()];
            let mut e_terms: Vec<Vec<TokenStream>> = vec![Vec::new(); n_in];
            let mut re_terms: Vec<Vec<TokenStream>> = vec![Vec::new(); n_in];
            for (oi, ii, wi) in g.connections() {
                per_weight[wi].push(quote!(#rd[#oi] * #inp[#ii] + #d[#oi] * #rinp[#ii]));
                let at = w0 + wi;
                e_terms[ii].push(quote!(__p[#at] * #d[#oi]));
                re_terms[ii].push(quote!(__p[#at] * #rd[#oi] + __v[#at] * #d[#oi]));
            }
            let mut updates = Vec::new();
            for (wi, ts) in per_weight.iter().enumerate() {
                if !ts.is_empty() {
                    let at = w0 + wi;
                    updates.push(quote!(__hv[#at] += #(#ts)+*;));
                }
            }
            if self.bias {
                let per = g.oh * g.ow;
                for o in 0..g.out_ch {
                    let cells = (o * per..(o + 1) * per).map(|oi| quote!(#rd[#oi]));
                    let at = b0 + o;
                    updates.push(quote!(__hv[#at] += #(#cells)+*;));
                }
            }
            let sum = |ts: &Vec<TokenStream>| if ts.is_empty() { quote!(0.0) } else { quote!(#(#ts)+*) };
            let below = below.map(|(e, re)| {
                let (es, res) = (e_terms.iter().map(sum), re_terms.iter().map(sum));
                quote! {
                    let #e: [#t; #n_in] = [#(#es),*];
                    let #re: [#t; #n_in] = [#(#res),*];
                }
            });
            return quote! {
                #(#updates)*
                #below
            };
        }
        let item = g.item();
        let wlen = g.weights();
        let grads = if self.bias {
            quote! {
                let (__hw, __hb) = __hv[#w0..#b1].split_at_mut(#wlen);
                #rt::kernels::conv_weight_grad::<#t, __Geometry>(&#inp[..], &#rd[..], 1.0, &mut *__hw, ::core::option::Option::Some(__hb));
                #rt::kernels::conv_weight_grad::<#t, __Geometry>(&#rinp[..], &#d[..], 1.0, __hw, ::core::option::Option::None);
            }
        } else {
            quote! {
                #rt::kernels::conv_weight_grad::<#t, __Geometry>(&#inp[..], &#rd[..], 1.0, &mut __hv[#w0..#b0], ::core::option::Option::None);
                #rt::kernels::conv_weight_grad::<#t, __Geometry>(&#rinp[..], &#d[..], 1.0, &mut __hv[#w0..#b0], ::core::option::Option::None);
            }
        };
        let below = below.map(|(e, re)| {
            let item = g.item();
            quote! {
                let mut #e: [#t; #n_in] = [0.0; #n_in];
                let mut #re: [#t; #n_in] = [0.0; #n_in];
                {
                    #item
                    #rt::kernels::conv_input_grad::<#t, __Geometry>(&__p[#w0..#b0], &#d[..], &mut #e);
                    #rt::kernels::conv_input_grad::<#t, __Geometry>(&__p[#w0..#b0], &#rd[..], &mut #re);
                    #rt::kernels::conv_input_grad::<#t, __Geometry>(&__v[#w0..#b0], &#d[..], &mut #re);
                }
            }
        });
        quote! {
            {
                #item
                #grads
            }
            #below
        }
    }

    fn doc_r_forward(&self, n: &DocNames, first: bool) -> String {
        let rprev = if first { String::new() } else { format!("W{} ⋆ R{{{}}} + ", n.k, n.input) };
        let b = if self.bias { format!(" + V_b{}", n.k) } else { String::new() };
        format!("R{{{}}} = {rprev}V_W{} ⋆ {}{b}", n.out, n.k, n.input)
    }

    fn doc_r_input_delta(&self, n: &DocNames, delta: &str, rdelta: &str) -> String {
        format!("({rdelta} ⋆full rot180(W{k}) + {delta} ⋆full rot180(V_W{k}))", k = n.k)
    }

    fn doc_r_param_grads(&self, n: &DocNames, first: bool) -> Vec<String> {
        let (k, prev) = (&n.k, &n.input);
        let mut out = vec![if first {
            format!("(H·v)_W{k} = {prev} ⋆ R{{δ{k}}}")
        } else {
            format!("(H·v)_W{k} = {prev} ⋆ R{{δ{k}}} + R{{{prev}}} ⋆ δ{k}")
        }];
        if self.bias {
            out.push(format!("(H·v)_b{k} = Σ_positions R{{δ{k}}}"));
        }
        out
    }

    /// `net.conv()` / `net.conv_mut()`: `DenseRef` views with one row of
    /// `in·kh·kw` weights per output channel (row-major `[in][kh][kw]` within a row).
    fn emit_accessors(&self, lc: &LayerCx) -> TokenStream {
        let layer = lc.layer;
        let g = Geom::new(self, layer);
        let row = g.in_ch * g.kh * g.kw;
        let summary = format!(
            "Layer `{}`: `{}<{}, {}>`, {:?} → {:?}{}; `weight()` has one row of {row} = {}·{}·{} weights per output channel (PyTorch `[out][in][kh][kw]`, row-major).",
            layer.name,
            self.name(),
            g.out_ch,
            self.act.name,
            layer.input,
            layer.output,
            if self.bias { "" } else { ", no bias" },
            g.in_ch,
            g.kh,
            g.kw,
        );
        super::matrix_accessors(lc, row, g.out_ch, self.bias, summary)
    }

    fn tile(&self) -> Option<&dyn TileKind> {
        Some(self)
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let b = if self.bias { format!(" + b{}", n.k) } else { String::new() };
        let mut opts = format!("kernel {}", show(self.kernel.v, self.dims));
        for (name, p, default) in
            [("stride", self.stride, [1, 1]), ("padding", self.padding, [0, 0]), ("dilation", self.dilation, [1, 1])]
        {
            if p.v != default {
                opts.push_str(&format!(", {name} {}", show(p.v, self.dims)));
            }
        }
        format!("{} = W{} ⋆ {}{b}   (cross-correlation, {opts})", n.out, n.k, n.input)
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        format!("{delta} ⋆full rot180(W{})", n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("W{} ⋆", n.k)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(super::weights_flow(&self.doc_factor(n)))
    }

    fn doc_param_grads(&self, n: &DocNames, delta: &str) -> Vec<String> {
        let mut out = vec![format!("∂L/∂W{} = {} ⋆ {delta}", n.k, n.input)];
        if self.bias {
            out.push(format!("∂L/∂b{} = Σ_positions {delta}", n.k));
        }
        out
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        Some(format!(
            "{} multiply-adds, {}",
            self.code_size(&layer.input, &layer.output),
            if layer.unroll {
                "unrolled (straight-line over its connections, literal indices)"
            } else {
                "runtime kernels with constant bounds"
            }
        ))
    }
}

/// Convolutions in the mini-batch path: the runtime's tile kernels
/// (`kernels::conv_tile_*`), the samples of a tile the vector dimension, whether the
/// per-sample code is straight-line or not.
impl TileKind for Conv {
    /// Measured (`benches/conv.rs`): the per-sample kernels are register-blocked along the
    /// output rows and reuse each weight across a row; the tile kernels win only with 16
    /// samples to a tile (cnn_digits), and lose with 8 or 4 (LeNet-5 on the default target:
    /// 3.7 and 4.0 ms against 3.4 ms per mini-batch of 64).
    fn min_tile(&self) -> usize {
        crate::batch::TILES[0]
    }

    fn emit_tile_forward(&self, lc: &LayerCx, at: &TokenStream, zt: &Ident) -> TokenStream {
        let rt = rt();
        let t = &lc.g.t;
        let g = Geom::new(self, lc.layer);
        let item = g.item();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let (w0, b0) = (lc.layer.offset, lc.layer.offset + g.weights());
        let b1 = b0 + g.out_ch;
        let bias = if self.bias {
            quote!(::core::option::Option::Some(&__p[#b0..#b1]))
        } else {
            quote!(::core::option::Option::None)
        };
        quote! {
            {
                #item
                #rt::kernels::conv_tile_forward::<__Geometry, #t, #n>(&__p[#w0..#b0], #bias, &#at, &mut #zt);
            }
        }
    }

    fn emit_tile_weight_grad(&self, lc: &LayerCx, dt: &Ident, input: &TileInput) -> TokenStream {
        let rt = rt();
        let t = &lc.g.t;
        let g = Geom::new(self, lc.layer);
        let item = g.item();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let at = &input.at;
        let w0 = lc.layer.offset;
        let end = w0 + g.weights() + if self.bias { g.out_ch } else { 0 };
        let bias = self.bias;
        quote! {
            {
                #item
                #rt::kernels::conv_tile_weight_grad::<__Geometry, #t, #n>(&#dt, &#at, __n, #bias, &mut __g[#w0..#end]);
            }
        }
    }

    fn emit_tile_input_grad(&self, lc: &LayerCx, dt: &Ident, et: &TokenStream) -> TokenStream {
        let rt = rt();
        let t = &lc.g.t;
        let g = Geom::new(self, lc.layer);
        let item = g.item();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let (w0, w1) = (lc.layer.offset, lc.layer.offset + g.weights());
        quote! {
            {
                #item
                #rt::kernels::conv_tile_input_grad::<__Geometry, #t, #n>(&__p[#w0..#w1], &#dt, &mut #et);
            }
        }
    }
}
