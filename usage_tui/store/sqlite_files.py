"""Whether an SQLite store's files may be trusted, checked before SQLite opens them and again
once it has (issue 27; docs/who-sees-what.md: the file is the wall).

SQLite opens whatever files are at the store's path and next to it: a `-wal` file someone else
created and keeps open reads every write made through it, and whoever owns the store file
administers the store (identity: the store's owner). So:

- the store file is a regular file, never followed through a symbolic link;
- a store is written only by the user who owns its file: an empty file someone else put there
  (a folder anyone may write, such as /tmp) would make them the new store's owner;
- its `-wal` and `-shm` files (SQLite creates them with the store file's owner and mode) belong
  to the store's owner and allow no more than the store file does;
- its folder may be written by nobody else, unless it has the sticky bit (as /tmp has: others
  may add files there, not replace or remove yours). Anyone who may write a folder without it
  can put a store of their own, or a `-wal` file, in place of yours between two commands:
  refused rather than warned about, since a warning would come after the writes it warns of.
  In a sticky folder others may write, another user's store is opened (read-only) only when it
  is the folder's owner's (or root's): anyone could have created the others.

Another user's store is read, read-only, when its folder is written by nobody else (the README's
sharing with a group), or is its owner's.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _kind(st: os.stat_result) -> str | None:
    """What a path is when it is not a regular file (never followed through a link)."""
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link (usage-tui opens a store only at its own path: name the file itself)"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return None


def not_yours(path: Path, st: os.stat_result | None = None) -> str | None:
    """Why this user may not write the store at `path` because another user owns its file, or
    None (its own file, or none yet)."""
    if st is None:
        try:
            st = os.lstat(path)
        except OSError:
            return None
    if st.st_uid == os.geteuid():
        return None
    return (f"{path}: belongs to {_user(st.st_uid)}, not to you ({_user(os.geteuid())}): usage-tui writes only to a "
            "store file you own (whoever owns it administers the store and reads all that is written to it)")


def untrusted(path: Path, *, readonly: bool) -> str | None:
    """Why the store at `path` (with its -wal and -shm files) must not be opened, or None."""
    me = os.geteuid()
    folder = Path(os.path.abspath(path)).parent  # (abspath: the last component is not resolved)
    try:
        where = os.stat(folder)
    except OSError:
        return None  # no folder: nothing to open (SQLite and the callers say so)
    others_write = where.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if others_write and not where.st_mode & stat.S_ISVTX:
        who = "everyone" if where.st_mode & stat.S_IWOTH else f"the group {_group(where.st_gid)}"
        return (f"{path}: its folder {folder} may be written by {who}, without the sticky bit: anyone who "
                "can write there can put their own store or -wal file in place of this one and read what is "
                f"written. Make the folder writable by its owner only (chmod go-w {folder}) or keep the store "
                "in a folder of your own")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if (kind := _kind(st)) is not None:
        return f"{path}: {kind}"
    if st.st_uid != me:
        if not readonly:
            return not_yours(path, st)
        if others_write and st.st_uid not in (where.st_uid, 0):  # (only root makes root's files)
            return (f"{path}: belongs to {_user(st.st_uid)}, in {folder}, where others may add files: only "
                    "your own store, or the folder's owner's, is opened there")
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        try:
            side_st = os.lstat(side)
        except FileNotFoundError:
            continue
        if (kind := _kind(side_st)) is not None:
            return f"{side}: {kind}"
        if side_st.st_uid != st.st_uid:
            return (f"{side}: belongs to {_user(side_st.st_uid)}, not to the store's owner {_user(st.st_uid)}: "
                    "whoever made it may be reading the store's writes through it (remove it once no "
                    "usage-tui is using the store)")
        wider = stat.S_IMODE(side_st.st_mode) & ~stat.S_IMODE(st.st_mode)
        if wider:
            return (f"{side}: mode {stat.S_IMODE(side_st.st_mode):04o} allows more than the store's "
                    f"{stat.S_IMODE(st.st_mode):04o} (remove it once no usage-tui is using the store, or "
                    f"chmod {stat.S_IMODE(st.st_mode):04o} {side})")
    return None
