//! Compile-fail cases: one mistake per file, each with the exact messages the macro
//! gives (`tests/ui/**/*.stderr`).

#[test]
fn invalid_specs_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
}
