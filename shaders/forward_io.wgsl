// Parameters and bindings of the masked forward, shared by forward.wgsl and forward_tiled.wgsl
// (pasted in where a shader says `//#include forward_io`).

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
