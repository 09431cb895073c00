//! The `adshard-bench` command line and what each mode does with it: a single run,
//! `--compare` (two targets interleaved in one run) or `--sweep` (rate steps until p99 or
//! errors give out). Lives in the library so tests drive exactly what the binary does.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgGroup, Parser, ValueEnum};

use crate::loadgen::hgrm::write_hgrm;
use crate::loadgen::report::{Comparison, Report, Sweep, SweepStep};
use crate::loadgen::requests::{
    load_bodies, load_paths, vary_users, BodySource, Method, RequestPool,
};
use crate::loadgen::run::{run, RunPlan, TargetPlan};
use crate::loadgen::svg::{render_svg, Series};
use crate::loadgen::target::Target;

/// Sweep steps at most this many rates, so a server that never degrades ends the sweep.
pub const SWEEP_STEPS_MAX: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Get,
    Post,
}

/// Open-loop, constant-rate HTTP/1.1 load generator: latency is measured from each
/// request's intended send time, so server stalls show up in the tail.
#[derive(Clone, Debug, Parser)]
#[command(name = "adshard-bench", version)]
#[command(group(ArgGroup::new("bodies").args(["body", "corpus", "requests", "paths"])))]
pub struct Cli {
    /// Target URL: http:// on 127.0.0.0/8 or localhost only.
    #[arg(long)]
    pub url: String,
    /// Requests per second (per target with --compare; the first step with --sweep).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Run length (each target's active time with --compare; each step with --sweep):
    /// seconds, or with a unit: 500ms, 10s, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Keep-alive connections (per target).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Generator threads, one glommio executor each.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// CPUs to pin the threads to, e.g. `0` or `0,2` or `0-3`.
    #[arg(long, value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
    /// Request timeout; a timed-out request counts as an error and its connection is reopened.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// A request that cannot be sent this long after its intended time is counted as not sent
    /// on time instead of being sent.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub late_after: Duration,
    /// One request body.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// A directory of request bodies: every *.json file, round-robin.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// A JSON-lines file of request bodies (adshard-gen traffic output), round-robin.
    #[arg(long)]
    pub requests: Option<PathBuf>,
    /// GET requests over a list of paths: one path (with its query) per line, round-robin,
    /// e.g. the tracking URLs of many bids. Replaces the path of --url (and of --compare).
    #[arg(long, value_name = "FILE")]
    pub paths: Option<PathBuf>,
    /// Replace user.id with a Zipf(s=1.1)-distributed id over N users (4096 prepared variants).
    #[arg(long, value_name = "N")]
    pub vary_users: Option<u64>,
    /// Seed of --vary-users.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// HTTP method (default: POST, or GET with --paths); GET sends no body unless one is given.
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Write the latency distribution in HdrHistogram .hgrm format (milliseconds).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an SVG latency-by-percentile plot.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// A second target, run interleaved with --url in slices; prints both and B/A ratios.
    #[arg(long, value_name = "URL2", conflicts_with = "sweep")]
    pub compare: Option<String>,
    /// Slice length of --compare.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub slice: Duration,
    /// Step the rate up from --rate until p99 exceeds --p99-max-ms or failures appear.
    #[arg(long)]
    pub sweep: bool,
    /// The p99 a --sweep step may not exceed.
    #[arg(long, default_value_t = 10.0)]
    pub p99_max_ms: f64,
    /// Rate multiplier between --sweep steps.
    #[arg(long, default_value_t = 1.25)]
    pub sweep_factor: f64,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// A parsed `--cpus` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// What a run produced, for callers that want the figures rather than the text.
#[derive(Clone, Debug)]
pub enum Outcome {
    Single(Box<Report>),
    Compare(Box<Comparison>),
    Sweep(Sweep),
}

/// Runs what the command line asks for, writing the text report to `out`. The last line
/// written is the one-line summary (the comparison line with `--compare`, the best step's
/// summary with `--sweep`).
pub fn run_cli(cli: &Cli, out: &mut impl Write) -> anyhow::Result<Outcome> {
    let targets = target_plans(cli)?;
    let plan = RunPlan {
        targets,
        rate_per_s: cli.rate,
        active: cli.duration,
        slice: cli.slice,
        connections: cli.connections,
        threads: cli.threads,
        cpus: cli.cpus.clone().map(|cpus| cpus.0),
        timeout: cli.timeout,
        late_after: cli.late_after,
        progress: !cli.quiet,
    };
    if cli.sweep {
        let sweep = run_sweep(cli, plan, out)?;
        return Ok(Outcome::Sweep(sweep));
    }
    let results = run(&plan)?;
    let reports: Vec<Report> = results.iter().map(Report::new).collect();
    write_files(cli, &reports)?;
    match <[Report; 2]>::try_from(reports) {
        Ok([a, b]) => {
            writeln!(out, "A:")?;
            a.write_text(out)?;
            writeln!(out, "  {}", a.summary_line())?;
            writeln!(out, "B:")?;
            b.write_text(out)?;
            writeln!(out, "  {}", b.summary_line())?;
            let comparison = Comparison::new(a, b);
            writeln!(out, "{}", comparison.summary_line())?;
            Ok(Outcome::Compare(Box::new(comparison)))
        }
        Err(mut reports) => {
            let report = reports.remove(0);
            report.write_text(out)?;
            writeln!(out, "{}", report.summary_line())?;
            Ok(Outcome::Single(Box::new(report)))
        }
    }
}

/// The targets of a run, each with its requests framed: the bodies (or paths) the command line
/// names, for `--url` and `--compare`.
fn target_plans(cli: &Cli) -> anyhow::Result<Vec<TargetPlan>> {
    let method = match (cli.method, &cli.paths) {
        (Some(MethodArg::Post), Some(_)) => bail!("--paths sends GET requests; drop --method post"),
        (Some(MethodArg::Get), _) | (None, Some(_)) => Method::Get,
        (Some(MethodArg::Post), None) | (None, None) => Method::Post,
    };
    let mut urls = vec![cli.url.as_str()];
    if let Some(url) = &cli.compare {
        urls.push(url);
    }
    if let Some(file) = &cli.paths {
        if cli.vary_users.is_some() {
            bail!("--vary-users rewrites request bodies; --paths sends none");
        }
        let paths = load_paths(file)?;
        return urls
            .into_iter()
            .map(|url| {
                let target = Target::parse(url)?;
                let requests = Arc::new(RequestPool::for_paths(&target, &paths));
                Ok(TargetPlan { target, requests })
            })
            .collect();
    }
    let source = match (&cli.body, &cli.corpus, &cli.requests) {
        (Some(path), _, _) => BodySource::File(path.clone()),
        (_, Some(dir), _) => BodySource::Corpus(dir.clone()),
        (_, _, Some(path)) => BodySource::JsonLines(path.clone()),
        _ if method == Method::Get => BodySource::Empty,
        _ => bail!(
            "POST needs one of --body FILE, --corpus DIR or --requests FILE.jsonl \
             (or GET: --method get, --paths FILE)"
        ),
    };
    let mut bodies = load_bodies(&source)?;
    if let Some(n_users) = cli.vary_users {
        bodies = vary_users(&bodies, n_users, cli.seed)?;
    }
    urls.into_iter()
        .map(|url| {
            let target = Target::parse(url)?;
            let requests = Arc::new(RequestPool::new(&target, method, &bodies));
            Ok(TargetPlan { target, requests })
        })
        .collect()
}

fn run_sweep(cli: &Cli, mut plan: RunPlan, out: &mut impl Write) -> anyhow::Result<Sweep> {
    if cli.sweep_factor.is_nan() || cli.sweep_factor <= 1.0 {
        bail!("--sweep-factor must be above 1");
    }
    let mut sweep = Sweep {
        p99_max_ms: cli.p99_max_ms,
        steps: Vec::new(),
        best_step_idx: None,
    };
    for step_idx in 0..SWEEP_STEPS_MAX {
        let results = run(&plan)?;
        let report = Report::new(&results[0]);
        let sustainable = report.failures() == 0 && report.latency_ms.p99 <= cli.p99_max_ms;
        writeln!(
            out,
            "step {step_idx}: {:.1} req/s -> {} ({})",
            plan.rate_per_s,
            report.summary_line(),
            if sustainable {
                "sustained"
            } else {
                "not sustained"
            }
        )?;
        out.flush()?;
        sweep.steps.push(SweepStep {
            rate_per_s: plan.rate_per_s,
            sustainable,
            report,
        });
        if !sustainable {
            break;
        }
        sweep.best_step_idx = Some(step_idx);
        plan.rate_per_s *= cli.sweep_factor;
    }
    let best_reports: Vec<Report> = sweep
        .best()
        .map(|step| step.report.clone())
        .into_iter()
        .collect();
    write_files(cli, &best_reports)?;
    if let Some(json) = &cli.json {
        std::fs::write(json, serde_json::to_vec_pretty(&sweep)?)
            .with_context(|| format!("writing {}", json.display()))?;
    }
    match sweep.best() {
        Some(best) => {
            writeln!(
                out,
                "sweep: highest sustainable rate {:.1} req/s (p99 <= {} ms, no failures)",
                best.rate_per_s, cli.p99_max_ms
            )?;
            writeln!(out, "{}", best.report.summary_line())?;
        }
        None => writeln!(
            out,
            "sweep: no sustainable rate (the first step at {:.1} req/s failed)",
            cli.rate
        )?,
    }
    Ok(sweep)
}

/// Writes --hgrm, --json and --svg for a single run or a comparison. With two reports the
/// .hgrm file is written per target (`FILE.a.hgrm`-style names are avoided: A goes to the
/// path given, B next to it with `-b` before the extension).
fn write_files(cli: &Cli, reports: &[Report]) -> anyhow::Result<()> {
    if reports.is_empty() {
        return Ok(());
    }
    if let Some(path) = &cli.hgrm {
        for (report_idx, report) in reports.iter().enumerate() {
            let path = if report_idx == 0 {
                path.clone()
            } else {
                sibling(path, "-b")
            };
            let mut text = Vec::new();
            write_hgrm(&report.stats.latency_us, &mut text)?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(path) = &cli.json {
        if !cli.sweep {
            let json = match reports {
                [a, b] => serde_json::to_vec_pretty(&Comparison::new(a.clone(), b.clone()))?,
                _ => serde_json::to_vec_pretty(&reports[0])?,
            };
            std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(path) = &cli.svg {
        let labels: Vec<String> = reports
            .iter()
            .enumerate()
            .map(|(idx, report)| {
                let name = if reports.len() > 1 {
                    format!("{}: ", (b'A' + idx as u8) as char)
                } else {
                    String::new()
                };
                format!(
                    "{name}{} at {:.0} req/s",
                    report.url, report.target_rate_per_s
                )
            })
            .collect();
        let series: Vec<Series<'_>> = reports
            .iter()
            .zip(&labels)
            .map(|(report, label)| Series {
                label,
                latency_us: &report.stats.latency_us,
            })
            .collect();
        let svg = render_svg("adshard-bench latency by percentile", &series);
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `dir/name.hgrm` with `suffix` before the extension: `dir/name-b.hgrm`.
fn sibling(path: &std::path::Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    path.with_file_name(name)
}

/// `10`, `10s`, `500ms`, `2m`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit_s) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix("us") {
        (number, 1e-6)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 10s, 500ms)"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("{text:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(value * unit_s))
}

/// `0`, `0,2`, `0-3`, `0-1,4`.
pub fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let parse = |number: &str| {
            number
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU {number:?} in {text:?}"))
        };
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (parse(low)?, parse(high)?);
                if low > high {
                    return Err(format!("bad CPU range {part:?}"));
                }
                cpus.extend(low..=high);
            }
            None => cpus.push(parse(part)?),
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".to_string());
    }
    Ok(CpuList(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpus("0").unwrap().0, vec![0]);
        assert_eq!(parse_cpus("0,2").unwrap().0, vec![0, 2]);
        assert_eq!(parse_cpus("0-2,5").unwrap().0, vec![0, 1, 2, 5]);
        assert!(parse_cpus("2-1").is_err());
        assert!(parse_cpus("").is_err());
    }

    #[test]
    fn compare_hgrm_goes_next_to_the_first() {
        assert_eq!(
            sibling(std::path::Path::new("/t/run.hgrm"), "-b"),
            PathBuf::from("/t/run-b.hgrm")
        );
    }
}
