#!/usr/bin/env node
// client.js — a reference TUF client built on tuf-js's Updater, speaking the
// same command line protocol as ringfence-tuf-client (see tests/tuf/README.md),
// so that tests/tuf can be proved against an independent implementation before
// being pointed at ringfence's C client.
//
//   client.js --metadata-dir DIR init TRUSTED_ROOT_FILE
//   client.js --metadata-dir DIR --metadata-url URL refresh
//   client.js --metadata-dir DIR --metadata-url URL --target-name PATH
//             --target-base-url URL --target-dir DIR download
//   (also --request-timeout SECONDS, --total-timeout SECONDS)
//
// Exit 0 on success, 1 on any failure (message on stderr).
//
// Small shims complete tuf-js where the protocol asks more of a client:
// trusted metadata is written atomically (NAME.tmp.PID, fsync, rename, fsync
// of the directory) under percent-encoded role names, stale temp files are
// removed at start, the trusted timestamp and snapshot are deleted when a new
// root rotates their keys (specification 5.3.11), HTTP retries are off, and
// the request and total time limits are enforced.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { Updater } = require('tuf-js');

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { targetNames: [], requestTimeout: 30, totalTimeout: 300 };
  const positional = [];
  const valued = {
    '--metadata-dir': 'metadataDir',
    '--metadata-url': 'metadataUrl',
    '--target-base-url': 'targetBaseUrl',
    '--target-dir': 'targetDir',
    '--request-timeout': 'requestTimeout',
    '--total-timeout': 'totalTimeout',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target-name') {
      if (i + 1 >= argv.length) throw new UsageError('--target-name needs a value');
      opts.targetNames.push(argv[++i]);
    } else if (Object.prototype.hasOwnProperty.call(valued, a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      opts[valued[a]] = argv[++i];
    } else if (a.startsWith('--')) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      positional.push(a);
    }
  }
  for (const k of ['requestTimeout', 'totalTimeout']) {
    const n = Number(opts[k]);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`bad ${k}: ${opts[k]}`);
    opts[k] = n;
  }
  if (!opts.metadataDir) throw new UsageError('--metadata-dir is required');
  opts.command = positional[0];
  opts.args = positional.slice(1);
  return opts;
}

// Every byte but [A-Za-z0-9._~-] percent-encoded (uppercase hex).
function encodeName(name) {
  let out = '';
  for (const b of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function targetFileName(targetPath) {
  if (targetPath === '.') return '%2E';
  if (targetPath === '..') return '%2E%2E';
  return encodeName(targetPath);
}

function fsyncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function atomicWrite(dir, name, data) {
  const tmp = path.join(dir, `${name}.tmp.${process.pid}`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, name));
  fsyncDir(dir);
}

function removeStaleTemps(dir) {
  for (const f of fs.readdirSync(dir)) {
    if (/\.tmp\.[0-9]+$/.test(f)) fs.unlinkSync(path.join(dir, f));
  }
}

function roleKeys(root, role) {
  const r = root.signed.roles[role];
  return JSON.stringify([[...r.keyIDs].sort(), r.threshold]);
}

class ShimUpdater extends Updater {
  loadLocalMetadata(name) {
    return fs.readFileSync(path.join(this.dir, `${encodeName(name)}.json`));
  }

  persistMetadata(name, bytesData) {
    atomicWrite(this.dir, `${encodeName(name)}.json`, bytesData);
  }

  async loadRoot() {
    const before = this.trustedSet.root;
    const keysBefore = ['timestamp', 'snapshot'].map((r) => roleKeys(before, r));
    try {
      await super.loadRoot();
    } finally {
      const after = this.trustedSet.root;
      const keysAfter = ['timestamp', 'snapshot'].map((r) => roleKeys(after, r));
      if (keysBefore.some((k, i) => k !== keysAfter[i])) {
        for (const f of ['timestamp.json', 'snapshot.json']) {
          fs.rmSync(path.join(this.dir, f), { force: true });
        }
        fsyncDir(this.dir);
      }
    }
  }
}

function withDeadline(promise, seconds, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: total time limit of ${seconds} s reached`)),
      seconds * 1000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function makeUpdater(opts) {
  if (!opts.metadataUrl) throw new UsageError('--metadata-url is required');
  removeStaleTemps(opts.metadataDir);
  return new ShimUpdater({
    metadataDir: opts.metadataDir,
    metadataBaseUrl: opts.metadataUrl,
    targetDir: opts.targetDir,
    targetBaseUrl: opts.targetBaseUrl,
    config: {
      fetchTimeout: opts.requestTimeout * 1000,
      fetchRetry: 0,
    },
  });
}

async function cmdInit(opts) {
  if (opts.args.length !== 1) throw new UsageError('init takes one TRUSTED_ROOT_FILE');
  const data = fs.readFileSync(opts.args[0]);
  // Let tuf-js check that the root parses and is signed by its own keys.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tufjs-init-'));
  try {
    fs.writeFileSync(path.join(scratch, 'root.json'), data);
    new Updater({ metadataDir: scratch, metadataBaseUrl: 'http://127.0.0.1:9/' });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  fs.mkdirSync(opts.metadataDir, { recursive: true });
  removeStaleTemps(opts.metadataDir);
  atomicWrite(opts.metadataDir, 'root.json', data);
}

async function cmdRefresh(opts) {
  const updater = makeUpdater(opts);
  await withDeadline(updater.refresh(), opts.totalTimeout, 'refresh');
}

async function cmdDownload(opts) {
  if (opts.targetNames.length === 0) throw new UsageError('download needs --target-name');
  if (!opts.targetBaseUrl) throw new UsageError('--target-base-url is required');
  if (!opts.targetDir) throw new UsageError('--target-dir is required');
  const updater = makeUpdater(opts);
  await withDeadline(updater.refresh(), opts.totalTimeout, 'refresh');
  for (const name of opts.targetNames) {
    await withDeadline((async () => {
      const info = await updater.getTargetInfo(name);
      if (!info) throw new Error(`target ${JSON.stringify(name)} is not listed by any trusted role`);
      const file = path.join(opts.targetDir, targetFileName(name));
      if (path.dirname(path.resolve(file)) !== path.resolve(opts.targetDir)) {
        throw new Error(`target file name escapes the target dir: ${file}`);
      }
      const cached = await updater.findCachedTarget(info, file);
      if (!cached) await updater.downloadTarget(info, file);
    })(), opts.totalTimeout, `download of ${name}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  switch (opts.command) {
    case 'init': return cmdInit(opts);
    case 'refresh': return cmdRefresh(opts);
    case 'download': return cmdDownload(opts);
    default: throw new UsageError(`unknown command ${opts.command}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`tuf-js-client: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
  },
);
