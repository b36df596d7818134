# workerd configuration for the Vigil edge worker (docs/js.md, examples/edge-worker/README.md).
#
#   scripts/build                                  # dist/js/web/{vigil.js,vigil_bg.wasm}
#   node_modules/.bin/workerd serve examples/edge-worker/config.capnp
#
# Listens on 127.0.0.1:8080; the origin is 127.0.0.1:9000 and the identity provider (whose
# JWKS the policy's `jwksUri` names) 127.0.0.1:9001. scripts/e2e/edge_worker_test.py runs this
# file with those addresses replaced by free ports.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "vigil", worker = .vigilWorker),
    (name = "origin", external = (address = "127.0.0.1:9000", http = ())),
    (name = "idp", external = (address = "127.0.0.1:9001", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8080", http = (), service = "vigil")],
);

const vigilWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "vigil.js", esModule = embed "../../dist/js/web/vigil.js"),
    (name = "vigil_bg.wasm", wasm = embed "../../dist/js/web/vigil_bg.wasm"),
  ],
  bindings = [
    (name = "POLICY", text = embed "policy.json"),
    (name = "IDP", service = "idp"),
    (name = "ORIGIN", service = "origin"),
  ],
  compatibilityDate = "2026-11-01",
);
