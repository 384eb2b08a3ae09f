//! The FUSE protocol side: inode numbers for paths, attributes, and every request answered from
//! the [`View`]. Nothing is cached by the kernel (zero TTLs, direct I/O): sysfs changes under
//! its readers, and a test must see a write's effect on its next read, as on a real host.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    OpenAccMode, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, WriteFlags,
};

use super::view::{Kind, Meta, View};

const TTL: Duration = Duration::ZERO;

/// Path ↔ inode number. Numbers are never reused: a VF directory removed and created again
/// keeps its number, which is what a client holding it expects of a path-named tree.
#[derive(Default)]
struct Inodes {
    paths: Vec<PathBuf>,
    ids: HashMap<PathBuf, u64>,
}

impl Inodes {
    fn new() -> Self {
        let mut i = Inodes::default();
        i.ino(Path::new(""));
        i
    }

    fn ino(&mut self, p: &Path) -> u64 {
        if let Some(&n) = self.ids.get(p) {
            return n;
        }
        self.paths.push(p.to_path_buf());
        let n = self.paths.len() as u64; // the root is 1, as FUSE wants
        self.ids.insert(p.to_path_buf(), n);
        n
    }

    fn path(&self, ino: u64) -> Option<PathBuf> {
        self.paths.get(ino.checked_sub(1)? as usize).cloned()
    }
}

pub struct SysfsFs {
    view: View,
    inodes: Mutex<Inodes>,
    uid: u32,
    gid: u32,
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl SysfsFs {
    pub fn new(view: View) -> Self {
        SysfsFs {
            view,
            inodes: Mutex::new(Inodes::new()),
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
        }
    }

    fn inodes(&self) -> std::sync::MutexGuard<'_, Inodes> {
        self.inodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.inodes().path(ino.0).ok_or(Errno::ENOENT)
    }

    fn attr(&self, ino: u64, m: &Meta) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size: m.size,
            blocks: 0,
            atime: m.mtime,
            mtime: m.mtime,
            ctime: m.mtime,
            crtime: SystemTime::UNIX_EPOCH,
            kind: match m.kind {
                Kind::Dir => FileType::Directory,
                Kind::File => FileType::RegularFile,
                Kind::Symlink => FileType::Symlink,
            },
            perm: m.perm,
            nlink: if m.kind == Kind::Dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn getattr_path(&self, p: &Path) -> Result<FileAttr, Errno> {
        let m = self.view.meta(p).map_err(errno)?;
        let ino = self.inodes().ino(p);
        Ok(self.attr(ino, &m))
    }
}

impl Filesystem for SysfsFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self
            .path(parent)
            .and_then(|p| self.getattr_path(&p.join(name)));
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.path(ino).and_then(|p| self.getattr_path(&p)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    /// `O_TRUNC` (every shell `>`) arrives as a size change: sysfs ignores it, so do we.
    /// Ownership and modes of kernel files are not the simulation's to change.
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if mode.is_some() || uid.is_some() || gid.is_some() {
            return reply.error(Errno::EPERM);
        }
        match self.path(ino).and_then(|p| self.getattr_path(&p)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self
            .path(ino)
            .and_then(|p| self.view.readlink(&p).map_err(errno))
        {
            Ok(t) => reply.data(t.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let (read, write) = match flags.acc_mode() {
            OpenAccMode::O_RDONLY => (true, false),
            OpenAccMode::O_WRONLY => (false, true),
            OpenAccMode::O_RDWR => (true, true),
        };
        let r = self
            .path(ino)
            .and_then(|p| self.view.check_open(&p, read, write).map_err(errno));
        match r {
            // Direct I/O: every read and write reaches the simulated kernel, with its errno.
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match self
            .path(ino)
            .and_then(|p| self.view.read(&p, offset, size).map_err(errno))
        {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .path(ino)
            .and_then(|p| self.view.write(&p, data).map_err(errno))
        {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self
            .path(ino)
            .and_then(|p| self.view.meta(&p).map_err(errno))
        {
            Ok(m) if m.kind == Kind::Dir => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let p = match self.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let entries = match self.view.list(&p) {
            Ok(e) => e,
            Err(e) => return reply.error(errno(e)),
        };
        let parent = p.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut all = vec![
            (ino.0, FileType::Directory, OsStr::new(".").to_os_string()),
            (
                self.inodes().ino(&parent),
                FileType::Directory,
                OsStr::new("..").to_os_string(),
            ),
        ];
        for (name, kind) in entries {
            let i = self.inodes().ino(&p.join(&name));
            let t = match kind {
                Kind::Dir => FileType::Directory,
                Kind::File => FileType::RegularFile,
                Kind::Symlink => FileType::Symlink,
            };
            all.push((i, t, name.into()));
        }
        for (n, (i, t, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(i), n as u64 + 1, t, &name) {
                break;
            }
        }
        reply.ok();
    }

    /// No extended attributes (the fixture carries no security labels): ENODATA, quietly.
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: fuser::ReplyXattr,
    ) {
        reply.error(Errno::from_i32(libc::ENODATA));
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: fuser::ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    /// sysfs has no `create`: a new file cannot appear there (EACCES, as the VFS answers).
    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EACCES);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EACCES);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EPERM);
    }
}
