//! The mask passes of the dense products in vector lanes: the forward's sum of a row's block
//! entries over the gates set in the mask, and the gradient's zeroing of a block row's
//! residuals where the gate is off. A walk over the set bits costs a mispredicted branch per
//! mask word and a serial add chain; on the digits (d = 65) these passes took a third of a
//! working-set solve. Here the bits are read 64 at a time and each entry is selected, so the
//! compiler emits masked vector operations (an AVX-512 and an AVX2 copy are chosen at run time).

use super::wide::{Wide, wide};
use crate::real::Real;

/// Lanes of the forward's sum: column t of a block row goes to accumulator t mod LANES, and
/// the lanes are added in one fixed order (`reduce`). The group-sparse forward uses the same
/// lanes, so both paths give the same bits.
pub(super) const LANES: usize = 8;

/// The 64 mask bits of a row from column `pos` on (columns past the row read as unset).
#[inline(always)]
fn bits_from(words: &[u64], pos: usize) -> u64 {
    let (w, s) = (pos >> 6, pos & 63);
    let lo = words.get(w).copied().unwrap_or(0) >> s;
    if s == 0 {
        lo
    } else {
        lo | (words.get(w + 1).copied().unwrap_or(0) << (64 - s))
    }
}

/// The lanes' total, in the one order both forward paths use.
#[inline(always)]
pub(super) fn reduce<T: Real>(acc: &[T; LANES]) -> T {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

#[inline(always)]
fn select<T: Real>(bits: u64, j: usize, v: T) -> T {
    if (bits >> j) & 1 == 1 { v } else { T::zero() }
}

/// The mask bits of the segment row[start..end] (mask column pos for row[start]) seen from
/// column t <= end of the row: bit j for column t + j, unset outside the segment.
#[inline(always)]
fn window(words: &[u64], pos: usize, (start, end): (usize, usize), t: usize) -> u64 {
    let raw = if t >= start {
        bits_from(words, pos + (t - start))
    } else {
        bits_from(words, pos) << (start - t)
    };
    if end - t < 64 {
        raw & ((1u64 << (end - t)) - 1)
    } else {
        raw
    }
}

/// Sum of row[start + k] over the k < len whose mask bit pos + k is set. Column t of the row
/// goes to lane t mod LANES: chunks aligned to the row, so short segments (working sets) run in
/// lanes too, with the bits outside the segment cleared.
#[inline(always)]
fn masked_sum_body<T: Real>(row: &[T], start: usize, len: usize, words: &[u64], pos: usize) -> T {
    let end = start + len;
    let mut acc = [T::zero(); LANES];
    let mut t = start - start % LANES;
    while t < end {
        let w = window(words, pos, (start, end), t);
        let stop = (t + 64).min(end);
        let mut h = t;
        while h < stop {
            let b = w >> (h - t);
            if let Some(chunk) = row.get(h..h + LANES) {
                let chunk: &[T; LANES] = chunk.try_into().expect("exact chunk");
                for j in 0..LANES {
                    acc[j] = acc[j] + select(b, j, chunk[j]);
                }
            } else {
                // The row's last, partial chunk.
                for (j, &v) in row[h..].iter().enumerate() {
                    acc[j] = acc[j] + select(b, j, v);
                }
            }
            h += LANES;
        }
        t += 64;
    }
    reduce(&acc)
}

/// out[k] = value(out[k]) where mask bit pos + k is set, else zero.
#[inline(always)]
fn masked_map_body<T: Real>(out: &mut [T], words: &[u64], pos: usize, value: impl Fn(T) -> T) {
    let full = out.len() - out.len() % 64;
    let (main, rest) = out.split_at_mut(full);
    for (q, block) in main.chunks_exact_mut(64).enumerate() {
        let bits = bits_from(words, pos + 64 * q);
        let block: &mut [T; 64] = block.try_into().expect("exact block");
        for (j, o) in block.iter_mut().enumerate() {
            *o = select(bits, j, value(*o));
        }
    }
    let bits = bits_from(words, pos + full);
    for (k, o) in rest.iter_mut().enumerate() {
        *o = select(bits, k, value(*o));
    }
}

macro_rules! wide_copies {
    ($module:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use super::*;

            #[target_feature(enable = $features)]
            pub(super) fn masked_sum<T: Real>(
                row: &[T],
                start: usize,
                len: usize,
                words: &[u64],
                pos: usize,
            ) -> T {
                masked_sum_body(row, start, len, words, pos)
            }

            #[target_feature(enable = $features)]
            pub(super) fn masked_keep<T: Real>(out: &mut [T], words: &[u64], pos: usize) {
                masked_map_body(out, words, pos, |v| v)
            }

            #[target_feature(enable = $features)]
            pub(super) fn masked_fill<T: Real>(out: &mut [T], v: T, words: &[u64], pos: usize) {
                masked_map_body(out, words, pos, |_| v)
            }
        }
    };
}
wide_copies!(avx2, "avx,avx2");
wide_copies!(avx512, "avx,avx2,avx512f");

/// Sum of row[start + k] over the k < len whose bit pos + k is set in the mask row `words`,
/// in lanes by row column (see `masked_sum_body`).
#[inline]
pub(super) fn masked_sum<T: Real>(
    row: &[T],
    start: usize,
    len: usize,
    words: &[u64],
    pos: usize,
) -> T {
    // SAFETY (both calls): the CPU has the features the copy is compiled with (`wide`).
    #[cfg(target_arch = "x86_64")]
    match wide() {
        Wide::Avx512 => return unsafe { avx512::masked_sum(row, start, len, words, pos) },
        Wide::Avx2 => return unsafe { avx2::masked_sum(row, start, len, words, pos) },
        Wide::None => {}
    }
    masked_sum_body(row, start, len, words, pos)
}

/// out[k] zeroed where bit pos + k is unset in the mask row `words`.
#[inline]
pub(super) fn masked_keep<T: Real>(out: &mut [T], words: &[u64], pos: usize) {
    // SAFETY (both calls): as above.
    #[cfg(target_arch = "x86_64")]
    match wide() {
        Wide::Avx512 => return unsafe { avx512::masked_keep(out, words, pos) },
        Wide::Avx2 => return unsafe { avx2::masked_keep(out, words, pos) },
        Wide::None => {}
    }
    masked_map_body(out, words, pos, |v| v)
}

/// out[k] = v where bit pos + k is set in the mask row `words`, else zero: a segment of the
/// gradient's residual block in one write, where a fill and a `masked_keep` pass wrote it twice
/// and read it once.
#[inline]
pub(super) fn masked_fill<T: Real>(out: &mut [T], v: T, words: &[u64], pos: usize) {
    // SAFETY (both calls): as above.
    #[cfg(target_arch = "x86_64")]
    match wide() {
        Wide::Avx512 => return unsafe { avx512::masked_fill(out, v, words, pos) },
        Wide::Avx2 => return unsafe { avx2::masked_fill(out, v, words, pos) },
        Wide::None => {}
    }
    masked_map_body(out, words, pos, |_| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed pseudo-random stream (splitmix64).
    fn stream(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn check<T: Real>() {
        let mut next = stream(7);
        let words: Vec<u64> = (0..6).map(|_| next()).collect();
        let bit = |i: usize| (words[i >> 6] >> (i & 63)) & 1 == 1;
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 130, 200] {
            for pos in [0, 1, 13, 63, 64, 100] {
                if pos + len > 64 * words.len() {
                    continue;
                }
                // The segment sits at column `start` of a longer row, whose other entries the
                // sum must not read into.
                for start in [0, 3, 8, 13] {
                    let row: Vec<T> = (0..start + len + 5)
                        .map(|_| T::of((next() % 1000) as f64 / 7.0 - 70.0))
                        .collect();
                    for row in [&row[..], &row[..start + len]] {
                        let mut acc = [T::zero(); LANES];
                        for k in 0..len {
                            if bit(pos + k) {
                                let t = start + k;
                                acc[t % LANES] = acc[t % LANES] + row[t];
                            }
                        }
                        let sum = masked_sum(row, start, len, &words, pos);
                        let want = reduce(&acc).f().to_bits();
                        assert_eq!(sum.f().to_bits(), want, "len {len} pos {pos} start {start}");
                        let body = masked_sum_body(row, start, len, &words, pos);
                        assert_eq!(body.f().to_bits(), want);
                        let exact: f64 = (0..len)
                            .filter(|&k| bit(pos + k))
                            .map(|k| row[start + k].f())
                            .sum();
                        assert!((sum.f() - exact).abs() <= 1e-3 * (1.0 + exact.abs()));
                    }
                }

                let vals: Vec<f64> = (0..len).map(|k| k as f64 + 0.5).collect();
                let mut out: Vec<T> = vals.iter().map(|&v| T::of(v)).collect();
                masked_keep(&mut out, &words, pos);
                for (k, &o) in out.iter().enumerate() {
                    let want = if bit(pos + k) { vals[k] } else { 0.0 };
                    assert_eq!(o.f(), want, "len {len} pos {pos}");
                }
                let mut out = vec![T::of(f64::NAN); len];
                masked_fill(&mut out, T::of(-2.5), &words, pos);
                for (k, &o) in out.iter().enumerate() {
                    let want = if bit(pos + k) { -2.5 } else { 0.0 };
                    assert_eq!(o.f(), want, "fill, len {len} pos {pos}");
                }
            }
        }
    }

    #[test]
    fn masked_passes_match_the_bit_walk() {
        check::<f32>();
        check::<f64>();
    }
}
