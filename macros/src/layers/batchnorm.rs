//! `BatchNorm<{ eps = 1e-5, momentum = 0.1, affine = true }>`: batch normalization as
//! PyTorch's `BatchNorm1d` (on `[features]` and `[C][L]`) and `BatchNorm2d` (on
//! `[C][H][W]`): statistics per feature, or per channel over the batch and every spatial
//! position.
//!
//! ```text
//! training   over the m = B·S values xᵢ of a channel (B samples, S spatial positions):
//!            μ = (1/m)·Σ xᵢ               σ² = (1/m)·Σ (xᵢ − μ)²   (biased)
//!            x̂ᵢ = (xᵢ − μ)·r              r = 1/√(σ² + ε)
//!            yᵢ = γ·x̂ᵢ + β                (x̂ᵢ alone without `affine`)
//!            running_mean ← (1 − momentum)·running_mean + momentum·μ
//!            running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)   (unbiased)
//!            num_batches_tracked ← num_batches_tracked + 1
//! inference  y = γ·(x − running_mean)/√(running_var + ε) + β
//! backward   with gᵢ = ∂L/∂yᵢ, over the same m values:
//!            ∂L/∂γ = Σ gᵢ·x̂ᵢ              ∂L/∂β = Σ gᵢ
//!            ∂L/∂x̂ᵢ = γ·gᵢ
//!            ∂L/∂σ² = Σ ∂L/∂x̂ᵢ·(xᵢ − μ)·(−½)·r³ = −(γ·r/2)·r·Σ gᵢ·x̂ᵢ
//!            ∂L/∂μ  = −r·Σ ∂L/∂x̂ᵢ + ∂L/∂σ²·(−2/m)·Σ (xᵢ − μ) = −γ·r·Σ gᵢ       (Σ (xᵢ − μ) = 0)
//!            ∂L/∂xᵢ = ∂L/∂x̂ᵢ·r + ∂L/∂σ²·2(xᵢ − μ)/m + ∂L/∂μ/m
//!                   = γ·r·(gᵢ − (1/m)·Σ gⱼ − x̂ᵢ·(1/m)·Σ gⱼ·x̂ⱼ)          (the form evaluated)
//! ```
//!
//! Parameters `weight` (γ, init 1) and `bias` (β, init 0), shape `[C]`; buffers
//! `running_mean` (0), `running_var` (1), shape `[C]`, and `num_batches_tracked` (an
//! integer, shape `[]`), PyTorch's names, defaults and state-dict layout. The training
//! pass keeps x̂ in the trace and r per channel in the batch statistics; backward reads
//! both and never the input.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::{BatchInput, BufferTensor, DocNames, Kind, LayerCx, Tensor, TensorInit};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, size};
use crate::parse::{Term, TermArg};

/// A resolved batch normalization layer.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub eps: f64,
    pub momentum: f64,
    pub affine: bool,
}

/// Resolves `BatchNorm` and `BatchNorm<{ eps = .., momentum = .., affine = .. }>`.
pub fn resolve(cx: &mut Ctxt, layer: &Ident, _kind: &Ident, args: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    let mut bn = BatchNorm { eps: 1e-5, momentum: 0.1, affine: true };
    let mut seen: Vec<&Ident> = Vec::new();
    let mut ok = true;
    for a in args {
        let Some(name) = &a.name else {
            cx.error_at(
                a.value.span(),
                format!(
                    "`BatchNorm` takes only named options, as in `BatchNorm<{{ eps = 1e-5, momentum = 0.1 }}>`; found {}",
                    a.value.describe()
                ),
            );
            ok = false;
            continue;
        };
        if seen.contains(&name) {
            cx.error(name, format!("option `{name}` of layer `{layer}` is given twice"));
            ok = false;
            continue;
        }
        seen.push(name);
        match name.to_string().as_str() {
            "eps" => match a.value.as_f64() {
                Some(v) if v > 0.0 && v.is_finite() => bn.eps = v,
                _ => {
                    cx.error_at(
                        a.value.span(),
                        format!("expected `eps` as a positive number such as `1e-5`, found {}", a.value.describe()),
                    );
                    ok = false;
                }
            },
            "momentum" => match a.value.as_f64() {
                Some(v) if (0.0..=1.0).contains(&v) => bn.momentum = v,
                _ => {
                    cx.error_at(
                        a.value.span(),
                        format!(
                            "expected `momentum` as a number in [0, 1] such as `0.1`, found {}",
                            a.value.describe()
                        ),
                    );
                    ok = false;
                }
            },
            "affine" => match &a.value {
                Term::Bool { value, .. } => bn.affine = *value,
                other => {
                    cx.error_at(
                        other.span(),
                        format!("expected `affine = true` or `affine = false`, found {}", other.describe()),
                    );
                    ok = false;
                }
            },
            other => {
                cx.error(
                    name,
                    format!("unknown option `{other}` of `BatchNorm`; expected `eps`, `momentum` or `affine`"),
                );
                ok = false;
            }
        }
    }
    ok.then(|| Box::new(bn) as Box<dyn Kind>)
}

/// Channels and spatial positions of an input shape: `[F]` → (F, 1), `[C][L]` → (C, L),
/// `[C][H][W]` → (C, H·W).
fn channels(input: &[usize]) -> (usize, usize) {
    match input.split_first() {
        Some((&c, rest)) => (c, size(rest)),
        None => (1, 1),
    }
}

/// Offsets of the layer's tensors, buffers and statistics.
struct Offsets {
    c: usize,
    s: usize,
    gamma: usize,
    beta: usize,
    mean: usize,
    var: usize,
    count: usize,
    inv: usize,
    xhat: usize,
    y: usize,
}

impl Offsets {
    fn new(layer: &Layer) -> Self {
        let (c, s) = channels(&layer.input);
        Offsets {
            c,
            s,
            gamma: layer.offset,
            beta: layer.offset + c,
            mean: layer.buffer_offset,
            var: layer.buffer_offset + c,
            count: layer.count_offset,
            inv: layer.stat_offset,
            xhat: layer.trace.extra.unwrap_or(0),
            y: layer.trace.y.unwrap_or(0),
        }
    }
}

impl BatchNorm {
    /// `γ[c]·k` or `k` without `affine`.
    fn scaled(&self, o: &Offsets, k: TokenStream) -> TokenStream {
        let gamma = o.gamma;
        if self.affine { quote!(__p[#gamma + __c] * #k) } else { k }
    }

    /// `+ β[c]`, or nothing without `affine`.
    fn shift(&self, o: &Offsets) -> TokenStream {
        let beta = o.beta;
        if self.affine { quote!(+ __p[#beta + __c]) } else { TokenStream::new() }
    }
}

impl Kind for BatchNorm {
    fn name(&self) -> &'static str {
        "BatchNorm"
    }

    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, span: Span, input: &[usize]) -> Option<Shape> {
        if input.len() > 3 {
            cx.error_at(
                span,
                format!(
                    "layer `{layer}` is `BatchNorm`, which normalizes `[features]`, `[C, L]` or `[C, H, W]` \
                     (as `BatchNorm1d`/`BatchNorm2d`), but its input has shape {input:?}"
                ),
            );
            return None;
        }
        Some(input.to_vec())
    }

    fn tensors(&self, input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        if !self.affine {
            return Vec::new();
        }
        let (c, _) = channels(input);
        vec![
            Tensor { suffix: "weight", shape: vec![c], init: TensorInit::Ones },
            Tensor { suffix: "bias", shape: vec![c], init: TensorInit::Zeros },
        ]
    }

    fn buffers(&self, input: &[usize], _output: &[usize]) -> Vec<BufferTensor> {
        let (c, _) = channels(input);
        vec![
            BufferTensor { suffix: "running_mean", shape: vec![c], init: 0.0, integer: false },
            BufferTensor { suffix: "running_var", shape: vec![c], init: 1.0, integer: false },
            BufferTensor { suffix: "num_batches_tracked", shape: Vec::new(), init: 0.0, integer: true },
        ]
    }

    fn code_size(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input)
    }

    fn backward_reads_input(&self) -> bool {
        false
    }

    fn trace_extra(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input)
    }

    fn batch_level(&self) -> bool {
        true
    }

    fn batch_stats(&self, input: &[usize], _output: &[usize]) -> usize {
        channels(input).0
    }

    /// Inference: the running statistics, folded into one scale and shift per channel.
    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, train: bool) -> TokenStream {
        if train {
            return quote! { ::core::compile_error!("internal error: batch norm has no per-sample training forward"); };
        }
        let (t, rt) = (&lc.g.t, rt());
        let o = Offsets::new(lc.layer);
        let (c, s, n) = (o.c, o.s, o.c * o.s);
        let (mean, var) = (o.mean, o.var);
        let eps = lc.g.lit(self.eps);
        let k = self.scaled(&o, quote!(__r));
        let shift = self.shift(&o);
        quote! {
            let mut #out: [#t; #n] = [0.0; #n];
            for __c in 0..#c {
                let __r = 1.0 / <#t as #rt::Scalar>::sqrt(__bf[#var + __c] + #eps);
                let __k = #k;
                let __mu = __bf[#mean + __c];
                for __j in 0..#s {
                    let __i = __c * #s + __j;
                    #out[__i] = (#inp[__i] - __mu) * __k #shift;
                }
            }
        }
    }

    /// Inference mode: `∂L/∂x = δ·γ/√(running_var + ε)`.
    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let (t, rt) = (&lc.g.t, rt());
        let o = Offsets::new(lc.layer);
        let (c, s, n, var) = (o.c, o.s, o.c * o.s, o.var);
        let eps = lc.g.lit(self.eps);
        let k = self.scaled(&o, quote!(__r));
        quote! {
            let mut #e: [#t; #n] = [0.0; #n];
            for __c in 0..#c {
                let __r = 1.0 / <#t as #rt::Scalar>::sqrt(__bf[#var + __c] + #eps);
                let __k = #k;
                for __j in 0..#s {
                    let __i = __c * #s + __j;
                    #e[__i] = #delta[__i] * __k;
                }
            }
        }
    }

    /// Two passes over the batch for μ and the biased σ² (exact, not a running sum of
    /// squares), one that writes x̂ and y into each sample's trace, then the running
    /// statistics when `__run` asks for them.
    fn emit_batch_forward(&self, lc: &LayerCx, input: &BatchInput) -> TokenStream {
        let (t, rt) = (&lc.g.t, rt());
        let o = Offsets::new(lc.layer);
        let (c, s, n) = (o.c, o.s, o.c * o.s);
        let (mean, var, count, inv, xhat, y) = (o.mean, o.var, o.count, o.inv, o.xhat, o.y);
        let row = &input.row;
        let eps = lc.g.lit(self.eps);
        let mom = lc.g.lit(self.momentum);
        let keep = lc.g.lit(1.0 - self.momentum);
        let k = self.scaled(&o, quote!(__xh));
        let shift = self.shift(&o);
        let name = lc.layer.name.to_string();
        quote! {
            {
                ::core::assert!(
                    __n * #s > 1,
                    "batch norm `{}` needs more than one value per channel in training, got {}",
                    #name,
                    __n * #s
                );
                let __m: #t = <#t as #rt::Scalar>::from_usize(__n * #s);
                let mut __mu: [#t; #c] = [0.0; #c];
                for __s in 0..__n {
                    let __xr: &[#t; #n] = #row;
                    for __c in 0..#c {
                        for __j in 0..#s {
                            __mu[__c] += __xr[__c * #s + __j];
                        }
                    }
                }
                for __c in 0..#c {
                    __mu[__c] /= __m;
                }
                let mut __var: [#t; #c] = [0.0; #c];
                for __s in 0..__n {
                    let __xr: &[#t; #n] = #row;
                    for __c in 0..#c {
                        for __j in 0..#s {
                            let __dv = __xr[__c * #s + __j] - __mu[__c];
                            __var[__c] += __dv * __dv;
                        }
                    }
                }
                for __c in 0..#c {
                    __var[__c] /= __m;
                    __st[#inv + __c] = 1.0 / <#t as #rt::Scalar>::sqrt(__var[__c] + #eps);
                }
                for __s in 0..__n {
                    let __xr: [#t; #n] = *#row;
                    let __tr = &mut __ws[__s];
                    for __c in 0..#c {
                        let __r = __st[#inv + __c];
                        for __j in 0..#s {
                            let __i = __c * #s + __j;
                            let __xh = (__xr[__i] - __mu[__c]) * __r;
                            __tr[#xhat + __i] = __xh;
                            __tr[#y + __i] = #k #shift;
                        }
                    }
                }
                if let ::core::option::Option::Some(__rb) = __run.as_mut() {
                    // PyTorch: the running variance is updated with the unbiased estimate.
                    let __unbiased: #t = __m / (__m - 1.0);
                    for __c in 0..#c {
                        __rb[#mean + __c] = #keep * __rb[#mean + __c] + #mom * __mu[__c];
                        __rb[#var + __c] = #keep * __rb[#var + __c] + #mom * __var[__c] * __unbiased;
                    }
                }
                if let ::core::option::Option::Some(__cb) = __cnt.as_mut() {
                    __cb[#count] += 1;
                }
            }
        }
    }

    /// Sums of g and g·x̂ per channel over the batch (the parameter gradients), then
    /// `∂L/∂xᵢ = γ·r·(gᵢ − Σg/m − x̂ᵢ·Σg·x̂/m)` over each sample's delta row.
    fn emit_batch_backward(&self, lc: &LayerCx, input_delta: bool) -> TokenStream {
        let (t, rt) = (&lc.g.t, rt());
        let o = Offsets::new(lc.layer);
        let (c, s) = (o.c, o.s);
        let (inv, xhat, gamma, beta) = (o.inv, o.xhat, o.gamma, o.beta);
        let d0 = lc.g.net.trace_len;
        let grads = self.affine.then(|| {
            quote! {
                for __c in 0..#c {
                    __g[#gamma + __c] += __sgx[__c];
                    __g[#beta + __c] += __sg[__c];
                }
            }
        });
        let k = self.scaled(&o, quote!(__st[#inv + __c]));
        let dx = input_delta.then(|| {
            quote! {
                let __m: #t = <#t as #rt::Scalar>::from_usize(__n * #s);
                for __s in 0..__n {
                    let __r = &mut __ws[__s];
                    for __c in 0..#c {
                        let __k = #k;
                        let __mg = __sg[__c] / __m;
                        let __mgx = __sgx[__c] / __m;
                        for __j in 0..#s {
                            let __i = __c * #s + __j;
                            __r[#d0 + __i] = __k * (__r[#d0 + __i] - __mg - __r[#xhat + __i] * __mgx);
                        }
                    }
                }
            }
        });
        quote! {
            {
                let mut __sg: [#t; #c] = [0.0; #c];
                let mut __sgx: [#t; #c] = [0.0; #c];
                for __s in 0..__n {
                    let __r = &__ws[__s];
                    for __c in 0..#c {
                        for __j in 0..#s {
                            let __i = __c * #s + __j;
                            __sg[__c] += __r[#d0 + __i];
                            __sgx[__c] += __r[#d0 + __i] * __r[#xhat + __i];
                        }
                    }
                }
                #grads
                #dx
            }
        }
    }

    fn emit_accessors(&self, lc: &LayerCx) -> TokenStream {
        let (t, rt) = (&lc.g.t, rt());
        let layer = lc.layer;
        let o = Offsets::new(layer);
        let c = o.c;
        let name = &layer.name;
        let (mean, var, count) = (o.mean, o.var, o.count);
        let running = quote::format_ident!("{}_running", name);
        let set = quote::format_ident!("set_{}_running", name);
        let mut doc = format!(
            "Layer `{name}`: `BatchNorm<{{ eps = {:?}, momentum = {:?}, affine = {} }}>` over {c} channels: \
             `weight` (γ) and `bias` (β){}.",
            self.eps,
            self.momentum,
            self.affine,
            if self.affine { "" } else { " absent (`affine = false`)" }
        );
        for line in &layer.docs {
            doc.push('\n');
            doc.push_str(line);
        }
        let doc_run = format!(
            "Layer `{name}`'s buffers: (`running_mean`, `running_var`, `num_batches_tracked`), as PyTorch's state dict."
        );
        let doc_set = format!("Sets layer `{name}`'s running statistics and `num_batches_tracked`.");
        let params = self.affine.then(|| {
            let (g0, b0, b1) = (o.gamma, o.beta, o.beta + c);
            let name_mut = quote::format_ident!("{}_mut", name);
            let doc_mut = format!("Layer `{name}`'s (γ, β), mutably.");
            quote! {
                #[doc = #doc]
                #[inline]
                #[must_use]
                pub fn #name(&self) -> (&[#t; #c], &[#t; #c]) {
                    (#rt::view::array(&self.params[#g0..#b0]), #rt::view::array(&self.params[#b0..#b1]))
                }

                #[doc = #doc_mut]
                #[inline]
                #[must_use]
                pub fn #name_mut(&mut self) -> (&mut [#t; #c], &mut [#t; #c]) {
                    let (__gm, __bt) = self.params[#g0..#b1].split_at_mut(#c);
                    (#rt::view::array_mut(__gm), #rt::view::array_mut(__bt))
                }
            }
        });
        let (m1, v1) = (mean + c, var + c);
        quote! {
            #params

            #[doc = #doc_run]
            #[inline]
            #[must_use]
            pub fn #running(&self) -> (&[#t; #c], &[#t; #c], i64) {
                (
                    #rt::view::array(&self.buffers[#mean..#m1]),
                    #rt::view::array(&self.buffers[#var..#v1]),
                    self.counts[#count],
                )
            }

            #[doc = #doc_set]
            #[inline]
            pub fn #set(&mut self, running_mean: &[#t; #c], running_var: &[#t; #c], num_batches_tracked: i64) {
                self.buffers[#mean..#m1].copy_from_slice(running_mean);
                self.buffers[#var..#v1].copy_from_slice(running_var);
                self.counts[#count] = num_batches_tracked;
            }
        }
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let affine = if self.affine { format!("γ{k}·x̂{k} + β{k}", k = n.k) } else { format!("x̂{}", n.k) };
        format!(
            "{} = {affine}, x̂{k} = ({} − μ_B)·r{k}, r{k} = 1/√(σ²_B + ε) per channel over the mini-batch \
             (inference: running_mean, running_var)",
            n.out,
            n.input,
            k = n.k
        )
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        let g = if self.affine { format!("γ{}·", n.k) } else { String::new() };
        format!("{g}r{k}·({delta} − mean_B({delta}) − x̂{k}·mean_B({delta}·x̂{k}))", k = n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("∂x̂{}/∂{}", n.k, n.input)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(format!(
            "[{}]: δ is scaled by γ/σ of the batch and loses its batch mean and its component along x̂, so the scale of the layers below does not compound through it",
            self.doc_factor(n)
        ))
    }

    fn doc_param_grads(&self, n: &DocNames, delta: &str) -> Vec<String> {
        let k = &n.k;
        let mut out = Vec::new();
        if self.affine {
            out.push(format!("∂L/∂γ{k} = Σ_B {delta}·x̂{k}"));
            out.push(format!("∂L/∂β{k} = Σ_B {delta}"));
        }
        out.push(format!(
            "through x̂{k}, σ²_B and μ_B: ∂L/∂x̂{k} = γ{k}·{delta}, ∂L/∂σ²_B = −½·r{k}³·Σ_B ∂L/∂x̂{k}·({i} − μ_B), \
             ∂L/∂μ_B = −r{k}·Σ_B ∂L/∂x̂{k} (the σ² term vanishes: Σ ({i} − μ_B) = 0), summed into the line above",
            i = n.input
        ));
        out
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        let (c, s) = channels(&layer.input);
        Some(format!("batch norm over {c} channels × {s} positions; training layer by layer over the whole mini-batch"))
    }
}
