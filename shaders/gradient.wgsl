// Gradient for one weight chunk (output l, gates g0 .. g0+gc) from one row chunk:
//   grad[i, j] (+)= scale * sum_r mask(r, g0 + i) * (preds[r, l] - y[r, l]) * x[r, j]
// i.e. X^T D_i (Yhat - Y)_l / (n c), the adjoint of the forward applied to the residual, with
// the residual formed on the fly. Bindings: 0 x (rows x d), 1 mask (rows x words u32), 2 preds
// (rows x c), 3 y (rows x c), 4 grad (gc x d, read_write), 5 params (uniform).
// Workgroup size 16 x 4; one invocation per 4 gates x 4 features register tile, over rows
// r_begin .. r_end of the chunk: the host splits long chunks into several dispatches so that no
// invocation runs long (lavapipe returned wrong sums past ~10^4 rows; GPU watchdogs also limit
// the time one dispatch may take).

struct Params {
    scale: real,
    rows: u32,
    d: u32,
    c: u32,
    l: u32,
    g0: u32,
    gc: u32,
    words: u32,
    accumulate: u32,
    r_begin: u32,
    r_end: u32,
}

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> preds: array<real>;
@group(0) @binding(3) var<storage, read> y: array<real>;
@group(0) @binding(4) var<storage, read_write> grad: array<real>;
@group(0) @binding(5) var<uniform> prm: Params;

@compute @workgroup_size(16, 4)
fn gradient(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.x * 4u;
    let i0 = gid.y * 4u;
    if (j0 >= prm.d || i0 >= prm.gc) {
        return;
    }
    let nj = min(4u, prm.d - j0);
    let ni = min(4u, prm.gc - i0);
    var ja = array<u32, 4>(j0, j0 + min(1u, nj - 1u), j0 + min(2u, nj - 1u), j0 + min(3u, nj - 1u));
    var a0 = vec4<real>(0.0);
    var a1 = vec4<real>(0.0);
    var a2 = vec4<real>(0.0);
    var a3 = vec4<real>(0.0);
    for (var r = prm.r_begin; r < prm.r_end; r++) {
        var mv = vec4<real>(0.0);
        for (var ii = 0u; ii < ni; ii++) {
            let i = prm.g0 + i0 + ii;
            let word = mask[r * prm.words + (i >> 5u)];
            mv[ii] = real((word >> (i & 31u)) & 1u);
        }
        if (all(mv == vec4<real>(0.0))) {
            continue;
        }
        let res = preds[r * prm.c + prm.l] - y[r * prm.c + prm.l];
        mv *= res;
        let base = r * prm.d;
        let xv = vec4<real>(x[base + ja[0]], x[base + ja[1]], x[base + ja[2]], x[base + ja[3]]);
        a0 += mv.x * xv;
        a1 += mv.y * xv;
        a2 += mv.z * xv;
        a3 += mv.w * xv;
    }
    var tile = array<vec4<real>, 4>(a0, a1, a2, a3);
    for (var ii = 0u; ii < ni; ii++) {
        for (var jj = 0u; jj < nj; jj++) {
            let k = (i0 + ii) * prm.d + j0 + jj;
            let v = prm.scale * tile[ii][jj];
            if (prm.accumulate != 0u) {
                grad[k] += v;
            } else {
                grad[k] = v;
            }
        }
    }
}
