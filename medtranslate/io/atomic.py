"""Atomic writes: a file or folder appears at its final path complete, or not at all.

Every writer of :mod:`medtranslate` writes to a temporary name in the destination folder (so the final rename
never crosses a file system), flushes it to disk with ``fsync`` and renames it with :func:`os.replace`. A failure
(an exception, a full disk: ``OSError(ENOSPC)``, a ``KeyboardInterrupt``) removes the temporary file and leaves
the destination as it was. The failures a user can fix (read-only or forbidden folder, full disk, quota) reach
the caller as :class:`~medtranslate.errors.OutputError` naming the output and the cause. Inside an
:func:`atomic_dir` block, files (and nested folders) written into its temporary folder are synced once, when
the outermost folder is committed.

The temporary name keeps the final name as its *suffix* (``.tmp-<random>-subject_001.nii.gz``) so libraries that
choose an encoding from the extension (nibabel's gzip for ``.nii.gz``, Pillow's format for ``.png``) write the
right format, and a leading dot keeps it out of ``*.nii.gz`` globs while it is being written.

Two guards apply before anything is written (:func:`check_output_path`):

- an existing target is refused with :class:`~medtranslate.errors.OutputExistsError` unless ``overwrite=True``;
- a target that is, or lies inside, one of the ``protect`` paths (the inputs of the run) is always refused, even
  with ``overwrite=True``: an output never replaces an input or adds files to an input folder.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from medtranslate.errors import OutputError, OutputExistsError

__all__ = ["atomic_dir", "atomic_write", "atomic_write_bytes", "atomic_write_text", "check_output_path"]

PathLike = str | os.PathLike

# Temporary folders of the atomic_dir blocks now open: files written inside them are synced once, when the
# outermost folder is committed, instead of one by one.
_OPEN_DIRS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("_OPEN_DIRS", default=())


# errno values of the failures a user fixes on the destination side, and what to do about them
_OUTPUT_ERRNOS = {
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
    errno.EROFS: "choose a folder on a writable file system",
    errno.ENOSPC: "free some space or choose another disk",
    errno.EDQUOT: "free some space or choose another disk",
}


@contextlib.contextmanager
def _output_errors(target: Path) -> Iterator[None]:
    """Re-raise destination failures (:data:`_OUTPUT_ERRNOS`) as :class:`OutputError` naming ``target``."""
    try:
        yield
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS:
            raise
        hint = _OUTPUT_ERRNOS[e.errno]
        error = OutputError(target, f"cannot write ({os.strerror(e.errno)}): nothing was written; {hint}")
        error.errno = e.errno
        raise error from e


def _sync_deferred(path: Path) -> bool:
    resolved = _resolved(path)
    return any(_is_within(resolved, folder) for folder in _OPEN_DIRS.get())


def _resolved(path: PathLike) -> Path:
    return Path(os.path.abspath(os.path.realpath(os.fspath(path))))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_path(path: PathLike, overwrite: bool = False, protect: Iterable[PathLike] = ()) -> Path:
    """Check that ``path`` may be written and return it as a :class:`~pathlib.Path`.

    Args:
        path: the final output path (file or folder).
        overwrite: allow replacing an existing ``path``.
        protect: input paths of the run; ``path`` may not be one of them, lie inside one of them, or (when it is
            a folder that would be replaced) contain one of them. Symbolic links are resolved first.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False, or ``path`` collides with a protected input.
    """
    target = Path(path)
    resolved = _resolved(target)
    for item in protect:
        guarded = _resolved(item)
        if _is_within(resolved, guarded):
            raise OutputExistsError(target, f"refusing to write over or inside the input {os.fspath(item)}")
        if _is_within(guarded, resolved) and target.is_dir():
            raise OutputExistsError(target, f"refusing to replace a folder that holds the input {os.fspath(item)}")
    if os.path.lexists(target) and not overwrite:
        raise OutputExistsError(target, "already exists; pass overwrite=True to replace it")
    return target


def _fsync_path(path: Path, directory: bool = False) -> None:
    """``fsync`` a file, or a folder's entry table (best effort: some platforms cannot open folders)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _apply_umask(path: Path, directory: bool = False) -> None:
    """Give a temporary file or folder the mode a plain ``open``/``mkdir`` would (``mkstemp`` makes it 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if directory else 0o666) & ~mask)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


@contextlib.contextmanager
def atomic_write(path: PathLike, overwrite: bool = False, protect: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on a clean exit it is synced and renamed to ``path``.

    Missing parent folders are created. The temporary file exists (empty) when the block starts; write it by
    name (``nib.save(img, tmp)``, ``image.save(tmp)``) or open it. On any exception it is removed and the
    exception propagates; ``path`` is untouched.

    Args:
        path: final file path.
        overwrite: allow replacing an existing file.
        protect: input paths that must never be written over (see :func:`check_output_path`).

    Raises:
        OutputExistsError: see :func:`check_output_path`; also when ``path`` appeared while the block ran and
            ``overwrite`` is False.
        OutputError: the folder is read-only or forbidden, or the disk (quota) is full, while creating,
            writing (inside the block), syncing or renaming.
    """
    target = check_output_path(path, overwrite=overwrite, protect=protect)
    with _output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{target.name}", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            _apply_umask(tmp)
            deferred = _sync_deferred(target.parent)
            if not deferred:
                _fsync_path(tmp)
            if not overwrite and os.path.lexists(target):
                raise OutputExistsError(
                    target, "appeared while it was being written; pass overwrite=True to replace it"
                )
            os.replace(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        if not deferred:
            _fsync_path(target.parent, directory=True)


def atomic_write_bytes(path: PathLike, data: bytes, overwrite: bool = False, protect: Iterable[PathLike] = ()) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`) and return the path.

    Args:
        path: final file path.
        data: the bytes to write.
        overwrite: allow replacing an existing file.
        protect: input paths that must never be written over.
    """
    with atomic_write(path, overwrite=overwrite, protect=protect) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(
    path: PathLike, text: str, overwrite: bool = False, protect: Iterable[PathLike] = (), encoding: str = "utf-8"
) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`) and return the path.

    Args:
        path: final file path.
        text: the text to write.
        overwrite: allow replacing an existing file.
        protect: input paths that must never be written over.
        encoding: text encoding.
    """
    return atomic_write_bytes(path, text.encode(encoding), overwrite=overwrite, protect=protect)


@contextlib.contextmanager
def atomic_dir(path: PathLike, overwrite: bool = False, protect: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on a clean exit its files are synced and it becomes ``path``.

    Use it for outputs that are only meaningful whole (a DICOM series): readers never see half a folder. With
    ``overwrite=True`` an existing ``path`` is first renamed aside, the new folder renamed in, and the old one
    deleted; if the second rename fails the old folder is put back.

    Args:
        path: final folder path.
        overwrite: allow replacing an existing folder (or file) at ``path``.
        protect: input paths that must never be written over (see :func:`check_output_path`).

    Raises:
        OutputExistsError: see :func:`check_output_path`.
        OutputError: the folder is read-only or forbidden, or the disk (quota) is full.
    """
    target = check_output_path(path, overwrite=overwrite, protect=protect)
    with _output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", suffix=f"-{target.name}", dir=target.parent))
        deferred = _sync_deferred(target.parent)
        token = _OPEN_DIRS.set((*_OPEN_DIRS.get(), _resolved(tmp)))
        try:
            try:
                yield tmp
            finally:
                _OPEN_DIRS.reset(token)
            _apply_umask(tmp, directory=True)
            if not deferred:
                for item in sorted(tmp.rglob("*")):
                    _fsync_path(item, directory=item.is_dir())
                _fsync_path(tmp, directory=True)
            if os.path.lexists(target):
                if not overwrite:
                    raise OutputExistsError(target, "appeared while it was being written; pass overwrite=True")
                aside = Path(tempfile.mkdtemp(prefix=".old-", suffix=f"-{target.name}", dir=target.parent))
                os.replace(target, aside / target.name)
                try:
                    os.replace(tmp, target)
                except BaseException:
                    os.replace(aside / target.name, target)
                    _remove(aside)
                    raise
                _remove(aside)
            else:
                os.replace(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        if not deferred:
            _fsync_path(target.parent, directory=True)
