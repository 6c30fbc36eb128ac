// Masked forward for CPU-like adapters (lavapipe), one row chunk and one weight chunk (output l,
// gates g0 .. g0+gc):
//   preds[r, l] (+)= sum_{i < gc} mask(r, g0 + i) * x_r . u[i]
// The reduction over gates is fused: the rows x gates product is never written.
// Bindings: 0 x (rows x d), 1 mask (rows x words u32), 2 u (gc x d), 3 preds (rows x c,
// read_write), 4 params (uniform).
//
// A CPU adapter runs each invocation as one SIMD lane and every barrier as a coroutine switch,
// so this kernel uses no workgroup memory and no barriers: one invocation owns $TR rows and
// walks the chunk's gates $TG at a time, keeping a $TR x $TG block of dot products in
// registers over the features j_begin .. j_end and applying the mask bits after the feature
// loop. Lines starting with a `//@` marker are unrolled by the host (pipelines.rs): naga emits
// plain loops that the drivers do not unroll. Indices are clamped to the chunk, so every load
// is in bounds by construction; clamped rows and gates are never written / masked out.

//#include forward_io

//#include mask_bits

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r0 = (gid.x + gid.y * nwg.x * 64u) * $TRu;
    if (r0 >= prm.rows) {
        return;
    }
    let last = prm.rows - 1u;
    //@R let ra$R = min(r0 + $Ru, last);
    //@R let xb$R = ra$R * prm.d;
    //@R var o$R = real(0.0);
    for (var i = prm.i_begin; i < prm.i_end; i += $TGu) {
        let ng = min($TGu, prm.i_end - i);
        //@R let m$R = gate_bits(ra$R, prm.g0 + i, ng);
        var any_bit = 0u;
        //@R any_bit = any_bit | m$R;
        if (any_bit == 0u) {
            continue;
        }
        let gl = prm.i_end - 1u;
        //@G let ub$G = min(i + $Gu, gl) * prm.d;
        //@RG var a$R_$G = real(0.0);
        for (var j = prm.j_begin; j < prm.j_end; j++) {
            //@R let x$R = x[xb$R + j];
            //@G let u$G = u[ub$G + j];
            //@RG a$R_$G += x$R * u$G;
        }
        //@RG o$R += select(real(0.0), a$R_$G, ((m$R >> $Gu) & 1u) != 0u);
    }
    //@R if (r0 + $Ru <= last) { let k = (r0 + $Ru) * prm.c + prm.l; if (prm.accumulate != 0u) { preds[k] += o$R; } else { preds[k] = o$R; } }
}
