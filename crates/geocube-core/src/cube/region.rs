//! A lazy region: a window of the cube (and time steps) that is read a
//! piece at a time, so that what a caller holds in memory depends on the
//! piece, not on the region.
//!
//! [`Cube::read_window`] returns the whole window as one [`Dataset`]; for
//! the ArcticDEM 32 m grid north of 60° that is 172 GB. A [`LazyRegion`]
//! holds the window, the time steps and the arrays opened on one read-only
//! session (the snapshot at the time it was made: every read of the region
//! sees the same commit, whatever is written meanwhile), and reads
//! sub-windows on request or tile by tile. A chunk the cube never wrote is
//! known from the manifest alone: its tiles are fill without a fetch or a
//! decode, and [`LazyRegion::holds_data`] lets a writer skip them entirely.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::cache::ChunkSource;
use super::layout::{CubeLayout, VariableLayout};
use super::read::{OpenVariable, open_variables, read_variables};
use super::store::IcechunkSyncStore;
use super::{Cube, u64s};
use crate::dataset::{Dataset, Stats, TypedArray, Variable};
use crate::{Aoi, Error, GeoBox, Result, Toi, Window};

impl CubeLayout {
    /// The bytes a read of `height × width` pixels at `steps` time steps
    /// holds in memory: every variable's pixels, uncompressed. `None` when
    /// the product overflows `u64` (no machine holds that much either).
    #[must_use]
    pub fn bytes_in_memory(&self, height: usize, width: usize, steps: usize) -> Option<u64> {
        let per_pixel = self.variables.iter().try_fold(0u64, |acc, v| {
            acc.checked_add(u64::try_from(v.dtype.size()).ok()?)
        })?;
        [height, width, steps.max(1)]
            .into_iter()
            .try_fold(per_pixel, |acc, n| acc.checked_mul(u64::try_from(n).ok()?))
    }
}

impl Cube {
    /// A lazy handle on `window` (cube pixel indices, clipped to the cube)
    /// at the time indices `time` (all steps when `None`), pinned to the
    /// branch tip as it is now. Nothing is read until asked for.
    ///
    /// # Errors
    /// As [`Cube::read_window`]: [`Error::InvalidAoi`] when the window misses
    /// the cube, [`Error::InvalidToi`] for a bad time index; storage errors.
    pub fn region(self: &Arc<Self>, window: Window, time: Option<&[usize]>) -> Result<LazyRegion> {
        let (w, time_idx) = self.check_read(window, time)?;
        let geobox = self.layout.geobox.window(w)?;
        let store = self.readonly_store()?;
        let variables = open_variables(&store, &self.layout.variables)?
            .into_iter()
            .map(|open| RegionVariable {
                open: Arc::new(open),
                mask: None,
            })
            .collect();
        Ok(LazyRegion {
            time: self.time_values(time_idx.as_deref()),
            cube: Arc::clone(self),
            store,
            variables,
            window: w,
            time_idx,
            geobox,
        })
    }

    /// [`Cube::region`] of the bounding box of `aoi` at the steps `toi`
    /// selects: the region [`Cube::read_aoi`] would return.
    ///
    /// # Errors
    /// As [`Cube::read_aoi`].
    pub fn region_of(self: &Arc<Self>, aoi: &Aoi, toi: &Toi) -> Result<LazyRegion> {
        let window = self.aoi_window(aoi)?;
        let time = self.select_time(toi)?;
        self.region(window, time.as_deref())
    }
}

/// One variable of a region: its array, and the nodata value reads replace
/// with NaN, if any.
#[derive(Clone)]
struct RegionVariable {
    open: Arc<OpenVariable>,
    mask: Option<f64>,
}

/// A window of a cube at some time steps, read on request: by sub-window
/// ([`LazyRegion::read_window`]) or tile by tile ([`LazyRegion::tiles`]).
///
/// Windows passed to its methods are in the region's own pixel indices
/// (row 0, column 0 is its top-left pixel). The region sees the cube as it
/// was when the region was made. `Send + Sync` and cheap to clone.
#[derive(Clone)]
pub struct LazyRegion {
    cube: Arc<Cube>,
    store: Arc<IcechunkSyncStore>,
    variables: Vec<RegionVariable>,
    /// Where the region lies in the cube, in cube pixels.
    window: Window,
    /// Time indices in the cube of the region's steps (temporal cubes).
    time_idx: Option<Vec<usize>>,
    geobox: GeoBox,
    time: Option<Vec<DateTime<Utc>>>,
}

impl fmt::Debug for LazyRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyRegion")
            .field("cube", &self.cube)
            .field("window", &self.window)
            .field("steps", &self.time_idx.as_ref().map(Vec::len))
            .field(
                "variables",
                &self
                    .variables
                    .iter()
                    .map(|v| v.open.layout.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// How [`LazyRegion::tiles`] and [`LazyRegion::windows`] cut a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tiling {
    /// The cube's chunks, cut to the region: each tile lies in one chunk of
    /// each variable, so a tile reads (or, never written, skips) one chunk.
    Chunks,
    /// Tiles of `rows × cols` pixels from the region's top-left pixel, the
    /// last row and column of tiles cut to the region (`cols: usize::MAX`
    /// gives row bands of the full width). A size of 0 counts as 1.
    Grid {
        /// Tile height in pixels.
        rows: usize,
        /// Tile width in pixels.
        cols: usize,
    },
}

/// Where one tile of a region lies: a time step and a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileWindow {
    /// The step among the region's time steps (`None` on a cube without
    /// a time axis); tiles of a temporal region are one step each.
    pub step: Option<usize>,
    /// The pixels, in region indices.
    pub window: Window,
}

/// One tile of a region, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// Where it lies.
    pub at: TileWindow,
    /// Whether any chunk under it was ever written; `false` means
    /// `dataset` is fill that was made, not read.
    pub written: bool,
    /// Its pixels: `(y, x)` or, on a temporal cube, `(1, y, x)` with the
    /// step's time.
    pub dataset: Dataset,
}

impl LazyRegion {
    /// The grid of the region (cube CRS and resolution).
    #[must_use]
    pub fn geobox(&self) -> &GeoBox {
        &self.geobox
    }

    /// Where the region lies in the cube, in cube pixel indices.
    #[must_use]
    pub fn cube_window(&self) -> Window {
        self.window
    }

    /// The time coordinate of the region's steps (temporal cubes).
    #[must_use]
    pub fn time(&self) -> Option<&[DateTime<Utc>]> {
        self.time.as_deref()
    }

    /// Number of time steps: 1 on a cube without a time axis.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.time_idx.as_ref().map_or(1, Vec::len)
    }

    /// The shape of every variable: `(y, x)`, or `(time, y, x)`.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        let (h, w) = self.geobox.shape();
        match &self.time_idx {
            Some(t) => vec![t.len(), h, w],
            None => vec![h, w],
        }
    }

    /// Pixel-centre x coordinates (ascending).
    #[must_use]
    pub fn xs(&self) -> Vec<f64> {
        self.geobox.xs()
    }

    /// Pixel-centre y coordinates (descending).
    #[must_use]
    pub fn ys(&self) -> Vec<f64> {
        self.geobox.ys()
    }

    /// The variables a read returns (name, type, attributes).
    pub fn variables(&self) -> impl Iterator<Item = &VariableLayout> {
        self.variables.iter().map(|v| &v.open.layout)
    }

    /// The cube's chunk shape `(rows, cols)`.
    #[must_use]
    pub fn chunk_shape(&self) -> (usize, usize) {
        self.cube.layout.chunk_shape
    }

    /// The bytes the whole region takes in memory (as one [`Dataset`]),
    /// `u64::MAX` when that does not fit a `u64`.
    #[must_use]
    pub fn nbytes(&self) -> u64 {
        let (h, w) = self.geobox.shape();
        let per_pixel = self
            .variables()
            .map(|v| v.dtype.size() as u64)
            .fold(0u64, u64::saturating_add);
        [h, w, self.steps()]
            .into_iter()
            .fold(per_pixel, |acc, n| acc.saturating_mul(n as u64))
    }

    /// The same region with only the variables `names`, in that order.
    ///
    /// # Errors
    /// [`Error::UnknownVariable`] for a name the region does not have.
    pub fn select(&self, names: &[&str]) -> Result<LazyRegion> {
        let variables = names
            .iter()
            .map(|name| {
                self.variables
                    .iter()
                    .find(|v| v.open.layout.name == *name)
                    .cloned()
                    .ok_or_else(|| Error::UnknownVariable {
                        name: (*name).to_owned(),
                        available: self
                            .variables()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LazyRegion {
            variables,
            ..self.clone()
        })
    }

    /// Reads replace `nodata` with NaN in the float variable `name` (the
    /// cube keeps the source values). Other variables, and names the
    /// region lacks, are left alone.
    #[must_use]
    pub fn mask_nodata(mut self, name: &str, nodata: f64) -> Self {
        for v in &mut self.variables {
            if v.open.layout.name == name && v.open.layout.dtype.is_float() {
                v.mask = Some(nodata);
            }
        }
        self
    }

    /// The pixels of `window` (region indices, clipped to the region) at
    /// every step of the region, as [`Cube::read_window`] reads them.
    ///
    /// # Errors
    /// [`Error::InvalidAoi`] when the window misses the region; storage errors.
    pub fn read_window(&self, window: Window) -> Result<Dataset> {
        let w = self.clip(window)?;
        self.read(w, self.time_idx.as_deref())
    }

    /// The windows of the region cut by `tiling`, step by step (on a
    /// temporal cube), row by row, left to right.
    #[must_use]
    pub fn windows(&self, tiling: Tiling) -> TileWindows {
        let (h, w) = self.geobox.shape();
        let (rows, cols, row0, col0) = match tiling {
            Tiling::Chunks => {
                let (ch, cw) = self.chunk_shape();
                // The first tile ends where the cube's first chunk under the
                // region ends.
                (ch, cw, self.window.row % ch, self.window.col % cw)
            }
            Tiling::Grid { rows, cols } => (rows.max(1), cols.max(1), 0, 0),
        };
        TileWindows {
            height: h,
            width: w,
            rows,
            cols,
            row0,
            col0,
            steps: self.time_idx.as_ref().map(Vec::len),
            next: Some((0, 0, 0)),
        }
    }

    /// Whether any chunk of any variable under `window` (region indices) at
    /// `step` (every step when `None`) was ever written. Answered from the
    /// manifest, without fetching a chunk; `true` when the manifest cannot
    /// say (the read that follows reports why).
    #[must_use]
    pub fn holds_data(&self, window: Window, step: Option<usize>) -> bool {
        let Ok(w) = self.clip(window) else {
            return false;
        };
        let w = self.in_cube(w);
        let (ch, cw) = self.chunk_shape();
        let times: Vec<Option<usize>> = match (&self.time_idx, step) {
            (None, _) => vec![None],
            (Some(idx), None) => idx.iter().copied().map(Some).collect(),
            (Some(idx), Some(s)) => match idx.get(s) {
                Some(t) => vec![Some(*t)],
                None => return false,
            },
        };
        self.variables.iter().any(|v| {
            times.iter().any(|t| {
                (w.row / ch..=(w.row + w.height - 1) / ch).any(|cy| {
                    (w.col / cw..=(w.col + w.width - 1) / cw).any(|cx| {
                        let mut idx = vec![cy, cx];
                        if let Some(t) = t {
                            idx.insert(0, *t);
                        }
                        let key = v.open.array.chunk_key(&u64s(&idx));
                        self.store.may_hold_chunk(key.as_str())
                    })
                })
            })
        })
    }

    /// The pixels of one tile: `(y, x)`, or `(1, y, x)` of its step.
    ///
    /// # Errors
    /// [`Error::InvalidAoi`] when the window misses the region,
    /// [`Error::InvalidToi`] for a step it does not have; storage errors.
    pub fn read_tile(&self, at: &TileWindow) -> Result<Dataset> {
        let w = self.clip(at.window)?;
        let time = self.step_time(at.step)?;
        self.read(w, time.as_ref().map(std::slice::from_ref))
    }

    /// The region as tiles cut by `tiling`, each read when the iterator
    /// reaches it: a caller holds one tile at a time. Tiles under chunks the
    /// cube never wrote are fill, made without touching the store.
    pub fn tiles(&self, tiling: Tiling) -> impl Iterator<Item = Result<Tile>> + '_ {
        self.windows(tiling).map(move |at| {
            if self.holds_data(at.window, at.step) {
                Ok(Tile {
                    at,
                    written: true,
                    dataset: self.read_tile(&at)?,
                })
            } else {
                Ok(Tile {
                    at,
                    written: false,
                    dataset: self.fill_tile(&at)?,
                })
            }
        })
    }

    /// The statistics of every variable over the whole region, as
    /// [`TypedArray::stats`] of a whole read would give them (count, min
    /// and max exactly; see [`Stats::merge`] for the sum), read one chunk
    /// at a time. Chunks the cube never wrote are counted as fill without
    /// a read. `nodata` gives each variable's nodata value.
    ///
    /// # Errors
    /// Storage errors.
    pub fn stats(&self, nodata: impl Fn(&str) -> Option<f64>) -> Result<BTreeMap<String, Stats>> {
        let mut out: BTreeMap<String, Stats> = self
            .variables()
            .map(|v| (v.name.clone(), Stats::default()))
            .collect();
        for at in self.windows(Tiling::Chunks) {
            if self.holds_data(at.window, at.step) {
                let tile = self.read_tile(&at)?;
                for (name, var) in &tile.variables {
                    let s = var.data.stats(nodata(name));
                    if let Some(total) = out.get_mut(name) {
                        total.merge(&s);
                    }
                }
            } else {
                let pixels = (at.window.height as u64).saturating_mul(at.window.width as u64);
                for v in self.variables() {
                    if let Some(total) = out.get_mut(&v.name) {
                        total.merge(&Stats::of_fill(v.dtype, pixels, nodata(&v.name)));
                    }
                }
            }
        }
        Ok(out)
    }

    /// `window` clipped to the region, an error when nothing is left.
    fn clip(&self, window: Window) -> Result<Window> {
        window
            .intersection(&self.geobox.full_window())
            .ok_or_else(|| {
                Error::InvalidAoi(format!(
                    "window {window:?} lies outside the {}×{} (height×width) region",
                    self.geobox.height(),
                    self.geobox.width()
                ))
            })
    }

    /// A region window in cube pixels.
    fn in_cube(&self, w: Window) -> Window {
        Window::new(
            self.window.row + w.row,
            self.window.col + w.col,
            w.height,
            w.width,
        )
    }

    /// The cube time index of region step `step`.
    fn step_time(&self, step: Option<usize>) -> Result<Option<usize>> {
        match (&self.time_idx, step) {
            (None, None) => Ok(None),
            (Some(idx), Some(s)) => idx.get(s).copied().map(Some).ok_or_else(|| {
                Error::InvalidToi(format!(
                    "step {s} out of range: the region has {} step(s)",
                    idx.len()
                ))
            }),
            (Some(_), None) => Err(Error::InvalidToi(
                "a tile of a temporal region needs a step".into(),
            )),
            (None, Some(_)) => Err(Error::InvalidToi(
                "the region has no time axis; a tile's step is None".into(),
            )),
        }
    }

    /// Read `w` (region indices, inside the region) at the cube time
    /// indices `time`, masked.
    fn read(&self, w: Window, time: Option<&[usize]>) -> Result<Dataset> {
        let open: Vec<&OpenVariable> = self.variables.iter().map(|v| &*v.open).collect();
        let mut variables = read_variables(
            &ChunkSource {
                store: &self.store,
                cache: &self.cube.chunks,
            },
            &open,
            self.in_cube(w),
            time,
            self.chunk_shape(),
        )?;
        self.apply_masks(&mut variables);
        Ok(Dataset {
            geobox: self.geobox.window(w)?,
            time: self.cube.time_values(time),
            variables,
        })
    }

    /// The tile `at` as fill, read from nowhere.
    fn fill_tile(&self, at: &TileWindow) -> Result<Dataset> {
        let w = self.clip(at.window)?;
        let time = self.step_time(at.step)?;
        let shape: Vec<usize> = match time {
            Some(_) => vec![1, w.height, w.width],
            None => vec![w.height, w.width],
        };
        let variables = self
            .variables()
            .map(|v| {
                (
                    v.name.clone(),
                    Variable {
                        data: TypedArray::filled(v.dtype, &shape),
                        attributes: v.attributes.clone(),
                    },
                )
            })
            .collect();
        Ok(Dataset {
            geobox: self.geobox.window(w)?,
            time: self
                .cube
                .time_values(time.as_ref().map(std::slice::from_ref)),
            variables,
        })
    }

    fn apply_masks(&self, variables: &mut BTreeMap<String, Variable>) {
        for v in &self.variables {
            if let (Some(nodata), Some(var)) = (v.mask, variables.get_mut(&v.open.layout.name)) {
                var.data.mask_nodata(nodata);
            }
        }
    }
}

/// The windows of a region, in order; see [`LazyRegion::windows`].
#[derive(Clone, Debug)]
pub struct TileWindows {
    height: usize,
    width: usize,
    rows: usize,
    cols: usize,
    /// Offset of the region's first pixel in the tiling's grid.
    row0: usize,
    col0: usize,
    steps: Option<usize>,
    /// The next (step, tile row, tile column).
    next: Option<(usize, usize, usize)>,
}

impl TileWindows {
    /// The span of tile `i` along an axis of `len` pixels, tiles of `size`
    /// offset by `offset`: `(start, length)`, `None` past the end.
    fn span(i: usize, size: usize, offset: usize, len: usize) -> Option<(usize, usize)> {
        let start = if i == 0 {
            0
        } else {
            i.checked_mul(size)?.checked_sub(offset)?
        };
        if start >= len {
            return None;
        }
        let end = (i.checked_add(1)?.checked_mul(size)?)
            .checked_sub(offset)?
            .min(len);
        Some((start, end - start))
    }

    /// Number of tiles along an axis.
    fn count(size: usize, offset: usize, len: usize) -> usize {
        (len + offset).div_ceil(size)
    }
}

impl Iterator for TileWindows {
    type Item = TileWindow;

    fn next(&mut self) -> Option<TileWindow> {
        let (step, ty, tx) = self.next?;
        let (r, h) = Self::span(ty, self.rows, self.row0, self.height)?;
        let (c, w) = Self::span(tx, self.cols, self.col0, self.width)?;
        let across = Self::count(self.cols, self.col0, self.width);
        let down = Self::count(self.rows, self.row0, self.height);
        self.next = if tx + 1 < across {
            Some((step, ty, tx + 1))
        } else if ty + 1 < down {
            Some((step, ty + 1, 0))
        } else if step + 1 < self.steps.unwrap_or(1) {
            Some((step + 1, 0, 0))
        } else {
            None
        };
        Some(TileWindow {
            step: self.steps.map(|_| step),
            window: Window::new(r, c, h, w),
        })
    }
}
