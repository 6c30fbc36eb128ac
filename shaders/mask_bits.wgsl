// The mask bits of up to 16 consecutive gates, for the kernels that bind `mask` and a `prm`
// with `words` (pasted in where a shader says `//#include mask_bits`).

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
