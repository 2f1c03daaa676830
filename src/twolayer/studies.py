"""Where a search's trials live, and how a study is joined and repaired.

Without --storage the study is Optuna's journal file in the output folder,
guarded by a folder lock: one `tune` process at a time uses it, so any trial
it finds still "running" was orphaned by a killed run. With --storage
postgresql://... any number of machines join one study; heartbeats mark a
dead worker's trial failed and Optuna's retry callback queues it again.

The process that creates a grid study enqueues every point; the storage
hands each waiting trial to exactly one worker, so each point runs once.
A storage URL's password is never printed or written: see mask_url, scrub.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twolayer.errors import TwolayerError

if TYPE_CHECKING:
    from twolayer.tune import TuneOptions

JOURNAL = "study.journal"
LOCK_SUFFIX = ".lock"  # Optuna's journal lock: a link named study.journal.lock while a process appends
READY_TIMEOUT = 120.0  # seconds a joining worker waits for the creator to enqueue a grid
HEARTBEAT = 10  # seconds between a running trial's heartbeats in a database
GRACE = 30  # seconds without one before the trial counts as its machine's death, and is run again


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def _password(url: str | None) -> str | None:
    match = re.search(r"://[^:/@]*:([^@]*)@", url or "")
    return match.group(1) if match and match.group(1) else None


def scrub(text: str, url: str | None) -> str:
    """Remove a storage URL's password from any message."""
    secret = _password(url)
    return text.replace(secret, "***") if secret else text


def make_storage(opts_storage: str | None, out: Path):
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    if not opts_storage:
        # A worker killed while appending leaves the journal's lock behind; the
        # others break it after grace_period seconds (appends take milliseconds).
        # The lock is a link to the journal, made with the path as given: a
        # relative one (--out S) linked to S/S/study.journal, which does not
        # exist, and Optuna, which reads the grace period off the link's
        # target, waited for it forever, spinning (tune --out S after a kill
        # -9 mid-append never ended).
        path = str((out / JOURNAL).absolute())
        return optuna.storages.JournalStorage(JournalFileBackend(path, JournalFileSymlinkLock(path, grace_period=5)))
    import sqlalchemy.exc

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sqlite = opts_storage.startswith("sqlite")
    for attempt in range(5):
        try:
            storage = RDBStorage(
                opts_storage,
                engine_kwargs={"pool_pre_ping": True, "connect_args": _connect_args(opts_storage)},
                heartbeat_interval=HEARTBEAT,
                grace_period=GRACE,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
            if sqlite:
                _one_writer_at_a_time(storage.engine)
            return storage
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as e:
            # Two workers creating Optuna's tables in a new database at once: one
            # loses the race; the tables exist when it tries again.
            if attempt == 4:
                raise TwolayerError(_db_error(opts_storage, e)) from None
            time.sleep(0.2 + random.random())
        except ModuleNotFoundError as e:
            raise TwolayerError(f"--storage {mask_url(opts_storage)} needs a database driver ({e.name}): "
                                "pip install 'twolayer[postgres]'") from None
        except Exception as e:  # sqlalchemy's errors for bad URLs and unreachable servers
            raise TwolayerError(_db_error(opts_storage, e)) from None


CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL server (libpq's default waits forever, psycopg's 130 s)


def mend_journal(path: Path) -> None:
    """Cut a journal's last line if it was never finished: an append cut
    short by a full disk or a lost machine. Optuna skips such a line while
    reading, but writes its next record onto it, a line that no reader can
    parse: the next command would have found every trial unreadable. And
    remove the lock a process killed while it appended left (the next one
    waited its grace period first). Called under the search folder's lock
    (no other process appends)."""
    lock = Path(f"{path}{LOCK_SUFFIX}")
    if lock.is_symlink():  # Optuna's lock is a link; a file of that name is no lock of its
        lock.unlink()
    try:
        with open(path, "rb+") as f:
            end = f.seek(0, os.SEEK_END)
            while end > 0:
                start = max(0, end - 2**16)
                f.seek(start)
                cut = f.read(end - start).rfind(b"\n")
                if cut >= 0:
                    end = start + cut + 1
                    break
                end = start
            if end < f.seek(0, os.SEEK_END):
                f.truncate(end)
    except (FileNotFoundError, IsADirectoryError):
        pass  # a new search; or a journal that is not one, which opening it says


def _connect_args(url: str) -> dict[str, Any]:
    """What the database driver is given beside the URL: a PostgreSQL
    server that takes the connection but never answers (a firewall, a
    wrong port) is given up after CONNECT_TIMEOUT seconds, unless the URL
    or PGCONNECT_TIMEOUT says otherwise; SQLite leaves transactions to
    _one_writer_at_a_time, and waits up to a minute for another worker's."""
    if url.startswith("sqlite"):
        return {"isolation_level": None, "timeout": 60}
    psycopg = re.match(r"postgres(ql)?(\+psycopg2?)?://", url)
    if psycopg and "connect_timeout" not in url and "PGCONNECT_TIMEOUT" not in os.environ:
        return {"connect_timeout": CONNECT_TIMEOUT}
    return {}


def _one_writer_at_a_time(engine) -> None:
    """Each SQLite transaction takes the database's write lock as it begins.
    SQLite has no SELECT ... FOR UPDATE: two workers both read a waiting
    trial, both took it (a grid point ran twice, and the second worker died
    on `Cannot tell a PRUNED trial`)."""
    import sqlalchemy

    sqlalchemy.event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))


def _db_error(url: str, e: Exception) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"cannot use the database at {mask_url(url)}: {scrub(first, url)}"


def lost_database(e: BaseException, url: str | None) -> TwolayerError | None:
    """One line for a database that went away mid-search (Optuna may wrap
    the driver's error in its own, or in an error of its own making)."""
    import sqlalchemy.exc

    while url and e is not None:
        if isinstance(e, sqlalchemy.exc.DBAPIError):
            return TwolayerError(f"lost the database at {mask_url(url)} during the search ({_db_error(url, e)}); "
                                 "the finished trials are kept there: run the same command again once it is back")
        e = e.__cause__ or e.__context__
    return None


def code_digest() -> str:
    """A digest of twolayer's own source: machines sharing a study must run the same code."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def open_study(opts: TuneOptions, storage):
    """Create the study (and enqueue a grid) or join it; check it matches."""
    import optuna

    try:
        study = optuna.create_study(study_name=opts.study, storage=storage, direction="maximize")
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=opts.study, storage=storage)
        created = False
    from twolayer import __version__

    signature = {"space": opts.space.to_json(), "sampler": opts.sampler, "version": __version__,
                 "code": code_digest()}
    if created:
        study.set_user_attr("twolayer", signature)
        if opts.sampler == "grid":
            for index, params in enumerate(opts.space.grid()):
                study.enqueue_trial(params, user_attrs={"grid_index": index})
        study.set_user_attr("ready", True)
        return study
    fresh = ("use another --study name" if opts.storage else
             f"pass --force to start it afresh in {opts.out}, or choose another --out")
    # another machine may be making a database's study ready; a search folder's journal is this process's
    # alone (its folder's lock), so one not ready there was left by a tune stopped as it began (it waited 120 s)
    deadline = time.monotonic() + (READY_TIMEOUT if opts.storage else 0)
    while not study.user_attrs.get("ready"):
        if time.monotonic() >= deadline:
            by = "the process that created it" if opts.storage else "the tune command that began it (stopped then)"
            raise TwolayerError(f"study {opts.study!r} was never made ready by {by}, so no trial ran in it; {fresh}")
        time.sleep(0.5)
        study = optuna.load_study(study_name=opts.study, storage=storage)
    theirs = study.user_attrs.get("twolayer") or {}
    differ = [what for key, what in (("space", "options or search space"), ("sampler", "sampler"),
                                     ("version", "twolayer version"), ("code", "twolayer code"))
              if theirs.get(key) != signature[key]]
    code = [what for what in differ if what.startswith("twolayer")]
    if code:  # the same command after an upgrade, say: not another search, but trials of other code
        raise TwolayerError(f"study {opts.study!r} was begun by another twolayer (its {' and '.join(code)} "
                            f"differs), whose trials this one does not compare with its own; continue it with that "
                            f"twolayer, or {fresh}")
    if differ:  # their trials and ours would be compared as one search
        differs = search_difference(theirs, signature)
        raise TwolayerError(f"study {opts.study!r} already holds a different search ({differs}): give the same "
                            f"options to continue it, or {fresh}")
    return study


def trial_dir(out: Path, number: int) -> Path:
    """A trial's run folder in the search folder `out`."""
    return out / "trials" / f"{number:04d}"


def search_difference(theirs: dict, ours: dict) -> str:
    """The options (and sampler) in which a study's search and this command's
    differ, each with both values: a changed --epochs said only "its options
    or search space", and the user had to guess which."""
    def values(signature: dict) -> dict[str, str]:
        space = signature.get("space") or {}
        fixed = {name: str(value) for name, value in (space.get("fixed") or {}).items()}
        return {"sampler": str(signature.get("sampler")), **fixed,
                **{name: f"{v} searched" for name, v in (space.get("dimensions") or {}).items()}}

    there, here = values(theirs), values(json.loads(json.dumps(ours)))  # as the study stored it: lists, not tuples
    changed = [f"--{name.replace('_', '-')} {there.get(name, 'not given')} in it, {here.get(name, 'not given')} here"
               for name in sorted(there.keys() | here.keys()) if there.get(name) != here.get(name)]
    if not changed:
        return "its options or search space"
    return "; ".join(changed[:4]) + (f"; and {len(changed) - 4} more" if len(changed) > 4 else "")


def recover(study, opts: TuneOptions, all_running_orphaned: bool) -> int:
    """Fail orphaned running trials, remove what failed trials wrote, and
    queue again every failed trial whose point has not run since. Returns
    how many trials were queued again."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        dead_here = t.user_attrs.get("host") == host and pid is not None and not _alive(pid)
        if all_running_orphaned or dead_here:
            with contextlib.suppress(Exception):  # someone else may have finished it meanwhile
                study.tell(t.number, state=TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    for t in trials:  # a trial killed (kill -9) as it wrote its folder: its files, whole or not, are no result
        if t.state == TrialState.FAIL:
            shutil.rmtree(trial_dir(opts.out, t.number), ignore_errors=True)
    live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    covered = {point(t) for t in trials if t.state in live}
    grid = opts.space.grid() if opts.sampler == "grid" else None
    queued = 0
    for t in trials:
        if t.state != TrialState.FAIL or point(t) in covered:
            continue
        index = t.user_attrs.get("grid_index")
        params = grid[index] if grid is not None and index is not None else t.params
        if not params:
            continue
        attrs = {"retry_of": t.number, **({"grid_index": index} if index is not None else {})}
        study.enqueue_trial(params, user_attrs=attrs)
        covered.add(point(t))
        queued += 1
    return queued


def point(t) -> Any:
    """What a trial tried: its grid point, or its parameters."""
    index = t.user_attrs.get("grid_index")
    return ("grid", index) if index is not None else tuple(sorted(t.params.items()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
