//! Structure-aware TIFF mutations: a small walker of the header and the
//! chain of image file directories (classic and BigTIFF, either byte
//! order) that knows where each entry's tag, type, count and value or
//! offset lie, and mutations that aim at those fields: counts and offsets
//! set to boundary values, types swapped, entries duplicated or reordered,
//! directory sizes and next-directory pointers broken, elements of
//! out-of-line arrays (tile offsets, byte counts, GeoKeys) overwritten.
//!
//! Independent of the `tiff` crate on purpose (as the testkit's other
//! readers are of the product's): the mutations must reach files that crate
//! would refuse, and must not share its idea of where a field is.

use proptest::prelude::*;

use super::bytes::{At, ByteMutation, at, boundary_u64, byte_mutation, write_word};

/// Directories walked at most (a COG has one per overview level, a hostile
/// file may loop).
const MAX_IFDS: usize = 32;
/// Entries listed per directory at most.
const MAX_ENTRIES: u64 = 4096;

/// Where the fields of one directory entry are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryLayout {
    /// Offset of the entry (its tag).
    pub at: usize,
    /// The tag.
    pub tag: u16,
    /// The field type (1 BYTE … 18 IFD8).
    pub field_type: u16,
    /// The count of values.
    pub count: u64,
    /// Offset of the 4-byte (classic) or 8-byte (BigTIFF) value/offset field.
    pub value_at: usize,
    /// Out-of-line values: where the array starts in the file and the size
    /// of one element, when the values do not fit the value field.
    pub array: Option<(usize, usize)>,
}

/// Where one directory's fields are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfdLayout {
    /// Offset of the entry count (the directory's start).
    pub at: usize,
    /// Its entries, in file order.
    pub entries: Vec<EntryLayout>,
    /// Offset of the pointer to the next directory.
    pub next_at: usize,
}

/// The header and directories of a TIFF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TiffLayout {
    /// Byte order.
    pub little: bool,
    /// BigTIFF (8-byte counts and offsets).
    pub big: bool,
    /// Offset of the first-directory pointer in the header.
    pub first_ifd_at: usize,
    /// The directories reachable from the header, in chain order.
    pub ifds: Vec<IfdLayout>,
}

impl TiffLayout {
    /// Width in bytes of counts and offsets.
    #[must_use]
    pub fn word(&self) -> usize {
        if self.big { 8 } else { 4 }
    }
}

/// Size in bytes of one value of a TIFF field type (0: unknown type).
#[must_use]
pub fn type_size(field_type: u16) -> usize {
    match field_type {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => 0,
    }
}

fn read(bytes: &[u8], at: usize, width: usize, little: bool) -> Option<u64> {
    let s = bytes.get(at..at.checked_add(width)?)?;
    let mut v = 0u64;
    for i in 0..width {
        let b = if little { s[width - 1 - i] } else { s[i] };
        v = (v << 8) | u64::from(b);
    }
    Some(v)
}

/// Walk the header and the directory chain. `None` when even the header
/// cannot be read; a broken directory ends the chain.
#[must_use]
pub fn layout(bytes: &[u8]) -> Option<TiffLayout> {
    let little = match bytes.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let big = match read(bytes, 2, 2, little)? {
        42 => false,
        43 => true,
        _ => return None,
    };
    let (word, first_ifd_at) = if big { (8, 8) } else { (4, 4) };
    let mut out = TiffLayout {
        little,
        big,
        first_ifd_at,
        ifds: Vec::new(),
    };
    let mut next = read(bytes, first_ifd_at, word, little)?;
    let (count_w, entry_w) = if big { (8, 20) } else { (2, 12) };
    while next != 0 && out.ifds.len() < MAX_IFDS {
        let Ok(at) = usize::try_from(next) else { break };
        if out.ifds.iter().any(|i| i.at == at) {
            break;
        }
        let Some(n) = read(bytes, at, count_w, little) else {
            break;
        };
        let mut entries = Vec::new();
        for i in 0..n.min(MAX_ENTRIES) {
            let e = at + count_w + usize::try_from(i).ok()? * entry_w;
            let (Some(tag), Some(ft), Some(count)) = (
                read(bytes, e, 2, little),
                read(bytes, e + 2, 2, little),
                read(bytes, e + 4, word, little),
            ) else {
                break;
            };
            let value_at = e + 4 + word;
            let size = type_size(ft as u16);
            let array = match count.checked_mul(size as u64) {
                Some(total) if size > 0 && total > word as u64 => {
                    read(bytes, value_at, word, little)
                        .and_then(|o| usize::try_from(o).ok())
                        .map(|o| (o, size))
                }
                _ => None,
            };
            entries.push(EntryLayout {
                at: e,
                tag: tag as u16,
                field_type: ft as u16,
                count,
                value_at,
                array,
            });
        }
        let next_at = at + count_w + usize::try_from(n.min(MAX_ENTRIES)).ok()? * entry_w;
        out.ifds.push(IfdLayout {
            at,
            entries,
            next_at,
        });
        match read(bytes, next_at, word, little) {
            Some(n) => next = n,
            None => break,
        }
    }
    Some(out)
}

/// Which field of an entry a mutation aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryField {
    /// The tag number.
    Tag,
    /// The field type.
    Type,
    /// The count of values.
    Count,
    /// The value, or the offset of the values.
    ValueOrOffset,
}

/// Tags geocube's reader depends on, so mutations aim at them more often
/// than a uniform pick over entries would.
pub const KEY_TAGS: &[u16] = &[
    256,   // ImageWidth
    257,   // ImageLength
    258,   // BitsPerSample
    259,   // Compression
    273,   // StripOffsets
    277,   // SamplesPerPixel
    278,   // RowsPerStrip
    279,   // StripByteCounts
    284,   // PlanarConfiguration
    317,   // Predictor
    322,   // TileWidth
    323,   // TileLength
    324,   // TileOffsets
    325,   // TileByteCounts
    339,   // SampleFormat
    33550, // ModelPixelScale
    33922, // ModelTiepoint
    34264, // ModelTransformation
    34735, // GeoKeyDirectory
    34736, // GeoDoubleParams
    34737, // GeoAsciiParams
    42113, // GDAL_NODATA
];

/// Which entry a mutation aims at: one with a key tag when there is one,
/// or any entry.
#[derive(Clone, Debug)]
pub enum EntryPick {
    /// The entry with this tag (falls back to `Any` when absent).
    Tag(u16),
    /// Any entry.
    Any(At),
}

/// One structure-aware edit of a TIFF file.
#[derive(Clone, Debug)]
pub enum TiffMutation {
    /// Overwrite a field of an entry in one directory.
    Entry {
        /// Which directory.
        ifd: At,
        /// Which entry.
        entry: EntryPick,
        /// Which field.
        field: EntryField,
        /// With what (the field's width decides how much of it is written).
        value: u64,
    },
    /// Overwrite one element of an entry's out-of-line array (a tile
    /// offset, a byte count, a GeoKey) in its own width.
    Element {
        /// Which directory.
        ifd: At,
        /// Which entry.
        entry: EntryPick,
        /// Which element.
        element: At,
        /// With what.
        value: u64,
    },
    /// Overwrite a directory's entry count.
    EntryCount {
        /// Which directory.
        ifd: At,
        /// With what.
        value: u64,
    },
    /// Overwrite a directory's next-directory pointer (or the header's
    /// first one): loops, pointers past the end, into the middle of data.
    NextIfd {
        /// Which directory (`None`: the header's pointer).
        ifd: Option<At>,
        /// With what.
        value: u64,
    },
    /// Copy one entry over another of the same directory (a duplicated tag).
    DuplicateEntry {
        /// Which directory.
        ifd: At,
        /// Copied entry.
        from: At,
        /// Overwritten entry.
        to: At,
    },
    /// Swap two entries (tags out of order).
    SwapEntries {
        /// Which directory.
        ifd: At,
        /// One entry.
        a: At,
        /// The other.
        b: At,
    },
    /// A plain byte mutation (structure-blind).
    Bytes(ByteMutation),
}

fn entry_pick() -> BoxedStrategy<EntryPick> {
    prop_oneof![
        2 => proptest::sample::select(KEY_TAGS.to_vec()).prop_map(EntryPick::Tag),
        1 => at().prop_map(EntryPick::Any),
    ]
    .boxed()
}

fn field() -> BoxedStrategy<EntryField> {
    proptest::sample::select(vec![
        EntryField::Tag,
        EntryField::Type,
        EntryField::Count,
        EntryField::Count,
        EntryField::ValueOrOffset,
        EntryField::ValueOrOffset,
    ])
    .boxed()
}

/// A strategy of one [`TiffMutation`], weighted towards counts, offsets and
/// the entries geocube reads.
pub fn tiff_mutation() -> BoxedStrategy<TiffMutation> {
    prop_oneof![
        6 => (at(), entry_pick(), field(), boundary_u64())
            .prop_map(|(ifd, entry, field, value)| TiffMutation::Entry { ifd, entry, field, value }),
        3 => (at(), entry_pick(), at(), boundary_u64())
            .prop_map(|(ifd, entry, element, value)| TiffMutation::Element { ifd, entry, element, value }),
        1 => (at(), boundary_u64()).prop_map(|(ifd, value)| TiffMutation::EntryCount { ifd, value }),
        1 => (proptest::option::of(at()), boundary_u64())
            .prop_map(|(ifd, value)| TiffMutation::NextIfd { ifd, value }),
        1 => (at(), at(), at())
            .prop_map(|(ifd, from, to)| TiffMutation::DuplicateEntry { ifd, from, to }),
        1 => (at(), at(), at())
            .prop_map(|(ifd, a, b)| TiffMutation::SwapEntries { ifd, a, b }),
        2 => byte_mutation().prop_map(TiffMutation::Bytes),
    ]
    .boxed()
}

/// One to `max` TIFF mutations.
pub fn tiff_mutations(max: usize) -> BoxedStrategy<Vec<TiffMutation>> {
    proptest::collection::vec(tiff_mutation(), 1..=max.max(1)).boxed()
}

fn pick_ifd<'a>(l: &'a TiffLayout, ifd: &At) -> Option<&'a IfdLayout> {
    (!l.ifds.is_empty()).then(|| &l.ifds[ifd.of(l.ifds.len())])
}

fn pick_entry<'a>(ifd: &'a IfdLayout, pick: &EntryPick) -> Option<&'a EntryLayout> {
    if ifd.entries.is_empty() {
        return None;
    }
    match pick {
        EntryPick::Tag(t) => ifd
            .entries
            .iter()
            .find(|e| e.tag == *t)
            .or_else(|| ifd.entries.first()),
        EntryPick::Any(i) => Some(&ifd.entries[i.of(ifd.entries.len())]),
    }
}

impl TiffMutation {
    /// Apply to `bytes` in place. The layout is read from the bytes as they
    /// are now, so earlier mutations steer later ones; a mutation whose
    /// target no longer exists does nothing.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        if let TiffMutation::Bytes(m) = self {
            m.apply(bytes);
            return;
        }
        let Some(l) = layout(bytes) else { return };
        let (little, word) = (l.little, l.word());
        let entry_w = if l.big { 20 } else { 12 };
        match self {
            TiffMutation::Entry {
                ifd,
                entry,
                field,
                value,
            } => {
                let Some(e) = pick_ifd(&l, ifd).and_then(|i| pick_entry(i, entry)) else {
                    return;
                };
                let (at, w) = match field {
                    EntryField::Tag => (e.at, 2),
                    EntryField::Type => (e.at + 2, 2),
                    EntryField::Count => (e.at + 4, word),
                    EntryField::ValueOrOffset => (e.value_at, word),
                };
                write_word(bytes, at, *value, w, little);
            }
            TiffMutation::Element {
                ifd,
                entry,
                element,
                value,
            } => {
                let Some(e) = pick_ifd(&l, ifd).and_then(|i| pick_entry(i, entry)) else {
                    return;
                };
                let n = usize::try_from(e.count).unwrap_or(usize::MAX).max(1);
                match e.array {
                    Some((start, size)) => {
                        let at = start.saturating_add(element.of(n).saturating_mul(size));
                        write_word(bytes, at, *value, size, little);
                    }
                    None => {
                        // Values inline in the value field.
                        let size = type_size(e.field_type).max(1);
                        let k = element.of((word / size).max(1));
                        write_word(bytes, e.value_at + k * size, *value, size, little);
                    }
                }
            }
            TiffMutation::EntryCount { ifd, value } => {
                if let Some(i) = pick_ifd(&l, ifd) {
                    write_word(bytes, i.at, *value, if l.big { 8 } else { 2 }, little);
                }
            }
            TiffMutation::NextIfd { ifd, value } => {
                let at = match ifd {
                    None => Some(l.first_ifd_at),
                    Some(i) => pick_ifd(&l, i).map(|i| i.next_at),
                };
                if let Some(at) = at {
                    write_word(bytes, at, *value, word, little);
                }
            }
            TiffMutation::DuplicateEntry { ifd, from, to } => {
                let Some(i) = pick_ifd(&l, ifd).filter(|i| !i.entries.is_empty()) else {
                    return;
                };
                let n = i.entries.len();
                let (f, t) = (i.entries[from.of(n)].at, i.entries[to.of(n)].at);
                if f + entry_w <= bytes.len() && t + entry_w <= bytes.len() {
                    bytes.copy_within(f..f + entry_w, t);
                }
            }
            TiffMutation::SwapEntries { ifd, a, b } => {
                let Some(i) = pick_ifd(&l, ifd).filter(|i| !i.entries.is_empty()) else {
                    return;
                };
                let n = i.entries.len();
                let (x, y) = (i.entries[a.of(n)].at, i.entries[b.of(n)].at);
                if x != y && x.max(y) + entry_w <= bytes.len() {
                    let ex = bytes[x..x + entry_w].to_vec();
                    bytes.copy_within(y..y + entry_w, x);
                    bytes[y..y + entry_w].copy_from_slice(&ex);
                }
            }
            TiffMutation::Bytes(_) => {}
        }
    }
}

/// `seed` with `mutations` applied in order.
#[must_use]
pub fn mutate_tiff(seed: &[u8], mutations: &[TiffMutation]) -> Vec<u8> {
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

    fn cog() -> Vec<u8> {
        geocube_geotiff::CogWriter::new(40, 30)
            .geotransform([0.0, 1.0, 0.0, 30.0, 0.0, -1.0])
            .epsg(3413, geocube_geotiff::CrsKind::Projected)
            .block_size(16)
            .nodata(-9999.0)
            .to_vec(&vec![1.5f32; 40 * 30])
            .unwrap()
    }

    #[test]
    fn walks_a_cog_and_aims_at_its_fields() {
        let bytes = cog();
        let l = layout(&bytes).unwrap();
        assert!(l.little && !l.big);
        // Full resolution plus overviews down to one 16-px block.
        assert!(l.ifds.len() >= 2, "{l:?}");
        let first = &l.ifds[0];
        let offsets = first.entries.iter().find(|e| e.tag == 324).unwrap();
        assert_eq!(offsets.count, 3 * 2, "40×30 px in 16-px tiles");
        assert!(offsets.array.is_some());

        let m = TiffMutation::Entry {
            ifd: At(0),
            entry: EntryPick::Tag(324),
            field: EntryField::Count,
            value: 0xFFFF_FFFF,
        };
        let mut b = bytes.clone();
        m.apply(&mut b);
        let l2 = layout(&b).unwrap();
        let e = l2.ifds[0].entries.iter().find(|e| e.tag == 324).unwrap();
        assert_eq!(e.count, 0xFFFF_FFFF);

        let m = TiffMutation::Element {
            ifd: At(0),
            entry: EntryPick::Tag(325),
            element: At(u32::MAX),
            value: 0x7FFF_FFFF,
        };
        let mut b = bytes.clone();
        m.apply(&mut b);
        let e = layout(&b).unwrap().ifds[0]
            .entries
            .iter()
            .find(|e| e.tag == 325)
            .cloned()
            .unwrap();
        let (start, size) = e.array.unwrap();
        assert_eq!(size, 4);
        let last = start + 5 * size;
        assert_eq!(&b[last..last + 4], &0x7FFF_FFFFu32.to_le_bytes());
    }

    #[test]
    fn swapped_entries_break_the_tag_order() {
        let bytes = cog();
        let m = TiffMutation::SwapEntries {
            ifd: At(0),
            a: At(0),
            b: At(u32::MAX),
        };
        let mut b = bytes.clone();
        m.apply(&mut b);
        let tags = |b: &[u8]| -> Vec<u16> {
            layout(b).unwrap().ifds[0]
                .entries
                .iter()
                .map(|e| e.tag)
                .collect()
        };
        let (before, after) = (tags(&bytes), tags(&b));
        assert_eq!(after.first(), before.last());
        assert_eq!(after.last(), before.first());
    }
}
