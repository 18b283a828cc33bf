"""harness -- shared helpers for the TUF client tests in tests/tuf.

The client under test is the executable named by $TUF_CLIENT; it speaks the
client-under-test protocol (init / refresh / download, see README.md).
$TUF_CLIENT_KIND=tuf-js marks the tuf-js reference client, for which a few
tests are skipped where tuf-js itself deviates (see tufjs_deviates).

Each test gets a fresh temporary directory holding metadata/ (the client's
trusted metadata), targets/ (its target dir) and root.json (the root it is
initialised with), a Repo and a RepoServer on 127.0.0.1 (stopped at
cleanup), and runs the client as a subprocess with a time limit.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reposim import (Repo, RepoServer, role_file_name, target_file_name)  # noqa: E402

CLIENT = os.environ.get("TUF_CLIENT", "")
KIND = os.environ.get("TUF_CLIENT_KIND", "")
IS_TUFJS = KIND == "tuf-js"

# A run of the client that should finish quickly is killed after this long.
DEFAULT_RUN_TIMEOUT = 30.0
# Options for the slow-retrieval tests.
SLOW_OPTS = ["--request-timeout", "3", "--total-timeout", "6"]


def tufjs_deviates(reason):
    """Skip a test only when the client is the tuf-js reference client."""
    return unittest.skipIf(IS_TUFJS, "tuf-js deviates: " + reason)


class Result:
    def __init__(self, cmd, rc, out, err, secs):
        self.cmd, self.rc, self.out, self.err, self.secs = cmd, rc, out, err, secs

    def __str__(self):
        return "command: %s\nexit: %s after %.2f s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(self.cmd), self.rc, self.secs,
            self.out.decode("utf-8", "replace")[-3000:],
            self.err.decode("utf-8", "replace")[-3000:])


def client_env(extra=None):
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY"):
        env.pop(k, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if extra:
        env.update(extra)
    return env


def _asan_options(name, value):
    asan = os.environ.get("ASAN_OPTIONS", "")
    parts = [p for p in asan.split(":") if p and not p.startswith(name + "=")]
    parts.append("%s=%s" % (name, value))
    return {"ASAN_OPTIONS": ":".join(parts)}


def faketime_env():
    """Environment for runs under faketime: an ASan-built client refuses
    to start behind an LD_PRELOADed library without this."""
    return _asan_options("verify_asan_link_order", "0")


def traced_env():
    """Environment for runs under strace: LeakSanitizer cannot work under
    ptrace and would turn every exit into a failure."""
    return _asan_options("detect_leaks", "0")


class TufTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        if not CLIENT:
            self.fail("TUF_CLIENT is not set: point it at the client under test "
                      "(e.g. TUF_CLIENT=build/bin/ringfence-tuf-client)")
        path = os.path.abspath(CLIENT)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            self.fail("TUF_CLIENT=%s is not an executable file" % CLIENT)
        self.client_path = path
        self.tmp = tempfile.mkdtemp(prefix="rf-tuf-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mdir = os.path.join(self.tmp, "metadata")
        self.tdir = os.path.join(self.tmp, "targets")
        self.root_file = os.path.join(self.tmp, "root.json")
        os.mkdir(self.tdir)
        self.repo = None
        self.server = None

    # -- repository and server -------------------------------------------------

    def make_repo(self, repo=None, **kw):
        """A new Repo (root v1, targets/snapshot/timestamp v1; or the repo
        given) and a server for it."""
        self.repo = repo if repo is not None else Repo(**kw)
        self.server = RepoServer(self.repo.files)
        self.addCleanup(self.server.stop)
        return self.repo

    def publish_new(self, role, deleg="d"):
        """Publish a new version of role and what must follow it (snapshot,
        timestamp). role is a top-level role, "delegated" (the role deleg,
        with a new target in it) or "target" (a new target in targets).
        Returns (url path of the new file, its bytes, target path to
        download or None)."""
        repo = self.repo
        n = sum(len(t) for t in repo.targets.values())
        if role == "root":
            data = repo.publish_root()
            return repo.metadata_path("root", repo.version["root"]), data, None
        if role == "timestamp":
            data = repo.publish_timestamp()
            return "metadata/timestamp.json", data, None
        if role == "snapshot":
            data = repo.publish_snapshot()
            repo.publish_timestamp()
            return repo.metadata_path("snapshot", repo.version["snapshot"]), data, None
        if role == "targets":
            repo.add_target("new-%d" % n, b"new target %d" % n)
            data = repo.publish_targets("targets")
            repo.publish_snapshot()
            repo.publish_timestamp()
            return repo.metadata_path("targets", repo.version["targets"]), data, None
        if role == "delegated":
            path = "%s/new-%d" % (deleg, n)
            repo.add_target(path, b"delegated target %d" % n, role=deleg)
            data = repo.publish_targets(deleg)
            repo.publish_snapshot()
            repo.publish_timestamp()
            return repo.metadata_path(deleg, repo.version[deleg]), data, path
        if role == "target":
            path = "new-%d.bin" % n
            repo.add_target(path, b"target bytes %d" % n * 50)
            repo.commit("targets")
            return repo.target_paths(path)[0], repo.target_data[path], path
        raise ValueError(role)

    def fault(self, path, **kw):
        self.server.fault(path, **kw)

    def requests(self):
        return self.server.log()

    # -- running the client ----------------------------------------------------------

    def run_client(self, args, timeout=DEFAULT_RUN_TIMEOUT, wrapper=(), env=None):
        cmd = list(wrapper) + [self.client_path] + list(args)
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout,
                               env=client_env(env), cwd=self.tmp)
        except subprocess.TimeoutExpired as e:
            self.fail("client did not finish within %.0f s: %s\nstderr:\n%s" % (
                timeout, " ".join(cmd), (e.stderr or b"").decode("utf-8", "replace")[-3000:]))
        # A sanitizer build exits 1 on a memory error, which a test that
        # expects failure would take for a refusal: look for its report.
        for mark in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                     b"runtime error:"):
            if mark in p.stderr:
                self.fail("sanitizer report from the client: %s\n%s" % (
                    " ".join(cmd), p.stderr.decode("utf-8", "replace")[-4000:]))
        return Result(cmd, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)

    def _check(self, r, expect):
        if expect is not None:
            self.assertEqual(r.rc, expect, "unexpected exit code\n%s" % r)
        return r

    def init(self, root=None, expect=0, **kw):
        """init with root (bytes; default: the repo's root v1)."""
        data = root if root is not None else self.repo.history["root"][1]
        with open(self.root_file, "wb") as f:
            f.write(data)
        r = self.run_client(["--metadata-dir", self.mdir, "init", self.root_file], **kw)
        return self._check(r, expect)

    def refresh_args(self):
        return ["--metadata-dir", self.mdir, "--metadata-url", self.server.metadata_url]

    def refresh(self, expect=0, extra=(), **kw):
        r = self.run_client(self.refresh_args() + list(extra) + ["refresh"], **kw)
        return self._check(r, expect)

    def download(self, *names, expect=0, extra=(), **kw):
        args = self.refresh_args() + ["--target-base-url", self.server.targets_url,
                                      "--target-dir", self.tdir]
        for n in names:
            args += ["--target-name", n]
        r = self.run_client(args + list(extra) + ["download"], **kw)
        return self._check(r, expect)

    def faketime_refresh(self, spec, expect=0, download=None):
        """refresh (or download of one target) under faketime -f spec."""
        kw = {"wrapper": ["faketime", "-f", spec], "env": faketime_env()}
        if download is not None:
            return self.download(download, expect=expect, **kw)
        return self.refresh(expect=expect, **kw)

    # -- trusted state ----------------------------------------------------------------

    def trusted_files(self):
        """{file name: bytes} of everything in the metadata dir."""
        out = {}
        if not os.path.isdir(self.mdir):
            return out
        for name in os.listdir(self.mdir):
            with open(os.path.join(self.mdir, name), "rb") as f:
                out[name] = f.read()
        return out

    def expected_files(self, versions):
        return {role_file_name(role): self.repo.history[role][v] for role, v in versions.items()}

    def assert_trusted(self, versions, msg=""):
        """The metadata dir holds exactly these roles at these versions,
        byte for byte as the repository signed them."""
        want = self.expected_files(versions)
        got = self.trusted_files()
        self.assertEqual(sorted(got), sorted(want), "files in the metadata dir " + msg)
        for name, data in want.items():
            if got[name] != data:
                try:
                    v = json.loads(got[name])["signed"]["version"]
                except Exception:  # noqa: BLE001 - for the message only
                    v = "unparseable"
                self.fail("%s is not the expected version (found version %s) %s"
                          % (name, v, msg))

    def target_files(self):
        out = {}
        for name in os.listdir(self.tdir):
            with open(os.path.join(self.tdir, name), "rb") as f:
                out[name] = f.read()
        return out

    def assert_targets(self, paths, msg=""):
        """The target dir holds exactly these targets (by target path),
        with the repository's bytes."""
        want = {target_file_name(p): self.repo.target_data[p] for p in paths}
        got = self.target_files()
        self.assertEqual(sorted(got), sorted(want), "files in the target dir " + msg)
        for name in want:
            self.assertEqual(got[name], want[name], "content of " + name)

    def assert_tmp_clean(self):
        """Nothing written beside the metadata dir, target dir and root file."""
        extra = set(os.listdir(self.tmp)) - {"metadata", "targets", "root.json"}
        self.assertEqual(extra, set(), "files written outside the client's dirs")

    def all_roles_trusted(self):
        """{role: current version} of the four top-level roles."""
        return {r: self.repo.version[r] for r in ("root", "timestamp", "snapshot", "targets")}

    def current(self):
        """all_roles_trusted plus the repository's version of the delegated
        role "d" that most attack tests set up."""
        return dict(self.all_roles_trusted(), d=self.repo.version["d"])

    def refused_twice(self, expected, download=None):
        """Two separate client runs (a refresh, or a download of download)
        both refuse, and each leaves the trusted versions at expected."""
        for _ in range(2):
            if download:
                self.download(download, expect=1)
            else:
                self.refresh(expect=1)
            self.assert_trusted(expected)

    def setup_delegated_first(self):
        """setup_trusted, then role "d" delegated d/* with target d/first,
        downloaded; the server log is cleared. Returns the repo."""
        repo = self.setup_trusted()
        repo.delegate("targets", "d", paths=["d/*"])
        repo.add_target("d/first", b"first", role="d")
        repo.commit("targets")
        self.download("d/first")
        self.installed = ["d/first"]
        self.server.clear_log()
        return repo

    def setup_trusted(self, **repo_kw):
        """A repo, init and a first refresh: the client trusts v1 of all."""
        repo = self.make_repo(**repo_kw)
        self.init()
        self.refresh()
        self.assert_trusted(self.all_roles_trusted())
        self.server.clear_log()
        return repo


__all__ = ["TufTestCase", "tufjs_deviates", "IS_TUFJS", "SLOW_OPTS", "Result", "client_env",
           "traced_env", "faketime_env", "role_file_name", "target_file_name"]
