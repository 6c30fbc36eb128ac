// Parameters and bindings of the gradient, shared by gradient.wgsl and gradient_tiled.wgsl
// (pasted in where a shader says `//#include gradient_io`).

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
