// Masked forward for GPUs: the same operation and bindings as forward.wgsl,
//   preds[r, l] (+)= sum_{i < gc} mask(r, g0 + i) * x_r . u[i],
// as a workgroup-tiled product. A workgroup of 16 x 16 invocations owns BM rows and walks the
// chunk's gates i_begin .. i_end BN at a time (BM = BN = 64 or 128, by the host's choice of
// $TR x $TG per invocation); for each gate tile it forms the BM x BN block of
// dot products from 16-feature tiles of X and U staged in workgroup memory (one barrier pair per
// feature step), each invocation holding $TR rows x $TG gates in registers. The mask is applied
// in the epilogue of each gate tile (an invocation's $TG gates share one nibble of a mask word),
// the masked sums accumulate per row in registers, and the 16 invocations that share rows are
// summed in a fixed order at the end: deterministic, no float atomics.
// Indices are clamped or guarded, so every access is in bounds by construction.

//#include forward_io

const BM: u32 = 16u * $TRu;
const BN: u32 = 16u * $TGu;
// Elements of one staged tile (BM = BN in every variant the host builds).
const TILE_ELEMS: u32 = BK * BM;
const BK: u32 = 16u;


// k-major tiles: xs[k * BM + row], us[k * BN + gate]. xs is reused for the final row sums.
var<workgroup> xs: array<real, TILE_ELEMS>;
var<workgroup> us: array<real, TILE_ELEMS>;

//#include mask_bits

@compute @workgroup_size(16, 16)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let r0 = (wid.x + wid.y * nwg.x) * BM;
    if (r0 >= prm.rows) {
        return;
    }
    let tid = lid.y * 16u + lid.x;
    let last = prm.rows - 1u;
    // This invocation's rows r0 + lid.y * $TR + R (clamped) and gates lid.x * $TG + G of a tile.
    //@R let ra$R = min(r0 + lid.y * $TRu + $Ru, last);
    //@R var o$R = real(0.0);
    for (var i = prm.i_begin; i < prm.i_end; i += BN) {
        //@RG var a$R_$G = real(0.0);
        for (var k0 = prm.j_begin; k0 < prm.j_end; k0 += BK) {
            for (var e = 0u; e < TILE_ELEMS / 256u; e++) {
                let f = e * 256u + tid;
                let m = f / BK;
                let k = f % BK;
                let j = k0 + k;
                let inside = j < prm.j_end;
                let jc = min(j, prm.j_end - 1u);
                let xv = x[min(r0 + m, last) * prm.d + jc];
                xs[k * BM + m] = select(real(0.0), xv, inside && r0 + m <= last);
                let uv = u[min(i + m, prm.i_end - 1u) * prm.d + jc];
                us[k * BN + m] = select(real(0.0), uv, inside && i + m < prm.i_end);
            }
            workgroupBarrier();
            for (var k = 0u; k < BK; k++) {
                //@R let xr$R = xs[k * BM + lid.y * $TRu + $Ru];
                //@G let ug$G = us[k * BN + lid.x * $TGu + $Gu];
                //@RG a$R_$G += xr$R * ug$G;
            }
            workgroupBarrier();
        }
        let gb = i + lid.x * $TGu;
        if (gb < prm.i_end) {
            let ng = min($TGu, prm.i_end - gb);
            //@R let m$R = gate_bits(ra$R, prm.g0 + gb, ng);
            //@RG o$R += select(real(0.0), a$R_$G, ((m$R >> $Gu) & 1u) != 0u);
        }
    }
    // Row sums over the 16 invocations that share rows, in order of lid.x.
    //@R xs[(lid.y * $TRu + $Ru) * 16u + lid.x] = o$R;
    workgroupBarrier();
    if (tid < BM && r0 + tid <= last) {
        var s = real(0.0);
        for (var t = 0u; t < 16u; t++) {
            s += xs[tid * 16u + t];
        }
        let k = (r0 + tid) * prm.c + prm.l;
        if (prm.accumulate != 0u) {
            preds[k] += s;
        } else {
            preds[k] = s;
        }
    }
}
