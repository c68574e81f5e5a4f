//! Overviews: each level halves the previous one, combining 2 × 2 pixels.

use rayon::prelude::*;

use crate::sample::Sample;

/// How an overview pixel is made from the (up to) 2 × 2 pixels below it.
///
/// "Valid" pixels are those that are neither NaN nor the nodata value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resampling {
    /// The top-left pixel, valid or not (GDAL's `NEAREST`, up to which of
    /// the four it picks). The default for integer bands.
    Nearest,
    /// The mean of the valid pixels (summed in f64; integers rounded half
    /// away from zero, booleans true from 0.5), or nodata when none is
    /// valid. The default for float bands.
    Mean,
    /// The largest valid pixel, or nodata when none is valid; for a
    /// validity mask, "any pixel valid". The default for `bool` bands.
    Max,
}

impl Resampling {
    /// The resampling used when none is chosen: [`Mean`](Self::Mean) for
    /// floats, [`Max`](Self::Max) for `bool`, [`Nearest`](Self::Nearest)
    /// for other integers.
    #[must_use]
    pub fn default_for<T: Sample>() -> Self {
        use crate::SampleType;
        match T::TYPE {
            SampleType::F32 | SampleType::F64 => Self::Mean,
            SampleType::Bool => Self::Max,
            _ => Self::Nearest,
        }
    }
}

/// A [`Resampling`] bound to a band's nodata value.
pub(crate) struct Reducer<T> {
    pub(crate) method: Resampling,
    pub(crate) nodata: Option<T>,
}

impl<T: Sample> Reducer<T> {
    fn is_valid(&self, v: T) -> bool {
        !v.is_nan() && self.nodata.is_none_or(|n| v != n)
    }

    /// Combines the pixels of one output pixel (`px` is never empty).
    fn reduce(&self, px: &[T]) -> T {
        let empty = || self.nodata.unwrap_or(px[0]);
        match self.method {
            Resampling::Nearest => px[0],
            Resampling::Mean => {
                let (mut n, mut sum) = (0u32, 0f64);
                for &v in px.iter().filter(|&&v| self.is_valid(v)) {
                    n += 1;
                    sum += v.to_f64();
                }
                if n == 0 {
                    empty()
                } else {
                    T::from_mean(sum / f64::from(n))
                }
            }
            Resampling::Max => px
                .iter()
                .copied()
                .filter(|&v| self.is_valid(v))
                .reduce(|a, b| if b > a { b } else { a })
                .unwrap_or_else(empty),
        }
    }

    /// Halves a `width × height` level; returns the new level and its size.
    pub(crate) fn downsample(&self, src: &[T], width: u32, height: u32) -> (Vec<T>, u32, u32) {
        let (w, h) = (width.div_ceil(2), height.div_ceil(2));
        let (sw, sh) = (width as usize, height as usize);
        let data = (0..h as usize)
            .into_par_iter()
            .flat_map_iter(|r| {
                let mut px = Vec::with_capacity(4);
                (0..w as usize)
                    .map(move |c| {
                        px.clear();
                        for rr in (2 * r)..(2 * r + 2).min(sh) {
                            for cc in (2 * c)..(2 * c + 2).min(sw) {
                                px.push(src[rr * sw + cc]);
                            }
                        }
                        self.reduce(&px)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        (data, w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_skips_nodata_and_nan() {
        let r = Reducer {
            method: Resampling::Mean,
            nodata: Some(-9999.0f32),
        };
        assert_eq!(r.reduce(&[1.0, 2.0, -9999.0, f32::NAN]), 1.5);
        assert_eq!(r.reduce(&[f32::NAN, -9999.0]), -9999.0);
        let r = Reducer {
            method: Resampling::Mean,
            nodata: None,
        };
        assert!(r.reduce(&[f64::NAN]).is_nan());
        let r = Reducer {
            method: Resampling::Mean,
            nodata: None,
        };
        assert_eq!(r.reduce(&[1i16, 2]), 2, "1.5 rounds away from zero");
        assert_eq!(r.reduce(&[-1i16, -2]), -2);
    }

    #[test]
    fn max_and_nearest() {
        let r = Reducer {
            method: Resampling::Max,
            nodata: Some(255u8),
        };
        assert_eq!(r.reduce(&[3, 255, 7, 1]), 7);
        assert_eq!(r.reduce(&[255]), 255);
        let r = Reducer {
            method: Resampling::Nearest,
            nodata: Some(255u8),
        };
        assert_eq!(r.reduce(&[255, 1]), 255);
    }

    #[test]
    fn downsample_handles_odd_sizes() {
        let r = Reducer {
            method: Resampling::Max,
            nodata: None,
        };
        // 3 × 3 → 2 × 2; the last column and row stand alone.
        let (d, w, h) = r.downsample(&[1u16, 2, 3, 4, 5, 6, 7, 8, 9], 3, 3);
        assert_eq!((w, h), (2, 2));
        assert_eq!(d, [5, 6, 8, 9]);
    }
}
