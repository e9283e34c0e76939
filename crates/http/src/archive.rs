//! A folder as one download: `GET /folder/?download=tar` streams a tar archive of everything
//! the listing would show (hidden names and symlinks leaving the folder left out, as in the
//! listing), built on a blocking thread while it is sent: memory stays at a few buffers
//! whatever the folder's size, and a client that goes away stops the walk.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// Bytes handed to the network at a time.
const CHUNK: usize = 256 * 1024;

/// Writes into a bounded channel; when the receiver is gone (the client left), every write
/// fails, which ends the archive.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

/// Start writing the tar of `dir` (named `name` inside the archive); the receiver yields it.
pub(crate) fn tar(
    dir: PathBuf,
    name: String,
    root: PathBuf,
    hidden: bool,
    follow_symlinks: bool,
) -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(true);
        let result = add(
            &mut builder,
            &dir,
            Path::new(&name),
            &root,
            hidden,
            follow_symlinks,
        )
        .and_then(|()| builder.into_inner())
        .and_then(|mut writer| writer.flush());
        if let Err(e) = result {
            // The client sees a cut-short archive (no end-of-archive blocks), which tar reports.
            tracing::info!(cause = %e, folder = %dir.display(), "tar download stopped");
        }
    });
    rx
}

fn add(
    builder: &mut tar::Builder<ChannelWriter>,
    dir: &Path,
    inside: &Path,
    root: &Path,
    hidden: bool,
    follow_symlinks: bool,
) -> std::io::Result<()> {
    builder.append_dir(inside, dir)?;
    for item in crate::listing::read(dir, root, hidden, follow_symlinks)? {
        let path = dir.join(&item.name);
        let name = inside.join(&item.name);
        if item.dir {
            add(builder, &path, &name, root, hidden, follow_symlinks)?;
        } else {
            let mut file = std::fs::File::open(&path)?;
            builder.append_file(&name, &mut file)?;
        }
    }
    Ok(())
}
