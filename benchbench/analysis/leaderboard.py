"""The leaderboard: submitted cells with their run's provenance in one SQLite file, and the regression gate.

* WAL mode, so ``show`` and ``check`` read while another process submits.
* A run's identity hashes what its numbers depend on (name, matrix sha256, git commit, data
  manifest, plugin versions) plus the invocation's start time from results.json, so every
  ``bench run`` invocation is its own leaderboard run while the observer (cell by cell) and a
  later ``bench leaderboard submit`` of the same folder agree. Cells are keyed by (run identity,
  cell key): submitting twice adds nothing.
* Each cell keeps its saved predictions (zlib) and each test set its ground truth, so ``check``
  re-scores a reference after its run folder is gone.
* Every write is one ``BEGIN IMMEDIATE`` transaction: an error rolls it back. A locked database is
  waited for (``timeout``), then reported in one line; a corrupt file is reported, never rewritten.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchbench.analysis.stats import (
    CellRecord,
    Comparison,
    GroundTruths,
    Options,
    RunData,
    SeedCells,
    SeedStat,
    Setting,
    by_seed,
    compare_setting,
    decompress_json,
    gts_digest,
    pack_gts,
    seed_stat,
    unpack_gts,
)
from benchbench.environment import environment_differences
from benchbench.errors import UserError
from benchbench.hashing import sha256_json
from benchbench.jsonable import finite_or_none
from benchbench.records.store import is_cell_record, load_results, read_ground_truths, run_cells
from benchbench.records.summary import detector_label, setting_of

DEFAULT_DB = Path("results") / "leaderboard.sqlite"
DEFAULT_TIMEOUT_S = 10.0  # seconds to wait for another process's write transaction before giving up
TIMEOUT_ENV = "BENCHBENCH_LEADERBOARD_TIMEOUT"
SCHEMA_VERSION = 2  # 2: runs.environment (the run's package versions, benchbench.environment)
SHOWN_METRICS = ("mAP50_95", "mAP50")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS testsets (gt_sha256 TEXT PRIMARY KEY, gt BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, name TEXT NOT NULL, dir TEXT, started TEXT, finished TEXT, complete INTEGER,
    submitted TEXT NOT NULL, git_commit TEXT, matrix_sha256 TEXT, manifest_hash TEXT NOT NULL,
    gt_sha256 TEXT REFERENCES testsets, plugins TEXT NOT NULL, directions TEXT NOT NULL, data TEXT NOT NULL,
    benchbench_version TEXT, environment TEXT);
CREATE TABLE IF NOT EXISTS cells (
    run_id TEXT NOT NULL REFERENCES runs, cell_key TEXT NOT NULL, cell_id TEXT NOT NULL,
    detector TEXT NOT NULL, generator TEXT, guidance REAL, ratio REAL NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL, submitted TEXT NOT NULL, result TEXT NOT NULL, predictions BLOB,
    PRIMARY KEY (run_id, cell_key));
CREATE INDEX IF NOT EXISTS runs_by_manifest ON runs (manifest_hash);
CREATE INDEX IF NOT EXISTS cells_by_setting ON cells (detector, generator, guidance, ratio);
"""


def run_identity(run: dict[str, Any]) -> str:
    """Stable id of one run folder: ``run.id`` (kept across resume, new with --fresh); runs written
    before that field existed fall back to a hash of their metadata."""
    if run.get("id"):
        return str(run["id"])
    return sha256_json({k: run.get(k) for k in ("name", "matrix_sha256", "git_commit", "plugins", "started")}
                       | {"manifest_hash": (run.get("data") or {}).get("manifest_hash")})[:16]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    name: str
    started: str | None
    submitted: str
    git_commit: str | None
    manifest_hash: str
    gt_sha256: str | None
    directions: dict[str, bool]
    data: dict[str, Any]
    environment: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.run_id[:8]}"

    @property
    def order(self) -> tuple[str, str]:
        return self.started or "", self.submitted


@dataclass(frozen=True)
class SubmitResult:
    run_id: str
    added: int
    already: int


@dataclass
class Entry:
    """One leaderboard line: a run's setting aggregated over its seeds."""

    manifest_hash: str
    dataset: str
    n_test: int | None
    run: RunInfo
    detector: str
    detector_plugin: str
    generator: str | None
    generator_plugin: str | None
    guidance: float | None
    ratio: float
    seeds: list[int]
    n_failed: int
    stats: dict[str, SeedStat | None] = field(default_factory=dict)
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "setting": self.manifest_hash, "dataset": self.dataset, "n_test": self.n_test,
                "run_id": self.run.run_id, "run": self.run.name, "git_commit": self.run.git_commit,
                "started": self.run.started, "detector": self.detector, "detector_plugin": self.detector_plugin,
                "generator": self.generator, "generator_plugin": self.generator_plugin,
                "guidance": self.guidance, "ratio": self.ratio, "seeds": self.seeds, "n_failed": self.n_failed,
                "metrics": {m: None if s is None else
                            {"mean": s.mean, "ci": [finite_or_none(s.lo), finite_or_none(s.hi)], "n": s.n}
                            for m, s in self.stats.items()}}


def _plugin_label(part: dict[str, Any] | None) -> str | None:
    return None if not part else f"{part.get('plugin')}@{part.get('version')}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _db_error(exc: sqlite3.Error, path: Path) -> UserError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "locked" in msg or "busy" in msg:
        return UserError(f"leaderboard database is locked by another process ({msg}); nothing was written",
                         file=path, fix=f"retry when the other bench command ends, or wait longer with "
                                        f"--timeout / {TIMEOUT_ENV} (seconds)")
    if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
        return UserError(f"leaderboard database is corrupt or not SQLite ({msg}); the file was left as it is",
                         file=path, fix="restore it from a backup, or use another file with --db")
    return UserError(f"leaderboard database error: {msg}; nothing was written", file=path)


class Leaderboard:
    """An open leaderboard database; a context manager: ``with Leaderboard(path, write=True) as lb: ...``."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, write: bool = False, timeout: float = DEFAULT_TIMEOUT_S):
        self.path = Path(path)
        self.write = write
        self.warnings: list[str] = []  # damaged rows skipped while reading, one line each
        if not self.path.exists() and not write:
            raise UserError("no leaderboard database here", file=self.path,
                            fix="submit a run first: bench leaderboard submit RUN_DIR (or pass --db)")
        if self.path.is_dir():
            raise UserError("is a folder, not a leaderboard database", file=self.path, fix="pass --db FILE.sqlite")
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves; timeout is SQLite's busy wait.
            self.con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise _db_error(exc, self.path) from None
        try:
            with self._errors():
                self._open()
        except BaseException:
            self.con.close()
            raise

    def _open(self) -> None:
        tables = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise UserError("not a benchbench leaderboard (no meta table); the file was left as it is",
                            file=self.path, fix="pass another file with --db")
        if "meta" in tables:
            row = self.con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                raise UserError("not a benchbench leaderboard (no schema version); the file was left as it is",
                                file=self.path, fix="pass another file with --db")
            if int(row[0]) > SCHEMA_VERSION:
                raise UserError(f"leaderboard schema {row[0]} is newer than this benchbench's ({SCHEMA_VERSION})",
                                file=self.path, fix="upgrade benchbench")
            if int(row[0]) < SCHEMA_VERSION:
                self._migrate(int(row[0]))
        if not self.write:
            if not tables:
                raise UserError("the leaderboard is empty", file=self.path, fix="bench leaderboard submit RUN_DIR")
            return
        # WAL lets readers work during a submit; the switch is persistent and a no-op once done.
        self.con.execute("PRAGMA journal_mode=WAL")
        if "meta" not in tables:
            with self._transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):  # executescript would COMMIT early
                    self.con.execute(statement)
                self.con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _migrate(self, version: int) -> None:
        """Bring an older leaderboard to this schema in place; its rows keep their values (new columns NULL).

        Also on a read-only open: the added column is what the queries select, and adding it changes no row.
        """
        with self._transaction():
            if version < 2:
                self.con.execute("ALTER TABLE runs ADD COLUMN environment TEXT")
            self.con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Leaderboard:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _db_error(exc, self.path) from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: all of it or (on any error, even Ctrl-C) none of it."""
        with self._errors():
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.con.execute("COMMIT")
            except BaseException:
                if self.con.in_transaction:
                    self.con.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ submit
    def submit_run(self, run_dir: str | Path) -> SubmitResult:
        """Store every cell of a run folder (those of a killed invocation included)."""
        root = Path(run_dir)
        results = load_results(root)
        return self.submit_cells(root, results, run_cells(root, results))

    def submit_cells(self, root: Path, results: dict[str, Any], cells: Sequence[dict[str, Any]]) -> SubmitResult:
        run = results.get("run") or {}
        manifest = (run.get("data") or {}).get("manifest_hash")
        if not manifest:
            raise UserError("results.json has no run.data.manifest_hash, so its setting is unknown",
                            file=root / "results.json", fix="re-run it with this benchbench")
        rid = run_identity(run)
        # each fold's (test_gt.json for a plain split); one absent (older run): cells are kept, not re-scorable
        gts = read_ground_truths(root, results)
        gt_sha = gts_digest(gts)
        now = _now()
        added = 0
        with self._transaction():
            if gt_sha is not None:
                self.con.execute("INSERT OR IGNORE INTO testsets VALUES (?, ?)",
                                 (gt_sha, zlib.compress(json.dumps(pack_gts(gts)).encode())))
            # Re-submitting refreshes the run's end state (finished, complete), never its identity.
            self.con.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                "finished=excluded.finished, complete=excluded.complete, gt_sha256=excluded.gt_sha256",
                (rid, run.get("name") or root.name, str(root.resolve()), run.get("started"), run.get("finished"),
                 int(bool(run.get("complete"))), now, run.get("git_commit"), run.get("matrix_sha256"), manifest,
                 gt_sha, json.dumps(run.get("plugins") or {}), json.dumps(run.get("metric_directions") or {}),
                 json.dumps(run.get("data") or {}), run.get("benchbench_version"),
                 json.dumps(run.get("environment"))))
            for c in cells:
                rel = (c.get("artifacts") or {}).get("predictions")
                preds = _read_bytes(root / rel) if rel and c.get("status") == "ok" else None
                cc = c["cell"]
                cur = self.con.execute(
                    "INSERT OR IGNORE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (rid, c["key"], c["id"], detector_label(cc), cc.get("generator"), cc.get("guidance"), cc["ratio"],
                     cc["seed"], c.get("status") or "failed", now, json.dumps(c),
                     zlib.compress(preds) if preds is not None else None))
                added += cur.rowcount
        return SubmitResult(rid, added, len(cells) - added)

    # ------------------------------------------------------------------ read
    def runs(self) -> list[RunInfo]:
        """The stored runs; a damaged row (invalid JSON, wrong shape) is skipped with a warning."""
        with self._errors():
            rows = self.con.execute("SELECT run_id, name, started, submitted, git_commit, manifest_hash, gt_sha256, "
                                    "directions, data, environment FROM runs").fetchall()
        out = []
        for r in rows:
            what = f"run {r[0]!s:.8}"
            stored = [self._stored(r[7], what), self._stored(r[8], what), self._stored(r[9], what) if r[9] else {}]
            if any(v is None for v in stored):  # not JSON: warned
                continue
            if not (isinstance(r[0], str) and all(isinstance(v, dict) for v in stored)):
                self._warn(f"{what}: stored row has not the shape of a run")
                continue
            directions, data, environment = stored
            out.append(RunInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], directions, data, environment or None))
        return out

    def _cells(self, where: str = "", params: Sequence[Any] = ()) -> list[tuple[str, dict[str, Any]]]:
        """The stored cells of runs that read back; a damaged row is skipped with a warning."""
        with self._errors():
            rows = self.con.execute(f"SELECT run_id, cell_id, result FROM cells {where} ORDER BY run_id, cell_id",
                                    params).fetchall()
        runs = {r.run_id for r in self.runs()}
        out = []
        for run_id, cell_id, text in rows:
            cell = self._stored(text, f"cell {cell_id} of run {run_id!s:.8}")
            if cell is not None and not is_cell_record(cell):
                self._warn(f"cell {cell_id} of run {run_id!s:.8}: stored row is not a cell record")
            elif cell is not None and run_id in runs:
                out.append((run_id, cell))
        return out

    def _stored(self, text: Any, what: str) -> Any:
        """A stored JSON value, or None (and a warning) when the row is damaged."""
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            self._warn(f"{what}: stored row is not valid JSON ({type(exc).__name__})")
            return None

    def _warn(self, line: str) -> None:
        line = f"{self.path}: {line}; skipped"
        if line not in self.warnings:
            self.warnings.append(line)

    def _predictions(self, run_id: str, cell_key: str):
        def load() -> list[dict[str, Any]]:
            with self._errors():
                row = self.con.execute("SELECT predictions FROM cells WHERE run_id=? AND cell_key=?",
                                       (run_id, cell_key)).fetchone()
            if row is None or row[0] is None:
                raise FileNotFoundError(f"no predictions stored for cell {cell_key[:10]} of run {run_id[:8]}")
            return decompress_json(row[0])

        return load

    def ground_truth(self, gt_sha: str | None) -> GroundTruths | None:
        """A stored run's test ground truth, per fold (``{None: gt}`` for a plain split)."""
        if gt_sha is None:
            return None
        with self._errors():
            row = self.con.execute("SELECT gt FROM testsets WHERE gt_sha256=?", (gt_sha,)).fetchone()
        return None if row is None else unpack_gts(decompress_json(row[0]))

    def entries(self, *, detector: str | None = None, generator: str | None = None, rank_by: str = "mAP50_95",
                metrics: Sequence[str] = SHOWN_METRICS, alpha: float = 0.05) -> list[Entry]:
        """Each run's settings with mean and CI over seeds, ranked per comparable setting (data + split)."""
        runs = {r.run_id: r for r in self.runs()}
        clauses, params = [], []
        if detector:
            clauses.append("detector = ?")
            params.append(detector)
        if generator:
            # The real-only baseline has no generator; `--generator real` selects it.
            clauses.append("generator IS NULL" if generator in ("real", "none") else "generator = ?")
            params += [] if generator in ("real", "none") else [generator]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        groups: dict[tuple[str, Setting], list[dict[str, Any]]] = {}
        for rid, cell in self._cells(where, params):
            groups.setdefault((rid, setting_of(cell)), []).append(cell)
        shown = list(dict.fromkeys([rank_by, *metrics]))
        out = []
        for (rid, (det, gen, guid, ratio)), cells in groups.items():
            run = runs[rid]
            ok = [c for c in cells if c.get("status") == "ok"]
            first = (ok or cells)[0]
            out.append(Entry(run.manifest_hash, str(run.data.get("dataset") or "?"), run.data.get("n_test"), run,
                             det, _plugin_label(first.get("detector")) or "?", gen,
                             _plugin_label(first.get("generator")), guid, ratio,
                             sorted({c["cell"]["seed"] for c in ok}), len(cells) - len(ok),
                             {m: seed_stat(cells, m, alpha) for m in shown}))
        return rank_entries(out, rank_by)

    # ------------------------------------------------------------------ regression gate
    def resolve_run(self, ref: str) -> RunInfo:
        """A run by id, unique id prefix, or name (the latest run of that name)."""
        runs = self.runs()
        hits = [r for r in runs if r.run_id == ref] or [r for r in runs if len(ref) >= 4 and r.run_id.startswith(ref)]
        if len(hits) > 1:
            raise UserError(f"run id prefix '{ref}' is ambiguous", field="--against", fix="give more characters")
        hits = hits or sorted((r for r in runs if r.name == ref), key=lambda r: r.order)[-1:]
        if not hits:
            raise UserError(f"no run '{ref}' in the leaderboard", file=self.path, field="--against",
                            fix="use best, latest, a run id or a run name (bench leaderboard show lists them)")
        return hits[0]

    def check(self, run_dir: str | Path, against: str, opts: Options) -> Comparison:
        """Compare each setting of a run folder with its reference run on the same data and split."""
        new = RunData.from_dir(run_dir)
        rid = run_identity(new.results["run"])
        same = {r.run_id: r for r in self.runs() if r.manifest_hash == new.manifest_hash and r.run_id != rid}
        if not same:
            raise UserError(f"nothing comparable: the leaderboard holds no other run on this data and split "
                            f"(manifest {str(new.manifest_hash)[:10]})", file=self.path,
                            fix="submit a reference run made from the same data and split first")
        fixed = None
        if against not in ("best", "latest"):
            fixed = self.resolve_run(against)
            if fixed.run_id not in same:
                raise UserError(f"run {fixed.label} was evaluated on other data or split, or is this run",
                                field="--against", fix="pick a run of the same setting")
        marks = ",".join("?" * len(same))
        stored: dict[str, list[CellRecord]] = {}
        for run_id, cell in self._cells(f"WHERE run_id IN ({marks})", list(same)):
            stored.setdefault(run_id, []).append(CellRecord(cell, self._predictions(run_id, cell["key"])))
        ref_cells = {(run_id, setting): seeds for run_id, recs in stored.items()
                     for setting, seeds in by_seed(recs).items()}
        rows = []
        gts: dict[str | None, GroundTruths | None] = {}
        for setting, cells in new.by_setting().items():
            candidates = [same[r] for (r, s) in ref_cells if s == setting]
            if fixed is not None:
                candidates = [r for r in candidates if r.run_id == fixed.run_id]
            ref = _pick(candidates, against, [ref_cells[(r.run_id, setting)] for r in candidates],
                        opts.metrics[0])
            if ref is None:
                rows += compare_setting(setting, {}, cells, None, {}, opts,
                                        not_comparable="no reference in the leaderboard")
                continue
            if ref.gt_sha256 not in gts:
                gts[ref.gt_sha256] = self.ground_truth(ref.gt_sha256)
            reason = "different test ground truth" if ref.gt_sha256 != new.gt_sha256 else None
            rows += compare_setting(setting, ref_cells[(ref.run_id, setting)], cells, gts[ref.gt_sha256],
                                    {**ref.directions, **new.directions}, opts, ref.label, not_comparable=reason)
        envs = {ref.label: environment_differences(ref.environment, new.environment)
                for ref in same.values() if any(r.reference == ref.label for r in rows)}
        comparison = Comparison(rows, opts.alpha, opts.n_boot, {m: opts.tolerance(m) for m in opts.metrics},
                                environment={label: lines for label, lines in envs.items() if lines})
        if not comparison.comparable:
            raise UserError("nothing comparable: no setting of this run has a usable reference in the leaderboard",
                            file=self.path, fix="submit a reference run with the same detectors, generators "
                                                "and ratios on the same data, or check --against")
        return comparison


def _pick(runs: list[RunInfo], against: str, cells: list[dict[int, SeedCells]], metric: str) -> RunInfo | None:
    """The reference run for one setting: latest, or best mean of ``metric`` over its ok seeds."""
    if not runs:
        return None
    if against != "best":
        return max(runs, key=lambda r: r.order)

    def score(i: int) -> tuple[bool, float, tuple[str, str]]:
        vals = [v for rec in cells[i].values() if rec.ok and (v := rec.value(metric)) is not None]
        sign = 1.0 if runs[i].directions.get(metric, True) else -1.0
        return bool(vals), sign * (sum(vals) / len(vals)) if vals else 0.0, runs[i].order

    return runs[max(range(len(runs)), key=score)]


def rank_entries(entries: list[Entry], metric: str) -> list[Entry]:
    """Order by setting, then by ``metric`` (best first, direction-aware; no value last); set ranks."""
    def key(e: Entry) -> tuple[str, int, float]:
        s = e.stats.get(metric)
        higher = e.run.directions.get(metric, True)
        return e.manifest_hash, s is None, 0.0 if s is None else (-s.mean if higher else s.mean)

    entries.sort(key=key)
    rank, prev = 0, None
    for e in entries:
        rank = 1 if e.manifest_hash != prev else rank + 1
        e.rank, prev = rank, e.manifest_hash
    return entries


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def env_timeout() -> float:
    """The lock wait from ``BENCHBENCH_LEADERBOARD_TIMEOUT`` (seconds), else the default."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UserError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds", fix=f"e.g. {TIMEOUT_ENV}=10")
    return value


def submit_cell(db: str | Path, run_dir: str | Path, cell: dict[str, Any],
                timeout: float | None = None) -> SubmitResult:
    """Submit one finished cell (the observer's path): run metadata comes from the folder's results.json."""
    root = Path(run_dir)
    with Leaderboard(db, write=True, timeout=env_timeout() if timeout is None else timeout) as lb:
        return lb.submit_cells(root, load_results(root), [cell])
