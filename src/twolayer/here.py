"""The current folder, which the environment can take away: deleted under
the process (`mkdir d; cd d; rmdir ../d`), without search permission
(`chmod a-x .`), or deeper than PATH_MAX. No relative path names anything
there, but absolute ones work, and so does every command given them: the
code that only passed through the current folder (putting it back after a
learner's code, starting a child process in it) must not fail there."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """The current folder put back after the block (a learner's code may
    change it), held by a descriptor: os.getcwd() has no name for a folder
    deleted under the process (FileNotFoundError: `twolayer check` and
    `train --net` of an absolute path failed there). A folder without search
    permission is left as it is: nothing can change back into it, and no
    path was taken relative to it. Windows, which has no os.fchdir (nor
    deletes a folder that is a process's current one), goes back by name."""
    if not hasattr(os, "fchdir"):
        try:
            name = os.getcwd()
        except OSError:
            name = None
        try:
            yield
        finally:
            if name is not None:
                os.chdir(name)
        return
    try:
        fd = os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    except OSError:
        fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.fchdir(fd)
            os.close(fd)


def enterable() -> bool:
    """Whether a new process could change into the current folder by its
    name: False where it was deleted, lacks search permission, or is
    deeper than PATH_MAX."""
    try:
        return os.access(os.getcwd(), os.X_OK)
    except OSError:
        return False


@contextlib.contextmanager
def children_can_start() -> Iterator[None]:
    """Processes spawned in the block start in / where they could not start
    in the current folder: multiprocessing's spawn names it (os.getcwd()) and
    the child changes into it first, so in a deleted folder the parent's
    getcwd raised (`tune --jobs 2` and `check` failed with `No such file or
    directory`), and in one the child cannot enter it died at its start
    with a traceback on stderr. The children are given absolute paths
    there: relative ones were refused before, naming nothing. One thread at
    a time: two whose blocks overlapped (`twolayer.tune` in two threads of a
    notebook) left the other's patch in place for good, and every child
    spawned later started in / whatever the folder."""
    if enterable():
        yield
        return
    from multiprocessing import spawn

    with _patching:
        original = spawn.get_preparation_data

        def from_root(name: str) -> dict:
            try:
                data = original(name)
            except FileNotFoundError:  # deleted: os.getcwd() has no name for it
                with kept():
                    os.chdir("/")
                    data = original(name)
            return {**data, "dir": "/"}

        spawn.get_preparation_data = from_root
        try:
            yield
        finally:
            spawn.get_preparation_data = original


_patching = threading.RLock()  # children_can_start's patch of multiprocessing: one thread's at a time
