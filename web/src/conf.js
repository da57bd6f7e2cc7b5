// conf.js: the JSON shape batchctl accepts (the product documentation's:
// camelCase, durations in minutes) made into the API's JobConfig, as
// cli/conf.c does; "timeoutSeconds" and "delayBetweenRetriesSeconds" give
// exact seconds. An error names the JSON path at fault.

class ConfError extends Error {
  constructor(field, msg) { super(msg); this.field = field; }
}

function obj(v, path) {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ConfError(path, `${path}: not an object`);
  return v;
}

function str(v, path) {
  if (typeof v !== "string") throw new ConfError(path, `${path}: not a string`);
  return v;
}

function uint(v, path, mul = 1) {
  if (typeof v !== "number" || v < 0 || !Number.isFinite(v))
    throw new ConfError(path, `${path}: not a number >= 0`);
  return Math.round(v * mul);
}

function keys(o, path, allowed) {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) throw new ConfError(path, `${path}.${k}: unknown key`);
}

const SRC = {
  WORKSPACE: ["workspace", { path: "path" }],
  GIT: ["git", { repoUrl: "repo_url", username: "username", token: "token", reference: "reference" }],
  S3: ["s3", { bucketPath: "bucket_path", region: "region" }],
};

function source(j) {
  obj(j, "source");
  keys(j, "source", ["type", "definition"]);
  const s = SRC[j.type];
  if (!s) throw new ConfError("config.source.type", 'source.type: "WORKSPACE", "GIT" or "S3"');
  const def = obj(j.definition || {}, "source.definition");
  keys(def, "source.definition", Object.keys(s[1]));
  const out = {};
  for (const [k, f] of Object.entries(s[1]))
    if (k in def) out[f] = str(def[k], `source.definition.${k}`);
  return { type: j.type, [s[0]]: out };
}

function retry(j) {
  obj(j, "retryStrategy");
  keys(j, "retryStrategy", ["numRetries", "delayBetweenRetries", "delayBetweenRetriesSeconds", "retryOnTimeout"]);
  const r = {};
  if ("numRetries" in j) r.num_retries = uint(j.numRetries, "retryStrategy.numRetries");
  if ("delayBetweenRetries" in j) r.retry_delay_seconds = uint(j.delayBetweenRetries, "retryStrategy.delayBetweenRetries", 60);
  if ("delayBetweenRetriesSeconds" in j) r.retry_delay_seconds = uint(j.delayBetweenRetriesSeconds, "retryStrategy.delayBetweenRetriesSeconds");
  if ("retryOnTimeout" in j) {
    if (typeof j.retryOnTimeout !== "boolean") throw new ConfError("retryStrategy.retryOnTimeout", "retryStrategy.retryOnTimeout: not true or false");
    r.auto_retry_on_timeout = j.retryOnTimeout;
  }
  return r;
}

// A job configuration in batchctl's shape -> JobConfig.
export function jobConfig(j) {
  obj(j, "config");
  keys(j, "config", ["source", "type", "sourceLocation", "args", "retryStrategy", "timeout", "timeoutSeconds", "envVars"]);
  const c = {};
  if ("source" in j) c.source = source(j.source);
  if ("type" in j) {
    if (j.type !== "PYTHON" && j.type !== "SQL") throw new ConfError("config.type", 'type: "PYTHON" or "SQL"');
    c.type = j.type;
  }
  if ("sourceLocation" in j) c.source_location = str(j.sourceLocation, "sourceLocation");
  if ("args" in j) c.args = typeof j.args === "string" ? j.args : str(obj(j.args, "args").args ?? "", "args.args");
  if ("retryStrategy" in j) c.retry_strategy = retry(j.retryStrategy);
  if ("timeout" in j) c.timeout_seconds = uint(j.timeout, "timeout", 60);
  if ("timeoutSeconds" in j) c.timeout_seconds = uint(j.timeoutSeconds, "timeoutSeconds");
  if ("envVars" in j) {
    c.env = {};
    for (const [k, v] of Object.entries(obj(j.envVars, "envVars"))) c.env[k] = str(v, `envVars.${k}`);
  }
  return c;
}

// {"instanceType", "workersQuantity", "version"} -> ClusterConfig.
export function clusterConfig(j) {
  obj(j, "clusterConfig");
  keys(j, "clusterConfig", ["instanceType", "workersQuantity", "version"]);
  return {
    instance_type: str(j.instanceType ?? "", "clusterConfig.instanceType"),
    workers_quantity: uint(j.workersQuantity ?? 0, "clusterConfig.workersQuantity"),
    version: str(j.version ?? "", "clusterConfig.version"),
  };
}

// Pasted text: a job configuration, or {name, description, config,
// clusterConfig} with one inside. Returns a JobDefinition-like object.
export function pasted(text) {
  let j;
  try { j = JSON.parse(text); } catch (e) { throw new ConfError("", `not JSON: ${e.message}`); }
  obj(j, "JSON");
  if (!("config" in j)) return { config: jobConfig(j) };
  keys(j, "JSON", ["name", "description", "config", "clusterConfig"]);
  const d = { config: jobConfig(j.config) };
  if ("name" in j) d.name = str(j.name, "name");
  if ("description" in j) d.description = str(j.description, "description");
  if ("clusterConfig" in j) d.cluster_config = clusterConfig(j.clusterConfig);
  return d;
}

// "A=1\nB=two" <-> {A: "1", B: "two"}
export function parseEnv(text, field) {
  const env = {};
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const eq = line.indexOf("=");
    if (eq < 1) throw new ConfError(field, `line ${i + 1}: not NAME=value`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}

export const formatEnv = (env) => Object.entries(env || {}).map(([k, v]) => `${k}=${v}`).join("\n");
