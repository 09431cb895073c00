//! The requests a run sends, serialized to wire bytes once at start-up. The send path only
//! picks a prepared request by index and writes it: no JSON, no formatting, no allocation.
//!
//! Bodies come from one file (`--body`), every `*.json` file of a directory (`--corpus`,
//! round-robin in file-name order) or a JSON-lines file (`--requests`, one request per line,
//! as `adshard-gen traffic` writes). `--vary-users N` rewrites `user.id` of a bounded pool of
//! variants with Zipf-distributed ids, so a server's per-user state (frequency caps) sees a
//! realistic mix of hot and cold users. `--paths FILE` sends GETs over a list of paths instead
//! (one per line, round-robin): many distinct URLs of one kind, such as tracking notices.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::loadgen::target::Target;

/// Prepared requests are capped so a large corpus cannot exhaust memory by accident; 2 GiB of
/// request bytes is far beyond any useful benchmark input.
pub const REQUEST_BYTES_TOTAL_MAX: usize = 2 << 30;
/// Variants prepared for `--vary-users`: enough that the ids follow the Zipf law closely,
/// few enough to build in well under a second.
pub const USER_VARIANTS_MAX: usize = 4096;
/// Longest path `--paths` takes: a tracking notice's URL with its token is ~300 bytes.
pub const PATH_BYTES_MAX: usize = 8 * 1024;
/// The Zipf exponent of user popularity, about what ad traffic shows.
pub const USER_ZIPF_EXPONENT: f64 = 1.1;

/// Where request bodies come from.
#[derive(Clone, Debug)]
pub enum BodySource {
    /// No body (`--method GET` without `--body`).
    Empty,
    File(PathBuf),
    Corpus(PathBuf),
    JsonLines(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// The bodies of a run before they are framed for a target.
pub fn load_bodies(source: &BodySource) -> anyhow::Result<Vec<Vec<u8>>> {
    let bodies = match source {
        BodySource::Empty => vec![Vec::new()],
        BodySource::File(path) => {
            vec![std::fs::read(path).with_context(|| format!("reading {}", path.display()))?]
        }
        BodySource::Corpus(dir) => {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading directory {}", dir.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect();
            paths.sort();
            paths
                .iter()
                .map(|path| {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        }
        BodySource::JsonLines(path) => read_json_lines(path)?,
    };
    if bodies.is_empty() {
        bail!("no request bodies found in {source:?}");
    }
    let total_bytes: usize = bodies.iter().map(Vec::len).sum();
    if total_bytes > REQUEST_BYTES_TOTAL_MAX {
        bail!("request bodies total {total_bytes} bytes, more than {REQUEST_BYTES_TOTAL_MAX}");
    }
    Ok(bodies)
}

fn read_json_lines(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| line.iter().any(|byte| !byte.is_ascii_whitespace()))
        .map(<[u8]>::to_vec)
        .collect())
}

/// The paths of a `--paths` file: one per line (blank lines skipped), each starting with `/`,
/// without spaces or control characters, at most [`PATH_BYTES_MAX`] bytes.
pub fn load_paths(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_paths(&text).with_context(|| format!("in {}", path.display()))
}

/// The paths of a `--paths` file's text (see [`load_paths`]).
pub fn parse_paths(text: &str) -> anyhow::Result<Vec<String>> {
    let mut paths = Vec::new();
    let mut total_bytes = 0usize;
    for (line_idx, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let line_no = line_idx + 1;
        if !line.starts_with('/') {
            bail!("line {line_no}: a path must start with '/' (no scheme or host)");
        }
        if line.len() > PATH_BYTES_MAX {
            bail!("line {line_no}: longer than {PATH_BYTES_MAX} bytes");
        }
        if line.bytes().any(|byte| byte <= b' ' || byte >= 0x7f) {
            bail!("line {line_no}: spaces, control or non-ASCII characters in the path");
        }
        total_bytes += line.len();
        if total_bytes > REQUEST_BYTES_TOTAL_MAX {
            bail!("paths total more than {REQUEST_BYTES_TOTAL_MAX} bytes");
        }
        paths.push(line.to_string());
    }
    if paths.is_empty() {
        bail!("no paths");
    }
    Ok(paths)
}

/// Replaces (or inserts) `user.id` in `--vary-users` variants of `bodies`: variant `k` is
/// body `k % bodies.len()` with a user id drawn from Zipf(`n_users`, 1.1). Deterministic for
/// a seed.
pub fn vary_users(bodies: &[Vec<u8>], n_users: u64, seed: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    assert!(!bodies.is_empty());
    if n_users == 0 {
        bail!("--vary-users needs at least one user");
    }
    let parsed = bodies
        .iter()
        .enumerate()
        .map(|(body_idx, body)| {
            serde_json::from_slice::<serde_json::Value>(body)
                .with_context(|| format!("body {body_idx} is not JSON; --vary-users needs JSON"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Every body appears at least once even when there are more bodies than variants.
    let n_variants = USER_VARIANTS_MAX.max(bodies.len());
    let mut rng = SplitMix64(seed);
    let zipf = Zipf::new(n_users, USER_ZIPF_EXPONENT);
    let mut variants = Vec::with_capacity(n_variants);
    for variant_idx in 0..n_variants {
        let mut value = parsed[variant_idx % parsed.len()].clone();
        let root = value
            .as_object_mut()
            .with_context(|| format!("body {} is not a JSON object", variant_idx % parsed.len()))?;
        let user = root
            .entry("user")
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if !user.is_object() {
            *user = serde_json::Value::Object(serde_json::Map::new());
        }
        let user_id = zipf.sample(rng.next_f64());
        user.as_object_mut().expect("made an object above").insert(
            "id".into(),
            serde_json::Value::String(format!("u{user_id}")),
        );
        variants.push(serde_json::to_vec(&value)?);
    }
    Ok(variants)
}

/// A Zipf distribution over ranks `1..=n`, sampled by inverting the continuous (bounded
/// Pareto) approximation of its CDF: exact enough for load shaping, O(1) memory for any `n`.
#[derive(Clone, Copy, Debug)]
pub struct Zipf {
    n: u64,
    exponent: f64,
}

impl Zipf {
    pub fn new(n: u64, exponent: f64) -> Zipf {
        assert!(n > 0 && exponent > 0.0 && exponent != 1.0);
        Zipf { n, exponent }
    }

    /// The rank for a uniform `u` in `[0, 1)`.
    pub fn sample(&self, u: f64) -> u64 {
        let one_minus_s = 1.0 - self.exponent;
        let top = (self.n as f64 + 1.0).powf(one_minus_s);
        let x = (1.0 + u * (top - 1.0)).powf(1.0 / one_minus_s);
        (x.floor() as u64).clamp(1, self.n)
    }
}

/// A small deterministic RNG (SplitMix64): variants must not change between runs of a seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Complete HTTP/1.1 requests for one target, ready to write.
#[derive(Debug)]
pub struct RequestPool {
    requests: Vec<Box<[u8]>>,
}

impl RequestPool {
    pub fn new(target: &Target, method: Method, bodies: &[Vec<u8>]) -> RequestPool {
        assert!(!bodies.is_empty());
        let requests = bodies
            .iter()
            .map(|body| {
                let mut head = String::with_capacity(128);
                let _ = write!(
                    head,
                    "{} {} HTTP/1.1\r\nHost: {}\r\n",
                    method.as_str(),
                    target.path,
                    target.host_header
                );
                if method == Method::Post || !body.is_empty() {
                    head.push_str("Content-Type: application/json\r\n");
                    let _ = write!(head, "Content-Length: {}\r\n", body.len());
                }
                head.push_str("\r\n");
                let mut request = Vec::with_capacity(head.len() + body.len());
                request.extend_from_slice(head.as_bytes());
                request.extend_from_slice(body);
                request.into_boxed_slice()
            })
            .collect();
        RequestPool { requests }
    }

    /// GET requests for `target`'s host, one per path (the target's own path is not used).
    pub fn for_paths(target: &Target, paths: &[String]) -> RequestPool {
        assert!(!paths.is_empty());
        let requests = paths
            .iter()
            .map(|path| {
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
                    target.host_header
                )
                .into_bytes()
                .into_boxed_slice()
            })
            .collect();
        RequestPool { requests }
    }

    /// The request sent as request `request_idx` of the schedule (round-robin over the pool).
    pub fn get(&self, request_idx: u64) -> &[u8] {
        &self.requests[(request_idx % self.requests.len() as u64) as usize]
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks() {
        let zipf = Zipf::new(1000, USER_ZIPF_EXPONENT);
        let mut rng = SplitMix64(7);
        let mut counts = vec![0u32; 1001];
        for _ in 0..100_000 {
            counts[zipf.sample(rng.next_f64()) as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!(counts[1] > counts[2] && counts[2] > counts[10] && counts[10] > counts[500]);
        // Rank 1 of Zipf(1000, 1.1) holds about 15% of the mass.
        assert!((10_000..22_000).contains(&counts[1]), "{}", counts[1]);
    }

    #[test]
    fn vary_users_rewrites_user_id() {
        let bodies = vec![
            br#"{"id":"a","user":{"id":"x","yob":1990}}"#.to_vec(),
            br#"{"id":"b"}"#.to_vec(),
        ];
        let variants = vary_users(&bodies, 100, 1).unwrap();
        assert_eq!(variants.len(), USER_VARIANTS_MAX);
        for (idx, variant) in variants.iter().take(4).enumerate() {
            let value: serde_json::Value = serde_json::from_slice(variant).unwrap();
            assert_eq!(value["id"], if idx % 2 == 0 { "a" } else { "b" });
            let id = value["user"]["id"].as_str().unwrap();
            let rank: u64 = id.strip_prefix('u').unwrap().parse().unwrap();
            assert!((1..=100).contains(&rank));
        }
        assert_eq!(variants, vary_users(&bodies, 100, 1).unwrap());
    }

    #[test]
    fn paths_file_lines_are_checked() {
        let paths = parse_paths("/billing?t=a\n\n  /click?t=b&x=1  \r\n/healthz\n").unwrap();
        assert_eq!(paths, vec!["/billing?t=a", "/click?t=b&x=1", "/healthz"]);
        for bad in [
            "",
            "\n \n",
            "billing?t=a",
            "http://127.0.0.1/x",
            "/a b",
            "/a\tb",
            "/caf\u{e9}",
        ] {
            assert!(parse_paths(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_paths(&format!("/{}", "a".repeat(PATH_BYTES_MAX))).is_err());
    }

    #[test]
    fn path_requests_are_gets_round_robin() {
        let target = Target::parse("http://127.0.0.1:9000/ignored").unwrap();
        let paths = vec!["/imp?t=1".to_string(), "/imp?t=2".to_string()];
        let pool = RequestPool::for_paths(&target, &paths);
        assert_eq!(pool.len(), 2);
        assert_eq!(
            pool.get(0),
            b"GET /imp?t=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n"
        );
        assert_eq!(
            pool.get(3),
            b"GET /imp?t=2 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n"
        );
    }

    #[test]
    fn requests_are_framed_with_length() {
        let target = Target::parse("http://127.0.0.1:9000/x").unwrap();
        let pool = RequestPool::new(&target, Method::Post, &[b"{}".to_vec()]);
        assert_eq!(
            pool.get(5),
            b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
        let pool = RequestPool::new(&target, Method::Get, &[Vec::new()]);
        assert_eq!(
            pool.get(0),
            b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n"
        );
    }
}
