// Gradient for CPU-like adapters (lavapipe), one weight chunk (output l, gates g0 .. g0+gc) from
// one row chunk:
//   grad[i, j] (+)= scale * sum_r mask(r, g0 + i) * (preds[r, l] - y[r, l]) * x[r, j]
// i.e. X^T D_i (Yhat - Y)_l / (n c), the adjoint of the forward applied to the residual, with
// the residual formed on the fly. Bindings: 0 x (rows x d), 1 mask (rows x words u32), 2 preds
// (rows x c), 3 y (rows x c), 4 grad (gc x d, read_write), 5 params (uniform).
//
// No workgroup memory and no barriers (see forward.wgsl): one invocation owns a $TG gates x $TJ
// features block of the gradient in registers and walks the rows r_begin .. r_end; the host
// splits long chunks into several accumulating dispatches so that no invocation runs long
// (lavapipe returned wrong sums past ~10^4 rows; GPU watchdogs also limit the time one dispatch
// may take). `//@` lines are unrolled by the host; indices are clamped to the chunk.

//#include gradient_io

//#include mask_bits

@compute @workgroup_size(8, 8)
fn gradient(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.x * $TJu;
    let i0 = gid.y * $TGu;
    if (j0 >= prm.d || i0 >= prm.gc) {
        return;
    }
    let ng = min($TGu, prm.gc - i0);
    let jl = prm.d - 1u;
    //@J let jc$J = min(j0 + $Ju, jl);
    //@GJ var a$G_$J = real(0.0);
    for (var r = prm.r_begin; r < prm.r_end; r++) {
        let m = gate_bits(r, prm.g0 + i0, ng);
        if (m == 0u) {
            continue;
        }
        let res = preds[r * prm.c + prm.l] - y[r * prm.c + prm.l];
        let xb = r * prm.d;
        //@G let e$G = select(real(0.0), res, ((m >> $Gu) & 1u) != 0u);
        //@J let x$J = x[xb + jc$J];
        //@GJ a$G_$J += e$G * x$J;
    }
    //@GJ if ($Gu < ng && j0 + $Ju <= jl) { let k = (i0 + $Gu) * prm.d + j0 + $Ju; if (prm.accumulate != 0u) { grad[k] += prm.scale * a$G_$J; } else { grad[k] = prm.scale * a$G_$J; } }
}
