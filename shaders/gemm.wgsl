// Plain GEMM C = A B (A: m x k, B: k x n, C: m x n, row-major), the reference rate that
// `cvxnn bench --device gpu` compares the cpu-style masked kernels with: the same shape of
// kernel as forward.wgsl, one invocation owning a $TR x $TG block of C in registers, no
// workgroup memory, `//@` lines unrolled by the host, indices clamped.
// Bindings: 0 a (read), 1 b (read), 2 c (read_write), 3 params (uniform). Workgroup 8 x 8.

struct Params {
    m: u32,
    k: u32,
    n: u32,
}

@group(0) @binding(0) var<storage, read> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read_write> c: array<real>;
@group(0) @binding(3) var<uniform> prm: Params;

@compute @workgroup_size(8, 8)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Neighbouring invocations (SIMD lanes on a CPU adapter) take neighbouring row blocks, so
    // the $TG loads of B are the same address across lanes, as the forward's loads of U are.
    let i0 = gid.x * $TRu;
    let j0 = gid.y * $TGu;
    if (i0 >= prm.m || j0 >= prm.n) {
        return;
    }
    //@R let ab$R = min(i0 + $Ru, prm.m - 1u) * prm.k;
    //@G let bc$G = min(j0 + $Gu, prm.n - 1u);
    //@RG var a$R_$G = real(0.0);
    for (var t = 0u; t < prm.k; t++) {
        //@R let x$R = a[ab$R + t];
        //@G let y$G = b[t * prm.n + bc$G];
        //@RG a$R_$G += x$R * y$G;
    }
    //@RG if (i0 + $Ru < prm.m && j0 + $Gu < prm.n) { c[(i0 + $Ru) * prm.n + j0 + $Gu] = a$R_$G; }
}
