// Bundles the console into OUTDIR (default ../build/console): index.html,
// console.css and console.js. The API's messages are code generated here
// from proto/batchd/v1/batchd.proto by pbjs (static code: the page's
// Content-Security-Policy allows no eval), field names as in the .proto so
// that an Error's field matches the form's inputs.
import { mkdirSync, copyFileSync, renameSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, "..", "build", "console"));
const proto = join(here, "..", "proto", "batchd", "v1", "batchd.proto");
const gen = join(out, "..", "console-gen");
mkdirSync(gen, { recursive: true });
execFileSync(process.execPath, [join(here, "node_modules", "protobufjs-cli", "bin", "pbjs"),
  "-t", "static-module", "-w", "es6", "--keep-case", "--no-verify", "--no-delimited",
  "--no-comments", "--no-service", "--no-typeurl", "-o", join(gen, "batchd_pb.js"), proto]);

const aliases = {
  name: "aliases",
  setup(b) {
    b.onResolve({ filter: /^batchd-pb$/ }, () => ({ path: join(gen, "batchd_pb.js") }));
    // protobufjs looks for optional modules (long, buffer) with an eval;
    // without them int64s are numbers, which the console wants.
    b.onResolve({ filter: /^@protobufjs\/inquire$/ }, () => ({ path: "inquire", namespace: "stub" }));
    b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({ contents: "module.exports = () => null;" }));
  },
};

mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true, minify: true, format: "esm", target: "es2020",
  outfile: join(out, "console.js.tmp"), write: true, logLevel: "warning",
  plugins: [aliases], legalComments: "none", nodePaths: [join(here, "node_modules")],
  external: ["crypto"],  // tweetnacl asks for it inside a try, in Node only
});
renameSync(join(out, "console.js.tmp"), join(out, "console.js"));
for (const f of ["index.html", "console.css"])
  copyFileSync(join(here, f), join(out, f));
