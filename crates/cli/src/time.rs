//! `prise time`: ask servers, print one line (or one JSON object) per server address.

use std::io::Write as _;
use std::process::ExitCode;

use prise_time::packet::Kiss;
use prise_time::{Family, Options, Report};

use crate::args::TimeArgs;

/// The server asked when none is named.
const DEFAULT_SERVER: &str = "pool.ntp.org";

pub(crate) async fn run(args: TimeArgs) -> anyhow::Result<ExitCode> {
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    };
    let servers = if args.servers.is_empty() {
        vec![DEFAULT_SERVER.to_owned()]
    } else {
        args.servers.clone()
    };
    let mut targets = Vec::new();
    let mut unresolved = Vec::new();
    for server in &servers {
        match prise_time::resolve(server, family).await {
            Ok(addresses) => targets.extend(addresses.into_iter().map(|a| (server.clone(), a))),
            Err(e) => unresolved.push((server.clone(), e)),
        }
    }
    let mut out = std::io::stdout().lock();
    for (server, error) in &unresolved {
        if args.json {
            let line = serde_json::json!({ "server": server, "ok": false, "error": error });
            writeln!(out, "{line}")?;
        } else {
            eprintln!("prise: {error}");
        }
    }
    if targets.is_empty() {
        return Ok(ExitCode::from(2));
    }
    let options = Options {
        samples: args.samples,
        interval: args.interval,
        timeout: args.timeout,
    };
    let reports = prise_time::ask_all(targets, &options).await;
    for (server, report) in &reports {
        if args.json {
            writeln!(out, "{}", json(server, report))?;
        } else {
            writeln!(out, "{}", human(server, report))?;
        }
    }
    let best = reports
        .iter()
        .filter_map(|(server, r)| r.outcome.as_ref().ok().map(|a| (server, r.address, a)))
        .min_by(|a, b| a.2.delay.total_cmp(&b.2.delay));
    if !args.json && reports.len() > 1 {
        if let Some((server, address, answer)) = best {
            writeln!(
                out,
                "best: {server} ({address}): offset {:+.6} s (smallest delay, {:.6} s)",
                answer.offset, answer.delay
            )?;
        }
    }
    Ok(if best.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn kisses(report: &Report) -> Vec<String> {
    report
        .kisses
        .iter()
        .map(|k| match k {
            Kiss::Rate => "RATE".to_owned(),
            Kiss::Deny => "DENY".to_owned(),
            Kiss::Restricted => "RSTR".to_owned(),
            Kiss::Other(code) => code.clone(),
        })
        .collect()
}

fn human(server: &str, report: &Report) -> String {
    let address = report.address.to_string();
    let name = if server == address {
        address
    } else {
        format!("{server} ({address})")
    };
    let mut line = match &report.outcome {
        Ok(a) => {
            let mut text = format!(
                "{name}: offset {:+.6} s, delay {:.6} s, jitter {:.6} s, stratum {}, refid {}",
                a.offset, a.delay, a.jitter, a.stratum, a.refid
            );
            match a.leap {
                1 => text.push_str(", leap second ahead (61-second minute)"),
                2 => text.push_str(", leap second ahead (59-second minute)"),
                _ => {}
            }
            text
        }
        Err(failure) => format!("{name}: no answer: {failure}"),
    };
    let codes = kisses(report);
    if !codes.is_empty() && !matches!(report.outcome, Err(prise_time::Failure::Refused(_))) {
        line.push_str(&format!(" (Kiss-o'-Death: {})", codes.join(", ")));
    }
    line
}

fn json(server: &str, report: &Report) -> serde_json::Value {
    let mut value = match &report.outcome {
        Ok(answer) => {
            let mut v = serde_json::to_value(answer).unwrap_or_default();
            v["ok"] = true.into();
            v
        }
        Err(failure) => serde_json::json!({ "ok": false, "error": failure.to_string() }),
    };
    value["server"] = server.into();
    value["address"] = report.address.to_string().into();
    value["kod"] = kisses(report).into();
    value
}
