// Elementwise update of one chunk of a device vector: y <- a x + b y.
// Bindings: 0 x (read), 1 y (read_write), 2 params (uniform).
// Workgroup size 256; a grid-stride loop covers any length within the dispatch limit.
// `real` is f32 or f64, set by the host before compiling.

struct Params {
    a: real,
    b: real,
    len: u32,
}

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read_write> y: array<real>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(256)
fn axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * 256u;
    var k = gid.x;
    while (k < prm.len) {
        y[k] = prm.a * x[k] + prm.b * y[k];
        k += stride;
    }
}
