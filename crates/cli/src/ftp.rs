//! `prise ftp serve`.

use std::process::ExitCode;

use prise_core::net::announce;
use prise_core::trace::TrafficLog;
use prise_ftp::server;

use crate::args::FtpCommand;

pub(crate) async fn run(
    command: FtpCommand,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    match command {
        FtpCommand::Serve(args) => {
            let crate::server::Started {
                shutdown,
                listener,
                local,
                tls,
            } = crate::server::start("ftp", &args.listen, &args.tls, |cli| match cli.command {
                crate::args::Command::Ftp(FtpCommand::Serve(args)) => Some(args.tls),
                _ => None,
            })
            .await?;
            let dir = args.dir.or(args.root).unwrap_or_else(|| ".".into());
            if args.user.is_empty() && !args.anonymous {
                anyhow::bail!(
                    "nobody can log in: give --user NAME:PASS (or `user = [\"name:pass\"]` in a config file), or --anonymous"
                );
            }
            if !dir.is_dir() {
                anyhow::bail!("{} is not a folder", dir.display());
            }
            let mut config = server::Config::new(dir);
            config.users = args
                .user
                .into_iter()
                .map(|(name, password)| server::User { name, password })
                .collect();
            config.anonymous = args.anonymous;
            config.read_only = args.read_only;
            config.passive_ports = args.passive_ports;
            config.public_ip = args.public_ip;
            config.idle_timeout = args.idle_timeout;
            config.data_timeout = args.data_timeout;
            config.tls = tls;
            config.trace = trace;
            config.grace = args.common.grace;
            config.max_connections = args.common.max_connections();
            announce("ftp", local);
            server::run(listener, config, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
