// Plain GEMM C = A B (A: m x k, B: k x n, C: m x n, row-major), the reference rate that
// `cvxnn bench --device gpu` compares the gpu-style masked kernels with: the same tiling as
// forward_tiled.wgsl (16 x 16 invocations, BM x BN block of C, 16-deep k tiles staged in
// workgroup memory, $TR x $TG per invocation), indices clamped or guarded.
// Bindings: 0 a (read), 1 b (read), 2 c (read_write), 3 params (uniform).

struct Params {
    m: u32,
    k: u32,
    n: u32,
}

const BM: u32 = 16u * $TRu;
const BN: u32 = 16u * $TGu;
// Elements of one staged tile (BM = BN in every variant the host builds).
const TILE_ELEMS: u32 = BK * BM;
const BK: u32 = 16u;

@group(0) @binding(0) var<storage, read> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read_write> c: array<real>;
@group(0) @binding(3) var<uniform> prm: Params;

// k-major tiles: as[k * BM + row], bs[k * BN + column].
var<workgroup> as_: array<real, TILE_ELEMS>;
var<workgroup> bs: array<real, TILE_ELEMS>;

@compute @workgroup_size(16, 16)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j0 = wid.x * BN;
    let i0 = wid.y * BM;
    if (i0 >= prm.m || j0 >= prm.n) {
        return;
    }
    let tid = lid.y * 16u + lid.x;
    //@RG var a$R_$G = real(0.0);
    for (var k0 = 0u; k0 < prm.k; k0 += BK) {
        for (var e = 0u; e < TILE_ELEMS / 256u; e++) {
            let f = e * 256u + tid;
            // A tile: row f / BK, depth f % BK (consecutive invocations read along a row).
            let ar = f / BK;
            let ak = k0 + f % BK;
            let av = a[min(i0 + ar, prm.m - 1u) * prm.k + min(ak, prm.k - 1u)];
            as_[(f % BK) * BM + ar] = select(real(0.0), av, ak < prm.k && i0 + ar < prm.m);
            // B tile: depth f / BN, column f % BN.
            let bk = k0 + f / BN;
            let bc = f % BN;
            let bv = b[min(bk, prm.k - 1u) * prm.n + min(j0 + bc, prm.n - 1u)];
            bs[(f / BN) * BN + bc] = select(real(0.0), bv, bk < prm.k && j0 + bc < prm.n);
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            //@R let x$R = as_[k * BM + lid.y * $TRu + $Ru];
            //@G let y$G = bs[k * BN + lid.x * $TGu + $Gu];
            //@RG a$R_$G += x$R * y$G;
        }
        workgroupBarrier();
    }
    let ib = i0 + lid.y * $TRu;
    let jb = j0 + lid.x * $TGu;
    //@RG if (ib + $Ru < prm.m && jb + $Gu < prm.n) { c[(ib + $Ru) * prm.n + jb + $Gu] = a$R_$G; }
}
