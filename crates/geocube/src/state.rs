//! What a cube holds: the loaded patches as GeoJSON, and (feature `viz`)
//! as a PNG map drawn in the cube's CRS.

use std::collections::HashMap;

use geocube_core::PatchRef;
use serde_json::json;

#[cfg(feature = "viz")]
mod font;
#[cfg(feature = "viz")]
pub(crate) mod map;

/// One feature per loaded id, in load order.
pub(crate) fn feature_collection(ids: &[String], index: &[PatchRef]) -> geojson::FeatureCollection {
    let by_id: HashMap<&str, &PatchRef> = index.iter().map(|p| (p.id.as_str(), p)).collect();
    let features = ids.iter().map(|id| {
        let entry = by_id.get(id.as_str());
        let mut properties = geojson::JsonObject::new();
        properties.insert("id".into(), json!(id));
        let time = entry.and_then(|p| p.time).map(|t| t.to_rfc3339());
        properties.insert("time".into(), json!(time));
        geojson::Feature {
            bbox: None,
            geometry: entry.map(|p| geojson::Geometry::from(&p.geometry)),
            id: Some(geojson::feature::Id::String(id.clone())),
            properties: Some(properties),
            foreign_members: None,
        }
    });
    geojson::FeatureCollection::new(features)
}
