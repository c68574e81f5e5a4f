//! The NPY reply: a version 1.0 `.npy` file of a structured array with one
//! field per band, shape `(height, width)`, byte for byte what numpy's
//! `np.save` writes for it.
//!
//! Version 1.0 because GDAL's EEDAI driver refuses any other ("Only
//! version 1 of NPY array supported"). numpy's header is the dict
//! `{'descr': [...], 'fortran_order': False, 'shape': (h, w), }`, then
//! spare spaces so the first dimension can grow to 21 digits in place,
//! then spaces and a newline up to a multiple of 64 bytes.

use super::image::Band;

/// numpy's `GROWTH_AXIS_MAX_DIGITS`.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// numpy's `ARRAY_ALIGN`.
const ARRAY_ALIGN: usize = 64;
/// Magic string and version 1.0.
const MAGIC: &[u8; 8] = b"\x93NUMPY\x01\x00";

/// Python's `repr` of a str, as numpy writes field names.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The NPY header for `bands` and the shape `(height, width)`; `Err` when
/// it does not fit version 1.0's 16-bit header length.
pub(crate) fn header(bands: &[Band], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let descr: Vec<String> = bands
        .iter()
        .map(|b| format!("({}, '{}')", py_repr(&b.name), b.ty.npy_descr()))
        .collect();
    let mut dict = format!(
        "{{'descr': [{}], 'fortran_order': False, 'shape': ({height}, {width}), }}",
        descr.join(", ")
    );
    let first = height.to_string().len();
    dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(first)));
    // numpy: hlen counts the newline; padlen is 1..=64, never 0.
    let hlen = dict.len() + 1;
    let pad = ARRAY_ALIGN - (MAGIC.len() + 2 + hlen) % ARRAY_ALIGN;
    let total = u16::try_from(hlen + pad).map_err(|_| {
        format!(
            "The NPY header of {} bands is {} bytes, more than NPY 1.0 allows.",
            bands.len(),
            hlen + pad
        )
    })?;
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + hlen + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ee::PixelType;

    #[test]
    fn header_like_numpy() {
        let bands = [
            Band {
                name: "b1".into(),
                ty: PixelType::U8,
            },
            Band {
                name: "b3".into(),
                ty: PixelType::U8,
            },
        ];
        let h = header(&bands, 2, 3).expect("fits");
        // np.save of np.zeros((3, 2), dtype=[('b1', 'u1'), ('b3', 'u1')]).
        let want =
            "{'descr': [('b1', '|u1'), ('b3', '|u1')], 'fortran_order': False, 'shape': (3, 2), }";
        assert_eq!(&h[..8], MAGIC);
        assert_eq!(h.len() % 64, 0);
        assert_eq!(usize::from(u16::from_le_bytes([h[8], h[9]])), h.len() - 10);
        assert!(h[10..].starts_with(want.as_bytes()));
        assert_eq!(h.last(), Some(&b'\n'));
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
    }
}
