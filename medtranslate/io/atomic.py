"""Atomic writes: a file or folder appears at its final path complete, or not at all.

Every writer of :mod:`medtranslate` writes to a temporary name in the destination folder (so the final rename
never crosses a file system), flushes it to disk with ``fsync`` and renames it with :func:`os.replace`. A failure
(an exception, a full disk: ``OSError(ENOSPC)``, a ``KeyboardInterrupt``) removes the temporary file and leaves
the destination as it was. The failures a user can fix (read-only or forbidden folder, full disk, quota) reach
the caller as :class:`~medtranslate.errors.OutputError` naming the output and the cause. Inside an
:func:`atomic_dir` block, files (and nested folders) written into its temporary folder are synced once, when
the outermost folder is committed.

The temporary name keeps the final name as its *suffix* (``.tmp-<pid>-<random>-subject_001.nii.gz``) so
libraries that choose an encoding from the extension (nibabel's gzip for ``.nii.gz``, Pillow's format for ``.png``)
write the right format, and a leading dot keeps it out of ``*.nii.gz`` globs while it is being written.

A process killed (``kill -9``, power cut) inside a write leaves its hidden temporary file or folder behind, never a
partial file under the final name. The next write of the same target removes such leftovers (:func:`recover_outputs`):
only names of the pattern above (and ``.old-<pid>-<random>-<name>``, an existing folder moved aside while it is
replaced), only for that target, and only when the process ``<pid>`` is gone, so a write still running elsewhere is
never disturbed. A folder a killed :func:`atomic_dir` had moved aside but not yet replaced is put back.

:func:`output_set` makes several outputs one unit (the exports of one input): when its block fails the outputs it
created are removed and those it replaced are put back; a hidden journal ``.tmp-<pid>-<random>-<name>.outputs``
lets the next run over the same outputs do the same after a kill.

Guards that apply before anything is written (:func:`check_output_path`):

- an existing target is refused with :class:`~medtranslate.errors.OutputExistsError` unless ``overwrite=True``;
- a target that is, or lies inside, one of the ``protect`` paths (the inputs of the run) is always refused, even
  with ``overwrite=True``: an output never replaces an input or adds files to an input folder;
- a destination whose folder cannot be made (a file is in the way, e.g. an existing file given as the output
  folder) or written (permission, read-only file system) is refused with :class:`~medtranslate.errors.OutputError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from medtranslate.errors import OutputError, OutputExistsError

__all__ = [
    "atomic_dir",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_folder",
    "check_output_path",
    "output_set",
    "recover_outputs",
]

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
    errno.ENOTDIR: "a file is in the way of the output folder; choose another folder",
}

# hidden names this module gives temporary files/folders (.tmp-), folders moved aside (.old-) and journals
_LEFTOVER = re.compile(r"\.(tmp|old)-(\d+)-[a-z0-9_]{8}-(.+)\Z", re.DOTALL)
_JOURNAL_SUFFIX = ".outputs"


@contextlib.contextmanager
def _output_errors(target: Path) -> Iterator[None]:
    """Re-raise destination failures (:data:`_OUTPUT_ERRNOS`) as :class:`OutputError` naming ``target``."""
    try:
        yield
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS:
            raise
        raise _cannot_write(target, e.errno) from e


def _sync_deferred(path: Path) -> bool:
    resolved = _resolved(path)
    return any(_is_within(resolved, folder) for folder in _OPEN_DIRS.get())


def _resolved(path: PathLike) -> Path:
    return Path(os.path.abspath(os.path.realpath(os.fspath(path))))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _cannot_write(path: Path, code: int) -> OutputError:
    error = OutputError(path, f"cannot write ({os.strerror(code)}): nothing was written; {_OUTPUT_ERRNOS[code]}")
    error.errno = code
    return error


def check_output_folder(path: PathLike) -> Path:
    """Check that the folder ``path`` exists or can be created, and can be written; return it as a Path.

    Args:
        path: an output folder (existing or not).

    Raises:
        OutputError: a file (or a broken link) is where the folder or one of its parents should be; or the
            nearest existing folder is read-only (file system) or not writable for this user.
    """
    folder = Path(path)
    existing = folder
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        kind = "a broken link" if existing.is_symlink() else "a file"
        error = OutputError(existing, f"is {kind}, not a folder: nothing was written; choose an output folder")
        error.errno = errno.ENOTDIR
        raise error
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        raise _cannot_write(existing, errno.EROFS if read_only else errno.EACCES)
    return folder


def check_output_path(
    path: PathLike, overwrite: bool = False, protect: Iterable[PathLike] = (), is_file: bool = False
) -> Path:
    """Check that ``path`` may be written and return it as a :class:`~pathlib.Path`.

    Args:
        path: the final output path (file or folder).
        overwrite: allow replacing an existing ``path``.
        protect: input paths of the run; ``path`` may not be one of them, lie inside one of them, or (when it is
            a folder that would be replaced) contain one of them. Symbolic links are resolved first.
        is_file: the output is a file: an existing folder at ``path`` is refused even with ``overwrite``.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False, or ``path`` collides with a protected input.
        OutputError: the folder of ``path`` cannot be made or written (see :func:`check_output_folder`).
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
    if is_file and target.is_dir() and not target.is_symlink():
        raise OutputExistsError(target, "is a folder, a file cannot replace it; remove it or choose another name")
    check_output_folder(target.parent)
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


def _prefix(kind: str) -> str:
    """``.tmp-<pid>-`` or ``.old-<pid>-``: the start of this process's hidden names (see :data:`_LEFTOVER`)."""
    return f".{kind}-{os.getpid()}-"


def _aside(target: Path) -> Path:
    """A new empty hidden folder ``.old-<pid>-<random>-<name>`` beside ``target``, to move ``target`` into."""
    return Path(tempfile.mkdtemp(prefix=_prefix("old"), suffix=f"-{target.name}", dir=target.parent))


def _owner_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs (on this machine); a live one, even another user's, keeps its files."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _dead_leftovers(folder: Path) -> Iterator[tuple[str, Path, str]]:
    """``(kind, path, target name)`` of the ``.tmp-``/``.old-`` names in ``folder`` whose process is gone."""
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        match = _LEFTOVER.match(name)
        if match and _owner_gone(int(match.group(2))):
            yield match.group(1), folder / name, match.group(3)


def _read_journal(path: Path) -> tuple[list[str], dict[str, str]]:
    """``(created names, {replaced name: name of its folder aside})`` of an :func:`output_set` journal."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
        created = [str(n) for n in entries["created"]]
        replaced = {str(k): str(v) for k, v in entries["replaced"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [], {}
    names = [*created, *replaced]
    plain = all(n not in ("", ".", "..") and os.sep not in n and (os.altsep or os.sep) not in n for n in names)
    asides = all((m := _LEFTOVER.match(a)) is not None and m.group(1) == "old" for a in replaced.values())
    return (created, replaced) if plain and asides else ([], {})  # only names inside the folder, made here


def _roll_back(folder: Path, created: Sequence[str], replaced: dict[str, Path]) -> None:
    """Remove the outputs ``created`` and put each replaced output back from its folder aside."""
    for name in created:
        _remove(folder / name)
    for name, aside in replaced.items():
        if os.path.lexists(aside / name):
            _remove(folder / name)
            os.replace(aside / name, folder / name)
        _remove(aside)


def recover_outputs(paths: Iterable[PathLike]) -> None:
    """Undo what killed runs left for the outputs ``paths`` (see the module doc); a no-op when nothing is left.

    A dead :func:`output_set` journal naming one of ``paths`` is rolled back (its created outputs removed, the
    outputs it replaced put back); then, per path, dead temporary files and folders are removed and a folder moved
    aside by a killed :func:`atomic_dir` is put back when nothing took its place.

    Args:
        paths: outputs about to be written.

    Raises:
        OutputError: a leftover cannot be removed (read-only folder, permission).
    """
    targets = [Path(p) for p in paths]
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, set()).add(target.name)
    for folder, names in by_folder.items():
        with _output_errors(folder):
            for kind, journal, name in _dead_leftovers(folder):
                if kind != "tmp" or not name.endswith(_JOURNAL_SUFFIX):
                    continue
                created, replaced = _read_journal(journal)
                if names & {*created, *replaced}:
                    _roll_back(folder, created, {n: folder / a for n, a in replaced.items()})
                    _remove(journal)
            for kind, leftover, name in _dead_leftovers(folder):
                if name not in names:
                    continue
                target = folder / name
                if kind == "old" and not os.path.lexists(target) and os.path.lexists(leftover / name):
                    os.replace(leftover / name, target)
                _remove(leftover)


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
    target = check_output_path(path, overwrite=overwrite, protect=protect, is_file=True)
    recover_outputs([target])
    with _output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_prefix("tmp"), suffix=f"-{target.name}", dir=target.parent)
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
    recover_outputs([target])
    with _output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_prefix("tmp"), suffix=f"-{target.name}", dir=target.parent))
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
                aside = _aside(target)
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


@contextlib.contextmanager
def output_set(paths: Sequence[PathLike], overwrite: bool = False, protect: Iterable[PathLike] = ()) -> Iterator[None]:
    """Write several outputs of one folder as a unit: all of them, or none (those that existed are kept).

    On entry, leftovers of killed runs are undone (:func:`recover_outputs`), every path is checked
    (:func:`check_output_path`), a hidden journal ``.tmp-<pid>-<random>-<first name>.outputs`` records which outputs
    the block will create and which it replaces, and each output to be replaced is moved into a hidden folder
    beside it. Write each output inside the block with the atomic writers (their target no longer exists). On a
    clean exit the moved-aside outputs and the journal are deleted; on an exception (or, after a ``kill -9``, at the
    next :func:`recover_outputs` over any of these paths) the created outputs are removed and the replaced ones put
    back.

    Args:
        paths: the outputs (files or folders), all in one folder.
        overwrite: allow replacing existing outputs.
        protect: input paths that must never be written over (see :func:`check_output_path`).

    Raises:
        OutputExistsError: an output exists and ``overwrite`` is False, or is (inside) an input.
        OutputError: the folder cannot be made or written.
    """
    targets = [Path(p) for p in paths]
    folders = {t.parent for t in targets}
    if len(folders) != 1:
        raise ValueError(f"output_set needs outputs in one folder, got {sorted(map(str, folders))}")
    folder = folders.pop()
    recover_outputs(targets)
    for target in targets:
        check_output_path(target, overwrite=overwrite, protect=protect)
    replaced = [t for t in targets if os.path.lexists(t)]
    created = [t.name for t in targets if t not in replaced]
    with _output_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        asides = {t.name: _aside(t) for t in replaced}
        fd, name = tempfile.mkstemp(prefix=_prefix("tmp"), suffix=f"-{targets[0].name}{_JOURNAL_SUFFIX}", dir=folder)
        journal = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            json.dump({"created": created, "replaced": {n: a.name for n, a in asides.items()}}, f)
    try:
        with _output_errors(folder):
            for target in replaced:
                os.replace(target, asides[target.name] / target.name)
        yield
    except BaseException:
        _roll_back(folder, created, asides)
        _remove(journal)
        raise
    for aside in asides.values():
        _remove(aside)
    _remove(journal)
    _fsync_path(folder, directory=True)  # a power cut must not bring the journal back over finished outputs
