//! Patches: the unit of download and of commit.
//!
//! A [`PatchRef`] says that a source patch exists (its id, footprint and
//! time); a [`Patch`] is its downloaded pixels on the cube grid.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::GeoBox;
use crate::dataset::TypedArray;

/// A source patch that exists: a STAC item, an Earth Engine chunk, a mosaic tile.
///
/// `item` is the source's own payload (a STAC item, a URL, ...), opaque to
/// the cube and the backend; the source that made the index reads it back
/// with [`PatchRef::item`].
#[derive(Clone)]
pub struct PatchRef {
    /// Unique id, recorded in the cube's `loaded_patches` once written.
    pub id: String,
    /// Footprint in EPSG:4326 (lon, lat).
    pub geometry: geo::Geometry<f64>,
    /// Time step for temporal sources.
    pub time: Option<DateTime<Utc>>,
    item: Arc<dyn Any + Send + Sync>,
}

impl PatchRef {
    /// A patch index without a source payload.
    pub fn new(
        id: impl Into<String>,
        geometry: geo::Geometry<f64>,
        time: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            id: id.into(),
            geometry,
            time,
            item: Arc::new(()),
        }
    }

    /// Attach the source's payload.
    #[must_use]
    pub fn with_item<T: Any + Send + Sync>(mut self, item: T) -> Self {
        self.item = Arc::new(item);
        self
    }

    /// The source's payload, if it is a `T`.
    #[must_use]
    pub fn item<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.item.downcast_ref::<T>()
    }
}

impl fmt::Debug for PatchRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatchRef")
            .field("id", &self.id)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// One variable of a downloaded patch.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchLayer {
    /// Pixels, shape `(height, width)` of the patch's GeoBox.
    pub data: TypedArray,
    /// The source's nodata value. Pixels equal to it (or NaN) never overwrite
    /// valid pixels already in the cube, but are written where the cube has
    /// nothing yet, so source values stay bit-exact.
    pub nodata: Option<f64>,
}

/// Downloaded pixels of one patch, on the cube's pixel lattice.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// The id of the [`PatchRef`] it was downloaded for.
    pub id: String,
    /// Where the pixels are: same CRS and resolution as the cube, origin on
    /// the cube's lattice. It may extend beyond the cube (cropped on write).
    pub geobox: GeoBox,
    /// Time step (temporal cubes); must be one of the cube's steps.
    pub time: Option<DateTime<Utc>>,
    /// Variables by name. A cube variable missing here is left untouched.
    pub layers: BTreeMap<String, PatchLayer>,
}

impl Patch {
    /// An empty patch for `id` on `geobox`.
    pub fn new(id: impl Into<String>, geobox: GeoBox) -> Self {
        Self {
            id: id.into(),
            geobox,
            time: None,
            layers: BTreeMap::new(),
        }
    }

    /// Add a variable.
    #[must_use]
    pub fn with_layer(
        mut self,
        name: impl Into<String>,
        data: TypedArray,
        nodata: Option<f64>,
    ) -> Self {
        self.layers.insert(name.into(), PatchLayer { data, nodata });
        self
    }

    /// Set the time step.
    #[must_use]
    pub fn with_time(mut self, time: DateTime<Utc>) -> Self {
        self.time = Some(time);
        self
    }

    /// Uncompressed size of the pixels in bytes.
    #[must_use]
    pub fn nbytes(&self) -> usize {
        self.layers.values().map(|l| l.data.nbytes()).sum()
    }
}
