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
