//! Unit tests of the pipeline, run on `proc_macro2` without the compiler.

use quote::quote;

use crate::expand;

fn errors(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
    let out = expand(args, item).to_string();
    out.match_indices("compile_error")
        .map(|(i, _)| {
            let rest = &out[i..];
            let start = rest.find('"').map_or(0, |s| s + 1);
            let end = rest[start..].find('"').map_or(rest.len(), |e| start + e);
            rest[start..end].to_owned()
        })
        .collect()
}

#[test]
fn xor_expands_without_errors() {
    let errs = errors(
        quote!(input = 2, loss = half_sse),
        quote! {
            pub struct Xor {
                hidden: Dense<3, Sigmoid>,
                output: Dense<1, Sigmoid>,
            }
        },
    );
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn jacobian_and_hessian_methods_are_reserved_names() {
    for name in ["input_jacobian", "param_jacobian", "hessian_vector_product"] {
        let layer = proc_macro2::Ident::new(name, proc_macro2::Span::call_site());
        let errs = errors(
            quote!(input = 2, loss = mse),
            quote! {
                pub struct Net {
                    #layer: Dense<3, Tanh>,
                    output: Dense<1, Identity>,
                }
            },
        );
        assert_eq!(errs, [format!("layer name `{name}` is taken by a generated method; choose another name")]);
    }
}

/// Expands a spec given as source text; `None` if the text does not even lex.
fn expand_text(args: &str, item: &str) -> Option<String> {
    let args: proc_macro2::TokenStream = args.parse().ok()?;
    let item: proc_macro2::TokenStream = item.parse().ok()?;
    Some(expand(args, item).to_string())
}

/// The output is either the full expansion (valid Rust) or carries `compile_error!`s.
fn assert_well_formed(out: &str) {
    if !out.contains("compile_error") {
        let file: Result<syn::File, _> = syn::parse_str(out);
        assert!(file.is_ok(), "expansion without errors does not parse as Rust: {out}");
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "Dense",
        "Flatten",
        "Conv",
        "Relu",
        "Sigmoid",
        "Tanh",
        "Softmax",
        "LeakyRelu",
        "Elu",
        "Gelu",
        "GeluTanh",
        "Identity",
        "Softplus",
        "Silu",
        "Softsign",
        "Foo",
        "x",
        "input",
        "loss",
        "scalar",
        "unroll",
        "storage",
        "boxed",
        "inline",
        "bias",
        "init",
        "he",
        "glorot",
        "mse",
        "half_sse",
        "mae",
        "huber",
        "delta",
        "cross_entropy",
        "binary_cross_entropy",
        "f32",
        "f64",
        "f16",
        "true",
        "false",
        "0",
        "1",
        "3",
        "64",
        "4294967297",
        "99999999999999999999999",
        "0.5",
        "-1.0",
        "1e400",
        "\"s\"",
        "<",
        ">",
        ",",
        "=",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        ";",
        "pub",
        "struct",
        "Net",
        "hidden",
        "output",
        "forward",
        "hidden_mut",
        "::",
        "-",
        "+",
        "*",
        "/",
        ".",
        "exp",
        "abs",
        "powi",
        "#",
        "activation",
    ];

    fn words() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(WORDS), 0..40).prop_map(|w| w.join(" "))
    }

    const VALID_ITEM: &str = "pub struct Net { hidden: Dense<8, LeakyRelu<0.1>, { bias = false }>, \
        middle: Dense<4, { x / (1.0 + x.abs()) }>, output: Dense<3, Softmax> }";
    const VALID_ARGS: &str = "input = 5, loss = cross_entropy, scalar = f64, unroll = 16";

    /// Deletes, duplicates or replaces one whitespace-separated piece of `text`.
    fn mutate(text: &str, op: u8, at: usize, word: &str) -> String {
        let mut pieces: Vec<&str> = text.split(' ').collect();
        let i = at % pieces.len().max(1);
        match op % 3 {
            0 if !pieces.is_empty() => {
                pieces.remove(i);
            }
            1 if !pieces.is_empty() => pieces.insert(i, pieces[i]),
            _ => pieces.insert(i, word),
        }
        pieces.join(" ")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

        #[test]
        fn on_random_tokens(args in words(), body in words()) {
            for item in [format!("struct Net {{ {body} }}"), body.clone()] {
                if let Some(out) = expand_text(&args, &item) {
                    assert_well_formed(&out);
                }
            }
        }

        #[test]
        fn on_mutated_specs(
            edits in prop::collection::vec((any::<u8>(), any::<usize>(), prop::sample::select(WORDS)), 1..4),
            in_args in any::<bool>(),
        ) {
            let (mut args, mut item) = (VALID_ARGS.to_owned(), VALID_ITEM.to_owned());
            for (op, at, word) in edits {
                if in_args { args = mutate(&args, op, at, word) } else { item = mutate(&item, op, at, word) }
            }
            if let Some(out) = expand_text(&args, &item) {
                assert_well_formed(&out);
            }
        }
    }

    #[test]
    fn the_valid_spec_expands() {
        let out = expand_text(VALID_ARGS, VALID_ITEM).unwrap_or_default();
        assert!(!out.contains("compile_error"), "{out}");
        assert_well_formed(&out);
    }
}

mod snapshots {
    use super::*;

    fn pretty(args: &str, item: &str) -> String {
        let out = expand_text(args, item).unwrap_or_default();
        match syn::parse_str::<syn::File>(&out) {
            Ok(file) => prettyplease::unparse(&file),
            Err(e) => format!("does not parse: {e}\n{out}"),
        }
    }

    #[test]
    fn xor_unrolled() {
        insta::assert_snapshot!(pretty(
            "input = 2, loss = half_sse",
            "/// The 2-3-1 network.\npub struct Xor { hidden: Dense<3, Sigmoid>, output: Dense<1, Sigmoid> }"
        ));
    }

    #[test]
    fn classifier_looped() {
        insta::assert_snapshot!(pretty(
            "input = 4, loss = cross_entropy, unroll = false",
            "pub struct Classifier { hidden: Dense<5, Relu, { bias = false }>, output: Dense<3, Softmax> }"
        ));
    }

    #[test]
    fn error_fallback() {
        insta::assert_snapshot!(pretty(
            "input = 2, loss = msee",
            "pub struct Broken { hidden: Dense<0, Relu>, output: Dense<1, Sigmod> }"
        ));
    }
}

#[test]
fn derivation_links_each_factor_to_its_warning() {
    let out = expand(
        quote!(input = 2, loss = mse),
        quote! {
            pub struct Deep {
                first: Dense<4, Sigmoid>,
                second: Dense<4, Relu>,
                third: Dense<4, LeakyRelu>,
                output: Dense<1, Identity>,
            }
        },
    )
    .to_string();
    for line in [
        "`first`: [(a₁·(1 − a₁))] ≤ 1/4: every sigmoid layer shrinks δ at least fourfold (`VanishingGradient`)",
        "`second`: [(1 if a₂ > 0 else 0)] is 1 or 0: 0 wherever the output is 0",
        "(`DeadUnits`)",
        "`third`: [(1 if z₃ > 0 else 0.01)] is 1 or 0.01: never 0",
        "`second`, `third`, `output`: [W₂ᵀ], [W₃ᵀ], [W₄ᵀ]: δ is multiplied by the transposed weights",
        "(`UpdateTooLarge`)",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
}
