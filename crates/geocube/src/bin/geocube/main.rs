//! The `geocube` command: create, load, prefetch and inspect datacubes of the
//! dataset presets. Parsing, progress and printing only; the work is done by
//! the `geocube` library.

mod compact;
mod datasets;
mod http;
mod interrupt;
mod log;
mod progress;
mod report;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use geocube::{
    Accessor, BackendKind, Error, LoadOptions, Result, Source, VerifyOptions, request, timeline,
};
use geocube_backend::BackendConfig;
use geocube_core::{Aoi, ChunkCodec, Cube, CubeStorage, IcechunkFormat, Toi};

use crate::datasets::Endpoints;
use crate::progress::Reporter;

// Chunk buffers (~50 MB) sit above glibc's mmap threshold: with the system
// allocator each is a fresh mapping whose pages fault in again.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where `load` and `prefetch` keep the backend's event timeline by default.
const EVENTS_FILE: &str = ".geocube-events.json";

#[derive(Parser)]
#[command(
    name = "geocube",
    version,
    about = "Load remote rasters on demand into an Icechunk/Zarr v3 datacube"
)]
struct Cli {
    /// No progress or status lines on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Log what the libraries do on stderr: -v debug, -vv trace (warnings,
    /// such as retries, are shown anyway).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the dataset presets.
    Datasets,
    /// Create an empty datacube for a dataset.
    Create(CreateArgs),
    /// Load an area (and time) of interest: download what the cube lacks,
    /// then read the cropped cube.
    Load(LoadArgs),
    /// Download the patches of an area of interest without reading them.
    Prefetch(PrefetchArgs),
    /// Show what a cube holds.
    Status(StatusArgs),
    /// Draw the backend's event timeline of the last load as a Gantt chart.
    Events(EventsArgs),
    /// Check a cube against its `loaded_patches`: every recorded patch has
    /// its chunks and every chunk its patch (exit 1 when not).
    Verify(VerifyArgs),
    /// Repair what `verify` finds: drop ids whose pixels are missing or
    /// wrong, erase orphan chunks, download the dropped patches again.
    Repair(VerifyArgs),
    /// Shrink a cube: expire its history, delete what no kept snapshot
    /// reaches (older than --grace), optionally re-encode every chunk.
    Compact(compact::CompactArgs),
}

#[derive(Args)]
struct StoreArgs {
    /// The cube's Icechunk repository: a local directory, or
    /// `s3://bucket/prefix` (credentials from the standard AWS variables,
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "PATH|s3://BUCKET/PREFIX")]
    store: String,
    /// S3-compatible endpoint of an `s3://` store (e.g. http://127.0.0.1:9000;
    /// plain http is then allowed). Default: AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Region of an `s3://` store.
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    s3_region: Option<String>,
}

impl StoreArgs {
    /// The storage the flags name (an S3 location is checked here: bucket,
    /// credentials, endpoint).
    fn storage(&self) -> Result<CubeStorage> {
        Ok(CubeStorage::from_url(&self.store, |mut loc| {
            if let Some(e) = &self.s3_endpoint {
                loc = loc.endpoint(e.clone());
            }
            if let Some(r) = &self.s3_region {
                loc = loc.region(r.clone());
            }
            loc
        })?)
    }

    /// The local repository directory (`None` for an `s3://` store).
    fn local_dir(&self) -> Option<PathBuf> {
        (!self.store.starts_with("s3://"))
            .then(|| PathBuf::from(self.store.strip_prefix("file://").unwrap_or(&self.store)))
    }
}

#[derive(Args)]
struct CreateArgs {
    /// Dataset preset (see `geocube datasets`).
    dataset: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Chunk codec: reference (smart-geocubes' blosc zstd clevel 9), default,
    /// blosc-zstd:L, blosc-lz4:L, zstd:L.
    #[arg(long, value_name = "CODEC")]
    codec: Option<String>,
    /// Repository format: v1 is readable by smart-geocubes (Icechunk 1.x).
    #[arg(long, value_enum, default_value_t = Format::V1)]
    format: Format,
    /// Replace an existing cube.
    #[arg(long, conflicts_with = "exists_ok")]
    overwrite: bool,
    /// Succeed if the cube already exists.
    #[arg(long)]
    exists_ok: bool,
    #[command(flatten)]
    endpoints: Endpoints,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    V1,
    V2,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Threaded,
    Simple,
}

#[derive(Args)]
#[group(id = "area", required = true, multiple = false)]
struct AreaArgs {
    /// Bounding box W,S,E,N (in --crs).
    #[arg(
        long,
        value_name = "W,S,E,N",
        group = "area",
        allow_hyphen_values = true
    )]
    bbox: Option<String>,
    /// GeoJSON file (geometry, feature or feature collection, in --crs).
    #[arg(long, value_name = "FILE", group = "area")]
    geojson: Option<PathBuf>,
}

#[derive(Args)]
struct RequestArgs {
    /// Dataset preset (see `geocube datasets`).
    dataset: String,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    area: AreaArgs,
    /// CRS of --bbox / --geojson.
    #[arg(long, default_value = "EPSG:4326")]
    crs: String,
    /// Time of interest: 2020-06-01, 2020-01-01/2021-12-31, 2020-01-01/.., a,b,c.
    #[arg(long)]
    time: Option<String>,
    /// Create the cube if it does not exist.
    #[arg(long)]
    create: bool,
    /// Download backend.
    #[arg(long, value_enum, default_value_t = Backend::Threaded)]
    backend: Backend,
    /// Download workers of the threaded backend (at most 32; started as
    /// downloads arrive, never more than the patches missing).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Memory for decoded chunks kept between the write and the read of a
    /// load, in MiB (0: none).
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    chunk_cache_mib: usize,
    /// Memory for merged chunks a batch holds before encoding them, in MiB
    /// (0: encode each chunk as soon as a patch is merged into it).
    #[arg(long, value_name = "MIB", default_value_t = geocube_core::cube::DEFAULT_WRITE_BUFFER_BYTES >> 20)]
    write_buffer_mib: usize,
    /// Seconds a patch claim on an `s3://` store lives without renewal: the
    /// holder renews it every third of this; a process that died stops, and
    /// another takes its patches over once the claim expired.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = positive_seconds)]
    claim_lease: f64,
    /// Codec of a cube created with --create.
    #[arg(long, value_name = "CODEC")]
    codec: Option<String>,
    /// Where to save the event timeline (default: <store>/.geocube-events.json
    /// for a local store; an `s3://` store saves none unless given).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    #[command(flatten)]
    endpoints: Endpoints,
}

#[derive(Args)]
// With --like the area is optional: one of the three is needed.
#[command(
    mut_group("area", |g| g.required(false)),
    group(clap::ArgGroup::new("where").args(["bbox", "geojson", "like"]).required(true).multiple(true))
)]
struct LoadArgs {
    #[command(flatten)]
    request: RequestArgs,
    #[command(flatten)]
    target: target::TargetArgs,
    /// Never download; fail naming the patches the cube lacks.
    #[arg(long)]
    offline: bool,
    /// Write the result: `*.zarr` (Zarr v3 directory) or `*.tif` (GeoTIFF).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print per-variable mean, min, max and valid-pixel count.
    #[arg(long)]
    stats: bool,
    /// Print one JSON object on stdout (shape, bounds, CRS, statistics, patches, seconds).
    #[arg(long)]
    json: bool,
    /// Replace each float variable's nodata value with NaN.
    #[arg(long)]
    mask_nodata: bool,
    /// Largest result a plain load (without --out, --stats or --json) may
    /// hold in memory, e.g. 2GiB, 500MB, or `off` [default: 4GiB]. Larger
    /// regions fail before any download; --out, --stats and --json stream
    /// the region and have no such limit. A load onto another grid
    /// (--to-crs, --resolution, --like) is held in memory whatever the
    /// output: the limit applies to its cube pixels and to its result.
    #[arg(long, value_name = "SIZE", value_parser = memory_limit)]
    max_memory: Option<MemoryLimit>,
}

/// `--max-memory`: a size, or `None` for `off`.
#[derive(Clone, Copy, Debug)]
struct MemoryLimit(Option<u64>);

fn memory_limit(text: &str) -> Result<MemoryLimit> {
    geocube::budget::parse_limit(text).map(MemoryLimit)
}

#[derive(Args)]
struct PrefetchArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Dataset preset of the cube (default: the preset whose title the cube has).
    #[arg(long)]
    dataset: Option<String>,
    /// Write the loaded patches (id, footprint, time) as GeoJSON.
    #[arg(long, value_name = "FILE")]
    geojson: Option<PathBuf>,
    /// Draw the loaded footprints over the cube extent as PNG.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    #[command(flatten)]
    endpoints: Endpoints,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Dataset preset of the cube (default: the preset whose title the cube has).
    #[arg(long)]
    dataset: Option<String>,
    /// Also download N recorded patches again (spread over the cube) and
    /// compare their valid pixels with the cube's.
    #[arg(long, value_name = "N", default_value_t = 0)]
    check_source: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    endpoints: Endpoints,
}

#[derive(Args)]
struct EventsArgs {
    /// Cube whose last load's timeline to draw (reads <store>/.geocube-events.json).
    #[arg(long, value_name = "PATH", required_unless_present = "events")]
    store: Option<PathBuf>,
    /// Events file written by `load`/`prefetch --events`.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Output SVG.
    #[arg(long, value_name = "FILE")]
    svg: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reporter = Reporter::new(cli.quiet);
    log::init(cli.verbose, cli.quiet, reporter.bars());
    interrupt::install();
    let result = match cli.command {
        Command::Datasets => {
            datasets::print_list();
            Ok(())
        }
        Command::Create(a) => create(&a, &reporter),
        Command::Load(a) => load(&a, &reporter),
        Command::Prefetch(a) => prefetch(&a, &reporter),
        Command::Status(a) => status(&a, &reporter),
        Command::Verify(a) => verify(&a, &reporter),
        Command::Repair(a) => repair(&a, &reporter),
        Command::Compact(a) => compact::run(&a, &reporter),
        Command::Events(a) => events(&a, &reporter),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if interrupt::token().is_cancelled() => interrupt::exit(&e),
        Err(e) => {
            eprintln!("error: {e}");
            // Causes the message does not already spell out.
            let text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let s = geocube_core::error::without_span_trace(&c.to_string()).into_owned();
                if !text.contains(&s) {
                    eprintln!("  caused by: {s}");
                }
                cause = c.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn codec(text: Option<&str>) -> Result<Option<ChunkCodec>> {
    Ok(text.map(ChunkCodec::parse).transpose()?)
}

fn create(a: &CreateArgs, reporter: &Reporter) -> Result<()> {
    let source = datasets::open(&a.dataset, &a.endpoints, false)?;
    let format = match a.format {
        Format::V1 => IcechunkFormat::V1,
        Format::V2 => IcechunkFormat::V2,
    };
    // Creating downloads nothing: no download threads.
    let mut builder = Accessor::builder(source, a.store.storage()?)
        .backend(BackendKind::Simple)
        .format(format);
    if let Some(c) = codec(a.codec.as_deref())? {
        builder = builder.codec(c);
    }
    let accessor = builder.build()?;
    let existed = accessor.created();
    accessor.create(a.overwrite, a.exists_ok)?;
    let what = match (existed, a.overwrite) {
        (true, true) => "replaced",
        (true, false) => "exists",
        _ => "created",
    };
    let spec = accessor.spec();
    let (h, w) = spec.geobox.shape();
    reporter.say(&format!(
        "{what}: cube `{}` at {} ({w} x {h} px, {}, {} variable(s))",
        spec.title,
        a.store.store,
        spec.geobox.crs(),
        spec.channels.len()
    ));
    Ok(())
}

/// The accessor, AOI and TOI of a load or prefetch, all validated before
/// anything touches the cube. No AOI only for a `load --like` without
/// --bbox or --geojson (clap requires one otherwise).
fn prepare(
    r: &RequestArgs,
    offline: bool,
    reporter: &Reporter,
) -> Result<(Accessor, Option<Aoi>, Toi)> {
    let aoi = match (&r.area.bbox, &r.area.geojson) {
        (Some(b), _) => Some(request::bbox_aoi(b, &r.crs)?),
        (None, Some(f)) => Some(request::geojson_aoi(f, &r.crs)?),
        (None, None) => None,
    };
    let toi = r
        .time
        .as_deref()
        .map(request::parse_toi)
        .transpose()?
        .unwrap_or(Toi::None);
    let source: Arc<dyn Source> = datasets::open(&r.dataset, &r.endpoints, offline)?;
    let backend = match r.backend {
        Backend::Threaded => BackendKind::Threaded,
        Backend::Simple => BackendKind::Simple,
    };
    if r.workers > BackendConfig::MAX_WORKERS {
        reporter.say(&format!(
            "warning: --workers {} capped at {}: downloads wait on the network, and each worker may hold a patch in memory",
            r.workers,
            BackendConfig::MAX_WORKERS
        ));
    }
    let mut config = BackendConfig::default()
        .workers(r.workers)
        .chunk_cache_bytes(r.chunk_cache_mib.saturating_mul(1 << 20))
        .write_buffer_bytes(r.write_buffer_mib.saturating_mul(1 << 20))
        .cancel_token(interrupt::token());
    config.claim_lease = Duration::from_secs_f64(r.claim_lease);
    let mut builder = Accessor::builder(source, r.store.storage()?)
        .backend(backend)
        .config(config)
        .offline(offline);
    if let Some(c) = codec(r.codec.as_deref())? {
        builder = builder.codec(c);
    }
    Ok((builder.build()?, aoi, toi))
}

/// Save the timeline of what this run downloaded, if anything.
fn save_events(accessor: &Accessor, r: &RequestArgs) -> Result<()> {
    let events = timeline::from_log(accessor.events())?;
    if events.is_empty() {
        return Ok(());
    }
    let path = match (&r.events, r.store.local_dir()) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => dir.join(EVENTS_FILE),
        (None, None) => return Ok(()),
    };
    timeline::write_events(&events, &path)
}

fn load(a: &LoadArgs, reporter: &Reporter) -> Result<()> {
    let started = Instant::now();
    let out_kind = a.out.as_deref().map(report::OutKind::of).transpose()?;
    let like = a.target.like_grid()?;
    let (accessor, aoi, toi) = prepare(&a.request, a.offline, reporter)?;
    let mut opts = LoadOptions::default()
        .create(a.request.create)
        .mask_nodata(a.mask_nodata);
    if let Some(MemoryLimit(limit)) = a.max_memory {
        opts = opts.max_bytes(limit);
    }
    if let Some(grid) = a.target.grid(&accessor, aoi.as_ref(), like)? {
        return load_onto(a, &accessor, &grid, &toi, opts, reporter, started);
    }
    let aoi = aoi.ok_or_else(|| {
        geocube_core::Error::InvalidAoi("give --bbox or --geojson (or --like)".into())
    })?;
    // The region is read lazily either way. A plain load stands for the
    // library's in-memory load and keeps its budget: a region that large is
    // more often a mistyped box than a wish to download a continent, and
    // an output or statistics say it is meant (they stream it).
    let streamed = a.out.is_some() || a.stats || a.json;
    let loaded = if streamed {
        Ok(0)
    } else {
        accessor.check_in_memory(&aoi, &toi, opts)
    }
    .and_then(|_| accessor.load_lazy_with_progress(&aoi, &toi, opts, reporter));
    accessor.close()?;
    save_events(&accessor, &a.request)?;
    let loaded = loaded?;
    if let (Some(path), Some(kind)) = (&a.out, out_kind) {
        for (file, form) in kind.write(&loaded.region, accessor.spec(), a.mask_nodata, path)? {
            reporter.say(&format!("wrote {} ({form})", file.display()));
        }
    }
    let summary = report::Summary::new(
        &loaded.region,
        accessor.spec(),
        &loaded.report,
        a.stats || a.json,
        started.elapsed().as_secs_f64(),
    )?;
    if a.json {
        println!("{}", summary.to_json());
    } else {
        println!("{}", summary.headline());
        if a.stats {
            print!("{}", summary.stats_table());
        }
    }
    Ok(())
}

/// `load` onto `grid` (a target grid flag was given): loaded and warped
/// in memory, then written and summarised as a plain load's region is.
fn load_onto(
    a: &LoadArgs,
    accessor: &Accessor,
    grid: &geocube::GeoBox,
    toi: &Toi,
    opts: LoadOptions,
    reporter: &Reporter,
    started: Instant,
) -> Result<()> {
    let resampling = a.target.resampling;
    let loaded = accessor.load_onto_with_progress(grid, toi, resampling, opts, reporter);
    accessor.close()?;
    save_events(accessor, &a.request)?;
    let loaded = loaded.inspect_err(|e| {
        if matches!(e, Error::ResultTooLarge { .. }) {
            reporter.say(
                "note: a load onto another grid (--to-crs, --resolution, --like) is held in memory, also with --out: load a smaller area, or raise --max-memory",
            );
        }
    })?;
    let out_kind = a.out.as_deref().map(report::OutKind::of).transpose()?;
    if let (Some(path), Some(kind)) = (&a.out, out_kind) {
        for (file, form) in
            kind.write_dataset(&loaded.dataset, accessor.spec(), a.mask_nodata, path)?
        {
            reporter.say(&format!("wrote {} ({form})", file.display()));
        }
    }
    let cube = &accessor.spec().geobox;
    let onto = report::Onto {
        resampling,
        copied: geocube::warp::shares_lattice(cube, grid),
        cube: format!("{} at {}", cube.crs(), report::resolution(cube)),
    };
    let summary = report::Summary::onto(
        &loaded.dataset,
        accessor.spec(),
        &loaded.report,
        a.stats || a.json,
        started.elapsed().as_secs_f64(),
        onto,
    );
    if a.json {
        println!("{}", summary.to_json());
    } else {
        println!("{}", summary.headline());
        if a.stats {
            print!("{}", summary.stats_table());
        }
    }
    Ok(())
}

fn prefetch(a: &PrefetchArgs, reporter: &Reporter) -> Result<()> {
    let started = Instant::now();
    let (accessor, aoi, toi) = prepare(&a.request, false, reporter)?;
    let aoi =
        aoi.ok_or_else(|| geocube_core::Error::InvalidAoi("give --bbox or --geojson".into()))?;
    if a.request.create {
        accessor.create(false, true)?;
    }
    let result = accessor.prefetch(&aoi, &toi, reporter);
    accessor.close()?;
    save_events(&accessor, &a.request)?;
    let r = result?;
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "patches": r.patches, "downloaded": r.submit.downloaded,
            "already_loaded": r.submit.already_loaded, "awaited": r.submit.awaited, "seconds": seconds })
        );
    } else {
        println!(
            "{} patch(es) touch the area: {} downloaded, {} already in the cube, {} loaded by another process ({seconds:.2} s)",
            r.patches.len(),
            r.submit.downloaded.len(),
            r.submit.already_loaded,
            r.submit.awaited
        );
    }
    Ok(())
}

fn status(a: &StatusArgs, reporter: &Reporter) -> Result<()> {
    let storage = a.store.storage()?;
    let cube = Cube::open(storage.clone())?;
    let layout = cube.layout();
    let ids = cube.loaded_patches()?;
    let (h, w) = layout.geobox.shape();
    println!("cube `{}` at {}", layout.title, a.store.store);
    println!(
        "  grid: {w} x {h} px, {}, extent {}",
        layout.geobox.crs(),
        layout.geobox.bbox()
    );
    let vars: Vec<String> = layout
        .variables
        .iter()
        .map(|v| format!("{} ({})", v.name, v.dtype.zarr_name()))
        .collect();
    println!("  variables: {}", vars.join(", "));
    if let Some(t) = &layout.time {
        println!("  time: {} step(s)", t.len());
    }
    println!("  loaded patches: {}", ids.len());
    for id in &ids {
        println!("    {id}");
    }
    if a.geojson.is_none() && a.png.is_none() {
        return Ok(());
    }
    let name = preset_of(a.dataset.as_deref(), &layout.title, &a.store.store)?;
    // Not offline: drawing footprints may need the mosaic index downloaded.
    let accessor = Accessor::builder(datasets::open(&name, &a.endpoints, false)?, storage)
        .backend(BackendKind::Simple)
        .build()?;
    if let Some(path) = &a.geojson {
        let fc = accessor.current_state()?;
        std::fs::write(path, fc.to_string()).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        reporter.say(&format!("wrote {}", path.display()));
    }
    if let Some(path) = &a.png {
        accessor.visualize_state(path)?;
        reporter.say(&format!("wrote {}", path.display()));
    }
    Ok(())
}

/// The preset to use for a cube: the one named, or the one whose title the cube has.
fn preset_of(dataset: Option<&str>, title: &str, store: &str) -> Result<String> {
    match dataset {
        Some(d) => Ok(d.to_owned()),
        None => datasets::name_for_title(title).ok_or_else(|| Error::Output {
            path: PathBuf::from(store),
            source: format!("no preset has the title `{title}`; pass --dataset").into(),
        }),
    }
}

/// An accessor on the cube of `a`, for its preset. Online: the footprints
/// may need the mosaic index downloaded, spot checks and repairs download
/// patches; `verify` alone needs no download threads.
fn verify_accessor(a: &VerifyArgs, backend: BackendKind) -> Result<Accessor> {
    let storage = a.store.storage()?;
    let cube = Cube::open(storage.clone())?;
    let name = preset_of(a.dataset.as_deref(), &cube.layout().title, &a.store.store)?;
    Accessor::builder(datasets::open(&name, &a.endpoints, false)?, storage)
        .backend(backend)
        .build()
}

fn verify(a: &VerifyArgs, reporter: &Reporter) -> Result<()> {
    let accessor = verify_accessor(a, BackendKind::Simple)?;
    let report = accessor.verify(VerifyOptions {
        check_source: a.check_source,
    })?;
    print_verify(&report, a.json, reporter);
    verdict(&report, reporter)
}

fn repair(a: &VerifyArgs, reporter: &Reporter) -> Result<()> {
    let accessor = verify_accessor(a, BackendKind::Threaded)?;
    let found = accessor.verify(VerifyOptions {
        check_source: a.check_source,
    })?;
    print_verify(&found, a.json, reporter);
    if found.is_consistent() {
        reporter.say("consistent: nothing to repair");
        return Ok(());
    }
    let repaired = accessor.repair(&found)?;
    reporter.say(&format!(
        "forgot {} patch(es), erased {} chunk(s), downloaded {} again",
        repaired.forgotten.len(),
        repaired.erased,
        repaired.reloaded.len()
    ));
    print_verify(&repaired.after, a.json, reporter);
    verdict(&repaired.after, reporter)
}

fn print_verify(report: &geocube::VerifyReport, json: bool, reporter: &Reporter) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        reporter.say(&format!(
            "{} recorded patch(es), {} chunk(s); {} checked against the source",
            report.ids,
            report.chunks,
            report.source_checked.len()
        ));
        for id in &report.unknown_ids {
            println!("unknown id (the source has no footprint for it): {id}");
        }
        for m in &report.missing_chunks {
            println!(
                "missing: patch `{}` lacks chunk {:?} of `{}`",
                m.id, m.chunk, m.variable
            );
        }
        for (v, t, r, c) in &report.orphan_chunks {
            println!(
                "orphan: chunk {:?} of `{v}` lies under no recorded patch",
                (t, r, c)
            );
        }
        for m in &report.source_mismatches {
            println!(
                "differs from the source: patch `{}`, `{}`: {} of {} valid pixels",
                m.id, m.variable, m.differing, m.compared
            );
        }
    }
}

/// `Ok` for a consistent cube, else the error that makes the exit code 1.
fn verdict(report: &geocube::VerifyReport, reporter: &Reporter) -> Result<()> {
    if report.is_consistent() {
        reporter.say("consistent");
        Ok(())
    } else {
        Err(Error::Inconsistent {
            missing_chunks: report.missing_chunks.len(),
            orphan_chunks: report.orphan_chunks.len(),
            unknown_ids: report.unknown_ids.len(),
            source_mismatches: report.source_mismatches.len(),
        })
    }
}

fn events(a: &EventsArgs, reporter: &Reporter) -> Result<()> {
    let path = match (&a.events, &a.store) {
        (Some(f), _) => f.clone(),
        (None, Some(store)) => store.join(EVENTS_FILE),
        (None, None) => unreachable!("clap requires --store or --events"),
    };
    let events = timeline::read_events(&path)?;
    timeline::write_gantt_svg(&events, &a.svg)?;
    reporter.say(&format!(
        "wrote {} ({} events)",
        a.svg.display(),
        events.len()
    ));
    Ok(())
}

/// `--claim-lease`: a positive number of seconds.
fn positive_seconds(text: &str) -> std::result::Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && Duration::try_from_secs_f64(*s).is_ok())
        .ok_or_else(|| format!("`{text}` is not a positive number of seconds"))
}
