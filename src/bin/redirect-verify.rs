//! `redirect-verify -token TOKEN [-now SECS] < HEADERS`: checks a signed
//! `/redirect/` reply or the request a storage node received (docs/redirect.md).
//!
//! Standard input is an HTTP header block: either the proxy's 302 reply
//! (`curl -sD - -o /dev/null URL`; the path comes from `Location`) or the
//! request as the storage node sees it (`GET /FILE:OFFSET:SIZE HTTP/1.1`
//! followed by its headers). Prints one line; exits 0 when it verifies.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

use backrunner::cli::normalize_args;
use backrunner::redirect_sign::verify;

/// Checks a redirect signature and its time window.
#[derive(Debug, Parser)]
#[command(name = "redirect-verify", version)]
struct Args {
    /// The proxy's `redirect-token`.
    #[arg(
        long,
        conflicts_with = "token_file",
        required_unless_present = "token_file"
    )]
    token: Option<String>,
    /// A file holding the token (keeps it out of the process list).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Check the window at this unix time instead of now.
    #[arg(long, value_name = "SECS")]
    now: Option<u64>,
}

/// A request or reply read from standard input.
struct Captured {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

/// The method, path and headers of a header block.
fn parse(input: &str) -> Result<Captured, String> {
    let mut method = "GET".to_string();
    let mut path = None;
    let mut headers = Vec::new();
    for line in input.lines().map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("HTTP/") {
            continue;
        }
        if let Some((m, rest)) = line.split_once(' ') {
            if rest.starts_with('/') && !m.ends_with(':') {
                method = m.to_string();
                path = rest.split(' ').next().map(str::to_string);
                continue;
            }
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("not a header line: {line:?}"));
        };
        let (name, value) = (name.trim().to_string(), value.trim().to_string());
        if name.eq_ignore_ascii_case("location") && path.is_none() {
            let after_scheme = value.split_once("://").map(|x| x.1).unwrap_or(&value);
            let p = after_scheme
                .find('/')
                .map(|i| &after_scheme[i..])
                .ok_or_else(|| format!("Location {value:?} has no path"))?;
            path = Some(p.to_string());
        }
        headers.push((name, value));
    }
    let path = path.ok_or("no request line and no Location header on standard input")?;
    Ok(Captured {
        method,
        path,
        headers,
    })
}

fn run(args: Args) -> Result<String, String> {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| format!("{}: cannot read: {e}", f.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        (None, None) => return Err("give -token or -token-file".into()),
    };
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("standard input: {e}"))?;
    let Captured {
        method,
        path,
        headers,
    } = parse(&input)?;
    let now = args.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let t = verify(&token, &method, &path, &h, now).map_err(|e| format!("{path}: {e}"))?;
    Ok(format!(
        "ok: file {} offset {} size {} valid until {}",
        t.file, t.offset, t.size, t.valid_until
    ))
}

fn main() -> ExitCode {
    let args = Args::parse_from(normalize_args(std::env::args_os()));
    match run(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redirect-verify: {e}");
            ExitCode::FAILURE
        }
    }
}
