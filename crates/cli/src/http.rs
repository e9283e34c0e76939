//! `prise http serve`.

use std::process::ExitCode;

use prise_core::net::announce;
use prise_core::trace::TrafficLog;
use prise_http::server;

use crate::args::HttpCommand;

pub(crate) async fn run(
    command: HttpCommand,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    match command {
        HttpCommand::Serve(args) => {
            let crate::server::Started {
                shutdown,
                listener,
                local,
                tls,
            } = crate::server::start("http", &args.listen, &args.tls, |cli| match cli.command {
                crate::args::Command::Http(HttpCommand::Serve(args)) => Some(args.tls),
                _ => None,
            })
            .await?;
            let dir = args.dir.or(args.root).unwrap_or_else(|| ".".into());
            let mut config = server::Config::new(dir);
            config.hidden = args.hidden;
            config.follow_symlinks = args.follow_symlinks;
            config.upload = args.upload;
            config.overwrite = args.overwrite;
            config.max_upload = args.max_upload;
            config.auth = args.auth;
            config.htpasswd = args.htpasswd;
            config.auth_uploads_only = args.auth_uploads_only;
            config.cors = args.cors;
            config.headers = args.header;
            config.tls = tls;
            if config.htpasswd.is_some() {
                // SIGHUP reads the htpasswd file again (and the certificate, see server.rs).
                let notify = std::sync::Arc::new(tokio::sync::Notify::new());
                let notifier = std::sync::Arc::clone(&notify);
                crate::signals::on_reload(shutdown.clone(), move || notifier.notify_one())?;
                config.reload_users = Some(notify);
            }
            config.trace = trace;
            config.grace = args.common.grace;
            config.max_connections = args.common.max_connections();
            announce("http", local);
            server::run(listener, config, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
