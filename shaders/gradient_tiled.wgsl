// Gradient for GPUs: the same operation and bindings as gradient.wgsl,
//   grad[i, j] (+)= scale * sum_r mask(r, g0 + i) * (preds[r, l] - y[r, l]) * x[r, j],
// as a workgroup-tiled product with K = rows: a workgroup of 16 x 16 invocations owns a block of
// BM gates x BN features (64 or 128 each, by the host's choice) and walks the rows r_begin ..
// r_end 16 at a time, staging the masked residual (built while loading) and the rows of X in workgroup memory (one barrier pair per
// row step); each invocation holds $TG gates x $TJ features in registers.
// Indices are clamped or guarded, so every access is in bounds by construction.

//#include gradient_io

const BM: u32 = 16u * $TGu;
const BN: u32 = 16u * $TJu;
// Elements of one staged tile (BM = BN in every variant the host builds).
const TILE_ELEMS: u32 = BK * BM;
const BK: u32 = 16u;


// k-major tiles: es[k * BM + gate] (masked residuals), xs[k * BN + feature].
var<workgroup> es: array<real, TILE_ELEMS>;
var<workgroup> xs: array<real, TILE_ELEMS>;

@compute @workgroup_size(16, 16)
fn gradient(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j0 = wid.x * BN;
    let i0 = wid.y * BM;
    if (j0 >= prm.d || i0 >= prm.gc) {
        return;
    }
    let tid = lid.y * 16u + lid.x;
    let jl = prm.d - 1u;
    let gl = prm.gc - 1u;
    //@GJ var a$G_$J = real(0.0);
    for (var k0 = prm.r_begin; k0 < prm.r_end; k0 += BK) {
        for (var e = 0u; e < TILE_ELEMS / 256u; e++) {
            let f = e * 256u + tid;
            let k = f / BM;
            let m = f % BM;
            let r = min(k0 + k, prm.r_end - 1u);
            let inside = k0 + k < prm.r_end;
            // Masked residual of row r for gate i0 + m.
            let gi = prm.g0 + min(i0 + m, gl);
            let bit = (mask[r * prm.words + (gi >> 5u)] >> (gi & 31u)) & 1u;
            let res = preds[r * prm.c + prm.l] - y[r * prm.c + prm.l];
            es[k * BM + m] = select(real(0.0), res, inside && bit != 0u && i0 + m <= gl);
            let xv = x[r * prm.d + min(j0 + m, jl)];
            xs[k * BN + m] = select(real(0.0), xv, inside && j0 + m <= jl);
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            //@G let eg$G = es[k * BM + lid.y * $TGu + $Gu];
            //@J let xj$J = xs[k * BN + lid.x * $TJu + $Ju];
            //@GJ a$G_$J += eg$G * xj$J;
        }
        workgroupBarrier();
    }
    let ib = i0 + lid.y * $TGu;
    let jb = j0 + lid.x * $TJu;
    //@GJ if (ib + $Gu <= gl && jb + $Ju <= jl) { let k = (ib + $Gu) * prm.d + jb + $Ju; if (prm.accumulate != 0u) { grad[k] += prm.scale * a$G_$J; } else { grad[k] = prm.scale * a$G_$J; } }
}
