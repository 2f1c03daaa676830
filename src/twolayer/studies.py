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

from twolayer.errors import TwolayerError, UsageError
from twolayer.portable import WINDOWS

if TYPE_CHECKING:
    from twolayer.tune import TuneOptions

JOURNAL = "study.journal"
LOCK_SUFFIX = ".lock"  # Optuna's journal lock: a link (a file on Windows) named study.journal.lock while a process
# appends
READY_TIMEOUT = 120.0  # seconds a joining worker waits for the creator to enqueue a grid
MADE_TIMEOUT = 10.0  # seconds it waits for the creator to record its search in the study, which it does at once
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


def check_url(url: Any) -> None:
    """A --storage value that names a database Optuna can keep a study in;
    UsageError (a bad option, exit 2) saying why not, before any folder or
    connection is made (a URL that could not be read, or of no kind of
    database, was exit 1: `invalid literal for int() with base 10`, `Can't
    load plugin: sqlalchemy.dialects:ftp`)."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    if not isinstance(url, str):
        raise UsageError(f"--storage must be a database URL, text such as sqlite:///PATH.db, got "
                         f"{type(url).__name__} {url!r}")
    if not re.match(r"^[a-z0-9+]+://", url):
        raise UsageError(f"--storage must be a database URL such as postgresql://USER@HOST/DB or sqlite:///PATH.db, "
                         f"got {mask_url(url)!r} (without --storage the study is a journal file in --out)")
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        scheme = url.split("://")[0]
        near = " (PostgreSQL's is written postgresql://)" if scheme.startswith("postgres") else ""
        raise UsageError(f"--storage {mask_url(url)}: {scheme}:// is no kind of database twolayer keeps a study "
                         f"in{near}; give postgresql://USER@HOST/DB, mysql://USER@HOST/DB or sqlite:///PATH.db"
                         ) from None
    except (sqlalchemy.exc.ArgumentError, ValueError) as e:
        raise UsageError(f"--storage {mask_url(url)} cannot be read as a database URL ({scrub(str(e), url)}); "
                         "its form is postgresql://USER[:PASSWORD]@HOST[:PORT]/DB") from None
    if parsed.get_backend_name() == "sqlite" and _in_memory(parsed):
        raise UsageError(f"--storage {url} is a database in memory, gone when its process ends, so nothing is kept "
                         "and no second process finds the study; give a file, sqlite:///PATH.db, or no --storage (a "
                         "journal file in --out)")


def _in_memory(sqlite_url) -> bool:
    """Whether a SQLite URL names a database in memory: sqlite://, sqlite:///:memory:, or SQLite's URI forms
    (file::memory:?uri=true, file:NAME?mode=memory&uri=true, which --jobs 2 met as `KeyError: 'Record does not
    exist.'`)."""
    name, query = sqlite_url.database or "", sqlite_url.query
    return name in ("", ":memory:") or bool(query.get("uri")) and (
        name.startswith("file::memory:") or query.get("mode") == "memory")


def make_storage(opts_storage: str | None, out: Path):
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalFileSymlinkLock

    if not opts_storage:
        # A worker killed while appending leaves the journal's lock behind; the
        # others break it after grace_period seconds (appends take milliseconds).
        # The lock is a link to the journal, made with the path as given: a
        # relative one (--out S) linked to S/S/study.journal, which does not
        # exist, and Optuna, which reads the grace period off the link's
        # target, waited for it forever, spinning (tune --out S after a kill
        # -9 mid-append never ended). Windows makes a link only for an
        # administrator (or in Developer Mode): there the lock is a file.
        path = str((out / JOURNAL).absolute())
        lock = (JournalFileOpenLock if WINDOWS else JournalFileSymlinkLock)(path, grace_period=5)
        return optuna.storages.JournalStorage(JournalFileBackend(path, lock))
    import sqlalchemy.exc

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sqlite = opts_storage.startswith("sqlite")
    if sqlite:
        check_sqlite_file(opts_storage)
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
        except ImportError as e:  # Optuna's own ImportError ("Failed to import DB access module") names none
            module = getattr(e.__cause__, "name", None) or e.name or "its Python module"
            how = ("pip install 'twolayer[postgres]'" if module == "psycopg" else
                   "install it, or write postgresql://..., whose driver pip install 'twolayer[postgres]' installs"
                   if opts_storage.startswith("postgres") else "install it")
            raise TwolayerError(f"--storage {mask_url(opts_storage)} needs a database driver that is not installed "
                                f"({module}): {how}") from None
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
    if lock.is_symlink() or WINDOWS and lock.is_file():  # Optuna's lock (make_storage); no other file of that name
        lock.unlink()
    try:
        with open(path, "rb+") as f:
            fault = _not_a_journal(f)
            if fault:  # cut and appended to, it was damaged (a link to the user's notes lost its last line)
                raise TwolayerError(f"{path} is not a study journal twolayer can read ({fault}); move it away, or "
                                    "pass --force to start the search afresh")
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


def _not_a_journal(f) -> str | None:
    """Why the open file f is no Optuna journal, by its first line: every
    record is one line of JSON, `{"op_code":...`. None for an empty file, or
    a first record cut short (the first append of a search killed)."""
    head = f.readline(2**20)
    f.seek(0)
    if not head.endswith(b"\n"):
        return None if b'{"op_code":'.startswith(head[:11]) else "it does not begin with a journal record"
    try:
        record = json.loads(head)
    except ValueError:  # not JSON, or not UTF-8
        record = None
    return None if isinstance(record, dict) and "op_code" in record else "its first line is not a journal record"


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


def database_error(e: BaseException | None) -> BaseException | None:
    """The database's own error behind `e`, which Optuna may wrap in its
    own (StorageInternalError: `An exception is raised during the commit`,
    where SQLite had said `attempt to write a readonly database`), or None."""
    import sqlalchemy.exc

    while e is not None:
        if isinstance(e, sqlalchemy.exc.DBAPIError):
            return e
        e = e.__cause__ or e.__context__
    return None


def lost_database(e: BaseException, url: str | None) -> TwolayerError | None:
    """One line for a database that went away mid-search (Optuna may wrap
    the driver's error in its own, or in an error of its own making)."""
    lost = database_error(e) if url else None
    if lost is None:
        return None
    return TwolayerError(f"lost the database at {mask_url(url)} during the search ({_db_error(url, lost)}); "
                         "the finished trials are kept there: run the same command again once it is back")


SQLITE_HEADER = b"SQLite format 3\0"


def sqlite_file(url: str) -> Path | None:
    """The file a sqlite:/// URL names; None for another database, or a URI
    filename (file:x.db?mode=ro&uri=true), which is SQLite's to read."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.query.get("uri"):
        return None
    return Path(parsed.database)


def check_outside(url: str, out: Path) -> None:
    """UsageError for a SQLite --storage inside the search's folder, which
    holds only twolayer's files: the search ran, and the same command then
    refused the folder for good, even with --force (`holds files twolayer
    did not write ('studies.db')`)."""
    path = sqlite_file(url)
    if path is not None and out.absolute().resolve() in path.absolute().resolve().parents:
        raise UsageError(f"--storage {mask_url(url)} is a file inside --out {out}, a search's folder, which holds "
                         "only twolayer's own files; keep it beside the folder "
                         f"(sqlite:///{out.parent / path.name}), or leave --storage out (the study is then a journal "
                         f"file in {out})")


def check_sqlite_file(url: str) -> None:
    """The file of a sqlite:/// --storage can hold a study: not a folder,
    in a folder that exists, and new, empty or a database Optuna made.
    TwolayerError naming it otherwise, before Optuna makes its tables (in
    the database of another program it made them beside that program's,
    and a folder or a missing one was `unable to open database file`)."""
    import sqlite3

    path = sqlite_file(url)
    if path is None:
        return
    where = f"--storage {mask_url(url)}"
    if path.is_dir():
        raise TwolayerError(f"{where}: {path} is a folder; give a file in it, sqlite:///{path / 'studies.db'}")
    if not path.parent.is_dir():
        raise TwolayerError(f"{where}: no folder {path.parent} to hold {path.name}; make it, or give another path")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return  # a new database
    except OSError as e:
        raise TwolayerError(f"{where}: {path}: {e.strerror or e}") from None
    if not head:
        return
    if head != SQLITE_HEADER:
        raise TwolayerError(f"{where}: {path} is not a SQLite database; give a new file, or one that holds studies")
    try:
        with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=60)) as db:
            tables = sorted(name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    except sqlite3.Error as e:
        raise TwolayerError(f"{where}: cannot read {path}: {e}") from None
    if tables and "version_info" not in tables:  # every Optuna database has its schema's version_info table
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise TwolayerError(f"{where}: {path} is another program's database (its tables: {shown}), which Optuna "
                            "would add its own tables to; give a file of its own, such as "
                            f"sqlite:///{path.with_name(path.stem + '-studies.db')}")


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
    from twolayer.learner import file_digest

    net = opts.space.fixed.get("net")  # a learner's file: its code, as twolayer's own, makes the trials
    signature = {"space": opts.space.to_json(), "sampler": opts.sampler, "version": __version__,
                 "code": code_digest(), **({"net_code": file_digest(net)} if net else {})}
    if created:
        study.set_user_attr("twolayer", signature)
        if opts.sampler == "grid":
            for index, params in enumerate(opts.space.grid()):
                study.enqueue_trial(params, user_attrs={"grid_index": index})
        study.set_user_attr("ready", True)
        return study
    began = time.monotonic()
    while not study.user_attrs.get("ready"):
        if not opts.storage and not _foreign(study):  # under the folder's lock: its maker was killed making it
            optuna.delete_study(study_name=opts.study, storage=storage)  # no trial ran: ready comes first
            return open_study(opts, storage)
        _check_made(study, opts, time.monotonic() - began)
        time.sleep(0.5)
        study = optuna.load_study(study_name=opts.study, storage=storage)
    theirs = study.user_attrs.get("twolayer") or {}
    differ = [what for key, what in (("space", "options or search space"), ("sampler", "sampler"),
                                     ("version", "twolayer version"), ("code", "twolayer code"))
              if theirs.get(key) != signature[key]]
    code = [what for what in differ if what.startswith("twolayer")]
    fresh = ("use another --study name" if opts.storage else
             f"pass --force to start it afresh in {opts.out}, or choose another --out")
    was, now = theirs.get("net_code"), signature.get("net_code")
    if net and "net_code" in theirs and was != now:  # (a study made before digests were recorded has none)
        raise TwolayerError(f"study {opts.study!r} was begun with other code in {net} (it has changed since: its "
                            f"SHA-256 was {str(was)[:12]}..., is {str(now)[:12]}...), whose trials are not "
                            f"compared with this code's; restore the file, or {fresh}")
    if code:  # the same command after an upgrade, say: not another search, but trials of other code
        raise TwolayerError(f"study {opts.study!r} was begun by another twolayer (its {' and '.join(code)} "
                            f"differs), whose trials this one does not compare with its own; continue it with that "
                            f"twolayer, or {fresh}")
    if differ:  # their trials and ours would be compared as one search
        differs = search_difference(theirs, signature)
        raise TwolayerError(f"study {opts.study!r} already holds a different search ({differs}): give the same "
                            f"options to continue it, or {fresh}")
    return study


def _foreign(study) -> bool:
    """Whether a study not yet ready was made by another program: no
    twolayer search recorded in it, and trials (twolayer enqueues a grid
    only once it has recorded its search)."""
    return "twolayer" not in study.user_attrs and bool(study.get_trials(deepcopy=False))


def _check_made(study, opts: TuneOptions, waited: float) -> None:
    """TwolayerError for a study that is not being made ready by a twolayer
    process: another program's, or one whose maker stopped (a study of the
    same name from a plain Optuna script was waited on for two minutes,
    then said `never made ready by the process that created it`)."""
    where = mask_url(opts.storage) if opts.storage else opts.out / JOURNAL
    fresh = (f"give another --study name, or delete it: optuna delete-study --study-name {opts.study!r} --storage "
             f"{mask_url(opts.storage)}" if opts.storage else
             f"pass --force to start the search afresh in {opts.out}, or choose another --out")
    if _foreign(study) or ("twolayer" not in study.user_attrs and waited > MADE_TIMEOUT):
        raise TwolayerError(f"study {opts.study!r} in {where} is no twolayer search (another program made it, or a "
                            f"tune was stopped as it made it); {fresh}")
    if waited > READY_TIMEOUT:
        raise TwolayerError(f"study {opts.study!r} in {where} was never made ready by the process that created it "
                            f"(was it stopped?); {fresh}")


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
    """Whether process `pid` of this machine lives; True where that cannot be
    asked (Windows, where signal 0 is Ctrl-C, sent to a process group): the
    heartbeat of the trial it ran then tells (GRACE)."""
    if WINDOWS:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
