//! Byte-level mutations of a valid input: bit flips, bytes and words
//! overwritten with boundary values, truncation, insertion, removal and
//! duplication of spans, as proptest strategies (so failures shrink to few,
//! simple mutations).

use proptest::collection::vec;
use proptest::prelude::*;

/// A position as a fraction of a length (`At(0)` the start, `At(u32::MAX)`
/// the last element), so one mutation fits an input of any length and
/// shrinks towards its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At(pub u32);

impl At {
    /// The position in `0..len` (0 when `len` is 0).
    #[must_use]
    pub fn of(self, len: usize) -> usize {
        // len · fraction < len for every fraction below one.
        usize::try_from((len as u128 * u128::from(self.0)) >> 32).unwrap_or(0)
    }
}

/// A strategy of [`At`]s.
pub fn at() -> BoxedStrategy<At> {
    any::<u32>().prop_map(At).boxed()
}

/// Values that break length, offset and count fields: zero, one, the edges
/// of each signed and unsigned width, powers of two that pass naive limits
/// (a count of 2²³ values fits a 256 MiB cap of 32-byte values), and any.
pub fn boundary_u64() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            0u64,
            1,
            2,
            3,
            4,
            7,
            8,
            0x7F,
            0x80,
            0xFF,
            0x100,
            0x7FFF,
            0x8000,
            0xFFFF,
            0x1_0000,
            1 << 20,
            1 << 23,
            1 << 24,
            1 << 28,
            0x7FFF_FFFF,
            0x8000_0000,
            0xFFFF_FFFE,
            0xFFFF_FFFF,
            1 << 32,
            1 << 40,
            i64::MAX as u64,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ]),
        1 => 0u64..4096,
        1 => any::<u64>(),
    ]
    .boxed()
}

/// One edit of a byte string. Positions are [`At`]s, scaled to the
/// length of the bytes when applied, so one mutation fits any input.
#[derive(Clone, Debug)]
pub enum ByteMutation {
    /// Flip one bit.
    FlipBit {
        /// Where.
        at: At,
        /// Which bit (0–7).
        bit: u8,
    },
    /// Overwrite one byte.
    SetByte {
        /// Where.
        at: At,
        /// With what.
        value: u8,
    },
    /// Overwrite `width` bytes (1, 2, 4 or 8) with the low bytes of `value`
    /// in either byte order: how a length, offset or count field goes bad.
    SetWord {
        /// Where the word starts (clamped so it fits).
        at: At,
        /// The value written.
        value: u64,
        /// Bytes written.
        width: u8,
        /// Little-endian (`true`) or big-endian.
        little: bool,
    },
    /// Cut the bytes at a position.
    Truncate {
        /// Where.
        at: At,
    },
    /// Insert bytes.
    Insert {
        /// Where.
        at: At,
        /// What.
        bytes: Vec<u8>,
    },
    /// Remove up to `len` bytes.
    Remove {
        /// From where.
        at: At,
        /// How many at most.
        len: usize,
    },
    /// Copy a span over another place (a duplicated record).
    CopyOver {
        /// Source.
        from: At,
        /// Destination.
        to: At,
        /// Bytes copied at most.
        len: usize,
    },
    /// Insert a copy of a span elsewhere (a repeated record).
    Duplicate {
        /// Source.
        from: At,
        /// Where the copy goes.
        to: At,
        /// Bytes copied at most.
        len: usize,
    },
}

/// A strategy of one [`ByteMutation`], word overwrites with
/// [`boundary_u64`] values weighted up.
pub fn byte_mutation() -> BoxedStrategy<ByteMutation> {
    prop_oneof![
        3 => (at(), 0u8..8).prop_map(|(at, bit)| ByteMutation::FlipBit { at, bit }),
        2 => (at(), prop_oneof![proptest::sample::select(vec![0u8, 1, 0x7F, 0x80, 0xFF]), any::<u8>()])
            .prop_map(|(at, value)| ByteMutation::SetByte { at, value }),
        4 => (at(), boundary_u64(), proptest::sample::select(vec![1u8, 2, 4, 8]), any::<bool>())
            .prop_map(|(at, value, width, little)| ByteMutation::SetWord { at, value, width, little }),
        1 => at().prop_map(|at| ByteMutation::Truncate { at }),
        1 => (at(), vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| ByteMutation::Insert { at, bytes }),
        1 => (at(), 1usize..64).prop_map(|(at, len)| ByteMutation::Remove { at, len }),
        1 => (at(), at(), 1usize..64)
            .prop_map(|(from, to, len)| ByteMutation::CopyOver { from, to, len }),
        1 => (at(), at(), 1usize..64)
            .prop_map(|(from, to, len)| ByteMutation::Duplicate { from, to, len }),
    ]
    .boxed()
}

/// One to `max` byte mutations.
pub fn byte_mutations(max: usize) -> BoxedStrategy<Vec<ByteMutation>> {
    vec(byte_mutation(), 1..=max.max(1)).boxed()
}

fn pick(at: &At, len: usize) -> usize {
    at.of(len)
}

/// Write the low `width` bytes of `value` at `at` in the given byte order
/// (nothing when the bytes are shorter than `width`).
pub fn write_word(bytes: &mut [u8], at: usize, value: u64, width: usize, little: bool) {
    let Some(dst) = bytes.get_mut(at..at.saturating_add(width)) else {
        return;
    };
    let le = value.to_le_bytes();
    for (i, d) in dst.iter_mut().enumerate() {
        *d = if little { le[i] } else { le[width - 1 - i] };
    }
}

impl ByteMutation {
    /// Apply to `bytes` in place.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match self {
            ByteMutation::FlipBit { at, bit } => {
                if len > 0 {
                    bytes[pick(at, len)] ^= 1 << (bit % 8);
                }
            }
            ByteMutation::SetByte { at, value } => {
                if len > 0 {
                    bytes[pick(at, len)] = *value;
                }
            }
            ByteMutation::SetWord {
                at,
                value,
                width,
                little,
            } => {
                let w = usize::from(*width).clamp(1, 8);
                if len >= w {
                    let start = pick(at, len - w + 1);
                    write_word(bytes, start, *value, w, *little);
                }
            }
            ByteMutation::Truncate { at } => bytes.truncate(pick(at, len)),
            ByteMutation::Insert { at, bytes: new } => {
                let i = pick(at, len + 1);
                bytes.splice(i..i, new.iter().copied());
            }
            ByteMutation::Remove { at, len: n } => {
                let i = pick(at, len);
                let end = i.saturating_add(*n).min(len);
                bytes.drain(i..end);
            }
            ByteMutation::CopyOver { from, to, len: n } => {
                if len > 0 {
                    let (f, t) = (pick(from, len), pick(to, len));
                    let n = (*n).min(len - f).min(len - t);
                    bytes.copy_within(f..f + n, t);
                }
            }
            ByteMutation::Duplicate { from, to, len: n } => {
                if len > 0 {
                    let f = pick(from, len);
                    let n = (*n).min(len - f);
                    let copy = bytes[f..f + n].to_vec();
                    let t = pick(to, len + 1);
                    bytes.splice(t..t, copy);
                }
            }
        }
    }
}

/// `seed` with `mutations` applied in order.
#[must_use]
pub fn mutate(seed: &[u8], mutations: &[ByteMutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in mutations {
        m.apply(&mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::test_runner::TestRunner;

    #[test]
    fn words_land_in_either_byte_order() {
        let mut b = vec![0u8; 6];
        write_word(&mut b, 1, 0x0102_0304, 4, true);
        assert_eq!(b, [0, 4, 3, 2, 1, 0]);
        write_word(&mut b, 1, 0x0102_0304, 4, false);
        assert_eq!(b, [0, 1, 2, 3, 4, 0]);
        write_word(&mut b, 4, u64::MAX, 4, true); // does not fit: unchanged
        assert_eq!(b, [0, 1, 2, 3, 4, 0]);
    }

    #[test]
    fn every_mutation_applies_to_any_length() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..2000 {
            let m = byte_mutation().new_tree(&mut runner).unwrap().current();
            for len in [0usize, 1, 3, 100] {
                let mut b: Vec<u8> = (0..len).map(|i| i as u8).collect();
                m.apply(&mut b);
            }
        }
    }
}
