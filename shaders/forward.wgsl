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

// Mask bits of gates b .. b+n-1 (n <= 16) for row r, bit k for gate b + k.
fn gate_bits(r: u32, b: u32, n: u32) -> u32 {
    let w = r * prm.words + (b >> 5u);
    let s = b & 31u;
    var v = mask[w] >> s;
    if (s + n > 32u) {
        v = v | (mask[w + 1u] << (32u - s));
    }
    return v & ((1u << n) - 1u);
}

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
