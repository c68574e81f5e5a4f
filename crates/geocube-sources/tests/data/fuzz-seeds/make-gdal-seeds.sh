#!/usr/bin/env bash
# Regenerates the GDAL-written fuzz seeds of tests/fuzz.rs (committed: GDAL
# is not needed to run the tests, and the seeds must not change under them).
# Each is the same 40×30 raster on the ArcticDEM lattice (EPSG:3413, 32 m),
# written in a layout geocube's own COG writer never produces: strips, LZW,
# big-endian, BigTIFF, ZSTD, float64, PixelIsPoint in EPSG:4326.
# Made with GDAL 3.6.2.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import math, struct, sys
d, w, h = sys.argv[1], 40, 30
vals = []
for r in range(h):
    for c in range(w):
        v = 100.0 + 3.5 * math.sin(r / 4.0) * math.cos(c / 5.0) + r * 0.25
        vals.append(-9999.0 if (r * w + c) % 97 == 0 else v)
open(f"{d}/f32.raw", "wb").write(struct.pack(f"<{len(vals)}f", *vals))
open(f"{d}/i16.raw", "wb").write(struct.pack(f"<{len(vals)}h", *[int(v * 10) % 30000 for v in vals]))
for name, t, size in [("f32", "Float32", 4), ("i16", "Int16", 2)]:
    open(f"{d}/{name}.vrt", "w").write(f"""<VRTDataset rasterXSize="{w}" rasterYSize="{h}">
  <SRS>EPSG:3413</SRS>
  <GeoTransform>-1584000, 32, 0, 1584000, 0, -32</GeoTransform>
  <VRTRasterBand dataType="{t}" band="1" subClass="VRTRawRasterBand">
    <NoDataValue>-9999</NoDataValue>
    <SourceFilename relativetoVRT="1">{name}.raw</SourceFilename>
    <ImageOffset>0</ImageOffset><PixelOffset>{size}</PixelOffset><LineOffset>{size * w}</LineOffset><ByteOrder>LSB</ByteOrder>
  </VRTRasterBand>
</VRTDataset>""")
PY
gdal_translate -q -of GTiff -co TILED=NO -co BLOCKYSIZE=7 -co COMPRESS=LZW -co PREDICTOR=2 \
  -co ENDIANNESS=BIG "$tmp/i16.vrt" gdal-strips-lzw-bigendian-int16.tif
gdal_translate -q -of GTiff -co BIGTIFF=YES -co TILED=YES -co BLOCKXSIZE=16 -co BLOCKYSIZE=16 \
  -co COMPRESS=ZSTD -co PREDICTOR=3 "$tmp/f32.vrt" gdal-bigtiff-tiled-zstd-float32.tif
gdal_translate -q -of COG -co BLOCKSIZE=16 -co COMPRESS=DEFLATE -co PREDICTOR=YES \
  "$tmp/f32.vrt" gdal-cog-deflate-float32.tif
gdal_translate -q -of GTiff -ot Float64 -a_srs EPSG:4326 -a_ullr 10 70 10.4 69.7 \
  -mo AREA_OR_POINT=Point -co TILED=NO "$tmp/f32.vrt" gdal-strips-raw-pixelispoint-float64.tif
