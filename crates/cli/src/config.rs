//! `--config FILE`: every server setting can live in a TOML file, under the same names as the
//! flags (`max-connections = 50` or `max_connections = 50`), and flags given on the command line
//! win.
//!
//! The file is turned into command-line arguments inserted right after the subcommand, before
//! the user's own; clap keeps the last value of a repeated flag (`args_override_self`), so the
//! user's flags override the file. One parser, one set of validations and error messages, for
//! flags and file alike.
//!
//! Values: a string or number becomes `--name=value`, `true` becomes `--name` (`false` leaves
//! the default), an array repeats the flag. A name that is not a flag of the command is an error
//! that names the file and the setting.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::CommandFactory;

use crate::args::Cli;

/// Expand `--config FILE` in `raw` (the process's arguments). Returns `raw` unchanged when there
/// is no `--config`, or when the arguments do not parse (clap then reports the real problem).
pub(crate) fn expand(raw: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Ok(matches) = Cli::command().try_get_matches_from(&raw) else {
        return Ok(raw);
    };
    // Walk down to the leaf subcommand, remembering its name path.
    let mut path = Vec::new();
    let mut leaf = &matches;
    while let Some((name, sub)) = leaf.subcommand() {
        path.push(name.to_owned());
        leaf = sub;
    }
    let has_config = leaf.ids().any(|id| id.as_str() == "config");
    let Some(file) = has_config
        .then(|| leaf.get_one::<PathBuf>("config"))
        .flatten()
    else {
        return Ok(raw);
    };
    let mut command = Cli::command();
    command.build();
    let mut leaf_cmd = &command;
    for name in &path {
        leaf_cmd = leaf_cmd
            .find_subcommand(name)
            .context("subcommand vanished between two parses")?;
    }
    let from_file = arguments_from(file, leaf_cmd, &path.join(" "))?;
    // Insert after the last subcommand name, so global flags before it stay where they were.
    let insert_at = subcommand_end(&raw, &path);
    let mut expanded = raw[..insert_at].to_vec();
    expanded.extend(from_file);
    expanded.extend_from_slice(&raw[insert_at..]);
    Ok(expanded)
}

/// Index just after the tokens naming the subcommand path in `raw`.
fn subcommand_end(raw: &[OsString], path: &[String]) -> usize {
    let mut at = 1;
    for name in path {
        match raw[at..].iter().position(|arg| arg == name.as_str()) {
            Some(offset) => at += offset + 1,
            None => break,
        }
    }
    at
}

/// The flags a config file stands for.
fn arguments_from(
    file: &Path,
    command: &clap::Command,
    name: &str,
) -> anyhow::Result<Vec<OsString>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading config file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("config file {}", file.display()))?;
    let mut args = Vec::new();
    for (key, value) in &table {
        let flag = key.replace('_', "-");
        let known = command
            .get_arguments()
            .any(|a| a.get_long() == Some(flag.as_str()) && flag != "config");
        if !known {
            bail!(
                "config file {}: `{key}` is not a setting of `prise {name}` (see prise {name} --help)",
                file.display()
            );
        }
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(true) => {
                    args.push(OsString::from(format!("--{flag}")));
                    continue;
                }
                toml::Value::Boolean(false) => continue,
                _ => bail!(
                    "config file {}: `{key}` must be a string, number, boolean or list of them",
                    file.display()
                ),
            };
            args.push(OsString::from(format!("--{flag}={text}")));
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clap::Parser;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_settings_apply_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("echo.toml");
        std::fs::write(
            &file,
            "max_connections = 7\nreply = \"from file\"\nidle-timeout = \"2m\"\n",
        )
        .unwrap();
        let raw = os(&[
            "prise",
            "-v",
            "echo",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--reply",
            "from flag",
        ]);
        let cli = Cli::try_parse_from(expand(raw).unwrap()).unwrap();
        let crate::args::Command::Echo(crate::args::EchoCommand::Serve(args)) = cli.command else {
            panic!("not echo serve");
        };
        assert_eq!(args.common.max_connections(), 7);
        assert_eq!(args.reply.as_deref(), Some("from flag"));
        assert_eq!(args.idle_timeout, std::time::Duration::from_secs(120));
        assert_eq!(cli.verbose, 1);
    }

    #[test]
    fn unknown_settings_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("echo.toml");
        std::fs::write(&file, "max_conections = 7\n").unwrap();
        let raw = os(&["prise", "echo", "serve", "--config", file.to_str().unwrap()]);
        let err = format!("{:#}", expand(raw).unwrap_err());
        assert!(
            err.contains("`max_conections` is not a setting of `prise echo serve`"),
            "{err}"
        );
        std::fs::write(&file, "max_connections = \n").unwrap();
        let raw = os(&["prise", "echo", "serve", "--config", file.to_str().unwrap()]);
        let err = format!("{:#}", expand(raw).unwrap_err());
        assert!(err.contains("config file"), "{err}");
        let raw = os(&[
            "prise",
            "echo",
            "serve",
            "--config",
            "/nonexistent/prise.toml",
        ]);
        let err = format!("{:#}", expand(raw).unwrap_err());
        assert!(
            err.contains("reading config file /nonexistent/prise.toml"),
            "{err}"
        );
    }

    #[test]
    fn file_values_are_validated_like_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("echo.toml");
        std::fs::write(&file, "max_connections = 0\n").unwrap();
        let raw = os(&["prise", "echo", "serve", "--config", file.to_str().unwrap()]);
        assert!(Cli::try_parse_from(expand(raw).unwrap()).is_err());
    }
}
