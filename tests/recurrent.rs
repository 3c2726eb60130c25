use stackprop::prelude::*;

#[network(input = [5, 3], loss = half_sse, scalar = f64)]
struct GruNet {
    rnn: Gru<4>,
    head: Dense<2, Identity>,
}

#[test]
fn smoke() {
    let net = GruNet::seeded(1);
    let x = [0.3; 15];
    let y = net.forward(&x);
    let mut s = GruNet::new_state();
    let mut ys = [0.0; 2];
    for t in 0..5 {
        let xt: [f64; 3] = x[t * 3..t * 3 + 3].try_into().unwrap();
        ys = net.step(&mut s, &xt);
    }
    assert_eq!(y, ys);
}
