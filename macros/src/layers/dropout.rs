//! `Dropout<p>` (or `Dropout<{ p = 0.5 }>`): inverted dropout, as `torch.nn.Dropout(p)`.
//!
//! ```text
//! training   y = m ⊙ x,   mⱼ = [uⱼ ≥ p] / (1 − p)    uⱼ uniform in [0, 1), per unit,
//!                                                    sample and step
//! inference  y = x                                   (`forward`)
//! backward   ∂L/∂x = m ⊙ δ                           (the same mask)
//! ```
//!
//! The mask is drawn from the network's dropout state by the runtime's rule
//! (`stackprop::dropout`: the `uⱼ` of dropout layer `l` for sample `i` are the draws of
//! `SplitMix64::new(key(state, i, l))`), and kept in the trace (`N` scalars, 0 or
//! `1/(1 − p)`), which backward reads. `p` lies in `[0, 1)`; no parameters.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::{DocNames, Kind, LayerCx};
use crate::codegen::rt;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, size};
use crate::parse::TermArg;

/// A resolved dropout layer.
#[derive(Clone, Debug)]
pub struct Dropout {
    /// The probability of dropping a unit, in `[0, 1)`.
    pub p: f64,
}

/// Resolves `Dropout<p>` / `Dropout<{ p = .. }>`.
pub fn resolve(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], _: &Customs) -> Option<Box<dyn Kind>> {
    let mut p = None;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            cx.error_at(a.value.span(), "`Dropout` takes one argument, the probability `p` of dropping a unit");
            return None;
        }
        if let Some(n) = &a.name
            && n != "p"
        {
            cx.error(n, format!("unknown option `{n}` of `Dropout`; expected `p`"));
            return None;
        }
        match a.value.as_f64() {
            Some(v) if (0.0..1.0).contains(&v) => p = Some(v),
            Some(_) => {
                cx.error_at(
                    a.value.span(),
                    format!(
                        "expected `p` of `Dropout` in [0, 1) (the probability of dropping a unit), found {}",
                        a.value.describe()
                    ),
                );
                return None;
            }
            None => {
                cx.error_at(
                    a.value.span(),
                    format!("expected `p` of `Dropout` as a number, found {}", a.value.describe()),
                );
                return None;
            }
        }
    }
    let Some(p) = p else {
        cx.error(kind, format!("layer `{layer}` needs a probability, as in `Dropout<0.5>`"));
        return None;
    };
    Some(Box::new(Dropout { p }))
}

impl Dropout {
    /// The layer's index among the network's layers: `l` of the mask rule.
    fn index(lc: &LayerCx) -> u64 {
        let i = lc.g.net.layers.iter().position(|l| l.name == lc.layer.name).unwrap_or(0);
        i as u64
    }
}

impl Kind for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    fn output_shape(&self, _cx: &mut Ctxt, _layer: &Ident, _span: Span, input: &[usize]) -> Option<Shape> {
        Some(input.to_vec())
    }

    fn code_size(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input)
    }

    fn default_unroll(&self, _input: &[usize], _output: &[usize], _threshold: usize) -> bool {
        false
    }

    fn backward_reads_input(&self) -> bool {
        false
    }

    /// The mask `m` (0 or `1/(1 − p)` per unit).
    fn trace_extra(&self, input: &[usize], _output: &[usize]) -> usize {
        size(input)
    }

    fn stochastic(&self) -> bool {
        true
    }

    /// Training: draws the mask of sample `__sample` (an `Option<usize>` in scope;
    /// `None` is inference mode, whose mask is all ones) into the trace and applies it.
    /// The state is `self.__dropout_state`, or in a batch-level network's pass the
    /// argument `__dropout_state`.
    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, train: bool) -> TokenStream {
        let t = &lc.g.t;
        let rt = rt();
        let n = lc.out_size();
        if !train {
            return quote! {
                let mut #out: [#t; #n] = [0.0; #n];
                #out.copy_from_slice(&#inp[..]);
            };
        }
        let (e0, e1) = {
            let e0 = lc.layer.trace.extra.unwrap_or(0);
            (e0, e0 + n)
        };
        let p = self.p;
        let l = Self::index(lc);
        // A batch-level network's pass is a free function: the state is its argument.
        let state = if lc.g.net.batch_level() { quote!(__dropout_state) } else { quote!(self.__dropout_state) };
        quote! {
            let mut #out: [#t; #n] = [0.0; #n];
            {
                let __m = &mut __tr[#e0..#e1];
                match __sample {
                    ::core::option::Option::Some(__s) => {
                        let __key = #rt::dropout::key(#state, __s as u64, #l);
                        #rt::dropout::mask::<#t>(__key, #p, __m);
                    }
                    ::core::option::Option::None => __m.fill(1.0),
                }
                for __i in 0..#n {
                    #out[__i] = #inp[__i] * __m[__i];
                }
            }
        }
    }

    /// Element-wise, so a sequence stays one: per-step layers may follow.
    fn sequence_output(&self, input_sequence: bool) -> bool {
        input_sequence
    }

    /// Inference is the identity, at every step too.
    fn emit_step_forward(&self, _lc: &LayerCx, inp: &TokenStream, out: &Ident) -> Option<TokenStream> {
        Some(quote! { let #out = #inp; })
    }

    fn emit_input_delta(&self, lc: &LayerCx, _inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream {
        let t = &lc.g.t;
        let n = lc.out_size();
        let e0 = lc.layer.trace.extra.unwrap_or(0);
        quote! {
            let mut #e: [#t; #n] = [0.0; #n];
            for __i in 0..#n {
                #e[__i] = #delta[__i] * __tr[#e0 + __i];
            }
        }
    }

    fn doc_forward(&self, n: &DocNames) -> String {
        format!(
            "{out} = m{k} ⊙ {inp},  m{k}ⱼ = [uⱼ ≥ {p:?}]/(1 − {p:?}) in training (uⱼ uniform in [0, 1), drawn per unit, sample and step from the dropout state), {out} = {inp} in inference",
            out = n.out,
            inp = n.input,
            k = n.k,
            p = self.p
        )
    }

    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String {
        format!("m{} ⊙ {delta}", n.k)
    }

    fn doc_factor(&self, n: &DocNames) -> String {
        format!("m{}", n.k)
    }

    fn doc_flow(&self, n: &DocNames) -> Option<String> {
        Some(format!(
            "[m{}] zeroes δ of the dropped units (their inputs get no gradient from this sample) and scales the kept ones by 1/(1 − {:?})",
            n.k, self.p
        ))
    }

    fn doc_code(&self, layer: &Layer) -> Option<String> {
        Some(format!("{} units, loops with constant bounds", size(&layer.input)))
    }
}
