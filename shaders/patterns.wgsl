// Activation patterns packed into bits: bit b of mask[r * words + w] = 1[x_r . g_{32 w + b} > 0],
// for bits b_begin .. b_end of every word (the host splits the 32 bits over several dispatches so
// one invocation takes at most ~4,096 steps; later dispatches OR into the word).
// Bindings: 0 x (rows x d, read), 1 gates (p x d, read), 2 mask (rows x words u32, read_write),
// 3 params (uniform). Workgroup size 64, one invocation per mask word; 2-D dispatch for size.

struct Params {
    rows: u32,
    d: u32,
    p: u32,
    words: u32,
    b_begin: u32,
    b_end: u32,
}

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> gates: array<real>;
@group(0) @binding(2) var<storage, read_write> mask: array<u32>;
@group(0) @binding(3) var<uniform> prm: Params;

@compute @workgroup_size(64)
fn patterns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    if (idx >= prm.rows * prm.words) {
        return;
    }
    let r = idx / prm.words;
    let w = idx % prm.words;
    var bits = 0u;
    for (var b = prm.b_begin; b < prm.b_end; b++) {
        let i = w * 32u + b;
        if (i >= prm.p) {
            break;
        }
        var z: real = 0.0;
        for (var j = 0u; j < prm.d; j++) {
            z += x[r * prm.d + j] * gates[i * prm.d + j];
        }
        if (z > 0.0) {
            bits |= 1u << b;
        }
    }
    if (prm.b_begin == 0u) {
        mask[idx] = bits;
    } else {
        mask[idx] |= bits;
    }
}
