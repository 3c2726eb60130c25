//! `LayerNorm<{ eps = 1e-5; elementwise_affine = true; bias = true }>`: layer
//! normalization as `torch.nn.LayerNorm(normalized_shape)`, where `normalized_shape` is
//! the whole per-sample shape of the layer's input (`[N]` after a dense layer, `[C, L]`
//! or `[C, H, W]` after a convolution). Per sample; the output has the input's shape.
//!
//! ```text
//! forward    μ = (1/N)·Σᵢ xᵢ            σ² = (1/N)·Σᵢ (xᵢ − μ)²   (biased, as PyTorch)
//!            r = 1/√(σ² + ε)           x̂ = (x − μ)·r
//!            y = γ ⊙ x̂ + β              γ = `layer.weight` (1s), β = `layer.bias` (0s),
//!                                       both of the normalized shape
//! backward   δ = ∂L/∂y
//!            ∂L/∂γ = δ ⊙ x̂             ∂L/∂β = δ
//!            g = γ ⊙ δ
//!            ∂L/∂x = r·(g − mean(g) − x̂ ⊙ mean(g ⊙ x̂))
//! ```
//!
//! The input delta is the chain rule through x̂, σ² and μ, simplified: ∂x̂ᵢ/∂xⱼ =
//! r·(𝟙ᵢⱼ − 1/N − x̂ᵢx̂ⱼ/N), so Σᵢ gᵢ·∂x̂ᵢ/∂xⱼ is the line above. The training forward
//! keeps x̂ and r in the trace (`N + 1` scalars); backward reads nothing else.
//!
//! `elementwise_affine = false` drops γ and β (`y = x̂`); `bias = false` drops β.
//! The code is loops with constant bounds (three passes over the features); in the
//! mini-batch path the layer runs per sample inside each tile.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::{DocNames, Kind, LayerCx, Mode, Tensor, TensorInit};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, size};
use crate::parse::{Term, TermArg};

/// PyTorch's default `eps`.
const DEFAULT_EPS: f64 = 1e-5;

/// A resolved layer normalization.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub eps: f64,
    /// γ (and β unless `bias = false`).
    pub affine: bool,
    pub bias: bool,
}

impl LayerNorm {
    fn has_beta(&self) -> bool {
        self.affine && self.bias
    }
}

/// Resolves `LayerNorm` with optional `{ eps = ..; elementwise_affine = ..; bias = .. }`.
pub fn resolve(cx: &mut Ctxt, layer: &Ident, _kind: &Ident, args: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    let mut out = LayerNorm { eps: DEFAULT_EPS, affine: true, bias: true };
    let mut seen: Vec<String> = Vec::new();
    let mut ok = true;
    for a in args {
        let Some(name) = &a.name else {
            cx.error_at(
                a.value.span(),
                format!(
                    "`LayerNorm` takes only named options, as in `LayerNorm<{{ eps = 1e-5 }}>`; found {}",
                    a.value.describe()
                ),
            );
            ok = false;
            continue;
        };
        let option = name.to_string();
        if seen.contains(&option) {
            cx.error(name, format!("option `{option}` of layer `{layer}` is given twice"));
            ok = false;
            continue;
        }
        seen.push(option.clone());
        match option.as_str() {
            "eps" => match a.value.as_f64() {
                Some(v) if v.is_finite() && v > 0.0 => out.eps = v,
                _ => {
                    cx.error_at(
                        a.value.span(),
                        format!("expected `eps` of `LayerNorm` as a positive number, found {}", a.value.describe()),
                    );
                    ok = false;
                }
            },
            "elementwise_affine" | "bias" => match &a.value {
                Term::Bool { value, .. } => {
                    if option == "bias" {
                        out.bias = *value;
                    } else {
                        out.affine = *value;
                    }
                }
                other => {
                    cx.error_at(
                        other.span(),
                        format!("expected `{option} = true` or `{option} = false`, found {}", other.describe()),
                    );
                    ok = false;
                }
            },
            _ => {
                cx.error(
                    name,
                    format!("unknown option `{option}` of `LayerNorm`; expected `eps`, `elementwise_affine` or `bias`"),
                );
                ok = false;
            }
        }
    }
    ok.then(|| Box::new(out) as Box<dyn Kind>)
}

impl Kind for LayerNorm {
    fn name(&self) -> &'static str {
        "LayerNorm"
    }

    fn output_shape(&self, _cx: &mut Ctxt, _layer: &Ident, _span: Span, input: &[usize]) -> Option<Shape> {
        Some(input.to_vec())
    }

    /// `weight` (γ, ones) then `bias` (β, zeros), each of the normalized shape.
    fn tensors(&self, input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        if !self.affine {
            return Vec::new();
        }
        let mut out = vec![Tensor { suffix: "weight", shape: input.to_vec(), init: TensorInit::Ones }];
        if self.bias {
            out.push(Tensor { suffix: "bias", shape: input.to_vec(), init: TensorInit::Zeros });
        }
        out
    }

    fn code_size(&self, input: &[usize], _output: &[usize]) -> usize {
        3 * size(input)
    }

    fn default_unroll(&self, _input: &[usize], _output: &[usize], _threshold: usize) -> bool {
        false
    }

    fn backward_reads_input(&self) -> bool {
        false
    }

    /// x̂ (`N` scalars) and r = 1/√(σ² + ε).
    fn trace_extra(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input) + 1
    }

    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n = lc.out_size();
        let inv_n = lc.g.lit(1.0 / n as f64);
        let eps = lc.g.lit(self.eps);
        let off = lc.layer.offset;
        let (g0, b0) = (off, off + n);
        let affine = match (self.affine, self.has_beta()) {
            (false, _) => quote! { #out[__i] = __xh; },
            (true, false) => quote! { #out[__i] = __p[#g0 + __i] * __xh; },
            (true, true) => quote! { #out[__i] = __p[#g0 + __i] * __xh + __p[#b0 + __i]; },
        };
        let keep = if train {
            let e0 = lc.layer.trace.extra.unwrap_or(0);
            let er = e0 + n;
            (quote! { __tr[#e0 + __i] = __xh; }, quote! { __tr[#er] = __r; })
        } else {
            (TokenStream::new(), TokenStream::new())
        };
        let (keep_xh, keep_r) = keep;
        quote! {
            let mut #out: [#t; #n] = [0.0; #n];
            {
                let __v: &[#t; #n] = &#inp;
                let mut __mean: #t = 0.0;
                for __i in 0..#n {
                    __mean += __v[__i];
                }
                __mean *= #inv_n;
                let mut __var: #t = 0.0;
                for __i in 0..#n {
                    let __c = __v[__i] - __mean;
                    __var += __c * __c;
                }
                __var *= #inv_n;
                let __r: #t = 1.0 / #rt::Scalar::sqrt(__var + #eps);
                #keep_r
                for __i in 0..#n {
                    let __xh = (__v[__i] - __mean) * __r;
                    #keep_xh
                    #affine
                }
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
        let e = input_delta.map(|e| self.emit_input_delta(lc, inp, delta, e));
        if !self.affine {
            return quote!(#e);
        }
        let n = lc.out_size();
        let e0 = lc.layer.trace.extra.unwrap_or(0);
        let off = lc.layer.offset;
        let (g0, b0) = (off, off + n);
        let beta = self.has_beta();
        let updates = match mode {
            Mode::Accumulate => {
                let b = beta.then(|| quote! { __g[#b0 + __i] += #delta[__i]; });
                quote! {
                    for __i in 0..#n {
                        __g[#g0 + __i] += #delta[__i] * __tr[#e0 + __i];
                        #b
                    }
                }
            }
            Mode::Sgd => {
                let b = beta.then(|| quote! { __p[#b0 + __i] -= __lr * #delta[__i]; });
                quote! {
                    for __i in 0..#n {
                        __p[#g0 + __i] -= __lr * (#delta[__i] * __tr[#e0 + __i]);
                        #b
                    }
                }
            }
        };
        quote! {
            #e
            #updates
        }
    }

    /// `e = r·(g − mean(g) − x̂ ⊙ mean(g ⊙ x̂))`, `g = γ ⊙ δ`, from the trace's x̂ and r.
    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let n = lc.out_size();
        let inv_n = lc.g.lit(1.0 / n as f64);
        let e0 = lc.layer.trace.extra.unwrap_or(0);
        let er = e0 + n;
        let g0 = lc.layer.offset;
        let gi = if self.affine { quote!(__p[#g0 + __i] * #delta[__i]) } else { quote!(#delta[__i]) };
        quote! {
            let mut #e: [#t; #n] = [0.0; #n];
            {
                let mut __mg: #t = 0.0;
                let mut __mgx: #t = 0.0;
                for __i in 0..#n {
                    let __gi = #gi;
                    #e[__i] = __gi;
                    __mg += __gi;
                    __mgx += __gi * __tr[#e0 + __i];
                }
                __mg *= #inv_n;
                __mgx *= #inv_n;
                let __r = __tr[#er];
                for __i in 0..#n {
                    #e[__i] = __r * (#e[__i] - __mg - __tr[#e0 + __i] * __mgx);
                }
            }
        }
    }

    fn emit_accessors(&self, lc: &LayerCx) -> TokenStream {
        if !self.affine {
            return TokenStream::new();
        }
        let rt = rt();
        let t = &lc.g.t;
        let layer = lc.layer;
        let n = lc.out_size();
        let name = &layer.name;
        let name_mut = quote::format_ident!("{}_mut", name);
        let (g0, g1) = (layer.offset, layer.offset + n);
        let b1 = g1 + n;
        let mut doc = format!(
            "Layer `{name}`: `LayerNorm` over shape {:?} (eps {:e}): γ (`{name}.weight`){}, flat in row-major order.",
            layer.input,
            self.eps,
            if self.has_beta() { format!(" and β (`{name}.bias`)") } else { String::new() }
        );
        for line in &layer.docs {
            doc.push('\n');
            doc.push_str(line);
        }
        let doc_mut = format!("Layer `{name}`, mutably: (γ, β).");
        let (beta_ty, beta, beta_mut) = if self.has_beta() {
            (
                quote!(::core::option::Option<&[#t; #n]>),
                quote!(::core::option::Option::Some(#rt::view::array::<#t, #n>(__b))),
                quote!(::core::option::Option::Some(#rt::view::array_mut::<#t, #n>(__b))),
            )
        } else {
            (
                quote!(::core::option::Option<&[#t; #n]>),
                quote!({
                    let _ = __b;
                    ::core::option::Option::None
                }),
                quote!({
                    let _ = __b;
                    ::core::option::Option::None
                }),
            )
        };
        let end = if self.has_beta() { b1 } else { g1 };
        quote! {
            #[doc = #doc]
            #[inline]
            #[must_use]
            pub fn #name(&self) -> (&[#t; #n], #beta_ty) {
                let (__w, __b) = self.params[#g0..#end].split_at(#n);
                (#rt::view::array::<#t, #n>(__w), #beta)
            }

            #[doc = #doc_mut]
            #[inline]
            #[must_use]
            pub fn #name_mut(&mut self) -> (&mut [#t; #n], ::core::option::Option<&mut [#t; #n]>) {
                let (__w, __b) = self.params[#g0..#end].split_at_mut(#n);
                (#rt::view::array_mut::<#t, #n>(__w), #beta_mut)
            }
        }
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        let affine = match (self.affine, self.has_beta()) {
            (false, _) => format!("x̂{}", n.k),
            (true, false) => format!("γ{k} ⊙ x̂{k}", k = n.k),
            (true, true) => format!("γ{k} ⊙ x̂{k} + β{k}", k = n.k),
        };
        format!(
            "{} = {affine},  x̂{k} = ({} − μ{k})·r{k},  r{k} = 1/√(σ²{k} + {:e})   (layer norm: μ, σ² the mean and biased variance of the sample's features)",
            n.out,
            n.input,
            self.eps,
            k = n.k
        )
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        let g = if self.affine { format!("γ{} ⊙ {delta}", n.k) } else { delta.to_owned() };
        format!("r{k}·(g − mean(g) − x̂{k} ⊙ mean(g ⊙ x̂{k})), g = {g}", k = n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("LN{}′", n.k)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(format!(
            "[LN{}′] rescales δ by r = 1/σ of the sample and removes its components along 1 and x̂: the gradient's size no longer depends on the scale of the layer's input",
            n.k
        ))
    }

    fn doc_param_grads(&self, n: &DocNames, delta: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.affine {
            out.push(format!("∂L/∂γ{k} = {delta} ⊙ x̂{k}", k = n.k));
        }
        if self.has_beta() {
            out.push(format!("∂L/∂β{} = {delta}", n.k));
        }
        out
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        Some(format!("{} features, loops with constant bounds", size(&layer.input)))
    }
}
