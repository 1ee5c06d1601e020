"""What a failed ``featviz`` command says and leaves behind.

Expected errors (bad input, a missing file, a failed download, a diverged optimization)
end in one line naming what was received, what was expected and where; a failed command
takes back every file it wrote, with its provenance record, so it leaves no output behind.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import tempfile
from pathlib import Path

from featviz.errors import FeatvizError
from featviz.io import Written
from featviz.settings import validate_name

#: Errors that mean bad input or a run that cannot go on, not a bug: reported in one line.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, FeatvizError)

#: Folders whose files a failed command leaves in place: a training's checkpoint, which the
#: next run takes up (it is no output, and the training clears it when it cannot be used).
KEPT_ON_FAILURE = ("checkpoint",)


#: The options naming where a command writes: a folder, or a file (whose folder must be one).
OUTPUT_OPTIONS = {"out_dir": "--out-dir", "out": "--out"}


def check_output_location(args: argparse.Namespace) -> None:
    """Refuse an output location that cannot be written before any work is done.

    Raises:
        NotADirectoryError: a file stands where a folder of the path must be.
        PermissionError: the nearest existing folder refuses a new file (read-only).
        IsADirectoryError: ``--out`` names a folder where a file is written.
    """
    for attr, option in OUTPUT_OPTIONS.items():
        value = getattr(args, attr, None)
        if not value:
            continue
        path = Path(value)
        folder = path if attr == "out_dir" or args.command == "atlas" else path.parent
        for part in (folder, *folder.parents):
            if part.exists() and not part.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR,
                    f"{option} {value}: {part} is a file; expected a folder "
                    f"(or a path where one can be made) to write into",
                )
        existing = next(p for p in (folder, *folder.parents) if p.is_dir())
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as err:
            raise PermissionError(
                err.errno,
                f"{option} {value}: cannot write into {existing} ({err.strerror.lower()}); "
                "expected a folder this user may write",
            ) from None
        if attr == "out" and path.is_dir() and args.command != "atlas":
            raise IsADirectoryError(
                errno.EISDIR, f"{option} {value}: is a folder; expected a file name to write"
            )


def check_names(args: argparse.Namespace) -> None:
    """A dataset's name follows the rule the config's ``datasets`` keys follow."""
    if getattr(args, "dataset", None):
        validate_name("datasets", args.dataset, "--dataset")


def take_back(written: Written) -> None:
    """Remove what a failed command wrote: its files, their records, the folders it made."""
    for path in written.files:
        if any(part in KEPT_ON_FAILURE for part in path.parts[:-1]):
            continue
        for stale in (path, path.with_name(path.name + ".prov.json")):
            with contextlib.suppress(OSError):
                stale.unlink(missing_ok=True)
    for folder in sorted(set(written.folders), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: a kept checkpoint keeps its folders


#: What a failed file operation met, said plainly, by ``errno``.
OS_PROBLEMS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "exists already, and is not a folder",
    errno.EACCES: "permission denied (expected a path this user may read or write)",
    errno.EPERM: "operation not permitted (expected a path this user may write)",
    errno.EROFS: "on a read-only file system (expected a writable folder)",
    errno.ENOSPC: "no space left on the device",
}


def describe(err: BaseException, args: argparse.Namespace | None = None) -> str:
    """``err`` as one line; an OS error names the path, the option it came from and the
    problem in plain words (never ``[Errno 20]``)."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        path = str(err.filename)
        option = _option_of(path, args)
        line = f"{path}: {OS_PROBLEMS.get(err.errno, err.strerror.lower())}"
        if err.filename2 is not None:
            line += f" (with {err.filename2})"
        return f"{option} {line}" if option else line
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    line = _one_line(text) or type(err).__name__
    # "<path>: ..." where the path is an option's value: say which option gave it.
    head = line.split(": ", 1)[0]
    option = _option_of(head, args, exact=True) if head != line else None
    return f"{option} {line}" if option else line


def _one_line(text: str) -> str:
    """A message of several lines as one: a line ending in ':' runs on, others end in ';'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out = lines[0] if lines else ""
    for line in lines[1:]:
        out += (" " if out.endswith((":", ";", ",")) else "; ") + line
    return out


def _option_of(path: str, args: argparse.Namespace | None, exact: bool = False) -> str | None:
    """The option whose value is ``path`` or (unless ``exact``) the nearest folder above it."""
    if args is None:
        return None
    best: tuple[int, str] | None = None
    for attr, value in vars(args).items():
        if attr in ("rule", "command", "name", "action", "directory", "tex"):
            continue  # not paths, or positionals (no option to name)
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, str) or Path(v) == Path("."):
                continue
            if path == v or (not exact and Path(path).is_relative_to(v)):
                depth = 1000 if path == v else len(Path(v).parts)
                if best is None or depth > best[0]:
                    best = (depth, "--" + attr.replace("_", "-"))
    return best[1] if best else None
