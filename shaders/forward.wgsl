// Masked forward for one row chunk and one weight chunk (output l, gates g0 .. g0+gc):
//   preds[r, l] (+)= sum_{i < gc} mask(r, g0 + i) * x_r . u[i]
// The reduction over gates is fused: the rows x gates product is never written.
// Bindings: 0 x (rows x d), 1 mask (rows x words u32), 2 u (gc x d), 3 preds (rows x c,
// read_write), 4 params (uniform). Workgroup size 64; one invocation per 4 rows, with a 4 rows x
// 4 gates register tile (no workgroup memory: fastest on lavapipe, correct everywhere), over
// the chunk's gates i_begin .. i_end and features j_begin .. j_end: the host splits the work
// into several accumulating dispatches (the sum is linear in both) so no invocation runs long.

struct Params {
    rows: u32,
    d: u32,
    c: u32,
    l: u32,
    g0: u32,
    gc: u32,
    words: u32,
    accumulate: u32,
    i_begin: u32,
    i_end: u32,
    j_begin: u32,
    j_end: u32,
}

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> u: array<real>;
@group(0) @binding(3) var<storage, read_write> preds: array<real>;
@group(0) @binding(4) var<uniform> prm: Params;

fn bit(r: u32, i: u32) -> real {
    let word = mask[r * prm.words + (i >> 5u)];
    return real((word >> (i & 31u)) & 1u);
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r0 = (gid.x + gid.y * nwg.x * 64u) * 4u;
    if (r0 >= prm.rows) {
        return;
    }
    let nr = min(4u, prm.rows - r0);
    // Rows past the end read the last valid row; their results are never written.
    var ra = array<u32, 4>(r0, r0 + min(1u, nr - 1u), r0 + min(2u, nr - 1u), r0 + min(3u, nr - 1u));
    var acc = vec4<real>(0.0);
    for (var i = prm.i_begin; i < prm.i_end; i += 4u) {
        let ng = min(4u, prm.i_end - i);
        var m: array<vec4<real>, 4>;
        var hit = false;
        for (var rr = 0u; rr < 4u; rr++) {
            var mv = vec4<real>(0.0);
            if (rr < nr) {
                for (var gg = 0u; gg < ng; gg++) {
                    mv[gg] = bit(ra[rr], prm.g0 + i + gg);
                }
            }
            m[rr] = mv;
            hit = hit || any(mv != vec4<real>(0.0));
        }
        if (!hit) {
            continue;
        }
        var ia = array<u32, 4>(i, i + min(1u, ng - 1u), i + min(2u, ng - 1u), i + min(3u, ng - 1u));
        var z0 = vec4<real>(0.0);
        var z1 = vec4<real>(0.0);
        var z2 = vec4<real>(0.0);
        var z3 = vec4<real>(0.0);
        for (var j = prm.j_begin; j < prm.j_end; j++) {
            let uv = vec4<real>(u[ia[0] * prm.d + j], u[ia[1] * prm.d + j], u[ia[2] * prm.d + j], u[ia[3] * prm.d + j]);
            z0 += x[ra[0] * prm.d + j] * uv;
            z1 += x[ra[1] * prm.d + j] * uv;
            z2 += x[ra[2] * prm.d + j] * uv;
            z3 += x[ra[3] * prm.d + j] * uv;
        }
        acc += vec4<real>(dot(z0, m[0]), dot(z1, m[1]), dot(z2, m[2]), dot(z3, m[3]));
    }
    for (var rr = 0u; rr < nr; rr++) {
        let k = (r0 + rr) * prm.c + prm.l;
        if (prm.accumulate != 0u) {
            preds[k] += acc[rr];
        } else {
            preds[k] = acc[rr];
        }
    }
}
