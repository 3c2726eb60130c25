//! Pooling, as PyTorch defines it: `MaxPool1d`/`MaxPool2d`, `AvgPool1d`/`AvgPool2d`
//! (options `kernel`, `stride` defaulting to the kernel, `padding`), and `GlobalAvgPool`
//! (`[C][..] → [C]`, the mean over every position, like `AdaptiveAvgPool2d(1)` followed
//! by a flatten).
//!
//! ```text
//! max        a[c][y][x] = max over the window of xpad (padding cells are −∞)
//!            ∂L/∂x: each window routes δ to its argmax, the first of tied maxima in
//!            row-major window order (recomputed from the input in backward)
//! average    a[c][y][x] = (1/(kh·kw)) · Σ over the window of xpad (zero padding counted:
//!            `count_include_pad = True`)
//!            ∂L/∂x: each window spreads δ/(kh·kw) over its cells inside the input
//! global     a[c] = (1/S) · Σ_s x[c][s]          ∂L/∂x[c][s] = δ[c]/S
//! ```
//!
//! Output size per dimension `floor((n + 2·p − k) / s) + 1`; the padding may be at most
//! half the kernel. Every pooling layer calls the runtime's `kernels::*_pool_*`,
//! monomorphized on a local geometry type (a pool has no weights to unroll over).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::conv::{PerDim, needed_shape, per_dim, show, spatial};
use super::{DocNames, Kind, LayerCx, TileInput, TileKind};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, size};
use crate::parse::TermArg;

/// Max or average.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Max,
    Avg,
}

/// A resolved window pooling layer.
#[derive(Clone, Debug)]
pub struct Pool {
    pub op: Op,
    /// 1 or 2.
    pub dims: usize,
    pub kernel: PerDim,
    pub stride: PerDim,
    pub padding: PerDim,
}

/// `GlobalAvgPool`.
#[derive(Clone, Copy, Debug)]
pub struct GlobalAvg;

/// Resolves `MaxPool1d<..>`.
pub fn resolve_max_1d(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Op::Max, 1)
}

/// Resolves `MaxPool2d<..>`.
pub fn resolve_max_2d(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Op::Max, 2)
}

/// Resolves `AvgPool1d<..>`.
pub fn resolve_avg_1d(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Op::Avg, 1)
}

/// Resolves `AvgPool2d<..>`.
pub fn resolve_avg_2d(cx: &mut Ctxt, l: &Ident, k: &Ident, a: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    resolve(cx, l, k, a, Op::Avg, 2)
}

/// Resolves `GlobalAvgPool` (no arguments).
pub fn resolve_global_avg(cx: &mut Ctxt, _: &Ident, _: &Ident, args: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    if let Some(a) = args.first() {
        cx.error_at(a.value.span(), "`GlobalAvgPool` takes no arguments");
        return None;
    }
    Some(Box::new(GlobalAvg))
}

fn kind_name(op: Op, dims: usize) -> &'static str {
    match (op, dims) {
        (Op::Max, 1) => "MaxPool1d",
        (Op::Max, _) => "MaxPool2d",
        (Op::Avg, 1) => "AvgPool1d",
        (Op::Avg, _) => "AvgPool2d",
    }
}

/// `MaxPool2d<2>`, `MaxPool2d<{ kernel = 3; stride = 2; padding = 1 }>`.
fn resolve(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], op: Op, dims: usize) -> Option<Box<dyn Kind>> {
    let name = kind_name(op, dims);
    let (mut kernel, mut stride, mut padding) = (None, None, PerDim { v: [0, 0], span: kind.span() });
    let mut seen: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, a) in args.iter().enumerate() {
        let option = match &a.name {
            Some(n) => n.to_string(),
            None if i == 0 => "kernel".to_owned(),
            None => {
                cx.error_at(
                    a.value.span(),
                    format!("`{name}` takes a kernel size, then named options in braces; found {}", a.value.describe()),
                );
                ok = false;
                continue;
            }
        };
        if seen.contains(&option) {
            cx.error_at(a.value.span(), format!("option `{option}` of layer `{layer}` is given twice"));
            ok = false;
            continue;
        }
        seen.push(option.clone());
        if !matches!(option.as_str(), "kernel" | "stride" | "padding") {
            let at = a.name.as_ref().map_or(a.value.span(), Ident::span);
            cx.error_at(at, format!("unknown option `{option}` of `{name}`; expected `kernel`, `stride` or `padding`"));
            ok = false;
            continue;
        }
        match per_dim(cx, &a.value, &option, dims, name) {
            Some(p) if option == "kernel" => kernel = Some(p),
            Some(p) if option == "stride" => stride = Some(p),
            Some(p) => padding = p,
            None => ok = false,
        }
    }
    let Some(kernel) = kernel else {
        if ok {
            cx.error(
                kind,
                format!("layer `{layer}` needs a kernel size, as in `{name}<2>` or `{name}<{{ kernel = 2 }}>`"),
            );
        }
        return None;
    };
    let stride = stride.unwrap_or(kernel);
    ok.then(|| Box::new(Pool { op, dims, kernel, stride, padding }) as Box<dyn Kind>)
}

/// `floor((n + 2·p − k) / s) + 1`, or `None` if no window fits.
fn out_len(n: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    let padded = n.checked_add(p.checked_mul(2)?)?;
    if s == 0 || k == 0 || k > padded {
        return None;
    }
    Some((padded - k) / s + 1)
}

impl Pool {
    /// The local geometry type for the kernels.
    fn item(&self, layer: &Layer) -> TokenStream {
        let rt = rt();
        let (ch, ih, iw) = spatial(&layer.input, self.dims);
        let [kh, kw] = self.kernel.v;
        let [sh, sw] = self.stride.v;
        let [ph, pw] = self.padding.v;
        let (oh, ow) = (out_len(ih, kh, sh, ph).unwrap_or(0), out_len(iw, kw, sw, pw).unwrap_or(0));
        quote! {
            struct __Geometry;
            impl #rt::kernels::PoolGeometry for __Geometry {
                const CH: usize = #ch;
                const IN_H: usize = #ih;
                const IN_W: usize = #iw;
                const K_H: usize = #kh;
                const K_W: usize = #kw;
                const STRIDE_H: usize = #sh;
                const STRIDE_W: usize = #sw;
                const PAD_H: usize = #ph;
                const PAD_W: usize = #pw;
                const OUT_H: usize = #oh;
                const OUT_W: usize = #ow;
            }
        }
    }

    fn op_name(&self) -> &'static str {
        match self.op {
            Op::Max => "maxpool",
            Op::Avg => "avgpool",
        }
    }
}

impl Kind for Pool {
    fn name(&self) -> &'static str {
        kind_name(self.op, self.dims)
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
        for (opt, p) in [("kernel", self.kernel), ("stride", self.stride)] {
            if p.v.contains(&0) {
                cx.error_at(
                    p.span,
                    format!("layer `{layer}` has {opt} {}; {opt} must be at least 1", show(p.v, self.dims)),
                );
                ok = false;
            }
        }
        if ok && (0..2).any(|i| 2 * self.padding.v[i] > self.kernel.v[i]) {
            cx.error_at(
                self.padding.span,
                format!(
                    "layer `{layer}` has padding {} with kernel {}; pooling padding must be at most half the kernel",
                    show(self.padding.v, self.dims),
                    show(self.kernel.v, self.dims)
                ),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let (c, ih, iw) = spatial(input, self.dims);
        let oh = out_len(ih, self.kernel.v[0], self.stride.v[0], self.padding.v[0]);
        let ow = out_len(iw, self.kernel.v[1], self.stride.v[1], self.padding.v[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            let (input, zero) = if self.dims == 2 { (format!("{ih}×{iw}"), "0×0") } else { (iw.to_string(), "0") };
            cx.error_at(
                self.kernel.span,
                format!(
                    "layer `{layer}` would produce {zero} outputs: input {input}, kernel {}, padding {}",
                    show(self.kernel.v, self.dims),
                    show(self.padding.v, self.dims)
                ),
            );
            return None;
        };
        Some(if self.dims == 2 { vec![c, oh, ow] } else { vec![c, ow] })
    }

    fn code_size(&self, _input: &[usize], output: &[usize]) -> usize {
        size(output).saturating_mul(self.kernel.v[0] * self.kernel.v[1])
    }

    fn backward_reads_input(&self) -> bool {
        self.op == Op::Max
    }

    fn input_delta_reads_input(&self) -> bool {
        self.op == Op::Max
    }

    /// Average pooling always; max pooling where windows do not overlap, so that its
    /// backward can route δ in place on the tile that holds its input.
    fn tile(&self) -> Option<&dyn TileKind> {
        let apart = (0..2).all(|i| self.stride.v[i] >= self.kernel.v[i]);
        (self.op == Op::Avg || apart).then_some(self as &dyn TileKind)
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, _train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n_out = lc.out_size();
        let item = self.item(lc.layer);
        let kernel = match self.op {
            Op::Max => quote!(max_pool_forward),
            Op::Avg => quote!(avg_pool_forward),
        };
        quote! {
            let mut #out: [#t; #n_out] = [0.0; #n_out];
            {
                #item
                #rt::kernels::#kernel::<#t, __Geometry>(&#inp[..], &mut #out);
            }
        }
    }

    fn emit_input_delta(&self, lc: &LayerCx, inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n_in = lc.in_size();
        let item = self.item(lc.layer);
        let call = match self.op {
            Op::Max => quote!(#rt::kernels::max_pool_backward::<#t, __Geometry>(&#inp[..], &#delta[..], &mut #e)),
            Op::Avg => quote!(#rt::kernels::avg_pool_backward::<#t, __Geometry>(&#delta[..], &mut #e)),
        };
        quote! {
            let mut #e: [#t; #n_in] = [0.0; #n_in];
            {
                #item
                #call;
            }
        }
    }

    fn r_pass(&self) -> bool {
        true
    }

    /// Max: `R{a}` is `R{x}` at each window's argmax (the argmax of `x` does not move
    /// along `v`); average: the pool of `R{x}`, the layer being linear.
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
        let n_out = lc.out_size();
        let item = self.item(lc.layer);
        let forward = self.emit_forward(lc, inp, z, false);
        let call = match self.op {
            Op::Max => quote!(#rt::kernels::max_pool_r_forward::<#t, __Geometry>(&#inp[..], &#rinp[..], &mut #rz)),
            Op::Avg => quote!(#rt::kernels::avg_pool_forward::<#t, __Geometry>(&#rinp[..], &mut #rz)),
        };
        quote! {
            #forward
            let mut #rz: [#t; #n_out] = [0.0; #n_out];
            {
                #item
                #call;
            }
        }
    }

    /// No parameters; below, `e` as in backward and `R{e}` the same routing (max) or
    /// spreading (average) of `R{δ}`.
    fn emit_r_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        _rinp: &TokenStream,
        d: &Ident,
        rd: &Ident,
        below: Option<(&Ident, &Ident)>,
    ) -> TokenStream {
        let Some((e, re)) = below else { return TokenStream::new() };
        let de = self.emit_input_delta(lc, inp, d, e);
        let rde = self.emit_input_delta(lc, inp, rd, re);
        quote! { #de #rde }
    }

    fn doc_r_forward(&self, n: &DocNames, _first: bool) -> String {
        match self.op {
            Op::Max => format!("R{{{}}} = R{{{}}} at each window's argmax of {}", n.out, n.input, n.input),
            Op::Avg => format!("R{{{}}} = {}(R{{{}}})", n.out, self.op_name(), n.input),
        }
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let mut opts = format!("kernel {}", show(self.kernel.v, self.dims));
        if self.stride.v != self.kernel.v {
            opts.push_str(&format!(", stride {}", show(self.stride.v, self.dims)));
        }
        if self.padding.v != [0, 0] {
            opts.push_str(&format!(", padding {}", show(self.padding.v, self.dims)));
        }
        format!("{} = {}({})   ({opts})", n.out, self.op_name(), n.input)
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        match self.op {
            Op::Max => format!("route{}({delta})   (δ to each window's argmax)", n.k),
            Op::Avg => {
                format!("spread{}({delta})   (δ/{} to each window's cells)", n.k, self.kernel.v[0] * self.kernel.v[1])
            }
        }
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        match self.op {
            Op::Max => format!("route{}", n.k),
            Op::Avg => format!("spread{}", n.k),
        }
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(match self.op {
            Op::Max => format!(
                "[route{}] passes each window's δ to its maximum only: the other inputs get no gradient from it",
                n.k
            ),
            Op::Avg => format!(
                "[spread{}] divides each window's δ among its cells: the gradient per input shrinks by the window size",
                n.k
            ),
        })
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        Some(format!(
            "{} window reads, runtime kernel with constant bounds",
            self.code_size(&layer.input, &layer.output)
        ))
    }
}

/// The samples of a tile being the vector dimension, each window's cells are whole tiles.
impl TileKind for Pool {
    fn emit_tile_forward(&self, lc: &LayerCx, at: &TokenStream, zt: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let item = self.item(lc.layer);
        let kernel = match self.op {
            Op::Max => quote!(max_pool_tile_forward),
            Op::Avg => quote!(avg_pool_tile_forward),
        };
        quote! {
            {
                #item
                #rt::kernels::#kernel::<#t, __Geometry, #n>(&#at, &mut #zt);
            }
        }
    }

    fn emit_tile_weight_grad(&self, _lc: &LayerCx, _dt: &Ident, _input: &TileInput) -> TokenStream {
        TokenStream::new()
    }

    /// `et` holds the layer's input on entry (the forward's tile): max pooling reads its
    /// argmax from it before overwriting it.
    fn emit_tile_input_grad(&self, lc: &LayerCx, dt: &Ident, et: &TokenStream) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let item = self.item(lc.layer);
        let call = match self.op {
            Op::Max => quote!(#rt::kernels::max_pool_tile_backward_in_place::<#t, __Geometry, #n>(&#dt, &mut #et)),
            Op::Avg => quote!(#rt::kernels::avg_pool_tile_backward::<#t, __Geometry, #n>(&#dt, &mut #et)),
        };
        quote! {
            {
                #item
                #call;
            }
        }
    }
}

impl TileKind for GlobalAvg {
    fn emit_tile_forward(&self, lc: &LayerCx, at: &TokenStream, zt: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let ch = lc.out_size();
        let spatial = lc.in_size() / ch.max(1);
        quote! { #rt::kernels::global_avg_pool_tile_forward::<#t, #ch, #spatial, #n>(&#at, &mut #zt); }
    }

    fn emit_tile_weight_grad(&self, _lc: &LayerCx, _dt: &Ident, _input: &TileInput) -> TokenStream {
        TokenStream::new()
    }

    fn emit_tile_input_grad(&self, lc: &LayerCx, dt: &Ident, et: &TokenStream) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n = crate::batch::tile_size(lc.g.net).unwrap_or(crate::batch::TILES[0]);
        let ch = lc.out_size();
        let spatial = lc.in_size() / ch.max(1);
        quote! { #rt::kernels::global_avg_pool_tile_backward::<#t, #ch, #spatial, #n>(&#dt, &mut #et); }
    }
}

impl Kind for GlobalAvg {
    fn name(&self) -> &'static str {
        "GlobalAvgPool"
    }

    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, span: Span, input: &[usize]) -> Option<Shape> {
        if input.len() < 2 {
            cx.error_at(
                span,
                format!(
                    "layer `{layer}` is `GlobalAvgPool`, which needs an input of shape [channels, ..], but its input has shape {input:?}"
                ),
            );
            return None;
        }
        Some(vec![input[0]])
    }

    fn code_size(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input)
    }

    fn backward_reads_input(&self) -> bool {
        false
    }

    fn tile(&self) -> Option<&dyn TileKind> {
        Some(self)
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, _train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let ch = lc.out_size();
        let spatial = lc.in_size() / ch.max(1);
        quote! {
            let mut #out: [#t; #ch] = [0.0; #ch];
            #rt::kernels::global_avg_pool_forward::<#t, #ch, #spatial>(&#inp[..], &mut #out);
        }
    }

    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n_in = lc.in_size();
        let ch = lc.out_size();
        let spatial = n_in / ch.max(1);
        quote! {
            let mut #e: [#t; #n_in] = [0.0; #n_in];
            #rt::kernels::global_avg_pool_backward::<#t, #ch, #spatial>(&#delta[..], &mut #e);
        }
    }

    fn r_pass(&self) -> bool {
        true
    }

    /// Linear: `R{a}` is the mean of `R{x}`.
    fn emit_r_forward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        rinp: &TokenStream,
        z: &Ident,
        rz: &Ident,
    ) -> TokenStream {
        let forward = self.emit_forward(lc, inp, z, false);
        let rforward = self.emit_forward(lc, rinp, rz, false);
        quote! { #forward #rforward }
    }

    fn emit_r_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        _rinp: &TokenStream,
        d: &Ident,
        rd: &Ident,
        below: Option<(&Ident, &Ident)>,
    ) -> TokenStream {
        let Some((e, re)) = below else { return TokenStream::new() };
        let de = self.emit_input_delta(lc, inp, d, e);
        let rde = self.emit_input_delta(lc, inp, rd, re);
        quote! { #de #rde }
    }

    fn doc_r_forward(&self, n: &DocNames, _first: bool) -> String {
        format!("R{{{}}} = mean over positions(R{{{}}})", n.out, n.input)
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        format!("{} = mean over positions({})", n.out, n.input)
    }

    fn doc_input_delta(&self, _n: &DocNames, delta: &str) -> String {
        format!("{delta}/positions, to every position")
    }

    fn doc_factor(&self, _n: &DocNames) -> String {
        "1/positions".to_owned()
    }

    fn doc_flow(&self, _n: &DocNames) -> Option<String> {
        Some("[1/positions] divides δ among every position: the gradient per input shrinks by their number".to_owned())
    }
}
