// Per-group regularizer kernels for one weight chunk of `groups` groups of d entries.
// reg: 0 neuron-gl1, 1 l2, 2 none, 3 l1 (elementwise).
// prox_step: out = prox_{eta lam R}(v - eta g); stat[k] = ||out_k - v_k||^2.
// group_stat, mode 0: stat[k] = R(v_k); mode 1: stat[k] = squared min-norm subgradient of
//   f + lam R for weights v_k and gradient g_k; mode 2: stat[k] = ||v_k||.
// Bindings: 0 v (read), 1 g (read), 2 out (read_write), 3 stat (read_write, one per group),
// 4 params (uniform). Workgroup size 64, one invocation per group.

struct Params {
    eta: real,
    lam: real,
    groups: u32,
    d: u32,
    reg: u32,
    mode: u32,
}

// Modes, named as the host names them (src/backend/wgpu/params.rs).
const STAT_PENALTY: u32 = 0u;
const STAT_SUBGRAD: u32 = 1u;
const STAT_NORM: u32 = 2u;

@group(0) @binding(0) var<storage, read> v: array<real>;
@group(0) @binding(1) var<storage, read> g: array<real>;
@group(0) @binding(2) var<storage, read_write> out: array<real>;
@group(0) @binding(3) var<storage, read_write> stat: array<real>;
@group(0) @binding(4) var<uniform> prm: Params;

@compute @workgroup_size(64)
fn prox_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    if (k >= prm.groups) {
        return;
    }
    let base = k * prm.d;
    let t = prm.eta * prm.lam;
    if (prm.reg == 3u) {
        // Soft-threshold entry by entry.
        var sq1: real = 0.0;
        for (var j = 0u; j < prm.d; j++) {
            let z = v[base + j] - prm.eta * g[base + j];
            let o = sign(z) * max(abs(z) - t, 0.0);
            out[base + j] = o;
            let diff = o - v[base + j];
            sq1 += diff * diff;
        }
        stat[k] = sq1;
        return;
    }
    var scale: real = 1.0;
    if (prm.reg == 0u) {
        var nrm2: real = 0.0;
        for (var j = 0u; j < prm.d; j++) {
            let z = v[base + j] - prm.eta * g[base + j];
            nrm2 += z * z;
        }
        let nrm = sqrt(nrm2);
        // Group soft-threshold; a zero group stays zero (no division by 0).
        scale = select(0.0, 1.0 - t / nrm, nrm > t);
    } else if (prm.reg == 1u) {
        scale = 1.0 / (1.0 + t);
    }
    var sq: real = 0.0;
    for (var j = 0u; j < prm.d; j++) {
        let o = scale * (v[base + j] - prm.eta * g[base + j]);
        out[base + j] = o;
        let diff = o - v[base + j];
        sq += diff * diff;
    }
    stat[k] = sq;
}

@compute @workgroup_size(64)
fn group_stat(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    if (k >= prm.groups) {
        return;
    }
    let base = k * prm.d;
    var un2: real = 0.0;
    for (var j = 0u; j < prm.d; j++) {
        un2 += v[base + j] * v[base + j];
    }
    let un = sqrt(un2);
    var s: real = 0.0;
    if (prm.mode == STAT_NORM) {
        s = un;
    } else if (prm.mode == STAT_PENALTY) {
        if (prm.reg == 0u) {
            s = un;
        } else if (prm.reg == 1u) {
            s = 0.5 * un2;
        } else if (prm.reg == 3u) {
            for (var j = 0u; j < prm.d; j++) {
                s += abs(v[base + j]);
            }
        }
    } else if (prm.reg == 3u) {
        // Entry by entry: g + lam sign(v) where v != 0, what is left of g outside [-lam, lam]
        // where v = 0.
        for (var j = 0u; j < prm.d; j++) {
            var e: real = max(abs(g[base + j]) - prm.lam, 0.0);
            if (v[base + j] != 0.0) {
                e = g[base + j] + prm.lam * sign(v[base + j]);
            }
            s += e * e;
        }
    } else if (prm.reg == 0u && un == 0.0) {
        // Subdifferential of lam ||.|| at 0 is the lam-ball: what is left of g outside it.
        var gn2: real = 0.0;
        for (var j = 0u; j < prm.d; j++) {
            gn2 += g[base + j] * g[base + j];
        }
        let e = max(sqrt(gn2) - prm.lam, 0.0);
        s = e * e;
    } else {
        var c: real = 0.0;
        if (prm.reg == 0u) {
            c = prm.lam / un;
        } else if (prm.reg == 1u) {
            c = prm.lam;
        }
        for (var j = 0u; j < prm.d; j++) {
            let e = g[base + j] + c * v[base + j];
            s += e * e;
        }
    }
    stat[k] = s;
}
