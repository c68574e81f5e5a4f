//! The read path: a window (and time steps) of every variable, one row band
//! per touched chunk, decoded in parallel and copied into the result once.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ndarray::{Array2, ArrayD, Axis, IxDyn, Slice};
use rayon::prelude::*;
use zarrs::array::Array;

use super::blosc::{is_plain_blosc, read_band_blosc};
use super::cache::ChunkSource;
use super::layout::VariableLayout;
use super::store::IcechunkSyncStore;
use super::{Cube, corrupt_chunk};
use crate::dataset::{CubeElement, Dataset, Variable};
use crate::toi::{TimeMethod, Toi};
use crate::{Aoi, Error, Result, Window, with_dtype};

impl Cube {
    /// Read the pixels of `window` (in cube pixel indices, clipped to the
    /// cube) at the time indices `time` (all steps when `None`).
    ///
    /// # Errors
    /// [`Error::InvalidAoi`] when the window misses the cube; storage errors.
    pub fn read_window(&self, window: Window, time: Option<&[usize]>) -> Result<Dataset> {
        let (w, time_idx) = self.check_read(window, time)?;
        let geobox = self.layout.geobox.window(w)?;
        let store = self.readonly_store()?;
        let open = open_variables(&store, &self.layout.variables)?;
        let open: Vec<&OpenVariable> = open.iter().collect();
        let variables = read_variables(
            &ChunkSource {
                store: &store,
                cache: &self.chunks,
            },
            &open,
            w,
            time_idx.as_deref(),
            self.layout.chunk_shape,
        )?;
        Ok(Dataset {
            geobox,
            time: self.time_values(time_idx.as_deref()),
            variables,
        })
    }

    /// `window` clipped to the cube (an error when nothing is left) and the
    /// time indices a read of `time` covers (all steps when `None`),
    /// checked against the time axis.
    pub(super) fn check_read(
        &self,
        window: Window,
        time: Option<&[usize]>,
    ) -> Result<(Window, Option<Vec<usize>>)> {
        let full = self.layout.geobox.full_window();
        let w = window
            .intersection(&full)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| Error::InvalidAoi(format!("window {window:?} lies outside the cube")))?;
        let time_idx: Option<Vec<usize>> = match (&self.layout.time, time) {
            (Some(axis), Some(sel)) => {
                if let Some(bad) = sel.iter().find(|i| **i >= axis.len()) {
                    return Err(Error::InvalidToi(format!(
                        "time index {bad} out of range 0..{}",
                        axis.len()
                    )));
                }
                Some(sel.to_vec())
            }
            (Some(axis), None) => Some((0..axis.len()).collect()),
            (None, Some(_)) => return Err(Error::InvalidToi("the cube has no time axis".into())),
            (None, None) => None,
        };
        Ok((w, time_idx))
    }

    /// The time coordinate of the time indices `idx` (checked by `check_read`).
    pub(super) fn time_values(&self, idx: Option<&[usize]>) -> Option<Vec<DateTime<Utc>>> {
        let axis = self.layout.time.as_ref()?;
        Some(idx?.iter().filter_map(|i| axis.get(*i).copied()).collect())
    }

    /// Read the cube cropped to the bounding box of `aoi` (every pixel the
    /// box touches, rounded outward), at the steps `toi` selects (nearest).
    ///
    /// # Errors
    /// [`Error::AoiOutsideExtent`], [`Error::NoMatchingTime`], storage errors.
    pub fn read_aoi(&self, aoi: &Aoi, toi: &Toi) -> Result<Dataset> {
        let window = self.aoi_window(aoi)?;
        let time = self.select_time(toi)?;
        self.read_window(window, time.as_deref())
    }

    /// The cube window holding every pixel the AOI's bounding box (in the
    /// cube CRS) touches.
    ///
    /// # Errors
    /// [`Error::AoiOutsideExtent`]; CRS errors.
    pub fn aoi_window(&self, aoi: &Aoi) -> Result<Window> {
        let gb = &self.layout.geobox;
        let bounds = aoi.bounds_in(gb.crs())?;
        gb.crop_bbox(&bounds)
            .map(|(w, _)| w)
            .ok_or_else(|| Error::AoiOutsideExtent {
                aoi: bounds.to_string(),
                extent: gb.bbox().to_string(),
            })
    }

    /// Time indices `toi` selects (nearest), `None` for a spatial cube.
    ///
    /// # Errors
    /// [`Error::NoMatchingTime`]; [`Error::InvalidToi`] for a time on a spatial cube.
    pub fn select_time(&self, toi: &Toi) -> Result<Option<Vec<usize>>> {
        match (&self.layout.time, toi) {
            (None, Toi::None) => Ok(None),
            (None, _) => Err(Error::InvalidToi(
                "the cube has no time axis; give no time of interest".into(),
            )),
            (Some(axis), toi) => toi.select(axis, TimeMethod::Nearest).map(Some),
        }
    }
}

/// A data variable of the cube with its Zarr array opened on one session.
pub(super) struct OpenVariable {
    pub(super) layout: VariableLayout,
    pub(super) array: Array<IcechunkSyncStore>,
}

/// Open every variable of `layouts` on `store`.
pub(super) fn open_variables(
    store: &Arc<IcechunkSyncStore>,
    layouts: &[VariableLayout],
) -> Result<Vec<OpenVariable>> {
    layouts
        .iter()
        .map(|v| {
            Ok(OpenVariable {
                layout: v.clone(),
                array: Array::open(Arc::clone(store), &format!("/{}", v.name))
                    .map_err(Error::zarr)?,
            })
        })
        .collect()
}

/// Read `w` (cube pixels, inside the cube) at the time indices `time` of
/// every variable of `vars`, in parallel.
pub(super) fn read_variables(
    source: &ChunkSource<'_>,
    vars: &[&OpenVariable],
    w: Window,
    time: Option<&[usize]>,
    chunk_shape: (usize, usize),
) -> Result<BTreeMap<String, Variable>> {
    vars.par_iter()
        .map(|v| {
            let data = with_dtype!(v.layout.dtype, |T| T::wrap(read_region::<T>(
                &v.array,
                source,
                w,
                time,
                chunk_shape,
            )?));
            Ok((
                v.layout.name.clone(),
                Variable {
                    data,
                    attributes: v.layout.attributes.clone(),
                },
            ))
        })
        .collect()
}

/// Read `window` (and time indices) of one variable; fill where never written.
///
/// Each touched chunk is read as one full-width band of its rows: in C order
/// that is a single contiguous byte range. For blosc chunks (every codec but
/// plain `zstd`) we fetch the encoded chunk and decompress only the blosc
/// blocks the band spans, one block per task in parallel: zarrs' own blosc
/// partial decoder sits behind a whole-chunk cache in its codec chain, so a
/// 10-row read decompressed the entire chunk on one thread. Other codecs go
/// through zarrs' `retrieve_chunk_subset`. Chunks are read in parallel and
/// each band is copied into the result once.
#[allow(clippy::cast_possible_truncation)]
pub(super) fn read_region<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    source: &ChunkSource<'_>,
    w: Window,
    time: Option<&[usize]>,
    chunk_shape: (usize, usize),
) -> Result<ArrayD<T>> {
    let (ch, cw) = chunk_shape;
    let steps: Vec<Option<usize>> = match time {
        None => vec![None],
        Some(steps) => steps.iter().map(|t| Some(*t)).collect(),
    };
    let mut tasks = vec![];
    for (k, t) in steps.iter().enumerate() {
        for cy in w.row / ch..=(w.row + w.height - 1) / ch {
            for cx in w.col / cw..=(w.col + w.width - 1) / cw {
                tasks.push((k, *t, cy, cx));
            }
        }
    }
    let blosc = is_plain_blosc(array);
    let bands = tasks
        .par_iter()
        .map(|&(k, t, cy, cx)| {
            let chunk_window = Window {
                row: cy * ch,
                col: cx * cw,
                height: ch,
                width: cw,
            };
            let inter = w.intersection(&chunk_window).ok_or_else(|| {
                Error::InvalidAoi(format!("window {w:?} misses chunk ({cy}, {cx})"))
            })?;
            let r0 = inter.row - chunk_window.row;
            let r1 = r0 + inter.height;
            let mut idx = vec![cy as u64, cx as u64];
            if let Some(t) = t {
                idx.insert(0, t as u64);
            }
            if let Some(chunk) = source.cached::<T>(array, &idx) {
                return Ok((k, inter, chunk_window, Band::Cached(chunk, r0)));
            }
            let band = if blosc {
                read_band_blosc::<T>(array, &idx, r0..r1, cw)?
            } else {
                read_band_zarrs::<T>(array, &idx, r0..r1, cw, t.is_some())?
            };
            let band = match band {
                // A whole chunk decoded: keep it for the next read.
                Some(b) if r0 == 0 && r1 == ch => {
                    let b = Arc::new(b);
                    source.keep(array, &idx, Arc::clone(&b));
                    Band::Cached(b, 0)
                }
                Some(b) => Band::Decoded(b),
                None => Band::Unwritten,
            };
            Ok((k, inter, chunk_window, band))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = match time {
        None => ArrayD::from_elem(IxDyn(&[w.height, w.width]), T::fill()),
        Some(_) => ArrayD::from_elem(IxDyn(&[steps.len(), w.height, w.width]), T::fill()),
    };
    for (k, inter, chunk_window, band) in bands {
        let (c0, c1) = (
            inter.col - chunk_window.col,
            inter.col - chunk_window.col + inter.width,
        );
        let (dr, dc) = (inter.row - w.row, inter.col - w.col);
        let mut dest = if time.is_some() {
            out.index_axis_mut(Axis(0), k)
        } else {
            out.view_mut()
        };
        let mut dest = dest
            .slice_axis_mut(Axis(0), Slice::from(dr..dr + inter.height))
            .slice_axis_move(Axis(1), Slice::from(dc..dc + inter.width));
        let mut rows = |b: &Array2<T>, r0: usize| {
            dest.assign(
                &b.slice_axis(Axis(0), Slice::from(r0..r0 + inter.height))
                    .slice_axis_move(Axis(1), Slice::from(c0..c1)),
            );
        };
        match band {
            Band::Cached(chunk, r0) => rows(&chunk, r0),
            Band::Decoded(band) => rows(&band, 0),
            Band::Unwritten => dest.fill(T::fill()),
        }
    }
    Ok(out)
}

/// The rows of one chunk a read needs.
pub(super) enum Band<T> {
    /// A whole decoded chunk (cached), and the first row needed.
    Cached(Arc<Array2<T>>, usize),
    /// Just the rows needed.
    Decoded(Array2<T>),
    /// A chunk never written: fill.
    Unwritten,
}

/// Rows `rows` (all `cw` columns) of one chunk through zarrs; `None` for an
/// unwritten chunk.
#[allow(clippy::cast_possible_truncation)]
pub(super) fn read_band_zarrs<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    idx: &[u64],
    rows: std::ops::Range<usize>,
    cw: usize,
    temporal: bool,
) -> Result<Option<ndarray::Array2<T>>> {
    use zarrs::array::ArraySubset;
    let mut ranges = vec![rows.start as u64..rows.end as u64, 0..cw as u64];
    if temporal {
        ranges.insert(0, 0..1);
    }
    let band = array
        .retrieve_chunk_subset::<ArrayD<T>>(idx, &ArraySubset::new_with_ranges(&ranges))
        .map_err(Error::zarr)?;
    let band = band
        .into_shape_with_order((rows.len(), cw))
        .map_err(|e| corrupt_chunk(array, idx, format!("unexpected band shape: {e}")))?;
    Ok(Some(band))
}
