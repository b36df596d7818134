"""A real workerd (npm `workerd`) running the Vigil edge worker, for the e2e tests (stdlib only).

`Workerd(workdir, workers, externals)` writes a config.capnp with one worker service and one
127.0.0.1 socket per entry of `workers` (each its own policy, bound as text, as in
examples/edge-worker/config.capnp), plus `external` services for the origin and the IdP;
the worker's modules are examples/edge-worker/worker.mjs and dist/js/web. Started in its own
session and stopped by PID.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import harness

ROOT = harness.ROOT
WORKERD = os.environ.get("VIGIL_WORKERD", os.path.join(ROOT, "node_modules", ".bin", "workerd"))
WEB = os.path.join(ROOT, "dist", "js", "web")
WORKER = os.path.join(ROOT, "examples", "edge-worker", "worker.mjs")
COMPAT_DATE = "2026-11-01"
DECISION_HEADER = "x-vigil-e2e-decision"


def capnp_str(s):
    return json.dumps(s)  # a JSON string literal is a valid Cap'n Proto text literal


class Workerd:
    def __init__(self, workdir, workers, externals):
        """workers: [(name, policy_text, extra_bindings)] where extra_bindings is a list of
        Cap'n Proto binding expressions; externals: {service name: port}."""
        self.workdir = workdir
        self.ports = {}
        self.proc = None
        for f in (WORKER, os.path.join(WEB, "vigil.js"), os.path.join(WEB, "vigil_bg.wasm")):
            shutil.copy(f, os.path.join(workdir, os.path.basename(f)))
        services, sockets = [], []
        for i, (name, policy, extra) in enumerate(workers):
            pfile = f"policy-{i}.json"
            with open(os.path.join(workdir, pfile), "w") as fh:
                fh.write(policy)
            bindings = [f'(name = "POLICY", text = embed {capnp_str(pfile)})'] + list(extra)
            services.append(
                f'(name = {capnp_str(name)}, worker = (modules = ['
                '(name = "worker.mjs", esModule = embed "worker.mjs"), '
                '(name = "vigil.js", esModule = embed "vigil.js"), '
                '(name = "vigil_bg.wasm", wasm = embed "vigil_bg.wasm")], '
                f'bindings = [{", ".join(bindings)}], compatibilityDate = "{COMPAT_DATE}"))'
            )
            port = harness.free_port()
            self.ports[name] = port
            sockets.append(f'(name = "s{i}", address = "127.0.0.1:{port}", http = (), service = {capnp_str(name)})')
        for name, port in externals.items():
            services.append(f'(name = {capnp_str(name)}, external = (address = "127.0.0.1:{port}", http = ()))')
        self.config = os.path.join(workdir, "config.capnp")
        with open(self.config, "w") as fh:
            fh.write('using Workerd = import "/workerd/workerd.capnp";\n'
                     "const config :Workerd.Config = (\n"
                     f"  services = [\n    {(',' + chr(10) + '    ').join(services)}\n  ],\n"
                     f"  sockets = [\n    {(',' + chr(10) + '    ').join(sockets)}\n  ],\n);\n")
        self.log_path = os.path.join(workdir, "workerd.log")

    @staticmethod
    def from_config(config_path, workdir):
        """Runs an existing config (paths are relative to its directory)."""
        w = Workerd.__new__(Workerd)
        w.workdir, w.ports, w.proc, w.config = workdir, {}, None, config_path
        w.log_path = os.path.join(workdir, "workerd.log")
        return w

    def start(self, timeout=60):
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([WORKERD, "serve", self.config, "--verbose"], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=self.workdir)
        deadline = time.time() + timeout
        pending = set(self.ports.values())
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(f"workerd exited ({self.proc.returncode}): {self.log()[-2000:]}")
            if time.time() > deadline:
                raise RuntimeError(f"workerd did not listen in {timeout}s: {self.log()[-2000:]}")
            for p in list(pending):
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=0.5).close()
                    pending.discard(p)
                except OSError:
                    pass
            time.sleep(0.05)

    def wait_port(self, port, timeout=60):
        self.ports.setdefault(f"port-{port}", port)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"workerd exited ({self.proc.returncode}): {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"workerd did not listen on {port}: {self.log()[-2000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""
