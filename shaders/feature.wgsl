// The feature group lasso R(U) = sum_j ||U[:, j]|| over the d feature columns of the weights
// (c p groups of d), for one weight chunk of `groups` groups. Column sums of squares need every
// chunk, so they are accumulated first (feature_sumsq) and then used per group.
//   feature_sumsq:  col[j] += sum over groups i in [i_begin, i_end) of z[i, j]^2, with z = v - eta g
//                   (mode 0), v (mode 1) or g (mode 2); one invocation per feature.
//   feature_prox:   out = s_j (v - eta g) with s_j = max(0, 1 - eta lam / sqrt(col[j]));
//                   stat[k] = ||out_k - v_k||^2; one invocation per group.
//   feature_subgrad: stat[k] = sum over columns with col[j] > 0 of (g + lam v / sqrt(col[j]))^2
//                   (the zero columns' part is added on the host from the gradient's columns).

struct Params {
    eta: real,
    lam: real,
    groups: u32,
    d: u32,
    mode: u32,
    i_begin: u32,
    i_end: u32,
}

// Modes, named as the host names them (src/backend/wgpu/params.rs).
const FEATURE_STEP: u32 = 0u;
const FEATURE_WEIGHTS: u32 = 1u;
const FEATURE_GRAD: u32 = 2u;

@group(0) @binding(0) var<storage, read> v: array<real>;
@group(0) @binding(1) var<storage, read> g: array<real>;
@group(0) @binding(2) var<storage, read_write> col_acc: array<real>;
@group(0) @binding(3) var<uniform> sp: Params;

@compute @workgroup_size(64)
fn feature_sumsq(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= sp.d) {
        return;
    }
    var acc: real = 0.0;
    for (var i = sp.i_begin; i < sp.i_end; i++) {
        let k = i * sp.d + j;
        var z: real = v[k];
        if (sp.mode == FEATURE_STEP) {
            z = v[k] - sp.eta * g[k];
        } else if (sp.mode == FEATURE_GRAD) {
            z = g[k];
        }
        acc += z * z;
    }
    col_acc[j] += acc;
}

@group(0) @binding(2) var<storage, read_write> out: array<real>;
@group(0) @binding(3) var<storage, read> col: array<real>;
@group(0) @binding(4) var<storage, read_write> stat: array<real>;
@group(0) @binding(5) var<uniform> pp: Params;

@compute @workgroup_size(64)
fn feature_prox(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    if (k >= pp.groups) {
        return;
    }
    let t = pp.eta * pp.lam;
    var sq: real = 0.0;
    for (var j = 0u; j < pp.d; j++) {
        let n = sqrt(col[j]);
        let s = select(0.0, 1.0 - t / n, n > t);
        let idx = k * pp.d + j;
        let o = s * (v[idx] - pp.eta * g[idx]);
        out[idx] = o;
        let diff = o - v[idx];
        sq += diff * diff;
    }
    stat[k] = sq;
}

@group(0) @binding(2) var<storage, read> ucol: array<real>;
@group(0) @binding(3) var<storage, read_write> gstat: array<real>;
@group(0) @binding(4) var<uniform> gp: Params;

@compute @workgroup_size(64)
fn feature_subgrad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    if (k >= gp.groups) {
        return;
    }
    var s: real = 0.0;
    for (var j = 0u; j < gp.d; j++) {
        if (ucol[j] > 0.0) {
            let idx = k * gp.d + j;
            let e = g[idx] + gp.lam * v[idx] / sqrt(ucol[j]);
            s += e * e;
        }
    }
    gstat[k] = s;
}
