// Cone-constraint terms of the ReLU program for one block of rows (a "cone chunk": rows
// row0 .. row0+rows of one X row chunk). Constraint (r, col) with col = l p + i reads
// s_i (2 D_ri - 1) x_r . U_col >= 0 (s_i = -1 for gates i >= neg_from); its gap is
// g = -s_i (2 D_ri - 1) z with z = x_r . U_col. Three entry points, run in this order:
//   cone_product: z[r, col] (+)= sum_{j in [j_begin, j_end)} x[r, j] u[col, j] for one weight
//                 chunk (output l, gates g0 .. g0+gc): 4 rows x 4 gates register tile.
//   cone_terms:   per element of the block: violation sums, and by mode
//                 0 nothing else, 1 penalty (weight/2) max(g + a shift, 0)^2 with its gradient
//                 coefficient -weight s o max(...) written over z, 2 gamma <- max(gamma + delta g, 0),
//                 3 a line-search trial: with zs = X step, A = g + a shift and B = A - s o zs,
//                 sum max(B, 0)^2 (slot 0) and the curvature sum by cases (slot 1), no cancellation.
//                 Workgroup sums go to partials (slot0: penalty, slot1: violation^2, slot2: max).
//   cone_grad:    grad[i, j] (+)= sum_r coef[r, l p + g0 + i] x[r, j], like gradient.wgsl with
//                 the coefficient read instead of formed.

struct ProductParams {
    rows: u32,
    row0: u32,
    d: u32,
    cp: u32,
    col0: u32,
    gc: u32,
    j_begin: u32,
    j_end: u32,
    accumulate: u32,
}

// Modes, named as the host names them (src/backend/wgpu/params.rs).
const CONE_VIOLATION: u32 = 0u;
const CONE_PENALTY: u32 = 1u;
const CONE_MULTIPLIER: u32 = 2u;
const CONE_TRIAL: u32 = 3u;

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> u: array<real>;
@group(0) @binding(2) var<storage, read_write> z: array<real>;
@group(0) @binding(3) var<uniform> pp: ProductParams;

@compute @workgroup_size(16, 4)
fn cone_product(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r0 = gid.x * 4u;
    let i0 = gid.y * 4u;
    if (r0 >= pp.rows || i0 >= pp.gc) {
        return;
    }
    let nr = min(4u, pp.rows - r0);
    let ni = min(4u, pp.gc - i0);
    // Out-of-range lanes repeat the last valid row / gate; their results are not written.
    var ra = array<u32, 4>(r0, r0 + min(1u, nr - 1u), r0 + min(2u, nr - 1u), r0 + min(3u, nr - 1u));
    var ia = array<u32, 4>(i0, i0 + min(1u, ni - 1u), i0 + min(2u, ni - 1u), i0 + min(3u, ni - 1u));
    var t: array<vec4<real>, 4>;
    for (var j = pp.j_begin; j < pp.j_end; j++) {
        let uv = vec4<real>(u[ia[0] * pp.d + j], u[ia[1] * pp.d + j], u[ia[2] * pp.d + j], u[ia[3] * pp.d + j]);
        for (var rr = 0u; rr < 4u; rr++) {
            t[rr] += x[(pp.row0 + ra[rr]) * pp.d + j] * uv;
        }
    }
    for (var rr = 0u; rr < nr; rr++) {
        for (var ii = 0u; ii < ni; ii++) {
            let k = (r0 + rr) * pp.cp + pp.col0 + i0 + ii;
            if (pp.accumulate != 0u) {
                z[k] += t[rr][ii];
            } else {
                z[k] = t[rr][ii];
            }
        }
    }
}

struct TermParams {
    scale: real,
    weight: real,
    delta: real,
    e_begin: u32,
    e_end: u32,
    cp: u32,
    p: u32,
    neg_from: u32,
    row0: u32,
    words: u32,
    mode: u32,
    slot: u32,
}

@group(0) @binding(0) var<storage, read> mask: array<u32>;
@group(0) @binding(1) var<storage, read_write> zc: array<real>;
@group(0) @binding(2) var<storage, read_write> shift: array<real>;
@group(0) @binding(3) var<storage, read_write> partials: array<real>;
@group(0) @binding(4) var<uniform> tp: TermParams;
@group(0) @binding(5) var<storage, read> zs: array<real>;

var<workgroup> wg_pen: array<real, 256>;
var<workgroup> wg_vsq: array<real, 256>;
var<workgroup> wg_max: array<real, 256>;

@compute @workgroup_size(256)
fn cone_terms(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let stride = nwg.x * 256u;
    var pen: real = 0.0;
    var vsq: real = 0.0;
    var vmax: real = 0.0;
    var e = tp.e_begin + wid.x * 256u + lid.x;
    while (e < tp.e_end) {
        let r = e / tp.cp;
        let i = (e % tp.cp) % tp.p;
        let word = mask[(tp.row0 + r) * tp.words + (i >> 5u)];
        let on = ((word >> (i & 31u)) & 1u) == 1u;
        var so: real = -1.0;
        if (on == (i < tp.neg_from)) {
            so = 1.0;
        }
        let g = -so * zc[e];
        if (tp.mode == CONE_TRIAL) {
            let a = g + tp.scale * shift[e];
            let dl = -so * zs[e];
            let b = a + dl;
            if (b > 0.0) {
                pen += b * b;
            }
            if (a > 0.0) {
                if (b > 0.0) {
                    vsq += dl * dl;
                } else {
                    vsq += a * a - 2.0 * a * b;
                }
            } else if (b > 0.0) {
                vsq += b * b;
            }
        } else if (g > 0.0) {
            vsq += g * g;
            vmax = max(vmax, g);
        }
        if (tp.mode == CONE_PENALTY) {
            let v = g + tp.scale * shift[e];
            if (v > 0.0) {
                pen += v * v;
                zc[e] = -tp.weight * so * v;
            } else {
                zc[e] = 0.0;
            }
        } else if (tp.mode == CONE_MULTIPLIER) {
            shift[e] = max(shift[e] + tp.delta * g, 0.0);
        }
        e += stride;
    }
    wg_pen[lid.x] = pen;
    wg_vsq[lid.x] = vsq;
    wg_max[lid.x] = vmax;
    workgroupBarrier();
    var s = 128u;
    while (s > 0u) {
        if (lid.x < s) {
            wg_pen[lid.x] += wg_pen[lid.x + s];
            wg_vsq[lid.x] += wg_vsq[lid.x + s];
            wg_max[lid.x] = max(wg_max[lid.x], wg_max[lid.x + s]);
        }
        workgroupBarrier();
        s = s >> 1u;
    }
    if (lid.x == 0u) {
        // Slots hold 256 partials each; dispatches over several blocks accumulate.
        let k = tp.slot + wid.x;
        partials[k] += wg_pen[0];
        partials[k + 256u] += wg_vsq[0];
        partials[k + 512u] = max(partials[k + 512u], wg_max[0]);
    }
}

struct GradParams {
    rows: u32,
    row0: u32,
    d: u32,
    cp: u32,
    col0: u32,
    gc: u32,
    r_begin: u32,
    r_end: u32,
    accumulate: u32,
}

@group(0) @binding(0) var<storage, read> gx: array<real>;
@group(0) @binding(1) var<storage, read> coef: array<real>;
@group(0) @binding(2) var<storage, read_write> grad: array<real>;
@group(0) @binding(3) var<uniform> gp: GradParams;

@compute @workgroup_size(16, 4)
fn cone_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.x * 4u;
    let i0 = gid.y * 4u;
    if (j0 >= gp.d || i0 >= gp.gc) {
        return;
    }
    let nj = min(4u, gp.d - j0);
    let ni = min(4u, gp.gc - i0);
    var ja = array<u32, 4>(j0, j0 + min(1u, nj - 1u), j0 + min(2u, nj - 1u), j0 + min(3u, nj - 1u));
    var ia = array<u32, 4>(i0, i0 + min(1u, ni - 1u), i0 + min(2u, ni - 1u), i0 + min(3u, ni - 1u));
    var a: array<vec4<real>, 4>;
    for (var r = gp.r_begin; r < gp.r_end; r++) {
        let cb = r * gp.cp + gp.col0;
        let cv = vec4<real>(coef[cb + ia[0]], coef[cb + ia[1]], coef[cb + ia[2]], coef[cb + ia[3]]);
        if (all(cv == vec4<real>(0.0))) {
            continue;
        }
        let xb = (gp.row0 + r) * gp.d;
        let xv = vec4<real>(gx[xb + ja[0]], gx[xb + ja[1]], gx[xb + ja[2]], gx[xb + ja[3]]);
        a[0] += cv.x * xv;
        a[1] += cv.y * xv;
        a[2] += cv.z * xv;
        a[3] += cv.w * xv;
    }
    for (var ii = 0u; ii < ni; ii++) {
        for (var jj = 0u; jj < nj; jj++) {
            let k = (i0 + ii) * gp.d + j0 + jj;
            if (gp.accumulate != 0u) {
                grad[k] += a[ii][jj];
            } else {
                grad[k] = a[ii][jj];
            }
        }
    }
}
