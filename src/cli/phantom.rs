//! `foramen phantom`: synthetic lumbar spine series with exact ground truth.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;
use foramen::dicom::write::{FileNaming, OutputTransferSyntax};
use foramen::phantom::output::{WriteOptions, suite_case, write_case};
use foramen::phantom::{PhantomOptions, PhantomPlane, Severity, Weighting, generate};
use foramen::volume::Modality;

use super::{Context, exit};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModalityArg {
    Mr,
    Ct,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum WeightingArg {
    T1,
    T2,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SeverityArg {
    Normal,
    Mixed,
    Severe,
    Random,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PlaneArg {
    Sagittal,
    Axial,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TransferSyntaxArg {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
    Deflated,
    Rle,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum NamingArg {
    Numbered,
    SopUid,
    Bare,
}

#[derive(clap::Args, Debug)]
pub struct PhantomArgs {
    /// Output folder: DIR/series/*.dcm and DIR/truth.json (with --suite: DIR/case-NNN/...).
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "mr")]
    modality: ModalityArg,
    /// MR contrast (ignored for CT).
    #[arg(long, value_enum, default_value = "t1")]
    weighting: WeightingArg,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// MR signal-to-noise ratio (fat signal / noise sigma).
    #[arg(long, default_value_t = 20.0)]
    snr: f64,
    #[arg(long, value_enum, default_value = "mixed")]
    severity: SeverityArg,
    /// Slice orientation; axial is for CT only (exercises reslicing).
    #[arg(long, value_enum, default_value = "sagittal")]
    plane: PlaneArg,
    /// 5, or 4 / 6 for lumbosacral transitional anatomy.
    #[arg(long, default_value_t = 5)]
    lumbar_count: u8,
    #[arg(long, value_enum, default_value = "explicit-little")]
    transfer_syntax: TransferSyntaxArg,
    #[arg(long, value_enum, default_value = "numbered")]
    naming: NamingArg,
    /// Shuffle InstanceNumbers (readers must order slices by position).
    #[arg(long)]
    shuffle_instance_numbers: bool,
    #[arg(long)]
    rows: Option<usize>,
    #[arg(long)]
    columns: Option<usize>,
    /// In-plane pixel spacing (mm).
    #[arg(long, value_name = "MM")]
    pixel_spacing: Option<f64>,
    #[arg(long, value_name = "MM")]
    slice_thickness: Option<f64>,
    #[arg(long, value_name = "MM")]
    slice_gap: Option<f64>,
    /// Number of slices.
    #[arg(long)]
    slices: Option<usize>,
    /// Write N varied cases (MR T1, MR T2, CT sagittal, CT axial; all severities; SNR
    /// 8-30; some transitional) with seeds SEED, SEED+1, ...
    #[arg(long, value_name = "N")]
    suite: Option<usize>,
    /// Add the per-foramen variants from real-scan failures (root against the pedicle,
    /// dark fat-poor foramina, reference-derived shapes; see docs/phantom.md). Off by
    /// default; the other anatomy of a seed stays the same.
    #[arg(long)]
    variants: bool,
    /// Instead of a phantom, write the malformed-input corpus (truncated files, lying
    /// lengths, missing attributes, junk, symlink loops...) to --out, with an index
    /// `corpus.tsv` of each file's defect (see docs/robustness.md).
    #[arg(long, conflicts_with = "suite")]
    malformed: bool,
}

fn options(a: &PhantomArgs) -> PhantomOptions {
    PhantomOptions {
        modality: match a.modality {
            ModalityArg::Mr => Modality::MR,
            ModalityArg::Ct => Modality::CT,
        },
        weighting: match a.weighting {
            WeightingArg::T1 => Weighting::T1,
            WeightingArg::T2 => Weighting::T2,
        },
        seed: a.seed,
        snr: a.snr,
        severity: match a.severity {
            SeverityArg::Normal => Severity::Normal,
            SeverityArg::Mixed => Severity::Mixed,
            SeverityArg::Severe => Severity::Severe,
            SeverityArg::Random => Severity::Random,
        },
        plane: match a.plane {
            PlaneArg::Sagittal => PhantomPlane::Sagittal,
            PlaneArg::Axial => PhantomPlane::Axial,
        },
        lumbar_count: a.lumbar_count,
        rows: a.rows,
        columns: a.columns,
        pixel_spacing_mm: a.pixel_spacing,
        slice_thickness_mm: a.slice_thickness,
        slice_gap_mm: a.slice_gap,
        num_slices: a.slices,
        variants: a.variants,
        ..PhantomOptions::default()
    }
}

pub fn run(ctx: &Context, args: PhantomArgs) -> anyhow::Result<u8> {
    if args.malformed {
        return malformed(ctx, &args.out);
    }
    let base = options(&args);
    let write = WriteOptions {
        transfer_syntax: match args.transfer_syntax {
            TransferSyntaxArg::ExplicitLittle => OutputTransferSyntax::ExplicitLittle,
            TransferSyntaxArg::ImplicitLittle => OutputTransferSyntax::ImplicitLittle,
            TransferSyntaxArg::ExplicitBig => OutputTransferSyntax::ExplicitBig,
            TransferSyntaxArg::Deflated => OutputTransferSyntax::Deflated,
            TransferSyntaxArg::Rle => OutputTransferSyntax::Rle,
        },
        naming: match args.naming {
            NamingArg::Numbered => FileNaming::Numbered,
            NamingArg::SopUid => FileNaming::SopUid,
            NamingArg::Bare => FileNaming::Bare,
        },
        shuffle_instance_numbers: args.shuffle_instance_numbers,
    };
    let cases: Vec<(PhantomOptions, PathBuf)> = match args.suite {
        None => vec![(base.clone(), args.out.clone())],
        Some(n) => (0..n)
            .map(|i| (suite_case(&base, i), args.out.join(format!("case-{i:03}"))))
            .collect(),
    };
    // Each case parallelises internally; running cases one at a time bounds memory.
    for (opts, dir) in &cases {
        let case = match generate(opts) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("foramen: {e}");
                return Ok(exit::USAGE);
            }
        };
        let files = write_case(&case, opts, &write, dir)
            .with_context(|| format!("writing the phantom to {}", dir.display()))?;
        if !ctx.quiet {
            eprintln!(
                "foramen: wrote {} {} slices ({}) and truth.json to {}",
                files.len(),
                opts.modality,
                case.series_description,
                dir.display()
            );
        }
    }
    Ok(exit::OK)
}

fn malformed(ctx: &Context, out: &std::path::Path) -> anyhow::Result<u8> {
    let files = foramen::phantom::malformed::write_corpus(out)
        .with_context(|| format!("writing the malformed corpus to {}", out.display()))?;
    let mut index = String::from("file\texpect\tdefect\n");
    for (path, f) in &files {
        let rel = path.strip_prefix(out).unwrap_or(path);
        index.push_str(&format!(
            "{}\t{:?}\t{}\n",
            rel.display(),
            f.expect,
            f.defect
        ));
    }
    foramen::atomic_file::write_atomic(&out.join("corpus.tsv"), |w| w.write_all(index.as_bytes()))
        .with_context(|| format!("writing {}", out.join("corpus.tsv").display()))?;
    if !ctx.quiet {
        eprintln!(
            "foramen: wrote {} malformed files (and file system oddities under filesystem/) to {}",
            files.len(),
            out.display()
        );
    }
    Ok(exit::OK)
}
