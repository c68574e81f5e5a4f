//! Loads onto a grid the caller asks for ([`Accessor::load_onto`],
//! [`Accessor::load_like_onto`]): the cube pixels the target needs are
//! loaded as any load does (downloading what the cube lacks), then every
//! variable and time step is warped onto the target with
//! [`geocube_core::warp`] — what odc-geo's `.odc.reproject(geobox,
//! resampling=...)` does on the cube crop, in one call.
//!
//! A target on the cube's lattice (same CRS and resolution, origin a whole
//! number of pixels away) is not resampled: its pixels are copied
//! bit-exactly, and the parts outside the cube are empty.

use std::collections::BTreeMap;

use geocube_core::warp::{self, Resampling, WarpOptions};
use geocube_core::{Aoi, Crs, CubeElement, Dataset, GeoBox, Toi, TypedArray, Variable, Window};
use ndarray::{ArrayD, Axis};

use crate::accessor::{Accessor, LoadOptions, Loaded};
use crate::error::{Error, Result};
use crate::progress::{NoProgress, Progress};

impl Accessor {
    /// Load the pixels `target` covers at `toi` and return them on
    /// `target`, resampled with `resampling` (odc-geo's names:
    /// `"nearest"`, `"bilinear"`, `"cubic"`, `"average"`, `"mode"`, …).
    /// The returned dataset's `geobox` is `target`; its variables keep the
    /// cube's types (integers rounded and clamped, booleans thresholded),
    /// attributes and time steps.
    ///
    /// Pixels of `target` with no source get the channel's nodata, or NaN
    /// (floats) and the type's fill (integers, booleans) when it has none
    /// or [`LoadOptions::mask_nodata`] is set.
    ///
    /// # Errors
    /// As [`Accessor::load`]; [`Error::AoiOutsideExtent`] when `target`
    /// covers no cube pixel; [`Error::ResultTooLarge`] when the cube crop or
    /// the result exceeds [`LoadOptions::max_bytes`].
    pub fn load_onto(
        &self,
        target: &GeoBox,
        toi: &Toi,
        resampling: Resampling,
        opts: LoadOptions,
    ) -> Result<Loaded> {
        self.load_onto_with_progress(target, toi, resampling, opts, &NoProgress)
    }

    /// [`Accessor::load_onto`] reporting its downloads to `progress`.
    ///
    /// # Errors
    /// As [`Accessor::load_onto`].
    pub fn load_onto_with_progress(
        &self,
        target: &GeoBox,
        toi: &Toi,
        resampling: Resampling,
        opts: LoadOptions,
        progress: &dyn Progress,
    ) -> Result<Loaded> {
        let grid = &self.spec().geobox;
        let steps = match &self.spec().time {
            Some(axis) => Some(toi.select(axis, geocube_core::toi::TimeMethod::Nearest)?),
            None if matches!(toi, Toi::None) => None,
            None => {
                return Err(Error::Core(geocube_core::Error::InvalidToi(
                    "the cube has no time axis; give no time of interest".into(),
                )));
            }
        };
        let n_steps = steps.as_ref().map_or(1, Vec::len);
        let result_bytes = self.result_bytes_on(target, n_steps);
        if let Some(limit) = opts.max_bytes.filter(|l| result_bytes > *l) {
            return Err(Error::ResultTooLarge {
                bytes: result_bytes,
                limit,
                width: target.width(),
                height: target.height(),
                steps: n_steps,
            });
        }
        let outside = || Error::AoiOutsideExtent {
            aoi: format!("{} ({})", target.bbox(), target.crs()),
            extent: grid.bbox().to_string(),
        };
        let lattice = warp::shares_lattice(grid, target);
        // The cube pixels the target reads, kernel padding included.
        let window = if lattice {
            grid.overlap_roi(target)?.map(|(w, _)| w)
        } else {
            warp::source_window(grid, target, target.full_window(), resampling)?
        }
        .ok_or_else(outside)?;
        let Loaded { dataset, report } =
            self.load_window_with_progress(window, steps.as_deref(), opts, progress)?;
        let mut variables = BTreeMap::new();
        for (name, var) in &dataset.variables {
            let nodata = self
                .spec()
                .channel(name)
                .and_then(|c| c.nodata)
                .filter(|_| !opts.mask_nodata);
            let data = if lattice {
                paste_onto(&var.data, &dataset.geobox, target, nodata)?
            } else {
                warp_onto(
                    &var.data,
                    &dataset.geobox,
                    target,
                    nodata,
                    &WarpOptions::new(resampling),
                )?
            };
            variables.insert(
                name.clone(),
                Variable {
                    data,
                    attributes: var.attributes.clone(),
                },
            );
        }
        Ok(Loaded {
            dataset: Dataset {
                geobox: target.clone(),
                time: dataset.time,
                variables,
            },
            report,
        })
    }

    /// [`Accessor::load_onto`] the grid and time steps of `like` (odc-geo's
    /// `.odc.reproject(like.odc.geobox, resampling=...)` of the cube).
    ///
    /// # Errors
    /// As [`Accessor::load_onto`].
    pub fn load_like_onto(
        &self,
        like: &Dataset,
        resampling: Resampling,
        opts: LoadOptions,
    ) -> Result<Loaded> {
        let toi = like.time.clone().map_or(Toi::None, Toi::List);
        self.load_onto(&like.geobox, &toi, resampling, opts)
    }

    /// The grid in `crs` (the cube's when `None`) of square `resolution`
    /// pixels that covers `aoi`: the AOI's bounding box in `crs`, snapped
    /// outward to pixel edges on multiples of the resolution (odc-geo's
    /// `GeoBox.from_bbox(bbox, crs, resolution=...)`, see
    /// [`GeoBox::from_bbox`]), what `geocube load --to-crs / --resolution`
    /// loads onto.
    ///
    /// Without a resolution: in the cube's CRS, the cube's crop of the AOI
    /// (what [`Accessor::load`] returns, so pixels are copied, not
    /// resampled); in another CRS, [`warp::output_resolution`] of that crop
    /// (the cube's resolution when both CRSs have the same units, else the
    /// size of the crop's centre pixel in `crs`: odc-geo's `"auto"`).
    ///
    /// # Errors
    /// [`Error::AoiOutsideExtent`] when the AOI misses the cube; CRS errors
    /// when the AOI or the crop cannot be transformed; core's
    /// `InvalidGrid` for a resolution that is not positive and finite or
    /// too fine for the box.
    pub fn grid_onto(
        &self,
        aoi: &Aoi,
        crs: Option<&Crs>,
        resolution: Option<f64>,
    ) -> Result<GeoBox> {
        let grid = &self.spec().geobox;
        let crs = crs.unwrap_or(grid.crs());
        let crop = || -> Result<GeoBox> {
            let bounds = aoi.bounds_in(grid.crs())?;
            grid.crop_bbox(&bounds)
                .map(|(_, g)| g)
                .ok_or_else(|| Error::AoiOutsideExtent {
                    aoi: bounds.to_string(),
                    extent: grid.bbox().to_string(),
                })
        };
        let res = match resolution {
            Some(r) => r,
            None if crs == grid.crs() => return crop(),
            None => warp::output_resolution(&crop()?, crs)?,
        };
        Ok(GeoBox::from_bbox(aoi.bounds_in(crs)?, crs.clone(), res)?)
    }

    /// Bytes of a result of `steps` time steps on `target`.
    fn result_bytes_on(&self, target: &GeoBox, steps: usize) -> u64 {
        let px: u64 = self
            .spec()
            .channels
            .iter()
            .map(|c| c.dtype.size() as u64)
            .sum();
        (target.width() as u64)
            .saturating_mul(target.height() as u64)
            .saturating_mul(steps as u64)
            .saturating_mul(px)
    }
}

/// The `(y, x)` planes of a `(y, x)` or `(time, y, x)` array.
fn planes(data: &TypedArray) -> Vec<TypedArray> {
    fn go<T: CubeElement>(a: &ArrayD<T>) -> Vec<TypedArray> {
        if a.ndim() == 3 {
            a.axis_iter(Axis(0))
                .map(|p| T::wrap(p.to_owned().into_dyn()))
                .collect()
        } else {
            vec![T::wrap(a.clone())]
        }
    }
    geocube_core::with_typed_array!(data, |a: T| go::<T>(a))
}

/// Stack `(y, x)` planes back along time when `like` had a time axis.
fn stack(like: &TypedArray, planes: Vec<TypedArray>) -> Result<TypedArray> {
    fn go<T: CubeElement>(planes: &[TypedArray], timed: bool) -> Result<TypedArray> {
        let arrays: Vec<&ArrayD<T>> = planes.iter().filter_map(T::unwrap_ref).collect();
        if !timed {
            return arrays
                .first()
                .map(|a| T::wrap((*a).clone()))
                .ok_or_else(|| Error::Core(geocube_core::Error::Warp("no plane".into())));
        }
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        ndarray::stack(Axis(0), &views)
            .map(T::wrap)
            .map_err(|e| Error::Core(geocube_core::Error::Warp(e.to_string())))
    }
    let timed = like.shape().len() == 3;
    geocube_core::with_typed_array!(like, |_a: T| go::<T>(&planes, timed))
}

fn warp_onto(
    data: &TypedArray,
    src: &GeoBox,
    target: &GeoBox,
    nodata: Option<f64>,
    opts: &WarpOptions,
) -> Result<TypedArray> {
    let warped = planes(data)
        .iter()
        .map(|p| warp::reproject(p, src, nodata, target, nodata, opts).map_err(Error::from))
        .collect::<Result<Vec<_>>>()?;
    stack(data, warped)
}

/// The pixels of `data` (on `src`, sharing `target`'s lattice) on `target`.
fn paste_onto(
    data: &TypedArray,
    src: &GeoBox,
    target: &GeoBox,
    nodata: Option<f64>,
) -> Result<TypedArray> {
    let (in_src, in_target) = src
        .overlap_roi(target)?
        .unwrap_or((Window::new(0, 0, 0, 0), Window::new(0, 0, 0, 0)));
    let timed = data.shape().len() == 3;
    let shape: Vec<usize> = if timed {
        vec![data.shape()[0], target.height(), target.width()]
    } else {
        vec![target.height(), target.width()]
    };
    let mut out = TypedArray::filled(data.dtype(), &shape);
    if let Some(v) = nodata {
        out.fill_with(v);
    }
    fn go<T: CubeElement>(out: &mut ArrayD<T>, a: &ArrayD<T>, in_src: Window, in_target: Window) {
        let timed = a.ndim() == 3;
        let steps = if timed { a.shape()[0] } else { 1 };
        for t in 0..steps {
            for r in 0..in_target.height {
                for c in 0..in_target.width {
                    let (sr, sc) = (in_src.row + r, in_src.col + c);
                    let (tr, tc) = (in_target.row + r, in_target.col + c);
                    if timed {
                        out[[t, tr, tc]] = a[[t, sr, sc]];
                    } else {
                        out[[tr, tc]] = a[[sr, sc]];
                    }
                }
            }
        }
    }
    geocube_core::with_typed_array!(&mut out, |o: T| {
        if let Some(a) = T::unwrap_ref(data) {
            go::<T>(o, a, in_src, in_target);
        }
    });
    Ok(out)
}
