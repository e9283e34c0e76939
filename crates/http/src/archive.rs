//! A folder as one download: `GET /folder/?download=tar` or `?download=zip` streams an archive
//! of everything the listing would show (hidden names and symlinks leaving the folder left out,
//! as in the listing), built on a blocking thread while it is sent: memory stays at a few
//! buffers whatever the folder's size, and a client that goes away stops the walk.
//!
//! Files are stored, not compressed, in both formats: the archive streams at disk speed, and
//! the files people download by the folder (photos, videos, archives) rarely shrink.
//! The zip is written for a stream (sizes and checksums in data descriptors after each file,
//! ZIP64 for files of 4 GiB and more), which `unzip`, Python's `zipfile`, Windows and macOS
//! read.

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

/// The archive formats offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// POSIX tar (`ustar`, GNU long names).
    Tar,
    /// Zip, stored.
    Zip,
}

impl Format {
    /// The format a query asks for (`download=tar` or `download=zip`).
    pub(crate) fn from_query(query: Option<&str>) -> Option<Self> {
        query?.split('&').find_map(|pair| match pair {
            "download=tar" => Some(Self::Tar),
            "download=zip" => Some(Self::Zip),
            _ => None,
        })
    }

    /// File name extension.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Tar => "tar",
            Self::Zip => "zip",
        }
    }

    /// Content type.
    pub(crate) fn mime(self) -> &'static str {
        match self {
            Self::Tar => "application/x-tar",
            Self::Zip => "application/zip",
        }
    }
}

/// What goes into an archive: where to look and what to leave out.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The folder archived.
    pub(crate) dir: PathBuf,
    /// Its name inside the archive.
    pub(crate) name: String,
    /// The served folder (symlinks may not leave it).
    pub(crate) root: PathBuf,
    /// Include hidden names.
    pub(crate) hidden: bool,
    /// Follow symlinks out of the served folder.
    pub(crate) follow_symlinks: bool,
}

/// Start writing the archive of `source`; the receiver yields it.
pub(crate) fn archive(format: Format, source: Source) -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let result = match format {
            Format::Tar => tar(writer, &source),
            Format::Zip => zip(writer, &source),
        };
        if let Err(e) = result {
            // The client sees a cut-short archive (no end-of-archive record), which tar and
            // unzip report.
            tracing::info!(cause = %e, folder = %source.dir.display(), "archive download stopped");
        }
    });
    rx
}

fn tar(writer: ChannelWriter, source: &Source) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(true);
    walk(
        source,
        &source.dir,
        Path::new(&source.name),
        &mut |entry| match entry {
            Entry::Folder { path, inside } => builder.append_dir(inside, path),
            Entry::File { path, inside, .. } => {
                let mut file = std::fs::File::open(path)?;
                builder.append_file(inside, &mut file)
            }
        },
    )?;
    builder.into_inner()?.flush()
}

fn zip(writer: ChannelWriter, source: &Source) -> std::io::Result<()> {
    let mut archive = zip::ZipWriter::new_stream(writer);
    walk(source, &source.dir, Path::new(&source.name), &mut |entry| {
        let (path, inside) = match &entry {
            Entry::Folder { path, inside } | Entry::File { path, inside } => (*path, *inside),
        };
        let meta = std::fs::metadata(path)?;
        let name = zip_name(inside);
        let mut options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777)
            .large_file(meta.len() >= u64::from(u32::MAX));
        if let Some(time) = meta.modified().ok().and_then(dos_time) {
            options = options.last_modified_time(time);
        }
        match entry {
            Entry::Folder { .. } => archive
                .add_directory(name, options)
                .map_err(std::io::Error::other),
            Entry::File { path, .. } => {
                let mut file = std::fs::File::open(path)?;
                archive
                    .start_file(name, options)
                    .map_err(std::io::Error::other)?;
                std::io::copy(&mut file, &mut archive).map(|_| ())
            }
        }
    })?;
    archive
        .finish()
        .map_err(std::io::Error::other)?
        .into_inner()
        .flush()
}

/// A name inside a zip: `/`-separated, whatever the platform.
fn zip_name(inside: &Path) -> String {
    inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A zip (MS-DOS) timestamp, in UTC; `None` outside its range (1980 to 2107).
fn dos_time(time: std::time::SystemTime) -> Option<zip::DateTime> {
    let secs = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    let days = i64::try_from(secs / 86_400).ok()?;
    let rest = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    zip::DateTime::from_date_and_time(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(rest / 3600).ok()?,
        u8::try_from(rest / 60 % 60).ok()?,
        u8::try_from(rest % 60).ok()?,
    )
    .ok()
}

/// One thing to put in an archive.
enum Entry<'a> {
    Folder { path: &'a Path, inside: &'a Path },
    File { path: &'a Path, inside: &'a Path },
}

/// Every folder and file under `dir` that the listing shows, folders before what they hold.
fn walk(
    source: &Source,
    dir: &Path,
    inside: &Path,
    each: &mut dyn FnMut(Entry<'_>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    each(Entry::Folder { path: dir, inside })?;
    for item in crate::listing::read(dir, &source.root, source.hidden, source.follow_symlinks)? {
        let path = dir.join(&item.name);
        let name = inside.join(&item.name);
        if item.dir {
            walk(source, &path, &name, each)?;
        } else {
            each(Entry::File {
                path: &path,
                inside: &name,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_times_are_civil_dates_in_utc() {
        let at = |secs: u64| {
            dos_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).map(|t| {
                (
                    t.year(),
                    t.month(),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                )
            })
        };
        assert_eq!(at(0), None, "1970 is before zip's epoch");
        assert_eq!(at(315_532_800), Some((1980, 1, 1, 0, 0, 0)));
        // 2024-02-29 13:45:30 UTC, a leap day.
        assert_eq!(at(1_709_214_330), Some((2024, 2, 29, 13, 45, 30)));
        assert_eq!(
            at(1_735_689_599),
            Some((2024, 12, 31, 23, 59, 58)),
            "even seconds"
        );
    }

    #[test]
    fn the_query_names_the_format() {
        assert_eq!(Format::from_query(Some("download=zip")), Some(Format::Zip));
        assert_eq!(
            Format::from_query(Some("sort=name&download=tar")),
            Some(Format::Tar)
        );
        assert_eq!(Format::from_query(Some("download=rar")), None);
        assert_eq!(Format::from_query(None), None);
    }
}
