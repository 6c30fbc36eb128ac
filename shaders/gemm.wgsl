// Plain GEMM C = A B (A: m x k, B: k x n, C: m x n, row-major), the reference rate that
// `cvxnn bench --device gpu` compares the masked kernels with: the same 4 x 4 register tile per
// invocation and no workgroup memory, like forward.wgsl.
// Bindings: 0 a (read), 1 b (read), 2 c (read_write), 3 params (uniform). Workgroup 16 x 4.

struct Params {
    m: u32,
    k: u32,
    n: u32,
}

@group(0) @binding(0) var<storage, read> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read_write> c: array<real>;
@group(0) @binding(3) var<uniform> prm: Params;

@compute @workgroup_size(16, 4)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.x * 4u;
    let i0 = gid.y * 4u;
    if (i0 >= prm.m || j0 >= prm.n) {
        return;
    }
    let ni = min(4u, prm.m - i0);
    let nj = min(4u, prm.n - j0);
    var ia = array<u32, 4>(i0, i0 + min(1u, ni - 1u), i0 + min(2u, ni - 1u), i0 + min(3u, ni - 1u));
    var ja = array<u32, 4>(j0, j0 + min(1u, nj - 1u), j0 + min(2u, nj - 1u), j0 + min(3u, nj - 1u));
    var t0 = vec4<real>(0.0);
    var t1 = vec4<real>(0.0);
    var t2 = vec4<real>(0.0);
    var t3 = vec4<real>(0.0);
    for (var p = 0u; p < prm.k; p++) {
        let bv = vec4<real>(b[p * prm.n + ja[0]], b[p * prm.n + ja[1]], b[p * prm.n + ja[2]], b[p * prm.n + ja[3]]);
        t0 += a[ia[0] * prm.k + p] * bv;
        t1 += a[ia[1] * prm.k + p] * bv;
        t2 += a[ia[2] * prm.k + p] * bv;
        t3 += a[ia[3] * prm.k + p] * bv;
    }
    var tile = array<vec4<real>, 4>(t0, t1, t2, t3);
    for (var ii = 0u; ii < ni; ii++) {
        for (var jj = 0u; jj < nj; jj++) {
            c[(i0 + ii) * prm.n + j0 + jj] = tile[ii][jj];
        }
    }
}
