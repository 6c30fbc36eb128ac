// Partial sums over one chunk: mode 0 sum x*y, mode 1 sum (x-y)^2, mode 2 sum x.
// Each workgroup writes one partial to partials[slot + workgroup]; the host adds the partials
// of all chunks in f64 after one read-back.
// Bindings: 0 x (read), 1 y (read), 2 partials (read_write), 3 params (uniform).
// Workgroup size 256, tree reduction in workgroup memory.

struct Params {
    len: u32,
    slot: u32,
    mode: u32,
}

// Modes, named as the host names them (src/backend/wgpu/params.rs).
const REDUCE_DOT: u32 = 0u;
const REDUCE_DIST_SQ: u32 = 1u;
const REDUCE_SUM: u32 = 2u;

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> y: array<real>;
@group(0) @binding(2) var<storage, read_write> partials: array<real>;
@group(0) @binding(3) var<uniform> prm: Params;

var<workgroup> acc_wg: array<real, 256>;

@compute @workgroup_size(256)
fn reduce(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let stride = nwg.x * 256u;
    var acc: real = 0.0;
    var k = wid.x * 256u + lid.x;
    while (k < prm.len) {
        if (prm.mode == REDUCE_DOT) {
            acc += x[k] * y[k];
        } else if (prm.mode == REDUCE_DIST_SQ) {
            let t = x[k] - y[k];
            acc += t * t;
        } else {
            acc += x[k];
        }
        k += stride;
    }
    acc_wg[lid.x] = acc;
    workgroupBarrier();
    var s = 128u;
    while (s > 0u) {
        if (lid.x < s) {
            acc_wg[lid.x] += acc_wg[lid.x + s];
        }
        workgroupBarrier();
        s = s >> 1u;
    }
    if (lid.x == 0u) {
        partials[prm.slot + wid.x] = acc_wg[0];
    }
}
