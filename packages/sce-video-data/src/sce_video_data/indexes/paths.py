r"""Checks of input paths shared by the indexes and the shard build: inside the videos root, valid UTF-8.

* :class:`RootGuard` refuses a path that resolves outside the videos root once ``..`` and symlinks are resolved (a
  split-file line ``Chelsea/../../x.mp4``, an absolute path, a symlink to a file elsewhere). Symlinks that stay
  inside the root are accepted.
* :func:`is_utf8` / :func:`printable_path`: on Linux a file name is bytes; Python gives a name that is not valid
  UTF-8 lone surrogates (``b'bad\xff.mp4'`` -> ``'bad\udcff.mp4'``), which cannot be written to a UTF-8 manifest.
  The build lists such inputs as failures under their printable form, each undecodable byte written ``\xNN``
  (``bad\xff.mp4``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["NOT_UTF8", "SYMLINK_LOOP", "RootGuard", "is_utf8", "printable_path"]

NOT_UTF8 = "file name is not valid UTF-8"
"""Failure reason of an input whose path (file or folder name) is not valid UTF-8."""
SYMLINK_LOOP = "symlink loop"
"""Failure reason of a symlink that points at itself (or around a cycle) or at a folder above it."""


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 (False for names holding undecodable bytes, i.e. lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(text: str) -> str:
    r"""``text`` with every byte that is not valid UTF-8 written ``\xNN`` (unchanged when it is valid UTF-8)."""
    if is_utf8(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte: show its code point
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class RootGuard:
    """Refuse paths that resolve outside a videos root (after resolving ``..`` and symlinks).

    Resolved folders are cached, so checking a path costs one ``lstat`` of its last component (plus a full
    resolution when that is a symlink).

    Args:
        root: The videos root the paths are relative to.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._real = os.path.realpath(self.root)
        self._prefix = self._real.rstrip(os.sep) + os.sep
        self._folders: dict[str, str] = {}

    def resolve(self, rel: str) -> str:
        """The real path of ``root / rel`` (``..`` and symlinks resolved; parts that do not exist are kept)."""
        path = os.path.join(self.root, rel)
        folder, name = os.path.split(path)
        if name in ("", ".", "..") or not folder:
            return os.path.realpath(path)
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder)
        return os.path.realpath(path) if os.path.islink(path) else os.path.join(real_folder, name)

    def outside(self, rel: str) -> str | None:
        """The real path of ``rel`` when it lies outside the root, else None."""
        try:
            real = self.resolve(rel)
        except ValueError:  # an embedded NUL byte: no file can have that name, the encoder reports it
            return None
        return None if real == self._real or real.startswith(self._prefix) else real

    def check(self, rel: str, where: str = "") -> None:
        """Raise :class:`ValueError` if ``rel`` resolves outside the root.

        Args:
            rel: A path relative to the root (as listed by a split file or found in a folder).
            where: Prefix of the message, e.g. ``"trainlist01.txt line 3: "``.

        Raises:
            ValueError: ``"<where>'<rel>' resolves outside the videos root <root> (to <real path>)"``.
        """
        real = self.outside(rel)
        if real is not None:
            raise ValueError(
                f"{where}{rel!r} resolves outside the videos root {printable_path(str(self.root))} "
                f"(to {printable_path(real)})"
            )
