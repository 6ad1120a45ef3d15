//! Shipping an agent database's committed write-ahead-log frames elsewhere and rebuilding the
//! database from them (cluster mode: the durable copy of an agent is a snapshot image plus
//! the frames of every commit since, as Litestream and LiteFS keep theirs).
//!
//! SQLite's WAL file is a 32-byte header (magic, format version, page size, checkpoint
//! sequence, two salts, a checksum) and then frames: a 24-byte header (page number, the
//! database size in pages after a commit (non-zero only on a transaction's last frame), the
//! header's salts, a running checksum) and one page. A frame belongs to the log only while
//! its salts match the header and the checksum chain holds; a checkpoint that restarts the
//! log writes a header with new salts, so older frames stop counting.
//!
//! A [`WalCursor`] reads what was committed since it last looked: frames up to and
//! including the last commit frame (a rolled-back transaction can leave uncommitted frames
//! after it, which the next writer overwrites). The shipped unit is a *segment*: the page
//! size and those frames, as the file has them. Re-applying segments in order is idempotent
//! (each frame is a whole page), so a segment shipped twice does no harm.
//!
//! Architecture Invariant: a database whose frames are shipped must never restart its log
//! behind the cursor's back: the caller turns automatic checkpoints off
//! ([`crate::AgentDb::set_auto_checkpoint`]) and ships before every checkpoint it runs.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::Result;
use crate::error::Error;

const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;

/// Where a cursor is in a database's WAL: the log generation (its salts) and the offset
/// just past the last commit frame it has returned, with the running checksum there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    salts: [u8; 8],
    offset: u64,
    checksum: (u32, u32),
}

/// Reads the frames committed to one database's WAL since the last read.
#[derive(Debug)]
pub struct WalCursor {
    wal: PathBuf,
    at: Option<Position>,
}

/// Committed frames read by [`WalCursor::committed`]: ship [`Segment::bytes`], then
/// [`WalCursor::advance`] past them.
#[derive(Debug)]
pub struct Segment {
    /// The page size (4 bytes, big-endian) and the frames, headers included.
    pub bytes: Vec<u8>,
    /// Transactions (commit frames) in the segment.
    pub commits: usize,
    next: Position,
}

impl WalCursor {
    /// A cursor over the WAL of the database at `db_path` (`<db_path>-wal`) that has read
    /// nothing yet: its first [`WalCursor::committed`] returns every committed frame.
    pub fn new(db_path: &Path) -> WalCursor {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        WalCursor {
            wal: PathBuf::from(wal),
            at: None,
        }
    }

    /// The frames committed since the cursor's position, or `None` when there are none.
    /// Does not move the cursor: call [`WalCursor::advance`] once the segment is stored.
    pub fn committed(&self) -> Result<Option<Segment>> {
        let io = |e: std::io::Error| Error::io(&self.wal, e);
        let mut file = match File::open(&self.wal) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut header = [0u8; WAL_HEADER];
        match file.read_exact(&mut header) {
            Ok(()) => {}
            // An empty log (truncated by a checkpoint): nothing since.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io(e)),
        }
        let magic = be32(&header[0..4]);
        if magic != MAGIC_LE && magic != MAGIC_BE {
            return Ok(None);
        }
        let big_endian = magic == MAGIC_BE;
        let page_size = be32(&header[8..12]) as usize;
        let salts: [u8; 8] = header[16..24].try_into().expect("8 bytes");
        let header_sum = checksum(big_endian, (0, 0), &header[..24]);
        if header_sum != (be32(&header[24..28]), be32(&header[28..32])) {
            // A header being written: nothing in it counts yet.
            return Ok(None);
        }
        let start = match self.at {
            Some(at) if at.salts == salts => at,
            // A new log generation (the database was checkpointed and the log restarted):
            // everything before it was shipped before the checkpoint.
            _ => Position {
                salts,
                offset: WAL_HEADER as u64,
                checksum: header_sum,
            },
        };
        // Only what follows the position is read: a turn costs a read of its own frames.
        let len = file.metadata().map_err(io)?.len();
        let mut rest = vec![0u8; usize::try_from(len.saturating_sub(start.offset)).unwrap_or(0)];
        file.seek(SeekFrom::Start(start.offset)).map_err(io)?;
        file.read_exact(&mut rest).map_err(io)?;
        let frame_len = FRAME_HEADER + page_size;
        let mut sum = start.checksum;
        let mut end = 0usize;
        let mut end_sum = sum;
        let mut commits = 0;
        let mut at = 0usize;
        while at + frame_len <= rest.len() {
            let frame = &rest[at..at + frame_len];
            if frame[8..16] != salts {
                break;
            }
            sum = checksum(big_endian, sum, &frame[..8]);
            sum = checksum(big_endian, sum, &frame[FRAME_HEADER..]);
            if sum != (be32(&frame[16..20]), be32(&frame[20..24])) {
                break;
            }
            at += frame_len;
            if be32(&frame[4..8]) != 0 {
                end = at;
                end_sum = sum;
                commits += 1;
            }
        }
        if end == 0 {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(4 + end);
        bytes.extend_from_slice(&(page_size as u32).to_be_bytes());
        bytes.extend_from_slice(&rest[..end]);
        Ok(Some(Segment {
            bytes,
            commits,
            next: Position {
                salts,
                offset: start.offset + end as u64,
                checksum: end_sum,
            },
        }))
    }

    /// Moves the cursor past `segment` (after it was stored).
    pub fn advance(&mut self, segment: &Segment) {
        self.at = Some(segment.next);
    }
}

/// Writes a database file at `db_path` from a snapshot `image` (a whole database file, or
/// empty) and segments from [`WalCursor::committed`] applied in order; removes any `-wal`
/// and `-shm` beside it first. The file is synced before this returns.
pub fn rebuild(db_path: &Path, image: &[u8], segments: &[Vec<u8>]) -> Result<()> {
    let io = |e: std::io::Error| Error::io(db_path, e);
    for suffix in ["-wal", "-shm"] {
        let mut file = db_path.as_os_str().to_owned();
        file.push(suffix);
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(Path::new(&file), e)),
        }
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(db_path)
        .map_err(io)?;
    file.write_all(image).map_err(io)?;
    let mut size: Option<u64> = None;
    for segment in segments {
        let bad = || Error::Io {
            path: db_path.display().to_string(),
            message: "a shipped WAL segment is malformed (shorter than its page size says)".into(),
        };
        let Some(head) = segment.get(..4) else {
            return Err(bad());
        };
        let page_size = be32(head) as usize;
        if page_size < 512 {
            return Err(bad());
        }
        let frames = &segment[4..];
        if frames.len() % (FRAME_HEADER + page_size) != 0 {
            return Err(bad());
        }
        for frame in frames.chunks(FRAME_HEADER + page_size) {
            let page_number = u64::from(be32(&frame[0..4]));
            if page_number == 0 {
                return Err(bad());
            }
            file.seek(SeekFrom::Start((page_number - 1) * page_size as u64))
                .map_err(io)?;
            file.write_all(&frame[FRAME_HEADER..]).map_err(io)?;
            let pages = be32(&frame[4..8]);
            if pages != 0 {
                size = Some(u64::from(pages) * page_size as u64);
            }
        }
    }
    if let Some(size) = size {
        file.set_len(size).map_err(io)?;
    }
    file.sync_all().map_err(io)
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
}

/// SQLite's WAL checksum (`walChecksumBytes`): over pairs of 32-bit words, in the byte
/// order the log's magic number names, continuing from `(s1, s2)`.
fn checksum(big_endian: bool, (mut s1, mut s2): (u32, u32), data: &[u8]) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().expect("4 bytes");
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s1 = s1.wrapping_add(word(&pair[0..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(word(&pair[4..8])).wrapping_add(s1);
    }
    (s1, s2)
}
